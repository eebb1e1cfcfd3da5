// SPDX-License-Identifier: Apache-2.0
#include "vmm/vsock/vsock_mux.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unixsock.h"

/*
 * The credit we grant each connection: the guest data we may have to buffer
 * when its unix peer reads slowly. Linux's own vsock default, and four of
 * the 64 KiB packets Linux sends: with 64 KiB the guest could have one
 * packet in flight and waited for a credit update after each (2.8 MB/s in
 * docs/benchmarks/vmm-net.md). At most MAX_CONNS times this per VM, and only
 * for connections whose peer does not keep up: data goes straight to the
 * socket when it takes it.
 */
#define CONN_BUF_ALLOC (256u * 1024)
/* Open connections per VM; a guest cannot exhaust the host beyond this. */
#define MAX_CONNS 256
/* Answers (RST) to packets that belong to no connection, waiting for rx. */
#define MAX_ORPHAN_RSTS 64
/* Host ports for host-initiated connections start here (as Firecracker's). */
#define HOST_PORT_BASE (1u << 30)
#define CONNECT_LINE_MAX 32

enum conn_state {
	CONN_HOST_CONNECTING, /* accepted on uds_path, waiting for "CONNECT P" */
	CONN_REQUEST_SENT, /* asked the guest to accept, waiting for RESPONSE */
	CONN_ESTABLISHED,
};

/* Control packets a connection owes the guest. */
enum {
	NEED_REQUEST = 1 << 0,
	NEED_RESPONSE = 1 << 1,
	NEED_CREDIT_UPDATE = 1 << 2,
	NEED_SHUTDOWN = 1 << 3,
	NEED_RST = 1 << 4,
};

struct vsock_conn {
	struct vsock_conn *next;
	enum conn_state state;
	int fd;
	uint32_t local_port; /* our side (CID 2) */
	uint32_t peer_port; /* the guest's side */
	unsigned int need;
	bool readable; /* the socket had data when last polled */
	bool host_eof;
	bool peer_shut_send;
	/* Credit the guest granted us, and what we sent against it. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt;
	/* Credit we granted the guest, and what it used. */
	uint32_t rx_cnt;
	uint32_t fwd_cnt;
	uint32_t fwd_cnt_told; /* fwd_cnt as of the last packet to the guest */
	/* Guest data not yet written to the socket: buf_len bytes at buf + buf_off. */
	uint8_t *buf;
	size_t buf_off, buf_len;
	uint32_t events; /* what epoll watches on fd */
	char line[CONNECT_LINE_MAX];
	size_t line_len;
};

struct vsock_mux {
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* What guest connections to port P connect to: "<connect_prefix>_P". */
	char connect_prefix[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int epoll_fd;
	struct vsock_conn *conns;
	size_t nr_conns;
	struct vsock_conn *rx_cursor; /* round-robin start for guest_rx */
	uint32_t next_host_port;
	struct vsock_hdr orphans[MAX_ORPHAN_RSTS];
	size_t nr_orphans;
};

/* Little-endian loads from a buffer of any alignment. */
static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

bool vsock_hdr_parse(const void *buf, size_t len, struct vsock_hdr *h)
{
	const uint8_t *p = buf;

	if (len < VSOCK_HDR_SIZE)
		return false;
	h->src_cid = get_le(p + 0, 8);
	h->dst_cid = get_le(p + 8, 8);
	h->src_port = (uint32_t)get_le(p + 16, 4);
	h->dst_port = (uint32_t)get_le(p + 20, 4);
	h->len = (uint32_t)get_le(p + 24, 4);
	h->type = (uint16_t)get_le(p + 28, 2);
	h->op = (uint16_t)get_le(p + 30, 2);
	h->flags = (uint32_t)get_le(p + 32, 4);
	h->buf_alloc = (uint32_t)get_le(p + 36, 4);
	h->fwd_cnt = (uint32_t)get_le(p + 40, 4);
	return true;
}

void vsock_hdr_write(const struct vsock_hdr *h, void *buf)
{
	uint8_t *p = buf;
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

	v64 = htole64(h->src_cid);
	memcpy(p + 0, &v64, 8);
	v64 = htole64(h->dst_cid);
	memcpy(p + 8, &v64, 8);
	v32 = htole32(h->src_port);
	memcpy(p + 16, &v32, 4);
	v32 = htole32(h->dst_port);
	memcpy(p + 20, &v32, 4);
	v32 = htole32(h->len);
	memcpy(p + 24, &v32, 4);
	v16 = htole16(h->type);
	memcpy(p + 28, &v16, 2);
	v16 = htole16(h->op);
	memcpy(p + 30, &v16, 2);
	v32 = htole32(h->flags);
	memcpy(p + 32, &v32, 4);
	v32 = htole32(h->buf_alloc);
	memcpy(p + 36, &v32, 4);
	v32 = htole32(h->fwd_cnt);
	memcpy(p + 40, &v32, 4);
}

static int epoll_set(struct vsock_mux *m, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(m->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

/* What the socket should wake us for: data to read, or room for our backlog. */
static void conn_update_events(struct vsock_mux *m, struct vsock_conn *c)
{
	uint32_t ev = 0;

	if (!c->readable && !c->host_eof)
		ev |= EPOLLIN;
	if (c->buf_len > 0)
		ev |= EPOLLOUT;
	if (ev != c->events && !epoll_set(m, EPOLL_CTL_MOD, c->fd, ev, c))
		c->events = ev;
}

static struct vsock_conn *conn_new(struct vsock_mux *m, int fd, enum conn_state state)
{
	struct vsock_conn *c;

	if (m->nr_conns >= MAX_CONNS)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->state = state;
	if (epoll_set(m, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
		free(c);
		return NULL;
	}
	c->events = EPOLLIN;
	c->next = m->conns;
	m->conns = c;
	m->nr_conns++;
	return c;
}

static void conn_free(struct vsock_mux *m, struct vsock_conn *c)
{
	struct vsock_conn **pp;

	for (pp = &m->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (m->rx_cursor == c)
		m->rx_cursor = c->next;
	epoll_ctl(m->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
	m->nr_conns--;
}

static struct vsock_conn *conn_find(struct vsock_mux *m, uint32_t local_port, uint32_t peer_port)
{
	for (struct vsock_conn *c = m->conns; c; c = c->next)
		if (c->state != CONN_HOST_CONNECTING && c->local_port == local_port &&
		    c->peer_port == peer_port)
			return c;
	return NULL;
}

/* Queues an RST for a packet that matches no connection. */
static void orphan_rst(struct vsock_mux *m, const struct vsock_hdr *in)
{
	if (in->op == VSOCK_OP_RST || m->nr_orphans >= MAX_ORPHAN_RSTS)
		return;
	m->orphans[m->nr_orphans++] = (struct vsock_hdr){
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = m->guest_cid,
		.src_port = in->dst_port,
		.dst_port = in->src_port,
		.type = VSOCK_TYPE_STREAM,
		.op = VSOCK_OP_RST,
	};
}

/* A protocol violation or socket error: tell the guest, forget the socket. */
static void conn_reset(struct vsock_mux *m, struct vsock_conn *c)
{
	struct vsock_hdr h = { .src_port = c->peer_port, .dst_port = c->local_port };

	orphan_rst(m, &h);
	conn_free(m, c);
}

/* Writes as much of the guest's buffered data as the socket takes. */
static int conn_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	while (c->buf_len > 0) {
		ssize_t n =
			send(c->fd, c->buf + c->buf_off, c->buf_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		c->buf_off += (size_t)n;
		c->buf_len -= (size_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->buf_len == 0)
		c->buf_off = 0;
	/* Tell the guest once half its window has come free. */
	if (c->fwd_cnt - c->fwd_cnt_told >= CONN_BUF_ALLOC / 2)
		c->need |= NEED_CREDIT_UPDATE;
	if (c->buf_len == 0 && c->peer_shut_send)
		shutdown(c->fd, SHUT_WR);
	conn_update_events(m, c);
	return 0;
}

static int guest_rw(struct vsock_mux *m, struct vsock_conn *c, const void *data, size_t len)
{
	uint32_t in_flight = c->rx_cnt - c->fwd_cnt;

	if (c->state != CONN_ESTABLISHED || c->peer_shut_send) {
		log_warn("vsock: data on port %u in the wrong state; resetting", c->local_port);
		conn_reset(m, c);
		return 0;
	}
	if (len > CONN_BUF_ALLOC - in_flight) {
		log_warn("vsock: guest port %u sent %zu bytes beyond its credit; resetting",
			 c->peer_port, len - (CONN_BUF_ALLOC - in_flight));
		conn_reset(m, c);
		return 0;
	}
	c->rx_cnt += (uint32_t)len;
	/* Nothing queued before it: straight to the socket, and keep only the rest. */
	if (c->buf_len == 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_reset(m, c);
			return 0;
		}
		n = MAX(n, 0);
		data = (const uint8_t *)data + n;
		len -= (size_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (len > 0) {
		if (!c->buf) {
			c->buf = malloc(CONN_BUF_ALLOC);
			if (!c->buf) {
				conn_reset(m, c);
				return 0;
			}
		}
		/* in_flight == buf_len + len <= CONN_BUF_ALLOC: fits once compacted. */
		if (c->buf_off + c->buf_len + len > CONN_BUF_ALLOC) {
			memmove(c->buf, c->buf + c->buf_off, c->buf_len);
			c->buf_off = 0;
		}
		memcpy(c->buf + c->buf_off + c->buf_len, data, len);
		c->buf_len += len;
	}
	if (conn_flush(m, c) < 0)
		conn_reset(m, c);
	return 0;
}

static int sock_connect_port(const struct vsock_mux *m, uint32_t port)
{
	char path[sizeof(m->uds_path) + 12];
	int n = snprintf(path, sizeof(path), "%s_%u", m->connect_prefix, port);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return unix_connect(path, SOCK_NONBLOCK);
}

static void guest_request(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd;

	if (conn_find(m, h->dst_port, h->src_port)) {
		log_warn("vsock: guest reopened live connection %u->%u", h->src_port, h->dst_port);
		orphan_rst(m, h);
		return;
	}
	fd = sock_connect_port(m, h->dst_port);
	if (fd < 0) {
		log_debug("vsock: guest connect to port %u refused: %s", h->dst_port,
			  strerror(-fd));
		orphan_rst(m, h);
		return;
	}
	c = conn_new(m, fd, CONN_ESTABLISHED);
	if (!c) {
		close(fd);
		orphan_rst(m, h);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->need |= NEED_RESPONSE;
}

static void guest_shutdown(struct vsock_mux *m, struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_SEND) {
		c->peer_shut_send = true;
		if (c->buf_len == 0)
			shutdown(c->fd, SHUT_WR);
	}
	/* Both directions closed: the connection is over; RST completes it. */
	if ((flags & (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV)) ==
	    (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV)) {
		conn_flush(m, c);
		conn_reset(m, c);
	}
}

/*
 * Checks the credit the guest reports: its fwd_cnt only moves forward, and
 * never past what we sent (it cannot have consumed bytes it never got).
 */
static bool update_peer_credit(struct vsock_conn *c, const struct vsock_hdr *h)
{
	uint32_t advance = h->fwd_cnt - c->peer_fwd_cnt;
	uint32_t outstanding = c->tx_cnt - c->peer_fwd_cnt;

	if (advance > outstanding)
		return false;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	return true;
}

static void guest_packet(struct vsock_mux *m, const struct vsock_hdr *h, const void *data)
{
	struct vsock_conn *c;
	char ok[24];
	int n;

	if (h->op == VSOCK_OP_REQUEST) {
		guest_request(m, h);
		return;
	}
	c = conn_find(m, h->dst_port, h->src_port);
	if (!c) {
		orphan_rst(m, h);
		return;
	}
	if (h->op == VSOCK_OP_RST) {
		conn_free(m, c);
		return;
	}
	if (!update_peer_credit(c, h)) {
		log_warn("vsock: guest port %u claims credit for data never sent; resetting",
			 h->src_port);
		conn_reset(m, c);
		return;
	}
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != CONN_REQUEST_SENT) {
			conn_reset(m, c);
			return;
		}
		c->state = CONN_ESTABLISHED;
		/*
		 * send, not dprintf: no SIGPIPE if the host program left, and no
		 * stdio (glibc's dprintf seeks the fd, outside the jail's allowlist).
		 */
		n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			conn_reset(m, c);
			return;
		}
		break;
	case VSOCK_OP_RW:
		guest_rw(m, c, data, h->len);
		break;
	case VSOCK_OP_SHUTDOWN:
		guest_shutdown(m, c, h->flags);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->need |= NEED_CREDIT_UPDATE;
		break;
	default:
		log_warn("vsock: unknown op %u from guest port %u; resetting", h->op, h->src_port);
		conn_reset(m, c);
	}
}

int vsock_mux_guest_tx(struct vsock_mux *m, const void *hdr, size_t hdr_len, const void *data,
		       size_t data_len)
{
	struct vsock_hdr h;

	if (!vsock_hdr_parse(hdr, hdr_len, &h)) {
		log_warn("vsock: packet shorter than its header (%zu bytes); dropped", hdr_len);
		return -EINVAL;
	}
	if (h.src_cid != m->guest_cid) {
		log_warn("vsock: packet from CID %llu, guest is %llu; dropped",
			 (unsigned long long)h.src_cid, (unsigned long long)m->guest_cid);
		return -EINVAL;
	}
	if (h.dst_cid != VSOCK_HOST_CID) {
		/* No path to other guests, by design. */
		log_warn("vsock: packet to CID %llu; only the host (2) is reachable; dropped",
			 (unsigned long long)h.dst_cid);
		return -EINVAL;
	}
	if (h.len != data_len || h.len > VSOCK_MAX_PKT_PAYLOAD) {
		log_warn("vsock: header says %u payload bytes, packet has %zu; dropped", h.len,
			 data_len);
		return -EINVAL;
	}
	if (h.type != VSOCK_TYPE_STREAM) {
		orphan_rst(m, &h);
		return 0;
	}
	guest_packet(m, &h, data);
	return 0;
}

/* Every packet to the guest carries our current credit. */
static void fill_hdr(const struct vsock_mux *m, struct vsock_conn *c, uint16_t op,
		     struct vsock_hdr *h)
{
	c->fwd_cnt_told = c->fwd_cnt;
	*h = (struct vsock_hdr){
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = m->guest_cid,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = CONN_BUF_ALLOC,
		.fwd_cnt = c->fwd_cnt,
	};
}

static uint32_t peer_free(const struct vsock_conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;

	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

/* The control packet a connection owes, if any, most urgent first. */
static bool conn_control(struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h)
{
	static const struct {
		unsigned int bit;
		uint16_t op;
	} order[] = {
		{ NEED_REQUEST, VSOCK_OP_REQUEST },
		{ NEED_RESPONSE, VSOCK_OP_RESPONSE },
		{ NEED_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE },
		{ NEED_SHUTDOWN, VSOCK_OP_SHUTDOWN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if (c->need & order[i].bit) {
			c->need &= ~order[i].bit;
			fill_hdr(m, c, order[i].op, h);
			if (order[i].op == VSOCK_OP_SHUTDOWN)
				h->flags = VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV;
			return true;
		}
	}
	return false;
}

/* Reads socket data into an RW packet; 0 if there is none or no credit. */
static size_t conn_data(struct vsock_mux *m, struct vsock_conn *c, uint8_t *buf, size_t cap)
{
	size_t room = MIN(cap - VSOCK_HDR_SIZE, (size_t)VSOCK_MAX_PKT_PAYLOAD);
	struct vsock_hdr h;
	ssize_t n;

	if (c->state != CONN_ESTABLISHED || !c->readable)
		return 0;
	room = MIN(room, (size_t)peer_free(c));
	if (room == 0)
		return 0;
	n = recv(c->fd, buf + VSOCK_HDR_SIZE, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		conn_update_events(m, c);
		return 0;
	}
	if (n <= 0) {
		/* The host side closed (or failed): the guest hears SHUTDOWN. */
		c->readable = false;
		c->host_eof = true;
		c->need |= NEED_SHUTDOWN;
		conn_update_events(m, c);
		return 0;
	}
	fill_hdr(m, c, VSOCK_OP_RW, &h);
	h.len = (uint32_t)n;
	c->tx_cnt += (uint32_t)n;
	vsock_hdr_write(&h, buf);
	return VSOCK_HDR_SIZE + (size_t)n;
}

size_t vsock_mux_guest_rx(struct vsock_mux *m, void *out, size_t cap)
{
	struct vsock_hdr h;
	struct vsock_conn *c, *start;

	if (cap < VSOCK_HDR_SIZE)
		return 0;
	if (m->nr_orphans > 0) {
		vsock_hdr_write(&m->orphans[0], out);
		memmove(&m->orphans[0], &m->orphans[1], --m->nr_orphans * sizeof(m->orphans[0]));
		return VSOCK_HDR_SIZE;
	}
	/* Round robin, so one busy connection cannot starve the others. */
	start = m->rx_cursor ? m->rx_cursor : m->conns;
	c = start;
	while (c) {
		struct vsock_conn *next = c->next ? c->next : m->conns;
		size_t n;

		if (conn_control(m, c, &h)) {
			m->rx_cursor = next;
			vsock_hdr_write(&h, out);
			return VSOCK_HDR_SIZE;
		}
		n = conn_data(m, c, out, cap);
		if (n > 0) {
			m->rx_cursor = next;
			return n;
		}
		c = next;
		if (c == start)
			break;
	}
	return 0;
}

bool vsock_mux_rx_pending(const struct vsock_mux *m)
{
	if (m->nr_orphans > 0)
		return true;
	for (const struct vsock_conn *c = m->conns; c; c = c->next)
		if (c->need || (c->state == CONN_ESTABLISHED && c->readable && peer_free(c) > 0))
			return true;
	return false;
}

/* Reads the "CONNECT <port>\n" line of a host-initiated connection. */
static void host_connect_line(struct vsock_mux *m, struct vsock_conn *c)
{
	ssize_t n =
		recv(c->fd, c->line + c->line_len, sizeof(c->line) - 1 - c->line_len, MSG_DONTWAIT);
	char *end, *nl;
	unsigned long port;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(m, c);
		return;
	}
	c->line_len += (size_t)n;
	c->line[c->line_len] = '\0';
	nl = strchr(c->line, '\n');
	if (!nl) {
		if (c->line_len == sizeof(c->line) - 1) {
			log_warn("vsock: host connect line too long; closed");
			conn_free(m, c);
		}
		return;
	}
	if (nl != c->line + c->line_len - 1) {
		/* The host must wait for "OK" before it sends data. */
		log_warn("vsock: host sent data before the guest accepted; closed");
		conn_free(m, c);
		return;
	}
	*nl = '\0';
	errno = 0;
	if (strncmp(c->line, "CONNECT ", 8) != 0 || c->line[8] < '0' || c->line[8] > '9' ||
	    (port = strtoul(c->line + 8, &end, 10), *end != '\0') || errno || port > UINT32_MAX) {
		log_warn("vsock: host sent a bad connect line; closed");
		conn_free(m, c);
		return;
	}
	c->peer_port = (uint32_t)port;
	do {
		c->local_port = m->next_host_port++;
		if (m->next_host_port < HOST_PORT_BASE)
			m->next_host_port = HOST_PORT_BASE;
	} while (conn_find(m, c->local_port, c->peer_port));
	c->state = CONN_REQUEST_SENT;
	c->need |= NEED_REQUEST;
	c->readable = false;
	conn_update_events(m, c);
}

static void accept_host(struct vsock_mux *m)
{
	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (!conn_new(m, fd, CONN_HOST_CONNECTING)) {
			log_warn("vsock: too many connections; host connection refused");
			close(fd);
		}
	}
}

void vsock_mux_process(struct vsock_mux *m)
{
	struct epoll_event evs[32];
	int n = epoll_wait(m->epoll_fd, evs, ARRAY_SIZE(evs), 0);

	for (int i = 0; i < n; i++) {
		struct vsock_conn *c = evs[i].data.ptr;

		if (!c) {
			accept_host(m);
			continue;
		}
		if (c->state == CONN_HOST_CONNECTING) {
			host_connect_line(m, c);
			continue;
		}
		if ((evs[i].events & EPOLLOUT) && conn_flush(m, c) < 0) {
			conn_reset(m, c);
			continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			c->readable = true;
			conn_update_events(m, c);
		}
	}
}

int vsock_mux_fd(const struct vsock_mux *m)
{
	return m->epoll_fd;
}

size_t vsock_mux_nr_conns(const struct vsock_mux *m)
{
	return m->nr_conns;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	while (m->conns)
		conn_free(m, m->conns);
	m->nr_orphans = 0;
	m->rx_cursor = NULL;
}

void vsock_mux_connect_relative(struct vsock_mux *m)
{
	const char *base = strrchr(m->uds_path, '/');

	strcpy(m->connect_prefix, base ? base + 1 : m->uds_path);
}

struct vsock_mux *vsock_mux_new(uint64_t guest_cid, const char *uds_path)
{
	struct vsock_mux *m;
	int err;

	/* Reserve room for "_<port>" after the path. */
	if (guest_cid < 3 || guest_cid > UINT32_MAX ||
	    strlen(uds_path) + 12 > sizeof(m->uds_path)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->guest_cid = guest_cid;
	strcpy(m->uds_path, uds_path);
	strcpy(m->connect_prefix, uds_path);
	m->next_host_port = HOST_PORT_BASE;
	m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	m->listen_fd = unix_listen(uds_path, 16, SOCK_NONBLOCK);
	if (m->epoll_fd < 0 || m->listen_fd < 0) {
		err = m->listen_fd < 0 ? -m->listen_fd : errno;
		goto fail;
	}
	err = -epoll_set(m, EPOLL_CTL_ADD, m->listen_fd, EPOLLIN, NULL);
	if (err)
		goto fail;
	return m;
fail:
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->epoll_fd >= 0)
		close(m->epoll_fd);
	free(m);
	errno = err;
	return NULL;
}

void vsock_mux_free(struct vsock_mux *m)
{
	if (!m)
		return;
	while (m->conns)
		conn_free(m, m->conns);
	close(m->listen_fd);
	close(m->epoll_fd);
	unlink(m->uds_path);
	free(m);
}
