// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BZ_BOOT_FLAG_OFF 0x1fe
#define BZ_HEADER_OFF 0x202
#define BZ_VERSION_OFF 0x206
#define BZ_SETUP_SECTS_OFF 0x1f1
#define BZ_XLOADFLAGS_OFF 0x236
#define BZ_CMDLINE_SIZE_OFF 0x238
#define BZ_INITRD_MAX_OFF 0x22c
#define BZ_INIT_SIZE_OFF 0x260
#define XLF_KERNEL_64 (1u << 0)

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int fail(const char **err, const char *msg, int ret)
{
	*err = msg;
	return ret;
}

/* Walks one PT_NOTE segment for the PVH entry; returns 0 and sets *entry if found. */
static int find_pvh_note(const uint8_t *p, uint64_t size, uint64_t *entry)
{
	uint64_t off = 0;

	while (size - off >= 12) {
		uint32_t namesz = get32(p + off), descsz = get32(p + off + 4);
		uint32_t type = get32(p + off + 8);
		uint64_t name_off = off + 12;
		uint64_t desc_off = name_off + ALIGN_UP((uint64_t)namesz, 4);
		uint64_t next = desc_off + ALIGN_UP((uint64_t)descsz, 4);

		if (desc_off > size || next > size)
			return -EINVAL;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(p + name_off, "Xen", 4) == 0 && descsz >= 4) {
			*entry = get32(p + desc_off);
			return 0;
		}
		off = next;
	}
	return -ENOENT;
}

static int load_segment(const struct guest_mem *mem, const uint8_t *buf, size_t len,
			const Elf64_Phdr *ph, const char **err)
{
	uint8_t *dst;

	if (!range_ok(ph->p_offset, ph->p_filesz, len))
		return fail(err, "ELF segment extends past the end of the file", -EINVAL);
	if (ph->p_filesz > ph->p_memsz)
		return fail(err, "ELF segment file size exceeds its memory size", -EINVAL);
	dst = gpa_to_hva(mem, ph->p_paddr, ph->p_memsz);
	if (!dst)
		return fail(err, "ELF segment does not fit in guest RAM", -ERANGE);
	memcpy(dst, buf + ph->p_offset, ph->p_filesz);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	return 0;
}

int kernel_load_elf(const struct guest_mem *mem, const uint8_t *buf, size_t len,
		    struct kernel_info *ki, const char **err)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
	bool have_entry = false;
	int ret;

	memset(ki, 0, sizeof(*ki));
	ki->kind = KERNEL_ELF_PVH;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, "not an ELF file", -ENOEXEC);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return fail(err, "ELF file is not an x86-64 executable", -EINVAL);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !range_ok(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
		return fail(err, "ELF program headers out of bounds", -EINVAL);
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		/* Copied: the table need not be aligned in the file. */
		memcpy(&ph, buf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = load_segment(mem, buf, len, &ph, err);
			if (ret)
				return ret;
			ki->end = MAX(ki->end, ph.p_paddr + ph.p_memsz);
		} else if (ph.p_type == PT_NOTE && !have_entry) {
			if (!range_ok(ph.p_offset, ph.p_filesz, len))
				return fail(err, "ELF note segment out of bounds", -EINVAL);
			have_entry = find_pvh_note(buf + ph.p_offset, ph.p_filesz, &ki->entry) == 0;
		}
	}
	if (!have_entry)
		return fail(err, "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
			    -EINVAL);
	if (!gpa_to_hva(mem, ki->entry, 1))
		return fail(err, "PVH entry point outside guest RAM", -ERANGE);
	return 0;
}

int kernel_load_bzimage(const struct guest_mem *mem, const uint8_t *buf, size_t len,
			struct kernel_info *ki, const char **err)
{
	uint64_t setup_size, payload;
	uint32_t setup_sects, init_size, hdr_end;
	uint8_t *dst;

	memset(ki, 0, sizeof(*ki));
	ki->kind = KERNEL_BZIMAGE;
	if (len < SETUP_HDR_END || get16(buf + BZ_BOOT_FLAG_OFF) != 0xaa55 ||
	    memcmp(buf + BZ_HEADER_OFF, "HdrS", 4) != 0)
		return fail(err, "not a bzImage (no HdrS setup header)", -ENOEXEC);
	if (get16(buf + BZ_VERSION_OFF) < 0x20c)
		return fail(err, "bzImage boot protocol older than 2.12", -EINVAL);
	if (!(get16(buf + BZ_XLOADFLAGS_OFF) & XLF_KERNEL_64))
		return fail(err, "bzImage has no 64-bit entry point", -EINVAL);
	setup_sects = buf[BZ_SETUP_SECTS_OFF] ? buf[BZ_SETUP_SECTS_OFF] : 4;
	setup_size = ((uint64_t)setup_sects + 1) * 512;
	if (setup_size >= len)
		return fail(err, "bzImage setup code larger than the file", -EINVAL);
	payload = len - setup_size;
	init_size = get32(buf + BZ_INIT_SIZE_OFF);
	/* The kernel decompresses itself in place; all of init_size must be RAM. */
	dst = gpa_to_hva(mem, BZIMAGE_LOAD_ADDR, MAX(payload, (uint64_t)init_size));
	if (!dst)
		return fail(err, "bzImage does not fit in guest RAM", -ERANGE);
	memcpy(dst, buf + setup_size, payload);
	ki->entry = BZIMAGE_LOAD_ADDR + 0x200;
	ki->end = BZIMAGE_LOAD_ADDR + MAX(payload, (uint64_t)init_size);
	/* The header's own length: byte 0x201 counts from 0x202. */
	hdr_end = MIN(0x202u + buf[0x201], (uint32_t)SETUP_HDR_END);
	ki->hdr_len = hdr_end - SETUP_HDR_OFF;
	memcpy(ki->setup_hdr, buf + SETUP_HDR_OFF, ki->hdr_len);
	ki->cmdline_size = get32(buf + BZ_CMDLINE_SIZE_OFF);
	ki->initrd_addr_max = get32(buf + BZ_INITRD_MAX_OFF);
	return 0;
}

int kernel_load(const struct guest_mem *mem, const uint8_t *buf, size_t len, struct kernel_info *ki,
		const char **err)
{
	if (len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0)
		return kernel_load_elf(mem, buf, len, ki, err);
	return kernel_load_bzimage(mem, buf, len, ki, err);
}
