/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log's hash chain, shared by the server (append) and
 * pocketvm-admin (verify). Entry n's hash is
 *     SHA-256( hex(hash[n-1]) || "\n" || canonical(entry n) )
 * where canonical() is the compact JSON object {"action","actor","detail",
 * "seq","subject","time"} with sorted keys and ASCII-only escaping, and
 * hash[0] is 64 zeros. Each entry also carries an ES256 signature of its hash
 * by the server's lease key, so rewriting the chain needs that key.
 */
#ifndef POCKETVM_SERVER_AUDIT_CHAIN_H
#define POCKETVM_SERVER_AUDIT_CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/sutil.h"

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Computes an entry's hash; false if detail_json is not JSON. */
bool audit_entry_hash(int64_t seq, int64_t time, const char *actor, const char *action,
		      const char *subject, const char *detail_json, const char *prev,
		      char out[SHA256_HEX_LEN + 1]);

struct audit_verifier {
	int64_t next_seq;
	char prev[SHA256_HEX_LEN + 1];
	const json_t *lease_pub;
	int64_t checked;
};

void audit_verifier_init(struct audit_verifier *v, const json_t *lease_pub);
/*
 * Checks the next entry (an object as GET /v1/admin/audit returns it).
 * Returns NULL when it is sound, else a static description of what is wrong.
 */
const char *audit_verify_entry(struct audit_verifier *v, const json_t *entry);

#endif
