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
#include <stdbool.h>

#include "common/util.h"
#include "server/sutil.h"

#define THP_MAX 96

struct keys {
	json_t *adv;       /* private ES512 JWK */
	json_t *lease;     /* private ES256 JWK */
	json_t *lease_pub; /* public half, with "kid" */
	char adv_thp[THP_MAX];
	char adv_thp_s1[THP_MAX];
	char lease_kid[THP_MAX];
	char server_id[UUID_LEN + 1];
};

/* Loads the keys from dir, creating missing ones. 0 or -errno (logged). */
int __must_check keys_load_or_create(struct keys *k, const char *dir);
/* Deep copy for another thread. 0 or -ENOMEM. */
int __must_check keys_dup(struct keys *dst, const struct keys *src);
void keys_release(struct keys *k);

/* RFC 7638 thumbprint of jwk with hash "S256"/"S1" into out. */
bool jwk_thumbprint(const json_t *jwk, const char *hash, char out[THP_MAX]);

/*
 * A new VM exchange key: *jwk_text (private JWK, caller frees) and *adv_text
 * (the signed Tang advertisement for it), its S256 and S1 thumbprints.
 */
int __must_check keys_vm_new(const struct keys *k, char **jwk_text, char **adv_text,
			     char kid[THP_MAX], char kid_s1[THP_MAX]);

/*
 * Signs payload (serialized compact, sorted keys) as a flattened JWS with the
 * lease key and protected header {"alg":"ES256","kid":..,"typ":typ}.
 * Returns the JWS object or NULL.
 */
json_t *keys_sign(const struct keys *k, const json_t *payload, const char *typ);

/* A detached ES256 JWS over text: "<protected>..<signature>", caller frees. */
char *keys_sign_detached(const struct keys *k, const char *text);
/* Verifies a keys_sign_detached() value for text with the public lease JWK. */
bool keys_verify_detached(const json_t *lease_pub, const char *text, const char *sig);

/*
 * Tang's recovery: validates the client JWK req against the VM key (curve,
 * "alg", "deriveKey") and returns x·S as a JWK {"alg":"ECMR","key_ops":..}.
 * NULL with *why set to a static reason when req is unacceptable.
 */
json_t *keys_recover(const char *vm_jwk_text, const json_t *req, const char **why);

#endif
