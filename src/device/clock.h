/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rollback-resistant clock that decides when a lease has run out.
 *
 * Three sources, none trusted alone:
 *  - the server's signed time (a lease's iat, a check-in's server_time),
 *    accepted only if it does not go back past the high-water mark;
 *  - CLOCK_BOOTTIME, which counts suspend and cannot be set from userspace:
 *    elapsed time since the last anchor, within one boot;
 *  - the persisted high-water mark (MAC'd in the state file), which carries
 *    trusted time across daemon restarts and reboots: after a reboot every
 *    second of the new boot happened after it, so now >= hwm + boottime.
 * The wall clock is only ever used to make time pass *faster* (it can shorten
 * a lease, never lengthen it), so setting it back gains nothing. It never
 * raises the high-water mark, so a wall clock far in the future cannot make
 * genuine server times look stale. See docs/security.md for what remains.
 *
 * All times are seconds since the Unix epoch. The sources are injectable so
 * the logic is tested exhaustively (tests/unit/device/test_clock.c).
 */
#ifndef POCKETVM_DEVICE_CLOCK_H
#define POCKETVM_DEVICE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define TCLOCK_BOOT_ID_LEN 36
/* Server times this far behind the high-water mark are still accepted. */
#define TCLOCK_SKEW 300

struct tclock_source_ops {
	/* CLOCK_BOOTTIME in nanoseconds. */
	int64_t (*boottime_ns)(void *ctx);
	/* The wall clock (CLOCK_REALTIME) in seconds: untrusted. */
	int64_t (*wall)(void *ctx);
	/* This boot's id (/proc/sys/kernel/random/boot_id), 36 chars + NUL. */
	int (*boot_id)(void *ctx, char out[TCLOCK_BOOT_ID_LEN + 1]);
};

/* The system's sources (CLOCK_BOOTTIME, CLOCK_REALTIME, the kernel's boot id). */
extern const struct tclock_source_ops tclock_system_ops;

/* What the state file keeps of the clock. */
struct tclock_saved {
	int64_t hwm;
	char boot_id[TCLOCK_BOOT_ID_LEN + 1];
	int64_t anchor_time;
	int64_t anchor_boot_ns;
};

struct tclock {
	const struct tclock_source_ops *ops;
	void *ctx;
	char boot_id[TCLOCK_BOOT_ID_LEN + 1];
	bool trusted; /* false until a server time or a saved mark is known */
	int64_t anchor_time;
	int64_t anchor_boot_ns;
	int64_t hwm;
};

/*
 * Starts the clock from what the state file saved (NULL: nothing saved, the
 * clock has no trusted time until tclock_accept_server()). Same boot as the
 * save: the saved anchor continues; another boot: anchored at the saved
 * high-water mark with boot time 0. Returns 0 or -errno (no boot id).
 */
int tclock_init(struct tclock *tc, const struct tclock_source_ops *ops, void *ctx,
		const struct tclock_saved *saved);

/* Trusted time (never decreases; 0 when there is none yet). */
int64_t tclock_trusted(struct tclock *tc);

/*
 * The time leases are judged by: trusted time, or the wall clock if that is
 * later. Never earlier than tclock_trusted().
 */
int64_t tclock_now(struct tclock *tc);

/*
 * Feeds a server-signed time. Returns false (and changes nothing) if it lies
 * more than TCLOCK_SKEW before the trusted time: a replayed or forged answer.
 * Otherwise anchors the clock at max(t, trusted) and returns true.
 */
bool tclock_accept_server(struct tclock *tc, int64_t t);

/* Fills *out with what must be persisted; raises the high-water mark to now. */
void tclock_save(struct tclock *tc, struct tclock_saved *out);

#endif
