/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errbuf: the sentence a fallible set-up function leaves for its caller.
 * Such functions take "char *err, size_t errlen" next to their negative
 * errno return; the caller shows the sentence to the user once.
 */
#ifndef TELEPOD_COMMON_ERRBUF_H
#define TELEPOD_COMMON_ERRBUF_H

#include <stddef.h>

/*
 * Formats fmt into err (at most len bytes, always terminated, truncated
 * when longer). Does nothing when err is NULL or len is 0, so callers that
 * want no sentence pass NULL, 0.
 */
void errbuf_set(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
