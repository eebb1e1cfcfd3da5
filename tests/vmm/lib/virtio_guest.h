/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal virtio-pci (modern) driver for tiny guests: PCI config through
 * ports 0xcf8/0xcfc, capability walk, feature negotiation, split queues in
 * identity-mapped low memory, MSI-X vectors, notifications. Every function
 * runs in the guest (GUEST_CODE) and talks to the device exactly as Linux's
 * virtio_pci_modern does, so a test can also break each rule on purpose.
 */
#ifndef POCKETVM_TESTS_VIRTIO_GUEST_H
#define POCKETVM_TESTS_VIRTIO_GUEST_H

#include <stdint.h>

#include "ucall.h"

#define VG_STATUS_ACK 1
#define VG_STATUS_DRIVER 2
#define VG_STATUS_DRIVER_OK 4
#define VG_STATUS_FEATURES_OK 8
#define VG_STATUS_NEEDS_RESET 0x40

#define VG_DESC_F_NEXT 1
#define VG_DESC_F_WRITE 2
#define VG_DESC_F_INDIRECT 4

#define VG_F_INDIRECT (1ull << 28)
#define VG_F_EVENT_IDX (1ull << 29)
#define VG_F_VERSION_1 (1ull << 32)

/* Guest helpers: not instrumented, kept out of line, fine to leave unused. */
#define VG_FN GUEST_CODE __attribute__((unused)) static

/* Spin limit for waiting on the device (the loop runs emulated here). */
#define VG_SPIN 3000000ul

struct vg_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vg_queue {
	uint16_t size;
	volatile struct vg_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[], used_event */
	volatile uint16_t *used; /* flags, idx, {u32 id, u32 len}[], avail_event */
	uint16_t avail_idx;
	uint16_t used_seen;
	uint16_t index;
};

struct vg_dev {
	uint32_t bdf; /* config address bits: slot << 11 */
	uintptr_t common, notify, isr, device;
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint8_t cfg_cap; /* VIRTIO_PCI_CAP_PCI_CFG */
	uintptr_t bar0;
};

/* Guest view of the virtio_pci_common_cfg offsets. */
enum {
	VG_DFSELECT = 0,
	VG_DF = 4,
	VG_GFSELECT = 8,
	VG_GF = 12,
	VG_MSIX_CONFIG = 16,
	VG_NUM_QUEUES = 18,
	VG_STATUS = 20,
	VG_CFG_GEN = 21,
	VG_Q_SELECT = 22,
	VG_Q_SIZE = 24,
	VG_Q_MSIX = 26,
	VG_Q_ENABLE = 28,
	VG_Q_NOTIFY_OFF = 30,
	VG_Q_DESC = 32,
	VG_Q_AVAIL = 40,
	VG_Q_USED = 48,
};

VG_FN void vg_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

VG_FN uint32_t vg_inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

VG_FN uint32_t vg_cfg_read(uint32_t bdf, uint32_t off)
{
	vg_outl(0xcf8, 0x80000000u | bdf | (off & 0xfc));
	return vg_inl(0xcfc) >> (8 * (off & 3));
}

VG_FN void vg_cfg_write32(uint32_t bdf, uint32_t off, uint32_t v)
{
	vg_outl(0xcf8, 0x80000000u | bdf | (off & 0xfc));
	vg_outl(0xcfc, v);
}

#define VG_W8(a, v) (*(volatile uint8_t *)(uintptr_t)(a) = (uint8_t)(v))
#define VG_W16(a, v) (*(volatile uint16_t *)(uintptr_t)(a) = (uint16_t)(v))
#define VG_W32(a, v) (*(volatile uint32_t *)(uintptr_t)(a) = (uint32_t)(v))
#define VG_R8(a) (*(volatile uint8_t *)(uintptr_t)(a))
#define VG_R16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define VG_R32(a) (*(volatile uint32_t *)(uintptr_t)(a))

VG_FN void vg_w64(uintptr_t a, uint64_t v)
{
	VG_W32(a, (uint32_t)v);
	VG_W32(a + 4, (uint32_t)(v >> 32));
}

/* Finds the device in slot, enables its BAR and walks its capabilities. */
VG_FN int vg_probe(struct vg_dev *d, unsigned int slot, uint16_t device_id)
{
	uint32_t id, cmd;
	uint8_t cap;

	d->bdf = slot << 11;
	d->common = d->notify = d->isr = d->device = 0;
	d->msix_cap = d->cfg_cap = 0;
	id = vg_cfg_read(d->bdf, 0);
	if ((id & 0xffff) != 0x1af4 || (id >> 16) != device_id)
		return -1;
	d->bar0 = vg_cfg_read(d->bdf, 0x10) & ~0xfu;
	cmd = vg_cfg_read(d->bdf, 4) & 0xffff;
	vg_cfg_write32(d->bdf, 4, cmd | 0x6); /* memory + bus master */
	for (cap = (uint8_t)vg_cfg_read(d->bdf, 0x34); cap;
	     cap = (uint8_t)vg_cfg_read(d->bdf, cap + 1u)) {
		uint8_t id8 = (uint8_t)vg_cfg_read(d->bdf, cap);
		uint8_t type = (uint8_t)vg_cfg_read(d->bdf, cap + 3u);
		uintptr_t addr = d->bar0 + vg_cfg_read(d->bdf, cap + 8u);

		if (id8 == 0x11) {
			d->msix_cap = cap;
		} else if (id8 == 0x09) {
			if (type == 1)
				d->common = addr;
			else if (type == 2) {
				d->notify = addr;
				d->notify_mult = vg_cfg_read(d->bdf, cap + 16u);
			} else if (type == 3)
				d->isr = addr;
			else if (type == 4)
				d->device = addr;
			else if (type == 5)
				d->cfg_cap = cap;
		}
	}
	return d->common && d->notify && d->device && d->msix_cap && d->cfg_cap ? 0 : -2;
}

VG_FN uint8_t vg_status(struct vg_dev *d)
{
	return VG_R8(d->common + VG_STATUS);
}

/* Resets, negotiates (wanted & offered); returns the accepted feature set or 0 on failure. */
VG_FN uint64_t vg_negotiate(struct vg_dev *d, uint64_t wanted)
{
	uint64_t offered;

	VG_W8(d->common + VG_STATUS, 0);
	VG_W8(d->common + VG_STATUS, VG_STATUS_ACK | VG_STATUS_DRIVER);
	VG_W32(d->common + VG_DFSELECT, 0);
	offered = VG_R32(d->common + VG_DF);
	VG_W32(d->common + VG_DFSELECT, 1);
	offered |= (uint64_t)VG_R32(d->common + VG_DF) << 32;
	wanted &= offered;
	VG_W32(d->common + VG_GFSELECT, 0);
	VG_W32(d->common + VG_GF, (uint32_t)wanted);
	VG_W32(d->common + VG_GFSELECT, 1);
	VG_W32(d->common + VG_GF, (uint32_t)(wanted >> 32));
	VG_W8(d->common + VG_STATUS, VG_STATUS_ACK | VG_STATUS_DRIVER | VG_STATUS_FEATURES_OK);
	if (!(vg_status(d) & VG_STATUS_FEATURES_OK))
		return 0;
	return wanted;
}

/* MSI-X on, entry n -> LAPIC 0 with vector, unmasked. */
VG_FN void vg_msix_vector(struct vg_dev *d, unsigned int n, uint8_t vector)
{
	uint32_t ctrl = vg_cfg_read(d->bdf, d->msix_cap) & 0xffff0000u;
	uint32_t table = vg_cfg_read(d->bdf, d->msix_cap + 4u);
	uintptr_t e = d->bar0 + (table & ~7u) + 16u * n;

	vg_cfg_write32(d->bdf, d->msix_cap, (ctrl | 0x80000000u) & ~0x40000000u);
	VG_W32(e, 0xfee00000u);
	VG_W32(e + 4, 0);
	VG_W32(e + 8, vector);
	VG_W32(e + 12, 0);
}

/* Lays a queue out at base (desc, then avail, then used page-aligned) and enables it. */
VG_FN void vg_queue_setup(struct vg_dev *d, struct vg_queue *q, uint16_t index, uint16_t size,
			  uintptr_t base, uint16_t vector)
{
	q->index = index;
	q->size = size;
	q->desc = (volatile struct vg_desc *)base;
	q->avail = (volatile uint16_t *)(base + 16u * size);
	q->used = (volatile uint16_t *)(base + 0x2000);
	q->avail_idx = q->used_seen = 0;
	for (unsigned int i = 0; i < 3u + size; i++)
		q->avail[i] = 0;
	for (unsigned int i = 0; i < 3 + 4u * size; i++)
		q->used[i] = 0;
	VG_W16(d->common + VG_Q_SELECT, index);
	VG_W16(d->common + VG_Q_SIZE, size);
	vg_w64(d->common + VG_Q_DESC, base);
	vg_w64(d->common + VG_Q_AVAIL, base + 16u * size);
	vg_w64(d->common + VG_Q_USED, base + 0x2000);
	VG_W16(d->common + VG_Q_MSIX, vector);
	VG_W16(d->common + VG_Q_ENABLE, 1);
}

VG_FN void vg_driver_ok(struct vg_dev *d)
{
	VG_W8(d->common + VG_STATUS,
	      VG_STATUS_ACK | VG_STATUS_DRIVER | VG_STATUS_FEATURES_OK | VG_STATUS_DRIVER_OK);
}

/* Publishes head in the avail ring and notifies the device. */
VG_FN void vg_submit(struct vg_dev *d, struct vg_queue *q, uint16_t head)
{
	q->avail[2 + (q->avail_idx % q->size)] = head;
	__asm__ volatile("" ::: "memory");
	q->avail[1] = ++q->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	VG_W16(d->notify + (uintptr_t)q->index * d->notify_mult, q->index);
}

/* Waits for the next used entry; returns its length, or -1 on timeout / NEEDS_RESET. */
VG_FN long vg_wait_used(struct vg_dev *d, struct vg_queue *q, uint32_t *id)
{
	for (unsigned long i = 0; i < VG_SPIN; i++) {
		/* NEEDS_RESET may follow a completion: look at the ring once more then. */
		int broken = vg_status(d) & VG_STATUS_NEEDS_RESET;

		if (q->used[1] != q->used_seen) {
			volatile uint32_t *e =
				(volatile uint32_t *)&q->used[2] + 2 * (q->used_seen % q->size);

			q->used_seen++;
			if (id)
				*id = e[0];
			return e[1];
		}
		if (broken)
			return -1;
	}
	return -1;
}

/* Waits until the device reports NEEDS_RESET; 1 if it did. */
VG_FN int vg_wait_needs_reset(struct vg_dev *d)
{
	for (unsigned long i = 0; i < VG_SPIN / 8; i++)
		if (vg_status(d) & VG_STATUS_NEEDS_RESET)
			return 1;
	return 0;
}

#endif
