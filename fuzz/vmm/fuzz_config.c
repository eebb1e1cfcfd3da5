// SPDX-License-Identifier: Apache-2.0
/* The VMM's JSON configuration parser on arbitrary documents. */
#include <stdint.h>
#include <stdlib.h>

#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_config c;
	char err[256];

	config_init(&c);
	err[0] = 0;
	if (!config_parse_json(&c, (const char *)data, size, err, sizeof(err)) && !err[0])
		abort(); /* a refusal always carries its message */
	if (config_parse_json(&c, (const char *)data, size, err, sizeof(err)))
		(void)config_validate(&c, err, sizeof(err));
	config_free(&c);
	return 0;
}
