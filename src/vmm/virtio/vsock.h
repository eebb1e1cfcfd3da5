/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock (virtio 1.x, section 5.10): the guest's queues (rx, tx,
 * event) feeding the host-side mux of src/vmm/vsock/, which bridges stream
 * connections to unix sockets (docs/vsock.md). Every packet the guest sends
 * goes through vsock_mux_guest_tx(), which checks CIDs, lengths and
 * credit; packets too large for a header plus 64 KiB are dropped here with
 * a log line. A driver reset closes every connection.
 */
#ifndef POCKETVM_VMM_VIRTIO_VSOCK_H
#define POCKETVM_VMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "common/util.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"
#include "vmm/vsock/vsock_mux.h"

struct virtio_vsock;

struct virtio_vsock_stats {
	uint64_t tx_packets, tx_dropped;
	uint64_t rx_packets;
};

/* A device for the guest with CID guest_cid, its host side listening on uds_path. */
int virtio_vsock_new(struct vm *vm, struct pci_bus *bus, uint64_t guest_cid, const char *uds_path,
		     struct virtio_vsock **out) __must_check;
void virtio_vsock_free(struct virtio_vsock *s);

/* The mux behind the device (for the jail: vsock_mux_connect_relative). */
struct vsock_mux *virtio_vsock_mux(struct virtio_vsock *s);

void virtio_vsock_get_stats(struct virtio_vsock *s, struct virtio_vsock_stats *st);

#endif
