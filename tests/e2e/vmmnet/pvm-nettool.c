// SPDX-License-Identifier: Apache-2.0
/*
 * pvm-nettool: the small programs the networking scenario runs in the
 * guests and in the phone, built statically so a busybox guest can run it.
 *
 *   tcp-echo ADDR PORT TAG          serve forever: reply "TAG:<line>" per connection
 *   tcp-send ADDR PORT MSG [SEC]    connect, send MSG, print the reply line
 *   guest-send CID PORT MSG [SEC]   AF_VSOCK client, same
 *   guest-listen PORT TAG           AF_VSOCK server, reply "TAG:<line>" per connection
 *   host-listen PATH TAG            unix server (PATH_P of the hybrid vsock)
 *   host-connect PATH PORT MSG      hybrid vsock: "CONNECT PORT", "OK", then MSG
 *   unix-send PATH MSG              one line to a unix socket, print the reply line
 *   tcp-stream ADDR PORT MIB | tcp-sink PORT  throughput: send/receive MIB MiB
 *   rtt ADDR PORT N                 N one-byte round trips to a tcp-echo; prints µs
 *   unix-sink PATH                  unix server that reads and discards (vsock throughput)
 *   vsock-rtt CID PORT N / vsock-stream CID PORT MIB   the same over vsock
 *   tiny-kernel PATH                write a PVH ELF whose kernel is "hlt"
 *
 * Exit status 0 on success, 1 with a message on failure (timeouts included).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "pvm-nettool: %s: %s\n", what, strerror(errno));
	return 1;
}

static void set_timeout(int fd, int sec)
{
	struct timeval tv = { sec, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Reads one line (without its newline) or up to len - 1 bytes. */
static ssize_t read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)n;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* One request/reply on a connected socket. */
static int exchange(int fd, const char *msg)
{
	char reply[512];

	if (dprintf(fd, "%s\n", msg) < 0 || read_line(fd, reply, sizeof(reply)) <= 0)
		return die("no reply");
	printf("%s\n", reply);
	return 0;
}

static void serve_one(int c, const char *tag)
{
	char line[512];

	set_timeout(c, 10);
	while (read_line(c, line, sizeof(line)) > 0)
		if (dprintf(c, "%s:%s\n", tag, line) < 0)
			break;
	close(c);
}

static int serve(int lfd, const char *tag)
{
	signal(SIGCHLD, SIG_IGN);
	if (listen(lfd, 16) < 0)
		return die("listen");
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			continue;
		if (fork() == 0) {
			serve_one(c, tag);
			_exit(0);
		}
		close(c);
	}
}

static int tcp_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

static int tcp_connect(const char *addr, const char *port, int sec)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || tcp_addr(addr, port, &sa))
		return -1;
	set_timeout(fd, sec);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int vsock_connect(const char *cid, const char *port, int sec)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = (unsigned)atoi(cid),
				  .svm_port = (unsigned)atoi(port) };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct timeval tv = { sec, 0 };

	if (fd < 0)
		return -1;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	set_timeout(fd, sec);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int unix_fd(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (do_listen)
		unlink(path);
	if (fd < 0 || (do_listen ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) :
				   connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0)
		return -1;
	return fd;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Sends mib MiB and prints MB/s. */
static int stream(int fd, long mib)
{
	static char buf[65536];
	double t0 = now_us();

	for (long i = 0; i < mib * 16; i++) {
		size_t off = 0;

		while (off < sizeof(buf)) {
			ssize_t n = write(fd, buf + off, sizeof(buf) - off);

			if (n <= 0)
				return die("write");
			off += (size_t)n;
		}
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	printf("throughput_MBps=%.1f\n", mib * 1048576.0 / (now_us() - t0));
	return 0;
}

/* n one-byte round trips against a tcp-echo / guest-listen server (line based). */
static int rtt(int fd, long n)
{
	char line[64];
	double t0 = now_us();

	for (long i = 0; i < n; i++)
		if (write(fd, "x\n", 2) != 2 || read_line(fd, line, sizeof(line)) <= 0)
			return die("round trip");
	printf("rtt_us=%.1f\n", (now_us() - t0) / n);
	return 0;
}

static int sink(int lfd)
{
	static char buf[65536];

	if (listen(lfd, 4) < 0)
		return die("listen");
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			continue;
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
}

static int tiny_kernel(const char *path)
{
	uint8_t img[0x1200] = { 0 };
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	uint32_t note[3] = { 4, 4, 18 }, entry = 0x100000;
	FILE *f = fopen(path, "w");

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = 0x1000,
			      .p_paddr = entry,
			      .p_vaddr = entry,
			      .p_filesz = 3,
			      .p_memsz = 3 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x1100, .p_filesz = 20 };
	memcpy(img + 0x1000, "\xf4\xeb\xfd", 3);
	memcpy(img + 0x1100, note, sizeof(note));
	memcpy(img + 0x110c, "Xen", 4);
	memcpy(img + 0x1110, &entry, 4);
	if (!f || fwrite(img, 1, sizeof(img), f) != sizeof(img) || fclose(f))
		return die(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int sec = 5, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "tcp-echo") && argc == 5) {
		struct sockaddr_in sa;
		int one = 1;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (tcp_addr(argv[2], argv[3], &sa) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("bind");
		return serve(fd, argv[4]);
	}
	if ((!strcmp(cmd, "tcp-send") || !strcmp(cmd, "guest-send")) && argc >= 5) {
		if (argc > 5)
			sec = atoi(argv[5]);
		fd = cmd[0] == 't' ? tcp_connect(argv[2], argv[3], sec) :
				     vsock_connect(argv[2], argv[3], sec);
		if (fd < 0)
			return die("connect");
		return exchange(fd, argv[4]);
	}
	if (!strcmp(cmd, "guest-listen") && argc == 4) {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
					  .svm_cid = VMADDR_CID_ANY,
					  .svm_port = (unsigned)atoi(argv[2]) };

		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("vsock bind");
		return serve(fd, argv[3]);
	}
	if (!strcmp(cmd, "host-listen") && argc == 4) {
		fd = unix_fd(argv[2], true);
		if (fd < 0)
			return die("unix bind");
		return serve(fd, argv[3]);
	}
	if (!strcmp(cmd, "host-connect") && argc == 5) {
		char ok[64];

		fd = unix_fd(argv[2], false);
		if (fd < 0)
			return die("unix connect");
		set_timeout(fd, sec);
		if (dprintf(fd, "CONNECT %s\n", argv[3]) < 0 ||
		    read_line(fd, ok, sizeof(ok)) <= 0 || strncmp(ok, "OK ", 3))
			return die("no OK from the VMM");
		return exchange(fd, argv[4]);
	}
	if (!strcmp(cmd, "unix-send") && argc == 4) {
		fd = unix_fd(argv[2], false);
		if (fd < 0)
			return die("unix connect");
		set_timeout(fd, sec);
		return exchange(fd, argv[3]);
	}
	if ((!strcmp(cmd, "tcp-stream") || !strcmp(cmd, "vsock-stream")) && argc == 5) {
		fd = cmd[0] == 't' ? tcp_connect(argv[2], argv[3], 30) :
				     vsock_connect(argv[2], argv[3], 30);
		return fd < 0 ? die("connect") : stream(fd, atol(argv[4]));
	}
	if ((!strcmp(cmd, "rtt") || !strcmp(cmd, "vsock-rtt")) && argc == 5) {
		fd = cmd[0] == 'r' ? tcp_connect(argv[2], argv[3], 30) :
				     vsock_connect(argv[2], argv[3], 30);
		return fd < 0 ? die("connect") : rtt(fd, atol(argv[4]));
	}
	if (!strcmp(cmd, "tcp-sink") && argc == 3) {
		struct sockaddr_in sa;
		int one = 1;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (tcp_addr("0.0.0.0", argv[2], &sa) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return die("bind");
		return sink(fd);
	}
	if (!strcmp(cmd, "unix-sink") && argc == 3) {
		fd = unix_fd(argv[2], true);
		return fd < 0 ? die("unix bind") : sink(fd);
	}
	if (!strcmp(cmd, "tiny-kernel") && argc == 3)
		return tiny_kernel(argv[2]);
	fprintf(stderr, "usage: see the comment at the top of pvm-nettool.c\n");
	return 2;
}
