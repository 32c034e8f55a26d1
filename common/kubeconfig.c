/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig: reads kubeconfig files with libyaml's document loader and
 * merges them as client-go's loader does (first definition of a name wins,
 * first non-empty current-context wins), then flattens one context into a
 * struct kubeconfig_resolved with every referenced file read. Also builds
 * the same structure from a pod's service-account mount.
 *
 * The YAML is outside input: file sizes, scalar sizes, list lengths and
 * nesting are capped, and a byte budget per document bounds what aliases
 * can make us copy (an anchor used a thousand times is copied a thousand
 * times). Values are read as sigs.k8s.io/yaml would into client-go's
 * structs: strings accept any scalar, booleans are YAML 1.1 plain words,
 * []byte fields are standard base64, unknown keys are ignored, a repeated
 * key keeps its last value. Secrets (tokens, passwords, keys, the file
 * text) are wiped before they are freed.
 */
#include "common/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "common/errbuf.h"
#include "common/log.h"

/* Visits of YAML nodes allowed when copying an extension to JSON. */
#define KC_MAX_VISITS 100000

static void
kc_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void
kc_wipe_str(char *s)
{
	if (s != NULL)
		kc_wipe_free(s, strlen(s));
}

static void
kc_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **
kc_dup_strv(char *const *v, size_t n)
{
	char **out;

	if (n == 0)
		return NULL;
	out = calloc(n, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL) {
			kc_free_strv(out, i);
			return NULL;
		}
	}
	return out;
}

/* strdup of NULL is NULL; *ok turns false when out of memory. */
static char *
kc_strdup_opt(const char *s, bool *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

static void *
kc_memdup_opt(const void *p, size_t len, bool *ok)
{
	void *d;

	if (p == NULL)
		return NULL;
	d = malloc(len ? len : 1);
	if (d == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(d, p, len);
	return d;
}

/* ---------------------------------------------------------------------- */
/* base64 (Go's StdEncoding, which skips CR and LF) */

static int
kc_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes standard, padded base64. Returns 0, -EINVAL or -ENOMEM. */
static int
kc_b64_decode(const char *in, size_t len, unsigned char **ret_buf,
    size_t *ret_len, size_t *ret_bad)
{
	unsigned char *out;
	size_t o = 0, q = 0, pad = 0;
	uint32_t acc = 0;

	out = malloc(len / 4 * 3 + 3);
	if (out == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			/* Padding only in the last two places of a quad. */
			if (q < 2)
				goto bad;
			pad++;
			acc <<= 6;
			q++;
		} else {
			v = kc_b64_value(c);
			if (v < 0 || pad > 0)
				goto bad;
			acc = acc << 6 | (uint32_t)v;
			q++;
		}
		if (q == 4) {
			out[o++] = (unsigned char)(acc >> 16);
			if (pad < 2)
				out[o++] = (unsigned char)(acc >> 8);
			if (pad < 1)
				out[o++] = (unsigned char)acc;
			q = 0;
			acc = 0;
			if (pad > 0) {
				/* Nothing but line breaks may follow. */
				for (i++; i < len; i++)
					if (in[i] != '\r' && in[i] != '\n')
						goto bad;
				break;
			}
		}
		continue;
	bad:
		*ret_bad = i;
		kc_wipe_free(out, len / 4 * 3 + 3);
		return -EINVAL;
	}
	if (q != 0) {
		*ret_bad = len;
		kc_wipe_free(out, len / 4 * 3 + 3);
		return -EINVAL;
	}
	*ret_buf = out;
	*ret_len = o;
	return 0;
}

static char *
kc_b64_encode(const unsigned char *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* ---------------------------------------------------------------------- */
/* files */

const char *
kubeconfig_display_path(const char *path, char *buf, size_t len)
{
	const char *home = getenv("HOME");
	size_t hl = home ? strlen(home) : 0;

	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	if (hl > 1 && strncmp(path, home, hl) == 0 && path[hl] == '/')
		snprintf(buf, len, "~%s", path + hl);
	else
		snprintf(buf, len, "%s", path);
	return buf;
}

/*
 * Reads a whole regular file of at most max bytes, NUL-terminated.
 * Returns 0, -errno of open/read, or -EFBIG.
 */
static int
kc_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		ret = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	/* Sized by fstat, but read until EOF (procfs, pipes). */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap > max) {
				ret = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = malloc(cap + 1);
			if (nb == NULL) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(nb, buf, len);
			kc_wipe_free(buf, len);
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		ret = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
out:
	if (buf != NULL)
		kc_wipe_free(buf, len);
	close(fd);
	return ret;
}

int
kubeconfig_read_token_file(
    const char *path, char **ret_token, char *err, size_t errlen)
{
	char *buf = NULL, disp[PATH_MAX];
	size_t len = 0, a = 0;
	int ret;

	ret = kc_read_file(path, KUBECONFIG_MAX_TOKEN_BYTES, &buf, &len);
	if (ret < 0) {
		errbuf_set(err, errlen, "cannot read token file %s: %s",
		    kubeconfig_display_path(path, disp, sizeof(disp)),
		    ret == -EFBIG ? "larger than 64 KiB" : strerror(-ret));
		return ret;
	}
	while (a < len && strchr(" \t\r\n\v\f", buf[a]) != NULL)
		a++;
	while (len > a && strchr(" \t\r\n\v\f", buf[len - 1]) != NULL)
		len--;
	if (len == a || memchr(buf + a, '\0', len - a) != NULL) {
		errbuf_set(err, errlen, "token file %s is empty",
		    kubeconfig_display_path(path, disp, sizeof(disp)));
		kc_wipe_free(buf, len);
		return -EINVAL;
	}
	memmove(buf, buf + a, len - a);
	OPENSSL_cleanse(buf + (len - a), a + 1);
	buf[len - a] = '\0';
	*ret_token = buf;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* structures */

void
kubeconfig_exec_free(struct kubeconfig_exec *e)
{
	if (e == NULL)
		return;
	free(e->api_version);
	free(e->command);
	kc_free_strv(e->args, e->n_args);
	for (size_t i = 0; i < e->n_env; i++) {
		free(e->env[i].name);
		kc_wipe_str(e->env[i].value);
	}
	free(e->env);
	free(e->install_hint);
	free(e);
}

struct kubeconfig_exec *
kubeconfig_exec_dup(const struct kubeconfig_exec *e)
{
	struct kubeconfig_exec *d = calloc(1, sizeof(*d));
	bool ok = true;

	if (d == NULL)
		return NULL;
	d->api_version = kc_strdup_opt(e->api_version, &ok);
	d->command = kc_strdup_opt(e->command, &ok);
	d->install_hint = kc_strdup_opt(e->install_hint, &ok);
	d->interactive_mode = e->interactive_mode;
	d->provide_cluster_info = e->provide_cluster_info;
	d->line = e->line;
	if (e->n_args > 0) {
		d->args = kc_dup_strv(e->args, e->n_args);
		if (d->args == NULL)
			ok = false;
		else
			d->n_args = e->n_args;
	}
	if (e->n_env > 0) {
		d->env = calloc(e->n_env, sizeof(*d->env));
		if (d->env == NULL)
			ok = false;
		for (size_t i = 0; d->env != NULL && i < e->n_env; i++) {
			d->env[i].name = kc_strdup_opt(e->env[i].name, &ok);
			d->env[i].value = kc_strdup_opt(e->env[i].value, &ok);
			d->n_env = i + 1;
		}
	}
	if (!ok) {
		kubeconfig_exec_free(d);
		return NULL;
	}
	return d;
}

static void
kc_cluster_free(struct kubeconfig_cluster *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->tls_server_name);
	free(c->proxy_url);
	free(c->exec_extension_json);
	free(c);
}

static void
kc_user_free(struct kubeconfig_user *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->client_cert_file);
	free(u->client_cert_data);
	free(u->client_key_file);
	kc_wipe_free(u->client_key_data, u->client_key_data_len);
	kc_wipe_str(u->token);
	free(u->token_file);
	free(u->username);
	kc_wipe_str(u->password);
	free(u->impersonate);
	free(u->impersonate_uid);
	kc_free_strv(u->impersonate_groups, u->n_impersonate_groups);
	free(u->auth_provider);
	kubeconfig_exec_free(u->exec);
	free(u);
}

static void
kc_context_free(struct kubeconfig_context *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->cluster);
	free(c->user);
	free(c->namespace);
	free(c);
}

struct kubeconfig *
kubeconfig_new(void)
{
	return calloc(1, sizeof(struct kubeconfig));
}

void
kubeconfig_free(struct kubeconfig *kc)
{
	if (kc == NULL)
		return;
	for (size_t i = 0; i < kc->n_clusters; i++)
		kc_cluster_free(kc->clusters[i]);
	for (size_t i = 0; i < kc->n_users; i++)
		kc_user_free(kc->users[i]);
	for (size_t i = 0; i < kc->n_contexts; i++)
		kc_context_free(kc->contexts[i]);
	free(kc->clusters);
	free(kc->users);
	free(kc->contexts);
	free(kc->current_context);
	kc_free_strv(kc->files, kc->n_files);
	free(kc);
}

const struct kubeconfig_cluster *
kubeconfig_find_cluster(const struct kubeconfig *kc, const char *name)
{
	for (size_t i = 0; name != NULL && i < kc->n_clusters; i++)
		if (strcmp(kc->clusters[i]->name, name) == 0)
			return kc->clusters[i];
	return NULL;
}

const struct kubeconfig_user *
kubeconfig_find_user(const struct kubeconfig *kc, const char *name)
{
	for (size_t i = 0; name != NULL && i < kc->n_users; i++)
		if (strcmp(kc->users[i]->name, name) == 0)
			return kc->users[i];
	return NULL;
}

const struct kubeconfig_context *
kubeconfig_find_context(const struct kubeconfig *kc, const char *name)
{
	for (size_t i = 0; name != NULL && i < kc->n_contexts; i++)
		if (strcmp(kc->contexts[i]->name, name) == 0)
			return kc->contexts[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* the YAML walk */

struct kc_parse {
	struct kubeconfig *kc;
	yaml_document_t doc;
	const char *file; /* display name, owned by kc->files */
	const char *dir;  /* absolute, or NULL: keep paths as written */
	char *err;
	size_t errlen;
	size_t bytes_left; /* copied out of the document */
	size_t visits_left;
};

static int kc_perr(struct kc_parse *p, const yaml_node_t *n, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message"; returns -EINVAL. */
static int
kc_perr(struct kc_parse *p, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[KUBECONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errbuf_set(p->err, p->errlen, "%s:%lu: %s", p->file,
	    n ? (unsigned long)n->start_mark.line + 1 : 1UL, msg);
	return -EINVAL;
}

static unsigned
kc_line(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 1;
}

static yaml_node_t *
kc_node(struct kc_parse *p, int index)
{
	return yaml_document_get_node(&p->doc, index);
}

static bool
kc_is_null(const yaml_node_t *n)
{
	const char *v;
	size_t l;

	if (n == NULL)
		return true;
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	l = n->data.scalar.length;
	return l == 0 || (l == 1 && v[0] == '~') ||
	       (l == 4 &&
	           (memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
	               memcmp(v, "NULL", 4) == 0));
}

static bool
kc_key_is(const yaml_node_t *k, const char *name)
{
	size_t l = strlen(name);

	return k->type == YAML_SCALAR_NODE && k->data.scalar.length == l &&
	       memcmp(k->data.scalar.value, name, l) == 0;
}

/* Charges len bytes against the document's copy budget. */
static int
kc_charge(struct kc_parse *p, const yaml_node_t *n, size_t len)
{
	if (len > p->bytes_left)
		return kc_perr(p, n,
		    "the document expands to more than %u MiB of values (aliases?)",
		    (unsigned)(KUBECONFIG_MAX_FILE_BYTES >> 19));
	p->bytes_left -= len;
	return 0;
}

/*
 * A string value: any scalar (sigs.k8s.io/yaml turns numbers into strings
 * for string fields); null and "" give NULL. Frees what *ret held (a
 * repeated key keeps its last value).
 */
static int
kc_get_str(
    struct kc_parse *p, const yaml_node_t *n, const char *what, char **ret)
{
	char *s;
	size_t l;
	int r;

	if (kc_is_null(n)) {
		kc_wipe_str(*ret);
		*ret = NULL;
		return 0;
	}
	if (n->type != YAML_SCALAR_NODE)
		return kc_perr(p, n, "expected a string for '%s'", what);
	l = n->data.scalar.length;
	if (l > KUBECONFIG_MAX_STRING)
		return kc_perr(p, n, "the value of '%s' is longer than %u MiB",
		    what, (unsigned)(KUBECONFIG_MAX_STRING >> 20));
	if (memchr(n->data.scalar.value, '\0', l) != NULL)
		return kc_perr(
		    p, n, "the value of '%s' holds a NUL byte", what);
	if ((r = kc_charge(p, n, l)) < 0)
		return r;
	s = malloc(l + 1);
	if (s == NULL)
		return -ENOMEM;
	memcpy(s, n->data.scalar.value, l);
	s[l] = '\0';
	kc_wipe_str(*ret);
	*ret = l > 0 ? s : NULL;
	if (l == 0)
		free(s);
	return 0;
}

/* A path: a string, made absolute against the file's directory. */
static int
kc_get_path(
    struct kc_parse *p, const yaml_node_t *n, const char *what, char **ret)
{
	char *s = NULL, *abs;
	int r;

	if ((r = kc_get_str(p, n, what, &s)) < 0)
		return r;
	if (s != NULL && s[0] != '/' && p->dir != NULL) {
		if (asprintf(&abs, "%s/%s", p->dir, s) < 0) {
			free(s);
			return -ENOMEM;
		}
		free(s);
		s = abs;
	}
	free(*ret);
	*ret = s;
	return 0;
}

/* A YAML 1.1 boolean word in plain style (go-yaml v2). */
static bool
kc_bool_word(const yaml_node_t *n, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
	    "YES", "on", "On", "ON", "y", "Y"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No",
	    "NO", "off", "Off", "OFF", "n", "N"};
	size_t l;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	l = n->data.scalar.length;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strlen(yes[i]) == l &&
		    memcmp(n->data.scalar.value, yes[i], l) == 0) {
			*ret = true;
			return true;
		}
		if (strlen(no[i]) == l &&
		    memcmp(n->data.scalar.value, no[i], l) == 0) {
			*ret = false;
			return true;
		}
	}
	return false;
}

/* A boolean field; null is false. */
static int
kc_get_bool(
    struct kc_parse *p, const yaml_node_t *n, const char *what, bool *ret)
{
	if (kc_is_null(n)) {
		*ret = false;
		return 0;
	}
	if (kc_bool_word(n, ret))
		return 0;
	return kc_perr(p, n, "expected true or false for '%s'", what);
}

/* True when s is a JSON number (RFC 8259 grammar). */
static bool
kc_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* A base64 []byte field, decoded. */
static int
kc_get_bytes(struct kc_parse *p, const yaml_node_t *n, const char *what,
    unsigned char **ret, size_t *ret_len, bool secret)
{
	char *s = NULL;
	unsigned char *buf;
	size_t len, bad = 0;
	int r;

	if ((r = kc_get_str(p, n, what, &s)) < 0)
		return r;
	if (s == NULL) {
		buf = NULL;
		len = 0;
	} else {
		r = kc_b64_decode(s, strlen(s), &buf, &len, &bad);
		kc_wipe_str(s);
		if (r == -EINVAL)
			return kc_perr(p, n,
			    "'%s' is not valid base64 (at byte %zu); it holds the base64 of the PEM file (base64 -w0 FILE)",
			    what, bad);
		if (r < 0)
			return r;
	}
	if (secret)
		kc_wipe_free(*ret, *ret_len);
	else
		free(*ret);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* A list of strings. */
static int
kc_get_strv(struct kc_parse *p, const yaml_node_t *n, const char *what,
    char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t cnt, i = 0;
	int r = 0;

	if (kc_is_null(n)) {
		kc_free_strv(*ret, *ret_n);
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return kc_perr(
		    p, n, "expected a list of strings for '%s'", what);
	cnt =
	    (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt > KUBECONFIG_MAX_ARGS)
		return kc_perr(p, n, "'%s' has more than %d entries", what,
		    KUBECONFIG_MAX_ARGS);
	if (cnt > 0 && (v = calloc(cnt, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		const yaml_node_t *it =
		    kc_node(p, n->data.sequence.items.start[i]);

		if (it == NULL || it->type != YAML_SCALAR_NODE) {
			r = kc_perr(p, it ? it : n,
			    "expected a list of strings for '%s'", what);
			goto out;
		}
		if ((r = kc_get_str(p, it, what, &v[i])) < 0)
			goto out;
		if (v[i] == NULL && (v[i] = strdup("")) == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	kc_free_strv(*ret, *ret_n);
	*ret = v;
	*ret_n = cnt;
	v = NULL;
out:
	if (v != NULL)
		kc_free_strv(v, cnt);
	return r;
}

/* Converts a YAML subtree to JSON the way sigs.k8s.io/yaml does. */
static int
kc_to_json(
    struct kc_parse *p, const yaml_node_t *n, unsigned depth, cJSON **ret)
{
	cJSON *j = NULL;
	int r = 0;

	if (n == NULL)
		return kc_perr(p, n, "broken YAML node");
	if (depth > KUBECONFIG_MAX_DEPTH)
		return kc_perr(p, n, "nested more than %d levels deep",
		    KUBECONFIG_MAX_DEPTH);
	if (p->visits_left == 0)
		return kc_perr(p, n, "too many values (aliases?)");
	p->visits_left--;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		char *s = NULL;
		bool b;

		if (kc_is_null(n)) {
			j = cJSON_CreateNull();
			break;
		}
		if (kc_bool_word(n, &b)) {
			j = cJSON_CreateBool(b);
			break;
		}
		if ((r = kc_get_str(p, n, "extension", &s)) < 0)
			return r;
		if (s == NULL) {
			j = cJSON_CreateString("");
			break;
		}
		/* A plain JSON number stays a number, its text kept exact. */
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    kc_json_number(s))
			j = cJSON_CreateRaw(s);
		else
			j = cJSON_CreateString(s);
		free(s);
		break;
	}
	case YAML_SEQUENCE_NODE:
		j = cJSON_CreateArray();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     j != NULL && it < n->data.sequence.items.top; it++) {
			cJSON *c = NULL;

			if ((r = kc_to_json(
			         p, kc_node(p, *it), depth + 1, &c)) < 0)
				goto out;
			cJSON_AddItemToArray(j, c);
		}
		break;
	case YAML_MAPPING_NODE:
		j = cJSON_CreateObject();
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     j != NULL && pr < n->data.mapping.pairs.top; pr++) {
			const yaml_node_t *k = kc_node(p, pr->key);
			char *key = NULL;
			cJSON *c = NULL;

			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				r = kc_perr(p, k ? k : n,
				    "expected a string as a mapping key");
				goto out;
			}
			if ((r = kc_get_str(p, k, "key", &key)) < 0)
				goto out;
			r = kc_to_json(p, kc_node(p, pr->value), depth + 1, &c);
			if (r < 0) {
				free(key);
				goto out;
			}
			cJSON_DeleteItemFromObjectCaseSensitive(
			    j, key ? key : "");
			cJSON_AddItemToObject(j, key ? key : "", c);
			free(key);
		}
		break;
	default:
		return kc_perr(p, n, "unexpected YAML node");
	}
	if (j == NULL)
		return -ENOMEM;
	*ret = j;
	j = NULL;
out:
	cJSON_Delete(j);
	return r;
}

/* Iterates the pairs of a mapping node; a NULL node is an empty map. */
#define KC_FOR_PAIRS(p, n, it, k, v)                                           \
	for (yaml_node_pair_t *it = (n) ? (n)->data.mapping.pairs.start        \
	                                : NULL;                                \
	     it != NULL && it < (n)->data.mapping.pairs.top &&                 \
	     ((k) = kc_node((p), it->key), (v) = kc_node((p), it->value), 1);  \
	     it++)

static int
kc_expect_map(struct kc_parse *p, const yaml_node_t *n, const char *what,
    const yaml_node_t **ret)
{
	if (kc_is_null(n)) {
		*ret = NULL;
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE)
		return kc_perr(p, n, "expected a mapping for '%s'", what);
	*ret = n;
	return 0;
}

static int
kc_parse_exec(
    struct kc_parse *p, const yaml_node_t *n, struct kubeconfig_exec **ret)
{
	struct kubeconfig_exec *e;
	const yaml_node_t *k, *v, *m = NULL;
	int r;

	if ((r = kc_expect_map(p, n, "exec", &m)) < 0)
		return r;
	if (m == NULL) {
		kubeconfig_exec_free(*ret);
		*ret = NULL;
		return 0;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->line = kc_line(n);
	KC_FOR_PAIRS(p, m, pr2_, k, v)
	{
		if (k == NULL || v == NULL) {
			r = kc_perr(p, m, "broken YAML node");
		} else if (kc_key_is(k, "command")) {
			r = kc_get_str(p, v, "command", &e->command);
			/* Relative only when it names a path, else $PATH. */
			if (r == 0 && e->command && strchr(e->command, '/'))
				r = kc_get_path(p, v, "command", &e->command);
		} else if (kc_key_is(k, "args")) {
			r = kc_get_strv(p, v, "args", &e->args, &e->n_args);
		} else if (kc_key_is(k, "apiVersion")) {
			r = kc_get_str(p, v, "apiVersion", &e->api_version);
		} else if (kc_key_is(k, "installHint")) {
			r = kc_get_str(p, v, "installHint", &e->install_hint);
		} else if (kc_key_is(k, "provideClusterInfo")) {
			r = kc_get_bool(p, v, "provideClusterInfo",
			    &e->provide_cluster_info);
		} else if (kc_key_is(k, "interactiveMode")) {
			char *s = NULL;

			r = kc_get_str(p, v, "interactiveMode", &s);
			if (r == 0 && s == NULL)
				e->interactive_mode =
				    KUBECONFIG_INTERACTIVE_UNSET;
			else if (r == 0 && strcmp(s, "Never") == 0)
				e->interactive_mode =
				    KUBECONFIG_INTERACTIVE_NEVER;
			else if (r == 0 && strcmp(s, "IfAvailable") == 0)
				e->interactive_mode =
				    KUBECONFIG_INTERACTIVE_IF_AVAILABLE;
			else if (r == 0 && strcmp(s, "Always") == 0)
				e->interactive_mode =
				    KUBECONFIG_INTERACTIVE_ALWAYS;
			else if (r == 0)
				e->interactive_mode =
				    KUBECONFIG_INTERACTIVE_INVALID;
			free(s);
		} else if (kc_key_is(k, "env")) {
			size_t cnt;

			for (size_t i = 0; i < e->n_env; i++) {
				free(e->env[i].name);
				kc_wipe_str(e->env[i].value);
			}
			free(e->env);
			e->env = NULL;
			e->n_env = 0;
			if (kc_is_null(v))
				continue;
			if (v->type != YAML_SEQUENCE_NODE) {
				r = kc_perr(p, v,
				    "expected a list of {name, value} for 'env'");
				break;
			}
			cnt = (size_t)(v->data.sequence.items.top -
			               v->data.sequence.items.start);
			if (cnt > KUBECONFIG_MAX_ARGS) {
				r = kc_perr(p, v,
				    "'env' has more than %d entries",
				    KUBECONFIG_MAX_ARGS);
				break;
			}
			if (cnt > 0 &&
			    (e->env = calloc(cnt, sizeof(*e->env))) == NULL) {
				r = -ENOMEM;
				break;
			}
			for (size_t i = 0; r == 0 && i < cnt; i++) {
				const yaml_node_t *it, *ek, *ev, *em = NULL;

				it =
				    kc_node(p, v->data.sequence.items.start[i]);
				e->n_env = i + 1;
				r = kc_expect_map(p, it, "env", &em);
				KC_FOR_PAIRS(p, em, pr3_, ek, ev)
				{
					if (r < 0 || ek == NULL || ev == NULL)
						break;
					if (kc_key_is(ek, "name"))
						r = kc_get_str(p, ev, "name",
						    &e->env[i].name);
					else if (kc_key_is(ek, "value"))
						r = kc_get_str(p, ev, "value",
						    &e->env[i].value);
				}
				if (r == 0 && (e->env[i].name == NULL ||
				                  strchr(e->env[i].name, '=')))
					r = kc_perr(p, it ? it : v,
					    "an exec 'env' entry needs a name without '='");
				if (r == 0 && e->env[i].value == NULL &&
				    (e->env[i].value = strdup("")) == NULL)
					r = -ENOMEM;
			}
		}
		if (r < 0)
			break;
	}
	if (r < 0) {
		kubeconfig_exec_free(e);
		return r;
	}
	kubeconfig_exec_free(*ret);
	*ret = e;
	return 0;
}

/* The cluster extension named KUBECONFIG_EXEC_EXTENSION, as JSON. */
static int
kc_parse_extensions(struct kc_parse *p, const yaml_node_t *n, char **ret_json)
{
	int r = 0;

	if (kc_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return kc_perr(p, n,
		    "expected a list of {name, extension} for 'extensions'");
	if (n->data.sequence.items.top - n->data.sequence.items.start >
	    KUBECONFIG_MAX_ENTRIES)
		return kc_perr(p, n, "'extensions' has more than %d entries",
		    KUBECONFIG_MAX_ENTRIES);
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		const yaml_node_t *m = NULL, *k, *v, *ext = NULL;
		char *name = NULL;
		cJSON *j = NULL;
		char *txt;

		if ((r = kc_expect_map(p, kc_node(p, *it), "extensions", &m)) <
		    0)
			return r;
		KC_FOR_PAIRS(p, m, pr4_, k, v)
		{
			if (k == NULL || v == NULL)
				continue;
			if (kc_key_is(k, "name"))
				r = kc_get_str(p, v, "name", &name);
			else if (kc_key_is(k, "extension"))
				ext = v;
			if (r < 0)
				break;
		}
		if (r < 0)
			return r;
		if (name == NULL ||
		    strcmp(name, KUBECONFIG_EXEC_EXTENSION) != 0 ||
		    ext == NULL) {
			free(name);
			continue;
		}
		free(name);
		if ((r = kc_to_json(p, ext, 0, &j)) < 0)
			return r;
		txt = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		if (txt == NULL)
			return -ENOMEM;
		free(*ret_json);
		*ret_json = txt;
	}
	return 0;
}

static int
kc_parse_cluster_body(
    struct kc_parse *p, const yaml_node_t *m, struct kubeconfig_cluster *c)
{
	const yaml_node_t *k, *v;
	int r = 0;

	KC_FOR_PAIRS(p, m, pr5_, k, v)
	{
		if (k == NULL || v == NULL)
			r = kc_perr(p, m, "broken YAML node");
		else if (kc_key_is(k, "server"))
			r = kc_get_str(p, v, "server", &c->server);
		else if (kc_key_is(k, "certificate-authority"))
			r = kc_get_path(
			    p, v, "certificate-authority", &c->ca_file);
		else if (kc_key_is(k, "certificate-authority-data"))
			r = kc_get_bytes(p, v, "certificate-authority-data",
			    &c->ca_data, &c->ca_data_len, false);
		else if (kc_key_is(k, "insecure-skip-tls-verify"))
			r = kc_get_bool(p, v, "insecure-skip-tls-verify",
			    &c->insecure_skip_tls_verify);
		else if (kc_key_is(k, "tls-server-name"))
			r = kc_get_str(
			    p, v, "tls-server-name", &c->tls_server_name);
		else if (kc_key_is(k, "proxy-url"))
			r = kc_get_str(p, v, "proxy-url", &c->proxy_url);
		else if (kc_key_is(k, "disable-compression"))
			r = kc_get_bool(p, v, "disable-compression",
			    &c->disable_compression);
		else if (kc_key_is(k, "extensions"))
			r = kc_parse_extensions(p, v, &c->exec_extension_json);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
kc_parse_user_body(
    struct kc_parse *p, const yaml_node_t *m, struct kubeconfig_user *u)
{
	const yaml_node_t *k, *v;
	int r = 0;

	KC_FOR_PAIRS(p, m, pr6_, k, v)
	{
		if (k == NULL || v == NULL)
			r = kc_perr(p, m, "broken YAML node");
		else if (kc_key_is(k, "client-certificate"))
			r = kc_get_path(
			    p, v, "client-certificate", &u->client_cert_file);
		else if (kc_key_is(k, "client-certificate-data"))
			r = kc_get_bytes(p, v, "client-certificate-data",
			    &u->client_cert_data, &u->client_cert_data_len,
			    false);
		else if (kc_key_is(k, "client-key"))
			r = kc_get_path(
			    p, v, "client-key", &u->client_key_file);
		else if (kc_key_is(k, "client-key-data"))
			r = kc_get_bytes(p, v, "client-key-data",
			    &u->client_key_data, &u->client_key_data_len, true);
		else if (kc_key_is(k, "token"))
			r = kc_get_str(p, v, "token", &u->token);
		else if (kc_key_is(k, "tokenFile"))
			r = kc_get_path(p, v, "tokenFile", &u->token_file);
		else if (kc_key_is(k, "username"))
			r = kc_get_str(p, v, "username", &u->username);
		else if (kc_key_is(k, "password"))
			r = kc_get_str(p, v, "password", &u->password);
		else if (kc_key_is(k, "as"))
			r = kc_get_str(p, v, "as", &u->impersonate);
		else if (kc_key_is(k, "as-uid"))
			r = kc_get_str(p, v, "as-uid", &u->impersonate_uid);
		else if (kc_key_is(k, "as-groups"))
			r = kc_get_strv(p, v, "as-groups",
			    &u->impersonate_groups, &u->n_impersonate_groups);
		else if (kc_key_is(k, "exec"))
			r = kc_parse_exec(p, v, &u->exec);
		else if (kc_key_is(k, "auth-provider")) {
			const yaml_node_t *am = NULL, *ak, *av;

			r = kc_expect_map(p, v, "auth-provider", &am);
			KC_FOR_PAIRS(p, am, pr7_, ak, av)
			{
				if (r == 0 && ak && av && kc_key_is(ak, "name"))
					r = kc_get_str(
					    p, av, "name", &u->auth_provider);
			}
			if (r == 0 && am != NULL && u->auth_provider == NULL &&
			    (u->auth_provider = strdup("(unnamed)")) == NULL)
				r = -ENOMEM;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int
kc_parse_context_body(
    struct kc_parse *p, const yaml_node_t *m, struct kubeconfig_context *c)
{
	const yaml_node_t *k, *v;
	int r = 0;

	KC_FOR_PAIRS(p, m, pr8_, k, v)
	{
		if (k == NULL || v == NULL)
			r = kc_perr(p, m, "broken YAML node");
		else if (kc_key_is(k, "cluster"))
			r = kc_get_str(p, v, "cluster", &c->cluster);
		else if (kc_key_is(k, "user"))
			r = kc_get_str(p, v, "user", &c->user);
		else if (kc_key_is(k, "namespace"))
			r = kc_get_str(p, v, "namespace", &c->namespace);
		if (r < 0)
			return r;
	}
	return 0;
}

enum kc_kind {
	KC_CLUSTER,
	KC_USER,
	KC_CONTEXT,
};

static const struct {
	const char *list; /* top-level key */
	const char *item; /* the body's key */
} kc_kinds[] = {
    [KC_CLUSTER] = {"clusters", "cluster"},
    [KC_USER] = {"users", "user"},
    [KC_CONTEXT] = {"contexts", "context"},
};

/* Finds a name among the entries of one kind; returns its origin. */
static const struct kubeconfig_origin *
kc_find_origin(const struct kubeconfig *kc, enum kc_kind kind, const char *name)
{
	const struct kubeconfig_cluster *c;
	const struct kubeconfig_user *u;
	const struct kubeconfig_context *x;

	switch (kind) {
	case KC_CLUSTER:
		c = kubeconfig_find_cluster(kc, name);
		return c ? &c->origin : NULL;
	case KC_USER:
		u = kubeconfig_find_user(kc, name);
		return u ? &u->origin : NULL;
	case KC_CONTEXT:
		x = kubeconfig_find_context(kc, name);
		return x ? &x->origin : NULL;
	}
	return NULL;
}

static int
kc_append(void ***arr, size_t *n, void *item)
{
	void **na;

	/* Grow by powers of two; n is capped by KUBECONFIG_MAX_ENTRIES per
	 * file and files by KUBECONFIG_MAX_FILES. */
	if ((*n & (*n - 1)) == 0) {
		na = realloc(*arr, (*n ? *n * 2 : 1) * sizeof(**arr));
		if (na == NULL)
			return -ENOMEM;
		*arr = na;
	}
	(*arr)[(*n)++] = item;
	return 0;
}

/* One of 'clusters', 'users', 'contexts'. */
static int
kc_parse_list(struct kc_parse *p, const yaml_node_t *n, enum kc_kind kind)
{
	const char *what = kc_kinds[kind].list;
	size_t cnt;
	int r = 0;

	if (kc_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return kc_perr(p, n, "expected a list for '%s'", what);
	cnt =
	    (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt > KUBECONFIG_MAX_ENTRIES)
		return kc_perr(p, n, "'%s' has more than %d entries", what,
		    KUBECONFIG_MAX_ENTRIES);
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it =
		    kc_node(p, n->data.sequence.items.start[i]);
		const yaml_node_t *m = NULL, *k, *v, *body = NULL;
		const struct kubeconfig_origin *prev;
		struct kubeconfig_cluster *c = NULL;
		struct kubeconfig_user *u = NULL;
		struct kubeconfig_context *x = NULL;
		struct kubeconfig_origin origin;
		char *name = NULL;

		if (it == NULL || it->type != YAML_MAPPING_NODE)
			return kc_perr(p, it ? it : n,
			    "expected a mapping with 'name' and '%s' in '%s'",
			    kc_kinds[kind].item, what);
		m = it;
		KC_FOR_PAIRS(p, m, pr9_, k, v)
		{
			if (k == NULL || v == NULL)
				continue;
			if (kc_key_is(k, "name"))
				r = kc_get_str(p, v, "name", &name);
			else if (kc_key_is(k, kc_kinds[kind].item))
				r = kc_expect_map(
				    p, v, kc_kinds[kind].item, &body);
			if (r < 0) {
				free(name);
				return r;
			}
		}
		if (name == NULL)
			return kc_perr(
			    p, it, "an entry of '%s' has no name", what);
		origin.file = p->file;
		origin.line = kc_line(it);
		switch (kind) {
		case KC_CLUSTER:
			if ((c = calloc(1, sizeof(*c))) == NULL)
				r = -ENOMEM;
			else
				r = kc_parse_cluster_body(p, body, c);
			break;
		case KC_USER:
			if ((u = calloc(1, sizeof(*u))) == NULL)
				r = -ENOMEM;
			else
				r = kc_parse_user_body(p, body, u);
			break;
		case KC_CONTEXT:
			if ((x = calloc(1, sizeof(*x))) == NULL)
				r = -ENOMEM;
			else
				r = kc_parse_context_body(p, body, x);
			break;
		}
		prev = r == 0 ? kc_find_origin(p->kc, kind, name) : NULL;
		if (prev != NULL && prev->file == p->file) {
			r = kc_perr(p, it,
			    "%s \"%s\" is defined twice (first at line %u)",
			    kc_kinds[kind].item, name, prev->line);
		} else if (prev != NULL) {
			/* An earlier file defined it: that one wins. */
			log_debug(LOG_CAT_KUBE,
			    "%s:%u: %s \"%s\" ignored, %s:%u defines it",
			    p->file, origin.line, kc_kinds[kind].item, name,
			    prev->file, prev->line);
		} else if (r == 0) {
			switch (kind) {
			case KC_CLUSTER:
				c->name = name;
				c->origin = origin;
				r = kc_append((void ***)&p->kc->clusters,
				    &p->kc->n_clusters, c);
				break;
			case KC_USER:
				u->name = name;
				u->origin = origin;
				r = kc_append((void ***)&p->kc->users,
				    &p->kc->n_users, u);
				break;
			case KC_CONTEXT:
				x->name = name;
				x->origin = origin;
				r = kc_append((void ***)&p->kc->contexts,
				    &p->kc->n_contexts, x);
				break;
			}
			if (r == 0)
				continue;
			/* The entry owns name now; free it with the entry. */
			name = NULL;
		}
		free(name);
		kc_cluster_free(c);
		kc_user_free(u);
		kc_context_free(x);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
kc_parse_root(struct kc_parse *p, const yaml_node_t *root)
{
	const yaml_node_t *k, *v;
	int r = 0;

	if (kc_is_null(root))
		return 0; /* an empty file is an empty configuration */
	if (root->type != YAML_MAPPING_NODE)
		return kc_perr(p, root, "expected a mapping at the top level");
	/* Lists first, then current-context: the order of keys is free. */
	KC_FOR_PAIRS(p, root, pr10_, k, v)
	{
		if (k == NULL || v == NULL)
			return kc_perr(p, root, "broken YAML node");
		if (k->type != YAML_SCALAR_NODE)
			return kc_perr(
			    p, k, "expected a string as a mapping key");
		if (kc_key_is(k, "clusters"))
			r = kc_parse_list(p, v, KC_CLUSTER);
		else if (kc_key_is(k, "users"))
			r = kc_parse_list(p, v, KC_USER);
		else if (kc_key_is(k, "contexts"))
			r = kc_parse_list(p, v, KC_CONTEXT);
		else if (kc_key_is(k, "current-context")) {
			char *cur = NULL;

			r = kc_get_str(p, v, "current-context", &cur);
			if (r == 0 && cur != NULL &&
			    p->kc->current_context == NULL) {
				p->kc->current_context = cur;
				p->kc->current_context_origin.file = p->file;
				p->kc->current_context_origin.line = kc_line(v);
				cur = NULL;
			}
			free(cur);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int
kubeconfig_parse(struct kubeconfig *kc, const char *buf, size_t len,
    const char *display, const char *dir, char *err, size_t errlen)
{
	struct kc_parse p = {
	    .kc = kc,
	    .dir = dir,
	    .err = err,
	    .errlen = errlen,
	    .bytes_left = 2 * (size_t)KUBECONFIG_MAX_FILE_BYTES,
	    .visits_left = KC_MAX_VISITS,
	};
	yaml_parser_t parser;
	char *name;
	int r;

	if (len > KUBECONFIG_MAX_FILE_BYTES) {
		errbuf_set(err, errlen, "%s: larger than %u MiB", display,
		    (unsigned)(KUBECONFIG_MAX_FILE_BYTES >> 20));
		return -EMSGSIZE;
	}
	if (kc->n_files >= KUBECONFIG_MAX_FILES) {
		errbuf_set(err, errlen, "%s: more than %d kubeconfig files",
		    display, KUBECONFIG_MAX_FILES);
		return -EMSGSIZE;
	}
	if ((name = strdup(display)) == NULL)
		return -ENOMEM;
	if ((r = kc_append((void ***)&kc->files, &kc->n_files, name)) < 0) {
		free(name);
		return r;
	}
	p.file = name;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &p.doc)) {
		if (parser.error == YAML_MEMORY_ERROR) {
			r = -ENOMEM;
		} else {
			errbuf_set(err, errlen, "%s:%lu: %s%s%s", display,
			    (unsigned long)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "invalid YAML",
			    parser.context ? " " : "",
			    parser.context ? parser.context : "");
			r = -EINVAL;
		}
		yaml_parser_delete(&parser);
		return r;
	}
	r = kc_parse_root(&p, yaml_document_get_root_node(&p.doc));
	/* Only one document is read, as kubectl does; a second is ignored. */
	yaml_document_delete(&p.doc);
	yaml_parser_delete(&parser);
	return r;
}

/* The absolute directory of path (client-go resolves against it). */
static int
kc_abs_dir(const char *path, char **ret)
{
	char cwd[PATH_MAX], *dir;
	const char *slash = strrchr(path, '/');
	int n;

	if (path[0] == '/') {
		n = slash == path
		        ? asprintf(&dir, "/")
		        : asprintf(&dir, "%.*s", (int)(slash - path), path);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return -errno;
		n = slash == NULL
		        ? asprintf(&dir, "%s", cwd)
		        : asprintf(&dir, "%s/%.*s", strcmp(cwd, "/") ? cwd : "",
		              (int)(slash - path), path);
	}
	if (n < 0)
		return -ENOMEM;
	*ret = dir;
	return 0;
}

/* Reads and merges one file; missing_ok skips a file that does not exist. */
static int
kc_load_file(struct kubeconfig *kc, const char *path, bool missing_ok,
    char *err, size_t errlen)
{
	char disp[PATH_MAX], *buf = NULL, *dir = NULL;
	size_t len = 0;
	int r;

	kubeconfig_display_path(path, disp, sizeof(disp));
	r = kc_read_file(path, KUBECONFIG_MAX_FILE_BYTES, &buf, &len);
	if (r == -ENOENT && missing_ok) {
		log_debug(LOG_CAT_KUBE, "kubeconfig %s does not exist", disp);
		return 0;
	}
	if (r < 0) {
		errbuf_set(err, errlen, "cannot read kubeconfig %s: %s", disp,
		    r == -EFBIG ? "larger than 8 MiB" : strerror(-r));
		return r;
	}
	if ((r = kc_abs_dir(path, &dir)) == 0)
		r = kubeconfig_parse(kc, buf, len, disp, dir, err, errlen);
	kc_wipe_free(buf, len);
	free(dir);
	return r;
}

int
kubeconfig_load_list(
    const char *pathlist, struct kubeconfig **ret_kc, char *err, size_t errlen)
{
	struct kubeconfig *kc = kubeconfig_new();
	const char *s = pathlist, *colon;
	char *seen[KUBECONFIG_MAX_FILES];
	size_t n_seen = 0;
	int r = 0;

	if (kc == NULL)
		return -ENOMEM;
	while (s != NULL && *s != '\0') {
		char *path;
		bool dup = false;

		colon = strchr(s, ':');
		path = strndup(s, colon ? (size_t)(colon - s) : strlen(s));
		s = colon ? colon + 1 : NULL;
		if (path == NULL) {
			r = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < n_seen; i++)
			dup = dup || strcmp(seen[i], path) == 0;
		if (path[0] == '\0' || dup) {
			free(path);
			continue;
		}
		if (n_seen == KUBECONFIG_MAX_FILES) {
			errbuf_set(err, errlen,
			    "KUBECONFIG lists more than %d files",
			    KUBECONFIG_MAX_FILES);
			free(path);
			r = -EMSGSIZE;
			break;
		}
		seen[n_seen++] = path;
		if ((r = kc_load_file(kc, path, true, err, errlen)) < 0)
			break;
	}
	for (size_t i = 0; i < n_seen; i++)
		free(seen[i]);
	if (r < 0) {
		kubeconfig_free(kc);
		return r;
	}
	*ret_kc = kc;
	return 0;
}

int
kubeconfig_load(const char *explicit_path, struct kubeconfig **ret_kc,
    char *err, size_t errlen)
{
	struct kubeconfig *kc;
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char *path;
	int r;

	if (explicit_path != NULL) {
		if ((kc = kubeconfig_new()) == NULL)
			return -ENOMEM;
		r = kc_load_file(kc, explicit_path, false, err, errlen);
		if (r < 0) {
			kubeconfig_free(kc);
			return r;
		}
		*ret_kc = kc;
		return 0;
	}
	if (env != NULL && *env != '\0')
		return kubeconfig_load_list(env, ret_kc, err, errlen);
	if (home == NULL || *home == '\0') {
		/* No home, no default file: an empty configuration. */
		if ((kc = kubeconfig_new()) == NULL)
			return -ENOMEM;
		*ret_kc = kc;
		return 0;
	}
	if (asprintf(&path, "%s/.kube/config", home) < 0)
		return -ENOMEM;
	r = kubeconfig_load_list(path, ret_kc, err, errlen);
	free(path);
	return r;
}

/* ---------------------------------------------------------------------- */
/* resolving a context */

void
kubeconfig_resolved_free(struct kubeconfig_resolved *rc)
{
	if (rc == NULL)
		return;
	free(rc->context);
	free(rc->cluster_name);
	free(rc->user_name);
	free(rc->origin);
	free(rc->namespace);
	free(rc->server);
	free(rc->ca_pem);
	free(rc->tls_server_name);
	free(rc->proxy_url);
	free(rc->client_cert_pem);
	kc_wipe_free(rc->client_key_pem, rc->client_key_pem_len);
	kc_wipe_str(rc->token);
	free(rc->token_file);
	free(rc->username);
	kc_wipe_str(rc->password);
	free(rc->impersonate);
	free(rc->impersonate_uid);
	kc_free_strv(rc->impersonate_groups, rc->n_impersonate_groups);
	kubeconfig_exec_free(rc->exec);
	free(rc->exec_cluster_json);
	free(rc);
}

static bool
kc_has_pem(const unsigned char *buf, size_t len)
{
	return memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/*
 * Reads a PEM file named by a kubeconfig field (what) of an entry (owner,
 * e.g. 'cluster "c1" (~/.kube/config:3)').
 */
static int
kc_read_pem(const char *path, const char *what, const char *owner,
    unsigned char **ret, size_t *ret_len, char *err, size_t errlen)
{
	char disp[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int r;

	kubeconfig_display_path(path, disp, sizeof(disp));
	r = kc_read_file(path, KUBECONFIG_MAX_PEM_BYTES, &buf, &len);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot read %s %s of %s: %s", what,
		    disp, owner,
		    r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	if (!kc_has_pem((unsigned char *)buf, len)) {
		errbuf_set(err, errlen, "%s %s of %s holds no PEM data", what,
		    disp, owner);
		kc_wipe_free(buf, len);
		return -EINVAL;
	}
	*ret = (unsigned char *)buf;
	*ret_len = len;
	return 0;
}

/* Copies inline -data (checked for PEM) or reads the file. */
static int
kc_pem_field(const unsigned char *data, size_t data_len, const char *file,
    const char *what, const char *owner, unsigned char **ret, size_t *ret_len,
    char *err, size_t errlen)
{
	bool ok = true;

	if (data != NULL) {
		if (!kc_has_pem(data, data_len)) {
			errbuf_set(err, errlen,
			    "%s-data of %s holds no PEM data (expected the base64 of a PEM file)",
			    what, owner);
			return -EINVAL;
		}
		*ret = kc_memdup_opt(data, data_len, &ok);
		*ret_len = data_len;
		return ok ? 0 : -ENOMEM;
	}
	if (file != NULL)
		return kc_read_pem(
		    file, what, owner, ret, ret_len, err, errlen);
	return 0;
}

/* Names of the files of kc, for messages: "~/a, ~/b". */
static void
kc_files_list(const struct kubeconfig *kc, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kc->n_files && o < len; i++) {
		int n = snprintf(
		    buf + o, len - o, "%s%s", i ? ", " : "", kc->files[i]);

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static void
kc_context_names(const struct kubeconfig *kc, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kc->n_contexts && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
		    kc->contexts[i]->name);

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* client-go validation.go validateAuthInfo, for exec. */
static int
kc_exec_validate(const struct kubeconfig_exec *e, const char *owner, char *err,
    size_t errlen)
{
	if (e->command == NULL) {
		errbuf_set(err, errlen, "%s: exec has no 'command'", owner);
		return -EINVAL;
	}
	if (e->api_version == NULL) {
		errbuf_set(err, errlen, "%s: exec has no 'apiVersion' (use %s)",
		    owner, KUBECONFIG_EXEC_V1);
		return -EINVAL;
	}
	if (strcmp(e->api_version, "client.authentication.k8s.io/v1alpha1") ==
	    0) {
		errbuf_set(err, errlen,
		    "%s: exec apiVersion %s is no longer supported; update the plugin and use %s",
		    owner, e->api_version, KUBECONFIG_EXEC_V1);
		return -EINVAL;
	}
	if (strcmp(e->api_version, KUBECONFIG_EXEC_V1) != 0 &&
	    strcmp(e->api_version, KUBECONFIG_EXEC_V1BETA1) != 0) {
		errbuf_set(err, errlen,
		    "%s: exec apiVersion \"%s\" is not one of %s, %s", owner,
		    e->api_version, KUBECONFIG_EXEC_V1,
		    KUBECONFIG_EXEC_V1BETA1);
		return -EINVAL;
	}
	if (e->interactive_mode == KUBECONFIG_INTERACTIVE_INVALID) {
		errbuf_set(err, errlen,
		    "%s: exec interactiveMode must be Never, IfAvailable or Always",
		    owner);
		return -EINVAL;
	}
	if (e->interactive_mode == KUBECONFIG_INTERACTIVE_UNSET &&
	    strcmp(e->api_version, KUBECONFIG_EXEC_V1) == 0) {
		errbuf_set(err, errlen,
		    "%s: exec interactiveMode is required for %s (Never, IfAvailable or Always)",
		    owner, KUBECONFIG_EXEC_V1);
		return -EINVAL;
	}
	return 0;
}

/* spec.cluster of KUBERNETES_EXEC_INFO (clientauthentication Cluster). */
static int
kc_exec_cluster_json(const struct kubeconfig_resolved *rc,
    const struct kubeconfig_cluster *c, char **ret)
{
	cJSON *j = cJSON_CreateObject(), *cfg;
	char *b64 = NULL;
	int r = -ENOMEM;

	if (j == NULL)
		return -ENOMEM;
	if (!cJSON_AddStringToObject(j, "server", rc->server))
		goto out;
	if (rc->tls_server_name &&
	    !cJSON_AddStringToObject(j, "tls-server-name", rc->tls_server_name))
		goto out;
	if (rc->insecure_skip_tls_verify &&
	    !cJSON_AddTrueToObject(j, "insecure-skip-tls-verify"))
		goto out;
	if (rc->ca_pem != NULL) {
		if ((b64 = kc_b64_encode(rc->ca_pem, rc->ca_pem_len)) == NULL ||
		    !cJSON_AddStringToObject(
		        j, "certificate-authority-data", b64))
			goto out;
	}
	if (rc->proxy_url &&
	    !cJSON_AddStringToObject(j, "proxy-url", rc->proxy_url))
		goto out;
	if (rc->disable_compression &&
	    !cJSON_AddTrueToObject(j, "disable-compression"))
		goto out;
	if (c != NULL && c->exec_extension_json != NULL) {
		cfg = cJSON_Parse(c->exec_extension_json);
		if (cfg == NULL)
			goto out;
		cJSON_AddItemToObject(j, "config", cfg);
	}
	if ((*ret = cJSON_PrintUnformatted(j)) != NULL)
		r = 0;
out:
	free(b64);
	cJSON_Delete(j);
	return r;
}

int
kubeconfig_resolve(const struct kubeconfig *kc, const char *context,
    struct kubeconfig_resolved **ret, char *err, size_t errlen)
{
	const struct kubeconfig_context *x;
	const struct kubeconfig_cluster *c;
	const struct kubeconfig_user *u = NULL;
	struct kubeconfig_resolved *rc = NULL;
	char files[512], names[512], cown[KUBECONFIG_ERR_MAX / 2];
	char uown[KUBECONFIG_ERR_MAX / 2], xown[KUBECONFIG_ERR_MAX / 2];
	const char *name = context ? context : kc->current_context;
	bool ok = true;
	int r;

	kc_files_list(kc, files, sizeof(files));
	kc_context_names(kc, names, sizeof(names));
	if (name == NULL || *name == '\0') {
		if (kc->n_files == 0) {
			errbuf_set(err, errlen,
			    "no kubeconfig found: set KUBECONFIG, create ~/.kube/config (for example with your cloud's get-credentials command), or pass --kubeconfig");
			return -ENOENT;
		}
		errbuf_set(err, errlen,
		    "no current context is set in %s; pass --context NAME or run `kubectl config use-context NAME`%s%s%s",
		    files, kc->n_contexts ? " (contexts: " : "", names,
		    kc->n_contexts ? ")" : "");
		return -ENOENT;
	}
	x = kubeconfig_find_context(kc, name);
	if (x == NULL) {
		errbuf_set(err, errlen,
		    "context \"%s\"%s is not defined in %s%s%s%s", name,
		    context ? "" : " (the current context)",
		    kc->n_files ? files : "any kubeconfig",
		    kc->n_contexts ? "; contexts: " : "", names,
		    kc->n_contexts ? "" : "; check KUBECONFIG or --kubeconfig");
		return -ENOENT;
	}
	snprintf(xown, sizeof(xown), "context \"%s\" (%s:%u)", x->name,
	    x->origin.file, x->origin.line);
	if (x->cluster == NULL) {
		errbuf_set(err, errlen, "%s names no cluster", xown);
		return -EINVAL;
	}
	c = kubeconfig_find_cluster(kc, x->cluster);
	if (c == NULL) {
		errbuf_set(err, errlen,
		    "%s refers to cluster \"%s\", which is not defined in %s",
		    xown, x->cluster, files);
		return -ENOENT;
	}
	snprintf(cown, sizeof(cown), "cluster \"%s\" (%s:%u)", c->name,
	    c->origin.file, c->origin.line);
	if (c->server == NULL) {
		errbuf_set(err, errlen, "%s has no server", cown);
		return -EINVAL;
	}
	if (c->insecure_skip_tls_verify &&
	    (c->ca_data != NULL || c->ca_file != NULL)) {
		errbuf_set(err, errlen,
		    "%s sets insecure-skip-tls-verify together with a certificate authority; remove one of them",
		    cown);
		return -EINVAL;
	}
	if (x->user != NULL) {
		u = kubeconfig_find_user(kc, x->user);
		if (u == NULL) {
			errbuf_set(err, errlen,
			    "%s refers to user \"%s\", which is not defined in %s",
			    xown, x->user, files);
			return -ENOENT;
		}
		snprintf(uown, sizeof(uown), "user \"%s\" (%s:%u)", u->name,
		    u->origin.file, u->origin.line);
		if (u->auth_provider != NULL && u->exec != NULL) {
			errbuf_set(err, errlen,
			    "%s sets both auth-provider and exec; keep only exec",
			    uown);
			return -EINVAL;
		}
		if (u->auth_provider != NULL) {
			errbuf_set(err, errlen,
			    "%s uses auth-provider \"%s\", which kubectl no longer supports; switch to an exec plugin (gke-gcloud-auth-plugin for GKE, kubelogin for AKS, `aws eks get-token` for EKS)",
			    uown, u->auth_provider);
			return -ENOTSUP;
		}
		if (u->exec != NULL &&
		    (r = kc_exec_validate(u->exec, uown, err, errlen)) < 0)
			return r;
	}

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return -ENOMEM;
	rc->context = kc_strdup_opt(x->name, &ok);
	rc->cluster_name = kc_strdup_opt(c->name, &ok);
	rc->user_name = kc_strdup_opt(x->user, &ok);
	rc->namespace =
	    kc_strdup_opt(x->namespace ? x->namespace : "default", &ok);
	if (asprintf(&rc->origin, "%s:%u", x->origin.file, x->origin.line) < 0)
		rc->origin = NULL, ok = false;
	rc->server = kc_strdup_opt(c->server, &ok);
	if (rc->server != NULL) {
		size_t l = strlen(rc->server);

		while (l > 0 && rc->server[l - 1] == '/')
			rc->server[--l] = '\0';
	}
	rc->insecure_skip_tls_verify = c->insecure_skip_tls_verify;
	rc->tls_server_name = kc_strdup_opt(c->tls_server_name, &ok);
	rc->proxy_url = kc_strdup_opt(c->proxy_url, &ok);
	rc->disable_compression = c->disable_compression;
	if (!ok) {
		r = -ENOMEM;
		goto out;
	}
	r = kc_pem_field(c->ca_data, c->ca_data_len, c->ca_file,
	    "certificate-authority", cown, &rc->ca_pem, &rc->ca_pem_len, err,
	    errlen);
	if (r < 0)
		goto out;
	if (u != NULL) {
		bool has_cert = u->client_cert_data || u->client_cert_file;
		bool has_key = u->client_key_data || u->client_key_file;

		if (has_cert != has_key) {
			errbuf_set(err, errlen,
			    "%s has a client %s but no client %s; set both client-certificate and client-key (or their -data forms)",
			    uown, has_cert ? "certificate" : "key",
			    has_cert ? "key" : "certificate");
			r = -EINVAL;
			goto out;
		}
		r = kc_pem_field(u->client_cert_data, u->client_cert_data_len,
		    u->client_cert_file, "client-certificate", uown,
		    &rc->client_cert_pem, &rc->client_cert_pem_len, err,
		    errlen);
		if (r == 0)
			r = kc_pem_field(u->client_key_data,
			    u->client_key_data_len, u->client_key_file,
			    "client-key", uown, &rc->client_key_pem,
			    &rc->client_key_pem_len, err, errlen);
		if (r < 0)
			goto out;
		rc->token = kc_strdup_opt(u->token, &ok);
		rc->token_file = kc_strdup_opt(u->token_file, &ok);
		rc->username = kc_strdup_opt(u->username, &ok);
		rc->password = kc_strdup_opt(u->password, &ok);
		rc->impersonate = kc_strdup_opt(u->impersonate, &ok);
		rc->impersonate_uid = kc_strdup_opt(u->impersonate_uid, &ok);
		if (u->n_impersonate_groups > 0) {
			rc->impersonate_groups = kc_dup_strv(
			    u->impersonate_groups, u->n_impersonate_groups);
			if (rc->impersonate_groups == NULL)
				ok = false;
			else
				rc->n_impersonate_groups =
				    u->n_impersonate_groups;
		}
		if (u->exec != NULL &&
		    (rc->exec = kubeconfig_exec_dup(u->exec)) == NULL)
			ok = false;
		if (!ok) {
			r = -ENOMEM;
			goto out;
		}
		if (rc->token == NULL && rc->token_file != NULL) {
			r = kubeconfig_read_token_file(
			    rc->token_file, &rc->token, err, errlen);
			if (r < 0) {
				size_t l = strlen(err);

				snprintf(err + l, errlen - l,
				    " (tokenFile of %s)", uown);
				goto out;
			}
		}
		if (rc->exec != NULL && rc->exec->provide_cluster_info &&
		    (r = kc_exec_cluster_json(rc, c, &rc->exec_cluster_json)) <
		        0)
			goto out;
	}
	*ret = rc;
	rc = NULL;
	r = 0;
out:
	kubeconfig_resolved_free(rc);
	return r;
}

/* ---------------------------------------------------------------------- */
/* in-cluster */

int
kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig_resolved **ret,
    char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *podns = getenv("POD_NAMESPACE");
	struct kubeconfig_resolved *rc = NULL;
	char *path = NULL, *ns = NULL, *buf = NULL;
	size_t len = 0;
	bool ok = true;
	int r;

	if (sa_dir == NULL)
		sa_dir = KUBECONFIG_SA_DIR;
	if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
		errbuf_set(err, errlen,
		    "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
		return -ENXIO;
	}
	if (strlen(host) > 253 || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) ||
	    strpbrk(host, "/[]@ \t\r\n") != NULL) {
		errbuf_set(err, errlen,
		    "KUBERNETES_SERVICE_HOST/PORT (%.64s, %.8s) do not form an address",
		    host, port);
		return -EINVAL;
	}
	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return -ENOMEM;
	rc->context = kc_strdup_opt("in-cluster", &ok);
	rc->origin = kc_strdup_opt(sa_dir, &ok);
	/* JoinHostPort: an IPv6 literal goes in brackets. */
	if (asprintf(&rc->server,
	        strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
	        port) < 0) {
		rc->server = NULL;
		ok = false;
	}
	if (asprintf(&rc->token_file, "%s/token", sa_dir) < 0) {
		rc->token_file = NULL;
		ok = false;
	}
	if (!ok) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = kubeconfig_read_token_file(
	         rc->token_file, &rc->token, err, errlen)) < 0)
		goto out;
	if (asprintf(&path, "%s/ca.crt", sa_dir) < 0) {
		path = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = kc_read_pem(path, "the service account's CA", "the pod",
	    &rc->ca_pem, &rc->ca_pem_len, err, errlen);
	if (r < 0)
		goto out;
	if (podns != NULL && *podns != '\0') {
		ns = strdup(podns);
	} else {
		free(path);
		if (asprintf(&path, "%s/namespace", sa_dir) < 0) {
			path = NULL;
			r = -ENOMEM;
			goto out;
		}
		if (kc_read_file(path, 256, &buf, &len) == 0) {
			while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
				buf[--len] = '\0';
			if (len > 0 && strlen(buf) == len)
				ns = strdup(buf);
		}
		if (ns == NULL)
			ns = strdup("default");
	}
	if (ns == NULL) {
		r = -ENOMEM;
		goto out;
	}
	rc->namespace = ns;
	*ret = rc;
	rc = NULL;
	r = 0;
out:
	free(buf);
	free(path);
	kubeconfig_resolved_free(rc);
	return r;
}
