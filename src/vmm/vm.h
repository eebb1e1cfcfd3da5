/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One virtual machine: the KVM VM, its RAM, its two I/O buses, interrupt
 * routing, one thread per vCPU and an event loop (libevent) on which every
 * device does its work (queue notifications, sockets, the console).
 *
 * How pocketvm-vmm ends (its exit status, documented in docs/vmm.md):
 */
#ifndef POCKETVM_VMM_VM_H
#define POCKETVM_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/bus.h"
#include "vmm/memory.h"

enum vm_exit_status {
	VM_EXIT_POWEROFF = 0, /* the guest powered off (ACPI S5) */
	VM_EXIT_ERROR = 1, /* the VMM failed (start-up error, host failure) */
	VM_EXIT_USAGE = 2, /* bad command line or configuration */
	VM_EXIT_REBOOT = 3, /* the guest reset itself (ACPI reset, i8042, triple fault) */
	VM_EXIT_CRASH = 4, /* the guest crashed (KVM could not run it further) */
	VM_EXIT_STOPPED = 5, /* the host stopped it (SIGTERM, SIGINT, SIGHUP) */
};

#define VM_MAX_VCPUS 64

struct vm;

/* Register state vCPU 0 starts with; filled by the boot loader. */
struct boot_state {
	bool long_mode; /* 64-bit bzImage entry; else PVH 32-bit entry */
	uint64_t entry;
	uint64_t rsi; /* boot_params (bzImage) */
	uint64_t rbx; /* hvm_start_info (PVH) */
	uint64_t gdt_gpa;
	uint64_t pml4_gpa; /* long mode only */
};

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread; /* written by the vCPU thread itself, for kicks */
	pthread_t tid; /* written by its creator, for joining */
	bool created;
	atomic_bool running; /* the thread is in its loop and may be kicked */
};

struct pci_bus;

struct vm {
	int kvm_fd;
	int vm_fd;
	bool owns_fds;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct event_base *evb;
	int stop_fd; /* eventfd: wakes the event loop to stop */
	struct event *stop_ev;
	int sig_fd; /* signalfd of vm_exit_on_signals(), or -1 */
	struct event *sig_ev;
	int nr_vcpus; /* created so far */
	int cpu_count; /* the VM's vCPUs, for the topology */
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid; /* as KVM supports it; per-vCPU copies are adjusted */
	struct boot_state boot;
	struct pci_bus *pci;

	pthread_mutex_t irq_lock;
	struct kvm_irq_routing *routes; /* irqchip pins + MSI routes */
	uint32_t routes_cap; /* entries allocated in routes */
	uint32_t next_gsi;

	atomic_int exit_status; /* -1 while running */

	/*
	 * Graceful stop (vm_exit_on_signals()): the first stop signal presses
	 * the guest's power button (power_button, set by devices/power.c) and
	 * gives it shutdown_grace seconds to power off; with 0, or no button,
	 * or at a second signal, the VM stops at once. Set before vm_run().
	 */
	unsigned int shutdown_grace;
	void (*power_button)(struct vm *vm);
	bool shutdown_pending; /* event loop only */
	struct event *grace_ev;
	_Atomic int64_t button_pressed_ns; /* CLOCK_MONOTONIC of the press, 0: none */

	/* The ACPI Generic Event Device's pending events (devices/power.c). */
	struct {
		pthread_mutex_t lock;
		uint32_t events; /* ACPI_GED_EV_* the guest has not read yet */
	} ged;

	/*
	 * Optional, set before vm_run(): run first in each vCPU thread, and in
	 * the event-loop thread once every vCPU thread started (the jail loads
	 * each thread kind's seccomp allowlist here). Nonzero stops the VM.
	 */
	int (*vcpu_thread_init)(struct vcpu *vcpu);
	int (*loop_thread_init)(struct vm *vm);
};

/*
 * Creates a VM with ram_mib MiB of RAM and nr_vcpus vCPUs: KVM in-kernel
 * irqchip (PIC, IOAPIC, LAPICs), memory slots, and the event loop.
 */
int vm_init(struct vm *vm, uint64_t ram_mib, int nr_vcpus) __must_check;

/* The same with an already open /dev/kvm (the jail passes it); the VM owns kvm_fd. */
int vm_init_fd(struct vm *vm, int kvm_fd, uint64_t ram_mib, int nr_vcpus) __must_check;

/*
 * Wraps a VM a test already created (fds and one RAM region at gpa 0 stay the
 * caller's); it must have an in-kernel irqchip. Used by tiny-guest tests to
 * run the real device models against their own guest code.
 */
int vm_attach(struct vm *vm, int kvm_fd, int vm_fd, void *ram, uint64_t ram_size) __must_check;

void vm_destroy(struct vm *vm);

/*
 * Starts the vCPU threads and runs the event loop until the guest powers
 * off, resets or crashes (or vm_request_exit()). Returns an enum vm_exit_status.
 */
int vm_run(struct vm *vm);

/* First caller wins: records why the VM stops and wakes every thread. */
void vm_request_exit(struct vm *vm, int status);

/*
 * Stops the VM when one of the signals in *set arrives, read from a signalfd
 * on the event loop: no handler runs on a vCPU thread. The first signal
 * presses the power button and waits shutdown_grace seconds for the guest to
 * power off (VM_EXIT_POWEROFF); a second signal, or the end of the grace,
 * ends it with VM_EXIT_STOPPED (as the first signal does with no grace).
 * The caller must have blocked them in every thread (block them before
 * creating any). Also what lets a VMM that is pid 1 of its namespace, where
 * signals without a handler are dropped, be stopped gracefully.
 */
int vm_exit_on_signals(struct vm *vm, const sigset_t *set) __must_check;

/*
 * Handles a KVM_EXIT_IO or KVM_EXIT_MMIO by dispatching to the buses.
 * Returns false for any other exit reason.
 */
bool vm_handle_io_exit(struct vm *vm, struct kvm_run *run);

/* Nanoseconds of CLOCK_MONOTONIC. */
int64_t vm_now_ns(void);

/* Sets an irqchip input line (ISA IRQ / IOAPIC pin) to level. */
int vm_irq_line(struct vm *vm, uint32_t irq, bool level) __must_check;

/* Reserves a GSI for an MSI route; it delivers nothing until vm_msi_route_set(). */
int vm_msi_route_alloc(struct vm *vm, uint32_t *gsi) __must_check;

/* Points an MSI GSI at (address, data) as the guest programmed them. */
int vm_msi_route_set(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data) __must_check;

/* KVM_IRQFD: writes to efd inject gsi. */
int vm_irqfd(struct vm *vm, int efd, uint32_t gsi, bool assign) __must_check;

/* KVM_IOEVENTFD on an MMIO address: guest writes of any size there signal efd. */
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, bool assign) __must_check;

/* vcpu.c */
int vcpu_init(struct vm *vm, int id) __must_check;
void *vcpu_thread(void *arg);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

#endif
