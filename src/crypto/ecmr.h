/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The McCallum-Relyea exchange as Tang and clevis do it, through libjose.
 *
 * Provisioning: the client makes a key c, computes K = c*S with the server's
 * exchange key S, and keeps only C = c*G. Recovery: the client sends
 * X = C + e*G for a fresh e, the server answers Y = s*X, and the client gets
 * K = Y - e*S. The server never sees K; the device never stores c.
 *
 * K is returned as the x coordinate of the shared point, in secret memory.
 * These functions validate every JWK they receive from the network (curve,
 * key type, no private part) before handing it to libjose, because the ECMR
 * mode libjose picks depends on which inputs carry private keys.
 */
#ifndef POCKETVM_CRYPTO_ECMR_H
#define POCKETVM_CRYPTO_ECMR_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"
#include "crypto/secret.h"

#define ECMR_CURVE "P-521"

/*
 * Verifies a Tang advertisement (a JWS whose payload is a JWK set) with
 * every signing key it lists. When thp is not NULL, one signing key must
 * also have that SHA-256 (or SHA-1) JWK thumbprint. On success returns the
 * payload's JWK set (new reference); otherwise NULL with *why set.
 */
json_t *ecmr_adv_verify(const json_t *adv, const char *thp, const char **why);

/* Appends the SHA-256 thumbprints of the advertisement's signing keys. */
int ecmr_adv_signing_thps(const json_t *keys, json_t *out_array) __must_check;

/*
 * Picks the exchange key (deriveKey, ECMR, P-521) from a verified JWK set,
 * or the one whose SHA-256 thumbprint is kid when kid is not NULL. Returns a
 * cleaned public JWK (new reference) and writes its thumbprint to *kid_out
 * (new reference) when kid_out is not NULL.
 */
json_t *ecmr_exchange_key(const json_t *keys, const char *kid, json_t **kid_out);

/* Provisioning: returns C (public JWK) and K. */
int ecmr_provision(const json_t *srv, json_t **clt_out, struct secret **k_out) __must_check;

/* Recovery step 1: makes e and X = C + e*G. */
int ecmr_recover_request(const json_t *clt, json_t **eph_out, json_t **xfr_out) __must_check;

/* Recovery step 2: K = Y - e*S from the server's reply Y. */
int ecmr_recover_finish(const json_t *eph, const json_t *srv, const json_t *reply,
			struct secret **k_out) __must_check;

/* Wipes the private part ("d") of a JWK in place before it is released. */
void ecmr_jwk_wipe(json_t *jwk);

/* True if jwk is a public EC key on P-521 with well-formed coordinates. */
bool ecmr_public_ok(const json_t *jwk);

#endif
