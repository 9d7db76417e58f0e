/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rdma-forge: the guest's proof that a node binds an RDMA connection to the
 * TCP session its token was issued to (docs/protocol.md, "Connecting:
 * rdma_cm private data"). It speaks the wire protocol itself, over two
 * authenticated TCP sessions A and B to one node, each with its own
 * gateway id, each given an offer:
 *
 *   1. rdma_connect with A's token and B's gateway id: must be refused;
 *   2. A's token again, with A's own id: refused (the first try spent it);
 *   3. B's own token: accepted, with type 2 memory windows in use (the
 *      pool registered without remote access); STAT on B then reports
 *      RDMA for the session; a WRITE and a READ, each described by the
 *      key of a window bound for it alone and invalidated after the
 *      answer, move a pattern by RDMA and back;
 *   4. on A (no RDMA connection), a WRITE with a descriptor is answered
 *      EPROTO and the same WRITE inline succeeds: the session goes on;
 *   5. on B, a READ described by the window key of the READ of step 3,
 *      whose window was invalidated after its answer: the gateway's HCA
 *      refuses the node's RDMA WRITE, the node answers EPROTO, the same
 *      READ inline returns the data, and STAT shows the session inline
 *      from then on;
 *   6. on new sessions C and D (windows in use), a WRITE described by
 *      the pool registration's own rkey (C) and by its lkey (D, the key
 *      a remotely accessible registration would have had), over a
 *      buffer: the HCA refuses the node's RDMA READ, EPROTO; the same
 *      WRITE inline succeeds.
 *
 * Prints one "<check>: yes|no" line each; exits 0 when every answer is the
 * expected one, 1 otherwise, 2 on usage or setup errors. Needs an RDMA
 * device: only the guest scenario rdma_spanblk runs it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/engine.h"
#include "lib/util/log.h"
#include "lib/place.h"
#include "xport/auth.h"
#include "xport/proto.h"
#include "xport/rdma.h"
#include "xport/verbs.h"
#include "tests/common/sockio.h"

#define IO_LEN (128u << 10)
#define LUN_SIZE (4u << 20)
#define CONNECT_MS 5000

struct sess {
	int fd;
	uint64_t gw_id;
	uint64_t next_id;
};

static struct xp_secret secret;
static int failures;

static void check(const char *what, bool ok)
{
	printf("%s: %s\n", what, ok ? "yes" : "no");
	if (!ok)
		failures++;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "rdma-forge: %s: %s\n", what, strerror(err));
	exit(2);
}

/* One request @h (payload @pl of h->payload_len bytes), one answer. */
static uint32_t rpc(struct sess *s, struct xp_hdr *h, const void *pl,
		    void *ans_buf, size_t cap, struct xp_hdr *ans)
{
	uint8_t hb[XP_HDR_LEN];
	int ret;

	h->req_id = s->next_id++;
	if (h->payload_len) {
		h->flags |= XP_F_DCRC;
		h->data_crc = xp_crc32c(pl, h->payload_len);
	}
	xp_hdr_encode(h, hb);
	ret = tc_write_all(s->fd, hb, sizeof(hb));
	if (!ret && h->payload_len)
		ret = tc_write_all(s->fd, pl, h->payload_len);
	if (!ret)
		ret = tc_read_all(s->fd, hb, sizeof(hb));
	if (ret)
		die("session", -ret);
	if (xp_hdr_decode(hb, sizeof(hb), ans) || xp_hdr_check(ans) ||
	    ans->req_id != h->req_id || ans->payload_len > cap)
		die("answer", EBADMSG);
	if (ans->payload_len &&
	    (ret = tc_read_all(s->fd, ans_buf, ans->payload_len)))
		die("answer payload", -ret);
	return ans->status;
}

static int tcp_connect(const char *host, uint16_t port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
	char ps[8];
	int fd = -1, one = 1;

	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &ai))
		die(host, EHOSTUNREACH);
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !connect(fd, a->ai_addr, a->ai_addrlen))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		die(host, ECONNREFUSED);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* HELLO (offering RDMA) and AUTH as gateway @gw_id. */
static void sess_open(struct sess *s, const struct sb_node_addr *na,
		      uint64_t gw_id)
{
	uint8_t nc[XP_NONCE_LEN], pl[XP_HELLO_LEN], ans[XP_HELLO_ANSWER_LEN];
	uint8_t want[XP_PROOF_LEN];
	struct xp_hello hl = {.min_ver = XP_VERSION_MIN,
			      .max_ver = XP_VERSION_MAX,
			      .features = XP_FEAT_RDMA,
			      .sender_id = gw_id},
			got;
	struct xp_hdr h, a;

	s->fd = tcp_connect(na->host, na->port);
	s->gw_id = gw_id;
	s->next_id = 1;
	if (xp_auth_nonce(nc))
		die("getrandom", EIO);
	memcpy(hl.nonce, nc, XP_NONCE_LEN);
	xp_hello_encode(&hl, pl);
	xp_hdr_init(&h, XP_OP_HELLO, 0, 0);
	h.payload_len = XP_HELLO_LEN;
	if (rpc(s, &h, pl, ans, sizeof(ans), &a) != XP_ST_OK ||
	    a.payload_len != XP_HELLO_ANSWER_LEN ||
	    xp_hello_decode(ans, XP_HELLO_LEN, &got))
		die("HELLO", EPROTO);
	if (!(got.features & XP_FEAT_RDMA))
		die("the node offers no RDMA", ENOTSUP);
	if (xp_auth_proof(&secret, true, nc, got.nonce, want) ||
	    !xp_auth_equal(want, ans + XP_HELLO_LEN))
		die("node proof", EPERM);
	if (xp_auth_proof(&secret, false, nc, got.nonce, want))
		die("proof", EIO);
	xp_hdr_init(&h, XP_OP_AUTH, 0, 0);
	h.payload_len = XP_PROOF_LEN;
	if (rpc(s, &h, want, NULL, 0, &a) != XP_ST_OK)
		die("AUTH", EPERM);
}

static void sess_offer(struct sess *s, struct xp_rdma_offer *o)
{
	uint8_t buf[XP_RDMA_OFFER_LEN];
	struct xp_hdr h, a;
	uint32_t st;

	xp_hdr_init(&h, XP_OP_RDMA_OFFER, 0, 0);
	st = rpc(s, &h, NULL, buf, sizeof(buf), &a);
	if (st != XP_ST_OK)
		die("RDMA_OFFER", -xp_status_to_errno(st));
	if (xp_rdma_offer_decode(buf, a.payload_len, o))
		die("offer", EBADMSG);
}

static void state_cb(void *arg, struct xp_rdma_conn *c, int err)
{
	(void)c;
	*(int *)arg = err;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Connect to the offer's address presenting @gw_id and @token. 0 with
 * *@out up, or the negative errno the connection ended with.
 */
static int rconnect(const struct xp_rdma_offer *o, uint64_t gw_id,
		    const uint8_t *token, struct xp_rdma_conn **out)
{
	struct xp_rdma_params p = {.max_ops = 1,
				   .pool_count = 2,
				   .pool_size = IO_LEN,
				   .windows = true};
	struct sockaddr_storage ss;
	struct xp_rdma_conn *c;
	uint64_t until = mono_ms() + CONNECT_MS;
	int state = 1; /* 1: pending, else the callback's err */

	xp_rdma_offer_sockaddr(o, &ss);
	c = xp_rdma_connect(xp_verbs_real(), &p, (struct sockaddr *)&ss, gw_id,
			    token, state_cb, &state);
	if (!c)
		return -errno;
	while (state == 1 && mono_ms() < until) {
		struct pollfd pf[2] = {
			{.fd = xp_rdma_conn_cm_fd(c), .events = POLLIN},
			{.fd = xp_rdma_conn_cq_fd(c), .events = POLLIN},
		};

		(void)poll(pf, pf[1].fd >= 0 ? 2 : 1, 100);
		(void)xp_rdma_conn_service(c);
	}
	if (state) {
		xp_rdma_conn_free(c);
		return state == 1 ? -ETIMEDOUT : state;
	}
	*out = c;
	return 0;
}

/* Serve @c until *@flag leaves 1 or CONNECT_MS pass. */
static void serve_until(struct xp_rdma_conn *c, const int *flag)
{
	uint64_t until = mono_ms() + CONNECT_MS;

	while (*flag == 1 && mono_ms() < until) {
		struct pollfd pf = {.fd = xp_rdma_conn_cq_fd(c),
				    .events = POLLIN};

		(void)poll(&pf, 1, 100);
		(void)xp_rdma_conn_service(c);
	}
}

static void grant_cb(void *arg, struct xp_rdma_buf *b, int err)
{
	(void)b;
	*(int *)arg = err;
}

/*
 * Bind a window over @b for @access and describe it in @h (the window's
 * key). 0, or the bind's error.
 */
static int grant(struct xp_rdma_conn *c, struct xp_rdma_buf *b,
		 unsigned int access, struct xp_hdr *h)
{
	int state = 1, ret;

	ret = xp_rdma_grant(c, b, 0, IO_LEN, access, grant_cb, &state);
	if (ret)
		return ret;
	serve_until(c, &state);
	if (state)
		return state == 1 ? -ETIMEDOUT : state;
	return xp_rdma_conn_describe(c, b, 0, IO_LEN, h);
}

/*
 * Give @b back, invalidating its window, and take it again once the
 * invalidate completed. NULL when it did not come back.
 */
static struct xp_rdma_buf *cycle(struct xp_rdma_conn *c, struct xp_rdma_buf *b)
{
	struct xp_rdma_pool *p = xp_rdma_conn_pool(c);
	uint32_t nfree = xp_rdma_pool_nfree(p) + 1;
	uint64_t until = mono_ms() + CONNECT_MS;
	struct xp_rdma_wait w;

	xp_rdma_release(c, b);
	while (xp_rdma_pool_nfree(p) < nfree && mono_ms() < until) {
		struct pollfd pf = {.fd = xp_rdma_conn_cq_fd(c),
				    .events = POLLIN};

		(void)poll(&pf, 1, 100);
		(void)xp_rdma_conn_service(c);
	}
	if (xp_rdma_pool_nfree(p) < nfree)
		return NULL;
	return xp_rdma_pool_get(p, &w, NULL, NULL);
}

static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 9));
}

static void usage(void)
{
	fprintf(stderr, "usage: rdma-forge [-c CLUSTER_FILE] [--node ID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	static uint8_t want[IO_LEN], got[IO_LEN], lay_name[XP_LAYOUT_LEN + 16];
	const char *path = SB_DEFAULT_CLUSTER_CONF, *name = "rdma-forge";
	struct xp_layout lay = {.chunk_size = 1u << 20, .replicas = 1};
	struct xp_rdma_offer oa, ob;
	struct xp_rdma_conn *c = NULL;
	struct xp_rdma_buf *b;
	struct xp_rdma_wait w;
	struct sb_cluster cl;
	struct sess a, s;
	struct xp_hdr h, ans;
	struct xp_stat st;
	uint8_t statbuf[XP_STAT_FIXED_LEN + 64 * XP_STAT_LUN_LEN];
	uint64_t node = 1, gw_a, gw_b, lun;
	uint32_t old_key;
	char err[256];
	int opt, idx, ret, k;

	while ((opt = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
		if (opt == 'c')
			path = optarg;
		else if (opt != 'n' ||
			 sb_parse_uint(optarg, 1, UINT32_MAX, &node))
			usage();
	}
	sb_log_set_level(SB_LOG_INFO);
	if (sb_engine_load_config(path, &cl, &secret, err, sizeof(err))) {
		fprintf(stderr, "rdma-forge: %s\n", err);
		return 2;
	}
	idx = sb_cluster_node_index(&cl, (uint32_t)node);
	if (idx < 0)
		die("no such node in the cluster file", ENOENT);
	if (xp_auth_nonce(want))
		die("getrandom", EIO);
	memcpy(&gw_a, want, sizeof(gw_a));
	memcpy(&gw_b, want + 8, sizeof(gw_b));

	sess_open(&a, &cl.nodes[idx], gw_a);
	sess_open(&s, &cl.nodes[idx], gw_b);
	sess_offer(&a, &oa);
	sess_offer(&s, &ob);

	/* 1: A's token presented by B's gateway. */
	ret = rconnect(&oa, gw_b, oa.token, &c);
	check("forged token refused", ret == -ECONNREFUSED);
	if (!ret)
		xp_rdma_conn_free(c);
	/* 2: A's token is spent, even for A. */
	c = NULL;
	ret = rconnect(&oa, gw_a, oa.token, &c);
	check("spent token refused", ret == -ECONNREFUSED);
	if (!ret)
		xp_rdma_conn_free(c);

	/* 3: B's own token. */
	c = NULL;
	ret = rconnect(&ob, gw_b, ob.token, &c);
	check("own token accepted", ret == 0);
	if (ret) {
		fprintf(stderr, "rdma-forge: connect: %s\n", strerror(-ret));
		return 1;
	}
	lun = sb_lun_id(name);
	xp_layout_encode(&lay, lay_name);
	memcpy(lay_name + XP_LAYOUT_LEN, name, strlen(name));
	xp_hdr_init(&h, XP_OP_LUN_CREATE, 0, lun);
	h.offset = LUN_SIZE;
	h.payload_len = (uint32_t)(XP_LAYOUT_LEN + strlen(name));
	if (rpc(&s, &h, lay_name, NULL, 0, &ans) != XP_ST_OK)
		die("LUN_CREATE", EIO);

	check("type 2 memory windows in use", xp_rdma_conn_windows(c));
	b = xp_rdma_pool_get(xp_rdma_conn_pool(c), &w, NULL, NULL);
	if (!b)
		die("pool", ENOBUFS);
	pattern(want, IO_LEN, 7);
	memcpy(b->data, want, IO_LEN);
	xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	if (grant(c, b, XP_VERBS_ACC_REMOTE_READ, &h))
		die("window bind", EIO);
	check("the window's key is not the pool's",
	      h.desc_key != xp_rdma_pool_rkey(xp_rdma_conn_pool(c)));
	check("WRITE by RDMA through a window answered OK",
	      rpc(&s, &h, NULL, NULL, 0, &ans) == XP_ST_OK);
	old_key = h.desc_key;
	b = cycle(c, b);
	if (!b)
		die("window invalidate", EIO);
	memset(b->data, 0, IO_LEN);
	xp_hdr_init(&h, XP_OP_READ, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	if (grant(c, b, XP_VERBS_ACC_REMOTE_WRITE, &h))
		die("window bind", EIO);
	check("a new bind, a new key", h.desc_key != old_key);
	check("READ by RDMA through a window answered OK, no inline payload",
	      rpc(&s, &h, NULL, NULL, 0, &ans) == XP_ST_OK && !ans.payload_len);
	check("READ by RDMA brought back the data",
	      !memcmp(b->data, want, IO_LEN));
	old_key = h.desc_key;
	b = cycle(c, b);
	if (!b)
		die("window invalidate", EIO);
	/*
	 * Asked after a descriptor: before one, the node may not have read
	 * its ESTABLISHED yet (docs/protocol.md, "Connecting").
	 */
	xp_hdr_init(&h, XP_OP_STAT, 0, 0);
	if (rpc(&s, &h, NULL, statbuf, sizeof(statbuf), &ans) != XP_ST_OK ||
	    xp_stat_decode(statbuf, ans.payload_len, &st, NULL, 0) < 0)
		die("STAT", EPROTO);
	check("STAT reports the session on RDMA",
	      (st.flags & XP_STAT_F_RDMA_SESSION) != 0);

	/* 4: session A has no RDMA connection: inline only. */
	xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	xp_rdma_pool_describe(xp_rdma_conn_pool(c), b, 0, IO_LEN, &h);
	h.desc_key = old_key;
	check("descriptor on a session without RDMA answered EPROTO",
	      rpc(&a, &h, NULL, NULL, 0, &ans) == XP_ST_EPROTO);
	xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	h.payload_len = IO_LEN;
	check("the same WRITE inline answered OK",
	      rpc(&a, &h, want, NULL, 0, &ans) == XP_ST_OK);

	/* 5: the key of a window invalidated after its request's answer. */
	xp_hdr_init(&h, XP_OP_READ, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	xp_rdma_pool_describe(xp_rdma_conn_pool(c), b, 0, IO_LEN, &h);
	h.desc_key = old_key;
	check("the key of an invalidated window answered EPROTO",
	      rpc(&s, &h, NULL, NULL, 0, &ans) == XP_ST_EPROTO);
	xp_hdr_init(&h, XP_OP_READ, 0, lun);
	h.offset = 64 << 10;
	h.length = IO_LEN;
	check("the same READ inline brought back the data",
	      rpc(&s, &h, NULL, got, sizeof(got), &ans) == XP_ST_OK &&
		      ans.payload_len == IO_LEN && !memcmp(got, want, IO_LEN));
	xp_hdr_init(&h, XP_OP_STAT, 0, 0);
	if (rpc(&s, &h, NULL, statbuf, sizeof(statbuf), &ans) != XP_ST_OK ||
	    xp_stat_decode(statbuf, ans.payload_len, &st, NULL, 0) < 0)
		die("STAT", EPROTO);
	check("after the RDMA failure STAT reports the session inline",
	      !(st.flags & XP_STAT_F_RDMA_SESSION));

	/* 6: the pool registration's own keys, on fresh sessions. */
	for (k = 0; k < 2; k++) {
		struct xp_rdma_conn *cc = NULL;
		struct xp_rdma_buf *cb;
		struct xp_rdma_pool *cp;
		struct xp_rdma_offer oc;
		struct sess sc;
		uint64_t gw_c;

		if (xp_auth_nonce(got))
			die("getrandom", EIO);
		memcpy(&gw_c, got, sizeof(gw_c));
		sess_open(&sc, &cl.nodes[idx], gw_c);
		sess_offer(&sc, &oc);
		ret = rconnect(&oc, gw_c, oc.token, &cc);
		if (ret)
			die("connect", -ret);
		cp = xp_rdma_conn_pool(cc);
		cb = xp_rdma_pool_get(cp, &w, NULL, NULL);
		if (!cb)
			die("pool", ENOBUFS);
		memcpy(cb->data, want, IO_LEN);
		xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
		h.offset = 64 << 10;
		h.length = IO_LEN;
		xp_rdma_pool_describe(cp, cb, 0, IO_LEN, &h);
		if (k)
			h.desc_key = xp_rdma_pool_lkey(cp);
		fprintf(stderr, "rdma-forge: pool rkey 0x%x lkey 0x%x\n",
			xp_rdma_pool_rkey(cp), xp_rdma_pool_lkey(cp));
		check(k ? "a WRITE described by the pool's lkey answered "
			  "EPROTO"
			: "a WRITE described by the pool's rkey answered "
			  "EPROTO",
		      rpc(&sc, &h, NULL, NULL, 0, &ans) == XP_ST_EPROTO);
		xp_hdr_init(&h, XP_OP_WRITE, 0, lun);
		h.offset = 64 << 10;
		h.length = IO_LEN;
		h.payload_len = IO_LEN;
		check("the same WRITE inline answered OK",
		      rpc(&sc, &h, want, NULL, 0, &ans) == XP_ST_OK);
		xp_rdma_release(cc, cb);
		xp_rdma_conn_free(cc);
		close(sc.fd);
	}

	xp_rdma_release(c, b);
	xp_hdr_init(&h, XP_OP_LUN_DELETE, 0, lun);
	(void)rpc(&s, &h, NULL, NULL, 0, &ans);
	xp_rdma_conn_free(c);
	close(a.fd);
	close(s.fd);
	memset(&secret, 0, sizeof(secret));
	return failures ? 1 : 0;
}
