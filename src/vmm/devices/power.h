/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the guest ends the VM (docs/vmm.md, "Exit status"):
 *  - ACPI sleep control register (hardware-reduced ACPI, see x86/acpi.h):
 *    SLP_EN with SLP_TYP 5 (S5, soft off) -> VM_EXIT_POWEROFF;
 *  - ACPI reset register, or the i8042 "pulse reset line" command 0xfe on
 *    port 0x64 -> VM_EXIT_REBOOT.
 * And how the host asks it to end: the power button, a Generic Event Device
 * (x86/acpi.h) whose level-triggered interrupt stays raised until the
 * guest's _EVT reads the event register.
 */
#ifndef POCKETVM_VMM_DEVICES_POWER_H
#define POCKETVM_VMM_DEVICES_POWER_H

#include "common/util.h"
#include "vmm/vm.h"

/* Registers the registers above and sets vm->power_button. */
int power_init(struct vm *vm) __must_check;

/* Presses the power button: sets ACPI_GED_EV_PWR_BUTTON and raises the GED interrupt. */
void power_button_press(struct vm *vm);

#endif
