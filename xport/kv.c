/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of the cluster store's interface (kv.h) that every
 * implementation shares: unconditional put and delete as transactions
 * without compares, the argument checks of xp_kv_watch_next, and the
 * destructors of what the implementations hand out (all malloc'd).
 */
#include "kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void item_free(struct xp_kv_item *it)
{
	free(it->key);
	free(it->val);
}

void xp_kv_list_free(struct xp_kv_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		item_free(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void xp_kv_events_free(struct xp_kv_events *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++)
		item_free(&e->ev[i].kv);
	free(e->ev);
	memset(e, 0, sizeof(*e));
}

int xp_kv_put(struct xp_kv *kv, const char *key, const void *val, size_t vlen,
	      int64_t lease, int64_t *rev)
{
	struct xp_kv_op op = {
		.kind = XP_KV_PUT,
		.key = key,
		.val = val,
		.vlen = vlen,
		.lease = lease,
	};
	struct xp_kv_txn_res res;
	int ret;

	ret = xp_kv_txn(kv, NULL, 0, &op, 1, NULL, 0, &res);
	if (ret)
		return ret;
	if (rev)
		*rev = res.rev;
	xp_kv_list_free(&res.got);
	return 0;
}

int xp_kv_del(struct xp_kv *kv, const char *key, bool prefix, int64_t *rev)
{
	struct xp_kv_op op = {
		.kind = prefix ? XP_KV_DEL_PREFIX : XP_KV_DEL,
		.key = key,
	};
	struct xp_kv_txn_res res;
	int ret;

	ret = xp_kv_txn(kv, NULL, 0, &op, 1, NULL, 0, &res);
	if (ret)
		return ret;
	if (rev)
		*rev = res.rev;
	xp_kv_list_free(&res.got);
	return 0;
}

int xp_kv_watch_next(struct xp_kv_watch *w, int timeout_ms,
		     struct xp_kv_events *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!w || timeout_ms < 0)
		return -EINVAL;
	return w->ops->watch_next(w, timeout_ms, out);
}

void xp_kv_watch_close(struct xp_kv_watch *w)
{
	if (w)
		w->ops->watch_close(w);
}

void xp_kv_close(struct xp_kv *kv)
{
	if (kv)
		kv->ops->close(kv);
}
