/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handler/tcmu_abi.h against the system's libtcmu.so.2: the layouts again
 * at run time (the header pins them at compile time), and the behaviour
 * of the libtcmu helpers the handler relies on, exactly as
 * docs/tcmu-abi.md describes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handler/tcmu_abi.h"

static void test_layouts(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct tcmur_handler), 200);
	assert_int_equal(offsetof(struct tcmur_handler, nr_threads), 64);
	assert_int_equal(offsetof(struct tcmur_handler, handle_cmd), 72);
	assert_int_equal(offsetof(struct tcmur_handler, caw), 120);
	assert_int_equal(offsetof(struct tcmur_handler, _is_dbus_handler), 168);
	assert_int_equal(offsetof(struct tcmur_handler, destroy), 192);
	assert_int_equal(sizeof(struct tcmur_cmd), 96);
	assert_int_equal(offsetof(struct tcmur_cmd, lib_cmd), 0);
	assert_int_equal(offsetof(struct tcmur_cmd, done), 88);
	assert_int_equal(sizeof(struct tcmulib_cmd), 136);
	assert_int_equal(offsetof(struct tcmulib_cmd, sense_buf), 32);
	assert_int_equal(offsetof(struct tcmulib_cmd, hm_private), 128);
	assert_int_equal(sizeof(struct tcmulib_cfg_info), 16);
	assert_int_equal(offsetof(struct tcmulib_cfg_info, data), 8);
	assert_int_equal(TCMU_STS_ASYNC_HANDLED, -2);
	assert_int_equal(TCMU_STS_PASSTHROUGH_ERR, 2);
	assert_int_equal(TCMU_STS_MISCOMPARE, 6);
	assert_int_equal(TCMU_STS_RANGE, 14);
	assert_int_equal(TCMU_STS_TOO_MANY_TGT_DESC, 28);
}

/* tcmu_sense_set_data clears, fills fixed sense, returns PASSTHROUGH. */
static void test_sense(void **state)
{
	uint8_t s[TCMU_SENSE_BUFFERSIZE];

	(void)state;
	memset(s, 0xee, sizeof(s));
	assert_int_equal(tcmu_sense_set_data(s, SCSI_SK_ILLEGAL_REQUEST,
					     SCSI_ASC_LBA_OUT_OF_RANGE),
			 TCMU_STS_PASSTHROUGH_ERR);
	assert_int_equal(s[0], SCSI_SENSE_FIXED_CURRENT);
	assert_int_equal(s[SCSI_SENSE_KEY], SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(s[SCSI_SENSE_ADD_LEN], 10);
	assert_int_equal(s[SCSI_SENSE_ASC], 0x21);
	assert_int_equal(s[SCSI_SENSE_ASCQ], 0x00);
	assert_int_equal(s[95], 0);

	/* INFORMATION first, then key/ASC without clearing (MISCOMPARE) */
	tcmu_sense_set_info(s, 0x01020304);
	__tcmu_sense_set_data(s, SCSI_SK_MISCOMPARE,
			      SCSI_ASC_MISCOMPARE_DURING_VERIFY);
	assert_int_equal(s[0], SCSI_SENSE_FIXED_CURRENT | SCSI_SENSE_VALID);
	assert_int_equal(s[SCSI_SENSE_KEY], SCSI_SK_MISCOMPARE);
	assert_int_equal(s[3], 1);
	assert_int_equal(s[6], 4);
	assert_int_equal(s[SCSI_SENSE_ASC], 0x1d);

	/* and the trap: set_info after set_data wipes the key */
	tcmu_sense_set_data(s, SCSI_SK_MISCOMPARE, 0x1d00);
	tcmu_sense_set_info(s, 7);
	assert_int_equal(s[SCSI_SENSE_KEY], 0);
}

static void test_cdb(void **state)
{
	uint8_t r6[6] = {
		[0] = SCSI_OP_READ_6, [1] = 0x1f, [2] = 0xff, [3] = 0xfe, [4] = 9};
	uint8_t w10[10] = {[0] = SCSI_OP_WRITE_10,
			   [2] = 0x12,
			   [3] = 0x34,
			   [4] = 0x56,
			   [5] = 0x78,
			   [7] = 0x01,
			   [8] = 0x02};
	uint8_t r16[16] = {[0] = SCSI_OP_READ_16,
			   [2] = 1,
			   [3] = 2,
			   [4] = 3,
			   [5] = 4,
			   [6] = 5,
			   [7] = 6,
			   [8] = 7,
			   [9] = 8,
			   [12] = 0x10};
	uint8_t caw[16] = {[0] = SCSI_OP_COMPARE_AND_WRITE, [9] = 9, [13] = 1};

	(void)state;
	assert_int_equal(tcmu_cdb_get_length(r6), 6);
	assert_int_equal(tcmu_cdb_get_lba(r6), 0x1ffffe);
	assert_int_equal(tcmu_cdb_get_xfer_length(r6), 9);
	assert_int_equal(tcmu_cdb_get_length(w10), 10);
	assert_int_equal(tcmu_cdb_get_lba(w10), 0x12345678);
	assert_int_equal(tcmu_cdb_get_xfer_length(w10), 0x102);
	assert_int_equal(tcmu_cdb_get_length(r16), 16);
	assert_true(tcmu_cdb_get_lba(r16) == 0x0102030405060708ull);
	assert_int_equal(tcmu_cdb_get_xfer_length(r16), 0x1000);
	assert_int_equal(tcmu_cdb_get_lba(caw), 9);
	assert_int_equal(tcmu_cdb_get_xfer_length(caw), 1);
}

/* The copy helpers consume the iovec; compare finds the first byte. */
static void test_iovec(void **state)
{
	uint8_t a[10], b[6], src[16], back[16];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct iovec iov2[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i + 1);
	assert_int_equal(tcmu_iovec_length(iov, 2), 16);
	assert_int_equal(tcmu_memcpy_into_iovec(iov, 2, src, 16), 16);
	assert_int_equal(iov[0].iov_len, 0); /* consumed */
	assert_int_equal(tcmu_memcpy_from_iovec(back, 16, iov2, 2), 16);
	assert_memory_equal(back, src, 16);
	iov2[0].iov_base = a;
	iov2[0].iov_len = sizeof(a);
	iov2[1].iov_base = b;
	iov2[1].iov_len = sizeof(b);
	assert_int_equal(tcmu_iovec_compare(src, iov2, 16), -1);
	src[12] ^= 1;
	assert_int_equal(tcmu_iovec_compare(src, iov2, 16), 12);
	tcmu_iovec_zero(iov2, 2);
	assert_true(tcmu_iovec_zeroed(iov2, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_sense),
		cmocka_unit_test(test_cdb),
		cmocka_unit_test(test_iovec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
