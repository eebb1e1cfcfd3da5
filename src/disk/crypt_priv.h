/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the crypt backend shared by crypt.c, crypt_cache.c and crypt_ckpt.c. */
#ifndef POCKETVM_DISK_CRYPT_PRIV_H
#define POCKETVM_DISK_CRYPT_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "crypto/aead.h"
#include "disk/crypt.h"

#define CRYPT_KEY_CACHE 16 /* derived epoch keys kept, direct-mapped */
#define CRYPT_STRIPES 64 /* per-block locks for read-modify-write */
#define CRYPT_DEFAULT_CACHE_BLOCKS 4096
#define CRYPT_DEFAULT_EPOCH_BUDGET (1ull << 30)
#define SLOT_KNOWN 0x8000u

/* Stamp layout: ZERO flag, 23-bit epoch, 8-bit gen (docs/image-format.md). */
#define STAMP_ZERO 0x80000000u

static inline uint32_t stamp_epoch(uint32_t stamp)
{
	return (stamp & ~STAMP_ZERO) >> 8;
}

/* One metadata slot (docs/image-format.md, "Blocks and metadata"). */
struct crypt_slot {
	uint8_t nonce[AEAD_NONCE_LEN];
	uint8_t tag[AEAD_TAG_LEN];
	uint32_t stamp; /* epoch << 8 | gen; 0 = empty */
};

/* A sealed block waiting in the write-back cache for a checkpoint. */
struct crypt_entry {
	struct crypt_entry *next;
	uint64_t block;
	struct crypt_slot slot; /* the slot the checkpoint will write */
	uint8_t ct[]; /* IMAGE_BLOCK_SIZE bytes; absent for a zero block */
};

struct crypt_map {
	struct crypt_entry **buckets;
	size_t nbuckets;
	size_t count;
};

struct crypt {
	struct blockdev bd;
	int fd; /* -1 when opened over a bare image_io */
	struct image_io io;
	struct image_header hdr;
	struct secret *dek;
	uint64_t nblocks;
	struct crypt_info info;

	pthread_mutex_t key_lock; /* guards keys and key_epoch */
	struct secret *keys; /* CRYPT_KEY_CACHE keys of 32 bytes */
	uint32_t key_epoch[CRYPT_KEY_CACHE]; /* 0 = slot unused */

	_Atomic uint32_t epoch; /* epoch new writes seal with */
	_Atomic uint64_t sealed; /* encryptions under that epoch */
	uint64_t epoch_budget;
	pthread_mutex_t hdr_lock; /* serialises header writes */

	pthread_mutex_t map_lock; /* guards active and flushing */
	struct crypt_map active; /* written since the last checkpoint began */
	struct crypt_map flushing; /* being written by the running checkpoint */
	_Atomic size_t cached; /* entries in both maps, for a lock-free fast path */
	uint64_t swaps; /* checkpoints begun; guarded by map_lock */
	/*
	 * Per block, what the disk's record says once known (map_lock):
	 * 0 = not read yet, else SLOT_KNOWN | current slot << 8 | its gen.
	 * Saves a record read per write; the checkpoint keeps it current.
	 */
	uint16_t *slot_state;
	size_t cache_blocks;
	pthread_mutex_t ckpt_lock; /* one checkpoint at a time */
	_Atomic int failed; /* sticky -errno after a failed checkpoint */

	pthread_mutex_t stripes[CRYPT_STRIPES];

	/*
	 * The background flusher: checkpoints once the cache is half full, so
	 * writers keep sealing while the previous batch goes to disk. Writers
	 * checkpoint themselves only when the cache reaches twice its size.
	 */
	pthread_t bg_thread;
	bool bg_running;
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	bool bg_kick, bg_stop;
	_Atomic bool bg_kicked;

	/* Request buffers kept for reuse: large mallocs would mmap each time. */
	pthread_mutex_t pool_lock;
	void *pool[8];
	unsigned int npool;
};

#define CRYPT_BUF_SIZE (256u * IMAGE_BLOCK_SIZE) /* one request chunk, 1 MiB */

/* A CRYPT_BUF_SIZE buffer from the pool (or new); NULL when out of memory. */
void *crypt_buf_get(struct crypt *c);
/* Returns a buffer; wipe first if it held plaintext. */
void crypt_buf_put(struct crypt *c, void *buf);

/* Record and slot codec. */
void crypt_slot_get(const uint8_t *rec, int i, struct crypt_slot *s);
void crypt_slot_put(uint8_t *dst, const struct crypt_slot *s);
/* Which slot of a 64-byte record is current (docs/image-format.md). */
int crypt_record_current(const uint8_t *rec);

/* Keys an aead context for epoch (derived and cached in secret memory). */
int crypt_key_for(struct crypt *c, struct aead *a, uint32_t epoch) __must_check;

/*
 * Opens block b's ciphertext ct into out with the record's slots, current
 * first; *cur_epoch caches which epoch a is keyed for. 0 or -EBADMSG (out
 * wiped).
 */
int crypt_open_block(struct crypt *c, struct aead *a, uint32_t *cur_epoch, uint64_t b,
		     const uint8_t *ct, uint8_t *out, const uint8_t *rec,
		     int *slot_used) __must_check;

/* Write-back cache (crypt_cache.c). */
int crypt_map_init(struct crypt_map *m) __must_check;
void crypt_map_clear(struct crypt_map *m);
/* Copies a cached block out under map_lock; true when it was cached. */
bool crypt_cache_lookup(struct crypt *c, uint64_t b, uint8_t *ct, struct crypt_slot *slot);
/*
 * The gen a new write of block b must carry (docs/image-format.md): from a
 * cached entry if there is one, else from the record on disk. *swaps is
 * the checkpoint count the answer depends on.
 */
int crypt_cache_next_gen(struct crypt *c, uint64_t b, uint8_t *gen, uint64_t *swaps) __must_check;
/*
 * Inserts (or replaces) e, taking ownership, unless a checkpoint began since
 * swaps was read (then the gen may be stale: returns false, e not taken).
 */
bool crypt_cache_insert(struct crypt *c, struct crypt_entry *e, uint64_t swaps);
/* Checkpoint and recovery (crypt_ckpt.c). */
/* Persists every cached block (the checkpoint); 0 or -errno. */
int crypt_checkpoint(struct crypt *c) __must_check;
/* Repairs a DIRTY image's records at a read-write open. */
int crypt_recover(struct crypt *c) __must_check;
/* The background flusher's thread; crypt_bg_stop() ends and joins it. */
void *crypt_bg_main(void *arg);
void crypt_bg_stop(struct crypt *c);
/* After a write: wake the flusher at half, checkpoint here when full. */
int crypt_cache_pressure(struct crypt *c) __must_check;
/* Starts a write session: recovery if needed, then a new epoch, DIRTY. */
int crypt_begin_session(struct crypt *c) __must_check;

#endif
