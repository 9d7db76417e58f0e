/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's use of the link watcher (xport/link.h, docs/rdma.md):
 * from the first offer a node answers, the engine watches the links
 * (xp_link, rtnetlink): per node, the net device under its RDMA
 * connection (guessed from the node's RDMA address before connecting,
 * then the connection's own). That link going down takes the node's RDMA
 * connection down at once (QP into error first, and an RDMA_OFFER that
 * makes the node drop its side; RD_DOWN as for any failure: requests in
 * flight come back EPROTO and are resent inline) and stops offers; its
 * return asks for an offer at once, back-off reset.
 *
 * The watcher (e->links, its fd in the engine's epoll set) and every
 * node's rd.ifindex / rd.link_down belong to the loop thread.
 */

#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include <net/if.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "../../xport/link.h"

void eng_link_why(const struct eng_node *n, char *buf, size_t len)
{
	char name[IF_NAMESIZE + 16];

	snprintf(buf, len, "link %s down",
		 xp_link_name(n->e->links, n->rd.ifindex, name, sizeof(name)));
}

void eng_link_down_why(struct eng_node *n)
{
	char why[ENG_WHY_LEN];

	eng_link_why(n, why, sizeof(why));
	eng_rdma_inline(n, why, true);
}

/* The link of @n's RDMA connection went down: inline until it is back. */
static void rdma_link_down(struct eng_node *n)
{
	if (n->rd.link_down)
		return;
	n->rd.link_down = true;
	n->rd.offer_now = false;
	n->rd.retry_at = 0;
	/* A connection up or being set up says why when it is down. */
	if (eng_rdma_shutdown(n, -ENETDOWN))
		return;
	eng_link_down_why(n);
}

/* The link of @n's RDMA connection is back: ask for an offer at once. */
static void rdma_link_up(struct eng_node *n)
{
	char name[SB_HOST_MAX + 32], ifn[IF_NAMESIZE + 16];

	if (!n->rd.link_down)
		return;
	n->rd.link_down = false;
	n->rd.backoff_ms = 0;
	n->rd.offer_now = true;
	sb_info("%s: link %s up: asking for RDMA again",
		eng_node_name(n, name, sizeof(name)),
		xp_link_name(n->e->links, n->rd.ifindex, ifn, sizeof(ifn)));
	if (n->rd.state == RD_NONE)
		n->rd.retry_at = sb_now_ms();
	/* RD_DOWN: eng_rdma_timers offers once the old connection is freed. */
}

/* xp_link_cb: a link changed; act for every node whose RDMA runs on it. */
static void link_changed(void *arg, int ifindex, bool up)
{
	struct sb_engine *e = arg;
	unsigned int i;

	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		if (n->rd.ifindex != ifindex)
			continue;
		if (up)
			rdma_link_up(n);
		else
			rdma_link_down(n);
	}
}

/* Start the link watcher (first offer answered); false if none. */
static bool links_start(struct sb_engine *e)
{
	if (e->links)
		return true;
	if (e->links_failed)
		return false;
	errno = 0;
	e->links = xp_link_new(link_changed, e);
	if (e->links &&
	    sb_evtag_ctl(e->epfd, EPOLL_CTL_ADD, xp_link_fd(e->links), EPOLLIN,
			 &e->links_tag) < 0) {
		xp_link_free(e->links);
		e->links = NULL;
	}
	if (!e->links) {
		e->links_failed = true;
		sb_warn("rdma: cannot watch links (%s): a link that goes down "
			"shows only as RDMA errors",
			strerror(errno ? errno : EIO));
		return false;
	}
	return true;
}

void eng_links_event(struct sb_engine *e)
{
	int err = xp_link_service(e->links);
	unsigned int i;

	if (!err)
		return;
	sb_warn("rdma: link watching stopped: %s", strerror(-err));
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, xp_link_fd(e->links), NULL);
	xp_link_free(e->links);
	e->links = NULL;
	e->links_failed = true;
	/* No word of a link's return will come: back to the back-off. */
	for (i = 0; i < e->cl.nr_nodes; i++) {
		struct eng_node *n = &e->nodes[i];

		if (!n->rd.link_down)
			continue;
		n->rd.link_down = false;
		if (n->rd.state == RD_NONE)
			eng_rdma_retry_later(n);
	}
}

/*
 * @n's RDMA connection is up on the link @ifindex (0: unknown, nothing to
 * watch): watch it. Returns true when that link is down already, after
 * taking the connection down.
 */
bool eng_link_track(struct eng_node *n, int ifindex)
{
	if (ifindex <= 0 || !links_start(n->e))
		return false;
	n->rd.ifindex = ifindex;
	n->rd.link_down = false;
	if (xp_link_state(n->e->links, ifindex) != 0)
		return false;
	rdma_link_down(n);
	return true;
}

/*
 * Before connecting to @dst: the link of an address of ours whose prefix
 * holds @dst is, on a directly attached RDMA network, the one the
 * connection will use. When it is down, connecting is pointless: say so
 * and wait for it (returns true). A routed @dst is not guessed; the
 * connection's own link (eng_link_track) is watched once it is up.
 */
bool eng_link_guess(struct eng_node *n, const struct sockaddr *dst)
{
	int ifindex;

	if (!links_start(n->e))
		return false;
	ifindex = xp_link_of_addr(dst);
	if (ifindex <= 0)
		return false;
	n->rd.ifindex = ifindex;
	if (xp_link_state(n->e->links, ifindex) != 0)
		return false;
	n->rd.link_down = false;
	rdma_link_down(n);
	return true;
}

void eng_links_stop(struct sb_engine *e)
{
	if (!e->links)
		return;
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, xp_link_fd(e->links), NULL);
	xp_link_free(e->links);
	e->links = NULL;
}
