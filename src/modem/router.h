/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The router: one radio, N virtual modems. It is the only place that knows
 * which VM owns which number and which call; everything it passes to a modem
 * is addressed to that modem's number, so no VM sees another's events.
 *
 * With one radio, a call in progress on one VM makes the radio busy for the
 * others, as on a dual-SIM dual-standby phone: a mobile-terminated call to
 * another VM is either rejected as busy (ROUTER_DSDS_BUSY) or held at the
 * network, ringing for the caller, until the radio is free
 * (ROUTER_DSDS_WAIT). A VM cannot start a call while another VM has one.
 */
#ifndef POCKETVM_MODEM_ROUTER_H
#define POCKETVM_MODEM_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "modem/modem.h"
#include "modem/radio.h"

#define ROUTER_MAX_VMS 16

enum router_dsds {
	ROUTER_DSDS_BUSY,
	ROUTER_DSDS_WAIT,
};

struct router;

/* Where one VM's modem output goes (its socket); set by the daemon. */
typedef void (*router_write_fn)(void *ctx, const char *data, size_t len);

/* Takes over the radio: its events now go to the router. */
struct router *router_new(struct radio *radio, enum router_dsds dsds);
void router_free(struct router *r);

/*
 * Adds a VM with its modem config; barred VMs get no telephony at all.
 * Returns the VM's index or a negative errno (-EEXIST for a number in use).
 */
int router_add_vm(struct router *r, const struct modem_config *cfg, bool barred);
void router_set_output(struct router *r, int vm, router_write_fn fn, void *ctx);
struct modem *router_modem(struct router *r, int vm);
int router_vm_count(const struct router *r);

/*
 * Changes a VM's policy at run time (the enterprise locks the work VM):
 * barring ends its calls, drops calls waiting for it, and its modem then
 * reports registration denied. Returns 0 or -ENOENT.
 */
int router_set_barred(struct router *r, int vm, bool barred);
/* The VM called name, or -ENOENT. */
int router_find_vm(const struct router *r, const char *name);
const struct modem_config *router_vm_config(const struct router *r, int vm);
bool router_vm_barred(const struct router *r, int vm);

/* Timers of every modem (RING repetition...). */
void router_tick(struct router *r, time_t now);

#endif
