// SPDX-License-Identifier: Apache-2.0
/*
 * Every SQL statement the server runs. One text serves both engines: $n
 * parameters (SQLite reads "$1" as a named parameter), TEXT and BIGINT
 * columns only, RETURNING and ON CONFLICT (SQLite >= 3.35, PostgreSQL >= 9.5).
 */
#include "server/store_sql.h"

#include "common/util.h"

#define DEV_COLS "id, grp, name, platform, serial, status, policy, enrolled, last_seen, seq"
#define VM_COLS                                                                      \
	"id, device, name, state, image_name, image_version, policy, kid, created, " \
	"reported_state, reported_at"
#define CMD_COLS "id, device, vm, type, status, created, delivered, acked, detail"
#define AU_COLS "seq, time, actor, action, subject, detail, prev, hash, sig"

const struct store_stmt store_stmts[Q__COUNT] = {
	[Q_ADMIN_TOKEN_INSERT] = { "INSERT INTO admin_tokens (id, hash, name, scopes, created, "
				   "expires) VALUES ($1, $2, $3, $4, $5, $6)",
				   6 },
	[Q_ADMIN_TOKEN_BY_HASH] = { "SELECT id, name, scopes, expires, revoked FROM admin_tokens "
				    "WHERE hash = $1",
				    1 },
	[Q_ADMIN_TOKEN_LIST] = { "SELECT id, name, scopes, created, expires, revoked FROM "
				 "admin_tokens ORDER BY created, id",
				 0 },
	[Q_ADMIN_TOKEN_REVOKE] = { "UPDATE admin_tokens SET revoked = 1 WHERE id = $1", 1 },
	/* Only one caller per session window wins, also across instances. */
	[Q_ADMIN_TOKEN_TOUCH] = { "UPDATE admin_tokens SET last_used = $2 WHERE id = $1 AND "
				  "last_used < $3",
				  3 },
	[Q_GROUP_INSERT] = { "INSERT INTO device_groups (name, policy, created) VALUES ($1, $2, $3) "
			     "ON CONFLICT (name) DO NOTHING",
			     3 },
	[Q_GROUP_GET] = { "SELECT name, policy, created FROM device_groups WHERE name = $1", 1 },
	[Q_GROUP_LIST] = { "SELECT name, policy, created FROM device_groups ORDER BY name", 0 },
	[Q_GROUP_SET_POLICY] = { "UPDATE device_groups SET policy = $2 WHERE name = $1", 2 },
	[Q_ETOKEN_INSERT] = { "INSERT INTO enroll_tokens (id, hash, grp, created, expires) "
			      "VALUES ($1, $2, $3, $4, $5)",
			      5 },
	[Q_ETOKEN_BY_HASH] = { "SELECT id, grp, expires, used FROM enroll_tokens WHERE hash = $1",
			       1 },
	[Q_ETOKEN_CONSUME] = { "UPDATE enroll_tokens SET used = $2, device = $3 "
			       "WHERE id = $1 AND used = 0",
			       3 },
	[Q_ETOKEN_LIST] = { "SELECT id, grp, created, expires, used, device FROM enroll_tokens "
			    "ORDER BY created, id",
			    0 },
	[Q_ETOKEN_DELETE] = { "DELETE FROM enroll_tokens WHERE id = $1 AND used = 0", 1 },
	[Q_DEVICE_INSERT] = { "INSERT INTO devices (id, grp, name, platform, serial, status, "
			      "enrolled) VALUES ($1, $2, $3, $4, $5, 'active', $6)",
			      6 },
	[Q_DEVICE_GET] = { "SELECT " DEV_COLS " FROM devices WHERE id = $1", 1 },
	[Q_DEVICE_LIST] = { "SELECT " DEV_COLS " FROM devices ORDER BY enrolled, id", 0 },
	[Q_DEVICE_SET_STATUS] = { "UPDATE devices SET status = $2 WHERE id = $1", 2 },
	[Q_DEVICE_SET_POLICY] = { "UPDATE devices SET policy = $2 WHERE id = $1", 2 },
	/* Compare-and-swap on the serial: two renewals with one certificate cannot both win. */
	[Q_DEVICE_SET_SERIAL] = { "UPDATE devices SET serial = $3 WHERE id = $1 AND serial = $2 "
				  "AND status = 'active'",
				  3 },
	[Q_DEVICE_CHECKIN] = { "UPDATE devices SET seq = seq + 1, last_seen = $2 WHERE id = $1 "
			       "RETURNING seq, status, policy, grp",
			       2 },
	[Q_DEVICE_COUNT] = { "SELECT COUNT(*) FROM devices", 0 },
	[Q_VM_INSERT] = { "INSERT INTO vms (id, device, name, state, image_name, image_version, "
			  "kid, kid_s1, jwk, adv, created) VALUES ($1, $2, $3, 'active', $4, $5, "
			  "$6, $7, $8, $9, $10)",
			  10 },
	[Q_VM_GET] = { "SELECT " VM_COLS " FROM vms WHERE id = $1", 1 },
	[Q_VM_KEY] = { "SELECT device, state, jwk, adv, kid, policy, kid_s1 FROM vms WHERE id = $1",
		       1 },
	[Q_VM_BY_KID] = { "SELECT id FROM vms WHERE kid = $1 OR kid_s1 = $1", 1 },
	[Q_VM_LIST] = { "SELECT " VM_COLS " FROM vms ORDER BY created, id", 0 },
	[Q_VM_LIST_DEVICE] = { "SELECT " VM_COLS " FROM vms WHERE device = $1 "
			       "ORDER BY created, id",
			       1 },
	[Q_VM_SET_STATE] = { "UPDATE vms SET state = $2 WHERE id = $1 AND state <> 'revoked'", 2 },
	[Q_VM_REVOKE] = { "UPDATE vms SET state = 'revoked', jwk = NULL, adv = NULL "
			  "WHERE id = $1 AND state <> 'revoked'",
			  1 },
	[Q_VM_REVOKE_DEVICE] = { "UPDATE vms SET state = 'revoked', jwk = NULL, adv = NULL "
				 "WHERE device = $1 AND state <> 'revoked'",
				 1 },
	/* Only the reporting device's own VMs: "AND device = $2". */
	[Q_VM_REPORT] = { "UPDATE vms SET reported_state = $3, reported_at = $4 WHERE id = $1 AND "
			  "device = $2",
			  4 },
	[Q_VM_SET_POLICY] = { "UPDATE vms SET policy = $2 WHERE id = $1", 2 },
	[Q_CMD_INSERT] = { "INSERT INTO commands (id, device, vm, type, status, created) "
			   "VALUES ($1, $2, $3, $4, 'pending', $5)",
			   5 },
	[Q_CMD_PENDING] = { "SELECT id, type, vm, created FROM commands WHERE device = $1 AND "
			    "status IN ('pending', 'delivered') ORDER BY created, id",
			    1 },
	[Q_CMD_MARK_DELIVERED] = { "UPDATE commands SET status = 'delivered', delivered = $2 "
				   "WHERE device = $1 AND status = 'pending'",
				   2 },
	[Q_CMD_GET] = { "SELECT " CMD_COLS " FROM commands WHERE id = $1", 1 },
	[Q_CMD_ACK] = { "UPDATE commands SET status = $3, acked = $4, detail = $5 WHERE id = $1 "
			"AND device = $2 AND status IN ('pending', 'delivered')",
			5 },
	[Q_CMD_LIST] = { "SELECT " CMD_COLS " FROM commands ORDER BY created, id", 0 },
	[Q_CMD_LIST_DEVICE] = { "SELECT " CMD_COLS " FROM commands WHERE device = $1 "
				"ORDER BY created, id",
				1 },
	[Q_IMAGE_INSERT] = { "INSERT INTO images (name, version, manifest, jws, published) "
			     "VALUES ($1, $2, $3, $4, $5)",
			     5 },
	[Q_IMAGE_GET] = { "SELECT manifest, jws, published FROM images WHERE name = $1 AND "
			  "version = $2",
			  2 },
	[Q_IMAGE_LIST] = { "SELECT name, version, published, manifest FROM images "
			   "ORDER BY name, version",
			   0 },
	[Q_AUDIT_LAST] = { "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", 0 },
	[Q_AUDIT_INSERT] = { "INSERT INTO audit (" AU_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
			     "$8, $9)",
			     9 },
	[Q_AUDIT_RANGE] = { "SELECT " AU_COLS " FROM audit WHERE seq > $1 ORDER BY seq "
			    "LIMIT CAST($2 AS BIGINT)",
			    2 },
	[Q_SCHEMA_VERSION] = { "SELECT version FROM schema_version", 0 },
	[Q_SCHEMA_SET_VERSION] = { "UPDATE schema_version SET version = $1", 1 },
};

/*
 * Version 1. The audit table refuses UPDATE and DELETE through triggers:
 * the hash chain detects tampering by someone who bypasses them, the
 * triggers stop mistakes and the server itself.
 */
static const char v1_common[] =
	"CREATE TABLE admin_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
	" name TEXT NOT NULL, scopes TEXT NOT NULL, created BIGINT NOT NULL, "
	" expires BIGINT NOT NULL, revoked BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE device_groups (name TEXT PRIMARY KEY, policy TEXT NOT NULL, "
	" created BIGINT NOT NULL);"
	"CREATE TABLE enroll_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
	" grp TEXT NOT NULL REFERENCES device_groups(name), created BIGINT NOT NULL, "
	" expires BIGINT NOT NULL, used BIGINT NOT NULL DEFAULT 0, device TEXT);"
	"CREATE TABLE devices (id TEXT PRIMARY KEY, grp TEXT NOT NULL, name TEXT, platform TEXT, "
	" serial TEXT NOT NULL, status TEXT NOT NULL, policy TEXT NOT NULL DEFAULT '{}', "
	" enrolled BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0, "
	" seq BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE vms (id TEXT PRIMARY KEY, device TEXT NOT NULL REFERENCES devices(id), "
	" name TEXT NOT NULL, state TEXT NOT NULL, image_name TEXT, image_version TEXT, "
	" policy TEXT NOT NULL DEFAULT '{}', kid TEXT UNIQUE, kid_s1 TEXT UNIQUE, jwk TEXT, "
	" adv TEXT, created BIGINT NOT NULL);"
	"CREATE INDEX vms_device ON vms(device);"
	"CREATE TABLE commands (id TEXT PRIMARY KEY, device TEXT NOT NULL, vm TEXT, "
	" type TEXT NOT NULL, status TEXT NOT NULL, created BIGINT NOT NULL, "
	" delivered BIGINT NOT NULL DEFAULT 0, acked BIGINT NOT NULL DEFAULT 0, detail TEXT);"
	"CREATE INDEX commands_device ON commands(device, status);"
	"CREATE TABLE images (name TEXT NOT NULL, version TEXT NOT NULL, manifest TEXT NOT NULL, "
	" jws TEXT NOT NULL, published BIGINT NOT NULL, PRIMARY KEY (name, version));"
	"CREATE TABLE audit (seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, actor TEXT NOT NULL, "
	" action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, "
	" hash TEXT NOT NULL, sig TEXT NOT NULL);";

static const char v1_sqlite[] = "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
				" BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
				"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
				" BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;";

static const char v1_pg[] =
	"CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
	" $f$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $f$;"
	"CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
	" FOR EACH ROW EXECUTE FUNCTION audit_append_only();";

/* Version 2: when each admin token was last seen, for admin.login audit entries. */
static const char v2_common[] =
	"ALTER TABLE admin_tokens ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;";

/* Version 3: what the device last said about each VM (check-in "vms"). */
static const char v3_common[] = "ALTER TABLE vms ADD COLUMN reported_state TEXT;"
				"ALTER TABLE vms ADD COLUMN reported_at BIGINT NOT NULL DEFAULT 0;";

const struct store_migration store_migrations[] = {
	{ v1_common, { v1_sqlite, v1_pg } },
	{ v2_common, { "", "" } },
	{ v3_common, { "", "" } },
};
const int store_migrations_count = ARRAY_SIZE(store_migrations);
