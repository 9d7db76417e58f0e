/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TCP session to each node: non-blocking connect, HELLO and AUTH
 * (each side proves it holds the cluster secret), reconnect with
 * back-off, and the frames on the session: requests out of the node's
 * wait queue (at most queue_depth in flight), answers in (matched by
 * req_id), a READ answer's payload placed straight into the caller's
 * iovec.
 *
 * Node connection state machine:
 *
 *   DOWN --connect--> CONNECTING --POLLOUT--> HELLO_SENT --answer-->
 *   AUTH_SENT --status 0--> UP
 *   any failure -> DOWN, retried after a back-off (50 ms doubling to 2 s)
 *
 * (Between HELLO_SENT and AUTH_SENT a node is AUTH_READY for the rest of
 * the service call: the node's proof is checked, AUTH not yet queued.)
 *
 * A READ answer's payload is received straight into the caller's iovec
 * (xp_place_cb, node_place) when the answer's header matches an in-flight
 * READ. Only one frame per connection is being received at a time
 * (n->q.placed); whatever takes that request out of flight before its
 * frame is complete (a timeout) first takes the memory back with
 * xp_conn_unplace(), and a lost connection is freed before it receives
 * again, so no byte lands in a buffer after its request completed.
 *
 * Loop thread. node_publish writes a node's pub.up and pub.tried (and
 * e->ntried) under e->lock.
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../iovcopy.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../../xport/auth.h"
#include "../../xport/conn.h"
#include "../../xport/rdma.h"
#include "../../xport/tcp.h"

const char *eng_node_name(const struct eng_node *n, char *buf, size_t len)
{
	snprintf(buf, len, "node %u (%s:%u)", n->addr->id, n->addr->host,
		 n->addr->port);
	return buf;
}

static void node_publish(struct eng_node *n, bool up)
{
	struct sb_engine *e = n->e;

	pthread_mutex_lock(&e->lock);
	n->pub.up = up;
	if (!n->pub.tried) {
		n->pub.tried = true;
		e->ntried++;
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void eng_node_update_events(struct eng_node *n)
{
	struct sb_engine *e = n->e;
	uint32_t want = 0;
	int op, ret;

	if (n->sess.state == NODE_CONNECTING)
		want = EPOLLOUT;
	else if (n->sess.conn)
		want = EPOLLIN |
		       (xp_conn_want_write(n->sess.conn) ? EPOLLOUT : 0);
	if (want == n->sess.ev_mask)
		return;
	if (!want)
		op = EPOLL_CTL_DEL;
	else if (!n->sess.ev_mask)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	ret = sb_evtag_ctl(e->epfd, op, n->sess.fd, want, &n->sess.tag);
	if (ret) {
		sb_err_rl("epoll_ctl on node %u: %s", n->addr->id,
			  strerror(-ret));
		return;
	}
	n->sess.ev_mask = want;
}

/*
 * The session to @n (not DOWN) is lost or refused (@err): out of epoll,
 * socket closed unless a conn owns it (the caller frees that), logged
 * once per outage, DOWN until now + the doubled back-off, published.
 */
static void session_drop(struct eng_node *n, int err, uint64_t now)
{
	struct sb_engine *e = n->e;
	char name[SB_HOST_MAX + 32];

	if (n->sess.ev_mask) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->sess.fd, NULL);
		n->sess.ev_mask = 0;
	}
	if (!n->sess.conn && n->sess.fd >= 0)
		close(n->sess.fd);
	n->sess.conn = NULL;
	n->sess.fd = -1;
	/* the conn receives nothing more: it is freed before any service */
	n->q.placed = NULL;
	if (n->sess.state == NODE_UP || !n->sess.logged_down) {
		if (n->sess.state == NODE_UP)
			sb_warn("%s: connection lost: %s",
				eng_node_name(n, name, sizeof(name)),
				strerror(-err));
		else
			sb_warn("%s: cannot connect: %s",
				eng_node_name(n, name, sizeof(name)),
				strerror(-err));
		n->sess.logged_down = true;
	}
	n->sess.state = NODE_DOWN;
	n->sess.backoff_ms = n->sess.backoff_ms ? n->sess.backoff_ms * 2
						: ENG_BACKOFF_MIN_MS;
	if (n->sess.backoff_ms > ENG_BACKOFF_MAX_MS)
		n->sess.backoff_ms = ENG_BACKOFF_MAX_MS;
	n->sess.retry_at = now + n->sess.backoff_ms;
	node_publish(n, false);
}

/*
 * The requests of @n, whose session just dropped at @now. In flight:
 * reads fail over at once, CAW and control requests fail (their effect
 * is unknown), writes go back to the front of the queue to be resent
 * after a reconnect. Waiting: reads and control requests fail, the rest
 * wait for the node (at most io_timeout_ms from now).
 */
static void requeue_lost(struct eng_node *n, uint64_t now)
{
	struct sb_engine *e = n->e;
	struct sb_list moved, waiting;

	sb_list_init(&moved);
	sb_list_init(&waiting);
	sb_list_splice_tail(&n->q.waitq, &waiting);
	while (!sb_list_empty(&n->q.inflight)) {
		struct eng_req *r =
			container_of(n->q.inflight.next, struct eng_req, link);
		struct eng_op *op = r->piece->op;

		eng_inflight_del(r);
		if (op->kind == OP_CTL || r->opcode == XP_OP_READ ||
		    r->opcode == XP_OP_CAW) {
			eng_req_done(r, -ECONNRESET);
		} else {
			r->state = REQ_WAITING;
			sb_list_add_tail(&moved, &r->link);
		}
	}
	while (!sb_list_empty(&waiting)) {
		struct eng_req *r =
			container_of(waiting.next, struct eng_req, link);

		sb_list_del(&r->link);
		if (r->piece->op->kind == OP_CTL) {
			eng_req_done(r, -EHOSTUNREACH);
		} else if (r->opcode == XP_OP_READ) {
			eng_req_done(r, -EHOSTUNREACH);
		} else {
			if (!r->deadline)
				r->deadline = now + e->cl.io_timeout_ms;
			sb_list_add_tail(&moved, &r->link);
		}
	}
	/* requeued first, then whatever the callbacks above queued here */
	sb_list_splice_front(&moved, &n->q.waitq);
}

void eng_node_fail(struct eng_node *n, int err)
{
	struct xp_conn *c = n->sess.conn;
	uint64_t now = sb_now_ms();

	if (n->sess.state == NODE_DOWN)
		return;
	session_drop(n, err, now);
	/* The QP is freed below, before anything is sent again. */
	eng_rdma_release_inflight(n);
	requeue_lost(n, now);
	/* frees the payload references: sent callbacks run here */
	xp_conn_free(c);
	/* The RDMA connection belongs to the TCP session: it goes too. */
	eng_rdma_session_end(n);
}

/* ---- handshake ---------------------------------------------------------- */

static int node_send_hello(struct eng_node *n)
{
	struct xp_hello hl = {0};
	struct xp_hdr h;
	struct iovec v;
	int ret;

	ret = xp_auth_nonce(n->sess.nonce_c);
	if (ret)
		return ret;
	hl.min_ver = XP_VERSION_MIN;
	hl.max_ver = XP_VERSION_MAX;
	hl.features = n->e->rdma_ok ? XP_FEAT_RDMA : 0;
	hl.sender_id = n->e->gw_id;
	memcpy(hl.nonce, n->sess.nonce_c, XP_NONCE_LEN);
	xp_hello_encode(&hl, n->sess.hello_buf);
	xp_hdr_init(&h, XP_OP_HELLO, n->q.next_id++, 0);
	h.payload_len = XP_HELLO_LEN;
	v.iov_base = n->sess.hello_buf;
	v.iov_len = XP_HELLO_LEN;
	return xp_conn_send(n->sess.conn, &h, &v, 1, NULL, NULL);
}

void eng_node_retry_now(struct eng_node *n)
{
	if (n->sess.state != NODE_DOWN)
		return;
	n->sess.backoff_ms = 0;
	n->sess.retry_at = sb_now_ms();
}

static void node_became_up(struct eng_node *n)
{
	struct sb_engine *e = n->e;
	struct sb_list *it;
	char name[SB_HOST_MAX + 32];

	n->sess.state = NODE_UP;
	n->sess.backoff_ms = 0;
	n->sess.logged_down = false;
	if (n->sess.ever_up) {
		eng_stat_inc(&e->stats.reconnects);
		sb_info("%s: reconnected",
			eng_node_name(n, name, sizeof(name)));
	}
	n->sess.ever_up = true;
	n->sess.ups++;
	eng_rdma_begin(n);
	/* queued requests now wait only for a slot, which never expires */
	sb_list_for_each(it, &n->q.waitq)
		container_of(it, struct eng_req, link)->deadline = 0;
	node_publish(n, true);
}

/*
 * Handshake refusals repeat on every reconnect attempt; log them once per
 * outage (eng_node_fail marks the outage logged).
 */
#define hs_err(n, ...)                       \
	do {                                 \
		if (!(n)->sess.logged_down)  \
			sb_err(__VA_ARGS__); \
	} while (0)

/* HELLO answer: check the version and the node's proof, prepare AUTH. */
static int node_on_hello(struct eng_node *n, const struct xp_hdr *h,
			 const void *payload)
{
	struct sb_engine *e = n->e;
	struct xp_hello hl;
	uint8_t want[XP_PROOF_LEN];
	char name[SB_HOST_MAX + 32];
	int ret;

	if (h->status != XP_ST_OK) {
		hs_err(n, "%s: HELLO refused: %s",
		       eng_node_name(n, name, sizeof(name)),
		       xp_status_name(h->status));
		return xp_status_to_errno(h->status);
	}
	if (h->payload_len != XP_HELLO_ANSWER_LEN ||
	    xp_hello_decode(payload, XP_HELLO_LEN, &hl) < 0)
		return -EPROTO;
	if (hl.max_ver < XP_VERSION_MIN || hl.min_ver > XP_VERSION_MAX) {
		hs_err(n, "%s: no common protocol version (node %u..%u)",
		       eng_node_name(n, name, sizeof(name)), hl.min_ver,
		       hl.max_ver);
		return -EPROTO;
	}
	ret = xp_auth_proof(&e->secret, true, n->sess.nonce_c, hl.nonce, want);
	if (ret)
		return ret;
	if (!xp_auth_equal(want, (const uint8_t *)payload + XP_HELLO_LEN)) {
		hs_err(n,
		       "%s: the node's proof is wrong (different cluster "
		       "secret?)",
		       eng_node_name(n, name, sizeof(name)));
		return -EPERM;
	}
	if (hl.sender_id != n->addr->id) {
		hs_err(n, "%s: answered as node %llu; check the cluster file",
		       eng_node_name(n, name, sizeof(name)),
		       (unsigned long long)hl.sender_id);
		return -EPROTO;
	}
	ret = xp_auth_proof(&e->secret, false, n->sess.nonce_c, hl.nonce,
			    n->sess.auth_buf);
	if (ret)
		return ret;
	n->rd.node_rdma = (hl.features & XP_FEAT_RDMA) != 0;
	n->sess.state = NODE_AUTH_READY;
	return 0;
}

static void node_send_auth(struct eng_node *n)
{
	struct xp_hdr h;
	struct iovec v = {n->sess.auth_buf, XP_PROOF_LEN};
	int ret;

	xp_hdr_init(&h, XP_OP_AUTH, n->q.next_id++, 0);
	h.payload_len = XP_PROOF_LEN;
	ret = xp_conn_send(n->sess.conn, &h, &v, 1, NULL, NULL);
	if (ret) {
		eng_node_fail(n, ret);
		return;
	}
	n->sess.state = NODE_AUTH_SENT;
}

/* ---- frames in ---------------------------------------------------------- */

/*
 * An answer to request @r arrived: take its result. @placed: its payload
 * was received into the caller's iovec already (node_place).
 */
static int req_on_answer(struct eng_req *r, const struct xp_hdr *h,
			 void *payload, bool crc_ok, bool placed)
{
	struct eng_piece *p = r->piece;
	struct eng_op *op = p->op;
	int err;

	/* An answer to a request not sent yet (its window is binding). */
	if (h->opcode != r->opcode || h->lun_id != r->lun_id ||
	    (r->rbuf && r->rd_win != RW_NONE)) {
		free(payload);
		return -EPROTO;
	}
	eng_inflight_del(r);
	err = h->status == XP_ST_OK ? 0 : xp_status_to_errno(h->status);
	if (r->rbuf)
		return eng_rdma_answer(r, h, payload, err);
	if (!crc_ok) {
		err = -EBADMSG;
	} else if (op->kind == OP_CTL) {
		r->ans_offset = h->offset;
		if (!err && payload) {
			r->ans_payload = payload;
			r->ans_len = h->payload_len;
			payload = NULL;
		}
	} else if (!err && r->opcode == XP_OP_READ) {
		if (h->payload_len != r->length || (!placed && !payload))
			err = -EIO;
		else if (!placed)
			sb_iov_copy(op->io->iov, op->io->iovcnt, p->ext.buf_off,
				    payload, r->length, true);
	} else if (err == -XP_EMISCOMPARE && r->opcode == XP_OP_CAW) {
		if (h->payload_len == 8)
			op->io->miscompare_off =
				xp_get_be64((const uint8_t *)payload);
		else
			err = -EIO;
	}
	free(payload);
	eng_req_done(r, err);
	return 0;
}

/*
 * xp_place_cb of every node connection: the payload of a successful READ
 * answer goes straight to its slice of the caller's iovec. Anything else
 * (or a slice of too many pieces) takes the usual allocation and copy.
 */
static int node_place(void *arg, const struct xp_hdr *h, struct iovec *iov)
{
	struct eng_node *n = arg;
	struct eng_piece *p;
	struct eng_req *r;
	int cnt;

	if (n->sess.state != NODE_UP || h->opcode != XP_OP_READ ||
	    h->status != XP_ST_OK || !(h->flags & XP_F_RESP) ||
	    xp_hdr_check(h) < 0)
		return 0;
	r = eng_req_find(n, h->req_id);
	if (!r || r->opcode != XP_OP_READ || r->lun_id != h->lun_id ||
	    h->payload_len != r->length || r->piece->op->kind != OP_IO)
		return 0;
	p = r->piece;
	cnt = sb_iov_slice_count(p->op->io->iov, p->op->io->iovcnt,
				 p->ext.buf_off, r->length);
	if (cnt < 1 || cnt > XP_PLACE_MAX)
		return 0;
	n->q.placed = r;
	return sb_iov_slice(p->op->io->iov, p->op->io->iovcnt, p->ext.buf_off,
			    r->length, iov);
}

/* xp_frame_cb of every node connection. */
static int node_on_frame(void *arg, const struct xp_hdr *h, void *payload,
			 bool crc_ok)
{
	struct eng_node *n = arg;
	/* a frame that was placed is the placed request's answer */
	bool placed = n->q.placed != NULL;
	struct eng_req *r;
	int ret;

	n->q.placed = NULL;

	if (!(h->flags & XP_F_RESP) || xp_hdr_check(h) < 0) {
		sb_err_rl("node %u: malformed %s frame", n->addr->id,
			  xp_opcode_name(h->opcode));
		free(payload);
		return -EPROTO;
	}
	switch (n->sess.state) {
	case NODE_HELLO_SENT:
		ret = h->opcode == XP_OP_HELLO ? node_on_hello(n, h, payload)
					       : -EPROTO;
		free(payload);
		return ret;
	case NODE_AUTH_SENT:
		free(payload);
		if (h->opcode != XP_OP_AUTH)
			return -EPROTO;
		if (h->status != XP_ST_OK)
			return -EPERM;
		node_became_up(n);
		return 0;
	case NODE_UP:
		break;
	default:
		free(payload);
		return -EPROTO;
	}
	if (h->opcode == XP_OP_RDMA_OFFER) {
		eng_rdma_on_offer(n, h, crc_ok ? payload : NULL);
		free(payload);
		return 0;
	}
	r = eng_req_find(n, h->req_id);
	if (!r) {
		/* the answer to a request that already timed out */
		free(payload);
		return 0;
	}
	return req_on_answer(r, h, payload, crc_ok, placed);
}

/* ---- connection --------------------------------------------------------- */

void eng_node_connect(struct eng_node *n)
{
	int fd;

	n->sess.hs_deadline = sb_now_ms() + ENG_HANDSHAKE_MS;
	n->sess.state = NODE_CONNECTING;
	fd = xp_tcp_connect(n->addr->host, n->addr->port);
	if (fd < 0) {
		n->sess.fd = -1;
		eng_node_fail(n, fd);
		return;
	}
	n->sess.fd = fd;
	eng_node_update_events(n);
	if (!n->sess.ev_mask)
		eng_node_fail(n, -EIO);
}

/* The socket of a CONNECTING node is writable: connected or refused. */
static void node_connected(struct eng_node *n)
{
	int ret;

	ret = xp_tcp_connect_done(n->sess.fd);
	if (ret) {
		eng_node_fail(n, ret);
		/* nothing listens: the process is gone, tell the store now */
		if (ret == -ECONNREFUSED)
			eng_store_evict(n, "refuses connections");
		return;
	}
	(void)xp_tcp_tune(n->sess.fd);
	n->sess.conn = xp_conn_new(n->sess.fd, node_on_frame, n);
	if (!n->sess.conn) {
		eng_node_fail(n, -ENOMEM);
		return;
	}
	xp_conn_set_place(n->sess.conn, node_place);
	n->sess.state = NODE_HELLO_SENT;
	ret = node_send_hello(n);
	if (ret)
		eng_node_fail(n, ret);
}

void eng_node_event(struct eng_node *n, uint32_t events)
{
	int ret;

	if (n->sess.state == NODE_CONNECTING) {
		node_connected(n);
		return;
	}
	if (!n->sess.conn)
		return;
	ret = xp_conn_service(n->sess.conn, events);
	if (ret < 0) {
		eng_node_fail(n, ret);
		return;
	}
	if (n->sess.state == NODE_AUTH_READY)
		node_send_auth(n);
}

/* ---- frames out --------------------------------------------------------- */

void eng_req_hdr(const struct eng_req *r, struct xp_hdr *h)
{
	xp_hdr_init(h, r->opcode, r->req_id, r->lun_id);
	h->flags = r->flags;
	h->offset = r->offset;
	h->length = r->length;
	h->epoch = r->epoch;
	h->payload_len = r->paylen;
}

/*
 * @n is not up: its control requests fail now (a control call must not
 * wait for a node that is down); the rest wait for it, or for their
 * deadline.
 */
static void fail_ctl_waiting(struct eng_node *n)
{
	struct sb_list *it, *next;

	for (it = n->q.waitq.next; it != &n->q.waitq; it = next) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		next = it->next;
		if (r->piece->op->kind != OP_CTL)
			continue;
		sb_list_del(&r->link);
		eng_req_done(r, -EHOSTUNREACH);
		/* completions may have queued more behind @next */
		next = n->q.waitq.next;
	}
}

/*
 * Hand the frame of @r (header @h) to @n's conn: described by RDMA (@b),
 * or with its inline payload, which the conn references until
 * eng_req_sent. 0 or the send's -errno.
 */
static int req_xmit(struct eng_node *n, struct eng_req *r, struct xp_hdr *h,
		    struct xp_rdma_buf *b)
{
	int ret;

	if (b)
		return xp_conn_send(n->sess.conn, h, NULL, 0, NULL, NULL);
	if (r->paylen)
		r->in_conn++;
	if (r->crc_given) {
		h->data_crc = r->data_crc;
		ret = xp_conn_send_crc(n->sess.conn, h, r->iov, r->iovcnt,
				       r->paylen ? eng_req_sent : NULL, r);
	} else {
		ret = xp_conn_send(n->sess.conn, h, r->iov, r->iovcnt,
				   r->paylen ? eng_req_sent : NULL, r);
	}
	if (ret && r->paylen)
		r->in_conn--;
	return ret;
}

/*
 * Send @r (taken off @n's wait queue) with pool buffer @b, or inline when
 * @b is NULL; with windows, it is sent once its window is bound. false
 * when the connection failed (@r is queued again; stop pumping).
 */
static bool req_send(struct eng_node *n, struct eng_req *r,
		     struct xp_rdma_buf *b)
{
	struct sb_engine *e = n->e;
	struct xp_hdr h;
	int ret;

	r->req_id = n->q.next_id++;
	eng_req_hdr(r, &h);
	if (b) {
		eng_rdma_take(n, r, b);
		if (!xp_rdma_conn_windows(n->rd.conn))
			eng_rdma_describe(n, r, &h);
	} else if (r->opcode == XP_OP_READ || r->opcode == XP_OP_WRITE) {
		__atomic_fetch_add(&e->stats.bytes_inline, r->length,
				   __ATOMIC_RELAXED);
	}
	eng_inflight_add(n, r);
	if (b && xp_rdma_conn_windows(n->rd.conn)) {
		/* sent once the window is bound */
		eng_rdma_grant(n, r);
		return true;
	}
	ret = req_xmit(n, r, &h, b);
	if (!ret)
		return true;
	if (b)
		eng_rdma_give_back(n, r);
	eng_inflight_del(r);
	if (ret != -EPIPE) {
		eng_req_done(r, ret);
		return true;
	}
	/* the connection failed: resend after reconnecting */
	r->state = REQ_WAITING;
	sb_list_add_tail(&n->q.waitq, &r->link);
	eng_node_fail(n, ret);
	return false;
}

void eng_node_pump(struct eng_node *n)
{
	struct sb_engine *e = n->e;

	if (n->sess.state != NODE_UP) {
		fail_ctl_waiting(n);
		return;
	}
	/* binds finished (or aborted) outside eng_rdma_event */
	eng_rdma_send_granted(n);
	while (n->sess.state == NODE_UP && !sb_list_empty(&n->q.waitq) &&
	       n->q.ninflight < e->cl.queue_depth) {
		struct eng_req *r =
			container_of(n->q.waitq.next, struct eng_req, link);
		struct xp_rdma_buf *b;

		if (!eng_rdma_pick(n, r, &b))
			break;
		sb_list_del(&r->link);
		if (!req_send(n, r, b))
			return;
	}
	if (n->sess.state == NODE_UP && !sb_list_empty(&n->q.waitq))
		eng_stat_inc(&e->stats.throttled);
}

void eng_node_close(struct eng_node *n)
{
	struct sb_engine *e = n->e;
	struct xp_conn *c = n->sess.conn;

	if (n->sess.ev_mask)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->sess.fd, NULL);
	n->sess.ev_mask = 0;
	if (!c && n->sess.fd >= 0)
		close(n->sess.fd);
	n->sess.conn = NULL;
	n->sess.fd = -1;
	n->q.placed = NULL;
	n->sess.state = NODE_DOWN;
	xp_conn_free(c);
	if (n->rd.conn)
		eng_rdma_free(n);
}
