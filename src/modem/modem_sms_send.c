// SPDX-License-Identifier: Apache-2.0
/*
 * Sending SMS (TS 27.005 3.5): +CMGS and +CMGW with their "> " prompt in PDU
 * and text mode, and +CMSS. A submit the radio cannot confirm at once (a real
 * modem) leaves the command pending: the final result follows the radio's
 * answer, and bytes the client sends meanwhile wait, as on a serial line.
 */
#include "modem/modem_priv.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static int sms_service_check(const struct modem *m)
{
	if (m->barred)
		return CMS(CMS_NOT_ALLOWED);
	if (modem_reg_status(m) != 1)
		return CMS(CMS_NO_SERVICE);
	return RES_OK;
}

static int start_prompt(struct modem *m, const struct at_cmd *c, enum prompt_kind kind)
{
	long v, stat = SMS_STO_UNSENT, toda = 0;
	const char *da;

	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_SET)
		return m->cmgf ? CMS(CMS_INVALID_TEXT) : CMS(CMS_INVALID_PDU);
	m->prompt_pdu = m->cmgf == 0;
	if (m->prompt_pdu) {
		if (!at_param_num(c, 0, &v) || v < 7 || v > SMS_TPDU_MAX ||
		    (kind == PROMPT_WRITE && !at_param_omitted(c, 1) &&
		     (!at_param_num(c, 1, &stat) || stat > 3)))
			return CMS(CMS_INVALID_PDU);
		m->prompt_len = v;
	} else {
		if (!at_param_str(c, 0, &da) || !sms_addr_valid(da) ||
		    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &toda) || toda > 255)))
			return CMS(CMS_INVALID_TEXT);
		snprintf(m->prompt_da, sizeof(m->prompt_da), "%s", da);
		m->prompt_toda = (int)toda;
	}
	m->prompt_stat = (int)stat;
	m->prompt = kind;
	m->prompt_used = 0;
	m->prompt_overflow = false;
	m->prompt_started = m->now;
	modem_out(m, "\r\n> ", 4);
	return RES_PENDING;
}

int modem_cmd_cmgs(struct modem *m, const struct at_cmd *c)
{
	int res = c->type == AT_SET ? sms_service_check(m) : RES_OK;

	return res == RES_OK ? start_prompt(m, c, PROMPT_SEND) : res;
}

int modem_cmd_cmgw(struct modem *m, const struct at_cmd *c)
{
	return start_prompt(m, c, PROMPT_WRITE);
}

/*
 * Sends one SMS-SUBMIT TPDU with a fresh message reference (*mr). Returns
 * RES_OK when sent, RES_PENDING when the radio answers later, or an error.
 */
static int submit(struct modem *m, uint8_t *tpdu, size_t len, int *mr)
{
	struct sms s;
	const char *err;
	int res = sms_service_check(m), r;

	if (res != RES_OK)
		return res;
	if (!sms_decode(tpdu, len, SMS_SUBMIT, &s, &err)) {
		log_info("modem %s: SMS-SUBMIT refused: %s", m->cfg.name, err);
		return CMS(CMS_INVALID_PDU);
	}
	/* The ME, not the TE, assigns TP-MR (TS 23.040 9.2.3.6). */
	tpdu[1] = m->next_mr++;
	*mr = tpdu[1];
	r = m->ops->send_sms(m->ctx, tpdu, len, &m->submit_ref);
	if (r < 0)
		return CMS(CMS_NO_SERVICE);
	if (r == 0)
		return RES_OK;
	m->submit_pending = true;
	m->submit_mr = *mr;
	m->submit_slot = 0;
	m->submit_started = m->now;
	m->held_len = 0;
	return RES_PENDING;
}

void modem_sms_sent(struct modem *m, uint32_t ref, int cms_error)
{
	uint8_t replay[sizeof(m->held)];
	size_t n = m->held_len;

	if (!m->submit_pending || ref != m->submit_ref)
		return; /* a late answer to a submit that already timed out */
	m->submit_pending = false;
	if (cms_error) {
		modem_final(m, CMS(cms_error));
	} else {
		if (m->submit_slot) {
			struct sms_slot *s = modem_sms_slot_get(m, m->mem_idx[1], m->submit_slot);

			if (s && s->used)
				s->stat = SMS_STO_SENT;
		}
		modem_info(m, "%s: %d", m->submit_slot ? "+CMSS" : "+CMGS", m->submit_mr);
		modem_final(m, RES_OK);
	}
	/* What the client typed meanwhile runs now, in order. */
	memcpy(replay, m->held, n);
	m->held_len = 0;
	modem_input(m, replay, n);
}

void modem_submit_tick(struct modem *m)
{
	if (m->submit_pending && m->now - m->submit_started > SUBMIT_TIMEOUT) {
		log_info("modem %s: no answer from the radio for an SMS", m->cfg.name);
		modem_sms_sent(m, m->submit_ref, CMS_NETWORK_TIMEOUT);
	}
}

/* The typed text (TE charset) as an SMS-SUBMIT TPDU per +CSMP. */
static int text_to_tpdu(struct modem *m, uint8_t *tpdu, size_t *len)
{
	char utf8[SMS_TEXT_MAX];
	struct sms tmpl, seg;

	if (!te_to_utf8(m->cscs, m->prompt_buf, utf8, sizeof(utf8)))
		return CMS(CMS_INVALID_TEXT);
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.mti = SMS_SUBMIT;
	tmpl.vpf = (m->csmp[0] >> 3) & 3;
	tmpl.vp[0] = (uint8_t)m->csmp[1];
	tmpl.pid = (uint8_t)m->csmp[2];
	snprintf(tmpl.addr, sizeof(tmpl.addr), "%s", m->prompt_da);
	if (tmpl.vpf != 0 && tmpl.vpf != 2)
		tmpl.vpf = 2;
	if (sms_split_text(&tmpl, utf8, 0, &seg, 1) != 1)
		return CMS(CMS_INVALID_TEXT); /* text mode sends one message */
	if (!sms_encode(&seg, tpdu, SMS_TPDU_MAX, len))
		return CMS(CMS_INVALID_TEXT);
	return RES_OK;
}

/* The PDU typed after "> ": SC address, then exactly prompt_len TPDU octets. */
static int prompt_tpdu(struct modem *m, uint8_t *pdu, size_t *plen, size_t *off)
{
	char sca[SMS_ADDR_BUF];

	if (!hex_decode(m->prompt_buf, m->prompt_used, pdu, SMS_PDU_MAX, plen) ||
	    !sms_sca_decode(pdu, *plen, sca, sizeof(sca), off) ||
	    *plen - *off != (size_t)m->prompt_len)
		return CMS(CMS_INVALID_PDU);
	return RES_OK;
}

static int prompt_finish(struct modem *m)
{
	uint8_t pdu[SMS_PDU_MAX], stored[SMS_PDU_MAX];
	size_t plen = 0, off = 0, slen, soff;
	int res, mr = 0, index;

	if (m->prompt_overflow)
		return m->prompt_pdu ? CMS(CMS_INVALID_PDU) : CMS(CMS_INVALID_TEXT);
	m->prompt_buf[m->prompt_used] = '\0';
	if (m->prompt_pdu) {
		res = prompt_tpdu(m, pdu, &plen, &off);
	} else {
		res = text_to_tpdu(m, pdu + 1, &plen);
		pdu[0] = 0;
		off = 1;
		plen += 1;
	}
	if (res != RES_OK)
		return res;
	if (m->prompt == PROMPT_SEND) {
		res = submit(m, pdu + off, plen - off, &mr);
		if (res == RES_OK)
			modem_info(m, "+CMGS: %d", mr);
		return res; /* RES_PENDING: modem_sms_sent() finishes it */
	}
	{
		const char *err;
		struct sms s;

		if (!sms_decode(pdu + off, plen - off, SMS_SUBMIT, &s, &err) &&
		    !sms_decode(pdu + off, plen - off, SMS_DELIVER, &s, &err))
			return CMS(CMS_INVALID_PDU);
	}
	if (!modem_sms_build_pdu(m->csca, pdu + off, plen - off, stored, &slen, &soff))
		return CMS(CMS_INVALID_PDU);
	index = modem_sms_slot_store(m, m->mem_idx[1], (enum sms_stat)m->prompt_stat, stored, slen,
				     soff);
	if (index < 0)
		return CMS(CMS_MEMORY_FULL);
	modem_info(m, "+CMGW: %d", index);
	return RES_OK;
}

void modem_sms_prompt_byte(struct modem *m, uint8_t c)
{
	int res;

	if (c == 0x1a || c == 0x1b) {
		/* Ctrl-Z sends, ESC cancels (TS 27.005 3.5.1). */
		if (m->echo)
			modem_out(m, "\r\n", 2);
		res = c == 0x1b ? RES_OK : prompt_finish(m);
		explicit_bzero(m->prompt_buf, sizeof(m->prompt_buf));
		m->prompt = PROMPT_NONE;
		m->prompt_used = 0;
		if (res != RES_PENDING)
			modem_final(m, res);
		return;
	}
	if (m->echo)
		modem_out(m, (const char *)&c, 1);
	if (c == m->sreg[5]) {
		if (m->prompt_used > 0)
			m->prompt_used--;
		return;
	}
	if (c == '\r' || c == '\n') {
		/* In text mode a new line of the message gets a new prompt. */
		if (!m->prompt_pdu && c == '\r') {
			modem_out(m, "\r\n> ", 4);
			c = '\n';
		} else {
			return;
		}
	} else if (c < 0x20 && !m->prompt_pdu) {
		return;
	}
	if (m->prompt_used >= AT_LINE_MAX) {
		m->prompt_overflow = true;
		return;
	}
	m->prompt_buf[m->prompt_used++] = (char)c;
}

void modem_sms_prompt_abort(struct modem *m)
{
	explicit_bzero(m->prompt_buf, sizeof(m->prompt_buf));
	m->prompt = PROMPT_NONE;
	m->prompt_used = 0;
}

int modem_cmd_cmss(struct modem *m, const struct at_cmd *c)
{
	uint8_t tpdu[SMS_TPDU_MAX];
	struct sms_slot *s;
	long index;
	size_t len;
	int mr, res;

	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_SET || !at_param_num(c, 0, &index))
		return CMS(CMS_INVALID_INDEX);
	if (c->nparams > 1)
		return CMS(CMS_NOT_SUPPORTED); /* sending to another address */
	s = modem_sms_slot_get(m, m->mem_idx[1], index);
	if (!s || !s->used)
		return CMS(CMS_INVALID_INDEX);
	if (s->stat != SMS_STO_UNSENT && s->stat != SMS_STO_SENT)
		return CMS(CMS_NOT_ALLOWED);
	len = s->len - s->tpdu_off;
	memcpy(tpdu, s->pdu + s->tpdu_off, len);
	res = submit(m, tpdu, len, &mr);
	if (res == RES_PENDING)
		m->submit_slot = (int)index;
	if (res != RES_OK)
		return res;
	s->stat = SMS_STO_SENT;
	modem_info(m, "+CMSS: %d", mr);
	return RES_OK;
}
