// SPDX-License-Identifier: Apache-2.0
/* The tang binding: McCallum-Relyea provisioning and recovery (ecmr.c). */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "crypto/ecmr.h"
#include "crypto/kdf.h"
#include "disk/binding.h"

/* KEK = HKDF-SHA-256(K.x, salt = UUID, info = "pocketvm-disk-v1 tang"). */
static int tang_kek(const struct secret *k, const uint8_t *uuid, struct secret **kek)
{
	static const char info[] = "pocketvm-disk-v1 tang";
	int ret = secret_new(32, kek);

	if (ret)
		return ret;
	ret = hkdf_sha256(k->data, k->len, uuid, IMAGE_UUID_LEN, info, sizeof(info) - 1,
			  (*kek)->data, 32);
	if (ret)
		secret_free(*kek);
	return ret;
}

int binding_add_tang_adv(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
			 const char *url, const json_t *adv, const char *thp, bool trust,
			 json_t **thps)
{
	json_auto_t *keys = NULL, *srv = NULL, *kid = NULL, *clt = NULL, *b = NULL;
	struct secret *k = NULL, *kek = NULL;
	unsigned int id = bindings_next_id(arr);
	const char *why;
	int ret;

	if (!id)
		return -ENOSPC;
	keys = ecmr_adv_verify(adv, thp, &why);
	if (!keys) {
		log_error("tang: %s: %s", url, why);
		return -EBADMSG;
	}
	if (!thp && !trust) {
		/* Trust on first use must be explicit: show what would be trusted. */
		*thps = json_array();
		if (!*thps)
			return -ENOMEM;
		ret = ecmr_adv_signing_thps(keys, *thps);
		return ret ? ret : -EPERM;
	}
	srv = ecmr_exchange_key(keys, NULL, &kid);
	if (!srv) {
		log_error("tang: %s: advertisement has no P-521 exchange key", url);
		return -EPROTO;
	}
	ret = ecmr_provision(srv, &clt, &k);
	if (ret)
		return ret;
	ret = tang_kek(k, uuid, &kek);
	secret_free(k);
	if (ret)
		return ret;
	b = json_pack("{s:s,s:I,s:s,s:O,s:O,s:O}", "type", "tang", "id", (json_int_t)id, "url", url,
		      "adv", adv, "kid", kid, "clt", clt);
	ret = b ? binding_seal(b, kek, uuid, dek) : -ENOMEM;
	secret_free(kek);
	if (!ret && !binding_valid(b, &why)) {
		log_error("tang: %s: %s", url, why);
		ret = -EINVAL;
	}
	if (!ret && json_array_append(arr, b) < 0)
		ret = -ENOMEM;
	return ret;
}

int binding_add_tang(json_t *arr, const uint8_t uuid[IMAGE_UUID_LEN], const struct secret *dek,
		     const char *url, const char *thp, bool trust, const struct tang_client_opts *o,
		     json_t **thps)
{
	json_auto_t *adv = NULL;
	int ret = tang_http_adv(url, o, &adv);

	if (ret)
		return ret;
	return binding_add_tang_adv(arr, uuid, dek, url, adv, thp, trust, thps);
}

int binding_tang_unlock(const json_t *b, const uint8_t uuid[IMAGE_UUID_LEN],
			const struct tang_client_opts *o, struct secret **dek)
{
	const char *url = o && o->url_override ? o->url_override :
						 json_string_value(json_object_get(b, "url"));
	const char *kid = json_string_value(json_object_get(b, "kid"));
	json_auto_t *keys = NULL, *srv = NULL, *eph = NULL, *xfr = NULL, *rep = NULL;
	struct secret *k = NULL, *kek = NULL;
	const char *why;
	int ret;

	/* The stored advertisement was verified at bind time; verify it again. */
	keys = ecmr_adv_verify(json_object_get(b, "adv"), NULL, &why);
	if (!keys) {
		log_error("tang: stored advertisement: %s", why);
		return -EBADMSG;
	}
	srv = ecmr_exchange_key(keys, kid, NULL);
	if (!srv) {
		log_error("tang: stored advertisement has no exchange key %s", kid);
		return -EBADMSG;
	}
	ret = ecmr_recover_request(json_object_get(b, "clt"), &eph, &xfr);
	if (ret)
		return ret;
	ret = tang_http_rec(url, kid, xfr, o, &rep);
	if (!ret)
		ret = ecmr_recover_finish(eph, srv, rep, &k);
	ecmr_jwk_wipe(eph);
	if (ret)
		return ret;
	ret = tang_kek(k, uuid, &kek);
	secret_free(k);
	if (ret)
		return ret;
	ret = binding_unseal(b, kek, uuid, dek);
	secret_free(kek);
	if (ret == -EBADMSG)
		log_error("tang: %s answered, but its key does not unseal this binding", url);
	return ret;
}
