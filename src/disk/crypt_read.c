// SPDX-License-Identifier: Apache-2.0
/*
 * The crypt backend's read path (docs/image-format.md, docs/benchmarks/disk.md).
 *
 * Whole blocks that each lie inside one element of the caller's iovecs (the
 * usual case: guest pages) are read in place: the ciphertext is read
 * straight into the caller's buffer and opened there, block by block, with
 * the block's current slot. Only ciphertext and authenticated plaintext are
 * ever left there: a block that fails to authenticate is wiped by the AEAD,
 * read again and tried with both slots (crypt_open_block), and a failed
 * request wipes the whole chunk. Requests larger than CRYPT_PIECE_BLOCKS
 * (128 KiB) are cut into pieces of that size: the caller reads the first
 * piece itself and an io_uring worker (crypt_uring.c) reads the others while
 * the caller opens the ones before, so the copy from the page cache overlaps
 * the crypto. Smaller pieces lose more to the hand-over between CPUs than
 * the overlap gains (docs/benchmarks/disk.md). Every piece given to the
 * kernel is waited for before the request returns.
 *
 * Other requests (sector-sized edges, blocks split across iovec elements)
 * are read into a scratch buffer, opened into another and copied out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

size_t crypt_iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

void crypt_iov_xfer(const struct iovec *iov, int iovcnt, size_t skip, uint8_t *flat, size_t n,
		    bool to_iov)
{
	for (int i = 0; i < iovcnt && n; i++) {
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		size_t k = MIN(len - skip, n);
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;

		if (to_iov)
			memcpy(p, flat, k);
		else
			memcpy(flat, p, k);
		flat += k;
		n -= k;
		skip = 0;
	}
}

const uint8_t *crypt_iov_flat(const struct iovec *iov, int iovcnt, size_t pos, size_t n)
{
	for (int i = 0; i < iovcnt; i++) {
		if (pos < iov[i].iov_len)
			return iov[i].iov_len - pos >= n ? (const uint8_t *)iov[i].iov_base + pos :
							   NULL;
		pos -= iov[i].iov_len;
	}
	return NULL;
}

/*
 * Where each of n whole blocks from byte pos of the iovecs goes; false when
 * one of them is split across two elements.
 */
static bool iov_blocks(const struct iovec *iov, int iovcnt, size_t pos, uint64_t n, uint8_t **dst)
{
	int i = 0;

	while (i < iovcnt && pos >= iov[i].iov_len) {
		pos -= iov[i].iov_len;
		i++;
	}
	for (uint64_t b = 0; b < n;) {
		if (i >= iovcnt)
			return false;
		if (pos == iov[i].iov_len) {
			i++;
			pos = 0;
			continue;
		}
		if (iov[i].iov_len - pos < IMAGE_BLOCK_SIZE)
			return false;
		dst[b++] = (uint8_t *)iov[i].iov_base + pos;
		pos += IMAGE_BLOCK_SIZE;
	}
	return true;
}

/*
 * Copies the cached blocks among [first, first + n) into cbuf, their slots
 * into cmeta (one-slot records); *hit says whether any was. Must run before
 * the image is read: a block absent from the cache then cannot be
 * checkpointed under us (callers never overlap).
 */
static int cache_collect(struct crypt *c, uint64_t first, uint64_t n, uint8_t **cbuf,
			 uint8_t **cmeta)
{
	*cbuf = NULL;
	*cmeta = NULL;
	if (!atomic_load(&c->cached))
		return 0;
	*cbuf = malloc(n * IMAGE_BLOCK_SIZE);
	*cmeta = calloc(n, IMAGE_RECORD_SIZE);
	if (!*cbuf || !*cmeta)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		struct crypt_slot s;

		if (crypt_cache_lookup(c, first + i, *cbuf + i * IMAGE_BLOCK_SIZE, &s))
			crypt_slot_put(*cmeta + i * IMAGE_RECORD_SIZE, &s);
	}
	return 0;
}

/* Only cached records have a non-zero stamp in cmeta. */
static bool is_cached(const uint8_t *cmeta, uint64_t i)
{
	return cmeta && memcmp(cmeta + i * IMAGE_RECORD_SIZE + 28, "\0\0\0\0", 4);
}

static void log_bad(uint64_t b)
{
	log_error("crypt: block %llu failed authentication", (unsigned long long)b);
}

int crypt_read_blocks(struct crypt *c, struct aead *a, uint64_t first, uint64_t n, uint8_t *ct,
		      uint8_t *out)
{
	uint8_t meta_local[8 * IMAGE_RECORD_SIZE];
	uint8_t *meta = n <= 8 ? meta_local : malloc(n * IMAGE_RECORD_SIZE);
	uint8_t *cbuf = NULL, *cmeta = NULL;
	uint32_t keyed = 0;
	int ret;

	if (!meta)
		return -ENOMEM;
	ret = cache_collect(c, first, n, &cbuf, &cmeta);
	if (!ret)
		ret = c->io.pread(c->io.ctx, ct, n * IMAGE_BLOCK_SIZE,
				  c->hdr.data_offset + first * IMAGE_BLOCK_SIZE);
	if (!ret)
		ret = c->io.pread(c->io.ctx, meta, n * IMAGE_RECORD_SIZE,
				  c->hdr.meta_offset + first * IMAGE_RECORD_SIZE);
	for (uint64_t i = 0; !ret && i < n; i++) {
		const uint8_t *blk = ct + i * IMAGE_BLOCK_SIZE;
		const uint8_t *rec = meta + i * IMAGE_RECORD_SIZE;

		if (is_cached(cmeta, i)) {
			blk = cbuf + i * IMAGE_BLOCK_SIZE;
			rec = cmeta + i * IMAGE_RECORD_SIZE;
		}
		ret = crypt_open_block(c, a, &keyed, first + i, blk, out + i * IMAGE_BLOCK_SIZE,
				       rec, NULL);
		if (ret == -EBADMSG)
			log_bad(first + i);
	}
	free(cmeta);
	free(cbuf);
	if (meta != meta_local)
		free(meta);
	return ret;
}

/* Fills iov (cnt elements, len bytes) from off, directly. */
static int read_piece(struct crypt *c, const struct crypt_piece *p)
{
	uint64_t off = p->off;
	ssize_t got = 0;
	int ret = 0;

	if (c->fd >= 0) {
		do {
			got = preadv(c->fd, p->iov, p->iovcnt, (off_t)off);
		} while (got < 0 && errno == EINTR);
		if (got < 0)
			return -errno;
		if ((size_t)got == p->len)
			return 0;
	}
	/* Short (or no fd): element by element from where it stopped; EOF is -EIO. */
	for (int i = 0; !ret && i < p->iovcnt; i++) {
		size_t len = p->iov[i].iov_len, skip = MIN((size_t)got, len);

		got -= (ssize_t)skip;
		if (skip < len)
			ret = c->io.pread(c->io.ctx, (uint8_t *)p->iov[i].iov_base + skip,
					  len - skip, off + skip);
		off += len;
	}
	return ret;
}

/* Opens block b in place at dst, falling back to a fresh copy and both slots. */
static int open_in_place(struct crypt *c, struct aead *a, uint32_t *keyed, uint64_t b, uint8_t *dst,
			 const uint8_t *rec)
{
	uint8_t ct[IMAGE_BLOCK_SIZE];
	struct crypt_slot s;
	int ret;

	crypt_slot_get(rec, crypt_record_current(rec), &s);
	ret = crypt_open_slot(c, a, keyed, b, dst, dst, &s);
	if (ret != -EBADMSG)
		return ret;
	/* The failed attempt consumed the ciphertext (a crash left the other slot current?). */
	ret = c->io.pread(c->io.ctx, ct, sizeof(ct), c->hdr.data_offset + b * IMAGE_BLOCK_SIZE);
	return ret ? ret : crypt_open_block(c, a, keyed, b, ct, dst, rec, NULL);
}

/* State of one in-place chunk: where its blocks go and how it is cut into pieces. */
struct inplace {
	uint64_t first, n;
	uint8_t *dst[CRYPT_CHUNK_BLOCKS];
	struct iovec seg[CRYPT_CHUNK_BLOCKS];
	struct crypt_piece piece[CRYPT_CHUNK_BLOCKS];
	unsigned int npieces, per_piece;
	uint8_t meta[CRYPT_CHUNK_BLOCKS * IMAGE_RECORD_SIZE];
};

/* Cuts the chunk into pieces of per_piece blocks, merging adjacent buffers. */
static void plan_pieces(struct crypt *c, struct inplace *r)
{
	unsigned int nseg = 0;

	r->npieces = 0;
	for (uint64_t b = 0; b < r->n; b++) {
		bool start = b % r->per_piece == 0;

		if (start) {
			r->piece[r->npieces++] = (struct crypt_piece){
				.iov = &r->seg[nseg],
				.off = c->hdr.data_offset + (r->first + b) * IMAGE_BLOCK_SIZE,
			};
		}
		struct crypt_piece *p = &r->piece[r->npieces - 1];

		if (!start && r->dst[b] == r->dst[b - 1] + IMAGE_BLOCK_SIZE) {
			r->seg[nseg - 1].iov_len += IMAGE_BLOCK_SIZE;
		} else {
			r->seg[nseg++] = (struct iovec){ r->dst[b], IMAGE_BLOCK_SIZE };
			p->iovcnt++;
		}
		p->len += IMAGE_BLOCK_SIZE;
	}
}

/* Opens the blocks of piece j, in place or from the cached copies. */
static int open_piece(struct crypt *c, struct aead *a, uint32_t *keyed, struct inplace *r,
		      unsigned int j, const uint8_t *cbuf, const uint8_t *cmeta)
{
	uint64_t end = MIN((uint64_t)(j + 1) * r->per_piece, r->n);
	int ret = 0;

	for (uint64_t i = (uint64_t)j * r->per_piece; !ret && i < end; i++) {
		if (is_cached(cmeta, i))
			ret = crypt_open_block(c, a, keyed, r->first + i,
					       cbuf + i * IMAGE_BLOCK_SIZE, r->dst[i],
					       cmeta + i * IMAGE_RECORD_SIZE, NULL);
		else
			ret = open_in_place(c, a, keyed, r->first + i, r->dst[i],
					    r->meta + i * IMAGE_RECORD_SIZE);
		if (ret == -EBADMSG)
			log_bad(r->first + i);
	}
	return ret;
}

/*
 * Reads the chunk in place. Pieces 1.. go to the ring (when there is one)
 * before the caller reads the metadata and piece 0 itself; then each piece
 * is opened once its read completed. Whatever happens, every piece the
 * kernel took is reaped before this returns.
 */
static int read_inplace(struct crypt *c, struct aead *a, struct inplace *r, struct crypt_ring *ring)
{
	int res[CRYPT_CHUNK_BLOCKS];
	uint64_t done_mask[CRYPT_CHUNK_BLOCKS / 64] = { 0 };
	unsigned int taken = 0, reaped = 0;
	uint8_t *cbuf, *cmeta;
	uint32_t keyed = 0;
	int ret;

	plan_pieces(c, r);
	ret = cache_collect(c, r->first, r->n, &cbuf, &cmeta);
	if (!ret && ring && r->npieces > 1) {
		int n = crypt_ring_submit(ring, c->fd, r->piece + 1, r->npieces - 1);

		taken = n > 0 ? (unsigned int)n : 0;
	}
	if (!ret)
		ret = c->io.pread(c->io.ctx, r->meta, r->n * IMAGE_RECORD_SIZE,
				  c->hdr.meta_offset + r->first * IMAGE_RECORD_SIZE);
	for (unsigned int j = 0; j < r->npieces; j++) {
		bool async = j >= 1 && j <= taken;

		while (async && !(done_mask[j / 64] & (1ull << (j % 64)))) {
			unsigned int idx;
			int v;

			crypt_ring_reap(ring, &idx, &v);
			res[idx + 1] = v;
			done_mask[(idx + 1) / 64] |= 1ull << ((idx + 1) % 64);
			reaped++;
		}
		if (ret)
			continue; /* still reaping: the kernel may be writing these buffers */
		/* Short or failed in the ring: read directly, which reports a real error. */
		if (!async || res[j] != (int)r->piece[j].len)
			ret = read_piece(c, &r->piece[j]);
		if (!ret)
			ret = open_piece(c, a, &keyed, r, j, cbuf, cmeta);
	}
	while (reaped < taken) {
		unsigned int idx;
		int v;

		crypt_ring_reap(ring, &idx, &v);
		reaped++;
	}
	if (ret)
		for (uint64_t i = 0; i < r->n; i++)
			explicit_bzero(r->dst[i], IMAGE_BLOCK_SIZE);
	free(cmeta);
	free(cbuf);
	return ret;
}

void *crypt_buf_get(struct crypt *c)
{
	void *buf = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->npool)
		buf = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_lock);
	return buf ? buf : malloc(CRYPT_BUF_SIZE);
}

void crypt_buf_put(struct crypt *c, void *buf)
{
	if (!buf)
		return;
	pthread_mutex_lock(&c->pool_lock);
	if (c->npool < ARRAY_SIZE(c->pool)) {
		c->pool[c->npool++] = buf;
		buf = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	free(buf);
}

/* Through scratch buffers: for requests not made of whole blocks in place. */
static int read_bounce(struct crypt *c, struct aead *a, const struct iovec *iov, int iovcnt,
		       size_t done, uint64_t first, uint64_t n, size_t skip, size_t k,
		       uint8_t **bufs)
{
	int ret;

	for (int i = 0; i < 2; i++)
		if (!bufs[i] && !(bufs[i] = crypt_buf_get(c)))
			return -ENOMEM;
	ret = crypt_read_blocks(c, a, first, n, bufs[0], bufs[1]);
	if (!ret)
		crypt_iov_xfer(iov, iovcnt, done, bufs[1] + skip, k, true);
	explicit_bzero(bufs[1], n * IMAGE_BLOCK_SIZE); /* plaintext: wiped before reuse */
	return ret;
}

int crypt_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct crypt *c = bd->priv;
	size_t len = crypt_iov_total(iov, iovcnt), done = 0;
	uint8_t *bufs[2] = { NULL, NULL }; /* ciphertext, plaintext */
	struct crypt_ring *ring = NULL;
	struct inplace *r = NULL;
	struct aead *a;
	int ret;

	ret = blockdev_check_range(bd, off, len, false);
	ret = ret ? ret : atomic_load(&c->failed);
	if (ret || len == 0)
		return ret;
	a = aead_new();
	if (!a)
		return -ENOMEM;
	while (!ret && done < len) {
		uint64_t pos = off + done;
		uint64_t first = pos / IMAGE_BLOCK_SIZE;
		size_t skip = pos % IMAGE_BLOCK_SIZE;
		uint64_t n = MIN((uint64_t)CRYPT_CHUNK_BLOCKS,
				 (skip + (len - done) + IMAGE_BLOCK_SIZE - 1) / IMAGE_BLOCK_SIZE);
		size_t k = MIN(len - done, n * IMAGE_BLOCK_SIZE - skip);
		bool whole = skip == 0 && k == n * IMAGE_BLOCK_SIZE;

		if (whole && c->read_path != CRYPT_READ_BOUNCE && !r && !(r = malloc(sizeof(*r)))) {
			ret = -ENOMEM;
			break;
		}
		if (whole && c->read_path != CRYPT_READ_BOUNCE &&
		    iov_blocks(iov, iovcnt, done, n, r->dst)) {
			r->first = first;
			r->n = n;
			if (c->read_path == CRYPT_READ_AUTO && !ring && n > c->piece_blocks)
				ring = crypt_ring_get(c);
			/* Without a ring, one direct read per chunk. */
			r->per_piece = ring ? c->piece_blocks : (unsigned int)n;
			ret = read_inplace(c, a, r, ring);
		} else {
			ret = read_bounce(c, a, iov, iovcnt, done, first, n, skip, k, bufs);
		}
		done += k;
	}
	crypt_ring_put(ring);
	free(r);
	crypt_buf_put(c, bufs[1]);
	crypt_buf_put(c, bufs[0]);
	aead_free(a);
	return ret;
}
