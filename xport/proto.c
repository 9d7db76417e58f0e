/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire protocol v1 encoders and decoders (docs/protocol.md). Every field a
 * peer sends is checked here, once: xp_hdr_decode() for framing,
 * xp_hdr_check() for the per-opcode rules, the payload decoders for their
 * own layouts. Nothing else in the project parses wire bytes.
 */
#include "proto.h"

#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <isa-l/crc.h>

/* Header field offsets (docs/protocol.md, "Header"). */
enum {
	H_MAGIC = 0,
	H_VERSION = 4,
	H_OPCODE = 5,
	H_FLAGS = 6,
	H_REQ_ID = 8,
	H_LUN_ID = 16,
	H_OFFSET = 24,
	H_LENGTH = 32,
	H_STATUS = 36,
	H_EPOCH = 40,
	H_PAYLOAD_LEN = 48,
	H_DESC_XPORT = 52,
	H_DESC_FLAGS = 53,
	H_DESC_RSVD = 54,
	H_DESC_KEY = 56,
	H_DESC_LEN = 60,
	H_DESC_ADDR = 64,
	H_DATA_CRC = 72,
	H_HDR_CRC = 76,
};
_Static_assert(H_HDR_CRC + 4 == XP_HDR_LEN, "header layout");
_Static_assert(XP_STAT_FIXED_LEN + (size_t)XP_STAT_MAX_LUNS * XP_STAT_LUN_LEN <=
		       XP_MAX_PAYLOAD,
	       "a full STAT answer fits one frame");
_Static_assert(2 * XP_MAX_CAW <= XP_MAX_PAYLOAD, "CAW fits one frame");

/* RDMA_OFFER answer payload offsets (docs/protocol.md, "RDMA_OFFER"). */
enum {
	OF_TOKEN = 0,
	OF_ADDR = 32,
	OF_PORT = 48,
	OF_RSVD1 = 50,
	OF_TTL = 52,
	OF_MAX_OPS = 56,
	OF_RSVD2 = 60,
};
_Static_assert(OF_RSVD2 + 4 == XP_RDMA_OFFER_LEN, "offer layout");
_Static_assert(XP_RDMA_TOKEN_LEN == XP_NONCE_LEN, "tokens are nonces");

/* CHUNK_PUSH request payload offsets (docs/protocol.md, "CHUNK_PUSH"). */
enum {
	PT_TARGET_ID = 0,
	PT_ADDR = 8,
	PT_PORT = 24,
	PT_RSVD = 26,
};
_Static_assert(PT_RSVD + 6 == XP_PUSH_LEN, "push target layout");

uint32_t xp_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* crc32_iscsi takes an int length: feed it in bounded steps. */
	while (len) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		crc = crc32_iscsi((unsigned char *)p, (int)n, crc);
		p += n;
		len -= n;
	}
	return crc;
}

uint32_t xp_crc32c(const void *buf, size_t len)
{
	return ~xp_crc32c_update(0xFFFFFFFFu, buf, len);
}

void xp_hdr_encode(const struct xp_hdr *h, uint8_t *b)
{
	xp_put_be32(b + H_MAGIC, XP_MAGIC);
	b[H_VERSION] = h->version;
	b[H_OPCODE] = h->opcode;
	xp_put_be16(b + H_FLAGS, h->flags);
	xp_put_be64(b + H_REQ_ID, h->req_id);
	xp_put_be64(b + H_LUN_ID, h->lun_id);
	xp_put_be64(b + H_OFFSET, h->offset);
	xp_put_be32(b + H_LENGTH, h->length);
	xp_put_be32(b + H_STATUS, h->status);
	xp_put_be64(b + H_EPOCH, h->epoch);
	xp_put_be32(b + H_PAYLOAD_LEN, h->payload_len);
	b[H_DESC_XPORT] = h->desc_xport;
	b[H_DESC_FLAGS] = 0;
	xp_put_be16(b + H_DESC_RSVD, 0);
	xp_put_be32(b + H_DESC_KEY, h->desc_key);
	xp_put_be32(b + H_DESC_LEN, h->desc_len);
	xp_put_be64(b + H_DESC_ADDR, h->desc_addr);
	xp_put_be32(b + H_DATA_CRC, h->data_crc);
	xp_put_be32(b + H_HDR_CRC, xp_crc32c(b, H_HDR_CRC));
}

static bool opcode_known(uint8_t op)
{
	switch (op) {
	case XP_OP_HELLO:
	case XP_OP_AUTH:
	case XP_OP_PING:
	case XP_OP_STAT:
	case XP_OP_RDMA_OFFER:
	case XP_OP_LUN_CREATE:
	case XP_OP_LUN_OPEN:
	case XP_OP_LUN_RESIZE:
	case XP_OP_LUN_DELETE:
	case XP_OP_CHUNK_CSUM:
	case XP_OP_CHUNK_PUSH:
	case XP_OP_PUSH_FENCE:
	case XP_OP_READ:
	case XP_OP_WRITE:
	case XP_OP_WRITE_ZEROES:
	case XP_OP_UNMAP:
	case XP_OP_FLUSH:
	case XP_OP_CAW:
	case XP_OP_LEASE_ACQUIRE:
	case XP_OP_LEASE_RENEW:
	case XP_OP_LEASE_RELEASE:
		return true;
	default:
		return false;
	}
}

int xp_hdr_decode(const uint8_t *b, size_t len, struct xp_hdr *h)
{
	if (len < XP_HDR_LEN)
		return -EAGAIN;
	if (xp_get_be32(b + H_MAGIC) != XP_MAGIC)
		return -EBADMSG;
	if (xp_get_be32(b + H_HDR_CRC) != xp_crc32c(b, H_HDR_CRC))
		return -EBADMSG;
	if (b[H_VERSION] != XP_VERSION)
		return -EBADMSG;
	if (!opcode_known(b[H_OPCODE]))
		return -EBADMSG;
	if (xp_get_be16(b + H_FLAGS) & ~XP_F_ALL)
		return -EBADMSG;
	if (b[H_DESC_FLAGS] || xp_get_be16(b + H_DESC_RSVD))
		return -EBADMSG;
	if (b[H_DESC_XPORT] > XP_DESC_RDMA)
		return -EBADMSG;
	if (xp_get_be32(b + H_PAYLOAD_LEN) > XP_MAX_PAYLOAD)
		return -EBADMSG;

	h->version = b[H_VERSION];
	h->opcode = b[H_OPCODE];
	h->flags = xp_get_be16(b + H_FLAGS);
	h->req_id = xp_get_be64(b + H_REQ_ID);
	h->lun_id = xp_get_be64(b + H_LUN_ID);
	h->offset = xp_get_be64(b + H_OFFSET);
	h->length = xp_get_be32(b + H_LENGTH);
	h->status = xp_get_be32(b + H_STATUS);
	h->epoch = xp_get_be64(b + H_EPOCH);
	h->payload_len = xp_get_be32(b + H_PAYLOAD_LEN);
	h->desc_xport = b[H_DESC_XPORT];
	h->desc_key = xp_get_be32(b + H_DESC_KEY);
	h->desc_len = xp_get_be32(b + H_DESC_LEN);
	h->desc_addr = xp_get_be64(b + H_DESC_ADDR);
	h->data_crc = xp_get_be32(b + H_DATA_CRC);
	return 0;
}

static bool range_ok(const struct xp_hdr *h)
{
	return h->offset + h->length >= h->offset;
}

/*
 * A READ or WRITE whose payload an RDMA descriptor names (docs/protocol.md,
 * "Data descriptor with RDMA"). Whether the session has an RDMA
 * connection is the receiver's business; this checks the frame alone.
 */
static int check_rdma_request(const struct xp_hdr *h)
{
	if (h->opcode != XP_OP_READ && h->opcode != XP_OP_WRITE)
		return -EINVAL;
	/* RC's end-to-end CRC covers the transfer: no DCRC with RDMA. */
	if (h->flags & XP_F_DCRC)
		return -EINVAL;
	if (!h->lun_id || !h->length || h->length > XP_MAX_IO || !range_ok(h))
		return -EINVAL;
	if (h->payload_len || h->desc_len != h->length ||
	    h->desc_addr > UINT64_MAX - h->desc_len)
		return -EPROTO;
	return 0;
}

/* CHUNK_CSUM and CHUNK_PUSH: a LUN range of up to XP_MAX_CHUNK_OP. */
static bool chunk_range_ok(const struct xp_hdr *h)
{
	return h->lun_id && h->length && h->length <= XP_MAX_CHUNK_OP &&
	       range_ok(h);
}

static int check_request(const struct xp_hdr *h)
{
	uint16_t fl = h->flags;

	if (h->status != XP_ST_OK)
		return -EINVAL;
	if ((fl & XP_F_FUA) && h->opcode != XP_OP_WRITE &&
	    h->opcode != XP_OP_CAW)
		return -EINVAL;
	if ((fl & XP_F_UNMAP) && h->opcode != XP_OP_WRITE_ZEROES)
		return -EINVAL;
	if (h->desc_xport == XP_DESC_RDMA)
		return check_rdma_request(h);
	if ((fl & XP_F_DCRC) && !h->payload_len)
		return -EINVAL;
	if (h->desc_len || h->desc_key || h->desc_addr)
		return -EINVAL;

	switch (h->opcode) {
	case XP_OP_HELLO:
		return h->payload_len == XP_HELLO_LEN ? 0 : -EINVAL;
	case XP_OP_AUTH:
		return h->payload_len == XP_PROOF_LEN ? 0 : -EINVAL;
	case XP_OP_PING:
		return h->payload_len <= XP_MAX_PING ? 0 : -EINVAL;
	case XP_OP_STAT:
		return h->payload_len == 0 ? 0 : -EINVAL;
	case XP_OP_RDMA_OFFER:
		return !h->lun_id && !h->length && !h->offset && !h->payload_len
			       ? 0
			       : -EINVAL;
	case XP_OP_LUN_CREATE:
		if (!h->lun_id || !h->offset)
			return -EINVAL;
		/* A layout, then a name of 1..XP_LUN_NAME_MAX bytes. */
		return h->payload_len > XP_LAYOUT_LEN &&
				       h->payload_len <=
					       XP_LAYOUT_LEN + XP_LUN_NAME_MAX
			       ? 0
			       : -EINVAL;
	case XP_OP_LUN_RESIZE:
		if (!h->offset)
			return -EINVAL;
		/* fall through */
	case XP_OP_LUN_OPEN:
	case XP_OP_LUN_DELETE:
		return h->lun_id && !h->payload_len ? 0 : -EINVAL;
	case XP_OP_CHUNK_CSUM:
		return chunk_range_ok(h) && !h->payload_len ? 0 : -EINVAL;
	case XP_OP_CHUNK_PUSH:
		return chunk_range_ok(h) && h->payload_len == XP_PUSH_LEN
			       ? 0
			       : -EINVAL;
	case XP_OP_PUSH_FENCE:
		return chunk_range_ok(h) && !h->payload_len && h->epoch
			       ? 0
			       : -EINVAL;
	case XP_OP_READ:
		if (!h->lun_id || h->payload_len || !h->length ||
		    h->length > XP_MAX_IO || !range_ok(h))
			return -EINVAL;
		return 0;
	case XP_OP_WRITE:
		if (!h->lun_id || !h->length || h->length > XP_MAX_IO ||
		    h->payload_len != h->length || !range_ok(h))
			return -EINVAL;
		return 0;
	case XP_OP_WRITE_ZEROES:
	case XP_OP_UNMAP:
		if (!h->lun_id || h->payload_len || !h->length || !range_ok(h))
			return -EINVAL;
		return 0;
	case XP_OP_FLUSH:
		return h->payload_len == 0 ? 0 : -EINVAL;
	case XP_OP_CAW:
		if (!h->lun_id || !h->length || h->length > XP_MAX_CAW ||
		    h->payload_len != 2 * h->length || !range_ok(h))
			return -EINVAL;
		return 0;
	case XP_OP_LEASE_ACQUIRE:
	case XP_OP_LEASE_RENEW:
	case XP_OP_LEASE_RELEASE:
		return h->lun_id && h->payload_len == XP_LEASE_LEN ? 0
								   : -EINVAL;
	default:
		return -EINVAL;
	}
}

static int check_answer(const struct xp_hdr *h)
{
	if (h->flags & (XP_F_FUA | XP_F_UNMAP))
		return -EINVAL;
	if ((h->flags & XP_F_DCRC) && !h->payload_len)
		return -EINVAL;
	if (h->desc_xport != XP_DESC_INLINE || h->desc_len || h->desc_key ||
	    h->desc_addr)
		return -EINVAL;
	if (h->status != XP_ST_OK) {
		/* Only a miscompare explains itself with a payload. */
		if (h->status == XP_ST_MISCOMPARE)
			return h->opcode == XP_OP_CAW && h->payload_len == 8
				       ? 0
				       : -EINVAL;
		return h->payload_len == 0 ? 0 : -EINVAL;
	}
	switch (h->opcode) {
	case XP_OP_HELLO:
		return h->payload_len == XP_HELLO_ANSWER_LEN ? 0 : -EINVAL;
	case XP_OP_PING:
		return h->payload_len <= XP_MAX_PING ? 0 : -EINVAL;
	case XP_OP_STAT:
		return h->payload_len >= XP_STAT_FIXED_LEN ? 0 : -EINVAL;
	case XP_OP_LUN_OPEN:
		/* the layout, then the name */
		return h->payload_len > XP_LAYOUT_LEN &&
				       h->payload_len <=
					       XP_LAYOUT_LEN + XP_LUN_NAME_MAX
			       ? 0
			       : -EINVAL;
	case XP_OP_RDMA_OFFER:
		return h->payload_len == XP_RDMA_OFFER_LEN ? 0 : -EINVAL;
	case XP_OP_CHUNK_CSUM:
		return h->payload_len == XP_CSUM_LEN ? 0 : -EINVAL;
	case XP_OP_CHUNK_PUSH:
		return h->payload_len == XP_PUSH_RESULT_LEN ? 0 : -EINVAL;
	case XP_OP_READ:
		/* 0: the payload went by RDMA (the requester knows which). */
		return h->length && (h->payload_len == h->length ||
				     !h->payload_len)
			       ? 0
			       : -EINVAL;
	default:
		return h->payload_len == 0 ? 0 : -EINVAL;
	}
}

int xp_hdr_check(const struct xp_hdr *h)
{
	return h->flags & XP_F_RESP ? check_answer(h) : check_request(h);
}

void xp_hdr_init(struct xp_hdr *h, uint8_t opcode, uint64_t req_id,
		 uint64_t lun_id)
{
	memset(h, 0, sizeof(*h));
	h->version = XP_VERSION;
	h->opcode = opcode;
	h->req_id = req_id;
	h->lun_id = lun_id;
}

void xp_hdr_answer(struct xp_hdr *ans, const struct xp_hdr *req,
		   uint32_t status)
{
	xp_hdr_init(ans, req->opcode, req->req_id, req->lun_id);
	ans->flags = XP_F_RESP;
	ans->offset = req->offset;
	ans->length = req->length;
	ans->epoch = req->epoch;
	ans->status = status;
}

static const struct {
	int err;
	uint32_t st;
} status_map[] = {
	{0, XP_ST_OK},
	{EINVAL, XP_ST_EINVAL},
	{ENOENT, XP_ST_ENOENT},
	{EEXIST, XP_ST_EEXIST},
	{ERANGE, XP_ST_ERANGE},
	{EIO, XP_ST_EIO},
	{ENOSPC, XP_ST_ENOSPC},
	{XP_EMISCOMPARE, XP_ST_MISCOMPARE},
	{EPERM, XP_ST_EPERM},
	{EPROTO, XP_ST_EPROTO},
	{EBUSY, XP_ST_EBUSY},
	{ESTALE, XP_ST_ESTALE},
	{EAGAIN, XP_ST_EAGAIN},
	{ENOTSUP, XP_ST_ENOTSUP},
	{EBADMSG, XP_ST_EBADMSG},
	{EHOSTUNREACH, XP_ST_EHOSTUNREACH},
	{ETIMEDOUT, XP_ST_ETIMEDOUT},
};

uint32_t xp_status_from_errno(int err)
{
	size_t i;

	if (err < 0)
		err = -err;
	if (err == ENOMEM)
		return XP_ST_EAGAIN;
	if (err == EDQUOT)
		return XP_ST_ENOSPC;
	if (err == EOPNOTSUPP)
		return XP_ST_ENOTSUP;
	for (i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (status_map[i].err == err)
			return status_map[i].st;
	return XP_ST_EIO;
}

int xp_status_to_errno(uint32_t status)
{
	size_t i;

	for (i = 0; i < sizeof(status_map) / sizeof(status_map[0]); i++)
		if (status_map[i].st == status)
			return -status_map[i].err;
	return -EIO;
}

const char *xp_opcode_name(uint8_t op)
{
	switch (op) {
	case XP_OP_HELLO:
		return "HELLO";
	case XP_OP_AUTH:
		return "AUTH";
	case XP_OP_PING:
		return "PING";
	case XP_OP_STAT:
		return "STAT";
	case XP_OP_RDMA_OFFER:
		return "RDMA_OFFER";
	case XP_OP_LUN_CREATE:
		return "LUN_CREATE";
	case XP_OP_LUN_OPEN:
		return "LUN_OPEN";
	case XP_OP_LUN_RESIZE:
		return "LUN_RESIZE";
	case XP_OP_LUN_DELETE:
		return "LUN_DELETE";
	case XP_OP_CHUNK_CSUM:
		return "CHUNK_CSUM";
	case XP_OP_CHUNK_PUSH:
		return "CHUNK_PUSH";
	case XP_OP_PUSH_FENCE:
		return "PUSH_FENCE";
	case XP_OP_READ:
		return "READ";
	case XP_OP_WRITE:
		return "WRITE";
	case XP_OP_WRITE_ZEROES:
		return "WRITE_ZEROES";
	case XP_OP_UNMAP:
		return "UNMAP";
	case XP_OP_FLUSH:
		return "FLUSH";
	case XP_OP_CAW:
		return "COMPARE_AND_WRITE";
	case XP_OP_LEASE_ACQUIRE:
		return "LEASE_ACQUIRE";
	case XP_OP_LEASE_RENEW:
		return "LEASE_RENEW";
	case XP_OP_LEASE_RELEASE:
		return "LEASE_RELEASE";
	default:
		return "UNKNOWN";
	}
}

const char *xp_status_name(uint32_t st)
{
	static const char *const names[] = {
		"OK",		"EINVAL",    "ENOENT",	   "EEXIST",  "ERANGE",
		"EIO",		"ENOSPC",    "MISCOMPARE", "EPERM",   "EPROTO",
		"EBUSY",	"ESTALE",    "EAGAIN",	   "ENOTSUP", "EBADMSG",
		"EHOSTUNREACH", "ETIMEDOUT",
	};

	if (st < sizeof(names) / sizeof(names[0]))
		return names[st];
	return "UNKNOWN";
}

void xp_hello_encode(const struct xp_hello *hl, uint8_t *b)
{
	b[0] = hl->min_ver;
	b[1] = hl->max_ver;
	xp_put_be16(b + 2, 0);
	xp_put_be32(b + 4, hl->features);
	xp_put_be64(b + 8, hl->sender_id);
	memcpy(b + 16, hl->nonce, XP_NONCE_LEN);
}

int xp_hello_decode(const uint8_t *b, size_t len, struct xp_hello *hl)
{
	if (len < XP_HELLO_LEN)
		return -EBADMSG;
	if (xp_get_be16(b + 2) || !b[0] || b[0] > b[1])
		return -EBADMSG;
	hl->min_ver = b[0];
	hl->max_ver = b[1];
	hl->features = xp_get_be32(b + 4);
	hl->sender_id = xp_get_be64(b + 8);
	memcpy(hl->nonce, b + 16, XP_NONCE_LEN);
	return 0;
}

bool xp_layout_valid(const struct xp_layout *l)
{
	return l->chunk_size >= XP_CHUNK_MIN && l->chunk_size <= XP_CHUNK_MAX &&
	       !(l->chunk_size & (l->chunk_size - 1)) && l->replicas >= 1 &&
	       l->replicas <= XP_REPLICAS_MAX;
}

void xp_layout_encode(const struct xp_layout *l, uint8_t *b)
{
	xp_put_be32(b, l->chunk_size);
	b[4] = l->replicas;
	b[5] = 0;
	xp_put_be16(b + 6, 0);
}

int xp_layout_decode(const uint8_t *b, size_t len, struct xp_layout *l)
{
	if (len != XP_LAYOUT_LEN || b[5] || xp_get_be16(b + 6))
		return -EBADMSG;
	l->chunk_size = xp_get_be32(b);
	l->replicas = b[4];
	return xp_layout_valid(l) ? 0 : -EBADMSG;
}

size_t xp_lun_open_encode(const struct xp_layout *l, const char *name,
			  uint8_t *b)
{
	size_t n = strlen(name);

	xp_layout_encode(l, b);
	memcpy(b + XP_LAYOUT_LEN, name, n);
	return XP_LAYOUT_LEN + n;
}

int xp_lun_open_decode(const uint8_t *b, size_t len, struct xp_layout *l,
		       char name[XP_LUN_NAME_MAX + 1])
{
	size_t n;

	if (len <= XP_LAYOUT_LEN || len > XP_LAYOUT_LEN + XP_LUN_NAME_MAX)
		return -EBADMSG;
	n = len - XP_LAYOUT_LEN;
	if (xp_layout_decode(b, XP_LAYOUT_LEN, l) < 0 ||
	    !xp_lun_name_valid((const char *)b + XP_LAYOUT_LEN, n))
		return -EBADMSG;
	memcpy(name, b + XP_LAYOUT_LEN, n);
	name[n] = '\0';
	return 0;
}

void xp_lease_encode(const struct xp_lease *l, uint8_t *b)
{
	xp_put_be64(b, l->holder);
	xp_put_be32(b + 8, l->duration_ms);
	xp_put_be32(b + 12, 0);
}

int xp_lease_decode(const uint8_t *b, size_t len, struct xp_lease *l)
{
	if (len != XP_LEASE_LEN || xp_get_be32(b + 12))
		return -EBADMSG;
	l->holder = xp_get_be64(b);
	l->duration_ms = xp_get_be32(b + 8);
	if (!l->holder)
		return -EBADMSG;
	return 0;
}

void xp_stat_encode(const struct xp_stat *st, uint8_t *b)
{
	const uint64_t ctr[] = {
		st->ops_read,	   st->ops_write,	  st->ops_flush,
		st->ops_unmap,	   st->ops_caw,		  st->bytes_read,
		st->bytes_written, st->bytes_rdma,	  st->bytes_tcp_payload,
		st->conns,	   st->bytes_tcp_control, st->ops_write_fua,
	};
	size_t i;

	_Static_assert(24 + sizeof(ctr) == XP_STAT_FIXED_LEN, "stat layout");
	xp_put_be64(b, st->node_id);
	xp_put_be64(b + 8, st->uptime_s);
	xp_put_be32(b + 16, st->nluns);
	xp_put_be32(b + 20, st->flags);
	for (i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++)
		xp_put_be64(b + 24 + 8 * i, ctr[i]);
}

void xp_stat_lun_encode(const struct xp_stat_lun *e, uint8_t *b)
{
	size_t n = strnlen(e->name, XP_LUN_NAME_MAX);

	xp_put_be64(b, e->lun_id);
	xp_put_be64(b + 8, e->size);
	xp_put_be64(b + 16, e->allocated);
	memset(b + 24, 0, XP_LUN_NAME_MAX);
	memcpy(b + 24, e->name, n);
	xp_layout_encode(&e->layout, b + 24 + XP_LUN_NAME_MAX);
}

bool xp_lun_name_valid(const char *name, size_t len)
{
	size_t i;

	if (!len || len > XP_LUN_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int xp_stat_decode(const uint8_t *b, size_t len, struct xp_stat *st,
		   struct xp_stat_lun *luns, size_t max)
{
	uint32_t n, i;

	if (len < XP_STAT_FIXED_LEN)
		return -EBADMSG;
	n = xp_get_be32(b + 16);
	if (n > XP_STAT_MAX_LUNS ||
	    len != XP_STAT_FIXED_LEN + (size_t)n * XP_STAT_LUN_LEN)
		return -EBADMSG;
	st->node_id = xp_get_be64(b);
	st->uptime_s = xp_get_be64(b + 8);
	st->nluns = n;
	st->flags = xp_get_be32(b + 20);
	st->ops_read = xp_get_be64(b + 24);
	st->ops_write = xp_get_be64(b + 32);
	st->ops_flush = xp_get_be64(b + 40);
	st->ops_unmap = xp_get_be64(b + 48);
	st->ops_caw = xp_get_be64(b + 56);
	st->bytes_read = xp_get_be64(b + 64);
	st->bytes_written = xp_get_be64(b + 72);
	st->bytes_rdma = xp_get_be64(b + 80);
	st->bytes_tcp_payload = xp_get_be64(b + 88);
	st->conns = xp_get_be64(b + 96);
	st->bytes_tcp_control = xp_get_be64(b + 104);
	st->ops_write_fua = xp_get_be64(b + 112);

	for (i = 0; i < n; i++) {
		const uint8_t *e =
			b + XP_STAT_FIXED_LEN + (size_t)i * XP_STAT_LUN_LEN;
		size_t nl = strnlen((const char *)e + 24, XP_LUN_NAME_MAX);
		struct xp_layout lay;

		if (!xp_lun_name_valid((const char *)e + 24, nl))
			return -EBADMSG;
		if (xp_layout_decode(e + 24 + XP_LUN_NAME_MAX, XP_LAYOUT_LEN,
				     &lay) < 0)
			return -EBADMSG;
		if (i >= max)
			continue;
		luns[i].layout = lay;
		luns[i].lun_id = xp_get_be64(e);
		luns[i].size = xp_get_be64(e + 8);
		luns[i].allocated = xp_get_be64(e + 16);
		memcpy(luns[i].name, e + 24, nl);
		luns[i].name[nl] = '\0';
	}
	return (int)n;
}

void xp_rdma_offer_encode(const struct xp_rdma_offer *o, uint8_t *buf)
{
	memset(buf, 0, XP_RDMA_OFFER_LEN);
	memcpy(buf + OF_TOKEN, o->token, XP_RDMA_TOKEN_LEN);
	memcpy(buf + OF_ADDR, o->addr, sizeof(o->addr));
	xp_put_be16(buf + OF_PORT, o->port);
	xp_put_be32(buf + OF_TTL, o->ttl_ms);
	xp_put_be32(buf + OF_MAX_OPS, o->max_ops);
}

int xp_rdma_offer_decode(const uint8_t *buf, size_t len,
			 struct xp_rdma_offer *o)
{
	uint32_t ttl;
	uint16_t port;

	if (len != XP_RDMA_OFFER_LEN)
		return -EBADMSG;
	if (xp_get_be16(buf + OF_RSVD1) || xp_get_be32(buf + OF_RSVD2))
		return -EBADMSG;
	port = xp_get_be16(buf + OF_PORT);
	ttl = xp_get_be32(buf + OF_TTL);
	if (!port || !ttl || ttl > XP_RDMA_TOKEN_TTL_MS)
		return -EBADMSG;
	memcpy(o->token, buf + OF_TOKEN, XP_RDMA_TOKEN_LEN);
	memcpy(o->addr, buf + OF_ADDR, sizeof(o->addr));
	o->port = port;
	o->ttl_ms = ttl;
	o->max_ops = xp_get_be32(buf + OF_MAX_OPS);
	return 0;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

unsigned int xp_addr_sockaddr(const uint8_t addr[16], uint16_t port,
			      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (!memcmp(addr, v4mapped, sizeof(v4mapped))) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr + 12, 4);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		return sizeof(*sin6);
	}
}

void xp_rdma_offer_sockaddr(const struct xp_rdma_offer *o,
			    struct sockaddr_storage *ss)
{
	(void)xp_addr_sockaddr(o->addr, o->port, ss);
}

void xp_csum_encode(const struct xp_csum *c, uint8_t *buf)
{
	xp_put_be32(buf, c->crc);
	xp_put_be32(buf + 4, 0);
	xp_put_be64(buf + 8, c->data_bytes);
}

int xp_csum_decode(const uint8_t *buf, size_t len, uint32_t length,
		   struct xp_csum *c)
{
	if (len != XP_CSUM_LEN || xp_get_be32(buf + 4))
		return -EBADMSG;
	if (xp_get_be64(buf + 8) > length)
		return -EBADMSG;
	c->crc = xp_get_be32(buf);
	c->data_bytes = xp_get_be64(buf + 8);
	return 0;
}

void xp_push_target_encode(const struct xp_push_target *t, uint8_t *buf)
{
	memset(buf, 0, XP_PUSH_LEN);
	xp_put_be64(buf + PT_TARGET_ID, t->target_id);
	memcpy(buf + PT_ADDR, t->addr, sizeof(t->addr));
	xp_put_be16(buf + PT_PORT, t->port);
}

/* An address a node can listen on: not unspecified, multicast, broadcast. */
static bool node_addr_ok(const uint8_t a[16])
{
	static const uint8_t zero[16];

	if (!memcmp(a, zero, sizeof(zero)) || a[0] == 0xff)
		return false;
	if (!memcmp(a, v4mapped, sizeof(v4mapped))) {
		uint32_t v4 = xp_get_be32(a + 12);

		/* 0.0.0.0, 224.0.0.0/4 (multicast), 255.255.255.255 */
		return v4 && (v4 >> 28) != 0xe && v4 != 0xFFFFFFFFu;
	}
	return true;
}

int xp_push_target_decode(const uint8_t *buf, size_t len,
			  struct xp_push_target *t)
{
	size_t i;

	if (len != XP_PUSH_LEN)
		return -EBADMSG;
	for (i = PT_RSVD; i < XP_PUSH_LEN; i++)
		if (buf[i])
			return -EBADMSG;
	t->target_id = xp_get_be64(buf + PT_TARGET_ID);
	memcpy(t->addr, buf + PT_ADDR, sizeof(t->addr));
	t->port = xp_get_be16(buf + PT_PORT);
	if (!t->target_id || !t->port || !node_addr_ok(t->addr))
		return -EBADMSG;
	return 0;
}

void xp_push_result_encode(const struct xp_push_result *r, uint8_t *buf)
{
	xp_put_be64(buf, r->bytes_data);
	xp_put_be64(buf + 8, r->bytes_zero);
}

int xp_push_result_decode(const uint8_t *buf, size_t len, uint32_t length,
			  struct xp_push_result *r)
{
	uint64_t d, z;

	if (len != XP_PUSH_RESULT_LEN)
		return -EBADMSG;
	d = xp_get_be64(buf);
	z = xp_get_be64(buf + 8);
	/* Each at most @length, so the sum cannot wrap. */
	if (d > length || z > length || d + z != length)
		return -EBADMSG;
	r->bytes_data = d;
	r->bytes_zero = z;
	return 0;
}
