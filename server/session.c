/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session: one client of telepod-server, from the accepted socket to the
 * end of its mux session.
 *
 * Life cycle: HANDSHAKE (TLS; an absolute deadline so a silent TCP client
 * cannot hold a slot) -> RUNNING (the mux owns the connection) -> CLOSED
 * (the owner's callback ran; only session_free is left).
 *
 * Streams: the mux hands us each peer OPEN. A struct session_stream follows
 * it through resolve (names only) and dial, then mux_stream_accept gives
 * the connected socket to the mux, which relays both ways. The stream's
 * MUX_STREAM_CLOSED event is the single place per-stream state is freed;
 * it cancels whatever lookup or dial is still running, so a client that
 * gives up (RESET, or the session dying) never leaks a half-done dial.
 * mux_stream_reject calls MUX_STREAM_CLOSED before it returns: after a
 * reject the session_stream is gone.
 *
 * DNS queries are tracked in a list so that a session that ends cancels its
 * outstanding c-ares requests.
 */
#include "server/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/tlsconf.h"
#include "proto/wire.h"
#include "server/dial.h"
#include "server/dnsmsg.h"
#include "server/resolver.h"

/* "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define SESSION_TIME_MAX 21

enum session_state {
	SESSION_HANDSHAKE,
	SESSION_RUNNING,
	SESSION_CLOSED,
};

struct session_stream {
	struct session *s; /* NULL once the session was freed */
	struct mux_stream *st;
	unsigned session_id;
	uint32_t id;
	struct resolver_req *rq;
	struct dial *dial;
	char dst[WIRE_MAX_HOSTNAME + 16]; /* "name:port" (names are LDH) */
	struct session_stream *prev, *next;
};

struct session_dns {
	struct session *s;
	uint32_t id;
	struct resolver_req *rq;
	struct session_dns *prev, *next;
};

struct session {
	const struct session_config *cfg;
	unsigned id;
	char peer[64];
	enum session_state state;
	struct bufferevent *carrier; /* during the handshake only */
	struct event *hs_timer;
	struct mux_session *mux;
	struct session_stream *streams;
	struct session_dns *dns;
	unsigned n_dns;
	session_closed_cb cb;
	void *arg;
};

void
session_config_init(struct session_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dial_timeout_ms = DIAL_DEFAULT_TIMEOUT_MS;
	cfg->max_streams = SESSION_DEFAULT_MAX_STREAMS;
	cfg->handshake_ms = SESSION_DEFAULT_HANDSHAKE_MS;
	cfg->max_dns_pending = SESSION_DEFAULT_MAX_DNS_PENDING;
}

unsigned
session_id(const struct session *s)
{
	return s->id;
}

unsigned
session_stream_count(const struct session *s)
{
	return s->mux ? mux_session_stream_count(s->mux) : 0;
}

bool
session_is_established(const struct session *s)
{
	return s->mux != NULL;
}

/* Ends the session once: the owner frees it from its callback or later. */
static void
session_closed(struct session *s)
{
	if (s->state == SESSION_CLOSED)
		return;
	s->state = SESSION_CLOSED;
	if (s->hs_timer)
		evtimer_del(s->hs_timer);
	if (s->cb)
		s->cb(s, s->arg);
}

/* --- streams --------------------------------------------------------- */

static const char *
session_dial_verb(uint32_t err)
{
	switch (err) {
	case WIRE_ERR_REFUSED:
		return "refused";
	case WIRE_ERR_UNREACHABLE:
		return "unreachable";
	case WIRE_ERR_TIMEOUT:
		return "timed out";
	case WIRE_ERR_CONN_RESET:
		return "reset";
	case WIRE_ERR_PROHIBITED:
		return "not permitted";
	default:
		return "failed";
	}
}

static void
session_stream_unlink(struct session_stream *ps)
{
	if (ps->prev)
		ps->prev->next = ps->next;
	else if (ps->s && ps->s->streams == ps)
		ps->s->streams = ps->next;
	if (ps->next)
		ps->next->prev = ps->prev;
	ps->prev = ps->next = NULL;
}

/* Stops the lookup or dial of ps (the stream no longer needs it). */
static void
session_stream_stop(struct session_stream *ps)
{
	resolver_cancel(ps->rq);
	ps->rq = NULL;
	dial_cancel(ps->dial);
	ps->dial = NULL;
}

static void
session_on_stream_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct session_stream *ps = arg;

	if (ev != MUX_STREAM_CLOSED) {
		log_debug(LOG_CAT_MUX, "session %u stream %u: client sent FIN",
		    ps->session_id, (unsigned)ps->id);
		return;
	}
	if (error && error != WIRE_ERR_SHUTDOWN)
		log_debug(LOG_CAT_MUX, "session %u stream %u: %s closed: %s",
		    ps->session_id, (unsigned)ps->id, ps->dst,
		    wire_error_name(error));
	session_stream_stop(ps);
	session_stream_unlink(ps);
	free(ps);
}

/* Refuses the stream; ps is freed before this returns. */
static void
session_stream_reject(struct session_stream *ps, uint32_t err, const char *msg)
{
	struct mux_stream *st = ps->st;

	session_stream_stop(ps);
	if (mux_stream_reject(st, err, msg) < 0) {
		/* Already answered or closed: make sure it ends. */
		mux_stream_reset(st, err, msg);
	}
}

static void
session_on_dialed(int fd, uint32_t err, int sys_err, void *arg)
{
	struct session_stream *ps = arg;
	struct session *s = ps->s;
	struct bufferevent *bev;
	char msg[FRAME_MAX_MESSAGE];
	int r;

	ps->dial = NULL;
	if (fd < 0) {
		log_info("session %u stream %u: dial %s %s (%s)", s->id,
		    (unsigned)ps->id, ps->dst, session_dial_verb(err),
		    strerror(sys_err));
		snprintf(msg, sizeof(msg), "dial %s: %s", ps->dst,
		    strerror(sys_err));
		session_stream_reject(ps, err, msg);
		return;
	}
	bev = bufferevent_socket_new(s->cfg->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		log_warn("session %u stream %u: out of memory", s->id,
		    (unsigned)ps->id);
		session_stream_reject(ps, WIRE_ERR_RESOURCE, "out of memory");
		return;
	}
	r = mux_stream_accept(ps->st, bev);
	if (r < 0) {
		bufferevent_free(bev);
		log_warn("session %u stream %u: cannot accept: %s", s->id,
		    (unsigned)ps->id, strerror(-r));
		mux_stream_reset(ps->st, WIRE_ERR_INTERNAL, "cannot accept");
		return;
	}
	log_debug(LOG_CAT_MUX, "session %u stream %u: connected to %s", s->id,
	    (unsigned)ps->id, ps->dst);
}

static void
session_stream_dial(
    struct session_stream *ps, const struct sockaddr_storage *addrs, size_t n)
{
	struct session *s = ps->s;
	int r = dial_start(s->cfg->base, addrs, n, s->cfg->dial_timeout_ms,
	    session_on_dialed, ps, &ps->dial);

	if (r < 0) {
		log_warn("session %u stream %u: dial %s: %s", s->id,
		    (unsigned)ps->id, ps->dst, strerror(-r));
		session_stream_reject(ps,
		    r == -ENOMEM ? WIRE_ERR_RESOURCE : WIRE_ERR_INTERNAL,
		    "cannot dial");
	}
}

static void
session_on_resolved(uint32_t err, const char *why,
    const struct sockaddr_storage *addrs, size_t n, void *arg)
{
	struct session_stream *ps = arg;
	char msg[FRAME_MAX_MESSAGE];

	ps->rq = NULL;
	if (err != WIRE_OK) {
		log_info("session %u stream %u: resolve %s: %s (%s)", ps->s->id,
		    (unsigned)ps->id, ps->dst, wire_error_name(err),
		    why ? why : "");
		snprintf(msg, sizeof(msg), "resolve %s: %s", ps->dst,
		    why ? why : wire_error_text(err));
		session_stream_reject(ps, err, msg);
		return;
	}
	session_stream_dial(ps, addrs, n);
}

static void
session_on_open(struct mux_session *m, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	struct session *s = arg;
	struct session_stream *ps = calloc(1, sizeof(*ps));
	struct sockaddr_storage ss;
	int r;

	if (!ps) {
		mux_stream_reject(st, WIRE_ERR_RESOURCE, "out of memory");
		return;
	}
	ps->s = s;
	ps->st = st;
	ps->session_id = s->id;
	ps->id = mux_stream_id(st);
	ps->next = s->streams;
	if (s->streams)
		s->streams->prev = ps;
	s->streams = ps;
	mux_stream_set_user(st, ps);
	mux_stream_set_event_cb(st, session_on_stream_event, ps);

	memset(&ss, 0, sizeof(ss));
	switch (dst->type) {
	case WIRE_ADDR_IPV4: {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(dst->port);
		memcpy(&sin->sin_addr, dst->a.v4, 4);
		addr_format((struct sockaddr *)&ss, ps->dst, sizeof(ps->dst));
		break;
	}
	case WIRE_ADDR_IPV6: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(dst->port);
		memcpy(&sin6->sin6_addr, dst->a.v6, 16);
		addr_format((struct sockaddr *)&ss, ps->dst, sizeof(ps->dst));
		break;
	}
	case WIRE_ADDR_NAME: {
		char name[WIRE_MAX_HOSTNAME + 1];

		log_escape(name, sizeof(name), dst->a.name,
		    strnlen(dst->a.name, WIRE_MAX_HOSTNAME));
		snprintf(ps->dst, sizeof(ps->dst), "%s:%u", name, dst->port);
		break;
	}
	default:
		/* The frame decoder admits only the three types. */
		session_stream_reject(
		    ps, WIRE_ERR_PROTOCOL, "bad address type");
		return;
	}
	log_debug(LOG_CAT_MUX, "session %u stream %u: open %s", s->id,
	    (unsigned)ps->id, ps->dst);
	if (dst->type != WIRE_ADDR_NAME) {
		session_stream_dial(ps, &ss, 1);
		return;
	}
	r = resolver_resolve(s->cfg->resolver, dst->a.name, dst->port,
	    session_on_resolved, ps, &ps->rq);
	if (r < 0) {
		log_warn("session %u stream %u: resolve %s: %s", s->id,
		    (unsigned)ps->id, ps->dst, strerror(-r));
		session_stream_reject(
		    ps, WIRE_ERR_NAME_FAILURE, "cannot resolve");
	}
}

/* --- DNS and environment -------------------------------------------- */

static void
session_dns_unlink(struct session_dns *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else if (q->s->dns == q)
		q->s->dns = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->s->n_dns--;
}

static void
session_on_dns_answer(
    uint32_t err, const char *why, const uint8_t *msg, size_t len, void *arg)
{
	struct session_dns *q = arg;
	struct session *s = q->s;
	int r;

	session_dns_unlink(q);
	if (err == WIRE_OK)
		log_debug(LOG_CAT_DNS, "session %u: dns %u: %s, %zu bytes",
		    s->id, (unsigned)q->id,
		    dnsmsg_rcode_name(dnsmsg_rcode(msg)), len);
	else
		log_debug(LOG_CAT_DNS, "session %u: dns %u: %s (%s)", s->id,
		    (unsigned)q->id, wire_error_name(err), why ? why : "");
	r = mux_send_dns_answer(
	    s->mux, q->id, err, err == WIRE_OK ? msg : NULL, err ? 0 : len);
	if (r < 0 && r != -ENOTCONN)
		log_warn("session %u: cannot answer dns query %u: %s", s->id,
		    (unsigned)q->id, strerror(-r));
	free(q);
}

static void
session_on_dns_query(struct mux_session *m, uint32_t id, const uint8_t *msg,
    size_t len, void *arg)
{
	struct session *s = arg;
	struct session_dns *q = NULL;
	int r;

	if (s->n_dns >= s->cfg->max_dns_pending) {
		log_debug(LOG_CAT_DNS, "session %u: dns %u: too many pending",
		    s->id, (unsigned)id);
		mux_send_dns_answer(m, id, WIRE_ERR_NAME_FAILURE, NULL, 0);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		mux_send_dns_answer(m, id, WIRE_ERR_NAME_FAILURE, NULL, 0);
		return;
	}
	q->s = s;
	q->id = id;
	q->next = s->dns;
	if (s->dns)
		s->dns->prev = q;
	s->dns = q;
	s->n_dns++;
	r = resolver_query(
	    s->cfg->resolver, msg, len, session_on_dns_answer, q, &q->rq);
	if (r < 0) {
		session_dns_unlink(q);
		free(q);
		mux_send_dns_answer(m, id, WIRE_ERR_NAME_FAILURE, NULL, 0);
	}
}

static void
session_dns_cancel_all(struct session *s)
{
	while (s->dns) {
		struct session_dns *q = s->dns;

		resolver_cancel(q->rq);
		session_dns_unlink(q);
		free(q);
	}
}

static void
session_on_env_request(struct mux_session *m, uint32_t id, void *arg)
{
	struct session *s = arg;
	int r = mux_send_env_reply(m, id, WIRE_OK, s->cfg->env, s->cfg->n_env);

	switch (r) {
	case 0:
		break;
	case -EMSGSIZE:
		/* The mux has answered RESOURCE already (mux.h). */
		log_warn("session %u: the environment (%zu variables) is over "
		         "the ENV_REPLY limits (a value over %u bytes or %u "
		         "in all); the client was told RESOURCE: shorten the "
		         "env file",
		    s->id, s->cfg->n_env, (unsigned)FRAME_MAX_ENV_VALUE,
		    (unsigned)WIRE_MAX_PAYLOAD);
		return;
	case -ENOTCONN:
		return; /* the session is ending: nobody to answer */
	default:
		/* Nothing was sent (-EINVAL, -ENOMEM): answer once. */
		log_warn("session %u: cannot send the environment: %s", s->id,
		    strerror(-r));
		mux_send_env_reply(m, id, WIRE_ERR_INTERNAL, NULL, 0);
		return;
	}
	log_info("session %u: environment sent (%zu variables)", s->id,
	    s->cfg->n_env);
}

/* --- session --------------------------------------------------------- */

static void
session_on_ready(
    struct mux_session *m, const struct mux_peer_info *peer, void *arg)
{
	struct session *s = arg;
	char sw[128];

	log_escape(sw, sizeof(sw), peer->software ? peer->software : "?",
	    peer->software ? strlen(peer->software) : 1);
	log_info("session %u: ready (client %s, protocol %u)", s->id, sw,
	    peer->proto);
}

static void
session_on_goaway(
    struct mux_session *m, uint32_t error, const char *msg, void *arg)
{
	struct session *s = arg;
	char text[256];

	log_escape(text, sizeof(text), msg, strlen(msg));
	log_info("session %u: client going away: %s %s", s->id,
	    wire_error_name(error), text);
}

static void
session_on_mux_closed(
    struct mux_session *m, uint32_t error, const char *reason, void *arg)
{
	struct session *s = arg;
	struct mux_stats st;
	char text[256];

	mux_session_stats(m, &st);
	log_escape(text, sizeof(text), reason ? reason : "",
	    reason ? strlen(reason) : 0);
	log_info("session %u: closed: %s%s%s (%llu streams, %llu bytes in, "
	         "%llu out)",
	    s->id, wire_error_name(error), text[0] ? ": " : "", text,
	    (unsigned long long)st.streams_total,
	    (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
	session_dns_cancel_all(s);
	session_closed(s);
}

/*
 * The HELLO extensions: the configured ones and "server-time", our clock
 * now in RFC 3339 UTC to the second ("2026-11-26T06:30:00Z"), so that the
 * client can warn about a clock skew that would make certificates look
 * expired or not yet valid. ext has room for FRAME_MAX_EXTENSIONS;
 * time_buf holds the value. Returns the count or -EINVAL (too many configured).
 */
static int
session_hello_ext(const struct session_config *cfg,
    struct mux_kv ext[FRAME_MAX_EXTENSIONS], char time_buf[SESSION_TIME_MAX])
{
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_hello_ext; i++) {
		/* Ours to send; a configured one would be a duplicate. */
		if (cfg->hello_ext[i].name &&
		    strcmp(cfg->hello_ext[i].name, "server-time") == 0)
			continue;
		if (n >= FRAME_MAX_EXTENSIONS - 1)
			return -EINVAL;
		ext[n++] = cfg->hello_ext[i];
	}
	if (!gmtime_r(&now, &tm) || strftime(time_buf, SESSION_TIME_MAX,
	                                "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return (int)n; /* a clock beyond year 9999: send nothing */
	ext[n++] = (struct mux_kv){"server-time", time_buf};
	return (int)n;
}

static int
session_start_mux(struct session *s, struct bufferevent *carrier)
{
	const struct session_config *cfg = s->cfg;
	struct mux_config mc;
	struct mux_callbacks cbs;
	struct mux_kv ext[FRAME_MAX_EXTENSIONS];
	char time_buf[SESSION_TIME_MAX];
	int r;

	r = session_hello_ext(cfg, ext, time_buf);
	if (r < 0)
		return r;
	mux_config_init(&mc, WIRE_ROLE_SERVER);
	mc.caps =
	    WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES | WIRE_CAP_IPV6;
	/* Encoded by mux_session_new: the stack arrays may go after it. */
	mc.ext = ext;
	mc.n_ext = (size_t)r;
	mc.max_streams = cfg->max_streams;
	mc.log_id = s->id;
	if (cfg->ping_interval_ms)
		mc.ping_interval_ms = cfg->ping_interval_ms;
	if (cfg->dead_peer_ms)
		mc.dead_peer_ms = cfg->dead_peer_ms;
	memset(&cbs, 0, sizeof(cbs));
	cbs.on_ready = session_on_ready;
	cbs.on_closed = session_on_mux_closed;
	cbs.on_goaway = session_on_goaway;
	cbs.on_open = session_on_open;
	cbs.on_dns_query = session_on_dns_query;
	cbs.on_env_request = session_on_env_request;
	r = mux_session_new(cfg->base, carrier, &mc, &cbs, s, &s->mux);
	if (r < 0)
		return r;
	s->state = SESSION_RUNNING;
	r = mux_session_start(s->mux);
	if (r < 0)
		return r;
	return 0;
}

/* The TLS connection failed or timed out before the mux took it. */
static void
session_refuse(struct session *s, const char *why)
{
	log_info("session %u: refused %s: %s", s->id, s->peer, why);
	if (s->carrier) {
		bufferevent_free(s->carrier);
		s->carrier = NULL;
	}
	session_closed(s);
}

static void
session_on_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[TLSCONF_ERROR_MAX], cn[256];
	int r;

	if (!(what & BEV_EVENT_CONNECTED)) {
		if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
			session_refuse(
			    s, tlsconf_describe_error(bev, why, sizeof(why)));
		return;
	}
	evtimer_del(s->hs_timer);
	r = tlsconf_peer_subject(bev, cn, sizeof(cn));
	if (r < 0)
		snprintf(cn, sizeof(cn), "(none: %s)", strerror(-r));
	log_info("session %u: accepted %s, client certificate CN %s", s->id,
	    s->peer, cn);
	s->carrier = NULL;
	r = session_start_mux(s, bev);
	if (r < 0) {
		log_warn("session %u: cannot start the session: %s", s->id,
		    strerror(-r));
		if (!s->mux)
			bufferevent_free(bev);
		session_closed(s);
	}
}

static void
session_on_hs_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	char why[96];

	snprintf(why, sizeof(why), "no TLS handshake within %u ms",
	    s->cfg->handshake_ms);
	session_refuse(s, why);
}

int
session_new(const struct session_config *cfg, unsigned id, const char *peer,
    struct bufferevent *carrier, bool tls, session_closed_cb cb, void *arg,
    struct session **ret_session)
{
	struct session *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		bufferevent_free(carrier);
		return -ENOMEM;
	}
	s->cfg = cfg;
	s->id = id;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "?");
	s->cb = cb;
	s->arg = arg;
	s->state = SESSION_HANDSHAKE;
	if (tls) {
		struct timeval tv = {(time_t)(cfg->handshake_ms / 1000),
		    (suseconds_t)(cfg->handshake_ms % 1000) * 1000};

		s->hs_timer = evtimer_new(cfg->base, session_on_hs_timeout, s);
		if (!s->hs_timer) {
			r = -ENOMEM;
			goto fail;
		}
		s->carrier = carrier;
		bufferevent_setcb(carrier, NULL, NULL, session_on_tls_event, s);
		bufferevent_enable(carrier, EV_READ);
		evtimer_add(s->hs_timer, &tv);
		*ret_session = s;
		return 0;
	}
	r = session_start_mux(s, carrier);
	if (r < 0) {
		if (s->mux)
			carrier = NULL; /* the mux owns it */
		goto fail;
	}
	*ret_session = s;
	return 0;
fail:
	if (carrier)
		bufferevent_free(carrier);
	s->carrier = NULL;
	s->cb = NULL;
	session_free(s);
	return r;
}

void
session_goaway(struct session *s, const char *msg)
{
	switch (s->state) {
	case SESSION_HANDSHAKE:
		session_refuse(s, msg ? msg : "server shutting down");
		break;
	case SESSION_RUNNING:
		if (mux_session_goaway(s->mux, WIRE_ERR_SHUTDOWN, msg) ==
		    -ENOTCONN)
			log_debug(
			    LOG_CAT_MUX, "session %u: already closed", s->id);
		break;
	case SESSION_CLOSED:
		break;
	}
}

void
session_free(struct session *s)
{
	if (!s)
		return;
	/* Streams outlive us until the mux reports them closed. */
	while (s->streams) {
		struct session_stream *ps = s->streams;

		session_stream_stop(ps);
		session_stream_unlink(ps);
		ps->s = NULL;
	}
	session_dns_cancel_all(s);
	if (s->carrier)
		bufferevent_free(s->carrier);
	mux_session_free(s->mux);
	if (s->hs_timer)
		event_free(s->hs_timer);
	free(s);
}
