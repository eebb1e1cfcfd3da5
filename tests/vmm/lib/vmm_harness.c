// SPDX-License-Identifier: Apache-2.0
#include "vmm_harness.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"

#define APIC_SPIV 0xf0
#define APIC_IRR 0x200

struct harness *harness_new(unsigned int mem_mb)
{
	struct harness *h = calloc(1, sizeof(*h));
	int ret;

	TEST_ASSERT(h, "out of memory");
	signal(SIGPIPE, SIG_IGN); /* as pocketvm-vmm's main() does */
	TEST_ASSERT(evthread_use_pthreads() == 0, "libevent without threads");
	snprintf(h->log_path, sizeof(h->log_path), "/tmp/pocketvm-harness.XXXXXX");
	h->log_fd = mkstemp(h->log_path);
	TEST_ASSERT(h->log_fd >= 0, "mkstemp: %s", strerror(errno));
	unlink(h->log_path);
	log_set_fd(h->log_fd);
	log_set_level(LOG_LEVEL_DEBUG);

	h->kvm = vm_create(mem_mb);
	vm_ioctl(h->kvm, KVM_CREATE_IRQCHIP, NULL);
	ret = vm_attach(&h->vm, h->kvm->kvm_fd, h->kvm->vm_fd, h->kvm->mem, h->kvm->mem_size);
	TEST_ASSERT(ret == 0, "vm_attach: %s", strerror(-ret));
	ret = pci_bus_new(&h->vm, HARNESS_PCI_BASE, HARNESS_PCI_SIZE, &h->pci);
	TEST_ASSERT(ret == 0, "pci_bus_new: %s", strerror(-ret));
	for (uint64_t a = HARNESS_LOW_START; a < HARNESS_LOW_END; a += PAGE_SIZE)
		vm_map_page(h->kvm, a, a);
	for (uint64_t a = HARNESS_PCI_BASE; a < HARNESS_PCI_BASE + HARNESS_PCI_SIZE; a += PAGE_SIZE)
		vm_map_page(h->kvm, a, a);
	return h;
}

static void *loop_thread(void *arg)
{
	struct harness *h = arg;

	event_base_loop(h->vm.evb, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

void harness_start(struct harness *h, void (*guest_code)(void))
{
	struct kvm_lapic_state lapic;
	uint32_t spiv;

	h->vcpu = vm_vcpu_add(h->kvm, guest_code);
	/* Software-enable the LAPIC so MSIs are accepted (the guest keeps IF=0). */
	TEST_ASSERT(ioctl(h->vcpu->fd, KVM_GET_LAPIC, &lapic) == 0, "KVM_GET_LAPIC");
	memcpy(&spiv, &lapic.regs[APIC_SPIV], 4);
	spiv |= 0x1ff;
	memcpy(&lapic.regs[APIC_SPIV], &spiv, 4);
	TEST_ASSERT(ioctl(h->vcpu->fd, KVM_SET_LAPIC, &lapic) == 0, "KVM_SET_LAPIC");
	TEST_ASSERT(pthread_create(&h->loop, NULL, loop_thread, h) == 0, "pthread_create");
	h->loop_running = true;
}

uint64_t harness_run(struct harness *h, struct ucall *uc)
{
	for (;;) {
		uint64_t cmd;

		vcpu_run(h->vcpu);
		cmd = get_ucall(h->vcpu, uc);
		if (cmd == UCALL_ASSERT)
			test_fail(uc->file ? uc->file : "?", (int)uc->line,
				  "guest assertion failed: %s (0x%lx vs 0x%lx)",
				  uc->expr ? uc->expr : "?", (unsigned long)uc->args[0],
				  (unsigned long)uc->args[1]);
		if (cmd != UCALL_NONE)
			return cmd;
		TEST_ASSERT(vm_handle_io_exit(&h->vm, h->vcpu->run), "unexpected exit %s (%u)",
			    exit_reason_str(h->vcpu->run->exit_reason), h->vcpu->run->exit_reason);
	}
}

bool harness_irq_pending(struct harness *h, uint8_t vector)
{
	struct kvm_lapic_state lapic;
	uint32_t irr;

	TEST_ASSERT(ioctl(h->vcpu->fd, KVM_GET_LAPIC, &lapic) == 0, "KVM_GET_LAPIC");
	memcpy(&irr, &lapic.regs[APIC_IRR + (vector / 32) * 0x10], 4);
	return irr & (1u << (vector % 32));
}

bool harness_log_contains(struct harness *h, const char *text)
{
	char buf[65536];
	ssize_t n = pread(h->log_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = 0;
	return strstr(buf, text) != NULL;
}

void harness_free(struct harness *h)
{
	if (h->loop_running) {
		vm_request_exit(&h->vm, VM_EXIT_POWEROFF);
		pthread_join(h->loop, NULL);
	}
	/* Devices are freed by the test before this; then the VMM's view, then KVM. */
	pci_bus_free(h->pci);
	vm_destroy(&h->vm);
	vcpu_free(h->vcpu);
	vm_free(h->kvm);
	log_set_fd(2);
	close(h->log_fd);
	free(h);
}
