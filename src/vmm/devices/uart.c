// SPDX-License-Identifier: Apache-2.0
#include "vmm/devices/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

enum {
	REG_RBR_THR = 0, /* DLAB: divisor latch low */
	REG_IER = 1, /* DLAB: divisor latch high */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DCD 0x80
#define MSR_DSR 0x20
#define MSR_CTS 0x10
#define MSR_RI 0x40

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;
	uint32_t irq;
	struct console *con;
	bool irq_level;
	bool thri_pending; /* the transmitter-empty interrupt is latched */
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t rx[UART_RX_FIFO];
	unsigned int rx_head, rx_count;
};

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NO_INT | fifo;
}

/* Level of the interrupt line follows "an interrupt is identified in IIR". */
static void uart_update_irq(struct uart *u)
{
	bool level = !(uart_iir(u) & IIR_NO_INT);

	if (level == u->irq_level)
		return;
	int ret;

	u->irq_level = level;
	ret = vm_irq_line(u->vm, u->irq, level);
	if (ret)
		log_warn("uart: setting IRQ %u: %s", u->irq, strerror(-ret));
}

static void uart_push_rx(struct uart *u, uint8_t c)
{
	if (u->rx_count == UART_RX_FIFO)
		return;
	u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = c;
	u->rx_count++;
}

static void uart_transmit(struct uart *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		uart_push_rx(u, c);
	} else {
		console_write(u->con, &c, 1);
	}
	u->thri_pending = true;
}

static uint8_t uart_msr(const struct uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	return (uint8_t)(((u->mcr & 0x01) ? MSR_DSR : 0) | ((u->mcr & 0x02) ? MSR_CTS : 0) |
			 ((u->mcr & 0x04) ? MSR_RI : 0) | ((u->mcr & 0x08) ? MSR_DCD : 0));
}

static uint8_t uart_read(struct uart *u, uint64_t reg, bool *room)
{
	uint8_t v;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (!u->rx_count)
			return 0;
		v = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
		u->rx_count--;
		*room = true;
		return v;
	case REG_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case REG_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRE acknowledges that interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			u->thri_pending = false;
		return v;
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0));
	case REG_MSR:
		return uart_msr(u);
	default:
		return u->scr;
	}
}

static void uart_write(struct uart *u, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = v;
		else
			uart_transmit(u, v);
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling THRI while the transmitter is empty raises it at once. */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thri_pending = true;
		u->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		u->mcr = v & 0x1f;
		break;
	case REG_SCR:
		u->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
}

static void uart_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	struct uart *u = opaque;
	bool room = false;

	if (len != 1) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&u->lock);
	if (write)
		uart_write(u, off, data[0]);
	else
		data[0] = uart_read(u, off, &room);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (room)
		console_rx_ready(u->con);
}

static size_t uart_sink_space(void *opaque)
{
	return uart_rx_space(opaque);
}

static size_t uart_sink_input(void *opaque, const uint8_t *buf, size_t len)
{
	return uart_input(opaque, buf, len);
}

int uart_new(struct vm *vm, uint16_t base, uint32_t irq, struct console *con, struct uart **out)
{
	struct uart *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	u->vm = vm;
	u->irq = irq;
	u->con = con;
	u->mcr = 0x08; /* OUT2 */
	u->lcr = 0x03; /* 8N1 */
	pthread_mutex_init(&u->lock, NULL);
	ret = bus_register(&vm->pio, base, 8, uart_io, u);
	if (ret) {
		uart_free(u);
		return ret;
	}
	if (con) {
		struct console_sink sink = { uart_sink_space, uart_sink_input, u };

		console_set_sink(con, CONSOLE_SINK_UART, &sink);
	}
	*out = u;
	return 0;
}

void uart_free(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

size_t uart_rx_space(struct uart *u)
{
	size_t space;

	pthread_mutex_lock(&u->lock);
	space = UART_RX_FIFO - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return space;
}

size_t uart_input(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < UART_RX_FIFO)
		uart_push_rx(u, buf[n++]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}
