// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: a Tang advertisement as it arrives from the network
 * (and as it is stored in a tang binding), through verification and the
 * choice of the exchange key.
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/ecmr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *adv = json_loadb((const char *)data, size, 0, NULL);
	const char *why;
	json_t *keys;

	if (!adv)
		return 0;
	keys = ecmr_adv_verify(adv, NULL, &why);
	if (keys) {
		json_t *kid = NULL;
		json_t *srv = ecmr_exchange_key(keys, NULL, &kid);

		if (srv && !ecmr_public_ok(srv))
			__builtin_trap();
		json_decref(srv);
		json_decref(kid);
		json_decref(keys);
	}
	(void)ecmr_public_ok(adv);
	json_decref(adv);
	return 0;
}
