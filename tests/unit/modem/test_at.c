// SPDX-License-Identifier: Apache-2.0
/* V.250 line assembly and command splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "modem/at.h"

/* Parameters point into the iterator: it outlives each parse. */
static struct at_iter it;

static int parse(const char *line, struct at_cmd *cmds, int max)
{
	int n = 0, r;

	assert_true(at_iter_init(&it, line, strlen(line)));
	while (n < max && (r = at_iter_next(&it, &cmds[n])) > 0)
		n++;
	return r < 0 ? r : n;
}

static void test_basic_commands(void **state)
{
	struct at_cmd c[8];

	assert_int_equal(parse("e0v1&c1s0=2s3?z", c, 8), 6);
	assert_string_equal(c[0].name, "E");
	assert_int_equal(c[0].type, AT_SET);
	assert_int_equal(c[0].params[0].num, 0);
	assert_string_equal(c[1].name, "V");
	assert_string_equal(c[2].name, "&C");
	assert_int_equal(c[2].params[0].num, 1);
	assert_string_equal(c[3].name, "S");
	assert_int_equal(c[3].index, 0);
	assert_int_equal(c[3].type, AT_SET);
	assert_int_equal(c[3].params[0].num, 2);
	assert_int_equal(c[4].index, 3);
	assert_int_equal(c[4].type, AT_READ);
	assert_string_equal(c[5].name, "Z");
	assert_int_equal(c[5].type, AT_EXEC);
}

static void test_extended_commands(void **state)
{
	struct at_cmd c[4];
	long v;
	const char *s;

	assert_int_equal(parse("+CMGF=0;+CPMS=\"SM\",\"ME\";+CREG?;+CNMI=?", c, 4), 4);
	assert_string_equal(c[0].name, "+CMGF");
	assert_true(at_param_num(&c[0], 0, &v));
	assert_int_equal(v, 0);
	assert_true(at_param_str(&c[1], 1, &s));
	assert_string_equal(s, "ME");
	assert_int_equal(c[2].type, AT_READ);
	assert_int_equal(c[3].type, AT_TEST);
}

static void test_strings_keep_case_and_separators(void **state)
{
	struct at_cmd c[2];
	const char *s;

	/* Quoted text keeps case, spaces, commas and semicolons; \HH is a hex escape. */
	assert_int_equal(parse("+CUSD=1,\"Hi; there, You\\22\",15;+cgmi", c, 2), 2);
	assert_true(at_param_str(&c[0], 1, &s));
	assert_string_equal(s, "Hi; there, You\"");
	assert_string_equal(c[1].name, "+CGMI");
}

static void test_omitted_params(void **state)
{
	struct at_cmd c[1];
	long v;

	assert_int_equal(parse("+CNMI=2,,2,,0", c, 1), 1);
	assert_int_equal(c[0].nparams, 5);
	assert_true(at_param_omitted(&c[0], 1));
	assert_true(at_param_omitted(&c[0], 7));
	assert_true(at_param_num(&c[0], 2, &v));
	assert_int_equal(v, 2);
}

static void test_dial_takes_rest_of_line(void **state)
{
	struct at_cmd c[2];

	assert_int_equal(parse("D+1 555 0100;", c, 2), 1);
	assert_string_equal(c[0].name, "D");
	assert_string_equal(c[0].params[0].str, "+15550100;");
}

static void test_syntax_errors(void **state)
{
	struct at_cmd c[20];

	assert_int_equal(parse("+CMGF=\"unterminated", c, 2), -EINVAL);
	assert_int_equal(parse("+", c, 2), -EINVAL);
	assert_int_equal(parse("+CMGF=1\"x\"", c, 2), -EINVAL);
	assert_int_equal(parse("+CMGF=\"a\"b", c, 2), -EINVAL);
	assert_int_equal(parse("S=3", c, 2), -EINVAL);
	assert_int_equal(parse("S999=1", c, 2), -EINVAL);
	assert_int_equal(parse("+CUSD=\"\\zz\"", c, 2), -EINVAL);
	assert_int_equal(parse("+ABCDEFGHIJKLMNOPQRSTUVWXYZ", c, 2), -EINVAL);
	assert_int_equal(parse("+X=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", c, 2), -EINVAL);
	assert_int_equal(parse("E99999999999999999999999", c, 2), -EINVAL);
	assert_int_equal(parse("\x01", c, 2), -EINVAL);
}

static void test_overlong_line_rejected(void **state)
{
	char line[AT_LINE_MAX + 2];

	memset(line, 'E', sizeof(line));
	assert_false(at_iter_init(&it, line, sizeof(line)));
}

struct lines {
	int n;
	enum at_line_kind kind[8];
	char text[8][AT_LINE_MAX + 1];
};

static void feed(struct at_reader *r, const char *bytes, size_t len, struct lines *out)
{
	for (size_t i = 0; i < len; i++) {
		enum at_line_kind kind;
		const char *line;
		size_t n;

		if (at_reader_byte(r, (uint8_t)bytes[i], '\r', 8, &kind, &line, &n)) {
			out->kind[out->n] = kind;
			memcpy(out->text[out->n], line, n);
			out->text[out->n][n] = '\0';
			out->n++;
		}
	}
}

static void test_reader(void **state)
{
	static const char input[] = "garbage\nat+cgmi\r\nATE0X\b1\rA/xx\r\001\377AT\r";
	struct at_reader r;
	struct lines out = { 0 };

	at_reader_init(&r);
	feed(&r, input, sizeof(input) - 1, &out);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.text[0], "+cgmi");
	assert_string_equal(out.text[1], "E01");
	assert_int_equal(out.kind[2], AT_LINE_REPEAT);
	assert_string_equal(out.text[2], "E01");
	assert_string_equal(out.text[3], "");
}

static void test_reader_overlong(void **state)
{
	struct at_reader r;
	struct lines out = { 0 };
	char big[AT_LINE_MAX + 100];

	at_reader_init(&r);
	memset(big, '1', sizeof(big));
	feed(&r, "ATD", 3, &out);
	feed(&r, big, sizeof(big), &out);
	feed(&r, "\rAT\r", 4, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.kind[0], AT_LINE_OVERLONG);
	/* The next line is parsed normally: the channel is not stuck. */
	assert_int_equal(out.kind[1], AT_LINE_COMMAND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_commands),
		cmocka_unit_test(test_extended_commands),
		cmocka_unit_test(test_strings_keep_case_and_separators),
		cmocka_unit_test(test_omitted_params),
		cmocka_unit_test(test_dial_takes_rest_of_line),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_overlong_line_rejected),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_overlong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
