/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed epoll tags: the one way an epoll loop of the project (the
 * gateway engine's, the node's) knows what a ready fd belongs to.
 *
 * Every object registered in an epoll set embeds a struct sb_evtag and
 * passes its address as the event's data; the loop switches on
 * tag->kind (values are the loop's own enum) and finds the object with
 * container_of(tag, type, member). No search, no fd table.
 *
 *   struct thing { struct sb_evtag tag; ... };
 *   sb_evtag_init(&t->tag, EV_THING);
 *   sb_evtag_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, &t->tag);
 *   ... case EV_THING: t = container_of(tag, struct thing, tag);
 *
 * The tag must outlive its registration: delete the fd from the set (or
 * close it) before freeing the object.
 */
#ifndef SPANBLK_LIB_UTIL_EVTAG_H
#define SPANBLK_LIB_UTIL_EVTAG_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

struct sb_evtag {
	unsigned int kind; /* the owning loop's enum; 0 is never valid */
};

static inline void sb_evtag_init(struct sb_evtag *tag, unsigned int kind)
{
	tag->kind = kind;
}

/*
 * epoll_ctl(@epfd, @op, @fd) with @tag as the event's data (ignored for
 * EPOLL_CTL_DEL). 0 or -errno.
 */
static inline int sb_evtag_ctl(int epfd, int op, int fd, uint32_t events,
			       struct sb_evtag *tag)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};

	return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

/* The tag of a ready event. */
static inline struct sb_evtag *sb_evtag_of(const struct epoll_event *ev)
{
	return ev->data.ptr;
}

#endif
