/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jail every untrusted-input process of pocketvm lives in.
 *
 * Two halves, on either side of exec:
 *
 *  - sandbox_spawn() runs in the privileged launcher (pocketvmd, or a
 *    developer's `pocketvm run`): it starts the program in new pid, mount,
 *    ipc and uts namespaces (and a new, empty network namespace unless the
 *    program needs the host's), hands it exactly the fds it names and
 *    nothing else, and returns its pid to wait on.
 *
 *  - sandbox_lockdown() runs in the spawned program once it has set up
 *    what it needs from those fds and before it touches untrusted input:
 *    it pivots to an empty read-only root (or, where the root cannot be
 *    pivoted, as on an initramfs, moves that empty root over "/" and chroots
 *    into it, the way switch_root does), drops every capability, switches
 *    to an unprivileged uid, sets no_new_privs and makes itself
 *    non-dumpable. Then each thread installs its own seccomp allowlist with
 *    sandbox_seccomp_load() (default action: kill the process).
 *
 * Works as root (real uid switch) and as an ordinary user (a user namespace
 * maps the caller to root inside; capabilities are dropped all the same).
 */
#ifndef POCKETVM_COMMON_SANDBOX_H
#define POCKETVM_COMMON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

struct sandbox_spawn {
	const char *path; /* program to exec */
	char *const *argv;
	char *const *envp; /* NULL: an empty environment */
	const int *fds; /* fds[i] becomes fd i in the child */
	size_t nr_fds;
	bool host_net; /* keep the host's network namespace */
};

/* Starts the program as described; *pid is in the caller's pid namespace. */
int sandbox_spawn(const struct sandbox_spawn *s, pid_t *pid) __must_check;

struct sandbox_lockdown {
	uid_t uid; /* unprivileged ids to run as (when root) */
	gid_t gid;
	const char *hostname; /* set in the new uts namespace; may be NULL */
};

/*
 * Call single-threaded, in a process sandbox_spawn() started. A directory
 * fd may be kept only if it is the root of a mount (bind it onto itself):
 * the host's tree is detached and its ".." is itself; any other directory
 * fd would lead out of the new root (-EBUSY). Returns 0, or
 * a negative errno naming the first step that failed; on failure the
 * process must exit, it is half-confined.
 */
int sandbox_lockdown(const struct sandbox_lockdown *l) __must_check;

/*
 * A seccomp allowlist for the calling thread (threads created later inherit
 * it), or with all_threads for every thread of the process, which must
 * have no filter yet or the same ones as the caller. Filters stack: a
 * thread may later narrow its list, never widen it. Syscalls are named; `ioctls`, if not NULL, restricts ioctl
 * (which must be in `names`) to those request numbers. Anything else kills
 * the whole process with SIGSYS.
 */
struct sandbox_rules {
	const char *const *names;
	size_t nr_names;
	const unsigned long *ioctls;
	size_t nr_ioctls;
	const int *prctls; /* likewise for prctl: the options allowed */
	size_t nr_prctls;
	bool all_threads; /* every thread of the process (TSYNC), not only the caller */
	/*
	 * May start threads, and nothing else: clone only with CLONE_THREAD;
	 * clone3, whose flags a filter cannot read, fails with ENOSYS, and libc
	 * then falls back to clone. "clone" and "clone3" stay out of `names`.
	 */
	bool threads;
};

int sandbox_seccomp_load(const struct sandbox_rules *r) __must_check;

#endif
