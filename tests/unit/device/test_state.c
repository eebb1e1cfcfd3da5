// SPDX-License-Identifier: Apache-2.0
/* The MAC'd state file: round trip, tampering, wrong key, limits, atomic save. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device/fsutil.h"
#include "device/state.h"

#define VM1 "7d2e0000-0000-4000-8000-000000000001"
#define CMD1 "c1a20000-0000-4000-8000-000000000002"

static const uint8_t key[STATE_KEY_LEN] = { 1, 2, 3, 4, 5 };

static void fill(struct dstate *st)
{
	struct vm_rec *vm;
	struct journal_ent e = { .op = JOURNAL_WIPE_VM, .vm = VM1, .cmd = CMD1 };

	memset(st, 0, sizeof(*st));
	st->clock.hwm = 1764324000;
	memset(st->clock.boot_id, 'b', TCLOCK_BOOT_ID_LEN);
	st->clock.anchor_time = 1764323000;
	st->clock.anchor_boot_ns = 12345;
	st->seq = 42;
	strcpy(st->device_id, "0f8c0000-0000-4000-8000-000000000000");
	vm = state_vm_add(st, VM1);
	assert_non_null(vm);
	strcpy(vm->name, "work");
	strcpy(vm->state, "active");
	vm->lease = (struct lease_info){ true, false, 1764324000, 1764367200, 43200, 42 };
	strcpy(e.reason, "command");
	assert_int_equal(state_journal_add(st, &e), 0);
	assert_int_equal(state_ack_add(st, CMD1, true, "vm wiped"), 0);
}

static void test_round_trip(void **s)
{
	struct dstate a, b;
	char *buf, err[128];
	size_t len;

	fill(&a);
	assert_int_equal(state_format(&a, key, &buf, &len), 0);
	assert_true(state_parse(buf, len, key, &b, err, sizeof(err)));
	assert_memory_equal(&a.clock, &b.clock, sizeof(a.clock));
	assert_int_equal(b.seq, 42);
	assert_string_equal(b.device_id, a.device_id);
	assert_int_equal(b.n_vms, 1);
	assert_string_equal(b.vms[0].name, "work");
	assert_int_equal(b.vms[0].lease.exp, 1764367200);
	assert_true(b.vms[0].lease.valid);
	assert_int_equal(b.n_journal, 1);
	assert_int_equal(b.journal[0].op, JOURNAL_WIPE_VM);
	assert_string_equal(b.journal[0].cmd, CMD1);
	assert_int_equal(b.n_acks, 1);
	assert_true(b.acks[0].done);
	assert_string_equal(b.acks[0].detail, "vm wiped");
	free(buf);
}

/* Every single-byte change anywhere in the file is refused. */
static void test_any_flip_refused(void **s)
{
	struct dstate a, b;
	char *buf, err[128];
	size_t len;

	fill(&a);
	assert_int_equal(state_format(&a, key, &buf, &len), 0);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		assert_false(state_parse(buf, len, key, &b, err, sizeof(err)));
		buf[i] ^= 0x01;
	}
	assert_false(state_parse(buf, len - 1, key, &b, err, sizeof(err)));
	free(buf);
}

static void test_lease_extension_forgery_refused(void **s)
{
	struct dstate a, b;
	char *buf, *p, err[128];
	size_t len;

	fill(&a);
	assert_int_equal(state_format(&a, key, &buf, &len), 0);
	/* An attacker edits exp to a later time, same length. */
	p = strstr(buf, "1764367200");
	assert_non_null(p);
	p[3] = '9';
	assert_false(state_parse(buf, len, key, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "MAC mismatch"));
	free(buf);
}

static void test_wrong_key_refused(void **s)
{
	struct dstate a, b;
	uint8_t other[STATE_KEY_LEN] = { 9 };
	char *buf, err[128];
	size_t len;

	fill(&a);
	assert_int_equal(state_format(&a, key, &buf, &len), 0);
	assert_false(state_parse(buf, len, other, &b, err, sizeof(err)));
	free(buf);
}

static void test_garbage(void **s)
{
	struct dstate b;
	char err[128];
	static const char *bad[] = {
		"",
		"PVMSTATE1 ",
		"PVMSTATE2 0000000000000000000000000000000000000000000000000000000000000000\n{}",
		"PVMSTATE1 zz00000000000000000000000000000000000000000000000000000000000000\n{}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(state_parse(bad[i], strlen(bad[i]), key, &b, err, sizeof(err)));
}

/* A MAC-valid body that is semantically wrong is still refused. */
static void test_valid_mac_bad_body(void **s)
{
	struct dstate a, b;
	char *buf, err[128];
	size_t len;

	fill(&a);
	strcpy(a.vms[0].id, "not-a-uuid");
	assert_int_equal(state_format(&a, key, &buf, &len), 0);
	assert_false(state_parse(buf, len, key, &b, err, sizeof(err)));
	assert_non_null(strstr(err, "vm record"));
	free(buf);
}

static void test_save_load_atomic(void **s)
{
	char dir[] = "/tmp/pvm-test-state-XXXXXX", path[128], tmp[160], err[128];
	struct dstate a, b;
	struct stat sb;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(state_load(path, key, &b, err, sizeof(err)), -ENOENT);
	fill(&a);
	assert_int_equal(state_save(path, key, &a), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);
	assert_int_equal(state_load(path, key, &b, err, sizeof(err)), 0);
	assert_int_equal(b.seq, 42);
	assert_int_equal(truncate(path, 50), 0);
	assert_int_equal(state_load(path, key, &b, err, sizeof(err)), -EBADMSG);
	assert_int_equal(remove_tree(dir), 0);
}

static void test_tables(void **s)
{
	struct dstate st;
	struct journal_ent e = { .op = JOURNAL_WIPE_DEVICE };
	char id[ID_LEN + 1];

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < STATE_MAX_VMS; i++) {
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
		assert_non_null(state_vm_add(&st, id));
	}
	assert_null(state_vm_add(&st, "00000000-0000-4000-8000-999999999999"));
	assert_non_null(state_vm_add(&st, id)); /* existing one is found */
	state_vm_remove(&st, "00000000-0000-4000-8000-000000000000");
	assert_int_equal(st.n_vms, STATE_MAX_VMS - 1);
	assert_null(state_vm(&st, "00000000-0000-4000-8000-000000000000"));
	assert_non_null(state_vm(&st, id));
	assert_int_equal(state_journal_add(&st, &e), 0);
	assert_int_equal(state_journal_add(&st, &e), 0);
	assert_int_equal(st.n_journal, 1); /* the same wipe is journaled once */
	assert_true(is_uuid("0f8c0000-0000-4000-8000-000000000000"));
	assert_false(is_uuid("0F8C0000-0000-4000-8000-000000000000"));
	assert_false(is_uuid("0f8c0000-0000-4000-8000-00000000000"));
	assert_false(is_uuid("0f8c0000-0000-4000-8000-0000000000000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_any_flip_refused),
		cmocka_unit_test(test_lease_extension_forgery_refused),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_valid_mac_bad_body),
		cmocka_unit_test(test_save_load_atomic),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
