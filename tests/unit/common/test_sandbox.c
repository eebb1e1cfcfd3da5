// SPDX-License-Identifier: Apache-2.0
/*
 * The jail, seen from outside as a user or an auditor would: a spawned,
 * locked-down process has its own namespaces, an empty root, no
 * capabilities, a non-root uid, no_new_privs, seccomp filtering, only the
 * fds it was given; and a syscall outside its allowlist kills it with
 * SIGSYS.
 *
 * The test binary is its own jailed child: `test_sandbox child`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sandbox.h"

#define NOBODY 65534
#define LEAKED_FD 40

/* What the jailed child may do: talk over its pipes and exit. */
static const char *const child_allowlist[] = {
	"read",
	"write",
	"exit",
	"exit_group",
	"fcntl",
	"ioctl",
	/* the sanitizers' runtime allocates and may sleep on locks */
	"mmap",
	"munmap",
	"mprotect",
	"madvise",
	"futex",
	"sched_yield",
	"rt_sigprocmask",
	"sigaltstack",
	/* a new thread registers itself; clone comes from `threads` */
	"set_robust_list",
	"rseq",
	"rt_sigaction", /* glibc, at the first thread */
	"gettid", /* the sanitizers, for a new thread */
	"sched_getaffinity",
};

static void child_report(const char *msg)
{
	if (write(1, msg, strlen(msg)) < 0)
		_exit(3);
}

static void *idle_thread(void *arg)
{
	return arg;
}

/* clone3 with flags the kernel would refuse (EINVAL): only the filter says ENOSYS. */
static void try_clone3(void)
{
	uint64_t args[11] = { CLONE_THREAD }; /* struct clone_args: flags first */
	long r = syscall(SYS_clone3, args, sizeof(args));

	child_report(r == -1 && errno == ENOSYS ? "clone3-enosys\n" : "clone3-not-filtered\n");
}

/* The jailed side: lock down, report, then obey one command. */
static int child_main(void)
{
	const unsigned long ioctls[] = { FIONREAD };
	struct sandbox_rules rules = {
		.names = child_allowlist,
		.nr_names = sizeof(child_allowlist) / sizeof(child_allowlist[0]),
		.ioctls = ioctls,
		.nr_ioctls = 1,
		.threads = true,
	};
	struct sandbox_lockdown l = { .uid = NOBODY, .gid = NOBODY, .hostname = "jail" };
	char cmd[16];
	int avail;
	pthread_t t;

	/* Only fds 0-2 were handed over; the parent's leaked fd must be gone. */
	if (fcntl(LEAKED_FD, F_GETFD) != -1 || errno != EBADF)
		child_report("leaked-fd ");
	if (getpid() != 1)
		child_report("not-pid-1 ");
	if (sandbox_lockdown(&l) || sandbox_seccomp_load(&rules))
		_exit(2);
	child_report("ready\n");
	for (;;) {
		ssize_t n = read(0, cmd, sizeof(cmd) - 1);

		if (n <= 0)
			_exit(4);
		cmd[n] = '\0';
		if (strcmp(cmd, "ioctl-ok") == 0) {
			/* An allowed ioctl request still works under the filter. */
			if (ioctl(0, FIONREAD, &avail) < 0)
				_exit(5);
			child_report("ioctl-done\n");
		} else if (strcmp(cmd, "thread") == 0) {
			if (pthread_create(&t, NULL, idle_thread, NULL) || pthread_join(t, NULL))
				_exit(6);
			child_report("thread-done\n");
		} else if (strcmp(cmd, "clone3") == 0) {
			try_clone3();
		} else {
			break;
		}
	}
	if (strcmp(cmd, "getppid") == 0)
		syscall(SYS_getppid); /* not in the allowlist: SIGSYS */
	if (strcmp(cmd, "ioctl-bad") == 0)
		ioctl(0, TIOCGWINSZ, &avail); /* a request not allowed */
	if (strcmp(cmd, "fork") == 0)
		syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); /* a process, not a thread: SIGSYS */
	_exit(0);
}

struct jailed {
	pid_t pid;
	int to_child;
	int from_child;
};

static void spawn_jailed(struct jailed *j)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int in[2], out[2];
	char *argv[] = { exe, "child", NULL };
	char *envp[] = { "ASAN_OPTIONS=detect_leaks=0", NULL };
	char ready[64] = { 0 };
	int fds[3];

	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	/* A descriptor the parent forgot to mark close-on-exec. */
	assert_int_equal(dup2(in[0], LEAKED_FD), LEAKED_FD);
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = 2;
	struct sandbox_spawn s = {
		.path = exe, .argv = argv, .envp = envp, .fds = fds, .nr_fds = 3
	};
	assert_int_equal(sandbox_spawn(&s, &j->pid), 0);
	close(LEAKED_FD);
	close(in[0]);
	close(out[1]);
	j->to_child = in[1];
	j->from_child = out[0];
	n = read(j->from_child, ready, sizeof(ready) - 1);
	assert_true(n > 0);
	assert_string_equal(ready, "ready\n");
}

static int finish(struct jailed *j, const char *cmd)
{
	int status;

	assert_true(write(j->to_child, cmd, strlen(cmd)) > 0);
	assert_int_equal(waitpid(j->pid, &status, 0), j->pid);
	close(j->to_child);
	close(j->from_child);
	return status;
}

/* Sends a command the child answers, and checks the answer. */
static void ask(struct jailed *j, const char *cmd, const char *want)
{
	char got[64] = { 0 };

	assert_true(write(j->to_child, cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
	assert_true(read(j->from_child, got, sizeof(got) - 1) > 0);
	assert_string_equal(got, want);
}

static void status_field(pid_t pid, const char *field, char *out, size_t cap)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':') {
			snprintf(out, cap, "%s", line + strlen(field) + 1);
			out[strcspn(out, "\n")] = '\0';
			/* Values are tab-separated; keep the first. */
			memmove(out, out + strspn(out, "\t "), strlen(out) + 1);
			out[strcspn(out, "\t")] = '\0';
		}
	}
	fclose(f);
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		printf("SKIP: the jail test needs root (it checks a real uid switch)\n");
		skip();
	}
}

static void test_jailed_process_seen_from_outside(void **state)
{
	struct jailed j;
	char v[128], path[64], ours[64], theirs[64];
	const char *const ns[] = { "mnt", "pid", "ipc", "uts", "net" };
	DIR *root;
	int entries = 0;
	struct dirent *de;

	skip_unless_root();
	spawn_jailed(&j);
	status_field(j.pid, "Uid", v, sizeof(v));
	assert_string_equal(v, "65534");
	status_field(j.pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	status_field(j.pid, "CapBnd", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	status_field(j.pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");
	status_field(j.pid, "Seccomp", v, sizeof(v));
	assert_string_equal(v, "2");
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		ours[readlink(path, ours, sizeof(ours) - 1)] = '\0';
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)j.pid, ns[i]);
		theirs[readlink(path, theirs, sizeof(theirs) - 1)] = '\0';
		if (strcmp(ours, theirs) == 0)
			fail_msg("jailed process shares our %s namespace", ns[i]);
	}
	snprintf(path, sizeof(path), "/proc/%d/root", (int)j.pid);
	root = opendir(path);
	assert_non_null(root);
	while ((de = readdir(root)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(root);
	assert_int_equal(entries, 0);
	/* It still works within its allowlist, then exits cleanly. */
	ask(&j, "ioctl-ok", "ioctl-done\n");
	int status = finish(&j, "exit");
	if (!WIFEXITED(status))
		fail_msg("jailed child did not exit cleanly: signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_syscall_outside_allowlist_kills(void **state)
{
	struct jailed j;
	int status;

	skip_unless_root();
	spawn_jailed(&j);
	status = finish(&j, "getppid");
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What a jailed VMM's main thread does to start its vCPUs still works; a fork does not. */
static void test_threads_but_no_process(void **state)
{
	struct jailed j;
	int status;

	skip_unless_root();
	spawn_jailed(&j);
	ask(&j, "thread", "thread-done\n");
	ask(&j, "clone3", "clone3-enosys\n");
	ask(&j, "thread", "thread-done\n");
	status = finish(&j, "fork");
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_ioctl_request_outside_allowlist_kills(void **state)
{
	struct jailed j;
	int status;

	skip_unless_root();
	spawn_jailed(&j);
	status = finish(&j, "ioctl-bad");
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* True once pid is gone or a zombie (it died; someone else reaps it). */
static bool dead(pid_t pid)
{
	char path[64], v[32];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	fclose(f);
	status_field(pid, "State", v, sizeof(v));
	return v[0] == 'Z' || v[0] == 'X';
}

static void test_launcher_death_kills_jailed_child(void **state)
{
	int p[2];
	pid_t launcher, jailed = 0;

	skip_unless_root();
	assert_int_equal(pipe(p), 0);
	launcher = fork();
	assert_true(launcher >= 0);
	if (launcher == 0) {
		struct jailed j;

		/* A launcher that spawns a jailed VMM and then dies (crash, kill -9). */
		spawn_jailed(&j);
		if (write(p[1], &j.pid, sizeof(j.pid)) != sizeof(j.pid))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(p[0], &jailed, sizeof(jailed)), sizeof(jailed));
	assert_int_equal(waitpid(launcher, NULL, 0), launcher);
	for (int i = 0; i < 100 && !dead(jailed); i++)
		usleep(20000);
	assert_true(dead(jailed));
	close(p[0]);
	close(p[1]);
}

/*
 * The lockdown where pivot_root cannot work, as on an initramfs root. A unit
 * test cannot make the kernel's rootfs (a mount with no parent) its root, but
 * pivot_root refuses a root whose parent mount is shared with the same
 * EINVAL, and that can be built: in a private mount namespace, a tmpfs with a
 * "secret" is moved over "/" and chrooted into, and the old root under it
 * is made shared. Runs in a forked child; the exit code names what failed.
 */
static int unpivotable_root(const char *sim)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 10;
	if (mount("sim", sim, "tmpfs", 0, "size=64k") < 0 || chdir(sim) < 0 ||
	    mkdir("tmp", 0755) < 0 || mkdir("proc", 0755) < 0 || mkdir("keep", 0755) < 0 ||
	    close(open("secret", O_CREAT | O_WRONLY, 0600)) < 0 ||
	    close(open("keep/file", O_CREAT | O_WRONLY, 0600)) < 0)
		return 11;
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    mount(NULL, "/", NULL, MS_SHARED, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0 ||
	    mount("proc", "/proc", "proc", 0, NULL) < 0)
		return 12;
	return access("/secret", F_OK) == 0 ? 0 : 13;
}

static int unpivotable_child(const char *sim, bool plain_dir_fd)
{
	struct sandbox_lockdown l = { .uid = NOBODY, .gid = NOBODY };
	struct stat root, up, kept, kept_up;
	struct statvfs vfs;
	struct dirent *de;
	int entries = 0, ret, fd;
	DIR *d;

	ret = unpivotable_root(sim);
	if (ret)
		return ret;
	if (plain_dir_fd) {
		/* A directory on the old root would be a way back: refused. */
		fd = open("/keep", O_RDONLY | O_DIRECTORY);
		return fd >= 0 && sandbox_lockdown(&l) == -EBUSY ? 0 : 14;
	}
	/* One kept directory, bound onto itself as the VMM does for vsock. */
	if (mount("/keep", "/keep", NULL, MS_BIND, NULL) < 0)
		return 15;
	fd = open("/keep", O_PATH | O_DIRECTORY);
	if (fd < 0 || sandbox_lockdown(&l) != 0)
		return 16;
	d = opendir("/");
	if (!d)
		return 17;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	if (entries || access("/secret", F_OK) == 0 || access("/../secret", F_OK) == 0)
		return 18; /* the old root shows through */
	if (stat("/", &root) < 0 || stat("/../..", &up) < 0 || root.st_ino != up.st_ino ||
	    root.st_dev != up.st_dev)
		return 19; /* ".." leads somewhere */
	if (fstatat(fd, "file", &kept, 0) < 0 || fstat(fd, &kept) < 0 ||
	    fstatat(fd, "..", &kept_up, 0) < 0 || kept.st_ino != kept_up.st_ino ||
	    faccessat(fd, "../secret", F_OK, 0) == 0)
		return 20; /* the kept directory is unusable, or leads out */
	if (statvfs("/", &vfs) < 0 || !(vfs.f_flag & ST_RDONLY))
		return 21;
	if (getuid() != NOBODY || chroot("/") == 0 || mount(NULL, "/", NULL, MS_MOVE, NULL) == 0)
		return 22; /* it could undo the confinement */
	return 0;
}

static void run_unpivotable(bool plain_dir_fd)
{
	char sim[] = "/tmp/pocketvm-rootfs-XXXXXX";
	int status;
	pid_t pid;

	assert_non_null(mkdtemp(sim));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(unpivotable_child(sim, plain_dir_fd));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	rmdir(sim);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lockdown_on_unpivotable_root(void **state)
{
	skip_unless_root();
	run_unpivotable(false);
	run_unpivotable(true);
}

static void test_unknown_syscall_name_refused(void **state)
{
	const char *const names[] = { "read", "no_such_syscall" };
	struct sandbox_rules r = { .names = names, .nr_names = 2 };
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(sandbox_seccomp_load(&r) == -EINVAL ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jailed_process_seen_from_outside),
		cmocka_unit_test(test_syscall_outside_allowlist_kills),
		cmocka_unit_test(test_ioctl_request_outside_allowlist_kills),
		cmocka_unit_test(test_threads_but_no_process),
		cmocka_unit_test(test_launcher_death_kills_jailed_child),
		cmocka_unit_test(test_lockdown_on_unpivotable_root),
		cmocka_unit_test(test_unknown_syscall_name_refused),
	};

	if (argc == 2 && strcmp(argv[1], "child") == 0)
		return child_main();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
