/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the RDMA wire decoders (docs/protocol.md, "RDMA
 * payload"): the node's offer, the gateway's rdma_cm private data, and the
 * node's check of a request's data descriptor. What decodes must encode
 * back to the same bytes, and an accepted descriptor must be in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xport/proto.h"
#include "xport/rdma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t back[XP_HDR_LEN > 256 ? XP_HDR_LEN : 256];
	struct xp_rdma_offer o;
	struct xp_rdma_priv p;
	struct xp_rdma_desc d;
	struct xp_hdr h;

	if (xp_rdma_offer_decode(data, size, &o) == 0) {
		xp_rdma_offer_encode(&o, back);
		if (memcmp(back, data, size))
			abort();
	}
	if (xp_rdma_priv_decode(data, size, &p) == 0) {
		/* what follows the 48 bytes can only be zero padding */
		memset(back, 0, sizeof(back));
		xp_rdma_priv_encode(&p, back);
		if (memcmp(back, data, size))
			abort();
	}
	if (xp_hdr_decode(data, size, &h) == 0 &&
	    xp_rdma_desc_from_hdr(&h, &d) == 0) {
		if (!d.len || d.len != h.length || h.payload_len ||
		    d.addr + d.len < d.addr)
			abort();
	}
	return 0;
}
