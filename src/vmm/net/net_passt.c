// SPDX-License-Identifier: Apache-2.0
/*
 * The passt backend: Ethernet frames over a stream socket, each preceded by
 * its length as a 32-bit big-endian number (QEMU's stream netdev framing,
 * which passt speaks). The stream is untrusted input too: a length outside
 * [ETH_HLEN, NET_MAX_FRAME] means we lost sync, and the backend stops
 * (-EPROTO) rather than guess where the next frame starts.
 */
#include "vmm/net/net_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unixsock.h"

#define ETH_MIN_FRAME 14u
/* Receive buffer: room for a few whole frames between reads. */
#define RX_BUF_SIZE (4u * (NET_MAX_FRAME + 4u))

struct passt {
	struct net_backend nb;
	uint8_t *rx;
	size_t rx_len; /* bytes buffered, starting at rx */
	uint8_t *tx; /* the unsent tail of a frame a short write left */
	size_t tx_len, tx_off;
	bool broken;
};

static struct passt *to_passt(struct net_backend *nb)
{
	return (struct passt *)nb;
}

static int passt_flush(struct net_backend *nb)
{
	struct passt *p = to_passt(nb);

	while (p->tx_off < p->tx_len) {
		ssize_t n = send(nb->fd, p->tx + p->tx_off, p->tx_len - p->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? -EAGAIN : -errno;
		p->tx_off += (size_t)n;
	}
	p->tx_len = p->tx_off = 0;
	return 0;
}

/* Keeps what a short write left, so the stream never carries half a frame. */
static int keep_tail(struct passt *p, const struct iovec *iov, int iovcnt, size_t skip)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		size_t part = iov[i].iov_len;

		if (skip >= part) {
			skip -= part;
			continue;
		}
		memcpy(p->tx + len, (const uint8_t *)iov[i].iov_base + skip, part - skip);
		len += part - skip;
		skip = 0;
	}
	p->tx_len = len;
	p->tx_off = 0;
	return 0;
}

static int passt_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	struct passt *p = to_passt(nb);
	struct iovec v[66];
	size_t frame = 0, total;
	uint32_t be_len;
	struct msghdr msg = { .msg_iov = v };
	ssize_t n;
	int nv = 1;
	size_t hdr_left = VIRTIO_NET_HDR_SIZE;

	if (p->broken)
		return -EPROTO;
	if (p->tx_len > 0 && passt_flush(nb) < 0)
		return -EAGAIN;
	if (iovcnt > 64)
		return -EINVAL;
	/* Drop the virtio-net header: passt takes bare frames. */
	for (int i = 0; i < iovcnt; i++) {
		size_t off = MIN(hdr_left, iov[i].iov_len);

		hdr_left -= off;
		if (iov[i].iov_len > off) {
			v[nv].iov_base = (uint8_t *)iov[i].iov_base + off;
			v[nv].iov_len = iov[i].iov_len - off;
			frame += v[nv].iov_len;
			nv++;
		}
	}
	if (hdr_left || frame < ETH_MIN_FRAME || frame > NET_MAX_FRAME)
		return -EINVAL;
	be_len = htonl((uint32_t)frame);
	v[0].iov_base = &be_len;
	v[0].iov_len = sizeof(be_len);
	msg.msg_iovlen = (size_t)nv;
	total = frame + sizeof(be_len);
	n = sendmsg(nb->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? -EAGAIN : -errno;
	if ((size_t)n < total)
		return keep_tail(p, v, nv, (size_t)n);
	return 0;
}

/* Takes one whole frame out of the buffer, if there is one. */
static ssize_t take_frame(struct passt *p, void *buf, size_t cap)
{
	uint32_t be_len, len;
	struct virtio_net_hdr_v1 hdr = { 0 };

	if (p->rx_len < sizeof(be_len))
		return 0;
	memcpy(&be_len, p->rx, sizeof(be_len));
	len = ntohl(be_len);
	if (len < ETH_MIN_FRAME || len > NET_MAX_FRAME) {
		log_error("net: passt sent a frame length of %u; stream out of sync, stopping",
			  len);
		p->broken = true;
		return -EPROTO;
	}
	if (p->rx_len < sizeof(be_len) + len)
		return 0;
	if (cap < VIRTIO_NET_HDR_SIZE + len) {
		/* The guest posted no buffer big enough: this frame is dropped. */
		memmove(p->rx, p->rx + 4 + len, p->rx_len - 4 - len);
		p->rx_len -= 4 + len;
		return -EMSGSIZE;
	}
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy((uint8_t *)buf + sizeof(hdr), p->rx + 4, len);
	memmove(p->rx, p->rx + 4 + len, p->rx_len - 4 - len);
	p->rx_len -= 4 + len;
	return (ssize_t)(sizeof(hdr) + len);
}

static ssize_t passt_recv(struct net_backend *nb, void *buf, size_t cap)
{
	struct passt *p = to_passt(nb);
	ssize_t n = 0;

	if (p->broken)
		return -EPROTO;
	n = take_frame(p, buf, cap);
	if (n != 0)
		return n;
	n = recv(nb->fd, p->rx + p->rx_len, RX_BUF_SIZE - p->rx_len, MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	if (n == 0) {
		p->broken = true;
		log_error("net: passt closed the connection");
		return -ECONNRESET;
	}
	p->rx_len += (size_t)n;
	return take_frame(p, buf, cap);
}

static void passt_close(struct net_backend *nb)
{
	struct passt *p = to_passt(nb);

	close(nb->fd);
	free(p->rx);
	free(p->tx);
	free(p);
}

static const struct net_backend_ops passt_ops = {
	.name = "passt",
	.send = passt_send,
	.recv = passt_recv,
	.flush = passt_flush,
	.close = passt_close,
};

int net_passt_open_fd(int fd, struct net_backend **out)
{
	struct passt *p = calloc(1, sizeof(*p));

	if (p) {
		p->rx = malloc(RX_BUF_SIZE);
		p->tx = malloc(NET_MAX_FRAME + 4);
	}
	if (!p || !p->rx || !p->tx) {
		if (p) {
			free(p->rx);
			free(p->tx);
		}
		free(p);
		close(fd);
		return -ENOMEM;
	}
	p->nb.ops = &passt_ops;
	p->nb.fd = fd;
	/* Whole, checksummed frames only: no offloads either way. */
	p->nb.features = 0;
	*out = &p->nb;
	return 0;
}

int net_passt_connect(const char *path, struct net_backend **out)
{
	int fd = unix_connect(path, 0);

	if (fd < 0)
		return fd;
	return net_passt_open_fd(fd, out);
}
