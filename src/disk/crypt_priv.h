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
#define CRYPT_RINGS 2 /* io_uring rings per image: concurrent readers beyond read directly */
#define CRYPT_RING_DEPTH 64
#define CRYPT_PIECE_BLOCKS \
	32 /* blocks per overlapped read piece: 128 KiB (docs/benchmarks/disk.md) */

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
	bool data; /* has ct[] (from crypt_entry_new(c, true)) */
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

	/* Reads: io_uring rings (crypt_uring.c), NULL where unavailable; tuning. */
	struct crypt_ring *rings[CRYPT_RINGS];
	enum crypt_read_path read_path;
	unsigned int piece_blocks;

	/*
	 * Data entries kept for reuse (at most cache_blocks / 2): fresh heap
	 * pages cost a page fault each, and glibc returns freed ones to the
	 * kernel after every checkpoint.
	 */
	pthread_mutex_t free_lock;
	struct crypt_entry *free_entries;
	size_t nfree;

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

/* Blocks per request chunk: the unit of metadata reads and of the read pipeline. */
#define CRYPT_CHUNK_BLOCKS (CRYPT_BUF_SIZE / IMAGE_BLOCK_SIZE)

/* iovec helpers (crypt_read.c). */
size_t crypt_iov_total(const struct iovec *iov, int iovcnt);
/* Copies n bytes between a flat buffer and an iovec array at byte skip. */
void crypt_iov_xfer(const struct iovec *iov, int iovcnt, size_t skip, uint8_t *flat, size_t n,
		    bool to_iov);
/* The n bytes at byte pos of an iovec array, if one element holds them all. */
const uint8_t *crypt_iov_flat(const struct iovec *iov, int iovcnt, size_t pos, size_t n);

/* The blockdev readv op (crypt_read.c). */
int crypt_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t off);
/*
 * Reads blocks [first, first + n) through the scratch buffer ct and opens
 * them into out (the read-modify-write of a partial block).
 */
int crypt_read_blocks(struct crypt *c, struct aead *a, uint64_t first, uint64_t n, uint8_t *ct,
		      uint8_t *out) __must_check;

/* One piece of an overlapped read: iovcnt buffers filled from file offset off. */
struct crypt_piece {
	struct iovec *iov;
	int iovcnt;
	uint64_t off;
	size_t len;
};

struct crypt_ring;
/* Makes the rings for c->fd, or none (reads then stay synchronous). */
void crypt_rings_init(struct crypt *c);
void crypt_rings_free(struct crypt *c);
/* A free ring, locked for the caller, or NULL when all are busy or absent. */
struct crypt_ring *crypt_ring_get(struct crypt *c);
void crypt_ring_put(struct crypt_ring *r);
/*
 * Queues reads of p[0..n) from fd (completions carry the index) for an io-wq
 * worker; returns how many the kernel took, in order: read the rest directly.
 */
int crypt_ring_submit(struct crypt_ring *r, int fd, const struct crypt_piece *p, unsigned int n);
/* Waits for one completion: its index and result (bytes or -errno). */
void crypt_ring_reap(struct crypt_ring *r, unsigned int *index, int *res);

/* Keys an aead context for epoch (derived and cached in secret memory). */
int crypt_key_for(struct crypt *c, struct aead *a, uint32_t epoch) __must_check;

/* Opens block b's ciphertext ct (may be out) with one slot: 0 or -EBADMSG (out wiped). */
int crypt_open_slot(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b, const uint8_t *ct,
		    uint8_t *out, const struct crypt_slot *s) __must_check;

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
/* Empties m, its entries back to c's free list (or freed). */
void crypt_map_clear(struct crypt *c, struct crypt_map *m);
/* A new entry, with room for a ciphertext when data; NULL when out of memory. */
struct crypt_entry *crypt_entry_new(struct crypt *c, bool data);
void crypt_entry_free(struct crypt *c, struct crypt_entry *e);
/* Frees the free list (close). */
void crypt_entries_release(struct crypt *c);
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
