/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The handler's cfgstring, as targetcli passes it to check_config and the
 * kernel passes it to open (docs/scsi.md, "cfgstring"):
 *
 *   spanblk/<lun>[;conf=<path>][;replicas=N][;chunk=<size>]
 *
 * The kernel and rtslib forbid ',' ':' and newlines and cap the string at
 * 255 bytes. Node addresses live in the cluster file; replicas and chunk
 * override it. tcmu-runner strips ";tcmur_cmd_time_out=N" before open,
 * but check_config still sees it: it is accepted and ignored.
 */
#ifndef SPANBLK_HANDLER_CFGSTRING_H
#define SPANBLK_HANDLER_CFGSTRING_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/config.h"
#include "../xport/proto.h"

#define SBH_SUBTYPE "spanblk"
#define SBH_CFG_MAX 255 /* bytes, the kernel's limit */

struct sbh_cfg {
	char lun[XP_LUN_NAME_MAX + 1]; /* LUN name, xp_lun_name_valid() */
	char conf[PATH_MAX]; /* cluster file, absolute */
	unsigned int replicas; /* override, 0: the cluster file's */
	uint64_t chunk_size; /* override in bytes, 0: the cluster file's */
};

/*
 * Parse @s (with or without the "spanblk/" prefix) into @cfg. Validates
 * syntax and ranges that do not need the cluster file: LUN name, absolute
 * conf path, replicas 1..SB_MAX_NODES, chunk a power of two within
 * SB_MIN_CHUNK..SB_MAX_CHUNK. Returns 0, or -EINVAL / -ENAMETOOLONG with
 * a one-line reason in @err.
 */
int sbh_cfg_parse(const char *s, struct sbh_cfg *cfg, char *err, size_t errlen);

/*
 * Apply @cfg's overrides to the loaded cluster @cl and check them against
 * it (replicas <= nr_nodes). Returns 0 or -EINVAL with a reason in @err.
 */
int sbh_cfg_apply(const struct sbh_cfg *cfg, struct sb_cluster *cl, char *err,
		  size_t errlen);

/* True when @a and @b name the same LUN with the same settings. */
bool sbh_cfg_equal(const struct sbh_cfg *a, const struct sbh_cfg *b);

#endif
