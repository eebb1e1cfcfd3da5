/* SPDX-License-Identifier: Apache-2.0 */
/* Durable file helpers for pocketvmd's state directory. */
#ifndef POCKETVM_DEVICE_FSUTIL_H
#define POCKETVM_DEVICE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

/*
 * Replaces path with buf durably: a temporary file next to it, fsync,
 * rename over path, fsync of the directory. Returns 0 or -errno; on error
 * path is untouched.
 */
int __must_check write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* Reads at most max bytes of path into a malloc'd, NUL-terminated buffer. */
int __must_check read_file(const char *path, size_t max, char **out, size_t *len);

/* out = "a/b"; -ENAMETOOLONG if it does not fit in cap. */
int __must_check path_join(char *out, size_t cap, const char *a, const char *b);

/* fsync of a directory (after creating or removing entries in it). */
int fsync_dir(const char *dir);

/* Removes a directory tree (no symlinks followed); 0 if it did not exist. */
int __must_check remove_tree(const char *path);

#endif
