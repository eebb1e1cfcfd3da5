// SPDX-License-Identifier: Apache-2.0
/*
 * The PostgreSQL backend (libpq): one connection per thread, every statement
 * prepared once per connection under the name "q<id>". Several server
 * instances may share one database; cross-instance ordering comes from row
 * locks (UPDATE ... WHERE) and advisory transaction locks (store_lock).
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/store.h"

struct pg {
	PGconn *c;
	bool prepared[Q__COUNT];
};

static int pg_result_err(PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state && strncmp(state, "23", 2) == 0) {
		log_debug("store(pg): %s: %s", what, PQresultErrorMessage(res));
		return -EEXIST;
	}
	log_error("store(pg): %s: %s", what, PQresultErrorMessage(res));
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return -EAGAIN;
	return -EIO;
}

static int pg_open(struct store *s, const char *url)
{
	struct pg *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->c = PQconnectdb(url);
	if (PQstatus(p->c) != CONNECTION_OK) {
		/* The message may echo the URL's host but never its password. */
		log_error("store(pg): cannot connect: %s", PQerrorMessage(p->c));
		PQfinish(p->c);
		free(p);
		return -EIO;
	}
	s->priv = p;
	return 0;
}

static void pg_close(struct store *s)
{
	struct pg *p = s->priv;

	PQfinish(p->c);
	free(p);
}

/* After a lost connection outside a transaction: reconnect, forget prepared statements. */
static bool pg_recover(struct store *s)
{
	struct pg *p = s->priv;

	if (PQstatus(p->c) == CONNECTION_OK || s->in_tx)
		return false;
	PQreset(p->c);
	memset(p->prepared, 0, sizeof(p->prepared));
	if (PQstatus(p->c) != CONNECTION_OK)
		return false;
	log_warn("store(pg): reconnected to the database");
	return true;
}

static int pg_collect(PGresult *res, struct store_rows *out)
{
	int n = PQntuples(res), m = PQnfields(res);

	if (!out || n == 0)
		return 0;
	out->cells = calloc((size_t)n * m, sizeof(char *));
	if (!out->cells)
		return -ENOMEM;
	out->nrows = n;
	out->ncols = m;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < m; j++) {
			if (PQgetisnull(res, i, j))
				continue;
			out->cells[i * m + j] = strdup(PQgetvalue(res, i, j));
			if (!out->cells[i * m + j])
				return -ENOMEM;
		}
	}
	return 0;
}

static int pg_exec(struct store *s, enum stmt id, const char *const *params, int nparams,
		   struct store_rows *out)
{
	struct pg *p = s->priv;
	char name[16];
	PGresult *res;
	int r, tries = 0;

	snprintf(name, sizeof(name), "q%d", id);
again:
	if (!p->prepared[id]) {
		res = PQprepare(p->c, name, store_stmts[id].sql, nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			r = pg_result_err(res, "prepare");
			PQclear(res);
			if (tries++ == 0 && pg_recover(s))
				goto again;
			return r;
		}
		PQclear(res);
		p->prepared[id] = true;
	}
	res = PQexecPrepared(p->c, name, nparams, params, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		r = pg_collect(res, out);
		if (r == 0)
			r = PQntuples(res);
		break;
	case PGRES_COMMAND_OK:
		r = atoi(PQcmdTuples(res));
		break;
	default:
		r = pg_result_err(res, store_stmts[id].sql);
		PQclear(res);
		if (tries++ == 0 && pg_recover(s))
			goto again;
		return r;
	}
	PQclear(res);
	if (r < 0 && out)
		store_rows_free(out);
	return r;
}

static int pg_script(struct store *s, const char *sql)
{
	struct pg *p = s->priv;
	PGresult *res = PQexec(p->c, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		r = pg_result_err(res, "script");
	PQclear(res);
	return r;
}

static int pg_begin(struct store *s)
{
	int r = pg_script(s, "BEGIN");

	if (r < 0 && pg_recover(s))
		r = pg_script(s, "BEGIN");
	return r;
}

static int pg_commit(struct store *s)
{
	return pg_script(s, "COMMIT");
}

static void pg_rollback(struct store *s)
{
	struct pg *p = s->priv;

	if (PQtransactionStatus(p->c) != PQTRANS_IDLE)
		(void)pg_script(s, "ROLLBACK");
}

static int pg_lock(struct store *s, int64_t key)
{
	char sql[64];

	/* key is one of our compile-time constants, never input. */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%" PRId64 ")", key);
	return pg_script(s, sql);
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.exec_script = pg_script,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.lock = pg_lock,
	.dialect = 1,
};
