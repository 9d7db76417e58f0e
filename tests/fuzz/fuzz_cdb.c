/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: CDB decoding and the UNMAP parameter list, then the
 * dispatcher's checks on what decoded, against a fixed LUN, and the
 * handler's MODE SENSE answers. Input: one CDB (its length from the group
 * code) followed by a Data-Out buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handler/cdb.h"
#include "handler/dispatch.h"
#include "handler/modepage.h"
#include "handler/tcmu_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void mode_sense(const uint8_t *data, size_t size)
{
	const struct sbh_mode_lun ml = {
		.nr_blocks = (1ull << 40) / 512,
		.block_size = 512,
		.wce = size & 1,
	};
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len = 0;

	if (sbh_mode_sense(data, size, &ml, buf, sizeof(buf), &len) ==
	    TCMU_STS_OK) {
		if (len > sizeof(buf))
			__builtin_trap();
	}
	(void)sbh_mode_sense_alloc_len(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbh_unmap_desc d[SBH_MAX_UNMAP_DESC];
	struct sbh_lun lun;
	struct sbh_cdb c;
	struct iovec iov[2];
	size_t n, half;
	int len;

	if (!size)
		return 0;
	mode_sense(data, size);
	len = sbh_cdb_length(data[0]);
	if (sbh_cdb_decode(data, size, &c) || len < 0)
		goto list;

	memset(&lun, 0, sizeof(lun));
	lun.block_size = 512;
	lun.chunk_size = 1u << 20;
	atomic_init(&lun.nr_blocks, (1ull << 40) / 512);
	atomic_init(&lun.wce, true);
	lun.max_xfer_blocks = 8192;
	lun.max_caw_blocks = 1;
	lun.max_unmap_blocks = 1u << 21;
	lun.max_unmap_desc = 4;
	/* The Data-Out buffer, split in two iovecs at an arbitrary place. */
	half = (size - (size_t)len) / 2;
	iov[0].iov_base = (void *)(data + len);
	iov[0].iov_len = half;
	iov[1].iov_base = (void *)(data + len + half);
	iov[1].iov_len = size - (size_t)len - half;
	(void)sbh_check(&lun, &c, iov, 2);
list:
	(void)sbh_unmap_parse(data, size, size, d, SBH_MAX_UNMAP_DESC, &n);
	(void)sbh_unmap_parse(data, size > 8 ? size * 4 : size, size, d,
			      SBH_MAX_UNMAP_DESC, &n);
	return 0;
}
