// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* Captures what the logger writes through a pipe. */
static size_t capture(void (*fn)(void), char *out, size_t cap)
{
	int p[2];
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	log_set_fd(p[1]);
	fn();
	log_set_fd(STDERR_FILENO);
	close(p[1]);
	n = read(p[0], out, cap - 1);
	close(p[0]);
	assert_true(n >= 0);
	out[n] = '\0';
	return (size_t)n;
}

static void emit_info(void)
{
	log_info("vioblk: descriptor chain longer than queue (%u)", 256u);
	log_debug("not shown at info level");
}

static void test_format_and_level(void **state)
{
	char buf[512];

	log_set_ident("pocketvm-vmm");
	log_set_level(LOG_LEVEL_INFO);
	capture(emit_info, buf, sizeof(buf));
	assert_string_equal(
		buf, "pocketvm-vmm: info: vioblk: descriptor chain longer than queue (256)\n");
}

static void emit_long(void)
{
	char big[4096];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_error("%s", big);
}

static void test_long_message_truncated_to_one_line(void **state)
{
	char buf[8192];
	size_t n = capture(emit_long, buf, sizeof(buf));

	assert_true(n > 100 && n <= 1024);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
}

static void test_parse_level(void **state)
{
	enum log_level l = LOG_LEVEL_ERROR;

	assert_true(log_parse_level("debug", &l));
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_false(log_parse_level("verbose", &l));
	assert_int_equal(l, LOG_LEVEL_DEBUG);
}

static void test_range_ok(void **state)
{
	assert_true(range_ok(0, 4096, 4096));
	assert_true(range_ok(4096, 0, 4096));
	assert_false(range_ok(4095, 2, 4096));
	assert_false(range_ok(1, UINT64_MAX, 4096));
	assert_false(range_ok(UINT64_MAX, 1, 4096));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_level),
		cmocka_unit_test(test_long_message_truncated_to_one_line),
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_range_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
