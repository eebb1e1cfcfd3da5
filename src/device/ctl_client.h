/* SPDX-License-Identifier: Apache-2.0 */
/* The client side of the control socket (ctlproto.h), used by `pocketvm`. */
#ifndef POCKETVM_DEVICE_CTL_CLIENT_H
#define POCKETVM_DEVICE_CTL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/util.h"

/*
 * Sends req (consumed) to the daemon at sock and reads its one-line answer.
 * Returns 0 with *answer set, -ENOENT/-ECONNREFUSED when no daemon listens,
 * -EPROTO for a malformed answer. With keep_fd, the connection stays open
 * in *keep_fd (for console streaming); otherwise it is closed.
 */
int __must_check ctl_call(const char *sock, json_t *req, json_t **answer, int *keep_fd, char *err,
			  size_t errlen);

#endif
