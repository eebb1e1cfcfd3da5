// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-net device model driven through its rings by a driver in the
 * test (vdrv.c): frames go out to passt's stream and come back in, one
 * buffer or merged over several; the MAC and link status are in the
 * configuration; a bad transmit header or an oversized frame is dropped
 * while the device keeps working; a ring pointing outside guest RAM puts
 * the device in NEEDS_RESET, and a reset brings it back; a transmit
 * completion is signalled before the next frame is sent; a tap backend
 * offers offloads and carries an ARP exchange with the host kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vdrv.h"
#include "vmm/net/net_backend.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/virtio.h"

#define RXQ 0
#define TXQ 1
#define F_MRG_RXBUF (1ull << 15)
#define F_BASE \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS))

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

struct fixture {
	struct vdrv d;
	struct virtio_net *n;
	int peer; /* the far end of the passt stream */
};

static struct fixture *passt_fixture(uint64_t features)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_backend *nb;
	int sv[2];

	vdrv_setup(&f->d, 32);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(net_passt_open_fd(sv[0], &nb), 0);
	f->peer = sv[1];
	assert_int_equal(virtio_net_new(&f->d.vm, f->d.bus, nb, test_mac, &f->n), 0);
	vdrv_pick_device(&f->d);
	assert_true(vdrv_start(&f->d, features, 2, 256));
	return f;
}

static void fixture_free(struct fixture *f)
{
	virtio_net_free(f->n);
	close(f->peer);
	vdrv_teardown(&f->d);
	free(f);
}

/* Puts header + frame (len bytes of pattern seed) in guest memory; returns its gpa. */
static uint64_t tx_packet(struct vdrv *d, const struct virtio_net_hdr_v1 *h, size_t len,
			  uint8_t seed)
{
	uint64_t gpa = vdrv_alloc(d, sizeof(*h) + len);
	uint8_t *p = vdrv_hva(d, gpa);

	memcpy(p, h, sizeof(*h));
	for (size_t i = 0; i < len; i++)
		p[sizeof(*h) + i] = (uint8_t)(seed + i);
	return gpa;
}

static void send_tx(struct fixture *f, const struct virtio_net_hdr_v1 *h, size_t len, uint8_t seed)
{
	struct vdrv_buf b = { tx_packet(&f->d, h, len, seed), (uint32_t)(sizeof(*h) + len), false };

	vdrv_add(&f->d, TXQ, &b, 1);
	vdrv_kick(&f->d, TXQ);
	assert_true(vdrv_wait_used(&f->d, TXQ, NULL, NULL, 2000));
}

/* Reads one passt frame from the peer (0 if none arrives within ms). */
static size_t peer_read_frame(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint32_t be;
	size_t len, got = 0;

	if (poll(&p, 1, ms) != 1)
		return 0;
	assert_int_equal(recv(fd, &be, 4, MSG_WAITALL), 4);
	len = ntohl(be);
	assert_true(len <= cap);
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
	}
	return len;
}

static void peer_send_frame(int fd, size_t len, uint8_t seed)
{
	uint8_t *buf = malloc(len + 4);
	uint32_t be = htonl((uint32_t)len);

	memcpy(buf, &be, 4);
	for (size_t i = 0; i < len; i++)
		buf[4 + i] = (uint8_t)(seed + i);
	assert_int_equal(send(fd, buf, len + 4, 0), (ssize_t)(len + 4));
	free(buf);
}

static void test_config_and_features(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	uint64_t feat = vdrv_dev_features(&f->d);
	uint8_t mac[6];
	uint16_t status;

	assert_true(feat & (1ull << VIRTIO_NET_F_MAC));
	assert_true(feat & F_MRG_RXBUF);
	/* passt checksums and segments nothing: no offload may be offered. */
	assert_false(feat & (1ull << VIRTIO_NET_F_CSUM));
	assert_false(feat & (1ull << VIRTIO_NET_F_GUEST_TSO4));
	vdrv_cfg_read(&f->d, 0, mac, 6);
	assert_memory_equal(mac, test_mac, 6);
	vdrv_cfg_read(&f->d, 6, &status, 2);
	assert_int_equal(status, 1);
	/* Asking for an offload that was not offered is refused at FEATURES_OK. */
	assert_false(vdrv_start(&f->d, F_BASE | (1ull << VIRTIO_NET_F_CSUM), 2, 256));
	fixture_free(f);
}

static void test_tx_and_rx_through_passt(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	struct virtio_net_hdr_v1 h = { 0 };
	uint8_t got[2048], *p;
	uint32_t id, len;
	struct vdrv_buf rx;
	struct virtio_net_stats st;

	send_tx(f, &h, 60, 7);
	assert_int_equal(peer_read_frame(f->peer, got, sizeof(got), 1000), 60);
	assert_int_equal(got[0], 7);
	assert_int_equal(got[59], (uint8_t)(7 + 59));

	rx = (struct vdrv_buf){ vdrv_alloc(&f->d, 2048), 2048, true };
	vdrv_add(&f->d, RXQ, &rx, 1);
	vdrv_kick(&f->d, RXQ);
	peer_send_frame(f->peer, 100, 3);
	assert_true(vdrv_wait_used(&f->d, RXQ, &id, &len, 2000));
	assert_int_equal(len, VIRTIO_NET_HDR_SIZE + 100);
	p = vdrv_hva(&f->d, rx.gpa);
	assert_int_equal(p[10], 1); /* num_buffers */
	assert_int_equal(p[VIRTIO_NET_HDR_SIZE], 3);
	assert_int_equal(p[VIRTIO_NET_HDR_SIZE + 99], (uint8_t)(3 + 99));
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.rx_packets, 1);
	fixture_free(f);
}

static void test_rx_merges_small_buffers(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	uint64_t gpa[4];
	uint32_t id, len, total = 0;
	uint8_t frame[3000];
	size_t off = 0;

	for (int i = 0; i < 4; i++) {
		struct vdrv_buf b = { gpa[i] = vdrv_alloc(&f->d, 1024), 1024, true };

		vdrv_add(&f->d, RXQ, &b, 1);
	}
	vdrv_kick(&f->d, RXQ);
	peer_send_frame(f->peer, 3000, 9);
	for (int i = 0; i < 3; i++) {
		assert_true(vdrv_wait_used(&f->d, RXQ, &id, &len, 2000));
		assert_int_equal(id, i);
		total += len;
		if (i == 0) {
			assert_int_equal(((uint8_t *)vdrv_hva(&f->d, gpa[0]))[10], 3);
			memcpy(frame, (uint8_t *)vdrv_hva(&f->d, gpa[0]) + 12, len - 12);
			off = len - 12;
		} else {
			memcpy(frame + off, vdrv_hva(&f->d, gpa[i]), len);
			off += len;
		}
	}
	assert_int_equal(total, 3012);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(frame[i], (uint8_t)(9 + i));
	/* The fourth buffer is still the guest's. */
	assert_false(vdrv_wait_used(&f->d, RXQ, NULL, NULL, 50));
	fixture_free(f);
}

static void test_rx_waits_for_buffers(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	struct vdrv_buf b;
	uint32_t len;

	peer_send_frame(f->peer, 80, 1);
	vdrv_run(&f->d, 50);
	b = (struct vdrv_buf){ vdrv_alloc(&f->d, 2048), 2048, true };
	vdrv_add(&f->d, RXQ, &b, 1);
	vdrv_kick(&f->d, RXQ);
	assert_true(vdrv_wait_used(&f->d, RXQ, NULL, &len, 2000));
	assert_int_equal(len, VIRTIO_NET_HDR_SIZE + 80);
	fixture_free(f);
}

/*
 * With EVENT_IDX the driver kicks only when told to: a device out of buffers
 * must publish avail_event, or reception stalls for good (a 64 MiB stream did).
 */
static void test_rx_out_of_buffers_asks_for_a_kick(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF | (1ull << VIRTIO_F_EVENT_IDX));
	struct vdrv_buf b = { vdrv_alloc(&f->d, 2048), 2048, true };
	uint16_t *avail_event;

	vdrv_add(&f->d, RXQ, &b, 1);
	vdrv_kick(&f->d, RXQ);
	peer_send_frame(f->peer, 80, 1);
	peer_send_frame(f->peer, 80, 2);
	assert_true(vdrv_wait_used(&f->d, RXQ, NULL, NULL, 2000));
	vdrv_run(&f->d, 50);
	avail_event = (uint16_t *)((uint8_t *)vdrv_hva(&f->d, f->d.q[RXQ].used) + 4 + 8 * 256);
	/* The next buffer the driver adds (index 1) must be notified. */
	assert_int_equal(*avail_event, 1);
	b.gpa = vdrv_alloc(&f->d, 2048);
	vdrv_add(&f->d, RXQ, &b, 1);
	vdrv_kick(&f->d, RXQ);
	assert_true(vdrv_wait_used(&f->d, RXQ, NULL, NULL, 2000));
	fixture_free(f);
}

static void test_bad_tx_dropped_device_keeps_working(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	struct virtio_net_stats st;
	uint8_t got[128];

	/* Partial checksum without VIRTIO_NET_F_CSUM negotiated. */
	send_tx(f, &h, 60, 0);
	/* Segmentation that was never negotiated. */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					.gso_size = htole16(1000) };
	send_tx(f, &h, 3000, 0);
	/* Bigger than any Ethernet frame may be. */
	h = (struct virtio_net_hdr_v1){ 0 };
	send_tx(f, &h, 70000, 0);
	/* Shorter than the header. */
	{
		struct vdrv_buf b = { vdrv_alloc(&f->d, 8), 8, false };

		vdrv_add(&f->d, TXQ, &b, 1);
		vdrv_kick(&f->d, TXQ);
		assert_true(vdrv_wait_used(&f->d, TXQ, NULL, NULL, 2000));
	}
	assert_int_equal(peer_read_frame(f->peer, got, sizeof(got), 100), 0);
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_dropped, 4);
	assert_false(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	send_tx(f, &h, 60, 5);
	assert_int_equal(peer_read_frame(f->peer, got, sizeof(got), 1000), 60);
	fixture_free(f);
}

static void test_hostile_ring_needs_reset(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	struct virtio_net_hdr_v1 h = { 0 };
	uint8_t got[128];

	/* A buffer far outside guest RAM. */
	vdrv_set_desc(&f->d, TXQ, 0, 0x7fff00000000ull, 100, 0, 0);
	vdrv_publish(&f->d, TXQ, 0);
	vdrv_kick(&f->d, TXQ);
	vdrv_run(&f->d, 50);
	assert_true(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	/* The driver resets and starts over: the device works again. */
	assert_true(vdrv_start(&f->d, F_BASE | F_MRG_RXBUF, 2, 256));
	send_tx(f, &h, 60, 1);
	assert_int_equal(peer_read_frame(f->peer, got, sizeof(got), 1000), 60);
	fixture_free(f);
}

static void test_passt_desync_takes_link_down(void **state)
{
	struct fixture *f = passt_fixture(F_BASE | F_MRG_RXBUF);
	uint32_t bogus = htonl(0xfffffff0u);
	uint16_t status = 1;
	struct vdrv_buf b = { vdrv_alloc(&f->d, 2048), 2048, true };

	vdrv_add(&f->d, RXQ, &b, 1);
	vdrv_kick(&f->d, RXQ);
	assert_int_equal(send(f->peer, &bogus, 4, 0), 4);
	vdrv_run(&f->d, 100);
	vdrv_cfg_read(&f->d, 6, &status, 2);
	assert_int_equal(status, 0);
	assert_false(vdrv_status(&f->d) & VIRTIO_STATUS_NEEDS_RESET);
	fixture_free(f);
}

/*
 * A backend that records, for each frame it is given, whether the transmit
 * queue's interrupt was already raised: the device's lock is held while it
 * sends, so it reads the pending bits of the (function-masked) MSI-X table
 * directly.
 */
struct rec_backend {
	struct net_backend nb;
	const struct virtio_dev *vdev;
	unsigned int nr_sent;
	bool irq_pending_at[4];
};

static int rec_send(struct net_backend *nb, const struct iovec *iov, int iovcnt)
{
	struct rec_backend *r = (struct rec_backend *)nb;

	if (r->nr_sent < 4)
		r->irq_pending_at[r->nr_sent] = (r->vdev->msix_pending >> 1) & 1;
	r->nr_sent++;
	return 0;
}

static ssize_t rec_recv(struct net_backend *nb, void *buf, size_t cap)
{
	return 0;
}

static int rec_flush(struct net_backend *nb)
{
	return 0;
}

static void rec_close(struct net_backend *nb)
{
	close(nb->fd);
	free(nb);
}

static const struct net_backend_ops rec_ops = {
	.name = "recorder",
	.send = rec_send,
	.recv = rec_recv,
	.flush = rec_flush,
	.close = rec_close,
};

/*
 * The driver asks (EVENT_IDX, used_event 0) for an interrupt at the first
 * transmit completion: it must come before the device moves on to the next
 * frame, not after the whole batch. Linux's TCP keeps only a frame or two
 * below the socket and sends more only when one is freed, so a late
 * interrupt halves a guest's upload speed (docs/benchmarks/vmm-net.md).
 */
static void test_tx_completion_signalled_before_next_frame(void **state)
{
	struct rec_backend *r = calloc(1, sizeof(*r));
	struct virtio_net_hdr_v1 h = { 0 };
	struct virtio_dev *v;
	struct virtio_net *n;
	struct vdrv d;
	uint16_t u16;
	uint16_t *used_event;

	vdrv_setup(&d, 32);
	r->nb.ops = &rec_ops;
	r->nb.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(r->nb.fd >= 0);
	assert_int_equal(virtio_net_new(&d.vm, d.bus, &r->nb, test_mac, &n), 0);
	vdrv_pick_device(&d);
	v = d.dev->priv;
	r->vdev = v;
	assert_true(vdrv_start(&d, F_BASE | (1ull << VIRTIO_F_EVENT_IDX), 2, 256));
	/* MSI-X on with every vector masked: raised interrupts stay pending. */
	d.dev->cfg[v->msix_cap + 3] |= 0xc0;
	d.dev->ops->cfg_written(d.dev, v->msix_cap + 2u, 2);
	u16 = TXQ;
	d.dev->ops->bar_io(d.dev, 0, 22, (uint8_t *)&u16, 2, true);
	u16 = 1;
	d.dev->ops->bar_io(d.dev, 0, 26, (uint8_t *)&u16, 2, true);
	used_event = (uint16_t *)((uint8_t *)vdrv_hva(&d, d.q[TXQ].avail) + 4 + 2 * 256);
	*used_event = 0;

	for (int i = 0; i < 3; i++) {
		struct vdrv_buf b = { tx_packet(&d, &h, 60, (uint8_t)i), 72, false };

		vdrv_add(&d, TXQ, &b, 1);
	}
	vdrv_kick(&d, TXQ);
	for (int i = 0; i < 3; i++)
		assert_true(vdrv_wait_used(&d, TXQ, NULL, NULL, 2000));
	assert_int_equal(r->nr_sent, 3);
	assert_false(r->irq_pending_at[0]);
	assert_true(r->irq_pending_at[1]);
	assert_true(r->irq_pending_at[2]);
	virtio_net_free(n);
	vdrv_teardown(&d);
}

/*
 * Not virtio-net's own code, but its speed depends on it: guest RAM must
 * start on a 2 MiB boundary so that KVM maps the host's huge pages into the
 * guest whole (else every 4 KiB page the guest touches first is a nested
 * page fault exit, 21 per MiB of a guest's upload in the emulated phone).
 */
static void test_guest_ram_is_huge_page_aligned(void **state)
{
	for (uint64_t mib = 1; mib <= 1024; mib *= 4) {
		struct guest_mem m;

		assert_int_equal(guest_mem_alloc(&m, mib << 20), 0);
		assert_true(IS_ALIGNED((uintptr_t)m.map, 2u << 20));
		/* Still all of it, writable to the last byte. */
		assert_int_equal(guest_mem_ram_size(&m), mib << 20);
		m.map[(mib << 20) - 1] = 1;
		guest_mem_free(&m);
	}
}

/* An ARP request for 10.9.0.1 from the test MAC. */
static size_t arp_request(uint8_t *p)
{
	static const uint8_t arp[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };

	memset(p, 0, 60);
	memset(p, 0xff, 6);
	memcpy(p + 6, test_mac, 6);
	p[12] = 8, p[13] = 6;
	memcpy(p + 14, arp, 8);
	memcpy(p + 22, test_mac, 6);
	memcpy(p + 28, "\x0a\x09\x00\x02", 4);
	memcpy(p + 38, "\x0a\x09\x00\x01", 4);
	return 60;
}

/* In a child in its own network namespace: the device on a real tap. */
static int tap_child(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	uint64_t want = F_BASE | F_MRG_RXBUF | (1ull << VIRTIO_NET_F_CSUM) |
			(1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
			(1ull << VIRTIO_NET_F_GUEST_TSO4);
	struct virtio_net_hdr_v1 h = { 0 };
	struct net_backend *nb;
	struct virtio_net *n;
	struct vdrv d;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return 10;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	strcpy(ifr.ifr_name, "pvmtap0");
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return 11;
	if (system("ip addr add 10.9.0.1/24 dev pvmtap0 && ip link set pvmtap0 up") != 0)
		return 12;
	vdrv_setup(&d, 32);
	if (net_tap_open_fd(fd, &nb) || virtio_net_new(&d.vm, d.bus, nb, test_mac, &n))
		return 13;
	vdrv_pick_device(&d);
	if ((vdrv_dev_features(&d) & want) != want)
		return 14;
	if (!vdrv_start(&d, want, 2, 256))
		return 15;
	for (int i = 0; i < 8; i++) {
		struct vdrv_buf b = { vdrv_alloc(&d, 4096), 4096, true };

		vdrv_add(&d, RXQ, &b, 1);
	}
	vdrv_kick(&d, RXQ);
	{
		uint64_t gpa = vdrv_alloc(&d, 12 + 60);
		struct vdrv_buf b = { gpa, 72, false };

		memcpy(vdrv_hva(&d, gpa), &h, 12);
		arp_request((uint8_t *)vdrv_hva(&d, gpa) + 12);
		vdrv_add(&d, TXQ, &b, 1);
		vdrv_kick(&d, TXQ);
	}
	for (int i = 0; i < 8; i++) {
		uint32_t id, len;
		const uint8_t *p;

		if (!vdrv_wait_used(&d, RXQ, &id, &len, 2000))
			return 16;
		p = (const uint8_t *)vdrv_hva(
			    &d, ((const struct virtq_desc *)vdrv_hva(&d, d.q[RXQ].desc))[id].addr) +
		    12;
		/* The ARP reply from 10.9.0.1 to our MAC. */
		if (len >= 12 + 42 && p[12] == 8 && p[13] == 6 && p[21] == 2 &&
		    !memcmp(p, test_mac, 6) && !memcmp(p + 28, "\x0a\x09\x00\x01", 4)) {
			virtio_net_free(n);
			vdrv_teardown(&d);
			return 0;
		}
	}
	return 17;
}

static void test_tap_arp_exchange(void **state)
{
	pid_t pid;
	int status;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
	    access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: the tap test needs root, /dev/net/tun and /dev/kvm\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(tap_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_and_features),
		cmocka_unit_test(test_tx_and_rx_through_passt),
		cmocka_unit_test(test_rx_merges_small_buffers),
		cmocka_unit_test(test_rx_waits_for_buffers),
		cmocka_unit_test(test_rx_out_of_buffers_asks_for_a_kick),
		cmocka_unit_test(test_bad_tx_dropped_device_keeps_working),
		cmocka_unit_test(test_hostile_ring_needs_reset),
		cmocka_unit_test(test_passt_desync_takes_link_down),
		cmocka_unit_test(test_tx_completion_signalled_before_next_frame),
		cmocka_unit_test(test_guest_ram_is_huge_page_aligned),
		cmocka_unit_test(test_tap_arp_exchange),
	};

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: no usable /dev/kvm\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
