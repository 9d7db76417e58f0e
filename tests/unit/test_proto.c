/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of xport/proto.c: frame encode/decode and the edge checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "xport/proto.h"

static void sample(struct xp_hdr *h)
{
	xp_hdr_init(h, XP_OP_WRITE, 0x0102030405060708ull, 42);
	h->flags = XP_F_FUA | XP_F_DCRC;
	h->offset = 0x1122334455667788ull;
	h->length = 4096;
	h->payload_len = 4096;
	h->epoch = 7;
	h->data_crc = 0xdeadbeef;
}

static void test_crc32c_check_value(void **state)
{
	(void)state;
	assert_int_equal(xp_crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(xp_crc32c("", 0), 0);
}

static void test_roundtrip(void **state)
{
	uint8_t b[XP_HDR_LEN];
	struct xp_hdr h, d;

	(void)state;
	sample(&h);
	xp_hdr_encode(&h, b);
	/* Big-endian on the wire, as docs/protocol.md says. */
	assert_int_equal(b[0], 0x53);
	assert_int_equal(b[3], 0x4B);
	assert_int_equal(b[8], 0x01);
	assert_int_equal(b[15], 0x08);
	assert_int_equal(xp_hdr_decode(b, sizeof(b), &d), 0);
	assert_int_equal(d.opcode, XP_OP_WRITE);
	assert_int_equal(d.flags, XP_F_FUA | XP_F_DCRC);
	assert_true(d.req_id == h.req_id);
	assert_true(d.offset == h.offset);
	assert_int_equal(d.length, 4096);
	assert_int_equal(d.payload_len, 4096);
	assert_true(d.epoch == 7);
	assert_int_equal(d.data_crc, 0xdeadbeef);
	assert_int_equal(xp_hdr_check(&d), 0);
}

static void test_truncated(void **state)
{
	uint8_t b[XP_HDR_LEN];
	struct xp_hdr h, d;
	size_t n;

	(void)state;
	sample(&h);
	xp_hdr_encode(&h, b);
	for (n = 0; n < XP_HDR_LEN; n++)
		assert_int_equal(xp_hdr_decode(b, n, &d), -EAGAIN);
}

static void test_bad_crc_every_byte(void **state)
{
	uint8_t b[XP_HDR_LEN];
	struct xp_hdr h, d;
	size_t i;

	(void)state;
	sample(&h);
	for (i = 0; i < XP_HDR_LEN; i++) {
		xp_hdr_encode(&h, b);
		b[i] ^= 0x20;
		assert_int_equal(xp_hdr_decode(b, sizeof(b), &d), -EBADMSG);
	}
}

/* Re-encode with a field forced, keeping the CRC right, to reach the
 * checks behind the CRC. */
static int decode_with(uint8_t off, uint8_t val)
{
	uint8_t b[XP_HDR_LEN];
	struct xp_hdr h, d;

	sample(&h);
	xp_hdr_encode(&h, b);
	b[off] = val;
	xp_put_be32(b + 76, xp_crc32c(b, 76));
	return xp_hdr_decode(b, sizeof(b), &d);
}

static void test_bad_fields(void **state)
{
	(void)state;
	assert_int_equal(decode_with(0, 0), -EBADMSG); /* magic */
	assert_int_equal(decode_with(4, 2), -EBADMSG); /* version */
	assert_int_equal(decode_with(5, 99), -EBADMSG); /* opcode */
	assert_int_equal(decode_with(6, 0x80), -EBADMSG); /* flags */
	assert_int_equal(decode_with(53, 1), -EBADMSG); /* desc_flags */
	assert_int_equal(decode_with(52, 7), -EBADMSG); /* desc_xport */
	assert_int_equal(decode_with(48, 1), -EBADMSG); /* oversized */
}

static void test_oversized_payload(void **state)
{
	uint8_t b[XP_HDR_LEN];
	struct xp_hdr h, d;

	(void)state;
	sample(&h);
	h.payload_len = XP_MAX_PAYLOAD + 1;
	xp_hdr_encode(&h, b);
	assert_int_equal(xp_hdr_decode(b, sizeof(b), &d), -EBADMSG);
	h.payload_len = XP_MAX_PAYLOAD;
	h.length = XP_MAX_PAYLOAD;
	xp_hdr_encode(&h, b);
	assert_int_equal(xp_hdr_decode(b, sizeof(b), &d), 0);
	assert_int_equal(xp_hdr_check(&d), 0);
}

static void test_rdma_descriptor_rules(void **state)
{
	struct xp_hdr h;

	(void)state;
	xp_hdr_init(&h, XP_OP_WRITE, 1, 5);
	h.length = 8192;
	h.desc_xport = XP_DESC_RDMA;
	h.desc_key = 0x1234;
	h.desc_addr = 1ull << 62;
	h.desc_len = 8192;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.opcode = XP_OP_READ;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.desc_len = 4096; /* must equal length */
	assert_int_equal(xp_hdr_check(&h), -EPROTO);
	h.desc_len = 8192;
	h.payload_len = 8192; /* inline payload and a descriptor */
	h.opcode = XP_OP_WRITE;
	assert_int_equal(xp_hdr_check(&h), -EPROTO);
	h.payload_len = 0;
	h.desc_addr = UINT64_MAX - 100; /* addr + len wraps */
	assert_int_equal(xp_hdr_check(&h), -EPROTO);
	h.desc_addr = 1ull << 62;
	h.flags = XP_F_DCRC; /* no DCRC with RDMA */
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.flags = XP_F_FUA;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.length = XP_MAX_IO + 4096;
	h.desc_len = h.length;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.length = 0;
	h.desc_len = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	/* Only READ and WRITE carry RDMA descriptors. */
	xp_hdr_init(&h, XP_OP_CAW, 1, 5);
	h.length = 512;
	h.desc_xport = XP_DESC_RDMA;
	h.desc_len = 1024;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	xp_hdr_init(&h, XP_OP_FLUSH, 1, 5);
	h.desc_xport = XP_DESC_RDMA;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	/* Answers never carry a descriptor; a READ answer may be empty. */
	xp_hdr_init(&h, XP_OP_READ, 1, 5);
	h.flags = XP_F_RESP;
	h.length = 4096;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.payload_len = 4095;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = 4096;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.desc_key = 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
}

static void test_rdma_offer(void **state)
{
	struct xp_rdma_offer o = {.port = 7401, .ttl_ms = 5000, .max_ops = 64};
	struct xp_rdma_offer d;
	uint8_t b[XP_RDMA_OFFER_LEN], b80[XP_HDR_LEN];
	struct xp_hdr h, d80;

	(void)state;
	xp_hdr_init(&h, XP_OP_RDMA_OFFER, 9, 0);
	xp_hdr_encode(&h, b80);
	assert_int_equal(xp_hdr_decode(b80, sizeof(b80), &d80), 0);
	assert_int_equal(d80.opcode, XP_OP_RDMA_OFFER);
	assert_int_equal(xp_hdr_check(&h), 0);
	assert_string_equal(xp_opcode_name(XP_OP_RDMA_OFFER), "RDMA_OFFER");
	h.lun_id = 5;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.lun_id = 0;
	h.length = 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.length = 0;
	h.payload_len = 4;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	h.payload_len = 0;
	h.flags = XP_F_RESP;
	assert_int_equal(xp_hdr_check(&h), -EINVAL); /* OK needs the offer */
	h.payload_len = XP_RDMA_OFFER_LEN;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.status = XP_ST_ENOTSUP;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = 0;
	assert_int_equal(xp_hdr_check(&h), 0);

	memset(o.token, 0xA5, sizeof(o.token));
	o.addr[10] = o.addr[11] = 0xff;
	o.addr[12] = 10;
	o.addr[15] = 1;
	xp_rdma_offer_encode(&o, b);
	assert_int_equal(xp_get_be16(b + 48), 7401);
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), 0);
	assert_memory_equal(d.token, o.token, XP_RDMA_TOKEN_LEN);
	assert_memory_equal(d.addr, o.addr, 16);
	assert_int_equal(d.port, 7401);
	assert_int_equal(d.max_ops, 64);
	b[50] = 1; /* reserved */
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
}

static void test_request_rules(void **state)
{
	struct xp_hdr h;

	(void)state;
	xp_hdr_init(&h, XP_OP_READ, 1, 5);
	h.length = 4096;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.length = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.length = XP_MAX_IO + 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.length = 512;
	h.offset = UINT64_MAX - 100;
	assert_int_equal(xp_hdr_check(&h), -EINVAL); /* wraps */
	h.offset = 0;
	h.payload_len = 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = 0;
	h.flags = XP_F_FUA;
	assert_int_equal(xp_hdr_check(&h), -EINVAL); /* FUA on READ */
	h.flags = 0;
	h.lun_id = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	xp_hdr_init(&h, XP_OP_WRITE, 1, 5);
	h.length = 512;
	h.payload_len = 511;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = 512;
	h.flags = XP_F_FUA;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.desc_xport = XP_DESC_RDMA;
	assert_int_equal(xp_hdr_check(&h), -EPROTO); /* not negotiated */
	h.desc_xport = XP_DESC_INLINE;
	h.desc_key = 5;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	xp_hdr_init(&h, XP_OP_CAW, 1, 5);
	h.length = 512;
	h.payload_len = 1024;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.payload_len = 512;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.length = XP_MAX_CAW + 512;
	h.payload_len = 2 * h.length;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	xp_hdr_init(&h, XP_OP_WRITE_ZEROES, 1, 5);
	h.length = 1 << 20;
	h.flags = XP_F_UNMAP;
	assert_int_equal(xp_hdr_check(&h), 0);
	xp_hdr_init(&h, XP_OP_UNMAP, 1, 5);
	h.length = 1 << 20;
	h.flags = XP_F_UNMAP;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	xp_hdr_init(&h, XP_OP_HELLO, 1, 0);
	h.payload_len = XP_HELLO_LEN;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.payload_len = XP_HELLO_LEN - 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);

	xp_hdr_init(&h, XP_OP_LUN_CREATE, 1, 5);
	h.offset = 1 << 30;
	h.payload_len = XP_LAYOUT_LEN + XP_LUN_NAME_MAX + 1;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = XP_LAYOUT_LEN; /* a layout but no name */
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	h.payload_len = XP_LAYOUT_LEN + 3;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.offset = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
}

static void test_answer_rules(void **state)
{
	struct xp_hdr req, ans;

	(void)state;
	xp_hdr_init(&req, XP_OP_READ, 9, 5);
	req.length = 4096;
	xp_hdr_answer(&ans, &req, XP_ST_OK);
	assert_int_equal(ans.flags, XP_F_RESP);
	assert_true(ans.req_id == 9);
	/* No data: it went by RDMA (the requester knows whether it asked). */
	assert_int_equal(xp_hdr_check(&ans), 0);
	ans.payload_len = 4095;
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);
	ans.payload_len = 4096;
	assert_int_equal(xp_hdr_check(&ans), 0);
	xp_hdr_answer(&ans, &req, XP_ST_EIO);
	assert_int_equal(xp_hdr_check(&ans), 0);
	ans.payload_len = 8;
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);

	xp_hdr_init(&req, XP_OP_CAW, 9, 5);
	xp_hdr_answer(&ans, &req, XP_ST_MISCOMPARE);
	ans.payload_len = 8;
	assert_int_equal(xp_hdr_check(&ans), 0);
	ans.payload_len = 9;
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);
}

static void test_status_mapping(void **state)
{
	uint32_t st;

	(void)state;
	for (st = 0; st <= XP_ST_ETIMEDOUT; st++)
		assert_int_equal(xp_status_from_errno(xp_status_to_errno(st)),
				 st);
	assert_int_equal(xp_status_to_errno(999), -EIO);
	assert_int_equal(xp_status_from_errno(-EILSEQ), XP_ST_MISCOMPARE);
	assert_int_equal(xp_status_from_errno(-ENOMEM), XP_ST_EAGAIN);
	assert_int_equal(xp_status_from_errno(-E2BIG), XP_ST_EIO);
	assert_string_equal(xp_status_name(XP_ST_MISCOMPARE), "MISCOMPARE");
	assert_string_equal(xp_status_name(77), "UNKNOWN");
	assert_string_equal(xp_opcode_name(XP_OP_CAW), "COMPARE_AND_WRITE");
}

static void test_hello_and_lease(void **state)
{
	struct xp_hello a = {1, 1, XP_FEAT_RDMA, 77, {0}}, b;
	struct xp_lease l = {5, 3000}, m;
	uint8_t buf[XP_HELLO_LEN];

	(void)state;
	memset(a.nonce, 0xab, sizeof(a.nonce));
	xp_hello_encode(&a, buf);
	assert_int_equal(xp_hello_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.features, XP_FEAT_RDMA);
	assert_true(b.sender_id == 77);
	assert_memory_equal(b.nonce, a.nonce, XP_NONCE_LEN);
	assert_int_equal(xp_hello_decode(buf, XP_HELLO_LEN - 1, &b), -EBADMSG);
	buf[0] = 2; /* min > max */
	assert_int_equal(xp_hello_decode(buf, sizeof(buf), &b), -EBADMSG);

	xp_lease_encode(&l, buf);
	assert_int_equal(xp_lease_decode(buf, XP_LEASE_LEN, &m), 0);
	assert_true(m.holder == 5);
	assert_int_equal(m.duration_ms, 3000);
	buf[15] = 1;
	assert_int_equal(xp_lease_decode(buf, XP_LEASE_LEN, &m), -EBADMSG);
}

/* The offer's address as rdma_cm takes it: v4-mapped -> AF_INET. */
static void test_rdma_offer_sockaddr(void **state)
{
	struct xp_rdma_offer o = {.port = 7401};
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const void *)&ss;
	const struct sockaddr_in6 *sin6 = (const void *)&ss;
	static const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0,
				       0,    0, 0, 0, 0, 0, 0, 9};

	(void)state;
	o.addr[10] = o.addr[11] = 0xff;
	o.addr[12] = 10;
	o.addr[13] = 77;
	o.addr[14] = 1;
	o.addr[15] = 1;
	memset(&ss, 0xaa, sizeof(ss));
	xp_rdma_offer_sockaddr(&o, &ss);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 7401);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a4d0101);
	assert_int_equal(sin->sin_zero[0], 0);

	memcpy(o.addr, v6, sizeof(v6));
	o.port = 9;
	xp_rdma_offer_sockaddr(&o, &ss);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9);
	assert_memory_equal(&sin6->sin6_addr, v6, 16);
	assert_int_equal(sin6->sin6_scope_id, 0);
}

static void test_stat(void **state)
{
	static uint8_t buf[XP_STAT_FIXED_LEN + 2 * XP_STAT_LUN_LEN];
	struct xp_stat st = {0}, out;
	struct xp_stat_lun e = {9, 1 << 20, 4096, "vol-1", {1 << 20, 2}};
	struct xp_stat_lun got[2];

	(void)state;
	st.node_id = 3;
	st.nluns = 2;
	st.ops_write = 11;
	st.conns = 4;
	st.bytes_tcp_control = 0x0102030405060708ull;
	st.ops_write_fua = 0x1112131415161718ull;
	xp_stat_encode(&st, buf);
	xp_stat_lun_encode(&e, buf + XP_STAT_FIXED_LEN);
	xp_stat_lun_encode(&e, buf + XP_STAT_FIXED_LEN + XP_STAT_LUN_LEN);
	assert_int_equal(xp_stat_decode(buf, sizeof(buf), &out, got, 2), 2);
	assert_true(out.node_id == 3 && out.ops_write == 11 && out.conns == 4);
	assert_true(out.bytes_tcp_control == 0x0102030405060708ull);
	assert_int_equal(buf[104], 0x01); /* after conns, big-endian */
	assert_true(out.ops_write_fua == 0x1112131415161718ull);
	assert_int_equal(buf[112], 0x11); /* the last counter */
	assert_int_equal(buf[XP_STAT_FIXED_LEN - 1], 0x18);
	assert_string_equal(got[1].name, "vol-1");
	assert_int_equal(got[1].layout.chunk_size, 1 << 20);
	assert_int_equal(got[1].layout.replicas, 2);
	assert_true(got[0].allocated == 4096);
	assert_int_equal(xp_stat_decode(buf, sizeof(buf) - 1, &out, got, 2),
			 -EBADMSG);
	buf[XP_STAT_FIXED_LEN + 24] = '/';
	assert_int_equal(xp_stat_decode(buf, sizeof(buf), &out, got, 2),
			 -EBADMSG);
}

static void test_layout(void **state)
{
	struct xp_layout a = {1 << 20, 2}, b;
	uint8_t buf[XP_LAYOUT_LEN];

	(void)state;
	xp_layout_encode(&a, buf);
	assert_int_equal(buf[1], 0x10); /* big-endian 0x00100000 */
	assert_int_equal(xp_layout_decode(buf, sizeof(buf), &b), 0);
	assert_int_equal(b.chunk_size, 1 << 20);
	assert_int_equal(b.replicas, 2);
	assert_int_equal(xp_layout_decode(buf, sizeof(buf) - 1, &b), -EBADMSG);
	buf[7] = 1; /* reserved */
	assert_int_equal(xp_layout_decode(buf, sizeof(buf), &b), -EBADMSG);
	a.chunk_size = 3 << 20; /* not a power of two */
	xp_layout_encode(&a, buf);
	assert_int_equal(xp_layout_decode(buf, sizeof(buf), &b), -EBADMSG);
	a.chunk_size = 32 << 10; /* too small */
	xp_layout_encode(&a, buf);
	assert_int_equal(xp_layout_decode(buf, sizeof(buf), &b), -EBADMSG);
	a.chunk_size = 1 << 20;
	a.replicas = 0;
	xp_layout_encode(&a, buf);
	assert_int_equal(xp_layout_decode(buf, sizeof(buf), &b), -EBADMSG);
}

/* LUN_OPEN's answer: the layout, then the name, each checked. */
static void test_lun_open_answer(void **state)
{
	struct xp_layout a = {1 << 20, 3}, b;
	uint8_t buf[XP_LAYOUT_LEN + XP_LUN_NAME_MAX + 1];
	char name[XP_LUN_NAME_MAX + 1];
	char longest[XP_LUN_NAME_MAX + 1];
	size_t n;

	(void)state;
	n = xp_lun_open_encode(&a, "vol-1", buf);
	assert_int_equal(n, XP_LAYOUT_LEN + 5);
	assert_int_equal(xp_lun_open_decode(buf, n, &b, name), 0);
	assert_string_equal(name, "vol-1");
	assert_int_equal(b.replicas, 3);
	/* no name, a name cut short by a byte, a bad byte, a bad layout */
	assert_int_equal(xp_lun_open_decode(buf, XP_LAYOUT_LEN, &b, name),
			 -EBADMSG);
	assert_int_equal(xp_lun_open_decode(buf, n - 1, &b, name), 0);
	assert_string_equal(name, "vol-");
	buf[XP_LAYOUT_LEN + 3] = '/';
	assert_int_equal(xp_lun_open_decode(buf, n, &b, name), -EBADMSG);
	buf[XP_LAYOUT_LEN + 3] = '-';
	buf[5] = 1;
	assert_int_equal(xp_lun_open_decode(buf, n, &b, name), -EBADMSG);
	/* the longest name, and one byte more */
	memset(longest, 'x', XP_LUN_NAME_MAX);
	longest[XP_LUN_NAME_MAX] = '\0';
	n = xp_lun_open_encode(&a, longest, buf);
	assert_int_equal(xp_lun_open_decode(buf, n, &b, name), 0);
	assert_int_equal(strlen(name), XP_LUN_NAME_MAX);
	buf[n] = 'x';
	assert_int_equal(xp_lun_open_decode(buf, n + 1, &b, name), -EBADMSG);
}

static void test_lun_names(void **state)
{
	(void)state;
	assert_true(xp_lun_name_valid("a", 1));
	assert_true(xp_lun_name_valid("Vol_1.x-y", 9));
	assert_false(xp_lun_name_valid("", 0));
	assert_false(xp_lun_name_valid("a/b", 3));
	assert_false(xp_lun_name_valid("a:b", 3));
	assert_false(xp_lun_name_valid("a,b", 3));
	assert_false(xp_lun_name_valid("012345678901234567890123456789012345678"
				       "9012345678901234567890123x",
				       65));
}

static void test_chunk_request_rules(void **state)
{
	static const uint8_t ops[] = {XP_OP_CHUNK_CSUM, XP_OP_CHUNK_PUSH,
				      XP_OP_PUSH_FENCE};
	struct xp_hdr h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ops); i++) {
		uint32_t pl = ops[i] == XP_OP_CHUNK_PUSH ? XP_PUSH_LEN : 0;
		uint8_t b[XP_HDR_LEN];
		struct xp_hdr d;

		xp_hdr_init(&h, ops[i], 1, 5);
		h.offset = 1 << 20;
		h.length = XP_MAX_CHUNK_OP; /* above XP_MAX_IO: allowed */
		h.payload_len = pl;
		h.epoch = 9; /* a fence needs one; the others take one */
		assert_int_equal(xp_hdr_check(&h), 0);
		/* The opcode is known to the decoder. */
		xp_hdr_encode(&h, b);
		assert_int_equal(xp_hdr_decode(b, sizeof(b), &d), 0);
		assert_int_equal(d.opcode, ops[i]);
		h.length = XP_MAX_CHUNK_OP + 1;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.length = 0;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.length = 1;
		assert_int_equal(xp_hdr_check(&h), 0);
		h.offset = UINT64_MAX; /* wraps */
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.offset = 0;
		h.lun_id = 0;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.lun_id = 5;
		h.payload_len = pl + 1;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.payload_len = pl;
		h.flags = XP_F_FUA;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.flags = XP_F_UNMAP;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
		h.flags = 0;
		h.desc_xport = XP_DESC_RDMA;
		h.desc_len = h.length;
		assert_int_equal(xp_hdr_check(&h), -EINVAL);
	}
	xp_hdr_init(&h, XP_OP_CHUNK_PUSH, 1, 5);
	h.length = 4096;
	h.payload_len = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
	assert_string_equal(xp_opcode_name(XP_OP_CHUNK_CSUM), "CHUNK_CSUM");
	assert_string_equal(xp_opcode_name(XP_OP_CHUNK_PUSH), "CHUNK_PUSH");
	assert_string_equal(xp_opcode_name(XP_OP_PUSH_FENCE), "PUSH_FENCE");
	/* a fence without an epoch fences nothing */
	xp_hdr_init(&h, XP_OP_PUSH_FENCE, 1, 5);
	h.length = 4096;
	h.epoch = 1;
	assert_int_equal(xp_hdr_check(&h), 0);
	h.epoch = 0;
	assert_int_equal(xp_hdr_check(&h), -EINVAL);
}

static void test_chunk_answer_rules(void **state)
{
	struct xp_hdr req, ans;

	(void)state;
	xp_hdr_init(&req, XP_OP_CHUNK_CSUM, 3, 5);
	req.length = 4096;
	xp_hdr_answer(&ans, &req, XP_ST_OK);
	assert_int_equal(xp_hdr_check(&ans), -EINVAL); /* OK needs 16 */
	ans.payload_len = XP_CSUM_LEN;
	assert_int_equal(xp_hdr_check(&ans), 0);
	xp_hdr_answer(&ans, &req, XP_ST_ERANGE);
	assert_int_equal(xp_hdr_check(&ans), 0);
	ans.payload_len = XP_CSUM_LEN; /* errors carry nothing */
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);

	xp_hdr_init(&req, XP_OP_CHUNK_PUSH, 3, 5);
	req.length = 4096;
	xp_hdr_answer(&ans, &req, XP_ST_OK);
	ans.payload_len = XP_PUSH_RESULT_LEN;
	assert_int_equal(xp_hdr_check(&ans), 0);
	ans.payload_len = XP_PUSH_RESULT_LEN - 1;
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);
	xp_hdr_answer(&ans, &req, XP_ST_EHOSTUNREACH);
	assert_int_equal(xp_hdr_check(&ans), 0);
	xp_hdr_answer(&ans, &req, XP_ST_ETIMEDOUT);
	assert_int_equal(xp_hdr_check(&ans), 0);

	xp_hdr_init(&req, XP_OP_PUSH_FENCE, 3, 5);
	req.length = 4096;
	req.epoch = 7;
	xp_hdr_answer(&ans, &req, XP_ST_OK);
	assert_int_equal(xp_hdr_check(&ans), 0); /* status only */
	ans.payload_len = 1;
	assert_int_equal(xp_hdr_check(&ans), -EINVAL);
}

static void test_chunk_statuses(void **state)
{
	(void)state;
	assert_int_equal(xp_status_from_errno(-EHOSTUNREACH),
			 XP_ST_EHOSTUNREACH);
	assert_int_equal(xp_status_from_errno(-ETIMEDOUT), XP_ST_ETIMEDOUT);
	assert_int_equal(xp_status_to_errno(XP_ST_EHOSTUNREACH), -EHOSTUNREACH);
	assert_int_equal(xp_status_to_errno(XP_ST_ETIMEDOUT), -ETIMEDOUT);
	assert_string_equal(xp_status_name(XP_ST_EHOSTUNREACH), "EHOSTUNREACH");
	assert_string_equal(xp_status_name(XP_ST_ETIMEDOUT), "ETIMEDOUT");
	assert_string_equal(xp_status_name(XP_ST_ETIMEDOUT + 1), "UNKNOWN");
	assert_int_equal(xp_status_to_errno(XP_ST_ETIMEDOUT + 1), -EIO);
}

static void test_csum_payload(void **state)
{
	struct xp_csum c = {.crc = 0xE3069283u, .data_bytes = 4096}, d;
	uint8_t b[XP_CSUM_LEN];

	(void)state;
	xp_csum_encode(&c, b);
	assert_int_equal(b[0], 0xE3); /* big-endian */
	assert_int_equal(b[3], 0x83);
	assert_int_equal(xp_csum_decode(b, sizeof(b), 4096, &d), 0);
	assert_int_equal(d.crc, c.crc);
	assert_true(d.data_bytes == 4096);
	/* data_bytes beyond the range asked for. */
	assert_int_equal(xp_csum_decode(b, sizeof(b), 4095, &d), -EBADMSG);
	assert_int_equal(xp_csum_decode(b, sizeof(b) - 1, 4096, &d), -EBADMSG);
	b[5] = 1; /* reserved */
	assert_int_equal(xp_csum_decode(b, sizeof(b), 4096, &d), -EBADMSG);
}

static void push_target_sample(struct xp_push_target *t)
{
	memset(t, 0, sizeof(*t));
	t->target_id = 0x0102030405060708ull;
	t->addr[10] = t->addr[11] = 0xff;
	t->addr[12] = 10;
	t->addr[15] = 7;
	t->port = 7400;
}

static void test_push_target(void **state)
{
	struct xp_push_target t, d;
	uint8_t b[XP_PUSH_LEN];
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	size_t i;

	(void)state;
	push_target_sample(&t);
	xp_push_target_encode(&t, b);
	assert_int_equal(b[0], 0x01); /* big-endian id */
	assert_int_equal(b[24], 7400 >> 8);
	assert_int_equal(xp_push_target_decode(b, sizeof(b), &d), 0);
	assert_true(d.target_id == t.target_id);
	assert_memory_equal(d.addr, t.addr, 16);
	assert_int_equal(d.port, 7400);
	/* The address as a socket address: v4-mapped gives AF_INET. */
	assert_int_equal(xp_addr_sockaddr(d.addr, d.port, &ss), sizeof(*sin));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 7400);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a000007);
	d.addr[10] = 0;
	assert_int_equal(xp_addr_sockaddr(d.addr, d.port, &ss), sizeof(*sin6));
	assert_int_equal(sin6->sin6_family, AF_INET6);

	/* Wrong lengths. */
	assert_int_equal(xp_push_target_decode(b, sizeof(b) - 1, &d), -EBADMSG);
	/* Every reserved byte. */
	for (i = 26; i < XP_PUSH_LEN; i++) {
		xp_push_target_encode(&t, b);
		b[i] = 0x40;
		assert_int_equal(xp_push_target_decode(b, sizeof(b), &d),
				 -EBADMSG);
	}
	/* Id 0, port 0. */
	d = t;
	d.target_id = 0;
	xp_push_target_encode(&d, b);
	assert_int_equal(xp_push_target_decode(b, sizeof(b), &d), -EBADMSG);
	d = t;
	d.port = 0;
	xp_push_target_encode(&d, b);
	assert_int_equal(xp_push_target_decode(b, sizeof(b), &d), -EBADMSG);
}

/* The addresses no node can have are refused, the rest accepted. */
static void test_push_target_addresses(void **state)
{
	static const struct {
		uint8_t a[16];
		bool ok;
	} cases[] = {
		{{0}, false}, /* :: */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		 true}, /* ::1 */
		{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		 false}, /* ff02::1 */
		{{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		 true}, /* fe80::1 */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0},
		 false}, /* 0.0.0.0 */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 255, 255, 255, 255},
		 false}, /* broadcast */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 224, 0, 0, 1},
		 false}, /* multicast */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 239, 1, 2, 3},
		 false}, /* multicast */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1},
		 true}, /* loopback */
		{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 240, 0, 0, 1},
		 true}, /* 240/4: not multicast */
	};
	struct xp_push_target t, d;
	uint8_t b[XP_PUSH_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		push_target_sample(&t);
		memcpy(t.addr, cases[i].a, 16);
		xp_push_target_encode(&t, b);
		assert_int_equal(xp_push_target_decode(b, sizeof(b), &d),
				 cases[i].ok ? 0 : -EBADMSG);
	}
}

static void test_push_result(void **state)
{
	struct xp_push_result r = {.bytes_data = 3 << 20, .bytes_zero = 4096};
	struct xp_push_result d;
	uint8_t b[XP_PUSH_RESULT_LEN];
	const uint32_t len = (3 << 20) + 4096;

	(void)state;
	xp_push_result_encode(&r, b);
	assert_int_equal(xp_push_result_decode(b, sizeof(b), len, &d), 0);
	assert_true(d.bytes_data == r.bytes_data);
	assert_true(d.bytes_zero == r.bytes_zero);
	/* The counts must add up to the length asked for. */
	assert_int_equal(xp_push_result_decode(b, sizeof(b), len + 1, &d),
			 -EBADMSG);
	assert_int_equal(xp_push_result_decode(b, sizeof(b) - 1, len, &d),
			 -EBADMSG);
	/* Sums that would wrap are refused, not wrapped. */
	r.bytes_data = UINT64_MAX;
	r.bytes_zero = 2;
	xp_push_result_encode(&r, b);
	assert_int_equal(xp_push_result_decode(b, sizeof(b), 1, &d), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_crc_every_byte),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_oversized_payload),
		cmocka_unit_test(test_request_rules),
		cmocka_unit_test(test_answer_rules),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_rdma_descriptor_rules),
		cmocka_unit_test(test_rdma_offer),
		cmocka_unit_test(test_rdma_offer_sockaddr),
		cmocka_unit_test(test_hello_and_lease),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_lun_open_answer),
		cmocka_unit_test(test_lun_names),
		cmocka_unit_test(test_chunk_request_rules),
		cmocka_unit_test(test_chunk_answer_rules),
		cmocka_unit_test(test_chunk_statuses),
		cmocka_unit_test(test_csum_payload),
		cmocka_unit_test(test_push_target),
		cmocka_unit_test(test_push_target_addresses),
		cmocka_unit_test(test_push_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
