/* SPDX-License-Identifier: Apache-2.0 */
/* Inside simnet: shared by simnet.c (network) and simnet_cmd.c (control commands). */
#ifndef POCKETVM_MODEM_SIMNET_PRIV_H
#define POCKETVM_MODEM_SIMNET_PRIV_H

#include <stdarg.h>

#include "modem/pdu.h"
#include "modem/simnet.h"

#define SN_LINES 16
#define SN_CALLS 64
#define SN_LOG_KEEP 4096
#define SN_QUEUE_MAX 4096
#define SN_PARTIALS 8
#define SN_PARTS 16
#define SN_LOG_LINE 1024
#define SN_SMSC "+15550000000"

enum sn_ev_type {
	EV_INCOMING_CALL,
	EV_ALERTING,
	EV_CONNECTED,
	EV_RELEASED,
	EV_SMS,
	EV_USSD,
	EV_NETWORK,
};

struct sn_event {
	struct sn_event *next;
	enum sn_ev_type type;
	uint32_t call_id;
	enum modem_release why;
	char to[SMS_ADDR_BUF];
	char from[SMS_ADDR_BUF];
	uint8_t tpdu[SMS_TPDU_MAX];
	size_t len;
	int status;
	char text[512];
	unsigned int sms_id, part, parts;
	/* A status report is owed to report_to (TP-MR report_mr) once delivered. */
	bool report;
	char report_to[SMS_ADDR_BUF];
	uint8_t report_mr;
};

enum leg_state {
	LEG_DIALING,
	LEG_RINGING, /* MO: the far end alerts; MT: our line rings */
	LEG_ACTIVE,
	LEG_HELD,
};

/* One call as one of our lines sees it. */
struct sn_call {
	bool used;
	uint32_t id;
	bool mo; /* originated by our line `line` */
	char line[SMS_ADDR_BUF];
	char party[SMS_ADDR_BUF];
	enum leg_state state;
	uint32_t peer; /* the other leg when both ends are our lines */
};

struct sn_partial {
	bool used;
	char from[SMS_ADDR_BUF], to[SMS_ADDR_BUF];
	uint16_t ref;
	uint8_t total, have;
	char text[SN_PARTS][SMS_TEXT_MAX];
	bool got[SN_PARTS];
};

struct simnet {
	struct radio radio;
	void (*kick)(void *ctx, unsigned int delay_ms);
	void *kick_ctx;
	unsigned int sms_gap_ms;
	uint64_t last_sms_ms;
	char lines[SN_LINES][SMS_ADDR_BUF];
	int nlines;
	struct sn_call calls[SN_CALLS];
	uint32_t next_call;
	unsigned int next_sms;
	uint16_t next_ref;
	bool service;
	int signal;
	struct sn_event *head, *tail;
	size_t queued;
	char *log[SN_LOG_KEEP];
	size_t nlog;
	void (*log_hook)(void *ctx, const char *line);
	void *log_ctx;
	struct sn_partial partial[SN_PARTIALS];
	void (*free_hook)(void *ctx);
	void *free_ctx;
};

extern const char *const sn_leg_names[];
extern const char *const sn_release_names[];

void sn_log(struct simnet *sn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sn_escape(const char *in, char *out, size_t cap);
struct sn_event *sn_ev_new(struct simnet *sn, enum sn_ev_type type);
void sn_ev_push(struct simnet *sn, struct sn_event *ev);
void sn_ev_call(struct simnet *sn, enum sn_ev_type type, uint32_t id, enum modem_release why);
void sn_ev_network(struct simnet *sn);
bool sn_is_line(const struct simnet *sn, const char *number);
struct sn_call *sn_call_get(struct simnet *sn, uint32_t id);
struct sn_call *sn_call_new(struct simnet *sn, bool mo, const char *line, const char *party);
void sn_call_end(struct simnet *sn, struct sn_call *c, enum modem_release why);
void sn_incoming_event(struct simnet *sn, const struct sn_call *c);
int sn_queue_deliver(struct simnet *sn, const char *to, const uint8_t *tpdu, size_t len,
		     unsigned int id, unsigned int part, unsigned int parts);
void sn_queue_report(struct simnet *sn, const char *to, uint8_t mr, const char *recipient,
		     uint8_t status);

#endif
