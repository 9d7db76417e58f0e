/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of the activity log (docs/recovery.md, "The activity log"):
 * a gateway killed in the middle of writes leaves replicas that differ
 * (one has the new data, the other the old, nothing recorded). The next
 * gateway finds the extents it logged, and no read returns a chunk before
 * its valid replicas are identical; once nothing is left to reconcile,
 * the log empties itself.
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
#include <sys/wait.h>
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
#include "tests/common/proc.h"
#include "tests/common/syncio.h"
#include "xport/auth.h"
#include "xport/kv.h"
#include "xport/proto.h"
#include "xport/records.h"

#define NODES 3
#define CHUNK (64u << 10)
#define LUN_SIZE (4u << 20)
#define NCHUNKS (LUN_SIZE / CHUNK)
#define PFX "/al-test/"

static struct {
	struct tc_etcd etcd;
	struct tl_cluster c;
	struct sb_cluster cl;
	struct xp_secret secret;
	struct xp_kv *kv;
	uint64_t lun;
} fx;

static struct sb_engine *engine(void)
{
	return tl_engine(&fx.cl, &fx.secret);
}

static int setup(void **state)
{
	char err[256];
	unsigned int i;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	sb_log_set_level(SB_LOG_ERR);
	if (tc_etcd_start(&fx.etcd, 1, err, sizeof(err)) ||
	    tl_cluster_start(&fx.c, NODES, 2, CHUNK, 3000, NULL) ||
	    tl_nodes_use_store(&fx.c, fx.etcd.endpoints, PFX, 3) ||
	    tl_cluster_file_use_store(&fx.c, fx.etcd.endpoints, PFX, "") ||
	    sb_cluster_load(fx.c.conf, &fx.cl, err, sizeof(err)) ||
	    xp_secret_load(fx.cl.secret_file, &fx.secret) ||
	    xp_etcd_open(fx.etcd.endpoints, 2000, &fx.kv, err, sizeof(err)))
		return -1;
	for (i = 0; i < NODES; i++)
		if (!tl_wait_member(fx.kv, PFX, fx.c.nodes[i].id, true, 10000))
			return -1;
	fx.lun = sb_lun_id("al");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	xp_kv_close(fx.kv);
	tl_cluster_destroy(&fx.c);
	tc_etcd_stop(&fx.etcd);
	return 0;
}

/* The activity log's records in the store. */
static size_t al_records(void)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	size_t n;

	assert_int_equal(xp_rec_key_al_prefix(key, sizeof(key), PFX), 0);
	assert_int_equal(xp_kv_get(fx.kv, key, true, &l), 0);
	n = l.n;
	xp_kv_list_free(&l);
	return n;
}

/* Stale records of the LUN in the store. */
static size_t stale_records(void)
{
	char key[XP_REC_KEY_MAX];
	struct xp_kv_list l = {0};
	size_t n;

	assert_int_equal(xp_rec_key_stale_prefix(key, sizeof(key), PFX, true,
						 fx.lun),
			 0);
	assert_int_equal(xp_kv_get(fx.kv, key, true, &l), 0);
	n = l.n;
	xp_kv_list_free(&l);
	return n;
}

/* The node indices placement gives chunk @c. */
static unsigned int replicas_of(uint64_t c, unsigned int *rep)
{
	return sb_place(&fx.cl, fx.lun, c, rep, fx.cl.replicas);
}

/* Chunks whose replicas hold different data (CRC32C on the nodes). */
static unsigned int differing(struct sb_engine *e)
{
	unsigned int rep[SB_MAX_NODES], n, i, diff = 0;
	uint32_t crc[SB_MAX_NODES];
	uint64_t c;

	for (c = 0; c < NCHUNKS; c++) {
		n = replicas_of(c, rep);
		for (i = 0; i < n; i++)
			assert_int_equal(sb_engine_chunk_csum(e, rep[i], fx.lun,
							      c * CHUNK, CHUNK,
							      &crc[i]),
					 0);
		for (i = 1; i < n; i++)
			if (crc[i] != crc[0]) {
				diff++;
				break;
			}
	}
	return diff;
}

/* LUN "al" created and written whole by a gateway that then stops
 * cleanly: an empty log. */
static void lun_written(void)
{
	static uint8_t buf[CHUNK];
	struct sb_engine *e = engine();
	uint64_t c;

	assert_int_equal(sb_engine_lun_create(e, "al", LUN_SIZE), 0);
	memset(buf, 0x11, sizeof(buf));
	for (c = 0; c < NCHUNKS; c++)
		assert_int_equal(tc_sync_io(e, SB_IO_WRITE, fx.lun, c * CHUNK,
					    buf, CHUNK, 0, 30),
				 0);
	assert_true(al_records() > 0);
	sb_engine_free(e);
	assert_int_equal(al_records(), 0); /* a clean stop empties it */
}

/*
 * A gateway (spanblk-bench, its own process) writes LUN "al"; after
 * 1.5 s node index @hang (-1: none) is hung (SIGSTOP) for 1 s; then the
 * gateway is killed, its extents left in the log.
 */
static void gateway_killed(int hang)
{
	char log[PATH_MAX + 16];
	pid_t bench;
	int st;

	snprintf(log, sizeof(log), "%s/bench.log", fx.c.dir);
	bench = tc_spawn(log, "build-san/spanblk-bench", "spanblk-bench", "-c",
			 fx.c.conf, "--lun", "al", "--rw", "randwrite", "--bs",
			 "64k", "--qd", "16", "--time", "30", NULL);
	assert_true(bench > 0);
	usleep(1500 * 1000); /* it is writing */
	if (hang >= 0) {
		assert_int_equal(kill(fx.c.nodes[hang].pid, SIGSTOP), 0);
		/* its writes to the chunks there wait: less than node_ttl
		 * and io_timeout_ms, so nothing is recorded yet */
		usleep(1000 * 1000);
	}
	kill(bench, SIGKILL);
	assert_int_equal(waitpid(bench, &st, 0), bench);
	assert_true(al_records() > 0);
}

/*
 * A gateway (spanblk-bench, its own process) writes while node B is
 * hung, so the chunks B shares get the new data on their other replica
 * only; it is killed before it could record anything, and B is killed
 * and restarted. The replicas of those chunks now differ with no record
 * saying so. The next gateway reads every chunk: each read waits for its
 * chunk's replicas to be made identical, and returns what they then all
 * hold. With nothing left to reconcile, the log empties itself.
 */
static void test_gateway_killed_mid_write(void **state)
{
	const unsigned int b = 1;
	static uint8_t buf[CHUNK];
	struct sb_engine *e;
	struct xp_layout lay;
	uint64_t size, c, t0;
	unsigned int diff, rep[SB_MAX_NODES];

	(void)state;
	lun_written();
	gateway_killed((int)b);
	assert_true(tl_node_stop(&fx.c, b, SIGKILL) >= 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[b].id, false, 10000));
	assert_int_equal(tl_node_start(&fx.c, b), 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[b].id, true, 10000));
	assert_true(al_records() > 0);

	e = engine();
	diff = differing(e);
	print_message("gateway killed: %u of %u chunks differ between their "
		      "replicas, %zu AL extents\n",
		      diff, (unsigned int)NCHUNKS, al_records());
	assert_true(diff > 0);
	assert_int_equal(sb_engine_lun_open(e, fx.lun, &size, &lay), 0);
	for (c = 0; c < NCHUNKS; c++) {
		uint32_t got, want;
		unsigned int n = replicas_of(c, rep);

		assert_int_equal(tc_sync_io(e, SB_IO_READ, fx.lun, c * CHUNK,
					    buf, CHUNK, 0, 30),
				 0);
		got = xp_crc32c(buf, CHUNK);
		/* what the read returned is what every replica holds */
		while (n--) {
			assert_int_equal(sb_engine_chunk_csum(e, rep[n], fx.lun,
							      c * CHUNK, CHUNK,
							      &want),
					 0);
			if (got != want)
				fail_msg("chunk %" PRIu64 ": read %08x, node "
					 "%u holds %08x",
					 c, got, fx.c.nodes[rep[n]].id, want);
		}
	}
	assert_int_equal(differing(e), 0);
	t0 = sb_now_ms();
	while (al_records() && sb_now_ms() - t0 < 15000)
		usleep(100 * 1000);
	assert_int_equal(al_records(), 0);
	print_message("reconciled; the log emptied %" PRIu64 " ms after\n",
		      sb_now_ms() - t0);
	sb_engine_free(e);
}

/* WRITE of a piece of a copy with push epoch @epoch, as a source would
 * send it, to node index @idx at chunk @c: the node's status. */
static uint32_t late_piece(unsigned int idx, uint64_t c, uint64_t epoch)
{
	static uint8_t junk[CHUNK];
	struct tc_client cli;
	struct xp_hdr h, ans;
	uint32_t st;

	memset(junk, 0xEE, sizeof(junk));
	assert_int_equal(tc_client_open(&cli, fx.c.nodes[idx].port, &fx.secret,
					fx.c.nodes[idx].id, 10),
			 0);
	xp_hdr_init(&h, XP_OP_WRITE, 0, fx.lun);
	h.offset = c * CHUNK;
	h.length = CHUNK;
	h.payload_len = CHUNK;
	h.epoch = epoch;
	st = tc_client_rpc(&cli, &h, junk, &ans, NULL, 0);
	tc_client_close(&cli);
	return st;
}

/*
 * A copy given up on never lands after the reconcile that follows it
 * (docs/protocol.md, "Push epochs"). A gateway dies with its extents in
 * the log and node S dies too: the next gateway reconciles each chunk S
 * shares with its other replica T as the only valid one, so it copies
 * nothing to T, but it fences T. A piece of an older copy (an epoch above
 * T's registration, below the gateway's) then reaches T, as one from a
 * source that hung and resumed would: T refuses it, and the chunk reads
 * as before. Without the fence T takes it (the randomized test found
 * that as a stale read). When S is back, resync copies what it missed:
 * the reconciles' holds on chunks with a stale record are not taken for
 * resync's.
 */
static void test_abandoned_copy_fenced(void **state)
{
	const unsigned int s = 2;
	static uint8_t buf[CHUNK], again[CHUNK];
	unsigned int rep[SB_MAX_NODES], fenced = 0;
	struct sb_engine *e;
	struct xp_layout lay;
	uint64_t size, c;

	(void)state;
	lun_written();
	gateway_killed(-1);
	assert_true(tl_node_stop(&fx.c, s, SIGKILL) >= 0);
	assert_true(tl_wait_member(fx.kv, PFX, fx.c.nodes[s].id, false, 10000));

	e = engine();
	assert_int_equal(sb_engine_lun_open(e, fx.lun, &size, &lay), 0);
	for (c = 0; c < NCHUNKS; c++) {
		unsigned int n = replicas_of(c, rep), t;
		int64_t rev;

		if (n != 2 || (rep[0] != s && rep[1] != s))
			continue;
		t = rep[0] == s ? rep[1] : rep[0];
		/* the read waits for the chunk's reconcile */
		assert_int_equal(tc_sync_io(e, SB_IO_READ, fx.lun, c * CHUNK,
					    buf, CHUNK, 0, 30),
				 0);
		rev = tl_alive_rev(fx.kv, PFX, fx.c.nodes[t].id);
		assert_true(rev > 0);
		if (late_piece(t, c, xp_push_epoch((uint64_t)rev, 1)) !=
		    XP_ST_ESTALE)
			fail_msg("chunk %" PRIu64 ": node %u took a piece of "
				 "an older copy after the reconcile",
				 c, fx.c.nodes[t].id);
		assert_int_equal(tc_sync_io(e, SB_IO_READ, fx.lun, c * CHUNK,
					    again, CHUNK, 0, 30),
				 0);
		assert_memory_equal(again, buf, CHUNK);
		fenced++;
	}
	print_message("%u chunks reconciled with one valid replica, each "
		      "fenced\n",
		      fenced);
	assert_true(fenced > 0);
	assert_true(stale_records() >= fenced);

	assert_int_equal(tl_node_start(&fx.c, s), 0);
	for (c = 0; c < 200 && stale_records(); c++)
		usleep(100 * 1000);
	assert_int_equal(stale_records(), 0);
	sb_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gateway_killed_mid_write,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_copy_fenced,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
