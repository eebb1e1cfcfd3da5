// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/cpuid.h"

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)

/* Bits needed to number n things (the x2APIC ID shift). */
static unsigned int order_base_2(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void adjust_leaf_b(struct kvm_cpuid_entry2 *e, unsigned int apic_id, unsigned int nr_vcpus)
{
	e->edx = apic_id;
	switch (e->index) {
	case 0: /* SMT level: one thread per core */
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1u << 8) | 0;
		break;
	case 1: /* core level: every vCPU is a core of socket 0 */
		e->eax = order_base_2(nr_vcpus);
		e->ebx = nr_vcpus;
		e->ecx = (2u << 8) | 1;
		break;
	default: /* no further levels */
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void cpuid_adjust(struct kvm_cpuid2 *c, unsigned int apic_id, unsigned int nr_vcpus,
		  bool tsc_deadline)
{
	unsigned int cores_pow2 = 1u << order_base_2(nr_vcpus);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* EBX: initial APIC ID, logical processors per package, CLFLUSH size. */
			e->ebx = (apic_id << 24) | ((cores_pow2 & 0xff) << 16) | (e->ebx & 0xffff);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (nr_vcpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package - 1 in 31:26; threads sharing a cache - 1 in 25:14. */
			e->eax &= 0x3fff;
			if (e->eax & 0x1f) {
				unsigned int level = (e->eax >> 5) & 7;
				unsigned int sharing = level >= 3 ? cores_pow2 : 1;

				e->eax |= ((cores_pow2 - 1) << 26) | ((sharing - 1) << 14);
			}
			break;
		case 0xb:
		case 0x1f:
			adjust_leaf_b(e, apic_id, nr_vcpus);
			break;
		case 0x80000001:
			e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
			break;
		case 0x80000008:
			/* AMD: ApicIdSize in 15:12, NC (cores - 1) in 7:0. */
			e->ecx = (order_base_2(nr_vcpus) << 12) | ((nr_vcpus - 1) & 0xff);
			break;
		case 0x8000001e:
			/* AMD topology extension: one thread per core, node 0. */
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
}
