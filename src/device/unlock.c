// SPDX-License-Identifier: Apache-2.0
/*
 * How pocketvmd opens and erases encrypted images, through the disk
 * library (src/disk/): the DEK is recovered with the image's binding (for a
 * work VM: pocketvm-server's /tang/VM/rec over mTLS with the device's
 * certificate), lands in secret memory, is copied into a memfd_secret (or
 * sealed memfd) for the VMM, and wiped here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "device/daemon.h"
#include "disk/binding.h"
#include "disk/image.h"

static int img_unlock(const char *image, const char *state_dir, int *key_fd, char *err,
		      size_t errlen)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct unlock_opts o = { 0 };
	struct image_header h;
	struct image_io io;
	struct secret *dek = NULL;
	const char *why = "";
	int fd, r;

	snprintf(ca, sizeof(ca), "%s/ca.pem", state_dir);
	snprintf(cert, sizeof(cert), "%s/device.pem", state_dir);
	snprintf(key, sizeof(key), "%s/device.key", state_dir);
	o.tang.cafile = ca;
	o.tang.cert = cert;
	o.tang.key = key;
	o.tang.timeout_s = 20;
	fd = open(image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", image, strerror(errno));
		return r;
	}
	image_io_fd(&io, &fd);
	r = image_header_load(&io, &h, &why);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", image, why ? why : strerror(-r));
		return r;
	}
	r = image_unlock(&h, &o, &dek);
	image_header_release(&h);
	if (r < 0) {
		snprintf(err, errlen, "%s",
			 r == -EHOSTUNREACH ? "the server cannot be reached (no contact, no key)" :
			 r == -EACCES	    ? "the server refused to release the key "
					      "(revoked, locked or not allowed)" :
			 r == -EKEYREVOKED  ? "the image was crypto-erased" :
					      strerror(-r));
		return r == -EKEYREVOKED ? -EACCES : r;
	}
	r = secret_to_fd(dek, key_fd);
	secret_free(dek);
	if (r < 0)
		snprintf(err, errlen, "cannot hand the key over: %s", strerror(-r));
	return r;
}

/* Both header copies zeroed: for an image whose header no longer parses. */
static int zero_headers(int fd)
{
	static const uint8_t zero[4096];

	for (uint64_t off = 0; off < IMAGE_META_OFFSET; off += sizeof(zero))
		if (pwrite(fd, zero, sizeof(zero), (off_t)off) != (ssize_t)sizeof(zero))
			return -errno;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int img_erase(const char *image, char *err, size_t errlen)
{
	struct image_io io;
	int fd = open(image, O_RDWR | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* already gone */
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", image, strerror(errno));
		return r;
	}
	image_io_fd(&io, &fd);
	r = image_header_erase(&io);
	if (r < 0)
		r = zero_headers(fd);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		snprintf(err, errlen, "cannot erase %s: %s", image, strerror(-r));
	return r;
}

const struct image_ops pvd_image_ops = {
	.unlock = img_unlock,
	.erase = img_erase,
};
