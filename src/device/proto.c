// SPDX-License-Identifier: Apache-2.0
#include "device/proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <jose/b64.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "device/client.h"
#include "device/jsonx.h"

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		goto out;                           \
	} while (0)

static const char *const cmd_names[] = {
	[CMD_UNKNOWN] = "unknown",	   [CMD_LOCK] = "lock",
	[CMD_UNLOCK] = "unlock",	   [CMD_WIPE_VM] = "wipe_vm",
	[CMD_WIPE_DEVICE] = "wipe_device", [CMD_UNENROLL] = "unenroll",
};

const char *cmd_type_name(enum cmd_type t)
{
	return (size_t)t < ARRAY_SIZE(cmd_names) ? cmd_names[t] : "unknown";
}

void proto_nonce(char out[NONCE_LEN + 1])
{
	uint8_t raw[24];

	RAND_bytes(raw, sizeof(raw));
	jose_b64_enc_buf(raw, sizeof(raw), out, NONCE_LEN);
	out[NONCE_LEN] = '\0';
}

static bool parse_cmd(const json_t *o, struct proto_cmd *c)
{
	char type[16];

	memset(c, 0, sizeof(*c));
	if (!jx_str(o, "id", c->id, sizeof(c->id)) || !is_uuid(c->id) ||
	    !jx_str(o, "type", type, sizeof(type)) || !jx_str_opt(o, "vm", c->vm, sizeof(c->vm)))
		return false;
	for (size_t i = 1; i < ARRAY_SIZE(cmd_names); i++)
		if (strcmp(type, cmd_names[i]) == 0)
			c->type = (enum cmd_type)i;
	/* Unknown types are kept (and refused with a "failed" ack), not fatal. */
	if (c->type == CMD_LOCK || c->type == CMD_UNLOCK || c->type == CMD_WIPE_VM)
		return is_uuid(c->vm);
	return true;
}

static bool parse_vm(const json_t *o, struct proto_vm *v)
{
	const json_t *img = json_object_get(o, "image");

	memset(v, 0, sizeof(*v));
	if (img && !json_is_null(img) &&
	    (!jx_str(img, "name", v->image, sizeof(v->image)) ||
	     !jx_str(img, "version", v->image_version, sizeof(v->image_version)) ||
	     strpbrk(v->image, "/?#%") || strpbrk(v->image_version, "/?#%") || !v->image[0] ||
	     !v->image_version[0]))
		return false;
	return jx_str(o, "id", v->id, sizeof(v->id)) && is_uuid(v->id) &&
	       jx_str_opt(o, "name", v->name, sizeof(v->name)) &&
	       jx_str(o, "state", v->state, sizeof(v->state)) &&
	       jx_str_opt(o, "tang_path", v->tang_path, sizeof(v->tang_path)) &&
	       jx_str_opt(o, "kid", v->kid, sizeof(v->kid));
}

static bool parse_lists(const json_t *root, struct checkin_answer *a, char *err, size_t errlen)
{
	const json_t *l;
	json_t *v;
	size_t i;
	bool ok = false;

	l = json_object_get(root, "vms");
	if (l && (!json_is_array(l) || json_array_size(l) > STATE_MAX_VMS))
		FAIL("check-in: vms is not an array of at most %d", STATE_MAX_VMS);
	json_array_foreach(l, i, v) if (!parse_vm(v, &a->vms[a->n_vms++]))
		FAIL("check-in: vm %zu malformed", i);
	l = json_object_get(root, "leases");
	if (l && (!json_is_array(l) || json_array_size(l) > STATE_MAX_VMS))
		FAIL("check-in: leases is not an array of at most %d", STATE_MAX_VMS);
	json_array_foreach(l, i, v)
	{
		json_t *jws = json_object_get(v, "lease");

		if (!jx_str(v, "vm", a->leases[i].vm, sizeof(a->leases[i].vm)) ||
		    !json_is_object(jws))
			FAIL("check-in: lease %zu malformed", i);
		a->leases[i].jws = json_incref(jws);
		a->n_leases++;
	}
	l = json_object_get(root, "commands");
	if (l && (!json_is_array(l) || json_array_size(l) > PROTO_MAX_CMDS))
		FAIL("check-in: commands is not an array of at most %d", PROTO_MAX_CMDS);
	json_array_foreach(l, i, v) if (!parse_cmd(v, &a->cmds[a->n_cmds++]))
		FAIL("check-in: command %zu malformed", i);
	ok = true;
out:
	return ok;
}

bool checkin_parse(const void *buf, size_t len, struct checkin_answer *a, char *err, size_t errlen)
{
	json_t *root = jx_load(buf, len, CLIENT_MAX_BODY);
	char status[16];
	bool ok = false;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(root))
		FAIL("check-in: answer is not a JSON object");
	if (!jx_str(root, "device_id", a->device_id, sizeof(a->device_id)) ||
	    !jx_str(root, "status", status, sizeof(status)) ||
	    !jx_int(root, "server_time", &a->server_time) || !jx_int(root, "seq", &a->seq) ||
	    !jx_int(root, "checkin_interval", &a->interval))
		FAIL("check-in: answer lacks device_id/status/server_time/seq/checkin_interval");
	if (strcmp(status, "active") != 0 && strcmp(status, "revoked") != 0)
		FAIL("check-in: unknown device status");
	a->revoked = strcmp(status, "revoked") == 0;
	if (a->interval < 1 || a->interval > 86400 || a->server_time <= 0 || a->seq < 0)
		FAIL("check-in: interval, time or seq out of range");
	ok = parse_lists(root, a, err, errlen);
out:
	json_decref(root);
	if (!ok)
		checkin_answer_free(a);
	return ok;
}

void checkin_answer_free(struct checkin_answer *a)
{
	for (size_t i = 0; i < a->n_leases; i++)
		json_decref(a->leases[i].jws);
	memset(a, 0, sizeof(*a));
}

char *checkin_request(const char *nonce, int64_t now, const struct dstate *st,
		      bool (*running)(const char *vm_id, void *arg), void *arg)
{
	json_t *vms = json_array(), *acks = json_array(), *req;
	char *txt;

	for (size_t i = 0; i < st->n_vms; i++)
		json_array_append_new(
			vms, json_pack("{s:s,s:s}", "id", st->vms[i].id, "state",
				       running(st->vms[i].id, arg) ? "running" : "stopped"));
	for (size_t i = 0; i < st->n_acks; i++)
		json_array_append_new(acks,
				      json_pack("{s:s,s:s,s:s}", "id", st->acks[i].id, "status",
						st->acks[i].done ? "done" : "failed", "detail",
						st->acks[i].detail));
	req = json_pack("{s:s,s:I,s:o,s:o}", "nonce", nonce, "time", (json_int_t)now, "vms", vms,
			"acks", acks);
	txt = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return txt;
}

bool enroll_parse(const void *buf, size_t len, struct identity *id, int64_t *server_time, char *err,
		  size_t errlen)
{
	json_t *root = jx_load(buf, len, CLIENT_MAX_BODY), *lk;
	char *pem = NULL;
	const char *cert, *ca;
	bool ok = false;

	if (!json_is_object(root) ||
	    !jx_str(root, "device_id", id->device_id, sizeof(id->device_id)) ||
	    !is_uuid(id->device_id) ||
	    !jx_str(root, "server_id", id->server_id, sizeof(id->server_id)) ||
	    !jx_str_opt(root, "group", id->group, sizeof(id->group)) ||
	    !jx_int(root, "server_time", server_time))
		FAIL("enroll: answer lacks device_id/server_id/server_time");
	cert = json_string_value(json_object_get(root, "certificate"));
	ca = json_string_value(json_object_get(root, "ca_certificate"));
	lk = json_object_get(root, "lease_key");
	if (!cert || !ca || !json_is_object(lk))
		FAIL("enroll: answer lacks certificate/ca_certificate/lease_key");
	X509_free(id->cert);
	X509_free(id->ca);
	id->cert = x509_from_pem(cert);
	id->ca = x509_from_pem(ca);
	if (!id->cert || !id->ca)
		FAIL("enroll: certificate or CA certificate is not PEM");
	json_decref(id->lease_key);
	id->lease_key = json_deep_copy(lk);
	json_object_del(id->lease_key, "d"); /* a public key only, whatever was sent */
	ok = true;
out:
	free(pem);
	json_decref(root);
	return ok;
}

/* The issued certificate must carry our key and chain to the pinned CA. */
static bool cert_ok(struct identity *id)
{
	X509_STORE *s = X509_STORE_new();
	X509_STORE_CTX *v = X509_STORE_CTX_new();
	bool ok = s && v && X509_check_private_key(id->cert, id->key) == 1 &&
		  X509_STORE_add_cert(s, id->ca) && X509_STORE_CTX_init(v, s, id->cert, NULL) &&
		  X509_STORE_CTX_set_purpose(v, X509_PURPOSE_SSL_CLIENT) &&
		  X509_verify_cert(v) == 1;

	X509_STORE_CTX_free(v);
	X509_STORE_free(s);
	return ok;
}

static int enroll_status(const struct http_resp *r, char *err, size_t errlen)
{
	if (r->status == 201)
		return 0;
	snprintf(err, errlen, "enroll: server refused (%ld %s)", r->status, r->error);
	if (r->status == 403 || r->status == 409)
		return -EACCES;
	if (r->status == 429)
		return -EAGAIN;
	return -EPROTO;
}

int proto_enroll(const char *url, const char *token, const uint8_t pin[32], const char *name,
		 struct identity *id, int64_t *server_time, char *err, size_t errlen)
{
	X509 *seen = NULL;
	struct client_tls tls = { .ca_pin = pin, .pinned_ca = &seen };
	struct http_resp resp = { 0 };
	struct utsname u;
	char *csr = NULL, *body = NULL;
	uint8_t h[32];
	json_t *req;
	int r;

	memset(id, 0, sizeof(*id));
	r = identity_new_key(&id->key, &csr);
	if (r < 0)
		FAIL("enroll: cannot generate the device key");
	uname(&u);
	req = json_pack("{s:s,s:s,s:s,s:s}", "token", token, "csr", csr, "name", name, "platform",
			u.machine);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	r = -ENOMEM;
	if (!body)
		goto out;
	r = client_request(url, &tls, "POST", "/v1/enroll", "application/json", body, strlen(body),
			   &resp, err, errlen);
	if (r < 0)
		goto out;
	r = enroll_status(&resp, err, errlen);
	if (r < 0)
		goto out;
	r = -EPROTO;
	if (!enroll_parse(resp.body, resp.len, id, server_time, err, errlen))
		goto out;
	cert_sha256(id->ca, h);
	if (CRYPTO_memcmp(h, pin, 32) != 0) {
		r = -EPERM;
		FAIL("enroll: the CA in the answer is not the pinned CA");
	}
	if (!cert_ok(id))
		FAIL("enroll: issued certificate does not match our key or the CA");
	snprintf(id->url, sizeof(id->url), "%s", url);
	id->enrolled = true;
	r = 0;
out:
	X509_free(seen);
	http_resp_free(&resp);
	free(csr);
	free(body);
	if (r)
		identity_clear(id);
	return r;
}
