// SPDX-License-Identifier: Apache-2.0
/*
 * Throughput of the crypt backend against the bare cipher, on this host:
 *   seal        AES-256-GCM over 4 KiB blocks through crypto/aead (the floor)
 *   write       crypt backend writev, 128 KiB requests, including the flush
 *   read        crypt backend readv, 128 KiB requests (in place, overlapped by io_uring)
 *   read_sync   the same, in place without io_uring (CRYPT_READ_SYNC)
 *   read_bounce the same through scratch buffers (CRYPT_READ_BOUNCE, the old path)
 *   raw_read    the raw backend reading the same file (the I/O alone)
 *   raw_write   the raw backend writing it (last: it leaves garbage behind)
 * each on 1, 2, 4.. N threads (-x: only N) working on disjoint ranges. -d DIR puts
 * the image in DIR (default /dev/shm), -q BYTES sets the request size, -g splits
 * each request into 4 KiB iovec elements (guest pages, as virtio-blk passes them),
 * -b MIB cycles through MIB of caller buffers instead of reusing one (a guest
 * filling its page cache: destinations not in any CPU cache),
 * -c N sets the write-back cache to N blocks (default 4096),
 * -p N sets the blocks per overlapped read piece, -o a,b,.. runs only the named
 * measurements (for profiling). bench/disk/run.sh runs it next to `openssl speed`
 * and prints the ratios.
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

static size_t req = 128 * 1024;
static bool pages;
static size_t pool = 0; /* -b: bytes of caller buffers cycled through (0: one request's) */
enum mode { SEAL, WRITE, READ };

static double measure(enum mode mode, struct blockdev *bd, int threads, double seconds);
static const char *only; /* -o: comma-separated measurements to run, NULL for all */

static bool wanted(const char *name)
{
	size_t n = strlen(name);

	for (const char *p = only; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return !only;
}

/* Prints " name_MBps=X" when the measurement is wanted. */
static void report(const char *name, enum mode mode, struct blockdev *bd, int threads,
		   double seconds)
{
	if (wanted(name))
		printf(" %s_MBps=%.0f", name, measure(mode, bd, threads, seconds));
}

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
	size_t nbuf = MAX(pool / req, (size_t)1), cur = 0;
	uint8_t *base = aligned_alloc(4096, nbuf * req), *buf = base, key[32] = { 1 },
		nonce[12] = { 0 }, tag[16], aad[28] = { 0 };
	int niov = pages ? (int)(req / 4096) : 1;
	struct iovec *iov = calloc((size_t)niov, sizeof(*iov));
	struct aead *a = aead_new();
	double end = now() + j->seconds;
	uint64_t off = 0;

	memset(base, 0x5a, nbuf * req);
	if (aead_set_key(a, key))
		j->ret = -EIO;
	while (!j->ret && now() < end) {
		for (int k = 0; k < 16 && !j->ret; k++) {
			/* The next buffer of the pool, like a guest filling its page cache. */
			buf = base + cur * req;
			cur = (cur + 1) % nbuf;
			/* Guest pages: 4 KiB elements in reverse order, so no two are adjacent. */
			for (int i = 0; i < niov; i++)
				iov[i] = (struct iovec){ buf + (size_t)(niov - 1 - i) *
									 (req / (size_t)niov),
							 req / (size_t)niov };
			if (j->mode == SEAL) {
				for (size_t b = 0; b < req && !j->ret; b += 4096) {
					nonce[0]++;
					j->ret = aead_seal_with(a, nonce, aad, sizeof(aad), buf + b,
								4096, buf + b, tag);
				}
			} else if (j->mode == WRITE) {
				j->ret = blockdev_writev(j->bd, iov, niov, j->base + off);
			} else {
				j->ret = blockdev_readv(j->bd, iov, niov, j->base + off);
			}
			j->bytes += req;
			off = (off + req) % j->span;
		}
	}
	aead_free(a);
	free(iov);
	free(base);
	return NULL;
}

static double measure(enum mode mode, struct blockdev *bd, int threads, double seconds)
{
	struct job jobs[64];
	pthread_t tid[64];
	uint64_t total = 0;
	double t0 = now(), dt;

	for (int i = 0; i < threads; i++) {
		uint64_t span = bd ? ALIGN_DOWN(bd->size / (uint64_t)threads, (uint64_t)req) : req;

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
	if (mode == WRITE && bd && blockdev_flush(bd))
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
	static const struct {
		const char *name;
		enum crypt_read_path path;
	} paths[] = { { "read", CRYPT_READ_AUTO },
		      { "read_sync", CRYPT_READ_SYNC },
		      { "read_bounce", CRYPT_READ_BOUNCE } };
	struct crypt_tuning wtune = { 0 };
	unsigned int piece = 0;
	int max_threads = 2, opt;
	bool exact = false;
	uint64_t size = 256ull << 20;
	double seconds = 3;
	char path[256];
	uint8_t uuid[16];
	struct secret *dek, *copy;
	struct blockdev *bd, *raw;
	int fd;

	while ((opt = getopt(argc, argv, "t:s:m:d:q:p:o:b:c:gx")) != -1) {
		if (opt == 'b')
			pool = strtoull(optarg, NULL, 10) << 20;
		else if (opt == 'c')
			wtune.cache_blocks = strtoull(optarg, NULL, 10);
		else if (opt == 'o')
			only = optarg;
		else if (opt == 'x')
			exact = true;
		else if (opt == 'g')
			pages = true;
		else if (opt == 'q')
			req = ALIGN_UP(MAX(strtoull(optarg, NULL, 10), 4096ull), 4096ull);
		else if (opt == 'p')
			piece = (unsigned int)atoi(optarg);
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
	printf("image: %s, %llu MiB, %.0f s per run, %zu KiB requests%s\n", dir,
	       (unsigned long long)(size >> 20), seconds, req >> 10,
	       pages ? " in 4 KiB pages" : "");
	for (int t = exact ? max_threads : 1; t <= max_threads; t *= 2) {
		/* A fresh image per thread count: the raw writes at the end scramble it. */
		snprintf(path, sizeof(path), "%s/pocketvm-bench-XXXXXX", dir);
		fd = mkstemp(path);
		if (fd < 0 || image_new_uuid(uuid) ||
		    image_create(fd, size, uuid, dek, NULL, NULL, 2) || secret_dup(dek, &copy) ||
		    crypt_open_dek(dup(fd), copy, false, &wtune, &bd))
			return 1;
		/* Untimed: fill the sparse new image, so no run pays for allocation. */
		if (warm_up(bd))
			return 1;
		printf("threads=%d", t);
		report("seal", SEAL, NULL, t, seconds);
		report("write", WRITE, bd, t, seconds);
		blockdev_close(bd);
		/* Each read path on its own read-only open of the same image. */
		for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
			struct crypt_tuning tune = { .read_path = paths[i].path,
						     .piece_blocks = piece };

			if (secret_dup(dek, &copy) ||
			    crypt_open_dek(dup(fd), copy, true, &tune, &bd))
				return 1;
			report(paths[i].name, READ, bd, t, seconds);
			blockdev_close(bd);
		}
		if (blockdev_raw_open(path, false, &raw))
			return 1;
		report("raw_read", READ, raw, t, seconds);
		report("raw_write", WRITE, raw, t, seconds);
		printf("\n");
		fflush(stdout);
		blockdev_close(raw);
		close(fd);
		unlink(path);
	}
	secret_free(dek);
	return 0;
}
