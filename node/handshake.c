/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The handshake of a new connection (docs/protocol.md): HELLO agrees on
 * a version and features and exchanges nonces, AUTH proves that the
 * gateway holds the shared secret. It moves the connection through
 * HELLO_WAIT -> AUTH_WAIT -> AUTHED (enum nd_conn_state).
 *
 *   gateway                              node
 *   HELLO (versions, features, nc) ───>
 *                                   <─── HELLO answer (version, features,
 *                                        ns, our proof)
 *   AUTH (its proof) ─────────────────>
 *                                   <─── OK: AUTHED, requests may follow
 *
 * SECURITY: every peer is hostile until AUTH succeeds. Before that only
 * HELLO then AUTH are accepted; anything else, a bad CRC, or a wrong
 * proof closes the connection with no answer (only a HELLO with no
 * common version is answered, EPROTO, before closing).
 *
 * Threading: only the loop thread (single-threaded node, see
 * server_internal.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

static int do_hello(struct nd_conn *nc, const struct xp_hdr *h,
		    const uint8_t *payload)
{
	struct nd_server *s = nc->srv;
	struct xp_hello in, out = {0};
	struct xp_hdr ans;
	struct iovec iov;
	unsigned int lo, hi;
	int ret;

	if (xp_hello_decode(payload, h->payload_len, &in))
		return -EPERM;
	lo = in.min_ver > XP_VERSION_MIN ? in.min_ver : XP_VERSION_MIN;
	hi = in.max_ver < XP_VERSION_MAX ? in.max_ver : XP_VERSION_MAX;
	if (lo > hi) {
		xp_hdr_answer(&ans, h, xp_status_from_errno(-EPROTO));
		(void)nd_conn_send(nc, &ans, NULL, 0, NULL, NULL);
		return -EPROTO;
	}
	memcpy(nc->nc, in.nonce, XP_NONCE_LEN);
	ret = xp_auth_nonce(nc->ns);
	if (ret)
		return ret;
	out.min_ver = (uint8_t)hi;
	out.max_ver = (uint8_t)hi;
	out.features = nd_rdma_usable(s) ? XP_FEAT_RDMA : 0;
	nc->feat_rdma = (out.features & in.features & XP_FEAT_RDMA) != 0;
	nc->gw_id = in.sender_id;
	out.sender_id = s->cfg.id;
	memcpy(out.nonce, nc->ns, XP_NONCE_LEN);
	xp_hello_encode(&out, nc->hello_ans);
	ret = xp_auth_proof(&s->secret, true, nc->nc, nc->ns,
			    nc->hello_ans + XP_HELLO_LEN);
	if (ret)
		return ret;
	xp_hdr_answer(&ans, h, XP_ST_OK);
	ans.payload_len = XP_HELLO_ANSWER_LEN;
	ans.flags |= XP_F_DCRC;
	iov.iov_base = nc->hello_ans;
	iov.iov_len = XP_HELLO_ANSWER_LEN;
	ret = nd_conn_send(nc, &ans, &iov, 1, NULL, NULL);
	if (ret)
		return ret;
	nc->state = ND_CONN_AUTH_WAIT;
	return 0;
}

static int do_auth(struct nd_conn *nc, const struct xp_hdr *h,
		   const uint8_t *payload)
{
	uint8_t want[XP_PROOF_LEN];
	struct xp_hdr ans;
	int ret;

	ret = xp_auth_proof(&nc->srv->secret, false, nc->nc, nc->ns, want);
	if (ret)
		return ret;
	if (!xp_auth_equal(want, payload))
		return -EPERM;
	nc->state = ND_CONN_AUTHED;
	xp_hdr_answer(&ans, h, XP_ST_OK);
	return nd_conn_send(nc, &ans, NULL, 0, NULL, NULL);
}

int nd_handshake(struct nd_conn *nc, const struct xp_hdr *h, uint8_t *payload,
		 bool crc_ok)
{
	int ret = -EPERM;

	if (!crc_ok || (h->flags & XP_F_RESP) || xp_hdr_check(h))
		goto out_free;
	if (h->opcode == XP_OP_HELLO && nc->state == ND_CONN_HELLO_WAIT)
		ret = do_hello(nc, h, payload);
	else if (h->opcode == XP_OP_AUTH && nc->state == ND_CONN_AUTH_WAIT)
		ret = do_auth(nc, h, payload);
out_free:
	free(payload);
	return ret;
}
