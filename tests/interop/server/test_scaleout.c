// SPDX-License-Identifier: Apache-2.0
/*
 * Two pocketvm-server instances on one PostgreSQL serve the same devices:
 * a device enrolled through one checks in through the other, lease sequence
 * numbers stay strictly increasing under concurrent check-ins on both, an
 * enrollment token raced on both instances is consumed exactly once, a
 * revocation on one is enforced by the other at once, and the audit chain
 * written by both verifies.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pvs_test.h"
#include "server/audit_chain.h"

static struct pvs a, b;
static char *race_token;
static long race_status[2];

static void *race(void *arg)
{
	long i = (long)arg;
	struct device d;

	race_status[i] = device_enroll(i ? &b : &a, race_token, &d);
	device_free(&d);
	return NULL;
}

#define CHECKINS 40
static struct device dev;
static long long seqs[CHECKINS];

struct worker_arg {
	int from, to;
	struct device d;
};

static void *checkins(void *p)
{
	struct worker_arg *w = p;

	for (int i = w->from; i < w->to; i++) {
		struct resp r;

		device_checkin(&w->d, (i % 2) ? b.url : a.url, NULL, &r, NULL);
		seqs[i] = r.status == 200 ? json_integer_value(json_object_get(r.json, "seq")) : -1;
		resp_free(&r);
	}
	return NULL;
}

static int cmp(const void *x, const void *y)
{
	long long p = *(const long long *)x, q = *(const long long *)y;

	return (p > q) - (p < q);
}

static void verify_audit(void)
{
	struct audit_verifier v;
	struct resp r, s;
	const char *why = NULL;
	size_t i;
	json_t *e;

	admin_req(&a, "GET", "/v1/server", NULL, &s);
	admin_req(&b, "GET", "/v1/admin/audit?after=0&limit=1000", NULL, &r);
	audit_verifier_init(&v, json_object_get(s.json, "lease_key"));
	json_array_foreach(json_object_get(r.json, "entries"), i, e) if (!why) why =
		audit_verify_entry(&v, e);
	CHECK(!why && v.checked > 10,
	      "audit chain written by both instances verifies (%lld entries%s%s)",
	      (long long)v.checked, why ? ": " : "", why ? why : "");
	resp_free(&r);
	resp_free(&s);
}

int main(int argc, char **argv)
{
	struct worker_arg w[2];
	pthread_t th[2];
	struct pg pg;
	char state[PATH_MAX], *tok[2], vm[64], path[128];
	json_t *bind = NULL, *k = NULL;
	struct resp r;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = pg_start(&pg);
	if (rc == 77) {
		printf("SKIP: PostgreSQL (initdb) is not installed\n");
		return 77;
	}
	CHECK(rc == 0, "throw-away PostgreSQL cluster started");
	if (rc)
		return t_done();
	snprintf(state, sizeof(state), "%s/state", t_tmpdir());
	CHECK(pvs_start(&a, pg.url, state, NULL) == 0, "instance A started");
	CHECK(pvs_start(&b, pg.url, state, NULL) == 0, "instance B started on the same database");
	CHECK(a.admin[0] && !b.admin[0], "only the first instance creates an admin token");
	snprintf(b.admin, sizeof(b.admin), "%s", a.admin);

	make_tokens(&a, "default", 2, 3600, tok);
	CHECK(device_enroll(&a, tok[0], &dev) == 201, "device enrolls through A");
	CHECK(vm_create(&b, dev.id, "work", vm) == 201, "admin assigns a VM through B");

	race_token = tok[1];
	pthread_create(&th[0], NULL, race, (void *)0L);
	pthread_create(&th[1], NULL, race, (void *)1L);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	CHECK((race_status[0] == 201) + (race_status[1] == 201) == 1 &&
		      (race_status[0] == 409 || race_status[1] == 409),
	      "one token raced on both instances enrolls exactly once (%ld, %ld)", race_status[0],
	      race_status[1]);

	for (int i = 0; i < 2; i++) {
		w[i].from = i * CHECKINS / 2;
		w[i].to = (i + 1) * CHECKINS / 2;
		w[i].d = dev;
		client_init(&w[i].d.c, a.ca);
		memcpy(w[i].d.c.cert, dev.c.cert, sizeof(dev.c.cert));
		memcpy(w[i].d.c.key, dev.c.key, sizeof(dev.c.key));
		w[i].d.c.use_cert = true;
		pthread_create(&th[i], NULL, checkins, &w[i]);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		client_free(&w[i].d.c);
	}
	qsort(seqs, CHECKINS, sizeof(seqs[0]), cmp);
	rc = 1;
	for (int i = 0; i < CHECKINS; i++)
		rc &= seqs[i] == i + 1;
	CHECK(rc,
	      "%d concurrent check-ins on both instances got sequence numbers 1..%d, no "
	      "duplicates (first %lld, last %lld)",
	      CHECKINS, CHECKINS, seqs[0], seqs[CHECKINS - 1]);

	CHECK(tang_bind(&dev, a.url, vm, &bind) == 200, "bind through A");
	for (int i = 0; i < 6; i++) {
		CHECK(tang_recover(&dev, (i % 2) ? b.url : a.url, vm, bind, &k) == 200 &&
			      json_equal(json_object_get(k, "x"),
					 json_object_get(json_object_get(bind, "K"), "x")),
		      "recovery through %s", (i % 2) ? "B" : "A");
		json_decref(k);
	}
	snprintf(path, sizeof(path), "/v1/admin/vms/%s/revoke", vm);
	admin_req(&a, "POST", path, "{}", &r);
	CHECK(r.status == 201, "VM revoked through A");
	resp_free(&r);
	CHECK(tang_recover(&dev, b.url, vm, bind, &k) == 410, "B refuses /rec at once (410)");
	json_decref(bind);
	verify_audit();

	/* The database goes away and comes back: 503 meanwhile, then service resumes. */
	CHECK(pg_ctl(&pg, "stop") == 0, "PostgreSQL stopped under the running servers");
	device_checkin(&dev, a.url, NULL, &r, NULL);
	CHECK(r.status == 503 && !strcmp(resp_error(&r), "unavailable"),
	      "check-in while the database is down: 503 unavailable (%ld)", r.status);
	resp_free(&r);
	CHECK(pg_ctl(&pg, "start") == 0, "PostgreSQL started again");
	device_checkin(&dev, a.url, NULL, &r, NULL);
	CHECK(r.status == 200, "instance A reconnects by itself (%ld)", r.status);
	resp_free(&r);
	device_checkin(&dev, b.url, NULL, &r, NULL);
	CHECK(r.status == 200, "instance B too (%ld)", r.status);
	resp_free(&r);
	pvs_stop(&a);
	pvs_stop(&b);
	device_free(&dev);
	free(tok[0]);
	free(tok[1]);
	pg_stop(&pg);
	return t_done();
}
