// SPDX-License-Identifier: Apache-2.0
/* The SQLite backend: one database file in WAL mode, one connection per thread. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/store.h"

struct sq {
	sqlite3 *db;
	sqlite3_stmt *stmts[Q__COUNT];
};

static int sq_err(struct sq *q, int rc, const char *what)
{
	int ext = sqlite3_extended_errcode(q->db);

	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		log_debug("store(sqlite): %s: %s", what, sqlite3_errmsg(q->db));
		return -EEXIST;
	}
	log_error("store(sqlite): %s: %s (%d)", what, sqlite3_errmsg(q->db), ext);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return -EBUSY;
	return -EIO;
}

static int sq_script(struct store *s, const char *sql)
{
	struct sq *q = s->priv;
	char *msg = NULL;
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("store(sqlite): %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
	}
	return 0;
}

static int sq_open(struct store *s, const char *path)
{
	struct sq *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	s->priv = q;
	rc = sqlite3_open_v2(path, &q->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		log_error("store(sqlite): cannot open %s: %s", path,
			  q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		sqlite3_close(q->db);
		free(q);
		return -EIO;
	}
	sqlite3_busy_timeout(q->db, 10000);
	/* WAL: readers never block the writer; NORMAL: durable at checkpoints. */
	if (sq_script(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			 "PRAGMA foreign_keys=ON;") < 0) {
		sqlite3_close(q->db);
		free(q);
		return -EIO;
	}
	return 0;
}

static void sq_close(struct store *s)
{
	struct sq *q = s->priv;

	for (int i = 0; i < Q__COUNT; i++)
		sqlite3_finalize(q->stmts[i]);
	sqlite3_close(q->db);
	free(q);
}

static int rows_push(struct store_rows *out, sqlite3_stmt *st, int *cap)
{
	int n = sqlite3_column_count(st);

	if (out->nrows == 0)
		out->ncols = n;
	if ((out->nrows + 1) * n > *cap) {
		int ncap = *cap ? *cap * 2 : 16 * (n ? n : 1);
		char **c = realloc(out->cells, sizeof(char *) * ncap);

		if (!c)
			return -ENOMEM;
		out->cells = c;
		*cap = ncap;
	}
	for (int i = 0; i < n; i++) {
		const unsigned char *t = sqlite3_column_text(st, i);
		char **cell = &out->cells[out->nrows * n + i];

		*cell = t ? strdup((const char *)t) : NULL;
		if (t && !*cell)
			return -ENOMEM;
	}
	out->nrows++;
	return 0;
}

static int sq_exec(struct store *s, enum stmt id, const char *const *params, int nparams,
		   struct store_rows *out)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->stmts[id];
	int rc, r = 0, cap = 0;
	char name[16];

	if (!st) {
		rc = sqlite3_prepare_v3(q->db, store_stmts[id].sql, -1, SQLITE_PREPARE_PERSISTENT,
					&st, NULL);
		if (rc != SQLITE_OK)
			return sq_err(q, rc, "prepare");
		q->stmts[id] = st;
	}
	for (int i = 0; i < nparams; i++) {
		int idx;

		snprintf(name, sizeof(name), "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			continue;
		rc = params[i] ? sqlite3_bind_text(st, idx, params[i], -1, SQLITE_STATIC) :
				 sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK) {
			r = sq_err(q, rc, "bind");
			goto out;
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out && (r = rows_push(out, st, &cap)) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		r = sq_err(q, rc, store_stmts[id].sql);
		goto out;
	}
	r = sqlite3_column_count(st) ? out ? out->nrows : 0 : sqlite3_changes(q->db);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r < 0 && out)
		store_rows_free(out);
	return r;
}

static int sq_begin(struct store *s)
{
	return sq_script(s, "BEGIN IMMEDIATE");
}

static int sq_commit(struct store *s)
{
	return sq_script(s, "COMMIT");
}

static void sq_rollback(struct store *s)
{
	struct sq *q = s->priv;

	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

/* BEGIN IMMEDIATE already holds the only write lock of the file. */
static int sq_lock(struct store *s, int64_t key)
{
	return 0;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.exec_script = sq_script,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.lock = sq_lock,
	.dialect = 0,
};
