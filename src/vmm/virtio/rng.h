/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-rng (virtio 1.x, section 5.4): fills the guest's buffers with getrandom(). */
#ifndef POCKETVM_VMM_VIRTIO_RNG_H
#define POCKETVM_VMM_VIRTIO_RNG_H

#include "common/util.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct virtio_rng;

int virtio_rng_new(struct vm *vm, struct pci_bus *bus, struct virtio_rng **out) __must_check;
void virtio_rng_free(struct virtio_rng *r);

#endif
