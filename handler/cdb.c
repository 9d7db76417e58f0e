/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDB decoding (see cdb.h). Field positions are SBC-4's; byte 1 carries
 * the flags of every command decoded here:
 *
 *   READ/WRITE 10/12/16   RDPROTECT/WRPROTECT 7:5, DPO 4, FUA 3
 *   COMPARE AND WRITE     WRPROTECT 7:5, DPO 4, FUA 3
 *   VERIFY 10/12/16       VRPROTECT 7:5, DPO 4, BYTCHK 2:1
 *   WRITE SAME 10/16      WRPROTECT 7:5, ANCHOR 4, UNMAP 3, NDOB 0 (16)
 *   SYNCHRONIZE CACHE     IMMED 1
 *   UNMAP                 ANCHOR 0
 */
#include "cdb.h"

#include <errno.h>
#include <string.h>

#include "../xport/proto.h"
#include "tcmu_abi.h"

#define CDB_PROTECT_MASK 0xe0 /* RDPROTECT/WRPROTECT/VRPROTECT */
#define CDB_BYTCHK_SHIFT 1
#define CDB_BYTCHK_MASK 0x3
#define CDB_UNMAP_ANCHOR 0x01
#define CDB_RW6_LBA_MASK 0x1f

int sbh_cdb_length(uint8_t opcode)
{
	switch (opcode >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return -EINVAL;
	}
}

/* LBA and length at the usual places of a 10-, 12- or 16-byte CDB. */
static void cdb_lba_len(const uint8_t *cdb, uint8_t len, struct sbh_cdb *out)
{
	switch (len) {
	case 10:
		out->lba = xp_get_be32(cdb + 2);
		out->nblocks = xp_get_be16(cdb + 7);
		break;
	case 12:
		out->lba = xp_get_be32(cdb + 2);
		out->nblocks = xp_get_be32(cdb + 6);
		break;
	default:
		out->lba = xp_get_be64(cdb + 2);
		out->nblocks = xp_get_be32(cdb + 10);
		break;
	}
}

int sbh_cdb_decode(const uint8_t *cdb, size_t len, struct sbh_cdb *out)
{
	int clen;

	if (!len)
		return -EMSGSIZE;
	clen = sbh_cdb_length(cdb[0]);
	if (clen < 0)
		return -ENOTSUP;
	if (len < (size_t)clen)
		return -EMSGSIZE;

	memset(out, 0, sizeof(*out));
	out->opcode = cdb[0];
	out->len = (uint8_t)clen;

	switch (cdb[0]) {
	case SCSI_OP_READ_6:
	case SCSI_OP_WRITE_6:
		out->op = cdb[0] == SCSI_OP_READ_6 ? SBH_OP_READ : SBH_OP_WRITE;
		out->lba = (uint32_t)(cdb[1] & CDB_RW6_LBA_MASK) << 16 |
			   xp_get_be16(cdb + 2);
		/* SBC-4 5.19: a TRANSFER LENGTH of 0 means 256 blocks. */
		out->nblocks = cdb[4] ? cdb[4] : 256;
		return 0;
	case SCSI_OP_READ_10:
	case SCSI_OP_READ_12:
	case SCSI_OP_READ_16:
	case SCSI_OP_WRITE_10:
	case SCSI_OP_WRITE_12:
	case SCSI_OP_WRITE_16:
		out->op = (cdb[0] == SCSI_OP_READ_10 ||
			   cdb[0] == SCSI_OP_READ_12 ||
			   cdb[0] == SCSI_OP_READ_16)
				  ? SBH_OP_READ
				  : SBH_OP_WRITE;
		cdb_lba_len(cdb, out->len, out);
		out->fua = cdb[1] & SCSI_CDB_FUA;
		return (cdb[1] & CDB_PROTECT_MASK) ? -EINVAL : 0;
	case SCSI_OP_SYNCHRONIZE_CACHE_10:
	case SCSI_OP_SYNCHRONIZE_CACHE_16:
		out->op = SBH_OP_SYNC;
		cdb_lba_len(cdb, out->len, out);
		out->immed = cdb[1] & SCSI_CDB_SYNC_IMMED;
		return 0;
	case SCSI_OP_WRITE_SAME_10:
	case SCSI_OP_WRITE_SAME_16:
		out->op = SBH_OP_WRITE_SAME;
		cdb_lba_len(cdb, out->len, out);
		out->unmap = cdb[1] & SCSI_CDB_WS_UNMAP;
		if (cdb[1] & (CDB_PROTECT_MASK | SCSI_CDB_WS_ANCHOR))
			return -EINVAL;
		/* NDOB (16 only; bit 0 of WRITE SAME(10) is obsolete). */
		if (cdb[0] == SCSI_OP_WRITE_SAME_16 &&
		    (cdb[1] & SCSI_CDB_WS_NDOB))
			return -EINVAL;
		return 0;
	case SCSI_OP_UNMAP:
		out->op = SBH_OP_UNMAP;
		out->param_len = xp_get_be16(cdb + 7);
		return (cdb[1] & CDB_UNMAP_ANCHOR) ? -EINVAL : 0;
	case SCSI_OP_COMPARE_AND_WRITE:
		out->op = SBH_OP_CAW;
		out->lba = xp_get_be64(cdb + 2);
		out->nblocks = cdb[13];
		out->fua = cdb[1] & SCSI_CDB_FUA;
		return (cdb[1] & CDB_PROTECT_MASK) ? -EINVAL : 0;
	case SCSI_OP_VERIFY_10:
	case SCSI_OP_VERIFY_12:
	case SCSI_OP_VERIFY_16:
		out->op = SBH_OP_VERIFY;
		cdb_lba_len(cdb, out->len, out);
		out->bytchk = (cdb[1] >> CDB_BYTCHK_SHIFT) & CDB_BYTCHK_MASK;
		if (cdb[1] & CDB_PROTECT_MASK)
			return -EINVAL;
		/* BYTCHK 10b is reserved. */
		return out->bytchk == 2 ? -EINVAL : 0;
	default:
		return -ENOTSUP;
	}
}

int sbh_unmap_parse(const uint8_t *buf, size_t len, size_t avail,
		    struct sbh_unmap_desc *out, size_t max, size_t *count)
{
	size_t dl, bddl, n, i;

	*count = 0;
	if (!len)
		return 0;
	if (len < SBH_UNMAP_HDR_LEN)
		return -EMSGSIZE;
	if (avail > len)
		avail = len;
	if (avail < SBH_UNMAP_HDR_LEN)
		return -EINVAL;

	/* Copy each length once, then check it against what we hold. */
	dl = xp_get_be16(buf);
	bddl = xp_get_be16(buf + 2);
	if (dl > len - 2 || bddl > len - SBH_UNMAP_HDR_LEN)
		return -EINVAL;

	n = bddl / SBH_UNMAP_DESC_LEN;
	if (n > max)
		return -E2BIG;
	if (n * SBH_UNMAP_DESC_LEN > avail - SBH_UNMAP_HDR_LEN)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const uint8_t *d =
			buf + SBH_UNMAP_HDR_LEN + i * SBH_UNMAP_DESC_LEN;

		out[i].lba = xp_get_be64(d);
		out[i].nblocks = xp_get_be32(d + 8);
	}
	*count = n;
	return 0;
}
