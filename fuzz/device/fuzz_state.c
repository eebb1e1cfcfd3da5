// SPDX-License-Identifier: Apache-2.0
/*
 * The state file parser. The first 32 bytes are the MAC key, the rest the
 * file; half the inputs get a correct MAC recomputed, so the JSON body is
 * reached and fuzzed too, not only the MAC check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "device/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[STATE_KEY_LEN] = { 0 }, mac[32];
	struct dstate *st = malloc(sizeof(*st));
	unsigned int n = 32;
	char err[256], *buf;
	size_t hdr = 75; /* "PVMSTATE1 " + 64 hex + "\n" */

	if (!st || size < 1)
		goto out;
	buf = malloc(size + hdr);
	if (!buf)
		goto out;
	if (data[0] & 1) {
		/* A body with a valid MAC under the all-zero key. */
		HMAC(EVP_sha256(), key, sizeof(key), data + 1, size - 1, mac, &n);
		memcpy(buf, "PVMSTATE1 ", 10);
		for (int i = 0; i < 32; i++) {
			static const char hex[] = "0123456789abcdef";

			buf[10 + 2 * i] = hex[mac[i] >> 4];
			buf[11 + 2 * i] = hex[mac[i] & 15];
		}
		buf[74] = '\n';
		memcpy(buf + hdr, data + 1, size - 1);
		state_parse(buf, hdr + size - 1, key, st, err, sizeof(err));
	} else {
		state_parse(data + 1, size - 1, key, st, err, sizeof(err));
	}
	free(buf);
out:
	free(st);
	return 0;
}
