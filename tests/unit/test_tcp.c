/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of xport/tcp.c on 127.0.0.1: listen, connect, accept, the
 * errors an administrator sees (port in use, unknown host, refused). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "xport/tcp.h"

static uint16_t port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* Accept a connection on listening socket @lfd (waiting up to 1 s). */
static int accept_wait(int lfd)
{
	int afd = -EAGAIN, i;

	for (i = 0; i < 200 && afd == -EAGAIN; i++) {
		afd = xp_tcp_accept(lfd);
		if (afd == -EAGAIN)
			usleep(5000);
	}
	assert_true(afd >= 0);
	return afd;
}

static void test_listen_connect_accept(void **state)
{
	int lfd, cfd, afd, one = 0;
	socklen_t len = sizeof(one);
	uint16_t port;

	(void)state;
	lfd = xp_tcp_listen("127.0.0.1", 0, 16);
	assert_true(lfd >= 0);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	port = port_of(lfd);
	assert_int_equal(xp_tcp_accept(lfd), -EAGAIN);

	cfd = xp_tcp_connect_wait("127.0.0.1", port, 2000);
	assert_true(cfd >= 0);
	afd = accept_wait(lfd);
	assert_int_equal(getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &one, &len),
			 0);
	assert_int_equal(one, 1);
	assert_int_equal(write(cfd, "x", 1), 1);
	close(afd);
	close(cfd);
	close(lfd);
}

static void test_port_in_use(void **state)
{
	int lfd, lfd2;

	(void)state;
	lfd = xp_tcp_listen("127.0.0.1", 0, 4);
	assert_true(lfd >= 0);
	lfd2 = xp_tcp_listen("127.0.0.1", port_of(lfd), 4);
	assert_int_equal(lfd2, -EADDRINUSE);
	close(lfd);
}

static void test_errors(void **state)
{
	int lfd, fd;
	uint16_t port;

	(void)state;
	/* A port nobody listens on: refused. */
	lfd = xp_tcp_listen("127.0.0.1", 0, 1);
	port = port_of(lfd);
	close(lfd);
	assert_int_equal(xp_tcp_connect_wait("127.0.0.1", port, 2000),
			 -ECONNREFUSED);
	/* A name that does not resolve. */
	fd = xp_tcp_connect("no-such-host.invalid", 7400);
	assert_int_equal(fd, -EHOSTUNREACH);
	assert_true(xp_tcp_listen("no-such-host.invalid", 7400, 1) < 0);
}

/* Connect to the numeric address @sa, wait for the result. */
static int connect_sa_wait(const struct sockaddr_in *sa)
{
	struct pollfd pfd;
	int fd, ret;

	fd = xp_tcp_connect_sa((const struct sockaddr *)sa, sizeof(*sa));
	if (fd < 0)
		return fd;
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	ret = xp_tcp_connect_done(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static void test_connect_sa(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int lfd, cfd, afd;

	(void)state;
	lfd = xp_tcp_listen("127.0.0.1", 0, 4);
	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port_of(lfd));
	cfd = connect_sa_wait(&sa);
	assert_true(cfd >= 0);
	afd = accept_wait(lfd);
	close(afd);
	close(cfd);
	close(lfd);
	/* Nobody listens any more: refused. */
	assert_int_equal(connect_sa_wait(&sa), -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_connect_accept),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_connect_sa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
