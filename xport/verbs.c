/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real xp_verbs_ops: thin wrappers over libibverbs and librdmacm that
 * convert their conventions (verbs' positive errno returns, librdmacm's -1
 * with errno, NULL with errno) to 0 / negative errno, and their structures
 * to the small ones of xport/verbs.h. No policy lives here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "verbs.h"

/* errno of a call that failed, never 0 (some paths forget to set it). */
static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* librdmacm: 0 or -1 with errno. */
static int cm_ret(int ret)
{
	return ret ? neg_errno() : 0;
}

/* libibverbs: 0 or a positive errno (some providers return -1). */
static int ibv_ret(int ret)
{
	if (ret > 0)
		return -ret;
	if (ret < 0)
		return neg_errno();
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return neg_errno();
	return 0;
}

static struct rdma_event_channel *v_create_event_channel(void)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	int err;

	if (!ch)
		return NULL;
	err = set_nonblock(ch->fd);
	if (err) {
		rdma_destroy_event_channel(ch);
		errno = -err;
		return NULL;
	}
	return ch;
}

static void v_destroy_event_channel(struct rdma_event_channel *ch)
{
	if (ch)
		rdma_destroy_event_channel(ch);
}

static int v_event_channel_fd(struct rdma_event_channel *ch)
{
	return ch->fd;
}

static enum xp_verbs_cm_type cm_type(enum rdma_cm_event_type t)
{
	switch (t) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		return XP_CM_ADDR_RESOLVED;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		return XP_CM_ROUTE_RESOLVED;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		return XP_CM_CONNECT_REQUEST;
	case RDMA_CM_EVENT_ESTABLISHED:
		return XP_CM_ESTABLISHED;
	case RDMA_CM_EVENT_REJECTED:
		return XP_CM_REJECTED;
	case RDMA_CM_EVENT_DISCONNECTED:
		return XP_CM_DISCONNECTED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		return XP_CM_ERROR;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return XP_CM_DEVICE_REMOVAL;
	default:
		return XP_CM_OTHER;
	}
}

static int v_get_cm_event(struct rdma_event_channel *ch,
			  struct xp_verbs_cm_event *ev)
{
	struct rdma_cm_event *e;

	if (rdma_get_cm_event(ch, &e))
		return neg_errno();
	memset(ev, 0, sizeof(*ev));
	ev->type = cm_type(e->event);
	ev->id = e->id;
	ev->listen_id = e->listen_id;
	/* librdmacm gives negative errnos, or a positive reject reason. */
	ev->status = e->status > 0 ? -ECONNREFUSED : e->status;
	if (e->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		ev->priv = e->param.conn.private_data;
		ev->priv_len = e->param.conn.private_data_len;
		/*
		 * The CM reports a REQ's values from the receiver's side
		 * (what it may initiate = the peer's responder resources);
		 * ours are the peer's own, as it passed them to connect.
		 */
		ev->responder_resources = e->param.conn.initiator_depth;
		ev->initiator_depth = e->param.conn.responder_resources;
	}
	ev->raw = e;
	return 0;
}

static void v_ack_cm_event(struct xp_verbs_cm_event *ev)
{
	rdma_ack_cm_event(ev->raw);
}

static int v_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
		       void *context)
{
	return cm_ret(rdma_create_id(ch, id, context, RDMA_PS_TCP));
}

static int v_destroy_id(struct rdma_cm_id *id)
{
	return id ? cm_ret(rdma_destroy_id(id)) : 0;
}

static void v_set_id_context(struct rdma_cm_id *id, void *context)
{
	id->context = context;
}

static void *v_id_context(struct rdma_cm_id *id)
{
	return id->context;
}

static struct ibv_context *v_id_device(struct rdma_cm_id *id)
{
	return id->verbs;
}

static int v_id_netdev(struct rdma_cm_id *id)
{
	union ibv_gid want = id->route.addr.addr.ibaddr.sgid;
	static const union ibv_gid zero;
	const struct sockaddr *src = rdma_get_local_addr(id);
	struct ibv_gid_entry ent;
	struct ibv_port_attr pa;
	int err, i;

	if (!id->verbs || !id->port_num)
		return -ENOTCONN;
	if (!memcmp(&want, &zero, sizeof(want)) && src->sa_family == AF_INET) {
		/* RoCE's GID of an IPv4 address: ::ffff:a.b.c.d */
		memset(&want, 0, sizeof(want));
		want.raw[10] = want.raw[11] = 0xff;
		memcpy(&want.raw[12],
		       &((const struct sockaddr_in *)src)->sin_addr, 4);
	} else if (!memcmp(&want, &zero, sizeof(want)) &&
		   src->sa_family == AF_INET6) {
		memcpy(&want, &((const struct sockaddr_in6 *)src)->sin6_addr,
		       sizeof(want));
	}
	err = ibv_ret(ibv_query_port(id->verbs, id->port_num, &pa));
	if (err)
		return err;
	for (i = 0; i < pa.gid_tbl_len; i++) {
		/* Empty entries answer ENODATA: skip them. */
		if (ibv_query_gid_ex(id->verbs, id->port_num, (uint32_t)i, &ent,
				     0))
			continue;
		if (!memcmp(&ent.gid, &want, sizeof(want)) &&
		    ent.ndev_ifindex > 0 && ent.ndev_ifindex <= INT32_MAX)
			return (int)ent.ndev_ifindex;
	}
	return -ENODEV;
}

static int v_bind_addr(struct rdma_cm_id *id, const struct sockaddr *addr)
{
	return cm_ret(rdma_bind_addr(id, (struct sockaddr *)addr));
}

static int v_listen(struct rdma_cm_id *id, int backlog)
{
	return cm_ret(rdma_listen(id, backlog));
}

static int v_resolve_addr(struct rdma_cm_id *id, const struct sockaddr *dst,
			  int timeout_ms)
{
	return cm_ret(rdma_resolve_addr(id, NULL, (struct sockaddr *)dst,
					timeout_ms));
}

static int v_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	return cm_ret(rdma_resolve_route(id, timeout_ms));
}

static int v_connect(struct rdma_cm_id *id, const void *priv, uint8_t len,
		     uint8_t responder_resources, uint8_t initiator_depth)
{
	struct rdma_conn_param p = {
		.private_data = priv,
		.private_data_len = len,
		.responder_resources = responder_resources,
		.initiator_depth = initiator_depth,
		.retry_count = 7,
		.rnr_retry_count = 7,
	};

	return cm_ret(rdma_connect(id, &p));
}

static int v_accept(struct rdma_cm_id *id, uint8_t responder_resources,
		    uint8_t initiator_depth)
{
	struct rdma_conn_param p = {
		.responder_resources = responder_resources,
		.initiator_depth = initiator_depth,
		.retry_count = 7,
		.rnr_retry_count = 7,
	};

	return cm_ret(rdma_accept(id, &p));
}

static int v_reject(struct rdma_cm_id *id)
{
	return cm_ret(rdma_reject(id, NULL, 0));
}

static int v_disconnect(struct rdma_cm_id *id)
{
	return cm_ret(rdma_disconnect(id));
}

static int v_query_caps(struct ibv_context *dev, struct xp_verbs_caps *caps)
{
	struct ibv_device_attr_ex a;
	int err;

	memset(&a, 0, sizeof(a));
	err = ibv_ret(ibv_query_device_ex(dev, NULL, &a));
	if (err)
		return err;
	memset(caps, 0, sizeof(*caps));
	caps->max_qp_wr = a.orig_attr.max_qp_wr > 0 ? a.orig_attr.max_qp_wr : 0;
	caps->max_cqe = a.orig_attr.max_cqe > 0 ? a.orig_attr.max_cqe : 0;
	caps->max_qp_rd_atom =
		a.orig_attr.max_qp_rd_atom > 0 ? a.orig_attr.max_qp_rd_atom : 0;
	caps->max_qp_init_rd_atom = a.orig_attr.max_qp_init_rd_atom > 0
					    ? a.orig_attr.max_qp_init_rd_atom
					    : 0;
	caps->max_mr_size = a.orig_attr.max_mr_size;
	caps->mw_type2 = (a.orig_attr.device_cap_flags &
			  IBV_DEVICE_MEM_WINDOW_TYPE_2B) != 0;
	return 0;
}

static struct ibv_pd *v_alloc_pd(struct ibv_context *dev)
{
	return ibv_alloc_pd(dev);
}

static int v_dealloc_pd(struct ibv_pd *pd)
{
	return pd ? ibv_ret(ibv_dealloc_pd(pd)) : 0;
}

static struct ibv_mr *v_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t len,
				    uint64_t iova, unsigned int access)
{
	int acc = 0;

	if (access & XP_VERBS_ACC_LOCAL_WRITE)
		acc |= IBV_ACCESS_LOCAL_WRITE;
	if (access & XP_VERBS_ACC_REMOTE_READ)
		acc |= IBV_ACCESS_REMOTE_READ;
	if (access & XP_VERBS_ACC_REMOTE_WRITE)
		acc |= IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
	if (access & XP_VERBS_ACC_MW_BIND)
		acc |= IBV_ACCESS_MW_BIND;
	return ibv_reg_mr_iova(pd, addr, len, iova, acc);
}

static int v_dereg_mr(struct ibv_mr *mr)
{
	return mr ? ibv_ret(ibv_dereg_mr(mr)) : 0;
}

static uint32_t v_mr_lkey(const struct ibv_mr *mr)
{
	return mr->lkey;
}

static uint32_t v_mr_rkey(const struct ibv_mr *mr)
{
	return mr->rkey;
}

static struct ibv_mw *v_alloc_mw(struct ibv_pd *pd)
{
	return ibv_alloc_mw(pd, IBV_MW_TYPE_2);
}

static int v_dealloc_mw(struct ibv_mw *mw)
{
	return mw ? ibv_ret(ibv_dealloc_mw(mw)) : 0;
}

static uint32_t v_mw_rkey(const struct ibv_mw *mw)
{
	return mw->rkey;
}

static struct ibv_comp_channel *v_create_comp_channel(struct ibv_context *dev)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(dev);
	int err;

	if (!ch)
		return NULL;
	err = set_nonblock(ch->fd);
	if (err) {
		ibv_destroy_comp_channel(ch);
		errno = -err;
		return NULL;
	}
	return ch;
}

static int v_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	return ch ? ibv_ret(ibv_destroy_comp_channel(ch)) : 0;
}

static int v_comp_channel_fd(struct ibv_comp_channel *ch)
{
	return ch->fd;
}

static struct ibv_cq *v_create_cq(struct ibv_context *dev, int cqe,
				  struct ibv_comp_channel *ch)
{
	return ibv_create_cq(dev, cqe, NULL, ch, 0);
}

static int v_destroy_cq(struct ibv_cq *cq)
{
	return cq ? ibv_ret(ibv_destroy_cq(cq)) : 0;
}

static int v_req_notify_cq(struct ibv_cq *cq)
{
	return ibv_ret(ibv_req_notify_cq(cq, 0));
}

static int v_get_cq_event(struct ibv_comp_channel *ch)
{
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(ch, &cq, &ctx))
		return neg_errno();
	return 0;
}

static void v_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	ibv_ack_cq_events(cq, n);
}

static int wc_status(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_WR_FLUSH_ERR:
		return -ECANCELED;
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_REM_INV_REQ_ERR:
		return -EACCES;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

enum { POLL_BATCH = 16 };

static int v_poll_cq(struct ibv_cq *cq, int n, struct xp_verbs_wc *wc)
{
	struct ibv_wc w[POLL_BATCH];
	int got, i;

	if (n > POLL_BATCH)
		n = POLL_BATCH;
	got = ibv_poll_cq(cq, n, w);
	if (got < 0)
		return -EIO;
	for (i = 0; i < got; i++) {
		wc[i].wr_id = w[i].wr_id;
		wc[i].status = wc_status(w[i].status);
		wc[i].byte_len = w[i].byte_len;
	}
	return got;
}

static int v_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd,
		       struct ibv_cq *cq, struct xp_verbs_qp_cap *cap)
{
	struct ibv_qp_init_attr a;
	int err;

	memset(&a, 0, sizeof(a));
	a.send_cq = cq;
	a.recv_cq = cq;
	a.qp_type = IBV_QPT_RC;
	a.sq_sig_all = 1;
	a.cap.max_send_wr = cap->max_send_wr;
	a.cap.max_send_sge = cap->max_send_sge;
	/* Nothing is ever received; providers want a queue all the same. */
	a.cap.max_recv_wr = 1;
	a.cap.max_recv_sge = 1;
	err = cm_ret(rdma_create_qp(id, pd, &a));
	if (err)
		return err;
	/* rdma_create_qp writes back what the provider really granted. */
	cap->max_send_wr = a.cap.max_send_wr;
	cap->max_send_sge = a.cap.max_send_sge;
	return 0;
}

static void v_destroy_qp(struct rdma_cm_id *id)
{
	if (id->qp)
		rdma_destroy_qp(id);
}

static int v_post_send(struct rdma_cm_id *id, const struct xp_verbs_wr *wr)
{
	struct ibv_sge sge = {
		.addr = wr->local_addr,
		.length = wr->length,
		.lkey = wr->lkey,
	};
	struct ibv_send_wr w, *bad = NULL;
	int err;

	memset(&w, 0, sizeof(w));
	w.wr_id = wr->wr_id;
	w.send_flags = IBV_SEND_SIGNALED;
	switch (wr->opcode) {
	case XP_VERBS_RDMA_READ:
	case XP_VERBS_RDMA_WRITE:
		w.sg_list = &sge;
		w.num_sge = 1;
		w.opcode = wr->opcode == XP_VERBS_RDMA_READ ? IBV_WR_RDMA_READ
							    : IBV_WR_RDMA_WRITE;
		w.wr.rdma.remote_addr = wr->remote_addr;
		w.wr.rdma.rkey = wr->rkey;
		break;
	case XP_VERBS_BIND_MW:
		/* Type 2: no scatter/gather list; addr in the MR's IOVAs. */
		w.opcode = IBV_WR_BIND_MW;
		w.bind_mw.mw = wr->mw;
		w.bind_mw.rkey = wr->rkey;
		w.bind_mw.bind_info.mr = wr->mr;
		w.bind_mw.bind_info.addr = wr->local_addr;
		w.bind_mw.bind_info.length = wr->length;
		if (wr->mw_access & XP_VERBS_ACC_REMOTE_READ)
			w.bind_mw.bind_info.mw_access_flags |=
				IBV_ACCESS_REMOTE_READ;
		if (wr->mw_access & XP_VERBS_ACC_REMOTE_WRITE)
			w.bind_mw.bind_info.mw_access_flags |=
				IBV_ACCESS_REMOTE_WRITE;
		break;
	case XP_VERBS_LOCAL_INV:
		w.opcode = IBV_WR_LOCAL_INV;
		w.invalidate_rkey = wr->rkey;
		break;
	default:
		return -EINVAL;
	}
	err = ibv_ret(ibv_post_send(id->qp, &w, &bad));
	/*
	 * A type 2 bind posted by work request leaves ibv_mw.rkey alone,
	 * but the next bind must name the window by the key it has then
	 * (rxe checks it against the MW's key): the new one once this bind
	 * executes, and binds of one window are never posted concurrently.
	 */
	if (!err && wr->opcode == XP_VERBS_BIND_MW)
		wr->mw->rkey = wr->rkey;
	return err;
}

static const struct xp_verbs_ops real_ops = {
	.device_count = xp_verbs_device_count,
	.device_exists = xp_verbs_device_exists,
	.create_event_channel = v_create_event_channel,
	.destroy_event_channel = v_destroy_event_channel,
	.event_channel_fd = v_event_channel_fd,
	.get_cm_event = v_get_cm_event,
	.ack_cm_event = v_ack_cm_event,
	.create_id = v_create_id,
	.destroy_id = v_destroy_id,
	.set_id_context = v_set_id_context,
	.id_context = v_id_context,
	.id_device = v_id_device,
	.id_netdev = v_id_netdev,
	.bind_addr = v_bind_addr,
	.listen = v_listen,
	.resolve_addr = v_resolve_addr,
	.resolve_route = v_resolve_route,
	.connect = v_connect,
	.accept = v_accept,
	.reject = v_reject,
	.disconnect = v_disconnect,
	.query_caps = v_query_caps,
	.alloc_pd = v_alloc_pd,
	.dealloc_pd = v_dealloc_pd,
	.reg_mr_iova = v_reg_mr_iova,
	.dereg_mr = v_dereg_mr,
	.mr_lkey = v_mr_lkey,
	.mr_rkey = v_mr_rkey,
	.alloc_mw = v_alloc_mw,
	.dealloc_mw = v_dealloc_mw,
	.mw_rkey = v_mw_rkey,
	.create_comp_channel = v_create_comp_channel,
	.destroy_comp_channel = v_destroy_comp_channel,
	.comp_channel_fd = v_comp_channel_fd,
	.create_cq = v_create_cq,
	.destroy_cq = v_destroy_cq,
	.req_notify_cq = v_req_notify_cq,
	.get_cq_event = v_get_cq_event,
	.ack_cq_events = v_ack_cq_events,
	.poll_cq = v_poll_cq,
	.create_qp = v_create_qp,
	.destroy_qp = v_destroy_qp,
	.post_send = v_post_send,
};

const struct xp_verbs_ops *xp_verbs_real(void)
{
	return &real_ops;
}

bool xp_verbs_device_exists(const char *name)
{
	struct ibv_device **list;
	bool found = false;
	int n = 0, i;

	list = ibv_get_device_list(&n);
	if (!list)
		return false;
	for (i = 0; i < n && !found; i++)
		found = !strcmp(ibv_get_device_name(list[i]), name);
	ibv_free_device_list(list);
	return found;
}

int xp_verbs_device_count(void)
{
	struct ibv_device **list;
	int n = 0;

	list = ibv_get_device_list(&n);
	if (!list)
		return 0;
	ibv_free_device_list(list);
	return n;
}
