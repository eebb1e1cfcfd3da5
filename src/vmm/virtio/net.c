// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_S_LINK_UP 1

#define NET_RXQ 0
#define NET_TXQ 1
#define NET_QUEUE_SIZE 256
#define NET_CONFIG_SIZE 10
/* Frames handled per event before yielding to the other devices. */
#define NET_BUDGET 64
#define NET_FRAME_BUF (VIRTIO_NET_HDR_SIZE + NET_MAX_FRAME)
/* Chains with more buffers than this are copied into one before sending. */
#define NET_TX_MAX_IOV 64

struct rx_used {
	uint16_t head;
	uint32_t len;
};

struct virtio_net {
	struct virtio_dev vdev;
	struct net_backend *nb;
	struct event *rx_ev; /* backend readable (persistent while armed) */
	struct event *tx_ev; /* backend writable again (one shot) */
	bool rx_armed;
	bool backend_dead;
	uint8_t config[NET_CONFIG_SIZE];
	uint8_t *rx_buf; /* a frame read from the backend, header first */
	size_t rx_len; /* 0: none pending */
	uint8_t *tx_buf; /* bounce buffer for long transmit chains */
	struct rx_used used[NET_QUEUE_SIZE];
	struct virtio_net_stats stats;
	struct timespec last_log;
	unsigned long suppressed;
};

/* At most one line per second about dropped packets: a guest cannot flood the log. */
static void net_drop_log(struct virtio_net *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void net_drop_log(struct virtio_net *n, const char *fmt, ...)
{
	struct timespec now;
	char why[128];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (n->last_log.tv_sec && now.tv_sec == n->last_log.tv_sec) {
		n->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("%s: %s; packet dropped (%lu more drops not logged)", n->vdev.name, why,
		 n->suppressed);
	n->suppressed = 0;
	n->last_log = now;
}

static void rx_arm(struct virtio_net *n, bool on)
{
	if (on == n->rx_armed || n->backend_dead)
		return;
	/* _noblock: callers may hold the device lock the callback waits for. */
	if (on ? event_add(n->rx_ev, NULL) : event_del_noblock(n->rx_ev))
		return;
	n->rx_armed = on;
}

static void set_link(struct virtio_net *n, bool up)
{
	uint16_t status = htole16(up ? VIRTIO_NET_S_LINK_UP : 0);

	memcpy(n->config + 6, &status, 2);
	virtio_config_changed(&n->vdev);
}

static void backend_failed(struct virtio_net *n, int err)
{
	log_error("%s: %s backend failed: %s; link down", n->vdev.name, n->nb->ops->name,
		  strerror(-err));
	rx_arm(n, false);
	event_del_noblock(n->tx_ev);
	n->backend_dead = true;
	n->rx_len = 0;
	set_link(n, false);
}

/*
 * Copies the pending frame into the guest's receive buffers: one chain, or
 * with mergeable buffers as many as it takes (num_buffers in the first).
 * Returns 1 when the frame is gone (delivered or dropped), 0 when the guest
 * has too few buffers (the frame stays pending), -EIO when the device broke.
 */
static int rx_deliver(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;
	struct virtq *vq = &v->vqs[NET_RXQ];
	struct virtq_chain *c = v->chain;
	bool mrg = virtio_has(v, VIRTIO_NET_F_MRG_RXBUF);
	uint8_t *first_hdr = NULL;
	unsigned int nr = 0;
	size_t off = 0;
	const char *err;
	uint16_t le;
	int ret;

	while (off < n->rx_len) {
		ret = virtq_pop(vq, c, &err);
		if (ret < 0) {
			virtio_needs_reset(v, "receive queue: %s", err);
			return -EIO;
		}
		if (ret == 0 || nr == vq->size) {
			/* Give back what we took; keep the frame unless even a full ring is short. */
			for (unsigned int i = 0; i < nr + (unsigned int)ret; i++)
				virtq_unpop(vq);
			if (ret == 0)
				return 0;
			n->stats.rx_dropped++;
			net_drop_log(n, "a whole receive ring is too small for a %zu-byte frame",
				     n->rx_len);
			n->rx_len = 0;
			return 1;
		}
		if (c->nr_out) {
			virtio_needs_reset(v, "receive buffer is device-readable");
			return -EIO;
		}
		if (nr == 0 &&
		    (c->iov[0].iov_len < VIRTIO_NET_HDR_SIZE || (!mrg && c->in_len < n->rx_len))) {
			virtq_unpop(vq);
			n->stats.rx_dropped++;
			net_drop_log(n,
				     "receive buffer of %llu bytes too small for a %zu-byte frame",
				     (unsigned long long)c->in_len, n->rx_len);
			n->rx_len = 0;
			return 1;
		}
		if (nr == 0)
			first_hdr = c->iov[0].iov_base;
		n->used[nr].head = c->head;
		n->used[nr].len = (uint32_t)iov_from_buf(c->iov, c->nr_in, 0, n->rx_buf + off,
							 n->rx_len - off);
		off += n->used[nr].len;
		nr++;
	}
	le = htole16((uint16_t)nr);
	memcpy(first_hdr + offsetof(struct virtio_net_hdr_v1, num_buffers), &le, 2);
	for (unsigned int i = 0; i < nr; i++)
		virtq_push(vq, n->used[i].head, n->used[i].len);
	n->stats.rx_packets++;
	n->stats.rx_bytes += n->rx_len - VIRTIO_NET_HDR_SIZE;
	n->rx_len = 0;
	return 1;
}

/*
 * Out of receive buffers: ask the driver to notify as soon as it adds any
 * (with EVENT_IDX it otherwise stays silent), then recheck. A frame may be
 * pending over several buffers, so the event is the current available index,
 * not the last one consumed. Returns true if buffers arrived meanwhile.
 */
static bool rx_want_buffers(struct virtq *vq)
{
	uint16_t idx;

	if (!vq->ready)
		return false;
	idx = __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
	if (vq->event_idx)
		__atomic_store_n((uint16_t *)((uint8_t *)&vq->used[2] + 8 * (size_t)vq->size), idx,
				 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE) != idx;
}

/* Backend -> guest, until the backend is empty, the guest is out of buffers, or the budget. */
static void rx_run(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;
	bool live = virtio_live(v) && v->vqs[NET_RXQ].ready;
	int budget = NET_BUDGET, ret;

	while (budget-- > 0 && !n->backend_dead) {
		if (!n->rx_len) {
			ssize_t got = n->nb->ops->recv(n->nb, n->rx_buf, NET_FRAME_BUF);

			if (got == 0)
				break;
			if (got == -EMSGSIZE || got == -EIO) {
				n->stats.rx_dropped++;
				continue;
			}
			if (got < 0) {
				backend_failed(n, (int)got);
				break;
			}
			if (!live) {
				/* Nobody to give it to yet. */
				n->stats.rx_dropped++;
				continue;
			}
			n->rx_len = (size_t)got;
		}
		ret = rx_deliver(n);
		if (ret < 0)
			return;
		if (ret == 0) {
			if (rx_want_buffers(&v->vqs[NET_RXQ]))
				continue;
			/* The rx queue notification re-arms us when buffers arrive. */
			rx_arm(n, false);
			break;
		}
	}
	if (live) {
		virtio_queue_signal(v, NET_RXQ);
		/* Budget spent: the backend may hold frames it already read; come back. */
		if (budget < 0)
			virtio_kick_queue(v, NET_RXQ);
	}
}

static void on_backend_readable(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_net *n = arg;

	pthread_mutex_lock(&n->vdev.lock);
	if (n->rx_armed)
		rx_run(n);
	pthread_mutex_unlock(&n->vdev.lock);
}

/*
 * Sends one transmit chain. Returns 0 when done with it (sent or dropped),
 * -EAGAIN when the backend is full, -EIO when the device broke.
 */
static int tx_one(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_dev *v = &n->vdev;
	struct iovec iov[NET_TX_MAX_IOV + 1];
	struct virtio_net_hdr_v1 h;
	size_t frame_len;
	const char *why;
	int cnt, ret;

	if (c->nr_in) {
		virtio_needs_reset(v, "transmit buffer is device-writable");
		return -EIO;
	}
	if (c->out_len < VIRTIO_NET_HDR_SIZE || c->out_len > NET_FRAME_BUF) {
		n->stats.tx_dropped++;
		net_drop_log(n, "transmit packet of %llu bytes outside [%zu, %zu]",
			     (unsigned long long)c->out_len, VIRTIO_NET_HDR_SIZE,
			     (size_t)NET_FRAME_BUF);
		return 0;
	}
	/* Check a copy and send that copy: the guest may rewrite its buffer meanwhile. */
	iov_to_buf(c->iov, c->nr_out, 0, &h, sizeof(h));
	frame_len = c->out_len - VIRTIO_NET_HDR_SIZE;
	why = vnet_hdr_check(&h, frame_len, v->driver_features);
	if (why) {
		n->stats.tx_dropped++;
		net_drop_log(n, "bad transmit header: %s", why);
		return 0;
	}
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	if (c->nr_out <= NET_TX_MAX_IOV) {
		size_t skip = sizeof(h);

		cnt = 1;
		for (unsigned int i = 0; i < c->nr_out; i++) {
			size_t l = c->iov[i].iov_len;

			if (skip >= l) {
				skip -= l;
				continue;
			}
			iov[cnt].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
			iov[cnt].iov_len = l - skip;
			skip = 0;
			cnt++;
		}
	} else {
		iov[1].iov_base = n->tx_buf;
		iov[1].iov_len = iov_to_buf(c->iov, c->nr_out, sizeof(h), n->tx_buf, frame_len);
		cnt = 2;
	}
	ret = n->nb->ops->send(n->nb, iov, cnt);
	if (ret == -EAGAIN)
		return -EAGAIN;
	if (ret == -EPROTO || ret == -EPIPE || ret == -ECONNRESET) {
		backend_failed(n, ret);
		return 0;
	}
	if (ret == -EIO) {
		/* A tap whose interface is down takes nothing: not the guest's fault. */
		n->stats.tx_dropped++;
		return 0;
	}
	if (ret < 0) {
		n->stats.tx_dropped++;
		net_drop_log(n, "%s backend refused a %zu-byte frame: %s", n->nb->ops->name,
			     frame_len, strerror(-ret));
		return 0;
	}
	n->stats.tx_packets++;
	n->stats.tx_bytes += frame_len;
	return 0;
}

static void tx_run(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;
	struct virtq *vq = &v->vqs[NET_TXQ];
	struct virtq_chain *c = v->chain;
	int budget = 4 * NET_BUDGET, ret = 0;
	const char *err;

	do {
		while (budget > 0 && (ret = virtq_pop(vq, c, &err)) == 1) {
			budget--;
			if (n->backend_dead) {
				n->stats.tx_dropped++;
				ret = 0;
			} else {
				ret = tx_one(n, c);
			}
			if (ret == -EIO)
				return;
			if (ret == -EAGAIN) {
				/* Retried when the backend can take more. */
				virtq_unpop(vq);
				event_add(n->tx_ev, NULL);
				return;
			}
			virtq_push(vq, c->head, 0);
			/*
			 * Each completion at once, not after the batch: the guest's
			 * TCP keeps only a frame or two below the socket (TCP small
			 * queues) and builds the next one when this one is freed,
			 * while we send the rest. The driver's used_event says
			 * whether it wants this interrupt.
			 */
			virtio_queue_signal(v, NET_TXQ);
		}
		if (ret < 0) {
			virtio_needs_reset(v, "transmit queue: %s", err);
			return;
		}
		if (budget == 0) {
			virtio_kick_queue(v, NET_TXQ);
			return;
		}
	} while (virtq_enable_notify(vq));
}

static void on_backend_writable(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_net *n = arg;
	struct virtio_dev *v = &n->vdev;
	int ret;

	pthread_mutex_lock(&v->lock);
	if (!n->backend_dead && virtio_live(v)) {
		ret = n->nb->ops->flush(n->nb);
		if (ret == -EAGAIN)
			event_add(n->tx_ev, NULL);
		else if (ret < 0)
			backend_failed(n, ret);
		else
			tx_run(n);
	}
	pthread_mutex_unlock(&v->lock);
}

static void net_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_net *n = v->priv;

	if (q == NET_TXQ) {
		tx_run(n);
		return;
	}
	/* New receive buffers: the pending frame first, then the backend again. */
	rx_arm(n, true);
	if (n->rx_armed || n->rx_len)
		rx_run(n);
}

static void net_activate(struct virtio_dev *v)
{
	struct virtio_net *n = v->priv;
	int ret;

	if (n->nb->ops->set_features) {
		ret = n->nb->ops->set_features(n->nb, v->driver_features);
		if (ret)
			log_warn("%s: cannot narrow the backend's offloads: %s", v->name,
				 strerror(-ret));
	}
}

static void net_reset(struct virtio_dev *v)
{
	struct virtio_net *n = v->priv;

	n->rx_len = 0;
	event_del_noblock(n->tx_ev);
	if (n->nb->ops->set_features && !n->backend_dead)
		n->nb->ops->set_features(n->nb, 0);
	/* Drain (and drop) what arrives until the driver is back. */
	rx_arm(n, true);
}

static void net_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = v->priv;

	memcpy(data, n->config + off, len);
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_type = 1,
	.pci_class = 0x020000, /* network, ethernet */
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
	.activate = net_activate,
	.reset = net_reset,
};

int virtio_net_new(struct vm *vm, struct pci_bus *bus, struct net_backend *nb, const uint8_t mac[6],
		   struct virtio_net **out)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	uint64_t features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
			    (1ull << VIRTIO_NET_F_MRG_RXBUF);
	int ret;

	if (!n) {
		net_backend_close(nb);
		return -ENOMEM;
	}
	n->nb = nb;
	n->rx_buf = malloc(NET_FRAME_BUF);
	n->tx_buf = malloc(NET_FRAME_BUF);
	memcpy(n->config, mac, 6);
	/* The guest sees only the offloads the backend implements. */
	features |= nb->features;
	ret = virtio_dev_init(&n->vdev, vm, bus, &net_ops, 2, NET_QUEUE_SIZE, features,
			      NET_CONFIG_SIZE, n);
	if (!ret && (!n->rx_buf || !n->tx_buf))
		ret = -ENOMEM;
	if (!ret) {
		n->rx_ev = event_new(vm->evb, nb->fd, EV_READ | EV_PERSIST, on_backend_readable, n);
		n->tx_ev = event_new(vm->evb, nb->fd, EV_WRITE, on_backend_writable, n);
		if (!n->rx_ev || !n->tx_ev)
			ret = -ENOMEM;
	}
	if (ret) {
		virtio_net_free(n);
		return ret;
	}
	memcpy(n->config + 6, &(uint16_t){ htole16(VIRTIO_NET_S_LINK_UP) }, 2);
	rx_arm(n, true);
	*out = n;
	return 0;
}

void virtio_net_free(struct virtio_net *n)
{
	if (!n)
		return;
	if (n->rx_ev)
		event_free(n->rx_ev);
	if (n->tx_ev)
		event_free(n->tx_ev);
	virtio_dev_cleanup(&n->vdev);
	net_backend_close(n->nb);
	free(n->rx_buf);
	free(n->tx_buf);
	free(n);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *s)
{
	pthread_mutex_lock(&n->vdev.lock);
	*s = n->stats;
	pthread_mutex_unlock(&n->vdev.lock);
}

int virtio_net_open_tap(const char *ifname)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd, ret;

	if (strlen(ifname) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	strcpy(ifr.ifr_name, ifname);
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}
