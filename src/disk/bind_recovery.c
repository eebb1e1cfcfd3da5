// SPDX-License-Identifier: Apache-2.0
/*
 * The recovery (escrow) binding: the DEK encrypted to an enterprise public
 * key as a JWE (ECDH-ES+A256KW, A256GCM) that the stock `jose jwe dec`
 * can also open. The private key never comes to the device.
 */
#include <errno.h>
#include <jose/jwe.h>
#include <jose/jwk.h>
#include <string.h>

#include "common/log.h"
#include "crypto/ecmr.h"
#include "disk/binding.h"

int binding_add_recovery(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
			 const json_t *pub)
{
	json_auto_t *jwe = NULL, *key = NULL, *kid = NULL, *b = NULL;
	unsigned int id = bindings_next_id(arr);
	char ustr[37];
	const char *why;

	if (!id)
		return -ENOSPC;
	if (json_object_get(pub, "d") || json_object_get(pub, "k")) {
		log_error("recovery: refusing a private key: give the public JWK");
		return -EINVAL;
	}
	key = json_deep_copy(pub);
	if (!key)
		return -ENOMEM;
	json_object_del(key, "key_ops");
	json_object_set_new(key, "alg", json_string("ECDH-ES+A256KW"));
	image_uuid_str(uuid, ustr);
	/* The UUID in the protected header ties the escrow to this image. */
	jwe = json_pack("{s:{s:s,s:s}}", "protected", "enc", "A256GCM", "pocketvm.uuid", ustr);
	if (!jwe || !jose_jwe_enc(NULL, jwe, NULL, key, dek->data, dek->len)) {
		log_error("recovery: cannot encrypt to this key (EC P-256/384/521 expected)");
		return -EINVAL;
	}
	kid = jose_jwk_thp(NULL, pub, "S256");
	b = json_pack("{s:s,s:I,s:O,s:O}", "type", "recovery", "id", (json_int_t)id, "jwe", jwe,
		      "kid", kid);
	if (!b || !binding_valid(b, &why))
		return -EINVAL;
	return json_array_append(arr, b) < 0 ? -ENOMEM : 0;
}

int binding_recovery_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN],
			    const char *key_path, struct secret **dek)
{
	json_auto_t *key = json_load_file(key_path, 0, NULL);
	json_auto_t *hdr = NULL;
	const json_t *jwe = json_object_get(b, "jwe");
	char ustr[37];
	size_t len = 0;
	uint8_t *pt;
	int ret;

	if (!key || !json_object_get(key, "d")) {
		log_error("recovery: %s is not a private JWK", key_path);
		return -EINVAL;
	}
	json_auto_t *thp = jose_jwk_thp(NULL, key, "S256");

	if (!thp || !json_equal(thp, json_object_get(b, "kid"))) {
		ecmr_jwk_wipe(key);
		return -ENOKEY; /* escrowed to another key */
	}
	hdr = jose_jwe_hdr(jwe, NULL);
	image_uuid_str(uuid, ustr);
	if (!hdr || !json_is_string(json_object_get(hdr, "pocketvm.uuid")) ||
	    strcmp(json_string_value(json_object_get(hdr, "pocketvm.uuid")), ustr)) {
		ecmr_jwk_wipe(key);
		log_error("recovery: the escrow JWE belongs to another image");
		return -EBADMSG;
	}
	pt = jose_jwe_dec(NULL, jwe, NULL, key, &len);
	ecmr_jwk_wipe(key);
	if (!pt)
		return -EBADMSG;
	ret = len == IMAGE_DEK_LEN ? secret_new(IMAGE_DEK_LEN, dek) : -EBADMSG;
	if (!ret)
		memcpy((*dek)->data, pt, IMAGE_DEK_LEN);
	explicit_bzero(pt, len);
	free(pt);
	return ret;
}
