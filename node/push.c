/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CHUNK_PUSH (docs/protocol.md, "Chunk operations"): copy a range of a
 * LUN from this node's disk to another node, which already has the LUN,
 * for resync, backfill and moves (docs/recovery.md). The data goes from
 * disk to the target's session without passing through the requester.
 *
 * Life of a push:
 *
 *   WAIT_SLOT ─ slot free (PUSH_ACTIVE_MAX) ─> WAIT_LOCK ─ shared range
 *   lock ─> COPY ─ every piece acknowledged ─> FLUSH ─ acknowledged ─┐
 *      │             │                │                              │
 *      │ deadline, requester gone,    │ an error: no new piece;      │
 *      │ exit                         │ answered when none is busy   │
 *      v             v                v                              v
 *   ANSWERED (slot and lock released, answer queued) <───────────────┘
 *      └─ freed once no piece is busy (a timeout answers at once and
 *         leaves the pieces to drain)
 *
 * COPY cuts the range into pieces of PUSH_PIECE bytes and keeps up to
 * PUSH_WINDOW of them busy: a piece with no data on disk (a hole) is a
 * WRITE_ZEROES with UNMAP to the target; any other is read through the
 * disk engine into the piece's buffer and sent as a WRITE with DCRC. Each
 * request goes on the session to the target (peer.c), which is opened or
 * reused when the lock is granted.
 *
 * The shared range lock keeps writes to the range out while it is copied,
 * so the target receives one snapshot. A push that times out closes the
 * session to the target (nd_peer_abort) so that nothing still queued is
 * sent, and is answered at once.
 *
 * Memory: a push owns its pieces' buffers, a reference on its LUN and one
 * on its session; its request (nd_req) is handed back at the answer.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util/clock.h"
#include "../lib/util/log.h"
#include "server_internal.h"

#define PUSH_ACTIVE_MAX 4 /* pushes holding a slot per node */
#define PUSH_PIECE (1u << 20) /* bytes per WRITE to the target */
#define PUSH_WINDOW 4 /* pieces of one push reading or sending at once */

_Static_assert(PUSH_PIECE <= XP_MAX_IO, "a piece is one WRITE");

enum push_state {
	PS_WAIT_SLOT = 0,
	PS_WAIT_LOCK,
	PS_COPY,
	PS_FLUSH,
	PS_ANSWERED,
};

struct push_piece {
	struct nd_push *ps;
	struct nd_io_op io; /* its disk read */
	struct nd_peer_req pr; /* its WRITE or WRITE_ZEROES */
	uint8_t *buf; /* ps->buflen bytes, allocated on first use (owned) */
	bool busy; /* reading or sending */
};

struct nd_push {
	struct sb_list link; /* on srv->pushes */
	struct sb_list wlink; /* on srv->push_wait while WAIT_SLOT */
	struct nd_server *srv;
	struct nd_req *req; /* NULL once answered */
	struct nd_lun *lun; /* reference held */
	struct nd_rlock_req rl;
	bool rl_queued; /* rl is held or waiting */
	bool active; /* holds a slot */
	enum push_state state;
	struct xp_push_target t;
	struct nd_peer *peer; /* reference held once locked */
	uint64_t lun_id;
	uint64_t epoch; /* the request's, sent with every request */
	uint64_t start; /* the range */
	uint64_t next; /* first byte no piece has taken yet */
	uint64_t end;
	uint32_t buflen; /* per piece buffer */
	uint64_t deadline_ms;
	int err; /* first error */
	unsigned int busy; /* pieces busy, plus the FLUSH */
	struct xp_push_result res;
	struct nd_peer_req flush;
	struct push_piece pieces[PUSH_WINDOW];
};

static void push_next(struct nd_server *s);

static void push_log_failure(const struct nd_push *ps)
{
	if (ps->err == -ECONNABORTED)
		return; /* the requester is gone: nobody to tell */
	if (ps->err == -ESTALE) {
		/* an older copy than one the target admitted, or from before
		 * its registration: the requester copies again (a new epoch) */
		sb_info("CHUNK_PUSH LUN %016" PRIx64 " at %" PRIu64
			" to node %" PRIu64 ": refused as older (ESTALE)",
			ps->lun_id, ps->start, ps->t.target_id);
		return;
	}
	sb_err_rl("CHUNK_PUSH LUN %016" PRIx64 " at %" PRIu64 " length %" PRIu64
		  " to node %" PRIu64 ": %s",
		  ps->lun_id, ps->start, ps->end - ps->start, ps->t.target_id,
		  xp_status_name(xp_status_from_errno(ps->err)));
}

/* Answered and nothing busy: free it. */
static void push_maybe_free(struct nd_push *ps)
{
	unsigned int i;

	if (ps->state != PS_ANSWERED || ps->busy)
		return;
	if (ps->peer)
		nd_peer_put(ps->peer);
	nd_lun_put(ps->lun);
	for (i = 0; i < PUSH_WINDOW; i++)
		free(ps->pieces[i].buf);
	sb_list_del(&ps->link);
	free(ps);
}

/*
 * Answer @ps's request with ps->err (and the result when 0): the slot and
 * the lock go (a waiting lock request is withdrawn), the next push may
 * start. @ps is freed here when nothing of it is busy.
 */
static void push_answer(struct nd_push *ps)
{
	struct nd_server *s = ps->srv;
	struct nd_req *req = ps->req;

	if (ps->state == PS_WAIT_SLOT)
		sb_list_del(&ps->wlink);
	ps->state = PS_ANSWERED;
	ps->req = NULL;
	if (ps->rl_queued) {
		ps->rl_queued = false;
		nd_rlock_release(&ps->lun->rlock, &ps->rl);
	}
	if (ps->active) {
		ps->active = false;
		s->push_active--;
	}
	if (!ps->err) {
		req->buf = malloc(XP_PUSH_RESULT_LEN);
		if (req->buf) {
			xp_push_result_encode(&ps->res, req->buf);
			req->ans_len = XP_PUSH_RESULT_LEN;
		} else {
			ps->err = -ENOMEM;
		}
	}
	if (ps->err)
		push_log_failure(ps);
	nd_req_answer(req, ps->err);
	push_next(s);
	push_maybe_free(ps);
}

static void push_pump(struct nd_push *ps);

/*
 * One of @ps's requests to the target ended with @err: count it and keep
 * the first error. True while @ps is not answered yet (the caller goes
 * on); false once it is, @ps then freed when that was its last request.
 */
static bool push_req_end(struct nd_push *ps, int err)
{
	ps->busy--;
	if (err && !ps->err)
		ps->err = err;
	if (ps->state != PS_ANSWERED)
		return true;
	push_maybe_free(ps);
	return false;
}

/* Piece @pc is done with @err: count it, go on or finish. */
static void piece_end(struct push_piece *pc, int err)
{
	struct nd_push *ps = pc->ps;

	pc->busy = false;
	if (push_req_end(ps, err))
		push_pump(ps);
}

static void piece_sent(struct nd_peer_req *pr, int err)
{
	struct push_piece *pc = container_of(pr, struct push_piece, pr);

	if (!err && pr->opcode == XP_OP_WRITE)
		pc->ps->res.bytes_data += pr->length;
	else if (!err)
		pc->ps->res.bytes_zero += pr->length;
	piece_end(pc, err);
}

static void piece_read_done(struct nd_io_op *op, int res)
{
	struct push_piece *pc = container_of(op, struct push_piece, io);
	struct nd_push *ps = pc->ps;

	if (res) {
		sb_err_rl("LUN %016" PRIx64 ": reading %" PRIu32
			  " bytes at %" PRIu64 " to push them: %s",
			  ps->lun_id, pc->pr.length, pc->pr.offset,
			  strerror(-res));
		piece_end(pc, res);
		return;
	}
	if (ps->err || ps->state != PS_COPY) {
		piece_end(pc, 0);
		return;
	}
	pc->pr.opcode = XP_OP_WRITE;
	pc->pr.payload = pc->buf;
	nd_peer_submit(ps->peer, &pc->pr);
}

/*
 * Start idle piece @pc on [@off, @off + @len): a hole goes to the target
 * as WRITE_ZEROES at once, data is read first. 0 or -errno (@pc idle).
 */
static int piece_start(struct nd_push *ps, struct push_piece *pc, uint64_t off,
		       uint32_t len)
{
	struct nd_server *s = ps->srv;
	struct nd_peer_req *pr = &pc->pr;
	int ret;

	memset(pr, 0, sizeof(*pr));
	pr->lun_id = ps->lun_id;
	pr->offset = off;
	pr->length = len;
	pr->epoch = ps->epoch;
	pr->done = piece_sent;
	if (!nd_lun_data_bytes(ps->lun, off, len)) {
		pr->opcode = XP_OP_WRITE_ZEROES;
		pr->flags = XP_F_UNMAP;
		pc->busy = true;
		ps->busy++;
		nd_peer_submit(ps->peer, pr);
		return 0;
	}
	if (!pc->buf) {
		ret = nd_io_buf_alloc(&pc->buf, ps->buflen);
		if (ret)
			return ret;
	}
	ret = nd_io_read(s->io, &pc->io,
			 nd_lun_data_fd(ps->lun, pc->buf, off, len), pc->buf,
			 len, off, piece_read_done);
	if (ret)
		return ret;
	pc->busy = true;
	ps->busy++;
	return 0;
}

static void flush_done(struct nd_peer_req *pr, int err)
{
	struct nd_push *ps = container_of(pr, struct nd_push, flush);

	if (push_req_end(ps, err))
		push_answer(ps);
}

/* COPY: keep the window full; then FLUSH, or answer an error. */
static void push_pump(struct nd_push *ps)
{
	unsigned int i;
	int ret;

	if (ps->state != PS_COPY)
		return;
	for (i = 0; i < PUSH_WINDOW && !ps->err && ps->next < ps->end; i++) {
		struct push_piece *pc = &ps->pieces[i];
		uint64_t left = ps->end - ps->next;
		uint32_t len = left < PUSH_PIECE ? (uint32_t)left : PUSH_PIECE;

		if (pc->busy)
			continue;
		ret = piece_start(ps, pc, ps->next, len);
		if (ret) {
			ps->err = ret;
			break;
		}
		ps->next += len;
	}
	if (ps->busy)
		return;
	if (ps->err) {
		push_answer(ps);
		return;
	}
	/* Every piece acknowledged: make them durable on the target. */
	memset(&ps->flush, 0, sizeof(ps->flush));
	ps->flush.opcode = XP_OP_FLUSH;
	ps->flush.lun_id = ps->lun_id;
	ps->flush.epoch = ps->epoch;
	ps->flush.done = flush_done;
	ps->state = PS_FLUSH;
	ps->busy++;
	nd_peer_submit(ps->peer, &ps->flush);
}

/* The range is locked: get the session to the target and copy. */
static void push_locked(struct nd_push *ps)
{
	int ret;

	ps->state = PS_COPY;
	ret = nd_peer_get(ps->srv, &ps->t, &ps->peer);
	if (ret) {
		ps->peer = NULL;
		ps->err = ret == -ENOMEM ? -ENOMEM : -EHOSTUNREACH;
		push_answer(ps);
		return;
	}
	push_pump(ps);
}

static void push_lock_granted(struct nd_rlock_req *r)
{
	push_locked(container_of(r, struct nd_push, rl));
}

/* Take a slot and ask for the lock. */
static void push_activate(struct nd_push *ps)
{
	ps->active = true;
	ps->srv->push_active++;
	ps->state = PS_WAIT_LOCK;
	ps->rl_queued = true;
	if (nd_rlock_acquire_shared(&ps->lun->rlock, &ps->rl, ps->start,
				    ps->end - ps->start, push_lock_granted))
		push_locked(ps);
}

/* Start waiting pushes while slots are free. */
static void push_next(struct nd_server *s)
{
	/* Inside an outer call (its loop goes on), or stopping all. */
	if (s->push_hold)
		return;
	s->push_hold = true;
	while (s->push_active < PUSH_ACTIVE_MAX &&
	       !sb_list_empty(&s->push_wait)) {
		struct nd_push *ps =
			container_of(s->push_wait.next, struct nd_push, wlink);

		if (sb_now_ms() >= ps->deadline_ms) {
			/* Its time is up already: nothing to start. */
			ps->err = -ETIMEDOUT;
			push_answer(ps);
			continue;
		}
		sb_list_del(&ps->wlink);
		push_activate(ps);
	}
	s->push_hold = false;
}

/* Check the request and set up its push. 0 or -errno to answer. */
static int push_new(struct nd_req *req, struct nd_push **out)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct xp_push_target t;
	struct nd_push *ps;
	unsigned int i;
	int ret;

	if (xp_push_target_decode(req->payload, h->payload_len, &t))
		return -EINVAL;
	/* To itself: its WRITEs would wait for its own lock. */
	if (t.target_id == s->cfg.id)
		return -EINVAL;
	ret = nd_req_take_lun(req);
	if (!ret)
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
	if (ret)
		return ret;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	sb_list_init(&ps->wlink);
	ps->srv = s;
	ps->req = req;
	ps->lun = req->lun;
	nd_lun_get(ps->lun);
	ps->t = t;
	ps->lun_id = h->lun_id;
	ps->epoch = h->epoch;
	ps->start = ps->next = h->offset;
	ps->end = h->offset + h->length;
	ps->buflen = h->length < PUSH_PIECE ? h->length : PUSH_PIECE;
	ps->deadline_ms = sb_now_ms() + s->cfg.push_timeout_ms;
	for (i = 0; i < PUSH_WINDOW; i++)
		ps->pieces[i].ps = ps;
	sb_list_add_tail(&s->pushes, &ps->link);
	*out = ps;
	return 0;
}

void nd_push_start(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	struct nd_push *ps;
	int ret;

	ret = push_new(req, &ps);
	if (ret) {
		nd_req_answer(req, ret);
		return;
	}
	/* After the ones already waiting: arrival order. */
	ps->state = PS_WAIT_SLOT;
	sb_list_add_tail(&s->push_wait, &ps->wlink);
	push_next(s);
}

/*
 * Stop @ps with @err: at once when it waits for a slot or the lock (or
 * @now, when its target may still get frames: the session is closed),
 * else once its busy pieces are done.
 */
static void push_stop(struct nd_push *ps, int err, bool now)
{
	if (!ps->err)
		ps->err = err;
	if (ps->state == PS_WAIT_SLOT || ps->state == PS_WAIT_LOCK ||
	    !ps->busy) {
		push_answer(ps);
		return;
	}
	if (!now)
		return;
	if (ps->peer)
		nd_peer_abort(ps->peer);
	push_answer(ps);
}

/*
 * The first push that needs stopping at @now (timed out, requester gone,
 * or any when @all), or NULL.
 */
static struct nd_push *push_due(struct nd_server *s, uint64_t now, bool all,
				int *err)
{
	struct sb_list *pos;

	sb_list_for_each(pos, &s->pushes) {
		struct nd_push *ps = container_of(pos, struct nd_push, link);

		if (ps->state == PS_ANSWERED)
			continue;
		if (all || now >= ps->deadline_ms) {
			*err = all ? -ECONNABORTED : -ETIMEDOUT;
			return ps;
		}
		if (ps->req->conn->state == ND_CONN_CLOSED && !ps->err) {
			*err = -ECONNABORTED;
			return ps;
		}
	}
	return NULL;
}

void nd_push_tick(struct nd_server *s, uint64_t now)
{
	struct nd_push *ps;
	int err;

	/* Each stop may answer, free or start others: look again. */
	while ((ps = push_due(s, now, false, &err)))
		push_stop(ps, err, err == -ETIMEDOUT);
}

void nd_push_stop_all(struct nd_server *s)
{
	struct nd_push *ps;
	int err;

	/* No stop may start a waiting push. */
	s->push_hold = true;
	while ((ps = push_due(s, 0, true, &err)))
		push_stop(ps, err, true);
	s->push_hold = false;
}

void nd_push_shutdown(struct nd_server *s)
{
	struct nd_push *ps;

	nd_push_stop_all(s);
	nd_peer_abort_all(s);
	nd_peer_reap(s);
	/* Left: answered, with disk reads that will never complete. */
	while (!sb_list_empty(&s->pushes)) {
		ps = container_of(s->pushes.next, struct nd_push, link);
		if (ps->state != PS_ANSWERED)
			push_stop(ps, -ECONNABORTED, true);
		ps->busy = 0;
		push_maybe_free(ps);
	}
	nd_peer_free_dead(s);
}
