// SPDX-License-Identifier: Apache-2.0
/*
 * USSD (TS 27.007 7.15, +CUSD). Strings travel in the TE character set
 * (+CSCS): with "UCS2" as hex of UTF-16, which is what ModemManager selects
 * and expects; the network side always sees UTF-8.
 */
#include "modem/modem_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

#define USSD_MAX 182 /* characters in one USSD string (TS 23.038) */
#define DCS_GSM7 15
#define DCS_UCS2 72

static bool gsm7_only(const char *utf8)
{
	uint8_t sept[2 * USSD_MAX];
	size_t n;

	return gsm7_from_utf8(utf8, strlen(utf8), sept, sizeof(sept), &n);
}

void modem_ussd_result(struct modem *m, int status, const char *text)
{
	char enc[4 * 4 * USSD_MAX + 1];

	m->ussd_pending = status == 1;
	if (m->cusd_n != 1)
		return;
	if (!text) {
		modem_urc(m, "+CUSD: %d", status);
		return;
	}
	if (!te_from_utf8(m->cscs, text, enc, sizeof(enc))) {
		log_warn("modem %s: USSD answer cannot be shown in %s", m->cfg.name,
			 te_charset_name(m->cscs));
		modem_urc(m, "+CUSD: 4"); /* operation not supported */
		return;
	}
	modem_urc(m, "+CUSD: %d,\"%s\",%d", status, enc, gsm7_only(text) ? DCS_GSM7 : DCS_UCS2);
}

static int cmd_cusd(struct modem *m, const struct at_cmd *c)
{
	char req[4 * USSD_MAX + 1];
	const char *str;
	long n = m->cusd_n, dcs = DCS_GSM7;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CUSD: (0-2)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CUSD: %d", m->cusd_n);
		return RES_OK;
	case AT_EXEC:
		m->cusd_n = 0;
		return RES_OK;
	case AT_SET:
		break;
	default:
		return RES_ERROR;
	}
	if ((!at_param_omitted(c, 0) && (!at_param_num(c, 0, &n) || n > 2)) ||
	    (!at_param_omitted(c, 2) && (!at_param_num(c, 2, &dcs) || dcs > 255)) || c->nparams > 3)
		return CME(CME_INVALID_PARAM);
	if (n == 2) {
		if (m->ussd_pending)
			m->ops->ussd_cancel(m->ctx);
		m->ussd_pending = false;
		return RES_OK;
	}
	m->cusd_n = (int)n;
	if (at_param_omitted(c, 1))
		return RES_OK;
	if (!at_param_str(c, 1, &str))
		return CME(CME_INVALID_PARAM);
	if (!te_to_utf8(m->cscs, str, req, sizeof(req)) || !req[0])
		return CME(CME_INVALID_CHARS);
	if (strlen(req) > USSD_MAX)
		return CME(CME_TEXT_TOO_LONG);
	if (m->barred)
		return CME(CME_NOT_ALLOWED);
	if (modem_reg_status(m) != 1)
		return CME(CME_NO_SERVICE);
	if (m->ops->ussd(m->ctx, req) < 0)
		return CME(CME_NO_SERVICE);
	m->ussd_pending = true;
	return RES_OK;
}

const struct at_handler modem_ussd_handlers[] = {
	{ "+CUSD", cmd_cusd },
	{ NULL, NULL },
};
