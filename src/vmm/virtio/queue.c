// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/queue.h"

#include <errno.h>
#include <string.h>

void virtq_reset(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->max_size = max_size;
	vq->size = max_size;
	vq->msix_vector = 0xffff;
}

int virtq_start(struct virtq *vq, const char **err)
{
	uint64_t n = vq->size;

	if (n == 0 || n > vq->max_size || (n & (n - 1))) {
		*err = "queue size is not a power of two within the maximum";
		return -EINVAL;
	}
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4)) {
		*err = "ring address misaligned";
		return -EINVAL;
	}
	vq->desc = gpa_to_hva(vq->mem, vq->desc_gpa, 16 * n);
	vq->avail = gpa_to_hva(vq->mem, vq->avail_gpa, 6 + 2 * n);
	vq->used = gpa_to_hva(vq->mem, vq->used_gpa, 6 + 8 * n);
	if (!vq->desc || !vq->avail || !vq->used) {
		*err = "ring outside guest RAM";
		return -EINVAL;
	}
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->ready = true;
	return 0;
}

static uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int chain_fail(const char **err, const char *why)
{
	*err = why;
	return -EIO;
}

/* Adds one buffer to the chain after checking it against guest RAM and the order rule. */
static int chain_add(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *d,
		     const char **err)
{
	void *hva;
	unsigned int n = c->nr_out + c->nr_in;

	if (n >= VIRTQ_MAX_CHAIN)
		return chain_fail(err, "descriptor chain has too many buffers");
	hva = gpa_to_hva(vq->mem, d->addr, d->len);
	if (!hva)
		return chain_fail(err, "buffer outside guest RAM");
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		c->nr_in++;
		c->in_len += d->len;
	} else {
		if (c->nr_in)
			return chain_fail(err, "device-readable buffer after a writable one");
		c->nr_out++;
		c->out_len += d->len;
	}
	c->iov[n].iov_base = hva;
	c->iov[n].iov_len = d->len;
	return 0;
}

static int chain_walk(struct virtq *vq, struct virtq_chain *c, uint16_t head, const char **err)
{
	const struct virtq_desc *table = vq->desc;
	uint32_t table_size = vq->size, steps = 0;
	uint16_t idx = head;
	bool in_indirect = false;
	struct virtq_desc d;
	int ret;

	for (;;) {
		if (idx >= table_size)
			return chain_fail(err, "descriptor index beyond its table");
		memcpy(&d, (const void *)&table[idx], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return chain_fail(err, "indirect descriptor not negotiated");
			/*
			 * By state, not by address: an indirect table may lie
			 * over the ring's own table, and would then loop.
			 */
			if (in_indirect)
				return chain_fail(err, "nested indirect descriptor table");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return chain_fail(err, "indirect descriptor with NEXT set");
			if (d.len == 0 || d.len % sizeof(d) || d.len / sizeof(d) > VIRTQ_MAX_CHAIN)
				return chain_fail(err, "indirect table size invalid");
			table = gpa_to_hva(vq->mem, d.addr, d.len);
			if (!table)
				return chain_fail(err, "indirect table outside guest RAM");
			table_size = d.len / sizeof(d);
			in_indirect = true;
			steps = 0;
			idx = 0;
			continue;
		}
		/* More steps than descriptors in the table means a loop. */
		if (++steps > table_size)
			return chain_fail(err, "descriptor chain loops or exceeds its table");
		ret = chain_add(vq, c, &d, err);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c, const char **err)
{
	uint16_t avail_idx, head;
	uint16_t mask = (uint16_t)(vq->size - 1);

	if (!vq->ready)
		return 0;
	avail_idx = load16(&vq->avail[1]);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return chain_fail(err, "available index moved further than the queue size");
	/* Read the ring entry only after seeing the index that published it. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(&vq->avail[2 + (vq->last_avail & mask)]);
	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	if (chain_walk(vq, c, head, err))
		return -EIO;
	vq->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

bool virtq_has_avail(struct virtq *vq)
{
	return vq->ready && load16(&vq->avail[1]) != vq->last_avail;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	uint16_t slot = vq->used_idx & (uint16_t)(vq->size - 1);
	uint32_t elem[2] = { head, len };

	memcpy((uint8_t *)&vq->used[2] + 8 * (size_t)slot, elem, sizeof(elem));
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used[1], vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!vq->ready)
		return false;
	if (vq->event_idx) {
		uint16_t *avail_event =
			(uint16_t *)((uint8_t *)&vq->used[2] + 8 * (size_t)vq->size);

		__atomic_store_n(avail_event, vq->last_avail, __ATOMIC_RELEASE);
	}
	/* Publish avail_event before re-reading avail->idx (pairs with the driver's barrier). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&vq->avail[1]) != vq->last_avail;
}

bool virtq_should_signal(struct virtq *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->ready)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail[0]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	event = load16(&vq->avail[2 + vq->size]);
	/* vring_need_event(): did used_idx cross used_event since the last interrupt? */
	return !valid || (uint16_t)(vq->used_idx - event - 1) < (uint16_t)(vq->used_idx - old);
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l = MIN(l - skip, len - done);
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf,
		    size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l = MIN(l - skip, len - done);
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, l);
		done += l;
		skip = 0;
	}
	return done;
}
