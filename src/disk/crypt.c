// SPDX-License-Identifier: Apache-2.0
/*
 * The crypt block backend: AES-256-GCM per 4 KiB block, metadata with two
 * slots per block, write-back cache (crypt_cache.c) with crash-consistent checkpoints
 * (crypt_ckpt.c). The format is docs/image-format.md.
 *
 * Threads: readv/writev run in the caller's thread and in parallel (the
 * crypto is done outside every lock); map_lock guards only pointer updates
 * and 4 KiB copies; a stripe lock per block serialises read-modify-write of
 * partial blocks against other writes to the same block.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

static struct crypt *to_crypt(struct blockdev *bd)
{
	return (struct crypt *)bd;
}

void crypt_slot_get(const uint8_t *rec, int i, struct crypt_slot *s)
{
	const uint8_t *p = rec + i * IMAGE_SLOT_SIZE;
	uint32_t v;

	memcpy(s->nonce, p, AEAD_NONCE_LEN);
	memcpy(s->tag, p + AEAD_NONCE_LEN, AEAD_TAG_LEN);
	memcpy(&v, p + AEAD_NONCE_LEN + AEAD_TAG_LEN, 4);
	s->stamp = le32toh(v);
}

void crypt_slot_put(uint8_t *dst, const struct crypt_slot *s)
{
	uint32_t v = htole32(s->stamp);

	memcpy(dst, s->nonce, AEAD_NONCE_LEN);
	memcpy(dst + AEAD_NONCE_LEN, s->tag, AEAD_TAG_LEN);
	memcpy(dst + AEAD_NONCE_LEN + AEAD_TAG_LEN, &v, 4);
}

int crypt_record_current(const uint8_t *rec)
{
	struct crypt_slot a, b;

	crypt_slot_get(rec, 0, &a);
	crypt_slot_get(rec, 1, &b);
	if (!a.stamp || !b.stamp)
		return a.stamp ? 0 : b.stamp ? 1 : 0;
	if (((b.stamp - a.stamp) & 0xff) == 1)
		return 1;
	return 0;
}

int crypt_key_for(struct crypt *c, struct aead *a, uint32_t epoch)
{
	unsigned int i = epoch % CRYPT_KEY_CACHE;
	uint8_t *key = c->keys->data + i * AEAD_KEY_LEN;
	int ret = 0;

	if (epoch == 0 || epoch > atomic_load(&c->epoch))
		return -EBADMSG; /* never issued: the slot is forged or corrupt */
	pthread_mutex_lock(&c->key_lock);
	if (c->key_epoch[i] != epoch) {
		ret = image_data_key(c->dek, c->hdr.uuid, epoch, key);
		c->key_epoch[i] = ret ? 0 : epoch;
	}
	if (!ret)
		ret = aead_set_key(a, key);
	pthread_mutex_unlock(&c->key_lock);
	return ret;
}

#define AAD_LEN (IMAGE_UUID_LEN + 8 + 4)

/* AAD = UUID || le64(block) || le32(stamp): place, image and slot bound. */
static void block_aad(const struct crypt *c, uint64_t b, uint32_t stamp, uint8_t aad[AAD_LEN])
{
	uint64_t le = htole64(b);
	uint32_t st = htole32(stamp);

	memcpy(aad, c->hdr.uuid, IMAGE_UUID_LEN);
	memcpy(aad + IMAGE_UUID_LEN, &le, 8);
	memcpy(aad + IMAGE_UUID_LEN + 8, &st, 4);
}

int crypt_open_slot(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b, const uint8_t *ct,
		    uint8_t *out, const struct crypt_slot *s)
{
	uint8_t aad[AAD_LEN];
	uint32_t epoch = stamp_epoch(s->stamp);
	int ret;

	/* Epoch 0 is never issued: such a slot is forged, and keyed == 0 means "none". */
	if (!s->stamp || !epoch)
		return -EBADMSG;
	if (*keyed != epoch) {
		*keyed = 0;
		ret = crypt_key_for(c, a, epoch);
		if (ret)
			return ret;
		*keyed = epoch;
	}
	block_aad(c, b, s->stamp, aad);
	if (s->stamp & STAMP_ZERO) {
		/* A discarded block: the tag authenticates "zeroes here", data unused. */
		uint8_t none[AEAD_TAG_LEN];

		memset(out, 0, IMAGE_BLOCK_SIZE);
		return aead_open_with(a, s->nonce, aad, sizeof(aad), none, 0, none, s->tag);
	}
	return aead_open_with(a, s->nonce, aad, sizeof(aad), ct, IMAGE_BLOCK_SIZE, out, s->tag);
}

int crypt_open_block(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b,
		     const uint8_t *ct, uint8_t *out, const uint8_t *rec, int *slot_used)
{
	int cur = crypt_record_current(rec);
	struct crypt_slot s;
	int ret;

	crypt_slot_get(rec, cur, &s);
	ret = crypt_open_slot(c, a, keyed, b, ct, out, &s);
	if (ret == -EBADMSG) {
		cur = 1 - cur;
		crypt_slot_get(rec, cur, &s);
		ret = crypt_open_slot(c, a, keyed, b, ct, out, &s);
	}
	if (ret == 0 && slot_used)
		*slot_used = cur;
	return ret;
}

/* Issues a new epoch once the current one has sealed its budget. */
static int rotate_epoch(struct crypt *c)
{
	int ret = 0;

	pthread_mutex_lock(&c->hdr_lock);
	if (atomic_load(&c->sealed) >= c->epoch_budget) {
		if (c->hdr.epoch >= IMAGE_EPOCH_MAX) {
			ret = -EOVERFLOW;
		} else {
			c->hdr.epoch++;
			ret = image_header_store(&c->io, &c->hdr, c->dek);
			if (!ret) {
				atomic_store(&c->epoch, c->hdr.epoch);
				atomic_store(&c->sealed, 1); /* the write that rotates */
				c->info.epoch = c->hdr.epoch;
			}
		}
	}
	pthread_mutex_unlock(&c->hdr_lock);
	return ret;
}

/* Random nonces drawn in batches: one DRBG call per 64 blocks. */
struct nonce_pool {
	uint8_t buf[64 * AEAD_NONCE_LEN];
	unsigned int left;
};

static int nonce_next(struct nonce_pool *p, uint8_t *nonce)
{
	if (p->left == 0) {
		int ret = crypto_random(p->buf, sizeof(p->buf));

		if (ret)
			return ret;
		p->left = sizeof(p->buf) / AEAD_NONCE_LEN;
	}
	p->left--;
	memcpy(nonce, p->buf + p->left * AEAD_NONCE_LEN, AEAD_NONCE_LEN);
	explicit_bzero(p->buf + p->left * AEAD_NONCE_LEN, AEAD_NONCE_LEN);
	return 0;
}

/* Seals pt into e under the current epoch with the given gen; pt NULL = zeroes. */
static int seal_entry(struct crypt *c, struct aead *a, uint32_t *keyed, struct crypt_entry *e,
		      const uint8_t *pt, uint8_t gen, struct nonce_pool *pool)
{
	uint8_t aad[AAD_LEN];
	uint32_t epoch;
	int ret;

	if (atomic_fetch_add(&c->sealed, 1) >= c->epoch_budget) {
		ret = rotate_epoch(c);
		if (ret)
			return ret;
	}
	epoch = atomic_load(&c->epoch);
	if (*keyed != epoch) {
		*keyed = 0;
		ret = crypt_key_for(c, a, epoch);
		if (ret)
			return ret;
		*keyed = epoch;
	}
	ret = nonce_next(pool, e->slot.nonce);
	if (ret)
		return ret;
	e->slot.stamp = epoch << 8 | gen | (pt ? 0 : STAMP_ZERO);
	block_aad(c, e->block, e->slot.stamp, aad);
	if (!pt) {
		uint8_t none[AEAD_TAG_LEN];

		return aead_seal_with(a, e->slot.nonce, aad, sizeof(aad), none, 0, none,
				      e->slot.tag);
	}
	return aead_seal_with(a, e->slot.nonce, aad, sizeof(aad), pt, IMAGE_BLOCK_SIZE, e->ct,
			      e->slot.tag);
}

/* Seals an entry for block b (src NULL: a discarded block) and caches it. */
static int seal_insert(struct crypt *c, struct aead *a, uint32_t *keyed, struct crypt_entry *e,
		       const uint8_t *src, struct nonce_pool *pool)
{
	uint64_t swaps;
	uint8_t gen;
	int ret;

	/* A checkpoint starting meanwhile may change the gen: seal again. */
	do {
		ret = crypt_cache_next_gen(c, e->block, &gen, &swaps);
		ret = ret ? ret : seal_entry(c, a, keyed, e, src, gen, pool);
	} while (!ret && !crypt_cache_insert(c, e, swaps));
	return ret;
}

/* Writes the part [skip, skip + k) of block b from iov bytes at pos. */
static int write_block(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b, size_t skip,
		       size_t k, const struct iovec *iov, int iovcnt, size_t pos, uint8_t *pt,
		       struct nonce_pool *pool)
{
	pthread_mutex_t *stripe = &c->stripes[b % CRYPT_STRIPES];
	struct crypt_entry *e = crypt_entry_new(c, true);
	int ret = 0;

	if (!e)
		return -ENOMEM;
	e->block = b;
	pthread_mutex_lock(stripe);
	if (k != IMAGE_BLOCK_SIZE) {
		struct aead *ra = aead_new();

		/* Read-modify-write: the rest of the block keeps its contents. */
		ret = ra ? crypt_read_blocks(c, ra, b, 1, e->ct, pt) : -ENOMEM;
		aead_free(ra);
	}
	const uint8_t *src = k == IMAGE_BLOCK_SIZE ? crypt_iov_flat(iov, iovcnt, pos, k) : NULL;

	if (!ret && !src) {
		crypt_iov_xfer(iov, iovcnt, pos, pt + skip, k, false);
		src = pt;
	}
	if (!ret)
		ret = seal_insert(c, a, keyed, e, src, pool);
	pthread_mutex_unlock(stripe);
	if (ret)
		crypt_entry_free(c, e);
	return ret;
}

static int crypt_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct crypt *c = to_crypt(bd);
	size_t len = crypt_iov_total(iov, iovcnt), done = 0;
	uint8_t pt[IMAGE_BLOCK_SIZE];
	struct nonce_pool pool = { .left = 0 };
	struct aead *a;
	uint32_t keyed = 0;
	int ret;

	ret = blockdev_check_range(bd, off, len, true);
	if (ret || len == 0)
		return ret;
	ret = atomic_load(&c->failed);
	if (ret)
		return ret;
	a = aead_new();
	if (!a)
		return -ENOMEM;
	while (!ret && done < len) {
		uint64_t pos = off + done;
		size_t skip = pos % IMAGE_BLOCK_SIZE;
		size_t k = MIN(len - done, IMAGE_BLOCK_SIZE - skip);

		ret = write_block(c, a, &keyed, pos / IMAGE_BLOCK_SIZE, skip, k, iov, iovcnt, done,
				  pt, &pool);
		done += k;
		if (!ret)
			ret = crypt_cache_pressure(c);
	}
	explicit_bzero(pt, sizeof(pt));
	aead_free(a);
	return ret;
}

/*
 * Whole blocks become authenticated zero blocks (no data written, the space
 * punched at the checkpoint); sectors at the edges are written as zeroes.
 */
static int crypt_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[IMAGE_BLOCK_SIZE];
	struct crypt *c = to_crypt(bd);
	uint8_t pt[IMAGE_BLOCK_SIZE];
	struct nonce_pool pool = { .left = 0 };
	struct aead *a;
	uint32_t keyed = 0;
	int ret;

	ret = blockdev_check_range(bd, off, len, true);
	ret = ret ? ret : atomic_load(&c->failed);
	if (ret || len == 0)
		return ret;
	a = aead_new();
	if (!a)
		return -ENOMEM;
	for (uint64_t pos = off; !ret && pos < off + len;) {
		uint64_t b = pos / IMAGE_BLOCK_SIZE;
		size_t skip = pos % IMAGE_BLOCK_SIZE;
		size_t k = (size_t)MIN((uint64_t)IMAGE_BLOCK_SIZE - skip, off + len - pos);
		struct iovec z = { (void *)zeroes, k };

		if (k != IMAGE_BLOCK_SIZE) {
			ret = write_block(c, a, &keyed, b, skip, k, &z, 1, 0, pt, &pool);
		} else {
			struct crypt_entry *e = crypt_entry_new(c, false);
			pthread_mutex_t *stripe = &c->stripes[b % CRYPT_STRIPES];

			if (!e) {
				ret = -ENOMEM;
				break;
			}
			e->block = b;
			pthread_mutex_lock(stripe);
			ret = seal_insert(c, a, &keyed, e, NULL, &pool);
			pthread_mutex_unlock(stripe);
			if (ret)
				crypt_entry_free(c, e);
		}
		pos += k;
		if (!ret)
			ret = crypt_cache_pressure(c);
	}
	explicit_bzero(pt, sizeof(pt));
	aead_free(a);
	return ret;
}

static int crypt_flush(struct blockdev *bd)
{
	if (bd->read_only)
		return 0;
	return crypt_checkpoint(to_crypt(bd));
}

static void crypt_release(struct crypt *c)
{
	crypt_bg_stop(c);
	pthread_mutex_destroy(&c->bg_lock);
	pthread_cond_destroy(&c->bg_cond);
	crypt_map_clear(c, &c->active);
	crypt_map_clear(c, &c->flushing);
	crypt_entries_release(c);
	pthread_mutex_destroy(&c->free_lock);
	free(c->slot_state);
	for (unsigned int i = 0; i < c->npool; i++)
		free(c->pool[i]);
	pthread_mutex_destroy(&c->pool_lock);
	free(c->active.buckets);
	free(c->flushing.buckets);
	image_header_release(&c->hdr);
	secret_free(c->keys);
	secret_free(c->dek);
	pthread_mutex_destroy(&c->key_lock);
	pthread_mutex_destroy(&c->hdr_lock);
	pthread_mutex_destroy(&c->map_lock);
	pthread_mutex_destroy(&c->ckpt_lock);
	for (int i = 0; i < CRYPT_STRIPES; i++)
		pthread_mutex_destroy(&c->stripes[i]);
	crypt_rings_free(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void crypt_close(struct blockdev *bd)
{
	struct crypt *c = to_crypt(bd);

	/* A clean close: everything durable, then the header says so. */
	crypt_bg_stop(c);
	if (!bd->read_only && crypt_checkpoint(c) == 0) {
		c->hdr.flags &= ~IMAGE_FLAG_DIRTY;
		if (image_header_store(&c->io, &c->hdr, c->dek))
			log_error("crypt: cannot mark the image clean");
	}
	crypt_release(c);
}

void crypt_abandon(struct blockdev *bd)
{
	if (bd)
		crypt_release(to_crypt(bd));
}

void crypt_get_info(struct blockdev *bd, struct crypt_info *info)
{
	*info = to_crypt(bd)->info;
}

static const struct blockdev_ops crypt_ops = {
	.name = "crypt",
	.readv = crypt_readv,
	.writev = crypt_writev,
	.flush = crypt_flush,
	.discard = crypt_discard,
	.close = crypt_close,
};

static struct crypt *crypt_alloc(void)
{
	struct crypt *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = -1;
	pthread_mutex_init(&c->key_lock, NULL);
	pthread_mutex_init(&c->hdr_lock, NULL);
	pthread_mutex_init(&c->map_lock, NULL);
	pthread_mutex_init(&c->ckpt_lock, NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->free_lock, NULL);
	pthread_mutex_init(&c->bg_lock, NULL);
	pthread_cond_init(&c->bg_cond, NULL);
	for (int i = 0; i < CRYPT_STRIPES; i++)
		pthread_mutex_init(&c->stripes[i], NULL);
	if (crypt_map_init(&c->active) || crypt_map_init(&c->flushing) ||
	    secret_new(CRYPT_KEY_CACHE * AEAD_KEY_LEN, &c->keys)) {
		crypt_release(c);
		return NULL;
	}
	return c;
}

/* Loads and authenticates the header; refuses erased images. */
static int crypt_load_header(struct crypt *c)
{
	const char *why;
	int ret = image_header_load(&c->io, &c->hdr, &why);

	if (ret) {
		log_error("crypt: no valid image header: %s", why);
		return ret;
	}
	if (c->hdr.flags & IMAGE_FLAG_ERASED) {
		log_error("crypt: image was crypto-erased; its key can no longer be used");
		return -EKEYREVOKED;
	}
	ret = image_header_verify(&c->hdr, c->dek);
	if (ret == -EBADMSG)
		log_error("crypt: header MAC mismatch: wrong key or tampered header");
	return ret;
}

static int crypt_setup(struct crypt *c, struct secret *dek, bool read_only,
		       const struct crypt_tuning *t)
{
	int ret;

	c->dek = dek;
	if (dek->len != IMAGE_DEK_LEN)
		return -EINVAL;
	ret = crypt_load_header(c);
	if (ret)
		return ret;
	c->nblocks = c->hdr.data_size / IMAGE_BLOCK_SIZE;
	c->slot_state = calloc(c->nblocks, sizeof(*c->slot_state));
	if (!c->slot_state)
		return -ENOMEM;
	atomic_store(&c->epoch, c->hdr.epoch);
	c->cache_blocks = t && t->cache_blocks ? t->cache_blocks : CRYPT_DEFAULT_CACHE_BLOCKS;
	c->epoch_budget = t && t->epoch_budget ? t->epoch_budget : CRYPT_DEFAULT_EPOCH_BUDGET;
	c->read_path = t ? t->read_path : CRYPT_READ_AUTO;
	c->piece_blocks = t && t->piece_blocks ? MIN(t->piece_blocks, CRYPT_CHUNK_BLOCKS) :
						 CRYPT_PIECE_BLOCKS;
	/* Made now: in the VMM this runs before the jail, which forbids io_uring_setup. */
	if (c->fd >= 0 && c->read_path == CRYPT_READ_AUTO)
		crypt_rings_init(c);
	c->info.async_reads = c->rings[0] != NULL;
	if (!read_only) {
		ret = crypt_begin_session(c);
		if (ret)
			return ret;
		if (!(t && t->sync_checkpoints))
			c->bg_running = pthread_create(&c->bg_thread, NULL, crypt_bg_main, c) == 0;
	}
	memcpy(c->info.uuid, c->hdr.uuid, IMAGE_UUID_LEN);
	c->info.epoch = c->hdr.epoch;
	c->bd.ops = &crypt_ops;
	c->bd.size = c->hdr.data_size;
	c->bd.block_size = IMAGE_BLOCK_SIZE;
	c->bd.read_only = read_only;
	c->bd.priv = c;
	return 0;
}

int crypt_open_io(const struct image_io *io, struct secret *dek, bool read_only,
		  const struct crypt_tuning *tuning, struct blockdev **out)
{
	struct crypt *c = crypt_alloc();
	int ret;

	if (!c) {
		secret_free(dek);
		return -ENOMEM;
	}
	c->io = *io;
	ret = crypt_setup(c, dek, read_only, tuning);
	if (ret) {
		crypt_release(c);
		return ret;
	}
	*out = &c->bd;
	return 0;
}

int crypt_open_dek(int image_fd, struct secret *dek, bool read_only,
		   const struct crypt_tuning *tuning, struct blockdev **out)
{
	struct crypt *c = crypt_alloc();
	struct stat st;
	int ret;

	if (!c) {
		close(image_fd);
		secret_free(dek);
		return -ENOMEM;
	}
	c->fd = image_fd;
	image_io_fd(&c->io, &c->fd);
	/* One writer per image: two caches would undo each other's slots. */
	if (flock(image_fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		c->dek = dek;
		goto fail;
	}
	ret = crypt_setup(c, dek, read_only, tuning);
	if (ret)
		goto fail;
	if (fstat(image_fd, &st) < 0 ||
	    (uint64_t)st.st_size < c->hdr.data_offset + c->hdr.data_size) {
		log_error("crypt: image file is shorter than its header says");
		ret = -EUCLEAN;
		goto fail;
	}
	*out = &c->bd;
	return 0;
fail:
	crypt_release(c);
	return ret;
}

int blockdev_crypt_open_fd(int image_fd, int key_fd, bool read_only, struct blockdev **out)
{
	struct secret *dek;
	int ret = secret_from_fd(key_fd, IMAGE_DEK_LEN, &dek);

	if (ret) {
		close(image_fd);
		return ret;
	}
	return crypt_open_dek(image_fd, dek, read_only, NULL, out);
}
