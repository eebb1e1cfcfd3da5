// SPDX-License-Identifier: Apache-2.0
/* The admin REST API (docs/api.md): tokens, groups, devices, VMs, commands, audit. */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "server/api.h"

#define DAY 86400

/* Optional integer field within [lo, hi], default def; false (and 400 sent) if bad. */
static bool opt_int(struct req *r, json_t *j, const char *key, json_int_t def, json_int_t lo,
		    json_int_t hi, json_int_t *out)
{
	json_t *v = json_object_get(j, key);

	*out = def;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		reply_error(r, 400, "bad_request", "%s must be an integer %lld..%lld", key,
			    (long long)lo, (long long)hi);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* Replies with {key: [rows as JSON]} for a list statement. */
static void reply_list(struct req *r, const char *key, int rc, struct store_rows *rows,
		       json_t *(*conv)(const struct store_rows *, int))
{
	json_t *arr;

	if (rc < 0) {
		reply_store_error(r, rc);
		return;
	}
	arr = json_array();
	for (int i = 0; i < rows->nrows; i++)
		json_array_append_new(arr, conv(rows, i));
	store_rows_free(rows);
	reply_json(r, 200, json_pack("{s:o}", key, arr));
}

/* Runs one write plus its audit entry in a transaction; replies 503 on failure. */
static bool write_audited(struct req *r, int rc, const char *action, const char *subject,
			  json_t *detail)
{
	if (rc >= 0)
		rc = audit_append(r->w, r->actor, action, subject, detail);
	else
		json_decref(detail);
	if (rc >= 0)
		rc = store_commit(r->w->store);
	if (rc < 0) {
		store_rollback(r->w->store);
		reply_store_error(r, rc);
		return false;
	}
	return true;
}

void h_admin_whoami(struct req *r)
{
	reply_json(r, 200,
		   json_pack("{s:s,s:s,s:I}", "actor", r->actor, "server_id", r->w->keys.server_id,
			     "server_time", (json_int_t)now_s()));
}

static json_t *token_json(const struct store_rows *rows, int i)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:b}", "id", store_cell(rows, i, 0), "name",
			 store_cell(rows, i, 1), "scopes", store_cell(rows, i, 2), "created",
			 (json_int_t)store_cell_i64(rows, i, 3), "expires",
			 (json_int_t)store_cell_i64(rows, i, 4), "revoked",
			 store_cell_i64(rows, i, 5) != 0);
}

void h_admin_token_list(struct req *r)
{
	struct store_rows rows;

	reply_list(r, "tokens", SQ0(r->w->store, Q_ADMIN_TOKEN_LIST, &rows), &rows, token_json);
}

/* Scopes from a JSON array into "a,b"; false if any is unknown. */
static bool scopes_parse(json_t *arr, char *out, size_t n)
{
	static const char *const known[] = { "read", "write", "enroll", "audit", "admin" };
	size_t i, o = 0;
	json_t *e;

	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 5)
		return false;
	out[0] = '\0';
	json_array_foreach(arr, i, e)
	{
		const char *s = json_string_value(e);
		bool ok = false;

		for (size_t k = 0; s && k < ARRAY_SIZE(known); k++)
			ok |= strcmp(s, known[k]) == 0;
		if (!ok)
			return false;
		o += snprintf(out + o, n - o, "%s%s", i ? "," : "", s);
	}
	return true;
}

void h_admin_token_create(struct req *r)
{
	json_t *j = req_json(r);
	char id[UUID_LEN + 1], token[64], hash[SHA256_HEX_LEN + 1], scopes[64], b1[24], b2[24];
	const char *name = NULL;
	json_int_t ttl;
	int64_t now = now_s();

	if (!j)
		return;
	if (json_unpack(j, "{s:s}", "name", &name) < 0 || !name_valid(name, 64) ||
	    !scopes_parse(json_object_get(j, "scopes"), scopes, sizeof(scopes))) {
		reply_error(r, 400, "bad_request",
			    "need name and scopes (read, write, enroll, audit, admin)");
		goto out;
	}
	if (!opt_int(r, j, "expires_in", 90 * DAY, 60, 730 * DAY, &ttl))
		goto out;
	if (uuid_random(id) < 0 || token_random("pva_", token, sizeof(token)) < 0) {
		reply_error(r, 500, "internal", "no randomness");
		goto out;
	}
	sha256_hex(token, strlen(token), hash);
	if (store_begin(r->w->store) < 0) {
		reply_store_error(r, -EIO);
		goto out;
	}
	if (!write_audited(r,
			   SQ(r->w->store, Q_ADMIN_TOKEN_INSERT, NULL, id, hash, name, scopes,
			      i64s(b1, now), i64s(b2, now + ttl)),
			   "admin_token.create", id,
			   json_pack("{s:s,s:s,s:I}", "name", name, "scopes", scopes, "expires",
				     (json_int_t)(now + ttl))))
		goto out;
	reply_json(r, 201,
		   json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "name", name, "token", token,
			     "scopes", scopes, "expires", (json_int_t)(now + ttl)));
out:
	explicit_bzero(token, sizeof(token));
	json_decref(j);
}

void h_admin_token_revoke(struct req *r)
{
	int rc;

	if (store_begin(r->w->store) < 0) {
		reply_store_error(r, -EIO);
		return;
	}
	rc = SQ(r->w->store, Q_ADMIN_TOKEN_REVOKE, NULL, r->args[0]);
	if (rc == 0) {
		store_rollback(r->w->store);
		reply_error(r, 404, "not_found", "no such admin token");
		return;
	}
	if (write_audited(r, rc, "admin_token.revoke", r->args[0], NULL))
		reply_json(r, 200, json_pack("{s:s,s:b}", "id", r->args[0], "revoked", 1));
}

void h_etoken_create(struct req *r)
{
	json_t *j = req_json(r), *out_tokens = json_array(), *ids = json_array();
	char id[UUID_LEN + 1], token[64], hash[SHA256_HEX_LEN + 1], b1[24], b2[24];
	const char *grp = "default";
	struct store_rows rows;
	json_int_t ttl, count;
	int64_t now = now_s();
	int rc;

	if (!j)
		goto out;
	if (json_unpack(j, "{s?s}", "group", &grp) < 0 || !name_valid(grp, 64)) {
		reply_error(r, 400, "bad_request", "group must be a name");
		goto out;
	}
	if (!opt_int(r, j, "expires_in", DAY, 1, 30 * DAY, &ttl) ||
	    !opt_int(r, j, "count", 1, 1, 100, &count))
		goto out;
	rc = SQ(r->w->store, Q_GROUP_GET, &rows, grp);
	store_rows_free(&rows);
	if (rc <= 0) {
		if (rc == 0)
			reply_error(r, 404, "not_found", "no group %s", grp);
		else
			reply_store_error(r, rc);
		goto out;
	}
	if ((rc = store_begin(r->w->store)) < 0) {
		reply_store_error(r, rc);
		goto out;
	}
	for (json_int_t i = 0; i < count && rc >= 0; i++) {
		if (uuid_random(id) < 0 || token_random("pve_", token, sizeof(token)) < 0) {
			rc = -EIO;
			break;
		}
		sha256_hex(token, strlen(token), hash);
		rc = SQ(r->w->store, Q_ETOKEN_INSERT, NULL, id, hash, grp, i64s(b1, now),
			i64s(b2, now + ttl));
		json_array_append_new(out_tokens,
				      json_pack("{s:s,s:s,s:I}", "id", id, "token", token,
						"expires", (json_int_t)(now + ttl)));
		json_array_append_new(ids, json_string(id));
	}
	if (!write_audited(
		    r, rc, "enroll_token.create", grp,
		    json_pack("{s:O,s:I}", "tokens", ids, "expires", (json_int_t)(now + ttl))))
		goto out;
	reply_json(r, 201,
		   json_pack("{s:s,s:O,s:s}", "group", grp, "tokens", out_tokens, "ca_sha256",
			     r->w->srv->ca.sha256));
out:
	explicit_bzero(token, sizeof(token));
	json_decref(out_tokens);
	json_decref(ids);
	json_decref(j);
}

static json_t *etoken_json(const struct store_rows *rows, int i)
{
	return json_pack("{s:s,s:s,s:I,s:I,s:o,s:s?}", "id", store_cell(rows, i, 0), "group",
			 store_cell(rows, i, 1), "created", (json_int_t)store_cell_i64(rows, i, 2),
			 "expires", (json_int_t)store_cell_i64(rows, i, 3), "used",
			 store_cell_i64(rows, i, 4) ? json_integer(store_cell_i64(rows, i, 4)) :
						      json_null(),
			 "device", store_cell(rows, i, 5));
}

void h_etoken_list(struct req *r)
{
	struct store_rows rows;

	reply_list(r, "tokens", SQ0(r->w->store, Q_ETOKEN_LIST, &rows), &rows, etoken_json);
}

void h_etoken_delete(struct req *r)
{
	int rc;

	if ((rc = store_begin(r->w->store)) < 0) {
		reply_store_error(r, rc);
		return;
	}
	rc = SQ(r->w->store, Q_ETOKEN_DELETE, NULL, r->args[0]);
	if (rc == 0) {
		store_rollback(r->w->store);
		reply_error(r, 404, "not_found", "no unused enrollment token with that id");
		return;
	}
	if (write_audited(r, rc, "enroll_token.delete", r->args[0], NULL))
		reply_json(r, 200, json_pack("{s:s,s:b}", "id", r->args[0], "deleted", 1));
}

static json_t *group_json(const struct store_rows *rows, int i)
{
	json_t *p = json_loads(store_cell(rows, i, 1), 0, NULL);

	return json_pack("{s:s,s:o,s:I}", "name", store_cell(rows, i, 0), "policy",
			 p ? p : json_object(), "created", (json_int_t)store_cell_i64(rows, i, 2));
}

void h_group_list(struct req *r)
{
	struct store_rows rows;

	reply_list(r, "groups", SQ0(r->w->store, Q_GROUP_LIST, &rows), &rows, group_json);
}

void h_group_get(struct req *r)
{
	struct store_rows rows;
	int rc = SQ(r->w->store, Q_GROUP_GET, &rows, r->args[0]);

	if (rc < 0)
		reply_store_error(r, rc);
	else if (rc == 0)
		reply_error(r, 404, "not_found", "no such group");
	else
		reply_json(r, 200, group_json(&rows, 0));
	store_rows_free(&rows);
}

void h_group_create(struct req *r)
{
	json_t *j = req_json(r), *pol;
	const char *name = NULL, *why = NULL;
	char *ptext = NULL, b[24];
	int rc;

	if (!j)
		return;
	pol = json_object_get(j, "policy");
	if (json_unpack(j, "{s:s}", "name", &name) < 0 || !name_valid(name, 64)) {
		reply_error(r, 400, "bad_request", "need a group name ([A-Za-z0-9._-], <= 64)");
		goto out;
	}
	if (pol && !policy_valid(pol, &why)) {
		reply_error(r, 400, "invalid_policy", "%s", why);
		goto out;
	}
	ptext = json_dumps(pol ? pol : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
	if ((rc = store_begin(r->w->store)) < 0) {
		reply_store_error(r, rc);
		goto out;
	}
	rc = SQ(r->w->store, Q_GROUP_INSERT, NULL, name, ptext, i64s(b, now_s()));
	if (rc == 0) {
		store_rollback(r->w->store);
		reply_error(r, 409, "conflict", "group %s exists", name);
		goto out;
	}
	if (write_audited(r, rc, "group.create", name, json_pack("{s:s}", "policy", ptext)))
		reply_json(r, 201, json_pack("{s:s}", "name", name));
out:
	free(ptext);
	json_decref(j);
}

/* PUT .../policy for a group, device or VM: validate, store, audit. */
static void set_policy(struct req *r, enum stmt q, const char *kind)
{
	json_t *j = req_json(r);
	const char *why = NULL;
	char *ptext = NULL, action[32];
	int rc;

	if (!j)
		return;
	if (!policy_valid(j, &why)) {
		reply_error(r, 400, "invalid_policy", "%s", why);
		goto out;
	}
	ptext = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	if ((rc = store_begin(r->w->store)) < 0) {
		reply_store_error(r, rc);
		goto out;
	}
	rc = SQ(r->w->store, q, NULL, r->args[0], ptext);
	if (rc == 0) {
		store_rollback(r->w->store);
		reply_error(r, 404, "not_found", "no such %s", kind);
		goto out;
	}
	snprintf(action, sizeof(action), "%s.policy", kind);
	if (write_audited(r, rc, action, r->args[0], json_pack("{s:s}", "policy", ptext)))
		reply_json(r, 200, json_pack("{s:s,s:O}", "id", r->args[0], "policy", j));
out:
	free(ptext);
	json_decref(j);
}

void h_group_policy(struct req *r)
{
	set_policy(r, Q_GROUP_SET_POLICY, "group");
}

void h_device_policy(struct req *r)
{
	set_policy(r, Q_DEVICE_SET_POLICY, "device");
}

void h_vm_policy(struct req *r)
{
	set_policy(r, Q_VM_SET_POLICY, "vm");
}

void h_device_list(struct req *r)
{
	struct store_rows rows;

	reply_list(r, "devices", SQ0(r->w->store, Q_DEVICE_LIST, &rows), &rows, device_json);
}

void h_device_get(struct req *r)
{
	struct store_rows rows, vms = { 0 };
	json_t *d, *arr;
	int rc = SQ(r->w->store, Q_DEVICE_GET, &rows, r->args[0]);

	if (rc <= 0) {
		if (rc == 0)
			reply_error(r, 404, "not_found", "no such device");
		else
			reply_store_error(r, rc);
		return;
	}
	d = device_json(&rows, 0);
	store_rows_free(&rows);
	rc = SQ(r->w->store, Q_VM_LIST_DEVICE, &vms, r->args[0]);
	arr = json_array();
	for (int i = 0; rc > 0 && i < vms.nrows; i++)
		json_array_append_new(arr, vm_json(&vms, i));
	store_rows_free(&vms);
	json_object_set_new(d, "vms", arr);
	reply_json(r, 200, d);
}

/* Looks up a device's status; replies 404 if absent. */
static bool device_exists(struct req *r, const char *id, char status[16])
{
	struct store_rows rows;
	int rc = uuid_valid(id) ? SQ(r->w->store, Q_DEVICE_GET, &rows, id) : 0;

	if (rc <= 0) {
		if (rc == 0)
			reply_error(r, 404, "not_found", "no such device");
		else
			reply_store_error(r, rc);
		return false;
	}
	snprintf(status, 16, "%s", store_cell(&rows, 0, DEV_STATUS));
	store_rows_free(&rows);
	return true;
}

/* Whether device's effective policy (group and device layers) allows an image. */
static bool image_allowed_for(struct req *r, const char *device, const char *img, const char *ver)
{
	struct store_rows rows;
	json_t *pol = NULL;
	bool ok = false;

	if (SQ(r->w->store, Q_DEVICE_GET, &rows, device) == 1)
		pol = policy_effective(r->w, store_cell(&rows, 0, DEV_GRP),
				       store_cell(&rows, 0, DEV_POLICY), NULL);
	store_rows_free(&rows);
	/* Without a version, only a name-wide entry (or no list) allows it. */
	ok = pol && policy_image_allowed(pol, img, ver);
	json_decref(pol);
	return ok;
}

static void issue(struct req *r, const char *device, const char *vm, enum cmd_type t)
{
	char id[UUID_LEN + 1];
	int rc = cmd_create(r->w, r->actor, device, vm, t, id);

	if (rc < 0)
		reply_store_error(r, rc);
	else
		reply_json(r, 201,
			   json_pack("{s:s,s:s,s:s,s:s?}", "id", id, "type", cmd_type_name(t),
				     "device", device, "vm", vm));
}

void h_device_revoke(struct req *r)
{
	char status[16];

	if (device_exists(r, r->args[0], status))
		issue(r, r->args[0], NULL, CMD_WIPE_DEVICE);
}

void h_device_command(struct req *r)
{
	json_t *j = req_json(r);
	const char *type = NULL, *vm = NULL;
	struct store_rows rows = { 0 };
	char status[16];
	enum cmd_type t;

	if (!j)
		return;
	if (json_unpack(j, "{s:s,s?s}", "type", &type, "vm", &vm) < 0 ||
	    !cmd_type_parse(type, &t) || (cmd_type_needs_vm(t) != (vm != NULL))) {
		reply_error(r, 400, "bad_request",
			    "type lock|unlock|wipe_vm (with vm) or wipe_device|unenroll (without)");
		goto out;
	}
	if (!device_exists(r, r->args[0], status))
		goto out;
	if (strcmp(status, "retired") == 0) {
		reply_error(r, 409, "conflict", "device is retired");
		goto out;
	}
	if (vm && (!uuid_valid(vm) || SQ(r->w->store, Q_VM_GET, &rows, vm) != 1 ||
		   strcmp(store_cell(&rows, 0, VM_DEVICE), r->args[0]) != 0)) {
		reply_error(r, 404, "not_found", "no such VM on this device");
		goto out;
	}
	if (vm && t != CMD_WIPE_VM && strcmp(store_cell(&rows, 0, VM_STATE), "revoked") == 0) {
		reply_error(r, 409, "conflict", "VM is revoked");
		goto out;
	}
	issue(r, r->args[0], vm, t);
out:
	store_rows_free(&rows);
	json_decref(j);
}

void h_vm_list(struct req *r)
{
	struct store_rows rows;
	char dev[64];
	const char *d = req_query(r, "device", dev, sizeof(dev));

	reply_list(r, "vms",
		   d ? SQ(r->w->store, Q_VM_LIST_DEVICE, &rows, d) :
		       SQ0(r->w->store, Q_VM_LIST, &rows),
		   &rows, vm_json);
}

void h_vm_get(struct req *r)
{
	struct store_rows rows;
	int rc = SQ(r->w->store, Q_VM_GET, &rows, r->args[0]);

	if (rc < 0)
		reply_store_error(r, rc);
	else if (rc == 0)
		reply_error(r, 404, "not_found", "no such VM");
	else
		reply_json(r, 200, vm_json(&rows, 0));
	store_rows_free(&rows);
}

void h_vm_create(struct req *r)
{
	json_t *j = req_json(r);
	const char *dev = NULL, *name = NULL, *img = NULL, *ver = NULL;
	char id[UUID_LEN + 1], kid[THP_MAX], kid1[THP_MAX], status[16], b[24], tang[64];
	char *jwk = NULL, *adv = NULL;
	struct store_rows rows = { 0 };
	int rc;

	if (!j)
		return;
	if (json_unpack(j, "{s:s,s:s,s?s,s?s}", "device", &dev, "name", &name, "image", &img,
			"image_version", &ver) < 0 ||
	    !name_valid(name, 64) || (img && !name_valid(img, 64)) || (ver && !img) ||
	    (ver && !name_valid(ver, 64))) {
		reply_error(r, 400, "bad_request",
			    "need device, name; optional image, image_version");
		goto out;
	}
	if (!device_exists(r, dev, status))
		goto out;
	if (strcmp(status, "active") != 0) {
		reply_error(r, 409, "conflict", "device is %s", status);
		goto out;
	}
	if (img && ver && SQ(r->w->store, Q_IMAGE_GET, &rows, img, ver) != 1) {
		reply_error(r, 409, "conflict", "image %s@%s is not published", img, ver);
		goto out;
	}
	store_rows_free(&rows);
	if (img && !image_allowed_for(r, dev, img, ver ? ver : "")) {
		reply_error(r, 409, "image_not_allowed", "the device's policy does not allow %s",
			    img);
		goto out;
	}
	if (uuid_random(id) < 0 || keys_vm_new(&r->w->keys, id, &jwk, &adv, kid, kid1) < 0) {
		reply_error(r, 500, "internal", "cannot create the VM's exchange key");
		goto out;
	}
	if ((rc = store_begin(r->w->store)) < 0) {
		reply_store_error(r, rc);
		goto out;
	}
	rc = SQ(r->w->store, Q_VM_INSERT, NULL, id, dev, name, img, ver, kid, kid1, jwk, adv,
		i64s(b, now_s()));
	if (!write_audited(r, rc, "vm.create", id,
			   json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "device", dev, "name", name, "kid",
				     kid, "image", img, "image_version", ver)))
		goto out;
	snprintf(tang, sizeof(tang), "/tang/%s", id);
	reply_json(r, 201,
		   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "device", dev, "name", name,
			     "kid", kid, "tang_path", tang, "adv_thp", r->w->keys.adv_thp));
out:
	free(jwk);
	free(adv);
	store_rows_free(&rows);
	json_decref(j);
}

void h_vm_revoke(struct req *r)
{
	struct store_rows rows;
	int rc = uuid_valid(r->args[0]) ? SQ(r->w->store, Q_VM_GET, &rows, r->args[0]) : 0;

	if (rc <= 0) {
		if (rc == 0)
			reply_error(r, 404, "not_found", "no such VM");
		else
			reply_store_error(r, rc);
		return;
	}
	issue(r, store_cell(&rows, 0, VM_DEVICE), r->args[0], CMD_WIPE_VM);
	store_rows_free(&rows);
}

void h_cmd_list(struct req *r)
{
	struct store_rows rows;
	char dev[64];
	const char *d = req_query(r, "device", dev, sizeof(dev));

	reply_list(r, "commands",
		   d ? SQ(r->w->store, Q_CMD_LIST_DEVICE, &rows, d) :
		       SQ0(r->w->store, Q_CMD_LIST, &rows),
		   &rows, cmd_json);
}

void h_cmd_get(struct req *r)
{
	struct store_rows rows;
	int rc = SQ(r->w->store, Q_CMD_GET, &rows, r->args[0]);

	if (rc < 0)
		reply_store_error(r, rc);
	else if (rc == 0)
		reply_error(r, 404, "not_found", "no such command");
	else
		reply_json(r, 200, cmd_json(&rows, 0));
	store_rows_free(&rows);
}

static json_t *audit_json(const struct store_rows *rows, int i)
{
	json_t *d = json_loads(store_cell(rows, i, AU_DETAIL), JSON_DECODE_ANY, NULL);

	return json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "seq",
			 (json_int_t)store_cell_i64(rows, i, AU_SEQ), "time",
			 (json_int_t)store_cell_i64(rows, i, AU_TIME), "actor",
			 store_cell(rows, i, AU_ACTOR), "action", store_cell(rows, i, AU_ACTION),
			 "subject", store_cell(rows, i, AU_SUBJECT), "detail",
			 d ? d : json_string(store_cell(rows, i, AU_DETAIL)), "prev",
			 store_cell(rows, i, AU_PREV), "hash", store_cell(rows, i, AU_HASH), "sig",
			 store_cell(rows, i, AU_SIG));
}

void h_audit_list(struct req *r)
{
	char a[24], l[24];
	const char *after = req_query(r, "after", a, sizeof(a));
	const char *limit = req_query(r, "limit", l, sizeof(l));
	long long av = after ? atoll(after) : 0, lv = limit ? atoll(limit) : 1000;
	struct store_rows rows;
	char b1[24], b2[24];

	if (av < 0 || lv < 1 || lv > 1000) {
		reply_error(r, 400, "bad_request", "after >= 0, limit 1..1000");
		return;
	}
	reply_list(r, "entries", SQ(r->w->store, Q_AUDIT_RANGE, &rows, i64s(b1, av), i64s(b2, lv)),
		   &rows, audit_json);
}
