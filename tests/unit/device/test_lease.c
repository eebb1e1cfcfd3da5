// SPDX-License-Identifier: Apache-2.0
/* Lease verification against leases signed here the way the server signs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>

#include "device/lease.h"

#define DEV "0f8c0000-0000-4000-8000-000000000000"
#define VM1 "7d2e0000-0000-4000-8000-000000000001"
#define NONCE "q3Jb0cQ3Jb0cQ3Jb0cQ3Jb"

static json_t *priv, *pub, *other;

static json_t *gen(void)
{
	json_t *k = json_pack("{s:s}", "alg", "ES256");

	assert_true(jose_jwk_gen(NULL, k));
	return k;
}

static int setup(void **s)
{
	priv = gen();
	other = gen();
	pub = json_deep_copy(priv);
	jose_jwk_pub(NULL, pub);
	return 0;
}

static int teardown(void **s)
{
	json_decref(priv);
	json_decref(pub);
	json_decref(other);
	return 0;
}

static json_t *payload(void)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:n}", "iss", "srv", "sub", DEV,
			 "vm", VM1, "iat", (json_int_t)1764324001, "exp",
			 (json_int_t)(1764324001 + 43200), "offline", (json_int_t)43200, "seq",
			 (json_int_t)42, "nonce", NONCE, "state", "active", "image");
}

/* Signs p (stolen) into a flattened JWS with the given protected header. */
static json_t *sign_with(json_t *p, const json_t *key, const char *alg, const char *typ)
{
	char *txt = json_dumps(p, JSON_COMPACT);
	json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(txt, strlen(txt)));
	json_t *sig = json_pack("{s:{s:s,s:s}}", "protected", "alg", alg, "typ", typ);

	json_decref(p);
	free(txt);
	assert_true(jose_jws_sig(NULL, jws, sig, key));
	json_decref(sig);
	return jws;
}

static json_t *sign(json_t *p)
{
	return sign_with(p, priv, "ES256", "pocketvm-lease+jwt");
}

static const struct lease_expect ex = { DEV, VM1, NONCE, 41 };

static void test_valid(void **s)
{
	json_t *jws = sign(payload());
	struct lease_info li;
	char err[160];

	assert_true(lease_verify(jws, pub, &ex, &li, err, sizeof(err)));
	assert_true(li.valid);
	assert_false(li.locked);
	assert_int_equal(li.iat, 1764324001);
	assert_int_equal(li.exp, 1764324001 + 43200);
	assert_int_equal(li.seq, 42);
	json_decref(jws);
}

static void expect_refused(json_t *jws, const json_t *key, const struct lease_expect *e,
			   const char *why)
{
	struct lease_info li;
	char err[160] = "";

	assert_false(lease_verify(jws, key, e, &li, err, sizeof(err)));
	assert_false(li.valid);
	if (!strstr(err, why))
		fail_msg("expected '%s' in '%s'", why, err);
	json_decref(jws);
}

static void test_other_key(void **s)
{
	expect_refused(sign_with(payload(), other, "ES256", "pocketvm-lease+jwt"), pub, &ex,
		       "signature");
}

static void test_private_key_as_verifier_refused(void **s)
{
	expect_refused(sign(payload()), priv, &ex, "lease key");
}

static void test_wrong_typ(void **s)
{
	expect_refused(sign_with(payload(), priv, "ES256", "pocketvm-manifest+jwt"), pub, &ex,
		       "typ");
}

static void test_tampered_payload(void **s)
{
	json_t *jws = sign(payload()), *p = payload();
	char *txt;

	json_object_set_new(p, "exp", json_integer(1764324001 + 10 * 43200));
	json_object_set_new(p, "offline", json_integer(10 * 43200));
	txt = json_dumps(p, JSON_COMPACT);
	json_object_set_new(jws, "payload", jose_b64_enc(txt, strlen(txt)));
	free(txt);
	json_decref(p);
	expect_refused(jws, pub, &ex, "signature");
}

static void test_alg_none(void **s)
{
	json_t *jws = sign(payload());
	const char *h = "{\"alg\":\"none\",\"typ\":\"pocketvm-lease+jwt\"}";

	json_object_set_new(jws, "protected", jose_b64_enc(h, strlen(h)));
	json_object_set_new(jws, "signature", json_string(""));
	expect_refused(jws, pub, &ex, "alg");
}

static void test_wrong_fields(void **s)
{
	struct lease_expect e = ex;
	json_t *p;

	e.device_id = "0f8c0000-0000-4000-8000-00000000ffff";
	expect_refused(sign(payload()), pub, &e, "another device");
	e = ex;
	e.vm_id = "7d2e0000-0000-4000-8000-00000000ffff";
	expect_refused(sign(payload()), pub, &e, "another VM");
	e = ex;
	e.nonce = "different-nonce-0000";
	expect_refused(sign(payload()), pub, &e, "nonce");
	e = ex;
	e.prev_seq = 42;
	expect_refused(sign(payload()), pub, &e, "seq");
	p = payload();
	json_object_set_new(p, "exp", json_integer(1764324001 + 43201));
	expect_refused(sign(p), pub, &ex, "inconsistent");
	p = payload();
	json_object_set_new(p, "state", json_string("revoked"));
	expect_refused(sign(p), pub, &ex, "state");
	p = payload();
	json_object_set_new(p, "seq", json_string("42"));
	expect_refused(sign(p), pub, &ex, "mistypes");
}

static void test_locked(void **s)
{
	json_t *p = payload(), *jws;
	struct lease_info li;
	char err[160];

	json_object_set_new(p, "state", json_string("locked"));
	jws = sign(p);
	assert_true(lease_verify(jws, pub, &ex, &li, err, sizeof(err)));
	assert_true(li.locked);
	json_decref(jws);
}

static void test_not_jws(void **s)
{
	expect_refused(json_pack("{s:s}", "payload", "x"), pub, &ex, "protected");
	expect_refused(json_string("lease"), pub, &ex, "JWS");
}

static json_t *manifest(const char *sha)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:{s:{s:I,s:s},s:{s:I,s:s}}}", "iss", "srv", "name",
			 "work-os", "version", "1.2", "published", (json_int_t)1764300000, "files",
			 "kernel", "size", (json_int_t)8123456, "sha256", sha, "disk", "size",
			 (json_int_t)1073741824, "sha256", sha);
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_manifest(void **s)
{
	json_t *jws = sign_with(manifest(SHA), priv, "ES256", "pocketvm-manifest+jwt");
	struct manifest m;
	char err[160];

	assert_true(manifest_verify(jws, pub, "work-os", "1.2", &m, err, sizeof(err)));
	assert_true(m.files[MANIFEST_KERNEL].present);
	assert_false(m.files[MANIFEST_INITRD].present);
	assert_int_equal(m.files[MANIFEST_DISK].size, 1073741824);
	assert_string_equal(m.files[MANIFEST_DISK].sha256, SHA);
	/* Another image's manifest, or another version, is not this one. */
	assert_false(manifest_verify(jws, pub, "work-os", "1.3", &m, err, sizeof(err)));
	assert_false(manifest_verify(jws, pub, "other", "1.2", &m, err, sizeof(err)));
	json_decref(jws);
	/* A lease is not a manifest, even signed by the same key. */
	jws = sign_with(manifest(SHA), priv, "ES256", "pocketvm-lease+jwt");
	assert_false(manifest_verify(jws, pub, "work-os", "1.2", &m, err, sizeof(err)));
	json_decref(jws);
	jws = sign_with(manifest(SHA), other, "ES256", "pocketvm-manifest+jwt");
	assert_false(manifest_verify(jws, pub, "work-os", "1.2", &m, err, sizeof(err)));
	json_decref(jws);
	jws = sign_with(manifest("ABCDEF"), priv, "ES256", "pocketvm-manifest+jwt");
	assert_false(manifest_verify(jws, pub, "work-os", "1.2", &m, err, sizeof(err)));
	json_decref(jws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_private_key_as_verifier_refused),
		cmocka_unit_test(test_wrong_typ),
		cmocka_unit_test(test_tampered_payload),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_wrong_fields),
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_not_jws),
		cmocka_unit_test(test_manifest),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
