// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm console NAME: the VM's console, both ways, until the VM stops or
 * the user types Ctrl-] (as telnet). The terminal is put in raw mode only
 * when it is one.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/pocketvm/devcmd.h"

#define ESCAPE_CHAR 0x1d /* Ctrl-] */

static int pump(int sock)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
	char buf[4096];
	bool in_open = true;

	for (;;) {
		ssize_t n;

		p[0].fd = in_open ? 0 : -1;
		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[1].revents) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0)
				return 0; /* the VM stopped */
			if (write(1, buf, (size_t)n) < 0)
				return 1;
		}
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false; /* keep showing output after stdin ends */
				continue;
			}
			if (memchr(buf, ESCAPE_CHAR, (size_t)n))
				return 0;
			if (write(sock, buf, (size_t)n) < 0)
				return 1;
		}
	}
}

int console_main(int argc, char *argv[])
{
	struct devcmd c = { .name = "console", .usage = "NAME" };
	struct termios old, raw;
	bool tty = isatty(0);
	json_t *ans;
	int fd = -1, r = devcmd_parse(&c, argc, argv);

	if (r >= 0)
		return r;
	if (c.argc != 1) {
		fprintf(stderr, "Usage: pocketvm console NAME\n");
		return EXIT_USAGE;
	}
	c.json = false; /* the console is a byte stream */
	r = devcmd_call(&c, json_pack("{s:s,s:s}", "cmd", "console", "vm", c.argv[0]), &ans, &fd);
	if (r || !ans)
		return r;
	json_decref(ans);
	if (tty) {
		fprintf(stderr, "[attached to %s; Ctrl-] detaches]\r\n", c.argv[0]);
		tcgetattr(0, &old);
		raw = old;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	r = pump(fd);
	if (tty) {
		tcsetattr(0, TCSANOW, &old);
		fprintf(stderr, "\n[detached]\n");
	}
	close(fd);
	return r;
}
