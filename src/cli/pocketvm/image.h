/* SPDX-License-Identifier: Apache-2.0 */
/* Shared parts of the `pocketvm image` subcommands. */
#ifndef POCKETVM_CLI_IMAGE_H
#define POCKETVM_CLI_IMAGE_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/secret.h"
#include "disk/binding.h"
#include "disk/blockdev.h"
#include "disk/image.h"

/* Options every subcommand that needs the key accepts. */
struct key_source {
	struct unlock_opts unlock;
	int key_fd; /* -1, or an fd carrying the 32-byte DEK */
};

/* getopt_long rows for struct key_source (ids 0x100..), and their help. */
/* clang-format off */
#define KEY_SOURCE_OPTIONS \
	{ "key-fd", required_argument, NULL, 0x100 }, \
	{ "cacert", required_argument, NULL, 0x101 }, \
	{ "cert", required_argument, NULL, 0x102 }, \
	{ "key", required_argument, NULL, 0x103 }, \
	{ "tang-url", required_argument, NULL, 0x104 }, \
	{ "timeout", required_argument, NULL, 0x105 }, \
	{ "recovery-key", required_argument, NULL, 0x106 }
/* clang-format on */

#define KEY_SOURCE_HELP                                                             \
	"Key options (how the data key is recovered):\n"                            \
	"  --tang-url URL       reach the tang binding's server at URL instead\n"   \
	"  --cacert FILE        CA bundle for https servers\n"                      \
	"  --cert FILE --key FILE  client certificate for mTLS (pocketvm-server)\n" \
	"  --timeout SECONDS    per request (default 10)\n"                         \
	"  --recovery-key FILE  the enterprise recovery private JWK (admin only)\n" \
	"  --key-fd N           read the 32-byte key from fd N (launchers and tests)\n"

/* Handles a KEY_SOURCE_OPTIONS option; false if opt is not one of them. */
bool key_source_opt(struct key_source *ks, int opt, const char *arg);

/*
 * The option loop of an image subcommand: with ks, KEY_SOURCE_OPTIONS fill
 * it (it starts with no key fd); --help prints help; any other option goes
 * to on_opt (NULL: none), which returns false for one it refuses (having
 * said why, or not). Then exactly nargs operands must remain, at
 * argv[optind]. Returns -1 to go on, else the exit status: 0 after --help,
 * 2 after a usage error (the help then goes to stderr).
 */
int image_getopt(int argc, char *argv[], const struct option *opts, const char *help, int nargs,
		 struct key_source *ks, bool (*on_opt)(void *ctx, int opt, const char *arg),
		 void *ctx);

/*
 * image_open_unlock() read-only, then the crypt backend on it (read-only);
 * prints what failed. Returns 0 or -errno.
 */
int image_open_blockdev(const char *path, const struct key_source *ks, struct blockdev **bd);

/*
 * Opens path (O_RDWR when write), loads its header and recovers the DEK
 * (from --key-fd, else through its bindings), checking the header MAC.
 * Prints what failed. Returns 0 or -errno.
 */
int image_open_unlock(const char *path, bool write, const struct key_source *ks, int *fd,
		      struct image_header *h, struct secret **dek);

/* Loads the header of an open image; prints what failed. */
int image_load(int fd, const char *path, struct image_header *h);

/* Parses sizes like 4096, 64M, 2G (binary units). */
bool parse_size(const char *s, uint64_t *out);

/* Reads a whole small file (a JWK) as JSON; prints what failed. */
json_t *load_json_file(const char *path);

/* Adds the binding the --tang/--thp/--trust/--recovery-pub options describe. */
struct bind_request {
	const char *tang_url;
	const char *thp;
	bool trust;
	const char *recovery_pub;
};
int add_bindings(json_t *arr, const uint8_t *uuid, const struct secret *dek,
		 const struct bind_request *req, const struct tang_client_opts *o);
/*
 * image_getopt's on_opt for a struct bind_request: --tang ('t'), --thp
 * ('p'), --trust ('T'), --recovery-pub ('R'); false for any other option.
 */
bool bind_request_opt(void *ctx, int opt, const char *arg);

/* The image subcommands. */
int image_create_main(int argc, char *argv[]);
int image_inspect_main(int argc, char *argv[]);
int image_check_main(int argc, char *argv[]);
int image_bind_main(int argc, char *argv[]);
int image_unbind_main(int argc, char *argv[]);
int image_rekey_main(int argc, char *argv[]);
int image_export_main(int argc, char *argv[]);

#endif
