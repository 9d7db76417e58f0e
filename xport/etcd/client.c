/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd implementation of xp_kv (kv.h) over the v3 JSON gateway:
 *
 *   get        POST /v3/kv/range; a prefix in pages of XPE_PAGE keys,
 *              each next page from the last key + "\0" at the first
 *              page's revision, so the whole range is one revision
 *   txn        POST /v3/kv/txn (put and delete are txns, see kv.c)
 *   leases     POST /v3/lease/grant, /v3/lease/keepalive (one renewal:
 *              the stream ends after its one answer), /v3/lease/revoke
 *   watch      POST /v3/watch, a stream (watch.c)
 *
 * The handle is used by one thread at a time (kv.h); its curl handle
 * keeps the connections open between calls.
 */
#include "etcd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lib/util/errbuf.h"

/* A compaction between two pages makes the later one fail; the read
 * starts again this many times. */
#define XPE_RANGE_TRIES 3

static struct xpe_client *to_client(struct xp_kv *kv)
{
	return (struct xpe_client *)kv;
}

void xpe_set_page(struct xp_kv *kv, int64_t keys)
{
	to_client(kv)->page = keys >= 1 ? keys : 1;
}

/* One range exchange: @key..@end at @rev, at most @limit keys. */
static int range_once(struct xpe_client *c, const uint8_t *key, size_t klen,
		      const uint8_t *end, size_t elen, int64_t rev,
		      int64_t limit, struct xp_kv_list *out, bool *more)
{
	char *body;
	int ret;

	ret = xpe_body_range(key, klen, end, elen, rev, limit, &body);
	if (ret)
		return ret;
	ret = xpe_post(c, "/v3/kv/range", body, XPE_RETRY);
	free(body);
	if (ret)
		return ret;
	return xpe_parse_range(c->rb.p, c->rb.len, out, more);
}

/* Move the items of @page to the end of @out; they must sort after. */
static int list_append(struct xp_kv_list *out, struct xp_kv_list *page)
{
	struct xp_kv_item *items;

	if (!page->n)
		return 0;
	if (out->n &&
	    strcmp(out->items[out->n - 1].key, page->items[0].key) >= 0)
		return -EPROTO;
	items = realloc(out->items, (out->n + page->n) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	memcpy(items + out->n, page->items, page->n * sizeof(*items));
	out->items = items;
	out->n += page->n;
	free(page->items);
	memset(page, 0, sizeof(*page));
	return 0;
}

/* Every key under @prefix, page by page, at the first page's revision. */
static int range_prefix(struct xpe_client *c, const char *prefix,
			struct xp_kv_list *out)
{
	size_t plen = strlen(prefix), klen, elen;
	uint8_t key[XPE_KEY_MAX + 1], end[XPE_KEY_MAX];
	struct xp_kv_list page;
	const char *last;
	bool more = true;
	int ret;

	elen = xpe_prefix_end((const uint8_t *)prefix, plen, end);
	/* The empty prefix starts at "\0", etcd's "every key". */
	klen = plen ? plen : 1;
	memcpy(key, plen ? prefix : "", klen);
	while (more) {
		ret = range_once(c, key, klen, end, elen, out->rev, c->page,
				 &page, &more);
		if (ret)
			return ret;
		if (!out->rev)
			out->rev = page.rev;
		if (more && !page.n)
			ret = -EPROTO;
		if (!ret)
			ret = list_append(out, &page);
		xp_kv_list_free(&page);
		if (ret)
			return ret;
		if (more) {
			last = out->items[out->n - 1].key;
			klen = strlen(last) + 1;
			memcpy(key, last, klen); /* the key and its "\0" */
		}
	}
	return 0;
}

static int etcd_get(struct xp_kv *kv, const char *key, bool prefix,
		    struct xp_kv_list *out)
{
	struct xpe_client *c = to_client(kv);
	int ret, tries;
	bool more;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ret = xpe_key_check(key, prefix);
	if (ret)
		return ret;
	if (!prefix) {
		ret = range_once(c, (const uint8_t *)key, strlen(key), NULL, 0,
				 0, 0, out, &more);
		if (!ret && (more || out->n > 1 ||
			     (out->n && strcmp(out->items[0].key, key)))) {
			xp_kv_list_free(out);
			ret = -EPROTO;
		}
		return ret;
	}
	for (tries = 0; tries < XPE_RANGE_TRIES; tries++) {
		ret = range_prefix(c, key, out);
		if (ret)
			xp_kv_list_free(out);
		if (ret != -ERANGE)
			return ret;
	}
	return -EHOSTUNREACH;
}

static bool ops_write(const struct xp_kv_op *ops, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ops[i].kind != XP_KV_GET)
			return true;
	return false;
}

static int etcd_txn(struct xp_kv *kv, const struct xp_kv_cmp *cmp, size_t ncmp,
		    const struct xp_kv_op *ok, size_t nok,
		    const struct xp_kv_op *fail, size_t nfail,
		    struct xp_kv_txn_res *res)
{
	struct xpe_client *c = to_client(kv);
	struct xp_kv_txn_res local;
	enum xpe_kind kind;
	char *body;
	int ret;

	if (res)
		memset(res, 0, sizeof(*res));
	ret = xpe_body_txn(cmp, ncmp, ok, nok, fail, nfail, &body);
	if (ret)
		return ret;
	kind = ops_write(ok, nok) || ops_write(fail, nfail) ? XPE_ONCE
							    : XPE_RETRY;
	ret = xpe_post(c, "/v3/kv/txn", body, kind);
	free(body);
	if (ret)
		return ret;
	ret = xpe_parse_txn(c->rb.p, c->rb.len, ok, nok, fail, nfail,
			    res ? res : &local);
	if (!ret && !res)
		xp_kv_list_free(&local.got);
	return ret;
}

static int etcd_lease_grant(struct xp_kv *kv, int64_t ttl_s, int64_t *id,
			    int64_t *granted_ttl_s)
{
	struct xpe_client *c = to_client(kv);
	int64_t gid, gttl;
	char *body;
	int ret;

	if (!id)
		return -EINVAL;
	ret = xpe_body_lease_grant(ttl_s, &body);
	if (ret)
		return ret;
	/* A lease granted twice costs one that expires unused. */
	ret = xpe_post(c, "/v3/lease/grant", body, XPE_RETRY);
	free(body);
	if (!ret)
		ret = xpe_parse_lease_grant(c->rb.p, c->rb.len, &gid, &gttl);
	if (ret)
		return ret;
	*id = gid;
	if (granted_ttl_s)
		*granted_ttl_s = gttl;
	return 0;
}

static int etcd_lease_keepalive(struct xp_kv *kv, int64_t id,
				int64_t *ttl_left_s)
{
	struct xpe_client *c = to_client(kv);
	int64_t ttl;
	char *body;
	int ret;

	ret = xpe_body_lease_id(id, &body);
	if (ret)
		return ret;
	ret = xpe_post(c, "/v3/lease/keepalive", body, XPE_RETRY);
	free(body);
	if (!ret)
		ret = xpe_parse_keepalive(c->rb.p, c->rb.len, id, &ttl);
	if (ret)
		return ret;
	if (ttl_left_s)
		*ttl_left_s = ttl;
	return 0;
}

static int etcd_lease_revoke(struct xp_kv *kv, int64_t id)
{
	struct xpe_client *c = to_client(kv);
	int64_t rev;
	char *body;
	int ret;

	ret = xpe_body_lease_id(id, &body);
	if (ret)
		return ret;
	/* Revoking twice is revoking once: the second finds no lease. */
	ret = xpe_post(c, "/v3/lease/revoke", body, XPE_RETRY);
	free(body);
	if (!ret)
		ret = xpe_parse_header(c->rb.p, c->rb.len, &rev);
	return ret == -ENOENT ? 0 : ret;
}

static void etcd_close(struct xp_kv *kv)
{
	struct xpe_client *c = to_client(kv);

	curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	xpe_eps_free(&c->eps);
	free(c->rb.p);
	free(c);
}

static const struct xp_kv_ops etcd_ops = {
	.get = etcd_get,
	.txn = etcd_txn,
	.lease_grant = etcd_lease_grant,
	.lease_keepalive = etcd_lease_keepalive,
	.lease_revoke = etcd_lease_revoke,
	.watch_open = xpe_watch_open,
	.watch_next = xpe_watch_next,
	.watch_close = xpe_watch_close,
	.close = etcd_close,
};

int xp_etcd_open(const char *endpoints, unsigned int timeout_ms,
		 struct xp_kv **out, char *err, size_t errlen)
{
	struct xpe_client *c;
	int ret;

	*out = NULL;
	if (timeout_ms == 0) {
		sb_errf(err, errlen, "etcd timeout must be > 0 ms");
		return -EINVAL;
	}
	if (xpe_curl_global()) {
		sb_errf(err, errlen, "curl_global_init failed");
		return -ENOMEM;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out_nomem;
	ret = xpe_eps_parse(endpoints, &c->eps, err, errlen);
	if (ret) {
		free(c);
		return ret;
	}
	c->kv.ops = &etcd_ops;
	c->timeout_ms = timeout_ms;
	c->page = XPE_PAGE;
	c->rb.max = XPE_REPLY_MAX;
	c->hdrs = xpe_json_headers();
	c->easy = curl_easy_init();
	if (!c->hdrs || !c->easy ||
	    xpe_easy_setup(c->easy, &c->rb, c->hdrs, timeout_ms) ||
	    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms)) {
		etcd_close(&c->kv);
		goto out_nomem;
	}
	*out = &c->kv;
	return 0;

out_nomem:
	sb_errf(err, errlen, "etcd client: out of memory");
	return -ENOMEM;
}
