// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-vsock device driven through its rings by a driver in the test:
 * a guest connection to host port P reaches the unix socket PATH_P and data
 * flows both ways; a host program's "CONNECT P" becomes a request to the
 * guest and "OK" once it accepts; packets with a foreign CID or bogus credit
 * are dropped or reset; a device-writable transmit buffer needs a reset, and
 * a driver reset closes every host socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/unixsock.h"
#include "vdrv.h"
#include "vmm/virtio/virtio.h"
#include "vmm/virtio/vsock.h"

#define RXQ 0
#define TXQ 1
#define GUEST_CID 3
#define GUEST_PORT 5555
#define HOST_PORT 1234

struct fixture {
	struct vdrv d;
	struct virtio_vsock *s;
	char dir[64];
	char path[128];
	uint64_t rx_gpa[32];
};

static void post_rx(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t gpa = vdrv_alloc(&f->d, 4096 + VSOCK_HDR_SIZE);
		/* As Linux posts them: the header and the payload in two buffers. */
		struct vdrv_buf b[2] = { { gpa, VSOCK_HDR_SIZE, true },
					 { gpa + VSOCK_HDR_SIZE, 4096, true } };
		uint16_t head = vdrv_add(&f->d, RXQ, b, 2);

		f->rx_gpa[head / 2 % 32] = gpa;
	}
	vdrv_kick(&f->d, RXQ);
}

static struct fixture *setup_vsock(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vdrv_setup(&f->d, 32);
	strcpy(f->dir, "/tmp/pvm-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	assert_int_equal(virtio_vsock_new(&f->d.vm, f->d.bus, GUEST_CID, f->path, &f->s), 0);
	vdrv_pick_device(&f->d);
	assert_true(vdrv_start(&f->d, 1ull << VIRTIO_F_VERSION_1, 3, 64));
	post_rx(f, 16);
	return f;
}

static void teardown_vsock(struct fixture *f)
{
	char p[160];

	virtio_vsock_free(f->s);
	vdrv_teardown(&f->d);
	snprintf(p, sizeof(p), "%s/v.sock_%d", f->dir, HOST_PORT);
	unlink(p);
	rmdir(f->dir);
	free(f);
}

static void guest_send(struct fixture *f, uint16_t op, uint64_t src_cid, uint64_t dst_cid,
		       uint32_t src_port, uint32_t dst_port, const void *data, uint32_t len,
		       uint32_t fwd_cnt)
{
	struct vsock_hdr h = {
		.src_cid = src_cid,
		.dst_cid = dst_cid,
		.src_port = src_port,
		.dst_port = dst_port,
		.len = len,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = 65536,
		.fwd_cnt = fwd_cnt,
	};
	uint64_t gpa = vdrv_alloc(&f->d, VSOCK_HDR_SIZE + len);
	struct vdrv_buf b[2] = { { gpa, VSOCK_HDR_SIZE, false },
				 { gpa + VSOCK_HDR_SIZE, len, false } };

	vsock_hdr_write(&h, vdrv_hva(&f->d, gpa));
	if (len)
		memcpy(vdrv_hva(&f->d, gpa + VSOCK_HDR_SIZE), data, len);
	vdrv_add(&f->d, TXQ, b, len ? 2 : 1);
	vdrv_kick(&f->d, TXQ);
	assert_true(vdrv_wait_used(&f->d, TXQ, NULL, NULL, 2000));
}

/* The next packet the device gave the guest; false if none within ms. */
static bool guest_recv(struct fixture *f, struct vsock_hdr *h, uint8_t *data, int ms)
{
	uint32_t id, len;
	uint8_t *p;

	if (!vdrv_wait_used(&f->d, RXQ, &id, &len, ms))
		return false;
	p = vdrv_hva(&f->d, f->rx_gpa[id / 2 % 32]);
	assert_true(len >= VSOCK_HDR_SIZE);
	assert_true(vsock_hdr_parse(p, len, h));
	assert_int_equal(h->len, len - VSOCK_HDR_SIZE);
	if (data)
		memcpy(data, p + VSOCK_HDR_SIZE, h->len);
	post_rx(f, 1);
	return true;
}

/* Guest port GUEST_PORT connects to host port HOST_PORT; returns the host's socket. */
static int connect_from_guest(struct fixture *f, int *listen_fd)
{
	char p[160];
	struct vsock_hdr h;
	struct pollfd pfd;
	int c;

	snprintf(p, sizeof(p), "%s_%d", f->path, HOST_PORT);
	*listen_fd = unix_listen(p, 4, 0);
	assert_true(*listen_fd >= 0);
	guest_send(f, VSOCK_OP_REQUEST, GUEST_CID, 2, GUEST_PORT, HOST_PORT, NULL, 0, 0);
	assert_true(guest_recv(f, &h, NULL, 2000));
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.dst_port, GUEST_PORT);
	assert_int_equal(h.src_port, HOST_PORT);
	assert_int_equal(h.dst_cid, GUEST_CID);
	pfd = (struct pollfd){ *listen_fd, POLLIN, 0 };
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	c = accept(*listen_fd, NULL, NULL);
	assert_true(c >= 0);
	return c;
}

static void test_guest_connects_to_host(void **state)
{
	struct fixture *f = setup_vsock();
	struct vsock_hdr h;
	uint8_t buf[64];
	int lfd, c = connect_from_guest(f, &lfd);
	struct virtio_vsock_stats st;

	guest_send(f, VSOCK_OP_RW, GUEST_CID, 2, GUEST_PORT, HOST_PORT, "hello", 5, 0);
	vdrv_run(&f->d, 20);
	assert_int_equal(recv(c, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(send(c, "world!", 6, 0), 6);
	assert_true(guest_recv(f, &h, buf, 2000));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "world!", 6);
	/* The host closes: the guest hears SHUTDOWN. */
	close(c);
	assert_true(guest_recv(f, &h, NULL, 2000));
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	virtio_vsock_get_stats(f->s, &st);
	assert_int_equal(st.tx_packets, 2);
	assert_true(st.rx_packets >= 3);
	close(lfd);
	teardown_vsock(f);
}

static void test_host_connects_to_guest(void **state)
{
	struct fixture *f = setup_vsock();
	struct vsock_hdr h;
	char line[64] = { 0 };
	char want[64];
	int c = unix_connect(f->path, 0);
	struct pollfd pfd = { c, POLLIN, 0 };

	assert_true(c >= 0);
	assert_int_equal(send(c, "CONNECT 5000\n", 13, 0), 13);
	assert_true(guest_recv(f, &h, NULL, 2000));
	assert_int_equal(h.op, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 5000);
	assert_true(h.src_port >= (1u << 30));
	guest_send(f, VSOCK_OP_RESPONSE, GUEST_CID, 2, 5000, h.src_port, NULL, 0, 0);
	vdrv_run(&f->d, 20);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_true(recv(c, line, sizeof(line) - 1, 0) > 0);
	snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	assert_string_equal(line, want);
	close(c);
	teardown_vsock(f);
}

static void test_foreign_cids_dropped(void **state)
{
	struct fixture *f = setup_vsock();
	struct virtio_vsock_stats st;
	struct vsock_hdr h;

	/* Pretending to be another guest, or talking to one: no path at all. */
	guest_send(f, VSOCK_OP_REQUEST, 4, 2, GUEST_PORT, HOST_PORT, NULL, 0, 0);
	guest_send(f, VSOCK_OP_REQUEST, GUEST_CID, 4, GUEST_PORT, HOST_PORT, NULL, 0, 0);
	virtio_vsock_get_stats(f->s, &st);
	assert_int_equal(st.tx_dropped, 2);
	assert_false(guest_recv(f, &h, NULL, 50));
	/* A port nobody listens on: refused with RST. */
	guest_send(f, VSOCK_OP_REQUEST, GUEST_CID, 2, GUEST_PORT, 4321, NULL, 0, 0);
	assert_true(guest_recv(f, &h, NULL, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	teardown_vsock(f);
}

static void test_bogus_credit_resets_connection(void **state)
{
	struct fixture *f = setup_vsock();
	struct vsock_hdr h;
	char b;
	int lfd, c = connect_from_guest(f, &lfd);

	/* The guest claims to have consumed 1000 bytes the host never sent. */
	guest_send(f, VSOCK_OP_CREDIT_UPDATE, GUEST_CID, 2, GUEST_PORT, HOST_PORT, NULL, 0, 1000);
	assert_true(guest_recv(f, &h, NULL, 2000));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(recv(c, &b, 1, 0), 0); /* the host side sees EOF */
	close(c);
	close(lfd);
	teardown_vsock(f);
}

static void test_oversized_packet_dropped(void **state)
{
	struct fixture *f = setup_vsock();
	static uint8_t big[70000];
	struct virtio_vsock_stats st;
	int lfd, c = connect_from_guest(f, &lfd);

	guest_send(f, VSOCK_OP_RW, GUEST_CID, 2, GUEST_PORT, HOST_PORT, big, sizeof(big), 0);
	virtio_vsock_get_stats(f->s, &st);
	assert_int_equal(st.tx_dropped, 1);
	assert_false(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	close(c);
	close(lfd);
	teardown_vsock(f);
}

static void test_writable_tx_and_reset(void **state)
{
	struct fixture *f = setup_vsock();
	char b;
	int lfd, c = connect_from_guest(f, &lfd);
	struct vdrv_buf w = { vdrv_alloc(&f->d, 64), 64, true };

	vdrv_add(&f->d, TXQ, &w, 1);
	vdrv_kick(&f->d, TXQ);
	vdrv_run(&f->d, 30);
	assert_true(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	/* The driver resets: every connection is gone, the host side sees EOF. */
	vdrv_set_status(&f->d, 0);
	assert_int_equal(recv(c, &b, 1, 0), 0);
	close(c);
	close(lfd);
	teardown_vsock(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_connects_to_host),
		cmocka_unit_test(test_host_connects_to_guest),
		cmocka_unit_test(test_foreign_cids_dropped),
		cmocka_unit_test(test_bogus_credit_resets_connection),
		cmocka_unit_test(test_oversized_packet_dropped),
		cmocka_unit_test(test_writable_tx_and_reset),
	};

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: no usable /dev/kvm\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
