// SPDX-License-Identifier: Apache-2.0
#include "vmm/net/net_backend.h"

#include <endian.h>

const char *vnet_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t features)
{
	uint16_t csum_start = le16toh(h->csum_start);
	uint16_t csum_offset = le16toh(h->csum_offset);
	uint16_t hdr_len = le16toh(h->hdr_len);
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (h->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return "unknown header flags";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(features & (1ull << VIRTIO_NET_F_CSUM)))
			return "partial checksum without VIRTIO_NET_F_CSUM";
		/* The 16-bit checksum field must lie inside the frame. */
		if ((size_t)csum_start + csum_offset + 2 > frame_len)
			return "checksum field beyond the frame";
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "ECN flag without segmentation";
		if (frame_len > 65535 + 14)
			return "frame larger than 64 KiB without segmentation";
		return NULL;
	}
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !(features & (1ull << VIRTIO_NET_F_HOST_TSO4)))
		return "TCPv4 segmentation not negotiated";
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !(features & (1ull << VIRTIO_NET_F_HOST_TSO6)))
		return "TCPv6 segmentation not negotiated";
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return "unsupported segmentation type";
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(features & (1ull << VIRTIO_NET_F_HOST_ECN)))
		return "ECN segmentation not negotiated";
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return "segmentation without a partial checksum";
	if (le16toh(h->gso_size) == 0)
		return "segmentation with a zero segment size";
	if (hdr_len > frame_len)
		return "header length beyond the frame";
	return NULL;
}
