/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RDMA payload path end to end, on the host: the gateway engine
 * (sb_engine_new_verbs) and 1 to 3 storage nodes (nd_server threads,
 * tests/common/cluster.h) in this process, their RDMA connections over the
 * fake device's loopback fabric (tests/common/fake_verbs.h), so that the
 * engine's and the node's RDMA logic run without a QEMU guest:
 *
 *   offer and token connect, payload by RDMA (data and counters checked),
 *     with windows or the whole pool; a request too big for a buffer
 *   a forged or spent token refused by the node, I/O inline meanwhile
 *   more I/O than gateway buffers, node buffers and node credits
 *   window binds that fail (post, completion), one or several in flight:
 *     those requests inline
 *   node RDMA operations that fail: EPROTO, resent inline
 *   teardown with work posted: every fake object released
 *   a node without RDMA in the cluster; a node restart; a request timing
 *     out on a dead wire
 *   the link under the connection going down with requests in flight
 *     (root: a network namespace of the test's own with a tap device)
 *
 * Every test starts a fresh fabric and cluster and ends by freeing the
 * engine and stopping the nodes, then checks that every object the fake
 * made was released and no verbs rule was broken (fake_all_released);
 * LeakSanitizer checks the memory. Waits poll with deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/engine.h"
#include "lib/place.h"
#include "lib/util/log.h"
#include "tests/common/cluster.h"
#include "tests/common/fake_verbs.h"
#include "xport/rdma.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define CHUNK MIB
#define LUN_SIZE (16 * MIB)
#define IO_TIMEOUT_MS 5000
#define WAIT_MS 5000 /* longest any one wait here */
#define RETRY_WAIT_MS 8000 /* an offer asked again after the back-off */
#define TAP_NAME "sbtap0"

#define OP(x) (1u << (x))
#define DATA_OPS (OP(XP_VERBS_RDMA_READ) | OP(XP_VERBS_RDMA_WRITE))

/* What a test's cluster looks like; zero fields keep the defaults. */
struct opts {
	unsigned int nodes;
	unsigned int replicas;
	uint32_t node_max_ops, node_buffers, node_segment;
	unsigned int gw_buffers;
	uint32_t gw_buffer_size;
	bool no_mw; /* a device without type 2 windows */
	uint32_t rd_depth; /* the device's max_qp_init_rd_atom */
	bool no_wait; /* do not wait for RDMA to be up */
	bool plain_node0; /* node 0 has no rdma_device */
	unsigned int io_timeout_ms;
	void (*before)(void); /* after the fabric reset, before the nodes */
};

static struct {
	struct tcl_cluster tc;
	struct sb_engine *e;
	uint64_t lun;
} fx;

/* ---- time ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- completions ----------------------------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int pending, calls, nerr;
	int first_err;
};

static void waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
}

static void waiter_destroy(struct waiter *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

static void waiter_cb(struct sb_io *io, int err)
{
	struct waiter *w = io->cb_arg;

	pthread_mutex_lock(&w->lock);
	w->calls++;
	w->pending--;
	if (err && !w->nerr++)
		w->first_err = err;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Submit @op of @len bytes at @off, from or into @buf, counted in @w. */
static void submit(struct waiter *w, struct sb_io *io, struct iovec *v,
		   enum sb_io_op op, uint64_t off, void *buf, size_t len)
{
	*v = (struct iovec){buf, len};
	memset(io, 0, sizeof(*io));
	io->op = op;
	io->lun_id = fx.lun;
	io->offset = off;
	io->length = len;
	io->iov = v;
	io->iovcnt = 1;
	io->cb = waiter_cb;
	io->cb_arg = w;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_mutex_unlock(&w->lock);
	assert_int_equal(sb_engine_submit(fx.e, io), 0);
}

/*
 * Wait until nothing of @w is pending; meanwhile, when @hca, act as the
 * node's HCA: execute what the fake holds once @batch requests are held
 * (or 5 ms passed without that many), so that queues fill up first.
 */
static void waiter_wait(struct waiter *w, bool hca, int batch)
{
	uint64_t until = now_ms() + WAIT_MS, last = now_ms();
	unsigned int pending;

	for (;;) {
		struct timespec ts;

		pthread_mutex_lock(&w->lock);
		pending = w->pending;
		if (pending && !hca) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 5000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&w->cond, &w->lock, &ts);
			pending = w->pending;
		}
		pthread_mutex_unlock(&w->lock);
		if (!pending || now_ms() > until)
			break;
		if (!hca)
			continue;
		if (fake_held() >= batch || now_ms() - last >= 5) {
			fake_run_held();
			last = now_ms();
		} else {
			sleep_ms(1);
		}
	}
	if (pending)
		fail_msg("%u completions missing after %d ms", pending,
			 WAIT_MS);
}

/*
 * The requests of a test, in static storage: a test that fails with some
 * still in flight leaves them valid for their completion (-ESHUTDOWN)
 * when teardown frees the engine.
 */
#define MAX_BATCH 32
static struct waiter BW, ONE_W;
static struct sb_io BIO[MAX_BATCH], ONE_IO;
static struct iovec BV[MAX_BATCH], ONE_V;

/* One READ or WRITE, waited for; its status. */
static int do_rw(enum sb_io_op op, uint64_t off, void *buf, size_t len)
{
	int err;

	waiter_init(&ONE_W);
	submit(&ONE_W, &ONE_IO, &ONE_V, op, off, buf, len);
	waiter_wait(&ONE_W, false, 0);
	err = ONE_W.first_err;
	assert_int_equal(ONE_W.calls, 1);
	waiter_destroy(&ONE_W);
	return err;
}

static void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* Write @len bytes of pattern @seed at @off, read them back, compare. */
static void write_verify(uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *w = malloc(len), *r = malloc(len);

	assert_non_null(w);
	assert_non_null(r);
	fill(w, len, seed);
	memset(r, 0, len);
	assert_int_equal(do_rw(SB_IO_WRITE, off, w, len), 0);
	assert_int_equal(do_rw(SB_IO_READ, off, r, len), 0);
	assert_memory_equal(w, r, len);
	free(w);
	free(r);
}

/* ---- counters -------------------------------------------------------------- */

static void node_stat(unsigned int i, struct xp_stat *st)
{
	assert_true(sb_engine_stat(fx.e, i, st, NULL) >= 0);
}

static struct sb_engine_stats eng_stats(void)
{
	struct sb_engine_stats st;

	sb_engine_get_stats(fx.e, &st);
	return st;
}

/* Wait until node @i's payload is @want, with @why_has in its reason. */
static void wait_payload(unsigned int i, enum sb_payload want,
			 const char *why_has, unsigned int ms)
{
	uint64_t until = now_ms() + ms;
	enum sb_payload p;
	char why[128];

	for (;;) {
		p = sb_engine_node_payload(fx.e, i, why, sizeof(why));
		if (p == want && (!why_has || strstr(why, why_has)))
			return;
		if (now_ms() > until)
			break;
		sleep_ms(5);
	}
	fail_msg("node %u: payload %d (%s), waited for %d with \"%s\"", i, p,
		 why, want, why_has ? why_has : "");
}

/* ---- cluster --------------------------------------------------------------- */

static void start(const struct opts *o)
{
	unsigned int n = o->nodes ? o->nodes : 1, i;
	char err[512];

	fake_fabric_reset();
	if (o->no_mw)
		F.caps.mw_type2 = false;
	if (o->rd_depth)
		F.caps.max_qp_init_rd_atom = o->rd_depth;
	if (o->before)
		o->before();
	assert_int_equal(tcl_init(&fx.tc, n, FAKE_DEVICE), 0);
	for (i = 0; i < n; i++) {
		struct sb_nodecfg *cfg = &fx.tc.nodes[i].cfg;

		if (o->node_max_ops)
			cfg->rdma_max_ops = o->node_max_ops;
		if (o->node_buffers)
			cfg->rdma_buffers = o->node_buffers;
		if (o->node_segment)
			cfg->rdma_segment = o->node_segment;
		if (o->plain_node0 && i == 0)
			cfg->rdma_device[0] = '\0';
		if (tcl_node_start(&fx.tc, i, &fake_fabric_ops, err,
				   sizeof(err)))
			fail_msg("%s", err);
	}
	assert_int_equal(tcl_cluster_conf(&fx.tc, o->replicas ? o->replicas : 1,
					  CHUNK,
					  o->io_timeout_ms ? o->io_timeout_ms
							   : IO_TIMEOUT_MS),
			 0);
	fx.tc.cl.rdma_buffers = o->gw_buffers ? o->gw_buffers : 8;
	if (o->gw_buffer_size)
		fx.tc.cl.rdma_buffer_size = o->gw_buffer_size;
	fx.e = sb_engine_new_verbs(&fx.tc.cl, &fx.tc.secret, &fake_fabric_ops,
				   err, sizeof(err));
	if (!fx.e)
		fail_msg("sb_engine_new_verbs: %s", err);
	assert_int_equal(sb_engine_wait_ready(fx.e, WAIT_MS), (int)n);
	assert_int_equal(sb_engine_lun_create(fx.e, "rdma-path", LUN_SIZE), 0);
	fx.lun = sb_lun_id("rdma-path");
	for (i = o->plain_node0 ? 1 : 0; i < n && !o->no_wait; i++)
		wait_payload(i, SB_PAYLOAD_RDMA, NULL, WAIT_MS);
}

/* Free the engine, stop the nodes; every fake object must be released. */
static void finish(void)
{
	char why[512];

	sb_engine_free(fx.e);
	fx.e = NULL;
	tcl_destroy(&fx.tc);
	if (!fake_all_released(why, sizeof(why)))
		fail_msg("fake device: %s", why);
}

/* What a failed test left behind. */
static int teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	fx.e = NULL;
	tcl_destroy(&fx.tc);
	fake_hold(0);
	return 0;
}

/* ---- tests ----------------------------------------------------------------- */

/*
 * Three nodes, two replicas: each node offers, the gateway connects with
 * the token, and READ/WRITE payload moves by RDMA only, through a memory
 * window per request: every byte counted as RDMA by the engine, the nodes
 * and the fabric, none inline, data identical.
 */
static void test_payload_by_rdma(void **state)
{
	struct opts o = {.nodes = 3, .replicas = 2};
	struct xp_stat s0[3], s1[3];
	struct sb_engine_stats es;
	uint64_t rdma = 0;
	size_t len = 4 * MIB;
	unsigned int i;
	char why[128];

	(void)state;
	start(&o);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sb_engine_node_payload(fx.e, i, why,
							sizeof(why)),
				 SB_PAYLOAD_RDMA);
		node_stat(i, &s0[i]);
		assert_true(s0[i].flags & XP_STAT_F_RDMA);
		assert_true(s0[i].flags & XP_STAT_F_RDMA_SESSION);
	}
	write_verify(512 * KIB, len, 1);
	for (i = 0; i < 3; i++) {
		node_stat(i, &s1[i]);
		rdma += s1[i].bytes_rdma - s0[i].bytes_rdma;
		/* STAT's own answer only: no payload inline. */
		assert_true(s1[i].bytes_tcp_payload - s0[i].bytes_tcp_payload <
			    4 * KIB);
	}
	assert_int_equal(rdma, 2 * len + len);
	es = eng_stats();
	assert_int_equal(es.bytes_rdma, 3 * len);
	assert_int_equal(es.bytes_inline, 0);
	assert_int_equal(es.rdma_fallbacks, 0);
	/* Into each replica's buffer for WRITE, out of one for READ. */
	assert_int_equal(es.copy_bytes, 3 * len);
	fake_lock();
	assert_int_equal(F.connects, 3);
	assert_int_equal(F.accepts, 3);
	assert_int_equal(F.rejects, 0);
	assert_int_equal(F.rdma_bytes, 3 * len);
	assert_int_equal(F.rdma_errors, 0);
	assert_true(F.binds > 0);
	assert_int_equal(F.binds, F.invs);
	assert_int_equal(F.bound_now, 0);
	fake_unlock();
	finish();
}

/*
 * A device without type 2 windows: the whole pool is registered for
 * remote access, descriptors carry the pool's key, nothing is bound.
 */
static void test_payload_whole_pool(void **state)
{
	struct opts o = {.nodes = 1, .no_mw = true};
	struct xp_stat s0, s1;

	(void)state;
	start(&o);
	node_stat(0, &s0);
	write_verify(0, 3 * MIB, 2);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 6 * MIB);
	assert_int_equal(eng_stats().bytes_inline, 0);
	fake_lock();
	assert_int_equal(F.n_mw, 0);
	assert_int_equal(F.binds, 0);
	assert_int_equal(F.rdma_bytes, 6 * MIB);
	fake_unlock();
	finish();
}

/*
 * A request larger than a gateway buffer goes inline; a smaller one on
 * the same connection by RDMA.
 */
static void test_large_request_inline(void **state)
{
	struct opts o = {.nodes = 1, .gw_buffer_size = 256 * KIB};
	struct xp_stat s0, s1, s2;

	(void)state;
	start(&o);
	node_stat(0, &s0);
	write_verify(0, MIB, 20);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma, s0.bytes_rdma);
	assert_true(s1.bytes_tcp_payload - s0.bytes_tcp_payload >= 2 * MIB);
	write_verify(MIB, 128 * KIB, 21);
	node_stat(0, &s2);
	assert_int_equal(s2.bytes_rdma - s1.bytes_rdma, 256 * KIB);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, 0);
	finish();
}

static void bad_token_always(void)
{
	fake_inject_bad_token(-1);
}

/*
 * Every token the gateway presents is altered on the way: the node
 * refuses each connect request, the gateway says why and moves payload
 * inline (the nodes count it on TCP, nothing by RDMA). Once tokens arrive
 * intact, the next offer after the back-off brings RDMA up.
 */
static void test_forged_token_refused(void **state)
{
	struct opts o = {
		.nodes = 1, .no_wait = true, .before = bad_token_always};
	struct xp_stat s0, s1;

	(void)state;
	start(&o);
	wait_payload(0, SB_PAYLOAD_TCP, "refused", WAIT_MS);
	node_stat(0, &s0);
	write_verify(0, MIB, 3);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma, s0.bytes_rdma);
	assert_true(s1.bytes_tcp_payload - s0.bytes_tcp_payload >= 2 * MIB);
	assert_false(s1.flags & XP_STAT_F_RDMA_SESSION);
	assert_true(eng_stats().bytes_inline >= 2 * MIB);
	fake_lock();
	assert_true(F.rejects >= 1);
	assert_int_equal(F.accepts, 0);
	fake_unlock();

	fake_inject_bad_token(0);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, RETRY_WAIT_MS);
	node_stat(0, &s0);
	write_verify(MIB, MIB, 4);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2 * MIB);
	finish();
}

struct conn_rec {
	int calls;
	int err;
};

static void conn_cb(void *arg, struct xp_rdma_conn *c, int err)
{
	struct conn_rec *r = arg;

	(void)c;
	r->calls++;
	r->err = err;
}

/* Connect to node 0's RDMA listener with @token as gateway @gw. */
static int connect_with(uint64_t gw, const uint8_t *token)
{
	struct xp_rdma_params p = {
		.max_ops = 1, .pool_count = 2, .pool_size = 4096};
	struct sockaddr_in dst = {.sin_family = AF_INET};
	struct conn_rec r = {0};
	struct xp_rdma_conn *c;
	uint64_t until = now_ms() + WAIT_MS;

	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons(fx.tc.nodes[0].cfg.rdma_port);
	c = xp_rdma_connect(&fake_fabric_ops, &p, (struct sockaddr *)&dst, gw,
			    token, conn_cb, &r);
	assert_non_null(c);
	while (!r.calls && now_ms() < until) {
		struct pollfd pf = {.fd = xp_rdma_conn_cm_fd(c),
				    .events = POLLIN};

		poll(&pf, 1, 5);
		xp_rdma_conn_service(c);
	}
	xp_rdma_conn_free(c);
	assert_int_equal(r.calls, 1);
	return r.err;
}

/*
 * The token the engine spent, replayed by another connect with the same
 * gateway id, and a token nobody issued: the node refuses both; the
 * engine's connection carries on by RDMA.
 */
static void test_spent_token_refused(void **state)
{
	struct opts o = {.nodes = 1};
	uint8_t priv[XP_VERBS_PRIV_MAX], forged[XP_RDMA_TOKEN_LEN];
	struct xp_rdma_priv pd;
	struct xp_stat s0, s1;
	int len;

	(void)state;
	start(&o);
	fake_lock();
	len = F.conn_priv_len;
	memcpy(priv, F.conn_priv, sizeof(priv));
	fake_unlock();
	assert_int_equal(xp_rdma_priv_decode(priv, (size_t)len, &pd), 0);
	assert_int_equal(connect_with(pd.gateway_id, pd.token), -ECONNREFUSED);
	memset(forged, 0x5a, sizeof(forged));
	assert_int_equal(connect_with(pd.gateway_id, forged), -ECONNREFUSED);
	fake_lock();
	assert_int_equal(F.rejects, 2);
	assert_int_equal(F.accepts, 1);
	fake_unlock();
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, 0);
	node_stat(0, &s0);
	write_verify(0, MIB, 5);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2 * MIB);
	finish();
}

/*
 * 24 concurrent requests of 256 KiB against 2 gateway buffers, 3 node
 * buffers of 64 KiB (4 segments a request), 2 node credits and a READ
 * depth of 1, the node's RDMA operations held until they pile up: all
 * complete by RDMA, data identical, and the node never has more than 2
 * operations (1 RDMA READ) posted, nor the gateway more than 2 windows.
 */
static void test_credits_and_dry_pools(void **state)
{
	struct opts o = {.nodes = 1,
			 .node_max_ops = 2,
			 .node_buffers = 3,
			 .node_segment = 64 * KIB,
			 .gw_buffers = 2,
			 .gw_buffer_size = 256 * KIB,
			 .rd_depth = 1};
	enum { NIO = 24, LEN = 256 * KIB };
	uint8_t *wb = malloc((size_t)NIO * LEN),
		*rb = malloc((size_t)NIO * LEN);
	struct sb_engine_stats es;
	struct xp_stat s0, s1;
	int i;

	(void)state;
	assert_non_null(wb);
	assert_non_null(rb);
	start(&o);
	node_stat(0, &s0);
	fill(wb, (size_t)NIO * LEN, 6);
	fake_hold(DATA_OPS);
	waiter_init(&BW);
	for (i = 0; i < NIO; i++)
		submit(&BW, &BIO[i], &BV[i], SB_IO_WRITE, (uint64_t)i * LEN,
		       wb + (size_t)i * LEN, LEN);
	waiter_wait(&BW, true, 1);
	assert_int_equal(BW.nerr, 0);
	fake_lock();
	assert_int_equal(F.peak_passive_reads, 1);
	assert_int_equal(F.peak_passive, 1);
	fake_unlock();
	for (i = 0; i < NIO; i++)
		submit(&BW, &BIO[i], &BV[i], SB_IO_READ, (uint64_t)i * LEN,
		       rb + (size_t)i * LEN, LEN);
	waiter_wait(&BW, true, 2);
	assert_int_equal(BW.nerr, 0);
	assert_int_equal(BW.calls, 2 * NIO);
	waiter_destroy(&BW);
	fake_hold(0);
	assert_memory_equal(wb, rb, (size_t)NIO * LEN);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2ull * NIO * LEN);
	es = eng_stats();
	assert_int_equal(es.bytes_inline, 0);
	assert_int_equal(es.bytes_rdma, 2ull * NIO * LEN);
	fake_lock();
	assert_int_equal(F.peak_passive, 2);
	assert_true(F.peak_bound >= 1 && F.peak_bound <= 2);
	assert_int_equal(F.violations, 0);
	fake_unlock();
	free(wb);
	free(rb);
	finish();
}

/*
 * Run @inject, then one 256 KiB WRITE: it must complete inline (the RDMA
 * connection went down on the failure); its data reads back intact, and
 * RDMA comes back after the back-off.
 */
static void one_write_goes_inline(void (*inject)(void))
{
	struct opts o = {.nodes = 1};
	struct xp_stat s0, s1;
	uint8_t *buf = malloc(256 * KIB), *rb = malloc(256 * KIB);

	assert_non_null(buf);
	assert_non_null(rb);
	start(&o);
	node_stat(0, &s0);
	fill(buf, 256 * KIB, 7);
	inject();
	assert_int_equal(do_rw(SB_IO_WRITE, 0, buf, 256 * KIB), 0);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma, s0.bytes_rdma);
	assert_true(s1.bytes_tcp_payload - s0.bytes_tcp_payload >= 256 * KIB);
	assert_true(eng_stats().bytes_inline >= 256 * KIB);
	assert_int_equal(do_rw(SB_IO_READ, 0, rb, 256 * KIB), 0);
	assert_memory_equal(buf, rb, 256 * KIB);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, RETRY_WAIT_MS);
	write_verify(MIB, 256 * KIB, 8);
	free(buf);
	free(rb);
}

static void bind_post_fails(void)
{
	fake_inject_post_error(OP(XP_VERBS_BIND_MW), -ENOMEM, 1);
}

static void bind_completes_in_error(void)
{
	fake_inject_wc_error(OP(XP_VERBS_BIND_MW), -EIO, 1);
}

/* The window's bind cannot be posted: the request goes inline. */
static void test_bind_post_fails_inline(void **state)
{
	(void)state;
	one_write_goes_inline(bind_post_fails);
	finish();
}

/* The window's bind completes in error: the request goes inline. */
static void test_bind_error_inline(void **state)
{
	(void)state;
	one_write_goes_inline(bind_completes_in_error);
	fake_lock();
	assert_true(F.binds >= 2);
	fake_unlock();
	finish();
}

/*
 * The node's RDMA READ (for a WRITE), then its RDMA WRITE (for a READ),
 * completes with a remote access error: the node answers EPROTO, the
 * gateway resends the request inline; the data is right both ways.
 */
static void test_node_rdma_error_eproto(void **state)
{
	struct opts o = {.nodes = 1};
	uint8_t *wb = malloc(MIB), *rb = malloc(MIB);

	(void)state;
	assert_non_null(wb);
	assert_non_null(rb);
	start(&o);
	fill(wb, MIB, 9);
	fake_inject_wc_error(OP(XP_VERBS_RDMA_READ), -EACCES, 1);
	assert_int_equal(do_rw(SB_IO_WRITE, 0, wb, MIB), 0);
	assert_int_equal(eng_stats().rdma_fallbacks, 1);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, RETRY_WAIT_MS);
	fake_inject_wc_error(OP(XP_VERBS_RDMA_WRITE), -EACCES, 1);
	assert_int_equal(do_rw(SB_IO_READ, 0, rb, MIB), 0);
	assert_memory_equal(wb, rb, MIB);
	assert_int_equal(eng_stats().rdma_fallbacks, 2);
	fake_lock();
	assert_int_equal(F.rdma_errors, 2);
	fake_unlock();
	free(wb);
	free(rb);
	finish();
}

/* Submit @n WRITEs of @len bytes from @buf at 0, @len, ... into @w. */
static void submit_writes(struct waiter *w, struct sb_io *io, struct iovec *v,
			  int n, uint8_t *buf, size_t len)
{
	int i;

	for (i = 0; i < n; i++)
		submit(w, &io[i], &v[i], SB_IO_WRITE, (uint64_t)i * len,
		       buf + (size_t)i * len, len);
}

/* Wait until the fabric holds @n work requests. */
static void wait_held(int n)
{
	uint64_t until = now_ms() + WAIT_MS;

	while (fake_held() < n && now_ms() < until)
		sleep_ms(1);
	assert_int_equal(fake_held(), n);
}

/* Read back @n pieces of @len bytes at 0, @len, ... and compare. */
static void verify_pieces(const uint8_t *buf, int n, size_t len)
{
	uint8_t *rb = malloc((size_t)n * len);
	int i;

	assert_non_null(rb);
	for (i = 0; i < n; i++)
		assert_int_equal(do_rw(SB_IO_READ, (uint64_t)i * len,
				       rb + (size_t)i * len, len),
				 0);
	assert_memory_equal(buf, rb, (size_t)n * len);
	free(rb);
}

/*
 * Six WRITEs wait for their windows, the binds posted and not done; the
 * first bind fails, the others flush with the QP: every one of the six
 * goes inline and completes.
 */
static void test_binds_in_flight_flush(void **state)
{
	enum { NIO = 6, LEN = 256 * KIB };
	struct opts o = {.nodes = 1};
	uint8_t *wb = malloc((size_t)NIO * LEN);
	struct xp_stat s0, s1;

	(void)state;
	assert_non_null(wb);
	start(&o);
	node_stat(0, &s0);
	fill(wb, (size_t)NIO * LEN, 18);
	fake_hold(OP(XP_VERBS_BIND_MW));
	waiter_init(&BW);
	submit_writes(&BW, BIO, BV, NIO, wb, LEN);
	wait_held(NIO);
	fake_hold(0);
	fake_inject_wc_error(OP(XP_VERBS_BIND_MW), -EIO, 1);
	assert_int_equal(fake_run_held(), NIO);
	waiter_wait(&BW, false, 0);
	assert_int_equal(BW.nerr, 0);
	waiter_destroy(&BW);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma, s0.bytes_rdma);
	assert_true(s1.bytes_tcp_payload - s0.bytes_tcp_payload >=
		    (uint64_t)NIO * LEN);
	verify_pieces(wb, NIO, LEN);
	free(wb);
	finish();
}

/*
 * Eight WRITEs with their node RDMA READs posted; the first completes
 * with a remote access error, the rest flush: the node answers all eight
 * EPROTO and the gateway resends each inline.
 */
static void test_eproto_many_in_flight(void **state)
{
	enum { NIO = 8, LEN = 256 * KIB };
	struct opts o = {.nodes = 1};
	uint8_t *wb = malloc((size_t)NIO * LEN);

	(void)state;
	assert_non_null(wb);
	start(&o);
	fill(wb, (size_t)NIO * LEN, 19);
	fake_hold(DATA_OPS);
	waiter_init(&BW);
	submit_writes(&BW, BIO, BV, NIO, wb, LEN);
	wait_held(NIO);
	fake_hold(0);
	fake_inject_wc_error(OP(XP_VERBS_RDMA_READ), -EACCES, 1);
	assert_int_equal(fake_run_held(), NIO);
	waiter_wait(&BW, false, 0);
	assert_int_equal(BW.nerr, 0);
	waiter_destroy(&BW);
	assert_int_equal(eng_stats().rdma_fallbacks, NIO);
	verify_pieces(wb, NIO, LEN);
	free(wb);
	finish();
}

/*
 * Teardown while work is posted: the nodes' RDMA operations are held when
 * the engine is freed (its requests complete with ESHUTDOWN), then the
 * nodes stop; every id, channel, PD, CQ, QP, MR and MW is released.
 */
static void test_teardown_releases_all(void **state)
{
	struct opts o = {.nodes = 3, .replicas = 2};
	enum { NIO = 12, LEN = 512 * KIB };
	uint8_t *wb = malloc((size_t)NIO * LEN);
	uint64_t until;
	char why[512];
	int i;

	(void)state;
	assert_non_null(wb);
	start(&o);
	fill(wb, (size_t)NIO * LEN, 10);
	fake_hold(DATA_OPS);
	waiter_init(&BW);
	for (i = 0; i < NIO; i++)
		submit(&BW, &BIO[i], &BV[i], SB_IO_WRITE, (uint64_t)i * LEN,
		       wb + (size_t)i * LEN, LEN);
	until = now_ms() + WAIT_MS;
	while (fake_held() < 3 && now_ms() < until)
		sleep_ms(1);
	assert_true(fake_held() >= 3);
	fake_lock();
	assert_int_equal(F.n_qp, 6);
	assert_true(F.n_mw >= 3 * 8);
	assert_true(F.bound_now >= 1);
	fake_unlock();
	sb_engine_free(fx.e);
	fx.e = NULL;
	pthread_mutex_lock(&BW.lock);
	assert_int_equal(BW.calls, NIO);
	assert_int_equal(BW.pending, 0);
	assert_int_equal(BW.first_err, -ESHUTDOWN);
	pthread_mutex_unlock(&BW.lock);
	waiter_destroy(&BW);
	tcl_destroy(&fx.tc);
	fake_hold(0);
	if (!fake_all_released(why, sizeof(why)))
		fail_msg("fake device: %s", why);
	free(wb);
}

/*
 * A cluster where node 1 has no RDMA device configured: payload to it
 * stays inline, and the engine says why; node 2 takes its replica by
 * RDMA; the data reads back intact from either.
 */
static void test_mixed_cluster(void **state)
{
	struct opts o = {.nodes = 2, .replicas = 2, .plain_node0 = true};
	struct xp_stat a0, a1, b0, b1;

	(void)state;
	start(&o);
	wait_payload(0, SB_PAYLOAD_TCP, "offers no RDMA", WAIT_MS);
	wait_payload(1, SB_PAYLOAD_RDMA, NULL, 0);
	node_stat(0, &a0);
	node_stat(1, &b0);
	assert_false(a0.flags & XP_STAT_F_RDMA);
	write_verify(0, 2 * MIB, 13);
	node_stat(0, &a1);
	node_stat(1, &b1);
	assert_int_equal(a1.bytes_rdma, 0);
	assert_true(a1.bytes_tcp_payload - a0.bytes_tcp_payload >= 2 * MIB);
	assert_true(b1.bytes_rdma - b0.bytes_rdma >= 2 * MIB);
	assert_true(b1.bytes_tcp_payload - b0.bytes_tcp_payload < 4 * KIB);
	finish();
}

/*
 * The node restarts: its RDMA connection dies with it (the gateway hears
 * DISCONNECTED), payload falls back while it is away, and the new
 * session gets a new offer and connection.
 */
static void test_node_restart(void **state)
{
	struct opts o = {.nodes = 1};
	uint64_t until;
	char err[512];

	(void)state;
	start(&o);
	write_verify(0, MIB, 14);
	tcl_node_stop(&fx.tc, 0);
	until = now_ms() + WAIT_MS;
	while (sb_engine_node_up(fx.e, 0) && now_ms() < until)
		sleep_ms(5);
	assert_false(sb_engine_node_up(fx.e, 0));
	wait_payload(0, SB_PAYLOAD_TCP, NULL, WAIT_MS);
	if (tcl_node_start(&fx.tc, 0, &fake_fabric_ops, err, sizeof(err)))
		fail_msg("%s", err);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, RETRY_WAIT_MS);
	write_verify(MIB, MIB, 15);
	fake_lock();
	assert_int_equal(F.accepts, 2);
	fake_unlock();
	finish();
}

/* Wait until the fabric has @n queue pairs. */
static void wait_qps(int n)
{
	uint64_t until = now_ms() + WAIT_MS;
	int got;

	do {
		fake_lock();
		got = F.n_qp;
		fake_unlock();
		if (got == n)
			return;
		sleep_ms(5);
	} while (now_ms() < until);
	fail_msg("%d queue pairs, not %d", got, n);
}

/*
 * The node's RDMA READ for a WRITE never completes and the wire is dead
 * (nothing reaches the node): the WRITE times out, the engine resets the
 * node's connections (QP first) and comes back by RDMA on a new session.
 * When the stuck operation finally fails (retries exceeded), the node
 * frees the old session's connection.
 */
static void test_timeout_resets_rdma(void **state)
{
	struct opts o = {.nodes = 1, .io_timeout_ms = 1000};
	uint8_t *buf = malloc(256 * KIB);

	(void)state;
	assert_non_null(buf);
	start(&o);
	fill(buf, 256 * KIB, 16);
	fake_hold(DATA_OPS);
	fake_partition(true);
	assert_int_equal(do_rw(SB_IO_WRITE, 0, buf, 256 * KIB), -ETIMEDOUT);
	assert_true(eng_stats().timeouts >= 1);
	assert_int_equal(fake_held(), 1);
	fake_hold(0);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, RETRY_WAIT_MS);
	fake_partition(false);
	assert_int_equal(fake_run_held(), 1);
	wait_qps(2); /* the new connection's two ends */
	write_verify(0, 256 * KIB, 17);
	fake_lock();
	assert_int_equal(F.accepts, 2);
	fake_unlock();
	free(buf);
	finish();
}

/* ---- link watching ------------------------------------------------------------ */

static int tap_fd = -1;
static int tap_ifindex;

/* The fake's connections run on the tap device. */
static void on_tap(void)
{
	F.netdev = tap_ifindex;
}

static int if_up(const char *name, bool up)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		ret = -errno;
	} else {
		if (up)
			ifr.ifr_flags |= IFF_UP;
		else
			ifr.ifr_flags &= ~IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			ret = -errno;
	}
	close(fd);
	return ret;
}

/*
 * A network namespace of our own with lo up (TCP) and a tap device up:
 * the link the fake says the RDMA connections run on. Its ifindex, or
 * a negative errno with the reason in @why.
 */
static int netns_with_tap(char *why, size_t len)
{
	struct ifreq ifr;
	int ret;

	if (unshare(CLONE_NEWNET)) {
		ret = -errno;
		snprintf(why, len, "no network namespace of our own: %s",
			 strerror(errno));
		return ret;
	}
	ret = if_up("lo", true);
	if (!ret) {
		tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		ret = tap_fd < 0 ? -errno : 0;
	}
	if (!ret) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP_NAME);
		ret = ioctl(tap_fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
	}
	if (!ret)
		ret = if_up(TAP_NAME, true);
	if (ret) {
		snprintf(why, len, "cannot set up lo and a tap device: %s",
			 strerror(-ret));
		return ret;
	}
	return (int)if_nametoindex(TAP_NAME);
}

/*
 * The link under the RDMA connection goes down while WRITEs are in
 * flight, their RDMA READs posted at the node and not done. The fabric is
 * partitioned like the wire: only the TCP notice tells the node. Every
 * request completes without error, resent inline; the engine says which
 * link is down; the data reads back intact, inline. The link's return
 * brings RDMA back at once.
 */
static void test_link_down_in_flight(void **state)
{
	enum { NIO = 8, LEN = 256 * KIB };
	struct opts o = {.nodes = 1, .node_max_ops = 4, .before = on_tap};
	uint8_t *wb = malloc((size_t)NIO * LEN),
		*rb = malloc((size_t)NIO * LEN);
	struct xp_stat s0, s1;
	uint64_t until;
	char why[160];
	int ifindex, i;

	(void)state;
	assert_non_null(wb);
	assert_non_null(rb);
	if (geteuid() != 0) {
		print_message("SKIP: not root: the test needs a network "
			      "namespace and a tap device of its own\n");
		skip();
	}
	ifindex = netns_with_tap(why, sizeof(why));
	if (ifindex < 0) {
		print_message("SKIP: %s\n", why);
		skip();
	}
	assert_true(ifindex > 0);
	tap_ifindex = ifindex;
	start(&o);

	node_stat(0, &s0);
	fill(wb, (size_t)NIO * LEN, 11);
	fake_hold(DATA_OPS);
	waiter_init(&BW);
	for (i = 0; i < NIO; i++)
		submit(&BW, &BIO[i], &BV[i], SB_IO_WRITE, (uint64_t)i * LEN,
		       wb + (size_t)i * LEN, LEN);
	until = now_ms() + WAIT_MS;
	while (fake_held() < 4 && now_ms() < until)
		sleep_ms(1);
	assert_int_equal(fake_held(), 4);
	fake_partition(true);
	assert_int_equal(if_up(TAP_NAME, false), 0);
	/* Nothing executes the held operations: the node must drop them. */
	waiter_wait(&BW, false, 0);
	assert_int_equal(BW.nerr, 0);
	waiter_destroy(&BW);
	assert_int_equal(fake_held(), 0);
	wait_payload(0, SB_PAYLOAD_TCP, "link " TAP_NAME " down", 0);
	assert_true(eng_stats().rdma_fallbacks >= 1);
	for (i = 0; i < NIO; i++)
		assert_int_equal(do_rw(SB_IO_READ, (uint64_t)i * LEN,
				       rb + (size_t)i * LEN, LEN),
				 0);
	assert_memory_equal(wb, rb, (size_t)NIO * LEN);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma, s0.bytes_rdma);
	assert_true(s1.bytes_tcp_payload - s0.bytes_tcp_payload >=
		    2ull * NIO * LEN);

	fake_hold(0);
	fake_partition(false);
	assert_int_equal(if_up(TAP_NAME, true), 0);
	wait_payload(0, SB_PAYLOAD_RDMA, NULL, WAIT_MS);
	node_stat(0, &s0);
	write_verify(0, MIB, 12);
	node_stat(0, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2 * MIB);
	free(wb);
	free(rb);
	finish();
	close(tap_fd);
	tap_fd = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_payload_by_rdma, teardown),
		cmocka_unit_test_teardown(test_payload_whole_pool, teardown),
		cmocka_unit_test_teardown(test_large_request_inline, teardown),
		cmocka_unit_test_teardown(test_forged_token_refused, teardown),
		cmocka_unit_test_teardown(test_spent_token_refused, teardown),
		cmocka_unit_test_teardown(test_credits_and_dry_pools, teardown),
		cmocka_unit_test_teardown(test_bind_post_fails_inline,
					  teardown),
		cmocka_unit_test_teardown(test_bind_error_inline, teardown),
		cmocka_unit_test_teardown(test_node_rdma_error_eproto,
					  teardown),
		cmocka_unit_test_teardown(test_binds_in_flight_flush, teardown),
		cmocka_unit_test_teardown(test_eproto_many_in_flight, teardown),
		cmocka_unit_test_teardown(test_teardown_releases_all, teardown),
		cmocka_unit_test_teardown(test_mixed_cluster, teardown),
		cmocka_unit_test_teardown(test_node_restart, teardown),
		cmocka_unit_test_teardown(test_timeout_resets_rdma, teardown),
		cmocka_unit_test_teardown(test_link_down_in_flight, teardown),
	};

	/* A crash must not swallow what cmocka said before it. */
	setvbuf(stdout, NULL, _IONBF, 0);
	sb_log_set_level(SB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
