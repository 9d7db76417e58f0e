/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The records spanblk keeps in the cluster store (docs/recovery.md, "In
 * etcd"): their keys and their JSON values, encoded and decoded here and
 * nowhere else. Every decoder checks every field once (types, ranges,
 * lengths) and refuses anything else with -EINVAL; unknown fields are
 * ignored so that a later version may add some.
 */
#ifndef SPANBLK_XPORT_RECORDS_H
#define SPANBLK_XPORT_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_REC_GEN_HEX 32
#define XP_REC_HOST_MAX 255
#define XP_REC_KEY_MAX 256
#define XP_REC_VALUE_MAX 4096 /* the largest record value decoded */

/* P/node/<id>/alive, bound to the node's lease: the node is up. */
struct xp_rec_alive {
	int64_t incarnation; /* the node's lease id, > 0 */
	char gen[XP_REC_GEN_HEX + 1]; /* data generation, lower-case hex */
	uint64_t boot; /* >= 1 */
	char host[XP_REC_HOST_MAX + 1]; /* address it listens on */
	uint16_t port; /* >= 1 */
};

/* P/node/<id>/gen: the node's data generation as the cluster accepted it. */
struct xp_rec_gen {
	char gen[XP_REC_GEN_HEX + 1];
	uint64_t boot;
};

/* The keys: "<prefix>node/<id>/alive", "<prefix>node/<id>/gen", and the
 * prefix of every node's keys "<prefix>node/". 0 or -ENAMETOOLONG. */
int xp_rec_key_alive(char *buf, size_t size, const char *prefix, uint32_t node);
int xp_rec_key_gen(char *buf, size_t size, const char *prefix, uint32_t node);
int xp_rec_key_nodes(char *buf, size_t size, const char *prefix);

/*
 * Which record a key under "<prefix>node/" is: 1 alive, 2 gen, 0 another
 * key (a later version's), -EINVAL a malformed node key. *@node its id.
 */
#define XP_REC_ALIVE 1
#define XP_REC_GEN 2
#define XP_REC_STATE 3
int xp_rec_key_parse_node(const char *key, const char *prefix, uint32_t *node);

/*
 * P/node/<id>/state, written by spanblkctl: whether the node is in the
 * cluster map's placement. No key: in. The value {"state": "in"},
 * {"state": "out"} or {"state": "joining"} (not placed yet: its new
 * replicas are being recorded; docs/recovery.md, "Node out and in").
 */
enum xp_node_state { XP_NODE_IN, XP_NODE_OUT, XP_NODE_JOINING };
int xp_rec_key_state(char *buf, size_t size, const char *prefix, uint32_t node);
/* 0 with *@state set, or -EINVAL. */
int xp_rec_state_decode(const void *buf, size_t len, enum xp_node_state *state);
/* A malloc'd value into *@txt: 0, -EINVAL or -ENOMEM. */
int xp_rec_state_encode(enum xp_node_state state, char **txt);

/*
 * P/stale/<lun, 16 hex digits>/<chunk, 16 hex digits>: the replicas of a
 * chunk that missed writes (node ids, at most XP_REC_STALE_MAX).
 */
#define XP_REC_STALE_MAX 64
struct xp_rec_stale {
	unsigned int n;
	uint32_t nodes[XP_REC_STALE_MAX]; /* ascending, distinct, >= 1 */
};

/* "<prefix>stale/<lun>/<chunk>" and the prefix of a LUN's ("<prefix>
 * stale/<lun>/") or of every LUN's ("<prefix>stale/", @lun_only false and
 * @lun ignored) stale keys. 0 or -ENAMETOOLONG. */
int xp_rec_key_stale(char *buf, size_t size, const char *prefix, uint64_t lun,
		     uint64_t chunk);
int xp_rec_key_stale_prefix(char *buf, size_t size, const char *prefix,
			    bool lun_only, uint64_t lun);
/* Parse a stale key: 0 with *@lun, *@chunk, or -EINVAL. */
int xp_rec_key_parse_stale(const char *key, const char *prefix, uint64_t *lun,
			   uint64_t *chunk);
int xp_rec_stale_encode(const struct xp_rec_stale *st, char **out);

/*
 * P/epoch: put by a gateway to learn a store revision no earlier gateway
 * saw, the base of its push epochs (docs/protocol.md, "Push epochs"). The
 * value "{}" is not read.
 */
int xp_rec_key_epoch(char *buf, size_t size, const char *prefix);

/*
 * P/al/<lun, 16 hex digits>/<extent, 16 hex digits>: an extent of the
 * activity log (a gateway may have writes in flight in it). The value is
 * XP_REC_AL_VALUE and is not read: the key is the record.
 */
#define XP_REC_AL_VALUE "{}"
int xp_rec_key_al(char *buf, size_t size, const char *prefix, uint64_t lun,
		  uint64_t extent);
/* "<prefix>al/": every LUN's activity log. */
int xp_rec_key_al_prefix(char *buf, size_t size, const char *prefix);
/* Parse an activity-log key: 0 with *@lun, *@extent, or -EINVAL. */
int xp_rec_key_parse_al(const char *key, const char *prefix, uint64_t *lun,
			uint64_t *extent);

int xp_rec_stale_decode(const void *buf, size_t len, struct xp_rec_stale *st);

/* Encoders: a malloc'd NUL-terminated JSON text in *@out (the caller
 * frees it). 0, -EINVAL (a field out of range) or -ENOMEM. */
int xp_rec_alive_encode(const struct xp_rec_alive *a, char **out);
int xp_rec_gen_encode(const struct xp_rec_gen *g, char **out);

/* Decoders of @len bytes at @buf (not NUL-terminated). 0 or -EINVAL. */
int xp_rec_alive_decode(const void *buf, size_t len, struct xp_rec_alive *a);
int xp_rec_gen_decode(const void *buf, size_t len, struct xp_rec_gen *g);

#endif
