/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of handler/sense.c: sense layout and the errno mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handler/sense.h"
#include "xport/proto.h"

static void test_fixed(void **state)
{
	uint8_t s[TCMU_SENSE_BUFFERSIZE];

	(void)state;
	memset(s, 0xaa, sizeof(s));
	sbh_sense_fixed(s, sizeof(s), SCSI_SK_ILLEGAL_REQUEST,
			SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(s[2], 0x05);
	assert_int_equal(s[7], 10);
	assert_int_equal(s[12], 0x21);
	assert_int_equal(s[13], 0x00);
	/* Everything else cleared, INFORMATION included. */
	assert_int_equal(xp_get_be32(s + 3), 0);
	assert_int_equal(s[95], 0);
}

static void test_info(void **state)
{
	uint8_t s[TCMU_SENSE_BUFFERSIZE];

	(void)state;
	sbh_sense_fixed(s, sizeof(s), SCSI_SK_MISCOMPARE,
			SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_true(sbh_sense_set_info(s, 0x12345));
	assert_int_equal(s[0], 0xf0);
	assert_int_equal(xp_get_be32(s + 3), 0x12345);
	assert_true(sbh_sense_set_info(s, UINT32_MAX));
	assert_int_equal(xp_get_be32(s + 3), UINT32_MAX);
	/* Does not fit fixed format: VALID off, field zero. */
	assert_false(sbh_sense_set_info(s, 1ull << 32));
	assert_int_equal(s[0], 0x70);
	assert_int_equal(xp_get_be32(s + 3), 0);
}

/* sbh_status_from_errno() gives @st and, for PASSTHROUGH, key/asc. */
static void map(int err, enum sbh_dir dir, int st, uint8_t key, uint16_t asc)
{
	uint8_t s[TCMU_SENSE_BUFFERSIZE];

	memset(s, 0, sizeof(s));
	assert_int_equal(sbh_status_from_errno(err, dir, 0, s), st);
	if (st != TCMU_STS_PASSTHROUGH_ERR)
		return;
	assert_int_equal(s[0] & 0x7f, 0x70);
	assert_int_equal(s[2], key);
	assert_int_equal(s[12] << 8 | s[13], asc);
}

static void test_errno_table(void **state)
{
	(void)state;
	map(0, SBH_DIR_READ, TCMU_STS_OK, 0, 0);
	map(-ERANGE, SBH_DIR_WRITE, TCMU_STS_RANGE, 0, 0);
	map(-ENOMEM, SBH_DIR_WRITE, TCMU_STS_NO_RESOURCE, 0, 0);
	map(-EAGAIN, SBH_DIR_READ, TCMU_STS_NO_RESOURCE, 0, 0);
	map(-EIO, SBH_DIR_READ, TCMU_STS_RD_ERR, 0, 0);
	map(-EIO, SBH_DIR_WRITE, TCMU_STS_WR_ERR, 0, 0);
	map(-EIO, SBH_DIR_NONE, TCMU_STS_HW_ERR, 0, 0);
	map(-ESHUTDOWN, SBH_DIR_READ, TCMU_STS_BUSY, 0, 0);
	map(-EINVAL, SBH_DIR_READ, TCMU_STS_HW_ERR, 0, 0);
	map(-ENOENT, SBH_DIR_READ, TCMU_STS_HW_ERR, 0, 0);
	map(-EBADMSG, SBH_DIR_READ, TCMU_STS_HW_ERR, 0, 0);
	map(-ENOTSUP, SBH_DIR_WRITE, TCMU_STS_INVALID_CMD, 0, 0);
	/* Nodes unreachable: HARDWARE ERROR, LU COMMUNICATION FAILURE. */
	map(-ETIMEDOUT, SBH_DIR_READ, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_HARDWARE_ERROR, SBH_ASC_LU_COMM_FAILURE);
	map(-EHOSTUNREACH, SBH_DIR_WRITE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_HARDWARE_ERROR, SBH_ASC_LU_COMM_FAILURE);
	map(-ECONNREFUSED, SBH_DIR_NONE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_HARDWARE_ERROR, SBH_ASC_LU_COMM_FAILURE);
	map(-ECONNRESET, SBH_DIR_NONE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_HARDWARE_ERROR, SBH_ASC_LU_COMM_FAILURE);
	map(-EPERM, SBH_DIR_NONE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_HARDWARE_ERROR, SBH_ASC_LU_COMM_FAILURE);
	map(-ENOSPC, SBH_DIR_WRITE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_DATA_PROTECT, SBH_ASC_SPACE_ALLOC_FAILED);
	map(-XP_EMISCOMPARE, SBH_DIR_WRITE, TCMU_STS_PASSTHROUGH_ERR,
	    SCSI_SK_MISCOMPARE, SCSI_ASC_MISCOMPARE_DURING_VERIFY);
}

static void test_miscompare_info(void **state)
{
	uint8_t s[TCMU_SENSE_BUFFERSIZE];

	(void)state;
	memset(s, 0xee, sizeof(s));
	assert_int_equal(sbh_status_from_errno(-XP_EMISCOMPARE, SBH_DIR_WRITE,
					       513, s),
			 TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(s[0], 0xf0); /* VALID, current, fixed */
	assert_int_equal(s[2], SCSI_SK_MISCOMPARE);
	assert_int_equal(xp_get_be32(s + 3), 513);
	assert_int_equal(s[12], 0x1d);
	assert_int_equal(s[13], 0x00);
	assert_int_equal(s[20], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_miscompare_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
