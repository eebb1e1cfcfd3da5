/* SPDX-License-Identifier: Apache-2.0 */
/* Making a new encrypted image and filling it (the `image create` core). */
#ifndef POCKETVM_DISK_CREATE_H
#define POCKETVM_DISK_CREATE_H

#include <stdint.h>

#include "common/util.h"
#include "crypto/secret.h"
#include "disk/blockdev.h"
#include "disk/image.h"

/*
 * Formats fd as an image of data_size bytes (a multiple of 4096) with uuid
 * (see image_new_uuid) and the given bindings document, then fills every
 * block from src (a raw image; NULL for an empty disk): the image's last
 * block holds the source's tail followed by zeroes, and a shorter source is
 * padded with zeroes; a source larger than data_size is -EFBIG (a raw file
 * that ends inside a sector is rounded up to it, see blockdev_raw_open, so
 * ALIGN_UP(file size, 4096) always fits). All-zero blocks become
 * authenticated zero blocks with no data written (the file stays sparse), the
 * others are sealed. dek is borrowed. Sealing runs on `threads` threads (at
 * least 1). Returns 0 or -errno.
 */
int image_create(int fd, uint64_t data_size, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek, const char *bindings, struct blockdev *src,
		 unsigned int threads) __must_check;

/* A new random (version 4) UUID. */
int image_new_uuid(uint8_t uuid[IMAGE_UUID_LEN]) __must_check;

/* Copies a secret (for handing one DEK to several owners). */
int secret_dup(const struct secret *s, struct secret **out) __must_check;

#endif
