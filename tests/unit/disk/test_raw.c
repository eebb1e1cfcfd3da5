// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/blockdev.h"

#define IMAGE_SIZE (1024 * 1024 + 100) /* a trailing partial sector */

static char image_path[] = "/tmp/pocketvm-test-raw-XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(image_path);

	if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(image_path);
	return 0;
}

static void test_write_read_scattered(void **state)
{
	struct blockdev *bd;
	char a[512], b[1024], ra[1024], rb[512];
	struct iovec w[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct iovec r[2] = { { ra, sizeof(ra) }, { rb, sizeof(rb) } };

	assert_int_equal(blockdev_raw_open(image_path, false, &bd), 0);
	/* The trailing 100 bytes are not a whole sector: rounded up, not dropped. */
	assert_int_equal(bd->size, 1024 * 1024 + 512);
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	assert_int_equal(blockdev_writev(bd, w, 2, 8192), 0);
	assert_int_equal(blockdev_flush(bd), 0);
	assert_int_equal(blockdev_readv(bd, r, 2, 8192), 0);
	assert_memory_equal(ra, a, 512);
	assert_memory_equal(ra + 512, b, 512);
	assert_memory_equal(rb, b + 512, 512);
	blockdev_close(bd);
}

static void test_bounds_and_alignment(void **state)
{
	struct blockdev *bd;
	char buf[1024];
	struct iovec v = { buf, 512 };
	struct iovec odd = { buf, 100 };

	assert_int_equal(blockdev_raw_open(image_path, false, &bd), 0);
	assert_int_equal(blockdev_readv(bd, &v, 1, bd->size), -ERANGE);
	assert_int_equal(blockdev_readv(bd, &v, 1, UINT64_MAX - 511), -ERANGE);
	assert_int_equal(blockdev_readv(bd, &v, 1, 100), -EINVAL);
	assert_int_equal(blockdev_readv(bd, &odd, 1, 0), -EINVAL);
	assert_int_equal(blockdev_readv(bd, &v, 1, bd->size - 512), 0);
	blockdev_close(bd);
}

/* The bytes of a trailing partial sector are read, padded with zeroes; a write there fills it. */
static void test_partial_tail_kept(void **state)
{
	char path[] = "/tmp/pocketvm-test-raw-tail-XXXXXX";
	uint8_t data[3 * 512 + 37], buf[1024];
	struct iovec v = { buf, sizeof(buf) };
	struct blockdev *bd;
	struct stat st;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(write(fd, data, sizeof(data)), sizeof(data));
	close(fd);

	assert_int_equal(blockdev_raw_open(path, true, &bd), 0);
	assert_int_equal(bd->size, 4 * 512);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(blockdev_readv(bd, &v, 1, 1024), 0);
	assert_memory_equal(buf, data + 1024, 512 + 37);
	for (size_t i = 512 + 37; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	blockdev_close(bd);

	assert_int_equal(blockdev_raw_open(path, false, &bd), 0);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(blockdev_writev(bd, &v, 1, 1024), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(blockdev_readv(bd, &v, 1, 1024), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x77);
	blockdev_close(bd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4 * 512);
	unlink(path);
}

static void test_read_only_refuses_writes(void **state)
{
	struct blockdev *bd;
	char buf[512] = { 0 };
	struct iovec v = { buf, sizeof(buf) };

	assert_int_equal(blockdev_raw_open(image_path, true, &bd), 0);
	assert_int_equal(blockdev_writev(bd, &v, 1, 0), -EROFS);
	assert_int_equal(bd->ops->discard(bd, 0, 4096), -EROFS);
	assert_int_equal(blockdev_readv(bd, &v, 1, 0), 0);
	blockdev_close(bd);
}

static void test_discard_reads_back_zero(void **state)
{
	struct blockdev *bd;
	char buf[4096];
	struct iovec v = { buf, sizeof(buf) };

	assert_int_equal(blockdev_raw_open(image_path, false, &bd), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(blockdev_writev(bd, &v, 1, 65536), 0);
	assert_int_equal(bd->ops->discard(bd, 65536, 4096), 0);
	assert_int_equal(blockdev_readv(bd, &v, 1, 65536), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	blockdev_close(bd);
}

static void test_not_a_file(void **state)
{
	struct blockdev *bd = NULL;

	assert_int_equal(blockdev_raw_open("/tmp", true, &bd), -EINVAL);
	assert_int_equal(blockdev_raw_open("/nonexistent/x.img", true, &bd), -ENOENT);
	assert_null(bd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_scattered),
		cmocka_unit_test(test_bounds_and_alignment),
		cmocka_unit_test(test_partial_tail_kept),
		cmocka_unit_test(test_read_only_refuses_writes),
		cmocka_unit_test(test_discard_reads_back_zero),
		cmocka_unit_test(test_not_a_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
