/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-memory cluster store (see fake_kv.h). State, all under
 * store->mu:
 *
 *   keys     the live keys, sorted by key (strcmp: bytewise, as etcd)
 *   hist     every change since the compacted revision, in revision
 *            order, kept further back while an open watch still needs it
 *   leases   id, TTL, expiry on the fake clock
 *   watches  open watches, each with the next revision it will deliver
 *
 * store->cond is broadcast on every new revision and when the store goes
 * down, so blocked xp_kv_watch_next calls look again.
 */
#include "fake_kv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util/list.h"

#define FKV_KEY_MAX 4096u
#define FKV_VAL_MAX (16u << 20)
#define FKV_TTL_MAX 9000000000ll
#define FKV_FIRST_LEASE 0x7a11000000000001ll

struct fkv_ev {
	int64_t rev;
	enum xp_kv_evtype type;
	struct xp_kv_item it; /* owned; DELETE: key and mod_rev */
};

struct fkv_lease {
	int64_t id;
	int64_t ttl_s;
	int64_t expire_ms; /* on the fake clock */
};

struct fake_kv_store {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	int64_t rev;
	int64_t compact_rev; /* oldest revision still readable, 0: none */
	int64_t now_ms; /* the fake clock */
	bool down;
	unsigned int live; /* handles and watches open */
	struct xp_kv_item *keys;
	size_t nkeys, capkeys;
	struct fkv_ev *hist;
	size_t nhist, caphist;
	struct fkv_lease *leases;
	size_t nleases, capleases;
	int64_t next_lease;
	struct sb_list watches; /* struct fkv_watch.link */
};

struct fkv_handle {
	struct xp_kv kv; /* first */
	struct fake_kv_store *s;
};

struct fkv_watch {
	struct xp_kv_watch w; /* first */
	struct fake_kv_store *s;
	struct sb_list link; /* on s->watches */
	char *prefix;
	int64_t next; /* first revision not yet delivered */
	int end; /* 0 while open, else what watch_next returns */
	int64_t end_rev; /* -ERANGE: the compacted revision */
};

static const struct xp_kv_ops fkv_ops;

/* ---- items and arrays ---------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void item_free(struct xp_kv_item *it)
{
	free(it->key);
	free(it->val);
	memset(it, 0, sizeof(*it));
}

/* A deep copy of @from (with its value unless @key_only). */
static int item_copy(struct xp_kv_item *to, const struct xp_kv_item *from,
		     bool key_only)
{
	*to = *from;
	to->key = strdup(from->key);
	to->val = malloc(key_only ? 1 : from->vlen + 1);
	if (!to->key || !to->val) {
		item_free(to);
		return -ENOMEM;
	}
	if (key_only) {
		to->vlen = 0;
		to->create_rev = 0;
		to->version = 0;
		to->lease = 0;
	} else {
		memcpy(to->val, from->val, from->vlen);
	}
	to->val[to->vlen] = '\0';
	return 0;
}

/* Index of @key in s->keys, or where it would go (*found false). */
static size_t key_find(struct fake_kv_store *s, const char *key, bool *found)
{
	size_t lo = 0, hi = s->nkeys, mid;
	int c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(s->keys[mid].key, key);
		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool has_prefix(const char *key, const char *prefix)
{
	return !strncmp(key, prefix, strlen(prefix));
}

static struct fkv_lease *lease_find(struct fake_kv_store *s, int64_t id)
{
	size_t i;

	for (i = 0; i < s->nleases; i++)
		if (s->leases[i].id == id)
			return &s->leases[i];
	return NULL;
}

/* ---- writes: every change at revision s->rev + 1 --------------------------- */

static int hist_add(struct fake_kv_store *s, enum xp_kv_evtype type,
		    const struct xp_kv_item *it)
{
	struct fkv_ev *ev;
	int ret;

	ret = grow((void **)&s->hist, &s->caphist, s->nhist + 1,
		   sizeof(*s->hist));
	if (ret)
		return ret;
	ev = &s->hist[s->nhist];
	ev->rev = s->rev + 1;
	ev->type = type;
	ret = item_copy(&ev->it, it, type == XP_KV_EV_DELETE);
	if (!ret)
		s->nhist++;
	return ret;
}

static int key_put(struct fake_kv_store *s, const struct xp_kv_op *op)
{
	struct xp_kv_item *it, nit = {0};
	size_t i;
	bool found;
	int ret;

	i = key_find(s, op->key, &found);
	nit.val = malloc(op->vlen + 1);
	if (!nit.val)
		return -ENOMEM;
	memcpy(nit.val, op->val ? op->val : "", op->vlen);
	nit.val[op->vlen] = '\0';
	if (!found) {
		nit.key = strdup(op->key);
		ret = nit.key ? grow((void **)&s->keys, &s->capkeys,
				     s->nkeys + 1, sizeof(*s->keys))
			      : -ENOMEM;
		if (ret) {
			item_free(&nit);
			return ret;
		}
		memmove(&s->keys[i + 1], &s->keys[i],
			(s->nkeys - i) * sizeof(*s->keys));
		s->nkeys++;
		nit.create_rev = s->rev + 1;
		s->keys[i] = nit;
	} else {
		free(s->keys[i].val);
		s->keys[i].val = nit.val;
	}
	it = &s->keys[i];
	it->vlen = op->vlen;
	it->mod_rev = s->rev + 1;
	it->version++;
	it->lease = op->lease;
	return hist_add(s, XP_KV_EV_PUT, it);
}

/* Delete key @i (its DELETE event first). */
static int key_del_at(struct fake_kv_store *s, size_t i)
{
	int ret;

	s->keys[i].mod_rev = s->rev + 1;
	ret = hist_add(s, XP_KV_EV_DELETE, &s->keys[i]);
	if (ret)
		return ret;
	item_free(&s->keys[i]);
	memmove(&s->keys[i], &s->keys[i + 1],
		(s->nkeys - i - 1) * sizeof(*s->keys));
	s->nkeys--;
	return 0;
}

/* Delete @key, or every key under it: how many went, or -ENOMEM. */
static long key_del(struct fake_kv_store *s, const char *key, bool prefix)
{
	long n = 0;
	size_t i;
	bool found;
	int ret;

	i = key_find(s, key, &found);
	if (!prefix) {
		if (!found)
			return 0;
		ret = key_del_at(s, i);
		return ret ? ret : 1;
	}
	while (i < s->nkeys && has_prefix(s->keys[i].key, key)) {
		ret = key_del_at(s, i);
		if (ret)
			return ret;
		n++;
	}
	return n;
}

/* A write transaction that changed something ends: the new revision. */
static void rev_commit(struct fake_kv_store *s)
{
	s->rev++;
	pthread_cond_broadcast(&s->cond);
}

/* Revoke lease @l: its keys go in one revision. */
static int lease_revoke_locked(struct fake_kv_store *s, struct fkv_lease *l)
{
	int64_t id = l->id;
	bool changed = false;
	size_t i = 0;
	int ret;

	*l = s->leases[--s->nleases];
	while (i < s->nkeys) {
		if (s->keys[i].lease != id) {
			i++;
			continue;
		}
		ret = key_del_at(s, i);
		if (ret)
			return ret;
		changed = true;
	}
	if (changed)
		rev_commit(s);
	return 0;
}

/* ---- the store's own controls ------------------------------------------- */

struct fake_kv_store *fake_kv_store_new(void)
{
	struct fake_kv_store *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->rev = 1;
	s->next_lease = FKV_FIRST_LEASE;
	sb_list_init(&s->watches);
	return s;
}

int fake_kv_store_free(struct fake_kv_store *s)
{
	size_t i;

	if (!s)
		return 0;
	if (s->live)
		return -EBUSY;
	for (i = 0; i < s->nkeys; i++)
		item_free(&s->keys[i]);
	for (i = 0; i < s->nhist; i++)
		item_free(&s->hist[i].it);
	free(s->keys);
	free(s->hist);
	free(s->leases);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return 0;
}

void fake_kv_advance(struct fake_kv_store *s, int64_t ms)
{
	struct fkv_lease *first;
	size_t i;

	pthread_mutex_lock(&s->mu);
	s->now_ms += ms;
	for (;;) {
		first = NULL;
		for (i = 0; i < s->nleases; i++)
			if (s->leases[i].expire_ms <= s->now_ms &&
			    (!first ||
			     s->leases[i].expire_ms < first->expire_ms))
				first = &s->leases[i];
		if (!first || lease_revoke_locked(s, first))
			break;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Drop history no open watch needs and compaction no longer keeps. */
static void hist_trim(struct fake_kv_store *s)
{
	int64_t keep = s->compact_rev;
	struct sb_list *pos;
	size_t i, n = 0;

	sb_list_for_each(pos, &s->watches) {
		struct fkv_watch *w =
			sb_list_entry(pos, struct fkv_watch, link);

		if (!w->end && w->next < keep)
			keep = w->next;
	}
	while (n < s->nhist && s->hist[n].rev < keep)
		n++;
	for (i = 0; i < n; i++)
		item_free(&s->hist[i].it);
	memmove(s->hist, s->hist + n, (s->nhist - n) * sizeof(*s->hist));
	s->nhist -= n;
}

int fake_kv_compact(struct fake_kv_store *s, int64_t rev)
{
	int ret = 0;

	pthread_mutex_lock(&s->mu);
	if (rev <= s->compact_rev || rev < 2 || rev > s->rev) {
		ret = -EINVAL;
	} else {
		s->compact_rev = rev;
		hist_trim(s);
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

void fake_kv_set_down(struct fake_kv_store *s, bool down)
{
	struct sb_list *pos;

	pthread_mutex_lock(&s->mu);
	s->down = down;
	if (down) {
		sb_list_for_each(pos, &s->watches) {
			struct fkv_watch *w =
				sb_list_entry(pos, struct fkv_watch, link);

			if (!w->end)
				w->end = -EHOSTUNREACH;
		}
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->mu);
}

int64_t fake_kv_rev(struct fake_kv_store *s)
{
	int64_t rev;

	pthread_mutex_lock(&s->mu);
	rev = s->rev;
	pthread_mutex_unlock(&s->mu);
	return rev;
}

unsigned int fake_kv_live(struct fake_kv_store *s)
{
	unsigned int n;

	pthread_mutex_lock(&s->mu);
	n = s->live;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int fake_kv_open(struct fake_kv_store *s, struct xp_kv **out)
{
	struct fkv_handle *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->kv.ops = &fkv_ops;
	h->s = s;
	pthread_mutex_lock(&s->mu);
	s->live++;
	pthread_mutex_unlock(&s->mu);
	*out = &h->kv;
	return 0;
}

/* ---- the ops table --------------------------------------------------------- */

static struct fake_kv_store *store_of(struct xp_kv *kv)
{
	return ((struct fkv_handle *)kv)->s;
}

static bool key_ok(const char *key, bool prefix)
{
	size_t n;

	if (!key)
		return false;
	n = strnlen(key, FKV_KEY_MAX + 1);
	return n <= FKV_KEY_MAX && (n || prefix);
}

static int list_add(struct xp_kv_list *l, const struct xp_kv_item *it)
{
	int ret;
	size_t cap = l->n; /* grown one at a time: tests read little */

	ret = grow((void **)&l->items, &cap, l->n + 1, sizeof(*l->items));
	if (!ret)
		ret = item_copy(&l->items[l->n], it, false);
	if (!ret)
		l->n++;
	return ret;
}

static int fkv_get(struct xp_kv *kv, const char *key, bool prefix,
		   struct xp_kv_list *out)
{
	struct fake_kv_store *s = store_of(kv);
	size_t i;
	bool found;
	int ret = 0;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!key_ok(key, prefix))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->down) {
		ret = -EHOSTUNREACH;
		goto out_unlock;
	}
	out->rev = s->rev;
	i = key_find(s, key, &found);
	if (!prefix) {
		if (found)
			ret = list_add(out, &s->keys[i]);
		goto out_unlock;
	}
	for (; !ret && i < s->nkeys && has_prefix(s->keys[i].key, key); i++)
		ret = list_add(out, &s->keys[i]);
out_unlock:
	pthread_mutex_unlock(&s->mu);
	if (ret)
		xp_kv_list_free(out);
	return ret;
}

/* Whether compare @c holds, as etcd decides it. */
static bool cmp_holds(struct fake_kv_store *s, const struct xp_kv_cmp *c)
{
	const struct xp_kv_item zero = {.val = (uint8_t *)""};
	const struct xp_kv_item *it = &zero;
	size_t i, n;
	int64_t have = 0;
	bool found;
	int r;

	i = key_find(s, c->key, &found);
	if (found)
		it = &s->keys[i];
	else if (c->target == XP_KV_VALUE)
		return false; /* etcd: a value compare on no key fails */
	switch (c->target) {
	case XP_KV_VERSION:
		have = it->version;
		break;
	case XP_KV_CREATE:
		have = it->create_rev;
		break;
	case XP_KV_MOD:
		have = it->mod_rev;
		break;
	case XP_KV_LEASE:
		have = it->lease;
		break;
	case XP_KV_VALUE:
		break;
	}
	if (c->target == XP_KV_VALUE) {
		n = it->vlen < c->vlen ? it->vlen : c->vlen;
		r = n ? memcmp(it->val, c->val, n) : 0;
		if (!r)
			r = it->vlen < c->vlen ? -1 : it->vlen > c->vlen;
	} else {
		r = have < c->num ? -1 : have > c->num;
	}
	switch (c->result) {
	case XP_KV_EQ:
		return r == 0;
	case XP_KV_NE:
		return r != 0;
	case XP_KV_GT:
		return r > 0;
	case XP_KV_LT:
		return r < 0;
	}
	return false;
}

/* etcd refuses a branch that puts a key twice or puts into a range it
 * deletes (-EINVAL), and a PUT to a lease it does not have (-ENOENT). */
static int branch_check(struct fake_kv_store *s, const struct xp_kv_op *ops,
			size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (ops[i].kind != XP_KV_PUT)
			continue;
		for (j = 0; j < n; j++) {
			if (j == i || ops[j].kind == XP_KV_GET)
				continue;
			if (ops[j].kind == XP_KV_DEL_PREFIX
				    ? has_prefix(ops[i].key, ops[j].key)
				    : !strcmp(ops[i].key, ops[j].key))
				return -EINVAL;
		}
	}
	for (i = 0; i < n; i++)
		if (ops[i].kind == XP_KV_PUT && ops[i].lease &&
		    !lease_find(s, ops[i].lease))
			return -ENOENT;
	return 0;
}

static int cmp_items(const void *a, const void *b)
{
	const struct xp_kv_item *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Run @ops in order: whether they changed something, or -ENOMEM. */
static int branch_apply(struct fake_kv_store *s, const struct xp_kv_op *ops,
			size_t n, struct xp_kv_list *got, bool *changed)
{
	size_t i, k;
	bool found;
	long del;
	int ret = 0;

	for (i = 0; !ret && i < n; i++) {
		switch (ops[i].kind) {
		case XP_KV_PUT:
			ret = key_put(s, &ops[i]);
			*changed = true;
			break;
		case XP_KV_DEL:
		case XP_KV_DEL_PREFIX:
			del = key_del(s, ops[i].key,
				      ops[i].kind == XP_KV_DEL_PREFIX);
			if (del < 0)
				ret = (int)del;
			else if (del)
				*changed = true;
			break;
		case XP_KV_GET:
			k = key_find(s, ops[i].key, &found);
			if (found)
				ret = list_add(got, &s->keys[k]);
			break;
		}
	}
	return ret;
}

static int fkv_txn(struct xp_kv *kv, const struct xp_kv_cmp *cmp, size_t ncmp,
		   const struct xp_kv_op *ok, size_t nok,
		   const struct xp_kv_op *fail, size_t nfail,
		   struct xp_kv_txn_res *res)
{
	struct fake_kv_store *s = store_of(kv);
	struct xp_kv_list got = {0};
	bool held = true, changed = false;
	size_t i;
	int ret;

	if (res)
		memset(res, 0, sizeof(*res));
	ret = xp_kv_txn_check(cmp, ncmp, ok, nok, fail, nfail, FKV_KEY_MAX,
			      FKV_VAL_MAX);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->mu);
	if (s->down) {
		ret = -EHOSTUNREACH;
		goto out_unlock;
	}
	for (i = 0; i < ncmp && held; i++)
		held = cmp_holds(s, &cmp[i]);
	ret = branch_check(s, held ? ok : fail, held ? nok : nfail);
	if (!ret)
		ret = branch_apply(s, held ? ok : fail, held ? nok : nfail,
				   &got, &changed);
	if (changed)
		rev_commit(s);
	if (!ret && res) {
		res->succeeded = held;
		res->rev = s->rev;
		got.rev = s->rev;
		if (got.n > 1)
			qsort(got.items, got.n, sizeof(*got.items), cmp_items);
		res->got = got;
		memset(&got, 0, sizeof(got));
	}
out_unlock:
	pthread_mutex_unlock(&s->mu);
	xp_kv_list_free(&got);
	return ret;
}

static int fkv_lease_grant(struct xp_kv *kv, int64_t ttl_s, int64_t *id,
			   int64_t *granted_ttl_s)
{
	struct fake_kv_store *s = store_of(kv);
	struct fkv_lease *l;
	int ret = 0;

	if (!id || ttl_s < 1 || ttl_s > FKV_TTL_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->down)
		ret = -EHOSTUNREACH;
	else
		ret = grow((void **)&s->leases, &s->capleases, s->nleases + 1,
			   sizeof(*s->leases));
	if (!ret) {
		l = &s->leases[s->nleases++];
		l->id = s->next_lease++;
		l->ttl_s = ttl_s;
		l->expire_ms = s->now_ms + ttl_s * 1000;
		*id = l->id;
		if (granted_ttl_s)
			*granted_ttl_s = ttl_s;
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* Keep lease @id alive (its TTL in *@ttl_left_s) or revoke it (@revoke:
 * a lease not found is no error then). */
static int lease_touch(struct xp_kv *kv, int64_t id, bool revoke,
		       int64_t *ttl_left_s)
{
	struct fake_kv_store *s = store_of(kv);
	struct fkv_lease *l;
	int ret = 0;

	if (id < 1)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	l = lease_find(s, id);
	if (s->down) {
		ret = -EHOSTUNREACH;
	} else if (revoke) {
		if (l)
			ret = lease_revoke_locked(s, l);
	} else if (!l) {
		ret = -ENOENT;
	} else {
		l->expire_ms = s->now_ms + l->ttl_s * 1000;
		if (ttl_left_s)
			*ttl_left_s = l->ttl_s;
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

static int fkv_lease_keepalive(struct xp_kv *kv, int64_t id,
			       int64_t *ttl_left_s)
{
	return lease_touch(kv, id, false, ttl_left_s);
}

static int fkv_lease_revoke(struct xp_kv *kv, int64_t id)
{
	return lease_touch(kv, id, true, NULL);
}

static int fkv_watch_open(struct xp_kv *kv, const char *prefix,
			  int64_t start_rev, struct xp_kv_watch **out)
{
	struct fake_kv_store *s = store_of(kv);
	struct fkv_watch *w;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!key_ok(prefix, true) || start_rev < 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->prefix = strdup(prefix))) {
		free(w);
		return -ENOMEM;
	}
	w->w.ops = &fkv_ops;
	w->s = s;
	pthread_mutex_lock(&s->mu);
	if (s->down) {
		pthread_mutex_unlock(&s->mu);
		free(w->prefix);
		free(w);
		return -EHOSTUNREACH;
	}
	w->next = start_rev ? start_rev : s->rev + 1;
	if (start_rev && start_rev < s->compact_rev) {
		w->end = -ERANGE;
		w->end_rev = s->compact_rev;
	}
	sb_list_add_tail(&s->watches, &w->link);
	s->live++;
	pthread_mutex_unlock(&s->mu);
	*out = &w->w;
	return 0;
}

/* The events @w has not had yet, into @out; @w is then caught up. */
static int watch_collect(struct fake_kv_store *s, struct fkv_watch *w,
			 struct xp_kv_events *out)
{
	size_t i, n = 0;
	int ret;

	for (i = 0; i < s->nhist; i++)
		if (s->hist[i].rev >= w->next &&
		    has_prefix(s->hist[i].it.key, w->prefix))
			n++;
	if (n) {
		out->ev = calloc(n, sizeof(*out->ev));
		if (!out->ev)
			return -ENOMEM;
	}
	for (i = 0; i < s->nhist && out->n < n; i++) {
		const struct fkv_ev *h = &s->hist[i];

		if (h->rev < w->next || !has_prefix(h->it.key, w->prefix))
			continue;
		ret = item_copy(&out->ev[out->n].kv, &h->it,
				h->type == XP_KV_EV_DELETE);
		if (ret)
			return ret;
		out->ev[out->n].type = h->type;
		out->rev = h->rev;
		out->n++;
	}
	if (s->rev + 1 > w->next)
		w->next = s->rev + 1;
	return 0;
}

static int fkv_watch_next(struct xp_kv_watch *kw, int timeout_ms,
			  struct xp_kv_events *out)
{
	struct fkv_watch *w = (struct fkv_watch *)kw;
	struct fake_kv_store *s = w->s;
	bool timed_out = false;
	struct timespec dl;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (w->end) {
			ret = w->end;
			if (ret == -ERANGE)
				out->rev = w->end_rev;
			break;
		}
		ret = watch_collect(s, w, out);
		if (ret || out->n || timed_out)
			break;
		timed_out = pthread_cond_timedwait(&s->cond, &s->mu, &dl) ==
			    ETIMEDOUT;
	}
	pthread_mutex_unlock(&s->mu);
	if (ret)
		xp_kv_events_free(out);
	if (ret == -ERANGE)
		out->rev = w->end_rev;
	return ret;
}

static void fkv_watch_close(struct xp_kv_watch *kw)
{
	struct fkv_watch *w = (struct fkv_watch *)kw;
	struct fake_kv_store *s = w->s;

	pthread_mutex_lock(&s->mu);
	sb_list_del(&w->link);
	s->live--;
	hist_trim(s);
	pthread_mutex_unlock(&s->mu);
	free(w->prefix);
	free(w);
}

static void fkv_close(struct xp_kv *kv)
{
	struct fake_kv_store *s = store_of(kv);

	pthread_mutex_lock(&s->mu);
	s->live--;
	pthread_mutex_unlock(&s->mu);
	free(kv);
}

static const struct xp_kv_ops fkv_ops = {
	.get = fkv_get,
	.txn = fkv_txn,
	.lease_grant = fkv_lease_grant,
	.lease_keepalive = fkv_lease_keepalive,
	.lease_revoke = fkv_lease_revoke,
	.watch_open = fkv_watch_open,
	.watch_next = fkv_watch_next,
	.watch_close = fkv_watch_close,
	.close = fkv_close,
};
