/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte-range locks (see rlock.h). Lists are short (bounded by the
 * requests in flight on one LUN), so plain linked lists and linear scans
 * are the right tool.
 */
#include "rlock.h"

#include <stddef.h>

void nd_rlock_init(struct nd_rlock *l)
{
	l->held = NULL;
	l->wait_head = NULL;
	l->wait_tail = NULL;
}

bool nd_rlock_idle(const struct nd_rlock *l)
{
	return !l->held && !l->wait_head;
}

static bool overlaps(const struct nd_rlock_req *a, const struct nd_rlock_req *b)
{
	return a->start < b->end && b->start < a->end;
}

static bool conflicts_held(const struct nd_rlock *l,
			   const struct nd_rlock_req *r)
{
	const struct nd_rlock_req *h;

	for (h = l->held; h; h = h->next)
		if (overlaps(h, r))
			return true;
	return false;
}

static void held_push(struct nd_rlock *l, struct nd_rlock_req *r)
{
	r->prev = NULL;
	r->next = l->held;
	if (l->held)
		l->held->prev = r;
	l->held = r;
	r->held = true;
}

static void held_unlink(struct nd_rlock *l, struct nd_rlock_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->held = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->held = false;
}

static void wait_unlink(struct nd_rlock *l, struct nd_rlock_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->wait_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->wait_tail = r->prev;
	r->prev = r->next = NULL;
}

bool nd_rlock_acquire(struct nd_rlock *l, struct nd_rlock_req *r,
		      uint64_t start, uint64_t len, nd_rlock_cb cb)
{
	const struct nd_rlock_req *w;
	bool blocked;

	r->start = start;
	if (len == 0 || start + len < start)
		r->end = UINT64_MAX;
	else
		r->end = start + len;
	r->granted = cb;
	r->grant_next = NULL;

	blocked = conflicts_held(l, r);
	for (w = l->wait_head; w && !blocked; w = w->next)
		blocked = overlaps(w, r);
	if (!blocked) {
		held_push(l, r);
		return true;
	}
	r->held = false;
	r->next = NULL;
	r->prev = l->wait_tail;
	if (l->wait_tail)
		l->wait_tail->next = r;
	else
		l->wait_head = r;
	l->wait_tail = r;
	return false;
}

void nd_rlock_release(struct nd_rlock *l, struct nd_rlock_req *r)
{
	struct nd_rlock_req *w, *next, *earlier;
	struct nd_rlock_req *grant = NULL, **tail = &grant;

	held_unlink(l, r);
	for (w = l->wait_head; w; w = next) {
		bool blocked = conflicts_held(l, w);

		next = w->next;
		/* An earlier waiter that stays queued keeps its turn. */
		for (earlier = l->wait_head; earlier != w && !blocked;
		     earlier = earlier->next)
			blocked = overlaps(earlier, w);
		if (blocked)
			continue;
		wait_unlink(l, w);
		held_push(l, w);
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
