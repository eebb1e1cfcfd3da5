// SPDX-License-Identifier: Apache-2.0
/*
 * bench_modem MODEMD [SOCAT]: measures pocketvm-modemd from the outside.
 *
 *  - MT call setup: "call" on simnet's control socket -> "RING" read on the
 *    VM's socket; p50/p99/max over many calls.
 *  - Peer for scale: one hop through socat relaying between two unix
 *    sockets (the least any user-space multiplexer process can cost).
 *  - SMS throughput through the multiplexer, both ways: a VM sending with
 *    AT+CMGS (one at a time, as a client must), and the network delivering
 *    to a VM that takes +CMT directly.
 */
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

#define CALLS 5000
#define SMS_COUNT 20000

static char dir[] = "/tmp/pocketvm-bench-modem-XXXXXX";
static pid_t children[4];
static int nchildren;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cleanup(void)
{
	char cmd[128];

	for (int i = 0; i < nchildren; i++) {
		kill(children[i], SIGTERM);
		waitpid(children[i], NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_modem: could not remove %s\n", dir);
}

static void fail(const char *what)
{
	fprintf(stderr, "bench_modem: %s: %s\n", what, strerror(errno));
	exit(1);
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		fail("fork");
	children[nchildren++] = pid;
	return pid;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	fail(path);
	return -1;
}

static void say(int fd, const char *s, size_t len)
{
	if (write(fd, s, len) != (ssize_t)len)
		fail("write");
}

/*
 * Reads until the accumulated text contains want; keeps the unread rest
 * (after want) for the next call. One per fd.
 */
struct rd {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static void read_until(struct rd *r, const char *want, char *copy, size_t cap)
{
	char *hit;

	for (;;) {
		ssize_t n;

		r->buf[r->len] = '\0';
		hit = strstr(r->buf, want);
		if (hit)
			break;
		if (r->len > sizeof(r->buf) / 2) {
			memmove(r->buf, r->buf + r->len - 256, 256);
			r->len = 256;
		}
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len - 1);
		if (n <= 0)
			fail("read");
		r->len += (size_t)n;
	}
	hit += strlen(want);
	if (copy)
		snprintf(copy, cap, "%.*s", (int)(hit - r->buf), r->buf);
	r->len -= (size_t)(hit - r->buf);
	memmove(r->buf, hit, r->len);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-34s p50 %7.1f us  p99 %7.1f us  max %7.1f us  (n=%d)\n", name, v[n / 2] * 1e6,
	       v[n * 99 / 100] * 1e6, v[n - 1] * 1e6, n);
}

static double lat[CALLS];

static void bench_call_setup(const char *ctl_path, const char *vm_path, double *p99)
{
	struct rd *ctl = calloc(1, sizeof(*ctl)), *vm = calloc(1, sizeof(*vm));
	char line[256], cmd[64];

	ctl->fd = connect_to(ctl_path);
	vm->fd = connect_to(vm_path);
	say(vm->fd, "ATE0\r", 5);
	read_until(vm, "OK\r\n", NULL, 0);
	for (int i = 0; i < CALLS + 100; i++) {
		double t0 = now();
		long id;

		say(ctl->fd, "call +19990001 +15550001\n", 25);
		read_until(vm, "\r\nRING\r\n", NULL, 0);
		if (i >= 100)
			lat[i - 100] = now() - t0; /* the first 100 warm up */
		read_until(ctl, "\n", line, sizeof(line));
		if (sscanf(line, "OK call %ld", &id) != 1)
			fail("simnet call");
		snprintf(cmd, sizeof(cmd), "hangup %ld\n", id);
		say(ctl->fd, cmd, strlen(cmd));
		read_until(ctl, "\n", NULL, 0);
		read_until(vm, "NO CARRIER\r\n", NULL, 0);
	}
	report("MT call: simnet -> RING on socket", lat, CALLS);
	*p99 = lat[CALLS * 99 / 100];
	close(ctl->fd);
	close(vm->fd);
	free(ctl);
	free(vm);
}

static double bench_socat(const char *socat)
{
	char in[160], out[160], a1[200], a2[200];
	struct rd *r = calloc(1, sizeof(*r));
	int fd_in;

	snprintf(in, sizeof(in), "%s/relay-in.sock", dir);
	snprintf(out, sizeof(out), "%s/relay-out.sock", dir);
	snprintf(a1, sizeof(a1), "UNIX-LISTEN:%s", in);
	snprintf(a2, sizeof(a2), "UNIX-LISTEN:%s", out);
	{
		char *argv[] = { (char *)socat, "-b65536", a1, a2, NULL };

		spawn(argv);
	}
	fd_in = connect_to(in);
	r->fd = connect_to(out);
	for (int i = 0; i < CALLS + 100; i++) {
		double t0 = now();

		say(fd_in, "\r\nRING\r\n", 8);
		read_until(r, "\r\nRING\r\n", NULL, 0);
		if (i >= 100)
			lat[i - 100] = now() - t0;
	}
	report("peer: one hop through socat", lat, CALLS);
	close(fd_in);
	close(r->fd);
	free(r);
	return lat[CALLS * 99 / 100];
}

static void bench_sms_out(const char *vm_path, const char *ctl_path)
{
	static const char pdu[] = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a";
	struct rd *vm = calloc(1, sizeof(*vm)), *ctl = calloc(1, sizeof(*ctl));
	double t0, dt;
	char cmd[128], line[1200];

	vm->fd = connect_to(vm_path);
	say(vm->fd, "ATE0\r", 5);
	read_until(vm, "OK\r\n", NULL, 0);
	t0 = now();
	for (int i = 0; i < SMS_COUNT; i++) {
		say(vm->fd, "AT+CMGS=23\r", 11);
		read_until(vm, "> ", NULL, 0);
		say(vm->fd, pdu, sizeof(pdu) - 1);
		read_until(vm, "OK\r\n", NULL, 0);
	}
	dt = now() - t0;
	/* The network logged every one (TP-MR wraps at 256; check the last). */
	ctl->fd = connect_to(ctl_path);
	snprintf(cmd, sizeof(cmd), "waitfrom %d 10000 SMS-SUBMIT from=+15550002 mr=%d\n", 2 * CALLS,
		 SMS_COUNT % 256);
	say(ctl->fd, cmd, strlen(cmd));
	read_until(ctl, "\n", line, sizeof(line));
	if (strncmp(line, "OK", 2))
		fail("simnet did not see the SMS");
	printf("%-34s %7.0f SMS/s  (%d in %.2f s)\n", "SMS out: AT+CMGS -> simnet", SMS_COUNT / dt,
	       SMS_COUNT, dt);
	close(vm->fd);
	close(ctl->fd);
	free(vm);
	free(ctl);
}

static void bench_sms_in(const char *vm_path, const char *ctl_path)
{
	struct rd *vm = calloc(1, sizeof(*vm)), *ctl = calloc(1, sizeof(*ctl));
	double t0, dt;

	vm->fd = connect_to(vm_path);
	ctl->fd = connect_to(ctl_path);
	say(vm->fd, "ATE0;+CNMI=2,2\r", 15);
	read_until(vm, "OK\r\n", NULL, 0);
	t0 = now();
	for (int i = 0; i < SMS_COUNT; i++) {
		say(ctl->fd, "sms +19990001 +15550002 hellohello\n", 35);
		read_until(ctl, "\n", NULL, 0);
		read_until(vm, "+CMT: ,26\r\n", NULL, 0);
	}
	dt = now() - t0;
	printf("%-34s %7.0f SMS/s  (%d in %.2f s)\n", "SMS in: simnet -> +CMT on socket",
	       SMS_COUNT / dt, SMS_COUNT, dt);
	close(vm->fd);
	close(ctl->fd);
	free(vm);
	free(ctl);
}

int main(int argc, char **argv)
{
	char ctl[160], a[160], b[160], radio[200], va[200], vb[200];
	double p99, peer;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_modem MODEMD [SOCAT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		fail("mkdtemp");
	atexit(cleanup);
	snprintf(ctl, sizeof(ctl), "%s/simnet.sock", dir);
	snprintf(a, sizeof(a), "%s/a.sock", dir);
	snprintf(b, sizeof(b), "%s/b.sock", dir);
	/* No pacing between SMS: this measures the multiplexer, not a network. */
	snprintf(radio, sizeof(radio), "simnet:%s,sms-gap-ms=0", ctl);
	snprintf(va, sizeof(va), "a,+15550001,%s", a);
	snprintf(vb, sizeof(vb), "b,+15550002,%s", b);
	{
		char *args[] = { argv[1], "--radio", radio,	    "--vm",  va,
				 "--vm",  vb,	     "--log-level", "error", NULL };

		spawn(args);
	}
	bench_call_setup(ctl, a, &p99);
	if (argc > 2) {
		peer = bench_socat(argv[2]);
		printf("%-34s %.2fx the socat hop (p99)\n", "ratio", p99 / peer);
	}
	bench_sms_out(b, ctl);
	bench_sms_in(b, ctl);
	return 0;
}
