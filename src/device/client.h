/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS to pocketvm-server (libcurl, OpenSSL): TLS 1.3 only, the server's
 * chain verified against ONE trust anchor (the pinned CA during enrollment,
 * the stored CA after), never the system's CAs; the client certificate for
 * mTLS set from memory. Blocking, bounded by timeouts and a body limit;
 * safe to call from a worker thread.
 */
#ifndef POCKETVM_DEVICE_CLIENT_H
#define POCKETVM_DEVICE_CLIENT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define CLIENT_MAX_BODY (1024 * 1024)

struct client_tls {
	/* Exactly one of: the CA to trust, or the SHA-256 its DER must have. */
	X509 *ca;
	const uint8_t *ca_pin;
	/* Client certificate and key (NULL for enrollment). */
	X509 *cert;
	EVP_PKEY *key;
	/* Out: during pinning, the matching CA certificate (caller frees). */
	X509 **pinned_ca;
};

struct http_resp {
	long status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
	char error[64]; /* the answer's "error" code for 4xx/5xx, or "" */
};

void http_resp_free(struct http_resp *r);

/* One-time libcurl set-up (before threads). */
int __must_check client_global_init(void);

/*
 * Sends one request. Returns 0 with *out filled for any HTTP status,
 * -EHOSTUNREACH when the server cannot be reached (connection, DNS,
 * timeout), -EPERM when TLS verification failed (wrong server or pin),
 * -EMSGSIZE for an oversized answer; err says what happened.
 */
int __must_check client_request(const char *base_url, const struct client_tls *tls,
				const char *method, const char *path, const char *ctype,
				const void *body, size_t len, struct http_resp *out, char *err,
				size_t errlen);

/*
 * Downloads base_url + path into fd from byte offset on (a Range request
 * when offset > 0), at most max bytes in all. Returns the bytes written,
 * -EHOSTUNREACH, -EPERM (TLS), -EMSGSIZE (more than max) or -EPROTO (an
 * HTTP error: err has the status and code).
 */
long long __must_check client_download(const char *base_url, const struct client_tls *tls,
				       const char *path, int fd, unsigned long long offset,
				       unsigned long long max, char *err, size_t errlen);

#endif
