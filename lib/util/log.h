/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Levelled logging with function and line. The sink is stderr unless a
 * program installs its own (the handler routes to tcmu-runner's log).
 * Data-path errors go through sb_log_rl(), at most a few per second.
 */
#ifndef SPANBLK_LIB_UTIL_LOG_H
#define SPANBLK_LIB_UTIL_LOG_H

enum sb_log_level {
	SB_LOG_ERR = 0,
	SB_LOG_WARN = 1,
	SB_LOG_INFO = 2,
	SB_LOG_DEBUG = 3,
};

/* Rate-limit state of one call site. */
struct sb_log_rl {
	long window; /* second the count belongs to */
	int count; /* messages logged in that second */
	int dropped; /* messages dropped since the last one logged */
};

typedef void (*sb_log_sink)(int level, const char *func, int line,
			    const char *msg);

void sb_log_set_sink(sb_log_sink sink);
void sb_log_set_level(int level);
void sb_log_msg(int level, const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Like sb_log_msg, but drops messages beyond 10 per second per call site. */
void sb_log_rl_msg(struct sb_log_rl *rl, int level, const char *func, int line,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define sb_err(...) sb_log_msg(SB_LOG_ERR, __func__, __LINE__, __VA_ARGS__)
#define sb_warn(...) sb_log_msg(SB_LOG_WARN, __func__, __LINE__, __VA_ARGS__)
#define sb_info(...) sb_log_msg(SB_LOG_INFO, __func__, __LINE__, __VA_ARGS__)
#ifdef SB_DEBUG
#define sb_dbg(...) sb_log_msg(SB_LOG_DEBUG, __func__, __LINE__, __VA_ARGS__)
#else
#define sb_dbg(...) ((void)0)
#endif
#define sb_err_rl(...)                                                       \
	do {                                                                 \
		static struct sb_log_rl sb_rl_state_;                        \
		sb_log_rl_msg(&sb_rl_state_, SB_LOG_ERR, __func__, __LINE__, \
			      __VA_ARGS__);                                  \
	} while (0)

#endif
