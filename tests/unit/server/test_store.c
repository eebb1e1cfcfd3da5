// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests, in process: the SQLite store (migrations, atomic single use,
 * sequence numbers, constraint errors), the audit chain (append, verify,
 * tamper), the JOSE helpers (detached signatures, Tang exchange) and the CA
 * (CSR checks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <jose/jwk.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/audit_chain.h"
#include "server/server.h"

static char dir[] = "/tmp/pocketvm-test-store-XXXXXX";
static char url[256];
static struct server srv;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/db.sqlite", dir);
	srv.cfg.default_offline = 43200;
	srv.cfg.default_checkin = 300;
	return keys_load_or_create(&srv.keys, dir);
}

static int teardown(void **state)
{
	keys_release(&srv.keys);
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_migrations(void **state)
{
	struct store *s = store_open(url);
	struct store_rows rows;

	assert_non_null(s);
	store_free(s);
	s = store_open(url); /* a second open finds the schema current */
	assert_non_null(s);
	assert_int_equal(SQ0(s, Q_SCHEMA_VERSION, &rows), 1);
	assert_int_equal(store_cell_i64(&rows, 0, 0), store_migrations_count);
	store_rows_free(&rows);
	assert_int_equal(SQ(s, Q_SCHEMA_SET_VERSION, NULL, "99"), 1);
	store_free(s);
	assert_null(store_open(url)); /* refuses a schema from the future */
	s = NULL;
	{
		/* Put it back for the other tests. */
		struct store tmp = { .ops = &store_sqlite_ops };

		assert_int_equal(tmp.ops->open(&tmp, url + 7), 0);
		assert_int_equal(
			tmp.ops->exec_script(&tmp, "UPDATE schema_version SET version = 3"), 0);
		tmp.ops->close(&tmp);
	}
}

static void test_single_use(void **state)
{
	struct store *s = store_open(url);
	struct store_rows rows;

	assert_non_null(s);
	assert_int_equal(SQ(s, Q_GROUP_INSERT, NULL, "g", "{}", "1"), 1);
	assert_int_equal(SQ(s, Q_GROUP_INSERT, NULL, "g", "{}", "1"), 0);
	assert_int_equal(SQ(s, Q_ETOKEN_INSERT, NULL, "t1", "h1", "g", "1", "99"), 1);
	assert_int_equal(SQ(s, Q_ETOKEN_INSERT, NULL, "t2", "h1", "g", "1", "99"), -EEXIST);
	assert_int_equal(SQ(s, Q_ETOKEN_INSERT, NULL, "t3", "h3", "nogroup", "1", "99"), -EEXIST);
	assert_int_equal(SQ(s, Q_ETOKEN_CONSUME, NULL, "t1", "5", "dev"), 1);
	assert_int_equal(SQ(s, Q_ETOKEN_CONSUME, NULL, "t1", "6", "dev2"), 0);
	assert_int_equal(SQ(s, Q_ETOKEN_BY_HASH, &rows, "h1"), 1);
	assert_int_equal(store_cell_i64(&rows, 0, 3), 5);
	store_rows_free(&rows);
	assert_int_equal(SQ(s, Q_DEVICE_INSERT, NULL, "d1", "g", NULL, NULL, "ab", "1"), 1);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(SQ(s, Q_DEVICE_CHECKIN, &rows, "d1", "7"), 1);
		assert_int_equal(store_cell_i64(&rows, 0, 0), i);
		store_rows_free(&rows);
	}
	assert_int_equal(SQ(s, Q_DEVICE_CHECKIN, &rows, "nope", "7"), 0);
	assert_int_equal(SQ(s, Q_DEVICE_GET, &rows, "d1"), 1);
	assert_null(store_cell(&rows, 0, DEV_NAME));
	assert_string_equal(store_cell(&rows, 0, DEV_STATUS), "active");
	store_rows_free(&rows);
	store_free(s);
}

static json_t *entry_json(struct store_rows *rows, int i)
{
	return json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "seq",
			 (json_int_t)store_cell_i64(rows, i, AU_SEQ), "time",
			 (json_int_t)store_cell_i64(rows, i, AU_TIME), "actor",
			 store_cell(rows, i, AU_ACTOR), "action", store_cell(rows, i, AU_ACTION),
			 "subject", store_cell(rows, i, AU_SUBJECT), "detail",
			 json_loads(store_cell(rows, i, AU_DETAIL), 0, NULL), "prev",
			 store_cell(rows, i, AU_PREV), "hash", store_cell(rows, i, AU_HASH), "sig",
			 store_cell(rows, i, AU_SIG));
}

static void test_audit(void **state)
{
	struct worker w = { .srv = &srv, .store = store_open(url) };
	struct audit_verifier v;
	struct store_rows rows;
	json_t *e[5];

	assert_non_null(w.store);
	assert_int_equal(keys_dup(&w.keys, &srv.keys), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(audit_append(&w, "admin:t", "test.event", "s",
					      json_pack("{s:i,s:s}", "i", i, "u", "\xc3\xa9")),
				 0);
	assert_int_equal(SQ(w.store, Q_AUDIT_RANGE, &rows, "0", "100"), 5);
	for (int i = 0; i < 5; i++)
		e[i] = entry_json(&rows, i);
	store_rows_free(&rows);
	audit_verifier_init(&v, srv.keys.lease_pub);
	for (int i = 0; i < 5; i++)
		assert_null(audit_verify_entry(&v, e[i]));
	/* Edited detail. */
	audit_verifier_init(&v, srv.keys.lease_pub);
	assert_null(audit_verify_entry(&v, e[0]));
	json_object_set_new(e[1], "detail", json_pack("{s:i}", "i", 7));
	assert_non_null(strstr(audit_verify_entry(&v, e[1]), "hash"));
	/* Deleted entry. */
	audit_verifier_init(&v, srv.keys.lease_pub);
	assert_null(audit_verify_entry(&v, e[0]));
	assert_non_null(strstr(audit_verify_entry(&v, e[2]), "deleted"));
	/* Rewritten chain with a recomputed hash but no key: bad signature. */
	{
		char h[SHA256_HEX_LEN + 1];

		audit_entry_hash(1, 1, "admin:evil", "test.event", "s", "{}", AUDIT_GENESIS, h);
		json_object_set_new(e[0], "actor", json_string("admin:evil"));
		json_object_set_new(e[0], "time", json_integer(1));
		json_object_set_new(e[0], "detail", json_object());
		json_object_set_new(e[0], "hash", json_string(h));
		audit_verifier_init(&v, srv.keys.lease_pub);
		assert_non_null(strstr(audit_verify_entry(&v, e[0]), "signature"));
	}
	for (int i = 0; i < 5; i++)
		json_decref(e[i]);
	/* The database refuses edits through its triggers. */
	assert_true(w.store->ops->exec_script(w.store, "DELETE FROM audit WHERE seq = 1") < 0);
	keys_release(&w.keys);
	store_free(w.store);
}

static void test_jose(void **state)
{
	char *sig = keys_sign_detached(&srv.keys, "hello"), *jwk, *adv, *sealed;
	char kid[THP_MAX], kid1[THP_MAX];
	const char *why;
	json_t *c, *cpub, *k, *x, *y, *key;

	assert_non_null(sig);
	assert_true(keys_verify_detached(srv.keys.lease_pub, "hello", sig));
	assert_false(keys_verify_detached(srv.keys.lease_pub, "hellO", sig));
	assert_false(keys_verify_detached(srv.keys.lease_pub, "hello", "eyJhbGciOiJub25lIn0.."));
	free(sig);

	assert_int_equal(keys_vm_new(&srv.keys, "vm-1", &sealed, &adv, kid, kid1), 0);
	assert_int_equal(strlen(kid), 43);
	/* Sealed at rest: no "d" in what the database stores; bound to its VM. */
	assert_null(strstr(sealed, "\"d\""));
	assert_null(keys_unseal(&srv.keys, "vm-2", sealed));
	jwk = keys_unseal(&srv.keys, "vm-1", sealed);
	assert_non_null(jwk);
	sealed[20] = sealed[20] == 'A' ? 'B' : 'A';
	assert_null(keys_unseal(&srv.keys, "vm-1", sealed));
	key = json_loads(jwk, 0, NULL);
	/* Client side: c, K = c*S; recovery sends x = C + E and gets back s*x. */
	c = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521");
	assert_true(jose_jwk_gen(NULL, c));
	cpub = json_deep_copy(key);
	jose_jwk_pub(NULL, cpub);
	k = jose_jwk_exc(NULL, c, cpub);
	assert_non_null(k);
	x = json_deep_copy(c);
	jose_jwk_pub(NULL, x);
	y = keys_recover(jwk, x, &why); /* e = 0 for brevity: s*C must equal c*S */
	assert_non_null(y);
	assert_true(json_equal(json_object_get(y, "x"), json_object_get(k, "x")));
	json_decref(y);
	/* Same answer as libjose's own exchange (Tang's code path) for many points. */
	for (int i = 0; i < 20; i++) {
		json_t *e = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", "P-521"), *ref;

		assert_true(jose_jwk_gen(NULL, e));
		jose_jwk_pub(NULL, e);
		ref = jose_jwk_exc(NULL, key, e);
		y = keys_recover(jwk, e, &why);
		assert_non_null(ref);
		assert_non_null(y);
		assert_true(json_equal(json_object_get(y, "x"), json_object_get(ref, "x")));
		assert_true(json_equal(json_object_get(y, "y"), json_object_get(ref, "y")));
		json_decref(ref);
		json_decref(y);
		json_decref(e);
	}
	/* Off the curve: flip a bit of y. */
	{
		json_t *e = json_deep_copy(x);
		char *yv = strdup(json_string_value(json_object_get(e, "y")));

		yv[5] = yv[5] == 'A' ? 'B' : 'A';
		json_object_set_new(e, "y", json_string(yv));
		assert_null(keys_recover(jwk, e, &why));
		assert_string_equal(why, "bad_jwk");
		assert_null(jose_jwk_exc(NULL, key, e));
		free(yv);
		json_decref(e);
	}
	/* A P-256 point for a P-521 key, and a private key, are refused. */
	json_object_set_new(x, "crv", json_string("P-256"));
	assert_null(keys_recover(jwk, x, &why));
	assert_string_equal(why, "bad_jwk");
	assert_null(keys_recover(jwk, c, &why));
	json_decref(x);
	json_decref(k);
	json_decref(c);
	json_decref(cpub);
	json_decref(key);
	keys_free_secret(jwk);
	free(sealed);
	free(adv);
}

static char *csr_pem(EVP_PKEY *pk, bool corrupt)
{
	X509_REQ *req = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	X509_REQ_set_pubkey(req, pk);
	X509_REQ_sign(req, pk, EVP_sha256());
	if (corrupt) {
		/* Sign with another key: the CSR no longer proves possession. */
		EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

		X509_REQ_sign(req, other, EVP_sha256());
		X509_REQ_set_pubkey(req, pk);
		EVP_PKEY_free(other);
	}
	PEM_write_bio_X509_REQ(b, req);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, n);
	BIO_free(b);
	X509_REQ_free(req);
	return out;
}

static void test_ca(void **state)
{
	const char *hosts[] = { "localhost", "127.0.0.1" };
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char serial[CA_SERIAL_HEX + 1], *pem, *csr;
	struct ca ca;

	assert_int_equal(ca_open(&ca, dir, hosts, 2, srv.keys.server_id), 0);
	csr = csr_pem(ec, false);
	assert_int_equal(ca_issue_device(&ca, csr, strlen(csr), "dev-1", &pem, serial), 0);
	assert_non_null(strstr(pem, "BEGIN CERTIFICATE"));
	assert_true(strlen(serial) > 10);
	free(pem);
	free(csr);
	csr = csr_pem(ec, true);
	assert_int_equal(ca_issue_device(&ca, csr, strlen(csr), "dev-2", &pem, serial), -EINVAL);
	free(csr);
	csr = csr_pem(rsa, false);
	assert_int_equal(ca_issue_device(&ca, csr, strlen(csr), "dev-3", &pem, serial), -EINVAL);
	free(csr);
	assert_int_equal(ca_issue_device(&ca, "-----BEGIN", 10, "dev-4", &pem, serial), -EINVAL);
	ca_close(&ca);
	/* The CA persists: a second open loads the same certificate. */
	{
		struct ca again;
		char first[65];

		assert_int_equal(ca_open(&ca, dir, hosts, 2, srv.keys.server_id), 0);
		memcpy(first, ca.sha256, sizeof(first));
		ca_close(&ca);
		assert_int_equal(ca_open(&again, dir, hosts, 2, srv.keys.server_id), 0);
		assert_string_equal(first, again.sha256);
		ca_close(&again);
	}
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations), cmocka_unit_test(test_single_use),
		cmocka_unit_test(test_audit),	   cmocka_unit_test(test_jose),
		cmocka_unit_test(test_ca),
	};

	int r = cmocka_run_group_tests(tests, setup, teardown);

	keys_thread_exit();
	return r;
}
