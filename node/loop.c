/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage node's event loop: one epoll set, every registered fd
 * tagged with a struct sb_evtag (enum nd_ev_kind), the 200 ms tick (auth
 * timeouts, listener retry), signals, and the graceful stop.
 *
 *   epoll_wait ─ batch ─┬─ ND_EV_LISTEN      accept (conn.c)
 *                       ├─ ND_EV_CONN        frames (conn.c, dispatch.c)
 *                       ├─ ND_EV_IO          disk completions (nd_io_poll)
 *                       ├─ ND_EV_TIMER       tick
 *                       ├─ ND_EV_SIGNAL      SIGTERM/SIGINT: begin_stop
 *                       ├─ ND_EV_STOP        nd_server_stop: begin_stop
 *                       ├─ ND_EV_RDMA_LISTEN rdma_cm events (rdma_seg.c)
 *                       ├─ ND_EV_RDMA_CQ     RDMA completions (rdma_seg.c)
 *                       ├─ ND_EV_MEMBER      lease lost: fence
 *                       └─ ND_EV_PEER        sessions to other nodes (peer.c)
 *              after the batch: rx scan, RDMA reap, failed peer sessions,
 *              free dead connections and peer sessions
 *
 * Fence (docs/recovery.md): when the membership thread reports the lease
 * gone, every session is closed and new ones are refused until no request
 * and no disk I/O is left; then the thread registers a new incarnation.
 *
 * Graceful stop: close the listener, close connections not yet AUTHED,
 * stop reading requests, let every request in flight finish and its
 * answer go out (up to ND_STOP_GRACE_MS, then answer the CHUNK_PUSHes
 * still running, close the connections and wait only for the disk),
 * fdatasync every LUN.
 *
 * Threading: the thread that calls nd_server_run() runs everything here
 * (the node is single-threaded around this loop); nd_server_stop() may
 * be called from any thread and only writes an eventfd.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../lib/util/clock.h"
#include "../lib/util/log.h"
#include "server_internal.h"

#define MAX_EVENTS 64

static void stop_one(struct nd_conn *nc, void *arg)
{
	(void)arg;
	if (nc->state != ND_CONN_AUTHED)
		nd_conn_close(nc);
	else
		nd_conn_set_paused(nc, true);
}

static void begin_stop(struct nd_server *s, const char *why)
{
	if (s->stopping)
		return;
	sb_info("stopping (%s): finishing %lu requests", why, s->nreqs);
	s->stopping = true;
	s->stop_deadline_ms = sb_now_ms() + ND_STOP_GRACE_MS;
	if (s->lfd >= 0) {
		if (!s->listen_paused)
			(void)sb_evtag_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, 0,
					   NULL);
		close(s->lfd);
		s->lfd = -1;
	}
	nd_conns_each(s, stop_one, NULL);
}

/* Close a connection whose handshake outlived its auth clock. */
static void auth_timeout_one(struct nd_conn *nc, void *arg)
{
	const uint64_t *now = arg;

	if ((nc->state == ND_CONN_HELLO_WAIT ||
	     nc->state == ND_CONN_AUTH_WAIT) &&
	    *now >= nc->auth_deadline_ms)
		nd_conn_close(nc);
}

static bool drained(struct nd_server *s);

/*
 * The membership thread found a folder the cluster does not count: move
 * its LUNs aside (no session is open before registration), then let it
 * register. A failure is tried again at the next tick; until then the
 * node stays unregistered and serves nothing.
 */
static void retire_luns(struct nd_server *s)
{
	char tag[ND_GEN_HEX + 1], err[256];
	size_t n;

	if (!s->member ||
	    nd_member_state(s->member, NULL) != ND_MEMBER_RETIRING)
		return;
	nd_member_retire_tag(s->member, tag);
	n = nd_store_count(s->store);
	if (nd_store_retire_all(s->store, tag, err, sizeof(err))) {
		sb_err_rl("%s", err);
		return;
	}
	sb_warn("%zu LUN(s) of data generation %s moved to retired/%s/ in the "
		"data folder: never served again",
		n, tag, tag);
	nd_member_resume(s->member);
}

static void on_member(struct nd_server *s)
{
	uint64_t junk;

	if (read(s->memberfd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
		sb_warn("member eventfd: %s", strerror(errno));
	retire_luns(s);
	if (s->fenced || !s->member ||
	    nd_member_state(s->member, NULL) != ND_MEMBER_FENCED)
		return;
	sb_warn("fenced: closing %u sessions, waiting for %lu requests",
		s->nconns, s->nreqs);
	s->fenced = true;
	nd_conn_close_all(s);
}

static void tick(struct nd_server *s)
{
	uint64_t now = sb_now_ms();
	uint64_t junk;

	while (read(s->timerfd, &junk, sizeof(junk)) < 0 && errno == EINTR)
		;
	nd_conns_each(s, auth_timeout_one, &now);
	nd_peer_tick(s, now);
	nd_push_tick(s, now);
	retire_luns(s);
	if (s->fenced && drained(s)) {
		sb_info("fence drained: registering again");
		s->fenced = false;
		nd_member_resume(s->member);
	}
	if (s->listen_paused && s->lfd >= 0 &&
	    sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, EPOLLIN,
			 &s->t_listen) == 0)
		s->listen_paused = false;
}

static void on_signal(struct nd_server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		begin_stop(s, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_stop_request(struct nd_server *s)
{
	uint64_t junk;

	if (read(s->stopfd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
		sb_warn("stop eventfd: %s", strerror(errno));
	begin_stop(s, "requested");
}

static bool drained(struct nd_server *s)
{
	return s->nreqs == 0 && nd_io_inflight(s->io) == 0;
}

/* One ready fd of a batch. 0, or -errno: the loop must end now. */
static int handle_event(struct nd_server *s, const struct epoll_event *ev)
{
	struct sb_evtag *t = sb_evtag_of(ev);
	int ret;

	switch (t->kind) {
	case ND_EV_LISTEN:
		if (!s->stopping)
			nd_conn_accept_all(s);
		break;
	case ND_EV_IO:
		ret = nd_io_poll(s->io);
		if (ret < 0) {
			sb_err("io_uring: %s", strerror(-ret));
			return ret;
		}
		break;
	case ND_EV_SIGNAL:
		on_signal(s);
		break;
	case ND_EV_TIMER:
		tick(s);
		break;
	case ND_EV_STOP:
		on_stop_request(s);
		break;
	case ND_EV_CONN:
		nd_conn_event(container_of(t, struct nd_conn, tag), ev->events);
		break;
	case ND_EV_RDMA_LISTEN:
		nd_rdma_listener_event(s);
		break;
	case ND_EV_RDMA_CQ:
		nd_rdma_cq_event(container_of(t, struct nd_conn, rdma_tag));
		break;
	case ND_EV_MEMBER:
		on_member(s);
		break;
	case ND_EV_PEER:
		nd_peer_event(t, ev->events);
		break;
	}
	return 0;
}

/*
 * Serve until a stop has drained (or met its deadline with no disk I/O
 * left). 0, or -errno when the disk engine or epoll failed.
 */
static int run_loop(struct nd_server *s)
{
	struct epoll_event evs[MAX_EVENTS];
	int ret, i, n;

	while (!(s->stopping && drained(s))) {
		int timeout = s->rx_scan ? 0 : -1;

		if (s->stopping && sb_now_ms() >= s->stop_deadline_ms) {
			/* Their locks may hold back writes: those run first. */
			nd_push_stop_all(s);
			if (s->peer_reap)
				nd_peer_reap(s);
			if (!nd_io_inflight(s->io))
				return 0;
			/* Disk I/O must land before the buffers go. */
			nd_conn_close_all(s);
		}
		ret = nd_io_kick(s->io);
		if (ret) {
			sb_err("io_uring submit failed: %s", strerror(-ret));
			return ret;
		}
		n = epoll_wait(s->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			sb_err("epoll_wait: %s", strerror(errno));
			return ret;
		}
		for (i = 0; i < n; i++) {
			ret = handle_event(s, &evs[i]);
			if (ret)
				return ret;
		}
		if (s->rx_scan)
			nd_conn_rx_scan(s);
		if (s->rdma_reap)
			nd_rdma_reap(s, false);
		if (s->peer_reap)
			nd_peer_reap(s);
		nd_conn_free_dead(s);
		nd_peer_free_dead(s);
	}
	return 0;
}

int nd_server_run(struct nd_server *s)
{
	int ret = run_loop(s);
	int sret;

	nd_conn_close_all(s);
	if (nd_io_inflight(s->io))
		sb_warn("%u disk operations still in flight at exit",
			nd_io_inflight(s->io));
	sret = nd_store_sync_all(s->store);
	if (sret) {
		sb_err("syncing LUNs at stop: %s", strerror(-sret));
		if (!ret)
			ret = sret;
	}
	nd_member_stop(s->member); /* revokes the lease: gone at once */
	s->member = NULL;
	sb_info("stopped");
	return ret;
}

void nd_server_stop(struct nd_server *s)
{
	uint64_t one = 1;

	if (write(s->stopfd, &one, sizeof(one)) < 0)
		sb_warn("nd_server_stop: %s", strerror(errno));
}
