// SPDX-License-Identifier: Apache-2.0
/* The bindings document, sealing the DEK, and trying bindings to unlock. */
#include "disk/binding.h"

#include <endian.h>
#include <errno.h>
#include <jose/b64.h>
#include <string.h>

#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/ecmr.h"

static bool b64_field(const json_t *b, const char *name, size_t want)
{
	json_t *v = json_object_get(b, name);

	return json_is_string(v) && jose_b64_dec(v, NULL, 0) == want;
}

static bool url_ok(const json_t *v)
{
	const char *u = json_string_value(v);

	return u && strlen(u) < BINDING_URL_MAX &&
	       (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8));
}

bool binding_valid(const json_t *b, const char **why)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_int_t id = json_integer_value(json_object_get(b, "id"));

	*why = "binding is not an object with a type";
	if (!json_is_object(b) || !type)
		return false;
	*why = "binding id is not an integer in 1..65535";
	if (!json_is_integer(json_object_get(b, "id")) || id < 1 || id > 65535)
		return false;
	if (!strcmp(type, "tang")) {
		*why = "tang binding: bad url, adv, kid or clt";
		if (!url_ok(json_object_get(b, "url")) ||
		    !json_is_object(json_object_get(b, "adv")) ||
		    !json_is_string(json_object_get(b, "kid")) ||
		    !ecmr_public_ok(json_object_get(b, "clt")))
			return false;
		*why = "tang binding: bad iv, ct or tag";
		if (!b64_field(b, "iv", AEAD_NONCE_LEN) || !b64_field(b, "ct", IMAGE_DEK_LEN) ||
		    !b64_field(b, "tag", AEAD_TAG_LEN))
			return false;
	} else if (!strcmp(type, "recovery")) {
		*why = "recovery binding: bad jwe or kid";
		if (!json_is_object(json_object_get(b, "jwe")) ||
		    !json_is_string(json_object_get(b, "kid")))
			return false;
	} else {
		*why = "unknown binding type";
		return false;
	}
	*why = NULL;
	return true;
}

json_t *bindings_parse(const char *json, const char **why)
{
	json_auto_t *doc = NULL;
	json_t *arr, *b;
	size_t i, j;

	if (!json || !*json)
		return json_array();
	*why = "bindings are not valid JSON";
	doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!doc)
		return NULL;
	arr = json_object_get(doc, "bindings");
	*why = "bindings document has no \"bindings\" array";
	if (!json_is_object(doc) || !json_is_array(arr))
		return NULL;
	*why = "more than 16 bindings";
	if (json_array_size(arr) > BINDINGS_MAX)
		return NULL;
	json_array_foreach(arr, i, b)
	{
		if (!binding_valid(b, why))
			return NULL;
		for (j = 0; j < i; j++) {
			*why = "two bindings share an id";
			if (json_equal(json_object_get(b, "id"),
				       json_object_get(json_array_get(arr, j), "id")))
				return NULL;
		}
	}
	*why = NULL;
	return json_incref(arr);
}

char *bindings_dump(const json_t *arr)
{
	json_auto_t *doc = json_pack("{s:O}", "bindings", arr);

	return doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

unsigned int bindings_next_id(const json_t *arr)
{
	json_int_t max = 0;
	json_t *b;
	size_t i;

	if (json_array_size(arr) >= BINDINGS_MAX)
		return 0;
	json_array_foreach(arr, i, b) max = MAX(max, json_integer_value(json_object_get(b, "id")));
	return max < 65535 ? (unsigned int)max + 1 : 0;
}

/* AAD = UUID || le16(id) || type. */
static size_t seal_aad(const json_t *b, const uint8_t *uuid, uint8_t *aad)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	uint16_t id = htole16((uint16_t)json_integer_value(json_object_get(b, "id")));
	size_t tl = strlen(type);

	memcpy(aad, uuid, IMAGE_UUID_LEN);
	memcpy(aad + IMAGE_UUID_LEN, &id, 2);
	memcpy(aad + IMAGE_UUID_LEN + 2, type, tl);
	return IMAGE_UUID_LEN + 2 + tl;
}

int binding_seal(json_t *b, const struct secret *kek, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek)
{
	uint8_t iv[AEAD_NONCE_LEN], ct[IMAGE_DEK_LEN], tag[AEAD_TAG_LEN], aad[64];
	size_t aad_len = seal_aad(b, uuid, aad);
	int ret = crypto_random(iv, sizeof(iv));

	if (!ret)
		ret = aead_seal(kek->data, iv, aad, aad_len, dek->data, IMAGE_DEK_LEN, ct, tag);
	if (ret)
		return ret;
	if (json_object_set_new(b, "iv", jose_b64_enc(iv, sizeof(iv))) < 0 ||
	    json_object_set_new(b, "ct", jose_b64_enc(ct, sizeof(ct))) < 0 ||
	    json_object_set_new(b, "tag", jose_b64_enc(tag, sizeof(tag))) < 0)
		return -ENOMEM;
	return 0;
}

int binding_unseal(const json_t *b, const struct secret *kek, const uint8_t uuid[IMAGE_UUID_LEN],
		   struct secret **dek)
{
	uint8_t iv[AEAD_NONCE_LEN], ct[IMAGE_DEK_LEN], tag[AEAD_TAG_LEN], aad[64];
	size_t aad_len = seal_aad(b, uuid, aad);
	struct secret *out;
	int ret;

	if (jose_b64_dec(json_object_get(b, "iv"), iv, sizeof(iv)) != sizeof(iv) ||
	    jose_b64_dec(json_object_get(b, "ct"), ct, sizeof(ct)) != sizeof(ct) ||
	    jose_b64_dec(json_object_get(b, "tag"), tag, sizeof(tag)) != sizeof(tag))
		return -EBADMSG;
	ret = secret_new(IMAGE_DEK_LEN, &out);
	if (ret)
		return ret;
	ret = aead_open(kek->data, iv, aad, aad_len, ct, sizeof(ct), out->data, tag);
	if (ret) {
		secret_free(out);
		return ret;
	}
	*dek = out;
	return 0;
}

int binding_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN], const struct unlock_opts *o,
		   struct secret **dek)
{
	const char *type = json_string_value(json_object_get(b, "type"));

	if (!strcmp(type, "tang"))
		return binding_tang_unlock(b, uuid, &o->tang, dek);
	if (!o->recovery_key)
		return -ENOKEY; /* never usable on the device alone */
	return binding_recovery_unlock(b, uuid, o->recovery_key, dek);
}

int image_unlock(const struct image_header *h, const struct unlock_opts *o, struct secret **dek)
{
	json_auto_t *arr = NULL;
	const char *why;
	json_t *b;
	size_t i;
	int ret = -ENOKEY;

	if (h->flags & IMAGE_FLAG_ERASED)
		return -EKEYREVOKED;
	arr = bindings_parse(h->bindings, &why);
	if (!arr) {
		log_error("image: %s", why);
		return -EUCLEAN;
	}
	json_array_foreach(arr, i, b)
	{
		struct secret *k;
		int r = binding_unlock(b, h->uuid, o, &k);

		if (r == -ENOKEY)
			continue;
		ret = r;
		if (r) {
			log_warn("image: binding %lld (%s) failed: %s",
				 (long long)json_integer_value(json_object_get(b, "id")),
				 json_string_value(json_object_get(b, "type")), strerror(-r));
			continue;
		}
		ret = image_header_verify(h, k);
		if (ret == 0) {
			*dek = k;
			return 0;
		}
		log_error("image: binding %lld yields a key that does not match the header",
			  (long long)json_integer_value(json_object_get(b, "id")));
		secret_free(k);
	}
	return ret;
}

int image_unlock_to_fd(int image_fd, const struct unlock_opts *o, int *key_fd)
{
	struct image_header h;
	struct secret *dek = NULL;
	struct image_io io;
	const char *why;
	int ret;

	image_io_fd(&io, &image_fd);
	ret = image_header_load(&io, &h, &why);
	if (ret) {
		log_error("image: no valid header: %s", why);
		return ret;
	}
	ret = image_unlock(&h, o, &dek);
	image_header_release(&h);
	if (!ret)
		ret = secret_to_fd(dek, key_fd);
	secret_free(dek);
	return ret;
}
