// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

/* At most this much entropy per request, so one request cannot stall the loop. */
#define RNG_MAX_REQUEST 65536

struct virtio_rng {
	struct virtio_dev vdev;
};

/* Fills the chain's writable buffers; returns bytes written or -errno. */
static ssize_t rng_fill(struct virtq_chain *c)
{
	size_t left = MIN(c->in_len, (uint64_t)RNG_MAX_REQUEST), done = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && left; i++) {
		size_t want = MIN(c->iov[i].iov_len, left), got = 0;

		while (got < want) {
			ssize_t n = getrandom((uint8_t *)c->iov[i].iov_base + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			got += (size_t)n;
		}
		done += got;
		left -= got;
	}
	return (ssize_t)done;
}

static void rng_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtq *vq = &v->vqs[q];
	struct virtq_chain *c = v->chain;
	const char *err;
	ssize_t n;
	int ret;

	do {
		while ((ret = virtq_pop(vq, c, &err)) == 1) {
			if (c->nr_out) {
				virtio_needs_reset(v,
						   "entropy request with a device-readable buffer");
				return;
			}
			n = rng_fill(c);
			if (n < 0) {
				log_error("%s: getrandom: %s", v->name, strerror((int)-n));
				n = 0;
			}
			virtq_push(vq, c->head, (uint32_t)n);
		}
		if (ret < 0) {
			virtio_needs_reset(v, "queue %u: %s", q, err);
			return;
		}
		virtio_queue_signal(v, q);
	} while (virtq_enable_notify(vq));
}

static void rng_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)v;
	(void)off;
	(void)data;
	(void)len;
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_type = 4,
	.pci_class = 0x00ff00,
	.config_read = rng_config_read,
	.queue_notify = rng_queue_notify,
};

int virtio_rng_new(struct vm *vm, struct pci_bus *bus, struct virtio_rng **out)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	ret = virtio_dev_init(&r->vdev, vm, bus, &rng_ops, 1, 64, 0, 0, r);
	if (ret) {
		virtio_rng_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void virtio_rng_free(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_dev_cleanup(&r->vdev);
	free(r);
}
