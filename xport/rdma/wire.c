/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire codecs of the RDMA transport (docs/protocol.md, "RDMA payload"):
 * the 48-byte private data of the gateway's rdma_cm connect request, and
 * the node's check of a request's data descriptor. The RDMA_OFFER payload
 * is coded in xport/proto.c, with the other opcodes' payloads.
 *
 * Pure functions of their arguments: no state, any thread. The bytes come
 * from a peer: every length is checked before a byte is read, and
 * tests/fuzz/fuzz_rdma.c feeds them arbitrary input.
 */
#include <errno.h>
#include <string.h>

#include "xport/auth.h"
#include "rdma_int.h"

enum {
	PD_MAGIC = 0,
	PD_VERSION = 4,
	PD_RSVD = 5,
	PD_GW_ID = 8,
	PD_TOKEN = 16,
};

_Static_assert(PD_TOKEN + XP_RDMA_TOKEN_LEN == XP_RDMA_PRIV_LEN, "private data "
								 "layout");
_Static_assert(XP_RDMA_PRIV_LEN <= XP_VERBS_PRIV_MAX, "fits a REQ");
_Static_assert(XP_RDMA_TOKEN_LEN == XP_NONCE_LEN, "tokens are nonces");

void xp_rdma_priv_encode(const struct xp_rdma_priv *p, uint8_t *buf)
{
	memset(buf, 0, XP_RDMA_PRIV_LEN);
	xp_put_be32(buf + PD_MAGIC, XP_RDMA_PRIV_MAGIC);
	buf[PD_VERSION] = XP_RDMA_PRIV_VERSION;
	xp_put_be64(buf + PD_GW_ID, p->gateway_id);
	memcpy(buf + PD_TOKEN, p->token, XP_RDMA_TOKEN_LEN);
}

int xp_rdma_priv_decode(const void *data, size_t len, struct xp_rdma_priv *p)
{
	const uint8_t *b = data;

	size_t i;

	/*
	 * On IB and RoCE the passive side gets the REQ's whole private data
	 * area (XP_VERBS_PRIV_MAX bytes), ours then zeros: accept that much
	 * padding, and only zeros in it.
	 */
	if (!b || len < XP_RDMA_PRIV_LEN || len > XP_VERBS_PRIV_MAX)
		return -EBADMSG;
	for (i = XP_RDMA_PRIV_LEN; i < len; i++)
		if (b[i])
			return -EBADMSG;
	if (xp_get_be32(b + PD_MAGIC) != XP_RDMA_PRIV_MAGIC ||
	    b[PD_VERSION] != XP_RDMA_PRIV_VERSION || b[PD_RSVD] ||
	    b[PD_RSVD + 1] || b[PD_RSVD + 2])
		return -EBADMSG;
	p->gateway_id = xp_get_be64(b + PD_GW_ID);
	memcpy(p->token, b + PD_TOKEN, XP_RDMA_TOKEN_LEN);
	return 0;
}

int xp_rdma_desc_from_hdr(const struct xp_hdr *h, struct xp_rdma_desc *d)
{
	uint32_t len = h->desc_len;
	uint64_t addr = h->desc_addr;

	if (h->flags & XP_F_RESP)
		return -EPROTO;
	if (h->opcode != XP_OP_READ && h->opcode != XP_OP_WRITE)
		return -EPROTO;
	if (h->desc_xport != XP_DESC_RDMA || h->payload_len)
		return -EPROTO;
	if (!len || len != h->length || len > XP_MAX_IO)
		return -EPROTO;
	if (addr > UINT64_MAX - len)
		return -EPROTO;
	d->key = h->desc_key;
	d->addr = addr;
	d->len = len;
	return 0;
}
