// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/virtio.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR 3
#define VIRTIO_PCI_CAP_DEVICE 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 1u

#define ISR_QUEUE 1
#define ISR_CONFIG 2

static struct virtio_dev *to_vdev(struct pci_dev *d)
{
	return d->priv;
}

/* ---- MSI-X ---- */

static uint16_t msix_ctrl(const struct virtio_dev *v)
{
	return (uint16_t)pci_cfg_get(&v->pci, v->msix_cap + 2u, 2);
}

static bool msix_vector_masked(const struct virtio_dev *v, unsigned int n)
{
	return (msix_ctrl(v) & MSIX_CTRL_MASKALL) || (v->msix[n].ctrl & MSIX_ENTRY_MASKED);
}

/* Points vector n's GSI at what the guest programmed, and delivers what was pending. */
static void msix_update(struct virtio_dev *v, unsigned int n)
{
	const struct msix_entry *e = &v->msix[n];
	uint64_t addr = ((uint64_t)e->addr_hi << 32) | e->addr_lo;
	uint64_t one = 1;

	if (!(msix_ctrl(v) & MSIX_CTRL_ENABLE) || msix_vector_masked(v, n))
		return;
	if (vm_msi_route_set(v->vm, v->gsi[n], addr, e->data))
		log_warn("%s: routing MSI-X vector %u: %s", v->name, n, strerror(errno));
	if (v->msix_pending & (1ull << n)) {
		v->msix_pending &= ~(1ull << n);
		if (write(v->irq_fd[n], &one, sizeof(one)) < 0)
			log_warn("%s: irqfd write: %s", v->name, strerror(errno));
	}
}

static void msix_fire(struct virtio_dev *v, uint16_t n)
{
	uint64_t one = 1;

	if (n >= v->nr_vectors || !(msix_ctrl(v) & MSIX_CTRL_ENABLE))
		return;
	if (msix_vector_masked(v, n)) {
		v->msix_pending |= 1ull << n;
		return;
	}
	if (write(v->irq_fd[n], &one, sizeof(one)) < 0)
		log_warn("%s: irqfd write: %s", v->name, strerror(errno));
}

static void msix_table_io(struct virtio_dev *v, uint64_t off, uint8_t *data, uint32_t len,
			  bool write)
{
	unsigned int n = (unsigned int)(off / 16), field = (unsigned int)(off % 16) / 4;
	uint32_t *words;

	/* Only aligned dword accesses, as the PCI spec requires of drivers. */
	if (len != 4 || off % 4 || n >= v->nr_vectors) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	words = &v->msix[n].addr_lo;
	if (!write) {
		memcpy(data, &words[field], 4);
		return;
	}
	memcpy(&words[field], data, 4);
	v->msix[n].ctrl &= MSIX_ENTRY_MASKED;
	msix_update(v, n);
}

/* ---- queues and interrupts ---- */

void virtio_queue_signal(struct virtio_dev *v, unsigned int q)
{
	if (q >= v->nr_queues || !virtq_should_signal(&v->vqs[q]))
		return;
	v->isr |= ISR_QUEUE;
	msix_fire(v, v->vqs[q].msix_vector);
}

void virtio_config_changed(struct virtio_dev *v)
{
	v->config_generation++;
	v->isr |= ISR_CONFIG;
	msix_fire(v, v->config_vector);
}

void virtio_needs_reset(struct virtio_dev *v, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (v->broken)
		return;
	log_error("%s: %s; device needs reset", v->name, why);
	v->broken = true;
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	virtio_config_changed(v);
}

void virtio_kick_queue(struct virtio_dev *v, unsigned int q)
{
	uint64_t one = 1;

	if (q < v->nr_queues && write(v->notify_fd[q], &one, sizeof(one)) < 0)
		log_warn("%s: kicking queue %u: %s", v->name, q, strerror(errno));
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_dev *v = arg;
	uint64_t cnt;
	unsigned int q;

	if (read(fd, &cnt, sizeof(cnt)) < 0)
		return;
	pthread_mutex_lock(&v->lock);
	for (q = 0; q < v->nr_queues && v->notify_fd[q] != fd; q++)
		;
	if (q < v->nr_queues && virtio_live(v) && v->vqs[q].ready)
		v->ops->queue_notify(v, q);
	pthread_mutex_unlock(&v->lock);
}

static void reset_device(struct virtio_dev *v)
{
	if (v->ops->reset)
		v->ops->reset(v);
	for (unsigned int q = 0; q < v->nr_queues; q++)
		virtq_reset(&v->vqs[q], &v->vm->mem, v->vqs[q].max_size);
	v->driver_features = 0;
	v->dev_feature_select = v->drv_feature_select = 0;
	v->status = 0;
	v->isr = 0;
	v->config_vector = VIRTIO_NO_VECTOR;
	v->queue_select = 0;
	v->broken = false;
}

static void write_status(struct virtio_dev *v, uint8_t s)
{
	uint8_t added = (uint8_t)(s & ~v->status);

	if (s == 0) {
		reset_device(v);
		return;
	}
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		/* Only a subset of what we offer, and always the modern interface. */
		if ((v->driver_features & ~v->host_features) || !virtio_has(v, VIRTIO_F_VERSION_1))
			s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		for (unsigned int q = 0; q < v->nr_queues; q++) {
			v->vqs[q].event_idx = virtio_has(v, VIRTIO_F_EVENT_IDX);
			v->vqs[q].indirect = virtio_has(v, VIRTIO_F_INDIRECT_DESC);
		}
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(s & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_needs_reset(v, "driver set DRIVER_OK without FEATURES_OK");
		return;
	}
	v->status = (uint8_t)(s | (v->broken ? VIRTIO_STATUS_NEEDS_RESET : 0));
	if ((added & VIRTIO_STATUS_DRIVER_OK) && v->ops->activate)
		v->ops->activate(v);
	/* Buffers may have been queued before DRIVER_OK. */
	if (added & VIRTIO_STATUS_DRIVER_OK)
		for (unsigned int q = 0; q < v->nr_queues; q++)
			virtio_kick_queue(v, q);
}

/* ---- common configuration structure ---- */

static struct virtq *selected_queue(struct virtio_dev *v)
{
	return v->queue_select < v->nr_queues ? &v->vqs[v->queue_select] : NULL;
}

static void common_read(struct virtio_dev *v, uint64_t off, uint8_t *data, uint32_t len)
{
	uint8_t c[VIRTIO_COMMON_SIZE] = { 0 };
	struct virtq *vq = selected_queue(v);
	uint32_t u32;
	uint16_t u16;

	memcpy(c + 0, &v->dev_feature_select, 4);
	u32 = v->dev_feature_select < 2 ?
		      (uint32_t)(v->host_features >> (32 * v->dev_feature_select)) :
		      0;
	memcpy(c + 4, &u32, 4);
	memcpy(c + 8, &v->drv_feature_select, 4);
	u32 = v->drv_feature_select < 2 ?
		      (uint32_t)(v->driver_features >> (32 * v->drv_feature_select)) :
		      0;
	memcpy(c + 12, &u32, 4);
	memcpy(c + 16, &v->config_vector, 2);
	u16 = (uint16_t)v->nr_queues;
	memcpy(c + 18, &u16, 2);
	c[20] = v->status;
	c[21] = v->config_generation;
	memcpy(c + 22, &v->queue_select, 2);
	if (vq) {
		u16 = vq->size;
		memcpy(c + 24, &u16, 2);
		memcpy(c + 26, &vq->msix_vector, 2);
		u16 = vq->ready;
		memcpy(c + 28, &u16, 2);
		u16 = v->queue_select;
		memcpy(c + 30, &u16, 2);
		memcpy(c + 32, &vq->desc_gpa, 8);
		memcpy(c + 40, &vq->avail_gpa, 8);
		memcpy(c + 48, &vq->used_gpa, 8);
	}
	memcpy(data, c + off, len);
}

/* Sets len bytes at byte offset off of a 64-bit register (32-bit halves allowed). */
static void set_u64_part(uint64_t *reg, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint8_t b[8];

	memcpy(b, reg, 8);
	memcpy(b + off, data, len);
	memcpy(reg, b, 8);
}

static void queue_write(struct virtio_dev *v, struct virtq *vq, uint64_t off, const uint8_t *data,
			uint32_t len)
{
	uint16_t u16 = 0;
	const char *err = NULL;

	memcpy(&u16, data, MIN(len, 2u));
	if (off == 26 && len == 2) {
		vq->msix_vector = u16 < v->nr_vectors ? u16 : VIRTIO_NO_VECTOR;
		return;
	}
	/* Size and addresses are frozen once the queue is enabled. */
	if (vq->ready)
		return;
	if (off == 24 && len == 2) {
		vq->size = u16;
	} else if (off == 28 && len == 2 && u16 == 1) {
		if (virtq_start(vq, &err))
			virtio_needs_reset(v, "queue %u: %s", v->queue_select, err);
	} else if (off >= 32 && off + len <= 56 && (len == 4 || len == 8) && off % len == 0) {
		uint64_t *reg = off < 40 ? &vq->desc_gpa :
				off < 48 ? &vq->avail_gpa :
					   &vq->used_gpa;

		set_u64_part(reg, off % 8, data, len);
	}
}

static void common_write(struct virtio_dev *v, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint32_t u32 = 0;
	struct virtq *vq = selected_queue(v);

	memcpy(&u32, data, MIN(len, 4u));
	switch (off) {
	case 0:
		v->dev_feature_select = u32;
		break;
	case 8:
		v->drv_feature_select = u32;
		break;
	case 12:
		if (len == 4 && v->drv_feature_select < 2 &&
		    !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned int shift = 32 * v->drv_feature_select;

			v->driver_features &= ~(0xffffffffull << shift);
			v->driver_features |= (uint64_t)u32 << shift;
		}
		break;
	case 16:
		if (len == 2)
			v->config_vector = u32 < v->nr_vectors ? (uint16_t)u32 : VIRTIO_NO_VECTOR;
		break;
	case 20:
		if (len == 1)
			write_status(v, (uint8_t)u32);
		break;
	case 22:
		if (len == 2)
			v->queue_select = (uint16_t)u32;
		break;
	default:
		if (off >= 24 && vq)
			queue_write(v, vq, off, data, len);
		break;
	}
}

/* ---- BAR 0 ---- */

static void virtio_bar_io(struct pci_dev *d, int bar, uint64_t off, uint8_t *data, uint32_t len,
			  bool write)
{
	struct virtio_dev *v = to_vdev(d);

	pthread_mutex_lock(&v->lock);
	if (!write)
		memset(data, 0, len);
	if (off < VIRTIO_COMMON_SIZE && range_ok(off, len, VIRTIO_COMMON_SIZE)) {
		if (write)
			common_write(v, off, data, len);
		else
			common_read(v, off, data, len);
	} else if (off == VIRTIO_ISR_OFF && !write) {
		data[0] = v->isr; /* reading acknowledges */
		v->isr = 0;
	} else if (off >= VIRTIO_DEVCFG_OFF && off - VIRTIO_DEVCFG_OFF < v->config_size) {
		off -= VIRTIO_DEVCFG_OFF;
		if (!range_ok(off, len, v->config_size))
			;
		else if (write && v->ops->config_write)
			v->ops->config_write(v, (uint32_t)off, data, len);
		else if (!write)
			v->ops->config_read(v, (uint32_t)off, data, len);
	} else if (off >= VIRTIO_NOTIFY_OFF &&
		   off < VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * (uint64_t)v->nr_queues) {
		/* Reaches here only without an ioeventfd: hand over to the loop. */
		if (write)
			virtio_kick_queue(
				v, (unsigned int)((off - VIRTIO_NOTIFY_OFF) / VIRTIO_NOTIFY_MULT));
	} else if (off >= VIRTIO_MSIX_TABLE_OFF && off < VIRTIO_MSIX_PBA_OFF) {
		msix_table_io(v, off - VIRTIO_MSIX_TABLE_OFF, data, len, write);
	} else if (off >= VIRTIO_MSIX_PBA_OFF && off < VIRTIO_MSIX_PBA_OFF + 8 && !write) {
		uint64_t pba = v->msix_pending;

		memcpy(data, (uint8_t *)&pba + (off - VIRTIO_MSIX_PBA_OFF),
		       MIN(len, (uint32_t)(VIRTIO_MSIX_PBA_OFF + 8 - off)));
	}
	pthread_mutex_unlock(&v->lock);
}

static void virtio_bar_moved(struct pci_dev *d, int bar, uint64_t addr)
{
	struct virtio_dev *v = to_vdev(d);

	pthread_mutex_lock(&v->lock);
	for (unsigned int q = 0; q < v->nr_queues; q++) {
		uint64_t qoff = VIRTIO_NOTIFY_OFF + (uint64_t)q * VIRTIO_NOTIFY_MULT;

		if (v->notify_base &&
		    vm_ioeventfd(v->vm, v->notify_fd[q], v->notify_base + qoff, false))
			log_warn("%s: removing ioeventfd: %s", v->name, strerror(errno));
		if (addr && vm_ioeventfd(v->vm, v->notify_fd[q], addr + qoff, true))
			log_warn("%s: ioeventfd for queue %u: %s (falling back to exits)", v->name,
				 q, strerror(errno));
	}
	v->notify_base = addr;
	pthread_mutex_unlock(&v->lock);
}

/*
 * The configuration access capability: BAR 0 through a 4-byte window in
 * config space (for drivers that cannot map the BAR). Only aligned 1, 2 or
 * 4-byte accesses inside BAR 0 are performed; anything else is ignored.
 */
static bool cfg_window(struct virtio_dev *v, uint32_t *off, uint32_t *len)
{
	uint8_t c = v->cfg_cap;

	*off = pci_cfg_get(&v->pci, c + 8u, 4);
	*len = pci_cfg_get(&v->pci, c + 12u, 4);
	return v->pci.cfg[c + 4] == 0 && (*len == 1 || *len == 2 || *len == 4) &&
	       *off % *len == 0 && range_ok(*off, *len, VIRTIO_BAR_SIZE);
}

static void virtio_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_dev *v = to_vdev(d);
	uint32_t boff, blen;
	uint8_t data[4] = { 0 };

	if (off + len <= v->cfg_cap + 16u || off >= v->cfg_cap + 20u)
		return;
	if (cfg_window(v, &boff, &blen))
		virtio_bar_io(d, 0, boff, data, blen, false);
	memcpy(&d->cfg[v->cfg_cap + 16], data, 4);
}

static void virtio_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_dev *v = to_vdev(d);
	uint32_t boff, blen;

	if (off + len > v->cfg_cap + 16u && off < v->cfg_cap + 20u && cfg_window(v, &boff, &blen))
		virtio_bar_io(d, 0, boff, &d->cfg[v->cfg_cap + 16], blen, true);

	/* MSI-X enable or function mask changed: re-evaluate every vector. */
	if (off <= v->msix_cap + 3u && off + len > v->msix_cap + 2u) {
		pthread_mutex_lock(&v->lock);
		for (unsigned int n = 0; n < v->nr_vectors; n++)
			msix_update(v, n);
		pthread_mutex_unlock(&v->lock);
	}
}

static const struct pci_dev_ops virtio_pci_ops = {
	.bar_io = virtio_bar_io,
	.bar_moved = virtio_bar_moved,
	.cfg_written = virtio_cfg_written,
	.cfg_read = virtio_cfg_read,
};

static int add_caps(struct virtio_dev *v)
{
	uint8_t cap[20] = { 0 };
	uint32_t u32;
	static const struct {
		uint8_t type;
		uint32_t off;
	} regions[] = {
		{ VIRTIO_PCI_CAP_COMMON, VIRTIO_COMMON_OFF },
		{ VIRTIO_PCI_CAP_ISR, VIRTIO_ISR_OFF },
		{ VIRTIO_PCI_CAP_DEVICE, VIRTIO_DEVCFG_OFF },
		{ VIRTIO_PCI_CAP_NOTIFY, VIRTIO_NOTIFY_OFF },
	};

	for (size_t i = 0; i < ARRAY_SIZE(regions); i++) {
		uint32_t size = regions[i].type == VIRTIO_PCI_CAP_COMMON ? VIRTIO_COMMON_SIZE :
				regions[i].type == VIRTIO_PCI_CAP_ISR	 ? 1 :
				regions[i].type == VIRTIO_PCI_CAP_DEVICE ? MAX(v->config_size, 4u) :
									   VIRTIO_NOTIFY_MULT *
										   v->nr_queues;
		uint8_t len = regions[i].type == VIRTIO_PCI_CAP_NOTIFY ? 20 : 16;

		memset(cap, 0, sizeof(cap));
		cap[2] = len;
		cap[3] = regions[i].type;
		cap[4] = 0; /* BAR 0 */
		memcpy(cap + 8, &regions[i].off, 4);
		memcpy(cap + 12, &size, 4);
		u32 = VIRTIO_NOTIFY_MULT;
		if (len == 20)
			memcpy(cap + 16, &u32, 4);
		if (!pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, cap, len))
			return -ENOSPC;
	}
	memset(cap, 0, sizeof(cap));
	u32 = (uint32_t)(v->nr_vectors - 1);
	memcpy(cap + 2, &u32, 2);
	u32 = VIRTIO_MSIX_TABLE_OFF;
	memcpy(cap + 4, &u32, 4);
	u32 = VIRTIO_MSIX_PBA_OFF;
	memcpy(cap + 8, &u32, 4);
	v->msix_cap = pci_dev_add_cap(&v->pci, PCI_CAP_ID_MSIX, cap, 12);
	if (!v->msix_cap)
		return -ENOSPC;
	v->pci.wmask[v->msix_cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	memset(cap, 0, sizeof(cap));
	cap[2] = 20;
	cap[3] = VIRTIO_PCI_CAP_PCI_CFG;
	v->cfg_cap = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, cap, 20);
	if (!v->cfg_cap)
		return -ENOSPC;
	/* bar, offset, length and the data window are the driver's to write. */
	v->pci.wmask[v->cfg_cap + 4] = 0xff;
	memset(&v->pci.wmask[v->cfg_cap + 8], 0xff, 12);
	return 0;
}

static int init_vectors_and_queues(struct virtio_dev *v, uint16_t queue_size)
{
	int ret;

	for (unsigned int n = 0; n < v->nr_vectors; n++) {
		v->msix[n].ctrl = MSIX_ENTRY_MASKED;
		v->irq_fd[n] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->irq_fd[n] < 0)
			return -errno;
		ret = vm_msi_route_alloc(v->vm, &v->gsi[n]);
		if (!ret)
			ret = vm_irqfd(v->vm, v->irq_fd[n], v->gsi[n], true);
		if (ret)
			return ret;
	}
	for (unsigned int q = 0; q < v->nr_queues; q++) {
		virtq_reset(&v->vqs[q], &v->vm->mem, queue_size);
		v->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->notify_fd[q] < 0)
			return -errno;
		v->notify_ev[q] =
			event_new(v->vm->evb, v->notify_fd[q], EV_READ | EV_PERSIST, on_notify, v);
		if (!v->notify_ev[q] || event_add(v->notify_ev[q], NULL))
			return -ENOMEM;
	}
	return 0;
}

int virtio_dev_init(struct virtio_dev *v, struct vm *vm, struct pci_bus *bus,
		    const struct virtio_dev_ops *ops, unsigned int nr_queues, uint16_t queue_size,
		    uint64_t features, uint32_t config_size, void *priv)
{
	int ret;

	memset(v, 0, sizeof(*v));
	for (unsigned int i = 0; i < VIRTIO_MAX_VECTORS; i++)
		v->irq_fd[i] = -1;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		v->notify_fd[i] = -1;
	pthread_mutex_init(&v->lock, NULL);
	v->vm = vm;
	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES || config_size > VIRTIO_DEVCFG_MAX ||
	    queue_size == 0 || queue_size > VIRTQ_MAX_SIZE || (queue_size & (queue_size - 1)))
		return -EINVAL;
	v->ops = ops;
	v->priv = priv;
	v->nr_queues = nr_queues;
	v->nr_vectors = nr_queues + 1;
	v->config_size = config_size;
	v->config_vector = VIRTIO_NO_VECTOR;
	v->host_features = features | (1ull << VIRTIO_F_VERSION_1) |
			   (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX);
	v->chain = malloc(sizeof(*v->chain));
	if (!v->chain)
		return -ENOMEM;
	pci_dev_init(&v->pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->device_type,
		     ops->pci_class, 1, VIRTIO_PCI_VENDOR, 0x1100);
	v->pci.ops = &virtio_pci_ops;
	v->pci.priv = v;
	ret = pci_dev_add_bar(bus, &v->pci, 0, VIRTIO_BAR_SIZE);
	if (!ret)
		ret = add_caps(v);
	if (!ret)
		ret = init_vectors_and_queues(v, queue_size);
	if (!ret)
		ret = pci_bus_add(bus, &v->pci);
	if (!ret)
		snprintf(v->name, sizeof(v->name), "%s@00:%02x.0", ops->name, v->pci.slot);
	return ret;
}

void virtio_dev_cleanup(struct virtio_dev *v)
{
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (v->notify_ev[q])
			event_free(v->notify_ev[q]);
		if (v->notify_fd[q] >= 0)
			close(v->notify_fd[q]);
	}
	for (unsigned int n = 0; n < VIRTIO_MAX_VECTORS; n++) {
		if (v->irq_fd[n] < 0)
			continue;
		if (vm_irqfd(v->vm, v->irq_fd[n], v->gsi[n], false))
			log_debug("%s: removing irqfd: %s", v->name, strerror(errno));
		close(v->irq_fd[n]);
	}
	free(v->chain);
	pthread_mutex_destroy(&v->lock);
}
