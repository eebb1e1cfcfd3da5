/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Everything a Linux kernel finds in memory at its first instruction:
 * the kernel (loader.h), initrd, command line, ACPI tables, the e820 map in
 * the zero page (bzImage) or hvm_start_info (PVH), and vCPU 0's registers.
 *
 * Low-memory layout (all below 1 MiB, reserved or unused by Linux early):
 *   0x0500 GDT            0x6000 hvm_start_info + memory map + module list
 *   0x7000 zero page      0x9000 page tables (64-bit entry: 4 GiB identity)
 *   0x20000 command line  0xe0000 ACPI tables (reserved in e820)
 * The initrd goes to the top of RAM below 3 GiB (and below the kernel's
 * initrd_addr_max).
 */
#ifndef POCKETVM_VMM_X86_BOOT_H
#define POCKETVM_VMM_X86_BOOT_H

#include <stdint.h>

#include "common/util.h"
#include "vmm/vm.h"

#define BOOT_CMDLINE_MAX 2048 /* Linux's COMMAND_LINE_SIZE on x86 */

struct boot_config {
	const char *kernel;
	const char *initrd; /* may be NULL */
	const char *cmdline; /* may be NULL */
	uint64_t pci_mmio_base;
	uint64_t pci_mmio_size;
};

/* Loads everything into vm's RAM and fills vm->boot; logs the precise reason on failure. */
int boot_load(struct vm *vm, const struct boot_config *bc) __must_check;

/* Sets vCPU 0 to the entry state vm->boot describes. */
int boot_setup_vcpu(struct vcpu *vcpu, const struct boot_state *bs) __must_check;

#endif
