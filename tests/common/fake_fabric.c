/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HCA side of the fake device's fabric mode (fake_verbs.h): PDs,
 * completion channels, CQs and queue pairs, the execution of work
 * requests, the fabric's ops table and its test controls. Connections
 * are fake_cm.c's.
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
 * Every entry point holds fake_mu (one mutex for all of F). Completion
 * channel fds are eventfds kept readable exactly while a notification is
 * pending (level semantics, like the real ones under epoll).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_internal.h"

/* ---- fds readable while something is pending --------------------------- */

void fake_efd_level(int fd, bool *signalled, bool pending)
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

int fake_efd_new(void)
{
	return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
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
		fake_efd_level(cq->ch->fd, &cq->ch->signalled, true);
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
void fake_qp_error(struct rdma_cm_id *id)
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
		fake_qp_error(id);
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
	ch->fd = fake_efd_new();
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
	fake_efd_level(cq->ch->fd, &cq->ch->signalled, false);
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
	fake_efd_level(ch->fd, &ch->signalled, ch->events > 0);
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
	.create_event_channel = fake_cm_create_event_channel,
	.destroy_event_channel = fake_cm_destroy_event_channel,
	.event_channel_fd = fake_op_event_channel_fd,
	.get_cm_event = fake_cm_get_cm_event,
	.ack_cm_event = fake_cm_ack_cm_event,
	.create_id = fake_cm_create_id,
	.destroy_id = fake_cm_destroy_id,
	.set_id_context = fake_op_set_id_context,
	.id_context = fake_op_id_context,
	.id_device = fake_op_id_device,
	.id_netdev = fake_op_id_netdev,
	.bind_addr = fake_cm_bind_addr,
	.listen = fake_cm_listen,
	.resolve_addr = fake_cm_resolve_addr,
	.resolve_route = fake_cm_resolve_route,
	.connect = fake_cm_connect,
	.accept = fake_cm_accept,
	.reject = fake_cm_reject,
	.disconnect = fake_cm_disconnect,
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
	int n;

	fake_mu_lock();
	n = F.nheld;
	while (F.nheld) {
		struct fake_held h = F.held[0];

		/* A failure flushes the QP's others out of the list. */
		memmove(F.held, F.held + 1, (size_t)--F.nheld * sizeof(h));
		exec(h.id, &h.wr);
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
