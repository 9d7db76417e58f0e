/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON side of etcd's v3 gateway, with no I/O: request bodies out,
 * replies in, the watch stream cut into messages. Pure functions over
 * json-c and libcrypto's base64, so the unit test and the fuzz target
 * drive every parser without a server.
 *
 * Every field that comes from the wire is checked here, once: JSON types
 * (int64s are decimal strings, flags are booleans), int64 ranges (no
 * negative revision, version, lease id or TTL), base64 validity, sizes
 * (a key at most XPE_KEY_MAX bytes and without NUL, a value at most
 * XPE_VAL_MAX, a reply or a watch message at most XPE_REPLY_MAX). A
 * field at zero is absent on the wire (proto3 JSON), so an absent int64
 * is 0, an absent flag false, an absent byte string empty; where zero
 * contradicts the API (a header without a revision, a key without a
 * name) the reply is -EPROTO.
 *
 * Strings returned through a char ** are malloc'd, NUL-terminated and
 * owned by the caller; lists and events are freed with xp_kv_list_free
 * and xp_kv_events_free.
 */
#ifndef SPANBLK_XPORT_ETCD_CODEC_H
#define SPANBLK_XPORT_ETCD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xport/kv.h"

#define XPE_KEY_MAX 4096u /* bytes of a key */
#define XPE_VAL_MAX (16u << 20) /* bytes of a value */
#define XPE_REPLY_MAX (64u << 20) /* bytes of a reply or a watch message */
#define XPE_TTL_MAX 9000000000ll /* etcd's longest lease, seconds */

/* -EINVAL unless @key is 1..XPE_KEY_MAX bytes (prefixes may be empty). */
int xpe_key_check(const char *key, bool prefix);

/*
 * The range end of the keys that start with @p (@n bytes), etcd's rule:
 * the prefix with its last byte below 0xff incremented and what follows
 * it dropped; a prefix of only 0xff bytes, or none, gives the one byte
 * "\0" (every key from the start key on). @end has room for max(n, 1)
 * bytes. Returns the end's length.
 */
size_t xpe_prefix_end(const uint8_t *p, size_t n, uint8_t *end);

/*
 * Request bodies. 0 and *@out, -EINVAL for bad arguments, -ENOMEM.
 *
 * range: [@key, @end) (@elen 0: the key alone) at store revision @rev
 * (0: the newest), at most @limit keys (0: all).
 */
int xpe_body_range(const uint8_t *key, size_t klen, const uint8_t *end,
		   size_t elen, int64_t rev, int64_t limit, char **out);
int xpe_body_txn(const struct xp_kv_cmp *cmp, size_t ncmp,
		 const struct xp_kv_op *ok, size_t nok,
		 const struct xp_kv_op *fail, size_t nfail, char **out);
int xpe_body_lease_grant(int64_t ttl_s, char **out);
/* {"ID": id}: keepalive, revoke */
int xpe_body_lease_id(int64_t id, char **out);
/* a create_request for every key under @prefix from @start_rev */
int xpe_body_watch(const char *prefix, int64_t start_rev, char **out);

/*
 * Replies of HTTP status 200. 0 with the result filled (owned by the
 * caller), or -EPROTO (nothing to free), -ENOMEM.
 *
 * range: the items (sorted, checked) at the header's revision and
 * whether more keys follow past the limit.
 */
int xpe_parse_range(const char *body, size_t len, struct xp_kv_list *out,
		    bool *more);
/* txn: the responses must match the ops of the branch that ran */
int xpe_parse_txn(const char *body, size_t len, const struct xp_kv_op *ok,
		  size_t nok, const struct xp_kv_op *fail, size_t nfail,
		  struct xp_kv_txn_res *res);
/* a reply that carries only a header (revoke, compaction): its revision */
int xpe_parse_header(const char *body, size_t len, int64_t *rev);
int xpe_parse_lease_grant(const char *body, size_t len, int64_t *id,
			  int64_t *ttl_s);
/* keepalive of lease @id: its TTL, or -ENOENT when the lease is gone */
int xpe_parse_keepalive(const char *body, size_t len, int64_t id,
			int64_t *ttl_s);

/*
 * A reply of another HTTP status: the gateway's gRPC error body
 * ({"error", "message", "code"}) mapped to an errno: NotFound -ENOENT,
 * InvalidArgument -EINVAL, OutOfRange -ERANGE (revision compacted),
 * Unavailable, DeadlineExceeded and ResourceExhausted -EAGAIN (this
 * member cannot serve now: another may) except a request too large for
 * gRPC (-EINVAL), anything else or a body that is not one -EPROTO.
 * Writes the message into @msg (may be NULL).
 */
int xpe_parse_error(const char *body, size_t len, char *msg, size_t msglen);

/* What one watch message says. */
enum xpe_wkind {
	XPE_W_CREATED, /* the watch is in place from after @rev */
	XPE_W_EVENTS, /* @ev, up to @rev (the last event's revision) */
	XPE_W_PROGRESS, /* nothing for this watch up to @rev */
	XPE_W_COMPACTED, /* canceled: @rev is the oldest revision kept */
	XPE_W_CANCELED, /* canceled by the store */
	XPE_W_ERROR, /* the stream's own error: @err */
};

struct xpe_wmsg {
	enum xpe_wkind kind;
	int64_t rev;
	int err; /* XPE_W_ERROR: -EHOSTUNREACH (unavailable) or -ECANCELED */
	struct xp_kv_events ev; /* XPE_W_EVENTS: owned by the message */
};

/*
 * The watch stream: concatenated JSON objects, cut wherever the network
 * cut them. Feed bytes as they come; each complete message is decoded
 * and queued. After an error the stream stays failed.
 */
struct xpe_wstream;

struct xpe_wstream *xpe_wstream_new(void); /* NULL: no memory */
void xpe_wstream_free(struct xpe_wstream *s); /* and what is queued; NULL ok */
/* 0, or -EPROTO (bad JSON, a message too long or not a watch message),
 * -ENOMEM. */
int xpe_wstream_feed(struct xpe_wstream *s, const char *p, size_t n);
/* true and the oldest queued message (the caller frees out->ev). */
bool xpe_wstream_pop(struct xpe_wstream *s, struct xpe_wmsg *out);
/* The oldest queued message, left queued; NULL when none. */
const struct xpe_wmsg *xpe_wstream_peek(const struct xpe_wstream *s);

#endif
