// SPDX-License-Identifier: Apache-2.0
/*
 * Parsers of untrusted bytes: check-in and enrollment answers from the
 * server, control requests from local users, vm.json, and the VMM command
 * line built from it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/ctlproto.h"
#include "device/identity.h"
#include "device/proto.h"
#include "device/vmconf.h"

#define DEV "0f8c0000-0000-4000-8000-000000000000"
#define VM1 "7d2e0000-0000-4000-8000-000000000001"
#define CMD "c1a20000-0000-4000-8000-000000000002"

static const char answer[] =
	"{\"device_id\":\"" DEV "\",\"status\":\"active\",\"server_time\":1764324001,\"seq\":42,"
	"\"checkin_interval\":300,\"vms\":[{\"id\":\"" VM1
	"\",\"name\":\"work\",\"state\":\"active\","
	"\"tang_path\":\"/tang/" VM1 "\",\"kid\":\"Jm1\",\"image\":null}],"
	"\"leases\":[{\"vm\":\"" VM1 "\",\"lease\":{\"protected\":\"e30\",\"payload\":\"e30\","
	"\"signature\":\"AA\"}}],\"commands\":[{\"id\":\"" CMD
	"\",\"type\":\"wipe_vm\",\"vm\":\"" VM1 "\",\"created\":1},{\"id\":\"" CMD
	"\",\"type\":\"self_destruct\",\"vm\":null}]}";

static void test_checkin_answer(void **s)
{
	struct checkin_answer *a = malloc(sizeof(*a));
	char err[256];

	assert_true(checkin_parse(answer, strlen(answer), a, err, sizeof(err)));
	assert_string_equal(a->device_id, DEV);
	assert_false(a->revoked);
	assert_int_equal(a->seq, 42);
	assert_int_equal(a->interval, 300);
	assert_int_equal(a->n_vms, 1);
	assert_string_equal(a->vms[0].name, "work");
	assert_int_equal(a->n_leases, 1);
	assert_int_equal(a->n_cmds, 2);
	assert_int_equal(a->cmds[0].type, CMD_WIPE_VM);
	assert_string_equal(a->cmds[0].vm, VM1);
	/* An unknown command is kept (to be refused with a failed ack), not fatal. */
	assert_int_equal(a->cmds[1].type, CMD_UNKNOWN);
	checkin_answer_free(a);
	free(a);
}

/* Replaces the first occurrence of from with to in answer and parses it. */
static bool parse_edited(const char *from, const char *to)
{
	struct checkin_answer *a = malloc(sizeof(*a));
	char buf[4096], err[256];
	const char *p = strstr(answer, from);
	bool ok;

	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - answer), answer, to, p + strlen(from));
	ok = checkin_parse(buf, strlen(buf), a, err, sizeof(err));
	if (ok)
		checkin_answer_free(a);
	free(a);
	return ok;
}

static void test_checkin_refusals(void **s)
{
	assert_false(parse_edited("\"status\":\"active\"", "\"status\":\"maybe\""));
	assert_false(parse_edited("\"seq\":42", "\"seq\":\"42\""));
	assert_false(parse_edited("\"checkin_interval\":300", "\"checkin_interval\":0"));
	assert_false(parse_edited("\"server_time\":1764324001", "\"server_time\":-1"));
	assert_false(parse_edited("\"id\":\"" VM1, "\"id\":\"../../etc"));
	assert_false(parse_edited("\"type\":\"wipe_vm\",\"vm\":\"" VM1,
				  "\"type\":\"wipe_vm\",\"vm\":\"x"));
	assert_false(parse_edited("\"lease\":{", "\"lease\":[{"));
	assert_false(parse_edited("{\"device_id\"", "[{\"device_id\""));
	assert_true(parse_edited("\"status\":\"active\"", "\"status\":\"revoked\""));
}

static void test_checkin_limits(void **s)
{
	struct checkin_answer *a = malloc(sizeof(*a));
	static char buf[64 * 1024];
	size_t cap = sizeof(buf), n;
	char err[256];

	assert_non_null(a);
	/* More commands than the device takes in one answer. */
	n = (size_t)snprintf(buf, cap,
			     "{\"device_id\":\"" DEV "\",\"status\":\"active\","
			     "\"server_time\":1,\"seq\":1,\"checkin_interval\":5,\"commands\":[");
	for (int i = 0; i <= PROTO_MAX_CMDS; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "%s{\"id\":\"" CMD "\",\"type\":\"lock\","
				      "\"vm\":\"" VM1 "\"}",
				      i ? "," : "");
	snprintf(buf + n, cap - n, "]}");
	assert_false(checkin_parse(buf, strlen(buf), a, err, sizeof(err)));
	/* Nesting deeper than 16. */
	snprintf(buf, cap, "{\"a\":%s1%s}", "[[[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]]]");
	assert_false(checkin_parse(buf, strlen(buf), a, err, sizeof(err)));
	free(a);
}

static void test_enroll_answer(void **s)
{
	struct identity id;
	int64_t t;
	char err[256];
	const char *bad = "{\"device_id\":\"" DEV "\",\"server_id\":\"s\",\"server_time\":5,"
			  "\"certificate\":\"not pem\",\"ca_certificate\":\"x\",\"lease_key\":{}}";

	memset(&id, 0, sizeof(id));
	assert_false(enroll_parse(bad, strlen(bad), &id, &t, err, sizeof(err)));
	assert_non_null(strstr(err, "PEM"));
	identity_clear(&id);
	assert_false(enroll_parse("{}", 2, &id, &t, err, sizeof(err)));
	identity_clear(&id);
}

static bool all_running(const char *id, void *arg)
{
	return strcmp(id, VM1) == 0;
}

static void test_checkin_request(void **s)
{
	struct dstate *st = calloc(1, sizeof(*st));
	json_t *j, *v;
	char *txt;

	assert_non_null(state_vm_add(st, VM1));
	assert_non_null(state_vm_add(st, "7d2e0000-0000-4000-8000-000000000009"));
	assert_int_equal(state_ack_add(st, CMD, true, "vm wiped"), 0);
	txt = checkin_request("nonce-nonce-nonce-nonce", 1764324000, st, all_running, NULL);
	assert_non_null(txt);
	j = json_loads(txt, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "nonce")),
			    "nonce-nonce-nonce-nonce");
	v = json_object_get(j, "vms");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "state")),
			    "running");
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "state")),
			    "stopped");
	v = json_array_get(json_object_get(j, "acks"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "id")), CMD);
	assert_string_equal(json_string_value(json_object_get(v, "status")), "done");
	json_decref(j);
	free(txt);
	free(st);
}

static void test_nonce(void **s)
{
	char a[NONCE_LEN + 1], b[NONCE_LEN + 1];

	proto_nonce(a);
	proto_nonce(b);
	assert_int_equal(strlen(a), NONCE_LEN);
	assert_int_equal(
		strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		NONCE_LEN);
	assert_string_not_equal(a, b);
}

static void test_ctl_request(void **s)
{
	struct ctl_request r;
	char err[128];
	const char *ok = "{\"cmd\":\"start\",\"vm\":\"work\"}";
	char big[400];

	assert_true(ctl_parse_request(ok, strlen(ok), &r, err, sizeof(err)));
	assert_string_equal(r.cmd, "start");
	assert_string_equal(r.vm, "work");
	assert_false(ctl_parse_request("{\"vm\":\"work\"}", 13, &r, err, sizeof(err)));
	assert_false(ctl_parse_request("{\"cmd\":1}", 9, &r, err, sizeof(err)));
	snprintf(big, sizeof(big), "{\"cmd\":\"start\",\"vm\":\"%0300d\"}", 0);
	assert_false(ctl_parse_request(big, strlen(big), &r, err, sizeof(err)));
	assert_false(ctl_parse_request("{\"cmd\":\"st\\u0000art\"}", 20, &r, err, sizeof(err)));
}

static bool conf(const char *json, struct vmconf *c)
{
	char err[256];

	return vmconf_parse(json, strlen(json), c, err, sizeof(err));
}

static void test_vmconf(void **s)
{
	struct vmconf c;
	char buf[8192], *argv[32];
	bool jail = false, sensitive = false, grace = false;

	assert_true(conf("{\"name\":\"work\",\"managed\":\"" VM1 "\",\"kernel\":\"k/vmlinux\","
			 "\"disk\":\"disk.img\",\"encrypted\":true,\"memory_mib\":512,\"cpus\":2,"
			 "\"restart\":\"always\",\"cmdline\":\"console=hvc0\"}",
			 &c));
	assert_int_equal(c.restart, RESTART_ALWAYS);
	vmm_argv("/vmm", "/d/vms/work", &c, true, buf, sizeof(buf), argv, 32);
	assert_string_equal(argv[0], "/vmm");
	assert_string_equal(argv[2], "/d/vms/work/k/vmlinux");
	for (int i = 0; argv[i]; i++) {
		if (strcmp(argv[i], "--disk") == 0)
			assert_string_equal(argv[i + 1], "fd=3,key-fd=4");
		jail |= strcmp(argv[i], "--jail") == 0;
		sensitive |= strcmp(argv[i], "--sensitive") == 0;
		/* stop presses the power button; the supervisor waits longer than this. */
		grace |= strcmp(argv[i], "--shutdown-grace") == 0 && argv[i + 1] &&
			 strcmp(argv[i + 1], "20") == 0;
	}
	assert_true(jail && sensitive); /* a work VM: confined, RAM locked */
	assert_true(grace);
	/* Defaults. */
	assert_true(conf("{\"name\":\"p\",\"kernel\":\"vmlinux\"}", &c));
	assert_int_equal(c.memory_mib, 256);
	assert_int_equal(c.restart, RESTART_NO);
	assert_false(c.managed[0]);
	vmm_argv("/vmm", "/d/vms/p", &c, false, buf, sizeof(buf), argv, 32);
	jail = sensitive = false;
	for (int i = 0; argv[i]; i++) {
		jail |= strcmp(argv[i], "--jail") == 0;
		sensitive |= strcmp(argv[i], "--sensitive") == 0;
	}
	assert_true(jail && !sensitive); /* a personal VM: confined, RAM swappable */
	/* Refusals. */
	assert_false(conf("{\"name\":\"../x\",\"kernel\":\"k\"}", &c));
	assert_false(conf("{\"name\":\"Work\",\"kernel\":\"k\"}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"../../etc/shadow\"}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"a/../../b\"}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"/boot/vmlinuz\"}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"k\",\"memory_mib\":1}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"k\",\"restart\":\"sometimes\"}", &c));
	assert_false(conf("{\"name\":\"p\",\"kernel\":\"k\",\"managed\":\"" VM1 "\"}", &c));
	assert_false(conf("{\"name\":\"p\"}", &c));
	assert_true(vm_name_ok("work-2_a"));
	assert_false(vm_name_ok("-x"));
	assert_false(vm_name_ok(""));
}

static void test_sha256_hex(void **s)
{
	uint8_t h[32];

	assert_true(parse_sha256_hex(
		"AB:CD:ef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", h));
	assert_int_equal(h[0], 0xab);
	assert_int_equal(h[1], 0xcd);
	assert_false(parse_sha256_hex("abcd", h));
	assert_false(parse_sha256_hex(
		"zz0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd", h));
	assert_false(parse_sha256_hex(
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00", h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkin_answer),	cmocka_unit_test(test_checkin_refusals),
		cmocka_unit_test(test_checkin_limits),	cmocka_unit_test(test_enroll_answer),
		cmocka_unit_test(test_checkin_request), cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_ctl_request),	cmocka_unit_test(test_vmconf),
		cmocka_unit_test(test_sha256_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
