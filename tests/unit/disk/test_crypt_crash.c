// SPDX-License-Identifier: Apache-2.0
/*
 * Fault injection: proves the crash consistency of docs/image-format.md.
 *
 * A workload runs against an in-memory disk that records every write (split
 * into 4 KiB-aligned pieces, the unit the format assumes atomic) and applies
 * them to the durable image only at a sync. For every cut point k, the
 * workload runs again and "loses power" at its k-th write or sync; then
 * for many subsets of the writes not yet synced (none, all, prefixes,
 * suffixes, alternating, all-but-one, just-one: the kernel and the storage
 * may persist them in any order) the resulting image is reopened
 * read-write (running recovery) and every block must read as one of the
 * versions allowed since the last completed flush. Then the recovered
 * image must survive the most dangerous next step too: rewriting every
 * block and losing power right after the new slots became durable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "common/log.h"
#include "crypt_test_util.h"
#include "disk/image.h"

#define NBLOCKS 12u
#define BS 4096u
#define MAX_VERSIONS 12

struct piece {
	uint64_t off;
	uint32_t len;
	uint8_t *data;
};

struct mem_disk {
	uint8_t *durable, *view;
	size_t size;
	struct piece *pend;
	size_t npend, cap;
	long ops, cut; /* cut < 0: never */
	uint64_t data_offset;
	bool cut_at_data; /* lose power at the first data-area write */
	bool crashed;
	pthread_mutex_t lock; /* the background flusher writes too */
};

static struct secret *dek;
static uint8_t *baseline;
static size_t image_size;
static uint64_t data_offset;
static unsigned long states_checked;

static bool power_lost(struct mem_disk *d, bool data_write)
{
	if (d->crashed)
		return true;
	if ((d->cut >= 0 && d->ops >= d->cut) || (d->cut_at_data && data_write)) {
		d->crashed = true;
		return true;
	}
	d->ops++;
	return false;
}

static int mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct mem_disk *d = ctx;
	int ret = -EIO;

	pthread_mutex_lock(&d->lock);
	if (off <= d->size && len <= d->size - off) {
		memcpy(buf, d->view + off, len);
		ret = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static int mem_pwrite_locked(struct mem_disk *d, const void *buf, size_t len, uint64_t off)
{
	if (power_lost(d, off >= d->data_offset))
		return -EIO;
	if (off > d->size || len > d->size - off)
		abort(); /* the backend wrote outside the image: a bug */
	memcpy(d->view + off, buf, len);
	/* Pieces at 4 KiB boundaries: each may or may not reach the disk. */
	while (len) {
		size_t k = MIN(len, BS - (size_t)(off % BS));

		if (d->npend == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 64;
			d->pend = realloc(d->pend, d->cap * sizeof(*d->pend));
		}
		d->pend[d->npend].off = off;
		d->pend[d->npend].len = (uint32_t)k;
		d->pend[d->npend].data = malloc(k);
		memcpy(d->pend[d->npend].data, buf, k);
		d->npend++;
		buf = (const uint8_t *)buf + k;
		off += k;
		len -= k;
	}
	return 0;
}

static int mem_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct mem_disk *d = ctx;
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = mem_pwrite_locked(d, buf, len, off);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* A gathered write: each buffer is its own step (and its own pieces). */
static int mem_pwritev(void *ctx, const struct iovec *iov, int iovcnt, uint64_t off)
{
	for (int i = 0; i < iovcnt; i++) {
		int ret = mem_pwrite(ctx, iov[i].iov_base, iov[i].iov_len, off);

		if (ret)
			return ret;
		off += iov[i].iov_len;
	}
	return 0;
}

/* A punched range reads back as zeroes: model it as zero pieces. */
static int mem_punch(void *ctx, uint64_t off, uint64_t len)
{
	uint8_t *zero = calloc(1, len);
	int ret = mem_pwrite(ctx, zero, len, off);

	free(zero);
	return ret;
}

static void drop_pending(struct mem_disk *d)
{
	for (size_t i = 0; i < d->npend; i++)
		free(d->pend[i].data);
	d->npend = 0;
}

static int mem_sync(void *ctx)
{
	struct mem_disk *d = ctx;
	int ret = -EIO;

	pthread_mutex_lock(&d->lock);
	if (!power_lost(d, false)) {
		for (size_t i = 0; i < d->npend; i++)
			memcpy(d->durable + d->pend[i].off, d->pend[i].data, d->pend[i].len);
		drop_pending(d);
		ret = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void mem_init(struct mem_disk *d, const uint8_t *image, long cut)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->size = image_size;
	d->durable = malloc(image_size);
	d->view = malloc(image_size);
	memcpy(d->durable, image, image_size);
	memcpy(d->view, image, image_size);
	d->cut = cut;
	d->data_offset = data_offset;
}

static void mem_free(struct mem_disk *d)
{
	pthread_mutex_destroy(&d->lock);
	drop_pending(d);
	free(d->pend);
	free(d->durable);
	free(d->view);
}

static void mem_io(struct mem_disk *d, struct image_io *io)
{
	io->pread = mem_pread;
	io->pwrite = mem_pwrite;
	io->pwritev = mem_pwritev;
	io->punch = mem_punch;
	io->sync = mem_sync;
	io->ctx = d;
}

/* What each block may read as: its versions since the last completed flush. */
struct expect {
	uint8_t cur[NBLOCKS][BS];
	uint8_t allowed[NBLOCKS][MAX_VERSIONS][BS];
	int nallowed[NBLOCKS];
};

static void expect_init(struct expect *ex)
{
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		test_pattern(ex->cur[b], BS, b, 0);
		memcpy(ex->allowed[b][0], ex->cur[b], BS);
		ex->nallowed[b] = 1;
	}
}

static void expect_flushed(struct expect *ex)
{
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		memcpy(ex->allowed[b][0], ex->cur[b], BS);
		ex->nallowed[b] = 1;
	}
}

/* Records a write of len bytes at off (may span blocks) before issuing it. */
static int do_write(struct blockdev *bd, struct expect *ex, const uint8_t *buf, size_t len,
		    uint64_t off)
{
	for (uint64_t pos = off; pos < off + len;) {
		uint64_t b = pos / BS;
		size_t skip = pos % BS, k = MIN(BS - skip, off + len - pos);

		memcpy(ex->cur[b] + skip, buf + (pos - off), k);
		assert_true(ex->nallowed[b] < MAX_VERSIONS);
		memcpy(ex->allowed[b][ex->nallowed[b]++], ex->cur[b], BS);
		pos += k;
	}
	return test_rw(bd, (void *)buf, len, off, true);
}

/* Records a discard (the range reads as zeroes) before issuing it. */
static int do_discard(struct blockdev *bd, struct expect *ex, size_t len, uint64_t off)
{
	for (uint64_t pos = off; pos < off + len;) {
		uint64_t b = pos / BS;
		size_t skip = pos % BS, k = MIN(BS - skip, off + len - pos);

		memset(ex->cur[b] + skip, 0, k);
		assert_true(ex->nallowed[b] < MAX_VERSIONS);
		memcpy(ex->allowed[b][ex->nallowed[b]++], ex->cur[b], BS);
		pos += k;
	}
	return blockdev_discard(bd, off, len);
}

static int do_flush(struct blockdev *bd, struct expect *ex)
{
	int ret = blockdev_flush(bd);

	if (ret == 0)
		expect_flushed(ex);
	return ret;
}

/* The workload; stops at the first failure (the power cut). */
static void workload(struct image_io *io, struct expect *ex, bool background)
{
	struct crypt_tuning t = { .cache_blocks = 3, .sync_checkpoints = !background };
	uint8_t buf[3 * BS];
	struct blockdev *bd;
	struct secret *copy;

	expect_init(ex);
	assert_int_equal(secret_dup(dek, &copy), 0);
	if (crypt_open_io(io, copy, false, &t, &bd))
		return;
	for (unsigned int b = 0; b < 5; b++) {
		test_pattern(buf, BS, b, 1);
		if (do_write(bd, ex, buf, BS, b * BS))
			goto out;
	}
	if (do_flush(bd, ex))
		goto out;
	test_pattern(buf, 512, 99, 2); /* a sector inside block 2: read-modify-write */
	if (do_write(bd, ex, buf, 512, 2 * BS + 1024))
		goto out;
	test_pattern(buf, BS, 0, 2);
	if (do_write(bd, ex, buf, BS, 0))
		goto out;
	test_pattern(buf, BS, 0, 3); /* the same block again before a checkpoint */
	if (do_write(bd, ex, buf, BS, 0))
		goto out;
	test_pattern(buf, 3 * BS, 5, 2); /* one request over blocks 5..7, unaligned */
	if (do_write(bd, ex, buf, 2 * BS + 512, 5 * BS + 1536))
		goto out;
	if (do_flush(bd, ex))
		goto out;
	for (unsigned int b = 1; b < NBLOCKS; b += 5) {
		test_pattern(buf, BS, b, 4);
		if (do_write(bd, ex, buf, BS, b * BS))
			goto out;
	}
	if (do_flush(bd, ex))
		goto out;
	/* Discards: sectors at both edges, whole blocks in between, then a
	 * discarded block written again before its checkpoint. */
	if (do_discard(bd, ex, 2 * BS, 8 * BS + 512) || do_discard(bd, ex, BS, 3 * BS))
		goto out;
	test_pattern(buf, BS, 3, 5);
	if (do_write(bd, ex, buf, BS, 3 * BS) || do_discard(bd, ex, BS, 4 * BS))
		goto out;
	if (do_flush(bd, ex))
		goto out;
	blockdev_close(bd);
	return;
out:
	crypt_abandon(bd);
}

/* Reads every block of an image (opened over io) into out; 0 or -errno. */
static int read_all(struct image_io *io, bool ro, uint8_t *out)
{
	struct blockdev *bd;
	struct secret *copy;
	int ret;

	assert_int_equal(secret_dup(dek, &copy), 0);
	struct crypt_tuning t = { .sync_checkpoints = true };

	ret = crypt_open_io(io, copy, ro, &t, &bd);
	if (ret)
		return ret;
	ret = test_rw(bd, out, NBLOCKS * BS, 0, false);
	blockdev_close(bd);
	return ret;
}

static void assert_allowed(const struct expect *ex, const uint8_t *got, const char *what)
{
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		bool ok = false;

		for (int v = 0; v < ex->nallowed[b] && !ok; v++)
			ok = !memcmp(got + b * BS, ex->allowed[b][v], BS);
		if (!ok)
			fail_msg("%s: block %u reads as none of its %d allowed versions", what, b,
				 ex->nallowed[b]);
	}
}

/* After recovery: rewrite everything, lose power once the slots are durable. */
static void check_next_write(const uint8_t *image, const uint8_t *before)
{
	struct crypt_tuning t = { .cache_blocks = NBLOCKS + 1, .sync_checkpoints = true };
	uint8_t *buf = malloc(NBLOCKS * BS), *got = malloc(NBLOCKS * BS);
	struct mem_disk d;
	struct image_io io;
	struct blockdev *bd;
	struct secret *copy;

	mem_init(&d, image, -1);
	mem_io(&d, &io);
	assert_int_equal(secret_dup(dek, &copy), 0);
	assert_int_equal(crypt_open_io(&io, copy, false, &t, &bd), 0);
	test_pattern(buf, NBLOCKS * BS, 77, 9);
	assert_int_equal(test_rw(bd, buf, NBLOCKS * BS, 0, true), 0);
	d.cut_at_data = true;
	assert_int_equal(blockdev_flush(bd), -EIO);
	crypt_abandon(bd);
	drop_pending(&d);
	memcpy(d.view, d.durable, image_size);
	d.crashed = false;
	d.cut_at_data = false;
	assert_int_equal(read_all(&io, true, got), 0);
	assert_memory_equal(got, before, NBLOCKS * BS);
	mem_free(&d);
	free(buf);
	free(got);
}

/* Builds one crash state and checks it. */
static void check_state(const struct mem_disk *crashed, const bool *keep, const struct expect *ex)
{
	uint8_t *state = malloc(image_size), *got = malloc(NBLOCKS * BS);
	uint8_t *again = malloc(NBLOCKS * BS);
	struct mem_disk d;
	struct image_io io;

	memcpy(state, crashed->durable, image_size);
	for (size_t i = 0; i < crashed->npend; i++)
		if (keep[i])
			memcpy(state + crashed->pend[i].off, crashed->pend[i].data,
			       crashed->pend[i].len);
	mem_init(&d, state, -1);
	mem_io(&d, &io);
	/* Read-only first (no recovery), then read-write (recovery), then again. */
	assert_int_equal(read_all(&io, true, got), 0);
	assert_allowed(ex, got, "read-only after crash");
	assert_int_equal(read_all(&io, false, again), 0);
	assert_memory_equal(again, got, NBLOCKS * BS);
	assert_int_equal(read_all(&io, true, again), 0);
	assert_memory_equal(again, got, NBLOCKS * BS);
	check_next_write(d.durable, got);
	states_checked++;
	mem_free(&d);
	free(state);
	free(got);
	free(again);
}

/* The subsets of unsynced pieces tried at one cut. */
static void check_subsets(const struct mem_disk *d, const struct expect *ex)
{
	size_t n = d->npend;
	bool *keep = calloc(n + 1, sizeof(bool));

	for (int kind = 0; kind < 4; kind++) {
		for (size_t i = 0; i < n; i++)
			keep[i] = kind == 1 || (kind == 2 && i % 2) || (kind == 3 && !(i % 2));
		check_state(d, keep, ex);
		if (n == 0)
			break;
	}
	for (size_t k = 1; k < n; k++) {
		for (size_t i = 0; i < n; i++)
			keep[i] = i < k; /* prefix */
		check_state(d, keep, ex);
		for (size_t i = 0; i < n; i++)
			keep[i] = i >= k; /* suffix */
		check_state(d, keep, ex);
	}
	for (size_t j = 0; j < n && n > 1; j++) {
		for (size_t i = 0; i < n; i++)
			keep[i] = i != j; /* all but one */
		check_state(d, keep, ex);
		for (size_t i = 0; i < n; i++)
			keep[i] = i == j; /* just one */
		check_state(d, keep, ex);
	}
	free(keep);
}

static void test_cut_at_every_step(void **state)
{
	struct expect *ex = malloc(sizeof(*ex));
	struct mem_disk d;
	struct image_io io;
	long total;

	/* A run without a cut counts the steps. */
	mem_init(&d, baseline, -1);
	mem_io(&d, &io);
	workload(&io, ex, false);
	total = d.ops;
	mem_free(&d);
	print_message("workload: %ld write/sync steps\n", total);
	assert_true(total > 30);

	for (long cut = 0; cut <= total; cut++) {
		mem_init(&d, baseline, cut);
		mem_io(&d, &io);
		workload(&io, ex, false);
		assert_true(d.crashed == (cut < total));
		check_subsets(&d, ex);
		mem_free(&d);
	}
	print_message("crash states checked: %lu\n", states_checked);
	free(ex);
}

/*
 * The same with the background flusher on: the order of steps now varies
 * from run to run, so cut at random points; every crash state must still
 * pass the same checks.
 */
static void test_cut_randomly_with_flusher(void **state)
{
	struct expect *ex = malloc(sizeof(*ex));
	unsigned int seed = 12345;
	struct mem_disk d;
	struct image_io io;
	unsigned long before = states_checked;

	for (int run = 0; run < 60; run++) {
		mem_init(&d, baseline, rand_r(&seed) % 64);
		mem_io(&d, &io);
		workload(&io, ex, true);
		check_subsets(&d, ex);
		mem_free(&d);
	}
	print_message("crash states checked with the flusher: %lu\n", states_checked - before);
	free(ex);
}

static int setup(void **state)
{
	char path[] = "/tmp/pocketvm-test-crash-XXXXXX";
	uint8_t buf[BS];
	struct blockdev *bd;
	int fd;

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	dek = test_dek(0x42);
	fd = test_image(path, NBLOCKS * BS, dek);
	assert_int_equal(test_open(path, dek, false, NULL, &bd), 0);
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		test_pattern(buf, BS, b, 0);
		assert_int_equal(test_rw(bd, buf, BS, b * BS, true), 0);
	}
	blockdev_close(bd);
	image_size = (size_t)lseek(fd, 0, SEEK_END);
	baseline = malloc(image_size);
	assert_int_equal(pread(fd, baseline, image_size, 0), (ssize_t)image_size);
	close(fd);
	unlink(path);
	uint64_t meta, file;

	image_layout(NBLOCKS * BS, &meta, &data_offset, &file);
	assert_int_equal(file, image_size);
	return 0;
}

static int teardown(void **state)
{
	free(baseline);
	secret_free(dek);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_at_every_step),
		cmocka_unit_test(test_cut_randomly_with_flusher),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
