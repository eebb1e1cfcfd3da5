// SPDX-License-Identifier: Apache-2.0
/*
 * The device side of Tang's HTTP protocol over libcurl: GET /adv and
 * POST /rec/{kid}. The same calls reach pocketvm-server, which wants
 * https with a client certificate (struct tang_client_opts).
 */
#include <curl/curl.h>
#include <errno.h>
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

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
		return -EACCES;
	default:
		return -EPROTO;
	}
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
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (o && o->cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
	if (o && o->cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, o->key ? o->key : o->cert);
	}
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/jwk+json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		log_error("tang: %s: %s", url,
			  r->too_big ? "reply larger than 64 KiB" : curl_easy_strerror(rc));
		ret = r->too_big ? -EMSGSIZE : curl_errno(rc);
	} else if (status != 200) {
		log_error("tang: %s: HTTP status %ld", url, status);
		ret = status == 403 || status == 401 ? -EACCES : status == 404 ? -ENOENT : -EPROTO;
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
