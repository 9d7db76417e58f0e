/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sense data and the one place where a negative errno from the engine
 * becomes a TCMU status (and, where libtcmu has no status for it, sense
 * data built here). docs/scsi.md has the table.
 */
#ifndef SPANBLK_HANDLER_SENSE_H
#define SPANBLK_HANDLER_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcmu_abi.h"

#define SBH_SENSE_FIXED_LEN 18 /* fixed format with ADDITIONAL LENGTH 10 */

/* ASC/ASCQ pairs tcmu_abi.h does not name. */
#define SBH_ASC_LU_COMM_FAILURE 0x0800 /* LOGICAL UNIT COMMUNICATION FAILURE */
#define SBH_ASC_SPACE_ALLOC_FAILED 0x2707 /* SPACE ALLOCATION FAILED ... */

/* What the failed command was doing; picks READ vs WRITE medium errors. */
enum sbh_dir {
	SBH_DIR_READ,
	SBH_DIR_WRITE,
	SBH_DIR_NONE, /* FLUSH */
};

/*
 * Fill @buf (@len bytes, at least SBH_SENSE_FIXED_LEN; cleared first)
 * with fixed-format current sense: @key, @asc_ascq (ASC << 8 | ASCQ).
 */
void sbh_sense_fixed(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq);

/*
 * Set the INFORMATION field of fixed-format sense in @buf to @info with
 * the VALID bit. Fixed format holds 32 bits: a larger @info leaves VALID
 * clear and the field zero. Returns true when VALID was set.
 */
bool sbh_sense_set_info(uint8_t *buf, uint64_t info);

/*
 * THE errno -> SCSI mapping. @err is 0 or a negative errno from the
 * engine or the handler; @dir the direction of the command; @info the
 * miscompare offset for -EILSEQ (XP_EMISCOMPARE). Returns the TCMU_STS_*
 * to complete the command with; when that is TCMU_STS_PASSTHROUGH_ERR,
 * @sense (TCMU_SENSE_BUFFERSIZE bytes) holds the sense data.
 */
int sbh_status_from_errno(int err, enum sbh_dir dir, uint64_t info,
			  uint8_t *sense);

#endif
