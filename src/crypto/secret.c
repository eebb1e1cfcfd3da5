// SPDX-License-Identifier: Apache-2.0
#include "crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

static int memfd_secret_create(void)
{
	return (int)syscall(SYS_memfd_secret, (unsigned int)O_CLOEXEC);
}

bool secret_memfd_available(void)
{
	int fd = memfd_secret_create();

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Maps map_len bytes of memfd_secret memory, or returns MAP_FAILED. */
static void *map_secretmem(size_t map_len)
{
	void *p = MAP_FAILED;
	int fd = memfd_secret_create();

	if (fd < 0)
		return MAP_FAILED;
	if (ftruncate(fd, (off_t)map_len) == 0)
		p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

/* The fallback: locked, not dumped, not inherited anonymous memory. */
static void *map_locked(size_t map_len)
{
	void *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return p;
	if (mlock(p, map_len) < 0 || madvise(p, map_len, MADV_DONTDUMP) < 0 ||
	    madvise(p, map_len, MADV_DONTFORK) < 0) {
		int err = errno;

		munmap(p, map_len);
		errno = err;
		return MAP_FAILED;
	}
	return p;
}

int secret_new(size_t len, struct secret **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct secret *s;

	if (len == 0 || len > (1u << 20))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->len = len;
	s->map_len = ALIGN_UP(len, (size_t)page);
	s->data = map_secretmem(s->map_len);
	s->secretmem = s->data != MAP_FAILED;
	if (!s->secretmem)
		s->data = map_locked(s->map_len);
	if (s->data == MAP_FAILED) {
		int err = -errno;

		free(s);
		return err;
	}
	*out = s;
	return 0;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	explicit_bzero(s->data, s->map_len);
	munmap(s->data, s->map_len);
	free(s);
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		got += (size_t)n;
	}
	return 0;
}

static int map_copy(int fd, uint8_t *buf, size_t len)
{
	struct stat st;
	void *p;

	/* memfd_secret reports size 0 to fstat on some kernels; trust mmap. */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && st.st_size != 0 && (size_t)st.st_size < len)
		return -ENODATA;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	memcpy(buf, p, len);
	munmap(p, len);
	return 0;
}

int secret_from_fd(int fd, size_t len, struct secret **out)
{
	struct secret *s = NULL;
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = secret_new(len, &s);
	if (ret)
		goto out;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode))
		ret = read_full(fd, s->data, len);
	else
		ret = map_copy(fd, s->data, len);
	if (ret) {
		secret_free(s);
		goto out;
	}
	*out = s;
out:
	close(fd);
	return ret;
}

int secret_to_fd(const struct secret *s, int *fd_out)
{
	bool sealed = false;
	int fd = memfd_secret_create();
	void *p;
	int ret;

	if (fd < 0) {
		fd = memfd_create("pocketvm-key", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return -errno;
		sealed = true;
	}
	if (ftruncate(fd, (off_t)s->map_len) < 0)
		goto fail;
	p = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	memcpy(p, s->data, s->len);
	munmap(p, s->map_len);
	if (sealed &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	*fd_out = fd;
	return 0;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

bool secret_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
