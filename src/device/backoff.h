/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to check in next: the server's interval with +-10 % jitter, and after
 * failures an exponential backoff from CHECKIN_MIN_BACKOFF up to the
 * interval, so a fleet that lost its server does not return in lockstep.
 */
#ifndef POCKETVM_DEVICE_BACKOFF_H
#define POCKETVM_DEVICE_BACKOFF_H

#include <stdint.h>

#define CHECKIN_MIN_BACKOFF 2

/* Uniform in [s - s/10, s - s/10 + s/5], at least 1; rnd is a random word. */
int64_t sched_jitter(int64_t s, uint32_t rnd);

/* The backoff after one more failure: 2, 4, 8 ... capped at cap (>= 1). */
int64_t sched_backoff(int64_t prev, int64_t cap);

#endif
