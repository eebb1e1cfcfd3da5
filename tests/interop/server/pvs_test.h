/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test harness for pocketvm-server integration tests: starts real server
 * processes on 127.0.0.1 (and a throw-away PostgreSQL on a unix socket), and
 * plays the device side over real TLS with libcurl: CSR enrollment, mTLS
 * check-ins, lease verification, and the Tang/McCallum-Relyea client math
 * with libjose.
 */
#ifndef POCKETVM_TESTS_PVS_TEST_H
#define POCKETVM_TESTS_PVS_TEST_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

extern int t_failures;
extern int t_count;

#define CHECK(cond, ...)                                                            \
	do {                                                                        \
		t_count++;                                                          \
		if (cond) {                                                         \
			printf("ok %d - ", t_count);                                \
		} else {                                                            \
			t_failures++;                                               \
			printf("not ok %d - %s:%d: ", t_count, __FILE__, __LINE__); \
		}                                                                   \
		printf(__VA_ARGS__);                                                \
		printf("\n");                                                       \
		fflush(stdout);                                                     \
	} while (0)

/* A test directory removed at exit (also when a check fails). */
const char *t_tmpdir(void);

struct pvs {
	pid_t pid;
	char state[PATH_MAX];
	char url[128];
	char ca[PATH_MAX];
	char admin[128];
	char log[PATH_MAX];
};

/*
 * Starts pocketvm-server with database db (sqlite:... or postgresql://...) and
 * state directory state (created when missing). Waits until it listens.
 * Extra arguments (NULL-terminated) are appended. 0 or -1.
 */
int pvs_start(struct pvs *s, const char *db, const char *state, ...);
void pvs_stop(struct pvs *s);
/* Stops every server still running (registered with atexit). */
void pvs_stop_all(void);

struct resp {
	long status;
	char *body;
	size_t len;
	json_t *json; /* parsed body when it is JSON */
	char content_range[128];
};
void resp_free(struct resp *r);
/* The "error" code of a JSON error answer, or "". */
const char *resp_error(const struct resp *r);

struct client {
	void *curl;
	char cert[PATH_MAX];
	char key[PATH_MAX];
	const char *ca;
	const char *bearer;
	bool use_cert;
};

/* A keep-alive client trusting ca. */
void client_init(struct client *c, const char *ca);
void client_free(struct client *c);
/* Performs one request; extra_header may be NULL. 0, or -1 on a transport error. */
int client_req(struct client *c, const char *method, const char *url, const char *body, size_t len,
	       const char *extra_header, struct resp *out);

/* Admin request with s->admin as bearer; body is a JSON string or NULL. */
int admin_req(struct pvs *s, const char *method, const char *path, const char *body,
	      struct resp *out);

struct device {
	char id[64];
	char dir[PATH_MAX];
	struct client c;
	json_t *lease_key;
	long long last_seq;
};

/* Creates n enrollment tokens in group; returns them in tokens[] (caller frees). */
int make_tokens(struct pvs *s, const char *group, int n, long expires_in, char **tokens);
/*
 * Generates a device key and CSR in a new directory and enrolls with token.
 * Returns the HTTP status (201 on success, with d filled).
 */
long device_enroll(struct pvs *s, const char *token, struct device *d);
void device_free(struct device *d);
/*
 * POST /v1/renew with a new key and CSR; on 200 the device's client uses the
 * new certificate and key (new files). Returns the HTTP status.
 */
long device_renew(struct device *d, const char *base);

/* POST /v1/checkin with a fresh nonce; *nonce_out receives it (static buffer). */
int device_checkin(struct device *d, const char *base, const char *acks_json, struct resp *out,
		   const char **nonce_out);
/*
 * Verifies a lease JWS as a device must (docs/protocol.md): signature by the
 * enrollment lease key, typ, sub, vm, nonce, seq > last. Returns the payload
 * (caller frees) or NULL with *why set.
 */
json_t *lease_verify(struct device *d, const json_t *jws, const char *vm, const char *nonce,
		     const char **why);

/* Creates a VM for device; returns its id in out (size >= 64). HTTP status. */
long vm_create(struct pvs *s, const char *device, const char *name, char *out);

/*
 * Tang binding as clevis does it: fetch /adv for vm, verify, pick the
 * exchange key, generate the client key; *bind receives {"clt","kid","K"}
 * where K is the derived key JWK (what would encrypt the DEK). HTTP status.
 */
long tang_bind(struct device *d, const char *base, const char *vm, json_t **bind);
/* Recovery through /tang/VM/rec/KID; *key gets the recovered K. HTTP status. */
long tang_recover(struct device *d, const char *base, const char *vm, const json_t *bind,
		  json_t **key);

/* Throw-away PostgreSQL cluster on a unix socket in a temp dir. */
struct pg {
	char dir[PATH_MAX];
	char url[PATH_MAX + 64];
	bool running;
};
/* 0, or 77 when PostgreSQL is not installed (caller should skip), or -1. */
int pg_start(struct pg *pg);
void pg_stop(struct pg *pg);
/* Stops (fast shutdown) or starts the cluster in place; 0 or -1. */
int pg_ctl(struct pg *pg, const char *action);

/*
 * Starts the backend named by argv[1] ("sqlite" default, or "postgresql")
 * and one server on it (state in the test directory). Returns 0, 77 (skip,
 * already printed) or 1.
 */
int t_setup(int argc, char **argv, struct pg *pg, struct pvs *s, char *db, size_t dblen);

/* Exit code for the test: 0, 1 when a check failed. */
int t_done(void);

#endif
