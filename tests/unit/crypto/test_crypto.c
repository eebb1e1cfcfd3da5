// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jose/jwk.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "crypto/ecmr.h"
#include "crypto/kdf.h"
#include "crypto/secret.h"

static void test_aead_roundtrip_and_tamper(void **state)
{
	uint8_t key[32], nonce[12], tag[16], pt[100], ct[100], out[100];
	const char aad[] = "uuid+block";

	memset(key, 7, sizeof(key));
	memset(nonce, 9, sizeof(nonce));
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	assert_int_equal(aead_seal(key, nonce, aad, sizeof(aad), pt, sizeof(pt), ct, tag), 0);
	assert_memory_not_equal(ct, pt, sizeof(pt));
	assert_int_equal(aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), 0);
	assert_memory_equal(out, pt, sizeof(pt));

	/* Every single flipped bit of ciphertext, tag or AAD is refused. */
	for (size_t bit = 0; bit < sizeof(ct) * 8; bit += 13) {
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag),
				 -EBADMSG);
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	tag[3] ^= 1;
	assert_int_equal(aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag),
			 -EBADMSG);
	tag[3] ^= 1;
	assert_int_equal(aead_open(key, nonce, "other", 5, ct, sizeof(ct), out, tag), -EBADMSG);
	/* A failed open leaves no plaintext behind. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
}

/* RFC 5869, test case 1. */
static void test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42];
	static const uint8_t want[42] = {
		0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
		0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
		0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65,
	};

	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), okm,
				     sizeof(okm)),
			 0);
	assert_memory_equal(okm, want, sizeof(want));
}

/* The mapping must be excluded from core dumps and locked (or be secretmem). */
static void test_secret_memory_properties(void **state)
{
	struct secret *s;
	char line[512], range[64];
	bool found = false, dd = false, lo = false;
	FILE *f;

	assert_int_equal(secret_new(32, &s), 0);
	memset(s->data, 0xab, 32);
	snprintf(range, sizeof(range), "%lx-", (unsigned long)s->data);
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, range, strlen(range)))
			found = true;
		else if (found && !strncmp(line, "VmFlags:", 8)) {
			dd = strstr(line, " dd") != NULL;
			lo = strstr(line, " lo") != NULL;
			break;
		}
	}
	fclose(f);
	assert_true(found);
	if (!s->secretmem) {
		assert_true(dd);
		assert_true(lo);
	}
	print_message("secret memory: %s\n", s->secretmem ? "memfd_secret" : "mlock+dontdump");
	secret_free(s);
}

static void roundtrip_fd(bool use_pipe)
{
	struct secret *s, *back;
	int fd, p[2];

	assert_int_equal(secret_new(32, &s), 0);
	assert_int_equal(crypto_random(s->data, 32), 0);
	if (use_pipe) {
		assert_int_equal(pipe(p), 0);
		assert_int_equal(write(p[1], s->data, 32), 32);
		close(p[1]);
		fd = p[0];
	} else {
		assert_int_equal(secret_to_fd(s, &fd), 0);
	}
	assert_int_equal(secret_from_fd(fd, 32, &back), 0);
	assert_memory_equal(back->data, s->data, 32);
	/* The fd was consumed. */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	secret_free(back);
	secret_free(s);
}

static void test_secret_fd_handoff(void **state)
{
	roundtrip_fd(false);
	roundtrip_fd(true);
}

static void test_secret_short_pipe(void **state)
{
	struct secret *back;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "short", 5), 5);
	close(p[1]);
	assert_int_equal(secret_from_fd(p[0], 32, &back), -ENODATA);
}

/* The McCallum-Relyea exchange against a server simulated with libjose. */
static void test_ecmr_exchange(void **state)
{
	json_auto_t *srv_prv = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	json_auto_t *keys = NULL, *srv = NULL, *kid = NULL, *clt = NULL;
	json_auto_t *eph = NULL, *xfr = NULL, *reply = NULL;
	struct secret *k1, *k2;

	assert_true(jose_jwk_gen(NULL, srv_prv));
	assert_true(json_object_set_new(srv_prv, "key_ops", json_pack("[s]", "deriveKey")) == 0);
	keys = json_pack("{s:[O]}", "keys", srv_prv);
	/* Public view, as in an advertisement. */
	json_auto_t *pub = json_deep_copy(srv_prv);
	assert_true(jose_jwk_pub(NULL, pub));
	json_decref(keys);
	keys = json_pack("{s:[O]}", "keys", pub);
	srv = ecmr_exchange_key(keys, NULL, &kid);
	assert_non_null(srv);
	assert_true(ecmr_public_ok(srv));

	assert_int_equal(ecmr_provision(srv, &clt, &k1), 0);
	assert_int_equal(k1->len, 66);
	assert_null(json_object_get(clt, "d"));

	assert_int_equal(ecmr_recover_request(clt, &eph, &xfr), 0);
	/* The server: Y = s * X. */
	reply = jose_jwk_exc(NULL, srv_prv, xfr);
	assert_non_null(reply);
	assert_int_equal(ecmr_recover_finish(eph, srv, reply, &k2), 0);
	assert_memory_equal(k1->data, k2->data, 66);

	/* X is blinded: it is not C. */
	assert_false(json_equal(json_object_get(xfr, "x"), json_object_get(clt, "x")));
	/* A reply from another key yields a different K. */
	json_auto_t *other = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	assert_true(jose_jwk_gen(NULL, other));
	json_auto_t *bad = jose_jwk_exc(NULL, other, xfr);
	struct secret *k3;

	assert_int_equal(ecmr_recover_finish(eph, srv, bad, &k3), 0);
	assert_memory_not_equal(k1->data, k3->data, 66);
	/* Malformed replies are refused before libjose sees them. */
	json_auto_t *junk =
		json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", "AA", "y", "AA");
	struct secret *k4;

	assert_int_equal(ecmr_recover_finish(eph, srv, junk, &k4), -EPROTO);
	secret_free(k1);
	secret_free(k2);
	secret_free(k3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead_roundtrip_and_tamper),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_secret_memory_properties),
		cmocka_unit_test(test_secret_fd_handoff),
		cmocka_unit_test(test_secret_short_pipe),
		cmocka_unit_test(test_ecmr_exchange),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
