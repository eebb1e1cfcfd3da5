// SPDX-License-Identifier: Apache-2.0
#include "vmm/console.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"

struct console {
	struct vm *vm;
	enum console_kind kind;
	pthread_mutex_t lock;
	int in_fd, out_fd, listen_fd;
	struct event *in_ev, *listen_ev;
	bool paused;
	bool tty_raw;
	struct termios saved_tty;
	struct console_sink sinks[CONSOLE_NR_SINKS];
	enum console_sink_id active;
	char *path;
};

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a gone or stuck client loses output, never the VM */
		p += n;
		len -= (size_t)n;
	}
}

void console_write(struct console *con, const void *buf, size_t len)
{
	if (!con)
		return;
	pthread_mutex_lock(&con->lock);
	if (con->out_fd >= 0)
		write_all(con->out_fd, buf, len);
	pthread_mutex_unlock(&con->lock);
}

static void drop_client(struct console *con)
{
	pthread_mutex_lock(&con->lock);
	if (con->in_ev) {
		event_free(con->in_ev);
		con->in_ev = NULL;
	}
	if (con->kind == CONSOLE_SOCKET && con->in_fd >= 0) {
		close(con->in_fd);
		con->in_fd = con->out_fd = -1;
	}
	pthread_mutex_unlock(&con->lock);
}

static void on_input(evutil_socket_t fd, short what, void *arg)
{
	struct console *con = arg;
	const struct console_sink *s = &con->sinks[con->active];
	uint8_t buf[64];
	size_t space;
	ssize_t n;

	if (!s->input) {
		s = &con->sinks[CONSOLE_SINK_UART];
		if (!s->input)
			return;
	}
	space = MIN(s->space(s->opaque), sizeof(buf));
	if (space == 0) {
		/* Wait until the guest drains its FIFO (console_rx_ready). */
		pthread_mutex_lock(&con->lock);
		con->paused = true;
		event_del(con->in_ev);
		pthread_mutex_unlock(&con->lock);
		return;
	}
	n = read(fd, buf, space);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_client(con);
		return;
	}
	s->input(s->opaque, buf, (size_t)n);
}

void console_rx_ready(struct console *con)
{
	if (!con)
		return;
	pthread_mutex_lock(&con->lock);
	if (con->paused && con->in_ev) {
		con->paused = false;
		event_add(con->in_ev, NULL);
	}
	pthread_mutex_unlock(&con->lock);
}

static int watch_input(struct console *con)
{
	con->in_ev = event_new(con->vm->evb, con->in_fd, EV_READ | EV_PERSIST, on_input, con);
	if (!con->in_ev || event_add(con->in_ev, NULL))
		return -ENOMEM;
	return 0;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct console *con = arg;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (con->in_fd >= 0) {
		close(c); /* one client at a time */
		return;
	}
	pthread_mutex_lock(&con->lock);
	con->in_fd = con->out_fd = c;
	con->paused = false;
	pthread_mutex_unlock(&con->lock);
	if (watch_input(con))
		drop_client(con);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* epoll refuses regular files and /dev/null: such stdin simply has no input. */
static bool pollable(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok;

	if (ep < 0)
		return false;
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return ok;
}

/* Raw input so keys reach the guest, but keep ISIG: Ctrl-C still stops the VMM. */
static void set_raw(struct console *con)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &con->saved_tty) < 0)
		return;
	t = con->saved_tty;
	cfmakeraw(&t);
	t.c_lflag |= ISIG;
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		con->tty_raw = true;
}

int console_new(struct vm *vm, enum console_kind kind, const char *path, struct console **out)
{
	struct console *con = calloc(1, sizeof(*con));
	int ret = 0;

	if (!con)
		return -ENOMEM;
	con->vm = vm;
	con->kind = kind;
	con->in_fd = con->out_fd = con->listen_fd = -1;
	pthread_mutex_init(&con->lock, NULL);
	if (kind == CONSOLE_STDIO) {
		con->in_fd = STDIN_FILENO;
		con->out_fd = STDOUT_FILENO;
		set_raw(con);
		if (pollable(con->in_fd) && watch_input(con))
			ret = -ENOMEM;
	} else if (kind == CONSOLE_SOCKET) {
		con->path = strdup(path);
		con->listen_fd = listen_unix(path);
		if (con->listen_fd < 0) {
			ret = con->listen_fd;
			log_error("console: cannot listen on %s: %s", path, strerror(-ret));
		} else {
			con->listen_ev = event_new(vm->evb, con->listen_fd, EV_READ | EV_PERSIST,
						   on_accept, con);
			if (!con->listen_ev || event_add(con->listen_ev, NULL))
				ret = -ENOMEM;
		}
	}
	if (ret) {
		console_free(con);
		return ret;
	}
	*out = con;
	return 0;
}

void console_free(struct console *con)
{
	if (!con)
		return;
	drop_client(con);
	if (con->listen_ev)
		event_free(con->listen_ev);
	if (con->listen_fd >= 0) {
		close(con->listen_fd);
		unlink(con->path);
	}
	if (con->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &con->saved_tty);
	free(con->path);
	pthread_mutex_destroy(&con->lock);
	free(con);
}

void console_set_sink(struct console *con, enum console_sink_id id, const struct console_sink *sink)
{
	con->sinks[id] = *sink;
}

void console_select_sink(struct console *con, enum console_sink_id id)
{
	if (!con)
		return;
	pthread_mutex_lock(&con->lock);
	con->active = id;
	pthread_mutex_unlock(&con->lock);
	console_rx_ready(con);
}
