/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-console (virtio 1.x, section 5.3) with MULTIPORT: port 0 is the
 * console (hvc0, on the VM's console), ports 1..n are named ports, each
 * bridged to a unix socket (the guest sees /dev/virtio-ports/NAME). The
 * VMM connects to a port's socket at start, or listens on it and serves one
 * client at a time; the guest is told when the host side opens or closes.
 */
#ifndef POCKETVM_VMM_VIRTIO_CONSOLE_H
#define POCKETVM_VMM_VIRTIO_CONSOLE_H

#include "common/util.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct virtio_console;

int virtio_console_new(struct vm *vm, struct pci_bus *bus, struct console *con,
		       const struct port_config *ports, unsigned int nr_ports,
		       struct virtio_console **out) __must_check;
void virtio_console_free(struct virtio_console *vc);

#endif
