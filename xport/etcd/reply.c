/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replies of etcd's v3 JSON gateway (see codec.h):
 *
 *   range   {"header": {"revision"}, "kvs": [KeyValue], "more", "count"}
 *   txn     {"header", "succeeded", "responses": [{"response_put" |
 *            "response_delete_range" | "response_range": {...}}]}
 *   grant   {"header", "ID", "TTL", "error"}
 *   keepalive (a stream of one message) {"result": {"header", "ID",
 *            "TTL"}}, no TTL when the lease is gone
 *   errors  {"error", "message", "code"} with an HTTP status other than
 *           200, or {"error": {"grpc_code", "message"}} inside a stream
 *
 * A KeyValue is {"key", "create_revision", "mod_revision", "version",
 * "value", "lease"}; read ones must be consistent (created before
 * modified, version at least 1, no later than the reply's revision) and
 * come sorted by key.
 */
#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonval.h"

/* gRPC's message for a request over its size limit */
#define TOO_LARGE "larger than max"

/* A read item must be consistent with itself and the reply's @rev. */
static bool item_sane(const struct xp_kv_item *it, int64_t rev)
{
	return it->create_rev >= 1 && it->mod_rev >= it->create_rev &&
	       it->mod_rev <= rev && it->version >= 1;
}

/* Decode the "kvs" of @o into @l (at revision l->rev), sorted by key. */
static int kvs_decode(json_object *o, struct xp_kv_list *l)
{
	struct xp_kv_item it;
	json_object *arr;
	size_t i, n, cap = 0;
	int ret;

	ret = xpe_get_arr(o, "kvs", &arr);
	if (ret || !arr)
		return ret;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		json_object *kv = json_object_array_get_idx(arr, i);

		if (!kv || !json_object_is_type(kv, json_type_object))
			return -EPROTO;
		ret = xpe_item_decode(kv, &it);
		if (ret)
			return ret;
		if (!item_sane(&it, l->rev) ||
		    (l->n && strcmp(l->items[l->n - 1].key, it.key) >= 0)) {
			xpe_item_clear(&it);
			return -EPROTO;
		}
		ret = xpe_list_push(l, &cap, &it);
		if (ret) {
			xpe_item_clear(&it);
			return ret;
		}
	}
	return 0;
}

int xpe_parse_range(const char *body, size_t len, struct xp_kv_list *out,
		    bool *more)
{
	json_object *o;
	int ret;

	memset(out, 0, sizeof(*out));
	*more = false;
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret;
	ret = xpe_header_rev(o, true, &out->rev);
	if (!ret)
		ret = xpe_get_bool(o, "more", more);
	if (!ret)
		ret = kvs_decode(o, out);
	json_object_put(o);
	if (ret) {
		xp_kv_list_free(out);
		*more = false;
	}
	return ret;
}

static int cmp_items(const void *a, const void *b)
{
	const struct xp_kv_item *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* One response of a txn: the one-of that @op's request gives, and for a
 * GET the key asked for or nothing, appended to @got. */
static int txn_response(json_object *r, const struct xp_kv_op *op,
			struct xp_kv_list *got, size_t *cap)
{
	struct xp_kv_list one = {.rev = got->rev};
	const char *name;
	json_object *inner;
	int ret;

	if (!r || !json_object_is_type(r, json_type_object) ||
	    json_object_object_length(r) != 1)
		return -EPROTO;
	name = op->kind == XP_KV_PUT   ? "response_put"
	       : op->kind == XP_KV_GET ? "response_range"
				       : "response_delete_range";
	ret = xpe_get_obj(r, name, true, &inner);
	if (ret || op->kind != XP_KV_GET)
		return ret;
	ret = kvs_decode(inner, &one);
	if (!ret && (one.n > 1 || (one.n && strcmp(one.items[0].key, op->key))))
		ret = -EPROTO;
	if (!ret && one.n)
		ret = xpe_list_push(got, cap, &one.items[0]);
	xp_kv_list_free(&one);
	return ret;
}

static int txn_decode(json_object *o, const struct xp_kv_op *ok, size_t nok,
		      const struct xp_kv_op *fail, size_t nfail,
		      struct xp_kv_txn_res *res)
{
	const struct xp_kv_op *ops;
	json_object *arr;
	size_t i, n, cap = 0;
	int ret;

	ret = xpe_header_rev(o, true, &res->rev);
	if (!ret)
		ret = xpe_get_bool(o, "succeeded", &res->succeeded);
	if (!ret)
		ret = xpe_get_arr(o, "responses", &arr);
	if (ret)
		return ret;
	ops = res->succeeded ? ok : fail;
	n = res->succeeded ? nok : nfail;
	if ((arr ? json_object_array_length(arr) : 0) != n)
		return -EPROTO;
	res->got.rev = res->rev;
	for (i = 0; i < n; i++) {
		ret = txn_response(json_object_array_get_idx(arr, i), &ops[i],
				   &res->got, &cap);
		if (ret)
			return ret;
	}
	if (res->got.n > 1)
		qsort(res->got.items, res->got.n, sizeof(*res->got.items),
		      cmp_items);
	return 0;
}

int xpe_parse_txn(const char *body, size_t len, const struct xp_kv_op *ok,
		  size_t nok, const struct xp_kv_op *fail, size_t nfail,
		  struct xp_kv_txn_res *res)
{
	json_object *o;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret;
	ret = txn_decode(o, ok, nok, fail, nfail, res);
	json_object_put(o);
	if (ret) {
		xp_kv_list_free(&res->got);
		memset(res, 0, sizeof(*res));
	}
	return ret;
}

int xpe_parse_header(const char *body, size_t len, int64_t *rev)
{
	json_object *o;
	int ret;

	*rev = 0;
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret;
	ret = xpe_header_rev(o, true, rev);
	json_object_put(o);
	return ret;
}

int xpe_parse_lease_grant(const char *body, size_t len, int64_t *id,
			  int64_t *ttl_s)
{
	json_object *o;
	const char *err;
	int64_t rev;
	size_t elen;
	int ret;

	*id = 0;
	*ttl_s = 0;
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret;
	ret = xpe_header_rev(o, true, &rev);
	if (!ret)
		ret = xpe_get_str(o, "error", &err, &elen);
	if (!ret && elen)
		ret = -EPROTO;
	if (!ret)
		ret = xpe_get_i64(o, "ID", true, id);
	if (!ret)
		ret = xpe_get_i64(o, "TTL", true, ttl_s);
	if (!ret && (*id < 1 || *ttl_s < 1 || *ttl_s > XPE_TTL_MAX))
		ret = -EPROTO;
	json_object_put(o);
	if (ret) {
		*id = 0;
		*ttl_s = 0;
	}
	return ret;
}

int xpe_parse_keepalive(const char *body, size_t len, int64_t id,
			int64_t *ttl_s)
{
	json_object *o, *r, *e;
	int64_t rev, rid, code;
	int ret;

	*ttl_s = 0;
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret;
	ret = xpe_get_obj(o, "error", false, &e);
	if (!ret && e) {
		ret = xpe_stream_error(e, &code);
		if (!ret)
			ret = xpe_grpc_errno(code);
		goto out_put;
	}
	if (!ret)
		ret = xpe_get_obj(o, "result", true, &r);
	if (!ret)
		ret = xpe_header_rev(r, true, &rev);
	if (!ret)
		ret = xpe_get_i64(r, "ID", true, &rid);
	if (!ret && rid != id)
		ret = -EPROTO;
	if (!ret)
		ret = xpe_get_i64(r, "TTL", false, ttl_s);
	if (!ret && *ttl_s > XPE_TTL_MAX)
		ret = -EPROTO;
	if (!ret && *ttl_s == 0)
		ret = -ENOENT;
out_put:
	json_object_put(o);
	if (ret)
		*ttl_s = 0;
	return ret;
}

int xpe_parse_error(const char *body, size_t len, char *msg, size_t msglen)
{
	json_object *o, *code;
	const char *m;
	size_t mlen;
	int64_t c;
	int ret;

	if (msg && msglen)
		msg[0] = '\0';
	ret = xpe_json_parse(body, len, &o);
	if (ret)
		return ret == -ENOMEM ? ret : -EPROTO;
	ret = -EPROTO;
	if (!json_object_object_get_ex(o, "code", &code) || !code ||
	    !json_object_is_type(code, json_type_int))
		goto out_put;
	c = json_object_get_int64(code);
	if (c < 1 || c > XPE_GRPC_MAX || xpe_get_str(o, "message", &m, &mlen))
		goto out_put;
	ret = xpe_grpc_errno(c);
	/* ResourceExhausted is a busy member ("too many requests") or a
	 * request over the size gRPC takes: that one no member takes. */
	if (ret == -EAGAIN && m &&
	    memmem(m, mlen, TOO_LARGE, strlen(TOO_LARGE)))
		ret = -EINVAL;
	if (m && msg && msglen) {
		mlen = mlen < msglen - 1 ? mlen : msglen - 1;
		memcpy(msg, m, mlen);
		msg[mlen] = '\0';
	}
out_put:
	json_object_put(o);
	return ret;
}
