// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-balloon device driven through its rings: inflated pages and
 * reported free ranges leave the VMM's memory (mincore says they are gone
 * and they read back as zeros), a page number outside guest RAM is counted
 * and ignored, the guest's statistics are readable on the control socket,
 * and "size MIB" there sets the balloon's target in the configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/unixsock.h"
#include "vdrv.h"
#include "vmm/virtio/balloon.h"
#include "vmm/virtio/virtio.h"

#define INFLATEQ 0
#define STATSQ 2
#define REPORTQ 3
#define FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << 1) | (1ull << 5))

struct fixture {
	struct vdrv d;
	struct virtio_balloon *b;
	char dir[64], path[128];
};

static struct fixture *setup_balloon(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vdrv_setup(&f->d, 32);
	strcpy(f->dir, "/tmp/pvm-balloon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl", f->dir);
	assert_int_equal(virtio_balloon_new(&f->d.vm, f->d.bus, f->path, &f->b), 0);
	vdrv_pick_device(&f->d);
	assert_int_equal(vdrv_dev_features(&f->d) & FEATURES, FEATURES);
	assert_true(vdrv_start(&f->d, FEATURES, 4, 64));
	return f;
}

static void teardown_balloon(struct fixture *f)
{
	virtio_balloon_free(f->b);
	vdrv_teardown(&f->d);
	rmdir(f->dir);
	free(f);
}

static unsigned int resident_pages(void *p, size_t len)
{
	unsigned char vec[1024];
	unsigned int n = 0;

	assert_true(len / 4096 <= sizeof(vec));
	assert_int_equal(mincore(p, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n;
}

static void test_inflate_returns_pages(void **state)
{
	struct fixture *f = setup_balloon();
	uint64_t region = vdrv_alloc(&f->d, 16 * 4096);
	uint8_t *hva = vdrv_hva(&f->d, region);
	uint64_t arr = vdrv_alloc(&f->d, 17 * 4);
	uint32_t *pfns = vdrv_hva(&f->d, arr);
	struct vdrv_buf b = { arr, 17 * 4, false };
	char line[512];

	memset(hva, 0xaa, 16 * 4096);
	assert_int_equal(resident_pages(hva, 16 * 4096), 16);
	for (int i = 0; i < 16; i++)
		pfns[i] = (uint32_t)(region / 4096 + i);
	pfns[16] = 0xfffff; /* 4 GiB up: not guest RAM */
	vdrv_add(&f->d, INFLATEQ, &b, 1);
	vdrv_kick(&f->d, INFLATEQ);
	assert_true(vdrv_wait_used(&f->d, INFLATEQ, NULL, NULL, 2000));
	assert_int_equal(resident_pages(hva, 16 * 4096), 0);
	assert_int_equal(hva[5000], 0);
	virtio_balloon_format_stats(f->b, line, sizeof(line));
	assert_non_null(strstr(line, "bad_pfns=1"));
	assert_non_null(strstr(line, "inflated_kib=68"));
	assert_false(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	teardown_balloon(f);
}

static void test_free_page_reporting(void **state)
{
	struct fixture *f = setup_balloon();
	uint64_t region = vdrv_alloc(&f->d, 64 * 4096);
	uint8_t *hva = vdrv_hva(&f->d, region);
	struct vdrv_buf b = { region, 64 * 4096, true };
	struct vdrv_buf bad = { region + 100, 4096, true };
	char line[512];

	memset(hva, 0x55, 64 * 4096);
	vdrv_add(&f->d, REPORTQ, &b, 1);
	vdrv_kick(&f->d, REPORTQ);
	assert_true(vdrv_wait_used(&f->d, REPORTQ, NULL, NULL, 2000));
	assert_int_equal(resident_pages(hva, 64 * 4096), 0);
	virtio_balloon_format_stats(f->b, line, sizeof(line));
	assert_non_null(strstr(line, "reported_kib=256"));
	/* A range that is not page aligned breaks the rules. */
	vdrv_add(&f->d, REPORTQ, &bad, 1);
	vdrv_kick(&f->d, REPORTQ);
	vdrv_run(&f->d, 30);
	assert_true(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	teardown_balloon(f);
}

static void test_stats_and_control_socket(void **state)
{
	struct fixture *f = setup_balloon();
	uint64_t gpa = vdrv_alloc(&f->d, 20);
	uint8_t *rec = vdrv_hva(&f->d, gpa);
	uint64_t free_bytes = 100ull << 20, total = 256ull << 20;
	struct vdrv_buf b = { gpa, 20, false };
	char reply[512] = { 0 };
	struct pollfd pfd;
	uint32_t target;
	int c;

	rec[0] = 4, rec[1] = 0;
	memcpy(rec + 2, &free_bytes, 8);
	rec[10] = 5, rec[11] = 0;
	memcpy(rec + 12, &total, 8);
	vdrv_add(&f->d, STATSQ, &b, 1);
	vdrv_kick(&f->d, STATSQ);
	vdrv_run(&f->d, 20);

	c = unix_connect(f->path, 0);
	assert_true(c >= 0);
	pfd = (struct pollfd){ c, POLLIN, 0 };
	assert_int_equal(send(c, "stats\n", 6, 0), 6);
	vdrv_run(&f->d, 30);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_true(recv(c, reply, sizeof(reply) - 1, 0) > 0);
	assert_non_null(strstr(reply, "free_kib=102400"));
	assert_non_null(strstr(reply, "total_kib=262144"));
	/* Asking for stats hands the buffer back for fresher numbers. */
	assert_true(vdrv_wait_used(&f->d, STATSQ, NULL, NULL, 1000));

	assert_int_equal(send(c, "size 8\n", 7, 0), 7);
	vdrv_run(&f->d, 30);
	memset(reply, 0, sizeof(reply));
	assert_true(recv(c, reply, sizeof(reply) - 1, 0) > 0);
	assert_string_equal(reply, "ok\n");
	vdrv_cfg_read(&f->d, 0, &target, 4);
	assert_int_equal(target, 8 * 256);

	assert_int_equal(send(c, "size 4096\nbogus\n", 16, 0), 16);
	vdrv_run(&f->d, 30);
	memset(reply, 0, sizeof(reply));
	for (size_t got = 0; !strstr(reply, "unknown");) {
		ssize_t n;

		assert_int_equal(poll(&pfd, 1, 1000), 1);
		n = recv(c, reply + got, sizeof(reply) - 1 - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_non_null(strstr(reply, "error: size must be a number of MiB within guest RAM"));
	assert_non_null(strstr(reply, "error: unknown command"));
	close(c);
	teardown_balloon(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_returns_pages),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_stats_and_control_socket),
	};

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: no usable /dev/kvm\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
