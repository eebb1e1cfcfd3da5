// SPDX-License-Identifier: Apache-2.0
#include "disk/image.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/kdf.h"

/* Field offsets inside a header copy (docs/image-format.md, "Header"). */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 8,
	OFF_FLAGS = 12,
	OFF_SEQ = 16,
	OFF_UUID = 24,
	OFF_BLOCK_SIZE = 40,
	OFF_SUITE = 44,
	OFF_DATA_SIZE = 48,
	OFF_META_OFFSET = 56,
	OFF_DATA_OFFSET = 64,
	OFF_EPOCH = 72,
	OFF_BINDINGS_LEN = 76,
	OFF_MAC = 80,
	OFF_CHECKSUM = 112,
	OFF_SESSION_EPOCH = 144,
	OFF_RESERVED = 148,
};

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static int fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(int *)ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the image is shorter than its header says */
		done += (size_t)n;
	}
	return 0;
}

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	int fd = *(int *)ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static int fd_pwritev(void *ctx, const struct iovec *iov_in, int iovcnt, uint64_t off)
{
	struct iovec iov[IOV_MAX];
	struct iovec *v = iov;
	int fd = *(int *)ctx;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	memcpy(iov, iov_in, (size_t)iovcnt * sizeof(*iov));
	while (iovcnt > 0) {
		ssize_t n = pwritev(fd, v, iovcnt, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (uint64_t)n;
		/* Skip what a short write already took. */
		while (iovcnt > 0 && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int fd_punch(void *ctx, uint64_t off, uint64_t len)
{
	int fd = *(int *)ctx;

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	/* Space is not reclaimed where the file system cannot punch: harmless. */
	return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
}

static int fd_sync(void *ctx)
{
	return fdatasync(*(int *)ctx) < 0 ? -errno : 0;
}

void image_io_fd(struct image_io *io, int *fd)
{
	io->pread = fd_pread;
	io->pwrite = fd_pwrite;
	io->pwritev = fd_pwritev;
	io->punch = fd_punch;
	io->sync = fd_sync;
	io->ctx = fd;
}

void image_layout(uint64_t data_size, uint64_t *meta_offset, uint64_t *data_offset,
		  uint64_t *file_size)
{
	uint64_t nblocks = data_size / IMAGE_BLOCK_SIZE;
	uint64_t meta_len = ALIGN_UP(nblocks * IMAGE_RECORD_SIZE, (uint64_t)IMAGE_BLOCK_SIZE);

	*meta_offset = IMAGE_META_OFFSET;
	*data_offset = IMAGE_META_OFFSET + meta_len;
	*file_size = *data_offset + data_size;
}

void image_uuid_str(const uint8_t u[IMAGE_UUID_LEN], char *buf)
{
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Checks the fixed fields of a parsed header; returns why not, or NULL. */
static const char *fields_invalid(const struct image_header *h)
{
	uint64_t meta, data, file;

	if (h->version != IMAGE_VERSION)
		return "unsupported format version";
	if (h->flags & ~IMAGE_FLAGS_KNOWN)
		return "unknown header flags";
	if (h->block_size != IMAGE_BLOCK_SIZE)
		return "block size is not 4096";
	if (h->suite != IMAGE_SUITE_AES256GCM)
		return "unknown cipher suite";
	if (h->data_size == 0 || h->data_size > IMAGE_MAX_DATA_SIZE ||
	    !IS_ALIGNED(h->data_size, (uint64_t)IMAGE_BLOCK_SIZE))
		return "data size is not a positive multiple of 4096 below 2^50";
	image_layout(h->data_size, &meta, &data, &file);
	if (h->meta_offset != meta || h->data_offset != data)
		return "metadata or data offset does not match the layout";
	if (h->epoch > IMAGE_EPOCH_MAX || h->session_epoch > h->epoch)
		return "epoch out of range";
	return NULL;
}

bool image_header_parse(const uint8_t *buf, size_t len, struct image_header *h, const char **why)
{
	uint8_t want[SHA256_LEN], got[SHA256_LEN];
	uint8_t *copy;
	uint32_t blen;

	memset(h, 0, sizeof(*h));
	*why = "header copy shorter than its fixed part";
	if (len < IMAGE_HEADER_FIXED)
		return false;
	*why = "bad magic (not a pocketvm image)";
	if (memcmp(buf + OFF_MAGIC, IMAGE_MAGIC, 8))
		return false;
	blen = get32(buf + OFF_BINDINGS_LEN);
	*why = "bindings length exceeds the header copy";
	if (blen > IMAGE_BINDINGS_MAX || IMAGE_HEADER_FIXED + blen > len)
		return false;
	*why = "reserved header bytes are not zero";
	if (!all_zero(buf + OFF_RESERVED, IMAGE_HEADER_FIXED - OFF_RESERVED))
		return false;
	/* The checksum covers the copy with its own field zeroed. */
	copy = malloc(IMAGE_HEADER_FIXED + blen);
	*why = "out of memory";
	if (!copy)
		return false;
	memcpy(copy, buf, IMAGE_HEADER_FIXED + blen);
	memset(copy + OFF_CHECKSUM, 0, SHA256_LEN);
	memcpy(want, buf + OFF_CHECKSUM, SHA256_LEN);
	if (sha256(copy, IMAGE_HEADER_FIXED + blen, got)) {
		free(copy);
		return false;
	}
	free(copy);
	*why = "header checksum mismatch (torn or corrupted copy)";
#ifndef POCKETVM_FUZZING
	/* A fuzzer cannot forge SHA-256: let it reach the fields behind it. */
	if (memcmp(want, got, SHA256_LEN))
		return false;
#endif

	h->version = get32(buf + OFF_VERSION);
	h->flags = get32(buf + OFF_FLAGS);
	h->seq = get64(buf + OFF_SEQ);
	memcpy(h->uuid, buf + OFF_UUID, IMAGE_UUID_LEN);
	h->block_size = get32(buf + OFF_BLOCK_SIZE);
	h->suite = get32(buf + OFF_SUITE);
	h->data_size = get64(buf + OFF_DATA_SIZE);
	h->meta_offset = get64(buf + OFF_META_OFFSET);
	h->data_offset = get64(buf + OFF_DATA_OFFSET);
	h->epoch = get32(buf + OFF_EPOCH);
	h->session_epoch = get32(buf + OFF_SESSION_EPOCH);
	memcpy(h->mac, buf + OFF_MAC, IMAGE_MAC_LEN);
	*why = fields_invalid(h);
	if (*why)
		return false;
	*why = "bindings contain a NUL byte";
	if (memchr(buf + IMAGE_HEADER_FIXED, 0, blen))
		return false;
	if (blen) {
		*why = "out of memory";
		h->bindings = malloc(blen + 1);
		if (!h->bindings)
			return false;
		memcpy(h->bindings, buf + IMAGE_HEADER_FIXED, blen);
		h->bindings[blen] = '\0';
		h->bindings_len = blen;
	}
	*why = NULL;
	return true;
}

void image_header_release(struct image_header *h)
{
	free(h->bindings);
	h->bindings = NULL;
	h->bindings_len = 0;
}

int image_header_set_bindings(struct image_header *h, const char *json)
{
	size_t len = json ? strlen(json) : 0;
	char *copy = NULL;

	if (len > IMAGE_BINDINGS_MAX)
		return -E2BIG;
	if (len) {
		copy = strdup(json);
		if (!copy)
			return -ENOMEM;
	}
	free(h->bindings);
	h->bindings = copy;
	h->bindings_len = len;
	return 0;
}

static int header_key(const struct secret *dek, const uint8_t *uuid, uint8_t *out)
{
	static const char info[] = "pocketvm-disk-v1 header";

	return hkdf_sha256(dek->data, dek->len, uuid, IMAGE_UUID_LEN, info, sizeof(info) - 1, out,
			   SHA256_LEN);
}

int image_data_key(const struct secret *dek, const uint8_t uuid[IMAGE_UUID_LEN], uint32_t epoch,
		   uint8_t *out)
{
	static const char label[] = "pocketvm-disk-v1 data";
	uint8_t info[sizeof(label) - 1 + 4];
	uint32_t be = htobe32(epoch);

	memcpy(info, label, sizeof(label) - 1);
	memcpy(info + sizeof(label) - 1, &be, 4);
	return hkdf_sha256(dek->data, dek->len, uuid, IMAGE_UUID_LEN, info, sizeof(info), out, 32);
}

/* Lays out the fixed part and bindings with MAC and checksum zeroed. */
static size_t header_fill(const struct image_header *h, uint8_t *buf)
{
	memset(buf, 0, IMAGE_HEADER_SLOT);
	memcpy(buf + OFF_MAGIC, IMAGE_MAGIC, 8);
	put32(buf + OFF_VERSION, h->version);
	put32(buf + OFF_FLAGS, h->flags);
	put64(buf + OFF_SEQ, h->seq);
	memcpy(buf + OFF_UUID, h->uuid, IMAGE_UUID_LEN);
	put32(buf + OFF_BLOCK_SIZE, h->block_size);
	put32(buf + OFF_SUITE, h->suite);
	put64(buf + OFF_DATA_SIZE, h->data_size);
	put64(buf + OFF_META_OFFSET, h->meta_offset);
	put64(buf + OFF_DATA_OFFSET, h->data_offset);
	put32(buf + OFF_EPOCH, h->epoch);
	put32(buf + OFF_BINDINGS_LEN, (uint32_t)h->bindings_len);
	put32(buf + OFF_SESSION_EPOCH, h->session_epoch);
	if (h->bindings_len)
		memcpy(buf + IMAGE_HEADER_FIXED, h->bindings, h->bindings_len);
	return IMAGE_HEADER_FIXED + h->bindings_len;
}

static int header_compute_mac(const struct image_header *h, const struct secret *dek,
			      uint8_t *scratch, uint8_t *mac)
{
	uint8_t key[SHA256_LEN];
	size_t len = header_fill(h, scratch);
	int ret = header_key(dek, h->uuid, key);

	if (!ret)
		ret = hmac_sha256(key, sizeof(key), scratch, len, mac);
	explicit_bzero(key, sizeof(key));
	return ret;
}

int image_header_serialize(const struct image_header *h, const struct secret *dek, uint8_t *buf)
{
	uint8_t mac[IMAGE_MAC_LEN] = { 0 };
	uint8_t sum[SHA256_LEN];
	size_t len;
	int ret;

	if (h->bindings_len > IMAGE_BINDINGS_MAX)
		return -E2BIG;
	if (dek) {
		ret = header_compute_mac(h, dek, buf, mac);
		if (ret)
			return ret;
	}
	len = header_fill(h, buf);
	memcpy(buf + OFF_MAC, mac, IMAGE_MAC_LEN);
	ret = sha256(buf, len, sum);
	if (ret)
		return ret;
	memcpy(buf + OFF_CHECKSUM, sum, SHA256_LEN);
	return 0;
}

int image_header_verify(const struct image_header *h, const struct secret *dek)
{
	uint8_t mac[IMAGE_MAC_LEN];
	uint8_t *scratch = malloc(IMAGE_HEADER_SLOT);
	int ret;

	if (!scratch)
		return -ENOMEM;
	ret = header_compute_mac(h, dek, scratch, mac);
	free(scratch);
	if (ret)
		return ret;
	return secret_equal(mac, h->mac, IMAGE_MAC_LEN) ? 0 : -EBADMSG;
}

int image_header_load(const struct image_io *io, struct image_header *h, const char **why)
{
	struct image_header copies[2];
	const char *whys[2];
	bool ok[2];
	uint8_t *buf = malloc(IMAGE_HEADER_SLOT);
	int ret = 0;

	*why = "out of memory";
	if (!buf)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		ret = io->pread(io->ctx, buf, IMAGE_HEADER_SLOT, (uint64_t)i * IMAGE_HEADER_SLOT);
		if (ret) {
			*why = "cannot read the header";
			goto out;
		}
		ok[i] = image_header_parse(buf, IMAGE_HEADER_SLOT, &copies[i], &whys[i]);
	}
	if (!ok[0] && !ok[1]) {
		/* Report copy A's reason: the first thing a user would check. */
		*why = whys[0];
		ret = -EUCLEAN;
		goto out;
	}
	int pick = !ok[0] ? 1 : !ok[1] ? 0 : copies[1].seq > copies[0].seq;

	*h = copies[pick];
	if (ok[!pick])
		image_header_release(&copies[!pick]);
	*why = NULL;
out:
	free(buf);
	return ret;
}

int image_header_store(const struct image_io *io, struct image_header *h, const struct secret *dek)
{
	uint8_t *buf = malloc(IMAGE_HEADER_SLOT);
	int ret;

	if (!buf)
		return -ENOMEM;
	h->seq++;
	ret = image_header_serialize(h, dek, buf);
	if (!ret) {
		memcpy(h->mac, buf + OFF_MAC, IMAGE_MAC_LEN);
		ret = io->pwrite(io->ctx, buf, IMAGE_HEADER_SLOT,
				 (h->seq & 1) * (uint64_t)IMAGE_HEADER_SLOT);
	}
	if (!ret)
		ret = io->sync(io->ctx);
	free(buf);
	return ret;
}

int image_format(int fd, uint64_t data_size, const uint8_t uuid[IMAGE_UUID_LEN],
		 const struct secret *dek, const char *bindings)
{
	struct image_header h = {
		.version = IMAGE_VERSION,
		.block_size = IMAGE_BLOCK_SIZE,
		.suite = IMAGE_SUITE_AES256GCM,
		.data_size = data_size,
	};
	struct image_io io;
	uint64_t file_size;
	int ret;

	if (data_size == 0 || data_size > IMAGE_MAX_DATA_SIZE ||
	    !IS_ALIGNED(data_size, (uint64_t)IMAGE_BLOCK_SIZE))
		return -EINVAL;
	image_io_fd(&io, &fd);
	memcpy(h.uuid, uuid, IMAGE_UUID_LEN);
	image_layout(data_size, &h.meta_offset, &h.data_offset, &file_size);
	/* Zeroed metadata: no block authenticates until it is sealed. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)file_size) < 0)
		return -errno;
	ret = image_header_set_bindings(&h, bindings);
	/* Both copies hold the same header (sequence 1 and 2). */
	for (int i = 0; !ret && i < 2; i++)
		ret = image_header_store(&io, &h, dek);
	image_header_release(&h);
	return ret;
}

int image_header_erase(const struct image_io *io)
{
	struct image_header h;
	const char *why;
	int ret = image_header_load(io, &h, &why);

	if (ret == -EUCLEAN) {
		/* Unreadable: zero both copies, whatever binding bytes they hold. */
		uint8_t *zero = calloc(1, IMAGE_HEADER_SLOT);

		if (!zero)
			return -ENOMEM;
		ret = io->pwrite(io->ctx, zero, IMAGE_HEADER_SLOT, 0);
		if (!ret)
			ret = io->pwrite(io->ctx, zero, IMAGE_HEADER_SLOT, IMAGE_HEADER_SLOT);
		free(zero);
		return ret ? ret : io->sync(io->ctx);
	}
	if (ret)
		return ret;
	image_header_release(&h);
	h.flags = (h.flags | IMAGE_FLAG_ERASED) & ~IMAGE_FLAG_DIRTY;
	for (int i = 0; !ret && i < 2; i++)
		ret = image_header_store(io, &h, NULL);
	return ret;
}
