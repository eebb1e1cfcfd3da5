// SPDX-License-Identifier: Apache-2.0
/* The tap backend: frames with their virtio-net header, offloads in the kernel. */
#include "vmm/net/net_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"

#define GUEST_OFFLOADS                                                           \
	((1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_GUEST_TSO4) | \
	 (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN))
#define HOST_OFFLOADS                                                     \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) | \
	 (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN))

static int tap_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	/* A tap write is one whole frame or nothing. */
	if (writev(nb->fd, iov, iovcnt) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

static ssize_t tap_recv(struct net_backend *nb, void *buf, size_t cap)
{
	ssize_t n = read(nb->fd, buf, cap);

	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	if ((size_t)n < VIRTIO_NET_HDR_SIZE)
		return -EIO;
	/* The kernel skips num_buffers rather than writing it; the device sets it. */
	((struct virtio_net_hdr_v1 *)buf)->num_buffers = 0;
	return n;
}

static int tap_flush(struct net_backend *nb)
{
	return 0;
}

/* Offloaded frames toward the guest only if it can take them. */
static int tap_set_features(struct net_backend *nb, uint64_t negotiated)
{
	unsigned int off = 0;

	if (negotiated & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (negotiated & (1ull << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (negotiated & (1ull << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if (negotiated & (1ull << VIRTIO_NET_F_GUEST_ECN))
			off |= TUN_F_TSO_ECN;
	}
	return ioctl(nb->fd, TUNSETOFFLOAD, off) < 0 ? -errno : 0;
}

static void tap_close(struct net_backend *nb)
{
	close(nb->fd);
	free(nb);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.send = tap_send,
	.recv = tap_recv,
	.flush = tap_flush,
	.set_features = tap_set_features,
	.close = tap_close,
};

int net_tap_open_fd(int fd, struct net_backend **out)
{
	struct net_backend *nb = NULL;
	int hdr_size = VIRTIO_NET_HDR_SIZE;
	struct ifreq ifr = { 0 };
	int ret;

	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		ret = -errno;
		log_error("net: fd %d is not a tap device: %s", fd, strerror(errno));
		goto fail;
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
	    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
		ret = -EINVAL;
		log_error("net: tap %s must be IFF_TAP | IFF_NO_PI | IFF_VNET_HDR", ifr.ifr_name);
		goto fail;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		ret = -errno;
		goto fail;
	}
	nb = calloc(1, sizeof(*nb));
	if (!nb) {
		ret = -ENOMEM;
		goto fail;
	}
	nb->ops = &tap_ops;
	nb->fd = fd;
	nb->features = HOST_OFFLOADS;
	/* Probe the receive offloads once; without them the guest gets none. */
	if (tap_set_features(nb, GUEST_OFFLOADS) == 0)
		nb->features |= GUEST_OFFLOADS;
	tap_set_features(nb, 0);
	*out = nb;
	return 0;
fail:
	close(fd);
	return ret;
}

void net_backend_close(struct net_backend *nb)
{
	if (nb)
		nb->ops->close(nb);
}
