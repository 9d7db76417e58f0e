/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests of the storage node: receipt of a frame, dispatch, the I/O
 * requests (READ, WRITE, WRITE_ZEROES, UNMAP, FLUSH, CAW) against the
 * store and the disk engine, and the answer. Control requests are served
 * by ctl.c, RDMA payload by rdma_seg.c, CHUNK_CSUM by csum.c and
 * CHUNK_PUSH by push.c.
 *
 * Life of a request:
 *
 *   nd_on_frame ─ xp_hdr_check ─ dispatch ─┬─ control (ctl.c: PING,
 *                                           │   STAT, LUN_*, LEASE_*) ─┐
 *                                           ├─ READ, FLUSH ─ nd_io ────┤
 *                                           ├─ CHUNK_CSUM (csum.c),    │
 *                                           │   CHUNK_PUSH (push.c) ───┤
 *                                           └─ WRITE, WRITE_ZEROES,    │
 *                                              UNMAP, CAW, RESIZE:     │
 *                                              range lock ─ nd_io ─────┤
 *                                                                      v
 *                     req_free <─ sent callback <─ xp_conn_send <─ answer
 *
 * A request holds a reference on its connection and, while it uses one,
 * on its LUN. A connection that closes with requests in flight stays
 * allocated until the last of them has finished its disk I/O; their
 * answers are dropped. Each connection has at most ND_CONN_MAX_INFLIGHT
 * requests; beyond that it stops reading until ND_CONN_RESUME_INFLIGHT.
 *
 * SECURITY: header fields are checked once by xp_hdr_decode (in xp_conn)
 * and xp_hdr_check here; ranges against the LUN's size before any I/O.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h); disk completions run from nd_io_poll on it too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/util/log.h"
#include "server_internal.h"

static void req_free(struct nd_req *req)
{
	struct nd_conn *nc = req->conn;
	struct nd_server *s = nc->srv;

	free(req->payload);
	free(req->buf);
	free(req->flush);
	free(req->segs);
	free(req->csum);
	if (req->lun)
		nd_lun_put(req->lun);
	free(req);
	s->nreqs--;
	nc->inflight--;
	if (nc->paused && !s->stopping &&
	    nc->inflight <= ND_CONN_RESUME_INFLIGHT)
		nd_conn_set_paused(nc, false);
	nd_conn_put(nc);
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
	if ((h->flags & XP_F_FUA) &&
	    (h->opcode == XP_OP_WRITE || h->opcode == XP_OP_CAW))
		c->ops_write_fua++;
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

void nd_req_answer(struct nd_req *req, int err)
{
	struct nd_conn *nc = req->conn;
	struct iovec iov;
	struct xp_hdr ans;
	int ret;

	if (req->rl.held)
		nd_rlock_release(&req->lun->rlock, &req->rl);
	count_done(nc->srv, &req->hdr, err);
	if (nc->state == ND_CONN_CLOSED) {
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
	ret = nd_conn_send(nc, &ans, &iov, req->ans_len ? 1 : 0, req_sent, req);
	if (ret < 0) {
		sb_err_rl("cannot answer %s: %s", xp_opcode_name(ans.opcode),
			  strerror(-ret));
		req_free(req);
	}
	/* The connection outlives the request: it holds the open ref. */
	nd_conn_update_events(nc);
}

int nd_io_buf_alloc(uint8_t **out, uint32_t len)
{
	void *p;
	int ret;

	ret = posix_memalign(&p, XP_PAYLOAD_ALIGN, len ? len : 1);
	if (ret)
		return -ret;
	*out = p;
	return 0;
}

int nd_req_take_lun(struct nd_req *req)
{
	struct nd_lun *lun =
		nd_store_find(req->conn->srv->store, req->hdr.lun_id);

	if (!lun)
		return -ENOENT;
	nd_lun_get(lun);
	req->lun = lun;
	return 0;
}

void nd_req_log_disk_error(const struct nd_req *req, int res)
{
	sb_err_rl("LUN %016" PRIx64 ": %s at %" PRIu64 " length %u: %s",
		  req->hdr.lun_id, xp_opcode_name(req->hdr.opcode),
		  req->hdr.offset, req->hdr.length, strerror(-res));
}

static void io_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);

	if (res)
		nd_req_log_disk_error(req, res);
	if (res == 0 && req->hdr.opcode == XP_OP_READ)
		req->ans_len = req->hdr.length;
	nd_req_answer(req, res);
}

static void zero_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);

	if (res)
		nd_req_log_disk_error(req, res);
	/* Remember a file system without ZERO_RANGE (tmpfs). */
	if (!res && req->hdr.opcode == XP_OP_WRITE_ZEROES &&
	    !(req->hdr.flags & XP_F_UNMAP) &&
	    op->zero_how != ND_ZERO_BY_ZERO_RANGE)
		req->lun->no_zero_range = true;
	nd_req_answer(req, res);
}

static void caw_read_done(struct nd_io_op *op, int res)
{
	struct nd_req *req = container_of(op, struct nd_req, io);
	struct nd_server *s = req->conn->srv;
	uint32_t n = req->hdr.length;
	uint32_t i;
	int ret;

	if (res) {
		nd_req_log_disk_error(req, res);
		nd_req_answer(req, res);
		return;
	}
	if (memcmp(req->buf, req->payload, n)) {
		for (i = 0; i < n && req->buf[i] == req->payload[i]; i++)
			;
		xp_put_be64(req->buf, i);
		req->ans_len = 8;
		nd_req_answer(req, -XP_EMISCOMPARE);
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
		nd_req_answer(req, ret);
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
			nd_rdma_start(req);
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
		nd_ctl_lun_resize(req);
		return;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret)
		nd_req_answer(req, ret);
}

static void lock_granted(struct nd_rlock_req *r)
{
	mutate_locked(container_of(r, struct nd_req, rl));
}

/*
 * Admit push epoch h->epoch for the chunks of @req's range (the LUN
 * taken, the range checked): 0, or -ESTALE when a later copy or fence of
 * one of them, or the node's registration, came after it (docs/protocol.md,
 * "Push epochs").
 */
static int fence_admit(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	uint64_t cs = req->lun->layout.chunk_size, floor = 0;

	if (s->member)
		floor = xp_push_epoch((uint64_t)nd_member_rev(s->member), 0);
	return nd_pfence_admit(s->pfence, h->lun_id, h->offset / cs,
			       (h->offset + h->length - 1) / cs, h->epoch,
			       floor);
}

/*
 * A WRITE or WRITE_ZEROES with an epoch is a piece of a CHUNK_PUSH.
 * Checked on arrival: the range lock then applies pieces in the order
 * they were admitted.
 */
static int push_admit(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;

	if (!h->epoch ||
	    (h->opcode != XP_OP_WRITE && h->opcode != XP_OP_WRITE_ZEROES))
		return 0;
	return fence_admit(req);
}

/* Take the LUN, check the range, lock it and mutate. */
static void do_mutate(struct nd_req *req)
{
	const struct xp_hdr *h = &req->hdr;
	uint64_t start = h->offset, len = h->length;
	int ret;

	ret = nd_req_take_lun(req);
	if (ret)
		goto out_answer;
	if (h->opcode == XP_OP_LUN_RESIZE) {
		/* Whole range: wait for every write before it. */
		start = 0;
		len = 0;
	} else {
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
		if (!ret)
			ret = push_admit(req);
		if (ret)
			goto out_answer;
	}
	if (h->opcode == XP_OP_CAW) {
		ret = nd_io_buf_alloc(&req->buf, h->length);
		if (ret)
			goto out_answer;
	}
	if (nd_rlock_acquire(&req->lun->rlock, &req->rl, start, len,
			     lock_granted))
		mutate_locked(req);
	return;

out_answer:
	nd_req_answer(req, ret);
}

/*
 * PUSH_FENCE: no piece of a copy older than h->epoch lands in the range's
 * chunks after the answer. Nothing is written, so no range lock: writes
 * that come after the answer queue behind pieces admitted before it.
 */
static void do_fence(struct nd_req *req)
{
	int ret = nd_req_take_lun(req);

	if (!ret)
		ret = nd_lun_check_range(req->lun, req->hdr.offset,
					 req->hdr.length);
	if (!ret)
		ret = fence_admit(req);
	nd_req_answer(req, ret);
}

static void do_read(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	const struct xp_hdr *h = &req->hdr;
	int ret;

	ret = nd_req_take_lun(req);
	if (!ret)
		ret = nd_lun_check_range(req->lun, h->offset, h->length);
	if (!ret && h->desc_xport == XP_DESC_RDMA) {
		nd_rdma_start(req);
		return;
	}
	if (!ret)
		ret = nd_io_buf_alloc(&req->buf, h->length);
	if (!ret)
		ret = nd_io_read(s->io, &req->io,
				 nd_lun_data_fd(req->lun, req->buf, h->offset,
						h->length),
				 req->buf, h->length, h->offset, io_done);
	if (ret)
		nd_req_answer(req, ret);
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
		nd_req_answer(req, req->flush_err);
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
		nd_req_answer(req, 0);
		return;
	}
	luns = calloc(n, sizeof(*luns));
	req->flush = calloc(n, sizeof(*req->flush));
	if (!luns || !req->flush) {
		free(luns);
		nd_req_answer(req, -ENOMEM);
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
		nd_req_answer(req, req->flush_err);
}

static void do_flush(struct nd_req *req)
{
	struct nd_server *s = req->conn->srv;
	int ret;

	if (!req->hdr.lun_id) {
		do_flush_all(req);
		return;
	}
	ret = nd_req_take_lun(req);
	if (!ret)
		ret = nd_io_fsync(s->io, &req->io, req->lun->fd, io_done);
	if (ret)
		nd_req_answer(req, ret);
}

static void dispatch(struct nd_req *req)
{
	switch (req->hdr.opcode) {
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
	case XP_OP_CHUNK_CSUM:
		nd_csum_start(req);
		return;
	case XP_OP_CHUNK_PUSH:
		nd_push_start(req);
		return;
	case XP_OP_PUSH_FENCE:
		do_fence(req);
		return;
	default:
		/* Control requests, and HELLO or AUTH again (-EINVAL). */
		nd_ctl_dispatch(req);
		return;
	}
}

/*
 * A request of @nc: allocate it, take @payload, hold the connection, and
 * stop reading when too many are in flight. NULL when out of memory.
 */
static struct nd_req *req_new(struct nd_conn *nc, const struct xp_hdr *h,
			      void *payload)
{
	struct nd_server *s = nc->srv;
	struct nd_req *req;

	req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->conn = nc;
	req->hdr = *h;
	req->payload = payload;
	req->ans_offset = h->offset;
	req->ans_epoch = h->epoch;
	nd_conn_get(nc);
	nc->inflight++;
	s->nreqs++;
	if (nc->inflight >= ND_CONN_MAX_INFLIGHT)
		nd_conn_set_paused(nc, true);
	return req;
}

int nd_on_frame(void *arg, const struct xp_hdr *h, void *payload, bool crc_ok)
{
	struct nd_conn *nc = arg;
	struct nd_server *s = nc->srv;
	struct nd_req *req;
	int ret;

	s->ctr.bytes_tcp_payload += h->payload_len;
	s->ctr.bytes_tcp_control += XP_HDR_LEN;
	if (nc->state != ND_CONN_AUTHED)
		return nd_handshake(nc, h, payload, crc_ok);
	if (s->stopping) {
		/* Stopped reading: a frame still buffered is not started. */
		free(payload);
		return 0;
	}
	req = req_new(nc, h, payload);
	if (!req) {
		struct xp_hdr ans;

		free(payload);
		xp_hdr_answer(&ans, h, xp_status_from_errno(-ENOMEM));
		return nd_conn_send(nc, &ans, NULL, 0, NULL, NULL);
	}
	if (h->flags & XP_F_RESP)
		nd_req_answer(req, -EINVAL);
	else if ((ret = xp_hdr_check(h)) < 0)
		nd_req_answer(req, ret);
	else if (!crc_ok)
		nd_req_answer(req, -EBADMSG);
	else if (h->desc_xport == XP_DESC_RDMA && !nd_rdma_ready(nc))
		nd_req_answer(req, -EPROTO); /* not negotiated: resend inline */
	else
		dispatch(req);
	return 0;
}
