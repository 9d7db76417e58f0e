// SPDX-License-Identifier: Apache-2.0
/*
 * Reconcile (docs/recovery.md, "The activity log"): a chunk of an extent
 * that was in the AL of a gateway that died, or of a write that failed
 * where it may have reached some replicas, is made the same on every
 * valid replica before it is read or written again.
 *
 *   pick    a chunk with pieces waiting for it first, else the next of
 *           the sweep, of a LUN whose size the engine knows
 *   record  a replica that is down and not recorded stale could hold
 *           either version: it is recorded stale first (it is resynced
 *           when it returns)
 *   hold    new writes to the chunk park (nothing writes it meanwhile)
 *   fence   PUSH_FENCE of the first valid replica in placement order
 *   copy    CHUNK_PUSH from it to every other valid replica that is up:
 *           either version is a right answer, since valid replicas
 *           differ only by writes never acknowledged. Always a copy,
 *           never a comparison that finds them equal and sends nothing:
 *           the fence and the copies stamp the chunk on every valid
 *           replica with a new push epoch, so that a copy this or an
 *           earlier gateway gave up on can never land after it (push.c)
 *   done    the chunk leaves the extent's list; the pieces go on
 * A failure releases the hold and the chunk is tried again later; until
 * then its reads and writes wait (up to io_timeout_ms). Loop thread only.
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../place.h"
#include "../util/clock.h"
#include "../util/log.h"

#define ENG_RECON_DEPTH 8 /* chunks reconciled at once */
#define ENG_RECON_RETRY_MS 500

struct recon {
	struct eng_al_ext *x; /* kept: its todo bit keeps it */
	struct eng_stale *st; /* held */
	uint64_t lun, chunk;
	unsigned int nrep, rep[SB_MAX_NODES];
	uint64_t valid; /* node bits of the valid replicas that are up */
	unsigned int src;
	bool fenced; /* src's PUSH_FENCE is back */
	uint64_t to; /* node bits still to copy to */
};

/*
 * The end of @r with @err (0: done): the hold goes, the pieces re-decide.
 * A chunk that failed is tried again after ENG_RECON_RETRY_MS, or at once
 * when it waited for a push epoch (-EAGAIN) or needs a newer one (-ESTALE).
 */
static void finish(struct sb_engine *e, struct recon *r, int err)
{
	struct eng_stale *st = r->st;
	bool ok = !err;

	if (ok)
		eng_al_chunk_done(e, r->x, r->chunk);
	else if (err != -EAGAIN && err != -ESTALE)
		st->retry_at = sb_now_ms() + ENG_RECON_RETRY_MS;
	st->held = false;
	e->store->recons--;
	e->store->al_at = 0; /* a slot is free */
	if (ok && st->recon_wait) {
		st->recon_wait = false;
		e->store->nrecon_wait--;
	}
	eng_stale_wake(e, st);
	eng_stale_put(e, st);
	free(r);
}

static void push_next(struct sb_engine *e, struct recon *r);

static void pushed(struct eng_op *op)
{
	struct recon *r = op->ctl_arg;
	struct sb_engine *e = op->e;
	int err = eng_push_end(op, r->src);

	if (err) {
		/* ESTALE: a node registered after our push epoch base (the
		 * next push takes a new one) */
		if (err != -ESTALE)
			sb_err_rl("reconcile: chunk %" PRIu64
				  " of LUN %016" PRIx64 ": %s node %u: %s",
				  r->chunk, r->lun,
				  r->fenced ? "CHUNK_PUSH from"
					    : "PUSH_FENCE of",
				  e->cl.nodes[r->src].id, strerror(-err));
		finish(e, r, err);
		return;
	}
	r->fenced = true;
	push_next(e, r);
}

/* The source's fence, then a copy to the next replica of r->to, or
 * finish. */
static void push_next(struct sb_engine *e, struct recon *r)
{
	unsigned int i;
	int ret;

	if (!r->fenced) {
		ret = eng_push_fence(e, r->src, r->lun, r->chunk, pushed, r);
	} else if (r->to) {
		i = (unsigned int)__builtin_ctzll(r->to);
		r->to &= ~(1ull << i);
		sb_dbg("reconcile: chunk %" PRIu64 " of LUN %016" PRIx64
		       ": copying from node %u to node %u",
		       r->chunk, r->lun, e->cl.nodes[r->src].id,
		       e->cl.nodes[i].id);
		ret = eng_push_start(e, r->src, i, r->lun, r->chunk, pushed, r);
	} else {
		finish(e, r, 0);
		return;
	}
	if (ret && ret != -EAGAIN) /* EAGAIN: no push epoch yet */
		sb_err_rl("reconcile: chunk %" PRIu64 ": %s", r->chunk,
			  strerror(-ret));
	if (ret)
		finish(e, r, ret);
}

/*
 * Which replicas of @st's chunk to make the same (r->valid; r->src the
 * first in placement order). 0 to go on, -EAGAIN to wait: no valid replica is up
 * (a down one may be the only copy that took the last acknowledged
 * write: it is waited for, never written off), one is up without a
 * session yet, or a down one's stale record is being written.
 */
static int replicas(struct sb_engine *e, struct eng_stale *st, struct recon *r)
{
	uint64_t stale = eng_stale_nodes(st), down = 0;
	bool wait = false;
	unsigned int i;

	r->nrep = sb_place(&e->cl, r->lun, r->chunk, r->rep, e->cl.replicas);
	r->valid = 0;
	for (i = r->nrep; i-- > 0;) {
		unsigned int n = r->rep[i];
		uint64_t bit = 1ull << n;

		if (stale & bit)
			continue;
		if (!e->nodes[n].st_up) {
			down |= bit;
		} else if (!eng_node_usable(e, n) ||
			   !eng_backfill_source_ok(e, r->lun, n)) {
			wait = true; /* up, our session or its LUN not yet */
		} else {
			r->valid |= bit;
			r->src = n; /* the loop runs backwards: the first */
		}
	}
	if (wait || !r->valid)
		return -EAGAIN;
	/* a down replica may hold either version: it must not come back
	 * valid without a resync from the ones copied now */
	for (i = 0; i < e->cl.nr_nodes; i++)
		if ((down & (1ull << i)) &&
		    eng_stale_mark(e, r->lun, r->chunk, 1ull << i) != 1)
			wait = true;
	return wait ? -EAGAIN : 0;
}

/* The LUN_OPEN of learn_size() is back: the LUN's size and name. */
static void sized(struct eng_op *op)
{
	struct eng_al_ext *x = op->ctl_arg;
	struct sb_engine *e = op->e;
	unsigned int i;

	for (i = 0; i < op->rpp; i++) {
		struct eng_req *r = &op->pieces[0].reqs[i];
		char name[XP_LUN_NAME_MAX + 1];
		struct xp_layout lay;

		if (r->opcode && !r->err &&
		    !xp_lun_open_decode(r->ans_payload, r->ans_len, &lay,
					name)) {
			eng_lun_size_set(e, x->lun, r->ans_offset);
			eng_lun_name_set(e, x->lun, name);
		}
		free(r->ans_payload);
	}
	free(op);
	x->asking = false;
}

/*
 * A chunk of @x waits but this engine never opened its LUN: ask a node
 * for the LUN's size (the last chunk may be short).
 */
static void learn_size(struct sb_engine *e, struct eng_al_ext *x)
{
	struct eng_op *op;
	unsigned int i;

	if (x->asking)
		return;
	for (i = 0; i < e->cl.nr_nodes && !eng_node_usable(e, i); i++)
		;
	if (i == e->cl.nr_nodes)
		return;
	op = eng_op_alloc(e, 1, e->cl.nr_nodes);
	if (!op)
		return;
	op->kind = OP_CTL;
	op->ctl_cb = sized;
	op->ctl_arg = x;
	eng_req_fill(&op->pieces[0].reqs[i], XP_OP_LUN_OPEN, 0, x->lun, 0, 0);
	x->asking = true;
	eng_op_start(op);
}

/* Try to start the reconcile of chunk @chunk of @x; true when started or
 * done at once. */
static bool start(struct sb_engine *e, struct eng_al_ext *x, uint64_t chunk,
		  uint64_t now)
{
	uint64_t size = eng_lun_size(e, x->lun);
	uint64_t off = chunk * e->cl.chunk_size;
	struct eng_stale *st;
	struct recon *r;

	if (!size) {
		learn_size(e, x); /* a LUN this engine has not opened */
		return false;
	}
	if (off >= size) {
		eng_al_chunk_done(e, x, chunk);
		return true;
	}
	if (!eng_push_ready(e))
		return false; /* asked for: the next pass comes at once */
	st = eng_stale_find(e, x->lun, chunk);
	if (st && (st->held || st->writers || st->job || now < st->retry_at))
		return false;
	r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	if (!st)
		st = eng_stale_get(e, x->lun, chunk);
	if (!st) {
		free(r);
		return false;
	}
	r->x = x;
	r->st = st;
	r->lun = x->lun;
	r->chunk = chunk;
	if (replicas(e, st, r)) {
		free(r);
		eng_stale_put(e, st);
		return false;
	}
	st->held = true;
	e->store->recons++;
	/* every other valid replica gets the first one's copy, after its
	 * fence */
	r->to = r->valid & ~(1ull << r->src);
	push_next(e, r);
	return true;
}

/* Start the chunks of @x that reads or writes wait for. */
static void urgent(struct sb_engine *e, struct eng_al_ext *x, uint64_t now)
{
	uint64_t per = eng_al_per_ext(e), i;

	for (i = 0; i < per && x->ntodo; i++) {
		const struct eng_stale *st;

		if (e->store->recons >= ENG_RECON_DEPTH)
			return;
		if (!(x->todo[i / 8] & (1u << (i % 8))))
			continue;
		st = eng_stale_find(e, x->lun, x->ext * per + i);
		if (st && st->recon_wait && !st->held)
			start(e, x, x->ext * per + i, now);
	}
}

/* Chunks of @x past the end of its LUN need nothing (size known). */
static void trim(struct sb_engine *e, struct eng_al_ext *x)
{
	uint64_t per = eng_al_per_ext(e), size = eng_lun_size(e, x->lun);
	uint64_t nchunks = (size + e->cl.chunk_size - 1) / e->cl.chunk_size;
	uint64_t c;

	if (!size || x->trimmed)
		return;
	x->trimmed = true;
	for (c = x->ext * per + per; c-- > x->ext * per && c >= nchunks;)
		eng_al_chunk_done(e, x, c);
}

void eng_recon_timers(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	struct eng_store *s = e->store;
	uint64_t per = eng_al_per_ext(e);
	struct sb_list *it, *nx;

	(void)next; /* eng_al_timers runs every ENG_AL_EVERY_MS */
	sb_list_for_each_safe(it, nx, &s->recon) {
		struct eng_al_ext *x =
			container_of(it, struct eng_al_ext, rlink);

		if (s->recons >= ENG_RECON_DEPTH)
			return;
		trim(e, x);
		if (!x->ntodo)
			continue; /* all past the end: it left the list */
		if (s->nrecon_wait)
			urgent(e, x, now);
		if (!x->ntodo || !eng_al_wrote(s, x->lun))
			continue; /* only what waits, until this engine writes */
		/* the sweep: the next chunk of the extent */
		for (;
		     x->ntodo && x->cursor < per && s->recons < ENG_RECON_DEPTH;
		     x->cursor++) {
			if (!(x->todo[x->cursor / 8] & (1u << (x->cursor % 8))))
				continue;
			if (!start(e, x, x->ext * per + x->cursor, now))
				break;
		}
		if (x->ntodo && x->cursor >= per)
			x->cursor = 0; /* the ones that failed, again */
	}
}
