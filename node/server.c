/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Setup and teardown of a storage node (server.h): the secret, the TCP
 * listener, the store, the disk engine, the loop's fds (epoll, signalfd,
 * timerfd, stop eventfd) and, when configured, the RDMA listener. The
 * rest of nd_server lives in the files listed in server_internal.h.
 *
 * Threading: nd_server_new_verbs and nd_server_free run on the caller's
 * thread while no loop runs; nd_server_port reads only the listener fd.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "../lib/util/clock.h"
#include "../xport/kv.h"
#include "../xport/tcp.h"
#include "../xport/verbs.h"
#include "server_internal.h"
#include "../lib/util/errbuf.h"

#define LISTEN_BACKLOG 128
#define TICK_MS 200
#define ND_STORE_TIMEOUT_MS 2000 /* per HTTP exchange with etcd */

static int setup_fds(struct nd_server *s, char *err, size_t errlen)
{
	struct itimerspec its = {0};
	sigset_t mask;
	int ret;

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		goto out_errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* pthread_sigmask: the process may have other threads (tests). */
	ret = pthread_sigmask(SIG_BLOCK, &mask, &s->oldmask);
	if (ret) {
		errno = ret;
		goto out_errno;
	}
	s->sigmask_set = true;
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		goto out_errno;
	s->timerfd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0)
		goto out_errno;
	its.it_interval.tv_nsec = TICK_MS * 1000000L;
	its.it_value.tv_nsec = TICK_MS * 1000000L;
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0)
		goto out_errno;
	s->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->stopfd < 0)
		goto out_errno;

	sb_evtag_init(&s->t_listen, ND_EV_LISTEN);
	sb_evtag_init(&s->t_io, ND_EV_IO);
	sb_evtag_init(&s->t_signal, ND_EV_SIGNAL);
	sb_evtag_init(&s->t_timer, ND_EV_TIMER);
	sb_evtag_init(&s->t_stop, ND_EV_STOP);
	ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, EPOLLIN,
			   &s->t_listen);
	if (!ret)
		ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD,
				   nd_io_event_fd(s->io), EPOLLIN, &s->t_io);
	if (!ret)
		ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, EPOLLIN,
				   &s->t_signal);
	if (!ret)
		ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, EPOLLIN,
				   &s->t_timer);
	if (!ret)
		ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->stopfd, EPOLLIN,
				   &s->t_stop);
	if (ret) {
		sb_errf(err, errlen, "epoll: %s", strerror(-ret));
		return ret;
	}
	return 0;

out_errno:
	ret = -errno;
	sb_errf(err, errlen, "event loop setup: %s", strerror(errno));
	return ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void nd_server_free(struct nd_server *s)
{
	if (!s)
		return;
	nd_conn_close_all(s);
	nd_push_shutdown(s);
	nd_rdma_reap(s, true);
	nd_conn_free_dead(s);
	xp_rdma_listener_free(s->rl);
	s->rl = NULL;
	close_fd(&s->lfd);
	close_fd(&s->stopfd);
	nd_member_stop(s->member);
	s->member = NULL;
	close_fd(&s->memberfd);
	close_fd(&s->timerfd);
	close_fd(&s->sigfd);
	if (s->sigmask_set)
		pthread_sigmask(SIG_SETMASK, &s->oldmask, NULL);
	close_fd(&s->epfd);
	nd_io_free(s->io);
	nd_leases_free(s->leases);
	nd_pfence_free(s->pfence);
	nd_store_close(s->store);
	memset(&s->secret, 0, sizeof(s->secret));
	free(s);
}

int nd_server_new(const struct sb_nodecfg *cfg, struct nd_server **out,
		  char *err, size_t errlen)
{
	return nd_server_new_verbs(cfg, NULL, out, err, errlen);
}

int nd_server_new_verbs(const struct sb_nodecfg *cfg,
			const struct xp_verbs_ops *vops, struct nd_server **out,
			char *err, size_t errlen)
{
	struct nd_server *s;
	struct xp_kv *kv;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s) {
		sb_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sb_list_init(&s->conns);
	sb_list_init(&s->dead);
	sb_list_init(&s->pushes);
	sb_list_init(&s->push_wait);
	sb_list_init(&s->peers);
	sb_list_init(&s->peers_dead);
	s->cfg = *cfg;
	s->vops = vops ? vops : xp_verbs_real();
	s->lfd = s->epfd = s->sigfd = s->timerfd = s->stopfd = -1;
	s->memberfd = -1;
	s->start_ms = sb_now_ms();

	ret = xp_secret_load(cfg->secret_file, &s->secret);
	if (ret == -EINVAL) {
		sb_errf(err, errlen, "secret_file %s must hold %d to %d bytes",
			cfg->secret_file, XP_SECRET_MIN, XP_SECRET_MAX);
		goto out_free;
	}
	if (ret) {
		sb_errf(err, errlen, "cannot read secret_file %s: %s",
			cfg->secret_file, strerror(-ret));
		goto out_free;
	}
	ret = xp_tcp_listen(cfg->listen, cfg->port, LISTEN_BACKLOG);
	if (ret < 0) {
		sb_errf(err, errlen, "cannot listen on %s port %u: %s",
			cfg->listen, cfg->port, strerror(-ret));
		goto out_free;
	}
	s->lfd = ret;
	ret = nd_store_open(cfg->data_dir, &s->store, err, errlen);
	if (ret)
		goto out_free;
	ret = nd_ident_start(cfg->data_dir, cfg->id, &s->ident, err, errlen);
	if (ret)
		goto out_free;
	s->leases = nd_leases_new();
	if (!s->leases || nd_pfence_new(&s->pfence)) {
		ret = -ENOMEM;
		sb_errf(err, errlen, "out of memory");
		goto out_free;
	}
	ret = nd_io_new(ND_IO_RING_ENTRIES, &s->io);
	if (ret) {
		sb_errf(err, errlen, "cannot set up io_uring: %s",
			strerror(-ret));
		goto out_free;
	}
	ret = setup_fds(s, err, errlen);
	if (ret)
		goto out_free;
	nd_rdma_setup(s);
	signal(SIGPIPE, SIG_IGN);
	if (cfg->etcd[0]) {
		ret = xp_etcd_open(cfg->etcd, ND_STORE_TIMEOUT_MS, &kv, err,
				   errlen);
		if (!ret)
			ret = nd_server_attach_store(s, kv, err, errlen);
		if (ret)
			goto out_free;
	}
	*out = s;
	return 0;

out_free:
	nd_server_free(s);
	return ret;
}

int nd_server_attach_store(struct nd_server *s, struct xp_kv *kv, char *err,
			   size_t errlen)
{
	struct nd_member_cfg mc = {
		.node_id = s->cfg.id,
		.prefix = s->cfg.etcd_prefix,
		.data_dir = s->cfg.data_dir,
		.host = s->cfg.listen,
		.port = (uint16_t)nd_server_port(s),
		.ttl_s = s->cfg.node_ttl,
	};
	int ret;

	if (s->member) {
		xp_kv_close(kv);
		sb_errf(err, errlen, "already a member of a cluster store");
		return -EALREADY;
	}
	s->memberfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->memberfd < 0) {
		ret = -errno;
		xp_kv_close(kv);
		sb_errf(err, errlen, "eventfd: %s", strerror(-ret));
		return ret;
	}
	sb_evtag_init(&s->t_member, ND_EV_MEMBER);
	ret = sb_evtag_ctl(s->epfd, EPOLL_CTL_ADD, s->memberfd, EPOLLIN,
			   &s->t_member);
	if (ret) {
		xp_kv_close(kv);
		sb_errf(err, errlen, "epoll: %s", strerror(-ret));
		return ret;
	}
	mc.notify_fd = s->memberfd;
	return nd_member_start(&mc, kv, &s->ident, &s->member, err, errlen);
}

int nd_server_member_state(struct nd_server *s, int64_t *incarnation)
{
	if (!s->member)
		return -ENOENT;
	return (int)nd_member_state(s->member, incarnation);
}

unsigned int nd_server_port(const struct nd_server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (s->lfd < 0 || getsockname(s->lfd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}
