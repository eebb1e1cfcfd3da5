// SPDX-License-Identifier: Apache-2.0
#include "server/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RL_SLOTS 4096
#define RL_WAYS 4

struct bucket {
	char addr[64];
	double tokens;
	double stamp;
};

struct ratelimit {
	pthread_mutex_t lock;
	double rate;
	double burst;
	struct bucket slots[RL_SLOTS];
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct ratelimit *ratelimit_new(double rate_per_s, double burst)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate_per_s;
	rl->burst = burst;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* The address's bucket among RL_WAYS slots of its set; evicts the stalest. */
static struct bucket *find(struct ratelimit *rl, const char *addr, double now)
{
	unsigned base = (hash(addr) % (RL_SLOTS / RL_WAYS)) * RL_WAYS;
	struct bucket *old = &rl->slots[base];

	for (int i = 0; i < RL_WAYS; i++) {
		struct bucket *b = &rl->slots[base + i];

		if (strcmp(b->addr, addr) == 0)
			return b;
		if (b->stamp < old->stamp)
			old = b;
	}
	strncpy(old->addr, addr, sizeof(old->addr) - 1);
	old->addr[sizeof(old->addr) - 1] = '\0';
	old->tokens = rl->burst;
	old->stamp = now;
	return old;
}

bool ratelimit_take(struct ratelimit *rl, const char *addr, double cost, int *retry_after)
{
	double now = mono();
	struct bucket *b;
	bool ok;

	pthread_mutex_lock(&rl->lock);
	b = find(rl, addr, now);
	b->tokens = fmin(rl->burst, b->tokens + (now - b->stamp) * rl->rate);
	b->stamp = now;
	ok = b->tokens >= cost;
	if (ok)
		b->tokens -= cost;
	else if (retry_after)
		*retry_after = (int)ceil((cost - b->tokens) / rl->rate);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void ratelimit_charge(struct ratelimit *rl, const char *addr, double cost)
{
	double now = mono();
	struct bucket *b;

	pthread_mutex_lock(&rl->lock);
	b = find(rl, addr, now);
	b->tokens = fmin(rl->burst, b->tokens + (now - b->stamp) * rl->rate);
	b->stamp = now;
	b->tokens = fmax(-rl->burst, b->tokens - cost);
	pthread_mutex_unlock(&rl->lock);
}
