// SPDX-License-Identifier: Apache-2.0
#include "common/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

/* sandbox_lockdown() set PR_SET_NO_NEW_PRIVS (it can never be unset). */
static atomic_bool no_new_privs_set;

/* The highest fd number we ever remap from; fds above are closed. */
#define SPAWN_MAX_FDS 64

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

/* Gives an unprivileged caller's child root inside its user namespace. */
static int map_user(pid_t pid, uid_t uid, gid_t gid)
{
	char path[64], map[64];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	ret = write_file(path, "deny");
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	ret = write_file(path, map);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	return write_file(path, map);
}

/*
 * In the child between clone and exec: only async-signal-safe calls. Moves
 * the named fds out of the way first, so fds[i] == j for j < i works.
 */
static void __attribute__((noreturn)) spawn_child(const struct sandbox_spawn *s, int sync_fd)
{
	static char *const empty_env[] = { NULL };
	int high[SPAWN_MAX_FDS];
	char go;

	/* A launcher that dies takes its VMs with it: no VMM outlives its keeper. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(126);
	if (sync_fd >= 0) {
		/* Wait until the parent has written our uid/gid maps. */
		if (read(sync_fd, &go, 1) != 1)
			_exit(126);
		close(sync_fd);
	}
	for (size_t i = 0; i < s->nr_fds; i++) {
		high[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, SPAWN_MAX_FDS + 1);
		if (high[i] < 0)
			_exit(126);
	}
	for (size_t i = 0; i < s->nr_fds; i++)
		if (dup2(high[i], (int)i) < 0)
			_exit(126);
	/* Everything not named is gone, including the high copies. */
	syscall(SYS_close_range, (unsigned)s->nr_fds, ~0u, 0);
	execve(s->path, s->argv, s->envp ? s->envp : empty_env);
	_exit(127);
}

int sandbox_spawn(const struct sandbox_spawn *s, pid_t *pid)
{
	unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
	bool userns = geteuid() != 0;
	int sync[2] = { -1, -1 };
	pid_t child;
	int ret;

	if (s->nr_fds > SPAWN_MAX_FDS)
		return -EMFILE;
	if (!s->host_net)
		flags |= CLONE_NEWNET;
	if (userns) {
		flags |= CLONE_NEWUSER;
		if (pipe2(sync, O_CLOEXEC) < 0)
			return -errno;
	}
	/* A fork-like clone: the child gets a copy of our stack. */
	child = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (child < 0) {
		ret = -errno;
		goto out;
	}
	if (child == 0) {
		if (userns)
			close(sync[1]);
		spawn_child(s, userns ? sync[0] : -1);
	}
	ret = 0;
	if (userns) {
		ret = map_user(child, geteuid(), getegid());
		if (ret == 0 && write(sync[1], "g", 1) != 1)
			ret = -errno;
		if (ret) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			goto out;
		}
	}
	*pid = child;
out:
	if (sync[0] >= 0) {
		close(sync[0]);
		close(sync[1]);
	}
	return ret;
}

/*
 * A directory fd kept past the lockdown leads back into the host's tree
 * (openat(fd, "..") climbs out of any root) unless it is the root of a
 * mount that is detached, where ".." is the directory itself: that is how
 * a jailed program may keep one directory (the VMM's vsock directory, bind
 * mounted onto itself). Any other directory fd is refused.
 */
static int check_fd(int fd)
{
	struct stat st, up;

	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (fstatat(fd, "..", &up, 0) == 0 && up.st_dev == st.st_dev && up.st_ino == st.st_ino)
		return 0;
	log_error("sandbox: fd %d is a directory that leads out of the jail", fd);
	return -EBUSY;
}

static int check_dir_fds(void)
{
	struct rlimit rl = { .rlim_cur = 1024 };
	int ret = 0;

	/* /proc is gone by now: ask every possible fd. */
	getrlimit(RLIMIT_NOFILE, &rl);
	for (int fd = 0; !ret && fd < (int)MIN(rl.rlim_cur, (rlim_t)65536); fd++)
		ret = check_fd(fd);
	return ret;
}

/* Detaches every mount below "/" (deepest first), leaving "/" itself. */
static void detach_submounts(void)
{
	char line[4096], *points[256];
	size_t n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return; /* no /proc: nothing we could name */
	while (n < ARRAY_SIZE(points) && fgets(line, sizeof(line), f)) {
		char point[4096];

		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strcmp(point, "/"))
			points[n++] = strdup(point);
	}
	fclose(f);
	/* Later lines are mounted on top of or below earlier ones: undo in reverse. */
	while (n--) {
		if (points[n])
			umount2(points[n], MNT_DETACH);
		free(points[n]);
	}
}

/*
 * pivot_root refuses a root that is mounted on nothing (the kernel's
 * initramfs, rootfs) or whose parent mount is shared (EINVAL). Then do what
 * switch_root does: detach everything mounted below "/", move an empty
 * tmpfs over "/" and chroot into it. The old root file system stays in this
 * private mount namespace, under the tmpfs, but nothing leads there: no path
 * ("/.." is "/"), no cwd (we are inside), no directory fd (check_dir_fds).
 * And nothing can undo it: the lockdown then drops every capability
 * (CAP_SYS_CHROOT and CAP_SYS_ADMIN, needed to chroot or mount again) and
 * sets no_new_privs, and the kernel refuses a chrooted process a new user
 * namespace, the one way to regain them.
 */
static int move_to_empty_root(void)
{
	log_info("sandbox: the root cannot be pivoted (an initramfs?): moving an empty root "
		 "over it");
	if (chdir("/") < 0)
		return -errno;
	detach_submounts(); /* our /tmp tmpfs too; the directory under it remains */
	if (mount("jail", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") <
		    0 ||
	    chdir("/tmp") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
		return -errno;
	return 0;
}

/* An empty, read-only tmpfs becomes "/"; the host's tree is detached or out of reach. */
static int pivot_to_empty_root(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mount("jail", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") <
	    0)
		return -errno;
	if (chdir("/tmp") < 0)
		return -errno;
	/* pivot_root(".", ".") stacks the old root on top; unmount it. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return -errno;
	} else {
		int ret = errno == EINVAL ? move_to_empty_root() : -errno;

		if (ret)
			return ret;
	}
	if (chdir("/") < 0)
		return -errno;
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	return check_dir_fds();
}

/* Empties the bounding set (while we still hold CAP_SETPCAP): no exec can regain them. */
static int drop_bounding_set(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

/* Clears what remains: a uid switch does, but in a user namespace we stay uid 0. */
static int clear_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

/* Changes the ids; re-arms the parent-death signal, which an id change clears. */
static int switch_user(const struct sandbox_lockdown *l)
{
	int pdeath = 0;

	if (prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0) < 0)
		return -errno;
	/*
	 * In a user namespace only uid 0 is mapped (to the unprivileged
	 * caller); there is nothing lower to switch to.
	 */
	if (getuid() == 0 && setresgid(l->gid, l->gid, l->gid) == 0) {
		if (setgroups(0, NULL) < 0)
			return -errno;
		if (setresuid(l->uid, l->uid, l->uid) < 0)
			return -errno;
	}
	if (pdeath && prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int sandbox_lockdown(const struct sandbox_lockdown *l)
{
	int ret;

	ret = pivot_to_empty_root();
	if (ret) {
		log_error("sandbox: cannot pivot to an empty root: %s", strerror(-ret));
		return ret;
	}
	if (l->hostname && sethostname(l->hostname, strlen(l->hostname)) < 0) {
		ret = -errno;
		log_error("sandbox: sethostname: %s", strerror(errno));
		return ret;
	}
	ret = drop_bounding_set();
	if (ret == 0)
		ret = switch_user(l);
	if (ret == 0)
		ret = clear_capabilities();
	if (ret) {
		log_error("sandbox: cannot drop privileges: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ret = -errno;
		log_error("sandbox: prctl: %s", strerror(errno));
		return ret;
	}
	atomic_store(&no_new_privs_set, true);
	return 0;
}

int sandbox_seccomp_load(const struct sandbox_rules *r)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int ret = -ENOMEM;

	if (!ctx)
		return ret;
	for (size_t i = 0; i < r->nr_names; i++) {
		int nr = seccomp_syscall_resolve_name(r->names[i]);

		if (nr == __NR_SCMP_ERROR) {
			log_error("sandbox: unknown syscall '%s' in allowlist", r->names[i]);
			ret = -EINVAL;
			goto out;
		}
		if (nr == SCMP_SYS(ioctl) && r->ioctls) {
			for (size_t j = 0; j < r->nr_ioctls; j++) {
				/* The kernel reads the request as 32 bits. */
				ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
						       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
							       r->ioctls[j] & 0xffffffffu));
				if (ret)
					goto out;
			}
			continue;
		}
		if (nr == SCMP_SYS(prctl) && r->prctls) {
			for (size_t j = 0; j < r->nr_prctls; j++) {
				ret = seccomp_rule_add(
					ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)r->prctls[j]));
				if (ret)
					goto out;
			}
			continue;
		}
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret)
			goto out;
	}
	if (r->threads) {
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
		if (!ret)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		if (ret)
			goto out;
	}
	/* Set by sandbox_lockdown(): no prctl() here that a filter would have to allow. */
	if (atomic_load(&no_new_privs_set)) {
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
		if (ret)
			goto out;
	}
	if (r->all_threads) {
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
		if (ret)
			goto out;
	}
	ret = seccomp_load(ctx);
out:
	if (ret)
		log_error("sandbox: seccomp filter not loaded: %s", strerror(-ret));
	seccomp_release(ctx);
	return ret;
}
