// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "crypt_test_util.h"
#include "disk/image.h"

#define SIZE (256 * 4096)

static char path[] = "/tmp/pocketvm-test-crypt-XXXXXX";
static struct secret *dek;

static int setup(void **state)
{
	dek = test_dek(0x5a);
	close(test_image(path, SIZE, dek));
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	secret_free(dek);
	strcpy(path, "/tmp/pocketvm-test-crypt-XXXXXX");
	return 0;
}

static void test_fresh_image_reads_zeroes(void **state)
{
	struct blockdev *bd;
	uint8_t *buf = malloc(SIZE), *zero = calloc(1, SIZE);

	assert_int_equal(test_open(path, dek, true, NULL, &bd), 0);
	assert_int_equal(bd->size, SIZE);
	assert_int_equal(bd->block_size, 4096);
	memset(buf, 0xff, SIZE);
	assert_int_equal(test_rw(bd, buf, SIZE, 0, false), 0);
	assert_memory_equal(buf, zero, SIZE);
	/* Read-only refuses writes. */
	assert_int_equal(test_rw(bd, buf, 4096, 0, true), -EROFS);
	blockdev_close(bd);
	free(buf);
	free(zero);
}

/* Sector-granular, unaligned-to-block, scattered writes survive a reopen. */
static void test_roundtrip_against_shadow(void **state)
{
	struct crypt_tuning t = { .cache_blocks = 8 };
	uint8_t *shadow = calloc(1, SIZE), *buf = malloc(SIZE);
	struct blockdev *bd;
	unsigned int seed = 1;

	assert_int_equal(test_open(path, dek, false, &t, &bd), 0);
	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)(rand_r(&seed) % (SIZE / 512)) * 512;
		size_t len = ((size_t)(rand_r(&seed) % 24) + 1) * 512;

		if (off + len > SIZE)
			len = SIZE - off;
		for (size_t k = 0; k < len; k++)
			shadow[off + k] = (uint8_t)rand_r(&seed);
		/* Two iovecs split at an odd place. */
		struct iovec iov[2] = { { shadow + off, len / 3 },
					{ shadow + off + len / 3, len - len / 3 } };

		assert_int_equal(blockdev_writev(bd, iov, 2, off), 0);
		if (i % 50 == 0)
			assert_int_equal(blockdev_flush(bd), 0);
		if (i % 7 == 0) {
			assert_int_equal(test_rw(bd, buf, SIZE, 0, false), 0);
			assert_memory_equal(buf, shadow, SIZE);
		}
	}
	blockdev_close(bd);
	for (int ro = 0; ro < 2; ro++) {
		assert_int_equal(test_open(path, dek, ro, NULL, &bd), 0);
		assert_int_equal(test_rw(bd, buf, SIZE, 0, false), 0);
		assert_memory_equal(buf, shadow, SIZE);
		blockdev_close(bd);
	}
	free(shadow);
	free(buf);
}

static void test_wrong_key_and_bounds(void **state)
{
	struct secret *other = test_dek(0x11);
	struct blockdev *bd;
	uint8_t buf[4096];

	assert_int_equal(test_open(path, other, true, NULL, &bd), -EBADMSG);
	assert_int_equal(test_open(path, other, false, NULL, &bd), -EBADMSG);
	secret_free(other);
	assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, buf, 4096, SIZE, false), -ERANGE);
	assert_int_equal(test_rw(bd, buf, 100, 0, false), -EINVAL);
	/* A second writer is refused: two caches would corrupt each other. */
	struct blockdev *bd2;

	assert_int_equal(test_open(path, dek, false, NULL, &bd2), -EBUSY);
	blockdev_close(bd);
}

static void test_fd_handoff(void **state)
{
	struct blockdev *bd;
	uint8_t buf[4096], want[4096];
	char link[64], key_file[256] = "", now[256] = "";
	int key_fd, img_fd, p[2];

	test_pattern(want, sizeof(want), 3, 1);
	assert_int_equal(secret_to_fd(dek, &key_fd), 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", key_fd);
	assert_true(readlink(link, key_file, sizeof(key_file) - 1) > 0);
	img_fd = open(path, O_RDWR | O_CLOEXEC);
	assert_int_equal(blockdev_crypt_open_fd(img_fd, key_fd, false, &bd), 0);
	/* Consumed: the number is closed, or reused by the backend for something else. */
	if (readlink(link, now, sizeof(now) - 1) > 0)
		assert_string_not_equal(now, key_file);
	assert_int_equal(test_rw(bd, want, 4096, 3 * 4096, true), 0);
	blockdev_close(bd);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], dek->data, 32), 32);
	close(p[1]);
	img_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(blockdev_crypt_open_fd(img_fd, p[0], true, &bd), 0);
	assert_int_equal(test_rw(bd, buf, 4096, 3 * 4096, false), 0);
	assert_memory_equal(buf, want, 4096);
	blockdev_close(bd);
}

/* A tiny epoch budget forces many rotations; everything stays readable. */
static void test_epoch_rotation(void **state)
{
	struct crypt_tuning t = { .epoch_budget = 5, .cache_blocks = 16 };
	struct crypt_info info, info2;
	struct blockdev *bd;
	uint8_t buf[4096], want[4096];

	assert_int_equal(test_open(path, dek, false, &t, &bd), 0);
	crypt_get_info(bd, &info);
	for (uint64_t b = 0; b < 100; b++) {
		test_pattern(buf, sizeof(buf), b, 2);
		assert_int_equal(test_rw(bd, buf, 4096, b * 4096, true), 0);
	}
	crypt_get_info(bd, &info2);
	assert_true(info2.epoch >= info.epoch + 19);
	blockdev_close(bd);
	assert_int_equal(test_open(path, dek, true, NULL, &bd), 0);
	for (uint64_t b = 0; b < 100; b++) {
		test_pattern(want, sizeof(want), b, 2);
		assert_int_equal(test_rw(bd, buf, 4096, b * 4096, false), 0);
		assert_memory_equal(buf, want, 4096);
	}
	blockdev_close(bd);
}

static void test_erased_image_refused(void **state)
{
	struct blockdev *bd;
	struct image_io io;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	image_io_fd(&io, &fd);
	assert_int_equal(image_header_erase(&io), 0);
	close(fd);
	assert_int_equal(test_open(path, dek, true, NULL, &bd), -EKEYREVOKED);
}

struct worker {
	int id;
	int ret;
	struct blockdev *bd;
};

#define WORKERS 4
#define PER_WORKER (SIZE / WORKERS)

/* Each thread owns a quarter; writes, flushes and rereads concurrently. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *mine = calloc(1, PER_WORKER), *buf = malloc(PER_WORKER);
	uint64_t base = (uint64_t)w->id * PER_WORKER;
	unsigned int seed = (unsigned int)w->id + 100;

	for (int i = 0; i < 200 && !w->ret; i++) {
		uint64_t off = (uint64_t)(rand_r(&seed) % (PER_WORKER / 512)) * 512;
		size_t want = ((size_t)(rand_r(&seed) % 16) + 1) * 512;
		size_t len = MIN(want, PER_WORKER - off);

		for (size_t k = 0; k < len; k++)
			mine[off + k] = (uint8_t)rand_r(&seed);
		w->ret = test_rw(w->bd, mine + off, len, base + off, true);
		if (!w->ret && i % 40 == 0)
			w->ret = blockdev_flush(w->bd);
		if (!w->ret && i % 10 == 0) {
			w->ret = test_rw(w->bd, buf, PER_WORKER, base, false);
			if (!w->ret && memcmp(buf, mine, PER_WORKER))
				w->ret = -EILSEQ;
		}
	}
	if (!w->ret) {
		w->ret = test_rw(w->bd, buf, PER_WORKER, base, false);
		if (!w->ret && memcmp(buf, mine, PER_WORKER))
			w->ret = -EILSEQ;
	}
	free(mine);
	free(buf);
	return NULL;
}

static void test_parallel_disjoint_ranges(void **state)
{
	struct crypt_tuning t = { .cache_blocks = 6 };
	struct worker w[WORKERS];
	pthread_t tid[WORKERS];
	struct blockdev *bd;

	assert_int_equal(test_open(path, dek, false, &t, &bd), 0);
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .id = i, .bd = bd };
		assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(w[i].ret, 0);
	}
	blockdev_close(bd);
}

/* Discarded ranges read as zeroes, stay so after a reopen, and free space. */
static void test_discard(void **state)
{
	uint8_t *shadow = malloc(SIZE), *buf = malloc(SIZE);
	struct blockdev *bd;
	struct stat before, after;
	unsigned int seed = 3;

	for (size_t i = 0; i < SIZE; i++)
		shadow[i] = (uint8_t)(rand_r(&seed) | 1);
	assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, shadow, SIZE, 0, true), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	assert_int_equal(stat(path, &before), 0);
	/* Edges inside blocks 2 and 130, whole blocks in between. */
	assert_int_equal(blockdev_discard(bd, 2 * 4096 + 512, 128 * 4096), 0);
	memset(shadow + 2 * 4096 + 512, 0, 128 * 4096);
	assert_int_equal(test_rw(bd, buf, SIZE, 0, false), 0);
	assert_memory_equal(buf, shadow, SIZE);
	assert_int_equal(blockdev_discard(bd, 0, 100), -EINVAL);
	blockdev_close(bd);
	assert_int_equal(stat(path, &after), 0);
	print_message("image: %lld KiB allocated before the discard, %lld after\n",
		      (long long)before.st_blocks / 2, (long long)after.st_blocks / 2);
	/* 127 whole blocks punched, where the file system can punch. */
	assert_true(after.st_blocks <= before.st_blocks);
	assert_int_equal(test_open(path, dek, true, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, buf, SIZE, 0, false), 0);
	assert_memory_equal(buf, shadow, SIZE);
	blockdev_close(bd);
	free(shadow);
	free(buf);
}

/* A new image is sparse: only headers and metadata are written. */
static void test_create_is_sparse(void **state)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	print_message("fresh %d KiB image: %lld KiB allocated\n", SIZE / 1024,
		      (long long)st.st_blocks / 2);
	assert_true((uint64_t)st.st_blocks * 512 < 256 * 1024);
}

/* Requests larger than the backend's 1 MiB chunk, unaligned, scattered. */
static void test_large_unaligned_requests(void **state)
{
	char big[] = "/tmp/pocketvm-test-crypt-big-XXXXXX";
	const size_t size = 4u << 20, len = (2u << 20) + 512 * 7;
	uint8_t *shadow = calloc(1, size), *buf = malloc(size);
	struct blockdev *bd;
	unsigned int seed = 7;

	close(test_image(big, size, dek));
	for (size_t i = 0; i < size; i++)
		shadow[i] = (uint8_t)rand_r(&seed);
	assert_int_equal(test_open(big, dek, false, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, shadow, size, 0, true), 0);
	/* Three iovecs of odd sizes over 2 MiB + 7 sectors at a sector offset. */
	memset(shadow + 1536, 0xee, len);
	struct iovec w[3] = { { shadow + 1536, 1000 * 512 },
			      { shadow + 1536 + 1000 * 512, 3 * 512 },
			      { shadow + 1536 + 1003 * 512, len - 1003 * 512 } };

	assert_int_equal(blockdev_writev(bd, w, 3, 1536), 0);
	struct iovec r[2] = { { buf, 777 * 512 }, { buf + 777 * 512, size - 4096 - 777 * 512 } };

	assert_int_equal(blockdev_readv(bd, r, 2, 4096), 0);
	assert_memory_equal(buf, shadow + 4096, size - 4096);
	blockdev_close(bd);
	assert_int_equal(test_open(big, dek, true, NULL, &bd), 0);
	assert_int_equal(test_rw(bd, buf, size, 0, false), 0);
	assert_memory_equal(buf, shadow, size);
	blockdev_close(bd);
	unlink(big);
	free(shadow);
	free(buf);
}

/* Reads the whole of bd as 4 KiB elements in reverse order (guest pages). */
static int read_pages(struct blockdev *bd, uint8_t *buf, size_t size)
{
	size_t n = size / 4096;
	struct iovec *iov = calloc(n, sizeof(*iov));
	int ret;

	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ buf + (n - 1 - i) * 4096, 4096 };
	/* Element i holds block i, wherever it sits in buf. */
	ret = blockdev_readv(bd, iov, (int)n, 0);
	for (size_t i = 0; i < n / 2; i++) {
		uint8_t tmp[4096];

		memcpy(tmp, buf + i * 4096, 4096);
		memcpy(buf + i * 4096, buf + (n - 1 - i) * 4096, 4096);
		memcpy(buf + (n - 1 - i) * 4096, tmp, 4096);
	}
	free(iov);
	return ret;
}

/* Elements of odd sizes: some blocks straddle two elements (the scratch-buffer path). */
static int read_odd(struct blockdev *bd, uint8_t *buf, size_t size)
{
	struct iovec iov[3] = { { buf, 4096 * 300 + 512 },
				{ buf + 4096 * 300 + 512, 4096 * 400 - 512 },
				{ buf + 4096 * 700, size - 4096 * 700 } };

	return blockdev_readv(bd, iov, 3, 0);
}

/*
 * Every read path returns the same bytes: in place with pieces on the ring
 * (pieces not aligned to the 1 MiB chunks), in place synchronously, through
 * scratch buffers; flat, as scattered pages, and with split blocks; with
 * blocks on disk, in the write-back cache and discarded in the cache.
 */
static void test_read_paths(void **state)
{
	char big[] = "/tmp/pocketvm-test-crypt-paths-XXXXXX";
	const size_t size = 4u << 20;
	uint8_t *shadow = malloc(size), *buf = malloc(size);
	struct crypt_tuning rw = { .cache_blocks = 4096, .piece_blocks = 3 };
	struct crypt_tuning ro[] = { { .piece_blocks = 1 },
				     { .read_path = CRYPT_READ_SYNC },
				     { .read_path = CRYPT_READ_BOUNCE } };
	int (*readers[])(struct blockdev *, uint8_t *, size_t) = { read_pages, read_odd };
	struct crypt_info info;
	struct blockdev *bd;
	unsigned int seed = 11;

	close(test_image(big, size, dek));
	for (size_t i = 0; i < size; i++)
		shadow[i] = (uint8_t)rand_r(&seed);
	assert_int_equal(test_open(big, dek, false, &rw, &bd), 0);
	crypt_get_info(bd, &info);
	if (!info.async_reads)
		print_message("io_uring unavailable here: overlapped reads not covered\n");
	assert_int_equal(test_rw(bd, shadow, size, 0, true), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	/* Cached, not yet checkpointed: rewrites and discards scattered over the chunks. */
	for (size_t b = 5; b < size / 4096; b += 97) {
		memset(shadow + b * 4096, (int)b, 4096 * 2);
		assert_int_equal(test_rw(bd, shadow + b * 4096, 4096 * 2, b * 4096, true), 0);
	}
	assert_int_equal(blockdev_discard(bd, 600 * 4096, 9 * 4096), 0);
	memset(shadow + 600 * 4096, 0, 9 * 4096);
	for (size_t r = 0; r < 2; r++) {
		memset(buf, 0xee, size);
		assert_int_equal(readers[r](bd, buf, size), 0);
		assert_memory_equal(buf, shadow, size);
	}
	memset(buf, 0xee, size);
	assert_int_equal(test_rw(bd, buf, size, 0, false), 0);
	assert_memory_equal(buf, shadow, size);
	blockdev_close(bd);
	for (size_t t = 0; t < ARRAY_SIZE(ro); t++) {
		assert_int_equal(test_open(big, dek, true, &ro[t], &bd), 0);
		for (size_t r = 0; r < 2; r++) {
			memset(buf, 0xee, size);
			assert_int_equal(readers[r](bd, buf, size), 0);
			assert_memory_equal(buf, shadow, size);
		}
		memset(buf, 0xee, size);
		assert_int_equal(test_rw(bd, buf + 4096, size - 8192, 4096, false), 0);
		assert_memory_equal(buf + 4096, shadow + 4096, size - 8192);
		blockdev_close(bd);
	}
	unlink(big);
	free(shadow);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_image_reads_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_against_shadow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_and_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_handoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erased_image_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_disjoint_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_unaligned_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_is_sparse, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
