/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_server: the storage node's event loop and protocol (docs/protocol.md).
 *
 *   epoll ─┬─ listener        accept, register, start the 5 s auth clock
 *          ├─ connections     xp_conn frames -> handshake or requests
 *          ├─ io_uring eventfd  disk completions -> answers
 *          ├─ timerfd         auth timeouts, listener retry, stop deadline
 *          ├─ signalfd        SIGTERM/SIGINT -> graceful stop
 *          └─ stop eventfd    nd_server_stop() from another thread
 *
 * One thread does everything; disk I/O never blocks it (node/io.h). Each
 * connection has at most ND_CONN_MAX_INFLIGHT requests between receipt and
 * the answer leaving the socket; beyond that the connection stops reading
 * (back-pressure), so a fast gateway cannot make the node buffer without
 * bound.
 *
 * Graceful stop: close the listener, stop reading requests, let every
 * request in flight finish and its answer go out (up to
 * ND_STOP_GRACE_MS), fdatasync every LUN, return 0.
 */
#ifndef SPANBLK_NODE_SERVER_H
#define SPANBLK_NODE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/config.h"

#define ND_CONN_MAX_INFLIGHT 128
/* Reading resumes when this few are left (hysteresis: fewer epoll_ctl). */
#define ND_CONN_RESUME_INFLIGHT 96
#define ND_MAX_CONNS 1024
#define ND_STOP_GRACE_MS 5000
#define ND_IO_RING_ENTRIES 256

struct nd_server;

/*
 * Set up a node from @cfg (copied): load the secret, listen, open the
 * store, start the disk engine, block SIGTERM/SIGINT in the calling
 * thread and take them through a signalfd, ignore SIGPIPE. Returns 0
 * with *@out set, or -errno with a one-line reason in @err (nothing is
 * logged, so the caller prints exactly one line).
 */
int nd_server_new(const struct sb_nodecfg *cfg, struct nd_server **out,
		  char *err, size_t errlen);

struct xp_verbs_ops;

/*
 * nd_server_new with the RDMA verbs of @vops (borrowed: static storage or
 * outliving the server; NULL: the real libibverbs/librdmacm table). Unit
 * tests pass a fake device here.
 */
int nd_server_new_verbs(const struct sb_nodecfg *cfg,
			const struct xp_verbs_ops *vops, struct nd_server **out,
			char *err, size_t errlen);

struct xp_kv;

/*
 * Join the cluster store @kv (owned by the server from here on, also on
 * failure): a membership thread registers the node and keeps its lease
 * (node/member.h). nd_server_new does this itself when the config names
 * etcd endpoints; tests pass a fake store. Call before nd_server_run.
 * 0 or -errno with @err filled.
 */
int nd_server_attach_store(struct nd_server *s, struct xp_kv *kv, char *err,
			   size_t errlen);

/* The membership state (ND_MEMBER_*, node/member.h), or -ENOENT without a
 * cluster store; *@incarnation the lease id while registered. Any thread. */
int nd_server_member_state(struct nd_server *s, int64_t *incarnation);

/*
 * Run the loop until SIGTERM, SIGINT or nd_server_stop(), then stop
 * gracefully. Returns 0, or -errno when the loop itself failed (the LUNs
 * are still synced).
 */
int nd_server_run(struct nd_server *s);

/* Ask a running loop to stop gracefully. Safe from any thread. */
void nd_server_stop(struct nd_server *s);

/* The port actually bound (useful when the config asked for port 0). */
unsigned int nd_server_port(const struct nd_server *s);

/* Free everything. Call after nd_server_run returned. Accepts NULL. */
void nd_server_free(struct nd_server *s);

#endif
