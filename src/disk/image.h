/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encrypted image format, version 1 (docs/image-format.md): header
 * parsing and writing, the layout, and the key derivations. The block
 * backend (crypt.c) and the `pocketvm image` tool build on this.
 */
#ifndef POCKETVM_DISK_IMAGE_H
#define POCKETVM_DISK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/util.h"
#include "crypto/secret.h"

#define IMAGE_MAGIC "PVMIMG\0\1"
#define IMAGE_VERSION 1u
#define IMAGE_SUITE_AES256GCM 1u
#define IMAGE_BLOCK_SIZE 4096u
#define IMAGE_HEADER_SLOT 65536u /* bytes per header copy */
#define IMAGE_HEADER_FIXED 160u /* fixed part before the bindings */
#define IMAGE_BINDINGS_MAX (IMAGE_HEADER_SLOT - IMAGE_HEADER_FIXED)
#define IMAGE_META_OFFSET (2 * (uint64_t)IMAGE_HEADER_SLOT)
#define IMAGE_RECORD_SIZE 64u /* two 32-byte slots per block */
#define IMAGE_SLOT_SIZE 32u
#define IMAGE_MAX_DATA_SIZE (1ull << 50)
#define IMAGE_EPOCH_MAX ((1u << 23) - 1)
#define IMAGE_UUID_LEN 16
#define IMAGE_MAC_LEN 32
#define IMAGE_DEK_LEN 32

#define IMAGE_FLAG_DIRTY 0x1u
#define IMAGE_FLAG_ERASED 0x2u
#define IMAGE_FLAGS_KNOWN (IMAGE_FLAG_DIRTY | IMAGE_FLAG_ERASED)

struct image_header {
	uint32_t version;
	uint32_t flags;
	uint64_t seq;
	uint8_t uuid[IMAGE_UUID_LEN];
	uint32_t block_size;
	uint32_t suite;
	uint64_t data_size;
	uint64_t meta_offset;
	uint64_t data_offset;
	uint32_t epoch;
	uint32_t session_epoch;
	uint8_t mac[IMAGE_MAC_LEN];
	char *bindings; /* NUL-terminated JSON, malloc'd; NULL when empty */
	size_t bindings_len;
};

/*
 * Positioned I/O on the image. The default goes to an fd; the crash test
 * substitutes a layer that records writes and syncs. Each returns 0 or
 * -errno and transfers everything or fails.
 */
struct image_io {
	int (*pread)(void *ctx, void *buf, size_t len, uint64_t off);
	int (*pwrite)(void *ctx, const void *buf, size_t len, uint64_t off);
	/* Gathers iovcnt (<= IOV_MAX) buffers into one contiguous range. */
	int (*pwritev)(void *ctx, const struct iovec *iov, int iovcnt, uint64_t off);
	/* Deallocates a range (reads of it return zeroes); may be NULL. */
	int (*punch)(void *ctx, uint64_t off, uint64_t len);
	int (*sync)(void *ctx);
	void *ctx;
};

/* Fills io to work on *fd (fd must outlive io). */
void image_io_fd(struct image_io *io, int *fd);

/* Where the metadata and data areas start, and the file size, for a data size. */
void image_layout(uint64_t data_size, uint64_t *meta_offset, uint64_t *data_offset,
		  uint64_t *file_size);

/*
 * Parses one header copy (len bytes, at most IMAGE_HEADER_SLOT). Checks the
 * magic, version, checksum, every field and the layout; does not check the
 * MAC (that needs the DEK). On success fills h (release it with
 * image_header_release); on failure sets *why to one precise message.
 */
bool image_header_parse(const uint8_t *buf, size_t len, struct image_header *h, const char **why);

void image_header_release(struct image_header *h);

/*
 * Serialises h into buf (IMAGE_HEADER_SLOT bytes) with its checksum, and
 * its MAC when dek is not NULL (else the MAC field is zero).
 */
int image_header_serialize(const struct image_header *h, const struct secret *dek,
			   uint8_t *buf) __must_check;

/* Reads both copies and picks the current one (docs/image-format.md). */
int image_header_load(const struct image_io *io, struct image_header *h,
		      const char **why) __must_check;

/*
 * Writes h as the next sequence number into the copy not holding the
 * current one, then syncs. Updates h->seq and h->mac.
 */
int image_header_store(const struct image_io *io, struct image_header *h,
		       const struct secret *dek) __must_check;

/* Checks the header MAC under dek: 0, or -EBADMSG when it does not match. */
int image_header_verify(const struct image_header *h, const struct secret *dek) __must_check;

/* Replaces the bindings document (copied; NULL or "" for none). */
int image_header_set_bindings(struct image_header *h, const char *json) __must_check;

/* K_e for epoch e into out (32 bytes). */
int image_data_key(const struct secret *dek, const uint8_t uuid[IMAGE_UUID_LEN], uint32_t epoch,
		   uint8_t *out) __must_check;

/*
 * Writes a fresh image: both header copies (no bindings unless given,
 * epoch 0), zeroed metadata, and sizes the file. The blocks are then
 * sealed by the crypt backend (image_create in create.c does both).
 */
int image_format(int fd, uint64_t data_size, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek, const char *bindings) __must_check;

/*
 * Crypto-erase: rewrites both header copies with ERASED set, no bindings
 * and no MAC (or, when no copy is readable, zeroes both). Needs no key.
 * Afterwards the DEK cannot be recovered.
 */
int image_header_erase(const struct image_io *io) __must_check;

/* Formats a UUID as the usual 36-character string (buf >= 37 bytes). */
void image_uuid_str(const uint8_t uuid[IMAGE_UUID_LEN], char *buf);

#endif
