/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the RDMA transport (xport/rdma/) against the fake device
 * of tests/common/fake_verbs.h in manual mode (fake_ops: events and
 * completions scripted step by step): codecs, pools and their dry-pool
 * policy, gateway connect, the node's token checks, credits, and every
 * failure path (failed registration, failed post, error completion, peer
 * disconnect mid-transfer); memory windows are in test_rdma_window.c.
 * The fake counts every object made and freed, so each test also proves
 * that teardown releases all of them. One test touches the real verbs and
 * skips, with the reason, when no RDMA device exists (this host); it runs
 * for real in the guest.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/common/fake_records.h"
#include "tests/common/fake_verbs.h"
#include "xport/rdma.h"
#include "xport/verbs.h"

/* ---- codecs -------------------------------------------------------------- */

static void test_offer_codec(void **state)
{
	struct xp_rdma_offer o = {.port = 4791, .ttl_ms = 5000, .max_ops = 64},
			     d;
	uint8_t b[XP_RDMA_OFFER_LEN];

	(void)state;
	memset(o.token, 0xAB, sizeof(o.token));
	o.addr[10] = o.addr[11] = 0xFF;
	o.addr[12] = 10;
	o.addr[15] = 7;
	xp_rdma_offer_encode(&o, b);
	assert_int_equal(xp_get_be16(b + 48), 4791);
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), 0);
	assert_memory_equal(d.token, o.token, XP_RDMA_TOKEN_LEN);
	assert_memory_equal(d.addr, o.addr, 16);
	assert_int_equal(d.port, 4791);
	assert_int_equal(d.ttl_ms, 5000);
	assert_int_equal(d.max_ops, 64);

	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b) - 1, &d), -EBADMSG);
	b[50] = 1; /* reserved */
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
	b[50] = 0;
	b[63] = 1;
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
	b[63] = 0;
	xp_put_be32(b + 52, 5001);
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
	xp_put_be32(b + 52, 0);
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
	xp_put_be32(b + 52, 100);
	xp_put_be16(b + 48, 0);
	assert_int_equal(xp_rdma_offer_decode(b, sizeof(b), &d), -EBADMSG);
}

static void test_priv_codec(void **state)
{
	struct xp_rdma_priv p = {.gateway_id = 0x0102030405060708ull}, d;
	uint8_t b[XP_VERBS_PRIV_MAX];

	(void)state;
	memset(p.token, 0x5A, sizeof(p.token));
	memset(b, 0, sizeof(b));
	xp_rdma_priv_encode(&p, b);
	assert_int_equal(xp_get_be32(b), XP_RDMA_PRIV_MAGIC);
	assert_int_equal(xp_rdma_priv_decode(b, XP_RDMA_PRIV_LEN, &d), 0);
	assert_int_equal(d.gateway_id, p.gateway_id);
	assert_memory_equal(d.token, p.token, XP_RDMA_TOKEN_LEN);
	/* Padded with zeros to 56, as IB and RoCE deliver it: accepted. */
	assert_int_equal(xp_rdma_priv_decode(b, XP_VERBS_PRIV_MAX, &d), 0);
	b[XP_VERBS_PRIV_MAX - 1] = 1; /* padding that is not zero */
	assert_int_equal(xp_rdma_priv_decode(b, XP_VERBS_PRIV_MAX, &d),
			 -EBADMSG);
	b[XP_VERBS_PRIV_MAX - 1] = 0;
	assert_int_equal(xp_rdma_priv_decode(b, XP_VERBS_PRIV_MAX + 1, &d),
			 -EBADMSG);
	assert_int_equal(xp_rdma_priv_decode(b, 47, &d), -EBADMSG);
	assert_int_equal(xp_rdma_priv_decode(NULL, 0, &d), -EBADMSG);
	b[4] = 2; /* version */
	assert_int_equal(xp_rdma_priv_decode(b, XP_RDMA_PRIV_LEN, &d),
			 -EBADMSG);
	b[4] = 1;
	b[6] = 1; /* reserved */
	assert_int_equal(xp_rdma_priv_decode(b, XP_RDMA_PRIV_LEN, &d),
			 -EBADMSG);
	b[6] = 0;
	b[0] ^= 1; /* magic */
	assert_int_equal(xp_rdma_priv_decode(b, XP_RDMA_PRIV_LEN, &d),
			 -EBADMSG);
}

static void rdma_hdr(struct xp_hdr *h, uint8_t op, uint32_t len)
{
	xp_hdr_init(h, op, 7, 9);
	h->length = len;
	h->desc_xport = XP_DESC_RDMA;
	h->desc_key = 0x1234;
	h->desc_addr = 1ull << 62;
	h->desc_len = len;
}

static void test_desc_from_hdr(void **state)
{
	struct xp_rdma_desc d;
	struct xp_hdr h;

	(void)state;
	rdma_hdr(&h, XP_OP_WRITE, 8192);
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), 0);
	assert_int_equal(d.key, 0x1234);
	assert_true(d.addr == 1ull << 62);
	assert_int_equal(d.len, 8192);
	rdma_hdr(&h, XP_OP_READ, 4096);
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), 0);

	rdma_hdr(&h, XP_OP_CAW, 512); /* only READ and WRITE */
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_WRITE, 8192);
	h.desc_xport = XP_DESC_INLINE;
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_WRITE, 8192);
	h.desc_len = 4096; /* must equal length */
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_WRITE, 0);
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_WRITE, 8192);
	h.payload_len = 8192; /* inline and RDMA at once */
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_WRITE, 8192);
	h.desc_addr = UINT64_MAX - 100; /* wraps */
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_READ, XP_MAX_IO + 4096);
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
	rdma_hdr(&h, XP_OP_READ, 4096);
	h.flags = XP_F_RESP;
	assert_int_equal(xp_rdma_desc_from_hdr(&h, &d), -EPROTO);
}

/* ---- pool ---------------------------------------------------------------- */

static void test_pool_iova_random_no_va(void **state)
{
	struct xp_rdma_pool *a, *b;
	struct xp_rdma_buf *x, *y;
	struct xp_rdma_wait w;
	uint64_t base;
	struct xp_hdr h;
	uint32_t i;

	(void)state;
	a = xp_rdma_pool_new(&fake_ops, &F.pd, 4, 8192,
			     XP_VERBS_ACC_REMOTE_READ);
	b = xp_rdma_pool_new(&fake_ops, &F.pd, 4, 8192,
			     XP_VERBS_ACC_REMOTE_READ);
	assert_non_null(a);
	assert_non_null(b);
	/* Registered once each, over the whole region, at the pool's base. */
	assert_int_equal(F.regs, 2);
	assert_int_equal(F.mrs[0].len, 4 * 8192);
	assert_true(F.mrs[0].iova == xp_rdma_pool_base(a));
	assert_int_equal(F.mrs[0].access, XP_VERBS_ACC_REMOTE_READ);
	assert_int_equal(xp_rdma_pool_rkey(a), F.mrs[0].rkey);
	assert_int_equal(xp_rdma_pool_lkey(a), F.mrs[0].lkey);

	base = xp_rdma_pool_base(a);
	assert_true(base != xp_rdma_pool_base(b)); /* 2^40 choices */
	assert_true(base >= 1ull << 62); /* above every user address */
	assert_int_equal(base % (2u << 20), 0);
	assert_true(base != (uintptr_t)F.mrs[0].addr);

	x = xp_rdma_pool_get(a, &w, buf_cb, NULL);
	assert_non_null(x);
	assert_int_equal((uintptr_t)x->data % 4096, 0);
	for (i = 0; i < x->size; i++)
		assert_int_equal(((uint8_t *)x->data)[i], 0);
	assert_true(x->iova == base + (uint64_t)x->index * 8192);

	memset(&h, 0, sizeof(h));
	assert_int_equal(xp_rdma_pool_describe(a, x, 100, 4000, &h), 0);
	assert_int_equal(h.desc_xport, XP_DESC_RDMA);
	assert_int_equal(h.desc_key, xp_rdma_pool_rkey(a));
	assert_int_equal(h.desc_len, 4000);
	assert_true(h.desc_addr == x->iova + 100);
	/* The descriptor names no process address of the buffer. */
	assert_true(h.desc_addr != (uintptr_t)x->data + 100);
	assert_true(h.desc_addr >= base && h.desc_addr < base + 4 * 8192);
	assert_int_equal(xp_rdma_pool_describe(a, x, 8000, 400, &h), -EINVAL);
	assert_int_equal(xp_rdma_pool_describe(a, x, 0, 0, &h), -EINVAL);
	/* A buffer of another pool is not described with this one's key. */
	y = xp_rdma_pool_get(b, &w, buf_cb, NULL);
	assert_int_equal(xp_rdma_pool_describe(a, y, 0, 10, &h), -EINVAL);
	xp_rdma_pool_put(b, y);
	xp_rdma_pool_put(a, x);
	xp_rdma_pool_free(a);
	xp_rdma_pool_free(b);
	xp_rdma_pool_free(NULL);
}

static void test_pool_backpressure(void **state)
{
	struct xp_rdma_buf *got[3], *x;
	struct xp_rdma_wait w1, w2, w3, wn;
	struct buf_rec r1 = {0}, r2 = {0}, r3 = {0};
	struct xp_rdma_pool *p;
	int i;

	(void)state;
	p = xp_rdma_pool_new(&fake_ops, &F.pd, 3, 4096,
			     XP_VERBS_ACC_LOCAL_WRITE);
	assert_non_null(p);
	for (i = 0; i < 3; i++) {
		got[i] = xp_rdma_pool_get(p, &wn, buf_cb, NULL);
		assert_non_null(got[i]);
	}
	assert_int_equal(xp_rdma_pool_nfree(p), 0);
	/* Dry: never a failure, a place in the queue. */
	assert_null(xp_rdma_pool_get(p, &w1, buf_cb, &r1));
	assert_null(xp_rdma_pool_get(p, &w2, buf_cb, &r2));
	assert_null(xp_rdma_pool_get(p, &w3, buf_cb, &r3));
	assert_true(w1.queued && w2.queued && w3.queued);
	assert_int_equal(r1.calls + r2.calls + r3.calls, 0);

	xp_rdma_pool_put(p, got[1]); /* FIFO: to the first waiter */
	assert_int_equal(r1.calls, 1);
	assert_ptr_equal(r1.buf, got[1]);
	assert_int_equal(r2.calls, 0);
	assert_false(w1.queued);

	xp_rdma_pool_cancel(p, &w2);
	assert_false(w2.queued);
	xp_rdma_pool_cancel(p, &w2); /* twice: no-op */
	xp_rdma_pool_put(p, got[0]);
	assert_int_equal(r2.calls, 0); /* cancelled: never called */
	assert_int_equal(r3.calls, 1);
	assert_ptr_equal(r3.buf, got[0]);

	xp_rdma_pool_put(p, got[2]); /* nobody waits: back on the free list */
	assert_int_equal(xp_rdma_pool_nfree(p), 1);
	/* A foreign pointer is refused, not linked in. */
	{
		struct xp_rdma_buf fake = *got[2];

		xp_rdma_pool_put(p, &fake);
		assert_int_equal(xp_rdma_pool_nfree(p), 1);
	}

	/* A newcomer does not overtake a waiter even when a buffer is free. */
	x = xp_rdma_pool_get(p, &wn, buf_cb, NULL);
	assert_non_null(x);
	assert_null(xp_rdma_pool_get(p, &w2, buf_cb, &r2));
	xp_rdma_pool_put(p, r1.buf);
	assert_int_equal(r2.calls, 1);
	xp_rdma_pool_put(p, r2.buf);
	xp_rdma_pool_put(p, r3.buf);
	xp_rdma_pool_put(p, x);
	assert_int_equal(xp_rdma_pool_nfree(p), 3);

	xp_rdma_pool_free(p);
}

static void test_pool_free_tells_waiters(void **state)
{
	struct xp_rdma_wait wn, w;
	struct buf_rec r = {.buf = (void *)1};
	struct xp_rdma_pool *p;
	struct xp_rdma_buf *b;

	(void)state;
	p = xp_rdma_pool_new(&fake_ops, &F.pd, 1, 4096,
			     XP_VERBS_ACC_LOCAL_WRITE);
	assert_non_null(p);
	b = xp_rdma_pool_get(p, &wn, buf_cb, NULL);
	assert_non_null(b);
	assert_null(xp_rdma_pool_get(p, &w, buf_cb, &r));
	xp_rdma_pool_put(p, b); /* to the waiter */
	assert_int_equal(r.calls, 1);
	assert_null(xp_rdma_pool_get(p, &w, buf_cb, &r));
	/* The pool goes with a buffer still out and a waiter queued: the
	 * waiter hears NULL, once; the error is logged, nothing leaks. */
	xp_rdma_pool_free(p);
	assert_int_equal(r.calls, 2);
	assert_null(r.buf);
}

static void test_pool_bad_params_and_reg_failure(void **state)
{
	(void)state;
	errno = 0;
	assert_null(xp_rdma_pool_new(&fake_ops, &F.pd, 0, 4096, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(xp_rdma_pool_new(&fake_ops, &F.pd, 4, 1000, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(xp_rdma_pool_new(&fake_ops, &F.pd, 1u << 20, 1u << 20, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(xp_rdma_pool_new(&fake_ops, NULL, 4, 4096, 0));
	assert_int_equal(errno, EINVAL);

	F.fail_reg = -EFAULT;
	errno = 0;
	assert_null(xp_rdma_pool_new(&fake_ops, &F.pd, 4, 4096,
				     XP_VERBS_ACC_LOCAL_WRITE));
	assert_int_equal(errno, EFAULT);
	assert_int_equal(F.n_mr, 0);
}

/* ---- gateway connect ------------------------------------------------------ */

static const struct xp_rdma_params PARAMS = {
	.max_ops = 4,
	.pool_count = 4,
	.pool_size = 64 << 10,
};

static void test_gateway_connect(void **state)
{
	uint8_t token[XP_RDMA_TOKEN_LEN];
	struct sockaddr_storage dst = fake_dst_addr();
	struct state_rec s = {0};
	struct xp_rdma_conn *c;
	struct xp_rdma_priv pd;
	struct xp_rdma_pool *p;

	(void)state;
	memset(token, 0x77, sizeof(token));
	c = xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst, 0xFEED,
			    token, state_cb, &s);
	assert_non_null(c);
	assert_int_equal(F.resolve_addr_calls, 1);
	assert_int_equal(xp_rdma_conn_cm_fd(c), 42);
	assert_int_equal(xp_rdma_conn_cq_fd(c), -1);
	assert_null(xp_rdma_conn_pool(c));
	assert_false(xp_rdma_conn_is_up(c));

	fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(F.resolve_route_calls, 1);
	fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(F.n_qp, 1);
	assert_int_equal(F.connects, 1);
	assert_int_equal(xp_rdma_conn_cq_fd(c), 43);
	/* The token and the HELLO's id travel in the private data. */
	assert_int_equal(F.conn_priv_len, XP_RDMA_PRIV_LEN);
	assert_int_equal(xp_rdma_priv_decode(F.conn_priv, F.conn_priv_len, &pd),
			 0);
	assert_memory_equal(pd.token, token, sizeof(token));
	assert_int_equal(pd.gateway_id, 0xFEED);
	assert_int_equal(F.conn_resp, 16); /* the node's READs land here */
	assert_int_equal(F.conn_init, 0);
	/* The pool is remotely readable and writable, at a random base. */
	p = xp_rdma_conn_pool(c);
	assert_non_null(p);
	assert_int_equal(F.mrs[0].access, XP_VERBS_ACC_LOCAL_WRITE |
						  XP_VERBS_ACC_REMOTE_READ |
						  XP_VERBS_ACC_REMOTE_WRITE);
	assert_true(xp_rdma_pool_base(p) >= 1ull << 62);
	assert_int_equal(s.calls, 0);

	fake_push_ev(XP_CM_ESTABLISHED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(s.ups, 1);
	assert_ptr_equal(s.conn, c);
	assert_true(xp_rdma_conn_is_up(c));
	fake_push_ev(XP_CM_ESTABLISHED, &F.ids[0],
		     0); /* a duplicate: ignored */
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(s.calls, 1);

	/* The owner frees it: disconnected, no callback for its own act. */
	xp_rdma_conn_free(c);
	assert_int_equal(F.disconnects, 1);
	assert_int_equal(s.calls, 1);
}

/*
 * The link under a gateway connection: its ifindex is known from the
 * resolved route, and a shutdown for a link that went down takes the
 * connection down at once, QP first, reported once with the reason.
 */
static void test_gateway_link_down(void **state)
{
	uint8_t token[XP_RDMA_TOKEN_LEN] = {3};
	struct sockaddr_storage dst = fake_dst_addr();
	struct state_rec s = {0};
	struct xp_rdma_conn *c;

	(void)state;
	F.netdev = 7;
	c = xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst, 1,
			    token, state_cb, &s);
	assert_non_null(c);
	assert_int_equal(xp_rdma_conn_ifindex(c), 0);
	fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ESTABLISHED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(s.ups, 1);
	assert_int_equal(xp_rdma_conn_ifindex(c), 7);

	xp_rdma_conn_shutdown(c, -ENETDOWN);
	assert_int_equal(F.disconnects, 1); /* the QP into error */
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -ENETDOWN);
	assert_false(xp_rdma_conn_is_up(c));
	assert_int_equal(xp_rdma_conn_service(c), -ENETDOWN);
	/* Down is final: a second shutdown or a late event says nothing. */
	xp_rdma_conn_shutdown(c, -ENETDOWN);
	fake_push_ev(XP_CM_DISCONNECTED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), -ENETDOWN);
	assert_int_equal(s.calls, 2);
	assert_int_equal(F.disconnects, 1);
	xp_rdma_conn_free(c);
	assert_int_equal(s.calls, 2);

	/* No net device (InfiniBand): nothing to watch. */
	memset(&s, 0, sizeof(s));
	F.netdev = -ENODEV;
	F.ids[0].bound = false;
	c = xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst, 1,
			    token, state_cb, &s);
	assert_non_null(c);
	fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(xp_rdma_conn_ifindex(c), 0);
	/* Shut down while still connecting: reported down too. */
	xp_rdma_conn_shutdown(c, -ENETDOWN);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -ENETDOWN);
	xp_rdma_conn_free(c);
}

static struct xp_rdma_conn *gw_to_route(struct state_rec *s)
{
	uint8_t token[XP_RDMA_TOKEN_LEN] = {1};
	struct sockaddr_storage dst = fake_dst_addr();
	struct xp_rdma_conn *c;

	c = xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst, 1,
			    token, state_cb, s);
	assert_non_null(c);
	fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
	return c;
}

static void test_gateway_failures(void **state)
{
	uint8_t token[XP_RDMA_TOKEN_LEN] = {0};
	struct sockaddr_storage dst = fake_dst_addr();
	struct state_rec s = {0};
	struct xp_rdma_conn *c;
	struct xp_rdma_params bad = PARAMS;

	(void)state;
	/* Bad parameters: nothing is created. */
	bad.pool_size = 1000;
	errno = 0;
	assert_null(xp_rdma_connect(&fake_ops, &bad, (struct sockaddr *)&dst, 1,
				    token, state_cb, &s));
	assert_int_equal(errno, EINVAL);
	bad = PARAMS;
	bad.max_ops = 0;
	assert_null(xp_rdma_connect(&fake_ops, &bad, (struct sockaddr *)&dst, 1,
				    token, state_cb, &s));

	/* No route to the node's address: the call fails, all undone. */
	F.fail_resolve_addr = -ENETUNREACH;
	errno = 0;
	assert_null(xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst,
				    1, token, state_cb, &s));
	assert_int_equal(errno, ENETUNREACH);
	assert_int_equal(F.n_id, 0);
	assert_int_equal(F.n_ch, 0);
	F.fail_resolve_addr = 0;

	/* The node refuses (bad token): down with -ECONNREFUSED. */
	c = gw_to_route(&s);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	fake_push_ev(XP_CM_REJECTED, &F.ids[0], -ECONNREFUSED);
	assert_int_equal(xp_rdma_conn_service(c), -ECONNREFUSED);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -ECONNREFUSED);
	assert_false(xp_rdma_conn_is_up(c));
	assert_int_equal(xp_rdma_conn_service(c), -ECONNREFUSED);
	assert_int_equal(s.calls, 1); /* told once */
	xp_rdma_conn_free(c);

	/* Address resolution fails later, with the event's status. */
	memset(&s, 0, sizeof(s));
	c = xp_rdma_connect(&fake_ops, &PARAMS, (struct sockaddr *)&dst, 1,
			    token, state_cb, &s);
	fake_push_ev(XP_CM_ERROR, &F.ids[0], -EHOSTUNREACH);
	assert_int_equal(xp_rdma_conn_service(c), -EHOSTUNREACH);
	assert_int_equal(s.downs, 1);
	xp_rdma_conn_free(c);

	/* Resources fail at route time: PD, then QP, then the pool's MR. */
	memset(&s, 0, sizeof(s));
	F.fail_pd = -ENOMEM;
	F.connects = 0;
	c = gw_to_route(&s);
	assert_int_equal(xp_rdma_conn_service(c), -ENOMEM);
	assert_int_equal(F.connects, 0);
	xp_rdma_conn_free(c);
	F.fail_pd = 0;

	memset(&s, 0, sizeof(s));
	F.fail_qp = -EINVAL;
	c = gw_to_route(&s);
	assert_int_equal(xp_rdma_conn_service(c), -EINVAL);
	xp_rdma_conn_free(c);
	F.fail_qp = 0;

	memset(&s, 0, sizeof(s));
	F.fail_reg = -EPERM;
	c = gw_to_route(&s);
	assert_int_equal(xp_rdma_conn_service(c), -EPERM);
	assert_int_equal(s.last_err, -EPERM);
	assert_int_equal(F.connects, 0);
	xp_rdma_conn_free(c);
	F.fail_reg = 0;

	/* Established, then the peer goes away. */
	memset(&s, 0, sizeof(s));
	c = gw_to_route(&s);
	fake_push_ev(XP_CM_ESTABLISHED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	fake_push_ev(XP_CM_DISCONNECTED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), -ECONNRESET);
	assert_int_equal(s.ups, 1);
	assert_int_equal(s.downs, 1);
	xp_rdma_conn_free(c);
}

/* ---- node: listener and tokens -------------------------------------------- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static struct xp_rdma_listener *node_listen(void)
{
	struct sockaddr_storage a = fake_dst_addr();
	struct xp_rdma_listener *l;

	l = xp_rdma_listen(&fake_ops, (struct sockaddr *)&a, &PARAMS);
	assert_non_null(l);
	assert_int_equal(xp_rdma_listener_fd(l), 42);
	fake_now = 1000;
	xp_rdma_listener_set_clock(l, fake_clock);
	return l;
}

/* A connect request on listener @l presenting @token and @gw. */
static struct rdma_cm_id *request(struct xp_rdma_listener *l,
				  const uint8_t *token, uint64_t gw,
				  uint8_t resp)
{
	struct xp_rdma_priv p = {.gateway_id = gw};
	struct rdma_cm_id *id = fake_new_id();
	struct fake_ev *e;

	(void)l;
	id->bound = true;
	memcpy(p.token, token, XP_RDMA_TOKEN_LEN);
	e = &F.evq[F.ev_tail++ % MAX_EVENTS];
	memset(e, 0, sizeof(*e));
	e->type = XP_CM_CONNECT_REQUEST;
	e->id = id;
	e->listen_id = &F.ids[0];
	xp_rdma_priv_encode(&p, e->priv);
	e->priv_len = XP_RDMA_PRIV_LEN;
	e->resp = resp;
	return id;
}

static const int SESSION_A = 1, SESSION_B = 2;

static void test_token_accept(void **state)
{
	uint8_t tok[XP_RDMA_TOKEN_LEN];
	struct state_rec s = {0};
	struct xp_rdma_listener *l;
	struct xp_rdma_credits cr;
	struct rdma_cm_id *id;

	(void)state;
	l = node_listen();
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_A, 0xAA, state_cb, &s, tok), 0);
	id = request(l, tok, 0xAA, 4);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(F.accepts, 1);
	assert_int_equal(F.rejects, 0);
	/* READ depth: min(device's initiator depth 8, gateway's 4). */
	assert_int_equal(F.acc_init, 4);
	assert_true(id->live);
	assert_int_equal(s.calls, 0);
	/* The node's pool is for local access only. */
	assert_int_equal(F.mrs[0].access, XP_VERBS_ACC_LOCAL_WRITE);

	fake_push_ev(XP_CM_ESTABLISHED, id, 0);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(s.ups, 1);
	assert_non_null(s.conn);
	assert_true(xp_rdma_conn_is_up(s.conn));
	assert_int_equal(xp_rdma_conn_cm_fd(s.conn), -1);
	xp_rdma_conn_credits(s.conn, &cr);
	assert_int_equal(cr.max_posted, 4);
	assert_int_equal(cr.max_reads, 4);
	assert_int_equal(xp_rdma_listener_refused(l), 0);
	xp_rdma_conn_free(s.conn);
	xp_rdma_listener_free(l);
}

/*
 * A descriptor from the session's gateway confirms the accepted connection
 * before rdma_cm's ESTABLISHED is read; the late event changes nothing.
 */
static void test_token_confirm(void **state)
{
	uint8_t tok[XP_RDMA_TOKEN_LEN];
	struct state_rec s = {0};
	struct xp_rdma_listener *l;
	struct rdma_cm_id *id;

	(void)state;
	l = node_listen();
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_A, 0xAA, state_cb, &s, tok), 0);
	/* Nothing accepted yet for either session. */
	assert_int_equal(xp_rdma_token_confirm(l, &SESSION_A), 0);
	id = request(l, tok, 0xAA, 4);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(F.accepts, 1);
	assert_int_equal(xp_rdma_token_confirm(l, &SESSION_B), 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(xp_rdma_token_confirm(l, &SESSION_A), 1);
	assert_int_equal(s.ups, 1);
	assert_non_null(s.conn);
	assert_true(xp_rdma_conn_is_up(s.conn));
	/* Handed over: not pending any more. */
	assert_int_equal(xp_rdma_token_confirm(l, &SESSION_A), 0);
	fake_push_ev(XP_CM_ESTABLISHED, id, 0);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(s.ups, 1);
	assert_int_equal(s.calls, 1);
	xp_rdma_conn_free(s.conn);
	xp_rdma_listener_free(l);
}

/* Expect the request just queued to be refused and its id destroyed. */
static void expect_refused(struct xp_rdma_listener *l, struct rdma_cm_id *id)
{
	uint64_t before = xp_rdma_listener_refused(l);
	int rejects = F.rejects, accepts = F.accepts, qps = F.n_qp;

	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(F.rejects, rejects + 1);
	assert_int_equal(F.accepts, accepts);
	assert_int_equal(xp_rdma_listener_refused(l), before + 1);
	assert_false(id->live);
	assert_int_equal(F.n_qp, qps); /* nothing left behind */
}

static void test_token_refusals(void **state)
{
	uint8_t tok[XP_RDMA_TOKEN_LEN], tok2[XP_RDMA_TOKEN_LEN];
	uint8_t unknown[XP_RDMA_TOKEN_LEN];
	struct state_rec s = {0};
	struct xp_rdma_listener *l;
	struct rdma_cm_id *id;
	struct fake_ev *e;
	int i;

	(void)state;
	l = node_listen();

	/* Unknown token. */
	memset(unknown, 0x42, sizeof(unknown));
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_A, 0xAA, state_cb, &s, tok), 0);
	expect_refused(l, request(l, unknown, 0xAA, 4));

	/* Right token, wrong session's gateway id: refused, and spent. */
	expect_refused(l, request(l, tok, 0xBB, 4));
	expect_refused(l, request(l, tok, 0xAA, 4));

	/* Reused: accepted once, refused the second time. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_A, 0xAA, state_cb, &s, tok), 0);
	request(l, tok, 0xAA, 4);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(F.accepts, 1);
	expect_refused(l, request(l, tok, 0xAA, 4));

	/* The session ended before the connection was handed over: the
	 * connection goes with it; its token is gone too. */
	assert_int_equal(xp_rdma_token_revoke(l, &SESSION_A), 0);
	assert_int_equal(F.n_qp, 0);
	assert_int_equal(s.calls, 0);

	/* Expired. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s, tok), 0);
	fake_now += XP_RDMA_TOKEN_TTL_MS + 1;
	expect_refused(l, request(l, tok, 0xBB, 4));

	/* Revoked because the TCP session closed. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s, tok), 0);
	assert_int_equal(xp_rdma_token_revoke(l, &SESSION_B), 1);
	expect_refused(l, request(l, tok, 0xBB, 4));

	/* Asking again revokes the session's previous token. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s, tok), 0);
	assert_int_equal(xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s,
					     tok2),
			 0);
	assert_memory_not_equal(tok, tok2, sizeof(tok));
	expect_refused(l, request(l, tok, 0xBB, 4));

	/* Malformed private data. */
	id = request(l, tok2, 0xBB, 4);
	F.evq[(F.ev_tail - 1) % MAX_EVENTS].priv_len = 40;
	expect_refused(l, id);
	id = request(l, tok2, 0xBB, 4);
	e = &F.evq[(F.ev_tail - 1) % MAX_EVENTS];
	e->priv[0] ^= 0xFF;
	expect_refused(l, id);

	/* A gateway that serves no RDMA READs: nothing a WRITE can use. */
	id = request(l, tok2, 0xBB, 0);
	expect_refused(l, id);

	/* Accept fails: refused, all undone. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s, tok), 0);
	F.fail_accept = -EIO;
	expect_refused(l, request(l, tok, 0xBB, 4));
	F.fail_accept = 0;

	/* No resources for the QP: refused. */
	assert_int_equal(
		xp_rdma_token_issue(l, &SESSION_B, 0xBB, state_cb, &s, tok), 0);
	F.fail_qp = -ENOMEM;
	expect_refused(l, request(l, tok, 0xBB, 4));
	F.fail_qp = 0;

	/* The table holds XP_RDMA_TOKENS_MAX live tokens, then -EAGAIN;
	 * expired ones make room. */
	assert_int_equal(xp_rdma_token_issue(l, NULL, 1, NULL, NULL, tok),
			 -EINVAL);
	for (i = 0; i < XP_RDMA_TOKENS_MAX; i++)
		assert_int_equal(xp_rdma_token_issue(l, (char *)&s + i, 1, NULL,
						     NULL, tok),
				 0);
	assert_int_equal(xp_rdma_token_issue(l, &SESSION_A, 1, NULL, NULL, tok),
			 -EAGAIN);
	fake_now += XP_RDMA_TOKEN_TTL_MS + 1;
	assert_int_equal(xp_rdma_token_issue(l, &SESSION_A, 1, NULL, NULL, tok),
			 0);
	assert_int_equal(s.calls, 0);
	xp_rdma_listener_free(l);
}

/* A node connection, established, with @max_ops credits. */
static struct xp_rdma_conn *node_conn(struct xp_rdma_listener **lp,
				      struct state_rec *s, uint8_t resp)
{
	uint8_t tok[XP_RDMA_TOKEN_LEN];
	struct rdma_cm_id *id;

	*lp = node_listen();
	assert_int_equal(xp_rdma_token_issue(*lp, &SESSION_A, 0xAA, state_cb, s,
					     tok),
			 0);
	id = request(*lp, tok, 0xAA, resp);
	assert_int_equal(xp_rdma_listener_service(*lp), 0);
	fake_push_ev(XP_CM_ESTABLISHED, id, 0);
	assert_int_equal(xp_rdma_listener_service(*lp), 0);
	assert_int_equal(s->ups, 1);
	return s->conn;
}

/* ---- data movement --------------------------------------------------------- */

static const struct xp_rdma_desc DESC = {
	.key = 0xC0FFEE,
	.addr = (1ull << 62) + (3ull << 21),
	.len = 1u << 20,
};

static void test_move_validation(void **state)
{
	struct xp_rdma_listener *l;
	struct state_rec s = {0};
	struct xp_rdma_wait wn;
	struct xp_rdma_buf *b, other;
	struct xp_rdma_conn *c;
	struct xp_rdma_desc d = DESC;
	struct xp_rdma_op op;
	struct done dn = {0};

	(void)state;
	c = node_conn(&l, &s, 4);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	assert_non_null(b);
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PULL, &d, 0, b, 0, 0,
				      done_cb, &dn),
			 -EINVAL);
	/* Beyond what the descriptor granted. */
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PULL, &d, d.len - 4096, b,
				      0, 8192, done_cb, &dn),
			 -EINVAL);
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PULL, &d, d.len + 1, b, 0,
				      1, done_cb, &dn),
			 -EINVAL);
	/* Beyond the local buffer. */
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PUSH, &d, 0, b,
				      b->size - 10, 11, done_cb, &dn),
			 -EINVAL);
	/* Not a buffer of this connection's pool. */
	other = *b;
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PUSH, &d, 0, &other, 0,
				      10, done_cb, &dn),
			 -EINVAL);
	d.addr = UINT64_MAX - 100;
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PUSH, &d, 0, b, 0, 10,
				      done_cb, &dn),
			 -EINVAL);
	d = DESC;
	assert_int_equal(xp_rdma_move(c, &op, 0, &d, 0, b, 0, 10, done_cb, &dn),
			 -EINVAL);
	assert_int_equal(F.posts, 0);
	assert_int_equal(dn.calls, 0);

	/* A good one: the work request names the descriptor and the local
	 * buffer by IOVA and keys, never by process address. */
	assert_int_equal(xp_rdma_move(c, &op, XP_RDMA_PULL, &d, 8192, b, 4096,
				      4096, done_cb, &dn),
			 0);
	assert_int_equal(F.nwr, 1);
	assert_int_equal(F.wr[0].opcode, XP_VERBS_RDMA_READ);
	assert_true(F.wr[0].remote_addr == DESC.addr + 8192);
	assert_int_equal(F.wr[0].rkey, DESC.key);
	assert_true(F.wr[0].local_addr == b->iova + 4096);
	assert_int_equal(F.wr[0].lkey, xp_rdma_pool_lkey(xp_rdma_conn_pool(c)));
	assert_int_equal(F.wr[0].length, 4096);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(dn.calls, 1);
	assert_int_equal(dn.err, 0);

	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	xp_rdma_listener_free(l);
}

#define NOPS 40

static void test_credits_never_exceeded(void **state)
{
	struct xp_rdma_op ops[NOPS];
	struct done dn[NOPS];
	struct xp_rdma_listener *l;
	struct state_rec s = {0};
	struct xp_rdma_credits cr;
	struct xp_rdma_wait wn;
	struct xp_rdma_buf *b;
	struct xp_rdma_conn *c;
	int i, rounds = 0;

	(void)state;
	F.qp_extra = 12; /* the provider rounds up; the CQ was not */
	c = node_conn(&l, &s, 2); /* 4 sends, of which 2 READs */
	xp_rdma_conn_credits(c, &cr);
	assert_int_equal(cr.max_posted, 4);
	assert_int_equal(cr.max_reads, 2);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	memset(dn, 0, sizeof(dn));
	for (i = 0; i < NOPS; i++)
		assert_int_equal(xp_rdma_move(c, &ops[i],
					      i % 3 ? XP_RDMA_PULL
						    : XP_RDMA_PUSH,
					      &DESC, (uint32_t)i * 4096, b, 0,
					      4096, done_cb, &dn[i]),
				 0);
	xp_rdma_conn_credits(c, &cr);
	assert_int_equal(cr.posted + cr.queued, NOPS);
	assert_true(cr.posted <= 4);
	while (F.nwr) {
		/* Finish one or two at a time, as an HCA would. */
		fake_hca_complete(0);
		if (F.nwr && rounds % 2)
			fake_hca_complete(0);
		assert_int_equal(xp_rdma_conn_service(c), 0);
		xp_rdma_conn_credits(c, &cr);
		assert_true(cr.posted <= cr.max_posted);
		assert_true(cr.reads_posted <= cr.max_reads);
		rounds++;
	}
	assert_true(F.max_out <= 4);
	assert_true(F.max_reads_out <= 2);
	assert_int_equal(F.max_out, 4); /* and the credits were used */
	assert_int_equal(F.posts, NOPS);
	for (i = 0; i < NOPS; i++) {
		assert_int_equal(dn[i].calls, 1);
		assert_int_equal(dn[i].err, 0);
	}
	/* FIFO: posted in submission order. */
	for (i = 0; i < NOPS; i++)
		assert_true(F.post_order[i] == (uintptr_t)&ops[i]);
	xp_rdma_conn_credits(c, &cr);
	assert_int_equal(cr.queued, 0);
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	xp_rdma_listener_free(l);
}

static void test_failed_post(void **state)
{
	struct xp_rdma_op ops[4];
	struct done dn[4];
	struct xp_rdma_listener *l;
	struct state_rec s = {0};
	struct xp_rdma_wait wn;
	struct xp_rdma_buf *b;
	struct xp_rdma_conn *c;
	int i;

	(void)state;
	memset(dn, 0, sizeof(dn));
	c = node_conn(&l, &s, 4);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	/* At submission: the error is returned, the callback never runs,
	 * the connection is down. */
	F.fail_post = -ENOMEM;
	assert_int_equal(xp_rdma_move(c, &ops[0], XP_RDMA_PUSH, &DESC, 0, b, 0,
				      100, done_cb, &dn[0]),
			 -ENOMEM);
	assert_int_equal(dn[0].calls, 0);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -ENOMEM);
	assert_int_equal(F.disconnects, 1);
	assert_int_equal(xp_rdma_move(c, &ops[1], XP_RDMA_PUSH, &DESC, 0, b, 0,
				      100, done_cb, &dn[1]),
			 -ENOTCONN);
	assert_int_equal(xp_rdma_conn_service(c), -ENOMEM);
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	xp_rdma_listener_free(l);

	/* While draining the queue: that operation gets the error, the
	 * ones behind it are aborted, each exactly once. */
	memset(&F, 0, offsetof(struct fake, caps));
	fake_setup(NULL);
	memset(&s, 0, sizeof(s));
	memset(dn, 0, sizeof(dn));
	F.qp_extra = 0;
	{
		struct xp_rdma_params one = PARAMS;
		struct sockaddr_storage a = fake_dst_addr();
		uint8_t tok[XP_RDMA_TOKEN_LEN];
		struct rdma_cm_id *id;

		one.max_ops = 1;
		l = xp_rdma_listen(&fake_ops, (struct sockaddr *)&a, &one);
		assert_int_equal(xp_rdma_token_issue(l, &SESSION_A, 0xAA,
						     state_cb, &s, tok),
				 0);
		id = request(l, tok, 0xAA, 4);
		assert_int_equal(xp_rdma_listener_service(l), 0);
		fake_push_ev(XP_CM_ESTABLISHED, id, 0);
		assert_int_equal(xp_rdma_listener_service(l), 0);
		c = s.conn;
	}
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	for (i = 0; i < 4; i++)
		assert_int_equal(xp_rdma_move(c, &ops[i], XP_RDMA_PUSH, &DESC,
					      0, b, 0, 100, done_cb, &dn[i]),
				 0);
	assert_int_equal(F.nwr, 1);
	F.fail_post = -EIO;
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(c), -EIO);
	assert_int_equal(dn[0].calls, 1);
	assert_int_equal(dn[0].err, 0);
	assert_int_equal(dn[1].calls, 1);
	assert_int_equal(dn[1].err, -EIO);
	for (i = 2; i < 4; i++) {
		assert_int_equal(dn[i].calls, 1);
		assert_int_equal(dn[i].err, -ECONNABORTED);
	}
	assert_int_equal(s.downs, 1);
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	for (i = 0; i < 4; i++)
		assert_int_equal(dn[i].calls, 1);
	xp_rdma_listener_free(l);
}

static void test_error_completion(void **state)
{
	struct xp_rdma_op ops[8];
	struct done dn[8];
	struct xp_rdma_listener *l;
	struct state_rec s = {0};
	struct xp_rdma_wait wn;
	struct xp_rdma_buf *b;
	struct xp_rdma_conn *c;
	int i;

	(void)state;
	memset(dn, 0, sizeof(dn));
	c = node_conn(&l, &s, 4);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	for (i = 0; i < 8; i++)
		assert_int_equal(xp_rdma_move(c, &ops[i], XP_RDMA_PULL, &DESC,
					      0, b, 0, 4096, done_cb, &dn[i]),
				 0);
	assert_int_equal(F.nwr, 4);
	/* The gateway's HCA refuses the key (say a stale or forged one). */
	fake_hca_complete(-EACCES);
	fake_hca_flush_all();
	assert_int_equal(xp_rdma_conn_service(c), -EACCES);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -EACCES);
	assert_int_equal(F.disconnects, 1);
	assert_int_equal(dn[0].err, -EACCES);
	for (i = 1; i < 4; i++)
		assert_int_equal(dn[i].err, -ECANCELED); /* flushed */
	for (i = 4; i < 8; i++)
		assert_int_equal(dn[i].err, -ECONNABORTED); /* never posted */
	for (i = 0; i < 8; i++)
		assert_int_equal(dn[i].calls, 1);
	assert_int_equal(F.posts, 4);

	/* A READ that moved fewer bytes than asked is an error too. */
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	xp_rdma_listener_free(l);
	memset(&s, 0, sizeof(s));
	memset(dn, 0, sizeof(dn));
	c = node_conn(&l, &s, 4);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	assert_int_equal(xp_rdma_move(c, &ops[0], XP_RDMA_PULL, &DESC, 0, b, 0,
				      4096, done_cb, &dn[0]),
			 0);
	fake_hca_complete(0);
	F.cqe[0].byte_len = 100;
	assert_int_equal(xp_rdma_conn_service(c), -EIO);
	assert_int_equal(dn[0].calls, 1);
	assert_int_equal(dn[0].err, -EIO);
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	xp_rdma_listener_free(l);
}

static void test_peer_disconnect_mid_transfer(void **state)
{
	struct xp_rdma_op ops[6];
	struct done dn[6];
	struct xp_rdma_listener *l;
	struct state_rec s = {0};
	struct xp_rdma_wait wn;
	struct xp_rdma_buf *b;
	struct xp_rdma_conn *c;
	struct rdma_cm_id *id;
	int i;

	(void)state;
	memset(dn, 0, sizeof(dn));
	c = node_conn(&l, &s, 4);
	id = &F.ids[1];
	assert_ptr_equal(id->context, c);
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &wn, buf_cb, NULL);
	for (i = 0; i < 6; i++)
		assert_int_equal(xp_rdma_move(c, &ops[i], XP_RDMA_PUSH, &DESC,
					      0, b, 0, 4096, done_cb, &dn[i]),
				 0);
	fake_hca_complete(0); /* one finished before the peer left */
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(dn[0].calls, 1);
	assert_int_equal(dn[0].err, 0);
	/* That freed a credit: the fifth went out. */
	assert_int_equal(F.posts, 5);

	fake_push_ev(XP_CM_DISCONNECTED, id, 0);
	assert_int_equal(xp_rdma_listener_service(l), 0);
	assert_int_equal(s.downs, 1);
	assert_int_equal(s.last_err, -ECONNRESET);
	assert_false(xp_rdma_conn_is_up(c));
	/* The one never posted is aborted at once ... */
	assert_int_equal(dn[5].calls, 1);
	assert_int_equal(dn[5].err, -ECONNABORTED);
	/* ... the posted ones wait for their flush (the buffers are the
	 * HCA's until then), or for the owner's free. */
	for (i = 1; i < 5; i++)
		assert_int_equal(dn[i].calls, 0);
	fake_hca_complete(-ECANCELED);
	assert_int_equal(xp_rdma_conn_service(c), -ECONNRESET);
	assert_int_equal(dn[1].calls, 1);
	assert_int_equal(dn[1].err, -ECANCELED);
	assert_int_equal(xp_rdma_move(c, &ops[0], XP_RDMA_PUSH, &DESC, 0, b, 0,
				      10, done_cb, &dn[0]),
			 -ENOTCONN);
	xp_rdma_pool_put(xp_rdma_conn_pool(c), b);
	xp_rdma_conn_free(c);
	for (i = 2; i < 5; i++) {
		assert_int_equal(dn[i].calls, 1);
		assert_int_equal(dn[i].err, -ECONNABORTED);
	}
	assert_int_equal(dn[0].calls, 1);
	assert_int_equal(s.calls, 2);
	xp_rdma_listener_free(l);
}

/* ---- the real verbs --------------------------------------------------------- */

static void test_real_verbs(void **state)
{
	const struct xp_verbs_ops *ops = xp_verbs_real();
	int n;

	(void)state;
	assert_non_null(ops);
	assert_non_null(ops->post_send);
	n = xp_verbs_device_count();
	if (n <= 0) {
		print_message("SKIP: no RDMA device on this host "
			      "(ibv_get_device_list found none); the rxe "
			      "tests run in the guest (docs/vm.md)\n");
		skip();
	}
	/* With a device: an event channel opens and closes. */
	{
		struct rdma_event_channel *ch = ops->create_event_channel();

		assert_non_null(ch);
		assert_true(ops->event_channel_fd(ch) >= 0);
		ops->destroy_event_channel(ch);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offer_codec, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_priv_codec, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_desc_from_hdr, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_pool_iova_random_no_va,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_pool_backpressure,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_pool_free_tells_waiters,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_pool_bad_params_and_reg_failure, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_gateway_connect,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_gateway_failures,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_gateway_link_down,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_token_accept, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_token_confirm, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_token_refusals, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_move_validation,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_credits_never_exceeded,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_failed_post, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_error_completion,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_peer_disconnect_mid_transfer, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_real_verbs, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
