/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Storage node event loop and protocol (see server.h).
 *
 * Life of a request:
 *
 *   on_frame ─ xp_hdr_check ─ dispatch ─┬─ sync ops (PING, STAT, LUN_*,
 *                                        │   LEASE_*) ───────────────┐
 *                                        ├─ READ, FLUSH ─ nd_io ──────┤
 *                                        └─ WRITE, WRITE_ZEROES,      │
 *                                           UNMAP, CAW, RESIZE:       │
 *                                           range lock ─ nd_io ───────┤
 *                                                                     v
 *                    req_free <─ sent callback <─ xp_conn_send <─ req_answer
 *
 * A request holds a reference on its connection and, while it uses one,
 * on its LUN. A connection that closes with requests in flight stays
 * allocated until the last of them has finished its disk I/O; their
 * answers are dropped.
 *
 * RDMA payload (docs/protocol.md, "RDMA payload"): with rdma_device set
 * and present, the node listens with rdma_cm (xp_rdma_listen) and sets
 * XP_FEAT_RDMA in HELLO. RDMA_OFFER issues a one-time token bound to the
 * session; the listener accepts the gateway's connect request only with
 * it, and hands the connection to the session (rdma_state). A READ or
 * WRITE whose descriptor names RDMA then moves in segments of
 * rdma_segment bytes, each through one buffer of the connection's
 * registered pool, straight to or from the disk:
 *
 *   WRITE: pool buffer ─ RDMA READ (pull) ─ pwrite from the buffer ─┐
 *   READ:  pool buffer ─ pread into the buffer ─ RDMA WRITE (push) ─┤
 *                                 every segment done: answer on TCP ┘
 *
 * A dry pool makes segments wait (FIFO, no failure). Any RDMA failure
 * answers the request EPROTO (the gateway resends it inline) and leaves
 * the session inline. The RDMA connection is freed (rdma_reap) once it is
 * down or its session closed, and no segment uses its buffers.
 *
 * SECURITY: every peer is hostile until AUTH succeeds. Before that only
 * HELLO then AUTH are accepted; anything else closes the connection with
 * no answer. Header fields are checked once by xp_hdr_decode (in xp_conn)
 * and xp_hdr_check; ranges against the LUN's size here.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "../lib/util/log.h"
#include "../xport/auth.h"
#include "../xport/conn.h"
#include "../xport/proto.h"
#include "../xport/rdma.h"
#include "../xport/tcp.h"
#include "../xport/verbs.h"
#include "io.h"
#include "lease.h"
#include "store.h"

#define LISTEN_BACKLOG 128
#define MAX_EVENTS 64
#define TICK_MS 200
#define ACCEPT_RETRY_MS 100

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum ev_kind {
	EV_LISTEN = 1,
	EV_IO,
	EV_SIGNAL,
	EV_TIMER,
	EV_STOP,
	EV_CONN,
	EV_RDMA_LISTEN, /* rdma_cm events of the listener */
	EV_RDMA_CQ, /* completions of one session's RDMA connection */
};

/* epoll user data: every registered object starts with one of these. */
struct ev_tag {
	enum ev_kind kind;
};

struct nd_counters {
	uint64_t ops_read;
	uint64_t ops_write;
	uint64_t ops_flush;
	uint64_t ops_unmap; /* UNMAP and WRITE_ZEROES */
	uint64_t ops_caw; /* compared, whether they matched or not */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t bytes_tcp_payload; /* inline payload, both directions */
	uint64_t bytes_rdma; /* payload moved by RDMA READ and WRITE */
	uint64_t bytes_tcp_control; /* frame headers, both directions */
};

struct nd_conn {
	struct ev_tag tag; /* EV_CONN; first member */
	struct nd_server *srv;
	struct xp_conn *xc; /* NULL once closed */
	struct nd_conn *prev, *next; /* srv->conns */
	unsigned int refs; /* 1 while open + 1 per request */
	unsigned int inflight; /* requests received and not yet answered */
	uint32_t events; /* epoll mask registered now */
	bool closed;
	bool paused; /* reading stopped: too much in flight, or stopping */
	bool rx_check; /* buffered frames may wait for a service call */
	bool hello_done;
	bool authed;
	uint64_t auth_deadline_ms;
	uint8_t nc[XP_NONCE_LEN]; /* gateway's nonce */
	uint8_t ns[XP_NONCE_LEN]; /* ours */
	uint8_t hello_ans[XP_HELLO_ANSWER_LEN]; /* payload of our HELLO */
	/* RDMA payload */
	bool feat_rdma; /* both HELLOs carried XP_FEAT_RDMA */
	uint64_t gw_id; /* the gateway's HELLO sender id */
	struct ev_tag rdma_tag; /* EV_RDMA_CQ */
	struct xp_rdma_conn *rdma; /* handed over by the listener; holds a ref */
	bool rdma_up; /* established and not down: descriptors are honoured */
	bool rdma_cq_reg; /* its completion fd is in epoll */
	unsigned int rdma_segs; /* segments started and not finished */
};

/* One rdma_segment-sized part of an RDMA READ or WRITE request. */
struct nd_seg {
	struct nd_req *req;
	struct nd_io_op io; /* its disk I/O */
	struct xp_rdma_op op; /* its RDMA operation */
	struct xp_rdma_wait wait; /* its place in the pool's queue */
	struct xp_rdma_buf *buf; /* the pool buffer it holds, or NULL */
	uint32_t off; /* offset in the request's payload */
	uint32_t len; /* bytes */
};

struct nd_flush_one {
	struct nd_io_op op;
	struct nd_req *req;
	struct nd_lun *lun; /* reference held until the fsync completes */
};

struct nd_req {
	struct nd_conn *conn; /* reference held */
	struct xp_hdr hdr; /* the request */
	uint8_t *payload; /* its payload (owned), NULL when none */
	struct nd_lun *lun; /* reference held, NULL when none */
	struct nd_io_op io;
	struct nd_rlock_req rl;
	uint8_t *buf; /* answer payload or read buffer (owned) */
	uint32_t ans_len; /* answer payload bytes in buf */
	uint64_t ans_offset; /* answer's offset field */
	uint64_t ans_epoch; /* answer's epoch field */
	struct nd_flush_one *flush; /* FLUSH of every LUN */
	unsigned int flush_pending;
	int flush_err;
	/* payload by RDMA */
	struct xp_rdma_conn *rc; /* the connection the segments use */
	struct xp_rdma_desc desc; /* checked descriptor */
	struct nd_seg *segs; /* nsegs entries (owned) */
	unsigned int nsegs;
	unsigned int segs_left; /* not finished yet */
	int seg_err; /* first failure: -EPROTO for RDMA, else disk */
};

struct nd_server {
	struct sb_nodecfg cfg;
	struct xp_secret secret;
	struct nd_store *store;
	struct nd_leases *leases;
	struct nd_io *io;
	int epfd;
	int lfd; /* listener, -1 once closed */
	int sigfd;
	int timerfd;
	int stopfd; /* eventfd for nd_server_stop */
	sigset_t oldmask; /* signal mask before nd_server_new */
	struct ev_tag t_listen, t_io, t_signal, t_timer, t_stop;
	bool listen_paused; /* out of fds: retry on the next tick */
	bool stopping;
	bool rx_scan; /* some connection has rx_check set */
	uint64_t stop_deadline_ms;
	bool sigmask_set; /* oldmask must be restored */
	uint64_t start_ms;
	unsigned int nconns; /* open connections */
	unsigned long nreqs; /* requests allocated */
	struct nd_conn *conns; /* open, or closed with requests in flight */
	struct nd_conn *dead; /* unreferenced, freed after this epoll batch */
	struct nd_counters ctr;
	/* RDMA payload: NULL listener when not configured or not usable */
	const struct xp_verbs_ops *vops;
	struct xp_rdma_listener *rl;
	struct ev_tag t_rdma;
	bool rdma_dead; /* the device went away: offer no more */
	bool rdma_reap; /* some session's RDMA connection may be freed */
	uint8_t rdma_addr[16]; /* offer address (IPv6 form), or zero */
	bool rdma_addr_set; /* else: the session's own local address */
};

static void req_answer(struct nd_req *req, int err);
static void conn_close(struct nd_conn *nc);
static void rdma_start(struct nd_req *req);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- connections -------------------------------------------------------- */

/* Register the epoll mask the connection's state calls for. */
static void conn_update_events(struct nd_conn *nc)
{
	struct epoll_event ev = {0};
	uint32_t want = 0;

	if (nc->closed)
		return;
	if (!nc->paused)
		want |= EPOLLIN;
	if (xp_conn_want_write(nc->xc))
		want |= EPOLLOUT;
	if (want == nc->events)
		return;
	ev.events = want;
	ev.data.ptr = &nc->tag;
	if (epoll_ctl(nc->srv->epfd, EPOLL_CTL_MOD, xp_conn_fd(nc->xc), &ev) <
	    0) {
		sb_err_rl("epoll_ctl: %s", strerror(errno));
		return;
	}
	nc->events = want;
}

static void conn_set_paused(struct nd_conn *nc, bool paused)
{
	if (nc->closed || nc->paused == paused)
		return;
	nc->paused = paused;
	xp_conn_pause_rx(nc->xc, paused);
	if (!paused) {
		/* Frames may already sit in the buffer: look again soon. */
		nc->rx_check = true;
		nc->srv->rx_scan = true;
	}
	conn_update_events(nc);
}

static void conn_put(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;

	if (--nc->refs)
		return;
	if (nc->prev)
		nc->prev->next = nc->next;
	else
		s->conns = nc->next;
	if (nc->next)
		nc->next->prev = nc->prev;
	/*
	 * Not freed yet: events of the current epoll batch may still point
	 * at it. free_dead() runs after the batch.
	 */
	nc->prev = NULL;
	nc->next = s->dead;
	s->dead = nc;
}

static void free_dead(struct nd_server *s)
{
	while (s->dead) {
		struct nd_conn *nc = s->dead;

		s->dead = nc->next;
		free(nc);
	}
}

/*
 * Close the socket and drop queued answers. Never call it from inside
 * xp_conn_service (the frame callback returns an error instead).
 */
static void conn_close(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;
	struct xp_conn *xc = nc->xc;

	if (nc->closed)
		return;
	nc->closed = true;
	nc->xc = NULL;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, xp_conn_fd(xc), NULL);
	s->nconns--;
	/* Its unspent token dies with it; its RDMA connection follows. */
	if (s->rl)
		xp_rdma_token_revoke(s->rl, nc);
	if (nc->rdma)
		s->rdma_reap = true;
	/* Keep nc alive while the queued answers' callbacks drop refs. */
	nc->refs++;
	xp_conn_free(xc);
	conn_put(nc);
	conn_put(nc);
}

/* ---- requests ----------------------------------------------------------- */

static void req_free(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct nd_server *s = nc->srv;

	free(req->payload);
	free(req->buf);
	free(req->flush);
	free(req->segs);
	if (req->lun)
		nd_lun_put(req->lun);
	free(req);
	s->nreqs--;
	nc->inflight--;
	if (nc->paused && !s->stopping &&
	    nc->inflight <= ND_CONN_RESUME_INFLIGHT)
		conn_set_paused(nc, false);
	conn_put(nc);
}

/*
 * Send a frame on @nc's TCP session: xp_conn_send, with its header counted
 * as control bytes (bytes_tcp_control; the payload is counted apart).
 */
static int nd_send(struct nd_conn *nc, const struct xp_hdr *h,
		   const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		   void *sent_arg)
{
	int ret = xp_conn_send(nc->xc, h, iov, iovcnt, sent, sent_arg);

	if (!ret)
		nc->srv->ctr.bytes_tcp_control += XP_HDR_LEN;
	return ret;
}

static void req_sent(void *arg, int err)
{
	struct nd_req *req = arg;

	if (!err)
		req->conn->srv->ctr.bytes_tcp_payload += req->ans_len;
	req_free(req);
}

static void count_done(struct nd_server *s, const struct xp_hdr *h, int err)
{
	struct nd_counters *c = &s->ctr;

	if (h->opcode == XP_OP_CAW && (!err || err == -XP_EMISCOMPARE))
		c->ops_caw++;
	if (err)
		return;
	switch (h->opcode) {
	case XP_OP_READ:
		c->ops_read++;
		c->bytes_read += h->length;
		break;
	case XP_OP_WRITE:
		c->ops_write++;
		c->bytes_written += h->length;
		break;
	case XP_OP_CAW:
		c->bytes_written += h->length;
		break;
	case XP_OP_WRITE_ZEROES:
	case XP_OP_UNMAP:
		c->ops_unmap++;
		break;
	case XP_OP_FLUSH:
		c->ops_flush++;
		break;
	default:
		break;
	}
}

/*
 * Finish @req with @err (0 or -errno): release its range, count it and
 * queue the answer. @req is gone when this returns.
 */
static void req_answer(struct nd_req *req, int err)
{
	struct nd_conn *nc = req->conn;
	struct iovec iov;
	struct xp_hdr ans;
	int ret;

	if (req->rl.held)
		nd_rlock_release(&req->lun->rlock, &req->rl);
	count_done(nc->srv, &req->hdr, err);
	if (nc->closed) {
		req_free(req);
		return;
	}
	xp_hdr_answer(&ans, &req->hdr, xp_status_from_errno(err));
	ans.offset = req->ans_offset;
	ans.epoch = req->ans_epoch;
	/* Only success and a miscompare carry a payload. */
	if (err && err != -XP_EMISCOMPARE)
		req->ans_len = 0;
	if (req->ans_len) {
		ans.payload_len = req->ans_len;
		ans.flags |= XP_F_DCRC;
		iov.iov_base = req->buf;
		iov.iov_len = req->ans_len;
	}
	ret = nd_send(nc, &ans, &iov, req->ans_len ? 1 : 0, req_sent, req);
	if (ret < 0) {
		sb_err_rl("cannot answer %s: %s", xp_opcode_name(ans.opcode),
			  strerror(-ret));
		req_free(req);
	}
	/* The connection outlives the request: it holds the open ref. */
	conn_update_events(nc);
}

/*
 * A disk buffer of @len bytes aligned for direct I/O (xp_conn gives
 * received payloads the same alignment). Freed with free().
 */
static int alloc_io_buf(uint8_t **out, uint32_t len)
{
	void *p;
	int ret;

	ret = posix_memalign(&p, XP_PAYLOAD_ALIGN, len ? len : 1);
	if (ret)
		return -ret;
	*out = p;
	return 0;
}

/* Look up the request's LUN and take a reference. 0 or -ENOENT. */
static int req_take_lun(struct nd_req *req)
{
	struct nd_lun *lun =
		nd_store_find(req->conn->srv->store, req->hdr.lun_id);

	if (!lun)
		return -ENOENT;
	nd_lun_get(lun);
	req->lun = lun;
	return 0;
}

/* A disk operation of @req failed: say so, without flooding the log. */
static void log_disk_error(const struct nd_req *req, int res)
{
	sb_err_rl("LUN %016" PRIx64 ": %s at %" PRIu64 " length %u: %s",
		  req->hdr.lun_id, xp_opcode_name(req->hdr.opcode),
		  req->hdr.offset, req->hdr.length, strerror(-res));
}

static void io_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);

	if (res)
		log_disk_error(req, res);
	if (res == 0 && req->hdr.opcode == XP_OP_READ)
		req->ans_len = req->hdr.length;
	req_answer(req, res);
}

static void zero_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);

	if (res)
		log_disk_error(req, res);
	/* Remember a file system without ZERO_RANGE (tmpfs). */
	if (!res && req->hdr.opcode == XP_OP_WRITE_ZEROES &&
	    !(req->hdr.flags & XP_F_UNMAP) &&
	    op->zero_how != ND_ZERO_BY_ZERO_RANGE)
		req->lun->no_zero_range = true;
	req_answer(req, res);
}

static void caw_read_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);
	struct nd_server *s = req->conn->srv;
	uint32_t n = req->hdr.length;
	uint32_t i;
	int ret;

	if (res) {
		log_disk_error(req, res);
		req_answer(req, res);
		return;
	}
	if (memcmp(req->buf, req->payload, n)) {
		for (i = 0; i < n && req->buf[i] == req->payload[i]; i++)
			;
		xp_put_be64(req->buf, i);
		req->ans_len = 8;
		req_answer(req, -XP_EMISCOMPARE);
		return;
	}
	/*
	 * Still under the range lock taken before the read, so nothing
	 * overlapping ran in between; the read and this write may use
	 * different descriptors (direct or buffered) and stay coherent.
	 */
	ret = nd_io_write(s->io, &req->io,
			  nd_lun_data_fd(req->lun, req->payload + n,
					 req->hdr.offset, n),
			  req->payload + n, n, req->hdr.offset,
			  req->hdr.flags & XP_F_FUA, io_done);
	if (ret)
		req_answer(req, ret);
}

/* The request holds its LUN's range: do the mutating part. */
static void mutate_locked(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct nd_lun *lun = req->lun;
	unsigned int zf = 0;
	int ret;

	switch (h->opcode) {
	case XP_OP_WRITE:
		if (h->desc_xport == XP_DESC_RDMA) {
			rdma_start(req);
			return;
		}
		ret = nd_io_write(s->io, &req->io,
				  nd_lun_data_fd(lun, req->payload, h->offset,
						 h->length),
				  req->payload, h->length, h->offset,
				  h->flags & XP_F_FUA, io_done);
		break;
	case XP_OP_WRITE_ZEROES:
		if (h->flags & XP_F_UNMAP)
			zf |= ND_ZERO_UNMAP;
		if (lun->no_zero_range)
			zf |= ND_ZERO_NO_ZERO_RANGE;
		ret = nd_io_zero(s->io, &req->io, lun->fd, h->offset, h->length,
				 zf, zero_done);
		break;
	case XP_OP_UNMAP:
		ret = nd_io_zero(s->io, &req->io, lun->fd, h->offset, h->length,
				 ND_ZERO_UNMAP, zero_done);
		break;
	case XP_OP_CAW:
		ret = nd_io_read(s->io, &req->io,
				 nd_lun_data_fd(lun, req->buf, h->offset,
						h->length),
				 req->buf, h->length, h->offset, caw_read_done);
		break;
	case XP_OP_LUN_RESIZE:
		ret = nd_store_resize(s->store, lun, h->offset);
		if (!ret)
			sb_info("LUN %s resized to %" PRIu64 " bytes",
				lun->name, lun->size);
		req_answer(req, ret);
		return;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret)
		req_answer(req, ret);
}

static void lock_granted(struct nd_rlock_req *r)
{
	mutate_locked(container_of(r, struct nd_req, rl));
}

/* Take the LUN, check the range, lock it and mutate. */
static void do_mutate(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;
	uint64_t start = h->offset, len = h->length;
	int ret;

	ret = req_take_lun(req);
	if (ret)
		goto out_answer;
	if (h->opcode == XP_OP_LUN_RESIZE) {
		/* Whole range: wait for every write before it. */
		start = 0;
		len = 0;
	} else {
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
		if (ret)
			goto out_answer;
	}
	if (h->opcode == XP_OP_CAW) {
		ret = alloc_io_buf(&req->buf, h->length);
		if (ret)
			goto out_answer;
	}
	if (nd_rlock_acquire(&req->lun->rlock, &req->rl, start, len,
			     lock_granted))
		mutate_locked(req);
	return;

out_answer:
	req_answer(req, ret);
}

static void do_read(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	int ret;

	ret = req_take_lun(req);
	if (!ret)
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
	if (!ret && h->desc_xport == XP_DESC_RDMA) {
		rdma_start(req);
		return;
	}
	if (!ret)
		ret = alloc_io_buf(&req->buf, h->length);
	if (!ret)
		ret = nd_io_read(s->io, &req->io,
				 nd_lun_data_fd(req->lun, req->buf, h->offset,
						h->length),
				 req->buf, h->length, h->offset, io_done);
	if (ret)
		req_answer(req, ret);
}

/* ---- RDMA payload -------------------------------------------------------- */

/*
 * Segment @sg finished with @err (0, -EPROTO for an RDMA failure, or the
 * disk's error): give its buffer back, and answer the request after its
 * last segment.
 */
static void seg_finish(struct nd_seg *sg, int err)
{
	struct nd_req *req = sg->req;
	struct nd_conn *nc = req->conn;
	struct xp_rdma_buf *b = sg->buf;

	if (err && !req->seg_err)
		req->seg_err = err;
	sg->buf = NULL;
	nc->rdma_segs--;
	if ((!nc->rdma_up || nc->closed) && !nc->rdma_segs)
		nc->srv->rdma_reap = true;
	/* May hand the buffer to a waiting segment, which may finish too. */
	if (b)
		xp_rdma_pool_put(xp_rdma_conn_pool(req->rc), b);
	if (--req->segs_left == 0)
		req_answer(req, req->seg_err);
}

static void seg_io_done(struct nd_io_op *op, int res);

static void seg_moved(void *arg, int err)
{
	struct nd_seg *sg = arg;
	struct nd_req *req = sg->req;
	struct nd_server *s = req->conn->srv;
	int ret;

	if (err) {
		sb_err_rl("LUN %016" PRIx64 ": RDMA %s of %u bytes: %s",
			  req->hdr.lun_id,
			  req->hdr.opcode == XP_OP_WRITE ? "READ" : "WRITE",
			  sg->len, strerror(-err));
		seg_finish(sg, -EPROTO);
		return;
	}
	s->ctr.bytes_rdma += sg->len;
	if (req->hdr.opcode == XP_OP_READ) {
		seg_finish(sg, 0);
		return;
	}
	/* WRITE: the payload is in our buffer; write it from there. */
	ret = nd_io_write(s->io, &sg->io,
			  nd_lun_data_fd(req->lun, sg->buf->data,
					 req->hdr.offset + sg->off, sg->len),
			  sg->buf->data, sg->len, req->hdr.offset + sg->off,
			  req->hdr.flags & XP_F_FUA, seg_io_done);
	if (ret)
		seg_finish(sg, ret);
}

static void seg_move(struct nd_seg *sg, enum xp_rdma_dir dir)
{
	struct nd_req *req = sg->req;
	int ret;

	ret = xp_rdma_move(req->rc, &sg->op, dir, &req->desc, sg->off, sg->buf,
			   0, sg->len, seg_moved, sg);
	if (ret)
		seg_finish(sg, -EPROTO);
}

static void seg_io_done(struct nd_io_op *op, int res)
{
	struct nd_seg *sg = container_of(op, struct nd_seg, io);

	if (res) {
		log_disk_error(sg->req, res);
		seg_finish(sg, res);
		return;
	}
	if (sg->req->hdr.opcode == XP_OP_READ && !sg->req->seg_err) {
		/* READ: from our buffer into the gateway's memory. */
		seg_move(sg, XP_RDMA_PUSH);
		return;
	}
	seg_finish(sg, 0);
}

/* Segment @sg holds a pool buffer: start its first step. */
static void seg_go(struct nd_seg *sg)
{
	struct nd_req *req = sg->req;
	struct nd_server *s = req->conn->srv;
	int ret;

	/* A failed sibling already decided the answer: move nothing. */
	if (req->seg_err || !req->conn->rdma_up) {
		seg_finish(sg, req->seg_err ? req->seg_err : -EPROTO);
		return;
	}
	if (req->hdr.opcode == XP_OP_WRITE) {
		seg_move(sg, XP_RDMA_PULL);
		return;
	}
	ret = nd_io_read(s->io, &sg->io,
			 nd_lun_data_fd(req->lun, sg->buf->data,
					req->hdr.offset + sg->off, sg->len),
			 sg->buf->data, sg->len, req->hdr.offset + sg->off,
			 seg_io_done);
	if (ret)
		seg_finish(sg, ret);
}

static void seg_got_buf(void *arg, struct xp_rdma_buf *b)
{
	struct nd_seg *sg = arg;

	if (!b) {
		/* The pool is being freed: only at exit. */
		seg_finish(sg, -EPROTO);
		return;
	}
	sg->buf = b;
	seg_go(sg);
}

/*
 * Move the payload of READ or WRITE @req (LUN held, range checked; a
 * WRITE also holds its range lock) by RDMA through the session's pool,
 * in segments that proceed independently. The request is answered when
 * the last one finishes: -EPROTO (resend inline) when the session has no
 * RDMA connection up or an RDMA operation failed.
 */
static void rdma_start(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct xp_rdma_pool *pool;
	uint32_t seg, i;
	int ret;

	if (!nc->rdma || !nc->rdma_up) {
		req_answer(req, -EPROTO);
		return;
	}
	ret = xp_rdma_desc_from_hdr(&req->hdr, &req->desc);
	if (ret) {
		req_answer(req, ret);
		return;
	}
	pool = xp_rdma_conn_pool(nc->rdma);
	seg = nc->srv->cfg.rdma_segment;
	req->nsegs = (req->desc.len + seg - 1) / seg;
	req->segs = calloc(req->nsegs, sizeof(*req->segs));
	if (!req->segs) {
		req_answer(req, -ENOMEM);
		return;
	}
	req->rc = nc->rdma;
	/* Hold the count while starting, so no segment answers early. */
	req->segs_left = req->nsegs + 1;
	nc->rdma_segs += req->nsegs;
	for (i = 0; i < req->nsegs; i++) {
		struct nd_seg *sg = &req->segs[i];
		struct xp_rdma_buf *b;

		sg->req = req;
		sg->off = i * seg;
		sg->len = req->desc.len - sg->off < seg
				  ? req->desc.len - sg->off
				  : seg;
		b = xp_rdma_pool_get(pool, &sg->wait, seg_got_buf, sg);
		if (b)
			seg_got_buf(sg, b);
	}
	if (--req->segs_left == 0)
		req_answer(req, req->seg_err);
}

/*
 * The listener's report on the RDMA connection of session @arg: up (0)
 * or down (<0). The first report hands @c over: the session keeps it
 * (and a reference) until rdma_reap() frees it.
 */
static void rdma_state(void *arg, struct xp_rdma_conn *c, int err)
{
	struct nd_conn *nc = arg;
	struct nd_server *s = nc->srv;
	struct epoll_event ev = {.events = EPOLLIN};
	int fd;

	if (!nc->rdma) {
		nc->rdma = c;
		nc->refs++;
		fd = xp_rdma_conn_cq_fd(c);
		ev.data.ptr = &nc->rdma_tag;
		if (fd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
			nc->rdma_cq_reg = true;
		else if (!err)
			err = -EIO;
	}
	if (nc->rdma != c) {
		/* Cannot happen: one offer at a time per session. */
		sb_err_rl("rdma: a second connection for one session");
		return;
	}
	if (!err && !nc->closed && nc->rdma_cq_reg) {
		nc->rdma_up = true;
		sb_info("gateway %016" PRIx64 ": payload by RDMA", nc->gw_id);
		return;
	}
	if (nc->rdma_up)
		sb_warn("gateway %016" PRIx64 ": RDMA connection down (%s); "
			"payload inline",
			nc->gw_id, strerror(err ? -err : ECONNABORTED));
	nc->rdma_up = false;
	s->rdma_reap = true;
}

/*
 * Free the RDMA connection of every session whose connection is down or
 * whose TCP session closed, once no segment uses it; @force (exit only):
 * whatever segments still do.
 */
static void rdma_reap(struct nd_server *s, bool force)
{
	struct nd_conn *nc, *next;

	s->rdma_reap = false;
	for (nc = s->conns; nc; nc = next) {
		struct xp_rdma_conn *c = nc->rdma;

		nc->refs++;
		if (c && (nc->closed || !nc->rdma_up) &&
		    (!nc->rdma_segs || force)) {
			if (nc->rdma_cq_reg)
				epoll_ctl(s->epfd, EPOLL_CTL_DEL,
					  xp_rdma_conn_cq_fd(c), NULL);
			nc->rdma_cq_reg = false;
			nc->rdma_up = false;
			nc->rdma = NULL;
			xp_rdma_conn_free(c);
			conn_put(nc);
		}
		next = nc->next;
		conn_put(nc);
	}
}

/* RDMA_OFFER (docs/protocol.md): a one-time token for this session. */
static int do_rdma_offer(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct nd_server *s = nc->srv;
	struct xp_rdma_offer o = {0};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int ret;

	if (!nc->feat_rdma)
		return -EPROTO;
	if (!s->rl || s->rdma_dead)
		return -ENOTSUP;
	if (nc->rdma) {
		/*
		 * The gateway asks again only once it dropped its side (the
		 * link under it went down, or it failed there first), which
		 * this side may not have heard of: take ours down too, QP
		 * first, so its segments end (EPROTO) and rdma_reap frees
		 * it. The gateway asks again after EAGAIN.
		 */
		xp_rdma_conn_shutdown(nc->rdma, -ECONNRESET);
		return -EAGAIN;
	}
	if (s->rdma_addr_set) {
		memcpy(o.addr, s->rdma_addr, sizeof(o.addr));
	} else {
		/* The address the gateway reached us on. */
		if (getsockname(xp_conn_fd(nc->xc), (struct sockaddr *)&ss,
				&sl) < 0)
			return -errno;
		if (ss.ss_family == AF_INET) {
			o.addr[10] = o.addr[11] = 0xff;
			memcpy(o.addr + 12,
			       &((struct sockaddr_in *)&ss)->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			memcpy(o.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			       16);
		} else {
			return -ENOTSUP;
		}
	}
	req->buf = malloc(XP_RDMA_OFFER_LEN);
	if (!req->buf)
		return -ENOMEM;
	ret = xp_rdma_token_issue(s->rl, nc, nc->gw_id, rdma_state, nc,
				  o.token);
	if (ret)
		return ret == -EAGAIN ? -EAGAIN : -EIO;
	o.port = s->cfg.rdma_port;
	o.ttl_ms = XP_RDMA_TOKEN_TTL_MS;
	o.max_ops = s->cfg.rdma_max_ops;
	xp_rdma_offer_encode(&o, req->buf);
	explicit_bzero(o.token, sizeof(o.token));
	req->ans_len = XP_RDMA_OFFER_LEN;
	return 0;
}

static void flush_one_done(struct nd_io_op *op, int res)
{
	struct nd_flush_one *f = container_of(op, struct nd_flush_one, op);
	struct nd_req *req = f->req;

	if (res) {
		sb_err_rl("LUN %016" PRIx64 ": fdatasync: %s", f->lun->id,
			  strerror(-res));
		if (!req->flush_err)
			req->flush_err = res;
	}
	nd_lun_put(f->lun);
	f->lun = NULL;
	if (--req->flush_pending == 0)
		req_answer(req, req->flush_err);
}

/* FLUSH of lun_id 0: fdatasync every LUN, answer when all are done. */
static void do_flush_all(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	struct nd_lun **luns;
	size_t n, i;
	int ret;

	n = nd_store_count(s->store);
	if (!n) {
		req_answer(req, 0);
		return;
	}
	luns = calloc(n, sizeof(*luns));
	req->flush = calloc(n, sizeof(*req->flush));
	if (!luns || !req->flush) {
		free(luns);
		req_answer(req, -ENOMEM);
		return;
	}
	n = nd_store_list(s->store, luns, n);
	/* Hold one count of our own so no completion answers early. */
	req->flush_pending = 1;
	for (i = 0; i < n; i++) {
		struct nd_flush_one *f = &req->flush[i];

		f->req = req;
		f->lun = luns[i];
		nd_lun_get(f->lun);
		ret = nd_io_fsync(s->io, &f->op, f->lun->fd, flush_one_done);
		if (ret) {
			nd_lun_put(f->lun);
			f->lun = NULL;
			if (!req->flush_err)
				req->flush_err = ret;
			continue;
		}
		req->flush_pending++;
	}
	free(luns);
	if (--req->flush_pending == 0)
		req_answer(req, req->flush_err);
}

static void do_flush(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	int ret;

	if (!req->hdr.lun_id) {
		do_flush_all(req);
		return;
	}
	ret = req_take_lun(req);
	if (!ret)
		ret = nd_io_fsync(s->io, &req->io, req->lun->fd, io_done);
	if (ret)
		req_answer(req, ret);
}

static void do_stat(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	struct xp_stat st = {0};
	struct nd_lun **luns = NULL;
	size_t n, i, room;
	uint8_t *buf;

	n = nd_store_count(s->store);
	if (n > XP_STAT_MAX_LUNS)
		n = XP_STAT_MAX_LUNS;
	if (n) {
		luns = calloc(n, sizeof(*luns));
		if (!luns) {
			req_answer(req, -ENOMEM);
			return;
		}
		nd_store_list(s->store, luns, n);
	}
	room = XP_STAT_FIXED_LEN + n * XP_STAT_LUN_LEN;
	buf = calloc(1, room);
	if (!buf) {
		free(luns);
		req_answer(req, -ENOMEM);
		return;
	}
	st.node_id = s->cfg.id;
	st.uptime_s = (now_ms() - s->start_ms) / 1000;
	st.nluns = (uint32_t)n;
	st.flags = 0;
	if (s->rl && !s->rdma_dead)
		st.flags |= XP_STAT_F_RDMA;
	if (req->conn->rdma_up)
		st.flags |= XP_STAT_F_RDMA_SESSION;
	st.ops_read = s->ctr.ops_read;
	st.ops_write = s->ctr.ops_write;
	st.ops_flush = s->ctr.ops_flush;
	st.ops_unmap = s->ctr.ops_unmap;
	st.ops_caw = s->ctr.ops_caw;
	st.bytes_read = s->ctr.bytes_read;
	st.bytes_written = s->ctr.bytes_written;
	st.bytes_rdma = s->ctr.bytes_rdma;
	st.bytes_tcp_payload = s->ctr.bytes_tcp_payload;
	st.bytes_tcp_control = s->ctr.bytes_tcp_control;
	st.conns = s->nconns;
	xp_stat_encode(&st, buf);
	for (i = 0; i < n; i++) {
		struct xp_stat_lun e = {0};

		e.lun_id = luns[i]->id;
		e.size = luns[i]->size;
		if (nd_lun_allocated(luns[i], &e.allocated))
			e.allocated = 0;
		memcpy(e.name, luns[i]->name, sizeof(e.name));
		e.layout = luns[i]->layout;
		xp_stat_lun_encode(&e, buf + XP_STAT_FIXED_LEN +
					       i * XP_STAT_LUN_LEN);
	}
	free(luns);
	req->buf = buf;
	req->ans_len = (uint32_t)room;
	req_answer(req, 0);
}

static int do_lun_admin(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct nd_lun *lun;
	char name[XP_LUN_NAME_MAX + 1];
	struct xp_layout lay;
	bool existed;
	int ret;

	switch (h->opcode) {
	case XP_OP_LUN_CREATE:
		/* Payload: layout, then name (lengths checked at the edge). */
		if (xp_layout_decode(req->payload, XP_LAYOUT_LEN, &lay) < 0)
			return -EINVAL;
		existed = nd_store_find(s->store, h->lun_id) != NULL;
		ret = nd_store_create(
			s->store, h->lun_id,
			(const char *)req->payload + XP_LAYOUT_LEN,
			h->payload_len - XP_LAYOUT_LEN, h->offset, &lay, &lun);
		if (!ret && !existed)
			sb_info("LUN %s (%016" PRIx64 ") created: chunk "
				"%" PRIu32 ", %u "
				"replicas",
				lun->name, lun->id, lun->layout.chunk_size,
				(unsigned int)lun->layout.replicas);
		return ret;
	case XP_OP_LUN_OPEN:
		lun = nd_store_find(s->store, h->lun_id);
		if (!lun)
			return -ENOENT;
		req->buf = malloc(XP_LAYOUT_LEN);
		if (!req->buf)
			return -ENOMEM;
		xp_layout_encode(&lun->layout, req->buf);
		req->ans_len = XP_LAYOUT_LEN;
		req->ans_offset = lun->size;
		return 0;
	case XP_OP_LUN_DELETE:
		lun = nd_store_find(s->store, h->lun_id);
		if (!lun)
			return -ENOENT;
		memcpy(name, lun->name, sizeof(name));
		ret = nd_store_delete(s->store, lun);
		sb_info("LUN %s deleted%s", name, ret ? " (with errors)" : "");
		return ret;
	default:
		return -EINVAL;
	}
}

static int do_lease(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	struct xp_lease l;
	uint64_t epoch = 0;
	int ret;

	if (xp_lease_decode(req->payload, h->payload_len, &l))
		return -EINVAL;
	switch (h->opcode) {
	case XP_OP_LEASE_ACQUIRE:
		ret = nd_lease_acquire(s->leases, h->lun_id, l.holder,
				       l.duration_ms, now_ms(), &epoch);
		break;
	case XP_OP_LEASE_RENEW:
		ret = nd_lease_renew(s->leases, h->lun_id, l.holder, h->epoch,
				     l.duration_ms, now_ms(), &epoch);
		break;
	default:
		ret = nd_lease_release(s->leases, h->lun_id, l.holder, h->epoch,
				       &epoch);
		break;
	}
	req->ans_epoch = epoch;
	return ret;
}

static void dispatch(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;

	switch (h->opcode) {
	case XP_OP_PING:
		/* Echo: the request's payload becomes the answer's. */
		req->buf = req->payload;
		req->payload = NULL;
		req->ans_len = h->payload_len;
		req_answer(req, 0);
		return;
	case XP_OP_STAT:
		do_stat(req);
		return;
	case XP_OP_RDMA_OFFER:
		req_answer(req, do_rdma_offer(req));
		return;
	case XP_OP_LUN_CREATE:
	case XP_OP_LUN_OPEN:
	case XP_OP_LUN_DELETE:
		req_answer(req, do_lun_admin(req));
		return;
	case XP_OP_LUN_RESIZE:
	case XP_OP_WRITE:
	case XP_OP_WRITE_ZEROES:
	case XP_OP_UNMAP:
	case XP_OP_CAW:
		do_mutate(req);
		return;
	case XP_OP_READ:
		do_read(req);
		return;
	case XP_OP_FLUSH:
		do_flush(req);
		return;
	case XP_OP_LEASE_ACQUIRE:
	case XP_OP_LEASE_RENEW:
	case XP_OP_LEASE_RELEASE:
		req_answer(req, do_lease(req));
		return;
	default:
		/* HELLO or AUTH again after the handshake. */
		req_answer(req, -EINVAL);
		return;
	}
}

/* ---- handshake ---------------------------------------------------------- */

static int do_hello(struct nd_conn *nc, const struct xp_hdr *h,
		    const uint8_t *payload)
{
	struct nd_server *s = nc->srv;
	struct xp_hello in, out = {0};
	struct xp_hdr ans;
	struct iovec iov;
	unsigned int lo, hi;
	int ret;

	if (xp_hello_decode(payload, h->payload_len, &in))
		return -EPERM;
	lo = in.min_ver > XP_VERSION_MIN ? in.min_ver : XP_VERSION_MIN;
	hi = in.max_ver < XP_VERSION_MAX ? in.max_ver : XP_VERSION_MAX;
	if (lo > hi) {
		xp_hdr_answer(&ans, h, xp_status_from_errno(-EPROTO));
		(void)nd_send(nc, &ans, NULL, 0, NULL, NULL);
		return -EPROTO;
	}
	memcpy(nc->nc, in.nonce, XP_NONCE_LEN);
	ret = xp_auth_nonce(nc->ns);
	if (ret)
		return ret;
	out.min_ver = (uint8_t)hi;
	out.max_ver = (uint8_t)hi;
	out.features = s->rl && !s->rdma_dead ? XP_FEAT_RDMA : 0;
	nc->feat_rdma = (out.features & in.features & XP_FEAT_RDMA) != 0;
	nc->gw_id = in.sender_id;
	out.sender_id = s->cfg.id;
	memcpy(out.nonce, nc->ns, XP_NONCE_LEN);
	xp_hello_encode(&out, nc->hello_ans);
	ret = xp_auth_proof(&s->secret, true, nc->nc, nc->ns,
			    nc->hello_ans + XP_HELLO_LEN);
	if (ret)
		return ret;
	xp_hdr_answer(&ans, h, XP_ST_OK);
	ans.payload_len = XP_HELLO_ANSWER_LEN;
	ans.flags |= XP_F_DCRC;
	iov.iov_base = nc->hello_ans;
	iov.iov_len = XP_HELLO_ANSWER_LEN;
	ret = nd_send(nc, &ans, &iov, 1, NULL, NULL);
	if (ret)
		return ret;
	nc->hello_done = true;
	return 0;
}

static int do_auth(struct nd_conn *nc, const struct xp_hdr *h,
		   const uint8_t *payload)
{
	uint8_t want[XP_PROOF_LEN];
	struct xp_hdr ans;
	int ret;

	ret = xp_auth_proof(&nc->srv->secret, false, nc->nc, nc->ns, want);
	if (ret)
		return ret;
	if (!xp_auth_equal(want, payload))
		return -EPERM;
	nc->authed = true;
	xp_hdr_answer(&ans, h, XP_ST_OK);
	return nd_send(nc, &ans, NULL, 0, NULL, NULL);
}

/* Before AUTH: HELLO, then AUTH, nothing else. <0 closes, no answer. */
static int handshake(struct nd_conn *nc, const struct xp_hdr *h,
		     uint8_t *payload, bool crc_ok)
{
	int ret = -EPERM;

	if (!crc_ok || (h->flags & XP_F_RESP) || xp_hdr_check(h))
		goto out_free;
	if (h->opcode == XP_OP_HELLO && !nc->hello_done)
		ret = do_hello(nc, h, payload);
	else if (h->opcode == XP_OP_AUTH && nc->hello_done)
		ret = do_auth(nc, h, payload);
out_free:
	free(payload);
	return ret;
}

/*
 * A request of @nc carries an RDMA descriptor: is its RDMA connection up?
 * The gateway describes only after its ESTABLISHED, so an accepted
 * connection whose ESTABLISHED we have not read yet counts as up.
 */
static bool rdma_ready(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;

	if (!nc->rdma_up && !nc->rdma && s->rl && !s->rdma_dead)
		xp_rdma_token_confirm(s->rl, nc);
	return nc->rdma_up;
}

static int on_frame(void *arg, const struct xp_hdr *h, void *payload,
		    bool crc_ok)
{
	struct nd_conn *nc = arg;
	struct nd_server *s = nc->srv;
	struct nd_req *req;
	int ret;

	s->ctr.bytes_tcp_payload += h->payload_len;
	s->ctr.bytes_tcp_control += XP_HDR_LEN;
	if (!nc->authed)
		return handshake(nc, h, payload, crc_ok);
	if (s->stopping) {
		/* Stopped reading: a frame still buffered is not started. */
		free(payload);
		return 0;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		struct xp_hdr ans;

		free(payload);
		xp_hdr_answer(&ans, h, xp_status_from_errno(-ENOMEM));
		return nd_send(nc, &ans, NULL, 0, NULL, NULL);
	}
	req->conn = nc;
	req->hdr = *h;
	req->payload = payload;
	req->ans_offset = h->offset;
	req->ans_epoch = h->epoch;
	nc->refs++;
	nc->inflight++;
	s->nreqs++;
	if (nc->inflight >= ND_CONN_MAX_INFLIGHT)
		conn_set_paused(nc, true);

	if (h->flags & XP_F_RESP)
		req_answer(req, -EINVAL);
	else if ((ret = xp_hdr_check(h)) < 0)
		req_answer(req, ret);
	else if (!crc_ok)
		req_answer(req, -EBADMSG);
	else if (h->desc_xport == XP_DESC_RDMA && !rdma_ready(nc))
		req_answer(req, -EPROTO); /* not negotiated: resend inline */
	else
		dispatch(req);
	return 0;
}

/* ---- loop --------------------------------------------------------------- */

static int ep_add(struct nd_server *s, int fd, uint32_t events,
		  struct ev_tag *tag)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void accept_all(struct nd_server *s)
{
	for (;;) {
		struct nd_conn *nc;
		int fd = xp_tcp_accept(s->lfd);

		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			return;
		if (fd < 0) {
			/* Out of fds: stop accepting until the next tick. */
			sb_err_rl("accept: %s", strerror(-fd));
			if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL) ==
			    0)
				s->listen_paused = true;
			return;
		}
		if (s->nconns >= ND_MAX_CONNS) {
			sb_err_rl("refusing a connection: %u open", s->nconns);
			close(fd);
			continue;
		}
		nc = calloc(1, sizeof(*nc));
		if (!nc) {
			close(fd);
			continue;
		}
		nc->tag.kind = EV_CONN;
		nc->rdma_tag.kind = EV_RDMA_CQ;
		nc->srv = s;
		nc->refs = 1;
		nc->auth_deadline_ms = now_ms() + XP_AUTH_TIMEOUT_MS;
		nc->xc = xp_conn_new(fd, on_frame, nc);
		if (!nc->xc) {
			close(fd);
			free(nc);
			continue;
		}
		nc->events = EPOLLIN;
		if (ep_add(s, fd, EPOLLIN, &nc->tag)) {
			xp_conn_free(nc->xc);
			free(nc);
			continue;
		}
		nc->next = s->conns;
		if (s->conns)
			s->conns->prev = nc;
		s->conns = nc;
		s->nconns++;
	}
}

/* Events of one connection; it may be closed (not freed) already. */
static void conn_event(struct nd_conn *nc, uint32_t events)
{
	int ret;

	if (nc->closed)
		return;
	/* A paused connection that hung up will never be read again. */
	if (nc->paused && (events & (EPOLLHUP | EPOLLERR))) {
		conn_close(nc);
		return;
	}
	ret = xp_conn_service(nc->xc, events);
	if (ret) {
		conn_close(nc);
		return;
	}
	if (xp_conn_rx_pending(nc->xc)) {
		nc->rx_check = true;
		nc->srv->rx_scan = true;
	}
	conn_update_events(nc);
}

/* Service connections that hold complete frames the socket won't signal. */
static void rx_scan(struct nd_server *s)
{
	struct nd_conn *nc, *next;

	s->rx_scan = false;
	for (nc = s->conns; nc; nc = next) {
		/* Hold it: servicing may close it. */
		nc->refs++;
		if (nc->rx_check && !nc->closed) {
			nc->rx_check = false;
			if (xp_conn_rx_pending(nc->xc))
				conn_event(nc, EPOLLIN);
		}
		next = nc->next;
		conn_put(nc);
	}
}

static void rdma_listener_event(struct nd_server *s)
{
	int ret;

	if (!s->rl || s->rdma_dead)
		return;
	ret = xp_rdma_listener_service(s->rl);
	if (ret) {
		sb_err("rdma: listener unusable (%s): payload inline from now "
		       "on",
		       strerror(-ret));
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, xp_rdma_listener_fd(s->rl),
			  NULL);
		s->rdma_dead = true;
	}
}

static void rdma_cq_event(struct nd_conn *nc)
{
	/* Completions run segment callbacks; a failure reports down. */
	if (nc->rdma && xp_rdma_conn_service(nc->rdma))
		nc->srv->rdma_reap = true;
}

static void begin_stop(struct nd_server *s, const char *why)
{
	struct nd_conn *nc, *next;

	if (s->stopping)
		return;
	sb_info("stopping (%s): finishing %lu requests", why, s->nreqs);
	s->stopping = true;
	s->stop_deadline_ms = now_ms() + ND_STOP_GRACE_MS;
	if (s->lfd >= 0) {
		if (!s->listen_paused)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
		close(s->lfd);
		s->lfd = -1;
	}
	for (nc = s->conns; nc; nc = next) {
		nc->refs++;
		if (!nc->authed)
			conn_close(nc);
		else
			conn_set_paused(nc, true);
		next = nc->next;
		conn_put(nc);
	}
}

static void tick(struct nd_server *s)
{
	struct nd_conn *nc, *next;
	uint64_t now = now_ms();
	uint64_t junk;

	while (read(s->timerfd, &junk, sizeof(junk)) < 0 && errno == EINTR)
		;
	for (nc = s->conns; nc; nc = next) {
		nc->refs++;
		if (!nc->closed && !nc->authed && now >= nc->auth_deadline_ms)
			conn_close(nc);
		next = nc->next;
		conn_put(nc);
	}
	if (s->listen_paused && s->lfd >= 0 &&
	    ep_add(s, s->lfd, EPOLLIN, &s->t_listen) == 0)
		s->listen_paused = false;
}

static void on_signal(struct nd_server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		begin_stop(s, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static bool drained(struct nd_server *s)
{
	return s->nreqs == 0 && nd_io_inflight(s->io) == 0;
}

static void close_all(struct nd_server *s)
{
	struct nd_conn *nc, *next;

	for (nc = s->conns; nc; nc = next) {
		nc->refs++;
		conn_close(nc);
		next = nc->next;
		conn_put(nc);
	}
}

int nd_server_run(struct nd_server *s)
{
	struct epoll_event evs[MAX_EVENTS];
	int ret = 0;
	int i, n;

	while (!(s->stopping && drained(s))) {
		int timeout = s->rx_scan ? 0 : -1;

		if (s->stopping && now_ms() >= s->stop_deadline_ms) {
			if (!nd_io_inflight(s->io))
				break;
			/* Disk I/O must land before the buffers go. */
			close_all(s);
		}
		ret = nd_io_kick(s->io);
		if (ret) {
			sb_err("io_uring submit failed: %s", strerror(-ret));
			break;
		}
		n = epoll_wait(s->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			sb_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct ev_tag *t = evs[i].data.ptr;

			switch (t->kind) {
			case EV_LISTEN:
				if (!s->stopping)
					accept_all(s);
				break;
			case EV_IO:
				ret = nd_io_poll(s->io);
				if (ret < 0) {
					sb_err("io_uring: %s", strerror(-ret));
					goto out_stop;
				}
				ret = 0;
				break;
			case EV_SIGNAL:
				on_signal(s);
				break;
			case EV_TIMER:
				tick(s);
				break;
			case EV_STOP: {
				uint64_t junk;

				if (read(s->stopfd, &junk, sizeof(junk)) < 0 &&
				    errno != EAGAIN)
					sb_warn("stop eventfd: %s",
						strerror(errno));
				begin_stop(s, "requested");
				break;
			}
			case EV_CONN:
				conn_event(container_of(t, struct nd_conn, tag),
					   evs[i].events);
				break;
			case EV_RDMA_LISTEN:
				rdma_listener_event(s);
				break;
			case EV_RDMA_CQ:
				rdma_cq_event(container_of(t, struct nd_conn,
							   rdma_tag));
				break;
			}
		}
		if (s->rx_scan)
			rx_scan(s);
		if (s->rdma_reap)
			rdma_reap(s, false);
		free_dead(s);
	}

out_stop:
	close_all(s);
	if (nd_io_inflight(s->io))
		sb_warn("%u disk operations still in flight at exit",
			nd_io_inflight(s->io));
	{
		int sret = nd_store_sync_all(s->store);

		if (sret) {
			sb_err("syncing LUNs at stop: %s", strerror(-sret));
			if (!ret)
				ret = sret;
		}
	}
	sb_info("stopped");
	return ret;
}

void nd_server_stop(struct nd_server *s)
{
	uint64_t one = 1;

	if (write(s->stopfd, &one, sizeof(one)) < 0)
		sb_warn("nd_server_stop: %s", strerror(errno));
}

unsigned int nd_server_port(const struct nd_server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (s->lfd < 0 || getsockname(s->lfd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int setup_fds(struct nd_server *s, char *err, size_t errlen)
{
	struct itimerspec its = {0};
	sigset_t mask;
	int ret;

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		goto out_errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* pthread_sigmask: the process may have other threads (tests). */
	ret = pthread_sigmask(SIG_BLOCK, &mask, &s->oldmask);
	if (ret) {
		errno = ret;
		goto out_errno;
	}
	s->sigmask_set = true;
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		goto out_errno;
	s->timerfd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0)
		goto out_errno;
	its.it_interval.tv_nsec = TICK_MS * 1000000L;
	its.it_value.tv_nsec = TICK_MS * 1000000L;
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0)
		goto out_errno;
	s->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->stopfd < 0)
		goto out_errno;

	s->t_listen.kind = EV_LISTEN;
	s->t_io.kind = EV_IO;
	s->t_signal.kind = EV_SIGNAL;
	s->t_timer.kind = EV_TIMER;
	s->t_stop.kind = EV_STOP;
	ret = ep_add(s, s->lfd, EPOLLIN, &s->t_listen);
	if (!ret)
		ret = ep_add(s, nd_io_event_fd(s->io), EPOLLIN, &s->t_io);
	if (!ret)
		ret = ep_add(s, s->sigfd, EPOLLIN, &s->t_signal);
	if (!ret)
		ret = ep_add(s, s->timerfd, EPOLLIN, &s->t_timer);
	if (!ret)
		ret = ep_add(s, s->stopfd, EPOLLIN, &s->t_stop);
	if (ret) {
		set_err(err, errlen, "epoll: %s", strerror(-ret));
		return ret;
	}
	return 0;

out_errno:
	ret = -errno;
	set_err(err, errlen, "event loop setup: %s", strerror(errno));
	return ret;
}

/*
 * RDMA payload, when rdma_device is set: check the device, listen with
 * rdma_cm on rdma_addr (default: the listen address) and rdma_port. Any
 * failure leaves the node serving payload inline only, and says why:
 * RDMA is an optimisation, never a reason not to start.
 */
static void rdma_setup(struct nd_server *s)
{
	const struct sb_nodecfg *cfg = &s->cfg;
	struct xp_rdma_params p = {
		.max_ops = cfg->rdma_max_ops,
		.pool_count = cfg->rdma_buffers,
		.pool_size = cfg->rdma_segment,
	};
	struct addrinfo hints = {0}, *ai = NULL;
	const char *host = cfg->rdma_addr[0] ? cfg->rdma_addr : cfg->listen;
	char port[8];
	int ret;

	if (!cfg->rdma_device[0])
		return;
	if (!s->vops->device_exists(cfg->rdma_device)) {
		sb_warn("rdma_device %s: no such RDMA device (%d present); "
			"payload inline only",
			cfg->rdma_device, s->vops->device_count());
		return;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", cfg->rdma_port);
	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret || !ai) {
		sb_warn("rdma_addr %s: %s; payload inline only", host,
			ret ? gai_strerror(ret) : "no address");
		return;
	}
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (void *)ai->ai_addr;

		if (sin->sin_addr.s_addr != htonl(INADDR_ANY)) {
			s->rdma_addr[10] = s->rdma_addr[11] = 0xff;
			memcpy(s->rdma_addr + 12, &sin->sin_addr, 4);
			s->rdma_addr_set = true;
		}
	} else if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (void *)ai->ai_addr;

		if (memcmp(&sin6->sin6_addr, &in6addr_any, 16)) {
			memcpy(s->rdma_addr, &sin6->sin6_addr, 16);
			s->rdma_addr_set = true;
		}
	}
	s->rl = xp_rdma_listen(s->vops, ai->ai_addr, &p);
	ret = errno;
	freeaddrinfo(ai);
	if (!s->rl) {
		sb_warn("rdma: cannot listen on %s port %u: %s; payload "
			"inline only",
			host, cfg->rdma_port, strerror(ret));
		return;
	}
	s->t_rdma.kind = EV_RDMA_LISTEN;
	ret = ep_add(s, xp_rdma_listener_fd(s->rl), EPOLLIN, &s->t_rdma);
	if (ret) {
		sb_warn("rdma: epoll: %s; payload inline only", strerror(-ret));
		xp_rdma_listener_free(s->rl);
		s->rl = NULL;
		return;
	}
	sb_info("rdma: device %s, listening on %s port %u (%u x %u byte "
		"buffers, %u operations per connection)",
		cfg->rdma_device, host, cfg->rdma_port, cfg->rdma_buffers,
		cfg->rdma_segment, cfg->rdma_max_ops);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void nd_server_free(struct nd_server *s)
{
	if (!s)
		return;
	close_all(s);
	rdma_reap(s, true);
	free_dead(s);
	xp_rdma_listener_free(s->rl);
	s->rl = NULL;
	close_fd(&s->lfd);
	close_fd(&s->stopfd);
	close_fd(&s->timerfd);
	close_fd(&s->sigfd);
	if (s->sigmask_set)
		pthread_sigmask(SIG_SETMASK, &s->oldmask, NULL);
	close_fd(&s->epfd);
	nd_io_free(s->io);
	nd_leases_free(s->leases);
	nd_store_close(s->store);
	memset(&s->secret, 0, sizeof(s->secret));
	free(s);
}

int nd_server_new(const struct sb_nodecfg *cfg, struct nd_server **out,
		  char *err, size_t errlen)
{
	return nd_server_new_verbs(cfg, NULL, out, err, errlen);
}

int nd_server_new_verbs(const struct sb_nodecfg *cfg,
			const struct xp_verbs_ops *vops, struct nd_server **out,
			char *err, size_t errlen)
{
	struct nd_server *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->vops = vops ? vops : xp_verbs_real();
	s->lfd = s->epfd = s->sigfd = s->timerfd = s->stopfd = -1;
	s->start_ms = now_ms();

	ret = xp_secret_load(cfg->secret_file, &s->secret);
	if (ret == -EINVAL) {
		set_err(err, errlen, "secret_file %s must hold %d to %d bytes",
			cfg->secret_file, XP_SECRET_MIN, XP_SECRET_MAX);
		goto out_free;
	}
	if (ret) {
		set_err(err, errlen, "cannot read secret_file %s: %s",
			cfg->secret_file, strerror(-ret));
		goto out_free;
	}
	ret = xp_tcp_listen(cfg->listen, cfg->port, LISTEN_BACKLOG);
	if (ret < 0) {
		set_err(err, errlen, "cannot listen on %s port %u: %s",
			cfg->listen, cfg->port, strerror(-ret));
		goto out_free;
	}
	s->lfd = ret;
	ret = nd_store_open(cfg->data_dir, &s->store, err, errlen);
	if (ret)
		goto out_free;
	s->leases = nd_leases_new();
	if (!s->leases) {
		ret = -ENOMEM;
		set_err(err, errlen, "out of memory");
		goto out_free;
	}
	ret = nd_io_new(ND_IO_RING_ENTRIES, &s->io);
	if (ret) {
		set_err(err, errlen, "cannot set up io_uring: %s",
			strerror(-ret));
		goto out_free;
	}
	ret = setup_fds(s, err, errlen);
	if (ret)
		goto out_free;
	rdma_setup(s);
	signal(SIGPIPE, SIG_IGN);
	*out = s;
	return 0;

out_free:
	nd_server_free(s);
	return ret;
}
