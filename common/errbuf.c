/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errbuf: one definition of the error-sentence setter that client/ and
 * common/ modules each used to carry as a private X_errf().
 */
#include "common/errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void
errbuf_set(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}
