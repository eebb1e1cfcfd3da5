// SPDX-License-Identifier: Apache-2.0
/*
 * Routing and isolation through the real router and simnet (no sockets):
 * every interleaving of calls and SMS to two VMs' numbers, checked against
 * a model of what each VM must see; DSDS busy / wait; a barred VM; a call
 * between two VMs on the same radio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modem/router.h"
#include "modem/simnet.h"

#define NUM_A "+15550001"
#define NUM_B "+15550002"

struct vm_out {
	char buf[1 << 16];
	size_t len;
};

struct world {
	struct simnet *sn;
	struct router *r;
	struct vm_out out[2];
	char reply[1 << 16];
};

static void capture(void *ctx, const char *data, size_t len)
{
	struct vm_out *o = ctx;

	assert_true(o->len + len < sizeof(o->buf));
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

static void pump(struct world *w)
{
	for (int i = 0; i < 4; i++)
		simnet_dispatch(w->sn);
}

/* Sends one command line to VM vm; returns what that VM's client saw since. */
static const char *at(struct world *w, int vm, const char *line)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s\r", line);
	modem_input(router_modem(w->r, vm), (const uint8_t *)buf, strlen(buf));
	return w->out[vm].buf;
}

static bool net(struct world *w, const char *cmd)
{
	return simnet_command(w->sn, cmd, w->reply, sizeof(w->reply));
}

static struct world *world_new(enum router_dsds dsds, bool barred_b)
{
	struct world *w = calloc(1, sizeof(*w));
	struct modem_config a = { .name = "a", .number = NUM_A };
	struct modem_config b = { .name = "b", .number = NUM_B };

	w->sn = simnet_new(NULL, NULL);
	w->r = router_new(simnet_radio(w->sn), dsds);
	assert_int_equal(router_add_vm(w->r, &a, false), 0);
	assert_int_equal(router_add_vm(w->r, &b, barred_b), 1);
	for (int i = 0; i < 2; i++) {
		router_set_output(w->r, i, capture, &w->out[i]);
		at(w, i, "ATE0");
		at(w, i, "AT+CLIP=1;+CNMI=2,1;+CMEE=1");
	}
	pump(w);
	for (int i = 0; i < 2; i++)
		w->out[i].len = 0;
	return w;
}

static void world_free(struct world *w)
{
	router_free(w->r);
	simnet_free(w->sn);
	free(w);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static bool log_has(struct world *w, const char *a, const char *b)
{
	for (size_t i = 0; i < simnet_log_count(w->sn); i++) {
		const char *l = simnet_log_line(w->sn, i);

		if (l && strstr(l, a) && (!b || strstr(l, b)))
			return true;
	}
	return false;
}

/*
 * The events: the network calls A (from X1) and B (from X2), sends an SMS to
 * A and to B, A sends an SMS out, B dials out. One radio: whoever gets a call
 * first owns it; the other VM's call attempts then fail (DSDS busy).
 */
enum ev { CALL_A, CALL_B, SMS_A, SMS_B, MO_SMS_A, DIAL_B, NEV };

struct model {
	int owner; /* VM holding the radio, -1 */
	bool rings[2];
	const char *dial_b; /* what B's ATD returned */
	int call_ids[2];
};

static void run_event(struct world *w, struct model *m, enum ev e)
{
	static const char *const callers[2] = { "+19990001", "+19990002" };
	char cmd[128];

	switch (e) {
	case CALL_A:
	case CALL_B: {
		int vm = e == CALL_A ? 0 : 1;

		snprintf(cmd, sizeof(cmd), "call %s %s", callers[vm], vm ? NUM_B : NUM_A);
		assert_true(net(w, cmd));
		m->call_ids[vm] = atoi(w->reply + strlen("OK call "));
		if (m->owner < 0) {
			m->owner = vm;
			m->rings[vm] = true;
		}
		break;
	}
	case SMS_A:
		assert_true(net(w, "sms +19990003 " NUM_A " for-A only"));
		break;
	case SMS_B:
		assert_true(net(w, "sms +19990004 " NUM_B " for-B only"));
		break;
	case MO_SMS_A: {
		size_t before = w->out[0].len;

		at(w, 0, "AT+CMGF=1");
		at(w, 0, "AT+CMGS=\"+19990005\"");
		modem_input(router_modem(w->r, 0), (const uint8_t *)"from A\x1a", 7);
		assert_non_null(strstr(w->out[0].buf + before, "+CMGS: "));
		at(w, 0, "AT+CMGF=0");
		break;
	}
	case DIAL_B: {
		size_t before = w->out[1].len;

		at(w, 1, "ATD+19990006;");
		if (m->owner < 0) {
			m->owner = 1;
			m->dial_b = "\r\nOK\r\n";
		} else {
			/* A holds the radio: NO CARRIER; B's own call rings: not allowed. */
			m->dial_b = m->owner == 0 ? "\r\nNO CARRIER\r\n" : "\r\n+CME ERROR: 3\r\n";
		}
		assert_non_null(strstr(w->out[1].buf + before, m->dial_b));
		break;
	}
	case NEV:
		break;
	}
	pump(w);
}

static void check_world(struct world *w, const struct model *m, const int *order)
{
	static const char *const mine[2] = { "for-A only", "for-B only" };
	static const char *const callers[2] = { "+19990001", "+19990002" };
	char clip[64];

	for (int vm = 0; vm < 2; vm++) {
		const char *o = w->out[vm].buf;
		int other = !vm;

		snprintf(clip, sizeof(clip), "+CLIP: \"%s\"", callers[vm]);
		assert_int_equal(count(o, "\r\nRING\r\n"), m->rings[vm]);
		assert_int_equal(count(o, clip), m->rings[vm]);
		assert_int_equal(count(o, "+CMTI: \"SM\",1"), 1);
		assert_int_equal(count(o, "+CMTI:"), 1);
		/* Nothing of the other VM: its callers, its texts, its number. */
		assert_null(strstr(o, callers[other]));
		assert_null(strstr(o, vm ? NUM_A : NUM_B));
		if (!m->rings[vm] && m->call_ids[vm]) {
			char want[64];

			snprintf(want, sizeof(want), "CALL id=%d rejected", m->call_ids[vm]);
			assert_true(log_has(w, want, "cause=busy"));
		}
		/* Read the stored message back: it is this VM's own. */
		at(w, vm, "AT+CMGF=1");
		w->out[vm].len = 0;
		at(w, vm, "AT+CMGL=\"ALL\"");
		assert_non_null(strstr(w->out[vm].buf, mine[vm]));
		assert_null(strstr(w->out[vm].buf, mine[other]));
	}
	assert_true(log_has(w, "SMS from=" NUM_A " to=+19990005", "text=\"from A\""));
	assert_false(log_has(w, "from=" NUM_B " to=+19990005", NULL));
	if (m->owner == 1 && m->dial_b && strstr(m->dial_b, "OK"))
		assert_true(log_has(w, "MO-CALL", "from=" NUM_B " to=+19990006"));
	else
		assert_false(log_has(w, "MO-CALL", NULL));
	(void)order;
}

static bool next_perm(int *a, int n)
{
	int i = n - 2, j = n - 1;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return false;
	while (a[j] <= a[i])
		j--;
	int t = a[i];
	a[i] = a[j];
	a[j] = t;
	for (int l = i + 1, r = n - 1; l < r; l++, r--) {
		t = a[l];
		a[l] = a[r];
		a[r] = t;
	}
	return true;
}

static void test_every_interleaving(void **state)
{
	int order[NEV] = { 0, 1, 2, 3, 4, 5 }, runs = 0;

	do {
		struct world *w = world_new(ROUTER_DSDS_BUSY, false);
		struct model m = { .owner = -1 };

		for (int i = 0; i < NEV; i++)
			run_event(w, &m, (enum ev)order[i]);
		check_world(w, &m, order);
		world_free(w);
		runs++;
	} while (next_perm(order, NEV));
	assert_int_equal(runs, 720);
}

/* The same four network events queued back to back, dispatched in one go. */
static void test_batched_network_events(void **state)
{
	int order[4] = { 0, 1, 2, 3 };

	do {
		struct world *w = world_new(ROUTER_DSDS_BUSY, false);
		struct model m = { .owner = -1 };
		char cmd[128];

		for (int i = 0; i < 4; i++) {
			switch (order[i]) {
			case 0:
			case 1:
				snprintf(cmd, sizeof(cmd), "call +1999000%d %s", order[i] + 1,
					 order[i] ? NUM_B : NUM_A);
				assert_true(net(w, cmd));
				m.call_ids[order[i]] = atoi(w->reply + 8);
				if (m.owner < 0) {
					m.owner = order[i];
					m.rings[order[i]] = true;
				}
				break;
			case 2:
				assert_true(net(w, "sms +19990003 " NUM_A " for-A only"));
				break;
			case 3:
				assert_true(net(w, "sms +19990004 " NUM_B " for-B only"));
				break;
			}
		}
		pump(w);
		run_event(w, &m, MO_SMS_A);
		check_world(w, &m, order);
		world_free(w);
	} while (next_perm(order, 4));
}

static void test_dsds_wait(void **state)
{
	struct world *w = world_new(ROUTER_DSDS_WAIT, false);
	char log_id[32];

	assert_true(net(w, "call +19990001 " NUM_A));
	pump(w);
	at(w, 0, "ATA");
	assert_true(net(w, "call +19990002 " NUM_B));
	pump(w);
	/* B's call waits at the network while A talks: no RING yet, not rejected. */
	assert_null(strstr(w->out[1].buf, "RING"));
	assert_false(log_has(w, "rejected", NULL));
	at(w, 0, "ATH");
	pump(w);
	assert_int_equal(count(w->out[1].buf, "\r\nRING\r\n"), 1);
	assert_non_null(strstr(w->out[1].buf, "+CLIP: \"+19990002\""));
	/* A queued call whose caller gives up never reaches the VM. */
	at(w, 1, "ATA");
	assert_true(net(w, "call +19990003 " NUM_A));
	snprintf(log_id, sizeof(log_id), "hangup %d", atoi(w->reply + 8));
	pump(w);
	assert_true(net(w, log_id));
	pump(w);
	at(w, 1, "ATH");
	pump(w);
	assert_null(strstr(w->out[0].buf, "+19990003"));
	world_free(w);
}

static void test_barred_vm(void **state)
{
	struct world *w = world_new(ROUTER_DSDS_BUSY, true);

	assert_true(net(w, "call +19990001 " NUM_B));
	assert_true(net(w, "sms +19990001 " NUM_B " secret"));
	pump(w);
	pump(w);
	assert_true(log_has(w, "rejected cause=unreachable", NULL));
	assert_true(log_has(w, "to=" NUM_B " failed", "barred"));
	assert_null(strstr(w->out[1].buf, "RING"));
	assert_null(strstr(w->out[1].buf, "CMTI"));
	assert_non_null(strstr(at(w, 1, "ATD+19990001;"), "+CME ERROR: 3"));
	assert_non_null(strstr(at(w, 1, "AT+CREG?"), "+CREG: 0,3"));
	assert_false(log_has(w, "MO-CALL", NULL));
	/* A is unaffected. */
	assert_non_null(strstr(at(w, 0, "ATD+19990001;"), "OK"));
	assert_true(log_has(w, "MO-CALL", "from=" NUM_A));
	world_free(w);
}

static void test_call_between_vms(void **state)
{
	struct world *w = world_new(ROUTER_DSDS_BUSY, false);

	/* One radio, both ends ours: the called VM's line is busy (DSDS). */
	at(w, 0, "ATD" NUM_B ";");
	pump(w);
	assert_null(strstr(w->out[1].buf, "RING"));
	assert_non_null(strstr(w->out[0].buf, "BUSY"));
	/* SMS between them works and carries the sender's own number. */
	at(w, 0, "AT+CMGF=1");
	at(w, 0, "AT+CMGS=\"" NUM_B "\"");
	modem_input(router_modem(w->r, 0), (const uint8_t *)"hi B\x1a", 5);
	pump(w);
	assert_non_null(strstr(w->out[1].buf, "+CMTI: \"SM\",1"));
	at(w, 1, "AT+CMGF=1");
	assert_non_null(strstr(at(w, 1, "AT+CMGR=1"), "\"REC UNREAD\",\"" NUM_A "\""));
	assert_non_null(strstr(w->out[1].buf, "hi B"));
	world_free(w);
}

/* SMS-SUBMIT "hi" with TP-SRR to +19990007 / to B, in the AT PDU form (SCA 00). */
#define SUBMIT_SRR_EXT "0031000891919900700000AA02E834"
#define SUBMIT_SRR_B "0031000891515500200000AA02E834"

static void test_status_reports(void **state)
{
	struct world *w = world_new(ROUTER_DSDS_BUSY, false);
	const char *o;

	at(w, 0, "AT+CNMI=2,1,0,1,0");
	at(w, 0, "AT+CMGS=14");
	modem_input(router_modem(w->r, 0), (const uint8_t *)SUBMIT_SRR_EXT "\x1a",
		    strlen(SUBMIT_SRR_EXT) + 1);
	pump(w);
	/* The report names the recipient and the message reference the ME gave (1). */
	o = strstr(w->out[0].buf, "+CDS: 23\r\n");
	assert_non_null(o);
	assert_non_null(strstr(o, "07915155000000F00601089191990070"));
	/* To another VM: the report comes once B has it; B sees no report. */
	w->out[0].len = 0;
	at(w, 0, "AT+CMGS=14");
	modem_input(router_modem(w->r, 0), (const uint8_t *)SUBMIT_SRR_B "\x1a",
		    strlen(SUBMIT_SRR_B) + 1);
	pump(w);
	pump(w);
	assert_non_null(strstr(w->out[1].buf, "+CMTI: \"SM\",1"));
	assert_null(strstr(w->out[1].buf, "+CDS"));
	assert_non_null(strstr(w->out[0].buf, "+CDS: 23\r\n07915155000000F00602089151550020"));
	/* Without <ds> no report is shown. */
	w->out[0].len = 0;
	w->out[0].buf[0] = '\0';
	at(w, 0, "AT+CNMI=2,1,0,0,0");
	at(w, 0, "AT+CMGS=14");
	modem_input(router_modem(w->r, 0), (const uint8_t *)SUBMIT_SRR_EXT "\x1a",
		    strlen(SUBMIT_SRR_EXT) + 1);
	pump(w);
	assert_null(strstr(w->out[0].buf, "+CDS"));
	world_free(w);
}

static void test_ussd_goes_to_asker_only(void **state)
{
	struct world *w = world_new(ROUTER_DSDS_BUSY, false);

	at(w, 0, "AT+CUSD=1,\"*#100#\",15");
	at(w, 1, "AT+CUSD=1");
	pump(w);
	assert_non_null(strstr(w->out[0].buf, "+CUSD: 0,\"Your number is " NUM_A "\",15"));
	assert_null(strstr(w->out[1].buf, "+CUSD: 0"));
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_interleaving),
		cmocka_unit_test(test_batched_network_events),
		cmocka_unit_test(test_dsds_wait),
		cmocka_unit_test(test_barred_vm),
		cmocka_unit_test(test_call_between_vms),
		cmocka_unit_test(test_status_reports),
		cmocka_unit_test(test_ussd_goes_to_asker_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
