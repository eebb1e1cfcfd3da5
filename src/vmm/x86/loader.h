/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel image loaders. Both parse an untrusted file held in memory, check
 * every offset and size before use, and copy into guest RAM only through
 * gpa_to_hva(). They print nothing; *err says what was wrong.
 *
 *  - an ELF vmlinux entered through PVH: PT_LOAD segments at their physical
 *    addresses, entry from the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY;
 *  - a bzImage (Linux x86 boot protocol >= 2.12 with a 64-bit entry): the
 *    protected-mode kernel at BZIMAGE_LOAD_ADDR, its setup header returned
 *    for the zero page.
 */
#ifndef POCKETVM_VMM_X86_LOADER_H
#define POCKETVM_VMM_X86_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/memory.h"

#define BZIMAGE_LOAD_ADDR 0x100000ull
/* struct setup_header lives at 0x1f1..0x290 of the zero page (boot_params). */
#define SETUP_HDR_OFF 0x1f1
#define SETUP_HDR_END 0x290

enum kernel_kind {
	KERNEL_ELF_PVH,
	KERNEL_BZIMAGE,
};

struct kernel_info {
	enum kernel_kind kind;
	uint64_t entry; /* PVH: 32-bit entry; bzImage: the 64-bit entry */
	uint64_t end; /* first byte after the loaded kernel (or its init_size) */
	/* bzImage only */
	uint8_t setup_hdr[SETUP_HDR_END - SETUP_HDR_OFF];
	uint32_t hdr_len; /* bytes of setup_hdr the image provided */
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
};

/* Recognizes the format and loads; -ENOEXEC for neither, -EINVAL/-ERANGE for bad images. */
int kernel_load(const struct guest_mem *mem, const uint8_t *buf, size_t len, struct kernel_info *ki,
		const char **err) __must_check;

int kernel_load_elf(const struct guest_mem *mem, const uint8_t *buf, size_t len,
		    struct kernel_info *ki, const char **err) __must_check;
int kernel_load_bzimage(const struct guest_mem *mem, const uint8_t *buf, size_t len,
			struct kernel_info *ki, const char **err) __must_check;

#endif
