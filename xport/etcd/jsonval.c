/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The codec's edge checks (see jsonval.h): every value read from an etcd
 * reply passes through one of these functions, which check its JSON type
 * and its range before anything else looks at it.
 */
#include "jsonval.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codec.h"

int xpe_json_parse(const char *body, size_t len, json_object **out)
{
	json_tokener *tok;
	json_object *o;
	size_t end;

	*out = NULL;
	if (!body || len == 0 || len > XPE_REPLY_MAX)
		return -EPROTO;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_ALLOW_TRAILING_CHARS);
	o = json_tokener_parse_ex(tok, body, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o)
		return -EPROTO;
	if (!json_object_is_type(o, json_type_object))
		goto out_bad;
	for (; end < len; end++)
		if (!strchr(" \t\r\n", body[end]) || !body[end])
			goto out_bad;
	*out = o;
	return 0;

out_bad:
	json_object_put(o);
	return -EPROTO;
}

int xpe_get_obj(json_object *o, const char *name, bool required,
		json_object **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return required ? -EPROTO : 0;
	if (!json_object_is_type(v, json_type_object))
		return -EPROTO;
	*out = v;
	return 0;
}

int xpe_get_arr(json_object *o, const char *name, json_object **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return -EPROTO;
	*out = v;
	return 0;
}

int xpe_get_str(json_object *o, const char *name, const char **s, size_t *len)
{
	json_object *v;

	*s = NULL;
	*len = 0;
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EPROTO;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 0;
}

int xpe_i64_parse(const char *s, size_t n, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	/* 19 digits never wrap a uint64; the range is int64's. */
	if (v > (uint64_t)INT64_MAX)
		return -EPROTO;
	*out = (int64_t)v;
	return 0;
}

int xpe_get_i64(json_object *o, const char *name, bool required, int64_t *out)
{
	const char *s;
	size_t n;
	int ret;

	*out = 0;
	ret = xpe_get_str(o, name, &s, &n);
	if (ret)
		return ret;
	if (!s)
		return required ? -EPROTO : 0;
	return xpe_i64_parse(s, n, out);
}

int xpe_get_bool(json_object *o, const char *name, bool *out)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, name, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EPROTO;
	*out = json_object_get_boolean(v);
	return 0;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int xpe_b64_decode(const char *s, size_t slen, size_t max, uint8_t **out,
		   size_t *n)
{
	size_t pad = 0, i, dlen;
	uint8_t *buf;

	*out = NULL;
	*n = 0;
	if (slen % 4 || slen / 4 > (max + 2) / 3)
		return -EPROTO;
	while (pad < 2 && pad < slen && s[slen - 1 - pad] == '=')
		pad++;
	for (i = 0; i < slen - pad; i++)
		if (!b64_char(s[i]))
			return -EPROTO;
	dlen = slen / 4 * 3 - pad;
	if (dlen > max)
		return -EPROTO;
	buf = malloc(slen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	if (slen && EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen) !=
			    (int)(slen / 4 * 3)) {
		free(buf);
		return -EPROTO;
	}
	buf[dlen] = '\0';
	*out = buf;
	*n = dlen;
	return 0;
}

int xpe_b64_encode(const void *p, size_t n, char **out)
{
	char *buf;

	*out = NULL;
	if (n > (size_t)INT_MAX / 4 * 3 - 3)
		return -EINVAL;
	buf = malloc((n + 2) / 3 * 4 + 1);
	if (!buf)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)buf, p, (int)n);
	*out = buf;
	return 0;
}

int xpe_get_bytes(json_object *o, const char *name, size_t max, uint8_t **out,
		  size_t *n)
{
	const char *s;
	size_t slen;
	int ret;

	ret = xpe_get_str(o, name, &s, &slen);
	if (ret)
		return ret;
	return xpe_b64_decode(s ? s : "", slen, max, out, n);
}

int xpe_header_rev(json_object *o, bool required, int64_t *rev)
{
	json_object *h;
	int ret;

	*rev = 0;
	ret = xpe_get_obj(o, "header", true, &h);
	if (ret)
		return ret;
	ret = xpe_get_i64(h, "revision", required, rev);
	if (ret)
		return ret;
	if (required && *rev < 1)
		return -EPROTO;
	return 0;
}

void xpe_item_clear(struct xp_kv_item *it)
{
	free(it->key);
	free(it->val);
	memset(it, 0, sizeof(*it));
}

int xpe_item_decode(json_object *kv, struct xp_kv_item *it)
{
	uint8_t *key;
	size_t klen;
	int ret;

	memset(it, 0, sizeof(*it));
	ret = xpe_get_bytes(kv, "key", XPE_KEY_MAX, &key, &klen);
	if (ret)
		return ret;
	it->key = (char *)key;
	if (klen == 0 || memchr(key, '\0', klen))
		goto out_bad;
	ret = xpe_get_bytes(kv, "value", XPE_VAL_MAX, &it->val, &it->vlen);
	if (ret)
		goto out_clear;
	if (xpe_get_i64(kv, "create_revision", false, &it->create_rev) ||
	    xpe_get_i64(kv, "mod_revision", false, &it->mod_rev) ||
	    xpe_get_i64(kv, "version", false, &it->version) ||
	    xpe_get_i64(kv, "lease", false, &it->lease))
		goto out_bad;
	return 0;

out_bad:
	ret = -EPROTO;
out_clear:
	xpe_item_clear(it);
	return ret;
}

int xpe_list_push(struct xp_kv_list *l, size_t *cap, struct xp_kv_item *it)
{
	struct xp_kv_item *items;
	size_t ncap;

	if (l->n == *cap) {
		ncap = *cap ? *cap * 2 : 8;
		items = realloc(l->items, ncap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		l->items = items;
		*cap = ncap;
	}
	l->items[l->n++] = *it;
	memset(it, 0, sizeof(*it));
	return 0;
}

/* gRPC status codes the gateway passes on. */
enum {
	GRPC_CANCELED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
};

int xpe_grpc_errno(int64_t code)
{
	switch (code) {
	case GRPC_NOT_FOUND:
		return -ENOENT;
	case GRPC_INVALID_ARGUMENT:
		return -EINVAL;
	case GRPC_OUT_OF_RANGE:
		return -ERANGE;
	case GRPC_CANCELED:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_UNAVAILABLE:
		return -EAGAIN;
	}
	return -EPROTO;
}

int xpe_stream_error(json_object *e, int64_t *code)
{
	json_object *c;

	*code = 0;
	if (!json_object_object_get_ex(e, "grpc_code", &c) || !c ||
	    !json_object_is_type(c, json_type_int))
		return -EPROTO;
	*code = json_object_get_int64(c);
	if (*code < 1 || *code > XPE_GRPC_MAX)
		return -EPROTO;
	return 0;
}
