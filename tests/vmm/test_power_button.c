// SPDX-License-Identifier: Apache-2.0
/*
 * The ACPI power button (devices/power.c) under a tiny guest, as Linux's GED
 * driver uses it: the guest routes the GED's GSI through the IOAPIC
 * (level-triggered, as the DSDT's _CRS says), the host presses the button,
 * and then:
 *  - nothing reaches the LAPIC while the pin is masked, and the press is
 *    delivered when the guest unmasks it (a press made before the guest's
 *    driver is ready is not lost);
 *  - a read of the event register returns the power button bit once and
 *    clears it, and lowers the IOAPIC line (KVM's view of the pin);
 *  - writes to the register change nothing; a second press raises it again.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/vmm_harness.h"
#include "vmm/devices/power.h"
#include "vmm/x86/acpi.h"

#define IOAPIC_BASE 0xfec00000ul
#define VEC_GED 0x62
#define REDIR_LO(pin) (0x10 + 2 * (pin))
#define REDIR_LEVEL (1u << 15)
#define REDIR_MASKED (1u << 16)

GUEST_CODE static uint32_t ged_read(void)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"((uint16_t)ACPI_GED_PORT));
	return v;
}

GUEST_CODE static void ioapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC_BASE = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = v;
}

GUEST_CODE static void guest_code(void)
{
	GUEST_SYNC2(1, ged_read()); /* nothing pressed yet */
	ioapic_write(REDIR_LO(ACPI_GED_GSI) + 1, 0); /* destination: APIC 0 */
	ioapic_write(REDIR_LO(ACPI_GED_GSI), VEC_GED | REDIR_LEVEL | REDIR_MASKED);
	GUEST_SYNC2(2, 0); /* host presses the button */
	ioapic_write(REDIR_LO(ACPI_GED_GSI), VEC_GED | REDIR_LEVEL);
	GUEST_SYNC2(3, 0); /* host looks for the interrupt */
	GUEST_SYNC2(4, ged_read()); /* what _EVT's Store (GDAT, Local0) reads */
	GUEST_SYNC2(5, ged_read());
	__asm__ volatile("outl %0, %1" : : "a"(0xffffffffu), "Nd"((uint16_t)ACPI_GED_PORT));
	GUEST_SYNC2(6, ged_read());
	GUEST_SYNC2(7, 0); /* host presses again */
	GUEST_SYNC2(8, ged_read());
	GUEST_DONE();
}

/* The IOAPIC's input level for pin, as KVM tracks it. */
static bool ioapic_line(struct harness *h, unsigned int pin)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	TEST_ASSERT(ioctl(h->kvm->vm_fd, KVM_GET_IRQCHIP, &chip) == 0, "KVM_GET_IRQCHIP");
	return chip.chip.ioapic.irr & (1u << pin);
}

static void sync_step(struct harness *h, uint64_t step, uint64_t *val)
{
	struct ucall uc;

	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[0] == step,
		    "expected step %lu, got ucall %lu arg %lu", (unsigned long)step,
		    (unsigned long)uc.cmd, (unsigned long)uc.args[0]);
	if (val)
		*val = uc.args[1];
}

int main(void)
{
	struct harness *h;
	struct ucall uc;
	uint64_t v;
	int ret;

	require_kvm();
	h = harness_new(64);
	ret = power_init(&h->vm);
	TEST_ASSERT(ret == 0, "power_init: %s", strerror(-ret));
	TEST_ASSERT(h->vm.power_button == power_button_press, "power_init set no power button");
	vm_map_page(h->kvm, IOAPIC_BASE, IOAPIC_BASE);
	harness_start(h, guest_code);

	sync_step(h, 1, &v);
	TEST_ASSERT(v == 0, "event register before any press: 0x%lx", (unsigned long)v);
	sync_step(h, 2, NULL);
	h->vm.power_button(&h->vm);
	TEST_ASSERT(ioapic_line(h, ACPI_GED_GSI), "the press did not raise GSI %u", ACPI_GED_GSI);
	TEST_ASSERT(!harness_irq_pending(h, VEC_GED), "interrupt delivered through a masked pin");
	printf("ok: the press raises GSI %u; nothing is delivered while the pin is masked\n",
	       ACPI_GED_GSI);
	sync_step(h, 3, NULL);
	TEST_ASSERT(harness_irq_pending(h, VEC_GED),
		    "unmasking the pin did not deliver the pending press (vector 0x%x)", VEC_GED);
	printf("ok: unmasking the level-triggered pin delivers the pending press (vector 0x%x)\n",
	       VEC_GED);
	sync_step(h, 4, &v);
	TEST_ASSERT(v == ACPI_GED_EV_PWR_BUTTON, "event register after the press: 0x%lx",
		    (unsigned long)v);
	TEST_ASSERT(!ioapic_line(h, ACPI_GED_GSI), "reading the events left the line raised");
	TEST_ASSERT(harness_log_contains(h, "the guest took the power button event"),
		    "the VMM did not log the guest taking the event");
	sync_step(h, 5, &v);
	TEST_ASSERT(v == 0, "event register read twice: 0x%lx", (unsigned long)v);
	printf("ok: the guest reads the power button bit once; the read lowers the line\n");
	sync_step(h, 6, &v);
	TEST_ASSERT(v == 0 && !ioapic_line(h, ACPI_GED_GSI), "a guest write set events 0x%lx",
		    (unsigned long)v);
	sync_step(h, 7, NULL);
	power_button_press(&h->vm);
	TEST_ASSERT(ioapic_line(h, ACPI_GED_GSI), "a second press did not raise the line");
	sync_step(h, 8, &v);
	TEST_ASSERT(v == ACPI_GED_EV_PWR_BUTTON && !ioapic_line(h, ACPI_GED_GSI),
		    "second press: events 0x%lx", (unsigned long)v);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	printf("ok: guest writes are ignored; a second press is seen again\n");
	harness_free(h);
	return 0;
}
