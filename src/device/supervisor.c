// SPDX-License-Identifier: Apache-2.0
/*
 * The VM supervisor: one pocketvm-vmm process per VM, started with the fds it
 * needs (console on stdin/stdout, the disk image on fd 3, its key on fd 4),
 * stopped, restarted per vm.json's policy, and reaped with its exit status
 * logged. A work VM's key is recovered from the server for every start and
 * exists in the daemon only in the pipe between recovery and the VMM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sandbox.h"
#include "device/client.h"
#include "device/console.h"
#include "device/daemon.h"
#include "device/vmconf.h"

#define VM_LOG_MAX (1024 * 1024)
/* The VMM's own grace for the guest, then time to stop the vCPUs and flush the disks. */
#define STOP_GRACE_S (VMM_SHUTDOWN_GRACE_S + 10)
#define STABLE_UPTIME_NS (10LL * 1000000000LL)

static const char *const run_names[] = {
	[VM_STOPPED] = "stopped",
	[VM_OPENING] = "opening",
	[VM_RUNNING] = "running",
	[VM_STOPPING] = "stopping",
};

const char *vm_run_name(enum vm_run r)
{
	return run_names[r];
}

/* What a pocketvm-vmm exit status means (docs/vmm.md, "Exit status"). */
static const char *vm_exit_meaning(int status)
{
	static const char *const meanings[] = {
		"the guest powered off", "VMM error",
		"bad VMM arguments",	 "the guest rebooted",
		"the guest crashed",	 "stopped by the VMM: the guest did not shut down in time",
	};

	return status >= 0 && status < (int)ARRAY_SIZE(meanings) ? meanings[status] :
								   "unknown status";
}

static int64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void file_in(char *out, size_t cap, const struct vm *vm, const char *rel)
{
	snprintf(out, cap, "%s/%s", vm->dir, rel);
}

/* Field 22 of /proc/PID/stat: the process's start time, to recognise it later. */
static unsigned long long proc_start(pid_t pid)
{
	char p[64], buf[1024], *s;
	unsigned long long t = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (s = strrchr(buf, ')')) &&
	    sscanf(s + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   &t) != 1)
		t = 0;
	fclose(f);
	return t;
}

static void pidfile_path(char *out, size_t cap, const struct vm *vm)
{
	snprintf(out, cap, "%s/vmm.pid", vm->dir);
}

/*
 * A VMM left running by a previous daemon (crash, kill -9) holds a key and
 * is outside lease enforcement: it is killed before anything else.
 */
void supervisor_kill_orphans(struct pvd *d)
{
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];
		char p[PATH_MAX + 16], buf[64];
		unsigned long long start;
		FILE *f;
		int pid;

		if (!vm->present)
			continue;
		pidfile_path(p, sizeof(p), vm);
		f = fopen(p, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%d %llu", &pid, &start) == 2 &&
		    pid > 1 && start && proc_start(pid) == start) {
			log_warn("vm %s: killing VMM pid %d left by a previous pocketvmd",
				 vm->conf.name, pid);
			kill(pid, SIGKILL);
		}
		fclose(f);
		unlink(p);
	}
}

static void on_console(evutil_socket_t fd, short what, void *arg);

static void write_pidfile(const struct vm *vm)
{
	char p[PATH_MAX + 16];
	FILE *f;

	pidfile_path(p, sizeof(p), vm);
	f = fopen(p, "we");
	if (!f)
		return;
	fprintf(f, "%d %llu\n", vm->pid, proc_start(vm->pid));
	fclose(f);
}

/*
 * Starts the VMM in its jail (common/sandbox.h) with exactly these fds:
 * 0 and 1 the console socket, 2 the VMM's log, 3 the disk, 4 the key.
 * key_fd (or -1) is closed here in every case.
 */
static int spawn(struct pvd *d, struct vm *vm, int key_fd, char *err, size_t errlen)
{
	char p[PATH_MAX + VMCONF_PATH_MAX], argbuf[8192], *argv[32];
	int sv[2] = { -1, -1 }, disk = -1, log = -1, r = 0, fds[5];
	struct sandbox_spawn sp = { .argv = argv, .fds = fds, .nr_fds = 3 };
	pid_t pid;

	vmm_argv(d->vmm_path, vm->dir, &vm->conf, key_fd >= 0, argbuf, sizeof(argbuf), argv,
		 ARRAY_SIZE(argv));
	sp.path = argv[0];
	if (vm->conf.disk[0]) {
		file_in(p, sizeof(p), vm, vm->conf.disk);
		disk = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (disk < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot open the disk %s: %s", p, strerror(errno));
			goto out;
		}
	}
	file_in(p, sizeof(p), vm, "vmm.log");
	log = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot set up the VM's log or console: %s", strerror(errno));
		goto out;
	}
	fds[0] = fds[1] = sv[1];
	fds[2] = log;
	if (disk >= 0)
		fds[sp.nr_fds++] = disk;
	if (disk >= 0 && key_fd >= 0)
		fds[sp.nr_fds++] = key_fd;
	r = sandbox_spawn(&sp, &pid);
	if (r < 0) {
		snprintf(err, errlen, "cannot start %s: %s", sp.path, strerror(-r));
		goto out;
	}
	vm->pid = pid;
	vm->run = VM_RUNNING;
	vm->started_boot_ns = boot_ns();
	write_pidfile(vm);
	vm->console_fd = sv[0];
	sv[0] = -1;
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	file_in(p, sizeof(p), vm, "console.log");
	vm->log_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	vm->console_ev = event_new(d->base, vm->console_fd, EV_READ | EV_PERSIST, on_console, vm);
	event_add(vm->console_ev, NULL);
	log_info("vm %s: started (pid %d)", vm->conf.name, pid);
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (disk >= 0)
		close(disk);
	if (log >= 0)
		close(log);
	if (key_fd >= 0)
		close(key_fd);
	return r;
}

static void on_console(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			event_del(vm->console_ev);
		return;
	}
	if (vm->log_fd >= 0) {
		off_t size = lseek(vm->log_fd, 0, SEEK_END);

		if (size > VM_LOG_MAX && ftruncate(vm->log_fd, 0) < 0)
			size = 0;
		if (write(vm->log_fd, buf, (size_t)n) < 0)
			log_debug("vm %s: console log write failed", vm->conf.name);
	}
	console_broadcast(vm, buf, (size_t)n);
}

struct unlock_job {
	struct netjob job;
	struct pvd *d;
	struct vm *vm;
	unsigned int gen;
	char image[PATH_MAX + VMCONF_PATH_MAX];
	char dir[PATH_MAX];
	const struct image_ops *img;
	char url[URL_MAX_LEN + 1];
	X509 *ca;
	int key_fd;
	int r;
	char err[256];
};

static void unlock_run(struct netjob *job)
{
	struct unlock_job *j = (struct unlock_job *)job;
	struct client_tls tls = { .ca = j->ca };
	struct http_resp resp = { 0 };
	char err[256];

	j->r = j->img->unlock(j->image, j->dir, &j->key_fd, j->err, sizeof(j->err));
	/*
	 * A TLS handshake cut short is reported by the binding as a refusal; it
	 * is one only if the server is there. Ask it (unauthenticated, pinned CA).
	 */
	if (j->r == -EACCES && j->ca &&
	    client_request(j->url, &tls, "GET", "/v1/server", NULL, NULL, 0, &resp, err,
			   sizeof(err)) < 0) {
		j->r = -EHOSTUNREACH;
		snprintf(j->err, sizeof(j->err),
			 "the server cannot be reached (no contact, no key)");
	}
	http_resp_free(&resp);
	X509_free(j->ca);
	j->ca = NULL;
}

static const char *unlock_code(int r)
{
	return r == -EHOSTUNREACH ? "server_unreachable" :
	       r == -EACCES	  ? "key_release_refused" :
				    "open_failed";
}

static bool lease_ok(struct pvd *d, struct vm *vm, const char **code, char *err, size_t errlen);

static void unlock_done(struct netjob *job)
{
	struct unlock_job *j = (struct unlock_job *)job;
	struct vm *vm = j->vm;
	struct pvd *d = j->d;
	struct ctl_conn *c = vm->start_waiter;
	const char *code = NULL;
	char err[400];
	int r = j->r;

	if (vm->gen != j->gen || !vm->present || !vm->want_running) {
		if (j->key_fd >= 0)
			close(j->key_fd);
		free(j);
		return; /* stopped, wiped or restarted meanwhile */
	}
	vm->start_waiter = NULL;
	vm->run = VM_STOPPED;
	if (r < 0) {
		code = unlock_code(r);
		snprintf(err, sizeof(err), "vm %s: cannot recover its key: %s", vm->conf.name,
			 j->err);
	} else if (!lease_ok(d, vm, &code, err, sizeof(err))) {
		r = -EACCES; /* the lease ran out while we waited */
		close(j->key_fd);
	} else {
		r = spawn(d, vm, j->key_fd, err, sizeof(err));
		code = r ? "spawn_failed" : NULL;
		if (!r)
			snprintf(err, sizeof(err), "vm %s: started (pid %d)", vm->conf.name,
				 vm->pid);
	}
	if (r) {
		log_error("%s", err);
		snprintf(vm->last_error, sizeof(vm->last_error), "%s", err);
		vm->want_running = false;
	}
	if (c)
		ctl_reply_async(d, c, r, code, err);
	free(j);
}

static bool lease_ok(struct pvd *d, struct vm *vm, const char **code, char *err, size_t errlen)
{
	struct vm_rec *r;
	int64_t left;

	if (!vm->conf.managed[0])
		return true;
	if (!d->id.enrolled) {
		*code = "not_enrolled";
		snprintf(err, errlen, "vm %s is a work VM and this device is not enrolled",
			 vm->conf.name);
		return false;
	}
	r = state_vm(&d->st, vm->conf.managed);
	left = pvd_lease_left(d, vm);
	if (left == INT64_MIN) {
		*code = "no_lease";
		snprintf(err, errlen, "vm %s has no lease from the server yet: check in first",
			 vm->conf.name);
		return false;
	}
	if (left <= 0) {
		*code = "lease_expired";
		snprintf(err, errlen, "vm %s: lease expired %lld s ago", vm->conf.name,
			 (long long)-left);
		return false;
	}
	if (r->lease.locked || strcmp(r->state, "locked") == 0 ||
	    strcmp(r->state, "revoked") == 0) {
		*code = "locked";
		snprintf(err, errlen, "vm %s is %s by the enterprise", vm->conf.name,
			 strcmp(r->state, "revoked") == 0 ? "revoked" : "locked");
		return false;
	}
	return true;
}

int vm_start(struct pvd *d, struct vm *vm, struct ctl_conn *c, const char **code, char *err,
	     size_t errlen)
{
	struct unlock_job *j;
	int r;

	if (vm->run == VM_RUNNING || vm->run == VM_OPENING) {
		*code = "already_running";
		snprintf(err, errlen, "vm %s is already %s", vm->conf.name, vm_run_name(vm->run));
		return -EALREADY;
	}
	if (d->stopping) {
		*code = "busy";
		snprintf(err, errlen, "pocketvmd is shutting down");
		return -EBUSY;
	}
	if (vm->run == VM_STOPPING) {
		/* Its VMM still runs (and holds its key): one VMM per VM, always. */
		*code = "busy";
		snprintf(err, errlen, "vm %s is still stopping", vm->conf.name);
		return -EBUSY;
	}
	if (!lease_ok(d, vm, code, err, errlen))
		return -EACCES;
	vm->gen++;
	vm->want_running = true;
	vm->last_error[0] = '\0';
	if (!vm->conf.encrypted) {
		r = spawn(d, vm, -1, err, errlen);
		if (r)
			*code = "spawn_failed";
		return r;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->job.run = unlock_run;
	j->job.done = unlock_done;
	j->d = d;
	j->vm = vm;
	j->gen = vm->gen;
	j->img = d->img;
	j->key_fd = -1;
	file_in(j->image, sizeof(j->image), vm, vm->conf.disk);
	snprintf(j->dir, sizeof(j->dir), "%s", d->dir);
	if (d->id.enrolled) {
		snprintf(j->url, sizeof(j->url), "%s", d->id.url);
		X509_up_ref(j->ca = d->id.ca);
	}
	r = netq_submit(d->net, &j->job);
	if (r < 0) {
		X509_free(j->ca);
		free(j);
		*code = "internal";
		snprintf(err, errlen, "cannot start key recovery");
		return r;
	}
	vm->run = VM_OPENING;
	vm->start_waiter = c;
	log_info("vm %s: recovering its key from the server", vm->conf.name);
	return 1;
}

static void close_console(struct vm *vm)
{
	if (vm->console_ev) {
		event_free(vm->console_ev);
		vm->console_ev = NULL;
	}
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->log_fd >= 0)
		close(vm->log_fd);
	vm->console_fd = -1;
	vm->log_fd = -1;
	console_detach_all(vm);
}

static void on_restart(evutil_socket_t fd, short what, void *arg);

void vm_reaped(struct pvd *d, pid_t pid, int status)
{
	int64_t delay;

	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];
		bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;

		if (vm->pid != pid)
			continue;
		vm->pid = 0;
		vm->run = VM_STOPPED;
		vm->last_exit = status;
		close_console(vm);
		if (vm->present) {
			char p[PATH_MAX + 16];

			pidfile_path(p, sizeof(p), vm);
			unlink(p);
		}
		if (WIFEXITED(status))
			log_info("vm %s: exited with status %d (%s)", vm->conf.name,
				 WEXITSTATUS(status), vm_exit_meaning(WEXITSTATUS(status)));
		else
			log_info("vm %s: killed by signal %d", vm->conf.name, WTERMSIG(status));
		if (!vm->want_running || !vm->present || vm->conf.restart == RESTART_NO ||
		    (vm->conf.restart == RESTART_ON_FAILURE && !failed)) {
			vm->want_running = false;
			return;
		}
		vm->restarts =
			boot_ns() - vm->started_boot_ns > STABLE_UPTIME_NS ? 0 : vm->restarts + 1;
		delay = vm->restarts > 6 ? 60 : 1LL << vm->restarts;
		log_info("vm %s: restarting in %lld s (policy %s)", vm->conf.name, (long long)delay,
			 restart_name(vm->conf.restart));
		vm->d = d;
		if (!vm->restart_ev)
			vm->restart_ev = evtimer_new(d->base, on_restart, vm);
		evtimer_add(vm->restart_ev, &(struct timeval){ .tv_sec = delay });
		return;
	}
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	const char *code = NULL;
	char err[256];

	if (!vm->want_running || !vm->present || vm->run != VM_STOPPED)
		return;
	if (vm_start(vm->d, vm, NULL, &code, err, sizeof(err)) < 0) {
		log_error("vm %s: restart failed: %s", vm->conf.name, err);
		vm->want_running = false;
	}
}

void vm_stop(struct pvd *d, struct vm *vm, bool hard)
{
	vm->gen++;
	if (vm->restart_ev)
		evtimer_del(vm->restart_ev);
	if (vm->run == VM_OPENING) {
		vm->run = VM_STOPPED;
		if (vm->start_waiter)
			ctl_reply_async(d, vm->start_waiter, -ECANCELED, "stopped",
					"stopped before it opened");
		vm->start_waiter = NULL;
		return;
	}
	if (vm->pid <= 0)
		return;
	if (!hard) {
		/* The VMM presses the guest's power button and flushes once it is off. */
		if (vm->run != VM_STOPPING) {
			log_info("vm %s: stopping: the guest has %d s to shut down", vm->conf.name,
				 VMM_SHUTDOWN_GRACE_S);
			kill(vm->pid, SIGTERM);
			vm->run = VM_STOPPING;
			vm->stop_deadline_ns = boot_ns() + STOP_GRACE_S * 1000000000LL;
		}
		return;
	}
	/* Hard: the VMM's memory holds the key; it is gone when this returns. */
	kill(vm->pid, SIGKILL);
	for (;;) {
		int status;
		pid_t p = waitpid(vm->pid, &status, 0);

		if (p == vm->pid) {
			vm->want_running = false;
			vm_reaped(d, p, status);
			break;
		}
		if (p < 0 && errno != EINTR)
			break;
	}
	vm->pid = 0;
	vm->run = VM_STOPPED;
}

void supervisor_tick(struct pvd *d)
{
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];

		if (vm->run == VM_STOPPING && boot_ns() > vm->stop_deadline_ns) {
			log_warn("vm %s: did not stop in %d s, killing it", vm->conf.name,
				 STOP_GRACE_S);
			vm_stop(d, vm, true);
		}
	}
}
