// SPDX-License-Identifier: Apache-2.0
#include "pvs_test.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int t_failures;
int t_count;

#define MAX_SERVERS 8
static struct pvs *servers[MAX_SERVERS];
static char tmpdir[PATH_MAX];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void rm_tmpdir(void)
{
	if (tmpdir[0] && !getenv("PVS_KEEP"))
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *t_tmpdir(void)
{
	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/pvs-test-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
		chmod(tmpdir, 0755);
		atexit(rm_tmpdir);
		atexit(pvs_stop_all);
		curl_global_init(CURL_GLOBAL_DEFAULT);
	}
	return tmpdir;
}

int t_done(void)
{
	printf("1..%d\n", t_count);
	if (t_failures)
		printf("# %d of %d checks failed\n", t_failures, t_count);
	return t_failures ? 1 : 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &n, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int pvs_start(struct pvs *s, const char *db, const char *state, ...)
{
	const char *build = getenv("POCKETVM_BUILD");
	char bin[PATH_MAX], portf[PATH_MAX], outf[PATH_MAX], *argv[48];
	char *port = NULL, *out = NULL, *tok;
	int argc = 0;
	va_list ap;

	memset(s, 0, sizeof(*s));
	snprintf(bin, sizeof(bin), "%s/src/server/pocketvm-server", build ? build : "build");
	snprintf(s->state, sizeof(s->state), "%s", state);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", state);
	snprintf(portf, sizeof(portf), "%s.port", state);
	snprintf(outf, sizeof(outf), "%s.stdout", state);
	snprintf(s->log, sizeof(s->log), "%s.log", state);
	unlink(portf);
	argv[argc++] = bin;
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--db";
	argv[argc++] = (char *)db;
	argv[argc++] = "--state";
	argv[argc++] = s->state;
	argv[argc++] = "--port-file";
	argv[argc++] = portf;
	argv[argc++] = "--threads";
	argv[argc++] = "2";
	va_start(ap, state);
	for (char *a; (a = va_arg(ap, char *)) && argc < 46;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	s->pid = fork();
	if (s->pid == 0) {
		int o = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(o, 1);
		dup2(e, 2);
		execv(bin, argv);
		_exit(127);
	}
	for (int i = 0; i < MAX_SERVERS; i++) {
		if (!servers[i]) {
			servers[i] = s;
			break;
		}
	}
	for (int i = 0; i < 300; i++) {
		int st;

		free(port);
		port = read_file(portf);
		if (port && strchr(port, '\n'))
			break;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			fprintf(stderr, "server exited early; log %s\n", s->log);
			s->pid = 0;
			free(port);
			return -1;
		}
		usleep(50000);
	}
	if (!port || !strchr(port, '\n')) {
		free(port);
		return -1;
	}
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%d", atoi(port));
	free(port);
	out = read_file(outf);
	tok = out ? strstr(out, "pva_") : NULL;
	if (tok) {
		tok[strcspn(tok, "\n")] = '\0';
		snprintf(s->admin, sizeof(s->admin), "%s", tok);
	}
	free(out);
	return 0;
}

void pvs_stop(struct pvs *s)
{
	int st = 0;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid)
			break;
		if (i == 199) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
		}
		usleep(50000);
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "server %d exits cleanly on SIGTERM (no sanitizer report; log %s)", s->pid, s->log);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char *log = read_file(s->log);

		fprintf(stderr, "---- server log ----\n%s\n", log ? log : "");
		free(log);
	}
	s->pid = 0;
	for (int i = 0; i < MAX_SERVERS; i++)
		if (servers[i] == s)
			servers[i] = NULL;
}

void pvs_stop_all(void)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (servers[i])
			pvs_stop(servers[i]);
}

void resp_free(struct resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *resp_error(const struct resp *r)
{
	const char *e = json_string_value(json_object_get(r->json, "error"));

	return e ? e : "";
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;

	if (n * sz > 15 && strncasecmp(p, "Content-Range: ", 15) == 0)
		snprintf(r->content_range, sizeof(r->content_range), "%.*s",
			 (int)strcspn(p + 15, "\r\n"), p + 15);
	return sz * n;
}

void client_init(struct client *c, const char *ca)
{
	memset(c, 0, sizeof(*c));
	c->curl = curl_easy_init();
	c->ca = ca;
}

void client_free(struct client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

int client_req(struct client *c, const char *method, const char *url, const char *body, size_t len,
	       const char *extra_header, struct resp *out)
{
	struct curl_slist *h = NULL;
	char auth[256];
	CURL *k = c->curl;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_CAINFO, c->ca);
	curl_easy_setopt(k, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, 20L);
	if (c->use_cert) {
		curl_easy_setopt(k, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(k, CURLOPT_SSLKEY, c->key);
	}
	if (c->bearer) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->bearer);
		h = curl_slist_append(h, auth);
	}
	if (extra_header)
		h = curl_slist_append(h, extra_header);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(k);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		out->status = -1;
		fprintf(stderr, "# curl %s %s: %s\n", method, url, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body)
		out->json = json_loadb(out->body, out->len, 0, NULL);
	return 0;
}

int admin_req(struct pvs *s, const char *method, const char *path, const char *body,
	      struct resp *out)
{
	static struct client c;
	char url[512];
	int r;

	if (!c.curl)
		client_init(&c, s->ca);
	c.ca = s->ca;
	c.bearer = s->admin;
	snprintf(url, sizeof(url), "%s%s", s->url, path);
	r = client_req(&c, method, url, body, body ? strlen(body) : 0, NULL, out);
	return r;
}

int make_tokens(struct pvs *s, const char *group, int n, long expires_in, char **tokens)
{
	char body[256];
	struct resp r;
	int ok = -1;

	snprintf(body, sizeof(body), "{\"group\":\"%s\",\"count\":%d,\"expires_in\":%ld}", group, n,
		 expires_in);
	if (admin_req(s, "POST", "/v1/admin/enrollment-tokens", body, &r) == 0 && r.status == 201) {
		json_t *arr = json_object_get(r.json, "tokens");

		for (int i = 0; i < n; i++)
			tokens[i] = strdup(json_string_value(
				json_object_get(json_array_get(arr, i), "token")));
		ok = 0;
	}
	resp_free(&r);
	return ok;
}

static char *make_csr(const char *keypath)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	FILE *f = fopen(keypath, "we");
	char *data, *out = NULL;
	long n;

	X509_REQ_set_pubkey(req, pk);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
				   (const unsigned char *)"ignored", -1, -1, 0);
	X509_REQ_sign(req, pk, EVP_sha256());
	if (f) {
		fchmod(fileno(f), 0600);
		PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
		fclose(f);
	}
	PEM_write_bio_X509_REQ(b, req);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, n);
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	return out;
}

long device_enroll(struct pvs *s, const char *token, struct device *d)
{
	static int seq;
	char url[256], *csr;
	json_t *body;
	char *text;
	struct resp r;
	long status;
	FILE *f;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s/dev%d", t_tmpdir(),
		 __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST));
	mkdir(d->dir, 0700);
	client_init(&d->c, s->ca);
	snprintf(d->c.key, sizeof(d->c.key), "%s/device.key", d->dir);
	snprintf(d->c.cert, sizeof(d->c.cert), "%s/device.pem", d->dir);
	csr = make_csr(d->c.key);
	body = json_pack("{s:s,s:s,s:s}", "token", token, "csr", csr, "name", "test-phone");
	text = json_dumps(body, 0);
	snprintf(url, sizeof(url), "%s/v1/enroll", s->url);
	client_req(&d->c, "POST", url, text, strlen(text), NULL, &r);
	status = r.status;
	if (status == 201) {
		snprintf(d->id, sizeof(d->id), "%s",
			 json_string_value(json_object_get(r.json, "device_id")));
		f = fopen(d->c.cert, "we");
		if (f) {
			fputs(json_string_value(json_object_get(r.json, "certificate")), f);
			fclose(f);
		}
		d->lease_key = json_incref(json_object_get(r.json, "lease_key"));
		d->c.use_cert = true;
	}
	resp_free(&r);
	free(text);
	free(csr);
	json_decref(body);
	return status;
}

long device_renew(struct device *d, const char *base)
{
	static int gen;
	char key[PATH_MAX], url[256], *csr, *text;
	json_t *body;
	struct resp r;
	long status;
	FILE *f;

	snprintf(key, sizeof(key), "%s/renewed%d.key", d->dir, ++gen);
	csr = make_csr(key);
	body = json_pack("{s:s}", "csr", csr);
	text = json_dumps(body, 0);
	snprintf(url, sizeof(url), "%s/v1/renew", base);
	client_req(&d->c, "POST", url, text, strlen(text), NULL, &r);
	status = r.status;
	if (status == 200) {
		snprintf(d->c.key, sizeof(d->c.key), "%s", key);
		snprintf(d->c.cert, sizeof(d->c.cert), "%s/renewed%d.pem", d->dir, gen);
		f = fopen(d->c.cert, "we");
		if (f) {
			fputs(json_string_value(json_object_get(r.json, "certificate")), f);
			fclose(f);
		}
	}
	resp_free(&r);
	free(text);
	free(csr);
	json_decref(body);
	return status;
}

void device_free(struct device *d)
{
	client_free(&d->c);
	json_decref(d->lease_key);
	d->lease_key = NULL;
}

int device_checkin(struct device *d, const char *base, const char *acks_json, struct resp *out,
		   const char **nonce_out)
{
	static char nonce[64];
	unsigned char raw[24];
	char url[256], body[4096];

	RAND_bytes(raw, sizeof(raw));
	nonce[jose_b64_enc_buf(raw, sizeof(raw), nonce, sizeof(nonce) - 1)] = '\0';
	snprintf(body, sizeof(body), "{\"nonce\":\"%s\",\"time\":%ld%s%s}", nonce, (long)time(NULL),
		 acks_json ? ",\"acks\":" : "", acks_json ? acks_json : "");
	snprintf(url, sizeof(url), "%s/v1/checkin", base);
	if (nonce_out)
		*nonce_out = nonce;
	return client_req(&d->c, "POST", url, body, strlen(body), NULL, out);
}

json_t *lease_verify(struct device *d, const json_t *jws, const char *vm, const char *nonce,
		     const char **why)
{
	json_t *hdr = NULL, *pl = NULL;
	const char *alg = NULL, *typ = NULL, *sub = NULL, *lvm = NULL, *ln = NULL;
	json_int_t seq = 0, iat = 0, exp = 0, off = 0;

	*why = "signature";
	if (!jws || !jose_jws_ver(NULL, jws, NULL, d->lease_key, false))
		return NULL;
	*why = "header";
	hdr = jose_b64_dec_load(json_object_get(jws, "protected"));
	if (!hdr || json_unpack(hdr, "{s:s,s:s}", "alg", &alg, "typ", &typ) < 0 ||
	    strcmp(alg, "ES256") || strcmp(typ, "pocketvm-lease+jwt"))
		goto fail;
	*why = "claims";
	pl = jose_b64_dec_load(json_object_get(jws, "payload"));
	if (!pl ||
	    json_unpack(pl, "{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "sub", &sub, "vm", &lvm, "nonce", &ln,
			"seq", &seq, "iat", &iat, "exp", &exp, "offline", &off) < 0)
		goto fail;
	*why = "sub/vm/nonce";
	if (strcmp(sub, d->id) || strcmp(lvm, vm) || strcmp(ln, nonce))
		goto fail;
	*why = "exp != iat + offline";
	if (exp != iat + off)
		goto fail;
	*why = "seq not increasing";
	if (seq <= d->last_seq)
		goto fail;
	d->last_seq = seq;
	json_decref(hdr);
	return pl;
fail:
	json_decref(hdr);
	json_decref(pl);
	return NULL;
}

long vm_create(struct pvs *s, const char *device, const char *name, char *out)
{
	char body[256];
	struct resp r;
	long st;

	snprintf(body, sizeof(body), "{\"device\":\"%s\",\"name\":\"%s\"}", device, name);
	admin_req(s, "POST", "/v1/admin/vms", body, &r);
	st = r.status;
	if (st != 201)
		printf("# vm create: %ld %s\n", st, r.body ? r.body : "");
	out[0] = '\0';
	if (st == 201)
		snprintf(out, 64, "%s", json_string_value(json_object_get(r.json, "id")));
	resp_free(&r);
	return st;
}

static json_t *ecmr(const json_t *lcl, const json_t *rem)
{
	json_t *l = json_deep_copy(lcl), *out;

	json_object_set_new(l, "alg", json_string("ECMR"));
	json_object_del(l, "key_ops");
	out = jose_jwk_exc(NULL, l, rem);
	json_decref(l);
	return out;
}

long tang_bind(struct device *d, const char *base, const char *vm, json_t **bind)
{
	json_t *pl = NULL, *keys, *k, *srv = NULL, *sigs = json_array(), *c = NULL, *K = NULL;
	char url[256], kid[128];
	struct resp r;
	size_t i;
	long st;

	*bind = NULL;
	snprintf(url, sizeof(url), "%s/tang/%s/adv", base, vm);
	client_req(&d->c, "GET", url, NULL, 0, NULL, &r);
	st = r.status;
	if (st != 200 || !r.json)
		goto out;
	pl = jose_b64_dec_load(json_object_get(r.json, "payload"));
	keys = json_object_get(pl, "keys");
	json_array_foreach(keys, i, k)
	{
		if (jose_jwk_prm(NULL, k, true, "verify"))
			json_array_append(sigs, k);
		else if (jose_jwk_prm(NULL, k, true, "deriveKey"))
			srv = k;
	}
	st = -2;
	if (!srv || !json_array_size(sigs) || !jose_jws_ver(NULL, r.json, NULL, sigs, true))
		goto out;
	c = json_pack("{s:s,s:O}", "alg", "ECMR", "crv", json_object_get(srv, "crv"));
	if (!jose_jwk_gen(NULL, c))
		goto out;
	K = ecmr(c, srv);
	{
		uint8_t dg[64];
		size_t n = jose_jwk_thp_buf(NULL, srv, "S256", dg, sizeof(dg));

		kid[jose_b64_enc_buf(dg, n, kid, sizeof(kid) - 1)] = '\0';
	}
	jose_jwk_pub(NULL, c);
	*bind = json_pack("{s:O,s:s,s:O,s:O}", "clt", c, "kid", kid, "K", K, "srv", srv);
	st = *bind ? 200 : -3;
out:
	resp_free(&r);
	json_decref(pl);
	json_decref(sigs);
	json_decref(c);
	json_decref(K);
	return st;
}

long tang_recover(struct device *d, const char *base, const char *vm, const json_t *bind,
		  json_t **key)
{
	const json_t *clt = json_object_get(bind, "clt"), *srv = json_object_get(bind, "srv");
	json_t *e = json_pack("{s:s,s:O}", "alg", "ECMR", "crv", json_object_get(clt, "crv"));
	json_t *x = NULL, *tmp = NULL, *y = NULL;
	char url[512], *text = NULL;
	struct resp r = { 0 };
	long st = -1;

	*key = NULL;
	if (!jose_jwk_gen(NULL, e))
		goto out;
	x = ecmr(clt, e);
	json_object_set_new(x, "alg", json_string("ECMR"));
	text = json_dumps(x, 0);
	snprintf(url, sizeof(url), "%s/tang/%s/rec/%s", base, vm,
		 json_string_value(json_object_get(bind, "kid")));
	client_req(&d->c, "POST", url, text, strlen(text), "Content-Type: application/jwk+json",
		   &r);
	st = r.status;
	if (st != 200 || !r.json)
		goto out;
	tmp = ecmr(e, srv);
	y = json_deep_copy(r.json);
	json_object_del(y, "key_ops");
	*key = ecmr(y, tmp);
out:
	free(text);
	resp_free(&r);
	json_decref(e);
	json_decref(x);
	json_decref(tmp);
	json_decref(y);
	return st;
}

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct pg *pg_running;

static void pg_stop_atexit(void)
{
	pvs_stop_all(); /* servers first: they hold connections to the cluster */
	if (pg_running)
		pg_stop(pg_running);
}

int pg_start(struct pg *pg)
{
	char bindir[PATH_MAX], as[64] = "";
	struct passwd *pw = NULL;
	glob_t g;

	memset(pg, 0, sizeof(*pg));
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return 77;
	snprintf(bindir, sizeof(bindir), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	*strrchr(bindir, '/') = '\0';
	strcpy(pg->dir, "/tmp/pvs-pg-XXXXXX");
	if (!mkdtemp(pg->dir))
		return -1;
	if (geteuid() == 0) {
		pw = getpwnam("postgres");
		if (!pw)
			pw = getpwnam("nobody");
		if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) < 0)
			return -1;
		snprintf(as, sizeof(as), "runuser -u %s --", pw->pw_name);
	}
	if (run("%s %s/initdb -D %s/data -A trust -U postgres -E UTF8 --no-sync "
		">%s/initdb.log 2>&1",
		as, bindir, pg->dir, pg->dir) != 0) {
		fprintf(stderr, "# initdb failed, see %s/initdb.log\n", pg->dir);
		return -1;
	}
	if (run("%s %s/pg_ctl -D %s/data -l %s/server.log -w -t 30 -o \"-k %s -c "
		"listen_addresses='' -c fsync=off -c max_connections=60\" start >/dev/null 2>&1",
		as, bindir, pg->dir, pg->dir, pg->dir) != 0) {
		fprintf(stderr, "# pg_ctl start failed, see %s/server.log\n", pg->dir);
		return -1;
	}
	pg->running = true;
	/* Stop the cluster however the test ends. */
	pg_running = pg;
	atexit(pg_stop_atexit);
	snprintf(pg->url, sizeof(pg->url), "postgresql:///postgres?host=%s&user=postgres", pg->dir);
	return 0;
}

int pg_ctl(struct pg *pg, const char *action)
{
	char bindir[PATH_MAX], as[64] = "";
	glob_t g;

	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) != 0)
		return -1;
	snprintf(bindir, sizeof(bindir), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");

		snprintf(as, sizeof(as), "runuser -u %s --", pw ? pw->pw_name : "nobody");
	}
	if (strcmp(action, "stop") == 0)
		return run("%s %s -D %s/data -m fast -w stop >/dev/null 2>&1", as, bindir,
			   pg->dir) ?
			       -1 :
			       0;
	return run("%s %s -D %s/data -l %s/server.log -w -t 30 -o \"-k %s -c "
		   "listen_addresses='' -c fsync=off -c max_connections=60\" start >/dev/null 2>&1",
		   as, bindir, pg->dir, pg->dir, pg->dir) ?
		       -1 :
		       0;
}

void pg_stop(struct pg *pg)
{
	char bindir[PATH_MAX], as[64] = "";
	glob_t g;

	if (!pg->running)
		goto rm;
	if (glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0) {
		snprintf(bindir, sizeof(bindir), "%s", g.gl_pathv[g.gl_pathc - 1]);
		globfree(&g);
		if (geteuid() == 0) {
			struct passwd *pw = getpwnam("postgres");

			snprintf(as, sizeof(as), "runuser -u %s --", pw ? pw->pw_name : "nobody");
		}
		run("%s %s -D %s/data -m immediate -w stop >/dev/null 2>&1", as, bindir, pg->dir);
	}
	pg->running = false;
	pg_running = NULL;
rm:
	if (pg->dir[0] && !getenv("PVS_KEEP"))
		nftw(pg->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int t_setup(int argc, char **argv, struct pg *pg, struct pvs *s, char *db, size_t dblen)
{
	const char *backend = argc > 1 ? argv[1] : "sqlite";
	char state[PATH_MAX];
	int r;

	memset(pg, 0, sizeof(*pg));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(backend, "postgresql") == 0) {
		r = pg_start(pg);
		if (r == 77) {
			printf("SKIP: PostgreSQL (initdb) is not installed\n");
			return 77;
		}
		if (r < 0) {
			printf("# cannot start a PostgreSQL cluster\n");
			pg_stop(pg);
			return 1;
		}
		snprintf(db, dblen, "%s", pg->url);
	} else {
		snprintf(db, dblen, "sqlite:%s/db.sqlite", t_tmpdir());
	}
	snprintf(state, sizeof(state), "%s/state", t_tmpdir());
	if (pvs_start(s, db, state, NULL) < 0) {
		printf("# cannot start pocketvm-server (log %s)\n", s->log);
		pg_stop(pg);
		return 1;
	}
	printf("# backend %s, server %s\n", backend, s->url);
	return 0;
}
