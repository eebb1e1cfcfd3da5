// SPDX-License-Identifier: Apache-2.0
/*
 * What a server (or anyone who breaks TLS) can send the device: check-in
 * answers, enrollment answers, and each lease in them through the verifier.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jose/jwk.h>

#include "device/lease.h"
#include "device/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *lease_key(void)
{
	static json_t *k;

	if (!k) {
		k = json_pack("{s:s}", "alg", "ES256");
		jose_jwk_gen(NULL, k);
		jose_jwk_pub(NULL, k);
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkin_answer *a = malloc(sizeof(*a));
	struct identity id;
	struct lease_info li;
	int64_t t;
	char err[256];

	if (!a)
		return 0;
	if (checkin_parse(data, size, a, err, sizeof(err))) {
		for (size_t i = 0; i < a->n_leases; i++) {
			struct lease_expect ex = { a->device_id, a->leases[i].vm, "nonce", 0 };

			lease_verify(a->leases[i].jws, lease_key(), &ex, &li, err, sizeof(err));
		}
		checkin_answer_free(a);
	}
	free(a);
	{
		json_t *j = json_loadb((const char *)data, size, 0, NULL);
		struct manifest m;

		if (j)
			manifest_verify(j, lease_key(), "n", "v", &m, err, sizeof(err));
		json_decref(j);
	}
	memset(&id, 0, sizeof(id));
	enroll_parse(data, size, &id, &t, err, sizeof(err));
	identity_clear(&id);
	return 0;
}
