/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of `spanblkctl node out|in` (docs/recovery.md, "Node out and
 * in"): four real spanblkd in a real etcd, the gateway engine in this
 * process. A node dies for good and is taken out: every chunk it held
 * gets a new replica, copied by resync, so that with one more node
 * killed every chunk still reads its last version. The node then comes
 * back on its old copy and is put back in: the chunks placed on it again
 * are copied to it before it serves any, never its old data.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/engine.h"
#include "lib/place.h"
#include "lib/util/clock.h"
#include "testlib.h"
#include "tests/common/etcd_proc.h"
#include "tests/common/syncio.h"
#include "xport/auth.h"
#include "xport/kv.h"
#include "xport/records.h"

#define NODES 4
#define REPLICAS 2
#define CHUNK (64u << 10)
#define LUN_SIZE (4u << 20)
#define NCHUNKS (LUN_SIZE / CHUNK)
#define IO_TIMEOUT_MS 3000
#define TTL_S 2
#define WAIT_S 30
#define PFX "/nodeout-test/"
#define CTL "build-san/spanblkctl"

static struct {
	struct tc_etcd etcd;
	struct tl_cluster c;
	struct sb_cluster cl;
	struct xp_secret secret;
	struct xp_kv *kv;
	struct sb_engine *e;
	uint64_t lun;
} fx;

static int setup(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	if (tc_etcd_start(&fx.etcd, 1, err, sizeof(err)) ||
	    tl_cluster_start(&fx.c, NODES, REPLICAS, CHUNK, IO_TIMEOUT_MS,
			     NULL) ||
	    tl_nodes_use_store(&fx.c, fx.etcd.endpoints, PFX, TTL_S) ||
	    tl_cluster_file_use_store(&fx.c, fx.etcd.endpoints, PFX, "") ||
	    sb_cluster_load(fx.c.conf, &fx.cl, err, sizeof(err)) ||
	    xp_secret_load(fx.cl.secret_file, &fx.secret) ||
	    xp_etcd_open(fx.etcd.endpoints, 2000, &fx.kv, err, sizeof(err)))
		return -1;
	for (i = 0; i < NODES; i++)
		if (!tl_wait_member(fx.kv, PFX, fx.c.nodes[i].id, true, 10000))
			return -1;
	fx.e = tl_engine(&fx.cl, &fx.secret);
	if (!fx.e || sb_engine_lun_create(fx.e, "out", LUN_SIZE))
		return -1;
	fx.lun = sb_lun_id("out");
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
		buf[i] = (uint8_t)(c * 31 + v * 7 + i % 251);
}

static void write_all(uint8_t v)
{
	static uint8_t buf[CHUNK];
	uint64_t c;

	for (c = 0; c < NCHUNKS; c++) {
		pattern(buf, c, v);
		assert_int_equal(tc_sync_io(fx.e, SB_IO_WRITE, fx.lun,
					    c * CHUNK, buf, CHUNK, 0, WAIT_S),
				 0);
	}
}

/* Read chunk @c: 0 with *@v its version among 1..@max (-1: neither), or
 * the read's -errno. */
static int read_chunk(uint64_t c, int *v, uint8_t max)
{
	static uint8_t buf[CHUNK], want[CHUNK];
	uint8_t i;
	int ret;

	ret = tc_sync_io(fx.e, SB_IO_READ, fx.lun, c * CHUNK, buf, CHUNK, 0,
			 WAIT_S);
	*v = -1;
	for (i = 1; !ret && i <= max; i++) {
		pattern(want, c, i);
		if (!memcmp(buf, want, CHUNK))
			*v = i;
	}
	return ret;
}

/* Stale records in the store. */
static unsigned int records(void)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	unsigned int n;

	assert_int_equal(
		xp_rec_key_stale_prefix(key, sizeof(key), PFX, false, 0), 0);
	assert_int_equal(xp_kv_get(fx.kv, key, true, &l), 0);
	n = (unsigned int)l.n;
	xp_kv_list_free(&l);
	return n;
}

static bool wait_no_records(unsigned int ms)
{
	uint64_t t0 = sb_now_ms();

	while (records()) {
		if (sb_now_ms() - t0 > ms)
			return false;
		usleep(100 * 1000);
	}
	return true;
}

/* `spanblkctl ARGS...`: its exit code, its output in @out. */
static int ctl(char *out, size_t cap, const char *a1, const char *a2,
	       const char *a3)
{
	char *const argv[] = {CTL,	  "-c",	      fx.c.conf,  "node",
			      (char *)a1, (char *)a2, (char *)a3, NULL};

	return tl_run(argv, out, cap);
}

/* The node indices placement gives chunk @c with node @out out. */
static uint64_t placed(uint64_t c, int out)
{
	struct sb_cluster cl = fx.cl;

	if (out >= 0)
		cl.nodes[out].out = true;
	return sb_place_mask(&cl, fx.lun, c);
}

/*
 * Node d dies and misses writes. Taking out its partner k is refused (k
 * holds the only valid copy of their shared chunks); taking out d is
 * not: every chunk it held gets a new replica, copied by resync, so that
 * with k killed too every chunk still reads its last version. Then d returns on its old copy and goes back in: with every
 * other node killed, it serves the last version of each of its chunks,
 * never the one it held.
 */
static void test_out_then_in(void **state)
{
	const unsigned int d = 3, k = 0;
	char out[16384], id[16], want[64];
	unsigned int moved = 0, served = 0, i;
	uint64_t c, t0;
	int v;

	(void)state;
	write_all(1);
	assert_true(tl_node_stop(&fx.c, d, SIGKILL) >= 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[d].id, false, 10000));
	write_all(2); /* degraded: d's chunks recorded stale */
	assert_true(records() > 0);
	for (c = 0; c < NCHUNKS; c++)
		moved += !!(placed(c, -1) & (1ull << d));

	if (ctl(out, sizeof(out), "out", "999", NULL) != 2)
		fail_msg("node out of an unknown node:\n%s", out);
	snprintf(id, sizeof(id), "%u", fx.c.nodes[k].id);
	if (ctl(out, sizeof(out), "out", id, NULL) != 1 || !strstr(out, "only "
									"valid "
									"copy"))
		fail_msg("node out of the only valid copy was not refused:\n%s",
			 out);

	snprintf(id, sizeof(id), "%u", fx.c.nodes[d].id);
	t0 = sb_now_ms();
	if (ctl(out, sizeof(out), "out", id, NULL) != 0 || !strstr(out, "out "
									"of "
									"placem"
									"ent"))
		fail_msg("node out:\n%s", out);
	assert_true(wait_no_records(30000));
	print_message("node out: %u chunks re-replicated in %" PRIu64 " ms\n",
		      moved, sb_now_ms() - t0);
	{
		char *const argv[] = {CTL, "-c", fx.c.conf, "status", NULL};

		tl_run(argv, out, sizeof(out));
		if (!strstr(out, "out of placement"))
			fail_msg("status does not show the node out:\n%s", out);
	}
	/* a second node down: every chunk still has a replica up, and
	 * those that moved from d and k to k and a new node read the copy */
	assert_true(tl_node_stop(&fx.c, k, SIGKILL) >= 0);
	for (c = 0; c < NCHUNKS; c++) {
		assert_int_equal(read_chunk(c, &v, 2), 0);
		if (v != 2)
			fail_msg("chunk %" PRIu64 " reads version %d with node "
				 "%u out, not 2",
				 c, v, fx.c.nodes[d].id);
		served++;
	}
	assert_int_equal(served, NCHUNKS);
	assert_int_equal(tl_node_start(&fx.c, k), 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[k].id, true, 10000));

	/* d comes back on its old copy (version 1 or none) and goes in */
	assert_int_equal(tl_node_start(&fx.c, d), 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[d].id, true, 10000));
	t0 = sb_now_ms();
	if (ctl(out, sizeof(out), "in", id, NULL) != 0 || !strstr(out, "back "
								       "in "
								       "placeme"
								       "nt"))
		fail_msg("node in:\n%s", out);
	snprintf(want, sizeof(want), ": %u chunks of 1 LUNs", moved);
	if (!strstr(out, want)) /* each of its chunks recorded stale */
		fail_msg("node in did not record %u chunks:\n%s", moved, out);
	assert_true(wait_no_records(30000));
	print_message("node in: %u chunks copied back in %" PRIu64 " ms\n",
		      moved, sb_now_ms() - t0);
	for (i = 0; i < NODES; i++)
		if (i != d)
			assert_true(tl_node_stop(&fx.c, i, SIGKILL) >= 0);
	served = 0;
	for (c = 0; c < NCHUNKS; c++) {
		if (!(placed(c, -1) & (1ull << d)))
			continue;
		assert_int_equal(read_chunk(c, &v, 2), 0);
		if (v != 2)
			fail_msg("chunk %" PRIu64 " on node %u reads version "
				 "%d after node in, not 2",
				 c, fx.c.nodes[d].id, v);
		served++;
	}
	assert_int_equal(served, moved);
}

/*
 * Node d dies and misses writes, then its partner k dies too: d is taken
 * out while both are down (allowed: k holds the valid copy of their
 * shared chunks) and put back in before either returns. d then comes back
 * alone: the chunks it shares with k have no valid copy up, and reads of
 * them fail rather than return d's old data; its other chunks are copied
 * to it from their other replica. Once k is back, no record is left: the
 * ones of the replicas that d's "out" added and its "in" took away again
 * before resync could fill them are dropped by the tool.
 */
static void test_out_in_partner_down(void **state)
{
	const unsigned int d = 3, k = 0;
	char out[16384], id[16];
	unsigned int shared = 0;
	uint64_t c;
	int v, ret;

	(void)state;
	write_all(1);
	assert_true(tl_node_stop(&fx.c, d, SIGKILL) >= 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[d].id, false, 10000));
	write_all(2);
	assert_true(tl_node_stop(&fx.c, k, SIGKILL) >= 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[k].id, false, 10000));

	snprintf(id, sizeof(id), "%u", fx.c.nodes[d].id);
	if (ctl(out, sizeof(out), "out", id, NULL) != 0)
		fail_msg("node out:\n%s", out);
	usleep(1500 * 1000); /* the gateway drops d's bits meanwhile */
	if (ctl(out, sizeof(out), "in", id, NULL) != 0)
		fail_msg("node in:\n%s", out);
	assert_int_equal(tl_node_start(&fx.c, d), 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[d].id, true, 10000));
	for (c = 0; c < NCHUNKS; c++) {
		uint64_t m = placed(c, -1);

		if ((m & (1ull << d)) && (m & (1ull << k))) {
			shared++;
			ret = read_chunk(c, &v, 2);
			if (ret == 0)
				fail_msg("chunk %" PRIu64 " of nodes %u and %u "
					 "read as version %d with %u down",
					 c, fx.c.nodes[d].id, fx.c.nodes[k].id,
					 v, fx.c.nodes[k].id);
			continue;
		}
		assert_int_equal(read_chunk(c, &v, 2), 0);
		assert_int_equal(v, 2);
	}
	assert_true(shared > 0);
	if (!strstr(out, "records of nodes that left their chunks dropped"))
		fail_msg("node in dropped no record of the new replicas it "
			 "undid:\n%s",
			 out);
	assert_int_equal(tl_node_start(&fx.c, k), 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[k].id, true, 10000));
	if (!wait_no_records(30000))
		fail_msg("%u stale records left with every node back",
			 records());
	for (c = 0; c < NCHUNKS; c++) {
		assert_int_equal(read_chunk(c, &v, 2), 0);
		assert_int_equal(v, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_out_then_in, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_out_in_partner_down, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
