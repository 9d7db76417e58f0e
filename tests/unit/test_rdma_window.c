/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the RDMA transport's memory windows (xport/rdma/window.c)
 * against the fake device of tests/common/fake_verbs.h in manual mode: a
 * type 2 window bound per request with a new key and invalidated after
 * it, failed bind posts and bind completions, failed invalidates, a peer
 * disconnect and a connection going down with binds posted, credits
 * shared by binds and RDMA operations, and a device without windows.
 * Every test ends with every fake object released (tests/unit/test_rdma.c
 * has the rest of the transport).
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

/* ---- memory windows (gateway) ------------------------------------------- */

static const struct xp_rdma_params WPARAMS = {
	.max_ops = 1,
	.pool_count = 4,
	.pool_size = 64 << 10,
	.windows = true,
};

struct grant_rec {
	int calls;
	int err;
	struct xp_rdma_buf *buf;
};

static void grant_cb(void *arg, struct xp_rdma_buf *b, int err)
{
	struct grant_rec *g = arg;

	g->calls++;
	g->err = err;
	g->buf = b;
}

/* A gateway connection with @p, established. */
static struct xp_rdma_conn *gw_up(const struct xp_rdma_params *p,
				  struct state_rec *s)
{
	uint8_t token[XP_RDMA_TOKEN_LEN] = {1};
	struct sockaddr_storage dst = fake_dst_addr();
	struct xp_rdma_conn *c;

	c = xp_rdma_connect(&fake_ops, p, (struct sockaddr *)&dst, 1, token,
			    state_cb, s);
	assert_non_null(c);
	fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
	fake_push_ev(XP_CM_ESTABLISHED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(c), 0);
	assert_int_equal(s->ups, 1);
	return c;
}

/* A test's gateway connection with windows, its pool and its grants. */
struct wfix {
	struct state_rec s;
	struct grant_rec g[8];
	struct xp_rdma_conn *c;
	struct xp_rdma_pool *p;
	struct xp_rdma_buf *b[8];
	struct xp_rdma_wait wn;
};

/* Zero @w and bring a connection with @params up on a device with type 2
 * windows. */
static void wfix_up(struct wfix *w, const struct xp_rdma_params *params)
{
	memset(w, 0, sizeof(*w));
	F.caps.mw_type2 = true;
	w->c = gw_up(params, &w->s);
	w->p = xp_rdma_conn_pool(w->c);
}

/* A fresh fake device (what the previous connection left is forgotten)
 * and wfix_up() on it with the default parameters. */
static void wfix_again(struct wfix *w)
{
	memset(&F, 0, offsetof(struct fake, caps));
	fake_setup(NULL);
	wfix_up(w, &WPARAMS);
}

static void test_windows_bind_invalidate(void **state)
{
	struct xp_rdma_buf *b, *b2;
	struct grant_rec *g;
	struct xp_hdr h;
	struct wfix w;
	uint64_t binds, invs;
	uint32_t key1;

	(void)state;
	wfix_up(&w, &WPARAMS);
	g = &w.g[0];
	assert_true(xp_rdma_conn_windows(w.c));
	/* The registration grants nothing remotely; a window per buffer. */
	assert_int_equal(F.mrs[0].access,
			 XP_VERBS_ACC_LOCAL_WRITE | XP_VERBS_ACC_MW_BIND);
	assert_int_equal(F.n_mw, 4);
	/* Room for a bind and an invalidate per buffer on top. */
	assert_int_equal(F.qp_max_send_wr, 1 + 2 * 4);

	b = xp_rdma_pool_get(w.p, &w.wn, buf_cb, NULL);
	b2 = xp_rdma_pool_get(w.p, &w.wn, buf_cb, NULL);
	/* Arguments. */
	assert_int_equal(xp_rdma_grant(w.c, b, 0, 0, XP_VERBS_ACC_REMOTE_READ,
				       grant_cb, g),
			 -EINVAL);
	assert_int_equal(xp_rdma_grant(w.c, b, 4096, 64 << 10,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb, g),
			 -EINVAL);
	assert_int_equal(xp_rdma_grant(w.c, b, 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ |
					       XP_VERBS_ACC_REMOTE_WRITE,
				       grant_cb, g),
			 -EINVAL);
	assert_int_equal(F.posts, 0);

	assert_int_equal(xp_rdma_grant(w.c, b, 4096, 8192,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb, g),
			 0);
	assert_int_equal(F.nwr, 1);
	assert_int_equal(F.wr[0].opcode, XP_VERBS_BIND_MW);
	assert_true(F.wr[0].local_addr == b->iova + 4096);
	assert_int_equal(F.wr[0].length, 8192);
	assert_int_equal(F.wr[0].mw_access, XP_VERBS_ACC_REMOTE_READ);
	/* Not bound yet: nothing to describe, nothing to bind twice. */
	xp_hdr_init(&h, XP_OP_WRITE, 1, 1);
	assert_int_equal(xp_rdma_conn_describe(w.c, b, 4096, 8192, &h),
			 -EINVAL);
	assert_int_equal(xp_rdma_grant(w.c, b, 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb, g),
			 -EINVAL);
	assert_int_equal(g->calls, 0);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(w.c), 0);
	assert_int_equal(g->calls, 1);
	assert_int_equal(g->err, 0);
	assert_ptr_equal(g->buf, b);
	/* The descriptor carries the window's key, over its range only. */
	assert_int_equal(xp_rdma_conn_describe(w.c, b, 4096, 8192, &h), 0);
	key1 = h.desc_key;
	assert_non_null(fake_mw_by_key(key1));
	assert_int_not_equal(key1, xp_rdma_pool_rkey(w.p));
	assert_true(h.desc_addr == b->iova + 4096);
	assert_int_equal(h.desc_len, 8192);
	assert_int_equal(xp_rdma_conn_describe(w.c, b, 0, 8192, &h), -EINVAL);
	assert_int_equal(xp_rdma_conn_describe(w.c, b, 8192, 8192, &h),
			 -EINVAL);
	assert_int_equal(xp_rdma_conn_describe(w.c, b2, 0, 4096, &h), -EINVAL);

	/* Release: invalidated first, the buffer back only after that. */
	xp_rdma_release(w.c, b);
	assert_int_equal(F.nwr, 1);
	assert_int_equal(F.wr[0].opcode, XP_VERBS_LOCAL_INV);
	assert_int_equal(F.wr[0].rkey, key1);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 2);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(w.c), 0);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 3);
	assert_null(fake_mw_by_key(key1));

	/* The same buffer again: a new key; the old one names nothing. */
	b = xp_rdma_pool_get(w.p, &w.wn, buf_cb, NULL);
	memset(g, 0, sizeof(*g));
	assert_int_equal(xp_rdma_grant(w.c, b, 0, 64 << 10,
				       XP_VERBS_ACC_REMOTE_WRITE, grant_cb, g),
			 0);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(w.c), 0);
	assert_int_equal(g->calls, 1);
	assert_int_equal(xp_rdma_conn_describe(w.c, b, 0, 64 << 10, &h), 0);
	assert_int_not_equal(h.desc_key, key1);
	assert_null(fake_mw_by_key(key1));
	assert_non_null(fake_mw_by_key(h.desc_key));
	xp_rdma_release(w.c, b);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(w.c), 0);
	/* A buffer never granted goes back at once. */
	xp_rdma_release(w.c, b2);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	xp_rdma_conn_window_stats(w.c, &binds, &invs);
	assert_int_equal(binds, 2);
	assert_int_equal(invs, 2);
	assert_int_equal(F.binds, 2);
	assert_int_equal(F.invs, 2);
	assert_int_equal(w.s.downs, 0);
	xp_rdma_conn_free(w.c);
}

static void test_windows_failed_bind_post(void **state)
{
	struct wfix w;

	(void)state;
	wfix_up(&w, &WPARAMS);
	w.b[0] = xp_rdma_pool_get(w.p, &w.wn, buf_cb, NULL);
	F.fail_post = -ENOMEM;
	assert_int_equal(xp_rdma_grant(w.c, w.b[0], 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb,
				       &w.g[0]),
			 -ENOMEM);
	assert_int_equal(w.g[0].calls, 0);
	assert_int_equal(w.s.downs, 1);
	assert_int_equal(w.s.last_err, -ENOMEM);
	assert_int_equal(xp_rdma_grant(w.c, w.b[0], 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb,
				       &w.g[0]),
			 -ENOTCONN);
	/* Nothing was bound: the buffer goes back at once. */
	xp_rdma_release(w.c, w.b[0]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	assert_int_equal(xp_rdma_conn_service(w.c), -ENOMEM);
	xp_rdma_conn_free(w.c);
	assert_int_equal(w.g[0].calls, 0);
}

/* Take @n buffers of @w's pool into @w->b and post a bind with @access
 * over the first 4 KiB of each, its grant recorded in @w->g. */
static void grant_n(struct wfix *w, int n, unsigned int access)
{
	int i;

	for (i = 0; i < n; i++) {
		w->b[i] = xp_rdma_pool_get(w->p, &w->wn, buf_cb, NULL);
		assert_int_equal(xp_rdma_grant(w->c, w->b[i], 0, 4096, access,
					       grant_cb, &w->g[i]),
				 0);
	}
}

static void test_windows_bind_error_completion(void **state)
{
	struct xp_hdr h;
	struct wfix w;
	int i;

	(void)state;
	wfix_up(&w, &WPARAMS);
	grant_n(&w, 2, XP_VERBS_ACC_REMOTE_WRITE);
	/* The HCA refuses the first bind; the second flushes. */
	fake_hca_complete(-EIO);
	fake_hca_flush_all();
	assert_int_equal(xp_rdma_conn_service(w.c), -EIO);
	assert_int_equal(w.s.downs, 1);
	assert_int_equal(w.g[0].calls, 1);
	assert_int_equal(w.g[0].err, -EIO);
	assert_int_equal(w.g[1].calls, 1);
	assert_int_equal(w.g[1].err, -ECANCELED);
	xp_hdr_init(&h, XP_OP_READ, 1, 1);
	assert_int_equal(xp_rdma_conn_describe(w.c, w.b[0], 0, 4096, &h),
			 -EINVAL);
	for (i = 0; i < 2; i++)
		xp_rdma_release(w.c, w.b[i]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	assert_int_equal(F.invs, 0);
	xp_rdma_conn_free(w.c);
	assert_int_equal(w.g[0].calls + w.g[1].calls, 2);
}

/* Take buffer @i of @w's pool, bind its window and let it complete. */
static void bind_now(struct wfix *w, int i)
{
	w->b[i] = xp_rdma_pool_get(w->p, &w->wn, buf_cb, NULL);
	assert_int_equal(xp_rdma_grant(w->c, w->b[i], 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb,
				       &w->g[i]),
			 0);
	fake_hca_complete(0);
	assert_int_equal(xp_rdma_conn_service(w->c), 0);
	assert_int_equal(w->g[i].err, 0);
}

static void test_windows_failed_invalidate(void **state)
{
	struct wfix w;
	int i;

	(void)state;

	/* The invalidate cannot be posted: down, the buffer comes back. */
	wfix_up(&w, &WPARAMS);
	bind_now(&w, 0);
	F.fail_post = -EIO;
	xp_rdma_release(w.c, w.b[0]);
	assert_int_equal(w.s.downs, 1);
	assert_int_equal(w.s.last_err, -EIO);
	assert_int_equal(F.disconnects, 1);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	xp_rdma_conn_free(w.c);

	/* The invalidate completes with an error: down, then back. */
	wfix_again(&w);
	for (i = 0; i < 2; i++)
		bind_now(&w, i);
	xp_rdma_release(w.c, w.b[0]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 2);
	fake_hca_complete(-EIO);
	assert_int_equal(xp_rdma_conn_service(w.c), -EIO);
	assert_int_equal(w.s.downs, 1);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 3);
	/* On a connection down, a bound window's buffer comes back too:
	 * its QP is in error and nothing is granted on it again. */
	xp_rdma_release(w.c, w.b[1]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	assert_int_equal(F.invs, 1);
	xp_rdma_conn_free(w.c);
}

static void test_windows_peer_disconnect(void **state)
{
	struct wfix w;
	int i;

	(void)state;
	wfix_up(&w, &WPARAMS);
	bind_now(&w, 2);
	xp_rdma_release(w.c, w.b[2]); /* an invalidate in flight too */
	memset(&w.g[2], 0, sizeof(w.g[2]));
	grant_n(&w, 2, XP_VERBS_ACC_REMOTE_READ);
	assert_int_equal(F.nwr, 3);
	fake_push_ev(XP_CM_DISCONNECTED, &F.ids[0], 0);
	assert_int_equal(xp_rdma_conn_service(w.c), -ECONNRESET);
	assert_int_equal(w.s.downs, 1);
	/* Posted binds wait for their flush. */
	assert_int_equal(w.g[0].calls, 0);
	fake_hca_flush_all();
	assert_int_equal(xp_rdma_conn_service(w.c), -ECONNRESET);
	for (i = 0; i < 2; i++) {
		assert_int_equal(w.g[i].calls, 1);
		assert_int_equal(w.g[i].err, -ECANCELED);
		xp_rdma_release(w.c, w.b[i]);
	}
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	xp_rdma_conn_free(w.c);

	/* Freed by its owner with a bind and an invalidate in flight. */
	wfix_again(&w);
	w.b[0] = xp_rdma_pool_get(w.p, &w.wn, buf_cb, NULL);
	bind_now(&w, 1);
	xp_rdma_release(w.c, w.b[1]);
	assert_int_equal(xp_rdma_grant(w.c, w.b[0], 0, 4096,
				       XP_VERBS_ACC_REMOTE_READ, grant_cb,
				       &w.g[0]),
			 0);
	/* The owner takes its buffer back first (the QP goes first). */
	xp_rdma_pool_put(w.p, w.b[0]);
	xp_rdma_conn_free(w.c);
	assert_int_equal(w.g[0].calls, 1);
	assert_int_equal(w.g[0].err, -ECONNABORTED);
}

/*
 * The connection goes down with binds posted that the device does not
 * flush (yet): the owner releases those buffers without waiting, they go
 * back at once, and a late completion of the bind reaches nobody.
 */
static void test_windows_release_binding_when_down(void **state)
{
	struct wfix w;
	int i;

	(void)state;
	wfix_up(&w, &WPARAMS);
	grant_n(&w, 2, XP_VERBS_ACC_REMOTE_WRITE);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 2);
	/* A link watcher takes it down: no flush has come yet. */
	xp_rdma_conn_shutdown(w.c, -ENETDOWN);
	assert_int_equal(w.s.downs, 1);
	assert_int_equal(w.g[0].calls, 0);
	for (i = 0; i < 2; i++)
		xp_rdma_release(w.c, w.b[i]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	/* The flush comes late: no grant callback, nothing given twice. */
	fake_hca_flush_all();
	assert_int_equal(xp_rdma_conn_service(w.c), -ENETDOWN);
	assert_int_equal(w.g[0].calls, 0);
	assert_int_equal(w.g[1].calls, 0);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	xp_rdma_conn_free(w.c);

	/* Never flushed at all: freeing the connection drops the binds. */
	wfix_again(&w);
	grant_n(&w, 1, XP_VERBS_ACC_REMOTE_READ);
	xp_rdma_conn_shutdown(w.c, -ENETDOWN);
	xp_rdma_release(w.c, w.b[0]);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 4);
	xp_rdma_conn_free(w.c);
	assert_int_equal(w.g[0].calls, 0);
}

static void test_windows_credits(void **state)
{
	struct xp_rdma_params pp = WPARAMS;
	struct xp_rdma_credits cr;
	struct wfix w;
	int i, done;

	(void)state;
	F.caps.max_qp_wr = 5; /* less than 1 + 2 * 8: binds must queue */
	F.qp_extra = 7; /* and the provider rounds up: not used */
	pp.pool_count = 8;
	wfix_up(&w, &pp);
	xp_rdma_conn_credits(w.c, &cr);
	assert_int_equal(cr.max_posted, 5);
	grant_n(&w, 8, XP_VERBS_ACC_REMOTE_READ);
	xp_rdma_conn_credits(w.c, &cr);
	assert_int_equal(cr.posted, 5);
	assert_int_equal(cr.queued, 3);
	/* Bound ones are released while others still bind. */
	done = 0;
	while (F.nwr) {
		fake_hca_complete(0);
		assert_int_equal(xp_rdma_conn_service(w.c), 0);
		for (i = 0; i < 8; i++) {
			if (w.g[i].calls == 1 && !(done & 1 << i)) {
				done |= 1 << i;
				xp_rdma_release(w.c, w.b[i]);
			}
		}
		xp_rdma_conn_credits(w.c, &cr);
		assert_true(cr.posted <= cr.max_posted);
	}
	assert_int_equal(done, 0xff);
	assert_true(F.max_out <= 5);
	assert_int_equal(F.max_out, 5);
	assert_int_equal(F.binds, 8);
	assert_int_equal(F.invs, 8);
	assert_int_equal(xp_rdma_pool_nfree(w.p), 8);
	assert_int_equal(w.s.downs, 0);
	xp_rdma_conn_free(w.c);
}

static void test_windows_unsupported(void **state)
{
	struct xp_rdma_params off = WPARAMS;
	struct state_rec s = {0};
	struct grant_rec g = {0};
	struct xp_rdma_conn *c;
	struct xp_rdma_pool *p;
	struct xp_rdma_buf *b;
	struct xp_rdma_wait wn;
	struct xp_hdr h;
	int round;

	(void)state;
	/* A device without type 2 windows, then windows turned off. */
	for (round = 0; round < 2; round++) {
		memset(&F, 0, offsetof(struct fake, caps));
		fake_setup(NULL);
		memset(&s, 0, sizeof(s));
		F.caps.mw_type2 = round == 1;
		off.windows = round == 0;
		c = gw_up(&off, &s);
		assert_false(xp_rdma_conn_windows(c));
		assert_int_equal(F.n_mw, 0);
		assert_int_equal(F.mrs[0].access,
				 XP_VERBS_ACC_LOCAL_WRITE |
					 XP_VERBS_ACC_REMOTE_READ |
					 XP_VERBS_ACC_REMOTE_WRITE);
		assert_int_equal(F.qp_max_send_wr, 1);
		p = xp_rdma_conn_pool(c);
		b = xp_rdma_pool_get(p, &wn, buf_cb, NULL);
		assert_int_equal(xp_rdma_grant(c, b, 0, 4096,
					       XP_VERBS_ACC_REMOTE_READ,
					       grant_cb, &g),
				 -EOPNOTSUPP);
		xp_hdr_init(&h, XP_OP_READ, 1, 1);
		assert_int_equal(xp_rdma_conn_describe(c, b, 0, 4096, &h), 0);
		assert_int_equal(h.desc_key, xp_rdma_pool_rkey(p));
		xp_rdma_release(c, b);
		assert_int_equal(xp_rdma_pool_nfree(p), 4);
		assert_int_equal(F.posts, 0);
		xp_rdma_conn_free(c);
		fake_teardown(NULL);
	}
	assert_int_equal(g.calls, 0);

	/* Windows asked for but not allocatable: the connection fails. */
	memset(&F, 0, offsetof(struct fake, caps));
	fake_setup(NULL);
	memset(&s, 0, sizeof(s));
	F.caps.mw_type2 = true;
	F.fail_alloc_mw = -ENOMEM;
	{
		uint8_t token[XP_RDMA_TOKEN_LEN] = {1};
		struct sockaddr_storage dst = fake_dst_addr();

		c = xp_rdma_connect(&fake_ops, &WPARAMS,
				    (struct sockaddr *)&dst, 1, token, state_cb,
				    &s);
		assert_non_null(c);
		fake_push_ev(XP_CM_ADDR_RESOLVED, &F.ids[0], 0);
		fake_push_ev(XP_CM_ROUTE_RESOLVED, &F.ids[0], 0);
		assert_int_equal(xp_rdma_conn_service(c), -ENOMEM);
		assert_int_equal(s.downs, 1);
		assert_int_equal(F.connects, 0);
		xp_rdma_conn_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_windows_bind_invalidate,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_windows_failed_bind_post,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_windows_bind_error_completion, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_windows_failed_invalidate,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_windows_peer_disconnect,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_windows_release_binding_when_down, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_windows_credits,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_windows_unsupported,
						fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
