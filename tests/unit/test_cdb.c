/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of handler/cdb.c: CDB and UNMAP parameter list decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handler/cdb.h"
#include "handler/tcmu_abi.h"
#include "xport/proto.h"

static int dec(const uint8_t *cdb, size_t len, struct sbh_cdb *c)
{
	return sbh_cdb_decode(cdb, len, c);
}

static void test_lengths(void **state)
{
	(void)state;
	assert_int_equal(sbh_cdb_length(SCSI_OP_READ_6), 6);
	assert_int_equal(sbh_cdb_length(SCSI_OP_READ_10), 10);
	assert_int_equal(sbh_cdb_length(SCSI_OP_UNMAP), 10);
	assert_int_equal(sbh_cdb_length(SCSI_OP_READ_12), 12);
	assert_int_equal(sbh_cdb_length(SCSI_OP_READ_16), 16);
	assert_int_equal(sbh_cdb_length(0x7f), -EINVAL);
	assert_int_equal(sbh_cdb_length(0xc0), -EINVAL);
}

static void test_rw6(void **state)
{
	uint8_t cdb[6] = {SCSI_OP_READ_6, 0xff, 0x12, 0x34, 0, 0};
	struct sbh_cdb c;

	(void)state;
	assert_int_equal(dec(cdb, 6, &c), 0);
	assert_int_equal(c.op, SBH_OP_READ);
	assert_int_equal(c.len, 6);
	/* 21-bit LBA: the top three bits of byte 1 are not part of it. */
	assert_int_equal(c.lba, 0x1f1234);
	/* TRANSFER LENGTH 0 means 256 blocks. */
	assert_int_equal(c.nblocks, 256);
	cdb[0] = SCSI_OP_WRITE_6;
	cdb[4] = 7;
	assert_int_equal(dec(cdb, 6, &c), 0);
	assert_int_equal(c.op, SBH_OP_WRITE);
	assert_int_equal(c.nblocks, 7);
	assert_false(c.fua);
	assert_int_equal(dec(cdb, 5, &c), -EMSGSIZE);
	assert_int_equal(dec(cdb, 0, &c), -EMSGSIZE);
}

static void test_rw10_12_16(void **state)
{
	uint8_t c10[10] = {SCSI_OP_WRITE_10,
			   SCSI_CDB_FUA,
			   0x01,
			   0x02,
			   0x03,
			   0x04,
			   0,
			   0xab,
			   0xcd,
			   0};
	uint8_t c12[12] = {SCSI_OP_READ_12,
			   0,
			   0xff,
			   0xff,
			   0xff,
			   0xff,
			   0x00,
			   0x01,
			   0x00,
			   0x00,
			   0,
			   0};
	uint8_t c16[16] = {SCSI_OP_WRITE_16, SCSI_CDB_FUA | SCSI_CDB_DPO};
	struct sbh_cdb c;

	(void)state;
	assert_int_equal(dec(c10, 10, &c), 0);
	assert_int_equal(c.op, SBH_OP_WRITE);
	assert_int_equal(c.lba, 0x01020304);
	assert_int_equal(c.nblocks, 0xabcd);
	assert_true(c.fua);

	assert_int_equal(dec(c12, 12, &c), 0);
	assert_int_equal(c.op, SBH_OP_READ);
	assert_int_equal(c.lba, 0xffffffffu);
	assert_int_equal(c.nblocks, 0x10000);
	assert_false(c.fua);

	xp_put_be64(c16 + 2, UINT64_MAX - 1);
	xp_put_be32(c16 + 10, UINT32_MAX);
	assert_int_equal(dec(c16, 16, &c), 0);
	assert_int_equal(c.lba, UINT64_MAX - 1);
	assert_int_equal(c.nblocks, UINT32_MAX);
	assert_true(c.fua);
	assert_int_equal(dec(c16, 15, &c), -EMSGSIZE);

	/* No protection information: WRPROTECT/RDPROTECT must be 0. */
	c10[1] = 0x20;
	assert_int_equal(dec(c10, 10, &c), -EINVAL);
	c12[1] = 0xe0;
	assert_int_equal(dec(c12, 12, &c), -EINVAL);
}

static void test_sync(void **state)
{
	uint8_t c10[10] = {SCSI_OP_SYNCHRONIZE_CACHE_10,
			   SCSI_CDB_SYNC_IMMED,
			   0,
			   0,
			   0,
			   9,
			   0,
			   0,
			   4,
			   0};
	uint8_t c16[16] = {SCSI_OP_SYNCHRONIZE_CACHE_16};
	struct sbh_cdb c;

	(void)state;
	assert_int_equal(dec(c10, 10, &c), 0);
	assert_int_equal(c.op, SBH_OP_SYNC);
	assert_true(c.immed);
	assert_int_equal(c.lba, 9);
	assert_int_equal(c.nblocks, 4);
	assert_int_equal(dec(c16, 16, &c), 0);
	assert_int_equal(c.op, SBH_OP_SYNC);
	assert_false(c.immed);
	assert_int_equal(c.nblocks, 0);
}

static void test_write_same(void **state)
{
	uint8_t c10[10] = {SCSI_OP_WRITE_SAME_10,
			   SCSI_CDB_WS_UNMAP,
			   0,
			   0,
			   0,
			   5,
			   0,
			   0,
			   8,
			   0};
	uint8_t c16[16] = {SCSI_OP_WRITE_SAME_16};
	struct sbh_cdb c;

	(void)state;
	assert_int_equal(dec(c10, 10, &c), 0);
	assert_int_equal(c.op, SBH_OP_WRITE_SAME);
	assert_true(c.unmap);
	assert_int_equal(c.lba, 5);
	assert_int_equal(c.nblocks, 8);
	c10[1] |= SCSI_CDB_WS_ANCHOR;
	assert_int_equal(dec(c10, 10, &c), -EINVAL);

	xp_put_be64(c16 + 2, 1ull << 40);
	xp_put_be32(c16 + 10, 1u << 31);
	assert_int_equal(dec(c16, 16, &c), 0);
	assert_false(c.unmap);
	assert_int_equal(c.lba, 1ull << 40);
	assert_int_equal(c.nblocks, 1u << 31);
	/* NDOB is not supported. */
	c16[1] = SCSI_CDB_WS_NDOB;
	assert_int_equal(dec(c16, 16, &c), -EINVAL);
	c16[1] = 0x20;
	assert_int_equal(dec(c16, 16, &c), -EINVAL);
}

static void test_unmap_caw_verify(void **state)
{
	uint8_t um[10] = {SCSI_OP_UNMAP, 0, 0, 0, 0, 0, 0, 0x01, 0x18, 0};
	uint8_t caw[16] = {SCSI_OP_COMPARE_AND_WRITE, SCSI_CDB_FUA};
	uint8_t v10[10] = {SCSI_OP_VERIFY_10, 0x02, 0, 0, 0, 1, 0, 0, 2, 0};
	uint8_t v16[16] = {SCSI_OP_VERIFY_16, 0x06};
	uint8_t v12[12] = {SCSI_OP_VERIFY_12, 0};
	struct sbh_cdb c;

	(void)state;
	assert_int_equal(dec(um, 10, &c), 0);
	assert_int_equal(c.op, SBH_OP_UNMAP);
	assert_int_equal(c.param_len, 0x118);
	um[1] = 1; /* ANCHOR */
	assert_int_equal(dec(um, 10, &c), -EINVAL);

	xp_put_be64(caw + 2, 77);
	caw[13] = 3;
	assert_int_equal(dec(caw, 16, &c), 0);
	assert_int_equal(c.op, SBH_OP_CAW);
	assert_int_equal(c.lba, 77);
	assert_int_equal(c.nblocks, 3);
	assert_true(c.fua);

	assert_int_equal(dec(v10, 10, &c), 0);
	assert_int_equal(c.op, SBH_OP_VERIFY);
	assert_int_equal(c.bytchk, SBH_BYTCHK_ALL);
	assert_int_equal(c.lba, 1);
	assert_int_equal(c.nblocks, 2);
	assert_int_equal(dec(v16, 16, &c), 0);
	assert_int_equal(c.bytchk, SBH_BYTCHK_ONE);
	assert_int_equal(dec(v12, 12, &c), 0);
	assert_int_equal(c.bytchk, SBH_BYTCHK_NONE);
	v12[1] = 0x04; /* BYTCHK 10b: reserved */
	assert_int_equal(dec(v12, 12, &c), -EINVAL);
	v10[1] = 0x20; /* VRPROTECT */
	assert_int_equal(dec(v10, 10, &c), -EINVAL);
}

static void test_not_ours(void **state)
{
	static const uint8_t ops[] = {
		SCSI_OP_TEST_UNIT_READY,
		SCSI_OP_INQUIRY,
		SCSI_OP_REQUEST_SENSE,
		SCSI_OP_MODE_SENSE_6,
		SCSI_OP_MODE_SENSE_10,
		SCSI_OP_READ_CAPACITY_10,
		SCSI_OP_SERVICE_ACTION_IN_16,
		SCSI_OP_WRITE_VERIFY_10,
		SCSI_OP_EXTENDED_COPY,
		SCSI_OP_REPORT_LUNS,
		SCSI_OP_START_STOP_UNIT,
		0xc0,
		0xff,
		0x7f,
	};
	uint8_t cdb[16] = {0};
	struct sbh_cdb c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ops); i++) {
		cdb[0] = ops[i];
		assert_int_equal(dec(cdb, sizeof(cdb), &c), -ENOTSUP);
	}
}

static size_t unmap_list(uint8_t *buf, unsigned int n, uint16_t dl_adj,
			 uint16_t bddl_adj)
{
	unsigned int i;

	memset(buf, 0, SBH_UNMAP_HDR_LEN + n * SBH_UNMAP_DESC_LEN);
	xp_put_be16(buf, (uint16_t)(6 + n * 16 + dl_adj));
	xp_put_be16(buf + 2, (uint16_t)(n * 16 + bddl_adj));
	for (i = 0; i < n; i++) {
		xp_put_be64(buf + 8 + i * 16, 1000 * (i + 1));
		xp_put_be32(buf + 16 + i * 16, 10 + i);
	}
	return SBH_UNMAP_HDR_LEN + n * SBH_UNMAP_DESC_LEN;
}

static void test_unmap_parse(void **state)
{
	struct sbh_unmap_desc d[8];
	uint8_t buf[8 + 16 * 8] = {0};
	size_t len, n;

	(void)state;
	assert_int_equal(sbh_unmap_parse(buf, 0, 0, d, 8, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sbh_unmap_parse(buf, 7, 7, d, 8, &n), -EMSGSIZE);

	len = unmap_list(buf, 3, 0, 0);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(d[0].lba, 1000);
	assert_int_equal(d[0].nblocks, 10);
	assert_int_equal(d[2].lba, 3000);
	assert_int_equal(d[2].nblocks, 12);

	/* A trailing partial descriptor is ignored. */
	len = unmap_list(buf, 2, 8, 8);
	assert_int_equal(sbh_unmap_parse(buf, len + 8, len + 8, d, 8, &n), 0);
	assert_int_equal(n, 2);

	/* Lengths pointing past the list. */
	len = unmap_list(buf, 2, 0, 16);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 8, &n), -EINVAL);
	len = unmap_list(buf, 2, 2, 0);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 8, &n), -EINVAL);
	xp_put_be16(buf + 2, 0xfff0);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 8, &n), -EINVAL);

	/* Too many descriptors. */
	len = unmap_list(buf, 5, 0, 0);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 4, &n), -E2BIG);
	assert_int_equal(n, 0);

	/* Fewer bytes held than the descriptors need. */
	len = unmap_list(buf, 3, 0, 0);
	assert_int_equal(sbh_unmap_parse(buf, len, len - 1, d, 8, &n), -EINVAL);
	assert_int_equal(sbh_unmap_parse(buf, len, 4, d, 8, &n), -EINVAL);

	/* Zero descriptors. */
	len = unmap_list(buf, 0, 0, 0);
	assert_int_equal(sbh_unmap_parse(buf, len, len, d, 8, &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_rw6),
		cmocka_unit_test(test_rw10_12_16),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_write_same),
		cmocka_unit_test(test_unmap_caw_verify),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_unmap_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
