/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pocketvm-server's runtime: one struct server (read-only after start-up,
 * shared) and one struct worker per thread (its own event loop, evhttp,
 * database connection and key copies). Requests are dispatched through the
 * route table in routes.c to handlers in api_*.c.
 */
#ifndef POCKETVM_SERVER_SERVER_H
#define POCKETVM_SERVER_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/ca.h"
#include "server/keys.h"
#include "server/ratelimit.h"
#include "server/store.h"

#define MAX_HEADERS 8192
#define MAX_URI 1024
#define MAX_BODY_SMALL (64 * 1024)
#define MAX_BODY_UPLOAD (1024 * 1024)
#define MAX_JSON_DEPTH 16
#define MAX_HOSTS 8

struct server_config {
	const char *listen;
	const char *db_url;
	const char *state_dir;
	const char *image_dir;
	const char *port_file;
	const char *hosts[MAX_HOSTS];
	int nhosts;
	int threads;
	double unauth_rate;
	double unauth_burst;
	int64_t default_offline;
	int64_t default_checkin;
};

struct server {
	struct server_config cfg;
	struct ca ca;
	struct keys keys;
	SSL_CTX *ssl;
	struct ratelimit *rl;
	int listen_fd;
	char image_dir[4096];
};

struct worker {
	struct server *srv;
	struct event_base *base;
	struct evhttp *http;
	struct store *store;
	struct keys keys;
	pthread_t thread;
};

enum auth {
	AUTH_NONE, /* anyone; rate limited */
	AUTH_DEVICE, /* mTLS client certificate of an enrolled device */
	AUTH_READ, /* admin token with scope read (or write) */
	AUTH_WRITE, /* admin token with scope write */
	AUTH_ENROLL, /* admin token with scope enroll (or write): enrollment tokens only */
	AUTH_AUDIT, /* admin token with scope audit */
	AUTH_ADMIN, /* admin token with scope admin (implies every other scope) */
};

#define MAX_ARGS 4

/* One request being handled. */
struct req {
	struct worker *w;
	struct evhttp_request *ev;
	enum evhttp_cmd_type method;
	const char *path;
	const char *query;
	const char *args[MAX_ARGS];
	char argbuf[MAX_URI + MAX_ARGS + 1];
	char *body;
	size_t body_len;
	char peer[64];
	/* AUTH_DEVICE: the device (row from Q_DEVICE_GET). */
	char device_id[UUID_LEN + 1];
	char device_status[16];
	char device_grp[80];
	char device_serial[CA_SERIAL_HEX + 1];
	char *device_policy;
	/* Admin token: "admin:<token name>" for the audit log. */
	char actor[128];
	bool replied;
};

struct route {
	enum evhttp_cmd_type method;
	const char *pattern; /* segments; "*" captures one into args[] */
	enum auth auth;
	size_t max_body;
	void (*handler)(struct req *r);
};

extern const struct route routes[];
extern const int routes_count;

/* http.c */
/*
 * The route for method and path, its "*" segments captured into r->args
 * (each at most 128 bytes). NULL when none; *path_found tells 405 from 404.
 */
const struct route *route_lookup(enum evhttp_cmd_type method, const char *path, struct req *r,
				 bool *path_found);
int __must_check http_start(struct server *srv);
void reply_json(struct req *r, int status, json_t *body); /* steals body */
void reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void reply_raw(struct req *r, int status, const char *ctype, const char *data, size_t len);
/* Parses the body as a JSON object within limits; on failure replies 400 and returns NULL. */
json_t *req_json(struct req *r);
/* The value of query parameter key (copied into buf) or NULL. */
const char *req_query(struct req *r, const char *key, char *buf, size_t n);
/* Charges the caller's rate-limit bucket (failed authentication and such). */
void req_penalize(struct req *r, double cost);

/* audit.c */
int __must_check audit_append(struct worker *w, const char *actor, const char *action,
			      const char *subject, json_t *detail);

/* policy.c: effective policy of device (group, device, VM layers merged). */
json_t *policy_effective(struct worker *w, const char *grp, const char *device_policy,
			 const char *vm_policy);
/* The server defaults merged with group grp's policy (one query). */
json_t *policy_base(struct worker *w, const char *grp);
/* A copy of base with the device and VM layers (JSON texts, may be NULL) merged in. */
json_t *policy_layer(const json_t *base, const char *device_policy, const char *vm_policy);
/* Validates an admin-supplied policy object; false with *why set. */
bool policy_valid(const json_t *p, const char **why);
bool policy_image_allowed(const json_t *policy, const char *name, const char *version);

#endif
