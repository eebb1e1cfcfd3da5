/* SPDX-License-Identifier: Apache-2.0 */
/* pocketvm-admin: the enterprise CLI over pocketvm-server's admin REST API (docs/api.md). */
#ifndef POCKETVM_CLI_ADMIN_H
#define POCKETVM_CLI_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct admin {
	const char *server; /* https://host:port */
	const char *ca; /* CA certificate file */
	char token[128]; /* from the token file; never from argv or the environment */
	void *curl;
};

struct answer {
	long status;
	char *body;
	size_t len;
	json_t *json;
};

/* One request; body may be NULL. 0, or -1 on a transport error (printed). */
int admin_call(struct admin *a, const char *method, const char *path, const char *body, size_t len,
	       const char *ctype, struct answer *out);
void answer_free(struct answer *ans);
/* Prints an error answer as "pocketvm-admin: STATUS error: message" and returns 1. */
int answer_fail(const struct answer *ans);
/* Pretty-prints the JSON answer on success (exit 0) or the error (exit 1). */
int answer_print(struct answer *ans, long want);

struct cmd {
	const char *group; /* "device", "vm", ... */
	const char *verb; /* "list", "show", ... */
	const char *usage; /* arguments after group and verb */
	int (*run)(struct admin *a, int argc, char **argv);
};

extern const struct cmd admin_cmds[];
extern const int admin_cmds_count;

/* Value of "--name VALUE" in argv, or NULL. */
const char *opt(int argc, char **argv, const char *name);

int cmd_audit_verify(struct admin *a, int argc, char **argv);
int cmd_image_upload(struct admin *a, int argc, char **argv);

#endif
