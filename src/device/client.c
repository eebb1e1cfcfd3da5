// SPDX-License-Identifier: Apache-2.0
#include "device/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "device/identity.h"
#include "common/util.h"
#include "device/jsonx.h"

struct sink {
	char *buf;
	size_t len;
	bool overflow;
};

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t add = sz * n;
	char *nb;

	if (add > CLIENT_MAX_BODY - s->len) {
		s->overflow = true;
		return 0;
	}
	nb = realloc(s->buf, s->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + s->len, p, add);
	s->buf = nb;
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

/* Finds the pinned CA among the certificates the server presented. */
static X509 *find_pinned(STACK_OF(X509) * chain, const uint8_t pin[32])
{
	uint8_t h[32];

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		cert_sha256(x, h);
		if (CRYPTO_memcmp(h, pin, 32) == 0)
			return x;
	}
	return NULL;
}

/*
 * Replaces OpenSSL's chain verification: the presented chain must lead to
 * our one anchor, for the serverAuth purpose. No other CA counts.
 */
static int verify_chain(X509_STORE_CTX *xs, void *arg)
{
	const struct client_tls *tls = arg;
	STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(xs);
	X509 *leaf = X509_STORE_CTX_get0_cert(xs), *anchor = tls->ca;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *v = X509_STORE_CTX_new();
	int ok = 0, e = X509_V_ERR_UNSPECIFIED;

	if (!anchor && tls->ca_pin)
		anchor = untrusted ? find_pinned(untrusted, tls->ca_pin) : NULL;
	if (!anchor) {
		e = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
		goto out;
	}
	if (!store || !v || !X509_STORE_add_cert(store, anchor) ||
	    !X509_STORE_CTX_init(v, store, leaf, untrusted) ||
	    !X509_STORE_CTX_set_purpose(v, X509_PURPOSE_SSL_SERVER))
		goto out;
	ok = X509_verify_cert(v) == 1;
	e = ok ? X509_V_OK : X509_STORE_CTX_get_error(v);
	if (ok && tls->pinned_ca && !*tls->pinned_ca) {
		X509_up_ref(anchor);
		*tls->pinned_ca = anchor;
	}
out:
	X509_STORE_CTX_set_error(xs, e);
	X509_STORE_CTX_free(v);
	X509_STORE_free(store);
	return ok;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
	const struct client_tls *tls = arg;
	SSL_CTX *ctx = sslctx;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_cert_verify_callback(ctx, verify_chain, arg);
	if (tls->cert && tls->key &&
	    (SSL_CTX_use_certificate(ctx, tls->cert) != 1 ||
	     SSL_CTX_use_PrivateKey(ctx, tls->key) != 1))
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static void parse_error_code(struct http_resp *r)
{
	json_t *j;

	if (r->status < 400 || !r->body)
		return;
	j = jx_load(r->body, r->len, CLIENT_MAX_BODY);
	if (!json_is_object(j) || !jx_str(j, "error", r->error, sizeof(r->error)))
		snprintf(r->error, sizeof(r->error), "http_%ld", r->status);
	json_decref(j);
}

static int map_curl_error(CURLcode c)
{
	switch (c) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPERM;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	default:
		return -EHOSTUNREACH;
	}
}

int client_request(const char *base_url, const struct client_tls *tls, const char *method,
		   const char *path, const char *ctype, const void *body, size_t len,
		   struct http_resp *out, char *err, size_t errlen)
{
	char url[2048], hdr[128];
	struct curl_slist *h = NULL;
	struct sink s = { 0 };
	CURL *c = curl_easy_init();
	CURLcode cc;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!c || snprintf(url, sizeof(url), "%s%s", base_url, path) >= (int)sizeof(url))
		return -ENOMEM;
	if (ctype) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	/* No system CA bundle: it would not be trusted anyway, and a phone may have none. */
	curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	/* The chain is checked against our single anchor (docs/protocol.md, Transport). */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)tls);
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		r = s.overflow ? -EMSGSIZE : map_curl_error(cc);
		snprintf(err, errlen, "%s %s: %s", method, url,
			 s.overflow ? "answer too large" : curl_easy_strerror(cc));
		free(s.buf);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = s.buf ? s.buf : strdup("");
	out->len = s.len;
	parse_error_code(out);
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

struct fsink {
	int fd;
	unsigned long long left;
	unsigned long long written;
	bool overflow;
	char errbody[256];
	size_t errlen;
	long status;
	CURL *c;
};

static size_t on_file_data(char *p, size_t sz, size_t n, void *arg)
{
	struct fsink *s = arg;
	size_t len = sz * n, off = 0;

	if (!s->status)
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200 && s->status != 206) {
		/* An error body: keep its start for the message. */
		size_t k = MIN(len, sizeof(s->errbody) - 1 - s->errlen);

		memcpy(s->errbody + s->errlen, p, k);
		s->errlen += k;
		s->errbody[s->errlen] = '\0';
		return len;
	}
	if (len > s->left) {
		s->overflow = true;
		return 0;
	}
	while (off < len) {
		ssize_t w = write(s->fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		off += (size_t)w;
	}
	s->left -= len;
	s->written += len;
	return len;
}

long long client_download(const char *base_url, const struct client_tls *tls, const char *path,
			  int fd, unsigned long long offset, unsigned long long max, char *err,
			  size_t errlen)
{
	struct fsink s = { .fd = fd, .left = max > offset ? max - offset : 0 };
	char url[2048], range[64];
	CURLcode cc;
	long long r;

	s.c = curl_easy_init();
	if (!s.c || snprintf(url, sizeof(url), "%s%s", base_url, path) >= (int)sizeof(url))
		return -ENOMEM;
	curl_easy_setopt(s.c, CURLOPT_URL, url);
	curl_easy_setopt(s.c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(s.c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s.c, CURLOPT_CONNECTTIMEOUT, 5L);
	/* Large files: no overall timeout, but give up below 1 KiB/s for 30 s. */
	curl_easy_setopt(s.c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(s.c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(s.c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(s.c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(s.c, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(s.c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(s.c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(s.c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(s.c, CURLOPT_SSL_CTX_DATA, (void *)tls);
	curl_easy_setopt(s.c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (offset) {
		snprintf(range, sizeof(range), "%llu-", offset);
		curl_easy_setopt(s.c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(s.c, CURLOPT_WRITEFUNCTION, on_file_data);
	curl_easy_setopt(s.c, CURLOPT_WRITEDATA, &s);
	cc = curl_easy_perform(s.c);
	curl_easy_getinfo(s.c, CURLINFO_RESPONSE_CODE, &s.status);
	if (cc != CURLE_OK) {
		r = s.overflow ? -EMSGSIZE : map_curl_error(cc);
		snprintf(err, errlen, "GET %s: %s", url,
			 s.overflow ? "larger than announced" : curl_easy_strerror(cc));
	} else if (s.status != (offset ? 206 : 200)) {
		r = -EPROTO;
		snprintf(err, errlen, "GET %s: HTTP %ld %.120s", url, s.status, s.errbody);
	} else {
		r = (long long)s.written;
	}
	curl_easy_cleanup(s.c);
	return r;
}
