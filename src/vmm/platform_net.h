/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of the platform issue 4 adds (docs/vmm-net.md): virtio-net,
 * virtio-vsock and virtio-balloon devices from struct vmm_net_config, guest
 * memory protection, and the jail entered just before the vCPUs run.
 */
#ifndef POCKETVM_VMM_PLATFORM_NET_H
#define POCKETVM_VMM_PLATFORM_NET_H

#include "common/util.h"
#include "vmm/config.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct platform_net;

/* Adds the devices cfg names to bus; logs why on failure. */
int platform_net_new(struct vm *vm, struct pci_bus *bus, const struct vmm_net_config *cfg,
		     struct platform_net **out) __must_check;

/* Protects guest memory and, with --jail, confines the process. Before vm_run(). */
int platform_net_start(struct platform_net *pn, struct vm *vm) __must_check;

void platform_net_free(struct platform_net *pn);

#endif
