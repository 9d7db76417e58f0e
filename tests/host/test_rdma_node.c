/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The storage node's side of the RDMA payload, on the host: one node
 * (nd_server in a thread, tests/common/cluster.h) with the fake device's
 * loopback fabric (tests/common/fake_verbs.h), and this test as its
 * gateway, frame by frame on a blocking TCP socket, with an RDMA
 * connection of its own made by xport's public gateway calls
 * (xp_rdma_connect, xp_rdma_conn_describe). So it can send what the
 * engine never would: descriptors before any connection, on a session
 * that did not negotiate RDMA, with a key or range the node's RDMA
 * operation is refused on, tokens used twice or after their session.
 *
 * Every test ends with the node stopped and every fake object released.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/place.h"
#include "lib/util/log.h"
#include "tests/common/cluster.h"
#include "tests/common/fake_verbs.h"
#include "xport/auth.h"
#include "xport/proto.h"
#include "xport/rdma.h"
#include "tests/common/sockio.h"

#define GW_ID 0x6A7E3A1Full
#define LUN_SIZE (16ull << 20)
#define POOL_BUFS 4
#define POOL_SIZE (256u << 10)
#define WAIT_MS 5000

static struct tcl_cluster tc;

/* ---- time ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- a gateway, frame by frame ---------------------------------------------- */

struct gw {
	int fd;
	uint64_t next_id;
	uint32_t node_features; /* of the node's HELLO answer */
	struct xp_rdma_conn *rc; /* our RDMA connection, or NULL */
	int rc_calls, rc_err; /* its state reports, the last one */
	struct xp_rdma_buf *buf; /* one buffer of its pool, held */
};

static void send_frame(struct gw *g, struct xp_hdr *h, const void *payload)
{
	uint8_t hb[XP_HDR_LEN];

	if (h->payload_len) {
		h->flags |= XP_F_DCRC;
		h->data_crc = xp_crc32c(payload, h->payload_len);
	}
	xp_hdr_encode(h, hb);
	assert_int_equal(tc_write_all(g->fd, hb, sizeof(hb)), 0);
	if (h->payload_len)
		assert_int_equal(tc_write_all(g->fd, payload, h->payload_len),
				 0);
}

static void recv_frame(struct gw *g, struct xp_hdr *h, void *buf, size_t cap)
{
	uint8_t hb[XP_HDR_LEN];

	assert_int_equal(tc_read_all(g->fd, hb, sizeof(hb)), 0);
	assert_int_equal(xp_hdr_decode(hb, sizeof(hb), h), 0);
	assert_true(h->flags & XP_F_RESP);
	assert_true(h->payload_len <= cap);
	if (h->payload_len) {
		assert_int_equal(tc_read_all(g->fd, buf, h->payload_len), 0);
		assert_int_equal(xp_crc32c(buf, h->payload_len), h->data_crc);
	}
}

/* Send @h (req_id assigned here) with @payload; the answer's status. */
static uint32_t rpc(struct gw *g, struct xp_hdr *h, const void *payload,
		    struct xp_hdr *ans, void *buf, size_t cap)
{
	struct xp_hdr a;

	h->req_id = g->next_id++;
	send_frame(g, h, payload);
	recv_frame(g, &a, buf, cap);
	assert_int_equal(a.req_id, h->req_id);
	if (ans)
		*ans = a;
	return a.status;
}

/* Connect, HELLO with @features, AUTH. */
static void gw_open(struct gw *g, uint32_t features)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};
	struct xp_hello hl = {.min_ver = 1, .max_ver = 1}, got;
	uint8_t pl[XP_HELLO_LEN], ans[XP_HELLO_ANSWER_LEN];
	uint8_t nc[XP_NONCE_LEN], proof[XP_PROOF_LEN];
	struct xp_hdr h, a;

	memset(g, 0, sizeof(*g));
	g->next_id = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(tc.nodes[0].cfg.port);
	g->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(g->fd >= 0);
	assert_int_equal(connect(g->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	assert_int_equal(xp_auth_nonce(nc), 0);
	memcpy(hl.nonce, nc, XP_NONCE_LEN);
	hl.sender_id = GW_ID;
	hl.features = features;
	xp_hello_encode(&hl, pl);
	xp_hdr_init(&h, XP_OP_HELLO, 0, 0);
	h.payload_len = XP_HELLO_LEN;
	assert_int_equal(rpc(g, &h, pl, &a, ans, sizeof(ans)), XP_ST_OK);
	assert_int_equal(a.payload_len, XP_HELLO_ANSWER_LEN);
	assert_int_equal(xp_hello_decode(ans, XP_HELLO_LEN, &got), 0);
	g->node_features = got.features;
	assert_int_equal(xp_auth_proof(&tc.secret, false, nc, got.nonce, proof),
			 0);
	xp_hdr_init(&h, XP_OP_AUTH, 0, 0);
	h.payload_len = XP_PROOF_LEN;
	assert_int_equal(rpc(g, &h, proof, NULL, NULL, 0), XP_ST_OK);
}

static void gw_close(struct gw *g)
{
	if (g->rc) {
		if (g->buf)
			xp_rdma_pool_put(xp_rdma_conn_pool(g->rc), g->buf);
		xp_rdma_conn_free(g->rc);
	}
	if (g->fd >= 0)
		close(g->fd);
	memset(g, 0, sizeof(*g));
	g->fd = -1;
}

static uint64_t lun_create(struct gw *g, const char *name)
{
	static const struct xp_layout lay = {.chunk_size = 1u << 20,
					     .replicas = 1};
	uint8_t pl[XP_LAYOUT_LEN + XP_LUN_NAME_MAX];
	struct xp_hdr h;
	size_t n = strlen(name);

	xp_layout_encode(&lay, pl);
	memcpy(pl + XP_LAYOUT_LEN, name, n);
	xp_hdr_init(&h, XP_OP_LUN_CREATE, 0, sb_lun_id(name));
	h.offset = LUN_SIZE;
	h.payload_len = (uint32_t)(XP_LAYOUT_LEN + n);
	assert_int_equal(rpc(g, &h, pl, NULL, NULL, 0), XP_ST_OK);
	return sb_lun_id(name);
}

static uint32_t inline_io(struct gw *g, uint8_t op, uint64_t lun, uint64_t off,
			  void *buf, uint32_t len)
{
	struct xp_hdr h, a;
	uint32_t st;

	xp_hdr_init(&h, op, 0, lun);
	h.offset = off;
	h.length = len;
	if (op == XP_OP_WRITE)
		h.payload_len = len;
	st = rpc(g, &h, op == XP_OP_WRITE ? buf : NULL, &a,
		 op == XP_OP_READ ? buf : NULL, op == XP_OP_READ ? len : 0);
	if (st == XP_ST_OK && op == XP_OP_READ)
		assert_int_equal(a.payload_len, len);
	return st;
}

/* READ or WRITE of @len bytes whose payload descriptor @d names. */
static uint32_t desc_io(struct gw *g, uint8_t op, uint64_t lun, uint64_t off,
			const struct xp_hdr *d, uint32_t len)
{
	struct xp_hdr h, a;
	uint32_t st;

	xp_hdr_init(&h, op, 0, lun);
	h.offset = off;
	h.length = len;
	h.desc_xport = XP_DESC_RDMA;
	h.desc_key = d->desc_key;
	h.desc_addr = d->desc_addr;
	h.desc_len = d->desc_len;
	st = rpc(g, &h, NULL, &a, NULL, 0);
	assert_int_equal(a.payload_len, 0);
	return st;
}

/* A descriptor naming nothing in particular. */
static struct xp_hdr any_desc(uint32_t len)
{
	struct xp_hdr d = {
		.desc_key = 0x1234, .desc_addr = 1ull << 62, .desc_len = len};

	return d;
}

static uint32_t offer(struct gw *g, struct xp_rdma_offer *o)
{
	uint8_t pl[XP_RDMA_OFFER_LEN];
	struct xp_hdr h, a;
	uint32_t st;

	xp_hdr_init(&h, XP_OP_RDMA_OFFER, 0, 0);
	st = rpc(g, &h, NULL, &a, pl, sizeof(pl));
	if (st == XP_ST_OK)
		assert_int_equal(xp_rdma_offer_decode(pl, a.payload_len, o), 0);
	return st;
}

static void gw_state(void *arg, struct xp_rdma_conn *c, int err)
{
	struct gw *g = arg;

	(void)c;
	g->rc_calls++;
	g->rc_err = err;
}

/* Service our RDMA connection until it reported @calls times. */
static void gw_service(struct gw *g, int calls)
{
	uint64_t until = now_ms() + WAIT_MS;

	while (g->rc_calls < calls && now_ms() < until) {
		struct pollfd pf[2] = {
			{.fd = xp_rdma_conn_cm_fd(g->rc), .events = POLLIN},
			{.fd = xp_rdma_conn_cq_fd(g->rc), .events = POLLIN},
		};

		poll(pf, pf[1].fd >= 0 ? 2 : 1, 5);
		xp_rdma_conn_service(g->rc);
	}
	assert_int_equal(g->rc_calls, calls);
}

/*
 * Connect to the RDMA address @o names with its token (whole pool
 * exposed, no windows); the state report it got (0: up).
 */
static int gw_rdma(struct gw *g, const struct xp_rdma_offer *o,
		   const uint8_t *token)
{
	struct xp_rdma_params p = {
		.max_ops = 1, .pool_count = POOL_BUFS, .pool_size = POOL_SIZE};
	struct sockaddr_in dst = {.sin_family = AF_INET};
	struct xp_rdma_wait unused;
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
					     0, 0, 0, 0, 0xff, 0xff};

	assert_memory_equal(o->addr, v4mapped, sizeof(v4mapped));
	memcpy(&dst.sin_addr, o->addr + 12, 4);
	dst.sin_port = htons(o->port);
	g->rc_calls = 0;
	g->rc = xp_rdma_connect(&fake_fabric_ops, &p, (struct sockaddr *)&dst,
				GW_ID, token ? token : o->token, gw_state, g);
	assert_non_null(g->rc);
	gw_service(g, 1);
	if (!g->rc_err) {
		g->buf = xp_rdma_pool_get(xp_rdma_conn_pool(g->rc), &unused,
					  NULL, NULL);
		assert_non_null(g->buf);
	}
	return g->rc_err;
}

/*
 * Offer, connect with the token: RDMA up on session @g. A node still
 * freeing the session's previous connection answers EAGAIN: ask again.
 */
static void gw_rdma_up(struct gw *g)
{
	uint64_t until = now_ms() + WAIT_MS;
	struct xp_rdma_offer o;
	uint32_t st;

	while ((st = offer(g, &o)) == XP_ST_EAGAIN && now_ms() < until)
		poll(NULL, 0, 5);
	assert_int_equal(st, XP_ST_OK);
	assert_int_equal(gw_rdma(g, &o, NULL), 0);
}

/* Describe @len bytes at @off of our held buffer. */
static struct xp_hdr our_desc(struct gw *g, uint32_t off, uint32_t len)
{
	struct xp_hdr d;

	memset(&d, 0, sizeof(d));
	assert_int_equal(xp_rdma_conn_describe(g->rc, g->buf, off, len, &d), 0);
	return d;
}

static void stat_of(struct gw *g, struct xp_stat *st)
{
	static uint8_t buf[XP_STAT_FIXED_LEN + 16 * XP_STAT_LUN_LEN];
	struct xp_stat_lun luns[16];
	struct xp_hdr h, a;

	xp_hdr_init(&h, XP_OP_STAT, 0, 0);
	assert_int_equal(rpc(g, &h, NULL, &a, buf, sizeof(buf)), XP_ST_OK);
	assert_true(xp_stat_decode(buf, a.payload_len, st, luns, 16) >= 0);
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

/* Wait until the node counts @n TCP sessions open (asked on @g's). */
static void wait_conns(struct gw *g, uint64_t n)
{
	uint64_t until = now_ms() + WAIT_MS;
	struct xp_stat st;

	do {
		stat_of(g, &st);
		if (st.conns == n)
			return;
		poll(NULL, 0, 5);
	} while (now_ms() < until);
	fail_msg("the node has %llu sessions, not %llu",
		 (unsigned long long)st.conns, (unsigned long long)n);
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
		poll(NULL, 0, 5);
	} while (now_ms() < until);
	fail_msg("%d queue pairs, not %d", got, n);
}

/* ---- fixture ---------------------------------------------------------------- */

static int setup(void **state)
{
	char err[512];

	(void)state;
	fake_fabric_reset();
	if (tcl_init(&tc, 1, FAKE_DEVICE))
		return -1;
	tc.nodes[0].cfg.rdma_segment = 64u << 10;
	if (tcl_node_start(&tc, 0, &fake_fabric_ops, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tcl_destroy(&tc);
	fake_defer_est(false);
	return 0;
}

/* Stop the node: everything the fake made was released. */
static void node_stop_released(void)
{
	char why[512];

	tcl_node_stop(&tc, 0);
	if (!fake_all_released(why, sizeof(why)))
		fail_msg("fake device: %s", why);
}

/* ---- tests ------------------------------------------------------------------- */

/*
 * A session whose HELLO did not ask for RDMA, at a node that has it: the
 * node's HELLO says it could, but RDMA_OFFER and descriptors get EPROTO
 * (the gateway's cue to stay inline), and inline I/O works.
 */
static void test_session_without_rdma(void **state)
{
	uint8_t buf[8192], rb[8192];
	struct xp_rdma_offer o;
	struct xp_hdr d = any_desc(8192);
	struct xp_stat st;
	struct gw g;
	uint64_t lun;

	(void)state;
	gw_open(&g, 0);
	assert_true(g.node_features & XP_FEAT_RDMA);
	assert_int_equal(offer(&g, &o), XP_ST_EPROTO);
	lun = lun_create(&g, "no-rdma");
	assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 0, &d, 8192),
			 XP_ST_EPROTO);
	assert_int_equal(desc_io(&g, XP_OP_READ, lun, 0, &d, 8192),
			 XP_ST_EPROTO);
	fill(buf, sizeof(buf), 1);
	assert_int_equal(inline_io(&g, XP_OP_WRITE, lun, 0, buf, 8192),
			 XP_ST_OK);
	assert_int_equal(inline_io(&g, XP_OP_READ, lun, 0, rb, 8192), XP_ST_OK);
	assert_memory_equal(buf, rb, sizeof(buf));
	stat_of(&g, &st);
	assert_true(st.flags & XP_STAT_F_RDMA);
	assert_false(st.flags & XP_STAT_F_RDMA_SESSION);
	assert_int_equal(st.bytes_rdma, 0);
	gw_close(&g);
	node_stop_released();
}

/*
 * RDMA negotiated, no connection yet: a descriptor gets EPROTO. The offer
 * names the node's RDMA address and port, its operation limit, a token
 * valid at most XP_RDMA_TOKEN_TTL_MS.
 */
static void test_descriptor_before_connection(void **state)
{
	struct xp_hdr d = any_desc(4096);
	struct xp_rdma_offer o;
	uint8_t zero[XP_RDMA_TOKEN_LEN] = {0};
	struct gw g;
	uint64_t lun;

	(void)state;
	gw_open(&g, XP_FEAT_RDMA);
	lun = lun_create(&g, "early");
	assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 0, &d, 4096),
			 XP_ST_EPROTO);
	assert_int_equal(offer(&g, &o), XP_ST_OK);
	assert_int_equal(o.port, tc.nodes[0].cfg.rdma_port);
	assert_int_equal(o.max_ops, tc.nodes[0].cfg.rdma_max_ops);
	assert_true(o.ttl_ms > 0 && o.ttl_ms <= XP_RDMA_TOKEN_TTL_MS);
	assert_memory_not_equal(o.token, zero, sizeof(zero));
	assert_int_equal(o.addr[12], 127);
	assert_int_equal(o.addr[15], 1);
	assert_int_equal(desc_io(&g, XP_OP_READ, lun, 0, &d, 4096),
			 XP_ST_EPROTO);
	gw_close(&g);
	node_stop_released();
}

/*
 * Connected with the token: a WRITE's payload is pulled from our buffer,
 * a READ's pushed into it, in segments of rdma_segment bytes; the node
 * counts both as RDMA; a descriptor whose length is not the request's is
 * EPROTO.
 */
static void test_rdma_write_then_read(void **state)
{
	const uint32_t len = 200u << 10; /* 4 segments, the last short */
	uint8_t *w = malloc(len), *r = malloc(len);
	struct xp_stat s0, s1;
	struct xp_hdr d;
	struct gw g;
	uint64_t lun;

	(void)state;
	assert_non_null(w);
	assert_non_null(r);
	gw_open(&g, XP_FEAT_RDMA);
	lun = lun_create(&g, "rdma-rw");
	gw_rdma_up(&g);
	stat_of(&g, &s0);
	assert_true(s0.flags & XP_STAT_F_RDMA_SESSION);
	fill(w, len, 2);
	memcpy(g.buf->data, w, len);
	d = our_desc(&g, 0, len);
	assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 4096, &d, len),
			 XP_ST_OK);
	assert_int_equal(inline_io(&g, XP_OP_READ, lun, 4096, r, len),
			 XP_ST_OK);
	assert_memory_equal(w, r, len);
	memset(g.buf->data, 0, POOL_SIZE);
	d = our_desc(&g, 4096, len);
	assert_int_equal(desc_io(&g, XP_OP_READ, lun, 4096, &d, len), XP_ST_OK);
	assert_memory_equal((uint8_t *)g.buf->data + 4096, w, len);
	stat_of(&g, &s1);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2ull * len);
	d.desc_len = len - 4096;
	assert_int_equal(desc_io(&g, XP_OP_READ, lun, 4096, &d, len),
			 XP_ST_EPROTO);
	fake_lock();
	assert_int_equal(F.rdma_reads, 4);
	assert_int_equal(F.rdma_writes, 4);
	fake_unlock();
	free(w);
	free(r);
	gw_close(&g);
	node_stop_released();
}

/*
 * A descriptor whose key names nothing of ours, then (on a new
 * connection) one whose range runs past our pool: the fabric refuses the
 * node's RDMA operation (remote access error), the node answers EPROTO
 * and takes the session's RDMA connection down (we hear of it); later
 * descriptors get EPROTO; inline still works.
 */
static void test_refused_access_eproto(void **state)
{
	uint8_t buf[65536];
	struct xp_hdr d;
	struct gw g;
	uint64_t lun;
	int round;

	(void)state;
	gw_open(&g, XP_FEAT_RDMA);
	lun = lun_create(&g, "refused");
	for (round = 0; round < 2; round++) {
		gw_rdma_up(&g);
		d = our_desc(&g, 0, sizeof(buf));
		if (round == 0)
			d.desc_key ^= 0x00ff0000u;
		else
			d.desc_addr += (uint64_t)POOL_BUFS * POOL_SIZE;
		assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 0, &d,
					 sizeof(buf)),
				 XP_ST_EPROTO);
		gw_service(&g, 2);
		assert_int_equal(g.rc_err, -ECONNRESET);
		d = our_desc(&g, 0, sizeof(buf));
		assert_int_equal(desc_io(&g, XP_OP_READ, lun, 0, &d,
					 sizeof(buf)),
				 XP_ST_EPROTO);
		xp_rdma_pool_put(xp_rdma_conn_pool(g.rc), g.buf);
		xp_rdma_conn_free(g.rc);
		g.rc = NULL;
		g.buf = NULL;
	}
	fill(buf, sizeof(buf), 3);
	assert_int_equal(inline_io(&g, XP_OP_WRITE, lun, 0, buf, sizeof(buf)),
			 XP_ST_OK);
	fake_lock();
	assert_int_equal(F.rdma_errors, 2);
	assert_int_equal(F.rdma_bytes, 0);
	fake_unlock();
	gw_close(&g);
	node_stop_released();
}

/*
 * Tokens are single-use and belong to their session: a token used once
 * is refused the second time; asking again revokes the session's unspent
 * token; a session that closed took its token with it.
 */
static void test_token_rules(void **state)
{
	struct xp_rdma_offer o1, o2;
	struct gw g, g2;

	(void)state;
	gw_open(&g, XP_FEAT_RDMA);
	assert_int_equal(offer(&g, &o1), XP_ST_OK);
	assert_int_equal(offer(&g, &o2), XP_ST_OK);
	assert_memory_not_equal(o1.token, o2.token, XP_RDMA_TOKEN_LEN);
	assert_int_equal(gw_rdma(&g, &o1, NULL), -ECONNREFUSED);
	xp_rdma_conn_free(g.rc);
	g.rc = NULL;
	assert_int_equal(gw_rdma(&g, &o2, NULL), 0);

	gw_open(&g2, XP_FEAT_RDMA);
	/* Used once already (by the first session). */
	assert_int_equal(gw_rdma(&g2, &o2, NULL), -ECONNREFUSED);
	xp_rdma_conn_free(g2.rc);
	g2.rc = NULL;
	assert_int_equal(offer(&g2, &o1), XP_ST_OK);
	close(g2.fd);
	g2.fd = -1;
	wait_conns(&g, 1);
	assert_int_equal(gw_rdma(&g2, &o1, NULL), -ECONNREFUSED);
	fake_lock();
	assert_int_equal(F.accepts, 1);
	fake_unlock();
	gw_close(&g2);
	gw_close(&g);
	node_stop_released();
}

/*
 * The node's ESTABLISHED comes late (the gateway's RTU delayed): the
 * first descriptor confirms the accepted connection, and the WRITE moves
 * by RDMA; the late event changes nothing.
 */
static void test_late_established(void **state)
{
	uint8_t rb[65536];
	struct xp_stat s0, s1;
	struct xp_hdr d;
	struct gw g;
	uint64_t lun;

	(void)state;
	fake_defer_est(true);
	gw_open(&g, XP_FEAT_RDMA);
	lun = lun_create(&g, "late");
	gw_rdma_up(&g);
	stat_of(&g, &s0);
	assert_false(s0.flags & XP_STAT_F_RDMA_SESSION);
	fill(g.buf->data, sizeof(rb), 4);
	d = our_desc(&g, 0, sizeof(rb));
	assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 0, &d, sizeof(rb)),
			 XP_ST_OK);
	fake_defer_est(false);
	assert_int_equal(desc_io(&g, XP_OP_WRITE, lun, 0, &d, sizeof(rb)),
			 XP_ST_OK);
	stat_of(&g, &s1);
	assert_true(s1.flags & XP_STAT_F_RDMA_SESSION);
	assert_int_equal(s1.bytes_rdma - s0.bytes_rdma, 2 * sizeof(rb));
	assert_int_equal(inline_io(&g, XP_OP_READ, lun, 0, rb, sizeof(rb)),
			 XP_ST_OK);
	assert_memory_equal(rb, g.buf->data, sizeof(rb));
	gw_close(&g);
	node_stop_released();
}

/*
 * The TCP session closes: the node frees the session's RDMA connection
 * (we hear DISCONNECTED) while it keeps running; only our own objects are
 * left in the fabric.
 */
static void test_session_close_frees_rdma(void **state)
{
	struct gw g;
	int fd;

	(void)state;
	gw_open(&g, XP_FEAT_RDMA);
	gw_rdma_up(&g);
	fake_lock();
	assert_int_equal(F.n_qp, 2);
	fake_unlock();
	fd = g.fd;
	g.fd = -1;
	close(fd);
	gw_service(&g, 2);
	assert_int_equal(g.rc_err, -ECONNRESET);
	wait_qps(1); /* ours */
	gw_close(&g);
	node_stop_released();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_without_rdma,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_descriptor_before_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdma_write_then_read,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_access_eproto,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_late_established, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_close_frees_rdma,
						setup, teardown),
	};

	/* A crash must not swallow what cmocka said before it. */
	setvbuf(stdout, NULL, _IONBF, 0);
	sb_log_set_level(SB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
