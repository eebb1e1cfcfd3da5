// SPDX-License-Identifier: Apache-2.0
#include "crypto/ecmr.h"

#include <errno.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <string.h>

/* P-521 coordinates are 66 bytes. */
#define P521_COORD_LEN 66

void ecmr_jwk_wipe(json_t *jwk)
{
	json_t *d = json_object_get(jwk, "d");

	/* jansson keeps the string in place; wipe it before the free. */
	if (json_is_string(d))
		explicit_bzero((char *)json_string_value(d), json_string_length(d));
}

/* Wipes a shared point's coordinates (they are K, or one step from it). */
static void point_wipe(json_t *jwk)
{
	static const char *const names[] = { "x", "y", "d" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_t *v = json_object_get(jwk, names[i]);

		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
}

static bool coord_ok(const json_t *jwk, const char *name)
{
	json_t *v = json_object_get(jwk, name);

	return json_is_string(v) && jose_b64_dec(v, NULL, 0) == P521_COORD_LEN;
}

bool ecmr_public_ok(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));

	return json_is_object(jwk) && kty && crv && !strcmp(kty, "EC") &&
	       !strcmp(crv, ECMR_CURVE) && !json_object_get(jwk, "d") && coord_ok(jwk, "x") &&
	       coord_ok(jwk, "y");
}

/* Copies a JWK keeping only the public EC members (as clevis does). */
static json_t *public_copy(const json_t *jwk)
{
	json_t *pub = json_pack("{s:O,s:O,s:O,s:O}", "kty", json_object_get(jwk, "kty"), "crv",
				json_object_get(jwk, "crv"), "x", json_object_get(jwk, "x"), "y",
				json_object_get(jwk, "y"));

	if (pub && !ecmr_public_ok(pub)) {
		json_decref(pub);
		return NULL;
	}
	return pub;
}

static bool thp_matches(const json_t *jwk, const char *thp)
{
	static const char *const algs[] = { "S256", "S1" };

	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		json_auto_t *t = jose_jwk_thp(NULL, jwk, algs[i]);

		if (t && !strcmp(json_string_value(t), thp))
			return true;
	}
	return false;
}

/* Collects the keys of a set permitted for op ("verify", "deriveKey"). */
static json_t *keys_for(const json_t *keys, const char *op)
{
	json_t *out = json_pack("{s:[]}", "keys");
	json_t *arr = json_object_get(keys, "keys");
	json_t *k;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(arr, i, k)
	{
		if (jose_jwk_prm(NULL, k, true, op))
			json_array_append(json_object_get(out, "keys"), k);
	}
	return out;
}

json_t *ecmr_adv_verify(const json_t *adv, const char *thp, const char **why)
{
	json_auto_t *keys = NULL;
	json_auto_t *ver = NULL;
	json_t *payload = json_object_get(adv, "payload");
	json_t *k;
	size_t i, len;
	bool trusted = !thp;
	char *buf;

	*why = "advertisement is not a JWS with a payload";
	if (!json_is_string(payload))
		return NULL;
	len = jose_b64_dec(payload, NULL, 0);
	if (len == SIZE_MAX || len > 1u << 20)
		return NULL;
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	if (jose_b64_dec(payload, buf, len) != len) {
		free(buf);
		return NULL;
	}
	keys = json_loadb(buf, len, 0, NULL);
	free(buf);
	*why = "advertisement payload is not a JWK set";
	if (!json_is_array(json_object_get(keys, "keys")))
		return NULL;
	ver = keys_for(keys, "verify");
	*why = "advertisement has no signing keys";
	if (!ver || json_array_size(json_object_get(ver, "keys")) == 0)
		return NULL;
	*why = "advertisement signature does not verify";
	if (!jose_jws_ver(NULL, adv, NULL, ver, true))
		return NULL;
	json_array_foreach(json_object_get(ver, "keys"), i, k)
	{
		if (thp && thp_matches(k, thp))
			trusted = true;
	}
	*why = "no signing key of the advertisement has the trusted thumbprint";
	if (!trusted)
		return NULL;
	*why = NULL;
	return json_incref(keys);
}

int ecmr_adv_signing_thps(const json_t *keys, json_t *out_array)
{
	json_auto_t *ver = keys_for(keys, "verify");
	json_t *k;
	size_t i;

	if (!ver)
		return -ENOMEM;
	json_array_foreach(json_object_get(ver, "keys"), i, k)
	{
		json_t *t = jose_jwk_thp(NULL, k, "S256");

		if (!t || json_array_append_new(out_array, t) < 0)
			return -ENOMEM;
	}
	return 0;
}

json_t *ecmr_exchange_key(const json_t *keys, const char *kid, json_t **kid_out)
{
	json_t *arr = json_object_get(keys, "keys");
	json_t *k;
	size_t i;

	json_array_foreach(arr, i, k)
	{
		json_t *pub;
		json_t *t;

		if (!jose_jwk_prm(NULL, k, true, "deriveKey"))
			continue;
		pub = public_copy(k);
		if (!pub)
			continue;
		t = jose_jwk_thp(NULL, pub, "S256");
		if (t && (!kid || !strcmp(json_string_value(t), kid))) {
			if (kid_out)
				*kid_out = t;
			else
				json_decref(t);
			return pub;
		}
		json_decref(t);
		json_decref(pub);
	}
	return NULL;
}

/* Takes the shared point's x coordinate into secret memory. */
static int point_x(const json_t *point, struct secret **k_out)
{
	struct secret *k;
	int ret;

	if (!coord_ok(point, "x"))
		return -EPROTO;
	ret = secret_new(P521_COORD_LEN, &k);
	if (ret)
		return ret;
	if (jose_b64_dec(json_object_get(point, "x"), k->data, k->len) != P521_COORD_LEN) {
		secret_free(k);
		return -EPROTO;
	}
	*k_out = k;
	return 0;
}

static json_t *gen_key(void)
{
	json_t *jwk = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", ECMR_CURVE);

	if (jwk && !jose_jwk_gen(NULL, jwk)) {
		json_decref(jwk);
		return NULL;
	}
	return jwk;
}

int ecmr_provision(const json_t *srv, json_t **clt_out, struct secret **k_out)
{
	json_auto_t *c = NULL;
	json_auto_t *k = NULL;
	json_t *clt;
	int ret = -EPROTO;

	if (!ecmr_public_ok(srv))
		return -EINVAL;
	c = gen_key();
	if (!c)
		return -ENOMEM;
	k = jose_jwk_exc(NULL, c, srv);
	clt = public_copy(c);
	ecmr_jwk_wipe(c);
	if (!k || !clt)
		goto out;
	ret = point_x(k, k_out);
	if (ret == 0)
		*clt_out = json_incref(clt);
out:
	if (k)
		point_wipe(k);
	json_decref(clt);
	return ret;
}

int ecmr_recover_request(const json_t *clt, json_t **eph_out, json_t **xfr_out)
{
	json_auto_t *eph = NULL;
	json_t *xfr;

	if (!ecmr_public_ok(clt))
		return -EINVAL;
	eph = gen_key();
	if (!eph)
		return -ENOMEM;
	/* lcl public, rem private: libjose adds the points, C + e*G. */
	xfr = jose_jwk_exc(NULL, clt, eph);
	if (!xfr)
		return -EPROTO;
	*xfr_out = xfr;
	*eph_out = json_incref(eph);
	return 0;
}

int ecmr_recover_finish(const json_t *eph, const json_t *srv, const json_t *reply,
			struct secret **k_out)
{
	json_auto_t *tmp = NULL;
	json_auto_t *rep = NULL;
	json_auto_t *k = NULL;
	int ret;

	if (!ecmr_public_ok(srv))
		return -EINVAL;
	rep = public_copy(reply);
	if (!rep)
		return -EPROTO;
	tmp = jose_jwk_exc(NULL, eph, srv); /* e*S */
	if (!tmp)
		return -EPROTO;
	json_object_del(tmp, "d");
	/* Both public and marked ECMR: libjose subtracts, Y - e*S. */
	if (json_object_set_new(tmp, "alg", json_string("ECMR")) < 0)
		return -ENOMEM;
	k = jose_jwk_exc(NULL, rep, tmp);
	point_wipe(tmp);
	if (!k)
		return -EPROTO;
	ret = point_x(k, k_out);
	point_wipe(k);
	return ret;
}
