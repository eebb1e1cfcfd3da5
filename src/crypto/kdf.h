/* SPDX-License-Identifier: Apache-2.0 */
/* Hashes, HMAC and HKDF (all SHA-256) over OpenSSL 3. */
#ifndef POCKETVM_CRYPTO_KDF_H
#define POCKETVM_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define SHA256_LEN 32

/* HKDF-SHA-256 (RFC 5869), extract and expand. 0 or -EIO/-EINVAL. */
int hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
		const void *info, size_t info_len, void *out, size_t out_len) __must_check;

int hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
		uint8_t out[SHA256_LEN]) __must_check;

int sha256(const void *msg, size_t len, uint8_t out[SHA256_LEN]) __must_check;

#endif
