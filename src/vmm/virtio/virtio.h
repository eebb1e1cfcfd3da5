/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-pci modern transport (virtio 1.x, section 4.1) shared by every
 * device: PCI function with the common/notify/ISR/device capabilities and
 * MSI-X in BAR 0, feature negotiation, queue setup, notifications through
 * ioeventfd (one eventfd per queue, watched by the event loop) and
 * interrupts through irqfd (one GSI per MSI-X vector).
 *
 * A device model fills a const struct virtio_dev_ops and calls
 * virtio_dev_init(); its callbacks run with the device lock held, on the
 * event loop (queue_notify) or a vCPU thread (config access, status).
 * When the guest breaks the rules, virtio_needs_reset() logs why, sets
 * DEVICE_NEEDS_RESET and stops the device until the driver resets it.
 *
 * Not implemented: legacy (0.9.5) interface, INTx (MSI-X only; the driver
 * falls back to no interrupts).
 */
#ifndef POCKETVM_VMM_VIRTIO_VIRTIO_H
#define POCKETVM_VMM_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/pci/pci.h"
#include "vmm/virtio/queue.h"
#include "vmm/vm.h"

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_NO_VECTOR 0xffff
#define VIRTIO_MAX_QUEUES 36
#define VIRTIO_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

/* BAR 0 layout. */
#define VIRTIO_BAR_SIZE 0x8000
#define VIRTIO_COMMON_OFF 0x0000
#define VIRTIO_COMMON_SIZE 0x38
#define VIRTIO_ISR_OFF 0x1000
#define VIRTIO_DEVCFG_OFF 0x2000
#define VIRTIO_DEVCFG_MAX 0x1000
#define VIRTIO_NOTIFY_OFF 0x3000
#define VIRTIO_NOTIFY_MULT 4
#define VIRTIO_MSIX_TABLE_OFF 0x4000
#define VIRTIO_MSIX_PBA_OFF 0x5000

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint16_t device_type; /* virtio device ID: 2 block, 3 console, 4 entropy */
	uint32_t pci_class;
	void (*config_read)(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len);
	/* May be NULL: the configuration is read-only. */
	void (*config_write)(struct virtio_dev *v, uint32_t off, const uint8_t *data, uint32_t len);
	/* The driver notified queue q (or the device asked for a rerun). */
	void (*queue_notify)(struct virtio_dev *v, unsigned int q);
	/* DRIVER_OK was set: queues are live. May be NULL. */
	void (*activate)(struct virtio_dev *v);
	/* The driver reset the device: drop every in-flight request. May be NULL. */
	void (*reset)(struct virtio_dev *v);
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_dev {
	struct pci_dev pci;
	struct vm *vm;
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *priv;
	char name[32]; /* "virtio-blk@00:02.0", for log lines */

	uint64_t host_features;
	uint64_t driver_features;
	uint32_t dev_feature_select, drv_feature_select;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	uint16_t config_vector;
	uint16_t queue_select;
	uint32_t config_size;
	bool broken; /* NEEDS_RESET: ignore the queues until reset */

	unsigned int nr_queues;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	int notify_fd[VIRTIO_MAX_QUEUES];
	struct event *notify_ev[VIRTIO_MAX_QUEUES];
	uint64_t notify_base; /* BAR 0 address ioeventfds are registered at, 0: none */

	unsigned int nr_vectors;
	uint8_t msix_cap;
	uint8_t cfg_cap; /* VIRTIO_PCI_CAP_PCI_CFG: BAR access via config space */
	struct msix_entry msix[VIRTIO_MAX_VECTORS];
	uint64_t msix_pending; /* PBA */
	int irq_fd[VIRTIO_MAX_VECTORS];
	uint32_t gsi[VIRTIO_MAX_VECTORS];

	struct virtq_chain *chain; /* scratch for queue processing */
};

/*
 * Builds the PCI function, BAR, capabilities, MSI-X vectors (one per queue
 * plus configuration) and eventfds, and plugs it into bus. features are the
 * device's own bits; VERSION_1, INDIRECT_DESC and EVENT_IDX are added.
 */
int virtio_dev_init(struct virtio_dev *v, struct vm *vm, struct pci_bus *bus,
		    const struct virtio_dev_ops *ops, unsigned int nr_queues, uint16_t queue_size,
		    uint64_t features, uint32_t config_size, void *priv) __must_check;
void virtio_dev_cleanup(struct virtio_dev *v);

/* After pushing to queue q: interrupts the driver if it asked for one. Lock held. */
void virtio_queue_signal(struct virtio_dev *v, unsigned int q);

/* Tells the driver the device configuration changed. Lock held. */
void virtio_config_changed(struct virtio_dev *v);

/* Marks the device broken by its driver; logs "<name>: <why>". Lock held. */
void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True when the driver completed negotiation and the device is not broken. */
static inline bool virtio_live(const struct virtio_dev *v)
{
	return (v->status & VIRTIO_STATUS_DRIVER_OK) && !v->broken;
}

static inline bool virtio_has(const struct virtio_dev *v, unsigned int bit)
{
	return v->driver_features & (1ull << bit);
}

/* Asks the event loop to run queue_notify for q (from any thread, no lock needed). */
void virtio_kick_queue(struct virtio_dev *v, unsigned int q);

#endif
