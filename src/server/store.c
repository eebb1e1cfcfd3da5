// SPDX-License-Identifier: Apache-2.0
#include "server/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

const char *i64s(char *buf, int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

void store_rows_free(struct store_rows *r)
{
	if (!r || !r->cells)
		return;
	for (int i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i]);
	free(r->cells);
	r->cells = NULL;
	r->nrows = r->ncols = 0;
}

const char *store_cell(const struct store_rows *r, int row, int col)
{
	if (row < 0 || col < 0 || row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cells[row * r->ncols + col];
}

int64_t store_cell_i64(const struct store_rows *r, int row, int col)
{
	const char *c = store_cell(r, row, col);

	return c ? strtoll(c, NULL, 10) : 0;
}

int store_exec(struct store *s, enum stmt id, struct store_rows *out, const char *const *params,
	       int nparams)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (id < 0 || id >= Q__COUNT || nparams != store_stmts[id].nparams) {
		log_error("store: statement %d called with %d parameters", id, nparams);
		return -EINVAL;
	}
	return s->ops->exec(s, id, params, nparams, out);
}

int store_begin(struct store *s)
{
	int r = s->ops->begin(s);

	if (r == 0)
		s->in_tx = true;
	return r;
}

int store_commit(struct store *s)
{
	int r = s->ops->commit(s);

	if (r < 0)
		s->ops->rollback(s);
	s->in_tx = false;
	return r;
}

void store_rollback(struct store *s)
{
	if (s->in_tx)
		s->ops->rollback(s);
	s->in_tx = false;
}

int store_lock(struct store *s, int64_t key)
{
	return s->ops->lock(s, key);
}

/* Brings the schema to the newest version, serialized against other instances. */
static int store_migrate(struct store *s)
{
	struct store_rows rows;
	char buf[24];
	int64_t version;
	int r;

	r = store_begin(s);
	if (r < 0)
		return r;
	r = store_lock(s, STORE_LOCK_MIGRATE);
	if (r < 0)
		goto out;
	r = s->ops->exec_script(s, "CREATE TABLE IF NOT EXISTS schema_version "
				   "(version BIGINT NOT NULL)");
	if (r < 0)
		goto out;
	r = SQ0(s, Q_SCHEMA_VERSION, &rows);
	if (r < 0)
		goto out;
	if (rows.nrows == 0) {
		r = s->ops->exec_script(s, "INSERT INTO schema_version (version) VALUES (0)");
		if (r < 0)
			goto out;
	}
	version = store_cell_i64(&rows, 0, 0);
	store_rows_free(&rows);
	if (version > store_migrations_count) {
		log_error("store: database schema version %" PRId64
			  " is newer than this server (%d)",
			  version, store_migrations_count);
		r = -EPROTO;
		goto out;
	}
	for (; version < store_migrations_count; version++) {
		const struct store_migration *m = &store_migrations[version];

		log_info("store: migrating schema to version %" PRId64, version + 1);
		r = s->ops->exec_script(s, m->common);
		if (r < 0)
			goto out;
		if (m->dialect[s->ops->dialect][0] != '\0')
			r = s->ops->exec_script(s, m->dialect[s->ops->dialect]);
		if (r < 0)
			goto out;
	}
	r = SQ(s, Q_SCHEMA_SET_VERSION, NULL, i64s(buf, version));
	if (r < 0)
		goto out;
	return store_commit(s);
out:
	store_rollback(s);
	return r;
}

struct store *store_open(const char *url)
{
	struct store *s = calloc(1, sizeof(*s));
	const char *target;

	if (!s)
		return NULL;
	if (strncmp(url, "sqlite:", 7) == 0) {
		s->ops = &store_sqlite_ops;
		target = url + 7;
	} else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
		s->ops = &store_pg_ops;
		target = url;
	} else {
		log_error("store: unsupported database URL (want sqlite:PATH or postgresql://...)");
		free(s);
		return NULL;
	}
	if (s->ops->open(s, target) < 0) {
		free(s);
		return NULL;
	}
	if (store_migrate(s) < 0) {
		log_error("store: schema migration failed");
		store_free(s);
		return NULL;
	}
	return s;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	store_rollback(s);
	s->ops->close(s);
	free(s);
}
