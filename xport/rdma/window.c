/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's type 2 memory windows (docs/rdma.md, docs/security.md):
 * one window per pool buffer, bound over a request's buffer before the
 * request is sent (xp_rdma_grant) and invalidated before the buffer is
 * reused (xp_rdma_release). The pool itself is then registered without
 * remote access, so a node reaches a buffer only through the window of a
 * request of its own, from the bind to the invalidation. Binds and
 * invalidates are posted like data operations, under the connection's
 * credits (conn.c). States: rdma_int.h.
 *
 * Owned by the connection's thread (the gateway engine's loop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/log.h"
#include "rdma_int.h"

int xpr_windows_alloc(struct xp_rdma_conn *c)
{
	uint32_t i, n = c->params.pool_count;

	c->wins = calloc(n, sizeof(*c->wins));
	if (!c->wins)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct xpr_win *w = &c->wins[i];

		errno = 0;
		w->mw = c->ops->alloc_mw(c->pd);
		if (!w->mw) {
			int err = errno ? -errno : -ENOMEM;

			sb_err("rdma: allocating memory window %u of %u: %s", i,
			       n, strerror(-err));
			return err;
		}
		w->c = c;
		w->rkey = c->ops->mw_rkey(w->mw);
	}
	return 0;
}

/*
 * Deallocate @c's windows, before its QP is destroyed: a bound type 2
 * window holds a reference on its QP, and rxe (kernel 6.1) then blocks
 * ibv_destroy_qp for 50 s before it warns and goes on. A window still
 * bound when its connection went down was never invalidated (the QP was
 * in error), so this is the normal case after a failure. The array stays
 * until xpr_windows_free: operations still posted name its entries.
 */
void xpr_windows_dealloc(struct xp_rdma_conn *c)
{
	uint32_t i;
	int err;

	if (!c->wins)
		return;
	for (i = 0; i < c->params.pool_count; i++) {
		if (!c->wins[i].mw)
			continue;
		err = c->ops->dealloc_mw(c->wins[i].mw);
		if (err)
			sb_err("rdma: dealloc_mw: %s", strerror(-err));
		c->wins[i].mw = NULL;
	}
}

void xpr_windows_free(struct xp_rdma_conn *c)
{
	if (!c->wins)
		return;
	xpr_windows_dealloc(c);
	free(c->wins);
	c->wins = NULL;
}

bool xp_rdma_conn_windows(const struct xp_rdma_conn *c)
{
	return c->windows;
}

/*
 * The key of a window's next binding: the same index bits, the next value
 * of the low 8 bits, which belong to the consumer (ibv_inc_rkey's rule),
 * so a key of an earlier binding never names the new one.
 */
static uint32_t next_rkey(uint32_t rkey)
{
	return (rkey & 0xffffff00u) | ((rkey + 1) & 0xffu);
}

static void win_bind_done(void *arg, int err)
{
	struct xpr_win *w = arg;

	if (!w->buf) {
		/* Released while down (xp_rdma_release): nobody waits. */
		w->st = WIN_FREE;
		return;
	}
	if (!err) {
		w->st = WIN_BOUND;
		w->rkey = w->op.wr.rkey;
		w->c->binds++;
	} else {
		/* The connection is down and never granted again. */
		w->st = WIN_FREE;
	}
	w->cb(w->arg, w->buf, err);
}

static void win_inv_done(void *arg, int err)
{
	struct xpr_win *w = arg;
	struct xp_rdma_buf *b = w->buf;

	/*
	 * Failed or flushed: the connection is down (complete_wc, conn.c),
	 * its QP in error, and its pool is never granted again: the buffer
	 * can go back for the owner to free the connection.
	 */
	if (!err)
		w->c->invalidates++;
	w->st = WIN_FREE;
	w->buf = NULL;
	xp_rdma_pool_put(w->c->pool, b);
}

int xp_rdma_grant(struct xp_rdma_conn *c, struct xp_rdma_buf *b, uint32_t off,
		  uint32_t len, unsigned int access, xp_rdma_grant_cb cb,
		  void *arg)
{
	struct xpr_win *w;
	int err;

	if (!c->windows)
		return -EOPNOTSUPP;
	if (!cb || !len ||
	    (access != XP_VERBS_ACC_REMOTE_READ &&
	     access != XP_VERBS_ACC_REMOTE_WRITE))
		return -EINVAL;
	if (!xpr_pool_has(c->pool, b) || off > b->size || len > b->size - off)
		return -EINVAL;
	w = &c->wins[b->index];
	if (w->st != WIN_FREE)
		return -EINVAL;
	if (c->state != ST_UP)
		return -ENOTCONN;
	memset(&w->op, 0, sizeof(w->op));
	w->op.wr.wr_id = (uintptr_t)&w->op;
	w->op.wr.opcode = XP_VERBS_BIND_MW;
	w->op.wr.local_addr = b->iova + off;
	w->op.wr.length = len;
	w->op.wr.lkey = c->pool->lkey;
	w->op.wr.mw = w->mw;
	w->op.wr.mr = c->pool->mr;
	w->op.wr.mw_access = access;
	/* What the last posted bind left (verbs.h: mw_rkey). */
	w->op.wr.rkey = next_rkey(c->ops->mw_rkey(w->mw));
	w->op.cb = win_bind_done;
	w->op.arg = w;
	w->buf = b;
	w->off = off;
	w->len = len;
	w->cb = cb;
	w->arg = arg;
	w->st = WIN_BINDING;
	err = xpr_submit_op(c, &w->op);
	if (err) {
		w->st = WIN_FREE;
		w->buf = NULL;
	}
	return err;
}

int xp_rdma_conn_describe(const struct xp_rdma_conn *c,
			  const struct xp_rdma_buf *b, uint32_t off,
			  uint32_t len, struct xp_hdr *h)
{
	const struct xpr_win *w;
	int err;

	err = xp_rdma_pool_describe(c->pool, b, off, len, h);
	if (err || !c->windows)
		return err;
	w = &c->wins[b->index];
	if (w->st != WIN_BOUND || off < w->off || len > w->len ||
	    off - w->off > w->len - len)
		return -EINVAL;
	h->desc_key = w->rkey;
	return 0;
}

void xp_rdma_release(struct xp_rdma_conn *c, struct xp_rdma_buf *b)
{
	struct xpr_win *w;
	int err;

	if (!xpr_pool_has(c->pool, b)) {
		sb_err("rdma: releasing a buffer not of this connection");
		return;
	}
	if (!c->windows || c->wins[b->index].st == WIN_FREE) {
		xp_rdma_pool_put(c->pool, b);
		return;
	}
	w = &c->wins[b->index];
	if (w->st == WIN_BINDING && c->state != ST_UP) {
		/*
		 * The connection went down with the bind still posted (a
		 * device need not flush it soon, or at all): the QP is in
		 * error, so the window grants nothing, and @c is never
		 * granted again. The buffer goes back now; the bind's late
		 * completion, if any, is dropped (win_bind_done), and the
		 * pool outlives the QP (xp_rdma_conn_free).
		 */
		w->buf = NULL;
		xp_rdma_pool_put(c->pool, b);
		return;
	}
	if (w->st != WIN_BOUND) {
		/* An owner's bug: the buffer stays out; no reuse. */
		sb_err("rdma: releasing buffer %u with its window %s", b->index,
		       w->st == WIN_BINDING ? "being bound" : "invalidating");
		xpr_conn_fail(c, -EINVAL);
		return;
	}
	if (c->state != ST_UP) {
		/* QP in error: the window grants nothing through it now. */
		w->st = WIN_FREE;
		w->buf = NULL;
		xp_rdma_pool_put(c->pool, b);
		return;
	}
	memset(&w->op, 0, sizeof(w->op));
	w->op.wr.wr_id = (uintptr_t)&w->op;
	w->op.wr.opcode = XP_VERBS_LOCAL_INV;
	w->op.wr.rkey = w->rkey;
	w->op.cb = win_inv_done;
	w->op.arg = w;
	w->st = WIN_INVALIDATING;
	err = xpr_submit_op(c, &w->op);
	if (err) {
		/* xpr_submit_op took the connection down: see above. */
		w->st = WIN_FREE;
		w->buf = NULL;
		xp_rdma_pool_put(c->pool, b);
	}
}

void xp_rdma_conn_window_stats(const struct xp_rdma_conn *c, uint64_t *binds,
			       uint64_t *invalidates)
{
	*binds = c->binds;
	*invalidates = c->invalidates;
}
