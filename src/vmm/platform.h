/* SPDX-License-Identifier: Apache-2.0 */
/* The x86 PC pocketvm-vmm builds from a struct vmm_config: see main.c. */
#ifndef POCKETVM_VMM_PLATFORM_H
#define POCKETVM_VMM_PLATFORM_H

#include <signal.h>

#include "vmm/config.h"

struct platform;

/* Returns 0 or an enum vm_exit_status (VM_EXIT_ERROR), having logged why. */
int platform_new(const struct vmm_config *cfg, struct platform **out);

/*
 * Runs the guest to its end; returns an enum vm_exit_status. The signals in
 * *stop_signals (blocked by the caller before platform_new) press its power
 * button and, unless it powers off within the configured grace, stop it with
 * VM_EXIT_STOPPED (vm_exit_on_signals()). However the guest ends, every write it was told is done
 * is durable when this returns.
 */
int platform_run(struct platform *p, const sigset_t *stop_signals);

void platform_free(struct platform *p);

#endif
