// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_CONFIG_SIZE 8
#define VSOCK_PKT_MAX (VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD)
/* Packets per event before yielding to the other devices. */
#define VSOCK_BUDGET 256

struct virtio_vsock {
	struct virtio_dev vdev;
	struct vsock_mux *mux;
	struct event *mux_ev;
	uint8_t config[VSOCK_CONFIG_SIZE];
	uint8_t *pkt; /* one packet, either direction */
	struct virtio_vsock_stats stats;
	time_t last_log;
};

/* Guest -> host: every chain on the transmit queue is one packet. */
static void tx_run(struct virtio_vsock *s)
{
	struct virtio_dev *v = &s->vdev;
	struct virtq *vq = &v->vqs[VSOCK_TXQ];
	struct virtq_chain *c = v->chain;
	int budget = VSOCK_BUDGET, ret = 0;
	const char *err;

	do {
		while (budget > 0 && (ret = virtq_pop(vq, c, &err)) == 1) {
			budget--;
			if (c->nr_in) {
				virtio_needs_reset(v, "transmit buffer is device-writable");
				return;
			}
			if (c->out_len < VSOCK_HDR_SIZE || c->out_len > VSOCK_PKT_MAX) {
				struct timespec now;

				clock_gettime(CLOCK_MONOTONIC, &now);
				if (now.tv_sec != s->last_log)
					log_warn(
						"%s: packet of %llu bytes outside [%u, %u]; dropped",
						v->name, (unsigned long long)c->out_len,
						VSOCK_HDR_SIZE, VSOCK_PKT_MAX);
				s->last_log = now.tv_sec;
				s->stats.tx_dropped++;
			} else {
				size_t len = iov_to_buf(c->iov, c->nr_out, 0, s->pkt, c->out_len);

				/* The mux checks (and logs) everything else. */
				if (vsock_mux_guest_tx(s->mux, s->pkt, VSOCK_HDR_SIZE,
						       s->pkt + VSOCK_HDR_SIZE,
						       len - VSOCK_HDR_SIZE))
					s->stats.tx_dropped++;
				else
					s->stats.tx_packets++;
			}
			virtq_push(vq, c->head, 0);
		}
		if (ret < 0) {
			virtio_needs_reset(v, "transmit queue: %s", err);
			return;
		}
		virtio_queue_signal(v, VSOCK_TXQ);
		if (budget == 0) {
			virtio_kick_queue(v, VSOCK_TXQ);
			return;
		}
	} while (virtq_enable_notify(vq));
}

/* Host -> guest: control packets and data, while the guest has buffers. */
static void rx_run(struct virtio_vsock *s)
{
	struct virtio_dev *v = &s->vdev;
	struct virtq *vq = &v->vqs[VSOCK_RXQ];
	struct virtq_chain *c = v->chain;
	int budget = VSOCK_BUDGET, ret;
	bool pushed = false;
	const char *err;

	if (!virtio_live(v) || !vq->ready)
		return;
	while (vsock_mux_rx_pending(s->mux)) {
		size_t n;

		if (budget-- == 0) {
			virtio_kick_queue(v, VSOCK_RXQ);
			break;
		}
		ret = virtq_pop(vq, c, &err);
		if (ret < 0) {
			virtio_needs_reset(v, "receive queue: %s", err);
			return;
		}
		if (ret == 0) {
			/* Ask for a notification (EVENT_IDX), unless buffers came meanwhile. */
			if (virtq_enable_notify(vq))
				continue;
			break; /* the rx notification brings us back */
		}
		if (c->nr_out || c->in_len < VSOCK_HDR_SIZE) {
			virtio_needs_reset(v, "receive buffer device-readable or under %u bytes",
					   VSOCK_HDR_SIZE);
			return;
		}
		n = vsock_mux_guest_rx(s->mux, s->pkt, MIN(c->in_len, (uint64_t)VSOCK_PKT_MAX));
		if (n == 0) {
			virtq_unpop(vq);
			break;
		}
		iov_from_buf(c->iov, c->nr_in, 0, s->pkt, n);
		virtq_push(vq, c->head, (uint32_t)n);
		s->stats.rx_packets++;
		pushed = true;
	}
	if (pushed)
		virtio_queue_signal(v, VSOCK_RXQ);
}

static void on_mux(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_vsock *s = arg;

	pthread_mutex_lock(&s->vdev.lock);
	vsock_mux_process(s->mux);
	rx_run(s);
	pthread_mutex_unlock(&s->vdev.lock);
}

static void vsock_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_vsock *s = v->priv;

	if (q == VSOCK_TXQ)
		tx_run(s);
	/* The event queue only holds buffers for events we never send (migration). */
	if (q != VSOCK_EVQ)
		rx_run(s);
}

static void vsock_reset(struct virtio_dev *v)
{
	struct virtio_vsock *s = v->priv;

	vsock_mux_reset(s->mux);
}

static void vsock_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *s = v->priv;

	memcpy(data, s->config + off, len);
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_type = 19,
	.pci_class = 0x088000, /* system peripheral, other */
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

int virtio_vsock_new(struct vm *vm, struct pci_bus *bus, uint64_t guest_cid, const char *uds_path,
		     struct virtio_vsock **out)
{
	struct virtio_vsock *s = calloc(1, sizeof(*s));
	uint64_t le_cid = htole64(guest_cid);
	int ret;

	if (!s)
		return -ENOMEM;
	memcpy(s->config, &le_cid, sizeof(le_cid));
	s->pkt = malloc(VSOCK_PKT_MAX);
	s->mux = vsock_mux_new(guest_cid, uds_path);
	if (!s->mux) {
		ret = -errno;
		log_error("virtio-vsock: cannot listen on %s: %s", uds_path, strerror(errno));
		free(s->pkt);
		free(s);
		return ret;
	}
	ret = virtio_dev_init(&s->vdev, vm, bus, &vsock_ops, 3, VSOCK_QUEUE_SIZE, 0,
			      VSOCK_CONFIG_SIZE, s);
	if (!ret && !s->pkt)
		ret = -ENOMEM;
	if (!ret) {
		s->mux_ev =
			event_new(vm->evb, vsock_mux_fd(s->mux), EV_READ | EV_PERSIST, on_mux, s);
		if (!s->mux_ev || event_add(s->mux_ev, NULL))
			ret = -ENOMEM;
	}
	if (ret) {
		virtio_vsock_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void virtio_vsock_free(struct virtio_vsock *s)
{
	if (!s)
		return;
	if (s->mux_ev)
		event_free(s->mux_ev);
	virtio_dev_cleanup(&s->vdev);
	vsock_mux_free(s->mux);
	free(s->pkt);
	free(s);
}

struct vsock_mux *virtio_vsock_mux(struct virtio_vsock *s)
{
	return s->mux;
}

void virtio_vsock_get_stats(struct virtio_vsock *s, struct virtio_vsock_stats *st)
{
	pthread_mutex_lock(&s->vdev.lock);
	*st = s->stats;
	pthread_mutex_unlock(&s->vdev.lock);
}
