/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What spanblkctl and spanblk-bench share: their exit codes and loading
 * the cluster file the way both report it (one line on stderr, prefixed
 * with the program's name).
 */
#ifndef SPANBLK_TOOLS_CLI_H
#define SPANBLK_TOOLS_CLI_H

#include <stdbool.h>

#include "lib/config.h"
#include "xport/auth.h"

#define EXIT_FAIL 1 /* the command failed */
#define EXIT_USAGE 2 /* bad arguments or configuration */
#define EXIT_UNREACHABLE 3 /* nodes the command needs are down */

/*
 * Set the log level (connection warnings only with @verbose), allocate a
 * cluster and read the cluster file @path into it and @secret. Returns 0
 * with *@clp owned by the caller (free()), or an exit code after one line
 * on stderr (*@clp NULL).
 */
int sbt_cluster_load(const char *prog, const char *path, bool verbose,
		     struct sb_cluster **clp, struct xp_secret *secret);

#endif
