/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the command-line tools (see cli.h). */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/engine.h"
#include "lib/util/log.h"

int sbt_common_opt(int c, bool *verbose, void (*usage)(FILE *f))
{
	switch (c) {
	case 'v':
		*verbose = true;
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return EXIT_USAGE;
	}
}

int sbt_usage_error(const char *fmt, ...)
{
	va_list ap;

	/* One line even while the engine's thread logs. */
	flockfile(stderr);
	fprintf(stderr, "%s: ", sbt_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	return EXIT_USAGE;
}

int sbt_cluster_load(const char *path, bool verbose, struct sb_cluster **clp,
		     struct xp_secret *secret)
{
	struct sb_cluster *cl;
	char err[512];

	*clp = NULL;
	sb_log_set_level(verbose ? SB_LOG_INFO : SB_LOG_ERR);
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		fprintf(stderr, "%s: out of memory\n", sbt_prog);
		return EXIT_FAIL;
	}
	if (sb_engine_load_config(path, cl, secret, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", sbt_prog, err);
		free(cl);
		return EXIT_USAGE;
	}
	*clp = cl;
	return 0;
}
