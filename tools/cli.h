/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What spanblkctl and spanblk-bench share: their exit codes, the options
 * both take (-v, -h), usage errors and loading the cluster file, each
 * reported the way both report problems (one line on stderr, prefixed
 * with the program's name).
 */
#ifndef SPANBLK_TOOLS_CLI_H
#define SPANBLK_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/config.h"
#include "xport/auth.h"

#define EXIT_FAIL 1 /* the command failed */
#define EXIT_USAGE 2 /* bad arguments or configuration */
#define EXIT_UNREACHABLE 3 /* nodes the command needs are down */

/* The tool's name, the prefix of its messages: each tool defines it. */
extern const char sbt_prog[];

/*
 * The options both tools take besides their own, for the default branch
 * of their getopt_long() loop: -v sets *@verbose, -h prints @usage on
 * stdout, anything else (an unknown option) prints it on stderr. Returns
 * -1 after -v (parsing goes on), else the code main() returns: 0 after
 * -h, EXIT_USAGE.
 */
int sbt_common_opt(int c, bool *verbose, void (*usage)(FILE *f));

/*
 * Report a usage error: "sbt_prog: " and the message @fmt as one line on
 * stderr. Returns EXIT_USAGE.
 */
int sbt_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Set the log level (connection warnings only with @verbose), allocate a
 * cluster and read the cluster file @path into it and @secret. Returns 0
 * with *@clp owned by the caller (free()), or an exit code after one line
 * on stderr (*@clp NULL).
 */
int sbt_cluster_load(const char *path, bool verbose, struct sb_cluster **clp,
		     struct xp_secret *secret);

#endif
