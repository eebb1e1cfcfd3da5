// SPDX-License-Identifier: Apache-2.0
/*
 * The vsock mux from the guest's and the host program's points of view:
 * connections both ways carry data, credit is honoured both ways, and a
 * hostile guest (spoofed CID, other guests' CIDs, bad lengths, data beyond
 * its credit, bogus credit claims, unknown ops) is dropped or reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/vsock/vsock_mux.h"

#define GUEST_CID 7

struct fixture {
	char dir[64];
	char path[80];
	struct vsock_mux *m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/pocketvm-vsock-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	f->m = vsock_mux_new(GUEST_CID, f->path);
	if (!f->m)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	vsock_mux_free(f->m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int listen_port(struct fixture *f, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->path, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Sends one guest packet; returns the mux's verdict. */
static int guest_send(struct fixture *f, uint64_t src_cid, uint64_t dst_cid, uint32_t sport,
		      uint32_t dport, uint16_t op, uint32_t flags, uint32_t buf_alloc,
		      uint32_t fwd_cnt, const void *data, size_t len)
{
	struct vsock_hdr h = {
		.src_cid = src_cid,
		.dst_cid = dst_cid,
		.src_port = sport,
		.dst_port = dport,
		.len = (uint32_t)len,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.flags = flags,
		.buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};
	uint8_t raw[VSOCK_HDR_SIZE];

	vsock_hdr_write(&h, raw);
	return vsock_mux_guest_tx(f->m, raw, sizeof(raw), data, len);
}

#define GSEND(f, sport, dport, op, data, len) \
	guest_send(f, GUEST_CID, VSOCK_HOST_CID, sport, dport, op, 0, 65536, 0, data, len)

/* Lets the mux see socket events, then takes one packet for the guest. */
static size_t guest_recv(struct fixture *f, struct vsock_hdr *h, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = vsock_mux_fd(f->m), .events = POLLIN };
	size_t n;

	for (int i = 0; i < 50; i++) {
		vsock_mux_process(f->m);
		n = vsock_mux_guest_rx(f->m, buf, cap);
		if (n > 0) {
			assert_true(vsock_hdr_parse(buf, n, h));
			assert_int_equal(n, VSOCK_HDR_SIZE + h->len);
			return n;
		}
		poll(&p, 1, 20);
	}
	return 0;
}

static void test_guest_connects_and_exchanges_data(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 52), cfd;
	uint8_t buf[4096];
	struct vsock_hdr h;
	char got[16] = { 0 };

	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_REQUEST, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.dst_cid, GUEST_CID);
	assert_int_equal(h.src_port, 52);
	assert_int_equal(h.dst_port, 1000);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);

	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_RW, "hello", 5), 0);
	assert_int_equal(read(cfd, got, sizeof(got)), 5);
	assert_string_equal(got, "hello");

	assert_int_equal(write(cfd, "world", 5), 5);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf + VSOCK_HDR_SIZE, "world", 5);

	/* The host program hangs up: the guest hears SHUTDOWN, then resets. */
	close(cfd);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_RST, NULL, 0), 0);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	close(lfd);
}

static void test_host_connects_to_guest(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	uint8_t buf[4096];
	struct vsock_hdr h;
	char ok[32] = { 0 };
	unsigned int port;

	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, "CONNECT 1234\n", 13), 13);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 1234);
	assert_true(h.src_port >= (1u << 30));
	assert_int_equal(GSEND(f, 1234, h.src_port, VSOCK_OP_RESPONSE, NULL, 0), 0);
	assert_true(read(fd, ok, sizeof(ok) - 1) > 0);
	assert_int_equal(sscanf(ok, "OK %u\n", &port), 1);
	assert_int_equal(port, h.src_port);
	close(fd);
}

static void test_bad_connect_lines_closed(void **state)
{
	struct fixture *f = *state;
	const char *const lines[] = {
		"CONNECT\n", "CONNECT -1\n",	 "CONNECT 99999999999\n",
		"HELLO 5\n", "CONNECT 5\nextra", "CONNECT 12345678901234567890123\n"
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t buf[256];
	struct vsock_hdr h;

	strcpy(sa.sun_path, f->path);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		char c;

		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_true(write(fd, lines[i], strlen(lines[i])) > 0);
		assert_int_equal(guest_recv(f, &h, buf, sizeof(buf)), 0);
		/* The mux hung up on it: end of file, or a reset if bytes were unread. */
		ssize_t n = read(fd, &c, 1);
		assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
		close(fd);
	}
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
}

static void test_connect_to_nobody_is_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	struct vsock_hdr h;

	assert_int_equal(GSEND(f, 1000, 53, VSOCK_OP_REQUEST, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 1000);
	/* Data for a connection that does not exist: also RST, nothing else. */
	assert_int_equal(GSEND(f, 1001, 60, VSOCK_OP_RW, "x", 1), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
}

static void test_malformed_packets_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t raw[VSOCK_HDR_SIZE] = { 0 }, buf[256];
	struct vsock_hdr h;
	int lfd = listen_port(f, 52);

	/* Spoofed source CID, another guest as destination, short header. */
	assert_int_equal(guest_send(f, 8, 2, 1, 52, VSOCK_OP_REQUEST, 0, 0, 0, NULL, 0), -EINVAL);
	assert_int_equal(guest_send(f, GUEST_CID, 8, 1, 52, VSOCK_OP_REQUEST, 0, 0, 0, NULL, 0),
			 -EINVAL);
	assert_int_equal(vsock_mux_guest_tx(f->m, raw, 43, NULL, 0), -EINVAL);
	/* Header length disagrees with the payload. */
	vsock_hdr_write(&(struct vsock_hdr){ .src_cid = GUEST_CID,
					     .dst_cid = 2,
					     .len = 100,
					     .type = 1,
					     .op = VSOCK_OP_RW },
			raw);
	assert_int_equal(vsock_mux_guest_tx(f->m, raw, sizeof(raw), "abc", 3), -EINVAL);
	assert_int_equal(guest_recv(f, &h, buf, sizeof(buf)), 0);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	close(lfd);
}

static void test_guest_beyond_credit_is_reset(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 52);
	static uint8_t big[VSOCK_MAX_PKT_PAYLOAD];
	uint8_t buf[256];
	struct vsock_hdr h;

	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_REQUEST, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	/* Nobody accepts on the host, so nothing drains: the window fills. */
	size_t sent = 0;
	int rc = 0;
	while (vsock_mux_nr_conns(f->m) == 1 && sent < 16u * 1024 * 1024) {
		rc = GSEND(f, 1000, 52, VSOCK_OP_RW, big, sizeof(big));
		assert_int_equal(rc, 0);
		sent += sizeof(big);
	}
	/* The connection was reset once the guest overran its credit. */
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	close(lfd);
}

/*
 * The guest may have four 64 KiB packets in flight (256 KiB of credit) to a
 * peer that is not reading: what the socket does not take is buffered, and
 * the peer gets every byte in order once it reads; then a credit update
 * lets the guest go on.
 */
static void test_slow_peer_gets_window_in_order(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 52), cfd;
	static uint8_t pkt[VSOCK_MAX_PKT_PAYLOAD], got[VSOCK_MAX_PKT_PAYLOAD];
	uint8_t buf[256];
	struct vsock_hdr h;
	uint32_t total = 5 * VSOCK_MAX_PKT_PAYLOAD, seen = 0;

	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_REQUEST, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_true(h.buf_alloc >= 4 * VSOCK_MAX_PKT_PAYLOAD);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	for (uint32_t i = 0; i < 4; i++) {
		for (uint32_t j = 0; j < sizeof(pkt); j++)
			pkt[j] = (uint8_t)((i * sizeof(pkt) + j) % 251);
		assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_RW, pkt, sizeof(pkt)), 0);
	}
	assert_int_equal(vsock_mux_nr_conns(f->m), 1);
	while (seen < total) {
		ssize_t n;

		/* The fifth packet once the mux granted more credit. */
		if (seen == 4 * VSOCK_MAX_PKT_PAYLOAD) {
			do {
				assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
			} while (h.op != VSOCK_OP_CREDIT_UPDATE);
			assert_true(h.fwd_cnt >= 2 * VSOCK_MAX_PKT_PAYLOAD);
			for (uint32_t j = 0; j < sizeof(pkt); j++)
				pkt[j] = (uint8_t)((4 * sizeof(pkt) + j) % 251);
			assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_RW, pkt, sizeof(pkt)), 0);
		}
		/* The mux forwards what it buffered as the socket drains. */
		vsock_mux_process(f->m);
		n = recv(cfd, got, sizeof(got), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = vsock_mux_fd(f->m), .events = POLLIN };

			assert_int_equal(poll(&p, 1, 1000), 1);
			continue;
		}
		assert_true(n > 0);
		for (ssize_t j = 0; j < n; j++)
			assert_int_equal(got[j], (uint8_t)((seen + j) % 251));
		seen += (uint32_t)n;
	}
	assert_int_equal(vsock_mux_nr_conns(f->m), 1);
	close(cfd);
	close(lfd);
}

static void test_bogus_credit_claim_is_reset(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 52);
	uint8_t buf[256];
	struct vsock_hdr h;

	assert_int_equal(GSEND(f, 1000, 52, VSOCK_OP_REQUEST, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	/* We sent nothing, yet the guest claims to have consumed 4096 bytes. */
	assert_int_equal(guest_send(f, GUEST_CID, 2, 1000, 52, VSOCK_OP_CREDIT_UPDATE, 0, 65536,
				    4096, NULL, 0),
			 0);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.op, VSOCK_OP_RST);
	close(lfd);
}

static void test_host_data_respects_guest_credit(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 52), cfd;
	static uint8_t data[8192], buf[VSOCK_HDR_SIZE + 8192];
	struct vsock_hdr h;
	size_t got = 0;

	/* The guest grants only 1000 bytes of buffer. */
	assert_int_equal(
		guest_send(f, GUEST_CID, 2, 1000, 52, VSOCK_OP_REQUEST, 0, 1000, 0, NULL, 0), 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	cfd = accept(lfd, NULL, NULL);
	memset(data, 'z', sizeof(data));
	assert_int_equal(write(cfd, data, sizeof(data)), (ssize_t)sizeof(data));
	while (guest_recv(f, &h, buf, sizeof(buf)) > 0) {
		assert_int_equal(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	assert_int_equal(got, 1000);
	/* The guest consumed it all and says so: the rest may flow. */
	assert_int_equal(guest_send(f, GUEST_CID, 2, 1000, 52, VSOCK_OP_CREDIT_UPDATE, 0, 1000,
				    1000, NULL, 0),
			 0);
	assert_true(guest_recv(f, &h, buf, sizeof(buf)) > 0);
	assert_int_equal(h.len, 1000);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_connects_and_exchanges_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_connects_to_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_connect_lines_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_to_nobody_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_packets_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_beyond_credit_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_peer_gets_window_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bogus_credit_claim_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_data_respects_guest_credit, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
