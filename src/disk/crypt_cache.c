// SPDX-License-Identifier: Apache-2.0
/*
 * The crypt backend's write-back cache: sealed blocks waiting, per block,
 * for the checkpoint (crypt_ckpt.c) that writes them to the image.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

#define MAP_BUCKETS 1024u

int crypt_map_init(struct crypt_map *m)
{
	m->buckets = calloc(MAP_BUCKETS, sizeof(*m->buckets));
	if (!m->buckets)
		return -ENOMEM;
	m->nbuckets = MAP_BUCKETS;
	m->count = 0;
	return 0;
}

struct crypt_entry *crypt_entry_new(struct crypt *c, bool data)
{
	struct crypt_entry *e = NULL;

	if (data) {
		pthread_mutex_lock(&c->free_lock);
		e = c->free_entries;
		if (e) {
			c->free_entries = e->next;
			c->nfree--;
		}
		pthread_mutex_unlock(&c->free_lock);
	}
	if (!e)
		e = malloc(sizeof(*e) + (data ? IMAGE_BLOCK_SIZE : 0));
	if (e)
		*e = (struct crypt_entry){ .data = data };
	return e;
}

void crypt_entry_free(struct crypt *c, struct crypt_entry *e)
{
	if (e && e->data) {
		pthread_mutex_lock(&c->free_lock);
		if (c->nfree < c->cache_blocks / 2) {
			e->next = c->free_entries;
			c->free_entries = e;
			c->nfree++;
			e = NULL;
		}
		pthread_mutex_unlock(&c->free_lock);
	}
	free(e);
}

void crypt_entries_release(struct crypt *c)
{
	while (c->free_entries) {
		struct crypt_entry *e = c->free_entries;

		c->free_entries = e->next;
		free(e);
	}
	c->nfree = 0;
}

void crypt_map_clear(struct crypt *c, struct crypt_map *m)
{
	for (size_t i = 0; m->buckets && i < m->nbuckets; i++) {
		struct crypt_entry *e = m->buckets[i];

		while (e) {
			struct crypt_entry *next = e->next;

			crypt_entry_free(c, e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

static struct crypt_entry **map_find(struct crypt_map *m, uint64_t b)
{
	struct crypt_entry **pp = &m->buckets[b % m->nbuckets];

	while (*pp && (*pp)->block != b)
		pp = &(*pp)->next;
	return pp;
}

bool crypt_cache_lookup(struct crypt *c, uint64_t b, uint8_t *ct, struct crypt_slot *slot)
{
	struct crypt_entry *e;
	bool found = false;

	if (atomic_load(&c->cached) == 0)
		return false;
	pthread_mutex_lock(&c->map_lock);
	/* The active map holds the newer copy when a block is in both. */
	e = *map_find(&c->active, b);
	if (!e && c->flushing.count)
		e = *map_find(&c->flushing, b);
	if (e) {
		if (!(e->slot.stamp & STAMP_ZERO))
			memcpy(ct, e->ct, IMAGE_BLOCK_SIZE);
		*slot = e->slot;
		found = true;
	}
	pthread_mutex_unlock(&c->map_lock);
	return found;
}

int crypt_cache_next_gen(struct crypt *c, uint64_t b, uint8_t *gen, uint64_t *swaps)
{
	uint8_t rec[IMAGE_RECORD_SIZE];
	struct crypt_entry *e;
	struct crypt_slot cur;
	uint16_t st;
	int ci, ret;

	pthread_mutex_lock(&c->map_lock);
	*swaps = c->swaps;
	e = *map_find(&c->active, b);
	if (e) {
		/* Replacing an entry that has not reached the disk: same slot, same gen. */
		*gen = (uint8_t)e->slot.stamp;
	} else {
		e = *map_find(&c->flushing, b);
		/* Being checkpointed: once done, that entry's slot is current. */
		if (e)
			*gen = (uint8_t)(e->slot.stamp + 1);
	}
	st = c->slot_state[b];
	pthread_mutex_unlock(&c->map_lock);
	if (e)
		return 0;
	if (st & SLOT_KNOWN) {
		*gen = (uint8_t)(st + 1);
		return 0;
	}
	/* In no map: nothing rewrites this record until our entry is inserted. */
	ret = c->io.pread(c->io.ctx, rec, sizeof(rec), c->hdr.meta_offset + b * IMAGE_RECORD_SIZE);
	if (ret)
		return ret;
	ci = crypt_record_current(rec);
	crypt_slot_get(rec, ci, &cur);
	pthread_mutex_lock(&c->map_lock);
	if (c->swaps == *swaps)
		c->slot_state[b] =
			(uint16_t)(SLOT_KNOWN | (unsigned int)ci << 8 | (cur.stamp & 0xff));
	pthread_mutex_unlock(&c->map_lock);
	*gen = (uint8_t)(cur.stamp + 1);
	return 0;
}

bool crypt_cache_insert(struct crypt *c, struct crypt_entry *e, uint64_t swaps)
{
	struct crypt_entry **pp, *old;

	pthread_mutex_lock(&c->map_lock);
	if (c->swaps != swaps) {
		pthread_mutex_unlock(&c->map_lock);
		return false;
	}
	pp = map_find(&c->active, e->block);
	old = *pp;
	if (old) {
		e->next = old->next;
		*pp = e;
		crypt_entry_free(c, old);
	} else {
		e->next = c->active.buckets[e->block % c->active.nbuckets];
		c->active.buckets[e->block % c->active.nbuckets] = e;
		c->active.count++;
		atomic_fetch_add(&c->cached, 1);
	}
	pthread_mutex_unlock(&c->map_lock);
	return true;
}
