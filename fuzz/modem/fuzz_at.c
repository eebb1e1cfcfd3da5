// SPDX-License-Identifier: Apache-2.0
/*
 * A guest's bytes on its modem channel, interleaved with network events:
 * the AT line reader, the command parser and every command handler, the SMS
 * prompt, and the call/SMS state they drive. Bytes 0xf0-0xf7 are not sent
 * to the modem but inject an event (incoming call, call progress, an SMS, a
 * USSD answer, a clock tick), so the fuzzer explores command x event orders.
 * The oracle: no crash, no sanitizer report, and the channel still answers
 * "AT" with OK afterwards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "modem/modem.h"
#include "modem/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out_tail[64];
static size_t out_total;

static void f_output(void *ctx, const char *d, size_t len)
{
	/* Keep only the tail: enough to find the final "OK". */
	for (size_t i = 0; i < len; i++) {
		memmove(out_tail, out_tail + 1, sizeof(out_tail) - 2);
		out_tail[sizeof(out_tail) - 2] = d[i];
	}
	out_total += len;
}

static uint32_t next_id;

static int f_dial(void *ctx, const char *n, uint32_t *id)
{
	*id = ++next_id;
	return 0;
}

static int f_ok(void *ctx, uint32_t id)
{
	return 0;
}

static int f_hold(void *ctx, uint32_t id, bool hold)
{
	return 0;
}

static int f_sms(void *ctx, const uint8_t *tpdu, size_t len, uint32_t *ref)
{
	struct sms s;
	const char *err;

	/* The modem only passes on what it validated. */
	if (!sms_decode(tpdu, len, SMS_SUBMIT, &s, &err))
		abort();
	/* Every other submit is confirmed later (event 0xf6 with an odd id). */
	*ref = ++next_id;
	return (int)(*ref & 1);
}

static int f_ussd(void *ctx, const char *req)
{
	return 0;
}

static void f_cancel(void *ctx)
{
}

static const struct modem_host_ops ops = {
	f_output, f_dial, f_ok, f_ok, f_hold, f_sms, f_ussd, f_cancel,
};

static void inject(struct modem *m, uint8_t ev, time_t *now)
{
	static const uint8_t deliver[] = { 0x04, 0x04, 0x81, 0x21, 0x43, 0x00, 0x00, 0x70, 0x10,
					   0x10, 0x00, 0x00, 0x00, 0x00, 0x02, 0xe8, 0x34 };

	switch (ev & 7) {
	case 0:
		modem_incoming_call(m, ++next_id, "+15551234");
		break;
	case 1:
		modem_call_alerting(m, next_id);
		break;
	case 2:
		modem_call_connected(m, next_id);
		break;
	case 3:
		modem_call_released(m, next_id, (enum modem_release)(next_id % 3));
		break;
	case 4:
		modem_deliver_sms(m, deliver, sizeof(deliver), "+15550000");
		break;
	case 5:
		modem_ussd_result(m, (int)(next_id % 3), "Réponse €");
		modem_sms_sent(m, next_id, next_id % 4 ? 0 : 500);
		break;
	case 6:
		modem_set_network(m, next_id % 2, next_id % 5 == 0, (int)(next_id % 32));
		break;
	case 7:
		*now += 7;
		modem_tick(m, *now);
		break;
	}
}

/* Sends text followed by the terminator in force at that moment (S3). */
static void send_line(struct modem *m, const char *text)
{
	uint8_t s3 = modem_sreg(m, 3);

	modem_input(m, (const uint8_t *)text, strlen(text));
	modem_input(m, &s3, 1);
}

/*
 * The channel must still answer. The recovery uses the terminator in force
 * at each step (finishing a half line may itself change S3); it is skipped
 * only when the input made S3 or S5 one of the recovery's own characters.
 */
/*
 * Lets timers run out, repeatedly: an unconfirmed SMS submit times out and
 * gives the channel back, then the input held meanwhile runs and may start
 * another one. Held input is bounded, so this ends.
 */
static void drain(struct modem *m, time_t *now)
{
	for (int i = 0; i < 256; i++) {
		*now += 120;
		modem_tick(m, *now);
	}
}

static bool recover(struct modem *m, time_t now)
{
	static const char chars[] = "\x1b"
				    "ATE0Q0V1";
	uint8_t s3, s5;

	drain(m, &now);
	send_line(m, ""); /* ends a half line; may open an SMS prompt */
	drain(m, &now);
	modem_input(m, (const uint8_t *)"\x1b", 1); /* ends any prompt */
	drain(m, &now);
	s3 = modem_sreg(m, 3);
	s5 = modem_sreg(m, 5);
	if (memchr(chars, s3, sizeof(chars)) || memchr(chars, s5, sizeof(chars)) || s3 == s5)
		return true;
	send_line(m, "");
	send_line(m, "ATE0Q0V1");
	memset(out_tail, 0, sizeof(out_tail));
	send_line(m, "AT");
	return memmem(out_tail, sizeof(out_tail), "\r\nOK\r\n", 6) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct modem_config cfg = { .name = "fuzz", .number = "+15550001" };
	struct modem *m;
	time_t now = 1000;
	size_t start = 0;

	log_set_fd(-1);
	memset(out_tail, 0, sizeof(out_tail));
	modem_config_fill(&cfg, 0);
	m = modem_new(&cfg, &ops, NULL);
	if (!m)
		abort();
	modem_set_network(m, true, false, 20);
	modem_tick(m, now);
	for (size_t i = 0; i <= size; i++) {
		if (i < size && (data[i] & 0xf8) != 0xf0)
			continue;
		modem_input(m, data + start, i - start);
		if (i < size)
			inject(m, data[i], &now);
		start = i + 1;
	}
	/* Whatever happened, the channel must still answer. */
	if (!recover(m, now))
		abort();
	modem_free(m);
	return 0;
}
