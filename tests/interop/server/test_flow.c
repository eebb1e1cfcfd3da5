// SPDX-License-Identifier: Apache-2.0
/*
 * The device lifecycle over real TLS on loopback, on SQLite or PostgreSQL
 * (argv[1]): enrollment (replay, expiry, bad CSR), mTLS check-ins with
 * signed leases, key release and its refusals (revoked VM, other device's VM,
 * lock, policy), remote commands and acknowledgments, device wipe, restart.
 */
#include <jose/b64.h>
#include <jose/jws.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "pvs_test.h"

static struct pvs srv;

static json_t *lease_for(json_t *checkin, const char *vm)
{
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(checkin, "leases"), i,
			   l) if (strcmp(json_string_value(json_object_get(l, "vm")), vm) ==
				  0) return json_object_get(l, "lease");
	return NULL;
}

static json_t *command_of(json_t *checkin, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(checkin, "commands"), i,
			   c) if (strcmp(json_string_value(json_object_get(c, "type")), type) ==
				  0) return c;
	return NULL;
}

static bool same_point(const json_t *a, const json_t *b)
{
	return a && b && json_equal(json_object_get(a, "x"), json_object_get(b, "x")) &&
	       json_equal(json_object_get(a, "y"), json_object_get(b, "y"));
}

static int audit_count(const char *action, const char *subject)
{
	struct resp r;
	size_t i;
	json_t *e;
	int n = 0;

	admin_req(&srv, "GET", "/v1/admin/audit?after=0&limit=1000", NULL, &r);
	json_array_foreach(
		json_object_get(r.json, "entries"), i,
		e) if (!strcmp(json_string_value(json_object_get(e, "action")), action) &&
		       (!subject ||
			!strcmp(json_string_value(json_object_get(e, "subject")), subject))) n++;
	resp_free(&r);
	return n;
}

static void test_enrollment(char **tok, struct device *a, struct device *b)
{
	struct device x;
	struct resp r;
	char *expired[1];
	char url[256];

	CHECK(device_enroll(&srv, tok[0], a) == 201, "device A enrolls with a one-time token");
	CHECK(strlen(a->id) == 36 && a->lease_key, "enrollment returns device id and lease key");
	CHECK(device_enroll(&srv, tok[0], &x) == 409, "replayed enrollment token refused (409)");
	device_free(&x);
	CHECK(device_enroll(&srv, "pve_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &x) == 403,
	      "unknown enrollment token refused (403)");
	device_free(&x);
	CHECK(make_tokens(&srv, "default", 1, 1, expired) == 0, "short-lived token created");
	sleep(2);
	CHECK(device_enroll(&srv, expired[0], &x) == 403, "expired enrollment token refused (403)");
	device_free(&x);
	free(expired[0]);
	client_init(&x.c, srv.ca);
	snprintf(url, sizeof(url), "%s/v1/enroll", srv.url);
	{
		char body[256];

		snprintf(body, sizeof(body), "{\"token\":\"%s\",\"csr\":\"not a csr\"}", tok[1]);
		client_req(&x.c, "POST", url, body, strlen(body), NULL, &r);
	}
	CHECK(r.status == 400 && !strcmp(resp_error(&r), "invalid_csr"),
	      "garbage CSR refused with invalid_csr (got %ld %s)", r.status, resp_error(&r));
	resp_free(&r);
	client_free(&x.c);
	CHECK(device_enroll(&srv, tok[1], b) == 201,
	      "token survives a refused CSR; device B enrolls");
	CHECK(audit_count("device.enroll", a->id) == 1, "enrollment of A audited");
	CHECK(audit_count("device.enroll_refused", NULL) >= 2, "refused enrollments audited");
}

static void test_checkin(struct device *a, char *vma)
{
	struct resp r;
	struct client anon;
	const char *nonce, *why;
	json_t *pl, *lease, *bad;
	char url[256], old_nonce[64];

	device_checkin(a, srv.url, NULL, &r, &nonce);
	CHECK(r.status == 200 && json_array_size(json_object_get(r.json, "leases")) == 0,
	      "check-in without VMs: 200, no leases (%ld)", r.status);
	CHECK(!strcmp(json_string_value(json_object_get(r.json, "status")), "active"),
	      "device is active");
	resp_free(&r);
	client_init(&anon, srv.ca);
	snprintf(url, sizeof(url), "%s/v1/checkin", srv.url);
	client_req(&anon, "POST", url, "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\"}", 30, NULL, &r);
	CHECK(r.status == 401 && !strcmp(resp_error(&r), "client_certificate_required"),
	      "check-in without client certificate: 401 client_certificate_required");
	resp_free(&r);
	client_free(&anon);

	CHECK(vm_create(&srv, a->id, "work", vma) == 201, "admin assigns VM %s to A", vma);
	device_checkin(a, srv.url, NULL, &r, &nonce);
	snprintf(old_nonce, sizeof(old_nonce), "%s", nonce);
	lease = lease_for(r.json, vma);
	pl = lease_verify(a, lease, vma, nonce, &why);
	CHECK(pl != NULL, "lease for the VM verifies (%s)", pl ? "ok" : why);
	CHECK(json_integer_value(json_object_get(pl, "offline")) == 43200 &&
		      !strcmp(json_string_value(json_object_get(pl, "state")), "active"),
	      "lease carries the default offline lifetime and state active");
	CHECK(labs((long)json_integer_value(json_object_get(pl, "iat")) - (long)time(NULL)) < 5,
	      "lease iat is server time");
	json_decref(pl);
	bad = json_deep_copy(lease);
	{
		json_t *p = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i}", "sub", a->id, "vm", vma,
				      "nonce", nonce, "seq", 999, "iat", 1, "exp", 999999999,
				      "offline", 999999998);
		json_object_set_new(bad, "payload", jose_b64_enc_dump(p));
		json_decref(p);
	}
	a->last_seq = 0;
	CHECK(lease_verify(a, bad, vma, nonce, &why) == NULL && !strcmp(why, "signature"),
	      "a lease with an edited payload fails verification");
	json_decref(bad);
	resp_free(&r);
	device_checkin(a, srv.url, NULL, &r, &nonce);
	lease = lease_for(r.json, vma);
	a->last_seq = 0;
	pl = lease_verify(a, lease, vma, old_nonce, &why);
	CHECK(pl == NULL, "a lease is bound to its check-in's nonce (replay detected: %s)", why);
	json_decref(pl);
	pl = lease_verify(a, lease, vma, nonce, &why);
	CHECK(pl != NULL && json_integer_value(json_object_get(pl, "seq")) == 3,
	      "sequence number counts check-ins (3rd check-in: seq 3)");
	json_decref(pl);
	resp_free(&r);
}

/* The device tells what it runs; admins see it, and only for its own VMs. */
static void test_reports(struct device *a, struct device *b, const char *vma, const char *vmb)
{
	char body[512], url[256], path[128];
	struct resp r;
	json_t *rep;

	snprintf(body, sizeof(body),
		 "{\"nonce\":\"cmVwb3J0cy1ub25jZS0wMDE\",\"vms\":[{\"id\":\"%s\","
		 "\"state\":\"running\"},{\"id\":\"%s\",\"state\":\"stopped\"}]}",
		 vma, vmb);
	snprintf(url, sizeof(url), "%s/v1/checkin", srv.url);
	client_req(&a->c, "POST", url, body, strlen(body), NULL, &r);
	CHECK(r.status == 200, "check-in with a VM report");
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/admin/vms/%s", vma);
	admin_req(&srv, "GET", path, NULL, &r);
	rep = json_object_get(r.json, "reported");
	CHECK(rep && !strcmp(json_string_value(json_object_get(rep, "state")), "running"),
	      "admins see the state A reported for its VM");
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/admin/vms/%s", vmb);
	admin_req(&srv, "GET", path, NULL, &r);
	CHECK(json_is_null(json_object_get(r.json, "reported")),
	      "A's report about B's VM is ignored");
	resp_free(&r);
	(void)b;
}

static void test_renew(struct device *a)
{
	struct client old;
	struct resp r;
	char url[256];
	const char *nonce;

	client_init(&old, srv.ca);
	memcpy(old.cert, a->c.cert, sizeof(old.cert));
	memcpy(old.key, a->c.key, sizeof(old.key));
	old.use_cert = true;
	CHECK(device_renew(a, srv.url) == 200, "A renews its certificate with a new key");
	device_checkin(a, srv.url, NULL, &r, &nonce);
	CHECK(r.status == 200, "the new certificate works");
	resp_free(&r);
	snprintf(url, sizeof(url), "%s/v1/checkin", srv.url);
	client_req(&old, "POST", url, "{\"nonce\":\"aaaaaaaaaaaaaaaaaaaa\"}", 31, NULL, &r);
	CHECK(r.status == 401 && !strcmp(resp_error(&r), "unknown_certificate"),
	      "the replaced certificate is refused (%ld %s)", r.status, resp_error(&r));
	resp_free(&r);
	client_free(&old);
	CHECK(audit_count("device.renew", a->id) == 1, "renewal audited");
}

static void command(const char *dev, const char *type, const char *vm, struct resp *r)
{
	char path[128], body[160];

	snprintf(path, sizeof(path), "/v1/admin/devices/%s/commands", dev);
	snprintf(body, sizeof(body), "{\"type\":\"%s\"%s%s%s}", type, vm ? ",\"vm\":\"" : "",
		 vm ? vm : "", vm ? "\"" : "");
	admin_req(&srv, "POST", path, body, r);
}

static void test_keys(struct device *a, struct device *b, const char *vma, const char *vmb)
{
	json_t *bind_a = NULL, *bind_b = NULL, *k = NULL;
	struct resp r;
	char path[128];

	CHECK(tang_bind(a, srv.url, vma, &bind_a) == 200, "A fetches /adv for its VM and binds");
	CHECK(tang_recover(a, srv.url, vma, bind_a, &k) == 200, "A recovers through /rec");
	CHECK(same_point(k, json_object_get(bind_a, "K")),
	      "recovered key equals the bound key (McCallum-Relyea)");
	json_decref(k);
	CHECK(audit_count("key.release", vma) == 1, "key release audited");

	CHECK(tang_bind(b, srv.url, vmb, &bind_b) == 200, "B binds its own VM");
	CHECK(tang_bind(a, srv.url, vmb, &k) == 404, "A cannot fetch B's VM advertisement");
	CHECK(tang_recover(a, srv.url, vmb, bind_b, &k) == 404,
	      "A cannot recover B's key (404, indistinguishable from no VM)");
	CHECK(audit_count("key.refused", vmb) == 1, "A's attempt on B's VM audited");

	command(a->id, "lock", vma, &r);
	CHECK(r.status == 201, "admin locks A's VM");
	resp_free(&r);
	CHECK(tang_recover(a, srv.url, vma, bind_a, &k) == 403, "/rec refused while locked");
	command(a->id, "unlock", vma, &r);
	resp_free(&r);
	CHECK(tang_recover(a, srv.url, vma, bind_a, &k) == 200, "/rec answers again after unlock");
	json_decref(k);

	snprintf(path, sizeof(path), "/v1/admin/devices/%s/policy", b->id);
	admin_req(&srv, "PUT", path, "{\"key_release\":false}", &r);
	CHECK(r.status == 200, "device policy key_release=false set for B");
	resp_free(&r);
	CHECK(tang_recover(b, srv.url, vmb, bind_b, &k) == 403, "policy forbids B's key release");
	admin_req(&srv, "PUT", path, "{\"key_release\":true}", &r);
	resp_free(&r);
	CHECK(tang_recover(b, srv.url, vmb, bind_b, &k) == 200, "policy allows it again");
	json_decref(k);

	snprintf(path, sizeof(path), "/v1/admin/vms/%s/revoke", vma);
	admin_req(&srv, "POST", path, "{}", &r);
	CHECK(r.status == 201, "admin revokes A's VM (%ld)", r.status);
	resp_free(&r);
	CHECK(tang_recover(a, srv.url, vma, bind_a, &k) == 410,
	      "/rec after revocation refused: 410 vm_revoked");
	CHECK(audit_count("key.refused", vma) >= 2, "refusals after revocation audited");
	snprintf(path, sizeof(path), "/tang/%s/adv", vma);
	CHECK(tang_bind(a, srv.url, vma, &k) == 410, "/adv of a revoked VM is gone (410)");
	json_decref(bind_a);
	json_decref(bind_b);
}

static void test_commands(struct device *a, struct device *b, const char *vma)
{
	struct resp r;
	const char *nonce, *id;
	json_t *c;
	char url[256], ack[256];

	device_checkin(a, srv.url, NULL, &r, &nonce);
	c = command_of(r.json, "wipe_vm");
	CHECK(c && !strcmp(json_string_value(json_object_get(c, "vm")), vma),
	      "check-in delivers the remote wipe of the revoked VM");
	CHECK(lease_for(r.json, vma) == NULL, "no lease for a revoked VM");
	snprintf(url, sizeof(url), "%s/v1/commands/%s/ack", srv.url,
		 c ? json_string_value(json_object_get(c, "id")) : "x");
	resp_free(&r);
	client_req(&a->c, "POST", url, "{\"status\":\"done\",\"detail\":\"wiped\"}", 34, NULL, &r);
	CHECK(r.status == 200, "device acknowledges the wipe (%ld)", r.status);
	resp_free(&r);
	client_req(&a->c, "POST", url, "{\"status\":\"done\"}", 17, NULL, &r);
	CHECK(r.status == 409, "a second acknowledgment is refused (409)");
	resp_free(&r);
	client_req(&b->c, "POST", url, "{\"status\":\"done\"}", 17, NULL, &r);
	CHECK(r.status == 404, "B cannot acknowledge A's command (404)");
	resp_free(&r);
	device_checkin(a, srv.url, NULL, &r, &nonce);
	CHECK(r.status == 200 && command_of(r.json, "wipe_vm") == NULL,
	      "acknowledged command is not delivered again");
	resp_free(&r);

	command(b->id, "wipe_device", NULL, &r);
	CHECK(r.status == 201, "admin orders a remote wipe of device B");
	resp_free(&r);
	device_checkin(b, srv.url, NULL, &r, &nonce);
	c = command_of(r.json, "wipe_device");
	CHECK(c && !strcmp(json_string_value(json_object_get(r.json, "status")), "revoked") &&
		      json_array_size(json_object_get(r.json, "leases")) == 0,
	      "B's check-in: status revoked, wipe_device delivered, no leases");
	{
		/* The wipe is also in the signed device statement, bound to this nonce. */
		json_t *st = json_object_get(r.json, "device"), *hdr, *pl;

		hdr = jose_b64_dec_load(json_object_get(st, "protected"));
		pl = jose_b64_dec_load(json_object_get(st, "payload"));
		CHECK(st && jose_jws_ver(NULL, st, NULL, b->lease_key, false) &&
			      !strcmp(json_string_value(json_object_get(hdr, "typ")),
				      "pocketvm-device+jwt") &&
			      !strcmp(json_string_value(json_object_get(pl, "sub")), b->id) &&
			      !strcmp(json_string_value(json_object_get(pl, "nonce")), nonce) &&
			      !strcmp(json_string_value(json_object_get(pl, "status")),
				      "revoked") &&
			      json_equal(json_object_get(pl, "commands"),
					 json_object_get(r.json, "commands")),
		      "the signed device statement carries status, nonce and the wipe command");
		json_decref(hdr);
		json_decref(pl);
	}
	id = c ? json_string_value(json_object_get(c, "id")) : "x";
	snprintf(ack, sizeof(ack), "[{\"id\":\"%s\",\"status\":\"done\",\"detail\":\"bye\"}]", id);
	resp_free(&r);
	device_checkin(b, srv.url, ack, &r, &nonce);
	CHECK(r.status == 403 && !strcmp(resp_error(&r), "device_retired"),
	      "after acknowledging the wipe in a check-in, B is retired (%ld %s)", r.status,
	      resp_error(&r));
	resp_free(&r);
	CHECK(audit_count("command.ack", b->id) == 1, "wipe acknowledgment audited");
}

int main(int argc, char **argv)
{
	struct device a, b;
	struct pg pg;
	char db[PATH_MAX + 64], vma[64], vmb[64], *tok[4];
	struct resp r;
	const char *nonce;
	int rc = t_setup(argc, argv, &pg, &srv, db, sizeof(db));

	if (rc)
		return rc;
	CHECK(strncmp(srv.admin, "pva_", 4) == 0, "first start prints an initial admin token");
	CHECK(make_tokens(&srv, "default", 4, 3600, tok) == 0, "admin creates enrollment tokens");
	test_enrollment(tok, &a, &b);
	test_checkin(&a, vma);
	test_renew(&a);
	CHECK(vm_create(&srv, b.id, "work", vmb) == 201, "VM assigned to B");
	test_reports(&a, &b, vma, vmb);
	test_keys(&a, &b, vma, vmb);
	test_commands(&a, &b, vma);

	pvs_stop(&srv);
	{
		char state[PATH_MAX];

		snprintf(state, sizeof(state), "%s/state", t_tmpdir());
		CHECK(pvs_start(&srv, db, state, NULL) == 0, "server restarts on the same state");
	}
	CHECK(srv.admin[0] == '\0', "no second initial admin token is printed");
	{
		char old[128];

		/* The token from the first start still works. */
		device_checkin(&a, srv.url, NULL, &r, &nonce);
		CHECK(r.status == 200, "A's certificate still works after restart");
		resp_free(&r);
		snprintf(old, sizeof(old), "%s", srv.admin);
		(void)old;
	}
	pvs_stop(&srv);
	device_free(&a);
	device_free(&b);
	for (int i = 0; i < 4; i++)
		free(tok[i]);
	pg_stop(&pg);
	return t_done();
}
