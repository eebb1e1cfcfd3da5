// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-jail: starts a program (pocketvm-vmm --jail ...) through
 * sandbox_spawn(): new pid, mount, ipc, uts and network namespaces, an
 * empty environment except what --env names, and exactly the descriptors
 * 0-2 plus those --fd names, at the same numbers. It waits for the program,
 * passes SIGINT/SIGTERM/SIGHUP on to it (SIGKILL at the third), and exits with its status (128 + signal
 * if it was killed, so a seccomp kill shows as 159). The device daemon does
 * the same through the library; this is for people, tests and benchmarks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sandbox.h"

#define MAX_FDS 64
#define MAX_ENV 16

static const char usage[] =
	"Usage: pocketvm-jail [OPTIONS] -- PROGRAM [ARGS...]\n"
	"Runs PROGRAM in new pid, mount, ipc, uts and network namespaces with only\n"
	"the descriptors 0-2 and those named by --fd (docs/vmm-jail.md).\n"
	"\n"
	"  --fd N             pass inherited descriptor N (3-63) as N; repeatable\n"
	"  --env NAME=VALUE   set in PROGRAM's otherwise empty environment; repeatable\n"
	"  --host-net         keep the host's network namespace\n"
	"  --pid-file PATH    write PROGRAM's pid (as seen here) to PATH\n"
	"  --help             this text\n";

static volatile sig_atomic_t child_pid;

static volatile sig_atomic_t forwarded;

/*
 * The first two stop signals are passed on: pocketvm-vmm presses its
 * guest's power button at the first and stops it at once at the second
 * (flushing its disks either way). The program is pid 1 of its namespace,
 * which drops every signal it has no handler for: a third one means SIGKILL.
 */
static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, forwarded >= 2 ? SIGKILL : sig);
	if (forwarded < 2)
		forwarded++;
}

static int parse_fd(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return (*s && !*end && v >= 3 && v < MAX_FDS) ? (int)v : -1;
}

static int run(int fds[MAX_FDS], int nr_fds, char **envp, bool host_net, const char *pid_file,
	       char **argv)
{
	struct sandbox_spawn s = {
		.path = argv[0],
		.argv = argv,
		.envp = envp,
		.fds = fds,
		.nr_fds = (size_t)nr_fds,
		.host_net = host_net,
	};
	struct sigaction sa = { .sa_handler = forward };
	pid_t pid;
	int status, ret;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ret = sandbox_spawn(&s, &pid);
	if (ret) {
		log_error("cannot start %s: %s", argv[0], strerror(-ret));
		return 1;
	}
	child_pid = pid;
	if (pid_file) {
		FILE *f = fopen(pid_file, "we");

		if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f))
			log_warn("cannot write %s: %s", pid_file, strerror(errno));
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status)) {
		log_warn("%s killed by signal %d (%s)", argv[0], WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fd", required_argument, NULL, 'f' },
		{ "env", required_argument, NULL, 'e' },
		{ "host-net", no_argument, NULL, 'n' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int fds[MAX_FDS], nr_fds = 3, opt, fd;
	char *envp[MAX_ENV + 1] = { NULL };
	const char *pid_file = NULL;
	bool host_net = false;
	int nr_env = 0;

	log_set_ident("pocketvm-jail");
	for (int i = 0; i < MAX_FDS; i++)
		fds[i] = i < 3 ? i : -1;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			fd = parse_fd(optarg);
			if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
				fprintf(stderr,
					"pocketvm-jail: --fd %s: not an open descriptor 3-63\n",
					optarg);
				return 2;
			}
			fds[fd] = fd;
			nr_fds = fd + 1 > nr_fds ? fd + 1 : nr_fds;
			break;
		case 'e':
			if (nr_env == MAX_ENV || !strchr(optarg, '=')) {
				fprintf(stderr, "pocketvm-jail: --env NAME=VALUE, at most %d\n",
					MAX_ENV);
				return 2;
			}
			envp[nr_env++] = optarg;
			break;
		case 'n':
			host_net = true;
			break;
		case 'p':
			pid_file = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* Numbers between the ones named stay closed in spirit: they are /dev/null. */
	for (int i = 3; i < nr_fds; i++) {
		if (fds[i] < 0)
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			return 1;
	}
	return run(fds, nr_fds, envp, host_net, pid_file, argv + optind);
}
