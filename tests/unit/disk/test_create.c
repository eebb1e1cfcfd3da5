// SPDX-License-Identifier: Apache-2.0
/* image_create from a raw source: every byte of the source is in the image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>

#include "crypt_test_util.h"

/* A raw file of len pseudo-random bytes (deterministic); returns its contents. */
static uint8_t *make_raw(char *path, size_t len)
{
	uint8_t *data = malloc(len);
	int fd = mkstemp(path);

	assert_non_null(data);
	assert_true(fd >= 0);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)((i * 2654435761u) >> 13) | 1; /* never zero */
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return data;
}

/*
 * Creates an image of ALIGN_UP(len, 4096) bytes from a raw source of len
 * bytes, as provisioning does, and checks it reads back as the source then
 * zeroes.
 */
static void check_source_len(size_t len)
{
	char raw[] = "/tmp/pocketvm-test-create-raw-XXXXXX";
	char img[] = "/tmp/pocketvm-test-create-img-XXXXXX";
	uint64_t size = ALIGN_UP((uint64_t)len, (uint64_t)IMAGE_BLOCK_SIZE);
	uint8_t uuid[IMAGE_UUID_LEN], *data = make_raw(raw, len), *buf = malloc(size);
	struct secret *dek = test_dek(0x33);
	struct blockdev *src, *bd;
	int fd = mkstemp(img);

	assert_true(fd >= 0);
	assert_non_null(buf);
	assert_int_equal(blockdev_raw_open(raw, true, &src), 0);
	assert_int_equal(image_new_uuid(uuid), 0);
	assert_int_equal(image_create(fd, size, uuid, dek, NULL, src, 2), 0);
	blockdev_close(src);
	close(fd);

	assert_int_equal(test_open(img, dek, true, NULL, &bd), 0);
	assert_int_equal(bd->size, size);
	memset(buf, 0xee, size);
	assert_int_equal(test_rw(bd, buf, size, 0, false), 0);
	assert_memory_equal(buf, data, len);
	for (size_t i = len; i < size; i++)
		assert_int_equal(buf[i], 0);
	blockdev_close(bd);

	unlink(raw);
	unlink(img);
	secret_free(dek);
	free(buf);
	free(data);
}

static void test_tail_inside_a_sector(void **state)
{
	check_source_len(3 * 4096 + 1000 + 37);
}

static void test_tail_of_whole_sectors(void **state)
{
	check_source_len(5 * 4096 + 3 * 512);
}

static void test_source_shorter_than_one_block(void **state)
{
	check_source_len(1000);
}

static void test_whole_blocks(void **state)
{
	check_source_len(4 * 4096);
}

/* A source that does not fit is refused, never cut. */
static void test_source_larger_than_image(void **state)
{
	char raw[] = "/tmp/pocketvm-test-create-raw-XXXXXX";
	char img[] = "/tmp/pocketvm-test-create-img-XXXXXX";
	uint8_t uuid[IMAGE_UUID_LEN], *data = make_raw(raw, 2 * 4096 + 1);
	struct secret *dek = test_dek(0x34);
	struct blockdev *src;
	int fd = mkstemp(img);

	assert_true(fd >= 0);
	assert_int_equal(blockdev_raw_open(raw, true, &src), 0);
	assert_int_equal(image_new_uuid(uuid), 0);
	assert_int_equal(image_create(fd, 2 * 4096, uuid, dek, NULL, src, 1), -EFBIG);
	blockdev_close(src);
	close(fd);
	unlink(raw);
	unlink(img);
	secret_free(dek);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail_inside_a_sector),
		cmocka_unit_test(test_tail_of_whole_sectors),
		cmocka_unit_test(test_source_shorter_than_one_block),
		cmocka_unit_test(test_whole_blocks),
		cmocka_unit_test(test_source_larger_than_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
