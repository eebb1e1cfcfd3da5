// SPDX-License-Identifier: Apache-2.0
#include "device/lease.h"

#include <stdio.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jws.h>

#include "device/jsonx.h"

#define LEASE_MAX_PART 8192

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		goto out;                           \
	} while (0)

/* Decodes a base64url member into JSON, refusing oversized input. */
static json_t *b64_json(const json_t *jws, const char *key)
{
	const json_t *v = json_object_get(jws, key);

	if (!json_is_string(v) || json_string_length(v) > LEASE_MAX_PART)
		return NULL;
	return jose_b64_dec_load(v);
}

static bool key_ok(const json_t *k)
{
	const char *kty = json_string_value(json_object_get(k, "kty"));
	const char *crv = json_string_value(json_object_get(k, "crv"));

	return kty && crv && strcmp(kty, "EC") == 0 && strcmp(crv, "P-256") == 0 &&
	       !json_object_get(k, "d");
}

static bool header_ok(const json_t *jws, const char *want_typ, char *err, size_t errlen)
{
	json_t *hdr = b64_json(jws, "protected");
	const char *alg, *typ;
	bool ok = false;

	if (!json_is_object(hdr))
		FAIL("lease: protected header is not base64url JSON");
	alg = json_string_value(json_object_get(hdr, "alg"));
	typ = json_string_value(json_object_get(hdr, "typ"));
	if (!alg || strcmp(alg, "ES256") != 0)
		FAIL("lease: alg is not ES256");
	if (!typ || strcmp(typ, want_typ) != 0)
		FAIL("lease: typ is not %s", want_typ);
	if (json_object_get(jws, "header") || json_object_get(jws, "signatures"))
		FAIL("lease: not a single flattened signature");
	ok = true;
out:
	json_decref(hdr);
	return ok;
}

static bool payload_ok(const json_t *p, const struct lease_expect *ex, struct lease_info *out,
		       char *err, size_t errlen)
{
	char sub[ID_LEN + 1], vm[ID_LEN + 1], nonce[128], state[16];
	bool ok = false;

	if (!jx_str(p, "sub", sub, sizeof(sub)) || !jx_str(p, "vm", vm, sizeof(vm)) ||
	    !jx_str(p, "nonce", nonce, sizeof(nonce)) ||
	    !jx_str(p, "state", state, sizeof(state)) || !jx_int(p, "iat", &out->iat) ||
	    !jx_int(p, "exp", &out->exp) || !jx_int(p, "offline", &out->offline) ||
	    !jx_int(p, "seq", &out->seq))
		FAIL("lease: payload lacks or mistypes sub/vm/nonce/state/iat/exp/offline/seq");
	if (strcmp(sub, ex->device_id) != 0)
		FAIL("lease: issued to another device");
	if (strcmp(vm, ex->vm_id) != 0)
		FAIL("lease: issued for another VM");
	if (strcmp(nonce, ex->nonce) != 0)
		FAIL("lease: nonce does not match this check-in (replayed answer)");
	if (out->seq <= ex->prev_seq)
		FAIL("lease: seq %lld not above %lld (replayed answer)", (long long)out->seq,
		     (long long)ex->prev_seq);
	if (out->iat <= 0 || out->offline < 0 || out->exp != out->iat + out->offline)
		FAIL("lease: inconsistent iat/exp/offline");
	if (strcmp(state, "active") == 0)
		out->locked = false;
	else if (strcmp(state, "locked") == 0)
		out->locked = true;
	else
		FAIL("lease: unknown state");
	ok = true;
out:
	return ok;
}

bool lease_verify(const json_t *jws, const json_t *lease_key, const struct lease_expect *ex,
		  struct lease_info *out, char *err, size_t errlen)
{
	json_t *payload = NULL;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(jws) || !key_ok(lease_key))
		FAIL("lease: not a JWS object, or no usable lease key");
	if (!header_ok(jws, "pocketvm-lease+jwt", err, errlen))
		goto out;
	if (!jose_jws_ver(NULL, jws, NULL, lease_key, false))
		FAIL("lease: signature does not verify with the lease key");
	payload = b64_json(jws, "payload");
	if (!json_is_object(payload))
		FAIL("lease: payload is not base64url JSON");
	ok = payload_ok(payload, ex, out, err, errlen);
out:
	json_decref(payload);
	out->valid = ok;
	if (!ok)
		memset(out, 0, sizeof(*out));
	return ok;
}

const char *const manifest_file_names[MANIFEST_NFILES] = { "kernel", "initrd", "disk" };

static bool manifest_files(const json_t *files, struct manifest *m)
{
	bool any = false;

	for (int i = 0; i < MANIFEST_NFILES; i++) {
		const json_t *f = json_object_get(files, manifest_file_names[i]);
		int64_t size;

		if (!f)
			continue;
		if (!jx_int(f, "size", &size) || size < 0 || (uint64_t)size > MANIFEST_MAX_FILE ||
		    !jx_str(f, "sha256", m->files[i].sha256, sizeof(m->files[i].sha256)) ||
		    strlen(m->files[i].sha256) != 64 ||
		    strspn(m->files[i].sha256, "0123456789abcdef") != 64)
			return false;
		m->files[i].present = true;
		m->files[i].size = (uint64_t)size;
		any = true;
	}
	return any;
}

bool manifest_verify(const json_t *jws, const json_t *lease_key, const char *name,
		     const char *version, struct manifest *out, char *err, size_t errlen)
{
	json_t *payload = NULL;
	char n[128], v[128];
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(jws) || !key_ok(lease_key))
		FAIL("manifest: not a JWS object, or no usable lease key");
	if (!header_ok(jws, "pocketvm-manifest+jwt", err, errlen))
		goto out;
	if (!jose_jws_ver(NULL, jws, NULL, lease_key, false))
		FAIL("manifest: signature does not verify with the lease key");
	payload = b64_json(jws, "payload");
	if (!json_is_object(payload) || !jx_str(payload, "name", n, sizeof(n)) ||
	    !jx_str(payload, "version", v, sizeof(v)))
		FAIL("manifest: payload lacks name/version");
	if (strcmp(n, name) != 0 || strcmp(v, version) != 0)
		FAIL("manifest: for %s %s, not %s %s", n, v, name, version);
	if (!manifest_files(json_object_get(payload, "files"), out))
		FAIL("manifest: files missing or malformed");
	ok = true;
out:
	json_decref(payload);
	return ok;
}
