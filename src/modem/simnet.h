/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simnet: a simulated cellular network. Its subscribers are the lines of our
 * radio (the VMs' numbers) and any number of outside parties, which a test or
 * a demo plays through control commands (simnet_command): call a VM, answer
 * or hang up its calls, send it SMS, read what the network saw.
 *
 * The network core has no event loop: events for the radio are queued and
 * delivered by simnet_dispatch(); `kick` asks the owner to call it again
 * after delay_ms.
 */
#ifndef POCKETVM_MODEM_SIMNET_H
#define POCKETVM_MODEM_SIMNET_H

#include <stdbool.h>
#include <stddef.h>

#include "modem/radio.h"

struct simnet;

struct simnet *simnet_new(void (*kick)(void *ctx, unsigned int delay_ms), void *kick_ctx);

/*
 * Spaces SMS deliveries at least gap_ms apart, as a network does (each one
 * waits for the phone's RP-ACK); 0 delivers at once. Clients such as
 * ModemManager lose a +CMTI that arrives while they read the previous one.
 */
void simnet_set_sms_gap(struct simnet *sn, unsigned int gap_ms);
void simnet_free(struct simnet *sn);

/* Runs fn(ctx) when the simnet is freed (its control server goes with it). */
void simnet_set_free_hook(struct simnet *sn, void (*fn)(void *ctx), void *ctx);

/* The radio facade; events go to the callbacks set on it (ev, ev_ctx). */
struct radio *simnet_radio(struct simnet *sn);

/* Delivers queued events to the radio's callbacks. */
void simnet_dispatch(struct simnet *sn);

/*
 * Runs one control command (docs/modem.md, "simnet control"). The response
 * lines, ending with "OK ..." or "ERR ...", go to out (NUL-terminated,
 * truncated to cap). Returns true on OK.
 */
bool simnet_command(struct simnet *sn, const char *line, char *out, size_t cap);

/* The network's log: what it saw, one line per event, oldest first. */
size_t simnet_log_count(const struct simnet *sn);
const char *simnet_log_line(const struct simnet *sn, size_t i);

/* Called for every new log line (the control server's "wait"). */
void simnet_set_log_hook(struct simnet *sn, void (*fn)(void *ctx, const char *line), void *ctx);

#endif
