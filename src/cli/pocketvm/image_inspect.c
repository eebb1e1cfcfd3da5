// SPDX-License-Identifier: Apache-2.0
/* `pocketvm image inspect` and `pocketvm image check` */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pocketvm/image.h"
#include "common/log.h"
#include "crypto/ecmr.h"
#include "disk/crypt.h"

static const char inspect_help[] =
	"Usage: pocketvm image inspect IMAGE [--json]\n"
	"\n"
	"Shows the header and the key bindings. Needs no key and shows no secret.\n";

/* The public description of one binding: never iv/ct/tag/clt. */
static json_t *binding_public(const json_t *b)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_t *out = json_pack("{s:O,s:O,s:O}", "id", json_object_get(b, "id"), "type",
				json_object_get(b, "type"), "kid", json_object_get(b, "kid"));

	if (out && !strcmp(type, "tang")) {
		json_auto_t *thps = json_array();
		json_auto_t *keys = NULL;
		const char *why;

		json_object_set(out, "url", json_object_get(b, "url"));
		keys = ecmr_adv_verify(json_object_get(b, "adv"), NULL, &why);
		if (keys && thps && ecmr_adv_signing_thps(keys, thps) == 0)
			json_object_set(out, "signing_keys", thps);
		else
			json_object_set_new(out, "adv_problem", json_string(why ? why : "?"));
	}
	return out;
}

static int inspect_print(const char *path, const struct image_header *h, bool as_json)
{
	json_auto_t *arr = NULL, *pub = json_array(), *doc = NULL;
	const char *why = NULL;
	char ustr[37];
	json_t *b;
	size_t i;

	arr = bindings_parse(h->bindings, &why);
	json_array_foreach(arr, i, b) json_array_append_new(pub, binding_public(b));
	image_uuid_str(h->uuid, ustr);
	doc = json_pack("{s:s,s:i,s:s,s:I,s:I,s:s,s:I,s:b,s:b,s:O}", "image", path, "version",
			(int)h->version, "uuid", ustr, "size", (json_int_t)h->data_size,
			"block_size", (json_int_t)h->block_size, "cipher", "aes-256-gcm", "epoch",
			(json_int_t)h->epoch, "dirty", !!(h->flags & IMAGE_FLAG_DIRTY), "erased",
			!!(h->flags & IMAGE_FLAG_ERASED), "bindings", pub);
	if (!doc)
		return -ENOMEM;
	if (!arr)
		json_object_set_new(doc, "bindings_problem", json_string(why));
	if (as_json) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		puts(s ? s : "{}");
		free(s);
		return 0;
	}
	printf("image:      %s\nformat:     pocketvm image v%u, aes-256-gcm, 4096-byte blocks\n",
	       path, h->version);
	printf("uuid:       %s\nsize:       %llu bytes\nepoch:      %u\nstate:      %s\n", ustr,
	       (unsigned long long)h->data_size, h->epoch,
	       h->flags & IMAGE_FLAG_ERASED ? "crypto-erased" :
	       h->flags & IMAGE_FLAG_DIRTY  ? "not closed cleanly (or in use)" :
					      "clean");
	printf("bindings:   %zu\n", json_array_size(pub));
	json_array_foreach(pub, i, b)
	{
		printf("  [%lld] %s", (long long)json_integer_value(json_object_get(b, "id")),
		       json_string_value(json_object_get(b, "type")));
		if (json_object_get(b, "url"))
			printf(" %s", json_string_value(json_object_get(b, "url")));
		printf(" kid %s\n", json_string_value(json_object_get(b, "kid")));
		json_t *t;
		size_t j;

		json_array_foreach(json_object_get(b, "signing_keys"), j, t)
			printf("       signed by %s\n", json_string_value(t));
	}
	if (!arr)
		printf("  (bindings unreadable: %s)\n", why);
	return 0;
}

static bool inspect_opt(void *ctx, int opt, const char *arg)
{
	*(bool *)ctx = opt == 'j';
	return opt == 'j';
}

int image_inspect_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct image_header h;
	bool as_json = false;
	int fd, ret;

	ret = image_getopt(argc, argv, opts, inspect_help, 1, NULL, inspect_opt, &as_json);
	if (ret >= 0)
		return ret;
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "pocketvm: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	ret = image_load(fd, argv[optind], &h);
	close(fd);
	if (ret)
		return 1;
	ret = inspect_print(argv[optind], &h, as_json);
	image_header_release(&h);
	return ret ? 1 : 0;
}

static const char check_help[] =
	"Usage: pocketvm image check IMAGE [key options]\n"
	"\n"
	"Recovers the key and authenticates every block; lists the blocks that fail.\n"
	"Exit status 0 when all are authentic, 1 otherwise.\n\n" KEY_SOURCE_HELP;

/* Reads every block; prints each one that fails. Returns how many failed. */
static uint64_t check_blocks(struct blockdev *bd, int *err)
{
	uint8_t *buf = malloc(IMAGE_BLOCK_SIZE);
	uint64_t bad = 0;

	*err = buf ? 0 : -ENOMEM;
	for (uint64_t off = 0; buf && off < bd->size; off += IMAGE_BLOCK_SIZE) {
		struct iovec iov = { buf, IMAGE_BLOCK_SIZE };
		int ret = blockdev_readv(bd, &iov, 1, off);

		if (ret == -EBADMSG) {
			printf("block %llu: authentication failed\n",
			       (unsigned long long)(off / IMAGE_BLOCK_SIZE));
			bad++;
		} else if (ret) {
			*err = ret;
			break;
		}
	}
	if (buf)
		explicit_bzero(buf, IMAGE_BLOCK_SIZE);
	free(buf);
	return bad;
}

int image_check_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks;
	struct blockdev *bd;
	uint64_t bad;
	int ret, err;

	ret = image_getopt(argc, argv, opts, check_help, 1, &ks, NULL, NULL);
	if (ret >= 0)
		return ret;
	if (image_open_blockdev(argv[optind], &ks, &bd))
		return 1;
	bad = check_blocks(bd, &err);
	if (err)
		fprintf(stderr, "pocketvm: %s: read failed: %s\n", argv[optind], strerror(-err));
	else if (bad)
		printf("%s: %llu of %llu blocks failed authentication\n", argv[optind],
		       (unsigned long long)bad, (unsigned long long)(bd->size / IMAGE_BLOCK_SIZE));
	else
		printf("%s: all %llu blocks authentic\n", argv[optind],
		       (unsigned long long)(bd->size / IMAGE_BLOCK_SIZE));
	blockdev_close(bd);
	return err || bad ? 1 : 0;
}
