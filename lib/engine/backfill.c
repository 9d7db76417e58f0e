// SPDX-License-Identifier: Apache-2.0
/*
 * Backfill (docs/recovery.md, "Resync, backfill and moves"): a node that
 * answers for the cluster but lost a LUN (its disk wiped, an old copy of
 * its folder retired) gets the LUN back with every chunk it should hold.
 *
 *   ask     each LUN the engine knows, on each node in each new session:
 *           LUN_OPEN (the node has it) or ENOENT (it lost it)
 *   mark    every chunk placed on the node is recorded stale for it in
 *           the store, in LUN order, a window of records at a time
 *   create  only when every record is in: LUN_CREATE on the node, so it
 *           never holds an empty copy that no record names
 *   copy    resync copies the recorded chunks to it as for any node that
 *           missed writes (it copies only to a node that has the LUN in
 *           its current session: eng_backfill_ready)
 * A copy's source must be known to hold the LUN too (eng_backfill_source_ok):
 * a node asked nothing yet may have lost it, and a copy from it sent
 * after the create would read the new, empty file.
 * While the node has no LUN its reads fail over (ENOENT) and writes to it
 * are recorded as missed, so nothing is served from it until copied. A
 * crash anywhere repeats the steps: the node still lacks the LUN, or the
 * records say what is left. Loop thread only.
 */

#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../place.h"
#include "../util/clock.h"
#include "../util/log.h"

#define ENG_FILL_EVERY_MS 100 /* how often the LUNs are looked at */
#define ENG_FILL_WINDOW 512 /* chunks marked ahead of the recorded ones */
#define ENG_FILL_RETRY_MS 1000 /* after a failed ask or create */

/* What a LUN_OPEN or LUN_CREATE of the loop is about. */
struct fill_ctx {
	uint64_t lun;
	unsigned int idx;
	uint64_t ups;
};

static struct eng_fill_lun *fill_find(struct eng_store *s, uint64_t lun)
{
	unsigned int i;

	for (i = 0; i < s->nfills; i++)
		if (s->fills[i].lun == lun)
			return &s->fills[i];
	return NULL;
}

bool eng_backfill_ready(struct sb_engine *e, uint64_t lun, unsigned int idx)
{
	const struct eng_fill_lun *fl;

	if (!e->store)
		return true;
	fl = fill_find(e->store, lun);
	return fl && fl->n[idx].state == BF_HAS &&
	       fl->n[idx].ups == e->nodes[idx].sess.ups;
}

bool eng_backfill_source_ok(struct sb_engine *e, uint64_t lun, unsigned int idx)
{
	return !e->store || !fill_find(e->store, lun) ||
	       eng_backfill_ready(e, lun, idx);
}

void eng_backfill_free(struct eng_store *s)
{
	free(s->fills);
	s->fills = NULL;
	s->nfills = 0;
}

/* The node's answer to the loop's LUN_OPEN or LUN_CREATE is back. */
static void answered(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	struct fill_ctx *x = op->ctl_arg;
	struct eng_req *r = &op->pieces[0].reqs[x->idx];
	struct eng_fill_lun *fl = fill_find(e->store, x->lun);
	struct eng_fill *f = fl ? &fl->n[x->idx] : NULL;
	uint32_t id = e->cl.nodes[x->idx].id;
	int err = r->err;

	free(r->ans_payload);
	free(op->pieces[0].iov);
	free((void *)op->ctl_payload);
	free(op);
	if (!f || f->ups != x->ups ||
	    (f->state != BF_ASKING && f->state != BF_CREATING)) {
		free(x); /* the LUN or the session is gone */
		return;
	}
	if (!err) {
		if (f->state == BF_CREATING)
			sb_info("backfill: LUN %016" PRIx64 " created on node "
				"%" PRIu32 "; resync copies its chunks",
				x->lun, id);
		f->state = BF_HAS;
	} else if (err == -ENOENT && f->state == BF_ASKING) {
		sb_warn("backfill: node %" PRIu32 " has no copy of LUN "
			"%016" PRIx64 ": recording its chunks stale",
			id, x->lun);
		f->state = BF_MARKING;
		f->done = 0;
	} else if (e->stop_seen || err == -ECONNRESET || err == -EPIPE ||
		   err == -ESHUTDOWN || err == -EHOSTUNREACH ||
		   err == -ETIMEDOUT) {
		/* the session went: asked again in the next one */
		f->state = BF_UNKNOWN;
		f->retry_at = sb_now_ms() + ENG_FILL_RETRY_MS;
	} else {
		if (!e->stop_seen)
			sb_err_rl("backfill: %s of LUN %016" PRIx64 " on node "
				  "%" PRIu32 ": %s",
				  f->state == BF_ASKING ? "LUN_OPEN"
							: "LUN_CREATE",
				  x->lun, id, strerror(-err));
		f->state = BF_UNKNOWN;
		f->retry_at = sb_now_ms() + ENG_FILL_RETRY_MS;
	}
	free(x);
}

/* Send @opcode about @l to node @idx from the loop; 0 or -errno. */
static int send_ctl(struct sb_engine *e, const struct eng_lun *l,
		    unsigned int idx, uint8_t opcode)
{
	struct fill_ctx *x = calloc(1, sizeof(*x));
	struct eng_op *op = eng_op_alloc(e, 1, e->cl.nr_nodes);
	uint8_t *payload = NULL;
	struct eng_req *r;
	struct xp_layout lay;
	size_t len = 0;

	if (opcode == XP_OP_LUN_CREATE) {
		payload = malloc(XP_LAYOUT_LEN + XP_LUN_NAME_MAX);
		if (payload) {
			sb_engine_layout(e, &lay);
			len = xp_lun_open_encode(&lay, l->name, payload);
		}
	}
	if (!x || !op || (opcode == XP_OP_LUN_CREATE && !payload))
		goto out_free;
	op->kind = OP_CTL;
	op->ctl_cb = answered;
	op->ctl_arg = x;
	x->lun = l->lun;
	x->idx = idx;
	x->ups = e->nodes[idx].sess.ups;
	r = &op->pieces[0].reqs[idx];
	eng_req_fill(r, opcode, 0, l->lun,
		     opcode == XP_OP_LUN_CREATE ? l->size : 0, 0);
	if (payload) {
		op->pieces[0].iov = calloc(1, sizeof(struct iovec));
		if (!op->pieces[0].iov)
			goto out_free;
		op->ctl_payload = payload;
		op->ctl_paylen = (uint32_t)len;
		op->pieces[0].iovcap = 1;
		op->pieces[0].iov[0].iov_base = payload;
		op->pieces[0].iov[0].iov_len = len;
		r->iov = op->pieces[0].iov;
		r->iovcnt = 1;
		r->paylen = (uint32_t)len;
	}
	eng_op_start(op);
	return 0;
out_free:
	free(x);
	free(op);
	free(payload);
	return -ENOMEM;
}

static bool placed_on(struct sb_engine *e, uint64_t lun, uint64_t chunk,
		      unsigned int idx)
{
	return sb_place_mask(&e->cl, lun, chunk) & (1ull << idx);
}

/*
 * Record @l's chunks on node @idx, a window past the recorded ones at a
 * time. True when every one is recorded.
 */
static bool mark(struct sb_engine *e, const struct eng_lun *l, unsigned int idx,
		 struct eng_fill *f)
{
	uint64_t nchunks = (l->size + e->cl.chunk_size - 1) / e->cl.chunk_size;
	uint64_t bit = 1ull << idx, c;

	for (; f->done < nchunks; f->done++) {
		const struct eng_stale *st;

		if (!placed_on(e, l->lun, f->done, idx))
			continue;
		st = eng_stale_find(e, l->lun, f->done);
		if (!st || !(st->mask & bit))
			break;
	}
	for (c = f->done; c < nchunks && c < f->done + ENG_FILL_WINDOW; c++) {
		if (!placed_on(e, l->lun, c, idx))
			continue;
		if (eng_stale_mark(e, l->lun, c, bit) < 0)
			break; /* no memory: the next pass */
	}
	return f->done >= nchunks;
}

/* One step of node @idx for LUN @l. */
static void step(struct sb_engine *e, const struct eng_lun *l, unsigned int idx,
		 struct eng_fill *f, uint64_t now)
{
	struct eng_node *n = &e->nodes[idx];

	switch (f->state) {
	case BF_HAS:
		if (f->ups == n->sess.ups)
			return;
		f->state = BF_UNKNOWN; /* a new session: ask again */
		f->retry_at = 0;
		/* fall through */
	case BF_UNKNOWN:
		if (!eng_node_usable(e, idx) || now < f->retry_at)
			return;
		f->ups = n->sess.ups;
		f->state = BF_ASKING;
		if (send_ctl(e, l, idx, XP_OP_LUN_OPEN)) {
			f->state = BF_UNKNOWN;
			f->retry_at = now + ENG_FILL_RETRY_MS;
		}
		return;
	case BF_MARKING:
		/* the records need the store only, not the node */
		if (!mark(e, l, idx, f) || !eng_node_usable(e, idx) ||
		    !l->name[0])
			return;
		f->ups = n->sess.ups;
		f->state = BF_CREATING;
		if (send_ctl(e, l, idx, XP_OP_LUN_CREATE)) {
			f->state = BF_UNKNOWN;
			f->retry_at = now + ENG_FILL_RETRY_MS;
		}
		return;
	case BF_ASKING:
	case BF_CREATING:
		return; /* answered() moves it on */
	}
}

/* Make the fill table follow the LUNs the engine knows. 0 or -ENOMEM. */
static int sync_luns(struct eng_store *s, const struct eng_lun *luns,
		     unsigned int n)
{
	struct eng_fill_lun *fl;
	unsigned int i;

	if (!s->fills) {
		s->fills = calloc(ENG_MAX_LUNS, sizeof(*s->fills));
		if (!s->fills)
			return -ENOMEM;
	}
	for (i = 0; i < s->nfills; i++)
		s->fills[i].seen = false;
	for (i = 0; i < n; i++) {
		fl = fill_find(s, luns[i].lun);
		if (!fl && s->nfills < ENG_MAX_LUNS) {
			fl = &s->fills[s->nfills++];
			memset(fl, 0, sizeof(*fl));
			fl->lun = luns[i].lun;
		}
		if (fl)
			fl->seen = true;
	}
	for (i = 0; i < s->nfills;) {
		if (s->fills[i].seen)
			i++;
		else
			s->fills[i] = s->fills[--s->nfills];
	}
	return 0;
}

void eng_backfill_timers(struct sb_engine *e, uint64_t now, uint64_t *next)
{
	struct eng_store *s = e->store;
	struct eng_lun luns[ENG_MAX_LUNS];
	unsigned int n, i, j;

	if (!s->loaded || e->stop_seen)
		return;
	if (now < s->fill_at) {
		if (s->fill_at < *next)
			*next = s->fill_at;
		return;
	}
	s->fill_at = now + ENG_FILL_EVERY_MS;
	if (s->fill_at < *next)
		*next = s->fill_at;
	n = eng_lun_list(e, luns);
	if (sync_luns(s, luns, n))
		return;
	for (i = 0; i < n; i++) {
		struct eng_fill_lun *fl = fill_find(s, luns[i].lun);

		if (!fl)
			continue;
		for (j = 0; j < e->cl.nr_nodes; j++)
			step(e, &luns[i], j, &fl->n[j], now);
	}
}
