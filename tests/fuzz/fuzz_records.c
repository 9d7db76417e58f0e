/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the decoders of the cluster store's records
 * (xport/records.c), values any process with access to etcd could write.
 * A value that decodes must re-encode (every field in range) and decode
 * again to the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xport/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xp_rec_alive a, a2;
	struct xp_rec_gen g, g2;
	struct xp_rec_stale st, st2;
	uint64_t lun, chunk;
	uint32_t node;
	enum xp_node_state ns, ns2;
	char *txt, *key;

	if (xp_rec_alive_decode(data, size, &a) == 0) {
		if (xp_rec_alive_encode(&a, &txt))
			abort();
		if (xp_rec_alive_decode(txt, strlen(txt), &a2) ||
		    a2.incarnation != a.incarnation || a2.boot != a.boot ||
		    a2.port != a.port || strcmp(a2.gen, a.gen) ||
		    strcmp(a2.host, a.host))
			abort();
		free(txt);
	}
	if (xp_rec_gen_decode(data, size, &g) == 0) {
		if (xp_rec_gen_encode(&g, &txt))
			abort();
		if (xp_rec_gen_decode(txt, strlen(txt), &g2) ||
		    g2.boot != g.boot || strcmp(g2.gen, g.gen))
			abort();
		free(txt);
	}
	if (xp_rec_stale_decode(data, size, &st) == 0) {
		if (xp_rec_stale_encode(&st, &txt))
			abort();
		if (xp_rec_stale_decode(txt, strlen(txt), &st2) ||
		    st2.n != st.n ||
		    memcmp(st2.nodes, st.nodes, st.n * sizeof(st.nodes[0])))
			abort();
		free(txt);
	}
	if (xp_rec_state_decode(data, size, &ns) == 0) {
		if (xp_rec_state_encode(ns, &txt))
			abort();
		if (xp_rec_state_decode(txt, strlen(txt), &ns2) || ns2 != ns)
			abort();
		free(txt);
	}
	key = malloc(size + 1);
	if (!key)
		return 0;
	memcpy(key, data, size);
	key[size] = '\0';
	if (xp_rec_key_parse_node(key, "/p/", &node) > 0 && !node)
		abort();
	if (xp_rec_key_parse_stale(key, "/p/", &lun, &chunk) == 0 &&
	    strlen(key) != strlen("/p/stale/") + 33)
		abort();
	if (xp_rec_key_parse_al(key, "/p/", &lun, &chunk) == 0 &&
	    strlen(key) != strlen("/p/al/") + 33)
		abort();
	free(key);
	return 0;
}
