/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies for etcd's v3 JSON gateway (see codec.h). Keys and
 * values travel as base64, int64s as decimal strings, enums by name:
 *
 *   range  {"key", "range_end", "revision", "limit"}
 *   txn    {"compare": [{"key", "target", "result", "<field>"}],
 *           "success": [{"request_put" | "request_delete_range" |
 *                        "request_range": {...}}], "failure": [...]}
 *   lease  {"TTL"} (grant), {"ID"} (keepalive, revoke)
 *   watch  {"create_request": {"key", "range_end", "start_revision"}}
 *
 * Arguments are checked here before anything is built: keys (kv.h: text
 * of 1..XPE_KEY_MAX bytes), values (at most XPE_VAL_MAX), counts (at most
 * XP_KV_TXN_MAX), enums (a transaction's by xp_kv_txn_check).
 */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonval.h"

int xpe_key_check(const char *key, bool prefix)
{
	size_t n;

	if (!key)
		return -EINVAL;
	n = strnlen(key, XPE_KEY_MAX + 1);
	if (n > XPE_KEY_MAX || (n == 0 && !prefix))
		return -EINVAL;
	return 0;
}

size_t xpe_prefix_end(const uint8_t *p, size_t n, uint8_t *end)
{
	size_t i;

	for (i = n; i > 0; i--) {
		if (p[i - 1] != 0xff) {
			memcpy(end, p, i - 1);
			end[i - 1] = (uint8_t)(p[i - 1] + 1);
			return i;
		}
	}
	end[0] = 0;
	return 1;
}

/* Add @name: "@v" (a copy of it) to @o. */
static int add_str(json_object *o, const char *name, const char *v)
{
	json_object *s = json_object_new_string(v);

	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, name, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

/* Add @name: base64 of @p (@n bytes) to @o. */
static int add_bytes(json_object *o, const char *name, const void *p, size_t n)
{
	char *b64;
	int ret;

	ret = xpe_b64_encode(p, n, &b64);
	if (ret)
		return ret;
	ret = add_str(o, name, b64);
	free(b64);
	return ret;
}

/* Add @name: "@v" (an int64 as a decimal string) to @o. */
static int add_i64(json_object *o, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return add_str(o, name, buf);
}

/* Add @child to @o as @name (array when @name is NULL); consumes it. */
static int add_child(json_object *o, const char *name, json_object *child)
{
	int ret;

	if (!child)
		return -ENOMEM;
	if (name)
		ret = json_object_object_add(o, name, child);
	else
		ret = json_object_array_add(o, child);
	if (ret) {
		json_object_put(child);
		return -ENOMEM;
	}
	return 0;
}

/* Serialise @o into a malloc'd string and put @o. */
static int finish(json_object *o, int ret, char **out)
{
	const char *s;

	*out = NULL;
	if (!ret) {
		s = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE);
		*out = s ? strdup(s) : NULL;
		if (!*out)
			ret = -ENOMEM;
	}
	json_object_put(o);
	return ret;
}

int xpe_body_range(const uint8_t *key, size_t klen, const uint8_t *end,
		   size_t elen, int64_t rev, int64_t limit, char **out)
{
	json_object *o;
	int ret;

	*out = NULL;
	if (!key || klen == 0 || klen > XPE_KEY_MAX + 1 || elen > XPE_KEY_MAX ||
	    (elen && !end) || rev < 0 || limit < 0)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	ret = add_bytes(o, "key", key, klen);
	if (!ret && elen)
		ret = add_bytes(o, "range_end", end, elen);
	if (!ret && rev)
		ret = add_i64(o, "revision", rev);
	if (!ret && limit)
		ret = add_i64(o, "limit", limit);
	return finish(o, ret, out);
}

static const char *const cmp_target[] = {
	[XP_KV_VERSION] = "VERSION", [XP_KV_CREATE] = "CREATE",
	[XP_KV_MOD] = "MOD",	     [XP_KV_VALUE] = "VALUE",
	[XP_KV_LEASE] = "LEASE",
};
static const char *const cmp_field[] = {
	[XP_KV_VERSION] = "version",  [XP_KV_CREATE] = "create_revision",
	[XP_KV_MOD] = "mod_revision", [XP_KV_VALUE] = "value",
	[XP_KV_LEASE] = "lease",
};
static const char *const cmp_result[] = {
	[XP_KV_EQ] = "EQUAL",
	[XP_KV_NE] = "NOT_EQUAL",
	[XP_KV_GT] = "GREATER",
	[XP_KV_LT] = "LESS",
};

static json_object *cmp_json(const struct xp_kv_cmp *c, int *ret)
{
	json_object *o = json_object_new_object();
	const char *field = cmp_field[c->target];

	if (!o) {
		*ret = -ENOMEM;
		return NULL;
	}
	*ret = add_bytes(o, "key", c->key, strlen(c->key));
	if (!*ret)
		*ret = add_str(o, "target", cmp_target[c->target]);
	if (!*ret)
		*ret = add_str(o, "result", cmp_result[c->result]);
	if (!*ret && c->target == XP_KV_VALUE)
		*ret = add_bytes(o, field, c->val, c->vlen);
	else if (!*ret)
		*ret = add_i64(o, field, c->num);
	if (*ret) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The request of @op ({"key", ...}) under its one-of name in *@name. */
static int op_req(const struct xp_kv_op *op, json_object *r, const char **name)
{
	size_t klen = strlen(op->key);
	uint8_t end[XPE_KEY_MAX];
	size_t elen;
	int ret;

	switch (op->kind) {
	case XP_KV_PUT:
		*name = "request_put";
		ret = add_bytes(r, "key", op->key, klen);
		if (!ret)
			ret = add_bytes(r, "value", op->val, op->vlen);
		if (!ret && op->lease)
			ret = add_i64(r, "lease", op->lease);
		return ret;
	case XP_KV_DEL_PREFIX:
		/* The empty prefix is every key: from "\0" to "\0". */
		*name = "request_delete_range";
		elen = xpe_prefix_end((const uint8_t *)op->key, klen, end);
		ret = add_bytes(r, "key", klen ? op->key : "", klen ? klen : 1);
		if (!ret)
			ret = add_bytes(r, "range_end", end, elen);
		return ret;
	case XP_KV_DEL:
		*name = "request_delete_range";
		return add_bytes(r, "key", op->key, klen);
	case XP_KV_GET:
		*name = "request_range";
		return add_bytes(r, "key", op->key, klen);
	}
	return -EINVAL;
}

static json_object *op_json(const struct xp_kv_op *op, int *ret)
{
	json_object *o = json_object_new_object();
	json_object *r = json_object_new_object();
	const char *name = NULL;

	*ret = -ENOMEM;
	if (!o || !r)
		goto out_put;
	*ret = op_req(op, r, &name);
	if (*ret)
		goto out_put;
	*ret = add_child(o, name, r);
	if (*ret) {
		json_object_put(o);
		return NULL;
	}
	return o;

out_put:
	json_object_put(r);
	json_object_put(o);
	return NULL;
}

/* Add the array @name of @nops ops to @o (nothing when there are none). */
static int add_ops(json_object *o, const char *name, const struct xp_kv_op *ops,
		   size_t nops)
{
	json_object *arr;
	size_t i;
	int ret = 0;

	if (!nops)
		return 0;
	arr = json_object_new_array();
	ret = add_child(o, name, arr);
	for (i = 0; !ret && i < nops; i++) {
		json_object *op = op_json(&ops[i], &ret);

		if (op)
			ret = add_child(arr, NULL, op);
	}
	return ret;
}

int xpe_body_txn(const struct xp_kv_cmp *cmp, size_t ncmp,
		 const struct xp_kv_op *ok, size_t nok,
		 const struct xp_kv_op *fail, size_t nfail, char **out)
{
	json_object *o, *arr;
	size_t i;
	int ret;

	*out = NULL;
	ret = xp_kv_txn_check(cmp, ncmp, ok, nok, fail, nfail, XPE_KEY_MAX,
			      XPE_VAL_MAX);
	if (ret)
		return ret;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	if (ncmp) {
		arr = json_object_new_array();
		ret = add_child(o, "compare", arr);
		for (i = 0; !ret && i < ncmp; i++) {
			json_object *c = cmp_json(&cmp[i], &ret);

			if (c)
				ret = add_child(arr, NULL, c);
		}
	}
	if (!ret)
		ret = add_ops(o, "success", ok, nok);
	if (!ret)
		ret = add_ops(o, "failure", fail, nfail);
	return finish(o, ret, out);
}

int xpe_body_lease_grant(int64_t ttl_s, char **out)
{
	json_object *o;

	*out = NULL;
	if (ttl_s < 1 || ttl_s > XPE_TTL_MAX)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	return finish(o, add_i64(o, "TTL", ttl_s), out);
}

int xpe_body_lease_id(int64_t id, char **out)
{
	json_object *o;

	*out = NULL;
	if (id < 1)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	return finish(o, add_i64(o, "ID", id), out);
}

int xpe_body_watch(const char *prefix, int64_t start_rev, char **out)
{
	json_object *o, *c;
	uint8_t end[XPE_KEY_MAX];
	size_t klen, elen;
	int ret;

	*out = NULL;
	if (xpe_key_check(prefix, true) || start_rev < 0)
		return -EINVAL;
	klen = strlen(prefix);
	elen = xpe_prefix_end((const uint8_t *)prefix, klen, end);
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	c = json_object_new_object();
	ret = add_child(o, "create_request", c);
	/* The empty prefix is every key: from "\0" to "\0". */
	if (!ret)
		ret = add_bytes(c, "key", klen ? prefix : "", klen ? klen : 1);
	if (!ret)
		ret = add_bytes(c, "range_end", end, elen);
	if (!ret && start_rev)
		ret = add_i64(c, "start_revision", start_rev);
	return finish(o, ret, out);
}
