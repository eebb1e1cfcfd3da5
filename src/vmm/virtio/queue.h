/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueues (virtio 1.x, section 2.7) read from hostile guest memory.
 *
 * Every ring and buffer address is translated with gpa_to_hva() and must lie
 * entirely in guest RAM; indices are masked by the (power-of-two) queue
 * size; a chain may not revisit more descriptors than its table holds (which
 * catches loops), indirect tables may not nest, and readable buffers must
 * precede writable ones. Each descriptor is copied once before use, so a
 * guest rewriting it concurrently cannot make the VMM act on two versions.
 * Any violation returns -EIO with a description: the caller puts the device
 * into NEEDS_RESET.
 */
#ifndef POCKETVM_VMM_VIRTIO_QUEUE_H
#define POCKETVM_VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/util.h"
#include "vmm/memory.h"

#define VIRTQ_MAX_SIZE 256
/* Most buffers one request may carry (direct plus indirect descriptors). */
#define VIRTQ_MAX_CHAIN 1024

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq {
	const struct guest_mem *mem;
	uint16_t max_size;
	uint16_t size; /* as the driver set it */
	bool ready; /* enabled and rings validated */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */
	uint16_t msix_vector;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq_desc *desc;
	uint16_t *avail; /* flags, idx, ring[size], used_event */
	uint16_t *used; /* flags, idx, ring[size] of {u32 id, u32 len}, avail_event */
	uint16_t last_avail; /* next avail entry to consume */
	uint16_t used_idx; /* next used entry to fill */
	uint16_t signalled_used;
	bool signalled_valid;
};

/* One request: nr_out device-readable buffers, then nr_in device-writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_out, nr_in;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Back to the state after device reset (size = max_size, addresses 0, not ready). */
void virtq_reset(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size);

/* Validates size and ring addresses and maps the rings; -EINVAL with *err. */
int virtq_start(struct virtq *vq, const char **err) __must_check;

/*
 * Takes the next available chain: 1 when c holds one, 0 when the ring is
 * empty, -EIO (with *err) when the guest broke the rules.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *c, const char **err) __must_check;

/* Gives back the chain popped last, unused (e.g. the socket had no data after all). */
void virtq_unpop(struct virtq *vq);

/* True if the driver made a chain available that was not popped yet. */
bool virtq_has_avail(struct virtq *vq);

/* Returns a chain to the driver with len bytes written into its writable buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/*
 * After processing: with EVENT_IDX, asks the driver to notify for the next
 * entry. Returns true if more chains arrived meanwhile (process again).
 */
bool virtq_enable_notify(struct virtq *vq);

/* After pushing: whether the driver wants an interrupt now. */
bool virtq_should_signal(struct virtq *vq);

/* Copies up to len bytes out of (or into) an iovec array; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf,
		    size_t len);

#endif
