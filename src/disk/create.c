// SPDX-License-Identifier: Apache-2.0
#include "disk/create.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "disk/crypt.h"
#include "disk/image.h"

#define FILL_CHUNK (1024u * 1024u)

struct fill {
	struct blockdev *dst;
	struct blockdev *src;
	pthread_mutex_t lock;
	uint64_t next; /* next chunk offset to hand out */
	int ret;
};

static bool block_is_zero(const uint8_t *p)
{
	static const uint8_t zero[IMAGE_BLOCK_SIZE];

	return !memcmp(p, zero, IMAGE_BLOCK_SIZE);
}

/*
 * Stores one chunk: runs of all-zero blocks become authenticated zero
 * blocks (nothing written: the image stays sparse), the rest is sealed.
 */
static int fill_chunk(struct blockdev *dst, const uint8_t *buf, uint64_t off, uint64_t len)
{
	int ret = 0;

	for (uint64_t i = 0; !ret && i < len;) {
		bool zero = block_is_zero(buf + i);
		uint64_t j = i + IMAGE_BLOCK_SIZE;

		while (j < len && block_is_zero(buf + j) == zero)
			j += IMAGE_BLOCK_SIZE;
		if (zero) {
			ret = blockdev_discard(dst, off + i, j - i);
		} else {
			struct iovec iov = { (void *)(buf + i), j - i };

			ret = blockdev_writev(dst, &iov, 1, off + i);
		}
		i = j;
	}
	return ret;
}

/* Each thread takes 1 MiB chunks in turn until done or something fails. */
static void *fill_worker(void *arg)
{
	struct fill *f = arg;
	uint8_t *buf = calloc(1, FILL_CHUNK);
	int ret = buf ? 0 : -ENOMEM;

	while (!ret) {
		uint64_t off, len;

		pthread_mutex_lock(&f->lock);
		off = f->next;
		len = MIN((uint64_t)FILL_CHUNK, f->dst->size - MIN(off, f->dst->size));
		f->next += len;
		if (f->ret)
			len = 0;
		pthread_mutex_unlock(&f->lock);
		if (len == 0)
			break;
		memset(buf, 0, FILL_CHUNK);
		if (f->src && off < f->src->size) {
			struct iovec riov = { buf, MIN(len, f->src->size - off) };

			ret = blockdev_readv(f->src, &riov, 1, off);
		}
		if (!ret)
			ret = fill_chunk(f->dst, buf, off, len);
	}
	if (ret) {
		pthread_mutex_lock(&f->lock);
		if (!f->ret)
			f->ret = ret;
		pthread_mutex_unlock(&f->lock);
	}
	if (buf)
		explicit_bzero(buf, FILL_CHUNK);
	free(buf);
	return NULL;
}

int secret_dup(const struct secret *s, struct secret **out)
{
	int ret = secret_new(s->len, out);

	if (!ret)
		memcpy((*out)->data, s->data, s->len);
	return ret;
}

int image_new_uuid(uint8_t uuid[IMAGE_UUID_LEN])
{
	int ret = crypto_random(uuid, IMAGE_UUID_LEN);

	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* RFC 4122 version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	return ret;
}

int image_create(int fd, uint64_t data_size, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek, const char *bindings, struct blockdev *src,
		 unsigned int threads)
{
	struct fill f = { .src = src };
	pthread_t tids[16];
	unsigned int started = 0;
	struct secret *copy;
	int dfd, ret;

	/* Nothing of the source may be lost: it must fit (see create.h). */
	if (src && src->size > data_size)
		return -EFBIG;
	ret = image_format(fd, data_size, uuid, dek, bindings);
	if (ret)
		return ret;
	ret = secret_dup(dek, &copy);
	if (ret)
		return ret;
	dfd = dup(fd);
	if (dfd < 0) {
		secret_free(copy);
		return -errno;
	}
	ret = crypt_open_dek(dfd, copy, false, NULL, &f.dst);
	if (ret)
		return ret;
	pthread_mutex_init(&f.lock, NULL);
	threads = MAX(1u, MIN(threads, (unsigned int)ARRAY_SIZE(tids)));
	for (unsigned int i = 0; i < threads; i++) {
		if (pthread_create(&tids[i], NULL, fill_worker, &f) != 0)
			break;
		started++;
	}
	if (started == 0)
		fill_worker(&f);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	ret = f.ret;
	if (!ret)
		ret = blockdev_flush(f.dst);
	blockdev_close(f.dst);
	/* The lock was taken through a dup of fd: it outlives the close. */
	flock(fd, LOCK_UN);
	pthread_mutex_destroy(&f.lock);
	return ret;
}
