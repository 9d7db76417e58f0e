// SPDX-License-Identifier: Apache-2.0
/*
 * CHUNK_PUSH from the gateway (docs/recovery.md, "Resync, backfill and
 * moves"), shared by resync and reconcile, and the push epochs that
 * stamp every copy (docs/protocol.md, "Push epochs"); PUSH_FENCE stamps
 * a replica without copying to it.
 *
 * A copy the gateway gave up on can still reach its target later: its
 * source hung with the piece read, then resumed. So every push carries
 * an epoch, store revision << XP_PUSH_SEQ_BITS | sequence, larger than
 * that of any push before it by any gateway: the revision is that of this
 * engine's own put of P/epoch (no earlier gateway saw it), the sequence
 * counts this engine's pushes under it. A target admits a piece only
 * when no later push wrote the same range, and none older than its own
 * registration (node/pushfence.h). A push answered ESTALE (a target that
 * registered after our put) makes the next push take a new base.
 *
 *   no base ── eng_push_ready() ──> asking (SJ_EPOCH job) ── done ──> base
 *      ^                                                               │
 *      └──────── ESTALE answer, or the sequence used up ───────────────┘
 *
 * Loop thread only.
 */

#include "store_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../util/clock.h"
#include "../util/log.h"

#define PUSH_SEQ_MAX ((1u << XP_PUSH_SEQ_BITS) - 1)

bool eng_push_ready(struct sb_engine *e)
{
	struct eng_store *s = e->store;
	struct eng_sjob *j;

	if (s->push_rev && s->push_seq < PUSH_SEQ_MAX)
		return true;
	if (s->push_asking)
		return false;
	j = calloc(1, sizeof(*j));
	if (!j)
		return false; /* asked again at the next pass */
	j->kind = SJ_EPOCH;
	j->deadline = sb_now_ms() + e->cl.io_timeout_ms;
	s->push_asking = true;
	eng_store_submit(s, j);
	return false;
}

void eng_push_epoch_done(struct sb_engine *e, struct eng_sjob *j)
{
	struct eng_store *s = e->store;

	s->push_asking = false;
	if (j->err) {
		sb_err_rl("push epoch: writing the store: %s",
			  strerror(-j->err));
	} else {
		s->push_rev = j->result;
		s->push_seq = 0;
		/* the copies that waited for it go on at the next pass */
		s->resync_at = 0;
		s->al_at = 0;
	}
	free(j);
}

/* The epoch of the next push (eng_push_ready() said yes). */
static uint64_t next_epoch(struct eng_store *s)
{
	return xp_push_epoch(s->push_rev, ++s->push_seq);
}

/* Where the gateway reaches node @idx, in the IPv6 form of the wire. */
static int node_addr(struct sb_engine *e, unsigned int idx,
		     struct xp_push_target *t)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (e->nodes[idx].sess.fd < 0)
		return -ENOTCONN; /* its session went while the copy waited */
	if (getpeername(e->nodes[idx].sess.fd, (struct sockaddr *)&ss, &len))
		return -errno;
	memset(t->addr, 0, sizeof(t->addr));
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		t->addr[10] = t->addr[11] = 0xff;
		memcpy(&t->addr[12], &a->sin_addr, 4);
		t->port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		memcpy(t->addr, &a->sin6_addr, 16);
		t->port = ntohs(a->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	t->target_id = e->cl.nodes[idx].id;
	return 0;
}

int eng_push_end(struct eng_op *op, unsigned int src)
{
	const struct eng_req *r = &op->pieces[0].reqs[src];
	int err = r->err;

	/* a later copy, or the target's registration, is newer than our
	 * base: the next push gets a new one */
	if (err == -ESTALE)
		op->e->store->push_rev = 0;
	free(r->ans_payload);
	free(op->pieces[0].iov);
	free((void *)op->ctl_payload);
	free(op);
	return err;
}

/* 0 when a push or fence of (@lun, @chunk) may start now, -ERANGE (past
 * the LUN's end) or -EAGAIN (no push epoch yet). */
static int can_start(struct sb_engine *e, uint64_t lun, uint64_t chunk)
{
	if (chunk * e->cl.chunk_size >= eng_lun_size(e, lun))
		return -ERANGE;
	return eng_push_ready(e) ? 0 : -EAGAIN;
}

/* Fill request @idx of @op: @opcode over chunk @chunk of @lun (the last
 * one may be short), with the next push epoch. */
static struct eng_req *chunk_req(struct sb_engine *e, struct eng_op *op,
				 unsigned int idx, uint8_t opcode, uint64_t lun,
				 uint64_t chunk)
{
	uint64_t size = eng_lun_size(e, lun), cs = e->cl.chunk_size;
	uint64_t off = chunk * cs;
	struct eng_req *r = &op->pieces[0].reqs[idx];

	eng_req_fill(r, opcode, 0, lun, off,
		     (uint32_t)(size - off < cs ? size - off : cs));
	r->epoch = next_epoch(e->store);
	return r;
}

int eng_push_start(struct sb_engine *e, unsigned int src, unsigned int dst,
		   uint64_t lun, uint64_t chunk, void (*cb)(struct eng_op *),
		   void *arg)
{
	struct xp_push_target t;
	struct eng_op *op;
	struct eng_req *r;
	uint8_t *payload;
	int ret;

	ret = can_start(e, lun, chunk);
	if (!ret)
		ret = node_addr(e, dst, &t);
	if (ret)
		return ret;
	op = eng_op_alloc(e, 1, e->cl.nr_nodes);
	payload = malloc(XP_PUSH_LEN);
	if (!op || !payload) {
		free(op);
		free(payload);
		return -ENOMEM;
	}
	op->pieces[0].iov = calloc(1, sizeof(struct iovec));
	if (!op->pieces[0].iov) {
		free(op);
		free(payload);
		return -ENOMEM;
	}
	xp_push_target_encode(&t, payload);
	op->kind = OP_CTL;
	op->ctl_cb = cb;
	op->ctl_arg = arg;
	op->ctl_payload = payload;
	op->ctl_paylen = XP_PUSH_LEN;
	op->pieces[0].iovcap = 1;
	op->pieces[0].iov[0].iov_base = payload;
	op->pieces[0].iov[0].iov_len = XP_PUSH_LEN;
	r = chunk_req(e, op, src, XP_OP_CHUNK_PUSH, lun, chunk);
	r->iov = op->pieces[0].iov;
	r->iovcnt = 1;
	r->paylen = XP_PUSH_LEN;
	eng_op_start(op);
	return 0;
}

int eng_push_fence(struct sb_engine *e, unsigned int idx, uint64_t lun,
		   uint64_t chunk, void (*cb)(struct eng_op *), void *arg)
{
	struct eng_op *op;
	int ret = can_start(e, lun, chunk);

	if (ret)
		return ret;
	op = eng_op_alloc(e, 1, e->cl.nr_nodes);
	if (!op)
		return -ENOMEM;
	op->kind = OP_CTL;
	op->ctl_cb = cb;
	op->ctl_arg = arg;
	chunk_req(e, op, idx, XP_OP_PUSH_FENCE, lun, chunk);
	eng_op_start(op);
	return 0;
}
