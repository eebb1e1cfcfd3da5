// SPDX-License-Identifier: Apache-2.0
/*
 * The virtual modem as its client sees it: bytes in, exact responses out,
 * against a fake host that records what the modem asked of the network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modem/charset.h"
#include "modem/modem.h"
#include "modem/pdu.h"

struct fake {
	char out[1 << 16];
	size_t len;
	char dialed[64];
	int dial_ret;
	uint32_t next_id;
	int answers, hangups, holds;
	uint8_t sms[SMS_TPDU_MAX];
	size_t sms_len;
	int nsms;
	int sms_async; /* 1: the radio confirms later */
	char ussd[256];
};

static void f_output(void *ctx, const char *data, size_t len)
{
	struct fake *f = ctx;

	assert_true(f->len + len < sizeof(f->out));
	memcpy(f->out + f->len, data, len);
	f->len += len;
	f->out[f->len] = '\0';
}

static int f_dial(void *ctx, const char *number, uint32_t *id)
{
	struct fake *f = ctx;

	snprintf(f->dialed, sizeof(f->dialed), "%s", number);
	if (f->dial_ret)
		return f->dial_ret;
	*id = ++f->next_id;
	return 0;
}

static int f_answer(void *ctx, uint32_t id)
{
	((struct fake *)ctx)->answers++;
	return 0;
}

static int f_hangup(void *ctx, uint32_t id)
{
	((struct fake *)ctx)->hangups++;
	return 0;
}

static int f_hold(void *ctx, uint32_t id, bool hold)
{
	((struct fake *)ctx)->holds++;
	return 0;
}

static int f_send_sms(void *ctx, const uint8_t *tpdu, size_t len, uint32_t *ref)
{
	struct fake *f = ctx;

	memcpy(f->sms, tpdu, len);
	f->sms_len = len;
	f->nsms++;
	*ref = 40 + (uint32_t)f->nsms;
	return f->sms_async;
}

static int f_ussd(void *ctx, const char *req)
{
	snprintf(((struct fake *)ctx)->ussd, 256, "%s", req);
	return 0;
}

static void f_ussd_cancel(void *ctx)
{
}

static const struct modem_host_ops fake_ops = {
	f_output, f_dial, f_answer, f_hangup, f_hold, f_send_sms, f_ussd, f_ussd_cancel,
};

struct t {
	struct fake f;
	struct modem *m;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct modem_config cfg = { 0 };

	strcpy(cfg.name, "test");
	strcpy(cfg.number, "+15550001");
	modem_config_fill(&cfg, 7);
	t->m = modem_new(&cfg, &fake_ops, &t->f);
	modem_set_network(t->m, true, false, 20);
	modem_tick(t->m, 1000);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	modem_free(t->m);
	free(t);
	return 0;
}

/* Sends raw bytes and returns everything the modem wrote since the last call. */
static const char *raw(struct t *t, const char *bytes, size_t len)
{
	static char copy[1 << 16];

	t->f.len = 0;
	t->f.out[0] = '\0';
	modem_input(t->m, (const uint8_t *)bytes, len);
	memcpy(copy, t->f.out, t->f.len + 1);
	return copy;
}

static const char *at(struct t *t, const char *line)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s\r", line);
	return raw(t, buf, strlen(buf));
}

/* Output of an event (URCs), collected from now on. */
static void mark(struct t *t)
{
	t->f.len = 0;
	t->f.out[0] = '\0';
}

static void test_v250_basics(void **state)
{
	struct t *t = *state;

	assert_string_equal(at(t, "ATE0"), "ATE0\r\r\nOK\r\n");
	assert_string_equal(at(t, "AT"), "\r\nOK\r\n");
	assert_string_equal(at(t, "at s0=3;"), "\r\nOK\r\n"); /* a stray ';' is tolerated */
	assert_string_equal(at(t, "ATS0=3"), "\r\nOK\r\n");
	assert_string_equal(at(t, "ATS0?"), "\r\n003\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "ATS99=1"), "\r\nERROR\r\n");
	assert_string_equal(at(t, "ATS3=200"), "\r\nERROR\r\n");
	assert_string_equal(at(t, "ATV0"), "0\r");
	assert_string_equal(at(t, "AT+CGMI"), "pocketvm\r\n0\r");
	assert_string_equal(at(t, "ATFOO"), "4\r");
	assert_string_equal(at(t, "ATQ1"), "");
	assert_string_equal(at(t, "AT"), "");
	assert_string_equal(at(t, "ATZ"), "\r\nOK\r\n"); /* defaults: echo on from the next line */
	assert_string_equal(at(t, "ATS0?"), "ATS0?\r\r\n000\r\n\r\nOK\r\n");
	at(t, "ATE0");
	assert_string_equal(at(t, "AT&C1&D2&F"), "\r\nOK\r\n");
	at(t, "ATE0");
	assert_string_equal(raw(t, "A/", 2), "\r\nOK\r\n"); /* repeats "ATE0" */
}

static void test_errors_and_cmee(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	assert_string_equal(at(t, "AT+CPIN=\"1234\""), "\r\nERROR\r\n");
	at(t, "AT+CMEE=1");
	assert_string_equal(at(t, "AT+CPIN=\"1234\""), "\r\n+CME ERROR: 3\r\n");
	at(t, "AT+CMEE=2");
	assert_string_equal(at(t, "AT+CPIN=\"1234\""), "\r\n+CME ERROR: operation not allowed\r\n");
	assert_string_equal(at(t, "AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+NOSUCH"), "\r\nERROR\r\n");
	/* An error stops the rest of the line (V.250 5.2.1). */
	assert_string_equal(at(t, "AT+NOSUCH;+CGMI"), "\r\nERROR\r\n");
	assert_string_equal(at(t, "AT+CMGF=7"), "\r\n+CMS ERROR: 303\r\n");
}

static void test_identity_and_sim(void **state)
{
	struct t *t = *state;
	const struct modem_config *cfg = modem_config(t->m);
	char want[128];

	at(t, "ATE0");
	assert_int_equal(strlen(cfg->imei), 15);
	assert_int_equal(strlen(cfg->imsi), 15);
	assert_int_equal(strlen(cfg->iccid), 19);
	snprintf(want, sizeof(want), "\r\n%s\r\n\r\nOK\r\n", cfg->imei);
	assert_string_equal(at(t, "AT+CGSN"), want);
	snprintf(want, sizeof(want), "\r\n%s\r\n\r\nOK\r\n", cfg->imsi);
	assert_string_equal(at(t, "AT+CIMI"), want);
	assert_string_equal(at(t, "AT+CNUM"), "\r\n+CNUM: \"\",\"+15550001\",145\r\n\r\nOK\r\n");
	/* EF_ICCID: swapped BCD of 8900101, the number's last 11 digits, Luhn digit. */
	assert_string_equal(cfg->iccid, "8900101000155500011");
	assert_string_equal(at(t, "AT+CRSM=176,12258,0,0,10"),
			    "\r\n+CRSM: 144,0,\"980001010051550010F1\"\r\n\r\nOK\r\n");
	/* EF_AD: MNC length 2. */
	assert_string_equal(at(t, "AT+CRSM=176,28589,0,0,4"),
			    "\r\n+CRSM: 144,0,\"00000002\"\r\n\r\nOK\r\n");
	assert_string_equal(
		at(t, "AT+CRSM=176,28486,0,0,17"),
		"\r\n+CRSM: 144,0,\"01706F636B6574766DFFFFFFFFFFFFFFFF\"\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CRSM=176,20000,0,0,4"), "\r\n+CRSM: 106,130\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CRSM=176,12258,0,50,4"), "\r\n+CRSM: 107,0\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CRSM=214,12258,0,0,1,\"00\""),
			    "\r\n+CRSM: 105,130\r\n\r\nOK\r\n");
	/* EF_MSISDN record: BCD length, type, number, padding. */
	assert_string_equal(at(t, "AT+CRSM=178,28480,1,4,14"),
			    "\r\n+CRSM: 144,0,\"059151550010FFFFFFFFFFFFFFFF\"\r\n\r\nOK\r\n");
}

static void test_registration(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CMEE=1");
	assert_string_equal(at(t, "AT+CREG?"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
	at(t, "AT+CREG=2");
	assert_string_equal(at(t, "AT+CREG?"),
			    "\r\n+CREG: 2,1,\"1A2B\",\"00C0FFEE\",2\r\n\r\nOK\r\n");
	mark(t);
	modem_set_network(t->m, false, false, 20);
	assert_string_equal(t->f.out, "\r\n+CREG: 2\r\n");
	assert_string_equal(at(t, "AT+CSQ"), "\r\n+CSQ: 99,99\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "ATD123;"), "\r\n+CME ERROR: 30\r\n");
	mark(t);
	modem_set_network(t->m, true, true, 20); /* barred by policy */
	assert_string_equal(t->f.out, "\r\n+CREG: 3\r\n");
	assert_string_equal(at(t, "ATD123;"), "\r\n+CME ERROR: 3\r\n");
	assert_string_equal(at(t, "AT+CMGS=10"), "\r\n+CMS ERROR: 302\r\n");
	assert_string_equal(at(t, "AT+CUSD=1,\"*100#\",15"), "\r\n+CME ERROR: 3\r\n");
	assert_string_equal(t->f.dialed, "");
	mark(t);
	modem_set_network(t->m, true, false, 31);
	assert_string_equal(t->f.out, "\r\n+CREG: 1,\"1A2B\",\"00C0FFEE\",2\r\n");
	assert_string_equal(at(t, "AT+COPS?"), "\r\n+COPS: 0,0,\"PocketNet\",2\r\n\r\nOK\r\n");
	at(t, "AT+COPS=3,2");
	assert_string_equal(at(t, "AT+COPS?"), "\r\n+COPS: 0,2,\"00101\",2\r\n\r\nOK\r\n");
	at(t, "AT+CMER=3,0,0,1");
	mark(t);
	at(t, "AT+CFUN=4");
	assert_string_equal(at(t, "AT+CREG?"), "\r\n+CREG: 2,0\r\n\r\nOK\r\n");
	at(t, "AT+CFUN=1");
	assert_string_equal(at(t, "AT+CIND?"), "\r\n+CIND: 5,5,1,0,0,0,0\r\n\r\nOK\r\n");
}

static void test_indicators(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	assert_string_equal(at(t, "AT+CIND=?"),
			    "\r\n+CIND: (\"battchg\",(0-5)),(\"signal\",(0-5)),(\"service\",(0,1)),"
			    "(\"call\",(0,1)),(\"roam\",(0,1)),(\"smsfull\",(0,1)),"
			    "(\"callsetup\",(0-3))\r\n\r\nOK\r\n");
	/* Nothing is reported until +CMER asks for it. */
	mark(t);
	modem_set_network(t->m, true, false, 31);
	assert_string_equal(t->f.out, "");
	at(t, "AT+CMER=3,0,0,1");
	mark(t);
	modem_set_network(t->m, false, false, 31);
	assert_string_equal(t->f.out, "\r\n+CIEV: 3,0\r\n\r\n+CIEV: 2,0\r\n");
	modem_set_network(t->m, true, false, 31);
	mark(t);
	assert_int_equal(modem_incoming_call(t->m, 5, "+15558888"), 0);
	assert_non_null(strstr(t->f.out, "+CIEV: 7,1"));
	mark(t);
	at(t, "ATA");
	assert_non_null(strstr(t->f.out, "+CIEV: 4,1"));
	assert_non_null(strstr(t->f.out, "+CIEV: 7,0"));
	/* URCs follow the final result of the command that caused them. */
	assert_true(strstr(t->f.out, "OK") < strstr(t->f.out, "+CIEV"));
	assert_string_equal(at(t, "AT+CIND?"), "\r\n+CIND: 5,5,1,1,0,0,0\r\n\r\nOK\r\n");
}

static void test_mo_call(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CMEE=1");
	assert_string_equal(at(t, "ATD+1 (555) 9999;"), "\r\n+CME ERROR: 27\r\n");
	assert_string_equal(at(t, "ATD+15559999"), "\r\nNO CARRIER\r\n"); /* data */
	assert_string_equal(at(t, "ATD+15559999;"), "\r\nOK\r\n");
	assert_string_equal(t->f.dialed, "+15559999");
	assert_string_equal(at(t, "AT+CLCC"),
			    "\r\n+CLCC: 1,0,2,0,0,\"+15559999\",145\r\n\r\nOK\r\n");
	modem_call_alerting(t->m, 1);
	assert_string_equal(at(t, "AT+CLCC"),
			    "\r\n+CLCC: 1,0,3,0,0,\"+15559999\",145\r\n\r\nOK\r\n");
	modem_call_connected(t->m, 1);
	assert_string_equal(at(t, "AT+CLCC"),
			    "\r\n+CLCC: 1,0,0,0,0,\"+15559999\",145\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+VTS=5"), "\r\nOK\r\n");
	mark(t);
	modem_call_released(t->m, 1, MODEM_RELEASE_NORMAL);
	assert_string_equal(t->f.out, "\r\nNO CARRIER\r\n");
	assert_string_equal(at(t, "AT+CLCC"), "\r\nOK\r\n");
	/* The far end was busy. */
	at(t, "ATD5551234;");
	mark(t);
	modem_call_released(t->m, 2, MODEM_RELEASE_BUSY);
	assert_string_equal(t->f.out, "\r\nBUSY\r\n");
	/* The radio is busy with another VM: dialling fails like a lost carrier. */
	t->f.dial_ret = -EBUSY;
	assert_string_equal(at(t, "ATD5551234;"), "\r\nNO CARRIER\r\n");
	assert_int_equal(modem_call_count(t->m), 0);
}

static void test_mt_call(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CLIP=1;+CRC=1;+CCWA=1");
	mark(t);
	assert_int_equal(modem_incoming_call(t->m, 10, "+15558888"), 0);
	assert_string_equal(t->f.out, "\r\n+CRING: VOICE\r\n\r\n+CLIP: \"+15558888\",145,,,,0\r\n");
	mark(t);
	modem_tick(t->m, 1003);
	assert_string_equal(t->f.out, "");
	modem_tick(t->m, 1005);
	assert_string_equal(t->f.out, "\r\n+CRING: VOICE\r\n\r\n+CLIP: \"+15558888\",145,,,,0\r\n");
	/* A second call while the first rings: busy. */
	assert_int_equal(modem_incoming_call(t->m, 11, "+15557777"), -EBUSY);
	assert_string_equal(at(t, "AT+CLCC"),
			    "\r\n+CLCC: 1,1,4,0,0,\"+15558888\",145\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "ATA"), "\r\nOK\r\n");
	assert_int_equal(t->f.answers, 1);
	/* A second call beside an active one waits (+CCWA). */
	mark(t);
	assert_int_equal(modem_incoming_call(t->m, 12, "+15557777"), 0);
	assert_string_equal(t->f.out, "\r\n+CCWA: \"+15557777\",145,1\r\n");
	assert_string_equal(at(t, "AT+CHLD=2"), "\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CLCC"), "\r\n+CLCC: 1,1,1,0,0,\"+15558888\",145\r\n"
					      "+CLCC: 2,1,0,0,0,\"+15557777\",145\r\n\r\nOK\r\n");
	assert_int_equal(t->f.answers, 2);
	assert_string_equal(at(t, "AT+CHLD=1"), "\r\nOK\r\n"); /* end active, resume held */
	assert_string_equal(at(t, "AT+CLCC"),
			    "\r\n+CLCC: 1,1,0,0,0,\"+15558888\",145\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CHUP"), "\r\nOK\r\n");
	assert_int_equal(t->f.hangups, 2);
	assert_int_equal(modem_call_count(t->m), 0);
	/* Nothing rings after the call is gone. */
	mark(t);
	modem_tick(t->m, 1100);
	assert_string_equal(t->f.out, "");
	assert_string_equal(at(t, "ATA"), "\r\nNO CARRIER\r\n");
}

static void test_auto_answer(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "ATS0=2");
	assert_int_equal(modem_incoming_call(t->m, 3, "5550000"), 0);
	modem_tick(t->m, 1005); /* second RING */
	assert_int_equal(t->f.answers, 0);
	modem_tick(t->m, 1010);
	assert_int_equal(t->f.answers, 1);
	assert_string_equal(at(t, "AT+CLCC"), "\r\n+CLCC: 1,1,0,0,0,\"5550000\",129\r\n\r\nOK\r\n");
}

static const char *send_pdu(struct t *t, const char *cmd, const char *hex, char end)
{
	static char all[4096];
	char buf[1024];

	snprintf(all, sizeof(all), "%s", at(t, cmd));
	snprintf(buf, sizeof(buf), "%s%c", hex, end);
	strncat(all, raw(t, buf, strlen(buf)), sizeof(all) - strlen(all) - 1);
	return all;
}

static void test_sms_send(void **state)
{
	struct t *t = *state;
	const char *err;
	char text[64];
	struct sms s;

	at(t, "ATE0");
	assert_string_equal(
		send_pdu(t, "AT+CMGS=23", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 0x1a),
		"\r\n> \r\n+CMGS: 1\r\n\r\nOK\r\n");
	assert_int_equal(t->f.nsms, 1);
	assert_int_equal(t->f.sms[1], 1); /* TP-MR set by the ME */
	assert_true(sms_decode(t->f.sms, t->f.sms_len, SMS_SUBMIT, &s, &err));
	assert_string_equal(s.addr, "+46708251358");
	/* Length not matching the PDU, bad hex, a DELIVER, ESC: nothing is sent. */
	assert_string_equal(
		send_pdu(t, "AT+CMGS=22", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 0x1a),
		"\r\n> \r\n+CMS ERROR: 304\r\n");
	assert_string_equal(send_pdu(t, "AT+CMGS=8", "00zz", 0x1a),
			    "\r\n> \r\n+CMS ERROR: 304\r\n");
	assert_string_equal(send_pdu(t, "AT+CMGS=8", "0004038121F300000141", 0x1a),
			    "\r\n> \r\n+CMS ERROR: 304\r\n");
	assert_string_equal(send_pdu(t, "AT+CMGS=23", "0011000B9164", 0x1b), "\r\n> \r\nOK\r\n");
	assert_string_equal(at(t, "AT+CMGS=500"), "\r\n+CMS ERROR: 304\r\n");
	assert_int_equal(t->f.nsms, 1);
	/* Text mode, GSM charset with an extension character. */
	at(t, "AT+CMGF=1");
	assert_string_equal(send_pdu(t, "AT+CMGS=\"+15559999\"", "Price: 5 {EUR}", 0x1a),
			    "\r\n> \r\n+CMGS: 2\r\n\r\nOK\r\n");
	assert_true(sms_decode(t->f.sms, t->f.sms_len, SMS_SUBMIT, &s, &err));
	assert_string_equal(s.addr, "+15559999");
	assert_true(sms_body_utf8(&s, text, sizeof(text)));
	assert_string_equal(text, "Price: 5 {EUR}");
}

static void test_sms_send_confirmed_later(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	t->f.sms_async = 1;
	/* No final result until the radio answers; what the client types waits. */
	assert_string_equal(
		send_pdu(t, "AT+CMGS=23", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 0x1a),
		"\r\n> ");
	assert_string_equal(raw(t, "AT+CGMI\r", 8), "");
	mark(t);
	modem_sms_sent(t->m, 999, 0); /* not ours: ignored */
	assert_string_equal(t->f.out, "");
	modem_sms_sent(t->m, 41, 0);
	assert_string_equal(t->f.out, "\r\n+CMGS: 1\r\n\r\nOK\r\n\r\npocketvm\r\n\r\nOK\r\n");
	/* The network refuses the next one: the client hears why. */
	send_pdu(t, "AT+CMGS=23", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 0x1a);
	mark(t);
	modem_sms_sent(t->m, 42, 38);
	assert_string_equal(t->f.out, "\r\n+CMS ERROR: 38\r\n");
	/* No answer at all: a network timeout after a minute, and a late answer is dropped. */
	send_pdu(t, "AT+CMGS=23", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 0x1a);
	mark(t);
	modem_tick(t->m, 1000 + 61);
	assert_string_equal(t->f.out, "\r\n+CMS ERROR: 332\r\n");
	mark(t);
	modem_sms_sent(t->m, 43, 0);
	assert_string_equal(t->f.out, "");
	assert_string_equal(at(t, "AT"), "\r\nOK\r\n");
}

static void deliver(struct t *t, const char *from, const char *text, int want)
{
	struct sms tmpl = { .mti = SMS_DELIVER }, seg;
	uint8_t pdu[SMS_TPDU_MAX];
	size_t len;

	snprintf(tmpl.addr, sizeof(tmpl.addr), "%s", from);
	sms_scts_from_time(0, tmpl.scts);
	assert_int_equal(sms_split_text(&tmpl, text, 0, &seg, 1), 1);
	assert_true(sms_encode(&seg, pdu, sizeof(pdu), &len));
	assert_int_equal(modem_deliver_sms(t->m, pdu, len, "+15550000000"), want);
}

static void test_sms_receive_stored(void **state)
{
	struct t *t = *state;
	const char *r;

	at(t, "ATE0");
	at(t, "AT+CNMI=2,1,2,1,0");
	mark(t);
	deliver(t, "+15557777", "hellohello", 0);
	assert_string_equal(t->f.out, "\r\n+CMTI: \"SM\",1\r\n");
	r = at(t, "AT+CMGR=1");
	assert_string_equal(r, "\r\n+CMGR: 0,,26\r\n07915155000000F0040891515577770000"
			       "07101000000000"
			       "0AE8329BFD4697D9EC37\r\n\r\nOK\r\n");
	/* Read once: now REC READ. */
	assert_non_null(strstr(at(t, "AT+CMGL=4"), "+CMGL: 1,1,,26\r\n"));
	at(t, "AT+CMGF=1");
	assert_string_equal(at(t, "AT+CMGR=1"),
			    "\r\n+CMGR: \"REC READ\",\"+15557777\",,"
			    "\"70/01/01,00:00:00+00\"\r\nhellohello\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CMGD=1"), "\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CMGR=1"), "\r\n+CMS ERROR: 321\r\n");
	assert_string_equal(at(t, "AT+CMGR=31"), "\r\n+CMS ERROR: 321\r\n");
	/* Fill "SM" (30): the next one is refused, never lost silently. */
	for (int i = 0; i < 30; i++)
		deliver(t, "+15557777", "x", 0);
	assert_string_equal(at(t, "AT+CPMS?"),
			    "\r\n+CPMS: \"SM\",30,30,\"SM\",30,30,\"SM\",30,30\r\n\r\nOK\r\n");
	deliver(t, "+15557777", "x", -ENOSPC);
	assert_string_equal(at(t, "AT+CMGD=1,4"), "\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CPMS=\"ME\",\"ME\",\"ME\""),
			    "\r\n+CPMS: 0,50,0,50,0,50\r\n\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CPMS=\"XX\""), "\r\n+CMS ERROR: 303\r\n");
}

static void test_sms_receive_direct(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CSMS=1;+CNMI=2,2,0,0,0");
	mark(t);
	deliver(t, "+15557777", "hi", 0);
	assert_non_null(strstr(t->f.out, "\r\n+CMT: ,19\r\n07915155000000F0"));
	assert_string_equal(at(t, "AT+CNMA"), "\r\nOK\r\n");
	assert_string_equal(at(t, "AT+CNMA"), "\r\n+CMS ERROR: 340\r\n");
	/* Not acknowledged in time: stored (with +CMTI), routing falls back. */
	deliver(t, "+15557777", "second", 0);
	mark(t);
	modem_tick(t->m, 1000 + 16);
	assert_string_equal(t->f.out, "\r\n+CMTI: \"SM\",1\r\n");
	assert_string_equal(at(t, "AT+CNMI?"), "\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n");
}

static void test_urc_waits_for_final_result(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CNMI=2,1");
	assert_string_equal(at(t, "AT+CMGS=23"), "\r\n> ");
	mark(t);
	deliver(t, "+15557777", "during prompt", 0);
	assert_string_equal(t->f.out, "");
	assert_string_equal(raw(t, "\x1b", 1), "\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n");
}

static void test_bad_input_never_stalls(void **state)
{
	struct t *t = *state;
	char big[5000];
	uint32_t x = 12345;

	at(t, "ATE0");
	memset(big, 'A', sizeof(big));
	memcpy(big, "AT+", 3);
	big[sizeof(big) - 1] = '\r';
	assert_string_equal(raw(t, big, sizeof(big)), "\r\nERROR\r\n");
	for (int i = 0; i < 200000; i++) {
		uint8_t b;

		x = x * 1103515245 + 12345;
		b = (uint8_t)(x >> 16);
		modem_input(t->m, &b, 1);
	}
	/* Whatever state the garbage left (a half line, an SMS prompt), ESC and CR end it. */
	raw(t, "\x1b\r", 2);
	at(t, "ATE0");
	assert_string_equal(at(t, "AT"), "\r\nOK\r\n");
	/* An abandoned SMS prompt gives the channel back after its timeout. */
	at(t, "AT+CMGF=0");
	at(t, "AT+CMGS=10");
	mark(t);
	modem_tick(t->m, 1000 + 61);
	assert_string_equal(t->f.out, "\r\n+CMS ERROR: 304\r\n");
	assert_string_equal(at(t, "AT"), "\r\nOK\r\n");
}

static void test_ussd(void **state)
{
	struct t *t = *state;

	at(t, "ATE0");
	at(t, "AT+CSCS=\"UCS2\"");
	assert_string_equal(at(t, "AT+CUSD=1,\"002A0023003100300030002300\",15"), "\r\nERROR\r\n");
	assert_string_equal(at(t, "AT+CUSD=1,\"002A00230031003000300023\",15"), "\r\nOK\r\n");
	assert_string_equal(t->f.ussd, "*#100#");
	mark(t);
	modem_ussd_result(t->m, 0, "Hi €");
	assert_string_equal(t->f.out, "\r\n+CUSD: 0,\"00480069002020AC\",15\r\n");
	mark(t);
	modem_ussd_result(t->m, 1, "Жж");
	assert_string_equal(t->f.out, "\r\n+CUSD: 1,\"04160436\",72\r\n");
	at(t, "AT+CSCS=\"IRA\"");
	assert_string_equal(at(t, "AT+CUSD=1,\"*100#\""), "\r\nOK\r\n");
	assert_string_equal(t->f.ussd, "*100#");
	mark(t);
	modem_ussd_result(t->m, 0, "Balance 5");
	assert_string_equal(t->f.out, "\r\n+CUSD: 0,\"Balance 5\",15\r\n");
	at(t, "AT+CUSD=0");
	mark(t);
	modem_ussd_result(t->m, 0, "not shown");
	assert_string_equal(t->f.out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v250_basics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_cmee, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_and_sim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indicators, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mo_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mt_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_send_confirmed_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_receive_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_receive_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_urc_waits_for_final_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_never_stalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ussd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
