/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-I/O and MMIO dispatch: a device claims [base, base + len) on one of
 * the VM's two buses and is called for each guest access inside it.
 *
 * Ranges are registered while the VM is built, before any vCPU runs; after
 * that the table is read-only, so lookups from vCPU threads need no lock
 * (devices whose windows move, like PCI BARs, dispatch inside their range).
 */
#ifndef POCKETVM_VMM_BUS_H
#define POCKETVM_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

/*
 * One guest access: offset is relative to the range's base, len is 1, 2, 4
 * or 8. For reads the handler fills data[0..len); unclaimed bytes read as
 * what the caller preset (all ones).
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
};

#define BUS_MAX_RANGES 32

struct bus {
	const char *name;
	struct bus_range ranges[BUS_MAX_RANGES];
	int nr;
};

/* -EBUSY if the range overlaps one already registered, -ENOSPC if full. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque) __must_check;

/*
 * Dispatches one access. Returns false when no device claims addr; a read
 * then leaves data as all ones (what an empty bus returns).
 */
bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool write);

#endif
