/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the manual-mode RDMA unit tests (tests/unit/test_rdma*.c) share:
 * cmocka fixtures around the fake device and callbacks that record what
 * the transport reported.
 */
#ifndef SPANBLK_TESTS_COMMON_FAKE_RECORDS_H
#define SPANBLK_TESTS_COMMON_FAKE_RECORDS_H

#include <sys/socket.h>

struct xp_rdma_conn;
struct xp_rdma_buf;

/* Fixtures: a fresh manual-mode fake; every object given back. */
int fake_setup(void **state);
int fake_teardown(void **state);

/* A completion callback's calls and last error (done_cb). */
struct done {
	int calls;
	int err;
};
void done_cb(void *arg, int err);

/* A connection's state reports (state_cb). */
struct state_rec {
	int calls;
	int last_err;
	int ups, downs;
	struct xp_rdma_conn *conn;
};
void state_cb(void *arg, struct xp_rdma_conn *c, int err);

/* A pool waiter's wake-ups (buf_cb). */
struct buf_rec {
	int calls;
	struct xp_rdma_buf *buf;
};
void buf_cb(void *arg, struct xp_rdma_buf *b);

/* An AF_INET destination; the fake ignores the address itself. */
struct sockaddr_storage fake_dst_addr(void);

#endif
