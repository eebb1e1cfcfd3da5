// SPDX-License-Identifier: Apache-2.0
/*
 * The serial radio backend against a fake modem on a pty: the multiplexer
 * initialises it, dials, answers a RING, sends and receives SMS and USSD
 * through it, and a VM sees the result through its own virtual modem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "modem/radio.h"
#include "modem/router.h"

#define LINE "+15550001"

/* The fake modem's state, as +CLCC reports it. */
struct fake_modem {
	int fd;
	char in[8192];
	size_t in_len;
	bool in_prompt;
	bool refuse_sms; /* answer the next submit with +CMS ERROR: 38 */
	int call_stat; /* -1: none */
	int call_dir;
	char call_number[32];
	char sent_pdu[512];
	char log[16384]; /* every command received */
};

struct t {
	struct event_base *base;
	struct radio *radio;
	struct router *router;
	struct fake_modem fm;
	char out[1 << 16];
	size_t out_len;
};

static void capture(void *ctx, const char *data, size_t len)
{
	struct t *t = ctx;

	assert_true(t->out_len + len < sizeof(t->out));
	memcpy(t->out + t->out_len, data, len);
	t->out_len += len;
	t->out[t->out_len] = '\0';
}

static void fm_send(struct fake_modem *fm, const char *s)
{
	assert_int_equal(write(fm->fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void fm_command(struct fake_modem *fm, const char *cmd)
{
	char buf[256];

	size_t used = strlen(fm->log);

	snprintf(fm->log + used, sizeof(fm->log) - used, "%s\n", cmd);
	if (!strcmp(cmd, "AT+CSQ")) {
		fm_send(fm, "\r\n+CSQ: 17,99\r\n\r\nOK\r\n");
	} else if (!strcmp(cmd, "AT+CREG?")) {
		fm_send(fm, "\r\n+CREG: 1,1\r\n\r\nOK\r\n");
	} else if (!strcmp(cmd, "AT+CLCC")) {
		if (fm->call_stat >= 0) {
			snprintf(buf, sizeof(buf), "\r\n+CLCC: 1,%d,%d,0,0,\"%s\",145\r\n",
				 fm->call_dir, fm->call_stat, fm->call_number);
			fm_send(fm, buf);
		}
		fm_send(fm, "\r\nOK\r\n");
	} else if (!strncmp(cmd, "ATD", 3)) {
		fm->call_stat = 2;
		fm->call_dir = 0;
		snprintf(fm->call_number, sizeof(fm->call_number), "%.*s", (int)strlen(cmd) - 4,
			 cmd + 3);
		fm_send(fm, "\r\nOK\r\n");
	} else if (!strcmp(cmd, "ATA")) {
		fm->call_stat = 0;
		fm_send(fm, "\r\nOK\r\n");
	} else if (!strncmp(cmd, "AT+CHLD=1", 9) || !strcmp(cmd, "ATH") ||
		   !strcmp(cmd, "AT+CHUP")) {
		fm->call_stat = -1;
		fm_send(fm, "\r\nOK\r\n");
	} else if (!strncmp(cmd, "AT+CMGS=", 8)) {
		fm->in_prompt = true;
		fm_send(fm, "\r\n> ");
	} else if (!strncmp(cmd, "AT+CUSD=1,\"", 11)) {
		fm_send(fm, "\r\nOK\r\n\r\n+CUSD: 0,\"Balance 3.50\",15\r\n");
	} else {
		fm_send(fm, "\r\nOK\r\n");
	}
}

/* Reads what the backend wrote; answers whole command lines. */
static void fm_service(struct fake_modem *fm)
{
	ssize_t n = read(fm->fd, fm->in + fm->in_len, sizeof(fm->in) - fm->in_len - 1);
	char *end;

	if (n <= 0)
		return;
	fm->in_len += (size_t)n;
	fm->in[fm->in_len] = '\0';
	for (;;) {
		if (fm->in_prompt) {
			end = memchr(fm->in, 0x1a, fm->in_len);
			if (!end)
				return;
			*end = '\0';
			snprintf(fm->sent_pdu, sizeof(fm->sent_pdu), "%s", fm->in);
			fm->in_prompt = false;
			fm_send(fm, fm->refuse_sms ? "\r\n+CMS ERROR: 38\r\n" :
						     "\r\n+CMGS: 7\r\n\r\nOK\r\n");
		} else {
			end = memchr(fm->in, '\r', fm->in_len);
			if (!end)
				return;
			*end = '\0';
			if (fm->in[0])
				fm_command(fm, fm->in);
		}
		fm->in_len -= (size_t)(end + 1 - fm->in);
		memmove(fm->in, end + 1, fm->in_len);
		fm->in[fm->in_len] = '\0';
	}
}

/* Runs the loop and the fake modem until pred holds or 5 s pass. */
static bool run_until(struct t *t, bool (*pred)(struct t *t, const void *arg), const void *arg)
{
	time_t deadline = time(NULL) + 5;

	while (time(NULL) <= deadline) {
		struct pollfd p = { .fd = t->fm.fd, .events = POLLIN };

		event_base_loop(t->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 10) > 0)
			fm_service(&t->fm);
		event_base_loop(t->base, EVLOOP_NONBLOCK);
		if (pred(t, arg))
			return true;
	}
	return false;
}

static bool out_has(struct t *t, const void *s)
{
	return strstr(t->out, s) != NULL;
}

static bool fm_saw(struct t *t, const void *s)
{
	return strstr(t->fm.log, s) != NULL;
}

static bool fm_got_pdu(struct t *t, const void *unused)
{
	return t->fm.sent_pdu[0] != '\0';
}

static void vm(struct t *t, const char *line)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s\r", line);
	modem_input(router_modem(t->router, 0), (const uint8_t *)buf, strlen(buf));
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct modem_config cfg = { .name = "vm", .number = LINE };
	char path[64], spec[128];
	int slave;

	assert_int_equal(openpty(&t->fm.fd, &slave, path, NULL, NULL), 0);
	/* The backend opens its own end; keep ours so the pty stays up. */
	fcntl(t->fm.fd, F_SETFL, O_NONBLOCK);
	t->fm.call_stat = -1;
	t->base = event_base_new();
	snprintf(spec, sizeof(spec), "serial:%s," LINE, path);
	assert_int_equal(radio_open(t->base, spec, NULL, NULL, &t->radio), 0);
	close(slave);
	t->router = router_new(t->radio, ROUTER_DSDS_BUSY);
	assert_int_equal(router_add_vm(t->router, &cfg, false), 0);
	router_set_output(t->router, 0, capture, t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	router_free(t->router);
	radio_free(t->radio);
	event_base_free(t->base);
	close(t->fm.fd);
	free(t);
	return 0;
}

static void test_serial_backend(void **state)
{
	struct t *t = *state;
	char cmt[256];

	/* Initialisation: the modem is set up for URCs and PDU mode. */
	assert_true(run_until(t, fm_saw, "AT+CREG?"));
	assert_true(fm_saw(t, "AT+CNMI=2,2,0,1,0"));
	assert_true(fm_saw(t, "AT+CMGF=0"));
	vm(t, "ATE0");
	vm(t, "AT+CLIP=1;+CNMI=2,1;+CREG?");
	assert_true(run_until(t, out_has, "+CREG: 0,1"));

	/* A call from the VM goes out through the modem, and connects. */
	vm(t, "ATD+15559999;");
	assert_true(run_until(t, fm_saw, "ATD+15559999;"));
	t->fm.call_stat = 0;
	t->out_len = 0;
	vm(t, "AT+CLCC");
	assert_true(run_until(t, out_has, "+CLCC: 1,0,2,0,0,\"+15559999\""));
	for (int i = 0; i < 3; i++) {
		t->out_len = 0;
		t->out[0] = '\0';
		run_until(t, fm_saw, "AT+CLCC\nAT+CLCC\n");
		vm(t, "AT+CLCC");
		if (strstr(t->out, "+CLCC: 1,0,0,0,0"))
			break;
	}
	assert_non_null(strstr(t->out, "+CLCC: 1,0,0,0,0,\"+15559999\""));
	vm(t, "ATH");
	assert_true(run_until(t, fm_saw, "AT+CHLD=11"));

	/* The modem rings: the VM gets RING with the caller, answers. */
	t->fm.call_stat = 4;
	t->fm.call_dir = 1;
	strcpy(t->fm.call_number, "+15558888");
	fm_send(&t->fm, "\r\nRING\r\n");
	assert_true(run_until(t, out_has, "+CLIP: \"+15558888\""));
	vm(t, "ATA");
	assert_true(run_until(t, fm_saw, "ATA\n"));
	/* The far end hangs up. */
	t->fm.call_stat = -1;
	fm_send(&t->fm, "\r\nNO CARRIER\r\n");
	assert_true(run_until(t, out_has, "NO CARRIER"));

	/* SMS out: the TPDU reaches the modem unchanged behind a default SMSC. */
	vm(t, "AT+CMGS=23");
	modem_input(router_modem(t->router, 0),
		    (const uint8_t *)"0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a", 49);
	assert_true(run_until(t, out_has, "+CMGS: 1"));
	assert_true(run_until(t, fm_saw, "AT+CMGS=23"));
	assert_true(run_until(t, fm_got_pdu, NULL));
	assert_string_equal(t->fm.sent_pdu, "0011010B916407281553F80000AA0AE8329BFD4697D9EC37");

	/* The network refuses an SMS: the VM gets the modem's error, not a false OK. */
	t->fm.refuse_sms = true;
	vm(t, "AT+CMGS=23");
	modem_input(router_modem(t->router, 0),
		    (const uint8_t *)"0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a", 49);
	assert_true(run_until(t, out_has, "+CMS ERROR: 38"));

	/* SMS in: +CMT from the modem lands in the VM's storage. */
	snprintf(cmt, sizeof(cmt), "\r\n+CMT: ,26\r\n%s\r\n",
		 "07915155000000F0040891515577770000071010000000000AE8329BFD4697D9EC37");
	fm_send(&t->fm, cmt);
	assert_true(run_until(t, out_has, "+CMTI: \"SM\",1"));

	/* A status report from the modem reaches a VM that asked for them. */
	vm(t, "AT+CNMI=2,1,0,1,0");
	fm_send(&t->fm, "\r\n+CDS: 23\r\n07915155000000F00601089191990070"
			"621182016483006211820164830000\r\n");
	assert_true(run_until(t, out_has, "+CDS: 23\r\n07915155000000F00601089191990070"));

	/* USSD. */
	vm(t, "AT+CUSD=1,\"*100#\",15");
	assert_true(run_until(t, out_has, "+CUSD: 0,\"Balance 3.50\",15"));
}

static void test_other_number_cannot_use_the_line(void **state)
{
	struct t *t = *state;
	struct modem_config cfg = { .name = "other", .number = "+15550002" };

	/* One SIM: a second VM with another number cannot be served by it. */
	assert_int_equal(router_add_vm(t->router, &cfg, false), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serial_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_number_cannot_use_the_line, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
