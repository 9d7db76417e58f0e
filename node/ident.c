// SPDX-License-Identifier: Apache-2.0
/*
 * The node's identity file, data_dir/node.meta (node/ident.h). Read and
 * written only at start, on the loop thread, before anything is served.
 */
#include "ident.h"
#include "../lib/util/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDENT_FILE "node.meta"
#define IDENT_TMP "node.meta.tmp"
#define IDENT_MAX 256
#define IDENT_FMT "spanblk-node 1\nid %" PRIu32 "\ngen %s\nboot %" PRIu64 "\n"

/* Parse decimal @s (digits only, no sign) within [min, max]. */
static int dec(const char *s, size_t len, uint64_t min, uint64_t max,
	       uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 20 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The value of line "@key <value>\n" at *@p; advances *@p past it. */
static int line(const char **p, const char *key, const char **val, size_t *len)
{
	size_t kl = strlen(key);
	const char *nl;

	if (strncmp(*p, key, kl) || (*p)[kl] != ' ')
		return -EINVAL;
	nl = strchr(*p + kl + 1, '\n');
	if (!nl)
		return -EINVAL;
	*val = *p + kl + 1;
	*len = (size_t)(nl - *val);
	*p = nl + 1;
	return 0;
}

int nd_ident_parse(const char *text, struct nd_ident *out)
{
	static const char head[] = "spanblk-node 1\n";
	const char *p = text, *v;
	struct nd_ident id;
	uint64_t n;
	size_t len, i;

	if (strncmp(p, head, sizeof(head) - 1))
		return -EINVAL;
	p += sizeof(head) - 1;
	if (line(&p, "id", &v, &len) || dec(v, len, 1, UINT32_MAX, &n))
		return -EINVAL;
	id.id = (uint32_t)n;
	if (line(&p, "gen", &v, &len) || len != ND_GEN_HEX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", v[i]))
			return -EINVAL;
	memcpy(id.gen, v, len);
	id.gen[len] = '\0';
	if (line(&p, "boot", &v, &len) || dec(v, len, 1, UINT64_MAX - 1, &n))
		return -EINVAL;
	id.boot = n;
	if (*p)
		return -EINVAL;
	*out = id;
	return 0;
}

static int new_gen(char gen[ND_GEN_HEX + 1])
{
	uint8_t r[ND_GEN_HEX / 2];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (i = 0; i < sizeof(r); i++)
		snprintf(gen + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Write @id as dirfd's node.meta durably. 0 or -errno. */
static int ident_write(int dirfd, const struct nd_ident *id)
{
	char text[IDENT_MAX];
	int fd, n, ret = 0;

	n = snprintf(text, sizeof(text), IDENT_FMT, id->id, id->gen, id->boot);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -EINVAL;
	fd = openat(dirfd, IDENT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0640);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		ret = -EIO;
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		goto out_unlink_tmp;
	if (renameat(dirfd, IDENT_TMP, dirfd, IDENT_FILE) < 0) {
		ret = -errno;
		goto out_unlink_tmp;
	}
	return fsync(dirfd) < 0 ? -errno : 0;

out_unlink_tmp:
	unlinkat(dirfd, IDENT_TMP, 0);
	return ret;
}

/* Read dirfd's node.meta into @text. 0, -ENOENT, -EINVAL or -errno. */
static int ident_read(int dirfd, char text[IDENT_MAX])
{
	ssize_t n;
	int fd;

	fd = openat(dirfd, IDENT_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, IDENT_MAX - 1);
	close(fd);
	if (n < 0)
		return -errno;
	if (n == IDENT_MAX - 1)
		return -EINVAL;
	text[n] = '\0';
	return strlen(text) == (size_t)n ? 0 : -EINVAL;
}

int nd_ident_start(const char *data_dir, uint32_t id, struct nd_ident *out,
		   char *err, size_t errlen)
{
	char text[IDENT_MAX];
	struct nd_ident cur;
	int dirfd, ret;

	dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		sb_errf(err, errlen, "cannot open data_dir %s: %s", data_dir,
			strerror(-ret));
		return ret;
	}
	ret = ident_read(dirfd, text);
	if (ret == -ENOENT) {
		cur.id = id;
		cur.boot = 0;
		ret = new_gen(cur.gen);
	} else if (!ret && nd_ident_parse(text, &cur)) {
		ret = -EINVAL;
	}
	if (ret) {
		sb_errf(err, errlen, "%s/%s: %s", data_dir, IDENT_FILE,
			ret == -EINVAL ? "damaged (remove it only to rejoin "
					 "as an empty node)"
				       : strerror(-ret));
		goto out_close;
	}
	if (cur.id != id) {
		ret = -EEXIST;
		sb_errf(err, errlen,
			"%s belongs to node %" PRIu32 ", not %" PRIu32,
			data_dir, cur.id, id);
		goto out_close;
	}
	cur.boot++;
	ret = ident_write(dirfd, &cur);
	if (ret) {
		sb_errf(err, errlen, "cannot write %s/%s: %s", data_dir,
			IDENT_FILE, strerror(-ret));
		goto out_close;
	}
	*out = cur;
out_close:
	close(dirfd);
	return ret;
}

int nd_ident_renew(const char *data_dir, struct nd_ident *ident, char *err,
		   size_t errlen)
{
	struct nd_ident next = *ident;
	int dirfd, ret;

	next.boot = 1;
	ret = new_gen(next.gen);
	if (ret)
		goto out_err;
	dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		goto out_err;
	}
	ret = ident_write(dirfd, &next);
	close(dirfd);
	if (ret)
		goto out_err;
	*ident = next;
	return 0;
out_err:
	sb_errf(err, errlen, "cannot renew %s/%s: %s", data_dir, IDENT_FILE,
		strerror(-ret));
	return ret;
}
