/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lease verification (docs/protocol.md section 4 on the server branch):
 * a flattened JWS, ES256 under the lease key received at enrollment, with
 * typ "pocketvm-lease+jwt". Pure: the caller then feeds iat to the clock.
 */
#ifndef POCKETVM_DEVICE_LEASE_H
#define POCKETVM_DEVICE_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/state.h"

struct lease_expect {
	const char *device_id; /* sub */
	const char *vm_id; /* vm */
	const char *nonce; /* the nonce this check-in sent */
	int64_t prev_seq; /* the highest seq accepted before this answer */
};

/*
 * Checks the lease against the lease key and the expectations (signature,
 * header alg/typ, sub, vm, nonce, seq > prev_seq, exp == iat + offline,
 * state active|locked). Returns false with the reason in err. The key must
 * be a public EC P-256 JWK; a key in the JWS header is never used.
 */
bool lease_verify(const json_t *jws, const json_t *lease_key, const struct lease_expect *ex,
		  struct lease_info *out, char *err, size_t errlen);

#endif
