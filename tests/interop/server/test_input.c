// SPDX-License-Identifier: Apache-2.0
/*
 * Hostile input against a live server: size limits before parsing, JSON depth,
 * malformed JWKs and CSRs, wrong methods and paths, TLS 1.2 and foreign client
 * certificates, bad admin tokens, and rate limiting of unauthenticated
 * clients. The server must answer each with a precise 4xx and stay up.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "pvs_test.h"

static struct pvs srv;

static void expect(struct client *c, const char *method, const char *path, const char *body,
		   size_t len, long status, const char *error, const char *what)
{
	char url[4096];
	struct resp r;

	snprintf(url, sizeof(url), "%s%s", srv.url, path);
	client_req(c, method, url, body, len, NULL, &r);
	CHECK(r.status == status && (!error || !strcmp(resp_error(&r), error)),
	      "%s: %ld %s (want %ld %s)", what, r.status, resp_error(&r), status,
	      error ? error : "");
	resp_free(&r);
}

static void test_json(struct device *d)
{
	char deep[256] = "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\",\"x\":";
	char *big = malloc(70 * 1024);

	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	expect(&d->c, "POST", "/v1/checkin", deep, strlen(deep), 400, "json_too_deep",
	       "40-deep JSON refused before parsing");
	expect(&d->c, "POST", "/v1/checkin", "[1,2]", 5, 400, "invalid_json", "JSON array body");
	expect(&d->c, "POST", "/v1/checkin", "{\"nonce\":", 9, 400, "invalid_json",
	       "truncated JSON");
	expect(&d->c, "POST", "/v1/checkin", "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\",\"nonce\":\"b\"}",
	       44, 400, "invalid_json", "duplicate keys");
	expect(&d->c, "POST", "/v1/checkin", "{\"nonce\":\"a\\u0000aaaaaaaaaaaaaaaaaaaa\"}", 38,
	       400, "invalid_json", "NUL inside a string");
	expect(&d->c, "POST", "/v1/checkin", "{\"nonce\":\"short\"}", 17, 400, "bad_request",
	       "nonce too short");
	expect(&d->c, "POST", "/v1/checkin", "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\",\"acks\":7}", 41,
	       400, "bad_request", "acks not an array");
	memset(big, 'a', 70 * 1024);
	expect(&d->c, "POST", "/v1/checkin", big, 70 * 1024, 413, "payload_too_large",
	       "70 KiB check-in body");
	free(big);
}

static void test_jwk(struct device *d, const char *vm)
{
	static const char *const bad[] = {
		"not json",
		"{}",
		"{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis\","
		"\"y\":\"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"alg\":\"ES512\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":7,\"y\":[]}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"key_ops\":[\"sign\"],\"x\":\"AA\",\"y\":\"AA\"}",
	};
	json_t *bind = NULL;
	char path[256];
	size_t i;

	CHECK(tang_bind(d, srv.url, vm, &bind) == 200, "device binds its VM");
	snprintf(path, sizeof(path), "/tang/%s/rec/%s", vm,
		 json_string_value(json_object_get(bind, "kid")));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "malformed JWK #%zu to /rec", i);
		expect(&d->c, "POST", path, bad[i], strlen(bad[i]), 400, NULL, what);
	}
	{
		json_t *k = NULL;

		CHECK(tang_recover(d, srv.url, vm, bind, &k) == 200,
		      "/rec still answers a good request afterwards");
		json_decref(k);
	}
	json_decref(bind);
	snprintf(path, sizeof(path), "/rec/%s", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	expect(&d->c, "POST", path, "{}", 2, 404, "not_found", "/rec with an unknown kid");
	expect(&d->c, "POST", "/tang/not-a-uuid/rec/abc", "{}", 2, 404, "not_found",
	       "/tang with a malformed VM id");
}

static void test_http(struct client *anon)
{
	char *longuri = malloc(1500);

	strcpy(longuri, "/v1/server?");
	memset(longuri + 11, 'a', 1400);
	longuri[1411] = '\0';
	expect(anon, "GET", longuri, NULL, 0, 414, "uri_too_long", "1.4 KiB URI");
	free(longuri);
	expect(anon, "GET", "/nope", NULL, 0, 404, "not_found", "unknown path");
	expect(anon, "GET", "/v1/enroll", NULL, 0, 405, "method_not_allowed", "GET on /v1/enroll");
	expect(anon, "POST", "/v1/enroll", "{\"token\":5}", 11, 400, "bad_request",
	       "enroll with a number token");
	expect(anon, "POST", "/v1/checkin", "{}", 2, 401, "client_certificate_required",
	       "check-in without a certificate");
	expect(anon, "GET", "/v1/admin/devices", NULL, 0, 401, "unauthorized",
	       "admin without token");
	anon->bearer = "pva_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	expect(anon, "GET", "/v1/admin/devices", NULL, 0, 401, "unauthorized",
	       "admin with an unknown token");
	anon->bearer = "garbage";
	expect(anon, "GET", "/v1/admin/devices", NULL, 0, 401, "unauthorized",
	       "admin with a malformed token");
	anon->bearer = NULL;
}

/* A self-made CA's certificate with a device-like CN must not pass. */
static void test_foreign_cert(const char *dir, const char *dev_id)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *c = X509_new();
	struct client cl;
	struct resp r;
	char url[256];
	FILE *f;

	X509_set_version(c, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)dev_id, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_set_pubkey(c, pk);
	X509_sign(c, pk, EVP_sha256());
	client_init(&cl, srv.ca);
	snprintf(cl.cert, sizeof(cl.cert), "%s/foreign.pem", dir);
	snprintf(cl.key, sizeof(cl.key), "%s/foreign.key", dir);
	f = fopen(cl.cert, "w");
	PEM_write_X509(f, c);
	fclose(f);
	f = fopen(cl.key, "w");
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	cl.use_cert = true;
	snprintf(url, sizeof(url), "%s/v1/checkin", srv.url);
	client_req(&cl, "POST", url, "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\"}", 31, NULL, &r);
	CHECK(r.status == -1 || r.status == 401,
	      "self-signed certificate claiming device %s refused (%ld)", dev_id, r.status);
	resp_free(&r);
	client_free(&cl);
	X509_free(c);
	EVP_PKEY_free(pk);
}

static void test_tls12(void)
{
	CURL *k = curl_easy_init();
	char url[256];
	CURLcode rc;

	snprintf(url, sizeof(url), "%s/v1/server", srv.url);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_CAINFO, srv.ca);
	curl_easy_setopt(k, CURLOPT_SSLVERSION,
			 (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
	curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
	rc = curl_easy_perform(k);
	CHECK(rc != CURLE_OK, "a TLS 1.2-only client is refused (%s)", curl_easy_strerror(rc));
	curl_easy_cleanup(k);
}

static void test_rate_limit(struct client *anon, struct device *d)
{
	char url[256];
	struct resp r;
	int i;

	snprintf(url, sizeof(url), "%s/v1/enroll", srv.url);
	for (i = 0; i < 50; i++) {
		const char *b = "{\"token\":\"pve_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
				"\"csr\":\"x\"}";

		client_req(anon, "POST", url, b, strlen(b), NULL, &r);
		if (r.status == 429)
			break;
		resp_free(&r);
	}
	CHECK(r.status == 429 && !strcmp(resp_error(&r), "rate_limited") && i < 10,
	      "guessing enrollment tokens is rate limited after %d attempts", i);
	resp_free(&r);
	{
		const char *nonce;

		device_checkin(d, srv.url, NULL, &r, &nonce);
		CHECK(r.status == 200,
		      "an enrolled device on the same address is not throttled (%ld)", r.status);
		resp_free(&r);
	}
}

int main(int argc, char **argv)
{
	struct device d;
	struct client anon;
	struct pg pg;
	char db[PATH_MAX + 64], *tok[1], vm[64];
	int rc = t_setup(argc, argv, &pg, &srv, db, sizeof(db));

	if (rc)
		return rc;
	make_tokens(&srv, "default", 1, 3600, tok);
	CHECK(device_enroll(&srv, tok[0], &d) == 201, "device enrolled");
	CHECK(vm_create(&srv, d.id, "work", vm) == 201, "VM created");
	client_init(&anon, srv.ca);
	test_json(&d);
	test_jwk(&d, vm);
	test_http(&anon);
	test_foreign_cert(t_tmpdir(), d.id);
	test_tls12();
	{
		/* Still healthy after all of the above. */
		struct resp r;
		const char *nonce;

		device_checkin(&d, srv.url, NULL, &r, &nonce);
		CHECK(r.status == 200, "server healthy after hostile input");
		resp_free(&r);
	}
	test_rate_limit(&anon, &d);
	client_free(&anon);
	pvs_stop(&srv);
	device_free(&d);
	free(tok[0]);
	pg_stop(&pg);
	return t_done();
}
