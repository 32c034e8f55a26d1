/* SPDX-License-Identifier: Apache-2.0 */
/*
 * telepod-server: the in-cluster end of telepod. Parses flags, loads the
 * TLS context and the environment to hand out, starts the c-ares resolver,
 * listens (IPv4 or IPv6) and runs one session per accepted client
 * (server/session.c). SIGTERM / SIGINT stop accepting, send GOAWAY to every
 * session and wait for their streams up to --drain-timeout; a second signal
 * ends at once. All state lives in struct server on main's stack.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/ssl.h>

#include "common/addr.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/mux.h"
#include "common/tlsconf.h"
#include "server/dial.h"
#include "server/env.h"
#include "server/resolver.h"
#include "server/session.h"

#define SERVER_NAME "telepod-server"
#define SERVER_SA_NAMESPACE_FILE                                               \
	"/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#define SERVER_DEFAULT_MAX_SESSIONS 64u
#define SERVER_DEFAULT_DRAIN_MS     5000u
#define SERVER_MAX_SUBNETS          64
#define SERVER_EXIT_USAGE           2

struct server_opts {
	const char *listen;
	struct sockaddr_storage listen_ss;
	int listen_len;
	const char *tls_dir;
	const char *subnets;
	const char *env_file;
	const char *namespace_name;
	const char *cluster_domain;
	const char *resolv_conf;
	const char *dns_servers;
	unsigned drain_ms;
	unsigned connect_ms;
	unsigned handshake_ms;
	unsigned max_sessions;
	unsigned max_streams;
	uint32_t busy_poll_us;
	enum log_level level;
	unsigned debug_cats;
};

struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *ev_term, *ev_int, *ev_drain, *ev_relisten;
	SSL_CTX *ctx;
	struct resolver *resolver;
	struct session_config scfg;
	struct session **sessions; /* max_sessions slots */
	unsigned n_sessions;
	unsigned max_sessions;
	unsigned next_id;
	unsigned drain_ms;
	bool draining;
};

static void
server_usage(FILE *f)
{
	fprintf(f,
	    "Usage: " SERVER_NAME
	    " --listen ADDR:PORT --tls-dir DIR [options]\n"
	    "\n"
	    "The in-cluster end of telepod: accepts mutually authenticated TLS 1.3\n"
	    "sessions from telepodd and, for each, dials TCP destinations, answers\n"
	    "DNS queries through the pod's resolver and hands out the environment.\n"
	    "\n"
	    "Required:\n"
	    "  --listen ADDR:PORT       address to listen on: 0.0.0.0:8443, [::]:8443\n"
	    "  --tls-dir DIR            directory with ca.crt, server.crt, server.key\n"
	    "                           (make one with `telepod certs create`); clients\n"
	    "                           must present a certificate signed by ca.crt\n"
	    "Session contents:\n"
	    "  --subnets CIDR,...       cluster subnets the client routes into the tunnel\n"
	    "                           (e.g. 10.96.0.0/12,10.244.0.0/16); sent in HELLO\n"
	    "  --env-file FILE          hand out FILE's KEY=VALUE lines (dotenv syntax:\n"
	    "                           comments, export, quotes) instead of this\n"
	    "                           process's environment minus TELEPOD_*\n"
	    "  --namespace NS           namespace to report (default: the service\n"
	    "                           account's namespace file, else \"default\")\n"
	    "  --cluster-domain DOMAIN  cluster DNS domain (default cluster.local)\n"
	    "  --resolv-conf FILE       resolver configuration (default /etc/resolv.conf)\n"
	    "  --dns-servers IP[:PORT],...  name servers replacing resolv.conf's\n"
	    "Limits:\n"
	    "  --max-sessions N         concurrent clients (default 64)\n"
	    "  --max-streams N          concurrent streams per client (default 1024)\n"
	    "  --connect-timeout SECS   per-destination dial deadline (default 10)\n"
	    "  --handshake-timeout SECS TLS handshake deadline (default 10)\n"
	    "  --drain-timeout SECS     on SIGTERM, wait this long for streams (default 5)\n"
	    "Speed:\n"
	    "  --busy-poll USECS        after a wake-up, keep polling for events up to\n"
	    "                           USECS (at most 1000) before sleeping, while\n"
	    "                           events come that close: lower latency for more\n"
	    "                           CPU (default 0: never poll)\n"
	    "Logging:\n"
	    "  --log-level LEVEL        error, warn, info (default) or debug\n"
	    "  --debug=CATS             debug categories: mux,dns,tls or all\n"
	    "  --version                print the version and exit\n"
	    "  --help                   print this help and exit\n");
}

/* Parses a positive number of seconds (decimals allowed) into ms. */
static int
server_parse_secs(const char *s, unsigned min_ms, unsigned *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v != v || v < 0 || v > 86400.0)
		return -EINVAL;
	if ((unsigned)(v * 1000.0) < min_ms)
		return -ERANGE;
	*ret_ms = (unsigned)(v * 1000.0);
	return 0;
}

static int
server_parse_count(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0 || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/*
 * Validates one CIDR ("10.96.0.0/12", "fd00::/64"): the address must be
 * exactly the network (no host bits), the prefix within the family's size.
 */
static int
server_check_cidr(const char *cidr, size_t len, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	uint8_t addr[16];
	unsigned long prefix;
	int family, bits;

	if (len == 0 || len >= sizeof(buf)) {
		*why = "not ADDRESS/PREFIX";
		return -EINVAL;
	}
	memcpy(buf, cidr, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (!slash || slash[1] == '\0') {
		*why = "missing /PREFIX";
		return -EINVAL;
	}
	*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		family = AF_INET6;
		bits = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -EINVAL;
	}
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] == '-' || slash[1] == '+' ||
	    prefix > (unsigned long)bits) {
		*why = family == AF_INET ? "prefix must be 0..32"
		                         : "prefix must be 0..128";
		return -EINVAL;
	}
	for (int i = (int)prefix; i < bits; i++) {
		if (addr[i / 8] & (0x80u >> (i % 8))) {
			*why = "host bits set (give the network address)";
			return -EINVAL;
		}
	}
	return 0;
}

static int
server_check_subnets(const char *list)
{
	const char *p = list;
	unsigned n = 0;

	for (;;) {
		size_t len = strcspn(p, ",");
		const char *why = NULL;

		if (++n > SERVER_MAX_SUBNETS) {
			log_err("--subnets: more than %d subnets",
			    SERVER_MAX_SUBNETS);
			return -EINVAL;
		}
		if (server_check_cidr(p, len, &why) < 0) {
			log_err("--subnets: \"%.*s\" is not a valid CIDR: %s",
			    (int)len, p, why);
			return -EINVAL;
		}
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* A DNS name: dot-separated labels of letters, digits and '-'. */
static bool
server_domain_ok(const char *s, size_t max)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* The namespace: the flag, the service account's file, else "default". */
static int
server_namespace(const char *flag, char *out, size_t cap)
{
	FILE *f;
	size_t n;

	if (flag) {
		snprintf(out, cap, "%s", flag);
	} else {
		f = fopen(SERVER_SA_NAMESPACE_FILE, "re");
		n = f ? fread(out, 1, cap - 1, f) : 0;
		if (f)
			fclose(f);
		out[n] = '\0';
		out[strcspn(out, " \t\r\n")] = '\0';
		if (!out[0])
			snprintf(out, cap, "default");
	}
	if (strlen(out) > 63 || !server_domain_ok(out, 63) ||
	    strchr(out, '.')) {
		log_err("namespace \"%s\" is not a valid Kubernetes namespace "
		        "name (a DNS label of at most 63 characters)",
		    out);
		return -EINVAL;
	}
	return 0;
}

/* Parses --listen: "0.0.0.0:8443", "[::]:8443"; the port is required. */
static int
server_parse_listen(const char *addr, struct server_opts *o)
{
	int len = (int)sizeof(o->listen_ss);

	memset(&o->listen_ss, 0, sizeof(o->listen_ss));
	if (evutil_parse_sockaddr_port(
	        addr, (struct sockaddr *)&o->listen_ss, &len) < 0 ||
	    (o->listen_ss.ss_family == AF_INET &&
	        ((struct sockaddr_in *)&o->listen_ss)->sin_port == 0) ||
	    (o->listen_ss.ss_family == AF_INET6 &&
	        ((struct sockaddr_in6 *)&o->listen_ss)->sin6_port == 0)) {
		log_err("--listen: \"%s\" is not ADDR:PORT (e.g. 0.0.0.0:8443 "
		        "or [::]:8443)",
		    addr);
		return -EINVAL;
	}
	o->listen_len = len;
	return 0;
}

static int
server_parse_args(int argc, char **argv, struct server_opts *o)
{
	enum {
		OPT_LISTEN = 256,
		OPT_TLS_DIR,
		OPT_SUBNETS,
		OPT_ENV_FILE,
		OPT_NAMESPACE,
		OPT_CLUSTER_DOMAIN,
		OPT_RESOLV_CONF,
		OPT_DNS_SERVERS,
		OPT_LOG_LEVEL,
		OPT_DEBUG,
		OPT_DRAIN,
		OPT_CONNECT,
		OPT_HANDSHAKE,
		OPT_MAX_SESSIONS,
		OPT_MAX_STREAMS,
		OPT_BUSY_POLL,
		OPT_VERSION,
		OPT_HELP,
	};
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"tls-dir", required_argument, NULL, OPT_TLS_DIR},
	    {"subnets", required_argument, NULL, OPT_SUBNETS},
	    {"env-file", required_argument, NULL, OPT_ENV_FILE},
	    {"namespace", required_argument, NULL, OPT_NAMESPACE},
	    {"cluster-domain", required_argument, NULL, OPT_CLUSTER_DOMAIN},
	    {"resolv-conf", required_argument, NULL, OPT_RESOLV_CONF},
	    {"dns-servers", required_argument, NULL, OPT_DNS_SERVERS},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"debug", required_argument, NULL, OPT_DEBUG},
	    {"drain-timeout", required_argument, NULL, OPT_DRAIN},
	    {"connect-timeout", required_argument, NULL, OPT_CONNECT},
	    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE},
	    {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
	    {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
	    {"busy-poll", required_argument, NULL, OPT_BUSY_POLL},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = 0;

		switch (c) {
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_TLS_DIR:
			o->tls_dir = optarg;
			break;
		case OPT_SUBNETS:
			o->subnets = optarg;
			break;
		case OPT_ENV_FILE:
			o->env_file = optarg;
			break;
		case OPT_NAMESPACE:
			o->namespace_name = optarg;
			break;
		case OPT_CLUSTER_DOMAIN:
			o->cluster_domain = optarg;
			break;
		case OPT_RESOLV_CONF:
			o->resolv_conf = optarg;
			break;
		case OPT_DNS_SERVERS:
			o->dns_servers = optarg;
			break;
		case OPT_LOG_LEVEL:
			r = log_parse_level(optarg, &o->level);
			if (r < 0)
				log_err(
				    "--log-level: unknown level \"%s\" (use "
				    "error, warn, info or debug)",
				    optarg);
			break;
		case OPT_DEBUG:
			r = log_parse_debug(optarg, &o->debug_cats);
			if (r < 0)
				log_err("--debug: unknown category in \"%s\" "
				        "(use mux, dns, tls or all)",
				    optarg);
			break;
		case OPT_DRAIN:
			r = server_parse_secs(optarg, 0, &o->drain_ms);
			if (r < 0)
				log_err(
				    "--drain-timeout: \"%s\" is not a number "
				    "of seconds (0..86400)",
				    optarg);
			break;
		case OPT_CONNECT:
			r = server_parse_secs(optarg, 100, &o->connect_ms);
			if (r < 0)
				log_err("--connect-timeout: \"%s\" is not a "
				        "number of seconds (0.1..86400)",
				    optarg);
			break;
		case OPT_HANDSHAKE:
			r = server_parse_secs(optarg, 100, &o->handshake_ms);
			if (r < 0)
				log_err("--handshake-timeout: \"%s\" is not a "
				        "number of seconds (0.1..86400)",
				    optarg);
			break;
		case OPT_MAX_SESSIONS:
			r = server_parse_count(optarg, 65536, &o->max_sessions);
			if (r < 0)
				log_err(
				    "--max-sessions: \"%s\" is not a number "
				    "1..65536",
				    optarg);
			break;
		case OPT_MAX_STREAMS:
			r = server_parse_count(
			    optarg, MUX_DEFAULT_MAX_STREAMS, &o->max_streams);
			if (r < 0)
				log_err("--max-streams: \"%s\" is not a number "
				        "1..%u",
				    optarg, MUX_DEFAULT_MAX_STREAMS);
			break;
		case OPT_BUSY_POLL:
			r = evloop_parse_poll(optarg, &o->busy_poll_us);
			if (r < 0)
				log_err(
				    "--busy-poll: \"%s\" is not a number of "
				    "microseconds 0..%u",
				    optarg, EVLOOP_MAX_POLL_US);
			break;
		case OPT_VERSION:
			printf(SERVER_NAME " %s\n", PACKAGE_VERSION);
			exit(0);
		case OPT_HELP:
			server_usage(stdout);
			exit(0);
		default:
			log_err("unknown or incomplete option \"%s\"; see "
			        "--help",
			    argv[optind - 1]);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		log_err("unexpected argument \"%s\"; see --help", argv[optind]);
		return -EINVAL;
	}
	if (!o->listen || !o->tls_dir) {
		log_err("--listen and --tls-dir are required; see --help");
		return -EINVAL;
	}
	if (server_parse_listen(o->listen, o) < 0)
		return -EINVAL;
	if (o->subnets && server_check_subnets(o->subnets) < 0)
		return -EINVAL;
	if (!server_domain_ok(o->cluster_domain, 253)) {
		log_err("--cluster-domain: \"%s\" is not a DNS domain",
		    o->cluster_domain);
		return -EINVAL;
	}
	return 0;
}

/* --- sessions -------------------------------------------------------- */

static void
server_remove(struct server *srv, struct session *s)
{
	for (unsigned i = 0; i < srv->n_sessions; i++) {
		if (srv->sessions[i] == s) {
			srv->sessions[i] = srv->sessions[--srv->n_sessions];
			srv->sessions[srv->n_sessions] = NULL;
			return;
		}
	}
}

static void
server_on_session_closed(struct session *s, void *arg)
{
	struct server *srv = arg;

	server_remove(srv, s);
	session_free(s);
	if (srv->draining && srv->n_sessions == 0) {
		log_info("all sessions ended; exiting");
		event_base_loopexit(srv->base, NULL);
	}
}

static void
server_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	struct session *s = NULL;
	char peer[64];
	unsigned id = ++srv->next_id;

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa,
	    (size_t)socklen < sizeof(ss) ? (size_t)socklen : sizeof(ss));
	addr_format((struct sockaddr *)&ss, peer, sizeof(peer));
	if (srv->draining) {
		close(fd);
		return;
	}
	if (srv->n_sessions >= srv->max_sessions) {
		log_info("session %u: refused %s: too many sessions (%u, "
		         "--max-sessions)",
		    id, peer, srv->max_sessions);
		close(fd);
		return;
	}
	bev = tlsconf_bufferevent_accept(srv->base, srv->ctx, fd);
	if (!bev) {
		log_warn("session %u: refused %s: out of memory", id, peer);
		return;
	}
	log_debug(LOG_CAT_TLS, "session %u: connection from %s", id, peer);
	if (session_new(&srv->scfg, id, peer, bev, true,
	        server_on_session_closed, srv, &s) < 0) {
		log_warn("session %u: refused %s: out of memory", id, peer);
		return;
	}
	srv->sessions[srv->n_sessions++] = s;
}

static void
server_on_relisten(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	if (srv->listener && !srv->draining)
		evconnlistener_enable(srv->listener);
}

static void
server_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *srv = arg;
	static const struct timeval pause = {1, 0};
	int err = EVUTIL_SOCKET_ERROR();

	/* Out of descriptors: pause accepting rather than spin. */
	log_warn("accept: %s; pausing for 1 s", strerror(err));
	evconnlistener_disable(l);
	evtimer_add(srv->ev_relisten, &pause);
}

/* --- shutdown -------------------------------------------------------- */

static void
server_close_all(struct server *srv)
{
	while (srv->n_sessions > 0) {
		struct session *s = srv->sessions[--srv->n_sessions];

		srv->sessions[srv->n_sessions] = NULL;
		session_free(s);
	}
}

static void
server_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	log_warn("drain timeout: closing %u session(s) with open streams",
	    srv->n_sessions);
	server_close_all(srv);
	event_base_loopexit(srv->base, NULL);
}

static void
server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct session **snap;
	unsigned n = srv->n_sessions;
	struct timeval tv = {(time_t)(srv->drain_ms / 1000),
	    (suseconds_t)(srv->drain_ms % 1000) * 1000};

	if (srv->draining) {
		log_info("%s again: exiting now", strsignal((int)sig));
		server_close_all(srv);
		event_base_loopexit(srv->base, NULL);
		return;
	}
	srv->draining = true;
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	log_info("%s: stopped accepting; draining %u session(s) for up to "
	         "%u ms",
	    strsignal((int)sig), n, srv->drain_ms);
	if (n == 0) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	/* A session in its handshake ends inside session_goaway and leaves
	 * the array: walk a copy. */
	snap = calloc(n, sizeof(*snap));
	if (!snap) {
		server_close_all(srv);
		event_base_loopexit(srv->base, NULL);
		return;
	}
	memcpy(snap, srv->sessions, n * sizeof(*snap));
	evtimer_add(srv->ev_drain, &tv);
	for (unsigned i = 0; i < n; i++)
		session_goaway(snap[i], "server shutting down");
	free(snap);
}

/* --- start-up -------------------------------------------------------- */

static int
server_listen(struct server *srv, const struct server_opts *o)
{
	srv->listener = evconnlistener_new_bind(srv->base, server_on_accept,
	    srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    128, (const struct sockaddr *)&o->listen_ss, o->listen_len);
	if (!srv->listener) {
		int err = errno;

		log_err("cannot listen on %s: %s", o->listen, strerror(err));
		return -err;
	}
	evconnlistener_set_error_cb(srv->listener, server_on_accept_error);
	return 0;
}

int
main(int argc, char **argv)
{
	struct server_opts o = {.cluster_domain = "cluster.local",
	    .drain_ms = SERVER_DEFAULT_DRAIN_MS,
	    .connect_ms = DIAL_DEFAULT_TIMEOUT_MS,
	    .handshake_ms = SESSION_DEFAULT_HANDSHAKE_MS,
	    .max_sessions = SERVER_DEFAULT_MAX_SESSIONS,
	    .max_streams = SESSION_DEFAULT_MAX_STREAMS,
	    .busy_poll_us = EVLOOP_DEFAULT_POLL_US,
	    .level = LOG_LEVEL_INFO};
	struct server srv;
	struct env env;
	struct env_error eerr = {0};
	struct resolver_config rcfg = {0};
	struct mux_kv ext[6], *env_kv = NULL;
	size_t n_ext = 0;
	char ns[256], search[FRAME_MAX_EXT_VALUE + 1], software[64];
	char err[TLSCONF_ERROR_MAX];
	int r, status = 1;

	memset(&srv, 0, sizeof(srv));
	env_init(&env);
	log_init(SERVER_NAME, LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (server_parse_args(argc, argv, &o) < 0)
		return SERVER_EXIT_USAGE;
	log_set_level(o.level);
	if (o.debug_cats)
		log_set_debug(o.debug_cats);

	/* The environment to hand out. */
	if (o.env_file) {
		r = env_load_file(&env, o.env_file, &eerr);
		if (r < 0) {
			if (eerr.line)
				log_err("--env-file %s: line %zu: %s",
				    o.env_file, eerr.line, eerr.why);
			else
				log_err("--env-file %s: %s", o.env_file,
				    eerr.why ? eerr.why : strerror(-r));
			goto out;
		}
	} else {
		r = env_collect(&env, environ);
		if (r < 0) {
			log_err(
			    "cannot collect the environment: %s", strerror(-r));
			goto out;
		}
		if (r > 0)
			log_warn("%d environment variable(s) left out: over "
			         "the ENV_REPLY limits (256 KiB, 4096 entries)",
			    r);
	}
	env_kv = calloc(env.n ? env.n : 1, sizeof(*env_kv));
	if (!env_kv) {
		log_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < env.n; i++)
		env_kv[i] =
		    (struct mux_kv){env.vars[i].name, env.vars[i].value};

	if (server_namespace(o.namespace_name, ns, sizeof(ns)) < 0)
		goto out;

	r = tlsconf_server_ctx_new(o.tls_dir, &srv.ctx, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		goto out;
	}

	srv.base = event_base_new();
	if (!srv.base) {
		log_err("cannot create the event loop");
		goto out;
	}
	rcfg.resolv_conf = o.resolv_conf;
	rcfg.servers = o.dns_servers;
	r = resolver_new(srv.base, &rcfg, &srv.resolver);
	if (r < 0) {
		log_err("cannot start the DNS resolver (%s%s%s): %s",
		    o.resolv_conf ? o.resolv_conf : "/etc/resolv.conf",
		    o.dns_servers ? ", --dns-servers " : "",
		    o.dns_servers ? o.dns_servers : "", strerror(-r));
		goto out;
	}
	r = resolver_search_list(srv.resolver, search, sizeof(search));
	if (r < 0) {
		log_warn("DNS search list too long for HELLO; not sent");
		search[0] = '\0';
	}

	snprintf(
	    software, sizeof(software), SERVER_NAME "/%s", PACKAGE_VERSION);
	ext[n_ext++] = (struct mux_kv){"software", software};
	ext[n_ext++] = (struct mux_kv){"namespace", ns};
	ext[n_ext++] = (struct mux_kv){"cluster-domain", o.cluster_domain};
	if (search[0])
		ext[n_ext++] = (struct mux_kv){"dns-search", search};
	if (o.subnets)
		ext[n_ext++] = (struct mux_kv){"subnets", o.subnets};

	session_config_init(&srv.scfg);
	srv.scfg.base = srv.base;
	srv.scfg.resolver = srv.resolver;
	srv.scfg.hello_ext = ext;
	srv.scfg.n_hello_ext = n_ext;
	srv.scfg.env = env_kv;
	srv.scfg.n_env = env.n;
	srv.scfg.dial_timeout_ms = o.connect_ms;
	srv.scfg.handshake_ms = o.handshake_ms;
	srv.scfg.max_streams = o.max_streams;
	srv.max_sessions = o.max_sessions;
	srv.drain_ms = o.drain_ms;
	srv.sessions = calloc(o.max_sessions, sizeof(*srv.sessions));
	srv.ev_term = evsignal_new(srv.base, SIGTERM, server_on_signal, &srv);
	srv.ev_int = evsignal_new(srv.base, SIGINT, server_on_signal, &srv);
	srv.ev_drain = evtimer_new(srv.base, server_on_drain_timeout, &srv);
	srv.ev_relisten = evtimer_new(srv.base, server_on_relisten, &srv);
	if (!srv.sessions || !srv.ev_term || !srv.ev_int || !srv.ev_drain ||
	    !srv.ev_relisten || event_add(srv.ev_term, NULL) < 0 ||
	    event_add(srv.ev_int, NULL) < 0) {
		log_err("out of memory");
		goto out;
	}
	if (server_listen(&srv, &o) < 0)
		goto out;

	log_info("listening on %s: TLS 1.3, client certificates signed by "
	         "%s/ca.crt; namespace %s, cluster domain %s, search \"%s\", "
	         "subnets %s, %zu environment variables%s",
	    o.listen, o.tls_dir, ns, o.cluster_domain, search,
	    o.subnets ? o.subnets : "(none)", env.n,
	    o.env_file ? " from --env-file" : "");
	if (evloop_run(srv.base, o.busy_poll_us) < 0) {
		log_err("event loop failed");
		goto out;
	}
	status = 0;
out:
	server_close_all(&srv);
	if (srv.listener)
		evconnlistener_free(srv.listener);
	if (srv.ev_term)
		event_free(srv.ev_term);
	if (srv.ev_int)
		event_free(srv.ev_int);
	if (srv.ev_drain)
		event_free(srv.ev_drain);
	if (srv.ev_relisten)
		event_free(srv.ev_relisten);
	free(srv.sessions);
	resolver_free(srv.resolver);
	if (srv.base)
		event_base_free(srv.base);
	if (srv.ctx)
		SSL_CTX_free(srv.ctx);
	free(env_kv);
	env_clear(&env);
	return status;
}
