/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPUID a vCPU shows its guest: what KVM supports
 * (KVM_GET_SUPPORTED_CPUID), with a topology consistent across leaves 1, 4,
 * 0xB and the AMD extended leaves (one socket, nr_vcpus cores, one thread
 * each), the hypervisor bit set, and TSC-deadline when KVM emulates it.
 */
#ifndef POCKETVM_VMM_X86_CPUID_H
#define POCKETVM_VMM_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "common/util.h"

/*
 * Rewrites entries in place (a copy of the supported list) for vCPU
 * apic_id of nr_vcpus. tsc_deadline: KVM_CAP_TSC_DEADLINE_TIMER.
 */
void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int nr_vcpus,
		  bool tsc_deadline);

#endif
