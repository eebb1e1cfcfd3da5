// SPDX-License-Identifier: Apache-2.0
/*
 * Feeds guest packet sequences to the vsock mux. Input: records of
 * [flags:1][len:2 LE][header 44][payload len]. Unless a flag bit says
 * otherwise, the CIDs and the header's length field are made valid, so the
 * connection state machine, not just the first checks, gets exercised.
 * A unix listener on port 52 makes guest connections succeed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vsock/vsock_mux.h"

#define GUEST_CID 3

static char dir[] = "/tmp/pocketvm-fuzz-vsock-XXXXXX";
static char path[96];
static int listener = -1;

static void cleanup(void)
{
	char sock[128];

	snprintf(sock, sizeof(sock), "%s_52", path);
	unlink(sock);
	rmdir(dir);
}

static void init(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	log_set_level(LOG_LEVEL_ERROR);
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_52", path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(listener, (struct sockaddr *)&sa, sizeof(sa)) || listen(listener, 512))
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rx[VSOCK_HDR_SIZE + 4096];
	struct vsock_mux *m;
	int fd;

	if (listener < 0)
		init();
	m = vsock_mux_new(GUEST_CID, path);
	if (!m)
		abort();
	while (size >= 3 + VSOCK_HDR_SIZE) {
		uint8_t flags = data[0];
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;
		uint8_t hdr[VSOCK_HDR_SIZE];
		struct vsock_hdr h;

		data += 3;
		size -= 3;
		memcpy(hdr, data, VSOCK_HDR_SIZE);
		data += VSOCK_HDR_SIZE;
		size -= VSOCK_HDR_SIZE;
		len = len < size ? len : size;
		vsock_hdr_parse(hdr, sizeof(hdr), &h);
		if (!(flags & 1)) {
			h.src_cid = GUEST_CID;
			h.dst_cid = VSOCK_HOST_CID;
		}
		if (!(flags & 2))
			h.len = (uint32_t)len;
		vsock_hdr_write(&h, hdr);
		vsock_mux_guest_tx(m, hdr, sizeof(hdr), data, len);
		data += len;
		size -= len;
		vsock_mux_process(m);
		while (vsock_mux_guest_rx(m, rx, (flags & 4) ? sizeof(rx) : VSOCK_HDR_SIZE + 64))
			;
	}
	vsock_mux_free(m);
	/* Drop the connections the listener accumulated. */
	while ((fd = accept(listener, NULL, NULL)) >= 0)
		close(fd);
	return 0;
}
