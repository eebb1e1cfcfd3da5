// SPDX-License-Identifier: Apache-2.0
/*
 * start_latency RUNS VMM-COMMAND... : how long from exec() of a VMM to its
 * guest's first instruction, on the host's /dev/kvm. The guest is a tiny
 * PVH kernel (written to $TMPDIR) whose first instruction writes one byte
 * to COM1; the time to that byte on the VMM's stdout is the measurement
 * (it includes one I/O exit, ~26 us on our hosts). The literal argument
 * KERNEL in the command is replaced by the kernel's path. After the byte,
 * the VMM's RSS and private memory (USS) are read from /proc (the guest
 * touched one page), then the VMM is killed. Prints min, median and 90th
 * percentile latency and the median memory figures.
 */
#include <elf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ENTRY 0x100000u

static void write_kernel(const char *path)
{
	/* mov dx, 0x3f8; mov al, '!'; out dx, al; 1: hlt; jmp 1b */
	static const uint8_t code[] = { 0x66, 0xba, 0xf8, 0x03, 0xb0, '!', 0xee, 0xf4, 0xeb, 0xfd };
	uint32_t n[3] = { 4, 4, 18 }, entry = ENTRY;
	Elf64_Ehdr eh = { .e_type = ET_EXEC,
			  .e_machine = EM_X86_64,
			  .e_version = EV_CURRENT,
			  .e_entry = ENTRY,
			  .e_phoff = sizeof(eh),
			  .e_ehsize = sizeof(eh),
			  .e_phentsize = sizeof(Elf64_Phdr),
			  .e_phnum = 2 };
	size_t off = sizeof(eh) + 2 * sizeof(Elf64_Phdr);
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_LOAD,
		  .p_flags = PF_R | PF_X,
		  .p_offset = off,
		  .p_vaddr = ENTRY,
		  .p_paddr = ENTRY,
		  .p_filesz = sizeof(code),
		  .p_memsz = sizeof(code) },
		{ .p_type = PT_NOTE,
		  .p_offset = off + sizeof(code),
		  .p_filesz = 20,
		  .p_memsz = 20 },
	};
	FILE *f = fopen(path, "wb");

	if (!f) {
		perror(path);
		exit(1);
	}
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	fwrite(&eh, sizeof(eh), 1, f);
	fwrite(ph, sizeof(ph), 1, f);
	fwrite(code, sizeof(code), 1, f);
	fwrite(n, sizeof(n), 1, f);
	fwrite("Xen", 4, 1, f);
	fwrite(&entry, 4, 1, f);
	fclose(f);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* RSS and USS (private pages: what this process alone costs) from smaps_rollup. */
static void mem_kib(pid_t pid, double *rss, double *uss)
{
	char path[64], line[256];
	long v;
	FILE *f;

	*rss = *uss = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %ld kB", &v) == 1)
			*rss = (double)v;
		else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
			 sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
			*uss += (double)v;
	}
	if (f)
		fclose(f);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	char kernel[] = "/tmp/pocketvm-start-kernel.XXXXXX";
	int runs = argc > 2 ? atoi(argv[1]) : 0, fd = mkstemp(kernel);
	double *ms = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double *rss = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double *uss = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));

	if (runs <= 0 || fd < 0 || !ms || !rss || !uss) {
		fprintf(stderr, "usage: start_latency RUNS VMM-COMMAND... (KERNEL = the kernel)\n");
		return 2;
	}
	close(fd);
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: the read returns EINTR */
	write_kernel(kernel);
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "KERNEL") == 0)
			argv[i] = kernel;
	for (int r = 0; r < runs; r++) {
		int p[2];
		char c;
		double t0;
		pid_t pid;

		if (pipe(p))
			return 1;
		t0 = now_ms();
		pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			close(p[0]);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		close(p[1]);
		/* A VMM that never prints must not hang the benchmark. */
		alarm(20);
		if (read(p[0], &c, 1) != 1) {
			fprintf(stderr, "start_latency: %s printed nothing\n", argv[2]);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			unlink(kernel);
			return 1;
		}
		alarm(0);
		ms[r] = now_ms() - t0;
		usleep(20000);
		mem_kib(pid, &rss[r], &uss[r]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
	}
	qsort(ms, (size_t)runs, sizeof(double), cmp);
	qsort(rss, (size_t)runs, sizeof(double), cmp);
	qsort(uss, (size_t)runs, sizeof(double), cmp);
	printf("%s: start to first guest instruction: min %.2f ms, median %.2f ms, p90 %.2f ms "
	       "(%d runs); after it: RSS median %.0f KiB, private (USS) median %.0f KiB\n",
	       argv[2], ms[0], ms[runs / 2], ms[runs * 9 / 10], runs, rss[runs / 2], uss[runs / 2]);
	unlink(kernel);
	return 0;
}
