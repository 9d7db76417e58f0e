/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte-range locks (see rlock.h). Lists are short (bounded by the
 * requests in flight on one LUN), so linked lists (sb_list) and linear
 * scans are the right tool.
 */
#include "rlock.h"

#include <stddef.h>

void nd_rlock_init(struct nd_rlock *l)
{
	sb_list_init(&l->held);
	sb_list_init(&l->wait);
}

bool nd_rlock_idle(const struct nd_rlock *l)
{
	return sb_list_empty(&l->held) && sb_list_empty(&l->wait);
}

static struct nd_rlock_req *req_of(struct sb_list *pos)
{
	return container_of(pos, struct nd_rlock_req, link);
}

static bool conflicts(const struct nd_rlock_req *a,
		      const struct nd_rlock_req *b)
{
	return a->start < b->end && b->start < a->end &&
	       !(a->shared && b->shared);
}

/* @r conflicts with a held request, or a waiting one before @upto. */
static bool blocked(struct nd_rlock *l, const struct nd_rlock_req *r,
		    struct sb_list *upto)
{
	struct sb_list *pos;

	sb_list_for_each(pos, &l->held)
		if (conflicts(req_of(pos), r))
			return true;
	for (pos = l->wait.next; pos != upto; pos = pos->next)
		if (conflicts(req_of(pos), r))
			return true;
	return false;
}

static bool acquire(struct nd_rlock *l, struct nd_rlock_req *r, uint64_t start,
		    uint64_t len, bool shared, nd_rlock_cb cb)
{
	r->shared = shared;
	r->start = start;
	if (len == 0 || start + len < start)
		r->end = UINT64_MAX;
	else
		r->end = start + len;
	r->granted = cb;
	r->grant_next = NULL;
	r->held = !blocked(l, r, &l->wait);
	if (r->held)
		sb_list_add_head(&l->held, &r->link);
	else
		sb_list_add_tail(&l->wait, &r->link);
	return r->held;
}

bool nd_rlock_acquire(struct nd_rlock *l, struct nd_rlock_req *r,
		      uint64_t start, uint64_t len, nd_rlock_cb cb)
{
	return acquire(l, r, start, len, false, cb);
}

bool nd_rlock_acquire_shared(struct nd_rlock *l, struct nd_rlock_req *r,
			     uint64_t start, uint64_t len, nd_rlock_cb cb)
{
	return acquire(l, r, start, len, true, cb);
}

void nd_rlock_release(struct nd_rlock *l, struct nd_rlock_req *r)
{
	struct nd_rlock_req *w, *grant = NULL, **tail = &grant;
	struct sb_list *pos, *next;

	sb_list_del(&r->link);
	r->held = false;
	sb_list_for_each_safe(pos, next, &l->wait) {
		w = req_of(pos);
		/* An earlier waiter that stays queued keeps its turn. */
		if (blocked(l, w, pos))
			continue;
		sb_list_del(&w->link);
		sb_list_add_head(&l->held, &w->link);
		w->held = true;
		*tail = w;
		tail = &w->grant_next;
	}
	/* Callbacks last: they may release (and so re-enter) at will. */
	while (grant) {
		w = grant;
		grant = w->grant_next;
		w->grant_next = NULL;
		w->granted(w);
	}
}
