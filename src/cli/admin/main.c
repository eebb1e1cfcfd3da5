// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-admin [--server URL] [--ca FILE] [--token-file FILE] GROUP VERB [ARGS]
 *
 * The admin token is read from a file (default ~/.config/pocketvm/admin-token
 * or $POCKETVM_ADMIN_TOKEN_FILE) so it never shows in argv or the environment.
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin.h"

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct answer *a = arg;
	char *nb = realloc(a->body, a->len + sz * n + 1);

	if (!nb)
		return 0;
	a->body = nb;
	memcpy(a->body + a->len, p, sz * n);
	a->len += sz * n;
	a->body[a->len] = '\0';
	return sz * n;
}

int admin_call(struct admin *a, const char *method, const char *path, const char *body, size_t len,
	       const char *ctype, struct answer *out)
{
	struct curl_slist *h = NULL;
	char url[2048], auth[192], ct[128];
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", a->server, path);
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	if (a->ca)
		curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->ca);
	curl_easy_setopt(a->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 120L);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, ct);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(a->curl);
	OPENSSL_cleanse(auth, sizeof(auth));
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "pocketvm-admin: %s %s: %s\n", method, url, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body)
		out->json = json_loadb(out->body, out->len, 0, NULL);
	return 0;
}

void answer_free(struct answer *ans)
{
	free(ans->body);
	json_decref(ans->json);
	memset(ans, 0, sizeof(*ans));
}

int answer_fail(const struct answer *ans)
{
	const char *e = json_string_value(json_object_get(ans->json, "error"));
	const char *m = json_string_value(json_object_get(ans->json, "message"));

	fprintf(stderr, "pocketvm-admin: %ld %s: %s\n", ans->status, e ? e : "error",
		m ? m : (ans->body ? ans->body : ""));
	return 1;
}

int answer_print(struct answer *ans, long want)
{
	int r = 0;

	if (ans->status != want || !ans->json) {
		r = answer_fail(ans);
	} else {
		json_dumpf(ans->json, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	}
	answer_free(ans);
	return r;
}

const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pocketvm-admin [--server URL] [--ca FILE] [--token-file FILE] "
		   "GROUP VERB [ARGS]\n"
		   "  (defaults: $POCKETVM_SERVER, $POCKETVM_CA, $POCKETVM_ADMIN_TOKEN_FILE or\n"
		   "   ~/.config/pocketvm/admin-token)\n\ncommands:\n");
	for (int i = 0; i < admin_cmds_count; i++)
		fprintf(f, "  %s %s %s\n", admin_cmds[i].group, admin_cmds[i].verb,
			admin_cmds[i].usage);
}

static int read_token(struct admin *a, const char *path)
{
	char def[4096];
	FILE *f;
	size_t n;

	if (!path) {
		snprintf(def, sizeof(def), "%s/.config/pocketvm/admin-token",
			 getenv("HOME") ? getenv("HOME") : "");
		path = def;
	}
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "pocketvm-admin: cannot read the admin token file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	n = fread(a->token, 1, sizeof(a->token) - 1, f);
	fclose(f);
	a->token[n] = '\0';
	a->token[strcspn(a->token, "\r\n \t")] = '\0';
	if (strncmp(a->token, "pva_", 4) != 0) {
		fprintf(stderr, "pocketvm-admin: %s does not hold an admin token (pva_...)\n",
			path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct admin a = { .server = getenv("POCKETVM_SERVER"), .ca = getenv("POCKETVM_CA") };
	const char *token_file = getenv("POCKETVM_ADMIN_TOKEN_FILE");
	int i = 1, r = 2;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			a.server = argv[i + 1];
		else if (strcmp(argv[i], "--ca") == 0)
			a.ca = argv[i + 1];
		else if (strcmp(argv[i], "--token-file") == 0)
			token_file = argv[i + 1];
		else
			break;
	}
	/* "whoami" alone reads better than "whoami show". */
	char *whoami[] = { "whoami", "show" };

	if (argc - i == 1 && strcmp(argv[i], "whoami") == 0) {
		argv = whoami;
		argc = 2;
		i = 0;
	}
	if (argc - i < 2 || (argc > 1 && strcmp(argv[1], "--help") == 0)) {
		usage(argc > 1 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	if (!a.server) {
		fprintf(stderr, "pocketvm-admin: no server (--server or $POCKETVM_SERVER)\n");
		return 2;
	}
	for (int c = 0; c < admin_cmds_count; c++) {
		if (strcmp(argv[i], admin_cmds[c].group) || strcmp(argv[i + 1], admin_cmds[c].verb))
			continue;
		if (read_token(&a, token_file) < 0)
			return 2;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		a.curl = curl_easy_init();
		r = a.curl ? admin_cmds[c].run(&a, argc - i - 2, argv + i + 2) : 1;
		curl_easy_cleanup(a.curl);
		curl_global_cleanup();
		OPENSSL_cleanse(a.token, sizeof(a.token));
		return r;
	}
	fprintf(stderr, "pocketvm-admin: unknown command %s %s\n", argv[i], argv[i + 1]);
	usage(stderr);
	return 2;
}
