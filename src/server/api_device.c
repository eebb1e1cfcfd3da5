// SPDX-License-Identifier: Apache-2.0
/* Device-facing endpoints: enrollment, check-in, acknowledgments, Tang /adv and /rec. */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "server/api.h"

#define MAX_LIST 64

void h_server_info(struct req *r)
{
	struct server *srv = r->w->srv;

	reply_json(r, 200,
		   json_pack("{s:s,s:I,s:O,s:s,s:s,s:s,s:s}", "server_id", r->w->keys.server_id,
			     "server_time", (json_int_t)now_s(), "lease_key", r->w->keys.lease_pub,
			     "adv_thp", r->w->keys.adv_thp, "ca_sha256", srv->ca.sha256,
			     "ca_certificate", srv->ca.cert_pem, "version", "0.1.0"));
}

/* True for an optional short printable string field. */
static bool opt_label(const json_t *j, const char *key, const char **out)
{
	json_t *v = json_object_get(j, key);
	const char *s;

	*out = NULL;
	if (!v)
		return true;
	s = json_string_value(v);
	if (!s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	*out = s;
	return true;
}

static void enroll_refuse(struct req *r, const char *tid, int status, const char *code,
			  const char *msg)
{
	req_penalize(r, 5);
	if (tid && audit_append(r->w, r->actor, "device.enroll_refused", tid,
				json_pack("{s:s,s:s}", "reason", code, "peer", r->peer)) < 0)
		log_warn("enroll: refusal for token %s not audited", tid);
	reply_error(r, status, code, "%s", msg);
}

/* Finds a usable enrollment token; replies (and audits refusals) itself when not. */
static bool enroll_token(struct req *r, const char *token, struct store_rows *rows)
{
	char hash[SHA256_HEX_LEN + 1];
	const char *tid;
	int rc;

	if (strncmp(token, "pve_", 4) != 0 || !b64url_valid(token + 4, 43, 43)) {
		enroll_refuse(r, NULL, 403, "token_invalid", "not an enrollment token");
		return false;
	}
	sha256_hex(token, strlen(token), hash);
	rc = SQ(r->w->store, Q_ETOKEN_BY_HASH, rows, hash);
	if (rc < 0) {
		reply_store_error(r, rc);
		return false;
	}
	if (rows->nrows != 1) {
		enroll_refuse(r, NULL, 403, "token_invalid", "unknown enrollment token");
		return false;
	}
	tid = store_cell(rows, 0, 0);
	if (store_cell_i64(rows, 0, 3) != 0) {
		enroll_refuse(r, tid, 409, "token_used", "enrollment token already used");
		return false;
	}
	if (store_cell_i64(rows, 0, 2) <= now_s()) {
		enroll_refuse(r, tid, 403, "token_expired", "enrollment token expired");
		return false;
	}
	return true;
}

/*
 * Consumes the token and records the device, audited, in one transaction.
 * The single-use check that counts is the conditional UPDATE in here: two
 * enrollments racing with one token (on any instances) cannot both pass it.
 */
static bool enroll_record(struct req *r, const char *tid, const char *grp, const char *dev,
			  const char *name, const char *platform, const char *serial)
{
	struct store *s = r->w->store;
	char b1[24];
	int rc = store_begin(s);

	if (rc >= 0) {
		rc = SQ(s, Q_ETOKEN_CONSUME, NULL, tid, i64s(b1, now_s()), dev);
		if (rc == 0) {
			store_rollback(s);
			enroll_refuse(r, tid, 409, "token_used", "enrollment token already used");
			return false;
		}
	}
	if (rc > 0)
		rc = SQ(s, Q_DEVICE_INSERT, NULL, dev, grp, name, platform, serial, b1);
	if (rc >= 0)
		rc = audit_append(r->w, r->actor, "device.enroll", dev,
				  json_pack("{s:s,s:s,s:s,s:s?,s:s}", "token", tid, "group", grp,
					    "serial", serial, "name", name, "peer", r->peer));
	if (rc >= 0)
		rc = store_commit(s);
	if (rc < 0) {
		store_rollback(s);
		reply_store_error(r, rc);
		return false;
	}
	return true;
}

void h_enroll(struct req *r)
{
	json_t *j = req_json(r);
	const char *token = NULL, *csr = NULL, *name, *platform, *tid, *grp;
	char dev[UUID_LEN + 1], serial[CA_SERIAL_HEX + 1];
	struct store_rows rows = { 0 };
	char *cert = NULL;
	int rc;

	if (!j)
		return;
	if (json_unpack(j, "{s:s,s:s}", "token", &token, "csr", &csr) < 0 ||
	    !opt_label(j, "name", &name) || !opt_label(j, "platform", &platform)) {
		reply_error(r, 400, "bad_request",
			    "need strings token and csr; name/platform <= 64");
		goto out;
	}
	if (!enroll_token(r, token, &rows))
		goto out;
	tid = store_cell(&rows, 0, 0);
	grp = store_cell(&rows, 0, 1);
	if (uuid_random(dev) < 0) {
		reply_error(r, 500, "internal", "no randomness");
		goto out;
	}
	rc = ca_issue_device(&r->w->srv->ca, csr, strlen(csr), dev, &cert, serial);
	if (rc < 0) {
		if (rc == -EINVAL)
			reply_error(r, 400, "invalid_csr",
				    "CSR unreadable, badly signed, or key not EC P-256/384/521 "
				    "or RSA >= 2048");
		else
			reply_error(r, 500, "internal", "cannot issue a certificate");
		goto out;
	}
	if (!enroll_record(r, tid, grp, dev, name, platform, serial))
		goto out;
	log_info("enroll: device %s in group %s", dev, grp);
	reply_json(r, 201,
		   json_pack("{s:s,s:s,s:s,s:O,s:s,s:I,s:s}", "device_id", dev, "certificate", cert,
			     "ca_certificate", r->w->srv->ca.cert_pem, "lease_key",
			     r->w->keys.lease_pub, "server_id", r->w->keys.server_id, "server_time",
			     (json_int_t)now_s(), "group", grp));
out:
	free(cert);
	store_rows_free(&rows);
	json_decref(j);
}

/*
 * A new certificate for an enrolled device (same id) from a fresh CSR, over
 * mTLS with its current certificate. The old certificate stops working at
 * once: requests are matched against the serial recorded here.
 */
void h_renew(struct req *r)
{
	json_t *j = req_json(r);
	const char *csr = NULL;
	char serial[CA_SERIAL_HEX + 1], *cert = NULL;
	int rc;

	if (!j)
		return;
	if (strcmp(r->device_status, "active") != 0) {
		reply_error(r, 403, "device_revoked", "device is revoked");
		goto out;
	}
	if (json_unpack(j, "{s:s}", "csr", &csr) < 0) {
		reply_error(r, 400, "bad_request", "need a csr string");
		goto out;
	}
	rc = ca_issue_device(&r->w->srv->ca, csr, strlen(csr), r->device_id, &cert, serial);
	if (rc < 0) {
		reply_error(r, rc == -EINVAL ? 400 : 500,
			    rc == -EINVAL ? "invalid_csr" : "internal",
			    "cannot issue a certificate for this CSR");
		goto out;
	}
	rc = store_begin(r->w->store);
	if (rc >= 0)
		rc = SQ(r->w->store, Q_DEVICE_SET_SERIAL, NULL, r->device_id, r->device_serial,
			serial);
	if (rc == 0) {
		store_rollback(r->w->store);
		reply_error(r, 409, "conflict", "certificate already renewed");
		goto out;
	}
	if (rc > 0)
		rc = audit_append(
			r->w, r->actor, "device.renew", r->device_id,
			json_pack("{s:s,s:s}", "old_serial", r->device_serial, "serial", serial));
	if (rc >= 0)
		rc = store_commit(r->w->store);
	if (rc < 0) {
		store_rollback(r->w->store);
		reply_store_error(r, rc);
		goto out;
	}
	reply_json(r, 200,
		   json_pack("{s:s,s:s,s:s}", "device_id", r->device_id, "certificate", cert,
			     "ca_certificate", r->w->srv->ca.cert_pem));
out:
	free(cert);
	json_decref(j);
}

/* What the device says it runs, per VM of its own; malformed entries are skipped. */
static int checkin_reports(struct req *r, json_t *vms)
{
	char b[24];
	size_t i;
	json_t *v;

	json_array_foreach(vms, i, v)
	{
		const char *id = NULL, *state = NULL;
		int rc;

		if (json_unpack(v, "{s:s,s:s}", "id", &id, "state", &state) < 0 ||
		    !uuid_valid(id) ||
		    (strcmp(state, "running") && strcmp(state, "stopped") &&
		     strcmp(state, "absent")))
			continue;
		rc = SQ(r->w->store, Q_VM_REPORT, NULL, id, r->device_id, state, i64s(b, now_s()));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Acks inside a check-in: malformed or stale entries are skipped, not fatal. */
static int checkin_acks(struct req *r, json_t *acks)
{
	size_t i;
	json_t *a;

	json_array_foreach(acks, i, a)
	{
		const char *id = NULL, *status = NULL, *detail = NULL;
		int rc;

		if (json_unpack(a, "{s:s,s:s,s?s}", "id", &id, "status", &status, "detail",
				&detail) < 0 ||
		    !uuid_valid(id) || (strcmp(status, "done") && strcmp(status, "failed")) ||
		    (detail && strlen(detail) > 256))
			continue;
		rc = cmd_ack(r->w, r->device_id, id, strcmp(status, "done") == 0, detail);
		if (rc < 0 && rc != -ENOENT && rc != -EALREADY)
			return rc;
	}
	return 0;
}

static json_t *sign_lease(struct req *r, const struct store_rows *vms, int i, json_t *policy,
			  int64_t seq, int64_t now, const char *nonce)
{
	json_int_t offline = json_integer_value(json_object_get(policy, "offline_lifetime"));
	const char *img = store_cell(vms, i, VM_IMAGE_NAME);
	json_t *payload, *jws;

	payload = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:o}", "iss",
			    r->w->keys.server_id, "sub", r->device_id, "vm",
			    store_cell(vms, i, VM_ID), "iat", (json_int_t)now, "exp",
			    (json_int_t)(now + offline), "offline", offline, "seq", (json_int_t)seq,
			    "nonce", nonce, "state", store_cell(vms, i, VM_STATE), "image",
			    img ? json_pack("{s:s,s:s?}", "name", img, "version",
					    store_cell(vms, i, VM_IMAGE_VERSION)) :
				  json_null());
	if (!payload)
		return NULL;
	jws = keys_sign(&r->w->keys, payload, "pocketvm-lease+jwt");
	json_decref(payload);
	return jws;
}

/*
 * The signed device statement of a check-in: server time, sequence number,
 * status and the commands delivered, bound to the request's nonce. A device
 * gets signed time even without VMs, and can hold commands to the server's
 * signature, not only to the TLS channel.
 */
static json_t *device_statement(struct req *r, const char *status, int64_t seq, int64_t now,
				const char *nonce, json_t *commands)
{
	json_t *payload, *jws;

	payload = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:O}", "iss", r->w->keys.server_id, "sub",
			    r->device_id, "iat", (json_int_t)now, "seq", (json_int_t)seq, "nonce",
			    nonce, "status", status, "commands", commands);
	if (!payload)
		return NULL;
	jws = keys_sign(&r->w->keys, payload, "pocketvm-device+jwt");
	json_decref(payload);
	return jws;
}

/* Builds the check-in answer after the transaction: leases signed outside the lock. */
static json_t *checkin_answer(struct req *r, const char *status, int64_t seq, const char *dpol,
			      const struct store_rows *vms, const struct store_rows *cmds,
			      const char *nonce)
{
	json_t *out_vms = json_array(), *leases = json_array(), *commands = json_array();
	json_t *base = policy_base(r->w, r->device_grp);
	json_t *devpol = base ? policy_layer(base, dpol, NULL) : NULL, *ans = NULL;
	json_t *statement;
	int64_t now = now_s();
	bool active = strcmp(status, "active") == 0;

	if (!devpol)
		goto out;

	for (int i = 0; i < vms->nrows; i++) {
		const char *state = store_cell(vms, i, VM_STATE);
		json_t *vj = vm_json(vms, i), *pol, *lease;

		json_object_del(vj, "device");
		json_object_del(vj, "policy");
		json_object_del(vj, "created");
		json_object_del(vj, "reported");
		json_array_append_new(out_vms, vj);
		if (!active || strcmp(state, "revoked") == 0)
			continue;
		pol = policy_layer(base, dpol, store_cell(vms, i, VM_POLICY));
		lease = pol ? sign_lease(r, vms, i, pol, seq, now, nonce) : NULL;
		json_decref(pol);
		/* A lease that cannot be signed fails the whole answer, never silently. */
		if (!lease || json_array_append_new(leases, json_pack("{s:s,s:o}", "vm",
								      store_cell(vms, i, VM_ID),
								      "lease", lease)) < 0)
			goto out;
	}
	for (int i = 0; i < cmds->nrows; i++)
		json_array_append_new(commands,
				      json_pack("{s:s,s:s,s:s?,s:I}", "id", store_cell(cmds, i, 0),
						"type", store_cell(cmds, i, 1), "vm",
						store_cell(cmds, i, 2), "created",
						(json_int_t)store_cell_i64(cmds, i, 3)));
	statement = device_statement(r, status, seq, now, nonce, commands);
	if (!statement)
		goto out;
	ans = json_pack("{s:s,s:s,s:I,s:I,s:O,s:O,s:O,s:O,s:o}", "device_id", r->device_id,
			"status", status, "server_time", (json_int_t)now, "seq", (json_int_t)seq,
			"checkin_interval", json_object_get(devpol, "checkin_interval"), "vms",
			out_vms, "leases", leases, "commands", commands, "device", statement);
out:
	json_decref(out_vms);
	json_decref(leases);
	json_decref(commands);
	json_decref(devpol);
	json_decref(base);
	return ans;
}

void h_checkin(struct req *r)
{
	json_t *j = req_json(r), *vms = NULL, *acks = NULL, *ans;
	struct store_rows dev = { 0 }, vmrows = { 0 }, cmds = { 0 };
	struct store *s = r->w->store;
	const char *nonce = NULL;
	json_int_t t = 0;
	char b1[24], status[16], *dpol = NULL;
	int64_t seq;
	int rc;

	if (!j)
		return;
	if (json_unpack(j, "{s:s,s?I,s?o,s?o}", "nonce", &nonce, "time", &t, "vms", &vms, "acks",
			&acks) < 0 ||
	    !b64url_valid(nonce, 16, 64) || (vms && !json_is_array(vms)) ||
	    (acks && !json_is_array(acks)) || json_array_size(vms) > MAX_LIST ||
	    json_array_size(acks) > MAX_LIST) {
		reply_error(r, 400, "bad_request",
			    "need nonce (16-64 base64url chars); vms/acks arrays of <= %d",
			    MAX_LIST);
		goto out;
	}
	rc = store_begin(s);
	if (rc < 0)
		goto fail;
	rc = acks ? checkin_acks(r, acks) : 0;
	if (rc >= 0 && vms)
		rc = checkin_reports(r, vms);
	if (rc >= 0)
		rc = SQ(s, Q_DEVICE_CHECKIN, &dev, r->device_id, i64s(b1, now_s()));
	if (rc < 1)
		goto fail_tx;
	/* RETURNING seq, status, policy, grp: the state after this check-in's acks. */
	seq = store_cell_i64(&dev, 0, 0);
	snprintf(status, sizeof(status), "%s", store_cell(&dev, 0, 1));
	dpol = strdup(store_cell(&dev, 0, 2));
	rc = SQ(s, Q_VM_LIST_DEVICE, &vmrows, r->device_id);
	if (rc >= 0)
		rc = SQ(s, Q_CMD_PENDING, &cmds, r->device_id);
	if (rc > 0)
		rc = SQ(s, Q_CMD_MARK_DELIVERED, NULL, r->device_id, b1);
	if (rc >= 0)
		rc = store_commit(s);
	if (rc < 0)
		goto fail;
	if (strcmp(status, "retired") == 0) {
		reply_error(r, 403, "device_retired", "device acknowledged a wipe or unenrollment");
		goto out;
	}
	ans = checkin_answer(r, status, seq, dpol, &vmrows, &cmds, nonce);
	if (!ans)
		reply_error(r, 500, "internal", "cannot sign leases");
	else
		reply_json(r, 200, ans);
	goto out;
fail_tx:
	store_rollback(s);
	if (rc == 0)
		rc = -ENOENT;
fail:
	reply_store_error(r, rc);
out:
	free(dpol);
	store_rows_free(&dev);
	store_rows_free(&vmrows);
	store_rows_free(&cmds);
	json_decref(j);
}

void h_ack(struct req *r)
{
	json_t *j = req_json(r);
	const char *status = NULL, *detail = NULL;
	int rc;

	if (!j)
		return;
	if (!uuid_valid(r->args[0])) {
		reply_error(r, 404, "not_found", "no such command");
		goto out;
	}
	if (json_unpack(j, "{s:s,s?s}", "status", &status, "detail", &detail) < 0 ||
	    (strcmp(status, "done") && strcmp(status, "failed")) ||
	    (detail && strlen(detail) > 256)) {
		reply_error(r, 400, "bad_request", "need status done|failed, detail <= 256 chars");
		goto out;
	}
	rc = store_begin(r->w->store);
	if (rc >= 0)
		rc = cmd_ack(r->w, r->device_id, r->args[0], strcmp(status, "done") == 0, detail);
	if (rc >= 0)
		rc = store_commit(r->w->store);
	else
		store_rollback(r->w->store);
	if (rc == -ENOENT)
		reply_error(r, 404, "not_found", "no such command for this device");
	else if (rc == -EALREADY)
		reply_error(r, 409, "already_acknowledged", "command already acknowledged");
	else if (rc < 0)
		reply_store_error(r, rc);
	else
		reply_json(r, 200, json_pack("{s:s,s:s}", "id", r->args[0], "status", status));
out:
	json_decref(j);
}

/* Loads the VM row for Tang requests; replies 404 when it is not this device's. */
static bool tang_vm(struct req *r, const char *vm, struct store_rows *rows)
{
	int rc;

	memset(rows, 0, sizeof(*rows));
	if (!uuid_valid(vm)) {
		reply_error(r, 404, "not_found", "no such VM");
		return false;
	}
	rc = SQ(r->w->store, Q_VM_KEY, rows, vm);
	if (rc < 0) {
		reply_store_error(r, rc);
		return false;
	}
	if (rows->nrows != 1 || strcmp(store_cell(rows, 0, 0), r->device_id) != 0) {
		store_rows_free(rows);
		reply_error(r, 404, "not_found", "no such VM");
		return false;
	}
	return true;
}

void h_adv(struct req *r)
{
	struct store_rows rows;
	const char *adv, *thp = r->args[1];

	if (strcmp(r->device_status, "active") != 0) {
		reply_error(r, 403, "device_revoked", "device is revoked");
		return;
	}
	if (!tang_vm(r, r->args[0], &rows))
		return;
	adv = store_cell(&rows, 0, 3);
	if (thp && strcmp(thp, r->w->keys.adv_thp) && strcmp(thp, r->w->keys.adv_thp_s1))
		reply_error(r, 404, "not_found", "no signing key with that thumbprint");
	else if (!adv)
		reply_error(r, 410, "vm_revoked", "this VM's key was deleted");
	else
		reply_raw(r, 200, "application/jose+json", adv, strlen(adv));
	store_rows_free(&rows);
}

/* Audits a refusal and replies with it. */
static void rec_refuse(struct req *r, const char *vm, int status, const char *code, const char *msg)
{
	int rc = audit_append(
		r->w, r->actor, "key.refused", vm,
		json_pack("{s:s,s:s,s:s}", "reason", code, "peer", r->peer, "path", r->path));

	if (rc < 0)
		reply_store_error(r, rc);
	else
		reply_error(r, status, code, "%s", msg);
}

static void rec_for(struct req *r, const char *vm, const char *kid)
{
	struct store_rows rows = { 0 };
	const char *why = NULL, *jwk, *pol_text, *vkid;
	json_t *req = NULL, *rep = NULL, *pol = NULL;
	char *text = NULL;
	int rc;

	if (!uuid_valid(vm) || SQ(r->w->store, Q_VM_KEY, &rows, vm) < 0 || rows.nrows != 1 ||
	    strcmp(store_cell(&rows, 0, 0), r->device_id) != 0) {
		rec_refuse(r, vm, 404, "not_found", "no such VM for this device");
		goto out;
	}
	jwk = store_cell(&rows, 0, 2);
	vkid = store_cell(&rows, 0, 4);
	pol_text = store_cell(&rows, 0, 5);
	if (strcmp(r->device_status, "active") != 0) {
		rec_refuse(r, vm, 403, "device_revoked", "device is revoked");
		goto out;
	}
	if (!jwk || strcmp(store_cell(&rows, 0, 1), "revoked") == 0) {
		rec_refuse(r, vm, 410, "vm_revoked", "this VM's key was deleted");
		goto out;
	}
	if (kid && !(vkid && strcmp(kid, vkid) == 0) &&
	    !(store_cell(&rows, 0, 6) && strcmp(kid, store_cell(&rows, 0, 6)) == 0)) {
		rec_refuse(r, vm, 404, "not_found", "no exchange key with that id for this VM");
		goto out;
	}
	if (strcmp(store_cell(&rows, 0, 1), "locked") == 0) {
		rec_refuse(r, vm, 403, "vm_locked", "VM is locked");
		goto out;
	}
	pol = policy_effective(r->w, r->device_grp, r->device_policy, pol_text);
	if (!json_is_true(json_object_get(pol, "key_release"))) {
		rec_refuse(r, vm, 403, "policy_denied", "policy forbids key release");
		goto out;
	}
	req = json_parse_untrusted(r->body, r->body_len, MAX_JSON_DEPTH, &why);
	rep = req ? keys_recover_sealed(&r->w->keys, vm, jwk, req, &why) : NULL;
	text = rep ? json_dumps(rep, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (!text && why && strcmp(why, "internal") == 0) {
		reply_error(r, 500, "internal", "cannot use this VM's key");
		goto out;
	}
	if (!text) {
		rec_refuse(r, vm, 400, "bad_jwk", "request is not an acceptable EC JWK");
		goto out;
	}
	rc = audit_append(r->w, r->actor, "key.release", vm,
			  json_pack("{s:s,s:s}", "kid", vkid, "peer", r->peer));
	if (rc < 0)
		reply_store_error(r, rc);
	else
		reply_raw(r, 200, "application/jwk+json", text, strlen(text));
out:
	free(text);
	json_decref(req);
	json_decref(rep);
	json_decref(pol);
	store_rows_free(&rows);
}

void h_rec(struct req *r)
{
	rec_for(r, r->args[0], r->args[1]);
}

void h_rec_kid(struct req *r)
{
	struct store_rows rows = { 0 };
	int rc;

	if (!b64url_valid(r->args[0], 16, THP_MAX - 1)) {
		rec_refuse(r, "-", 404, "not_found", "no such key");
		return;
	}
	rc = SQ(r->w->store, Q_VM_BY_KID, &rows, r->args[0]);
	if (rc < 0)
		reply_store_error(r, rc);
	else if (rows.nrows != 1)
		rec_refuse(r, "-", 404, "not_found", "no such key");
	else
		rec_for(r, store_cell(&rows, 0, 0), r->args[0]);
	store_rows_free(&rows);
}
