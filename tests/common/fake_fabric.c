/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fabric mode of the fake device (fake_verbs.h): both ends of every
 * connection in this process, driven by the real event loops of the
 * engine and the node in their own threads.
 *
 *   gateway id                       listener id (node)
 *   resolve_addr -> ADDR_RESOLVED
 *   resolve_route -> ROUTE_RESOLVED
 *   connect(priv) ---------------->  CONNECT_REQUEST (new passive id)
 *   ESTABLISHED   <----------------  accept -> ESTABLISHED (its own)
 *                                    or reject -> REJECTED at the gateway
 *   disconnect / destroy_id: both QPs into error (held requests flush),
 *   DISCONNECTED at the other end (and at a connected caller)
 *
 * A posted request executes at once, in the poster's thread, unless
 * fake_hold() holds its opcode; a request posted behind a held one on the
 * same QP is held too. RDMA READ and WRITE copy between the poster's
 * registered memory (lkey) and the peer's (rkey: an MR with remote access
 * or a bound type 2 window of the peer's PD, bound by the peer's QP),
 * bounds and access checked; a refusal completes with -EACCES and the
 * poster's QP goes to error, as an HCA does. Completions go to the
 * poster's CQ; an armed CQ notifies its channel once.
 *
 * Every entry point holds fake_mu (one mutex for all of F). Channel fds
 * are eventfds kept readable exactly while the channel has something
 * pending (level semantics, like the real ones under epoll).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_internal.h"

/* ---- fds readable while something is pending --------------------------- */

static void efd_level(int fd, bool *signalled, bool pending)
{
	uint64_t v = 1;

	if (pending && !*signalled) {
		if (write(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			*signalled = true;
	} else if (!pending && *signalled) {
		if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			*signalled = false;
	}
}

static int efd_new(void)
{
	return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/* ---- rdma_cm events -------------------------------------------------------- */

static void ev_push(struct rdma_event_channel *ch, const struct fake_ev *e)
{
	if (!ch || !ch->live)
		return;
	if (ch->n == FAKE_CH_EVENTS) {
		fake_violation("event channel overflow");
		return;
	}
	ch->q[(ch->head + ch->n++) % FAKE_CH_EVENTS] = *e;
	efd_level(ch->fd, &ch->signalled, true);
}

static void ev_to(struct rdma_cm_id *id, enum xp_verbs_cm_type type, int status)
{
	struct fake_ev e = {.type = type, .id = id, .status = status};

	ev_push(id->ch, &e);
}

/*
 * Take out of @ch the queued events that @match says go (the kernel drops
 * an id's unread events when it is destroyed).
 */
static void ev_purge(struct rdma_event_channel *ch,
		     bool (*match)(const struct fake_ev *e, const void *arg),
		     const void *arg)
{
	struct fake_ev keep[FAKE_CH_EVENTS];
	int i, n = 0;

	if (!ch || !ch->live)
		return;
	for (i = 0; i < ch->n; i++) {
		const struct fake_ev *e =
			&ch->q[(ch->head + i) % FAKE_CH_EVENTS];

		if (!match(e, arg))
			keep[n++] = *e;
	}
	memcpy(ch->q, keep, (size_t)n * sizeof(keep[0]));
	ch->head = 0;
	ch->n = n;
	efd_level(ch->fd, &ch->signalled, n > 0);
}

static bool ev_of_id(const struct fake_ev *e, const void *id)
{
	return e->id == id;
}

static struct rdma_event_channel *b_create_event_channel(void)
{
	struct rdma_event_channel *ch = NULL;
	int i;

	fake_mu_lock();
	for (i = 0; i < FAKE_MAX_OBJS && !ch; i++)
		if (!F.chs[i].live)
			ch = &F.chs[i];
	if (!ch) {
		fake_violation("out of event channels");
		errno = EMFILE;
		goto out;
	}
	memset(ch, 0, sizeof(*ch));
	ch->fd = efd_new();
	if (ch->fd < 0) {
		ch = NULL;
		goto out;
	}
	ch->live = true;
	F.n_ch++;
out:
	fake_mu_unlock();
	return ch;
}

static void b_destroy_event_channel(struct rdma_event_channel *ch)
{
	int i;

	if (!ch)
		return;
	fake_mu_lock();
	if (!ch->live)
		fake_violation("destroy of a dead event channel");
	if (ch->has_cur)
		fake_violation("event channel destroyed with an event unacked");
	for (i = 0; i < MAX_IDS; i++)
		if (F.ids[i].live && F.ids[i].ch == ch)
			fake_violation("event channel destroyed before its "
				       "ids");
	close(ch->fd);
	ch->fd = -1;
	ch->live = false;
	F.n_ch--;
	fake_mu_unlock();
}

static int b_get_cm_event(struct rdma_event_channel *ch,
			  struct xp_verbs_cm_event *ev)
{
	struct fake_ev *e = &ch->cur;

	fake_mu_lock();
	if (!ch->n) {
		efd_level(ch->fd, &ch->signalled, false);
		fake_mu_unlock();
		return -EAGAIN;
	}
	if (ch->has_cur)
		fake_violation("a second cm event taken before the first "
			       "acked");
	*e = ch->q[ch->head];
	ch->head = (ch->head + 1) % FAKE_CH_EVENTS;
	ch->n--;
	ch->has_cur = true;
	efd_level(ch->fd, &ch->signalled, ch->n > 0);
	memset(ev, 0, sizeof(*ev));
	ev->type = e->type;
	ev->id = e->id;
	ev->listen_id = e->listen_id;
	ev->status = e->status;
	ev->priv = e->priv_len ? e->priv : NULL;
	ev->priv_len = e->priv_len;
	ev->responder_resources = e->resp;
	ev->initiator_depth = e->init;
	ev->raw = ch;
	fake_mu_unlock();
	return 0;
}

static void b_ack_cm_event(struct xp_verbs_cm_event *ev)
{
	struct rdma_event_channel *ch = ev->raw;

	fake_mu_lock();
	if (!ch->has_cur || ch->cur.id != ev->id)
		fake_violation("ack of an event not handed out");
	ch->has_cur = false;
	fake_mu_unlock();
}

/* ---- queue pairs and completions ------------------------------------------ */

static void cq_push(struct ibv_cq *cq, struct rdma_cm_id *id,
		    const struct xp_verbs_wr *wr, int status)
{
	struct fake_cqe *e;

	if (cq->n == cq->cqe) {
		fake_violation("CQ overflow (%d entries)", cq->cqe);
		return;
	}
	e = &cq->q[(cq->head + cq->n++) % cq->cqe];
	e->wc = (struct xp_verbs_wc){
		.wr_id = wr->wr_id,
		.status = status,
		.byte_len = status ? 0 : wr->length,
	};
	e->qp_id = id;
	e->opcode = wr->opcode;
	if (cq->armed) {
		cq->armed = false;
		cq->ch->events++;
		efd_level(cq->ch->fd, &cq->ch->signalled, true);
	}
}

static bool has_held(const struct rdma_cm_id *id)
{
	int i;

	for (i = 0; i < F.nheld; i++)
		if (F.held[i].id == id)
			return true;
	return false;
}

/* Drop the held requests of @id; with @flush, complete them flushed. */
static void held_drop(struct rdma_cm_id *id, bool flush)
{
	int i, n = 0;

	for (i = 0; i < F.nheld; i++) {
		if (F.held[i].id != id) {
			F.held[n++] = F.held[i];
			continue;
		}
		if (flush)
			cq_push(id->qp.cq, id, &F.held[i].wr, -ECANCELED);
	}
	F.nheld = n;
}

/* @id's QP goes into the error state: what it holds flushes. */
static void qp_error(struct rdma_cm_id *id)
{
	if (!id->has_qp)
		return;
	id->qp.error = true;
	held_drop(id, true);
}

/* The live MR of @pd whose @which key (lkey or rkey) is @key. */
static struct ibv_mr *mr_by_key(struct ibv_pd *pd, uint32_t key, bool lkey)
{
	int i;

	for (i = 0; i < MAX_MRS; i++) {
		struct ibv_mr *mr = &F.mrs[i];

		if (F.mr_live[i] && mr->pd == pd &&
		    (lkey ? mr->lkey : mr->rkey) == key)
			return mr;
	}
	return NULL;
}

/* [@addr, @addr + @len) lies within [@base, @base + @size). */
static bool in_range(uint64_t addr, uint64_t len, uint64_t base, uint64_t size)
{
	return addr >= base && len <= size && addr - base <= size - len;
}

/*
 * The responder's check of a remote access by @peer's QP to @rkey: where
 * the bytes are, or NULL (remote access error).
 */
static uint8_t *remote_mem(struct rdma_cm_id *peer, uint32_t rkey,
			   uint64_t addr, uint32_t len, unsigned int need)
{
	struct ibv_pd *pd = peer->qp.pd;
	struct ibv_mr *mr = mr_by_key(pd, rkey, false);
	int i;

	if (mr) {
		if (!(mr->access & need) ||
		    !in_range(addr, len, mr->iova, mr->len))
			return NULL;
		return (uint8_t *)mr->addr + (addr - mr->iova);
	}
	for (i = 0; i < MAX_MWS; i++) {
		struct ibv_mw *mw = &F.mws[i];

		if (!F.mw_live[i] || !mw->bound || mw->hw_rkey != rkey ||
		    mw->pd != pd)
			continue;
		/* Type 2B: only through the QP that bound it. */
		if (!(mw->access & need) || mw->qp_id != peer ||
		    !in_range(addr, len, mw->addr, mw->len))
			return NULL;
		return (uint8_t *)mw->mr->addr + (addr - mw->mr->iova);
	}
	return NULL;
}

static int exec_rdma(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	bool read = wr->opcode == XP_VERBS_RDMA_READ;
	struct rdma_cm_id *peer = id->peer;
	struct ibv_mr *lmr = mr_by_key(id->qp.pd, wr->lkey, true);
	uint8_t *local, *remote;

	if (!peer || !peer->has_qp || peer->qp.error ||
	    peer->state != FAKE_CM_CONNECTED)
		return -ETIMEDOUT; /* nobody answers: retries exceeded */
	if (!lmr ||
	    !in_range(wr->local_addr, wr->length, lmr->iova, lmr->len) ||
	    (read && !(lmr->access & XP_VERBS_ACC_LOCAL_WRITE))) {
		fake_violation("RDMA %s with a bad local key or range",
			       read ? "READ" : "WRITE");
		return -EIO;
	}
	remote = remote_mem(peer, wr->rkey, wr->remote_addr, wr->length,
			    read ? XP_VERBS_ACC_REMOTE_READ
				 : XP_VERBS_ACC_REMOTE_WRITE);
	if (!remote)
		return -EACCES;
	local = (uint8_t *)lmr->addr + (wr->local_addr - lmr->iova);
	if (read) {
		memcpy(local, remote, wr->length);
		F.rdma_reads++;
	} else {
		memcpy(remote, local, wr->length);
		F.rdma_writes++;
	}
	F.rdma_bytes += wr->length;
	return 0;
}

static int exec_bind(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	struct ibv_mw *mw = wr->mw;

	if (!F.mw_live[mw - F.mws] || mw->bound || mw->pd != id->qp.pd) {
		fake_violation("bind of a dead or bound window, or across PDs");
		return -EIO;
	}
	mw->bound = true;
	mw->hw_rkey = wr->rkey;
	mw->addr = wr->local_addr;
	mw->len = wr->length;
	mw->access = wr->mw_access;
	mw->mr = wr->mr;
	mw->qp_id = id;
	if (++F.bound_now > F.peak_bound)
		F.peak_bound = F.bound_now;
	return 0;
}

static int exec_inv(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	int i;

	for (i = 0; i < MAX_MWS; i++) {
		struct ibv_mw *mw = &F.mws[i];

		if (F.mw_live[i] && mw->bound && mw->hw_rkey == wr->rkey &&
		    mw->pd == id->qp.pd) {
			mw->bound = false;
			F.bound_now--;
			return 0;
		}
	}
	fake_violation("invalidate of key %#x, which no window holds",
		       wr->rkey);
	return -EIO;
}

/* 0, or the injected error @inj gives a request of @op (used up). */
static int inject_take(struct fake_inject *inj, enum xp_verbs_opcode op)
{
	int err = inj->err;

	if (!err || (inj->opmask && !(inj->opmask & (1u << op))))
		return 0;
	if (inj->times > 0 && --inj->times == 0)
		inj->err = 0;
	return err;
}

/* The HCA executes @wr of @id and completes it on @id's CQ. */
static void exec(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	bool data = wr->opcode == XP_VERBS_RDMA_READ ||
		    wr->opcode == XP_VERBS_RDMA_WRITE;
	int st;

	if (id->qp.error)
		st = -ECANCELED;
	else if ((st = inject_take(&F.wc_err, wr->opcode)))
		;
	else if (wr->opcode == XP_VERBS_BIND_MW)
		st = exec_bind(id, wr);
	else if (wr->opcode == XP_VERBS_LOCAL_INV)
		st = exec_inv(id, wr);
	else
		st = exec_rdma(id, wr);
	if (data && st && st != -ECANCELED)
		F.rdma_errors++;
	cq_push(id->qp.cq, id, wr, st);
	if (st)
		qp_error(id);
}

static void qp_count_post(struct rdma_cm_id *id, enum xp_verbs_opcode op)
{
	struct fake_qp *qp = &id->qp;

	qp->unpolled++;
	if (op == XP_VERBS_RDMA_READ)
		qp->unpolled_reads++;
	if (qp->unpolled > qp->peak)
		qp->peak = qp->unpolled;
	if (qp->unpolled_reads > qp->peak_reads)
		qp->peak_reads = qp->unpolled_reads;
	if (id->passive) {
		if (qp->peak > F.peak_passive)
			F.peak_passive = qp->peak;
		if (qp->peak_reads > F.peak_passive_reads)
			F.peak_passive_reads = qp->peak_reads;
	} else if (qp->peak > F.peak_active) {
		F.peak_active = qp->peak;
	}
}

static int b_post_send(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	int err = 0;

	fake_mu_lock();
	if (!id->has_qp) {
		fake_violation("post_send without a QP");
		err = -EINVAL;
		goto out;
	}
	err = inject_take(&F.post_err, wr->opcode);
	if (err)
		goto out;
	if (id->qp.unpolled >= (int)id->qp.max_send_wr) {
		fake_violation("post beyond the send queue (%u entries)",
			       id->qp.max_send_wr);
		err = -ENOMEM;
		goto out;
	}
	if (wr->opcode == XP_VERBS_BIND_MW && fake_check_bind(wr)) {
		err = -EINVAL;
		goto out;
	}
	if (wr->opcode == XP_VERBS_LOCAL_INV)
		F.invs++;
	F.posts++;
	qp_count_post(id, wr->opcode);
	if ((F.hold_mask & (1u << wr->opcode)) || has_held(id)) {
		if (F.nheld < FAKE_MAX_HELD) {
			F.held[F.nheld].id = id;
			F.held[F.nheld++].wr = *wr;
			goto out;
		}
		fake_violation("too many held work requests");
	}
	exec(id, wr);
out:
	fake_mu_unlock();
	return err;
}

/* ---- ids and connections ------------------------------------------------- */

static int b_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
		       void *context)
{
	int err = 0;

	fake_mu_lock();
	*id = fake_id_alloc();
	if (*id) {
		(*id)->ch = ch;
		(*id)->context = context;
	} else {
		err = -ENOMEM;
	}
	fake_mu_unlock();
	return err;
}

static bool ev_request_of(const struct fake_ev *e, const void *id)
{
	return e->type == XP_CM_CONNECT_REQUEST && e->id == id;
}

/* A passive id that was never handed out goes with its request event. */
static void request_drop(struct rdma_cm_id *req)
{
	req->live = false;
	F.n_id--;
}

/*
 * @id leaves its connection (disconnect, reject or destroy): the other
 * end's QP goes into error and it is told as rdma_cm would tell it.
 */
static void cut(struct rdma_cm_id *id)
{
	struct rdma_cm_id *p = id->peer;
	struct rdma_event_channel *pch;
	int before;

	if (!p)
		return;
	id->peer = NULL;
	p->peer = NULL;
	if (F.partition)
		return; /* the other end hears nothing */
	qp_error(p);
	switch (p->state) {
	case FAKE_CM_CONNECTING:
		ev_to(p, XP_CM_REJECTED, -ECONNREFUSED);
		break;
	case FAKE_CM_REQUESTED:
		/* Still unread at its listener: as if it never came. */
		pch = p->ch;
		before = pch->n;
		ev_purge(pch, ev_request_of, p);
		if (pch->n < before) {
			request_drop(p);
			return;
		}
		break; /* being decided: accept will find nobody */
	case FAKE_CM_CONNECTED:
		ev_to(p, XP_CM_DISCONNECTED, 0);
		break;
	default:
		break;
	}
	p->state = FAKE_CM_CLOSED;
}

static bool ev_request_to(const struct fake_ev *e, const void *listener)
{
	return e->type == XP_CM_CONNECT_REQUEST && e->listen_id == listener;
}

/* A listener goes: the requests still queued on it are refused. */
static void listener_drop(struct rdma_cm_id *l)
{
	struct rdma_event_channel *ch = l->ch;
	int i;

	for (i = 0; i < ch->n; i++) {
		struct fake_ev *e = &ch->q[(ch->head + i) % FAKE_CH_EVENTS];

		if (e->type != XP_CM_CONNECT_REQUEST || e->listen_id != l)
			continue;
		e->id->state = FAKE_CM_CLOSED;
		if (e->id->peer) {
			e->id->peer->state = FAKE_CM_CLOSED;
			ev_to(e->id->peer, XP_CM_REJECTED, -ECONNREFUSED);
			e->id->peer->peer = NULL;
		}
		request_drop(e->id);
	}
	ev_purge(ch, ev_request_to, l);
}

static int b_destroy_id(struct rdma_cm_id *id)
{
	if (!id)
		return 0;
	fake_mu_lock();
	if (!id->live)
		fake_violation("destroy of a dead id");
	/* librdmacm would hang: an id's events must be acked first. */
	if (id->ch && id->ch->has_cur && id->ch->cur.id == id)
		fake_violation("destroy_id with its event unacked");
	if (id->has_qp)
		fake_violation("destroy_id with its QP");
	if (id->listening)
		listener_drop(id);
	cut(id);
	ev_purge(id->ch, ev_of_id, id);
	id->live = false;
	F.n_id--;
	fake_mu_unlock();
	return 0;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

/* Listener address @l takes a connection to @d. */
static bool addr_match(const struct sockaddr_storage *l,
		       const struct sockaddr_storage *d)
{
	if (l->ss_family != d->ss_family)
		return false;
	if (l->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)l,
					 *b = (const void *)d;

		return a->sin_port == b->sin_port &&
		       (a->sin_addr.s_addr == htonl(INADDR_ANY) ||
			a->sin_addr.s_addr == b->sin_addr.s_addr);
	}
	if (l->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)l,
					  *b = (const void *)d;

		return a->sin6_port == b->sin6_port &&
		       (!memcmp(&a->sin6_addr, &in6addr_any, 16) ||
			!memcmp(&a->sin6_addr, &b->sin6_addr, 16));
	}
	return false;
}

static struct rdma_cm_id *listener_for(const struct sockaddr_storage *dst)
{
	int i;

	for (i = 0; i < MAX_IDS; i++)
		if (F.ids[i].live && F.ids[i].listening &&
		    addr_match(&F.ids[i].addr, dst))
			return &F.ids[i];
	return NULL;
}

static int b_bind_addr(struct rdma_cm_id *id, const struct sockaddr *addr)
{
	socklen_t len = sa_len(addr);

	if (!len)
		return -EAFNOSUPPORT;
	fake_mu_lock();
	memcpy(&id->addr, addr, len);
	id->bound = true;
	fake_mu_unlock();
	return 0;
}

static int b_listen(struct rdma_cm_id *id, int backlog)
{
	int err = 0;

	(void)backlog;
	fake_mu_lock();
	if (listener_for(&id->addr))
		err = -EADDRINUSE;
	else
		id->listening = true;
	fake_mu_unlock();
	return err;
}

static int b_resolve_addr(struct rdma_cm_id *id, const struct sockaddr *dst,
			  int timeout_ms)
{
	socklen_t len = sa_len(dst);
	int err = 0;

	if (!len || timeout_ms <= 0)
		return -EINVAL;
	fake_mu_lock();
	F.resolve_addr_calls++;
	if (F.fail_resolve_addr) {
		err = F.fail_resolve_addr;
	} else {
		memcpy(&id->addr, dst, len);
		id->bound = true;
		ev_to(id, XP_CM_ADDR_RESOLVED, 0);
	}
	fake_mu_unlock();
	return err;
}

static int b_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	if (timeout_ms <= 0)
		return -EINVAL;
	fake_mu_lock();
	F.resolve_route_calls++;
	ev_to(id, XP_CM_ROUTE_RESOLVED, 0);
	fake_mu_unlock();
	return 0;
}

/* The connect request of @id (priv: @e->priv) reaches listener @l. */
static void request(struct rdma_cm_id *id, struct rdma_cm_id *l,
		    struct fake_ev *e)
{
	struct rdma_cm_id *req = fake_id_alloc();

	if (!req) {
		ev_to(id, XP_CM_ERROR, -ENOMEM);
		return;
	}
	req->ch = l->ch;
	req->bound = true;
	req->passive = true;
	req->listen_id = l;
	req->addr = l->addr;
	req->state = FAKE_CM_REQUESTED;
	req->peer = id;
	id->peer = req;
	e->type = XP_CM_CONNECT_REQUEST;
	e->id = req;
	e->listen_id = l;
	ev_push(l->ch, e);
}

static int b_connect(struct rdma_cm_id *id, const void *priv, uint8_t len,
		     uint8_t resp, uint8_t init)
{
	struct fake_ev e = {.resp = resp, .init = init};
	struct rdma_cm_id *l;

	if (len > XP_VERBS_PRIV_MAX)
		return -EINVAL;
	fake_mu_lock();
	if (!id->has_qp)
		fake_violation("connect without a QP");
	memcpy(F.conn_priv, priv, len);
	F.conn_priv_len = len;
	F.conn_resp = resp;
	F.conn_init = init;
	F.connects++;
	id->resp = resp;
	id->qp.max_reads = init;
	id->state = FAKE_CM_CONNECTING;
	/* IB and RoCE deliver the whole private data area, zero padded. */
	memcpy(e.priv, priv, len);
	e.priv_len = XP_VERBS_PRIV_MAX;
	if (F.bad_token && len) {
		if (F.bad_token > 0)
			F.bad_token--;
		e.priv[len - 1] ^= 0x5a;
	}
	l = listener_for(&id->addr);
	if (l)
		request(id, l, &e);
	else
		ev_to(id, XP_CM_REJECTED, -ECONNREFUSED);
	fake_mu_unlock();
	return 0;
}

static int b_accept(struct rdma_cm_id *id, uint8_t resp, uint8_t init)
{
	struct rdma_cm_id *p;
	int err = 0;

	fake_mu_lock();
	if (!id->has_qp || !id->passive || id->state != FAKE_CM_REQUESTED)
		fake_violation("accept without a QP or a request");
	if (F.fail_accept) {
		err = F.fail_accept;
		goto out;
	}
	F.acc_init = init;
	F.accepts++;
	(void)resp;
	id->qp.max_reads = init;
	p = id->peer;
	if (!p) {
		/* The gateway went away meanwhile: no RTU will come. */
		id->state = FAKE_CM_CLOSED;
		ev_to(id, XP_CM_DISCONNECTED, 0);
		goto out;
	}
	if (init > p->resp)
		fake_violation("accept with READ depth %u, peer serves %u",
			       init, p->resp);
	id->state = FAKE_CM_CONNECTED;
	p->state = FAKE_CM_CONNECTED;
	ev_to(p, XP_CM_ESTABLISHED, 0);
	if (F.defer_est)
		id->est_deferred = true;
	else
		ev_to(id, XP_CM_ESTABLISHED, 0);
out:
	fake_mu_unlock();
	return err;
}

static int b_reject(struct rdma_cm_id *id)
{
	fake_mu_lock();
	F.rejects++;
	if (id->peer && id->peer->state == FAKE_CM_CONNECTING) {
		id->peer->state = FAKE_CM_CLOSED;
		ev_to(id->peer, XP_CM_REJECTED, -ECONNREFUSED);
		id->peer->peer = NULL;
		id->peer = NULL;
	}
	id->state = FAKE_CM_CLOSED;
	fake_mu_unlock();
	return 0;
}

static int b_disconnect(struct rdma_cm_id *id)
{
	bool linked;

	fake_mu_lock();
	F.disconnects++;
	linked = id->peer || id->state == FAKE_CM_CONNECTED;
	qp_error(id);
	if (id->state == FAKE_CM_CONNECTED)
		ev_to(id, XP_CM_DISCONNECTED, 0);
	cut(id);
	if (id->state != FAKE_CM_IDLE)
		id->state = FAKE_CM_CLOSED;
	fake_mu_unlock();
	return linked ? 0 : -EINVAL;
}

/* ---- PD, completion channels, CQs, QPs ------------------------------------- */

static struct ibv_pd *b_alloc_pd(struct ibv_context *dev)
{
	struct ibv_pd *pd = NULL;
	int i;

	(void)dev;
	fake_mu_lock();
	if (F.fail_pd) {
		errno = -F.fail_pd;
		goto out;
	}
	for (i = 0; i < FAKE_MAX_OBJS && !pd; i++)
		if (!F.pds[i].live)
			pd = &F.pds[i];
	if (!pd) {
		fake_violation("out of PDs");
		errno = ENOMEM;
		goto out;
	}
	pd->live = true;
	F.n_pd++;
out:
	fake_mu_unlock();
	return pd;
}

static int b_dealloc_pd(struct ibv_pd *pd)
{
	int i;

	if (!pd)
		return 0;
	fake_mu_lock();
	for (i = 0; i < MAX_MRS; i++)
		if (F.mr_live[i] && F.mrs[i].pd == pd)
			fake_violation("dealloc_pd with an MR in it");
	for (i = 0; i < MAX_MWS; i++)
		if (F.mw_live[i] && F.mws[i].pd == pd)
			fake_violation("dealloc_pd with a window in it");
	for (i = 0; i < MAX_IDS; i++)
		if (F.ids[i].live && F.ids[i].has_qp && F.ids[i].qp.pd == pd)
			fake_violation("dealloc_pd with a QP in it");
	pd->live = false;
	F.n_pd--;
	fake_mu_unlock();
	return 0;
}

static struct ibv_comp_channel *b_create_comp_channel(struct ibv_context *d)
{
	struct ibv_comp_channel *ch = NULL;
	int i;

	(void)d;
	fake_mu_lock();
	for (i = 0; i < FAKE_MAX_OBJS && !ch; i++)
		if (!F.cchs[i].live)
			ch = &F.cchs[i];
	if (!ch) {
		fake_violation("out of completion channels");
		errno = EMFILE;
		goto out;
	}
	memset(ch, 0, sizeof(*ch));
	ch->fd = efd_new();
	if (ch->fd < 0) {
		ch = NULL;
		goto out;
	}
	ch->live = true;
	F.n_cch++;
out:
	fake_mu_unlock();
	return ch;
}

static int b_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	int i;

	if (!ch)
		return 0;
	fake_mu_lock();
	for (i = 0; i < FAKE_MAX_OBJS; i++)
		if (F.cqs[i].live && F.cqs[i].ch == ch)
			fake_violation("completion channel destroyed before "
				       "its CQ");
	close(ch->fd);
	ch->fd = -1;
	ch->live = false;
	F.n_cch--;
	fake_mu_unlock();
	return 0;
}

static struct ibv_cq *b_create_cq(struct ibv_context *dev, int cqe,
				  struct ibv_comp_channel *ch)
{
	struct ibv_cq *cq = NULL;
	int i;

	(void)dev;
	if (cqe <= 0 || !ch) {
		errno = EINVAL;
		return NULL;
	}
	fake_mu_lock();
	for (i = 0; i < FAKE_MAX_OBJS && !cq; i++)
		if (!F.cqs[i].live)
			cq = &F.cqs[i];
	if (!cq) {
		fake_violation("out of CQs");
		errno = ENOMEM;
		goto out;
	}
	memset(cq, 0, sizeof(*cq));
	cq->q = calloc((size_t)cqe, sizeof(*cq->q));
	if (!cq->q) {
		cq = NULL;
		goto out;
	}
	cq->cqe = cqe;
	cq->ch = ch;
	cq->live = true;
	F.n_cq++;
out:
	fake_mu_unlock();
	return cq;
}

static int b_destroy_cq(struct ibv_cq *cq)
{
	int i;

	if (!cq)
		return 0;
	fake_mu_lock();
	/* ibv_destroy_cq waits for every notification taken to be acked. */
	if (cq->unacked)
		fake_violation("destroy_cq with %u events unacked",
			       cq->unacked);
	for (i = 0; i < MAX_IDS; i++)
		if (F.ids[i].live && F.ids[i].has_qp && F.ids[i].qp.cq == cq)
			fake_violation("destroy_cq with a QP on it");
	cq->ch->events = 0;
	efd_level(cq->ch->fd, &cq->ch->signalled, false);
	free(cq->q);
	cq->q = NULL;
	cq->live = false;
	F.n_cq--;
	fake_mu_unlock();
	return 0;
}

static int b_req_notify_cq(struct ibv_cq *cq)
{
	fake_mu_lock();
	cq->armed = true;
	fake_mu_unlock();
	return 0;
}

static int b_get_cq_event(struct ibv_comp_channel *ch)
{
	int i, err = -EAGAIN;

	fake_mu_lock();
	if (ch->events) {
		ch->events--;
		for (i = 0; i < FAKE_MAX_OBJS; i++)
			if (F.cqs[i].live && F.cqs[i].ch == ch)
				F.cqs[i].unacked++;
		err = 0;
	}
	efd_level(ch->fd, &ch->signalled, ch->events > 0);
	fake_mu_unlock();
	return err;
}

static void b_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	fake_mu_lock();
	if (n > cq->unacked)
		fake_violation("ack of %u CQ events, %u taken", n, cq->unacked);
	else
		cq->unacked -= n;
	fake_mu_unlock();
}

static int b_poll_cq(struct ibv_cq *cq, int n, struct xp_verbs_wc *wc)
{
	int got = 0;

	fake_mu_lock();
	while (got < n && cq->n) {
		struct fake_cqe *e = &cq->q[cq->head];

		wc[got++] = e->wc;
		e->qp_id->qp.unpolled--;
		if (e->opcode == XP_VERBS_RDMA_READ)
			e->qp_id->qp.unpolled_reads--;
		cq->head = (cq->head + 1) % cq->cqe;
		cq->n--;
	}
	fake_mu_unlock();
	return got;
}

static int b_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		       struct ibv_cq *cq, struct xp_verbs_qp_cap *cap)
{
	int err = 0;

	fake_mu_lock();
	if (!pd || !pd->live || !cq || !cq->live || id->has_qp) {
		fake_violation("create_qp without a PD or CQ, or twice");
		err = -EINVAL;
	} else if (F.fail_qp) {
		err = F.fail_qp;
	} else {
		memset(&id->qp, 0, sizeof(id->qp));
		id->has_qp = true;
		id->qp.pd = pd;
		id->qp.cq = cq;
		cap->max_send_wr += F.qp_extra;
		id->qp.max_send_wr = cap->max_send_wr;
		F.qp_max_send_wr = cap->max_send_wr;
		F.n_qp++;
	}
	fake_mu_unlock();
	return err;
}

/* Completions of a destroyed QP leave its CQ with it. */
static void cq_forget(struct ibv_cq *cq, struct rdma_cm_id *id)
{
	int i, n = 0;

	for (i = 0; i < cq->n; i++) {
		struct fake_cqe e = cq->q[(cq->head + i) % cq->cqe];

		if (e.qp_id != id)
			cq->q[(cq->head + n++) % cq->cqe] = e;
	}
	cq->n = n;
}

static void b_destroy_qp(struct rdma_cm_id *id)
{
	int i;

	fake_mu_lock();
	if (!id->has_qp) {
		fake_violation("destroy_qp without a QP");
		goto out;
	}
	/*
	 * A bound type 2 window holds a reference on its QP: rxe (kernel
	 * 6.1) then blocks ibv_destroy_qp for 50 s and warns.
	 */
	for (i = 0; i < MAX_MWS; i++)
		if (F.mw_live[i] && F.mws[i].bound && F.mws[i].qp_id == id)
			fake_violation("destroy_qp with a window bound by it");
	held_drop(id, false);
	cq_forget(id->qp.cq, id);
	id->has_qp = false;
	F.n_qp--;
out:
	fake_mu_unlock();
}

const struct xp_verbs_ops fake_fabric_ops = {
	.device_count = fake_op_device_count,
	.device_exists = fake_op_device_exists,
	.create_event_channel = b_create_event_channel,
	.destroy_event_channel = b_destroy_event_channel,
	.event_channel_fd = fake_op_event_channel_fd,
	.get_cm_event = b_get_cm_event,
	.ack_cm_event = b_ack_cm_event,
	.create_id = b_create_id,
	.destroy_id = b_destroy_id,
	.set_id_context = fake_op_set_id_context,
	.id_context = fake_op_id_context,
	.id_device = fake_op_id_device,
	.id_netdev = fake_op_id_netdev,
	.bind_addr = b_bind_addr,
	.listen = b_listen,
	.resolve_addr = b_resolve_addr,
	.resolve_route = b_resolve_route,
	.connect = b_connect,
	.accept = b_accept,
	.reject = b_reject,
	.disconnect = b_disconnect,
	.query_caps = fake_op_query_caps,
	.alloc_pd = b_alloc_pd,
	.dealloc_pd = b_dealloc_pd,
	.reg_mr_iova = fake_op_reg_mr_iova,
	.dereg_mr = fake_op_dereg_mr,
	.mr_lkey = fake_op_mr_lkey,
	.mr_rkey = fake_op_mr_rkey,
	.alloc_mw = fake_op_alloc_mw,
	.dealloc_mw = fake_op_dealloc_mw,
	.mw_rkey = fake_op_mw_rkey,
	.create_comp_channel = b_create_comp_channel,
	.destroy_comp_channel = b_destroy_comp_channel,
	.comp_channel_fd = fake_op_comp_channel_fd,
	.create_cq = b_create_cq,
	.destroy_cq = b_destroy_cq,
	.req_notify_cq = b_req_notify_cq,
	.get_cq_event = b_get_cq_event,
	.ack_cq_events = b_ack_cq_events,
	.poll_cq = b_poll_cq,
	.create_qp = b_create_qp,
	.destroy_qp = b_destroy_qp,
	.post_send = b_post_send,
};

/* ---- test controls ----------------------------------------------------------- */

void fake_fabric_reset(void)
{
	int i;

	/* A test that failed midway may have left fds open. */
	for (i = 0; i < FAKE_MAX_OBJS; i++) {
		if (F.chs[i].live)
			close(F.chs[i].fd);
		if (F.cchs[i].live)
			close(F.cchs[i].fd);
		free(F.cqs[i].q);
	}
	memset(&F, 0, sizeof(F));
	F.fabric = true;
	F.ndevices = 1;
	F.ch.fd = F.cch.fd = -1;
	F.caps = (struct xp_verbs_caps){
		.max_qp_wr = 1024,
		.max_cqe = 4096,
		.max_qp_rd_atom = 16,
		.max_qp_init_rd_atom = 8,
		.max_mr_size = UINT64_MAX,
		.mw_type2 = true,
	};
}

bool fake_all_released(char *why, size_t len)
{
	bool ok;

	fake_mu_lock();
	ok = !F.n_ch && !F.n_id && !F.n_pd && !F.n_cch && !F.n_cq && !F.n_qp &&
	     !F.n_mr && !F.n_mw && !F.nheld && !F.violations;
	if (F.violations)
		snprintf(why, len, "%d violations, the first: %s", F.violations,
			 F.violation);
	else
		snprintf(why, len,
			 "live: %d channels, %d ids, %d PDs, %d completion "
			 "channels, %d CQs, %d QPs, %d MRs, %d MWs; %d held",
			 F.n_ch, F.n_id, F.n_pd, F.n_cch, F.n_cq, F.n_qp,
			 F.n_mr, F.n_mw, F.nheld);
	fake_mu_unlock();
	return ok;
}

void fake_hold(unsigned int mask)
{
	fake_mu_lock();
	F.hold_mask = mask;
	fake_mu_unlock();
}

int fake_held(void)
{
	int n;

	fake_mu_lock();
	n = F.nheld;
	fake_mu_unlock();
	return n;
}

int fake_run_held(void)
{
	int n = 0;

	fake_mu_lock();
	while (F.nheld) {
		struct fake_held h = F.held[0];

		memmove(F.held, F.held + 1, (size_t)--F.nheld * sizeof(h));
		exec(h.id, &h.wr);
		n++;
	}
	fake_mu_unlock();
	return n;
}

void fake_inject_post_error(unsigned int opmask, int err, int times)
{
	fake_mu_lock();
	F.post_err = (struct fake_inject){times ? err : 0, opmask, times};
	fake_mu_unlock();
}

void fake_inject_wc_error(unsigned int opmask, int status, int times)
{
	fake_mu_lock();
	F.wc_err = (struct fake_inject){times ? status : 0, opmask, times};
	fake_mu_unlock();
}

void fake_inject_bad_token(int times)
{
	fake_mu_lock();
	F.bad_token = times;
	fake_mu_unlock();
}

void fake_defer_est(bool on)
{
	int i;

	fake_mu_lock();
	F.defer_est = on;
	for (i = 0; i < MAX_IDS && !on; i++) {
		struct rdma_cm_id *id = &F.ids[i];

		if (!id->live || !id->est_deferred)
			continue;
		id->est_deferred = false;
		if (id->state == FAKE_CM_CONNECTED)
			ev_to(id, XP_CM_ESTABLISHED, 0);
	}
	fake_mu_unlock();
}

void fake_partition(bool on)
{
	fake_mu_lock();
	F.partition = on;
	fake_mu_unlock();
}
