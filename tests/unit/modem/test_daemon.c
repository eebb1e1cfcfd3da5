// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-modemd as a VMM sees it, over its unix sockets: a client that
 * stops reading does not hold up another VM, loses nothing once it reads
 * again, and a reconnecting client replaces the old one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/pocketvm-modemd-XXXXXX";
static char path_a[128], path_b[128], path_ctl[128], path_control[128];
static pid_t daemon_pid;

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads from fd until the text contains want (or timeout); returns the text. */
static const char *read_until(int fd, const char *want, double timeout)
{
	static char buf[1 << 16];
	size_t len = 0;
	double end = now() + timeout;

	buf[0] = '\0';
	while (!strstr(buf, want) && now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (len > sizeof(buf) / 2) {
			/* Keep the tail only. */
			memmove(buf, buf + len - 1024, 1024);
			len = 1024;
			buf[len] = '\0';
		}
	}
	return buf;
}

static void say(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static int setup(void **state)
{
	const char *build = getenv("POCKETVM_BUILD");
	char exe[512], vm_a[300], vm_b[300], radio[300];

	strcpy(dir, "/tmp/pocketvm-modemd-XXXXXX");
	if (!build || !mkdtemp(dir))
		return -1;
	snprintf(exe, sizeof(exe), "%s/src/modem/pocketvm-modemd", build);
	snprintf(path_a, sizeof(path_a), "%s/a.sock", dir);
	snprintf(path_b, sizeof(path_b), "%s/b.sock", dir);
	snprintf(path_ctl, sizeof(path_ctl), "%s/simnet.sock", dir);
	snprintf(path_control, sizeof(path_control), "%s/control.sock", dir);
	snprintf(vm_a, sizeof(vm_a), "a,+15550001,%s", path_a);
	snprintf(vm_b, sizeof(vm_b), "b,+15550002,%s", path_b);
	snprintf(radio, sizeof(radio), "simnet:%s", path_ctl);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execl(exe, exe, "--radio", radio, "--vm", vm_a, "--vm", vm_b, "--control",
		      path_control, "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		struct stat st;

		if (stat(path_a, &st) == 0 && stat(path_b, &st) == 0 && stat(path_ctl, &st) == 0 &&
		    stat(path_control, &st) == 0)
			return 0;
		usleep(10000);
	}
	/* cmocka skips teardown after a failed setup: stop the daemon here. */
	kill(daemon_pid, SIGKILL);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
	return -1;
}

static int teardown(void **state)
{
	int status;

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, &status, 0);
		/* A clean exit removes its sockets. */
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(access(path_a, F_OK), -1);
	}
	unlink(path_a);
	unlink(path_b);
	unlink(path_ctl);
	unlink(path_control);
	rmdir(dir);
	return 0;
}

static void test_stuck_client_does_not_block_others(void **state)
{
	int a = connect_to(path_a), b, ctl, sent = 0, oks = 0;
	static const char cmd[] = "ATI\r";
	static char buf[65536];
	size_t keep = 0;
	double t0;

	/* A floods commands and reads nothing, until the daemon stops taking them. */
	fcntl(a, F_SETFL, O_NONBLOCK);
	for (int stalls = 0; stalls < 20;) {
		if (write(a, cmd, sizeof(cmd) - 1) == (ssize_t)sizeof(cmd) - 1) {
			sent++;
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		stalls++;
		usleep(20000);
	}
	assert_true(sent > 1000);
	/* B is served at once, and a call to B rings. */
	b = connect_to(path_b);
	t0 = now();
	say(b, "ATE0\r");
	assert_non_null(strstr(read_until(b, "OK\r\n", 2), "OK"));
	assert_true(now() - t0 < 1.0);
	say(b, "AT+CRC=1\r");
	read_until(b, "OK\r\n", 2);
	ctl = connect_to(path_ctl);
	say(ctl, "call +19990001 +15550002\n");
	assert_non_null(strstr(read_until(ctl, "\n", 2), "OK call"));
	assert_non_null(strstr(read_until(b, "+CRING: VOICE", 2), "+CRING: VOICE"));
	close(ctl);
	/* A reads again: every command it managed to send is answered. */
	fcntl(a, F_SETFL, 0);
	for (double end = now() + 20; oks < sent && now() < end;) {
		struct pollfd p = { .fd = a, .events = POLLIN };
		size_t total;
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(a, buf + keep, sizeof(buf) - keep - 1);
		assert_true(n > 0);
		total = keep + (size_t)n;
		buf[total] = '\0';
		for (char *q = buf; (q = strstr(q, "\r\nOK\r\n")); q += 6)
			oks++;
		/* 5 bytes cannot hold a counted "OK" but may start the next one. */
		keep = total < 5 ? total : 5;
		memmove(buf, buf + total - keep, keep);
	}
	assert_int_equal(oks, sent);
	close(a);
	close(b);
}

static void test_reconnect_replaces(void **state)
{
	int a1 = connect_to(path_a), a2;
	char c;

	say(a1, "ATE0\r");
	assert_non_null(strstr(read_until(a1, "OK\r\n", 2), "OK"));
	a2 = connect_to(path_a);
	/* The old connection is closed; the new one talks to the same modem. */
	say(a2, "AT+CNUM\r");
	assert_non_null(strstr(read_until(a2, "OK\r\n", 2), "+CNUM: \"\",\"+15550001\",145"));
	assert_int_equal(read(a1, &c, 1), 0);
	close(a1);
	close(a2);
}

/* One command on a fresh connection to a socket; returns the reply. */
static const char *command(const char *path, const char *line, const char *until)
{
	int fd = connect_to(path);
	const char *r;

	say(fd, line);
	r = read_until(fd, until, 2);
	close(fd);
	return r;
}

static void test_bar_at_run_time(void **state)
{
	int a = connect_to(path_a), b = connect_to(path_b);
	const char *r;

	say(a, "ATE0;+CMEE=1\r");
	read_until(a, "OK\r\n", 2);
	say(b, "ATE0;+CMEE=1;+CREG=1\r");
	read_until(b, "OK\r\n", 2);
	/* A is in a call when the enterprise bars it: the call ends at once. */
	say(a, "ATD+19990009;\r");
	read_until(a, "OK\r\n", 2);
	assert_non_null(
		strstr(command(path_ctl, "wait 2000 MO-CALL from=+15550001\n", "\n"), "OK"));
	assert_non_null(strstr(command(path_control, "bar a\n", "\n"), "OK"));
	assert_non_null(strstr(read_until(a, "NO CARRIER", 2), "NO CARRIER"));
	assert_non_null(strstr(command(path_ctl, "wait 2000 released by=+15550001\n", "\n"), "OK"));
	say(a, "ATD+19990009;\r");
	assert_non_null(strstr(read_until(a, "ERROR", 2), "+CME ERROR: 3"));
	/* B, barred and unbarred, hears it through +CREG; calls follow the policy. */
	assert_non_null(strstr(command(path_control, "bar b\n", "\n"), "OK"));
	assert_non_null(strstr(read_until(b, "+CREG: 3", 2), "+CREG: 3"));
	r = command(path_control, "list\n", "OK\n");
	assert_non_null(strstr(r, "vm a +15550001 barred=1\n"));
	assert_non_null(strstr(r, "vm b +15550002 barred=1\n"));
	command(path_ctl, "call +19990001 +15550002\n", "\n");
	assert_non_null(
		strstr(command(path_ctl, "wait 2000 rejected cause=unreachable\n", "\n"), "OK"));
	assert_non_null(strstr(command(path_control, "unbar b\n", "\n"), "OK"));
	assert_non_null(strstr(read_until(b, "+CREG: 1", 2), "+CREG: 1"));
	command(path_ctl, "call +19990001 +15550002\n", "\n");
	assert_non_null(strstr(read_until(b, "RING", 2), "RING"));
	assert_non_null(strstr(command(path_control, "bar nobody\n", "\n"), "ERR"));
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stuck_client_does_not_block_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_at_run_time, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
