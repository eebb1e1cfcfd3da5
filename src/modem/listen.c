// SPDX-License-Identifier: Apache-2.0
#include "modem/listen.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct evconnlistener *modem_listen_unix(struct event_base *base, const char *path,
					 evconnlistener_cb cb, void *arg, struct listen_id *id)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct evconnlistener *l;
	struct stat st;
	mode_t old;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sun.sun_path, path);
	/* Only a socket is replaced: a typo must not delete someone's file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	old = umask(077);
	l = evconnlistener_new_bind(base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    16, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (l && stat(path, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
	}
	return l;
}

void modem_unlink_own(const char *path, const struct listen_id *id)
{
	struct stat st;

	if (stat(path, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino)
		unlink(path);
}
