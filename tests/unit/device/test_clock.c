// SPDX-License-Identifier: Apache-2.0
/*
 * The rollback-resistant clock against a fake source: wall clock set back
 * or forward, daemon restarts within a boot, reboots, stale server times,
 * lost state. Each case states the attack it models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "device/clock.h"
#include "device/backoff.h"

#define NS 1000000000LL
#define T0 1764324000LL /* a server time */

struct fake {
	int64_t boot_ns;
	int64_t wall;
	char boot_id[TCLOCK_BOOT_ID_LEN + 1];
	int fail_boot_id;
};

static int64_t f_boot(void *ctx)
{
	return ((struct fake *)ctx)->boot_ns;
}

static int64_t f_wall(void *ctx)
{
	return ((struct fake *)ctx)->wall;
}

static int f_id(void *ctx, char out[TCLOCK_BOOT_ID_LEN + 1])
{
	struct fake *f = ctx;

	if (f->fail_boot_id)
		return -ENOENT;
	memcpy(out, f->boot_id, sizeof(f->boot_id));
	return 0;
}

static const struct tclock_source_ops fake_ops = { f_boot, f_wall, f_id };

static void fake_boot(struct fake *f, char c, int64_t wall)
{
	memset(f->boot_id, c, TCLOCK_BOOT_ID_LEN);
	f->boot_id[TCLOCK_BOOT_ID_LEN] = '\0';
	f->boot_ns = 3 * NS; /* the daemon starts a few seconds into the boot */
	f->wall = wall;
	f->fail_boot_id = 0;
}

/* Advances both real clocks by s seconds (what a running phone sees). */
static void pass(struct fake *f, int64_t s)
{
	f->boot_ns += s * NS;
	f->wall += s;
}

static void test_untrusted_until_server_time(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_int_equal(tclock_trusted(&tc), 0);
	/* Without any trusted time, only the wall clock can be used. */
	assert_int_equal(tclock_now(&tc), T0);
	assert_true(tclock_accept_server(&tc, T0 + 5));
	assert_int_equal(tclock_trusted(&tc), T0 + 5);
	pass(&f, 100);
	assert_int_equal(tclock_trusted(&tc), T0 + 105);
	assert_int_equal(tclock_now(&tc), T0 + 105);
}

static void test_wall_set_back_gains_nothing(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 3600);
	f.wall -= 30 * 86400; /* user sets the clock a month back */
	assert_int_equal(tclock_now(&tc), T0 + 3600);
	pass(&f, 60);
	assert_int_equal(tclock_now(&tc), T0 + 3660);
}

static void test_wall_forward_shortens_only(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	f.wall += 86400;
	/* Leases are judged earlier ... */
	assert_int_equal(tclock_now(&tc), T0 + 86400);
	/* ... but trusted time (and the high-water mark) does not follow the wall. */
	assert_int_equal(tclock_trusted(&tc), T0);
	/* so a genuine server time is still accepted afterwards */
	pass(&f, 10);
	assert_true(tclock_accept_server(&tc, T0 + 10));
}

static void test_stale_server_time_refused(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 7200);
	/* A replayed answer from two hours ago. */
	assert_false(tclock_accept_server(&tc, T0));
	assert_int_equal(tclock_trusted(&tc), T0 + 7200);
	/* Within the skew: accepted, but time never goes back. */
	assert_true(tclock_accept_server(&tc, T0 + 7200 - TCLOCK_SKEW));
	assert_int_equal(tclock_trusted(&tc), T0 + 7200);
	assert_false(tclock_accept_server(&tc, T0 + 7200 - TCLOCK_SKEW - 1));
	assert_false(tclock_accept_server(&tc, 0));
	assert_false(tclock_accept_server(&tc, -5));
}

static void test_server_time_ahead_moves_forward(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 10);
	assert_true(tclock_accept_server(&tc, T0 + 500));
	assert_int_equal(tclock_trusted(&tc), T0 + 500);
	pass(&f, 1);
	assert_int_equal(tclock_trusted(&tc), T0 + 501);
}

static void test_restart_same_boot_keeps_anchor(void **s)
{
	struct fake f;
	struct tclock tc, tc2;
	struct tclock_saved sv;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 100);
	tclock_save(&tc, &sv);
	assert_int_equal(sv.hwm, T0 + 100);
	/* The daemon is killed and restarted 500 s later, wall set back a day. */
	pass(&f, 500);
	f.wall -= 86400;
	assert_int_equal(tclock_init(&tc2, &fake_ops, &f, &sv), 0);
	assert_int_equal(tclock_trusted(&tc2), T0 + 600);
	assert_int_equal(tclock_now(&tc2), T0 + 600);
}

static void test_reboot_counts_from_hwm(void **s)
{
	struct fake f;
	struct tclock tc, tc2;
	struct tclock_saved sv;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 1000);
	tclock_save(&tc, &sv);
	/* Reboot; the phone was off for a day, then the RTC was set back a week. */
	fake_boot(&f, 'b', T0 + 1000 + 86400 - 7 * 86400);
	pass(&f, 20);
	assert_int_equal(tclock_init(&tc2, &fake_ops, &f, &sv), 0);
	/* Every second of this boot is counted on top of the mark. */
	assert_int_equal(tclock_trusted(&tc2), T0 + 1000 + 23);
	assert_int_equal(tclock_now(&tc2), T0 + 1023);
}

static void test_reboot_honest_wall_counts_power_off(void **s)
{
	struct fake f;
	struct tclock tc, tc2;
	struct tclock_saved sv;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	tclock_save(&tc, &sv);
	fake_boot(&f, 'b', T0 + 86400); /* off for a day, RTC untouched */
	assert_int_equal(tclock_init(&tc2, &fake_ops, &f, &sv), 0);
	assert_int_equal(tclock_now(&tc2), T0 + 86400);
	assert_int_equal(tclock_trusted(&tc2), T0 + 3);
}

static void test_boottime_backwards_is_clamped(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 50);
	assert_int_equal(tclock_trusted(&tc), T0 + 50);
	f.boot_ns -= 40 * NS;
	assert_int_equal(tclock_trusted(&tc), T0 + 50);
}

static void test_saved_anchor_from_same_boot_bogus(void **s)
{
	struct fake f;
	struct tclock tc;
	struct tclock_saved sv = { .hwm = T0 + 100, .anchor_time = T0, .anchor_boot_ns = -1 };

	fake_boot(&f, 'a', T0);
	memcpy(sv.boot_id, f.boot_id, sizeof(sv.boot_id));
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, &sv), 0);
	/* A negative anchor is ignored; the mark still holds. */
	assert_true(tclock_trusted(&tc) >= T0 + 100);
}

static void test_hwm_never_decreases_with_old_anchor(void **s)
{
	struct fake f;
	struct tclock tc;
	struct tclock_saved sv = { .hwm = T0 + 5000, .anchor_time = T0, .anchor_boot_ns = 0 };

	/* Same boot, anchor older than the mark: the mark wins. */
	fake_boot(&f, 'a', T0);
	memcpy(sv.boot_id, f.boot_id, sizeof(sv.boot_id));
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, &sv), 0);
	assert_int_equal(tclock_trusted(&tc), T0 + 5000);
}

static void test_no_boot_id(void **s)
{
	struct fake f;
	struct tclock tc;

	fake_boot(&f, 'a', T0);
	f.fail_boot_id = 1;
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), -ENOENT);
}

static void test_zero_saved_is_no_saved(void **s)
{
	struct fake f;
	struct tclock tc;
	struct tclock_saved sv = { 0 };

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, &sv), 0);
	assert_int_equal(tclock_trusted(&tc), 0);
}

/* A lease with 12 h offline lifetime, exercised across every event at once. */
static void test_lease_lifetime_scenario(void **s)
{
	struct fake f;
	struct tclock tc;
	struct tclock_saved sv;
	int64_t exp = T0 + 43200;

	fake_boot(&f, 'a', T0);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, NULL), 0);
	assert_true(tclock_accept_server(&tc, T0));
	pass(&f, 6 * 3600);
	f.wall -= 10 * 3600; /* rollback attempt */
	tclock_save(&tc, &sv);
	/* daemon restart, same boot */
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, &sv), 0);
	pass(&f, 3 * 3600);
	tclock_save(&tc, &sv);
	/* reboot without network, RTC set back further */
	fake_boot(&f, 'c', T0 - 86400);
	assert_int_equal(tclock_init(&tc, &fake_ops, &f, &sv), 0);
	assert_true(tclock_now(&tc) < exp);
	pass(&f, 3 * 3600 - 3);
	assert_true(tclock_now(&tc) >= exp);
}

/* Check-in scheduling: jitter stays within +-10 % and spreads; backoff doubles to the cap. */
static void test_jitter_and_backoff(void **s)
{
	int64_t lo = INT64_MAX, hi = 0, b = 0;
	int64_t want[] = { 2, 4, 8, 16, 32, 64, 128, 256, 300, 300 };

	for (uint32_t r = 0; r < 1000; r++) {
		int64_t v = sched_jitter(300, r * 2654435761u);

		assert_true(v >= 270 && v <= 330);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	assert_true(hi - lo >= 50); /* a fleet spreads over the whole window */
	assert_int_equal(sched_jitter(1, 12345), 1);
	assert_int_equal(sched_jitter(0, 7), 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		b = sched_backoff(b, 300);
		assert_int_equal(b, want[i]);
	}
	assert_int_equal(sched_backoff(0, 0), 1);
	assert_int_equal(sched_backoff(4, 5), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untrusted_until_server_time),
		cmocka_unit_test(test_wall_set_back_gains_nothing),
		cmocka_unit_test(test_wall_forward_shortens_only),
		cmocka_unit_test(test_stale_server_time_refused),
		cmocka_unit_test(test_server_time_ahead_moves_forward),
		cmocka_unit_test(test_restart_same_boot_keeps_anchor),
		cmocka_unit_test(test_reboot_counts_from_hwm),
		cmocka_unit_test(test_reboot_honest_wall_counts_power_off),
		cmocka_unit_test(test_boottime_backwards_is_clamped),
		cmocka_unit_test(test_saved_anchor_from_same_boot_bogus),
		cmocka_unit_test(test_hwm_never_decreases_with_old_anchor),
		cmocka_unit_test(test_no_boot_id),
		cmocka_unit_test(test_zero_saved_is_no_saved),
		cmocka_unit_test(test_lease_lifetime_scenario),
		cmocka_unit_test(test_jitter_and_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
