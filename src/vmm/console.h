/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's console: where ttyS0 (UART) and hvc0 (virtio-console port 0)
 * write, and where typed input comes from. On stdio a terminal is put in raw
 * mode (keeping Ctrl-C for the VMM) and restored at exit; a stdin epoll
 * refuses (a regular file, /dev/null) is read as the guest takes input
 * until EOF; a closed stdin gives no input; one that cannot be read (a
 * directory, write-only) makes console_new fail with a message; on a socket, the
 * VMM listens on a unix socket and serves one client at a time (output
 * while nobody is connected is dropped).
 *
 * Input goes to one sink: hvc0 once the guest opened it, else the UART.
 */
#ifndef POCKETVM_VMM_CONSOLE_H
#define POCKETVM_VMM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/config.h"
#include "vmm/vm.h"

struct console;

struct console_sink {
	size_t (*space)(void *opaque);
	size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
};

enum console_sink_id {
	CONSOLE_SINK_UART,
	CONSOLE_SINK_HVC,
	CONSOLE_NR_SINKS,
};

int console_new(struct vm *vm, enum console_kind kind, const char *path,
		struct console **out) __must_check;
void console_free(struct console *con);

/* Output from the guest; safe from any thread. */
void console_write(struct console *con, const void *buf, size_t len);

void console_set_sink(struct console *con, enum console_sink_id id,
		      const struct console_sink *sink);
/* Routes input to id from now on (hvc0 opened or closed). */
void console_select_sink(struct console *con, enum console_sink_id id);
/* The active sink has room again: resume reading input. Any thread. */
void console_rx_ready(struct console *con);

#endif
