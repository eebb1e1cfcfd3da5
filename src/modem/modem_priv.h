/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the virtual modem: shared by modem*.c only. */
#ifndef POCKETVM_MODEM_MODEM_PRIV_H
#define POCKETVM_MODEM_MODEM_PRIV_H

#include "common/util.h"
#include "modem/at.h"
#include "modem/charset.h"
#include "modem/modem.h"

#define MODEM_REVISION "pocketvm-modem 0.1"
#define MIN_INT(a, b) ((a) < (b) ? (a) : (b))

/* Final results of a command; CME/CMS errors carry their TS 27.007/27.005 code. */
#define RES_OK 0
#define RES_ERROR 1
#define RES_PENDING 2 /* no final result yet (SMS prompt) */
#define RES_NO_CARRIER 3
#define RES_BUSY 4
#define RES_NO_ANSWER 5
#define RES_NO_DIALTONE 6
#define CME(n) (0x1000 + (n))
#define CMS(n) (0x2000 + (n))

/* TS 27.007 9.2 */
#define CME_PHONE_FAILURE 0
#define CME_NOT_ALLOWED 3
#define CME_NOT_SUPPORTED 4
#define CME_INVALID_INDEX 21
#define CME_NOT_FOUND 22
#define CME_TEXT_TOO_LONG 24
#define CME_INVALID_CHARS 25
#define CME_DIAL_TOO_LONG 26
#define CME_DIAL_INVALID 27
#define CME_NO_SERVICE 30
#define CME_INVALID_PARAM 50
#define CME_UNKNOWN 100
/* TS 27.005 3.2.5 */
#define CMS_ME_FAILURE 300
#define CMS_NOT_ALLOWED 302
#define CMS_NOT_SUPPORTED 303
#define CMS_INVALID_PDU 304
#define CMS_INVALID_TEXT 305
#define CMS_MEMORY_FAILURE 320
#define CMS_INVALID_INDEX 321
#define CMS_MEMORY_FULL 322
#define CMS_NO_SERVICE 331
#define CMS_NO_CNMA 340
#define CMS_UNKNOWN 500

#define MODEM_MAX_CALLS 7
#define SMS_MEMS 2 /* "SM" and "ME" */
#define SMS_SLOTS_MAX 50
#define URC_PENDING_MAX 16384
#define RING_INTERVAL 5 /* seconds between RINGs */
#define CNMA_TIMEOUT 15 /* seconds a +CMT waits for +CNMA */
#define SUBMIT_TIMEOUT 60 /* seconds for the radio to confirm an SMS */
#define CMS_NETWORK_TIMEOUT 332
#define PROMPT_TIMEOUT 60 /* seconds an unfinished SMS prompt may hold the channel */

/* +CLCC <stat> values. */
enum call_state {
	CALL_ACTIVE = 0,
	CALL_HELD = 1,
	CALL_DIALING = 2,
	CALL_ALERTING = 3,
	CALL_INCOMING = 4,
	CALL_WAITING = 5,
};

struct modem_call {
	bool used;
	uint32_t id; /* the router's id */
	bool mt;
	enum call_state state;
	char number[SMS_ADDR_BUF];
};

/* +CMGL <stat> values in PDU mode. */
enum sms_stat {
	SMS_REC_UNREAD = 0,
	SMS_REC_READ = 1,
	SMS_STO_UNSENT = 2,
	SMS_STO_SENT = 3,
};

struct sms_slot {
	bool used;
	enum sms_stat stat;
	uint8_t pdu[SMS_PDU_MAX]; /* SC address prefix, then the TPDU */
	size_t len;
	size_t tpdu_off;
};

struct sms_mem {
	const char *name;
	int cap;
	struct sms_slot slots[SMS_SLOTS_MAX];
};

enum prompt_kind {
	PROMPT_NONE,
	PROMPT_SEND, /* +CMGS */
	PROMPT_WRITE, /* +CMGW */
};

struct modem {
	const struct modem_host_ops *ops;
	void *ctx;
	struct modem_config cfg;
	struct at_reader reader;

	/* V.250 */
	bool echo, verbose, quiet;
	int amp_c, amp_d;
	uint8_t sreg[13];

	/* TS 27.007 */
	int cmee, cfun, creg_n, cgreg_n, crc, clip, ccwa_n, cops_format, cops_mode;
	int cmer_mode, cmer_ind, cusd_n;
	int ifc[2]; /* flow control: a socket needs none, but clients set it */
	enum te_charset cscs;
	bool service, barred;
	int signal;
	int ind[8];
	struct modem_call calls[MODEM_MAX_CALLS];
	time_t ring_next;
	int rings;
	bool ussd_pending;
	bool ccwa_service; /* call waiting enabled in the network */

	/* TS 27.005 */
	int csms, cmgf, csdh;
	int cnmi[5];
	int mem_idx[3]; /* <mem1>, <mem2>, <mem3> */
	struct sms_mem mem[SMS_MEMS];
	uint8_t next_mr;
	char csca[SMS_ADDR_BUF];
	int csmp[4]; /* fo, vp, pid, dcs for text mode */
	bool cnma_pending;
	time_t cnma_deadline;
	uint8_t cnma_pdu[SMS_PDU_MAX];
	size_t cnma_len, cnma_off;

	/* An SMS being typed after "> ". */
	enum prompt_kind prompt;
	bool prompt_pdu;
	long prompt_len;
	int prompt_stat;
	char prompt_da[SMS_ADDR_BUF];
	int prompt_toda;
	char prompt_buf[AT_LINE_MAX + 1];
	size_t prompt_used;
	bool prompt_overflow;
	time_t prompt_started;

	/* A submit waiting for the radio's answer; the client's bytes wait too. */
	bool submit_pending;
	uint32_t submit_ref;
	int submit_mr;
	int submit_slot; /* +CMSS: 1-based index in mem_idx[1], else 0 */
	time_t submit_started;
	uint8_t held[2 * AT_LINE_MAX];
	size_t held_len;

	/* Output: URCs wait while a command line or prompt is in progress. */
	bool busy;
	bool resp_started;
	char urc_buf[URC_PENDING_MAX];
	size_t urc_len;
	time_t now;
};

struct at_handler {
	const char *name;
	int (*fn)(struct modem *m, const struct at_cmd *c);
};

/* Output helpers (modem.c). */
void modem_out(struct modem *m, const char *data, size_t len);
void modem_info(struct modem *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An information line that continues the previous one (no leading CR LF). */
void modem_info_more(struct modem *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void modem_urc(struct modem *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A two-line URC (+CMT header and PDU, +CCWA...). */
void modem_urc2(struct modem *m, const char *first, const char *second);
void modem_final(struct modem *m, int res);
void modem_set_ind(struct modem *m, int ind, int value);

/* Registration status for +CREG/+CGREG (modem_gsm.c). */
int modem_reg_status(const struct modem *m);
void modem_report_registration(struct modem *m, int old_stat);
bool modem_quoted_arg(const struct at_cmd *c, int i, char *out, size_t cap);

/* Command tables of each part, terminated by a NULL name. */
extern const struct at_handler modem_gsm_handlers[];
extern const struct at_handler modem_call_handlers[];
extern const struct at_handler modem_sms_handlers[];
extern const struct at_handler modem_ussd_handlers[];

/* Call and SMS internals used across files. */
void modem_calls_reset(struct modem *m);
void modem_sms_reset(struct modem *m);
int modem_sms_slot_store(struct modem *m, int mi, enum sms_stat stat, const uint8_t *pdu,
			 size_t len, size_t tpdu_off);
struct sms_slot *modem_sms_slot_get(struct modem *m, int mi, long index);
bool modem_sms_build_pdu(const char *sca, const uint8_t *tpdu, size_t len, uint8_t *out,
			 size_t *plen, size_t *off);
int modem_cmd_cmgs(struct modem *m, const struct at_cmd *c);
int modem_cmd_cmgw(struct modem *m, const struct at_cmd *c);
int modem_cmd_cmss(struct modem *m, const struct at_cmd *c);
void modem_submit_tick(struct modem *m);
void modem_sms_prompt_byte(struct modem *m, uint8_t c);
void modem_sms_prompt_abort(struct modem *m);
void modem_sms_tick(struct modem *m);
void modem_call_tick(struct modem *m);
int modem_sim_crsm(const struct modem *m, const struct at_cmd *c, char *out, size_t cap);

#endif
