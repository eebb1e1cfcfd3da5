/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One virtual AT modem: what a VM's telephony stack (ModemManager, oFono,
 * Android's RIL) talks to. It speaks V.250, 3GPP TS 27.007 and TS 27.005 on
 * a byte stream and asks its host (the router) to dial, answer, send SMS...
 * The modem knows nothing of other VMs; the router decides what reaches it.
 *
 * Threading: none. Every entry point runs on the daemon's event loop. The
 * host ops are never called back into the modem synchronously with events
 * for the same modem (the radio defers its events to the loop).
 */
#ifndef POCKETVM_MODEM_MODEM_H
#define POCKETVM_MODEM_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "modem/pdu.h"

struct modem;

/* The synthetic SIM and identity of one VM's modem. */
struct modem_config {
	char name[32]; /* the VM's name, for logs */
	char number[SMS_ADDR_BUF]; /* MSISDN, "+15550001" */
	char imsi[16];
	char iccid[21];
	char imei[16];
	char spn[17]; /* service provider name on the SIM */
	char operator_name[32]; /* network name (+COPS) */
	char plmn[7]; /* MCC+MNC, "00101" */
	char smsc[SMS_ADDR_BUF];
};

/*
 * Derives a complete config (IMSI, ICCID, IMEI) from a name, number and an
 * index; fields the caller already set are kept.
 */
void modem_config_fill(struct modem_config *cfg, unsigned int index);

/* Why a call ended, for the final result code the client sees. */
enum modem_release {
	MODEM_RELEASE_NORMAL, /* NO CARRIER */
	MODEM_RELEASE_BUSY, /* BUSY */
	MODEM_RELEASE_NO_ANSWER, /* NO ANSWER */
};

/* What the modem asks of its host. Ops return 0 or a negative errno. */
struct modem_host_ops {
	/* Bytes for the client; the host buffers, it never blocks. */
	void (*output)(void *ctx, const char *data, size_t len);
	/*
	 * Mobile-originated call to number; sets *call_id. -EPERM: barred,
	 * -EBUSY: the radio is busy with another VM, -ENETDOWN: no network.
	 */
	int (*dial)(void *ctx, const char *number, uint32_t *call_id);
	int (*answer)(void *ctx, uint32_t call_id);
	int (*hangup)(void *ctx, uint32_t call_id);
	int (*hold)(void *ctx, uint32_t call_id, bool hold);
	/*
	 * One SMS-SUBMIT TPDU (already validated). Returns 0 when sent, 1 when
	 * the radio answers later through modem_sms_sent() with *ref, or a
	 * negative errno.
	 */
	int (*send_sms)(void *ctx, const uint8_t *tpdu, size_t len, uint32_t *ref);
	/* A USSD request (UTF-8); the answer comes as modem_ussd_result(). */
	int (*ussd)(void *ctx, const char *request);
	void (*ussd_cancel)(void *ctx);
};

struct modem *modem_new(const struct modem_config *cfg, const struct modem_host_ops *ops,
			void *ctx);
void modem_free(struct modem *m);
const struct modem_config *modem_config(const struct modem *m);

/* An S-register's value (V.250 6.2; S3 is the line terminator). */
uint8_t modem_sreg(const struct modem *m, unsigned int index);

/* Bytes from the client. */
void modem_input(struct modem *m, const uint8_t *data, size_t len);
/* The client went away: an unfinished SMS prompt is dropped. */
void modem_detach(struct modem *m);

/* Network state: service (and whether this VM is barred), signal 0..31. */
void modem_set_network(struct modem *m, bool service, bool barred, int signal);

/*
 * A call for this modem's number. Returns 0 (ringing or waiting),
 * -EBUSY when the modem cannot take another call, -ENETDOWN when its
 * radio function is off.
 */
int modem_incoming_call(struct modem *m, uint32_t call_id, const char *from);
/* The other side of a mobile-originated call is ringing / answered. */
void modem_call_alerting(struct modem *m, uint32_t call_id);
void modem_call_connected(struct modem *m, uint32_t call_id);
void modem_call_released(struct modem *m, uint32_t call_id, enum modem_release why);
/* Number of calls this modem holds in any state. */
int modem_call_count(const struct modem *m);

/*
 * An SMS-DELIVER TPDU from the network (sca: service centre). Returns 0,
 * -ENOSPC when the storage is full (the network sees "memory capacity
 * exceeded"), -EINVAL for a malformed TPDU, -ENETDOWN when the radio is off.
 */
int modem_deliver_sms(struct modem *m, const uint8_t *tpdu, size_t len, const char *sca);

/* The radio's answer to a pending submit: 0 sent, else a +CMS ERROR code. */
void modem_sms_sent(struct modem *m, uint32_t ref, int cms_error);

/* The network's answer to USSD: status as +CUSD <m> (0 done, 1 more, 2 ended). */
void modem_ussd_result(struct modem *m, int status, const char *text);

/* Timers: repeated RING, auto-answer (S0), +CNMA timeout. Call about every second. */
void modem_tick(struct modem *m, time_t now);

#endif
