/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP socket helpers (see tcp.h). Names resolve with getaddrinfo; the first
 * address that works is used.
 */
#include "tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCK_BUF_BYTES (4 << 20)

static int resolve(const char *host, uint16_t port, bool passive,
		   struct addrinfo **res)
{
	struct addrinfo hints = {0};
	char svc[8];
	int ret;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(svc, sizeof(svc), "%u", port);
	if (host && (!strcmp(host, "*") || !host[0]))
		host = NULL;
	ret = getaddrinfo(host, svc, &hints, res);
	if (ret == EAI_SYSTEM)
		return -errno;
	if (ret == EAI_MEMORY)
		return -ENOMEM;
	return ret ? -EHOSTUNREACH : 0;
}

int xp_tcp_tune(int fd)
{
	int one = 1, buf = SOCK_BUF_BYTES;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	/* Best effort: the kernel caps these at its own limits. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	return 0;
}

/* Bind and listen on @ai: 0 or -errno. */
static int try_listen(int fd, const struct addrinfo *ai, int backlog)
{
	int one = 1;

	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    listen(fd, backlog) == 0)
		return 0;
	return -errno;
}

/* Start a non-blocking connect to @ai: 0 (done or in progress) or -errno. */
static int try_connect(int fd, const struct addrinfo *ai, int unused)
{
	(void)unused;
	(void)xp_tcp_tune(fd);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    errno == EINPROGRESS)
		return 0;
	return -errno;
}

/*
 * A non-blocking socket for the first address of @host:@port on which
 * @use(fd, ai, arg) succeeds: the fd, or the last -errno (@none when
 * there was no address to try).
 */
static int first_socket(const char *host, uint16_t port, bool passive, int none,
			int (*use)(int, const struct addrinfo *, int), int arg)
{
	struct addrinfo *res, *ai;
	int fd = -1, ret;

	ret = resolve(host, port, passive, &res);
	if (ret < 0)
		return ret;
	ret = none;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		ret = use(fd, ai, arg);
		if (ret == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : ret;
}

int xp_tcp_listen(const char *host, uint16_t port, int backlog)
{
	return first_socket(host, port, true, -EADDRNOTAVAIL, try_listen,
			    backlog);
}

int xp_tcp_connect(const char *host, uint16_t port)
{
	return first_socket(host, port, false, -EHOSTUNREACH, try_connect, 0);
}

int xp_tcp_connect_sa(const struct sockaddr *sa, unsigned int len)
{
	int fd, ret;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	(void)xp_tcp_tune(fd);
	if (connect(fd, sa, (socklen_t)len) == 0 || errno == EINPROGRESS)
		return fd;
	ret = -errno;
	close(fd);
	return ret;
}

int xp_tcp_connect_done(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return err ? -err : 0;
}

int xp_tcp_connect_wait(const char *host, uint16_t port, int timeout_ms)
{
	struct pollfd pfd;
	int fd, ret;

	fd = xp_tcp_connect(host, port);
	if (fd < 0)
		return fd;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0) {
		ret = -ETIMEDOUT;
		goto out_close;
	}
	if (ret < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = xp_tcp_connect_done(fd);
	if (ret < 0)
		goto out_close;
	return fd;

out_close:
	close(fd);
	return ret;
}

int xp_tcp_accept(int lfd)
{
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return -errno;
	(void)xp_tcp_tune(fd);
	return fd;
}
