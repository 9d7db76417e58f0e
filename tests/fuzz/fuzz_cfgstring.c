/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the backstore cfgstring parser. The input is the
 * cfgstring (NUL-terminated copy); a successful parse must give a valid,
 * terminated configuration.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handler/cfgstring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_cluster cl;
	struct sbh_cfg cfg;
	char err[128];
	char *s;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (!sbh_cfg_parse(s, &cfg, err, sizeof(err))) {
		if (!xp_lun_name_valid(cfg.lun, strlen(cfg.lun)) ||
		    cfg.conf[0] != '/' || strlen(s) > SBH_CFG_MAX)
			abort();
		memset(&cl, 0, sizeof(cl));
		cl.nr_nodes = 3;
		(void)sbh_cfg_apply(&cfg, &cl, err, sizeof(err));
	} else if (!err[0] || !memchr(err, '\0', sizeof(err))) {
		abort();
	}
	free(s);
	return 0;
}
