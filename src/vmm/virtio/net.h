/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.x, section 5.1): one receive and one transmit queue
 * over a struct net_backend (tap or passt, src/vmm/net/).
 *
 * The device offers the guest its MAC, link status, mergeable receive
 * buffers and exactly the offloads the backend honours; after negotiation
 * the backend is told what the guest accepted. Guest transmit headers are
 * checked (vnet_hdr_check) and a bad one drops its packet with a log line;
 * a broken ring resets the device. The backend is read only while the
 * guest has receive buffers, so a guest that stops reading cannot make the
 * VMM buffer without bound; frames arriving before the driver is up are
 * dropped.
 */
#ifndef POCKETVM_VMM_VIRTIO_NET_H
#define POCKETVM_VMM_VIRTIO_NET_H

#include <stdint.h>

#include "common/util.h"
#include "vmm/net/net_backend.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct virtio_net;

/* Per-device counters, for tests and statistics. */
struct virtio_net_stats {
	uint64_t tx_packets, tx_bytes, tx_dropped;
	uint64_t rx_packets, rx_bytes, rx_dropped;
};

/* Takes ownership of nb (closed on failure too). mac: 6 bytes. */
int virtio_net_new(struct vm *vm, struct pci_bus *bus, struct net_backend *nb, const uint8_t mac[6],
		   struct virtio_net **out) __must_check;
void virtio_net_free(struct virtio_net *n);

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *s);

/*
 * Opens the tap interface ifname (which must exist and be usable by the
 * caller) with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, for net_tap_open_fd().
 * Returns the fd or -errno.
 */
int virtio_net_open_tap(const char *ifname) __must_check;

#endif
