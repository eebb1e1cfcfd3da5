// SPDX-License-Identifier: Apache-2.0
#include "device/ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "device/ctlproto.h"
#include "device/jsonx.h"

/* Enrollment waits for the server; give it its timeouts plus some margin. */
#define CTL_ANSWER_TIMEOUT_MS 90000

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first newline, byte by byte (the rest is console data). */
static int read_line(int fd, char *buf, size_t cap, size_t *len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	*len = 0;
	while (*len < cap) {
		ssize_t n;

		if (poll(&p, 1, CTL_ANSWER_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf + *len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPROTO;
		if (buf[*len] == '\n')
			return 0;
		(*len)++;
	}
	return -EMSGSIZE;
}

int ctl_call(const char *sock, json_t *req, json_t **answer, int *keep_fd, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char *txt = json_dumps(req, JSON_COMPACT), *line = malloc(CTL_MAX_LINE);
	int fd = -1, r;
	size_t len;

	json_decref(req);
	if (!txt || !line || strlen(sock) >= sizeof(a.sun_path)) {
		r = -ENOMEM;
		snprintf(err, errlen, "cannot build the request");
		goto out;
	}
	strcpy(a.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ECONNREFUSED)
			snprintf(err, errlen, "pocketvmd is not running (nothing listens on %s)",
				 sock);
		else
			snprintf(err, errlen, "cannot connect to pocketvmd at %s: %s", sock,
				 strerror(-r));
		goto out;
	}
	r = send_all(fd, txt, strlen(txt));
	if (!r)
		r = send_all(fd, "\n", 1);
	if (!r)
		r = read_line(fd, line, CTL_MAX_LINE, &len);
	if (r) {
		snprintf(err, errlen, "no answer from pocketvmd: %s", strerror(-r));
		goto out;
	}
	*answer = jx_load(line, len, CTL_MAX_LINE);
	if (!json_is_object(*answer)) {
		json_decref(*answer);
		*answer = NULL;
		r = -EPROTO;
		snprintf(err, errlen, "malformed answer from pocketvmd");
		goto out;
	}
	if (keep_fd) {
		*keep_fd = fd;
		fd = -1;
	}
out:
	if (txt) {
		OPENSSL_cleanse(txt, strlen(txt)); /* may carry an enrollment token */
		free(txt);
	}
	free(line);
	if (fd >= 0)
		close(fd);
	return r;
}
