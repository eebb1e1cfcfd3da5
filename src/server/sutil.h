/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by pocketvm-server and pocketvm-admin: random ids and
 * tokens, hashing, constant-time compare, name validation, bounded JSON
 * parsing.
 */
#ifndef POCKETVM_SERVER_SUTIL_H
#define POCKETVM_SERVER_SUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_LEN 36
#define SHA256_HEX_LEN 64

/* Fills out (UUID_LEN + 1 bytes) with a random version-4 UUID. 0 or -EIO. */
int uuid_random(char out[UUID_LEN + 1]);

/*
 * Makes a secret token "<prefix><43 base64url chars>" (256 random bits) in
 * out (size >= strlen(prefix) + 44). 0 or -EIO/-ENOSPC.
 */
int token_random(const char *prefix, char *out, size_t size);

/* Hex SHA-256 of buf into out (SHA256_HEX_LEN + 1 bytes). */
void sha256_hex(const void *buf, size_t len, char out[SHA256_HEX_LEN + 1]);

/* Constant-time string equality (time depends only on the lengths). */
bool str_eq_ct(const char *a, const char *b);

/* True for 1..max characters of [A-Za-z0-9._-], not starting with '.'. */
bool name_valid(const char *s, size_t max);

/* True for a lowercase 8-4-4-4-12 hex UUID. */
bool uuid_valid(const char *s);

/* True for 1..max characters of base64url. */
bool b64url_valid(const char *s, size_t min, size_t max);

/*
 * Returns true when the JSON text buf[0..len) nests arrays/objects at most
 * max_depth deep (strings are skipped correctly). Does not validate the JSON
 * otherwise; it runs before json_loadb so a hostile document cannot make the
 * parser recurse deeply.
 */
bool json_depth_ok(const char *buf, size_t len, unsigned max_depth);

/*
 * Parses an untrusted JSON object: depth-checked, no duplicate keys, NUL
 * rejected. Returns NULL (and sets *why to a static string) on failure.
 */
json_t *json_parse_untrusted(const char *buf, size_t len, unsigned max_depth, const char **why);

/*
 * Parses an HTTP Range header value for a resource of size bytes (one range
 * only: "bytes=A-B", "bytes=A-", "bytes=-N"). Returns 1 with [*first, *last]
 * set, 0 when the header must be ignored (malformed or several ranges: serve
 * the whole file), -1 when unsatisfiable (416).
 */
int http_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last);

/* Seconds since the epoch. */
int64_t now_s(void);

/*
 * Makes jansson wipe every buffer it frees (private JWKs pass through
 * jansson strings). Call once at start-up before any JSON is created.
 */
void json_use_wiping_allocator(void);

#endif
