/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lease table (see lease.h): a small array searched
 * linearly. Lease operations are rare (a gateway renews every few
 * seconds per LUN), and a node holds few LUNs.
 */
#include "lease.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LEASES_INITIAL 16

struct lease {
	uint64_t lun; /* LUN id, 0: free slot */
	uint64_t holder; /* 0: nobody holds it */
	uint64_t epoch; /* incremented by every grant */
	uint64_t expires_ms; /* monotonic ms after which it lapses */
};

struct nd_leases {
	struct lease *v;
	size_t n; /* slots in use */
	size_t cap;
};

struct nd_leases *nd_leases_new(void)
{
	return calloc(1, sizeof(struct nd_leases));
}

void nd_leases_free(struct nd_leases *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

static struct lease *find(struct nd_leases *t, uint64_t lun)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].lun == lun)
			return &t->v[i];
	return NULL;
}

static struct lease *find_or_add(struct nd_leases *t, uint64_t lun)
{
	struct lease *l = find(t, lun);

	if (l)
		return l;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : LEASES_INITIAL;
		struct lease *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	l = &t->v[t->n++];
	memset(l, 0, sizeof(*l));
	l->lun = lun;
	return l;
}

int nd_lease_acquire(struct nd_leases *t, uint64_t lun, uint64_t holder,
		     uint32_t duration_ms, uint64_t now_ms, uint64_t *epoch)
{
	struct lease *l;

	*epoch = 0;
	if (!holder || !duration_ms)
		return -EINVAL;
	l = find_or_add(t, lun);
	if (!l)
		return -ENOMEM;
	*epoch = l->epoch;
	if (l->holder && l->holder != holder && now_ms < l->expires_ms)
		return -EBUSY;
	l->holder = holder;
	l->epoch++;
	l->expires_ms = now_ms + duration_ms;
	*epoch = l->epoch;
	return 0;
}

/* The lease of @lun when @holder holds it at @epoch, else NULL. */
static struct lease *held_by(struct nd_leases *t, uint64_t lun, uint64_t holder,
			     uint64_t epoch, uint64_t *cur_epoch)
{
	struct lease *l = find(t, lun);

	*cur_epoch = l ? l->epoch : 0;
	if (!l || !holder || l->holder != holder || l->epoch != epoch)
		return NULL;
	return l;
}

int nd_lease_renew(struct nd_leases *t, uint64_t lun, uint64_t holder,
		   uint64_t epoch, uint32_t duration_ms, uint64_t now_ms,
		   uint64_t *cur_epoch)
{
	struct lease *l = held_by(t, lun, holder, epoch, cur_epoch);

	if (!duration_ms)
		return -EINVAL;
	/*
	 * A lapsed lease that nobody else took is still this holder's: the
	 * epoch proves no one acquired in between.
	 */
	if (!l)
		return -ESTALE;
	l->expires_ms = now_ms + duration_ms;
	return 0;
}

int nd_lease_release(struct nd_leases *t, uint64_t lun, uint64_t holder,
		     uint64_t epoch, uint64_t *cur_epoch)
{
	struct lease *l = held_by(t, lun, holder, epoch, cur_epoch);

	if (!l)
		return -ESTALE;
	l->holder = 0;
	l->expires_ms = 0;
	return 0;
}
