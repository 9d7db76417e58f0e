/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway I/O engine's public API (see ../engine.h for the behaviour
 * it promises; engine_int.h for its objects and files): start and stop,
 * submit, the nodes' status and the counters.
 *
 * These run on the caller's thread. They touch only what e->lock guards
 * (the submission queue, the stop flag, each node's pub) and the atomic
 * counters; everything else belongs to the loop thread (loop.c) once it
 * runs.
 */

#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../iovcopy.h"
#include "../util/log.h"
#include "../../xport/kv.h"
#include "../../xport/verbs.h"

/* @cl can run an engine (nodes, replicas, queue depth, chunk size). */
static bool cluster_ok(const struct sb_cluster *cl)
{
	return cl->nr_nodes != 0 && cl->nr_nodes <= SB_MAX_NODES &&
	       cl->replicas != 0 && cl->replicas <= cl->nr_nodes &&
	       cl->queue_depth != 0 && cl->io_timeout_ms != 0 &&
	       cl->chunk_size != 0 && !(cl->chunk_size & (cl->chunk_size - 1));
}

/* Payload may go by RDMA here: allowed, pool configured, a device present. */
static void engine_rdma_check(struct sb_engine *e)
{
	const struct sb_cluster *cl = &e->cl;

	if (cl->rdma == SB_RDMA_OFF)
		return;
	e->rdma_ok = cl->rdma_buffers && cl->rdma_buffer_size &&
		     e->vops->device_count() > 0;
	if (!e->rdma_ok && cl->rdma == SB_RDMA_ON)
		sb_warn("rdma = on, but this host has no RDMA device: "
			"payload inline on TCP");
}

/* The engine's queue, tags and nodes, before anything runs. */
static void engine_init_state(struct sb_engine *e)
{
	unsigned int i;

	sb_list_init(&e->subq);
	sb_evtag_init(&e->kick_tag, ENG_EV_KICK);
	sb_evtag_init(&e->links_tag, ENG_EV_LINKS);
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		n->e = e;
		n->idx = i;
		n->addr = &e->cl.nodes[i];
		n->sess.fd = -1;
		n->sess.state = NODE_DOWN;
		n->sess.retry_at = 0; /* connect at once */
		n->q.next_id = 1;
		n->rd.cm_fd = n->rd.cq_fd = -1;
		sb_evtag_init(&n->sess.tag, ENG_EV_NODE);
		sb_evtag_init(&n->rd.cm_tag, ENG_EV_RDMA_CM);
		sb_evtag_init(&n->rd.cq_tag, ENG_EV_RDMA_CQ);
		sb_list_init(&n->q.waitq);
		sb_list_init(&n->q.inflight);
	}
}

struct sb_engine *sb_engine_new(const struct sb_cluster *cl,
				const struct xp_secret *secret, char *err,
				size_t errlen)
{
	return sb_engine_new_verbs(cl, secret, NULL, err, errlen);
}

struct sb_engine *sb_engine_new_verbs(const struct sb_cluster *cl,
				      const struct xp_secret *secret,
				      const struct xp_verbs_ops *vops,
				      char *err, size_t errlen)
{
	return sb_engine_new_store(cl, secret, vops, NULL, err, errlen);
}

/* Copies a write needs with a store: all but one, at least one. */
static unsigned int default_min_replicas(unsigned int replicas)
{
	return replicas > 2 ? replicas - 1 : 1;
}

/* The store @kv (or, when NULL, cl->etcd's) for @e; 0 without one. */
static int engine_store(struct sb_engine *e, struct xp_kv *kv, char *err,
			size_t errlen)
{
	int ret;

	e->min_replicas = e->cl.min_replicas
				  ? e->cl.min_replicas
				  : default_min_replicas(e->cl.replicas);
	if (!kv && !e->cl.etcd[0]) {
		e->store_loaded = true;
		return 0;
	}
	if (!kv) {
		ret = xp_etcd_open(e->cl.etcd, ENG_STORE_TIMEOUT_MS, &kv, err,
				   errlen);
		if (ret)
			return ret;
	}
	return eng_store_start(e, kv, err, errlen);
}

struct sb_engine *sb_engine_new_store(const struct sb_cluster *cl,
				      const struct xp_secret *secret,
				      const struct xp_verbs_ops *vops,
				      struct xp_kv *kv, char *err,
				      size_t errlen)
{
	struct sb_engine *e;
	int ret;

	if (!cl || !secret || !cluster_ok(cl)) {
		xp_kv_close(kv);
		snprintf(err, errlen, "invalid cluster configuration");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		xp_kv_close(kv);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->cl = *cl;
	e->secret = *secret;
	e->max_piece = cl->chunk_size < ENG_MAX_PIECE ? (uint32_t)cl->chunk_size
						      : ENG_MAX_PIECE;
	if (getrandom(&e->gw_id, sizeof(e->gw_id), 0) !=
	    (ssize_t)sizeof(e->gw_id)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto out_free_engine;
	}
	e->vops = vops ? vops : xp_verbs_real();
	engine_rdma_check(e);
	engine_init_state(e);
	ret = pthread_mutex_init(&e->lock, NULL);
	if (ret) {
		snprintf(err, errlen, "mutex: %s", strerror(ret));
		goto out_free_engine;
	}
	ret = pthread_cond_init(&e->cond, NULL);
	if (ret) {
		snprintf(err, errlen, "condvar: %s", strerror(ret));
		goto out_destroy_lock;
	}
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		goto out_destroy_cond;
	}
	e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->evfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_close_epoll;
	}
	ret = sb_evtag_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, EPOLLIN,
			   &e->kick_tag);
	if (ret) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-ret));
		goto out_close_eventfd;
	}
	ret = engine_store(e, kv, err, errlen);
	kv = NULL; /* the store owns it now, or closed it */
	if (ret)
		goto out_close_eventfd;
	ret = pthread_create(&e->thread, NULL, eng_loop, e);
	if (ret) {
		snprintf(err, errlen, "pthread_create: %s", strerror(ret));
		goto out_stop_store;
	}
	e->thread_started = true;
	return e;

out_stop_store:
	eng_store_stop(e);
out_close_eventfd:
	close(e->evfd);
out_close_epoll:
	close(e->epfd);
out_destroy_cond:
	pthread_cond_destroy(&e->cond);
out_destroy_lock:
	pthread_mutex_destroy(&e->lock);
out_free_engine:
	xp_kv_close(kv);
	free(e);
	return NULL;
}

/* Wake the loop thread (its eventfd). Any thread. */
static void engine_kick(struct sb_engine *e)
{
	uint64_t one = 1;

	/* a full counter (EAGAIN) still wakes the loop */
	if (write(e->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sb_err_rl("eventfd write: %s", strerror(errno));
}

void sb_engine_free(struct sb_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_mutex_unlock(&e->lock);
	engine_kick(e);
	if (e->thread_started)
		pthread_join(e->thread, NULL);
	eng_store_stop(e);
	close(e->evfd);
	close(e->epfd);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int eng_op_queue(struct sb_engine *e, struct eng_op *op)
{
	bool kick;

	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return -ESHUTDOWN;
	}
	sb_list_add_tail(&e->subq, &op->link);
	/* one wakeup per batch: the loop drains the whole queue */
	kick = !e->kick_pending;
	e->kick_pending = true;
	pthread_mutex_unlock(&e->lock);
	if (kick)
		engine_kick(e);
	return 0;
}

int sb_engine_submit(struct sb_engine *e, struct sb_io *io)
{
	unsigned int nslots = 1, rpp;
	struct eng_op *op;
	struct sb_extent ext;
	uint64_t need = 0;
	int ret, npieces;

	if (!e || !io || !io->cb)
		return -EINVAL;
	switch (io->op) {
	case SB_IO_READ:
	case SB_IO_WRITE:
		need = io->length;
		rpp = io->op == SB_IO_READ ? 1 : e->cl.replicas;
		break;
	case SB_IO_WRITE_ZEROES:
	case SB_IO_UNMAP:
		rpp = e->cl.replicas;
		break;
	case SB_IO_CAW:
		if (io->length > XP_MAX_CAW)
			return -EINVAL;
		need = 2 * io->length;
		rpp = e->cl.replicas;
		break;
	case SB_IO_FLUSH:
		rpp = e->cl.nr_nodes;
		break;
	default:
		return -EINVAL;
	}
	if (io->flags & ~(SB_IO_F_FUA | SB_IO_F_UNMAP))
		return -EINVAL;
	if (io->op != SB_IO_FLUSH) {
		if (io->length == 0 || io->offset + io->length < io->offset)
			return -EINVAL;
		npieces = sb_split(io->offset, io->length, e->cl.chunk_size,
				   e->max_piece, &ext, 1);
		if (npieces < 1)
			return npieces < 0 ? npieces : -EINVAL;
		/* CAW is atomic on one node: it must stay in one chunk */
		if (io->op == SB_IO_CAW &&
		    (io->offset / e->cl.chunk_size !=
		     (io->offset + io->length - 1) / e->cl.chunk_size))
			return -EINVAL;
		nslots = (unsigned int)npieces < ENG_WINDOW
				 ? (unsigned int)npieces
				 : ENG_WINDOW;
	}
	if (need) {
		if (!io->iov || io->iovcnt <= 0 ||
		    sb_iov_total(io->iov, io->iovcnt) < need)
			return -EINVAL;
	}
	op = eng_op_alloc(e, nslots, rpp);
	if (!op)
		return -ENOMEM;
	op->kind = OP_IO;
	op->op = io->op;
	op->io = io;
	op->next_off = io->offset;
	op->end = io->op == SB_IO_FLUSH ? io->offset : io->offset + io->length;
	ret = eng_op_queue(e, op);
	if (ret) {
		free(op);
		return ret;
	}
	eng_stat_inc(&e->stats.submitted);
	return 0;
}

/* *@until = now + @timeout_ms on CLOCK_REALTIME (pthread_cond_timedwait). */
static void deadline_in(int timeout_ms, struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += timeout_ms / 1000;
	until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

int sb_engine_wait_ready(struct sb_engine *e, int timeout_ms)
{
	struct timespec until;
	unsigned int i;
	int up = 0;

	if (!e)
		return 0;
	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&e->lock);
	while ((e->ntried < e->cl.nr_nodes || !e->store_loaded) &&
	       timeout_ms > 0) {
		if (pthread_cond_timedwait(&e->cond, &e->lock, &until) ==
		    ETIMEDOUT)
			break;
	}
	for (i = 0; i < e->cl.nr_nodes; i++)
		up += e->nodes[i].pub.up;
	pthread_mutex_unlock(&e->lock);
	return up;
}

bool sb_engine_node_up(struct sb_engine *e, unsigned int idx)
{
	bool up;

	if (!e || idx >= e->cl.nr_nodes)
		return false;
	pthread_mutex_lock(&e->lock);
	up = e->nodes[idx].pub.up;
	pthread_mutex_unlock(&e->lock);
	return up;
}

int sb_engine_wait_payload(struct sb_engine *e, int timeout_ms)
{
	struct timespec until;
	unsigned int i;
	int pending;

	if (!e)
		return 0;
	deadline_in(timeout_ms, &until);
	pthread_mutex_lock(&e->lock);
	for (;;) {
		pending = 0;
		for (i = 0; i < e->cl.nr_nodes; i++)
			pending += e->nodes[i].pub.up &&
				   e->nodes[i].pub.payload ==
					   SB_PAYLOAD_PENDING;
		if (!pending || timeout_ms <= 0 ||
		    pthread_cond_timedwait(&e->cond, &e->lock, &until) ==
			    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	return pending;
}

enum sb_payload sb_engine_node_payload(struct sb_engine *e, unsigned int idx,
				       char *why, size_t whylen)
{
	enum sb_payload p;

	if (!e || idx >= e->cl.nr_nodes)
		return SB_PAYLOAD_TCP;
	pthread_mutex_lock(&e->lock);
	p = e->nodes[idx].pub.payload;
	if (why && whylen)
		snprintf(why, whylen, "%s", e->nodes[idx].pub.why);
	pthread_mutex_unlock(&e->lock);
	return p;
}

void sb_engine_get_stats(struct sb_engine *e, struct sb_engine_stats *st)
{
	if (!e || !st)
		return;
	st->submitted = __atomic_load_n(&e->stats.submitted, __ATOMIC_RELAXED);
	st->completed = __atomic_load_n(&e->stats.completed, __ATOMIC_RELAXED);
	st->failovers = __atomic_load_n(&e->stats.failovers, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&e->stats.timeouts, __ATOMIC_RELAXED);
	st->reconnects =
		__atomic_load_n(&e->stats.reconnects, __ATOMIC_RELAXED);
	st->throttled = __atomic_load_n(&e->stats.throttled, __ATOMIC_RELAXED);
	st->max_inflight =
		__atomic_load_n(&e->stats.max_inflight, __ATOMIC_RELAXED);
	st->bytes_rdma =
		__atomic_load_n(&e->stats.bytes_rdma, __ATOMIC_RELAXED);
	st->bytes_inline =
		__atomic_load_n(&e->stats.bytes_inline, __ATOMIC_RELAXED);
	st->rdma_fallbacks =
		__atomic_load_n(&e->stats.rdma_fallbacks, __ATOMIC_RELAXED);
	st->copy_bytes =
		__atomic_load_n(&e->stats.copy_bytes, __ATOMIC_RELAXED);
	st->copy_ns = __atomic_load_n(&e->stats.copy_ns, __ATOMIC_RELAXED);
}

void sb_engine_layout(const struct sb_engine *e, struct xp_layout *lay)
{
	lay->chunk_size = (uint32_t)e->cl.chunk_size;
	lay->replicas = (uint8_t)e->cl.replicas;
}

int sb_engine_load_config(const char *path, struct sb_cluster *cl,
			  struct xp_secret *secret, char *err, size_t errlen)
{
	int ret;

	ret = sb_cluster_load(path, cl, err, errlen);
	if (ret)
		return ret;
	ret = xp_secret_load(cl->secret_file, secret);
	if (ret)
		snprintf(err, errlen, "secret file %s: %s", cl->secret_file,
			 ret == -EINVAL ? "must hold 16 to 256 bytes"
					: strerror(-ret));
	return ret;
}
