/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one radio the multiplexer owns, behind an ops table: the simulated
 * network (simnet) for tests and demos, or a real AT modem on a serial line.
 *
 * Numbers are the lines the radio serves (one per VM). Backends never call
 * the event callbacks from inside an op: events are queued and delivered
 * from the event loop, so the router never sees re-entrant calls.
 */
#ifndef POCKETVM_MODEM_RADIO_H
#define POCKETVM_MODEM_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modem/modem.h"

struct event_base;
struct radio;

enum radio_reject {
	RADIO_REJECT_BUSY, /* user busy */
	RADIO_REJECT_UNREACHABLE, /* subscriber absent / barred */
};

/* What the radio reports; implemented by the router. */
struct radio_events {
	void (*incoming_call)(void *ctx, uint32_t call_id, const char *to, const char *from);
	void (*call_alerting)(void *ctx, uint32_t call_id);
	void (*call_connected)(void *ctx, uint32_t call_id);
	void (*call_released)(void *ctx, uint32_t call_id, enum modem_release why);
	/*
	 * An SMS-DELIVER TPDU for line `to`. Returns 0, -ENOENT (no such line),
	 * -EPERM (barred), -ENOSPC (memory full) or -EINVAL (malformed).
	 */
	int (*incoming_sms)(void *ctx, const char *to, const uint8_t *tpdu, size_t len,
			    const char *sca);
	void (*ussd_result)(void *ctx, const char *to, int status, const char *text);
	/* The outcome of a send_sms that returned 1: 0 or a +CMS ERROR code. */
	void (*sms_sent)(void *ctx, uint32_t ref, int cms_error);
	void (*network)(void *ctx, bool service, int signal);
};

struct radio_ops {
	const char *name;
	/* Declares a line (a VM's number) the radio serves. */
	int (*attach)(struct radio *r, const char *number);
	int (*dial)(struct radio *r, const char *from, const char *to, uint32_t *call_id);
	int (*answer)(struct radio *r, uint32_t call_id);
	int (*hangup)(struct radio *r, uint32_t call_id);
	int (*reject)(struct radio *r, uint32_t call_id, enum radio_reject why);
	int (*hold)(struct radio *r, uint32_t call_id, bool hold);
	/* 0: sent; 1: the outcome follows as sms_sent(ref); or -errno. */
	int (*send_sms)(struct radio *r, const char *from, const uint8_t *tpdu, size_t len,
			uint32_t ref);
	int (*ussd)(struct radio *r, const char *from, const char *request);
	void (*ussd_cancel)(struct radio *r, const char *from);
	void (*free)(struct radio *r);
};

struct radio {
	const struct radio_ops *ops;
	const struct radio_events *ev;
	void *ev_ctx;
	void *priv;
};

/*
 * Opens a backend from a spec: "simnet:CONTROL_SOCKET" or
 * "serial:TTY[,NUMBER]". The events go to ev/ctx.
 */
int radio_open(struct event_base *base, const char *spec, const struct radio_events *ev, void *ctx,
	       struct radio **out);
void radio_free(struct radio *r);

/* The backends (radio.c keeps the table). */
int radio_simnet_open(struct event_base *base, const char *arg, struct radio **out);
int radio_serial_open(struct event_base *base, const char *arg, struct radio **out);

#endif
