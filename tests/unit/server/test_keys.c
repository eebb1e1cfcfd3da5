// SPDX-License-Identifier: Apache-2.0
/*
 * The server's private keys are in locked memory: OpenSSL's secure heap (an
 * mlocked arena, VmLck in /proc/self/status) holds the key-encryption key,
 * the lease key's scalar and the CA keys' scalars; the JSON the rest of the
 * server sees has no private member. And the keys still work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jose/jws.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/ca.h"
#include "server/keys.h"

static char dir[] = "/tmp/pocketvm-test-keys-XXXXXX";

static long vmlck_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * The EC private scalar of *key is in the secure heap: freeing the key gives
 * back at least the scalar's bytes (32 for P-256) to that heap.
 */
static bool scalar_was_locked(EVP_PKEY **key)
{
	size_t before = CRYPTO_secure_used();

	EVP_PKEY_free(*key);
	*key = NULL;
	return before >= CRYPTO_secure_used() + 32;
}

static void check_locked(struct keys *k)
{
	assert_true(CRYPTO_secure_allocated(k->kek));
	assert_true(scalar_was_locked(&k->lease_pkey));
	/* No private member in the JSON kept for the rest of the server. */
	assert_null(json_object_get(k->adv, "d"));
	assert_null(json_object_get(k->lease_pub, "d"));
}

static void test_keys_in_locked_memory(void **state)
{
	struct keys k, copy;
	long before = vmlck_kib();

	assert_non_null(mkdtemp(dir));
	assert_int_equal(keys_load_or_create(&k, dir), 0);
	assert_true(CRYPTO_secure_malloc_initialized());
	assert_true(vmlck_kib() >= before + 1024); /* the arena is mlocked */
	/* Each worker thread's copy too. */
	assert_int_equal(keys_dup(&copy, &k), 0);
	check_locked(&copy);
	check_locked(&k);
	keys_release(&copy);
	keys_release(&k);
	/* Loaded again from the files, not freshly generated: the same. */
	assert_int_equal(keys_load_or_create(&k, dir), 0);
	check_locked(&k);
	keys_release(&k);
}

static void test_keys_still_sign(void **state)
{
	char kid[THP_MAX], kid_s1[THP_MAX], *sealed = NULL, *adv = NULL;
	json_t *payload = json_pack("{s:s}", "vm", "work"), *jws, *adv_jws;
	struct keys k;

	assert_int_equal(keys_load_or_create(&k, dir), 0);
	jws = keys_sign(&k, payload, "lease");
	assert_non_null(jws);
	assert_true(jose_jws_ver(NULL, jws, NULL, k.lease_pub, false));
	/* A new VM's advertisement is signed by the advertisement key. */
	assert_int_equal(keys_vm_new(&k, "vm-1", &sealed, &adv, kid, kid_s1), 0);
	adv_jws = json_loads(adv, 0, NULL);
	assert_non_null(adv_jws);
	assert_true(jose_jws_ver(NULL, adv_jws, NULL, k.adv, false));
	json_decref(adv_jws);
	json_decref(jws);
	json_decref(payload);
	free(sealed);
	free(adv);
	keys_release(&k);
}

static void test_ca_keys_in_locked_memory(void **state)
{
	const char *hosts[] = { "127.0.0.1" };
	struct keys k;
	struct ca ca;

	assert_int_equal(keys_load_or_create(&k, dir), 0);
	for (int i = 0; i < 2; i++) { /* created, then loaded */
		memset(&ca, 0, sizeof(ca));
		size_t before;

		assert_int_equal(ca_open(&ca, dir, hosts, 1, k.server_id), 0);
		/* The certificates hold references to the keys: close it all. */
		before = CRYPTO_secure_used();
		ca_close(&ca);
		assert_true(before >= CRYPTO_secure_used() + 2 * 32);
	}
	keys_release(&k);
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_in_locked_memory),
		cmocka_unit_test(test_keys_still_sign),
		cmocka_unit_test(test_ca_keys_in_locked_memory),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
