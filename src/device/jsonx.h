/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded accessors for untrusted JSON (server answers, control messages, state). */
#ifndef POCKETVM_DEVICE_JSONX_H
#define POCKETVM_DEVICE_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies string member key into out[cap]; false if absent, not a string, or too long. */
bool jx_str(const json_t *o, const char *key, char *out, size_t cap);
/* Like jx_str, but an absent or null member yields "" and true. */
bool jx_str_opt(const json_t *o, const char *key, char *out, size_t cap);
/* Integer member key into *out; false if absent or not an integer. */
bool jx_int(const json_t *o, const char *key, int64_t *out);
/* Loads at most max bytes of JSON; NULL if larger, malformed or deeper than 16. */
json_t *jx_load(const void *buf, size_t len, size_t max);

#endif
