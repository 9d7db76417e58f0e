// SPDX-License-Identifier: Apache-2.0
/*
 * Resync (docs/recovery.md, "Resync, backfill and moves"): every chunk
 * whose stale record names a node that is up again is copied to it from a
 * valid replica, node to node, then the node leaves the record.
 *
 *   pick    an entry of the dirty list whose stale node is up and
 *           connected, with a valid connected source and a known LUN size
 *   hold    new writes to the chunk park; wait for the writes in flight
 *   push    CHUNK_PUSH to the source (the source writes the chunk to the
 *           target over its own session and flushes it there)
 *   clear   a job removes the target from the record in etcd
 *   release the parked writes go on, now to the target too
 * A failure anywhere releases the hold and retries the entry later; the
 * record is unchanged until the clear commits, so a crash of the gateway,
 * the source or the target loses nothing (the copy is simply done again).
 *
 * At most resync_depth chunks are held at once, and with resync_rate a
 * chunk is held only when the rate allows its copy: holds are spaced by
 * chunk size / rate, so over any stretch the copies stay under the rate
 * (one chunk of burst). Loop thread only.
 */

#include "store_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../util/clock.h"
#include "../util/log.h"

#define ENG_RESYNC_EVERY_MS 100 /* how often the dirty list is looked at */
#define ENG_RESYNC_SCAN 256 /* entries looked at per pass */
#define ENG_RESYNC_RETRY_MS 1000 /* after a failed copy */

/*
 * The node index of a stale, usable replica of @st, or -1. Only a node of
 * the chunk's present replica set: a bit for another node is one that
 * spanblkctl recorded before that node enters the set (node out or in);
 * a copy made now would miss the writes that come before it does.
 */
static bool target_ok(struct sb_engine *e, const struct eng_stale *st,
		      unsigned int idx)
{
	return (st->mask & (1ull << idx)) && eng_node_usable(e, idx) &&
	       eng_backfill_ready(e, st->lun, idx);
}

static int pick_target(struct sb_engine *e, const struct eng_stale *st)
{
	unsigned int rep[SB_MAX_NODES], n, i;

	n = sb_place(&e->cl, st->lun, st->chunk, rep, e->cl.replicas);
	for (i = 0; i < n; i++)
		if (target_ok(e, st, rep[i]))
			return (int)rep[i];
	return -1;
}

/* Node @idx can be the source of @st's copy: valid, usable, and known
 * to hold the LUN in its current session (backfill.c). */
static bool source_ok(struct sb_engine *e, const struct eng_stale *st,
		      unsigned int idx)
{
	return eng_store_valid(e, idx, st) && eng_node_usable(e, idx) &&
	       eng_backfill_source_ok(e, st->lun, idx);
}

/* A source for @st's copy, or -1. */
static int pick_source(struct sb_engine *e, const struct eng_stale *st)
{
	unsigned int rep[SB_MAX_NODES], n, i;

	n = sb_place(&e->cl, st->lun, st->chunk, rep, e->cl.replicas);
	for (i = 0; i < n; i++)
		if (source_ok(e, st, rep[i]))
			return (int)rep[i];
	return -1;
}

/* Release @st's hold: its parked writes go on. @retry: wait before the
 * next copy of this chunk. */
static void release(struct sb_engine *e, struct eng_stale *st, bool retry)
{
	struct eng_store *s = e->store;

	st->held = false;
	st->copying = false;
	st->pushed = false;
	s->copies--;
	s->resync_at = 0; /* a slot is free: the next pass at once */
	if (retry)
		st->retry_at = sb_now_ms() + ENG_RESYNC_RETRY_MS;
	eng_stale_wake(e, st);
	eng_stale_put(e, st);
}

/* Ask the job thread to take @st->cp_dst out of the record. */
static void clear(struct sb_engine *e, struct eng_stale *st)
{
	struct eng_sjob *j = calloc(1, sizeof(*j));

	if (!j) {
		release(e, st, true);
		return;
	}
	j->kind = SJ_CLEAR;
	j->lun = st->lun;
	j->chunk = st->chunk;
	j->mask = 1ull << st->cp_dst;
	j->expect = st->mask;
	j->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	st->job = true;
	eng_store_submit(e->store, j);
}

void eng_resync_cleared(struct sb_engine *e, struct eng_stale *st,
			const struct eng_sjob *j)
{
	if (j->err) {
		sb_err_rl("resync: chunk %" PRIu64 " of LUN %016" PRIx64
			  ": clearing the record: %s",
			  st->chunk, st->lun, strerror(-j->err));
		st->merged = 0;
		release(e, st, true);
		return;
	}
	eng_stale_set_mask(e->store, st, eng_stale_after(st, j, true));
	e->store->copied++;
	sb_dbg("resync: chunk %" PRIu64 " of LUN %016" PRIx64 " copied to node "
	       "%u",
	       st->chunk, st->lun, e->cl.nodes[st->cp_dst].id);
	release(e, st, false);
}

/* The CHUNK_PUSH of @op is back. */
static void pushed(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	struct eng_stale *st = op->ctl_arg;
	int err = eng_push_end(op, st->cp_src);

	if (err == -ESTALE) {
		/* the target registered after our push epoch base: again at
		 * once, with a new one */
		release(e, st, false);
		return;
	}
	if (err) {
		sb_err_rl("resync: chunk %" PRIu64 " of LUN %016" PRIx64
			  ": CHUNK_PUSH from node %u to node %u: %s",
			  st->chunk, st->lun, e->cl.nodes[st->cp_src].id,
			  e->cl.nodes[st->cp_dst].id, strerror(-err));
		release(e, st, true);
		return;
	}
	clear(e, st);
}

/* The node bits of the nodes out of placement for good (not joining). */
static uint64_t out_mask(const struct sb_engine *e)
{
	uint64_t m = 0;
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++)
		if (e->store->out_rev[i])
			m |= 1ull << i;
	return m;
}

/*
 * @st names nodes that are out of placement: they hold no replica of the
 * chunk any more, so a job takes the first of them out of the record (no
 * copy), compared with the out state it was seen in.
 */
static void drop_out(struct sb_engine *e, struct eng_stale *st, uint64_t out)
{
	struct eng_sjob *j = calloc(1, sizeof(*j));
	unsigned int idx = (unsigned int)__builtin_ctzll(st->mask & out);

	if (!j)
		return; /* again at the next pass */
	j->kind = SJ_DROP;
	j->lun = st->lun;
	j->chunk = st->chunk;
	j->mask = 1ull << idx;
	j->expect = st->mask;
	j->state_rev = e->store->out_rev[idx];
	j->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	st->job = true;
	eng_store_submit(e->store, j);
}

/* Send the CHUNK_PUSH of held entry @st (its writers have drained). */
static int push(struct sb_engine *e, struct eng_stale *st)
{
	int ret;

	st->pushed = true; /* before the op starts: it may end at once */
	ret = eng_push_start(e, st->cp_src, st->cp_dst, st->lun, st->chunk,
			     pushed, st);
	if (ret)
		st->pushed = false;
	return ret;
}

static unsigned int depth(const struct sb_engine *e)
{
	return e->cl.resync_depth ? e->cl.resync_depth
				  : SB_DEFAULT_RESYNC_DEPTH;
}

/*
 * With resync_rate: false until the rate allows the next copy (*@next
 * lowered to then); true takes the copy's share of the rate.
 */
static bool rate_allows(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	struct eng_store *s = e->store;
	uint64_t now_us = now * 1000, cost_us;

	if (!e->cl.resync_rate)
		return true;
	if (now_us < s->rate_at_us) {
		if (s->rate_at_us / 1000 + 1 < *next)
			*next = s->rate_at_us / 1000 + 1;
		return false;
	}
	cost_us = e->cl.chunk_size * 1000000ull /
		  ((uint64_t)e->cl.resync_rate << 20);
	s->rate_at_us =
		(s->rate_at_us > now_us ? s->rate_at_us : now_us) + cost_us;
	return true;
}

/* Try to hold @st for a copy. */
static void try_hold(struct sb_engine *e, struct eng_stale *st, uint64_t now,
		     uint64_t *next)
{
	int dst, src;

	if (st->held || st->job || st->pending || now < st->retry_at ||
	    !eng_lun_size(e, st->lun))
		return;
	dst = pick_target(e, st);
	if (dst < 0 || !eng_push_ready(e))
		return;
	src = pick_source(e, st);
	if (src < 0 || !rate_allows(e, now, next))
		return;
	st->held = true;
	st->copying = true;
	st->cp_dst = (unsigned int)dst;
	st->cp_src = (unsigned int)src;
	e->store->copies++;
}

void eng_resync_timers(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	struct eng_store *s = e->store;
	struct sb_list *it, *nx;
	unsigned int seen = 0;
	uint64_t out;

	if (!s->loaded || e->stop_seen || sb_list_empty(&s->dirty))
		return;
	out = out_mask(e);
	if (now < s->resync_at) {
		if (s->resync_at < *next)
			*next = s->resync_at;
		return;
	}
	s->resync_at = now + ENG_RESYNC_EVERY_MS;
	if (s->resync_at < *next)
		*next = s->resync_at;
	sb_list_for_each_safe(it, nx, &s->dirty) {
		struct eng_stale *st =
			container_of(it, struct eng_stale, dlink);
		int ret;

		if (++seen > ENG_RESYNC_SCAN)
			break;
		if ((st->mask & out) && !st->held && !st->job && !st->pending) {
			drop_out(e, st, out);
			continue;
		}
		if (!st->held && s->copies < depth(e))
			try_hold(e, st, now, next);
		if (!st->copying || st->pushed || st->writers)
			continue; /* a reconcile's hold is not ours */
		/* picked when the hold began: still a source and a target? */
		if (!source_ok(e, st, st->cp_src) ||
		    !target_ok(e, st, st->cp_dst)) {
			release(e, st, false);
			continue;
		}
		ret = push(e, st);
		if (ret == -EAGAIN) {
			release(e, st,
				false); /* a new push epoch is on its way */
		} else if (ret) {
			sb_err_rl("resync: chunk %" PRIu64 ": %s", st->chunk,
				  strerror(-ret));
			release(e, st, true);
		}
	}
	/* the next pass starts where this one stopped */
	if (seen > ENG_RESYNC_SCAN)
		for (seen = 1; seen < ENG_RESYNC_SCAN; seen++) {
			it = s->dirty.next;
			sb_list_del(it);
			sb_list_add_tail(&s->dirty, it);
		}
}
