/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LUN files of a storage node (see store.h).
 *
 * .meta format, text, one "key value" per line after a version line:
 *
 *   spanblk-lun 1
 *   id 3f2a9c0d11e04b7a
 *   size 1073741824
 *   chunk_size 1048576
 *   replicas 2
 *   name vol0
 *
 * Durability of metadata: write <id>.meta.tmp, fsync it, rename over
 * <id>.meta, fsync the luns/ folder. A crash leaves either the old or the
 * new .meta, and at worst a .meta.tmp that the next start removes.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/util/log.h"
#include "../lib/util/errbuf.h"

#define LUNS_SUBDIR "luns"
#define PROBE_NAME ".probe"
#define META_MAGIC "spanblk-lun 1"
#define META_FMT                                        \
	META_MAGIC "\nid %016" PRIx64 "\nsize %" PRIu64 \
		   "\nchunk_size %" PRIu32 "\nreplicas %u\nname %s\n"
#define META_MAX 512
#define HASH_BUCKETS 256
/* "<16 hex>.meta.tmp" and NUL */
#define FNAME_MAX 32
/* Direct-I/O alignment when statx cannot tell (the page size is safe). */
#define DIO_ALIGN_DEFAULT 4096u

struct nd_store {
	int dirfd; /* DATA_DIR/luns */
	bool direct_refused; /* O_DIRECT open failed once (logged then) */
	size_t count; /* LUNs in the table */
	struct nd_lun *hash[HASH_BUCKETS];
};

static size_t bucket(uint64_t id)
{
	/* Ids are hash prefixes already; fold them anyway for test ids. */
	return (size_t)((id ^ (id >> 17) ^ (id >> 41)) % HASH_BUCKETS);
}

static void fname(char *buf, uint64_t id, const char *suffix)
{
	snprintf(buf, FNAME_MAX, "%016" PRIx64 "%s", id, suffix);
}

static int fsync_fd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write @lun's .meta durably (temp, fsync, rename, fsync folder). */
static int meta_write(struct nd_store *st, uint64_t id, const char *name,
		      uint64_t size, const struct xp_layout *lay)
{
	char tmp[FNAME_MAX], final[FNAME_MAX];
	char text[META_MAX];
	int fd, n, ret;

	n = snprintf(text, sizeof(text), META_FMT, id, size, lay->chunk_size,
		     (unsigned int)lay->replicas, name);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -EINVAL;
	fname(tmp, id, ".meta.tmp");
	fname(final, id, ".meta");

	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, text, (size_t)n);
	if (!ret)
		ret = fsync_fd(fd);
	close(fd);
	if (ret)
		goto out_unlink_tmp;
	if (renameat(st->dirfd, tmp, st->dirfd, final) < 0) {
		ret = -errno;
		goto out_unlink_tmp;
	}
	return fsync_fd(st->dirfd);

out_unlink_tmp:
	unlinkat(st->dirfd, tmp, 0);
	return ret;
}

/*
 * Parse .meta text. Every key once, in order; anything else is an error,
 * so a damaged file is reported rather than half-read.
 */
/* Parse "@key <decimal>\n" at *@p into @out, advancing *@p. */
static int meta_uint(const char **p, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	char *end;

	if (strncmp(*p, key, klen) || (*p)[klen] != ' ' ||
	    (*p)[klen + 1] < '0' || (*p)[klen + 1] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(*p + klen + 1, &end, 10);
	if (errno || *end != '\n')
		return -EINVAL;
	*p = end + 1;
	return 0;
}

int nd_store_meta_parse(const char *text, uint64_t *id, uint64_t *size,
			struct xp_layout *lay, char name[XP_LUN_NAME_MAX + 1])
{
	uint64_t chunk, replicas;
	const char *p = text;
	const char *nl;
	char *end;
	size_t len;

	len = strlen(META_MAGIC);
	if (strncmp(p, META_MAGIC "\n", len + 1))
		return -EINVAL;
	p += len + 1;

	if (strncmp(p, "id ", 3))
		return -EINVAL;
	p += 3;
	errno = 0;
	*id = strtoull(p, &end, 16);
	if (errno || end != p + 16 || *end != '\n')
		return -EINVAL;
	p = end + 1;

	if (meta_uint(&p, "size", size) ||
	    meta_uint(&p, "chunk_size", &chunk) ||
	    meta_uint(&p, "replicas", &replicas))
		return -EINVAL;
	if (chunk > UINT32_MAX || replicas > XP_REPLICAS_MAX)
		return -EINVAL;
	lay->chunk_size = (uint32_t)chunk;
	lay->replicas = (uint8_t)replicas;
	if (!xp_layout_valid(lay))
		return -EINVAL;

	if (strncmp(p, "name ", 5))
		return -EINVAL;
	p += 5;
	nl = strchr(p, '\n');
	if (!nl || nl[1] != '\0')
		return -EINVAL;
	len = (size_t)(nl - p);
	if (!xp_lun_name_valid(p, len))
		return -EINVAL;
	memcpy(name, p, len);
	name[len] = '\0';
	if (!*id || !*size || *size > ND_LUN_SIZE_MAX)
		return -EINVAL;
	return 0;
}

static struct nd_lun *lun_alloc(uint64_t id, const char *name, size_t len,
				uint64_t size, const struct xp_layout *lay,
				int fd)
{
	struct nd_lun *lun = calloc(1, sizeof(*lun));

	if (!lun)
		return NULL;
	lun->id = id;
	lun->size = size;
	lun->layout = *lay;
	memcpy(lun->name, name, len);
	lun->name[len] = '\0';
	lun->fd = fd;
	lun->dfd = -1;
	lun->refs = 1;
	nd_rlock_init(&lun->rlock);
	return lun;
}

static void table_insert(struct nd_store *st, struct nd_lun *lun)
{
	size_t b = bucket(lun->id);

	lun->hnext = st->hash[b];
	st->hash[b] = lun;
	st->count++;
}

static void table_remove(struct nd_store *st, struct nd_lun *lun)
{
	struct nd_lun **pp;

	for (pp = &st->hash[bucket(lun->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == lun) {
			*pp = lun->hnext;
			lun->hnext = NULL;
			st->count--;
			return;
		}
	}
}

void nd_lun_get(struct nd_lun *lun)
{
	lun->refs++;
}

void nd_lun_put(struct nd_lun *lun)
{
	if (!lun || --lun->refs)
		return;
	if (lun->fd >= 0)
		close(lun->fd);
	if (lun->dfd >= 0)
		close(lun->dfd);
	free(lun);
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The offset alignment of direct I/O on @fd, from the file system's @off:
 * at least a page and a file-system block. A direct write then covers
 * whole pages and blocks only, so it never shares one with a write that
 * does not overlap it (overlapping ones are ordered by the range lock).
 * Sharing a page with a buffered write in flight, it would leave the page
 * cache stale (the kernel warns "Page cache invalidation failure on
 * direct I/O"), whose writeback puts old bytes back, and fdatasync fails.
 */
static uint32_t dio_whole_pages(int fd, uint32_t off)
{
	long page = sysconf(_SC_PAGESIZE);
	struct stat sb;

	if (page > 0 && pow2((uint32_t)page) && (uint32_t)page > off)
		off = (uint32_t)page;
	/* st_blksize is a hint; only a sane power of two is a block. */
	if (fstat(fd, &sb) == 0 && sb.st_blksize > 0 &&
	    sb.st_blksize <= (1 << 20) && pow2((uint32_t)sb.st_blksize) &&
	    (uint32_t)sb.st_blksize > off)
		off = (uint32_t)sb.st_blksize;
	return off;
}

/*
 * Give @lun an O_DIRECT descriptor on its .data file @data and learn its
 * alignment. Without one the LUN simply does buffered I/O, so failures
 * are not errors; the first one of the store is logged.
 */
static void lun_open_direct(struct nd_store *st, struct nd_lun *lun,
			    const char *data)
{
	uint32_t mem = DIO_ALIGN_DEFAULT, off = DIO_ALIGN_DEFAULT;
	struct statx sx;
	int dfd;

	dfd = openat(st->dirfd, data, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (dfd < 0) {
		if (!st->direct_refused)
			sb_warn("no O_DIRECT on %s (%s): buffered I/O only",
				data, strerror(errno));
		st->direct_refused = true;
		return;
	}
	if (statx(dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		if (!pow2(sx.stx_dio_mem_align) ||
		    !pow2(sx.stx_dio_offset_align)) {
			/* 0: the file system says no direct I/O on this file. */
			close(dfd);
			return;
		}
		mem = sx.stx_dio_mem_align;
		off = sx.stx_dio_offset_align;
	}
	off = dio_whole_pages(dfd, off);
	lun->dfd = dfd;
	lun->dio_mem_align = mem;
	lun->dio_off_align = off;
}

int nd_lun_data_fd(const struct nd_lun *lun, const void *buf, uint64_t offset,
		   uint64_t len)
{
	/* Both alignments are powers of two (lun_open_direct). */
	if (lun->dfd < 0 || ((uintptr_t)buf & (lun->dio_mem_align - 1)) ||
	    ((offset | len) & (lun->dio_off_align - 1)))
		return lun->fd;
	return lun->dfd;
}

int nd_lun_check_range(const struct nd_lun *lun, uint64_t offset,
		       uint64_t length)
{
	if (offset > lun->size || length > lun->size - offset)
		return -ERANGE;
	return 0;
}

int nd_lun_allocated(const struct nd_lun *lun, uint64_t *bytes)
{
	struct stat sb;

	if (fstat(lun->fd, &sb) < 0)
		return -errno;
	*bytes = (uint64_t)sb.st_blocks * 512;
	return 0;
}

uint64_t nd_lun_data_bytes(const struct nd_lun *lun, uint64_t offset,
			   uint64_t len)
{
	uint64_t end = offset + len, pos = offset, bytes = 0;

	while (pos < end) {
		off_t d = lseek(lun->fd, (off_t)pos, SEEK_DATA);
		off_t h;

		if (d < 0)
			/* ENXIO: no data from pos on; else: cannot tell. */
			return errno == ENXIO ? bytes : bytes + (end - pos);
		if ((uint64_t)d >= end)
			break;
		h = lseek(lun->fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		if (h <= d) /* no progress: a file system's oddity */
			return bytes + (end - (uint64_t)d);
		bytes += (uint64_t)h - (uint64_t)d;
		pos = (uint64_t)h;
	}
	return bytes;
}

struct nd_lun *nd_store_find(struct nd_store *st, uint64_t id)
{
	struct nd_lun *lun;

	for (lun = st->hash[bucket(id)]; lun; lun = lun->hnext)
		if (lun->id == id)
			return lun;
	return NULL;
}

size_t nd_store_count(const struct nd_store *st)
{
	return st->count;
}

size_t nd_store_list(struct nd_store *st, struct nd_lun **out, size_t max)
{
	size_t b, n = 0;
	struct nd_lun *lun;

	for (b = 0; b < HASH_BUCKETS; b++)
		for (lun = st->hash[b]; lun; lun = lun->hnext) {
			if (n < max)
				out[n] = lun;
			n++;
		}
	return n;
}

int nd_store_create(struct nd_store *st, uint64_t id, const char *name,
		    size_t name_len, uint64_t size, const struct xp_layout *lay,
		    struct nd_lun **out)
{
	char data[FNAME_MAX];
	struct nd_lun *lun;
	int fd, ret;

	if (!id || !xp_lun_name_valid(name, name_len) || !size ||
	    size > ND_LUN_SIZE_MAX || !xp_layout_valid(lay))
		return -EINVAL;
	lun = nd_store_find(st, id);
	if (lun) {
		if (strlen(lun->name) != name_len ||
		    memcmp(lun->name, name, name_len) || lun->size != size ||
		    lun->layout.chunk_size != lay->chunk_size ||
		    lun->layout.replicas != lay->replicas)
			return -EEXIST;
		if (out)
			*out = lun;
		return 0;
	}

	fname(data, id, ".data");
	/* O_TRUNC: a stray .data of a half-deleted LUN must not resurface. */
	fd = openat(st->dirfd, data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto out_unlink_data;
	}
	ret = fsync_fd(fd);
	if (ret)
		goto out_unlink_data;
	lun = lun_alloc(id, name, name_len, size, lay, fd);
	if (!lun) {
		ret = -ENOMEM;
		goto out_unlink_data;
	}
	ret = meta_write(st, id, lun->name, size, lay);
	if (ret)
		goto out_free_lun;
	lun_open_direct(st, lun, data);
	table_insert(st, lun);
	if (out)
		*out = lun;
	return 0;

out_free_lun:
	free(lun);
out_unlink_data:
	close(fd);
	unlinkat(st->dirfd, data, 0);
	return ret;
}

int nd_store_resize(struct nd_store *st, struct nd_lun *lun, uint64_t size)
{
	int ret;

	if (lun->deleted)
		return -ENOENT;
	if (!size || size > ND_LUN_SIZE_MAX)
		return -EINVAL;
	if (size == lun->size)
		return 0;
	if (ftruncate(lun->fd, (off_t)size) < 0)
		return -errno;
	ret = fsync_fd(lun->fd);
	if (!ret)
		ret = meta_write(st, lun->id, lun->name, size, &lun->layout);
	if (ret) {
		/* Put the file back; the .meta still holds the old size. */
		if (ftruncate(lun->fd, (off_t)lun->size) < 0)
			sb_warn("LUN %016" PRIx64 ": cannot undo resize: %s",
				lun->id, strerror(errno));
		return ret;
	}
	lun->size = size;
	return 0;
}

int nd_store_delete(struct nd_store *st, struct nd_lun *lun)
{
	char meta[FNAME_MAX], data[FNAME_MAX];
	int ret = 0;

	fname(meta, lun->id, ".meta");
	fname(data, lun->id, ".data");
	table_remove(st, lun);
	lun->deleted = true;
	if (unlinkat(st->dirfd, meta, 0) < 0 && errno != ENOENT)
		ret = -errno;
	if (unlinkat(st->dirfd, data, 0) < 0 && errno != ENOENT && !ret)
		ret = -errno;
	if (!ret)
		ret = fsync_fd(st->dirfd);
	nd_lun_put(lun);
	return ret;
}

/* Open (making it when missing) folder @name under @dirfd. fd or -errno. */
static int subdir(int dirfd, const char *name)
{
	int fd;

	if (mkdirat(dirfd, name, 0750) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Move @lun's files to folder @tfd and drop it from the table. */
static int retire_one(struct nd_store *st, struct nd_lun *lun, int tfd)
{
	char meta[FNAME_MAX], data[FNAME_MAX];

	fname(meta, lun->id, ".meta");
	fname(data, lun->id, ".data");
	if (renameat(st->dirfd, meta, tfd, meta) < 0 && errno != ENOENT)
		return -errno;
	/* without its .meta the LUN is gone; the .data follows */
	table_remove(st, lun);
	lun->deleted = true;
	nd_lun_put(lun);
	if (renameat(st->dirfd, data, tfd, data) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int nd_store_retire_all(struct nd_store *st, const char *tag, char *err,
			size_t errlen)
{
	int datafd, rfd = -1, tfd = -1, ret = 0;
	size_t b;

	if (!st->count)
		return 0;
	datafd = openat(st->dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (datafd < 0) {
		ret = -errno;
		goto out_err;
	}
	rfd = subdir(datafd, "retired");
	if (rfd >= 0)
		tfd = subdir(rfd, tag);
	ret = rfd < 0 ? rfd : tfd < 0 ? tfd : 0;
	for (b = 0; b < HASH_BUCKETS && !ret; b++)
		while (st->hash[b] && !ret)
			ret = retire_one(st, st->hash[b], tfd);
	if (!ret)
		ret = fsync_fd(tfd);
	if (!ret)
		ret = fsync_fd(st->dirfd);
	if (tfd >= 0)
		close(tfd);
	if (rfd >= 0)
		close(rfd);
	close(datafd);
out_err:
	if (ret)
		sb_errf(err, errlen, "cannot retire the LUNs to retired/%s: %s",
			tag, strerror(-ret));
	return ret;
}

int nd_store_sync_all(struct nd_store *st)
{
	struct nd_lun *lun;
	size_t b;
	int ret = 0;

	for (b = 0; b < HASH_BUCKETS; b++)
		for (lun = st->hash[b]; lun; lun = lun->hnext)
			if (fdatasync(lun->fd) < 0 && !ret)
				ret = -errno;
	return ret;
}

/* Read a whole small file relative to the luns/ folder. */
static int read_small(int dirfd, const char *name, char *buf, size_t cap)
{
	size_t used = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + used, cap - 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap - 1) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	buf[used] = '\0';
	return 0;
}

/* Load the LUN of one .meta file; problems are logged and skipped. */
static void load_one(struct nd_store *st, const char *meta)
{
	char text[META_MAX], name[XP_LUN_NAME_MAX + 1];
	char want[FNAME_MAX], data[FNAME_MAX];
	struct xp_layout lay;
	struct nd_lun *lun;
	uint64_t id, size;
	struct stat sb;
	int fd, ret;

	ret = read_small(st->dirfd, meta, text, sizeof(text));
	if (!ret)
		ret = nd_store_meta_parse(text, &id, &size, &lay, name);
	if (ret) {
		sb_warn("skipping %s: unreadable or damaged (%s)", meta,
			strerror(-ret));
		return;
	}
	fname(want, id, ".meta");
	if (strcmp(want, meta)) {
		sb_warn("skipping %s: it names LUN %016" PRIx64, meta, id);
		return;
	}
	if (nd_store_find(st, id))
		return;
	fname(data, id, ".data");
	fd = openat(st->dirfd, data, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		sb_warn("skipping LUN %s: %s: %s", name, data, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != size) {
		/* An interrupted create or resize: the .meta is the truth. */
		if (ftruncate(fd, (off_t)size) < 0) {
			sb_warn("skipping LUN %s: cannot size %s: %s", name,
				data, strerror(errno));
			close(fd);
			return;
		}
	}
	lun = lun_alloc(id, name, strlen(name), size, &lay, fd);
	if (!lun) {
		sb_warn("skipping LUN %s: out of memory", name);
		close(fd);
		return;
	}
	lun_open_direct(st, lun, data);
	table_insert(st, lun);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

static int load_all(struct nd_store *st)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* fdopendir takes the fd; keep st->dirfd for ourselves. */
	fd = dup(st->dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int err = -errno;

		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		if (has_suffix(de->d_name, ".meta.tmp"))
			unlinkat(st->dirfd, de->d_name, 0);
		else if (has_suffix(de->d_name, ".meta"))
			load_one(st, de->d_name);
	}
	closedir(d);
	return 0;
}

/* Create, sync and remove a file: the folder really takes writes. */
static int probe(int dirfd)
{
	int fd, ret;

	fd = openat(dirfd, PROBE_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, "x", 1);
	if (!ret)
		ret = fsync_fd(fd);
	close(fd);
	if (unlinkat(dirfd, PROBE_NAME, 0) < 0 && !ret)
		ret = -errno;
	return ret;
}

int nd_store_open(const char *data_dir, struct nd_store **out, char *err,
		  size_t errlen)
{
	struct nd_store *st;
	int topfd, ret;

	if (!data_dir || !*data_dir) {
		sb_errf(err, errlen, "data_dir is empty");
		return -EINVAL;
	}
	if (mkdir(data_dir, 0750) < 0 && errno != EEXIST) {
		ret = -errno;
		sb_errf(err, errlen, "cannot create data_dir %s: %s", data_dir,
			strerror(-ret));
		return ret;
	}
	topfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (topfd < 0) {
		ret = -errno;
		sb_errf(err, errlen, "cannot open data_dir %s: %s", data_dir,
			strerror(-ret));
		return ret;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		ret = -ENOMEM;
		sb_errf(err, errlen, "out of memory");
		goto out_close_top;
	}
	if (mkdirat(topfd, LUNS_SUBDIR, 0750) < 0 && errno != EEXIST) {
		ret = -errno;
		sb_errf(err, errlen, "data_dir %s is not writable: %s",
			data_dir, strerror(-ret));
		goto out_free_store;
	}
	st->dirfd =
		openat(topfd, LUNS_SUBDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		ret = -errno;
		sb_errf(err, errlen, "cannot open %s/%s: %s", data_dir,
			LUNS_SUBDIR, strerror(-ret));
		goto out_free_store;
	}
	ret = probe(st->dirfd);
	if (ret) {
		sb_errf(err, errlen, "data_dir %s is not writable: %s",
			data_dir, strerror(-ret));
		goto out_close_luns;
	}
	ret = load_all(st);
	if (ret) {
		sb_errf(err, errlen, "cannot list %s/%s: %s", data_dir,
			LUNS_SUBDIR, strerror(-ret));
		goto out_close_luns;
	}
	close(topfd);
	*out = st;
	return 0;

out_close_luns:
	close(st->dirfd);
out_free_store:
	free(st);
out_close_top:
	close(topfd);
	return ret;
}

void nd_store_close(struct nd_store *st)
{
	struct nd_lun *lun, *next;
	size_t b;

	if (!st)
		return;
	for (b = 0; b < HASH_BUCKETS; b++) {
		for (lun = st->hash[b]; lun; lun = next) {
			next = lun->hnext;
			lun->hnext = NULL;
			nd_lun_put(lun);
		}
		st->hash[b] = NULL;
	}
	close(st->dirfd);
	free(st);
}
