/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway I/O engine (see engine.h for the behaviour it promises).
 *
 * Objects, all owned by the loop thread once submitted:
 *
 *   sb_engine -- nodes[]  one per cluster node: connection state, a wait
 *                |        queue (back-pressure / node down), the requests
 *                |        in flight (list in send order + hash by req_id)
 *                `- subq  operations submitted but not yet started
 *
 *   eng_op     one per sb_io (or per synchronous control operation); a
 *              window of eng_piece slots, each with its eng_req array
 *   eng_piece  one chunk-bounded extent of the operation
 *   eng_req    one request to one node for one piece
 *
 * A request is WAITING (in a node's wait queue), INFLIGHT (sent, in the
 * node's hash) or not queued anywhere (IDLE before dispatch, DONE after).
 * A write's payload is referenced by the connection until its sent
 * callback runs (req->in_conn counts those references), so a piece
 * finishes only when all its requests are neither queued nor referenced;
 * an operation completes when its last piece finishes. That keeps the
 * caller's buffers untouched after the completion callback.
 *
 * A READ answer's payload is received straight into the caller's iovec
 * (xp_place_cb, node_place) when the answer's header matches an in-flight
 * READ. Only one frame per connection is being received at a time
 * (node->placed); whatever takes that request out of flight before its
 * frame is complete (a timeout) first takes the memory back with
 * xp_conn_unplace(), and a lost connection is freed before it receives
 * again, so no byte lands in a buffer after its request completed.
 *
 * Node connection state machine:
 *
 *   DOWN --connect--> CONNECTING --POLLOUT--> HELLO_SENT --answer-->
 *   AUTH_SENT --status 0--> UP
 *   any failure -> DOWN, retried after a back-off (50 ms doubling to 2 s)
 *
 * Timers: a request in flight expires io_timeout_ms after it was sent
 * (-ETIMEDOUT); a request waiting for a node that is not up expires
 * io_timeout_ms after it started waiting (-EHOSTUNREACH); a request
 * waiting only for a queue slot on an up node never expires. A timed-out
 * read fails over to the next replica; a timed-out request whose payload
 * the socket has not even taken resets the connection.
 *
 * RDMA payload (docs/protocol.md "RDMA payload", docs/rdma.md): when this
 * host has an RDMA device and [cluster] rdma is not off, HELLO carries
 * XP_FEAT_RDMA. After AUTH, a node whose HELLO did too gets RDMA_OFFER;
 * its token goes into xp_rdma_connect(). Per node:
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
 * Link watching (docs/rdma.md): from the first offer a node answers, the
 * engine watches the links (xp_link, rtnetlink): per node, the net device
 * under its RDMA connection (guessed from the node's RDMA address before
 * connecting, then the connection's own). That link going down takes the
 * node's RDMA connection down at once (QP into error first, and an
 * RDMA_OFFER that makes the node drop its side; RD_DOWN as for any
 * failure: requests in flight come back EPROTO and are resent inline) and
 * stops offers; its return asks for an offer at once, back-off reset.
 *
 * Lock order: e->lock is a leaf; the loop thread never calls out (user
 * callbacks) while holding it.
 */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include "iovcopy.h"
#include "util/clock.h"
#include "util/evtag.h"
#include "util/list.h"
#include "util/log.h"
#include "place.h"
#include "../xport/conn.h"
#include "../xport/link.h"
#include "../xport/rdma.h"
#include "../xport/tcp.h"
#include "../xport/verbs.h"

#define ENG_MAX_PIECE SB_ENGINE_MAX_PIECE
#define ENG_WINDOW 32 /* pieces of one operation in flight at once */
/* payload entries one frame may carry (xp_conn_send: IOV_MAX) */
#define ENG_MAX_SLICES (IOV_MAX - 1)
#define ENG_HASH_BUCKETS 256 /* per node, power of two */
#define ENG_BACKOFF_MIN_MS 50
#define ENG_BACKOFF_MAX_MS 2000
#define ENG_HANDSHAKE_MS 5000 /* connect + HELLO + AUTH, at most */
#define ENG_MAX_EVENTS 64
#define ENG_MAX_WAIT_MS 1000 /* longest epoll sleep */
#define ENG_RDMA_RETRY_MIN_MS 1000 /* asking a node for a new offer */
#define ENG_RDMA_RETRY_MAX_MS 60000

enum eng_node_state {
	NODE_DOWN,
	NODE_CONNECTING,
	NODE_HELLO_SENT,
	NODE_AUTH_READY, /* server proof checked; AUTH not yet queued */
	NODE_AUTH_SENT,
	NODE_UP,
};

enum eng_req_state {
	REQ_IDLE,
	REQ_WAITING,
	REQ_INFLIGHT,
	REQ_DONE,
};

enum eng_rdma_state {
	RD_NONE, /* payload inline; an offer may be asked for */
	RD_OFFERED, /* RDMA_OFFER sent */
	RD_CONNECTING, /* xp_rdma_connect() under way */
	RD_UP, /* READ and WRITE payload by RDMA */
	RD_DOWN, /* to be freed once no request holds a buffer */
};

/* A request's memory window (docs/rdma.md), when the connection has them. */
enum eng_win {
	RW_NONE, /* none, or bound and the request sent */
	RW_BINDING, /* bind posted: the request waits to be sent */
	RW_READY, /* bound: send the request */
	RW_FAILED, /* the bind failed: the request goes back, inline */
};

/* What a ready fd of the engine's epoll set belongs to (struct sb_evtag). */
enum eng_ev_kind {
	ENG_EV_KICK = 1, /* the eventfd: submissions, stop (sb_engine) */
	ENG_EV_NODE, /* a node's TCP socket (eng_session.tag) */
	ENG_EV_RDMA_CM, /* a node's RDMA connection events (eng_rdma.cm_tag) */
	ENG_EV_RDMA_CQ, /* a node's RDMA completions (eng_rdma.cq_tag) */
	ENG_EV_LINKS, /* the link watcher's socket (sb_engine) */
};

enum eng_op_kind {
	OP_IO, /* an sb_io */
	OP_CTL, /* a synchronous control operation, one request per node */
};

struct eng_piece;
struct eng_node;

struct eng_req {
	struct sb_list link; /* node's waitq or inflight list */
	struct eng_req *hnext; /* node's req_id hash chain */
	struct eng_piece *piece;
	struct eng_node *node; /* where it is queued or was last sent */
	enum eng_req_state state;
	int in_conn; /* frames of ours whose payload a conn still holds */
	uint64_t deadline; /* monotonic ms; 0: none */
	uint64_t req_id; /* of the latest send */
	/* request */
	uint8_t opcode;
	uint16_t flags; /* XP_F_* */
	uint64_t lun_id;
	uint64_t offset;
	uint32_t length;
	const struct iovec *iov; /* payload, NULL when none */
	int iovcnt;
	uint32_t paylen;
	struct xp_rdma_buf *rbuf; /* pool buffer described in flight, or NULL */
	enum eng_win rd_win; /* rbuf's window, RW_NONE when no windows */
	bool inline_only; /* the node refused its descriptor: no RDMA */
	bool crc_given; /* data_crc holds the payload's CRC32C */
	uint32_t data_crc; /* shared by every replica of a piece */
	/* result */
	int err;
	uint64_t ans_offset; /* answer's offset field (LUN_OPEN: size) */
	void *ans_payload; /* CTL only: answer payload (STAT), malloc'd */
	uint32_t ans_len;
};

struct eng_piece {
	struct eng_op *op;
	bool busy;
	struct sb_extent ext;
	unsigned int rep[SB_MAX_NODES]; /* replica node indices, best first */
	unsigned int nrep;
	uint64_t tried; /* READ: bit i set when rep[i] has been tried */
	struct iovec *iov; /* payload slices, grown on demand */
	int iovcap;
	void *bounce; /* payload copy when the slices would be too many */
	size_t bounce_len;
	struct eng_req *reqs; /* op->rpp entries */
};

struct eng_op {
	struct sb_list link; /* engine's subq */
	struct sb_engine *e;
	enum eng_op_kind kind;
	enum sb_io_op op; /* OP_IO */
	struct sb_io *io; /* OP_IO */
	int err; /* first error */
	uint64_t next_off; /* next byte to split off */
	uint64_t end; /* end of the range */
	unsigned int active; /* busy pieces */
	unsigned int nslots;
	unsigned int rpp; /* requests per piece */
	bool finished;
	struct eng_piece *pieces;
	/* OP_CTL */
	bool ctl_done; /* set under e->lock */
	const void *ctl_payload;
	uint32_t ctl_paylen;
};

/* The TCP session to one node: connection, handshake, reconnect timing. */
struct eng_session {
	struct sb_evtag tag; /* ENG_EV_NODE: data of fd's epoll registration */
	enum eng_node_state state;
	int fd; /* connecting socket, or the conn's; -1: none */
	struct xp_conn *conn; /* from HELLO_SENT on */
	uint32_t ev_mask; /* registered epoll events, 0: not registered */
	uint64_t hs_deadline; /* handshake must finish by then */
	uint64_t retry_at; /* DOWN: next connect attempt */
	unsigned int backoff_ms;
	bool ever_up;
	bool logged_down; /* the current outage has been logged */
	uint8_t nonce_c[XP_NONCE_LEN]; /* our HELLO nonce */
	uint8_t hello_buf[XP_HELLO_LEN]; /* HELLO payload while it is sent */
	uint8_t auth_buf[XP_PROOF_LEN]; /* AUTH payload while it is sent */
};

/* The requests of one node: waiting, in flight, and their tracking. */
struct eng_queue {
	struct sb_list waitq; /* eng_req.link, WAITING, in send order */
	struct sb_list inflight; /* in send order, so in deadline order */
	unsigned int ninflight;
	uint64_t next_id; /* req_id of the next frame we send */
	struct eng_req *hash[ENG_HASH_BUCKETS]; /* in flight, by req_id */
	struct eng_req *placed; /* its answer is arriving in its iovec */
};

/* The RDMA payload path to one node (see RDMA states above). */
struct eng_rdma {
	bool node_rdma; /* the node's HELLO carried XP_FEAT_RDMA */
	enum eng_rdma_state state;
	struct xp_rdma_conn *conn; /* RD_CONNECTING..RD_DOWN */
	uint64_t offer_id; /* req_id of the RDMA_OFFER in flight */
	struct sb_evtag cm_tag; /* ENG_EV_RDMA_CM: cm_fd's epoll data */
	struct sb_evtag cq_tag; /* ENG_EV_RDMA_CQ: cq_fd's epoll data */
	int cm_fd, cq_fd; /* registered in epoll, -1: not */
	unsigned int held; /* pool buffers held by requests in flight */
	bool granted; /* a window bind finished: see rdma_send_granted */
	uint64_t retry_at; /* RD_NONE: ask for an offer then (0: never) */
	unsigned int backoff_ms;
	int ifindex; /* the link under its last RDMA connection, or 0 */
	bool link_down; /* that link is down: no offers until it is up */
	bool offer_now; /* it came back: offer once the old one is freed */
	bool eproto_logged; /* an EPROTO answer was logged this connection */
	char why[96]; /* why payload is inline, for status */
};

/* What other threads may read of a node, under e->lock. */
struct eng_pub {
	bool up; /* connected and authenticated */
	bool tried; /* the first connection attempt has ended */
	enum sb_payload payload;
	char why[96]; /* copy of eng_rdma.why */
};

struct eng_node {
	struct sb_engine *e;
	unsigned int idx;
	const struct sb_node_addr *addr;
	struct eng_session sess; /* loop thread */
	struct eng_queue q; /* loop thread */
	struct eng_rdma rd; /* loop thread */
	struct eng_pub pub; /* e->lock */
};

struct sb_engine {
	struct sb_cluster cl;
	struct xp_secret secret;
	uint64_t gw_id; /* our HELLO sender id */
	bool rdma_ok; /* RDMA allowed here and a device present */
	const struct xp_verbs_ops *vops;
	struct xp_link *links; /* link watcher, from the first offer on */
	bool links_failed; /* it could not be started (logged once) */
	struct sb_evtag links_tag; /* ENG_EV_LINKS: its fd's epoll data */
	uint32_t max_piece;
	int epfd;
	int evfd;
	struct sb_evtag kick_tag; /* ENG_EV_KICK: evfd's epoll data */
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* protects the fields below and pub_* */
	pthread_cond_t cond; /* node state changes, CTL completions */
	struct sb_list subq;
	bool kick_pending; /* the eventfd was written since the last drain */
	bool stopping;
	unsigned int ntried;

	bool stop_seen; /* loop thread's copy of stopping */
	struct eng_node nodes[SB_MAX_NODES];

	/* updated with __atomic builtins */
	struct sb_engine_stats stats;
};

static void stat_inc(uint64_t *ctr)
{
	__atomic_fetch_add(ctr, 1, __ATOMIC_RELAXED);
}

/* ---- node request tracking -------------------------------------------- */

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

static struct eng_req *hash_find(struct eng_node *n, uint64_t id)
{
	struct eng_req *r;

	for (r = *hash_slot(n, id); r; r = r->hnext)
		if (r->req_id == id)
			return r;
	return NULL;
}

/* Take @r off its node's in-flight tracking (it stays in state INFLIGHT). */
static void inflight_del(struct eng_req *r)
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

static const char *node_name(const struct eng_node *n, char *buf, size_t len)
{
	snprintf(buf, len, "node %u (%s:%u)", n->addr->id, n->addr->host,
		 n->addr->port);
	return buf;
}

/* ---- operations, pieces, requests ------------------------------------- */

static void req_done(struct eng_req *r, int err);
static void node_fail(struct eng_node *n, int err);

static bool req_busy(const struct eng_req *r)
{
	return r->state == REQ_WAITING || r->state == REQ_INFLIGHT ||
	       r->in_conn > 0;
}

/*
 * Queue @r on node @idx. Never completes anything synchronously: sends
 * happen in pump_node(), failures of down nodes in the timers.
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

static void op_set_err(struct eng_op *op, int err)
{
	if (!op->err)
		op->err = err;
}

static void op_finish(struct eng_op *op)
{
	struct sb_engine *e = op->e;
	unsigned int i;

	op->finished = true;
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
		stat_inc(&e->stats.completed);
		io->cb(io, err);
	}
}

/* Read: queue on the best untried replica; false when none is left. */
static bool read_dispatch(struct eng_piece *p)
{
	struct sb_engine *e = p->op->e;
	unsigned int i, pick = p->nrep;

	for (i = 0; i < p->nrep; i++) {
		if (p->tried & (1ull << i))
			continue;
		if (e->nodes[p->rep[i]].sess.state == NODE_UP) {
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

static void req_fill(struct eng_req *r, uint8_t opcode, uint16_t flags,
		     uint64_t lun_id, uint64_t offset, uint32_t length)
{
	r->opcode = opcode;
	r->flags = flags;
	r->lun_id = lun_id;
	r->offset = offset;
	r->length = length;
	r->iov = NULL;
	r->iovcnt = 0;
	r->paylen = 0;
	r->crc_given = false;
}

/*
 * Give @r payload @iov (@iovcnt entries, @paylen bytes) whose CRC32C is
 * @crc: computed once per piece, not once per replica.
 */
static void req_set_payload(struct eng_req *r, const struct iovec *iov,
			    int iovcnt, uint32_t paylen, uint32_t crc)
{
	r->iov = iov;
	r->iovcnt = iovcnt;
	r->paylen = paylen;
	r->data_crc = crc;
	r->crc_given = true;
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

/* Start piece @p of IO operation @op on extent @ext. 0 or -errno. */
static int piece_start_io(struct eng_op *op, struct eng_piece *p)
{
	struct sb_engine *e = op->e;
	struct sb_io *io = op->io;
	uint64_t off = p->ext.offset;
	uint32_t len = p->ext.length;
	uint16_t fua = io->flags & SB_IO_F_FUA ? XP_F_FUA : 0;
	unsigned int i;
	uint32_t crc;
	int na, nb;

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

	switch (op->op) {
	case SB_IO_READ:
		req_fill(&p->reqs[0], XP_OP_READ, 0, io->lun_id, off, len);
		read_dispatch(p);
		return 0;
	case SB_IO_WRITE:
		na = piece_payload(p, io, p->ext.buf_off, len);
		if (na < 0)
			return na;
		crc = xp_conn_payload_crc(p->iov, na);
		for (i = 0; i < p->nrep; i++) {
			struct eng_req *r = &p->reqs[i];

			req_fill(r, XP_OP_WRITE, XP_F_DCRC | fua, io->lun_id,
				 off, len);
			req_set_payload(r, p->iov, na, len, crc);
			req_enqueue(r, p->rep[i]);
		}
		return 0;
	case SB_IO_WRITE_ZEROES:
	case SB_IO_UNMAP:
		for (i = 0; i < p->nrep; i++) {
			struct eng_req *r = &p->reqs[i];

			if (op->op == SB_IO_UNMAP)
				req_fill(r, XP_OP_UNMAP, 0, io->lun_id, off,
					 len);
			else
				req_fill(r, XP_OP_WRITE_ZEROES,
					 io->flags & SB_IO_F_UNMAP ? XP_F_UNMAP
								   : 0,
					 io->lun_id, off, len);
			req_enqueue(r, p->rep[i]);
		}
		return 0;
	case SB_IO_CAW:
		/* slice A: compare + write data for the first replica;
		 * slice B: the write data alone for the others. */
		na = piece_payload(p, io, 0, 2ull * len);
		if (na < 0)
			return na;
		/* B is the second half of A; piece_payload left room */
		nb = sb_iov_slice(p->iov, na, len, len, p->iov + na);
		req_fill(&p->reqs[0], XP_OP_CAW, XP_F_DCRC | fua, io->lun_id,
			 off, len);
		req_set_payload(&p->reqs[0], p->iov, na, 2 * len,
				xp_conn_payload_crc(p->iov, na));
		crc = p->nrep > 1 ? xp_conn_payload_crc(p->iov + na, nb) : 0;
		for (i = 1; i < p->nrep; i++) {
			struct eng_req *r = &p->reqs[i];

			req_fill(r, XP_OP_WRITE, XP_F_DCRC | fua, io->lun_id,
				 off, len);
			req_set_payload(r, p->iov + na, nb, len, crc);
		}
		req_enqueue(&p->reqs[0], p->rep[0]);
		return 0;
	case SB_IO_FLUSH:
		for (i = 0; i < e->cl.nr_nodes; i++) {
			req_fill(&p->reqs[i], XP_OP_FLUSH, 0, io->lun_id, 0, 0);
			req_enqueue(&p->reqs[i], i);
		}
		return 0;
	}
	return -EINVAL;
}

static void op_progress(struct eng_op *op);

/* A piece finishes when none of its requests is queued or referenced. */
static void piece_check(struct eng_piece *p)
{
	struct eng_op *op = p->op;
	unsigned int i;

	if (!p->busy)
		return;
	for (i = 0; i < op->rpp; i++)
		if (req_busy(&p->reqs[i]))
			return;
	p->busy = false;
	op->active--;
	op_progress(op);
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
	}
	if (op->active == 0 && !op->finished &&
	    (op->err || e->stop_seen || op->next_off >= op->end)) {
		if (e->stop_seen)
			op_set_err(op, -ESHUTDOWN);
		op_finish(op);
	}
}

/* Start a newly submitted operation (loop thread). */
static void op_start(struct eng_op *op)
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
		}
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
			stat_inc(&e->stats.failovers);
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
			for (i = 1; i < p->nrep; i++)
				req_enqueue(&p->reqs[i], p->rep[i]);
			return;
		}
		if (err)
			op_set_err(op, err);
		return;
	default:
		if (err)
			op_set_err(op, err);
		return;
	}
}

static void req_done(struct eng_req *r, int err)
{
	struct eng_piece *p = r->piece;

	r->state = REQ_DONE;
	r->err = err;
	piece_req_done(p, r, err);
	piece_check(p);
}

/* xp_sent_cb: the connection no longer references the payload. */
static void req_sent(void *arg, int err)
{
	struct eng_req *r = arg;

	(void)err; /* a lost frame shows up as a lost answer */
	r->in_conn--;
	piece_check(r->piece);
}

/* ---- node connections --------------------------------------------------- */

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

/* Register, change or drop @n's fd in epoll to match what it needs. */
static void node_update_events(struct eng_node *n)
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

/* ---- RDMA payload ------------------------------------------------------ */

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

/* Payload to @n stays inline because of @why: logged when it changes. */
static void rdma_inline(struct eng_node *n, const char *why, bool warn)
{
	char name[SB_HOST_MAX + 32];

	if (strncmp(n->rd.why, why, sizeof(n->rd.why) - 1)) {
		snprintf(n->rd.why, sizeof(n->rd.why), "%s", why);
		node_name(n, name, sizeof(name));
		if (warn)
			sb_warn("%s: payload inline on TCP: %s", name, why);
		else
			sb_info("%s: payload inline on TCP: %s", name, why);
	}
	rdma_publish(n);
}

/* Ask @n for an offer again later (doubling back-off). */
static void rdma_retry_later(struct eng_node *n)
{
	n->rd.backoff_ms = n->rd.backoff_ms ? 2 * n->rd.backoff_ms
					    : ENG_RDMA_RETRY_MIN_MS;
	if (n->rd.backoff_ms > ENG_RDMA_RETRY_MAX_MS)
		n->rd.backoff_ms = ENG_RDMA_RETRY_MAX_MS;
	n->rd.retry_at = sb_now_ms() + n->rd.backoff_ms;
}

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

/*
 * Disconnect and free @n's RDMA connection. Every buffer must be back (or
 * about to be unreachable: the QP goes first). Never from its callbacks.
 */
static void rdma_free(struct eng_node *n)
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

/* Take back the buffers of @n's requests in flight (before rdma_free). */
static void rdma_release_inflight(struct eng_node *n)
{
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight)
	{
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (!r->rbuf)
			continue;
		xp_rdma_pool_put(xp_rdma_conn_pool(n->rd.conn), r->rbuf);
		r->rbuf = NULL;
		r->rd_win = RW_NONE;
		n->rd.held--;
	}
}

/* "link sbr1 down": why payload to @n is inline while its link is down. */
static void link_why(const struct eng_node *n, char *buf, size_t len)
{
	char name[IF_NAMESIZE + 16];

	snprintf(buf, len, "link %s down",
		 xp_link_name(n->e->links, n->rd.ifindex, name, sizeof(name)));
}

/*
 * Tell @n over TCP that we dropped our RDMA connection: an RDMA_OFFER,
 * which makes the node take its side down (QP first) if it still has it
 * (docs/protocol.md). Its operations in flight end at once instead of
 * after transport retries, which a dead link may never deliver, and the
 * requests holding our buffers come back EPROTO. The answer is ignored
 * (rdma_on_offer matches offer_id only); a token it carries expires.
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

/* Payload to @n is inline because its link is down: say so. */
static void rdma_link_down_why(struct eng_node *n)
{
	char why[96];

	link_why(n, why, sizeof(why));
	rdma_inline(n, why, true);
}

/* The link of @n's RDMA connection went down: inline until it is back. */
static void rdma_link_down(struct eng_node *n)
{
	if (n->rd.link_down)
		return;
	n->rd.link_down = true;
	n->rd.offer_now = false;
	n->rd.retry_at = 0;
	if (n->rd.conn &&
	    (n->rd.state == RD_CONNECTING || n->rd.state == RD_UP)) {
		/*
		 * QP into error first: the node can no longer touch the pool.
		 * Reports through rdma_state_cb, which says why.
		 */
		xp_rdma_conn_shutdown(n->rd.conn, -ENETDOWN);
		rdma_drop_notice(n);
		return;
	}
	rdma_link_down_why(n);
}

/* The link of @n's RDMA connection is back: ask for an offer at once. */
static void rdma_link_up(struct eng_node *n)
{
	char name[SB_HOST_MAX + 32], ifn[IF_NAMESIZE + 16];

	if (!n->rd.link_down)
		return;
	n->rd.link_down = false;
	n->rd.backoff_ms = 0;
	n->rd.offer_now = true;
	sb_info("%s: link %s up: asking for RDMA again",
		node_name(n, name, sizeof(name)),
		xp_link_name(n->e->links, n->rd.ifindex, ifn, sizeof(ifn)));
	if (n->rd.state == RD_NONE)
		n->rd.retry_at = sb_now_ms();
	/* RD_DOWN: rdma_timers offers once the old connection is freed. */
}

/* xp_link_cb: a link changed; act for every node whose RDMA runs on it. */
static void link_changed(void *arg, int ifindex, bool up)
{
	struct sb_engine *e = arg;
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		if (n->rd.ifindex != ifindex)
			continue;
		if (up)
			rdma_link_up(n);
		else
			rdma_link_down(n);
	}
}

/* Start the link watcher (first offer answered); false if none. */
static bool links_start(struct sb_engine *e)
{
	if (e->links)
		return true;
	if (e->links_failed)
		return false;
	errno = 0;
	e->links = xp_link_new(link_changed, e);
	if (e->links &&
	    sb_evtag_ctl(e->epfd, EPOLL_CTL_ADD, xp_link_fd(e->links), EPOLLIN,
			 &e->links_tag) < 0) {
		xp_link_free(e->links);
		e->links = NULL;
	}
	if (!e->links) {
		e->links_failed = true;
		sb_warn("rdma: cannot watch links (%s): a link that goes down "
			"shows only as RDMA errors",
			strerror(errno ? errno : EIO));
		return false;
	}
	return true;
}

/* The link watcher's fd is readable. */
static void links_event(struct sb_engine *e)
{
	int err = xp_link_service(e->links);
	unsigned int i;

	if (!err)
		return;
	sb_warn("rdma: link watching stopped: %s", strerror(-err));
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, xp_link_fd(e->links), NULL);
	xp_link_free(e->links);
	e->links = NULL;
	e->links_failed = true;
	/* No word of a link's return will come: back to the back-off. */
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		if (!n->rd.link_down)
			continue;
		n->rd.link_down = false;
		if (n->rd.state == RD_NONE)
			rdma_retry_later(n);
	}
}

/*
 * @n's RDMA connection is up on the link @ifindex (0: unknown, nothing to
 * watch): watch it. Returns true when that link is down already, after
 * taking the connection down.
 */
static bool link_track(struct eng_node *n, int ifindex)
{
	if (ifindex <= 0 || !links_start(n->e))
		return false;
	n->rd.ifindex = ifindex;
	n->rd.link_down = false;
	if (xp_link_state(n->e->links, ifindex) != 0)
		return false;
	rdma_link_down(n);
	return true;
}

/*
 * Before connecting to @dst: the link of an address of ours whose prefix
 * holds @dst is, on a directly attached RDMA network, the one the
 * connection will use. When it is down, connecting is pointless: say so
 * and wait for it (returns true). A routed @dst is not guessed; the
 * connection's own link (link_track) is watched once it is up.
 */
static bool link_guess(struct eng_node *n, const struct sockaddr *dst)
{
	int ifindex;

	if (!links_start(n->e))
		return false;
	ifindex = xp_link_of_addr(dst);
	if (ifindex <= 0)
		return false;
	n->rd.ifindex = ifindex;
	if (xp_link_state(n->e->links, ifindex) != 0)
		return false;
	n->rd.link_down = false;
	rdma_link_down(n);
	return true;
}

/*
 * @n's RDMA connection went down: requests whose window bind is still
 * posted are not waited for (a device in error need not complete the
 * bind soon); rdma_send_granted releases their buffers (xp_rdma_release
 * takes them back on a connection that is down) and sends them inline.
 */
static void rdma_abandon_binds(struct eng_node *n)
{
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight)
	{
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
	char name[SB_HOST_MAX + 32], why[96];

	if (!err) {
		if (link_track(n, xp_rdma_conn_ifindex(c)))
			return; /* its link is down already: taken down */
		n->rd.state = RD_UP;
		n->rd.backoff_ms = 0;
		n->rd.why[0] = '\0';
		sb_info("%s: payload by RDMA, %s",
			node_name(n, name, sizeof(name)),
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
		link_why(n, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "RDMA connection: %s",
			 strerror(-err));
	rdma_inline(n, why, true);
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

/* @n authenticated: RDMA if both sides can, else say why not. */
static void rdma_begin(struct eng_node *n)
{
	struct sb_engine *e = n->e;

	n->rd.eproto_logged = false;
	if (e->cl.rdma == SB_RDMA_OFF)
		rdma_inline(n, "rdma = off", false);
	else if (!e->rdma_ok)
		rdma_inline(n, "no RDMA device on this host",
			    e->cl.rdma == SB_RDMA_ON);
	else if (!n->rd.node_rdma)
		rdma_inline(n, "the node offers no RDMA",
			    e->cl.rdma == SB_RDMA_ON);
	else if (n->rd.link_down)
		rdma_link_down_why(n);
	else
		rdma_offer(n);
}

/* The node answered our RDMA_OFFER: connect with its token. */
static void rdma_on_offer(struct eng_node *n, const struct xp_hdr *h,
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
	char why[96];
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
					     0, 0, 0, 0, 0xff, 0xff};

	if (n->rd.state != RD_OFFERED || h->req_id != n->rd.offer_id)
		return;
	n->rd.state = RD_NONE;
	if (h->status != XP_ST_OK) {
		snprintf(why, sizeof(why), "RDMA_OFFER answered %s",
			 xp_status_name(h->status));
		rdma_inline(n, why, true);
		rdma_retry_later(n);
		return;
	}
	if (!payload || xp_rdma_offer_decode(payload, h->payload_len, &o)) {
		rdma_inline(n, "malformed RDMA_OFFER answer", true);
		return;
	}
	if (n->rd.link_down) {
		/* Went down while the offer was out; its token just expires. */
		explicit_bzero(o.token, sizeof(o.token));
		link_why(n, why, sizeof(why));
		rdma_inline(n, why, true);
		return;
	}
	if (!memcmp(o.addr, v4mapped, sizeof(v4mapped))) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(o.port);
		memcpy(&sin->sin_addr, o.addr + 12, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(o.port);
		memcpy(&sin6->sin6_addr, o.addr, 16);
	}
	if (link_guess(n, (struct sockaddr *)&ss)) {
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
		rdma_inline(n, why, true);
		rdma_retry_later(n);
		return;
	}
	n->rd.state = RD_CONNECTING;
	rdma_watch(n);
	rdma_publish(n);
}

static void rdma_send_granted(struct eng_node *n);

/* The RDMA fds of @n are readable: cm events and completions. */
static void rdma_event(struct eng_node *n)
{
	if (!n->rd.conn)
		return;
	/* A failure reports through rdma_state_cb. */
	(void)xp_rdma_conn_service(n->rd.conn);
	rdma_watch(n);
	rdma_send_granted(n);
}

/* Timers of @n's RDMA side: free a dead connection, ask again. */
static void rdma_timers(struct eng_node *n, uint64_t now, uint64_t *next)
{
	if (n->rd.state == RD_DOWN && !n->rd.held) {
		rdma_free(n);
		if (n->rd.offer_now)
			n->rd.retry_at = now; /* its link came back */
		else
			rdma_retry_later(n);
	}
	if (n->sess.state != NODE_UP || n->rd.state != RD_NONE ||
	    !n->rd.retry_at || n->rd.link_down)
		return;
	if (n->rd.retry_at <= now)
		rdma_offer(n);
	else if (n->rd.retry_at < *next)
		*next = n->rd.retry_at;
}

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

/* @r holds pool buffer @b now; a WRITE's payload is copied into it. */
static void rdma_take(struct eng_node *n, struct eng_req *r,
		      struct xp_rdma_buf *b)
{
	if (r->opcode == XP_OP_WRITE)
		rdma_copy(n->e, r->iov, r->iovcnt, 0, b->data, r->length,
			  false);
	r->rbuf = b;
	r->rd_win = RW_NONE;
	n->rd.held++;
}

/*
 * Describe @r's buffer in @h (the window's key when windows are in use):
 * the request goes without inline payload and without DCRC.
 */
static void rdma_describe(struct eng_node *n, struct eng_req *r,
			  struct xp_hdr *h)
{
	(void)xp_rdma_conn_describe(n->rd.conn, r->rbuf, 0, r->length, h);
	h->payload_len = 0;
	h->flags &= (uint16_t)~XP_F_DCRC;
	__atomic_fetch_add(&n->e->stats.bytes_rdma, r->length,
			   __ATOMIC_RELAXED);
}

/* @r gives its buffer back (its window, if any, is invalidated first). */
static void rdma_give_back(struct eng_node *n, struct eng_req *r)
{
	xp_rdma_release(n->rd.conn, r->rbuf);
	r->rbuf = NULL;
	r->rd_win = RW_NONE;
	n->rd.held--;
}

/* The header of @r as it is sent (req_id assigned). */
static void req_hdr(const struct eng_req *r, struct xp_hdr *h)
{
	xp_hdr_init(h, r->opcode, r->req_id, r->lun_id);
	h->flags = r->flags;
	h->offset = r->offset;
	h->length = r->length;
	h->payload_len = r->paylen;
}

/*
 * xp_rdma_grant_cb: the window over @b is bound (or not). Only marks the
 * request: it is sent from rdma_send_granted, outside the RDMA
 * connection's callbacks. No request owns @b when node_fail or a timeout
 * took it back first (then its QP is gone or going).
 */
static void rdma_granted(void *arg, struct xp_rdma_buf *b, int err)
{
	struct eng_node *n = arg;
	struct sb_list *it;

	sb_list_for_each(it, &n->q.inflight)
	{
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (r->rbuf != b || r->rd_win != RW_BINDING)
			continue;
		r->rd_win = err ? RW_FAILED : RW_READY;
		n->rd.granted = true;
		return;
	}
}

/* Take @r, in flight but not sent, back to the front of the queue. */
static void req_unsend(struct eng_node *n, struct eng_req *r)
{
	inflight_del(r);
	r->state = REQ_WAITING;
	sb_list_add_head(&n->q.waitq, &r->link);
}

/*
 * Send the requests whose window is bound now; those whose bind failed
 * (the RDMA connection is down) go back to be sent inline.
 */
static void rdma_send_granted(struct eng_node *n)
{
	struct sb_list *it;
	struct xp_hdr h;
	int ret;

	if (!n->rd.granted || n->sess.state != NODE_UP)
		return;
	n->rd.granted = false;
again:
	sb_list_for_each(it, &n->q.inflight)
	{
		struct eng_req *r = container_of(it, struct eng_req, link);

		/* Bound, but the connection went down since: inline too. */
		if (r->rd_win == RW_FAILED ||
		    (r->rd_win == RW_READY && n->rd.state != RD_UP)) {
			rdma_give_back(n, r);
			req_unsend(n, r);
			goto again;
		}
		if (r->rd_win != RW_READY)
			continue;
		r->rd_win = RW_NONE;
		req_hdr(r, &h);
		rdma_describe(n, r, &h);
		ret = xp_conn_send(n->sess.conn, &h, NULL, 0, NULL, NULL);
		if (!ret)
			continue;
		rdma_give_back(n, r);
		if (ret != -EPIPE) {
			inflight_del(r);
			req_done(r, ret);
			goto again;
		}
		/* the connection failed: resend after reconnecting */
		inflight_del(r);
		r->state = REQ_WAITING;
		sb_list_add_tail(&n->q.waitq, &r->link);
		node_fail(n, ret);
		return;
	}
}

/*
 * Windows in use: bind @r's window; @r waits in flight, unsent, until
 * rdma_send_granted. If the bind cannot even be posted, @r goes back to
 * the front of the queue, inline.
 */
static void rdma_grant(struct eng_node *n, struct eng_req *r)
{
	unsigned int acc = r->opcode == XP_OP_WRITE ? XP_VERBS_ACC_REMOTE_READ
						    : XP_VERBS_ACC_REMOTE_WRITE;

	r->rd_win = RW_BINDING;
	if (!xp_rdma_grant(n->rd.conn, r->rbuf, 0, r->length, acc, rdma_granted,
			   n))
		return;
	rdma_give_back(n, r);
	r->inline_only = true;
	req_unsend(n, r);
}

/*
 * Connection to @n lost or refused (@err): drop it, fail or requeue what
 * it carried, schedule the next attempt.
 */
static void node_fail(struct eng_node *n, int err)
{
	struct sb_engine *e = n->e;
	struct sb_list moved, waiting;
	struct xp_conn *c = n->sess.conn;
	uint64_t now = sb_now_ms();
	char name[SB_HOST_MAX + 32];

	if (n->sess.state == NODE_DOWN)
		return;
	if (n->sess.ev_mask) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->sess.fd, NULL);
		n->sess.ev_mask = 0;
	}
	if (!c && n->sess.fd >= 0)
		close(n->sess.fd);
	n->sess.conn = NULL;
	n->sess.fd = -1;
	/* c receives nothing more: it is freed below, before any service */
	n->q.placed = NULL;
	if (n->sess.state == NODE_UP || !n->sess.logged_down) {
		if (n->sess.state == NODE_UP)
			sb_warn("%s: connection lost: %s",
				node_name(n, name, sizeof(name)),
				strerror(-err));
		else
			sb_warn("%s: cannot connect: %s",
				node_name(n, name, sizeof(name)),
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

	/*
	 * In-flight requests: reads fail over at once, CAW and control
	 * requests fail (their effect is unknown), writes go back to the
	 * front of the queue to be resent after a reconnect.
	 */
	/* The QP is freed below, before anything is sent again. */
	rdma_release_inflight(n);
	sb_list_init(&moved);
	sb_list_init(&waiting);
	sb_list_splice_tail(&n->q.waitq, &waiting);
	while (!sb_list_empty(&n->q.inflight)) {
		struct eng_req *r =
			container_of(n->q.inflight.next, struct eng_req, link);
		struct eng_op *op = r->piece->op;

		inflight_del(r);
		if (op->kind == OP_CTL || r->opcode == XP_OP_READ ||
		    r->opcode == XP_OP_CAW) {
			req_done(r, -ECONNRESET);
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
			req_done(r, -EHOSTUNREACH);
		} else if (r->opcode == XP_OP_READ) {
			req_done(r, -EHOSTUNREACH);
		} else {
			if (!r->deadline)
				r->deadline = now + e->cl.io_timeout_ms;
			sb_list_add_tail(&moved, &r->link);
		}
	}
	/* requeued first, then whatever the callbacks above queued here */
	sb_list_splice_front(&moved, &n->q.waitq);
	/* frees the payload references: sent callbacks run here */
	xp_conn_free(c);
	/* The RDMA connection belongs to the TCP session: it goes too. */
	if (n->rd.conn)
		rdma_free(n);
	n->rd.state = RD_NONE;
	n->rd.node_rdma = false;
	n->rd.retry_at = 0;
	n->rd.backoff_ms = 0;
	rdma_publish(n);
}

static int node_on_frame(void *arg, const struct xp_hdr *h, void *payload,
			 bool crc_ok);
static int node_place(void *arg, const struct xp_hdr *h, struct iovec *iov);

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

/* Start a non-blocking connect to @n. */
static void node_connect(struct eng_node *n)
{
	int fd;

	n->sess.hs_deadline = sb_now_ms() + ENG_HANDSHAKE_MS;
	n->sess.state = NODE_CONNECTING;
	fd = xp_tcp_connect(n->addr->host, n->addr->port);
	if (fd < 0) {
		n->sess.fd = -1;
		node_fail(n, fd);
		return;
	}
	n->sess.fd = fd;
	node_update_events(n);
	if (!n->sess.ev_mask)
		node_fail(n, -EIO);
}

/* The socket of a CONNECTING node is writable: connected or refused. */
static void node_connected(struct eng_node *n)
{
	int ret;

	ret = xp_tcp_connect_done(n->sess.fd);
	if (ret) {
		node_fail(n, ret);
		return;
	}
	(void)xp_tcp_tune(n->sess.fd);
	n->sess.conn = xp_conn_new(n->sess.fd, node_on_frame, n);
	if (!n->sess.conn) {
		node_fail(n, -ENOMEM);
		return;
	}
	xp_conn_set_place(n->sess.conn, node_place);
	n->sess.state = NODE_HELLO_SENT;
	ret = node_send_hello(n);
	if (ret)
		node_fail(n, ret);
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
		stat_inc(&e->stats.reconnects);
		sb_info("%s: reconnected", node_name(n, name, sizeof(name)));
	}
	n->sess.ever_up = true;
	rdma_begin(n);
	/* queued requests now wait only for a slot, which never expires */
	sb_list_for_each(it, &n->q.waitq) container_of(it, struct eng_req, link)
		->deadline = 0;
	node_publish(n, true);
}

/*
 * Handshake refusals repeat on every reconnect attempt; log them once per
 * outage (node_fail marks the outage logged).
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
		       node_name(n, name, sizeof(name)),
		       xp_status_name(h->status));
		return xp_status_to_errno(h->status);
	}
	if (h->payload_len != XP_HELLO_ANSWER_LEN ||
	    xp_hello_decode(payload, XP_HELLO_LEN, &hl) < 0)
		return -EPROTO;
	if (hl.max_ver < XP_VERSION_MIN || hl.min_ver > XP_VERSION_MAX) {
		hs_err(n, "%s: no common protocol version (node %u..%u)",
		       node_name(n, name, sizeof(name)), hl.min_ver,
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
		       node_name(n, name, sizeof(name)));
		return -EPERM;
	}
	if (hl.sender_id != n->addr->id) {
		hs_err(n, "%s: answered as node %llu; check the cluster file",
		       node_name(n, name, sizeof(name)),
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
		node_fail(n, ret);
		return;
	}
	n->sess.state = NODE_AUTH_SENT;
}

/*
 * The answer to @r, whose payload a pool buffer held: copy a READ's data
 * out, give the buffer back; on EPROTO resend @r inline, first in line.
 */
static int req_on_rdma_answer(struct eng_req *r, const struct xp_hdr *h,
			      void *payload, int err)
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
	rdma_give_back(n, r);
	free(payload);
	if (err == -EPROTO) {
		if (!n->rd.eproto_logged)
			sb_warn("%s: the node refused an RDMA descriptor "
				"(EPROTO): resending inline",
				node_name(n, name, sizeof(name)));
		n->rd.eproto_logged = true;
		stat_inc(&e->stats.rdma_fallbacks);
		r->inline_only = true;
		r->state = REQ_WAITING;
		r->deadline = 0;
		sb_list_add_head(&n->q.waitq, &r->link);
		return 0;
	}
	req_done(r, err);
	return 0;
}

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
	inflight_del(r);
	err = h->status == XP_ST_OK ? 0 : xp_status_to_errno(h->status);
	if (r->rbuf)
		return req_on_rdma_answer(r, h, payload, err);
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
	req_done(r, err);
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
	r = hash_find(n, h->req_id);
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
		rdma_on_offer(n, h, crc_ok ? payload : NULL);
		free(payload);
		return 0;
	}
	r = hash_find(n, h->req_id);
	if (!r) {
		/* the answer to a request that already timed out */
		free(payload);
		return 0;
	}
	return req_on_answer(r, h, payload, crc_ok, placed);
}

/* Send what the queue depth allows; fail control requests of down nodes. */
static void pump_node(struct eng_node *n)
{
	struct sb_engine *e = n->e;

	if (n->sess.state != NODE_UP) {
		struct sb_list *it, *next;

		for (it = n->q.waitq.next; it != &n->q.waitq; it = next) {
			struct eng_req *r =
				container_of(it, struct eng_req, link);

			next = it->next;
			if (r->piece->op->kind != OP_CTL)
				continue;
			sb_list_del(&r->link);
			req_done(r, -EHOSTUNREACH);
			/* completions may have queued more behind @next */
			next = n->q.waitq.next;
		}
		return;
	}
	/* binds finished (or aborted) outside rdma_event */
	rdma_send_granted(n);
	while (n->sess.state == NODE_UP && !sb_list_empty(&n->q.waitq) &&
	       n->q.ninflight < e->cl.queue_depth) {
		struct eng_req *r =
			container_of(n->q.waitq.next, struct eng_req, link);
		struct xp_rdma_buf *b = NULL;
		struct xp_rdma_wait unused;
		struct xp_hdr h;
		int ret;

		if (rdma_wants(n, r)) {
			struct xp_rdma_pool *pool =
				xp_rdma_conn_pool(n->rd.conn);

			/* Dry: hold the queue back until an answer frees one. */
			if (!xp_rdma_pool_nfree(pool))
				break;
			/* never queues: a buffer is free, nobody waits */
			b = xp_rdma_pool_get(pool, &unused, NULL, NULL);
			if (!b)
				break;
		}
		sb_list_del(&r->link);
		r->req_id = n->q.next_id++;
		req_hdr(r, &h);
		if (b) {
			rdma_take(n, r, b);
			if (!xp_rdma_conn_windows(n->rd.conn))
				rdma_describe(n, r, &h);
		} else if (r->opcode == XP_OP_READ ||
			   r->opcode == XP_OP_WRITE) {
			__atomic_fetch_add(&e->stats.bytes_inline, r->length,
					   __ATOMIC_RELAXED);
		}
		r->state = REQ_INFLIGHT;
		r->deadline = sb_now_ms() + e->cl.io_timeout_ms;
		r->hnext = *hash_slot(n, r->req_id);
		*hash_slot(n, r->req_id) = r;
		sb_list_add_tail(&n->q.inflight, &r->link);
		n->q.ninflight++;
		if (n->q.ninflight > e->stats.max_inflight)
			__atomic_store_n(&e->stats.max_inflight, n->q.ninflight,
					 __ATOMIC_RELAXED);
		if (b && xp_rdma_conn_windows(n->rd.conn)) {
			/* sent once the window is bound */
			rdma_grant(n, r);
			continue;
		} else if (b) {
			ret = xp_conn_send(n->sess.conn, &h, NULL, 0, NULL,
					   NULL);
		} else if (r->crc_given) {
			if (r->paylen)
				r->in_conn++;
			h.data_crc = r->data_crc;
			ret = xp_conn_send_crc(n->sess.conn, &h, r->iov,
					       r->iovcnt,
					       r->paylen ? req_sent : NULL, r);
		} else {
			if (r->paylen)
				r->in_conn++;
			ret = xp_conn_send(n->sess.conn, &h, r->iov, r->iovcnt,
					   r->paylen ? req_sent : NULL, r);
		}
		if (ret) {
			if (!b && r->paylen)
				r->in_conn--;
			if (b)
				rdma_give_back(n, r);
			inflight_del(r);
			if (ret != -EPIPE) {
				req_done(r, ret);
				continue;
			}
			/* the connection failed: resend after reconnecting */
			r->state = REQ_WAITING;
			sb_list_add_tail(&n->q.waitq, &r->link);
			node_fail(n, ret);
			return;
		}
	}
	if (n->sess.state == NODE_UP && !sb_list_empty(&n->q.waitq))
		stat_inc(&e->stats.throttled);
}

/* Expire requests and handshakes; connect due nodes. Returns ms to sleep. */
static int run_timers(struct sb_engine *e)
{
	uint64_t now = sb_now_ms();
	uint64_t next = now + ENG_MAX_WAIT_MS;
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];
		struct sb_list *it, *nx;

		/* in flight: ordered by deadline */
		while (!sb_list_empty(&n->q.inflight)) {
			struct eng_req *r = container_of(n->q.inflight.next,
							 struct eng_req, link);
			bool stuck;

			if (r->deadline > now) {
				if (r->deadline < next)
					next = r->deadline;
				break;
			}
			stat_inc(&e->stats.timeouts);
			sb_err_rl("node %u: %s at %llu timed out after %u ms",
				  n->addr->id, xp_opcode_name(r->opcode),
				  (unsigned long long)r->offset,
				  e->cl.io_timeout_ms);
			inflight_del(r);
			stuck = r->in_conn > 0;
			if (r->rbuf) {
				/*
				 * The node may still move data in or out of
				 * its buffer: node_fail below frees the QP
				 * before the buffer can be handed out again.
				 */
				xp_rdma_pool_put(xp_rdma_conn_pool(n->rd.conn),
						 r->rbuf);
				r->rbuf = NULL;
				r->rd_win = RW_NONE;
				n->rd.held--;
				stuck = true;
			}
			req_done(r, -ETIMEDOUT);
			if (stuck) {
				/* the socket did not even take the payload */
				node_fail(n, -ETIMEDOUT);
				break;
			}
		}
		if (n->sess.state != NODE_UP) {
			sb_list_for_each_safe(it, nx, &n->q.waitq)
			{
				struct eng_req *r =
					container_of(it, struct eng_req, link);

				if (!r->deadline)
					continue;
				if (r->deadline > now) {
					if (r->deadline < next)
						next = r->deadline;
					continue;
				}
				stat_inc(&e->stats.timeouts);
				sb_list_del(&r->link);
				req_done(r, -EHOSTUNREACH);
			}
		}
		if (n->sess.state == NODE_DOWN) {
			if (n->sess.retry_at <= now)
				node_connect(n);
			else if (n->sess.retry_at < next)
				next = n->sess.retry_at;
		}
		if (n->sess.state != NODE_DOWN && n->sess.state != NODE_UP) {
			if (n->sess.hs_deadline <= now)
				node_fail(n, -ETIMEDOUT);
			else if (n->sess.hs_deadline < next)
				next = n->sess.hs_deadline;
		}
		if (n->sess.state == NODE_DOWN && n->sess.retry_at < next)
			next = n->sess.retry_at;
		rdma_timers(n, now, &next);
	}
	now = sb_now_ms();
	return next > now ? (int)(next - now) : 0;
}

/* Service one node's fd. */
static void node_event(struct eng_node *n, uint32_t events)
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
		node_fail(n, ret);
		return;
	}
	if (n->sess.state == NODE_AUTH_READY)
		node_send_auth(n);
}

static void drain_submissions(struct sb_engine *e)
{
	struct sb_list batch;
	uint64_t v;

	if (read(e->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		sb_err_rl("eventfd read: %s", strerror(errno));
	sb_list_init(&batch);
	pthread_mutex_lock(&e->lock);
	sb_list_splice_tail(&e->subq, &batch);
	e->kick_pending = false;
	if (e->stopping)
		e->stop_seen = true;
	pthread_mutex_unlock(&e->lock);
	while (!sb_list_empty(&batch)) {
		struct eng_op *op =
			container_of(batch.next, struct eng_op, link);

		sb_list_del(&op->link);
		op_start(op);
	}
}

/* Complete everything with -ESHUTDOWN and close the connections. */
static void engine_shutdown(struct sb_engine *e)
{
	unsigned int i;

	e->stop_seen = true;
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		/* freed below, before anything could reuse a buffer */
		if (n->rd.conn)
			rdma_release_inflight(n);
		while (!sb_list_empty(&n->q.inflight)) {
			struct eng_req *r = container_of(n->q.inflight.next,
							 struct eng_req, link);

			inflight_del(r);
			req_done(r, -ESHUTDOWN);
		}
		while (!sb_list_empty(&n->q.waitq)) {
			struct eng_req *r = container_of(n->q.waitq.next,
							 struct eng_req, link);

			sb_list_del(&r->link);
			req_done(r, -ESHUTDOWN);
		}
	}
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];
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
			rdma_free(n);
	}
	/* submitted after the last drain */
	drain_submissions(e);
}

/* Service one ready fd of the epoll set: its tag says whose it is. */
static void loop_event(struct sb_engine *e, const struct epoll_event *ev)
{
	struct sb_evtag *tag = sb_evtag_of(ev);

	switch ((enum eng_ev_kind)tag->kind) {
	case ENG_EV_KICK:
		drain_submissions(e);
		return;
	case ENG_EV_LINKS:
		if (e->links)
			links_event(e);
		return;
	case ENG_EV_RDMA_CM:
		rdma_event(container_of(tag, struct eng_node, rd.cm_tag));
		return;
	case ENG_EV_RDMA_CQ:
		rdma_event(container_of(tag, struct eng_node, rd.cq_tag));
		return;
	case ENG_EV_NODE:
		node_event(container_of(tag, struct eng_node, sess.tag),
			   ev->events);
		return;
	}
	sb_err_rl("epoll: unknown tag %u", tag->kind);
}

static void *engine_loop(void *arg)
{
	struct sb_engine *e = arg;
	struct epoll_event evs[ENG_MAX_EVENTS];
	unsigned int i;
	sigset_t pipe_set;

	/*
	 * A write to a connection the node closed raises SIGPIPE in this
	 * thread; keep it blocked here so it becomes EPIPE, whatever the
	 * program (tcmu-runner, a tool) does with the signal.
	 */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	while (!e->stop_seen) {
		int timeout, nev, k;

		timeout = run_timers(e);
		for (i = 0; i < e->cl.nr_nodes; i++) {
			pump_node(&e->nodes[i]);
			node_update_events(&e->nodes[i]);
			if (e->nodes[i].sess.conn &&
			    xp_conn_rx_pending(e->nodes[i].sess.conn))
				timeout = 0;
		}
		nev = epoll_wait(e->epfd, evs, ENG_MAX_EVENTS, timeout);
		if (nev < 0) {
			if (errno == EINTR)
				continue;
			sb_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (k = 0; k < nev; k++)
			loop_event(e, &evs[k]);
		/* frames left buffered by the per-call budget */
		for (i = 0; i < e->cl.nr_nodes; i++) {
			struct eng_node *n = &e->nodes[i];

			if (n->sess.conn && xp_conn_rx_pending(n->sess.conn))
				node_event(n, EPOLLIN);
			/*
			 * Binds that ended outside rdma_event and pump_node
			 * (a link going down takes the RDMA connection down
			 * from links_event): send those requests now, inline
			 * if need be. Nothing else would wake them when every
			 * command of the initiator waits on them.
			 */
			if (n->rd.granted)
				pump_node(n);
		}
	}
	engine_shutdown(e);
	if (e->links) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, xp_link_fd(e->links), NULL);
		xp_link_free(e->links);
		e->links = NULL;
	}
	return NULL;
}

/* ---- public API --------------------------------------------------------- */

struct sb_engine *sb_engine_new(const struct sb_cluster *cl,
				const struct xp_secret *secret, char *err,
				size_t errlen)
{
	return sb_engine_new_verbs(cl, secret, NULL, err, errlen);
}

struct sb_engine *sb_engine_new_verbs(const struct sb_cluster *cl,
				      const struct xp_secret *secret,
				      const struct xp_verbs_ops *vops,
				      char *err, size_t errlen)
{
	struct sb_engine *e;
	unsigned int i;
	int ret;

	if (!cl || !secret || cl->nr_nodes == 0 ||
	    cl->nr_nodes > SB_MAX_NODES || cl->replicas == 0 ||
	    cl->replicas > cl->nr_nodes || cl->queue_depth == 0 ||
	    cl->io_timeout_ms == 0 || cl->chunk_size == 0 ||
	    (cl->chunk_size & (cl->chunk_size - 1))) {
		snprintf(err, errlen, "invalid cluster configuration");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->cl = *cl;
	e->secret = *secret;
	e->max_piece = cl->chunk_size < ENG_MAX_PIECE ? (uint32_t)cl->chunk_size
						      : ENG_MAX_PIECE;
	if (getrandom(&e->gw_id, sizeof(e->gw_id), 0) !=
	    (ssize_t)sizeof(e->gw_id)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto out_free_engine;
	}
	e->vops = vops ? vops : xp_verbs_real();
	if (cl->rdma != SB_RDMA_OFF) {
		e->rdma_ok = cl->rdma_buffers && cl->rdma_buffer_size &&
			     e->vops->device_count() > 0;
		if (!e->rdma_ok && cl->rdma == SB_RDMA_ON)
			sb_warn("rdma = on, but this host has no RDMA device: "
				"payload inline on TCP");
	}
	sb_list_init(&e->subq);
	sb_evtag_init(&e->kick_tag, ENG_EV_KICK);
	sb_evtag_init(&e->links_tag, ENG_EV_LINKS);
	for (i = 0; i < cl->nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		n->e = e;
		n->idx = i;
		n->addr = &e->cl.nodes[i];
		n->sess.fd = -1;
		n->sess.state = NODE_DOWN;
		n->sess.retry_at = 0; /* connect at once */
		n->q.next_id = 1;
		n->rd.cm_fd = n->rd.cq_fd = -1;
		sb_evtag_init(&n->sess.tag, ENG_EV_NODE);
		sb_evtag_init(&n->rd.cm_tag, ENG_EV_RDMA_CM);
		sb_evtag_init(&n->rd.cq_tag, ENG_EV_RDMA_CQ);
		sb_list_init(&n->q.waitq);
		sb_list_init(&n->q.inflight);
	}
	ret = pthread_mutex_init(&e->lock, NULL);
	if (ret) {
		snprintf(err, errlen, "mutex: %s", strerror(ret));
		goto out_free_engine;
	}
	ret = pthread_cond_init(&e->cond, NULL);
	if (ret) {
		snprintf(err, errlen, "condvar: %s", strerror(ret));
		goto out_destroy_lock;
	}
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		goto out_destroy_cond;
	}
	e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->evfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_close_epoll;
	}
	ret = sb_evtag_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, EPOLLIN,
			   &e->kick_tag);
	if (ret) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-ret));
		goto out_close_eventfd;
	}
	ret = pthread_create(&e->thread, NULL, engine_loop, e);
	if (ret) {
		snprintf(err, errlen, "pthread_create: %s", strerror(ret));
		goto out_close_eventfd;
	}
	e->thread_started = true;
	return e;

out_close_eventfd:
	close(e->evfd);
out_close_epoll:
	close(e->epfd);
out_destroy_cond:
	pthread_cond_destroy(&e->cond);
out_destroy_lock:
	pthread_mutex_destroy(&e->lock);
out_free_engine:
	free(e);
	return NULL;
}

static void engine_kick(struct sb_engine *e)
{
	uint64_t one = 1;

	/* a full counter (EAGAIN) still wakes the loop */
	if (write(e->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sb_err_rl("eventfd write: %s", strerror(errno));
}

void sb_engine_free(struct sb_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_mutex_unlock(&e->lock);
	engine_kick(e);
	if (e->thread_started)
		pthread_join(e->thread, NULL);
	close(e->evfd);
	close(e->epfd);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* Queue @op for the loop thread. 0 or -ESHUTDOWN. */
static int engine_queue(struct sb_engine *e, struct eng_op *op)
{
	bool kick;

	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return -ESHUTDOWN;
	}
	sb_list_add_tail(&e->subq, &op->link);
	/* one wakeup per batch: the loop drains the whole queue */
	kick = !e->kick_pending;
	e->kick_pending = true;
	pthread_mutex_unlock(&e->lock);
	if (kick)
		engine_kick(e);
	return 0;
}

/* One allocation: the op, @nslots pieces and @nslots * @rpp requests. */
static struct eng_op *op_alloc(struct sb_engine *e, unsigned int nslots,
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

int sb_engine_submit(struct sb_engine *e, struct sb_io *io)
{
	unsigned int nslots = 1, rpp;
	struct eng_op *op;
	struct sb_extent ext;
	uint64_t need = 0;
	int ret, npieces;

	if (!e || !io || !io->cb)
		return -EINVAL;
	switch (io->op) {
	case SB_IO_READ:
	case SB_IO_WRITE:
		need = io->length;
		rpp = io->op == SB_IO_READ ? 1 : e->cl.replicas;
		break;
	case SB_IO_WRITE_ZEROES:
	case SB_IO_UNMAP:
		rpp = e->cl.replicas;
		break;
	case SB_IO_CAW:
		if (io->length > XP_MAX_CAW)
			return -EINVAL;
		need = 2 * io->length;
		rpp = e->cl.replicas;
		break;
	case SB_IO_FLUSH:
		rpp = e->cl.nr_nodes;
		break;
	default:
		return -EINVAL;
	}
	if (io->flags & ~(SB_IO_F_FUA | SB_IO_F_UNMAP))
		return -EINVAL;
	if (io->op != SB_IO_FLUSH) {
		if (io->length == 0 || io->offset + io->length < io->offset)
			return -EINVAL;
		npieces = sb_split(io->offset, io->length, e->cl.chunk_size,
				   e->max_piece, &ext, 1);
		if (npieces < 1)
			return npieces < 0 ? npieces : -EINVAL;
		/* CAW is atomic on one node: it must stay in one chunk */
		if (io->op == SB_IO_CAW &&
		    (io->offset / e->cl.chunk_size !=
		     (io->offset + io->length - 1) / e->cl.chunk_size))
			return -EINVAL;
		nslots = (unsigned int)npieces < ENG_WINDOW
				 ? (unsigned int)npieces
				 : ENG_WINDOW;
	}
	if (need) {
		if (!io->iov || io->iovcnt <= 0 ||
		    sb_iov_total(io->iov, io->iovcnt) < need)
			return -EINVAL;
	}
	op = op_alloc(e, nslots, rpp);
	if (!op)
		return -ENOMEM;
	op->kind = OP_IO;
	op->op = io->op;
	op->io = io;
	op->next_off = io->offset;
	op->end = io->op == SB_IO_FLUSH ? io->offset : io->offset + io->length;
	ret = engine_queue(e, op);
	if (ret) {
		free(op);
		return ret;
	}
	stat_inc(&e->stats.submitted);
	return 0;
}

/* *@until = now + @timeout_ms on CLOCK_REALTIME (pthread_cond_timedwait). */
static void deadline_in(int timeout_ms, struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += timeout_ms / 1000;
	until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

int sb_engine_wait_ready(struct sb_engine *e, int timeout_ms)
{
	struct timespec until;
	unsigned int i;
	int up = 0;

	if (!e)
		return 0;
	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&e->lock);
	while (e->ntried < e->cl.nr_nodes && timeout_ms > 0) {
		if (pthread_cond_timedwait(&e->cond, &e->lock, &until) ==
		    ETIMEDOUT)
			break;
	}
	for (i = 0; i < e->cl.nr_nodes; i++)
		up += e->nodes[i].pub.up;
	pthread_mutex_unlock(&e->lock);
	return up;
}

bool sb_engine_node_up(struct sb_engine *e, unsigned int idx)
{
	bool up;

	if (!e || idx >= e->cl.nr_nodes)
		return false;
	pthread_mutex_lock(&e->lock);
	up = e->nodes[idx].pub.up;
	pthread_mutex_unlock(&e->lock);
	return up;
}

/* ---- synchronous control operations ----------------------------------- */

/*
 * Send @opcode to every node with @targets[i] set (all when NULL) and wait.
 * On success *@opp holds the finished op (reqs[i].err etc. per node);
 * the caller releases it with ctl_free().
 */
static int ctl_run(struct sb_engine *e, uint8_t opcode, uint64_t lun_id,
		   uint64_t offset, const void *payload, uint32_t paylen,
		   const bool *targets, struct eng_op **opp)
{
	struct eng_op *op;
	unsigned int i;
	int ret;

	op = op_alloc(e, 1, e->cl.nr_nodes);
	if (!op)
		return -ENOMEM;
	op->kind = OP_CTL;
	op->ctl_payload = payload;
	op->ctl_paylen = paylen;
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_req *r = &op->pieces[0].reqs[i];

		if (targets && !targets[i])
			continue;
		req_fill(r, opcode, 0, lun_id, offset, 0);
		if (paylen) {
			/* the iovec lives in the piece's slice array */
			r->paylen = paylen;
		}
	}
	if (paylen) {
		op->pieces[0].iov = calloc(1, sizeof(struct iovec));
		if (!op->pieces[0].iov) {
			free(op);
			return -ENOMEM;
		}
		op->pieces[0].iovcap = 1;
		op->pieces[0].iov[0].iov_base = (void *)payload;
		op->pieces[0].iov[0].iov_len = paylen;
		for (i = 0; i < e->cl.nr_nodes; i++) {
			struct eng_req *r = &op->pieces[0].reqs[i];

			if (r->opcode) {
				r->iov = op->pieces[0].iov;
				r->iovcnt = 1;
			}
		}
	}
	ret = engine_queue(e, op);
	if (ret) {
		free(op->pieces[0].iov);
		free(op);
		return ret;
	}
	pthread_mutex_lock(&e->lock);
	while (!op->ctl_done)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	*opp = op;
	return 0;
}

static void ctl_free(struct eng_op *op)
{
	unsigned int i;

	if (!op)
		return;
	for (i = 0; i < op->rpp; i++)
		free(op->pieces[0].reqs[i].ans_payload);
	free(op->pieces[0].iov);
	free(op);
}

/* Give the first connection attempts a chance before a control op. */
static void ctl_wait_tried(struct sb_engine *e)
{
	int t = (int)e->cl.io_timeout_ms;

	if (t > ENG_HANDSHAKE_MS)
		t = ENG_HANDSHAKE_MS;
	sb_engine_wait_ready(e, t + 100);
}

/* 0 when every node is up, else -EHOSTUNREACH. */
static int ctl_all_up(struct sb_engine *e, const char *what)
{
	unsigned int i;

	ctl_wait_tried(e);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		if (!sb_engine_node_up(e, i)) {
			sb_err("%s needs every node up; node %u (%s:%u) is "
			       "down",
			       what, e->cl.nodes[i].id, e->cl.nodes[i].host,
			       e->cl.nodes[i].port);
			return -EHOSTUNREACH;
		}
	}
	return 0;
}

int sb_engine_load_config(const char *path, struct sb_cluster *cl,
			  struct xp_secret *secret, char *err, size_t errlen)
{
	int ret;

	ret = sb_cluster_load(path, cl, err, errlen);
	if (ret)
		return ret;
	ret = xp_secret_load(cl->secret_file, secret);
	if (ret)
		snprintf(err, errlen, "secret file %s: %s", cl->secret_file,
			 ret == -EINVAL ? "must hold 16 to 256 bytes"
					: strerror(-ret));
	return ret;
}

void sb_engine_layout(const struct sb_engine *e, struct xp_layout *lay)
{
	lay->chunk_size = (uint32_t)e->cl.chunk_size;
	lay->replicas = (uint8_t)e->cl.replicas;
}

int sb_engine_lun_create(struct sb_engine *e, const char *name, uint64_t size)
{
	uint8_t payload[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	struct eng_op *op = NULL;
	struct xp_layout lay;
	unsigned int i;
	size_t len;
	int ret;

	if (!e || !name || size == 0)
		return -EINVAL;
	sb_engine_layout(e, &lay);
	len = strnlen(name, XP_LUN_NAME_MAX + 1);
	if (!xp_lun_name_valid(name, len))
		return -EINVAL;
	ret = ctl_all_up(e, "LUN create");
	if (ret)
		return ret;
	/* Payload: this engine's layout, then the name. */
	xp_layout_encode(&lay, payload);
	memcpy(payload + XP_LAYOUT_LEN, name, len);
	ret = ctl_run(e, XP_OP_LUN_CREATE, sb_lun_id(name), size, payload,
		      (uint32_t)(XP_LAYOUT_LEN + len), NULL, &op);
	if (ret)
		return ret;
	for (i = 0; i < op->rpp && !ret; i++)
		ret = op->pieces[0].reqs[i].err;
	ctl_free(op);
	return ret;
}

int sb_engine_lun_open(struct sb_engine *e, uint64_t lun_id, uint64_t *size,
		       struct xp_layout *layout)
{
	struct eng_op *op = NULL;
	bool targets[SB_MAX_NODES];
	unsigned int i, nup = 0, nfound = 0, nmissing = 0;
	struct xp_layout flay = {0}, rlay, mine;
	uint64_t found = 0;
	int ret, other = 0;

	if (!e || !lun_id || !size || !layout)
		return -EINVAL;
	ctl_wait_tried(e);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		targets[i] = sb_engine_node_up(e, i);
		nup += targets[i];
	}
	if (!nup)
		return -EHOSTUNREACH;
	ret = ctl_run(e, XP_OP_LUN_OPEN, lun_id, 0, NULL, 0, targets, &op);
	if (ret)
		return ret;
	for (i = 0; i < e->cl.nr_nodes; i++) {
		const struct eng_req *r = &op->pieces[0].reqs[i];

		if (!targets[i])
			continue;
		if (r->err == -ENOENT) {
			nmissing++;
		} else if (r->err) {
			if (!other)
				other = r->err;
		} else if (xp_layout_decode(r->ans_payload, r->ans_len, &rlay) <
			   0) {
			if (!other)
				other = -EBADMSG;
		} else if (nfound++ && (r->ans_offset != found ||
					rlay.chunk_size != flay.chunk_size ||
					rlay.replicas != flay.replicas)) {
			sb_err("LUN %016llx: nodes disagree on its size or "
			       "layout (%llu, %llu bytes)",
			       (unsigned long long)lun_id,
			       (unsigned long long)found,
			       (unsigned long long)r->ans_offset);
			ret = -EIO;
		} else {
			found = r->ans_offset;
			flay = rlay;
		}
	}
	ctl_free(op);
	if (ret)
		return ret;
	if (!nfound)
		return nmissing && !other ? -ENOENT : other;
	if (nmissing)
		sb_warn("LUN %016llx: %u node(s) do not have it",
			(unsigned long long)lun_id, nmissing);
	*size = found;
	*layout = flay;
	sb_engine_layout(e, &mine);
	if (flay.chunk_size != mine.chunk_size ||
	    flay.replicas != mine.replicas)
		return -EMEDIUMTYPE;
	return 0;
}

/* Run a LUN-wide @opcode on every node and reduce the answers. */
static int ctl_everywhere(struct sb_engine *e, uint8_t opcode, uint64_t lun_id,
			  uint64_t offset, bool enoent_ok)
{
	struct eng_op *op = NULL;
	unsigned int i, nmissing = 0;
	int ret;

	ret = ctl_all_up(e, xp_opcode_name(opcode));
	if (ret)
		return ret;
	ret = ctl_run(e, opcode, lun_id, offset, NULL, 0, NULL, &op);
	if (ret)
		return ret;
	for (i = 0; i < op->rpp; i++) {
		int err = op->pieces[0].reqs[i].err;

		if (err == -ENOENT && enoent_ok)
			nmissing++;
		else if (err && !ret)
			ret = err;
	}
	if (!ret && nmissing == op->rpp)
		ret = -ENOENT;
	ctl_free(op);
	return ret;
}

int sb_engine_lun_resize(struct sb_engine *e, uint64_t lun_id, uint64_t size)
{
	if (!e || !lun_id || !size)
		return -EINVAL;
	return ctl_everywhere(e, XP_OP_LUN_RESIZE, lun_id, size, false);
}

int sb_engine_lun_delete(struct sb_engine *e, uint64_t lun_id)
{
	if (!e || !lun_id)
		return -EINVAL;
	/* a node that lost it already (an earlier partial delete) is fine */
	return ctl_everywhere(e, XP_OP_LUN_DELETE, lun_id, 0, true);
}

int sb_engine_stat(struct sb_engine *e, unsigned int idx, struct xp_stat *st,
		   struct xp_stat_lun **luns)
{
	struct eng_op *op = NULL;
	bool targets[SB_MAX_NODES] = {false};
	struct xp_stat_lun *arr = NULL;
	const struct eng_req *r;
	int ret, n;

	if (!e || idx >= e->cl.nr_nodes || !st)
		return -EINVAL;
	ctl_wait_tried(e);
	targets[idx] = true;
	ret = ctl_run(e, XP_OP_STAT, 0, 0, NULL, 0, targets, &op);
	if (ret)
		return ret;
	r = &op->pieces[0].reqs[idx];
	ret = r->err;
	if (ret)
		goto out_free_op;
	if (!r->ans_payload) {
		ret = -EBADMSG;
		goto out_free_op;
	}
	n = xp_stat_decode(r->ans_payload, r->ans_len, st, NULL, 0);
	if (n < 0) {
		ret = n;
		goto out_free_op;
	}
	if (luns && n > 0) {
		arr = calloc((size_t)n, sizeof(*arr));
		if (!arr) {
			ret = -ENOMEM;
			goto out_free_op;
		}
		n = xp_stat_decode(r->ans_payload, r->ans_len, st, arr,
				   (size_t)n);
		if (n < 0) {
			free(arr);
			ret = n;
			goto out_free_op;
		}
	}
	if (luns)
		*luns = arr;
	ret = n;
out_free_op:
	ctl_free(op);
	return ret;
}

int sb_engine_wait_payload(struct sb_engine *e, int timeout_ms)
{
	struct timespec until;
	unsigned int i;
	int pending;

	if (!e)
		return 0;
	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&e->lock);
	for (;;) {
		pending = 0;
		for (i = 0; i < e->cl.nr_nodes; i++)
			pending += e->nodes[i].pub.up &&
				   e->nodes[i].pub.payload ==
					   SB_PAYLOAD_PENDING;
		if (!pending || timeout_ms <= 0 ||
		    pthread_cond_timedwait(&e->cond, &e->lock, &until) ==
			    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	return pending;
}

enum sb_payload sb_engine_node_payload(struct sb_engine *e, unsigned int idx,
				       char *why, size_t whylen)
{
	enum sb_payload p;

	if (!e || idx >= e->cl.nr_nodes)
		return SB_PAYLOAD_TCP;
	pthread_mutex_lock(&e->lock);
	p = e->nodes[idx].pub.payload;
	if (why && whylen)
		snprintf(why, whylen, "%s", e->nodes[idx].pub.why);
	pthread_mutex_unlock(&e->lock);
	return p;
}

void sb_engine_get_stats(struct sb_engine *e, struct sb_engine_stats *st)
{
	if (!e || !st)
		return;
	st->submitted = __atomic_load_n(&e->stats.submitted, __ATOMIC_RELAXED);
	st->completed = __atomic_load_n(&e->stats.completed, __ATOMIC_RELAXED);
	st->failovers = __atomic_load_n(&e->stats.failovers, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&e->stats.timeouts, __ATOMIC_RELAXED);
	st->reconnects =
		__atomic_load_n(&e->stats.reconnects, __ATOMIC_RELAXED);
	st->throttled = __atomic_load_n(&e->stats.throttled, __ATOMIC_RELAXED);
	st->max_inflight =
		__atomic_load_n(&e->stats.max_inflight, __ATOMIC_RELAXED);
	st->bytes_rdma =
		__atomic_load_n(&e->stats.bytes_rdma, __ATOMIC_RELAXED);
	st->bytes_inline =
		__atomic_load_n(&e->stats.bytes_inline, __ATOMIC_RELAXED);
	st->rdma_fallbacks =
		__atomic_load_n(&e->stats.rdma_fallbacks, __ATOMIC_RELAXED);
	st->copy_bytes =
		__atomic_load_n(&e->stats.copy_bytes, __ATOMIC_RELAXED);
	st->copy_ns = __atomic_load_n(&e->stats.copy_ns, __ATOMIC_RELAXED);
}
