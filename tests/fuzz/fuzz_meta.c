/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a storage node's .meta parser (a file on disk that a
 * damaged or hostile disk can hand back). A parse that succeeds must give
 * a whole, valid LUN description.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[XP_LUN_NAME_MAX + 1];
	struct xp_layout lay;
	uint64_t id, lun_size;
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
	free(text);
	return 0;
}
