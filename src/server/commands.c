// SPDX-License-Identifier: Apache-2.0
/* Remote commands: creation (with immediate server-side effect) and acknowledgment. */
#include <errno.h>
#include <string.h>

#include "server/api.h"

static const char *const cmd_names[] = {
	[CMD_LOCK] = "lock",	     [CMD_UNLOCK] = "unlock",
	[CMD_WIPE_VM] = "wipe_vm",   [CMD_WIPE_DEVICE] = "wipe_device",
	[CMD_UNENROLL] = "unenroll",
};

bool cmd_type_parse(const char *s, enum cmd_type *t)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmd_names); i++) {
		if (s && strcmp(s, cmd_names[i]) == 0) {
			*t = i;
			return true;
		}
	}
	return false;
}

const char *cmd_type_name(enum cmd_type t)
{
	return cmd_names[t];
}

bool cmd_type_needs_vm(enum cmd_type t)
{
	return t == CMD_LOCK || t == CMD_UNLOCK || t == CMD_WIPE_VM;
}

static int apply_effect(struct store *s, const char *device, const char *vm, enum cmd_type t)
{
	int r;

	switch (t) {
	case CMD_LOCK:
		return SQ(s, Q_VM_SET_STATE, NULL, vm, "locked");
	case CMD_UNLOCK:
		return SQ(s, Q_VM_SET_STATE, NULL, vm, "active");
	case CMD_WIPE_VM:
		return SQ(s, Q_VM_REVOKE, NULL, vm);
	default:
		r = SQ(s, Q_VM_REVOKE_DEVICE, NULL, device);
		if (r < 0)
			return r;
		return SQ(s, Q_DEVICE_SET_STATUS, NULL, device, "revoked");
	}
}

int cmd_create(struct worker *w, const char *actor, const char *device, const char *vm,
	       enum cmd_type t, char id[UUID_LEN + 1])
{
	struct store *s = w->store;
	char b[24];
	int r;

	r = uuid_random(id);
	if (r < 0)
		return r;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = apply_effect(s, device, vm, t);
	if (r >= 0)
		r = SQ(s, Q_CMD_INSERT, NULL, id, device, vm, cmd_type_name(t), i64s(b, now_s()));
	if (r >= 0)
		r = audit_append(w, actor, "command.create", device,
				 json_pack("{s:s,s:s,s:s?}", "command", id, "type",
					   cmd_type_name(t), "vm", vm));
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

int cmd_ack(struct worker *w, const char *device, const char *id, bool done, const char *detail)
{
	struct store *s = w->store;
	struct store_rows rows;
	enum cmd_type t;
	char b[24], actor[64];
	int r;

	r = SQ(s, Q_CMD_GET, &rows, id);
	if (r < 0)
		return r;
	if (rows.nrows != 1 || strcmp(store_cell(&rows, 0, CMD_DEVICE), device) != 0) {
		r = -ENOENT;
		goto out;
	}
	if (!cmd_type_parse(store_cell(&rows, 0, CMD_TYPE), &t)) {
		r = -EINVAL;
		goto out;
	}
	r = SQ(s, Q_CMD_ACK, NULL, id, device, done ? "done" : "failed", i64s(b, now_s()), detail);
	if (r == 0) {
		r = -EALREADY;
		goto out;
	}
	if (r > 0 && done && (t == CMD_WIPE_DEVICE || t == CMD_UNENROLL))
		r = SQ(s, Q_DEVICE_SET_STATUS, NULL, device, "retired");
	if (r < 0)
		goto out;
	snprintf(actor, sizeof(actor), "device:%s", device);
	r = audit_append(w, actor, "command.ack", device,
			 json_pack("{s:s,s:s,s:s,s:s?}", "command", id, "type", cmd_type_name(t),
				   "status", done ? "done" : "failed", "detail", detail));
out:
	store_rows_free(&rows);
	return r;
}

static json_t *int_or_null(const struct store_rows *rows, int i, int col)
{
	const char *c = store_cell(rows, i, col);

	return c ? json_integer(store_cell_i64(rows, i, col)) : json_null();
}

static json_t *policy_obj(const char *text)
{
	json_t *p = text ? json_loads(text, 0, NULL) : NULL;

	return p ? p : json_object();
}

json_t *device_json(const struct store_rows *rows, int i)
{
	return json_pack("{s:s,s:s,s:s?,s:s?,s:s,s:s,s:o,s:o,s:o,s:o}", "id",
			 store_cell(rows, i, DEV_ID), "group", store_cell(rows, i, DEV_GRP), "name",
			 store_cell(rows, i, DEV_NAME), "platform",
			 store_cell(rows, i, DEV_PLATFORM), "serial",
			 store_cell(rows, i, DEV_SERIAL), "status", store_cell(rows, i, DEV_STATUS),
			 "policy", policy_obj(store_cell(rows, i, DEV_POLICY)), "enrolled",
			 int_or_null(rows, i, DEV_ENROLLED), "last_seen",
			 int_or_null(rows, i, DEV_LAST_SEEN), "seq", int_or_null(rows, i, DEV_SEQ));
}

json_t *vm_json(const struct store_rows *rows, int i)
{
	const char *img = store_cell(rows, i, VM_IMAGE_NAME);
	json_t *image = img ? json_pack("{s:s,s:s?}", "name", img, "version",
					store_cell(rows, i, VM_IMAGE_VERSION)) :
			      json_null();
	const char *rep = store_cell(rows, i, VM_REPORTED_STATE);
	char tang[64];
	json_t *reported = rep ? json_pack("{s:s,s:I}", "state", rep, "at",
					   (json_int_t)store_cell_i64(rows, i, VM_REPORTED_AT)) :
				 json_null();

	snprintf(tang, sizeof(tang), "/tang/%s", store_cell(rows, i, VM_ID));
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s?,s:s,s:o,s:o}", "id",
			 store_cell(rows, i, VM_ID), "device", store_cell(rows, i, VM_DEVICE),
			 "name", store_cell(rows, i, VM_NAME), "state",
			 store_cell(rows, i, VM_STATE), "image", image, "policy",
			 policy_obj(store_cell(rows, i, VM_POLICY)), "kid",
			 store_cell(rows, i, VM_KID), "tang_path", tang, "created",
			 int_or_null(rows, i, VM_CREATED), "reported", reported);
}

json_t *cmd_json(const struct store_rows *rows, int i)
{
	return json_pack(
		"{s:s,s:s,s:s?,s:s,s:s,s:o,s:o,s:o,s:s?}", "id", store_cell(rows, i, CMD_ID),
		"device", store_cell(rows, i, CMD_DEVICE), "vm", store_cell(rows, i, CMD_VM),
		"type", store_cell(rows, i, CMD_TYPE), "status", store_cell(rows, i, CMD_STATUS),
		"created", int_or_null(rows, i, CMD_CREATED), "delivered",
		int_or_null(rows, i, CMD_DELIVERED), "acked", int_or_null(rows, i, CMD_ACKED),
		"detail", store_cell(rows, i, CMD_DETAIL));
}

void reply_store_error(struct req *r, int err)
{
	if (err == -ENOMEM)
		reply_error(r, 500, "internal", "out of memory");
	else
		reply_error(r, 503, "unavailable", "database error (%d)", err);
}
