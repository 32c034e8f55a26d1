/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolvconf: switches the system resolver to telepodd's DNS stub and
 * back (see resolvconf.h for the two methods and why). The state needed to
 * undo the change lives in struct resolvconf and, for a daemon that dies,
 * in its netstate payload: the original file's bytes (hex), mode and
 * owner, and the SHA-256 of each version we wrote, which tells restore
 * whether someone else edited the file meanwhile. Restoring compares
 * before writing, so undoing twice, or undoing a change that was recorded
 * but never made (netstate is write-ahead), does nothing.
 */
#include "client/resolvconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/errbuf.h"
#include "common/fileio.h"
#include "common/log.h"

#define RESOLVCONF_HASH_HEX   65 /* SHA-256 as hex, NUL */
#define RESOLVCONF_MAX_DOMAIN 254
#define RESOLVCONF_MAX_LINK   64
/* Domains in the search line we write (ours and the original's). */
#define RESOLVCONF_MAX_SEARCH 64

struct resolvconf {
	enum resolvconf_method method;
	char path[RESOLVCONF_MAX_PATH]; /* as configured */
	char file[RESOLVCONF_MAX_PATH]; /* the real file (FILE) */
	char save_path[RESOLVCONF_MAX_PATH];
	char resolved_dir[RESOLVCONF_MAX_PATH];
	char stub_addr[INET6_ADDRSTRLEN];
	char link[RESOLVCONF_MAX_LINK];
	char domain[RESOLVCONF_MAX_DOMAIN];
	char ns[RESOLVCONF_MAX_NAMESPACES][64];
	size_t n_ns;
	char local_domain[RESOLVCONF_MAX_DOMAIN]; /* implicit, from hostname */
	resolvconf_run_fn run;
	void *run_arg;
	/* FILE: the original and the rendered text */
	char *orig;
	size_t orig_len;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char *text;
	size_t text_len;
	/* What we wrote or are about to: [0] the current text, [1] the one
	 * before (an update that died half way). "" when none. */
	char written[2][RESOLVCONF_HASH_HEX];
};

static int
resolvconf_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* --- validation --- */

static bool
resolvconf_valid_label(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* A dotted name without a trailing dot (the caller strips it). */
static bool
resolvconf_valid_domain(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= RESOLVCONF_MAX_DOMAIN)
		return false;
	while (*s) {
		size_t n = strcspn(s, ".");

		if (!resolvconf_valid_label(s, n))
			return false;
		s += n;
		if (*s == '.' && *++s == '\0')
			return false;
	}
	return true;
}

static bool
resolvconf_valid_addr(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return s && (inet_pton(AF_INET, s, buf) == 1 ||
	                inet_pton(AF_INET6, s, buf) == 1);
}

/* Copies cluster_domain without a trailing dot into out. */
static int
resolvconf_domain(const char *in, char *out)
{
	size_t n;

	if (!in)
		return -EINVAL;
	n = strlen(in);
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= RESOLVCONF_MAX_DOMAIN)
		return -EINVAL;
	memcpy(out, in, n);
	out[n] = '\0';
	return resolvconf_valid_domain(out) ? 0 : -EINVAL;
}

static int
resolvconf_check_namespaces(const char *const *ns, size_t n)
{
	if (n == 0 || n > RESOLVCONF_MAX_NAMESPACES || !ns)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!ns[i] || !resolvconf_valid_label(ns[i], strlen(ns[i])))
			return -EINVAL;
	}
	return 0;
}

/* --- rendering --- */

struct resolvconf_buf {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void
resolvconf_put(struct resolvconf_buf *b, const char *s, size_t n)
{
	if (b->full || b->cap - b->len < n) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
resolvconf_puts(struct resolvconf_buf *b, const char *s)
{
	resolvconf_put(b, s, strlen(s));
}

static bool
resolvconf_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Does line (n bytes) start with keyword followed by a blank or its end? */
static bool
resolvconf_keyword(const char *line, size_t n, const char *keyword)
{
	size_t k = strlen(keyword);

	return n >= k && memcmp(line, keyword, k) == 0 &&
	       (n == k || resolvconf_space(line[k]));
}

/* A search list under construction: unique (case-insensitive, trailing dot
 * ignored), bounded. */
struct resolvconf_search {
	char names[RESOLVCONF_MAX_SEARCH][RESOLVCONF_MAX_DOMAIN];
	size_t n;
};

static void
resolvconf_search_add(struct resolvconf_search *s, const char *d, size_t n)
{
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n >= RESOLVCONF_MAX_DOMAIN ||
	    s->n >= RESOLVCONF_MAX_SEARCH)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->names[i]) == n &&
		    strncasecmp(s->names[i], d, n) == 0)
			return;
	}
	memcpy(s->names[s->n], d, n);
	s->names[s->n][n] = '\0';
	s->n++;
}

/* Adds the blank-separated words of line[from..n). */
static void
resolvconf_search_words(
    struct resolvconf_search *s, const char *line, size_t from, size_t n)
{
	size_t i = from;

	while (i < n) {
		size_t start;

		while (i < n && resolvconf_space(line[i]))
			i++;
		start = i;
		while (i < n && !resolvconf_space(line[i]))
			i++;
		if (i > start)
			resolvconf_search_add(s, line + start, i - start);
	}
}

/*
 * The render proper. local_domain (may be NULL) is the search domain glibc
 * derives from the host name when the original has no search or domain
 * line; our search line would otherwise hide it.
 */
static int
resolvconf_render_with(const char *orig, size_t len,
    const struct resolvconf_config *cfg, const char *local_domain, char *out,
    size_t cap)
{
	struct resolvconf_buf b = {out, cap, 0, false};
	struct resolvconf_search *ours, *theirs;
	char domain[RESOLVCONF_MAX_DOMAIN],
	    name[64 + 5 + RESOLVCONF_MAX_DOMAIN];
	const char *path = cfg->path ? cfg->path : RESOLVCONF_PATH;
	const char *save =
	    cfg->save_path ? cfg->save_path : RESOLVCONF_SAVE_PATH;
	bool had_search = false;
	size_t p;
	int r = 0;

	if (!resolvconf_valid_addr(cfg->stub_addr) ||
	    resolvconf_domain(cfg->cluster_domain, domain) < 0 ||
	    resolvconf_check_namespaces(cfg->namespaces, cfg->n_namespaces) < 0)
		return -EINVAL;
	ours = calloc(1, sizeof(*ours));
	theirs = calloc(1, sizeof(*theirs));
	if (!ours || !theirs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		/* NS.svc.DOMAIN must itself be a name. */
		if (strlen(cfg->namespaces[i]) + 5 + strlen(domain) >=
		    RESOLVCONF_MAX_DOMAIN) {
			r = -EINVAL;
			goto out;
		}
		snprintf(name, sizeof(name), "%.63s.svc.%.253s",
		    cfg->namespaces[i], domain);
		resolvconf_search_add(ours, name, strlen(name));
	}
	snprintf(name, sizeof(name), "svc.%s", domain);
	resolvconf_search_add(ours, name, strlen(name));
	resolvconf_search_add(ours, domain, strlen(domain));
	/* The original search list: the last search or domain line wins. */
	for (p = 0; p < len;) {
		const char *line = orig + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t n = nl ? (size_t)(nl - line) : len - p;

		if (resolvconf_keyword(line, n, "search") ||
		    resolvconf_keyword(line, n, "domain")) {
			theirs->n = 0;
			had_search = true;
			resolvconf_search_words(theirs, line, 6, n);
		}
		p += n + (nl ? 1 : 0);
	}
	if (!had_search && local_domain && local_domain[0])
		resolvconf_search_add(
		    theirs, local_domain, strlen(local_domain));

	resolvconf_puts(&b, RESOLVCONF_MARKER " while these namespaces are "
	                                      "connected:");
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		resolvconf_puts(&b, " ");
		resolvconf_puts(&b, cfg->namespaces[i]);
	}
	resolvconf_puts(&b, ".\n"
	                    "# Cluster names resolve through telepodd's DNS "
	                    "stub (the nameserver below),\n"
	                    "# which forwards all other names to the original "
	                    "name servers.\n"
	                    "# The original file is put back when telepod "
	                    "disconnects, or by the next\n"
	                    "# telepodd after a crash.");
	if (save[0]) {
		resolvconf_puts(&b, " To restore it by hand:\n#   cp ");
		resolvconf_puts(&b, save);
		resolvconf_puts(&b, " ");
		resolvconf_puts(&b, path);
	}
	resolvconf_puts(&b, "\nnameserver ");
	resolvconf_puts(&b, cfg->stub_addr);
	resolvconf_puts(&b, "\nsearch");
	for (size_t i = 0; i < ours->n + theirs->n; i++) {
		const char *d =
		    i < ours->n ? ours->names[i] : theirs->names[i - ours->n];
		bool dup = false;

		for (size_t j = 0; i >= ours->n && j < ours->n; j++)
			dup = dup || strcasecmp(d, ours->names[j]) == 0;
		if (dup)
			continue;
		resolvconf_puts(&b, " ");
		resolvconf_puts(&b, d);
	}
	resolvconf_puts(&b, "\n");
	/* Every other line as it was. */
	for (p = 0; p < len;) {
		const char *line = orig + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t n = nl ? (size_t)(nl - line) : len - p;

		if (!resolvconf_keyword(line, n, "nameserver") &&
		    !resolvconf_keyword(line, n, "search") &&
		    !resolvconf_keyword(line, n, "domain")) {
			resolvconf_put(&b, line, n);
			resolvconf_puts(&b, "\n");
		}
		p += n + (nl ? 1 : 0);
	}
	r = b.full ? -EMSGSIZE : (int)b.len;
out:
	free(ours);
	free(theirs);
	return r;
}

int
resolvconf_render(const char *orig, size_t len,
    const struct resolvconf_config *cfg, char *out, size_t cap)
{
	return resolvconf_render_with(orig, len, cfg, NULL, out, cap);
}

/* Parses one name server address ("10.0.0.2", "fe80::1%eth0"). */
static int
resolvconf_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *pct;

	if (strlen(s) >= sizeof(host))
		return -EINVAL;
	strcpy(host, s);
	memset(ss, 0, sizeof(*ss));
	pct = strchr(host, '%');
	if (pct)
		*pct++ = '\0';
	if (!pct) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(53);
			return 0;
		}
	}
	{
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(53);
		if (pct) {
			char *end;
			unsigned long idx = strtoul(pct, &end, 10);

			if (*end)
				idx = if_nametoindex(pct);
			if (idx == 0 || idx > UINT32_MAX)
				return -EINVAL;
			sin6->sin6_scope_id = (uint32_t)idx;
		}
	}
	return 0;
}

int
resolvconf_parse_servers(
    const char *text, size_t len, struct sockaddr_storage *ret, size_t cap)
{
	size_t n = 0, p = 0;

	while (p < len && n < cap) {
		const char *line = text + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t ln = nl ? (size_t)(nl - line) : len - p;

		p += ln + (nl ? 1 : 0);
		if (resolvconf_keyword(line, ln, "nameserver")) {
			char word[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
			size_t i = 10, start, wl;

			while (i < ln && resolvconf_space(line[i]))
				i++;
			start = i;
			while (i < ln && !resolvconf_space(line[i]))
				i++;
			wl = i - start;
			if (wl == 0 || wl >= sizeof(word))
				continue;
			memcpy(word, line + start, wl);
			word[wl] = '\0';
			if (resolvconf_parse_addr(word, &ret[n]) == 0)
				n++;
		}
	}
	return (int)n;
}

/* --- files --- */

/* Reads path (at most max bytes) into a fresh buffer (caller frees). */
static int
resolvconf_read(const char *path, size_t max, char **ret_buf, size_t *ret_len,
    struct stat *ret_st)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	buf = malloc(max + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			goto out;
		}
	}
	*ret_buf = buf;
	*ret_len = len;
	if (ret_st)
		*ret_st = st;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static int
resolvconf_write_inplace(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = fileio_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int
resolvconf_write(const char *path, const void *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid, bool *ret_inplace)
{
	char tmp[RESOLVCONF_MAX_PATH + 16];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.telepod-XXXXXX", path) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		/* A read-only directory with a writable file in it (a
		 * bind-mounted file in a container): only in place works. */
		if (errno == EROFS || errno == EACCES || errno == EPERM)
			goto inplace;
		return -errno;
	}
	r = fileio_write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode & 07777) < 0)
		r = -errno;
	if (r == 0 && (uid != geteuid() || gid != getegid()) &&
	    fchown(fd, uid, gid) < 0 && errno != EPERM)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		/* EBUSY: path is a mount point (a bind mount). */
		if (r == -EBUSY)
			goto inplace;
		return r;
	}
	(void)fileio_sync_dir(path);
	if (ret_inplace)
		*ret_inplace = false;
	return 0;
inplace:
	r = resolvconf_write_inplace(path, data, len);
	if (r == 0 && ret_inplace)
		*ret_inplace = true;
	return r;
}

/* mkdir -p of path's directory (mode 0755). */
static int
resolvconf_make_dir(const char *path)
{
	char dir[RESOLVCONF_MAX_PATH];

	if (resolvconf_copy(dir, sizeof(dir), path) < 0)
		return -ENAMETOOLONG;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static void
resolvconf_sha256(const void *data, size_t len, char out[RESOLVCONF_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	out[0] = '\0';
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* --- commands --- */

int
resolvconf_run_command(
    const char *const *argv, char *out, size_t outlen, void *arg)
{
	unsigned timeout_ms = arg ? *(const unsigned *)arg : 0;
	posix_spawn_file_actions_t fa;
	struct timespec start, now;
	size_t got = 0;
	int pipefd[2], status, r;
	pid_t pid;

	if (outlen > 0)
		out[0] = '\0';
	if (timeout_ms == 0)
		timeout_ms = RESOLVCONF_CMD_TIMEOUT_MS;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawnp(
	    &pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return -r;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		long long left;
		char buf[256];
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left =
		    timeout_ms - ((now.tv_sec - start.tv_sec) * 1000LL +
		                     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(pipefd[0]);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF: the command is exiting */
		for (ssize_t i = 0; i < n && got + 1 < outlen; i++)
			out[got++] = buf[i];
		if (outlen > 0)
			out[got] = '\0';
	}
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	/* Trailing newlines of the message. */
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r'))
		out[--got] = '\0';
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -EINTR;
}

/* Runs argv with rc's runner; 0, or a negative errno with a sentence. */
static int
resolvconf_run(resolvconf_run_fn run, void *run_arg, const char *const *argv,
    char *err, size_t errlen)
{
	char out[512], cmd[512];
	size_t o = 0;
	int r;

	r = run(argv, out, sizeof(out), run_arg);
	if (r == 0)
		return 0;
	for (size_t i = 0; argv[i] && o + 1 < sizeof(cmd); i++)
		o += (size_t)snprintf(
		    cmd + o, sizeof(cmd) - o, "%s%s", i ? " " : "", argv[i]);
	if (r < 0) {
		errbuf_set(
		    err, errlen, "cannot run \"%s\": %s", cmd, strerror(-r));
		return r;
	}
	errbuf_set(err, errlen, "\"%s\" failed (exit %d)%s%s", cmd, r,
	    out[0] ? ": " : "", out);
	return -EIO;
}

/* --- detection --- */

static int
resolvconf_real(const char *path, char out[RESOLVCONF_MAX_PATH])
{
	char buf[PATH_MAX];

	if (!realpath(path, buf))
		return -errno;
	return resolvconf_copy(out, RESOLVCONF_MAX_PATH, buf);
}

int
resolvconf_detect(const struct resolvconf_config *cfg,
    enum resolvconf_method *ret_method, char *err, size_t errlen)
{
	const char *path = cfg->path ? cfg->path : RESOLVCONF_PATH;
	const char *rdir =
	    cfg->resolved_dir ? cfg->resolved_dir : RESOLVCONF_RESOLVED_DIR;
	static const char *const status[] = {"resolvectl", "status", NULL};
	char target[RESOLVCONF_MAX_PATH], dir[RESOLVCONF_MAX_PATH];
	char out[256];
	struct stat st;
	size_t dl;
	int r;

	if (lstat(path, &st) < 0) {
		r = -errno;
		errbuf_set(err, errlen, "cannot examine %s: %s", path,
		    strerror(errno));
		return r;
	}
	*ret_method = RESOLVCONF_FILE;
	if (!S_ISLNK(st.st_mode))
		return 0;
	/* A symlink into resolved's directory (whose files exist)? */
	if (resolvconf_real(path, target) < 0 || resolvconf_real(rdir, dir) < 0)
		return 0;
	dl = strlen(dir);
	if (strncmp(target, dir, dl) != 0 || target[dl] != '/' ||
	    (strcmp(target + dl + 1, "stub-resolv.conf") != 0 &&
	        strcmp(target + dl + 1, "resolv.conf") != 0))
		return 0;
	/* And resolved answers. */
	r = (cfg->run ? cfg->run : resolvconf_run_command)(
	    status, out, sizeof(out), cfg->run ? cfg->run_arg : NULL);
	if (r == 0) {
		*ret_method = RESOLVCONF_RESOLVED;
		return 0;
	}
	log_info("resolver: %s points to systemd-resolved's %s, but resolved "
	         "does not answer (%s): rewriting the file instead",
	    path, target, r < 0 ? strerror(-r) : out);
	return 0;
}

/* --- the change --- */

static int
resolvconf_render_rc(struct resolvconf *rc)
{
	const char *nsp[RESOLVCONF_MAX_NAMESPACES];
	struct resolvconf_config cfg = {0};
	size_t cap = rc->orig_len + 16384;
	char *text;
	int n;

	if (rc->method != RESOLVCONF_FILE)
		return 0;
	for (size_t i = 0; i < rc->n_ns; i++)
		nsp[i] = rc->ns[i];
	cfg.path = rc->path;
	cfg.save_path = rc->save_path;
	cfg.stub_addr = rc->stub_addr;
	cfg.cluster_domain = rc->domain;
	cfg.namespaces = nsp;
	cfg.n_namespaces = rc->n_ns;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	n = resolvconf_render_with(
	    rc->orig, rc->orig_len, &cfg, rc->local_domain, text, cap);
	if (n < 0) {
		free(text);
		return n;
	}
	free(rc->text);
	rc->text = text;
	rc->text_len = (size_t)n;
	memcpy(rc->written[1], rc->written[0], RESOLVCONF_HASH_HEX);
	resolvconf_sha256(rc->text, rc->text_len, rc->written[0]);
	return 0;
}

/* The domain part of the host name (glibc's implicit search domain). */
static void
resolvconf_local_domain(char out[RESOLVCONF_MAX_DOMAIN])
{
	char host[256];
	const char *dot;

	out[0] = '\0';
	if (gethostname(host, sizeof(host)) < 0)
		return;
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');
	if (dot && dot[1] && strlen(dot + 1) < RESOLVCONF_MAX_DOMAIN &&
	    resolvconf_valid_domain(dot + 1))
		strcpy(out, dot + 1);
}

int
resolvconf_set_namespaces(
    struct resolvconf *rc, const char *const *namespaces, size_t n)
{
	if (resolvconf_check_namespaces(namespaces, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		snprintf(rc->ns[i], sizeof(rc->ns[i]), "%s", namespaces[i]);
	rc->n_ns = n;
	return resolvconf_render_rc(rc);
}

int
resolvconf_prepare(const struct resolvconf_config *cfg, struct resolvconf **ret,
    char *err, size_t errlen)
{
	struct resolvconf *rc;
	struct stat st;
	int r;

	rc = calloc(1, sizeof(*rc));
	if (!rc) {
		errbuf_set(err, errlen, "resolver: out of memory");
		return -ENOMEM;
	}
	rc->run = cfg->run ? cfg->run : resolvconf_run_command;
	rc->run_arg = cfg->run ? cfg->run_arg : NULL;
	if (resolvconf_copy(rc->path, sizeof(rc->path),
	        cfg->path ? cfg->path : RESOLVCONF_PATH) < 0 ||
	    resolvconf_copy(rc->save_path, sizeof(rc->save_path),
	        cfg->save_path ? cfg->save_path : RESOLVCONF_SAVE_PATH) < 0 ||
	    resolvconf_copy(rc->resolved_dir, sizeof(rc->resolved_dir),
	        cfg->resolved_dir ? cfg->resolved_dir
	                          : RESOLVCONF_RESOLVED_DIR) < 0 ||
	    !resolvconf_valid_addr(cfg->stub_addr) ||
	    resolvconf_copy(
	        rc->stub_addr, sizeof(rc->stub_addr), cfg->stub_addr) < 0 ||
	    resolvconf_domain(cfg->cluster_domain, rc->domain) < 0 ||
	    resolvconf_check_namespaces(cfg->namespaces, cfg->n_namespaces) <
	        0) {
		errbuf_set(err, errlen,
		    "resolver: a bad path, stub address, cluster domain or "
		    "namespace name");
		r = -EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		snprintf(
		    rc->ns[i], sizeof(rc->ns[i]), "%s", cfg->namespaces[i]);
	rc->n_ns = cfg->n_namespaces;
	rc->method = cfg->method;
	if (rc->method == RESOLVCONF_DETECT) {
		r = resolvconf_detect(cfg, &rc->method, err, errlen);
		if (r < 0)
			goto fail;
	}
	if (rc->method == RESOLVCONF_RESOLVED) {
		if (!cfg->link || !cfg->link[0] ||
		    strlen(cfg->link) >= IF_NAMESIZE ||
		    resolvconf_copy(rc->link, sizeof(rc->link), cfg->link) <
		        0) {
			errbuf_set(err, errlen,
			    "resolver: systemd-resolved needs the TUN "
			    "device's name");
			r = -EINVAL;
			goto fail;
		}
		*ret = rc;
		return 0;
	}
	r = resolvconf_real(rc->path, rc->file);
	if (r < 0) {
		errbuf_set(err, errlen, "resolver: cannot find %s: %s",
		    rc->path, strerror(-r));
		goto fail;
	}
	r = resolvconf_read(
	    rc->file, RESOLVCONF_MAX_FILE, &rc->orig, &rc->orig_len, &st);
	if (r < 0) {
		errbuf_set(err, errlen, "resolver: cannot read %s: %s",
		    rc->file,
		    r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
		goto fail;
	}
	if (rc->orig_len >= strlen(RESOLVCONF_MARKER) &&
	    memcmp(rc->orig, RESOLVCONF_MARKER, strlen(RESOLVCONF_MARKER)) ==
	        0) {
		errbuf_set(err, errlen,
		    "resolver: %s was written by an earlier telepodd and "
		    "never restored; the original is in %s (restart telepodd "
		    "to recover it, or copy it back)",
		    rc->file, rc->save_path);
		r = -EEXIST;
		goto fail;
	}
	rc->mode = st.st_mode & 07777;
	rc->uid = st.st_uid;
	rc->gid = st.st_gid;
	resolvconf_local_domain(rc->local_domain);
	r = resolvconf_render_rc(rc);
	if (r < 0) {
		errbuf_set(err, errlen, "resolver: cannot render %s: %s",
		    rc->file, strerror(-r));
		goto fail;
	}
	rc->written[1][0] = '\0';
	*ret = rc;
	return 0;
fail:
	resolvconf_free(rc);
	return r;
}

static int
resolvconf_apply_resolved(struct resolvconf *rc, char *err, size_t errlen)
{
	/* "~DOMAIN", then "~NS ~NS.svc ~NS.pod NS.svc.DOMAIN" per
	 * namespace: at most 1 + 4 * 16 words. */
	char words[1 + 4 * RESOLVCONF_MAX_NAMESPACES]
	          [64 + 5 + RESOLVCONF_MAX_DOMAIN];
	const char *dom[4 + 1 + 4 * RESOLVCONF_MAX_NAMESPACES + 1];
	const char *dns[] = {
	    "resolvectl", "dns", rc->link, rc->stub_addr, NULL};
	const char *route[] = {
	    "resolvectl", "default-route", rc->link, "false", NULL};
	const char *revert[] = {"resolvectl", "revert", rc->link, NULL};
	size_t w = 0, d = 0;
	int r;

	dom[d++] = "resolvectl";
	dom[d++] = "domain";
	dom[d++] = rc->link;
	snprintf(words[w], sizeof(words[w]), "~%s", rc->domain);
	dom[d++] = words[w++];
	for (size_t i = 0; i < rc->n_ns; i++) {
		snprintf(words[w], sizeof(words[w]), "~%s", rc->ns[i]);
		dom[d++] = words[w++];
		snprintf(words[w], sizeof(words[w]), "~%s.svc", rc->ns[i]);
		dom[d++] = words[w++];
		snprintf(words[w], sizeof(words[w]), "~%s.pod", rc->ns[i]);
		dom[d++] = words[w++];
	}
	/* Search domains (for bare names), the default namespace first. */
	for (size_t i = 0; i < rc->n_ns; i++) {
		snprintf(words[w], sizeof(words[w]), "%s.svc.%s", rc->ns[i],
		    rc->domain);
		dom[d++] = words[w++];
	}
	dom[d] = NULL;
	r = resolvconf_run(rc->run, rc->run_arg, dns, err, errlen);
	if (r == 0)
		r = resolvconf_run(rc->run, rc->run_arg, dom, err, errlen);
	if (r == 0)
		r = resolvconf_run(rc->run, rc->run_arg, route, err, errlen);
	if (r < 0) {
		char ignored[256];

		resolvconf_run(
		    rc->run, rc->run_arg, revert, ignored, sizeof(ignored));
		return r;
	}
	log_info("resolver: systemd-resolved sends cluster names on %s to "
	         "the DNS stub at %s",
	    rc->link, rc->stub_addr);
	return 0;
}

int
resolvconf_apply(struct resolvconf *rc, char *err, size_t errlen)
{
	bool inplace = false;
	int r;

	if (rc->method == RESOLVCONF_RESOLVED)
		return resolvconf_apply_resolved(rc, err, errlen);
	if (rc->save_path[0]) {
		r = resolvconf_make_dir(rc->save_path);
		if (r == 0)
			r = resolvconf_write(rc->save_path, rc->orig,
			    rc->orig_len, 0644, geteuid(), getegid(), NULL);
		if (r < 0) {
			errbuf_set(err, errlen,
			    "resolver: cannot save the original to %s: %s",
			    rc->save_path, strerror(-r));
			return r;
		}
	}
	r = resolvconf_write(rc->file, rc->text, rc->text_len, rc->mode,
	    rc->uid, rc->gid, &inplace);
	if (r < 0) {
		errbuf_set(err, errlen, "resolver: cannot write %s: %s",
		    rc->file, strerror(-r));
		return r;
	}
	log_info("resolver: %s now names the DNS stub at %s%s", rc->file,
	    rc->stub_addr,
	    inplace ? " (rewritten in place: it is a bind mount)" : "");
	return 0;
}

static int
resolvconf_restore_file(struct resolvconf *rc, char *err, size_t errlen)
{
	char hash[RESOLVCONF_HASH_HEX];
	char *cur = NULL;
	size_t cur_len = 0;
	bool inplace = false;
	int r;

	r = resolvconf_read(
	    rc->file, RESOLVCONF_MAX_FILE, &cur, &cur_len, NULL);
	if (r == 0 && cur_len == rc->orig_len &&
	    memcmp(cur, rc->orig, cur_len) == 0) {
		/* Already the original (never changed, or restored). */
		free(cur);
		goto done;
	}
	if (r == 0) {
		resolvconf_sha256(cur, cur_len, hash);
		if (strcmp(hash, rc->written[0]) != 0 &&
		    strcmp(hash, rc->written[1]) != 0)
			log_warn("resolver: %s was changed by something else "
			         "while telepod was connected; putting the "
			         "original back anyway (that change is lost)",
			    rc->file);
	} else {
		log_warn("resolver: cannot read %s (%s); putting the original "
		         "back",
		    rc->file, strerror(-r));
	}
	free(cur);
	r = resolvconf_write(rc->file, rc->orig, rc->orig_len, rc->mode,
	    rc->uid, rc->gid, &inplace);
	if (r < 0) {
		errbuf_set(err, errlen, "resolver: cannot restore %s: %s%s%s",
		    rc->file, strerror(-r),
		    rc->save_path[0] ? "; the original is in " : "",
		    rc->save_path);
		return r;
	}
	log_info(
	    "resolver: %s restored%s", rc->file, inplace ? " (in place)" : "");
done:
	if (rc->save_path[0] && unlink(rc->save_path) < 0 && errno != ENOENT)
		log_warn("resolver: cannot remove %s: %s", rc->save_path,
		    strerror(errno));
	return 0;
}

int
resolvconf_restore(struct resolvconf *rc, char *err, size_t errlen)
{
	const char *revert[] = {"resolvectl", "revert", rc->link, NULL};
	int r;

	if (rc->method == RESOLVCONF_FILE)
		return resolvconf_restore_file(rc, err, errlen);
	/* resolved forgets a link that is gone. */
	if (if_nametoindex(rc->link) == 0)
		return 0;
	r = resolvconf_run(rc->run, rc->run_arg, revert, err, errlen);
	if (r == 0)
		log_info("resolver: systemd-resolved's settings of %s reverted",
		    rc->link);
	return r;
}

void
resolvconf_free(struct resolvconf *rc)
{
	if (!rc)
		return;
	free(rc->orig);
	free(rc->text);
	free(rc);
}

enum resolvconf_method
resolvconf_get_method(const struct resolvconf *rc)
{
	return rc->method;
}

const char *
resolvconf_file(const struct resolvconf *rc)
{
	return rc->method == RESOLVCONF_FILE ? rc->file : rc->path;
}

int
resolvconf_servers(
    const struct resolvconf *rc, struct sockaddr_storage *ret, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (rc->method == RESOLVCONF_FILE)
		return resolvconf_parse_servers(
		    rc->orig, rc->orig_len, ret, cap);
	r = resolvconf_read(rc->path, RESOLVCONF_MAX_FILE, &text, &len, NULL);
	if (r < 0)
		return r;
	r = resolvconf_parse_servers(text, len, ret, cap);
	free(text);
	return r;
}

/* --- the netstate record --- */

cJSON *
resolvconf_payload(const struct resolvconf *rc)
{
	static const char hex[] = "0123456789abcdef";
	cJSON *p = cJSON_CreateObject(), *w;
	char *h = NULL;

	if (!p)
		return NULL;
	if (rc->method == RESOLVCONF_RESOLVED) {
		if (!cJSON_AddStringToObject(p, "method", "resolved") ||
		    !cJSON_AddStringToObject(p, "link", rc->link))
			goto fail;
		return p;
	}
	h = malloc(2 * rc->orig_len + 1);
	if (!h)
		goto fail;
	for (size_t i = 0; i < rc->orig_len; i++) {
		h[2 * i] = hex[(unsigned char)rc->orig[i] >> 4];
		h[2 * i + 1] = hex[(unsigned char)rc->orig[i] & 15];
	}
	h[2 * rc->orig_len] = '\0';
	if (!cJSON_AddStringToObject(p, "method", "file") ||
	    !cJSON_AddStringToObject(p, "file", rc->file) ||
	    !cJSON_AddStringToObject(p, "save", rc->save_path) ||
	    !cJSON_AddNumberToObject(p, "mode", rc->mode) ||
	    !cJSON_AddNumberToObject(p, "uid", rc->uid) ||
	    !cJSON_AddNumberToObject(p, "gid", rc->gid) ||
	    !cJSON_AddStringToObject(p, "original", h))
		goto fail;
	w = cJSON_AddArrayToObject(p, "written");
	if (!w)
		goto fail;
	for (int i = 0; i < 2; i++) {
		cJSON *s;

		if (!rc->written[i][0])
			continue;
		s = cJSON_CreateString(rc->written[i]);
		if (!s)
			goto fail;
		cJSON_AddItemToArray(w, s);
	}
	free(h);
	return p;
fail:
	free(h);
	cJSON_Delete(p);
	return NULL;
}

static int
resolvconf_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static const char *
resolvconf_json_str(const cJSON *p, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool
resolvconf_json_id(const cJSON *p, const char *name, double max, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(long long)v->valuedouble)
		return false;
	*ret = v->valuedouble;
	return true;
}

/* Rebuilds the state of a payload; -EINVAL when it is malformed. */
static int
resolvconf_from_payload(const cJSON *p, struct resolvconf **ret)
{
	const char *method = resolvconf_json_str(p, "method");
	const char *s, *h;
	struct resolvconf *rc;
	const cJSON *w, *item;
	double mode, uid, gid;
	size_t hl;
	int i = 0;

	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	if (method && strcmp(method, "resolved") == 0) {
		s = resolvconf_json_str(p, "link");
		if (!s || !s[0] || strlen(s) >= IF_NAMESIZE ||
		    resolvconf_copy(rc->link, sizeof(rc->link), s) < 0)
			goto bad;
		rc->method = RESOLVCONF_RESOLVED;
		*ret = rc;
		return 0;
	}
	if (!method || strcmp(method, "file") != 0)
		goto bad;
	rc->method = RESOLVCONF_FILE;
	s = resolvconf_json_str(p, "file");
	if (!s || s[0] != '/' ||
	    resolvconf_copy(rc->file, sizeof(rc->file), s) < 0)
		goto bad;
	s = resolvconf_json_str(p, "save");
	if (!s || resolvconf_copy(rc->save_path, sizeof(rc->save_path), s) < 0)
		goto bad;
	if (!resolvconf_json_id(p, "mode", 07777, &mode) ||
	    !resolvconf_json_id(p, "uid", 4294967294.0, &uid) ||
	    !resolvconf_json_id(p, "gid", 4294967294.0, &gid))
		goto bad;
	rc->mode = (mode_t)mode;
	rc->uid = (uid_t)uid;
	rc->gid = (gid_t)gid;
	h = resolvconf_json_str(p, "original");
	if (!h)
		goto bad;
	hl = strlen(h);
	if (hl % 2 || hl / 2 > RESOLVCONF_MAX_FILE)
		goto bad;
	rc->orig = malloc(hl / 2 + 1);
	if (!rc->orig) {
		resolvconf_free(rc);
		return -ENOMEM;
	}
	for (size_t k = 0; k < hl / 2; k++) {
		int hi = resolvconf_hexval(h[2 * k]);
		int lo = resolvconf_hexval(h[2 * k + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		rc->orig[k] = (char)(hi << 4 | lo);
	}
	rc->orig_len = hl / 2;
	w = cJSON_GetObjectItemCaseSensitive(p, "written");
	if (!cJSON_IsArray(w))
		goto bad;
	cJSON_ArrayForEach(item, w)
	{
		if (i >= 2 || !cJSON_IsString(item) ||
		    strlen(item->valuestring) != RESOLVCONF_HASH_HEX - 1)
			goto bad;
		strcpy(rc->written[i++], item->valuestring);
	}
	*ret = rc;
	return 0;
bad:
	resolvconf_free(rc);
	return -EINVAL;
}

int
resolvconf_undo(
    const char *kind, const cJSON *payload, void *arg, char *err, size_t errlen)
{
	const struct resolvconf_hooks *hooks = arg;
	struct resolvconf *rc = NULL;
	int r;

	r = resolvconf_from_payload(payload, &rc);
	if (r < 0) {
		errbuf_set(err, errlen,
		    "resolver: the %s record is malformed; check %s by hand",
		    kind, RESOLVCONF_PATH);
		return r;
	}
	rc->run = hooks && hooks->run ? hooks->run : resolvconf_run_command;
	rc->run_arg = hooks && hooks->run ? hooks->run_arg : NULL;
	r = resolvconf_restore(rc, err, errlen);
	resolvconf_free(rc);
	return r;
}
