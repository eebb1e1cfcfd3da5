// SPDX-License-Identifier: Apache-2.0
#include "device/backoff.h"

int64_t sched_jitter(int64_t s, uint32_t rnd)
{
	int64_t span = s / 5;

	s = s - s / 10 + (span > 0 ? (int64_t)(rnd % (uint32_t)(span + 1)) : 0);
	return s < 1 ? 1 : s;
}

int64_t sched_backoff(int64_t prev, int64_t cap)
{
	int64_t next = prev > 0 ? prev * 2 : CHECKIN_MIN_BACKOFF;

	if (cap < 1)
		cap = 1;
	return next > cap ? cap : next;
}
