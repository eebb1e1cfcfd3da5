// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: the metadata records and data blocks of an image as
 * someone with the storage would leave them (the input is XORed onto the
 * metadata area, then the data area, of a small image whose header stays
 * valid: zero bytes change nothing), read through every read path of the crypt backend (in place with
 * io_uring pieces, in place, through scratch buffers; flat and as scattered
 * pages), then opened read-write, which runs recovery on the fuzzed records.
 * Every read must fail with -EBADMSG or return exactly what was written:
 * nothing else can authenticate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/create.h"
#include "disk/crypt.h"

#define NB 8u
#define BS 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static struct secret *dek;
static uint8_t *tmpl, *img, want[NB * BS];
static size_t tmpl_len;
static uint64_t meta_off, data_off;

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void pattern(uint8_t *buf, unsigned int v)
{
	for (size_t i = 0; i < NB * BS; i++)
		buf[i] = (uint8_t)(i * 7 + v * 13 + (i >> 12));
}

static struct blockdev *open_image(bool ro, const struct crypt_tuning *t)
{
	struct secret *copy;
	struct blockdev *bd = NULL;

	check(secret_dup(dek, &copy) == 0);
	if (crypt_open_dek(dup(fd), copy, ro, t, &bd))
		return NULL;
	return bd;
}

/* An image of NB blocks written twice (both slots used), block 5 discarded, left DIRTY. */
static void setup(void)
{
	struct crypt_tuning t = { .sync_checkpoints = true };
	uint8_t uuid[16], buf[NB * BS];
	struct iovec iov = { buf, sizeof(buf) };
	struct blockdev *bd;
	uint64_t file;

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC)); /* every tampered block logs */
	fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	check(fd >= 0 && secret_new(32, &dek) == 0);
	memset(dek->data, 0x42, 32);
	check(image_new_uuid(uuid) == 0 &&
	      image_create(fd, NB * BS, uuid, dek, NULL, NULL, 1) == 0);
	bd = open_image(false, &t);
	check(bd != NULL);
	for (unsigned int v = 1; v <= 2; v++) {
		pattern(buf, v);
		check(blockdev_writev(bd, &iov, 1, 0) == 0 && blockdev_flush(bd) == 0);
	}
	check(blockdev_discard(bd, 5 * BS, BS) == 0 && blockdev_flush(bd) == 0);
	crypt_abandon(bd);
	pattern(want, 2);
	memset(want + 5 * BS, 0, BS);
	image_layout(NB * BS, &meta_off, &data_off, &file);
	tmpl_len = (size_t)file;
	tmpl = malloc(tmpl_len);
	img = malloc(tmpl_len);
	check(tmpl && img && pread(fd, tmpl, tmpl_len, 0) == (ssize_t)tmpl_len);
}

/* Reads everything through bd; every block that reads is the one written. */
static void read_all(struct blockdev *bd, bool pages)
{
	static uint8_t buf[NB * BS];
	struct iovec iov[NB];
	int ret;

	for (unsigned int i = 0; i < NB; i++)
		iov[i] = (struct iovec){ buf + (pages ? NB - 1 - i : i) * BS, BS };
	ret = blockdev_readv(bd, iov, NB, 0);
	check(ret == 0 || ret == -EBADMSG);
	for (unsigned int b = 0; ret == 0 && b < NB; b++)
		check(!memcmp(iov[b].iov_base, want + b * BS, BS));
	/* Block by block: each one authenticates or fails on its own. */
	for (unsigned int b = 0; b < NB; b++) {
		struct iovec one = { buf, BS };

		ret = blockdev_readv(bd, &one, 1, b * BS);
		check(ret == 0 || ret == -EBADMSG);
		check(ret || !memcmp(buf, want + b * BS, BS));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct crypt_tuning paths[] = {
		{ .read_path = CRYPT_READ_AUTO, .piece_blocks = 1 },
		{ .read_path = CRYPT_READ_SYNC },
		{ .read_path = CRYPT_READ_BOUNCE },
	};
	struct crypt_tuning rw = { .sync_checkpoints = true, .piece_blocks = 2 };
	size_t meta_len = NB * 64;
	struct blockdev *bd;

	if (fd < 0)
		setup();
	memcpy(img, tmpl, tmpl_len);
	for (size_t i = 0; i < size && i < meta_len + NB * BS; i++)
		img[i < meta_len ? meta_off + i : data_off + i - meta_len] ^= data[i];
	check(pwrite(fd, img, tmpl_len, 0) == (ssize_t)tmpl_len);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		bd = open_image(true, &paths[i]);
		check(bd != NULL);
		read_all(bd, i == 0);
		read_all(bd, i != 0);
		blockdev_close(bd);
	}
	/* Read-write: recovery of the DIRTY image walks the fuzzed records first. */
	bd = open_image(false, &rw);
	if (bd) {
		read_all(bd, true);
		crypt_abandon(bd);
	}
	return 0;
}
