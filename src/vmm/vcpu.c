// SPDX-License-Identifier: Apache-2.0
/* One thread per vCPU: KVM_RUN, dispatch I/O exits, and turn the others into a VM exit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vm.h"
#include "vmm/x86/cpuid.h"

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1ull
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_DEF_TYPE_ENABLE_WB 0x806ull

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DM_EXTINT (7u << 8)
#define APIC_DM_NMI (4u << 8)

static int vcpu_set_cpuid(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	size_t size = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	bool deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, vm->cpuid, size);
	cpuid_adjust(c, (unsigned int)vcpu->id, (unsigned int)vm->cpu_count, deadline);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

static int vcpu_set_msrs(struct vcpu *vcpu)
{
	static const struct kvm_msr_entry entries[] = {
		{ .index = MSR_IA32_MISC_ENABLE, .data = MSR_IA32_MISC_ENABLE_FAST_STRING },
		/* Firmware would enable MTRRs with write-back as the default type. */
		{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_ENABLE_WB },
	};
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(entries)];
	} msrs = { .hdr.nmsrs = ARRAY_SIZE(entries) };
	int n;

	memcpy(msrs.bytes + sizeof(struct kvm_msrs), entries, sizeof(entries));
	n = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return -errno;
	if (n != (int)ARRAY_SIZE(entries))
		log_warn("vcpu %d: KVM accepted only %d of %zu MSRs", vcpu->id, n,
			 ARRAY_SIZE(entries));
	return 0;
}

/* LINT0 as ExtINT (the PIC) and LINT1 as NMI, as firmware leaves them. */
static int vcpu_set_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	v = APIC_DM_EXTINT;
	memcpy(&lapic.regs[APIC_LVT_LINT0], &v, sizeof(v));
	v = APIC_DM_NMI;
	memcpy(&lapic.regs[APIC_LVT_LINT1], &v, sizeof(v));
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int vcpu_init(struct vm *vm, int id)
{
	struct vcpu *vcpu = &vm->vcpus[id];
	int size, ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		return -errno;
	vm->nr_vcpus = id + 1;
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return -EINVAL;
	vcpu->run_size = (size_t)size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return -errno;
	}
	/* CPUID first: KVM checks MSR writes against the guest's CPUID. */
	ret = vcpu_set_cpuid(vcpu);
	if (!ret)
		ret = vcpu_set_msrs(vcpu);
	if (!ret)
		ret = vcpu_set_lapic(vcpu);
	return ret;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, SIGUSR1);
}

/* Enough state to tell what a crashed guest was doing. */
static void vcpu_report_crash(struct vcpu *vcpu, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_error("vcpu %d: guest crashed: %s", vcpu->id, what);
		return;
	}
	log_error("vcpu %d: guest crashed: %s: rip=0x%llx rsp=0x%llx cr0=0x%llx cr3=0x%llx "
		  "cr4=0x%llx efer=0x%llx cs=0x%x",
		  vcpu->id, what, regs.rip, regs.rsp, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer,
		  sregs.cs.selector);
}

/* Handles one exit; returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	char why[96];

	if (vm_handle_io_exit(vm, run))
		return true;
	switch (run->exit_reason) {
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vm_request_exit(vm, VM_EXIT_POWEROFF);
		} else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			log_info("vcpu %d: guest reset", vcpu->id);
			vm_request_exit(vm, VM_EXIT_REBOOT);
		} else {
			snprintf(why, sizeof(why), "system event %u", run->system_event.type);
			vcpu_report_crash(vcpu, why);
			vm_request_exit(vm, VM_EXIT_CRASH);
		}
		return false;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault: how Linux resets when nothing else works. */
		log_info("vcpu %d: guest triple fault, treated as a reset", vcpu->id);
		vm_request_exit(vm, VM_EXIT_REBOOT);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, sizeof(why), "KVM internal error, suberror %u",
			 run->internal.suberror);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_HLT:
		snprintf(why, sizeof(why), "halted with no interrupt controller");
		break;
	default:
		snprintf(why, sizeof(why), "unexpected exit reason %u", run->exit_reason);
		break;
	}
	vcpu_report_crash(vcpu, why);
	vm_request_exit(vm, VM_EXIT_CRASH);
	return false;
}

void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;

	/* The VMM's own name for each thread shows in top and in crash reports. */
	char name[16];

	snprintf(name, sizeof(name), "vcpu%d", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	/* pthread_self(), not the creator's copy: kicks may come before that is written. */
	vcpu->thread = pthread_self();
	atomic_store(&vcpu->running, true);
	if (vm->vcpu_thread_init && vm->vcpu_thread_init(vcpu)) {
		vm_request_exit(vm, VM_EXIT_ERROR);
		return NULL;
	}
	while (atomic_load(&vm->exit_status) < 0) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_error("vcpu %d: KVM_RUN: %s", vcpu->id, strerror(errno));
			vm_request_exit(vm, VM_EXIT_ERROR);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	return NULL;
}
