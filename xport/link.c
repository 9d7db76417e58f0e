/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_link: rtnetlink link watching with libnl-route-3 (see link.h).
 *
 *   xp_link_new:     event socket: RTNLGRP_LINK, non-blocking
 *                    dump socket (temporary): RTM_GETLINK -> the table
 *   xp_link_service: nl_recvmsgs -> nl_msg_parse -> rtnl_link object
 *                    -> table update -> cb(ifindex, up) when it changed
 *                    overrun (ENOBUFS) -> dump again, report differences
 *
 * The table holds one entry per link seen (ifindex, name, up). Entries
 * of deleted links are dropped. Netlink parsing is libnl's; this file
 * checks only the outer header handed to xp_link_feed().
 */
#include "link.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "../lib/util/log.h"

struct lnk {
	int ifindex;
	bool up;
	bool seen; /* present in the dump under way */
	char name[IFNAMSIZ];
};

struct xp_link {
	struct nl_sock *sk; /* event socket, RTNLGRP_LINK */
	struct nl_cb *nlcb; /* its callbacks (a reference of ours) */
	xp_link_cb cb;
	void *arg;
	bool quiet; /* filling the table at creation: report nothing */
	struct lnk *tab;
	size_t n, cap;
};

/* libnl's -NLE_* as a negative errno (no public mapping exists). */
static int nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:
		return 0;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_PERM:
		return -EPERM;
	case NLE_PROTO_MISMATCH:
	case NLE_OPNOTSUPP:
		return -EPROTONOSUPPORT;
	case NLE_MSG_TOOSHORT:
	case NLE_MSG_TRUNC:
	case NLE_MSG_OVERFLOW:
	case NLE_INVAL:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

static struct lnk *find(const struct xp_link *w, int ifindex)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->tab[i].ifindex == ifindex)
			return &w->tab[i];
	return NULL;
}

static void drop(struct xp_link *w, struct lnk *l)
{
	*l = w->tab[--w->n];
}

/*
 * Record that @ifindex (@name, may be NULL) is @up, reporting a change.
 * A link not seen before counts as down until now.
 */
static void set_state(struct xp_link *w, int ifindex, const char *name, bool up,
		      bool gone)
{
	struct lnk *l = find(w, ifindex);
	bool was = l && l->up;

	if (gone) {
		if (l)
			drop(w, l);
	} else {
		if (!l) {
			if (w->n == w->cap) {
				size_t cap = w->cap ? 2 * w->cap : 16;
				struct lnk *t =
					realloc(w->tab, cap * sizeof(*t));

				if (!t) {
					/* Unknown links read as down. */
					sb_err_rl("link: no memory for link %d",
						  ifindex);
					return;
				}
				w->tab = t;
				w->cap = cap;
			}
			l = &w->tab[w->n++];
			memset(l, 0, sizeof(*l));
			l->ifindex = ifindex;
		}
		l->up = up;
		l->seen = true;
		if (name)
			snprintf(l->name, sizeof(l->name), "%s", name);
	}
	if (was != (up && !gone) && !w->quiet && w->cb)
		w->cb(w->arg, ifindex, up && !gone);
}

/* One rtnl_link object from libnl's parser or from a dump. */
static void on_object(struct nl_object *obj, void *arg)
{
	struct xp_link *w = arg;
	struct rtnl_link *link = (struct rtnl_link *)obj;
	const char *type = nl_object_get_type(obj);
	unsigned int flags;
	int ifindex;

	if (!type || strcmp(type, "route/link"))
		return;
	/* AF_BRIDGE port notifications repeat a link's state: skip them. */
	if (rtnl_link_get_family(link) != AF_UNSPEC)
		return;
	ifindex = rtnl_link_get_ifindex(link);
	if (ifindex <= 0)
		return;
	flags = rtnl_link_get_flags(link);
	set_state(w, ifindex, rtnl_link_get_name(link),
		  (flags & IFF_UP) && (flags & IFF_RUNNING),
		  nl_object_get_msgtype(obj) == RTM_DELLINK);
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	int err = nl_msg_parse(msg, on_object, arg);

	/* A message libnl cannot parse is skipped, never fatal. */
	if (err < 0 && err != -NLE_MSGTYPE_NOSUPPORT)
		sb_err_rl("link: unparsable rtnetlink message: %s",
			  nl_geterror(err));
	return NL_OK;
}

/*
 * Read every link with a dump on a socket of its own and bring the table
 * in line: changed links are reported, links gone are reported down.
 */
static int resync(struct xp_link *w)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	size_t i;
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_errno(nl_connect(sk, NETLINK_ROUTE));
	if (err)
		goto out_free_sock;
	err = nl_errno(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache));
	if (err)
		goto out_close;
	for (i = 0; i < w->n; i++)
		w->tab[i].seen = false;
	nl_cache_foreach(cache, on_object, w);
	for (i = w->n; i-- > 0;) {
		if (!w->tab[i].seen)
			set_state(w, w->tab[i].ifindex, NULL, false, true);
	}
	nl_cache_free(cache);
out_close:
	nl_close(sk);
out_free_sock:
	nl_socket_free(sk);
	return err;
}

struct xp_link *xp_link_new(xp_link_cb cb, void *arg)
{
	struct xp_link *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->sk = nl_socket_alloc();
	if (!w->sk) {
		err = -ENOMEM;
		goto out_free_watcher;
	}
	/* Notifications carry no sequence number of ours. */
	nl_socket_disable_seq_check(w->sk);
	err = nl_errno(nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM,
					   on_valid, w));
	if (err)
		goto out_free_sock;
	w->nlcb = nl_socket_get_cb(w->sk);
	if (!w->nlcb) {
		err = -ENOMEM;
		goto out_free_sock;
	}
	err = nl_errno(nl_connect(w->sk, NETLINK_ROUTE));
	if (err)
		goto out_put_cb;
	err = nl_errno(nl_socket_add_membership(w->sk, RTNLGRP_LINK));
	if (err)
		goto out_close;
	err = nl_errno(nl_socket_set_nonblocking(w->sk));
	if (err)
		goto out_close;
	/* Subscribed first: a change during the dump is queued, not lost. */
	w->quiet = true;
	err = resync(w);
	w->quiet = false;
	if (err)
		goto out_close;
	return w;

out_close:
	nl_close(w->sk);
out_put_cb:
	nl_cb_put(w->nlcb);
out_free_sock:
	nl_socket_free(w->sk);
out_free_watcher:
	free(w->tab);
	free(w);
	errno = -err;
	return NULL;
}

void xp_link_free(struct xp_link *w)
{
	if (!w)
		return;
	nl_close(w->sk);
	nl_cb_put(w->nlcb);
	nl_socket_free(w->sk);
	free(w->tab);
	free(w);
}

int xp_link_fd(const struct xp_link *w)
{
	return nl_socket_get_fd(w->sk);
}

int xp_link_service(struct xp_link *w)
{
	int ret;

	for (;;) {
		/*
		 * The number of messages handled; 0 when the socket had
		 * none (libnl turns EAGAIN into 0 here).
		 */
		ret = nl_recvmsgs_report(w->sk, w->nlcb);
		if (ret > 0)
			continue;
		ret = nl_errno(ret);
		if (!ret || ret == -EAGAIN)
			return 0;
		if (ret == -EINTR)
			continue;
		if (ret != -ENOMEM)
			return ret;
		/* libnl's name for ENOBUFS: notifications were lost. */
		sb_warn("link: rtnetlink notifications lost: reading every "
			"link again");
		ret = resync(w);
		if (ret)
			return ret;
	}
}

int xp_link_state(const struct xp_link *w, int ifindex)
{
	const struct lnk *l = find(w, ifindex);

	return l ? l->up : -ENODEV;
}

const char *xp_link_name(const struct xp_link *w, int ifindex, char *buf,
			 size_t len)
{
	const struct lnk *l = w ? find(w, ifindex) : NULL;

	if (l && l->name[0])
		snprintf(buf, len, "%s", l->name);
	else
		snprintf(buf, len, "if%d", ifindex);
	return buf;
}

struct addr_match {
	int family;
	const uint8_t *want; /* the destination, 4 or 16 bytes */
	unsigned int len;
	int best_plen; /* longest matching prefix so far, -1: none */
	int ifindex;
};

/* The first @plen bits of @a and @b are equal. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, b, bytes))
		return false;
	return !bits || !((a[bytes] ^ b[bytes]) & (0xffu << (8 - bits)));
}

static void on_addr(struct nl_object *obj, void *arg)
{
	struct addr_match *m = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int plen = rtnl_addr_get_prefixlen(a);

	if (!local || rtnl_addr_get_family(a) != m->family ||
	    nl_addr_get_len(local) != m->len || plen < 0 ||
	    (unsigned int)plen > 8 * m->len || plen <= m->best_plen)
		return;
	if (!prefix_eq(nl_addr_get_binary_addr(local), m->want,
		       (unsigned int)plen))
		return;
	m->best_plen = plen;
	m->ifindex = rtnl_addr_get_ifindex(a);
}

int xp_link_of_addr(const struct sockaddr *dst)
{
	struct addr_match m = {.best_plen = -1};
	struct nl_cache *cache = NULL;
	struct nl_sock *sk;
	int err;

	m.family = dst->sa_family;
	if (m.family == AF_INET) {
		m.want = (const uint8_t *)&((const struct sockaddr_in *)dst)
				 ->sin_addr;
		m.len = 4;
	} else if (m.family == AF_INET6) {
		m.want = ((const struct sockaddr_in6 *)dst)->sin6_addr.s6_addr;
		m.len = 16;
	} else {
		return -EAFNOSUPPORT;
	}
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	err = nl_errno(nl_connect(sk, NETLINK_ROUTE));
	if (err)
		goto out_free_sock;
	err = nl_errno(rtnl_addr_alloc_cache(sk, &cache));
	if (err)
		goto out_close;
	nl_cache_foreach(cache, on_addr, &m);
	nl_cache_free(cache);
	err = m.best_plen >= 0 && m.ifindex > 0 ? m.ifindex : -ENOENT;
out_close:
	nl_close(sk);
out_free_sock:
	nl_socket_free(sk);
	return err;
}

int xp_link_feed(struct xp_link *w, const void *buf, size_t len)
{
	struct nlmsghdr hdr;
	struct nl_msg *msg;

	if (len < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.nlmsg_len < NLMSG_HDRLEN || hdr.nlmsg_len > len)
		return -EBADMSG;
	/* An aligned copy of the nlmsg_len bytes checked above. */
	msg = nlmsg_alloc_size(hdr.nlmsg_len);
	if (!msg)
		return -ENOMEM;
	memcpy(nlmsg_hdr(msg), buf, hdr.nlmsg_len);
	nlmsg_set_proto(msg, NETLINK_ROUTE);
	on_valid(msg, w);
	nlmsg_free(msg);
	return 0;
}
