/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A virtio driver in the test: a real KVM VM (for irqfd/ioeventfd/MSI
 * routes) whose RAM the test owns, the VMM's PCI bus and device models, and
 * host code that plays the guest's driver through BAR 0 and split rings in
 * that RAM. Used to feed device models good and hostile rings.
 */
#ifndef POCKETVM_TESTS_VDRV_H
#define POCKETVM_TESTS_VDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/pci/pci.h"
#include "vmm/vm.h"

#define VDRV_MAX_QUEUES 8

struct vdrv_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
};

struct vdrv {
	int kvm_fd, vm_fd;
	uint8_t *ram;
	uint64_t ram_size, next;
	struct vm vm;
	struct pci_bus *bus;
	struct pci_dev *dev;
	struct vdrv_queue q[VDRV_MAX_QUEUES];
};

struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* Exits 77 (SKIP) without a usable /dev/kvm. */
void vdrv_setup(struct vdrv *d, unsigned int ram_mib);
void vdrv_teardown(struct vdrv *d);

/* The device added last to the bus. */
void vdrv_pick_device(struct vdrv *d);

uint64_t vdrv_alloc(struct vdrv *d, uint64_t size);
void *vdrv_hva(struct vdrv *d, uint64_t gpa);

uint64_t vdrv_dev_features(struct vdrv *d);
/* Reset, negotiate features, set up nq queues of qsize, DRIVER_OK; false if refused. */
bool vdrv_start(struct vdrv *d, uint64_t features, unsigned int nq, uint16_t qsize);
uint8_t vdrv_status(struct vdrv *d);
void vdrv_set_status(struct vdrv *d, uint8_t s);
void vdrv_cfg_read(struct vdrv *d, uint32_t off, void *buf, uint32_t len);
void vdrv_cfg_write(struct vdrv *d, uint32_t off, const void *buf, uint32_t len);

/* Chains bufs into one request on queue q and makes it available; returns its head. */
uint16_t vdrv_add(struct vdrv *d, unsigned int q, const struct vdrv_buf *bufs, unsigned int n);
/* Writes a raw descriptor (for hostile chains). */
void vdrv_set_desc(struct vdrv *d, unsigned int q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
void vdrv_publish(struct vdrv *d, unsigned int q, uint16_t head);
void vdrv_kick(struct vdrv *d, unsigned int q);

/* Runs the VM's event loop for up to ms milliseconds or until a used entry shows up on q. */
bool vdrv_wait_used(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len, int ms);
/* Runs the event loop for ms milliseconds. */
void vdrv_run(struct vdrv *d, int ms);

#endif
