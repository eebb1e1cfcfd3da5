// SPDX-License-Identifier: Apache-2.0
/*
 * What the network path parses from outside: the first 12 bytes are a
 * guest's virtio-net header checked against a feature set taken from the
 * input; the rest is a passt byte stream, delivered in pieces, which the
 * backend must turn into whole frames or a clean -EPROTO.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/net/net_backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[NET_MAX_FRAME + VIRTIO_NET_HDR_SIZE];
	struct virtio_net_hdr_v1 h;
	struct net_backend *nb;
	uint64_t features;
	int sv[2];

	/* Malformed streams are the point: keep their log lines out of the output. */
	log_set_fd(-1);
	if (size < sizeof(h) + 2)
		return 0;
	memcpy(&h, data, sizeof(h));
	features = (uint64_t)data[sizeof(h)] << 11 | (uint64_t)(data[sizeof(h)] & 1);
	vnet_hdr_check(&h, size, features);
	data += sizeof(h) + 1;
	size -= sizeof(h) + 1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || net_passt_open_fd(sv[0], &nb))
		abort();
	/* Pieces of up to 255 bytes, sizes from the input itself. */
	while (size > 0) {
		size_t piece = data[0] % 256;
		ssize_t n;

		data++;
		size--;
		piece = piece < size ? piece : size;
		if (piece && write(sv[1], data, piece) != (ssize_t)piece)
			abort();
		data += piece;
		size -= piece;
		do {
			n = nb->ops->recv(nb, out, (piece & 1) ? sizeof(out) : 2048);
		} while (n > 0 || n == -EMSGSIZE);
		if (n == -EPROTO)
			break;
	}
	net_backend_close(nb);
	close(sv[1]);
	return 0;
}
