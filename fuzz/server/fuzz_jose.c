// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness for the JOSE inputs the server and pocketvm-admin accept:
 * client JWKs for the Tang exchange (/rec), detached signatures and audit
 * entries (audit verify), and JWS objects checked against the lease key.
 */
#include <jose/jwk.h>
#include <jose/jws.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/audit_chain.h"
#include "server/keys.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct keys keys;
static char *vm_jwk;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/pocketvm-fuzz-jose-XXXXXX", kid[THP_MAX], kid1[THP_MAX], *adv, *sealed;
	char path[64];

	if (!mkdtemp(dir) || keys_load_or_create(&keys, dir) < 0 ||
	    keys_vm_new(&keys, "vm", &sealed, &adv, kid, kid1) < 0)
		abort();
	vm_jwk = keys_unseal(&keys, "vm", sealed);
	if (!vm_jwk)
		abort();
	free(sealed);
	free(adv);
	snprintf(path, sizeof(path), "%s/adv.jwk", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lease.jwk", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/server-id", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/kek", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct audit_verifier v;
	const char *why;
	json_t *j, *rep;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	keys_verify_detached(keys.lease_pub, "payload", text);
	j = json_parse_untrusted(text, size, MAX_JSON_DEPTH, &why);
	if (j) {
		rep = keys_recover(vm_jwk, j, &why);
		if (rep) {
			/* Differential: libjose's exchange must agree on every accepted point. */
			json_t *key = json_loads(vm_jwk, 0, NULL);
			json_t *ref = jose_jwk_exc(NULL, key, j);

			if (!ref ||
			    !json_equal(json_object_get(ref, "x"), json_object_get(rep, "x")) ||
			    !json_equal(json_object_get(ref, "y"), json_object_get(rep, "y")))
				abort();
			json_decref(ref);
			json_decref(key);
		}
		json_decref(rep);
		audit_verifier_init(&v, keys.lease_pub);
		audit_verify_entry(&v, j);
		jose_jws_ver(NULL, j, NULL, keys.lease_pub, false);
		json_decref(j);
	}
	free(text);
	return 0;
}
