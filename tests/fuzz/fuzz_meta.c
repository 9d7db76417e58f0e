/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a storage node's metadata parsers, files on disk that
 * a damaged or hostile disk can hand back: a LUN's .meta (a parse that
 * succeeds gives a whole, valid LUN description) and data_dir/node.meta
 * (a parse that succeeds gives a node id, a 32-hex-digit gen, a boot).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/ident.h"
#include "node/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[XP_LUN_NAME_MAX + 1];
	struct xp_layout lay;
	uint64_t id, lun_size;
	struct nd_ident ident;
	char *text;

	if (size > 4096)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (nd_store_meta_parse(text, &id, &lun_size, &lay, name) == 0) {
		if (!id || !lun_size || !xp_layout_valid(&lay) ||
		    !xp_lun_name_valid(name, strlen(name)))
			abort();
	}
	if (nd_ident_parse(text, &ident) == 0) {
		if (!ident.id || !ident.boot ||
		    strlen(ident.gen) != ND_GEN_HEX ||
		    strspn(ident.gen, "0123456789abcdef") != ND_GEN_HEX)
			abort();
	}
	free(text);
	return 0;
}
