/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.x, section 5.2) on a struct blockdev: reads, writes,
 * flush (the backend's flush, fdatasync for raw files), discard when the
 * backend can, GET_ID with the serial, read-only disks. The device speaks
 * only to the blockdev ops table, so raw and encrypted images look the same.
 */
#ifndef POCKETVM_VMM_VIRTIO_BLK_H
#define POCKETVM_VMM_VIRTIO_BLK_H

#include "common/util.h"
#include "disk/blockdev.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

#define VIRTIO_BLK_ID_BYTES 20

struct virtio_blk;

/* Takes ownership of bd (closed by virtio_blk_free). serial may be NULL. */
int virtio_blk_new(struct vm *vm, struct pci_bus *bus, struct blockdev *bd, const char *serial,
		   struct virtio_blk **out) __must_check;
void virtio_blk_free(struct virtio_blk *b);

/* Makes every completed write durable (the VMM calls it once the vCPUs stopped); 0/-errno. */
int virtio_blk_flush(struct virtio_blk *b) __must_check;

#endif
