// SPDX-License-Identifier: Apache-2.0
/* `pocketvm image`: the subcommand table and what the subcommands share. */
#include "cli/pocketvm/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli/pocketvm/subcommands.h"
#include "common/log.h"
#include "disk/crypt.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *description;
} image_subcommands[] = {
	{ "create", image_create_main,
	  "make a new encrypted image (empty, from a directory or raw)" },
	{ "inspect", image_inspect_main, "show the header and key bindings (never secrets)" },
	{ "check", image_check_main, "verify every block of the image" },
	{ "bind", image_bind_main, "add a key binding (tang or recovery)" },
	{ "unbind", image_unbind_main, "remove a key binding; the last one only with --erase" },
	{ "rekey", image_rekey_main, "refresh every tang binding against the server's keys" },
	{ "export", image_export_main, "decrypt the image to a raw file" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: pocketvm image <subcommand> [<args>]\n\nSubcommands:\n");
	for (size_t i = 0; i < sizeof(image_subcommands) / sizeof(image_subcommands[0]); i++)
		fprintf(f, "  %-8s %s\n", image_subcommands[i].name,
			image_subcommands[i].description);
}

int image_main(int argc, char *argv[])
{
	/* Keys and plaintext pass through this process: never into a core dump. */
	prctl(PR_SET_DUMPABLE, 0);
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(image_subcommands) / sizeof(image_subcommands[0]); i++)
		if (!strcmp(argv[1], image_subcommands[i].name))
			return image_subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pocketvm image: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

bool key_source_opt(struct key_source *ks, int opt, const char *arg)
{
	switch (opt) {
	case 0x100:
		ks->key_fd = atoi(arg);
		return true;
	case 0x101:
		ks->unlock.tang.cafile = arg;
		return true;
	case 0x102:
		ks->unlock.tang.cert = arg;
		return true;
	case 0x103:
		ks->unlock.tang.key = arg;
		return true;
	case 0x104:
		ks->unlock.tang.url_override = arg;
		return true;
	case 0x105:
		ks->unlock.tang.timeout_s = atol(arg);
		return true;
	case 0x106:
		ks->unlock.recovery_key = arg;
		return true;
	default:
		return false;
	}
}

int image_getopt(int argc, char *argv[], const struct option *opts, const char *help, int nargs,
		 struct key_source *ks, bool (*on_opt)(void *ctx, int opt, const char *arg),
		 void *ctx)
{
	int opt;

	if (ks)
		*ks = (struct key_source){ .key_fd = -1 };
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ks && key_source_opt(ks, opt, optarg))
			continue;
		if (opt == 'h') {
			fputs(help, stdout);
			return 0;
		}
		if (opt == '?' || !on_opt || !on_opt(ctx, opt, optarg)) {
			fputs(help, stderr);
			return 2;
		}
	}
	if (optind + nargs != argc) {
		fputs(help, stderr);
		return 2;
	}
	return -1;
}

bool bind_request_opt(void *ctx, int opt, const char *arg)
{
	struct bind_request *req = ctx;

	switch (opt) {
	case 't':
		req->tang_url = arg;
		return true;
	case 'p':
		req->thp = arg;
		return true;
	case 'T':
		req->trust = true;
		return true;
	case 'R':
		req->recovery_pub = arg;
		return true;
	default:
		return false;
	}
}

int image_open_blockdev(const char *path, const struct key_source *ks, struct blockdev **bd)
{
	struct image_header h;
	struct secret *dek;
	int fd, ret;

	ret = image_open_unlock(path, false, ks, &fd, &h, &dek);
	if (ret)
		return ret;
	image_header_release(&h);
	ret = crypt_open_dek(fd, dek, true, NULL, bd);
	if (ret)
		fprintf(stderr, "pocketvm: %s: %s\n", path, strerror(-ret));
	return ret;
}

bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	else if (*end == 'T')
		shift = 40;
	else if (*end)
		return false;
	if (shift && end[1])
		return false;
	if (v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

json_t *load_json_file(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);

	if (!j)
		fprintf(stderr, "pocketvm: %s: %s (line %d)\n", path, err.text, err.line);
	return j;
}

int image_load(int fd, const char *path, struct image_header *h)
{
	struct image_io io;
	const char *why;
	int ret;

	image_io_fd(&io, &fd);
	ret = image_header_load(&io, h, &why);
	if (ret)
		fprintf(stderr, "pocketvm: %s: not a usable pocketvm image: %s\n", path, why);
	return ret;
}

int image_open_unlock(const char *path, bool write, const struct key_source *ks, int *fd_out,
		      struct image_header *h, struct secret **dek)
{
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, "pocketvm: %s: %s\n", path, strerror(errno));
		return ret;
	}
	/* Header changes must not race a running VM's own header writes. */
	if (write && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "pocketvm: %s: image is in use\n", path);
		close(fd);
		return -EBUSY;
	}
	ret = image_load(fd, path, h);
	if (ret)
		goto fail;
	if (h->flags & IMAGE_FLAG_ERASED) {
		ret = -EKEYREVOKED;
	} else if (ks->key_fd >= 0) {
		ret = secret_from_fd(ks->key_fd, IMAGE_DEK_LEN, dek);
		if (!ret) {
			ret = image_header_verify(h, *dek);
			if (ret)
				secret_free(*dek);
		}
	} else {
		ret = image_unlock(h, &ks->unlock, dek);
	}
	if (ret) {
		const char *msg = ret == -EKEYREVOKED ?
					  "image was crypto-erased (no bindings left)" :
				  ret == -ENOKEY ? "no binding can be used (give --recovery-key?)" :
				  ret == -EHOSTUNREACH ? "key server unreachable" :
				  ret == -EACCES  ? "the key server refused (not allowed, revoked, "
						    "or our certificate rejected)" :
				  ret == -EBADMSG ? "key does not match the image" :
						    strerror(-ret);

		fprintf(stderr, "pocketvm: %s: cannot recover the data key: %s\n", path, msg);
		image_header_release(h);
		goto fail;
	}
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return ret;
}

int add_bindings(json_t *arr, const uint8_t *uuid, const struct secret *dek,
		 const struct bind_request *req, const struct tang_client_opts *o)
{
	int ret;

	if (req->tang_url) {
		json_auto_t *thps = NULL;

		ret = binding_add_tang(arr, uuid, dek, req->tang_url, req->thp, req->trust, o,
				       &thps);
		if (ret == -EPERM) {
			size_t i;
			json_t *t;

			fprintf(stderr, "pocketvm: %s advertises signing keys:\n", req->tang_url);
			json_array_foreach(thps, i, t)
				fprintf(stderr, "  %s\n", json_string_value(t));
			fprintf(stderr, "Check one with the server's administrator and pass it as "
					"--thp, or pass --trust.\n");
		} else if (ret) {
			fprintf(stderr, "pocketvm: tang binding to %s failed: %s\n", req->tang_url,
				strerror(-ret));
		}
		if (ret)
			return ret;
	}
	if (req->recovery_pub) {
		json_auto_t *pub = load_json_file(req->recovery_pub);

		if (!pub)
			return -EINVAL;
		ret = binding_add_recovery(arr, uuid, dek, pub);
		if (ret) {
			fprintf(stderr, "pocketvm: recovery binding failed: %s\n", strerror(-ret));
			return ret;
		}
	}
	return 0;
}
