/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of node/io.c: the io_uring engine on real files (ext4 or
 * whatever $TMPDIR is, and tmpfs at /dev/shm for the ZERO_RANGE fallback).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/io.h"

#define MIB (1u << 20)

struct done {
	struct nd_io_op op;
	int res;
	int calls;
};

static void on_done(struct nd_io_op *op, int res)
{
	struct done *d = (struct done *)(void *)op;

	d->res = res;
	d->calls++;
}

/* Run the engine until @n operations of @d have completed. */
static void wait_all(struct nd_io *io, struct done *d, size_t n)
{
	size_t i, left;
	int spins = 0;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++)
			left += d[i].calls == 0;
		if (!left)
			break;
		assert_true(nd_io_wait(io, 1000) >= 0);
		assert_true(++spins < 10000);
	}
	for (i = 0; i < n; i++)
		assert_int_equal(d[i].calls, 1);
}

static int temp_file(const char *dir, char *path, size_t cap, off_t size)
{
	int fd;

	snprintf(path, cap, "%s/spanblk-io-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

static uint64_t allocated(int fd)
{
	struct stat sb;

	assert_int_equal(fstat(fd, &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

static void fill(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);

		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static bool zeros(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void test_new_rejects_bad_sizes(void **state)
{
	struct nd_io *io = NULL;

	(void)state;
	assert_int_equal(nd_io_new(4, &io), -EINVAL);
	assert_int_equal(nd_io_new(100, &io), -EINVAL);
	assert_int_equal(nd_io_new(8192, &io), -EINVAL);
	assert_int_equal(nd_io_new(8, &io), 0);
	assert_true(nd_io_event_fd(io) >= 0);
	assert_int_equal(nd_io_inflight(io), 0);
	nd_io_free(io);
	nd_io_free(NULL);
}

static void test_write_read_fua_fsync(void **state)
{
	static uint8_t w[4 * MIB], r[4 * MIB];
	struct done d[4] = {0};
	char path[PATH_MAX];
	struct nd_io *io;
	int fd;

	(void)state;
	assert_int_equal(nd_io_new(8, &io), 0);
	fd = temp_file(tmpdir(), path, sizeof(path), 64 * MIB);
	fill(w, sizeof(w));
	assert_int_equal(nd_io_write(io, &d[0].op, fd, w, sizeof(w), MIB, false,
				     on_done),
			 0);
	assert_int_equal(nd_io_write(io, &d[1].op, fd, w, 4096, 32 * MIB, true,
				     on_done),
			 0);
	/* The callback never runs inside the submit call. */
	assert_int_equal(d[0].calls + d[1].calls, 0);
	assert_int_equal(nd_io_inflight(io), 2);
	wait_all(io, d, 2);
	assert_int_equal(d[0].res, 0);
	assert_int_equal(d[1].res, 0);
	assert_int_equal(nd_io_fsync(io, &d[2].op, fd, on_done), 0);
	assert_int_equal(
		nd_io_read(io, &d[3].op, fd, r, sizeof(r), MIB, on_done), 0);
	wait_all(io, d + 2, 2);
	assert_int_equal(d[2].res, 0);
	assert_int_equal(d[3].res, 0);
	assert_memory_equal(w, r, sizeof(r));
	assert_int_equal(nd_io_inflight(io), 0);

	assert_int_equal(nd_io_read(io, &d[0].op, fd, NULL, 1, 0, on_done),
			 -EINVAL);
	assert_int_equal(nd_io_write(io, &d[0].op, fd, w, 0, 0, false, on_done),
			 -EINVAL);
	close(fd);
	nd_io_free(io);
}

/* Many more operations than SQ entries: the overflow queue takes them. */
static void test_more_ops_than_ring(void **state)
{
	enum { N = 200, LEN = 4096 };
	static uint8_t w[N][LEN], r[N][LEN];
	static struct done d[N];
	char path[PATH_MAX];
	struct nd_io *io;
	int fd, i;

	(void)state;
	assert_int_equal(nd_io_new(8, &io), 0);
	fd = temp_file(tmpdir(), path, sizeof(path), N * LEN);
	fill(&w[0][0], sizeof(w));
	memset(d, 0, sizeof(d));
	for (i = 0; i < N; i++)
		assert_int_equal(nd_io_write(io, &d[i].op, fd, w[i], LEN,
					     (uint64_t)i * LEN, false, on_done),
				 0);
	assert_int_equal(nd_io_inflight(io), N);
	wait_all(io, d, N);
	memset(d, 0, sizeof(d));
	for (i = 0; i < N; i++)
		assert_int_equal(nd_io_read(io, &d[i].op, fd, r[i], LEN,
					    (uint64_t)i * LEN, on_done),
				 0);
	wait_all(io, d, N);
	for (i = 0; i < N; i++)
		assert_int_equal(d[i].res, 0);
	assert_memory_equal(w, r, sizeof(w));
	close(fd);
	nd_io_free(io);
}

static void test_read_past_eof_is_zeros(void **state)
{
	uint8_t w[4096], r[8192];
	struct done d = {0};
	char path[PATH_MAX];
	struct nd_io *io;
	int fd;

	(void)state;
	assert_int_equal(nd_io_new(8, &io), 0);
	fd = temp_file(tmpdir(), path, sizeof(path), 4096);
	memset(w, 0x77, sizeof(w));
	assert_int_equal(pwrite(fd, w, sizeof(w), 0), sizeof(w));
	memset(r, 0xee, sizeof(r));
	assert_int_equal(nd_io_read(io, &d.op, fd, r, sizeof(r), 0, on_done),
			 0);
	wait_all(io, &d, 1);
	assert_int_equal(d.res, 0);
	assert_memory_equal(r, w, 4096);
	assert_true(zeros(r + 4096, 4096));
	close(fd);
	nd_io_free(io);
}

static void zero_case(const char *dir, unsigned int flags,
		      enum nd_zero_how want, bool dealloc)
{
	static uint8_t buf[2 * MIB];
	struct done d = {0};
	char path[PATH_MAX];
	struct nd_io *io;
	uint64_t before;
	int fd;

	assert_int_equal(nd_io_new(8, &io), 0);
	fd = temp_file(dir, path, sizeof(path), 8 * MIB);
	fill(buf, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), MIB), sizeof(buf));
	assert_int_equal(fsync(fd), 0);
	before = allocated(fd);
	assert_int_equal(
		nd_io_zero(io, &d.op, fd, MIB + 4096, MIB, flags, on_done), 0);
	wait_all(io, &d, 1);
	assert_int_equal(d.res, 0);
	assert_int_equal(d.op.zero_how, want);
	assert_int_equal(pread(fd, buf, sizeof(buf), MIB), sizeof(buf));
	assert_false(zeros(buf, 4096));
	assert_true(zeros(buf + 4096, MIB));
	assert_false(zeros(buf + 4096 + MIB, 4096));
	if (dealloc)
		assert_true(allocated(fd) + MIB <= before);
	{
		struct stat sb;

		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(sb.st_size, 8 * MIB);
	}
	close(fd);
	nd_io_free(io);
}

static void test_zero_range_on_disk(void **state)
{
	struct statfs sf;

	(void)state;
	assert_int_equal(statfs(tmpdir(), &sf), 0);
	if (sf.f_type == TMPFS_MAGIC)
		skip();
	zero_case(tmpdir(), 0, ND_ZERO_BY_ZERO_RANGE, false);
}

static void test_zero_with_unmap_punches(void **state)
{
	(void)state;
	zero_case(tmpdir(), ND_ZERO_UNMAP, ND_ZERO_BY_PUNCH, true);
}

static void test_zero_known_unsupported_punches(void **state)
{
	(void)state;
	zero_case(tmpdir(), ND_ZERO_NO_ZERO_RANGE, ND_ZERO_BY_PUNCH, true);
}

/* tmpfs rejects ZERO_RANGE: the engine falls back to punching. */
static void test_zero_range_fallback_on_tmpfs(void **state)
{
	struct statfs sf;

	(void)state;
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC)
		skip();
	zero_case("/dev/shm", 0, ND_ZERO_BY_PUNCH, true);
}

/* Nothing to fallocate on (/dev/null): zeros are written instead. */
static void test_zero_falls_back_to_writes(void **state)
{
	struct done d = {0};
	struct nd_io *io;
	int fd;

	(void)state;
	assert_int_equal(nd_io_new(8, &io), 0);
	fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(nd_io_zero(io, &d.op, fd, 0, 3 * MIB + 5, 0, on_done),
			 0);
	wait_all(io, &d, 1);
	assert_int_equal(d.res, 0);
	assert_int_equal(d.op.zero_how, ND_ZERO_BY_WRITE);
	assert_int_equal(d.op.done, 3 * MIB + 5);
	close(fd);
	nd_io_free(io);
}

static void test_errors_reach_the_callback(void **state)
{
	uint8_t buf[4096] = {0};
	struct done d = {0};
	struct nd_io *io;
	int fd;

	(void)state;
	assert_int_equal(nd_io_new(8, &io), 0);
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	/* Writing to a read-only fd fails in the kernel, not at submit. */
	assert_int_equal(nd_io_write(io, &d.op, fd, buf, sizeof(buf), 0, false,
				     on_done),
			 0);
	wait_all(io, &d, 1);
	assert_int_equal(d.res, -EBADF);
	close(fd);
	assert_int_equal(nd_io_fsync(io, &d.op, -1, on_done), -EINVAL);
	nd_io_free(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_sizes),
		cmocka_unit_test(test_write_read_fua_fsync),
		cmocka_unit_test(test_more_ops_than_ring),
		cmocka_unit_test(test_read_past_eof_is_zeros),
		cmocka_unit_test(test_zero_range_on_disk),
		cmocka_unit_test(test_zero_with_unmap_punches),
		cmocka_unit_test(test_zero_known_unsupported_punches),
		cmocka_unit_test(test_zero_range_fallback_on_tmpfs),
		cmocka_unit_test(test_zero_falls_back_to_writes),
		cmocka_unit_test(test_errors_reach_the_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
