/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART (8250 family) at the first PC serial port: Linux's early
 * console and ttyS0. Transmitted bytes go straight to the console output fd;
 * received bytes come from uart_input() (the console on the event loop).
 */
#ifndef POCKETVM_VMM_DEVICES_UART_H
#define POCKETVM_VMM_DEVICES_UART_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/console.h"
#include "vmm/vm.h"

#define UART_COM1_PORT 0x3f8
#define UART_COM1_IRQ 4
#define UART_RX_FIFO 64

struct uart;

/*
 * Claims the 8 ports at base; what the guest transmits goes to con (NULL:
 * discarded), and the UART registers itself as con's UART input sink.
 */
int uart_new(struct vm *vm, uint16_t base, uint32_t irq, struct console *con,
	     struct uart **out) __must_check;
void uart_free(struct uart *u);

/* Queues received bytes; returns how many fit in the receive FIFO. */
size_t uart_input(struct uart *u, const uint8_t *buf, size_t len);

/* Free space in the receive FIFO. */
size_t uart_rx_space(struct uart *u);

#endif
