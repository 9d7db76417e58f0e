/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking socket I/O for tests and test tools that speak the wire
 * protocol frame by frame as a gateway would (tests/host/test_node.c,
 * tests/host/test_rdma_node.c, tests/vm/rdma_forge.c).
 */
#ifndef SPANBLK_TESTS_COMMON_SOCKIO_H
#define SPANBLK_TESTS_COMMON_SOCKIO_H

#include <stddef.h>

/* Send all @len bytes (EINTR retried, no SIGPIPE): 0 or -errno. */
int tc_write_all(int fd, const void *buf, size_t len);

/*
 * Receive exactly @len bytes: 0, -ECONNRESET at end of stream, -EAGAIN
 * when the socket's receive timeout expired, or -errno.
 */
int tc_read_all(int fd, void *buf, size_t len);

#endif
