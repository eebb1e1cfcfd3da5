// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the server's parsers and helpers (JSON limits, ranges, names, routes, policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

static void test_json_depth(void **state)
{
	assert_true(json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
	assert_false(json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
	/* Brackets inside strings (with escaped quotes) do not count. */
	assert_true(json_depth_ok("{\"a\":\"[[[[\\\"[[[[\"}", 18, 1));
	assert_false(json_depth_ok("[[[[[[[[[[[[[[[[[[", 18, 16));
}

static void test_json_untrusted(void **state)
{
	const char *why = NULL;
	json_t *j;

	j = json_parse_untrusted("{\"a\":1}", 7, 16, &why);
	assert_non_null(j);
	json_decref(j);
	assert_null(json_parse_untrusted("[1]", 3, 16, &why));
	assert_string_equal(why, "invalid_json");
	assert_null(json_parse_untrusted("{\"a\":1,\"a\":2}", 13, 16, &why));
	assert_null(json_parse_untrusted("{\"a\":\"\\u0000\"}", 14, 16, &why));
	assert_null(
		json_parse_untrusted("{\"a\":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}", 42, 16, &why));
	assert_string_equal(why, "json_too_deep");
}

static void test_range(void **state)
{
	uint64_t a, b;

	assert_int_equal(http_range_parse("bytes=0-99", 1000, &a, &b), 1);
	assert_true(a == 0 && b == 99);
	assert_int_equal(http_range_parse("bytes=900-", 1000, &a, &b), 1);
	assert_true(a == 900 && b == 999);
	assert_int_equal(http_range_parse("bytes=-100", 1000, &a, &b), 1);
	assert_true(a == 900 && b == 999);
	assert_int_equal(http_range_parse("bytes=-5000", 1000, &a, &b), 1);
	assert_true(a == 0 && b == 999);
	assert_int_equal(http_range_parse("bytes=500-5000", 1000, &a, &b), 1);
	assert_true(a == 500 && b == 999);
	assert_int_equal(http_range_parse("bytes=1000-", 1000, &a, &b), -1);
	assert_int_equal(http_range_parse("bytes=-0", 1000, &a, &b), -1);
	/* Malformed or multiple ranges: ignored (whole file). */
	assert_int_equal(http_range_parse("bytes=5-1", 1000, &a, &b), 0);
	assert_int_equal(http_range_parse("bytes=0-1,5-6", 1000, &a, &b), 0);
	assert_int_equal(http_range_parse("items=0-1", 1000, &a, &b), 0);
	assert_int_equal(http_range_parse("bytes=99999999999999999999999-", 1000, &a, &b), 0);
	assert_int_equal(http_range_parse("bytes=", 1000, &a, &b), 0);
}

static void test_names(void **state)
{
	char tok[64], id[UUID_LEN + 1];

	assert_true(name_valid("work-os_1.2", 64));
	assert_false(name_valid(".hidden", 64));
	assert_false(name_valid("a/b", 64));
	assert_false(name_valid("", 64));
	assert_false(name_valid("abcdef", 5));
	assert_int_equal(uuid_random(id), 0);
	assert_true(uuid_valid(id));
	assert_int_equal(id[14], '4');
	assert_false(uuid_valid("0F8C0000-0000-4000-8000-000000000000"));
	assert_int_equal(token_random("pve_", tok, sizeof(tok)), 0);
	assert_int_equal(strlen(tok), 47);
	assert_true(b64url_valid(tok + 4, 43, 43));
	assert_true(str_eq_ct("abc", "abc"));
	assert_false(str_eq_ct("abc", "abd"));
	assert_false(str_eq_ct("abc", "abcd"));
}

static void test_routes(void **state)
{
	struct req r = { 0 };
	bool found;
	const struct route *rt;

	rt = route_lookup(EVHTTP_REQ_POST, "/tang/abc/rec/KID", &r, &found);
	assert_non_null(rt);
	assert_int_equal(rt->auth, AUTH_DEVICE);
	assert_string_equal(r.args[0], "abc");
	assert_string_equal(r.args[1], "KID");
	assert_null(route_lookup(EVHTTP_REQ_GET, "/tang/abc/rec/KID", &r, &found));
	assert_true(found);
	assert_null(route_lookup(EVHTTP_REQ_GET, "/tang//adv", &r, &found));
	assert_false(found);
	assert_null(route_lookup(EVHTTP_REQ_GET, "/v1/server/", &r, &found));
	assert_null(route_lookup(EVHTTP_REQ_GET, "/v1/serverx", &r, &found));
	rt = route_lookup(EVHTTP_REQ_GET, "/v1/admin/audit", &r, &found);
	assert_non_null(rt);
	assert_int_equal(rt->auth, AUTH_AUDIT);
	/* Every admin route needs a token; every device route but enrollment a certificate. */
	for (int i = 0; i < routes_count; i++) {
		if (strncmp(routes[i].pattern, "/v1/admin/", 10) == 0)
			assert_true(routes[i].auth >= AUTH_READ);
		if (routes[i].pattern[1] == 't' || strncmp(routes[i].pattern, "/rec/", 5) == 0)
			assert_int_equal(routes[i].auth, AUTH_DEVICE);
	}
}

static void test_policy(void **state)
{
	const char *why;
	json_t *p;

	p = json_loads("{\"offline_lifetime\":600,\"key_release\":false,"
		       "\"allowed_images\":[\"a\",\"b@1.0\"]}",
		       0, NULL);
	assert_true(policy_valid(p, &why));
	assert_true(policy_image_allowed(p, "a", "9"));
	assert_true(policy_image_allowed(p, "b", "1.0"));
	assert_false(policy_image_allowed(p, "b", "1.1"));
	assert_false(policy_image_allowed(p, "ab", "1"));
	json_decref(p);
	p = json_loads("{\"offline_lifetime\":5}", 0, NULL);
	assert_false(policy_valid(p, &why));
	json_decref(p);
	p = json_loads("{\"wipe_after\":5}", 0, NULL);
	assert_false(policy_valid(p, &why));
	json_decref(p);
	p = json_loads("{\"allowed_images\":[\"../x\"]}", 0, NULL);
	assert_false(policy_valid(p, &why));
	json_decref(p);
}

static void test_ratelimit(void **state)
{
	struct ratelimit *rl = ratelimit_new(100, 3);
	int retry = 0;

	assert_non_null(rl);
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_take(rl, "10.0.0.1", 1, &retry));
	assert_false(ratelimit_take(rl, "10.0.0.1", 1, &retry));
	assert_true(retry >= 1);
	/* Another address has its own bucket. */
	assert_true(ratelimit_take(rl, "10.0.0.2", 1, &retry));
	/* A penalty can drive the balance below zero; refill brings it back. */
	ratelimit_charge(rl, "10.0.0.2", 10);
	assert_false(ratelimit_take(rl, "10.0.0.2", 1, &retry));
	usleep(80 * 1000);
	assert_true(ratelimit_take(rl, "10.0.0.2", 1, &retry));
	/* Many addresses cycle through the fixed table without growing it. */
	for (int i = 0; i < 20000; i++) {
		char a[32];

		snprintf(a, sizeof(a), "192.0.2.%d", i);
		ratelimit_take(rl, a, 1, NULL);
	}
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_depth), cmocka_unit_test(test_json_untrusted),
		cmocka_unit_test(test_range),	   cmocka_unit_test(test_names),
		cmocka_unit_test(test_routes),	   cmocka_unit_test(test_policy),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
