// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/power.h"

#include <string.h>

#include "common/log.h"
#include "vmm/x86/acpi.h"

#define SLP_EN 0x20
#define SLP_TYP(v) (((v) >> 2) & 7)
#define I8042_DATA 0x60
#define I8042_CMD 0x64
#define I8042_CMD_RESET 0xfe

static void acpi_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct vm *vm = opaque;

	if (!write) {
		memset(data, 0, len); /* sleep status: nothing to report */
		return;
	}
	if (off == ACPI_SLEEP_CTL_PORT - ACPI_SLEEP_CTL_PORT && (data[0] & SLP_EN)) {
		if (SLP_TYP(data[0]) == ACPI_S5_SLP_TYP) {
			log_info("vmm: guest powered off");
			vm_request_exit(vm, VM_EXIT_POWEROFF);
		} else {
			log_warn("vmm: guest asked for sleep type %u, which is not supported",
				 SLP_TYP(data[0]));
		}
	} else if (off == ACPI_RESET_PORT - ACPI_SLEEP_CTL_PORT && data[0] == ACPI_RESET_VALUE) {
		log_info("vmm: guest reset (ACPI reset register)");
		vm_request_exit(vm, VM_EXIT_REBOOT);
	}
}

/* Just enough of an 8042 for the reset command: no keyboard, never busy. */
static void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct vm *vm = opaque;

	if (!write) {
		memset(data, 0, len);
		return;
	}
	if (off == I8042_CMD - I8042_DATA && data[0] == I8042_CMD_RESET) {
		log_info("vmm: guest reset (i8042)");
		vm_request_exit(vm, VM_EXIT_REBOOT);
	}
}

int power_init(struct vm *vm)
{
	int ret = bus_register(&vm->pio, ACPI_SLEEP_CTL_PORT, 3, acpi_io, vm);

	if (!ret)
		ret = bus_register(&vm->pio, I8042_DATA, 5, i8042_io, vm);
	return ret;
}
