// SPDX-License-Identifier: Apache-2.0
/*
 * What the cluster store changes in the engine's I/O (docs/recovery.md,
 * "The write path", "The read path"): the cache of stale chunks, which
 * replicas are valid, and the record a degraded write waits for.
 *
 * A write piece, with a store:
 *   begin   parked, uncounted, while a resync holds its chunk; then
 *           counted as a writer of the chunk's entry (a hold waits for
 *           the writers counted before it, and never parks them)
 *   queue   requests only to valid replicas (up in the store, not stale);
 *           the others are "missed" from the start
 *   end     every request done: replicas that failed are missed too. If
 *           at least one replica took the write, the missed ones must be
 *           in the chunk's stale record before the piece settles: a job
 *           adds them (one job per chunk at a time) and the piece parks
 *           until it is in. The write succeeds when min_replicas took it.
 * A write that no replica took records nothing (no copy is newer), nor
 * does one that ends while the engine stops: it fails unacknowledged
 * (-ESHUTDOWN) rather than wait for a record nothing would wake it for.
 *
 * Loop thread only.
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "../util/clock.h"
#include "../util/log.h"

static size_t bucket(uint64_t lun, uint64_t chunk)
{
	uint64_t h =
		(lun ^ (chunk * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (size_t)(h >> 40) & (ENG_STALE_BUCKETS - 1);
}

struct eng_stale *eng_stale_find(struct sb_engine *e, uint64_t lun,
				 uint64_t chunk)
{
	struct eng_stale *st;

	if (!e->store)
		return NULL;
	for (st = e->store->hash[bucket(lun, chunk)]; st; st = st->hnext)
		if (st->lun == lun && st->chunk == chunk)
			return st;
	return NULL;
}

struct eng_stale *eng_stale_get(struct sb_engine *e, uint64_t lun,
				uint64_t chunk)
{
	struct eng_store *s = e->store;
	struct eng_stale *st = eng_stale_find(e, lun, chunk);
	size_t b;

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->lun = lun;
	st->chunk = chunk;
	sb_list_init(&st->parked);
	sb_list_init(&st->dlink);
	b = bucket(lun, chunk);
	st->hnext = s->hash[b];
	s->hash[b] = st;
	return st;
}

void eng_stale_put(struct sb_engine *e, struct eng_stale *st)
{
	struct eng_stale **pp;

	if (st->mask || st->pending || st->job || st->writers || st->held ||
	    st->al_wait || st->recon_wait || !sb_list_empty(&st->parked))
		return;
	for (pp = &e->store->hash[bucket(st->lun, st->chunk)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == st) {
			*pp = st->hnext;
			free(st);
			return;
		}
	}
}

/* Set @st's recorded mask, keeping the count of stale chunks. */
void eng_stale_set_mask(struct eng_store *s, struct eng_stale *st,
			uint64_t mask)
{
	if (!st->mask && mask) {
		s->nstale++;
		sb_list_add_tail(&s->dirty, &st->dlink);
	} else if (st->mask && !mask) {
		s->nstale--;
		sb_list_del(&st->dlink);
		sb_list_init(&st->dlink);
	}
	st->mask = mask;
}

void eng_stale_merge(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		     uint64_t mask)
{
	struct eng_stale *st;

	mask &= ~sb_place_mask(&e->cl, lun, chunk);
	if (!mask)
		return;
	st = eng_stale_get(e, lun, chunk);
	if (!st) {
		/* never guess: without the entry, stop serving */
		sb_err("store: out of memory for the stale chunks");
		abort();
	}
	if (st->job)
		st->merged |= mask;
	eng_stale_set_mask(e->store, st, st->mask | mask);
	eng_stale_put(e, st);
}

void eng_stale_loaded(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		      uint64_t mask)
{
	struct eng_stale *st = eng_stale_get(e, lun, chunk);

	if (!st) {
		/* never guess: without the entry, stop serving */
		sb_err("store: out of memory for the stale chunks");
		abort();
	}
	eng_stale_set_mask(e->store, st, mask);
	eng_stale_put(e, st);
}

void eng_stale_free_all(struct eng_store *s)
{
	size_t b;

	for (b = 0; b < ENG_STALE_BUCKETS; b++) {
		while (s->hash[b]) {
			struct eng_stale *st = s->hash[b];

			s->hash[b] = st->hnext;
			free(st);
		}
	}
}

uint64_t eng_stale_nodes(const struct eng_stale *st)
{
	return st ? st->mask | st->pending : 0;
}

bool eng_store_valid(struct sb_engine *e, unsigned int idx,
		     const struct eng_stale *st)
{
	uint64_t bit = 1ull << idx;

	if (!e->store)
		return true;
	if (!e->nodes[idx].st_up)
		return false;
	return !st || !((st->mask | st->pending) & bit);
}

void eng_store_park(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;

	if (p->parked)
		return;
	p->parked = true;
	e->store->nparked++;
	if (!p->park_deadline)
		p->park_deadline = sb_now_ms() + e->cl.io_timeout_ms;
	sb_list_add_tail(&p->st->parked, &p->plink);
}

/* True when neither a reconcile nor its extent's AL record stops @p
 * (p->al set); else the entry's flag says what it waits for. */
static bool al_gate(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;
	struct eng_stale *st = p->st;
	uint64_t lun = p->op->io->lun_id;

	/* looked up each time: an extent may go while the piece waits */
	p->al = eng_al_get(e, lun, p->ext.chunk);
	if (p->al && eng_al_ext_pending(e, p->al, p->ext.chunk)) {
		if (!st->recon_wait)
			e->store->nrecon_wait++;
		st->recon_wait = true;
		return false;
	}
	/* no memory: wait (until io_timeout_ms), never write unlogged */
	if (!p->al || !eng_al_ready(e, p->al)) {
		st->al_wait = true;
		return false;
	}
	return true;
}

bool eng_store_read_begin(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;
	uint64_t lun = p->op->io->lun_id;

	if (!e->store || !eng_al_pending(e, lun, p->ext.chunk))
		return true;
	if (!p->st)
		p->st = eng_stale_get(e, lun, p->ext.chunk);
	if (!p->st)
		return true; /* no memory: read as without the log */
	if (!p->st->recon_wait)
		e->store->nrecon_wait++;
	p->st->recon_wait = true;
	p->waiting_start = true;
	eng_store_park(p);
	return false;
}

void eng_store_read_resume(struct eng_piece *p)
{
	struct eng_stale *st = p->st;

	p->st = NULL;
	p->waiting_start = false;
	p->park_deadline = 0;
	if (st)
		eng_stale_put(p->op->e, st);
}

bool eng_store_write_begin(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;

	if (!e->store)
		return true;
	if (!p->st) {
		p->st = eng_stale_get(e, p->op->io->lun_id, p->ext.chunk);
		if (!p->st)
			return true; /* no memory: it records what it misses */
	}
	if (p->writer)
		return true; /* a hold waits for it: never parks behind one */
	if (p->st->held || !al_gate(p)) {
		/* not a writer yet, so a hold does not wait for it */
		p->waiting_start = true;
		eng_store_park(p);
		return false;
	}
	p->st->writers++;
	if (p->al)
		p->al->writers++;
	p->writer = true;
	p->waiting_start = false;
	p->park_deadline = 0;
	return true;
}

/*
 * Stop counting @p as a writer of its entry; let go of the entry.
 * @suspect: its requests may have reached some replicas and not others
 * with nothing recorded (its chunk is reconciled before the next use).
 */
static void release(struct eng_piece *p, bool suspect)
{
	struct sb_engine *e = p->op->e;
	struct eng_stale *st = p->st;

	if (!st)
		return;
	p->st = NULL;
	if (p->writer) {
		st->writers--;
		if (p->al)
			eng_al_write_end(e, p->al, st->chunk, suspect);
	}
	p->writer = false;
	p->al = NULL;
	eng_stale_put(e, st);
}

/*
 * Count @p's outcome: replicas that took the write (*@ok) and those that
 * did not (returned); *@err the first error seen.
 */
static uint64_t outcome(struct eng_piece *p, unsigned int *ok, int *err)
{
	struct eng_op *op = p->op;
	uint64_t missed = p->missed;
	unsigned int i;

	*ok = 0;
	*err = 0;
	if (op->op == SB_IO_CAW && p->reqs[0].err) {
		/* nothing was written but, maybe, by the decider */
		if (p->reqs[0].err == -EILSEQ)
			return 0;
		*err = p->reqs[0].err;
		for (i = 1; i < p->nrep; i++)
			if (!(missed & (1ull << p->rep[i])))
				(*ok)++; /* they hold the old data: agreed */
		return missed | 1ull << p->rep[0];
	}
	for (i = 0; i < p->nrep; i++) {
		const struct eng_req *r = &p->reqs[i];
		uint64_t bit = 1ull << p->rep[i];

		if (missed & bit)
			continue;
		if (r->state == REQ_DONE && !r->err) {
			(*ok)++;
		} else {
			missed |= bit;
			if (!*err)
				*err = r->err ? r->err : -EHOSTUNREACH;
		}
	}
	return missed;
}

/* Ask the job thread to add @need to @st's record. */
static bool submit_add(struct sb_engine *e, struct eng_stale *st, uint64_t need)
{
	struct eng_sjob *j = calloc(1, sizeof(*j));

	if (!j)
		return false;
	j->kind = SJ_ADD;
	j->lun = st->lun;
	j->chunk = st->chunk;
	j->mask = need;
	j->expect = st->mask;
	j->deadline = UINT64_MAX; /* until it is in: the replicas differ */
	st->pending |= need;
	st->job = true;
	eng_store_submit(e->store, j);
	return true;
}

int eng_stale_mark(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		   uint64_t bit)
{
	struct eng_stale *st = eng_stale_find(e, lun, chunk);

	if (st && (st->mask & bit))
		return 1;
	if (st && ((st->pending & bit) || st->job))
		return 0; /* wait for the job in flight */
	if (!st)
		st = eng_stale_get(e, lun, chunk);
	if (!st)
		return -ENOMEM;
	if (!submit_add(e, st, bit)) {
		eng_stale_put(e, st);
		return -ENOMEM;
	}
	return 0;
}

bool eng_store_write_end(struct eng_piece *p)
{
	struct eng_op *op = p->op;
	struct sb_engine *e = op->e;
	struct eng_stale *st = p->st;
	unsigned int ok;
	uint64_t missed, need;
	int err;

	missed = outcome(p, &ok, &err);
	if (e->stop_seen) {
		/*
		 * The engine is stopping: nothing would wake a parked piece.
		 * The write fails unacknowledged, so its missed replicas need
		 * no record (as for a write no replica took).
		 */
		eng_op_set_err(op, -ESHUTDOWN);
		p->park_deadline = 0;
		release(p, true);
		return true;
	}
	if (missed && ok && st) {
		need = missed & ~st->mask;
		if (need) {
			/* one job per record at a time; wait for it */
			if (!st->job &&
			    !submit_add(e, st, need & ~st->pending)) {
				eng_op_set_err(op, -ENOMEM);
				release(p, true);
				return true;
			}
			eng_store_park(p);
			return false;
		}
	}
	if (op->op == SB_IO_CAW && p->reqs[0].err)
		; /* the CAW's own error is already the op's */
	else if (ok < e->min_replicas || !ok)
		eng_op_set_err(op, err ? err : -EHOSTUNREACH);
	p->park_deadline = 0;
	/* no replica took it, yet some may have applied it (a timeout) */
	release(p, !ok && missed);
	return true;
}

void eng_stale_wake(struct sb_engine *e, struct eng_stale *st)
{
	struct sb_list woken;

	st->writers++; /* the pieces below may release theirs */
	sb_list_init(&woken);
	sb_list_splice_tail(&st->parked, &woken);
	while (!sb_list_empty(&woken)) {
		struct eng_piece *p =
			container_of(woken.next, struct eng_piece, plink);

		sb_list_del(&p->plink);
		p->parked = false;
		e->store->nparked--;
		eng_piece_resume(p);
	}
	st->writers--;
}

uint64_t eng_stale_after(struct eng_stale *st, const struct eng_sjob *j,
			 bool removed)
{
	uint64_t gone = removed ? j->mask & ~st->merged : 0;

	st->merged = 0;
	return (st->mask & ~gone) | j->result;
}

void eng_stale_job_done(struct sb_engine *e, struct eng_sjob *j)
{
	struct eng_stale *st;

	if (j->kind == SJ_EPOCH) {
		eng_push_epoch_done(e, j);
		return;
	}
	st = eng_stale_find(e, j->lun, j->chunk);
	if (j->kind == SJ_AL_ADD || j->kind == SJ_AL_DEL) {
		eng_al_job_done(e, j);
		return;
	}
	if (j->kind == SJ_REVOKE || !st) {
		free(j);
		return;
	}
	st->job = false;
	if (j->kind == SJ_CLEAR) {
		eng_resync_cleared(e, st, j);
		free(j);
		return;
	}
	st->pending &= ~j->mask;
	if (!j->err)
		eng_stale_set_mask(e->store, st,
				   eng_stale_after(st, j, j->kind == SJ_DROP));
	st->merged = 0;
	free(j);
	eng_stale_wake(e, st);
	eng_stale_put(e, st);
}

/* A parked piece that will not wait any longer: @err, then finished. */
static void give_up(struct eng_piece *p, int err)
{
	eng_op_set_err(p->op, err);
	p->waiting_start = false;
	p->park_deadline = 0;
	release(p, true); /* a counted writer's requests may be out */
	eng_piece_abandon(p);
}

/*
 * Move @st's parked pieces past @now (all with @now UINT64_MAX) to @out;
 * lower *@next to the first deadline left.
 */
static void take_expired(struct eng_store *s, struct eng_stale *st,
			 uint64_t now, uint64_t *next, struct sb_list *out)
{
	struct sb_list *it, *tmp;

	sb_list_for_each_safe(it, tmp, &st->parked) {
		struct eng_piece *p = container_of(it, struct eng_piece, plink);

		if (p->park_deadline > now) {
			if (p->park_deadline < *next)
				*next = p->park_deadline;
			continue;
		}
		sb_list_del(&p->plink);
		p->parked = false;
		s->nparked--;
		sb_list_add_tail(out, &p->plink);
	}
}

/* Every parked piece past @now gives up with @err. */
static void expire(struct sb_engine *e, uint64_t now, uint64_t *next, int err)
{
	struct eng_store *s = e->store;
	struct sb_list dead;
	size_t b;

	if (!s->nparked)
		return;
	sb_list_init(&dead);
	for (b = 0; b < ENG_STALE_BUCKETS; b++) {
		struct eng_stale *st;

		for (st = s->hash[b]; st; st = st->hnext)
			if (!sb_list_empty(&st->parked))
				take_expired(s, st, now, next, &dead);
	}
	/* entries may be freed from here on */
	while (!sb_list_empty(&dead)) {
		struct eng_piece *p =
			container_of(dead.next, struct eng_piece, plink);

		sb_list_del(&p->plink);
		give_up(p, err);
	}
}

void eng_store_timers(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	if (!e->store)
		return;
	expire(e, now, next, -ETIMEDOUT);
	eng_backfill_timers(e, now, next);
	eng_al_timers(e, now, next);
	eng_resync_timers(e, now, next);
}

void eng_store_shutdown(struct sb_engine *e)
{
	struct eng_store *s = e->store;
	uint64_t next = UINT64_MAX;

	if (!s)
		return;
	while (!sb_list_empty(&s->deferred)) {
		struct eng_op *op =
			container_of(s->deferred.next, struct eng_op, link);

		sb_list_del(&op->link);
		eng_op_start_deferred(op); /* stop_seen: ends -ESHUTDOWN */
	}
	expire(e, UINT64_MAX, &next, -ESHUTDOWN);
}
