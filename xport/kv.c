/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of the cluster store's interface (kv.h) that every
 * implementation shares: unconditional put and delete as transactions
 * without compares, the argument checks of a transaction and of
 * xp_kv_watch_next, and the destructors of what the implementations hand out (all malloc'd).
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

static int key_check(const char *key, bool prefix, size_t key_max)
{
	size_t n;

	if (!key)
		return -EINVAL;
	n = strnlen(key, key_max + 1);
	if (n > key_max || (n == 0 && !prefix))
		return -EINVAL;
	return 0;
}

static int cmp_check(const struct xp_kv_cmp *c, size_t key_max, size_t val_max)
{
	if (key_check(c->key, false, key_max) ||
	    (unsigned int)c->target > XP_KV_LEASE ||
	    (unsigned int)c->result > XP_KV_LT)
		return -EINVAL;
	if (c->target == XP_KV_VALUE &&
	    ((c->vlen && !c->val) || c->vlen > val_max))
		return -EINVAL;
	return 0;
}

static int op_check(const struct xp_kv_op *op, size_t key_max, size_t val_max)
{
	if (key_check(op->key, op->kind == XP_KV_DEL_PREFIX, key_max))
		return -EINVAL;
	switch (op->kind) {
	case XP_KV_PUT:
		if ((op->vlen && !op->val) || op->vlen > val_max ||
		    op->lease < 0)
			return -EINVAL;
		return 0;
	case XP_KV_DEL:
	case XP_KV_DEL_PREFIX:
	case XP_KV_GET:
		return 0;
	}
	return -EINVAL;
}

int xp_kv_txn_check(const struct xp_kv_cmp *cmp, size_t ncmp,
		    const struct xp_kv_op *ok, size_t nok,
		    const struct xp_kv_op *fail, size_t nfail, size_t key_max,
		    size_t val_max)
{
	size_t i;

	if (ncmp > XP_KV_TXN_MAX || nok > XP_KV_TXN_MAX ||
	    nfail > XP_KV_TXN_MAX || (ncmp && !cmp) || (nok && !ok) ||
	    (nfail && !fail))
		return -EINVAL;
	for (i = 0; i < ncmp; i++)
		if (cmp_check(&cmp[i], key_max, val_max))
			return -EINVAL;
	for (i = 0; i < nok; i++)
		if (op_check(&ok[i], key_max, val_max))
			return -EINVAL;
	for (i = 0; i < nfail; i++)
		if (op_check(&fail[i], key_max, val_max))
			return -EINVAL;
	return 0;
}

/* @op alone, unconditionally; the store's revision after it in *@rev. */
static int txn_one(struct xp_kv *kv, const struct xp_kv_op *op, int64_t *rev)
{
	struct xp_kv_txn_res res;
	int ret;

	ret = xp_kv_txn(kv, NULL, 0, op, 1, NULL, 0, &res);
	if (ret)
		return ret;
	if (rev)
		*rev = res.rev;
	xp_kv_list_free(&res.got);
	return 0;
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

	return txn_one(kv, &op, rev);
}

int xp_kv_del(struct xp_kv *kv, const char *key, bool prefix, int64_t *rev)
{
	struct xp_kv_op op = {
		.kind = prefix ? XP_KV_DEL_PREFIX : XP_KV_DEL,
		.key = key,
	};

	return txn_one(kv, &op, rev);
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
