// SPDX-License-Identifier: Apache-2.0
/*
 * SMS (TS 27.005): +CSMS, +CMGF, +CPMS, +CNMI, +CMTI/+CMT, +CMGR, +CMGL,
 * +CMGD, +CMGS, +CMGW, +CMSS, +CNMA, +CSCA, +CSMP, +CSDH, in PDU and text
 * mode. Messages live in the VM's own storages ("SM", "ME") as the PDU the
 * network delivered, prefixed with the service centre address.
 */
#include "modem/modem_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *const stat_names[] = {
	"REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL",
};

void modem_sms_reset(struct modem *m)
{
	m->mem[0].name = "SM";
	m->mem[0].cap = 30;
	m->mem[1].name = "ME";
	m->mem[1].cap = SMS_SLOTS_MAX;
	m->mem_idx[0] = m->mem_idx[1] = m->mem_idx[2] = 0;
	m->csms = 0;
}

static int mem_used(const struct sms_mem *mem)
{
	int n = 0;

	for (int i = 0; i < mem->cap; i++)
		n += mem->slots[i].used;
	return n;
}

static int mem_find(const char *name)
{
	for (int i = 0; i < SMS_MEMS; i++) {
		if (strcmp(name, i == 0 ? "SM" : "ME") == 0)
			return i;
	}
	return -1;
}

static void update_full_ind(struct modem *m)
{
	const struct sms_mem *mem = &m->mem[m->mem_idx[2]];

	modem_set_ind(m, 6, mem_used(mem) == mem->cap);
}

/* Stores a PDU in memory mi; returns the 1-based index or -ENOSPC. */
int modem_sms_slot_store(struct modem *m, int mi, enum sms_stat stat, const uint8_t *pdu,
			 size_t len, size_t tpdu_off)
{
	struct sms_mem *mem = &m->mem[mi];

	for (int i = 0; i < mem->cap; i++) {
		struct sms_slot *s = &mem->slots[i];

		if (s->used)
			continue;
		s->used = true;
		s->stat = stat;
		memcpy(s->pdu, pdu, len);
		s->len = len;
		s->tpdu_off = tpdu_off;
		update_full_ind(m);
		return i + 1;
	}
	return -ENOSPC;
}

struct sms_slot *modem_sms_slot_get(struct modem *m, int mi, long index)
{
	if (index < 1 || index > m->mem[mi].cap)
		return NULL;
	return &m->mem[mi].slots[index - 1];
}

static void slot_clear(struct modem *m, struct sms_slot *s)
{
	explicit_bzero(s, sizeof(*s));
	update_full_ind(m);
}

/* The SC address and TPDU of an SMS as one PDU with its length in octets. */
bool modem_sms_build_pdu(const char *sca, const uint8_t *tpdu, size_t len, uint8_t *out,
			 size_t *plen, size_t *off)
{
	if (!sms_sca_encode(sca, out, 12, off) || *off + len > SMS_PDU_MAX)
		return false;
	memcpy(out + *off, tpdu, len);
	*plen = *off + len;
	return true;
}

/* Text of a stored message in the TE charset, for text mode. */
static bool slot_text(const struct modem *m, const struct sms_slot *s, struct sms *sms, char *out,
		      size_t cap)
{
	char utf8[SMS_TEXT_MAX];
	const char *err;
	enum sms_mti mti = s->stat <= SMS_REC_READ ? SMS_DELIVER : SMS_SUBMIT;

	if (!sms_decode(s->pdu + s->tpdu_off, s->len - s->tpdu_off, mti, sms, &err) ||
	    !sms_body_utf8(sms, utf8, sizeof(utf8)))
		return false;
	return te_from_utf8(m->cscs, utf8, out, cap);
}

static int show_slot(struct modem *m, struct sms_slot *s, long index, bool list)
{
	char hex[2 * SMS_PDU_MAX + 1], text[4 * SMS_TEXT_MAX + 1], ts[32];
	struct sms sms;

	if (m->cmgf == 0) {
		hex_encode(s->pdu, s->len, hex, sizeof(hex));
		if (list)
			modem_info(m, "+CMGL: %ld,%d,,%zu", index, s->stat, s->len - s->tpdu_off);
		else
			modem_info(m, "+CMGR: %d,,%zu", s->stat, s->len - s->tpdu_off);
		modem_info_more(m, "%s", hex);
	} else {
		if (!slot_text(m, s, &sms, text, sizeof(text)))
			return CMS(CMS_MEMORY_FAILURE);
		if (s->stat <= SMS_REC_READ) {
			sms_scts_text(sms.scts, ts, sizeof(ts));
			if (list)
				modem_info(m, "+CMGL: %ld,\"%s\",\"%s\",,\"%s\"", index,
					   stat_names[s->stat], sms.addr, ts);
			else
				modem_info(m, "+CMGR: \"%s\",\"%s\",,\"%s\"", stat_names[s->stat],
					   sms.addr, ts);
		} else if (list) {
			modem_info(m, "+CMGL: %ld,\"%s\",\"%s\",", index, stat_names[s->stat],
				   sms.addr);
		} else {
			modem_info(m, "+CMGR: \"%s\",\"%s\",", stat_names[s->stat], sms.addr);
		}
		modem_info_more(m, "%s", text);
	}
	if (s->stat == SMS_REC_UNREAD)
		s->stat = SMS_REC_READ;
	return RES_OK;
}

static int cmd_csms(struct modem *m, const struct at_cmd *c)
{
	long v;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CSMS: (0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CSMS: %d,1,1,1", m->csms);
		return RES_OK;
	case AT_SET:
		if (!at_param_num(c, 0, &v) || v > 1)
			return CMS(CMS_NOT_SUPPORTED);
		m->csms = (int)v;
		modem_info(m, "+CSMS: 1,1,1");
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_cmgf(struct modem *m, const struct at_cmd *c)
{
	long v = 0;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CMGF: (0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CMGF: %d", m->cmgf);
		return RES_OK;
	case AT_SET:
		if (!at_param_omitted(c, 0) && (!at_param_num(c, 0, &v) || v > 1))
			return CMS(CMS_NOT_SUPPORTED);
		m->cmgf = (int)v;
		return RES_OK;
	case AT_EXEC:
		m->cmgf = 0;
		return RES_OK;
	}
	return RES_ERROR;
}

static int cmd_cpms(struct modem *m, const struct at_cmd *c)
{
	int idx[3];
	const char *name;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CPMS: (\"SM\",\"ME\"),(\"SM\",\"ME\"),(\"SM\",\"ME\")");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CPMS: \"%s\",%d,%d,\"%s\",%d,%d,\"%s\",%d,%d",
			   m->mem[m->mem_idx[0]].name, mem_used(&m->mem[m->mem_idx[0]]),
			   m->mem[m->mem_idx[0]].cap, m->mem[m->mem_idx[1]].name,
			   mem_used(&m->mem[m->mem_idx[1]]), m->mem[m->mem_idx[1]].cap,
			   m->mem[m->mem_idx[2]].name, mem_used(&m->mem[m->mem_idx[2]]),
			   m->mem[m->mem_idx[2]].cap);
		return RES_OK;
	case AT_SET:
		for (int i = 0; i < 3; i++) {
			idx[i] = m->mem_idx[i];
			if (at_param_omitted(c, i))
				continue;
			if (!at_param_str(c, i, &name) || (idx[i] = mem_find(name)) < 0)
				return CMS(CMS_NOT_SUPPORTED);
		}
		if (c->nparams > 3)
			return CMS(CMS_NOT_SUPPORTED);
		memcpy(m->mem_idx, idx, sizeof(idx));
		update_full_ind(m);
		modem_info(m, "+CPMS: %d,%d,%d,%d,%d,%d", mem_used(&m->mem[idx[0]]),
			   m->mem[idx[0]].cap, mem_used(&m->mem[idx[1]]), m->mem[idx[1]].cap,
			   mem_used(&m->mem[idx[2]]), m->mem[idx[2]].cap);
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_cnmi(struct modem *m, const struct at_cmd *c)
{
	static const long max[5] = { 2, 3, 3, 2, 1 };
	int v[5];

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CNMI: %d,%d,%d,%d,%d", m->cnmi[0], m->cnmi[1], m->cnmi[2],
			   m->cnmi[3], m->cnmi[4]);
		return RES_OK;
	case AT_SET:
		if (c->nparams > 5)
			return CMS(CMS_NOT_SUPPORTED);
		for (int i = 0; i < 5; i++) {
			long x;

			v[i] = m->cnmi[i];
			if (at_param_omitted(c, i))
				continue;
			if (!at_param_num(c, i, &x) || x > max[i])
				return CMS(CMS_NOT_SUPPORTED);
			v[i] = (int)x;
		}
		memcpy(m->cnmi, v, sizeof(v));
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_cmgr(struct modem *m, const struct at_cmd *c)
{
	struct sms_slot *s;
	long index;

	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_SET || !at_param_num(c, 0, &index))
		return CMS(CMS_INVALID_INDEX);
	s = modem_sms_slot_get(m, m->mem_idx[0], index);
	if (!s || !s->used)
		return CMS(CMS_INVALID_INDEX);
	return show_slot(m, s, index, false);
}

static int parse_list_stat(const struct modem *m, const struct at_cmd *c, int *stat)
{
	const char *name;
	long v;

	*stat = SMS_REC_UNREAD;
	if (at_param_omitted(c, 0))
		return RES_OK;
	if (m->cmgf == 0) {
		if (!at_param_num(c, 0, &v) || v > 4)
			return CMS(CMS_INVALID_PDU);
		*stat = (int)v;
		return RES_OK;
	}
	if (!at_param_str(c, 0, &name))
		return CMS(CMS_INVALID_TEXT);
	for (int i = 0; i < 5; i++) {
		if (strcmp(name, stat_names[i]) == 0) {
			*stat = i;
			return RES_OK;
		}
	}
	return CMS(CMS_INVALID_TEXT);
}

static int cmd_cmgl(struct modem *m, const struct at_cmd *c)
{
	struct sms_mem *mem = &m->mem[m->mem_idx[0]];
	int stat, res;

	if (c->type == AT_TEST) {
		if (m->cmgf == 0)
			modem_info(m, "+CMGL: (0-4)");
		else
			modem_info(m, "+CMGL: (\"REC UNREAD\",\"REC READ\",\"STO UNSENT\","
				      "\"STO SENT\",\"ALL\")");
		return RES_OK;
	}
	if (c->type != AT_SET && c->type != AT_EXEC)
		return RES_ERROR;
	res = parse_list_stat(m, c, &stat);
	if (res != RES_OK)
		return res;
	for (int i = 0; i < mem->cap; i++) {
		struct sms_slot *s = &mem->slots[i];

		if (!s->used || (stat != 4 && (int)s->stat != stat))
			continue;
		res = show_slot(m, s, i + 1, true);
		if (res != RES_OK)
			return res;
	}
	return RES_OK;
}

static int cmd_cmgd(struct modem *m, const struct at_cmd *c)
{
	struct sms_mem *mem = &m->mem[m->mem_idx[0]];
	long index = 0, flag = 0;
	struct sms_slot *s;

	if (c->type == AT_TEST) {
		modem_info(m, "+CMGD: (1-%d),(0-4)", mem->cap);
		return RES_OK;
	}
	if (c->type != AT_SET || !at_param_num(c, 0, &index) ||
	    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &flag) || flag > 4)))
		return CMS(CMS_INVALID_INDEX);
	if (flag == 0) {
		s = modem_sms_slot_get(m, m->mem_idx[0], index);
		if (!s)
			return CMS(CMS_INVALID_INDEX);
		slot_clear(m, s);
		return RES_OK;
	}
	for (int i = 0; i < mem->cap; i++) {
		s = &mem->slots[i];
		/* delflag 1: read; 2: and sent; 3: and unsent; 4: all. */
		if (s->used && (flag == 4 || s->stat == SMS_REC_READ ||
				(flag >= 2 && s->stat == SMS_STO_SENT) ||
				(flag >= 3 && s->stat == SMS_STO_UNSENT)))
			slot_clear(m, s);
	}
	return RES_OK;
}

/* A +CMT the client did not acknowledge is kept, never lost. */
static void store_unacked(struct modem *m)
{
	int index;

	m->cnma_pending = false;
	index = modem_sms_slot_store(m, m->mem_idx[2], SMS_REC_UNREAD, m->cnma_pdu, m->cnma_len,
				     m->cnma_off);
	if (index > 0 && m->cnmi[1] >= 1)
		modem_urc(m, "+CMTI: \"%s\",%d", m->mem[m->mem_idx[2]].name, index);
	else if (index < 0)
		log_warn("modem %s: storage full, unacknowledged SMS dropped", m->cfg.name);
}

static int cmd_cnma(struct modem *m, const struct at_cmd *c)
{
	long n = 0;

	if (c->type == AT_TEST) {
		modem_info(m, m->cmgf ? "+CNMA:" : "+CNMA: (0-2)");
		return RES_OK;
	}
	if (c->type == AT_SET && (!at_param_num(c, 0, &n) || n > 2))
		return CMS(CMS_INVALID_PDU);
	if (c->type != AT_SET && c->type != AT_EXEC)
		return RES_ERROR;
	if (m->csms != 1 || !m->cnma_pending)
		return CMS(CMS_NO_CNMA);
	if (n == 2) {
		store_unacked(m); /* RP-ERROR: the TE could not take it */
		return RES_OK;
	}
	m->cnma_pending = false;
	explicit_bzero(m->cnma_pdu, sizeof(m->cnma_pdu));
	return RES_OK;
}

static int cmd_csca(struct modem *m, const struct at_cmd *c)
{
	const char *sca;
	long type;

	switch (c->type) {
	case AT_TEST:
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CSCA: \"%s\",%d", m->csca,
			   m->csca[0] == '+' ? SMS_TOA_INTERNATIONAL : SMS_TOA_UNKNOWN);
		return RES_OK;
	case AT_SET:
		if (!at_param_str(c, 0, &sca) || !sms_addr_valid(sca) ||
		    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &type) || type > 255)))
			return CMS(CMS_INVALID_TEXT);
		snprintf(m->csca, sizeof(m->csca), "%s", sca);
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_csmp(struct modem *m, const struct at_cmd *c)
{
	int v[4];

	switch (c->type) {
	case AT_TEST:
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CSMP: %d,%d,%d,%d", m->csmp[0], m->csmp[1], m->csmp[2], m->csmp[3]);
		return RES_OK;
	case AT_SET:
		if (c->nparams > 4)
			return CMS(CMS_INVALID_TEXT);
		for (int i = 0; i < 4; i++) {
			long x;

			v[i] = m->csmp[i];
			if (at_param_omitted(c, i))
				continue;
			if (!at_param_num(c, i, &x) || x > 255)
				return CMS(CMS_INVALID_TEXT);
			v[i] = (int)x;
		}
		memcpy(m->csmp, v, sizeof(v));
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_csdh(struct modem *m, const struct at_cmd *c)
{
	long v = 0;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CSDH: (0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CSDH: %d", m->csdh);
		return RES_OK;
	case AT_SET:
	case AT_EXEC:
		if (c->type == AT_SET && (!at_param_num(c, 0, &v) || v > 1))
			return CMS(CMS_INVALID_TEXT);
		m->csdh = (int)v;
		return RES_OK;
	}
	return RES_ERROR;
}

static void show_cmt(struct modem *m, const uint8_t *pdu, size_t len, size_t off,
		     const struct sms *s)
{
	char hdr[128], body[4 * SMS_TEXT_MAX + 1], utf8[SMS_TEXT_MAX], ts[32];

	if (m->cmgf == 0) {
		snprintf(hdr, sizeof(hdr), "+CMT: ,%zu", len - off);
		hex_encode(pdu, len, body, sizeof(body));
	} else {
		sms_scts_text(s->scts, ts, sizeof(ts));
		snprintf(hdr, sizeof(hdr), "+CMT: \"%s\",,\"%s\"", s->addr, ts);
		if (!sms_body_utf8(s, utf8, sizeof(utf8)) ||
		    !te_from_utf8(m->cscs, utf8, body, sizeof(body)))
			snprintf(body, sizeof(body), "?");
	}
	modem_urc2(m, hdr, body);
}

/*
 * An SMS-STATUS-REPORT: shown as +CDS when the client asked for reports
 * (+CNMI <ds> 1 or 2; we never store them), else dropped as 27.005 says.
 */
static int deliver_report(struct modem *m, const uint8_t *tpdu, size_t len, const char *sca)
{
	char hdr[160], body[2 * SMS_PDU_MAX + 1], ts[32], dt[32];
	uint8_t pdu[SMS_PDU_MAX];
	size_t plen, off;
	const char *err;
	struct sms r;

	if (!sms_decode_report(tpdu, len, &r, &err)) {
		log_info("modem %s: SMS-STATUS-REPORT refused: %s", m->cfg.name, err);
		return -EINVAL;
	}
	if (m->cnmi[3] == 0)
		return 0;
	if (m->cmgf == 0) {
		if (!modem_sms_build_pdu(sca, tpdu, len, pdu, &plen, &off))
			return -EINVAL;
		snprintf(hdr, sizeof(hdr), "+CDS: %zu", len);
		hex_encode(pdu, plen, body, sizeof(body));
		modem_urc2(m, hdr, body);
		return 0;
	}
	sms_scts_text(r.scts, ts, sizeof(ts));
	sms_scts_text(r.dt, dt, sizeof(dt));
	modem_urc(m, "+CDS: %u,%u,\"%s\",%u,\"%s\",\"%s\",%u", tpdu[0], r.mr, r.addr, r.toa, ts, dt,
		  r.status);
	return 0;
}

int modem_deliver_sms(struct modem *m, const uint8_t *tpdu, size_t len, const char *sca)
{
	uint8_t pdu[SMS_PDU_MAX];
	size_t plen, off;
	struct sms s;
	const char *err;
	bool direct;
	int index;

	if (m->cfun != 1 || modem_reg_status(m) != 1)
		return -ENETDOWN;
	if (len > 0 && (tpdu[0] & 3) == SMS_STATUS_REPORT)
		return deliver_report(m, tpdu, len, sca);
	if (!sms_decode(tpdu, len, SMS_DELIVER, &s, &err)) {
		log_info("modem %s: SMS-DELIVER refused: %s", m->cfg.name, err);
		return -EINVAL;
	}
	if (!modem_sms_build_pdu(sca, tpdu, len, pdu, &plen, &off))
		return -EINVAL;
	/* Class 2 (SIM-specific) is always stored; class 0 is shown, never stored. */
	direct = (m->cnmi[1] == 2 && s.msg_class != 2) || (m->cnmi[1] == 3 && s.msg_class == 3) ||
		 (s.msg_class == 0 && m->cnmi[1] >= 1);
	if (direct && !(m->csms == 1 && m->cnma_pending)) {
		show_cmt(m, pdu, plen, off, &s);
		if (m->csms == 1) {
			m->cnma_pending = true;
			m->cnma_deadline = m->now + CNMA_TIMEOUT;
			memcpy(m->cnma_pdu, pdu, plen);
			m->cnma_len = plen;
			m->cnma_off = off;
		}
		return 0;
	}
	index = modem_sms_slot_store(m, m->mem_idx[2], SMS_REC_UNREAD, pdu, plen, off);
	if (index < 0)
		return -ENOSPC;
	if (m->cnmi[1] >= 1)
		modem_urc(m, "+CMTI: \"%s\",%d", m->mem[m->mem_idx[2]].name, index);
	return 0;
}

void modem_sms_tick(struct modem *m)
{
	if (m->cnma_pending && m->now >= m->cnma_deadline) {
		/* TS 27.005 3.4.1: no acknowledgement, routing to the TE stops. */
		m->cnmi[1] = m->cnmi[1] == 2 ? 1 : m->cnmi[1];
		m->cnmi[3] = 0;
		store_unacked(m);
	}
	if (m->prompt != PROMPT_NONE && m->now - m->prompt_started > PROMPT_TIMEOUT) {
		log_info("modem %s: SMS prompt abandoned", m->cfg.name);
		modem_sms_prompt_abort(m);
		modem_final(m, m->prompt_pdu ? CMS(CMS_INVALID_PDU) : CMS(CMS_INVALID_TEXT));
	}
}

const struct at_handler modem_sms_handlers[] = {
	{ "+CSMS", cmd_csms },	     { "+CMGF", cmd_cmgf },	  { "+CPMS", cmd_cpms },
	{ "+CNMI", cmd_cnmi },	     { "+CMGR", cmd_cmgr },	  { "+CMGL", cmd_cmgl },
	{ "+CMGD", cmd_cmgd },	     { "+CMGS", modem_cmd_cmgs }, { "+CMGW", modem_cmd_cmgw },
	{ "+CMSS", modem_cmd_cmss }, { "+CNMA", cmd_cnma },	  { "+CSCA", cmd_csca },
	{ "+CSMP", cmd_csmp },	     { "+CSDH", cmd_csdh },	  { NULL, NULL },
};
