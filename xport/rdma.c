/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA payload transport (docs/protocol.md "RDMA payload", docs/rdma.md).
 *
 * Every verbs and rdma_cm call goes through struct xp_verbs_ops; this file
 * holds the policy: which token a node accepts, how pools are registered
 * (one MR per pool at a random IOVA base above any user address), how
 * many operations a QP may hold (credits), and what a failure does (the
 * connection goes down, queued operations are aborted, posted ones
 * complete by flush, and the owner falls back to inline payload).
 *
 * Connection states:   RESOLVING -> CONNECTING -> UP -> DOWN
 * (node side starts at CONNECTING, after its accept). DOWN is final: the
 * owner frees the connection and, if it wants, asks for a new offer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "xport/auth.h"
#include "xport/rdma.h"

#define PAGE 4096u
#define IOVA_ALIGN (2u << 20)
/* Above every user virtual address (47 or 56 bits), so never one of them. */
#define IOVA_TOP_BIT (1ull << 62)
#define POOL_MAX_BYTES (64ull << 30)
#define RESOLVE_TIMEOUT_MS 2000
#define POLL_BATCH 16
/* What an rdma_cm rejection or error without a status reports. */
#define GW_REJECTED (-ECONNREFUSED) /* the node refused our token */
#define GW_CM_ERROR (-EHOSTUNREACH) /* address, route or connect error */
#define NODE_REJECTED 0 /* the event's status */
#define NODE_CM_ERROR (-ECONNABORTED)

/* ---- wire codecs ------------------------------------------------------ */

enum {
	PD_MAGIC = 0,
	PD_VERSION = 4,
	PD_RSVD = 5,
	PD_GW_ID = 8,
	PD_TOKEN = 16,
};

_Static_assert(PD_TOKEN + XP_RDMA_TOKEN_LEN == XP_RDMA_PRIV_LEN, "private data "
								 "layout");
_Static_assert(XP_RDMA_PRIV_LEN <= XP_VERBS_PRIV_MAX, "fits a REQ");
_Static_assert(XP_RDMA_TOKEN_LEN == XP_NONCE_LEN, "tokens are nonces");

void xp_rdma_priv_encode(const struct xp_rdma_priv *p, uint8_t *buf)
{
	memset(buf, 0, XP_RDMA_PRIV_LEN);
	xp_put_be32(buf + PD_MAGIC, XP_RDMA_PRIV_MAGIC);
	buf[PD_VERSION] = XP_RDMA_PRIV_VERSION;
	xp_put_be64(buf + PD_GW_ID, p->gateway_id);
	memcpy(buf + PD_TOKEN, p->token, XP_RDMA_TOKEN_LEN);
}

int xp_rdma_priv_decode(const void *data, size_t len, struct xp_rdma_priv *p)
{
	const uint8_t *b = data;

	size_t i;

	/*
	 * On IB and RoCE the passive side gets the REQ's whole private data
	 * area (XP_VERBS_PRIV_MAX bytes), ours then zeros: accept that much
	 * padding, and only zeros in it.
	 */
	if (!b || len < XP_RDMA_PRIV_LEN || len > XP_VERBS_PRIV_MAX)
		return -EBADMSG;
	for (i = XP_RDMA_PRIV_LEN; i < len; i++)
		if (b[i])
			return -EBADMSG;
	if (xp_get_be32(b + PD_MAGIC) != XP_RDMA_PRIV_MAGIC ||
	    b[PD_VERSION] != XP_RDMA_PRIV_VERSION || b[PD_RSVD] ||
	    b[PD_RSVD + 1] || b[PD_RSVD + 2])
		return -EBADMSG;
	p->gateway_id = xp_get_be64(b + PD_GW_ID);
	memcpy(p->token, b + PD_TOKEN, XP_RDMA_TOKEN_LEN);
	return 0;
}

int xp_rdma_desc_from_hdr(const struct xp_hdr *h, struct xp_rdma_desc *d)
{
	uint32_t len = h->desc_len;
	uint64_t addr = h->desc_addr;

	if (h->flags & XP_F_RESP)
		return -EPROTO;
	if (h->opcode != XP_OP_READ && h->opcode != XP_OP_WRITE)
		return -EPROTO;
	if (h->desc_xport != XP_DESC_RDMA || h->payload_len)
		return -EPROTO;
	if (!len || len != h->length || len > XP_MAX_IO)
		return -EPROTO;
	if (addr > UINT64_MAX - len)
		return -EPROTO;
	d->key = h->desc_key;
	d->addr = addr;
	d->len = len;
	return 0;
}

/* A random IOVA base: 2 MiB aligned, in [2^62, 2^62 + 2^61): never a VA. */
static int random_iova(uint64_t *iova)
{
	uint64_t v;
	ssize_t r;

	r = getrandom(&v, sizeof(v), 0);
	if (r < 0)
		return -errno;
	if (r != (ssize_t)sizeof(v))
		return -EIO;
	/* Below 2^61, so base + POOL_MAX_BYTES stays under 2^63. */
	v &= (IOVA_TOP_BIT >> 1) - 1;
	v &= ~(uint64_t)(IOVA_ALIGN - 1);
	*iova = IOVA_TOP_BIT | v;
	return 0;
}

/* ---- registered buffer pool ------------------------------------------ */

struct xp_rdma_pool {
	const struct xp_verbs_ops *ops;
	struct ibv_mr *mr; /* one registration over mem */
	void *mem; /* count * size bytes, page aligned */
	uint32_t count; /* buffers */
	uint32_t size; /* bytes per buffer */
	uint32_t nfree; /* buffers on the free list */
	uint64_t base; /* IOVA of mem[0] */
	uint32_t lkey, rkey;
	struct xp_rdma_buf *bufs; /* count descriptors */
	struct sb_list free; /* free buffers, the last one put back first */
	struct sb_list waiters; /* FIFO of struct xp_rdma_wait */
};

struct xp_rdma_pool *xp_rdma_pool_new(const struct xp_verbs_ops *ops,
				      struct ibv_pd *pd, uint32_t count,
				      uint32_t size, unsigned int access)
{
	uint64_t bytes = (uint64_t)count * size;
	struct xp_rdma_pool *p;
	uint32_t i;
	int err;

	if (!ops || !pd || !count || !size || size % PAGE ||
	    bytes > POOL_MAX_BYTES) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ops = ops;
	p->count = count;
	p->size = size;
	sb_list_init(&p->free);
	sb_list_init(&p->waiters);
	p->bufs = calloc(count, sizeof(*p->bufs));
	if (!p->bufs)
		goto out_free_pool;
	err = posix_memalign(&p->mem, PAGE, bytes);
	if (err) {
		p->mem = NULL;
		errno = err;
		goto out_free_bufs;
	}
	/* The peer may read the whole pool: never expose stale heap data. */
	memset(p->mem, 0, bytes);
	err = random_iova(&p->base);
	if (err) {
		errno = -err;
		goto out_free_mem;
	}
	p->mr = ops->reg_mr_iova(pd, p->mem, bytes, p->base, access);
	if (!p->mr) {
		err = errno ? errno : EIO;
		sb_err("rdma: registering a pool of %u x %u bytes: %s", count,
		       size, strerror(err));
		errno = err;
		goto out_free_mem;
	}
	p->lkey = ops->mr_lkey(p->mr);
	p->rkey = ops->mr_rkey(p->mr);
	for (i = 0; i < count; i++) {
		struct xp_rdma_buf *b = &p->bufs[i];

		b->data = (uint8_t *)p->mem + (size_t)i * size;
		b->size = size;
		b->index = i;
		b->iova = p->base + (uint64_t)i * size;
		sb_list_add_tail(&p->free, &b->link);
	}
	p->nfree = count;
	return p;

out_free_mem:
	free(p->mem);
out_free_bufs:
	free(p->bufs);
out_free_pool:
	err = errno;
	free(p);
	errno = err;
	return NULL;
}

/* Take the first waiter off @p's queue. */
static struct xp_rdma_wait *pool_unqueue(struct xp_rdma_pool *p)
{
	struct xp_rdma_wait *w;

	w = container_of(p->waiters.next, struct xp_rdma_wait, link);
	sb_list_del(&w->link);
	w->queued = false;
	return w;
}

void xp_rdma_pool_free(struct xp_rdma_pool *p)
{
	struct xp_rdma_wait *w;
	int err;

	if (!p)
		return;
	while (!sb_list_empty(&p->waiters)) {
		w = pool_unqueue(p);
		w->cb(w->arg, NULL);
	}
	if (p->nfree != p->count)
		sb_err("rdma: pool freed with %u of %u buffers in use",
		       p->count - p->nfree, p->count);
	err = p->ops->dereg_mr(p->mr);
	if (err)
		sb_err("rdma: deregistering a pool: %s", strerror(-err));
	free(p->mem);
	free(p->bufs);
	free(p);
}

struct xp_rdma_buf *xp_rdma_pool_get(struct xp_rdma_pool *p,
				     struct xp_rdma_wait *w, xp_rdma_buf_cb cb,
				     void *arg)
{
	struct xp_rdma_buf *b;

	/* Waiters first: a newcomer never overtakes the queue. */
	if (!sb_list_empty(&p->free) && sb_list_empty(&p->waiters)) {
		b = container_of(p->free.next, struct xp_rdma_buf, link);
		sb_list_del(&b->link);
		p->nfree--;
		return b;
	}
	w->cb = cb;
	w->arg = arg;
	w->queued = true;
	sb_list_add_tail(&p->waiters, &w->link);
	return NULL;
}

void xp_rdma_pool_cancel(struct xp_rdma_pool *p, struct xp_rdma_wait *w)
{
	(void)p;
	if (!w->queued)
		return;
	sb_list_del(&w->link);
	w->queued = false;
}

void xp_rdma_pool_put(struct xp_rdma_pool *p, struct xp_rdma_buf *b)
{
	struct xp_rdma_wait *w;

	if (b->index >= p->count || &p->bufs[b->index] != b) {
		sb_err("rdma: buffer %p is not from this pool", (void *)b);
		return;
	}
	if (!sb_list_empty(&p->waiters)) {
		w = pool_unqueue(p);
		w->cb(w->arg, b);
		return;
	}
	sb_list_add_head(&p->free, &b->link);
	p->nfree++;
}

int xp_rdma_pool_describe(const struct xp_rdma_pool *p,
			  const struct xp_rdma_buf *b, uint32_t off,
			  uint32_t len, struct xp_hdr *h)
{
	if (b->index >= p->count || &p->bufs[b->index] != b)
		return -EINVAL;
	if (!len || off > b->size || len > b->size - off)
		return -EINVAL;
	h->desc_xport = XP_DESC_RDMA;
	h->desc_key = p->rkey;
	h->desc_addr = b->iova + off;
	h->desc_len = len;
	return 0;
}

uint32_t xp_rdma_pool_count(const struct xp_rdma_pool *p)
{
	return p->count;
}

uint32_t xp_rdma_pool_nfree(const struct xp_rdma_pool *p)
{
	return p->nfree;
}

uint64_t xp_rdma_pool_base(const struct xp_rdma_pool *p)
{
	return p->base;
}

uint32_t xp_rdma_pool_lkey(const struct xp_rdma_pool *p)
{
	return p->lkey;
}

uint32_t xp_rdma_pool_rkey(const struct xp_rdma_pool *p)
{
	return p->rkey;
}

/* ---- connections ------------------------------------------------------ */

enum conn_state {
	ST_RESOLVING, /* gateway: address and route */
	ST_CONNECTING, /* connect request sent, or accepted (node) */
	ST_UP,
	ST_DOWN, /* final */
};

enum win_state {
	WIN_FREE, /* unbound: grants nothing */
	WIN_BINDING, /* bind posted or queued */
	WIN_BOUND, /* grants its range under rkey */
	WIN_INVALIDATING, /* local invalidate posted or queued */
};

/* The memory window of one pool buffer (gateway, windows in use). */
struct win {
	struct xp_rdma_conn *c;
	struct ibv_mw *mw;
	struct xp_rdma_buf *buf; /* the buffer it opens onto while not FREE */
	enum win_state st;
	uint32_t off, len; /* bound range within buf */
	uint32_t rkey; /* key of the current (or last) binding */
	struct xp_rdma_op op; /* the bind or invalidate in flight */
	xp_rdma_grant_cb cb; /* the grant's owner */
	void *arg;
};

struct xp_rdma_conn {
	const struct xp_verbs_ops *ops;
	struct xp_rdma_params params;
	struct xp_rdma_listener *lst; /* node side: the listener, else NULL */
	struct sb_list lnode; /* on the listener's pending list until handed */
	const void *session; /* node side: the TCP session it belongs to */
	struct rdma_event_channel *ch; /* gateway only: its own channel */
	struct rdma_cm_id *id;
	struct xp_verbs_caps caps;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cch;
	struct ibv_cq *cq;
	bool has_qp;
	struct xp_rdma_pool *pool;
	uint8_t priv[XP_RDMA_PRIV_LEN]; /* gateway: the connect request's */
	int ifindex; /* net device under it (gateway, route resolved), or 0 */
	enum conn_state state;
	int err; /* why it went down */
	bool reported_up, reported_down;
	bool shut; /* taken down by its owner (xp_rdma_conn_shutdown) */
	bool handed; /* node side: the owner has it */
	xp_rdma_state_cb cb;
	void *arg;
	/* credits */
	uint32_t max_posted; /* send queue depth we use */
	uint32_t max_reads; /* RDMA READs in flight (initiator depth) */
	uint32_t posted, reads_posted, nqueued;
	struct sb_list queue; /* ops waiting for a credit, FIFO */
	struct sb_list posted_ops; /* ops on the QP, the last posted first */
	/* gateway, type 2 memory windows (docs/rdma.md) */
	bool windows; /* in use: the pool MR grants no remote access */
	struct win *wins; /* pool_count, window i opens onto buffer i */
	uint64_t binds, invalidates; /* completed successfully */
};

struct token {
	uint8_t token[XP_RDMA_TOKEN_LEN];
	const void *session; /* NULL: slot free */
	uint64_t gateway_id;
	uint64_t expires_ms;
	xp_rdma_state_cb cb;
	void *arg;
};

struct xp_rdma_listener {
	const struct xp_verbs_ops *ops;
	struct xp_rdma_params params;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	uint64_t (*now_ms)(void);
	struct sb_list pending; /* accepted conns not handed to an owner */
	uint64_t refused;
	int dead; /* set when the device went away */
	struct token toks[XP_RDMA_TOKENS_MAX];
};

static bool params_ok(const struct xp_rdma_params *p)
{
	return p && p->max_ops && p->max_ops <= 4096 && p->pool_count &&
	       p->pool_size && !(p->pool_size % PAGE) &&
	       (uint64_t)p->pool_count * p->pool_size <= POOL_MAX_BYTES;
}

static void pending_unlink(struct xp_rdma_conn *c)
{
	if (!c->lst || c->handed)
		return;
	sb_list_del(&c->lnode);
	c->handed = true;
}

/* A connection of either side, before its resources: NULL when out of memory. */
static struct xp_rdma_conn *conn_new(const struct xp_verbs_ops *ops,
				     const struct xp_rdma_params *p,
				     enum conn_state state, xp_rdma_state_cb cb,
				     void *arg)
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

/* Tell the owner, at most once per kind; the first call hands it over. */
static void report(struct xp_rdma_conn *c, int err)
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

/*
 * Take @c down with @err: stop posting, move the QP to the error state so
 * posted operations flush, abort the queued ones, tell the owner.
 */
static void conn_fail(struct xp_rdma_conn *c, int err)
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
	report(c, c->err);
}

/* Allocate one type 2 window per pool buffer of @c. */
static int windows_alloc(struct xp_rdma_conn *c)
{
	uint32_t i, n = c->params.pool_count;

	c->wins = calloc(n, sizeof(*c->wins));
	if (!c->wins)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct win *w = &c->wins[i];

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
 * until windows_free: operations still posted name its entries.
 */
static void windows_dealloc(struct xp_rdma_conn *c)
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

static void windows_free(struct xp_rdma_conn *c)
{
	if (!c->wins)
		return;
	windows_dealloc(c);
	free(c->wins);
	c->wins = NULL;
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
		return windows_alloc(c);
	return 0;
}

/* Undo conn_setup(), in reverse; anything not made is skipped. */
static void conn_teardown(struct xp_rdma_conn *c)
{
	int err;

	windows_dealloc(c);
	if (c->has_qp)
		c->ops->destroy_qp(c->id);
	c->has_qp = false;
	/* Windows hold a reference on the pool's MR: they go first. */
	windows_free(c);
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
		conn_fail(c, err);
		return;
	}
	/* The node's RDMA READs are served by our HCA. */
	resp = c->caps.max_qp_rd_atom > 255 ? 255 : c->caps.max_qp_rd_atom;
	err = ops->connect(c->id, c->priv, XP_RDMA_PRIV_LEN, (uint8_t)resp, 0);
	if (err) {
		conn_fail(c, err);
		return;
	}
	c->state = ST_CONNECTING;
}

/*
 * An rdma_cm event of @c, on either side. Address and route resolution
 * only concern a gateway connection (the node's start at CONNECTING). A
 * rejection takes @c down with @rejected, or with the event's status when
 * @rejected is 0; an error event with its status, else with @error.
 */
static void conn_cm_event(struct xp_rdma_conn *c,
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
			conn_fail(c, err);
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
		report(c, 0);
		return;
	case XP_CM_REJECTED:
		err = rejected ? rejected : ev->status;
		conn_fail(c, err ? err : error);
		return;
	case XP_CM_ERROR:
		conn_fail(c, ev->status ? ev->status : error);
		return;
	case XP_CM_DISCONNECTED:
		conn_fail(c, -ECONNRESET);
		return;
	case XP_CM_DEVICE_REMOVAL:
		conn_fail(c, -ENODEV);
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

	if (!ops || !params_ok(p) || !dst || !token) {
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
	c->ch = ops->create_event_channel();
	if (!c->ch) {
		err = errno ? -errno : -ENOMEM;
		goto out_free_conn;
	}
	err = ops->create_id(c->ch, &c->id, c);
	if (err)
		goto out_destroy_channel;
	err = ops->resolve_addr(c->id, dst, RESOLVE_TIMEOUT_MS);
	if (err)
		goto out_destroy_id;
	return c;

out_destroy_id:
	ops->destroy_id(c->id);
out_destroy_channel:
	ops->destroy_event_channel(c->ch);
out_free_conn:
	free(c);
	errno = -err;
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
		conn_fail(c, -ECONNABORTED);
	}
	pending_unlink(c);
	windows_dealloc(c);
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
	c->ops->destroy_id(c->id);
	c->ops->destroy_event_channel(c->ch);
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

/*
 * Post @op now if a credit is free and nobody is queued, else queue it
 * (FIFO). 0, or a failed post's error, the connection then down.
 */
static int submit_op(struct xp_rdma_conn *c, struct xp_rdma_op *op)
{
	int err;

	if (sb_list_empty(&c->queue) && has_credit(c, op)) {
		err = post_op(c, op);
		if (err) {
			conn_fail(c, err);
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
			conn_fail(c, err);
			complete_op(op, err);
			return;
		}
	}
}

static void complete_wc(struct xp_rdma_conn *c, const struct xp_verbs_wc *wc)
{
	struct xp_rdma_op *op = NULL;
	struct sb_list *it;

	sb_list_for_each(it, &c->posted_ops)
	{
		if ((uintptr_t)container_of(it, struct xp_rdma_op, link) ==
		    wc->wr_id) {
			op = container_of(it, struct xp_rdma_op, link);
			break;
		}
	}
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
		conn_fail(c, -EIO);
		complete_op(op, -EIO);
		return;
	}
	if (wc->status)
		conn_fail(c, wc->status);
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
		conn_fail(c, err);
	while ((got = c->ops->poll_cq(c->cq, POLL_BATCH, wc)) > 0)
		for (i = 0; i < got; i++)
			complete_wc(c, &wc[i]);
	if (got < 0)
		conn_fail(c, got);
	drain(c);
}

int xp_rdma_conn_service(struct xp_rdma_conn *c)
{
	struct xp_verbs_cm_event ev;
	int err;

	if (c->ch) {
		while ((err = c->ops->get_cm_event(c->ch, &ev)) == 0) {
			conn_cm_event(c, &ev, GW_REJECTED, GW_CM_ERROR);
			c->ops->ack_cm_event(&ev);
		}
		if (err != -EAGAIN)
			conn_fail(c, err);
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
	conn_fail(c, err < 0 ? err : -ENETDOWN);
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
	return submit_op(c, op);
}

/* ---- memory windows (gateway) ------------------------------------------ */

static bool buf_of_pool(const struct xp_rdma_pool *p,
			const struct xp_rdma_buf *b)
{
	return p && b && b->index < p->count && &p->bufs[b->index] == b;
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
	struct win *w = arg;

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
	struct win *w = arg;
	struct xp_rdma_buf *b = w->buf;

	/*
	 * Failed or flushed: the connection is down (complete_wc), its QP
	 * in error, and its pool is never granted again: the buffer can go
	 * back for the owner to free the connection.
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
	struct win *w;
	int err;

	if (!c->windows)
		return -EOPNOTSUPP;
	if (!cb || !len ||
	    (access != XP_VERBS_ACC_REMOTE_READ &&
	     access != XP_VERBS_ACC_REMOTE_WRITE))
		return -EINVAL;
	if (!buf_of_pool(c->pool, b) || off > b->size || len > b->size - off)
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
	err = submit_op(c, &w->op);
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
	const struct win *w;
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
	struct win *w;
	int err;

	if (!buf_of_pool(c->pool, b)) {
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
		conn_fail(c, -EINVAL);
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
	err = submit_op(c, &w->op);
	if (err) {
		/* submit_op took the connection down: see above. */
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

/* ---- node: listener and tokens --------------------------------------- */

struct xp_rdma_listener *xp_rdma_listen(const struct xp_verbs_ops *ops,
					const struct sockaddr *addr,
					const struct xp_rdma_params *p)
{
	struct xp_rdma_listener *l;
	int err;

	if (!ops || !addr || !params_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->ops = ops;
	l->params = *p;
	l->now_ms = sb_now_ms;
	sb_list_init(&l->pending);
	l->ch = ops->create_event_channel();
	if (!l->ch) {
		err = errno ? -errno : -ENOMEM;
		goto out_free_listener;
	}
	err = ops->create_id(l->ch, &l->id, l);
	if (err)
		goto out_destroy_channel;
	err = ops->bind_addr(l->id, addr);
	if (err)
		goto out_destroy_id;
	err = ops->listen(l->id, 64);
	if (err)
		goto out_destroy_id;
	return l;

out_destroy_id:
	ops->destroy_id(l->id);
out_destroy_channel:
	ops->destroy_event_channel(l->ch);
out_free_listener:
	free(l);
	errno = -err;
	return NULL;
}

void xp_rdma_listener_free(struct xp_rdma_listener *l)
{
	if (!l)
		return;
	while (!sb_list_empty(&l->pending))
		xp_rdma_conn_free(container_of(l->pending.next,
					       struct xp_rdma_conn, lnode));
	l->ops->destroy_id(l->id);
	l->ops->destroy_event_channel(l->ch);
	explicit_bzero(l->toks, sizeof(l->toks));
	free(l);
}

int xp_rdma_listener_fd(const struct xp_rdma_listener *l)
{
	return l->ops->event_channel_fd(l->ch);
}

void xp_rdma_listener_set_clock(struct xp_rdma_listener *l,
				uint64_t (*now_ms)(void))
{
	l->now_ms = now_ms ? now_ms : sb_now_ms;
}

uint64_t xp_rdma_listener_refused(const struct xp_rdma_listener *l)
{
	return l->refused;
}

static void token_clear(struct token *t)
{
	explicit_bzero(t, sizeof(*t));
}

int xp_rdma_token_issue(struct xp_rdma_listener *l, const void *session,
			uint64_t gateway_id, xp_rdma_state_cb cb, void *arg,
			uint8_t token[XP_RDMA_TOKEN_LEN])
{
	uint64_t now = l->now_ms();
	struct token *slot = NULL;
	unsigned int i;
	int err;

	if (!session)
		return -EINVAL;
	xp_rdma_token_revoke(l, session);
	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		struct token *t = &l->toks[i];

		if (t->session && now > t->expires_ms)
			token_clear(t);
		if (!t->session && !slot)
			slot = t;
	}
	if (!slot)
		return -EAGAIN;
	err = xp_auth_nonce(slot->token);
	if (err) {
		token_clear(slot);
		return err;
	}
	slot->session = session;
	slot->gateway_id = gateway_id;
	slot->expires_ms = now + XP_RDMA_TOKEN_TTL_MS;
	slot->cb = cb;
	slot->arg = arg;
	memcpy(token, slot->token, XP_RDMA_TOKEN_LEN);
	return 0;
}

int xp_rdma_token_revoke(struct xp_rdma_listener *l, const void *session)
{
	struct sb_list *it, *next;
	unsigned int i;
	int n = 0;

	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		if (session && l->toks[i].session == session) {
			token_clear(&l->toks[i]);
			n++;
		}
	}
	sb_list_for_each_safe(it, next, &l->pending)
	{
		struct xp_rdma_conn *c =
			container_of(it, struct xp_rdma_conn, lnode);

		if (c->session == session)
			xp_rdma_conn_free(c);
	}
	return n;
}

int xp_rdma_token_confirm(struct xp_rdma_listener *l, const void *session)
{
	struct xp_rdma_conn *c;
	struct sb_list *it;

	sb_list_for_each(it, &l->pending)
	{
		c = container_of(it, struct xp_rdma_conn, lnode);
		if (c->session != session || c->state != ST_CONNECTING)
			continue;
		/* rdma_accept left the QP ready to send (RTS). */
		c->state = ST_UP;
		report(c, 0);
		return 1;
	}
	return 0;
}

/* Find the live token equal to @tok, comparing every slot in full. */
static struct token *token_find(struct xp_rdma_listener *l, const uint8_t *tok)
{
	struct token *found = NULL;
	unsigned int i;

	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++) {
		struct token *t = &l->toks[i];

		if (t->session && xp_auth_equal(t->token, tok) && !found)
			found = t;
	}
	return found;
}

/*
 * A connect request: accept it only for a token issued here, unspent,
 * unexpired, presented by the gateway of the session it was issued to.
 * Returns the id to destroy once the event is acknowledged (refused or
 * failed), or NULL when a connection now owns it.
 */
static struct rdma_cm_id *on_request(struct xp_rdma_listener *l,
				     const struct xp_verbs_cm_event *ev)
{
	const struct xp_verbs_ops *ops = l->ops;
	struct xp_rdma_priv pd;
	struct xp_rdma_conn *c;
	struct token tk, *t;
	const char *why;
	uint32_t depth;
	int err;

	if (xp_rdma_priv_decode(ev->priv, ev->priv_len, &pd)) {
		why = "malformed private data";
		goto out_reject;
	}
	t = token_find(l, pd.token);
	if (!t) {
		why = "unknown or spent token";
		goto out_reject;
	}
	/* Spent now, whatever happens next: a token is tried once. */
	tk = *t;
	token_clear(t);
	if (l->now_ms() > tk.expires_ms) {
		why = "expired token";
		goto out_reject_tk;
	}
	if (tk.gateway_id != pd.gateway_id) {
		why = "token of another session";
		goto out_reject_tk;
	}
	c = conn_new(ops, &l->params, ST_CONNECTING, tk.cb, tk.arg);
	if (!c) {
		why = "out of memory";
		goto out_reject_tk;
	}
	c->lst = l;
	c->session = tk.session;
	c->id = ev->id;
	err = conn_setup(c, XP_VERBS_ACC_LOCAL_WRITE);
	if (err) {
		why = "no resources";
		goto out_free_conn;
	}
	depth = c->caps.max_qp_init_rd_atom;
	if (ev->responder_resources < depth)
		depth = ev->responder_resources;
	if (!depth) {
		why = "no RDMA READ depth";
		goto out_free_conn;
	}
	c->max_reads = depth;
	ops->set_id_context(ev->id, c);
	err = ops->accept(ev->id, 0, (uint8_t)depth);
	if (err) {
		why = "accept failed";
		goto out_clear_context;
	}
	sb_list_add_head(&l->pending, &c->lnode);
	explicit_bzero(&tk, sizeof(tk));
	return NULL;

out_clear_context:
	ops->set_id_context(ev->id, NULL);
out_free_conn:
	conn_teardown(c);
	free(c);
out_reject_tk:
	explicit_bzero(&tk, sizeof(tk));
out_reject:
	l->refused++;
	sb_err_rl("rdma: refused a connect request: %s", why);
	err = ops->reject(ev->id);
	if (err)
		sb_err_rl("rdma: reject: %s", strerror(-err));
	return ev->id;
}

int xp_rdma_listener_service(struct xp_rdma_listener *l)
{
	const struct xp_verbs_ops *ops = l->ops;
	struct xp_verbs_cm_event ev;
	struct rdma_cm_id *drop;
	struct xp_rdma_conn *c;
	int err;

	while ((err = ops->get_cm_event(l->ch, &ev)) == 0) {
		drop = NULL;
		if (ev.type == XP_CM_CONNECT_REQUEST) {
			drop = on_request(l, &ev);
		} else if (ev.id == l->id) {
			if (ev.type == XP_CM_DEVICE_REMOVAL)
				l->dead = -ENODEV;
		} else {
			c = ops->id_context(ev.id);
			if (c)
				conn_cm_event(c, &ev, NODE_REJECTED,
					      NODE_CM_ERROR);
		}
		ops->ack_cm_event(&ev);
		/* librdmacm: an id's events must be acked before destroying. */
		if (drop)
			ops->destroy_id(drop);
	}
	if (err != -EAGAIN)
		return err;
	return l->dead;
}
