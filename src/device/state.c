// SPDX-License-Identifier: Apache-2.0
#include "device/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "device/fsutil.h"
#include "device/jsonx.h"

#define MAGIC "PVMSTATE1 "
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define HEADER_LEN (MAGIC_LEN + 64 + 1)

static const char *const op_names[] = {
	[JOURNAL_WIPE_VM] = "wipe_vm",
	[JOURNAL_WIPE_DEVICE] = "wipe_device",
	[JOURNAL_UNENROLL] = "unenroll",
};

bool is_uuid(const char *s)
{
	static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	for (size_t i = 0; i < sizeof(pattern); i++) {
		char c = s[i];

		if (pattern[i] == '\0')
			return c == '\0';
		if (pattern[i] == '-' ? c != '-' :
					!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return false;
}

static void mac(const uint8_t key[STATE_KEY_LEN], const void *buf, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, STATE_KEY_LEN, buf, len, out, &n);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* uppercase is not what state_format writes */
}

/* 64 lowercase hex digits at p (not NUL-terminated) into out. */
static bool parse_hex32(const char *p, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		goto out;                           \
	} while (0)

static bool parse_vm(const json_t *o, struct vm_rec *vm)
{
	const json_t *l = json_object_get(o, "lease");

	memset(vm, 0, sizeof(*vm));
	if (!jx_str(o, "id", vm->id, sizeof(vm->id)) || !is_uuid(vm->id) ||
	    !jx_str_opt(o, "name", vm->name, sizeof(vm->name)) ||
	    !jx_str_opt(o, "state", vm->state, sizeof(vm->state)) ||
	    !jx_str_opt(o, "kid", vm->kid, sizeof(vm->kid)))
		return false;
	if (!l || json_is_null(l))
		return true;
	vm->lease.valid = true;
	vm->lease.locked = json_is_true(json_object_get(l, "locked"));
	return jx_int(l, "iat", &vm->lease.iat) && jx_int(l, "exp", &vm->lease.exp) &&
	       jx_int(l, "offline", &vm->lease.offline) && jx_int(l, "seq", &vm->lease.seq) &&
	       vm->lease.exp >= vm->lease.iat;
}

static bool parse_journal(const json_t *o, struct journal_ent *e)
{
	char op[16];

	memset(e, 0, sizeof(*e));
	if (!jx_str(o, "op", op, sizeof(op)) || !jx_str_opt(o, "vm", e->vm, sizeof(e->vm)) ||
	    !jx_str_opt(o, "cmd", e->cmd, sizeof(e->cmd)) ||
	    !jx_str_opt(o, "reason", e->reason, sizeof(e->reason)))
		return false;
	for (size_t i = 1; i < ARRAY_SIZE(op_names); i++)
		if (strcmp(op, op_names[i]) == 0)
			e->op = (enum journal_op)i;
	if (!e->op || (e->op == JOURNAL_WIPE_VM && !is_uuid(e->vm)))
		return false;
	return e->cmd[0] == '\0' || is_uuid(e->cmd);
}

static bool parse_ack(const json_t *o, struct pending_ack *a)
{
	memset(a, 0, sizeof(*a));
	a->done = json_is_true(json_object_get(o, "done"));
	return jx_str(o, "id", a->id, sizeof(a->id)) && is_uuid(a->id) &&
	       jx_str_opt(o, "detail", a->detail, sizeof(a->detail));
}

static bool parse_body(const json_t *root, struct dstate *st, char *err, size_t errlen)
{
	const json_t *c = json_object_get(root, "clock"), *a;
	int64_t version = 0;
	size_t i;
	json_t *v;
	bool ok = false;

	if (!jx_int(root, "version", &version) || version != 1)
		FAIL("state: unsupported version");
	if (!json_is_object(c) || !jx_int(c, "hwm", &st->clock.hwm) ||
	    !jx_str(c, "boot_id", st->clock.boot_id, sizeof(st->clock.boot_id)) ||
	    !jx_int(c, "anchor_time", &st->clock.anchor_time) ||
	    !jx_int(c, "anchor_boot_ns", &st->clock.anchor_boot_ns))
		FAIL("state: bad clock record");
	if (!jx_int(root, "seq", &st->seq) || st->seq < 0 ||
	    !jx_str_opt(root, "device_id", st->device_id, sizeof(st->device_id)))
		FAIL("state: bad seq or device id");
	a = json_object_get(root, "vms");
	if (!json_is_array(a) || json_array_size(a) > STATE_MAX_VMS)
		FAIL("state: bad vms list");
	json_array_foreach(a, i, v) if (!parse_vm(v, &st->vms[st->n_vms++]))
		FAIL("state: bad vm record %zu", i);
	a = json_object_get(root, "journal");
	if (!json_is_array(a) || json_array_size(a) > STATE_MAX_JOURNAL)
		FAIL("state: bad journal");
	json_array_foreach(a, i, v) if (!parse_journal(v, &st->journal[st->n_journal++]))
		FAIL("state: bad journal entry %zu", i);
	a = json_object_get(root, "acks");
	if (!json_is_array(a) || json_array_size(a) > STATE_MAX_ACKS)
		FAIL("state: bad acks list");
	json_array_foreach(a, i, v) if (!parse_ack(v, &st->acks[st->n_acks++]))
		FAIL("state: bad ack %zu", i);
	ok = true;
out:
	return ok;
}

bool state_parse(const void *buf, size_t len, const uint8_t key[STATE_KEY_LEN], struct dstate *out,
		 char *err, size_t errlen)
{
	const char *p = buf;
	uint8_t want[32], got[32];
	json_t *root = NULL;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (len > STATE_MAX_SIZE)
		FAIL("state: file larger than %d bytes", STATE_MAX_SIZE);
	if (len < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0 || p[HEADER_LEN - 1] != '\n' ||
	    !parse_hex32(p + MAGIC_LEN, want))
		FAIL("state: not a pocketvmd state file");
	mac(key, p + HEADER_LEN, len - HEADER_LEN, got);
	if (CRYPTO_memcmp(want, got, sizeof(got)) != 0)
		FAIL("state: MAC mismatch (file altered or written with another key)");
	root = jx_load(p + HEADER_LEN, len - HEADER_LEN, STATE_MAX_SIZE);
	if (!json_is_object(root))
		FAIL("state: body is not a JSON object");
	ok = parse_body(root, out, err, errlen);
out:
	json_decref(root);
	if (!ok)
		memset(out, 0, sizeof(*out));
	return ok;
}

static json_t *format_vm(const struct vm_rec *vm)
{
	json_t *l = json_null();

	if (vm->lease.valid)
		l = json_pack("{s:I,s:I,s:I,s:I,s:b}", "iat", (json_int_t)vm->lease.iat, "exp",
			      (json_int_t)vm->lease.exp, "offline", (json_int_t)vm->lease.offline,
			      "seq", (json_int_t)vm->lease.seq, "locked", vm->lease.locked);
	return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", vm->id, "name", vm->name, "state",
			 vm->state, "kid", vm->kid, "lease", l);
}

static json_t *format_root(const struct dstate *st)
{
	json_t *vms = json_array(), *jr = json_array(), *acks = json_array();

	for (size_t i = 0; i < st->n_vms; i++)
		json_array_append_new(vms, format_vm(&st->vms[i]));
	for (size_t i = 0; i < st->n_journal; i++) {
		const struct journal_ent *e = &st->journal[i];

		json_array_append_new(jr,
				      json_pack("{s:s,s:s,s:s,s:s}", "op", op_names[e->op], "vm",
						e->vm, "cmd", e->cmd, "reason", e->reason));
	}
	for (size_t i = 0; i < st->n_acks; i++)
		json_array_append_new(acks,
				      json_pack("{s:s,s:b,s:s}", "id", st->acks[i].id, "done",
						st->acks[i].done, "detail", st->acks[i].detail));
	return json_pack("{s:i,s:{s:I,s:s,s:I,s:I},s:I,s:s,s:o,s:o,s:o}", "version", 1, "clock",
			 "hwm", (json_int_t)st->clock.hwm, "boot_id", st->clock.boot_id,
			 "anchor_time", (json_int_t)st->clock.anchor_time, "anchor_boot_ns",
			 (json_int_t)st->clock.anchor_boot_ns, "seq", (json_int_t)st->seq,
			 "device_id", st->device_id, "vms", vms, "journal", jr, "acks", acks);
}

int state_format(const struct dstate *st, const uint8_t key[STATE_KEY_LEN], char **out, size_t *len)
{
	json_t *root = format_root(st);
	char *body = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint8_t m[32];
	size_t blen;
	char *buf;

	json_decref(root);
	if (!body)
		return -ENOMEM;
	blen = strlen(body);
	buf = malloc(HEADER_LEN + blen + 1);
	if (!buf) {
		free(body);
		return -ENOMEM;
	}
	mac(key, body, blen, m);
	memcpy(buf, MAGIC, MAGIC_LEN);
	for (int i = 0; i < 32; i++)
		snprintf(buf + MAGIC_LEN + 2 * i, 3, "%02x", m[i]);
	buf[HEADER_LEN - 1] = '\n';
	memcpy(buf + HEADER_LEN, body, blen + 1);
	free(body);
	*out = buf;
	*len = HEADER_LEN + blen;
	return 0;
}

int state_load(const char *path, const uint8_t key[STATE_KEY_LEN], struct dstate *out, char *err,
	       size_t errlen)
{
	char *buf;
	size_t len;
	int r = read_file(path, STATE_MAX_SIZE, &buf, &len);

	if (r < 0) {
		snprintf(err, errlen, "state: cannot read %s: %s", path, strerror(-r));
		return r == -EFBIG ? -EBADMSG : r;
	}
	if (!state_parse(buf, len, key, out, err, errlen))
		r = -EBADMSG;
	free(buf);
	return r;
}

int state_save(const char *path, const uint8_t key[STATE_KEY_LEN], const struct dstate *st)
{
	char *buf;
	size_t len;
	int r = state_format(st, key, &buf, &len);

	if (r < 0)
		return r;
	r = write_file_atomic(path, buf, len, 0600);
	free(buf);
	return r;
}

struct vm_rec *state_vm(struct dstate *st, const char *id)
{
	for (size_t i = 0; i < st->n_vms; i++)
		if (strcmp(st->vms[i].id, id) == 0)
			return &st->vms[i];
	return NULL;
}

struct vm_rec *state_vm_add(struct dstate *st, const char *id)
{
	struct vm_rec *vm = state_vm(st, id);

	if (vm)
		return vm;
	if (st->n_vms == STATE_MAX_VMS || strlen(id) > ID_LEN)
		return NULL;
	vm = &st->vms[st->n_vms++];
	memset(vm, 0, sizeof(*vm));
	strcpy(vm->id, id);
	return vm;
}

void state_vm_remove(struct dstate *st, const char *id)
{
	struct vm_rec *vm = state_vm(st, id);

	if (!vm)
		return;
	memmove(vm, vm + 1, (size_t)(&st->vms[st->n_vms] - (vm + 1)) * sizeof(*vm));
	st->n_vms--;
}

int state_journal_add(struct dstate *st, const struct journal_ent *e)
{
	for (size_t i = 0; i < st->n_journal; i++)
		if (st->journal[i].op == e->op && strcmp(st->journal[i].vm, e->vm) == 0)
			return 0; /* already journaled: wipes are idempotent */
	if (st->n_journal == STATE_MAX_JOURNAL)
		return -ENOSPC;
	st->journal[st->n_journal++] = *e;
	return 0;
}

void state_journal_remove(struct dstate *st, size_t i)
{
	if (i >= st->n_journal)
		return;
	memmove(&st->journal[i], &st->journal[i + 1],
		(st->n_journal - i - 1) * sizeof(st->journal[0]));
	st->n_journal--;
}

int state_ack_add(struct dstate *st, const char *id, bool done, const char *detail)
{
	struct pending_ack *a = NULL;

	for (size_t i = 0; i < st->n_acks; i++)
		if (strcmp(st->acks[i].id, id) == 0)
			a = &st->acks[i];
	if (!a) {
		if (st->n_acks == STATE_MAX_ACKS || strlen(id) > ID_LEN)
			return -ENOSPC;
		a = &st->acks[st->n_acks++];
	}
	memset(a, 0, sizeof(*a));
	strcpy(a->id, id);
	a->done = done;
	snprintf(a->detail, sizeof(a->detail), "%s", detail);
	return 0;
}
