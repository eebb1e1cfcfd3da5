// SPDX-License-Identifier: Apache-2.0
#include "vmm/pci/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Host bridge: the generic PCIe host bridge ID QEMU also uses (no quirks in Linux). */
#define HOST_VENDOR 0x1b36
#define HOST_DEVICE 0x0008
#define HOST_CLASS 0x060000

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	memset(d->bar_size, 0, sizeof(d->bar_size));
	memset(d->bar_active, 0, sizeof(d->bar_active));
	pci_cfg_set(d, PCI_VENDOR_ID, 2, vendor);
	pci_cfg_set(d, 0x02, 2, device);
	d->cfg[0x08] = revision;
	pci_cfg_set(d, 0x09, 3, class);
	pci_cfg_set(d, 0x2c, 2, subsys_vendor);
	pci_cfg_set(d, 0x2e, 2, subsys);
	pci_cfg_set(d, PCI_COMMAND, 2, 0);
	d->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	d->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_next = 0x40;
	d->cap_link = &d->cfg[PCI_CAPABILITY_LIST];
}

int pci_dev_add_bar(struct pci_bus *bus, struct pci_dev *d, int bar, uint64_t size)
{
	uint64_t addr;

	if (bar < 0 || bar >= PCI_NR_BARS || size < 4096 || (size & (size - 1)))
		return -EINVAL;
	addr = ALIGN_UP(bus->mmio_next, size);
	if (!range_ok(addr - bus->mmio_base, size, bus->mmio_size))
		return -ENOSPC;
	bus->mmio_next = addr + size;
	d->bar_size[bar] = size;
	/* Firmware-style: the BAR is assigned; decoding waits for the command bit. */
	pci_cfg_set(d, PCI_BAR0 + 4 * (uint32_t)bar, 4, (uint32_t)addr);
	for (int i = 0; i < 4; i++)
		d->wmask[PCI_BAR0 + 4 * bar + i] = (uint8_t)(~(uint32_t)(size - 1) >> (8 * i));
	return 0;
}

uint8_t pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, uint8_t len)
{
	uint8_t off = d->cap_next;

	if (len < 2 || off < 0x40 || PCI_CFG_SIZE - off < len)
		return 0;
	memcpy(&d->cfg[off], body, len);
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	*d->cap_link = off;
	d->cap_link = &d->cfg[off + 1];
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next = (uint8_t)ALIGN_UP((unsigned int)off + len, 4u);
	return off;
}

/* Re-derives which BARs decode where after a command or BAR write. */
static void pci_update_bars(struct pci_bus *bus, struct pci_dev *d)
{
	bool mem = pci_cfg_get(d, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;

	for (int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t addr = pci_cfg_get(d, PCI_BAR0 + 4 * (uint32_t)i, 4) & ~0xfull;
		uint64_t active = 0;

		if (!d->bar_size[i])
			continue;
		/* Only inside our window: a BAR elsewhere would shadow RAM or the APICs. */
		if (mem && addr >= bus->mmio_base &&
		    range_ok(addr - bus->mmio_base, d->bar_size[i], bus->mmio_size))
			active = addr;
		if (active != d->bar_active[i]) {
			d->bar_active[i] = active;
			if (d->ops && d->ops->bar_moved)
				d->ops->bar_moved(d, i, active);
		}
	}
}

static void pci_cfg_write(struct pci_bus *bus, struct pci_dev *d, uint32_t off, uint32_t len,
			  uint32_t v)
{
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i], b = (uint8_t)(v >> (8 * i));

		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (b & m));
	}
	if (off < PCI_BAR0 + 4 * PCI_NR_BARS && off + len > PCI_COMMAND)
		pci_update_bars(bus, d);
	if (off + len > 0x40 && d->ops && d->ops->cfg_written)
		d->ops->cfg_written(d, off, len);
}

static struct pci_dev *pci_addressed(struct pci_bus *bus, uint32_t *reg)
{
	uint32_t a = bus->config_addr;

	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0 || ((a >> 8) & 7) != 0)
		return NULL;
	*reg = a & 0xfc;
	return bus->slots[(a >> 11) & 0x1f];
}

static void pci_config_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *d;
	uint32_t reg = 0, v = 0;

	if (off < 4) {
		/* The address register: only whole 32-bit accesses (Linux probes this). */
		if (off != 0 || len != 4) {
			if (!write)
				memset(data, 0xff, len);
			return;
		}
		pthread_rwlock_wrlock(&bus->lock);
		if (write)
			memcpy(&bus->config_addr, data, 4);
		else
			memcpy(data, &bus->config_addr, 4);
		pthread_rwlock_unlock(&bus->lock);
		return;
	}
	off -= 4;
	pthread_rwlock_wrlock(&bus->lock);
	d = pci_addressed(bus, &reg);
	reg += (uint32_t)off;
	if (!d || reg + len > PCI_CFG_SIZE) {
		if (!write)
			memset(data, 0xff, len);
	} else if (write) {
		for (uint32_t i = 0; i < len; i++)
			v |= (uint32_t)data[i] << (8 * i);
		pci_cfg_write(bus, d, reg, len, v);
	} else {
		if (reg + len > 0x40 && d->ops && d->ops->cfg_read)
			d->ops->cfg_read(d, reg, len);
		memcpy(data, &d->cfg[reg], len);
	}
	pthread_rwlock_unlock(&bus->lock);
}

static void pci_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct pci_bus *bus = opaque;
	uint64_t addr = bus->mmio_base + off;

	pthread_rwlock_rdlock(&bus->lock);
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_dev *d = bus->slots[s];

		for (int i = 0; d && i < PCI_NR_BARS; i++) {
			uint64_t base = d->bar_active[i];

			if (base && addr >= base && range_ok(addr - base, len, d->bar_size[i])) {
				d->ops->bar_io(d, i, addr - base, data, len, write);
				goto out;
			}
		}
	}
	if (!write)
		memset(data, 0xff, len);
out:
	pthread_rwlock_unlock(&bus->lock);
}

int pci_bus_new(struct vm *vm, uint64_t mmio_base, uint64_t mmio_size, struct pci_bus **out)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	int ret;

	if (!bus)
		return -ENOMEM;
	bus->vm = vm;
	bus->mmio_base = bus->mmio_next = mmio_base;
	bus->mmio_size = mmio_size;
	pthread_rwlock_init(&bus->lock, NULL);
	pci_dev_init(&bus->host, HOST_VENDOR, HOST_DEVICE, HOST_CLASS, 0, 0, 0);
	bus->slots[0] = &bus->host;
	ret = bus_register(&vm->pio, PCI_CONFIG_ADDR_PORT, 8, pci_config_io, bus);
	if (!ret)
		ret = bus_register(&vm->mmio, mmio_base, mmio_size, pci_mmio, bus);
	if (ret) {
		pci_bus_free(bus);
		return ret;
	}
	vm->pci = bus;
	*out = bus;
	return 0;
}

void pci_bus_free(struct pci_bus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d)
{
	int ret = -ENOSPC;

	pthread_rwlock_wrlock(&bus->lock);
	for (int s = 1; s < PCI_MAX_SLOTS; s++) {
		if (!bus->slots[s]) {
			bus->slots[s] = d;
			d->slot = s;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}
