// SPDX-License-Identifier: Apache-2.0
#include "device/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000LL

static int64_t sys_boottime_ns(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static int64_t sys_wall(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static int sys_boot_id(void *ctx, char out[TCLOCK_BOOT_ID_LEN + 1])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, TCLOCK_BOOT_ID_LEN);
	close(fd);
	if (n != TCLOCK_BOOT_ID_LEN)
		return -EIO;
	out[TCLOCK_BOOT_ID_LEN] = '\0';
	return 0;
}

const struct tclock_source_ops tclock_system_ops = {
	.boottime_ns = sys_boottime_ns,
	.wall = sys_wall,
	.boot_id = sys_boot_id,
};

int tclock_init(struct tclock *tc, const struct tclock_source_ops *ops, void *ctx,
		const struct tclock_saved *saved)
{
	int r;

	memset(tc, 0, sizeof(*tc));
	tc->ops = ops;
	tc->ctx = ctx;
	r = ops->boot_id(ctx, tc->boot_id);
	if (r < 0)
		return r;
	if (!saved || saved->hwm <= 0)
		return 0;
	tc->trusted = true;
	tc->hwm = saved->hwm;
	if (strcmp(saved->boot_id, tc->boot_id) == 0 && saved->anchor_boot_ns >= 0) {
		/* A daemon restart within one boot: the anchor still holds. */
		tc->anchor_time = saved->anchor_time;
		tc->anchor_boot_ns = saved->anchor_boot_ns;
	} else {
		/* Everything this boot has counted happened after the saved mark. */
		tc->anchor_time = saved->hwm;
		tc->anchor_boot_ns = 0;
	}
	return 0;
}

int64_t tclock_trusted(struct tclock *tc)
{
	int64_t elapsed, t;

	if (!tc->trusted)
		return 0;
	elapsed = tc->ops->boottime_ns(tc->ctx) - tc->anchor_boot_ns;
	if (elapsed < 0)
		elapsed = 0; /* CLOCK_BOOTTIME never goes back; a broken source must not either */
	t = tc->anchor_time + elapsed / NSEC_PER_SEC;
	if (t < tc->hwm)
		t = tc->hwm;
	tc->hwm = t;
	return t;
}

int64_t tclock_now(struct tclock *tc)
{
	int64_t t = tclock_trusted(tc), wall = tc->ops->wall(tc->ctx);

	return wall > t ? wall : t;
}

bool tclock_accept_server(struct tclock *tc, int64_t t)
{
	int64_t cur = tclock_trusted(tc);

	if (t <= 0)
		return false;
	if (tc->trusted && t < cur - TCLOCK_SKEW)
		return false;
	tc->anchor_time = t > cur ? t : cur;
	tc->anchor_boot_ns = tc->ops->boottime_ns(tc->ctx);
	tc->hwm = tc->anchor_time;
	tc->trusted = true;
	return true;
}

void tclock_save(struct tclock *tc, struct tclock_saved *out)
{
	memset(out, 0, sizeof(*out));
	out->hwm = tclock_trusted(tc);
	memcpy(out->boot_id, tc->boot_id, sizeof(out->boot_id));
	out->anchor_time = tc->anchor_time;
	out->anchor_boot_ns = tc->anchor_boot_ns;
}
