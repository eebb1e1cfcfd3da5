// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/x86/acpi.h"
#include "vmm/x86/loader.h"

#define GDT_ADDR 0x500ull
#define START_INFO_ADDR 0x6000ull
#define START_INFO_MEMMAP (START_INFO_ADDR + 0x100)
#define START_INFO_MODLIST (START_INFO_ADDR + 0xc00)
#define ZERO_PAGE_ADDR 0x7000ull
#define PML4_ADDR 0x9000ull
#define CMDLINE_ADDR 0x20000ull
#define ACPI_ADDR 0xe0000ull
#define EBDA_START 0x9fc00ull
#define RESET_VECTOR 0xffff0ull
#define HIGH_MEM 0x100000ull

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 16

#define PVH_MAGIC 0x336ec578u

/* Zero page offsets (Documentation/arch/x86/zero-page.rst). */
#define ZP_ACPI_RSDP 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_E820_ENTRIES 0x1e8
#define ZP_TYPE_OF_LOADER 0x210
#define ZP_LOADFLAGS 0x211
#define ZP_RAMDISK_IMAGE 0x218
#define ZP_RAMDISK_SIZE 0x21c
#define ZP_HEAP_END_PTR 0x224
#define ZP_CMD_LINE_PTR 0x228
#define ZP_E820_TABLE 0x2d0
#define LOADFLAG_CAN_USE_HEAP 0x80

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

static const uint64_t gdt[] = {
	0,
	0,
	0x00af9b000000ffffull, /* 0x10: 64-bit code (PVH: replaced by 32-bit code) */
	0x00cf93000000ffffull, /* 0x18: data */
	0x00008b0000000067ull, /* 0x20: TSS */
};

static int build_e820(const struct guest_mem *mem, struct e820_entry *e)
{
	int n = 0;

	e[n++] = (struct e820_entry){ 0, EBDA_START, E820_RAM };
	e[n++] = (struct e820_entry){ EBDA_START, HIGH_MEM - EBDA_START, E820_RESERVED };
	for (int i = 0; i < mem->nr_regions && n < E820_MAX; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t start = MAX(r->gpa, HIGH_MEM);

		if (r->gpa + r->size > start)
			e[n++] = (struct e820_entry){ start, r->gpa + r->size - start, E820_RAM };
	}
	return n;
}

/* Maps the file read-only; the loaders treat its bytes as untrusted. */
static int map_file(const char *path, const uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	*buf = p;
	*len = (size_t)st.st_size;
	return 0;
}

static int load_initrd(struct vm *vm, const char *path, uint64_t kernel_end, uint64_t max_addr,
		       uint64_t *addr, uint64_t *size)
{
	const struct guest_mem_region *low = &vm->mem.regions[0];
	const uint8_t *buf;
	size_t len;
	uint64_t top;
	int ret = map_file(path, &buf, &len);

	if (ret) {
		log_error("vmm: cannot read initrd %s: %s", path, strerror(-ret));
		return ret;
	}
	top = MIN(low->size, max_addr + 1);
	if (len > top || ALIGN_DOWN(top - len, 4096ull) < kernel_end) {
		log_error("vmm: initrd %s (%zu bytes) does not fit in guest RAM above the kernel",
			  path, len);
		munmap((void *)buf, len);
		return -ENOSPC;
	}
	*addr = ALIGN_DOWN(top - len, 4096ull);
	*size = len;
	ret = guest_mem_write(&vm->mem, *addr, buf, len);
	munmap((void *)buf, len);
	return ret;
}

static int write_pvh_start_info(struct vm *vm, uint64_t rsdp, uint64_t initrd, uint64_t initrd_size)
{
	struct e820_entry e[E820_MAX];
	int n = build_e820(&vm->mem, e);
	uint32_t si[14] = { 0 }; /* struct hvm_start_info, version 1 */
	int ret = 0;

	si[0] = PVH_MAGIC;
	si[1] = 1;
	si[6] = (uint32_t)CMDLINE_ADDR; /* cmdline_paddr */
	memcpy(&si[8], &rsdp, 8); /* rsdp_paddr */
	si[10] = (uint32_t)START_INFO_MEMMAP; /* memmap_paddr */
	si[12] = (uint32_t)n; /* memmap_entries */
	if (initrd_size) {
		uint64_t mod[4] = { initrd, initrd_size, 0, 0 };

		si[3] = 1; /* nr_modules */
		si[4] = (uint32_t)START_INFO_MODLIST; /* modlist_paddr */
		ret = guest_mem_write(&vm->mem, START_INFO_MODLIST, mod, sizeof(mod));
	}
	for (int i = 0; i < n && !ret; i++) {
		/* struct hvm_memmap_table_entry: addr, size, type, reserved */
		uint64_t m[3] = { e[i].addr, e[i].size, e[i].type };

		ret = guest_mem_write(&vm->mem, START_INFO_MEMMAP + (uint64_t)i * 24, m, sizeof(m));
	}
	if (!ret)
		ret = guest_mem_write(&vm->mem, START_INFO_ADDR, si, sizeof(si));
	vm->boot.rbx = START_INFO_ADDR;
	return ret;
}

static int write_zero_page(struct vm *vm, const struct kernel_info *ki, uint64_t rsdp,
			   uint64_t initrd, uint64_t initrd_size)
{
	uint8_t *zp = gpa_to_hva(&vm->mem, ZERO_PAGE_ADDR, 4096);
	struct e820_entry e[E820_MAX];
	int n = build_e820(&vm->mem, e);
	uint32_t v32;
	uint16_t v16 = 0xfe00;

	if (!zp)
		return -EFAULT;
	memset(zp, 0, 4096);
	memcpy(zp + SETUP_HDR_OFF, ki->setup_hdr, ki->hdr_len);
	zp[ZP_TYPE_OF_LOADER] = 0xff;
	zp[ZP_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	memcpy(zp + ZP_HEAP_END_PTR, &v16, 2);
	v32 = (uint32_t)CMDLINE_ADDR;
	memcpy(zp + ZP_CMD_LINE_PTR, &v32, 4);
	v32 = (uint32_t)initrd;
	memcpy(zp + ZP_RAMDISK_IMAGE, &v32, 4);
	v32 = (uint32_t)initrd_size;
	memcpy(zp + ZP_RAMDISK_SIZE, &v32, 4);
	v32 = (uint32_t)(initrd >> 32);
	memcpy(zp + ZP_EXT_RAMDISK_IMAGE, &v32, 4);
	v32 = (uint32_t)(initrd_size >> 32);
	memcpy(zp + ZP_EXT_RAMDISK_SIZE, &v32, 4);
	memcpy(zp + ZP_ACPI_RSDP, &rsdp, 8);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	memcpy(zp + ZP_E820_TABLE, e, sizeof(e[0]) * (size_t)n);
	vm->boot.rsi = ZERO_PAGE_ADDR;
	return 0;
}

/* 4 GiB identity map with 2 MiB pages: PML4, one PDPT, four page directories. */
static int write_page_tables(struct vm *vm)
{
	uint64_t *pml4 = gpa_to_hva(&vm->mem, PML4_ADDR, 6 * 4096);

	if (!pml4)
		return -EFAULT;
	memset(pml4, 0, 6 * 4096);
	pml4[0] = (PML4_ADDR + 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t *pd = pml4 + 512 * (2 + i);

		pml4[512 + i] = (PML4_ADDR + 0x1000 * (2 + i)) | 0x3;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i << 30) + (j << 21)) | 0x83;
	}
	vm->boot.pml4_gpa = PML4_ADDR;
	return 0;
}

static int load_cmdline(struct vm *vm, const char *cmdline, uint32_t max)
{
	size_t len = cmdline ? strlen(cmdline) : 0;

	if (len + 1 > max) {
		log_error("vmm: kernel command line is %zu bytes; this kernel takes at most %u",
			  len, max - 1);
		return -E2BIG;
	}
	return guest_mem_write(&vm->mem, CMDLINE_ADDR, cmdline ? cmdline : "", len + 1);
}

/*
 * The real-mode reset vector F000:FFF0. With hardware-reduced ACPI and no
 * EFI, Linux's default reboot ends in a jump there (reboot=bios), where a
 * PC's firmware would reset the machine: we do the same through the ACPI
 * reset register. mov dx, port; mov al, value; out dx, al; hlt; jmp $-1.
 */
static int write_reset_vector(struct vm *vm)
{
	const uint8_t stub[] = { 0xba,
				 ACPI_RESET_PORT & 0xff,
				 ACPI_RESET_PORT >> 8,
				 0xb0,
				 ACPI_RESET_VALUE,
				 0xee,
				 0xf4,
				 0xeb,
				 0xfd };

	return guest_mem_write(&vm->mem, RESET_VECTOR, stub, sizeof(stub));
}

int boot_load(struct vm *vm, const struct boot_config *bc)
{
	struct acpi_layout al = { (unsigned int)vm->cpu_count, bc->pci_mmio_base,
				  bc->pci_mmio_size };
	uint64_t rsdp, initrd = 0, initrd_size = 0, initrd_max;
	struct kernel_info ki;
	const char *err = NULL;
	const uint8_t *buf;
	size_t len;
	int ret = map_file(bc->kernel, &buf, &len);

	if (ret) {
		log_error("vmm: cannot read kernel %s: %s", bc->kernel, strerror(-ret));
		return ret;
	}
	ret = kernel_load(&vm->mem, buf, len, &ki, &err);
	munmap((void *)buf, len);
	if (ret) {
		log_error("vmm: cannot load kernel %s: %s", bc->kernel, err);
		return ret;
	}
	ret = load_cmdline(vm, bc->cmdline,
			   ki.kind == KERNEL_BZIMAGE && ki.cmdline_size ?
				   MIN(ki.cmdline_size + 1, BOOT_CMDLINE_MAX) :
				   BOOT_CMDLINE_MAX);
	if (ret)
		return ret;
	initrd_max = ki.kind == KERNEL_BZIMAGE && ki.initrd_addr_max ? ki.initrd_addr_max :
								       MEM_HOLE_START - 1;
	if (bc->initrd) {
		ret = load_initrd(vm, bc->initrd, ki.end, initrd_max, &initrd, &initrd_size);
		if (ret)
			return ret;
	}
	rsdp = acpi_build(&vm->mem, ACPI_ADDR, &al);
	if (!rsdp) {
		log_error("vmm: cannot build ACPI tables for %d vCPUs", vm->cpu_count);
		return -EINVAL;
	}
	ret = guest_mem_write(&vm->mem, GDT_ADDR, gdt, sizeof(gdt));
	if (!ret)
		ret = write_reset_vector(vm);
	if (ret)
		return ret;
	vm->boot.gdt_gpa = GDT_ADDR;
	vm->boot.entry = ki.entry;
	vm->boot.long_mode = ki.kind == KERNEL_BZIMAGE;
	if (ki.kind == KERNEL_BZIMAGE) {
		ret = write_zero_page(vm, &ki, rsdp, initrd, initrd_size);
		if (!ret)
			ret = write_page_tables(vm);
		return ret;
	}
	/* PVH enters 32-bit protected mode: the code descriptor is 32-bit. */
	ret = guest_mem_write(&vm->mem, GDT_ADDR + 16, &(uint64_t){ 0x00cf9b000000ffffull }, 8);
	return ret ? ret : write_pvh_start_info(vm, rsdp, initrd, initrd_size);
}

static struct kvm_segment segment(uint16_t sel, uint8_t type, bool l, bool db)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = db,
		.s = 1,
		.l = l,
		.g = 1,
	};
}

int boot_setup_vcpu(struct vcpu *vcpu, const struct boot_state *bs)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2, .rip = bs->entry, .rsi = bs->rsi, .rbx = bs->rbx };

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = segment(0x10, 0xb, bs->long_mode, !bs->long_mode);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(0x18, 0x3, false, true);
	sregs.tr =
		(struct kvm_segment){ .selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.gdt.base = bs->gdt_gpa;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (bs->long_mode) {
		sregs.cr0 |= 0x80000000u; /* PG */
		sregs.cr3 = bs->pml4_gpa;
		sregs.cr4 = 0x20; /* PAE */
		sregs.efer = 0x500; /* LME | LMA */
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
