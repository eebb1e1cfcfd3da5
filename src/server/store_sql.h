/* SPDX-License-Identifier: Apache-2.0 */
/* The server's prepared statements (store_sql.c holds the SQL). */
#ifndef POCKETVM_SERVER_STORE_SQL_H
#define POCKETVM_SERVER_STORE_SQL_H

enum stmt {
	Q_ADMIN_TOKEN_INSERT,
	Q_ADMIN_TOKEN_BY_HASH,
	Q_ADMIN_TOKEN_LIST,
	Q_ADMIN_TOKEN_REVOKE,
	Q_ADMIN_TOKEN_TOUCH,
	Q_GROUP_INSERT,
	Q_GROUP_GET,
	Q_GROUP_LIST,
	Q_GROUP_SET_POLICY,
	Q_ETOKEN_INSERT,
	Q_ETOKEN_BY_HASH,
	Q_ETOKEN_CONSUME,
	Q_ETOKEN_LIST,
	Q_ETOKEN_DELETE,
	Q_DEVICE_INSERT,
	Q_DEVICE_GET,
	Q_DEVICE_LIST,
	Q_DEVICE_SET_STATUS,
	Q_DEVICE_SET_POLICY,
	Q_DEVICE_SET_SERIAL,
	Q_DEVICE_CHECKIN,
	Q_DEVICE_COUNT,
	Q_VM_INSERT,
	Q_VM_GET,
	Q_VM_KEY,
	Q_VM_BY_KID,
	Q_VM_LIST,
	Q_VM_LIST_DEVICE,
	Q_VM_SET_STATE,
	Q_VM_REVOKE,
	Q_VM_REVOKE_DEVICE,
	Q_VM_SET_POLICY,
	Q_VM_REPORT,
	Q_CMD_INSERT,
	Q_CMD_PENDING,
	Q_CMD_MARK_DELIVERED,
	Q_CMD_GET,
	Q_CMD_ACK,
	Q_CMD_LIST,
	Q_CMD_LIST_DEVICE,
	Q_IMAGE_INSERT,
	Q_IMAGE_GET,
	Q_IMAGE_LIST,
	Q_AUDIT_LAST,
	Q_AUDIT_INSERT,
	Q_AUDIT_RANGE,
	Q_SCHEMA_VERSION,
	Q_SCHEMA_SET_VERSION,
	Q__COUNT,
};

/* Column lists shared by handlers (index = column number in results). */
enum device_col {
	DEV_ID,
	DEV_GRP,
	DEV_NAME,
	DEV_PLATFORM,
	DEV_SERIAL,
	DEV_STATUS,
	DEV_POLICY,
	DEV_ENROLLED,
	DEV_LAST_SEEN,
	DEV_SEQ
};
enum vm_col {
	VM_ID,
	VM_DEVICE,
	VM_NAME,
	VM_STATE,
	VM_IMAGE_NAME,
	VM_IMAGE_VERSION,
	VM_POLICY,
	VM_KID,
	VM_CREATED,
	VM_REPORTED_STATE,
	VM_REPORTED_AT,
};
enum cmd_col {
	CMD_ID,
	CMD_DEVICE,
	CMD_VM,
	CMD_TYPE,
	CMD_STATUS,
	CMD_CREATED,
	CMD_DELIVERED,
	CMD_ACKED,
	CMD_DETAIL
};
enum audit_col {
	AU_SEQ,
	AU_TIME,
	AU_ACTOR,
	AU_ACTION,
	AU_SUBJECT,
	AU_DETAIL,
	AU_PREV,
	AU_HASH,
	AU_SIG
};

struct store_stmt {
	const char *sql;
	int nparams;
};

extern const struct store_stmt store_stmts[Q__COUNT];

/*
 * Schema migrations, in order: entry i takes the schema from version i to
 * i + 1 by running common, then dialect[store dialect].
 */
struct store_migration {
	const char *common;
	const char *dialect[2];
};
extern const struct store_migration store_migrations[];
extern const int store_migrations_count;

#endif
