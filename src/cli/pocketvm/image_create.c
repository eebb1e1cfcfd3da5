// SPDX-License-Identifier: Apache-2.0
/* `pocketvm image create` */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/pocketvm/image.h"
#include "crypto/aead.h"
#include "disk/create.h"

extern char **environ;

static const char create_help[] =
	"Usage: pocketvm image create IMAGE --size SIZE [--from-dir DIR | --from-raw FILE]\n"
	"           (--tang URL (--thp THUMBPRINT | --trust)) [--recovery-pub JWK] [--key-fd N]\n"
	"\n"
	"Makes a new encrypted image (AES-256-GCM per 4 KiB block) with a fresh random data\n"
	"key that is stored only sealed by its bindings. SIZE takes K, M, G suffixes.\n"
	"  --from-dir DIR   an ext4 file system made from DIR with mke2fs -d\n"
	"  --from-raw FILE  the contents of a raw disk image (SIZE defaults to its size\n"
	"                   rounded up to 4 KiB; the last block is padded with zeroes)\n"
	"  --tang URL       bind to a Tang server (or pocketvm-server) at URL\n"
	"  --thp THP        trust the advertisement signed by this key thumbprint\n"
	"  --trust          trust whatever the server advertises (first use)\n"
	"  --recovery-pub JWK  also escrow the key to this enterprise public key\n"
	"  --key-fd N       use the 32-byte key on fd N instead of a random one\n"
	"  --threads N      sealing threads (default 2)\n";

/* Runs mke2fs -d DIR on a memfd so the plaintext file system never touches disk. */
static int make_ext4(const char *dir, uint64_t size, struct blockdev **out)
{
	int fd = memfd_create("pocketvm-mkfs", 0);
	char target[64], blocks[32];
	char *argv[] = { "mke2fs", "-q", "-F",	      "-t",   "ext4", "-b",
			 "4096",   "-d", (char *)dir, target, blocks, NULL };
	pid_t pid;
	int status, ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	snprintf(blocks, sizeof(blocks), "%llu", (unsigned long long)(size / 4096));
	ret = posix_spawnp(&pid, "mke2fs", NULL, NULL, argv, environ);
	if (ret) {
		fprintf(stderr, "pocketvm: cannot run mke2fs: %s\n", strerror(ret));
		close(fd);
		return -ret;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "pocketvm: mke2fs -d %s failed\n", dir);
		close(fd);
		return -EIO;
	}
	return blockdev_raw_open_fd(fd, true, out);
}

static int open_source(const char *dir, const char *raw, uint64_t *size, struct blockdev **src)
{
	int ret;

	*src = NULL;
	if (raw) {
		/* A partial last sector or block is kept, padded with zeroes. */
		ret = blockdev_raw_open(raw, true, src);
		if (ret) {
			fprintf(stderr, "pocketvm: %s: %s\n", raw, strerror(-ret));
			return ret;
		}
		if (*size == 0)
			*size = ALIGN_UP((*src)->size, (uint64_t)IMAGE_BLOCK_SIZE);
		if ((*src)->size > *size) {
			fprintf(stderr, "pocketvm: %s is larger than --size\n", raw);
			return -EFBIG;
		}
	} else if (dir) {
		ret = make_ext4(dir, *size, src);
		if (ret)
			return ret;
	}
	return 0;
}

static int create_run(const char *path, uint64_t size, const char *dir, const char *raw,
		      const struct bind_request *req, const struct key_source *ks,
		      unsigned int threads)
{
	uint8_t uuid[IMAGE_UUID_LEN];
	struct blockdev *src = NULL;
	struct secret *dek = NULL;
	json_auto_t *arr = json_array();
	char *doc = NULL, ustr[37];
	int fd = -1, ret;

	ret = open_source(dir, raw, &size, &src);
	if (ret)
		goto out;
	if (size == 0 || !IS_ALIGNED(size, (uint64_t)IMAGE_BLOCK_SIZE) ||
	    size > IMAGE_MAX_DATA_SIZE) {
		fprintf(stderr, "pocketvm: --size must be a positive multiple of 4096\n");
		ret = -EINVAL;
		goto out;
	}
	if (ks->key_fd >= 0) {
		ret = secret_from_fd(ks->key_fd, IMAGE_DEK_LEN, &dek);
	} else {
		ret = secret_new(IMAGE_DEK_LEN, &dek);
		ret = ret ? ret : crypto_random(dek->data, IMAGE_DEK_LEN);
	}
	ret = ret ? ret : image_new_uuid(uuid);
	ret = ret ? ret : add_bindings(arr, uuid, dek, req, &ks->unlock.tang);
	if (ret)
		goto out;
	doc = json_array_size(arr) ? bindings_dump(arr) : NULL;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "pocketvm: %s: %s\n", path, strerror(errno));
		goto out;
	}
	ret = image_create(fd, size, uuid, dek, doc, src, threads);
	if (ret) {
		fprintf(stderr, "pocketvm: %s: cannot create: %s\n", path, strerror(-ret));
		unlink(path);
		goto out;
	}
	image_uuid_str(uuid, ustr);
	printf("created %s: %llu bytes, uuid %s, %zu binding(s)\n", path, (unsigned long long)size,
	       ustr, json_array_size(arr));
out:
	if (fd >= 0)
		close(fd);
	free(doc);
	blockdev_close(src);
	secret_free(dek);
	return ret;
}

struct create_request {
	struct bind_request bind;
	const char *dir, *raw;
	unsigned int threads;
	uint64_t size;
};

static bool create_opt(void *ctx, int opt, const char *arg)
{
	struct create_request *r = ctx;

	switch (opt) {
	case 's':
		if (!parse_size(arg, &r->size)) {
			fprintf(stderr, "pocketvm: bad --size '%s'\n", arg);
			return false;
		}
		return true;
	case 'd':
		r->dir = arg;
		return true;
	case 'r':
		r->raw = arg;
		return true;
	case 'j':
		r->threads = (unsigned int)atoi(arg);
		return true;
	default:
		return bind_request_opt(&r->bind, opt, arg);
	}
}

int image_create_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "from-dir", required_argument, NULL, 'd' },
		{ "from-raw", required_argument, NULL, 'r' },
		{ "tang", required_argument, NULL, 't' },
		{ "thp", required_argument, NULL, 'p' },
		{ "trust", no_argument, NULL, 'T' },
		{ "recovery-pub", required_argument, NULL, 'R' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct create_request r = { .threads = 2 };
	struct key_source ks;
	int ret;

	ret = image_getopt(argc, argv, opts, create_help, 1, &ks, create_opt, &r);
	if (ret >= 0)
		return ret;
	if ((r.dir && r.raw) || (r.dir && !r.size) || (!r.raw && !r.size)) {
		fputs(create_help, stderr);
		return 2;
	}
	if (!r.bind.tang_url && !r.bind.recovery_pub && ks.key_fd < 0) {
		fprintf(stderr, "pocketvm: an image needs a binding (--tang or --recovery-pub) "
				"or --key-fd: otherwise its key would be lost\n");
		return 2;
	}
	return create_run(argv[optind], r.size, r.dir, r.raw, &r.bind, &ks, r.threads) ? 1 : 0;
}
