// SPDX-License-Identifier: Apache-2.0
/*
 * The crypt backend's write-back cache and checkpoint: how sealed blocks
 * reach the image without ever leaving a block that authenticates under
 * neither of its slots (docs/image-format.md, "Writing: crash consistency").
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

#define MAP_BUCKETS 1024u

int crypt_map_init(struct crypt_map *m)
{
	m->buckets = calloc(MAP_BUCKETS, sizeof(*m->buckets));
	if (!m->buckets)
		return -ENOMEM;
	m->nbuckets = MAP_BUCKETS;
	m->count = 0;
	return 0;
}

void crypt_map_clear(struct crypt_map *m)
{
	for (size_t i = 0; m->buckets && i < m->nbuckets; i++) {
		struct crypt_entry *e = m->buckets[i];

		while (e) {
			struct crypt_entry *next = e->next;

			free(e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

static struct crypt_entry **map_find(struct crypt_map *m, uint64_t b)
{
	struct crypt_entry **pp = &m->buckets[b % m->nbuckets];

	while (*pp && (*pp)->block != b)
		pp = &(*pp)->next;
	return pp;
}

bool crypt_cache_lookup(struct crypt *c, uint64_t b, uint8_t *ct, struct crypt_slot *slot)
{
	struct crypt_entry *e;
	bool found = false;

	if (atomic_load(&c->cached) == 0)
		return false;
	pthread_mutex_lock(&c->map_lock);
	/* The active map holds the newer copy when a block is in both. */
	e = *map_find(&c->active, b);
	if (!e && c->flushing.count)
		e = *map_find(&c->flushing, b);
	if (e) {
		if (!(e->slot.stamp & STAMP_ZERO))
			memcpy(ct, e->ct, IMAGE_BLOCK_SIZE);
		*slot = e->slot;
		found = true;
	}
	pthread_mutex_unlock(&c->map_lock);
	return found;
}

int crypt_cache_next_gen(struct crypt *c, uint64_t b, uint8_t *gen, uint64_t *swaps)
{
	uint8_t rec[IMAGE_RECORD_SIZE];
	struct crypt_entry *e;
	struct crypt_slot cur;
	uint16_t st;
	int ci, ret;

	pthread_mutex_lock(&c->map_lock);
	*swaps = c->swaps;
	e = *map_find(&c->active, b);
	if (e) {
		/* Replacing an entry that has not reached the disk: same slot, same gen. */
		*gen = (uint8_t)e->slot.stamp;
	} else {
		e = *map_find(&c->flushing, b);
		/* Being checkpointed: once done, that entry's slot is current. */
		if (e)
			*gen = (uint8_t)(e->slot.stamp + 1);
	}
	st = c->slot_state[b];
	pthread_mutex_unlock(&c->map_lock);
	if (e)
		return 0;
	if (st & SLOT_KNOWN) {
		*gen = (uint8_t)(st + 1);
		return 0;
	}
	/* In no map: nothing rewrites this record until our entry is inserted. */
	ret = c->io.pread(c->io.ctx, rec, sizeof(rec), c->hdr.meta_offset + b * IMAGE_RECORD_SIZE);
	if (ret)
		return ret;
	ci = crypt_record_current(rec);
	crypt_slot_get(rec, ci, &cur);
	pthread_mutex_lock(&c->map_lock);
	if (c->swaps == *swaps)
		c->slot_state[b] =
			(uint16_t)(SLOT_KNOWN | (unsigned int)ci << 8 | (cur.stamp & 0xff));
	pthread_mutex_unlock(&c->map_lock);
	*gen = (uint8_t)(cur.stamp + 1);
	return 0;
}

bool crypt_cache_insert(struct crypt *c, struct crypt_entry *e, uint64_t swaps)
{
	struct crypt_entry **pp, *old;

	pthread_mutex_lock(&c->map_lock);
	if (c->swaps != swaps) {
		pthread_mutex_unlock(&c->map_lock);
		return false;
	}
	pp = map_find(&c->active, e->block);
	old = *pp;
	if (old) {
		e->next = old->next;
		*pp = e;
		free(old);
	} else {
		e->next = c->active.buckets[e->block % c->active.nbuckets];
		c->active.buckets[e->block % c->active.nbuckets] = e;
		c->active.count++;
		atomic_fetch_add(&c->cached, 1);
	}
	pthread_mutex_unlock(&c->map_lock);
	return true;
}

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
	crypt_map_clear(&c->flushing);
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
