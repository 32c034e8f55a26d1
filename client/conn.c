/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn: one telepodd connection to a telepod-server, for one namespace.
 *
 * An attempt walks resolve -> TCP connect -> TLS handshake -> mux HELLO;
 * each stage owns one resource (a DNS request, a connecting socket, a TLS
 * bufferevent, a mux session) and a deadline covers the whole attempt. The
 * first attempt reports to on_first and is never retried (the user is
 * waiting for a clear answer). Once a session was up, any drop (carrier
 * error, keepalive timeout, server GOAWAY) frees the session, whose
 * streams the mux resets towards the applications, and schedules another
 * attempt with capped, jittered exponential backoff until conn_close.
 *
 * Re-entrancy: user callbacks may call conn_free. Every entry point from
 * the loop or the mux brackets its work with conn_enter/conn_leave; a free
 * requested meanwhile only marks the conn dead, and the last leave
 * destroys it. Code that called a user callback checks c->dead before
 * touching anything else.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "client/conn.h"
#include "common/log.h"
#include "common/tlsconf.h"

/* Addresses of the server tried in order within one attempt. */
#define CONN_MAX_ADDRS 8
#define CONN_ERR_MAX   768

struct conn_env {
	struct conn_env *next;
	struct conn *c;
	uint32_t id;
	conn_env_cb cb;
	void *arg;
	struct event *timer;
};

struct conn {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx;
	char *ns;
	char *server;
	char *host;
	char port_str[8];
	uid_t owner;
	struct conn_callbacks cbs;
	void *arg;
	unsigned first_timeout_ms;
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
	unsigned ping_interval_ms;
	unsigned dead_peer_ms;
	bool no_yield;
	unsigned close_drain_ms;

	enum conn_state state;
	bool first_done; /* on_first was called */
	int busy;        /* conn_enter depth */
	bool dead;       /* conn_free was called */

	/* The attempt in progress. */
	bool attempting;
	struct evdns_getaddrinfo_request *dns_req;
	bool dns_sync; /* the resolver answered inside evdns_getaddrinfo */
	struct sockaddr_storage addrs[CONN_MAX_ADDRS];
	socklen_t addr_lens[CONN_MAX_ADDRS];
	size_t n_addrs;
	size_t next_addr;
	evutil_socket_t fd;
	struct event *connect_ev;
	struct bufferevent *tls_bev; /* until the mux takes it */
	struct mux_session *session;
	struct bufferevent *carrier; /* borrowed: the session's */
	bool ready;
	long long attempt_deadline_ms;
	struct event *attempt_timer;
	int last_errno;

	/* Between attempts. */
	struct event *retry_timer;
	unsigned fails; /* failed attempts since the last drop */

	/* conn_close */
	struct event *close_timer;
	struct event *done_ev;
	void (*close_done)(struct conn *c, void *arg);
	void *close_arg;

	/* What the last session's HELLO said (owned copies). */
	struct mux_peer_info peer;
	bool have_peer;

	struct conn_stats totals; /* of sessions already freed */
	unsigned sessions;
	char last_error[CONN_ERR_MAX];
	struct conn_env *envs;
};

static void conn_attempt_start(struct conn *c);
static void conn_attempt_fail(struct conn *c, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
static void conn_destroy(struct conn *c);

long long
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned
conn_backoff_ms(unsigned n, unsigned min_ms, unsigned max_ms, double random)
{
	unsigned long long d = min_ms;

	if (random < 0 || random >= 1)
		random = 0;
	for (unsigned i = 0; i < n && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Uniform in [d/2, d]: spreads many daemons coming back after one
	 * server restart, never waits longer than the cap. */
	return (
	    unsigned)(d / 2 +
	              (unsigned long long)(random * (double)(d - d / 2) + 0.5));
}

static double
conn_random(void)
{
	uint32_t r;

	evutil_secure_rng_get_bytes(&r, sizeof(r));
	return (double)r / 4294967296.0;
}

const char *
conn_state_name(enum conn_state state)
{
	switch (state) {
	case CONN_CONNECTING:
		return "connecting";
	case CONN_CONNECTED:
		return "connected";
	case CONN_RECONNECTING:
		return "reconnecting";
	case CONN_CLOSING:
		return "closing";
	case CONN_CLOSED:
		return "closed";
	}
	return "unknown";
}

static void
conn_enter(struct conn *c)
{
	c->busy++;
}

/* Returns false when c was destroyed (or is dead): stop touching it. */
static bool
conn_leave(struct conn *c)
{
	if (--c->busy == 0 && c->dead) {
		conn_destroy(c);
		return false;
	}
	return !c->dead;
}

static void
timeval_ms(struct timeval *tv, long long ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
conn_set_error(struct conn *c, const char *msg)
{
	snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
}

static void
conn_progress(struct conn *c, const char *stage)
{
	if (c->first_done || !c->cbs.on_progress)
		return;
	c->cbs.on_progress(c, stage, c->arg);
}

static void
conn_peer_clear(struct mux_peer_info *p)
{
	free(p->software);
	free(p->namespace_name);
	free(p->cluster_domain);
	free(p->dns_search);
	free(p->subnets);
	free(p->server_time);
	memset(p, 0, sizeof(*p));
}

static char *
conn_strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
conn_peer_copy(struct conn *c, const struct mux_peer_info *p)
{
	conn_peer_clear(&c->peer);
	c->peer.role = p->role;
	c->peer.proto = p->proto;
	c->peer.caps = p->caps;
	c->peer.conn_window = p->conn_window;
	c->peer.software = conn_strdup_or_null(p->software);
	c->peer.namespace_name = conn_strdup_or_null(p->namespace_name);
	c->peer.cluster_domain = conn_strdup_or_null(p->cluster_domain);
	c->peer.dns_search = conn_strdup_or_null(p->dns_search);
	c->peer.subnets = conn_strdup_or_null(p->subnets);
	c->peer.server_time = conn_strdup_or_null(p->server_time);
	c->have_peer = true;
}

/* Fails every pending env request with error (the session is going). */
static void
conn_envs_fail(struct conn *c, uint32_t error)
{
	while (c->envs) {
		struct conn_env *e = c->envs;

		c->envs = e->next;
		event_free(e->timer);
		if (c->session && !mux_session_is_closed(c->session))
			mux_cancel_env_request(c->session, e->id);
		e->cb(c, error, NULL, e->arg);
		free(e);
	}
}

/* Frees the session (if any), folding its counters into the totals. */
static void
conn_drop_session(struct conn *c)
{
	struct mux_stats st;

	if (!c->session)
		return;
	conn_envs_fail(c, WIRE_ERR_SHUTDOWN);
	mux_session_stats(c->session, &st);
	c->totals.streams_total += st.streams_total;
	c->totals.bytes_in += st.bytes_in;
	c->totals.bytes_out += st.bytes_out;
	mux_session_free(c->session);
	c->session = NULL;
	c->carrier = NULL;
	c->ready = false;
}

/* Releases everything the current attempt holds. */
static void
conn_attempt_clear(struct conn *c)
{
	if (c->dns_req) {
		struct evdns_getaddrinfo_request *req = c->dns_req;

		c->dns_req = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	if (c->connect_ev) {
		event_free(c->connect_ev);
		c->connect_ev = NULL;
	}
	if (c->fd >= 0) {
		evutil_closesocket(c->fd);
		c->fd = -1;
	}
	if (c->tls_bev) {
		bufferevent_free(c->tls_bev);
		c->tls_bev = NULL;
	}
	if (c->attempt_timer)
		event_del(c->attempt_timer);
	conn_drop_session(c);
	c->attempting = false;
}

static void
conn_schedule_retry(struct conn *c)
{
	unsigned ms = conn_backoff_ms(
	    c->fails, c->backoff_min_ms, c->backoff_max_ms, conn_random());
	struct timeval tv;

	c->fails++;
	timeval_ms(&tv, ms);
	event_add(c->retry_timer, &tv);
	log_debug(LOG_CAT_MUX, "%s: next attempt in %u ms", c->ns, ms);
}

/*
 * The attempt failed. First attempt: report and go inert. Later ones:
 * remember why and try again after the backoff.
 */
static void
conn_attempt_fail(struct conn *c, const char *code, const char *fmt, ...)
{
	char msg[CONN_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_attempt_clear(c);
	conn_set_error(c, msg);
	if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
		return;
	if (!c->first_done) {
		c->first_done = true;
		c->state = CONN_CLOSED;
		log_info(
		    "%s: connecting to %s failed: %s", c->ns, c->server, msg);
		if (c->cbs.on_first)
			c->cbs.on_first(c, code, msg, c->arg);
		return;
	}
	log_debug(LOG_CAT_MUX, "%s: reconnect to %s failed: %s", c->ns,
	    c->server, msg);
	conn_schedule_retry(c);
}

int
conn_parse_server_time(const char *s, long long *ret_epoch)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	static const int mdays[12] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int v[6] = {0}, field = 0;
	long long y, m, era, yoe, doy, doe;
	bool leap;

	/* The shape first: nothing beyond its 20 bytes is looked at. */
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] != 'd') {
			if (s[i] != shape[i])
				return -EINVAL;
			field++;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v[field] = v[field] * 10 + (s[i] - '0');
	}
	if (s[sizeof(shape) - 1] != '\0')
		return -EINVAL;
	y = v[0];
	m = v[1];
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m < 1 || m > 12 || v[2] < 1 || v[2] > mdays[m - 1] ||
	    (m == 2 && v[2] == 29 && !leap) || v[3] > 23 || v[4] > 59 ||
	    v[5] > 60)
		return -EINVAL;
	/* Days since 1970-01-01 from the civil date (H. Hinnant). */
	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + v[2] - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*ret_epoch = (era * 146097 + doe - 719468) * 86400 + v[3] * 3600LL +
	             v[4] * 60LL + v[5];
	return 0;
}

/* Warns when the server's clock (its HELLO's server-time) is far from
 * ours: TLS then fails or will fail on certificate validity. */
static void
conn_check_clock(struct conn *c, const char *server_time)
{
	long long t, skew;
	char esc[64];

	if (!server_time)
		return;
	if (conn_parse_server_time(server_time, &t) < 0) {
		log_debug(LOG_CAT_MUX, "%s: ignoring server-time \"%s\"", c->ns,
		    log_escape(
		        esc, sizeof(esc), server_time, strlen(server_time)));
		return;
	}
	skew = t - (long long)time(NULL);
	if (skew >= -CONN_MAX_CLOCK_SKEW_S && skew <= CONN_MAX_CLOCK_SKEW_S)
		return;
	log_warn("%s: this machine's clock is %lld s %s the clock of the "
	         "server at %s; certificates may look expired or not yet "
	         "valid: correct the time (NTP, timedatectl) here or on the "
	         "server",
	    c->ns, skew > 0 ? skew : -skew, skew > 0 ? "behind" : "ahead of",
	    c->server);
}

/* ---- mux callbacks ---- */

static void
conn_on_ready(
    struct mux_session *s, const struct mux_peer_info *peer, void *arg)
{
	struct conn *c = arg;
	char esc[128];

	conn_enter(c);
	if (s != c->session)
		goto out;
	c->ready = true;
	c->attempting = false;
	event_del(c->attempt_timer);
	conn_peer_copy(c, peer);
	c->fails = 0;
	c->sessions++;
	c->state = CONN_CONNECTED;
	if (peer->namespace_name && strcmp(peer->namespace_name, c->ns) != 0)
		log_warn("%s: the server at %s says it serves namespace \"%s\"",
		    c->ns, c->server,
		    log_escape(esc, sizeof(esc), peer->namespace_name,
		        strlen(peer->namespace_name)));
	conn_check_clock(c, peer->server_time);
	if (!c->first_done) {
		c->first_done = true;
		if (!c->totals.connected_ms)
			c->totals.connected_ms = conn_now_ms();
		log_info("%s: connected to %s", c->ns, c->server);
		if (c->cbs.on_first)
			c->cbs.on_first(c, NULL, NULL, c->arg);
	} else {
		c->totals.reconnects++;
		log_info("%s: reconnected to %s (reconnect %u)", c->ns,
		    c->server, c->totals.reconnects);
		if (c->cbs.on_state)
			c->cbs.on_state(c, CONN_CONNECTED, c->arg);
	}
out:
	conn_leave(c);
}

/* The code of a failed first attempt whose session ended before HELLO. */
static const char *
conn_code_for_wire(uint32_t error)
{
	switch (error) {
	case WIRE_ERR_PROTOCOL:
	case WIRE_ERR_FLOW_CONTROL:
	case WIRE_ERR_STREAM_CLOSED:
	case WIRE_ERR_FRAME_SIZE:
	case WIRE_ERR_BAD_VERSION:
	case WIRE_ERR_UNKNOWN_TYPE:
		return CONN_E_PROTOCOL;
	case WIRE_ERR_TIMEOUT:
		return CONN_E_TIMEOUT;
	case WIRE_ERR_SHUTDOWN:
	case WIRE_ERR_RESOURCE:
	case WIRE_ERR_PROHIBITED:
		return CONN_E_REFUSED; /* the server said no (GOAWAY) */
	default:
		return NULL; /* the carrier failed: ask TLS why */
	}
}

static void
conn_on_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
	struct conn *c = arg;
	char esc[512], tlsmsg[TLSCONF_ERROR_MAX];
	const char *code;

	conn_enter(c);
	if (s != c->session)
		goto out;
	log_escape(esc, sizeof(esc), reason ? reason : "",
	    reason ? strlen(reason) : 0);
	if (c->state == CONN_CLOSING) {
		/* Our GOAWAY drained. */
		conn_drop_session(c);
		c->state = CONN_CLOSED;
		event_del(c->close_timer);
		event_active(c->done_ev, EV_TIMEOUT, 0);
		goto out;
	}
	if (!c->ready) {
		/* Failed during the HELLO: a protocol mismatch, or the TLS
		 * connection broke (the server refusing our certificate shows
		 * up here with TLS 1.3). */
		code = conn_code_for_wire(error);
		if (code) {
			conn_attempt_fail(c, code,
			    "the server at %s ended the tunnel handshake: %s (%s)",
			    c->server, esc, wire_error_name(error));
		} else {
			tlsconf_describe_error(
			    c->carrier, tlsmsg, sizeof(tlsmsg));
			conn_attempt_fail(c, CONN_E_TLS,
			    "connection to %s failed before the tunnel hello: %s",
			    c->server, tlsmsg);
		}
		goto out;
	}
	/* A drop: streams were reset by the mux; go again. */
	log_warn("%s: connection to %s lost: %s (%s); reconnecting", c->ns,
	    c->server, esc, wire_error_name(error));
	snprintf(c->last_error, sizeof(c->last_error),
	    "connection lost: %s (%s)", esc, wire_error_name(error));
	conn_drop_session(c);
	c->state = CONN_RECONNECTING;
	c->fails = 0;
	conn_schedule_retry(c);
	if (c->cbs.on_state)
		c->cbs.on_state(c, CONN_RECONNECTING, c->arg);
out:
	conn_leave(c);
}

static void
conn_on_env_reply(struct mux_session *s, uint32_t id, uint32_t error,
    const struct frame *f, void *arg)
{
	struct conn *c = arg;
	struct conn_env **pp, *e;

	conn_enter(c);
	for (pp = &c->envs; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id)
			break;
	}
	e = *pp;
	if (!e)
		goto out;
	*pp = e->next;
	event_free(e->timer);
	e->cb(c, error, error == WIRE_OK ? f : NULL, e->arg);
	free(e);
out:
	conn_leave(c);
}

static void
conn_on_dns_answer(struct mux_session *s, uint32_t id, uint32_t error,
    const uint8_t *msg, size_t len, void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	if (c->cbs.on_dns_answer)
		c->cbs.on_dns_answer(c, s, id, error, msg, len, c->arg);
	conn_leave(c);
}

static const struct mux_callbacks conn_mux_cbs = {
    .on_ready = conn_on_ready,
    .on_closed = conn_on_closed,
    .on_dns_answer = conn_on_dns_answer,
    .on_env_reply = conn_on_env_reply,
};

/* ---- attempt stages ---- */

/* TLS done: hand the carrier to a mux session and wait for HELLO. */
static void
conn_start_session(struct conn *c)
{
	struct mux_config cfg;
	struct mux_kv ext[2];
	int r;

	mux_config_init(&cfg, WIRE_ROLE_CLIENT);
	ext[0].name = "software";
	ext[0].value = "telepod/" PACKAGE_VERSION;
	ext[1].name = "namespace";
	ext[1].value = c->ns;
	cfg.ext = ext;
	cfg.n_ext = 2;
	if (c->ping_interval_ms)
		cfg.ping_interval_ms = c->ping_interval_ms;
	if (c->dead_peer_ms)
		cfg.dead_peer_ms = c->dead_peer_ms;
	cfg.log_id = c->sessions + 1;
	cfg.yield_to_locals = !c->no_yield;
	r = mux_session_new(
	    c->base, c->tls_bev, &cfg, &conn_mux_cbs, c, &c->session);
	if (r < 0) {
		conn_attempt_fail(c, CONN_E_INTERNAL,
		    "cannot start the tunnel session: %s", strerror(-r));
		return;
	}
	c->carrier = c->tls_bev;
	c->tls_bev = NULL;
	conn_progress(c, "hello");
	if (c->dead)
		return;
	r = mux_session_start(c->session);
	if (r < 0)
		conn_attempt_fail(c, CONN_E_INTERNAL,
		    "cannot start the tunnel session: %s", strerror(-r));
}

static void
conn_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char msg[TLSCONF_ERROR_MAX];

	conn_enter(c);
	if (what & BEV_EVENT_CONNECTED) {
		conn_start_session(c);
	} else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		tlsconf_describe_error(bev, msg, sizeof(msg));
		conn_attempt_fail(c, CONN_E_TLS,
		    "TLS handshake with %s failed: %s", c->server, msg);
	}
	conn_leave(c);
}

static void conn_tcp_next(struct conn *c);

static const char *
conn_code_for_errno(int e)
{
	switch (e) {
	case ETIMEDOUT:
		return CONN_E_TIMEOUT;
	default:
		return CONN_E_REFUSED;
	}
}

static void
conn_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	conn_enter(c);
	if (what & EV_TIMEOUT) {
		err = ETIMEDOUT;
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		err = errno;
	}
	event_free(c->connect_ev);
	c->connect_ev = NULL;
	if (err) {
		c->last_errno = err;
		evutil_closesocket(c->fd);
		c->fd = -1;
		conn_tcp_next(c);
		goto out;
	}
	conn_progress(c, "tls");
	if (c->dead)
		goto out;
	c->tls_bev = tlsconf_bufferevent_connect(c->base, c->ssl_ctx, c->fd);
	c->fd = -1; /* owned by the TLS bufferevent (or lost with it) */
	if (!c->tls_bev) {
		conn_attempt_fail(
		    c, CONN_E_INTERNAL, "cannot set up TLS: out of memory");
		goto out;
	}
	bufferevent_setcb(c->tls_bev, NULL, NULL, conn_tls_event_cb, c);
	bufferevent_enable(c->tls_bev, EV_READ | EV_WRITE);
out:
	conn_leave(c);
}

/* Connects to the next resolved address, or fails the attempt. */
static void
conn_tcp_next(struct conn *c)
{
	struct timeval tv;
	long long left;
	int one = 1;

	while (c->next_addr < c->n_addrs) {
		size_t i = c->next_addr++;
		int fam = c->addrs[i].ss_family;

		c->fd =
		    socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			c->last_errno = errno;
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&c->addrs[i],
		        c->addr_lens[i]) < 0 &&
		    errno != EINPROGRESS) {
			c->last_errno = errno;
			evutil_closesocket(c->fd);
			c->fd = -1;
			continue;
		}
		c->connect_ev =
		    event_new(c->base, c->fd, EV_WRITE, conn_connect_cb, c);
		if (!c->connect_ev) {
			conn_attempt_fail(c, CONN_E_INTERNAL, "out of memory");
			return;
		}
		left = c->attempt_deadline_ms - conn_now_ms();
		if (c->first_done && left > CONN_RECONNECT_TCP_MS)
			left = CONN_RECONNECT_TCP_MS;
		timeval_ms(&tv, left);
		event_add(c->connect_ev, &tv);
		return;
	}
	conn_attempt_fail(c, conn_code_for_errno(c->last_errno),
	    "cannot connect to %s: %s%s", c->server,
	    strerror(c->last_errno ? c->last_errno : ECONNREFUSED),
	    c->last_errno == ECONNREFUSED
	        ? " (is telepod-server, or the port-forward to it, running?)"
	        : "");
}

static void
conn_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;

	/* Cancelled from conn_attempt_clear (possibly inside conn_destroy):
	 * touch nothing. */
	if (result == EVUTIL_EAI_CANCEL)
		return;
	conn_enter(c);
	c->dns_req = NULL;
	c->dns_sync = true;
	if (result != 0) {
		conn_attempt_fail(c, CONN_E_RESOLVE,
		    "cannot resolve %s: %s; check the server address", c->host,
		    evutil_gai_strerror(result));
		goto out;
	}
	c->n_addrs = 0;
	for (struct evutil_addrinfo *ai = res;
	     ai && c->n_addrs < CONN_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(c->addrs[0]))
			continue;
		memcpy(&c->addrs[c->n_addrs], ai->ai_addr, ai->ai_addrlen);
		c->addr_lens[c->n_addrs] = (socklen_t)ai->ai_addrlen;
		c->n_addrs++;
	}
	evutil_freeaddrinfo(res);
	res = NULL;
	c->next_addr = 0;
	c->last_errno = 0;
	conn_progress(c, "connecting");
	if (c->dead)
		goto out;
	conn_tcp_next(c);
out:
	if (res)
		evutil_freeaddrinfo(res);
	conn_leave(c);
}

/* Fills the address list from a literal host; false when host is a name. */
static bool
conn_literal_addr(struct conn *c)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&c->addrs[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->addrs[0];
	uint16_t port = (uint16_t)atoi(c->port_str);

	memset(&c->addrs[0], 0, sizeof(c->addrs[0]));
	if (evutil_inet_pton(AF_INET, c->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		c->addr_lens[0] = sizeof(*sin);
	} else if (evutil_inet_pton(AF_INET6, c->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		c->addr_lens[0] = sizeof(*sin6);
	} else {
		return false;
	}
	c->n_addrs = 1;
	c->next_addr = 0;
	return true;
}

static void
conn_attempt_start(struct conn *c)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	struct timeval tv;
	long long budget;

	budget = c->first_done ? CONN_RECONNECT_HANDSHAKE_MS
	                       : (long long)c->first_timeout_ms;
	c->attempting = true;
	c->attempt_deadline_ms = conn_now_ms() + budget;
	timeval_ms(&tv, budget);
	event_add(c->attempt_timer, &tv);
	c->last_errno = 0;
	if (conn_literal_addr(c)) {
		conn_progress(c, "connecting");
		if (c->dead)
			return;
		conn_tcp_next(c);
		return;
	}
	if (!c->dns) {
		conn_attempt_fail(c, CONN_E_RESOLVE,
		    "cannot resolve %s: no resolver configured", c->host);
		return;
	}
	conn_progress(c, "resolving");
	if (c->dead)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	c->dns_sync = false;
	req = evdns_getaddrinfo(
	    c->dns, c->host, c->port_str, &hints, conn_resolved_cb, c);
	/* The callback may already have run (a hosts-file name). */
	if (!c->dns_sync)
		c->dns_req = req;
}

static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	if ((c->state == CONN_CONNECTING || c->state == CONN_RECONNECTING) &&
	    !c->attempting)
		conn_attempt_start(c);
	conn_leave(c);
}

static void
conn_attempt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	if (c->attempting)
		conn_attempt_fail(c, CONN_E_TIMEOUT,
		    "connecting to %s timed out during the %s", c->server,
		    c->session   ? "tunnel hello"
		    : c->tls_bev ? "TLS handshake"
		    : c->fd >= 0 ? "TCP connect"
		                 : "name resolution");
	conn_leave(c);
}

static void
conn_close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_enter(c);
	if (c->state == CONN_CLOSING) {
		log_info(
		    "%s: streams still open after the drain deadline; closing",
		    c->ns);
		conn_drop_session(c);
		c->state = CONN_CLOSED;
		event_active(c->done_ev, EV_TIMEOUT, 0);
	}
	conn_leave(c);
}

static void
conn_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	void (*done)(struct conn *, void *) = c->close_done;

	conn_enter(c);
	c->close_done = NULL;
	if (done)
		done(c, c->close_arg);
	conn_leave(c);
}

/* Splits "HOST:PORT" / "[V6]:PORT". Returns 0 or -EINVAL. */
static int
conn_split_server(struct conn *c, const char *server)
{
	const char *colon, *host, *end;
	size_t hlen;
	char *e;
	long port;

	if (server[0] == '[') {
		end = strchr(server, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		host = server + 1;
		hlen = (size_t)(end - host);
		colon = end + 1;
	} else {
		colon = strrchr(server, ':');
		if (!colon || memchr(server, ':', (size_t)(colon - server)))
			return -EINVAL;
		host = server;
		hlen = (size_t)(colon - server);
	}
	if (hlen == 0 || hlen > WIRE_MAX_HOSTNAME)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &e, 10);
	if (colon[1] < '0' || colon[1] > '9' || *e || errno || port < 1 ||
	    port > 65535)
		return -EINVAL;
	c->host = strndup(host, hlen);
	if (!c->host)
		return -ENOMEM;
	snprintf(c->port_str, sizeof(c->port_str), "%ld", port);
	return 0;
}

int
conn_new(struct event_base *base, const struct conn_params *params,
    const struct conn_callbacks *cbs, void *arg, struct conn **ret_conn,
    char *err, size_t errlen)
{
	struct conn *c;
	struct timeval zero = {0, 0};
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->base = base;
	c->dns = params->dns;
	c->owner = params->owner;
	c->cbs = *cbs;
	c->arg = arg;
	c->first_timeout_ms =
	    params->first_timeout_ms ? params->first_timeout_ms : 30000;
	c->backoff_min_ms = params->backoff_min_ms ? params->backoff_min_ms
	                                           : CONN_BACKOFF_MIN_MS;
	c->backoff_max_ms = params->backoff_max_ms ? params->backoff_max_ms
	                                           : CONN_BACKOFF_MAX_MS;
	c->ping_interval_ms = params->ping_interval_ms;
	c->dead_peer_ms = params->dead_peer_ms;
	c->no_yield = params->no_yield;
	c->close_drain_ms = params->close_drain_ms ? params->close_drain_ms
	                                           : CONN_CLOSE_DRAIN_MS;
	c->state = CONN_CONNECTING;
	c->ns = strdup(params->namespace_name);
	c->server = strdup(params->server);
	if (!c->ns || !c->server) {
		r = -ENOMEM;
		goto fail;
	}
	if (strlen(c->server) > CONN_MAX_SERVER) {
		r = -EINVAL;
		snprintf(err, errlen, "server address is longer than %d bytes",
		    CONN_MAX_SERVER);
		goto fail;
	}
	r = conn_split_server(c, c->server);
	if (r < 0) {
		if (r == -EINVAL)
			snprintf(err, errlen,
			    "invalid server address \"%.64s\": expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535",
			    params->server);
		goto fail;
	}
	c->attempt_timer = evtimer_new(base, conn_attempt_timer_cb, c);
	c->retry_timer = evtimer_new(base, conn_retry_cb, c);
	c->close_timer = evtimer_new(base, conn_close_timer_cb, c);
	c->done_ev = event_new(base, -1, 0, conn_done_cb, c);
	if (!c->attempt_timer || !c->retry_timer || !c->close_timer ||
	    !c->done_ev) {
		r = -ENOMEM;
		goto fail;
	}
	SSL_CTX_up_ref(params->ssl_ctx);
	c->ssl_ctx = params->ssl_ctx;
	/* The first attempt starts from the loop, so that no callback runs
	 * inside conn_new. */
	event_add(c->retry_timer, &zero);
	*ret_conn = c;
	return 0;
fail:
	conn_destroy(c);
	return r;
}

static void
conn_destroy(struct conn *c)
{
	conn_attempt_clear(c);
	conn_envs_fail(c, WIRE_ERR_SHUTDOWN);
	if (c->attempt_timer)
		event_free(c->attempt_timer);
	if (c->retry_timer)
		event_free(c->retry_timer);
	if (c->close_timer)
		event_free(c->close_timer);
	if (c->done_ev)
		event_free(c->done_ev);
	if (c->ssl_ctx)
		SSL_CTX_free(c->ssl_ctx);
	conn_peer_clear(&c->peer);
	free(c->ns);
	free(c->server);
	free(c->host);
	free(c);
}

void
conn_free(struct conn *c)
{
	if (!c || c->dead)
		return;
	c->dead = true;
	c->state = CONN_CLOSED;
	if (c->busy) {
		/* Stop everything now; the memory goes at the last leave. */
		conn_attempt_clear(c);
		conn_envs_fail(c, WIRE_ERR_SHUTDOWN);
		event_del(c->retry_timer);
		event_del(c->close_timer);
		event_del(c->done_ev);
		return;
	}
	conn_destroy(c);
}

void
conn_close(struct conn *c, void (*done)(struct conn *c, void *arg), void *arg)
{
	struct timeval tv;

	c->close_done = done;
	c->close_arg = arg;
	if (c->state == CONN_CLOSING)
		return;
	event_del(c->retry_timer);
	if (c->state == CONN_CONNECTED && c->session) {
		/* CLOSING first: on_closed may come from inside the GOAWAY
		 * when nothing is left to drain. */
		conn_enter(c);
		c->state = CONN_CLOSING;
		conn_envs_fail(c, WIRE_ERR_SHUTDOWN);
		timeval_ms(&tv, c->close_drain_ms);
		event_add(c->close_timer, &tv);
		if (c->session &&
		    mux_session_goaway(c->session, WIRE_ERR_SHUTDOWN,
		        "the client is disconnecting") < 0 &&
		    c->state == CONN_CLOSING) {
			conn_drop_session(c);
			c->state = CONN_CLOSED;
			event_del(c->close_timer);
			event_active(c->done_ev, EV_TIMEOUT, 0);
		}
		conn_leave(c);
		return;
	}
	/* Nothing to drain. */
	if (c->state != CONN_CLOSED) {
		conn_attempt_clear(c);
		c->state = CONN_CLOSED;
	}
	event_active(c->done_ev, EV_TIMEOUT, 0);
}

enum conn_state
conn_get_state(const struct conn *c)
{
	return c->state;
}

const char *
conn_namespace(const struct conn *c)
{
	return c->ns;
}

const char *
conn_server(const struct conn *c)
{
	return c->server;
}

uid_t
conn_owner(const struct conn *c)
{
	return c->owner;
}

struct mux_session *
conn_session(const struct conn *c)
{
	if (c->state != CONN_CONNECTED || !c->ready)
		return NULL;
	return c->session;
}

const struct mux_peer_info *
conn_peer(const struct conn *c)
{
	return c->have_peer ? &c->peer : NULL;
}

void
conn_get_stats(const struct conn *c, struct conn_stats *ret)
{
	struct conn_stats st = c->totals;
	struct mux_stats ms;

	if (c->session) {
		mux_session_stats(c->session, &ms);
		st.streams_open = ms.streams_open;
		st.streams_total += ms.streams_total;
		st.bytes_in += ms.bytes_in;
		st.bytes_out += ms.bytes_out;
	}
	*ret = st;
}

const char *
conn_last_error(const struct conn *c)
{
	return c->last_error;
}

static void
conn_env_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_env *e = arg;
	struct conn *c = e->c;
	struct conn_env **pp;

	conn_enter(c);
	for (pp = &c->envs; *pp && *pp != e; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = e->next;
		if (c->session)
			mux_cancel_env_request(c->session, e->id);
		event_free(e->timer);
		e->cb(c, WIRE_ERR_TIMEOUT, NULL, e->arg);
		free(e);
	}
	conn_leave(c);
}

int
conn_env_request(struct conn *c, conn_env_cb cb, void *arg)
{
	struct mux_session *s = conn_session(c);
	struct conn_env *e;
	struct timeval tv;
	int r;

	if (!s)
		return -ENOTCONN;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->timer = evtimer_new(c->base, conn_env_timer_cb, e);
	if (!e->timer) {
		free(e);
		return -ENOMEM;
	}
	r = mux_send_env_request(s, &e->id);
	if (r < 0) {
		event_free(e->timer);
		free(e);
		return r;
	}
	e->c = c;
	e->cb = cb;
	e->arg = arg;
	e->next = c->envs;
	c->envs = e;
	timeval_ms(&tv, CONN_ENV_TIMEOUT_MS);
	event_add(e->timer, &tv);
	return 0;
}
