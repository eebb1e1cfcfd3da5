// SPDX-License-Identifier: Apache-2.0
/* The raw backend: the guest's disk is a plain file or block device. */
#include "disk/blockdev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw {
	struct blockdev bd;
	int fd;
	/*
	 * The file's size at open when it ends inside a sector: reads from there
	 * to the end of that sector return zeroes instead of hitting EOF.
	 */
	uint64_t tail_end;
};

static struct raw *to_raw(struct blockdev *bd)
{
	return (struct raw *)bd;
}

/* Advances an iovec array past n bytes that were already transferred. */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (n > 0 && *iovcnt > 0) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (char *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
}

/*
 * preadv/pwritev may transfer less than asked; loop until done. The iovecs
 * are copied because finishing a short transfer modifies them.
 */
static int raw_rw(struct raw *r, const struct iovec *iov_in, int iovcnt, uint64_t offset,
		  bool write)
{
	struct iovec local[64], *iov = local;
	size_t total = 0;
	int ret = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if ((size_t)iovcnt > ARRAY_SIZE(local)) {
		iov = calloc((size_t)iovcnt, sizeof(*iov));
		if (!iov)
			return -ENOMEM;
	}
	struct iovec *start = iov;
	for (int i = 0; i < iovcnt; i++) {
		iov[i] = iov_in[i];
		total += iov[i].iov_len;
	}
	ret = blockdev_check_range(&r->bd, offset, total, write);
	while (ret == 0 && iovcnt > 0) {
		ssize_t n = write ? pwritev(r->fd, iov, iovcnt, (off_t)offset) :
				    preadv(r->fd, iov, iovcnt, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0 && !write && r->tail_end && offset >= r->tail_end) {
			/* The padding of a trailing partial sector. */
			for (int i = 0; i < iovcnt; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			break;
		}
		if (n == 0) {
			/* Reading past a file that shrank under us. */
			ret = -EIO;
			break;
		}
		offset += (uint64_t)n;
		iov_advance(&iov, &iovcnt, (size_t)n);
	}
	if (start != local)
		free(start);
	return ret;
}

static int raw_readv(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return raw_rw(to_raw(bd), iov, iovcnt, offset, false);
}

static int raw_writev(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return raw_rw(to_raw(bd), iov, iovcnt, offset, true);
}

static int raw_flush(struct blockdev *bd)
{
	if (bd->read_only)
		return 0;
	return fdatasync(to_raw(bd)->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct blockdev *bd, uint64_t offset, uint64_t len)
{
	int ret = blockdev_check_range(bd, offset, len, true);

	if (ret)
		return ret;
	/* Keep the size: the guest still sees zeroes there. */
	if (fallocate(to_raw(bd)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}

static void raw_close(struct blockdev *bd)
{
	struct raw *r = to_raw(bd);

	close(r->fd);
	free(r);
}

static const struct blockdev_ops raw_ops = {
	.name = "raw",
	.readv = raw_readv,
	.writev = raw_writev,
	.flush = raw_flush,
	.discard = raw_discard,
	.close = raw_close,
};

int blockdev_raw_open_fd(int fd, bool read_only, struct blockdev **out)
{
	struct stat st;
	uint64_t size;
	struct raw *r;

	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		close(fd);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return -ENOMEM;
	}
	r->fd = fd;
	r->bd.ops = &raw_ops;
	/*
	 * A trailing partial sector is rounded up (as QEMU does), never dropped:
	 * its missing bytes read as zeroes, and a write there extends the file to
	 * the whole sector. A source image thus keeps every byte it has.
	 */
	r->bd.size = ALIGN_UP(size, (uint64_t)BLOCKDEV_SECTOR_SIZE);
	if (size % BLOCKDEV_SECTOR_SIZE)
		r->tail_end = size;
	r->bd.block_size = 4096;
	r->bd.read_only = read_only;
	r->bd.priv = r;
	*out = &r->bd;
	return 0;
}

int blockdev_raw_open(const char *path, bool read_only, struct blockdev **out)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return blockdev_raw_open_fd(fd, read_only, out);
}
