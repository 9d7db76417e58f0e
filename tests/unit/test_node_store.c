/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of node/store.c: LUN files in a temporary data folder.
 * Each test gets a fresh folder under $TMPDIR (or /tmp).
 *
 * openat is wrapped (test_node_store.ldflags) so a test can make O_DIRECT
 * opens fail the way a file system without direct I/O does.
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

#include "node/io.h"
#include "node/store.h"

/* The layout most LUNs of these tests are created with. */
static const struct xp_layout lay1 = {1u << 20, 2};

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

	assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4, 8 * MIB,
					 &lay1, &lun),
			 0);
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
	assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4, 8 * MIB,
					 &lay1, NULL),
			 0);
	assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4, 9 * MIB,
					 &lay1, NULL),
			 -EEXIST);
	assert_int_equal(nd_store_create(f->st, 0xabc, "vol1", 4, 8 * MIB,
					 &lay1, NULL),
			 -EEXIST);
	/* Another layout is a conflict too: it would place blocks elsewhere. */
	{
		struct xp_layout other = {4u << 20, 2}, bad = {3000, 2};

		assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4,
						 8 * MIB, &other, NULL),
				 -EEXIST);
		other.chunk_size = lay1.chunk_size;
		other.replicas = 3;
		assert_int_equal(nd_store_create(f->st, 0xabc, "vol0", 4,
						 8 * MIB, &other, NULL),
				 -EEXIST);
		assert_int_equal(nd_store_create(f->st, 0xabd, "vol9", 4,
						 8 * MIB, &bad, NULL),
				 -EINVAL);
	}

	reopen(f);
	lun = nd_store_find(f->st, 0xabc);
	assert_non_null(lun);
	assert_string_equal(lun->name, "vol0");
	assert_int_equal(lun->size, 8 * MIB);
	/* The layout survives the restart. */
	assert_int_equal(lun->layout.chunk_size, lay1.chunk_size);
	assert_int_equal(lun->layout.replicas, lay1.replicas);
}

static void test_bad_names_and_sizes(void **state)
{
	struct fx *f = *state;
	char long_name[XP_LUN_NAME_MAX + 1];

	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(nd_store_create(f->st, 1, "", 0, MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "a/b", 3, MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "a b", 3, MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, "..\n", 3, MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, long_name, sizeof(long_name),
					 MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 1, long_name, XP_LUN_NAME_MAX,
					 MIB, &lay1, NULL),
			 0);
	assert_int_equal(nd_store_create(f->st, 0, "x", 1, MIB, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 2, "x", 1, 0, &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_create(f->st, 2, "x", 1, ND_LUN_SIZE_MAX + 1,
					 &lay1, NULL),
			 -EINVAL);
	assert_int_equal(nd_store_count(f->st), 1);
}

static void test_resize_is_durable(void **state)
{
	struct fx *f = *state;
	struct nd_lun *lun;
	struct stat sb;

	assert_int_equal(nd_store_create(f->st, 7, "r", 1, MIB, &lay1, &lun),
			 0);
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

	assert_int_equal(nd_store_create(f->st, 9, "d", 1, MIB, &lay1, &lun),
			 0);
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
	assert_int_equal(nd_store_create(f->st, 9, "d", 1, MIB, &lay1, &lun),
			 0);
	assert_int_equal(pread(lun->fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[0], 0);
}

static void test_punch_hole_shrinks_allocated(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[MIB];
	uint64_t a0, a1, a2;
	struct nd_lun *lun;

	assert_int_equal(
		nd_store_create(f->st, 11, "p", 1, 16 * MIB, &lay1, &lun), 0);
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

/* nd_lun_data_bytes: data and holes of a range, as SEEK_DATA tells. */
static void test_data_bytes(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[MIB];
	struct nd_lun *lun;

	assert_int_equal(
		nd_store_create(f->st, 12, "q", 1, 16 * MIB, &lay1, &lun), 0);
	assert_int_equal(nd_lun_data_bytes(lun, 0, 16 * MIB), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(lun->fd, buf, sizeof(buf), 4 * MIB),
			 sizeof(buf));
	assert_int_equal(pwrite(lun->fd, buf, 4096, 8 * MIB), 4096);
	assert_int_equal(fsync(lun->fd), 0);
	assert_int_equal(nd_lun_data_bytes(lun, 0, 16 * MIB), MIB + 4096);
	/* Clamped to the range on both sides. */
	assert_int_equal(nd_lun_data_bytes(lun, 4 * MIB + 100, 1000), 1000);
	assert_int_equal(nd_lun_data_bytes(lun, 3 * MIB, MIB + 8192), 8192);
	assert_int_equal(nd_lun_data_bytes(lun, 5 * MIB, 3 * MIB), 0);
	assert_int_equal(nd_lun_data_bytes(lun, 8 * MIB + 4096, 8 * MIB - 4096),
			 0);
	/* A punched hole is a hole again. */
	assert_int_equal(fallocate(lun->fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   4 * MIB, MIB),
			 0);
	assert_int_equal(nd_lun_data_bytes(lun, 0, 16 * MIB), 4096);
}

static void test_meta_recovery_on_open(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64], q[PATH_MAX + 64];
	struct nd_lun *lun;
	FILE *fp;

	assert_int_equal(
		nd_store_create(f->st, 0x21, "m", 1, 4 * MIB, &lay1, &lun), 0);
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

/* LUNs 1..@n << @shift named @c1, @c2, ... of 1 MiB each. */
static void make_luns(struct fx *f, char c, uint64_t n, unsigned int shift)
{
	uint64_t id;

	for (id = 1; id <= n; id++) {
		char name[24];

		snprintf(name, sizeof(name), "%c%llu", c,
			 (unsigned long long)id);
		assert_int_equal(nd_store_create(f->st, id << shift, name,
						 strlen(name), MIB, &lay1,
						 NULL),
				 0);
	}
}

static void test_list_and_sync(void **state)
{
	struct fx *f = *state;
	struct nd_lun *v[8];
	size_t n;

	make_luns(f, 'l', 5, 40);
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

/* ---- openat wrapper: refuse O_DIRECT on demand ------------------------ */

int __real_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);

static bool refuse_direct;
static unsigned int direct_refusals;

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (refuse_direct && (flags & O_DIRECT)) {
		direct_refusals++;
		errno = EINVAL;
		return -1;
	}
	return __real_openat(dirfd, path, flags, mode);
}

/* ---- direct I/O ---------------------------------------------------------- */

#define BLK 4096u

/* Run one nd_io operation on @fd to completion; its result. */
struct one_op {
	struct nd_io_op op;
	int res;
	bool done;
};

static void one_done(struct nd_io_op *op, int res)
{
	struct one_op *o = (struct one_op *)(void *)op;

	o->res = res;
	o->done = true;
}

static int engine_rw(bool write, int fd, void *buf, uint64_t len, uint64_t off)
{
	struct one_op o = {0};
	struct nd_io *io;
	int ret;

	assert_int_equal(nd_io_new(8, &io), 0);
	if (write)
		ret = nd_io_write(io, &o.op, fd, buf, len, off, false,
				  one_done);
	else
		ret = nd_io_read(io, &o.op, fd, buf, len, off, one_done);
	assert_int_equal(ret, 0);
	while (!o.done)
		assert_true(nd_io_wait(io, 1000) >= 0);
	nd_io_free(io);
	return o.res;
}

static uint8_t *aligned_buf(size_t len, int seed)
{
	void *p = NULL;
	size_t i;

	assert_int_equal(posix_memalign(&p, BLK, len), 0);
	for (i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(i * 31 + (size_t)seed);
	return p;
}

/*
 * A LUN gets an O_DIRECT descriptor on a file system that allows it, and
 * nd_lun_data_fd() hands it out only for aligned buffer, offset and length.
 */
static void test_direct_fd_for_aligned_io(void **state)
{
	struct fx *f = *state;
	struct nd_lun *lun;
	uint8_t *b;
	int fl;

	assert_int_equal(
		nd_store_create(f->st, 0xd1, "d", 1, 8 * MIB, &lay1, &lun), 0);
	if (lun->dfd < 0)
		skip(); /* $TMPDIR's file system refuses O_DIRECT */
	fl = fcntl(lun->dfd, F_GETFL);
	assert_true(fl >= 0 && (fl & O_DIRECT));
	fl = fcntl(lun->fd, F_GETFL);
	assert_true(fl >= 0 && !(fl & O_DIRECT));
	assert_true(lun->dio_mem_align >= 1 && lun->dio_mem_align <= BLK);
	/* Whole pages only: never a page shared with a buffered write. */
	assert_true(lun->dio_off_align >= (uint32_t)sysconf(_SC_PAGESIZE));
	assert_true(!(lun->dio_off_align & (lun->dio_off_align - 1)));

	b = aligned_buf(2 * BLK, 0);
	assert_int_equal(nd_lun_data_fd(lun, b, 0, BLK), lun->dfd);
	assert_int_equal(nd_lun_data_fd(lun, b, 3 * BLK, 2 * BLK), lun->dfd);
	/* Offset, length or address off the alignment: buffered. */
	assert_int_equal(nd_lun_data_fd(lun, b, BLK + 1, BLK), lun->fd);
	assert_int_equal(nd_lun_data_fd(lun, b, 0, BLK - 1), lun->fd);
	assert_int_equal(nd_lun_data_fd(lun, b, 512, BLK), lun->fd);
	if (lun->dio_mem_align > 1)
		assert_int_equal(nd_lun_data_fd(lun, b + 1, 0, BLK), lun->fd);
	free(b);

	/* The load path opens it too. */
	reopen(f);
	lun = nd_store_find(f->st, 0xd1);
	assert_non_null(lun);
	assert_true(lun->dfd >= 0);
	assert_int_equal(direct_refusals, 0);
}

/*
 * Direct and buffered I/O on the same LUN see each other's data in every
 * order the server can produce (the design of nd_lun_data_fd relies on
 * it): direct write then buffered read of cached pages, buffered write of
 * an unaligned piece then direct read, direct write over dirty pages.
 */
static void test_direct_and_buffered_are_coherent(void **state)
{
	struct fx *f = *state;
	uint8_t *w1, *w2, *r, *expect;
	struct nd_lun *lun;
	int dfd, bfd;

	assert_int_equal(
		nd_store_create(f->st, 0xd2, "c", 1, 8 * MIB, &lay1, &lun), 0);
	if (lun->dfd < 0)
		skip();
	w1 = aligned_buf(4 * BLK, 1);
	w2 = aligned_buf(4 * BLK, 2);
	r = aligned_buf(4 * BLK, 3);
	expect = aligned_buf(4 * BLK, 4);
	dfd = nd_lun_data_fd(lun, w1, MIB, 4 * BLK);
	bfd = lun->fd;
	assert_int_equal(dfd, lun->dfd);

	/* Cache the range through the buffered fd, then write it direct. */
	assert_int_equal(engine_rw(false, bfd, r, 4 * BLK, MIB), 0);
	assert_int_equal(engine_rw(true, dfd, w1, 4 * BLK, MIB), 0);
	assert_int_equal(engine_rw(false, bfd, r, 4 * BLK, MIB), 0);
	assert_memory_equal(r, w1, 4 * BLK);

	/* Unaligned buffered write (dirty pages), then a direct read. */
	memcpy(expect, w1, 4 * BLK);
	memcpy(expect + 100, w2, 5000);
	assert_int_equal(nd_lun_data_fd(lun, w2, MIB + 100, 5000), bfd);
	assert_int_equal(engine_rw(true, bfd, w2, 5000, MIB + 100), 0);
	memset(r, 0, 4 * BLK);
	assert_int_equal(engine_rw(false, dfd, r, 4 * BLK, MIB), 0);
	assert_memory_equal(r, expect, 4 * BLK);

	/* Dirty pages again, overwritten direct: the direct data wins. */
	assert_int_equal(engine_rw(true, bfd, w1 + 7, 300, MIB + 2 * BLK), 0);
	assert_int_equal(engine_rw(true, dfd, w2, 4 * BLK, MIB), 0);
	assert_int_equal(engine_rw(false, bfd, r, 4 * BLK, MIB), 0);
	assert_memory_equal(r, w2, 4 * BLK);
	memset(r, 0, 4 * BLK);
	assert_int_equal(engine_rw(false, dfd, r, 4 * BLK, MIB), 0);
	assert_memory_equal(r, w2, 4 * BLK);

	/* Both descriptors are one inode: fdatasync on either is the flush. */
	assert_int_equal(nd_store_sync_all(f->st), 0);
	free(w1);
	free(w2);
	free(r);
	free(expect);
}

/*
 * A file system that refuses O_DIRECT: the LUN has no direct descriptor,
 * every request gets the buffered one, and data still goes in and out.
 */
static void test_direct_refused_falls_back(void **state)
{
	struct fx *f = *state;
	struct nd_lun *lun;
	uint8_t *w, *r;

	refuse_direct = true;
	direct_refusals = 0;
	assert_int_equal(
		nd_store_create(f->st, 0xd3, "b", 1, 8 * MIB, &lay1, &lun), 0);
	assert_int_equal(direct_refusals, 1);
	assert_int_equal(lun->dfd, -1);
	w = aligned_buf(2 * BLK, 5);
	r = aligned_buf(2 * BLK, 6);
	assert_int_equal(nd_lun_data_fd(lun, w, BLK, 2 * BLK), lun->fd);
	assert_int_equal(engine_rw(true, nd_lun_data_fd(lun, w, BLK, 2 * BLK),
				   w, 2 * BLK, BLK),
			 0);
	assert_int_equal(engine_rw(false, nd_lun_data_fd(lun, r, BLK, 2 * BLK),
				   r, 2 * BLK, BLK),
			 0);
	assert_memory_equal(r, w, 2 * BLK);

	/* Loading the store again falls back the same way. */
	reopen(f);
	lun = nd_store_find(f->st, 0xd3);
	assert_non_null(lun);
	assert_int_equal(lun->dfd, -1);
	assert_int_equal(direct_refusals, 2);
	memset(r, 0, 2 * BLK);
	assert_int_equal(engine_rw(false, nd_lun_data_fd(lun, r, BLK, 2 * BLK),
				   r, 2 * BLK, BLK),
			 0);
	assert_memory_equal(r, w, 2 * BLK);
	refuse_direct = false;

	/* Once allowed again, new opens get a direct descriptor. */
	reopen(f);
	assert_true(nd_store_find(f->st, 0xd3)->dfd >= 0);
	free(w);
	free(r);
}

/* Retired LUNs leave the table and luns/ for retired/TAG/, for good. */
static void test_retire_all(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 64], err[256];
	uint64_t id;

	assert_int_equal(nd_store_retire_all(f->st, "g1", err, sizeof(err)),
			 0); /* nothing to retire: nothing made */
	snprintf(p, sizeof(p), "%s/retired", f->dir);
	assert_false(exists(p));
	make_luns(f, 'r', 3, 32);
	assert_int_equal(nd_store_retire_all(f->st, "g1", err, sizeof(err)), 0);
	assert_int_equal(nd_store_count(f->st), 0);
	for (id = 1; id <= 3; id++) {
		assert_null(nd_store_find(f->st, id << 32));
		path_of(f, id << 32, ".data", p, sizeof(p));
		assert_false(exists(p));
		snprintf(p, sizeof(p), "%s/retired/g1/%016llx.meta", f->dir,
			 (unsigned long long)(id << 32));
		assert_true(exists(p));
		snprintf(p, sizeof(p), "%s/retired/g1/%016llx.data", f->dir,
			 (unsigned long long)(id << 32));
		assert_true(exists(p));
	}
	reopen(f);
	assert_int_equal(nd_store_count(f->st), 0);
	/* the same id can be made again, empty */
	assert_int_equal(nd_store_create(f->st, 1ull << 32, "r1", 2, MIB, &lay1,
					 NULL),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_bytes, setup,
						teardown),
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
		cmocka_unit_test_setup_teardown(test_retire_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_and_sync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_bad_folders,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_fd_for_aligned_io,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_direct_and_buffered_are_coherent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_refused_falls_back,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
