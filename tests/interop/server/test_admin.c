// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-admin against a live server (SQLite or PostgreSQL): tokens and
 * scopes, groups and policies, VMs, commands, resumable image upload with a
 * signed manifest and ranged device downloads, and `audit verify` catching an
 * edited entry, a deleted entry and a cut-off tail written straight into the
 * database.
 */
#include <fcntl.h>
#include <jose/b64.h>
#include <jose/jws.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvs_test.h"

static struct pvs srv;
static char token_file[PATH_MAX];
static char db[PATH_MAX + 64];

/* Runs pocketvm-admin with args; *out gets stdout (caller frees). Returns its exit code. */
static int admin_cli(char **out, const char *const *args)
{
	const char *build = getenv("POCKETVM_BUILD");
	char bin[PATH_MAX], *argv[32];
	size_t len = 0, cap = 4096;
	int p[2], st, argc = 0;
	char *buf = malloc(cap);
	pid_t pid;
	ssize_t n;

	snprintf(bin, sizeof(bin), "%s/src/cli/admin/pocketvm-admin", build ? build : "build");
	argv[argc++] = bin;
	argv[argc++] = "--server";
	argv[argc++] = srv.url;
	argv[argc++] = "--ca";
	argv[argc++] = srv.ca;
	argv[argc++] = "--token-file";
	argv[argc++] = token_file;
	for (; *args && argc < 31; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execv(bin, argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, cap - len - 1)) > 0) {
		len += n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define ADMIN(out, ...) admin_cli(out, (const char *const[]){ __VA_ARGS__, NULL })

static json_t *admin_json(int *rc, const char *const *args)
{
	char *out = NULL;
	json_t *j;

	*rc = admin_cli(&out, args);
	j = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	return j;
}
#define ADMINJ(rc, ...) admin_json(rc, (const char *const[]){ __VA_ARGS__, NULL })

static int tamper(const char *sql_sqlite, const char *sql_pg)
{
	if (strncmp(db, "sqlite:", 7) == 0) {
		sqlite3 *h;
		int rc = sqlite3_open(db + 7, &h);

		if (rc == SQLITE_OK)
			rc = sqlite3_exec(h, sql_sqlite, NULL, NULL, NULL);
		sqlite3_close(h);
		return rc == SQLITE_OK ? 0 : -1;
	} else {
		PGconn *c = PQconnectdb(db);
		PGresult *res = PQexec(c, sql_pg);
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		if (!ok)
			printf("# %s\n", PQerrorMessage(c));
		PQclear(res);
		PQfinish(c);
		return ok ? 0 : -1;
	}
}

static void write_token(const char *tok)
{
	FILE *f = fopen(token_file, "we");

	fprintf(f, "%s\n", tok);
	fclose(f);
}

static void test_images(struct device *d, const char *dir)
{
	char kernel[PATH_MAX], url[512], hex[65];
	unsigned char *data = malloc(2500000), md[32];
	unsigned int mdlen;
	struct resp r;
	json_t *pl, *hdr;
	int rc, fd;

	RAND_bytes(data, 2500000);
	snprintf(kernel, sizeof(kernel), "%s/kernel.img", dir);
	fd = open(kernel, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, data, 2500000) == 2500000, "test kernel written");
	close(fd);
	EVP_Digest(data, 2500000, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	json_t *pub = ADMINJ(&rc, "image", "upload", "work-os", "1.0", "--kernel", kernel);
	CHECK(rc == 0 && pub, "image uploaded in 1 MiB chunks and published");
	json_decref(pub);

	snprintf(url, sizeof(url), "%s/v1/images/work-os/1.0/manifest", srv.url);
	client_req(&d->c, "GET", url, NULL, 0, NULL, &r);
	CHECK(r.status == 200 && r.json && jose_jws_ver(NULL, r.json, NULL, d->lease_key, false),
	      "device fetches the manifest and its signature verifies with the lease key");
	hdr = jose_b64_dec_load(json_object_get(r.json, "protected"));
	pl = jose_b64_dec_load(json_object_get(r.json, "payload"));
	CHECK(!strcmp(json_string_value(json_object_get(hdr, "typ")), "pocketvm-manifest+jwt"),
	      "manifest typ is pocketvm-manifest+jwt");
	CHECK(!strcmp(json_string_value(json_object_get(
			      json_object_get(json_object_get(pl, "files"), "kernel"), "sha256")),
		      hex),
	      "manifest carries the kernel's SHA-256");
	json_decref(hdr);
	json_decref(pl);
	resp_free(&r);

	snprintf(url, sizeof(url), "%s/v1/images/work-os/1.0/files/kernel", srv.url);
	client_req(&d->c, "GET", url, NULL, 0, "Range: bytes=1000000-1000099", &r);
	CHECK(r.status == 206 && r.len == 100 && !memcmp(r.body, data + 1000000, 100) &&
		      !strcmp(r.content_range, "bytes 1000000-1000099/2500000"),
	      "range request: 206, right bytes, Content-Range %s", r.content_range);
	resp_free(&r);
	client_req(&d->c, "GET", url, NULL, 0, "Range: bytes=2000000-", &r);
	CHECK(r.status == 206 && r.len == 500000 && !memcmp(r.body, data + 2000000, 500000),
	      "resume from an offset to the end");
	resp_free(&r);
	client_req(&d->c, "GET", url, NULL, 0, "Range: bytes=2500000-", &r);
	CHECK(r.status == 416 && !strcmp(r.content_range, "bytes */2500000"),
	      "range past the end: 416 with Content-Range bytes */SIZE");
	resp_free(&r);
	client_req(&d->c, "GET", url, NULL, 0, NULL, &r);
	CHECK(r.status == 200 && r.len == 2500000 && !memcmp(r.body, data, 2500000),
	      "whole file downloads intact");
	resp_free(&r);
	free(data);

	ADMIN(NULL, "device", "policy", d->id, "{\"allowed_images\":[\"other-os\"]}");
	client_req(&d->c, "GET", url, NULL, 0, NULL, &r);
	CHECK(r.status == 403 && !strcmp(resp_error(&r), "image_not_allowed"),
	      "policy allowed_images excludes the image: 403 image_not_allowed");
	resp_free(&r);
	CHECK(ADMIN(NULL, "vm", "create", "--device", d->id, "--name", "w2", "--image", "work-os",
		    "--image-version", "1.0") == 1,
	      "a VM with an image the device's policy excludes is refused");
	ADMIN(NULL, "device", "policy", d->id, "{\"allowed_images\":[\"work-os@1.0\"]}");
	client_req(&d->c, "GET", url, NULL, 0, "Range: bytes=0-0", &r);
	CHECK(r.status == 206, "name@version entry allows it again");
	resp_free(&r);
	CHECK(ADMIN(NULL, "vm", "create", "--device", d->id, "--name", "w2", "--image", "work-os",
		    "--image-version", "1.0") == 0,
	      "and a VM with that image can be created");
}

static void test_audit(void)
{
	char *out = NULL, head[160] = "";
	struct resp r;
	size_t i;
	json_t *e;
	int rc, logins = 0;
	char *p;

	admin_req(&srv, "GET", "/v1/admin/audit?after=0", NULL, &r);
	json_array_foreach(json_object_get(r.json, "entries"), i, e) logins +=
		!strcmp(json_string_value(json_object_get(e, "action")), "admin.login") &&
		!strcmp(json_string_value(json_object_get(e, "actor")), "admin:viewer");
	CHECK(logins == 1, "admin logins audited once per session, not per request (%d)", logins);
	resp_free(&r);

	rc = ADMIN(&out, "audit", "verify");
	CHECK(rc == 0 && strstr(out, "audit log verified"), "audit verify passes: %s",
	      out ? strtok(out, "\n") : "");
	p = out ? strstr(out, "head ") : NULL;
	if (p)
		snprintf(head, sizeof(head), "%.*s", (int)strcspn(p + 5, "\n"), p + 5);
	free(out);

	CHECK(tamper("UPDATE audit SET detail = '{}' WHERE seq = 3",
		     "UPDATE audit SET detail = '{}' WHERE seq = 3") < 0,
	      "the database itself refuses to edit audit entries (trigger)");
	CHECK(tamper("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;",
		     "ALTER TABLE audit DISABLE TRIGGER audit_no_change") == 0,
	      "an attacker with database access drops the triggers");
	tamper("UPDATE audit SET actor = 'admin:nobody' WHERE seq = 3",
	       "UPDATE audit SET actor = 'admin:nobody' WHERE seq = 3");
	rc = ADMIN(&out, "audit", "verify");
	CHECK(rc == 1 && strstr(out, "BROKEN at seq 3"), "edited entry detected: %s",
	      out ? strtok(out, "\n") : "");
	free(out);
	tamper("DELETE FROM audit WHERE seq = 3", "DELETE FROM audit WHERE seq = 3");
	rc = ADMIN(&out, "audit", "verify");
	CHECK(rc == 1 && strstr(out, "deleted"), "deleted entry detected: %s",
	      out ? strtok(out, "\n") : "");
	free(out);
	tamper("DELETE FROM audit WHERE seq >= 3", "DELETE FROM audit WHERE seq >= 3");
	rc = ADMIN(&out, "audit", "verify");
	CHECK(rc == 0, "a cut-off tail alone still forms a valid chain");
	free(out);
	rc = ADMIN(&out, "audit", "verify", "--expect-head", head);
	CHECK(rc == 1 && strstr(out, "newest entries deleted"),
	      "--expect-head %s detects the cut-off tail", head);
	free(out);
}

int main(int argc, char **argv)
{
	struct device d;
	struct pg pg;
	json_t *j;
	char *tok[1], vm[64];
	int rc = t_setup(argc, argv, &pg, &srv, db, sizeof(db));

	if (rc)
		return rc;
	snprintf(token_file, sizeof(token_file), "%s/admin-token", t_tmpdir());
	write_token(srv.admin);
	j = ADMINJ(&rc, "whoami", "show");
	CHECK(rc == 0 && !strcmp(json_string_value(json_object_get(j, "actor")),
				 "admin:initial-admin"),
	      "pocketvm-admin authenticates with the token file");
	json_decref(j);
	j = ADMINJ(&rc, "token", "create", "viewer", "--scopes", "read");
	CHECK(rc == 0 && json_object_get(j, "token"), "read-only admin token created");
	write_token(json_string_value(json_object_get(j, "token")));
	json_decref(j);
	CHECK(ADMIN(NULL, "device", "list") == 0, "read scope lists devices");
	CHECK(ADMIN(NULL, "device", "list") == 0, "and again");
	CHECK(ADMIN(NULL, "group", "create", "sales") == 1, "read scope cannot create a group");
	write_token(srv.admin);
	CHECK(ADMIN(NULL, "group", "create", "sales", "--policy", "{\"offline_lifetime\":600}") ==
		      0,
	      "group with policy created");
	CHECK(ADMIN(NULL, "group", "create", "bad", "--policy", "{\"offline_lifetime\":\"x\"}") ==
		      1,
	      "invalid policy refused");
	j = ADMINJ(&rc, "enroll-token", "create", "--group", "sales", "--count", "1");
	tok[0] = strdup(json_string_value(
		json_object_get(json_array_get(json_object_get(j, "tokens"), 0), "token")));
	CHECK(rc == 0 && json_object_get(j, "ca_sha256"), "enrollment token with CA pin created");
	json_decref(j);
	CHECK(device_enroll(&srv, tok[0], &d) == 201, "device enrolls into group sales");
	j = ADMINJ(&rc, "vm", "create", "--device", d.id, "--name", "work");
	snprintf(vm, sizeof(vm), "%s", json_string_value(json_object_get(j, "id")));
	CHECK(rc == 0 && strlen(vm) == 36, "vm create");
	json_decref(j);
	{
		struct resp r;
		const char *nonce, *why;
		json_t *pl;

		device_checkin(&d, srv.url, NULL, &r, &nonce);
		pl = lease_verify(
			&d,
			json_object_get(json_array_get(json_object_get(r.json, "leases"), 0),
					"lease"),
			vm, nonce, &why);
		CHECK(pl && json_integer_value(json_object_get(pl, "offline")) == 600,
		      "group policy sets the lease's offline lifetime (600 s)");
		json_decref(pl);
		resp_free(&r);
	}
	CHECK(ADMIN(NULL, "command", "send", d.id, "lock", "--vm", vm) == 0, "command send lock");
	CHECK(ADMIN(NULL, "command", "send", d.id, "lock") == 1, "lock without --vm refused");
	CHECK(ADMIN(NULL, "device", "show", "../../admin/tokens") == 2,
	      "path injection in an id refused by the CLI");
	test_images(&d, t_tmpdir());
	test_audit();
	pvs_stop(&srv);
	device_free(&d);
	free(tok[0]);
	pg_stop(&pg);
	return t_done();
}
