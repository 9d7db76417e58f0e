/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of handler/modepage.c: MODE SENSE(6)/(10) answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handler/modepage.h"
#include "handler/tcmu_abi.h"

static const struct sbh_mode_lun lun = {
	.nr_blocks = 131072, /* 64 MiB of 512-byte blocks */
	.block_size = 512,
	.wce = true,
};

static int sense6(uint8_t b1, uint8_t b2, uint8_t sub, uint8_t *buf,
		  size_t *len, const struct sbh_mode_lun *l)
{
	uint8_t cdb[6] = {SCSI_OP_MODE_SENSE_6, b1, b2, sub, 0xff, 0};

	return sbh_mode_sense(cdb, sizeof(cdb), l, buf, SBH_MODE_MAX_LEN, len);
}

static int sense10(uint8_t b1, uint8_t b2, uint8_t sub, uint8_t *buf,
		   size_t *len)
{
	uint8_t cdb[10] = {SCSI_OP_MODE_SENSE_10, b1, b2, sub, 0, 0, 0, 1, 0};

	return sbh_mode_sense(cdb, sizeof(cdb), &lun, buf, SBH_MODE_MAX_LEN,
			      len);
}

/* The offset of page @code in an answer with header @hdr, or -1. */
static int find_page(const uint8_t *buf, size_t len, size_t start, uint8_t code)
{
	size_t off = start;

	while (off + 2 <= len) {
		if ((buf[off] & 0x3f) == code)
			return (int)off;
		off += 2u + buf[off + 1];
	}
	return -1;
}

static void test_all_pages_6(void **state)
{
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;
	int off;

	(void)state;
	assert_int_equal(sense6(0, 0x3f, 0, buf, &len, &lun), TCMU_STS_OK);
	/* header 4 + short block descriptor 8 + pages 12 + 20 + 12 */
	assert_int_equal(len, 4 + 8 + 44);
	assert_int_equal(buf[0], len - 1); /* MODE DATA LENGTH */
	assert_int_equal(buf[2] & 0x10, 0x10); /* DPOFUA */
	assert_int_equal(buf[2] & 0x80, 0); /* not write protected */
	assert_int_equal(buf[3], 8); /* BLOCK DESCRIPTOR LENGTH */
	/* NUMBER OF LOGICAL BLOCKS, LOGICAL BLOCK LENGTH */
	assert_memory_equal(buf + 4, "\x00\x02\x00\x00\x00\x00\x02\x00", 8);
	/* pages in ascending order */
	assert_int_equal(buf[12], 0x01);
	assert_int_equal(buf[24], 0x08);
	assert_int_equal(buf[44], 0x0a);
	off = find_page(buf, len, 12, 0x08);
	assert_int_equal(off, 24);
	assert_int_equal(buf[off + 1], 0x12);
	assert_int_equal(buf[off + 2] & 0x04, 0x04); /* WCE */
	off = find_page(buf, len, 12, 0x0a);
	assert_int_equal(buf[off + 2], 0x02); /* GLTSD */
	assert_int_equal(buf[off + 5], 0x40); /* TAS */
}

static void test_dbd_and_single_page(void **state)
{
	struct sbh_mode_lun nowc = lun;
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;

	(void)state;
	nowc.wce = false;
	assert_int_equal(sense6(0x08, 0x08, 0, buf, &len, &nowc), TCMU_STS_OK);
	assert_int_equal(len, 4 + 20);
	assert_int_equal(buf[0], 23);
	assert_int_equal(buf[3], 0); /* DBD: no descriptor */
	assert_int_equal(buf[4], 0x08);
	assert_int_equal(buf[6] & 0x04, 0); /* WCE off */
	assert_int_equal(buf[2], 0x10);
}

static void test_page_control(void **state)
{
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;
	int off;

	(void)state;
	/* changeable: nothing is */
	assert_int_equal(sense6(0x08, 0x40 | 0x3f, 0, buf, &len, &lun),
			 TCMU_STS_OK);
	off = find_page(buf, len, 4, 0x08);
	assert_true(off > 0);
	assert_int_equal(buf[off + 2], 0);
	off = find_page(buf, len, 4, 0x0a);
	assert_true(off > 0);
	assert_int_equal(buf[off + 2], 0);
	assert_int_equal(buf[off + 8], 0);
	/* default: write cache on */
	assert_int_equal(sense6(0x08, 0x80 | 0x08, 0, buf, &len, &lun),
			 TCMU_STS_OK);
	assert_int_equal(buf[6] & 0x04, 0x04);
	/* saved: not supported */
	assert_int_equal(sense6(0, 0xc0 | 0x3f, 0, buf, &len, &lun),
			 TCMU_STS_NOTSUPP_SAVE_PARAMS);
}

static void test_unknown_pages(void **state)
{
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;

	(void)state;
	assert_int_equal(sense6(0, 0x00, 0, buf, &len, &lun),
			 TCMU_STS_INVALID_CDB);
	assert_int_equal(sense6(0, 0x1c, 0, buf, &len, &lun),
			 TCMU_STS_INVALID_CDB);
	assert_int_equal(sense6(0, 0x08, 1, buf, &len, &lun),
			 TCMU_STS_INVALID_CDB);
	assert_int_equal(sense6(0, 0x3f, 5, buf, &len, &lun),
			 TCMU_STS_INVALID_CDB);
	/* all pages and subpages */
	assert_int_equal(sense6(0, 0x3f, 0xff, buf, &len, &lun), TCMU_STS_OK);
	assert_int_equal(len, 4 + 8 + 44);
}

static void test_sense10(void **state)
{
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;

	(void)state;
	assert_int_equal(sense10(0, 0x3f, 0, buf, &len), TCMU_STS_OK);
	assert_int_equal(len, 8 + 8 + 44);
	assert_int_equal(buf[0] << 8 | buf[1], len - 2);
	assert_int_equal(buf[3], 0x10); /* DPOFUA */
	assert_int_equal(buf[4], 0); /* LONGLBA */
	assert_int_equal(buf[6] << 8 | buf[7], 8);

	/* LLBAA: a 16-byte descriptor with the 64-bit block count */
	assert_int_equal(sense10(0x10, 0x3f, 0, buf, &len), TCMU_STS_OK);
	assert_int_equal(len, 8 + 16 + 44);
	assert_int_equal(buf[4], 1);
	assert_int_equal(buf[6] << 8 | buf[7], 16);
	assert_memory_equal(buf + 8, "\0\0\0\0\0\x02\0\0", 8);
	assert_memory_equal(buf + 20, "\0\0\x02\0", 4);
	assert_int_equal(buf[24], 0x01);
}

static void test_huge_lun(void **state)
{
	struct sbh_mode_lun big = lun;
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;

	(void)state;
	big.nr_blocks = 1ull << 33;
	big.block_size = 4096;
	assert_int_equal(sense6(0, 0x01, 0, buf, &len, &big), TCMU_STS_OK);
	/* more blocks than 32 bits hold: FFFFFFFFh (SBC-4 6.5.2.2) */
	assert_memory_equal(buf + 4, "\xff\xff\xff\xff\x00\x00\x10\x00", 8);
}

static void test_bad_cdbs(void **state)
{
	uint8_t cdb[10] = {SCSI_OP_MODE_SENSE_10, 0, 0x3f, 0, 0, 0, 0, 0, 64};
	uint8_t buf[SBH_MODE_MAX_LEN];
	size_t len;

	(void)state;
	assert_int_equal(sbh_mode_sense(cdb, 6, &lun, buf, sizeof(buf), &len),
			 TCMU_STS_INVALID_CDB);
	assert_int_equal(sbh_mode_sense(cdb, 10, &lun, buf, 16, &len),
			 TCMU_STS_INVALID_CDB);
	cdb[0] = SCSI_OP_INQUIRY;
	assert_int_equal(sbh_mode_sense(cdb, 10, &lun, buf, sizeof(buf), &len),
			 TCMU_STS_INVALID_CMD);
	cdb[0] = SCSI_OP_MODE_SENSE_10;
	cdb[7] = 1;
	assert_int_equal(sbh_mode_sense_alloc_len(cdb, 10), 256 + 64);
	assert_int_equal(sbh_mode_sense_alloc_len(cdb, 9), 0);
	cdb[0] = SCSI_OP_MODE_SENSE_6;
	cdb[4] = 200;
	assert_int_equal(sbh_mode_sense_alloc_len(cdb, 6), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_pages_6),
		cmocka_unit_test(test_dbd_and_single_page),
		cmocka_unit_test(test_page_control),
		cmocka_unit_test(test_unknown_pages),
		cmocka_unit_test(test_sense10),
		cmocka_unit_test(test_huge_lun),
		cmocka_unit_test(test_bad_cdbs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
