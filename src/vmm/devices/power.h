/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the guest ends the VM (docs/vmm.md, "Exit status"):
 *  - ACPI sleep control register (hardware-reduced ACPI, see x86/acpi.h):
 *    SLP_EN with SLP_TYP 5 (S5, soft off) -> VM_EXIT_POWEROFF;
 *  - ACPI reset register, or the i8042 "pulse reset line" command 0xfe on
 *    port 0x64 -> VM_EXIT_REBOOT.
 */
#ifndef POCKETVM_VMM_DEVICES_POWER_H
#define POCKETVM_VMM_DEVICES_POWER_H

#include "common/util.h"
#include "vmm/vm.h"

int power_init(struct vm *vm) __must_check;

#endif
