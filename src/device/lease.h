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

/* The files of a verified image manifest (docs/protocol.md section 7). */
enum { MANIFEST_KERNEL, MANIFEST_INITRD, MANIFEST_DISK, MANIFEST_NFILES };
#define MANIFEST_MAX_FILE (64ULL << 30)

struct manifest {
	struct {
		bool present;
		uint64_t size;
		char sha256[65]; /* lowercase hex */
	} files[MANIFEST_NFILES];
};

extern const char *const manifest_file_names[MANIFEST_NFILES];

/*
 * Checks an image manifest: ES256 under the lease key, typ
 * "pocketvm-manifest+jwt", the expected name and version, at least one of
 * kernel/initrd/disk, each with a size (at most 64 GiB) and a SHA-256.
 */
bool manifest_verify(const json_t *jws, const json_t *lease_key, const char *name,
		     const char *version, struct manifest *out, char *err, size_t errlen);

#endif
