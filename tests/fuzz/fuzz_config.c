/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: cluster file, node file and size parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_cluster *cl;
	struct sb_nodecfg nc;
	char err[256];
	char *text;
	uint64_t v;

	text = malloc(size + 1);
	cl = malloc(sizeof(*cl));
	if (!text || !cl)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sb_cluster_parse(text, cl, err, sizeof(err)) == 0) {
		/* A file that parses is whole and consistent. */
		if (!cl->nr_nodes || cl->replicas > cl->nr_nodes ||
		    (cl->chunk_size & (cl->chunk_size - 1)))
			abort();
	} else if (!err[0]) {
		abort(); /* every refusal has a reason */
	}
	if (sb_nodecfg_parse(text, &nc, err, sizeof(err)) == 0 && !nc.id)
		abort();
	(void)sb_parse_size(text, &v);
	(void)sb_parse_uint(text, 1, 100, &v);
out:
	free(cl);
	free(text);
	return 0;
}
