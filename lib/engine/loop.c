/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's event-loop thread and its timers. One epoll set holds the
 * eventfd (submissions, stop), each node's socket, each node's RDMA cm
 * and completion fds and the link watcher's socket, each registered with
 * a typed tag (lib/util/evtag.h) that says whose it is.
 *
 * Each turn: run the timers, send what each node's queue allows, sleep
 * in epoll_wait until the next deadline, service what is ready.
 *
 * Timers: a request in flight expires io_timeout_ms after it was sent
 * (-ETIMEDOUT); a request waiting for a node that is not up expires
 * io_timeout_ms after it started waiting (-EHOSTUNREACH); a request
 * waiting only for a queue slot on an up node never expires. A timed-out
 * read fails over to the next replica; a timed-out request whose payload
 * the socket has not even taken resets the connection. A node that is
 * down is connected again at its retry time; a handshake that takes
 * longer than ENG_HANDSHAKE_MS fails the connection.
 *
 * Everything here runs on the loop thread; drain_submissions takes
 * e->lock only to take the submission queue and the stop flag.
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../../xport/conn.h"

/*
 * Expire @n's requests in flight whose deadline is past @now (they are in
 * deadline order); lower *@next to the first deadline left. A request
 * whose payload the socket (or the node, by RDMA) may still touch resets
 * the connection.
 */
static void expire_inflight(struct eng_node *n, uint64_t now, uint64_t *next)
{
	struct sb_engine *e = n->e;

	while (!sb_list_empty(&n->q.inflight)) {
		struct eng_req *r =
			container_of(n->q.inflight.next, struct eng_req, link);
		bool stuck;

		if (r->deadline > now) {
			if (r->deadline < *next)
				*next = r->deadline;
			return;
		}
		eng_stat_inc(&e->stats.timeouts);
		sb_err_rl("node %u: %s at %llu timed out after %u ms",
			  n->addr->id, xp_opcode_name(r->opcode),
			  (unsigned long long)r->offset, e->cl.io_timeout_ms);
		/* it may still apply it: out with it (a no-op without store;
		 * control requests such as a CHUNK_PUSH wait on others) */
		if (r->piece->op->kind == OP_IO)
			eng_store_evict(n, "a request timed out");
		eng_inflight_del(r);
		stuck = r->in_conn > 0;
		if (r->rbuf) {
			/*
			 * The node may still move data in or out of its
			 * buffer: eng_node_fail below frees the QP before the
			 * buffer can be handed out again.
			 */
			eng_rdma_reclaim(n, r);
			stuck = true;
		}
		eng_req_done(r, -ETIMEDOUT);
		if (stuck) {
			/* the socket did not even take the payload */
			eng_node_fail(n, -ETIMEDOUT);
			return;
		}
	}
}

/*
 * @n is not up: expire the requests waiting for it whose deadline is past
 * @now (-EHOSTUNREACH); lower *@next to the first deadline left.
 */
static void expire_waiting(struct eng_node *n, uint64_t now, uint64_t *next)
{
	struct sb_list *it, *nx;

	sb_list_for_each_safe(it, nx, &n->q.waitq) {
		struct eng_req *r = container_of(it, struct eng_req, link);

		if (!r->deadline)
			continue;
		if (r->deadline > now) {
			if (r->deadline < *next)
				*next = r->deadline;
			continue;
		}
		eng_stat_inc(&n->e->stats.timeouts);
		sb_list_del(&r->link);
		eng_req_done(r, -EHOSTUNREACH);
	}
}

/*
 * @n's session timers: connect when down and its retry time has come,
 * fail a handshake past its deadline; lower *@next to what is due next.
 */
static void session_timers(struct eng_node *n, uint64_t now, uint64_t *next)
{
	if (n->sess.state == NODE_DOWN) {
		if (n->sess.retry_at <= now)
			eng_node_connect(n);
		else if (n->sess.retry_at < *next)
			*next = n->sess.retry_at;
	}
	if (n->sess.state != NODE_DOWN && n->sess.state != NODE_UP) {
		if (n->sess.hs_deadline <= now)
			eng_node_fail(n, -ETIMEDOUT);
		else if (n->sess.hs_deadline < *next)
			*next = n->sess.hs_deadline;
	}
	if (n->sess.state == NODE_DOWN && n->sess.retry_at < *next)
		*next = n->sess.retry_at;
}

/* Expire requests and handshakes; connect due nodes. Returns ms to sleep. */
static int run_timers(struct sb_engine *e)
{
	uint64_t now = sb_now_ms();
	uint64_t next = now + ENG_MAX_WAIT_MS;
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		expire_inflight(n, now, &next);
		if (n->sess.state != NODE_UP)
			expire_waiting(n, now, &next);
		session_timers(n, now, &next);
		eng_rdma_timers(n, now, &next);
	}
	eng_store_timers(e, now, &next);
	now = sb_now_ms();
	return next > now ? (int)(next - now) : 0;
}

static void drain_submissions(struct sb_engine *e)
{
	struct sb_list batch;
	uint64_t v;

	if (read(e->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		sb_err_rl("eventfd read: %s", strerror(errno));
	sb_list_init(&batch);
	pthread_mutex_lock(&e->lock);
	sb_list_splice_tail(&e->subq, &batch);
	e->kick_pending = false;
	if (e->stopping)
		e->stop_seen = true;
	pthread_mutex_unlock(&e->lock);
	while (!sb_list_empty(&batch)) {
		struct eng_op *op =
			container_of(batch.next, struct eng_op, link);

		sb_list_del(&op->link);
		eng_op_start(op);
	}
}

/* Complete everything with -ESHUTDOWN and close the connections. */
static void engine_shutdown(struct sb_engine *e)
{
	unsigned int i;

	e->stop_seen = true;
	eng_store_shutdown(e);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		/* freed below, before anything could reuse a buffer */
		if (n->rd.conn)
			eng_rdma_release_inflight(n);
		while (!sb_list_empty(&n->q.inflight)) {
			struct eng_req *r = container_of(n->q.inflight.next,
							 struct eng_req, link);

			eng_inflight_del(r);
			eng_req_done(r, -ESHUTDOWN);
		}
		while (!sb_list_empty(&n->q.waitq)) {
			struct eng_req *r = container_of(n->q.waitq.next,
							 struct eng_req, link);

			sb_list_del(&r->link);
			eng_req_done(r, -ESHUTDOWN);
		}
	}
	for (i = 0; i < e->cl.nr_nodes; i++)
		eng_node_close(&e->nodes[i]);
	/* submitted after the last drain */
	drain_submissions(e);
}

/* Service one ready fd of the epoll set: its tag says whose it is. */
static void loop_event(struct sb_engine *e, const struct epoll_event *ev)
{
	struct sb_evtag *tag = sb_evtag_of(ev);

	switch ((enum eng_ev_kind)tag->kind) {
	case ENG_EV_KICK:
		drain_submissions(e);
		return;
	case ENG_EV_LINKS:
		if (e->links)
			eng_links_event(e);
		return;
	case ENG_EV_RDMA_CM:
		eng_rdma_event(container_of(tag, struct eng_node, rd.cm_tag));
		return;
	case ENG_EV_RDMA_CQ:
		eng_rdma_event(container_of(tag, struct eng_node, rd.cq_tag));
		return;
	case ENG_EV_NODE:
		eng_node_event(container_of(tag, struct eng_node, sess.tag),
			       ev->events);
		return;
	case ENG_EV_STORE:
		if (e->store)
			eng_store_event(e);
		return;
	}
	sb_err_rl("epoll: unknown tag %u", tag->kind);
}

/*
 * Before sleeping: timers, then each node sends what it may and its
 * socket's epoll events follow what it needs. Returns the epoll timeout
 * (0 when a conn holds frames it has not delivered yet).
 */
static int loop_prepare(struct sb_engine *e)
{
	int timeout = run_timers(e);
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		eng_node_pump(n);
		eng_node_update_events(n);
		if (n->sess.conn && xp_conn_rx_pending(n->sess.conn))
			timeout = 0;
	}
	return timeout;
}

/* After servicing the ready fds: what no fd event would bring. */
static void loop_leftovers(struct sb_engine *e)
{
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		/* frames left buffered by the per-call budget */
		if (n->sess.conn && xp_conn_rx_pending(n->sess.conn))
			eng_node_event(n, EPOLLIN);
		/*
		 * Binds that ended outside eng_rdma_event and eng_node_pump
		 * (a link going down takes the RDMA connection down from
		 * eng_links_event): send those requests now, inline if need
		 * be. Nothing else would wake them when every command of the
		 * initiator waits on them.
		 */
		if (n->rd.granted)
			eng_node_pump(n);
	}
}

void *eng_loop(void *arg)
{
	struct sb_engine *e = arg;
	struct epoll_event evs[ENG_MAX_EVENTS];
	sigset_t pipe_set;
	int nev, k;

	/*
	 * A write to a connection the node closed raises SIGPIPE in this
	 * thread; keep it blocked here so it becomes EPIPE, whatever the
	 * program (tcmu-runner, a tool) does with the signal.
	 */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	while (!e->stop_seen) {
		nev = epoll_wait(e->epfd, evs, ENG_MAX_EVENTS, loop_prepare(e));
		if (nev < 0) {
			if (errno == EINTR)
				continue;
			sb_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (k = 0; k < nev; k++)
			loop_event(e, &evs[k]);
		loop_leftovers(e);
	}
	engine_shutdown(e);
	eng_links_stop(e);
	return NULL;
}
