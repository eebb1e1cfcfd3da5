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

static void log_poweroff(struct vm *vm)
{
	int64_t pressed = atomic_load(&vm->button_pressed_ns);

	if (pressed)
		log_info("vmm: guest powered off, %.1f s after the power button",
			 (double)(vm_now_ns() - pressed) / 1e9);
	else
		log_info("vmm: guest powered off");
}

static void acpi_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct vm *vm = opaque;

	if (!write) {
		memset(data, 0, len); /* sleep status: nothing to report */
		return;
	}
	if (off == ACPI_SLEEP_CTL_PORT - ACPI_SLEEP_CTL_PORT && (data[0] & SLP_EN)) {
		if (SLP_TYP(data[0]) == ACPI_S5_SLP_TYP) {
			log_poweroff(vm);
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

/* Called with ged.lock held, so the line always follows the pending events. */
static void ged_line(struct vm *vm, bool level)
{
	int ret = vm_irq_line(vm, ACPI_GED_GSI, level);

	if (ret)
		log_warn("vmm: setting the GED interrupt (GSI %u) to %d: %s", ACPI_GED_GSI, level,
			 strerror(-ret));
}

/*
 * The event register: a read at its base returns the pending events and
 * clears them (lowering the interrupt line), as the DSDT's _EVT expects;
 * other bytes read as 0, writes are ignored.
 */
static void ged_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct vm *vm = opaque;
	uint32_t ev;

	if (write)
		return;
	memset(data, 0, len);
	if (off != 0)
		return;
	pthread_mutex_lock(&vm->ged.lock);
	ev = vm->ged.events;
	vm->ged.events = 0;
	if (ev)
		ged_line(vm, false);
	pthread_mutex_unlock(&vm->ged.lock);
	memcpy(data, &ev, MIN(len, (uint32_t)sizeof(ev)));
	if (ev & ACPI_GED_EV_PWR_BUTTON)
		log_info("vmm: the guest took the power button event");
}

void power_button_press(struct vm *vm)
{
	pthread_mutex_lock(&vm->ged.lock);
	vm->ged.events |= ACPI_GED_EV_PWR_BUTTON;
	ged_line(vm, true);
	pthread_mutex_unlock(&vm->ged.lock);
}

int power_init(struct vm *vm)
{
	int ret = bus_register(&vm->pio, ACPI_SLEEP_CTL_PORT, 3, acpi_io, vm);

	if (!ret)
		ret = bus_register(&vm->pio, ACPI_GED_PORT, 4, ged_io, vm);
	if (!ret)
		ret = bus_register(&vm->pio, I8042_DATA, 5, i8042_io, vm);
	if (!ret)
		vm->power_button = power_button_press;
	return ret;
}
