// SPDX-License-Identifier: Apache-2.0
/*
 * The jailed VMM's event loop runs virtio-blk, so every syscall of the
 * encrypted backend's requests must be on its seccomp allowlist
 * (src/vmm/jail.c): a child opens an image as the VMM does (before the
 * jail: header, keys, io_uring rings), confines itself with the loop's
 * allowlist, then writes, flushes (checkpoints in that thread), reads large
 * requests (io_uring pieces), scattered pages and partial blocks, discards
 * and closes. A syscall missing from the list kills it with SIGSYS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "crypt_test_util.h"
#include "vmm/jail.h"

#define SIZE (4u << 20)

static char path[] = "/tmp/pocketvm-test-crypt-jail-XXXXXX";

/* The child's work; returns 0 when every request did what it should. */
static int confined_io(struct secret *dek)
{
	struct crypt_tuning t = { .sync_checkpoints = true };
	uint8_t *buf = malloc(SIZE), *back = malloc(SIZE);
	struct iovec pages[64];
	struct crypt_info info;
	struct blockdev *bd;

	if (!buf || !back || test_open(path, dek, false, &t, &bd))
		return 1;
	crypt_get_info(bd, &info);
	if (!info.async_reads)
		fprintf(stderr, "io_uring unavailable here: its syscall is not exercised\n");
	test_pattern(buf, SIZE, 1, 1);
	if (vmm_jail_seccomp_loop())
		return 2;
	/* From here on, as in the jailed VMM's event loop. */
	if (test_rw(bd, buf, SIZE, 0, true) || blockdev_flush(bd))
		return 3;
	if (test_rw(bd, back, SIZE, 0, false) || memcmp(back, buf, SIZE))
		return 4;
	for (int i = 0; i < 64; i++)
		pages[i] = (struct iovec){ back + (63 - i) * 4096, 4096 };
	if (blockdev_readv(bd, pages, 64, 4096) || memcmp(back + 63 * 4096, buf + 4096, 4096))
		return 5;
	if (test_rw(bd, back, 512, 3 * 512, false) || memcmp(back, buf + 3 * 512, 512))
		return 6;
	if (blockdev_discard(bd, 8 * 4096, 16 * 4096) || blockdev_flush(bd))
		return 7;
	blockdev_close(bd);
	return 0;
}

static void test_backend_inside_loop_allowlist(void **state)
{
	struct secret *dek = test_dek(0x33);
	int status;
	pid_t pid;

	close(test_image(path, SIZE, dek));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(confined_io(dek)); /* no exit handlers: LeakSanitizer would ptrace */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	secret_free(dek);
	if (WIFSIGNALED(status))
		fail_msg("confined backend died of signal %d%s", WTERMSIG(status),
			 WTERMSIG(status) == SIGSYS ? " (a syscall missing from the allowlist)" :
						      "");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend_inside_loop_allowlist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
