/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP socket helpers: the only place besides xport/conn.c that touches
 * sockets. All return a file descriptor or 0 on success, a negative errno
 * on failure.
 */
#ifndef SPANBLK_XPORT_TCP_H
#define SPANBLK_XPORT_TCP_H

#include <stdint.h>

/*
 * Listen on @host:@port (numeric IPv4/IPv6 or a name; "*" or "" for every
 * address). SO_REUSEADDR is set so a restarted node can bind at once; a
 * port that another process holds gives -EADDRINUSE.
 */
int xp_tcp_listen(const char *host, uint16_t port, int backlog);

/*
 * Start a non-blocking connect to @host:@port. Returns the fd (the connect
 * may still be in progress: wait for POLLOUT, then xp_tcp_connect_done), or
 * a negative errno (-EHOSTUNREACH when the name does not resolve).
 */
int xp_tcp_connect(const char *host, uint16_t port);

struct sockaddr;

/*
 * Start a non-blocking connect to the numeric address @sa (@len bytes):
 * no name resolution, so an event loop may call it. The fd (connected
 * or in progress, as xp_tcp_connect) or -errno.
 */
int xp_tcp_connect_sa(const struct sockaddr *sa, unsigned int len);

/* After POLLOUT on a connecting fd: 0 when connected, else -errno. */
int xp_tcp_connect_done(int fd);

/* Blocking connect with a timeout in ms, for tools. fd or -errno. */
int xp_tcp_connect_wait(const char *host, uint16_t port, int timeout_ms);

/* Accept one connection, non-blocking, tuned. fd or -errno (-EAGAIN). */
int xp_tcp_accept(int lfd);

/* TCP_NODELAY and socket buffer sizes for the data path. */
int xp_tcp_tune(int fd);

#endif
