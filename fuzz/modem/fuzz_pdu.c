// SPDX-License-Identifier: Apache-2.0
/*
 * SMS PDUs as a guest (AT+CMGS) or a real modem (+CMT) hands them over, and
 * the character set conversions they go through. The first byte picks the
 * path. Oracle beyond sanitizers: whatever decodes must encode again and
 * decode to the same address and text (the codec never invents or loses).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modem/charset.h"
#include "modem/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct sms *s)
{
	uint8_t again[SMS_TPDU_MAX * 2];
	char t1[SMS_TEXT_MAX], t2[SMS_TEXT_MAX];
	const char *err;
	struct sms back;
	size_t len;

	if (!sms_encode(s, again, sizeof(again), &len))
		return; /* e.g. an address we read but never write (odd TOA) */
	if (!sms_decode(again, len, s->mti, &back, &err))
		abort();
	if (strcmp(back.addr, s->addr) || back.ud_len != s->ud_len ||
	    memcmp(back.ud, s->ud, s->ud_len) || back.concat != s->concat)
		abort();
	if (sms_body_utf8(s, t1, sizeof(t1)) != sms_body_utf8(&back, t2, sizeof(t2)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sca[SMS_ADDR_BUF], text[4 * SMS_TEXT_MAX], str[600];
	const char *err;
	struct sms s;
	size_t used;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 4:
		/* A status report: what decodes must encode back to the same fields. */
		if (sms_decode_report(data + 1, size - 1, &s, &err)) {
			uint8_t again[SMS_TPDU_MAX];
			struct sms back;
			size_t len;

			if (sms_encode_report(&s, again, sizeof(again), &len) &&
			    (!sms_decode_report(again, len, &back, &err) || back.mr != s.mr ||
			     back.status != s.status || strcmp(back.addr, s.addr)))
				abort();
		}
		break;
	case 0:
	case 1:
		if (sms_decode(data + 1, size - 1, data[0] % 2 ? SMS_SUBMIT : SMS_DELIVER, &s,
			       &err)) {
			sms_body_utf8(&s, text, sizeof(text));
			roundtrip(&s);
		}
		break;
	case 2:
		/* An AT PDU: SC address first. */
		if (sms_sca_decode(data + 1, size - 1, sca, sizeof(sca), &used) &&
		    sms_decode(data + 1 + used, size - 1 - used, SMS_DELIVER, &s, &err))
			roundtrip(&s);
		break;
	case 3:
		/* TE strings (+CSCS) and text splitting. */
		if (size - 1 < sizeof(str)) {
			struct sms tmpl = { .mti = SMS_SUBMIT, .addr = "+1" }, segs[4];

			memcpy(str, data + 1, size - 1);
			str[size - 1] = '\0';
			for (int cs = TE_IRA; cs <= TE_UCS2; cs++)
				if (te_to_utf8((enum te_charset)cs, str, text, sizeof(text)))
					te_from_utf8((enum te_charset)cs, text, str, sizeof(str));
			memcpy(str, data + 1, size - 1);
			for (size_t i = 0, n = sms_split_text(&tmpl, str, 7, segs, 4); i < n; i++)
				roundtrip(&segs[i]);
		}
		break;
	}
	return 0;
}
