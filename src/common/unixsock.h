/* SPDX-License-Identifier: Apache-2.0 */
/* Unix stream sockets by path: every socket pocketvm talks over locally. */
#ifndef POCKETVM_COMMON_UNIXSOCK_H
#define POCKETVM_COMMON_UNIXSOCK_H

#include "common/util.h"

/*
 * Connects a SOCK_STREAM socket to path; flags are extra socket() type
 * flags (SOCK_NONBLOCK). Close-on-exec always. Returns the fd or -errno
 * (-ENAMETOOLONG when path does not fit in sun_path).
 */
int unix_connect(const char *path, int flags) __must_check;

/*
 * Binds and listens on path. A stale socket left there by an earlier run
 * is replaced; any other kind of file is an error (-EEXIST), never removed.
 */
int unix_listen(const char *path, int backlog, int flags) __must_check;

#endif
