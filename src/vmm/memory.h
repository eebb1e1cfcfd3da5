/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest physical memory: where guest RAM lives in the VMM and the one place
 * that turns a guest-physical (address, length) into a host pointer.
 *
 * x86 layout: RAM from 0 up to MEM_HOLE_START (3 GiB); above that a hole for
 * MMIO (PCI BARs, IOAPIC, LAPIC) up to 4 GiB; any RAM beyond 3 GiB continues
 * at 4 GiB. Every guest-supplied range is translated by gpa_to_hva(), which
 * refuses anything that is not entirely inside one RAM region.
 */
#ifndef POCKETVM_VMM_MEMORY_H
#define POCKETVM_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define MEM_HOLE_START 0xc0000000ull
#define MEM_4G 0x100000000ull
#define GUEST_MEM_MAX_REGIONS 4

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	int nr_regions;
	uint8_t *map; /* the one anonymous mapping behind all regions */
	size_t map_size;
	bool owned; /* map was created by guest_mem_alloc() */
};

/* Allocates ram_size bytes (a multiple of 1 MiB) of guest RAM with the x86 layout. */
int guest_mem_alloc(struct guest_mem *m, uint64_t ram_size) __must_check;

/* Describes memory the caller already mapped (tests) as one region at gpa. */
int guest_mem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *hva) __must_check;

void guest_mem_free(struct guest_mem *m);

/*
 * Host address of guest-physical [gpa, gpa + len), or NULL if any byte of it
 * is outside guest RAM or the range crosses a region boundary. len 0 is
 * valid when gpa is inside (or at the end of) a region.
 */
static inline void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->regions[i];

		if (gpa >= r->gpa && range_ok(gpa - r->gpa, len, r->size))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/* Total RAM above and below the hole. */
uint64_t guest_mem_ram_size(const struct guest_mem *m);

/* Copies into guest memory; -EFAULT if the range is not RAM. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src,
		    uint64_t len) __must_check;

#endif
