/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the etcd codec (xport/etcd/req.c, reply.c, stream.c,
 * jsonval.c): request bodies byte for byte, replies as etcd 3.4's gateway
 * writes them (taken from a real server), and the edge checks that refuse
 * everything else.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xport/etcd/codec.h"
#include "xport/etcd/jsonval.h"
#include "xport/kv.h"

#define HDR                                                                  \
	"\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":" \
	"\"9\",\"raft_term\":\"2\"}"

/* ---- request bodies --------------------------------------------------------- */

/* @ret and *@body of a body builder: 0 and @want (freed here). */
static void assert_body(int ret, char **body, const char *want)
{
	assert_int_equal(ret, 0);
	assert_non_null(*body);
	assert_string_equal(*body, want);
	free(*body);
	*body = NULL;
}

static void test_prefix_end(void **state)
{
	static const struct {
		const char *p, *end;
		size_t plen, elen;
	} cases[] = {
		{"a", "b", 1, 1},
		{"w/", "w0", 2, 2},
		{"a\xff", "b", 2, 1},
		{"ab\xff\x01", "ab\xff\x02", 4, 4},
		{"a\xfe\xff", "a\xff", 3, 2},
		{"\xff\xff", "", 2, 1},
		{"", "", 0, 1},
	};
	uint8_t end[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(end, 0xaa, sizeof(end));
		n = xpe_prefix_end((const uint8_t *)cases[i].p, cases[i].plen,
				   end);
		assert_int_equal(n, cases[i].elen);
		assert_memory_equal(end, cases[i].end, n);
	}
}

static void test_body_range(void **state)
{
	char *b;

	(void)state;
	assert_body(xpe_body_range((const uint8_t *)"a", 1, NULL, 0, 0, 0, &b),
		    &b, "{\"key\":\"YQ==\"}");
	assert_body(xpe_body_range((const uint8_t *)"a", 1,
				   (const uint8_t *)"b", 1, 5, 2, &b),
		    &b,
		    "{\"key\":\"YQ==\",\"range_end\":\"Yg==\",\"revision\":"
		    "\"5\","
		    "\"limit\":\"2\"}");
	/* a page's next start: the last key and its "\0" */
	assert_body(xpe_body_range((const uint8_t *)"a", 2, NULL, 0, 0, 0, &b),
		    &b, "{\"key\":\"YQA=\"}");
	assert_int_equal(xpe_body_range((const uint8_t *)"a", 0, NULL, 0, 0, 0,
					&b),
			 -EINVAL);
	assert_int_equal(xpe_body_range((const uint8_t *)"a", 1, NULL, 0, -1, 0,
					&b),
			 -EINVAL);
	assert_null(b);
}

static void test_body_txn(void **state)
{
	const struct xp_kv_cmp cmp[] = {
		{.key = "a", .target = XP_KV_VERSION, .result = XP_KV_EQ},
		{.key = "a",
		 .target = XP_KV_CREATE,
		 .result = XP_KV_NE,
		 .num = 3},
		{.key = "a", .target = XP_KV_MOD, .result = XP_KV_GT, .num = 4},
		{.key = "a",
		 .target = XP_KV_VALUE,
		 .result = XP_KV_LT,
		 .val = "me",
		 .vlen = 2},
		{.key = "a",
		 .target = XP_KV_LEASE,
		 .result = XP_KV_EQ,
		 .num = 77},
	};
	const struct xp_kv_op ok[] = {
		{.kind = XP_KV_PUT,
		 .key = "a",
		 .val = "me",
		 .vlen = 2,
		 .lease = 77},
		{.kind = XP_KV_PUT, .key = "b"},
		{.kind = XP_KV_DEL, .key = "a"},
		{.kind = XP_KV_DEL_PREFIX, .key = "w/"},
		{.kind = XP_KV_DEL_PREFIX, .key = ""},
	};
	const struct xp_kv_op fail[] = {{.kind = XP_KV_GET, .key = "a"}};
	char *b;

	(void)state;
	assert_body(xpe_body_txn(cmp, 5, ok, 5, fail, 1, &b), &b,
		    "{\"compare\":["
		    "{\"key\":\"YQ==\",\"target\":\"VERSION\",\"result\":"
		    "\"EQUAL\","
		    "\"version\":\"0\"},"
		    "{\"key\":\"YQ==\",\"target\":\"CREATE\",\"result\":\"NOT_"
		    "EQUAL\","
		    "\"create_revision\":\"3\"},"
		    "{\"key\":\"YQ==\",\"target\":\"MOD\",\"result\":"
		    "\"GREATER\","
		    "\"mod_revision\":\"4\"},"
		    "{\"key\":\"YQ==\",\"target\":\"VALUE\",\"result\":"
		    "\"LESS\","
		    "\"value\":\"bWU=\"},"
		    "{\"key\":\"YQ==\",\"target\":\"LEASE\",\"result\":"
		    "\"EQUAL\","
		    "\"lease\":\"77\"}],"
		    "\"success\":["
		    "{\"request_put\":{\"key\":\"YQ==\",\"value\":\"bWU=\","
		    "\"lease\":\"77\"}},"
		    "{\"request_put\":{\"key\":\"Yg==\",\"value\":\"\"}},"
		    "{\"request_delete_range\":{\"key\":\"YQ==\"}},"
		    "{\"request_delete_range\":{\"key\":\"dy8=\","
		    "\"range_end\":\"dzA=\"}},"
		    "{\"request_delete_range\":{\"key\":\"AA==\","
		    "\"range_end\":\"AA==\"}}],"
		    "\"failure\":[{\"request_range\":{\"key\":\"YQ==\"}}]}");
	/* no compares, no failure branch: neither array */
	assert_body(xpe_body_txn(NULL, 0, ok + 2, 1, NULL, 0, &b), &b,
		    "{\"success\":[{\"request_delete_range\":{\"key\":\"YQ==\"}"
		    "}]}");
}

static void test_body_txn_refused(void **state)
{
	struct xp_kv_cmp c = {.key = "a"};
	struct xp_kv_op op = {.kind = XP_KV_PUT, .key = "a"};
	static char big[XPE_KEY_MAX + 2];
	char *b = NULL;

	(void)state;
	memset(big, 'k', XPE_KEY_MAX + 1);
	assert_int_equal(xpe_body_txn(NULL, 129, NULL, 0, NULL, 0, &b),
			 -EINVAL);
	assert_int_equal(xpe_body_txn(NULL, 0, NULL, 1, NULL, 0, &b), -EINVAL);
	c.target = (enum xp_kv_target)9;
	assert_int_equal(xpe_body_txn(&c, 1, NULL, 0, NULL, 0, &b), -EINVAL);
	c.target = XP_KV_VALUE;
	c.vlen = 1;
	assert_int_equal(xpe_body_txn(&c, 1, NULL, 0, NULL, 0, &b), -EINVAL);
	op.vlen = 3;
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), -EINVAL);
	op.vlen = 0;
	op.lease = -1;
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), -EINVAL);
	op.lease = 0;
	op.key = "";
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), -EINVAL);
	op.key = big;
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), -EINVAL);
	big[XPE_KEY_MAX] = '\0';
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), 0);
	free(b);
	op.kind = (enum xp_kv_opkind)7;
	assert_int_equal(xpe_body_txn(NULL, 0, &op, 1, NULL, 0, &b), -EINVAL);
	assert_null(b);
}

static void test_body_lease_watch(void **state)
{
	char *b;

	(void)state;
	assert_body(xpe_body_lease_grant(5, &b), &b, "{\"TTL\":\"5\"}");
	assert_body(xpe_body_lease_id(4111120499238879498ll, &b), &b,
		    "{\"ID\":\"4111120499238879498\"}");
	assert_int_equal(xpe_body_lease_grant(0, &b), -EINVAL);
	assert_int_equal(xpe_body_lease_grant(XPE_TTL_MAX + 1, &b), -EINVAL);
	assert_int_equal(xpe_body_lease_id(0, &b), -EINVAL);
	assert_body(xpe_body_watch("w/", 7, &b), &b,
		    "{\"create_request\":{\"key\":\"dy8=\",\"range_end\":"
		    "\"dzA=\",\"start_revision\":\"7\"}}");
	assert_body(xpe_body_watch("", 0, &b), &b,
		    "{\"create_request\":{\"key\":\"AA==\",\"range_end\":"
		    "\"AA==\"}}");
	assert_int_equal(xpe_body_watch("w/", -1, &b), -EINVAL);
	assert_int_equal(xpe_body_watch(NULL, 0, &b), -EINVAL);
}

/* ---- base64 and int64 at the edge ------------------------------------------ */

static void test_b64_i64(void **state)
{
	static const char *const bad[] = {"YQ=",  "Y$==",  "=YQ=",   "YQ=a",
					  "Y===", " YQ==", "YQ==\n", "YQ"};
	uint8_t *out;
	size_t n, i;
	int64_t v;

	(void)state;
	assert_int_equal(xpe_b64_decode("YQ==", 4, 16, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(out, "a\0", 2);
	free(out);
	assert_int_equal(xpe_b64_decode("YWI=", 4, 16, &out, &n), 0);
	assert_int_equal(n, 2);
	free(out);
	assert_int_equal(xpe_b64_decode("", 0, 16, &out, &n), 0);
	assert_true(n == 0 && out && out[0] == 0);
	free(out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(xpe_b64_decode(bad[i], strlen(bad[i]), 16,
						&out, &n),
				 -EPROTO);
	/* sizes: "YWJj" is 3 bytes */
	assert_int_equal(xpe_b64_decode("YWJj", 4, 2, &out, &n), -EPROTO);
	assert_int_equal(xpe_b64_decode("YWJj", 4, 3, &out, &n), 0);
	free(out);

	assert_int_equal(xpe_i64_parse("9223372036854775807", 19, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(xpe_i64_parse("9223372036854775808", 19, &v), -EPROTO);
	assert_int_equal(xpe_i64_parse("99999999999999999999", 20, &v),
			 -EPROTO);
	assert_int_equal(xpe_i64_parse("-1", 2, &v), -EPROTO);
	assert_int_equal(xpe_i64_parse("", 0, &v), -EPROTO);
	assert_int_equal(xpe_i64_parse("1a", 2, &v), -EPROTO);
	assert_int_equal(xpe_i64_parse("+1", 2, &v), -EPROTO);
	assert_int_equal(xpe_i64_parse("007", 3, &v), 0);
	assert_true(v == 7);
}

/* ---- range ------------------------------------------------------------------ */

static int range(const char *s, struct xp_kv_list *l, bool *more)
{
	return xpe_parse_range(s, strlen(s), l, more);
}

static void test_range(void **state)
{
	struct xp_kv_list l;
	bool more;

	(void)state;
	assert_int_equal(range("{" HDR ",\"kvs\":[{\"key\":\"YQ==\",\"create_"
			       "revision\":"
			       "\"2\",\"mod_revision\":\"3\",\"version\":\"2\","
			       "\"value\":"
			       "\"MQ==\"},{\"key\":\"Yg==\",\"create_"
			       "revision\":\"3\","
			       "\"mod_revision\":\"3\",\"version\":\"1\","
			       "\"lease\":"
			       "\"4111120499238879501\"}],\"more\":true,"
			       "\"count\":\"5\"}\n",
			       &l, &more),
			 0);
	assert_true(more);
	assert_int_equal(l.n, 2);
	assert_true(l.rev == 9);
	assert_string_equal(l.items[0].key, "a");
	assert_int_equal(l.items[0].vlen, 1);
	assert_memory_equal(l.items[0].val, "1", 2);
	assert_true(l.items[0].create_rev == 2 && l.items[0].mod_rev == 3 &&
		    l.items[0].version == 2 && l.items[0].lease == 0);
	/* no "value": empty, still a NUL-terminated buffer */
	assert_int_equal(l.items[1].vlen, 0);
	assert_non_null(l.items[1].val);
	assert_true(l.items[1].lease == 4111120499238879501ll);
	xp_kv_list_free(&l);

	/* no "kvs" is none; no "more" is false */
	assert_int_equal(range("{" HDR "}", &l, &more), 0);
	assert_true(l.n == 0 && l.rev == 9 && !more);
	assert_int_equal(
		range("{" HDR ",\"kvs\":[],\"count\":\"0\"}", &l, &more), 0);
	assert_int_equal(l.n, 0);
}

#define KV(k, extra)                                                           \
	"{\"key\":\"" k "\",\"create_revision\":\"2\",\"mod_revision\":\"3\"," \
	"\"version\":\"1\"" extra "}"

static void test_range_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"null",
		"{}",
		"{\"header\":{}}",
		"{\"header\":{\"revision\":9}}",
		"{\"header\":{\"revision\":\"0\"}}",
		"{\"header\":{\"revision\":\"-9\"}}",
		"{\"header\":{\"revision\":\"9223372036854775808\"}}",
		"{\"header\":\"9\"}",
		"{" HDR "} x",
		"{" HDR "}{" HDR "}",
		"{" HDR ",\"more\":\"true\"}",
		"{" HDR ",\"kvs\":{}}",
		"{" HDR ",\"kvs\":[1]}",
		"{" HDR ",\"kvs\":[" KV("YQ=", "") "]}",
		"{" HDR ",\"kvs\":[" KV("Y@==", "") "]}",
		"{" HDR ",\"kvs\":[" KV("", "") "]}",
		"{" HDR ",\"kvs\":[" KV("YQBi", "") "]}", /* "a\0b" */
		"{" HDR ",\"kvs\":[" KV("YQ==", ",\"value\":5") "]}",
		"{" HDR ",\"kvs\":[" KV("YQ==", ",\"lease\":\"-1\"") "]}",
		"{" HDR ",\"kvs\":[{\"key\":\"YQ==\"}]}",
		"{" HDR ",\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"4\","
		"\"mod_revision\":\"3\",\"version\":\"1\"}]}",
		"{" HDR ",\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"4\","
		"\"mod_revision\":\"10\",\"version\":\"1\"}]}",
		"{" HDR ",\"kvs\":[" KV("Yg==", "") "," KV("YQ==", "") "]}",
		"{" HDR ",\"kvs\":[" KV("YQ==", "") "," KV("YQ==", "") "]}",
		"{'header':1}",
		"{" HDR ",}",
	};
	struct xp_kv_list l;
	size_t i;
	bool more;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&l, 0x5a, sizeof(l));
		if (range(bad[i], &l, &more) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_true(l.n == 0 && l.items == NULL && !more);
	}
	assert_int_equal(xpe_parse_range(NULL, 0, &l, &more), -EPROTO);
}

static void test_sizes(void **state)
{
	size_t klen = XPE_KEY_MAX + 1, b64 = (klen + 2) / 3 * 4, off;
	struct xp_kv_list l;
	char *s, *p;
	bool more;

	(void)state;
	s = malloc(b64 + 256);
	assert_non_null(s);
	off = (size_t)snprintf(s, 256, "{" HDR ",\"kvs\":[{\"key\":\"");
	p = s + off;
	memset(p, 'a', b64); /* "aaaa" is 3 bytes of 0x69 0xa6 0x9a */
	snprintf(p + b64, 256 - off,
		 "\",\"create_revision\":\"2\",\"mod_revision\":"
		 "\"3\",\"version\":\"1\"}]}");
	assert_int_equal(range(s, &l, &more), -EPROTO);
	/* one quartet less: 4095 bytes, accepted */
	memmove(p + b64 - 4, p + b64, strlen(p + b64) + 1);
	assert_int_equal(range(s, &l, &more), 0);
	assert_int_equal(strlen(l.items[0].key), XPE_KEY_MAX - 1);
	xp_kv_list_free(&l);
	free(s);
	assert_int_equal(xpe_parse_range("{}", XPE_REPLY_MAX + 1, &l, &more),
			 -EPROTO);
}

/* ---- txn -------------------------------------------------------------------- */

static void test_txn(void **state)
{
	const struct xp_kv_op ok[] = {
		{.kind = XP_KV_PUT, .key = "c"},
		{.kind = XP_KV_DEL, .key = "a"},
		{.kind = XP_KV_GET, .key = "c"},
		{.kind = XP_KV_GET, .key = "b"},
		{.kind = XP_KV_GET, .key = "none"},
	};
	const struct xp_kv_op fail[] = {{.kind = XP_KV_GET, .key = "a"}};
	struct xp_kv_txn_res res;
	const char *s;

	(void)state;
	s = "{" HDR ",\"succeeded\":true,\"responses\":["
	    "{\"response_put\":{\"header\":{\"revision\":\"9\"}}},"
	    "{\"response_delete_range\":{\"header\":{\"revision\":\"9\"},"
	    "\"deleted\":\"1\"}},"
	    "{\"response_range\":{\"header\":{\"revision\":\"9\"},\"kvs\":[" KV(
		    "Yw==", "") "],\"count\":\"1\"}},"
				"{\"response_range\":{\"header\":{\"revision\":"
				"\"9\"},\"kvs\":[" KV("Yg==", "") "],\"count\":"
								  "\"1\"}},"
								  "{\"response_"
								  "range\":{"
								  "\"header\":{"
								  "\"revision\""
								  ":\"9\"}}}]}";
	assert_int_equal(xpe_parse_txn(s, strlen(s), ok, 5, fail, 1, &res), 0);
	assert_true(res.succeeded && res.rev == 9);
	assert_int_equal(res.got.n, 2);
	assert_string_equal(res.got.items[0].key, "b"); /* sorted */
	assert_string_equal(res.got.items[1].key, "c");
	assert_true(res.got.rev == 9);
	xp_kv_list_free(&res.got);

	/* no "succeeded": the failure branch ran */
	s = "{" HDR ",\"responses\":[{\"response_range\":{\"header\":{},"
	    "\"kvs\":[" KV("YQ==", "") "]}}]}";
	assert_int_equal(xpe_parse_txn(s, strlen(s), ok, 5, fail, 1, &res), 0);
	assert_false(res.succeeded);
	assert_int_equal(res.got.n, 1);
	xp_kv_list_free(&res.got);
	s = "{" HDR "}";
	assert_int_equal(xpe_parse_txn(s, strlen(s), NULL, 0, NULL, 0, &res),
			 0);
	assert_true(!res.succeeded && res.got.n == 0);
}

static void test_txn_refused(void **state)
{
	const struct xp_kv_op ok[] = {
		{.kind = XP_KV_PUT, .key = "c"},
		{.kind = XP_KV_GET, .key = "c"},
	};
	static const char *const bad[] = {
		/* fewer responses than ops */
		"{" HDR ",\"succeeded\":true,\"responses\":["
		"{\"response_put\":{}}]}",
		/* the wrong kind */
		"{" HDR ",\"succeeded\":true,\"responses\":["
		"{\"response_range\":{}},{\"response_range\":{}}]}",
		/* two one-ofs in one response */
		"{" HDR ",\"succeeded\":true,\"responses\":["
		"{\"response_put\":{},\"response_range\":{}},"
		"{\"response_range\":{}}]}",
		/* another key than asked for */
		"{" HDR ",\"succeeded\":true,\"responses\":["
		"{\"response_put\":{}},{\"response_range\":{\"kvs\":[" KV(
			"YQ==", "") "]}}]}",
		/* two keys for a single-key read */
		"{" HDR ",\"succeeded\":true,\"responses\":["
		"{\"response_put\":{}},{\"response_range\":{\"kvs\":[" KV(
			"Yw==", "") "," KV("Yw==", "") "]}}]}",
		"{" HDR ",\"succeeded\":1}",
		"{" HDR ",\"succeeded\":true,\"responses\":{}}",
		"{\"succeeded\":true}",
		/* the failure branch has no ops: responses contradict it */
		"{" HDR ",\"responses\":[{\"response_put\":{}}]}",
	};
	struct xp_kv_txn_res res;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (xpe_parse_txn(bad[i], strlen(bad[i]), ok, 2, NULL, 0,
				  &res) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_true(res.got.n == 0 && !res.got.items);
	}
}

/* ---- leases, headers, errors ------------------------------------------------ */

static void test_leases(void **state)
{
	int64_t id, ttl;
	const char *s;

	(void)state;
	s = "{" HDR ",\"ID\":\"4111120499238879498\",\"TTL\":\"2\"}";
	assert_int_equal(xpe_parse_lease_grant(s, strlen(s), &id, &ttl), 0);
	assert_true(id == 4111120499238879498ll && ttl == 2);
	s = "{" HDR ",\"ID\":\"7\"}";
	assert_int_equal(xpe_parse_lease_grant(s, strlen(s), &id, &ttl),
			 -EPROTO);
	s = "{" HDR ",\"ID\":\"0\",\"TTL\":\"2\"}";
	assert_int_equal(xpe_parse_lease_grant(s, strlen(s), &id, &ttl),
			 -EPROTO);
	s = "{" HDR ",\"ID\":\"7\",\"TTL\":\"2\",\"error\":\"no\"}";
	assert_int_equal(xpe_parse_lease_grant(s, strlen(s), &id, &ttl),
			 -EPROTO);

	s = "{\"result\":{" HDR ",\"ID\":\"7\",\"TTL\":\"3\"}}";
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 7, &ttl), 0);
	assert_true(ttl == 3);
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 8, &ttl), -EPROTO);
	/* a lease that is gone: no TTL */
	s = "{\"result\":{" HDR ",\"ID\":\"12345\"}}";
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 12345, &ttl),
			 -ENOENT);
	s = "{" HDR ",\"ID\":\"7\",\"TTL\":\"3\"}";
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 7, &ttl), -EPROTO);
	s = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
	    "\"etcdserver: no leader\"}}";
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 7, &ttl), -EAGAIN);
	s = "{\"error\":{\"grpc_code\":\"14\"}}";
	assert_int_equal(xpe_parse_keepalive(s, strlen(s), 7, &ttl), -EPROTO);
}

static void test_errors(void **state)
{
	static const struct {
		const char *body;
		int err;
	} cases[] = {
		{"{\"error\":\"etcdserver: requested lease not found\","
		 "\"message\":\"etcdserver: requested lease not found\","
		 "\"code\":5}",
		 -ENOENT},
		{"{\"error\":\"x\",\"message\":\"etcdserver: duplicate key "
		 "given in txn request\",\"code\":3}",
		 -EINVAL},
		{"{\"error\":\"x\",\"message\":\"etcdserver: mvcc: required "
		 "revision has been compacted\",\"code\":11}",
		 -ERANGE},
		{"{\"message\":\"etcdserver: no leader\",\"code\":14}",
		 -EAGAIN},
		{"{\"message\":\"etcdserver: too many requests\","
		 "\"code\":8}",
		 -EAGAIN},
		{"{\"error\":\"x\",\"message\":\"grpc: received message larger "
		 "than max (2097170 vs. 2097152)\",\"code\":8}",
		 -EINVAL},
		{"{\"message\":\"x\",\"code\":2}", -EPROTO},
		{"{\"message\":\"x\",\"code\":0}", -EPROTO},
		{"{\"message\":\"x\",\"code\":17}", -EPROTO},
		{"{\"message\":\"x\",\"code\":\"5\"}", -EPROTO},
		{"{\"message\":5,\"code\":5}", -EPROTO},
		{"404 page not found\n", -EPROTO},
		{"", -EPROTO},
	};
	char msg[32];
	int64_t rev;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(xpe_parse_error(cases[i].body,
						 strlen(cases[i].body), msg,
						 sizeof(msg)),
				 cases[i].err);
	assert_int_equal(xpe_parse_error(cases[0].body, strlen(cases[0].body),
					 msg, sizeof(msg)),
			 -ENOENT);
	assert_string_equal(msg, "etcdserver: requested lease not");
	assert_int_equal(
		xpe_parse_header("{" HDR "}", strlen("{" HDR "}"), &rev), 0);
	assert_true(rev == 9);
	assert_int_equal(xpe_parse_header("{}", 2, &rev), -EPROTO);
}

/* ---- the watch stream ------------------------------------------------------- */

/* Real messages of one etcd 3.4 watch, then a progress message and a
 * compacted watch's cancel (whose header has no revision). */
static const char stream[] =
	"{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\","
	"\"revision\":\"6\",\"raft_term\":\"2\"},\"created\":true}}\n"
	"{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\","
	"\"revision\":\"6\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
	"\"YQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
	"\"version\":\"1\",\"value\":\"MQ==\"}},{\"type\":\"DELETE\",\"kv\":"
	"{\"key\":\"YQ==\",\"mod_revision\":\"5\"}}]}}\n"
	"{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"kv\":"
	"{\"key\":\"YQ==\",\"create_revision\":\"7\",\"mod_revision\":\"7\","
	"\"version\":\"1\",\"value\":\"Nw==\"}}]}}"
	"{\"result\":{\"header\":{\"revision\":\"8\"}}}\r\n"
	"{\"result\":{\"header\":{\"cluster_id\":\"1\",\"raft_term\":\"2\"},"
	"\"canceled\":true,\"compact_revision\":\"6\"}}\n";

static void check_stream(struct xpe_wstream *s)
{
	struct xpe_wmsg m;

	assert_true(xpe_wstream_pop(s, &m));
	assert_true(m.kind == XPE_W_CREATED && m.rev == 6);
	assert_true(xpe_wstream_pop(s, &m));
	assert_int_equal(m.kind, XPE_W_EVENTS);
	assert_int_equal(m.ev.n, 2);
	assert_true(m.ev.rev == 5 && m.rev == 5);
	assert_int_equal(m.ev.ev[0].type, XP_KV_EV_PUT);
	assert_string_equal(m.ev.ev[0].kv.key, "a");
	assert_memory_equal(m.ev.ev[0].kv.val, "1", 2);
	assert_true(m.ev.ev[0].kv.mod_rev == 2 && m.ev.ev[0].kv.version == 1);
	assert_int_equal(m.ev.ev[1].type, XP_KV_EV_DELETE);
	assert_true(m.ev.ev[1].kv.mod_rev == 5 && m.ev.ev[1].kv.vlen == 0);
	xp_kv_events_free(&m.ev);
	assert_true(xpe_wstream_pop(s, &m));
	assert_true(m.kind == XPE_W_EVENTS && m.ev.n == 1 && m.ev.rev == 7);
	xp_kv_events_free(&m.ev);
	assert_true(xpe_wstream_pop(s, &m));
	assert_true(m.kind == XPE_W_PROGRESS && m.rev == 8);
	assert_non_null(xpe_wstream_peek(s));
	assert_true(xpe_wstream_pop(s, &m));
	assert_true(m.kind == XPE_W_COMPACTED && m.rev == 6);
	assert_false(xpe_wstream_pop(s, &m));
	assert_null(xpe_wstream_peek(s));
}

static void test_stream_whole_and_bytes(void **state)
{
	struct xpe_wstream *s;
	size_t i, n = sizeof(stream) - 1;

	(void)state;
	s = xpe_wstream_new();
	assert_non_null(s);
	assert_int_equal(xpe_wstream_feed(s, stream, n), 0);
	check_stream(s);
	xpe_wstream_free(s);

	s = xpe_wstream_new();
	for (i = 0; i < n; i++)
		assert_int_equal(xpe_wstream_feed(s, stream + i, 1), 0);
	check_stream(s);
	xpe_wstream_free(s);
}

static void test_stream_every_cut(void **state)
{
	size_t i, j, n = sizeof(stream) - 1;
	struct xpe_wstream *s;

	(void)state;
	for (i = 0; i <= n; i++) {
		s = xpe_wstream_new();
		assert_int_equal(xpe_wstream_feed(s, stream, i), 0);
		assert_int_equal(xpe_wstream_feed(s, stream + i, n - i), 0);
		check_stream(s);
		xpe_wstream_free(s);
	}
	/* three pieces, cut at pseudo-random places */
	for (j = 1; j < 200; j++) {
		size_t a = (j * 7919) % n, b = (j * 104729) % n, t;

		if (a > b) {
			t = a;
			a = b;
			b = t;
		}
		s = xpe_wstream_new();
		assert_int_equal(xpe_wstream_feed(s, stream, a), 0);
		assert_int_equal(xpe_wstream_feed(s, stream + a, b - a), 0);
		assert_int_equal(xpe_wstream_feed(s, stream + b, n - b), 0);
		check_stream(s);
		xpe_wstream_free(s); /* frees nothing queued: all popped */
	}
}

static void test_stream_kinds(void **state)
{
	static const char canceled[] =
		"{\"result\":{\"header\":{},\"canceled\":true}}"
		"{\"error\":{\"grpc_code\":14,\"message\":\"unavailable\"}}"
		"{\"error\":{\"grpc_code\":7,\"message\":\"denied\"}}"
		"{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{"
		"\"kv\":"
		"{\"key\":\"YQ==\",\"create_revision\":\"2\",\"mod_revision\":"
		"\"3\",\"version\":\"2\"}}]}}";
	struct xpe_wstream *s = xpe_wstream_new();
	struct xpe_wmsg m;

	(void)state;
	assert_int_equal(xpe_wstream_feed(s, canceled, strlen(canceled)), 0);
	assert_true(xpe_wstream_pop(s, &m) && m.kind == XPE_W_CANCELED);
	assert_true(xpe_wstream_pop(s, &m) && m.kind == XPE_W_ERROR);
	assert_int_equal(m.err, -EHOSTUNREACH);
	assert_true(xpe_wstream_pop(s, &m) && m.kind == XPE_W_ERROR);
	assert_int_equal(m.err, -ECANCELED);
	/* left queued: freed with the stream */
	xpe_wstream_free(s);
}

static void test_stream_refused(void **state)
{
	static const char *const bad[] = {
		"{]",
		"[1]",
		"5 ",
		"{\"result\":5}",
		"{\"nothing\":{}}",
		"{\"result\":{}}",
		"{\"result\":{\"header\":{}}}",
		"{\"result\":{\"header\":{},\"created\":true}}",
		"{\"result\":{\"header\":{\"revision\":\"1\"},\"created\":"
		"\"y\"}}",
		"{\"result\":{\"header\":{},\"events\":[{\"type\":\"PATCH\","
		"\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"2\"}}]}}",
		"{\"result\":{\"header\":{},\"events\":[{\"type\":\"DELETE\","
		"\"kv\":{\"key\":\"YQ==\"}}]}}",
		"{\"result\":{\"header\":{},\"events\":[{\"type\":\"DELETE\"}]}"
		"}",
		"{\"result\":{\"header\":{},\"events\":[{\"kv\":{\"key\":\"YQ=="
		"\","
		"\"mod_revision\":\"2\"}}]}}",
		"{\"result\":{\"header\":{},\"events\":[{\"type\":\"DELETE\","
		"\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"5\"}},{\"type\":"
		"\"DELETE\",\"kv\":{\"key\":\"Yg==\",\"mod_revision\":\"4\"}}]}"
		"}",
		"{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true,"
		"\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\","
		"\"mod_revision\":\"5\"}}]}}",
		"{\"result\":{\"header\":{},\"compact_revision\":\"x\"}}",
		"{\"error\":{\"message\":\"no code\"}}",
	};
	static const char good[] = "{\"result\":{\"header\":{\"revision\":"
				   "\"1\"},\"created\":true}}";
	struct xpe_wstream *s;
	struct xpe_wmsg m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = xpe_wstream_new();
		if (xpe_wstream_feed(s, bad[i], strlen(bad[i])) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_false(xpe_wstream_pop(s, &m));
		/* the stream stays failed */
		assert_int_equal(xpe_wstream_feed(s, good, strlen(good)),
				 -EPROTO);
		xpe_wstream_free(s);
	}
	/* the messages before the bad one stay queued */
	s = xpe_wstream_new();
	assert_int_equal(xpe_wstream_feed(s, good, strlen(good)), 0);
	assert_int_equal(xpe_wstream_feed(s, "{]", 2), -EPROTO);
	assert_true(xpe_wstream_pop(s, &m) && m.kind == XPE_W_CREATED);
	xpe_wstream_free(s);
}

static void test_stream_too_long(void **state)
{
	static const char head[] = "{\"result\":{\"header\":{\"x\":\"";
	size_t chunk = 1u << 20, fed = 0;
	struct xpe_wstream *s = xpe_wstream_new();
	char *buf = malloc(chunk);
	int ret = 0;

	(void)state;
	assert_non_null(buf);
	memset(buf, 'x', chunk);
	assert_int_equal(xpe_wstream_feed(s, head, strlen(head)), 0);
	while (!ret && fed <= XPE_REPLY_MAX) {
		ret = xpe_wstream_feed(s, buf, chunk);
		fed += chunk;
	}
	assert_int_equal(ret, -EPROTO);
	assert_true(fed >= XPE_REPLY_MAX - chunk &&
		    fed <= XPE_REPLY_MAX + chunk);
	free(buf);
	xpe_wstream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_body_range),
		cmocka_unit_test(test_body_txn),
		cmocka_unit_test(test_body_txn_refused),
		cmocka_unit_test(test_body_lease_watch),
		cmocka_unit_test(test_b64_i64),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_range_refused),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_txn),
		cmocka_unit_test(test_txn_refused),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stream_whole_and_bytes),
		cmocka_unit_test(test_stream_every_cut),
		cmocka_unit_test(test_stream_kinds),
		cmocka_unit_test(test_stream_refused),
		cmocka_unit_test(test_stream_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
