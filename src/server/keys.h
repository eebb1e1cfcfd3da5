/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's JOSE keys and operations (libjose):
 *   - the advertisement key (ES512, as Tang's signing key) signs /adv;
 *   - the lease key (ES256) signs leases, image manifests and audit entries;
 *   - per-VM exchange keys (P-521, ECMR) answer /rec.
 * Keys live in STATE/adv.jwk and STATE/lease.jwk (mode 0600); a struct keys is one thread's copy.
 */
#ifndef POCKETVM_SERVER_KEYS_H
#define POCKETVM_SERVER_KEYS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

#include "common/util.h"
#include "server/sutil.h"

#define THP_MAX 96

struct keys {
	json_t *adv; /* public half of the ES512 advertisement key */
	char *adv_priv; /* its private JWK text, in OpenSSL's secure heap */
	json_t *lease_pub; /* public half of the ES256 lease key, with "kid" */
	char adv_thp[THP_MAX];
	char adv_thp_s1[THP_MAX];
	char lease_kid[THP_MAX];
	char server_id[UUID_LEN + 1];
	EVP_PKEY *lease_pkey; /* the private lease key; its scalar is in the secure heap */
	unsigned char *kek; /* 32 bytes (STATE/kek), secure heap: seals VM keys at rest */
};

/*
 * Loads the keys from dir, creating missing ones. Sets up OpenSSL's secure
 * heap (mlocked, 2 MiB) first: every private key of the process lives there,
 * the CA's and TLS's included; failing that is an error. 0 or -errno (logged).
 */
int __must_check keys_load_or_create(struct keys *k, const char *dir);
/* Deep copy for another thread. 0 or -ENOMEM. */
int __must_check keys_dup(struct keys *dst, const struct keys *src);
void keys_release(struct keys *k);

/* RFC 7638 thumbprint of jwk with hash "S256"/"S1" into out. */
bool jwk_thumbprint(const json_t *jwk, const char *hash, char out[THP_MAX]);

/*
 * A new VM exchange key for VM vm: *sealed (its private JWK sealed with
 * keys_seal(), caller frees), *adv_text (the signed Tang advertisement for
 * it), its S256 and S1 thumbprints.
 */
int __must_check keys_vm_new(const struct keys *k, const char *vm, char **sealed, char **adv_text,
			     char kid[THP_MAX], char kid_s1[THP_MAX]);

/*
 * Seals text with AES-256-GCM under the key-encryption key, aad (the VM id)
 * bound as associated data: "pvk1.<base64url(nonce || ciphertext || tag)>".
 * A database dump alone then reveals no exchange key. Caller frees.
 */
char *keys_seal(const struct keys *k, const char *aad, const char *text);
/* Opens a keys_seal() value; NULL if it was altered or moved to another aad. */
char *keys_unseal(const struct keys *k, const char *aad, const char *sealed);
/* Wipes and frees a keys_unseal() result. */
void keys_free_secret(char *s);

/*
 * Signs payload (serialized compact, sorted keys) as a flattened JWS with the
 * lease key and protected header {"alg":"ES256","kid":..,"typ":typ}.
 * Returns the JWS object or NULL. The signature is made with OpenSSL on a
 * key parsed once (libjose re-parses the JWK on every call, 8x slower);
 * the output is plain RFC 7515 and tests verify it with jose_jws_ver().
 */
json_t *keys_sign(const struct keys *k, const json_t *payload, const char *typ);

/* A detached ES256 JWS over text: "<protected>..<signature>", caller frees. */
char *keys_sign_detached(const struct keys *k, const char *text);
/* Verifies a keys_sign_detached() value for text with the public lease JWK. */
bool keys_verify_detached(const json_t *lease_pub, const char *text, const char *sig);

/*
 * Tang's recovery: validates the client JWK req against the VM key (curve,
 * "alg", "deriveKey", coordinates of the field's exact length, a point on
 * the curve and not at infinity) and returns s·X as a JWK
 * {"alg":"ECMR","key_ops":["deriveKey"],...}, s the VM key's scalar.
 * NULL with *why set to a static reason when req is unacceptable.
 *
 * This is the computation jose_jwk_exc() does for ECMR with a private local
 * key, done with OpenSSL directly: jose_jwk_exc() re-validates both keys
 * with full order checks on every call (730 exchanges/s per core here,
 * against 4,300 for the multiplication alone). Unit tests and the fuzz
 * harness compare the two on every input.
 */
json_t *keys_recover(const char *vm_jwk_text, const json_t *req, const char **why);
/* keys_recover() for a sealed VM key (as stored) of VM vm. */
json_t *keys_recover_sealed(const struct keys *k, const char *vm, const char *sealed,
			    const json_t *req, const char **why);

/* Frees what keys_recover() cached for the calling thread. */
void keys_thread_exit(void);

#endif
