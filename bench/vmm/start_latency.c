// SPDX-License-Identifier: Apache-2.0
/*
 * start_latency RUNS VMM-COMMAND... : how long from exec() of a VMM to its
 * guest's first instruction, on the host's /dev/kvm. The guest is a tiny
 * PVH kernel (written to $TMPDIR) whose first instruction writes one byte
 * to COM1; the time to that byte on the VMM's stdout is the measurement
 * (it includes one I/O exit, ~26 us on our hosts). The literal argument
 * KERNEL in the command is replaced by the kernel's path. After the byte,
 * the VMM's memory is read from /proc/PID/smaps, then the VMM is killed:
 * RSS; RSS beyond guest RAM (without the mappings at least as large as the
 * guest's RAM, taken from the command's "--mem N" or "-m N", in MiB: what
 * the VMM costs besides the pages the guest touched); private (USS: pages
 * mapped by this process alone, which for a static binary includes its
 * clean text until a second VMM runs) and anonymous beyond guest RAM
 * (heap, stacks, relocated data: never shared). Prints min, median and
 * 90th percentile latency and the median memory figures.
 */
#include <elf.h>
#include <signal.h>
#include <stdbool.h>
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

struct mem {
	double rss, beyond, uss, anon;
};

/* Sums smaps; a mapping of at least guest_kib (guest RAM) is left out of "beyond". */
static void mem_kib(pid_t pid, double guest_kib, struct mem *m)
{
	char path[64], line[512];
	unsigned long lo, hi;
	bool guest = false;
	long v;
	FILE *f;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			guest = guest_kib > 0 && (double)(hi - lo) / 1024 >= guest_kib;
		} else if (sscanf(line, "Rss: %ld kB", &v) == 1) {
			m->rss += (double)v;
			m->beyond += guest ? 0 : (double)v;
		} else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
			   sscanf(line, "Private_Dirty: %ld kB", &v) == 1) {
			m->uss += (double)v;
		} else if (sscanf(line, "Anonymous: %ld kB", &v) == 1) {
			m->anon += guest ? 0 : (double)v;
		}
	}
	if (f)
		fclose(f);
}

/* The guest's RAM in KiB from "--mem N" / "-m N" (MiB) in the command, or 0. */
static double guest_ram_kib(int argc, char **argv)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], "--mem") == 0 || strcmp(argv[i], "-m") == 0)
			return atof(argv[i + 1]) * 1024;
	return 0;
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
	double *beyond = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double *uss = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double *anon = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double guest_kib = guest_ram_kib(argc, argv);

	if (runs <= 0 || fd < 0 || !ms || !rss || !beyond || !uss || !anon) {
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
		struct mem m;
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
		mem_kib(pid, guest_kib, &m);
		rss[r] = m.rss;
		beyond[r] = m.beyond;
		uss[r] = m.uss;
		anon[r] = m.anon;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
	}
	qsort(ms, (size_t)runs, sizeof(double), cmp);
	qsort(rss, (size_t)runs, sizeof(double), cmp);
	qsort(beyond, (size_t)runs, sizeof(double), cmp);
	qsort(uss, (size_t)runs, sizeof(double), cmp);
	qsort(anon, (size_t)runs, sizeof(double), cmp);
	printf("%s: start to first guest instruction: min %.2f ms, median %.2f ms, p90 %.2f ms "
	       "(%d runs); after it (medians): RSS %.0f KiB, beyond guest RAM %.0f KiB, "
	       "private (USS) %.0f KiB, anonymous beyond guest RAM %.0f KiB\n",
	       argv[2], ms[0], ms[runs / 2], ms[runs * 9 / 10], runs, rss[runs / 2],
	       beyond[runs / 2], uss[runs / 2], anon[runs / 2]);
	unlink(kernel);
	return 0;
}
