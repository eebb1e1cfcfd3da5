// SPDX-License-Identifier: Apache-2.0
#include "server/sutil.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

int uuid_random(char out[UUID_LEN + 1])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_random(const char *prefix, char *out, size_t size)
{
	unsigned char b[32];
	size_t plen = strlen(prefix), o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (size < plen + 44)
		return -ENOSPC;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	memcpy(out, prefix, plen);
	for (size_t i = 0; i < sizeof(b); i++) {
		acc = (acc << 8) | b[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[plen + o++] = b64url_chars[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[plen + o++] = b64url_chars[(acc << (6 - bits)) & 63];
	out[plen + o] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

void sha256_hex(const void *buf, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool str_eq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

bool name_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || s[0] == '.' || s[0] == '\0')
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool uuid_valid(const char *s)
{
	if (!s || strlen(s) != UUID_LEN)
		return false;
	for (int i = 0; i < UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

bool b64url_valid(const char *s, size_t min, size_t max)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < min || n > max)
		return false;
	return strspn(s, b64url_chars) == n;
}

bool json_depth_ok(const char *buf, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

json_t *json_parse_untrusted(const char *buf, size_t len, unsigned max_depth, const char **why)
{
	json_error_t err;
	json_t *j;

	if (!json_depth_ok(buf, len, max_depth)) {
		*why = "json_too_deep";
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		*why = "invalid_json";
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*why = "invalid_json";
		return NULL;
	}
	return j;
}

static bool parse_u64(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

int http_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t a, b;

	if (strncmp(h, "bytes=", 6) != 0)
		return 0;
	h += 6;
	if (*h == '-') {
		h++;
		if (!parse_u64(&h, &b) || *h)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (!parse_u64(&h, &a) || *h++ != '-')
		return 0;
	if (*h == '\0') {
		b = UINT64_MAX;
	} else if (!parse_u64(&h, &b) || *h || b < a) {
		return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static void *wipe_malloc(size_t n)
{
	return malloc(n);
}

static void wipe_free(void *p)
{
	if (p)
		OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

void json_use_wiping_allocator(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}
