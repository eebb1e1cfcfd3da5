// SPDX-License-Identifier: Apache-2.0
/*
 * slot_cost [RUNS]: what KVM_SET_USER_MEMORY_REGION costs on this host's
 * /dev/kvm depending on when it comes, the measurement behind the order of
 * vm_init_fd() (docs/benchmarks/vmm.md, section 1). For slot sizes of
 * 2 MiB, 256 MiB and 1 GiB, a fresh VM each time, it times the slot ioctl
 * (wall and CPU) in three orders: before KVM_CREATE_IRQCHIP (what
 * pocketvm-vmm does), right after it, and 20 ms after it. Prints medians.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum order { SLOT_FIRST, SLOT_AFTER_IRQCHIP, SLOT_20MS_LATER, NR_ORDERS };

static const char *const order_name[NR_ORDERS] = { "slot before irqchip",
						   "slot right after irqchip",
						   "slot 20 ms after irqchip" };

static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One fresh VM: returns the slot ioctl's wall time, *cpu its CPU time; < 0 on error. */
static double one(int kvm, void *ram, size_t size, enum order o, double *cpu)
{
	struct kvm_userspace_memory_region slot = {
		.memory_size = size,
		.userspace_addr = (unsigned long)ram,
	};
	int vm = ioctl(kvm, KVM_CREATE_VM, 0), ok = vm >= 0;
	double t0, c0, t = -1;

	if (ok && o != SLOT_FIRST)
		ok = ioctl(vm, KVM_CREATE_IRQCHIP, 0) == 0;
	if (ok && o == SLOT_20MS_LATER)
		usleep(20000);
	t0 = wall_ms();
	c0 = cpu_ms();
	if (ok && ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) == 0) {
		t = wall_ms() - t0;
		*cpu = cpu_ms() - c0;
	}
	if (ok && o == SLOT_FIRST && ioctl(vm, KVM_CREATE_IRQCHIP, 0) != 0)
		t = -1;
	if (vm >= 0)
		close(vm);
	return t;
}

int main(int argc, char **argv)
{
	static const size_t mib[] = { 2, 256, 1024 };
	int runs = argc > 1 ? atoi(argv[1]) : 9, kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	double *wall = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));
	double *cpu = calloc((size_t)(runs > 0 ? runs : 1), sizeof(double));

	if (kvm < 0 || runs <= 0 || !wall || !cpu) {
		fprintf(stderr, "usage: slot_cost [RUNS] (needs /dev/kvm)\n");
		return 2;
	}
	for (size_t s = 0; s < sizeof(mib) / sizeof(mib[0]); s++) {
		size_t size = mib[s] << 20;
		void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (ram == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (int o = 0; o < NR_ORDERS; o++) {
			for (int r = 0; r < runs; r++) {
				wall[r] = one(kvm, ram, size, (enum order)o, &cpu[r]);
				if (wall[r] < 0) {
					perror("KVM ioctl");
					return 1;
				}
			}
			qsort(wall, (size_t)runs, sizeof(double), cmp);
			qsort(cpu, (size_t)runs, sizeof(double), cmp);
			printf("%4zu MiB, %-25s median %6.3f ms wall, %6.3f ms CPU (%d runs)\n",
			       mib[s], order_name[o], wall[runs / 2], cpu[runs / 2], runs);
		}
		munmap(ram, size);
	}
	close(kvm);
	return 0;
}
