/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_member: the node's membership in the cluster store (docs/recovery.md,
 * "Node liveness and fencing"). A thread of its own, so that the event
 * loop never waits for etcd:
 *
 *   REGISTERING ──ok──> MEMBER ──keepalive: lease gone──> FENCED
 *        ^                 │  (etcd unreachable: keep serving, retry)  │
 *        │                 └─ renew every node_ttl/3                   │
 *        └────────── nd_member_resume() (the loop has drained) ────────┘
 *
 * Registering: read P/node/<id>/gen; decide whether the data folder is
 * the one the cluster knows (same gen, a later boot), new to it, or not
 * to be trusted (another gen; or the same gen with a boot already seen:
 * restored from an old copy, which gets a new gen here); grant a lease of
 * node_ttl seconds; in one transaction that requires no live
 * P/node/<id>/alive and an unchanged gen record, create the alive key on
 * the lease and write the gen record. A previous incarnation's alive key
 * is waited out.
 *
 * When a renewal says the lease is gone, the thread marks the member
 * FENCED and writes the loop's eventfd; the loop closes every session and
 * calls nd_member_resume() once no request and no disk I/O is left, and
 * only then does the thread register again (a new incarnation). On stop
 * the lease is revoked, so gateways see the node leave at once.
 */
#ifndef SPANBLK_NODE_MEMBER_H
#define SPANBLK_NODE_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ident.h"

struct xp_kv;
struct nd_member;

enum nd_member_state {
	ND_MEMBER_REGISTERING,
	ND_MEMBER_UP,
	ND_MEMBER_FENCED,
	ND_MEMBER_RETIRING, /* the loop retires the folder's LUNs first */
};

struct nd_member_cfg {
	uint32_t node_id;
	const char *prefix; /* the store's key prefix ("/spanblk/") */
	const char *data_dir; /* where node.meta lives (renewed gen) */
	const char *host; /* address advertised in the alive record */
	uint16_t port;
	unsigned int ttl_s; /* lease TTL, >= 2 */
	int notify_fd; /* eventfd written when the member is fenced */
};

/*
 * Start the thread. @kv is owned by the member from here on (closed by
 * nd_member_stop, also on failure); @cfg's strings are copied; @ident is
 * copied (the member may renew its gen). 0 or -errno with @err filled.
 */
int nd_member_start(const struct nd_member_cfg *cfg, struct xp_kv *kv,
		    const struct nd_ident *ident, struct nd_member **out,
		    char *err, size_t errlen);

/* Current state and incarnation (0 while not registered). Any thread. */
enum nd_member_state nd_member_state(struct nd_member *m, int64_t *incarnation);

/*
 * The loop has drained after a fence, or retired the LUNs of a folder the
 * cluster does not count: register. Any thread.
 */
void nd_member_resume(struct nd_member *m);

/*
 * The store revision at which the current incarnation registered, 0 when
 * not registered (the floor of push epochs: docs/protocol.md, "Push
 * epochs"). Any thread.
 */
int64_t nd_member_rev(struct nd_member *m);

/* RETIRING: the folder's generation the retired LUNs were under. */
void nd_member_retire_tag(struct nd_member *m, char tag[ND_GEN_HEX + 1]);

/* Revoke the lease (when registered), stop the thread, free. NULL ok. */
void nd_member_stop(struct nd_member *m);

#endif
