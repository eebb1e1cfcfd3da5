/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pocketvmd's persistent state: the clock's high-water mark, the highest
 * lease seq, each managed VM's accepted lease, the wipe journal and command
 * acknowledgments not yet delivered. One file, replaced atomically
 * (write, fsync, rename, fsync the directory), authenticated with
 * HMAC-SHA256 under a device-held key so an edited or forged file is
 * refused (docs/device.md "State file").
 *
 * Format: the line "PVMSTATE1 <64 hex digits of the MAC>\n" then compact
 * JSON; the MAC covers the JSON bytes exactly.
 */
#ifndef POCKETVM_DEVICE_STATE_H
#define POCKETVM_DEVICE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "device/clock.h"

#define STATE_MAX_SIZE (256 * 1024)
#define STATE_MAX_VMS 32
#define STATE_MAX_JOURNAL 64
#define STATE_MAX_ACKS 64
#define STATE_KEY_LEN 32
#define ID_LEN 36 /* a lowercase UUID */
#define NAME_MAX_LEN 64
#define DETAIL_MAX_LEN 256

/* What the device accepted from a verified lease (device/lease.h). */
struct lease_info {
	bool valid;
	bool locked; /* lease state "locked": stop, do not open */
	int64_t iat, exp, offline, seq;
};

/* A VM the server manages (listed in a check-in answer). */
struct vm_rec {
	char id[ID_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	char state[16]; /* active | locked | revoked, as the server last said */
	char kid[128];
	struct lease_info lease;
};

enum journal_op {
	JOURNAL_WIPE_VM = 1, /* crypto-erase one VM */
	JOURNAL_WIPE_DEVICE, /* every managed VM and the identity */
	JOURNAL_UNENROLL, /* every managed VM and the identity */
};

/* A wipe in progress: replayed at start until it completes (device/wipe.h). */
struct journal_ent {
	enum journal_op op;
	char vm[ID_LEN + 1]; /* JOURNAL_WIPE_VM: the VM's id */
	char cmd[ID_LEN + 1]; /* the server command to acknowledge, or "" */
	char reason[64]; /* "command", "offline lifetime", "state lost", ... */
};

struct pending_ack {
	char id[ID_LEN + 1];
	bool done;
	char detail[DETAIL_MAX_LEN + 1];
};

struct dstate {
	struct tclock_saved clock;
	int64_t seq; /* highest lease seq accepted */
	char device_id[ID_LEN + 1];
	size_t n_vms;
	struct vm_rec vms[STATE_MAX_VMS];
	size_t n_journal;
	struct journal_ent journal[STATE_MAX_JOURNAL];
	size_t n_acks;
	struct pending_ack acks[STATE_MAX_ACKS];
};

/*
 * Parses and authenticates a state file's bytes. Returns false with a precise
 * message in err (the MAC is checked, in constant time, before any JSON is
 * read) for anything malformed, forged or out of bounds.
 */
bool state_parse(const void *buf, size_t len, const uint8_t key[STATE_KEY_LEN], struct dstate *out,
		 char *err, size_t errlen);

/* Serializes and MACs *st; *out is malloc'd. Returns 0 or -errno. */
int __must_check state_format(const struct dstate *st, const uint8_t key[STATE_KEY_LEN], char **out,
			      size_t *len);

/* Reads path: 0, -ENOENT (no state yet) or -EBADMSG (message in err). */
int __must_check state_load(const char *path, const uint8_t key[STATE_KEY_LEN], struct dstate *out,
			    char *err, size_t errlen);

/* Atomically replaces path with *st, durable when it returns 0. */
int __must_check state_save(const char *path, const uint8_t key[STATE_KEY_LEN],
			    const struct dstate *st);

/* Lookups and edits on the fixed tables. NULL / -ENOSPC when full. */
struct vm_rec *state_vm(struct dstate *st, const char *id);
struct vm_rec *state_vm_add(struct dstate *st, const char *id);
void state_vm_remove(struct dstate *st, const char *id);
int __must_check state_journal_add(struct dstate *st, const struct journal_ent *e);
void state_journal_remove(struct dstate *st, size_t i);
int __must_check state_ack_add(struct dstate *st, const char *id, bool done, const char *detail);

/* True if s is a lowercase 8-4-4-4-12 UUID. */
bool is_uuid(const char *s);

#endif
