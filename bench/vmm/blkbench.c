// SPDX-License-Identifier: Apache-2.0
/*
 * blkbench DEVICE [SECONDS]: runs inside a guest (built static) and reads the
 * block device with O_DIRECT, so the VMM's virtio-blk path is measured, not
 * the guest page cache:
 *   - sequential: 1 MiB reads over the first 64 MiB (or the whole device);
 *   - random: 4 KiB reads at random 4 KiB-aligned offsets, queue depth 1.
 * Prints "blkbench: seq MB/s N rand4k IOPS N".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 2 ? atof(argv[2]) : 3.0, t0, t;
	uint64_t size = 0, seq_bytes = 0, ios = 0, x = 88172645463325252ull;
	void *buf;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: blkbench DEVICE [SECONDS]\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < (1u << 20)) {
		perror(argv[1]);
		return 1;
	}
	if (posix_memalign(&buf, 4096, 1u << 20))
		return 1;
	t0 = now();
	for (uint64_t off = 0; off + (1u << 20) <= size && off < (64u << 20); off += 1u << 20) {
		if (pread(fd, buf, 1u << 20, (off_t)off) != 1 << 20) {
			perror("pread");
			return 1;
		}
		seq_bytes += 1u << 20;
	}
	t = now() - t0;
	printf("blkbench: seq MB/s %.1f", (double)seq_bytes / t / 1e6);
	t0 = now();
	do {
		for (int i = 0; i < 64; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (pread(fd, buf, 4096, (off_t)((x % (size / 4096)) * 4096)) != 4096) {
				perror("pread");
				return 1;
			}
			ios++;
		}
		t = now() - t0;
	} while (t < seconds);
	printf(" rand4k IOPS %.0f\n", (double)ios / t);
	return 0;
}
