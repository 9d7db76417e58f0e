/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking wire-protocol client for host tests: connects to a node on
 * 127.0.0.1, does HELLO and AUTH as a gateway does (checking the node's
 * proof and id), and sends and receives frames one at a time. Requests
 * may be pipelined: tc_client_send returns at once, tc_client_recv takes
 * the next answer, whichever request it belongs to.
 */
#ifndef SPANBLK_TESTS_COMMON_CLIENT_H
#define SPANBLK_TESTS_COMMON_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "xport/auth.h"
#include "xport/proto.h"

struct tc_client {
	int fd; /* -1 when closed */
	uint64_t next_id; /* req_id of the next request */
};

/*
 * Connect to 127.0.0.1:@port with a receive timeout of @timeout_s seconds
 * and authenticate with @secret; the node must answer HELLO as
 * @node_id. 0, or -errno (-EPERM: the node's proof or id is wrong).
 */
int tc_client_open(struct tc_client *c, uint16_t port,
		   const struct xp_secret *secret, uint64_t node_id,
		   int timeout_s);

void tc_client_close(struct tc_client *c);

/*
 * Send request @h (its req_id set here and returned in *@id; payload_len
 * bytes of @payload, sent with DCRC). 0 or -errno.
 */
int tc_client_send(struct tc_client *c, struct xp_hdr *h, const void *payload,
		   uint64_t *id);

/*
 * Receive one answer into @ans and its payload (at most @cap bytes) into
 * @buf. 0, -EAGAIN (timeout), -ECONNRESET, or -EBADMSG for a frame that
 * is malformed, not an answer, too long or whose payload CRC is wrong.
 */
int tc_client_recv(struct tc_client *c, struct xp_hdr *ans, void *buf,
		   size_t cap);

/*
 * One request, one answer (which must be this request's): its status, or
 * a value above every status (UINT32_MAX) when the exchange failed.
 */
uint32_t tc_client_rpc(struct tc_client *c, struct xp_hdr *h,
		       const void *payload, struct xp_hdr *ans, void *buf,
		       size_t cap);

#endif
