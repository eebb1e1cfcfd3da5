// SPDX-License-Identifier: Apache-2.0
/*
 * The virtual modem's core: byte stream in, V.250 lines, dispatch to the
 * command tables of modem_gsm.c (TS 27.007), modem_call.c (calls) and
 * modem_sms.c (TS 27.005, USSD), and the formatting of responses.
 *
 * Unsolicited result codes never split a response: while a command line runs
 * or an SMS is being typed they wait in a bounded buffer and follow the final
 * result code.
 */
#include "modem/modem_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const uint8_t sreg_defaults[13] = {
	[0] = 0, [3] = 13, [4] = 10, [5] = 8, [6] = 2, [7] = 50, [8] = 2, [10] = 14,
};

static void luhn_append(char *digits)
{
	size_t n = strlen(digits);
	int sum = 0;

	for (size_t i = 0; i < n; i++) {
		int d = digits[n - 1 - i] - '0';

		if (i % 2 == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	digits[n] = (char)('0' + (10 - sum % 10) % 10);
	digits[n + 1] = '\0';
}

/* The last n digits of number, left-padded with zeros. */
static void tail_digits(const char *number, size_t n, char *out)
{
	char digits[SMS_ADDR_BUF];
	size_t k = 0, len;

	for (const char *p = number; *p && k < sizeof(digits) - 1; p++) {
		if (isdigit((unsigned char)*p))
			digits[k++] = *p;
	}
	digits[k] = '\0';
	len = k;
	for (size_t i = 0; i < n; i++)
		out[i] = (i + len >= n) ? digits[i + len - n] : '0';
	out[n] = '\0';
}

void modem_config_fill(struct modem_config *cfg, unsigned int index)
{
	char tail[12];

	if (!cfg->plmn[0])
		snprintf(cfg->plmn, sizeof(cfg->plmn), "00101");
	if (!cfg->imsi[0]) {
		tail_digits(cfg->number, 10, tail);
		snprintf(cfg->imsi, sizeof(cfg->imsi), "%.5s%.10s", cfg->plmn, tail);
	}
	if (!cfg->iccid[0]) {
		tail_digits(cfg->number, 11, tail);
		snprintf(cfg->iccid, sizeof(cfg->iccid) - 1, "8900101%.11s", tail);
		luhn_append(cfg->iccid);
	}
	if (!cfg->imei[0]) {
		snprintf(cfg->imei, sizeof(cfg->imei) - 1, "35345600%06u", index % 1000000);
		luhn_append(cfg->imei);
	}
	if (!cfg->spn[0])
		snprintf(cfg->spn, sizeof(cfg->spn), "pocketvm");
	if (!cfg->operator_name[0])
		snprintf(cfg->operator_name, sizeof(cfg->operator_name), "PocketNet");
	if (!cfg->smsc[0])
		snprintf(cfg->smsc, sizeof(cfg->smsc), "+15550000000");
}

static void modem_reset_settings(struct modem *m)
{
	m->echo = true;
	m->verbose = true;
	m->quiet = false;
	m->amp_c = 1;
	m->amp_d = 2;
	memcpy(m->sreg, sreg_defaults, sizeof(m->sreg));
	m->cmee = 0;
	m->creg_n = 0;
	m->cgreg_n = 0;
	m->crc = 0;
	m->clip = 0;
	m->ccwa_n = 0;
	m->cops_format = 0;
	m->cmer_mode = 0;
	m->cmer_ind = 0;
	m->cusd_n = 0;
	m->cscs = TE_IRA;
	m->csdh = 0;
	m->cmgf = 0;
	/* <mode>=1: buffer nothing in the TA; no routing until the client asks. */
	memset(m->cnmi, 0, sizeof(m->cnmi));
	m->cnmi[0] = 1;
	m->csmp[0] = 17;
	m->csmp[1] = 167;
	m->csmp[2] = 0;
	m->csmp[3] = 0;
}

struct modem *modem_new(const struct modem_config *cfg, const struct modem_host_ops *ops, void *ctx)
{
	struct modem *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cfg = *cfg;
	m->ops = ops;
	m->ctx = ctx;
	m->cfun = 1;
	m->ccwa_service = true;
	m->cops_mode = 0;
	m->signal = 99;
	m->next_mr = 1;
	m->now = time(NULL);
	snprintf(m->csca, sizeof(m->csca), "%s", cfg->smsc);
	at_reader_init(&m->reader);
	modem_reset_settings(m);
	modem_sms_reset(m);
	return m;
}

void modem_free(struct modem *m)
{
	if (!m)
		return;
	/* Stored messages are private to the VM: do not leave them in freed memory. */
	explicit_bzero(m, sizeof(*m));
	free(m);
}

const struct modem_config *modem_config(const struct modem *m)
{
	return &m->cfg;
}

uint8_t modem_sreg(const struct modem *m, unsigned int index)
{
	return index < ARRAY_SIZE(m->sreg) ? m->sreg[index] : 0;
}

void modem_out(struct modem *m, const char *data, size_t len)
{
	m->ops->output(m->ctx, data, len);
}

static void __attribute__((format(printf, 3, 0)))
vformat_line(struct modem *m, bool lead, const char *fmt, va_list ap)
{
	char line[2048];
	int n = 0, k;

	if (lead && m->verbose)
		n = snprintf(line, sizeof(line), "\r\n");
	k = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	if (k < 0)
		return;
	n += MIN_INT(k, (int)sizeof(line) - n - 3);
	line[n++] = '\r';
	line[n++] = '\n';
	modem_out(m, line, (size_t)n);
}

void modem_info(struct modem *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_line(m, !m->resp_started, fmt, ap);
	va_end(ap);
	m->resp_started = true;
}

void modem_info_more(struct modem *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_line(m, false, fmt, ap);
	va_end(ap);
}

/* Queues (while busy) or sends one complete URC. */
static void urc_emit(struct modem *m, const char *text, size_t len)
{
	if (!m->busy) {
		modem_out(m, text, len);
		return;
	}
	if (m->urc_len + len > sizeof(m->urc_buf)) {
		log_warn("modem %s: unsolicited result queue full, dropping one", m->cfg.name);
		return;
	}
	memcpy(m->urc_buf + m->urc_len, text, len);
	m->urc_len += len;
}

void modem_urc(struct modem *m, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(line + 2, sizeof(line) - 4, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	k = MIN_INT(k, (int)sizeof(line) - 5);
	line[0] = '\r';
	line[1] = '\n';
	line[k + 2] = '\r';
	line[k + 3] = '\n';
	urc_emit(m, line, (size_t)k + 4);
}

void modem_urc2(struct modem *m, const char *first, const char *second)
{
	char buf[1024];
	int k = snprintf(buf, sizeof(buf), "\r\n%s\r\n%s\r\n", first, second);

	if (k < 0 || (size_t)k >= sizeof(buf))
		return;
	urc_emit(m, buf, (size_t)k);
}

static const char *cme_text(int code)
{
	switch (code) {
	case CME_PHONE_FAILURE:
		return "phone failure";
	case CME_NOT_ALLOWED:
		return "operation not allowed";
	case CME_NOT_SUPPORTED:
		return "operation not supported";
	case CME_INVALID_INDEX:
		return "invalid index";
	case CME_NOT_FOUND:
		return "not found";
	case CME_TEXT_TOO_LONG:
		return "text string too long";
	case CME_INVALID_CHARS:
		return "invalid characters in text string";
	case CME_DIAL_TOO_LONG:
		return "dial string too long";
	case CME_DIAL_INVALID:
		return "invalid characters in dial string";
	case CME_NO_SERVICE:
		return "no network service";
	case CME_INVALID_PARAM:
		return "incorrect parameters";
	default:
		return "unknown";
	}
}

void modem_final(struct modem *m, int res)
{
	static const struct {
		const char *text;
		int code;
	} basic[] = {
		[RES_OK] = { "OK", 0 },
		[RES_ERROR] = { "ERROR", 4 },
		[RES_NO_CARRIER] = { "NO CARRIER", 3 },
		[RES_BUSY] = { "BUSY", 7 },
		[RES_NO_ANSWER] = { "NO ANSWER", 8 },
		[RES_NO_DIALTONE] = { "NO DIALTONE", 6 },
	};
	char line[80];
	int n;

	if (res >= CMS(0)) {
		n = snprintf(line, sizeof(line), "+CMS ERROR: %d", res - CMS(0));
	} else if (res >= CME(0)) {
		if (m->cmee == 0)
			n = snprintf(line, sizeof(line), "ERROR");
		else if (m->cmee == 1)
			n = snprintf(line, sizeof(line), "+CME ERROR: %d", res - CME(0));
		else
			n = snprintf(line, sizeof(line), "+CME ERROR: %s", cme_text(res - CME(0)));
	} else if (res < (int)ARRAY_SIZE(basic) && basic[res].text) {
		n = m->verbose ? snprintf(line, sizeof(line), "%s", basic[res].text) :
				 snprintf(line, sizeof(line), "%d", basic[res].code);
	} else {
		n = snprintf(line, sizeof(line), "ERROR");
	}
	if (!m->quiet) {
		char out[96];
		int k = m->verbose ? snprintf(out, sizeof(out), "\r\n%.*s\r\n", n, line) :
				     snprintf(out, sizeof(out), "%.*s\r", n, line);

		modem_out(m, out, (size_t)k);
	}
	m->busy = false;
	m->resp_started = false;
	if (m->urc_len) {
		size_t len = m->urc_len;

		m->urc_len = 0;
		modem_out(m, m->urc_buf, len);
	}
}

/* V.250 basic commands. */

static int set_flag(const struct at_cmd *c, bool *flag)
{
	long v = 0;

	if (c->type == AT_SET)
		v = c->params[0].num;
	else if (c->type != AT_EXEC)
		return RES_ERROR;
	if (v > 1)
		return RES_ERROR;
	*flag = v;
	return RES_OK;
}

static int cmd_e(struct modem *m, const struct at_cmd *c)
{
	return set_flag(c, &m->echo);
}

static int cmd_v(struct modem *m, const struct at_cmd *c)
{
	return set_flag(c, &m->verbose);
}

static int cmd_q(struct modem *m, const struct at_cmd *c)
{
	return set_flag(c, &m->quiet);
}

static int cmd_z(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_SET && c->params[0].num != 0)
		return RES_ERROR;
	modem_reset_settings(m);
	return RES_OK;
}

static int cmd_s(struct modem *m, const struct at_cmd *c)
{
	static const bool known[13] = {
		[0] = true, [3] = true, [4] = true, [5] = true,
		[6] = true, [7] = true, [8] = true, [10] = true,
	};
	int i = c->index;

	if (i < 0 || i >= (int)ARRAY_SIZE(known) || !known[i])
		return RES_ERROR;
	if (c->type == AT_READ) {
		modem_info(m, "%03u", m->sreg[i]);
		return RES_OK;
	}
	if (c->params[0].num > 255 || (i >= 3 && i <= 5 && c->params[0].num > 127))
		return RES_ERROR;
	m->sreg[i] = (uint8_t)c->params[0].num;
	return RES_OK;
}

static int cmd_amp(struct modem *m, const struct at_cmd *c, int *val, long max)
{
	long v = c->type == AT_SET ? c->params[0].num : 0;

	if (c->type != AT_SET && c->type != AT_EXEC)
		return RES_ERROR;
	if (v > max)
		return RES_ERROR;
	*val = (int)v;
	return RES_OK;
}

static int cmd_amp_c(struct modem *m, const struct at_cmd *c)
{
	return cmd_amp(m, c, &m->amp_c, 1);
}

static int cmd_amp_d(struct modem *m, const struct at_cmd *c)
{
	return cmd_amp(m, c, &m->amp_d, 2);
}

static int cmd_amp_f(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_SET && c->params[0].num != 0)
		return RES_ERROR;
	modem_reset_settings(m);
	return RES_OK;
}

/* Accepted for compatibility; a virtual modem has no speaker or dial tone. */
static int cmd_ignored(struct modem *m, const struct at_cmd *c)
{
	return (c->type == AT_SET || c->type == AT_EXEC) ? RES_OK : RES_ERROR;
}

static int cmd_i(struct modem *m, const struct at_cmd *c)
{
	long v = c->type == AT_SET ? c->params[0].num : 0;

	if (c->type != AT_SET && c->type != AT_EXEC)
		return RES_ERROR;
	if (v == 0) {
		modem_info(m, "pocketvm");
		modem_info_more(m, "pocketvm virtual modem");
		modem_info_more(m, "Revision: " MODEM_REVISION);
		modem_info_more(m, "IMEI: %s", m->cfg.imei);
		modem_info_more(m, "+GCAP: +CGSM");
	} else if (v <= 9) {
		modem_info(m, "pocketvm virtual modem " MODEM_REVISION);
	} else {
		return RES_ERROR;
	}
	return RES_OK;
}

static int cmd_o(struct modem *m, const struct at_cmd *c)
{
	return RES_NO_CARRIER; /* no data connection to return to */
}

static const struct at_handler basic_handlers[] = {
	{ "E", cmd_e },	      { "V", cmd_v },	     { "Q", cmd_q },	   { "Z", cmd_z },
	{ "S", cmd_s },	      { "I", cmd_i },	     { "L", cmd_ignored }, { "M", cmd_ignored },
	{ "X", cmd_ignored }, { "O", cmd_o },	     { "&C", cmd_amp_c },  { "&D", cmd_amp_d },
	{ "&F", cmd_amp_f },  { "&W", cmd_ignored }, { NULL, NULL },
};

static const struct at_handler *const handler_tables[] = {
	basic_handlers,	    modem_gsm_handlers,	 modem_call_handlers,
	modem_sms_handlers, modem_ussd_handlers,
};

static const struct at_handler *find_handler(const char *name)
{
	for (size_t t = 0; t < ARRAY_SIZE(handler_tables); t++) {
		for (const struct at_handler *h = handler_tables[t]; h->name; h++) {
			if (strcmp(h->name, name) == 0)
				return h;
		}
	}
	return NULL;
}

static void run_line(struct modem *m, const char *line, size_t len)
{
	struct at_iter it;
	struct at_cmd cmd;
	int res = RES_OK, r;

	m->busy = true;
	m->resp_started = false;
	if (!at_iter_init(&it, line, len)) {
		modem_final(m, RES_ERROR);
		return;
	}
	while ((r = at_iter_next(&it, &cmd)) > 0) {
		const struct at_handler *h = find_handler(cmd.name);

		if (!h) {
			res = RES_ERROR;
			break;
		}
		res = h->fn(m, &cmd);
		if (res != RES_OK)
			break;
	}
	if (r < 0)
		res = RES_ERROR;
	if (res == RES_PENDING)
		return; /* the SMS prompt finishes the line */
	modem_final(m, res);
}

void modem_input(struct modem *m, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		enum at_line_kind kind;
		const char *line;
		size_t n;

		if (m->submit_pending) {
			/* A command is still running: the rest waits (bounded). */
			size_t room = sizeof(m->held) - m->held_len, k = MIN(room, len - i);

			memcpy(m->held + m->held_len, data + i, k);
			m->held_len += k;
			if (k < len - i)
				log_warn("modem %s: input while an SMS is sent, %zu bytes dropped",
					 m->cfg.name, len - i - k);
			return;
		}
		if (m->prompt != PROMPT_NONE) {
			modem_sms_prompt_byte(m, data[i]);
			continue;
		}
		if (m->echo)
			modem_out(m, (const char *)&data[i], 1);
		if (!at_reader_byte(&m->reader, data[i], m->sreg[3], m->sreg[5], &kind, &line, &n))
			continue;
		if (kind == AT_LINE_OVERLONG) {
			log_warn("modem %s: command line longer than %d bytes discarded",
				 m->cfg.name, AT_LINE_MAX);
			m->busy = true;
			modem_final(m, RES_ERROR);
			continue;
		}
		run_line(m, line, n);
	}
}

void modem_detach(struct modem *m)
{
	if (m->prompt != PROMPT_NONE)
		modem_sms_prompt_abort(m);
	/* A pending submit still completes (its result is dropped with no client). */
	m->held_len = 0;
	at_reader_init(&m->reader);
	m->busy = false;
	m->urc_len = 0;
}

void modem_set_ind(struct modem *m, int ind, int value)
{
	if (ind < 1 || ind > (int)ARRAY_SIZE(m->ind) - 1 || m->ind[ind] == value)
		return;
	m->ind[ind] = value;
	if (m->cmer_mode == 3 && m->cmer_ind == 1)
		modem_urc(m, "+CIEV: %d,%d", ind, value);
}

void modem_tick(struct modem *m, time_t now)
{
	m->now = now;
	modem_call_tick(m);
	modem_sms_tick(m);
	modem_submit_tick(m);
}
