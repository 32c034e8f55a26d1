/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log: one line per event to stderr (or a file), with a level and debug
 * categories checked before any formatting. Identifiers first:
 * "session 3 stream 17: dial gateway:80 refused".
 */
#ifndef TELEPOD_COMMON_LOG_H
#define TELEPOD_COMMON_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Debug categories (--debug=mux,dns,tun,tls,kube,ctl). */
enum log_cat {
	LOG_CAT_NONE = 0,
	LOG_CAT_MUX = 1 << 0,
	LOG_CAT_DNS = 1 << 1,
	LOG_CAT_TUN = 1 << 2,
	LOG_CAT_TLS = 1 << 3,
	LOG_CAT_KUBE = 1 << 4,
	LOG_CAT_CTL = 1 << 5,
	LOG_CAT_ALL = 0xff,
};

/* Sets the program name shown in each line and the minimum level. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "info", "debug", ... Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *ret_level);
/* Parses "mux,dns" into categories (and raises the level to debug).
 * Returns 0 or -EINVAL naming nothing; the caller reports. */
int log_parse_debug(const char *s, unsigned *ret_cats);
void log_set_debug(unsigned cats);
/* Redirects output to f (borrowed; NULL restores stderr). */
void log_set_file(FILE *f);

bool log_enabled(enum log_level level, unsigned cat);

void log_write(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Escapes peer-supplied text for a log line into out (always terminated). */
const char *log_escape(char *out, size_t cap, const char *in, size_t len);

#define log_err(...)  log_write(LOG_LEVEL_ERR, __func__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info(...)                                                          \
	do {                                                                   \
		if (log_enabled(LOG_LEVEL_INFO, LOG_CAT_NONE))                 \
			log_write(LOG_LEVEL_INFO, __func__, __VA_ARGS__);      \
	} while (0)
#define log_debug(cat, ...)                                                    \
	do {                                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG, (cat)))                       \
			log_write(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__);     \
	} while (0)

#endif
