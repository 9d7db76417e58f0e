/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `spanblkctl scrub LUN [--repair-from NODE]` (docs/recovery.md, "Scrub"):
 * every chunk's valid replicas compared by checksums computed on the
 * nodes (CHUNK_CSUM, no data to the tool), mismatches repaired node to
 * node (CHUNK_PUSH) from the copy a majority holds, or from the node the
 * administrator names.
 */
#ifndef SPANBLK_TOOLS_CTL_SCRUB_H
#define SPANBLK_TOOLS_CTL_SCRUB_H

#include <stdint.h>

#include "lib/config.h"
#include "lib/engine.h"

/*
 * Scrub LUN @name through @e; @repair_from: a node id whose copy wins
 * every mismatch (0: the majority's, where there is one). Prints a line
 * per mismatch and a summary. Returns the exit code: 0 when every chunk's
 * valid replicas agree at the end, EXIT_FAIL otherwise.
 */
int sbt_scrub(struct sb_engine *e, const struct sb_cluster *cl,
	      const char *name, uint32_t repair_from);

#endif
