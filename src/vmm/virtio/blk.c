// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_DISCARD 13

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)
#define BLK_MAX_DISCARD_SEG 16
#define BLK_CONFIG_SIZE 60

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct blockdev *bd;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t config[BLK_CONFIG_SIZE];
	struct iovec data_iov[VIRTQ_MAX_CHAIN]; /* scratch: one request's data buffers */
};

static void blk_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = v->priv;

	memcpy(data, b->config + off, len);
}

static int blk_discard(struct virtio_blk *b, struct virtq_chain *c)
{
	struct blk_discard_seg seg;
	size_t skip = sizeof(struct blk_req_hdr);
	uint64_t nr = (c->out_len - skip) / sizeof(seg);

	if (!b->bd->ops->discard || b->bd->read_only)
		return VIRTIO_BLK_S_UNSUPP; /* only when the feature was not offered */
	if (nr == 0 || nr > BLK_MAX_DISCARD_SEG || (c->out_len - skip) % sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	for (uint64_t i = 0; i < nr; i++) {
		iov_to_buf(c->iov, c->nr_out, skip + i * sizeof(seg), &seg, sizeof(seg));
		if (seg.flags != 0 || seg.sector > UINT64_MAX / BLOCKDEV_SECTOR_SIZE ||
		    blockdev_check_range(b->bd, seg.sector * BLOCKDEV_SECTOR_SIZE,
					 (uint64_t)seg.num_sectors * BLOCKDEV_SECTOR_SIZE, true))
			return VIRTIO_BLK_S_IOERR;
		if (blockdev_discard(b->bd, seg.sector * BLOCKDEV_SECTOR_SIZE,
				     (uint64_t)seg.num_sectors * BLOCKDEV_SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/*
 * Data buffers of a read or write: for writes, the readable buffers after the
 * 16-byte header; for reads, the writable buffers before the status byte.
 * Returns how many iovecs were put into iov, or -1 if the layout is wrong.
 */
static int blk_data_iov(struct virtq_chain *c, bool write, struct iovec *iov, uint64_t *len)
{
	size_t skip = write ? sizeof(struct blk_req_hdr) : 0;
	uint64_t want = write ? c->out_len - skip : c->in_len - 1;
	unsigned int first = write ? 0 : c->nr_out, n = write ? c->nr_out : c->nr_in;
	int cnt = 0;

	*len = want;
	for (unsigned int i = first; i < first + n && want; i++) {
		size_t l = c->iov[i].iov_len;
		uint8_t *p = c->iov[i].iov_base;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p += skip;
		l -= skip;
		skip = 0;
		l = MIN(l, want);
		iov[cnt].iov_base = p;
		iov[cnt].iov_len = l;
		cnt++;
		want -= l;
	}
	return want ? -1 : cnt;
}

/* Handles one request; returns the status byte and sets *written (data bytes to the guest). */
static uint8_t blk_handle(struct virtio_blk *b, struct virtq_chain *c, uint32_t *written)
{
	struct iovec *iov = b->data_iov;
	struct blk_req_hdr h;
	uint64_t len;
	int cnt;

	*written = 0;
	iov_to_buf(c->iov, c->nr_out, 0, &h, sizeof(h));
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		cnt = blk_data_iov(c, h.type == VIRTIO_BLK_T_OUT, iov, &len);
		if (cnt < 0 || len % BLOCKDEV_SECTOR_SIZE ||
		    h.sector > UINT64_MAX / BLOCKDEV_SECTOR_SIZE ||
		    blockdev_check_range(b->bd, h.sector * BLOCKDEV_SECTOR_SIZE, len,
					 h.type == VIRTIO_BLK_T_OUT))
			return VIRTIO_BLK_S_IOERR;
		if (h.type == VIRTIO_BLK_T_IN) {
			if (blockdev_readv(b->bd, iov, cnt, h.sector * BLOCKDEV_SECTOR_SIZE))
				return VIRTIO_BLK_S_IOERR;
			*written = (uint32_t)len;
		} else if (blockdev_writev(b->bd, iov, cnt, h.sector * BLOCKDEV_SECTOR_SIZE)) {
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return blockdev_flush(b->bd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		if (c->in_len - 1 < VIRTIO_BLK_ID_BYTES)
			return VIRTIO_BLK_S_IOERR;
		*written = (uint32_t)iov_from_buf(c->iov + c->nr_out, c->nr_in, 0, b->serial,
						  VIRTIO_BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
		return (uint8_t)blk_discard(b, c);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void blk_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_blk *b = v->priv;
	struct virtq *vq = &v->vqs[q];
	struct virtq_chain *c = v->chain;
	const char *err;
	int ret;

	do {
		while ((ret = virtq_pop(vq, c, &err)) == 1) {
			uint32_t written;
			uint8_t status;

			/* A header to read and a status byte to write, at least. */
			if (c->out_len < sizeof(struct blk_req_hdr) || c->in_len < 1) {
				virtio_needs_reset(v, "request without header or status byte");
				return;
			}
			status = blk_handle(b, c, &written);
			iov_from_buf(c->iov + c->nr_out, c->nr_in, c->in_len - 1, &status, 1);
			virtq_push(vq, c->head, written + 1);
		}
		if (ret < 0) {
			virtio_needs_reset(v, "queue %u: %s", q, err);
			return;
		}
		virtio_queue_signal(v, q);
	} while (virtq_enable_notify(vq));
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_type = 2,
	.pci_class = 0x018000, /* mass storage, other */
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void blk_fill_config(struct virtio_blk *b)
{
	uint64_t sectors = b->bd->size / BLOCKDEV_SECTOR_SIZE;

	uint32_t phys = b->bd->block_size / BLOCKDEV_SECTOR_SIZE;
	uint16_t min_io = (uint16_t)phys;
	uint8_t exp = 0;

	while ((2u << exp) <= phys)
		exp++;
	memcpy(b->config + 0, &sectors, 8); /* capacity */
	put32(b->config + 12, BLK_SEG_MAX); /* seg_max */
	/*
	 * blk_size is the logical block size: always 512, so any file system
	 * on the image mounts. The backend's preferred size is the physical one.
	 */
	put32(b->config + 20, BLOCKDEV_SECTOR_SIZE);
	b->config[24] = exp; /* physical_block_exp */
	memcpy(b->config + 26, &min_io, 2); /* min_io_size */
	put32(b->config + 36, UINT32_MAX / BLOCKDEV_SECTOR_SIZE); /* max_discard_sectors */
	put32(b->config + 40, BLK_MAX_DISCARD_SEG); /* max_discard_seg */
	put32(b->config + 44, b->bd->block_size / BLOCKDEV_SECTOR_SIZE); /* discard alignment */
}

int virtio_blk_new(struct vm *vm, struct pci_bus *bus, struct blockdev *bd, const char *serial,
		   struct virtio_blk **out)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_TOPOLOGY);
	int ret;

	if (!b) {
		blockdev_close(bd);
		return -ENOMEM;
	}
	b->bd = bd;
	/* Up to 20 bytes, NUL-padded but not necessarily terminated (spec 5.2.6). */
	if (serial)
		memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
	if (bd->read_only)
		features |= 1ull << VIRTIO_BLK_F_RO;
	else if (bd->ops->discard)
		features |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (bd->block_size < BLOCKDEV_SECTOR_SIZE || bd->block_size % BLOCKDEV_SECTOR_SIZE)
		bd->block_size = BLOCKDEV_SECTOR_SIZE;
	blk_fill_config(b);
	ret = virtio_dev_init(&b->vdev, vm, bus, &blk_ops, 1, BLK_QUEUE_SIZE, features,
			      BLK_CONFIG_SIZE, b);
	if (ret) {
		virtio_blk_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

int virtio_blk_flush(struct virtio_blk *b)
{
	return blockdev_flush(b->bd); /* a read-only backend has nothing to flush */
}

void virtio_blk_free(struct virtio_blk *b)
{
	if (!b)
		return;
	virtio_dev_cleanup(&b->vdev);
	blockdev_close(b->bd);
	free(b);
}
