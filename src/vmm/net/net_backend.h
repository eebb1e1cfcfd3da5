/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a VM's virtio-net frames go: backends behind one ops table, as the
 * block backends are.
 *
 *  - tap: a tap device the launcher created (in a network namespace made
 *    for the VM) and hands over as an fd. Frames carry the virtio-net
 *    header, so checksum and segmentation offloads pass through to the
 *    host kernel, which implements them; the device offers the guest only
 *    the offloads the tap accepted (TUNSETOFFLOAD).
 *  - passt: user-mode networking through passt's unix socket, with QEMU's
 *    stream framing (a 32-bit big-endian length, then the Ethernet frame),
 *    so a VM has a network without any privilege. No offloads: every frame
 *    is whole and checksummed.
 *
 * Frames given to send() start with a struct virtio_net_hdr_v1 the device
 * already validated (vnet_hdr_check); backends without offloads drop it.
 * Neither call blocks: send returns -EAGAIN when the backend is full (the
 * device retries when backend_fd() is writable), recv returns 0 when there
 * is nothing to read.
 */
#ifndef POCKETVM_VMM_NET_BACKEND_H
#define POCKETVM_VMM_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/util.h"

/* virtio 1.x network header (section 5.1.6), always 12 bytes with VERSION_1. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define VIRTIO_NET_HDR_SIZE sizeof(struct virtio_net_hdr_v1)
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* Feature bits (section 5.1.3) the backends can honour. */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_STATUS 16

/* Largest Ethernet frame plus header any backend passes (64 KiB GSO). */
#define NET_MAX_FRAME (65535u + 14u)

struct net_backend;

struct net_backend_ops {
	const char *name;
	int (*send)(struct net_backend *nb, const struct iovec *iov, int iovcnt);
	/* Writes a virtio_net_hdr_v1 then the frame into buf; returns the total. */
	ssize_t (*recv)(struct net_backend *nb, void *buf, size_t cap);
	/* Pushes out a frame a short write left behind; 0 when nothing is left. */
	int (*flush)(struct net_backend *nb);
	/*
	 * The guest negotiated these features: deliver only what it accepts
	 * (no offloaded frames to a guest without GUEST_CSUM/TSO). May be NULL.
	 */
	int (*set_features)(struct net_backend *nb, uint64_t negotiated);
	void (*close)(struct net_backend *nb);
};

struct net_backend {
	const struct net_backend_ops *ops;
	int fd; /* watched by the device's event loop */
	uint64_t features; /* VIRTIO_NET_F_* offloads this backend honours */
};

/* Takes a tap fd (IFF_TAP | IFF_NO_PI) and enables the header and offloads. */
int net_tap_open_fd(int fd, struct net_backend **out) __must_check;

/* Takes a connected stream socket to passt (or anything speaking its framing). */
int net_passt_open_fd(int fd, struct net_backend **out) __must_check;

/* Connects to passt's socket at path. */
int net_passt_connect(const char *path, struct net_backend **out) __must_check;

void net_backend_close(struct net_backend *nb);

/*
 * Checks a guest's transmit header against the frame length and the
 * offloads negotiated (features). Returns NULL if it is acceptable, else
 * what is wrong with it, for the log line.
 */
const char *vnet_hdr_check(const struct virtio_net_hdr_v1 *h, size_t frame_len, uint64_t features);

#endif
