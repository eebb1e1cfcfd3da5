// SPDX-License-Identifier: Apache-2.0
#include "server/audit_chain.h"

#include <stdlib.h>
#include <string.h>

#include "server/keys.h"

bool audit_entry_hash(int64_t seq, int64_t time, const char *actor, const char *action,
		      const char *subject, const char *detail_json, const char *prev,
		      char out[SHA256_HEX_LEN + 1])
{
	json_t *detail = json_loads(detail_json, JSON_DECODE_ANY, NULL);
	json_t *e;
	char *text, *buf;
	size_t n;
	bool ok = false;

	if (!detail)
		return false;
	e = json_pack("{s:I,s:I,s:s,s:s,s:s,s:o}", "seq", (json_int_t)seq, "time", (json_int_t)time,
		      "actor", actor, "action", action, "subject", subject, "detail", detail);
	text = e ? json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(e);
	if (!text)
		return false;
	n = strlen(prev) + 1 + strlen(text);
	buf = malloc(n + 1);
	if (buf) {
		snprintf(buf, n + 1, "%s\n%s", prev, text);
		sha256_hex(buf, n, out);
		ok = true;
	}
	free(buf);
	free(text);
	return ok;
}

void audit_verifier_init(struct audit_verifier *v, const json_t *lease_pub)
{
	v->next_seq = 1;
	strcpy(v->prev, AUDIT_GENESIS);
	v->lease_pub = lease_pub;
	v->checked = 0;
}

const char *audit_verify_entry(struct audit_verifier *v, const json_t *entry)
{
	const char *actor, *action, *subject, *prev, *hash, *sig;
	json_int_t seq, time;
	json_t *detail;
	char want[SHA256_HEX_LEN + 1], *dtext;
	bool ok;

	if (json_unpack((json_t *)entry, "{s:I,s:I,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "seq", &seq,
			"time", &time, "actor", &actor, "action", &action, "subject", &subject,
			"detail", &detail, "prev", &prev, "hash", &hash, "sig", &sig) < 0)
		return "malformed entry";
	if (seq != v->next_seq)
		return seq > v->next_seq ? "entries missing before this one (deleted)" :
					   "sequence number out of order";
	if (strcmp(prev, v->prev) != 0)
		return "prev does not match the previous entry's hash (edited or deleted entry)";
	dtext = json_dumps(detail,
			   JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	ok = dtext && audit_entry_hash(seq, time, actor, action, subject, dtext, prev, want);
	free(dtext);
	if (!ok || strcmp(want, hash) != 0)
		return "hash does not match the entry's contents (edited entry)";
	if (!keys_verify_detached(v->lease_pub, hash, sig))
		return "signature invalid (chain rewritten without the server's key)";
	strcpy(v->prev, hash);
	v->next_seq++;
	v->checked++;
	return NULL;
}
