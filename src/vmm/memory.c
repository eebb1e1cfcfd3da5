// SPDX-License-Identifier: Apache-2.0
#include "vmm/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int guest_mem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *hva)
{
	if (m->nr_regions >= GUEST_MEM_MAX_REGIONS || size == 0 || gpa + size < gpa)
		return -EINVAL;
	m->regions[m->nr_regions++] = (struct guest_mem_region){ gpa, size, hva };
	return 0;
}

/*
 * Guest RAM starts on a 2 MiB boundary of the VMM's address space, so that
 * guest and host addresses agree modulo 2 MiB: only then can KVM map the
 * host's transparent huge pages into the guest as 2 MiB pages. Otherwise
 * every 4 KiB page the guest touches first costs a nested page fault exit,
 * and every TLB miss a longer page walk (measured in the emulated phone:
 * 21 such exits per MiB of guest network traffic, docs/benchmarks/vmm-net.md).
 */
#define GUEST_RAM_ALIGN (2ull << 20)

/* An anonymous mapping of size bytes starting on a GUEST_RAM_ALIGN boundary. */
static uint8_t *map_aligned(uint64_t size)
{
	uint8_t *raw, *start;
	uint64_t head, tail;

	raw = mmap(NULL, size + GUEST_RAM_ALIGN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return MAP_FAILED;
	start = (uint8_t *)ALIGN_UP((uintptr_t)raw, GUEST_RAM_ALIGN);
	head = (uint64_t)(start - raw);
	tail = GUEST_RAM_ALIGN - head;
	if (head)
		munmap(raw, head);
	if (tail)
		munmap(start + size, tail);
	return start;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t ram_size)
{
	uint64_t low;
	int ret;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || !IS_ALIGNED(ram_size, 1ull << 20))
		return -EINVAL;
	/*
	 * MAP_NORESERVE: the guest touches only what it uses, and the VMM's own
	 * RSS stays small. Not dumpable: guest RAM may hold the guest's secrets.
	 */
	m->map = map_aligned(ram_size);
	if (m->map == MAP_FAILED)
		return -errno;
	m->map_size = ram_size;
	m->owned = true;
	/*
	 * Deliberately not MADV_MERGEABLE: KSM would share identical pages
	 * between VMs, a known side channel (page-fusion timing, Flip Feng Shui)
	 * between the personal and the work VM.
	 */
	madvise(m->map, ram_size, MADV_DONTDUMP);
	low = MIN(ram_size, MEM_HOLE_START);
	ret = guest_mem_add_region(m, 0, low, m->map);
	if (!ret && ram_size > low)
		ret = guest_mem_add_region(m, MEM_4G, ram_size - low, m->map + low);
	if (ret)
		guest_mem_free(m);
	return ret;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->owned && m->map)
		munmap(m->map, m->map_size);
	memset(m, 0, sizeof(*m));
}

uint64_t guest_mem_ram_size(const struct guest_mem *m)
{
	uint64_t total = 0;

	for (int i = 0; i < m->nr_regions; i++)
		total += m->regions[i].size;
	return total;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gpa_to_hva(m, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
