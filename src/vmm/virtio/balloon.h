/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-balloon (virtio 1.x, section 5.5) with memory statistics and free
 * page reporting: pages the guest gives up (inflation) or reports free are
 * returned to the host with MADV_DONTNEED after each guest address is
 * checked against guest RAM, so an idle VM shrinks on the phone.
 *
 * The host steers it through an optional unix control socket, one command
 * per line (docs/vmm-net.md):
 *   "size MIB"  set how much guest RAM the balloon should hold  -> "ok"
 *   "stats"     -> one line of key=value pairs (sizes in KiB), and asks the
 *               guest for fresh statistics
 * Anything else is answered "error: ..." and the line is ignored.
 */
#ifndef POCKETVM_VMM_VIRTIO_BALLOON_H
#define POCKETVM_VMM_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/pci/pci.h"
#include "vmm/vm.h"

struct virtio_balloon;

/* control_path may be NULL (no control socket). */
int virtio_balloon_new(struct vm *vm, struct pci_bus *bus, const char *control_path,
		       struct virtio_balloon **out) __must_check;
void virtio_balloon_free(struct virtio_balloon *b);

/* Guest RAM is mlocked (--sensitive): unlock ranges before discarding them. */
void virtio_balloon_set_locked(struct virtio_balloon *b, bool locked);

/* Sets the balloon's target size in pages of 4 KiB (clamped to guest RAM). */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);

/* Writes the statistics line the control socket sends ("actual_kib=... "). */
void virtio_balloon_format_stats(struct virtio_balloon *b, char *buf, size_t len);

struct balloon_cmd {
	enum { BALLOON_CMD_STATS, BALLOON_CMD_SIZE } kind;
	uint32_t pages; /* SIZE: target in 4 KiB pages */
};

/* Parses one control line (no newline) for a guest of max_pages; false with *err. */
bool balloon_parse_command(const char *line, uint32_t max_pages, struct balloon_cmd *cmd,
			   const char **err);

/*
 * Handles one control command line (without the newline); writes the answer
 * line (with newline) into reply. Exposed for the fuzz harness and tests.
 */
void virtio_balloon_command(struct virtio_balloon *b, const char *line, char *reply, size_t len);

#endif
