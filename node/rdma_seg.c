/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA payload of the storage node (docs/protocol.md, "RDMA payload";
 * docs/rdma.md): the rdma_cm listener and its events, RDMA_OFFER and its
 * one-time token, each session's RDMA connection (enum nd_rdma_state),
 * and READ and WRITE requests whose payload moves in segments.
 *
 * With rdma_device set and present, the node listens with rdma_cm
 * (xp_rdma_listen) and sets XP_FEAT_RDMA in HELLO. RDMA_OFFER issues a
 * one-time token bound to the session; the listener accepts the
 * gateway's connect request only with it, and hands the connection to
 * the session (rdma_report). A READ or WRITE whose descriptor names RDMA
 * then moves in segments of rdma_segment bytes, each through one buffer
 * of the connection's registered pool, straight to or from the disk:
 *
 *   WRITE: pool buffer ─ RDMA READ (pull) ─ pwrite from the buffer ─┐
 *   READ:  pool buffer ─ pread into the buffer ─ RDMA WRITE (push) ─┤
 *                                 every segment done: answer on TCP ┘
 *
 * A dry pool makes segments wait (FIFO, no failure). Any RDMA failure
 * answers the request EPROTO (the gateway resends it inline) and leaves
 * the session inline. The RDMA connection is freed (nd_rdma_reap) once
 * it is DOWN or its session CLOSED, and no segment uses its buffers.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h); RDMA completions run from nd_rdma_cq_event and
 * listener reports from nd_rdma_listener_event, both on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../lib/util/log.h"
#include "../xport/verbs.h"
#include "server_internal.h"

/* ---- segments ----------------------------------------------------------- */

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
	if ((nc->rdma_state != ND_RDMA_UP || nc->state == ND_CONN_CLOSED) &&
	    !nc->rdma_segs)
		nc->srv->rdma_reap = true;
	/* May hand the buffer to a waiting segment, which may finish too. */
	if (b)
		xp_rdma_pool_put(xp_rdma_conn_pool(req->rc), b);
	if (--req->segs_left == 0)
		nd_req_answer(req, req->seg_err);
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
		nd_req_log_disk_error(sg->req, res);
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
	if (req->seg_err || req->conn->rdma_state != ND_RDMA_UP) {
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
 * The segments proceed independently through the session's pool; the
 * request is answered when the last one finishes: -EPROTO (resend
 * inline) when the session has no RDMA connection UP or an RDMA
 * operation failed.
 */
void nd_rdma_start(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct xp_rdma_pool *pool;
	uint32_t seg, i;
	int ret;

	if (nc->rdma_state != ND_RDMA_UP) {
		nd_req_answer(req, -EPROTO);
		return;
	}
	ret = xp_rdma_desc_from_hdr(&req->hdr, &req->desc);
	if (ret) {
		nd_req_answer(req, ret);
		return;
	}
	pool = xp_rdma_conn_pool(nc->rdma);
	seg = nc->srv->cfg.rdma_segment;
	req->nsegs = (req->desc.len + seg - 1) / seg;
	req->segs = calloc(req->nsegs, sizeof(*req->segs));
	if (!req->segs) {
		nd_req_answer(req, -ENOMEM);
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
		nd_req_answer(req, req->seg_err);
}

/* ---- the session's RDMA connection -------------------------------------- */

/*
 * The listener's report on the RDMA connection of session @arg: up (0)
 * or down (<0). The first report hands @c over: the session keeps it
 * (and a reference) until nd_rdma_reap() frees it.
 */
static void rdma_report(void *arg, struct xp_rdma_conn *c, int err)
{
	struct nd_conn *nc = arg;
	struct nd_server *s = nc->srv;
	int fd;

	if (nc->rdma_state == ND_RDMA_NONE) {
		nc->rdma = c;
		nc->rdma_state = ND_RDMA_DOWN; /* UP below once usable */
		nd_conn_get(nc);
		fd = xp_rdma_conn_cq_fd(c);
		if (fd >= 0 && sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, fd, EPOLLIN,
					    &nc->rdma_tag) == 0)
			nc->rdma_cq_reg = true;
		else if (!err)
			err = -EIO;
	}
	if (nc->rdma != c) {
		/* Cannot happen: one offer at a time per session. */
		sb_err_rl("rdma: a second connection for one session");
		return;
	}
	if (!err && nc->state != ND_CONN_CLOSED && nc->rdma_cq_reg) {
		nc->rdma_state = ND_RDMA_UP;
		sb_info("gateway %016" PRIx64 ": payload by RDMA", nc->gw_id);
		return;
	}
	if (nc->rdma_state == ND_RDMA_UP)
		sb_warn("gateway %016" PRIx64 ": RDMA connection down (%s); "
			"payload inline",
			nc->gw_id, strerror(err ? -err : ECONNABORTED));
	nc->rdma_state = ND_RDMA_DOWN;
	s->rdma_reap = true;
}

static void reap_one(struct nd_conn *nc, void *arg)
{
	const bool *force = arg;
	struct xp_rdma_conn *c = nc->rdma;

	if (nc->rdma_state == ND_RDMA_NONE)
		return;
	if (nc->rdma_state == ND_RDMA_UP && nc->state != ND_CONN_CLOSED)
		return;
	if (nc->rdma_segs && !*force)
		return;
	if (nc->rdma_cq_reg)
		(void)sb_evtag_ctl(nc->srv->epfd, EPOLL_CTL_DEL,
				   xp_rdma_conn_cq_fd(c), 0, NULL);
	nc->rdma_cq_reg = false;
	nc->rdma_state = ND_RDMA_NONE;
	nc->rdma = NULL;
	xp_rdma_conn_free(c);
	nd_conn_put(nc);
}

void nd_rdma_reap(struct nd_server *s, bool force)
{
	s->rdma_reap = false;
	nd_conns_each(s, reap_one, &force);
}

/*
 * The gateway describes only after its ESTABLISHED, so an accepted
 * connection whose ESTABLISHED we have not read yet counts as up: the
 * listener confirms it now (and reports it through rdma_report).
 */
bool nd_rdma_ready(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;

	if (nc->rdma_state == ND_RDMA_NONE && nd_rdma_usable(s))
		xp_rdma_token_confirm(s->rl, nc);
	return nc->rdma_state == ND_RDMA_UP;
}

/*
 * The address the gateway reached @nc on, in IPv6 form (IPv4 mapped),
 * into @addr. 0 or -errno.
 */
static int session_addr(const struct nd_conn *nc, uint8_t addr[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(xp_conn_fd(nc->xc), (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	} else {
		return -ENOTSUP;
	}
	return 0;
}

/* RDMA_OFFER (docs/protocol.md): a one-time token for this session. */
int nd_rdma_offer(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct nd_server *s = nc->srv;
	struct xp_rdma_offer o = {0};
	int ret;

	if (!nc->feat_rdma)
		return -EPROTO;
	if (!nd_rdma_usable(s))
		return -ENOTSUP;
	if (nc->rdma_state != ND_RDMA_NONE) {
		/*
		 * The gateway asks again only once it dropped its side (the
		 * link under it went down, or it failed there first), which
		 * this side may not have heard of: take ours down too, QP
		 * first, so its segments end (EPROTO) and nd_rdma_reap
		 * frees it. The gateway asks again after EAGAIN.
		 */
		xp_rdma_conn_shutdown(nc->rdma, -ECONNRESET);
		return -EAGAIN;
	}
	if (s->rdma_addr_set) {
		memcpy(o.addr, s->rdma_addr, sizeof(o.addr));
	} else {
		ret = session_addr(nc, o.addr);
		if (ret)
			return ret;
	}
	req->buf = malloc(XP_RDMA_OFFER_LEN);
	if (!req->buf)
		return -ENOMEM;
	ret = xp_rdma_token_issue(s->rl, nc, nc->gw_id, rdma_report, nc,
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

/* ---- listener ----------------------------------------------------------- */

void nd_rdma_listener_event(struct nd_server *s)
{
	int ret;

	if (!nd_rdma_usable(s))
		return;
	ret = xp_rdma_listener_service(s->rl);
	if (ret) {
		sb_err("rdma: listener unusable (%s): payload inline from now "
		       "on",
		       strerror(-ret));
		(void)sb_evtag_ctl(s->epfd, EPOLL_CTL_DEL,
				   xp_rdma_listener_fd(s->rl), 0, NULL);
		s->rdma_dead = true;
	}
}

void nd_rdma_cq_event(struct nd_conn *nc)
{
	/* Completions run segment callbacks; a failure reports down. */
	if (nc->rdma_state != ND_RDMA_NONE && xp_rdma_conn_service(nc->rdma))
		nc->srv->rdma_reap = true;
}

/*
 * Remember the listener's address @ai as the one to offer, unless it is
 * the wildcard (then each session offers its own local address).
 */
static void set_offer_addr(struct nd_server *s, const struct addrinfo *ai)
{
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
}

/*
 * Check the device, listen with rdma_cm on rdma_addr (default: the listen
 * address) and rdma_port. RDMA is an optimisation, never a reason not to
 * start: every failure is a warning and leaves s->rl NULL.
 */
void nd_rdma_setup(struct nd_server *s)
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
	set_offer_addr(s, ai);
	s->rl = xp_rdma_listen(s->vops, ai->ai_addr, &p);
	ret = errno;
	freeaddrinfo(ai);
	if (!s->rl) {
		sb_warn("rdma: cannot listen on %s port %u: %s; payload "
			"inline only",
			host, cfg->rdma_port, strerror(ret));
		return;
	}
	sb_evtag_init(&s->t_rdma, ND_EV_RDMA_LISTEN);
	ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, xp_rdma_listener_fd(s->rl),
			   EPOLLIN, &s->t_rdma);
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
