// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net backends as the device uses them: guest headers are checked
 * against what was negotiated; the passt framing survives split reads and
 * short writes and stops on a desynchronised stream; a real tap device (in
 * a network namespace of its own) answers the guest's ARP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/net/net_backend.h"

#define ALL_HOST_OFFLOADS                                                 \
	((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) | \
	 (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN))

static void test_vnet_hdr_check(void **state)
{
	struct virtio_net_hdr_v1 h = { 0 };

	assert_null(vnet_hdr_check(&h, 60, 0));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = htole16(34);
	h.csum_offset = htole16(16);
	assert_non_null(vnet_hdr_check(&h, 60, 0)); /* CSUM not negotiated */
	assert_null(vnet_hdr_check(&h, 60, ALL_HOST_OFFLOADS));
	assert_non_null(vnet_hdr_check(&h, 51, ALL_HOST_OFFLOADS)); /* field past the end */
	h.csum_start = htole16(0xffff);
	h.csum_offset = htole16(0xffff);
	assert_non_null(vnet_hdr_check(&h, 60, ALL_HOST_OFFLOADS)); /* no 16-bit wrap */
	h.csum_start = htole16(34);
	h.csum_offset = htole16(16);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = htole16(1448);
	h.hdr_len = htole16(66);
	assert_null(vnet_hdr_check(&h, 9000, ALL_HOST_OFFLOADS));
	assert_non_null(vnet_hdr_check(&h, 9000, 1ull << VIRTIO_NET_F_CSUM));
	h.gso_size = 0;
	assert_non_null(vnet_hdr_check(&h, 9000, ALL_HOST_OFFLOADS));
	h.gso_size = htole16(1448);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_non_null(vnet_hdr_check(&h, 9000, ALL_HOST_OFFLOADS));
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN;
	assert_null(vnet_hdr_check(&h, 9000, ALL_HOST_OFFLOADS));
	h.hdr_len = htole16(9001);
	assert_non_null(vnet_hdr_check(&h, 9000, ALL_HOST_OFFLOADS));
	h = (struct virtio_net_hdr_v1){ .flags = 0x80 };
	assert_non_null(vnet_hdr_check(&h, 60, ALL_HOST_OFFLOADS));
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_ECN };
	assert_non_null(vnet_hdr_check(&h, 60, ALL_HOST_OFFLOADS));
}

static void put_frame(int fd, const uint8_t *frame, uint32_t len, size_t split)
{
	uint8_t buf[4 + 2048];
	uint32_t be = htonl(len);

	memcpy(buf, &be, 4);
	memcpy(buf + 4, frame, len);
	/* In two pieces, cut anywhere: the backend must reassemble. */
	assert_int_equal(write(fd, buf, split), (ssize_t)split);
	assert_int_equal(write(fd, buf + split, 4 + len - split), (ssize_t)(4 + len - split));
}

static ssize_t recv_wait(struct net_backend *nb, void *buf, size_t cap)
{
	struct pollfd p = { .fd = nb->fd, .events = POLLIN };
	ssize_t n;

	for (int i = 0; i < 20; i++) {
		n = nb->ops->recv(nb, buf, cap);
		if (n != 0)
			return n;
		poll(&p, 1, 50);
	}
	return 0;
}

static void test_passt_receive_framing(void **state)
{
	int sv[2];
	struct net_backend *nb;
	uint8_t frame[100], out[2048];
	uint32_t bad = htonl(3);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(net_passt_open_fd(sv[0], &nb), 0);
	assert_int_equal(nb->features, 0);
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	for (size_t split = 1; split < 4 + sizeof(frame); split += 7) {
		put_frame(sv[1], frame, sizeof(frame), split);
		assert_int_equal(recv_wait(nb, out, sizeof(out)), VIRTIO_NET_HDR_SIZE + 100);
		assert_memory_equal(out + VIRTIO_NET_HDR_SIZE, frame, sizeof(frame));
		for (size_t i = 0; i < VIRTIO_NET_HDR_SIZE; i++)
			assert_int_equal(out[i], 0);
	}
	/* Too big for the guest's buffer: dropped, and the next one still arrives. */
	put_frame(sv[1], frame, sizeof(frame), 4);
	put_frame(sv[1], frame, 20, 4);
	assert_int_equal(recv_wait(nb, out, 50), -EMSGSIZE);
	assert_int_equal(recv_wait(nb, out, sizeof(out)), VIRTIO_NET_HDR_SIZE + 20);
	/* A length no frame has: out of sync, the backend stops for good. */
	assert_int_equal(write(sv[1], &bad, 4), 4);
	assert_int_equal(recv_wait(nb, out, sizeof(out)), -EPROTO);
	put_frame(sv[1], frame, sizeof(frame), 4);
	assert_int_equal(recv_wait(nb, out, sizeof(out)), -EPROTO);
	net_backend_close(nb);
	close(sv[1]);
}

static void test_passt_peer_closes(void **state)
{
	int sv[2];
	struct net_backend *nb;
	uint8_t out[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(net_passt_open_fd(sv[0], &nb), 0);
	close(sv[1]);
	assert_int_equal(recv_wait(nb, out, sizeof(out)), -ECONNRESET);
	net_backend_close(nb);
}

static void test_passt_send_strips_header_and_survives_short_writes(void **state)
{
	int sv[2], sndbuf = 4096;
	struct net_backend *nb;
	static uint8_t frame[1500], got[4 + 1500];
	struct virtio_net_hdr_v1 h = { 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { frame, sizeof(frame) } };
	int sent = 0, ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	assert_int_equal(net_passt_open_fd(sv[0], &nb), 0);
	/* Fill the socket until the backend must keep a tail or refuse. */
	for (int i = 0; i < 200; i++) {
		memset(frame, i, sizeof(frame));
		ret = nb->ops->send(nb, iov, 2);
		if (ret == -EAGAIN)
			break;
		assert_int_equal(ret, 0);
		sent++;
	}
	assert_true(sent > 0 && sent < 200);
	/* Drain as the peer: every frame whole and in order, the tail included. */
	for (int i = 0; i < sent; i++) {
		size_t have = 0;
		uint32_t len;

		while (have < sizeof(got)) {
			ssize_t n = read(sv[1], got + have, sizeof(got) - have);
			assert_true(n > 0);
			have += (size_t)n;
			if (have == sizeof(got))
				break;
			nb->ops->flush(nb);
		}
		memcpy(&len, got, 4);
		assert_int_equal(ntohl(len), 1500);
		assert_int_equal(got[4], (uint8_t)i);
		assert_int_equal(got[4 + 1499], (uint8_t)i);
	}
	/* Runts and oversized frames never reach passt. */
	iov[1].iov_len = 10;
	assert_int_equal(nb->ops->send(nb, iov, 2), -EINVAL);
	net_backend_close(nb);
	close(sv[1]);
}

/* An ARP request from the guest's MAC for 10.9.0.1, asked by 10.9.0.2. */
static size_t arp_request(uint8_t *f)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	size_t n = 0;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	n = 14;
	const uint8_t arp[] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	memcpy(f + n, arp, sizeof(arp));
	n += sizeof(arp);
	memcpy(f + n, mac, 6);
	n += 6;
	const uint8_t spa[4] = { 10, 9, 0, 2 }, tpa[4] = { 10, 9, 0, 1 };
	memcpy(f + n, spa, 4);
	n += 4;
	memset(f + n, 0, 6);
	n += 6;
	memcpy(f + n, tpa, 4);
	n += 4;
	memset(f + n, 0, 60 - n);
	return 60;
}

/* In a child with its own network namespace: a tap answers the guest's ARP. */
static int tap_child(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	struct net_backend *nb;
	struct virtio_net_hdr_v1 h = { 0 };
	uint8_t frame[60], out[2048];
	struct iovec iov[2] = { { &h, sizeof(h) }, { frame, 0 } };
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return 10;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	strcpy(ifr.ifr_name, "pvmtap0");
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return 11;
	if (system("ip addr add 10.9.0.1/24 dev pvmtap0 && ip link set pvmtap0 up") != 0)
		return 12;
	if (net_tap_open_fd(fd, &nb))
		return 13;
	if (!(nb->features & (1ull << VIRTIO_NET_F_GUEST_TSO4)) ||
	    !(nb->features & (1ull << VIRTIO_NET_F_CSUM)))
		return 14;
	if (nb->ops->set_features(nb, nb->features))
		return 15;
	iov[1].iov_len = arp_request(frame);
	if (nb->ops->send(nb, iov, 2))
		return 16;
	for (int i = 0; i < 40; i++) {
		ssize_t n = recv_wait(nb, out, sizeof(out));
		const uint8_t *f = out + VIRTIO_NET_HDR_SIZE;

		if (n < 0)
			return 17;
		/* An ARP reply (op 2) from 10.9.0.1 to our MAC. */
		if (n >= (ssize_t)(VIRTIO_NET_HDR_SIZE + 42) && f[12] == 8 && f[13] == 6 &&
		    f[21] == 2 && memcmp(f + 28, "\x0a\x09\x00\x01", 4) == 0 &&
		    memcmp(f, frame + 6, 6) == 0) {
			net_backend_close(nb);
			return 0;
		}
	}
	return 18;
}

static void test_tap_answers_arp(void **state)
{
	pid_t pid;
	int status;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("SKIP: the tap test needs root and /dev/net/tun\n");
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

static void test_tap_refuses_wrong_fds(void **state)
{
	struct net_backend *nb;
	int fd = open("/dev/null", O_RDWR);

	assert_true(net_tap_open_fd(fd, &nb) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vnet_hdr_check),
		cmocka_unit_test(test_passt_receive_framing),
		cmocka_unit_test(test_passt_peer_closes),
		cmocka_unit_test(test_passt_send_strips_header_and_survives_short_writes),
		cmocka_unit_test(test_tap_answers_arp),
		cmocka_unit_test(test_tap_refuses_wrong_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
