/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfgstring parsing (see cfgstring.h). The string comes from an
 * administrator through targetcli and the kernel: every token is copied
 * into a bounded buffer and checked before use, and every refusal says
 * which token and why.
 *
 *   spanblk/lun0;conf=/etc/spanblk/c.conf;replicas=2;chunk=4M
 *   \_____/\___/\______________________/\_________/\_______/
 *   prefix   LUN   options, ';'-separated key=value, each at most once
 */
#include "cfgstring.h"
#include "../lib/util/errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CFG_PREFIX SBH_SUBTYPE "/"
#define CFG_RUNNER_TIMEOUT "tcmur_cmd_time_out"

static int cfg_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cfg_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Copy [@s, @s + @len) into @dst of @size bytes; false if it does not fit. */
static bool cfg_copy(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

static bool cfg_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* One "key=value" token of @len bytes at @tok. */
static int cfg_option(const char *tok, size_t len, struct sbh_cfg *cfg,
		      unsigned int *seen, char *err, size_t errlen)
{
	enum { SEEN_CONF = 1, SEEN_REPL = 2, SEEN_CHUNK = 4, SEEN_TMO = 8 };
	char key[32], val[PATH_MAX];
	const char *eq = memchr(tok, '=', len);
	size_t klen, vlen;
	unsigned int bit;
	uint64_t v;
	int ret;

	if (!len)
		return cfg_fail(err, errlen, -EINVAL, "empty option (';;')");
	if (!eq)
		return cfg_fail(err, errlen, -EINVAL,
				"option '%.*s' is not key=value", (int)len,
				tok);
	klen = (size_t)(eq - tok);
	vlen = len - klen - 1;
	if (!cfg_copy(key, sizeof(key), tok, klen))
		return cfg_fail(err, errlen, -EINVAL, "unknown option '%.*s'",
				(int)klen, tok);
	if (!vlen)
		return cfg_fail(err, errlen, -EINVAL,
				"option '%s' has an empty value", key);
	if (!cfg_copy(val, sizeof(val), eq + 1, vlen))
		return cfg_fail(err, errlen, -ENAMETOOLONG,
				"value of '%s' is too long", key);

	if (!strcmp(key, "conf"))
		bit = SEEN_CONF;
	else if (!strcmp(key, "replicas"))
		bit = SEEN_REPL;
	else if (!strcmp(key, "chunk"))
		bit = SEEN_CHUNK;
	else if (!strcmp(key, CFG_RUNNER_TIMEOUT))
		bit = SEEN_TMO;
	else
		return cfg_fail(err, errlen, -EINVAL,
				"unknown option '%s' (known: conf, replicas, "
				"chunk)",
				key);
	if (*seen & bit)
		return cfg_fail(err, errlen, -EINVAL, "option '%s' given twice",
				key);
	*seen |= bit;

	switch (bit) {
	case SEEN_CONF:
		if (val[0] != '/')
			return cfg_fail(err, errlen, -EINVAL,
					"conf must be an absolute path, not "
					"'%s'",
					val);
		memcpy(cfg->conf, val, vlen + 1);
		break;
	case SEEN_REPL:
		ret = sb_parse_uint(val, 1, SB_MAX_NODES, &v);
		if (ret)
			return cfg_fail(err, errlen, -EINVAL,
					"replicas must be 1..%u, not '%s'",
					SB_MAX_NODES, val);
		cfg->replicas = (unsigned int)v;
		break;
	case SEEN_CHUNK:
		ret = sb_parse_size(val, &v);
		if (ret || !cfg_is_pow2(v) || v < SB_MIN_CHUNK ||
		    v > SB_MAX_CHUNK)
			return cfg_fail(err, errlen, -EINVAL,
					"chunk must be a power of two from "
					"64K to 1G, not '%s'",
					val);
		cfg->chunk_size = v;
		break;
	default:
		/* The runner's own option: checked for form, then ignored. */
		ret = sb_parse_uint(val, 0, INT32_MAX, &v);
		if (ret)
			return cfg_fail(err, errlen, -EINVAL,
					"%s must be a number of seconds, not "
					"'%s'",
					CFG_RUNNER_TIMEOUT, val);
		break;
	}
	return 0;
}

int sbh_cfg_parse(const char *s, struct sbh_cfg *cfg, char *err, size_t errlen)
{
	unsigned int seen = 0;
	const char *p, *semi;
	size_t total, len;
	int ret;

	if (!s)
		return cfg_fail(err, errlen, -EINVAL, "no cfgstring");
	total = strnlen(s, SBH_CFG_MAX + 1);
	if (total > SBH_CFG_MAX)
		return cfg_fail(err, errlen, -ENAMETOOLONG,
				"cfgstring longer than %u bytes", SBH_CFG_MAX);
	if (strpbrk(s, ",:\n"))
		return cfg_fail(err, errlen, -EINVAL,
				"cfgstring must not contain ',' ':' or a "
				"newline");

	memset(cfg, 0, sizeof(*cfg));
	if (!strncmp(s, CFG_PREFIX, strlen(CFG_PREFIX)))
		s += strlen(CFG_PREFIX);

	semi = strchr(s, ';');
	len = semi ? (size_t)(semi - s) : strlen(s);
	if (!len)
		return cfg_fail(err, errlen, -EINVAL,
				"expected " CFG_PREFIX "<lun>[;conf=<path>]"
				"[;replicas=N][;chunk=<size>]");
	if (memchr(s, '/', len))
		return cfg_fail(err, errlen, -EINVAL,
				"cfgstring must start with '" CFG_PREFIX "<lun>"
				"'");
	if (!xp_lun_name_valid(s, len))
		return cfg_fail(err, errlen, -EINVAL,
				"LUN name '%.*s' must be 1-%u characters "
				"[A-Za-z0-9._-]",
				(int)len, s, XP_LUN_NAME_MAX);
	memcpy(cfg->lun, s, len);
	cfg->lun[len] = '\0';

	for (p = semi; p; p = semi) {
		p++;
		semi = strchr(p, ';');
		len = semi ? (size_t)(semi - p) : strlen(p);
		ret = cfg_option(p, len, cfg, &seen, err, errlen);
		if (ret)
			return ret;
	}
	if (!cfg->conf[0])
		memcpy(cfg->conf, SB_DEFAULT_CLUSTER_CONF,
		       sizeof(SB_DEFAULT_CLUSTER_CONF));
	return 0;
}

int sbh_cfg_apply(const struct sbh_cfg *cfg, struct sb_cluster *cl, char *err,
		  size_t errlen)
{
	if (cfg->replicas) {
		if (cfg->replicas > cl->nr_nodes)
			return cfg_fail(err, errlen, -EINVAL,
					"replicas=%u but the cluster file "
					"has %u node(s)",
					cfg->replicas, cl->nr_nodes);
		cl->replicas = cfg->replicas;
	}
	if (cfg->chunk_size)
		cl->chunk_size = cfg->chunk_size;
	return 0;
}

bool sbh_cfg_equal(const struct sbh_cfg *a, const struct sbh_cfg *b)
{
	return !strcmp(a->lun, b->lun) && !strcmp(a->conf, b->conf) &&
	       a->replicas == b->replicas && a->chunk_size == b->chunk_size;
}
