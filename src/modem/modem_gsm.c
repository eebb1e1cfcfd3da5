// SPDX-License-Identifier: Apache-2.0
/*
 * TS 27.007 general, SIM and network commands: identity, +CPIN, +CIMI,
 * +CNUM, +CFUN, +CREG/+CGREG, +COPS, +CSQ, +CIND/+CMER, +CMEE, +CSCS, +CRSM.
 */
#include "modem/modem_priv.h"

#include <stdio.h>
#include <string.h>

#define LAC "1A2B"
#define CELL_ID "00C0FFEE"
#define ACT_UTRAN 2

/* Reads string parameter i in the TE charset (+CSCS) into UTF-8. */
bool modem_quoted_arg(const struct at_cmd *c, int i, char *out, size_t cap)
{
	const char *s;

	if (!at_param_str(c, i, &s))
		return false;
	if (strlen(s) >= cap)
		return false;
	snprintf(out, cap, "%s", s);
	return true;
}

static int info_only(struct modem *m, const struct at_cmd *c, const char *text)
{
	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_EXEC)
		return RES_ERROR;
	modem_info(m, "%s", text);
	return RES_OK;
}

static int cmd_cgmi(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, "pocketvm");
}

static int cmd_cgmm(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, "pocketvm virtual modem");
}

static int cmd_cgmr(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, MODEM_REVISION);
}

static int cmd_cgsn(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, m->cfg.imei);
}

static int cmd_gcap(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, "+GCAP: +CGSM");
}

static int cmd_cimi(struct modem *m, const struct at_cmd *c)
{
	return info_only(m, c, m->cfg.imsi);
}

static int cmd_ccid(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_EXEC && c->type != AT_READ)
		return RES_ERROR;
	modem_info(m, "%s: %s", c->name, m->cfg.iccid);
	return RES_OK;
}

static int cmd_cpin(struct modem *m, const struct at_cmd *c)
{
	switch (c->type) {
	case AT_READ:
		modem_info(m, "+CPIN: READY");
		return RES_OK;
	case AT_TEST:
		return RES_OK;
	default:
		/* The synthetic SIM has no PIN: nothing to enter. */
		return CME(CME_NOT_ALLOWED);
	}
}

static int cmd_cnum(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_EXEC)
		return RES_ERROR;
	modem_info(m, "+CNUM: \"\",\"%s\",%d", m->cfg.number,
		   m->cfg.number[0] == '+' ? SMS_TOA_INTERNATIONAL : SMS_TOA_UNKNOWN);
	return RES_OK;
}

int modem_reg_status(const struct modem *m)
{
	if (m->barred)
		return 3; /* registration denied */
	if (m->cfun != 1 || m->cops_mode == 2)
		return 0;
	return m->service ? 1 : 2;
}

static void reg_urc(struct modem *m, const char *name, int n, int stat)
{
	if (n == 1 || (n == 2 && stat != 1 && stat != 5))
		modem_urc(m, "%s: %d", name, stat);
	else if (n == 2)
		modem_urc(m, "%s: %d,\"%s\",\"%s\",%d", name, stat, LAC, CELL_ID, ACT_UTRAN);
}

static int signal_bars(const struct modem *m)
{
	if (modem_reg_status(m) != 1 || m->signal > 31)
		return 0;
	return m->signal * 5 / 31;
}

void modem_report_registration(struct modem *m, int old_stat)
{
	int stat = modem_reg_status(m);

	if (stat != old_stat) {
		reg_urc(m, "+CREG", m->creg_n, stat);
		reg_urc(m, "+CGREG", m->cgreg_n, stat);
	}
	modem_set_ind(m, 3, stat == 1);
	modem_set_ind(m, 2, signal_bars(m));
}

void modem_set_network(struct modem *m, bool service, bool barred, int signal)
{
	int old = modem_reg_status(m);

	m->service = service;
	m->barred = barred;
	m->signal = signal;
	/* Losing the network (or being barred) ends the calls in progress. */
	if ((!service || barred) && modem_call_count(m) > 0) {
		modem_calls_reset(m);
		modem_urc(m, "NO CARRIER");
	}
	modem_report_registration(m, old);
}

static int reg_cmd(struct modem *m, const struct at_cmd *c, int *n, const char *name)
{
	int stat = modem_reg_status(m);
	long v;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "%s: (0-2)", name);
		return RES_OK;
	case AT_READ:
		if (*n == 2 && (stat == 1 || stat == 5))
			modem_info(m, "%s: %d,%d,\"%s\",\"%s\",%d", name, *n, stat, LAC, CELL_ID,
				   ACT_UTRAN);
		else
			modem_info(m, "%s: %d,%d", name, *n, stat);
		return RES_OK;
	case AT_SET:
		if (!at_param_num(c, 0, &v) || v > 2 || c->nparams > 1)
			return CME(CME_INVALID_PARAM);
		*n = (int)v;
		return RES_OK;
	case AT_EXEC:
		*n = 0;
		return RES_OK;
	}
	return RES_ERROR;
}

static int cmd_creg(struct modem *m, const struct at_cmd *c)
{
	return reg_cmd(m, c, &m->creg_n, "+CREG");
}

static int cmd_cgreg(struct modem *m, const struct at_cmd *c)
{
	return reg_cmd(m, c, &m->cgreg_n, "+CGREG");
}

static int cmd_cfun(struct modem *m, const struct at_cmd *c)
{
	long v, rst = 0;
	int old;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CFUN: (0,1,4),(0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CFUN: %d", m->cfun);
		return RES_OK;
	case AT_SET:
		if (!at_param_num(c, 0, &v) || (v != 0 && v != 1 && v != 4) ||
		    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &rst) || rst > 1)))
			return CME(CME_INVALID_PARAM);
		old = modem_reg_status(m);
		m->cfun = (int)v;
		if (v != 1)
			modem_calls_reset(m); /* no radio, no calls */
		modem_report_registration(m, old);
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_cops(struct modem *m, const struct at_cmd *c)
{
	long mode, format = m->cops_format;
	const char *oper;
	int old;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+COPS: (%d,\"%s\",\"%s\",\"%s\",%d),,(0-4),(0-2)", m->barred ? 3 : 2,
			   m->cfg.operator_name, m->cfg.operator_name, m->cfg.plmn, ACT_UTRAN);
		return RES_OK;
	case AT_READ:
		if (modem_reg_status(m) != 1) {
			modem_info(m, "+COPS: %d", m->cops_mode);
		} else if (m->cops_format == 2) {
			modem_info(m, "+COPS: %d,2,\"%s\",%d", m->cops_mode, m->cfg.plmn,
				   ACT_UTRAN);
		} else {
			char name[sizeof(m->cfg.operator_name) * 4 + 1];

			if (!te_from_utf8(m->cscs, m->cfg.operator_name, name, sizeof(name)))
				return CME(CME_UNKNOWN);
			modem_info(m, "+COPS: %d,%d,\"%s\",%d", m->cops_mode, m->cops_format, name,
				   ACT_UTRAN);
		}
		return RES_OK;
	case AT_SET:
		if (!at_param_num(c, 0, &mode) || mode > 4 ||
		    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &format) || format > 2)))
			return CME(CME_INVALID_PARAM);
		if (mode == 3) {
			m->cops_format = (int)format;
			return RES_OK;
		}
		if (mode == 1 || mode == 4) {
			/* Manual selection: only our network exists. */
			if (!at_param_str(c, 2, &oper))
				return CME(CME_INVALID_PARAM);
			if (strcmp(oper, m->cfg.plmn) && strcmp(oper, m->cfg.operator_name))
				return mode == 4 ? RES_OK : CME(32);
		}
		old = modem_reg_status(m);
		m->cops_mode = mode == 4 ? 0 : (int)mode;
		m->cops_format = (int)format;
		modem_report_registration(m, old);
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_csq(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_TEST) {
		modem_info(m, "+CSQ: (0-31,99),(0-7,99)");
		return RES_OK;
	}
	if (c->type != AT_EXEC)
		return RES_ERROR;
	modem_info(m, "+CSQ: %d,99", modem_reg_status(m) == 1 ? m->signal : 99);
	return RES_OK;
}

static int cmd_cind(struct modem *m, const struct at_cmd *c)
{
	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CIND: (\"battchg\",(0-5)),(\"signal\",(0-5)),(\"service\",(0,1)),"
			      "(\"call\",(0,1)),(\"roam\",(0,1)),(\"smsfull\",(0,1)),"
			      "(\"callsetup\",(0-3))");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CIND: %d,%d,%d,%d,%d,%d,%d", 5, m->ind[2], m->ind[3], m->ind[4],
			   m->ind[5], m->ind[6], m->ind[7]);
		return RES_OK;
	default:
		return CME(CME_NOT_SUPPORTED);
	}
}

static int cmd_cmer(struct modem *m, const struct at_cmd *c)
{
	long mode = m->cmer_mode, keyp = 0, disp = 0, ind = m->cmer_ind, bfr = 0;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CMER: (0,3),(0),(0),(0,1),(0)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CMER: %d,0,0,%d,0", m->cmer_mode, m->cmer_ind);
		return RES_OK;
	case AT_SET:
		if ((!at_param_omitted(c, 0) && !at_param_num(c, 0, &mode)) ||
		    (!at_param_omitted(c, 1) && !at_param_num(c, 1, &keyp)) ||
		    (!at_param_omitted(c, 2) && !at_param_num(c, 2, &disp)) ||
		    (!at_param_omitted(c, 3) && !at_param_num(c, 3, &ind)) ||
		    (!at_param_omitted(c, 4) && !at_param_num(c, 4, &bfr)))
			return CME(CME_INVALID_PARAM);
		if ((mode != 0 && mode != 3) || keyp || disp || ind > 1 || bfr)
			return CME(CME_INVALID_PARAM);
		m->cmer_mode = (int)mode;
		m->cmer_ind = (int)ind;
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_cmee(struct modem *m, const struct at_cmd *c)
{
	long v = 0;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CMEE: (0-2)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CMEE: %d", m->cmee);
		return RES_OK;
	case AT_SET:
		if (!at_param_omitted(c, 0) && (!at_param_num(c, 0, &v) || v > 2))
			return CME(CME_INVALID_PARAM);
		m->cmee = (int)v;
		return RES_OK;
	case AT_EXEC:
		m->cmee = 0;
		return RES_OK;
	}
	return RES_ERROR;
}

static int cmd_cscs(struct modem *m, const struct at_cmd *c)
{
	const char *name;
	char decoded[32];
	enum te_charset cs;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CSCS: (\"IRA\",\"GSM\",\"UCS2\")");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CSCS: \"%s\"", te_charset_name(m->cscs));
		return RES_OK;
	case AT_SET:
		if (!at_param_str(c, 0, &name))
			return CME(CME_INVALID_PARAM);
		/* In UCS2 the name itself may come hex-encoded. */
		if (!te_charset_parse(name, &cs) &&
		    !(m->cscs == TE_UCS2 && te_to_utf8(TE_UCS2, name, decoded, sizeof(decoded)) &&
		      te_charset_parse(decoded, &cs)))
			return CME(CME_NOT_SUPPORTED);
		m->cscs = cs;
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_ifc(struct modem *m, const struct at_cmd *c)
{
	long v[2] = { m->ifc[0], m->ifc[1] };

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+IFC: (0-2),(0-2)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+IFC: %d,%d", m->ifc[0], m->ifc[1]);
		return RES_OK;
	case AT_SET:
		for (int i = 0; i < 2; i++) {
			if (!at_param_omitted(c, i) && (!at_param_num(c, i, &v[i]) || v[i] > 2))
				return CME(CME_INVALID_PARAM);
		}
		m->ifc[0] = (int)v[0];
		m->ifc[1] = (int)v[1];
		return RES_OK;
	default:
		return RES_ERROR;
	}
}

static int cmd_crsm(struct modem *m, const struct at_cmd *c)
{
	char line[600];
	int res;

	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_SET)
		return RES_ERROR;
	res = modem_sim_crsm(m, c, line, sizeof(line));
	if (res == RES_OK)
		modem_info(m, "%s", line);
	return res;
}

const struct at_handler modem_gsm_handlers[] = {
	{ "+CGMI", cmd_cgmi }, { "+GMI", cmd_cgmi },	{ "+CGMM", cmd_cgmm },
	{ "+GMM", cmd_cgmm },  { "+CGMR", cmd_cgmr },	{ "+GMR", cmd_cgmr },
	{ "+CGSN", cmd_cgsn }, { "+GSN", cmd_cgsn },	{ "+GCAP", cmd_gcap },
	{ "+CIMI", cmd_cimi }, { "+CCID", cmd_ccid },	{ "+ICCID", cmd_ccid },
	{ "+CPIN", cmd_cpin }, { "+CNUM", cmd_cnum },	{ "+CFUN", cmd_cfun },
	{ "+CREG", cmd_creg }, { "+CGREG", cmd_cgreg }, { "+COPS", cmd_cops },
	{ "+CSQ", cmd_csq },   { "+CIND", cmd_cind },	{ "+CMER", cmd_cmer },
	{ "+CMEE", cmd_cmee }, { "+CSCS", cmd_cscs },	{ "+CRSM", cmd_crsm },
	{ "+IFC", cmd_ifc },   { NULL, NULL },
};
