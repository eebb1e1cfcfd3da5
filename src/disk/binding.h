/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key bindings (docs/image-format.md, "Bindings"): how an image's DEK is
 * recovered without ever being stored. A binding is a JSON object in the
 * header's bindings document; every one seals the DEK under a KEK that the
 * device alone cannot produce.
 */
#ifndef POCKETVM_DISK_BINDING_H
#define POCKETVM_DISK_BINDING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "crypto/secret.h"
#include "disk/image.h"

#define BINDINGS_MAX 16
#define BINDING_URL_MAX 2048

/* How the device reaches a Tang (or pocketvm-server) endpoint. */
struct tang_client_opts {
	const char *cafile; /* CA bundle for https; NULL = system default */
	const char *cert; /* client certificate (mTLS), PEM; NULL = none */
	const char *key; /* its private key, PEM */
	long timeout_s; /* whole request; 0 = 10 s */
	const char *url_override; /* use this base URL instead of the stored one */
};

struct unlock_opts {
	struct tang_client_opts tang;
	const char *recovery_key; /* path of the recovery private JWK (admin only) */
};

/*
 * Parses and validates a bindings document. NULL or "" is the empty set.
 * Returns the "bindings" array (new reference) or NULL with *why set.
 */
json_t *bindings_parse(const char *json, const char **why);

/* Validates one binding object (shape, sizes, types). */
bool binding_valid(const json_t *b, const char **why);

/* Serialises a bindings array into a header document (malloc'd string). */
char *bindings_dump(const json_t *arr);

/* The next free binding id in arr (1..65535), or 0 when full. */
unsigned int bindings_next_id(const json_t *arr);

/*
 * Adds a tang binding: fetches URL/adv, verifies it, requires a signing key
 * with thumbprint thp (unless thp is NULL and trust is true), runs the
 * McCallum-Relyea provisioning and seals dek. When thp is NULL and trust is
 * false, fails with -EPERM and returns the advertised thumbprints in *thps.
 */
int binding_add_tang(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
		     const char *url, const char *thp, bool trust, const struct tang_client_opts *o,
		     json_t **thps) __must_check;

/* Same with an advertisement the caller already has (offline provisioning). */
int binding_add_tang_adv(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
			 const char *url, const json_t *adv, const char *thp, bool trust,
			 json_t **thps) __must_check;

/* Adds a recovery binding: dek encrypted to the public JWK pub. */
int binding_add_recovery(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
			 const json_t *pub) __must_check;

/*
 * Recovers the DEK through one binding. tang: asks the server; recovery:
 * needs o->recovery_key. Returns 0, -ENOKEY (this binding cannot be used
 * with the given options), -EHOSTUNREACH (server not reachable), -EACCES
 * (server refused), -EBADMSG (unsealing failed) or another -errno.
 */
int binding_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN], const struct unlock_opts *o,
		   struct secret **dek) __must_check;

/*
 * Tries every binding of the header in order until one yields a DEK that
 * also verifies the header MAC. Returns -EKEYREVOKED for an erased image,
 * -ENOKEY when there are no bindings, or the last binding's error.
 */
int image_unlock(const struct image_header *h, const struct unlock_opts *o,
		 struct secret **dek) __must_check;

/*
 * What a launcher (pocketvmd, `pocketvm run`) calls before starting the
 * VMM: loads the header of image_fd, recovers the DEK through its bindings
 * and returns it in a fresh memfd_secret (or sealed memfd) *key_fd for
 * blockdev_crypt_open_fd() in the VMM. The launcher never holds the key in
 * ordinary memory; it passes key_fd on (SCM_RIGHTS or inheritance) and
 * closes its copy. image_fd is not consumed. Errors as image_unlock().
 */
int image_unlock_to_fd(int image_fd, const struct unlock_opts *o, int *key_fd) __must_check;

/* Helpers shared by the binding types (binding.c). */
int binding_seal(json_t *b, const struct secret *kek, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek) __must_check;
int binding_unseal(const json_t *b, const struct secret *kek, const uint8_t uuid[IMAGE_UUID_LEN],
		   struct secret **dek) __must_check;

/* Per-type recovery, called by binding_unlock. */
int binding_tang_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN],
			const struct tang_client_opts *o, struct secret **dek) __must_check;
int binding_recovery_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN],
			    const char *key_path, struct secret **dek) __must_check;

/* HTTP to Tang (tang_http.c). Replies are capped at 64 KiB. */
int tang_http_adv(const char *url, const struct tang_client_opts *o, json_t **adv) __must_check;
int tang_http_rec(const char *url, const char *kid, const json_t *xfr,
		  const struct tang_client_opts *o, json_t **reply) __must_check;

#endif
