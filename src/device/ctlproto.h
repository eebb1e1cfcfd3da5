/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket's protocol between `pocketvm` and pocketvmd: one JSON
 * object per line. A request {"cmd": NAME, ...} gets one answer line,
 * {"ok": true, ...} or {"ok": false, "error": CODE, "message": TEXT}; after a
 * successful "console" answer the connection carries the VM's console bytes
 * both ways. Error codes are stable (docs/device.md lists them).
 */
#ifndef POCKETVM_DEVICE_CTLPROTO_H
#define POCKETVM_DEVICE_CTLPROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_SOCKET_PATH "/run/pocketvm/pocketvmd.sock"
#define CTL_MAX_LINE 65536

struct ctl_request {
	char cmd[16];
	char vm[65];
	char url[513];
	char token[256];
	char ca_sha256[100];
	char name[65];
};

/* Parses one request line; false with the reason in err. */
bool ctl_parse_request(const void *buf, size_t len, struct ctl_request *req, char *err,
		       size_t errlen);

#endif
