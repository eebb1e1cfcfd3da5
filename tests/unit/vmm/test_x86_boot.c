// SPDX-License-Identifier: Apache-2.0
/*
 * The x86 boot pieces without KVM: ACPI tables as the guest parses them
 * (checksums, XSDT entries, FADT hardware-reduced flags and registers, MADT
 * with one LAPIC per vCPU, DSDT with \_S5, the PCI and COM1 devices and the
 * power button's Generic Event Device, byte for byte as iasl compiles it) and
 * the kernel loaders' checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/memory.h"
#include "vmm/x86/acpi.h"
#include "vmm/x86/loader.h"

#define MEM_SIZE (32u << 20)

static struct guest_mem mem;
static uint8_t *ram;

static int setup(void **state)
{
	ram = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return -1;
	memset(&mem, 0, sizeof(mem));
	return guest_mem_add_region(&mem, 0, MEM_SIZE, ram);
}

static int teardown(void **state)
{
	munmap(ram, MEM_SIZE);
	return 0;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Returns the table at gpa after checking its checksum. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = gpa_to_hva(&mem, gpa, 36);

	assert_non_null(t);
	assert_memory_equal(t, sig, 4);
	assert_int_equal(sum(t, get32(t + 4)), 0);
	return t;
}

static bool contains(const uint8_t *p, size_t n, const void *needle, size_t len)
{
	for (size_t i = 0; i + len <= n; i++)
		if (!memcmp(p + i, needle, len))
			return true;
	return false;
}

static void test_acpi_tables(void **state)
{
	struct acpi_layout l = { 3, 0xc0000000, 0x3ec00000 };
	uint64_t rsdp = acpi_build(&mem, 0xe0000, &l);
	const uint8_t *r = gpa_to_hva(&mem, rsdp, 36), *x, *fadt, *madt, *dsdt;
	static const uint8_t pnp0501[] = { 0x41, 0xd0, 0x05, 0x01 };
	int lapics = 0;

	assert_int_equal(rsdp, 0xe0000);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum(r, 20), 0);
	assert_int_equal(sum(r, 36), 0);
	x = table(get64(r + 24), "XSDT");
	assert_int_equal(get32(x + 4), 36 + 16);
	fadt = table(get64(x + 36), "FACP");
	madt = table(get64(x + 44), "APIC");
	/* Hardware-reduced, reset register supported; sleep/reset registers in I/O space. */
	assert_true(get32(fadt + 112) & (1u << 20));
	assert_true(get32(fadt + 112) & (1u << 10));
	assert_int_equal(fadt[116], 1);
	assert_int_equal(get64(fadt + 120), ACPI_RESET_PORT);
	assert_int_equal(fadt[128], ACPI_RESET_VALUE);
	assert_int_equal(get64(fadt + 248), ACPI_SLEEP_CTL_PORT);
	assert_int_equal(get64(fadt + 260), ACPI_SLEEP_STS_PORT);
	dsdt = table(get64(fadt + 140), "DSDT");
	assert_true(contains(dsdt, get32(dsdt + 4), "_S5_", 4));
	assert_true(contains(dsdt, get32(dsdt + 4), "PCI0", 4));
	assert_true(contains(dsdt, get32(dsdt + 4), pnp0501, 4));
	for (uint32_t off = 44; off < get32(madt + 4); off += madt[off + 1]) {
		assert_true(madt[off + 1] >= 2);
		if (madt[off] == 0) {
			assert_int_equal(madt[off + 3], lapics); /* APIC ID = index */
			assert_int_equal(madt[off + 4] & 1, 1); /* enabled */
			lapics++;
		}
	}
	assert_int_equal(lapics, 3);
}

/*
 * The GED and power button devices, as `iasl` (acpica-tools 20200925)
 * compiles the ASL in src/vmm/x86/acpi.c's comment (GSI 23, port 0x604).
 */
static const uint8_t ged_aml[] = {
	0x5b, 0x82, 0x42, 0x06, 'G',  'E',  'D',  '0',	0x08, '_',  'H',  'I',	'D',  0x0d,
	'A',  'C',  'P',  'I',	'0',  '0',  '1',  '3',	0x00, 0x08, '_',  'U',	'I',  'D',
	0x00, 0x08, '_',  'C',	'R',  'S',  0x11, 0x0e, 0x0a, 0x0b, 0x89, 0x06, 0x00, 0x01,
	0x01, 0x17, 0x00, 0x00, 0x00, 0x79, 0x00, 0x5b, 0x80, 'G',  'D',  'S',	'T',  0x01,
	0x0b, 0x04, 0x06, 0x0a, 0x04, 0x5b, 0x81, 0x0b, 'G',  'D',  'S',  'T',	0x43, 'G',
	'D',  'A',  'T',  0x20, 0x14, 0x19, '_',  'E',	'V',  'T',  0x09, 0x70, 'G',  'D',
	'A',  'T',  0x60, 0xa0, 0x0c, 0x7b, 0x60, 0x01, 0x00, 0x86, 'P',  'W',	'R',  'B',
	0x0a, 0x80, 0x5b, 0x82, 0x15, 'P',  'W',  'R',	'B',  0x08, '_',  'H',	'I',  'D',
	0x0c, 0x41, 0xd0, 0x0c, 0x0c, 0x08, '_',  'U',	'I',  'D',  0x00,
};

static void test_acpi_power_button(void **state)
{
	struct acpi_layout l = { 1, 0xc0000000, 0x3ec00000 };
	uint64_t rsdp = acpi_build(&mem, 0xe0000, &l);
	const uint8_t *r = gpa_to_hva(&mem, rsdp, 36), *fadt, *dsdt;

	fadt = table(get64(table(get64(r + 24), "XSDT") + 36), "FACP");
	/* The power button is a control-method device: PWR_BUTTON set in the flags. */
	assert_true(get32(fadt + 112) & (1u << 4));
	dsdt = table(get64(fadt + 140), "DSDT");
	assert_int_equal(ACPI_GED_GSI, 0x17);
	assert_int_equal(ACPI_GED_PORT, 0x604);
	assert_true(contains(dsdt, get32(dsdt + 4), ged_aml, sizeof(ged_aml)));
}

/* A minimal ELF with one loadable segment and, optionally, the PVH note. */
static size_t make_elf(uint8_t *buf, bool with_note, uint64_t paddr)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	uint8_t *note = buf + 256;
	uint32_t n[3] = { 4, 4, 18 }, entry = (uint32_t)paddr;

	memset(buf, 0, 512);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_offset = 384,
			      .p_paddr = paddr,
			      .p_filesz = 16,
			      .p_memsz = 4096 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 256, .p_filesz = with_note ? 20 : 0 };
	memcpy(note, n, 12);
	memcpy(note + 12, "Xen", 4);
	memcpy(note + 16, &entry, 4);
	memset(buf + 384, 0x90, 16);
	return 512;
}

static void test_elf_loader(void **state)
{
	uint8_t buf[512];
	struct kernel_info ki;
	const char *err = NULL;
	size_t len = make_elf(buf, true, 0x200000);

	assert_int_equal(kernel_load(&mem, buf, len, &ki, &err), 0);
	assert_int_equal(ki.kind, KERNEL_ELF_PVH);
	assert_int_equal(ki.entry, 0x200000);
	assert_int_equal(ki.end, 0x201000);
	assert_int_equal(ram[0x200000], 0x90);

	make_elf(buf, false, 0x200000);
	assert_int_not_equal(kernel_load(&mem, buf, len, &ki, &err), 0);
	assert_non_null(strstr(err, "no PVH entry note"));

	make_elf(buf, true, MEM_SIZE - 100); /* segment runs past RAM */
	assert_int_equal(kernel_load(&mem, buf, len, &ki, &err), -ERANGE);
	assert_string_equal(err, "ELF segment does not fit in guest RAM");

	make_elf(buf, true, 0x200000);
	assert_int_not_equal(kernel_load(&mem, buf, 300, &ki, &err), 0); /* truncated */
	assert_string_equal(err, "ELF segment extends past the end of the file");
}

static void test_bzimage_loader(void **state)
{
	static uint8_t bz[0x2000];
	struct kernel_info ki;
	const char *err = NULL;
	uint16_t v16;
	uint32_t v32;

	memset(bz, 0, sizeof(bz));
	bz[0x1f1] = 1; /* setup_sects: the kernel starts at 0x400 */
	bz[0x1fe] = 0x55;
	bz[0x1ff] = 0xaa;
	bz[0x201] = 0x6a;
	memcpy(bz + 0x202, "HdrS", 4);
	v16 = 0x20f;
	memcpy(bz + 0x206, &v16, 2);
	v16 = 1; /* XLF_KERNEL_64 */
	memcpy(bz + 0x236, &v16, 2);
	v32 = 0x100000;
	memcpy(bz + 0x260, &v32, 4);
	bz[0x400] = 0xf4;
	assert_int_equal(kernel_load(&mem, bz, sizeof(bz), &ki, &err), 0);
	assert_int_equal(ki.kind, KERNEL_BZIMAGE);
	assert_int_equal(ki.entry, BZIMAGE_LOAD_ADDR + 0x200);
	assert_int_equal(ram[BZIMAGE_LOAD_ADDR], 0xf4);
	assert_int_equal(ki.hdr_len, 0x202 + 0x6a - 0x1f1);

	v16 = 0; /* no 64-bit entry */
	memcpy(bz + 0x236, &v16, 2);
	assert_int_not_equal(kernel_load(&mem, bz, sizeof(bz), &ki, &err), 0);
	assert_string_equal(err, "bzImage has no 64-bit entry point");

	assert_int_equal(kernel_load(&mem, (const uint8_t *)"hello", 5, &ki, &err), -ENOEXEC);
	assert_string_equal(err, "not a bzImage (no HdrS setup header)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acpi_tables),
		cmocka_unit_test(test_acpi_power_button),
		cmocka_unit_test(test_elf_loader),
		cmocka_unit_test(test_bzimage_loader),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
