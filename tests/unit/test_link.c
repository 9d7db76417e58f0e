/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of xport/link.c: rtnetlink messages built with libnl's own
 * constructors fed to the watcher (new, changed, deleted, bridge-port and
 * malformed), then real notifications: in a network namespace of its own
 * the test takes "lo" up and down and watches the reports, including after
 * an overrun of the socket's receive buffer. The namespace part skips with
 * the reason when it cannot create one (not root).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>

#include "xport/link.h"

#define TEST_IFINDEX 4242

struct seen {
	int n; /* reports */
	int ifindex; /* of the last one */
	bool up;
};

static void on_link(void *arg, int ifindex, bool up)
{
	struct seen *s = arg;

	s->n++;
	s->ifindex = ifindex;
	s->up = up;
}

/* An RTM_NEWLINK (or DELLINK) for TEST_IFINDEX, built by libnl. */
static int feed_link(struct xp_link *w, unsigned int flags, int family,
		     bool del)
{
	struct rtnl_link *l = rtnl_link_alloc();
	struct nl_msg *msg = NULL;
	int ret;

	assert_non_null(l);
	rtnl_link_set_ifindex(l, TEST_IFINDEX);
	rtnl_link_set_name(l, "sbt0");
	rtnl_link_set_family(l, family);
	if (flags)
		rtnl_link_set_flags(l, flags);
	if (del)
		assert_int_equal(rtnl_link_build_delete_request(l, &msg), 0);
	else
		assert_int_equal(rtnl_link_build_add_request(l, 0, &msg), 0);
	if (!del)
		assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, RTM_NEWLINK);
	ret = xp_link_feed(w, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
	rtnl_link_put(l);
	return ret;
}

static void test_feed(void **state)
{
	struct seen s = {0};
	struct xp_link *w;
	char name[IFNAMSIZ + 8];

	(void)state;
	w = xp_link_new(on_link, &s);
	assert_non_null(w);
	assert_true(xp_link_fd(w) >= 0);
	assert_int_equal(xp_link_state(w, TEST_IFINDEX), -ENODEV);
	assert_string_equal(xp_link_name(w, TEST_IFINDEX, name, sizeof(name)),
			    "if4242");

	/* A new link that is up: reported once. */
	assert_int_equal(feed_link(w, IFF_UP | IFF_RUNNING, AF_UNSPEC, false),
			 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ifindex, TEST_IFINDEX);
	assert_true(s.up);
	assert_int_equal(xp_link_state(w, TEST_IFINDEX), 1);
	assert_string_equal(xp_link_name(w, TEST_IFINDEX, name, sizeof(name)),
			    "sbt0");
	assert_int_equal(feed_link(w, IFF_UP | IFF_RUNNING, AF_UNSPEC, false),
			 0);
	assert_int_equal(s.n, 1);

	/* Administratively up but no carrier: down. */
	assert_int_equal(feed_link(w, IFF_UP, AF_UNSPEC, false), 0);
	assert_int_equal(s.n, 2);
	assert_false(s.up);
	assert_int_equal(xp_link_state(w, TEST_IFINDEX), 0);

	/* A bridge-port notification says nothing about the link. */
	assert_int_equal(feed_link(w, IFF_UP | IFF_RUNNING, AF_BRIDGE, false),
			 0);
	assert_int_equal(s.n, 2);

	/* Up again, then deleted: reported down, then unknown. */
	assert_int_equal(feed_link(w, IFF_UP | IFF_RUNNING, AF_UNSPEC, false),
			 0);
	assert_int_equal(s.n, 3);
	assert_true(s.up);
	assert_int_equal(feed_link(w, 0, AF_UNSPEC, true), 0);
	assert_int_equal(s.n, 4);
	assert_false(s.up);
	assert_int_equal(xp_link_state(w, TEST_IFINDEX), -ENODEV);
	/* A new link that is down is not a change. */
	assert_int_equal(feed_link(w, IFF_UP, AF_UNSPEC, false), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(xp_link_state(w, TEST_IFINDEX), 0);

	xp_link_free(w);
	xp_link_free(NULL);
}

static void test_feed_malformed(void **state)
{
	struct seen s = {0};
	struct xp_link *w;
	union {
		struct nlmsghdr h;
		uint8_t b[64];
	} m;

	(void)state;
	w = xp_link_new(on_link, &s);
	assert_non_null(w);
	memset(&m, 0, sizeof(m));
	/* Shorter than a header. */
	assert_int_equal(xp_link_feed(w, m.b, 8), -EBADMSG);
	/* Header claims more than was given, or less than itself. */
	m.h.nlmsg_len = 64;
	m.h.nlmsg_type = RTM_NEWLINK;
	assert_int_equal(xp_link_feed(w, m.b, 32), -EBADMSG);
	m.h.nlmsg_len = 8;
	assert_int_equal(xp_link_feed(w, m.b, 64), -EBADMSG);
	/* A NEWLINK too short for its ifinfomsg: libnl refuses it. */
	m.h.nlmsg_len = NLMSG_HDRLEN + 4;
	assert_int_equal(xp_link_feed(w, m.b, 64), 0);
	/* Not a link message at all. */
	m.h.nlmsg_len = 64;
	m.h.nlmsg_type = RTM_NEWADDR;
	assert_int_equal(xp_link_feed(w, m.b, 64), 0);
	assert_int_equal(s.n, 0);
	xp_link_free(w);
}

/* Set or clear IFF_UP on "lo" of this namespace. */
static void lo_set(bool up)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

/* Service @w until @s has @want reports or 2 s passed. */
static void wait_reports(struct xp_link *w, struct seen *s, int want)
{
	struct pollfd p = {.fd = xp_link_fd(w), .events = POLLIN};
	int i;

	for (i = 0; i < 200 && s->n < want; i++) {
		poll(&p, 1, 10);
		assert_int_equal(xp_link_service(w), 0);
	}
}

static void test_netns(void **state)
{
	struct seen s = {0};
	struct xp_link *w;
	int lo, rcv = 1, i;

	(void)state;
	if (unshare(CLONE_NEWNET)) {
		char why[128];

		snprintf(why, sizeof(why),
			 "SKIP no network namespace of our own: %s",
			 strerror(errno));
		print_message("%s\n", why);
		skip();
	}
	lo = (int)if_nametoindex("lo");
	assert_true(lo > 0);
	w = xp_link_new(on_link, &s);
	assert_non_null(w);
	/* A fresh namespace's lo is down; nothing reported at creation. */
	assert_int_equal(xp_link_state(w, lo), 0);
	assert_int_equal(xp_link_service(w), 0);
	assert_int_equal(s.n, 0);

	lo_set(true);
	wait_reports(w, &s, 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ifindex, lo);
	assert_true(s.up);
	assert_int_equal(xp_link_state(w, lo), 1);

	/* lo holds 127.0.0.1/8 now: the link of any 127/8 address. */
	{
		struct sockaddr_in in = {.sin_family = AF_INET};
		struct sockaddr un = {.sa_family = AF_UNIX};

		in.sin_addr.s_addr = htonl(0x7f000005);
		assert_int_equal(xp_link_of_addr((struct sockaddr *)&in), lo);
		in.sin_addr.s_addr = htonl(0x0a010203);
		assert_int_equal(xp_link_of_addr((struct sockaddr *)&in),
				 -ENOENT);
		assert_int_equal(xp_link_of_addr(&un), -EAFNOSUPPORT);
	}

	lo_set(false);
	wait_reports(w, &s, 2);
	assert_int_equal(s.n, 2);
	assert_false(s.up);

	/*
	 * Overrun: a tiny receive buffer and many changes before the next
	 * service; the watcher reads every link again and ends on the
	 * truth (lo up), whatever it lost.
	 */
	assert_int_equal(setsockopt(xp_link_fd(w), SOL_SOCKET, SO_RCVBUF, &rcv,
				    sizeof(rcv)),
			 0);
	for (i = 0; i <= 200; i++)
		lo_set(i % 2 == 0);
	assert_int_equal(xp_link_service(w), 0);
	assert_true(s.n >= 3);
	assert_true(s.up);
	assert_int_equal(xp_link_state(w, lo), 1);
	xp_link_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feed),
		cmocka_unit_test(test_feed_malformed),
		cmocka_unit_test(test_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
