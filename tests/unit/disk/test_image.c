// SPDX-License-Identifier: Apache-2.0
/* The header codec, copy selection, and the bindings document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jose/jwk.h>
#include <stdio.h>

#include "common/log.h"
#include "crypt_test_util.h"
#include "disk/binding.h"
#include "disk/image.h"

static struct image_header sample(void)
{
	struct image_header h = {
		.version = IMAGE_VERSION,
		.seq = 7,
		.block_size = 4096,
		.suite = IMAGE_SUITE_AES256GCM,
		.data_size = 1 << 20,
		.epoch = 5,
		.session_epoch = 4,
	};
	uint64_t file;

	memset(h.uuid, 0xab, sizeof(h.uuid));
	image_layout(h.data_size, &h.meta_offset, &h.data_offset, &file);
	return h;
}

static void test_roundtrip_and_field_checks(void **state)
{
	struct image_header h = sample(), p;
	uint8_t *buf = malloc(IMAGE_HEADER_SLOT);
	struct secret *dek = test_dek(1), *other = test_dek(2);
	const char *why;

	assert_int_equal(image_header_set_bindings(&h, "{\"bindings\":[]}"), 0);
	assert_int_equal(image_header_serialize(&h, dek, buf), 0);
	assert_true(image_header_parse(buf, IMAGE_HEADER_SLOT, &p, &why));
	assert_int_equal(p.data_size, h.data_size);
	assert_int_equal(p.epoch, 5);
	assert_string_equal(p.bindings, "{\"bindings\":[]}");
	assert_int_equal(image_header_verify(&p, dek), 0);
	assert_int_equal(image_header_verify(&p, other), -EBADMSG);
	image_header_release(&p);
	image_header_release(&h);

	/* Short input, and a bindings length beyond the copy. */
	assert_false(image_header_parse(buf, 100, &p, &why));
	assert_false(image_header_parse(buf, 170, &p, &why));
	assert_string_equal(why, "bindings length exceeds the header copy");
	/* Fields that parse but break the layout are refused. */
	h.data_offset += 4096;
	assert_int_equal(image_header_serialize(&h, NULL, buf), 0);
	assert_false(image_header_parse(buf, IMAGE_HEADER_SLOT, &p, &why));
	assert_string_equal(why, "metadata or data offset does not match the layout");
	h = sample();
	h.data_size = 1000;
	assert_int_equal(image_header_serialize(&h, NULL, buf), 0);
	assert_false(image_header_parse(buf, IMAGE_HEADER_SLOT, &p, &why));
	h = sample();
	h.flags = 0x80;
	assert_int_equal(image_header_serialize(&h, NULL, buf), 0);
	assert_false(image_header_parse(buf, IMAGE_HEADER_SLOT, &p, &why));
	assert_string_equal(why, "unknown header flags");
	memcpy(buf, "NOTANIMG", 8);
	assert_false(image_header_parse(buf, IMAGE_HEADER_SLOT, &p, &why));
	free(buf);
	secret_free(dek);
	secret_free(other);
}

/* The newer valid copy wins; a torn newer copy falls back to the older. */
static void test_copy_selection(void **state)
{
	char path[] = "/tmp/pocketvm-test-image-XXXXXX";
	int fd = mkstemp(path);
	struct image_header h = sample(), got;
	struct image_io io;
	const char *why;

	image_io_fd(&io, &fd);
	assert_int_equal(image_header_store(&io, &h, NULL), 0); /* seq 8 -> copy A */
	h.epoch = 6;
	assert_int_equal(image_header_store(&io, &h, NULL), 0); /* seq 9 -> copy B */
	assert_int_equal(image_header_load(&io, &got, &why), 0);
	assert_int_equal(got.seq, 9);
	assert_int_equal(got.epoch, 6);
	/* Tear copy B: a write that stopped half way. */
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff", 4, IMAGE_HEADER_SLOT + 50), 4);
	assert_int_equal(image_header_load(&io, &got, &why), 0);
	assert_int_equal(got.seq, 8);
	assert_int_equal(got.epoch, 5);
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff", 4, 50), 4);
	assert_int_equal(image_header_load(&io, &got, &why), -EUCLEAN);
	/* Erasing an unreadable header still destroys whatever it held. */
	assert_int_equal(pwrite(fd, "SECRETBINDING", 13, 200), 13);
	assert_int_equal(image_header_erase(&io), 0);
	char probe[16];

	assert_int_equal(pread(fd, probe, 13, 200), 13);
	assert_memory_not_equal(probe, "SECRETBINDING", 13);
	close(fd);
	unlink(path);
}

static void test_bindings_document(void **state)
{
	const char *why;
	json_t *arr;

	arr = bindings_parse(NULL, &why);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	assert_null(bindings_parse("[1,2]", &why));
	assert_null(bindings_parse("{\"bindings\":[{\"type\":\"magic\",\"id\":1}]}", &why));
	assert_string_equal(why, "unknown binding type");
	assert_null(bindings_parse("{\"bindings\":[{\"type\":\"recovery\",\"id\":0,"
				   "\"jwe\":{},\"kid\":\"x\"}]}",
				   &why));
	assert_null(bindings_parse("{\"bindings\":[{\"type\":\"recovery\",\"id\":1,\"jwe\":{},"
				   "\"kid\":\"x\"},{\"type\":\"recovery\",\"id\":1,\"jwe\":{},"
				   "\"kid\":\"y\"}]}",
				   &why));
	assert_string_equal(why, "two bindings share an id");
	/* A tang binding must point at http(s). */
	assert_null(bindings_parse("{\"bindings\":[{\"type\":\"tang\",\"id\":1,"
				   "\"url\":\"file:///etc/passwd\",\"adv\":{},\"kid\":\"k\"}]}",
				   &why));
}

/* Escrow: sealed to the public key, opened only with the private one. */
static void test_recovery_binding(void **state)
{
	char kpath[] = "/tmp/pocketvm-test-rec-XXXXXX", opath[] = "/tmp/pocketvm-test-rec2-XXXXXX";
	json_auto_t *prv = json_pack("{s:s,s:s}", "alg", "ECDH-ES+A256KW", "crv", "P-521");
	json_auto_t *oth = json_pack("{s:s,s:s}", "alg", "ECDH-ES+A256KW", "crv", "P-521");
	json_auto_t *arr = json_array();
	struct secret *dek = test_dek(9), *got = NULL;
	uint8_t uuid[16] = { 1, 2, 3 }, uuid2[16] = { 4 };
	const char *why;

	assert_true(jose_jwk_gen(NULL, prv));
	assert_true(jose_jwk_gen(NULL, oth));
	json_auto_t *pub = json_deep_copy(prv);

	assert_true(jose_jwk_pub(NULL, pub));
	/* A private key is refused: it must never be stored on the device. */
	assert_int_equal(binding_add_recovery(arr, uuid, dek, prv), -EINVAL);
	assert_int_equal(binding_add_recovery(arr, uuid, dek, pub), 0);
	char *doc = bindings_dump(arr);
	json_auto_t *back = bindings_parse(doc, &why);

	assert_non_null(back);
	free(doc);
	close(mkstemp(kpath));
	close(mkstemp(opath));
	assert_int_equal(json_dump_file(prv, kpath, 0), 0);
	assert_int_equal(json_dump_file(oth, opath, 0), 0);
	json_t *b = json_array_get(back, 0);
	struct unlock_opts none = { 0 }, right = { .recovery_key = kpath },
			   wrong = { .recovery_key = opath };

	assert_int_equal(binding_unlock(b, uuid, &none, &got), -ENOKEY);
	assert_int_equal(binding_unlock(b, uuid, &wrong, &got), -ENOKEY);
	assert_int_equal(binding_unlock(b, uuid2, &right, &got), -EBADMSG);
	assert_int_equal(binding_unlock(b, uuid, &right, &got), 0);
	assert_memory_equal(got->data, dek->data, 32);
	secret_free(got);
	secret_free(dek);
	unlink(kpath);
	unlink(opath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_field_checks),
		cmocka_unit_test(test_copy_selection),
		cmocka_unit_test(test_bindings_document),
		cmocka_unit_test(test_recovery_binding),
	};

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
