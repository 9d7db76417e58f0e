/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections of the storage node: accept, register in epoll, references,
 * pause and resume reading (back-pressure), close, and freeing once the
 * last reference is gone. The session state itself (HELLO_WAIT ...
 * CLOSED) is described next to enum nd_conn_state.
 *
 *   accept ─> srv->conns ─ nd_conn_close ─> CLOSED, still on srv->conns
 *                                           while requests hold it
 *                          last nd_conn_put ─> srv->dead ─> freed after
 *                                              the epoll batch
 *
 * A connection holds one reference while open, one per request in
 * flight, and one while it keeps an RDMA connection. It is not freed the
 * moment the last goes: events of the current epoll batch may still
 * point at it, so nd_conn_free_dead() runs after the batch.
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h); nothing is locked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/util/clock.h"
#include "../lib/util/log.h"
#include "../xport/tcp.h"
#include "server_internal.h"

void nd_conn_update_events(struct nd_conn *nc)
{
	uint32_t want = 0;
	int ret;

	if (nc->state == ND_CONN_CLOSED)
		return;
	if (!nc->paused)
		want |= EPOLLIN;
	if (xp_conn_want_write(nc->xc))
		want |= EPOLLOUT;
	if (want == nc->events)
		return;
	ret = sb_evtag_ctl(nc->srv->epfd, EPOLL_CTL_MOD, xp_conn_fd(nc->xc),
			   want, &nc->tag);
	if (ret) {
		sb_err_rl("epoll_ctl: %s", strerror(-ret));
		return;
	}
	nc->events = want;
}

void nd_conn_set_paused(struct nd_conn *nc, bool paused)
{
	if (nc->state == ND_CONN_CLOSED || nc->paused == paused)
		return;
	nc->paused = paused;
	xp_conn_pause_rx(nc->xc, paused);
	if (!paused) {
		/* Frames may already sit in the buffer: look again soon. */
		nc->rx_check = true;
		nc->srv->rx_scan = true;
	}
	nd_conn_update_events(nc);
}

void nd_conn_put(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;

	if (--nc->refs)
		return;
	/*
	 * Not freed yet: events of the current epoll batch may still point
	 * at it. nd_conn_free_dead() runs after the batch.
	 */
	sb_list_del(&nc->link);
	sb_list_add_head(&s->dead, &nc->link);
}

void nd_conn_free_dead(struct nd_server *s)
{
	while (!sb_list_empty(&s->dead)) {
		struct nd_conn *nc =
			container_of(s->dead.next, struct nd_conn, link);

		sb_list_del(&nc->link);
		free(nc);
	}
}

void nd_conn_close(struct nd_conn *nc)
{
	struct nd_server *s = nc->srv;
	struct xp_conn *xc = nc->xc;

	if (nc->state == ND_CONN_CLOSED)
		return;
	nc->state = ND_CONN_CLOSED;
	nc->xc = NULL;
	(void)sb_evtag_ctl(s->epfd, EPOLL_CTL_DEL, xp_conn_fd(xc), 0, NULL);
	s->nconns--;
	/* Its unspent token dies with it; its RDMA connection follows. */
	if (s->rl)
		xp_rdma_token_revoke(s->rl, nc);
	if (nc->rdma_state != ND_RDMA_NONE)
		s->rdma_reap = true;
	/* Keep nc alive while the queued answers' callbacks drop refs. */
	nd_conn_get(nc);
	xp_conn_free(xc);
	nd_conn_put(nc);
	nd_conn_put(nc);
}

int nd_conn_send(struct nd_conn *nc, const struct xp_hdr *h,
		 const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		 void *sent_arg)
{
	int ret = xp_conn_send(nc->xc, h, iov, iovcnt, sent, sent_arg);

	if (!ret)
		nc->srv->ctr.bytes_tcp_control += XP_HDR_LEN;
	return ret;
}

/*
 * Set up a connection on accepted socket @fd (taken) and publish it on
 * srv->conns; on failure the socket is closed and nothing is left.
 */
static void conn_open(struct nd_server *s, int fd)
{
	struct nd_conn *nc;

	nc = calloc(1, sizeof(*nc));
	if (!nc) {
		close(fd);
		return;
	}
	sb_evtag_init(&nc->tag, ND_EV_CONN);
	sb_evtag_init(&nc->rdma_tag, ND_EV_RDMA_CQ);
	sb_list_init(&nc->link);
	nc->srv = s;
	nc->refs = 1;
	nc->state = ND_CONN_HELLO_WAIT;
	nc->rdma_state = ND_RDMA_NONE;
	nc->auth_deadline_ms = sb_now_ms() + XP_AUTH_TIMEOUT_MS;
	nc->xc = xp_conn_new(fd, nd_on_frame, nc);
	if (!nc->xc) {
		close(fd);
		goto out_free_nc;
	}
	nc->events = EPOLLIN;
	if (sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, fd, EPOLLIN, &nc->tag)) {
		xp_conn_free(nc->xc); /* closes fd */
		goto out_free_nc;
	}
	sb_list_add_head(&s->conns, &nc->link);
	s->nconns++;
	return;

out_free_nc:
	free(nc);
}

void nd_conn_accept_all(struct nd_server *s)
{
	for (;;) {
		int fd = xp_tcp_accept(s->lfd);

		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			return;
		if (fd < 0) {
			/* Out of fds: stop accepting until the next tick. */
			sb_err_rl("accept: %s", strerror(-fd));
			if (sb_evtag_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, 0,
					 NULL) == 0)
				s->listen_paused = true;
			return;
		}
		/* no sessions until the fence drains; with a cluster store,
		 * none before the node is registered (a session belongs to
		 * one incarnation) */
		if (s->fenced ||
		    (s->member &&
		     nd_member_state(s->member, NULL) != ND_MEMBER_UP)) {
			close(fd);
			continue;
		}
		if (s->nconns >= ND_MAX_CONNS) {
			sb_err_rl("refusing a connection: %u open", s->nconns);
			close(fd);
			continue;
		}
		conn_open(s, fd);
	}
}

void nd_conn_event(struct nd_conn *nc, uint32_t events)
{
	int ret;

	if (nc->state == ND_CONN_CLOSED)
		return;
	/* A paused connection that hung up will never be read again. */
	if (nc->paused && (events & (EPOLLHUP | EPOLLERR))) {
		nd_conn_close(nc);
		return;
	}
	ret = xp_conn_service(nc->xc, events);
	if (ret) {
		nd_conn_close(nc);
		return;
	}
	if (xp_conn_rx_pending(nc->xc)) {
		nc->rx_check = true;
		nc->srv->rx_scan = true;
	}
	nd_conn_update_events(nc);
}

void nd_conns_each(struct nd_server *s,
		   void (*fn)(struct nd_conn *nc, void *arg), void *arg)
{
	struct sb_list *pos, *next;

	for (pos = s->conns.next; pos != &s->conns; pos = next) {
		struct nd_conn *nc = container_of(pos, struct nd_conn, link);

		nd_conn_get(nc);
		fn(nc, arg);
		next = pos->next;
		nd_conn_put(nc);
	}
}

static void rx_check_one(struct nd_conn *nc, void *arg)
{
	(void)arg;
	if (nc->rx_check && nc->state != ND_CONN_CLOSED) {
		nc->rx_check = false;
		if (xp_conn_rx_pending(nc->xc))
			nd_conn_event(nc, EPOLLIN);
	}
}

void nd_conn_rx_scan(struct nd_server *s)
{
	s->rx_scan = false;
	nd_conns_each(s, rx_check_one, NULL);
}

static void close_one(struct nd_conn *nc, void *arg)
{
	(void)arg;
	nd_conn_close(nc);
}

void nd_conn_close_all(struct nd_server *s)
{
	nd_conns_each(s, close_one, NULL);
}
