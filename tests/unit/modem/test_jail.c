// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-modemd jailed as pocketvmd will start it: spawned with
 * sandbox_spawn() holding only its listening socket, it locks itself down
 * (--jail) and still serves its VM: commands, a call from the network.
 * From outside: uid nobody, no capabilities, no_new_privs, seccomp on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sandbox.h"
#include "common/unixsock.h"

static char dir[64];
static char vm_path[128], ctl_path[128];
static pid_t daemon_pid;

static const char *read_until(int fd, const char *want)
{
	static char buf[8192];
	size_t len = 0;
	time_t end = time(NULL) + 5;

	buf[0] = '\0';
	while (!strstr(buf, want) && time(NULL) <= end && len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

static void say(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* One field of /proc/PID/status, e.g. "Seccomp:". */
static void status_field(pid_t pid, const char *key, char *out, size_t cap)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, strlen(key))) {
			char *v = line + strlen(key);

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, cap, "%s", v);
		}
	}
	fclose(f);
}

/* What an auditor checks: seccomp on, no_new_privs, no capabilities, uid nobody. */
static void check_confined(pid_t pid)
{
	char field[128], uid[16];

	/* Lockdown happens after setup; give it the moment it needs. */
	for (int i = 0; i < 300; i++) {
		status_field(pid, "Seccomp:", field, sizeof(field));
		if (!strcmp(field, "2"))
			break;
		usleep(10000);
	}
	assert_string_equal(field, "2");
	status_field(pid, "NoNewPrivs:", field, sizeof(field));
	assert_string_equal(field, "1");
	status_field(pid, "CapEff:", field, sizeof(field));
	assert_string_equal(field, "0000000000000000");
	status_field(pid, "Uid:", field, sizeof(field));
	snprintf(uid, sizeof(uid), "%.5s", field);
	assert_string_equal(uid, "65534");
}

static void test_jailed_daemon_serves(void **state)
{
	const char *build = getenv("POCKETVM_BUILD");
	char exe[512], radio[200], vm[200];
	char *envp[] = { "ASAN_OPTIONS=detect_leaks=0", NULL };
	pid_t pid, host_pid;
	int listen_fd, fds[4], status, a, ctl;

	if (!build) {
		print_message("SKIP: POCKETVM_BUILD not set\n");
		rmdir(dir);
		exit(77);
	}
	snprintf(exe, sizeof(exe), "%s/src/modem/pocketvm-modemd", build);
	snprintf(radio, sizeof(radio), "simnet:%s", ctl_path);
	snprintf(vm, sizeof(vm), "a,+15550001,fd:3");
	listen_fd = unix_listen(vm_path, 4, 0);
	assert_true(listen_fd >= 0);
	fds[0] = 0;
	fds[1] = 1;
	fds[2] = 2;
	fds[3] = listen_fd;
	char *argv[] = { exe, "--radio", radio, "--vm", vm, "--jail", "--log-level", "warn", NULL };
	struct sandbox_spawn s = {
		.path = exe, .argv = argv, .envp = envp, .fds = fds, .nr_fds = 4
	};
	int ret = sandbox_spawn(&s, &pid);

	if (ret == -EPERM || ret == -EINVAL || ret == -ENOSPC) {
		print_message("SKIP: cannot create namespaces here (%s)\n", strerror(-ret));
		unlink(vm_path);
		rmdir(dir);
		exit(77);
	}
	assert_int_equal(ret, 0);
	close(listen_fd);
	host_pid = daemon_pid = pid;
	for (int i = 0; i < 300 && access(ctl_path, F_OK); i++)
		usleep(10000);
	check_confined(host_pid);

	/* Still a working modem: commands, and a call from the network rings. */
	a = unix_connect(vm_path, 0);
	assert_true(a >= 0);
	say(a, "ATE0\r");
	assert_non_null(strstr(read_until(a, "OK\r\n"), "OK"));
	say(a, "AT+CNUM\r");
	assert_non_null(strstr(read_until(a, "OK\r\n"), "+CNUM: \"\",\"+15550001\",145"));
	ctl = unix_connect(ctl_path, 0);
	assert_true(ctl >= 0);
	say(ctl, "call +19990001 +15550001\n");
	assert_non_null(strstr(read_until(a, "RING"), "RING"));
	say(a, "AT+CNMI=2,1\r");
	read_until(a, "OK\r\n");
	say(ctl, "sms +19990001 +15550001 jailed hello\n");
	{
		const char *got = read_until(a, "+CMTI");

		assert_non_null(strstr(got, "+CMTI: \"SM\",1"));
	}
	close(ctl);
	close(a);

	kill(host_pid, SIGTERM);
	assert_int_equal(waitpid(host_pid, &status, 0), host_pid);
	daemon_pid = 0;
	/* A clean exit, not SIGSYS: shutdown stays inside the allowlist. */
	if (WIFSIGNALED(status))
		print_message("modemd killed by signal %d\n", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pocketvm-jail-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755);
	snprintf(vm_path, sizeof(vm_path), "%s/a.sock", dir);
	snprintf(ctl_path, sizeof(ctl_path), "%s/simnet.sock", dir);
	return 0;
}

/* Also after a failed assertion: no daemon and no socket left behind. */
static int teardown(void **state)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	unlink(vm_path);
	unlink(ctl_path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jailed_daemon_serves, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
