/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of degraded writes and stale replicas (docs/recovery.md):
 * three real spanblkd registered in a real etcd, the gateway engine in
 * this process with the same store. Writes go on when a node dies or
 * hangs, its missed chunks are recorded in etcd before they are
 * acknowledged, and no read, by this engine or a new one, ever returns
 * the old data a returning node still holds; with the only good copy
 * down, a read fails rather than serve the old one.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "lib/place.h"
#include "lib/util/clock.h"
#include "lib/util/log.h"
#include "testlib.h"
#include "tests/common/client.h"
#include "tests/common/etcd_proc.h"
#include "tests/common/syncio.h"
#include "xport/auth.h"
#include "xport/kv.h"
#include "xport/proto.h"
#include "xport/records.h"

#define NODES 3
#define CHUNK (64u << 10)
#define LUN_SIZE (4u << 20)
#define NCHUNKS (LUN_SIZE / CHUNK)
#define IO_TIMEOUT_MS 3000
#define TTL_S 2
#define WAIT_S 30
#define PFX "/degraded-test/"

static struct {
	struct tc_etcd etcd;
	struct tl_cluster c;
	struct sb_cluster cl;
	struct xp_secret secret;
	struct xp_kv *kv;
	struct sb_engine *e;
	uint64_t lun;
} fx;

/* Wait until node id @id is up (@up) or down in the store. */
static bool wait_member(uint32_t id, bool up, unsigned int ms)
{
	return tl_wait_member(fx.kv, PFX, id, up, ms);
}

static struct sb_engine *engine(void)
{
	return tl_engine(&fx.cl, &fx.secret);
}

/* This test's timing: node_ttl, the gateway's io_timeout_ms and
 * resync_rate (MiB/s, 0: none). */
static unsigned int ttl_s = TTL_S, io_timeout_ms = IO_TIMEOUT_MS, rate;

static int setup(void **state)
{
	char err[256], extra[64];
	unsigned int i;

	(void)state;
	snprintf(extra, sizeof(extra), "resync_rate = %u", rate);
	memset(&fx, 0, sizeof(fx));
	sb_log_set_level(SB_LOG_ERR);
	if (tc_etcd_start(&fx.etcd, 1, err, sizeof(err)) ||
	    tl_cluster_start(&fx.c, NODES, 2, CHUNK, io_timeout_ms, NULL) ||
	    tl_nodes_use_store(&fx.c, fx.etcd.endpoints, PFX, ttl_s) ||
	    tl_cluster_file_use_store(&fx.c, fx.etcd.endpoints, PFX, extra) ||
	    sb_cluster_load(fx.c.conf, &fx.cl, err, sizeof(err)) ||
	    xp_secret_load(fx.cl.secret_file, &fx.secret) ||
	    xp_etcd_open(fx.etcd.endpoints, 2000, &fx.kv, err, sizeof(err)))
		return -1;
	for (i = 0; i < NODES; i++)
		if (!wait_member(fx.c.nodes[i].id, true, 10000))
			return -1;
	fx.e = engine();
	if (sb_engine_lun_create(fx.e, "deg", LUN_SIZE))
		return -1;
	fx.lun = sb_lun_id("deg");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	xp_kv_close(fx.kv);
	tl_cluster_destroy(&fx.c);
	tc_etcd_stop(&fx.etcd);
	return 0;
}

/* Chunk @c filled with version @v. */
static void pattern(uint8_t *buf, uint64_t c, uint8_t v)
{
	size_t i;

	for (i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)(v * 31 + c * 7 + i / 512);
}

/* Write version @v to every @step-th chunk from 0; the longest write in
 * *@max_ms. */
static int write_every(struct sb_engine *e, uint8_t v, unsigned int step,
		       uint64_t *max_ms)
{
	static uint8_t buf[CHUNK];
	uint64_t c, t0, dt;
	int ret;

	*max_ms = 0;
	for (c = 0; c < NCHUNKS; c += step) {
		pattern(buf, c, v);
		t0 = sb_now_ms();
		ret = tc_sync_io(e, SB_IO_WRITE, fx.lun, c * CHUNK, buf, CHUNK,
				 0, WAIT_S);
		dt = sb_now_ms() - t0;
		if (dt > *max_ms)
			*max_ms = dt;
		if (ret)
			return ret;
	}
	return 0;
}

static int write_all(struct sb_engine *e, uint8_t v, uint64_t *max_ms)
{
	return write_every(e, v, 1, max_ms);
}

/* Read chunk @c: 0 with the version it holds in *@v (-1: neither). */
static int read_chunk(struct sb_engine *e, uint64_t c, int *v, uint8_t a,
		      uint8_t b)
{
	static uint8_t buf[CHUNK], want[CHUNK];
	int ret;

	ret = tc_sync_io(e, SB_IO_READ, fx.lun, c * CHUNK, buf, CHUNK, 0,
			 WAIT_S);
	if (ret)
		return ret;
	*v = -1;
	pattern(want, c, a);
	if (!memcmp(buf, want, CHUNK))
		*v = a;
	pattern(want, c, b);
	if (!memcmp(buf, want, CHUNK))
		*v = b;
	return 0;
}

/* The node indices placement gives chunk @c. */
static uint64_t replicas_of(uint64_t c)
{
	return sb_place_mask(&fx.cl, fx.lun, c);
}

/* Stale records of the LUN in the store: chunk -> node id mask. */
static unsigned int stale_chunks(uint32_t node_id)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	unsigned int n = 0;
	size_t i, j;

	assert_int_equal(xp_rec_key_stale_prefix(key, sizeof(key), PFX, true,
						 fx.lun),
			 0);
	assert_int_equal(xp_kv_get(fx.kv, key, true, &l), 0);
	for (i = 0; i < l.n; i++) {
		struct xp_rec_stale st;

		assert_int_equal(xp_rec_stale_decode(l.items[i].val,
						     l.items[i].vlen, &st),
				 0);
		for (j = 0; j < st.n; j++)
			n += st.nodes[j] == node_id;
	}
	xp_kv_list_free(&l);
	return n;
}

/* `spanblkctl status` names @n stale chunks of node @id, exits 3. */
static void status_shows_stale(uint32_t id, unsigned int n)
{
	char *const argv[] = {"build-san/spanblkctl", "-c", fx.c.conf, "status",
			      NULL};
	char out[16384], want[64];
	int rc = tl_run(argv, out, sizeof(out));

	snprintf(want, sizeof(want), "node %" PRIu32 ": %u", id, n);
	if (rc != 3 || !strstr(out, want) ||
	    !strstr(out, "chunks with replicas that missed writes"))
		fail_msg("status exit %d, wanted '%s':\n%s", rc, want, out);
}

static void verify_all(struct sb_engine *e, uint8_t want)
{
	uint64_t c;
	int v;

	for (c = 0; c < NCHUNKS; c++) {
		assert_int_equal(read_chunk(e, c, &v, want - 1, want), 0);
		if (v != want)
			fail_msg("chunk %" PRIu64 " holds version %d, not %u",
				 c, v, want);
	}
}

/* Wait until no stale record names any node; false after @ms. */
static bool wait_resynced(unsigned int ms)
{
	uint64_t t0 = sb_now_ms();
	unsigned int i, left;

	do {
		left = 0;
		for (i = 0; i < NODES; i++)
			left += stale_chunks(fx.c.nodes[i].id);
		if (!left)
			return true;
		usleep(100 * 1000);
	} while (sb_now_ms() - t0 < ms);
	print_message("%u stale records left\n", left);
	return false;
}

/*
 * kill -9 of node A: writes go on and its chunks are recorded stale. Its
 * partner B for some chunks dies too, then A comes back: the chunks only
 * B had valid fail to read (never A's old copy), the others are served
 * and A is resynced from C where C has them. B back: every chunk is
 * resynced, the records are gone, and with C killed every chunk reads
 * the new data from A or B: the copies resync made are right.
 */
static void test_kill9_degraded_then_no_stale_read(void **state)
{
	const unsigned int a = 1, b = 2, c3 = 0; /* node indices */
	uint64_t max_ms, c;
	unsigned int on_a = 0, on_ab = 0;
	struct sb_engine *cold;
	int v, ret;

	(void)state;
	assert_int_equal(write_all(fx.e, 1, &max_ms), 0);
	verify_all(fx.e, 1);
	for (c = 0; c < NCHUNKS; c++) {
		on_a += !!(replicas_of(c) & (1ull << a));
		on_ab += (replicas_of(c) & (3ull << a)) == (3ull << a);
	}
	assert_true(on_a > 0 && on_ab > 0);

	assert_true(tl_node_stop(&fx.c, a, SIGKILL) >= 0);
	assert_int_equal(write_all(fx.e, 2, &max_ms), 0);
	print_message("kill -9: every write succeeded, longest %" PRIu64 " ms"
		      "\n",
		      max_ms);
	assert_true(max_ms < (TTL_S + 2) * 1000);
	assert_int_equal(stale_chunks(fx.c.nodes[a].id), on_a);
	verify_all(fx.e, 2);
	status_shows_stale(fx.c.nodes[a].id, on_a);

	/* B down, then A back with its old copies */
	assert_true(tl_node_stop(&fx.c, b, SIGKILL) >= 0);
	assert_true(wait_member(fx.c.nodes[b].id, false, (TTL_S + 3) * 1000));
	ret = tl_node_start(&fx.c, a);
	if (ret) {
		char cmd[PATH_MAX + 32];

		snprintf(cmd, sizeof(cmd), "tail -n 5 %s", fx.c.nodes[a].log);
		if (system(cmd))
			ret = -EIO;
		fail_msg("restart: %d", ret);
	}
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	/* the gateway restarts: the new one, cold, learns it from etcd */
	sb_engine_free(fx.e);
	fx.e = NULL;
	cold = engine();
	for (c = 0; c < NCHUNKS; c++) {
		bool both = (replicas_of(c) & (3ull << a)) == (3ull << a);

		ret = read_chunk(cold, c, &v, 1, 2);
		if (both) {
			if (ret == 0)
				fail_msg("chunk %" PRIu64 " on a stale node "
					 "and a "
					 "down one read as version %d",
					 c, v);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(v, 2);
		}
	}
	{
		struct xp_layout lay;
		uint64_t size;

		/* it goes on as the gateway: it resyncs what it opened */
		assert_int_equal(sb_engine_lun_open(cold, fx.lun, &size, &lay),
				 0);
	}
	fx.e = cold;

	/* B back: A's chunks are copied to it, node to node */
	assert_int_equal(tl_node_start(&fx.c, b), 0);
	assert_true(wait_member(fx.c.nodes[b].id, true, 10000));
	{
		char *const argv[] = {"build-san/spanblkctl", "-c", fx.c.conf,
				      "wait-healthy",	      "60", NULL};
		char out[16384];
		int rc = tl_run(argv, out, sizeof(out));

		print_message("wait-healthy: %s",
			      strrchr(out, '\n') ? out : "");
		if (rc != 0 || !strstr(out, "healthy: every node up"))
			fail_msg("wait-healthy exit %d:\n%s", rc, out);
	}
	assert_true(wait_resynced(1000));
	verify_all(fx.e, 2);
	assert_true(tl_node_stop(&fx.c, c3, SIGKILL) >= 0);
	assert_true(wait_member(fx.c.nodes[c3].id, false, (TTL_S + 3) * 1000));
	verify_all(fx.e, 2); /* every chunk from A or B */
}

/* A hung node (SIGSTOP): writes stall at most about node_ttl. */
static void test_sigstop_degraded(void **state)
{
	const unsigned int a = 0;
	pid_t pid = fx.c.nodes[a].pid;
	uint64_t max_ms;

	(void)state;
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(write_all(fx.e, 4, &max_ms), 0);
	print_message("SIGSTOP: every write succeeded, longest %" PRIu64 " ms "
		      "(node"
		      "_ttl "
		      "%d "
		      "s)\n",
		      max_ms, TTL_S);
	assert_true(max_ms < (TTL_S + 3) * 1000);
	verify_all(fx.e, 4);
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	usleep(500 * 1000);
	verify_all(fx.e, 4);
}

static void on_done(struct sb_io *io, int err)
{
	int *res = io->cb_arg;

	__atomic_store_n(res, err, __ATOMIC_SEQ_CST);
}

/*
 * The engine freed while a write has reached one replica and waits on
 * another (hung, still up in the store): the write completes, failed.
 */
static void test_free_with_write_half_done(void **state)
{
	const unsigned int a = 0;
	static uint8_t buf[CHUNK];
	struct iovec v = {buf, CHUNK};
	int res = 1;
	struct sb_io io = {.op = SB_IO_WRITE,
			   .lun_id = fx.lun,
			   .length = CHUNK,
			   .iov = &v,
			   .iovcnt = 1,
			   .cb = on_done,
			   .cb_arg = &res};
	uint64_t c;

	(void)state;
	for (c = 0; c < NCHUNKS && !(replicas_of(c) & (1ull << a)); c++)
		;
	assert_true(c < NCHUNKS);
	io.offset = c * CHUNK;
	pattern(buf, c, 5);
	assert_int_equal(kill(fx.c.nodes[a].pid, SIGSTOP), 0);
	assert_int_equal(sb_engine_submit(fx.e, &io), 0);
	usleep(300 * 1000); /* the other replica answers; well below node_ttl */
	sb_engine_free(fx.e);
	fx.e = NULL;
	assert_int_equal(kill(fx.c.nodes[a].pid, SIGCONT), 0);
	assert_int_equal(__atomic_load_n(&res, __ATOMIC_SEQ_CST), -ESHUTDOWN);
}

/* A long node_ttl and a short io_timeout: a hung node is evicted by
 * the request that timed out, long before its lease would expire. */
static int setup_slow(void **state)
{
	ttl_s = 30;
	io_timeout_ms = 1000;
	return setup(state);
}

static int teardown_slow(void **state)
{
	ttl_s = TTL_S;
	io_timeout_ms = IO_TIMEOUT_MS;
	return teardown(state);
}

/*
 * A node that answers nothing while its lease lives (a stalled disk looks
 * the same to the gateway): the first request that times out evicts it
 * (its lease is revoked), writes go on, and when it can run again it
 * fences itself and comes back as a new incarnation, then is resynced.
 */
static void test_timeout_evicts(void **state)
{
	const unsigned int a = 2;
	pid_t pid = fx.c.nodes[a].pid;
	uint64_t max_ms;

	(void)state;
	assert_int_equal(write_all(fx.e, 5, &max_ms), 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(write_all(fx.e, 6, &max_ms), 0);
	print_message("a request timed out: every write succeeded, longest "
		      "%" PRIu64 " ms (io_timeout %u ms, node_ttl %u s)\n",
		      max_ms, io_timeout_ms, ttl_s);
	assert_true(max_ms < io_timeout_ms + 2000);
	assert_true(wait_member(fx.c.nodes[a].id, false, 1000));
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	assert_true(wait_resynced(30000));
	verify_all(fx.e, 6);
}

/* Writers of a few chunks, racing a resync of them. */
#define RACERS 8
#define RACED 4

static struct {
	uint64_t chunks[RACED];
	bool stop;
	int err[RACERS];
	uint64_t max_ms[RACERS];
	unsigned int writes[RACERS];
} race;

static void *racer(void *arg)
{
	static uint8_t bufs[RACERS][CHUNK];
	unsigned int me = (unsigned int)(uintptr_t)arg, i = me;
	uint8_t *buf = bufs[me];
	uint64_t t0, dt, c;
	int ret;

	while (!__atomic_load_n(&race.stop, __ATOMIC_SEQ_CST)) {
		c = race.chunks[i++ % RACED];
		pattern(buf, c, 3);
		t0 = sb_now_ms();
		ret = tc_sync_io(fx.e, SB_IO_WRITE, fx.lun, c * CHUNK, buf,
				 CHUNK, 0, WAIT_S);
		dt = sb_now_ms() - t0;
		if (dt > race.max_ms[me])
			race.max_ms[me] = dt;
		race.writes[me]++;
		if (ret && !race.err[me])
			race.err[me] = ret;
	}
	return NULL;
}

/*
 * Writes keep coming to chunks while they are resynced: a write that
 * arrives while its chunk is held waits for the copy, never for the
 * writes that came after the hold, so none fails or waits long.
 */
static void test_writes_during_resync(void **state)
{
	const unsigned int a = 1;
	pthread_t th[RACERS];
	unsigned int i, n = 0, writes = 0;
	uint64_t c, max_ms = 0;
	bool resynced;

	(void)state;
	for (c = 0; c < NCHUNKS && n < RACED; c++)
		if (replicas_of(c) & (1ull << a))
			race.chunks[n++] = c;
	assert_int_equal(n, RACED);
	assert_true(tl_node_stop(&fx.c, a, SIGKILL) >= 0);
	assert_int_equal(write_all(fx.e, 2, &max_ms), 0);
	assert_true(stale_chunks(fx.c.nodes[a].id) >= RACED);
	for (i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer,
						(void *)(uintptr_t)i),
				 0);
	usleep(200 * 1000);
	/* the racers stop before any check: they use the engine */
	resynced = tl_node_start(&fx.c, a) == 0 && wait_resynced(20000);
	usleep(200 * 1000);
	__atomic_store_n(&race.stop, true, __ATOMIC_SEQ_CST);
	for (i = 0; i < RACERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (race.err[i])
			fail_msg("racer %u: a write failed: %s", i,
				 strerror(-race.err[i]));
		if (race.max_ms[i] > max_ms)
			max_ms = race.max_ms[i];
		writes += race.writes[i];
	}
	assert_true(resynced);
	print_message("writes during resync: %u, longest %" PRIu64 " ms\n",
		      writes, max_ms);
	assert_true(max_ms < IO_TIMEOUT_MS / 2);
	assert_int_equal(write_all(fx.e, 3, &max_ms), 0);
	verify_all(fx.e, 3);
	assert_true(tl_node_stop(&fx.c, 0, SIGKILL) >= 0);
	assert_true(tl_node_stop(&fx.c, 2, SIGKILL) >= 0);
	for (i = 0; i < RACED; i++) {
		int v;

		/* node a holds the only copy up: the one resync made */
		assert_int_equal(read_chunk(fx.e, race.chunks[i], &v, 2, 3), 0);
		assert_int_equal(v, 3);
	}
}

/*
 * A copy that arrives after resync is done (docs/protocol.md, "Push
 * epochs"): node a misses writes, comes back and is resynced; then a late
 * piece of an older copy of one of those chunks reaches it, as a copy
 * whose source hung with the piece read and resumed would. Its epoch is
 * above the node's registration but below the push the gateway made:
 * the node refuses it, and with the other replicas killed the chunk
 * still reads the data resync copied.
 */
static void test_late_copy_refused(void **state)
{
	const unsigned int a = 1;
	static uint8_t junk[CHUNK];
	struct tc_client cli;
	uint64_t c, max_ms = 0, chunk = NCHUNKS;
	struct xp_hdr h, ans;
	int64_t rev;
	int v;

	(void)state;
	assert_true(tl_node_stop(&fx.c, a, SIGKILL) >= 0);
	assert_int_equal(write_all(fx.e, 2, &max_ms), 0);
	assert_true(stale_chunks(fx.c.nodes[a].id) > 0);
	assert_int_equal(tl_node_start(&fx.c, a), 0);
	assert_true(wait_resynced(20000));
	for (c = 0; c < NCHUNKS && chunk == NCHUNKS; c++)
		if (replicas_of(c) & (1ull << a))
			chunk = c;
	assert_true(chunk < NCHUNKS);

	memset(junk, 0xEE, sizeof(junk));
	assert_int_equal(tc_client_open(&cli, fx.c.nodes[a].port, &fx.secret,
					fx.c.nodes[a].id, WAIT_S),
			 0);
	xp_hdr_init(&h, XP_OP_WRITE, 0, fx.lun);
	h.offset = chunk * CHUNK;
	h.length = CHUNK;
	h.payload_len = CHUNK;
	rev = tl_alive_rev(fx.kv, PFX, fx.c.nodes[a].id);
	assert_true(rev > 0);
	h.epoch = xp_push_epoch((uint64_t)rev, 1);
	assert_int_equal(tc_client_rpc(&cli, &h, junk, &ans, NULL, 0),
			 XP_ST_ESTALE);
	tc_client_close(&cli);

	assert_true(tl_node_stop(&fx.c, 0, SIGKILL) >= 0);
	assert_true(tl_node_stop(&fx.c, 2, SIGKILL) >= 0);
	assert_int_equal(read_chunk(fx.e, chunk, &v, 1, 2), 0);
	assert_int_equal(v, 2);
}

static int setup_rate(void **state)
{
	rate = 1;
	return setup(state);
}

static int teardown_rate(void **state)
{
	rate = 0;
	return teardown(state);
}

/*
 * resync_rate = 1 (MiB/s): the chunks a returning node missed are copied
 * no faster than that (unthrottled, this cluster copies them several
 * times faster), and all of them are.
 */
static void test_resync_rate(void **state)
{
	const unsigned int a = 0;
	uint64_t max_ms, t0, ms, min_ms;
	unsigned int n;

	(void)state;
	assert_true(tl_node_stop(&fx.c, a, SIGKILL) >= 0);
	assert_int_equal(write_all(fx.e, 2, &max_ms), 0);
	n = stale_chunks(fx.c.nodes[a].id);
	assert_true(n > 8);
	t0 = sb_now_ms();
	assert_int_equal(tl_node_start(&fx.c, a), 0);
	assert_true(wait_resynced(60000));
	ms = sb_now_ms() - t0;
	/* one chunk of burst, then CHUNK / rate each */
	min_ms = (uint64_t)(n - 1) * CHUNK * 1000 / ((uint64_t)rate << 20);
	print_message("resync_rate %u MiB/s: %u chunks of %u KiB in %" PRIu64
		      " ms (%.2f MiB/s; no faster than %" PRIu64 " ms)\n",
		      rate, n, CHUNK >> 10, ms,
		      (double)n * CHUNK / (1 << 20) / ((double)ms / 1000),
		      min_ms);
	assert_true(ms >= min_ms);
	verify_all(fx.e, 2);
}

/* Run shell command @fmt; the test fails unless it exits 0. */
static void sh(const char *fmt, ...)
{
	char cmd[3 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail_msg("failed: %s", cmd);
}

/* `spanblkctl status` says node @a has no copy of LUN deg, exits 3. */
static void status_shows_no_copy(unsigned int a)
{
	char *const argv[] = {"build-san/spanblkctl", "-c", fx.c.conf, "status",
			      NULL};
	char out[16384], want[96];
	int rc = tl_run(argv, out, sizeof(out));

	snprintf(want, sizeof(want), "LUN deg has no copy on node %" PRIu32 ":",
		 fx.c.nodes[a].id);
	if (rc != 3 || !strstr(out, want))
		fail_msg("status exit %d, wanted '%s':\n%s", rc, want, out);
}

/* A gateway started cold, the LUN opened. */
static struct sb_engine *engine_open(void)
{
	struct sb_engine *e = engine();
	struct xp_layout lay;
	uint64_t size;

	assert_int_equal(sb_engine_lun_open(e, fx.lun, &size, &lay), 0);
	assert_int_equal(size, LUN_SIZE);
	return e;
}

/* The number of chunks placed on node index @a. */
static unsigned int chunks_on(unsigned int a)
{
	unsigned int n = 0;
	uint64_t c;

	for (c = 0; c < NCHUNKS; c++)
		n += !!(replicas_of(c) & (1ull << a));
	return n;
}

/*
 * Wait until node index @a holds the LUN again and nothing is stale;
 * false after @ms.
 */
static bool wait_backfilled(unsigned int a, unsigned int ms)
{
	uint64_t t0 = sb_now_ms();
	uint32_t crc;

	while (sb_engine_chunk_csum(fx.e, a, fx.lun, 0, CHUNK, &crc) ==
	       -ENOENT) {
		if (sb_now_ms() - t0 > ms)
			return false;
		usleep(50 * 1000);
	}
	return wait_resynced(ms);
}

/* Every chunk on node index @a has the same CRC32C there as on its
 * partner: the copies backfill made hold the data. */
static void same_as_partners(unsigned int a)
{
	uint64_t c, rep;
	uint32_t mine, theirs;
	unsigned int b;

	for (c = 0; c < NCHUNKS; c++) {
		rep = replicas_of(c);
		if (!(rep & (1ull << a)))
			continue;
		for (b = 0; b < NODES; b++) {
			if (b == a || !(rep & (1ull << b)))
				continue;
			assert_int_equal(sb_engine_chunk_csum(fx.e, a, fx.lun,
							      c * CHUNK, CHUNK,
							      &mine),
					 0);
			assert_int_equal(sb_engine_chunk_csum(fx.e, b, fx.lun,
							      c * CHUNK, CHUNK,
							      &theirs),
					 0);
			if (mine != theirs)
				fail_msg("chunk %" PRIu64 ": node %u differs "
					 "from node %u after backfill",
					 c, a, b);
		}
	}
}

/* One chunk read on its own thread (reads of chunks with no valid copy
 * up wait io_timeout_ms each: read them all at once). */
struct chunk_read {
	pthread_t t;
	uint64_t c;
	uint8_t even, odd;
	int ret, v;
};

static void *chunk_read_main(void *arg)
{
	struct chunk_read *r = arg;
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);

	r->ret = -ENOMEM;
	r->v = -1;
	if (buf && want) {
		r->ret = tc_sync_io(fx.e, SB_IO_READ, fx.lun, r->c * CHUNK, buf,
				    CHUNK, 0, WAIT_S);
		pattern(want, r->c, r->even);
		if (!memcmp(buf, want, CHUNK))
			r->v = r->even;
		pattern(want, r->c, r->odd);
		if (!memcmp(buf, want, CHUNK))
			r->v = r->odd;
	}
	free(buf);
	free(want);
	return NULL;
}

/*
 * With nodes @a's partners killed, read every chunk: those on @a must
 * hold version @even (even chunks) or @odd (from @a), the others are
 * refused. Returns how many @a served.
 */
static unsigned int read_alone(unsigned int a, int even, int odd)
{
	static struct chunk_read r[NCHUNKS];
	unsigned int served = 0, i;
	uint64_t c;

	for (i = 0; i < NODES; i++)
		if (i != a)
			assert_true(tl_node_stop(&fx.c, i, SIGKILL) >= 0);
	for (i = 0; i < NODES; i++)
		if (i != a)
			assert_true(wait_member(fx.c.nodes[i].id, false,
						(TTL_S + 3) * 1000));
	for (c = 0; c < NCHUNKS; c++) {
		r[c] = (struct chunk_read){
			.c = c, .even = (uint8_t)even, .odd = (uint8_t)odd};
		assert_int_equal(pthread_create(&r[c].t, NULL, chunk_read_main,
						&r[c]),
				 0);
	}
	for (c = 0; c < NCHUNKS; c++)
		pthread_join(r[c].t, NULL);
	for (c = 0; c < NCHUNKS; c++) {
		int want = c % 2 ? odd : even;

		if (r[c].ret)
			continue; /* refused: no valid copy is up */
		if (r[c].v != want)
			fail_msg("chunk %" PRIu64 " read as version %d, not %d",
				 c, r[c].v, want);
		served++;
	}
	return served;
}

/*
 * A node restarted on an old copy of its data folder (taken before its
 * last start, so it lacks the writes since): it moves the copy's LUNs to
 * retired/ and joins empty, so no read returns the copy's data. A gateway
 * started cold finds the node without the LUN, records its chunks stale,
 * then creates the LUN there: with the node's partners down nothing is
 * served, neither the copy's data nor the new empty file's zeros.
 */
static void test_old_copy_never_served(void **state)
{
	const unsigned int a = 1;
	const char *d = fx.c.nodes[a].data;
	uint64_t max_ms, t0;
	unsigned int served;

	(void)state;
	assert_int_equal(write_all(fx.e, 1, &max_ms), 0);
	assert_true(tl_node_stop(&fx.c, a, SIGTERM) >= 0);
	sh("cp -a '%s' '%s.copy'", d, d);
	assert_int_equal(tl_node_start(&fx.c, a), 0);
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	usleep(500 * 1000); /* the gateway has it back */
	assert_int_equal(write_all(fx.e, 2, &max_ms), 0);
	assert_int_equal(stale_chunks(fx.c.nodes[a].id), 0);
	sb_engine_free(fx.e);
	fx.e = NULL;
	assert_true(tl_node_stop(&fx.c, a, SIGTERM) >= 0);
	sh("rm -rf '%s' && mv '%s.copy' '%s'", d, d, d);
	assert_int_equal(tl_node_start(&fx.c, a), 0);
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	status_shows_no_copy(a);
	sh("ls '%s'/retired/*/*.data >/dev/null && ! ls '%s'/luns/*.data "
	   ">/dev/null 2>&1",
	   d, d);
	fx.e = engine_open();
	t0 = sb_now_ms();
	while (stale_chunks(fx.c.nodes[a].id) < chunks_on(a) &&
	       sb_now_ms() - t0 < 10000)
		usleep(20 * 1000);
	served = read_alone(a, 2, 2);
	print_message("old copy: its LUNs retired, %u of %u chunks served "
		      "with its partners down (none old)\n",
		      served, (unsigned int)NCHUNKS);
}

/*
 * A node restarted with its disk wiped, while no gateway runs: status
 * names the LUN it lacks. A gateway started cold records the node's
 * chunks stale, creates the LUN there and copies them while it writes a
 * new version; then the node's chunks match their partners' checksums,
 * and with the partners killed every chunk on the node reads the new
 * version from it.
 */
static void test_wiped_node_backfilled(void **state)
{
	const unsigned int a = 2;
	uint64_t max_ms, t0;
	unsigned int served;

	(void)state;
	assert_int_equal(write_all(fx.e, 1, &max_ms), 0);
	sb_engine_free(fx.e);
	fx.e = NULL;
	assert_true(tl_node_stop(&fx.c, a, SIGKILL) >= 0);
	assert_true(wait_member(fx.c.nodes[a].id, false, 10000));
	assert_int_equal(tl_node_wipe(&fx.c, a), 0);
	assert_int_equal(tl_node_start(&fx.c, a), 0);
	assert_true(wait_member(fx.c.nodes[a].id, true, 10000));
	status_shows_no_copy(a);
	{
		/* the store alone looks healthy: wait-healthy asks the nodes */
		char *const argv[] = {"build-san/spanblkctl", "-c", fx.c.conf,
				      "wait-healthy",	      "3",  NULL};
		char out[16384];
		int rc = tl_run(argv, out, sizeof(out));

		if (rc != 3 || !strstr(out, "has no copy on node"))
			fail_msg("wait-healthy exit %d:\n%s", rc, out);
	}
	t0 = sb_now_ms();
	fx.e = engine_open();
	/* the even chunks get version 2; the odd ones only the copy */
	assert_int_equal(write_every(fx.e, 2, 2, &max_ms), 0);
	if (!wait_backfilled(a, 30000))
		fail_msg("node %u not backfilled", a);
	print_message("wiped node: %u chunks backfilled in %" PRIu64 " ms "
		      "(longest write meanwhile %" PRIu64 " ms)\n",
		      chunks_on(a), sb_now_ms() - t0, max_ms);
	same_as_partners(a);
	{
		char *const argv[] = {"build-san/spanblkctl", "-c", fx.c.conf,
				      "wait-healthy",	      "10", NULL};
		char out[16384];
		int rc = tl_run(argv, out, sizeof(out));

		if (rc != 0 || strstr(out, "has no copy on node"))
			fail_msg("wait-healthy exit %d:\n%s", rc, out);
	}
	served = read_alone(a, 2, 1);
	assert_int_equal(served, chunks_on(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_kill9_degraded_then_no_stale_read, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_sigstop_degraded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_late_copy_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writes_during_resync,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync_rate, setup_rate,
						teardown_rate),
		cmocka_unit_test_setup_teardown(test_old_copy_never_served,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wiped_node_backfilled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_evicts, setup_slow,
						teardown_slow),
		cmocka_unit_test_setup_teardown(test_free_with_write_half_done,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
