/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tiny guests against pocketvm's own device models: a kvm_util VM (with an
 * in-kernel irqchip) is wrapped by the VMM's struct vm (vm_attach), gets a
 * PCI bus whose window is identity-mapped into the guest, and the devices a
 * test adds. The guest programs them as a driver would (port-I/O config
 * space, MMIO BARs, rings in its memory, MSI-X); the VMM's event loop runs
 * in a thread; I/O exits that are not ucalls go to the VMM's buses.
 *
 * Guest-physical layout: [HARNESS_LOW_START, 1 MiB) is identity-mapped for
 * rings and buffers; the PCI window HARNESS_PCI_BASE is identity-mapped too.
 */
#ifndef POCKETVM_TESTS_VMM_HARNESS_H
#define POCKETVM_TESTS_VMM_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

#define HARNESS_LOW_START 0x10000ul
#define HARNESS_LOW_END 0x100000ul
#define HARNESS_PCI_BASE 0xc0000000ul
#define HARNESS_PCI_SIZE 0x100000ul

struct harness {
	struct kvm_vm *kvm;
	struct kvm_vcpu *vcpu;
	struct vm vm;
	struct pci_bus *pci;
	pthread_t loop;
	bool loop_running;
	char log_path[64];
	int log_fd;
};

/* A VM with mem_mb MiB, a PCI bus and the VMM's log captured to a file. */
struct harness *harness_new(unsigned int mem_mb);

/* Starts the event loop and a vCPU entering guest_code. Call after adding devices. */
void harness_start(struct harness *h, void (*guest_code)(void));

/* Runs the guest to its next ucall, serving device I/O on the way. */
uint64_t harness_run(struct harness *h, struct ucall *uc);

/* Whether an interrupt with this vector is pending in the vCPU's LAPIC (IRR). */
bool harness_irq_pending(struct harness *h, uint8_t vector);

/* True if the VMM's log so far contains text. */
bool harness_log_contains(struct harness *h, const char *text);

void harness_free(struct harness *h);

#endif
