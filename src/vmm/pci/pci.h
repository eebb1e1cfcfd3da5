/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI bus 0 behind a host bridge, configured through the legacy ports
 * 0xcf8 (address) / 0xcfc (data), as Linux's "type 1" access expects.
 *
 * A device owns a 256-byte configuration space with a write mask, 32-bit
 * memory BARs allocated from the MMIO window, and a capability list. The bus
 * decodes BARs only while the device's memory-enable bit is set and tells
 * the device when a BAR moves (for ioeventfds). Locking: the bus lock
 * (rwlock) is taken before any device lock, never after.
 */
#ifndef POCKETVM_VMM_PCI_PCI_H
#define POCKETVM_VMM_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/vm.h"

#define PCI_CFG_SIZE 256
#define PCI_NR_BARS 6
#define PCI_MAX_SLOTS 32
#define PCI_CONFIG_ADDR_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT 0xcfc

#define PCI_VENDOR_ID 0x00
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

struct pci_dev;

struct pci_dev_ops {
	/* A guest access of len bytes at off inside bar (off + len <= BAR size). */
	void (*bar_io)(struct pci_dev *d, int bar, uint64_t off, uint8_t *data, uint32_t len,
		       bool write);
	/* bar now decodes at addr (0: not decoded any more). Bus lock held. */
	void (*bar_moved)(struct pci_dev *d, int bar, uint64_t addr);
	/* The guest wrote [off, off + len) of configuration space at or above 0x40. */
	void (*cfg_written)(struct pci_dev *d, uint32_t off, uint32_t len);
	/* Optional: refresh cfg[off, off + len) before a guest read at or above 0x40. */
	void (*cfg_read)(struct pci_dev *d, uint32_t off, uint32_t len);
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write */
	uint64_t bar_size[PCI_NR_BARS];
	uint64_t bar_active[PCI_NR_BARS]; /* decoded address, 0 if none */
	uint8_t cap_next; /* where the next capability goes */
	uint8_t *cap_link; /* the pointer to patch when adding one */
	int slot;
	const struct pci_dev_ops *ops;
	void *priv;
};

struct pci_bus {
	struct vm *vm;
	pthread_rwlock_t lock;
	uint32_t config_addr;
	struct pci_dev *slots[PCI_MAX_SLOTS];
	struct pci_dev host;
	uint64_t mmio_base, mmio_size, mmio_next;
};

/* Claims the config ports and the MMIO window [mmio_base, mmio_base + mmio_size). */
int pci_bus_new(struct vm *vm, uint64_t mmio_base, uint64_t mmio_size,
		struct pci_bus **out) __must_check;
void pci_bus_free(struct pci_bus *bus);

/* Fills the header of a type 0 function. class is base << 16 | sub << 8 | prog_if. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys);

/* Adds a 32-bit memory BAR of size bytes (a power of two >= 4 KiB), placed in the window. */
int pci_dev_add_bar(struct pci_bus *bus, struct pci_dev *d, int bar, uint64_t size) __must_check;

/*
 * Appends a capability (len bytes, its first two bytes are filled here) and
 * returns its offset, or 0 if the space is full. wmask_from: offset inside
 * the capability from which the guest may write (len: read-only).
 */
uint8_t pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, uint8_t len);

/* Puts d in the first free slot; -ENOSPC when the bus is full. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *d) __must_check;

static inline uint32_t pci_cfg_get(const struct pci_dev *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

static inline void pci_cfg_set(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t v)
{
	for (uint32_t i = 0; i < len; i++)
		d->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

#endif
