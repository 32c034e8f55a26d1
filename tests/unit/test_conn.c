/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of telepodd's conn, socksd and daemon in one process: a
 * real mux server session behind a loopback TLS listener (certificates
 * from certs_create in a temporary directory) plays telepod-server. Covers
 * connect and its first-attempt errors, reconnect after the server drops
 * (timing bounded), pending streams failing on a drop, the SOCKS5 entry
 * end to end (pipelined bytes, error replies) and the control handlers
 * through the real ctl client in a second thread. Every wait is bounded.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>

#include "client/conn.h"
#include "client/ctl.h"
#include "client/daemon.h"
#include "client/socks5.h"
#include "client/socksd.h"
#include "common/certs.h"
#include "common/log.h"
#include "common/mux.h"
#include "common/tlsconf.h"
#include "tests/unit/cunit_main.h"

enum srv_mode {
	SRV_ECHO = 0,   /* accept peer opens and echo */
	SRV_REFUSE = 1, /* reject with REFUSED */
	SRV_DEFER = 2,  /* never answer */
	SRV_HOLD = 3,   /* answer when the test calls srv_release */
};

#define SRV_MAX      16
#define SRV_MAX_ECHO 1024

/* The fake telepod-server. */
struct srv {
	struct event_base *base;
	SSL_CTX *ctx;
	struct evconnlistener *lev;
	uint16_t port;
	enum srv_mode mode;
	struct mux_session *sessions[SRV_MAX];
	struct bufferevent *echo[SRV_MAX_ECHO];
	size_t n_echo;
	struct mux_stream *held[SRV_MAX_ECHO]; /* SRV_HOLD, unanswered */
	size_t n_held;
	int accepted;
	int opens;
	char time[32]; /* the server-time extension, when not empty */
};

static struct event_base *base;
static char tmpdir[64];
static char tlsdir[128];
static char otherdir[128];
static struct srv srv;

static int count_lines(const char *path, const char *w1, const char *w2);

/* ---- loop helpers ---- */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag or ms pass; returns *flag. */
static bool
run_until(volatile bool *flag, int ms)
{
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 5000};
	long long end = conn_now_ms() + ms;

	event_add(tick, &tv);
	while (!*flag && conn_now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return *flag;
}

static void
run_for(int ms)
{
	bool never = false;

	run_until(&never, ms);
}

/* ---- the fake server ---- */

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
	evbuffer_add_buffer(
	    bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		for (size_t i = 0; i < srv.n_echo; i++) {
			if (srv.echo[i] == bev)
				srv.echo[i] = NULL;
		}
		bufferevent_free(bev);
	}
}

/* Accepts st with an in-memory echo as the destination. */
static void
srv_echo_accept(struct mux_stream *st)
{
	struct bufferevent *pair[2];

	if (srv.n_echo >= sizeof(srv.echo) / sizeof(*srv.echo) ||
	    bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair) < 0) {
		mux_stream_reject(st, WIRE_ERR_INTERNAL, "test");
		return;
	}
	srv.echo[srv.n_echo++] = pair[1];
	bufferevent_setcb(pair[1], echo_read_cb, NULL, echo_event_cb, NULL);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	CU_ASSERT_EQUAL(mux_stream_accept(st, pair[0]), 0);
}

static void
srv_held_event_cb(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	if (ev != MUX_STREAM_CLOSED)
		return;
	for (size_t i = 0; i < srv.n_held; i++) {
		if (srv.held[i] == st)
			srv.held[i] = NULL;
	}
}

/* Answers every held OPEN (echo) and serves later ones at once. */
static void
srv_release(void)
{
	srv.mode = SRV_ECHO;
	for (size_t i = 0; i < srv.n_held; i++) {
		struct mux_stream *st = srv.held[i];

		if (!st)
			continue;
		srv.held[i] = NULL;
		mux_stream_set_event_cb(st, NULL, NULL);
		srv_echo_accept(st);
	}
	srv.n_held = 0;
}

static void
srv_on_open(struct mux_session *s, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	srv.opens++;
	switch (srv.mode) {
	case SRV_REFUSE:
		mux_stream_reject(st, WIRE_ERR_REFUSED, "connection refused");
		return;
	case SRV_DEFER:
		return;
	case SRV_HOLD:
		if (srv.n_held >= sizeof(srv.held) / sizeof(*srv.held)) {
			mux_stream_reject(st, WIRE_ERR_INTERNAL, "test");
			return;
		}
		srv.held[srv.n_held++] = st;
		mux_stream_set_event_cb(st, srv_held_event_cb, NULL);
		return;
	case SRV_ECHO:
		break;
	}
	srv_echo_accept(st);
}

static void
srv_on_env_request(struct mux_session *s, uint32_t id, void *arg)
{
	static const struct mux_kv vars[] = {
	    {"DATABASE_URL", "postgres://db:5432/app"},
	    {"EMPTY", ""},
	};

	mux_send_env_reply(s, id, WIRE_OK, vars, 2);
}

static void
srv_forget(struct mux_session *s)
{
	for (int i = 0; i < SRV_MAX; i++) {
		if (srv.sessions[i] == s)
			srv.sessions[i] = NULL;
	}
}

static void
srv_on_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
	srv_forget(s);
	mux_session_free(s);
}

static const struct mux_callbacks srv_cbs = {
    .on_closed = srv_on_closed,
    .on_open = srv_on_open,
    .on_env_request = srv_on_env_request,
};

static void
srv_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct mux_config cfg;
	struct mux_kv ext[] = {
	    {"namespace", "t"},
	    {"subnets", "10.96.0.0/12,10.244.0.0/16"},
	    {"dns-search", "t.svc.cluster.local svc.cluster.local"},
	    {"server-time", srv.time},
	};
	struct bufferevent *bev = tlsconf_bufferevent_accept(base, srv.ctx, fd);
	struct mux_session *s;
	int slot = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(bev);
	for (int i = 0; i < SRV_MAX; i++) {
		if (!srv.sessions[i]) {
			slot = i;
			break;
		}
	}
	CU_ASSERT_FATAL(slot >= 0);
	mux_config_init(&cfg, WIRE_ROLE_SERVER);
	cfg.caps = WIRE_CAP_HOSTNAMES | WIRE_CAP_IPV6 | WIRE_CAP_ENV;
	cfg.ext = ext;
	cfg.n_ext = srv.time[0] ? 4 : 3;
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(base, bev, &cfg, &srv_cbs, NULL, &s), 0);
	srv.sessions[slot] = s;
	srv.accepted++;
	mux_session_start(s);
}

static int
srv_listen(uint16_t port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	srv.lev = evconnlistener_new_bind(base, srv_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!srv.lev)
		return -errno;
	getsockname(
	    evconnlistener_get_fd(srv.lev), (struct sockaddr *)&sin, &sl);
	srv.port = ntohs(sin.sin_port);
	return 0;
}

/* Drops every server session abruptly (like a killed server) and, with
 * unlisten, stops accepting. */
static void
srv_drop(bool unlisten)
{
	for (int i = 0; i < SRV_MAX; i++) {
		if (srv.sessions[i]) {
			mux_session_free(srv.sessions[i]);
			srv.sessions[i] = NULL;
		}
	}
	if (unlisten && srv.lev) {
		evconnlistener_free(srv.lev);
		srv.lev = NULL;
	}
}

static void
srv_start(void)
{
	char err[512];

	memset(&srv, 0, sizeof(srv));
	srv.base = base;
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_server_ctx_new(tlsdir, &srv.ctx, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(srv_listen(0), 0);
}

static void
srv_stop(void)
{
	srv_drop(true);
	for (size_t i = 0; i < srv.n_echo; i++) {
		if (srv.echo[i])
			bufferevent_free(srv.echo[i]);
	}
	SSL_CTX_free(srv.ctx);
	run_for(20);
	memset(&srv, 0, sizeof(srv));
}

/* ---- a conn under test ---- */

struct probe {
	bool first;
	const char *code;
	char msg[1024];
	int states[16];
	int n_states;
	bool connected_again;
	long long connected_again_ms;
};

static void
probe_first(struct conn *c, const char *code, const char *msg, void *arg)
{
	struct probe *p = arg;

	p->first = true;
	p->code = code;
	snprintf(p->msg, sizeof(p->msg), "%s", msg ? msg : "");
}

static void
probe_state(struct conn *c, enum conn_state st, void *arg)
{
	struct probe *p = arg;

	if (p->n_states < 16)
		p->states[p->n_states++] = st;
	if (st == CONN_CONNECTED) {
		p->connected_again = true;
		p->connected_again_ms = conn_now_ms();
	}
}

static const struct conn_callbacks probe_cbs = {
    .on_first = probe_first,
    .on_state = probe_state,
};

static struct conn *
conn_start(const char *dir, uint16_t port, struct probe *p)
{
	struct conn_params params;
	struct conn *c = NULL;
	SSL_CTX *ctx;
	char server[64], err[512];

	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_client_ctx_new(dir, NULL, &ctx, err, sizeof(err)), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	memset(&params, 0, sizeof(params));
	params.namespace_name = "t";
	params.server = server;
	params.ssl_ctx = ctx;
	params.owner = getuid();
	params.first_timeout_ms = 5000;
	memset(p, 0, sizeof(*p));
	CU_ASSERT_EQUAL_FATAL(
	    conn_new(base, &params, &probe_cbs, p, &c, err, sizeof(err)), 0);
	SSL_CTX_free(ctx);
	/* Nothing happens inside conn_new. */
	CU_ASSERT_FALSE(p->first);
	return c;
}

static void
test_backoff(void)
{
	/* Attempt 0 waits 100..200 ms, doubling up to the 1 s cap. */
	CU_ASSERT_EQUAL(conn_backoff_ms(0, 200, 1000, 0.0), 100);
	CU_ASSERT_EQUAL(conn_backoff_ms(0, 200, 1000, 0.999999), 200);
	CU_ASSERT_EQUAL(conn_backoff_ms(1, 200, 1000, 0.0), 200);
	CU_ASSERT_EQUAL(conn_backoff_ms(2, 200, 1000, 0.999999), 800);
	CU_ASSERT_EQUAL(conn_backoff_ms(3, 200, 1000, 0.999999), 1000);
	CU_ASSERT_EQUAL(conn_backoff_ms(3, 200, 1000, 0.0), 500);
	for (unsigned n = 0; n < 100; n++) {
		unsigned ms = conn_backoff_ms(n, 200, 1000, 0.5);

		CU_ASSERT(ms >= 100 && ms <= 1000);
	}
	/* Out-of-range randomness is clamped, not trusted. */
	CU_ASSERT_EQUAL(conn_backoff_ms(5, 200, 1000, 7.0), 500);
}

static void
test_connect_ok(void)
{
	struct probe p;
	struct conn *c;
	struct conn_stats st;
	const struct mux_peer_info *peer;

	srv_start();
	c = conn_start(tlsdir, srv.port, &p);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CONNECTING);
	CU_ASSERT_PTR_NULL(conn_session(c));
	CU_ASSERT_TRUE(run_until(&p.first, 5000));
	CU_ASSERT_PTR_NULL(p.code);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CONNECTED);
	CU_ASSERT_PTR_NOT_NULL(conn_session(c));
	peer = conn_peer(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(peer);
	CU_ASSERT_STRING_EQUAL(peer->subnets, "10.96.0.0/12,10.244.0.0/16");
	CU_ASSERT_STRING_EQUAL(peer->namespace_name, "t");
	conn_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.reconnects, 0);
	CU_ASSERT(st.connected_ms > 0);
	CU_ASSERT_STRING_EQUAL(conn_last_error(c), "");
	conn_free(c);
	srv_stop();
}

static void
test_connect_refused(void)
{
	struct probe p;
	struct conn *c;
	uint16_t port;

	/* A port that was just free: listen, note it, close. */
	srv_start();
	port = srv.port;
	srv_stop();
	c = conn_start(tlsdir, port, &p);
	CU_ASSERT_TRUE(run_until(&p.first, 5000));
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.code);
	CU_ASSERT_STRING_EQUAL(p.code, CONN_E_REFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "refused"));
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CLOSED);
	/* A failed first attempt is not retried. */
	run_for(400);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CLOSED);
	conn_free(c);
}

static void
test_connect_wrong_ca(void)
{
	struct probe p;
	struct conn *c;

	srv_start();
	c = conn_start(otherdir, srv.port, &p);
	CU_ASSERT_TRUE(run_until(&p.first, 5000));
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.code);
	CU_ASSERT_STRING_EQUAL(p.code, CONN_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "certificate"));
	conn_free(c);
	srv_stop();
}

static void
test_connect_bad_server(void)
{
	struct conn_params params;
	struct conn *c = NULL;
	struct probe p;
	SSL_CTX *ctx;
	char err[512];
	static const char *bad[] = {"nohost", "host:", "host:0", "host:65536",
	    ":80", "[::1]80", "a:b:80", "host:8x"};

	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_client_ctx_new(tlsdir, NULL, &ctx, err, sizeof(err)), 0);
	memset(&params, 0, sizeof(params));
	params.namespace_name = "t";
	params.ssl_ctx = ctx;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		params.server = bad[i];
		err[0] = '\0';
		CU_ASSERT_EQUAL(conn_new(base, &params, &probe_cbs, &p, &c, err,
		                    sizeof(err)),
		    -EINVAL);
		CU_ASSERT(strlen(err) > 0);
	}
	/* A bracketed IPv6 literal parses (and fails to connect later). */
	params.server = "[::1]:1";
	CU_ASSERT_EQUAL(
	    conn_new(base, &params, &probe_cbs, &p, &c, err, sizeof(err)), 0);
	conn_free(c);
	SSL_CTX_free(ctx);
}

static void
test_connect_timeout(void)
{
	struct conn_params params;
	struct conn *c = NULL;
	struct probe p;
	SSL_CTX *ctx;
	char err[512], server[64];
	int fd;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	long long t0;

	/* A listener that never accepts nor speaks: TCP connects (backlog),
	 * TLS never completes. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CU_ASSERT_EQUAL_FATAL(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(sin.sin_port));
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_client_ctx_new(tlsdir, NULL, &ctx, err, sizeof(err)), 0);
	memset(&params, 0, sizeof(params));
	params.namespace_name = "t";
	params.server = server;
	params.ssl_ctx = ctx;
	params.first_timeout_ms = 300;
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL_FATAL(
	    conn_new(base, &params, &probe_cbs, &p, &c, err, sizeof(err)), 0);
	SSL_CTX_free(ctx);
	t0 = conn_now_ms();
	CU_ASSERT_TRUE(run_until(&p.first, 3000));
	CU_ASSERT(conn_now_ms() - t0 < 1500);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.code);
	CU_ASSERT_STRING_EQUAL(p.code, CONN_E_TIMEOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "TLS handshake"));
	conn_free(c);
	close(fd);
}

static void
test_reconnect(void)
{
	struct probe p;
	struct conn *c;
	struct conn_stats st;
	uint16_t port;
	long long t_back;

	srv_start();
	port = srv.port;
	c = conn_start(tlsdir, port, &p);
	CU_ASSERT_TRUE_FATAL(run_until(&p.first, 5000));
	CU_ASSERT_PTR_NULL_FATAL(p.code);

	/* The server dies: the conn notices at once (EOF) and retries. */
	srv_drop(true);
	run_for(50);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_RECONNECTING);
	CU_ASSERT_PTR_NULL(conn_session(c));
	CU_ASSERT(p.n_states >= 1 && p.states[0] == CONN_RECONNECTING);
	CU_ASSERT_PTR_NOT_NULL(strstr(conn_last_error(c), "lost"));
	/* Down for a while: several refused attempts, still reconnecting. */
	run_for(1200);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_RECONNECTING);

	/* Back on the same port: connected within the 1 s cap + slack. */
	CU_ASSERT_EQUAL_FATAL(srv_listen(port), 0);
	t_back = conn_now_ms();
	CU_ASSERT_TRUE(run_until(&p.connected_again, 3000));
	CU_ASSERT(p.connected_again_ms - t_back <= 1500);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CONNECTED);
	CU_ASSERT_PTR_NOT_NULL(conn_session(c));
	conn_get_stats(c, &st);
	CU_ASSERT_EQUAL(st.reconnects, 1);
	conn_free(c);
	srv_stop();
}

static void
test_parse_server_time(void)
{
	long long t = 42;
	static const char *bad[] = {"", "2026-11-26T06:30:00",
	    "2026-11-26T06:30:00z", "2026-11-26 06:30:00Z",
	    "2026-11-26T06:30:00.5Z", "2026-11-26T06:30:00+00:00",
	    "2026-11-26T06:30:00ZZ", "2026-13-01T00:00:00Z",
	    "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
	    "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z",
	    "2026-11-26T24:00:00Z", "2026-11-26T06:60:00Z",
	    "2026-11-26T06:30:61Z", "+026-11-26T06:30:00Z",
	    "2026-1-026T06:30:00Z", "1795674600"};

	CU_ASSERT_EQUAL(conn_parse_server_time("2026-11-26T06:30:00Z", &t), 0);
	CU_ASSERT_EQUAL(t, 1795674600LL);
	CU_ASSERT_EQUAL(conn_parse_server_time("1970-01-01T00:00:00Z", &t), 0);
	CU_ASSERT_EQUAL(t, 0);
	CU_ASSERT_EQUAL(conn_parse_server_time("2000-02-29T23:59:59Z", &t), 0);
	CU_ASSERT_EQUAL(t, 951868799LL);
	/* A leap second is a valid time stamp. */
	CU_ASSERT_EQUAL(conn_parse_server_time("2016-12-31T23:59:60Z", &t), 0);
	CU_ASSERT_EQUAL(t, 1483228800LL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		t = 42;
		CU_ASSERT_EQUAL(conn_parse_server_time(bad[i], &t), -EINVAL);
		CU_ASSERT_EQUAL(t, 42);
	}
}

/* Connects to a server whose clock is skew_s ahead of ours; returns how
 * many warning lines about the clock telepodd logged. */
static int
clock_warnings(long long skew_s, const char *value)
{
	struct probe p;
	struct conn *c;
	char logpath[160];
	time_t t = time(NULL) + (time_t)skew_s;
	struct tm tm;
	FILE *logf;
	int n;

	snprintf(logpath, sizeof(logpath), "%s/clock.log", tmpdir);
	logf = fopen(logpath, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(logf);
	srv_start();
	if (value)
		snprintf(srv.time, sizeof(srv.time), "%s", value);
	else
		strftime(srv.time, sizeof(srv.time), "%Y-%m-%dT%H:%M:%SZ",
		    gmtime_r(&t, &tm));
	log_set_file(logf);
	c = conn_start(tlsdir, srv.port, &p);
	CU_ASSERT_TRUE(run_until(&p.first, 5000));
	CU_ASSERT_PTR_NULL(p.code);
	log_set_file(NULL);
	fclose(logf);
	n = count_lines(logpath, "clock", "warn");
	conn_free(c);
	srv_stop();
	return n;
}

/* telepodd warns when the server's clock is more than 5 minutes off. */
static void
test_clock_skew(void)
{
	CU_ASSERT_EQUAL(clock_warnings(0, NULL), 0);
	CU_ASSERT_EQUAL(clock_warnings(-120, NULL), 0);
	CU_ASSERT_EQUAL(clock_warnings(3600, NULL), 1);
	CU_ASSERT_EQUAL(clock_warnings(-2 * 86400, NULL), 1);
	/* Not parseable: ignored, the session goes on. */
	CU_ASSERT_EQUAL(clock_warnings(0, "yesterday"), 0);
}

/* ---- streams pending at a drop ---- */

struct open_probe {
	bool done;
	uint32_t error;
};

static void
open_probe_cb(struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	struct open_probe *op = arg;

	op->done = true;
	op->error = error;
}

static void
test_pending_stream_reset_on_drop(void)
{
	struct probe p;
	struct conn *c;
	struct bufferevent *pair[2];
	struct frame_addr dst;
	struct open_probe op = {0};

	srv_start();
	srv.mode = SRV_DEFER;
	c = conn_start(tlsdir, srv.port, &p);
	CU_ASSERT_TRUE_FATAL(run_until(&p.first, 5000));
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_NAME;
	dst.port = 80;
	strcpy(dst.a.name, "slow.t.svc");
	CU_ASSERT_EQUAL_FATAL(mux_stream_open(conn_session(c), &dst, pair[0],
	                          open_probe_cb, &op, NULL),
	    0);
	run_for(100);
	CU_ASSERT_EQUAL(srv.opens, 1);
	CU_ASSERT_FALSE(op.done);
	/* The server goes away with the OPEN unanswered: the opener hears of
	 * it at once, and the local end sees EOF. */
	srv_drop(true);
	CU_ASSERT_TRUE(run_until(&op.done, 1000));
	CU_ASSERT(op.error != WIRE_OK);
	bufferevent_free(pair[1]);
	conn_free(c);
	srv_stop();
}

static void
close_done_cb(struct conn *c, void *arg)
{
	*(bool *)arg = true;
}

static void
local_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		*(bool *)arg = true;
}

/* conn_close with a stream still open: GOAWAY, then the drain deadline
 * ends it; the application's end sees the stream end. */
static void
test_close_drains_with_deadline(void)
{
	struct probe p;
	struct conn_params params;
	struct conn *c = NULL;
	struct bufferevent *pair[2];
	struct frame_addr dst;
	struct open_probe op = {0};
	bool done = false, local_end = false;
	SSL_CTX *ctx;
	char server[64], err[512];
	long long t0;

	srv_start();
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_client_ctx_new(tlsdir, NULL, &ctx, err, sizeof(err)), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u", srv.port);
	memset(&params, 0, sizeof(params));
	params.namespace_name = "t";
	params.server = server;
	params.ssl_ctx = ctx;
	params.close_drain_ms = 300;
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL_FATAL(
	    conn_new(base, &params, &probe_cbs, &p, &c, err, sizeof(err)), 0);
	SSL_CTX_free(ctx);
	CU_ASSERT_TRUE_FATAL(run_until(&p.first, 5000));
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	bufferevent_setcb(pair[1], NULL, NULL, local_event_cb, &local_end);
	bufferevent_enable(pair[1], EV_READ);
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = 7;
	dst.a.v4[0] = 127;
	dst.a.v4[3] = 1;
	CU_ASSERT_EQUAL_FATAL(mux_stream_open(conn_session(c), &dst, pair[0],
	                          open_probe_cb, &op, NULL),
	    0);
	CU_ASSERT_TRUE_FATAL(run_until(&op.done, 2000));
	CU_ASSERT_EQUAL(op.error, WIRE_OK);
	t0 = conn_now_ms();
	conn_close(c, close_done_cb, &done);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CLOSING);
	CU_ASSERT_PTR_NULL(conn_session(c));
	CU_ASSERT_TRUE(run_until(&done, 2000));
	CU_ASSERT(conn_now_ms() - t0 >= 250);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CLOSED);
	CU_ASSERT_TRUE(run_until(&local_end, 1000));
	/* A closed conn does not come back. */
	run_for(300);
	CU_ASSERT_EQUAL(conn_get_state(c), CONN_CLOSED);
	CU_ASSERT_EQUAL(srv.accepted, 1);
	bufferevent_free(pair[1]);
	conn_free(c);
	srv_stop();
}

/* ---- SOCKS5 end to end ---- */

struct socks_client {
	struct bufferevent *bev;
	struct evbuffer *got;
	bool eof;
	size_t want;
	bool have_want;
};

static void
sc_read_cb(struct bufferevent *bev, void *arg)
{
	struct socks_client *sc = arg;

	evbuffer_add_buffer(sc->got, bufferevent_get_input(bev));
	if (evbuffer_get_length(sc->got) >= sc->want)
		sc->have_want = true;
}

static void
sc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct socks_client *sc = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		sc->eof = true;
		sc->have_want = true;
	}
}

static void
sc_open(struct socks_client *sc, const char *addr, const void *data, size_t len,
    size_t want)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);

	memset(sc, 0, sizeof(*sc));
	sc->got = evbuffer_new();
	sc->want = want;
	CU_ASSERT_EQUAL_FATAL(
	    evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sl), 0);
	sc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(sc->bev, sc_read_cb, NULL, sc_event_cb, sc);
	bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_socket_connect(sc->bev, (struct sockaddr *)&ss, sl), 0);
	/* Greeting, request and the first payload bytes in one write. */
	bufferevent_write(sc->bev, data, len);
}

static void
sc_close(struct socks_client *sc)
{
	bufferevent_free(sc->bev);
	evbuffer_free(sc->got);
}

static struct conn *route_conn;

static struct mux_session *
route_to_conn(const struct frame_addr *dst, void *arg)
{
	return route_conn ? conn_session(route_conn) : NULL;
}

static size_t
build_request(
    uint8_t *buf, const char *name, uint16_t port, const char *payload)
{
	size_t n = 0, nl = strlen(name);

	buf[n++] = 5; /* greeting: NO AUTH */
	buf[n++] = 1;
	buf[n++] = 0;
	buf[n++] = 5; /* CONNECT, domain */
	buf[n++] = 1;
	buf[n++] = 0;
	buf[n++] = 3;
	buf[n++] = (uint8_t)nl;
	memcpy(buf + n, name, nl);
	n += nl;
	buf[n++] = (uint8_t)(port >> 8);
	buf[n++] = (uint8_t)port;
	memcpy(buf + n, payload, strlen(payload));
	return n + strlen(payload);
}

static void
test_socks_end_to_end(void)
{
	struct probe p;
	struct socksd *sd;
	struct socks_client sc;
	uint8_t req[512], got[64];
	char err[256];
	size_t n;

	srv_start();
	route_conn = conn_start(tlsdir, srv.port, &p);
	CU_ASSERT_TRUE_FATAL(run_until(&p.first, 5000));
	CU_ASSERT_EQUAL_FATAL(socksd_new(base, "127.0.0.1:0", NULL,
	                          route_to_conn, NULL, &sd, err, sizeof(err)),
	    0);
	CU_ASSERT_PTR_NULL(strstr(socksd_address(sd), ":0"));

	/* Success, with bytes pipelined after the request: method reply,
	 * success reply, then the echo of the pipelined bytes. */
	n = build_request(req, "echo.t.svc.cluster.local", 7, "ping!");
	sc_open(&sc, socksd_address(sd), req, n, 2 + 10 + 5);
	CU_ASSERT_TRUE(run_until(&sc.have_want, 3000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 17);
	evbuffer_remove(sc.got, got, 17);
	CU_ASSERT_EQUAL(got[0], 5);
	CU_ASSERT_EQUAL(got[1], 0);
	CU_ASSERT_EQUAL(got[2], 5);
	CU_ASSERT_EQUAL(got[3], SOCKS5_REP_SUCCEEDED);
	CU_ASSERT_EQUAL(got[5], SOCKS5_ATYP_IPV4);
	CU_ASSERT_EQUAL(memcmp(got + 12, "ping!", 5), 0);
	/* And the stream keeps relaying. */
	sc.want = 3;
	sc.have_want = false;
	bufferevent_write(sc.bev, "abc", 3);
	CU_ASSERT_TRUE(run_until(&sc.have_want, 2000));
	CU_ASSERT_EQUAL(evbuffer_get_length(sc.got), 3);
	sc_close(&sc);
	CU_ASSERT_EQUAL(socksd_pending(sd), 0);

	/* Refused by the destination: 0x05, then EOF (not a reset). */
	srv.mode = SRV_REFUSE;
	n = build_request(req, "closed.t", 9, "");
	sc_open(&sc, socksd_address(sd), req, n, 12);
	CU_ASSERT_TRUE(run_until(&sc.have_want, 3000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 12);
	evbuffer_remove(sc.got, got, 12);
	CU_ASSERT_EQUAL(got[3], SOCKS5_REP_CONN_REFUSED);
	sc.want = 1;
	sc.have_want = false;
	CU_ASSERT_TRUE(run_until(&sc.eof, 3000));
	sc_close(&sc);

	/* An open pending when the server dies: 0x03 (the tunnel is down),
	 * promptly. */
	srv.mode = SRV_DEFER;
	n = build_request(req, "hang.t", 9, "");
	sc_open(&sc, socksd_address(sd), req, n, 12);
	run_for(100);
	CU_ASSERT_EQUAL(socksd_pending(sd), 1);
	srv_drop(true);
	CU_ASSERT_TRUE(run_until(&sc.have_want, 2000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 12);
	evbuffer_remove(sc.got, got, 12);
	CU_ASSERT_EQUAL(got[3], SOCKS5_REP_NET_UNREACHABLE);
	sc_close(&sc);

	/* While reconnecting: fail fast with 0x03. */
	CU_ASSERT_EQUAL(conn_get_state(route_conn), CONN_RECONNECTING);
	n = build_request(req, "any.t", 80, "");
	sc_open(&sc, socksd_address(sd), req, n, 12);
	CU_ASSERT_TRUE(run_until(&sc.have_want, 1000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 12);
	evbuffer_remove(sc.got, got, 12);
	CU_ASSERT_EQUAL(got[3], SOCKS5_REP_NET_UNREACHABLE);
	sc_close(&sc);

	socksd_free(sd);
	conn_free(route_conn);
	route_conn = NULL;
	srv_stop();
}

static void
test_socks_handshake_errors(void)
{
	struct socksd *sd;
	struct socksd_config cfg = {.handshake_ms = 300};
	struct socks_client sc;
	uint8_t got[16];
	char err[256];
	static const uint8_t userpass[] = {5, 1, 2};
	static const uint8_t bind[] = {5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t partial[] = {5, 1, 0, 5, 1};
	static const uint8_t socks4[] = {4, 1, 0, 80, 1, 2, 3, 4, 0};

	CU_ASSERT_EQUAL_FATAL(socksd_new(base, "127.0.0.1:0", &cfg,
	                          route_to_conn, NULL, &sd, err, sizeof(err)),
	    0);
	/* No acceptable method: 05 FF, then EOF. */
	sc_open(&sc, socksd_address(sd), userpass, sizeof(userpass), 99);
	CU_ASSERT_TRUE(run_until(&sc.eof, 2000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 2);
	evbuffer_remove(sc.got, got, 2);
	CU_ASSERT_EQUAL(got[1], SOCKS5_METHOD_NO_ACCEPTABLE);
	sc_close(&sc);

	/* BIND: command not supported. */
	sc_open(&sc, socksd_address(sd), bind, sizeof(bind), 99);
	CU_ASSERT_TRUE(run_until(&sc.eof, 2000));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 12);
	evbuffer_remove(sc.got, got, 12);
	CU_ASSERT_EQUAL(got[3], SOCKS5_REP_CMD_UNSUPPORTED);
	sc_close(&sc);

	/* A CONNECT with no session at all: network unreachable. */
	{
		uint8_t req[64];
		size_t n = build_request(req, "x.t", 80, "");

		sc_open(&sc, socksd_address(sd), req, n, 99);
		CU_ASSERT_TRUE(run_until(&sc.eof, 2000));
		CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(sc.got), 12);
		evbuffer_remove(sc.got, got, 12);
		CU_ASSERT_EQUAL(got[3], SOCKS5_REP_NET_UNREACHABLE);
		sc_close(&sc);
	}

	/* A stalled handshake is closed after handshake_ms. */
	sc_open(&sc, socksd_address(sd), partial, sizeof(partial), 99);
	CU_ASSERT_TRUE(run_until(&sc.eof, 2000));
	CU_ASSERT_EQUAL(evbuffer_get_length(sc.got), 2); /* method reply */
	sc_close(&sc);

	/* Not SOCKS5 at all: closed without a reply. */
	sc_open(&sc, socksd_address(sd), socks4, sizeof(socks4), 99);
	CU_ASSERT_TRUE(run_until(&sc.eof, 2000));
	CU_ASSERT_EQUAL(evbuffer_get_length(sc.got), 0);
	sc_close(&sc);

	run_for(50);
	CU_ASSERT_EQUAL(socksd_pending(sd), 0);
	socksd_free(sd);

	/* Bad listen addresses. */
	CU_ASSERT_EQUAL(socksd_new(base, "localhost:1080", NULL, route_to_conn,
	                    NULL, &sd, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(socksd_new(base, "127.0.0.1", NULL, route_to_conn, NULL,
	                    &sd, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(socksd_new(base, "127.0.0.1:70000", NULL, route_to_conn,
	                    NULL, &sd, err, sizeof(err)),
	    -EINVAL);
}

/* Counts the lines of path that contain every one of the words. */
static int
count_lines(const char *path, const char *w1, const char *w2)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, w1) && strstr(line, w2))
			n++;
	}
	fclose(f);
	return n;
}

/*
 * A burst of SOCKS clients, more than SOCKSD_MAX_PENDING at once (a
 * browser, curl --parallel, a pool warming up): every one is served. The
 * server holds the first OPENs unanswered so that socksd sits at its cap:
 * it stops accepting, the kernel's listen backlog keeps the rest, nobody is
 * dropped, and it says so once at info level. Once the server answers, the
 * waiting clients are accepted and served too.
 */
#define BURST_CLIENTS 600

static void
test_socks_burst(void)
{
	struct probe p;
	struct socksd *sd;
	struct socks_client *sc = calloc(BURST_CLIENTS, sizeof(*sc));
	uint8_t req[64], got[16];
	char err[256], logpath[160];
	size_t n;
	unsigned peak = 0;
	int done, ok = 0, eof_early = 0;
	long long end;
	FILE *logf;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
	snprintf(logpath, sizeof(logpath), "%s/burst.log", tmpdir);
	logf = fopen(logpath, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(logf);
	srv_start();
	srv.mode = SRV_HOLD;
	route_conn = conn_start(tlsdir, srv.port, &p);
	CU_ASSERT_TRUE_FATAL(run_until(&p.first, 5000));
	CU_ASSERT_EQUAL_FATAL(socksd_new(base, "127.0.0.1:0", NULL,
	                          route_to_conn, NULL, &sd, err, sizeof(err)),
	    0);
	log_set_file(logf);
	log_set_level(LOG_LEVEL_INFO);

	/* Greeting, request and one payload byte: method reply, success
	 * reply, then the echo. */
	n = build_request(req, "echo.t.svc.cluster.local", 7, "z");
	for (int i = 0; i < BURST_CLIENTS; i++)
		sc_open(&sc[i], socksd_address(sd), req, n, 2 + 10 + 1);
	/* Up to the cap, then a while at it. */
	end = conn_now_ms() + 5000;
	while (srv.n_held < SOCKSD_MAX_PENDING && conn_now_ms() < end)
		run_for(10);
	run_for(300);
	CU_ASSERT_EQUAL(srv.n_held, SOCKSD_MAX_PENDING);
	CU_ASSERT_EQUAL(socksd_pending(sd), SOCKSD_MAX_PENDING);
	srv_release();

	end = conn_now_ms() + 30000;
	do {
		event_base_loop(base, EVLOOP_ONCE);
		if (socksd_pending(sd) > peak)
			peak = socksd_pending(sd);
		done = 0;
		for (int i = 0; i < BURST_CLIENTS; i++)
			done += sc[i].have_want;
	} while (done < BURST_CLIENTS && conn_now_ms() < end);

	for (int i = 0; i < BURST_CLIENTS; i++) {
		if (sc[i].eof)
			eof_early++;
		if (evbuffer_get_length(sc[i].got) != 13)
			continue;
		evbuffer_remove(sc[i].got, got, 13);
		if (got[1] == 0 && got[3] == SOCKS5_REP_SUCCEEDED &&
		    got[12] == 'z')
			ok++;
	}
	CU_ASSERT_EQUAL(eof_early, 0);
	CU_ASSERT_EQUAL(ok, BURST_CLIENTS);
	CU_ASSERT(peak <= SOCKSD_MAX_PENDING);
	CU_ASSERT_EQUAL(socksd_pending(sd), 0);

	log_set_level(getenv("TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	log_set_file(NULL);
	fclose(logf);
	CU_ASSERT_EQUAL(count_lines(logpath, "socks", "limit"), 1);

	for (int i = 0; i < BURST_CLIENTS; i++)
		sc_close(&sc[i]);
	free(sc);
	/* The streams end with their clients. */
	run_for(200);
	socksd_free(sd);
	conn_free(route_conn);
	route_conn = NULL;
	srv_stop();
}

/* ---- the daemon through its control socket ---- */

struct ctl_job {
	char sock[128];
	char req[1024];
	cJSON *resp;
	int progress;
	int rc;
	atomic_bool done;
	bool done_seen;
};

static void
job_progress(const cJSON *resp, void *arg)
{
	struct ctl_job *j = arg;

	j->progress++;
}

static void *
job_thread(void *arg)
{
	struct ctl_job *j = arg;
	struct ctl_conn *cc = NULL;
	cJSON *req = cJSON_Parse(j->req);
	char err[512];

	j->rc = ctl_connect(j->sock, &cc, err, sizeof(err));
	if (j->rc == 0)
		j->rc = ctl_call(cc, req, 10000, job_progress, j, &j->resp, err,
		    sizeof(err));
	ctl_conn_free(cc);
	cJSON_Delete(req);
	atomic_store(&j->done, true);
	return NULL;
}

static cJSON *ctl_request(const char *sock, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends one request from another thread while the loop runs here. */
static cJSON *
ctl_request(const char *sock, const char *fmt, ...)
{
	struct ctl_job *j = calloc(1, sizeof(*j));
	pthread_t th;
	va_list ap;
	cJSON *resp;
	long long end = conn_now_ms() + 10000;

	snprintf(j->sock, sizeof(j->sock), "%s", sock);
	va_start(ap, fmt);
	vsnprintf(j->req, sizeof(j->req), fmt, ap);
	va_end(ap);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, job_thread, j), 0);
	while (!atomic_load(&j->done) && conn_now_ms() < end)
		run_for(5);
	CU_ASSERT_TRUE(atomic_load(&j->done));
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(j->rc, 0);
	resp = j->resp;
	/* A connect that succeeds reports its stages first. */
	if (resp &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "connected")))
		CU_ASSERT(j->progress >= 2);
	free(j);
	return resp;
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool
jok(const cJSON *o)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
}

static void
stopped_cb(void *arg)
{
	*(bool *)arg = true;
}

static void
test_daemon(void)
{
	struct daemon_config cfg;
	struct daemon *d;
	char sock[128], err[512];
	cJSON *r, *conns, *c0;
	bool stopped = false;

	srv_start();
	snprintf(sock, sizeof(sock), "%s/run/telepodd.sock", tmpdir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = sock;
	cfg.socks_addr = "127.0.0.1:0";
	cfg.socket_gid = (gid_t)-1;
	CU_ASSERT_EQUAL_FATAL(daemon_new(base, &cfg, &d, err, sizeof(err)), 0);

	r = ctl_request(sock, "{\"cmd\":\"version\"}");
	CU_ASSERT_STRING_EQUAL(jstr(r, "version"), PACKAGE_VERSION);
	cJSON_Delete(r);

	/* Bad requests are answered, not crashed on. */
	r = ctl_request(sock, "{\"cmd\":\"connect\",\"server\":\"x:1\"}");
	CU_ASSERT_FALSE(jok(r));
	CU_ASSERT_STRING_EQUAL(jstr(r, "code"), CTL_E_BAD_REQUEST);
	cJSON_Delete(r);
	r = ctl_request(sock,
	    "{\"cmd\":\"connect\",\"server\":\"127.0.0.1:%u\",\"tls_dir\":\"%s/nope\",\"namespace\":\"t\",\"no_tun\":true}",
	    srv.port, tmpdir);
	CU_ASSERT_STRING_EQUAL(jstr(r, "code"), CTL_E_TLS_FILES);
	cJSON_Delete(r);
	r = ctl_request(sock, "{\"cmd\":\"env\",\"namespace\":\"t\"}");
	CU_ASSERT_STRING_EQUAL(jstr(r, "code"), CTL_E_NOT_CONNECTED);
	cJSON_Delete(r);

	r = ctl_request(sock,
	    "{\"cmd\":\"connect\",\"server\":\"127.0.0.1:%u\",\"tls_dir\":\"%s\",\"namespace\":\"t\",\"no_tun\":true}",
	    srv.port, tlsdir);
	CU_ASSERT_TRUE(jok(r));
	CU_ASSERT_TRUE(
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "connected")));
	CU_ASSERT_STRING_EQUAL(jstr(r, "socks"), daemon_socks_address(d));
	CU_ASSERT_STRING_EQUAL(jstr(r, "namespace"), "t");
	cJSON_Delete(r);

	r = ctl_request(sock,
	    "{\"cmd\":\"connect\",\"server\":\"127.0.0.1:%u\",\"tls_dir\":\"%s\",\"namespace\":\"t\",\"no_tun\":true}",
	    srv.port, tlsdir);
	CU_ASSERT_STRING_EQUAL(jstr(r, "code"), CTL_E_ALREADY_CONNECTED);
	cJSON_Delete(r);

	r = ctl_request(sock, "{\"cmd\":\"status\"}");
	CU_ASSERT_TRUE(jok(r));
	CU_ASSERT_STRING_EQUAL(
	    jstr(cJSON_GetObjectItemCaseSensitive(r, "daemon"), "socks"),
	    daemon_socks_address(d));
	conns = cJSON_GetObjectItemCaseSensitive(r, "connections");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(conns), 1);
	c0 = cJSON_GetArrayItem(conns, 0);
	CU_ASSERT_STRING_EQUAL(jstr(c0, "state"), "connected");
	CU_ASSERT_STRING_EQUAL(jstr(c0, "namespace"), "t");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
	                    c0, "cluster_subnets")),
	    2);
	CU_ASSERT_PTR_NOT_NULL(
	    cJSON_GetObjectItemCaseSensitive(c0, "bytes_in"));
	cJSON_Delete(r);

	r = ctl_request(sock, "{\"cmd\":\"env\",\"namespace\":\"t\"}");
	CU_ASSERT_TRUE(jok(r));
	CU_ASSERT_STRING_EQUAL(
	    jstr(cJSON_GetObjectItemCaseSensitive(r, "env"), "DATABASE_URL"),
	    "postgres://db:5432/app");
	cJSON_Delete(r);

	r = ctl_request(sock, "{\"cmd\":\"quit\",\"namespace\":\"other\"}");
	CU_ASSERT_STRING_EQUAL(jstr(r, "code"), CTL_E_NOT_CONNECTED);
	cJSON_Delete(r);
	r = ctl_request(sock, "{\"cmd\":\"quit\"}");
	CU_ASSERT_TRUE(jok(r));
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetArrayItem(
	        cJSON_GetObjectItemCaseSensitive(r, "disconnected"), 0)
	        ->valuestring,
	    "t");
	cJSON_Delete(r);
	CU_ASSERT_EQUAL(daemon_conn_count(d), 0);

	/* Connect again, then stop: GOAWAY, socket file removed. */
	r = ctl_request(sock,
	    "{\"cmd\":\"connect\",\"server\":\"127.0.0.1:%u\",\"tls_dir\":\"%s\",\"namespace\":\"t\",\"no_tun\":true}",
	    srv.port, tlsdir);
	CU_ASSERT_TRUE(jok(r));
	cJSON_Delete(r);
	daemon_stop(d, stopped_cb, &stopped);
	CU_ASSERT_TRUE(run_until(&stopped, 3000));
	CU_ASSERT_EQUAL(access(sock, F_OK), -1);
	daemon_free(d);
	srv_stop();
}

static void
test_name_namespace(void)
{
	char ns[64];

	CU_ASSERT_TRUE(daemon_name_namespace("redis.dev", ns, sizeof(ns)));
	CU_ASSERT_STRING_EQUAL(ns, "dev");
	CU_ASSERT_TRUE(daemon_name_namespace("redis.dev.svc", ns, sizeof(ns)));
	CU_ASSERT_STRING_EQUAL(ns, "dev");
	CU_ASSERT_TRUE(daemon_name_namespace(
	    "redis.dev.svc.cluster.local.", ns, sizeof(ns)));
	CU_ASSERT_STRING_EQUAL(ns, "dev");
	CU_ASSERT_TRUE(daemon_name_namespace(
	    "10-1-2-3.prod.pod.cluster.local", ns, sizeof(ns)));
	CU_ASSERT_STRING_EQUAL(ns, "prod");
	CU_ASSERT_TRUE(daemon_name_namespace("svc.x", ns, sizeof(ns)));
	CU_ASSERT_STRING_EQUAL(ns, "x");
	CU_ASSERT_FALSE(daemon_name_namespace("redis", ns, sizeof(ns)));
	CU_ASSERT_FALSE(daemon_name_namespace("a.B_c", ns, sizeof(ns)));
	CU_ASSERT_FALSE(daemon_name_namespace("", ns, sizeof(ns)));
	CU_ASSERT_FALSE(daemon_name_namespace("...", ns, sizeof(ns)));
}

static void
setup(void)
{
	char err[512];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_conn.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
	snprintf(tlsdir, sizeof(tlsdir), "%s/tls", tmpdir);
	snprintf(otherdir, sizeof(otherdir), "%s/other", tmpdir);
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(tlsdir, NULL, 0, 1, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(otherdir, NULL, 0, 1, 0, err, sizeof(err)), 0);
	base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	log_init("test_conn", LOG_LEVEL_WARN);
	if (getenv("TEST_DEBUG")) {
		log_set_level(LOG_LEVEL_DEBUG);
		log_set_debug(LOG_CAT_ALL);
	}
}

static void
teardown(void)
{
	char cmd[256];
	int r;

	event_base_free(base);
	base = NULL;
	/* Our own temporary directory, by its exact name. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	r = system(cmd);
	(void)r;
}

static const struct cunit_test tests[] = {
    {"setup", setup},
    {"backoff", test_backoff},
    {"connect_ok", test_connect_ok},
    {"connect_refused", test_connect_refused},
    {"connect_wrong_ca", test_connect_wrong_ca},
    {"connect_bad_server", test_connect_bad_server},
    {"connect_timeout", test_connect_timeout},
    {"reconnect", test_reconnect},
    {"parse_server_time", test_parse_server_time},
    {"clock_skew", test_clock_skew},
    {"pending_stream_reset_on_drop", test_pending_stream_reset_on_drop},
    {"close_drains_with_deadline", test_close_drains_with_deadline},
    {"socks_end_to_end", test_socks_end_to_end},
    {"socks_handshake_errors", test_socks_handshake_errors},
    {"socks_burst", test_socks_burst},
    {"daemon", test_daemon},
    {"name_namespace", test_name_namespace},
    {"teardown", teardown},
};

CUNIT_MAIN("conn", tests)
