/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections, both sides (docs/protocol.md "RDMA payload",
 * docs/rdma.md): the gateway's connect (address, route, resources, the
 * connect request carrying the token), the node's accept once listener.c
 * has checked the token, the PD, CQ, QP and pool of each, posting under
 * credits, completions, the rdma_cm events of either side, and teardown.
 *
 * The policy is here: how many operations a QP may hold (credits: its send
 * queue depth, and the negotiated RDMA READ depth), and what a failure
 * does: the connection goes down, queued operations are aborted, posted
 * ones complete by flush, and the owner falls back to inline payload.
 * States: rdma_int.h.
 *
 * One thread owns a connection (the gateway engine's loop, the node
 * server's loop) and makes every call; callbacks run on it, from
 * xp_rdma_conn_service(), xp_rdma_conn_free() and the calls that fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/log.h"
#include "rdma_int.h"

#define RESOLVE_TIMEOUT_MS 2000
#define POLL_BATCH 16
/* What an rdma_cm rejection or error without a status reports (gateway). */
#define GW_REJECTED (-ECONNREFUSED) /* the node refused our token */
#define GW_CM_ERROR (-EHOSTUNREACH) /* address, route or connect error */

bool xpr_params_ok(const struct xp_rdma_params *p)
{
	return p && p->max_ops && p->max_ops <= 4096 && p->pool_count &&
	       p->pool_size && !(p->pool_size % XPR_PAGE) &&
	       (uint64_t)p->pool_count * p->pool_size <= XPR_POOL_MAX_BYTES;
}

int xpr_cm_open(const struct xp_verbs_ops *ops, struct rdma_event_channel **ch,
		struct rdma_cm_id **id, void *ctx)
{
	int err;

	*ch = ops->create_event_channel();
	if (!*ch)
		return errno ? -errno : -ENOMEM;
	err = ops->create_id(*ch, id, ctx);
	if (err) {
		ops->destroy_event_channel(*ch);
		*ch = NULL;
	}
	return err;
}

void xpr_cm_close(const struct xp_verbs_ops *ops, struct rdma_event_channel *ch,
		  struct rdma_cm_id *id)
{
	ops->destroy_id(id);
	ops->destroy_event_channel(ch);
}

static void pending_unlink(struct xp_rdma_conn *c)
{
	if (!c->lst || c->handed)
		return;
	sb_list_del(&c->lnode);
	c->handed = true;
}

/* A connection of either side, before its resources; NULL: no memory. */
static struct xp_rdma_conn *conn_new(const struct xp_verbs_ops *ops,
				     const struct xp_rdma_params *p,
				     enum xpr_conn_state state,
				     xp_rdma_state_cb cb, void *arg)
{
	struct xp_rdma_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ops = ops;
	c->params = *p;
	c->state = state;
	c->cb = cb;
	c->arg = arg;
	sb_list_init(&c->lnode);
	sb_list_init(&c->queue);
	sb_list_init(&c->posted_ops);
	return c;
}

void xpr_report(struct xp_rdma_conn *c, int err)
{
	if (!err) {
		if (c->reported_up || c->reported_down)
			return;
		c->reported_up = true;
	} else {
		if (c->reported_down)
			return;
		c->reported_down = true;
	}
	pending_unlink(c);
	if (c->cb)
		c->cb(c->arg, c, err);
}

static void complete_op(struct xp_rdma_op *op, int err)
{
	op->posted = false;
	op->cb(op->arg, err);
}

/* Take the first operation off @list (not empty). */
static struct xp_rdma_op *op_pop(struct sb_list *list)
{
	struct xp_rdma_op *op =
		container_of(list->next, struct xp_rdma_op, link);

	sb_list_del(&op->link);
	return op;
}

static void abort_queued(struct xp_rdma_conn *c, int err)
{
	struct xp_rdma_op *op;

	while (!sb_list_empty(&c->queue)) {
		op = op_pop(&c->queue);
		c->nqueued--;
		complete_op(op, err);
	}
}

void xpr_conn_fail(struct xp_rdma_conn *c, int err)
{
	int derr;

	if (c->state == ST_DOWN)
		return;
	if (c->state == ST_UP || c->state == ST_CONNECTING) {
		derr = c->ops->disconnect(c->id);
		if (derr && derr != -EINVAL)
			sb_warn("rdma: disconnect: %s", strerror(-derr));
	}
	c->state = ST_DOWN;
	c->err = err ? err : -EIO;
	if (c->shut)
		sb_info("rdma: connection shut down by its owner: %s",
			strerror(-c->err));
	else if (!c->reported_down)
		sb_err_rl("rdma: connection down: %s", strerror(-c->err));
	abort_queued(c, -ECONNABORTED);
	xpr_report(c, c->err);
}

/*
 * Create the PD, completion channel, CQ, QP and pool on @c's device, the
 * pool registered with @access; on a gateway asking for windows on a
 * device that has type 2 ones, the pool gets local write and window
 * binding only, one window per buffer, and the QP and CQ room for a bind
 * and an invalidate per buffer (at most one of the two is ever in flight
 * for a buffer; credits bound them in any case).
 */
static int conn_setup(struct xp_rdma_conn *c, unsigned int access)
{
	const struct xp_verbs_ops *ops = c->ops;
	struct xp_verbs_qp_cap cap;
	struct ibv_context *dev = ops->id_device(c->id);
	uint32_t want;
	int err;

	if (!dev)
		return -ENODEV;
	err = ops->query_caps(dev, &c->caps);
	if (err)
		return err;
	want = c->params.max_ops;
	if (c->params.windows && !c->lst && c->caps.mw_type2) {
		c->windows = true;
		access = XP_VERBS_ACC_LOCAL_WRITE | XP_VERBS_ACC_MW_BIND;
		want += 2 * c->params.pool_count;
	}
	if (c->caps.max_qp_wr && want > c->caps.max_qp_wr)
		want = c->caps.max_qp_wr;
	if (c->caps.max_cqe && want > c->caps.max_cqe)
		want = c->caps.max_cqe;
	if (!want)
		return -ENOTSUP;
	c->pd = ops->alloc_pd(dev);
	if (!c->pd)
		return errno ? -errno : -ENOMEM;
	c->cch = ops->create_comp_channel(dev);
	if (!c->cch)
		return errno ? -errno : -ENOMEM;
	/* One entry per possible send: a CQ never overflows under credits. */
	c->cq = ops->create_cq(dev, (int)want, c->cch);
	if (!c->cq)
		return errno ? -errno : -ENOMEM;
	err = ops->req_notify_cq(c->cq);
	if (err)
		return err;
	cap.max_send_wr = want;
	cap.max_send_sge = 1;
	err = ops->create_qp(c->id, c->pd, c->cq, &cap);
	if (err)
		return err;
	c->has_qp = true;
	/* The provider may round up; the CQ was sized for what we asked. */
	c->max_posted = cap.max_send_wr < want ? cap.max_send_wr : want;
	if (!c->max_posted)
		return -ENOTSUP;
	errno = 0;
	c->pool = xp_rdma_pool_new(ops, c->pd, c->params.pool_count,
				   c->params.pool_size, access);
	if (!c->pool)
		return errno ? -errno : -ENOMEM;
	if (c->windows)
		return xpr_windows_alloc(c);
	return 0;
}

/* Undo conn_setup(), in reverse; anything not made is skipped. */
static void conn_teardown(struct xp_rdma_conn *c)
{
	int err;

	xpr_windows_dealloc(c);
	if (c->has_qp)
		c->ops->destroy_qp(c->id);
	c->has_qp = false;
	/* Windows hold a reference on the pool's MR: they go first. */
	xpr_windows_free(c);
	xp_rdma_pool_free(c->pool);
	c->pool = NULL;
	err = c->ops->destroy_cq(c->cq);
	if (err)
		sb_err("rdma: destroy_cq: %s", strerror(-err));
	c->cq = NULL;
	err = c->ops->destroy_comp_channel(c->cch);
	if (err)
		sb_err("rdma: destroy_comp_channel: %s", strerror(-err));
	c->cch = NULL;
	err = c->ops->dealloc_pd(c->pd);
	if (err)
		sb_err("rdma: dealloc_pd: %s", strerror(-err));
	c->pd = NULL;
}

static void log_exposure(const struct xp_rdma_conn *c)
{
	if (c->windows) {
		sb_info("rdma: type 2 memory windows in use: the node at the "
			"other end reaches a pool buffer only while a request "
			"of its own is in flight, from the window's bind "
			"before the request is sent to its invalidation after "
			"the answer, and only the bytes and direction of that "
			"request; the pool's registration (%u x %u bytes) "
			"grants no remote access",
			c->params.pool_count, c->params.pool_size);
		return;
	}
	/* Say exactly what the node at the other end can reach. */
	sb_warn("rdma: no memory windows in use (%s): the connection's pool "
		"(%u x %u bytes, nothing else) is readable and writable by "
		"the node at the other end for the connection's lifetime",
		!c->caps.mw_type2    ? "the device has no type 2 windows"
		: !c->params.windows ? "rdma_windows = off"
				     : "not asked for",
		c->params.pool_count, c->params.pool_size);
}

/*
 * Gateway: the route to the node is known: create the connection's
 * resources and send the connect request with the token.
 */
static void gw_route_resolved(struct xp_rdma_conn *c)
{
	const struct xp_verbs_ops *ops = c->ops;
	uint32_t resp;
	int err;

	if (ops->id_netdev) {
		err = ops->id_netdev(c->id);
		c->ifindex = err > 0 ? err : 0;
	}
	err = conn_setup(c, XP_VERBS_ACC_LOCAL_WRITE |
				    XP_VERBS_ACC_REMOTE_READ |
				    XP_VERBS_ACC_REMOTE_WRITE);
	if (err) {
		xpr_conn_fail(c, err);
		return;
	}
	/* The node's RDMA READs are served by our HCA. */
	resp = c->caps.max_qp_rd_atom > 255 ? 255 : c->caps.max_qp_rd_atom;
	err = ops->connect(c->id, c->priv, XP_RDMA_PRIV_LEN, (uint8_t)resp, 0);
	if (err) {
		xpr_conn_fail(c, err);
		return;
	}
	c->state = ST_CONNECTING;
}

void xpr_conn_cm_event(struct xp_rdma_conn *c,
		       const struct xp_verbs_cm_event *ev, int rejected,
		       int error)
{
	int err;

	switch (ev->type) {
	case XP_CM_ADDR_RESOLVED:
		if (c->state != ST_RESOLVING)
			return;
		err = c->ops->resolve_route(c->id, RESOLVE_TIMEOUT_MS);
		if (err)
			xpr_conn_fail(c, err);
		return;
	case XP_CM_ROUTE_RESOLVED:
		if (c->state == ST_RESOLVING)
			gw_route_resolved(c);
		return;
	case XP_CM_ESTABLISHED:
		if (c->state != ST_CONNECTING)
			return;
		c->state = ST_UP;
		if (!c->lst)
			log_exposure(c);
		xpr_report(c, 0);
		return;
	case XP_CM_REJECTED:
		err = rejected ? rejected : ev->status;
		xpr_conn_fail(c, err ? err : error);
		return;
	case XP_CM_ERROR:
		xpr_conn_fail(c, ev->status ? ev->status : error);
		return;
	case XP_CM_DISCONNECTED:
		xpr_conn_fail(c, -ECONNRESET);
		return;
	case XP_CM_DEVICE_REMOVAL:
		xpr_conn_fail(c, -ENODEV);
		return;
	default:
		return;
	}
}

struct xp_rdma_conn *xp_rdma_connect(const struct xp_verbs_ops *ops,
				     const struct xp_rdma_params *p,
				     const struct sockaddr *dst,
				     uint64_t gateway_id,
				     const uint8_t token[XP_RDMA_TOKEN_LEN],
				     xp_rdma_state_cb cb, void *arg)
{
	struct xp_rdma_priv pd;
	struct xp_rdma_conn *c;
	int err;

	if (!ops || !xpr_params_ok(p) || !dst || !token) {
		errno = EINVAL;
		return NULL;
	}
	c = conn_new(ops, p, ST_RESOLVING, cb, arg);
	if (!c)
		return NULL;
	c->handed = true;
	pd.gateway_id = gateway_id;
	memcpy(pd.token, token, XP_RDMA_TOKEN_LEN);
	xp_rdma_priv_encode(&pd, c->priv);
	err = xpr_cm_open(ops, &c->ch, &c->id, c);
	if (err)
		goto out_free_conn;
	err = ops->resolve_addr(c->id, dst, RESOLVE_TIMEOUT_MS);
	if (err)
		goto out_close_cm;
	return c;

out_close_cm:
	xpr_cm_close(ops, c->ch, c->id);
out_free_conn:
	free(c);
	errno = -err;
	return NULL;
}

struct xp_rdma_conn *xpr_conn_accept(struct xp_rdma_listener *l,
				     const struct xp_verbs_cm_event *ev,
				     const struct xpr_token *tk,
				     const char **why)
{
	const struct xp_verbs_ops *ops = l->ops;
	struct xp_rdma_conn *c;
	uint32_t depth;
	int err;

	c = conn_new(ops, &l->params, ST_CONNECTING, tk->cb, tk->arg);
	if (!c) {
		*why = "out of memory";
		return NULL;
	}
	c->lst = l;
	c->session = tk->session;
	c->id = ev->id;
	err = conn_setup(c, XP_VERBS_ACC_LOCAL_WRITE);
	if (err) {
		*why = "no resources";
		goto out_free_conn;
	}
	depth = c->caps.max_qp_init_rd_atom;
	if (ev->responder_resources < depth)
		depth = ev->responder_resources;
	if (!depth) {
		*why = "no RDMA READ depth";
		goto out_free_conn;
	}
	c->max_reads = depth;
	ops->set_id_context(ev->id, c);
	err = ops->accept(ev->id, 0, (uint8_t)depth);
	if (err) {
		*why = "accept failed";
		goto out_clear_context;
	}
	return c;

out_clear_context:
	ops->set_id_context(ev->id, NULL);
out_free_conn:
	conn_teardown(c);
	free(c);
	return NULL;
}

void xp_rdma_conn_free(struct xp_rdma_conn *c)
{
	struct xp_rdma_op *op;

	if (!c)
		return;
	if (c->state != ST_DOWN) {
		/* Not a failure the owner needs telling about: it asked. */
		c->reported_down = true;
		xpr_conn_fail(c, -ECONNABORTED);
	}
	pending_unlink(c);
	xpr_windows_dealloc(c);
	/* Destroying the QP ends its completions: finish what was posted. */
	if (c->has_qp)
		c->ops->destroy_qp(c->id);
	c->has_qp = false;
	while (!sb_list_empty(&c->posted_ops)) {
		op = op_pop(&c->posted_ops);
		c->posted--;
		complete_op(op, -ECONNABORTED);
	}
	c->reads_posted = 0;
	conn_teardown(c);
	xpr_cm_close(c->ops, c->ch, c->id);
	free(c);
}

static int post_op(struct xp_rdma_conn *c, struct xp_rdma_op *op)
{
	int err = c->ops->post_send(c->id, &op->wr);

	if (err)
		return err;
	op->posted = true;
	sb_list_add_head(&c->posted_ops, &op->link);
	c->posted++;
	if (op->wr.opcode == XP_VERBS_RDMA_READ)
		c->reads_posted++;
	return 0;
}

static bool has_credit(const struct xp_rdma_conn *c,
		       const struct xp_rdma_op *op)
{
	if (c->posted >= c->max_posted)
		return false;
	return op->wr.opcode != XP_VERBS_RDMA_READ ||
	       c->reads_posted < c->max_reads;
}

int xpr_submit_op(struct xp_rdma_conn *c, struct xp_rdma_op *op)
{
	int err;

	if (sb_list_empty(&c->queue) && has_credit(c, op)) {
		err = post_op(c, op);
		if (err) {
			xpr_conn_fail(c, err);
			return err;
		}
		return 0;
	}
	sb_list_add_tail(&c->queue, &op->link);
	c->nqueued++;
	return 0;
}

/* Post queued operations, in order, while credits last. */
static void drain(struct xp_rdma_conn *c)
{
	struct xp_rdma_op *op;
	int err;

	while (c->state == ST_UP && !sb_list_empty(&c->queue)) {
		op = container_of(c->queue.next, struct xp_rdma_op, link);
		if (!has_credit(c, op))
			break;
		sb_list_del(&op->link);
		c->nqueued--;
		err = post_op(c, op);
		if (err) {
			xpr_conn_fail(c, err);
			complete_op(op, err);
			return;
		}
	}
}

/* The posted operation whose work request id is @wr_id, or NULL. */
static struct xp_rdma_op *posted_find(struct xp_rdma_conn *c, uint64_t wr_id)
{
	struct sb_list *it;

	sb_list_for_each(it, &c->posted_ops) {
		struct xp_rdma_op *op =
			container_of(it, struct xp_rdma_op, link);

		if ((uintptr_t)op == wr_id)
			return op;
	}
	return NULL;
}

static void complete_wc(struct xp_rdma_conn *c, const struct xp_verbs_wc *wc)
{
	struct xp_rdma_op *op = posted_find(c, wc->wr_id);

	if (!op) {
		sb_err_rl("rdma: completion for an unknown operation");
		return;
	}
	sb_list_del(&op->link);
	c->posted--;
	if (op->wr.opcode == XP_VERBS_RDMA_READ)
		c->reads_posted--;
	if (!wc->status && op->wr.opcode == XP_VERBS_RDMA_READ &&
	    wc->byte_len != op->wr.length) {
		xpr_conn_fail(c, -EIO);
		complete_op(op, -EIO);
		return;
	}
	if (wc->status)
		xpr_conn_fail(c, wc->status);
	complete_op(op, wc->status);
}

static void cq_service(struct xp_rdma_conn *c)
{
	struct xp_verbs_wc wc[POLL_BATCH];
	unsigned int nev = 0;
	int got, i, err;

	while (c->ops->get_cq_event(c->cch) == 0)
		nev++;
	if (nev)
		c->ops->ack_cq_events(c->cq, nev);
	/* Re-arm before polling so no completion slips between the two. */
	err = c->ops->req_notify_cq(c->cq);
	if (err)
		xpr_conn_fail(c, err);
	while ((got = c->ops->poll_cq(c->cq, POLL_BATCH, wc)) > 0)
		for (i = 0; i < got; i++)
			complete_wc(c, &wc[i]);
	if (got < 0)
		xpr_conn_fail(c, got);
	drain(c);
}

int xp_rdma_conn_service(struct xp_rdma_conn *c)
{
	struct xp_verbs_cm_event ev;
	int err;

	if (c->ch) {
		while ((err = c->ops->get_cm_event(c->ch, &ev)) == 0) {
			xpr_conn_cm_event(c, &ev, GW_REJECTED, GW_CM_ERROR);
			c->ops->ack_cm_event(&ev);
		}
		if (err != -EAGAIN)
			xpr_conn_fail(c, err);
	}
	if (c->cq)
		cq_service(c);
	return c->state == ST_DOWN ? c->err : 0;
}

void xp_rdma_conn_shutdown(struct xp_rdma_conn *c, int err)
{
	/* Expected (a link went down): not logged as an error. */
	if (c->state != ST_DOWN)
		c->shut = true;
	xpr_conn_fail(c, err < 0 ? err : -ENETDOWN);
}

int xp_rdma_conn_ifindex(const struct xp_rdma_conn *c)
{
	return c->ifindex;
}

int xp_rdma_conn_cm_fd(const struct xp_rdma_conn *c)
{
	return c->ch ? c->ops->event_channel_fd(c->ch) : -1;
}

int xp_rdma_conn_cq_fd(const struct xp_rdma_conn *c)
{
	return c->cch ? c->ops->comp_channel_fd(c->cch) : -1;
}

struct xp_rdma_pool *xp_rdma_conn_pool(struct xp_rdma_conn *c)
{
	return c->pool;
}

bool xp_rdma_conn_is_up(const struct xp_rdma_conn *c)
{
	return c->state == ST_UP;
}

void xp_rdma_conn_credits(const struct xp_rdma_conn *c,
			  struct xp_rdma_credits *cr)
{
	cr->posted = c->posted;
	cr->reads_posted = c->reads_posted;
	cr->max_posted = c->max_posted;
	cr->max_reads = c->max_reads;
	cr->queued = c->nqueued;
}

int xp_rdma_move(struct xp_rdma_conn *c, struct xp_rdma_op *op,
		 enum xp_rdma_dir dir, const struct xp_rdma_desc *d,
		 uint32_t desc_off, const struct xp_rdma_buf *local,
		 uint32_t local_off, uint32_t len, xp_rdma_done_cb cb,
		 void *arg)
{
	const struct xp_rdma_pool *p = c->pool;

	if (!len || !cb || (dir != XP_RDMA_PULL && dir != XP_RDMA_PUSH))
		return -EINVAL;
	if (desc_off > d->len || len > d->len - desc_off)
		return -EINVAL;
	if (d->addr > UINT64_MAX - d->len)
		return -EINVAL;
	if (c->state != ST_UP)
		return -ENOTCONN;
	if (local->index >= p->count || &p->bufs[local->index] != local ||
	    local_off > local->size || len > local->size - local_off)
		return -EINVAL;
	if (dir == XP_RDMA_PULL && !c->max_reads)
		return -EOPNOTSUPP;
	memset(op, 0, sizeof(*op));
	op->wr.wr_id = (uintptr_t)op;
	op->wr.opcode = dir == XP_RDMA_PULL ? XP_VERBS_RDMA_READ
					    : XP_VERBS_RDMA_WRITE;
	op->wr.local_addr = local->iova + local_off;
	op->wr.length = len;
	op->wr.lkey = p->lkey;
	op->wr.remote_addr = d->addr + desc_off;
	op->wr.rkey = d->key;
	op->cb = cb;
	op->arg = arg;
	return xpr_submit_op(c, op);
}
