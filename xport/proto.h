/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spanblk wire protocol v1: frame header, payload layouts and their one
 * encoder and one decoder each. docs/protocol.md is the specification.
 *
 *   gateway                                node
 *     | HELLO(min,max,Nc) --------------------> |
 *     | <------------- HELLO(v,Ns)+node proof   |
 *     | AUTH(client proof) -------------------> |
 *     | <----------------------------- AUTH ok  |
 *     | READ/WRITE/... (req_id n) ------------> |   pipelined, answered
 *     | <------------------ answer (req_id n)   |   in any order
 */
#ifndef SPANBLK_XPORT_PROTO_H
#define SPANBLK_XPORT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_MAGIC 0x53424C4Bu /* "SBLK" */
#define XP_VERSION 1
#define XP_VERSION_MIN 1
#define XP_VERSION_MAX 1
#define XP_HDR_LEN 80
#define XP_MAX_IO (4u << 20)
#define XP_MAX_PAYLOAD XP_MAX_IO
#define XP_MAX_CAW (1u << 20)
#define XP_MAX_PING 4096
#define XP_NONCE_LEN 32
#define XP_PROOF_LEN 32
#define XP_HELLO_LEN 48
#define XP_HELLO_ANSWER_LEN (XP_HELLO_LEN + XP_PROOF_LEN)
#define XP_LEASE_LEN 16
#define XP_LAYOUT_LEN 8
#define XP_CHUNK_MIN (64u << 10)
#define XP_CHUNK_MAX (1u << 30)
#define XP_REPLICAS_MAX 64
#define XP_LUN_NAME_MAX 64
#define XP_STAT_FIXED_LEN 120
#define XP_STAT_LUN_LEN 96
#define XP_STAT_MAX_LUNS 4096
#define XP_AUTH_TIMEOUT_MS 5000
#define XP_RDMA_TOKEN_LEN 32
#define XP_RDMA_OFFER_LEN 64
#define XP_RDMA_TOKEN_TTL_MS 5000
#define XP_MAX_CHUNK_OP (64u << 20) /* CHUNK_CSUM, CHUNK_PUSH length */
#define XP_CSUM_LEN 16
#define XP_PUSH_LEN 32
#define XP_PUSH_RESULT_LEN 16
#define XP_PUSH_SEQ_BITS 20 /* push epoch: store revision << 20 | sequence */

enum xp_opcode {
	XP_OP_HELLO = 1,
	XP_OP_AUTH = 2,
	XP_OP_PING = 3,
	XP_OP_STAT = 4,
	XP_OP_RDMA_OFFER = 5,
	XP_OP_LUN_CREATE = 16,
	XP_OP_LUN_OPEN = 17,
	XP_OP_LUN_RESIZE = 18,
	XP_OP_LUN_DELETE = 19,
	XP_OP_CHUNK_CSUM = 20,
	XP_OP_CHUNK_PUSH = 21,
	XP_OP_PUSH_FENCE = 22,
	XP_OP_READ = 32,
	XP_OP_WRITE = 33,
	XP_OP_WRITE_ZEROES = 34,
	XP_OP_UNMAP = 35,
	XP_OP_FLUSH = 36,
	XP_OP_CAW = 37,
	XP_OP_LEASE_ACQUIRE = 48,
	XP_OP_LEASE_RENEW = 49,
	XP_OP_LEASE_RELEASE = 50,
};

#define XP_F_RESP 0x0001u
#define XP_F_FUA 0x0002u
#define XP_F_DCRC 0x0004u
#define XP_F_UNMAP 0x0008u
#define XP_F_ALL (XP_F_RESP | XP_F_FUA | XP_F_DCRC | XP_F_UNMAP)

enum xp_desc_xport {
	XP_DESC_INLINE = 0,
	XP_DESC_RDMA = 1,
};

/* Wire status values (docs/protocol.md, "Status values"). */
enum xp_status {
	XP_ST_OK = 0,
	XP_ST_EINVAL = 1,
	XP_ST_ENOENT = 2,
	XP_ST_EEXIST = 3,
	XP_ST_ERANGE = 4,
	XP_ST_EIO = 5,
	XP_ST_ENOSPC = 6,
	XP_ST_MISCOMPARE = 7,
	XP_ST_EPERM = 8,
	XP_ST_EPROTO = 9,
	XP_ST_EBUSY = 10,
	XP_ST_ESTALE = 11,
	XP_ST_EAGAIN = 12,
	XP_ST_ENOTSUP = 13,
	XP_ST_EBADMSG = 14,
	XP_ST_EHOSTUNREACH = 15,
	XP_ST_ETIMEDOUT = 16,
};

/*
 * -EILSEQ is what the project uses internally for "COMPARE AND WRITE
 * miscompare" (no errno names it better); the mapping below is the only
 * place that knows.
 */
#define XP_EMISCOMPARE EILSEQ

/* Decoded frame header, host byte order. One line per wire field. */
struct xp_hdr {
	uint8_t version; /* frame format version */
	uint8_t opcode; /* enum xp_opcode */
	uint16_t flags; /* XP_F_* */
	uint64_t req_id; /* requester's id, echoed in the answer */
	uint64_t lun_id; /* LUN, 0 for node-wide operations */
	uint64_t offset; /* byte offset; new size for LUN_CREATE/RESIZE */
	uint32_t length; /* bytes the operation covers */
	uint32_t status; /* enum xp_status, answers only */
	uint64_t epoch; /* lease epoch held by the requester */
	uint32_t payload_len; /* inline payload bytes after the header */
	uint8_t desc_xport; /* enum xp_desc_xport */
	uint32_t desc_key; /* remote key, RDMA only */
	uint32_t desc_len; /* bytes described, 0 when inline */
	uint64_t desc_addr; /* address in the requester's region */
	uint32_t data_crc; /* CRC32C of the payload when XP_F_DCRC */
};

/* hello payload (48 bytes); the node's answer appends its 32-byte proof. */
struct xp_hello {
	uint8_t min_ver;
	uint8_t max_ver;
	uint32_t features; /* XP_FEAT_* */
	uint64_t sender_id; /* gateway: random; node: node id */
	uint8_t nonce[XP_NONCE_LEN];
};
#define XP_FEAT_RDMA 0x1u

/* How a LUN's chunks are placed; recorded with the LUN on every node. */
struct xp_layout {
	uint32_t chunk_size; /* power of two, XP_CHUNK_MIN..XP_CHUNK_MAX */
	uint8_t replicas; /* copies of each chunk, 1..XP_REPLICAS_MAX */
};

struct xp_lease {
	uint64_t holder; /* holder id chosen by the gateway */
	uint32_t duration_ms; /* lease length from the node's receipt */
};

/* Fixed part of a STAT answer. */
struct xp_stat {
	uint64_t node_id;
	uint64_t uptime_s;
	uint32_t nluns; /* LUN entries that follow, <= XP_STAT_MAX_LUNS */
	uint32_t flags; /* XP_STAT_F_* */
	uint64_t ops_read;
	uint64_t ops_write;
	uint64_t ops_flush;
	uint64_t ops_unmap;
	uint64_t ops_caw;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t bytes_rdma; /* payload bytes moved by RDMA */
	uint64_t bytes_tcp_payload; /* payload bytes moved inline on TCP */
	uint64_t conns; /* connections open now */
	uint64_t bytes_tcp_control; /* frame headers on TCP, both directions */
	uint64_t ops_write_fua; /* WRITE and CAW with FUA, written RWF_DSYNC */
};
#define XP_STAT_F_RDMA 0x1u /* the node listens for RDMA connections */
#define XP_STAT_F_RDMA_SESSION 0x2u /* this session's payload moves by RDMA */

/* The answer payload of RDMA_OFFER (node to gateway). */
struct xp_rdma_offer {
	uint8_t token[XP_RDMA_TOKEN_LEN]; /* one-time token */
	uint8_t addr[16]; /* IPv6 form; IPv4 as ::ffff:a.b.c.d */
	uint16_t port; /* rdma_cm port */
	uint32_t ttl_ms; /* token validity, <= XP_RDMA_TOKEN_TTL_MS */
	uint32_t max_ops; /* RDMA operations the node keeps in flight */
};

/* The answer payload of CHUNK_CSUM. */
struct xp_csum {
	uint32_t crc; /* CRC32C of the range, holes read as zeros */
	uint64_t data_bytes; /* bytes of the range held as data, not holes */
};

/* The request payload of CHUNK_PUSH: where the range goes. */
struct xp_push_target {
	uint64_t target_id; /* the target's node id, not 0 */
	uint8_t addr[16]; /* its TCP address, IPv6 form */
	uint16_t port; /* its TCP port, not 0 */
};

/* The answer payload of CHUNK_PUSH. */
struct xp_push_result {
	uint64_t bytes_data; /* read from disk and written to the target */
	uint64_t bytes_zero; /* holes the target was told to zero */
};

struct xp_stat_lun {
	uint64_t lun_id;
	uint64_t size;
	uint64_t allocated; /* bytes the node's sparse file really holds */
	char name[XP_LUN_NAME_MAX + 1]; /* NUL-terminated */
	struct xp_layout layout; /* the LUN's placement */
};

/* CRC32C (Castagnoli) of @len bytes, the standard init and final xor. */
uint32_t xp_crc32c(const void *buf, size_t len);

/*
 * Running CRC32C: feed @len more bytes into @crc (start at 0xFFFFFFFF,
 * finish with ~crc). Any length (ISA-L takes an int: fed in steps).
 */
uint32_t xp_crc32c_update(uint32_t crc, const void *buf, size_t len);

/*
 * Encode @h into @buf (XP_HDR_LEN bytes), computing hdr_crc. The caller
 * sets data_crc (see xp_payload_crc) when it sets XP_F_DCRC.
 */
void xp_hdr_encode(const struct xp_hdr *h, uint8_t *buf);

/*
 * Decode and validate the framing of one header: magic, version, CRC,
 * known opcode, known flags, zero reserved fields, payload_len bound.
 * Returns 0, or -EBADMSG (framing broken: close the connection).
 * @len is the bytes available; fewer than XP_HDR_LEN gives -EAGAIN.
 */
int xp_hdr_decode(const uint8_t *buf, size_t len, struct xp_hdr *h);

/*
 * Per-opcode rules of docs/protocol.md for a request (!XP_F_RESP) or an
 * answer. Returns 0, -EINVAL, or -EPROTO for a READ or WRITE whose RDMA
 * descriptor breaks the descriptor rules (the gateway resends inline).
 * A well-formed RDMA descriptor passes: whether the session negotiated
 * RDMA is the receiver's check. Call after xp_hdr_decode.
 */
int xp_hdr_check(const struct xp_hdr *h);

/* Fill a fresh request header: opcode, req_id, lun_id, zeroes the rest. */
void xp_hdr_init(struct xp_hdr *h, uint8_t opcode, uint64_t req_id,
		 uint64_t lun_id);

/* Fill @ans as the answer to @req with @status and no payload. */
void xp_hdr_answer(struct xp_hdr *ans, const struct xp_hdr *req,
		   uint32_t status);

/* Wire status <-> negative errno; the only two places that convert. */
uint32_t xp_status_from_errno(int err);
int xp_status_to_errno(uint32_t status);

const char *xp_opcode_name(uint8_t opcode);
const char *xp_status_name(uint32_t status);

void xp_hello_encode(const struct xp_hello *hl, uint8_t *buf);
int xp_hello_decode(const uint8_t *buf, size_t len, struct xp_hello *hl);
void xp_layout_encode(const struct xp_layout *l, uint8_t *buf);
/* 0, or -EBADMSG for a wrong length, a bad chunk size or replica count. */
int xp_layout_decode(const uint8_t *buf, size_t len, struct xp_layout *l);
/* True when @l is a layout the protocol allows. */
bool xp_layout_valid(const struct xp_layout *l);
/*
 * LUN_OPEN's answer: the layout, then the LUN's name (1..XP_LUN_NAME_MAX
 * bytes, not NUL-terminated). Encode writes XP_LAYOUT_LEN + strlen(@name)
 * bytes; decode fills @name NUL-terminated, or -EBADMSG.
 */
size_t xp_lun_open_encode(const struct xp_layout *l, const char *name,
			  uint8_t *buf);
int xp_lun_open_decode(const uint8_t *buf, size_t len, struct xp_layout *l,
		       char name[XP_LUN_NAME_MAX + 1]);
void xp_lease_encode(const struct xp_lease *l, uint8_t *buf);
int xp_lease_decode(const uint8_t *buf, size_t len, struct xp_lease *l);

void xp_rdma_offer_encode(const struct xp_rdma_offer *o, uint8_t *buf);
/*
 * Decode an offer of @len bytes. 0, or -EBADMSG for a wrong length,
 * nonzero reserved bytes, port 0, or ttl_ms 0 or over the maximum.
 */
int xp_rdma_offer_decode(const uint8_t *buf, size_t len,
			 struct xp_rdma_offer *o);

struct sockaddr_storage;

/*
 * The socket address of a 16-byte wire address (IPv6 form) and @port,
 * into @ss (zeroed first): AF_INET for a v4-mapped address, else
 * AF_INET6. Returns the length of the address for connect().
 */
unsigned int xp_addr_sockaddr(const uint8_t addr[16], uint16_t port,
			      struct sockaddr_storage *ss);

/* The rdma_cm address an offer names (xp_addr_sockaddr of its fields). */
void xp_rdma_offer_sockaddr(const struct xp_rdma_offer *o,
			    struct sockaddr_storage *ss);

void xp_csum_encode(const struct xp_csum *c, uint8_t *buf);
/*
 * Decode a CHUNK_CSUM answer payload of @len bytes for a request of
 * @length bytes. 0, or -EBADMSG for a wrong length, nonzero reserved
 * bytes or data_bytes over @length.
 */
int xp_csum_decode(const uint8_t *buf, size_t len, uint32_t length,
		   struct xp_csum *c);

void xp_push_target_encode(const struct xp_push_target *t, uint8_t *buf);
/*
 * Decode a CHUNK_PUSH request payload of @len bytes. 0, or -EBADMSG for
 * a wrong length, nonzero reserved bytes, target_id 0, port 0, or an
 * address no node can have (unspecified, multicast, IPv4 0.0.0.0 or
 * broadcast).
 */
int xp_push_target_decode(const uint8_t *buf, size_t len,
			  struct xp_push_target *t);

void xp_push_result_encode(const struct xp_push_result *r, uint8_t *buf);
/*
 * Decode a CHUNK_PUSH answer payload of @len bytes for a request of
 * @length bytes. 0, or -EBADMSG for a wrong length or counts that do not
 * add up to @length.
 */
int xp_push_result_decode(const uint8_t *buf, size_t len, uint32_t length,
			  struct xp_push_result *r);

/* STAT answer payload: fixed part, then entries. */
void xp_stat_encode(const struct xp_stat *st, uint8_t *buf);
void xp_stat_lun_encode(const struct xp_stat_lun *e, uint8_t *buf);
/*
 * Decode a whole STAT payload of @len bytes. Fills @st; @luns receives at
 * most @max entries (may be NULL with @max 0 to only count). Returns the
 * number of entries in the payload, or -EBADMSG when @len does not match
 * nluns or a name is not a valid LUN name.
 */
int xp_stat_decode(const uint8_t *buf, size_t len, struct xp_stat *st,
		   struct xp_stat_lun *luns, size_t max);

/* True when @name (of @len bytes, not NUL-terminated) is a valid LUN name. */
bool xp_lun_name_valid(const char *name, size_t len);

/*
 * The push epoch of sequence @seq (below 1 << XP_PUSH_SEQ_BITS) under
 * store revision @rev (docs/protocol.md, "Push epochs").
 */
static inline uint64_t xp_push_epoch(uint64_t rev, uint32_t seq)
{
	return rev << XP_PUSH_SEQ_BITS | seq;
}

/* Big-endian helpers shared by the encoders. */
static inline void xp_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void xp_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void xp_put_be64(uint8_t *p, uint64_t v)
{
	xp_put_be32(p, (uint32_t)(v >> 32));
	xp_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t xp_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t xp_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t xp_get_be64(const uint8_t *p)
{
	return (uint64_t)xp_get_be32(p) << 32 | xp_get_be32(p + 4);
}

#endif
