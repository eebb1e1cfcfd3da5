// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-simctl: one command to simnet's control socket, its reply on
 * stdout. Exit 0 for "OK", 1 for "ERR", 2 when the socket is unreachable.
 *
 *   pocketvm-simctl /run/pocketvm/simnet.sock call +15559999 +15550001
 *   pocketvm-simctl SOCK wait 5000 CALL id=3 answered
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char cmd[4096], line[8192];
	size_t len = 0, used = 0;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: pocketvm-simctl SOCKET COMMAND [ARGS...]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		int n = snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i > 2 ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(cmd) - len - 1) {
			fprintf(stderr, "pocketvm-simctl: command too long\n");
			return 2;
		}
		len += (size_t)n;
	}
	cmd[len++] = '\n';
	fd = connect_unix(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "pocketvm-simctl: %s: %s\n", argv[1], strerror(-fd));
		return 2;
	}
	if (write_all(fd, cmd, len) < 0) {
		fprintf(stderr, "pocketvm-simctl: write: %s\n", strerror(errno));
		close(fd);
		return 2;
	}
	/* Print lines until the final OK / ERR line. */
	for (;;) {
		ssize_t n = read(fd, line + used, sizeof(line) - used - 1);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "pocketvm-simctl: connection closed before a reply\n");
			close(fd);
			return 2;
		}
		used += (size_t)n;
		line[used] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			puts(line);
			if (strncmp(line, "OK", 2) == 0 || strncmp(line, "ERR", 3) == 0) {
				close(fd);
				return line[0] == 'O' ? 0 : 1;
			}
			used -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, used + 1);
		}
		if (used >= sizeof(line) - 1) {
			puts(line);
			used = 0;
		}
	}
}
