// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvmd: the device daemon (docs/device.md). Runs as root, in the
 * foreground (a service manager supervises it).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "device/client.h"
#include "device/ctlproto.h"
#include "device/daemon.h"
#include "device/fsutil.h"

extern const struct image_ops pvd_image_ops;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pocketvmd [options]\n"
		"  --state-dir DIR          identity, state and VMs (default /var/lib/pocketvm)\n"
		"  --socket PATH            control socket (default " CTL_SOCKET_PATH ")\n"
		"  --vmm PATH               the VMM binary (default: pocketvm-vmm next to us)\n"
		"  --max-checkin-interval S check in at least every S seconds\n"
		"  --log-level LEVEL        error, warn, info (default) or debug\n"
		"  --fault-inject POINT     tests only: crash at after-erase|after-remove\n");
}

/* Once the daemon is stopping and no VMM is left: save the state and leave. */
static void exit_when_idle(struct pvd *d)
{
	if (!d->stopping)
		return;
	for (size_t i = 0; i < MAX_VMS; i++)
		if (d->vms[i].pid > 0)
			return;
	log_info("stopping: no VM left running; state saved");
	pvd_save(d);
	event_base_loopexit(d->base, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pvd *d = arg;

	pvd_enforce(d);
	supervisor_tick(d); /* kills a VMM whose guest outlived its stop grace */
	exit_when_idle(d);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		vm_reaped(arg, pid, status);
	exit_when_idle(arg);
}

/*
 * The first SIGTERM/SIGINT asks every guest to shut down (pocketvm stop for
 * all; the supervisor kills a VMM that outlives its grace), and the daemon
 * exits once none is left; the lease, wipe and check-in machinery keeps
 * running meanwhile. A second signal kills the VMMs at once.
 */
static void on_term(evutil_socket_t fd, short what, void *arg)
{
	struct pvd *d = arg;
	bool hard = d->stopping;

	if (hard)
		log_info("stopping now: killing the VMs left");
	else
		log_info("stopping: asking every guest to shut down (up to %d s; a second signal "
			 "kills them now)",
			 VMM_SHUTDOWN_GRACE_S);
	d->stopping = true;
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];

		if (vm->pid > 0 || vm->run == VM_OPENING) {
			vm->want_running = false;
			vm_stop(d, vm, hard);
		}
	}
	exit_when_idle(d);
}

static int parse_args(struct pvd *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "vmm", required_argument, NULL, 'v' },
		{ "max-checkin-interval", required_argument, NULL, 'i' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "fault-inject", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum log_level lvl;
	int c;

	snprintf(d->dir, sizeof(d->dir), "/var/lib/pocketvm");
	snprintf(d->sock_path, sizeof(d->sock_path), CTL_SOCKET_PATH);
	vmm_default_path(d->vmm_path, sizeof(d->vmm_path), "../vmm/pocketvm-vmm");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			snprintf(d->dir, sizeof(d->dir), "%s", optarg);
			break;
		case 's':
			snprintf(d->sock_path, sizeof(d->sock_path), "%s", optarg);
			break;
		case 'v':
			snprintf(d->vmm_path, sizeof(d->vmm_path), "%s", optarg);
			break;
		case 'i':
			d->max_interval = strtoll(optarg, NULL, 10);
			if (d->max_interval < 1)
				die("--max-checkin-interval: a positive number of seconds");
			break;
		case 'l':
			if (!log_parse_level(optarg, &lvl))
				die("--log-level: error, warn, info or debug");
			log_set_level(lvl);
			break;
		case 'f':
			if (strcmp(optarg, "after-erase") == 0)
				d->fault = FAULT_AFTER_ERASE;
			else if (strcmp(optarg, "after-remove") == 0)
				d->fault = FAULT_AFTER_REMOVE;
			else
				die("--fault-inject: after-erase or after-remove");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

static void add_event(struct event *ev, const struct timeval *tv)
{
	if (!ev || event_add(ev, tv) < 0)
		die("cannot register an event");
}

int main(int argc, char **argv)
{
	static struct pvd d = { .listen_fd = -1 };
	struct event *term, *intr;
	int r;

	log_set_ident("pocketvmd");
	if (parse_args(&d, argc, argv) < 0)
		return 2;
	/* Keys are in this process: no core dumps, no ptrace by other users. */
	prctl(PR_SET_DUMPABLE, 0);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	if (CRYPTO_secure_malloc_init(1 << 16, 16) != 1)
		log_warn("OpenSSL secure heap unavailable: keys in ordinary memory");
	if (client_global_init() < 0)
		die("libcurl initialisation failed");
	d.img = &pvd_image_ops;
	d.base = event_base_new();
	if (!d.base)
		die("event loop: out of memory");
	d.net = netq_new(d.base);
	if (!d.net)
		die("cannot create the network queue");
	for (size_t i = 0; i < MAX_VMS; i++) {
		d.vms[i].d = &d;
		d.vms[i].console_fd = d.vms[i].log_fd = d.vms[i].last_exit = -1;
	}
	if (strlen(d.dir) > PATH_MAX - 256)
		die("--state-dir: path too long");
	r = pvd_init(&d);
	if (r < 0)
		die("cannot start with state directory %s: %s", d.dir, strerror(-r));
	r = ctl_listen(&d);
	if (r < 0)
		die("cannot listen on %s: %s", d.sock_path, strerror(-r));
	d.sigchld_ev = evsignal_new(d.base, SIGCHLD, on_sigchld, &d);
	term = evsignal_new(d.base, SIGTERM, on_term, &d);
	intr = evsignal_new(d.base, SIGINT, on_term, &d);
	d.tick_ev = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
	add_event(d.sigchld_ev, NULL);
	add_event(term, NULL);
	add_event(intr, NULL);
	add_event(d.tick_ev, &(struct timeval){ .tv_sec = 1 });
	supervisor_kill_orphans(&d);
	/* An interrupted wipe finishes before anything else happens. */
	wipe_resume(&d);
	pvd_enforce(&d);
	pvd_autostart(&d);
	log_info("ready: state in %s, control socket %s, %s", d.dir, d.sock_path,
		 d.id.enrolled ? d.id.device_id : "not enrolled");
	if (d.id.enrolled)
		checkin_now(&d);
	event_base_dispatch(d.base);
	unlink(d.sock_path);
	pvd_fini(&d);
	/*
	 * This thread's DRBGs: OpenSSL's own cleanup at exit did not free them
	 * (LeakSanitizer saw them), and a clean exit must be clean.
	 */
	OPENSSL_thread_stop();
	return 0;
}
