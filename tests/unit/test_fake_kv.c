/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of tests/common/fake_kv.c: the in-memory cluster store keeps
 * etcd's semantics (revisions, versions, compares, leases, watches,
 * compaction) and its fault injection, so the tests that rely on it test
 * against the store spanblk really meets. Through the xp_kv interface
 * (xport/kv.c's generic put, delete and watch wrappers included).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/util/clock.h"
#include "tests/common/fake_kv.h"
#include "xport/kv.h"

struct fx {
	struct fake_kv_store *s;
	struct xp_kv *a, *b;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = fake_kv_store_new();
	assert_non_null(f->s);
	assert_int_equal(fake_kv_open(f->s, &f->a), 0);
	assert_int_equal(fake_kv_open(f->s, &f->b), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	xp_kv_close(f->a);
	xp_kv_close(f->b);
	assert_int_equal(fake_kv_live(f->s), 0);
	assert_int_equal(fake_kv_store_free(f->s), 0);
	free(f);
	return 0;
}

static int64_t put(struct xp_kv *kv, const char *key, const char *val,
		   int64_t lease)
{
	int64_t rev = 0;

	assert_int_equal(xp_kv_put(kv, key, val, strlen(val), lease, &rev), 0);
	return rev;
}

/* The one item at @key (asserts there is one); the caller frees @l. */
static const struct xp_kv_item *get1(struct xp_kv *kv, const char *key,
				     struct xp_kv_list *l)
{
	assert_int_equal(xp_kv_get(kv, key, false, l), 0);
	assert_int_equal(l->n, 1);
	return &l->items[0];
}

static size_t count(struct xp_kv *kv, const char *prefix)
{
	struct xp_kv_list l;
	size_t n;

	assert_int_equal(xp_kv_get(kv, prefix, true, &l), 0);
	n = l.n;
	xp_kv_list_free(&l);
	return n;
}

static void test_revisions(void **state)
{
	struct fx *f = *state;
	const struct xp_kv_item *it;
	struct xp_kv_list l;
	int64_t rev;

	assert_true(fake_kv_rev(f->s) == 1);
	assert_true(put(f->a, "k", "v1", 0) == 2);
	it = get1(f->b, "k", &l);
	assert_true(it->create_rev == 2 && it->mod_rev == 2);
	assert_true(it->version == 1 && it->lease == 0 && l.rev == 2);
	assert_int_equal(it->vlen, 2);
	assert_memory_equal(it->val, "v1", 3);
	xp_kv_list_free(&l);
	assert_true(put(f->b, "k", "", 0) == 3);
	it = get1(f->a, "k", &l);
	assert_true(it->create_rev == 2 && it->mod_rev == 3);
	assert_true(it->version == 2 && it->vlen == 0 && it->val[0] == 0);
	xp_kv_list_free(&l);

	/* a delete of nothing changes nothing: no new revision */
	assert_int_equal(xp_kv_del(f->a, "none", false, &rev), 0);
	assert_true(rev == 3);
	assert_int_equal(xp_kv_del(f->a, "k", false, &rev), 0);
	assert_true(rev == 4);
	assert_int_equal(xp_kv_get(f->a, "k", false, &l), 0);
	assert_true(l.n == 0 && l.rev == 4);
	xp_kv_list_free(&l);

	/* created again: a new life, version 1 */
	assert_true(put(f->a, "k", "x", 0) == 5);
	it = get1(f->a, "k", &l);
	assert_true(it->create_rev == 5 && it->version == 1);
	xp_kv_list_free(&l);
}

static void test_prefix(void **state)
{
	struct fx *f = *state;
	struct xp_kv_list l;
	int64_t rev;

	put(f->a, "p/b", "2", 0);
	put(f->a, "p/a", "1", 0);
	put(f->a, "p/c/d", "3", 0);
	put(f->a, "p", "outside", 0);
	put(f->a, "q", "outside", 0);
	assert_int_equal(xp_kv_get(f->a, "p/", true, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].key, "p/a");
	assert_string_equal(l.items[1].key, "p/b");
	assert_string_equal(l.items[2].key, "p/c/d");
	assert_true(l.rev == 6);
	xp_kv_list_free(&l);
	assert_int_equal(count(f->a, ""), 5);

	/* a prefix delete is one revision */
	assert_int_equal(xp_kv_del(f->b, "p/", true, &rev), 0);
	assert_true(rev == 7);
	assert_int_equal(count(f->a, "p"), 1);
	assert_int_equal(xp_kv_get(f->a, "", false, &l), -EINVAL);
}

static void test_txn_compares(void **state)
{
	struct fx *f = *state;
	struct xp_kv_cmp c = {.key = "t", .target = XP_KV_VERSION};
	struct xp_kv_op put_t = {
		.kind = XP_KV_PUT, .key = "t", .val = "me", .vlen = 2};
	struct xp_kv_txn_res res;
	int64_t r;

	/* VERSION == 0: create if absent, once */
	assert_int_equal(xp_kv_txn(f->a, &c, 1, &put_t, 1, NULL, 0, &res), 0);
	assert_true(res.succeeded && res.rev == 2);
	assert_int_equal(xp_kv_txn(f->b, &c, 1, &put_t, 1, NULL, 0, &res), 0);
	assert_false(res.succeeded);
	assert_true(res.rev == 2);
	r = 2;

	/* MOD, CREATE, VERSION with each result */
	c.target = XP_KV_MOD;
	c.num = r;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);
	c.result = XP_KV_GT;
	c.num = r - 1;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);
	c.result = XP_KV_LT;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_false(res.succeeded);
	c.target = XP_KV_CREATE;
	c.result = XP_KV_NE;
	c.num = 7;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);

	/* VALUE: bytewise, a longer value is greater */
	c = (struct xp_kv_cmp){.key = "t",
			       .target = XP_KV_VALUE,
			       .result = XP_KV_GT,
			       .val = "m",
			       .vlen = 1};
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);
	c.val = "mf";
	c.vlen = 2;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_false(res.succeeded);
	c.result = XP_KV_EQ;
	c.val = "me";
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);

	/* on a missing key: VALUE always fails, the numbers read 0 */
	c.key = "missing";
	c.result = XP_KV_NE;
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_false(res.succeeded);
	c = (struct xp_kv_cmp){.key = "missing", .target = XP_KV_LEASE};
	assert_int_equal(xp_kv_txn(f->a, &c, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);
	/* compares without writes made no revision */
	assert_true(fake_kv_rev(f->s) == 2);
}

static void test_txn_ops(void **state)
{
	struct fx *f = *state;
	struct xp_kv_op ops[4] = {
		{.kind = XP_KV_PUT, .key = "o/z", .val = "1", .vlen = 1},
		{.kind = XP_KV_GET, .key = "o/z"},
		{.kind = XP_KV_GET, .key = "o/a"},
		{.kind = XP_KV_GET, .key = "o/none"},
	};
	struct xp_kv_txn_res res;

	put(f->a, "o/a", "a", 0);
	/* GETs see the earlier PUT of their txn; got is sorted by key */
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 4, NULL, 0, &res), 0);
	assert_true(res.succeeded && res.rev == 3);
	assert_int_equal(res.got.n, 2);
	assert_string_equal(res.got.items[0].key, "o/a");
	assert_string_equal(res.got.items[1].key, "o/z");
	assert_true(res.got.items[1].mod_rev == 3 && res.got.rev == 3);
	xp_kv_list_free(&res.got);

	/* refused branches change nothing */
	ops[1] = ops[0];
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 2, NULL, 0, &res),
			 -EINVAL);
	ops[1] = (struct xp_kv_op){.kind = XP_KV_DEL_PREFIX, .key = "o/"};
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 2, NULL, 0, &res),
			 -EINVAL);
	ops[0].lease = 12345;
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 1, NULL, 0, &res),
			 -ENOENT);
	assert_true(fake_kv_rev(f->s) == 3);

	/* a put and a delete of other keys, one revision */
	ops[0].lease = 0;
	ops[0].key = "p/new";
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 2, NULL, 0, NULL), 0);
	assert_true(fake_kv_rev(f->s) == 4);
	assert_int_equal(count(f->a, "o/"), 0);
	assert_int_equal(count(f->a, "p/"), 1);

	/* bad arguments */
	assert_int_equal(xp_kv_txn(f->a, NULL, XP_KV_TXN_MAX + 1, NULL, 0, NULL,
				   0, NULL),
			 -EINVAL);
	ops[0].key = "";
	assert_int_equal(xp_kv_txn(f->a, NULL, 0, ops, 1, NULL, 0, NULL),
			 -EINVAL);
}

static void test_leases(void **state)
{
	struct fx *f = *state;
	int64_t id, ttl, left, id2, r;
	const struct xp_kv_item *it;
	struct xp_kv_watch *w;
	struct xp_kv_events ev;
	struct xp_kv_list l;

	assert_int_equal(xp_kv_lease_grant(f->a, 10, &id, &ttl), 0);
	assert_true(id > 0 && ttl == 10);
	put(f->a, "l/1", "x", id);
	put(f->a, "l/2", "x", id);
	put(f->a, "l/3", "free", 0);
	it = get1(f->a, "l/1", &l);
	assert_true(it->lease == id);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_watch_open(f->b, "l/", 0, &w), 0);

	/* renewals move the expiry */
	fake_kv_advance(f->s, 9000);
	assert_int_equal(xp_kv_lease_keepalive(f->a, id, &left), 0);
	assert_true(left == 10);
	fake_kv_advance(f->s, 9999);
	assert_int_equal(count(f->a, "l/"), 3);

	/* expiry: both keys in one revision, as DELETE events */
	r = fake_kv_rev(f->s);
	fake_kv_advance(f->s, 1);
	assert_true(fake_kv_rev(f->s) == r + 1);
	assert_int_equal(count(f->a, "l/"), 1);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), 0);
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.ev[0].type, XP_KV_EV_DELETE);
	assert_int_equal(ev.ev[1].type, XP_KV_EV_DELETE);
	assert_true(ev.ev[0].kv.mod_rev == r + 1 && ev.rev == r + 1);
	assert_true(ev.ev[0].kv.version == 0 && ev.ev[0].kv.vlen == 0);
	xp_kv_events_free(&ev);
	assert_int_equal(xp_kv_lease_keepalive(f->a, id, &left), -ENOENT);

	/* revoke deletes the bound keys; a gone lease revokes as 0 */
	assert_int_equal(xp_kv_lease_grant(f->a, 5, &id2, NULL), 0);
	assert_true(id2 != id);
	put(f->a, "l/4", "x", id2);
	assert_int_equal(xp_kv_lease_revoke(f->b, id2), 0);
	assert_int_equal(count(f->a, "l/"), 1);
	assert_int_equal(xp_kv_lease_revoke(f->b, id2), 0);
	assert_int_equal(xp_kv_lease_grant(f->a, 0, &id2, NULL), -EINVAL);
	/* a key put again without the lease is no longer bound */
	assert_int_equal(xp_kv_lease_grant(f->a, 1, &id2, NULL), 0);
	put(f->a, "l/5", "x", id2);
	put(f->a, "l/5", "y", 0);
	fake_kv_advance(f->s, 1000);
	assert_int_equal(count(f->a, "l/"), 2);
	xp_kv_watch_close(w);
}

static void test_watch_history(void **state)
{
	struct fx *f = *state;
	struct xp_kv_watch *w;
	struct xp_kv_events ev;
	int64_t r1, r2;
	uint64_t t0;

	r1 = put(f->a, "w/a", "1", 0);
	put(f->a, "x/a", "outside", 0);
	assert_int_equal(xp_kv_del(f->a, "w/a", false, &r2), 0);
	assert_int_equal(xp_kv_watch_open(f->b, "w/", r1, &w), 0);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), 0);
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.ev[0].type, XP_KV_EV_PUT);
	assert_true(ev.ev[0].kv.mod_rev == r1 && ev.ev[0].kv.version == 1);
	assert_memory_equal(ev.ev[0].kv.val, "1", 2);
	assert_int_equal(ev.ev[1].type, XP_KV_EV_DELETE);
	assert_true(ev.ev[1].kv.mod_rev == r2 && ev.rev == r2);
	xp_kv_events_free(&ev);

	/* caught up: a timeout is 0 events after the timeout */
	t0 = sb_now_ms();
	assert_int_equal(xp_kv_watch_next(w, 50, &ev), 0);
	assert_true(ev.n == 0 && ev.rev == 0);
	assert_true(sb_now_ms() - t0 >= 45);
	assert_int_equal(xp_kv_watch_next(w, -1, &ev), -EINVAL);
	xp_kv_watch_close(w);

	/* from now (0): only what comes after */
	assert_int_equal(xp_kv_watch_open(f->b, "w/", 0, &w), 0);
	put(f->a, "w/b", "2", 0);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.ev[0].kv.key, "w/b");
	xp_kv_events_free(&ev);
	xp_kv_watch_close(w);
}

static void test_compaction(void **state)
{
	struct fx *f = *state;
	struct xp_kv_watch *w, *old;
	struct xp_kv_events ev;
	int64_t r1, r3;

	r1 = put(f->a, "c/a", "1", 0);
	put(f->a, "c/a", "2", 0);
	/* a watch in place keeps its events through a compaction */
	assert_int_equal(xp_kv_watch_open(f->a, "c/", r1, &old), 0);
	r3 = put(f->a, "c/a", "3", 0);
	assert_int_equal(fake_kv_compact(f->s, r3), 0);
	assert_int_equal(fake_kv_compact(f->s, r3), -EINVAL);
	assert_int_equal(fake_kv_compact(f->s, r3 + 1), -EINVAL);

	assert_int_equal(xp_kv_watch_open(f->b, "c/", r1, &w), 0);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), -ERANGE);
	assert_true(ev.rev == r3 && ev.n == 0);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), -ERANGE);
	xp_kv_watch_close(w);
	assert_int_equal(xp_kv_watch_open(f->b, "c/", r3, &w), 0);
	assert_int_equal(xp_kv_watch_next(w, 0, &ev), 0);
	assert_true(ev.n == 1 && ev.ev[0].kv.mod_rev == r3);
	xp_kv_events_free(&ev);
	xp_kv_watch_close(w);

	assert_int_equal(xp_kv_watch_next(old, 0, &ev), 0);
	assert_int_equal(ev.n, 3);
	assert_true(ev.ev[0].kv.mod_rev == r1 && ev.rev == r3);
	xp_kv_events_free(&ev);
	xp_kv_watch_close(old);
}

struct waiter {
	struct xp_kv_watch *w;
	int ret;
	struct xp_kv_events ev;
	uint64_t waited_ms;
};

static void *wait_thread(void *arg)
{
	struct waiter *wt = arg;
	uint64_t t0 = sb_now_ms();

	wt->ret = xp_kv_watch_next(wt->w, 5000, &wt->ev);
	wt->waited_ms = sb_now_ms() - t0;
	return NULL;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};

	nanosleep(&ts, NULL);
}

static void test_watch_wakes(void **state)
{
	struct fx *f = *state;
	struct waiter wt = {0};
	pthread_t t;

	assert_int_equal(xp_kv_watch_open(f->b, "t/", 0, &wt.w), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &wt), 0);
	sleep_ms(50);
	put(f->a, "t/x", "1", 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(wt.ret, 0);
	assert_int_equal(wt.ev.n, 1);
	assert_true(wt.waited_ms >= 40 && wt.waited_ms < 4000);
	xp_kv_events_free(&wt.ev);
	xp_kv_watch_close(wt.w);
}

static void test_down(void **state)
{
	struct fx *f = *state;
	struct waiter wt = {0};
	struct xp_kv_watch *w;
	struct xp_kv_events ev;
	struct xp_kv_list l;
	int64_t id;
	pthread_t t;

	assert_int_equal(xp_kv_lease_grant(f->a, 10, &id, NULL), 0);
	assert_int_equal(xp_kv_watch_open(f->b, "d/", 0, &wt.w), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &wt), 0);
	sleep_ms(50);
	fake_kv_set_down(f->s, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(wt.ret, -EHOSTUNREACH);
	assert_true(wt.waited_ms < 4000);

	assert_int_equal(xp_kv_get(f->a, "d/", true, &l), -EHOSTUNREACH);
	assert_int_equal(xp_kv_put(f->a, "d/a", "x", 1, 0, NULL),
			 -EHOSTUNREACH);
	assert_int_equal(xp_kv_lease_keepalive(f->a, id, NULL), -EHOSTUNREACH);
	assert_int_equal(xp_kv_lease_revoke(f->a, id), -EHOSTUNREACH);
	assert_int_equal(xp_kv_lease_grant(f->a, 1, &id, NULL), -EHOSTUNREACH);
	assert_int_equal(xp_kv_watch_open(f->a, "d/", 0, &w), -EHOSTUNREACH);
	assert_null(w);

	/* up again: calls work, the ended watch stays ended */
	fake_kv_set_down(f->s, false);
	put(f->a, "d/a", "x", 0);
	assert_int_equal(xp_kv_watch_next(wt.w, 0, &ev), -EHOSTUNREACH);
	assert_int_equal(ev.n, 0);
	xp_kv_watch_close(wt.w);
}

static void test_live_objects(void **state)
{
	struct fx *f = *state;
	struct xp_kv_watch *w;
	struct xp_kv *c;

	assert_int_equal(fake_kv_live(f->s), 2);
	assert_int_equal(fake_kv_open(f->s, &c), 0);
	assert_int_equal(xp_kv_watch_open(c, "", 0, &w), 0);
	assert_int_equal(fake_kv_live(f->s), 4);
	assert_int_equal(fake_kv_store_free(f->s), -EBUSY);
	xp_kv_close(c); /* a watch outlives its handle */
	assert_int_equal(fake_kv_live(f->s), 3);
	put(f->a, "any", "x", 0);
	xp_kv_watch_close(w);
	assert_int_equal(fake_kv_live(f->s), 2);
	xp_kv_watch_close(NULL);
	xp_kv_close(NULL);
	xp_kv_list_free(NULL);
	xp_kv_events_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revisions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_compares, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_txn_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_history, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_wakes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_objects, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
