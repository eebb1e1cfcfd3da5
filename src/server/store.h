/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's storage: one interface, two backends (SQLite, PostgreSQL).
 *
 * Every query is a prepared statement from one table (store_sql.c), written
 * once in the SQL both engines accept, with $1..$n parameters. Parameters
 * and results travel as text (NULL for SQL NULL): the backends differ only in
 * how they prepare, bind, step and lock, which is what struct store_ops
 * captures. A struct store is one connection; it is used by one thread.
 */
#ifndef POCKETVM_SERVER_STORE_H
#define POCKETVM_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "server/store_sql.h"

struct store;

/* A query result: nrows x ncols text cells, row-major; NULL cells are SQL NULL. */
struct store_rows {
	int nrows;
	int ncols;
	char **cells;
};

struct store_ops {
	const char *name;
	/* Opens a connection for the URL's backend-specific part. 0 or -errno. */
	int (*open)(struct store *s, const char *target);
	void (*close)(struct store *s);
	/* Runs a statement of enum stmt; out may be NULL. Returns rows changed (>= 0) or -errno. */
	int (*exec)(struct store *s, enum stmt id, const char *const *params, int nparams,
		    struct store_rows *out);
	/* Runs literal SQL without parameters (migrations only). */
	int (*exec_script)(struct store *s, const char *sql);
	/* Starts a transaction that will write (SQLite: BEGIN IMMEDIATE). */
	int (*begin)(struct store *s);
	int (*commit)(struct store *s);
	void (*rollback)(struct store *s);
	/*
	 * Serializes the caller against every other connection until the end of
	 * the current transaction (audit appends, migrations). SQLite's
	 * BEGIN IMMEDIATE already does; PostgreSQL takes an advisory lock.
	 */
	int (*lock)(struct store *s, int64_t key);
	/* 0 = SQLite dialect, 1 = PostgreSQL dialect (schema DDL differs slightly). */
	int dialect;
};

struct store {
	const struct store_ops *ops;
	void *priv;
	bool in_tx;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

/*
 * Opens "sqlite:PATH" or "postgresql://..." / "postgres://...", and brings
 * the schema up to date. Returns NULL with a logged reason on failure.
 */
struct store *store_open(const char *url);
void store_free(struct store *s);

int __must_check store_exec(struct store *s, enum stmt id, struct store_rows *out,
			    const char *const *params, int nparams);
#define SQ(s, id, out, ...)                                                \
	store_exec((s), (id), (out), (const char *const[]){ __VA_ARGS__ }, \
		   (int)ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ })))
#define SQ0(s, id, out) store_exec((s), (id), (out), NULL, 0)

int __must_check store_begin(struct store *s);
int __must_check store_commit(struct store *s);
void store_rollback(struct store *s);
int __must_check store_lock(struct store *s, int64_t key);

void store_rows_free(struct store_rows *r);
/* Cell (row, col) or NULL; NULL also when out of range. */
const char *store_cell(const struct store_rows *r, int row, int col);
int64_t store_cell_i64(const struct store_rows *r, int row, int col);

/* Formats v into buf (at least 24 bytes) and returns buf. */
const char *i64s(char *buf, int64_t v);

/* Lock keys for store_lock(). */
#define STORE_LOCK_AUDIT 0x706f636b01LL
#define STORE_LOCK_MIGRATE 0x706f636b02LL

#endif
