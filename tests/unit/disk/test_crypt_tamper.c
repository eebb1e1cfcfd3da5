// SPDX-License-Identifier: Apache-2.0
/*
 * Tamper evidence: a flipped bit anywhere in data, metadata or header makes
 * that block fail with -EBADMSG (or the image refuse to open); the reader
 * never sees wrong plaintext. Blocks moved or swapped fail too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>

#include "common/log.h"
#include "crypt_test_util.h"
#include "crypto/kdf.h"
#include "disk/crypt_priv.h"
#include "disk/image.h"

#define NBLOCKS 16u
#define BS 4096u

static char path[] = "/tmp/pocketvm-test-tamper-XXXXXX";
static struct secret *dek;
static uint8_t want[NBLOCKS * BS];
static uint64_t meta_off, data_off;

static void flip(uint64_t off, int bit)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t b;

	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= (uint8_t)(1u << bit);
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/*
 * The whole image in one request, as scattered 4 KiB pages, through one read
 * path: it succeeds only if every block authenticates (then with exactly
 * what was written); when one fails, the request fails and the buffer holds
 * no plaintext nor ciphertext of any block (wiped, or never written).
 */
static void read_whole(enum crypt_read_path p, bool want_ok)
{
	struct crypt_tuning t = { .read_path = p, .piece_blocks = 1 };
	static uint8_t buf[NBLOCKS * BS];
	struct iovec iov[NBLOCKS];
	struct blockdev *bd;
	int ret;

	for (unsigned int i = 0; i < NBLOCKS; i++)
		iov[i] = (struct iovec){ buf + (NBLOCKS - 1 - i) * BS, BS };
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(test_open(path, dek, true, &t, &bd), 0);
	ret = blockdev_readv(bd, iov, NBLOCKS, 0);
	blockdev_close(bd);
	if (want_ok) {
		assert_int_equal(ret, 0);
		for (unsigned int b = 0; b < NBLOCKS; b++)
			assert_memory_equal(buf + (NBLOCKS - 1 - b) * BS, want + b * BS, BS);
		return;
	}
	assert_int_equal(ret, -EBADMSG);
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != (p == CRYPT_READ_BOUNCE ? 0xee : 0))
			fail_msg("read path %d left byte %zu = %#x after a failed read", p, i,
				 buf[i]);
}

/* Reads block by block; returns a bitmask of blocks that failed with -EBADMSG. */
static uint32_t read_check(void)
{
	struct blockdev *bd;
	uint8_t buf[BS];
	uint32_t bad = 0;

	assert_int_equal(test_open(path, dek, true, NULL, &bd), 0);
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		int ret = test_rw(bd, buf, BS, b * BS, false);

		if (ret == -EBADMSG) {
			bad |= 1u << b;
			continue;
		}
		assert_int_equal(ret, 0);
		/* Whatever authenticates is exactly what was written. */
		assert_memory_equal(buf, want + b * BS, BS);
	}
	blockdev_close(bd);
	/* Large requests, in place (pieces on io_uring, or not) and through scratch buffers. */
	read_whole(CRYPT_READ_AUTO, bad == 0);
	read_whole(CRYPT_READ_SYNC, bad == 0);
	read_whole(CRYPT_READ_BOUNCE, bad == 0);
	return bad;
}

static int setup(void **state)
{
	struct blockdev *bd;
	uint64_t file;
	int fd;

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	dek = test_dek(0x77);
	fd = test_image(path, NBLOCKS * BS, dek);
	close(fd);
	/* Two generations, so both slots of every record are in use. */
	for (unsigned int v = 1; v <= 2; v++) {
		assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
		for (unsigned int b = 0; b < NBLOCKS; b++)
			test_pattern(want + b * BS, BS, b, v);
		assert_int_equal(test_rw(bd, want, sizeof(want), 0, true), 0);
		blockdev_close(bd);
	}
	image_layout(NBLOCKS * BS, &meta_off, &data_off, &file);
	assert_int_equal(read_check(), 0);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	secret_free(dek);
	return 0;
}

static void test_data_bits(void **state)
{
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		for (unsigned int k = 0; k < 4; k++) {
			uint64_t off = data_off + b * BS + (k * 1361 + b * 7) % BS;

			flip(off, (int)(k + b) % 8);
			assert_int_equal(read_check(), 1u << b);
			flip(off, (int)(k + b) % 8);
		}
	}
	assert_int_equal(read_check(), 0);
}

/* Every bit of the current slot matters; the stale slot never yields wrong data. */
static void test_metadata_bits(void **state)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned int hits = 0;

	for (unsigned int b = 0; b < NBLOCKS; b += 3) {
		for (unsigned int byte = 0; byte < IMAGE_RECORD_SIZE; byte++) {
			uint64_t off = meta_off + b * IMAGE_RECORD_SIZE + byte;
			uint32_t bad;

			flip(off, (int)byte % 8);
			bad = read_check();
			flip(off, (int)byte % 8);
			assert_int_equal(bad & ~(1u << b), 0);
			hits += bad != 0;
		}
	}
	close(fd);
	/* The current slot is half of each record: 32 bytes of 64. */
	assert_int_equal(hits, 32 * ((NBLOCKS + 2) / 3));
}

static void swap_blocks(unsigned int a, unsigned int b)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t x[BS + IMAGE_RECORD_SIZE], y[BS + IMAGE_RECORD_SIZE];

	assert_int_equal(pread(fd, x, BS, (off_t)(data_off + a * BS)), BS);
	assert_int_equal(pread(fd, y, BS, (off_t)(data_off + b * BS)), BS);
	assert_int_equal(pread(fd, x + BS, 64, (off_t)(meta_off + a * 64)), 64);
	assert_int_equal(pread(fd, y + BS, 64, (off_t)(meta_off + b * 64)), 64);
	assert_int_equal(pwrite(fd, y, BS, (off_t)(data_off + a * BS)), BS);
	assert_int_equal(pwrite(fd, x, BS, (off_t)(data_off + b * BS)), BS);
	assert_int_equal(pwrite(fd, y + BS, 64, (off_t)(meta_off + a * 64)), 64);
	assert_int_equal(pwrite(fd, x + BS, 64, (off_t)(meta_off + b * 64)), 64);
	close(fd);
}

static void test_swapped_blocks(void **state)
{
	swap_blocks(2, 9);
	assert_int_equal(read_check(), (1u << 2) | (1u << 9));
	swap_blocks(2, 9);
	assert_int_equal(read_check(), 0);
}

/*
 * A block whose data is its previous version (a crash between the slot and
 * the data write, or the documented single-block rollback): the current slot
 * fails, the other one authenticates, and every read path, in place
 * included, returns the previous contents.
 */
static void test_previous_version(void **state)
{
	uint8_t old[BS], cur[BS];
	struct blockdev *bd;
	int fd;

	/* Version 3 of block 6, keeping version 2's ciphertext aside. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_int_equal(pread(fd, old, BS, (off_t)(data_off + 6 * BS)), BS);
	close(fd);
	test_pattern(cur, BS, 6, 3);
	assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, cur, BS, 6 * BS, true), 0);
	blockdev_close(bd);
	memcpy(want + 6 * BS, cur, BS);
	assert_int_equal(read_check(), 0);
	/* Version 2's data back: it reads as version 2. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_int_equal(pwrite(fd, old, BS, (off_t)(data_off + 6 * BS)), BS);
	close(fd);
	test_pattern(want + 6 * BS, BS, 6, 2);
	assert_int_equal(read_check(), 0);
}

/*
 * The stale slot rewritten to follow the current one with epoch 0 (never
 * issued): it is tried first, fails as forged, and the real slot still
 * serves the block (found by fuzz_blocks: it failed with -EINVAL, unkeyed).
 */
static void test_epoch_zero_slot(void **state)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t rec[IMAGE_RECORD_SIZE];
	uint32_t cur, forged;
	int ci;

	assert_int_equal(pread(fd, rec, sizeof(rec), (off_t)(meta_off + 7 * 64)), 64);
	ci = crypt_record_current(rec);
	memcpy(&cur, rec + ci * 32 + 28, 4);
	forged = htole32((le32toh(cur) + 1) & 0xff);
	assert_int_equal(pwrite(fd, &forged, 4, (off_t)(meta_off + 7 * 64 + (1 - ci) * 32 + 28)),
			 4);
	close(fd);
	assert_int_equal(read_check(), 0);
}

/* Rewrites a header copy's checksum after a change, as an attacker would. */
static void rechecksum(int fd, unsigned int copy)
{
	uint8_t *h = malloc(IMAGE_HEADER_SLOT), sum[32];
	uint32_t blen;

	assert_int_equal(pread(fd, h, IMAGE_HEADER_SLOT, copy * IMAGE_HEADER_SLOT),
			 IMAGE_HEADER_SLOT);
	memcpy(&blen, h + 76, 4);
	blen = le32toh(blen);
	if (blen > IMAGE_BINDINGS_MAX)
		blen = 0;
	memset(h + 112, 0, 32);
	assert_int_equal(sha256(h, IMAGE_HEADER_FIXED + blen, sum), 0);
	memcpy(h + 112, sum, 32);
	assert_int_equal(pwrite(fd, h, IMAGE_HEADER_SLOT, copy * IMAGE_HEADER_SLOT),
			 IMAGE_HEADER_SLOT);
	free(h);
}

static void test_header_bits(void **state)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *saved = malloc(2 * IMAGE_HEADER_SLOT);
	struct blockdev *bd;

	assert_int_equal(pread(fd, saved, 2 * IMAGE_HEADER_SLOT, 0), 2 * IMAGE_HEADER_SLOT);
	for (unsigned int byte = 0; byte < IMAGE_HEADER_FIXED; byte++) {
		if (byte >= 112 && byte < 144)
			continue; /* the checksum itself, recomputed below */
		for (unsigned int copy = 0; copy < 2; copy++) {
			flip(copy * IMAGE_HEADER_SLOT + byte, (int)byte % 8);
			rechecksum(fd, copy);
		}
		/* Valid checksums, so only the MAC or a field check can object. */
		int ret = test_open(path, dek, true, NULL, &bd);

		if (ret == 0)
			fail_msg("header byte %u flipped and re-checksummed still opens", byte);
		assert_true(ret == -EBADMSG || ret == -EUCLEAN);
		assert_int_equal(pwrite(fd, saved, 2 * IMAGE_HEADER_SLOT, 0),
				 2 * IMAGE_HEADER_SLOT);
	}
	/* A plain flip in one copy: its checksum fails, the other copy serves. */
	flip(40, 1);
	assert_int_equal(read_check(), 0);
	flip(IMAGE_HEADER_SLOT + 40, 1);
	assert_int_equal(test_open(path, dek, true, NULL, &bd), -EUCLEAN);
	assert_int_equal(pwrite(fd, saved, 2 * IMAGE_HEADER_SLOT, 0), 2 * IMAGE_HEADER_SLOT);
	assert_int_equal(read_check(), 0);
	free(saved);
	close(fd);
}

/* A discarded block: its slot is as tamper-evident as a data slot. */
static void test_zero_block_slot(void **state)
{
	struct blockdev *bd;
	unsigned int hits = 0;

	assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
	assert_int_equal(blockdev_discard(bd, 4 * BS, BS), 0);
	blockdev_close(bd);
	memset(want + 4 * BS, 0, BS);
	assert_int_equal(read_check(), 0);
	for (unsigned int byte = 0; byte < IMAGE_RECORD_SIZE; byte++) {
		uint64_t off = meta_off + 4 * IMAGE_RECORD_SIZE + byte;
		uint32_t bad;

		flip(off, (int)byte % 8);
		bad = read_check();
		flip(off, (int)byte % 8);
		assert_int_equal(bad & ~(1u << 4), 0);
		hits += bad != 0;
	}
	assert_int_equal(hits, 32); /* every byte of the current slot */
	/* Its data area is not used at all: whatever is there, it reads zeroes. */
	flip(data_off + 4 * BS + 100, 3);
	assert_int_equal(read_check(), 0);
	flip(data_off + 4 * BS + 100, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_bits),	cmocka_unit_test(test_metadata_bits),
		cmocka_unit_test(test_swapped_blocks),	cmocka_unit_test(test_header_bits),
		cmocka_unit_test(test_zero_block_slot), cmocka_unit_test(test_previous_version),
		cmocka_unit_test(test_epoch_zero_slot),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
