/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MODE SENSE(6) and MODE SENSE(10), answered by the handler (SPC-4 6.11,
 * 6.12; SBC-4 6.5). tcmu-runner 1.5.4 answers them with DPOFUA = 0 in the
 * mode parameter header, which tells initiators that DPO and FUA are not
 * supported, although spanblk honours FUA (docs/scsi.md). The handler
 * answers instead, with DPOFUA = 1 and the same three pages the runner
 * returns (so the runner's MODE SELECT, which compares a page with its
 * own, still accepts an unchanged page), plus block descriptors and the
 * page-control values the runner ignores.
 *
 * Pure: no device, no libtcmu; handler.c supplies the LUN's values.
 */
#ifndef SPANBLK_HANDLER_MODEPAGE_H
#define SPANBLK_HANDLER_MODEPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a mode parameter list reports about the LUN. */
struct sbh_mode_lun {
	uint64_t nr_blocks;
	uint32_t block_size;
	bool wce; /* write cache enabled: caching page WCE */
};

/* The largest answer: header 8 + long descriptor 16 + pages 12 + 20 + 12. */
#define SBH_MODE_MAX_LEN 68

/*
 * Build the answer to the MODE SENSE @cdb (@cdb_len bytes, 6 or 10 from
 * the opcode) in @buf (@buflen >= SBH_MODE_MAX_LEN) and its full length
 * in *@len (before truncation to the ALLOCATION LENGTH, which the caller
 * applies). Returns a TCMU_STS_* value: TCMU_STS_OK; TCMU_STS_INVALID_CDB
 * for an unknown page or subpage or a CDB shorter than its opcode needs;
 * TCMU_STS_NOTSUPP_SAVE_PARAMS for saved values (PC 11b: nothing is
 * saved, SPC-4 6.11.2); TCMU_STS_INVALID_CMD for another opcode.
 */
int sbh_mode_sense(const uint8_t *cdb, size_t cdb_len,
		   const struct sbh_mode_lun *lun, uint8_t *buf, size_t buflen,
		   size_t *len);

/* ALLOCATION LENGTH of a MODE SENSE(6)/(10) CDB of @cdb_len bytes. */
size_t sbh_mode_sense_alloc_len(const uint8_t *cdb, size_t cdb_len);

#endif
