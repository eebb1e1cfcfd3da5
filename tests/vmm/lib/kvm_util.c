// SPDX-License-Identifier: Apache-2.0
#include "kvm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE (1ull << 1)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

/* The test image's loaded ranges, so ucall strings can be validated. */
struct image_range {
	uint64_t start, end;
};
static struct image_range image_ranges[16];
static int nr_image_ranges;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int version;

	if (fd < 0) {
		printf("SKIP: /dev/kvm not usable (%s): tiny-guest test not run\n",
		       strerror(errno));
		exit(KSFT_SKIP);
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (version != KVM_API_VERSION) {
		printf("SKIP: KVM API version %d, expected %d\n", version, KVM_API_VERSION);
		exit(KSFT_SKIP);
	}
}

int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg)
{
	int r = ioctl(vm->vm_fd, cmd, arg);

	return r < 0 ? -errno : r;
}

uint64_t vm_alloc_pages(struct kvm_vm *vm, unsigned int n)
{
	uint64_t gpa = vm->next_gpa;

	TEST_ASSERT(addr_gpa2hva(vm, gpa, (uint64_t)n * PAGE_SIZE),
		    "guest memory exhausted allocating %u pages", n);
	vm->next_gpa += (uint64_t)n * PAGE_SIZE;
	memset(vm->mem + gpa, 0, (size_t)n * PAGE_SIZE);
	return gpa;
}

void *addr_gpa2hva(struct kvm_vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

/* Returns the page-table entry for gva at the given level, creating tables. */
static uint64_t *pte_walk(struct kvm_vm *vm, uint64_t gva, bool create)
{
	uint64_t table = vm->pml4_gpa;

	for (int level = 3; level >= 0; level--) {
		uint64_t *entries = addr_gpa2hva(vm, table, PAGE_SIZE);
		uint64_t *pte = &entries[(gva >> (12 + 9 * level)) & 0x1ff];

		if (level == 0)
			return pte;
		if (!(*pte & PTE_PRESENT)) {
			if (!create)
				return NULL;
			*pte = vm_alloc_pages(vm, 1) | PTE_PRESENT | PTE_WRITE;
		}
		table = *pte & PTE_ADDR_MASK;
	}
	return NULL;
}

void vm_map_page(struct kvm_vm *vm, uint64_t gva, uint64_t gpa)
{
	uint64_t *pte = pte_walk(vm, gva, true);

	TEST_ASSERT(!(*pte & PTE_PRESENT), "gva 0x%lx mapped twice", (unsigned long)gva);
	*pte = gpa | PTE_PRESENT | PTE_WRITE;
}

void *addr_gva2hva(struct kvm_vm *vm, uint64_t gva, uint64_t len)
{
	uint64_t *pte = pte_walk(vm, gva, false);
	uint64_t off = gva & (PAGE_SIZE - 1);

	/* Only single-page accesses: callers read small structs. */
	if (!pte || !(*pte & PTE_PRESENT) || len > PAGE_SIZE - off)
		return NULL;
	return addr_gpa2hva(vm, (*pte & PTE_ADDR_MASK) + off, len);
}

/*
 * Copies one page of the live test image. Byte by byte through a volatile
 * pointer and uninstrumented: the page may hold ASan redzones, and a plain
 * memcpy would be checked (and reported) by the sanitizer.
 */
__attribute__((no_sanitize_address)) static void copy_image_page(uint8_t *dst, uint64_t src)
{
	const volatile uint8_t *s = (const volatile uint8_t *)src;

	for (size_t i = 0; i < PAGE_SIZE; i++)
		dst[i] = s[i];
}

static int load_segments(struct dl_phdr_info *info, size_t size, void *data)
{
	struct kvm_vm *vm = data;

	/* The first object dl_iterate_phdr reports is the executable itself. */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t start, end;

		if (ph->p_type != PT_LOAD)
			continue;
		start = (info->dlpi_addr + ph->p_vaddr) & ~(PAGE_SIZE - 1);
		end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + PAGE_SIZE - 1) &
		      ~(PAGE_SIZE - 1);
		TEST_ASSERT(nr_image_ranges < 16, "too many PT_LOAD segments");
		image_ranges[nr_image_ranges++] = (struct image_range){ start, end };
		for (uint64_t va = start; va < end; va += PAGE_SIZE) {
			/* Segments may share a page; the first copy wins. */
			uint64_t *pte = pte_walk(vm, va, true);
			uint64_t gpa;

			if (*pte & PTE_PRESENT)
				continue;
			gpa = vm_alloc_pages(vm, 1);
			copy_image_page(vm->mem + gpa, va);
			*pte = gpa | PTE_PRESENT | PTE_WRITE;
		}
	}
	return 1;
}

struct kvm_vm *vm_create(unsigned int mem_mb)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
	struct kvm_userspace_memory_region region;

	TEST_ASSERT(vm, "out of memory");
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	TEST_ASSERT(vm->kvm_fd >= 0, "open /dev/kvm: %s", strerror(errno));
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	TEST_ASSERT(vm->vm_fd >= 0, "KVM_CREATE_VM: %s", strerror(errno));
	vm->mem_size = (uint64_t)mem_mb << 20;
	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(vm->mem != MAP_FAILED, "mmap guest memory: %s", strerror(errno));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem_size,
		.userspace_addr = (uint64_t)vm->mem,
	};
	vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region);

	/* Low memory stays free for tests that place their own structures. */
	vm->next_gpa = 1ul << 20;
	vm->pml4_gpa = vm_alloc_pages(vm, 1);
	nr_image_ranges = 0;
	dl_iterate_phdr(load_segments, vm);
	for (uint64_t i = 1; i <= GUEST_STACK_PAGES; i++)
		vm_map_page(vm, GUEST_STACK_TOP - i * PAGE_SIZE, vm_alloc_pages(vm, 1));
	return vm;
}

void vm_free(struct kvm_vm *vm)
{
	if (!vm)
		return;
	munmap(vm->mem, vm->mem_size);
	close(vm->vm_fd);
	close(vm->kvm_fd);
	free(vm);
}

static void vcpu_set_long_mode(struct kvm_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x8,
		.type = 11,
		.present = 1,
		.dpl = 0,
		.db = 0,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	struct kvm_segment data = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x10,
		.type = 3,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
	struct kvm_segment tss = {
		.base = 0,
		.limit = 0x67,
		.selector = 0x18,
		.type = 11,
		.present = 1,
		.s = 0,
	};

	TEST_ASSERT(ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0, "KVM_GET_SREGS: %s",
		    strerror(errno));
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tss;
	sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	sregs.cr3 = vcpu->vm->pml4_gpa;
	sregs.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA;
	TEST_ASSERT(ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) == 0, "KVM_SET_SREGS: %s",
		    strerror(errno));
}

static void vcpu_set_cpuid(struct kvm_vcpu *vcpu)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[128];
	} cpuid = { .c.nent = 128 };

	TEST_ASSERT(ioctl(vcpu->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, &cpuid) == 0,
		    "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	TEST_ASSERT(ioctl(vcpu->fd, KVM_SET_CPUID2, &cpuid) == 0, "KVM_SET_CPUID2: %s",
		    strerror(errno));
}

struct kvm_vcpu *vm_vcpu_add(struct kvm_vm *vm, void (*guest_code)(void))
{
	struct kvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	struct kvm_regs regs = { 0 };
	int run_size;

	TEST_ASSERT(vcpu, "out of memory");
	TEST_ASSERT(vm->nr_vcpus == 0, "one vCPU per tiny-guest VM (they share a stack)");
	vcpu->vm = vm;
	vcpu->id = vm->nr_vcpus++;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, vcpu->id);
	TEST_ASSERT(vcpu->fd >= 0, "KVM_CREATE_VCPU: %s", strerror(errno));
	run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	TEST_ASSERT(run_size > 0, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	vcpu->run_size = (size_t)run_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	TEST_ASSERT(vcpu->run != MAP_FAILED, "mmap kvm_run: %s", strerror(errno));

	vcpu_set_cpuid(vcpu);
	vcpu_set_long_mode(vcpu);
	regs.rflags = 0x2;
	regs.rip = (uint64_t)guest_code;
	/* As if called: the return address slot keeps the ABI's alignment. */
	regs.rsp = GUEST_STACK_TOP - 8;
	TEST_ASSERT(ioctl(vcpu->fd, KVM_SET_REGS, &regs) == 0, "KVM_SET_REGS: %s", strerror(errno));
	return vcpu;
}

void vcpu_free(struct kvm_vcpu *vcpu)
{
	if (!vcpu)
		return;
	munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
	free(vcpu);
}

void vcpu_run(struct kvm_vcpu *vcpu)
{
	int r;

	do {
		r = ioctl(vcpu->fd, KVM_RUN, 0);
	} while (r < 0 && errno == EINTR);
	TEST_ASSERT(r == 0, "KVM_RUN: %s", strerror(errno));
}

const char *exit_reason_str(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return "IO";
	case KVM_EXIT_MMIO:
		return "MMIO";
	case KVM_EXIT_HLT:
		return "HLT";
	case KVM_EXIT_SHUTDOWN:
		return "SHUTDOWN (triple fault)";
	case KVM_EXIT_FAIL_ENTRY:
		return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:
		return "INTERNAL_ERROR (emulation failure?)";
	case KVM_EXIT_SYSTEM_EVENT:
		return "SYSTEM_EVENT";
	default:
		return "other";
	}
}

static bool in_image(const void *p)
{
	for (int i = 0; i < nr_image_ranges; i++)
		if ((uint64_t)p >= image_ranges[i].start && (uint64_t)p < image_ranges[i].end)
			return true;
	return false;
}

uint64_t get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	struct ucall *guest_uc;

	memset(uc, 0, sizeof(*uc));
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != UCALL_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT)
		return UCALL_NONE;
	TEST_ASSERT(ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0, "KVM_GET_REGS: %s", strerror(errno));
	guest_uc = addr_gva2hva(vcpu->vm, regs.rdi, sizeof(*guest_uc));
	TEST_ASSERT(guest_uc, "ucall struct at unmapped gva 0x%llx", regs.rdi);
	memcpy(uc, guest_uc, sizeof(*uc));
	/* Guest and host share the image's addresses; refuse anything else. */
	if (uc->expr && !in_image(uc->expr))
		uc->expr = "(bad pointer)";
	if (uc->file && !in_image(uc->file))
		uc->file = "(bad pointer)";
	return uc->cmd;
}

uint64_t vcpu_run_to_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	uint64_t cmd;

	vcpu_run(vcpu);
	cmd = get_ucall(vcpu, uc);
	if (cmd == UCALL_ASSERT)
		test_fail(uc->file ? uc->file : "?", (int)uc->line,
			  "guest assertion failed: %s (0x%lx vs 0x%lx)", uc->expr ? uc->expr : "?",
			  (unsigned long)uc->args[0], (unsigned long)uc->args[1]);
	if (cmd != UCALL_NONE)
		return cmd;
	ioctl(vcpu->fd, KVM_GET_REGS, &regs);
	if (run->exit_reason == KVM_EXIT_IO)
		test_fail(__FILE__, __LINE__, "unexpected guest I/O: port 0x%x at rip 0x%llx",
			  run->io.port, regs.rip);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		test_fail(__FILE__, __LINE__, "KVM internal error, suberror %u, at rip 0x%llx",
			  run->internal.suberror, regs.rip);
	test_fail(__FILE__, __LINE__, "unexpected exit %s (%u) at rip 0x%llx",
		  exit_reason_str(run->exit_reason), run->exit_reason, regs.rip);
}
