/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the frame decoder and every payload decoder behind it,
 * fed through a real xp_conn over a socketpair so the receive state
 * machine (header, payload, CRC) is exercised as a peer would drive it.
 */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xport/conn.h"
#include "xport/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_frame(void *arg, const struct xp_hdr *h, void *payload,
		    bool crc_ok)
{
	struct xp_hello hl;
	struct xp_lease l;
	struct xp_layout lay;
	struct xp_stat st;
	struct xp_stat_lun luns[4];
	struct xp_rdma_offer of;

	(void)arg;
	(void)crc_ok;
	if (xp_hdr_check(h) == 0 && payload) {
		if (h->opcode == XP_OP_HELLO)
			(void)xp_hello_decode(payload, h->payload_len, &hl);
		if (h->opcode == XP_OP_STAT)
			(void)xp_stat_decode(payload, h->payload_len, &st, luns,
					     4);
		if (h->opcode == XP_OP_RDMA_OFFER)
			(void)xp_rdma_offer_decode(payload, h->payload_len,
						   &of);
		if (h->opcode >= XP_OP_LEASE_ACQUIRE)
			(void)xp_lease_decode(payload, h->payload_len, &l);
		if (h->opcode == XP_OP_LUN_CREATE ||
		    h->opcode == XP_OP_LUN_OPEN)
			(void)xp_layout_decode(payload,
					       XP_LAYOUT_LEN < h->payload_len
						       ? XP_LAYOUT_LEN
						       : h->payload_len,
					       &lay);
	}
	free(payload);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xp_conn *c;
	struct xp_hdr h;
	int sv[2], i;

	/* The bare decoder on the input as one header. */
	if (xp_hdr_decode(data, size, &h) == 0 && xp_hdr_check(&h) == 0 &&
	    h.desc_xport == XP_DESC_RDMA) {
		/* What the check lets through is a descriptor a node may use. */
		if ((h.opcode != XP_OP_READ && h.opcode != XP_OP_WRITE) ||
		    (h.flags & (XP_F_RESP | XP_F_DCRC)) || h.payload_len ||
		    !h.desc_len || h.desc_len != h.length ||
		    h.desc_len > XP_MAX_IO ||
		    h.desc_addr + h.desc_len < h.desc_addr)
			abort();
	}

	if (size > (1u << 16))
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	c = xp_conn_new(sv[1], on_frame, NULL);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	if (write(sv[0], data, size) != (ssize_t)size)
		abort();
	close(sv[0]);
	for (i = 0; i < 1000; i++)
		if (xp_conn_service(c, POLLIN) < 0)
			break;
	xp_conn_free(c);
	return 0;
}
