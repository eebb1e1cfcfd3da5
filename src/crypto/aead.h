/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-256-GCM, the one AEAD pocketvm uses (96-bit nonces, 128-bit tags).
 *
 * aead_seal/aead_open are one-shot helpers for small messages (wrapped
 * keys). struct aead is a reusable context for the block path: keyed once,
 * then sealing or opening many blocks with per-block nonces, so the AES key
 * schedule is expanded once per request rather than per block.
 */
#ifndef POCKETVM_CRYPTO_AEAD_H
#define POCKETVM_CRYPTO_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16

struct aead;

struct aead *aead_new(void);
void aead_free(struct aead *a);

/* (Re)keys the context; the key is copied into OpenSSL's context. */
int aead_set_key(struct aead *a, const uint8_t key[AEAD_KEY_LEN]) __must_check;

/* Seals len bytes from in to out (may alias); writes the tag. 0 or -errno. */
int aead_seal_with(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		   size_t aad_len, const void *in, size_t len, void *out,
		   uint8_t tag[AEAD_TAG_LEN]) __must_check;

/*
 * Opens len bytes; returns 0, or -EBADMSG when authentication fails (then
 * out is wiped: no unauthenticated plaintext ever leaves this function).
 */
int aead_open_with(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		   size_t aad_len, const void *in, size_t len, void *out,
		   const uint8_t tag[AEAD_TAG_LEN]) __must_check;

/* One-shot forms. */
int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
	      size_t aad_len, const void *in, size_t len, void *out,
	      uint8_t tag[AEAD_TAG_LEN]) __must_check;
int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
	      size_t aad_len, const void *in, size_t len, void *out,
	      const uint8_t tag[AEAD_TAG_LEN]) __must_check;

/* Fills buf with len bytes from OpenSSL's DRBG. 0 or -EIO. */
int crypto_random(void *buf, size_t len) __must_check;

#endif
