// SPDX-License-Identifier: Apache-2.0
#include "crypto/aead.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct aead {
	EVP_CIPHER_CTX *ctx;
	bool keyed;
};

struct aead *aead_new(void)
{
	struct aead *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx) {
		free(a);
		return NULL;
	}
	return a;
}

void aead_free(struct aead *a)
{
	if (!a)
		return;
	/* EVP_CIPHER_CTX_free cleanses the expanded key schedule. */
	EVP_CIPHER_CTX_free(a->ctx);
	free(a);
}

int aead_set_key(struct aead *a, const uint8_t key[AEAD_KEY_LEN])
{
	/* Two calls: cipher first, so the IV length can be fixed before keying. */
	if (EVP_CipherInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, 1) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_IVLEN, AEAD_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, 1) != 1)
		return -EIO;
	a->keyed = true;
	return 0;
}

static int aead_run(struct aead *a, bool enc, const uint8_t *nonce, const void *aad, size_t aad_len,
		    const void *in, size_t len, void *out, uint8_t *tag)
{
	int n;

	if (!a->keyed || len > INT_MAX || aad_len > INT_MAX)
		return -EINVAL;
	if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, enc) != 1)
		return -EIO;
	if (aad_len && EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aad_len) != 1)
		return -EIO;
	if (len && EVP_CipherUpdate(a->ctx, out, &n, in, (int)len) != 1)
		return -EIO;
	if (enc) {
		if (EVP_CipherFinal_ex(a->ctx, (uint8_t *)out + len, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, tag) != 1)
			return -EIO;
		return 0;
	}
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, tag) != 1)
		return -EIO;
	if (EVP_CipherFinal_ex(a->ctx, (uint8_t *)out + len, &n) != 1) {
		OPENSSL_cleanse(out, len);
		return -EBADMSG;
	}
	return 0;
}

int aead_seal_with(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		   size_t aad_len, const void *in, size_t len, void *out, uint8_t tag[AEAD_TAG_LEN])
{
	return aead_run(a, true, nonce, aad, aad_len, in, len, out, tag);
}

int aead_open_with(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		   size_t aad_len, const void *in, size_t len, void *out,
		   const uint8_t tag[AEAD_TAG_LEN])
{
	return aead_run(a, false, nonce, aad, aad_len, in, len, out, (uint8_t *)tag);
}

static int aead_oneshot(bool enc, const uint8_t *key, const uint8_t *nonce, const void *aad,
			size_t aad_len, const void *in, size_t len, void *out, uint8_t *tag)
{
	struct aead *a = aead_new();
	int ret;

	if (!a)
		return -ENOMEM;
	ret = aead_set_key(a, key);
	if (!ret)
		ret = aead_run(a, enc, nonce, aad, aad_len, in, len, out, tag);
	aead_free(a);
	return ret;
}

int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
	      size_t aad_len, const void *in, size_t len, void *out, uint8_t tag[AEAD_TAG_LEN])
{
	return aead_oneshot(true, key, nonce, aad, aad_len, in, len, out, tag);
}

int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
	      size_t aad_len, const void *in, size_t len, void *out,
	      const uint8_t tag[AEAD_TAG_LEN])
{
	return aead_oneshot(false, key, nonce, aad, aad_len, in, len, out, (uint8_t *)tag);
}

int crypto_random(void *buf, size_t len)
{
	if (len > INT_MAX)
		return -EINVAL;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}
