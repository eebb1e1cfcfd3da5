// SPDX-License-Identifier: Apache-2.0
#include "vdrv.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm/virtio/virtio.h"

#define PCI_WINDOW_BASE 0xc0000000ull
#define PCI_WINDOW_SIZE 0x10000000ull

static void die_test(const char *what)
{
	fprintf(stderr, "vdrv: %s: %s\n", what, strerror(errno));
	exit(1);
}

void vdrv_setup(struct vdrv *d, unsigned int ram_mib)
{
	struct kvm_userspace_memory_region slot = { 0 };

	memset(d, 0, sizeof(*d));
	evthread_use_pthreads();
	d->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (d->kvm_fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		exit(77);
	}
	d->vm_fd = ioctl(d->kvm_fd, KVM_CREATE_VM, 0);
	if (d->vm_fd < 0 || ioctl(d->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		printf("SKIP: KVM VM with irqchip: %s\n", strerror(errno));
		exit(77);
	}
	d->ram_size = (uint64_t)ram_mib << 20;
	d->ram =
		mmap(NULL, d->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->ram == MAP_FAILED)
		die_test("mmap");
	slot.memory_size = d->ram_size;
	slot.userspace_addr = (uint64_t)d->ram;
	if (ioctl(d->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die_test("KVM_SET_USER_MEMORY_REGION");
	if (vm_attach(&d->vm, d->kvm_fd, d->vm_fd, d->ram, d->ram_size))
		die_test("vm_attach");
	if (pci_bus_new(&d->vm, PCI_WINDOW_BASE, PCI_WINDOW_SIZE, &d->bus))
		die_test("pci_bus_new");
	d->next = 1 << 20;
}

void vdrv_teardown(struct vdrv *d)
{
	pci_bus_free(d->bus);
	vm_destroy(&d->vm);
	munmap(d->ram, d->ram_size);
	close(d->vm_fd);
	close(d->kvm_fd);
}

void vdrv_pick_device(struct vdrv *d)
{
	for (int i = PCI_MAX_SLOTS - 1; i > 0; i--) {
		if (d->bus->slots[i]) {
			d->dev = d->bus->slots[i];
			return;
		}
	}
	d->dev = NULL;
}

uint64_t vdrv_alloc(struct vdrv *d, uint64_t size)
{
	uint64_t gpa = (d->next + 4095) & ~4095ull;

	d->next = gpa + size;
	if (d->next > d->ram_size) {
		fprintf(stderr, "vdrv: out of guest memory\n");
		exit(1);
	}
	memset(d->ram + gpa, 0, size);
	return gpa;
}

void *vdrv_hva(struct vdrv *d, uint64_t gpa)
{
	return d->ram + gpa;
}

static void bar(struct vdrv *d, uint64_t off, void *data, uint32_t len, bool write)
{
	d->dev->ops->bar_io(d->dev, 0, off, data, len, write);
}

static void w8(struct vdrv *d, uint64_t off, uint8_t v)
{
	bar(d, off, &v, 1, true);
}

static void w16(struct vdrv *d, uint64_t off, uint16_t v)
{
	bar(d, off, &v, 2, true);
}

static void w32(struct vdrv *d, uint64_t off, uint32_t v)
{
	bar(d, off, &v, 4, true);
}

static uint32_t r32(struct vdrv *d, uint64_t off)
{
	uint32_t v = 0;

	bar(d, off, &v, 4, false);
	return v;
}

uint8_t vdrv_status(struct vdrv *d)
{
	uint8_t s = 0;

	bar(d, 20, &s, 1, false);
	return s;
}

void vdrv_set_status(struct vdrv *d, uint8_t s)
{
	w8(d, 20, s);
}

uint64_t vdrv_dev_features(struct vdrv *d)
{
	uint64_t f;

	w32(d, 0, 0);
	f = r32(d, 4);
	w32(d, 0, 1);
	return f | (uint64_t)r32(d, 4) << 32;
}

bool vdrv_start(struct vdrv *d, uint64_t features, unsigned int nq, uint16_t qsize)
{
	vdrv_set_status(d, 0);
	vdrv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w32(d, 8, 0);
	w32(d, 12, (uint32_t)features);
	w32(d, 8, 1);
	w32(d, 12, (uint32_t)(features >> 32));
	vdrv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK);
	if (!(vdrv_status(d) & VIRTIO_STATUS_FEATURES_OK))
		return false;
	for (unsigned int i = 0; i < nq; i++) {
		struct vdrv_queue *q = &d->q[i];

		memset(q, 0, sizeof(*q));
		q->size = qsize;
		q->desc = vdrv_alloc(d, 16u * qsize);
		q->avail = vdrv_alloc(d, 6u + 2u * qsize);
		q->used = vdrv_alloc(d, 6u + 8u * qsize);
		w16(d, 22, (uint16_t)i);
		w16(d, 24, qsize);
		w32(d, 32, (uint32_t)q->desc);
		w32(d, 36, 0);
		w32(d, 40, (uint32_t)q->avail);
		w32(d, 44, 0);
		w32(d, 48, (uint32_t)q->used);
		w32(d, 52, 0);
		w16(d, 28, 1);
	}
	vdrv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return (vdrv_status(d) & VIRTIO_STATUS_DRIVER_OK) != 0;
}

void vdrv_cfg_read(struct vdrv *d, uint32_t off, void *buf, uint32_t len)
{
	bar(d, VIRTIO_DEVCFG_OFF + off, buf, len, false);
}

void vdrv_cfg_write(struct vdrv *d, uint32_t off, const void *buf, uint32_t len)
{
	uint8_t tmp[8];

	memcpy(tmp, buf, len);
	bar(d, VIRTIO_DEVCFG_OFF + off, tmp, len, true);
}

void vdrv_set_desc(struct vdrv *d, unsigned int q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = { addr, len, flags, next };

	memcpy(d->ram + d->q[q].desc + 16u * i, &desc, sizeof(desc));
}

void vdrv_publish(struct vdrv *d, unsigned int q, uint16_t head)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t *avail = (uint16_t *)(d->ram + vq->avail);

	avail[2 + vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
	__atomic_store_n(&avail[1], vq->avail_idx, __ATOMIC_RELEASE);
}

uint16_t vdrv_add(struct vdrv *d, unsigned int q, const struct vdrv_buf *bufs, unsigned int n)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t head = vq->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		uint16_t next = (uint16_t)((idx + 1) % vq->size);

		vdrv_set_desc(d, q, idx, bufs[i].gpa, bufs[i].len,
			      (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			      next);
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	vdrv_publish(d, q, head);
	return head;
}

void vdrv_kick(struct vdrv *d, unsigned int q)
{
	w16(d, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, (uint16_t)q);
}

static bool take_used(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t *used = (uint16_t *)(d->ram + vq->used);
	uint32_t elem[2];

	if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == vq->used_seen)
		return false;
	memcpy(elem, d->ram + vq->used + 4 + 8u * (vq->used_seen % vq->size), 8);
	vq->used_seen++;
	if (id)
		*id = elem[0];
	if (len)
		*len = elem[1];
	return true;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool vdrv_wait_used(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len, int ms)
{
	long end = now_ms() + ms;
	struct timeval tv = { 0, 2000 };

	for (;;) {
		if (take_used(d, q, id, len))
			return true;
		if (now_ms() > end)
			return false;
		event_base_loopexit(d->vm.evb, &tv);
		event_base_loop(d->vm.evb, 0);
	}
}

void vdrv_run(struct vdrv *d, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(d->vm.evb, &tv);
	event_base_loop(d->vm.evb, 0);
}
