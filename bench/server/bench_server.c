// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-server benchmarks, side by side in one run:
 *   1. /rec per second over mTLS keep-alive vs Debian's tangd under socat
 *      (plain HTTP, keep-alive too), same client, same thread count;
 *   2. check-ins per second (each signs one lease) on SQLite and PostgreSQL;
 *   3. database size and server memory with 100,000 enrolled devices.
 * Run through bench/server/run (it builds an optimized, unsanitized tree).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <jose/jwk.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/interop/server/pvs_test.h"

static int nthreads = 4;
static double seconds = 5;

struct load {
	bool fresh; /* a new connection for every request */
	const char *url;
	const char *body;
	struct device *dev; /* NULL: no client certificate (tangd) */
	long ok, bad;
	double start;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *a)
{
	return s * n;
}

static void *load_thread(void *arg)
{
	struct load *l = arg;
	CURL *k = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

	curl_easy_setopt(k, CURLOPT_URL, l->url);
	curl_easy_setopt(k, CURLOPT_POSTFIELDS, l->body);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(k, CURLOPT_FORBID_REUSE, l->fresh ? 1L : 0L);
	if (l->dev) {
		curl_easy_setopt(k, CURLOPT_CAINFO, l->dev->c.ca);
		curl_easy_setopt(k, CURLOPT_SSLCERT, l->dev->c.cert);
		curl_easy_setopt(k, CURLOPT_SSLKEY, l->dev->c.key);
	}
	while (now() - l->start < seconds) {
		long code = 0;

		if (curl_easy_perform(k) == CURLE_OK)
			curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200)
			l->ok++;
		else
			l->bad++;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(k);
	return NULL;
}

/* Runs nthreads clients (device i for thread i when devs) and returns requests/s. */
static double run_load(const char *const *urls, const char *const *bodies, struct device *devs,
		       bool fresh)
{
	struct load l[64];
	pthread_t th[64];
	long ok = 0, bad = 0;
	double t0 = now();

	for (int i = 0; i < nthreads; i++) {
		l[i] = (struct load){ .url = urls[i],
				      .body = bodies[i],
				      .dev = devs ? &devs[i] : NULL,
				      .start = t0,
				      .fresh = fresh };
		pthread_create(&th[i], NULL, load_thread, &l[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		ok += l[i].ok;
		bad += l[i].bad;
	}
	if (bad)
		printf("# %ld failed requests\n", bad);
	return ok / (now() - t0);
}

/* An ECMR client point for curve crv as a /rec body. */
static char *rec_body(void)
{
	json_t *c = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	char *s;

	jose_jwk_gen(NULL, c);
	jose_jwk_pub(NULL, c);
	s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return s;
}

static pid_t start_tangd(const char *dir, int port, char *kid, size_t kidlen)
{
	char cmd[512], listen[64], sys[300];
	struct dirent *e;
	pid_t pid;
	DIR *d;

	snprintf(cmd, sizeof(cmd), "/usr/libexec/tangd-keygen %s", dir);
	if (system(cmd) != 0)
		return -1;
	d = opendir(dir);
	while ((e = readdir(d))) {
		char path[600];
		json_t *j;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		j = json_load_file(path, 0, NULL);
		if (j && !strcmp(json_string_value(json_object_get(j, "alg")) ?: "", "ECMR"))
			snprintf(kid, kidlen, "%.*s", (int)(strlen(e->d_name) - 4), e->d_name);
		json_decref(j);
	}
	closedir(d);
	snprintf(listen, sizeof(listen), "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port);
	snprintf(sys, sizeof(sys), "SYSTEM:/usr/libexec/tangd %s", dir);
	pid = fork();
	if (pid == 0) {
		/* tangd logs every request on stderr. */
		freopen("/dev/null", "w", stderr);
		execlp("socat", "socat", listen, sys, (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	return pid;
}

static void bench_rec(struct pvs *s, struct device *devs, const char *vm_ids[])
{
	const char *urls[64], *bodies[64];
	char url[64][256], tdir[PATH_MAX], kid[128] = "", turl[256];
	char *body = rec_body();
	double ours, ours_new, tang, tang_new;
	pid_t tp;

	for (int i = 0; i < nthreads; i++) {
		json_t *bind = NULL;

		tang_bind(&devs[i], s->url, vm_ids[i], &bind);
		snprintf(url[i], sizeof(url[i]), "%s/tang/%s/rec/%s", s->url, vm_ids[i],
			 json_string_value(json_object_get(bind, "kid")));
		urls[i] = url[i];
		bodies[i] = body;
		json_decref(bind);
	}
	ours = run_load(urls, bodies, devs, false);
	ours_new = run_load(urls, bodies, devs, true);
	snprintf(tdir, sizeof(tdir), "%s/tang", t_tmpdir());
	mkdir(tdir, 0700);
	tp = start_tangd(tdir, 19000 + getpid() % 1000, kid, sizeof(kid));
	snprintf(turl, sizeof(turl), "http://127.0.0.1:%d/rec/%s", 19000 + getpid() % 1000, kid);
	for (int i = 0; i < nthreads; i++)
		urls[i] = turl;
	tang = tp > 0 ? run_load(urls, bodies, NULL, false) : 0;
	tang_new = tp > 0 ? run_load(urls, bodies, NULL, true) : 0;
	if (tp > 0) {
		kill(tp, SIGTERM);
		waitpid(tp, NULL, 0);
	}
	printf("RESULT rec_per_s keep-alive: pocketvm-server(mTLS, audited)=%.0f "
	       "tangd(socat, plain HTTP)=%.0f ratio=%.1fx\n",
	       ours, tang, tang > 0 ? ours / tang : 0);
	printf("RESULT rec_per_s new connection each: pocketvm-server(TLS 1.3 + mTLS "
	       "handshake, audited)=%.0f tangd(socat fork+exec, plain HTTP)=%.0f ratio=%.1fx\n",
	       ours_new, tang_new, tang_new > 0 ? ours_new / tang_new : 0);
	free(body);
}

static void bench_checkin(struct pvs *s, struct device *devs, const char *label)
{
	const char *urls[64], *bodies[64];
	char url[256];
	const char *body = "{\"nonce\":\"YmVuY2htYXJrLW5vbmNlLTAx\"}";
	double rate;

	snprintf(url, sizeof(url), "%s/v1/checkin", s->url);
	for (int i = 0; i < nthreads; i++) {
		urls[i] = url;
		bodies[i] = body;
	}
	rate = run_load(urls, bodies, devs, false);
	printf("RESULT checkins_per_s %s=%.0f (one signed lease each)\n", label, rate);
}

/* Enrolls nthreads devices with one VM each. */
static void setup_devices(struct pvs *s, struct device *devs, char vms[][64], const char **ids)
{
	char *tok[64];

	make_tokens(s, "default", nthreads, 3600, tok);
	for (int i = 0; i < nthreads; i++) {
		device_enroll(s, tok[i], &devs[i]);
		vm_create(s, devs[i].id, "work", vms[i]);
		ids[i] = vms[i];
		free(tok[i]);
	}
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/*
 * Adds n devices with one VM each straight into SQLite, shaped like real
 * enrollments (serial, policy, VM key of real size), in one transaction.
 */
static void bulk_devices(const char *path, int n, const char *jwk)
{
	sqlite3 *db;
	sqlite3_stmt *d, *v;
	char id[40], vm[40], kid[64], kid1[64], serial[48];

	sqlite3_open(path, &db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO devices (id, grp, name, platform, serial, status, "
			   "enrolled) VALUES (?, 'default', 'phone', 'x86_64', ?, 'active', 1)",
			   -1, &d, NULL);
	sqlite3_prepare_v2(db,
			   "INSERT INTO vms (id, device, name, state, kid, kid_s1, jwk, adv, "
			   "created) VALUES (?, ?, 'work', 'active', ?, ?, ?, ?, 1)",
			   -1, &v, NULL);
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012d", i, i);
		snprintf(vm, sizeof(vm), "%08x-1111-4000-8000-%012d", i, i);
		snprintf(serial, sizeof(serial), "%040d", i);
		snprintf(kid, sizeof(kid), "kid-%039d", i);
		snprintf(kid1, sizeof(kid1), "s1-%024d", i);
		sqlite3_bind_text(d, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(d, 2, serial, -1, SQLITE_STATIC);
		sqlite3_step(d);
		sqlite3_reset(d);
		sqlite3_bind_text(v, 1, vm, -1, SQLITE_STATIC);
		sqlite3_bind_text(v, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(v, 3, kid, -1, SQLITE_STATIC);
		sqlite3_bind_text(v, 4, kid1, -1, SQLITE_STATIC);
		sqlite3_bind_text(v, 5, jwk, -1, SQLITE_STATIC);
		sqlite3_bind_text(v, 6, jwk, -1, SQLITE_STATIC);
		sqlite3_step(v);
		sqlite3_reset(v);
	}
	sqlite3_finalize(d);
	sqlite3_finalize(v);
	sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
	sqlite3_close(db);
}

static long file_kb(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)(st.st_size / 1024) : -1;
}

int main(int argc, char **argv)
{
	struct device devs[64];
	char vms[64][64], db[PATH_MAX + 64], state[PATH_MAX], dbpath[PATH_MAX];
	const char *ids[64];
	struct pvs s;
	struct pg pg;
	long rss0;

	if (argc > 1)
		nthreads = atoi(argv[1]);
	if (argc > 2)
		seconds = atof(argv[2]);
	if (nthreads < 1 || nthreads > 64)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# %d client threads, %.0f s per measurement, server --threads 2\n", nthreads,
	       seconds);

	/* SQLite: /rec vs tangd, check-ins. */
	snprintf(dbpath, sizeof(dbpath), "%s/db.sqlite", t_tmpdir());
	snprintf(db, sizeof(db), "sqlite:%s", dbpath);
	snprintf(state, sizeof(state), "%s/state", t_tmpdir());
	if (pvs_start(&s, db, state, "--log-level", "warn", "--unauth-burst", "1000", NULL) < 0)
		return 1;
	setup_devices(&s, devs, vms, ids);
	bench_rec(&s, devs, ids);
	bench_checkin(&s, devs, "sqlite");
	pvs_stop(&s);

	/* 100,000 devices: database size and server memory under check-ins. */
	{
		json_t *k = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
		long before = file_kb(dbpath);
		char *jwk;

		jose_jwk_gen(NULL, k);
		jwk = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);

		bulk_devices(dbpath, 100000, jwk);
		printf("RESULT sqlite_db_kb_per_100k_devices=%ld (with one VM each)\n",
		       file_kb(dbpath) - before);
		free(jwk);
		json_decref(k);
	}
	if (pvs_start(&s, db, state, "--log-level", "warn", NULL) < 0)
		return 1;
	rss0 = rss_kb(s.pid);
	bench_checkin(&s, devs, "sqlite_100k_devices");
	printf("RESULT server_rss_kb idle=%ld after_checkins=%ld (100,000 devices in the db)\n",
	       rss0, rss_kb(s.pid));
	pvs_stop(&s);

	/* PostgreSQL check-ins. */
	if (pg_start(&pg) == 0) {
		struct device pdevs[64];
		char pstate[PATH_MAX];

		snprintf(pstate, sizeof(pstate), "%s/pgstate", t_tmpdir());
		if (pvs_start(&s, pg.url, pstate, "--log-level", "warn", NULL) == 0) {
			setup_devices(&s, pdevs, vms, ids);
			bench_checkin(&s, pdevs, "postgresql");
			pvs_stop(&s);
			for (int i = 0; i < nthreads; i++)
				device_free(&pdevs[i]);
		}
		pg_stop(&pg);
	} else {
		printf("# PostgreSQL not available: skipped\n");
	}
	for (int i = 0; i < nthreads; i++)
		device_free(&devs[i]);
	return 0;
}
