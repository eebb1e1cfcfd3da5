// SPDX-License-Identifier: Apache-2.0
/*
 * crypt_holder IMAGE: does what the launcher and the VMM do, in one process:
 * image_unlock_to_fd() (Tang), then blockdev_crypt_open_fd() on the image
 * fd and the key fd; writes and reads back a block, prints "ready", and
 * holds the key until stdin reaches EOF, so the test can inspect the
 * process. Exit 0 when the block round-tripped.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "disk/binding.h"
#include "disk/blockdev.h"

int main(int argc, char *argv[])
{
	struct unlock_opts o = { 0 };
	uint8_t w[4096], r[4096];
	struct iovec wi = { w, sizeof(w) }, ri = { r, sizeof(r) };
	struct blockdev *bd;
	int img, key_fd;
	char c;

	if (argc != 2)
		return 2;
	img = open(argv[1], O_RDWR | O_CLOEXEC);
	if (img < 0 || image_unlock_to_fd(img, &o, &key_fd)) {
		fprintf(stderr, "crypt_holder: cannot unlock %s\n", argv[1]);
		return 1;
	}
	/* The VMM's side: two fds in, a block device out. */
	if (blockdev_crypt_open_fd(img, key_fd, false, &bd)) {
		fprintf(stderr, "crypt_holder: cannot open %s\n", argv[1]);
		return 1;
	}
	memset(w, 0x3c, sizeof(w));
	if (blockdev_writev(bd, &wi, 1, 1 << 20) || blockdev_flush(bd) ||
	    blockdev_readv(bd, &ri, 1, 1 << 20) || memcmp(w, r, sizeof(w))) {
		fprintf(stderr, "crypt_holder: block round trip failed\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	blockdev_close(bd);
	return 0;
}
