// SPDX-License-Identifier: Apache-2.0
/*
 * SMS PDU codec against published vectors (the 3GPP TS 23.040/23.038 coding
 * rules as worked through in the classic "hellohello" examples) and
 * round trips of every shape we produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "modem/charset.h"
#include "modem/pdu.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n;

	assert_true(hex_decode(hex, strlen(hex), out, cap, &n));
	return n;
}

static void test_gsm7_packing_vector(void **state)
{
	uint8_t sept[16], packed[16], back[16];
	size_t n, len;
	char hex[40];

	assert_true(gsm7_from_utf8("hellohello", 10, sept, sizeof(sept), &n));
	assert_int_equal(n, 10);
	len = gsm7_pack(sept, n, 0, packed, sizeof(packed));
	assert_int_equal(len, 9);
	hex_encode(packed, len, hex, sizeof(hex));
	assert_string_equal(hex, "E8329BFD4697D9EC37");
	assert_true(gsm7_unpack(packed, len, 0, n, back));
	assert_memory_equal(back, sept, n);
	/* Eight septets fill exactly seven octets. */
	assert_int_equal(gsm7_pack(sept, 8, 0, packed, sizeof(packed)), 7);
	assert_false(gsm7_unpack(packed, 6, 0, 8, back));
}

static void test_gsm7_alphabet(void **state)
{
	uint8_t sept[32];
	char out[64];
	size_t n;

	/* '@' is septet 0, '€' needs the escape to the extension table. */
	assert_true(gsm7_from_utf8("@£€[]", strlen("@£€[]"), sept, sizeof(sept), &n));
	assert_int_equal(n, 8);
	assert_int_equal(sept[0], 0x00);
	assert_int_equal(sept[1], 0x01);
	assert_int_equal(sept[2], 0x1b);
	assert_int_equal(sept[3], 0x65);
	assert_true(gsm7_to_utf8(sept, n, out, sizeof(out)));
	assert_string_equal(out, "@£€[]");
	assert_int_equal(gsm7_cost(0x20ac), 2);
	assert_int_equal(gsm7_cost('A'), 1);
	assert_int_equal(gsm7_cost(0x0416), 0); /* Cyrillic: not in GSM 7-bit */
	assert_false(gsm7_from_utf8("Ж", strlen("Ж"), sept, sizeof(sept), &n));
	/* An escape before a code the table lacks shows the base character. */
	sept[0] = 0x1b;
	sept[1] = 0x41;
	assert_true(gsm7_to_utf8(sept, 2, out, sizeof(out)));
	assert_string_equal(out, "A");
}

static void test_ucs2(void **state)
{
	uint8_t buf[32];
	char out[32];
	size_t n;

	assert_true(ucs2_from_utf8("Я😀", strlen("Я😀"), buf, sizeof(buf), &n));
	assert_int_equal(n, 6);
	assert_int_equal(buf[0], 0x04);
	assert_int_equal(buf[1], 0x2f);
	assert_int_equal(buf[2], 0xd8); /* surrogate pair */
	assert_true(ucs2_to_utf8(buf, n, out, sizeof(out)));
	assert_string_equal(out, "Я😀");
	assert_false(ucs2_to_utf8(buf, 3, out, sizeof(out)));
	assert_false(ucs2_to_utf8(buf + 4, 2, out, sizeof(out))); /* lone low surrogate */
	assert_false(ucs2_from_utf8("\xc3", 1, buf, sizeof(buf), &n));
	assert_false(ucs2_from_utf8("\xc0\xaf", 2, buf, sizeof(buf), &n)); /* overlong */
}

static void test_decode_submit_vector(void **state)
{
	/* SMS-SUBMIT to +46708251358, relative validity, "hellohello". */
	uint8_t pdu[64];
	size_t len = unhex("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", pdu, sizeof(pdu));
	char sca[32], text[64];
	const char *err;
	struct sms s;
	size_t off;

	assert_true(sms_sca_decode(pdu, len, sca, sizeof(sca), &off));
	assert_string_equal(sca, "");
	assert_int_equal(off, 1);
	assert_true(sms_decode(pdu + off, len - off, SMS_SUBMIT, &s, &err));
	assert_string_equal(s.addr, "+46708251358");
	assert_int_equal(s.vpf, 2);
	assert_int_equal(s.vp[0], 0xaa);
	assert_int_equal(s.alphabet, SMS_ALPHA_GSM7);
	assert_true(sms_body_utf8(&s, text, sizeof(text)));
	assert_string_equal(text, "hellohello");
	/* Encoding it again gives the same octets. */
	{
		uint8_t again[64];
		size_t n;

		assert_true(sms_encode(&s, again, sizeof(again), &n));
		assert_int_equal(n, len - off);
		assert_memory_equal(again, pdu + off, n);
	}
}

static void test_decode_deliver_vector(void **state)
{
	/* SMS-DELIVER via SMSC +27381000015 from 27838890001, "hellohello". */
	uint8_t pdu[64];
	size_t len =
		unhex("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
		      pdu, sizeof(pdu));
	char sca[32], text[64], ts[32];
	const char *err;
	struct sms s;
	size_t off;

	assert_true(sms_sca_decode(pdu, len, sca, sizeof(sca), &off));
	assert_string_equal(sca, "+27381000015");
	assert_true(sms_decode(pdu + off, len - off, SMS_DELIVER, &s, &err));
	assert_string_equal(s.addr, "27838890001");
	assert_false(s.more);
	sms_scts_text(s.scts, ts, sizeof(ts));
	assert_string_equal(ts, "99/03/29,15:16:59+08");
	assert_true(sms_body_utf8(&s, text, sizeof(text)));
	assert_string_equal(text, "hellohello");
	/* A DELIVER is not a SUBMIT. */
	assert_false(sms_decode(pdu + off, len - off, SMS_SUBMIT, &s, &err));
}

static void roundtrip(const char *text, size_t want_parts, enum sms_alphabet want_alpha)
{
	struct sms tmpl = { .mti = SMS_DELIVER }, segs[8], back;
	char all[2048] = "", part[SMS_TEXT_MAX];
	size_t n;

	strcpy(tmpl.addr, "+15557777");
	n = sms_split_text(&tmpl, text, 0x42, segs, 8);
	assert_int_equal(n, want_parts);
	for (size_t i = 0; i < n; i++) {
		uint8_t pdu[SMS_TPDU_MAX];
		const char *err;
		size_t len;

		assert_int_equal(segs[i].alphabet, want_alpha);
		assert_true(sms_encode(&segs[i], pdu, sizeof(pdu), &len));
		assert_true(len <= SMS_TPDU_MAX);
		assert_true(sms_decode(pdu, len, SMS_DELIVER, &back, &err));
		assert_string_equal(back.addr, "+15557777");
		assert_int_equal(back.concat, n > 1);
		if (n > 1) {
			assert_int_equal(back.concat_ref, 0x42);
			assert_int_equal(back.concat_total, n);
			assert_int_equal(back.concat_seq, i + 1);
		}
		assert_true(sms_body_utf8(&back, part, sizeof(part)));
		strcat(all, part);
	}
	assert_string_equal(all, text);
}

static void test_roundtrips(void **state)
{
	char gsm[400], ext[400], ucs[800];

	roundtrip("", 1, SMS_ALPHA_GSM7);
	roundtrip("Hello, world", 1, SMS_ALPHA_GSM7);
	memset(gsm, 'x', 160);
	gsm[160] = '\0';
	roundtrip(gsm, 1, SMS_ALPHA_GSM7);
	gsm[160] = 'y';
	gsm[161] = '\0';
	roundtrip(gsm, 2, SMS_ALPHA_GSM7);
	/* 152 plain characters then '€': the escape pair must not be split. */
	memset(ext, 'a', 152);
	strcpy(ext + 152, "€€€ and more text to need a second part");
	roundtrip(ext, 2, SMS_ALPHA_GSM7);
	ucs[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(ucs, i % 10 == 9 ? "😀" : "ж");
	roundtrip(ucs, 2, SMS_ALPHA_UCS2);
	roundtrip("Привет", 1, SMS_ALPHA_UCS2);
}

static void test_concat_udh_fill_bits(void **state)
{
	/* 7-bit with a 6-octet UDH: one fill bit, text starts at septet 7. */
	struct sms s = { .mti = SMS_SUBMIT,
			 .concat = true,
			 .concat_ref = 0xcc,
			 .concat_total = 2,
			 .concat_seq = 1 };
	uint8_t pdu[64];
	char hex[160];
	size_t len;

	strcpy(s.addr, "+123");
	assert_true(gsm7_from_utf8("hello", 5, s.ud, sizeof(s.ud), &s.ud_len));
	assert_true(sms_encode(&s, pdu, sizeof(pdu), &len));
	hex_encode(pdu, len, hex, sizeof(hex));
	/* fo 41 (SUBMIT+UDHI), mr, DA, pid, dcs, UDL 12 septets, UDH, "hello" shifted by 1. */
	assert_string_equal(hex, "4100039121F300000C050003CC0201D06536FB0D");
}

static void test_alphanumeric_sender(void **state)
{
	struct sms s = { .mti = SMS_DELIVER }, back;
	uint8_t pdu[64];
	const char *err;
	size_t len;

	strcpy(s.addr, "PocketNet");
	assert_true(gsm7_from_utf8("hi", 2, s.ud, sizeof(s.ud), &s.ud_len));
	assert_true(sms_encode(&s, pdu, sizeof(pdu), &len));
	assert_int_equal(pdu[2], SMS_TOA_ALPHANUMERIC);
	assert_true(sms_decode(pdu, len, SMS_DELIVER, &back, &err));
	assert_string_equal(back.addr, "PocketNet");
}

/* Found by fuzz_pdu: an alphanumeric sender that reads as "#" must stay "#". */
static void test_reencode_keeps_address(void **state)
{
	uint8_t pdu[64], again[64];
	struct sms s, back;
	const char *err;
	size_t len = unhex("00035EA30000FEFFFFFF0000000000", pdu, sizeof(pdu)), n;

	assert_true(sms_decode(pdu, len, SMS_DELIVER, &s, &err));
	assert_string_equal(s.addr, "#");
	assert_true(sms_encode(&s, again, sizeof(again), &n));
	assert_true(sms_decode(again, n, SMS_DELIVER, &back, &err));
	assert_string_equal(back.addr, "#");
}

static void test_status_report(void **state)
{
	struct sms r = { .mti = SMS_STATUS_REPORT, .mr = 0x2a, .status = 0x00, .srr = true }, back;
	uint8_t pdu[64];
	const char *err;
	size_t len;
	char hex[160];

	strcpy(r.addr, "+15559999");
	sms_scts_from_time(86400 * 365, r.scts);
	memcpy(r.dt, r.scts, 7);
	assert_true(sms_encode_report(&r, pdu, sizeof(pdu), &len));
	hex_encode(pdu, len, hex, sizeof(hex));
	/* fo (report, no more, SRQ), MR, RA, SCTS, DT, ST */
	assert_string_equal(hex, "262A08915155999917101000000000"
				 "17101000000000"
				 "00");
	assert_true(sms_decode_report(pdu, len, &back, &err));
	assert_int_equal(back.mr, 0x2a);
	assert_string_equal(back.addr, "+15559999");
	assert_int_equal(back.status, 0);
	assert_true(back.srr);
	/* With TP-PI announcing a PID: accepted; a report is not a DELIVER. */
	pdu[len] = 0x01;
	pdu[len + 1] = 0x00;
	assert_true(sms_decode_report(pdu, len + 2, &back, &err));
	assert_false(sms_decode_report(pdu, len + 1, &back, &err));
	assert_false(sms_decode(pdu, len, SMS_DELIVER, &back, &err));
}

static void test_invalid_pdus(void **state)
{
	static const char *const bad[] = {
		"", /* empty */
		"11", /* no MR */
		"11000B9164072815", /* address cut short */
		"11001591", /* 21 digits */
		"11000B916407281553F800", /* no DCS */
		"11000B916407281553F80000AA", /* no UDL */
		"11000B916407281553F80000AA0AE832", /* UD shorter than UDL */
		"11000B916407281553F80000AAA1", /* UDL 161 septets */
		"11000B916407281553F80008AA03004100", /* odd UCS2 length */
		"51000B916407281553F80004AA0306000102", /* UDH longer than the UD */
		"11000B916407281553F80020AA00", /* compressed text */
		"11000B916407281553F80000AA0AE8329BFD4697D9EC3700", /* trailing octet */
	};
	uint8_t pdu[64];
	struct sms s;
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = unhex(bad[i], pdu, sizeof(pdu));

		assert_false(sms_decode(pdu, len, SMS_SUBMIT, &s, &err));
		assert_non_null(err);
	}
}

static void test_sca(void **state)
{
	uint8_t buf[16], bad[] = { 0x0c, 0x91 };
	char sca[32];
	size_t len, used;

	assert_true(sms_sca_encode("+15550000000", buf, sizeof(buf), &len));
	assert_int_equal(len, 8);
	assert_int_equal(buf[0], 7);
	assert_true(sms_sca_decode(buf, len, sca, sizeof(sca), &used));
	assert_string_equal(sca, "+15550000000");
	assert_false(sms_sca_decode(bad, sizeof(bad), sca, sizeof(sca), &used));
	assert_false(sms_sca_decode(buf, 3, sca, sizeof(sca), &used));
}

static void test_te_charsets(void **state)
{
	char out[64];

	assert_true(te_from_utf8(TE_UCS2, "A€", out, sizeof(out)));
	assert_string_equal(out, "004120AC");
	assert_true(te_to_utf8(TE_UCS2, "002A0023003100300030002300", out, sizeof(out)) == false);
	assert_true(te_to_utf8(TE_UCS2, "002A00230031003000300023", out, sizeof(out)));
	assert_string_equal(out, "*#100#");
	assert_true(te_from_utf8(TE_IRA, "Grüße", out, sizeof(out)));
	assert_string_equal(out, "Gr??e");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gsm7_packing_vector),
		cmocka_unit_test(test_gsm7_alphabet),
		cmocka_unit_test(test_ucs2),
		cmocka_unit_test(test_decode_submit_vector),
		cmocka_unit_test(test_decode_deliver_vector),
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_concat_udh_fill_bits),
		cmocka_unit_test(test_alphanumeric_sender),
		cmocka_unit_test(test_reencode_keeps_address),
		cmocka_unit_test(test_status_report),
		cmocka_unit_test(test_invalid_pdus),
		cmocka_unit_test(test_sca),
		cmocka_unit_test(test_te_charsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
