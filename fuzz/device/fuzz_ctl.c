// SPDX-License-Identifier: Apache-2.0
/* Control-socket requests (any local user can send them) and vm.json files. */
#include <stdint.h>

#include "device/ctlproto.h"
#include "device/vmconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request req;
	struct vmconf c;
	char err[256];

	ctl_parse_request(data, size, &req, err, sizeof(err));
	vmconf_parse(data, size, &c, err, sizeof(err));
	return 0;
}
