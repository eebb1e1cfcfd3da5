// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/console.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

enum {
	CTRL_DEVICE_READY = 0,
	CTRL_DEVICE_ADD = 1,
	CTRL_PORT_READY = 3,
	CTRL_CONSOLE_PORT = 4,
	CTRL_PORT_OPEN = 6,
	CTRL_PORT_NAME = 7,
};

#define CTRL_RX_Q 2
#define CTRL_TX_Q 3
#define CTRL_PENDING_MAX 64
#define PORT_NAME_MAX 64
#define CONSOLE_QUEUE_SIZE 128
#define OUT_PENDING_MAX (1u << 20)
#define CONFIG_SIZE 12
/* Connect-mode ports retry a missing or lost peer: 100 ms, doubling to 5 s. */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

struct ctrl_msg {
	uint32_t id;
	uint16_t event;
	uint16_t value;
	char name[PORT_NAME_MAX]; /* PORT_NAME only, sent after the header */
};

struct vc_port {
	struct virtio_console *vc;
	unsigned int id;
	char *name;
	char *path;
	bool listen;
	int listen_fd, fd;
	struct event *listen_ev, *read_ev, *write_ev;
	struct event *retry_ev; /* connect mode: the next attempt */
	unsigned int retry_ms; /* its delay; back to the minimum once connected */
	bool reading; /* read_ev is armed */
	bool guest_ready; /* the driver sent PORT_READY */
	uint8_t *out; /* bytes the socket did not take yet */
	size_t out_len, out_off;
};

struct virtio_console {
	struct virtio_dev vdev;
	struct console *con;
	unsigned int nr_ports; /* including port 0 */
	struct vc_port *ports;
	struct ctrl_msg pending[CTRL_PENDING_MAX];
	unsigned int pending_head, pending_count;
	uint8_t config[CONFIG_SIZE];
};

static unsigned int rx_queue(unsigned int port)
{
	return port == 0 ? 0 : 2 + 2 * port;
}

static unsigned int tx_queue(unsigned int port)
{
	return rx_queue(port) + 1;
}

/* ---- control queue ---- */

static void ctrl_flush(struct virtio_console *vc)
{
	struct virtio_dev *v = &vc->vdev;
	struct virtq *vq = &v->vqs[CTRL_RX_Q];
	struct virtq_chain *c = v->chain;
	const char *err;
	bool pushed = false;

	while (vc->pending_count && virtio_live(v)) {
		struct ctrl_msg *m = &vc->pending[vc->pending_head];
		size_t len = 8 + (m->event == CTRL_PORT_NAME ? strlen(m->name) : 0);
		int ret = virtq_pop(vq, c, &err);

		if (ret < 0) {
			virtio_needs_reset(v, "control receive queue: %s", err);
			return;
		}
		if (ret == 0)
			break;
		if (c->nr_out || c->in_len < len) {
			virtio_needs_reset(v, "control buffer too small or device-readable");
			return;
		}
		iov_from_buf(c->iov, c->nr_in, 0, m, len);
		virtq_push(vq, c->head, (uint32_t)len);
		pushed = true;
		vc->pending_head = (vc->pending_head + 1) % CTRL_PENDING_MAX;
		vc->pending_count--;
	}
	if (pushed)
		virtio_queue_signal(v, CTRL_RX_Q);
}

static void ctrl_send(struct virtio_console *vc, uint32_t id, uint16_t event, uint16_t value,
		      const char *name)
{
	struct ctrl_msg *m;

	if (vc->pending_count == CTRL_PENDING_MAX) {
		log_warn("%s: control messages not taken by the driver; dropping", vc->vdev.name);
		return;
	}
	m = &vc->pending[(vc->pending_head + vc->pending_count++) % CTRL_PENDING_MAX];
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->event = event;
	m->value = value;
	if (name)
		memcpy(m->name, name, strnlen(name, PORT_NAME_MAX - 1));
	ctrl_flush(vc);
}

static void port_ready(struct virtio_console *vc, struct vc_port *p)
{
	if (p->id == 0) {
		ctrl_send(vc, 0, CTRL_CONSOLE_PORT, 1, NULL);
		ctrl_send(vc, 0, CTRL_PORT_OPEN, 1, NULL);
		return;
	}
	ctrl_send(vc, p->id, CTRL_PORT_NAME, 1, p->name);
	if (p->fd >= 0)
		ctrl_send(vc, p->id, CTRL_PORT_OPEN, 1, NULL);
}

static void ctrl_handle(struct virtio_console *vc, const uint8_t *msg)
{
	struct ctrl_msg m;

	memcpy(&m, msg, 8);
	if (m.event == CTRL_DEVICE_READY) {
		if (m.value != 1) {
			log_warn("%s: driver failed to initialize", vc->vdev.name);
			return;
		}
		for (unsigned int i = 0; i < vc->nr_ports; i++)
			ctrl_send(vc, i, CTRL_DEVICE_ADD, 0, NULL);
		return;
	}
	if (m.id >= vc->nr_ports) {
		virtio_needs_reset(&vc->vdev, "control message for port %u of %u", m.id,
				   vc->nr_ports);
		return;
	}
	if (m.event == CTRL_PORT_READY && m.value == 1) {
		vc->ports[m.id].guest_ready = true;
		port_ready(vc, &vc->ports[m.id]);
	} else if (m.event == CTRL_PORT_OPEN && m.id == 0)
		/* Typed input goes to hvc0 while the guest has it open. */
		console_select_sink(vc->con, m.value ? CONSOLE_SINK_HVC : CONSOLE_SINK_UART);
}

static void ctrl_tx(struct virtio_console *vc)
{
	struct virtio_dev *v = &vc->vdev;
	struct virtq *vq = &v->vqs[CTRL_TX_Q];
	struct virtq_chain *c = v->chain;
	const char *err;
	uint8_t msg[8];
	int ret;

	do {
		while ((ret = virtq_pop(vq, c, &err)) == 1) {
			if (c->out_len < sizeof(msg)) {
				virtio_needs_reset(v, "control message shorter than 8 bytes");
				return;
			}
			iov_to_buf(c->iov, c->nr_out, 0, msg, sizeof(msg));
			virtq_push(vq, c->head, 0);
			ctrl_handle(vc, msg);
			if (v->broken)
				return;
		}
		if (ret < 0) {
			virtio_needs_reset(v, "control transmit queue: %s", err);
			return;
		}
		virtio_queue_signal(v, CTRL_TX_Q);
	} while (virtq_enable_notify(vq));
}

/* ---- ports ---- */

/* Arms the next connection attempt and backs off the one after it. */
static void port_retry_later(struct vc_port *p)
{
	struct timeval tv = { .tv_sec = p->retry_ms / 1000,
			      .tv_usec = (p->retry_ms % 1000) * 1000 };

	if (!p->retry_ev || evtimer_pending(p->retry_ev, NULL))
		return;
	evtimer_add(p->retry_ev, &tv);
	p->retry_ms = MIN(p->retry_ms * 2, (unsigned int)RECONNECT_MAX_MS);
}

static void port_disconnect(struct vc_port *p)
{
	if (p->read_ev)
		event_free(p->read_ev);
	if (p->write_ev)
		event_free(p->write_ev);
	p->read_ev = p->write_ev = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->reading = false;
	free(p->out);
	p->out = NULL;
	p->out_len = p->out_off = 0;
	if (p->guest_ready)
		ctrl_send(p->vc, p->id, CTRL_PORT_OPEN, 0, NULL);
	if (p->retry_ev) {
		log_info("virtio-console: port %s: %s went away; reconnecting", p->name, p->path);
		p->retry_ms = RECONNECT_MIN_MS;
		port_retry_later(p);
	}
}

static void port_arm_read(struct vc_port *p)
{
	if (p->fd >= 0 && !p->reading && p->read_ev && event_add(p->read_ev, NULL) == 0)
		p->reading = true;
}

/* Socket -> guest: one receive buffer per readable event. */
static void on_port_read(evutil_socket_t fd, short what, void *arg)
{
	struct vc_port *p = arg;
	struct virtio_dev *v = &p->vc->vdev;
	unsigned int q = rx_queue(p->id);
	struct virtq_chain *c = v->chain;
	const char *err;
	ssize_t n;
	int ret;

	pthread_mutex_lock(&v->lock);
	ret = virtio_live(v) ? virtq_pop(&v->vqs[q], c, &err) : 0;
	if (ret < 0)
		virtio_needs_reset(v, "port %u receive queue: %s", p->id, err);
	if (ret <= 0) {
		/* No buffer: wait for the driver to add one (queue notify re-arms). */
		event_del(p->read_ev);
		p->reading = false;
		goto out;
	}
	do {
		n = readv(p->fd, c->iov + c->nr_out, (int)c->nr_in);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		virtq_unpop(&v->vqs[q]);
		if (n == 0 || errno != EAGAIN)
			port_disconnect(p);
		goto out;
	}
	virtq_push(&v->vqs[q], c->head, (uint32_t)n);
	virtio_queue_signal(v, q);
out:
	pthread_mutex_unlock(&v->lock);
}

/* Writes what is buffered; returns true when the buffer is empty. */
static bool port_flush_out(struct vc_port *p)
{
	while (p->out_off < p->out_len) {
		ssize_t n = write(p->fd, p->out + p->out_off, p->out_len - p->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(p->write_ev, NULL);
			return false;
		}
		if (n <= 0) {
			port_disconnect(p);
			return true;
		}
		p->out_off += (size_t)n;
	}
	free(p->out);
	p->out = NULL;
	p->out_len = p->out_off = 0;
	return true;
}

static void port_tx(struct virtio_console *vc, struct vc_port *p);

static void on_port_write(evutil_socket_t fd, short what, void *arg)
{
	struct vc_port *p = arg;
	struct virtio_dev *v = &p->vc->vdev;

	pthread_mutex_lock(&v->lock);
	if (p->fd >= 0 && port_flush_out(p) && virtio_live(v))
		port_tx(p->vc, p);
	pthread_mutex_unlock(&v->lock);
}

/* Sends one chain's data to the port's host side; false if the socket is full. */
static bool port_send(struct vc_port *p, const struct virtq_chain *c)
{
	if (p->id == 0) {
		for (unsigned int i = 0; i < c->nr_out; i++)
			console_write(p->vc->con, c->iov[i].iov_base, c->iov[i].iov_len);
		return true;
	}
	if (p->fd < 0)
		return true; /* nobody on the host side: the bytes are dropped */
	if (c->out_len > OUT_PENDING_MAX)
		return true;
	p->out = malloc(c->out_len ? c->out_len : 1);
	if (!p->out)
		return true;
	p->out_len = iov_to_buf(c->iov, c->nr_out, 0, p->out, c->out_len);
	p->out_off = 0;
	return port_flush_out(p);
}

static void port_tx(struct virtio_console *vc, struct vc_port *p)
{
	struct virtio_dev *v = &vc->vdev;
	unsigned int q = tx_queue(p->id);
	struct virtq_chain *c = v->chain;
	const char *err;
	int ret;

	if (p->out)
		return; /* the socket is still full */
	do {
		while ((ret = virtq_pop(&v->vqs[q], c, &err)) == 1) {
			bool done = port_send(p, c);

			virtq_push(&v->vqs[q], c->head, 0);
			if (!done) {
				virtio_queue_signal(v, q);
				return;
			}
		}
		if (ret < 0) {
			virtio_needs_reset(v, "port %u transmit queue: %s", p->id, err);
			return;
		}
		virtio_queue_signal(v, q);
	} while (virtq_enable_notify(&v->vqs[q]));
}

static int port_attach_fd(struct vc_port *p, int fd)
{
	struct event_base *evb = p->vc->vdev.vm->evb;

	p->fd = fd;
	p->read_ev = event_new(evb, fd, EV_READ | EV_PERSIST, on_port_read, p);
	p->write_ev = event_new(evb, fd, EV_WRITE, on_port_write, p);
	if (!p->read_ev || !p->write_ev)
		return -ENOMEM;
	port_arm_read(p);
	return 0;
}

static void on_port_accept(evutil_socket_t fd, short what, void *arg)
{
	struct vc_port *p = arg;
	struct virtio_dev *v = &p->vc->vdev;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	pthread_mutex_lock(&v->lock);
	if (p->fd >= 0) {
		close(c); /* one client at a time */
	} else if (port_attach_fd(p, c)) {
		port_disconnect(p);
	} else if (p->guest_ready) {
		ctrl_send(p->vc, p->id, CTRL_PORT_OPEN, 1, NULL);
	}
	pthread_mutex_unlock(&v->lock);
}

/* A connect-mode peer that is not there (yet) is retried, not fatal. */
static bool peer_absent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED || err == -EAGAIN;
}

/*
 * One connection attempt in connect mode: 0 when connected, else -errno
 * (nothing is left open).
 */
static int port_connect(struct vc_port *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(p->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, p->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = port_attach_fd(p, fd);
	if (ret) {
		struct event *retry = p->retry_ev;

		p->retry_ev = NULL; /* a failed attach is not a peer going away */
		port_disconnect(p);
		p->retry_ev = retry;
		return ret;
	}
	p->retry_ms = RECONNECT_MIN_MS;
	if (p->guest_ready)
		ctrl_send(p->vc, p->id, CTRL_PORT_OPEN, 1, NULL);
	return 0;
}

static void on_port_retry(evutil_socket_t fd, short what, void *arg)
{
	struct vc_port *p = arg;
	struct virtio_dev *v = &p->vc->vdev;
	int ret;

	pthread_mutex_lock(&v->lock);
	if (p->fd < 0) {
		ret = port_connect(p);
		if (ret == 0) {
			log_info("virtio-console: port %s: connected to %s", p->name, p->path);
		} else {
			log_debug("virtio-console: port %s: %s: %s; next try in %u ms", p->name,
				  p->path, strerror(-ret), p->retry_ms);
			port_retry_later(p);
		}
	}
	pthread_mutex_unlock(&v->lock);
}

static int port_open_socket(struct vc_port *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(p->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (!p->listen) {
		p->retry_ms = RECONNECT_MIN_MS;
		p->retry_ev = evtimer_new(p->vc->vdev.vm->evb, on_port_retry, p);
		if (!p->retry_ev)
			return -ENOMEM;
		ret = port_connect(p);
		if (ret == 0 || !peer_absent(ret))
			return ret;
		log_warn("virtio-console: port %s: %s: %s; retrying until it is there", p->name,
			 p->path, strerror(-ret));
		port_retry_later(p);
		return 0;
	}
	strcpy(sa.sun_path, p->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	p->listen_fd = fd;
	p->listen_ev = event_new(p->vc->vdev.vm->evb, fd, EV_READ | EV_PERSIST, on_port_accept, p);
	if (!p->listen_ev || event_add(p->listen_ev, NULL))
		return -ENOMEM;
	return 0;
}

/* ---- device ---- */

static void vc_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_console *vc = v->priv;
	unsigned int port = q < 2 ? 0 : (q - 2) / 2;

	if (q == CTRL_RX_Q) {
		ctrl_flush(vc);
	} else if (q == CTRL_TX_Q) {
		ctrl_tx(vc);
	} else if (port < vc->nr_ports && q == tx_queue(port)) {
		port_tx(vc, &vc->ports[port]);
	} else if (port == 0) {
		console_rx_ready(vc->con); /* hvc0 has buffers for typed input again */
	} else if (port < vc->nr_ports) {
		port_arm_read(&vc->ports[port]);
	}
}

static void vc_reset(struct virtio_dev *v)
{
	struct virtio_console *vc = v->priv;

	vc->pending_count = 0;
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct vc_port *p = &vc->ports[i];

		p->guest_ready = false;
		free(p->out);
		p->out = NULL;
		p->out_len = p->out_off = 0;
	}
	console_select_sink(vc->con, CONSOLE_SINK_UART);
}

static void vc_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_console *vc = v->priv;

	memcpy(data, vc->config + off, len);
}

static void vc_config_write(struct virtio_dev *v, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_console *vc = v->priv;

	/* emerg_wr: one character for the console, usable before queues exist. */
	if (off == 8 && len == 4)
		console_write(vc->con, data, 1);
}

static const struct virtio_dev_ops vc_ops = {
	.name = "virtio-console",
	.device_type = 3,
	.pci_class = 0x078000, /* communication, other */
	.config_read = vc_config_read,
	.config_write = vc_config_write,
	.queue_notify = vc_queue_notify,
	.reset = vc_reset,
};

/* hvc0 as the console's input sink: one receive buffer per input call. */
static size_t hvc_space(void *opaque)
{
	struct virtio_console *vc = opaque;
	struct virtio_dev *v = &vc->vdev;
	size_t space;

	pthread_mutex_lock(&v->lock);
	space = virtio_live(v) && virtq_has_avail(&v->vqs[0]) ? 64 : 0;
	pthread_mutex_unlock(&v->lock);
	return space;
}

static size_t hvc_input(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *vc = opaque;
	struct virtio_dev *v = &vc->vdev;
	struct virtq_chain *c = v->chain;
	const char *err;
	size_t n = 0;
	int ret;

	pthread_mutex_lock(&v->lock);
	ret = virtio_live(v) ? virtq_pop(&v->vqs[0], c, &err) : 0;
	if (ret < 0)
		virtio_needs_reset(v, "console receive queue: %s", err);
	if (ret == 1) {
		n = iov_from_buf(c->iov + c->nr_out, c->nr_in, 0, buf, len);
		virtq_push(&v->vqs[0], c->head, (uint32_t)n);
		virtio_queue_signal(v, 0);
	}
	pthread_mutex_unlock(&v->lock);
	return n;
}

int virtio_console_new(struct vm *vm, struct pci_bus *bus, struct console *con,
		       const struct port_config *ports, unsigned int nr_ports,
		       struct virtio_console **out)
{
	struct virtio_console *vc = calloc(1, sizeof(*vc));
	uint32_t max_ports = nr_ports + 1;
	int ret;

	if (!vc)
		return -ENOMEM;
	vc->con = con;
	vc->nr_ports = max_ports;
	vc->ports = calloc(max_ports, sizeof(*vc->ports));
	if (!vc->ports || 2 * max_ports + 2 > VIRTIO_MAX_QUEUES) {
		ret = vc->ports ? -E2BIG : -ENOMEM;
		free(vc->ports);
		free(vc);
		return ret;
	}
	for (unsigned int i = 0; i < max_ports; i++) {
		vc->ports[i] = (struct vc_port){ .vc = vc, .id = i, .fd = -1, .listen_fd = -1 };
		if (i > 0) {
			vc->ports[i].name = strdup(ports[i - 1].name);
			vc->ports[i].path = strdup(ports[i - 1].path);
			vc->ports[i].listen = ports[i - 1].listen;
		}
	}
	memcpy(vc->config + 4, &max_ports, 4);
	ret = virtio_dev_init(&vc->vdev, vm, bus, &vc_ops, 2 * max_ports + 2, CONSOLE_QUEUE_SIZE,
			      (1ull << VIRTIO_CONSOLE_F_MULTIPORT) |
				      (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE),
			      CONFIG_SIZE, vc);
	for (unsigned int i = 1; i < max_ports && !ret; i++) {
		struct vc_port *p = &vc->ports[i];

		ret = p->name && p->path ? port_open_socket(p) : -ENOMEM;
		if (ret)
			log_error("virtio-console: port %s: cannot %s %s: %s", p->name,
				  p->listen ? "listen on" : "connect to", p->path, strerror(-ret));
	}
	if (ret) {
		virtio_console_free(vc);
		return ret;
	}
	if (con) {
		struct console_sink sink = { hvc_space, hvc_input, vc };

		console_set_sink(con, CONSOLE_SINK_HVC, &sink);
	}
	*out = vc;
	return 0;
}

void virtio_console_free(struct virtio_console *vc)
{
	if (!vc)
		return;
	for (unsigned int i = 0; i < vc->nr_ports; i++) {
		struct vc_port *p = &vc->ports[i];

		p->guest_ready = false;
		if (p->retry_ev)
			event_free(p->retry_ev);
		p->retry_ev = NULL; /* going away: no reconnecting */
		port_disconnect(p);
		if (p->listen_ev)
			event_free(p->listen_ev);
		if (p->listen_fd >= 0) {
			close(p->listen_fd);
			unlink(p->path);
		}
		free(p->name);
		free(p->path);
	}
	virtio_dev_cleanup(&vc->vdev);
	free(vc->ports);
	free(vc);
}
