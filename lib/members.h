/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nodes as the cluster store records them (docs/recovery.md, "Node
 * liveness and fencing"): which are up, under which incarnation, with
 * which data generation. Read by the tools and, later, the gateway engine.
 */
#ifndef SPANBLK_LIB_MEMBERS_H
#define SPANBLK_LIB_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../xport/records.h"

struct xp_kv;

struct sb_member {
	uint32_t id;
	bool up; /* P/node/<id>/alive exists: the node's lease is alive */
	struct xp_rec_alive alive; /* valid when up */
	bool known; /* P/node/<id>/gen exists: the cluster accepted it */
	struct xp_rec_gen gen; /* valid when known */
	enum xp_node_state state; /* P/node/<id>/state (no key: in) */
	int64_t state_mod; /* that key's mod revision, 0 when none */
	bool damaged; /* a record of this node did not decode */
	bool state_bad; /* its state record did not decode */
};

struct sb_members {
	struct sb_member *m; /* sorted by id; owned */
	size_t n;
	int64_t rev; /* store revision of the read */
};

/*
 * Read every node's records under @prefix. 0 and *@out (free with
 * sb_members_free), or the store's -errno (-EHOSTUNREACH: unreachable).
 * Records that do not decode mark their node damaged (logged), never fail
 * the read.
 */
int sb_members_read(struct xp_kv *kv, const char *prefix,
		    struct sb_members *out);

/* The entry of node @id, or NULL. */
const struct sb_member *sb_members_find(const struct sb_members *ms,
					uint32_t id);

void sb_members_free(struct sb_members *ms);

/* True when every node has the same placement state key (its mod
 * revision, 0 for none) in @a and @b: no state changed between the two
 * reads. */
bool sb_members_states_equal(const struct sb_members *a,
			     const struct sb_members *b);

#endif
