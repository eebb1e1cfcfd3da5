/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory: where keys live.
 *
 * A secret is backed by memfd_secret(2) where the kernel has it (the pages
 * are removed from the kernel's direct map, never swapped, never in a core
 * dump); otherwise by an anonymous mapping that is mlock()ed, excluded from
 * core dumps (MADV_DONTDUMP) and from children (MADV_DONTFORK). Either way
 * secret_free() wipes it with explicit_bzero() before unmapping.
 */
#ifndef POCKETVM_CRYPTO_SECRET_H
#define POCKETVM_CRYPTO_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct secret {
	uint8_t *data;
	size_t len;
	size_t map_len; /* page-rounded mapping behind data */
	bool secretmem; /* backed by memfd_secret */
};

/* Allocates len zeroed secret bytes (len > 0). Returns 0 or -errno. */
int secret_new(size_t len, struct secret **out) __must_check;

/* Wipes and frees; NULL is a no-op. */
void secret_free(struct secret *s);

/*
 * Reads exactly len key bytes from fd into a new secret: from a pipe or
 * socket with read(2), from a memfd or memfd_secret by mapping it. Closes fd
 * in every case (the key must not linger in an open descriptor).
 */
int secret_from_fd(int fd, size_t len, struct secret **out) __must_check;

/*
 * Creates an fd holding s's bytes for a key handoff: a memfd_secret where
 * available, otherwise a sealed memfd. The caller passes it on and closes it.
 */
int secret_to_fd(const struct secret *s, int *fd_out) __must_check;

/* Constant-time equality of two byte strings of length n. */
bool secret_equal(const void *a, const void *b, size_t n);

/* True when this kernel offers memfd_secret (for tests and diagnostics). */
bool secret_memfd_available(void);

#endif
