// SPDX-License-Identifier: Apache-2.0
/*
 * HTTPS front end: TLS 1.3 through bufferevent_openssl, one evhttp per worker
 * thread on a shared listening socket, a route table, authentication (device
 * certificates, admin tokens), limits and rate limiting before any handler
 * sees a request.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server.h"

void reply_raw(struct req *r, int status, const char *ctype, const char *data, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);

	if (r->replied) {
		evbuffer_free(buf);
		return;
	}
	r->replied = true;
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (buf)
		evbuffer_add(buf, data, len);
	evhttp_send_reply(r->ev, status, NULL, buf);
	evbuffer_free(buf);
}

void reply_json(struct req *r, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text) {
		reply_raw(r, 500, "application/json",
			  "{\"error\":\"internal\",\"message\":\"out of memory\"}", 47);
		return;
	}
	reply_raw(r, status, "application/json", text, strlen(text));
	free(text);
}

void reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_error("http: %s %s: %s", r->path, code, msg);
	else
		log_debug("http: %s from %s: %d %s: %s", r->path, r->peer, status, code, msg);
	reply_json(r, status, json_pack("{s:s,s:s}", "error", code, "message", msg));
}

json_t *req_json(struct req *r)
{
	const char *why = NULL;
	json_t *j;

	if (!r->body_len) {
		reply_error(r, 400, "invalid_json", "a JSON object body is required");
		return NULL;
	}
	j = json_parse_untrusted(r->body, r->body_len, MAX_JSON_DEPTH, &why);
	if (!j)
		reply_error(r, 400, why,
			    strcmp(why, "json_too_deep") == 0 ? "JSON nested deeper than %d" :
								"body is not a JSON object (%d)",
			    MAX_JSON_DEPTH);
	return j;
}

const char *req_query(struct req *r, const char *key, char *buf, size_t n)
{
	struct evkeyvalq q = { 0 };
	const char *v;
	const char *out = NULL;

	if (!r->query || evhttp_parse_query_str(r->query, &q) < 0)
		return NULL;
	v = evhttp_find_header(&q, key);
	if (v && strlen(v) < n) {
		strcpy(buf, v);
		out = buf;
	}
	evhttp_clear_headers(&q);
	return out;
}

void req_penalize(struct req *r, double cost)
{
	ratelimit_charge(r->w->srv->rl, r->peer, cost);
}

/* Matches path against a pattern of segments; "*" captures into r->args. */
static bool route_match(const char *pattern, const char *path, struct req *r)
{
	char *o = r->argbuf;
	int nargs = 0;

	for (;;) {
		const char *pe, *se;

		if (*pattern == '\0' || *path == '\0')
			return *pattern == '\0' && *path == '\0';
		if (*pattern != '/' || *path != '/')
			return false;
		pe = strchrnul(pattern + 1, '/');
		se = strchrnul(path + 1, '/');
		if (pe - pattern == 2 && pattern[1] == '*') {
			size_t n = se - path - 1;

			if (n == 0 || n > 128 || nargs == MAX_ARGS ||
			    n + 1 > sizeof(r->argbuf) - (size_t)(o - r->argbuf))
				return false;
			memcpy(o, path + 1, n);
			o[n] = '\0';
			r->args[nargs++] = o;
			o += n + 1;
		} else if (pe - pattern != se - path || memcmp(pattern, path, pe - pattern) != 0) {
			return false;
		}
		pattern = pe;
		path = se;
	}
}

const struct route *route_lookup(enum evhttp_cmd_type method, const char *path, struct req *r,
				 bool *path_found)
{
	*path_found = false;
	for (int i = 0; i < routes_count; i++) {
		memset(r->args, 0, sizeof(r->args));
		if (!route_match(routes[i].pattern, path, r))
			continue;
		*path_found = true;
		if (routes[i].method == method)
			return &routes[i];
	}
	return NULL;
}

static bool scope_has(const char *scopes, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = scopes; *p;) {
		const char *e = strchrnul(p, ',');

		if ((size_t)(e - p) == n && memcmp(p, want, n) == 0)
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

static const char *auth_scope(enum auth a)
{
	switch (a) {
	case AUTH_READ:
		return "read";
	case AUTH_WRITE:
		return "write";
	case AUTH_ENROLL:
		return "enroll";
	case AUTH_AUDIT:
		return "audit";
	default:
		return "admin";
	}
}

/*
 * A token's first use in an hour is an "admin.login" in the audit log: a
 * session as an auditor sees it, without an entry per request.
 */
static void admin_login(struct req *r, const char *token_id)
{
	char b1[24], b2[24];
	int64_t now = now_s();

	if (SQ(r->w->store, Q_ADMIN_TOKEN_TOUCH, NULL, token_id, i64s(b1, now),
	       i64s(b2, now - 3600)) == 1 &&
	    audit_append(r->w, r->actor, "admin.login", token_id,
			 json_pack("{s:s}", "peer", r->peer)) < 0)
		log_warn("http: admin login of %s not audited", r->actor);
}

/* Bearer token -> actor; replies 401/403 itself and returns false on failure. */
static bool auth_admin(struct req *r, enum auth need)
{
	const char *h =
		evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
	const char *scopes, *want = auth_scope(need);
	struct store_rows rows;
	char hash[SHA256_HEX_LEN + 1];
	bool ok = false;

	if (!h || strncmp(h, "Bearer ", 7) != 0 || !b64url_valid(h + 7 + 4, 43, 43) ||
	    strncmp(h + 7, "pva_", 4) != 0) {
		req_penalize(r, 5);
		reply_error(r, 401, "unauthorized", "an admin token is required (Bearer pva_...)");
		return false;
	}
	sha256_hex(h + 7, strlen(h + 7), hash);
	if (SQ(r->w->store, Q_ADMIN_TOKEN_BY_HASH, &rows, hash) < 0) {
		reply_error(r, 503, "unavailable", "database error");
		return false;
	}
	if (rows.nrows != 1 || store_cell_i64(&rows, 0, 4) != 0 ||
	    store_cell_i64(&rows, 0, 3) <= now_s()) {
		req_penalize(r, 5);
		if (rows.nrows == 1 &&
		    audit_append(r->w, "anonymous", "admin.login_refused", store_cell(&rows, 0, 0),
				 json_pack("{s:s,s:s}", "peer", r->peer, "reason",
					   store_cell_i64(&rows, 0, 4) ? "revoked" : "expired")) <
			    0)
			log_warn("http: refused admin login not audited");
		reply_error(r, 401, "unauthorized", "admin token unknown, revoked or expired");
		goto out;
	}
	scopes = store_cell(&rows, 0, 2);
	if (!scope_has(scopes, "admin") && !scope_has(scopes, want) &&
	    !((need == AUTH_READ || need == AUTH_ENROLL) && scope_has(scopes, "write"))) {
		reply_error(r, 403, "forbidden", "this token lacks the %s scope", want);
		goto out;
	}
	snprintf(r->actor, sizeof(r->actor), "admin:%s", store_cell(&rows, 0, 1));
	admin_login(r, store_cell(&rows, 0, 0));
	ok = true;
out:
	store_rows_free(&rows);
	return ok;
}

/* Client certificate -> enrolled device; replies itself on failure. */
static bool auth_device(struct req *r)
{
	struct bufferevent *bev =
		evhttp_connection_get_bufferevent(evhttp_request_get_connection(r->ev));
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	char cn[64], serial[CA_SERIAL_HEX + 1];
	struct store_rows rows;
	bool ok = false;

	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) {
		req_penalize(r, 1);
		reply_error(r, 401, "client_certificate_required",
			    "this endpoint needs the device's client certificate");
		return false;
	}
	if (!ca_subject_cn(peer, cn, sizeof(cn)) || !uuid_valid(cn)) {
		reply_error(r, 401, "unknown_certificate",
			    "certificate subject is not a device id");
		return false;
	}
	ca_serial_hex(peer, serial);
	if (SQ(r->w->store, Q_DEVICE_GET, &rows, cn) < 0) {
		reply_error(r, 503, "unavailable", "database error");
		return false;
	}
	if (rows.nrows != 1 || strcmp(store_cell(&rows, 0, DEV_SERIAL), serial) != 0) {
		reply_error(r, 401, "unknown_certificate",
			    "certificate not issued to a current device");
		goto out;
	}
	if (strcmp(store_cell(&rows, 0, DEV_STATUS), "retired") == 0) {
		reply_error(r, 403, "device_retired",
			    "device was wiped or unenrolled; enroll again");
		goto out;
	}
	memcpy(r->device_id, cn, UUID_LEN + 1); /* uuid_valid(cn) checked the length */
	snprintf(r->device_status, sizeof(r->device_status), "%s",
		 store_cell(&rows, 0, DEV_STATUS));
	snprintf(r->device_grp, sizeof(r->device_grp), "%s", store_cell(&rows, 0, DEV_GRP));
	memcpy(r->device_serial, serial, sizeof(serial));
	r->device_policy = strdup(store_cell(&rows, 0, DEV_POLICY));
	snprintf(r->actor, sizeof(r->actor), "device:%s", cn);
	ok = true;
out:
	store_rows_free(&rows);
	return ok;
}

static bool authenticate(struct req *r, const struct route *rt)
{
	int retry = 0;

	switch (rt->auth) {
	case AUTH_NONE:
		if (!ratelimit_take(r->w->srv->rl, r->peer, 1, &retry)) {
			char v[16];

			snprintf(v, sizeof(v), "%d", retry);
			evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After",
					  v);
			reply_error(r, 429, "rate_limited", "too many requests; retry in %d s",
				    retry);
			return false;
		}
		snprintf(r->actor, sizeof(r->actor), "anonymous:%s", r->peer);
		return true;
	case AUTH_DEVICE:
		return auth_device(r);
	default:
		return auth_admin(r, rt->auth);
	}
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
	struct req r = { .w = arg, .ev = ev, .method = evhttp_request_get_command(ev) };
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	struct evbuffer *in = evhttp_request_get_input_buffer(ev);
	const struct route *rt = NULL;
	bool path_found = false;
	char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evhttp_request_get_connection(ev), &addr, &port);
	snprintf(r.peer, sizeof(r.peer), "%s", addr ? addr : "?");
	r.path = uri ? evhttp_uri_get_path(uri) : NULL;
	r.query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (strlen(evhttp_request_get_uri(ev)) > MAX_URI) {
		r.path = "?";
		reply_error(&r, 414, "uri_too_long", "request URI longer than %d bytes", MAX_URI);
		return;
	}
	if (!r.path || r.path[0] != '/') {
		r.path = "?";
		reply_error(&r, 400, "bad_request", "malformed request URI");
		return;
	}
	rt = route_lookup(r.method, r.path, &r, &path_found);
	if (!rt) {
		if (path_found)
			reply_error(&r, 405, "method_not_allowed", "method not allowed on %s",
				    r.path);
		else
			reply_error(&r, 404, "not_found", "no such endpoint");
		return;
	}
	if (!authenticate(&r, rt))
		goto out;
	r.body_len = evbuffer_get_length(in);
	if (r.body_len > rt->max_body) {
		reply_error(&r, 413, "payload_too_large", "body larger than %zu bytes",
			    rt->max_body);
		goto out;
	}
	r.body = malloc(r.body_len + 1);
	if (!r.body) {
		reply_error(&r, 500, "internal", "out of memory");
		goto out;
	}
	evbuffer_remove(in, r.body, r.body_len);
	r.body[r.body_len] = '\0';
	rt->handler(&r);
	if (!r.replied)
		reply_error(&r, 500, "internal", "handler gave no answer");
	store_rollback(r.w->store);
out:
	free(r.body);
	free(r.device_policy);
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	SSL *ssl = SSL_new(w->srv->ssl);

	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *make_ssl_ctx(struct server *srv)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509_STORE *st;
	STACK_OF(X509_NAME) * names;

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_use_certificate(ctx, srv->ca.server_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, srv->ca.server_key) != 1 ||
	    SSL_CTX_add_extra_chain_cert(ctx, X509_dup(srv->ca.cert)) != 1)
		goto fail;
	st = SSL_CTX_get_cert_store(ctx);
	if (X509_STORE_add_cert(st, srv->ca.cert) != 1)
		goto fail;
	/* Client certificates must be ours and for clientAuth; they stay optional at TLS level. */
	X509_STORE_set_purpose(st, X509_PURPOSE_SSL_CLIENT);
	names = sk_X509_NAME_new_null();
	if (!names)
		goto fail;
	sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(srv->ca.cert)));
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"pocketvm", 8);
	return ctx;
fail:
	log_error("http: TLS setup failed: %s", ERR_error_string(ERR_get_error(), NULL));
	SSL_CTX_free(ctx);
	return NULL;
}

static int listen_socket(const char *spec, char *bound, size_t n)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[64], p[16];
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		log_error("http: --listen wants HOST:PORT, got %s", spec);
		return -EINVAL;
	}
	memcpy(host, spec, colon - spec);
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		log_error("http: cannot resolve listen address %s", spec);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/*
	 * TCP_NODELAY is inherited by accepted sockets on Linux: answers go out as
	 * several TLS records, and Nagle plus delayed ACKs would add 40 ms each.
	 */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		log_error("http: cannot listen on %s: %s", spec, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return -EADDRNOTAVAIL;
	}
	freeaddrinfo(ai);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, n, "%s:%s", h, p);
	return fd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	/* Close open connections here, and let the loop run their deferred finalizers. */
	evhttp_free(w->http);
	w->http = NULL;
	for (int i = 0; i < 4; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	keys_thread_exit();
	return NULL;
}

static int worker_init(struct worker *w, struct server *srv)
{
	int fd;

	w->srv = srv;
	w->store = store_open(srv->cfg.db_url);
	if (!w->store || keys_dup(&w->keys, &srv->keys) < 0)
		return -EIO;
	w->base = event_base_new();
	w->http = w->base ? evhttp_new(w->base) : NULL;
	if (!w->http)
		return -ENOMEM;
	evhttp_set_max_headers_size(w->http, MAX_HEADERS);
	evhttp_set_max_body_size(w->http, MAX_BODY_UPLOAD + 4096);
	evhttp_set_timeout(w->http, 30);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(w->http, bevcb, w);
	evhttp_set_gencb(w->http, dispatch, w);
	fd = dup(srv->listen_fd);
	if (fd < 0 || evhttp_accept_socket(w->http, fd) < 0)
		return -EIO;
	return 0;
}

static void worker_fini(struct worker *w)
{
	if (w->http)
		evhttp_free(w->http);
	if (w->base)
		event_base_free(w->base);
	store_free(w->store);
	keys_release(&w->keys);
}

int http_start(struct server *srv)
{
	struct worker *ws = calloc(srv->cfg.threads, sizeof(*ws));
	char bound[128];
	sigset_t set;
	int sig, r = 0, started = 0;

	if (!ws)
		return -ENOMEM;
	evthread_use_pthreads();
	srv->ssl = make_ssl_ctx(srv);
	srv->listen_fd = srv->ssl ? listen_socket(srv->cfg.listen, bound, sizeof(bound)) : -EINVAL;
	if (srv->listen_fd < 0) {
		r = -EINVAL;
		goto out;
	}
	for (int i = 0; i < srv->cfg.threads; i++) {
		r = worker_init(&ws[i], srv);
		if (r < 0)
			goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (; started < srv->cfg.threads; started++) {
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
			r = -EAGAIN;
			goto stop;
		}
	}
	log_info("listening on https://%s (%d threads, db %s)", bound, srv->cfg.threads,
		 srv->cfg.db_url[0] == 's' ? "sqlite" : "postgresql");
	if (srv->cfg.port_file) {
		FILE *f = fopen(srv->cfg.port_file, "we");

		if (f) {
			fprintf(f, "%s\n", strrchr(bound, ':') + 1);
			fclose(f);
		}
	}
	sigwait(&set, &sig);
	log_info("signal %d: shutting down", sig);
stop:
	for (int i = 0; i < started; i++)
		event_base_loopbreak(ws[i].base);
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
out:
	for (int i = 0; i < srv->cfg.threads; i++)
		worker_fini(&ws[i]);
	free(ws);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	SSL_CTX_free(srv->ssl);
	return r;
}
