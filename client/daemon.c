/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon: telepodd's state and its control handlers. Each connected
 * namespace is a daemon_conn wrapping a conn; a connect request holds its
 * control client until the conn's first attempt ends, a quit request until
 * every conn it closes has drained, an env request until the server's
 * ENV_REPLY (or the conn's timeout). The SOCKS entry asks daemon_route
 * which session serves a destination.
 *
 * TUN mode: a connect without no_tun keeps its route flags on the
 * daemon_conn; when the first attempt succeeds, client/vpn sets up the
 * device, routes and DNS for the namespace before the connect is
 * answered. Later state changes move the namespace's DNS zone and routes
 * to the new session (or to none while reconnecting), and closing the
 * conn detaches the namespace before the conn is freed.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "client/cidr.h"
#include "client/conn.h"
#include "client/ctl.h"
#include "client/daemon.h"
#include "client/socksd.h"
#include "client/tun.h"
#include "client/vpn.h"
#include "common/certs.h"
#include "common/log.h"
#include "common/tlsconf.h"

#define DAEMON_MAX_TLS_DIR     4095
#define DAEMON_MAX_SERVER_NAME 253
/* Most prefixes in each route member of a connect request. */
#define DAEMON_MAX_CIDRS 64

struct daemon_conn {
	TAILQ_ENTRY(daemon_conn) link;
	struct daemon *d;
	struct conn *conn;
	bool no_tun;
	bool closing;
	struct ctl_client *connect_client; /* until the first attempt ends */
	/* TUN mode: what connect asked for, and whether vpn holds the
	 * namespace. */
	char tun_name[TUN_NAME_MAX];
	struct cidr_list also_proxy;
	struct cidr_list never_proxy;
	struct cidr_list allow_conflicting;
	bool in_vpn;
};

struct daemon_quit {
	TAILQ_ENTRY(daemon_quit) link;
	struct ctl_client *client;
	cJSON *names; /* the namespaces being closed */
	size_t n_wait;
	struct daemon_conn **wait;
};

TAILQ_HEAD(daemon_conns, daemon_conn);
TAILQ_HEAD(daemon_quits, daemon_quit);

struct daemon {
	struct event_base *base;
	struct ctl_server *ctl;
	struct socksd *socks;
	struct evdns_base *dns;
	struct vpn *vpn; /* NULL without a ledger: no TUN mode */
	struct daemon_conns conns;
	struct daemon_quits quits;
	size_t n_conns;
	long long started_ms;
	struct daemon_config cfg;
	char socks_addr[SOCKSD_MAX_ADDR];
	bool stopping;
	struct event *stop_ev;
	void (*stop_done)(void *arg);
	void *stop_arg;
};

/* ---- helpers ---- */

static struct daemon_conn *
daemon_find(struct daemon *d, const char *ns)
{
	struct daemon_conn *dc;

	TAILQ_FOREACH(dc, &d->conns, link)
	{
		if (strcmp(conn_namespace(dc->conn), ns) == 0)
			return dc;
	}
	return NULL;
}

/* Adds the items of a sep-separated list to a new JSON array. */
static cJSON *
daemon_split_array(const char *s, char sep)
{
	cJSON *arr = cJSON_CreateArray();
	const char *p = s;

	if (!arr || !s)
		return arr;
	while (*p) {
		const char *e = strchr(p, sep);
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char item[256];

		/* Trim blanks around items ("a, b"). */
		while (n > 0 && (*p == ' ' || *p == ',')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == ','))
			n--;
		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			cJSON_AddItemToArray(arr, cJSON_CreateString(item));
		}
		if (!e)
			break;
		p = e + 1;
	}
	return arr;
}

bool
daemon_name_namespace(const char *name, char *out, size_t cap)
{
	const char *labels[128];
	size_t lens[128], n = 0, len = strlen(name);
	const char *p = name;

	while (len > 0 && name[len - 1] == '.')
		len--;
	while (p < name + len && n < sizeof(labels) / sizeof(*labels)) {
		const char *dot = memchr(p, '.', (size_t)(name + len - p));
		size_t l = dot ? (size_t)(dot - p) : (size_t)(name + len - p);

		labels[n] = p;
		lens[n] = l;
		n++;
		if (!dot)
			break;
		p = dot + 1;
	}
	if (n < 2)
		return false;
	for (size_t i = n - 1; i >= 1; i--) {
		if ((lens[i] == 3 &&
		        (strncasecmp(labels[i], "svc", 3) == 0 ||
		            strncasecmp(labels[i], "pod", 3) == 0))) {
			if (lens[i - 1] + 1 > cap)
				return false;
			memcpy(out, labels[i - 1], lens[i - 1]);
			out[lens[i - 1]] = '\0';
			return ctl_valid_namespace(out);
		}
	}
	if (lens[n - 1] + 1 > cap)
		return false;
	memcpy(out, labels[n - 1], lens[n - 1]);
	out[lens[n - 1]] = '\0';
	return ctl_valid_namespace(out);
}

/* socksd's router: which session serves dst. */
static struct mux_session *
daemon_route(const struct frame_addr *dst, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *dc, *pick = NULL;
	char ns[64];

	if (d->n_conns > 1 && dst->type == WIRE_ADDR_NAME &&
	    daemon_name_namespace(dst->a.name, ns, sizeof(ns)))
		pick = daemon_find(d, ns);
	if (!pick) {
		TAILQ_FOREACH_REVERSE(dc, &d->conns, daemon_conns, link)
		{
			if (!dc->closing) {
				pick = dc;
				break;
			}
		}
	}
	if (!pick || pick->closing)
		return NULL;
	return conn_session(pick->conn);
}

static void
daemon_maybe_stopped(struct daemon *d)
{
	if (d->stopping && TAILQ_EMPTY(&d->conns))
		event_active(d->stop_ev, EV_TIMEOUT, 0);
}

/* Removes the namespace's routes and DNS (TUN mode), if it has them. */
static void
daemon_conn_detach(struct daemon_conn *dc)
{
	if (!dc->in_vpn)
		return;
	vpn_detach(dc->d->vpn, conn_namespace(dc->conn));
	dc->in_vpn = false;
}

static void
daemon_conn_free(struct daemon_conn *dc)
{
	struct daemon *d = dc->d;

	TAILQ_REMOVE(&d->conns, dc, link);
	d->n_conns--;
	/* Routes and DNS go before the session: the stub must not keep
	 * queries for a session that is freed. */
	daemon_conn_detach(dc);
	conn_free(dc->conn);
	cidr_list_clear(&dc->also_proxy);
	cidr_list_clear(&dc->never_proxy);
	cidr_list_clear(&dc->allow_conflicting);
	free(dc);
}

/* A quit request waited for dc: tick it off and answer when all are. */
static void
daemon_quits_closed(struct daemon *d, struct daemon_conn *dc)
{
	struct daemon_quit *q, *tmp;

	for (q = TAILQ_FIRST(&d->quits); q; q = tmp) {
		tmp = TAILQ_NEXT(q, link);
		for (size_t i = 0; i < q->n_wait; i++) {
			if (q->wait[i] == dc) {
				q->wait[i] = q->wait[q->n_wait - 1];
				q->n_wait--;
				break;
			}
		}
		if (q->n_wait == 0) {
			cJSON *resp = ctl_ok_new();

			TAILQ_REMOVE(&d->quits, q, link);
			if (resp)
				cJSON_AddItemToObject(
				    resp, "disconnected", q->names);
			else
				cJSON_Delete(q->names);
			ctl_reply(q->client, resp, true);
			free(q->wait);
			free(q);
		}
	}
}

static void
daemon_conn_closed(struct conn *c, void *arg)
{
	struct daemon_conn *dc = arg;
	struct daemon *d = dc->d;

	log_info("%s: disconnected", conn_namespace(c));
	/* The machine is as before when `quit` is answered. */
	daemon_conn_detach(dc);
	daemon_quits_closed(d, dc);
	daemon_conn_free(dc);
	daemon_maybe_stopped(d);
}

static void
daemon_conn_close(struct daemon_conn *dc, const char *code, const char *why)
{
	if (dc->connect_client) {
		ctl_reply_error(dc->connect_client, code, "%s", why);
		dc->connect_client = NULL;
	}
	if (dc->closing)
		return;
	dc->closing = true;
	conn_close(dc->conn, daemon_conn_closed, dc);
}

/* ---- conn callbacks ---- */

static void
daemon_on_progress(struct conn *c, const char *stage, void *arg)
{
	struct daemon_conn *dc = arg;
	cJSON *resp;

	if (!dc->connect_client)
		return;
	resp = ctl_ok_new();
	if (resp)
		cJSON_AddStringToObject(resp, "progress", stage);
	ctl_reply(dc->connect_client, resp, false);
}

/* Sets up TUN mode for the session that just came up. Returns 0, or a
 * negative errno with a sentence in err. */
static int
daemon_vpn_attach(struct daemon_conn *dc, char *err, size_t errlen)
{
	struct daemon *d = dc->d;
	const struct mux_peer_info *peer = conn_peer(dc->conn);
	struct vpn_params p;
	int r;

	if (!d->vpn) {
		snprintf(err, errlen,
		    "this telepodd runs without TUN mode (no state directory); connect with --no-tun");
		return -EOPNOTSUPP;
	}
	daemon_on_progress(dc->conn, "tun", dc);
	memset(&p, 0, sizeof(p));
	p.ns = conn_namespace(dc->conn);
	p.tun_name = dc->tun_name[0] ? dc->tun_name : NULL;
	p.cluster_domain = peer ? peer->cluster_domain : NULL;
	p.subnets = peer ? peer->subnets : NULL;
	p.also_proxy = &dc->also_proxy;
	p.never_proxy = &dc->never_proxy;
	p.allow_conflicting = &dc->allow_conflicting;
	p.session = conn_session(dc->conn);
	r = vpn_attach(d->vpn, &p, err, errlen);
	if (r == 0)
		dc->in_vpn = true;
	return r;
}

static void
daemon_on_first(struct conn *c, const char *code, const char *msg, void *arg)
{
	struct daemon_conn *dc = arg;
	struct daemon *d = dc->d;
	struct ctl_client *client = dc->connect_client;
	const struct mux_peer_info *peer;
	char err[VPN_ERROR_MAX];
	cJSON *resp;

	if (!code && !dc->no_tun &&
	    daemon_vpn_attach(dc, err, sizeof(err)) < 0) {
		/* The user asked for TUN mode: no half-working session. */
		log_warn("%s: %s", conn_namespace(c), err);
		daemon_conn_close(dc, CTL_E_NETWORK, err);
		return;
	}
	dc->connect_client = NULL;
	if (code) {
		if (client)
			ctl_reply_error(client, code, "%s", msg);
		daemon_quits_closed(d, dc);
		daemon_conn_free(dc);
		daemon_maybe_stopped(d);
		return;
	}
	if (!client)
		return;
	peer = conn_peer(c);
	resp = ctl_ok_new();
	if (!resp) {
		ctl_reply(client, NULL, true);
		return;
	}
	cJSON_AddBoolToObject(resp, "connected", true);
	cJSON_AddStringToObject(resp, "namespace", conn_namespace(c));
	/* Nothing is routed without the TUN device; vpn_describe replaces
	 * these two when there is one. */
	cJSON_AddItemToObject(resp, "subnets", cJSON_CreateArray());
	cJSON_AddBoolToObject(resp, "tun", false);
	cJSON_AddStringToObject(resp, "socks", d->socks_addr);
	cJSON_AddItemToObject(resp, "cluster_subnets",
	    daemon_split_array(peer ? peer->subnets : NULL, ','));
	if (dc->in_vpn)
		vpn_describe(d->vpn, conn_namespace(c), resp);
	ctl_reply(client, resp, true);
}

static void
daemon_on_state(struct conn *c, enum conn_state state, void *arg)
{
	struct daemon_conn *dc = arg;

	log_info("%s: %s", conn_namespace(c), conn_state_name(state));
	if (dc->in_vpn)
		vpn_set_session(dc->d->vpn, conn_namespace(c),
		    state == CONN_CONNECTED ? conn_session(c) : NULL);
}

static void
daemon_on_dns_answer(struct conn *c, struct mux_session *s, uint32_t id,
    uint32_t error, const uint8_t *msg, size_t len, void *arg)
{
	struct daemon_conn *dc = arg;

	if (dc->d->vpn)
		vpn_dns_answer(dc->d->vpn, s, id, error, msg, len);
}

static const struct conn_callbacks daemon_conn_cbs = {
    .on_progress = daemon_on_progress,
    .on_first = daemon_on_first,
    .on_state = daemon_on_state,
    .on_dns_answer = daemon_on_dns_answer,
};

/* ---- handlers ---- */

static void
daemon_cmd_version(struct ctl_client *client, const struct ctl_peer *peer,
    const cJSON *req, void *arg)
{
	cJSON *resp = ctl_ok_new();

	if (resp) {
		cJSON_AddStringToObject(resp, "version", PACKAGE_VERSION);
		cJSON_AddNumberToObject(resp, "protocol", CTL_PROTOCOL);
	}
	ctl_reply(client, resp, true);
}

/*
 * A caller other than root may only use a client key it owns: root reads
 * the files, and must not lend another user's identity to the caller.
 */
static bool
daemon_tls_dir_allowed(const char *dir, uid_t uid, char *err, size_t errlen)
{
	char path[DAEMON_MAX_TLS_DIR + 32];
	struct stat st;

	if (uid == 0)
		return true;
	snprintf(path, sizeof(path), "%s/%s", dir, CERTS_CLIENT_KEY);
	if (stat(path, &st) < 0)
		return true; /* tlsconf_client_ctx_new names the missing file */
	if (st.st_uid == uid)
		return true;
	snprintf(err, errlen,
	    "%s belongs to uid %u, not to you (uid %u): telepodd uses only client keys owned by the user who connects; copy the TLS directory to one you own",
	    path, (unsigned)st.st_uid, (unsigned)uid);
	return false;
}

/*
 * Reads the optional array member name of prefixes ("10.96.0.0/12") into
 * l. Returns 0, or -EINVAL with a sentence in err.
 */
static int
daemon_get_cidrs(const cJSON *req, const char *name, struct cidr_list *l,
    char *err, size_t errlen)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(req, name);
	const cJSON *it;
	int n = 0;

	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > DAEMON_MAX_CIDRS)
		goto bad;
	cJSON_ArrayForEach(it, arr)
	{
		struct cidr c;
		bool host_bits;

		if (!cJSON_IsString(it) ||
		    strlen(it->valuestring) >= CIDR_STR_MAX ||
		    cidr_parse(it->valuestring, &c, &host_bits) < 0 ||
		    host_bits || cidr_list_add(l, &c) < 0)
			goto bad;
		n++;
	}
	return n;
bad:
	snprintf(err, errlen,
	    "\"%s\" must be an array of at most %d prefixes like \"10.96.0.0/12\" (no host bits set)",
	    name, DAEMON_MAX_CIDRS);
	return -EINVAL;
}

/* The TUN members of a connect request, into dc. Returns 0, or -EINVAL
 * with a sentence in err. */
static int
daemon_get_tun_params(
    const cJSON *req, struct daemon_conn *dc, char *err, size_t errlen)
{
	const char *name;

	if (ctl_get_string(req, "tun_name", TUN_NAME_MAX - 1, &name) < 0 ||
	    (name && (!name[0] || strchr(name, '/') || strchr(name, ':') ||
	                 strchr(name, ' ')))) {
		snprintf(err, errlen,
		    "\"tun_name\" must be an interface name of 1 to %d characters",
		    TUN_NAME_MAX - 1);
		return -EINVAL;
	}
	if (name)
		snprintf(dc->tun_name, sizeof(dc->tun_name), "%s", name);
	if (daemon_get_cidrs(req, "also_proxy", &dc->also_proxy, err, errlen) <
	        0 ||
	    daemon_get_cidrs(
	        req, "never_proxy", &dc->never_proxy, err, errlen) < 0 ||
	    daemon_get_cidrs(req, "allow_conflicting", &dc->allow_conflicting,
	        err, errlen) < 0)
		return -EINVAL;
	if (dc->no_tun && (name || dc->also_proxy.n || dc->never_proxy.n ||
	                      dc->allow_conflicting.n)) {
		snprintf(err, errlen,
		    "\"no_tun\" routes nothing: it cannot come with \"tun_name\", \"also_proxy\", \"never_proxy\" or \"allow_conflicting\"");
		return -EINVAL;
	}
	return 0;
}

static void
daemon_cmd_connect(struct ctl_client *client, const struct ctl_peer *peer,
    const cJSON *req, void *arg)
{
	struct daemon *d = arg;
	const char *server, *tls_dir, *ns, *server_name;
	bool no_tun;
	long timeout_s;
	char err[DAEMON_MAX_TLS_DIR + TLSCONF_ERROR_MAX + 256];
	struct conn_params params;
	struct daemon_conn *dc;
	SSL_CTX *ctx = NULL;
	int r;

	if (ctl_get_string(req, "server", CONN_MAX_SERVER, &server) < 0 ||
	    !server || !*server) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"server\" must be a string HOST:PORT of at most %d bytes",
		    CONN_MAX_SERVER);
		return;
	}
	if (ctl_get_string(req, "tls_dir", DAEMON_MAX_TLS_DIR, &tls_dir) < 0 ||
	    !tls_dir || tls_dir[0] != '/') {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"tls_dir\" must be an absolute directory path of at most %d bytes",
		    DAEMON_MAX_TLS_DIR);
		return;
	}
	if (ctl_get_string(req, "namespace", 63, &ns) < 0 ||
	    !ctl_valid_namespace(ns)) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"namespace\" must be a Kubernetes namespace name (1 to 63 of a-z, 0-9, '-', not starting or ending with '-')");
		return;
	}
	if (ctl_get_bool(req, "no_tun", false, &no_tun) < 0) {
		ctl_reply_error(
		    client, CTL_E_BAD_REQUEST, "\"no_tun\" must be a boolean");
		return;
	}
	if (ctl_get_string(
	        req, "server_name", DAEMON_MAX_SERVER_NAME, &server_name) < 0) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"server_name\" must be a string of at most %d bytes",
		    DAEMON_MAX_SERVER_NAME);
		return;
	}
	if (ctl_get_int(req, "timeout_s", 1, 600, 30, &timeout_s) < 0) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"timeout_s\" must be an integer from 1 to 600");
		return;
	}
	if (d->stopping) {
		ctl_reply_error(client, CTL_E_BUSY, "telepodd is stopping");
		return;
	}
	dc = daemon_find(d, ns);
	if (dc) {
		ctl_reply_error(client, CTL_E_ALREADY_CONNECTED,
		    "namespace \"%s\" already has a session (to %s, %s); disconnect it first with `telepod quit -n %s`",
		    ns, conn_server(dc->conn),
		    conn_state_name(conn_get_state(dc->conn)), ns);
		return;
	}
	if (!daemon_tls_dir_allowed(tls_dir, peer->uid, err, sizeof(err))) {
		ctl_reply_error(client, CTL_E_TLS_FILES, "%s", err);
		return;
	}
	r = tlsconf_client_ctx_new(
	    tls_dir, server_name, &ctx, err, sizeof(err));
	if (r < 0) {
		ctl_reply_error(client, CTL_E_TLS_FILES, "%s", err);
		return;
	}
	dc = calloc(1, sizeof(*dc));
	if (!dc) {
		SSL_CTX_free(ctx);
		ctl_reply(client, NULL, true);
		return;
	}
	dc->no_tun = no_tun;
	cidr_list_init(&dc->also_proxy);
	cidr_list_init(&dc->never_proxy);
	cidr_list_init(&dc->allow_conflicting);
	if (daemon_get_tun_params(req, dc, err, sizeof(err)) < 0) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST, "%s", err);
		goto fail_dc;
	}
	if (!no_tun && !d->vpn) {
		ctl_reply_error(client, CTL_E_NETWORK,
		    "this telepodd runs without TUN mode; connect with --no-tun");
		goto fail_dc;
	}
	memset(&params, 0, sizeof(params));
	params.namespace_name = ns;
	params.server = server;
	params.ssl_ctx = ctx;
	params.dns = d->dns;
	params.owner = peer->uid;
	params.first_timeout_ms = (unsigned)timeout_s * 1000;
	params.backoff_min_ms = d->cfg.backoff_min_ms;
	params.backoff_max_ms = d->cfg.backoff_max_ms;
	params.dead_peer_ms = d->cfg.dead_peer_ms;
	params.ping_interval_ms = d->cfg.ping_interval_ms;
	params.no_yield = d->cfg.no_yield;
	err[0] = '\0';
	r = conn_new(d->base, &params, &daemon_conn_cbs, dc, &dc->conn, err,
	    sizeof(err));
	SSL_CTX_free(ctx);
	ctx = NULL;
	if (r < 0) {
		if (r == -EINVAL)
			ctl_reply_error(client, CTL_E_BAD_REQUEST, "%s", err);
		else
			ctl_reply(client, NULL, true);
		goto fail_dc;
	}
	dc->d = d;
	dc->connect_client = client;
	TAILQ_INSERT_TAIL(&d->conns, dc, link);
	d->n_conns++;
	log_info("%s: connecting to %s for uid %u%s", ns, server,
	    (unsigned)peer->uid, no_tun ? " (no TUN)" : "");
	return;
fail_dc:
	SSL_CTX_free(ctx);
	cidr_list_clear(&dc->also_proxy);
	cidr_list_clear(&dc->never_proxy);
	cidr_list_clear(&dc->allow_conflicting);
	free(dc);
}

static cJSON *
daemon_conn_json(struct daemon_conn *dc, bool details)
{
	struct conn *c = dc->conn;
	const struct mux_peer_info *peer = conn_peer(c);
	struct conn_stats st;
	cJSON *o = cJSON_CreateObject();
	long long now = conn_now_ms();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "namespace", conn_namespace(c));
	cJSON_AddStringToObject(o, "state", conn_state_name(conn_get_state(c)));
	cJSON_AddNumberToObject(o, "owner_uid", (double)conn_owner(c));
	if (!details)
		return o;
	conn_get_stats(c, &st);
	cJSON_AddStringToObject(o, "server", conn_server(c));
	cJSON_AddItemToObject(o, "subnets", cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "streams_open", (double)st.streams_open);
	cJSON_AddNumberToObject(o, "streams_total", (double)st.streams_total);
	cJSON_AddNumberToObject(o, "bytes_in", (double)st.bytes_in);
	cJSON_AddNumberToObject(o, "bytes_out", (double)st.bytes_out);
	cJSON_AddNumberToObject(o, "uptime_s",
	    st.connected_ms ? (double)((now - st.connected_ms) / 1000) : 0);
	cJSON_AddNumberToObject(o, "reconnects", st.reconnects);
	cJSON_AddStringToObject(o, "last_error", conn_last_error(c));
	cJSON_AddBoolToObject(o, "tun", false);
	if (dc->in_vpn)
		vpn_describe(dc->d->vpn, conn_namespace(c), o);
	/* What the server's HELLO said. */
	cJSON_AddItemToObject(o, "cluster_subnets",
	    daemon_split_array(peer ? peer->subnets : NULL, ','));
	cJSON_AddItemToObject(o, "dns_search",
	    daemon_split_array(peer ? peer->dns_search : NULL, ' '));
	if (peer && peer->namespace_name)
		cJSON_AddStringToObject(
		    o, "server_namespace", peer->namespace_name);
	if (peer && peer->cluster_domain)
		cJSON_AddStringToObject(
		    o, "cluster_domain", peer->cluster_domain);
	if (peer && peer->software)
		cJSON_AddStringToObject(o, "server_software", peer->software);
	return o;
}

static void
daemon_cmd_status(struct ctl_client *client, const struct ctl_peer *peer,
    const cJSON *req, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *dc;
	cJSON *resp = ctl_ok_new(), *dj, *arr;

	if (!resp) {
		ctl_reply(client, NULL, true);
		return;
	}
	dj = cJSON_AddObjectToObject(resp, "daemon");
	arr = cJSON_AddArrayToObject(resp, "connections");
	if (!dj || !arr) {
		cJSON_Delete(resp);
		ctl_reply(client, NULL, true);
		return;
	}
	cJSON_AddStringToObject(dj, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(dj, "pid", (double)getpid());
	cJSON_AddNumberToObject(
	    dj, "uptime_s", (double)((conn_now_ms() - d->started_ms) / 1000));
	cJSON_AddStringToObject(dj, "socks", d->socks_addr);
	TAILQ_FOREACH(dc, &d->conns, link)
	{
		cJSON_AddItemToArray(
		    arr, daemon_conn_json(dc,
		             ctl_may_command(peer->uid, conn_owner(dc->conn))));
	}
	ctl_reply(client, resp, true);
}

static void
daemon_cmd_quit(struct ctl_client *client, const struct ctl_peer *peer,
    const cJSON *req, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *dc;
	struct daemon_quit *q;
	const char *ns;
	size_t n = 0;

	if (ctl_get_string(req, "namespace", 63, &ns) < 0 ||
	    (ns && !ctl_valid_namespace(ns))) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"namespace\" must be a Kubernetes namespace name");
		return;
	}
	if (ns) {
		dc = daemon_find(d, ns);
		if (!dc) {
			ctl_reply_error(client, CTL_E_NOT_CONNECTED,
			    "no session for namespace \"%s\"", ns);
			return;
		}
		if (!ctl_may_command(peer->uid, conn_owner(dc->conn))) {
			ctl_reply_error(client, CTL_E_FORBIDDEN,
			    "the session for namespace \"%s\" belongs to uid %u; only that user or root may disconnect it",
			    ns, (unsigned)conn_owner(dc->conn));
			return;
		}
	}
	q = calloc(1, sizeof(*q));
	if (q) {
		q->names = cJSON_CreateArray();
		q->wait = calloc(d->n_conns ? d->n_conns : 1, sizeof(*q->wait));
	}
	if (!q || !q->names || !q->wait) {
		if (q) {
			cJSON_Delete(q->names);
			free(q->wait);
			free(q);
		}
		ctl_reply(client, NULL, true);
		return;
	}
	q->client = client;
	TAILQ_FOREACH(dc, &d->conns, link)
	{
		if (ns ? strcmp(conn_namespace(dc->conn), ns) != 0
		       : !ctl_may_command(peer->uid, conn_owner(dc->conn)))
			continue;
		q->wait[n++] = dc;
		cJSON_AddItemToArray(
		    q->names, cJSON_CreateString(conn_namespace(dc->conn)));
	}
	q->n_wait = n;
	TAILQ_INSERT_TAIL(&d->quits, q, link);
	if (n == 0) {
		daemon_quits_closed(d, NULL);
		return;
	}
	/* Closing may finish synchronously for none of them (done comes
	 * from the loop), so the list is stable while we walk it. */
	for (size_t i = 0; i < n; i++) {
		log_info("%s: disconnecting (asked by uid %u)",
		    conn_namespace(q->wait[i]->conn), (unsigned)peer->uid);
		daemon_conn_close(q->wait[i], CTL_E_NOT_CONNECTED,
		    "the connection was cancelled by `telepod quit`");
	}
}

static void
daemon_env_cb(struct conn *c, uint32_t error, const struct frame *f, void *arg)
{
	struct ctl_client *client = arg;
	struct frame_env_iter it;
	struct frame_kv kv;
	cJSON *resp, *env;

	if (error != WIRE_OK) {
		switch (error) {
		case WIRE_ERR_TIMEOUT:
			ctl_reply_error(client, CTL_E_TIMEOUT,
			    "the server did not send the environment of namespace \"%s\" within %d s",
			    conn_namespace(c), CONN_ENV_TIMEOUT_MS / 1000);
			break;
		case WIRE_ERR_SHUTDOWN:
			ctl_reply_error(client, CTL_E_NOT_CONNECTED,
			    "the session for namespace \"%s\" closed before the server answered",
			    conn_namespace(c));
			break;
		case WIRE_ERR_UNSUPPORTED:
			ctl_reply_error(client, CTL_E_PROTOCOL,
			    "the server for namespace \"%s\" does not serve environments",
			    conn_namespace(c));
			break;
		default:
			ctl_reply_error(client, CTL_E_PROTOCOL,
			    "the server could not send the environment of namespace \"%s\": %s",
			    conn_namespace(c), wire_error_text(error));
			break;
		}
		return;
	}
	resp = ctl_ok_new();
	env = resp ? cJSON_AddObjectToObject(resp, "env") : NULL;
	if (!env) {
		cJSON_Delete(resp);
		ctl_reply(client, NULL, true);
		return;
	}
	cJSON_AddStringToObject(resp, "namespace", conn_namespace(c));
	frame_env_iter_init(&it, f);
	while (frame_env_next(&it, &kv)) {
		char *name = strndup(kv.name, kv.name_len);
		char *value = malloc(kv.value_len + 1);

		if (name && value) {
			memcpy(value, kv.value, kv.value_len);
			value[kv.value_len] = '\0';
			cJSON_DeleteItemFromObjectCaseSensitive(env, name);
			cJSON_AddStringToObject(env, name, value);
			OPENSSL_cleanse(value, kv.value_len);
		}
		free(name);
		free(value);
	}
	ctl_reply(client, resp, true);
}

static void
daemon_cmd_env(struct ctl_client *client, const struct ctl_peer *peer,
    const cJSON *req, void *arg)
{
	struct daemon *d = arg;
	struct daemon_conn *dc;
	const char *ns;
	int r;

	if (ctl_get_string(req, "namespace", 63, &ns) < 0 || !ns ||
	    !ctl_valid_namespace(ns)) {
		ctl_reply_error(client, CTL_E_BAD_REQUEST,
		    "\"namespace\" is required: a Kubernetes namespace name");
		return;
	}
	dc = daemon_find(d, ns);
	if (!dc || dc->closing) {
		ctl_reply_error(client, CTL_E_NOT_CONNECTED,
		    "no session for namespace \"%s\"; connect it first with `telepod connect -n %s ...`",
		    ns, ns);
		return;
	}
	if (!ctl_may_command(peer->uid, conn_owner(dc->conn))) {
		ctl_reply_error(client, CTL_E_FORBIDDEN,
		    "the session for namespace \"%s\" belongs to uid %u; only that user or root may read its environment",
		    ns, (unsigned)conn_owner(dc->conn));
		return;
	}
	r = conn_env_request(dc->conn, daemon_env_cb, client);
	if (r == 0)
		return;
	switch (r) {
	case -ENOTCONN:
		ctl_reply_error(client, CTL_E_NOT_CONNECTED,
		    "the session for namespace \"%s\" is %s; try again when it is connected",
		    ns, conn_state_name(conn_get_state(dc->conn)));
		break;
	case -EOPNOTSUPP:
		ctl_reply_error(client, CTL_E_PROTOCOL,
		    "the server for namespace \"%s\" does not serve environments",
		    ns);
		break;
	default:
		ctl_reply_error(client, CTL_E_INTERNAL,
		    "cannot ask for the environment: %s", strerror(-r));
		break;
	}
}

static const struct ctl_command daemon_commands[] = {
    {"version", daemon_cmd_version},
    {"connect", daemon_cmd_connect},
    {"status", daemon_cmd_status},
    {"quit", daemon_cmd_quit},
    {"env", daemon_cmd_env},
};

static const struct ctl_handlers daemon_handlers = {
    .commands = daemon_commands,
    .n_commands = sizeof(daemon_commands) / sizeof(*daemon_commands),
};

/* ---- life cycle ---- */

static void
daemon_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->stop_done)
		d->stop_done(d->stop_arg);
}

int
daemon_new(struct event_base *base, const struct daemon_config *cfg,
    struct daemon **ret_daemon, char *err, size_t errlen)
{
	struct daemon *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base = base;
	d->cfg = *cfg;
	d->cfg.socket_path = NULL;
	d->cfg.socks_addr = NULL;
	d->cfg.state_dir = NULL;
	d->started_ms = conn_now_ms();
	TAILQ_INIT(&d->conns);
	TAILQ_INIT(&d->quits);
	d->stop_ev = event_new(base, -1, 0, daemon_stop_cb, d);
	if (!d->stop_ev) {
		r = -ENOMEM;
		goto fail;
	}
	if (cfg->ledger) {
		struct vpn_config vcfg = {
		    .ledger = cfg->ledger,
		    .state_dir = cfg->state_dir,
		    .resolver = cfg->resolver,
		    .no_fast_path = cfg->no_fast_path,
		};

		r = vpn_new(base, &vcfg, &d->vpn);
		if (r < 0)
			goto fail;
	}
	r = socksd_new(base, cfg->socks_addr, NULL, daemon_route, d, &d->socks,
	    err, errlen);
	if (r < 0)
		goto fail;
	snprintf(d->socks_addr, sizeof(d->socks_addr), "%s",
	    socksd_address(d->socks));
	d->ctl = ctl_server_new(base, cfg->socket_path,
	    cfg->socket_mode ? cfg->socket_mode : 0660, cfg->socket_gid,
	    &daemon_handlers, d, err, errlen);
	if (!d->ctl) {
		r = -EIO;
		goto fail;
	}
	/* Names of servers are resolved without blocking the loop. A
	 * missing resolv.conf leaves numeric hosts and /etc/hosts. */
	d->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!d->dns)
		log_warn("no DNS resolver: servers must be given as addresses");
	*ret_daemon = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

void
daemon_stop(struct daemon *d, void (*done)(void *arg), void *arg)
{
	struct daemon_conn *dc, *tmp;

	d->stop_done = done;
	d->stop_arg = arg;
	if (d->stopping)
		return;
	d->stopping = true;
	ctl_server_free(d->ctl);
	d->ctl = NULL;
	socksd_free(d->socks);
	d->socks = NULL;
	for (dc = TAILQ_FIRST(&d->conns); dc; dc = tmp) {
		tmp = TAILQ_NEXT(dc, link);
		daemon_conn_close(dc, CTL_E_BUSY, "telepodd is stopping");
	}
	daemon_maybe_stopped(d);
}

void
daemon_free(struct daemon *d)
{
	struct daemon_conn *dc;
	struct daemon_quit *q;

	if (!d)
		return;
	while ((dc = TAILQ_FIRST(&d->conns))) {
		if (dc->connect_client)
			ctl_reply_error(dc->connect_client, CTL_E_BUSY,
			    "telepodd is stopping");
		dc->connect_client = NULL;
		daemon_conn_free(dc);
	}
	while ((q = TAILQ_FIRST(&d->quits))) {
		cJSON *resp = ctl_ok_new();

		TAILQ_REMOVE(&d->quits, q, link);
		if (resp)
			cJSON_AddItemToObject(resp, "disconnected", q->names);
		else
			cJSON_Delete(q->names);
		ctl_reply(q->client, resp, true);
		free(q->wait);
		free(q);
	}
	/* After the conns: they detach from it as they go. */
	vpn_free(d->vpn);
	socksd_free(d->socks);
	ctl_server_free(d->ctl);
	if (d->dns)
		evdns_base_free(d->dns, 0);
	if (d->stop_ev)
		event_free(d->stop_ev);
	free(d);
}

const char *
daemon_socks_address(const struct daemon *d)
{
	return d->socks_addr;
}

size_t
daemon_conn_count(const struct daemon *d)
{
	return d->n_conns;
}
