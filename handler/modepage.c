/* SPDX-License-Identifier: Apache-2.0 */
/* MODE SENSE(6)/(10) answers (see modepage.h). */
#include "modepage.h"

#include <string.h>

#include "../xport/proto.h"
#include "tcmu_abi.h"

#define MS_DBD 0x08 /* byte 1: disable block descriptors */
#define MS_LLBAA 0x10 /* byte 1 of MODE SENSE(10): long LBA descriptors */
#define MS_PC_SHIFT 6 /* byte 2: page control */
#define MS_PAGE_MASK 0x3f
#define MS_ALL_PAGES 0x3f
#define MS_ALL_SUBPAGES 0xff

#define MS_DSP_DPOFUA 0x10 /* device-specific parameter (SBC-4 6.5.1) */
#define MS_LONGLBA 0x01 /* MODE SENSE(10) header byte 4 */

enum ms_pc {
	MS_PC_CURRENT = 0,
	MS_PC_CHANGEABLE = 1,
	MS_PC_DEFAULT = 2,
	MS_PC_SAVED = 3,
};

/*
 * One page: writes it at @p and returns its length. @pc picks current,
 * default (the same: nothing is changeable, and the write cache is on by
 * default) or changeable values (all zero: MODE SELECT changes nothing).
 */
typedef size_t (*ms_page_fn)(uint8_t *p, const struct sbh_mode_lun *lun,
			     enum ms_pc pc);

/* Read-Write Error Recovery (SBC-4 6.5.8): no recovery parameters. */
static size_t page_rw_recovery(uint8_t *p, const struct sbh_mode_lun *lun,
			       enum ms_pc pc)
{
	(void)lun;
	(void)pc;
	memset(p, 0, 12);
	p[0] = 0x01;
	p[1] = 0x0a;
	return 12;
}

/* Caching (SBC-4 6.5.5): WCE as configured (configfs emulate_write_cache). */
static size_t page_caching(uint8_t *p, const struct sbh_mode_lun *lun,
			   enum ms_pc pc)
{
	memset(p, 0, 20);
	p[0] = 0x08;
	p[1] = 0x12;
	if ((pc == MS_PC_CURRENT && lun->wce) || pc == MS_PC_DEFAULT)
		p[2] = 0x04;
	return 20;
}

/*
 * Control (SPC-4 7.5.8), the runner's values: GLTSD 1 (no log parameters
 * are saved), TAS 1 (LIO's default), BUSY TIMEOUT PERIOD unlimited.
 */
static size_t page_control(uint8_t *p, const struct sbh_mode_lun *lun,
			   enum ms_pc pc)
{
	(void)lun;
	memset(p, 0, 12);
	p[0] = 0x0a;
	p[1] = 0x0a;
	if (pc == MS_PC_CHANGEABLE)
		return 12;
	p[2] = 0x02;
	p[5] = 0x40;
	p[8] = 0xff;
	p[9] = 0xff;
	return 12;
}

static const struct {
	uint8_t code;
	ms_page_fn fn;
} ms_pages[] = {
	{0x01, page_rw_recovery},
	{0x08, page_caching},
	{0x0a, page_control},
};

#define MS_NPAGES (sizeof(ms_pages) / sizeof(ms_pages[0]))

size_t sbh_mode_sense_alloc_len(const uint8_t *cdb, size_t cdb_len)
{
	if (cdb_len >= 6 && cdb[0] == SCSI_OP_MODE_SENSE_6)
		return cdb[4];
	if (cdb_len >= 10 && cdb[0] == SCSI_OP_MODE_SENSE_10)
		return xp_get_be16(cdb + 7);
	return 0;
}

int sbh_mode_sense(const uint8_t *cdb, size_t cdb_len,
		   const struct sbh_mode_lun *lun, uint8_t *buf, size_t buflen,
		   size_t *len)
{
	bool ten, dbd, llbaa;
	uint8_t page, subpage;
	enum ms_pc pc;
	size_t hdr, bdl, n, i;
	bool found = false;

	if (buflen < SBH_MODE_MAX_LEN || !cdb_len)
		return TCMU_STS_INVALID_CDB;
	if (cdb[0] == SCSI_OP_MODE_SENSE_6)
		ten = false;
	else if (cdb[0] == SCSI_OP_MODE_SENSE_10)
		ten = true;
	else
		return TCMU_STS_INVALID_CMD;
	if (cdb_len < (ten ? 10u : 6u))
		return TCMU_STS_INVALID_CDB;

	dbd = cdb[1] & MS_DBD;
	llbaa = ten && (cdb[1] & MS_LLBAA);
	pc = (enum ms_pc)(cdb[2] >> MS_PC_SHIFT);
	page = cdb[2] & MS_PAGE_MASK;
	subpage = cdb[3];
	if (pc == MS_PC_SAVED)
		return TCMU_STS_NOTSUPP_SAVE_PARAMS;

	memset(buf, 0, SBH_MODE_MAX_LEN);
	hdr = ten ? 8 : 4;
	bdl = dbd ? 0 : (llbaa ? 16 : 8);
	n = hdr;
	if (bdl == 8) {
		uint64_t nb = lun->nr_blocks;

		xp_put_be32(buf + n,
			    nb > UINT32_MAX ? UINT32_MAX : (uint32_t)nb);
		buf[n + 5] = (uint8_t)(lun->block_size >> 16);
		buf[n + 6] = (uint8_t)(lun->block_size >> 8);
		buf[n + 7] = (uint8_t)lun->block_size;
	} else if (bdl == 16) {
		xp_put_be64(buf + n, lun->nr_blocks);
		xp_put_be32(buf + n + 12, lun->block_size);
	}
	n += bdl;

	for (i = 0; i < MS_NPAGES; i++) {
		if (page == MS_ALL_PAGES) {
			if (subpage != 0 && subpage != MS_ALL_SUBPAGES)
				return TCMU_STS_INVALID_CDB;
		} else if (page != ms_pages[i].code || subpage != 0) {
			continue;
		}
		n += ms_pages[i].fn(buf + n, lun, pc);
		found = true;
	}
	if (!found)
		return TCMU_STS_INVALID_CDB;

	if (ten) {
		xp_put_be16(buf, (uint16_t)(n - 2));
		buf[3] = MS_DSP_DPOFUA;
		if (bdl == 16)
			buf[4] = MS_LONGLBA;
		xp_put_be16(buf + 6, (uint16_t)bdl);
	} else {
		buf[0] = (uint8_t)(n - 1);
		buf[2] = MS_DSP_DPOFUA;
		buf[3] = (uint8_t)bdl;
	}
	*len = n;
	return TCMU_STS_OK;
}
