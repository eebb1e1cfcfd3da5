// SPDX-License-Identifier: Apache-2.0
/*
 * One server, many clients at once (SQLite or PostgreSQL, argv[1]): four
 * threads check in and recover keys for the same device concurrently on a
 * server with two worker threads. Every check-in gets its own sequence
 * number, every key release is in the audit log, and the chain verifies.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pvs_test.h"
#include "server/audit_chain.h"

#define THREADS 4
#define CHECKINS 25
#define RECS 5

static struct pvs srv;
static struct device dev;
static char vm[64];
static json_t *bind;
static long long seqs[THREADS * CHECKINS];
static int rec_ok[THREADS];

static void *worker(void *arg)
{
	long t = (long)arg;
	struct device d = dev;

	client_init(&d.c, srv.ca);
	memcpy(d.c.cert, dev.c.cert, sizeof(d.c.cert));
	memcpy(d.c.key, dev.c.key, sizeof(d.c.key));
	d.c.use_cert = true;
	for (int i = 0; i < CHECKINS; i++) {
		struct resp r;

		device_checkin(&d, srv.url, NULL, &r, NULL);
		seqs[t * CHECKINS + i] =
			r.status == 200 ? json_integer_value(json_object_get(r.json, "seq")) : -1;
		resp_free(&r);
		if (i % (CHECKINS / RECS) == 0) {
			json_t *k = NULL;

			if (tang_recover(&d, srv.url, vm, bind, &k) == 200 &&
			    json_equal(json_object_get(k, "x"),
				       json_object_get(json_object_get(bind, "K"), "x")))
				rec_ok[t]++;
			json_decref(k);
		}
	}
	client_free(&d.c);
	return NULL;
}

static int cmp(const void *x, const void *y)
{
	long long p = *(const long long *)x, q = *(const long long *)y;

	return (p > q) - (p < q);
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];
	struct audit_verifier v;
	struct resp r, s;
	const char *why = NULL;
	char db[PATH_MAX + 64], *tok[1];
	struct pg pg;
	int rc = t_setup(argc, argv, &pg, &srv, db, sizeof(db)), total = 0;
	size_t i;
	json_t *e;

	if (rc)
		return rc;
	make_tokens(&srv, "default", 1, 3600, tok);
	CHECK(device_enroll(&srv, tok[0], &dev) == 201, "device enrolled");
	CHECK(vm_create(&srv, dev.id, "work", vm) == 201, "VM created");
	CHECK(tang_bind(&dev, srv.url, vm, &bind) == 200, "VM bound");
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)t);
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		total += rec_ok[t];
	}
	qsort(seqs, THREADS * CHECKINS, sizeof(seqs[0]), cmp);
	rc = 1;
	for (int k = 0; k < THREADS * CHECKINS; k++)
		rc &= seqs[k] == k + 1;
	CHECK(rc, "%d concurrent check-ins: sequence numbers 1..%d, each once", THREADS * CHECKINS,
	      THREADS * CHECKINS);
	CHECK(total == THREADS * RECS, "%d of %d concurrent recoveries right", total,
	      THREADS * RECS);
	admin_req(&srv, "GET", "/v1/server", NULL, &s);
	admin_req(&srv, "GET", "/v1/admin/audit?after=0&limit=1000", NULL, &r);
	audit_verifier_init(&v, json_object_get(s.json, "lease_key"));
	rc = 0;
	json_array_foreach(json_object_get(r.json, "entries"), i, e)
	{
		if (!why)
			why = audit_verify_entry(&v, e);
		rc += !strcmp(json_string_value(json_object_get(e, "action")), "key.release");
	}
	CHECK(!why, "audit chain written concurrently verifies (%s)", why ? why : "ok");
	CHECK(rc == THREADS * RECS, "every key release audited (%d)", rc);
	resp_free(&r);
	resp_free(&s);
	json_decref(bind);
	pvs_stop(&srv);
	device_free(&dev);
	free(tok[0]);
	pg_stop(&pg);
	return t_done();
}
