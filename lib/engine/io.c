/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operations, pieces and requests, and the tracking of requests in
 * flight to a node.
 *
 * An operation (an sb_io, or a control operation with one request per
 * node) is split at chunk boundaries into pieces of at most max_piece
 * bytes (sb_split), ENG_WINDOW pieces at a time; each piece goes to the
 * replicas placement gives its chunk (sb_place):
 * - WRITE, WRITE_ZEROES, UNMAP: one request per replica, in parallel;
 * - READ: the best untried replica (up first), failing over to the next
 *   on error or timeout;
 * - CAW: the first replica decides; on a match the data then goes to the
 *   others;
 * - FLUSH and control operations: one request per node.
 * A piece's payload is a slice of the caller's iovec (a bounce copy when
 * that would take more entries than a frame may carry); its CRC32C is
 * computed once, for every replica.
 *
 * A request is WAITING (in a node's wait queue), INFLIGHT (sent, in the
 * node's hash) or not queued anywhere (IDLE before dispatch, DONE after).
 * A write's payload is referenced by the connection until its sent
 * callback runs (req->in_conn counts those references), so a piece
 * finishes only when all its requests are neither queued nor referenced;
 * an operation completes when its last piece finishes. That keeps the
 * caller's buffers untouched after the completion callback.
 *
 * Loop thread, except eng_op_alloc (any thread, before the op is queued).
 * A control operation's completion is published under e->lock (ctl_done);
 * an sb_io's callback runs without any lock held.
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../iovcopy.h"
#include "../util/clock.h"
#include "../../xport/conn.h"

/* ---- request tracking ------------------------------------------------- */

static struct eng_req **hash_slot(struct eng_node *n, uint64_t id)
{
	return &n->q.hash[id & (ENG_HASH_BUCKETS - 1)];
}

static void hash_del(struct eng_node *n, struct eng_req *r)
{
	struct eng_req **pp;

	for (pp = hash_slot(n, r->req_id); *pp; pp = &(*pp)->hnext) {
		if (*pp == r) {
			*pp = r->hnext;
			r->hnext = NULL;
			return;
		}
	}
}

struct eng_req *eng_req_find(struct eng_node *n, uint64_t id)
{
	struct eng_req *r;

	for (r = *hash_slot(n, id); r; r = r->hnext)
		if (r->req_id == id)
			return r;
	return NULL;
}

void eng_inflight_add(struct eng_node *n, struct eng_req *r)
{
	struct sb_engine *e = n->e;

	r->state = REQ_INFLIGHT;
	r->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	r->hnext = *hash_slot(n, r->req_id);
	*hash_slot(n, r->req_id) = r;
	sb_list_add_tail(&n->q.inflight, &r->link);
	n->q.ninflight++;
	if (n->q.ninflight > e->stats.max_inflight)
		__atomic_store_n(&e->stats.max_inflight, n->q.ninflight,
				 __ATOMIC_RELAXED);
}

void eng_inflight_del(struct eng_req *r)
{
	struct eng_node *n = r->node;

	if (n->q.placed == r) {
		/* its answer is half received into the caller's memory */
		n->q.placed = NULL;
		if (n->sess.conn)
			xp_conn_unplace(n->sess.conn);
	}
	hash_del(n, r);
	sb_list_del(&r->link);
	n->q.ninflight--;
}

void eng_req_unsend(struct eng_node *n, struct eng_req *r)
{
	eng_inflight_del(r);
	r->state = REQ_WAITING;
	sb_list_add_head(&n->q.waitq, &r->link);
}

/* ---- operations, pieces, requests ------------------------------------- */

struct eng_op *eng_op_alloc(struct sb_engine *e, unsigned int nslots,
			    unsigned int rpp)
{
	struct eng_op *op;
	struct eng_req *reqs;
	unsigned int i;

	op = calloc(1, sizeof(*op) + nslots * sizeof(struct eng_piece) +
			       (size_t)nslots * rpp * sizeof(struct eng_req));
	if (!op)
		return NULL;
	op->e = e;
	op->nslots = nslots;
	op->rpp = rpp;
	op->pieces = (struct eng_piece *)(op + 1);
	reqs = (struct eng_req *)(op->pieces + nslots);
	for (i = 0; i < nslots; i++) {
		op->pieces[i].op = op;
		op->pieces[i].reqs = reqs + (size_t)i * rpp;
	}
	sb_list_init(&op->link);
	return op;
}

static bool req_busy(const struct eng_req *r)
{
	return r->state == REQ_WAITING || r->state == REQ_INFLIGHT ||
	       r->in_conn > 0;
}

/*
 * Queue @r on node @idx. Never completes anything synchronously: sends
 * happen in eng_node_pump(), failures of down nodes in the timers.
 */
static void req_enqueue(struct eng_req *r, unsigned int idx)
{
	struct sb_engine *e = r->piece->op->e;
	struct eng_node *n = &e->nodes[idx];

	r->node = n;
	r->state = REQ_WAITING;
	r->err = 0;
	r->deadline = n->sess.state == NODE_UP
			      ? 0
			      : sb_now_ms() + e->cl.io_timeout_ms;
	sb_list_add_tail(&n->q.waitq, &r->link);
}

void eng_op_set_err(struct eng_op *op, int err)
{
	if (!op->err)
		op->err = err;
}

static void op_set_err(struct eng_op *op, int err)
{
	eng_op_set_err(op, err);
}

/* @op writes (WRITE, WRITE_ZEROES, UNMAP, CAW). */
static bool op_writes(const struct eng_op *op)
{
	return op->kind == OP_IO && op->op != SB_IO_READ &&
	       op->op != SB_IO_FLUSH;
}

/* With a store, a write piece's outcome is decided when all its requests
 * are done (store_io.c), not by each request's error. */
static bool store_decides(const struct eng_op *op)
{
	return op->e->store && op_writes(op);
}

static void op_finish(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	unsigned int i;

	op->finished = true;
	if (op->kind == OP_CTL && op->ctl_cb) {
		op->ctl_cb(op); /* the loop's own control op: it frees op */
		return;
	}
	if (op->kind == OP_CTL) {
		pthread_mutex_lock(&e->lock);
		op->ctl_done = true;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	for (i = 0; i < op->nslots; i++) {
		free(op->pieces[i].iov);
		free(op->pieces[i].bounce);
	}
	{
		struct sb_io *io = op->io;
		int err = op->err;

		free(op);
		eng_stat_inc(&e->stats.completed);
		io->cb(io, err);
	}
}

/*
 * Read: queue on the best untried replica (up first); false when none is
 * left. With a store, only replicas not stale for the chunk count, and of
 * those the ones up in the store first.
 */
static bool read_dispatch(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;
	struct eng_stale *st =
		eng_stale_find(e, p->op->io->lun_id, p->ext.chunk);
	uint64_t stale = eng_stale_nodes(st);
	unsigned int i, pick = p->nrep;

	for (i = 0; i < p->nrep; i++) {
		const struct eng_node *n = &e->nodes[p->rep[i]];

		if (p->tried & (1ull << i) || stale & (1ull << p->rep[i]))
			continue;
		if (n->sess.state == NODE_UP && (!e->store || n->st_up)) {
			pick = i;
			break;
		}
		if (pick == p->nrep)
			pick = i;
	}
	if (pick == p->nrep)
		return false;
	p->tried |= 1ull << pick;
	req_enqueue(&p->reqs[0], p->rep[pick]);
	return true;
}

/*
 * Give @r payload @iov (@iovcnt entries, @paylen bytes) and, unless @crc
 * is NULL, its CRC32C *@crc: computed once per piece, not once per
 * replica.
 */
static void req_set_payload(struct eng_req *r, const struct iovec *iov,
			    int iovcnt, uint32_t paylen, const uint32_t *crc)
{
	r->iov = iov;
	r->iovcnt = iovcnt;
	r->paylen = paylen;
	r->crc_given = crc != NULL;
	r->data_crc = crc ? *crc : 0;
}

void eng_req_fill(struct eng_req *r, uint8_t opcode, uint16_t flags,
		  uint64_t lun_id, uint64_t offset, uint32_t length)
{
	r->opcode = opcode;
	r->flags = flags;
	r->lun_id = lun_id;
	r->offset = offset;
	r->length = length;
	r->epoch = 0;
	req_set_payload(r, NULL, 0, 0, NULL);
}

/* Make sure @p can hold @need slice entries. 0 or -ENOMEM. */
static int piece_iov_reserve(struct eng_piece *p, int need)
{
	struct iovec *v;

	if (need <= p->iovcap)
		return 0;
	v = realloc(p->iov, sizeof(*v) * (size_t)need);
	if (!v)
		return -ENOMEM;
	p->iov = v;
	p->iovcap = need;
	return 0;
}

/*
 * Make @p->iov describe bytes [@off, @off + @len) of the caller's iovec.
 * When that takes more entries than one frame may carry (many tiny
 * iovecs), copy the bytes into a bounce buffer and describe that instead.
 * Returns the number of entries (>= 1) or -ENOMEM.
 */
static int piece_payload(struct eng_piece *p, const struct sb_io *io,
			 uint64_t off, uint64_t len)
{
	int n = sb_iov_slice_count(io->iov, io->iovcnt, off, len);
	int ret;

	if (n <= ENG_MAX_SLICES) {
		/* room for a second slice of this one (CAW) */
		ret = piece_iov_reserve(p, 2 * n);
		if (ret)
			return ret;
		return sb_iov_slice(io->iov, io->iovcnt, off, len, p->iov);
	}
	if (p->bounce_len < len) {
		void *b = realloc(p->bounce, (size_t)len);

		if (!b)
			return -ENOMEM;
		p->bounce = b;
		p->bounce_len = (size_t)len;
	}
	ret = piece_iov_reserve(p, 2);
	if (ret)
		return ret;
	sb_iov_copy(io->iov, io->iovcnt, off, p->bounce, (size_t)len, false);
	p->iov[0].iov_base = p->bounce;
	p->iov[0].iov_len = (size_t)len;
	return 1;
}

/*
 * Queue write piece @p's prepared requests of replicas [@from, @to). With
 * a store, only to valid replicas; the others are missed (store_io.c),
 * except that when fewer than min_replicas are valid, replicas that are
 * merely down (not stale) are waited for, up to io_timeout_ms.
 */
static void piece_queue_writes(struct eng_piece *p, unsigned int from,
			       unsigned int to)
{
	struct sb_engine *e = p->op->e;
	const struct eng_stale *st = p->st;
	unsigned int i, valid = 0;

	if (!eng_store_write_begin(p))
		return; /* parked: queued when the chunk's hold ends */
	for (i = 0; i < p->nrep; i++)
		valid += eng_store_valid(e, p->rep[i], st);
	for (i = from; i < to && i < p->nrep; i++) {
		uint64_t bit = 1ull << p->rep[i];
		bool stale = eng_stale_nodes(st) & bit;

		if (eng_store_valid(e, p->rep[i], st) ||
		    (!stale && valid < e->min_replicas))
			req_enqueue(&p->reqs[i], p->rep[i]);
		else
			p->missed |= bit;
	}
}

static bool e_has_store(const struct eng_piece *p)
{
	return p->op->e->store != NULL;
}

/* With a store, the first valid replica first: it decides a CAW. */
static void piece_valid_first(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;
	const struct eng_stale *st;
	unsigned int i;

	if (!e->store)
		return;
	st = eng_stale_find(e, p->op->io->lun_id, p->ext.chunk);
	for (i = 0; i < p->nrep; i++) {
		if (eng_store_valid(e, p->rep[i], st)) {
			unsigned int keep = p->rep[i];

			memmove(&p->rep[1], &p->rep[0], i * sizeof(p->rep[0]));
			p->rep[0] = keep;
			break;
		}
	}
}

/* WRITE piece @p: the same payload to every replica. 0 or -ENOMEM. */
static int piece_start_write(struct eng_piece *p, const struct sb_io *io,
			     uint16_t fua)
{
	uint32_t len = p->ext.length;
	unsigned int i;
	uint32_t crc;
	int na;

	na = piece_payload(p, io, p->ext.buf_off, len);
	if (na < 0)
		return na;
	crc = xp_conn_payload_crc(p->iov, na);
	for (i = 0; i < p->nrep; i++) {
		struct eng_req *r = &p->reqs[i];

		eng_req_fill(r, XP_OP_WRITE, XP_F_DCRC | fua, io->lun_id,
			     p->ext.offset, len);
		req_set_payload(r, p->iov, na, len, &crc);
	}
	piece_queue_writes(p, 0, p->nrep);
	return 0;
}

/*
 * CAW piece @p: the first replica compares and writes; the WRITEs to the
 * others are prepared here and queued once it matched (piece_req_done).
 * 0 or -ENOMEM.
 */
static int piece_start_caw(struct eng_piece *p, const struct sb_io *io,
			   uint16_t fua)
{
	uint64_t off = p->ext.offset;
	uint32_t len = p->ext.length;
	unsigned int i;
	uint32_t crc;
	int na, nb;

	piece_valid_first(p);
	/* slice A: compare + write data for the first replica;
	 * slice B: the write data alone for the others. */
	na = piece_payload(p, io, 0, 2ull * len);
	if (na < 0)
		return na;
	/* B is the second half of A; piece_payload left room */
	nb = sb_iov_slice(p->iov, na, len, len, p->iov + na);
	eng_req_fill(&p->reqs[0], XP_OP_CAW, XP_F_DCRC | fua, io->lun_id, off,
		     len);
	crc = xp_conn_payload_crc(p->iov, na);
	req_set_payload(&p->reqs[0], p->iov, na, 2 * len, &crc);
	crc = p->nrep > 1 ? xp_conn_payload_crc(p->iov + na, nb) : 0;
	for (i = 1; i < p->nrep; i++) {
		struct eng_req *r = &p->reqs[i];

		eng_req_fill(r, XP_OP_WRITE, XP_F_DCRC | fua, io->lun_id, off,
			     len);
		req_set_payload(r, p->iov + na, nb, len, &crc);
	}
	if (!e_has_store(p))
		req_enqueue(&p->reqs[0], p->rep[0]);
	else
		piece_queue_writes(p, 0, 1); /* the decider, once valid */
	return 0;
}

/*
 * Start piece @p of IO operation @op on its extent: place it, then queue
 * its requests. 0 or -errno.
 */
static int piece_start_io(struct eng_op *op, struct eng_piece *p)
{
	struct sb_engine *e = op->e;
	struct sb_io *io = op->io;
	uint64_t off = p->ext.offset;
	uint32_t len = p->ext.length;
	uint16_t fua = io->flags & SB_IO_F_FUA ? XP_F_FUA : 0;
	unsigned int i;

	p->nrep = sb_place(&e->cl, io->lun_id, p->ext.chunk, p->rep,
			   e->cl.replicas);
	if (p->nrep == 0)
		return -EHOSTUNREACH;
	for (i = 0; i < op->rpp; i++) {
		memset(&p->reqs[i], 0, sizeof(p->reqs[i]));
		p->reqs[i].piece = p;
		sb_list_init(&p->reqs[i].link);
	}
	p->tried = 0;
	p->missed = 0;
	p->st = NULL;
	p->al = NULL;
	p->writer = false;
	p->parked = p->waiting_start = false;
	p->park_deadline = 0;

	switch (op->op) {
	case SB_IO_READ:
		eng_req_fill(&p->reqs[0], XP_OP_READ, 0, io->lun_id, off, len);
		if (!eng_store_read_begin(p))
			return 0; /* parked until its chunk is reconciled */
		/* with a store, no replica may be valid for this chunk */
		return read_dispatch(p) ? 0 : -EHOSTUNREACH;
	case SB_IO_WRITE:
		return piece_start_write(p, io, fua);
	case SB_IO_WRITE_ZEROES:
	case SB_IO_UNMAP:
		for (i = 0; i < p->nrep; i++) {
			struct eng_req *r = &p->reqs[i];

			if (op->op == SB_IO_UNMAP)
				eng_req_fill(r, XP_OP_UNMAP, 0, io->lun_id, off,
					     len);
			else
				eng_req_fill(r, XP_OP_WRITE_ZEROES,
					     io->flags & SB_IO_F_UNMAP
						     ? XP_F_UNMAP
						     : 0,
					     io->lun_id, off, len);
		}
		piece_queue_writes(p, 0, p->nrep);
		return 0;
	case SB_IO_CAW:
		return piece_start_caw(p, io, fua);
	case SB_IO_FLUSH:
		for (i = 0; i < e->cl.nr_nodes; i++) {
			eng_req_fill(&p->reqs[i], XP_OP_FLUSH, 0, io->lun_id, 0,
				     0);
			/* a node down in the store has no copy we count on */
			if (!e->store || e->nodes[i].st_up)
				req_enqueue(&p->reqs[i], i);
		}
		return 0;
	}
	return -EINVAL;
}

/* Some request of @p is queued or referenced. */
static bool piece_reqs_busy(const struct eng_piece *p)
{
	unsigned int i;

	for (i = 0; i < p->op->rpp; i++)
		if (req_busy(&p->reqs[i]))
			return true;
	return false;
}

/*
 * @p has no request queued or referenced: decide it. True when it is
 * finished (its slot free); false while it waits in the store.
 */
static bool piece_settle(struct eng_piece *p)
{
	struct eng_op *op = p->op;

	if (p->parked)
		return false;
	if (store_decides(op) && !eng_store_write_end(p))
		return false;
	p->busy = false;
	op->active--;
	return true;
}

/* Start more pieces while the window has room; finish when all are done. */
static void op_progress(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	unsigned int i;

	while (!op->err && !e->stop_seen && op->next_off < op->end &&
	       op->active < op->nslots) {
		struct eng_piece *p = NULL;
		int ret;

		for (i = 0; i < op->nslots; i++) {
			if (!op->pieces[i].busy) {
				p = &op->pieces[i];
				break;
			}
		}
		if (!p)
			break;
		ret = sb_split(op->next_off, op->end - op->next_off,
			       e->cl.chunk_size, e->max_piece, &p->ext, 1);
		if (ret < 1) {
			op_set_err(op, ret < 0 ? ret : -EINVAL);
			break;
		}
		p->ext.buf_off = op->next_off - op->io->offset;
		op->next_off += p->ext.length;
		ret = piece_start_io(op, p);
		if (ret) {
			op_set_err(op, ret);
			break;
		}
		p->busy = true;
		op->active++;
		/* nothing queued (every replica missed, or parked) */
		if (!piece_reqs_busy(p))
			(void)piece_settle(p);
	}
	if (op->active == 0 && !op->finished &&
	    (op->err || e->stop_seen || op->next_off >= op->end)) {
		if (e->stop_seen)
			op_set_err(op, -ESHUTDOWN);
		op_finish(op);
	}
}

/* A piece finishes when none of its requests is queued or referenced. */
static void piece_check(struct eng_piece *p)
{
	if (!p->busy || piece_reqs_busy(p))
		return;
	if (piece_settle(p))
		op_progress(p->op);
}

void eng_piece_resume(struct eng_piece *p)
{
	if (p->waiting_start && p->op->op == SB_IO_READ) {
		eng_store_read_resume(p);
		if (!read_dispatch(p))
			eng_op_set_err(p->op, -EHOSTUNREACH);
	} else if (p->waiting_start)
		piece_queue_writes(p, 0, p->op->op == SB_IO_CAW ? 1 : p->nrep);
	piece_check(p);
}

void eng_piece_abandon(struct eng_piece *p)
{
	if (!p->busy || piece_reqs_busy(p))
		return;
	p->busy = false;
	p->op->active--;
	op_progress(p->op);
}

void eng_node_fail_waiting(struct eng_node *n, int err)
{
	while (!sb_list_empty(&n->q.waitq)) {
		struct eng_req *r =
			container_of(n->q.waitq.next, struct eng_req, link);

		sb_list_del(&r->link);
		eng_req_done(r, err);
	}
}

void eng_op_start(struct eng_op *op)
{
	struct sb_engine *e = op->e;

	/* never guess: I/O waits for the store's first read */
	if (op->kind == OP_IO && e->store && !e->store_loaded &&
	    !e->stop_seen) {
		eng_store_defer_op(e, op);
		return;
	}
	eng_op_start_deferred(op);
}

void eng_op_start_deferred(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	struct eng_piece *p = &op->pieces[0];
	unsigned int i;

	if (e->stop_seen) {
		op_set_err(op, -ESHUTDOWN);
		op_finish(op);
		return;
	}
	if (op->kind == OP_IO && op->op != SB_IO_FLUSH) {
		op_progress(op);
		return;
	}
	/* FLUSH and control operations: one piece, one request per node. */
	p->busy = true;
	op->active = 1;
	op->next_off = op->end;
	if (op->kind == OP_IO) {
		int ret = piece_start_io(op, p);

		if (ret) {
			op_set_err(op, ret);
			p->busy = false;
			op->active = 0;
			op_finish(op);
			return;
		}
		piece_check(p); /* every node may be down in the store */
		return;
	}
	for (i = 0; i < op->rpp; i++) {
		struct eng_req *r = &p->reqs[i];

		r->piece = p;
		sb_list_init(&r->link);
		if (r->opcode)
			req_enqueue(r, i);
	}
	piece_check(p);
}

/*
 * Per-kind reaction to one finished request: read failover, CAW's second
 * phase, error recording.
 */
static void piece_req_done(struct eng_piece *p, struct eng_req *r, int err)
{
	struct eng_op *op = p->op;
	struct sb_engine *e = op->e;
	unsigned int i;

	if (op->kind == OP_CTL)
		return; /* the caller reads r->err per node */
	switch (op->op) {
	case SB_IO_READ:
		if (!err)
			return;
		if (err != -ESHUTDOWN && !e->stop_seen && read_dispatch(p)) {
			eng_stat_inc(&e->stats.failovers);
			return;
		}
		op_set_err(op, err);
		return;
	case SB_IO_CAW:
		if (r == &p->reqs[0] && !err) {
			if (e->stop_seen) {
				op_set_err(op, -ESHUTDOWN);
				return;
			}
			if (e->store) {
				piece_queue_writes(p, 1, p->nrep);
				return;
			}
			for (i = 1; i < p->nrep; i++)
				req_enqueue(&p->reqs[i], p->rep[i]);
			return;
		}
		if (err && (r == &p->reqs[0] || !store_decides(op)))
			op_set_err(op, err);
		return;
	default:
		if (err && !store_decides(op))
			op_set_err(op, err);
		return;
	}
}

void eng_req_done(struct eng_req *r, int err)
{
	struct eng_piece *p = r->piece;

	r->state = REQ_DONE;
	r->err = err;
	piece_req_done(p, r, err);
	piece_check(p);
}

void eng_req_sent(void *arg, int err)
{
	struct eng_req *r = arg;

	(void)err; /* a lost frame shows up as a lost answer */
	r->in_conn--;
	piece_check(r->piece);
}
