/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of `spanblkctl scrub` (docs/recovery.md, "Scrub"): real nodes,
 * a LUN written through the engine, one replica's copy of a chunk
 * corrupted on disk behind the node's back. Scrub finds it by the nodes'
 * checksums; with three copies it repairs from the majority, with two it
 * refuses to guess until told which node is right; afterwards every
 * replica agrees and the data reads back as written.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "lib/util/log.h"
#include "testlib.h"
#include "tests/common/syncio.h"
#include "xport/auth.h"

#define NODES 3
#define CHUNK (64u << 10)
#define LUN_SIZE (1u << 20)
#define BAD_CHUNK 5

static struct {
	struct tl_cluster c;
	struct sb_cluster cl;
	struct sb_engine *e;
	uint64_t lun;
	uint8_t data[LUN_SIZE];
} fx;

static int start(unsigned int replicas)
{
	struct xp_secret secret;
	char err[256];
	size_t i;

	sb_log_set_level(SB_LOG_ERR);
	if (tl_cluster_start(&fx.c, NODES, replicas, CHUNK, 5000, NULL) ||
	    sb_cluster_load(fx.c.conf, &fx.cl, err, sizeof(err)) ||
	    xp_secret_load(fx.cl.secret_file, &secret))
		return -1;
	fx.e = sb_engine_new(&fx.cl, &secret, err, sizeof(err));
	if (!fx.e || sb_engine_wait_ready(fx.e, 10000) != NODES ||
	    sb_engine_lun_create(fx.e, "scrubbed", LUN_SIZE))
		return -1;
	fx.lun = sb_lun_id("scrubbed");
	for (i = 0; i < LUN_SIZE; i++)
		fx.data[i] = (uint8_t)(i * 131 + i / 4096);
	return tc_sync_io(fx.e, SB_IO_WRITE, fx.lun, 0, fx.data, LUN_SIZE, 0,
			  30);
}

static int setup3(void **state)
{
	(void)state;
	return start(3);
}

static int setup2(void **state)
{
	(void)state;
	return start(2);
}

static int teardown(void **state)
{
	(void)state;
	sb_engine_free(fx.e);
	tl_cluster_destroy(&fx.c);
	return 0;
}

/* Overwrite 4 KiB of the bad chunk in node index @idx's file. */
static void corrupt(unsigned int idx)
{
	char path[PATH_MAX + 64];
	uint8_t junk[4096];
	int fd;

	memset(junk, 0xa5, sizeof(junk));
	snprintf(path, sizeof(path), "%s/luns/%016" PRIx64 ".data",
		 fx.c.nodes[idx].data, fx.lun);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk),
				BAD_CHUNK * CHUNK + 8192),
			 (ssize_t)sizeof(junk));
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

/* `spanblkctl scrub scrubbed [--repair-from ID]`: exit status, output. */
static int scrub(uint32_t from, char *out, size_t cap)
{
	char id[16];
	char *argv[] = {"build-san/spanblkctl",
			"-c",
			fx.c.conf,
			"scrub",
			"scrubbed",
			NULL,
			NULL,
			NULL};

	if (from) {
		snprintf(id, sizeof(id), "%u", from);
		argv[5] = "--repair-from";
		argv[6] = id;
	}
	return tl_run(argv, out, cap);
}

static void replicas_of_bad(unsigned int *rep, unsigned int n)
{
	assert_int_equal(sb_place(&fx.cl, fx.lun, BAD_CHUNK, rep, n), n);
}

static void reads_back(void)
{
	static uint8_t buf[LUN_SIZE];

	assert_int_equal(tc_sync_io(fx.e, SB_IO_READ, fx.lun, 0, buf, LUN_SIZE,
				    0, 30),
			 0);
	assert_memory_equal(buf, fx.data, LUN_SIZE);
}

static void test_majority_repairs(void **state)
{
	unsigned int rep[3];
	char out[16384];
	int rc;

	(void)state;
	rc = scrub(0, out, sizeof(out));
	if (rc || !strstr(out, "0 mismatched"))
		fail_msg("clean scrub exit %d:\n%s", rc, out);
	replicas_of_bad(rep, 3);
	corrupt(rep[1]);
	rc = scrub(0, out, sizeof(out));
	print_message("%s", out);
	if (rc || !strstr(out, "1 mismatched, 1 repaired") ||
	    !strstr(out, "repaired from node"))
		fail_msg("scrub exit %d:\n%s", rc, out);
	rc = scrub(0, out, sizeof(out));
	if (rc || !strstr(out, "0 mismatched"))
		fail_msg("second scrub exit %d:\n%s", rc, out);
	/* every replica serves the chunk as written */
	assert_true(tl_node_stop(&fx.c, rep[0], SIGKILL) >= 0);
	assert_true(tl_node_stop(&fx.c, rep[2], SIGKILL) >= 0);
	reads_back();
}

static void test_two_copies_need_a_decision(void **state)
{
	unsigned int rep[2];
	char out[16384];
	int rc;

	(void)state;
	replicas_of_bad(rep, 2);
	corrupt(rep[0]);
	rc = scrub(0, out, sizeof(out));
	print_message("%s", out);
	if (rc != 1 || !strstr(out, "no majority"))
		fail_msg("scrub exit %d:\n%s", rc, out);
	rc = scrub(fx.c.nodes[rep[1]].id, out, sizeof(out));
	if (rc || !strstr(out, "1 repaired"))
		fail_msg("scrub --repair-from exit %d:\n%s", rc, out);
	rc = scrub(0, out, sizeof(out));
	if (rc || !strstr(out, "0 mismatched"))
		fail_msg("second scrub exit %d:\n%s", rc, out);
	assert_true(tl_node_stop(&fx.c, rep[1], SIGKILL) >= 0);
	reads_back(); /* from the repaired copy */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_majority_repairs, setup3,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_copies_need_a_decision,
						setup2, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
