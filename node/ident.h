/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nd_ident: who a node's data folder belongs to, and which generation of
 * data it holds (docs/recovery.md, "On each node"). data_dir/node.meta:
 *
 *   spanblk-node 1
 *   id <node id>
 *   gen <32 hex digits: random when the folder is first used>
 *   boot <starts so far, 1 or more>
 *
 * At every start the node loads it (or creates it in an empty folder),
 * refuses a folder of another node id, increments boot and writes it back
 * durably (temp file, fsync, rename, fsync the folder) before it serves.
 * A wiped folder therefore comes back with a new gen, and a folder
 * restored from an old copy with a boot the cluster store has already
 * seen.
 */
#ifndef SPANBLK_NODE_IDENT_H
#define SPANBLK_NODE_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define ND_GEN_HEX 32

struct nd_ident {
	uint32_t id;
	char gen[ND_GEN_HEX + 1]; /* lower-case hex */
	uint64_t boot;
};

/*
 * Parse node.meta text (NUL-terminated). 0, or -EINVAL for anything but
 * the exact format above (ids 1..UINT32_MAX, boot >= 1).
 */
int nd_ident_parse(const char *text, struct nd_ident *out);

/*
 * Load data_dir/node.meta for node @id (create it when absent), count
 * this start, write it back durably. 0 and *@out; -EEXIST (the folder
 * belongs to another node id), -EINVAL (damaged file), or -errno, with
 * @err filled.
 */
int nd_ident_start(const char *data_dir, uint32_t id, struct nd_ident *out,
		   char *err, size_t errlen);

/*
 * Give @ident a new random gen, boot 1, and write it durably: the node's
 * copies are then worth nothing to the cluster until refilled (used when
 * the cluster store has seen a later boot of the same gen). 0 or -errno.
 */
int nd_ident_renew(const char *data_dir, struct nd_ident *ident, char *err,
		   size_t errlen);

#endif
