// SPDX-License-Identifier: Apache-2.0
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (int i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EBUSY;
	}
	if (b->nr >= BUS_MAX_RANGES)
		return -ENOSPC;
	b->ranges[b->nr++] = (struct bus_range){ base, len, fn, opaque };
	return 0;
}

bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool write)
{
	for (int i = 0; i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];

		/* The whole access must fall inside the range. */
		if (addr >= r->base && range_ok(addr - r->base, len, r->len)) {
			r->fn(r->opaque, addr - r->base, data, len, write);
			return true;
		}
	}
	if (!write)
		memset(data, 0xff, len);
	return false;
}
