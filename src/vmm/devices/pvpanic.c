// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/pvpanic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define PVPANIC_VENDOR 0x1b36
#define PVPANIC_DEVICE 0x0011
#define PVPANIC_CLASS 0x088000 /* system peripheral, other */
#define PVPANIC_PANICKED 1u
#define PVPANIC_CRASH_LOADED 2u

struct pvpanic {
	struct pci_dev pci;
	struct vm *vm;
};

static void pvpanic_bar_io(struct pci_dev *d, int bar, uint64_t off, uint8_t *data, uint32_t len,
			   bool write)
{
	struct pvpanic *p = d->priv;

	if (!write) {
		memset(data, 0, len);
		if (off == 0)
			data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED; /* what we report */
		return;
	}
	if (off != 0)
		return;
	if (data[0] & PVPANIC_PANICKED) {
		log_error("vmm: guest kernel panicked (pvpanic)");
		vm_request_exit(p->vm, VM_EXIT_CRASH);
	} else if (data[0] & PVPANIC_CRASH_LOADED) {
		log_warn("vmm: guest kernel crashed into its crash kernel (pvpanic)");
	}
}

static const struct pci_dev_ops pvpanic_ops = {
	.bar_io = pvpanic_bar_io,
};

int pvpanic_new(struct vm *vm, struct pci_bus *bus, struct pvpanic **out)
{
	struct pvpanic *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->vm = vm;
	pci_dev_init(&p->pci, PVPANIC_VENDOR, PVPANIC_DEVICE, PVPANIC_CLASS, 1, PVPANIC_VENDOR,
		     0x1100);
	p->pci.ops = &pvpanic_ops;
	p->pci.priv = p;
	ret = pci_dev_add_bar(bus, &p->pci, 0, 4096);
	if (!ret)
		ret = pci_bus_add(bus, &p->pci);
	if (ret) {
		free(p);
		return ret;
	}
	*out = p;
	return 0;
}

void pvpanic_free(struct pvpanic *p)
{
	free(p);
}
