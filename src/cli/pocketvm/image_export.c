// SPDX-License-Identifier: Apache-2.0
/* `pocketvm image export`: decrypt to a raw image. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pocketvm/image.h"
#include "disk/crypt.h"

static const char export_help[] =
	"Usage: pocketvm image export IMAGE OUTPUT [key options]\n"
	"\n"
	"Writes the decrypted disk to OUTPUT (a new file, mode 0600, or - for stdout).\n"
	"Stops at the first block that fails authentication: no unauthenticated byte is\n"
	"ever written.\n\n" KEY_SOURCE_HELP;

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int export_blocks(struct blockdev *bd, int out)
{
	const size_t chunk = 1024 * 1024;
	uint8_t *buf = malloc(chunk);
	int ret = buf ? 0 : -ENOMEM;

	for (uint64_t off = 0; !ret && off < bd->size; off += chunk) {
		struct iovec iov = { buf, MIN((uint64_t)chunk, bd->size - off) };

		ret = blockdev_readv(bd, &iov, 1, off);
		if (ret == -EBADMSG)
			fprintf(stderr,
				"pocketvm: authentication failed in the MiB at offset %llu\n",
				(unsigned long long)off);
		if (!ret)
			ret = write_all(out, buf, iov.iov_len);
	}
	if (buf)
		explicit_bzero(buf, chunk);
	free(buf);
	return ret;
}

int image_export_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks;
	struct blockdev *bd;
	int out, ret;

	ret = image_getopt(argc, argv, opts, export_help, 2, &ks, NULL, NULL);
	if (ret >= 0)
		return ret;
	if (image_open_blockdev(argv[optind], &ks, &bd))
		return 1;
	const char *dst = argv[optind + 1];

	out = strcmp(dst, "-") ? open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) :
				 STDOUT_FILENO;
	if (out < 0) {
		fprintf(stderr, "pocketvm: %s: %s\n", dst, strerror(errno));
		blockdev_close(bd);
		return 1;
	}
	ret = export_blocks(bd, out);
	if (ret) {
		fprintf(stderr, "pocketvm: export failed: %s\n", strerror(-ret));
		if (out != STDOUT_FILENO)
			unlink(dst);
	}
	if (out != STDOUT_FILENO)
		close(out);
	blockdev_close(bd);
	return ret ? 1 : 0;
}
