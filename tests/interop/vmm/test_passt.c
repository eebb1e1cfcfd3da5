// SPDX-License-Identifier: Apache-2.0
/*
 * The passt backend against Debian's real passt: passt is started on one
 * end of a socketpair (its --fd mode, as a launcher would), the guest's
 * side sends an ARP request for the gateway, and passt's ARP reply comes
 * back through the backend as a whole frame with a virtio-net header.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/net/net_backend.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static size_t arp_for_gateway(uint8_t *f)
{
	static const uint8_t arp[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	static const uint8_t spa[4] = { 10, 0, 2, 15 }, tpa[4] = { 10, 0, 2, 2 };

	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, arp, 8);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, spa, 4);
	memcpy(f + 38, tpa, 4);
	return 60;
}

static pid_t start_passt(int fd)
{
	char fdstr[16];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	snprintf(fdstr, sizeof(fdstr), "%d", fd);
	/* Keep fd across exec; silence passt's syslog attempts. */
	fcntl(fd, F_SETFD, 0);
	if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
		_exit(126);
	execlp("passt", "passt", "--foreground", "--quiet", "--fd", fdstr, "--address", "10.0.2.15",
	       "--netmask", "24", "--gateway", "10.0.2.2", (char *)NULL);
	_exit(127);
}

int main(void)
{
	struct virtio_net_hdr_v1 h = { 0 };
	uint8_t frame[60], out[NET_MAX_FRAME + VIRTIO_NET_HDR_SIZE];
	struct iovec iov[2] = { { &h, sizeof(h) }, { frame, 0 } };
	struct net_backend *nb;
	int sv[2], status, ok = 0;
	pid_t pid;

	if (system("command -v passt >/dev/null") != 0) {
		printf("SKIP: passt is not installed\n");
		return 77;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	pid = start_passt(sv[1]);
	close(sv[1]);
	if (net_passt_open_fd(sv[0], &nb))
		return 1;
	iov[1].iov_len = arp_for_gateway(frame);
	/* passt reads its end once it is set up; the socket buffers until then. */
	if (nb->ops->send(nb, iov, 2)) {
		fprintf(stderr, "FAIL: could not send the ARP request\n");
		goto out;
	}
	for (int i = 0; i < 100 && !ok; i++) {
		struct pollfd p = { .fd = nb->fd, .events = POLLIN };
		ssize_t n = nb->ops->recv(nb, out, sizeof(out));
		const uint8_t *f = out + VIRTIO_NET_HDR_SIZE;

		if (n < 0) {
			fprintf(stderr, "FAIL: backend error %s\n", strerror((int)-n));
			goto out;
		}
		if (n >= (ssize_t)(VIRTIO_NET_HDR_SIZE + 42) && f[12] == 8 && f[13] == 6 &&
		    f[21] == 2 && memcmp(f, guest_mac, 6) == 0 &&
		    memcmp(f + 28, "\x0a\x00\x02\x02", 4) == 0)
			ok = 1;
		else if (n == 0)
			poll(&p, 1, 100);
	}
	if (ok)
		printf("ok: passt answered the guest's ARP for 10.0.2.2 through the backend\n");
	else
		fprintf(stderr, "FAIL: no ARP reply from passt within 10 s\n");
out:
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	net_backend_close(nb);
	return ok ? 0 : 1;
}
