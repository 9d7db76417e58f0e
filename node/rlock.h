/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_rlock: byte-range locks of one LUN, granted in arrival order. Every
 * mutating operation on a LUN holds its range exclusively while its disk
 * I/O runs, so nothing can slip between a COMPARE_AND_WRITE's read and
 * its write, and a resize (which takes the whole range) waits for the
 * writes before it. CHUNK_CSUM and CHUNK_PUSH hold theirs shared: they
 * see one snapshot of the range, and run alongside each other.
 *
 * Two requests conflict when their ranges overlap and at least one is
 * exclusive. A request that conflicts with a held one, or with an earlier
 * waiting one, waits: no starvation, and conflicting requests run in
 * arrival order.
 * Not thread-safe: the node's event-loop thread owns every lock.
 */
#ifndef SPANBLK_NODE_RLOCK_H
#define SPANBLK_NODE_RLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "../lib/util/list.h"

struct nd_rlock_req;

/* Runs when a waiting request is granted; it may release locks itself. */
typedef void (*nd_rlock_cb)(struct nd_rlock_req *r);

/* One request; embedded in the caller's operation. */
struct nd_rlock_req {
	uint64_t start; /* first byte */
	uint64_t end; /* one past the last byte (saturates at UINT64_MAX) */
	bool held; /* granted and not yet released */
	bool shared; /* compatible with other shared requests */
	nd_rlock_cb granted; /* for a request that had to wait */
	struct sb_list link; /* in the held or the wait list */
	struct nd_rlock_req *grant_next; /* private to nd_rlock_release */
};

struct nd_rlock {
	struct sb_list held; /* granted requests, any order */
	struct sb_list wait; /* waiting requests, arrival order */
};

void nd_rlock_init(struct nd_rlock *l);

/*
 * Ask for [@start, @start + @len) exclusively (@len 0 means to the end of
 * the 64-bit space). Returns true when granted at once (@cb will not
 * run), false when queued: @cb then runs exactly once, from a later
 * nd_rlock_release().
 */
bool nd_rlock_acquire(struct nd_rlock *l, struct nd_rlock_req *r,
		      uint64_t start, uint64_t len, nd_rlock_cb cb);

/* nd_rlock_acquire, shared with other shared requests. */
bool nd_rlock_acquire_shared(struct nd_rlock *l, struct nd_rlock_req *r,
			     uint64_t start, uint64_t len, nd_rlock_cb cb);

/*
 * Release held request @r, or withdraw it while it still waits (its
 * callback then never runs), and grant every waiter that no longer
 * conflicts, calling their callbacks after the lists are consistent.
 */
void nd_rlock_release(struct nd_rlock *l, struct nd_rlock_req *r);

/* True when no request is held or waiting. */
bool nd_rlock_idle(const struct nd_rlock *l);

#endif
