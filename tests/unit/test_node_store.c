/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of node/store.c: LUN files in a temporary data folder.
 * Each test gets a fresh folder under $TMPDIR (or /tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/store.h"

#define MIB (1ull << 20)

struct fx {
	char dir[PATH_MAX];
	struct nd_store *st;
};

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/spanblk-store-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	if (nd_store_open(f->dir, &f->st, err, sizeof(err)))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nd_store_close(f->st);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	char err[256];

	nd_store_close(f->st);
	f->st = NULL;
	assert_int_equal(nd_store_open(f->dir, &f->st, err, sizeof(err)), 0);
}

static void path_of(const struct fx *f, uint64_t id, const char *suffix,
		    char *out, size_t cap)
{
	snprintf(out, cap, "%s/luns/%016llx%s", f->dir, (unsigned long long)id,
		 suffix);
}

static bool exists(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

static void test_create_find_reopen(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64];
	struct nd_lun *lun;
	struct stat sb;

	assert_int_equal(
		nd_store_create(f->st, 0xabc, "vol0", 4, 8 * MIB, &lun), 0);
	assert_non_null(lun);
	assert_string_equal(lun->name, "vol0");
	assert_int_equal(lun->size, 8 * MIB);
	assert_ptr_equal(nd_store_find(f->st, 0xabc), lun);
	assert_null(nd_store_find(f->st, 0xabd));
	assert_int_equal(nd_store_count(f->st), 1);

	path_of(f, 0xabc, ".data", p, sizeof(p));
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 8 * MIB);
	/* Sparse: nothing allocated yet. */
	assert_true((uint64_t)sb.st_blocks * 512 < MIB);
	path_of(f, 0xabc, ".meta", p, sizeof(p));
	assert_true(exists(p));

	/* Idempotent; another size or name is a conflict. */
	assert_int_equal(
		nd_store_create(f->st, 0xabc, "vol0", 4, 8 * MIB, NULL), 0);
	assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4, 9 * MIB,
					 NULL),
			 -EEXIST);
	assert_int_equal(nd_store_create(f->st, 0xabc, "vol1", 4, 8 * MIB,
					 NULL),
			 -EEXIST);

	reopen(f);
	lun = nd_store_find(f->st, 0xabc);
	assert_non_null(lun);
	assert_string_equal(lun->name, "vol0");
	assert_int_equal(lun->size, 8 * MIB);
}

static void test_bad_names_and_sizes(void **state)
{
	struct fx *f = *state;
	char long_name[XP_LUN_NAME_MAX + 1];

	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(nd_store_create(f->st, 1, "", 0, MIB, NULL), -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "a/b", 3, MIB, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "a b", 3, MIB, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "..\n", 3, MIB, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, long_name, sizeof(long_name),
					 MIB, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, long_name, XP_LUN_NAME_MAX,
					 MIB, NULL),
			 0);
	assert_int_equal(nd_store_create(f->st, 0, "x", 1, MIB, NULL), -EINVAL);
	assert_int_equal(nd_store_create(f->st, 2, "x", 1, 0, NULL), -EINVAL);
	assert_int_equal(nd_store_create(f->st, 2, "x", 1, ND_LUN_SIZE_MAX + 1,
					 NULL),
			 -EINVAL);
	assert_int_equal(nd_store_count(f->st), 1);
}

static void test_resize_is_durable(void **state)
{
	struct fx *f = *state;
	struct nd_lun *lun;
	struct stat sb;

	assert_int_equal(nd_store_create(f->st, 7, "r", 1, MIB, &lun), 0);
	assert_int_equal(nd_store_resize(f->st, lun, 5 * MIB), 0);
	assert_int_equal(lun->size, 5 * MIB);
	assert_int_equal(fstat(lun->fd, &sb), 0);
	assert_int_equal(sb.st_size, 5 * MIB);
	assert_int_equal(nd_lun_check_range(lun, 5 * MIB - 1, 1), 0);
	assert_int_equal(nd_store_resize(f->st, lun, 2 * MIB), 0);
	assert_int_equal(nd_lun_check_range(lun, 2 * MIB, 1), -ERANGE);
	assert_int_equal(nd_store_resize(f->st, lun, 0), -EINVAL);
	reopen(f);
	lun = nd_store_find(f->st, 7);
	assert_non_null(lun);
	assert_int_equal(lun->size, 2 * MIB);
}

static void test_delete_and_recreate_is_clean(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64];
	uint8_t buf[4096];
	struct nd_lun *lun, *held;
	int fd;

	assert_int_equal(nd_store_create(f->st, 9, "d", 1, MIB, &lun), 0);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(pwrite(lun->fd, buf, sizeof(buf), 0), sizeof(buf));
	/* An operation in flight keeps using it after the delete. */
	held = lun;
	nd_lun_get(held);
	fd = held->fd;
	assert_int_equal(nd_store_delete(f->st, lun), 0);
	assert_null(nd_store_find(f->st, 9));
	assert_true(held->deleted);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[0], 0xab);
	assert_int_equal(nd_store_resize(f->st, held, 2 * MIB), -ENOENT);
	nd_lun_put(held);
	path_of(f, 9, ".meta", p, sizeof(p));
	assert_false(exists(p));
	path_of(f, 9, ".data", p, sizeof(p));
	assert_false(exists(p));

	/* A stray .data (crash between the two unlinks) never resurfaces. */
	fd = open(p, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), sizeof(buf));
	close(fd);
	assert_int_equal(nd_store_create(f->st, 9, "d", 1, MIB, &lun), 0);
	assert_int_equal(pread(lun->fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[0], 0);
}

static void test_punch_hole_shrinks_allocated(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[MIB];
	uint64_t a0, a1, a2;
	struct nd_lun *lun;

	assert_int_equal(nd_store_create(f->st, 11, "p", 1, 16 * MIB, &lun), 0);
	assert_int_equal(nd_lun_allocated(lun, &a0), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(lun->fd, buf, sizeof(buf), 4 * MIB),
			 sizeof(buf));
	assert_int_equal(fsync(lun->fd), 0);
	assert_int_equal(nd_lun_allocated(lun, &a1), 0);
	assert_true(a1 >= a0 + MIB);
	assert_int_equal(fallocate(lun->fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   4 * MIB, MIB),
			 0);
	assert_int_equal(nd_lun_allocated(lun, &a2), 0);
	assert_true(a2 + MIB <= a1);
}

static void test_meta_recovery_on_open(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64], q[PATH_MAX + 64];
	struct nd_lun *lun;
	FILE *fp;

	assert_int_equal(nd_store_create(f->st, 0x21, "m", 1, 4 * MIB, &lun),
			 0);
	/* Interrupted resize: .data grew, .meta was not replaced. */
	assert_int_equal(ftruncate(lun->fd, 6 * MIB), 0);
	/* A temp file of an interrupted meta write. */
	path_of(f, 0x21, ".meta.tmp", p, sizeof(p));
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("spanblk-lun 1\nid 00", fp);
	fclose(fp);
	/* A damaged .meta of another LUN, and one naming the wrong id. */
	path_of(f, 0x22, ".meta", q, sizeof(q));
	fp = fopen(q, "w");
	assert_non_null(fp);
	fputs("garbage\n", fp);
	fclose(fp);
	path_of(f, 0x23, ".meta", q, sizeof(q));
	fp = fopen(q, "w");
	assert_non_null(fp);
	fputs("spanblk-lun 1\nid 0000000000000021\nsize 4096\nname m\n", fp);
	fclose(fp);

	reopen(f);
	assert_false(exists(p));
	assert_int_equal(nd_store_count(f->st), 1);
	lun = nd_store_find(f->st, 0x21);
	assert_non_null(lun);
	assert_int_equal(lun->size, 4 * MIB);
	{
		struct stat sb;

		assert_int_equal(fstat(lun->fd, &sb), 0);
		assert_int_equal(sb.st_size, 4 * MIB);
	}
	assert_null(nd_store_find(f->st, 0x22));
}

static void test_list_and_sync(void **state)
{
	struct fx *f = *state;
	struct nd_lun *v[8];
	uint64_t id;
	size_t n;

	for (id = 1; id <= 5; id++) {
		char name[8];

		snprintf(name, sizeof(name), "l%llu", (unsigned long long)id);
		assert_int_equal(nd_store_create(f->st, id << 40, name,
						 strlen(name), MIB, NULL),
				 0);
	}
	n = nd_store_list(f->st, v, 3);
	assert_int_equal(n, 5);
	n = nd_store_list(f->st, v, 8);
	assert_int_equal(n, 5);
	assert_int_equal(nd_store_sync_all(f->st), 0);
}

static void test_open_refuses_bad_folders(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64], err[512];
	struct nd_store *st = NULL;
	int fd, flags;

	snprintf(p, sizeof(p), "%s/afile", f->dir);
	fd = open(p, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(nd_store_open(p, &st, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, p));
	assert_null(st);
	assert_int_equal(nd_store_open("", &st, err, sizeof(err)), -EINVAL);

	snprintf(p, sizeof(p), "%s/ro", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	if (geteuid()) {
		assert_int_equal(chmod(p, 0500), 0);
	} else {
		/* Root ignores modes: make the folder immutable instead. */
		fd = open(p, O_RDONLY | O_DIRECTORY);
		assert_true(fd >= 0);
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
		    (flags |= FS_IMMUTABLE_FL,
		     ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)) {
			close(fd);
			skip();
		}
		close(fd);
	}
	assert_true(nd_store_open(p, &st, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not writable"));
	fd = open(p, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
			flags &= ~FS_IMMUTABLE_FL;
			ioctl(fd, FS_IOC_SETFLAGS, &flags);
		}
		close(fd);
	}
	chmod(p, 0755);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_find_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_sizes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resize_is_durable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_delete_and_recreate_is_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_punch_hole_shrinks_allocated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_recovery_on_open,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_sync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_bad_folders,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
