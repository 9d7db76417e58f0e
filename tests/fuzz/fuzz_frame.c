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

/*
 * The payloads of CHUNK_CSUM and CHUNK_PUSH: what a decoder accepts keeps
 * the promises docs/protocol.md makes, and encodes back to the same bytes.
 */
static void chunk_payloads(const struct xp_hdr *h, const uint8_t *p)
{
	static const uint8_t zero[16];
	struct xp_push_target t;
	struct xp_push_result r;
	struct xp_csum c;
	uint8_t again[XP_PUSH_LEN];

	if (xp_push_target_decode(p, h->payload_len, &t) == 0) {
		if (!t.target_id || !t.port || !memcmp(t.addr, zero, 16) ||
		    t.addr[0] == 0xff)
			abort();
		xp_push_target_encode(&t, again);
		if (memcmp(again, p, XP_PUSH_LEN))
			abort();
	}
	if (xp_push_result_decode(p, h->payload_len, h->length, &r) == 0) {
		if (r.bytes_data + r.bytes_zero != h->length)
			abort();
		xp_push_result_encode(&r, again);
		if (memcmp(again, p, XP_PUSH_RESULT_LEN))
			abort();
	}
	if (xp_csum_decode(p, h->payload_len, h->length, &c) == 0) {
		if (c.data_bytes > h->length)
			abort();
		xp_csum_encode(&c, again);
		if (memcmp(again, p, XP_CSUM_LEN))
			abort();
	}
}

static int on_frame(void *arg, const struct xp_hdr *h, void *payload,
		    bool crc_ok)
{
	struct xp_hello hl;
	struct xp_lease l;
	struct xp_layout lay;
	char name[XP_LUN_NAME_MAX + 1];
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
		if (h->opcode == XP_OP_CHUNK_CSUM ||
		    h->opcode == XP_OP_CHUNK_PUSH)
			chunk_payloads(h, payload);
		if (h->opcode >= XP_OP_LEASE_ACQUIRE)
			(void)xp_lease_decode(payload, h->payload_len, &l);
		if (h->opcode == XP_OP_LUN_OPEN)
			(void)xp_lun_open_decode(payload, h->payload_len, &lay,
						 name);
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
	    !(h.flags & XP_F_RESP) &&
	    (h.opcode == XP_OP_CHUNK_CSUM || h.opcode == XP_OP_CHUNK_PUSH)) {
		/* A chunk request the edge lets through is a sane range. */
		if (!h.lun_id || !h.length || h.length > XP_MAX_CHUNK_OP ||
		    h.offset + h.length < h.offset ||
		    h.payload_len !=
			    (h.opcode == XP_OP_CHUNK_PUSH ? XP_PUSH_LEN : 0))
			abort();
	}
	/* The chunk payload decoders straight on the input: a length, then
	 * the payload (no framing, so no CRC stands in the way). */
	if (size >= 4 && size - 4 <= XP_PUSH_LEN) {
		memset(&h, 0, sizeof(h));
		h.length = xp_get_be32(data);
		h.payload_len = (uint32_t)(size - 4);
		chunk_payloads(&h, data + 4);
	}
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
