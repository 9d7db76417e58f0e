/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake RDMA device (fake_verbs.h): its objects and counts, the calls
 * both modes share (registrations, windows, ids' context and device), and
 * manual mode, where one test thread scripts cm events and completions
 * (fake_ops). Fabric mode is in fake_cm.c and fake_fabric.c.
 *
 * Manual mode runs on the test's thread alone and checks with cmocka
 * assertions; in fabric mode every call holds fake_mu (F.fabric says
 * which), and checks become violations (fake_violation).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_internal.h"

struct fake F;

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;

void fake_mu_lock(void)
{
	if (F.fabric)
		pthread_mutex_lock(&fake_mu);
}

void fake_mu_unlock(void)
{
	if (F.fabric)
		pthread_mutex_unlock(&fake_mu);
}

void fake_lock(void)
{
	fake_mu_lock();
}

void fake_unlock(void)
{
	fake_mu_unlock();
}

void fake_violation(const char *fmt, ...)
{
	char msg[sizeof(F.violation)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!F.fabric)
		fail_msg("fake verbs: %s", msg);
	if (!F.violations++)
		snprintf(F.violation, sizeof(F.violation), "%s", msg);
	fprintf(stderr, "fake verbs: violation: %s\n", msg);
}

/* ---- shared calls -------------------------------------------------------- */

int fake_op_device_count(void)
{
	return F.ndevices;
}

bool fake_op_device_exists(const char *name)
{
	return F.ndevices > 0 && !strcmp(name, FAKE_DEVICE);
}

int fake_op_event_channel_fd(struct rdma_event_channel *ch)
{
	return ch->fd;
}

struct rdma_cm_id *fake_id_alloc(void)
{
	int i;

	for (i = 0; i < MAX_IDS; i++) {
		if (!F.ids[i].live) {
			memset(&F.ids[i], 0, sizeof(F.ids[i]));
			F.ids[i].live = true;
			F.n_id++;
			return &F.ids[i];
		}
	}
	fake_violation("out of fake ids");
	return NULL;
}

void fake_op_set_id_context(struct rdma_cm_id *id, void *context)
{
	fake_mu_lock();
	id->context = context;
	fake_mu_unlock();
}

void *fake_op_id_context(struct rdma_cm_id *id)
{
	void *ctx;

	fake_mu_lock();
	ctx = id->context;
	fake_mu_unlock();
	return ctx;
}

struct ibv_context *fake_op_id_device(struct rdma_cm_id *id)
{
	bool bound;

	fake_mu_lock();
	bound = id->bound;
	fake_mu_unlock();
	return bound ? &F.dev : NULL;
}

int fake_op_id_netdev(struct rdma_cm_id *id)
{
	int ret;

	fake_mu_lock();
	ret = id->bound ? F.netdev : -ENOTCONN;
	fake_mu_unlock();
	return ret;
}

int fake_op_query_caps(struct ibv_context *dev, struct xp_verbs_caps *caps)
{
	fake_mu_lock();
	if (dev != &F.dev)
		fake_violation("query_caps of an unknown device");
	*caps = F.caps;
	fake_mu_unlock();
	return 0;
}

static struct ibv_mr *mr_new(struct ibv_pd *pd, void *addr, size_t len,
			     uint64_t iova, unsigned int access)
{
	int i;

	if (!pd)
		fake_violation("reg_mr without a PD");
	if (F.fail_reg) {
		errno = -F.fail_reg;
		return NULL;
	}
	for (i = 0; i < MAX_MRS; i++) {
		if (F.mr_live[i])
			continue;
		F.mr_live[i] = true;
		F.mrs[i] = (struct ibv_mr){addr,
					   len,
					   iova,
					   access,
					   0x100u + (uint32_t)F.regs,
					   0x200u + (uint32_t)F.regs,
					   pd};
		F.regs++;
		F.n_mr++;
		return &F.mrs[i];
	}
	fake_violation("out of fake MRs");
	errno = ENOMEM;
	return NULL;
}

struct ibv_mr *fake_op_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t len,
				   uint64_t iova, unsigned int access)
{
	struct ibv_mr *mr;

	fake_mu_lock();
	mr = mr_new(pd, addr, len, iova, access);
	fake_mu_unlock();
	return mr;
}

int fake_op_dereg_mr(struct ibv_mr *mr)
{
	int i;

	if (!mr)
		return 0;
	fake_mu_lock();
	if (!F.mr_live[mr - F.mrs])
		fake_violation("dereg_mr of a dead MR");
	for (i = 0; i < MAX_MWS; i++)
		if (F.mw_live[i] && F.mws[i].bound && F.mws[i].mr == mr)
			fake_violation("dereg_mr with a window bound to it");
	F.mr_live[mr - F.mrs] = false;
	F.n_mr--;
	fake_mu_unlock();
	return 0;
}

uint32_t fake_op_mr_lkey(const struct ibv_mr *mr)
{
	return mr->lkey;
}

uint32_t fake_op_mr_rkey(const struct ibv_mr *mr)
{
	return mr->rkey;
}

static struct ibv_mw *mw_new(struct ibv_pd *pd)
{
	int i;

	if (!pd)
		fake_violation("alloc_mw without a PD");
	if (F.fail_alloc_mw) {
		errno = -F.fail_alloc_mw;
		return NULL;
	}
	for (i = 0; i < MAX_MWS; i++) {
		if (F.mw_live[i])
			continue;
		F.mw_live[i] = true;
		memset(&F.mws[i], 0, sizeof(F.mws[i]));
		/* index in the high 24 bits, a key in the low 8, as rxe */
		F.mws[i].rkey = (uint32_t)(0x40 + i) << 8 | 0x7f;
		F.mws[i].pd = pd;
		F.n_mw++;
		return &F.mws[i];
	}
	fake_violation("out of fake MWs");
	errno = ENOMEM;
	return NULL;
}

struct ibv_mw *fake_op_alloc_mw(struct ibv_pd *pd)
{
	struct ibv_mw *mw;

	fake_mu_lock();
	mw = mw_new(pd);
	fake_mu_unlock();
	return mw;
}

int fake_op_dealloc_mw(struct ibv_mw *mw)
{
	if (!mw)
		return 0;
	fake_mu_lock();
	if (!F.mw_live[mw - F.mws])
		fake_violation("dealloc_mw of a dead window");
	if (mw->bound && F.fabric)
		F.bound_now--;
	F.mw_live[mw - F.mws] = false;
	F.n_mw--;
	fake_mu_unlock();
	return 0;
}

uint32_t fake_op_mw_rkey(const struct ibv_mw *mw)
{
	uint32_t k;

	fake_mu_lock();
	k = mw->rkey;
	fake_mu_unlock();
	return k;
}

int fake_op_comp_channel_fd(struct ibv_comp_channel *ch)
{
	return ch->fd;
}

int fake_check_bind(const struct xp_verbs_wr *wr)
{
	const struct ibv_mr *mr = wr->mr;
	struct ibv_mw *mw = wr->mw;

	if (!mw || !F.mw_live[mw - F.mws] || mw->bound || !mr) {
		fake_violation("bind of a dead or bound window, or no MR");
		return -EINVAL;
	}
	if (!(mr->access & XP_VERBS_ACC_MW_BIND) ||
	    !(mr->access & XP_VERBS_ACC_LOCAL_WRITE) ||
	    (mr->access &
	     (XP_VERBS_ACC_REMOTE_READ | XP_VERBS_ACC_REMOTE_WRITE)) ||
	    mr->pd != mw->pd) {
		fake_violation("bind onto an MR of the wrong access or PD");
		return -EINVAL;
	}
	if (!wr->length || wr->local_addr < mr->iova ||
	    wr->local_addr + wr->length > mr->iova + mr->len) {
		fake_violation("bind outside its MR");
		return -EINVAL;
	}
	if (wr->mw_access != XP_VERBS_ACC_REMOTE_READ &&
	    wr->mw_access != XP_VERBS_ACC_REMOTE_WRITE) {
		fake_violation("bind with access %#x", wr->mw_access);
		return -EINVAL;
	}
	/* Same index, a new key. */
	if (wr->rkey >> 8 != mw->rkey >> 8 || wr->rkey == mw->rkey) {
		fake_violation("bind key %#x after %#x", wr->rkey, mw->rkey);
		return -EINVAL;
	}
	mw->rkey = wr->rkey;
	F.binds++;
	return 0;
}

/* ---- manual mode ----------------------------------------------------------- */

static struct rdma_event_channel *m_create_event_channel(void)
{
	F.n_ch++;
	return &F.ch;
}

static void m_destroy_event_channel(struct rdma_event_channel *ch)
{
	if (ch)
		F.n_ch--;
}

static int m_get_cm_event(struct rdma_event_channel *ch,
			  struct xp_verbs_cm_event *ev)
{
	struct fake_ev *e;

	(void)ch;
	assert_null(F.unacked);
	if (F.ev_head == F.ev_tail)
		return -EAGAIN;
	e = &F.evq[F.ev_head++ % MAX_EVENTS];
	memset(ev, 0, sizeof(*ev));
	ev->type = e->type;
	ev->id = e->id;
	ev->listen_id = e->listen_id;
	ev->status = e->status;
	ev->priv = e->priv_len ? e->priv : NULL;
	ev->priv_len = e->priv_len;
	ev->responder_resources = e->resp;
	ev->initiator_depth = 0;
	ev->raw = e;
	F.unacked = e->id;
	return 0;
}

static void m_ack_cm_event(struct xp_verbs_cm_event *ev)
{
	assert_ptr_equal(F.unacked, ev->id);
	F.unacked = NULL;
}

struct rdma_cm_id *fake_new_id(void)
{
	struct rdma_cm_id *id = fake_id_alloc();

	assert_non_null(id);
	return id;
}

static int m_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
		       void *context)
{
	(void)ch;
	*id = fake_new_id();
	(*id)->context = context;
	return 0;
}

static int m_destroy_id(struct rdma_cm_id *id)
{
	if (!id)
		return 0;
	assert_true(id->live);
	/* librdmacm would hang: an id's events must be acked first. */
	assert_ptr_not_equal(F.unacked, id);
	assert_false(id->has_qp);
	id->live = false;
	F.n_id--;
	return 0;
}

static int m_bind_addr(struct rdma_cm_id *id, const struct sockaddr *addr)
{
	(void)addr;
	id->bound = true;
	return 0;
}

static int m_listen(struct rdma_cm_id *id, int backlog)
{
	(void)id;
	(void)backlog;
	return 0;
}

static int m_resolve_addr(struct rdma_cm_id *id, const struct sockaddr *dst,
			  int timeout_ms)
{
	(void)dst;
	assert_true(timeout_ms > 0);
	F.resolve_addr_calls++;
	if (F.fail_resolve_addr)
		return F.fail_resolve_addr;
	id->bound = true;
	return 0;
}

static int m_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	(void)id;
	assert_true(timeout_ms > 0);
	F.resolve_route_calls++;
	return 0;
}

static int m_connect(struct rdma_cm_id *id, const void *priv, uint8_t len,
		     uint8_t resp, uint8_t init)
{
	assert_true(id->has_qp);
	assert_true(len <= XP_VERBS_PRIV_MAX);
	memcpy(F.conn_priv, priv, len);
	F.conn_priv_len = len;
	F.conn_resp = resp;
	F.conn_init = init;
	F.connects++;
	return 0;
}

static int m_accept(struct rdma_cm_id *id, uint8_t resp, uint8_t init)
{
	assert_true(id->has_qp);
	assert_int_equal(resp, 0);
	if (F.fail_accept)
		return F.fail_accept;
	F.acc_init = init;
	F.accepts++;
	return 0;
}

static int m_reject(struct rdma_cm_id *id)
{
	(void)id;
	F.rejects++;
	return 0;
}

static int m_disconnect(struct rdma_cm_id *id)
{
	(void)id;
	F.disconnects++;
	return 0;
}

static struct ibv_pd *m_alloc_pd(struct ibv_context *dev)
{
	(void)dev;
	if (F.fail_pd) {
		errno = -F.fail_pd;
		return NULL;
	}
	F.n_pd++;
	return &F.pd;
}

static int m_dealloc_pd(struct ibv_pd *pd)
{
	if (pd)
		F.n_pd--;
	return 0;
}

static struct ibv_comp_channel *m_create_comp_channel(struct ibv_context *d)
{
	(void)d;
	F.n_cch++;
	return &F.cch;
}

static int m_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	if (ch)
		F.n_cch--;
	return 0;
}

static struct ibv_cq *m_create_cq(struct ibv_context *dev, int cqe,
				  struct ibv_comp_channel *ch)
{
	(void)dev;
	(void)ch;
	assert_true(cqe > 0);
	F.n_cq++;
	return &F.cq;
}

static int m_destroy_cq(struct ibv_cq *cq)
{
	if (cq)
		F.n_cq--;
	return 0;
}

static int m_req_notify_cq(struct ibv_cq *cq)
{
	(void)cq;
	return 0;
}

static int m_get_cq_event(struct ibv_comp_channel *ch)
{
	(void)ch;
	return -EAGAIN;
}

static void m_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	(void)cq;
	(void)n;
}

static int m_poll_cq(struct ibv_cq *cq, int n, struct xp_verbs_wc *wc)
{
	int got = 0;

	(void)cq;
	while (got < n && F.ncqe) {
		wc[got++] = F.cqe[0];
		memmove(F.cqe, F.cqe + 1, --F.ncqe * sizeof(F.cqe[0]));
	}
	return got;
}

static int m_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		       struct ibv_cq *cq, struct xp_verbs_qp_cap *cap)
{
	assert_non_null(pd);
	assert_non_null(cq);
	if (F.fail_qp)
		return F.fail_qp;
	id->has_qp = true;
	cap->max_send_wr += F.qp_extra;
	F.qp_max_send_wr = cap->max_send_wr;
	F.n_qp++;
	return 0;
}

static void m_destroy_qp(struct rdma_cm_id *id)
{
	int i;

	assert_true(id->has_qp);
	/*
	 * A bound type 2 window holds a reference on its QP: rxe (kernel
	 * 6.1) then blocks ibv_destroy_qp for 50 s and warns. Windows are
	 * deallocated before their QP is destroyed.
	 */
	for (i = 0; i < MAX_MWS; i++)
		assert_false(F.mw_live[i] && F.mws[i].bound);
	id->has_qp = false;
	F.n_qp--;
	/* Nothing completes on a destroyed QP. */
	F.nwr = 0;
	F.reads = 0;
	F.ncqe = 0;
}

static int m_post_send(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	assert_true(id->has_qp);
	if (F.fail_post && F.post_ok_before_fail-- <= 0)
		return F.fail_post;
	assert_true(F.nwr < MAX_WRS);
	if (wr->opcode == XP_VERBS_BIND_MW)
		assert_int_equal(fake_check_bind(wr), 0);
	else if (wr->opcode == XP_VERBS_LOCAL_INV)
		F.invs++;
	F.wr[F.nwr++] = *wr;
	F.post_order[F.posts++] = wr->wr_id;
	if (wr->opcode == XP_VERBS_RDMA_READ)
		F.reads++;
	if (F.nwr > F.max_out)
		F.max_out = F.nwr;
	if (F.reads > F.max_reads_out)
		F.max_reads_out = F.reads;
	return 0;
}

const struct xp_verbs_ops fake_ops = {
	.device_count = fake_op_device_count,
	.device_exists = fake_op_device_exists,
	.create_event_channel = m_create_event_channel,
	.destroy_event_channel = m_destroy_event_channel,
	.event_channel_fd = fake_op_event_channel_fd,
	.get_cm_event = m_get_cm_event,
	.ack_cm_event = m_ack_cm_event,
	.create_id = m_create_id,
	.destroy_id = m_destroy_id,
	.set_id_context = fake_op_set_id_context,
	.id_context = fake_op_id_context,
	.id_device = fake_op_id_device,
	.id_netdev = fake_op_id_netdev,
	.bind_addr = m_bind_addr,
	.listen = m_listen,
	.resolve_addr = m_resolve_addr,
	.resolve_route = m_resolve_route,
	.connect = m_connect,
	.accept = m_accept,
	.reject = m_reject,
	.disconnect = m_disconnect,
	.query_caps = fake_op_query_caps,
	.alloc_pd = m_alloc_pd,
	.dealloc_pd = m_dealloc_pd,
	.reg_mr_iova = fake_op_reg_mr_iova,
	.dereg_mr = fake_op_dereg_mr,
	.mr_lkey = fake_op_mr_lkey,
	.mr_rkey = fake_op_mr_rkey,
	.alloc_mw = fake_op_alloc_mw,
	.dealloc_mw = fake_op_dealloc_mw,
	.mw_rkey = fake_op_mw_rkey,
	.create_comp_channel = m_create_comp_channel,
	.destroy_comp_channel = m_destroy_comp_channel,
	.comp_channel_fd = fake_op_comp_channel_fd,
	.create_cq = m_create_cq,
	.destroy_cq = m_destroy_cq,
	.req_notify_cq = m_req_notify_cq,
	.get_cq_event = m_get_cq_event,
	.ack_cq_events = m_ack_cq_events,
	.poll_cq = m_poll_cq,
	.create_qp = m_create_qp,
	.destroy_qp = m_destroy_qp,
	.post_send = m_post_send,
};

struct ibv_mw *fake_mw_by_key(uint32_t rkey)
{
	int i;

	for (i = 0; i < MAX_MWS; i++)
		if (F.mw_live[i] && F.mws[i].bound && F.mws[i].hw_rkey == rkey)
			return &F.mws[i];
	return NULL;
}

void fake_hca_complete(int status)
{
	struct xp_verbs_wr w;

	assert_true(F.nwr > 0);
	w = F.wr[0];
	memmove(F.wr, F.wr + 1, --F.nwr * sizeof(F.wr[0]));
	if (w.opcode == XP_VERBS_RDMA_READ)
		F.reads--;
	if (!status && w.opcode == XP_VERBS_BIND_MW) {
		w.mw->bound = true;
		w.mw->hw_rkey = w.rkey;
		w.mw->addr = w.local_addr;
		w.mw->len = w.length;
		w.mw->access = w.mw_access;
		w.mw->mr = w.mr;
	}
	if (!status && w.opcode == XP_VERBS_LOCAL_INV) {
		struct ibv_mw *mw = fake_mw_by_key(w.rkey);

		assert_non_null(mw);
		mw->bound = false;
	}
	F.cqe[F.ncqe++] = (struct xp_verbs_wc){
		.wr_id = w.wr_id,
		.status = status,
		.byte_len = status ? 0 : w.length,
	};
}

void fake_hca_flush_all(void)
{
	while (F.nwr)
		fake_hca_complete(-ECANCELED);
}

void fake_push_ev(enum xp_verbs_cm_type type, struct rdma_cm_id *id, int status)
{
	struct fake_ev *e = &F.evq[F.ev_tail++ % MAX_EVENTS];

	memset(e, 0, sizeof(*e));
	e->type = type;
	e->id = id;
	e->status = status;
}

void fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.ch.fd = 42;
	F.cch.fd = 43;
	F.ndevices = 1;
	F.caps = (struct xp_verbs_caps){
		.max_qp_wr = 1024,
		.max_cqe = 4096,
		.max_qp_rd_atom = 16,
		.max_qp_init_rd_atom = 8,
		.max_mr_size = UINT64_MAX,
		.mw_type2 = false,
	};
}
