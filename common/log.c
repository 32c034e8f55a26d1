/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log: process-wide logging. The only global state of common/: a logger is
 * naturally per process, and passing it everywhere buys nothing.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *log_prog = "telepod";
static enum log_level log_level = LOG_LEVEL_INFO;
static unsigned log_cats;
static FILE *log_file;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_parse_level(const char *s, enum log_level *ret_level)
{
	for (size_t i = 0;
	     i < sizeof(log_level_names) / sizeof(*log_level_names); i++) {
		if (strcasecmp(s, log_level_names[i]) == 0) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*ret_level = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

int
log_parse_debug(const char *s, unsigned *ret_cats)
{
	static const struct {
		const char *name;
		unsigned cat;
	} cats[] = {{"mux", LOG_CAT_MUX}, {"dns", LOG_CAT_DNS},
	    {"tun", LOG_CAT_TUN}, {"tls", LOG_CAT_TLS}, {"kube", LOG_CAT_KUBE},
	    {"ctl", LOG_CAT_CTL}, {"all", LOG_CAT_ALL}};
	unsigned out = 0;
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof(cats) / sizeof(*cats); i++) {
			if (strlen(cats[i].name) == n &&
			    strncmp(p, cats[i].name, n) == 0) {
				out |= cats[i].cat;
				found = true;
			}
		}
		if (!found && n > 0)
			return -EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	*ret_cats = out;
	return 0;
}

void
log_set_debug(unsigned cats)
{
	log_cats = cats;
	if (cats)
		log_level = LOG_LEVEL_DEBUG;
}

void
log_set_file(FILE *f)
{
	log_file = f;
}

bool
log_enabled(enum log_level level, unsigned cat)
{
	if (level > log_level)
		return false;
	if (level == LOG_LEVEL_DEBUG && cat != LOG_CAT_NONE)
		return (log_cats & cat) != 0;
	return true;
}

void
log_write(enum log_level level, const char *func, const char *fmt, ...)
{
	FILE *f = log_file ? log_file : stderr;
	char ts[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int saved = errno;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(f);
	fprintf(f, "%s.%03ldZ %s %s: ", ts, (long)(tv.tv_usec / 1000), log_prog,
	    log_level_names[level]);
	if (level == LOG_LEVEL_DEBUG)
		fprintf(f, "%s: ", func);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	funlockfile(f);
	fflush(f);
	errno = saved;
}

const char *
log_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return out;
	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
