/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The crypt block backend (docs/image-format.md): what the VMM's
 * virtio-blk device talks to for an encrypted image. The public entry point
 * for the VMM is blockdev_crypt_open_fd() in blockdev.h; this header is for
 * in-process users (the `pocketvm image` tool) and tests.
 */
#ifndef POCKETVM_DISK_CRYPT_H
#define POCKETVM_DISK_CRYPT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "crypto/secret.h"
#include "disk/blockdev.h"
#include "disk/image.h"

/* How whole-block reads reach the caller (docs/benchmarks/disk.md compares them). */
enum crypt_read_path {
	/* Ciphertext read into the caller's buffer and opened in place, the next
	 * piece read by an io_uring worker meanwhile (synchronous without io_uring). */
	CRYPT_READ_AUTO,
	CRYPT_READ_SYNC, /* in place, one synchronous read per chunk */
	CRYPT_READ_BOUNCE, /* through a scratch buffer (the path before in-place reads) */
};

/* Knobs the tests and benchmarks turn; zero fields take the defaults. */
struct crypt_tuning {
	size_t cache_blocks; /* write-back cache size; default 4096 (16 MiB) */
	uint64_t epoch_budget; /* encryptions per epoch; default 2^30 */
	bool sync_checkpoints; /* no background flusher: checkpoints only in callers */
	enum crypt_read_path read_path;
	unsigned int piece_blocks; /* blocks per overlapped read; default CRYPT_PIECE_BLOCKS */
};

/* Image statistics a caller may print (never secrets). */
struct crypt_info {
	uint8_t uuid[IMAGE_UUID_LEN];
	uint32_t epoch; /* epoch this session writes with */
	bool recovered; /* the image was DIRTY and recovery ran */
	uint64_t recovered_slots; /* slots cleared by that recovery */
	bool async_reads; /* large reads overlap I/O and crypto through io_uring */
};

/*
 * Opens an image on image_fd with the DEK in dek. Takes ownership of both
 * (also on failure). Returns 0, -EBADMSG (header MAC mismatch: tampered or
 * wrong key), -EUCLEAN (no valid header), -EKEYREVOKED (image was
 * crypto-erased), -EBUSY (open read-write elsewhere), -EOVERFLOW (epochs
 * exhausted) or another -errno.
 */
int crypt_open_dek(int image_fd, struct secret *dek, bool read_only,
		   const struct crypt_tuning *tuning, struct blockdev **out) __must_check;

/* Same over an arbitrary image_io (the crash test); no locking, no fd. */
int crypt_open_io(const struct image_io *io, struct secret *dek, bool read_only,
		  const struct crypt_tuning *tuning, struct blockdev **out) __must_check;

/* Fills info for an open crypt blockdev. */
void crypt_get_info(struct blockdev *bd, struct crypt_info *info);

/*
 * Abandons a blockdev as a power cut would: frees memory and wipes keys
 * without writing anything (the crash test; never for normal use).
 */
void crypt_abandon(struct blockdev *bd);

#endif
