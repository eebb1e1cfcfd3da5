// SPDX-License-Identifier: Apache-2.0
#include "device/jsonx.h"

#include <string.h>

#define JX_MAX_DEPTH 16

bool jx_str(const json_t *o, const char *key, char *out, size_t cap)
{
	const json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (n >= cap || memchr(json_string_value(v), '\0', n))
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

bool jx_str_opt(const json_t *o, const char *key, char *out, size_t cap)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		out[0] = '\0';
		return true;
	}
	return jx_str(o, key, out, cap);
}

bool jx_int(const json_t *o, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

/* Bracket nesting outside strings; jansson's own limit (2048) is too generous. */
static bool depth_ok(const char *p, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JX_MAX_DEPTH)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

json_t *jx_load(const void *buf, size_t len, size_t max)
{
	if (len > max || !depth_ok(buf, len))
		return NULL;
	return json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
}
