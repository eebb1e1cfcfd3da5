/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token buckets per client address for unauthenticated requests. A fixed
 * table (no allocation per client): an attacker cycling addresses evicts
 * old entries, it cannot grow memory.
 */
#ifndef POCKETVM_SERVER_RATELIMIT_H
#define POCKETVM_SERVER_RATELIMIT_H

#include <stdbool.h>

struct ratelimit;

struct ratelimit *ratelimit_new(double rate_per_s, double burst);
void ratelimit_free(struct ratelimit *rl);
/*
 * Takes cost tokens from addr's bucket. Returns true if allowed; else false
 * and *retry_after the seconds until it would be.
 */
bool ratelimit_take(struct ratelimit *rl, const char *addr, double cost, int *retry_after);

/* Charges cost tokens unconditionally (the balance may go down to -burst). */
void ratelimit_charge(struct ratelimit *rl, const char *addr, double cost);

#endif
