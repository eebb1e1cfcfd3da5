// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk driven by a tiny guest through pocketvm's PCI bus and
 * virtio-pci transport: feature negotiation, MSI-X through irqfd, writes
 * that reach the image file, reads through an indirect table, flush,
 * GET_ID, out-of-range and read-only requests failing cleanly, and hostile
 * rings (loops, wild addresses, oversized lengths, bogus sizes and indices)
 * that put the device into NEEDS_RESET with a log line naming the cause,
 * after which a driver reset brings the device back.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "disk/blockdev.h"
#include "disk/create.h"
#include "disk/crypt.h"
#include "lib/virtio_guest.h"
#include "lib/vmm_harness.h"
#include "vmm/virtio/blk.h"

#define QBASE 0x20000ul
#define HDR 0x30000ul
#define DATA 0x31000ul
#define STATUS 0x32000ul
#define INDIRECT 0x33000ul
#define DATA2 0x34000ul
#define BAD_ADDR 0x7fff00000000ull
#define VEC_CONFIG 0x40
#define VEC_QUEUE 0x41
#define DISK_SECTORS 2048

/* Set by the host before the VM is created (the guest gets a copy). */
static volatile int hostile_case;
static volatile int read_only_disk;

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };

GUEST_CODE static void set_desc(struct vg_queue *q, unsigned int i, uint64_t addr, uint32_t len,
				uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

GUEST_CODE static void set_hdr(uint32_t type, uint64_t sector)
{
	VG_W32(HDR, type);
	VG_W32(HDR + 4, 0);
	vg_w64(HDR + 8, sector);
	VG_W8(STATUS, 0xff);
}

/* Probe, negotiate, MSI-X, one queue of 16 at QBASE, DRIVER_OK. */
GUEST_CODE static void blk_init(struct vg_dev *d, struct vg_queue *q, uint16_t qsize)
{
	uint64_t f;

	GUEST_ASSERT_EQ(vg_probe(d, 1, 0x1042), 0);
	f = vg_negotiate(d, VG_F_VERSION_1 | VG_F_INDIRECT | VG_F_EVENT_IDX | (1ull << 9) |
				    (1ull << 5));
	GUEST_ASSERT(f & VG_F_VERSION_1);
	vg_msix_vector(d, 0, VEC_CONFIG);
	vg_msix_vector(d, 1, VEC_QUEUE);
	VG_W16(d->common + VG_MSIX_CONFIG, 0);
	vg_queue_setup(d, q, 0, qsize, QBASE, 1);
	vg_driver_ok(d);
}

/* A three-descriptor request; returns the used length (or -1). */
GUEST_CODE static long blk_request(struct vg_dev *d, struct vg_queue *q, uint32_t type,
				   uint64_t sector, uint64_t buf, uint32_t len, bool dev_writes)
{
	set_hdr(type, sector);
	set_desc(q, 0, HDR, 16, VG_DESC_F_NEXT, 1);
	if (len) {
		set_desc(q, 1, buf, len, VG_DESC_F_NEXT | (dev_writes ? VG_DESC_F_WRITE : 0), 2);
		set_desc(q, 2, STATUS, 1, VG_DESC_F_WRITE, 0);
	} else {
		set_desc(q, 1, STATUS, 1, VG_DESC_F_WRITE, 0);
	}
	vg_submit(d, q, 0);
	return vg_wait_used(d, q, NULL);
}

GUEST_CODE static void guest_blk_ok(void)
{
	struct vg_dev d;
	struct vg_queue q;
	uint64_t cap;
	volatile struct vg_desc *ind = (volatile struct vg_desc *)INDIRECT;

	blk_init(&d, &q, 16);
	/* The PCI configuration access window reads the same status byte. */
	vg_cfg_write32(d.bdf, d.cfg_cap + 4u, 0);
	vg_cfg_write32(d.bdf, d.cfg_cap + 8u, VG_STATUS);
	vg_cfg_write32(d.bdf, d.cfg_cap + 12u, 1);
	GUEST_ASSERT_EQ(vg_cfg_read(d.bdf, d.cfg_cap + 16u) & 0xff, vg_status(&d));
	cap = VG_R32(d.device) | ((uint64_t)VG_R32(d.device + 4) << 32);
	GUEST_SYNC2(1, cap);

	for (unsigned int i = 0; i < 512; i++)
		VG_W8(DATA + i, (uint8_t)(i * 7 + 3));
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_OUT, 2, DATA, 512, false), 1);
	GUEST_SYNC2(2, VG_R8(STATUS));

	/* Read it back through an indirect table. */
	set_hdr(T_IN, 2);
	ind[0].addr = HDR;
	ind[0].len = 16;
	ind[0].flags = VG_DESC_F_NEXT;
	ind[0].next = 1;
	ind[1].addr = DATA2;
	ind[1].len = 512;
	ind[1].flags = VG_DESC_F_NEXT | VG_DESC_F_WRITE;
	ind[1].next = 2;
	ind[2].addr = STATUS;
	ind[2].len = 1;
	ind[2].flags = VG_DESC_F_WRITE;
	ind[2].next = 0;
	set_desc(&q, 3, INDIRECT, 48, VG_DESC_F_INDIRECT, 0);
	vg_submit(&d, &q, 3);
	GUEST_ASSERT_EQ(vg_wait_used(&d, &q, NULL), 513);
	GUEST_ASSERT_EQ(VG_R8(STATUS), 0);
	for (unsigned int i = 0; i < 512; i++)
		GUEST_ASSERT_EQ(VG_R8(DATA2 + i), (uint8_t)(i * 7 + 3));

	GUEST_ASSERT_EQ(blk_request(&d, &q, T_FLUSH, 0, 0, 0, false), 1);
	GUEST_ASSERT_EQ(VG_R8(STATUS), 0);
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_GET_ID, 0, DATA2, 20, true), 21);
	GUEST_SYNC2(3, VG_R32(DATA2)); /* "tiny" */
	/* Past the end: an I/O error for that request, the device carries on. */
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_IN, cap - 1, DATA2, 1024, true), 1);
	GUEST_ASSERT_EQ(VG_R8(STATUS), 1);
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_IN, 0, DATA2, 512, true), 513);
	GUEST_ASSERT_EQ(VG_R8(STATUS), 0);
	GUEST_ASSERT_EQ(vg_status(&d) & VG_STATUS_NEEDS_RESET, 0);
	GUEST_DONE();
}

GUEST_CODE static void guest_blk_read_only(void)
{
	struct vg_dev d;
	struct vg_queue q;

	blk_init(&d, &q, 16);
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_OUT, 0, DATA, 512, false), 1);
	GUEST_SYNC2(1, VG_R8(STATUS));
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_IN, 0, DATA2, 512, true), 513);
	GUEST_SYNC2(2, VG_R8(STATUS));
	GUEST_DONE();
}

/* Builds one broken request (or queue) per case; see hostile_cases[]. */
GUEST_CODE static void submit_hostile(struct vg_dev *d, struct vg_queue *q, int c)
{
	volatile struct vg_desc *ind = (volatile struct vg_desc *)INDIRECT;

	set_hdr(T_IN, 0);
	switch (c) {
	case 0: /* a two-descriptor loop */
		set_desc(q, 0, HDR, 16, VG_DESC_F_NEXT, 1);
		set_desc(q, 1, DATA, 512, VG_DESC_F_NEXT, 0);
		break;
	case 1: /* a buffer far outside guest RAM */
		set_desc(q, 0, BAD_ADDR, 16, VG_DESC_F_NEXT, 1);
		set_desc(q, 1, STATUS, 1, VG_DESC_F_WRITE, 0);
		break;
	case 2: /* a length running off the end of RAM */
		set_desc(q, 0, HDR, 16, VG_DESC_F_NEXT, 1);
		set_desc(q, 1, DATA, 0xfffffff0u, VG_DESC_F_NEXT | VG_DESC_F_WRITE, 2);
		set_desc(q, 2, STATUS, 1, VG_DESC_F_WRITE, 0);
		break;
	case 4: /* a head index beyond the table */
		q->avail[2] = 200;
		q->avail[1] = ++q->avail_idx;
		VG_W16(d->notify, 0);
		return;
	case 5: /* the available index jumps past the queue size */
		q->avail_idx = 100;
		q->avail[1] = 100;
		VG_W16(d->notify, 0);
		return;
	case 6: /* an indirect table that points to another */
		ind[0].addr = INDIRECT;
		ind[0].len = 16;
		ind[0].flags = VG_DESC_F_INDIRECT;
		set_desc(q, 0, INDIRECT, 16, VG_DESC_F_INDIRECT, 0);
		break;
	case 7: /* device-writable before device-readable */
		set_desc(q, 0, STATUS, 1, VG_DESC_F_NEXT | VG_DESC_F_WRITE, 1);
		set_desc(q, 1, HDR, 16, 0, 0);
		break;
	case 8: /* an indirect table whose size is not whole descriptors */
		set_desc(q, 0, INDIRECT, 17, VG_DESC_F_INDIRECT, 0);
		break;
	case 10: /* an indirect table that is the ring's own table (it looped, once) */
		set_desc(q, 0, (uintptr_t)q->desc, 16, VG_DESC_F_INDIRECT, 0);
		break;
	default:
		GUEST_ASSERT(0);
	}
	vg_submit(d, q, 0);
}

GUEST_CODE static void guest_blk_hostile(void)
{
	struct vg_dev d;
	struct vg_queue q;
	int c = hostile_case;

	if (c == 3) {
		/* A queue size that is not a power of two is refused at enable. */
		blk_init(&d, &q, 3);
	} else if (c == 9) {
		/* Rings outside guest RAM are refused at enable. */
		GUEST_ASSERT_EQ(vg_probe(&d, 1, 0x1042), 0);
		GUEST_ASSERT(vg_negotiate(&d, VG_F_VERSION_1) != 0);
		VG_W16(d.common + VG_Q_SELECT, 0);
		vg_w64(d.common + VG_Q_DESC, 0x7fff0000ull);
		VG_W16(d.common + VG_Q_ENABLE, 1);
	} else {
		blk_init(&d, &q, 16);
		submit_hostile(&d, &q, c);
	}
	GUEST_SYNC2(1, vg_wait_needs_reset(&d));
	/* Reset and start over: the device works again. */
	blk_init(&d, &q, 16);
	GUEST_ASSERT_EQ(blk_request(&d, &q, T_IN, 0, DATA2, 512, true), 513);
	GUEST_SYNC2(2, VG_R8(STATUS));
	GUEST_DONE();
}

static const char *const hostile_cases[] = {
	"descriptor chain loops or exceeds its table",
	"buffer outside guest RAM",
	"buffer outside guest RAM",
	"queue size is not a power of two",
	"descriptor index beyond its table",
	"available index moved further than the queue size",
	"nested indirect descriptor table",
	"device-readable buffer after a writable one",
	"indirect table size invalid",
	"ring outside guest RAM",
	"nested indirect descriptor table",
};

static struct harness *setup(void (*guest)(void), const char *disk, bool ro,
			     struct virtio_blk **blk)
{
	struct harness *h = harness_new(16);
	struct blockdev *bd;

	TEST_ASSERT(blockdev_raw_open(disk, ro, &bd) == 0, "open disk");
	TEST_ASSERT(virtio_blk_new(&h->vm, h->pci, bd, "tiny-serial", blk) == 0, "virtio_blk_new");
	harness_start(h, guest);
	return h;
}

static void test_ok(const char *disk)
{
	struct virtio_blk *blk;
	struct harness *h = setup(guest_blk_ok, disk, false, &blk);
	uint8_t sector[512];
	struct ucall uc;
	int fd;

	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == DISK_SECTORS,
		    "capacity %lu, expected %d", (unsigned long)uc.args[1], DISK_SECTORS);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 0, "write status %lu",
		    (unsigned long)uc.args[1]);
	fd = open(disk, O_RDONLY);
	TEST_ASSERT(pread(fd, sector, 512, 1024) == 512, "pread");
	close(fd);
	for (int i = 0; i < 512; i++)
		TEST_ASSERT(sector[i] == (uint8_t)(i * 7 + 3), "image byte %d is 0x%x", i,
			    sector[i]);
	TEST_ASSERT(harness_irq_pending(h, VEC_QUEUE), "no MSI-X interrupt for the used buffer");
	TEST_ASSERT(!harness_irq_pending(h, VEC_CONFIG), "spurious config interrupt");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && !memcmp(&uc.args[1], "tiny", 4),
		    "GET_ID did not return the serial");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_blk_free(blk);
	harness_free(h);
	printf("ok: write reached the image, indirect read, flush, serial, range error, MSI-X\n");
}

/* True if the file holds the guest's sector pattern anywhere (it must not, encrypted). */
static bool file_has_pattern(const char *path)
{
	uint8_t buf[DISK_SECTORS * 512 / 4], want[64];
	int fd = open(path, O_RDONLY);
	ssize_t n;
	bool found = false;

	for (int i = 0; i < 64; i++)
		want[i] = (uint8_t)(i * 7 + 3);
	while (fd >= 0 && !found && (n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i + 64 <= n && !found; i++)
			found = !memcmp(buf + i, want, 64);
	close(fd);
	return found;
}

/*
 * The same guest on the encrypted backend (issue 5's crypt image behind the
 * same blockdev ops): the guest reads back what it wrote, the image file
 * never holds the plaintext, and a fresh open with the key reads it.
 */
static void test_encrypted(void)
{
	char path[] = "/tmp/pocketvm-blk-crypt.XXXXXX";
	uint8_t uuid[IMAGE_UUID_LEN], sector[512];
	struct secret *dek, *copy;
	struct virtio_blk *blk;
	struct blockdev *bd;
	struct harness *h;
	struct ucall uc;
	struct iovec iov = { sector, sizeof(sector) };
	int fd = mkstemp(path);

	TEST_ASSERT(fd >= 0 && secret_new(IMAGE_DEK_LEN, &dek) == 0, "setup");
	memset(dek->data, 0x5a, IMAGE_DEK_LEN);
	TEST_ASSERT(image_new_uuid(uuid) == 0 &&
			    image_create(fd, DISK_SECTORS * 512, uuid, dek, NULL, NULL, 1) == 0,
		    "image_create");
	close(fd);
	TEST_ASSERT(secret_dup(dek, &copy) == 0, "secret_dup");
	TEST_ASSERT(crypt_open_dek(open(path, O_RDWR | O_CLOEXEC), copy, false, NULL, &bd) == 0,
		    "crypt_open_dek");
	h = harness_new(16);
	TEST_ASSERT(virtio_blk_new(&h->vm, h->pci, bd, "tiny-serial", &blk) == 0, "virtio_blk_new");
	harness_start(h, guest_blk_ok);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == DISK_SECTORS, "capacity");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 0, "write status");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC, "GET_ID");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_blk_free(blk); /* closes (and flushes) the backend */
	harness_free(h);
	TEST_ASSERT(!file_has_pattern(path), "the encrypted image holds the guest's plaintext");
	TEST_ASSERT(secret_dup(dek, &copy) == 0, "secret_dup");
	TEST_ASSERT(crypt_open_dek(open(path, O_RDWR | O_CLOEXEC), copy, false, NULL, &bd) == 0,
		    "reopen");
	TEST_ASSERT(blockdev_readv(bd, &iov, 1, 1024) == 0, "read back");
	for (int i = 0; i < 512; i++)
		TEST_ASSERT(sector[i] == (uint8_t)(i * 7 + 3), "decrypted byte %d is 0x%x", i,
			    sector[i]);
	blockdev_close(bd);
	secret_free(dek);
	unlink(path);
	printf("ok: encrypted backend: guest I/O works, no plaintext in the image, data reopens\n");
}

static void test_read_only(const char *disk)
{
	struct virtio_blk *blk;
	struct harness *h = setup(guest_blk_read_only, disk, true, &blk);
	struct ucall uc;

	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 1,
		    "write to a read-only disk: status %lu, expected 1 (IOERR)",
		    (unsigned long)uc.args[1]);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 0, "read failed");
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_blk_free(blk);
	harness_free(h);
	printf("ok: read-only disk refuses writes, serves reads\n");
}

static void test_hostile(const char *disk, int c)
{
	struct virtio_blk *blk;
	struct harness *h;
	struct ucall uc;

	hostile_case = c;
	h = setup(guest_blk_hostile, disk, false, &blk);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 1,
		    "case %d (%s): device did not report NEEDS_RESET", c, hostile_cases[c]);
	TEST_ASSERT(harness_log_contains(h, hostile_cases[c]), "case %d: no log line naming '%s'",
		    c, hostile_cases[c]);
	TEST_ASSERT(harness_log_contains(h, "device needs reset"), "case %d: no reset log", c);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_SYNC && uc.args[1] == 0,
		    "case %d: device did not recover after reset", c);
	TEST_ASSERT(harness_run(h, &uc) == UCALL_DONE, "guest did not finish");
	virtio_blk_free(blk);
	harness_free(h);
	printf("ok: hostile ring refused (%s), device recovered\n", hostile_cases[c]);
}

int main(void)
{
	char disk[] = "/tmp/pocketvm-blk-test.XXXXXX";
	int fd;

	require_kvm();
	fd = mkstemp(disk);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, DISK_SECTORS * 512) == 0, "disk image");
	close(fd);
	test_ok(disk);
	test_read_only(disk);
	test_encrypted();
	for (int c = 0; c < (int)ARRAY_SIZE(hostile_cases); c++)
		test_hostile(disk, c);
	unlink(disk);
	return 0;
}
