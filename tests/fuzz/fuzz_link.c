/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: rtnetlink messages handed to the link watcher
 * (xport/link.c). The watcher checks the outer header and leaves the rest
 * to libnl-route-3; whatever arrives, a link's reported state must stay
 * what xp_link_state() says, and nothing may read out of bounds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "xport/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int last_ifindex;
static bool last_up;

static void on_link(void *arg, int ifindex, bool up)
{
	(void)arg;
	last_ifindex = ifindex;
	last_up = up;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xp_link *w;

	if (!w) {
		w = xp_link_new(on_link, NULL);
		if (!w)
			abort();
	}
	last_ifindex = 0;
	(void)xp_link_feed(w, data, size);
	if (last_ifindex) {
		int st = xp_link_state(w, last_ifindex);

		if (last_up ? st != 1 : st == 1)
			abort();
	}
	return 0;
}
