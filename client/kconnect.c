/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kconnect: the Kubernetes side of `telepod connect` and `telepod
 * uninstall`, in the user's own process (see kconnect.h for the flow).
 * Everything up to the fork is blocking, as the Kubernetes client is by
 * design: load the kubeconfig, make or reuse the certificates, apply what
 * differs, poll the roll-out, pick a pod, probe the port-forward on a
 * short-lived event loop, discover subnets. The holder that is forked then
 * runs one libevent loop: the port-forward listener, its signals, a
 * socketpair to the CLI until the daemon's answer, and asynchronous
 * control requests to telepodd (status every 15 s; quit when it is told
 * to stop), so the tunnel it carries never waits on it.
 */
#include "config.h"

#include "client/kconnect.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "client/cidr.h"
#include "client/ctl.h"
#include "client/kmanifest.h"
#include "common/certs.h"
#include "common/kube.h"
#include "common/kubeconfig.h"
#include "common/log.h"
#include "common/portforward.h"

#define KC_EXIT_OK          0
#define KC_EXIT_FAILED      1
#define KC_EXIT_USAGE       2
#define KC_EXIT_UNREACHABLE 3

#define KC_MAX_TIMEOUT_S  3600
#define KC_MAX_CIDRS      64
#define KC_MAX_PEM        (1u << 20)
#define KC_POLL_MS        500
#define KC_CTL_TIMEOUT_MS 10000
#define KC_PROBE_MS       30000
#define KC_CERT_DAYS      825
#define KC_MSG_MAX        2048
#define KC_NAME_MAX       253

struct kc {
	/* the command line */
	const char *cmd; /* "connect" or "uninstall" */
	const char *socket_path;
	const char *ns_arg;
	const char *context;
	const char *kubeconfig;
	const char *image;
	const char *tun_name;
	bool no_tun;
	bool foreground;
	bool help;
	int timeout_s;
	struct cidr_list also, never, allow;
	/* the run */
	struct kubeconfig *kcfg;
	struct kubeconfig_resolved *rc;
	struct kube_client *kube;
	char ns[KC_NAME_MAX + 1];
	char tls_dir[PATH_MAX];
	char pod[KC_NAME_MAX + 1];
	char *ca_crt, *server_crt, *server_key;
	struct cidr_list subnets;
	char subnet_note[512];
	bool tty;
	bool line_open;
	long long deadline_ms;
	bool is_holder; /* this process is the forked holder */
};

/* ---------------------------------------------------------------------- */
/* output */

static void kc_err(struct kc *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kc_stage(struct kc *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kc_note(struct kc *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
kc_clear_line(struct kc *k)
{
	if (k->tty && k->line_open) {
		fputs("\r\033[K", stderr);
		k->line_open = false;
	}
}

/* "telepod connect: msg" on stderr. */
static void
kc_err(struct kc *k, const char *fmt, ...)
{
	va_list ap;

	kc_clear_line(k);
	fprintf(stderr, "telepod %s: ", k->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A stage of the progress: one line rewritten in place on a terminal,
 * one plain line each otherwise. */
static void
kc_stage(struct kc *k, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (k->tty) {
		fprintf(stderr, "\r\033[Ktelepod: %s...", text);
		k->line_open = true;
	} else {
		fprintf(stderr, "telepod: %s...\n", text);
	}
	fflush(stderr);
}

/* A line that stays (a decision, a warning). */
static void
kc_note(struct kc *k, const char *fmt, ...)
{
	va_list ap;

	kc_clear_line(k);
	fputs("telepod: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------------- */
/* small helpers */

static long long
kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
kc_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool
kc_valid_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* mkdir -p with mode for each created level. */
static int
kc_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* $HOME, or the passwd entry's directory. */
static const char *
kc_home(void)
{
	const char *h = getenv("HOME");

	return h != NULL && h[0] == '/' ? h : NULL;
}

/* Writes BASE/telepod where BASE is $VAR (absolute) or $HOME/fallback. */
static int
kc_user_dir(const char *var, const char *fallback, char *out, size_t len)
{
	const char *v = getenv(var), *home = kc_home();
	int n;

	if (v != NULL && v[0] == '/')
		n = snprintf(out, len, "%s/telepod", v);
	else if (home != NULL)
		n = snprintf(out, len, "%s/%s/telepod", home, fallback);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Where the lock file of namespace ns lives. */
static int
kc_pidfile(const char *ns, char *out, size_t len)
{
	char dir[PATH_MAX - 128];
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int r, n;

	if (rt != NULL && rt[0] == '/' && stat(rt, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		r = kc_user_dir("XDG_RUNTIME_DIR", ".cache", dir, sizeof(dir));
	else
		r = kc_user_dir("XDG_CACHE_HOME", ".cache", dir, sizeof(dir));
	if (r < 0)
		return r;
	n = snprintf(out, len, "%s/portforward-%.63s.pid", dir, ns);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
kc_logfile(const char *ns, char *out, size_t len)
{
	char dir[PATH_MAX - 128];
	int r, n;

	r = kc_user_dir("XDG_CACHE_HOME", ".cache", dir, sizeof(dir));
	if (r < 0)
		return r;
	n = snprintf(out, len, "%s/portforward-%.63s.log", dir, ns);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void
kconnect_context_dir(const char *context, char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = strlen(context), o = 0;
	bool changed = n == 0 || strcmp(context, ".") == 0 ||
	               strcmp(context, "..") == 0 || n > 100;

	if (len == 0)
		return;
	for (size_t i = 0; i < n && i < 100 && o + 1 < len; i++) {
		char c = context[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-') {
			out[o++] = c;
		} else {
			out[o++] = '_';
			changed = true;
		}
	}
	out[o] = '\0';
	if (!changed)
		return;
	EVP_Digest(context, n, md, &mdlen, EVP_sha256(), NULL);
	if (o + 10 <= len)
		snprintf(out + o, len - o, "-%02x%02x%02x%02x", md[0], md[1],
		    md[2], md[3]);
}

int
kconnect_parse_service_range(const char *msg, char *out, size_t len)
{
	static const char marker[] = "range of valid IPs is";
	const char *p = strstr(msg, marker);
	size_t o = 0;
	int n = 0;

	if (len > 0)
		out[0] = '\0';
	if (p == NULL)
		return 0;
	p += sizeof(marker) - 1;
	/* Prefixes follow, maybe in brackets or separated by spaces or
	 * commas; stop at the first word that is not one. */
	for (;;) {
		char tok[CIDR_STR_MAX + 1];
		size_t tl = 0;
		struct cidr c;
		bool host_bits;

		while (*p == ' ' || *p == '[' || *p == ',' || *p == '"')
			p++;
		while (p[tl] != '\0' && strchr(" ],\";", p[tl]) == NULL &&
		       tl < CIDR_STR_MAX)
			tl++;
		if (tl == 0 || tl >= CIDR_STR_MAX)
			break;
		memcpy(tok, p, tl);
		tok[tl] = '\0';
		/* A sentence's full stop after the last prefix. */
		if (tl > 1 && tok[tl - 1] == '.')
			tok[--tl] = '\0';
		if (strchr(tok, '/') == NULL ||
		    cidr_parse(tok, &c, &host_bits) < 0)
			break;
		if (o + tl + 2 > len)
			break;
		o += (size_t)snprintf(
		    out + o, len - o, "%s%s", n ? "," : "", tok);
		n++;
		p += tl;
		if (*p == '.')
			p++;
	}
	return n;
}

/* Reads a file of at most KC_MAX_PEM bytes as a string. */
static int
kc_read_file(const char *path, char **ret)
{
	struct stat st;
	char *buf;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || st.st_size < 0 ||
	    (size_t)st.st_size > KC_MAX_PEM) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	got = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (got != st.st_size) {
		free(buf);
		return -EIO;
	}
	buf[got] = '\0';
	*ret = buf;
	return 0;
}

/* strlcpy: in cut to fit out. */
static void
kc_copy(char *out, size_t len, const char *in)
{
	size_t n = strlen(in);

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(out, in, n);
	out[n] = '\0';
}

static void
kc_wipe_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* ---------------------------------------------------------------------- */
/* the command line */

static const char kc_usage_connect[] =
    "Usage: telepod connect [-n NAMESPACE] [--context NAME] [--kubeconfig FILE]\n"
    "                       [--image IMAGE] [--no-tun] [--tun-name NAME]\n"
    "                       [--also-proxy CIDR]... [--never-proxy CIDR]...\n"
    "                       [--allow-conflicting-subnet CIDR]...\n"
    "                       [--timeout SECONDS] [--foreground]\n"
    "\n"
    "Without --server, connect goes through Kubernetes: it installs\n"
    "telepod-server in NAMESPACE when it is missing or of another version\n"
    "(the objects of packaging/kubernetes/), waits for it, and reaches it\n"
    "through the API server's port-forward, held by a process of your own\n"
    "until `telepod quit`. Your kubeconfig and its credentials stay in that\n"
    "process; telepodd only gets 127.0.0.1:PORT and the certificates in\n"
    "~/.config/telepod/CONTEXT/NAMESPACE/.\n"
    "\n"
    "  -n, --namespace NS   the namespace (default: the context's)\n"
    "  --context NAME       the kubeconfig context (default: current)\n"
    "  --kubeconfig FILE    instead of $KUBECONFIG or ~/.kube/config\n"
    "  --image IMAGE        telepod-server's image (default\n"
    "                       " KCONNECT_DEFAULT_IMAGE ")\n"
    "  --no-tun             SOCKS5 only: no TUN device, routes or DNS\n"
    "  --tun-name NAME      the TUN device (default tel0)\n"
    "  --also-proxy CIDR    route CIDR through the tunnel too (repeatable)\n"
    "  --never-proxy CIDR   never route CIDR through the tunnel\n"
    "  --allow-conflicting-subnet CIDR  route it even over a local route\n"
    "  --timeout SECONDS    for the whole connect (default 180)\n"
    "  --foreground         keep the port-forward in this process\n"
    "                       (Ctrl-C disconnects)\n"
    "\n"
    "With --server HOST:PORT --tls-dir DIR it connects to a telepod-server\n"
    "directly instead: see `telepod help connect`.\n";

static const char kc_usage_uninstall[] =
    "Usage: telepod uninstall [-n NAMESPACE] [--context NAME] [--kubeconfig FILE]\n"
    "\n"
    "Disconnects NAMESPACE if it is connected through Kubernetes, deletes\n"
    "the objects `telepod connect` created there (only those labelled\n"
    "app.kubernetes.io/managed-by=telepod) and the local certificates in\n"
    "~/.config/telepod/CONTEXT/NAMESPACE/.\n";

enum {
	KC_OPT_SOCKET = 0x100,
	KC_OPT_CONTEXT,
	KC_OPT_KUBECONFIG,
	KC_OPT_IMAGE,
	KC_OPT_NO_TUN,
	KC_OPT_TUN_NAME,
	KC_OPT_ALSO,
	KC_OPT_NEVER,
	KC_OPT_ALLOW,
	KC_OPT_TIMEOUT,
	KC_OPT_FOREGROUND,
};

/* Index of the command word in argv (after global options), or -1. */
static int
kc_command_index(int argc, char **argv, const char **ret_socket)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0) {
			if (i + 1 < argc && ret_socket != NULL)
				*ret_socket = argv[i + 1];
			i++;
			continue;
		}
		if (strncmp(argv[i], "--socket=", 9) == 0) {
			if (ret_socket != NULL)
				*ret_socket = argv[i] + 9;
			continue;
		}
		if (argv[i][0] == '-')
			return -1;
		return i;
	}
	return -1;
}

bool
kconnect_wants(int argc, char **argv)
{
	int i = kc_command_index(argc, argv, NULL);

	if (i < 0)
		return false;
	if (strcmp(argv[i], "uninstall") == 0)
		return true;
	if (strcmp(argv[i], "connect") != 0)
		return false;
	for (int j = i + 1; j < argc; j++)
		if (strcmp(argv[j], "--server") == 0 ||
		    strncmp(argv[j], "--server=", 9) == 0)
			return false;
	return true;
}

static int kc_usage_error(struct kc *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
kc_usage_error(struct kc *k, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "telepod %s: ", k->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee `telepod %s --help`.\n", k->cmd);
	return KC_EXIT_USAGE;
}

static int
kc_add_cidrs(
    struct kc *k, struct cidr_list *l, const char *opt, const char *arg)
{
	char err[256];
	bool norm = false;

	if (cidr_list_add_str(l, arg, &norm, err, sizeof(err)) < 0)
		return kc_usage_error(k, "invalid --%s: %s", opt, err);
	if (norm)
		return kc_usage_error(
		    k, "invalid --%s \"%s\": host bits are set", opt, arg);
	if (l->n > KC_MAX_CIDRS)
		return kc_usage_error(
		    k, "at most %d prefixes for --%s", KC_MAX_CIDRS, opt);
	return 0;
}

static int
kc_parse(struct kc *k, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"namespace", required_argument, NULL, 'n'},
	    {"context", required_argument, NULL, KC_OPT_CONTEXT},
	    {"kubeconfig", required_argument, NULL, KC_OPT_KUBECONFIG},
	    {"image", required_argument, NULL, KC_OPT_IMAGE},
	    {"no-tun", no_argument, NULL, KC_OPT_NO_TUN},
	    {"tun-name", required_argument, NULL, KC_OPT_TUN_NAME},
	    {"also-proxy", required_argument, NULL, KC_OPT_ALSO},
	    {"never-proxy", required_argument, NULL, KC_OPT_NEVER},
	    {"allow-conflicting-subnet", required_argument, NULL, KC_OPT_ALLOW},
	    {"timeout", required_argument, NULL, KC_OPT_TIMEOUT},
	    {"foreground", no_argument, NULL, KC_OPT_FOREGROUND},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *env = getenv(CTL_SOCKET_ENV);
	bool uninstall;
	int i, c, r;

	k->socket_path = env && env[0] ? env : CTL_DEFAULT_SOCKET;
	i = kc_command_index(argc, argv, &k->socket_path);
	if (i < 0)
		return KC_EXIT_USAGE;
	k->cmd = argv[i];
	uninstall = strcmp(k->cmd, "uninstall") == 0;
	k->timeout_s = KCONNECT_DEFAULT_TIMEOUT_S;
	argc -= i;
	argv += i;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:n:h", opts, NULL)) != -1) {
		if (uninstall && c != 'n' && c != 'h' && c != KC_OPT_CONTEXT &&
		    c != KC_OPT_KUBECONFIG && c != ':' && c != '?')
			return kc_usage_error(
			    k, "unknown option %s", argv[optind - 1]);
		switch (c) {
		case 'n':
			if (!kc_valid_label(optarg))
				return kc_usage_error(k,
				    "invalid namespace \"%s\": 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'",
				    optarg);
			k->ns_arg = optarg;
			break;
		case 'h':
			k->help = true;
			return 0;
		case KC_OPT_CONTEXT:
			k->context = optarg;
			break;
		case KC_OPT_KUBECONFIG:
			k->kubeconfig = optarg;
			break;
		case KC_OPT_IMAGE:
			if (optarg[0] == '\0' || strlen(optarg) > 1024 ||
			    strpbrk(optarg, " \t\r\n") != NULL)
				return kc_usage_error(
				    k, "invalid --image \"%s\"", optarg);
			k->image = optarg;
			break;
		case KC_OPT_NO_TUN:
			k->no_tun = true;
			break;
		case KC_OPT_TUN_NAME:
			if (optarg[0] == '\0' || strlen(optarg) > 15)
				return kc_usage_error(
				    k, "--tun-name needs 1 to 15 characters");
			k->tun_name = optarg;
			break;
		case KC_OPT_ALSO:
			if ((r = kc_add_cidrs(
			         k, &k->also, "also-proxy", optarg)) != 0)
				return r;
			break;
		case KC_OPT_NEVER:
			if ((r = kc_add_cidrs(
			         k, &k->never, "never-proxy", optarg)) != 0)
				return r;
			break;
		case KC_OPT_ALLOW:
			if ((r = kc_add_cidrs(k, &k->allow,
			         "allow-conflicting-subnet", optarg)) != 0)
				return r;
			break;
		case KC_OPT_TIMEOUT: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end != '\0' || v < 1 || v > KC_MAX_TIMEOUT_S)
				return kc_usage_error(k,
				    "--timeout needs 1 to %d seconds",
				    KC_MAX_TIMEOUT_S);
			k->timeout_s = (int)v;
			break;
		}
		case KC_OPT_FOREGROUND:
			k->foreground = true;
			break;
		case ':':
			return kc_usage_error(
			    k, "option %s needs a value", argv[optind - 1]);
		default:
			return kc_usage_error(
			    k, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kc_usage_error(
		    k, "unexpected argument \"%s\"", argv[optind]);
	if (k->no_tun && (k->tun_name || k->also.n || k->never.n || k->allow.n))
		return kc_usage_error(k,
		    "--no-tun routes nothing: it cannot be combined with --tun-name, --also-proxy, --never-proxy or --allow-conflicting-subnet");
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Kubernetes */

static int
kc_load(struct kc *k)
{
	char err[KUBECONFIG_ERR_MAX];
	int r;

	r = kubeconfig_load(k->kubeconfig, &k->kcfg, err, sizeof(err));
	if (r == 0)
		r = kubeconfig_resolve(
		    k->kcfg, k->context, &k->rc, err, sizeof(err));
	if (r == 0)
		r = kube_client_new(k->rc, NULL, &k->kube, err, sizeof(err));
	if (r < 0) {
		kc_err(k, "%s", err);
		return r;
	}
	snprintf(k->ns, sizeof(k->ns), "%s",
	    k->ns_arg ? k->ns_arg : k->rc->namespace);
	if (!kc_valid_label(k->ns)) {
		kc_err(k,
		    "the namespace \"%.100s\" of context \"%s\" is not a valid namespace name; give one with -n",
		    k->ns, k->rc->context);
		return -EINVAL;
	}
	return 0;
}

/* ~/.config/telepod/CONTEXT/NAMESPACE */
static int
kc_tls_path(struct kc *k)
{
	char base[PATH_MAX], ctx[160];
	int n, r;

	r = kc_user_dir("XDG_CONFIG_HOME", ".config", base, sizeof(base));
	if (r < 0) {
		kc_err(k, "cannot find your home directory ($HOME is not set)");
		return r;
	}
	kconnect_context_dir(k->rc->context, ctx, sizeof(ctx));
	n = snprintf(
	    k->tls_dir, sizeof(k->tls_dir), "%s/%s/%s", base, ctx, k->ns);
	return n < 0 || (size_t)n >= sizeof(k->tls_dir) ? -ENAMETOOLONG : 0;
}

/* Makes the certificates when any file is missing, then reads the
 * server's side for the Secret. */
static int
kc_certs(struct kc *k)
{
	static const char *const files[] = {CERTS_CA_CRT, CERTS_CA_KEY,
	    CERTS_SERVER_CRT, CERTS_SERVER_KEY, CERTS_CLIENT_CRT,
	    CERTS_CLIENT_KEY};
	char path[PATH_MAX + 32], err[1024];
	bool missing = false;
	int r;

	if ((r = kc_tls_path(k)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", k->tls_dir, files[i]);
		if (access(path, R_OK) != 0)
			missing = true;
	}
	if (missing) {
		if ((r = kc_mkdirs(k->tls_dir, 0700)) < 0) {
			kc_err(k, "cannot create %s: %s", k->tls_dir,
			    strerror(-r));
			return r;
		}
		r = certs_create(k->tls_dir, NULL, 0, KC_CERT_DAYS, CERTS_FORCE,
		    err, sizeof(err));
		if (r < 0) {
			kc_err(k, "%s", err);
			return r;
		}
		kc_note(k, "made new certificates in %s", k->tls_dir);
	}
	chmod(k->tls_dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", k->tls_dir, CERTS_CA_CRT);
	r = kc_read_file(path, &k->ca_crt);
	if (r == 0) {
		snprintf(
		    path, sizeof(path), "%s/%s", k->tls_dir, CERTS_SERVER_CRT);
		r = kc_read_file(path, &k->server_crt);
	}
	if (r == 0) {
		snprintf(
		    path, sizeof(path), "%s/%s", k->tls_dir, CERTS_SERVER_KEY);
		r = kc_read_file(path, &k->server_key);
	}
	if (r < 0)
		kc_err(k, "cannot read %s: %s", path, strerror(-r));
	return r;
}

static const char *
kc_meta(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
kc_free_obj(cJSON *o)
{
	kmanifest_wipe(o);
	cJSON_Delete(o);
}

/* Applies the objects that the cluster does not have as we would apply
 * them. *ret_applied counts them. */
static int
kc_apply(struct kc *k, cJSON *objs, int *ret_applied)
{
	const cJSON *obj;
	int applied = 0;

	cJSON_ArrayForEach(obj, objs)
	{
		const struct kube_kind *kind = kube_kind_of(obj);
		const char *name = kc_meta(obj, "name");
		const char *want = kmanifest_hash_of(obj);
		struct kube_error ke;
		cJSON *cur = NULL;
		const char *have, *mb, *ver;
		int r;

		if (kind == NULL || name == NULL)
			return -EINVAL;
		r = kube_get(k->kube, kind, k->ns, name, &cur, &ke);
		if (r < 0 && r != -ENOENT) {
			kc_err(k, "%s", ke.message);
			return r;
		}
		if (r >= 0) {
			mb =
			    kmanifest_label_of(cur, KMANIFEST_LABEL_MANAGED_BY);
			have = kmanifest_hash_of(cur);
			ver = kmanifest_label_of(cur, KMANIFEST_LABEL_VERSION);
			if (mb == NULL ||
			    strcmp(mb, KMANIFEST_MANAGED_BY) != 0) {
				kc_err(k,
				    "%s \"%s\" in namespace %s was not made by telepod (it lacks the label %s=%s); remove or rename it, or use another namespace",
				    kind->kind, name, k->ns,
				    KMANIFEST_LABEL_MANAGED_BY,
				    KMANIFEST_MANAGED_BY);
				kc_free_obj(cur);
				return -EEXIST;
			}
			/* The same content and version: nothing to do. */
			if (have != NULL && want != NULL &&
			    strcmp(have, want) == 0 && ver != NULL &&
			    strcmp(ver, PACKAGE_VERSION) == 0) {
				kc_free_obj(cur);
				continue;
			}
			if (strcmp(kind->kind, "Deployment") == 0 &&
			    (ver == NULL || strcmp(ver, PACKAGE_VERSION) != 0))
				kc_note(k,
				    "telepod-server %s is installed in %s; upgrading it to %s",
				    ver ? ver : "(unknown version)", k->ns,
				    PACKAGE_VERSION);
			kc_free_obj(cur);
		}
		kc_stage(k, "applying %s %s in namespace %s", kind->kind, name,
		    k->ns);
		r = kube_apply(k->kube, kind, k->ns, obj, true, &cur, &ke);
		if (r < 0) {
			kc_err(k, "%s", ke.message);
			return r;
		}
		kc_free_obj(cur);
		applied++;
	}
	*ret_applied = applied;
	return 0;
}

static double
kc_num(const cJSON *obj, const char *a, const char *b, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, a), b);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Why the pods are not ready yet (a container's waiting reason), for the
 * progress line; "" when nothing is known. */
static void
kc_pod_reason(struct kc *k, char *out, size_t len)
{
	struct kube_list_opts lo = {.label_selector = KMANIFEST_SELECTOR};
	struct kube_error ke;
	cJSON *list = NULL;
	const cJSON *pod, *cs;

	out[0] = '\0';
	if (kube_list(
	        k->kube, kube_kind_lookup("Pod"), k->ns, &lo, &list, &ke) < 0)
		return;
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		cJSON_ArrayForEach(
		    cs, cJSON_GetObjectItemCaseSensitive(
		            cJSON_GetObjectItemCaseSensitive(pod, "status"),
		            "containerStatuses"))
		{
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(cs, "state"),
			    "waiting");
			const cJSON *why =
			    cJSON_GetObjectItemCaseSensitive(w, "reason");

			if (cJSON_IsString(why)) {
				snprintf(out, len, "%.100s", why->valuestring);
				cJSON_Delete(list);
				return;
			}
		}
	}
	cJSON_Delete(list);
}

/* Polls the Deployment until its roll-out is complete. */
static int
kc_wait_ready(struct kc *k)
{
	const struct kube_kind *dk = kube_kind_lookup("Deployment");
	long long next_reason = 0;
	char reason[128] = "";

	for (;;) {
		struct kube_error ke;
		cJSON *d = NULL;
		const cJSON *cond;
		double gen, obs, want, updated, avail, total;
		int r;

		r = kube_get(k->kube, dk, k->ns, "telepod-server", &d, &ke);
		if (r < 0) {
			kc_err(k, "%s", ke.message);
			return r;
		}
		gen = kc_num(d, "metadata", "generation", 0);
		obs = kc_num(d, "status", "observedGeneration", -1);
		want = kc_num(d, "spec", "replicas", 1);
		updated = kc_num(d, "status", "updatedReplicas", 0);
		avail = kc_num(d, "status", "availableReplicas", 0);
		total = kc_num(d, "status", "replicas", 0);
		cJSON_ArrayForEach(
		    cond, cJSON_GetObjectItemCaseSensitive(
		              cJSON_GetObjectItemCaseSensitive(d, "status"),
		              "conditions"))
		{
			const cJSON *why =
			    cJSON_GetObjectItemCaseSensitive(cond, "reason");

			if (cJSON_IsString(why) &&
			    strcmp(why->valuestring,
			        "ProgressDeadlineExceeded") == 0) {
				kc_err(k,
				    "the roll-out of telepod-server in %s failed (ProgressDeadlineExceeded%s%s); see kubectl -n %s describe deployment telepod-server",
				    k->ns, reason[0] ? ", " : "", reason,
				    k->ns);
				cJSON_Delete(d);
				return -EIO;
			}
		}
		cJSON_Delete(d);
		if (obs >= gen && want >= 1 && updated >= want &&
		    avail >= want && total <= updated)
			return 0;
		if (kc_now_ms() >= k->deadline_ms) {
			kc_err(k,
			    "telepod-server in %s is not ready after %d s%s%s; see kubectl -n %s get pods -l %s",
			    k->ns, k->timeout_s, reason[0] ? ": " : "", reason,
			    k->ns, KMANIFEST_SELECTOR);
			return -ETIMEDOUT;
		}
		if (kc_now_ms() >= next_reason) {
			kc_pod_reason(k, reason, sizeof(reason));
			next_reason = kc_now_ms() + 2000;
		}
		kc_stage(k, "waiting for pod (%.0f/%.0f ready%s%s)", avail,
		    want < 1 ? 1 : want, reason[0] ? ", " : "", reason);
		kc_sleep_ms(KC_POLL_MS);
	}
}

static bool
kc_pod_ready(const cJSON *pod)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(st, "phase");
	const cJSON *c;

	if (kc_meta(pod, "deletionTimestamp") != NULL ||
	    !cJSON_IsString(phase) ||
	    strcmp(phase->valuestring, "Running") != 0)
		return false;
	cJSON_ArrayForEach(
	    c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "status");

		if (cJSON_IsString(t) && strcmp(t->valuestring, "Ready") == 0)
			return cJSON_IsString(s) &&
			       strcmp(s->valuestring, "True") == 0;
	}
	return false;
}

/* The newest ready telepod-server pod. */
static int
kc_pick(struct kc *k, char *out, size_t len, char *err, size_t errlen)
{
	struct kube_list_opts lo = {.label_selector = KMANIFEST_SELECTOR};
	struct kube_error ke;
	cJSON *list = NULL;
	const cJSON *pod;
	const char *best = NULL, *best_t = "";
	int r;

	r = kube_list(k->kube, kube_kind_lookup("Pod"), k->ns, &lo, &list, &ke);
	if (r < 0) {
		snprintf(err, errlen, "%s", ke.message);
		return r;
	}
	cJSON_ArrayForEach(pod, cJSON_GetObjectItemCaseSensitive(list, "items"))
	{
		const char *name = kc_meta(pod, "name");
		const char *t = kc_meta(pod, "creationTimestamp");

		if (name == NULL || !kc_pod_ready(pod) ||
		    strlen(name) > KC_NAME_MAX)
			continue;
		/* RFC 3339 in UTC compares as text. */
		if (best == NULL || (t != NULL && strcmp(t, best_t) > 0)) {
			best = name;
			best_t = t ? t : "";
		}
	}
	if (best == NULL) {
		snprintf(err, errlen,
		    "no ready telepod-server pod in namespace %s (kubectl -n %s get pods -l %s)",
		    k->ns, k->ns, KMANIFEST_SELECTOR);
		cJSON_Delete(list);
		return -ENOENT;
	}
	snprintf(out, len, "%s", best);
	cJSON_Delete(list);
	return 0;
}

static int
kc_pick_cb(void *arg, char *pod, size_t len, char *err, size_t errlen)
{
	return kc_pick(arg, pod, len, err, errlen);
}

/* Node podCIDRs and the service range, best effort. */
static void
kc_discover(struct kc *k)
{
	struct kube_error ke;
	cJSON *list = NULL, *svc = NULL;
	const cJSON *node, *c;
	char range[256] = "", pods[256] = "";
	size_t po = 0;
	int r;

	r = kube_list(
	    k->kube, kube_kind_lookup("Node"), NULL, NULL, &list, &ke);
	if (r >= 0) {
		cJSON_ArrayForEach(
		    node, cJSON_GetObjectItemCaseSensitive(list, "items"))
		{
			const cJSON *spec =
			    cJSON_GetObjectItemCaseSensitive(node, "spec");
			const cJSON *arr =
			    cJSON_GetObjectItemCaseSensitive(spec, "podCIDRs");
			const cJSON *one =
			    cJSON_GetObjectItemCaseSensitive(spec, "podCIDR");

			cJSON_ArrayForEach(c, arr)
			{
				struct cidr x;

				if (cJSON_IsString(c) &&
				    cidr_parse(c->valuestring, &x, NULL) == 0)
					cidr_list_add(&k->subnets, &x);
			}
			if (!cJSON_IsArray(arr) && cJSON_IsString(one)) {
				struct cidr x;

				if (cidr_parse(one->valuestring, &x, NULL) == 0)
					cidr_list_add(&k->subnets, &x);
			}
		}
		for (size_t i = 0; i < k->subnets.n && po < sizeof(pods) - 1;
		     i++) {
			char b[CIDR_STR_MAX];

			po += (size_t)snprintf(pods + po, sizeof(pods) - po,
			    "%s%s", i ? "," : "",
			    cidr_format(&k->subnets.v[i], b, sizeof(b)));
		}
	} else {
		log_debug(LOG_CAT_KUBE, "cannot list nodes: %s", ke.message);
	}
	cJSON_Delete(list);
	/* A Service with a clusterIP outside every range (TEST-NET-3),
	 * dry run: the API server refuses it and names the range. */
	svc = cJSON_Parse(
	    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
	    "\"telepod-range-probe\"},\"spec\":{\"clusterIP\":\"203.0.113.1\","
	    "\"ports\":[{\"port\":80}]}}");
	if (svc != NULL) {
		char path[512];

		snprintf(path, sizeof(path),
		    "/api/v1/namespaces/%s/services?dryRun=All&fieldManager=%s",
		    k->ns, KUBE_FIELD_MANAGER);
		r = kube_request(k->kube, "POST", path, svc, NULL, NULL, &ke);
		if (r < 0 && kconnect_parse_service_range(
		                 ke.message, range, sizeof(range)) > 0)
			cidr_list_add_str(&k->subnets, range, NULL, NULL, 0);
		else
			log_debug(LOG_CAT_KUBE,
			    "no service range from the API server (%d)", r);
		cJSON_Delete(svc);
	}
	cidr_list_minimize(&k->subnets);
	snprintf(k->subnet_note, sizeof(k->subnet_note),
	    "pod subnets %s, service range %s", pods[0] ? pods : "unknown",
	    range[0] ? range : "unknown");
}

struct kc_probe {
	struct event_base *base;
	bool done;
	int err;
	char msg[PORTFORWARD_ERR_MAX];
};

static void
kc_probe_done(void *arg, int err, const char *msg)
{
	struct kc_probe *p = arg;

	p->done = true;
	p->err = err;
	snprintf(p->msg, sizeof(p->msg), "%s", msg);
	event_base_loopbreak(p->base);
}

static void
kc_fill_pf(struct kc *k, struct portforward_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rc = k->rc;
	cfg->kube = k->kube;
	cfg->ns = k->ns;
	cfg->pod = k->pod;
	cfg->port = KMANIFEST_SERVER_PORT;
	cfg->pick = kc_pick_cb;
	cfg->pick_arg = k;
}

/* One port-forward to the pod, opened and closed, on a loop of its own. */
static int
kc_probe(struct kc *k)
{
	struct portforward_config cfg;
	struct portforward *pf = NULL;
	struct kc_probe p = {0};
	struct timeval tv = {KC_PROBE_MS / 1000, 0};
	char err[PORTFORWARD_ERR_MAX];
	int r;

	p.base = event_base_new();
	if (p.base == NULL)
		return -ENOMEM;
	kc_fill_pf(k, &cfg);
	cfg.listen_fd = PORTFORWARD_NO_LISTENER;
	cfg.handshake_timeout_ms = KC_PROBE_MS;
	r = portforward_new(p.base, &cfg, &pf, err, sizeof(err));
	if (r == 0)
		r = portforward_probe(pf, kc_probe_done, &p, err, sizeof(err));
	if (r == 0) {
		event_base_loopexit(p.base, &tv);
		event_base_dispatch(p.base);
		if (!p.done) {
			r = -ETIMEDOUT;
			snprintf(err, sizeof(err),
			    "the port-forward to pod %s did not answer in %d s",
			    k->pod, KC_PROBE_MS / 1000);
		} else if (p.err != 0) {
			r = p.err;
			snprintf(err, sizeof(err), "%s", p.msg);
		}
	}
	portforward_free(pf);
	event_base_free(p.base);
	if (r < 0)
		kc_err(k, "%s", err);
	return r;
}

/* ---------------------------------------------------------------------- */
/* the lock file */

/* The pid holding path's lock, 0 when none. */
static pid_t
kc_lock_holder(const char *path)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) {
		close(fd);
		return 0;
	}
	close(fd);
	return fl.l_pid;
}

int
kconnect_stop(const char *ns, char *err, size_t errlen)
{
	char path[PATH_MAX];
	pid_t pid;

	if (!kc_valid_label(ns) || kc_pidfile(ns, path, sizeof(path)) < 0)
		return 0;
	pid = kc_lock_holder(path);
	if (pid <= 0)
		return 0;
	if (kill(pid, SIGTERM) != 0) {
		snprintf(err, errlen,
		    "cannot stop the port-forward of namespace %s (process %d): %s",
		    ns, (int)pid, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < 100; i++) {
		if (kc_lock_holder(path) != pid)
			return 1;
		kc_sleep_ms(50);
	}
	snprintf(err, errlen,
	    "the port-forward of namespace %s (process %d) did not stop within 5 s",
	    ns, (int)pid);
	return -ETIMEDOUT;
}

/* ---------------------------------------------------------------------- */
/* the holder */

struct kc_holder;

struct kc_actl {
	struct kc_holder *h;
	struct bufferevent *bev;
	void (*done)(struct kc_holder *h, cJSON *resp);
};

struct kc_holder {
	struct kc *k;
	struct event_base *base;
	struct portforward *pf;
	int sv; /* to the CLI until its "ok"; -1 after */
	struct event *sv_ev;
	struct event *sigs[3];
	struct event *watch_ev;
	struct event *stop_ev;
	struct kc_actl *actl;
	bool confirmed;
	bool stopping;
	int misses;
	int lock_fd;
	char pidfile[PATH_MAX];
};

static void
kc_actl_end(struct kc_actl *a, cJSON *resp)
{
	struct kc_holder *h = a->h;
	void (*done)(struct kc_holder *, cJSON *) = a->done;

	h->actl = NULL;
	bufferevent_free(a->bev);
	free(a);
	done(h, resp);
	cJSON_Delete(resp);
}

static void
kc_actl_read(struct bufferevent *bev, void *arg)
{
	struct kc_actl *a = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		cJSON *resp = cJSON_ParseWithLength(line, n);

		free(line);
		if (resp != NULL && cJSON_GetObjectItemCaseSensitive(
		                        resp, "progress") != NULL) {
			cJSON_Delete(resp);
			continue;
		}
		kc_actl_end(a, resp);
		return;
	}
	if (evbuffer_get_length(in) > CTL_LINE_MAX)
		kc_actl_end(a, NULL);
}

static void
kc_actl_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_CONNECTED)
		return;
	kc_actl_end(arg, NULL);
}

/* Sends one control request to telepodd without blocking the loop; done
 * gets the final answer (NULL when telepodd could not be asked). */
static int
kc_actl_start(struct kc_holder *h, const cJSON *req,
    void (*done)(struct kc_holder *h, cJSON *resp))
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {KC_CTL_TIMEOUT_MS / 1000, 0};
	struct kc_actl *a;
	char *text;

	if (h->actl != NULL)
		return -EBUSY;
	if (strlen(h->k->socket_path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, h->k->socket_path);
	a = calloc(1, sizeof(*a));
	text = cJSON_PrintUnformatted(req);
	if (a == NULL || text == NULL)
		goto fail;
	a->h = h;
	a->done = done;
	a->bev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (a->bev == NULL)
		goto fail;
	bufferevent_setcb(a->bev, kc_actl_read, NULL, kc_actl_event, a);
	bufferevent_set_timeouts(a->bev, &tv, &tv);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
	evbuffer_add_printf(bufferevent_get_output(a->bev), "%s\n", text);
	free(text);
	text = NULL;
	if (bufferevent_socket_connect(
	        a->bev, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	h->actl = a;
	return 0;
fail:
	free(text);
	if (a != NULL && a->bev != NULL)
		bufferevent_free(a->bev);
	free(a);
	return -ENOMEM;
}

static void
kc_holder_exit(struct kc_holder *h, const char *why)
{
	if (why != NULL)
		log_info("port-forward of namespace %s: %s", h->k->ns, why);
	event_base_loopexit(h->base, NULL);
}

static void
kc_quit_done(struct kc_holder *h, cJSON *resp)
{
	kc_holder_exit(h, "stopped");
}

static void
kc_holder_stop(struct kc_holder *h, const char *why)
{
	struct timeval tv = {KC_CTL_TIMEOUT_MS / 1000 + 2, 0};
	cJSON *req;

	if (h->stopping) {
		kc_holder_exit(h, "stopped at once");
		return;
	}
	h->stopping = true;
	log_info("port-forward of namespace %s: %s", h->k->ns, why);
	evtimer_add(h->stop_ev, &tv);
	if (!h->confirmed) {
		kc_holder_exit(h, NULL);
		return;
	}
	/* Ask telepodd to close the session (it drains through us). */
	if (h->actl != NULL) {
		/* A status request is in flight: drop it. */
		struct kc_actl *a = h->actl;

		h->actl = NULL;
		bufferevent_free(a->bev);
		free(a);
	}
	req = cJSON_CreateObject();
	if (req == NULL || !cJSON_AddStringToObject(req, "cmd", "quit") ||
	    !cJSON_AddStringToObject(req, "namespace", h->k->ns) ||
	    kc_actl_start(h, req, kc_quit_done) < 0)
		kc_holder_exit(h, NULL);
	cJSON_Delete(req);
}

static void
kc_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	kc_holder_stop(arg, sig == SIGINT ? "interrupted" : "told to stop");
}

static void
kc_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	kc_holder_exit(arg, "telepodd did not answer the quit in time");
}

static void
kc_status_done(struct kc_holder *h, cJSON *resp)
{
	const cJSON *c;

	if (h->stopping)
		return;
	if (resp == NULL) {
		if (++h->misses >= 3)
			kc_holder_exit(h,
			    "telepodd cannot be reached; ending the port-forward");
		return;
	}
	h->misses = 0;
	cJSON_ArrayForEach(
	    c, cJSON_GetObjectItemCaseSensitive(resp, "connections"))
	{
		const cJSON *ns =
		    cJSON_GetObjectItemCaseSensitive(c, "namespace");

		if (cJSON_IsString(ns) &&
		    strcmp(ns->valuestring, h->k->ns) == 0)
			return;
	}
	kc_holder_exit(h,
	    "telepodd has no session for this namespace any more; ending the port-forward");
}

static void
kc_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kc_holder *h = arg;
	cJSON *req = cJSON_CreateObject();

	if (req != NULL && cJSON_AddStringToObject(req, "cmd", "status") &&
	    !h->stopping && h->actl == NULL)
		kc_actl_start(h, req, kc_status_done);
	cJSON_Delete(req);
}

/* Tells the waiting CLI (until it confirmed) one line. */
static void kc_tell(struct kc_holder *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
kc_tell(struct kc_holder *h, const char *fmt, ...)
{
	char line[KC_MSG_MAX];
	va_list ap;
	int n;

	if (h->sv < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(h->sv, line, (size_t)n) < 0)
		log_debug(
		    LOG_CAT_KUBE, "cannot tell the CLI: %s", strerror(errno));
}

static void
kc_pf_error(void *arg, int err, const char *msg)
{
	kc_tell(arg, "error: %s", msg);
}

static void
kc_sv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kc_holder *h = arg;
	struct timeval tv = {KCONNECT_WATCH_SECS, 0};
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		buf[n] = '\0';
		if (strstr(buf, "ok") == NULL)
			return;
		/* The daemon took the session: from now on we are on our
		 * own, and watch that the session still exists. */
		h->confirmed = true;
		event_free(h->sv_ev);
		h->sv_ev = NULL;
		close(h->sv);
		h->sv = -1;
		event_add(h->watch_ev, &tv);
		log_info(
		    "port-forward of namespace %s: telepodd is connected through 127.0.0.1:%u",
		    h->k->ns, portforward_local_port(h->pf));
		return;
	}
	/* The CLI gave up (the daemon refused) or died. */
	kc_holder_exit(h, "the connect did not complete");
}

/* Takes the lock file; false when another holder has it. */
static bool
kc_take_lock(struct kc_holder *h)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char dir[PATH_MAX], pid[32];
	char *slash;
	int n;

	snprintf(dir, sizeof(dir), "%s", h->pidfile);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		kc_mkdirs(dir, 0700);
	}
	h->lock_fd = open(h->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0 || fcntl(h->lock_fd, F_SETLK, &fl) != 0)
		return false;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(h->lock_fd, 0) != 0 ||
	    pwrite(h->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write %s: %s", h->pidfile, strerror(errno));
	return true;
}

/* The forked process: holds the port-forward until told to stop. */
static int
kc_holder_run(struct kc *k, int listen_fd, int sv)
{
	struct kc_holder h = {.k = k, .sv = sv, .lock_fd = -1};
	struct portforward_config cfg;
	char err[PORTFORWARD_ERR_MAX], logpath[PATH_MAX];
	sigset_t all;
	int rc = KC_EXIT_FAILED, r;
	const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};

	k->is_holder = true;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (!k->foreground) {
		int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
		int lf = -1;

		setsid();
		if (kc_logfile(k->ns, logpath, sizeof(logpath)) == 0) {
			char dir[PATH_MAX], *slash;

			snprintf(dir, sizeof(dir), "%s", logpath);
			slash = strrchr(dir, '/');
			if (slash != NULL) {
				*slash = '\0';
				kc_mkdirs(dir, 0700);
			}
			lf = open(logpath,
			    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		}
		if (dn >= 0) {
			dup2(dn, 0);
			dup2(lf >= 0 ? lf : dn, 1);
			dup2(lf >= 0 ? lf : dn, 2);
			close(dn);
		}
		if (lf >= 0)
			close(lf);
	}
	log_set_level(LOG_LEVEL_INFO);
	if (kc_pidfile(k->ns, h.pidfile, sizeof(h.pidfile)) < 0 ||
	    !kc_take_lock(&h)) {
		pid_t other = kc_lock_holder(h.pidfile);

		kc_tell(&h,
		    "fatal: another telepod connect holds namespace %s (process %d)",
		    k->ns, (int)other);
		close(listen_fd);
		goto out;
	}
	h.base = event_base_new();
	if (h.base == NULL) {
		close(listen_fd);
		goto out;
	}
	kc_fill_pf(k, &cfg);
	cfg.listen_fd = listen_fd;
	cfg.on_error = kc_pf_error;
	cfg.error_arg = &h;
	r = portforward_new(h.base, &cfg, &h.pf, err, sizeof(err));
	if (r < 0) {
		kc_tell(&h, "fatal: %s", err);
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		h.sigs[i] = evsignal_new(h.base, sigs[i], kc_signal_cb, &h);
		if (h.sigs[i] == NULL || evsignal_add(h.sigs[i], NULL) < 0)
			goto out;
	}
	evutil_make_socket_nonblocking(sv);
	h.sv_ev = event_new(h.base, sv, EV_READ | EV_PERSIST, kc_sv_cb, &h);
	h.watch_ev = event_new(h.base, -1, EV_PERSIST, kc_watch_cb, &h);
	h.stop_ev = evtimer_new(h.base, kc_stop_timer_cb, &h);
	if (h.sv_ev == NULL || h.watch_ev == NULL || h.stop_ev == NULL ||
	    event_add(h.sv_ev, NULL) < 0)
		goto out;
	log_info(
	    "port-forward of namespace %s: listening on 127.0.0.1:%u for pod %s port %d (process %d)",
	    k->ns, portforward_local_port(h.pf), k->pod, KMANIFEST_SERVER_PORT,
	    (int)getpid());
	kc_tell(&h, "ready");
	event_base_dispatch(h.base);
	rc = KC_EXIT_OK;
out:
	if (h.actl != NULL) {
		bufferevent_free(h.actl->bev);
		free(h.actl);
	}
	portforward_free(h.pf);
	for (int i = 0; i < 3; i++)
		if (h.sigs[i] != NULL)
			event_free(h.sigs[i]);
	if (h.sv_ev != NULL)
		event_free(h.sv_ev);
	if (h.watch_ev != NULL)
		event_free(h.watch_ev);
	if (h.stop_ev != NULL)
		event_free(h.stop_ev);
	if (h.base != NULL)
		event_base_free(h.base);
	if (h.sv >= 0)
		close(h.sv);
	if (h.lock_fd >= 0) {
		/* Still ours while locked: remove it, then let go. */
		unlink(h.pidfile);
		close(h.lock_fd);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* talking to telepodd from the CLI */

static void
kc_ctl_progress(const cJSON *resp, void *arg)
{
	struct kc *k = arg;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(resp, "message");
	const cJSON *stage = cJSON_GetObjectItemCaseSensitive(resp, "progress");

	if (cJSON_IsString(msg) && msg->valuestring[0])
		kc_stage(k, "connecting: %.200s", msg->valuestring);
	else if (cJSON_IsString(stage))
		kc_stage(k, "connecting: %.100s", stage->valuestring);
}

/* Is telepodd there, and is ns free? Returns 0, or the exit code after
 * saying why not. */
static int
kc_daemon_check(struct kc *k)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	const cJSON *c;
	char err[1024];
	int rc = KC_EXIT_OK;

	if (req == NULL || !cJSON_AddStringToObject(req, "cmd", "status"))
		rc = KC_EXIT_FAILED;
	else if (ctl_connect(k->socket_path, &conn, err, sizeof(err)) < 0 ||
	         ctl_call(conn, req, KC_CTL_TIMEOUT_MS, NULL, NULL, &resp, err,
	             sizeof(err)) < 0) {
		kc_err(k, "%s", err);
		rc = KC_EXIT_UNREACHABLE;
	} else {
		cJSON_ArrayForEach(
		    c, cJSON_GetObjectItemCaseSensitive(resp, "connections"))
		{
			const cJSON *ns =
			    cJSON_GetObjectItemCaseSensitive(c, "namespace");

			if (cJSON_IsString(ns) &&
			    strcmp(ns->valuestring, k->ns) == 0) {
				kc_err(k,
				    "namespace %s is connected already; disconnect it first with `telepod quit -n %s`",
				    k->ns, k->ns);
				rc = KC_EXIT_FAILED;
			}
		}
	}
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	return rc;
}

static bool
kc_add_list(cJSON *req, const char *name, const struct cidr_list *a,
    const struct cidr_list *b)
{
	cJSON *arr;

	if (a->n + (b ? b->n : 0) == 0)
		return true;
	arr = cJSON_AddArrayToObject(req, name);
	if (arr == NULL)
		return false;
	for (int pass = 0; pass < 2; pass++) {
		const struct cidr_list *l = pass ? b : a;

		for (size_t i = 0; l != NULL && i < l->n; i++) {
			char buf[CIDR_STR_MAX];

			if (cJSON_GetArraySize(arr) >= KC_MAX_CIDRS)
				return true;
			if (!cJSON_AddItemToArray(arr,
			        cJSON_CreateString(
			            cidr_format(&l->v[i], buf, sizeof(buf)))))
				return false;
		}
	}
	return true;
}

static cJSON *
kc_connect_req(struct kc *k, unsigned port)
{
	cJSON *req = cJSON_CreateObject();
	char server[64];
	long remain = (long)((k->deadline_ms - kc_now_ms()) / 1000);

	if (remain < 10)
		remain = 10;
	if (remain > 600)
		remain = 600;
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	if (req == NULL || !cJSON_AddStringToObject(req, "cmd", "connect") ||
	    !cJSON_AddStringToObject(req, "server", server) ||
	    !cJSON_AddStringToObject(req, "tls_dir", k->tls_dir) ||
	    !cJSON_AddStringToObject(req, "namespace", k->ns) ||
	    !cJSON_AddBoolToObject(req, "no_tun", k->no_tun) ||
	    !cJSON_AddStringToObject(req, "server_name", CERTS_SERVER_NAME) ||
	    !cJSON_AddNumberToObject(req, "timeout_s", (double)remain) ||
	    (k->tun_name &&
	        !cJSON_AddStringToObject(req, "tun_name", k->tun_name)) ||
	    (!k->no_tun &&
	        (!kc_add_list(req, "also_proxy", &k->subnets, &k->also) ||
	            !kc_add_list(req, "never_proxy", &k->never, NULL) ||
	            !kc_add_list(req, "allow_conflicting", &k->allow, NULL)))) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/* Prints the strings of arr after label. */
static void
kc_print_list(struct kc *k, const char *label, const cJSON *arr)
{
	const cJSON *s;
	char line[1024];
	size_t o = 0;

	line[0] = '\0';
	cJSON_ArrayForEach(s, arr)
	{
		if (cJSON_IsString(s) && o < sizeof(line) - 1)
			o += (size_t)snprintf(line + o, sizeof(line) - o,
			    "%s%.60s", o ? ", " : "", s->valuestring);
	}
	if (o > 0)
		kc_note(k, "%s%s", label, line);
}

static void
kc_report(struct kc *k, const cJSON *resp, unsigned port, pid_t holder)
{
	const cJSON *it;
	char logpath[PATH_MAX] = "";

	kc_clear_line(k);
	printf(
	    "Connected to namespace %s through pod %s (port-forward on 127.0.0.1:%u)\n",
	    k->ns, k->pod, port);
	fflush(stdout);
	it = cJSON_GetObjectItemCaseSensitive(resp, "socks");
	if (cJSON_IsString(it))
		kc_note(k, "SOCKS5 proxy on %.100s", it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(resp, "tun_name");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "tun")) &&
	    cJSON_IsString(it))
		kc_note(k, "TUN device %.30s", it->valuestring);
	kc_print_list(k, "routing through the tunnel: ",
	    cJSON_GetObjectItemCaseSensitive(resp, "subnets"));
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(resp, "skipped_subnets"))
	{
		const cJSON *why =
		    cJSON_GetObjectItemCaseSensitive(it, "reason");

		if (cJSON_IsString(why))
			kc_note(k, "warning: %.300s", why->valuestring);
	}
	it = cJSON_GetObjectItemCaseSensitive(resp, "warning");
	if (cJSON_IsString(it) && it->valuestring[0])
		kc_note(k, "warning: %.300s", it->valuestring);
	kc_note(k, "cluster: %s", k->subnet_note);
	if (!k->foreground) {
		kc_logfile(k->ns, logpath, sizeof(logpath));
		kc_note(k,
		    "the port-forward runs in process %d (log %s); `telepod quit -n %s` ends it",
		    (int)holder, logpath, k->ns);
	}
}

/* Reads what the holder told us, line by line, within ms. Returns the
 * first line (without "error: "/"fatal: ") into out, or "". */
static void
kc_read_holder(int fd, int ms, char *first, size_t flen, bool *ret_ready,
    char *last_err, size_t elen)
{
	char buf[KC_MSG_MAX * 2];
	size_t have = 0;
	long long end = kc_now_ms() + ms;

	first[0] = '\0';
	for (;;) {
		struct timeval tv;
		fd_set rs;
		long long left = end - kc_now_ms();
		ssize_t n;
		char *nl;

		while ((nl = memchr(buf, '\n', have)) != NULL) {
			*nl = '\0';
			if (strcmp(buf, "ready") == 0) {
				if (ret_ready != NULL)
					*ret_ready = true;
			} else {
				const char *t = buf;

				if (strncmp(t, "error: ", 7) == 0)
					t += 7;
				else if (strncmp(t, "fatal: ", 7) == 0)
					t += 7;
				if (first[0] == '\0')
					kc_copy(first, flen, t);
				kc_copy(last_err, elen, t);
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
			if (ret_ready != NULL && *ret_ready)
				return;
		}
		if (left <= 0 || have == sizeof(buf))
			return;
		FD_ZERO(&rs);
		FD_SET(fd, &rs);
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		if (select(fd + 1, &rs, NULL, NULL, &tv) <= 0)
			return;
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			return;
		have += (size_t)n;
	}
}

/* Waits (bounded) for the holder to end; kills it when it does not. */
static int
kc_reap(pid_t pid, int secs)
{
	int st = 0;

	for (int i = 0; i < secs * 20; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		if (r < 0)
			return 1;
		kc_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 1;
}

/* --foreground: waits for the holder; SIGTERM/SIGHUP are passed on (the
 * terminal's SIGINT reaches it directly). */
static int
kc_wait_foreground(pid_t pid)
{
	sigset_t set;
	int st = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	for (;;) {
		struct timespec ts = {0, 200 * 1000000};
		int sig = sigtimedwait(&set, NULL, &ts);
		pid_t r;

		if (sig > 0)
			kill(pid, sig);
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	}
}

/* Forks the holder and has telepodd connect through it. */
static int
kc_hand_over(struct kc *k)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	struct ctl_conn *conn = NULL;
	cJSON *req = NULL, *resp = NULL;
	char err[1024], first[KC_MSG_MAX], last[KC_MSG_MAX];
	int lfd = -1, sv[2] = {-1, -1}, rc = KC_EXIT_FAILED, r;
	sigset_t set, old;
	bool ready = false, masked = false;
	unsigned port;
	pid_t pid;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		kc_err(k, "cannot listen on 127.0.0.1: %s", strerror(errno));
		goto out;
	}
	port = ntohs(sin.sin_port);
	/* The foreground parent takes SIGTERM/SIGHUP with sigtimedwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	masked = true;
	kc_clear_line(k);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		kc_err(k, "cannot start the port-forward process: %s",
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		sv[0] = -1;
		rc = kc_holder_run(k, lfd, sv[1]);
		return rc;
	}
	close(lfd);
	lfd = -1;
	close(sv[1]);
	sv[1] = -1;
	kc_stage(k, "starting the port-forward (process %d)", (int)pid);
	first[0] = last[0] = '\0';
	kc_read_holder(
	    sv[0], 10000, first, sizeof(first), &ready, last, sizeof(last));
	if (!ready) {
		kc_err(k, "the port-forward process did not start%s%s",
		    first[0] ? ": " : "", first);
		kc_reap(pid, 5);
		goto out;
	}
	kc_stage(k, "connecting telepodd through 127.0.0.1:%u", port);
	req = kc_connect_req(k, port);
	if (req == NULL) {
		kc_err(k, "out of memory");
		goto fail_child;
	}
	r = ctl_connect(k->socket_path, &conn, err, sizeof(err));
	if (r == 0)
		r = ctl_call(conn, req,
		    (int)(k->deadline_ms - kc_now_ms()) + 15000,
		    kc_ctl_progress, k, &resp, err, sizeof(err));
	if (r < 0) {
		kc_err(k, "%s", err);
		rc = r == -ECONNRESET || r == -EPIPE || r == -ENOENT ||
		             r == -ECONNREFUSED
		         ? KC_EXIT_UNREACHABLE
		         : KC_EXIT_FAILED;
		goto fail_child;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "ok"))) {
		const cJSON *msg =
		    cJSON_GetObjectItemCaseSensitive(resp, "error");
		const cJSON *code =
		    cJSON_GetObjectItemCaseSensitive(resp, "code");

		kc_read_holder(
		    sv[0], 200, first, sizeof(first), NULL, last, sizeof(last));
		kc_err(k, "%.1000s [%.60s]",
		    cJSON_IsString(msg) ? msg->valuestring : "telepodd refused",
		    cJSON_IsString(code) ? code->valuestring : "unknown");
		if (first[0] != '\0')
			kc_note(k, "the port-forward said: %s", first);
		goto fail_child;
	}
	if (write(sv[0], "ok\n", 3) != 3)
		log_debug(LOG_CAT_KUBE, "cannot confirm to the holder");
	close(sv[0]);
	sv[0] = -1;
	kc_report(k, resp, port, pid);
	rc = KC_EXIT_OK;
	if (k->foreground) {
		/* The terminal's Ctrl-C reaches the holder itself. */
		signal(SIGINT, SIG_IGN);
		kc_note(
		    k, "holding the port-forward; press Ctrl-C to disconnect");
		kc_wait_foreground(pid);
	}
	goto out;
fail_child:
	/* Closing the socketpair without "ok" ends the holder. */
	close(sv[0]);
	sv[0] = -1;
	kc_reap(pid, 5);
out:
	if (masked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* the commands */

static int
kc_connect(struct kc *k)
{
	struct kmanifest_params mp;
	cJSON *objs = NULL;
	char err[KMANIFEST_ERR_MAX + 64], path[PATH_MAX];
	int applied = 0, r, rc = KC_EXIT_FAILED;
	pid_t other;

	k->deadline_ms = kc_now_ms() + (long long)k->timeout_s * 1000;
	if (kc_load(k) < 0)
		return KC_EXIT_FAILED;
	if (kc_pidfile(k->ns, path, sizeof(path)) == 0 &&
	    (other = kc_lock_holder(path)) > 0) {
		kc_err(k,
		    "namespace %s is connected already through the port-forward of process %d; disconnect it first with `telepod quit -n %s`",
		    k->ns, (int)other, k->ns);
		return KC_EXIT_FAILED;
	}
	if ((rc = kc_daemon_check(k)) != KC_EXIT_OK)
		return rc;
	rc = KC_EXIT_FAILED;
	if (getuid() == 0 && getenv("SUDO_USER") != NULL)
		kc_note(k,
		    "warning: running as root through sudo: your kubeconfig and its credential plugins now run as root; run `telepod connect` as yourself");
	kc_stage(k, "applying telepod-server to namespace %s (context %s)",
	    k->ns, k->rc->context);
	if (kc_certs(k) < 0)
		goto out;
	mp = (struct kmanifest_params){.ns = k->ns,
	    .image = k->image ? k->image : KCONNECT_DEFAULT_IMAGE,
	    .version = PACKAGE_VERSION,
	    .ca_crt = k->ca_crt,
	    .server_crt = k->server_crt,
	    .server_key = k->server_key};
	if ((r = kmanifest_build(&mp, &objs, err, sizeof(err))) < 0) {
		kc_err(k, "%s", err);
		goto out;
	}
	if (kc_apply(k, objs, &applied) < 0)
		goto out;
	if (applied == 0)
		kc_note(k, "telepod-server %s is installed in %s already",
		    PACKAGE_VERSION, k->ns);
	else
		kc_note(k, "applied %d object%s in namespace %s", applied,
		    applied == 1 ? "" : "s", k->ns);
	kc_stage(k, "waiting for pod");
	if (kc_wait_ready(k) < 0)
		goto out;
	if (kc_pick(k, k->pod, sizeof(k->pod), err, sizeof(err)) < 0) {
		kc_err(k, "%s", err);
		goto out;
	}
	kc_stage(k, "discovering the cluster's subnets");
	kc_discover(k);
	kc_stage(k, "port-forwarding to pod %s", k->pod);
	if (kc_probe(k) < 0)
		goto out;
	rc = kc_hand_over(k);
out:
	if (objs != NULL)
		kc_free_obj(objs);
	return rc;
}

/* Deletes the local certificates of ctx/ns (only telepod's files). */
static void
kc_remove_tls(struct kc *k)
{
	static const char *const files[] = {CERTS_CA_CRT, CERTS_CA_KEY,
	    CERTS_SERVER_CRT, CERTS_SERVER_KEY, CERTS_CLIENT_CRT,
	    CERTS_CLIENT_KEY};
	char path[PATH_MAX + 32];
	bool any = false;

	if (kc_tls_path(k) < 0)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", k->tls_dir, files[i]);
		if (unlink(path) == 0)
			any = true;
	}
	if (rmdir(k->tls_dir) == 0 || any)
		kc_note(k, "removed the certificates in %s", k->tls_dir);
	/* The context's directory too, when nothing else is in it. */
	snprintf(path, sizeof(path), "%s", k->tls_dir);
	if (strrchr(path, '/') != NULL) {
		*strrchr(path, '/') = '\0';
		rmdir(path);
	}
}

static int
kc_uninstall(struct kc *k)
{
	struct kmanifest_params mp = {.version = PACKAGE_VERSION};
	cJSON *objs = NULL;
	char err[KMANIFEST_ERR_MAX + 64];
	int n, removed = 0, rc = KC_EXIT_FAILED, r;

	if (kc_load(k) < 0)
		return KC_EXIT_FAILED;
	r = kconnect_stop(k->ns, err, sizeof(err));
	if (r < 0)
		kc_err(k, "%s", err);
	else if (r > 0)
		kc_note(k, "disconnected namespace %s", k->ns);
	mp.ns = k->ns;
	if ((r = kmanifest_build(&mp, &objs, err, sizeof(err))) < 0) {
		kc_err(k, "%s", err);
		return KC_EXIT_FAILED;
	}
	/* In reverse: the Service and Deployment before what they use. */
	for (n = cJSON_GetArraySize(objs) - 1; n >= 0; n--) {
		const cJSON *obj = cJSON_GetArrayItem(objs, n);
		const struct kube_kind *kind = kube_kind_of(obj);
		const char *name = kc_meta(obj, "name"), *mb;
		struct kube_error ke;
		cJSON *cur = NULL;

		r = kube_get(k->kube, kind, k->ns, name, &cur, &ke);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			kc_err(k, "%s", ke.message);
			goto out;
		}
		mb = kmanifest_label_of(cur, KMANIFEST_LABEL_MANAGED_BY);
		if (mb == NULL || strcmp(mb, KMANIFEST_MANAGED_BY) != 0) {
			kc_note(k,
			    "left %s \"%s\" alone: it was not made by telepod",
			    kind->kind, name);
			kc_free_obj(cur);
			continue;
		}
		kc_free_obj(cur);
		cur = NULL;
		r = kube_delete(k->kube, kind, k->ns, name,
		    KUBE_PROPAGATION_BACKGROUND, &cur, &ke);
		kc_free_obj(cur);
		if (r < 0 && r != -ENOENT) {
			kc_err(k, "%s", ke.message);
			goto out;
		}
		printf(
		    "Deleted %s %s in namespace %s\n", kind->kind, name, k->ns);
		removed++;
	}
	if (removed == 0)
		printf("Nothing of telepod's in namespace %s\n", k->ns);
	kc_remove_tls(k);
	rc = KC_EXIT_OK;
out:
	kc_free_obj(objs);
	return rc;
}

int
kconnect_main(int argc, char **argv)
{
	struct kc k;
	int rc;

	memset(&k, 0, sizeof(k));
	cidr_list_init(&k.also);
	cidr_list_init(&k.never);
	cidr_list_init(&k.allow);
	cidr_list_init(&k.subnets);
	k.tty = isatty(2) == 1;
	rc = kc_parse(&k, argc, argv);
	if (rc != 0)
		goto out;
	if (k.help) {
		fputs(strcmp(k.cmd, "uninstall") == 0 ? kc_usage_uninstall
		                                      : kc_usage_connect,
		    stdout);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(k.cmd, "uninstall") == 0)
		rc = kc_uninstall(&k);
	else
		rc = kc_connect(&k);
	if (!k.is_holder)
		kc_clear_line(&k);
out:
	kc_wipe_free(k.ca_crt);
	kc_wipe_free(k.server_crt);
	kc_wipe_free(k.server_key);
	kube_client_free(k.kube);
	kubeconfig_resolved_free(k.rc);
	kubeconfig_free(k.kcfg);
	cidr_list_clear(&k.also);
	cidr_list_clear(&k.never);
	cidr_list_clear(&k.allow);
	cidr_list_clear(&k.subnets);
	return rc;
}
