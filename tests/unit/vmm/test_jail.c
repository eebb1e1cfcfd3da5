// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-vmm in its jail, checked from outside as an auditor would: two
 * VMMs started through pocketvm-jail with a tiny guest (hlt), their passt
 * backend passed as an fd. /proc/PID/status of each (every thread) shows
 * Seccomp 2, NoNewPrivs 1, uid 65534 and no capabilities; its namespaces
 * differ from ours and its root is empty; it still serves its balloon
 * control socket. The one started with --jail-selftest attempts open() and
 * dies of SIGSYS while the other keeps running and answering; SIGTERM then
 * presses its power button and, unanswered, stops it after its 1 s grace
 * (status 5: the timer and the GED line within the allowlists).
 *
 * Needs root, /dev/kvm and the built pocketvm-vmm / pocketvm-jail
 * (POCKETVM_BUILD); skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/unixsock.h"

static char dir[64], vmm[512], jail[512], kernel[128], poweroff_kernel[128];

/*
 * A PVH ELF whose whole kernel is "hlt; jmp back" (the vCPU sleeps in KVM),
 * or with poweroff, an ACPI S5 request first (out 0x34 to port 0x600).
 */
static void write_tiny_kernel(const char *path, bool poweroff)
{
	uint8_t img[0x1200] = { 0 };
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	static const uint8_t halt[] = { 0xf4, 0xeb, 0xfd };
	static const uint8_t off[] = { 0x66, 0xba, 0x00, 0x06, 0xb0, 0x34, 0xee, 0xf4, 0xeb, 0xfd };
	const uint8_t *code = poweroff ? off : halt;
	size_t code_len = poweroff ? sizeof(off) : sizeof(halt);
	uint32_t note[3] = { 4, 4, 18 }, entry = 0x100000;
	FILE *f;

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = 0x1000,
			      .p_vaddr = entry,
			      .p_paddr = entry,
			      .p_filesz = code_len,
			      .p_memsz = code_len,
			      .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x1100, .p_filesz = 20, .p_align = 4 };
	memcpy(img + 0x1000, code, code_len);
	memcpy(img + 0x1100, note, sizeof(note));
	memcpy(img + 0x110c, "Xen", 4);
	memcpy(img + 0x1110, &entry, 4);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, sizeof(img), f), sizeof(img));
	fclose(f);
}

struct jailed {
	pid_t launcher;
	pid_t vmm;
	int passt_peer;
	char ctl[128];
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The value of "Key:" in /proc/PID[/task/TID]/status, or NULL. */
static char *status_field(const char *status_path, const char *key, char *out, size_t len)
{
	FILE *f = fopen(status_path, "re");
	char line[256];
	size_t kl = strlen(key);

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, len, "%s", v);
			fclose(f);
			return out;
		}
	}
	fclose(f);
	return NULL;
}

static void start_jailed(struct jailed *j, const char *name, bool selftest)
{
	char pidf[128], vsock[128], net[32], buf[96];
	int sv[2];
	FILE *f;

	snprintf(pidf, sizeof(pidf), "%s/%s.pid", dir, name);
	snprintf(vsock, sizeof(vsock), "3,%s/%s-vsock/v.sock", dir, name);
	snprintf(j->ctl, sizeof(j->ctl), "%s/%s.ctl", dir, name);
	snprintf(buf, sizeof(buf), "%s/%s-vsock", dir, name);
	assert_int_equal(mkdir(buf, 0755), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	j->passt_peer = sv[1];
	j->launcher = fork();
	assert_true(j->launcher >= 0);
	if (j->launcher == 0) {
		char *argv[32];
		int n = 0;

		if (sv[0] == 3)
			fcntl(3, F_SETFD, 0);
		else
			dup2(sv[0], 3);
		snprintf(net, sizeof(net), "passt:3");
		argv[n++] = jail;
		argv[n++] = "--fd";
		argv[n++] = "3";
		argv[n++] = "--pid-file";
		argv[n++] = pidf;
		argv[n++] = "--env";
		argv[n++] = "ASAN_OPTIONS=detect_leaks=0";
		argv[n++] = "--";
		argv[n++] = vmm;
		argv[n++] = "--kernel";
		argv[n++] = kernel;
		argv[n++] = "--mem";
		argv[n++] = "32";
		argv[n++] = "--console";
		argv[n++] = "none";
		argv[n++] = "--net";
		argv[n++] = net;
		argv[n++] = "--vsock";
		argv[n++] = vsock;
		argv[n++] = "--balloon-control";
		argv[n++] = j->ctl;
		argv[n++] = "--shutdown-grace";
		argv[n++] = "1";
		argv[n++] = "--jail";
		if (selftest)
			argv[n++] = "--jail-selftest";
		argv[n] = NULL;
		execv(jail, argv);
		_exit(127);
	}
	close(sv[0]);
	/* Wait for the pid file, then for the VMM's event loop to be under seccomp. */
	for (long end = now_ms() + 20000; now_ms() < end; usleep(20000)) {
		char path[64], v[64];

		f = fopen(pidf, "re");
		if (!f)
			continue;
		if (fscanf(f, "%d", &j->vmm) != 1)
			j->vmm = 0;
		fclose(f);
		if (j->vmm <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", j->vmm);
		if (status_field(path, "Seccomp", v, sizeof(v)) && !strcmp(v, "2"))
			return;
		if (waitpid(j->launcher, NULL, WNOHANG) == j->launcher)
			fail_msg("%s: the jailed VMM ended during start-up", name);
	}
	fail_msg("%s: the VMM never reached its seccomp filter", name);
}

static void check_status(const char *path, bool *seen_vcpu)
{
	char v[64];

	assert_non_null(status_field(path, "Seccomp", v, sizeof(v)));
	assert_string_equal(v, "2");
	assert_non_null(status_field(path, "NoNewPrivs", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_non_null(status_field(path, "CapEff", v, sizeof(v)));
	assert_string_equal(v, "0000000000000000");
	assert_non_null(status_field(path, "CapBnd", v, sizeof(v)));
	assert_string_equal(v, "0000000000000000");
	assert_non_null(status_field(path, "Uid", v, sizeof(v)));
	assert_int_equal(strncmp(v, "65534", 5), 0);
	if (status_field(path, "Name", v, sizeof(v)) && !strncmp(v, "vcpu", 4))
		*seen_vcpu = true;
}

static void check_confined(pid_t pid)
{
	static const char *const ns[] = { "mnt", "pid", "net", "ipc", "uts" };
	char path[320], a[128], b[128];
	bool seen_vcpu = false;
	struct dirent *e;
	int entries = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid, e->d_name);
		check_status(path, &seen_vcpu);
	}
	closedir(d);
	assert_true(seen_vcpu);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns[i]);
		assert_true(readlink(path, a, sizeof(a)) > 0);
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		memset(b, 0, sizeof(b));
		assert_true(readlink(path, b, sizeof(b)) > 0);
		assert_string_not_equal(a, b);
	}
	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	assert_int_equal(entries, 0);
}

/* The VMM's event loop answers its balloon control socket. */
static void check_answers(const struct jailed *j)
{
	char reply[512] = { 0 };
	int c = unix_connect(j->ctl, 0);
	struct pollfd p = { c, POLLIN, 0 };

	assert_true(c >= 0);
	assert_int_equal(send(c, "stats\n", 6, 0), 6);
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(recv(c, reply, sizeof(reply) - 1, 0) > 0);
	assert_non_null(strstr(reply, "target_kib=0"));
	close(c);
}

static void test_jailed_vmms(void **state)
{
	struct jailed a, b;
	int status;

	start_jailed(&a, "a", false);
	start_jailed(&b, "b", true);
	check_confined(a.vmm);
	check_answers(&a);
	/* b attempts open() once jailed: seccomp kills it, the launcher says 128 + SIGSYS. */
	assert_int_equal(waitpid(b.launcher, &status, 0), b.launcher);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 128 + SIGSYS);
	/* a is untouched. */
	assert_int_equal(kill(a.vmm, 0), 0);
	check_confined(a.vmm);
	check_answers(&a);
	/* The hlt guest ignores the power button: stopped when its 1 s grace ends, jailed. */
	kill(a.launcher, SIGTERM);
	assert_int_equal(waitpid(a.launcher, &status, 0), a.launcher);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 5);
	close(a.passt_peer);
	close(b.passt_peer);
}

/* A guest powering off: the jailed VMM's whole teardown fits its allowlists. */
static void test_jailed_poweroff_is_clean(void **state)
{
	char vsock[160], ctl[160], vdir[128];
	int status;
	pid_t pid;

	snprintf(vdir, sizeof(vdir), "%s/c-vsock", dir);
	assert_int_equal(mkdir(vdir, 0755), 0);
	snprintf(vsock, sizeof(vsock), "3,%s/v.sock", vdir);
	snprintf(ctl, sizeof(ctl), "%s/c.ctl", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { jail,
				 "--env",
				 "ASAN_OPTIONS=detect_leaks=0",
				 "--",
				 vmm,
				 "--kernel",
				 poweroff_kernel,
				 "--mem",
				 "32",
				 "--console",
				 "none",
				 "--vsock",
				 vsock,
				 "--balloon-control",
				 ctl,
				 "--jail",
				 NULL };

		execv(jail, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jailed_vmms),
		cmocka_unit_test(test_jailed_poweroff_is_clean),
	};
	const char *build = getenv("POCKETVM_BUILD");
	char cmd[160];
	int ret;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) != 0 || !build) {
		printf("SKIP: the jail test needs root, /dev/kvm and POCKETVM_BUILD\n");
		return 77;
	}
	snprintf(vmm, sizeof(vmm), "%s/src/vmm/pocketvm-vmm", build);
	snprintf(jail, sizeof(jail), "%s/src/vmm/pocketvm-jail", build);
	strcpy(dir, "/tmp/pvm-jail-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(kernel, sizeof(kernel), "%s/kernel", dir);
	write_tiny_kernel(kernel, false);
	snprintf(poweroff_kernel, sizeof(poweroff_kernel), "%s/poweroff", dir);
	write_tiny_kernel(poweroff_kernel, true);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		ret = ret ? ret : 1;
	return ret;
}
