/* SPDX-License-Identifier: Apache-2.0 */
/* The x86 PC pocketvm-vmm builds from a struct vmm_config: see main.c. */
#ifndef POCKETVM_VMM_PLATFORM_H
#define POCKETVM_VMM_PLATFORM_H

#include "vmm/config.h"

struct platform;

/* Returns 0 or an enum vm_exit_status (VM_EXIT_ERROR), having logged why. */
int platform_new(const struct vmm_config *cfg, struct platform **out);

/* Runs the guest to its end; returns an enum vm_exit_status. */
int platform_run(struct platform *p);

void platform_free(struct platform *p);

#endif
