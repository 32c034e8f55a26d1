/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cliutil: what the `telepod` CLI decides without talking to anyone. The
 * command line is parsed with one getopt_long table per command into a
 * struct cliutil_args; usage texts live next to the tables so they cannot
 * drift apart. Environment output is quoted for the reader at hand (sh,
 * dotenv, JSON) and names that a shell would execute are never printed;
 * `run` merges the remote environment over the local one but keeps the
 * variables that describe this machine (PATH, HOME, USER, SHELL, TERM).
 * Text from the daemon (ultimately from the server) is stripped of control
 * characters before it reaches the terminal.
 */
#include "client/cliutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ctl.h"

/* ---- usage ---- */

static const char cliutil_usage_global[] =
    "Usage: telepod [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "Put this machine inside a Kubernetes namespace: telepodd keeps one\n"
    "authenticated TLS connection to telepod-server in the cluster and\n"
    "carries TCP connections, DNS and the environment across it.\n"
    "\n"
    "Commands:\n"
    "  connect   connect a namespace through telepod-server (through\n"
    "            Kubernetes when --server is not given)\n"
    "  status    show the daemon and its sessions\n"
    "  quit      disconnect a namespace (or all of yours)\n"
    "  uninstall remove telepod-server's objects from a namespace\n"
    "  env       print a namespace's environment\n"
    "  run       run a command with a namespace's environment\n"
    "  certs     create the certificates of client and server (certs create)\n"
    "  version   print the versions of this CLI and of telepodd\n"
    "  demo      run telepod against a simulated cluster on this machine\n"
    "  help      show the help of a command\n"
    "\n"
    "Options:\n"
    "  --socket PATH  telepodd's control socket (default $TELEPOD_SOCKET,\n"
    "                 else " CTL_DEFAULT_SOCKET ")\n"
    "  -h, --help     show this help\n"
    "  -V, --version  same as `telepod version`\n"
    "\n"
    "Exit codes:\n"
    "  0    success\n"
    "  1    the operation failed (telepodd refused; the message says why)\n"
    "  2    usage error\n"
    "  3    cannot reach telepodd\n"
    "  4    not connected (no session for that namespace)\n"
    "  run exits with the command's status, 127 when the command is not\n"
    "  found and 126 when it cannot be executed.\n"
    "\n"
    "Run `telepod COMMAND --help` for the options of a command.\n";

static const char cliutil_usage_connect[] =
    "Usage: telepod connect --server HOST:PORT --tls-dir DIR [-n NAMESPACE]\n"
    "                       [--no-tun] [--tun-name NAME] [--also-proxy CIDR]...\n"
    "                       [--never-proxy CIDR]...\n"
    "                       [--allow-conflicting-subnet CIDR]...\n"
    "                       [--server-name NAME] [--timeout SECONDS]\n"
    "\n"
    "Asks telepodd to connect to telepod-server and join NAMESPACE: the\n"
    "cluster's subnets are routed through a TUN device, cluster names\n"
    "(NAME, NAME.NAMESPACE, *.svc.cluster.local) resolve through the tunnel\n"
    "while other names keep resolving as before, and a SOCKS5 proxy serves\n"
    "the session too. Progress goes to stderr.\n"
    "\n"
    "Options:\n"
    "  --server HOST:PORT   where telepod-server listens (IPv6 as [ADDR]:PORT)\n"
    "  --tls-dir DIR        directory with ca.crt, client.crt and client.key\n"
    "                       (make them with `telepod certs create --out DIR`)\n"
    "  -n, --namespace NS   namespace to join (default \"default\")\n"
    "  --no-tun             no TUN device, routes or DNS: SOCKS5 only\n"
    "  --tun-name NAME      the TUN device's name (default tel0)\n"
    "  --also-proxy CIDR    route CIDR through the tunnel too (repeatable,\n"
    "                       or comma-separated)\n"
    "  --never-proxy CIDR   never route CIDR through the tunnel, even when\n"
    "                       the cluster announces it\n"
    "  --allow-conflicting-subnet CIDR\n"
    "                       route cluster subnets inside CIDR even where they\n"
    "                       overlap a route this machine already has (by\n"
    "                       default such a subnet is not routed, and\n"
    "                       `telepod status` says so)\n"
    "  --server-name NAME   name in the server's certificate\n"
    "                       (default telepod-server)\n"
    "  --timeout SECONDS    give up after this long, 1 to 600 (default 30)\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Exit codes: 0 connected, 1 the connection failed, 2 usage error,\n"
    "3 cannot reach telepodd.\n";

static const char cliutil_usage_status[] =
    "Usage: telepod status [-o text|json]\n"
    "\n"
    "Shows telepodd's version, pid and SOCKS5 address, and each session:\n"
    "namespace, state, server, owner, uptime, streams, traffic, reconnects,\n"
    "routed subnets and the last error. Details of sessions of other users\n"
    "are shown to root only.\n"
    "\n"
    "Options:\n"
    "  -o, --output FORMAT  text (a table, the default) or json (the daemon's\n"
    "                       reply, pretty-printed)\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Exit codes: 0 success, 1 failure, 2 usage error, 3 cannot reach telepodd.\n";

static const char cliutil_usage_quit[] =
    "Usage: telepod quit [-n NAMESPACE]\n"
    "\n"
    "Disconnects the session of NAMESPACE, or without -n every session you\n"
    "own (as root: every session). Routes and DNS settings are removed.\n"
    "\n"
    "Options:\n"
    "  -n, --namespace NS   the session to close\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Exit codes: 0 disconnected, 1 failure (e.g. not your session), 2 usage\n"
    "error, 3 cannot reach telepodd, 4 no such session.\n";

static const char cliutil_usage_env[] =
    "Usage: telepod env [-n NAMESPACE] [-o dotenv|json|sh]\n"
    "\n"
    "Prints the environment of the namespace's workload, sorted by name.\n"
    "Without -n, uses your only session.\n"
    "\n"
    "Options:\n"
    "  -n, --namespace NS   the session to ask\n"
    "  -o, --output FORMAT  dotenv (NAME=value, quoted when needed; the\n"
    "                       default), sh (export NAME='value', for eval) or\n"
    "                       json (an object)\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Names that are not valid variable names are skipped in dotenv and sh.\n"
    "Exit codes: 0 success, 1 failure, 2 usage error, 3 cannot reach\n"
    "telepodd, 4 no such session.\n";

static const char cliutil_usage_run[] =
    "Usage: telepod run [-n NAMESPACE] [--override-all] [--] COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND with the namespace's environment merged into yours: remote\n"
    "values replace local ones, except PATH, HOME, USER, SHELL and TERM,\n"
    "which stay as they are here. Without -n, uses your only session.\n"
    "\n"
    "Options:\n"
    "  -n, --namespace NS   the session to take the environment from\n"
    "  --override-all       let remote values replace PATH, HOME, USER, SHELL\n"
    "                       and TERM too\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Exit codes: COMMAND's own status; 127 COMMAND not found, 126 COMMAND\n"
    "cannot be executed, 1 failure, 2 usage error, 3 cannot reach telepodd,\n"
    "4 no such session.\n";

static const char cliutil_usage_certs[] =
    "Usage: telepod certs create --out DIR [--server-name NAME]... [--days N]\n"
    "                            [--force]\n"
    "\n"
    "Creates a private CA and certificates for both ends in DIR:\n"
    "ca.crt and ca.key (the CA; keep ca.key safe), server.crt and server.key\n"
    "(for telepod-server: install them in the cluster), client.crt and\n"
    "client.key (for `telepod connect --tls-dir DIR`). The server certificate\n"
    "names telepod-server, localhost, 127.0.0.1 and ::1, plus each NAME.\n"
    "\n"
    "Options:\n"
    "  --out DIR            where to write (created with mode 0700)\n"
    "  --server-name NAME   another DNS name or IP address of the server;\n"
    "                       repeat for more\n"
    "  --days N             validity, 1 to 36500 days (default 365)\n"
    "  --force              replace an existing CA (every certificate it\n"
    "                       signed stops working)\n"
    "\n"
    "Exit codes: 0 created, 1 failure, 2 usage error.\n";

static const char cliutil_usage_version[] =
    "Usage: telepod version\n"
    "\n"
    "Prints this CLI's version and control protocol, then asks telepodd for\n"
    "its own; an unreachable daemon is reported, not an error.\n"
    "\n"
    "Options:\n"
    "  --socket PATH        telepodd's control socket\n"
    "\n"
    "Exit codes: 0 always, 2 usage error.\n";

static const char cliutil_usage_demo[] =
    "Usage: telepod demo [--keep | --down DIR]\n"
    "\n"
    "Builds a simulated cluster on this machine in two network namespaces\n"
    "(a \"cluster\" with DNS, Redis, PostgreSQL and the demo HTTP service\n"
    "gateway, and a \"laptop\"), runs telepod-server in the cluster and\n"
    "telepodd in the laptop, connects namespace jakub and shows, step by\n"
    "step, unmodified curl, redis-cli and psql reaching the services by name.\n"
    "On a terminal it then opens a shell in the laptop namespace; exit it to\n"
    "tear everything down. Nothing changes in this machine's own network.\n"
    "Needs root (network namespaces, a TUN device) and dnsmasq, Redis,\n"
    "PostgreSQL, curl (./dev.sh demo installs them).\n"
    "\n"
    "Options:\n"
    "  --keep       leave it all running and print how to tear it down\n"
    "  --down DIR   tear down a demo left running by --keep\n"
    "\n"
    "Exit codes: 0 the demo ran (and was torn down), 1 a step failed,\n"
    "2 usage error, 77 not root.\n";

static const char cliutil_usage_help[] =
    "Usage: telepod help [COMMAND]\n"
    "\n"
    "Shows the help of COMMAND, or the list of commands.\n";

static const struct {
	enum cliutil_cmd cmd;
	const char *name;
	const char *usage;
} cliutil_cmds[] = {
    {CLIUTIL_CMD_NONE, "", cliutil_usage_global},
    {CLIUTIL_CMD_HELP, "help", cliutil_usage_help},
    {CLIUTIL_CMD_VERSION, "version", cliutil_usage_version},
    {CLIUTIL_CMD_CONNECT, "connect", cliutil_usage_connect},
    {CLIUTIL_CMD_STATUS, "status", cliutil_usage_status},
    {CLIUTIL_CMD_QUIT, "quit", cliutil_usage_quit},
    {CLIUTIL_CMD_ENV, "env", cliutil_usage_env},
    {CLIUTIL_CMD_RUN, "run", cliutil_usage_run},
    {CLIUTIL_CMD_CERTS_CREATE, "certs create", cliutil_usage_certs},
    {CLIUTIL_CMD_DEMO, "demo", cliutil_usage_demo},
};

#define CLIUTIL_N_CMDS (sizeof(cliutil_cmds) / sizeof(*cliutil_cmds))

const char *
cliutil_cmd_name(enum cliutil_cmd cmd)
{
	for (size_t i = 0; i < CLIUTIL_N_CMDS; i++) {
		if (cliutil_cmds[i].cmd == cmd)
			return cliutil_cmds[i].name;
	}
	return "";
}

void
cliutil_usage(FILE *out, enum cliutil_cmd cmd)
{
	for (size_t i = 0; i < CLIUTIL_N_CMDS; i++) {
		if (cliutil_cmds[i].cmd == cmd) {
			fputs(cliutil_cmds[i].usage, out);
			return;
		}
	}
	fputs(cliutil_usage_global, out);
}

/* Command names as typed; "certs" needs its subcommand "create". */
static int
cliutil_lookup(const char *name, enum cliutil_cmd *ret_cmd)
{
	if (strcmp(name, "certs") == 0) {
		*ret_cmd = CLIUTIL_CMD_CERTS_CREATE;
		return 0;
	}
	for (size_t i = 1; i < CLIUTIL_N_CMDS; i++) {
		if (strcmp(cliutil_cmds[i].name, name) == 0) {
			*ret_cmd = cliutil_cmds[i].cmd;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- parsing ---- */

enum {
	CLIUTIL_OPT_SOCKET = 0x100,
	CLIUTIL_OPT_SERVER,
	CLIUTIL_OPT_TLS_DIR,
	CLIUTIL_OPT_NO_TUN,
	CLIUTIL_OPT_SERVER_NAME,
	CLIUTIL_OPT_TIMEOUT,
	CLIUTIL_OPT_OVERRIDE_ALL,
	CLIUTIL_OPT_OUT,
	CLIUTIL_OPT_DAYS,
	CLIUTIL_OPT_FORCE,
	CLIUTIL_OPT_TUN_NAME,
	CLIUTIL_OPT_ALSO_PROXY,
	CLIUTIL_OPT_NEVER_PROXY,
	CLIUTIL_OPT_ALLOW_CONFLICTING,
	CLIUTIL_OPT_KEEP,
	CLIUTIL_OPT_DOWN,
};

static const struct option cliutil_opts_global[] = {
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_connect[] = {
    {"server", required_argument, NULL, CLIUTIL_OPT_SERVER},
    {"tls-dir", required_argument, NULL, CLIUTIL_OPT_TLS_DIR},
    {"namespace", required_argument, NULL, 'n'},
    {"no-tun", no_argument, NULL, CLIUTIL_OPT_NO_TUN},
    {"tun-name", required_argument, NULL, CLIUTIL_OPT_TUN_NAME},
    {"also-proxy", required_argument, NULL, CLIUTIL_OPT_ALSO_PROXY},
    {"never-proxy", required_argument, NULL, CLIUTIL_OPT_NEVER_PROXY},
    {"allow-conflicting-subnet", required_argument, NULL,
        CLIUTIL_OPT_ALLOW_CONFLICTING},
    {"server-name", required_argument, NULL, CLIUTIL_OPT_SERVER_NAME},
    {"timeout", required_argument, NULL, CLIUTIL_OPT_TIMEOUT},
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_status[] = {
    {"output", required_argument, NULL, 'o'},
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_quit[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_env[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"output", required_argument, NULL, 'o'},
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_run[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"override-all", no_argument, NULL, CLIUTIL_OPT_OVERRIDE_ALL},
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_certs[] = {
    {"out", required_argument, NULL, CLIUTIL_OPT_OUT},
    {"server-name", required_argument, NULL, CLIUTIL_OPT_SERVER_NAME},
    {"days", required_argument, NULL, CLIUTIL_OPT_DAYS},
    {"force", no_argument, NULL, CLIUTIL_OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_demo[] = {
    {"keep", no_argument, NULL, CLIUTIL_OPT_KEEP},
    {"down", required_argument, NULL, CLIUTIL_OPT_DOWN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option cliutil_opts_plain[] = {
    {"socket", required_argument, NULL, CLIUTIL_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses a decimal integer in [min, max]. */
static int
cliutil_parse_int(const char *s, long min, long max, int *ret_value)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret_value = (int)v;
	return 0;
}

bool
cliutil_valid_hostport(const char *s)
{
	const char *colon, *host_end;
	size_t n = strlen(s), host_len;
	int port;

	if (n == 0 || n > CLIUTIL_MAX_HOSTPORT)
		return false;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || rb == s + 1)
			return false;
		for (const char *p = s + 1; p < rb; p++) {
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				return false;
		}
		colon = rb + 1;
		host_end = rb + 1;
		host_len = (size_t)(rb - s - 1);
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false; /* IPv6 must be in brackets */
		host_end = colon;
		host_len = (size_t)(colon - s);
		for (const char *p = s; p < host_end; p++) {
			char ch = *p;

			if (!((ch >= 'a' && ch <= 'z') ||
			        (ch >= 'A' && ch <= 'Z') ||
			        (ch >= '0' && ch <= '9') || ch == '-' ||
			        ch == '.' || ch == '_'))
				return false;
		}
	}
	if (host_len == 0 || host_len > CLIUTIL_MAX_NAME)
		return false;
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5)
		return false;
	return cliutil_parse_int(colon + 1, 1, 65535, &port) == 0;
}

/* Formats a usage error naming the command and where its usage is. */
static int cliutil_usage_error(char *err, size_t errlen, enum cliutil_cmd cmd,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
cliutil_usage_error(
    char *err, size_t errlen, enum cliutil_cmd cmd, const char *fmt, ...)
{
	const char *name = cliutil_cmd_name(cmd);
	va_list ap;
	int n;

	n = snprintf(err, errlen, "telepod%s%s: ", name[0] ? " " : "", name);
	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(err);
	snprintf(err + n, errlen - (size_t)n, "\nSee `telepod%s%s --help`.",
	    name[0] ? " " : "", name);
	return -EINVAL;
}

static const struct option *
cliutil_opts_of(enum cliutil_cmd cmd, const char **ret_short)
{
	switch (cmd) {
	case CLIUTIL_CMD_CONNECT:
		*ret_short = "+:n:h";
		return cliutil_opts_connect;
	case CLIUTIL_CMD_STATUS:
		*ret_short = "+:o:h";
		return cliutil_opts_status;
	case CLIUTIL_CMD_QUIT:
		*ret_short = "+:n:h";
		return cliutil_opts_quit;
	case CLIUTIL_CMD_ENV:
		*ret_short = "+:n:o:h";
		return cliutil_opts_env;
	case CLIUTIL_CMD_RUN:
		*ret_short = "+:n:h";
		return cliutil_opts_run;
	case CLIUTIL_CMD_CERTS_CREATE:
		*ret_short = "+:h";
		return cliutil_opts_certs;
	case CLIUTIL_CMD_DEMO:
		*ret_short = "+:h";
		return cliutil_opts_demo;
	default:
		*ret_short = "+:h";
		return cliutil_opts_plain;
	}
}

/* True for a Linux interface name: 1 to 15 bytes, none of '/', ':',
 * white space or control characters, and not "." or "..". */
static bool
cliutil_valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CLIUTIL_MAX_TUN_NAME || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == ':')
			return false;
	}
	return true;
}

/*
 * Parses the comma-separated prefixes of --OPT into v (n items so far, at
 * most CLIUTIL_MAX_CIDRS). A prefix with host bits set is refused: the
 * user probably meant another one, so guessing would route the wrong
 * addresses.
 */
static int
cliutil_add_cidrs(const char *opt, const char *arg, struct cidr *v, size_t *n,
    enum cliutil_cmd cmd, char *err, size_t errlen)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[CIDR_STR_MAX], norm[CIDR_STR_MAX];
		struct cidr c;
		bool host_bits = false;

		if (len == 0 || len >= sizeof(item))
			return cliutil_usage_error(err, errlen, cmd,
			    "invalid --%s \"%s\": use prefixes like 10.96.0.0/12, separated by commas",
			    opt, arg);
		memcpy(item, p, len);
		item[len] = '\0';
		if (cidr_parse(item, &c, &host_bits) < 0)
			return cliutil_usage_error(err, errlen, cmd,
			    "invalid --%s \"%s\": not a prefix like 10.96.0.0/12 or fd00::/64",
			    opt, item);
		if (host_bits)
			return cliutil_usage_error(err, errlen, cmd,
			    "invalid --%s \"%s\": host bits are set; did you mean %s?",
			    opt, item, cidr_format(&c, norm, sizeof(norm)));
		if (*n == CLIUTIL_MAX_CIDRS)
			return cliutil_usage_error(err, errlen, cmd,
			    "at most %d prefixes for --%s", CLIUTIL_MAX_CIDRS,
			    opt);
		v[(*n)++] = c;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Parses the options of one command; argv[0] is the command's name. */
static int
cliutil_parse_command(
    int argc, char **argv, struct cliutil_args *a, char *err, size_t errlen)
{
	const char *shortopts;
	const struct option *longopts = cliutil_opts_of(a->cmd, &shortopts);
	enum cliutil_cmd cmd = a->cmd;
	int c, r;

	optind = 0; /* glibc: reinitialise fully */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			a->help = true;
			return 0;
		case 'n':
			if (!ctl_valid_namespace(optarg))
				return cliutil_usage_error(err, errlen, cmd,
				    "invalid namespace \"%s\": use 1 to 63 lower-case letters, digits and '-', not starting or ending with '-'",
				    optarg);
			a->ns = optarg;
			break;
		case 'o':
			if (cmd == CLIUTIL_CMD_STATUS &&
			    strcmp(optarg, "text") == 0)
				a->format = CLIUTIL_FMT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				a->format = CLIUTIL_FMT_JSON;
			else if (cmd == CLIUTIL_CMD_ENV &&
			         strcmp(optarg, "dotenv") == 0)
				a->format = CLIUTIL_FMT_DOTENV;
			else if (cmd == CLIUTIL_CMD_ENV &&
			         strcmp(optarg, "sh") == 0)
				a->format = CLIUTIL_FMT_SH;
			else
				return cliutil_usage_error(err, errlen, cmd,
				    "unknown output format \"%s\" (use %s)",
				    optarg,
				    cmd == CLIUTIL_CMD_ENV
				        ? "dotenv, json or sh"
				        : "text or json");
			break;
		case CLIUTIL_OPT_SOCKET:
			a->socket_path = optarg;
			break;
		case CLIUTIL_OPT_SERVER:
			if (!cliutil_valid_hostport(optarg))
				return cliutil_usage_error(err, errlen, cmd,
				    "invalid --server \"%s\": use HOST:PORT, e.g. telepod.example.com:8443 or [2001:db8::1]:8443",
				    optarg);
			a->server = optarg;
			break;
		case CLIUTIL_OPT_TLS_DIR:
			if (!optarg[0] || strlen(optarg) >= PATH_MAX)
				return cliutil_usage_error(err, errlen, cmd,
				    "--tls-dir needs a directory");
			a->tls_dir = optarg;
			break;
		case CLIUTIL_OPT_NO_TUN:
			a->no_tun = true;
			break;
		case CLIUTIL_OPT_TUN_NAME:
			if (!cliutil_valid_ifname(optarg))
				return cliutil_usage_error(err, errlen, cmd,
				    "invalid --tun-name \"%s\": use 1 to %d characters without '/', ':' or blanks",
				    optarg, CLIUTIL_MAX_TUN_NAME);
			a->tun_name = optarg;
			break;
		case CLIUTIL_OPT_ALSO_PROXY:
			r = cliutil_add_cidrs("also-proxy", optarg,
			    a->also_proxy, &a->n_also_proxy, cmd, err, errlen);
			if (r < 0)
				return r;
			break;
		case CLIUTIL_OPT_NEVER_PROXY:
			r = cliutil_add_cidrs("never-proxy", optarg,
			    a->never_proxy, &a->n_never_proxy, cmd, err,
			    errlen);
			if (r < 0)
				return r;
			break;
		case CLIUTIL_OPT_ALLOW_CONFLICTING:
			r = cliutil_add_cidrs("allow-conflicting-subnet",
			    optarg, a->allow_conflicting,
			    &a->n_allow_conflicting, cmd, err, errlen);
			if (r < 0)
				return r;
			break;
		case CLIUTIL_OPT_KEEP:
			a->keep = true;
			break;
		case CLIUTIL_OPT_DOWN:
			if (!optarg[0] || strlen(optarg) >= PATH_MAX)
				return cliutil_usage_error(err, errlen, cmd,
				    "--down needs the directory --keep printed");
			a->down_dir = optarg;
			break;
		case CLIUTIL_OPT_SERVER_NAME:
			if (!optarg[0] || strlen(optarg) > CLIUTIL_MAX_NAME)
				return cliutil_usage_error(err, errlen, cmd,
				    "--server-name needs a name of 1 to %d bytes",
				    CLIUTIL_MAX_NAME);
			if (cmd == CLIUTIL_CMD_CONNECT) {
				a->server_name = optarg;
				break;
			}
			if (a->n_server_names == CLIUTIL_MAX_SERVER_NAMES)
				return cliutil_usage_error(err, errlen, cmd,
				    "at most %d --server-name options",
				    CLIUTIL_MAX_SERVER_NAMES);
			a->server_names[a->n_server_names++] = optarg;
			break;
		case CLIUTIL_OPT_TIMEOUT:
			if (cliutil_parse_int(optarg, 1, CLIUTIL_MAX_TIMEOUT_S,
			        &a->timeout_s) < 0)
				return cliutil_usage_error(err, errlen, cmd,
				    "invalid --timeout \"%s\": use whole seconds from 1 to %d",
				    optarg, CLIUTIL_MAX_TIMEOUT_S);
			break;
		case CLIUTIL_OPT_OVERRIDE_ALL:
			a->override_all = true;
			break;
		case CLIUTIL_OPT_OUT:
			if (!optarg[0] || strlen(optarg) >= PATH_MAX)
				return cliutil_usage_error(err, errlen, cmd,
				    "--out needs a directory");
			a->out_dir = optarg;
			break;
		case CLIUTIL_OPT_DAYS:
			if (cliutil_parse_int(
			        optarg, 1, CLIUTIL_MAX_DAYS, &a->days) < 0)
				return cliutil_usage_error(err, errlen, cmd,
				    "invalid --days \"%s\": use a whole number from 1 to %d",
				    optarg, CLIUTIL_MAX_DAYS);
			break;
		case CLIUTIL_OPT_FORCE:
			a->force = true;
			break;
		case ':':
			return cliutil_usage_error(err, errlen, cmd,
			    "option %s needs a value", argv[optind - 1]);
		default:
			return cliutil_usage_error(err, errlen, cmd,
			    "unknown option %s", argv[optind - 1]);
		}
	}
	if (cmd == CLIUTIL_CMD_RUN) {
		if (optind >= argc)
			return cliutil_usage_error(err, errlen, cmd,
			    "missing the command to run, e.g. telepod run -- env");
		a->run_argv = argv + optind;
		return 0;
	}
	if (optind < argc)
		return cliutil_usage_error(err, errlen, cmd,
		    "unexpected argument \"%s\"", argv[optind]);
	if (cmd == CLIUTIL_CMD_CONNECT) {
		if (!a->server)
			return cliutil_usage_error(err, errlen, cmd,
			    "missing --server HOST:PORT (where telepod-server listens)");
		if (!a->tls_dir)
			return cliutil_usage_error(err, errlen, cmd,
			    "missing --tls-dir DIR (with ca.crt, client.crt and client.key; make them with `telepod certs create --out DIR`)");
		if (!a->ns)
			a->ns = CLIUTIL_DEFAULT_NAMESPACE;
	}
	if (cmd == CLIUTIL_CMD_CONNECT && a->no_tun &&
	    (a->tun_name || a->n_also_proxy || a->n_never_proxy ||
	        a->n_allow_conflicting))
		return cliutil_usage_error(err, errlen, cmd,
		    "--no-tun routes nothing: it cannot be combined with --tun-name, --also-proxy, --never-proxy or --allow-conflicting-subnet");
	if (cmd == CLIUTIL_CMD_DEMO && a->keep && a->down_dir)
		return cliutil_usage_error(
		    err, errlen, cmd, "give either --keep or --down DIR");
	if (cmd == CLIUTIL_CMD_CERTS_CREATE && !a->out_dir)
		return cliutil_usage_error(err, errlen, cmd,
		    "missing --out DIR (where to write the certificates)");
	return 0;
}

int
cliutil_parse(int argc, char **argv, const char *env_socket,
    struct cliutil_args *ret_args, char *err, size_t errlen)
{
	struct cliutil_args a = {
	    .cmd = CLIUTIL_CMD_NONE,
	    .socket_path =
	        env_socket && env_socket[0] ? env_socket : CTL_DEFAULT_SOCKET,
	    .timeout_s = CLIUTIL_DEFAULT_TIMEOUT_S,
	    .days = CLIUTIL_DEFAULT_DAYS,
	};
	const char *name;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(
	            argc, argv, "+:hV", cliutil_opts_global, NULL)) != -1) {
		switch (c) {
		case CLIUTIL_OPT_SOCKET:
			a.socket_path = optarg;
			break;
		case 'h':
			a.help = true;
			*ret_args = a;
			return 0;
		case 'V':
			a.cmd = CLIUTIL_CMD_VERSION;
			*ret_args = a;
			return 0;
		case ':':
			return cliutil_usage_error(err, errlen,
			    CLIUTIL_CMD_NONE, "option %s needs a value",
			    argv[optind - 1]);
		default:
			return cliutil_usage_error(err, errlen,
			    CLIUTIL_CMD_NONE, "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cliutil_usage_error(
		    err, errlen, CLIUTIL_CMD_NONE, "no command given");
	name = argv[optind];
	argc -= optind;
	argv += optind;
	if (cliutil_lookup(name, &a.cmd) < 0)
		return cliutil_usage_error(err, errlen, CLIUTIL_CMD_NONE,
		    "unknown command \"%s\"", name);
	if (a.cmd == CLIUTIL_CMD_HELP) {
		a.help = true;
		a.cmd = CLIUTIL_CMD_NONE;
		if (argc > 2)
			return cliutil_usage_error(err, errlen,
			    CLIUTIL_CMD_HELP, "give one command at most");
		if (argc == 2 && cliutil_lookup(argv[1], &a.cmd) < 0)
			return cliutil_usage_error(err, errlen,
			    CLIUTIL_CMD_HELP, "unknown command \"%s\"",
			    argv[1]);
		if (a.cmd == CLIUTIL_CMD_HELP)
			a.cmd = CLIUTIL_CMD_NONE;
		*ret_args = a;
		return 0;
	}
	if (a.cmd == CLIUTIL_CMD_CERTS_CREATE) {
		/* `certs --help` is the help of its only subcommand. */
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		                     strcmp(argv[1], "-h") == 0)) {
			a.help = true;
			*ret_args = a;
			return 0;
		}
		if (argc < 2)
			return cliutil_usage_error(err, errlen, a.cmd,
			    "missing the subcommand \"create\"");
		if (strcmp(argv[1], "create") != 0)
			return cliutil_usage_error(err, errlen, a.cmd,
			    "unknown subcommand \"%s\" (only \"create\")",
			    argv[1]);
		argc--;
		argv++;
	}
	if (a.cmd == CLIUTIL_CMD_ENV)
		a.format = CLIUTIL_FMT_DOTENV;
	r = cliutil_parse_command(argc, argv, &a, err, errlen);
	if (r < 0)
		return r;
	*ret_args = a;
	return 0;
}

/* ---- JSON output ---- */

static int
cliutil_json_write_at(FILE *out, const cJSON *item, int depth)
{
	const cJSON *child;
	bool object = cJSON_IsObject(item);
	bool first = true;
	char *s;

	if (!object && !cJSON_IsArray(item)) {
		s = cJSON_PrintUnformatted(item);
		if (!s)
			return -ENOMEM;
		fputs(s, out);
		explicit_bzero(s, strlen(s)); /* may be an env value */
		cJSON_free(s);
		return 0;
	}
	if (!item->child) {
		fputs(object ? "{}" : "[]", out);
		return 0;
	}
	fputc(object ? '{' : '[', out);
	cJSON_ArrayForEach(child, item)
	{
		fprintf(out, "%s\n%*s", first ? "" : ",", 2 * (depth + 1), "");
		first = false;
		if (object) {
			/* The name goes through cJSON for its escaping. */
			cJSON *name = cJSON_CreateString(
			    child->string ? child->string : "");

			s = name ? cJSON_PrintUnformatted(name) : NULL;
			cJSON_Delete(name);
			if (!s)
				return -ENOMEM;
			fprintf(out, "%s: ", s);
			cJSON_free(s);
		}
		if (cliutil_json_write_at(out, child, depth + 1) < 0)
			return -ENOMEM;
	}
	fprintf(out, "\n%*s%c", 2 * depth, "", object ? '}' : ']');
	return 0;
}

int
cliutil_json_write(FILE *out, const cJSON *item)
{
	int r = cliutil_json_write_at(out, item, 0);

	fputc('\n', out);
	return r;
}

/* ---- environment ---- */

bool
cliutil_valid_env_name(const char *name)
{
	if (!name || !name[0] || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

char *
cliutil_quote_sh(const char *value)
{
	size_t n = 2, o = 0;
	char *out;

	for (const char *p = value; *p; p++)
		n += *p == '\'' ? 4 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	out[o++] = '\'';
	for (const char *p = value; *p; p++) {
		if (*p == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = *p;
		}
	}
	out[o++] = '\'';
	out[o] = '\0';
	return out;
}

char *
cliutil_quote_dotenv(const char *value)
{
	bool bare = true, single_ok = true;
	size_t n = 2, o = 0;
	char *out;

	for (const char *p = value; *p; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || strchr("_./:@%+,^~-", ch)))
			bare = false;
		if (ch == '\'' || ch == '\\' || ch == '\n' || ch == '\r')
			single_ok = false;
		n += strchr("\\\"\n\r\t$", ch) ? 2 : 1;
	}
	if (bare)
		return strdup(value);
	if (single_ok) {
		size_t len = strlen(value);

		out = malloc(len + 3);
		if (!out)
			return NULL;
		out[0] = '\'';
		memcpy(out + 1, value, len);
		out[len + 1] = '\'';
		out[len + 2] = '\0';
		return out;
	}
	out = malloc(n + 1);
	if (!out)
		return NULL;
	out[o++] = '"';
	for (const char *p = value; *p; p++) {
		switch (*p) {
		case '\\':
		case '"':
		case '$':
			out[o++] = '\\';
			out[o++] = *p;
			break;
		case '\n':
			out[o++] = '\\';
			out[o++] = 'n';
			break;
		case '\r':
			out[o++] = '\\';
			out[o++] = 'r';
			break;
		case '\t':
			out[o++] = '\\';
			out[o++] = 't';
			break;
		default:
			out[o++] = *p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

static int
cliutil_cmp_items(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

/* The members of obj sorted by name. Caller frees *ret_items. */
static int
cliutil_sorted_members(
    const cJSON *obj, const cJSON ***ret_items, size_t *ret_n)
{
	const cJSON **items;
	const cJSON *it;
	size_t n = 0;

	if (!cJSON_IsObject(obj))
		return -EINVAL;
	cJSON_ArrayForEach(it, obj) n++;
	items = calloc(n ? n : 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	n = 0;
	cJSON_ArrayForEach(it, obj)
	{
		if (it->string)
			items[n++] = it;
	}
	qsort(items, n, sizeof(*items), cliutil_cmp_items);
	*ret_items = items;
	*ret_n = n;
	return 0;
}

int
cliutil_env_write(FILE *out, const cJSON *env, enum cliutil_format format,
    size_t *ret_skipped)
{
	const cJSON **items = NULL;
	cJSON *obj = NULL;
	size_t n, skipped = 0;
	int r, written = 0;

	if (format == CLIUTIL_FMT_TEXT)
		return -EINVAL;
	r = cliutil_sorted_members(env, &items, &n);
	if (r < 0)
		return r;
	if (format == CLIUTIL_FMT_JSON) {
		obj = cJSON_CreateObject();
		if (!obj) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const cJSON *it = items[i];
		char *q;

		if (!cJSON_IsString(it) ||
		    (format != CLIUTIL_FMT_JSON &&
		        !cliutil_valid_env_name(it->string))) {
			skipped++;
			continue;
		}
		if (format == CLIUTIL_FMT_JSON) {
			if (!cJSON_AddStringToObject(
			        obj, it->string, it->valuestring)) {
				r = -ENOMEM;
				goto out;
			}
			written++;
			continue;
		}
		q = format == CLIUTIL_FMT_SH
		        ? cliutil_quote_sh(it->valuestring)
		        : cliutil_quote_dotenv(it->valuestring);
		if (!q) {
			r = -ENOMEM;
			goto out;
		}
		fprintf(out, "%s%s=%s\n",
		    format == CLIUTIL_FMT_SH ? "export " : "", it->string, q);
		explicit_bzero(q, strlen(q));
		free(q);
		written++;
	}
	if (format == CLIUTIL_FMT_JSON && cliutil_json_write(out, obj) < 0) {
		r = -ENOMEM;
		goto out;
	}
	*ret_skipped = skipped;
	r = written;
out:
	ctl_json_wipe(obj);
	cJSON_Delete(obj);
	free(items);
	return r;
}

bool
cliutil_env_protected(const char *name)
{
	static const char *const keep[] = {
	    "PATH", "HOME", "USER", "SHELL", "TERM"};

	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
		if (strcmp(name, keep[i]) == 0)
			return true;
	}
	return false;
}

void
cliutil_env_free(char **envp)
{
	if (!envp)
		return;
	for (char **p = envp; *p; p++)
		free(*p);
	free(envp);
}

int
cliutil_env_merge(char *const *local, const cJSON *env, bool override_all,
    char ***ret_envp, size_t *ret_skipped)
{
	const cJSON *it;
	size_t n_local = 0, n_remote = 0, n = 0, skipped = 0;
	char **envp;
	int r = -ENOMEM;

	if (!cJSON_IsObject(env))
		return -EINVAL;
	while (local && local[n_local])
		n_local++;
	cJSON_ArrayForEach(it, env) n_remote++;
	envp = calloc(n_local + n_remote + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n_local; i++) {
		envp[n] = strdup(local[i]);
		if (!envp[n])
			goto out;
		n++;
	}
	cJSON_ArrayForEach(it, env)
	{
		size_t name_len, i;
		char *entry;

		if (!it->string || !cJSON_IsString(it) ||
		    !cliutil_valid_env_name(it->string)) {
			skipped++;
			continue;
		}
		if (!override_all && cliutil_env_protected(it->string))
			continue;
		name_len = strlen(it->string);
		if (asprintf(&entry, "%s=%s", it->string, it->valuestring) < 0)
			goto out;
		for (i = 0; i < n; i++) {
			if (strncmp(envp[i], it->string, name_len) == 0 &&
			    envp[i][name_len] == '=')
				break;
		}
		if (i < n)
			free(envp[i]);
		else
			n++;
		envp[i] = entry;
	}
	*ret_envp = envp;
	*ret_skipped = skipped;
	return 0;
out:
	cliutil_env_free(envp);
	return r;
}

int
cliutil_pick_namespace(const cJSON *status, uid_t uid, const char **ret_ns,
    char *err, size_t errlen)
{
	const cJSON *conns =
	    cJSON_GetObjectItemCaseSensitive(status, "connections");
	const cJSON *c;
	const char *found = NULL;
	char names[256] = "";
	size_t count = 0;

	if (!cJSON_IsArray(conns))
		conns = NULL;
	cJSON_ArrayForEach(c, conns)
	{
		const cJSON *ns =
		    cJSON_GetObjectItemCaseSensitive(c, "namespace");
		const cJSON *owner =
		    cJSON_GetObjectItemCaseSensitive(c, "owner_uid");
		size_t len = strlen(names);

		if (!cJSON_IsString(ns) || !cJSON_IsNumber(owner) ||
		    !ctl_valid_namespace(ns->valuestring) ||
		    owner->valuedouble < 0 ||
		    !ctl_may_command(uid, (uid_t)owner->valuedouble))
			continue;
		found = ns->valuestring;
		snprintf(names + len, sizeof(names) - len, "%s%s",
		    count ? ", " : "", ns->valuestring);
		count++;
	}
	if (count == 0) {
		snprintf(err, errlen,
		    "no session to use: connect one first with `telepod connect --server HOST:PORT --tls-dir DIR -n NAMESPACE`");
		return -ENOENT;
	}
	if (count > 1) {
		snprintf(err, errlen,
		    "several sessions are connected (%s); choose one with -n NAMESPACE",
		    names);
		return -EEXIST;
	}
	*ret_ns = found;
	return 0;
}

int
cliutil_check_tls_dir(
    const char *dir, char *ret_abs, size_t abs_len, char *err, size_t errlen)
{
	static const char *const files[] = {
	    "ca.crt", "client.crt", "client.key"};
	char abs[PATH_MAX];
	struct stat st;

	if (!realpath(dir, abs)) {
		int e = errno;

		if (e == ENOENT)
			snprintf(err, errlen,
			    "the TLS directory %s does not exist; create the certificates with `telepod certs create --out %s`",
			    dir, dir);
		else
			snprintf(err, errlen,
			    "cannot use the TLS directory %s: %s", dir,
			    strerror(e));
		return -e;
	}
	if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
		    "%s is not a directory; --tls-dir needs the directory holding ca.crt, client.crt and client.key",
		    abs);
		return -ENOTDIR;
	}
	if (strlen(abs) + 1 > abs_len) {
		snprintf(
		    err, errlen, "the TLS directory path %s is too long", abs);
		return -ENAMETOOLONG;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		char path[PATH_MAX + 16];
		int fd, e;

		snprintf(path, sizeof(path), "%s/%s", abs, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			e = errno;
			if (e == ENOENT)
				snprintf(err, errlen,
				    "%s is missing from %s; create the certificates with `telepod certs create --out %s`, or pass the directory that holds ca.crt, client.crt and client.key",
				    files[i], abs, dir);
			else
				snprintf(err, errlen,
				    "cannot read %s: %s; check its owner and mode",
				    path, strerror(e));
			return -e;
		}
		e = fstat(fd, &st) < 0 ? errno : 0;
		close(fd);
		if (e || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s is not a regular file", path);
			return -EINVAL;
		}
	}
	memcpy(ret_abs, abs, strlen(abs) + 1);
	return 0;
}

/* ---- status ---- */

void
cliutil_format_duration(char *out, size_t cap, long long s)
{
	if (s < 0)
		snprintf(out, cap, "-");
	else if (s < 60)
		snprintf(out, cap, "%llds", s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

void
cliutil_format_bytes(char *out, size_t cap, long long bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 0) {
		snprintf(out, cap, "-");
		return;
	}
	if (bytes < 1024) {
		snprintf(out, cap, "%lld B", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, "%.1f %s", v, units[u]);
}

void
cliutil_clean(char *out, size_t cap, const char *in)
{
	size_t o = 0;

	for (; in && *in && o + 1 < cap; in++)
		out[o++] = (unsigned char)*in < 0x20 || *in == 0x7f ? '?' : *in;
	out[o] = '\0';
}

static void
cliutil_cell_str(char *out, size_t cap, const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring[0])
		cliutil_clean(out, cap, v->valuestring);
	else
		snprintf(out, cap, "-");
}

/* Reads a non-negative integral member; -1 when absent or malformed. */
static long long
cliutil_get_count(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
	    v->valuedouble > 9.0e15)
		return -1;
	return (long long)v->valuedouble;
}

#define CLIUTIL_COLS     9
#define CLIUTIL_CELL_MAX 272

struct cliutil_row {
	char cell[CLIUTIL_COLS][CLIUTIL_CELL_MAX];
};

/* The TUN lines of a session: its device and DNS, and every subnet it
 * does not route with the reason (a conflict with a route this machine
 * has, which --allow-conflicting-subnet overrides). */
static void
cliutil_render_tun(FILE *out, const cJSON *c)
{
	const cJSON *skipped =
	    cJSON_GetObjectItemCaseSensitive(c, "skipped_subnets");
	const cJSON *dns = cJSON_GetObjectItemCaseSensitive(c, "dns");
	const cJSON *fast = cJSON_GetObjectItemCaseSensitive(c, "fast_path");
	const cJSON *s;
	char name[CLIUTIL_CELL_MAX], mode[64], server[64], why[512];
	const char *path = "";

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "tun")))
		return;
	cliutil_cell_str(name, sizeof(name), c, "tun_name");
	cliutil_cell_str(mode, sizeof(mode), dns, "mode");
	cliutil_cell_str(server, sizeof(server), dns, "server");
	/* Absent from daemons older than the fast path. */
	if (cJSON_IsTrue(fast))
		path = " (kernel fast path)";
	else if (cJSON_IsFalse(fast))
		path = " (no kernel fast path: telepodd carries every packet; "
		       "see telepodd's log)";
	fprintf(out, "  tun: %s%s; cluster DNS via %s (stub on %s)\n", name,
	    path, mode, server);
	if (!cJSON_IsArray(skipped))
		return;
	cJSON_ArrayForEach(s, skipped)
	{
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(s, "reason");

		if (!cJSON_IsString(r))
			continue;
		cliutil_clean(why, sizeof(why), r->valuestring);
		fprintf(out, "  warning: %s\n", why);
	}
}

void
cliutil_status_render(FILE *out, const cJSON *status)
{
	static const char *const head[CLIUTIL_COLS] = {"NAMESPACE", "STATE",
	    "SERVER", "OWNER", "UPTIME", "STREAMS", "IN", "OUT", "RECONNECTS"};
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(status, "daemon");
	const cJSON *conns =
	    cJSON_GetObjectItemCaseSensitive(status, "connections");
	char ver[64], socks[CLIUTIL_CELL_MAX], up[32];
	struct cliutil_row *rows;
	size_t width[CLIUTIL_COLS];
	size_t n = 0, i = 0;
	long long pid;
	const cJSON *c;

	cliutil_cell_str(ver, sizeof(ver), d, "version");
	cliutil_cell_str(socks, sizeof(socks), d, "socks");
	cliutil_format_duration(
	    up, sizeof(up), cliutil_get_count(d, "uptime_s"));
	pid = cliutil_get_count(d, "pid");
	if (pid >= 0)
		fprintf(out, "telepodd %s, pid %lld, up %s, SOCKS5 on %s\n",
		    ver, pid, up, socks);
	else
		fprintf(
		    out, "telepodd %s, up %s, SOCKS5 on %s\n", ver, up, socks);
	if (cJSON_IsArray(conns))
		n = (size_t)cJSON_GetArraySize(conns);
	if (n == 0) {
		fprintf(out,
		    "No sessions. Connect one with `telepod connect --server HOST:PORT --tls-dir DIR -n NAMESPACE`.\n");
		return;
	}
	rows = calloc(n, sizeof(*rows));
	if (!rows) {
		fprintf(out, "(out of memory rendering %zu sessions)\n", n);
		return;
	}
	for (size_t k = 0; k < CLIUTIL_COLS; k++)
		width[k] = strlen(head[k]);
	cJSON_ArrayForEach(c, conns)
	{
		struct cliutil_row *r = &rows[i++];
		long long so = cliutil_get_count(c, "streams_open");
		long long st = cliutil_get_count(c, "streams_total");
		long long owner = cliutil_get_count(c, "owner_uid");
		long long rc = cliutil_get_count(c, "reconnects");

		cliutil_cell_str(r->cell[0], CLIUTIL_CELL_MAX, c, "namespace");
		cliutil_cell_str(r->cell[1], CLIUTIL_CELL_MAX, c, "state");
		cliutil_cell_str(r->cell[2], CLIUTIL_CELL_MAX, c, "server");
		if (owner >= 0)
			snprintf(r->cell[3], CLIUTIL_CELL_MAX, "%lld", owner);
		else
			snprintf(r->cell[3], CLIUTIL_CELL_MAX, "-");
		cliutil_format_duration(r->cell[4], CLIUTIL_CELL_MAX,
		    cliutil_get_count(c, "uptime_s"));
		if (so >= 0 && st >= 0)
			snprintf(
			    r->cell[5], CLIUTIL_CELL_MAX, "%lld/%lld", so, st);
		else
			snprintf(r->cell[5], CLIUTIL_CELL_MAX, "-");
		cliutil_format_bytes(r->cell[6], CLIUTIL_CELL_MAX,
		    cliutil_get_count(c, "bytes_in"));
		cliutil_format_bytes(r->cell[7], CLIUTIL_CELL_MAX,
		    cliutil_get_count(c, "bytes_out"));
		if (rc >= 0)
			snprintf(r->cell[8], CLIUTIL_CELL_MAX, "%lld", rc);
		else
			snprintf(r->cell[8], CLIUTIL_CELL_MAX, "-");
		for (size_t k = 0; k < CLIUTIL_COLS; k++) {
			size_t w = strlen(r->cell[k]);

			if (w > width[k])
				width[k] = w;
		}
	}
	fputc('\n', out);
	for (size_t k = 0; k < CLIUTIL_COLS; k++)
		fprintf(out, "%-*s%s", k + 1 < CLIUTIL_COLS ? (int)width[k] : 0,
		    head[k], k + 1 < CLIUTIL_COLS ? "  " : "\n");
	i = 0;
	cJSON_ArrayForEach(c, conns)
	{
		const cJSON *subnets =
		    cJSON_GetObjectItemCaseSensitive(c, "subnets");
		const cJSON *le =
		    cJSON_GetObjectItemCaseSensitive(c, "last_error");
		struct cliutil_row *r = &rows[i++];
		const cJSON *s;
		bool first = true;

		for (size_t k = 0; k < CLIUTIL_COLS; k++)
			fprintf(out, "%-*s%s",
			    k + 1 < CLIUTIL_COLS ? (int)width[k] : 0,
			    r->cell[k], k + 1 < CLIUTIL_COLS ? "  " : "\n");
		if (!cJSON_IsArray(subnets))
			subnets = NULL;
		cJSON_ArrayForEach(s, subnets)
		{
			char sn[64];

			if (!cJSON_IsString(s))
				continue;
			cliutil_clean(sn, sizeof(sn), s->valuestring);
			fprintf(out, "%s%s", first ? "  subnets: " : ", ", sn);
			first = false;
		}
		if (!first)
			fputc('\n', out);
		/* Announced but not routed (no TUN): reachable via SOCKS5. */
		subnets = first ? cJSON_GetObjectItemCaseSensitive(
		                      c, "cluster_subnets")
		                : NULL;
		if (!cJSON_IsArray(subnets))
			subnets = NULL;
		first = true;
		cJSON_ArrayForEach(s, subnets)
		{
			char sn[64];

			if (!cJSON_IsString(s))
				continue;
			cliutil_clean(sn, sizeof(sn), s->valuestring);
			fprintf(out, "%s%s",
			    first ? "  cluster subnets (via SOCKS5): " : ", ",
			    sn);
			first = false;
		}
		if (!first)
			fputc('\n', out);
		cliutil_render_tun(out, c);
		if (cJSON_IsString(le) && le->valuestring[0]) {
			char msg[1024];

			cliutil_clean(msg, sizeof(msg), le->valuestring);
			fprintf(out, "  last error: %s\n", msg);
		}
	}
	free(rows);
}
