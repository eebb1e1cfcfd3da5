// SPDX-License-Identifier: Apache-2.0
/*
 * Virtqueue chain walking on an arbitrary ring: the input is 4 bytes of
 * queue setup (size, features, starting indices) followed by the contents of
 * a 64 KiB guest memory holding the descriptor table (0x0000), the available
 * ring (0x1000) and the used ring (0x2000). Every buffer a popped chain
 * yields is read and written in full, so ASan catches any host pointer the
 * queue code lets escape guest memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/virtio/queue.h"

#define MEM_SIZE 0x10000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	static struct virtq_chain chain;
	struct guest_mem gm = { 0 };
	struct virtq vq;
	const char *err;
	uint8_t sink = 0;

	if (size < 4)
		return 0;
	if (!mem)
		mem = malloc(MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 4, MIN(size - 4, (size_t)MEM_SIZE));
	if (guest_mem_add_region(&gm, 0, MEM_SIZE, mem))
		return 0;
	virtq_reset(&vq, &gm, VIRTQ_MAX_SIZE);
	vq.size = (uint16_t)(1u << (data[0] % 10)); /* 1 .. 512: over the max is refused */
	vq.indirect = data[1] & 1;
	vq.event_idx = data[1] & 2;
	vq.desc_gpa = 0;
	vq.avail_gpa = 0x1000;
	vq.used_gpa = 0x2000;
	if (virtq_start(&vq, &err))
		return 0;
	vq.last_avail = data[2];
	vq.used_idx = data[3];
	for (int n = 0; n < 2 * VIRTQ_MAX_SIZE; n++) {
		int ret = virtq_pop(&vq, &chain, &err);

		if (ret <= 0)
			break;
		for (unsigned int i = 0; i < chain.nr_out + chain.nr_in; i++) {
			uint8_t *p = chain.iov[i].iov_base;

			for (size_t j = 0; j < chain.iov[i].iov_len; j++)
				sink ^= p[j];
			if (i >= chain.nr_out && chain.iov[i].iov_len)
				p[chain.iov[i].iov_len - 1] = sink;
		}
		virtq_push(&vq, chain.head, (uint32_t)chain.in_len);
		(void)virtq_should_signal(&vq);
		if (!virtq_enable_notify(&vq))
			break;
	}
	return 0;
}
