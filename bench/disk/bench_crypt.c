// SPDX-License-Identifier: Apache-2.0
/*
 * Throughput of the crypt backend against the bare cipher, on this host:
 *   seal      AES-256-GCM over 4 KiB blocks through crypto/aead (the floor)
 *   write     crypt backend writev, 128 KiB requests, including the flush
 *   read      crypt backend readv, 128 KiB requests
 *   raw_read  the raw backend reading the same file (the I/O alone)
 *   raw_write the raw backend writing it (last: it leaves garbage behind)
 * each on 1, 2, 4.. N threads (-x: only N) working on disjoint ranges. bench/disk/run.sh runs
 * it next to `openssl speed` and prints the ratios.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "disk/create.h"
#include "disk/crypt.h"

#define REQ (128 * 1024)

enum mode { SEAL, WRITE, READ };

struct job {
	enum mode mode;
	struct blockdev *bd;
	uint64_t base, span;
	double seconds;
	uint64_t bytes;
	int ret;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	uint8_t *buf = malloc(REQ), key[32] = { 1 }, nonce[12] = { 0 }, tag[16], aad[28] = { 0 };
	struct aead *a = aead_new();
	double end = now() + j->seconds;
	uint64_t off = 0;

	memset(buf, 0x5a, REQ);
	if (aead_set_key(a, key))
		j->ret = -EIO;
	while (!j->ret && now() < end) {
		for (int k = 0; k < 16 && !j->ret; k++) {
			struct iovec iov = { buf, REQ };

			if (j->mode == SEAL) {
				for (size_t b = 0; b < REQ && !j->ret; b += 4096) {
					nonce[0]++;
					j->ret = aead_seal_with(a, nonce, aad, sizeof(aad), buf + b,
								4096, buf + b, tag);
				}
			} else if (j->mode == WRITE) {
				j->ret = blockdev_writev(j->bd, &iov, 1, j->base + off);
			} else {
				j->ret = blockdev_readv(j->bd, &iov, 1, j->base + off);
			}
			j->bytes += REQ;
			off = (off + REQ) % j->span;
		}
	}
	aead_free(a);
	free(buf);
	return NULL;
}

static double measure(enum mode mode, struct blockdev *bd, int threads, double seconds)
{
	struct job jobs[64];
	pthread_t tid[64];
	uint64_t total = 0;
	double t0 = now(), dt;

	for (int i = 0; i < threads; i++) {
		uint64_t span = bd ? ALIGN_DOWN(bd->size / (uint64_t)threads, (uint64_t)REQ) : REQ;

		jobs[i] = (struct job){ .mode = mode,
					.bd = bd,
					.base = span * (uint64_t)i,
					.span = span,
					.seconds = seconds };
		pthread_create(&tid[i], NULL, run_job, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		if (jobs[i].ret) {
			fprintf(stderr, "bench: %s\n", strerror(-jobs[i].ret));
			exit(1);
		}
		total += jobs[i].bytes;
	}
	if (mode == WRITE && blockdev_flush(bd))
		exit(1);
	dt = now() - t0;
	return (double)total / dt / 1e6;
}

static int warm_up(struct blockdev *bd)
{
	uint8_t *buf = malloc(1 << 20);
	int ret = buf ? 0 : -ENOMEM;

	if (buf)
		memset(buf, 0xa5, 1 << 20);
	for (uint64_t off = 0; !ret && off < bd->size; off += 1 << 20) {
		struct iovec iov = { buf, MIN((uint64_t)1 << 20, bd->size - off) };

		ret = blockdev_writev(bd, &iov, 1, off);
	}
	free(buf);
	return ret ? ret : blockdev_flush(bd);
}

int main(int argc, char *argv[])
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int max_threads = 2, opt;
	bool exact = false;
	uint64_t size = 256ull << 20;
	double seconds = 3;
	char path[256];
	uint8_t uuid[16];
	struct secret *dek, *copy;
	struct blockdev *bd, *raw;
	int fd;

	while ((opt = getopt(argc, argv, "t:s:m:d:x")) != -1) {
		if (opt == 'x')
			exact = true;
		else if (opt == 't')
			max_threads = atoi(optarg);
		else if (opt == 's')
			seconds = atof(optarg);
		else if (opt == 'm')
			size = strtoull(optarg, NULL, 10) << 20;
		else if (opt == 'd')
			dir = optarg;
		else
			return 2;
	}
	max_threads = MAX(1, MIN(max_threads, 64));
	if (secret_new(32, &dek) || crypto_random(dek->data, 32))
		return 1;
	printf("image: %s, %llu MiB, %.0f s per run\n", dir, (unsigned long long)(size >> 20),
	       seconds);
	for (int t = exact ? max_threads : 1; t <= max_threads; t *= 2) {
		/* A fresh image per thread count: the raw writes at the end scramble it. */
		snprintf(path, sizeof(path), "%s/pocketvm-bench-XXXXXX", dir);
		fd = mkstemp(path);
		if (fd < 0 || image_new_uuid(uuid) ||
		    image_create(fd, size, uuid, dek, NULL, NULL, 2) || secret_dup(dek, &copy) ||
		    crypt_open_dek(dup(fd), copy, false, NULL, &bd))
			return 1;
		/* Untimed: fill the sparse new image, so no run pays for allocation. */
		if (warm_up(bd))
			return 1;
		printf("threads=%d seal_MBps=%.0f", t, measure(SEAL, NULL, t, seconds));
		printf(" write_MBps=%.0f", measure(WRITE, bd, t, seconds));
		printf(" read_MBps=%.0f", measure(READ, bd, t, seconds));
		if (blockdev_raw_open(path, false, &raw))
			return 1;
		printf(" raw_read_MBps=%.0f", measure(READ, raw, t, seconds));
		printf(" raw_write_MBps=%.0f\n", measure(WRITE, raw, t, seconds));
		fflush(stdout);
		blockdev_close(raw);
		crypt_abandon(bd); /* nothing to save: the raw writes scrambled it */
		close(fd);
		unlink(path);
	}
	secret_free(dek);
	return 0;
}
