// SPDX-License-Identifier: Apache-2.0
#include "vmm/virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unixsock.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_REPORTING 5

#define BALLOON_PAGE 4096u
#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
/* Queue 2 is the stats queue, 3 the reporting queue; without STATS_VQ, 2 reports. */
#define BALLOON_QUEUES 4
#define BALLOON_QUEUE_SIZE 128
#define BALLOON_CONFIG_SIZE 8
#define BALLOON_NR_STATS 10
#define CTRL_LINE_MAX 64

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static const char *const stat_names[BALLOON_NR_STATS] = {
	"swap_in",   "swap_out",      "major_faults", "minor_faults",	"free_kib",
	"total_kib", "available_kib", "caches_kib",   "hugetlb_allocs", "hugetlb_failures",
};

struct virtio_balloon {
	struct virtio_dev vdev;
	uint32_t num_pages; /* target, as the driver reads it */
	uint32_t actual; /* as the driver reports it */
	uint32_t max_pages;
	bool locked;
	uint64_t stats[BALLOON_NR_STATS];
	bool stats_valid;
	bool stats_held; /* the driver's stats buffer is ours to return */
	uint16_t stats_head;
	struct timespec stats_time;
	uint64_t reported_pages, inflated_pages, bad_pfns;
	char *control_path;
	int listen_fd, client_fd;
	struct event *listen_ev, *client_ev;
	char line[CTRL_LINE_MAX];
	size_t line_len;
};

/* Gives guest-physical [gpa, gpa + len) back to the host; false if it is not all RAM. */
static bool discard(struct virtio_balloon *b, uint64_t gpa, uint64_t len)
{
	uint8_t *hva = gpa_to_hva(&b->vdev.vm->mem, gpa, len);

	if (!hva || !IS_ALIGNED(gpa, BALLOON_PAGE) || !IS_ALIGNED(len, BALLOON_PAGE))
		return false;
	/* Locked pages cannot be discarded; they are locked again as the guest touches them. */
	if (b->locked)
		munlock(hva, len);
	if (madvise(hva, len, MADV_DONTNEED) < 0)
		log_warn("%s: madvise: %s", b->vdev.name, strerror(errno));
	if (b->locked)
		mlock2(hva, len, MLOCK_ONFAULT);
	return true;
}

/* Inflate: the chain is an array of 32-bit page frame numbers. Runs of them are merged. */
static void inflate(struct virtio_balloon *b, const struct virtq_chain *c)
{
	uint64_t run_start = 0, run_len = 0;
	uint32_t pfn;

	for (uint64_t off = 0; off + 4 <= c->out_len; off += 4) {
		iov_to_buf(c->iov, c->nr_out, off, &pfn, 4);
		pfn = le32toh(pfn);
		if (run_len && (uint64_t)pfn * BALLOON_PAGE == run_start + run_len) {
			run_len += BALLOON_PAGE;
			continue;
		}
		if (run_len && !discard(b, run_start, run_len))
			b->bad_pfns++;
		run_start = (uint64_t)pfn * BALLOON_PAGE;
		run_len = BALLOON_PAGE;
	}
	if (run_len && !discard(b, run_start, run_len))
		b->bad_pfns++;
	b->inflated_pages += c->out_len / 4;
}

/* Free page reporting: each buffer is a free (and page-aligned) range of guest RAM. */
static void report(struct virtio_balloon *b, const struct virtq_chain *c, const char **bad)
{
	const struct guest_mem *m = &b->vdev.vm->mem;

	for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++) {
		uint8_t *hva = c->iov[i].iov_base;
		uint64_t len = c->iov[i].iov_len;

		/* The queue already checked the range is guest RAM; check the alignment too. */
		if (!IS_ALIGNED((uintptr_t)hva, BALLOON_PAGE) || !IS_ALIGNED(len, BALLOON_PAGE)) {
			*bad = "reported range not page aligned";
			return;
		}
		(void)m;
		if (b->locked)
			munlock(hva, len);
		madvise(hva, len, MADV_DONTNEED);
		if (b->locked)
			mlock2(hva, len, MLOCK_ONFAULT);
		b->reported_pages += len / BALLOON_PAGE;
	}
}

static void stats_update(struct virtio_balloon *b, const struct virtq_chain *c)
{
	uint8_t rec[10];

	for (uint64_t off = 0; off + sizeof(rec) <= c->out_len; off += sizeof(rec)) {
		uint16_t tag;
		uint64_t val;

		iov_to_buf(c->iov, c->nr_out, off, rec, sizeof(rec));
		memcpy(&tag, rec, 2);
		memcpy(&val, rec + 2, 8);
		tag = le16toh(tag);
		/* Unknown tags are newer than us: skipped, as the spec asks. */
		if (tag < BALLOON_NR_STATS)
			b->stats[tag] = le64toh(val);
	}
	b->stats_valid = true;
	clock_gettime(CLOCK_MONOTONIC, &b->stats_time);
}

static unsigned int queue_role(struct virtio_balloon *b, unsigned int q)
{
	if (q == 2 && !virtio_has(&b->vdev, VIRTIO_BALLOON_F_STATS_VQ))
		return 3;
	return q;
}

static void balloon_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_balloon *b = v->priv;
	struct virtq *vq = &v->vqs[q];
	struct virtq_chain *c = v->chain;
	unsigned int role = queue_role(b, q);
	const char *err = NULL;
	int ret;

	do {
		while ((ret = virtq_pop(vq, c, &err)) == 1) {
			if (role == 2) {
				if (b->stats_held) {
					err = "second statistics buffer while one is held";
					break;
				}
				stats_update(b, c);
				/* Kept until the host wants fresher numbers. */
				b->stats_held = true;
				b->stats_head = c->head;
				continue;
			}
			if (role == BALLOON_INFLATEQ)
				inflate(b, c);
			else if (role == 3)
				report(b, c, &err);
			if (err)
				break;
			virtq_push(vq, c->head, 0);
		}
		if (ret < 0 || err) {
			virtio_needs_reset(v, "queue %u: %s", q, err);
			return;
		}
		virtio_queue_signal(v, q);
	} while (virtq_enable_notify(vq));
}

/* Returns the held statistics buffer: the driver refills it and queues it again. */
static void stats_request(struct virtio_balloon *b)
{
	struct virtio_dev *v = &b->vdev;

	if (!b->stats_held || !virtio_live(v))
		return;
	b->stats_held = false;
	virtq_push(&v->vqs[2], b->stats_head, 0);
	virtio_queue_signal(v, 2);
}

static void balloon_config_read(struct virtio_dev *v, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = v->priv;
	uint32_t cfg[2] = { htole32(b->num_pages), htole32(b->actual) };

	memcpy(data, (uint8_t *)cfg + off, len);
}

static void balloon_config_write(struct virtio_dev *v, uint32_t off, const uint8_t *data,
				 uint32_t len)
{
	struct virtio_balloon *b = v->priv;
	uint32_t actual;

	if (off == 4 && len == 4) {
		memcpy(&actual, data, 4);
		b->actual = MIN(le32toh(actual), b->max_pages);
	}
}

static void balloon_reset(struct virtio_dev *v)
{
	struct virtio_balloon *b = v->priv;

	/* The guest lost its balloon: every page is the guest's again. */
	b->actual = 0;
	b->stats_held = false;
}

static const struct virtio_dev_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_type = 5,
	.pci_class = 0x050000, /* memory controller */
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
};

void virtio_balloon_set_locked(struct virtio_balloon *b, bool locked)
{
	b->locked = locked;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
	pthread_mutex_lock(&b->vdev.lock);
	b->num_pages = MIN(pages, b->max_pages);
	virtio_config_changed(&b->vdev);
	pthread_mutex_unlock(&b->vdev.lock);
}

void virtio_balloon_format_stats(struct virtio_balloon *b, char *buf, size_t len)
{
	struct timespec now;
	size_t off;
	int n;

	pthread_mutex_lock(&b->vdev.lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	n = snprintf(buf, len,
		     "target_kib=%llu actual_kib=%llu reported_kib=%llu "
		     "inflated_kib=%llu bad_pfns=%llu",
		     (unsigned long long)b->num_pages * 4, (unsigned long long)b->actual * 4,
		     (unsigned long long)b->reported_pages * 4,
		     (unsigned long long)b->inflated_pages * 4, (unsigned long long)b->bad_pfns);
	off = n < 0 ? 0 : MIN((size_t)n, len - 1);
	for (int i = 0; i < BALLOON_NR_STATS && b->stats_valid && off < len; i++) {
		/* Memory sizes arrive in bytes; shown in KiB like the rest. */
		uint64_t v = (i >= 4 && i <= 7) ? b->stats[i] / 1024 : b->stats[i];

		n = snprintf(buf + off, len - off, " %s=%llu", stat_names[i],
			     (unsigned long long)v);
		off = n < 0 ? off : MIN(off + (size_t)n, len - 1);
	}
	if (b->stats_valid && off < len)
		snprintf(buf + off, len - off, " stats_age_ms=%lld",
			 (long long)(now.tv_sec - b->stats_time.tv_sec) * 1000 +
				 (now.tv_nsec - b->stats_time.tv_nsec) / 1000000);
	stats_request(b);
	pthread_mutex_unlock(&b->vdev.lock);
}

bool balloon_parse_command(const char *line, uint32_t max_pages, struct balloon_cmd *cmd,
			   const char **err)
{
	unsigned long long mib;
	char *end;

	if (strcmp(line, "stats") == 0) {
		cmd->kind = BALLOON_CMD_STATS;
		return true;
	}
	if (strncmp(line, "size ", 5) == 0) {
		errno = 0;
		mib = strtoull(line + 5, &end, 10);
		if (line[5] < '0' || line[5] > '9' || *end || errno || mib > max_pages / 256) {
			*err = "size must be a number of MiB within guest RAM";
			return false;
		}
		cmd->kind = BALLOON_CMD_SIZE;
		cmd->pages = (uint32_t)(mib * 256);
		return true;
	}
	*err = "unknown command (size MIB, stats)";
	return false;
}

void virtio_balloon_command(struct virtio_balloon *b, const char *line, char *reply, size_t len)
{
	struct balloon_cmd cmd;
	const char *err;

	if (!balloon_parse_command(line, b->max_pages, &cmd, &err)) {
		snprintf(reply, len, "error: %s (at most %u MiB)\n", err, b->max_pages / 256);
		return;
	}
	if (cmd.kind == BALLOON_CMD_STATS) {
		virtio_balloon_format_stats(b, reply, len - 1);
		strcat(reply, "\n");
		return;
	}
	virtio_balloon_set_target(b, cmd.pages);
	snprintf(reply, len, "ok\n");
}

/* ---- control socket ---- */

static void client_close(struct virtio_balloon *b)
{
	event_free(b->client_ev);
	b->client_ev = NULL;
	close(b->client_fd);
	b->client_fd = -1;
	b->line_len = 0;
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_balloon *b = arg;
	char reply[512], *nl;
	ssize_t n =
		recv(fd, b->line + b->line_len, sizeof(b->line) - 1 - b->line_len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(b);
		return;
	}
	b->line_len += (size_t)n;
	b->line[b->line_len] = '\0';
	while ((nl = strchr(b->line, '\n'))) {
		*nl = '\0';
		virtio_balloon_command(b, b->line, reply, sizeof(reply));
		if (send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			client_close(b);
			return;
		}
		b->line_len -= (size_t)(nl + 1 - b->line);
		memmove(b->line, nl + 1, b->line_len + 1);
	}
	if (b->line_len == sizeof(b->line) - 1) {
		send(fd, "error: line too long\n", 21, MSG_NOSIGNAL | MSG_DONTWAIT);
		client_close(b);
	}
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct virtio_balloon *b = arg;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (b->client_fd >= 0) {
		close(c); /* one controller at a time */
		return;
	}
	b->client_ev = event_new(b->vdev.vm->evb, c, EV_READ | EV_PERSIST, on_client, b);
	if (!b->client_ev || event_add(b->client_ev, NULL)) {
		if (b->client_ev)
			event_free(b->client_ev);
		b->client_ev = NULL;
		close(c);
		return;
	}
	b->client_fd = c;
}

static int control_open(struct virtio_balloon *b, const char *path)
{
	b->control_path = strdup(path);
	if (!b->control_path)
		return -ENOMEM;
	b->listen_fd = unix_listen(path, 2, SOCK_NONBLOCK);
	if (b->listen_fd < 0)
		return b->listen_fd;
	b->listen_ev = event_new(b->vdev.vm->evb, b->listen_fd, EV_READ | EV_PERSIST, on_accept, b);
	if (!b->listen_ev || event_add(b->listen_ev, NULL))
		return -ENOMEM;
	return 0;
}

int virtio_balloon_new(struct vm *vm, struct pci_bus *bus, const char *control_path,
		       struct virtio_balloon **out)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->listen_fd = b->client_fd = -1;
	b->max_pages =
		(uint32_t)MIN(guest_mem_ram_size(&vm->mem) / BALLOON_PAGE, (uint64_t)UINT32_MAX);
	ret = virtio_dev_init(&b->vdev, vm, bus, &balloon_ops, BALLOON_QUEUES, BALLOON_QUEUE_SIZE,
			      (1ull << VIRTIO_BALLOON_F_STATS_VQ) |
				      (1ull << VIRTIO_BALLOON_F_REPORTING),
			      BALLOON_CONFIG_SIZE, b);
	if (!ret && control_path) {
		ret = control_open(b, control_path);
		if (ret)
			log_error("virtio-balloon: control socket %s: %s", control_path,
				  strerror(-ret));
	}
	if (ret) {
		virtio_balloon_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

void virtio_balloon_free(struct virtio_balloon *b)
{
	if (!b)
		return;
	if (b->client_ev)
		client_close(b);
	if (b->listen_ev)
		event_free(b->listen_ev);
	if (b->listen_fd >= 0) {
		close(b->listen_fd);
		unlink(b->control_path);
	}
	virtio_dev_cleanup(&b->vdev);
	free(b->control_path);
	free(b);
}
