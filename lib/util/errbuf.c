/* SPDX-License-Identifier: Apache-2.0 */
/* One-line reasons into a caller's buffer (see errbuf.h). */
#include "errbuf.h"

#include <stdio.h>

void sb_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (!err || !errlen)
		return;
	vsnprintf(err, errlen, fmt, ap);
}

void sb_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_verrf(err, errlen, fmt, ap);
	va_end(ap);
}
