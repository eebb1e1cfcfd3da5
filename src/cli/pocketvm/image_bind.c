// SPDX-License-Identifier: Apache-2.0
/* `pocketvm image bind`, `unbind` and `rekey`: bindings change, data stays. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pocketvm/image.h"

/* Writes arr as the header's bindings (both copies, so no stale one remains). */
static int store_bindings(int fd, struct image_header *h, const json_t *arr,
			  const struct secret *dek)
{
	char *doc = json_array_size(arr) ? bindings_dump(arr) : NULL;
	struct image_io io;
	int ret;

	image_io_fd(&io, &fd);
	ret = image_header_set_bindings(h, doc);
	for (int i = 0; !ret && i < 2; i++)
		ret = image_header_store(&io, h, dek);
	free(doc);
	if (ret)
		fprintf(stderr, "pocketvm: cannot write the header: %s\n", strerror(-ret));
	return ret;
}

static json_t *current_bindings(const struct image_header *h)
{
	const char *why;
	json_t *arr = bindings_parse(h->bindings, &why);

	if (!arr)
		fprintf(stderr, "pocketvm: bindings unreadable: %s\n", why);
	return arr;
}

static const char bind_help[] =
	"Usage: pocketvm image bind IMAGE (--tang URL (--thp THP | --trust) | --recovery-pub JWK)\n"
	"           [key options]\n"
	"\n"
	"Adds a binding. The key is first recovered through an existing binding.\n\n" KEY_SOURCE_HELP;

int image_bind_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "tang", required_argument, NULL, 't' },
		{ "thp", required_argument, NULL, 'p' },
		{ "trust", no_argument, NULL, 'T' },
		{ "recovery-pub", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks;
	struct bind_request req = { 0 };
	json_auto_t *arr = NULL;
	struct image_header h;
	struct secret *dek;
	int fd, ret;

	ret = image_getopt(argc, argv, opts, bind_help, 1, &ks, bind_request_opt, &req);
	if (ret >= 0)
		return ret;
	if (!req.tang_url && !req.recovery_pub) {
		fputs(bind_help, stderr);
		return 2;
	}
	if (image_open_unlock(argv[optind], true, &ks, &fd, &h, &dek))
		return 1;
	arr = current_bindings(&h);
	ret = arr ? add_bindings(arr, h.uuid, dek, &req, &ks.unlock.tang) : -EUCLEAN;
	if (!ret)
		ret = store_bindings(fd, &h, arr, dek);
	if (!ret)
		printf("%s: %zu binding(s)\n", argv[optind], json_array_size(arr));
	secret_free(dek);
	image_header_release(&h);
	close(fd);
	return ret ? 1 : 0;
}

static const char unbind_help[] =
	"Usage: pocketvm image unbind IMAGE --id ID [key options]\n"
	"       pocketvm image unbind IMAGE --erase\n"
	"\n"
	"Removes binding ID (see `inspect`); the key is recovered through any binding.\n"
	"--erase destroys every binding without needing the key: the image can never be\n"
	"opened again (crypto-erase).\n\n" KEY_SOURCE_HELP;

static int erase(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct image_io io;
	int ret;

	if (fd < 0) {
		fprintf(stderr, "pocketvm: %s: %s\n", path, strerror(errno));
		return 1;
	}
	image_io_fd(&io, &fd);
	ret = image_header_erase(&io);
	close(fd);
	if (ret) {
		fprintf(stderr, "pocketvm: %s: erase failed: %s\n", path, strerror(-ret));
		return 1;
	}
	printf("%s: crypto-erased: every key binding destroyed\n", path);
	return 0;
}

struct unbind_request {
	long id;
	bool erase;
};

static bool unbind_opt(void *ctx, int opt, const char *arg)
{
	struct unbind_request *r = ctx;

	if (opt == 'i')
		r->id = atol(arg);
	else if (opt == 'E')
		r->erase = true;
	return opt == 'i' || opt == 'E';
}

int image_unbind_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "erase", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks;
	json_auto_t *arr = NULL;
	struct image_header h;
	struct secret *dek;
	struct unbind_request req = { 0 };
	long id;
	int fd, ret;

	ret = image_getopt(argc, argv, opts, unbind_help, 1, &ks, unbind_opt, &req);
	if (ret >= 0)
		return ret;
	if (req.erase == (req.id > 0)) {
		fputs(unbind_help, stderr);
		return 2;
	}
	if (req.erase)
		return erase(argv[optind]);
	id = req.id;
	ret = -ENOENT;
	if (image_open_unlock(argv[optind], true, &ks, &fd, &h, &dek))
		return 1;
	arr = current_bindings(&h);
	for (size_t i = 0; arr && i < json_array_size(arr); i++) {
		if (json_integer_value(json_object_get(json_array_get(arr, i), "id")) == id) {
			json_array_remove(arr, i);
			ret = 0;
		}
	}
	if (ret)
		fprintf(stderr, "pocketvm: %s: no binding with id %ld\n", argv[optind], id);
	else if (json_array_size(arr) == 0)
		fprintf(stderr,
			"pocketvm: %s: that is the last binding; use --erase to destroy "
			"the image's key for good\n",
			argv[optind]);
	if (!ret && json_array_size(arr) == 0)
		ret = -EPERM;
	if (!ret)
		ret = store_bindings(fd, &h, arr, dek);
	if (!ret)
		printf("%s: binding %ld removed, %zu left\n", argv[optind], id,
		       json_array_size(arr));
	secret_free(dek);
	image_header_release(&h);
	close(fd);
	return ret ? 1 : 0;
}

static const char rekey_help[] =
	"Usage: pocketvm image rekey IMAGE [--thp THP | --trust] [key options]\n"
	"\n"
	"Re-provisions every tang binding against its server's current advertisement\n"
	"(after the server rotated its keys): a new client value, the same data key, no\n"
	"data re-encrypted. Recovery bindings are kept as they are.\n\n" KEY_SOURCE_HELP;

/* Replaces each tang binding by a fresh one to the same URL. */
static int rekey_tang(json_t *arr, const struct image_header *h, const struct secret *dek,
		      const char *thp, bool trust, const struct tang_client_opts *o)
{
	json_auto_t *out = json_array();
	json_t *b;
	size_t i;
	int ret = 0;

	json_array_foreach(arr, i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "type")), "tang")) {
			json_array_append(out, b);
			continue;
		}
		struct bind_request req = { .tang_url =
						    json_string_value(json_object_get(b, "url")),
					    .thp = thp,
					    .trust = trust };

		ret = add_bindings(out, h->uuid, dek, &req, o);
		if (ret)
			return ret;
	}
	json_array_clear(arr);
	return json_array_extend(arr, out) < 0 ? -ENOMEM : 0;
}

int image_rekey_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "thp", required_argument, NULL, 'p' },
		{ "trust", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks;
	struct bind_request req = { 0 };
	json_auto_t *arr = NULL;
	struct image_header h;
	struct secret *dek;
	int fd, ret;

	/* Only --thp and --trust are in opts: the rest of bind_request stays unset. */
	ret = image_getopt(argc, argv, opts, rekey_help, 1, &ks, bind_request_opt, &req);
	if (ret >= 0)
		return ret;
	if (image_open_unlock(argv[optind], true, &ks, &fd, &h, &dek))
		return 1;
	arr = current_bindings(&h);
	ret = arr ? rekey_tang(arr, &h, dek, req.thp, req.trust, &ks.unlock.tang) : -EUCLEAN;
	if (!ret)
		ret = store_bindings(fd, &h, arr, dek);
	if (!ret)
		printf("%s: bindings re-provisioned\n", argv[optind]);
	secret_free(dek);
	image_header_release(&h);
	close(fd);
	return ret ? 1 : 0;
}
