/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The minimal ACPI the guest needs, written into guest RAM:
 *  - RSDP -> XSDT -> FADT, MADT; FADT -> DSDT;
 *  - FADT: hardware-reduced ACPI, so no PM1 blocks, SCI or legacy PIC: the
 *    guest powers off by writing SLP_TYP=5|SLP_EN to the sleep control
 *    register (ACPI_SLEEP_CTL_PORT) and resets by writing ACPI_RESET_VALUE to
 *    the reset register (ACPI_RESET_PORT); devices/power.c turns those
 *    writes into the VMM's exit status;
 *  - MADT: one enabled LAPIC per vCPU (APIC ID = index) and the IOAPIC, which
 *    is how an unmodified Linux finds its CPUs (this kernel has no MP table
 *    parser);
 *  - DSDT: the \_S5 sleep package, a PCI host bridge (PNP0A03) whose
 *    _CRS declares bus 0, the I/O ports and the 32-bit MMIO window, COM1,
 *    and the power button: a Generic Event Device (ACPI0013) on GSI
 *    ACPI_GED_GSI, level-triggered, whose _EVT reads the event register at
 *    ACPI_GED_PORT (a 32-bit read returns the pending ACPI_GED_EV_* bits and
 *    clears them) and notifies the PNP0C0C device PWRB (0x80: pressed).
 */
#ifndef POCKETVM_VMM_X86_ACPI_H
#define POCKETVM_VMM_X86_ACPI_H

#include <stdint.h>

#include "common/util.h"
#include "vmm/memory.h"

#define ACPI_SLEEP_CTL_PORT 0x600
#define ACPI_SLEEP_STS_PORT 0x601
#define ACPI_RESET_PORT 0x602
#define ACPI_RESET_VALUE 0x01
#define ACPI_S5_SLP_TYP 5

/* Generic Event Device: its interrupt (an IOAPIC pin no other device uses) and register. */
#define ACPI_GED_GSI 23
#define ACPI_GED_PORT 0x604
#define ACPI_GED_EV_PWR_BUTTON 0x1u

/* Largest area acpi_build() writes. */
#define ACPI_AREA_SIZE 0x10000

struct acpi_layout {
	unsigned int nr_cpus;
	uint64_t pci_mmio_base; /* 32-bit MMIO window for BARs */
	uint64_t pci_mmio_size;
};

/* Writes the tables at gpa (RSDP first, 16-byte aligned); returns the RSDP's gpa or 0. */
uint64_t acpi_build(const struct guest_mem *mem, uint64_t gpa, const struct acpi_layout *l);

#endif
