/* SPDX-License-Identifier: Apache-2.0 */
/* Unix stream listeners for the VM sockets and simnet's control socket. */
#ifndef POCKETVM_MODEM_LISTEN_H
#define POCKETVM_MODEM_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

#include <event2/listener.h>

/* Which file a listener's path was when we bound it. */
struct listen_id {
	dev_t dev;
	ino_t ino;
};

/*
 * Binds a unix stream socket at path with mode 0600 (only the VMM, running
 * as the same user, may connect) after removing a stale socket there.
 */
struct evconnlistener *modem_listen_unix(struct event_base *base, const char *path,
					 evconnlistener_cb cb, void *arg, struct listen_id *id);

/* Unlinks path only if it is still the socket we bound (not a successor's). */
void modem_unlink_own(const char *path, const struct listen_id *id);

#endif
