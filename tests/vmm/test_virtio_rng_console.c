// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-rng and virtio-console (multiport) under a tiny guest:
 *  - rng fills a writable buffer with nonzero bytes and raises its MSI-X
 *    vector; a request with a device-readable buffer sends it to NEEDS_RESET;
 *  - console: the control handshake (DEVICE_READY -> DEVICE_ADD for each
 *    port, PORT_READY -> PORT_NAME + PORT_OPEN), then bytes the guest sends
 *    on the named port arrive on the host's unix socket and bytes written to
 *    the socket arrive in the guest's receive buffer; a control message for a
 *    port that does not exist sends the device to NEEDS_RESET.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/virtio_guest.h"
#include "lib/vmm_harness.h"
#include "vmm/config.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/rng.h"

#define QBASE 0x20000ul
#define BUF 0x60000ul
#define VEC_RNG 0x51

static volatile int hostile;

GUEST_CODE static void guest_rng(void)
{
	struct vg_dev d;
	struct vg_queue q;
	unsigned int nonzero = 0;

	GUEST_ASSERT_EQ(vg_probe(&d, 1, 0x1044), 0);
	GUEST_ASSERT(vg_negotiate(&d, VG_F_VERSION_1 | VG_F_EVENT_IDX) != 0);
	vg_msix_vector(&d, 1, VEC_RNG);
	vg_queue_setup(&d, &q, 0, 8, QBASE, 1);
	vg_driver_ok(&d);
	for (unsigned int i = 0; i < 64; i++)
		VG_W8(BUF + i, 0);
	q.desc[0].addr = BUF;
	q.desc[0].len = 64;
	q.desc[0].flags = hostile ? 0 : VG_DESC_F_WRITE;
	q.desc[0].next = 0;
	vg_submit(&d, &q, 0);
	if (hostile) {
		GUEST_SYNC2(1, vg_wait_needs_reset(&d));
		GUEST_DONE();
	}
	GUEST_ASSERT_EQ(vg_wait_used(&d, &q, NULL), 64);
	for (unsigned int i = 0; i < 64; i++)
		nonzero += VG_R8(BUF + i) != 0;
	GUEST_SYNC2(1, nonzero);
	GUEST_DONE();
}

/* Console queues: 0/1 port 0, 2 control rx, 3 control tx, 4/5 port 1. */
#define CQ_BASE(i) (QBASE + 0x4000ul * (i))
#define CTRL_RX_BUF 0x70000ul
#define CTRL_TX_BUF 0x71000ul
#define PORT_RX_BUF 0x72000ul
#define PORT_TX_BUF 0x73000ul

GUEST_CODE static void ctrl_send(struct vg_dev *d, struct vg_queue *tx, uint32_t id, uint16_t event,
				 uint16_t value)
{
	VG_W32(CTRL_TX_BUF, id);
	VG_W16(CTRL_TX_BUF + 4, event);
	VG_W16(CTRL_TX_BUF + 6, value);
	tx->desc[0].addr = CTRL_TX_BUF;
	tx->desc[0].len = 8;
	tx->desc[0].flags = 0;
	vg_submit(d, tx, 0);
	GUEST_ASSERT(vg_wait_used(d, tx, NULL) >= 0);
}

/* Offers control receive buffer n (of 8, 128 bytes each). */
GUEST_CODE static void ctrl_give(struct vg_dev *d, struct vg_queue *rx, uint16_t n)
{
	rx->desc[n].addr = CTRL_RX_BUF + 128u * n;
	rx->desc[n].len = 128;
	rx->desc[n].flags = VG_DESC_F_WRITE;
	vg_submit(d, rx, n);
}

/* Waits for the next control message; returns event << 16 | id, value in *value. */
GUEST_CODE static uint32_t ctrl_recv(struct vg_dev *d, struct vg_queue *rx, uint16_t *value,
				     uint32_t *name_word)
{
	uint32_t id;
	long len = vg_wait_used(d, rx, &id);
	uintptr_t m = CTRL_RX_BUF + 128u * id;

	GUEST_ASSERT(len >= 8);
	*value = VG_R16(m + 6);
	if (name_word)
		*name_word = VG_R32(m + 8);
	ctrl_give(d, rx, (uint16_t)id);
	return ((uint32_t)VG_R16(m + 4) << 16) | VG_R32(m);
}

GUEST_CODE static void guest_console(void)
{
	struct vg_dev d;
	struct vg_queue q[6];
	uint16_t value;
	uint32_t name = 0, msg;

	GUEST_ASSERT_EQ(vg_probe(&d, 1, 0x1043), 0);
	GUEST_ASSERT(vg_negotiate(&d, VG_F_VERSION_1 | (1ull << 1)) & (1ull << 1));
	GUEST_ASSERT_EQ(VG_R32(d.device + 4), 2); /* max_nr_ports */
	for (uint16_t i = 0; i < 6; i++)
		vg_queue_setup(&d, &q[i], i, 8, CQ_BASE(i), 0xffff);
	vg_driver_ok(&d);
	for (uint16_t n = 0; n < 8; n++)
		ctrl_give(&d, &q[2], n);
	if (hostile) {
		ctrl_send(&d, &q[3], 7, 3, 1); /* PORT_READY for port 7 of 2 */
		GUEST_SYNC2(1, vg_wait_needs_reset(&d));
		GUEST_DONE();
	}
	ctrl_send(&d, &q[3], 0, 0, 1); /* DEVICE_READY */
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, NULL), (1u << 16) | 0); /* DEVICE_ADD 0 */
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, NULL), (1u << 16) | 1); /* DEVICE_ADD 1 */
	ctrl_send(&d, &q[3], 1, 3, 1); /* PORT_READY 1 */
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, &name), (7u << 16) | 1); /* PORT_NAME */
	GUEST_SYNC2(1, name);
	msg = ctrl_recv(&d, &q[2], &value, NULL);
	GUEST_ASSERT_EQ(msg, (6u << 16) | 1); /* PORT_OPEN 1: the host side is connected */
	GUEST_ASSERT_EQ(value, 1);
	ctrl_send(&d, &q[3], 1, 6, 1); /* the guest opens it too */

	/* Guest -> host. */
	VG_W32(PORT_TX_BUF, 0x676e6970); /* "ping" */
	q[5].desc[0].addr = PORT_TX_BUF;
	q[5].desc[0].len = 4;
	q[5].desc[0].flags = 0;
	vg_submit(&d, &q[5], 0);
	GUEST_ASSERT(vg_wait_used(&d, &q[5], NULL) >= 0);
	/* Host -> guest: offer a buffer, then let the host write. */
	q[4].desc[0].addr = PORT_RX_BUF;
	q[4].desc[0].len = 64;
	q[4].desc[0].flags = VG_DESC_F_WRITE;
	vg_submit(&d, &q[4], 0);
	GUEST_SYNC(2);
	GUEST_ASSERT_EQ(vg_wait_used(&d, &q[4], NULL), 4);
	GUEST_SYNC2(3, VG_R32(PORT_RX_BUF));
	GUEST_DONE();
}

/* Sends 4 bytes on port 1 and waits until the device took them. */
GUEST_CODE static void port_say(struct vg_dev *d, struct vg_queue *tx, uint32_t word)
{
	VG_W32(PORT_TX_BUF, word);
	tx->desc[0].addr = PORT_TX_BUF;
	tx->desc[0].len = 4;
	tx->desc[0].flags = 0;
	vg_submit(d, tx, 0);
	GUEST_ASSERT(vg_wait_used(d, tx, NULL) >= 0);
}

/* Waits for PORT_OPEN on port 1; returns its value. */
GUEST_CODE static uint16_t wait_port_open(struct vg_dev *d, struct vg_queue *rx)
{
	uint16_t value;

	GUEST_ASSERT_EQ(ctrl_recv(d, rx, &value, NULL), (6u << 16) | 1);
	return value;
}

/*
 * A connect-mode port whose peer is not there at first, then comes, goes and
 * comes back: the guest is told (PORT_OPEN 1/0) and never blocks, and what
 * it says while nobody listens is dropped.
 */
GUEST_CODE static void guest_reconnect(void)
{
	struct vg_dev d;
	struct vg_queue q[6];
	uint16_t value;
	uint32_t name = 0;

	GUEST_ASSERT_EQ(vg_probe(&d, 1, 0x1043), 0);
	GUEST_ASSERT(vg_negotiate(&d, VG_F_VERSION_1 | (1ull << 1)) & (1ull << 1));
	for (uint16_t i = 0; i < 6; i++)
		vg_queue_setup(&d, &q[i], i, 8, CQ_BASE(i), 0xffff);
	vg_driver_ok(&d);
	for (uint16_t n = 0; n < 8; n++)
		ctrl_give(&d, &q[2], n);
	ctrl_send(&d, &q[3], 0, 0, 1); /* DEVICE_READY */
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, NULL), (1u << 16) | 0);
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, NULL), (1u << 16) | 1);
	ctrl_send(&d, &q[3], 1, 3, 1); /* PORT_READY 1 */
	GUEST_ASSERT_EQ(ctrl_recv(&d, &q[2], &value, &name), (7u << 16) | 1);
	ctrl_send(&d, &q[3], 1, 6, 1);
	/* A receive buffer, as a driver keeps one posted: the device reads (and sees EOF). */
	q[4].desc[0].addr = PORT_RX_BUF;
	q[4].desc[0].len = 64;
	q[4].desc[0].flags = VG_DESC_F_WRITE;
	vg_submit(&d, &q[4], 0);
	port_say(&d, &q[5], 0x74736f6c); /* "lost": nobody is there yet */
	GUEST_SYNC(1);
	GUEST_SYNC2(2, wait_port_open(&d, &q[2])); /* the peer came */
	port_say(&d, &q[5], 0x676e6970); /* "ping" */
	GUEST_SYNC(3);
	GUEST_SYNC2(4, wait_port_open(&d, &q[2])); /* the peer went */
	port_say(&d, &q[5], 0x656e6f67); /* "gone" */
	GUEST_SYNC(5);
	GUEST_SYNC2(6, wait_port_open(&d, &q[2])); /* and came back */
	port_say(&d, &q[5], 0x6b636162); /* "back" */
	GUEST_DONE();
}

/* The port's peer: a unix socket listening at sa (its path unlinked first). */
static int listen_on(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	unlink(sa->sun_path);
	TEST_ASSERT(fd >= 0 && bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 &&
			    listen(fd, 1) == 0,
		    "listen on %s", sa->sun_path);
	return fd;
}

/* Accepts on lfd within ms milliseconds; -1 if nobody connected. */
static int accept_within(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 ? accept(lfd, NULL, NULL) : -1;
}

static void expect_sync(struct harness *h, uint64_t n, uint64_t value, const char *what)
{
	struct ucall uc;

	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[0] == n && uc.args[1] == value,
		    "%s (sync %lu: %lu)", what, (unsigned long)uc.args[0],
		    (unsigned long)uc.args[1]);
}

static void test_console_reconnect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct port_config port = { .name = "p1", .path = sa.sun_path };
	struct virtio_console *vc;
	struct harness *h;
	struct ucall uc;
	char buf[8] = { 0 };
	int lfd, cfd;

	hostile = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/pocketvm-vc-re-%d.sock", getpid());
	unlink(sa.sun_path);
	h = harness_new(16);
	TEST_ASSERT(virtio_console_new(&h->vm, h->pci, NULL, &port, 1, &vc) == 0,
		    "a port whose peer is not there yet stops the VM");
	harness_start(h, guest_reconnect);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[0] == 1,
		    "the guest blocked on a port nobody listens to");

	lfd = listen_on(&sa);
	cfd = accept_within(lfd, 6000);
	TEST_ASSERT(cfd >= 0, "the VMM did not connect to a peer that came late");
	expect_sync(h, 2, 1, "no PORT_OPEN 1 once the peer came");
	expect_sync(h, 3, 0, "no sync 3");
	TEST_ASSERT(read(cfd, buf, 4) == 4 && !memcmp(buf, "ping", 4),
		    "peer got '%.4s', expected ping (output while disconnected is dropped)", buf);

	close(cfd);
	expect_sync(h, 4, 0, "no PORT_OPEN 0 when the peer went");
	expect_sync(h, 5, 0, "the guest blocked after the peer went");
	cfd = accept_within(lfd, 6000);
	TEST_ASSERT(cfd >= 0, "the VMM did not reconnect after the peer went away");
	expect_sync(h, 6, 1, "no PORT_OPEN 1 after reconnecting");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	TEST_ASSERT(read(cfd, buf, 4) == 4 && !memcmp(buf, "back", 4),
		    "peer got '%.4s', expected back", buf);
	TEST_ASSERT(harness_log_contains(h, "went away; reconnecting"), "no log of the loss");
	virtio_console_free(vc);
	harness_free(h);
	close(cfd);
	close(lfd);
	unlink(sa.sun_path);
	printf("ok: virtio-console port reconnects to a late peer and after it went away; "
	       "the guest is told and never blocks; output meanwhile is dropped\n");
}

static void test_rng(int bad)
{
	struct virtio_rng *rng;
	struct harness *h;
	struct ucall uc;

	hostile = bad;
	h = harness_new(16);
	TEST_ASSERT(virtio_rng_new(&h->vm, h->pci, &rng) == 0, "virtio_rng_new");
	harness_start(h, guest_rng);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC, "no sync");
	if (bad) {
		TEST_ASSERT(uc.args[1] == 1, "readable entropy buffer not refused");
		TEST_ASSERT(
			harness_log_contains(h, "entropy request with a device-readable buffer"),
			"no log line for the bad entropy request");
	} else {
		/* 64 random bytes: the chance of more than 8 zero bytes is negligible. */
		TEST_ASSERT(uc.args[1] >= 56, "only %lu of 64 entropy bytes nonzero",
			    (unsigned long)uc.args[1]);
		TEST_ASSERT(harness_irq_pending(h, VEC_RNG), "no MSI-X interrupt from virtio-rng");
	}
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_rng_free(rng);
	harness_free(h);
	printf(bad ? "ok: virtio-rng refuses a device-readable buffer (NEEDS_RESET)\n" :
		     "ok: virtio-rng filled 64 bytes and interrupted\n");
}

static void test_console(int bad)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct port_config port = { .name = "p1", .path = sa.sun_path };
	struct virtio_console *vc;
	struct harness *h;
	struct ucall uc;
	char buf[8] = { 0 };
	int lfd, cfd;

	hostile = bad;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/pocketvm-vc-%d.sock", getpid());
	unlink(sa.sun_path);
	lfd = listen_on(&sa);
	h = harness_new(16);
	TEST_ASSERT(virtio_console_new(&h->vm, h->pci, NULL, &port, 1, &vc) == 0,
		    "virtio_console_new");
	cfd = accept(lfd, NULL, NULL);
	TEST_ASSERT(cfd >= 0, "the VMM did not connect to the port socket");
	harness_start(h, guest_console);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC, "no sync");
	if (bad) {
		TEST_ASSERT(uc.args[1] == 1, "control message for a missing port not refused");
		TEST_ASSERT(harness_log_contains(h, "control message for port 7 of 2"),
			    "no log line for the bad control message");
	} else {
		TEST_ASSERT(uc.args[1] == ('p' | '1' << 8), "port name 0x%lx, expected \"p1\"",
			    (unsigned long)uc.args[1]);
		TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[0] == 2, "no sync 2");
		TEST_ASSERT(read(cfd, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0,
			    "host socket got '%s', expected ping", buf);
		TEST_ASSERT(write(cfd, "pong", 4) == 4, "write to the port socket");
		TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && !memcmp(&uc.args[1], "pong", 4),
			    "guest did not receive pong");
	}
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_console_free(vc);
	harness_free(h);
	close(cfd);
	close(lfd);
	unlink(sa.sun_path);
	printf(bad ? "ok: virtio-console refuses a control message for a missing port\n" :
		     "ok: virtio-console handshake, port name, ping to host, pong to guest\n");
}

int main(void)
{
	require_kvm();
	test_rng(0);
	test_rng(1);
	test_console(0);
	test_console(1);
	test_console_reconnect();
	return 0;
}
