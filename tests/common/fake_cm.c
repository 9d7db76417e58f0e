/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rdma_cm side of the fake device's fabric mode (fake_verbs.h): event
 * channels, ids, and how connections are made and lost between two ends
 * in this process.
 *
 *   gateway id                       listener id (node)
 *   resolve_addr -> ADDR_RESOLVED
 *   resolve_route -> ROUTE_RESOLVED
 *   connect(priv) ---------------->  CONNECT_REQUEST (new passive id)
 *   ESTABLISHED   <----------------  accept -> ESTABLISHED (its own)
 *                                    or reject -> REJECTED at the gateway
 *   disconnect / destroy_id: both QPs into error (held requests flush),
 *   DISCONNECTED at the other end (and at a connected caller); with the
 *   fabric partitioned, the other end hears nothing
 *
 * Every entry point holds fake_mu (one mutex for all of F). Event channel
 * fds are eventfds kept readable exactly while an event is pending.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake_internal.h"

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
	fake_efd_level(ch->fd, &ch->signalled, true);
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
	fake_efd_level(ch->fd, &ch->signalled, n > 0);
}

static bool ev_of_id(const struct fake_ev *e, const void *id)
{
	return e->id == id;
}

struct rdma_event_channel *fake_cm_create_event_channel(void)
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
	ch->fd = fake_efd_new();
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

void fake_cm_destroy_event_channel(struct rdma_event_channel *ch)
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

int fake_cm_get_cm_event(struct rdma_event_channel *ch,
			 struct xp_verbs_cm_event *ev)
{
	struct fake_ev *e = &ch->cur;

	fake_mu_lock();
	if (!ch->n) {
		fake_efd_level(ch->fd, &ch->signalled, false);
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
	fake_efd_level(ch->fd, &ch->signalled, ch->n > 0);
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

void fake_cm_ack_cm_event(struct xp_verbs_cm_event *ev)
{
	struct rdma_event_channel *ch = ev->raw;

	fake_mu_lock();
	if (!ch->has_cur || ch->cur.id != ev->id)
		fake_violation("ack of an event not handed out");
	ch->has_cur = false;
	fake_mu_unlock();
}

/* ---- ids and connections ------------------------------------------------- */

int fake_cm_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id,
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
	fake_qp_error(p);
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

int fake_cm_destroy_id(struct rdma_cm_id *id)
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

int fake_cm_bind_addr(struct rdma_cm_id *id, const struct sockaddr *addr)
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

int fake_cm_listen(struct rdma_cm_id *id, int backlog)
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

int fake_cm_resolve_addr(struct rdma_cm_id *id, const struct sockaddr *dst,
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

int fake_cm_resolve_route(struct rdma_cm_id *id, int timeout_ms)
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

int fake_cm_connect(struct rdma_cm_id *id, const void *priv, uint8_t len,
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

int fake_cm_accept(struct rdma_cm_id *id, uint8_t resp, uint8_t init)
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

int fake_cm_reject(struct rdma_cm_id *id)
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

int fake_cm_disconnect(struct rdma_cm_id *id)
{
	bool linked;

	fake_mu_lock();
	F.disconnects++;
	linked = id->peer || id->state == FAKE_CM_CONNECTED;
	fake_qp_error(id);
	if (id->state == FAKE_CM_CONNECTED)
		ev_to(id, XP_CM_DISCONNECTED, 0);
	cut(id);
	if (id->state != FAKE_CM_IDLE)
		id->state = FAKE_CM_CLOSED;
	fake_mu_unlock();
	return linked ? 0 : -EINVAL;
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
