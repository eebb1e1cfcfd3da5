/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block backends: what a virtual disk reads from and writes to.
 *
 * A backend fills a const struct blockdev_ops and is listed in the backend
 * table in blockdev.c, like SQLite's VFS: the virtio-blk device only ever
 * talks to this interface, so the raw file backend and the encrypted image
 * backend (docs/image-format.md) plug in without the device knowing which.
 *
 * Contract for every backend:
 *  - offsets and lengths are in bytes, multiples of 512, and inside
 *    [0, size); the caller (the device) checks this before calling;
 *  - ops may be called from several threads at once for disjoint ranges;
 *  - ops return 0 or a negative errno; -EBADMSG means the data failed
 *    authentication (the guest then sees an I/O error, never the bytes);
 *  - flush returns only when every write acknowledged before it is durable.
 */
#ifndef POCKETVM_DISK_BLOCKDEV_H
#define POCKETVM_DISK_BLOCKDEV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/util.h"

#define BLOCKDEV_SECTOR_SIZE 512u

struct blockdev;

struct blockdev_ops {
	const char *name;
	int (*readv)(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset);
	int (*writev)(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset);
	int (*flush)(struct blockdev *bd);
	/* May be NULL when the backend cannot discard. */
	int (*discard)(struct blockdev *bd, uint64_t offset, uint64_t len);
	void (*close)(struct blockdev *bd);
};

struct blockdev {
	const struct blockdev_ops *ops;
	uint64_t size; /* bytes the guest sees */
	uint32_t block_size; /* preferred I/O size reported to the guest */
	bool read_only;
	void *priv; /* backend state */
};

/*
 * Opens a raw image file; read_only opens it O_RDONLY and refuses writes. A
 * file that ends inside a sector is rounded up to the whole sector: the
 * missing bytes read as zeroes and a write there extends the file.
 */
int blockdev_raw_open(const char *path, bool read_only, struct blockdev **out) __must_check;

/*
 * Same on an fd the caller already opened (the jailed VMM receives fds, not
 * paths). Takes ownership of fd, also on failure.
 */
int blockdev_raw_open_fd(int fd, bool read_only, struct blockdev **out) __must_check;

/*
 * Opens an encrypted image (docs/image-format.md) for the jailed VMM, which
 * receives fds, not paths: image_fd is the image (opened O_RDWR, or O_RDONLY
 * with read_only), key_fd carries the 32-byte data-encryption key (a
 * memfd_secret or memfd the launcher filled, or a pipe). Takes ownership of
 * both fds, also on failure; key_fd is closed before this returns and the
 * key lives only in secret memory, wiped by blockdev_close(). Reads of a
 * block that fails authentication return -EBADMSG. See crypt.h for the
 * other error codes.
 */
int blockdev_crypt_open_fd(int image_fd, int key_fd, bool read_only,
			   struct blockdev **out) __must_check;

/* Checks the common contract (alignment, bounds, read-only) for one request. */
int blockdev_check_range(const struct blockdev *bd, uint64_t offset, uint64_t len,
			 bool write) __must_check;

static inline int blockdev_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt,
				 uint64_t offset)
{
	return bd->ops->readv(bd, iov, iovcnt, offset);
}

static inline int blockdev_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt,
				  uint64_t offset)
{
	return bd->ops->writev(bd, iov, iovcnt, offset);
}

static inline int blockdev_flush(struct blockdev *bd)
{
	return bd->ops->flush(bd);
}

/* Discards a range (it then reads as zeroes); -EOPNOTSUPP if the backend cannot. */
static inline int blockdev_discard(struct blockdev *bd, uint64_t offset, uint64_t len)
{
	return bd->ops->discard ? bd->ops->discard(bd, offset, len) : -EOPNOTSUPP;
}

/* Frees the backend and everything it holds; NULL is a no-op. */
void blockdev_close(struct blockdev *bd);

#endif
