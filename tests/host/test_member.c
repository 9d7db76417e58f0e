/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of node membership in the cluster store (docs/recovery.md,
 * "Node liveness and fencing"): real spanblkd processes registered in a
 * real etcd that the test starts. Registration and `spanblkctl status`,
 * kill -9 (down within node_ttl, back as a new incarnation), SIGSTOP past
 * the TTL (the node fences itself, then registers again), a graceful stop
 * (down at once), a wiped data folder (rejoins as empty), and etcd itself
 * going away (nodes keep serving and keep their registration).
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/members.h"
#include "lib/util/clock.h"
#include "testlib.h"
#include "tests/common/etcd_proc.h"
#include "xport/kv.h"

#define NODES 3
#define TTL_S 2
#define PFX "/member-test/"

struct fx {
	struct tc_etcd etcd;
	struct tl_cluster c;
	struct xp_kv *kv;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	*state = f;
	if (tc_etcd_start(&f->etcd, 1, err, sizeof(err))) {
		fprintf(stderr, "etcd: %s\n", err);
		return -1;
	}
	if (tl_cluster_start(&f->c, NODES, 2, 1 << 20, 5000,
			     "build-san/spanblkd"))
		return -1;
	if (tl_nodes_use_store(&f->c, f->etcd.endpoints, PFX, TTL_S))
		return -1;
	return xp_etcd_open(f->etcd.endpoints, 2000, &f->kv, err, sizeof(err));
}

static int teardown(void **state)
{
	struct fx *f = *state;

	xp_kv_close(f->kv);
	tl_cluster_destroy(&f->c);
	tc_etcd_stop(&f->etcd);
	free(f);
	return 0;
}

/* Node @id's entry as the store has it now (copied into @out). */
static void member(struct fx *f, uint32_t id, struct sb_member *out)
{
	struct sb_members ms;
	const struct sb_member *m;

	assert_int_equal(sb_members_read(f->kv, PFX, &ms), 0);
	m = sb_members_find(&ms, id);
	if (m)
		*out = *m;
	else
		memset(out, 0, sizeof(*out));
	sb_members_free(&ms);
}

/* Wait up to @ms for node @id to be up (@up) or not; ms it took, or -1. */
static long wait_up(struct fx *f, uint32_t id, bool up, unsigned int ms,
		    struct sb_member *out)
{
	uint64_t t0 = sb_now_ms();

	do {
		member(f, id, out);
		if (out->up == up)
			return (long)(sb_now_ms() - t0);
		usleep(50 * 1000);
	} while (sb_now_ms() - t0 < ms);
	return -1;
}

static bool log_has(struct fx *f, unsigned int i, const char *needle)
{
	char buf[65536];
	size_t n;
	FILE *l = fopen(f->c.nodes[i].log, "r");

	if (!l)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, l);
	fclose(l);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* `spanblkctl status` on the cluster file: exit status, output in @out. */
static int ctl_status(struct fx *f, char *out, size_t cap)
{
	char *const argv[] = {"build-san/spanblkctl", "-c", f->c.conf, "status",
			      NULL};

	return tl_run(argv, out, cap);
}

static void cluster_file_with_store(struct fx *f)
{
	assert_int_equal(tl_cluster_file_use_store(&f->c, f->etcd.endpoints,
						   PFX, NULL),
			 0);
}

static void test_registered_and_status(void **state)
{
	struct fx *f = *state;
	struct sb_member m[NODES];
	char out[16384];
	unsigned int i;

	for (i = 0; i < NODES; i++) {
		assert_true(wait_up(f, f->c.nodes[i].id, true, 5000, &m[i]) >=
			    0);
		assert_true(m[i].known);
		assert_string_equal(m[i].gen.gen, m[i].alive.gen);
		assert_int_equal(m[i].alive.port, f->c.nodes[i].port);
		/* started twice (the first start may be stopped before it
		 * wrote node.meta: the port accepts before that) */
		assert_true(m[i].alive.boot == 1 || m[i].alive.boot == 2);
		if (i)
			assert_true(m[i].alive.incarnation !=
				    m[i - 1].alive.incarnation);
	}
	cluster_file_with_store(f);
	assert_int_equal(ctl_status(f, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "cluster store: etcd"));
	for (i = 0; i < NODES; i++) {
		char inc[32];

		snprintf(inc, sizeof(inc), "%" PRId64, m[i].alive.incarnation);
		assert_non_null(strstr(out, inc));
	}
}

static void test_kill9_then_restart(void **state)
{
	struct fx *f = *state;
	struct sb_member before, after;
	char out[16384];
	long ms;

	assert_true(wait_up(f, 2, true, 5000, &before) >= 0);
	assert_true(tl_node_stop(&f->c, 1, SIGKILL) >= 0);
	ms = wait_up(f, 2, false, (TTL_S + 3) * 1000, &after);
	print_message("kill -9: down in the store after %ld ms (ttl %d s)\n",
		      ms, TTL_S);
	assert_true(ms >= 0 && ms <= (TTL_S * 1000 + 1500));
	assert_true(after.known); /* the gen record stays */
	cluster_file_with_store(f);
	assert_int_equal(ctl_status(f, out, sizeof(out)), 3);
	assert_non_null(strstr(out, "down"));
	assert_int_equal(tl_node_start(&f->c, 1), 0);
	assert_true(wait_up(f, 2, true, 5000, &after) >= 0);
	assert_true(after.alive.incarnation != before.alive.incarnation);
	assert_string_equal(after.alive.gen, before.alive.gen);
	assert_true(after.alive.boot == before.alive.boot + 1);
}

static void test_sigstop_fences(void **state)
{
	struct fx *f = *state;
	struct sb_member before, after;
	pid_t pid = f->c.nodes[0].pid;
	long ms;

	assert_true(wait_up(f, 1, true, 5000, &before) >= 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	ms = wait_up(f, 1, false, (TTL_S + 3) * 1000, &after);
	print_message("SIGSTOP: down in the store after %ld ms\n", ms);
	assert_true(ms >= 0 && ms <= (TTL_S * 1000 + 1500));
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_true(wait_up(f, 1, true, 6000, &after) >= 0);
	assert_true(after.alive.incarnation != before.alive.incarnation);
	assert_true(after.alive.boot == before.alive.boot); /* same process */
	assert_true(log_has(f, 0, "lost its lease"));
	assert_true(log_has(f, 0, "fence drained: registering again"));
}

static void test_graceful_stop_leaves_at_once(void **state)
{
	struct fx *f = *state;
	struct sb_member m;

	assert_true(wait_up(f, 3, true, 5000, &m) >= 0);
	assert_int_equal(tl_node_stop(&f->c, 2, SIGTERM), 0);
	member(f, 3, &m);
	assert_false(m.up); /* the lease was revoked before exit */
}

static void test_wiped_folder_rejoins_empty(void **state)
{
	struct fx *f = *state;
	struct sb_member before, after;
	char cmd[PATH_MAX + 32];

	assert_true(wait_up(f, 2, true, 5000, &before) >= 0);
	assert_int_equal(tl_node_stop(&f->c, 1, SIGTERM), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", f->c.nodes[1].data);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tl_node_start(&f->c, 1), 0);
	assert_true(wait_up(f, 2, true, 5000, &after) >= 0);
	assert_string_not_equal(after.alive.gen, before.alive.gen);
	assert_true(after.alive.boot == 1);
	assert_true(log_has(f, 1, "rejoining as an empty node"));
}

static void test_etcd_down_nodes_serve_on(void **state)
{
	struct fx *f = *state;
	struct sb_member before, after;
	char out[16384], err[256];

	/* every node registered (a node serves no session before) */
	assert_true(wait_up(f, 3, true, 5000, &after) >= 0);
	assert_true(wait_up(f, 2, true, 5000, &after) >= 0);
	assert_true(wait_up(f, 1, true, 5000, &before) >= 0);
	cluster_file_with_store(f);
	assert_int_equal(tc_etcd_kill(&f->etcd, 0), 0);
	sleep(TTL_S + 1); /* renewals fail for longer than the TTL */
	/* the nodes answer (node table: 3 up) and the store section fails */
	assert_int_equal(ctl_status(f, out, sizeof(out)), 3);
	if (!strstr(out, "3 of 3 nodes up"))
		fail_msg("status:\n%s", out);
	assert_non_null(strstr(out, "cannot read it"));
	assert_int_equal(tc_etcd_restart(&f->etcd, 0, err, sizeof(err)), 0);
	/* etcd refreshes leases when it comes back: same incarnation */
	assert_true(wait_up(f, 1, true, 5000, &after) >= 0);
	usleep((TTL_S * 1000 + 500) * 1000);
	member(f, 1, &after);
	assert_true(after.up);
	assert_true(after.alive.incarnation == before.alive.incarnation);
	assert_false(log_has(f, 0, "lost its lease"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registered_and_status,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_then_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sigstop_fences, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_graceful_stop_leaves_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wiped_folder_rejoins_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_etcd_down_nodes_serve_on,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
