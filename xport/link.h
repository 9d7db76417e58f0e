/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_link: watches the network links of this host (rtnetlink, RTNLGRP_LINK)
 * and reports when one goes down or comes back up. The RDMA payload uses
 * it to follow the net device under each RDMA connection (docs/rdma.md,
 * "Link watching"): a link that goes down takes the connection down at
 * once, and its return brings the connection back.
 *
 * It lives in xport/ because it is transport plumbing like xp_conn and
 * xp_rdma: a non-blocking socket the owner polls and services, no thread,
 * no policy. It is the only file that includes libnl; netlink messages
 * are parsed by libnl-route-3 (nl_msg_parse into rtnl_link objects), never
 * by hand.
 *
 * A link is "up" when it has IFF_UP and IFF_RUNNING (the kernel sets
 * IFF_RUNNING when the operational state is up: carrier present and not
 * dormant). A deleted link is down. Only changes are reported: the states
 * at xp_link_new() are read with a dump and reported to nobody.
 *
 * Not thread-safe: one thread owns a watcher.
 */
#ifndef SPANBLK_XPORT_LINK_H
#define SPANBLK_XPORT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct xp_link;

/* Link @ifindex went down (@up false) or came up (@up true). */
typedef void (*xp_link_cb)(void *arg, int ifindex, bool up);

/*
 * Open a netlink socket subscribed to RTNLGRP_LINK (non-blocking), then
 * read every link's state with a dump. @cb runs from xp_link_service()
 * and xp_link_feed() only. NULL with errno set (ENOMEM, or the socket's
 * error, e.g. EPROTONOSUPPORT without rtnetlink).
 */
struct xp_link *xp_link_new(xp_link_cb cb, void *arg);

/* Close the socket and free. Accepts NULL. */
void xp_link_free(struct xp_link *w);

/* The fd to poll for POLLIN. */
int xp_link_fd(const struct xp_link *w);

/*
 * Read every pending notification and report the changes. When the
 * kernel dropped notifications (socket overrun, ENOBUFS), every link is
 * read again with a dump and the differences are reported. Returns 0, or
 * a negative errno when the socket failed (the owner stops polling it).
 */
int xp_link_service(struct xp_link *w);

/*
 * Last known state of @ifindex: 1 up, 0 down, -ENODEV when no such link
 * is known.
 */
int xp_link_state(const struct xp_link *w, int ifindex);

/*
 * The name of @ifindex ("sbr1") in @buf, or "if<ifindex>" when unknown.
 * Returns @buf.
 */
const char *xp_link_name(const struct xp_link *w, int ifindex, char *buf,
			 size_t len);

/*
 * The link holding an address whose prefix contains @dst (AF_INET or
 * AF_INET6), longest prefix first: on a directly attached RDMA network,
 * the link a connection to @dst will use. Read with a dump now (blocking,
 * a few hundred microseconds). The ifindex, -ENOENT when no prefix
 * contains @dst (a routed destination), -EAFNOSUPPORT, or the dump's
 * error.
 */
int xp_link_of_addr(const struct sockaddr *dst);

/*
 * Handle one rtnetlink message of @len bytes at @buf as if it had been
 * received (tests and fuzzing): its header is checked here (length within
 * @len), the rest is libnl's. 0, or -EBADMSG when the header does not fit.
 */
int xp_link_feed(struct xp_link *w, const void *buf, size_t len);

#endif
