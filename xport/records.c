// SPDX-License-Identifier: Apache-2.0
/*
 * Keys and JSON values of the cluster store's records (xport/records.h),
 * with json-c. 64-bit ids travel as decimal strings (as etcd's own do, so
 * tools that read JSON numbers as doubles keep every digit); small counts
 * as JSON numbers.
 */
#include "records.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static int key_fmt(char *buf, size_t size, const char *prefix, uint32_t node,
		   const char *leaf)
{
	int n;

	if (leaf)
		n = snprintf(buf, size, "%snode/%" PRIu32 "/%s", prefix, node,
			     leaf);
	else
		n = snprintf(buf, size, "%snode/", prefix);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int xp_rec_key_alive(char *buf, size_t size, const char *prefix, uint32_t node)
{
	return key_fmt(buf, size, prefix, node, "alive");
}

int xp_rec_key_gen(char *buf, size_t size, const char *prefix, uint32_t node)
{
	return key_fmt(buf, size, prefix, node, "gen");
}

int xp_rec_key_state(char *buf, size_t size, const char *prefix, uint32_t node)
{
	return key_fmt(buf, size, prefix, node, "state");
}

int xp_rec_key_nodes(char *buf, size_t size, const char *prefix)
{
	return key_fmt(buf, size, prefix, 0, NULL);
}

int xp_rec_key_parse_node(const char *key, const char *prefix, uint32_t *node)
{
	size_t pl = strlen(prefix);
	const char *p, *slash;
	uint64_t v = 0;

	if (strncmp(key, prefix, pl) || strncmp(key + pl, "node/", 5))
		return -EINVAL;
	p = key + pl + 5;
	slash = strchr(p, '/');
	if (!slash || slash == p || slash - p > 10 || (*p == '0'))
		return -EINVAL;
	for (; p < slash; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (!v || v > UINT32_MAX)
		return -EINVAL;
	*node = (uint32_t)v;
	if (!strcmp(slash + 1, "alive"))
		return XP_REC_ALIVE;
	if (!strcmp(slash + 1, "gen"))
		return XP_REC_GEN;
	if (!strcmp(slash + 1, "state"))
		return XP_REC_STATE;
	return 0;
}

static bool gen_valid(const char *g)
{
	return strlen(g) == XP_REC_GEN_HEX &&
	       strspn(g, "0123456789abcdef") == XP_REC_GEN_HEX;
}

/* Add "@name": "<decimal @v>" to @o. */
static int add_i64_str(struct json_object *o, const char *name, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	return json_object_object_add(o, name, json_object_new_string(num));
}

/* Serialise @o into a malloc'd copy in *@out; frees @o. */
static int finish(struct json_object *o, int added, char **out)
{
	const char *txt;
	int ret = -ENOMEM;

	if (!added) {
		txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		if (txt) {
			*out = strdup(txt);
			ret = *out ? 0 : -ENOMEM;
		}
	}
	json_object_put(o);
	return ret;
}

int xp_rec_alive_encode(const struct xp_rec_alive *a, char **out)
{
	struct json_object *o;
	int bad = 0;

	if (a->incarnation <= 0 || !gen_valid(a->gen) || !a->boot || !a->port ||
	    strnlen(a->host, sizeof(a->host)) >= sizeof(a->host))
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	bad |= add_i64_str(o, "incarnation", a->incarnation);
	bad |= json_object_object_add(o, "gen", json_object_new_string(a->gen));
	bad |= json_object_object_add(o, "boot",
				      json_object_new_uint64(a->boot));
	bad |= json_object_object_add(o, "host",
				      json_object_new_string(a->host));
	bad |= json_object_object_add(o, "port", json_object_new_int(a->port));
	return finish(o, bad, out);
}

int xp_rec_gen_encode(const struct xp_rec_gen *g, char **out)
{
	struct json_object *o;
	int bad = 0;

	if (!gen_valid(g->gen) || !g->boot)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	bad |= json_object_object_add(o, "gen", json_object_new_string(g->gen));
	bad |= json_object_object_add(o, "boot",
				      json_object_new_uint64(g->boot));
	return finish(o, bad, out);
}

/* Parse @len bytes at @buf as one JSON object. NULL on anything else. */
static struct json_object *parse_object(const void *buf, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len == 0 || len > XP_REC_VALUE_MAX || memchr(buf, '\0', len))
		return NULL;
	tok = json_tokener_new_ex(8);
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* String field @name of @o, at most @cap - 1 bytes, into @dst. */
static int get_str(struct json_object *o, const char *name, char *dst,
		   size_t cap)
{
	struct json_object *v;
	size_t n;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -EINVAL;
	n = (size_t)json_object_get_string_len(v);
	if (n >= cap || strlen(json_object_get_string(v)) != n)
		return -EINVAL;
	memcpy(dst, json_object_get_string(v), n + 1);
	return 0;
}

/* Integer field @name (a JSON integer) within [min, max]. */
static int get_uint(struct json_object *o, const char *name, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -EINVAL;
	i = json_object_get_int64(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return -EINVAL;
	*out = (uint64_t)i;
	return 0;
}

/* A decimal string field holding an int64 > 0. */
static int get_i64_str(struct json_object *o, const char *name, int64_t *out)
{
	char num[24], *end;
	long long v;

	if (get_str(o, name, num, sizeof(num)) || !num[0] || num[0] == '-' ||
	    num[0] == '+' || num[0] == ' ' || (num[0] == '0'))
		return -EINVAL;
	errno = 0;
	v = strtoll(num, &end, 10);
	if (errno || *end || v <= 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int xp_rec_alive_decode(const void *buf, size_t len, struct xp_rec_alive *a)
{
	struct json_object *o = parse_object(buf, len);
	struct xp_rec_alive r;
	uint64_t port;
	int ret = -EINVAL;

	if (!o)
		return -EINVAL;
	if (get_i64_str(o, "incarnation", &r.incarnation) ||
	    get_str(o, "gen", r.gen, sizeof(r.gen)) || !gen_valid(r.gen) ||
	    get_uint(o, "boot", 1, INT64_MAX, &r.boot) ||
	    get_str(o, "host", r.host, sizeof(r.host)) || !r.host[0] ||
	    get_uint(o, "port", 1, 65535, &port))
		goto out_put;
	r.port = (uint16_t)port;
	*a = r;
	ret = 0;
out_put:
	json_object_put(o);
	return ret;
}

int xp_rec_gen_decode(const void *buf, size_t len, struct xp_rec_gen *g)
{
	struct json_object *o = parse_object(buf, len);
	struct xp_rec_gen r;
	int ret = -EINVAL;

	if (!o)
		return -EINVAL;
	if (get_str(o, "gen", r.gen, sizeof(r.gen)) || !gen_valid(r.gen) ||
	    get_uint(o, "boot", 1, INT64_MAX, &r.boot))
		goto out_put;
	*g = r;
	ret = 0;
out_put:
	json_object_put(o);
	return ret;
}

static const char *const node_states[] = {
	[XP_NODE_IN] = "in",
	[XP_NODE_OUT] = "out",
	[XP_NODE_JOINING] = "joining",
};

int xp_rec_state_encode(enum xp_node_state state, char **txt)
{
	struct json_object *o;
	int bad;

	if ((unsigned int)state > XP_NODE_JOINING)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	bad = json_object_object_add(
		o, "state", json_object_new_string(node_states[state]));
	return finish(o, bad, txt);
}

int xp_rec_state_decode(const void *buf, size_t len, enum xp_node_state *state)
{
	struct json_object *o = parse_object(buf, len);
	char st[8];
	unsigned int i;
	int ret = -EINVAL;

	if (!o)
		return -EINVAL;
	for (i = 0;
	     !get_str(o, "state", st, sizeof(st)) && i <= XP_NODE_JOINING;
	     i++) {
		if (!strcmp(st, node_states[i])) {
			*state = (enum xp_node_state)i;
			ret = 0;
			break;
		}
	}
	json_object_put(o);
	return ret;
}

/* "<prefix><kind>/<a>/<b>", each number 16 hex digits. */
static int key_two(char *buf, size_t size, const char *prefix, const char *kind,
		   uint64_t a, uint64_t b)
{
	int n = snprintf(buf, size, "%s%s/%016" PRIx64 "/%016" PRIx64, prefix,
			 kind, a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int xp_rec_key_stale(char *buf, size_t size, const char *prefix, uint64_t lun,
		     uint64_t chunk)
{
	return key_two(buf, size, prefix, "stale", lun, chunk);
}

int xp_rec_key_stale_prefix(char *buf, size_t size, const char *prefix,
			    bool lun_only, uint64_t lun)
{
	int n = lun_only ? snprintf(buf, size, "%sstale/%016" PRIx64 "/",
				    prefix, lun)
			 : snprintf(buf, size, "%sstale/", prefix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int xp_rec_key_al(char *buf, size_t size, const char *prefix, uint64_t lun,
		  uint64_t extent)
{
	return key_two(buf, size, prefix, "al", lun, extent);
}

int xp_rec_key_epoch(char *buf, size_t size, const char *prefix)
{
	int n = snprintf(buf, size, "%sepoch", prefix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int xp_rec_key_al_prefix(char *buf, size_t size, const char *prefix)
{
	int n = snprintf(buf, size, "%sal/", prefix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* 16 lower-case hex digits at @s into *@v. */
static int hex16(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			x = x << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*v = x;
	return 0;
}

/* Parse "<prefix><kind>/<a>/<b>". */
static int parse_two(const char *key, const char *prefix, const char *kind,
		     uint64_t *a, uint64_t *b)
{
	size_t pl = strlen(prefix), kl = strlen(kind);
	const char *p = key + pl;

	if (strncmp(key, prefix, pl) || strncmp(p, kind, kl) || p[kl] != '/')
		return -EINVAL;
	p += kl + 1;
	if (strlen(p) != 33 || p[16] != '/' || hex16(p, a) || hex16(p + 17, b))
		return -EINVAL;
	return 0;
}

int xp_rec_key_parse_stale(const char *key, const char *prefix, uint64_t *lun,
			   uint64_t *chunk)
{
	return parse_two(key, prefix, "stale", lun, chunk);
}

int xp_rec_key_parse_al(const char *key, const char *prefix, uint64_t *lun,
			uint64_t *extent)
{
	return parse_two(key, prefix, "al", lun, extent);
}

static bool stale_valid(const struct xp_rec_stale *st)
{
	unsigned int i;

	if (st->n == 0 || st->n > XP_REC_STALE_MAX)
		return false;
	for (i = 0; i < st->n; i++)
		if (!st->nodes[i] || (i && st->nodes[i] <= st->nodes[i - 1]))
			return false;
	return true;
}

int xp_rec_stale_encode(const struct xp_rec_stale *st, char **out)
{
	struct json_object *o, *a;
	unsigned int i;
	int bad = 0;

	if (!stale_valid(st))
		return -EINVAL;
	o = json_object_new_object();
	a = json_object_new_array();
	if (!o || !a) {
		json_object_put(o);
		json_object_put(a);
		return -ENOMEM;
	}
	for (i = 0; i < st->n; i++)
		bad |= json_object_array_add(
			a, json_object_new_int64(st->nodes[i]));
	bad |= json_object_object_add(o, "nodes", a);
	return finish(o, bad, out);
}

int xp_rec_stale_decode(const void *buf, size_t len, struct xp_rec_stale *st)
{
	struct json_object *o = parse_object(buf, len), *a, *v;
	struct xp_rec_stale r = {0};
	size_t i, n;
	int ret = -EINVAL;

	if (!o)
		return -EINVAL;
	if (!json_object_object_get_ex(o, "nodes", &a) ||
	    !json_object_is_type(a, json_type_array))
		goto out_put;
	n = json_object_array_length(a);
	if (n == 0 || n > XP_REC_STALE_MAX)
		goto out_put;
	for (i = 0; i < n; i++) {
		int64_t id;

		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_int))
			goto out_put;
		id = json_object_get_int64(v);
		if (id < 1 || id > UINT32_MAX)
			goto out_put;
		r.nodes[r.n++] = (uint32_t)id;
	}
	if (!stale_valid(&r))
		goto out_put;
	*st = r;
	ret = 0;
out_put:
	json_object_put(o);
	return ret;
}
