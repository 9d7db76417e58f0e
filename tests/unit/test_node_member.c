/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of node/member.c, the node's membership thread, against the
 * in-memory cluster store: registration, the gen/boot judgement, waiting
 * out a previous incarnation, lease loss and fencing, the store going
 * away, and the lease revoked at stop.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util/clock.h"
#include "node/member.h"
#include "tests/common/fake_kv.h"
#include "xport/kv.h"
#include "xport/records.h"

#define PFX "/t/"
#define OTHER_GEN "ffffffffffffffffffffffffffffffff"

struct fx {
	char dir[64];
	struct fake_kv_store *store;
	struct xp_kv *kv; /* the test's own handle */
	struct nd_ident ident;
	int efd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sb-member-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->store = fake_kv_store_new();
	if (!f->store || fake_kv_open(f->store, &f->kv))
		return -1;
	if (nd_ident_start(f->dir, 5, &f->ident, err, sizeof(err)))
		return -1;
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*state = f;
	return f->efd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	int ret;

	xp_kv_close(f->kv);
	ret = fake_kv_store_free(f->store); /* nonzero: objects leaked */
	close(f->efd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		ret = -1;
	free(f);
	return ret;
}

static struct nd_member *start(struct fx *f)
{
	struct nd_member_cfg mc = {.node_id = 5,
				   .prefix = PFX,
				   .data_dir = f->dir,
				   .host = "127.0.0.1",
				   .port = 7400,
				   .ttl_s = 2,
				   .notify_fd = f->efd};
	struct nd_member *m = NULL;
	struct xp_kv *kv;
	char err[256];

	assert_int_equal(fake_kv_open(f->store, &kv), 0);
	assert_int_equal(
		nd_member_start(&mc, kv, &f->ident, &m, err, sizeof(err)), 0);
	return m;
}

/* Wait up to @ms for @m to reach @st. */
static bool wait_state(struct nd_member *m, enum nd_member_state st,
		       unsigned int ms, int64_t *inc)
{
	uint64_t end = sb_now_ms() + ms;

	do {
		if (nd_member_state(m, inc) == st)
			return true;
		usleep(10 * 1000);
	} while (sb_now_ms() < end);
	return false;
}

/* Read node 5's record at the key @key_of names into @l (the caller
 * frees it): its item, or NULL when there is none. */
static const struct xp_kv_item *
read_rec(struct fx *f, int (*key_of)(char *, size_t, const char *, uint32_t),
	 struct xp_kv_list *l)
{
	char key[XP_REC_KEY_MAX];

	assert_int_equal(key_of(key, sizeof(key), PFX, 5), 0);
	assert_int_equal(xp_kv_get(f->kv, key, false, l), 0);
	return l->n ? &l->items[0] : NULL;
}

/* Node 5's alive record: 0 with it in @a (and its lease in *@lease), or
 * -ENOENT. */
static int read_alive(struct fx *f, struct xp_rec_alive *a, int64_t *lease)
{
	struct xp_kv_list l = {0};
	const struct xp_kv_item *it = read_rec(f, xp_rec_key_alive, &l);
	int ret;

	ret = it ? xp_rec_alive_decode(it->val, it->vlen, a) : -ENOENT;
	if (it && lease)
		*lease = it->lease;
	xp_kv_list_free(&l);
	return ret;
}

/* Node 5's gen record: 0 with it in @g, or -ENOENT. */
static int read_gen(struct fx *f, struct xp_rec_gen *g)
{
	struct xp_kv_list l = {0};
	const struct xp_kv_item *it = read_rec(f, xp_rec_key_gen, &l);
	int ret;

	ret = it ? xp_rec_gen_decode(it->val, it->vlen, g) : -ENOENT;
	xp_kv_list_free(&l);
	return ret;
}

static void put_gen(struct fx *f, const char *gen, uint64_t boot)
{
	struct xp_rec_gen g = {.boot = boot};
	char key[XP_REC_KEY_MAX], *txt;

	snprintf(g.gen, sizeof(g.gen), "%s", gen);
	assert_int_equal(xp_rec_gen_encode(&g, &txt), 0);
	assert_int_equal(xp_rec_key_gen(key, sizeof(key), PFX, 5), 0);
	assert_int_equal(xp_kv_put(f->kv, key, txt, strlen(txt), 0, NULL), 0);
	free(txt);
}

static void test_register_and_stop(void **state)
{
	struct fx *f = *state;
	struct xp_rec_alive a;
	struct xp_rec_gen g;
	struct nd_member *m = start(f);
	int64_t inc = 0, lease = 0;

	assert_true(wait_state(m, ND_MEMBER_UP, 2000, &inc));
	assert_true(inc > 0);
	assert_int_equal(read_alive(f, &a, &lease), 0);
	assert_true(a.incarnation == inc);
	assert_true(lease == inc); /* the key is bound to the lease */
	assert_string_equal(a.gen, f->ident.gen);
	assert_true(a.boot == f->ident.boot);
	assert_int_equal(a.port, 7400);
	assert_int_equal(read_gen(f, &g), 0);
	assert_string_equal(g.gen, f->ident.gen);
	assert_true(g.boot == f->ident.boot);
	nd_member_stop(m);
	/* the lease is revoked at stop: down at once */
	assert_int_equal(read_alive(f, &a, NULL), -ENOENT);
	assert_int_equal(read_gen(f, &g), 0); /* the gen record stays */
}

static void test_fence_and_new_incarnation(void **state)
{
	struct fx *f = *state;
	struct nd_member *m = start(f);
	int64_t inc1 = 0, inc2 = 0;
	uint64_t junk;
	struct xp_rec_alive a;

	assert_true(wait_state(m, ND_MEMBER_UP, 2000, &inc1));
	/* the node is frozen longer than its TTL: the lease expires */
	fake_kv_advance(f->store, 5000);
	assert_int_equal(read_alive(f, &a, NULL), -ENOENT);
	assert_true(wait_state(m, ND_MEMBER_FENCED, 3000, NULL));
	assert_int_equal(read(f->efd, &junk, sizeof(junk)), sizeof(junk));
	/* no registration before the loop says it has drained */
	usleep(300 * 1000);
	assert_int_equal(nd_member_state(m, NULL), ND_MEMBER_FENCED);
	assert_int_equal(read_alive(f, &a, NULL), -ENOENT);
	nd_member_resume(m);
	assert_true(wait_state(m, ND_MEMBER_UP, 2000, &inc2));
	assert_true(inc2 != inc1);
	assert_int_equal(read_alive(f, &a, NULL), 0);
	assert_true(a.incarnation == inc2);
	nd_member_stop(m);
}

static void test_waits_for_previous_incarnation(void **state)
{
	struct fx *f = *state;
	struct xp_rec_alive old = {.boot = 1, .host = "h", .port = 1};
	char key[XP_REC_KEY_MAX], *txt;
	int64_t lease, ttl, inc = 0;
	struct nd_member *m;

	/* a previous incarnation whose lease has not expired yet */
	assert_int_equal(xp_kv_lease_grant(f->kv, 10, &lease, &ttl), 0);
	old.incarnation = lease;
	snprintf(old.gen, sizeof(old.gen), "%s", f->ident.gen);
	assert_int_equal(xp_rec_alive_encode(&old, &txt), 0);
	assert_int_equal(xp_rec_key_alive(key, sizeof(key), PFX, 5), 0);
	assert_int_equal(xp_kv_put(f->kv, key, txt, strlen(txt), lease, NULL),
			 0);
	free(txt);
	m = start(f);
	usleep(800 * 1000);
	assert_int_equal(nd_member_state(m, NULL), ND_MEMBER_REGISTERING);
	assert_int_equal(xp_kv_lease_revoke(f->kv, lease), 0);
	assert_true(wait_state(m, ND_MEMBER_UP, 3000, &inc));
	assert_true(inc != lease);
	nd_member_stop(m);
}

/*
 * @m asks the loop to retire its folder's LUNs (tagged with gen @tag)
 * and registers nothing until the loop resumes it; then it is up.
 */
static void retire_then_up(struct fx *f, struct nd_member *m, const char *tag)
{
	char got[ND_GEN_HEX + 1];
	struct xp_rec_alive a;
	uint64_t junk;

	assert_true(wait_state(m, ND_MEMBER_RETIRING, 2000, NULL));
	assert_int_equal(read(f->efd, &junk, sizeof(junk)), sizeof(junk));
	nd_member_retire_tag(m, got);
	assert_string_equal(got, tag);
	usleep(300 * 1000);
	assert_int_equal(nd_member_state(m, NULL), ND_MEMBER_RETIRING);
	assert_int_equal(read_alive(f, &a, NULL), -ENOENT);
	nd_member_resume(m);
	assert_true(wait_state(m, ND_MEMBER_UP, 2000, NULL));
}

static void test_wiped_folder(void **state)
{
	struct fx *f = *state;
	struct xp_rec_gen g;
	struct nd_member *m;

	put_gen(f, OTHER_GEN, 9); /* the cluster knew another folder */
	m = start(f);
	retire_then_up(f, m, f->ident.gen);
	assert_int_equal(read_gen(f, &g), 0);
	assert_string_equal(g.gen, f->ident.gen); /* ours now, as empty */
	nd_member_stop(m);
}

static void test_old_copy_gets_new_gen(void **state)
{
	struct fx *f = *state;
	struct xp_rec_alive a;
	struct xp_rec_gen g;
	struct nd_ident now;
	struct nd_member *m;
	char err[256];

	/* the cluster saw a later boot of this very folder */
	put_gen(f, f->ident.gen, f->ident.boot + 3);
	m = start(f);
	retire_then_up(f, m, f->ident.gen);
	assert_int_equal(read_alive(f, &a, NULL), 0);
	assert_string_not_equal(a.gen, f->ident.gen);
	assert_true(a.boot == 1);
	assert_int_equal(read_gen(f, &g), 0);
	assert_string_equal(g.gen, a.gen);
	nd_member_stop(m);
	/* the new gen is on disk: the next start keeps it */
	assert_int_equal(nd_ident_start(f->dir, 5, &now, err, sizeof(err)), 0);
	assert_string_equal(now.gen, a.gen);
	assert_true(now.boot == 2);
}

static void test_store_unreachable_keeps_serving(void **state)
{
	struct fx *f = *state;
	struct nd_member *m = start(f);
	int64_t inc = 0, inc2 = 0;

	assert_true(wait_state(m, ND_MEMBER_UP, 2000, &inc));
	fake_kv_set_down(f->store, true);
	usleep(1500 * 1000); /* two renewals fail */
	assert_int_equal(nd_member_state(m, &inc2), ND_MEMBER_UP);
	assert_true(inc2 == inc);
	fake_kv_set_down(f->store, false);
	usleep(900 * 1000);
	assert_int_equal(nd_member_state(m, &inc2), ND_MEMBER_UP);
	assert_true(inc2 == inc);
	nd_member_stop(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_and_stop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fence_and_new_incarnation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_waits_for_previous_incarnation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wiped_folder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_copy_gets_new_gen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_store_unreachable_keeps_serving, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
