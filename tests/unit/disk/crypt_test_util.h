/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the crypt backend tests. */
#ifndef POCKETVM_TESTS_CRYPT_TEST_UTIL_H
#define POCKETVM_TESTS_CRYPT_TEST_UTIL_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "disk/create.h"
#include "disk/crypt.h"

static inline struct secret *test_dek(uint8_t fill)
{
	struct secret *s = NULL;

	if (secret_new(IMAGE_DEK_LEN, &s))
		abort();
	memset(s->data, fill, IMAGE_DEK_LEN);
	return s;
}

/* A fresh temp image of size bytes, all blocks sealed zeroes; returns its fd. */
static inline int test_image(char *path, uint64_t size, const struct secret *dek)
{
	uint8_t uuid[IMAGE_UUID_LEN];
	int fd = mkstemp(path);

	if (fd < 0 || image_new_uuid(uuid) || image_create(fd, size, uuid, dek, NULL, NULL, 2))
		abort();
	return fd;
}

/* Opens path with a copy of dek. */
static inline int test_open(const char *path, const struct secret *dek, bool ro,
			    const struct crypt_tuning *t, struct blockdev **bd)
{
	struct secret *copy;
	int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0 || secret_dup(dek, &copy))
		abort();
	return crypt_open_dek(fd, copy, ro, t, bd);
}

static inline int test_rw(struct blockdev *bd, void *buf, size_t len, uint64_t off, bool write)
{
	struct iovec iov = { buf, len };

	return write ? blockdev_writev(bd, &iov, 1, off) : blockdev_readv(bd, &iov, 1, off);
}

/* Deterministic contents for block b, version v. */
static inline void test_pattern(uint8_t *buf, size_t len, uint64_t b, unsigned int v)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(b * 31 + v * 17 + i * 7 + (i >> 8));
}

#endif
