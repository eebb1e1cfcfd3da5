// SPDX-License-Identifier: Apache-2.0
#include "server/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

bool jwk_thumbprint(const json_t *jwk, const char *hash, char out[THP_MAX])
{
	unsigned char dgst[64];
	size_t n = jose_jwk_thp_buf(NULL, jwk, hash, dgst, sizeof(dgst));

	if (n == SIZE_MAX || n == 0)
		return false;
	if (jose_b64_enc_buf(dgst, n, out, THP_MAX - 1) == SIZE_MAX)
		return false;
	out[jose_b64_enc_buf(NULL, n, NULL, 0)] = '\0';
	return true;
}

/* Writes text to path atomically with mode 0600. */
static int write_secret_file(const char *path, const char *text)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static json_t *load_or_gen(const char *dir, const char *file, const char *alg)
{
	char path[4096];
	json_t *jwk;
	char *text;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	jwk = json_load_file(path, 0, NULL);
	if (jwk) {
		if (!json_is_object(jwk) || !json_object_get(jwk, "d") ||
		    !json_is_string(json_object_get(jwk, "kty"))) {
			log_error("keys: %s is not a private JWK", path);
			json_decref(jwk);
			return NULL;
		}
		return jwk;
	}
	if (access(path, F_OK) == 0) {
		log_error("keys: cannot parse %s", path);
		return NULL;
	}
	jwk = json_pack("{s:s}", "alg", alg);
	if (!jwk || !jose_jwk_gen(NULL, jwk)) {
		log_error("keys: cannot generate a %s key", alg);
		json_decref(jwk);
		return NULL;
	}
	text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
	r = text ? write_secret_file(path, text) : -ENOMEM;
	free(text);
	if (r < 0) {
		log_error("keys: cannot write %s: %s", path, strerror(-r));
		json_decref(jwk);
		return NULL;
	}
	log_info("keys: created %s key %s", alg, path);
	return jwk;
}

static int load_server_id(const char *dir, char out[UUID_LEN + 1])
{
	char path[4096], buf[UUID_LEN + 2] = { 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/server-id", dir);
	f = fopen(path, "re");
	if (f) {
		size_t n = fread(buf, 1, UUID_LEN + 1, f);

		fclose(f);
		if (n >= UUID_LEN && (n == UUID_LEN || buf[UUID_LEN] == '\n')) {
			buf[UUID_LEN] = '\0';
			if (uuid_valid(buf)) {
				memcpy(out, buf, UUID_LEN + 1);
				return 0;
			}
		}
		log_error("keys: %s is not a server id", path);
		return -EINVAL;
	}
	if (uuid_random(out) < 0)
		return -EIO;
	snprintf(buf, sizeof(buf), "%s\n", out);
	return write_secret_file(path, buf);
}

static int fill_derived(struct keys *k)
{
	k->lease_pub = json_deep_copy(k->lease);
	if (!k->lease_pub || !jose_jwk_pub(NULL, k->lease_pub))
		return -ENOMEM;
	if (!jwk_thumbprint(k->lease_pub, "S256", k->lease_kid) ||
	    !jwk_thumbprint(k->adv, "S256", k->adv_thp) ||
	    !jwk_thumbprint(k->adv, "S1", k->adv_thp_s1))
		return -EINVAL;
	if (json_object_set_new(k->lease_pub, "kid", json_string(k->lease_kid)) < 0)
		return -ENOMEM;
	return 0;
}

int keys_load_or_create(struct keys *k, const char *dir)
{
	memset(k, 0, sizeof(*k));
	k->adv = load_or_gen(dir, "adv.jwk", "ES512");
	k->lease = load_or_gen(dir, "lease.jwk", "ES256");
	if (!k->adv || !k->lease || load_server_id(dir, k->server_id) < 0 || fill_derived(k) < 0) {
		keys_release(k);
		return -EINVAL;
	}
	return 0;
}

int keys_dup(struct keys *dst, const struct keys *src)
{
	*dst = *src;
	dst->adv = json_deep_copy(src->adv);
	dst->lease = json_deep_copy(src->lease);
	dst->lease_pub = json_deep_copy(src->lease_pub);
	if (!dst->adv || !dst->lease || !dst->lease_pub) {
		keys_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void keys_release(struct keys *k)
{
	json_decref(k->adv);
	json_decref(k->lease);
	json_decref(k->lease_pub);
	k->adv = k->lease = k->lease_pub = NULL;
}

/* The Tang advertisement: {"keys":[sig pub, exc pub]} signed by the adv key. */
static char *make_adv(const struct keys *k, const json_t *exc)
{
	json_t *keys = NULL, *payload = NULL, *jws = NULL, *sig = NULL, *signers = NULL;
	char *text = NULL, *out = NULL;

	/* Copies: jose_jwk_pub() strips the private parts in place. */
	keys = json_pack("[o,o]", json_deep_copy(k->adv), json_deep_copy(exc));
	if (!keys || !jose_jwk_pub(NULL, json_array_get(keys, 0)) ||
	    !jose_jwk_pub(NULL, json_array_get(keys, 1)))
		goto out;
	payload = json_pack("{s:O}", "keys", keys);
	text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	if (!text)
		goto out;
	jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
	sig = json_pack("{s:{s:s}}", "protected", "cty", "jwk-set+json");
	signers = json_pack("[O]", k->adv);
	if (!jws || !sig || !signers || !jose_jws_sig(NULL, jws, sig, signers))
		goto out;
	out = json_dumps(jws, JSON_COMPACT);
out:
	free(text);
	json_decref(keys);
	json_decref(payload);
	json_decref(jws);
	json_decref(sig);
	json_decref(signers);
	return out;
}

int keys_vm_new(const struct keys *k, char **jwk_text, char **adv_text, char kid[THP_MAX],
		char kid_s1[THP_MAX])
{
	json_t *jwk = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	int r = -EIO;

	*jwk_text = *adv_text = NULL;
	if (!jwk || !jose_jwk_gen(NULL, jwk))
		goto out;
	if (!jwk_thumbprint(jwk, "S256", kid) || !jwk_thumbprint(jwk, "S1", kid_s1))
		goto out;
	*jwk_text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
	*adv_text = make_adv(k, jwk);
	if (!*jwk_text || !*adv_text) {
		free(*jwk_text);
		free(*adv_text);
		*jwk_text = *adv_text = NULL;
		goto out;
	}
	r = 0;
out:
	json_decref(jwk);
	return r;
}

json_t *keys_sign(const struct keys *k, const json_t *payload, const char *typ)
{
	char *text = json_dumps(payload, JSON_SORT_KEYS | JSON_COMPACT);
	json_t *jws = NULL, *sig = NULL;

	if (!text)
		return NULL;
	jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
	sig = json_pack("{s:{s:s,s:s,s:s}}", "protected", "alg", "ES256", "kid", k->lease_kid,
			"typ", typ);
	free(text);
	if (!jws || !sig || !jose_jws_sig(NULL, jws, sig, k->lease)) {
		json_decref(jws);
		jws = NULL;
	}
	json_decref(sig);
	return jws;
}

char *keys_sign_detached(const struct keys *k, const char *text)
{
	json_t *jws = NULL, *sig = json_pack("{s:{s:s}}", "protected", "alg", "ES256");
	const char *p = NULL, *s = NULL;
	char *out = NULL;

	jws = json_pack("{s:o}", "payload", jose_b64_enc(text, strlen(text)));
	if (!jws || !sig || !jose_jws_sig(NULL, jws, sig, k->lease))
		goto out;
	if (json_unpack(jws, "{s:s,s:s}", "protected", &p, "signature", &s) < 0)
		goto out;
	if (asprintf(&out, "%s..%s", p, s) < 0)
		out = NULL;
out:
	json_decref(jws);
	json_decref(sig);
	return out;
}

bool keys_verify_detached(const json_t *lease_pub, const char *text, const char *sig)
{
	const char *dots = strstr(sig, "..");
	json_t *jws = NULL, *hdr = NULL, *ps = NULL;
	const char *alg = NULL;
	char *prot;
	bool ok = false;

	if (!dots || strchr(dots + 2, '.'))
		return false;
	prot = strndup(sig, dots - sig);
	if (!prot)
		return false;
	/* Only ES256 is acceptable: never let the header pick the algorithm. */
	ps = json_string(prot);
	hdr = ps ? jose_b64_dec_load(ps) : NULL;
	if (!hdr || json_unpack(hdr, "{s:s}", "alg", &alg) < 0 || strcmp(alg, "ES256") != 0)
		goto out;
	jws = json_pack("{s:s,s:o,s:s}", "protected", prot, "payload",
			jose_b64_enc(text, strlen(text)), "signature", dots + 2);
	ok = jws && jose_jws_ver(NULL, jws, NULL, lease_pub, false);
out:
	free(prot);
	json_decref(ps);
	json_decref(hdr);
	json_decref(jws);
	return ok;
}

json_t *keys_recover(const char *vm_jwk_text, const json_t *req, const char **why)
{
	const char *kty = NULL, *crv = NULL, *alg = NULL, *kcrv = NULL;
	json_t *key = NULL, *rep = NULL;

	*why = "bad_jwk";
	if (json_unpack((json_t *)req, "{s:s,s:s,s?s}", "kty", &kty, "crv", &crv, "alg", &alg) <
		    0 ||
	    strcmp(kty, "EC") != 0 || (alg && strcmp(alg, "ECMR") != 0) ||
	    json_object_get(req, "d") || !jose_jwk_prm(NULL, req, false, "deriveKey"))
		return NULL;
	key = json_loads(vm_jwk_text, 0, NULL);
	if (!key || json_unpack(key, "{s:s}", "crv", &kcrv) < 0) {
		*why = "internal";
		goto out;
	}
	if (strcmp(crv, kcrv) != 0)
		goto out;
	/* jose_jwk_exc checks that the point is on the curve. */
	rep = jose_jwk_exc(NULL, key, req);
	if (!rep)
		goto out;
	if (json_object_set_new(rep, "alg", json_string("ECMR")) < 0 ||
	    json_object_set_new(rep, "key_ops", json_pack("[s]", "deriveKey")) < 0) {
		json_decref(rep);
		rep = NULL;
		*why = "internal";
	}
out:
	json_decref(key);
	return rep;
}
