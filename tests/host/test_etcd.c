/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host test of the etcd client (xport/etcd/) against real etcd servers
 * that the test starts itself (tests/common/etcd_proc.c): one member for
 * reads, paging, transactions, leases, watches, compaction and endpoint
 * failover; three members for a member killed under the client.
 *
 * Without an etcd binary the tests skip, except under CI=true where that
 * is a failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "lib/util/clock.h"
#include "tests/common/etcd_proc.h"
#include "xport/etcd/etcd_int.h"
#include "xport/kv.h"

#define TIMEOUT_MS 2000u

static struct tc_etcd one; /* the single member of most tests */
static bool have_one;

static void need_etcd(void)
{
	if (have_one)
		return;
	if (getenv("CI") && !strcmp(getenv("CI"), "true"))
		fail_msg("no etcd cluster (etcd-server is in SB_PKGS_TEST)");
	skip();
}

static struct xp_kv *open_kv(const char *endpoints, unsigned int timeout_ms)
{
	struct xp_kv *kv = NULL;
	char err[256] = "";
	int ret;

	ret = xp_etcd_open(endpoints, timeout_ms, &kv, err, sizeof(err));
	if (ret)
		fail_msg("xp_etcd_open(%s): %d %s", endpoints, ret, err);
	return kv;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A TCP socket bound to a free port of 127.0.0.1, that port in *@port. */
static int bound_socket(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port on 127.0.0.1 with nothing listening (bound, then closed). */
static uint16_t dead_port(void)
{
	uint16_t port;

	close(bound_socket(&port));
	return port;
}

/* A socket that accepts connections (the kernel does) but never answers. */
static int silent_listener(uint16_t *port)
{
	int fd = bound_socket(port);

	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static int64_t put(struct xp_kv *kv, const char *key, const char *val,
		   int64_t lease)
{
	int64_t rev = 0;

	assert_int_equal(xp_kv_put(kv, key, val, strlen(val), lease, &rev), 0);
	assert_true(rev > 0);
	return rev;
}

static int group_setup(void **state)
{
	char err[256];

	(void)state;
	have_one = tc_etcd_start(&one, 1, err, sizeof(err)) == 0;
	if (!have_one)
		fprintf(stderr, "etcd: %s\n", err);
	return 0;
}

/* Each test's time into the log: the suite must stay short. */
static uint64_t test_t0;

static int timed_start(void **state)
{
	(void)state;
	test_t0 = sb_now_ms();
	return 0;
}

static int timed_end(void **state)
{
	(void)state;
	fprintf(stderr, "   time: %llu ms\n",
		(unsigned long long)(sb_now_ms() - test_t0));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tc_etcd_stop(&one);
	return 0;
}

/* ---- reads and writes ----------------------------------------------------- */

static void test_put_get_del(void **state)
{
	static const uint8_t bin[] = {0, 1, 0xff, 0x80, 0, 'x'};
	struct xp_kv_list l;
	int64_t r1, r2, r3;
	uint8_t *big;
	struct xp_kv *kv;

	(void)state;
	need_etcd();
	kv = open_kv(one.endpoints, TIMEOUT_MS);
	r1 = put(kv, "pg/a", "one", 0);
	assert_int_equal(xp_kv_get(kv, "pg/a", false, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].key, "pg/a");
	assert_int_equal(l.items[0].vlen, 3);
	assert_memory_equal(l.items[0].val, "one", 4); /* with its NUL */
	assert_true(l.items[0].create_rev == r1 && l.items[0].mod_rev == r1);
	assert_true(l.items[0].version == 1 && l.items[0].lease == 0);
	assert_true(l.rev >= r1);
	xp_kv_list_free(&l);

	/* binary value, then an empty one: version counts, create stays */
	assert_int_equal(xp_kv_put(kv, "pg/a", bin, sizeof(bin), 0, &r2), 0);
	assert_int_equal(xp_kv_get(kv, "pg/a", false, &l), 0);
	assert_int_equal(l.items[0].vlen, sizeof(bin));
	assert_memory_equal(l.items[0].val, bin, sizeof(bin));
	assert_true(l.items[0].version == 2 && l.items[0].mod_rev == r2);
	assert_true(l.items[0].create_rev == r1);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_put(kv, "pg/a", NULL, 0, 0, NULL), 0);
	assert_int_equal(xp_kv_get(kv, "pg/a", false, &l), 0);
	assert_int_equal(l.items[0].vlen, 0);
	assert_int_equal(l.items[0].val[0], 0);
	xp_kv_list_free(&l);

	/* a missing key is an empty list; delete, then it is missing */
	assert_int_equal(xp_kv_get(kv, "pg/none", false, &l), 0);
	assert_int_equal(l.n, 0);
	assert_true(l.rev > 0);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_del(kv, "pg/a", false, &r3), 0);
	assert_true(r3 > r2);
	assert_int_equal(xp_kv_get(kv, "pg/a", false, &l), 0);
	assert_int_equal(l.n, 0);
	xp_kv_list_free(&l);

	/* etcd takes requests of up to 1.5 MiB (--max-request-bytes) */
	big = calloc(1, 2u << 20);
	assert_non_null(big);
	assert_int_equal(xp_kv_put(kv, "pg/big", big, 1u << 20, 0, NULL), 0);
	assert_int_equal(xp_kv_put(kv, "pg/big", big, 1600u << 10, 0, NULL),
			 -EINVAL);
	assert_int_equal(xp_kv_put(kv, "pg/big", big, 2u << 20, 0, NULL),
			 -EINVAL);
	free(big);
	assert_int_equal(xp_kv_get(kv, "pg/big", false, &l), 0);
	assert_int_equal(l.items[0].vlen, 1u << 20);
	xp_kv_list_free(&l);

	/* bad arguments never reach the store */
	assert_int_equal(xp_kv_get(kv, "", false, &l), -EINVAL);
	assert_int_equal(xp_kv_put(kv, "", "x", 1, 0, NULL), -EINVAL);
	assert_int_equal(xp_kv_put(kv, "pg/x", "x", 1, 999, NULL), -ENOENT);
	xp_kv_close(kv);
}

static void test_prefix_pages(void **state)
{
	struct xp_kv_list l;
	int64_t last = 0;
	struct xp_kv *kv;
	char key[32];
	unsigned int i;

	(void)state;
	need_etcd();
	kv = open_kv(one.endpoints, TIMEOUT_MS);
	put(kv, "pp", "outside", 0);
	put(kv, "pp0", "outside", 0);
	put(kv, "pq/x", "outside", 0);
	for (i = 0; i < 23; i++) {
		snprintf(key, sizeof(key), "pp/%02u", 22 - i);
		last = put(kv, key, key, 0);
	}
	xpe_set_page(kv, 4); /* 23 keys: six pages */
	assert_int_equal(xp_kv_get(kv, "pp/", true, &l), 0);
	assert_int_equal(l.n, 23);
	assert_true(l.rev == last);
	for (i = 0; i < l.n; i++) {
		snprintf(key, sizeof(key), "pp/%02u", i);
		assert_string_equal(l.items[i].key, key);
		assert_memory_equal(l.items[i].val, key, strlen(key) + 1);
	}
	xp_kv_list_free(&l);

	/* prefixes ending in 0xff bytes: etcd's range-end rule */
	put(kv, "pr\xff", "a", 0);
	put(kv, "pr\xff\x01", "b", 0);
	put(kv, "pr\xff\xff\x02", "c", 0);
	put(kv, "ps", "outside", 0);
	assert_int_equal(xp_kv_get(kv, "pr\xff", true, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[2].key, "pr\xff\xff\x02");
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_get(kv, "pr\xff\xff", true, &l), 0);
	assert_int_equal(l.n, 1);
	xp_kv_list_free(&l);

	/* a whole prefix deleted in one revision */
	assert_int_equal(xp_kv_del(kv, "pp/", true, &last), 0);
	assert_int_equal(xp_kv_get(kv, "pp", true, &l), 0);
	assert_int_equal(l.n, 2); /* pp and pp0 */
	assert_true(l.rev == last);
	xp_kv_list_free(&l);
	xp_kv_close(kv);
}

static void test_txn(void **state)
{
	struct xp_kv_cmp absent = {.key = "tx/lock",
				   .target = XP_KV_VERSION,
				   .result = XP_KV_EQ,
				   .num = 0};
	struct xp_kv_op create[] = {
		{.kind = XP_KV_PUT, .key = "tx/lock", .val = "me", .vlen = 2},
		{.kind = XP_KV_GET, .key = "tx/lock"},
	};
	struct xp_kv_op get = {.kind = XP_KV_GET, .key = "tx/lock"};
	struct xp_kv_txn_res res;
	struct xp_kv_cmp mod;
	struct xp_kv *kv;
	int64_t r1;

	(void)state;
	need_etcd();
	kv = open_kv(one.endpoints, TIMEOUT_MS);
	/* create if absent: the GET after the PUT sees it */
	assert_int_equal(xp_kv_txn(kv, &absent, 1, create, 2, &get, 1, &res),
			 0);
	assert_true(res.succeeded);
	r1 = res.rev;
	assert_int_equal(res.got.n, 1);
	assert_true(res.got.items[0].create_rev == r1);
	assert_memory_equal(res.got.items[0].val, "me", 2);
	xp_kv_list_free(&res.got);

	/* again: the key exists, the failure branch reads the holder */
	assert_int_equal(xp_kv_txn(kv, &absent, 1, create, 2, &get, 1, &res),
			 0);
	assert_false(res.succeeded);
	assert_true(res.rev == r1);
	assert_int_equal(res.got.n, 1);
	assert_true(res.got.items[0].mod_rev == r1);
	xp_kv_list_free(&res.got);

	/* a MOD compare as a fencing token: only the current one works */
	mod = (struct xp_kv_cmp){.key = "tx/lock",
				 .target = XP_KV_MOD,
				 .result = XP_KV_EQ,
				 .num = r1};
	assert_int_equal(xp_kv_txn(kv, &mod, 1, create, 1, NULL, 0, &res), 0);
	assert_true(res.succeeded && res.rev == r1 + 1);
	assert_int_equal(res.got.n, 0);
	assert_int_equal(xp_kv_txn(kv, &mod, 1, create, 1, NULL, 0, NULL), 0);
	assert_int_equal(xp_kv_txn(kv, &mod, 1, create, 1, NULL, 0, &res), 0);
	assert_false(res.succeeded);

	/* VALUE compare; a duplicate key in a branch is the store's -EINVAL */
	mod = (struct xp_kv_cmp){.key = "tx/lock",
				 .target = XP_KV_VALUE,
				 .result = XP_KV_EQ,
				 .val = "me",
				 .vlen = 2};
	assert_int_equal(xp_kv_txn(kv, &mod, 1, NULL, 0, NULL, 0, &res), 0);
	assert_true(res.succeeded);
	create[1] = create[0];
	assert_int_equal(xp_kv_txn(kv, NULL, 0, create, 2, NULL, 0, &res),
			 -EINVAL);
	/* so is a put into a range the branch deletes (as in the fake) */
	create[1] = (struct xp_kv_op){.kind = XP_KV_DEL_PREFIX, .key = "tx/"};
	assert_int_equal(xp_kv_txn(kv, NULL, 0, create, 2, NULL, 0, &res),
			 -EINVAL);
	/* a VALUE compare on a missing key fails whatever the result; a
	 * txn that changes nothing makes no revision */
	mod.key = "tx/none";
	mod.result = XP_KV_NE;
	assert_int_equal(xp_kv_txn(kv, &mod, 1, &get, 1, &get, 1, &res), 0);
	assert_false(res.succeeded);
	assert_true(res.rev == r1 + 1);
	xp_kv_list_free(&res.got);
	xp_kv_close(kv);
}

/* ---- leases --------------------------------------------------------------- */

static void test_lease(void **state)
{
	int64_t id, ttl, left, id2;
	struct xp_kv_list l;
	struct xp_kv *kv;
	uint64_t t0;

	(void)state;
	need_etcd();
	kv = open_kv(one.endpoints, TIMEOUT_MS);
	assert_int_equal(xp_kv_lease_grant(kv, 2, &id, &ttl), 0);
	assert_true(id > 0 && ttl >= 2);
	put(kv, "ls/a", "bound", id);
	assert_int_equal(xp_kv_get(kv, "ls/a", false, &l), 0);
	assert_true(l.n == 1 && l.items[0].lease == id);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_lease_keepalive(kv, id, &left), 0);
	assert_true(left >= 1 && left <= ttl);

	/* no more renewals: the lease expires, its key goes with it */
	t0 = sb_now_ms();
	for (;;) {
		assert_int_equal(xp_kv_get(kv, "ls/a", false, &l), 0);
		if (!l.n)
			break;
		xp_kv_list_free(&l);
		assert_true(sb_now_ms() - t0 < 8000);
		sleep_ms(100);
	}
	xp_kv_list_free(&l);
	assert_true(sb_now_ms() - t0 >= 1500);
	assert_int_equal(xp_kv_lease_keepalive(kv, id, &left), -ENOENT);

	/* revoke deletes every bound key; revoking again is 0 */
	assert_int_equal(xp_kv_lease_grant(kv, 30, &id2, NULL), 0);
	put(kv, "ls/b", "x", id2);
	put(kv, "ls/c", "x", id2);
	put(kv, "ls/d", "free", 0);
	assert_int_equal(xp_kv_lease_revoke(kv, id2), 0);
	assert_int_equal(xp_kv_get(kv, "ls/", true, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].key, "ls/d");
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_lease_revoke(kv, id2), 0);
	assert_int_equal(xp_kv_lease_keepalive(kv, id2, NULL), -ENOENT);
	assert_int_equal(xp_kv_lease_grant(kv, 0, &id2, NULL), -EINVAL);
	xp_kv_close(kv);
}

/* ---- watches -------------------------------------------------------------- */

/* Events from @w until @n arrived (or 5 s), appended to @got. */
static size_t collect(struct xp_kv_watch *w, struct xp_kv_event *got, size_t n,
		      int64_t *rev)
{
	struct xp_kv_events ev;
	uint64_t t0 = sb_now_ms();
	size_t have = 0, i;

	while (have < n && sb_now_ms() - t0 < 5000) {
		assert_int_equal(xp_kv_watch_next(w, 500, &ev), 0);
		for (i = 0; i < ev.n && have < n; i++) {
			got[have] = ev.ev[i];
			got[have].kv.key = strdup(ev.ev[i].kv.key);
			got[have].kv.val = NULL;
			have++;
		}
		if (ev.n)
			*rev = ev.rev;
		xp_kv_events_free(&ev);
	}
	return have;
}

static void test_watch(void **state)
{
	struct xp_kv *a, *b;
	struct xp_kv_watch *w, *w2;
	struct xp_kv_event got[4];
	struct xp_kv_events ev;
	int64_t r1, r2, rev = 0;
	uint64_t t0;
	size_t i;

	(void)state;
	need_etcd();
	a = open_kv(one.endpoints, TIMEOUT_MS);
	b = open_kv(one.endpoints, TIMEOUT_MS);
	assert_int_equal(xp_kv_watch_open(a, "wa/", 0, &w), 0);

	/* nothing yet: a timeout is 0 with no events, after the timeout */
	t0 = sb_now_ms();
	assert_int_equal(xp_kv_watch_next(w, 200, &ev), 0);
	assert_int_equal(ev.n, 0);
	assert_true(ev.rev == 0);
	assert_true(sb_now_ms() - t0 >= 190);

	put(b, "wb/other", "x", 0); /* outside the prefix */
	r1 = put(b, "wa/1", "v1", 0);
	assert_int_equal(xp_kv_del(b, "wa/1", false, &r2), 0);
	assert_int_equal(collect(w, got, 2, &rev), 2);
	assert_int_equal(got[0].type, XP_KV_EV_PUT);
	assert_string_equal(got[0].kv.key, "wa/1");
	assert_true(got[0].kv.mod_rev == r1 && got[0].kv.version == 1);
	assert_int_equal(got[1].type, XP_KV_EV_DELETE);
	assert_string_equal(got[1].kv.key, "wa/1");
	assert_true(got[1].kv.mod_rev == r2);
	assert_true(rev == r2);
	for (i = 0; i < 2; i++)
		free(got[i].kv.key);

	/* from a past revision: the history replays */
	assert_int_equal(xp_kv_watch_open(b, "wa/", r1, &w2), 0);
	assert_int_equal(collect(w2, got, 2, &rev), 2);
	assert_true(got[0].kv.mod_rev == r1 && got[1].kv.mod_rev == r2);
	for (i = 0; i < 2; i++)
		free(got[i].kv.key);
	xp_kv_watch_close(w2);
	xp_kv_watch_close(w);
	assert_int_equal(xp_kv_watch_open(a, "", -1, &w), -EINVAL);
	xp_kv_close(a);
	xp_kv_close(b);
}

static void test_watch_compacted(void **state)
{
	struct xp_kv_events ev;
	struct xp_kv_watch *w;
	struct xp_kv *kv;
	char body[64], reply[512];
	int64_t r1, r3;
	long status;

	(void)state;
	need_etcd();
	kv = open_kv(one.endpoints, TIMEOUT_MS);
	r1 = put(kv, "wc/a", "1", 0);
	put(kv, "wc/a", "2", 0);
	r3 = put(kv, "wc/a", "3", 0);
	snprintf(body, sizeof(body), "{\"revision\":\"%lld\"}", (long long)r3);
	assert_int_equal(tc_etcd_http(one.m[0].url, "/v3/kv/compaction", body,
				      reply, sizeof(reply), &status),
			 0);
	assert_int_equal(status, 200);
	assert_int_equal(xp_kv_watch_open(kv, "wc/", r1, &w), 0);
	assert_int_equal(xp_kv_watch_next(w, 2000, &ev), -ERANGE);
	assert_true(ev.rev == r3 && ev.n == 0);
	/* the end is sticky */
	assert_int_equal(xp_kv_watch_next(w, 10, &ev), -ERANGE);
	assert_true(ev.rev == r3);
	xp_kv_watch_close(w);

	/* from the oldest revision kept it works */
	assert_int_equal(xp_kv_watch_open(kv, "wc/", r3, &w), 0);
	assert_int_equal(xp_kv_watch_next(w, 2000, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_true(ev.ev[0].kv.mod_rev == r3);
	xp_kv_events_free(&ev);
	xp_kv_watch_close(w);
	xp_kv_close(kv);
}

/* ---- endpoints ------------------------------------------------------------ */

static void test_endpoints(void **state)
{
	char eps[512];
	struct xp_kv_list l;
	struct xp_kv_watch *w;
	struct xp_kv *kv;
	uint16_t silent;
	uint64_t t0;
	int sfd;

	(void)state;
	need_etcd();
	/* the first endpoint refuses: the second answers */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u, %s/", dead_port(),
		 one.m[0].url);
	kv = open_kv(eps, TIMEOUT_MS);
	put(kv, "ep/a", "x", 0);
	assert_int_equal(xp_kv_get(kv, "ep/a", false, &l), 0);
	assert_int_equal(l.n, 1);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_watch_open(kv, "ep/", 0, &w), 0);
	xp_kv_watch_close(w);
	xp_kv_close(kv);

	/* every endpoint refuses: -EHOSTUNREACH at once */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,http://127.0.0.1:%u",
		 dead_port(), dead_port());
	kv = open_kv(eps, TIMEOUT_MS);
	t0 = sb_now_ms();
	assert_int_equal(xp_kv_get(kv, "ep/a", false, &l), -EHOSTUNREACH);
	assert_int_equal(xp_kv_put(kv, "ep/a", "y", 1, 0, NULL), -EHOSTUNREACH);
	assert_int_equal(xp_kv_watch_open(kv, "ep/", 0, &w), -EHOSTUNREACH);
	assert_true(sb_now_ms() - t0 < 1000);
	xp_kv_close(kv);

	/* one that accepts and never answers: bounded by the timeout; a read
	 * goes on to the next, a write that may have arrived does not */
	sfd = silent_listener(&silent);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,%s", silent,
		 one.m[0].url);
	kv = open_kv(eps, 300);
	t0 = sb_now_ms();
	assert_int_equal(xp_kv_put(kv, "ep/b", "y", 1, 0, NULL), -EHOSTUNREACH);
	assert_true(sb_now_ms() - t0 >= 290 && sb_now_ms() - t0 < 1500);
	assert_int_equal(xp_kv_get(kv, "ep/b", false, &l), 0);
	assert_int_equal(l.n, 0);
	xp_kv_list_free(&l);
	/* the endpoint that answered is now tried first */
	put(kv, "ep/b", "z", 0);
	xp_kv_close(kv);
	close(sfd);
	assert_int_equal(xp_etcd_open("127.0.0.1:1", 100, &kv, eps, 64),
			 -EINVAL);
	assert_int_equal(xp_etcd_open(one.endpoints, 0, &kv, eps, 64), -EINVAL);
}

/* ---- three members -------------------------------------------------------- */

static void test_three_members(void **state)
{
	struct tc_etcd three;
	struct xp_kv_events ev;
	struct xp_kv_list l;
	struct xp_kv_watch *w;
	struct xp_kv *kv;
	char err[256];
	int64_t rev;
	int ret;

	(void)state;
	need_etcd();
	ret = tc_etcd_start(&three, 3, err, sizeof(err));
	if (ret)
		fail_msg("%s", err);
	kv = open_kv(three.endpoints, TIMEOUT_MS);
	put(kv, "tm/a", "1", 0);
	assert_int_equal(xp_kv_watch_open(kv, "tm/", 0, &w), 0);

	/* the member that the client and its watch use (the first) dies */
	assert_int_equal(tc_etcd_kill(&three, 0), 0);
	assert_int_equal(tc_etcd_wait_healthy(&three, 1, 20000), 0);
	put(kv, "tm/b", "2", 0);
	assert_int_equal(xp_kv_get(kv, "tm/", true, &l), 0);
	assert_int_equal(l.n, 2);
	rev = l.rev;
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_watch_next(w, 2000, &ev), -EHOSTUNREACH);
	xp_kv_watch_close(w);
	/* a new watch from the next revision, on a member still up */
	assert_int_equal(xp_kv_watch_open(kv, "tm/", rev + 1, &w), 0);

	/* back, and the third one down: still a majority */
	assert_int_equal(tc_etcd_restart(&three, 0, err, sizeof(err)), 0);
	assert_int_equal(tc_etcd_kill(&three, 2), 0);
	assert_int_equal(tc_etcd_wait_healthy(&three, 1, 20000), 0);
	put(kv, "tm/c", "3", 0);
	assert_int_equal(xp_kv_watch_next(w, 2000, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.ev[0].kv.key, "tm/c");
	xp_kv_events_free(&ev);

	/* the third back, the second (now in use) down: failover again */
	assert_int_equal(tc_etcd_restart(&three, 2, err, sizeof(err)), 0);
	assert_int_equal(tc_etcd_kill(&three, 1), 0);
	assert_int_equal(tc_etcd_wait_healthy(&three, 2, 20000), 0);
	put(kv, "tm/d", "4", 0);
	assert_int_equal(xp_kv_get(kv, "tm/", true, &l), 0);
	assert_int_equal(l.n, 4);
	xp_kv_list_free(&l);
	assert_int_equal(xp_kv_watch_next(w, 2000, &ev), -EHOSTUNREACH);
	xp_kv_watch_close(w);
	xp_kv_close(kv);
	tc_etcd_stop(&three);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_del, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_prefix_pages, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_txn, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_lease, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_watch, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_watch_compacted,
						timed_start, timed_end),
		cmocka_unit_test_setup_teardown(test_endpoints, timed_start,
						timed_end),
		cmocka_unit_test_setup_teardown(test_three_members, timed_start,
						timed_end),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
