// SPDX-License-Identifier: Apache-2.0
/*
 * The activity log (docs/recovery.md, "The activity log"): the extents of
 * ENG_AL_EXTENT bytes a gateway may have writes in flight in, each one a
 * record P/al/<lun>/<extent> in the store.
 *
 *   add     a write into an extent with no record parks until a job has
 *           put the record; writes into a recorded extent need none
 *   idle    an extent with no write for ENG_AL_IDLE_MS and nothing to
 *           reconcile leaves the AL (a job deletes the record)
 *   close   a clean stop deletes the records of extents with nothing to
 *           reconcile
 *   load    a gateway started after one that died finds its records:
 *           every chunk of those extents is reconciled (reconcile.c)
 *           before it is read or written, as is the chunk of a write that
 *           failed where it may have reached some replicas
 * So a gateway killed mid-write, with one replica holding the new data
 * and another the old, leaves them different only until the next gateway
 * reconciles the chunk, and no read sees either before that.
 * Loop thread only, but eng_al_close (after the loop stopped).
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "../util/log.h"

#define ENG_AL_IDLE_MS 5000 /* an unused extent leaves the AL after */
#define ENG_AL_EVERY_MS 50 /* how often the timers run */

static size_t al_bucket(uint64_t lun, uint64_t ext)
{
	uint64_t h =
		(lun ^ (ext * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (size_t)(h >> 40) & (ENG_AL_BUCKETS - 1);
}

uint64_t eng_al_per_ext(const struct sb_engine *e)
{
	uint64_t n = ENG_AL_EXTENT / e->cl.chunk_size;

	return n ? n : 1;
}

static struct eng_al_ext *al_find(struct eng_store *s, uint64_t lun,
				  uint64_t ext)
{
	struct eng_al_ext *x;

	for (x = s->al_hash[al_bucket(lun, ext)]; x; x = x->hnext)
		if (x->lun == lun && x->ext == ext)
			return x;
	return NULL;
}

static struct eng_al_ext *al_make(struct eng_store *s, uint64_t lun,
				  uint64_t ext)
{
	struct eng_al_ext *x = al_find(s, lun, ext);
	size_t b;

	if (x)
		return x;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->lun = lun;
	x->ext = ext;
	x->used = sb_now_ms();
	sb_list_init(&x->rlink);
	b = al_bucket(lun, ext);
	x->hnext = s->al_hash[b];
	s->al_hash[b] = x;
	return x;
}

static void al_unlink(struct eng_store *s, struct eng_al_ext *x)
{
	struct eng_al_ext **pp;

	for (pp = &s->al_hash[al_bucket(x->lun, x->ext)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == x) {
			*pp = x->hnext;
			break;
		}
	}
	if (!sb_list_empty(&x->rlink))
		sb_list_del(&x->rlink);
	free(x->todo);
	free(x);
}

struct eng_al_ext *eng_al_get(struct sb_engine *e, uint64_t lun, uint64_t chunk)
{
	return al_make(e->store, lun, chunk / eng_al_per_ext(e));
}

static bool todo_bit(const struct eng_al_ext *x, uint64_t i)
{
	return x->todo && (x->todo[i / 8] & (1u << (i % 8)));
}

bool eng_al_ext_pending(const struct sb_engine *e, const struct eng_al_ext *x,
			uint64_t chunk)
{
	return x->ntodo && todo_bit(x, chunk % eng_al_per_ext(e));
}

bool eng_al_pending(struct sb_engine *e, uint64_t lun, uint64_t chunk)
{
	const struct eng_al_ext *x =
		al_find(e->store, lun, chunk / eng_al_per_ext(e));

	return x && eng_al_ext_pending(e, x, chunk);
}

/* Mark chunk index @i of @x to reconcile. 0 or -ENOMEM. */
static int todo_set(struct sb_engine *e, struct eng_al_ext *x, uint64_t i)
{
	uint64_t per = eng_al_per_ext(e);

	if (!x->todo) {
		x->todo = calloc(1, (per + 7) / 8);
		if (!x->todo)
			return -ENOMEM;
		x->cursor = 0;
	}
	if (todo_bit(x, i))
		return 0;
	x->todo[i / 8] |= (uint8_t)(1u << (i % 8));
	if (!x->ntodo++)
		sb_list_add_tail(&e->store->recon, &x->rlink);
	if (i < x->cursor)
		x->cursor = (unsigned int)i;
	return 0;
}

/* Submit an AL job of @kind for @x. */
static bool submit(struct sb_engine *e, struct eng_al_ext *x,
		   enum eng_sjob_kind kind)
{
	struct eng_sjob *j = calloc(1, sizeof(*j));

	if (!j)
		return false;
	j->kind = kind;
	j->lun = x->lun;
	j->chunk = x->ext;
	j->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	x->state = kind == SJ_AL_ADD ? AL_ADDING : AL_REMOVING;
	eng_store_submit(e->store, j);
	return true;
}

bool eng_al_wrote(const struct eng_store *s, uint64_t lun)
{
	unsigned int i;

	for (i = 0; i < s->nwrote; i++)
		if (s->wrote[i] == lun)
			return true;
	return false;
}

bool eng_al_ready(struct sb_engine *e, struct eng_al_ext *x)
{
	struct eng_store *s = e->store;

	if (x->state == AL_IN) {
		if (!x->mine && !eng_al_wrote(s, x->lun) &&
		    s->nwrote < ENG_MAX_LUNS)
			s->wrote[s->nwrote++] = x->lun;
		x->mine = true;
		return true;
	}
	if (x->state == AL_NONE && !submit(e, x, SJ_AL_ADD))
		sb_err_rl("AL: out of memory for a job");
	return false;
}

/* Wake the entries of @x's chunks parked for its record. */
static void wake_extent(struct sb_engine *e, struct eng_al_ext *x)
{
	uint64_t per = eng_al_per_ext(e), c;

	for (c = x->ext * per; c < (x->ext + 1) * per; c++) {
		struct eng_stale *st = eng_stale_find(e, x->lun, c);

		if (st && st->al_wait) {
			st->al_wait = false;
			eng_stale_wake(e, st);
			eng_stale_put(e, st);
		}
	}
}

void eng_al_job_done(struct sb_engine *e, struct eng_sjob *j)
{
	struct eng_al_ext *x = al_find(e->store, j->lun, j->chunk);

	if (!x) {
		free(j);
		return;
	}
	if (j->err) {
		sb_err_rl("AL: %s of extent %" PRIu64 " of LUN %016" PRIx64
			  " failed: %s",
			  j->kind == SJ_AL_ADD ? "record" : "removal", j->chunk,
			  j->lun, strerror(-j->err));
		/* an add is retried by the next write; a removal stays in */
		x->state = j->kind == SJ_AL_ADD ? AL_NONE : AL_IN;
	} else {
		x->state = j->kind == SJ_AL_ADD ? AL_IN : AL_NONE;
	}
	free(j);
	wake_extent(e, x);
	if (x->state == AL_NONE && !x->writers && !x->ntodo)
		al_unlink(e->store, x);
}

void eng_al_loaded(struct sb_engine *e, uint64_t lun, uint64_t ext)
{
	struct eng_al_ext *x = al_make(e->store, lun, ext);
	uint64_t per = eng_al_per_ext(e), i;

	if (!x) {
		/* never guess: without the entry, stop serving */
		sb_err("AL: out of memory for the activity log");
		abort();
	}
	x->state = AL_IN;
	for (i = 0; i < per; i++) {
		if (todo_set(e, x, i)) {
			sb_err("AL: out of memory for the activity log");
			abort();
		}
	}
	sb_info("AL: extent %" PRIu64 " of LUN %016" PRIx64 " was in the "
		"activity log: its chunks are reconciled before use",
		ext, lun);
}

void eng_al_write_end(struct sb_engine *e, struct eng_al_ext *x, uint64_t chunk,
		      bool suspect)
{
	x->writers--;
	x->used = sb_now_ms();
	if (suspect && todo_set(e, x, chunk % eng_al_per_ext(e)))
		sb_err("AL: out of memory: chunk %" PRIu64 " of LUN "
		       "%016" PRIx64 " not marked for reconcile",
		       chunk, x->lun);
}

void eng_al_chunk_done(struct sb_engine *e, struct eng_al_ext *x,
		       uint64_t chunk)
{
	uint64_t i = chunk % eng_al_per_ext(e);

	if (!todo_bit(x, i))
		return;
	x->todo[i / 8] &= (uint8_t) ~(1u << (i % 8));
	if (!--x->ntodo) {
		sb_list_del(&x->rlink);
		sb_list_init(&x->rlink);
		free(x->todo);
		x->todo = NULL;
	}
}

/* Idle extents leave the AL. */
static void expire_idle(struct sb_engine *e, uint64_t now)
{
	struct eng_store *s = e->store;
	size_t b;

	for (b = 0; b < ENG_AL_BUCKETS; b++) {
		struct eng_al_ext *x, *nx;

		for (x = s->al_hash[b]; x; x = nx) {
			nx = x->hnext;
			if (x->writers || x->ntodo ||
			    now < x->used + ENG_AL_IDLE_MS)
				continue;
			if (x->state == AL_IN)
				submit(e, x, SJ_AL_DEL);
			else if (x->state == AL_NONE)
				al_unlink(s, x);
		}
	}
}

void eng_al_timers(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	struct eng_store *s = e->store;

	if (!s->loaded || e->stop_seen)
		return;
	if (now >= s->al_at) {
		s->al_at = now + ENG_AL_EVERY_MS;
		expire_idle(e, now);
	}
	if (s->al_at < *next)
		*next = s->al_at;
	eng_recon_timers(e, now, next);
}

void eng_al_close(struct eng_store *s)
{
	char key[XP_REC_KEY_MAX];
	size_t b;

	for (b = 0; b < ENG_AL_BUCKETS; b++) {
		struct eng_al_ext *x;

		for (x = s->al_hash[b]; x; x = x->hnext) {
			if (x->state != AL_IN || x->ntodo || x->writers)
				continue;
			if (xp_rec_key_al(key, sizeof(key), s->prefix, x->lun,
					  x->ext))
				continue;
			pthread_mutex_lock(&s->kv_mu);
			(void)xp_kv_del(s->kv, key, false, NULL);
			pthread_mutex_unlock(&s->kv_mu);
		}
	}
}

void eng_al_free(struct eng_store *s)
{
	size_t b;

	for (b = 0; b < ENG_AL_BUCKETS; b++) {
		while (s->al_hash[b]) {
			struct eng_al_ext *x = s->al_hash[b];

			s->al_hash[b] = x->hnext;
			free(x->todo);
			free(x);
		}
	}
}
