// SPDX-License-Identifier: Apache-2.0
#include "server/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
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

/* base64url of buf into a new string. */
static char *b64(const void *buf, size_t len)
{
	size_t n = jose_b64_enc_buf(NULL, len, NULL, 0);
	char *out = malloc(n + 1);

	if (out && jose_b64_enc_buf(buf, len, out, n) != n) {
		free(out);
		return NULL;
	}
	if (out)
		out[n] = '\0';
	return out;
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

/*
 * Private keys live in OpenSSL's secure heap: an mlock()ed arena, excluded
 * from core dumps, wiped on free. EC private scalars land there by
 * themselves once it exists (OpenSSL allocates them with BN_secure_new),
 * the key-encryption key and the advertisement key's JWK text are put
 * there here. 2 MiB leaves room for every thread's copy and for the TLS
 * handshakes' ephemeral keys, which use it too.
 */
#define SECURE_HEAP_SIZE (2u << 20)
#define SECURE_HEAP_MIN 16

#if defined(__SANITIZE_ADDRESS__)
#define KEYS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEYS_LSAN 1
#endif
#endif

#ifdef KEYS_LSAN
#include <sanitizer/lsan_interface.h>

/*
 * LeakSanitizer does not scan the secure heap's mapping, so what OpenSSL
 * allocates and points to only from there (its DRBGs' state) would look
 * leaked in sanitizer builds: make the mapping a root it scans.
 */
static void secure_heap_lsan_root(void)
{
	void *p = OPENSSL_secure_malloc(1);
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long lo, hi;
	char line[512];

	while (p && f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo &&
		    (uintptr_t)p < hi) {
			__lsan_register_root_region((void *)lo, hi - lo);
			break;
		}
	}
	if (f)
		fclose(f);
	OPENSSL_secure_free(p);
}
#else
static void secure_heap_lsan_root(void)
{
}
#endif

static int secure_heap_init(void)
{
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	if (CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MIN) == 0) {
		log_error("keys: cannot lock %u KiB of memory for the keys (RLIMIT_MEMLOCK?)",
			  SECURE_HEAP_SIZE >> 10);
		return -ENOMEM;
	}
	secure_heap_lsan_root();
	return 0;
}

/* A copy of text in the secure heap. */
static char *secure_strdup(const char *text)
{
	size_t len = strlen(text);
	char *p = OPENSSL_secure_malloc(len + 1);

	if (p)
		memcpy(p, text, len + 1);
	return p;
}

static void secure_str_free(char *p)
{
	if (p)
		OPENSSL_secure_clear_free(p, strlen(p) + 1);
}

/* Wipes a private JWK's secret member ("d") in place, then frees it. */
static void jwk_forget(json_t *jwk)
{
	json_t *d = jwk ? json_object_get(jwk, "d") : NULL;

	if (json_is_string(d))
		OPENSSL_cleanse((char *)json_string_value(d), json_string_length(d));
	json_decref(jwk);
}

/* The public half of a private JWK, a new object. */
static json_t *jwk_public(const json_t *jwk)
{
	json_t *pub = json_deep_copy(jwk);

	if (pub && !jose_jwk_pub(NULL, pub)) {
		jwk_forget(pub);
		return NULL;
	}
	return pub;
}

/*
 * A copy of an EC key whose private scalar is in the secure heap. Keys that
 * libjose builds, or EVP_PKEY_dup() copies, get an ordinary BIGNUM; going
 * through the provider's import puts it in the secure heap.
 */
static EVP_PKEY *pkey_secure_copy(EVP_PKEY *key)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM *params = NULL;
	EVP_PKEY *out = NULL;

	if (ctx && EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params) == 1 &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_KEYPAIR, params) != 1)
		out = NULL;
	OSSL_PARAM_free(params); /* clears the secret values it holds */
	EVP_PKEY_CTX_free(ctx);
	return out;
}

/*
 * Keeps of the private JWKs only what is needed, in locked memory: the lease
 * key as an EVP_PKEY (its scalar in the secure heap), the advertisement key
 * as JWK text in the secure heap (libjose signs with a JWK, once per new VM).
 * The JSON copies the rest of the server sees are public.
 */
static int keep_keys(struct keys *k, json_t *adv, json_t *lease)
{
	char *text = json_dumps(adv, JSON_SORT_KEYS | JSON_COMPACT);
	EVP_PKEY *pkey;

	k->adv_priv = text ? secure_strdup(text) : NULL;
	keys_free_secret(text);
	k->adv = jwk_public(adv);
	k->lease_pub = jwk_public(lease);
	pkey = jose_openssl_jwk_to_EVP_PKEY(NULL, lease);
	k->lease_pkey = pkey ? pkey_secure_copy(pkey) : NULL;
	EVP_PKEY_free(pkey);
	if (!k->adv_priv || !k->adv || !k->lease_pub || !k->lease_pkey)
		return -ENOMEM;
	if (!jwk_thumbprint(k->lease_pub, "S256", k->lease_kid) ||
	    !jwk_thumbprint(k->adv, "S256", k->adv_thp) ||
	    !jwk_thumbprint(k->adv, "S1", k->adv_thp_s1))
		return -EINVAL;
	if (json_object_set_new(k->lease_pub, "kid", json_string(k->lease_kid)) < 0)
		return -ENOMEM;
	return 0;
}

#define KEK_LEN 32

static unsigned char *kek_alloc(void)
{
	return OPENSSL_secure_zalloc(KEK_LEN);
}

static void kek_free(unsigned char *p)
{
	if (p)
		OPENSSL_secure_clear_free(p, KEK_LEN);
}

/* STATE/kek: 32 random bytes, created once, mode 0600. */
static int load_kek(const char *dir, unsigned char **out)
{
	char path[4096];
	unsigned char *kek = kek_alloc();
	int fd, r = 0;

	if (!kek)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/kek", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, kek, KEK_LEN) != KEK_LEN)
			r = -EINVAL;
		close(fd);
	} else if (errno == ENOENT) {
		if (RAND_priv_bytes(kek, KEK_LEN) != 1)
			r = -EIO;
		fd = r ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (r == 0 && (fd < 0 || write(fd, kek, KEK_LEN) != KEK_LEN || fsync(fd) < 0))
			r = -EIO;
		if (fd >= 0)
			close(fd);
	} else {
		r = -errno;
	}
	if (r < 0) {
		log_error("keys: cannot load or create %s: %s", path, strerror(-r));
		kek_free(kek);
		return r;
	}
	*out = kek;
	return 0;
}

int keys_load_or_create(struct keys *k, const char *dir)
{
	json_t *adv = NULL, *lease = NULL;
	int r = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (secure_heap_init() < 0 || load_kek(dir, &k->kek) < 0)
		return -EINVAL;
	adv = load_or_gen(dir, "adv.jwk", "ES512");
	lease = load_or_gen(dir, "lease.jwk", "ES256");
	if (adv && lease && load_server_id(dir, k->server_id) == 0)
		r = keep_keys(k, adv, lease) < 0 ? -EINVAL : 0;
	jwk_forget(adv);
	jwk_forget(lease);
	if (r < 0)
		keys_release(k);
	return r;
}

int keys_dup(struct keys *dst, const struct keys *src)
{
	*dst = *src;
	dst->adv = json_deep_copy(src->adv);
	dst->adv_priv = secure_strdup(src->adv_priv);
	dst->lease_pub = json_deep_copy(src->lease_pub);
	dst->lease_pkey = pkey_secure_copy(src->lease_pkey);
	dst->kek = kek_alloc();
	if (dst->kek)
		memcpy(dst->kek, src->kek, KEK_LEN);
	if (!dst->adv || !dst->adv_priv || !dst->lease_pub || !dst->lease_pkey || !dst->kek) {
		keys_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void keys_release(struct keys *k)
{
	json_decref(k->adv);
	secure_str_free(k->adv_priv);
	json_decref(k->lease_pub);
	EVP_PKEY_free(k->lease_pkey);
	kek_free(k->kek);
	k->adv = k->lease_pub = NULL;
	k->adv_priv = NULL;
	k->lease_pkey = NULL;
	k->kek = NULL;
}

/* The Tang advertisement: {"keys":[sig pub, exc pub]} signed by the adv key. */
static char *make_adv(const struct keys *k, const json_t *exc)
{
	json_t *keys = NULL, *payload = NULL, *jws = NULL, *sig = NULL, *signers = NULL;
	json_t *priv = json_loads(k->adv_priv, 0, NULL);
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
	signers = priv ? json_pack("[O]", priv) : NULL;
	if (!jws || !sig || !signers || !jose_jws_sig(NULL, jws, sig, signers))
		goto out;
	out = json_dumps(jws, JSON_COMPACT);
out:
	json_decref(signers);
	signers = NULL;
	jwk_forget(priv);
	free(text);
	json_decref(keys);
	json_decref(payload);
	json_decref(jws);
	json_decref(sig);
	json_decref(signers);
	return out;
}

int keys_vm_new(const struct keys *k, const char *vm, char **sealed, char **adv_text,
		char kid[THP_MAX], char kid_s1[THP_MAX])
{
	json_t *jwk = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	char *text = NULL;
	int r = -EIO;

	*sealed = *adv_text = NULL;
	if (!jwk || !jose_jwk_gen(NULL, jwk))
		goto out;
	if (!jwk_thumbprint(jwk, "S256", kid) || !jwk_thumbprint(jwk, "S1", kid_s1))
		goto out;
	text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
	*sealed = text ? keys_seal(k, vm, text) : NULL;
	*adv_text = make_adv(k, jwk);
	if (!*sealed || !*adv_text) {
		free(*sealed);
		free(*adv_text);
		*sealed = *adv_text = NULL;
		goto out;
	}
	r = 0;
out:
	keys_free_secret(text);
	json_decref(jwk);
	return r;
}

#define SEAL_PREFIX "pvk1."
#define GCM_NONCE 12
#define GCM_TAG 16

char *keys_seal(const struct keys *k, const char *aad, const char *text)
{
	size_t len = strlen(text), blen = GCM_NONCE + len + GCM_TAG;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *buf = malloc(blen);
	char *enc = NULL, *out = NULL;
	int n;

	if (!ctx || !buf || RAND_bytes(buf, GCM_NONCE) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->kek, buf) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, buf + GCM_NONCE, &n, (const unsigned char *)text, (int)len) !=
		    1 ||
	    EVP_EncryptFinal_ex(ctx, buf + GCM_NONCE + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, buf + GCM_NONCE + len) != 1)
		goto out;
	enc = b64(buf, blen);
	if (enc && asprintf(&out, SEAL_PREFIX "%s", enc) < 0)
		out = NULL;
out:
	free(enc);
	free(buf);
	EVP_CIPHER_CTX_free(ctx);
	return out;
}

char *keys_unseal(const struct keys *k, const char *aad, const char *sealed)
{
	size_t plen = strlen(SEAL_PREFIX), blen, len;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	char *out = NULL;
	int n, ok = 0;

	if (strncmp(sealed, SEAL_PREFIX, plen) != 0)
		return NULL;
	sealed += plen;
	blen = jose_b64_dec_buf(sealed, strlen(sealed), NULL, 0);
	if (blen == SIZE_MAX || blen <= GCM_NONCE + GCM_TAG)
		return NULL;
	len = blen - GCM_NONCE - GCM_TAG;
	buf = malloc(blen);
	out = malloc(len + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (!buf || !out || !ctx || jose_b64_dec_buf(sealed, strlen(sealed), buf, blen) != blen)
		goto out;
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->kek, buf) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, buf + GCM_NONCE, (int)len) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, buf + GCM_NONCE + len) == 1 &&
	     EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &n) == 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	if (!ok) {
		if (out)
			OPENSSL_cleanse(out, len);
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

void keys_free_secret(char *s)
{
	if (s)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* ES256 over "<prot>.<payload>" into the 64-byte JWS form r || s, base64url. */
static char *es256(EVP_PKEY *key, const char *prot, const char *payload)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80], raw[64];
	const unsigned char *p = der;
	size_t dlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	char *input = NULL, *out = NULL;

	if (!ctx || asprintf(&input, "%s.%s", prot, payload) < 0) {
		input = NULL;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
		goto out;
	out = b64(raw, sizeof(raw));
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	free(input);
	return out;
}

/* Protected header and payload, both base64url, for a JWS over text. */
static bool jws_parts(const json_t *hdr, const char *text, char **prot, char **payload)
{
	char *h = json_dumps(hdr, JSON_SORT_KEYS | JSON_COMPACT);

	*prot = h ? b64(h, strlen(h)) : NULL;
	*payload = b64(text, strlen(text));
	free(h);
	return *prot && *payload;
}

json_t *keys_sign(const struct keys *k, const json_t *payload, const char *typ)
{
	char *text = json_dumps(payload, JSON_SORT_KEYS | JSON_COMPACT);
	json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "ES256", "kid", k->lease_kid, "typ", typ);
	char *prot = NULL, *pl = NULL, *sig = NULL;
	json_t *jws = NULL;

	if (text && hdr && jws_parts(hdr, text, &prot, &pl) &&
	    (sig = es256(k->lease_pkey, prot, pl)))
		jws = json_pack("{s:s,s:s,s:s}", "protected", prot, "payload", pl, "signature",
				sig);
	free(text);
	free(prot);
	free(pl);
	free(sig);
	json_decref(hdr);
	return jws;
}

char *keys_sign_detached(const struct keys *k, const char *text)
{
	json_t *hdr = json_pack("{s:s}", "alg", "ES256");
	char *prot = NULL, *pl = NULL, *sig = NULL, *out = NULL;

	if (hdr && jws_parts(hdr, text, &prot, &pl) && (sig = es256(k->lease_pkey, prot, pl)) &&
	    asprintf(&out, "%s..%s", prot, sig) < 0)
		out = NULL;
	free(prot);
	free(pl);
	free(sig);
	json_decref(hdr);
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

static int curve_nid(const char *crv, size_t *len)
{
	if (strcmp(crv, "P-256") == 0) {
		*len = 32;
		return NID_X9_62_prime256v1;
	}
	if (strcmp(crv, "P-384") == 0) {
		*len = 48;
		return NID_secp384r1;
	}
	if (strcmp(crv, "P-521") == 0) {
		*len = 66;
		return NID_secp521r1;
	}
	return NID_undef;
}

/* Decodes a base64url member of exactly len bytes into a new BIGNUM. */
static BIGNUM *b64_bn(const json_t *jwk, const char *name, size_t len, bool secret)
{
	unsigned char buf[66];
	json_t *v = json_object_get(jwk, name);
	BIGNUM *bn = NULL;

	if (json_is_string(v) && len <= sizeof(buf) &&
	    jose_b64_dec_buf(json_string_value(v), json_string_length(v), NULL, 0) == len &&
	    jose_b64_dec_buf(json_string_value(v), json_string_length(v), buf, len) == len)
		bn = secret ? BN_secure_new() : BN_new();
	if (bn && !BN_bin2bn(buf, (int)len, bn)) {
		BN_clear_free(bn);
		bn = NULL;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return bn;
}

/* The groups of one thread, made once (their precomputation is not free). */
static __thread EC_GROUP *group_cache[3];

void keys_thread_exit(void)
{
	for (int i = 0; i < 3; i++) {
		EC_GROUP_free(group_cache[i]);
		group_cache[i] = NULL;
	}
}

static const EC_GROUP *group_for(int nid)
{
	EC_GROUP **cache = group_cache;
	int i = nid == NID_X9_62_prime256v1 ? 0 : nid == NID_secp384r1 ? 1 : 2;

	if (!cache[i])
		cache[i] = EC_GROUP_new_by_curve_name(nid);
	return cache[i];
}

json_t *keys_recover(const char *vm_jwk_text, const json_t *req, const char **why)
{
	const char *kty = NULL, *crv = NULL, *alg = NULL, *kcrv = NULL;
	BIGNUM *x = NULL, *y = NULL, *d = NULL;
	EC_POINT *p = NULL, *r = NULL;
	json_t *key = NULL, *rep = NULL;
	const EC_GROUP *grp;
	BN_CTX *ctx = NULL;
	size_t len = 0;
	int nid;

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
	nid = curve_nid(crv, &len);
	grp = nid != NID_undef && strcmp(crv, kcrv) == 0 ? group_for(nid) : NULL;
	if (!grp)
		goto out;
	x = b64_bn(req, "x", len, false);
	y = b64_bn(req, "y", len, false);
	d = b64_bn(key, "d", len, true);
	ctx = BN_CTX_new();
	p = EC_POINT_new(grp);
	r = EC_POINT_new(grp);
	if (!d || !ctx || !p || !r) {
		*why = x && y ? "internal" : "bad_jwk";
		goto out;
	}
	/* Fails unless (x, y) is on the curve; the curves here have cofactor 1. */
	if (!x || !y || EC_POINT_set_affine_coordinates(grp, p, x, y, ctx) != 1 ||
	    EC_POINT_is_at_infinity(grp, p))
		goto out;
	if (EC_POINT_mul(grp, r, NULL, p, d, ctx) != 1 || EC_POINT_is_at_infinity(grp, r)) {
		*why = "internal";
		goto out;
	}
	rep = jose_openssl_jwk_from_EC_POINT(NULL, grp, r, NULL);
	if (!rep || json_object_set_new(rep, "alg", json_string("ECMR")) < 0 ||
	    json_object_set_new(rep, "key_ops", json_pack("[s]", "deriveKey")) < 0) {
		json_decref(rep);
		rep = NULL;
		*why = "internal";
	}
out:
	EC_POINT_free(p);
	EC_POINT_clear_free(r);
	BN_free(x);
	BN_free(y);
	BN_clear_free(d);
	BN_CTX_free(ctx);
	json_decref(key);
	return rep;
}

json_t *keys_recover_sealed(const struct keys *k, const char *vm, const char *sealed,
			    const json_t *req, const char **why)
{
	char *text = keys_unseal(k, vm, sealed);
	json_t *rep;

	if (!text) {
		*why = "internal";
		return NULL;
	}
	rep = keys_recover(text, req, why);
	keys_free_secret(text);
	return rep;
}
