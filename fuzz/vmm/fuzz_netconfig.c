// SPDX-License-Identifier: Apache-2.0
/*
 * The networking part of pocketvm-vmm's configuration: the first byte picks
 * the entry point (a JSON document, a --net / --vsock / --balloon-control
 * value, a MAC address), the rest is its text. Whatever the input, parsing
 * ends with true or one message, and config_free() leaves nothing behind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/config_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const opts[] = { "--net", "--vsock", "--balloon-control", "--jail-uid" };
	struct vmm_config c;
	char err[256], *text;
	uint8_t mac[6];

	if (size < 1 || size > 4096)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	config_init(&c);
	switch (data[0] % 6) {
	case 0:
		if (config_parse_json(&c, text, size - 1, err, sizeof(err)))
			(void)config_validate(&c, err, sizeof(err));
		break;
	case 5:
		(void)config_parse_mac(text, mac);
		break;
	default: {
		char *argv[] = { "pocketvm-vmm", (char *)opts[data[0] % 6 - 1], text, NULL };

		if (config_parse_args(&c, 3, argv, err, sizeof(err)))
			(void)config_net_validate(&c.net, err, sizeof(err));
		break;
	}
	}
	config_free(&c);
	free(text);
	return 0;
}
