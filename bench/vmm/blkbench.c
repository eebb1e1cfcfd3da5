// SPDX-License-Identifier: Apache-2.0
/*
 * blkbench DEVICE [SECONDS [write]]: runs inside a guest (built static) and
 * reads the block device with O_DIRECT, so the VMM's virtio-blk path is
 * measured, not the guest page cache:
 *   - sequential: 1 MiB reads over the first 64 MiB (or the whole device);
 *   - random: 4 KiB reads at random 4 KiB-aligned offsets, queue depth 1.
 * Prints "blkbench: seq MB/s N rand4k IOPS N".
 *
 * With "write" (a scratch disk: its contents are destroyed) it first writes
 * those 64 MiB sequentially, so the reads then read written data (a fresh
 * encrypted image would otherwise answer unwritten blocks without any
 * crypto), keeps the random reads inside them, and ends with 4 KiB random
 * writes at queue depth 1. Each write phase ends with fdatasync, which the
 * VMM turns into a flush of its backend, and is timed with it. Prints
 * "blkbench: seqw MB/s N seq MB/s N rand4k IOPS N rand4kw IOPS N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define MIB (1u << 20)
#define SPAN (64ull * MIB)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* 1 MiB transfers over [0, span): MB/s, or a negative value on an I/O error. */
static double sequential(int fd, void *buf, uint64_t span, int write)
{
	double t0 = now();

	for (uint64_t off = 0; off + MIB <= span; off += MIB) {
		ssize_t n =
			write ? pwrite(fd, buf, MIB, (off_t)off) : pread(fd, buf, MIB, (off_t)off);

		if (n != MIB) {
			perror(write ? "pwrite" : "pread");
			return -1;
		}
	}
	if (write && fdatasync(fd) < 0) {
		perror("fdatasync");
		return -1;
	}
	return (double)span / (now() - t0) / 1e6;
}

/* 4 KiB transfers at random offsets in [0, span) for about `seconds`: IOPS. */
static double random_4k(int fd, void *buf, uint64_t span, int write, double seconds)
{
	uint64_t ios = 0, x = 88172645463325252ull;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 64; i++) {
			off_t off = (off_t)((next(&x) % (span / 4096)) * 4096);
			ssize_t n = write ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off);

			if (n != 4096) {
				perror(write ? "pwrite" : "pread");
				return -1;
			}
			ios++;
		}
		t = now() - t0;
	} while (t < seconds);
	if (write && fdatasync(fd) < 0) {
		perror("fdatasync");
		return -1;
	}
	return (double)ios / (now() - t0);
}

int main(int argc, char **argv)
{
	double seconds = argc > 2 ? atof(argv[2]) : 3.0, seqw = 0, seq, iops, iopsw = 0;
	int write = argc > 3 && strcmp(argv[3], "write") == 0;
	uint64_t size = 0, span;
	void *buf;
	int fd;

	if (argc < 2 || (argc > 3 && !write)) {
		fprintf(stderr, "usage: blkbench DEVICE [SECONDS [write]]\n");
		return 2;
	}
	fd = open(argv[1], (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < MIB) {
		perror(argv[1]);
		return 1;
	}
	if (posix_memalign(&buf, 4096, MIB))
		return 1;
	memset(buf, 0xa5, MIB); /* not zeroes: a backend must not skip them */
	span = size / MIB * MIB < SPAN ? size / MIB * MIB : SPAN;
	if (write && (seqw = sequential(fd, buf, span, 1)) < 0)
		return 1;
	seq = sequential(fd, buf, span, 0);
	iops = seq < 0 ? -1 : random_4k(fd, buf, write ? span : size / 4096 * 4096, 0, seconds);
	if (write && iops >= 0)
		iopsw = random_4k(fd, buf, span, 1, seconds);
	if (seq < 0 || iops < 0 || iopsw < 0)
		return 1;
	if (write)
		printf("blkbench: seqw MB/s %.1f seq MB/s %.1f rand4k IOPS %.0f rand4kw IOPS %.0f\n",
		       seqw, seq, iops, iopsw);
	else
		printf("blkbench: seq MB/s %.1f rand4k IOPS %.0f\n", seq, iops);
	return 0;
}
