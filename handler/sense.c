/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sense building and the errno -> TCMU status mapping (see sense.h).
 *
 * Fixed-format sense (SPC-4 4.5.3), the layout libtcmu and LIO use:
 *
 *   byte 0   VALID(7) | RESPONSE CODE 70h (current)
 *   byte 2   SENSE KEY (3:0)
 *   3..6     INFORMATION (big-endian), meaningful when VALID
 *   byte 7   ADDITIONAL SENSE LENGTH = 10
 *   12, 13   ASC, ASCQ
 */
#include "sense.h"

#include <errno.h>
#include <string.h>

#include "../xport/proto.h"

void sbh_sense_fixed(uint8_t *buf, size_t len, uint8_t key, uint16_t asc_ascq)
{
	memset(buf, 0, len);
	buf[SCSI_SENSE_RESPONSE_CODE] = SCSI_SENSE_FIXED_CURRENT;
	buf[SCSI_SENSE_KEY] = key & 0x0f;
	buf[SCSI_SENSE_ADD_LEN] = SBH_SENSE_FIXED_LEN - 8;
	buf[SCSI_SENSE_ASC] = (uint8_t)(asc_ascq >> 8);
	buf[SCSI_SENSE_ASCQ] = (uint8_t)asc_ascq;
}

bool sbh_sense_set_info(uint8_t *buf, uint64_t info)
{
	if (info > UINT32_MAX) {
		buf[SCSI_SENSE_RESPONSE_CODE] &= (uint8_t)~SCSI_SENSE_VALID;
		xp_put_be32(buf + SCSI_SENSE_INFO, 0);
		return false;
	}
	buf[SCSI_SENSE_RESPONSE_CODE] |= SCSI_SENSE_VALID;
	xp_put_be32(buf + SCSI_SENSE_INFO, (uint32_t)info);
	return true;
}

static int sense_passthrough(uint8_t *sense, uint8_t key, uint16_t asc_ascq)
{
	sbh_sense_fixed(sense, TCMU_SENSE_BUFFERSIZE, key, asc_ascq);
	return TCMU_STS_PASSTHROUGH_ERR;
}

int sbh_status_from_errno(int err, enum sbh_dir dir, uint64_t info,
			  uint8_t *sense)
{
	switch (err) {
	case 0:
		return TCMU_STS_OK;
	case -XP_EMISCOMPARE:
		/* SBC-4 5.3: INFORMATION = offset of the first mismatch. */
		sbh_sense_fixed(sense, TCMU_SENSE_BUFFERSIZE,
				SCSI_SK_MISCOMPARE,
				SCSI_ASC_MISCOMPARE_DURING_VERIFY);
		sbh_sense_set_info(sense, info);
		return TCMU_STS_PASSTHROUGH_ERR;
	case -ERANGE:
		return TCMU_STS_RANGE;
	case -ENOMEM:
	case -ENOBUFS:
	case -EAGAIN:
		/* TASK SET FULL: the initiator retries later. */
		return TCMU_STS_NO_RESOURCE;
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
	case -ENETUNREACH:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -ENOTCONN:
	case -EPIPE:
	case -EPERM:
	case -EACCES:
	case -EPROTO:
		/* Storage nodes unreachable (or refusing us) after retries. */
		return sense_passthrough(sense, SCSI_SK_HARDWARE_ERROR,
					 SBH_ASC_LU_COMM_FAILURE);
	case -ESHUTDOWN:
	case -EBUSY:
		/* Engine stopping (device closing) or a lease held: retry. */
		return TCMU_STS_BUSY;
	case -ENOSPC:
	case -EDQUOT:
		/* Thin provisioning exhausted on a node (SBC-4 4.7.3.7). */
		return sense_passthrough(sense, SCSI_SK_DATA_PROTECT,
					 SBH_ASC_SPACE_ALLOC_FAILED);
	case -EIO:
		if (dir == SBH_DIR_READ)
			return TCMU_STS_RD_ERR;
		if (dir == SBH_DIR_WRITE)
			return TCMU_STS_WR_ERR;
		return TCMU_STS_HW_ERR;
	case -ENOTSUP:
		return TCMU_STS_INVALID_CMD;
	default:
		/* -EINVAL, -ENOENT, -EBADMSG...: INTERNAL TARGET FAILURE. */
		return TCMU_STS_HW_ERR;
	}
}
