// SPDX-License-Identifier: Apache-2.0
/*
 * memscan PID HEX: counts occurrences of the bytes HEX in the readable
 * memory of process PID (root reads /proc/PID/mem even of a non-dumpable
 * process). Used to show that a DEK does not linger in pocketvmd.
 * Mappings above 1 GiB are skipped: those are AddressSanitizer's shadow
 * (terabytes reserved, metadata only), never where a key is copied.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static size_t count_in(const unsigned char *buf, size_t len, const unsigned char *pat, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i + n <= len; i++)
		if (buf[i] == pat[0] && memcmp(buf + i, pat, n) == 0)
			c++;
	return c;
}

int main(int argc, char **argv)
{
	unsigned char pat[64], *buf;
	char path[64], line[512];
	size_t n = 0, hits = 0;
	FILE *maps;
	int mem;

	if (argc != 3 || strlen(argv[2]) % 2 || strlen(argv[2]) / 2 > sizeof(pat)) {
		fprintf(stderr, "usage: memscan PID HEX\n");
		return 2;
	}
	for (; n < strlen(argv[2]) / 2; n++)
		sscanf(argv[2] + 2 * n, "%2hhx", &pat[n]);
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	mem = open(path, O_RDONLY);
	buf = malloc(CHUNK + sizeof(pat));
	if (!maps || mem < 0 || !buf) {
		perror("memscan");
		return 2;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perm[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) != 3 || perm[0] != 'r' ||
		    hi - lo > (1UL << 30))
			continue;
		for (unsigned long a = lo; a < hi; a += CHUNK) {
			size_t want = hi - a > CHUNK ? CHUNK + n - 1 : hi - a;
			ssize_t got = pread(mem, buf, want, (off_t)a);

			if (got > 0)
				hits += count_in(buf, (size_t)got, pat, n);
		}
	}
	printf("%zu\n", hits);
	free(buf);
	return 0;
}
