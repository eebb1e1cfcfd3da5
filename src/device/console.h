/* SPDX-License-Identifier: Apache-2.0 */
/* Control connections attached to a VM's console (ctl.c). */
#ifndef POCKETVM_DEVICE_CONSOLE_H
#define POCKETVM_DEVICE_CONSOLE_H

#include <stddef.h>

struct vm;

/* Copies VM console output to every attached client. */
void console_broadcast(struct vm *vm, const void *buf, size_t len);
/* The VM stopped: attached clients get the rest of the output and are closed. */
void console_detach_all(struct vm *vm);

#endif
