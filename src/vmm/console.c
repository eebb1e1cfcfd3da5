// SPDX-License-Identifier: Apache-2.0
#include "vmm/console.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
	/*
	 * stdin that epoll cannot watch (a regular file, /dev/null): in_ev then
	 * has no fd and is made active by hand whenever the sink has room, and
	 * reading it never blocks.
	 */
	bool in_unpolled;
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
	n = read(con->in_fd, buf, space);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (n < 0 && con->in_unpolled)
			log_warn("console: reading stdin: %s; no more input", strerror(errno));
		drop_client(con);
		return;
	}
	s->input(s->opaque, buf, (size_t)n);
	/* Nothing will wake an unpolled input: come back while there is room. */
	if (con->in_unpolled)
		event_active(con->in_ev, EV_READ, 0);
}

void console_rx_ready(struct console *con)
{
	if (!con)
		return;
	pthread_mutex_lock(&con->lock);
	if (con->paused && con->in_ev) {
		con->paused = false;
		if (con->in_unpolled)
			event_active(con->in_ev, EV_READ, 0);
		else
			event_add(con->in_ev, NULL);
	}
	pthread_mutex_unlock(&con->lock);
}

static int watch_input(struct console *con)
{
	if (con->in_unpolled) {
		/* No fd: libevent's epoll refuses it. Read until EOF as the sink allows. */
		con->in_ev = event_new(con->vm->evb, -1, 0, on_input, con);
		if (!con->in_ev)
			return -ENOMEM;
		event_active(con->in_ev, EV_READ, 0);
		return 0;
	}
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

/* epoll refuses regular files and /dev/null (EPERM). */
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

/*
 * A VMM started with stdin closed hands fd 0 to the first thing it opens
 * (/dev/kvm, an eventfd, the epoll instance): reading "stdin" would at best
 * fail and at worst steal an eventfd's events. Neither is ever a user's stdin.
 */
static bool stdin_reused(int fd)
{
	char path[32], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strncmp(target, "anon_inode:", 11) || !strcmp(target, "/dev/kvm");
}

/*
 * Decides how stdin is read: watched by epoll (a terminal, pipe, socket),
 * read as the guest takes it (what epoll refuses: a regular file, /dev/null,
 * which never block), or not at all when it is closed. A stdin that cannot
 * be read (a directory, opened write-only) is an error the user must see.
 */
static int check_stdin(struct console *con, bool *usable)
{
	struct stat st;
	int fl;

	*usable = false;
	if (fstat(con->in_fd, &st) < 0 || stdin_reused(con->in_fd)) {
		log_info("console: stdin is closed: the guest gets no input");
		return 0;
	}
	fl = fcntl(con->in_fd, F_GETFL);
	if (S_ISDIR(st.st_mode) || (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY)) {
		log_error("console: stdin cannot be read (%s); give the VMM a terminal, pipe, "
			  "file or </dev/null",
			  S_ISDIR(st.st_mode) ? "it is a directory" : "it is open write-only");
		return -EBADF;
	}
	if (!pollable(con->in_fd)) {
		if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
			log_error("console: stdin (mode 0%o) can neither be watched nor read "
				  "without blocking; use a terminal, pipe, file or </dev/null",
				  (unsigned int)(st.st_mode & S_IFMT));
			return -EBADF;
		}
		con->in_unpolled = true;
	}
	*usable = true;
	return 0;
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
		bool usable;

		con->in_fd = STDIN_FILENO;
		con->out_fd = STDOUT_FILENO;
		ret = check_stdin(con, &usable);
		if (!ret && usable) {
			set_raw(con);
			ret = watch_input(con);
		}
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
