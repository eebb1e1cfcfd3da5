// SPDX-License-Identifier: Apache-2.0
#include "vmm/jail.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sandbox.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

/*
 * Syscalls both thread kinds make, because device code runs on both: a
 * vCPU thread runs config/status writes (activate, reset) and the event
 * loop runs queues and sockets. The reason for each is in docs/vmm-jail.md.
 */
#define COMMON_SYSCALLS                                                                          \
	"read", "write", "close", "futex", "epoll_ctl", "clock_gettime", "gettimeofday", "mmap", \
		"munmap", "mprotect", "madvise", "brk", "getpid", "gettid", "tgkill",            \
		"rt_sigreturn", "rt_sigprocmask", "exit", "exit_group", "restart_syscall",       \
		"sched_yield", "clock_nanosleep", "nanosleep", "getrandom"

/* What the sanitizers' runtime does on its own (measured with strace, ASan builds only). */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_SYSCALLS , "sigaltstack", "prctl", "getrlimit", "prlimit64", "sched_getaffinity"
#else
#define SANITIZER_SYSCALLS
#endif

static bool confined; /* vmm_jail_enter() succeeded */

#if defined(__SANITIZE_ADDRESS__)
/*
 * LeakSanitizer's check at exit stops the world with ptrace, which the
 * allowlists refuse (rightly): a confined ASan build skips it rather than
 * dying of SIGSYS on its way out. Read by the sanitizer runtime at exit.
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return confined;
}
#endif

static const char *const vcpu_syscalls[] = {
	COMMON_SYSCALLS SANITIZER_SYSCALLS,
	"ioctl", /* KVM_RUN and the requests below */
	"sendto", /* console output to a socket client */
	"sendmsg",
};

static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,       KVM_GET_REGS,   KVM_GET_SREGS, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING,
	KVM_IOEVENTFD, KVM_SIGNAL_MSI, TUNSETOFFLOAD,
};

static const char *const loop_syscalls[] = {
	COMMON_SYSCALLS SANITIZER_SYSCALLS,
	"ioctl",
	"epoll_wait",
	"epoll_pwait",
	"readv",
	"writev",
	"recvfrom",
	"recvmsg",
	"sendto",
	"sendmsg",
	"accept4",
	"socket",
	"connect",
	"shutdown",
	"getsockopt",
	"preadv",
	"pwritev",
	"pread64", /* the encrypted-disk backend's blocks and metadata records */
	"pwrite64",
	"io_uring_enter", /* the encrypted disk's overlapped reads, on rings restricted at open */
	"sysinfo", /* glibc's qsort() sizing its buffer (the checkpoint sorts records) */
	"fdatasync",
	"fsync",
	"fallocate",
	"unlink",
	"munlock",
	"mlock2", /* balloon discards in a --sensitive (locked) VM */
};

static const unsigned long loop_ioctls[] = {
	KVM_IRQ_LINE,	KVM_SET_GSI_ROUTING,
	KVM_SIGNAL_MSI, KVM_IRQFD,
	KVM_IOEVENTFD,	TUNSETOFFLOAD,
	FIONREAD,	FIONBIO,
	TCGETS,		TCSETS,
	TCSETSW, /* the stdio console restores the terminal at exit */
};

int vmm_jail_seccomp_vcpu(void)
{
	struct sandbox_rules r = {
		.names = vcpu_syscalls,
		.nr_names = ARRAY_SIZE(vcpu_syscalls),
		.ioctls = vcpu_ioctls,
		.nr_ioctls = ARRAY_SIZE(vcpu_ioctls),
	};

	return sandbox_seccomp_load(&r);
}

int vmm_jail_seccomp_loop(void)
{
	struct sandbox_rules r = {
		.names = loop_syscalls,
		.nr_names = ARRAY_SIZE(loop_syscalls),
		.ioctls = loop_ioctls,
		.nr_ioctls = ARRAY_SIZE(loop_ioctls),
	};

	return sandbox_seccomp_load(&r);
}

/*
 * Both lists together, for every thread the process has when it confines
 * itself: the encrypted disk's background flusher starts before the jail
 * and would otherwise stay unfiltered. The vCPU and loop threads, started
 * later, narrow it to their own list.
 */
static int seccomp_all_threads(void)
{
	/*
	 * What the main thread does between the jail and its own list (start
	 * the vCPUs), and what each thread needs to narrow its list (seccomp).
	 */
	static const char *const start[] = { "rt_sigaction", "set_robust_list", "rseq", "seccomp",
					     "prctl" };
	static const int prctls[] = { PR_SET_NAME }; /* a vCPU thread names itself */
	const char
		*names[ARRAY_SIZE(start) + ARRAY_SIZE(vcpu_syscalls) + ARRAY_SIZE(loop_syscalls)];
	unsigned long ioctls[ARRAY_SIZE(vcpu_ioctls) + ARRAY_SIZE(loop_ioctls)];
	struct sandbox_rules r = {
		.names = names,
		.nr_names = ARRAY_SIZE(names),
		.ioctls = ioctls,
		.nr_ioctls = ARRAY_SIZE(ioctls),
		.prctls = prctls,
		.nr_prctls = ARRAY_SIZE(prctls),
		.all_threads = true,
		.threads = true, /* vCPU threads; never a process */
	};

	memcpy(names, start, sizeof(start));
	memcpy(names + ARRAY_SIZE(start), vcpu_syscalls, sizeof(vcpu_syscalls));
	memcpy(names + ARRAY_SIZE(start) + ARRAY_SIZE(vcpu_syscalls), loop_syscalls,
	       sizeof(loop_syscalls));
	memcpy(ioctls, vcpu_ioctls, sizeof(vcpu_ioctls));
	memcpy(ioctls + ARRAY_SIZE(vcpu_ioctls), loop_ioctls, sizeof(loop_ioctls));
	return sandbox_seccomp_load(&r);
}

static int vcpu_hook(struct vcpu *vcpu)
{
	int ret = vmm_jail_seccomp_vcpu();

	if (ret)
		log_error("jail: vCPU %d: cannot load its seccomp allowlist: %s", vcpu->id,
			  strerror(-ret));
	return ret;
}

static int loop_hook(struct vm *vm)
{
	int ret = vmm_jail_seccomp_loop();

	if (ret)
		log_error("jail: event loop: cannot load its seccomp allowlist: %s",
			  strerror(-ret));
	return ret;
}

/* If this returns, the allowlist did not stop a jailed VMM from opening a host file. */
static void selftest(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	int f = open("/etc/hostname", O_RDONLY | O_CLOEXEC);

	log_error("jail: selftest: a forbidden open() returned %d instead of killing the VMM", f);
	vm_request_exit(vm, VM_EXIT_ERROR);
}

int vmm_guest_mem_protect(struct vm *vm, bool sensitive)
{
	struct guest_mem *m = &vm->mem;

	if (!m->owned || !m->map)
		return 0;
	/* A child (none is planned) must never share the guest's pages. */
	if (madvise(m->map, m->map_size, MADV_DONTFORK) < 0)
		return -errno;
	if (madvise(m->map, m->map_size, MADV_DONTDUMP) < 0)
		return -errno;
	if (!sensitive)
		return 0;
	/* Locked as the guest touches it, so a 4 GiB VM does not pin 4 GiB up front. */
	if (mlock2(m->map, m->map_size, MLOCK_ONFAULT) < 0) {
		int err = -errno;

		log_error("vmm: cannot lock %zu MiB of guest RAM (RLIMIT_MEMLOCK or "
			  "CAP_IPC_LOCK): %s",
			  m->map_size >> 20, strerror(errno));
		return err;
	}
	return 0;
}

/*
 * Keeps the vsock directory reachable after the pivot: it becomes a mount of
 * its own (so ".." from it cannot climb into the host's tree once that is
 * detached) and the working directory, where guest connections to port P
 * find "<name>_P". Returns an O_PATH fd of it.
 */
static int vsock_dir_open(const char *vsock_path)
{
	char copy[PATH_MAX], *dir;
	int fd;

	if (strlen(vsock_path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, vsock_path);
	dir = dirname(copy);
	if (mount(dir, dir, NULL, MS_BIND, NULL) < 0) {
		log_error("jail: cannot bind the vsock directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vmm_jail_enter(struct vm *vm, const struct vmm_jail *j)
{
	struct sandbox_lockdown l = { .uid = j->uid, .gid = j->gid, .hostname = "pocketvm" };
	int dir_fd = -1, ret;

	/*
	 * Namespaces of our own even when nobody started us in fresh ones, so
	 * the pivot and the hostname never touch the host's. Sockets and the tap
	 * are open already and keep working in the new network namespace.
	 */
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) < 0) {
		log_error("jail: unshare: %s (--jail needs root or a user namespace)",
			  strerror(errno));
		return -errno;
	}
	/* Nothing we mount from here on may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (j->vsock_path) {
		dir_fd = vsock_dir_open(j->vsock_path);
		if (dir_fd < 0)
			return dir_fd;
	}
	ret = sandbox_lockdown(&l);
	if (!ret && dir_fd >= 0 && fchdir(dir_fd) < 0) {
		ret = -errno;
		log_error("jail: cannot enter the vsock directory: %s", strerror(errno));
	}
	if (dir_fd >= 0)
		close(dir_fd);
	if (ret)
		return ret;
	if (j->mux)
		vsock_mux_connect_relative(j->mux);
	ret = seccomp_all_threads();
	if (ret) {
		log_error("jail: cannot load the process-wide seccomp allowlist: %s",
			  strerror(-ret));
		return ret;
	}
	vm->vcpu_thread_init = vcpu_hook;
	vm->loop_thread_init = loop_hook;
	if (j->selftest) {
		struct timeval tv = { 0, 500000 };

		if (event_base_once(vm->evb, -1, EV_TIMEOUT, selftest, vm, &tv))
			return -ENOMEM;
	}
	confined = true;
	log_info("jail: confined (uid %u, gid %u, empty root, no capabilities)", j->uid, j->gid);
	return 0;
}
