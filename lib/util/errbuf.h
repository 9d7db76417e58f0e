/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-line reasons for callers that report failures themselves (the
 * "char *err, size_t errlen" convention of constructors and parsers):
 * formatted into the caller's buffer, truncated on purpose, nothing
 * logged.
 */
#ifndef SPANBLK_LIB_UTIL_ERRBUF_H
#define SPANBLK_LIB_UTIL_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Format into @err (@errlen bytes, NUL-terminated). @err may be NULL. */
void sb_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sb_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
