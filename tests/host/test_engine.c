/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of the gateway engine (lib/engine/) against three real
 * spanblkd processes on 127.0.0.1 (tests/host/testlib.c starts them).
 *
 * Cluster: 3 nodes, 2 replicas, 64 KiB chunks (so small ranges cross many
 * chunk boundaries), io_timeout_ms 1500 (so "node down" cases end fast).
 *
 * To look at one node's copy of a chunk the test builds a second engine
 * whose cluster is that node alone with one replica: every chunk is then
 * placed on it, so reading through it returns exactly what that node
 * stores, and a chunk the node does not replicate reads as zeros.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/engine.h"
#include "lib/util/log.h"
#include "lib/place.h"
#include "tests/host/testlib.h"
#include "xport/auth.h"

#define NODES 3
#define REPLICAS 2
#define CHUNK (64u << 10)
#define TIMEOUT_MS 1500
#define LUN_SIZE (8u << 20)
#define READY_MS 10000
#define WAIT_S 30 /* longest any operation may take here */

struct fixture {
	struct tl_cluster tc;
	struct sb_cluster cl;
	struct xp_secret secret;
	struct sb_engine *e;
};

static struct fixture fx;

/* ---- helpers ------------------------------------------------------------ */

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

static void fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* never zero, so "reads as zeros" is unambiguous */
		p[i] = (uint8_t)(x % 255 + 1);
	}
}

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* A completion the test thread can wait for. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int pending;
	unsigned int calls; /* callbacks seen in total */
	int first_err;
	unsigned int nerr;
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
	if (err) {
		w->nerr++;
		if (!w->first_err)
			w->first_err = err;
	}
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int submit(struct sb_engine *e, struct sb_io *io, struct waiter *w)
{
	int ret;

	io->cb = waiter_cb;
	io->cb_arg = w;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_mutex_unlock(&w->lock);
	ret = sb_engine_submit(e, io);
	if (ret) {
		pthread_mutex_lock(&w->lock);
		w->pending--;
		pthread_mutex_unlock(&w->lock);
	}
	return ret;
}

/* Wait for every callback; a lost completion fails the test. */
static void waiter_wait(struct waiter *w)
{
	struct timespec until;
	bool lost = false;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&w->lock);
	while (w->pending && !lost)
		lost = pthread_cond_timedwait(&w->cond, &w->lock, &until) ==
		       ETIMEDOUT;
	lost = w->pending != 0;
	pthread_mutex_unlock(&w->lock);
	if (lost)
		fail_msg("%u completions missing after %d s", w->pending,
			 WAIT_S);
}

/* Run one operation and return its completion status. */
static int do_io(struct sb_engine *e, enum sb_io_op op, uint64_t lun,
		 uint64_t off, uint64_t len, const struct iovec *iov,
		 int iovcnt, uint32_t flags, uint64_t *miscompare)
{
	struct sb_io io = {0};
	struct waiter w;
	int ret;

	waiter_init(&w);
	io.op = op;
	io.lun_id = lun;
	io.offset = off;
	io.length = len;
	io.iov = iov;
	io.iovcnt = iovcnt;
	io.flags = flags;
	io.miscompare_off = UINT64_MAX;
	ret = submit(e, &io, &w);
	if (!ret) {
		waiter_wait(&w);
		ret = w.first_err;
		assert_int_equal(w.calls, 1);
	}
	if (miscompare)
		*miscompare = io.miscompare_off;
	waiter_destroy(&w);
	return ret;
}

static int do_rw(struct sb_engine *e, enum sb_io_op op, uint64_t lun,
		 uint64_t off, void *buf, size_t len)
{
	struct iovec v = {buf, len};

	return do_io(e, op, lun, off, len, &v, 1, 0, NULL);
}

/* Engine over the whole test cluster, with @qd requests per node. */
static struct sb_engine *engine_full(unsigned int qd)
{
	struct sb_cluster cl = fx.cl;
	struct sb_engine *e;
	char err[256];

	cl.queue_depth = qd;
	e = sb_engine_new(&cl, &fx.secret, err, sizeof(err));
	if (!e)
		fail_msg("sb_engine_new: %s", err);
	assert_int_equal(sb_engine_wait_ready(e, READY_MS), NODES);
	return e;
}

/* Engine that sees node @i alone, so every chunk maps to it. */
static struct sb_engine *engine_single(unsigned int i)
{
	struct sb_cluster cl = fx.cl;
	struct sb_engine *e;
	char err[256];

	cl.nodes[0] = fx.cl.nodes[i];
	cl.nr_nodes = 1;
	cl.replicas = 1;
	e = sb_engine_new(&cl, &fx.secret, err, sizeof(err));
	if (!e)
		fail_msg("sb_engine_new: %s", err);
	assert_int_equal(sb_engine_wait_ready(e, READY_MS), 1);
	return e;
}

/* Poll until node @i is up in @e again (after a restart). */
static void wait_node_up(struct sb_engine *e, unsigned int i)
{
	uint64_t until = now_ms() + READY_MS;

	while (!sb_engine_node_up(e, i) && now_ms() < until)
		sleep_ms(20);
	assert_true(sb_engine_node_up(e, i));
}

static void wait_node_down(struct sb_engine *e, unsigned int i)
{
	uint64_t until = now_ms() + READY_MS;

	while (sb_engine_node_up(e, i) && now_ms() < until)
		sleep_ms(10);
	assert_false(sb_engine_node_up(e, i));
}

static uint64_t make_lun(const char *name)
{
	struct xp_layout lay;
	uint64_t size = 0;

	assert_int_equal(sb_engine_lun_create(fx.e, name, LUN_SIZE), 0);
	assert_int_equal(sb_engine_lun_open(fx.e, sb_lun_id(name), &size, &lay),
			 0);
	assert_int_equal(size, LUN_SIZE);
	return sb_lun_id(name);
}

/* True when node index @node is one of the replicas of @chunk. */
static bool is_replica(uint64_t lun, uint64_t chunk, unsigned int node)
{
	return sb_place_mask(&fx.cl, lun, chunk) & (1ull << node);
}

/* A chunk of @lun whose replicas include node @node (and not @avoid). */
static uint64_t chunk_on(uint64_t lun, unsigned int node, int avoid)
{
	uint64_t c;

	for (c = 0; c < LUN_SIZE / CHUNK; c++)
		if (is_replica(lun, c, node) &&
		    (avoid < 0 || !is_replica(lun, c, (unsigned int)avoid)))
			return c;
	fail_msg("no chunk on node %u", node);
	return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	sb_log_set_level(SB_LOG_ERR);
	return tl_engine_start(&fx.tc, NODES, REPLICAS, CHUNK, TIMEOUT_MS,
			       &fx.cl, &fx.secret, &fx.e);
}

static int group_teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	fx.e = NULL;
	tl_cluster_destroy(&fx.tc);
	return 0;
}

/* Every node running and connected in fx.e before each test. */
static int test_setup(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < NODES; i++) {
		if (fx.tc.nodes[i].pid <= 0 && tl_node_start(&fx.tc, i))
			return -1;
	}
	for (i = 0; i < NODES; i++) {
		uint64_t until = now_ms() + READY_MS;

		while (!sb_engine_node_up(fx.e, i) && now_ms() < until)
			sleep_ms(20);
		if (!sb_engine_node_up(fx.e, i))
			return -1;
	}
	return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_submit_rejects(void **state)
{
	uint8_t buf[4096];
	struct iovec v = {buf, sizeof(buf)};
	struct sb_io io = {0};
	struct waiter w;
	uint64_t lun = sb_lun_id("t-reject");

	(void)state;
	waiter_init(&w);
	io.lun_id = lun;
	io.iov = &v;
	io.iovcnt = 1;

	io.op = SB_IO_READ; /* zero length */
	io.length = 0;
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.length = 8192; /* iovec shorter than the range */
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.op = SB_IO_WRITE;
	io.iov = NULL;
	io.length = 4096;
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.iov = &v;
	io.offset = UINT64_MAX - 100; /* wraps */
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.offset = 0;
	io.flags = 0x80; /* unknown flag */
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.flags = 0;
	io.op = SB_IO_CAW; /* crosses a chunk boundary */
	io.offset = CHUNK - 1024;
	io.length = 2048;
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.offset = 0; /* longer than XP_MAX_CAW */
	io.length = XP_MAX_CAW + 512;
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	io.op = 99;
	io.length = 512;
	assert_int_equal(submit(fx.e, &io, &w), -EINVAL);
	assert_int_equal(sb_engine_submit(NULL, &io), -EINVAL);
	sleep_ms(50);
	assert_int_equal(w.calls, 0); /* no callback for a refused submit */
	waiter_destroy(&w);
}

static void test_lun_control(void **state)
{
	struct xp_stat st;
	struct xp_stat_lun *luns = NULL;
	struct xp_layout lay;
	uint64_t lun, size = 0;
	unsigned int i;
	int n, k;
	bool found;

	(void)state;
	lun = make_lun("t-ctl");
	/* same name and size again: idempotent */
	assert_int_equal(sb_engine_lun_create(fx.e, "t-ctl", LUN_SIZE), 0);
	assert_int_equal(sb_engine_lun_create(fx.e, "t-ctl", 2 * LUN_SIZE),
			 -EEXIST);
	assert_int_equal(sb_engine_lun_create(fx.e, "bad name", LUN_SIZE),
			 -EINVAL);
	assert_int_equal(sb_engine_lun_resize(fx.e, lun, 2 * LUN_SIZE), 0);
	assert_int_equal(sb_engine_lun_open(fx.e, lun, &size, &lay), 0);
	assert_int_equal(size, 2 * LUN_SIZE);
	for (i = 0; i < NODES; i++) {
		n = sb_engine_stat(fx.e, i, &st, &luns);
		assert_true(n >= 1);
		assert_int_equal(st.node_id, fx.cl.nodes[i].id);
		found = false;
		for (k = 0; k < n; k++) {
			if (luns[k].lun_id != lun)
				continue;
			found = true;
			assert_string_equal(luns[k].name, "t-ctl");
			assert_int_equal(luns[k].size, 2 * LUN_SIZE);
			assert_int_equal(luns[k].layout.chunk_size,
					 fx.cl.chunk_size);
			assert_int_equal(luns[k].layout.replicas,
					 fx.cl.replicas);
		}
		assert_true(found);
		free(luns);
		luns = NULL;
	}
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
	assert_int_equal(sb_engine_lun_open(fx.e, lun, &size, &lay), -ENOENT);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), -ENOENT);
	assert_int_equal(sb_engine_stat(fx.e, NODES, &st, NULL), -EINVAL);
}

/*
 * A LUN's layout is recorded on the nodes: an engine whose cluster file
 * says another chunk size or replica count is told (-EMEDIUMTYPE, with the
 * LUN's layout) instead of silently placing blocks elsewhere, and cannot
 * create the same LUN with its own layout.
 */
static void test_layout_recorded(void **state)
{
	struct sb_cluster cl = fx.cl;
	struct xp_layout lay, mine;
	struct sb_engine *e;
	char err[256];
	uint64_t lun, size = 0;

	(void)state;
	lun = make_lun("t-layout");
	cl.chunk_size = fx.cl.chunk_size * 2;
	e = sb_engine_new(&cl, &fx.secret, err, sizeof(err));
	if (!e)
		fail_msg("sb_engine_new: %s", err);
	assert_true(sb_engine_wait_ready(e, READY_MS) == NODES);
	sb_engine_layout(e, &mine);
	assert_int_equal(mine.chunk_size, cl.chunk_size);
	assert_int_equal(sb_engine_lun_open(e, lun, &size, &lay), -EMEDIUMTYPE);
	assert_int_equal(size, LUN_SIZE);
	assert_int_equal(lay.chunk_size, fx.cl.chunk_size);
	assert_int_equal(lay.replicas, fx.cl.replicas);
	assert_int_equal(sb_engine_lun_create(e, "t-layout", LUN_SIZE),
			 -EEXIST);
	sb_engine_free(e);

	cl = fx.cl;
	cl.replicas = 1;
	e = sb_engine_new(&cl, &fx.secret, err, sizeof(err));
	if (!e)
		fail_msg("sb_engine_new: %s", err);
	assert_true(sb_engine_wait_ready(e, READY_MS) == NODES);
	assert_int_equal(sb_engine_lun_open(e, lun, &size, &lay), -EMEDIUMTYPE);
	assert_int_equal(lay.replicas, fx.cl.replicas);
	sb_engine_free(e);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/* Random data, odd iovec layouts, ranges that cross many chunks. */
static void test_write_read_chunks(void **state)
{
	static const struct {
		uint64_t off;
		uint64_t len;
	} ranges[] = {
		{0, 4096},
		{CHUNK - 512, 1024}, /* straddles one boundary */
		{3 * CHUNK + 512, 5 * CHUNK + 1536}, /* many chunks */
		{60 << 10, (1u << 20) + (100 << 10)}, /* > 1 MiB piece */
		{LUN_SIZE - 3 * CHUNK - 512, 3 * CHUNK + 512}, /* LUN end */
	};
	uint8_t *model, *buf;
	uint64_t lun;
	size_t r;

	(void)state;
	lun = make_lun("t-rw");
	model = calloc(1, LUN_SIZE);
	buf = malloc(LUN_SIZE);
	assert_non_null(model);
	assert_non_null(buf);

	for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		uint64_t off = ranges[r].off, len = ranges[r].len;
		struct iovec v[3];

		fill_random(model + off, len, r + 1);
		/* three iovecs of uneven size */
		v[0].iov_base = model + off;
		v[0].iov_len = 512 < len ? 512 : len;
		v[1].iov_base = model + off + v[0].iov_len;
		v[1].iov_len = (len - v[0].iov_len) / 3;
		v[2].iov_base = (uint8_t *)v[1].iov_base + v[1].iov_len;
		v[2].iov_len = len - v[0].iov_len - v[1].iov_len;
		assert_int_equal(do_io(fx.e, SB_IO_WRITE, lun, off, len, v, 3,
				       0, NULL),
				 0);
	}
	/* read everything back in one go, then per range with 2 iovecs */
	memset(buf, 0xEE, LUN_SIZE);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, buf, LUN_SIZE), 0);
	assert_memory_equal(buf, model, LUN_SIZE);
	for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		uint64_t off = ranges[r].off, len = ranges[r].len;
		struct iovec v[2] = {{buf, len / 2},
				     {buf + len / 2, len - len / 2}};

		memset(buf, 0xEE, len);
		assert_int_equal(do_io(fx.e, SB_IO_READ, lun, off, len, v, 2, 0,
				       NULL),
				 0);
		assert_memory_equal(buf, model + off, len);
	}
	/* beyond the LUN's end */
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, LUN_SIZE - 512, buf,
			       1024),
			 -ERANGE);
	free(buf);
	free(model);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/*
 * More iovecs than one frame may carry (IOV_MAX): 32-byte pieces over a
 * 1 MiB range (2048 per 64 KiB chunk), and a CAW in 4-byte pieces.
 */
static void test_many_iovecs(void **state)
{
	enum { LEN = 1u << 20, SEG = 32, NSEG = LEN / SEG };
	enum { CAWN = 4096, CSEG = 4, NCSEG = 2 * CAWN / CSEG };
	struct iovec *v;
	uint8_t *data, *buf, cw[2 * CAWN];
	uint64_t lun, off = 2 * CHUNK, mis;
	unsigned int k;

	(void)state;
	lun = make_lun("t-iov");
	v = calloc(NSEG, sizeof(*v));
	data = malloc(LEN);
	buf = malloc(LEN);
	assert_non_null(v);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, LEN, 50);
	for (k = 0; k < NSEG; k++) {
		v[k].iov_base = data + (size_t)k * SEG;
		v[k].iov_len = SEG;
	}
	/* offset inside a chunk, so pieces are not iovec-aligned either */
	assert_int_equal(do_io(fx.e, SB_IO_WRITE, lun, off + 1536, LEN, v, NSEG,
			       0, NULL),
			 0);
	for (k = 0; k < NSEG; k++)
		v[k].iov_base = buf + (size_t)k * SEG;
	memset(buf, 0, LEN);
	assert_int_equal(do_io(fx.e, SB_IO_READ, lun, off + 1536, LEN, v, NSEG,
			       0, NULL),
			 0);
	assert_memory_equal(buf, data, LEN);

	/* CAW: compare what is there (data's first CAWN bytes), write B */
	memcpy(cw, data, CAWN);
	fill_random(cw + CAWN, CAWN, 51);
	for (k = 0; k < NCSEG; k++) {
		v[k].iov_base = cw + (size_t)k * CSEG;
		v[k].iov_len = CSEG;
	}
	assert_int_equal(do_io(fx.e, SB_IO_CAW, lun, off + 1536, CAWN, v, NCSEG,
			       0, &mis),
			 0);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, off + 1536, buf, CAWN),
			 0);
	assert_memory_equal(buf, cw + CAWN, CAWN);
	free(buf);
	free(data);
	free(v);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/*
 * Each chunk is stored by exactly its REPLICAS placement nodes, and each
 * of their copies holds the data; STAT's allocated bytes agree.
 */
static void test_replicas_hold_copies(void **state)
{
	const uint64_t nchunks = 16;
	struct sb_engine *single[NODES];
	uint8_t *data, *buf;
	uint64_t lun, c, total_alloc = 0;
	unsigned int i;

	(void)state;
	lun = make_lun("t-repl");
	data = malloc(nchunks * CHUNK);
	buf = malloc(CHUNK);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, nchunks * CHUNK, 77);
	assert_int_equal(
		do_rw(fx.e, SB_IO_WRITE, lun, 0, data, nchunks * CHUNK), 0);
	for (i = 0; i < NODES; i++)
		single[i] = engine_single(i);
	for (c = 0; c < nchunks; c++) {
		unsigned int copies = 0;

		for (i = 0; i < NODES; i++) {
			memset(buf, 0xEE, CHUNK);
			assert_int_equal(do_rw(single[i], SB_IO_READ, lun,
					       c * CHUNK, buf, CHUNK),
					 0);
			if (is_replica(lun, c, i)) {
				assert_memory_equal(buf, data + c * CHUNK,
						    CHUNK);
				copies++;
			} else {
				assert_true(all_zero(buf, CHUNK));
			}
		}
		assert_int_equal(copies, REPLICAS);
	}
	for (i = 0; i < NODES; i++) {
		struct xp_stat st;
		struct xp_stat_lun *luns = NULL;
		int n, k;

		sb_engine_free(single[i]);
		n = sb_engine_stat(fx.e, i, &st, &luns);
		assert_true(n >= 1);
		for (k = 0; k < n; k++)
			if (luns[k].lun_id == lun)
				total_alloc += luns[k].allocated;
		free(luns);
	}
	assert_true(total_alloc >= REPLICAS * nchunks * CHUNK);
	free(buf);
	free(data);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/* A killed node: reads are served by the other replica. */
static void test_read_failover(void **state)
{
	const uint64_t len = 32 * CHUNK;
	uint8_t *data, *buf;
	uint64_t lun, c;
	unsigned int hits = 0;

	(void)state;
	lun = make_lun("t-failover");
	data = malloc(len);
	buf = malloc(len);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, len, 5);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, data, len), 0);
	for (c = 0; c < len / CHUNK; c++)
		hits += is_replica(lun, c, 0);
	assert_true(hits > 0); /* node 0 really held some of it */

	assert_true(tl_node_stop(&fx.tc, 0, SIGKILL) >= 0);
	memset(buf, 0, len);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, buf, len), 0);
	assert_memory_equal(buf, data, len);
	/* and chunk by chunk, including the first replica's chunks */
	for (c = 0; c < len / CHUNK; c++) {
		memset(buf, 0, CHUNK);
		assert_int_equal(
			do_rw(fx.e, SB_IO_READ, lun, c * CHUNK, buf, CHUNK), 0);
		assert_memory_equal(buf, data + c * CHUNK, CHUNK);
	}
	assert_false(sb_engine_node_up(fx.e, 0));
	free(buf);
	free(data);
	assert_int_equal(tl_node_start(&fx.tc, 0), 0);
	wait_node_up(fx.e, 0);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/*
 * Reads in flight while a node dies fail over too (not only reads
 * submitted after the engine noticed).
 */
static void test_failover_in_flight(void **state)
{
	enum { N = 64 };
	const uint64_t len = N * CHUNK;
	struct sb_io io[N];
	struct iovec v[N];
	struct waiter w;
	uint8_t *data, *buf;
	uint64_t lun;
	unsigned int k;

	(void)state;
	lun = make_lun("t-inflight");
	data = malloc(len);
	buf = malloc(len);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, len, 6);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, data, len), 0);
	memset(buf, 0, len);
	waiter_init(&w);
	for (k = 0; k < N; k++) {
		memset(&io[k], 0, sizeof(io[k]));
		v[k].iov_base = buf + (uint64_t)k * CHUNK;
		v[k].iov_len = CHUNK;
		io[k].op = SB_IO_READ;
		io[k].lun_id = lun;
		io[k].offset = (uint64_t)k * CHUNK;
		io[k].length = CHUNK;
		io[k].iov = &v[k];
		io[k].iovcnt = 1;
		assert_int_equal(submit(fx.e, &io[k], &w), 0);
		if (k == N / 4)
			assert_true(tl_node_stop(&fx.tc, 1, SIGKILL) >= 0);
	}
	waiter_wait(&w);
	assert_int_equal(w.nerr, 0);
	assert_int_equal(w.calls, N);
	assert_memory_equal(buf, data, len);
	waiter_destroy(&w);
	free(buf);
	free(data);
	assert_int_equal(tl_node_start(&fx.tc, 1), 0);
	wait_node_up(fx.e, 1);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/* Node restarted between write and read: data intact, engine reconnected. */
static void test_restart_between(void **state)
{
	const uint64_t len = 24 * CHUNK;
	struct sb_engine_stats before, after;
	uint8_t *data, *buf;
	uint64_t lun;
	unsigned int i;

	(void)state;
	lun = make_lun("t-restart");
	data = malloc(len);
	buf = malloc(len);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, len, 9);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, data, len), 0);
	sb_engine_get_stats(fx.e, &before);

	assert_true(tl_node_stop(&fx.tc, 2, SIGTERM) >= 0);
	wait_node_down(fx.e, 2);
	assert_int_equal(tl_node_start(&fx.tc, 2), 0);
	wait_node_up(fx.e, 2);
	sb_engine_get_stats(fx.e, &after);
	assert_true(after.reconnects > before.reconnects);

	/* every copy on the restarted node survived */
	{
		struct sb_engine *one = engine_single(2);
		uint64_t c;

		for (c = 0; c < len / CHUNK; c++) {
			if (!is_replica(lun, c, 2))
				continue;
			memset(buf, 0, CHUNK);
			assert_int_equal(do_rw(one, SB_IO_READ, lun, c * CHUNK,
					       buf, CHUNK),
					 0);
			assert_memory_equal(buf, data + c * CHUNK, CHUNK);
		}
		sb_engine_free(one);
	}
	memset(buf, 0, len);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, buf, len), 0);
	assert_memory_equal(buf, data, len);
	/* and the reconnected node takes writes again */
	fill_random(data, len, 10);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, data, len), 0);
	memset(buf, 0, len);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, buf, len), 0);
	assert_memory_equal(buf, data, len);
	for (i = 0; i < NODES; i++)
		assert_true(sb_engine_node_up(fx.e, i));
	free(buf);
	free(data);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/* Far more operations than queue_depth: all complete, none fail. */
static void test_backpressure(void **state)
{
	enum { N = 300, BS = 4096 };
	struct sb_engine_stats st;
	struct sb_engine *e;
	struct sb_io *io;
	struct iovec *v;
	struct waiter w;
	uint8_t *data, *buf;
	uint64_t lun;
	unsigned int k;

	(void)state;
	lun = make_lun("t-bp");
	e = engine_full(2);
	io = calloc(N, sizeof(*io));
	v = calloc(N, sizeof(*v));
	data = malloc((size_t)N * BS);
	buf = malloc((size_t)N * BS);
	assert_non_null(io);
	assert_non_null(v);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, (size_t)N * BS, 11);
	waiter_init(&w);
	for (k = 0; k < N; k++) {
		v[k].iov_base = data + (size_t)k * BS;
		v[k].iov_len = BS;
		io[k].op = SB_IO_WRITE;
		io[k].lun_id = lun;
		/* distinct blocks over many chunks and so every node */
		io[k].offset = (uint64_t)k * BS;
		io[k].length = BS;
		io[k].iov = &v[k];
		io[k].iovcnt = 1;
	}
	for (k = 0; k < N; k++)
		assert_int_equal(submit(e, &io[k], &w), 0);
	waiter_wait(&w);
	assert_int_equal(w.calls, N);
	assert_int_equal(w.nerr, 0);

	/* reads, also all at once */
	for (k = 0; k < N; k++) {
		v[k].iov_base = buf + (size_t)k * BS;
		io[k].op = SB_IO_READ;
	}
	memset(buf, 0, (size_t)N * BS);
	for (k = 0; k < N; k++)
		assert_int_equal(submit(e, &io[k], &w), 0);
	waiter_wait(&w);
	assert_int_equal(w.calls, 2 * N);
	assert_int_equal(w.nerr, 0);
	assert_memory_equal(buf, data, (size_t)N * BS);
	/* the depth was really enforced: requests waited, never > 2 sent */
	sb_engine_get_stats(e, &st);
	assert_true(st.throttled > 0);
	assert_true(st.max_inflight >= 1);
	assert_true(st.max_inflight <= 2);
	assert_int_equal(st.submitted, 2 * N);
	assert_int_equal(st.completed, 2 * N);
	waiter_destroy(&w);
	sb_engine_free(e);
	free(buf);
	free(data);
	free(v);
	free(io);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/*
 * A write to a chunk whose replica is down fails after the I/O timeout
 * with a clear errno; a chunk whose replicas are both up is unaffected.
 */
static void test_write_replica_down(void **state)
{
	uint8_t data[8192];
	uint64_t lun, bad, good, t0, el;
	int ret;

	(void)state;
	lun = make_lun("t-down");
	bad = chunk_on(lun, 1, -1);
	good = chunk_on(lun, 0, 1); /* replicas 0 and 2 */
	fill_random(data, sizeof(data), 12);
	assert_true(tl_node_stop(&fx.tc, 1, SIGKILL) >= 0);
	wait_node_down(fx.e, 1);

	t0 = now_ms();
	ret = do_rw(fx.e, SB_IO_WRITE, lun, bad * CHUNK, data, sizeof(data));
	el = now_ms() - t0;
	assert_true(ret == -EHOSTUNREACH || ret == -ETIMEDOUT);
	assert_true(el >= TIMEOUT_MS * 9 / 10);
	assert_true(el < TIMEOUT_MS * 4);
	/* other chunks still work meanwhile */
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, good * CHUNK, data,
			       sizeof(data)),
			 0);
	/* a write that waits and sees the node return in time succeeds */
	{
		struct sb_io io = {0};
		struct iovec v = {data, sizeof(data)};
		struct waiter w;
		struct sb_cluster cl = fx.cl;
		struct sb_engine *e;
		char err[256];

		cl.io_timeout_ms = 20000;
		e = sb_engine_new(&cl, &fx.secret, err, sizeof(err));
		assert_non_null(e);
		assert_int_equal(sb_engine_wait_ready(e, READY_MS), NODES - 1);
		waiter_init(&w);
		io.op = SB_IO_WRITE;
		io.lun_id = lun;
		io.offset = bad * CHUNK;
		io.length = sizeof(data);
		io.iov = &v;
		io.iovcnt = 1;
		assert_int_equal(submit(e, &io, &w), 0);
		sleep_ms(300);
		assert_int_equal(w.calls, 0); /* still waiting for the node */
		assert_int_equal(tl_node_start(&fx.tc, 1), 0);
		waiter_wait(&w);
		assert_int_equal(w.first_err, 0);
		waiter_destroy(&w);
		sb_engine_free(e);
	}
	{
		uint8_t buf[8192];
		struct sb_engine *one = engine_single(1);

		assert_int_equal(do_rw(one, SB_IO_READ, lun, bad * CHUNK, buf,
				       sizeof(buf)),
				 0);
		assert_memory_equal(buf, data, sizeof(buf));
		sb_engine_free(one);
	}
	wait_node_up(fx.e, 1);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

static void test_caw(void **state)
{
	enum { N = 4096 };
	uint8_t a[N], b[N], cw[2 * N], buf[N];
	struct iovec v = {cw, sizeof(cw)};
	uint64_t lun, off, mis = 0;
	unsigned int i;

	(void)state;
	lun = make_lun("t-caw");
	off = 5 * CHUNK + 8192;
	fill_random(a, N, 20);
	fill_random(b, N, 21);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, off, a, N), 0);

	/* match: compare A, write B */
	memcpy(cw, a, N);
	memcpy(cw + N, b, N);
	assert_int_equal(do_io(fx.e, SB_IO_CAW, lun, off, N, &v, 1, SB_IO_F_FUA,
			       NULL),
			 0);
	/* B is on every replica */
	for (i = 0; i < NODES; i++) {
		struct sb_engine *one;

		if (!is_replica(lun, off / CHUNK, i))
			continue;
		one = engine_single(i);
		assert_int_equal(do_rw(one, SB_IO_READ, lun, off, buf, N), 0);
		assert_memory_equal(buf, b, N);
		sb_engine_free(one);
	}
	/* miscompare: the compare data is B except byte 1000 */
	memcpy(cw, b, N);
	cw[1000] ^= 0x5A;
	fill_random(cw + N, N, 22);
	assert_int_equal(do_io(fx.e, SB_IO_CAW, lun, off, N, &v, 1, 0, &mis),
			 -EILSEQ);
	assert_int_equal(mis, 1000);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, off, buf, N), 0);
	assert_memory_equal(buf, b, N); /* nothing written */
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

static void test_flush(void **state)
{
	uint8_t data[4096];
	struct iovec v = {data, sizeof(data)};
	uint64_t lun;

	(void)state;
	lun = make_lun("t-flush");
	fill_random(data, sizeof(data), 30);
	assert_int_equal(do_io(fx.e, SB_IO_WRITE, lun, 0, sizeof(data), &v, 1,
			       SB_IO_F_FUA, NULL),
			 0);
	assert_int_equal(do_io(fx.e, SB_IO_FLUSH, lun, 0, 0, NULL, 0, 0, NULL),
			 0);
	/* node-wide flush */
	assert_int_equal(do_io(fx.e, SB_IO_FLUSH, 0, 0, 0, NULL, 0, 0, NULL),
			 0);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

static void test_unmap_zeroes(void **state)
{
	const uint64_t len = 12 * CHUNK;
	const uint64_t u_off = CHUNK + 4096, u_len = 3 * CHUNK;
	const uint64_t z_off = 6 * CHUNK - 8192, z_len = 2 * CHUNK + 4096;
	uint8_t *data, *buf;
	uint64_t lun;

	(void)state;
	lun = make_lun("t-unmap");
	data = malloc(len);
	buf = malloc(len);
	assert_non_null(data);
	assert_non_null(buf);
	fill_random(data, len, 40);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, data, len), 0);
	assert_int_equal(do_io(fx.e, SB_IO_UNMAP, lun, u_off, u_len, NULL, 0, 0,
			       NULL),
			 0);
	memset(data + u_off, 0, u_len);
	assert_int_equal(do_io(fx.e, SB_IO_WRITE_ZEROES, lun, z_off, z_len,
			       NULL, 0, SB_IO_F_UNMAP, NULL),
			 0);
	memset(data + z_off, 0, z_len);
	memset(buf, 0xEE, len);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, buf, len), 0);
	assert_memory_equal(buf, data, len);
	/* both replicas of an unmapped chunk read as zeros */
	{
		unsigned int i;

		for (i = 0; i < NODES; i++) {
			struct sb_engine *one = engine_single(i);

			memset(buf, 0xEE, u_len);
			assert_int_equal(do_rw(one, SB_IO_READ, lun, u_off, buf,
					       u_len),
					 0);
			assert_true(all_zero(buf, u_len));
			sb_engine_free(one);
		}
	}
	free(buf);
	free(data);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/*
 * This host has no RDMA device: every node connection says so and moves
 * payload inline, and the engine counts it as inline, with no pool copy.
 */
static void test_payload_inline_without_rdma(void **state)
{
	static uint8_t buf[256 << 10], rbuf[256 << 10];
	struct sb_engine_stats st;
	char why[96];
	unsigned int i;
	uint64_t lun;

	(void)state;
	lun = make_lun("t-payload");
	fill_random(buf, sizeof(buf), 77);
	assert_int_equal(do_rw(fx.e, SB_IO_WRITE, lun, 0, buf, sizeof(buf)), 0);
	assert_int_equal(do_rw(fx.e, SB_IO_READ, lun, 0, rbuf, sizeof(rbuf)),
			 0);
	assert_memory_equal(rbuf, buf, sizeof(buf));
	assert_int_equal(sb_engine_wait_payload(fx.e, 1000), 0);
	for (i = 0; i < NODES; i++) {
		assert_int_equal(sb_engine_node_payload(fx.e, i, why,
							sizeof(why)),
				 SB_PAYLOAD_TCP);
		assert_string_equal(why, "no RDMA device on this host");
	}
	sb_engine_get_stats(fx.e, &st);
	assert_true(st.bytes_rdma == 0);
	assert_true(st.bytes_inline >= 2 * sizeof(buf));
	assert_true(st.rdma_fallbacks == 0);
	/* Nothing went through an RDMA pool buffer, so nothing was copied. */
	assert_true(st.copy_bytes == 0);
	assert_true(st.copy_ns == 0);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

/* Freeing the engine with work queued completes it with -ESHUTDOWN. */
static void test_free_with_pending(void **state)
{
	enum { N = 64, BS = 65536 };
	struct sb_engine *e;
	struct sb_io io[N];
	struct iovec v[N];
	struct waiter w;
	uint8_t *data;
	uint64_t lun;
	unsigned int k;

	(void)state;
	lun = make_lun("t-free");
	e = engine_full(1);
	data = calloc(N, BS);
	assert_non_null(data);
	waiter_init(&w);
	for (k = 0; k < N; k++) {
		memset(&io[k], 0, sizeof(io[k]));
		v[k].iov_base = data + (size_t)k * BS;
		v[k].iov_len = BS;
		io[k].op = SB_IO_WRITE;
		io[k].lun_id = lun;
		io[k].offset = (uint64_t)k * BS;
		io[k].length = BS;
		io[k].iov = &v[k];
		io[k].iovcnt = 1;
		assert_int_equal(submit(e, &io[k], &w), 0);
	}
	sb_engine_free(e);
	/* every callback ran, before sb_engine_free returned */
	assert_int_equal(w.pending, 0);
	assert_int_equal(w.calls, N);
	if (w.nerr)
		assert_int_equal(w.first_err, -ESHUTDOWN);
	waiter_destroy(&w);
	free(data);
	assert_int_equal(sb_engine_lun_delete(fx.e, lun), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_submit_rejects, test_setup),
		cmocka_unit_test_setup(test_lun_control, test_setup),
		cmocka_unit_test_setup(test_layout_recorded, test_setup),
		cmocka_unit_test_setup(test_write_read_chunks, test_setup),
		cmocka_unit_test_setup(test_many_iovecs, test_setup),
		cmocka_unit_test_setup(test_replicas_hold_copies, test_setup),
		cmocka_unit_test_setup(test_read_failover, test_setup),
		cmocka_unit_test_setup(test_failover_in_flight, test_setup),
		cmocka_unit_test_setup(test_restart_between, test_setup),
		cmocka_unit_test_setup(test_backpressure, test_setup),
		cmocka_unit_test_setup(test_write_replica_down, test_setup),
		cmocka_unit_test_setup(test_caw, test_setup),
		cmocka_unit_test_setup(test_flush, test_setup),
		cmocka_unit_test_setup(test_unmap_zeroes, test_setup),
		cmocka_unit_test_setup(test_free_with_pending, test_setup),
		cmocka_unit_test_setup(test_payload_inline_without_rdma,
				       test_setup),
	};

	return cmocka_run_group_tests_name("engine", tests, group_setup,
					   group_teardown);
}
