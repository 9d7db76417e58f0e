/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_kv: the cluster store, the subset of etcd v3 that spanblk uses (ranges,
 * transactions with compares, leases, watches), behind one narrow
 * interface. Two implementations: etcd over its v3 JSON gateway
 * (xport/etcd/, libcurl and json-c, the only code that speaks to etcd) and
 * an in-memory store for tests (tests/common/fake_kv.[ch]). The state it
 * holds and why is docs/recovery.md.
 *
 * A handle is used by one thread at a time (a handle owns one HTTP
 * connection cache); a program that talks to the store from two threads
 * opens two handles. Calls block for at most the handle's timeout per
 * endpoint and return 0 or a negative errno:
 *   -EHOSTUNREACH  no endpoint answered (store unreachable: retry later,
 *                  never guess)
 *   -EPROTO        an answer that does not parse or contradicts the API
 *   -ENOENT        lease not found (expired or revoked)
 *   -ENOMEM, -EINVAL (bad arguments), -ECANCELED (watch canceled by the
 *   store), -ERANGE (watch start revision compacted; see xp_kv_watch_next)
 *
 * Keys are NUL-terminated text without NUL bytes; values are bytes.
 * Revisions, versions and lease ids are etcd's int64s.
 */
#ifndef SPANBLK_XPORT_KV_H
#define SPANBLK_XPORT_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xp_kv;
struct xp_kv_watch;

/* One key as read: the list that holds it owns every pointer. */
struct xp_kv_item {
	char *key; /* NUL-terminated */
	uint8_t *val; /* vlen bytes, followed by a NUL not counted in vlen */
	size_t vlen;
	int64_t create_rev; /* revision that created it */
	int64_t mod_rev; /* revision of its last change */
	int64_t version; /* changes since created, 1 for a new key */
	int64_t lease; /* lease it is bound to, 0 none */
};

/* The result of a read: items sorted by key, all at store revision @rev. */
struct xp_kv_list {
	struct xp_kv_item *items;
	size_t n;
	int64_t rev;
};

void xp_kv_list_free(struct xp_kv_list *l); /* frees the items; NULL ok */

/* What a compare looks at (etcd's Compare.target). */
enum xp_kv_target {
	XP_KV_VERSION, /* num; 0 = the key does not exist */
	XP_KV_CREATE, /* num: create revision */
	XP_KV_MOD, /* num: mod revision */
	XP_KV_VALUE, /* val, vlen */
	XP_KV_LEASE, /* num: lease id */
};

enum xp_kv_result { XP_KV_EQ, XP_KV_NE, XP_KV_GT, XP_KV_LT };

struct xp_kv_cmp {
	const char *key;
	enum xp_kv_target target;
	enum xp_kv_result result;
	int64_t num;
	const void *val;
	size_t vlen;
};

enum xp_kv_opkind {
	XP_KV_PUT, /* key = val, bound to lease (0: none) */
	XP_KV_DEL, /* key */
	XP_KV_DEL_PREFIX, /* every key that starts with key */
	XP_KV_GET, /* key: its item joins the result's list if present */
};

struct xp_kv_op {
	enum xp_kv_opkind kind;
	const char *key;
	const void *val;
	size_t vlen;
	int64_t lease;
};

/* At most this many compares, and ops per branch (etcd's default limit). */
#define XP_KV_TXN_MAX 128

struct xp_kv_txn_res {
	bool succeeded; /* every compare held: the success ops ran */
	int64_t rev; /* store revision after the transaction */
	struct xp_kv_list got; /* items of the GET ops of the branch that ran,
				* as the list's rule says: sorted by key */
};

enum xp_kv_evtype { XP_KV_EV_PUT, XP_KV_EV_DELETE };

struct xp_kv_event {
	enum xp_kv_evtype type;
	struct xp_kv_item kv; /* DELETE: key and mod_rev only */
};

/* A batch of events from one watch, all owned by the batch. */
struct xp_kv_events {
	struct xp_kv_event *ev;
	size_t n;
	int64_t rev; /* store revision the batch brings the watcher to */
};

void xp_kv_events_free(struct xp_kv_events *e); /* NULL ok */

/*
 * The implementation's table. Every implementation fills all of it;
 * callers use the xp_kv_* wrappers below.
 */
struct xp_kv_ops {
	int (*get)(struct xp_kv *kv, const char *key, bool prefix,
		   struct xp_kv_list *out);
	int (*txn)(struct xp_kv *kv, const struct xp_kv_cmp *cmp, size_t ncmp,
		   const struct xp_kv_op *ok, size_t nok,
		   const struct xp_kv_op *fail, size_t nfail,
		   struct xp_kv_txn_res *res);
	int (*lease_grant)(struct xp_kv *kv, int64_t ttl_s, int64_t *id,
			   int64_t *granted_ttl_s);
	int (*lease_keepalive)(struct xp_kv *kv, int64_t id,
			       int64_t *ttl_left_s);
	int (*lease_revoke)(struct xp_kv *kv, int64_t id);
	int (*watch_open)(struct xp_kv *kv, const char *prefix,
			  int64_t start_rev, struct xp_kv_watch **out);
	int (*watch_next)(struct xp_kv_watch *w, int timeout_ms,
			  struct xp_kv_events *out);
	void (*watch_close)(struct xp_kv_watch *w);
	void (*close)(struct xp_kv *kv);
};

/* Every handle and watch starts with this; implementations embed it first. */
struct xp_kv {
	const struct xp_kv_ops *ops;
};

struct xp_kv_watch {
	const struct xp_kv_ops *ops;
};

/*
 * etcd client over the v3 JSON gateway. @endpoints: comma-separated
 * "http://host:port" URLs, tried in order, the one that last answered
 * first. @timeout_ms bounds each HTTP exchange (watches excepted).
 * Returns 0 and *@out, or a negative errno with @err filled.
 */
int xp_etcd_open(const char *endpoints, unsigned int timeout_ms,
		 struct xp_kv **out, char *err, size_t errlen);

/*
 * Read @key, or with @prefix every key that starts with it (the whole
 * range at one revision, however many keys: the implementation pages).
 * A missing key gives n = 0, not an error.
 */
static inline int xp_kv_get(struct xp_kv *kv, const char *key, bool prefix,
			    struct xp_kv_list *out)
{
	return kv->ops->get(kv, key, prefix, out);
}

/*
 * If every compare in @cmp holds, run @ok, else @fail, atomically. @res
 * may be NULL when neither branch has GET ops. At most XP_KV_TXN_MAX each.
 * -EHOSTUNREACH after a write may have reached the store says nothing of
 * whether it ran (it is never sent twice): read before deciding.
 */
static inline int xp_kv_txn(struct xp_kv *kv, const struct xp_kv_cmp *cmp,
			    size_t ncmp, const struct xp_kv_op *ok, size_t nok,
			    const struct xp_kv_op *fail, size_t nfail,
			    struct xp_kv_txn_res *res)
{
	return kv->ops->txn(kv, cmp, ncmp, ok, nok, fail, nfail, res);
}

/*
 * For implementations: the argument checks of a transaction. At most
 * XP_KV_TXN_MAX compares and ops per branch, an array for each count;
 * keys of 1..@key_max bytes (0 too for DEL_PREFIX), values of at most
 * @val_max bytes, known enums, leases >= 0. 0 or -EINVAL.
 */
int xp_kv_txn_check(const struct xp_kv_cmp *cmp, size_t ncmp,
		    const struct xp_kv_op *ok, size_t nok,
		    const struct xp_kv_op *fail, size_t nfail, size_t key_max,
		    size_t val_max);

/* Unconditional put and delete (a transaction without compares). */
int xp_kv_put(struct xp_kv *kv, const char *key, const void *val, size_t vlen,
	      int64_t lease, int64_t *rev);
int xp_kv_del(struct xp_kv *kv, const char *key, bool prefix, int64_t *rev);

/* A lease of @ttl_s seconds; the store may grant a longer TTL. */
static inline int xp_kv_lease_grant(struct xp_kv *kv, int64_t ttl_s,
				    int64_t *id, int64_t *granted_ttl_s)
{
	return kv->ops->lease_grant(kv, ttl_s, id, granted_ttl_s);
}

/* Renew lease @id once: 0 and its TTL, or -ENOENT when it is gone. */
static inline int xp_kv_lease_keepalive(struct xp_kv *kv, int64_t id,
					int64_t *ttl_left_s)
{
	return kv->ops->lease_keepalive(kv, id, ttl_left_s);
}

/* Revoke lease @id: its keys are deleted. A lease already gone is 0. */
static inline int xp_kv_lease_revoke(struct xp_kv *kv, int64_t id)
{
	return kv->ops->lease_revoke(kv, id);
}

/*
 * Watch every key under @prefix from revision @start_rev (0: from now).
 * The watch owns a connection of its own; it is used by one thread.
 */
static inline int xp_kv_watch_open(struct xp_kv *kv, const char *prefix,
				   int64_t start_rev, struct xp_kv_watch **out)
{
	return kv->ops->watch_open(kv, prefix, start_rev, out);
}

/*
 * Wait at most @timeout_ms for events. 0 with out->n >= 1, or 0 with
 * out->n == 0 on timeout (out->rev then 0); -ERANGE when the start revision
 * was compacted (out->rev = the oldest revision still there: read the
 * state again and watch from there); -ECANCELED or -EHOSTUNREACH when the
 * watch ended (open a new one from the last revision seen + 1).
 */
int xp_kv_watch_next(struct xp_kv_watch *w, int timeout_ms,
		     struct xp_kv_events *out);

void xp_kv_watch_close(struct xp_kv_watch *w); /* NULL ok */

void xp_kv_close(struct xp_kv *kv); /* NULL ok */

#endif
