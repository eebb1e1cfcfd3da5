// SPDX-License-Identifier: Apache-2.0
/*
 * The crypt backend's checkpoint and recovery: how sealed blocks in the
 * write-back cache reach the image without ever leaving a block that
 * authenticates under neither of its slots, and how an image that was not
 * closed cleanly is repaired at its next read-write open
 * (docs/image-format.md, "Writing: crash consistency").
 *
 * Contract with crypt.c and crypt_cache.c:
 *  - crypt_checkpoint() persists every block cached when it starts (one
 *    checkpoint at a time, under ckpt_lock); writers keep sealing into the
 *    active map meanwhile. A failure is sticky in c->failed.
 *  - crypt_cache_pressure() is called after each write: it wakes the
 *    background flusher (crypt_bg_main) at half the cache and checkpoints
 *    in the writer's thread at twice its size, so memory stays bounded.
 *  - crypt_begin_session() runs once at a read-write open: crypt_recover()
 *    on a DIRTY image, then a new epoch and the DIRTY flag, before any write.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

static int entry_cmp(const void *a, const void *b)
{
	const struct crypt_entry *x = *(struct crypt_entry *const *)a;
	const struct crypt_entry *y = *(struct crypt_entry *const *)b;

	return x->block < y->block ? -1 : x->block > y->block;
}

/* Flattens the flushing map into an array sorted by block number. */
static struct crypt_entry **flushing_sorted(struct crypt_map *m)
{
	struct crypt_entry **arr = calloc(m->count ? m->count : 1, sizeof(*arr));
	size_t n = 0;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct crypt_entry *e = m->buckets[i]; e; e = e->next)
			arr[n++] = e;
	qsort(arr, n, sizeof(*arr), entry_cmp);
	return arr;
}

/* How many entries from arr[i] on cover consecutive blocks (at most max). */
static size_t run_length(struct crypt_entry **arr, size_t i, size_t n, size_t max)
{
	size_t k = 1;

	while (i + k < n && k < max && arr[i + k]->block == arr[i]->block + k)
		k++;
	return k;
}

/*
 * Step 1 for a run of consecutive blocks: read their records, put each new
 * nonce/tag/stamp into the slot that is not current, write the records
 * back. The current slots are rewritten with the bytes they already hold.
 */
static int write_slots(struct crypt *c, struct crypt_entry **run, size_t k, uint8_t *recs,
		       uint8_t *targets)
{
	uint64_t off = c->hdr.meta_offset + run[0]->block * IMAGE_RECORD_SIZE;
	int ret = c->io.pread(c->io.ctx, recs, k * IMAGE_RECORD_SIZE, off);

	for (size_t i = 0; !ret && i < k; i++) {
		uint8_t *rec = recs + i * IMAGE_RECORD_SIZE;
		int ci = crypt_record_current(rec);
		struct crypt_slot cur;

		crypt_slot_get(rec, ci, &cur);
		if ((uint8_t)run[i]->slot.stamp != (uint8_t)(cur.stamp + 1)) {
			/* crypt_cache_next_gen's invariant broke: writing would lose the block. */
			log_error("crypt: block %llu: gen %u does not follow %u",
				  (unsigned long long)run[i]->block, run[i]->slot.stamp & 0xff,
				  cur.stamp & 0xff);
			return -EIO;
		}
		targets[i] = (uint8_t)(1 - ci);
		crypt_slot_put(rec + (1 - ci) * IMAGE_SLOT_SIZE, &run[i]->slot);
	}
	return ret ? ret : c->io.pwrite(c->io.ctx, recs, k * IMAGE_RECORD_SIZE, off);
}

#define RUN_MAX (CRYPT_BUF_SIZE / IMAGE_BLOCK_SIZE) /* blocks per coalesced write */

/* Step 3 for a run: the ciphertexts in place, one gathered write. */
static int write_data(struct crypt *c, struct crypt_entry **run, size_t k, struct iovec *iov)
{
	for (size_t i = 0; i < k; i++)
		iov[i] = (struct iovec){ run[i]->ct, IMAGE_BLOCK_SIZE };
	return c->io.pwritev(c->io.ctx, iov, (int)k,
			     c->hdr.data_offset + run[0]->block * IMAGE_BLOCK_SIZE);
}

static bool is_zero(const struct crypt_entry *e)
{
	return e->slot.stamp & STAMP_ZERO;
}

/* Consecutive blocks from arr[i] on that are all zero or all data. */
static size_t same_kind_run(struct crypt_entry **arr, size_t i, size_t n)
{
	size_t k = run_length(arr, i, n, RUN_MAX);
	size_t j = 1;

	while (j < k && is_zero(arr[i + j]) == is_zero(arr[i]))
		j++;
	return j;
}

static int checkpoint_run(struct crypt *c, struct crypt_entry **arr, size_t n, uint8_t *targets)
{
	uint8_t *recs = malloc(RUN_MAX * IMAGE_RECORD_SIZE);
	struct iovec *iov = calloc(RUN_MAX, sizeof(*iov));
	int ret = recs && iov ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < n;) {
		size_t k = run_length(arr, i, n, RUN_MAX);

		ret = write_slots(c, arr + i, k, recs, targets + i);
		i += k;
	}
	if (!ret)
		ret = c->io.sync(c->io.ctx);
	/*
	 * Step 3: only now may the data move; each block is old or new. A
	 * zero block's new slot authenticates without data: its space goes.
	 */
	for (size_t i = 0; !ret && i < n;) {
		size_t k = same_kind_run(arr, i, n);

		if (!is_zero(arr[i]))
			ret = write_data(c, arr + i, k, iov);
		else if (c->io.punch)
			ret = c->io.punch(c->io.ctx,
					  c->hdr.data_offset + arr[i]->block * IMAGE_BLOCK_SIZE,
					  k * IMAGE_BLOCK_SIZE);
		i += k;
	}
	if (!ret)
		ret = c->io.sync(c->io.ctx);
	free(recs);
	free(iov);
	return ret;
}

int crypt_checkpoint(struct crypt *c)
{
	struct crypt_entry **arr = NULL;
	uint8_t *targets = NULL;
	struct crypt_map tmp;
	size_t n;
	int ret;

	pthread_mutex_lock(&c->ckpt_lock);
	ret = atomic_load(&c->failed);
	if (ret)
		goto unlock;
	ret = crypt_map_init(&tmp);
	if (ret)
		goto unlock;
	pthread_mutex_lock(&c->map_lock);
	n = c->active.count;
	if (n == 0) {
		pthread_mutex_unlock(&c->map_lock);
		free(tmp.buckets);
		goto unlock;
	}
	/* The filled map becomes "flushing"; writers carry on into a new one. */
	free(c->flushing.buckets);
	c->flushing = c->active;
	c->active = tmp;
	c->swaps++;
	pthread_mutex_unlock(&c->map_lock);

	arr = flushing_sorted(&c->flushing);
	targets = malloc(n);
	ret = arr && targets ? checkpoint_run(c, arr, n, targets) : -ENOMEM;
	if (ret) {
		/*
		 * The image is still consistent (old or new per block), but
		 * these writes are not durable: fail every later request.
		 */
		log_error("crypt: checkpoint of %zu blocks failed: %s", n, strerror(-ret));
		atomic_store(&c->failed, ret);
	}
	pthread_mutex_lock(&c->map_lock);
	for (size_t i = 0; !ret && i < n; i++)
		c->slot_state[arr[i]->block] =
			(uint16_t)(SLOT_KNOWN | (unsigned int)targets[i] << 8 |
				   (arr[i]->slot.stamp & 0xff));
	crypt_map_clear(c, &c->flushing);
	atomic_fetch_sub(&c->cached, n);
	pthread_mutex_unlock(&c->map_lock);
unlock:
	pthread_mutex_unlock(&c->ckpt_lock);
	free(targets);
	free(arr);
	return ret;
}

/*
 * Checks one record whose current slot was written by the interrupted
 * session; clears that slot when it does not authenticate the data.
 */
static int recover_block(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b,
			 const uint8_t *rec, uint8_t *buf)
{
	static const uint8_t zero[IMAGE_SLOT_SIZE];
	uint64_t off = c->hdr.meta_offset + b * IMAGE_RECORD_SIZE;
	int used, ci = crypt_record_current(rec);
	int ret;

	ret = c->io.pread(c->io.ctx, buf, IMAGE_BLOCK_SIZE,
			  c->hdr.data_offset + b * IMAGE_BLOCK_SIZE);
	if (ret)
		return ret;
	ret = crypt_open_block(c, a, keyed, b, buf, buf + IMAGE_BLOCK_SIZE, rec, &used);
	explicit_bzero(buf + IMAGE_BLOCK_SIZE, IMAGE_BLOCK_SIZE);
	if (ret == -EBADMSG) {
		log_warn("crypt: block %llu authenticates under neither slot after a crash",
			 (unsigned long long)b);
		return 0;
	}
	if (ret || used == ci)
		return ret;
	c->info.recovered_slots++;
	return c->io.pwrite(c->io.ctx, zero, sizeof(zero), off + (uint64_t)ci * IMAGE_SLOT_SIZE);
}

int crypt_recover(struct crypt *c)
{
	const uint64_t chunk = 1024; /* records per metadata read */
	uint8_t *meta = malloc(chunk * IMAGE_RECORD_SIZE);
	uint8_t *buf = malloc(2 * IMAGE_BLOCK_SIZE); /* ciphertext, plaintext */
	struct aead *a = aead_new();
	uint32_t keyed = 0;
	int ret = 0;

	if (!meta || !buf || !a) {
		ret = -ENOMEM;
		goto out;
	}
	c->info.recovered = true;
	for (uint64_t first = 0; !ret && first < c->nblocks; first += chunk) {
		uint64_t n = MIN(chunk, c->nblocks - first);

		ret = c->io.pread(c->io.ctx, meta, n * IMAGE_RECORD_SIZE,
				  c->hdr.meta_offset + first * IMAGE_RECORD_SIZE);
		for (uint64_t i = 0; !ret && i < n; i++) {
			const uint8_t *rec = meta + i * IMAGE_RECORD_SIZE;
			struct crypt_slot s;

			crypt_slot_get(rec, crypt_record_current(rec), &s);
			if (s.stamp && stamp_epoch(s.stamp) >= c->hdr.session_epoch)
				ret = recover_block(c, a, &keyed, first + i, rec, buf);
		}
	}
	if (!ret)
		ret = c->io.sync(c->io.ctx);
out:
	aead_free(a);
	free(buf);
	free(meta);
	return ret;
}

void *crypt_bg_main(void *arg)
{
	struct crypt *c = arg;

	pthread_mutex_lock(&c->bg_lock);
	while (!c->bg_stop) {
		while (!c->bg_stop && !c->bg_kick)
			pthread_cond_wait(&c->bg_cond, &c->bg_lock);
		c->bg_kick = false;
		pthread_mutex_unlock(&c->bg_lock);
		atomic_store(&c->bg_kicked, false);
		/* A failure is sticky in c->failed: the next request reports it. */
		if (crypt_checkpoint(c))
			log_debug("crypt: background checkpoint failed");
		pthread_mutex_lock(&c->bg_lock);
	}
	pthread_mutex_unlock(&c->bg_lock);
	return NULL;
}

void crypt_bg_stop(struct crypt *c)
{
	if (!c->bg_running)
		return;
	pthread_mutex_lock(&c->bg_lock);
	c->bg_stop = true;
	pthread_cond_signal(&c->bg_cond);
	pthread_mutex_unlock(&c->bg_lock);
	pthread_join(c->bg_thread, NULL);
	c->bg_running = false;
}

/* After a write: wake the flusher at half, checkpoint here when full. */
int crypt_cache_pressure(struct crypt *c)
{
	size_t n = atomic_load(&c->cached);

	if (!c->bg_running)
		return n >= c->cache_blocks ? crypt_checkpoint(c) : 0;
	if (n >= c->cache_blocks / 2 && !atomic_exchange(&c->bg_kicked, true)) {
		pthread_mutex_lock(&c->bg_lock);
		c->bg_kick = true;
		pthread_cond_signal(&c->bg_cond);
		pthread_mutex_unlock(&c->bg_lock);
	}
	return n >= 2 * c->cache_blocks ? crypt_checkpoint(c) : 0;
}

/* Starts a write session: recovery if needed, then a new epoch, DIRTY. */
int crypt_begin_session(struct crypt *c)
{
	int ret;

	if (c->hdr.flags & IMAGE_FLAG_DIRTY) {
		log_warn("crypt: image was not closed cleanly; checking its last writes");
		ret = crypt_recover(c);
		if (ret)
			return ret;
	}
	if (c->hdr.epoch >= IMAGE_EPOCH_MAX)
		return -EOVERFLOW;
	c->hdr.epoch++;
	c->hdr.session_epoch = c->hdr.epoch;
	c->hdr.flags |= IMAGE_FLAG_DIRTY;
	ret = image_header_store(&c->io, &c->hdr, c->dek);
	atomic_store(&c->epoch, c->hdr.epoch);
	return ret;
}
