/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the command-line tools (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/engine.h"
#include "lib/util/log.h"

int sbt_cluster_load(const char *prog, const char *path, bool verbose,
		     struct sb_cluster **clp, struct xp_secret *secret)
{
	struct sb_cluster *cl;
	char err[512];

	*clp = NULL;
	sb_log_set_level(verbose ? SB_LOG_INFO : SB_LOG_ERR);
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_FAIL;
	}
	if (sb_engine_load_config(path, cl, secret, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		free(cl);
		return EXIT_USAGE;
	}
	*clp = cl;
	return 0;
}
