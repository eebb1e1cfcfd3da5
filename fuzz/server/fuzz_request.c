// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for what the server parses from a request before any
 * handler runs: the path (route table and captures), the Range header, and
 * the JSON body (depth check, strict parse, policy validation).
 * Input: "PATH\nRANGE\nBODY".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum evhttp_cmd_type methods[] = { EVHTTP_REQ_GET, EVHTTP_REQ_POST,
							EVHTTP_REQ_PUT, EVHTTP_REQ_DELETE };
	char *buf = malloc(size + 1), *path, *range, *body;
	const char *why;
	uint64_t a, b;
	struct req r;
	bool found;
	json_t *j;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	path = buf;
	range = strchr(path, '\n');
	if (range)
		*range++ = '\0';
	body = range ? strchr(range, '\n') : NULL;
	if (body)
		*body++ = '\0';
	if (strlen(path) <= MAX_URI) {
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			memset(&r, 0, sizeof(r));
			route_lookup(methods[i], path, &r, &found);
		}
	}
	if (range && http_range_parse(range, 1000, &a, &b) == 1 && (a > b || b >= 1000))
		abort();
	if (body) {
		size_t n = size - (size_t)(body - buf);

		j = json_parse_untrusted(body, n, MAX_JSON_DEPTH, &why);
		if (j) {
			enum cmd_type t;

			policy_valid(j, &why);
			cmd_type_parse(json_string_value(json_object_get(j, "type")), &t);
			json_decref(j);
		}
	}
	free(buf);
	return 0;
}
