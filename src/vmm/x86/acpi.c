// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/acpi.h"

#include <string.h>

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u

/* FADT fields (ACPI 6.x, table 5.9) we set. */
#define FADT_LEN 276
#define FADT_DSDT 40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_REV 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CTL 244
#define FADT_SLEEP_STS 256
#define FADT_HYPERVISOR_ID 268
#define FADT_F_PWR_BUTTON (1u << 4)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED (1u << 20)
#define BOOT_ARCH_NO_VGA (1u << 2)
#define BOOT_ARCH_NO_CMOS_RTC (1u << 5)

#define HDR_LEN 36

/*
 * A table under construction in a host buffer: room for a MADT of 250
 * CPUs (the VMM allows 64); the largest other table, the DSDT, is a few
 * hundred bytes. Only b[0..len) is ever read, so a fresh tbl is not
 * zeroed: the eight of them on acpi_build()'s stack would otherwise be
 * 16 KiB of touched stack in every VMM.
 */
struct tbl {
	uint8_t b[2048];
	size_t len;
	bool overflow;
};

/* Not an initializer: "= { 0 }" zeroes all of b as well. */
static void tbl_init(struct tbl *t)
{
	t->len = 0;
	t->overflow = false;
}

static void put(struct tbl *t, const void *p, size_t n)
{
	if (n > sizeof(t->b) - t->len) {
		t->overflow = true;
		return;
	}
	memcpy(t->b + t->len, p, n);
	t->len += n;
}

static void put8(struct tbl *t, uint8_t v)
{
	put(t, &v, 1);
}

static void put16(struct tbl *t, uint16_t v)
{
	put(t, &v, 2);
}

static void put32(struct tbl *t, uint32_t v)
{
	put(t, &v, 4);
}

static void set32(struct tbl *t, size_t off, uint32_t v)
{
	memcpy(t->b + off, &v, 4);
}

static void set64(struct tbl *t, size_t off, uint64_t v)
{
	memcpy(t->b + off, &v, 8);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void header(struct tbl *t, const char *sig, uint8_t rev)
{
	tbl_init(t);
	put(t, sig, 4);
	put32(t, 0); /* length, fixed up by finish() */
	put8(t, rev);
	put8(t, 0); /* checksum */
	put(t, "PCKTVM", 6);
	put(t, "POCKETVM", 8);
	put32(t, 1);
	put(t, "PVMM", 4);
	put32(t, 1);
}

/* Fixes up length and checksum and copies the table to guest memory at *gpa. */
static uint64_t finish(const struct guest_mem *mem, struct tbl *t, uint64_t *gpa)
{
	uint64_t at = *gpa;

	if (t->overflow)
		return 0;
	set32(t, 4, (uint32_t)t->len);
	t->b[9] = checksum(t->b, t->len);
	if (guest_mem_write(mem, at, t->b, t->len))
		return 0;
	*gpa = ALIGN_UP(at + t->len, 16);
	return at;
}

/* AML PkgLength for a body of n bytes: the encoding counts its own bytes. */
static void aml_pkglen(struct tbl *t, size_t n)
{
	if (n + 1 < 0x40) {
		put8(t, (uint8_t)(n + 1));
	} else if (n + 2 < 0x1000) {
		n += 2;
		put8(t, (uint8_t)(0x40 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
	} else {
		n += 3;
		put8(t, (uint8_t)(0x80 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
		put8(t, (uint8_t)(n >> 12));
	}
}

/* op [ext] PkgLength name body: for Scope and Device. */
static void aml_block(struct tbl *t, const uint8_t *op, size_t oplen, const char *name,
		      size_t namelen, const struct tbl *body)
{
	put(t, op, oplen);
	aml_pkglen(t, namelen + body->len);
	put(t, name, namelen);
	put(t, body->b, body->len);
}

static void aml_name_eisaid(struct tbl *t, const char *name, const char id[8])
{
	uint16_t vendor =
		(uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
	unsigned int product = 0;

	for (int i = 3; i < 7; i++)
		product = product * 16 +
			  (unsigned int)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	put8(t, 0x08); /* NameOp */
	put(t, name, 4);
	put8(t, 0x0c); /* DWordConst, EISA IDs are stored big-endian */
	put8(t, (uint8_t)(vendor >> 8));
	put8(t, (uint8_t)vendor);
	put8(t, (uint8_t)(product >> 8));
	put8(t, (uint8_t)product);
}

static void aml_name_zero(struct tbl *t, const char *name)
{
	put8(t, 0x08);
	put(t, name, 4);
	put8(t, 0x00); /* ZeroOp */
}

/* Word address space descriptor (bus numbers or I/O ports), as a producer. */
static void res_word(struct tbl *t, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
	put8(t, 0x88);
	put16(t, 13);
	put8(t, type);
	put8(t, 0x0c); /* MinFixed | MaxFixed, producer */
	put8(t, tflags);
	put16(t, 0); /* granularity */
	put16(t, min);
	put16(t, max);
	put16(t, 0); /* translation */
	put16(t, (uint16_t)(max - min + 1));
}

static void res_dword_mem(struct tbl *t, uint32_t min, uint32_t max)
{
	put8(t, 0x87);
	put16(t, 23);
	put8(t, 0); /* memory */
	put8(t, 0x0c);
	put8(t, 0x01); /* read-write, non-cacheable */
	put32(t, 0);
	put32(t, min);
	put32(t, max);
	put32(t, 0);
	put32(t, max - min + 1);
}

static void aml_name_crs(struct tbl *t, struct tbl *res);

static void build_crs(struct tbl *t, const struct acpi_layout *l)
{
	struct tbl res;
	static const uint8_t cf8[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };

	tbl_init(&res);
	res_word(&res, 2, 0, 0, 0); /* bus 0 only */
	put(&res, cf8, sizeof(cf8)); /* the config ports themselves */
	res_word(&res, 1, 3, 0x0000, 0x0cf7);
	res_word(&res, 1, 3, 0x0d00, 0xffff);
	res_dword_mem(&res, (uint32_t)l->pci_mmio_base,
		      (uint32_t)(l->pci_mmio_base + l->pci_mmio_size - 1));
	aml_name_crs(t, &res);
}

/* Name(_CRS, ResourceTemplate() { res }) */
static void aml_name_crs(struct tbl *t, struct tbl *res)
{
	put8(res, 0x79); /* end tag */
	put8(res, 0);
	put8(t, 0x08);
	put(t, "_CRS", 4);
	put8(t, 0x11); /* BufferOp */
	/* The buffer size in the smallest integer encoding, as iasl writes it. */
	if (res->len <= 0xff) {
		aml_pkglen(t, 2 + res->len);
		put8(t, 0x0a); /* ByteConst */
		put8(t, (uint8_t)res->len);
	} else {
		aml_pkglen(t, 3 + res->len);
		put8(t, 0x0b); /* WordConst */
		put16(t, (uint16_t)res->len);
	}
	put(t, res->b, res->len);
}

/*
 * COM1 as an ACPI device: in hardware-reduced mode Linux maps no legacy
 * IRQs by itself, so the UART's IRQ 4 must come from a _CRS.
 */
static void build_com1(struct tbl *sb)
{
	static const uint8_t device_op[] = { 0x5b, 0x82 };
	static const uint8_t io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08 };
	static const uint8_t irq4[] = { 0x22, 0x10, 0x00 }; /* IRQNoFlags() {4} */
	struct tbl dev, res;

	tbl_init(&dev);
	tbl_init(&res);
	aml_name_eisaid(&dev, "_HID", "PNP0501");
	aml_name_zero(&dev, "_UID");
	put(&res, io, sizeof(io));
	put(&res, irq4, sizeof(irq4));
	aml_name_crs(&dev, &res);
	aml_block(sb, device_op, sizeof(device_op), "COM1", 4, &dev);
	if (dev.overflow || res.overflow)
		sb->overflow = true;
}

/*
 * The Generic Event Device (ACPI 6.1+, section 5.6.9) through which the VMM
 * raises events in a hardware-reduced platform, and the power button it
 * notifies:
 *
 *   Device (GED0) {
 *     Name (_HID, "ACPI0013")
 *     Name (_UID, Zero)
 *     Name (_CRS, ResourceTemplate () {
 *       Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { ACPI_GED_GSI } })
 *     OperationRegion (GDST, SystemIO, ACPI_GED_PORT, 4)
 *     Field (GDST, DWordAcc, NoLock, WriteAsZeros) { GDAT, 32 }
 *     Method (_EVT, 1, Serialized) {
 *       Local0 = GDAT                       // one read: it clears the events
 *       If ((Local0 & ACPI_GED_EV_PWR_BUTTON)) { Notify (PWRB, 0x80) }
 *     }
 *   }
 *   Device (PWRB) { Name (_HID, EisaId ("PNP0C0C")) Name (_UID, Zero) }
 *
 * Linux's GED driver (drivers/acpi/evged.c) requests the interrupt of _CRS
 * and runs _EVT in its threaded handler; Notify 0x80 on a PNP0C0C device is
 * a press of the power button (drivers/acpi/button.c: KEY_POWER). The bytes
 * are what iasl compiles from this ASL (tests/unit/vmm/test_x86_boot.c).
 * Level-triggered: the line stays up until _EVT has read the events, so a
 * press made before the guest's driver unmasked the pin is not lost.
 */
static void build_ged(struct tbl *sb)
{
	static const uint8_t device_op[] = { 0x5b, 0x82 }, method_op[] = { 0x14 },
			     if_op[] = { 0xa0 };
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C',
				       'P',  'I', '0', '0', '1', '3',  0x00 };
	/* Extended Interrupt descriptor: consumer, level, active high, exclusive; one GSI. */
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x01, 0x01, ACPI_GED_GSI, 0, 0, 0 };
	enum { PORT_LO = ACPI_GED_PORT & 0xff, PORT_HI = ACPI_GED_PORT >> 8 };
	/* SystemIO (1) at WordConst ACPI_GED_PORT, ByteConst length 4. */
	static const uint8_t region[] = { 0x5b, 0x80, 'G',     'D',	'S',  'T',
					  0x01, 0x0b, PORT_LO, PORT_HI, 0x0a, 0x04 };
	/* Field flags 0x43: DWordAcc (3), NoLock, WriteAsZeros (2 << 5); GDAT is 32 bits. */
	static const uint8_t field[] = { 0x5b, 0x81, 0x0b, 'G', 'D', 'S', 'T',
					 0x43, 'G',  'D',  'A', 'T', 0x20 };
	/* 0x09: one argument, Serialized. Store (GDAT, Local0). */
	static const uint8_t evt_head[] = { 0x09, 0x70, 'G', 'D', 'A', 'T', 0x60 };
	/* And (Local0, One, ) (One: ACPI_GED_EV_PWR_BUTTON) and Notify (PWRB, 0x80). */
	static const uint8_t pred[] = { 0x7b, 0x60, 0x01, 0x00 };
	static const uint8_t notify[] = { 0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80 };
	struct tbl dev, res, evt, cond;

	_Static_assert(ACPI_GED_EV_PWR_BUTTON == 1, "_EVT tests the power button as One");
	tbl_init(&dev);
	tbl_init(&res);
	tbl_init(&evt);
	tbl_init(&cond);
	put(&dev, hid, sizeof(hid));
	aml_name_zero(&dev, "_UID");
	put(&res, irq, sizeof(irq));
	aml_name_crs(&dev, &res);
	put(&dev, region, sizeof(region));
	put(&dev, field, sizeof(field));
	put(&cond, pred, sizeof(pred));
	put(&cond, notify, sizeof(notify));
	put(&evt, evt_head, sizeof(evt_head));
	aml_block(&evt, if_op, sizeof(if_op), "", 0, &cond);
	aml_block(&dev, method_op, sizeof(method_op), "_EVT", 4, &evt);
	aml_block(sb, device_op, sizeof(device_op), "GED0", 4, &dev);
	if (dev.overflow || res.overflow || evt.overflow || cond.overflow)
		sb->overflow = true;
}

/* The power button as a control-method device (the FADT's PWR_BUTTON flag says so). */
static void build_pwrb(struct tbl *sb)
{
	static const uint8_t device_op[] = { 0x5b, 0x82 };
	struct tbl dev;

	tbl_init(&dev);
	aml_name_eisaid(&dev, "_HID", "PNP0C0C");
	aml_name_zero(&dev, "_UID");
	aml_block(sb, device_op, sizeof(device_op), "PWRB", 4, &dev);
	if (dev.overflow)
		sb->overflow = true;
}

static uint64_t build_dsdt(const struct guest_mem *mem, uint64_t *gpa, const struct acpi_layout *l)
{
	static const uint8_t s5[] = { 0x08, '_',  'S',	'5',  '_',
				      0x12, 0x05, 0x02, 0x0a, ACPI_S5_SLP_TYP,
				      0x00 };
	static const uint8_t scope_op[] = { 0x10 }, device_op[] = { 0x5b, 0x82 };
	struct tbl t, dev, sb;

	tbl_init(&dev);
	tbl_init(&sb);
	header(&t, "DSDT", 2);
	put(&t, s5, sizeof(s5));
	aml_name_eisaid(&dev, "_HID", "PNP0A03");
	aml_name_zero(&dev, "_SEG");
	aml_name_zero(&dev, "_BBN");
	aml_name_zero(&dev, "_UID");
	build_crs(&dev, l);
	aml_block(&sb, device_op, sizeof(device_op), "PCI0", 4, &dev);
	build_com1(&sb);
	build_ged(&sb);
	build_pwrb(&sb);
	aml_block(&t, scope_op, sizeof(scope_op), "\\_SB_", 5, &sb);
	if (dev.overflow || sb.overflow)
		return 0;
	return finish(mem, &t, gpa);
}

/* Generic Address Structure for one byte in system I/O space. */
static void gas_io8(struct tbl *t, size_t off, uint16_t port)
{
	uint8_t g[12] = { 1, 8, 0, 1 };

	memcpy(g + 4, &(uint64_t){ port }, 8);
	memcpy(t->b + off, g, sizeof(g));
}

static uint64_t build_fadt(const struct guest_mem *mem, uint64_t *gpa, uint64_t dsdt)
{
	struct tbl t;
	uint16_t boot_arch = BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_CMOS_RTC;

	header(&t, "FACP", 6);
	memset(t.b + t.len, 0, FADT_LEN - t.len); /* fields not set below are 0 */
	t.len = FADT_LEN;
	set32(&t, FADT_DSDT, (uint32_t)dsdt);
	memcpy(t.b + FADT_IAPC_BOOT_ARCH, &boot_arch, 2);
	set32(&t, FADT_FLAGS,
	      FADT_F_HW_REDUCED | FADT_F_RESET_REG_SUP | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	gas_io8(&t, FADT_RESET_REG, ACPI_RESET_PORT);
	t.b[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	t.b[FADT_MINOR_REV] = 5;
	set64(&t, FADT_X_DSDT, dsdt);
	gas_io8(&t, FADT_SLEEP_CTL, ACPI_SLEEP_CTL_PORT);
	gas_io8(&t, FADT_SLEEP_STS, ACPI_SLEEP_STS_PORT);
	memcpy(t.b + FADT_HYPERVISOR_ID, "POCKETVM", 8);
	return finish(mem, &t, gpa);
}

static uint64_t build_madt(const struct guest_mem *mem, uint64_t *gpa, unsigned int nr_cpus)
{
	struct tbl t;

	header(&t, "APIC", 4);
	put32(&t, LAPIC_ADDR);
	put32(&t, 0); /* no dual 8259s: hardware-reduced */
	for (unsigned int i = 0; i < nr_cpus; i++) {
		uint8_t lapic[8] = { 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 };

		put(&t, lapic, sizeof(lapic));
	}
	put8(&t, 1); /* IOAPIC */
	put8(&t, 12);
	put8(&t, (uint8_t)nr_cpus); /* its ID, distinct from every LAPIC's */
	put8(&t, 0);
	put32(&t, IOAPIC_ADDR);
	put32(&t, 0); /* GSI base */
	put8(&t, 4); /* LAPIC NMI on LINT1 of every CPU */
	put8(&t, 6);
	put8(&t, 0xff);
	put16(&t, 0);
	put8(&t, 1);
	return finish(mem, &t, gpa);
}

uint64_t acpi_build(const struct guest_mem *mem, uint64_t gpa, const struct acpi_layout *l)
{
	uint64_t rsdp = gpa, next = gpa + 64, dsdt, fadt, madt, xsdt;
	uint8_t r[36] = { 0 };
	struct tbl t;

	if (l->nr_cpus == 0 || l->nr_cpus > 254)
		return 0;
	dsdt = build_dsdt(mem, &next, l);
	fadt = dsdt ? build_fadt(mem, &next, dsdt) : 0;
	madt = fadt ? build_madt(mem, &next, l->nr_cpus) : 0;
	if (!madt)
		return 0;
	header(&t, "XSDT", 1);
	put(&t, &fadt, 8);
	put(&t, &madt, 8);
	xsdt = finish(mem, &t, &next);
	if (!xsdt || next - gpa > ACPI_AREA_SIZE)
		return 0;

	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "PCKTVM", 6);
	r[15] = 2;
	memcpy(r + 20, &(uint32_t){ sizeof(r) }, 4);
	memcpy(r + 24, &xsdt, 8);
	r[8] = checksum(r, 20);
	r[32] = checksum(r, sizeof(r));
	if (guest_mem_write(mem, rsdp, r, sizeof(r)))
		return 0;
	return rsdp;
}
