/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RDMA payload path of a node's session (docs/protocol.md "RDMA
 * payload", docs/rdma.md): when this host has an RDMA device and
 * [cluster] rdma is not off, HELLO carries XP_FEAT_RDMA. After AUTH, a
 * node whose HELLO did too gets RDMA_OFFER; its token goes into
 * xp_rdma_connect(). Per node:
 *
 *   RD_NONE --offer--> RD_OFFERED --OK--> RD_CONNECTING --up--> RD_UP
 *      ^                    |refused           |failed          |down
 *      `--------------------'------------------'<--- RD_DOWN <--'
 *                     (freed once no request holds a buffer; asked
 *                      again after a back-off)
 *
 * While RD_UP a READ or WRITE takes one buffer of the connection's
 * registered pool when it is sent (a dry pool holds the node's queue back:
 * back-pressure, never failure), a WRITE copies the caller's iovec into
 * it, the header carries its descriptor, and a READ answer is copied out
 * of it. The buffer comes back with the answer. An EPROTO answer puts the
 * request back at the head of the queue to go inline. A request that
 * times out while the node may still touch its buffer resets the node's
 * connections, so the QP is gone before the buffer is reused.
 *
 * Loop thread: the RDMA connection's callbacks (rdma_state_cb,
 * rdma_granted) run inside xp_rdma_conn_service() there. rdma_publish
 * writes a node's pub.payload and pub.why under e->lock.
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../iovcopy.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../../xport/conn.h"
#include "../../xport/rdma.h"
#include "../../xport/verbs.h"

/* ---- status ------------------------------------------------------------- */

static void rdma_publish(struct eng_node *n)
{
	struct sb_engine *e = n->e;
	enum sb_payload p = SB_PAYLOAD_TCP;

	if (n->rd.state == RD_UP)
		p = SB_PAYLOAD_RDMA;
	else if (n->rd.state == RD_OFFERED || n->rd.state == RD_CONNECTING)
		p = SB_PAYLOAD_PENDING;
	pthread_mutex_lock(&e->lock);
	n->pub.payload = p;
	memcpy(n->pub.why, n->rd.why, sizeof(n->pub.why));
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void eng_rdma_inline(struct eng_node *n, const char *why, bool warn)
{
	char name[SB_HOST_MAX + 32];

	if (strncmp(n->rd.why, why, sizeof(n->rd.why) - 1)) {
		snprintf(n->rd.why, sizeof(n->rd.why), "%s", why);
		eng_node_name(n, name, sizeof(name));
		if (warn)
			sb_warn("%s: payload inline on TCP: %s", name, why);
		else
			sb_info("%s: payload inline on TCP: %s", name, why);
	}
	rdma_publish(n);
}

void eng_rdma_retry_later(struct eng_node *n)
{
	n->rd.backoff_ms = n->rd.backoff_ms ? 2 * n->rd.backoff_ms
					    : ENG_RDMA_RETRY_MIN_MS;
	if (n->rd.backoff_ms > ENG_RDMA_RETRY_MAX_MS)
		n->rd.backoff_ms = ENG_RDMA_RETRY_MAX_MS;
	n->rd.retry_at = sb_now_ms() + n->rd.backoff_ms;
}

/* ---- connection --------------------------------------------------------- */

/* Poll the fds @n's RDMA connection has now (the CQ's comes later). */
static void rdma_watch(struct eng_node *n)
{
	int fd;

	if (!n->rd.conn)
		return;
	fd = xp_rdma_conn_cm_fd(n->rd.conn);
	if (n->rd.cm_fd < 0 && fd >= 0 &&
	    sb_evtag_ctl(n->e->epfd, EPOLL_CTL_ADD, fd, EPOLLIN,
			 &n->rd.cm_tag) == 0)
		n->rd.cm_fd = fd;
	fd = xp_rdma_conn_cq_fd(n->rd.conn);
	if (n->rd.cq_fd < 0 && fd >= 0 &&
	    sb_evtag_ctl(n->e->epfd, EPOLL_CTL_ADD, fd, EPOLLIN,
			 &n->rd.cq_tag) == 0)
		n->rd.cq_fd = fd;
}

void eng_rdma_free(struct eng_node *n)
{
	struct sb_engine *e = n->e;

	if (n->rd.cm_fd >= 0)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->rd.cm_fd, NULL);
	if (n->rd.cq_fd >= 0)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->rd.cq_fd, NULL);
	n->rd.cm_fd = n->rd.cq_fd = -1;
	xp_rdma_conn_free(n->rd.conn);
	n->rd.conn = NULL;
	n->rd.held = 0;
	n->rd.state = RD_NONE;
}

void eng_rdma_reclaim(struct eng_node *n, struct eng_req *r)
{
	xp_rdma_pool_put(xp_rdma_conn_pool(n->rd.conn), r->rbuf);
	r->rbuf = NULL;
	r->rd_win = RW_NONE;
	n->rd.held--;
}

void eng_rdma_release_inflight(struct eng_node *n)
{
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (r->rbuf)
			eng_rdma_reclaim(n, r);
	}
}

/*
 * Tell @n over TCP that we dropped our RDMA connection: an RDMA_OFFER,
 * which makes the node take its side down (QP first) if it still has it
 * (docs/protocol.md). Its operations in flight end at once instead of
 * after transport retries, which a dead link may never deliver, and the
 * requests holding our buffers come back EPROTO. The answer is ignored
 * (eng_rdma_on_offer matches offer_id only); a token it carries expires.
 */
static void rdma_drop_notice(struct eng_node *n)
{
	struct xp_hdr h;

	if (n->sess.state != NODE_UP || !n->sess.conn || !n->rd.node_rdma)
		return;
	xp_hdr_init(&h, XP_OP_RDMA_OFFER, n->q.next_id++, 0);
	/* A failed send shows up as the connection failing. */
	(void)xp_conn_send(n->sess.conn, &h, NULL, 0, NULL, NULL);
}

bool eng_rdma_shutdown(struct eng_node *n, int err)
{
	if (!n->rd.conn ||
	    (n->rd.state != RD_CONNECTING && n->rd.state != RD_UP))
		return false;
	/*
	 * QP into error first: the node can no longer touch the pool.
	 * Reports through rdma_state_cb, which says why.
	 */
	xp_rdma_conn_shutdown(n->rd.conn, err);
	rdma_drop_notice(n);
	return true;
}

void eng_rdma_session_end(struct eng_node *n)
{
	if (n->rd.conn)
		eng_rdma_free(n);
	n->rd.state = RD_NONE;
	n->rd.node_rdma = false;
	n->rd.retry_at = 0;
	n->rd.backoff_ms = 0;
	rdma_publish(n);
}

/*
 * @n's RDMA connection went down: requests whose window bind is still
 * posted are not waited for (a device in error need not complete the
 * bind soon); eng_rdma_send_granted releases their buffers (xp_rdma_release
 * takes them back on a connection that is down) and sends them inline.
 */
static void rdma_abandon_binds(struct eng_node *n)
{
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (r->rbuf && r->rd_win == RW_BINDING) {
			r->rd_win = RW_FAILED;
			n->rd.granted = true;
		}
	}
}

/* xp_rdma_state_cb of a node's RDMA connection. */
static void rdma_state_cb(void *arg, struct xp_rdma_conn *c, int err)
{
	struct eng_node *n = arg;
	char name[SB_HOST_MAX + 32], why[ENG_WHY_LEN];

	if (!err) {
		if (eng_link_track(n, xp_rdma_conn_ifindex(c)))
			return; /* its link is down already: taken down */
		n->rd.state = RD_UP;
		n->rd.backoff_ms = 0;
		n->rd.why[0] = '\0';
		sb_info("%s: payload by RDMA, %s",
			eng_node_name(n, name, sizeof(name)),
			xp_rdma_conn_windows(c) ? "a memory window per request"
						: "the whole pool exposed (no "
						  "windows)");
		rdma_publish(n);
		return;
	}
	/* Freed from the loop once no request holds one of its buffers. */
	n->rd.state = RD_DOWN;
	rdma_abandon_binds(n);
	if (n->rd.link_down)
		eng_link_why(n, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "RDMA connection: %s",
			 strerror(-err));
	eng_rdma_inline(n, why, true);
}

/* Send RDMA_OFFER to @n (up, both HELLOs with XP_FEAT_RDMA). */
static void rdma_offer(struct eng_node *n)
{
	struct xp_hdr h;

	n->rd.retry_at = 0;
	n->rd.offer_now = false;
	n->rd.offer_id = n->q.next_id++;
	xp_hdr_init(&h, XP_OP_RDMA_OFFER, n->rd.offer_id, 0);
	/* A failed send shows up as the connection failing. */
	if (xp_conn_send(n->sess.conn, &h, NULL, 0, NULL, NULL))
		return;
	n->rd.state = RD_OFFERED;
	rdma_publish(n);
}

void eng_rdma_begin(struct eng_node *n)
{
	struct sb_engine *e = n->e;

	n->rd.eproto_logged = false;
	if (e->cl.rdma == SB_RDMA_OFF)
		eng_rdma_inline(n, "rdma = off", false);
	else if (!e->rdma_ok)
		eng_rdma_inline(n, "no RDMA device on this host",
				e->cl.rdma == SB_RDMA_ON);
	else if (!n->rd.node_rdma)
		eng_rdma_inline(n, "the node offers no RDMA",
				e->cl.rdma == SB_RDMA_ON);
	else if (n->rd.link_down)
		eng_link_down_why(n);
	else
		rdma_offer(n);
}

void eng_rdma_on_offer(struct eng_node *n, const struct xp_hdr *h,
		       const void *payload)
{
	struct sb_engine *e = n->e;
	struct xp_rdma_params p = {
		/* The gateway posts only window binds and invalidates, for
		 * which xp_rdma_connect adds room itself. */
		.max_ops = 1,
		.pool_count = e->cl.rdma_buffers,
		.pool_size = e->cl.rdma_buffer_size,
		.windows = e->cl.rdma_windows,
	};
	struct sockaddr_storage ss = {0};
	struct xp_rdma_offer o;
	char why[ENG_WHY_LEN];

	if (n->rd.state != RD_OFFERED || h->req_id != n->rd.offer_id)
		return;
	n->rd.state = RD_NONE;
	if (h->status != XP_ST_OK) {
		snprintf(why, sizeof(why), "RDMA_OFFER answered %s",
			 xp_status_name(h->status));
		eng_rdma_inline(n, why, true);
		eng_rdma_retry_later(n);
		return;
	}
	if (!payload || xp_rdma_offer_decode(payload, h->payload_len, &o)) {
		eng_rdma_inline(n, "malformed RDMA_OFFER answer", true);
		return;
	}
	if (n->rd.link_down) {
		/* Went down while the offer was out; its token just expires. */
		explicit_bzero(o.token, sizeof(o.token));
		eng_link_why(n, why, sizeof(why));
		eng_rdma_inline(n, why, true);
		return;
	}
	xp_rdma_offer_sockaddr(&o, &ss);
	if (eng_link_guess(n, (struct sockaddr *)&ss)) {
		explicit_bzero(o.token, sizeof(o.token));
		return;
	}
	errno = 0;
	n->rd.conn = xp_rdma_connect(e->vops, &p, (struct sockaddr *)&ss,
				     e->gw_id, o.token, rdma_state_cb, n);
	explicit_bzero(o.token, sizeof(o.token));
	if (!n->rd.conn) {
		snprintf(why, sizeof(why),
			 "cannot start an RDMA connection: %s",
			 strerror(errno ? errno : EIO));
		eng_rdma_inline(n, why, true);
		eng_rdma_retry_later(n);
		return;
	}
	n->rd.state = RD_CONNECTING;
	rdma_watch(n);
	rdma_publish(n);
}

void eng_rdma_event(struct eng_node *n)
{
	if (!n->rd.conn)
		return;
	/* A failure reports through rdma_state_cb. */
	(void)xp_rdma_conn_service(n->rd.conn);
	rdma_watch(n);
	eng_rdma_send_granted(n);
}

void eng_rdma_timers(struct eng_node *n, uint64_t now, uint64_t *next)
{
	if (n->rd.state == RD_DOWN && !n->rd.held) {
		eng_rdma_free(n);
		if (n->rd.offer_now)
			n->rd.retry_at = now; /* its link came back */
		else
			eng_rdma_retry_later(n);
	}
	if (n->sess.state != NODE_UP || n->rd.state != RD_NONE ||
	    !n->rd.retry_at || n->rd.link_down)
		return;
	if (n->rd.retry_at <= now)
		rdma_offer(n);
	else if (n->rd.retry_at < *next)
		*next = n->rd.retry_at;
}

/* ---- requests and pool buffers ---------------------------------------- */

/* @r goes to @n by RDMA now (if a buffer is free). */
static bool rdma_wants(const struct eng_node *n, const struct eng_req *r)
{
	return n->rd.state == RD_UP && !r->inline_only &&
	       (r->opcode == XP_OP_READ || r->opcode == XP_OP_WRITE) &&
	       r->piece->op->kind == OP_IO &&
	       r->length <= n->e->cl.rdma_buffer_size;
}

/*
 * Copy between the caller's iovec and a registered pool buffer, timed into
 * the engine's copy_bytes / copy_ns: the cost of the TCMU data area not
 * being registered (docs/rdma.md).
 */
static void rdma_copy(struct sb_engine *e, const struct iovec *iov, int iovcnt,
		      uint64_t off, void *buf, size_t len, bool to_iov)
{
	sb_iov_copy_timed(iov, iovcnt, off, buf, len, to_iov,
			  &e->stats.copy_bytes, &e->stats.copy_ns);
}

bool eng_rdma_pick(struct eng_node *n, const struct eng_req *r,
		   struct xp_rdma_buf **bp)
{
	struct xp_rdma_pool *pool;
	struct xp_rdma_wait unused;

	*bp = NULL;
	if (!rdma_wants(n, r))
		return true;
	pool = xp_rdma_conn_pool(n->rd.conn);
	/* Dry: hold the queue back until an answer frees one. */
	if (!xp_rdma_pool_nfree(pool))
		return false;
	/* never queues: a buffer is free, nobody waits */
	*bp = xp_rdma_pool_get(pool, &unused, NULL, NULL);
	return *bp != NULL;
}

void eng_rdma_take(struct eng_node *n, struct eng_req *r, struct xp_rdma_buf *b)
{
	if (r->opcode == XP_OP_WRITE)
		rdma_copy(n->e, r->iov, r->iovcnt, 0, b->data, r->length,
			  false);
	r->rbuf = b;
	r->rd_win = RW_NONE;
	n->rd.held++;
}

void eng_rdma_describe(struct eng_node *n, struct eng_req *r, struct xp_hdr *h)
{
	(void)xp_rdma_conn_describe(n->rd.conn, r->rbuf, 0, r->length, h);
	h->payload_len = 0;
	h->flags &= (uint16_t)~XP_F_DCRC;
	__atomic_fetch_add(&n->e->stats.bytes_rdma, r->length,
			   __ATOMIC_RELAXED);
}

void eng_rdma_give_back(struct eng_node *n, struct eng_req *r)
{
	xp_rdma_release(n->rd.conn, r->rbuf);
	r->rbuf = NULL;
	r->rd_win = RW_NONE;
	n->rd.held--;
}

/*
 * xp_rdma_grant_cb: the window over @b is bound (or not). Only marks the
 * request: it is sent from eng_rdma_send_granted, outside the RDMA
 * connection's callbacks. No request owns @b when eng_node_fail or a timeout
 * took it back first (then its QP is gone or going).
 */
static void rdma_granted(void *arg, struct xp_rdma_buf *b, int err)
{
	struct eng_node *n = arg;
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (r->rbuf != b || r->rd_win != RW_BINDING)
			continue;
		r->rd_win = err ? RW_FAILED : RW_READY;
		n->rd.granted = true;
		return;
	}
}

void eng_rdma_send_granted(struct eng_node *n)
{
	struct sb_list *it;
	struct xp_hdr h;
	int ret;

	if (!n->rd.granted || n->sess.state != NODE_UP)
		return;
	n->rd.granted = false;
again:
	sb_list_for_each(it, &n->q.inflight) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		/* Bound, but the connection went down since: inline too. */
		if (r->rd_win == RW_FAILED ||
		    (r->rd_win == RW_READY && n->rd.state != RD_UP)) {
			eng_rdma_give_back(n, r);
			eng_req_unsend(n, r);
			goto again;
		}
		if (r->rd_win != RW_READY)
			continue;
		r->rd_win = RW_NONE;
		eng_req_hdr(r, &h);
		eng_rdma_describe(n, r, &h);
		ret = xp_conn_send(n->sess.conn, &h, NULL, 0, NULL, NULL);
		if (!ret)
			continue;
		eng_rdma_give_back(n, r);
		if (ret != -EPIPE) {
			eng_inflight_del(r);
			eng_req_done(r, ret);
			goto again;
		}
		/* the connection failed: resend after reconnecting */
		eng_inflight_del(r);
		r->state = REQ_WAITING;
		sb_list_add_tail(&n->q.waitq, &r->link);
		eng_node_fail(n, ret);
		return;
	}
}

/*
 * Windows in use: bind @r's window; @r waits in flight, unsent, until
 * eng_rdma_send_granted. If the bind cannot even be posted, @r goes back to
 * the front of the queue, inline.
 */
void eng_rdma_grant(struct eng_node *n, struct eng_req *r)
{
	unsigned int acc = r->opcode == XP_OP_WRITE ? XP_VERBS_ACC_REMOTE_READ
						    : XP_VERBS_ACC_REMOTE_WRITE;

	r->rd_win = RW_BINDING;
	if (!xp_rdma_grant(n->rd.conn, r->rbuf, 0, r->length, acc, rdma_granted,
			   n))
		return;
	eng_rdma_give_back(n, r);
	r->inline_only = true;
	eng_req_unsend(n, r);
}

int eng_rdma_answer(struct eng_req *r, const struct xp_hdr *h, void *payload,
		    int err)
{
	struct eng_node *n = r->node;
	struct eng_piece *p = r->piece;
	struct sb_engine *e = p->op->e;
	struct xp_rdma_buf *b = r->rbuf;
	char name[SB_HOST_MAX + 32];

	if (!err && r->opcode == XP_OP_READ && !h->payload_len)
		rdma_copy(e, p->op->io->iov, p->op->io->iovcnt, p->ext.buf_off,
			  b->data, r->length, true);
	else if (!err && r->opcode == XP_OP_READ)
		err = -EIO; /* data inline for a request we described */
	/* Its window (if any) is invalidated before the buffer is reused. */
	eng_rdma_give_back(n, r);
	free(payload);
	if (err == -EPROTO) {
		if (!n->rd.eproto_logged)
			sb_warn("%s: the node refused an RDMA descriptor "
				"(EPROTO): resending inline",
				eng_node_name(n, name, sizeof(name)));
		n->rd.eproto_logged = true;
		eng_stat_inc(&e->stats.rdma_fallbacks);
		r->inline_only = true;
		r->state = REQ_WAITING;
		r->deadline = 0;
		sb_list_add_head(&n->q.waitq, &r->link);
		return 0;
	}
	eng_req_done(r, err);
	return 0;
}
