// SPDX-License-Identifier: Apache-2.0
/*
 * The pocketvm-vmm executable end to end on the host's /dev/kvm, with tiny
 * PVH kernels written by this test: a 32-bit entry that prints "OK" on the
 * UART (COM1) and then powers off through the ACPI sleep register, resets
 * through the ACPI reset register or the i8042, or triple-faults. Checks
 * the console output and the documented exit statuses (0 poweroff,
 * 3 reboot, 4 panic, 5 stopped by SIGTERM), and the precise errors for a bad kernel or bad options.
 * A stop signal presses the ACPI power button: a guest that answers it (reads
 * the GED event register, then writes S5) ends with 0; one that does not is
 * stopped with 5 when --shutdown-grace runs out, or at once on a second signal.
 */
#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "disk/create.h"
#include "lib/kvm_util.h"

#define ENTRY 0x100000u

/* mov dx, 0x3f8; mov al, 'O'; out dx, al; mov al, 'K'; out; mov al, '\n'; out */
static const uint8_t hello[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, 'O', 0xee,
				 0xb0, 'K',  0xee, 0xb0, '\n', 0xee };
static const uint8_t poweroff[] = { 0x66, 0xba, 0x00, 0x06, 0xb0, 0x34, 0xee, 0xf4, 0xeb, 0xfd };
static const uint8_t acpi_reset[] = { 0x66, 0xba, 0x02, 0x06, 0xb0, 0x01, 0xee, 0xf4, 0xeb, 0xfd };
static const uint8_t kbd_reset[] = { 0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd };
static const uint8_t triple[] = { 0x0f, 0x0b }; /* ud2 with no IDT */
/* Wait for a received byte, then print 20000 dots, power off. */
static const uint8_t flood[] = { 0x66, 0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb,
				 0xb9, 0x20, 0x4e, 0x00, 0x00, 0x66, 0xba, 0xf8, 0x03,
				 0xb0, 0x2e, 0xee, 0x49, 0x75, 0xfa, 0x66, 0xba, 0x00,
				 0x06, 0xb0, 0x34, 0xee, 0xf4, 0xeb, 0xfd };

/*
 * The pvpanic PCI device at 00:02.0 (with --no-rng and no disks: console at
 * 00:01.0, BAR 0xc0000000; pvpanic's BAR follows at 0xc0008000): enable
 * memory decoding, then report PVPANIC_PANICKED as a panicking kernel does.
 */
static const uint8_t panic_code[] = {
	0x66, 0xba, 0xf8, 0x0c, 0xb8, 0x04, 0x10, 0x00, 0x80, 0xef, /* cf8 <- 00:02.0 reg 4 */
	0x66, 0xba, 0xfc, 0x0c, 0xb8, 0x06, 0x00, 0x00, 0x00, 0xef, /* command = mem | master */
	0xc6, 0x05, 0x00, 0x80, 0x00, 0xc0, 0x01, /* mov byte [0xc0008000], 1 */
	0xf4, 0xeb, 0xfd,
};
/*
 * Poll the GED event register (port 0x604) until an event arrives, print it
 * as a digit, power off: what a guest's _EVT and acpid do, in ten instructions.
 */
static const uint8_t answer_button[] = {
	0x66, 0xba, 0x04, 0x06, 0xed, 0x85, 0xc0, 0x74, 0xf7, /* poll: in eax, 0x604; jz */
	0x04, 0x30, 0x66, 0xba, 0xf8, 0x03, 0xee, /* add al, '0'; out 0x3f8 */
	0x66, 0xba, 0x00, 0x06, 0xb0, 0x34, 0xee, 0xf4, 0xeb, 0xfd, /* S5 */
};
static const uint8_t idle[] = { 0xf4, 0xeb, 0xfd }; /* hlt; jmp hlt: no ACPI at all */

/* Wait for a received byte (LSR.DR), echo it, power off. */
static const uint8_t echo[] = { 0x66, 0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb,
				0x66, 0xba, 0xf8, 0x03, 0xec, 0xee, 0x66, 0xba, 0x00,
				0x06, 0xb0, 0x34, 0xee, 0xf4, 0xeb, 0xfd };

static const char *vmm_path(void)
{
	static char path[512];
	const char *b = getenv("POCKETVM_BUILD");

	snprintf(path, sizeof(path), "%s/src/vmm/pocketvm-vmm", b ? b : "build");
	return path;
}

/*
 * An ELF64 executable: one PT_LOAD with code at ENTRY (the "OK" prologue
 * unless bare, then tail), one PT_NOTE with the PVH entry.
 */
static void write_kernel_code(const char *path, const uint8_t *tail, size_t tail_len, bool bare)
{
	uint8_t code[64], note[20];
	uint32_t n[3] = { 4, 4, 18 }, entry = ENTRY;
	size_t pro = bare ? 0 : sizeof(hello), code_len = pro + tail_len;
	Elf64_Ehdr eh = { .e_type = ET_EXEC,
			  .e_machine = EM_X86_64,
			  .e_version = EV_CURRENT,
			  .e_entry = ENTRY,
			  .e_phoff = sizeof(Elf64_Ehdr),
			  .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr),
			  .e_phnum = 2 };
	Elf64_Phdr ph[2] = { 0 };
	size_t off = sizeof(eh) + sizeof(ph);
	FILE *f = fopen(path, "wb");

	TEST_ASSERT(f && code_len <= sizeof(code), "cannot write %s", path);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(code, hello, pro);
	memcpy(code + pro, tail, tail_len);
	memcpy(note, n, sizeof(n));
	memcpy(note + 12, "Xen", 4);
	memcpy(note + 16, &entry, 4);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = off,
			      .p_vaddr = ENTRY,
			      .p_paddr = ENTRY,
			      .p_filesz = code_len,
			      .p_memsz = code_len,
			      .p_align = 16 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE,
			      .p_offset = off + code_len,
			      .p_filesz = sizeof(note),
			      .p_memsz = sizeof(note),
			      .p_align = 4 };
	fwrite(&eh, sizeof(eh), 1, f);
	fwrite(ph, sizeof(ph), 1, f);
	fwrite(code, code_len, 1, f);
	fwrite(note, sizeof(note), 1, f);
	fclose(f);
}

static void write_kernel(const char *path, const uint8_t *tail, size_t tail_len)
{
	write_kernel_code(path, tail, tail_len, false);
}

/* An fd the next VMM run inherits as fd KEY_FD (-1: none). */
#define KEY_FD 10
static int pass_fd = -1;
/* What the next VMM run gets as stdin (NULL: /dev/null). */
static const char *stdin_path;

/* Reads fd to EOF into buf (NUL-terminated, truncated to len - 1). */
static void read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, len - 1 - got)) > 0 && got + (size_t)n < len - 1)
		got += (size_t)n;
	if (n > 0)
		got += (size_t)n;
	buf[got] = 0;
}

/* Runs the VMM with args; returns its exit status, stdout and stderr in out/err. */
static int run_vmm(char *const extra[], char *out, size_t outlen, char *err, size_t errlen)
{
	char *argv[16] = { (char *)vmm_path() };
	int po[2], pe[2], status;
	pid_t pid;
	int i;

	for (i = 0; extra[i] && i < 14; i++)
		argv[i + 1] = extra[i];
	TEST_ASSERT(pipe(po) == 0 && pipe(pe) == 0, "pipe");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);

		dup2(in, 0);
		alarm(20); /* a VMM that never ends fails the test, not hangs it */
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (pass_fd >= 0)
			dup2(pass_fd, KEY_FD);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	read_all(po[0], out, outlen);
	read_all(pe[0], err, errlen);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	close(po[0]);
	close(pe[0]);
	TEST_ASSERT(WIFEXITED(status), "VMM died with signal %d; stderr: %s", WTERMSIG(status),
		    err);
	return WEXITSTATUS(status);
}

static void check_kernel(const char *kpath, const uint8_t *tail, size_t len, int want,
			 const char *what)
{
	char out[256], err[1024];
	char *args[] = { "--kernel", (char *)kpath, "--cpus", "2", "--mem", "32", NULL };
	int rc;

	write_kernel(kpath, tail, len);
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == want, "%s: exit status %d, expected %d; stderr: %s", what, rc, want, err);
	TEST_ASSERT(strcmp(out, "OK\n") == 0, "%s: console printed '%s', expected 'OK'", what, out);
	printf("ok: %s -> exit %d, console \"OK\"\n", what, rc);
}

/*
 * stdin that epoll refuses: /dev/null is EOF, a regular file is typed into
 * the UART as the guest takes it; a directory is one clear error.
 */
static void check_stdin(const char *kpath)
{
	char in[] = "/tmp/pocketvm-stdin-XXXXXX", out[256], err[1024];
	char *args[] = { "--kernel", (char *)kpath, NULL };
	int fd = mkstemp(in), rc;

	TEST_ASSERT(fd >= 0 && write(fd, "Q", 1) == 1, "stdin file");
	close(fd);
	write_kernel(kpath, poweroff, sizeof(poweroff));
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == 0 && !strcmp(out, "OK\n"), "</dev/null: status %d, out '%s', stderr %s",
		    rc, out, err);
	write_kernel_code(kpath, echo, sizeof(echo), true);
	stdin_path = in;
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == 0 && !strcmp(out, "Q"), "<file: status %d, echo '%s', stderr %s", rc, out,
		    err);
	stdin_path = "/tmp";
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == 1 && strstr(err, "console: stdin cannot be read (it is a directory)"),
		    "<dir: status %d, stderr %s", rc, err);
	stdin_path = NULL;
	unlink(in);
	printf("ok: stdin /dev/null runs the VM, a file's bytes reach the guest, "
	       "a directory is refused: %s",
	       err);
}

/* --console socket=PATH: a client's byte reaches the UART and the echo comes back. */
static void check_socket_console(const char *kpath)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char opt[sizeof(sa.sun_path) + 16], c = 0;
	int fd = -1, status;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/pocketvm-console-%d.sock", getpid());
	snprintf(opt, sizeof(opt), "socket=%s", sa.sun_path);
	write_kernel_code(kpath, echo, sizeof(echo), true);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		execl(vmm_path(), vmm_path(), "--kernel", kpath, "--console", opt, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	TEST_ASSERT(fd >= 0, "the VMM never listened on %s", sa.sun_path);
	TEST_ASSERT(write(fd, "Z", 1) == 1, "write to the console socket");
	TEST_ASSERT(read(fd, &c, 1) == 1 && c == 'Z', "console echo '%c', expected 'Z'", c);
	close(fd);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
		    "VMM with a socket console did not power off cleanly");
	TEST_ASSERT(access(sa.sun_path, F_OK) != 0, "console socket left behind");

	/* A client that hangs up while the guest is printing: the VM lives on. */
	write_kernel_code(kpath, flood, sizeof(flood), true);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		execl(vmm_path(), vmm_path(), "--kernel", kpath, "--console", opt, (char *)NULL);
		_exit(127);
	}
	fd = -1;
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	TEST_ASSERT(fd >= 0 && write(fd, "Y", 1) == 1, "second console client");
	TEST_ASSERT(read(fd, &c, 1) == 1 && c == '.', "no output before hanging up");
	close(fd);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
		    "VMM died when its console client hung up (status 0x%x)", status);
	printf("ok: socket console: a byte typed by the client reached the UART and came back; "
	       "a client hanging up costs only its output\n");

	/* On stdio, a reader that goes away (| head -c1) must not kill the VM either. */
	{
		int p[2];

		write_kernel_code(kpath, flood + 9, sizeof(flood) - 9, true);
		TEST_ASSERT(pipe(p) == 0, "pipe");
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		if (pid == 0) {
			dup2(p[1], 1);
			close(p[0]);
			execl(vmm_path(), vmm_path(), "--kernel", kpath, (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		TEST_ASSERT(read(p[0], &c, 1) == 1 && c == '.', "no console output on stdout");
		close(p[0]);
		TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
				    !WEXITSTATUS(status),
			    "VMM died when its stdout reader went away (status 0x%x)", status);
		printf("ok: stdio console: a reader that goes away costs only the output\n");
	}
}

/*
 * SIGTERM stops a VMM that is pid 1 of its own pid namespace (as pocketvmd
 * runs it, where a signal without a handler would be dropped) with status 5.
 */
static void check_stop_signal(const char *kpath)
{
	char out[8] = "", err[1024];
	int po[2], pe[2], pp[2], status;
	pid_t mid, vmm = 0;

	write_kernel(kpath, idle, sizeof(idle));
	TEST_ASSERT(pipe(po) == 0 && pipe(pe) == 0 && pipe(pp) == 0, "pipe");
	mid = fork();
	TEST_ASSERT(mid >= 0, "fork");
	if (mid == 0) {
		pid_t pid;

		if (unshare(CLONE_NEWPID) < 0)
			_exit(126);
		pid = fork();
		if (pid == 0) {
			dup2(po[1], 1);
			dup2(pe[1], 2);
			execl(vmm_path(), vmm_path(), "--kernel", kpath, "--shutdown-grace", "0",
			      (char *)NULL);
			_exit(127);
		}
		if (write(pp[1], &pid, sizeof(pid)) != sizeof(pid) ||
		    waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			_exit(125);
		_exit(WEXITSTATUS(status));
	}
	close(po[1]);
	close(pe[1]);
	close(pp[1]);
	TEST_ASSERT(read(pp[0], &vmm, sizeof(vmm)) == sizeof(vmm), "no VMM pid");
	for (size_t got = 0; got < 3;) {
		ssize_t n = read(po[0], out + got, 3 - got);

		TEST_ASSERT(n > 0, "the guest did not start");
		got += (size_t)n;
	}
	TEST_ASSERT(!memcmp(out, "OK\n", 3), "the guest printed '%.3s'", out);
	TEST_ASSERT(kill(vmm, SIGTERM) == 0, "kill");
	read_all(pe[0], err, sizeof(err));
	TEST_ASSERT(waitpid(mid, &status, 0) == mid && WIFEXITED(status), "waitpid");
	TEST_ASSERT(WEXITSTATUS(status) == 5 && strstr(err, "stopped by signal 15"),
		    "SIGTERM to the VMM as pid 1: status %d, stderr %s", WEXITSTATUS(status), err);
	close(po[0]);
	close(pe[0]);
	close(pp[0]);
	printf("ok: SIGTERM stops a VMM that is pid 1 of its namespace (--shutdown-grace 0): "
	       "exit 5\n");
}

/* Milliseconds: no floating point here (built with -mgeneral-regs-only). */
static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stop_run {
	const uint8_t *code; /* after the "OK" prologue */
	size_t len;
	const char *grace; /* --shutdown-grace, or NULL for the default */
	bool jail;
	bool launcher; /* started through pocketvm-jail (pid 1 of a new pid namespace) */
	bool second_signal; /* SIGINT 0.5 s after the SIGTERM */
	int status;
	long ms; /* from the first signal to the VMM's exit */
	char out[64];
	char err[2048];
};

/* Boots r->code, sends SIGTERM once the guest printed "OK" (and SIGINT later), waits. */
static void stop_vmm(const char *kpath, struct stop_run *r)
{
	static char jail_path[512];
	char *argv[16];
	int po[2], pe[2], status, n = 0;
	size_t got = 0;
	long t0;
	pid_t pid;

	if (r->launcher) {
		snprintf(jail_path, sizeof(jail_path), "%s", vmm_path());
		strcpy(strrchr(jail_path, '/'), "/pocketvm-jail");
		argv[n++] = jail_path;
		argv[n++] = "--env";
		argv[n++] = "ASAN_OPTIONS=detect_leaks=0";
		argv[n++] = "--";
	}
	argv[n++] = (char *)vmm_path();
	argv[n++] = "--kernel";
	argv[n++] = (char *)kpath;
	argv[n++] = "--mem";
	argv[n++] = "32";

	if (r->grace) {
		argv[n++] = "--shutdown-grace";
		argv[n++] = (char *)r->grace;
	}
	if (r->jail)
		argv[n++] = "--jail";
	argv[n] = NULL;
	write_kernel(kpath, r->code, r->len);
	TEST_ASSERT(pipe(po) == 0 && pipe(pe) == 0, "pipe");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		alarm(60);
		dup2(in, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (got < 3) {
		ssize_t k = read(po[0], r->out + got, 3 - got);

		TEST_ASSERT(k > 0, "the guest did not start");
		got += (size_t)k;
	}
	TEST_ASSERT(!memcmp(r->out, "OK\n", 3), "the guest printed '%.3s'", r->out);
	t0 = now_ms();
	TEST_ASSERT(kill(pid, SIGTERM) == 0, "kill");
	if (r->second_signal) {
		usleep(500000);
		TEST_ASSERT(kill(pid, SIGINT) == 0, "kill");
	}
	read_all(po[0], r->out + 3, sizeof(r->out) - 3);
	read_all(pe[0], r->err, sizeof(r->err));
	TEST_ASSERT(waitpid(pid, &status, 0) == pid, "waitpid");
	r->ms = now_ms() - t0;
	close(po[0]);
	close(pe[0]);
	TEST_ASSERT(WIFEXITED(status), "VMM died of signal %d; stderr: %s", WTERMSIG(status),
		    r->err);
	r->status = WEXITSTATUS(status);
}

/*
 * Graceful stop: SIGTERM presses the power button. A guest that reads the
 * event register (it shows the power button, bit 0) and writes S5 ends the
 * VMM with 0; a guest that ignores it is stopped with 5 when the grace ends,
 * or at once on a second signal.
 */
static void check_graceful_stop(const char *kpath)
{
	struct stop_run r = { .code = answer_button, .len = sizeof(answer_button) };

	stop_vmm(kpath, &r);
	TEST_ASSERT(r.status == 0 && !strcmp(r.out, "OK\n1") &&
			    strstr(r.err, "pressed the guest's power button; it has 20 s") &&
			    strstr(r.err, "the guest took the power button event") &&
			    strstr(r.err, "guest powered off, ") && r.ms < 10000,
		    "answering guest: status %d after %ld ms, console '%s', stderr %s", r.status,
		    r.ms, r.out, r.err);
	printf("ok: SIGTERM pressed the power button, the guest read event 1 and powered off: "
	       "exit 0 after %ld ms\n",
	       r.ms);

	if (geteuid() == 0) {
		r = (struct stop_run){ .code = answer_button,
				       .len = sizeof(answer_button),
				       .jail = true };
		stop_vmm(kpath, &r);
		TEST_ASSERT(r.status == 0 && !strcmp(r.out, "OK\n1") &&
				    strstr(r.err, "jail: confined"),
			    "answering guest, jailed: status %d, console '%s', stderr %s", r.status,
			    r.out, r.err);
		printf("ok: the same in the jail (seccomp allowlists): exit 0\n");
	} else {
		printf("note: not root: the jailed runs are left out\n");
	}

	r = (struct stop_run){ .code = idle, .len = sizeof(idle), .grace = "1" };
	stop_vmm(kpath, &r);
	TEST_ASSERT(r.status == 5 && r.ms >= 900 && r.ms < 8000 &&
			    strstr(r.err, "did not power off within 1 s of the power button"),
		    "ignoring guest, grace 1: status %d after %ld ms, stderr %s", r.status, r.ms,
		    r.err);
	printf("ok: a guest that ignores the button is stopped when the 1 s grace ends: exit 5 "
	       "after %ld ms\n",
	       r.ms);

	if (geteuid() == 0) {
		/* pocketvm-jail passes the second signal on (the VMM flushes), not SIGKILL. */
		r = (struct stop_run){ .code = idle,
				       .len = sizeof(idle),
				       .jail = true,
				       .launcher = true,
				       .second_signal = true };
		stop_vmm(kpath, &r);
		TEST_ASSERT(r.status == 5 && strstr(r.err, "a second request"),
			    "second signal through pocketvm-jail: status %d, stderr %s", r.status,
			    r.err);
		printf("ok: through pocketvm-jail, a second signal is passed on: the VMM stops "
		       "the guest and flushes (exit 5, not a SIGKILL)\n");
		r = (struct stop_run){
			.code = idle, .len = sizeof(idle), .jail = true, .grace = "1"
		};
		stop_vmm(kpath, &r);
		TEST_ASSERT(r.status == 5 && strstr(r.err, "did not power off within 1 s"),
			    "ignoring guest, jailed: status %d, stderr %s", r.status, r.err);
		printf("ok: the same in the jail: exit 5\n");
	}

	r = (struct stop_run){ .code = idle, .len = sizeof(idle), .second_signal = true };
	stop_vmm(kpath, &r);
	TEST_ASSERT(r.status == 5 && r.ms >= 400 && r.ms < 8000 &&
			    strstr(r.err, "pressed the guest's power button") &&
			    strstr(r.err, "stopped by signal 2") &&
			    strstr(r.err, "a second request"),
		    "second signal: status %d after %ld ms, stderr %s", r.status, r.ms, r.err);
	printf("ok: a second signal during the 20 s grace stops the guest at once: exit 5 after "
	       "%ld ms\n",
	       r.ms);

	r = (struct stop_run){ .code = answer_button, .len = sizeof(answer_button), .grace = "0" };
	stop_vmm(kpath, &r);
	TEST_ASSERT(r.status == 5 && !strcmp(r.out, "OK\n") && !strstr(r.err, "power button") &&
			    strstr(r.err, "stopped by signal 15"),
		    "grace 0: status %d, console '%s', stderr %s", r.status, r.out, r.err);
	printf("ok: --shutdown-grace 0 stops at once without pressing the button: exit 5\n");
}

/* A pipe holding a 32-byte key filled with fill, for --disk ...,key-fd=10. */
static int key_pipe(uint8_t fill)
{
	uint8_t key[IMAGE_DEK_LEN];
	int p[2];

	memset(key, fill, sizeof(key));
	TEST_ASSERT(pipe(p) == 0 && write(p[1], key, sizeof(key)) == sizeof(key), "key pipe");
	close(p[1]);
	return p[0];
}

/* --disk PATH,key-fd=N: the right key boots, a wrong one is refused precisely. */
static void check_encrypted_disk(const char *kpath)
{
	char img[] = "/tmp/pocketvm-exec-crypt.XXXXXX", spec[64], out[256], err[1024];
	uint8_t uuid[IMAGE_UUID_LEN];
	struct secret *dek;
	int fd = mkstemp(img), rc;
	char *args[] = { "--kernel", (char *)kpath, "--disk", spec, NULL };

	TEST_ASSERT(fd >= 0 && secret_new(IMAGE_DEK_LEN, &dek) == 0, "setup");
	memset(dek->data, 0x5a, IMAGE_DEK_LEN);
	TEST_ASSERT(image_new_uuid(uuid) == 0 &&
			    image_create(fd, 1 << 20, uuid, dek, NULL, NULL, 1) == 0,
		    "image_create");
	close(fd);
	secret_free(dek);
	snprintf(spec, sizeof(spec), "%s,key-fd=%d", img, KEY_FD);
	write_kernel(kpath, poweroff, sizeof(poweroff));
	pass_fd = key_pipe(0x5a);
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	close(pass_fd);
	TEST_ASSERT(rc == 0, "encrypted disk with the right key: status %d, %s", rc, err);
	pass_fd = key_pipe(0x11);
	rc = run_vmm(args, out, sizeof(out), err, sizeof(err));
	close(pass_fd);
	pass_fd = -1;
	TEST_ASSERT(rc == 1 && strstr(err, "wrong key or tampered header"),
		    "encrypted disk with a wrong key: status %d, %s", rc, err);
	unlink(img);
	printf("ok: encrypted disk via key-fd: right key boots, wrong key refused: %s", err);
}

int main(void)
{
	char kpath[] = "/tmp/pocketvm-tiny-kernel.XXXXXX";
	char out[256], err[1024];
	int fd, rc;

	require_kvm();
	TEST_ASSERT(access(vmm_path(), X_OK) == 0, "no VMM at %s", vmm_path());
	fd = mkstemp(kpath);
	TEST_ASSERT(fd >= 0, "mkstemp");
	close(fd);
	check_kernel(kpath, poweroff, sizeof(poweroff), 0, "ACPI S5 power-off");
	check_kernel(kpath, acpi_reset, sizeof(acpi_reset), 3, "ACPI reset register");
	check_kernel(kpath, kbd_reset, sizeof(kbd_reset), 3, "i8042 reset");
	check_kernel(kpath, triple, sizeof(triple), 3, "triple fault");
	check_socket_console(kpath);
	check_stop_signal(kpath);
	check_graceful_stop(kpath);
	check_stdin(kpath);
	write_kernel(kpath, panic_code, sizeof(panic_code));
	rc = run_vmm((char *[]){ "--kernel", kpath, "--no-rng", NULL }, out, sizeof(out), err,
		     sizeof(err));
	TEST_ASSERT(rc == 4 && strstr(err, "guest kernel panicked (pvpanic)"),
		    "pvpanic: status %d, stderr %s", rc, err);
	printf("ok: a guest panic reported through pvpanic ends the VMM with status 4\n");
	check_encrypted_disk(kpath);

	/* Not a kernel: one precise error, status 1. */
	fd = open(kpath, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0 && write(fd, "just text, no kernel here", 25) == 25, "write");
	close(fd);
	rc = run_vmm((char *[]){ "--kernel", kpath, NULL }, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == 1 && strstr(err, "not a bzImage (no HdrS setup header)"),
		    "bad kernel: status %d, stderr %s", rc, err);
	printf("ok: a file that is no kernel is refused: %s", err);
	rc = run_vmm((char *[]){ "--kernel", kpath, "--disk", "x,rw", NULL }, out, sizeof(out), err,
		     sizeof(err));
	TEST_ASSERT(rc == 2 && strstr(err, "--disk: unknown setting 'rw'"),
		    "bad option: status %d, stderr %s", rc, err);
	rc = run_vmm((char *[]){ "--mem", "64", NULL }, out, sizeof(out), err, sizeof(err));
	TEST_ASSERT(rc == 2 && strstr(err, "no kernel given"), "no kernel: status %d, %s", rc, err);
	printf("ok: bad options give one precise error and status 2\n");
	unlink(kpath);
	return 0;
}
