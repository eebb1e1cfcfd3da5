// SPDX-License-Identifier: Apache-2.0
/*
 * The device side of Tang's HTTP protocol over libcurl: GET /adv and
 * POST /rec/{kid}. The same calls reach pocketvm-server, which wants
 * https with a client certificate (struct tang_client_opts).
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disk/binding.h"

#define REPLY_MAX (64 * 1024)

struct reply {
	char buf[REPLY_MAX + 1];
	size_t len;
	bool too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > REPLY_MAX - r->len) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	memcpy(r->buf + r->len, p, len);
	r->len += len;
	return len;
}

/*
 * What the server said in TLS on this thread's current request: its last
 * fatal alert (0: none) and whether it asked for a client certificate.
 * curl_easy_perform runs the handshake on the calling thread, so a
 * thread-local carries them out of OpenSSL's message callback.
 */
static __thread struct {
	int alert;
	bool cert_requested;
} tls_seen;

static void on_tls_msg(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
		       void *arg)
{
	const uint8_t *b = buf;

	(void)version;
	(void)ssl;
	(void)arg;
	if (write_p || len < 1)
		return;
	if (type == SSL3_RT_HANDSHAKE && b[0] == SSL3_MT_CERTIFICATE_REQUEST)
		tls_seen.cert_requested = true;
	else if (type == SSL3_RT_ALERT && len >= 2 && b[0] == SSL3_AL_FATAL)
		tls_seen.alert = b[1];
}

static CURLcode on_ssl_ctx(CURL *h, void *ctx, void *arg)
{
	(void)h;
	(void)arg;
	SSL_CTX_set_msg_callback(ctx, on_tls_msg);
	return CURLE_OK;
}

/*
 * Alerts by which a TLS server says no to our certificate (RFC 8446, 6.2).
 * A TLS 1.2 server answers a missing or unacceptable one with
 * handshake_failure, which otherwise means no common parameters: it counts
 * only when the server had asked for a certificate.
 */
static bool alert_refuses_cert(int desc, bool cert_requested)
{
	switch (desc) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return true;
	case SSL_AD_HANDSHAKE_FAILURE:
		return cert_requested;
	default:
		return false;
	}
}

/*
 * What a failed transfer means for the caller. Only the server saying no is
 * -EACCES; a handshake cut by a reset, an EOF or a timeout is -EHOSTUNREACH
 * (TLS 1.3 servers reject a client certificate after the client finished
 * its handshake, so the alert can surface in any of curl's TLS, send or
 * receive errors: the alert, not curl's code, decides).
 */
static int curl_errno(CURLcode rc, int alert, bool cert_requested)
{
	if (alert && alert_refuses_cert(alert, cert_requested))
		return -EACCES;
	if (alert)
		return -EPROTO; /* the server is there but cannot talk to us */
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
		/* Not the server we trust: as good as no server at all. */
		return -EHOSTUNREACH;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EINVAL; /* our own certificate or CA file cannot be used */
	default:
		return -EPROTO;
	}
}

/* 401/403: not allowed; 404: unknown VM or key; 410: the VM's key was deleted. */
static int status_errno(long status)
{
	switch (status) {
	case 401:
	case 403:
	case 404:
	case 410:
		return -EACCES;
	default:
		return -EPROTO;
	}
}

/* The options a request and a probe share: where, how long, which TLS identity. */
static void set_common(CURL *h, const char *url, const struct tang_client_opts *o)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 10L);
	if (o && o->cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
	if (o && o->cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, o->key ? o->key : o->cert);
	}
	/* Other TLS backends cannot report alerts: their failures stay transport errors. */
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
}

#define PROBE_WAIT_MS 250
#define PROBE_ROUNDS 8

/*
 * A TLS 1.3 server judges our certificate after our side of the handshake
 * is done; one that rejects it sends its alert and closes, usually with our
 * last handshake records unread, so its kernel resets the connection. The
 * request curl then sends meets the reset, and curl reports a send (or
 * receive) error without ever reading the alert that sits in our socket.
 * So after such an error on a connection whose server asked for a
 * certificate, this shakes hands once more, sends nothing, and reads what
 * the server says: session tickets and then silence (it accepted us: the
 * error was the network's), or the alert (recorded in tls_seen), or EOF.
 */
static void probe_verdict(const char *url, const struct tang_client_opts *o)
{
	CURL *h = curl_easy_init();
	curl_socket_t sock;
	char buf[256];
	size_t n;

	if (!h)
		return;
	set_common(h, url, o);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	if (curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK) {
		for (int i = 0; i < PROBE_ROUNDS && !tls_seen.alert; i++) {
			struct pollfd p = { .fd = sock, .events = POLLIN };

			if (poll(&p, 1, PROBE_WAIT_MS) <= 0 ||
			    curl_easy_recv(h, buf, sizeof(buf), &n) != CURLE_AGAIN)
				break;
		}
	}
	curl_easy_cleanup(h);
}

static bool is_transport_error(CURLcode rc)
{
	return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_SSL_CONNECT_ERROR;
}

/* One request; body NULL = GET. The reply must be JSON. */
static int request(const char *url, const char *body, const struct tang_client_opts *o,
		   json_t **out)
{
	struct curl_slist *hdrs = NULL;
	struct reply *r = calloc(1, sizeof(*r));
	long status = 0;
	CURLcode rc;
	CURL *h;
	int ret;

	if (!r)
		return -ENOMEM;
	pthread_once(&curl_once, curl_init);
	h = curl_init_result == CURLE_OK ? curl_easy_init() : NULL;
	if (!h) {
		free(r);
		return -ENOMEM;
	}
	set_common(h, url, o);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	tls_seen.alert = 0;
	tls_seen.cert_requested = false;
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/jwk+json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && !r->too_big && !tls_seen.alert && tls_seen.cert_requested &&
	    is_transport_error(rc))
		probe_verdict(url, o);
	if (rc != CURLE_OK) {
		log_error("tang: %s: %s", url,
			  r->too_big ? "reply larger than 64 KiB" : curl_easy_strerror(rc));
		if (tls_seen.alert)
			log_error("tang: %s: the server sent TLS alert %d (%s)", url,
				  tls_seen.alert, SSL_alert_desc_string_long(tls_seen.alert));
		ret = r->too_big ? -EMSGSIZE :
				   curl_errno(rc, tls_seen.alert, tls_seen.cert_requested);
	} else if (status != 200) {
		log_error("tang: %s: HTTP status %ld", url, status);
		ret = status_errno(status);
	} else {
		r->buf[r->len] = '\0';
		*out = json_loadb(r->buf, r->len, 0, NULL);
		ret = *out ? 0 : -EPROTO;
		if (ret)
			log_error("tang: %s: reply is not JSON", url);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(r);
	return ret;
}

/* Joins base and path without doubling the slash. */
static char *join(const char *base, const char *path, const char *arg)
{
	size_t bl = strlen(base);
	char *u = malloc(bl + strlen(path) + (arg ? strlen(arg) : 0) + 2);

	if (!u)
		return NULL;
	while (bl && base[bl - 1] == '/')
		bl--;
	memcpy(u, base, bl);
	strcpy(u + bl, path);
	if (arg)
		strcat(u, arg);
	return u;
}

int tang_http_adv(const char *url, const struct tang_client_opts *o, json_t **adv)
{
	char *u = join(url, "/adv", NULL);
	int ret;

	if (!u)
		return -ENOMEM;
	ret = request(u, NULL, o, adv);
	free(u);
	return ret;
}

int tang_http_rec(const char *url, const char *kid, const json_t *xfr,
		  const struct tang_client_opts *o, json_t **reply)
{
	char *body = json_dumps(xfr, JSON_COMPACT | JSON_SORT_KEYS);
	char *u;
	int ret;

	/* kid is a base64url thumbprint: it cannot carry path characters. */
	if (!body ||
	    strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
		    strlen(kid)) {
		free(body);
		return body ? -EINVAL : -ENOMEM;
	}
	u = join(url, "/rec/", kid);
	ret = u ? request(u, body, o, reply) : -ENOMEM;
	free(u);
	free(body);
	return ret;
}
