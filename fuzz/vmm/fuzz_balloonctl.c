// SPDX-License-Identifier: Apache-2.0
/* The balloon control socket's command parser, one line per input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/virtio/balloon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct balloon_cmd cmd;
	const char *err = NULL;
	char line[128];

	if (size >= sizeof(line))
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (balloon_parse_command(line, 32768, &cmd, &err)) {
		if (cmd.kind == BALLOON_CMD_SIZE && cmd.pages > 32768)
			abort();
	} else if (!err) {
		abort();
	}
	return 0;
}
