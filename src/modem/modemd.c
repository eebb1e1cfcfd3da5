// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-modemd: owns the radio and serves one virtual AT modem per VM on
 * a unix stream socket (which the VMM bridges to a virtio-console port).
 *
 *   pocketvm-modemd --radio simnet:/run/pocketvm/simnet.sock \
 *       --vm personal,+15550001,/run/pocketvm/personal.modem \
 *       --vm work,+15550002,/run/pocketvm/work.modem[,barred] [--dsds busy|wait]
 *
 * SOCKET may be "fd:N", a listening socket the launcher passed. With --jail
 * (only under a launcher that used sandbox_spawn()), the daemon locks itself
 * down once its sockets and radio are open: empty root, no capabilities,
 * uid nobody, and a seccomp allowlist of what an event loop needs.
 *
 * One client per VM socket: a new connection replaces the old one (the VMM
 * reconnecting). Output to a client is buffered; a client that stops reading
 * is first paused (no more commands from it) and then dropped, so it never
 * holds up the other VMs.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "modem/control.h"
#include "modem/listen.h"
#include "modem/radio.h"
#include "modem/router.h"

#define OUT_PAUSE (64 * 1024) /* stop reading commands above this much unsent output */
#define OUT_DROP (1024 * 1024) /* drop the client above this */

struct vm_port {
	struct router *router;
	int vm;
	char name[32];
	char path[108];
	struct listen_id id;
	struct event_base *base;
	struct evconnlistener *listener;
	struct bufferevent *client;
};

static void port_drop(struct vm_port *p, const char *why)
{
	if (!p->client)
		return;
	log_info("%s: modem client %s", p->name, why);
	bufferevent_free(p->client);
	p->client = NULL;
	modem_detach(router_modem(p->router, p->vm));
}

static void port_write(void *arg, const char *data, size_t len)
{
	struct vm_port *p = arg;
	struct evbuffer *out;

	if (!p->client)
		return; /* nobody on the line: like an unplugged serial port */
	out = bufferevent_get_output(p->client);
	if (evbuffer_get_length(out) + len > OUT_DROP) {
		port_drop(p, "stopped reading; disconnected");
		return;
	}
	bufferevent_write(p->client, data, len);
	if (evbuffer_get_length(out) > OUT_PAUSE)
		bufferevent_disable(p->client, EV_READ);
}

static void port_read(struct bufferevent *bev, void *arg)
{
	struct vm_port *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[4096];
	int n;

	/* libevent reads at most 16 KiB per callback: one VM cannot starve the rest. */
	while (p->client == bev && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		modem_input(router_modem(p->router, p->vm), buf, (size_t)n);
		if (p->client == bev &&
		    evbuffer_get_length(bufferevent_get_output(bev)) > OUT_PAUSE)
			break;
	}
}

static void port_drained(struct bufferevent *bev, void *arg)
{
	struct vm_port *p = arg;

	/* The write low-watermark is 0: everything went out, take commands again. */
	bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)))
		port_read(bev, p);
}

static void port_event(struct bufferevent *bev, short what, void *arg)
{
	struct vm_port *p = arg;

	if (what & BEV_EVENT_EOF)
		port_drop(p, "disconnected");
	else if (what & BEV_EVENT_ERROR)
		port_drop(p, "failed");
}

static void port_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
			void *arg)
{
	struct vm_port *p = arg;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	port_drop(p, "replaced by a new connection");
	p->client = bev;
	bufferevent_setcb(bev, port_read, port_drained, port_event, p);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_info("%s: modem client connected", p->name);
}

/*
 * What the daemon does after setup: the event loop (epoll), accepting and
 * talking to clients, timers, its own signal pipe, memory, logging. ioctl
 * only for FIONREAD, which libevent uses to size reads.
 */
static const char *const jail_syscalls[] = {
	"read",		 "readv",	 "write",	    "writev",
	"recvfrom",	 "sendto",	 "close",	    "accept",
	"accept4",	 "epoll_wait",	 "epoll_pwait",	    "epoll_ctl",
	"fcntl",	 "getsockopt",	 "setsockopt",	    "ioctl",
	"clock_gettime", "gettimeofday", "clock_nanosleep", "nanosleep",
	"brk",		 "mmap",	 "munmap",	    "mremap",
	"mprotect",	 "madvise",	 "futex",	    "sched_yield",
	"getrandom",	 "rt_sigreturn", "rt_sigprocmask",  "rt_sigaction",
	"sigaltstack",	 "getpid",	 "gettid",	    "newfstatat",
	"fstat",	 "stat",	 "unlink",	    "exit",
	"exit_group",
};

static int jail(void)
{
	static const unsigned long ioctls[] = { FIONREAD };
	const struct sandbox_lockdown l = { .uid = 65534, .gid = 65534, .hostname = "modemd" };
	const struct sandbox_rules rules = { jail_syscalls, ARRAY_SIZE(jail_syscalls), ioctls,
					     ARRAY_SIZE(ioctls) };
	int ret;

	struct tm tm;
	time_t t = 0;

	/* Lockdown pivots the root: only ever inside the launcher's new namespaces. */
	if (getpid() != 1) {
		log_error("--jail: not started by a jailing launcher (not pid 1 of its namespace)");
		return -EPERM;
	}
	/* The C library reads its time zone files once, on first use: now, not after. */
	tzset();
	gmtime_r(&t, &tm);
	ret = sandbox_lockdown(&l);
	if (ret == 0)
		ret = sandbox_seccomp_load(&rules);
	return ret;
}

/* A VM socket: a path to bind, or "fd:N", a listening socket handed to us. */
static struct evconnlistener *open_port(struct vm_port *p)
{
	char *end;
	long fd;

	if (strncmp(p->path, "fd:", 3))
		return modem_listen_unix(p->base, p->path, port_accept, p, &p->id);
	fd = strtol(p->path + 3, &end, 10);
	if (*end || end == p->path + 3 || fd < 3 || fd > 1024) {
		errno = EBADF;
		return NULL;
	}
	p->path[0] = '\0'; /* nothing to unlink at exit */
	if (evutil_make_socket_nonblocking((evutil_socket_t)fd) < 0)
		return NULL;
	return evconnlistener_new(p->base, port_accept, p, LEV_OPT_CLOSE_ON_FREE, -1,
				  (evutil_socket_t)fd);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	router_tick(arg, time(NULL));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d, shutting down", (int)sig);
	event_base_loopexit(arg, NULL);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pocketvm-modemd --radio simnet:CTL_SOCKET[,sms-gap-ms=N]|serial:TTY[,NUMBER]\n"
		"                       --vm NAME,NUMBER,SOCKET[,barred] [--vm ...]\n"
		"                       [--dsds busy|wait] [--log-level error|warn|info|debug]\n"
		"                       [--control PATH|fd:N] [--jail]   (SOCKET may be fd:N)\n");
	exit(2);
}

/* "NAME,NUMBER,SOCKET[,barred]" */
static bool parse_vm(char *spec, struct modem_config *cfg, char *path, size_t cap, bool *barred)
{
	char *save = NULL, *name = strtok_r(spec, ",", &save), *num = strtok_r(NULL, ",", &save);
	char *sock = strtok_r(NULL, ",", &save), *flag = strtok_r(NULL, ",", &save);

	if (!name || !num || !sock || strtok_r(NULL, ",", &save))
		return false;
	if (strlen(name) >= sizeof(cfg->name) || strlen(num) >= sizeof(cfg->number) ||
	    strlen(sock) >= cap)
		return false;
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->name, name);
	strcpy(cfg->number, num);
	strcpy(path, sock);
	*barred = false;
	if (flag) {
		if (strcmp(flag, "barred"))
			return false;
		*barred = true;
	}
	return true;
}

struct options {
	const char *radio;
	const char *control;
	char *vms[ROUTER_MAX_VMS];
	int nvms;
	enum router_dsds dsds;
	bool jail;
};

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "radio", required_argument, NULL, 'r' },
		{ "vm", required_argument, NULL, 'v' },
		{ "dsds", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "jail", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum log_level level;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			o->radio = optarg;
			break;
		case 'v':
			if (o->nvms >= ROUTER_MAX_VMS)
				die("at most %d VMs", ROUTER_MAX_VMS);
			o->vms[o->nvms++] = optarg;
			break;
		case 'd':
			if (strcmp(optarg, "busy") == 0)
				o->dsds = ROUTER_DSDS_BUSY;
			else if (strcmp(optarg, "wait") == 0)
				o->dsds = ROUTER_DSDS_WAIT;
			else
				usage();
			break;
		case 'j':
			o->jail = true;
			break;
		case 'c':
			o->control = optarg;
			break;
		case 'l':
			if (!log_parse_level(optarg, &level))
				usage();
			log_set_level(level);
			break;
		default:
			usage();
		}
	}
	if (!o->radio || o->nvms == 0 || optind != argc)
		usage();
}

/* One --vm: its modem in the router and its listening socket. */
static int add_vm(struct router *router, struct event_base *base, char *spec, struct vm_port *p)
{
	struct modem_config cfg;
	char where[sizeof(p->path)];
	bool barred;
	int vm;

	if (!parse_vm(spec, &cfg, p->path, sizeof(p->path), &barred)) {
		log_error("bad --vm '%s' (NAME,NUMBER,SOCKET[,barred])", spec);
		return -EINVAL;
	}
	vm = router_add_vm(router, &cfg, barred);
	if (vm < 0) {
		log_error("VM %s (%s): %s", cfg.name, cfg.number, strerror(-vm));
		return vm;
	}
	p->router = router;
	p->vm = vm;
	p->base = base;
	snprintf(p->name, sizeof(p->name), "%s", cfg.name);
	snprintf(where, sizeof(where), "%s", p->path);
	router_set_output(router, vm, port_write, p);
	p->listener = open_port(p);
	if (!p->listener) {
		log_error("%s: cannot listen on %s: %s", p->name, where, strerror(errno));
		return -errno;
	}
	log_info("VM %s: number %s on %s%s", cfg.name, cfg.number, where,
		 barred ? " (telephony barred)" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_port ports[ROUTER_MAX_VMS] = { 0 };
	struct options o = { .dsds = ROUTER_DSDS_BUSY };
	struct event_base *base;
	struct radio *radio = NULL;
	struct router *router = NULL;
	struct event *tick = NULL, *sigint = NULL, *sigterm = NULL;
	struct control *control = NULL;
	struct timeval second = { 1, 0 };
	int ret = 1;

	log_set_ident("pocketvm-modemd");
	parse_options(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base)
		die("cannot create event loop");
	if (radio_open(base, o.radio, NULL, NULL, &radio) < 0)
		goto out;
	router = router_new(radio, o.dsds);
	if (!router)
		goto out;
	for (int i = 0; i < o.nvms; i++) {
		if (add_vm(router, base, o.vms[i], &ports[i]) < 0)
			goto out;
	}
	if (o.control && !(control = control_new(base, o.control, router))) {
		log_error("control: cannot listen on %s: %s", o.control, strerror(errno));
		goto out;
	}
	tick = event_new(base, -1, EV_PERSIST, on_tick, router);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!tick || !sigint || !sigterm || event_add(tick, &second) < 0 ||
	    event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0)
		goto out;
	if (o.jail && jail() < 0)
		goto out;
	log_info("ready: %d VM(s), radio %s, dsds %s", o.nvms, radio->ops->name,
		 o.dsds == ROUTER_DSDS_BUSY ? "busy" : "wait");
	event_base_dispatch(base);
	ret = 0;
out:
	for (int i = 0; i < o.nvms; i++) {
		if (ports[i].client)
			bufferevent_free(ports[i].client);
		if (ports[i].listener) {
			evconnlistener_free(ports[i].listener);
			if (ports[i].path[0])
				modem_unlink_own(ports[i].path, &ports[i].id);
		}
	}
	control_free(control);
	if (tick)
		event_free(tick);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	router_free(router);
	radio_free(radio);
	event_base_free(base);
	return ret;
}
