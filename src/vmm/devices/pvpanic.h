/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pvpanic PCI device (the ID QEMU uses, 1b36:0011, which Linux's
 * pvpanic-pci driver binds to): a panicking guest kernel writes
 * PVPANIC_PANICKED to BAR 0, and the VMM logs it and ends with
 * VM_EXIT_CRASH instead of leaving a dead guest running.
 */
#ifndef POCKETVM_VMM_DEVICES_PVPANIC_H
#define POCKETVM_VMM_DEVICES_PVPANIC_H

#include "common/util.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct pvpanic;

int pvpanic_new(struct vm *vm, struct pci_bus *bus, struct pvpanic **out) __must_check;
void pvpanic_free(struct pvpanic *p);

#endif
