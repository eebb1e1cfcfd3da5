// SPDX-License-Identifier: Apache-2.0
/* Appends to the hash-chained audit log (see audit_chain.h for the format). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/audit_chain.h"
#include "server/server.h"

/*
 * Appends one entry. Inside the caller's transaction when there is one (the
 * entry commits or rolls back with the action it records), else in its own.
 * Serialized across threads and server instances by store_lock().
 */
int audit_append(struct worker *w, const char *actor, const char *action, const char *subject,
		 json_t *detail)
{
	struct store *s = w->store;
	bool own = !s->in_tx;
	struct store_rows rows = { 0 };
	char hash[SHA256_HEX_LEN + 1], prev[SHA256_HEX_LEN + 1], b1[24], b2[24];
	char *dtext = NULL, *sig = NULL;
	int64_t seq, t = now_s();
	int r;

	dtext = json_dumps(detail ? detail : json_object(),
			   JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!dtext)
		return -ENOMEM;
	if (own && (r = store_begin(s)) < 0)
		goto out;
	r = store_lock(s, STORE_LOCK_AUDIT);
	if (r < 0)
		goto fail;
	r = SQ0(s, Q_AUDIT_LAST, &rows);
	if (r < 0)
		goto fail;
	seq = rows.nrows ? store_cell_i64(&rows, 0, 0) + 1 : 1;
	snprintf(prev, sizeof(prev), "%s", rows.nrows ? store_cell(&rows, 0, 1) : AUDIT_GENESIS);
	r = -EIO;
	if (!audit_entry_hash(seq, t, actor, action, subject, dtext, prev, hash))
		goto fail;
	sig = keys_sign_detached(&w->keys, hash);
	if (!sig)
		goto fail;
	r = SQ(s, Q_AUDIT_INSERT, NULL, i64s(b1, seq), i64s(b2, t), actor, action, subject, dtext,
	       prev, hash, sig);
	if (r < 0)
		goto fail;
	r = own ? store_commit(s) : 0;
	goto out;
fail:
	if (own)
		store_rollback(s);
	log_error("audit: cannot append %s for %s: %s", action, subject, strerror(-r));
out:
	store_rows_free(&rows);
	free(dtext);
	free(sig);
	json_decref(detail);
	return r;
}
