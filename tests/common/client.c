/* SPDX-License-Identifier: Apache-2.0 */
/* A blocking wire-protocol client for host tests (see client.h). */
#include "client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sockio.h"

static int connect_local(uint16_t port, int timeout_s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = timeout_s};
	int one = 1, fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int tc_client_send(struct tc_client *c, struct xp_hdr *h, const void *payload,
		   uint64_t *id)
{
	uint8_t hb[XP_HDR_LEN];
	int ret;

	h->req_id = c->next_id++;
	if (h->payload_len) {
		h->flags |= XP_F_DCRC;
		h->data_crc = xp_crc32c(payload, h->payload_len);
	}
	xp_hdr_encode(h, hb);
	ret = tc_write_all(c->fd, hb, sizeof(hb));
	if (!ret && h->payload_len)
		ret = tc_write_all(c->fd, payload, h->payload_len);
	if (!ret && id)
		*id = h->req_id;
	return ret;
}

int tc_client_recv(struct tc_client *c, struct xp_hdr *ans, void *buf,
		   size_t cap)
{
	uint8_t hb[XP_HDR_LEN];
	int ret;

	ret = tc_read_all(c->fd, hb, sizeof(hb));
	if (ret)
		return ret;
	if (xp_hdr_decode(hb, sizeof(hb), ans) || xp_hdr_check(ans) ||
	    !(ans->flags & XP_F_RESP) || ans->payload_len > cap)
		return -EBADMSG;
	if (!ans->payload_len)
		return 0;
	ret = tc_read_all(c->fd, buf, ans->payload_len);
	if (ret)
		return ret;
	if (!(ans->flags & XP_F_DCRC) ||
	    xp_crc32c(buf, ans->payload_len) != ans->data_crc)
		return -EBADMSG;
	return 0;
}

uint32_t tc_client_rpc(struct tc_client *c, struct xp_hdr *h,
		       const void *payload, struct xp_hdr *ans, void *buf,
		       size_t cap)
{
	struct xp_hdr a;
	uint64_t id;

	if (tc_client_send(c, h, payload, &id) ||
	    tc_client_recv(c, &a, buf, cap))
		return UINT32_MAX;
	if (a.req_id != id || a.opcode != h->opcode || a.lun_id != h->lun_id)
		return UINT32_MAX;
	if (ans)
		*ans = a;
	return a.status;
}

int tc_client_open(struct tc_client *c, uint16_t port,
		   const struct xp_secret *secret, uint64_t node_id,
		   int timeout_s)
{
	uint8_t nc[XP_NONCE_LEN], pl[XP_HELLO_LEN], ans[XP_HELLO_ANSWER_LEN];
	uint8_t proof[XP_PROOF_LEN];
	struct xp_hello hl = {.min_ver = XP_VERSION_MIN,
			      .max_ver = XP_VERSION_MAX};
	struct xp_hello got;
	struct xp_hdr h, a;
	int ret;

	c->next_id = 1;
	c->fd = connect_local(port, timeout_s);
	if (c->fd < 0)
		return c->fd;
	ret = xp_auth_nonce(nc);
	if (ret)
		goto out_close;
	memcpy(hl.nonce, nc, XP_NONCE_LEN);
	hl.sender_id = 0x7e57;
	xp_hello_encode(&hl, pl);
	xp_hdr_init(&h, XP_OP_HELLO, 0, 0);
	h.payload_len = XP_HELLO_LEN;
	ret = -EPERM;
	if (tc_client_rpc(c, &h, pl, &a, ans, sizeof(ans)) != XP_ST_OK ||
	    a.payload_len != XP_HELLO_ANSWER_LEN ||
	    xp_hello_decode(ans, XP_HELLO_LEN, &got) ||
	    got.sender_id != node_id)
		goto out_close;
	if (xp_auth_proof(secret, true, nc, got.nonce, proof) ||
	    !xp_auth_equal(proof, ans + XP_HELLO_LEN))
		goto out_close;
	if (xp_auth_proof(secret, false, nc, got.nonce, proof))
		goto out_close;
	xp_hdr_init(&h, XP_OP_AUTH, 0, 0);
	h.payload_len = XP_PROOF_LEN;
	if (tc_client_rpc(c, &h, proof, NULL, NULL, 0) != XP_ST_OK)
		goto out_close;
	return 0;

out_close:
	tc_client_close(c);
	return ret;
}

void tc_client_close(struct tc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
