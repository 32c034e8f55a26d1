/* SPDX-License-Identifier: Apache-2.0 */
/*
 * env: collects the environment telepod-server hands out. Two sources: the
 * process environment (minus TELEPOD_*), or a dotenv-style file parsed here
 * with a small hand-written scanner that reports the line of every error.
 * Everything is bounded by the ENV_REPLY limits of proto/frame.h before
 * anything is allocated, and values are wiped with OPENSSL_cleanse.
 */
#include "server/env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "proto/frame.h"

/* Bytes of an entry's length prefixes: u16 name length, u32 value length. */
#define ENV_ENTRY_OVERHEAD 6u

void
env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
}

static void
env_var_clear(struct env_var *v)
{
	if (v->value) {
		OPENSSL_cleanse(v->value, v->value_len);
		free(v->value);
	}
	free(v->name);
	memset(v, 0, sizeof(*v));
}

void
env_clear(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		env_var_clear(&e->vars[i]);
	free(e->vars);
	env_init(e);
}

static bool
env_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > FRAME_MAX_ENV_NAME)
		return false;
	return memchr(name, '=', len) == NULL &&
	       memchr(name, '\0', len) == NULL;
}

static struct env_var *
env_find(const struct env *e, const char *name, size_t name_len)
{
	for (size_t i = 0; i < e->n; i++) {
		struct env_var *v = &e->vars[i];

		if (v->name_len == name_len &&
		    memcmp(v->name, name, name_len) == 0)
			return v;
	}
	return NULL;
}

const struct env_var *
env_get(const struct env *e, const char *name)
{
	return env_find(e, name, strlen(name));
}

int
env_set(struct env *e, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	struct env_var *old = env_find(e, name, name_len);
	size_t entry = ENV_ENTRY_OVERHEAD + name_len + value_len;
	size_t total;
	char *n = NULL, *v = NULL;
	int r;

	if (!env_name_ok(name, name_len))
		return -EINVAL;
	if (value_len > FRAME_MAX_ENV_VALUE)
		return -EMSGSIZE;
	total = e->encoded + entry;
	if (old)
		total -= ENV_ENTRY_OVERHEAD + old->name_len + old->value_len;
	else if (e->n >= FRAME_MAX_ENV_ENTRIES)
		return -EMSGSIZE;
	if (total > ENV_MAX_ENCODED)
		return -EMSGSIZE;

	v = malloc(value_len + 1);
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(v, value, value_len);
	v[value_len] = '\0';
	if (old) {
		OPENSSL_cleanse(old->value, old->value_len);
		free(old->value);
		old->value = v;
		old->value_len = value_len;
		v = NULL;
		e->encoded = total;
		r = 0;
		goto out;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct env_var *vars = realloc(e->vars, cap * sizeof(*vars));

		if (!vars) {
			r = -ENOMEM;
			goto out;
		}
		e->vars = vars;
		e->cap = cap;
	}
	n = strndup(name, name_len);
	if (!n) {
		r = -ENOMEM;
		goto out;
	}
	e->vars[e->n++] = (struct env_var){.name = n,
	    .name_len = name_len,
	    .value = v,
	    .value_len = value_len};
	n = NULL;
	v = NULL;
	e->encoded = total;
	r = 0;
out:
	if (v) {
		OPENSSL_cleanse(v, value_len);
		free(v);
	}
	free(n);
	return r;
}

int
env_collect(struct env *e, char *const *envp)
{
	int skipped = 0;

	for (size_t i = 0; envp && envp[i]; i++) {
		const char *s = envp[i];
		const char *eq = strchr(s, '=');
		int r;

		if (!eq || eq == s)
			continue;
		if (strncmp(s, ENV_OWN_PREFIX, strlen(ENV_OWN_PREFIX)) == 0)
			continue;
		r = env_set(e, s, (size_t)(eq - s), eq + 1, strlen(eq + 1));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			skipped++;
	}
	return skipped;
}

/* Scanner state of env_parse. */
struct env_scan {
	const char *p;
	const char *end;
	size_t line;
};

static bool
env_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
env_is_key_char(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	    c == '.' || c == '-')
		return true;
	return !first && c >= '0' && c <= '9';
}

static void
env_skip_blanks(struct env_scan *s)
{
	while (s->p < s->end && env_is_blank(*s->p))
		s->p++;
}

/* True at the end of a line (or of input), consuming "\r\n" / "\n". */
static bool
env_eol(struct env_scan *s)
{
	if (s->p == s->end)
		return true;
	if (*s->p == '\r' && s->p + 1 < s->end && s->p[1] == '\n')
		s->p++;
	if (*s->p == '\n') {
		s->p++;
		s->line++;
		return true;
	}
	return false;
}

static void
env_skip_line(struct env_scan *s)
{
	const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));

	s->p = nl ? nl : s->end;
	env_eol(s);
}

/*
 * Scans a quoted value starting after the opening quote into out (at least
 * the remaining input's size). Returns the value length or -EINVAL.
 */
static int
env_scan_quoted(struct env_scan *s, char quote, char *out, size_t *ret_len,
    const char **why)
{
	size_t n = 0;

	while (s->p < s->end) {
		char c = *s->p++;

		if (c == quote) {
			*ret_len = n;
			return 0;
		}
		if (c == '\n')
			s->line++;
		if (c == '\\' && quote == '"' && s->p < s->end) {
			char x = *s->p;

			switch (x) {
			case 'n':
				c = '\n';
				s->p++;
				break;
			case 'r':
				c = '\r';
				s->p++;
				break;
			case 't':
				c = '\t';
				s->p++;
				break;
			case '\\':
			case '"':
			case '$':
				c = x;
				s->p++;
				break;
			default:
				/* Unknown escapes stay as written. */
				break;
			}
		}
		out[n++] = c;
	}
	*why = quote == '"' ? "unterminated double-quoted value"
	                    : "unterminated single-quoted value";
	return -EINVAL;
}

/* Parses one KEY=VALUE entry at s->p (blanks and "export" skipped). */
static int
env_parse_entry(struct env *e, struct env_scan *s, const char **why)
{
	const char *key = s->p, *vstart;
	size_t key_len, vlen = 0, span;
	char *val = NULL;
	int r;

	while (s->p < s->end && env_is_key_char(*s->p, s->p == key))
		s->p++;
	key_len = (size_t)(s->p - key);
	if (key_len == 0) {
		*why =
		    "expected a variable name (letters, digits, '_', '.', '-')";
		return -EINVAL;
	}
	if (key_len > FRAME_MAX_ENV_NAME) {
		*why = "variable name longer than 1024 bytes";
		return -EMSGSIZE;
	}
	env_skip_blanks(s);
	if (s->p == s->end || *s->p != '=') {
		*why = "expected '=' after the variable name";
		return -EINVAL;
	}
	s->p++;
	env_skip_blanks(s);

	/* The value is never longer than the rest of the input; bound it. */
	span = (size_t)(s->end - s->p);
	if (span > FRAME_MAX_ENV_VALUE + 2)
		span = FRAME_MAX_ENV_VALUE + 2;
	val = malloc(span + 1);
	if (!val) {
		r = -ENOMEM;
		goto out;
	}
	if (s->p < s->end && (*s->p == '"' || *s->p == '\'')) {
		char quote = *s->p++;
		struct env_scan save = *s;

		/* Quoted values may span lines; limit the scan to the cap. */
		if ((size_t)(s->end - s->p) > span)
			s->end = s->p + span;
		r = env_scan_quoted(s, quote, val, &vlen, why);
		s->end = save.end;
		if (r < 0) {
			if (s->p - save.p >= (ptrdiff_t)span) {
				*why = "value longer than 131072 bytes";
				r = -EMSGSIZE;
			}
			goto out;
		}
		if (vlen > FRAME_MAX_ENV_VALUE) {
			*why = "value longer than 131072 bytes";
			r = -EMSGSIZE;
			goto out;
		}
		env_skip_blanks(s);
		if (s->p < s->end && *s->p == '#')
			env_skip_line(s);
		else if (!env_eol(s)) {
			*why = "unexpected text after the closing quote";
			r = -EINVAL;
			goto out;
		}
	} else {
		const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
		const char *stop = nl ? nl : s->end;

		vstart = s->p;
		/* A '#' after a blank starts a comment. */
		for (const char *q = vstart; q < stop; q++) {
			if (*q == '#' && q > vstart && env_is_blank(q[-1])) {
				stop = q;
				break;
			}
		}
		while (stop > vstart &&
		       (env_is_blank(stop[-1]) || stop[-1] == '\r'))
			stop--;
		vlen = (size_t)(stop - vstart);
		if (vlen > FRAME_MAX_ENV_VALUE) {
			*why = "value longer than 131072 bytes";
			r = -EMSGSIZE;
			goto out;
		}
		memcpy(val, vstart, vlen);
		env_skip_line(s);
	}
	r = env_set(e, key, key_len, val, vlen);
	if (r == -EMSGSIZE)
		*why = e->n >= FRAME_MAX_ENV_ENTRIES
		           ? "more than 4096 variables"
		           : "the variables exceed the 256 KiB reply limit";
	else if (r == -EINVAL)
		*why = "invalid variable name";
out:
	if (val) {
		OPENSSL_cleanse(val, span + 1);
		free(val);
	}
	return r;
}

int
env_parse(struct env *e, const char *buf, size_t len, struct env_error *err)
{
	struct env_scan s = {.p = buf, .end = buf + len, .line = 1};
	const char *why = NULL;
	size_t line = 0;
	int r = 0;

	if (memchr(buf, '\0', len)) {
		const char *z = memchr(buf, '\0', len);

		line = 1;
		for (const char *q = buf; q < z; q++)
			line += *q == '\n';
		why = "NUL byte in the file";
		r = -EINVAL;
		goto out;
	}
	while (s.p < s.end) {
		env_skip_blanks(&s);
		if (env_eol(&s))
			continue;
		if (*s.p == '#') {
			env_skip_line(&s);
			continue;
		}
		if ((size_t)(s.end - s.p) > 7 &&
		    memcmp(s.p, "export", 6) == 0 && env_is_blank(s.p[6])) {
			s.p += 6;
			env_skip_blanks(&s);
		}
		line = s.line;
		r = env_parse_entry(e, &s, &why);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	if (r < 0 && r != -ENOMEM && err) {
		err->line = line;
		err->why = why;
	}
	return r;
}

int
env_load_file(struct env *e, const char *path, struct env_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, r;

	if (err)
		*err = (struct env_error){0, NULL};
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		if (err)
			*err = (struct env_error){0, "not a regular file"};
		goto out;
	}
	if (st.st_size > (off_t)ENV_MAX_FILE) {
		r = -EMSGSIZE;
		if (err)
			*err = (struct env_error){0, "file larger than 1 MiB"};
		goto out;
	}
	/* One byte more than allowed detects a file that grew meanwhile. */
	buf = malloc(ENV_MAX_FILE + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, ENV_MAX_FILE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > ENV_MAX_FILE) {
			r = -EMSGSIZE;
			if (err)
				*err = (struct env_error){
				    0, "file larger than 1 MiB"};
			goto out;
		}
	}
	r = env_parse(e, buf, len, err);
out:
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int
env_encode(const struct env *e, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	for (size_t i = 0; i < e->n; i++) {
		const struct env_var *v = &e->vars[i];
		int r = frame_env_put(buf, cap, &off, v->name, v->name_len,
		    v->value, v->value_len);

		if (r < 0)
			return r;
	}
	return (int)off;
}
