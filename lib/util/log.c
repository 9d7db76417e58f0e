/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging (see log.h). One formatted line per call, to the installed sink
 * or to stderr with a level tag.
 */
#include "log.h"

#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#define RL_PER_SECOND 10

static sb_log_sink log_sink;
static int log_level = SB_LOG_INFO;

void sb_log_set_sink(sb_log_sink sink)
{
	log_sink = sink;
}

void sb_log_set_level(int level)
{
	log_level = level;
}

static void emit(int level, const char *func, int line, const char *fmt,
		 va_list ap)
{
	static const char *const tags[] = {"error", "warn", "info", "debug"};
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_sink)
		log_sink(level, func, line, msg);
	else
		fprintf(stderr, "spanblk %s: %s:%d: %s\n",
			tags[level < 0	 ? 0
			     : level > 3 ? 3
					 : level],
			func, line, msg);
	errno = saved;
}

void sb_log_msg(int level, const char *func, int line, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	emit(level, func, line, fmt, ap);
	va_end(ap);
}

void sb_log_rl_msg(struct sb_log_rl *rl, int level, const char *func, int line,
		   const char *fmt, ...)
{
	long now;
	va_list ap;

	if (level > log_level)
		return;
	now = (long)(sb_now_ms() / 1000);
	/* Racy across threads by design: a lost count only changes how many
	 * lines get through, never correctness. */
	if (rl->window != now) {
		if (rl->dropped)
			sb_log_msg(level, func, line,
				   "%d similar messages suppressed",
				   rl->dropped);
		rl->window = now;
		rl->count = 0;
		rl->dropped = 0;
	}
	if (rl->count >= RL_PER_SECOND) {
		rl->dropped++;
		return;
	}
	rl->count++;
	va_start(ap, fmt);
	emit(level, func, line, fmt, ap);
	va_end(ap);
}
