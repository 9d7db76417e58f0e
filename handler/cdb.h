/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure decoding of the SCSI block commands spanblk executes (SBC-4):
 * READ/WRITE 6/10/12/16, SYNCHRONIZE CACHE 10/16, WRITE SAME 10/16, UNMAP,
 * COMPARE AND WRITE and VERIFY 10/12/16, and of the UNMAP parameter list.
 * Nothing here knows the device: range and limit checks are dispatch.c's.
 * Every other opcode is left to tcmu-runner (-ENOTSUP).
 */
#ifndef SPANBLK_HANDLER_CDB_H
#define SPANBLK_HANDLER_CDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sbh_op {
	SBH_OP_READ,
	SBH_OP_WRITE,
	SBH_OP_SYNC, /* SYNCHRONIZE CACHE */
	SBH_OP_WRITE_SAME,
	SBH_OP_UNMAP,
	SBH_OP_CAW, /* COMPARE AND WRITE */
	SBH_OP_VERIFY,
};

/* VERIFY BYTCHK values (SBC-4 5.31). */
#define SBH_BYTCHK_NONE 0 /* medium verification only */
#define SBH_BYTCHK_ALL 1 /* compare with nblocks of Data-Out */
#define SBH_BYTCHK_ONE 3 /* compare every block with one block */

/* A decoded CDB. */
struct sbh_cdb {
	enum sbh_op op;
	uint8_t opcode; /* first CDB byte */
	uint8_t len; /* CDB length from the group code: 6, 10, 12, 16 */
	uint64_t lba; /* starting LBA */
	/*
	 * Blocks: transfer length, verification length, NUMBER OF LOGICAL
	 * BLOCKS (WRITE SAME, CAW, SYNCHRONIZE CACHE: 0 = to the end).
	 * READ(6)/WRITE(6) already turned 0 into 256 as SBC says.
	 */
	uint32_t nblocks;
	uint32_t param_len; /* UNMAP: PARAMETER LIST LENGTH */
	bool fua; /* WRITE/CAW FUA bit (READ FUA accepted, ignored) */
	bool unmap; /* WRITE SAME UNMAP bit */
	bool immed; /* SYNCHRONIZE CACHE IMMED bit */
	uint8_t bytchk; /* VERIFY: SBH_BYTCHK_* */
};

/*
 * Decode @cdb of @len bytes (at least the group code's length). Returns
 * 0; -ENOTSUP for an opcode tcmu-runner handles (INQUIRY, READ CAPACITY,
 * WRITE AND VERIFY...); -EINVAL for a field spanblk does not support
 * (RDPROTECT/WRPROTECT/VRPROTECT set: no protection information; WRITE
 * SAME ANCHOR or NDOB; UNMAP ANCHOR; VERIFY BYTCHK 10b): INVALID FIELD
 * IN CDB; -EMSGSIZE when @len is shorter than the CDB.
 */
int sbh_cdb_decode(const uint8_t *cdb, size_t len, struct sbh_cdb *out);

/* CDB length by group code (SPC-4 4.2.5.1), or -EINVAL. */
int sbh_cdb_length(uint8_t opcode);

/* One UNMAP block descriptor. */
struct sbh_unmap_desc {
	uint64_t lba;
	uint32_t nblocks;
};

#define SBH_UNMAP_HDR_LEN 8
#define SBH_UNMAP_DESC_LEN 16

/*
 * Parse an UNMAP parameter list of @len bytes (the PARAMETER LIST
 * LENGTH), of which the first @avail are in @buf (a caller may hold only
 * the part that can matter), into at most @max descriptors; *@count gets
 * the number. SBC-4 5.32 and LIO's checks: @len 1..7: -EMSGSIZE
 * (PARAMETER LIST LENGTH ERROR); UNMAP DATA LENGTH or BLOCK DESCRIPTOR
 * DATA LENGTH beyond the list: -EINVAL (INVALID FIELD IN PARAMETER LIST);
 * more than @max descriptors: -E2BIG (the same sense); descriptors beyond
 * @avail: -EINVAL. A trailing partial descriptor is ignored, as SBC says.
 * @len 0: 0 descriptors.
 */
int sbh_unmap_parse(const uint8_t *buf, size_t len, size_t avail,
		    struct sbh_unmap_desc *out, size_t max, size_t *count);

#endif
