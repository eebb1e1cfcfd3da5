// SPDX-License-Identifier: Apache-2.0
#include "disk/blockdev.h"

#include <errno.h>
#include <stddef.h>

int blockdev_check_range(const struct blockdev *bd, uint64_t offset, uint64_t len, bool write)
{
	if (write && bd->read_only)
		return -EROFS;
	if (!IS_ALIGNED(offset, (uint64_t)BLOCKDEV_SECTOR_SIZE) ||
	    !IS_ALIGNED(len, (uint64_t)BLOCKDEV_SECTOR_SIZE))
		return -EINVAL;
	if (!range_ok(offset, len, bd->size))
		return -ERANGE;
	return 0;
}

void blockdev_close(struct blockdev *bd)
{
	if (bd)
		bd->ops->close(bd);
}
