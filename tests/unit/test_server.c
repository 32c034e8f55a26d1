/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server/session: a server session over an in-memory
 * bufferevent pair (no TLS) driven by a client-role mux session. OPEN to a
 * loopback echo listener round-trips bytes and half-closes (by address and
 * by name through dnsmasq and the search list), OPEN to a closed port gets
 * REFUSED, a missing name NAME_NOT_FOUND, ENV_REQUEST returns the env
 * file's pairs, DNS queries are answered through dnsmasq, HELLO carries the
 * extensions, GOAWAY drains, garbage ends only its own session. Then the
 * same over real TLS on a socketpair: a handshake, a handshake timeout and
 * a plain-text client. Skips (77) when dnsmasq is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "common/certs.h"
#include "common/log.h"
#include "common/mux.h"
#include "common/tlsconf.h"
#include "proto/frame.h"
#include "server/dnsmsg.h"
#include "server/env.h"
#include "server/resolver.h"
#include "server/session.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/dnsmasq.h"

static struct test_dnsmasq dns;

/* One test world: a base, a resolver, a server session and a client mux. */
struct world {
	struct event_base *base;
	struct resolver *resolver;
	struct env env;
	struct mux_kv env_kv[8];
	struct mux_kv ext[5];
	struct session_config cfg;
	struct session *server;
	int server_closed;
	struct mux_session *client;
	int client_ready;
	int client_closed;
	uint32_t client_close_err;
	int client_goaway;
	char peer_ns[64], peer_search[128], peer_subnets[64], peer_sw[64];
	char peer_time[64];
	/* Echo listener. */
	struct evconnlistener *echo;
	uint16_t echo_port;
	struct bufferevent *echo_conns[16]; /* freed by world_free */
	size_t n_echo;
	/* Last open result. */
	int open_calls;
	uint32_t open_err;
	char open_msg[256];
	/* Requests. */
	int env_calls;
	uint32_t env_err;
	char env_seen[256];
	int dns_calls;
	uint32_t dns_id, dns_err;
	uint8_t dns_msg[1024];
	size_t dns_len;
};

static const char env_text[] = "# test env\n"
                               "DATABASE_URL=postgres://db:5432/app\n"
                               "export API_KEY='s3cr3t value'\n"
                               "EMPTY=\n";

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* Runs the loop until *flag becomes non-zero or ms passed. */
static void
run_until(struct event_base *base, const int *flag, unsigned ms)
{
	int expired = 0;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *guard = evtimer_new(base, on_guard, &expired);

	evtimer_add(guard, &tv);
	while (*flag == 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
}

/* --- echo server ------------------------------------------------------ */

static void
echo_read(struct bufferevent *bev, void *arg)
{
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

/* Output drained after the client's FIN: send ours. */
static void
echo_drained(struct bufferevent *bev, void *arg)
{
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_disable(bev, EV_WRITE);
}

static void
echo_event(struct bufferevent *bev, short what, void *arg)
{
	/* On EOF, answer with our own FIN once the echo is written. The
	 * connection itself is freed by world_free. */
	bufferevent_disable(bev, EV_READ);
	if (!(what & BEV_EVENT_EOF)) {
		bufferevent_disable(bev, EV_WRITE);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		echo_drained(bev, arg);
	else
		bufferevent_setcb(bev, NULL, echo_drained, NULL, arg);
}

static void
echo_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct world *w = arg;
	struct bufferevent *bev = bufferevent_socket_new(
	    evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);

	if (w->n_echo == sizeof(w->echo_conns) / sizeof(*w->echo_conns)) {
		bufferevent_free(bev);
		return;
	}
	w->echo_conns[w->n_echo++] = bev;
	bufferevent_setcb(bev, echo_read, NULL, echo_event, arg);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
start_echo(struct world *w)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->echo = evconnlistener_new_bind(w->base, echo_accept, w,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->echo);
	getsockname(
	    evconnlistener_get_fd(w->echo), (struct sockaddr *)&sin, &len);
	w->echo_port = ntohs(sin.sin_port);
}

/* --- client callbacks -------------------------------------------------- */

static void
copy_str(char *out, size_t cap, const char *s)
{
	snprintf(out, cap, "%s", s ? s : "(none)");
}

static void
client_ready(struct mux_session *s, const struct mux_peer_info *p, void *arg)
{
	struct world *w = arg;

	w->client_ready = 1;
	copy_str(w->peer_ns, sizeof(w->peer_ns), p->namespace_name);
	copy_str(w->peer_search, sizeof(w->peer_search), p->dns_search);
	copy_str(w->peer_subnets, sizeof(w->peer_subnets), p->subnets);
	copy_str(w->peer_sw, sizeof(w->peer_sw), p->software);
	copy_str(w->peer_time, sizeof(w->peer_time), p->server_time);
	CU_ASSERT_TRUE(p->caps & WIRE_CAP_DNS);
	CU_ASSERT_TRUE(p->caps & WIRE_CAP_ENV);
	CU_ASSERT_TRUE(p->caps & WIRE_CAP_HOSTNAMES);
	CU_ASSERT_TRUE(p->caps & WIRE_CAP_IPV6);
}

static void
client_closed(struct mux_session *s, uint32_t err, const char *r, void *arg)
{
	struct world *w = arg;

	w->client_closed = 1;
	w->client_close_err = err;
}

static void
client_goaway(struct mux_session *s, uint32_t err, const char *m, void *arg)
{
	struct world *w = arg;

	w->client_goaway = 1;
}

static void
client_env_reply(struct mux_session *s, uint32_t id, uint32_t err,
    const struct frame *f, void *arg)
{
	struct world *w = arg;
	struct frame_env_iter it;
	struct frame_kv kv;
	size_t off = 0;

	w->env_calls++;
	w->env_err = err;
	if (!f)
		return;
	frame_env_iter_init(&it, f);
	while (frame_env_next(&it, &kv)) {
		off += (size_t)snprintf(w->env_seen + off,
		    sizeof(w->env_seen) - off, "%.*s=%.*s;", (int)kv.name_len,
		    kv.name, (int)kv.value_len, kv.value);
		if (off >= sizeof(w->env_seen))
			break;
	}
}

static void
client_dns_answer(struct mux_session *s, uint32_t id, uint32_t err,
    const uint8_t *msg, size_t len, void *arg)
{
	struct world *w = arg;

	w->dns_calls++;
	w->dns_id = id;
	w->dns_err = err;
	w->dns_len = len < sizeof(w->dns_msg) ? len : sizeof(w->dns_msg);
	if (msg)
		memcpy(w->dns_msg, msg, w->dns_len);
}

static void
on_open_result(struct mux_stream *st, uint32_t err, const char *msg, void *arg)
{
	struct world *w = arg;

	w->open_calls++;
	w->open_err = err;
	copy_str(w->open_msg, sizeof(w->open_msg), msg);
}

static void
server_closed(struct session *s, void *arg)
{
	struct world *w = arg;

	w->server_closed = 1;
	session_free(w->server);
	w->server = NULL;
}

/* --- world ----------------------------------------------------------- */

static void
world_init(struct world *w)
{
	struct resolver_config rc = {.resolv_conf = dns.resolv_conf,
	    .servers = dns.servers,
	    .timeout_ms = 1000,
	    .tries = 2};
	struct env_error err;

	memset(w, 0, sizeof(*w));
	w->base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->base);
	CU_ASSERT_EQUAL_FATAL(resolver_new(w->base, &rc, &w->resolver), 0);
	env_init(&w->env);
	CU_ASSERT_EQUAL_FATAL(
	    env_parse(&w->env, env_text, strlen(env_text), &err), 0);
	for (size_t i = 0; i < w->env.n; i++)
		w->env_kv[i] =
		    (struct mux_kv){w->env.vars[i].name, w->env.vars[i].value};
	w->ext[0] = (struct mux_kv){"software", "telepod-server/test"};
	w->ext[1] = (struct mux_kv){"namespace", "ns1"};
	w->ext[2] = (struct mux_kv){"cluster-domain", "cluster.local"};
	w->ext[3] = (struct mux_kv){"dns-search", "ns1.svc.cluster.local"};
	w->ext[4] = (struct mux_kv){"subnets", "10.96.0.0/12"};
	session_config_init(&w->cfg);
	w->cfg.base = w->base;
	w->cfg.resolver = w->resolver;
	w->cfg.hello_ext = w->ext;
	w->cfg.n_hello_ext = 5;
	w->cfg.env = w->env_kv;
	w->cfg.n_env = w->env.n;
	w->cfg.dial_timeout_ms = 2000;
	w->cfg.handshake_ms = 300;
	start_echo(w);
}

static struct mux_session *
new_client(struct world *w, struct bufferevent *carrier)
{
	struct mux_config mc;
	struct mux_callbacks cbs;
	struct mux_session *m = NULL;

	mux_config_init(&mc, WIRE_ROLE_CLIENT);
	memset(&cbs, 0, sizeof(cbs));
	cbs.on_ready = client_ready;
	cbs.on_closed = client_closed;
	cbs.on_goaway = client_goaway;
	cbs.on_env_reply = client_env_reply;
	cbs.on_dns_answer = client_dns_answer;
	CU_ASSERT_EQUAL(mux_session_new(w->base, carrier, &mc, &cbs, w, &m), 0);
	CU_ASSERT_EQUAL(mux_session_start(m), 0);
	return m;
}

/* A server session and a client mux over a bufferevent pair. */
static void
world_connect(struct world *w)
{
	struct bufferevent *pair[2];

	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w->base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	CU_ASSERT_EQUAL_FATAL(session_new(&w->cfg, 1, "pair", pair[0], false,
	                          server_closed, w, &w->server),
	    0);
	w->client = new_client(w, pair[1]);
	run_until(w->base, &w->client_ready, 3000);
	CU_ASSERT_EQUAL_FATAL(w->client_ready, 1);
}

static void
world_free(struct world *w)
{
	int never = 0;

	/* A bufferevent pair does not report its partner's free: end both
	 * sides explicitly. */
	session_free(w->server);
	w->server = NULL;
	mux_session_free(w->client);
	w->client = NULL;
	if (w->echo)
		evconnlistener_free(w->echo);
	for (size_t i = 0; i < w->n_echo; i++)
		bufferevent_free(w->echo_conns[i]);
	run_until(w->base, &never, 50);
	resolver_free(w->resolver);
	env_clear(&w->env);
	event_base_free(w->base);
}

/* --- stream helpers --------------------------------------------------- */

struct local_side {
	struct bufferevent *app; /* the test's end of the local pair */
	int eof;
	int error;
	struct evbuffer *got;
};

static void
local_read(struct bufferevent *bev, void *arg)
{
	struct local_side *l = arg;

	evbuffer_add_buffer(l->got, bufferevent_get_input(bev));
}

static void
local_event(struct bufferevent *bev, short what, void *arg)
{
	struct local_side *l = arg;

	if (what & BEV_EVENT_EOF)
		l->eof = 1;
	if (what & BEV_EVENT_ERROR)
		l->error = 1;
}

/* Opens a stream to dst with a pair as local; returns the stream. */
static struct mux_stream *
open_stream(struct world *w, const struct frame_addr *dst, struct local_side *l)
{
	struct bufferevent *pair[2];
	struct mux_stream *st = NULL;

	memset(l, 0, sizeof(*l));
	l->got = evbuffer_new();
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w->base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	l->app = pair[1];
	bufferevent_setcb(l->app, local_read, NULL, local_event, l);
	bufferevent_enable(l->app, EV_READ | EV_WRITE);
	w->open_calls = 0;
	CU_ASSERT_EQUAL_FATAL(
	    mux_stream_open(w->client, dst, pair[0], on_open_result, w, &st),
	    0);
	run_until(w->base, &w->open_calls, 5000);
	CU_ASSERT_EQUAL(w->open_calls, 1);
	return st;
}

static void
local_free(struct local_side *l)
{
	if (l->app)
		bufferevent_free(l->app);
	evbuffer_free(l->got);
}

static int
got_len(struct local_side *l, size_t want)
{
	return evbuffer_get_length(l->got) >= want;
}

/* Runs the loop until l holds want bytes (or 3 s). */
static void
wait_bytes(struct world *w, struct local_side *l, size_t want)
{
	for (int i = 0; i < 300 && !got_len(l, want); i++) {
		int never = 0;

		run_until(w->base, &never, 10);
	}
}

static void
echo_round_trip(struct world *w, const struct frame_addr *dst)
{
	static const char msg[] = "hello through telepod";
	struct local_side l;
	char buf[64];

	open_stream(w, dst, &l);
	CU_ASSERT_EQUAL(w->open_err, WIRE_OK);
	if (w->open_err != WIRE_OK) {
		local_free(&l);
		return;
	}
	bufferevent_write(l.app, msg, strlen(msg));
	wait_bytes(w, &l, strlen(msg));
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(l.got), strlen(msg));
	evbuffer_remove(l.got, buf, sizeof(buf));
	CU_ASSERT_EQUAL(memcmp(buf, msg, strlen(msg)), 0);
	/* Half-close: our FIN reaches the echo server, whose FIN comes back
	 * as EOF on our side. */
	bufferevent_flush(l.app, EV_WRITE, BEV_FINISHED);
	run_until(w->base, &l.eof, 3000);
	CU_ASSERT_EQUAL(l.eof, 1);
	local_free(&l);
}

/* --- tests ------------------------------------------------------------ */

/* Parses "YYYY-MM-DDTHH:MM:SSZ" strictly into seconds since the epoch
 * (days from the civil date, H. Hinnant's algorithm); -1 when s is not
 * that. */
static long long
parse_utc(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	int y, mo, d, h, mi, sec;
	long long era, yoe, doy, doe;

	if (strlen(s) != sizeof(shape) - 1)
		return -1;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
		                    : s[i] != shape[i])
			return -1;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &sec) !=
	        6 ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	y -= mo <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return ((era * 146097 + doe - 719468) * 86400) + h * 3600 + mi * 60 +
	       sec;
}

static void
test_hello(void)
{
	struct world w;
	long long t, now;

	world_init(&w);
	now = (long long)time(NULL);
	world_connect(&w);
	/* The helper itself, on known dates. */
	CU_ASSERT_EQUAL(parse_utc("2026-11-26T06:30:00Z"), 1795674600LL);
	CU_ASSERT_EQUAL(parse_utc("2000-02-29T23:59:59Z"), 951868799LL);
	CU_ASSERT_EQUAL(parse_utc("2026-11-26T06:30:00+01:00"), -1);
	/* server-time: the server's clock in RFC 3339 UTC, to the second. */
	t = parse_utc(w.peer_time);
	CU_ASSERT(t > 0);
	CU_ASSERT(t >= now - 1 && t <= (long long)time(NULL) + 1);
	CU_ASSERT_EQUAL(w.peer_time[10], 'T');
	CU_ASSERT_EQUAL(w.peer_time[19], 'Z');
	CU_ASSERT_STRING_EQUAL(w.peer_ns, "ns1");
	CU_ASSERT_STRING_EQUAL(w.peer_search, "ns1.svc.cluster.local");
	CU_ASSERT_STRING_EQUAL(w.peer_subnets, "10.96.0.0/12");
	CU_ASSERT_STRING_EQUAL(w.peer_sw, "telepod-server/test");
	CU_ASSERT_TRUE(session_is_established(w.server));
	CU_ASSERT_EQUAL(session_id(w.server), 1);
	world_free(&w);
}

static void
test_open_echo(void)
{
	struct world w;
	struct frame_addr dst;

	world_init(&w);
	world_connect(&w);
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = w.echo_port;
	memcpy(dst.a.v4, "\x7f\x00\x00\x01", 4);
	echo_round_trip(&w, &dst);
	/* By name: "echo" expands through the search list to
	 * echo.ns1.svc.cluster.local, 127.0.0.1 in dnsmasq. */
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_NAME;
	dst.port = w.echo_port;
	snprintf(dst.a.name, sizeof(dst.a.name), "echo");
	echo_round_trip(&w, &dst);
	world_free(&w);
}

static void
test_open_refused(void)
{
	struct world w;
	struct frame_addr dst;
	struct local_side l;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A loopback port that was just free. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);

	world_init(&w);
	world_connect(&w);
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = ntohs(sin.sin_port);
	memcpy(dst.a.v4, "\x7f\x00\x00\x01", 4);
	open_stream(&w, &dst, &l);
	CU_ASSERT_EQUAL(w.open_err, WIRE_ERR_REFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.open_msg, "refused"));
	local_free(&l);

	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_NAME;
	dst.port = 80;
	snprintf(
	    dst.a.name, sizeof(dst.a.name), "nosuch.ns1.svc.cluster.local");
	open_stream(&w, &dst, &l);
	CU_ASSERT_EQUAL(w.open_err, WIRE_ERR_NAME_NOT_FOUND);
	local_free(&l);
	/* The session carries on. */
	CU_ASSERT_FALSE(w.client_closed);
	CU_ASSERT_FALSE(w.server_closed);
	world_free(&w);
}

static void
test_env(void)
{
	struct world w;
	uint32_t id;

	world_init(&w);
	world_connect(&w);
	CU_ASSERT_EQUAL(mux_send_env_request(w.client, &id), 0);
	run_until(w.base, &w.env_calls, 3000);
	CU_ASSERT_EQUAL(w.env_calls, 1);
	CU_ASSERT_EQUAL(w.env_err, WIRE_OK);
	CU_ASSERT_STRING_EQUAL(w.env_seen,
	    "DATABASE_URL=postgres://db:5432/app;API_KEY=s3cr3t value;EMPTY=;");
	world_free(&w);
}

/* Encodes f and writes it to bev (a raw client, no mux). */
static void
raw_send(struct bufferevent *bev, const struct frame *f)
{
	uint8_t buf[256];
	int n = frame_encode(f, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	bufferevent_write(bev, buf, (size_t)n);
}

/* A raw client's HELLO (no extensions). */
static void
raw_hello(struct bufferevent *bev)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_HELLO;
	f.u.hello.role = WIRE_ROLE_CLIENT;
	f.u.hello.min_proto = WIRE_PROTO_MIN;
	f.u.hello.max_proto = WIRE_PROTO_MAX;
	f.u.hello.conn_window = WIRE_DEFAULT_CONN_WINDOW;
	raw_send(bev, &f);
}

/*
 * An environment too large for one ENV_REPLY (env_parse bounds the env
 * file, but the session must not rely on it): the client gets exactly one
 * reply, RESOURCE with no entries, as the spec says. Counted on the wire
 * by a raw client, since a mux client ignores a reply to an id it no longer
 * waits for.
 */
static void
test_env_too_large(void)
{
	static char big[3][100001];
	struct mux_kv vars[3] = {
	    {"BIG_A", big[0]}, {"BIG_B", big[1]}, {"BIG_C", big[2]}};
	struct world w;
	struct bufferevent *pair[2];
	struct evbuffer *in;
	struct frame f;
	int never = 0, hellos = 0, replies = 0, r;
	uint32_t err;

	for (size_t i = 0; i < 3; i++) {
		memset(big[i], 'v', sizeof(big[i]) - 1);
		big[i][sizeof(big[i]) - 1] = '\0';
	}
	world_init(&w);
	w.cfg.env = vars;
	w.cfg.n_env = 3;
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w.base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	CU_ASSERT_EQUAL_FATAL(session_new(&w.cfg, 1, "raw", pair[0], false,
	                          server_closed, &w, &w.server),
	    0);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	raw_hello(pair[1]);
	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_ENV_REQUEST;
	f.u.env_request.id = 7;
	raw_send(pair[1], &f);
	run_until(w.base, &never, 300);

	in = bufferevent_get_input(pair[1]);
	while (evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in);

		r = frame_decode(evbuffer_pullup(in, -1), len, &f, &err);
		CU_ASSERT_FATAL(r > 0);
		if (f.h.type == WIRE_HELLO)
			hellos++;
		if (f.h.type == WIRE_ENV_REPLY) {
			replies++;
			CU_ASSERT_EQUAL(f.u.env_reply.id, 7);
			CU_ASSERT_EQUAL(f.u.env_reply.error, WIRE_ERR_RESOURCE);
			CU_ASSERT_EQUAL(f.u.env_reply.count, 0);
		}
		evbuffer_drain(in, (size_t)r);
	}
	CU_ASSERT_EQUAL(hellos, 1);
	CU_ASSERT_EQUAL(replies, 1);
	/* The session carries on. */
	CU_ASSERT_EQUAL(w.server_closed, 0);
	bufferevent_free(pair[1]);
	world_free(&w);
}

static void
test_dns(void)
{
	struct world w;
	uint8_t q[256];
	size_t qlen = test_dns_query(
	    q, sizeof(q), 0xcafe, "gateway.ns1.svc.cluster.local", 1);
	uint32_t id;

	world_init(&w);
	world_connect(&w);
	CU_ASSERT_EQUAL(mux_send_dns_query(w.client, q, qlen, &id), 0);
	run_until(w.base, &w.dns_calls, 5000);
	CU_ASSERT_EQUAL(w.dns_calls, 1);
	CU_ASSERT_EQUAL(w.dns_id, id);
	CU_ASSERT_EQUAL(w.dns_err, WIRE_OK);
	CU_ASSERT_FATAL(w.dns_len > qlen);
	CU_ASSERT_EQUAL(dnsmsg_id(w.dns_msg), 0xcafe);
	CU_ASSERT_EQUAL(dnsmsg_rcode(w.dns_msg), DNSMSG_NOERROR);
	/* The A record's data ends the answer. */
	CU_ASSERT_EQUAL(
	    memcmp(w.dns_msg + w.dns_len - 4, "\x0a\x60\x00\x0a", 4), 0);
	/* NXDOMAIN is an answer too. */
	qlen = test_dns_query(q, sizeof(q), 0x0102, "nosuch.cluster.local", 1);
	w.dns_calls = 0;
	CU_ASSERT_EQUAL(mux_send_dns_query(w.client, q, qlen, &id), 0);
	run_until(w.base, &w.dns_calls, 5000);
	CU_ASSERT_EQUAL(w.dns_err, WIRE_OK);
	CU_ASSERT_EQUAL(dnsmsg_id(w.dns_msg), 0x0102);
	CU_ASSERT_EQUAL(dnsmsg_rcode(w.dns_msg), DNSMSG_NXDOMAIN);
	/* A malformed query gets FORMERR from its header. */
	q[2] |= 0x80;
	w.dns_calls = 0;
	CU_ASSERT_EQUAL(mux_send_dns_query(w.client, q, qlen, &id), 0);
	run_until(w.base, &w.dns_calls, 5000);
	CU_ASSERT_EQUAL(w.dns_err, WIRE_OK);
	CU_ASSERT_EQUAL(w.dns_len, DNSMSG_HEADER_LEN);
	CU_ASSERT_EQUAL(dnsmsg_rcode(w.dns_msg), DNSMSG_FORMERR);
	world_free(&w);
}

static void
test_goaway(void)
{
	struct world w;
	struct frame_addr dst;
	struct local_side l;

	world_init(&w);
	world_connect(&w);
	/* An open stream keeps the session until it ends. */
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = w.echo_port;
	memcpy(dst.a.v4, "\x7f\x00\x00\x01", 4);
	open_stream(&w, &dst, &l);
	CU_ASSERT_EQUAL_FATAL(w.open_err, WIRE_OK);
	session_goaway(w.server, "test drain");
	run_until(w.base, &w.client_goaway, 2000);
	CU_ASSERT_EQUAL(w.client_goaway, 1);
	CU_ASSERT_EQUAL(w.server_closed, 0);
	CU_ASSERT_EQUAL(session_stream_count(w.server), 1);
	/* New opens are refused during the drain. */
	{
		struct bufferevent *pair[2];

		bufferevent_pair_new(w.base, BEV_OPT_CLOSE_ON_FREE, pair);
		CU_ASSERT_EQUAL(mux_stream_open(w.client, &dst, pair[0],
		                    on_open_result, &w, NULL),
		    -ESHUTDOWN);
		bufferevent_free(pair[0]);
		bufferevent_free(pair[1]);
	}
	/* Finishing the stream ends the session. */
	bufferevent_flush(l.app, EV_WRITE, BEV_FINISHED);
	run_until(w.base, &w.server_closed, 3000);
	CU_ASSERT_EQUAL(w.server_closed, 1);
	local_free(&l);
	world_free(&w);
}

static void
test_garbage(void)
{
	struct world w;
	struct bufferevent *pair[2];
	struct session *other;
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	world_init(&w);
	world_connect(&w);
	/* A second session whose client speaks HTTP. */
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w.base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	{
		int closed = 0;
		struct world shadow;

		memset(&shadow, 0, sizeof(shadow));
		CU_ASSERT_EQUAL_FATAL(
		    session_new(&w.cfg, 2, "junk", pair[0], false,
		        server_closed, &shadow, &other),
		    0);
		shadow.server = other;
		bufferevent_write(pair[1], junk, sizeof(junk) - 1);
		bufferevent_enable(pair[1], EV_READ | EV_WRITE);
		run_until(w.base, &shadow.server_closed, 3000);
		CU_ASSERT_EQUAL(shadow.server_closed, 1);
		(void)closed;
	}
	bufferevent_free(pair[1]);
	/* The first session still serves. */
	{
		uint32_t id;

		CU_ASSERT_EQUAL(mux_send_env_request(w.client, &id), 0);
		run_until(w.base, &w.env_calls, 3000);
		CU_ASSERT_EQUAL(w.env_err, WIRE_OK);
	}
	world_free(&w);
}

/* A listener whose accept queue is full: connects to it hang. */
static int
blackhole(uint16_t *ret_port, int fill[4], size_t *ret_nfill)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 0) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	*ret_nfill = 0;
	for (size_t i = 0; i < 4; i++) {
		struct timeval tv = {0, 200000};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			close(fd);
			break;
		}
		fill[(*ret_nfill)++] = fd;
	}
	*ret_port = ntohs(sin.sin_port);
	return lfd;
}

static void
test_cancel_dial(void)
{
	struct world w;
	struct frame_addr dst;
	struct bufferevent *pair[2];
	struct mux_stream *st = NULL;
	int fill[4], lfd, never = 0;
	size_t nfill = 0;
	uint16_t port = 0;
	uint32_t id;

	lfd = blackhole(&port, fill, &nfill);
	CU_ASSERT_FATAL(lfd >= 0);
	world_init(&w);
	world_connect(&w);
	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = port;
	memcpy(dst.a.v4, "\x7f\x00\x00\x01", 4);

	/* The client gives up while the server is still dialing. */
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w.base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	w.open_calls = 0;
	CU_ASSERT_EQUAL_FATAL(
	    mux_stream_open(w.client, &dst, pair[0], on_open_result, &w, &st),
	    0);
	run_until(w.base, &never, 100);
	CU_ASSERT_EQUAL(session_stream_count(w.server), 1);
	CU_ASSERT_EQUAL(mux_stream_reset(st, WIRE_ERR_CANCEL, "gave up"), 0);
	CU_ASSERT_EQUAL(w.open_calls, 1);
	CU_ASSERT_EQUAL(w.open_err, WIRE_ERR_CANCEL);
	run_until(w.base, &never, 100);
	CU_ASSERT_EQUAL(session_stream_count(w.server), 0);
	bufferevent_free(pair[1]);
	/* The session still serves. */
	CU_ASSERT_EQUAL(mux_send_env_request(w.client, &id), 0);
	run_until(w.base, &w.env_calls, 3000);
	CU_ASSERT_EQUAL(w.env_err, WIRE_OK);

	/* The session ends while a dial is pending (ASan checks the rest). */
	CU_ASSERT_EQUAL_FATAL(
	    bufferevent_pair_new(w.base, BEV_OPT_CLOSE_ON_FREE, pair), 0);
	CU_ASSERT_EQUAL_FATAL(
	    mux_stream_open(w.client, &dst, pair[0], on_open_result, &w, &st),
	    0);
	run_until(w.base, &never, 100);
	CU_ASSERT_EQUAL(session_stream_count(w.server), 1);
	/* Freed before the base: libevent finalizes pairs from the loop. */
	bufferevent_free(pair[1]);
	world_free(&w);
	for (size_t i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
}

/* --- TLS -------------------------------------------------------------- */

static char certdir[64];

static int
make_certs(void)
{
	char err[256];

	snprintf(certdir, sizeof(certdir), "/tmp/telepod-server-certs-XXXXXX");
	if (!mkdtemp(certdir))
		return -errno;
	/* certs_create makes the directory's contents. */
	return certs_create(certdir, NULL, 0, 1, CERTS_FORCE, err, sizeof(err));
}

static void
remove_certs(void)
{
	static const char *const files[] = {CERTS_CA_CRT, CERTS_CA_KEY,
	    CERTS_SERVER_CRT, CERTS_SERVER_KEY, CERTS_CLIENT_CRT,
	    CERTS_CLIENT_KEY};
	char path[128];

	if (!certdir[0])
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", certdir, files[i]);
		unlink(path);
	}
	rmdir(certdir);
	certdir[0] = '\0';
}

static void
test_tlsconf(void)
{
	struct world w;
	SSL_CTX *sctx = NULL, *cctx = NULL;
	char err[TLSCONF_ERROR_MAX];
	struct bufferevent *sbev, *cbev;
	int sv[2];
	uint32_t id;

	CU_ASSERT_EQUAL_FATAL(make_certs(), 0);
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_server_ctx_new(certdir, &sctx, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_client_ctx_new(certdir, NULL, &cctx, err, sizeof(err)), 0);
	world_init(&w);

	/* A real client: handshake, then a mux session over TLS. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sbev = tlsconf_bufferevent_accept(w.base, sctx, sv[0]);
	cbev = tlsconf_bufferevent_connect(w.base, cctx, sv[1]);
	CU_ASSERT_FATAL(sbev && cbev);
	CU_ASSERT_EQUAL_FATAL(session_new(&w.cfg, 5, "tls-peer", sbev, true,
	                          server_closed, &w, &w.server),
	    0);
	CU_ASSERT_FALSE(session_is_established(w.server));
	w.client = new_client(&w, cbev);
	run_until(w.base, &w.client_ready, 3000);
	CU_ASSERT_EQUAL(w.client_ready, 1);
	CU_ASSERT_TRUE(session_is_established(w.server));
	CU_ASSERT_EQUAL(mux_send_env_request(w.client, &id), 0);
	run_until(w.base, &w.env_calls, 3000);
	CU_ASSERT_EQUAL(w.env_err, WIRE_OK);
	mux_session_free(w.client);
	w.client = NULL;
	run_until(w.base, &w.server_closed, 3000);
	CU_ASSERT_EQUAL(w.server_closed, 1);

	/* A silent TCP client: the handshake deadline ends it. */
	w.server_closed = 0;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sbev = tlsconf_bufferevent_accept(w.base, sctx, sv[0]);
	CU_ASSERT_EQUAL_FATAL(session_new(&w.cfg, 6, "silent", sbev, true,
	                          server_closed, &w, &w.server),
	    0);
	run_until(w.base, &w.server_closed, 3000);
	CU_ASSERT_EQUAL(w.server_closed, 1);
	close(sv[1]);

	/* A plain-text client: refused by the handshake. */
	w.server_closed = 0;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sbev = tlsconf_bufferevent_accept(w.base, sctx, sv[0]);
	CU_ASSERT_EQUAL_FATAL(session_new(&w.cfg, 7, "plain", sbev, true,
	                          server_closed, &w, &w.server),
	    0);
	CU_ASSERT_EQUAL(write(sv[1], "GET / HTTP/1.0\r\n\r\n", 18), 18);
	run_until(w.base, &w.server_closed, 3000);
	CU_ASSERT_EQUAL(w.server_closed, 1);
	close(sv[1]);

	/* Drain during a handshake ends the session at once. */
	w.server_closed = 0;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sbev = tlsconf_bufferevent_accept(w.base, sctx, sv[0]);
	CU_ASSERT_EQUAL_FATAL(session_new(&w.cfg, 8, "draining", sbev, true,
	                          server_closed, &w, &w.server),
	    0);
	session_goaway(w.server, "shutting down");
	CU_ASSERT_EQUAL(w.server_closed, 1);
	close(sv[1]);

	world_free(&w);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	remove_certs();
}

static const struct cunit_test tests[] = {
    {"hello", test_hello},
    {"open_echo", test_open_echo},
    {"open_refused", test_open_refused},
    {"env", test_env},
    {"env_too_large", test_env_too_large},
    {"dns", test_dns},
    {"goaway", test_goaway},
    {"garbage", test_garbage},
    {"cancel_dial", test_cancel_dial},
    {"tls", test_tlsconf},
};

static void
cleanup(void)
{
	test_dnsmasq_stop(&dns);
	remove_certs();
}

int
main(void)
{
	int r;

	if (!test_dnsmasq_available()) {
		fprintf(stderr, "test_server: %s not installed, skipping\n",
		    TEST_DNSMASQ_BIN);
		return 77;
	}
	r = test_dnsmasq_start(&dns);
	if (r < 0) {
		fprintf(stderr, "test_server: cannot start dnsmasq: %s\n",
		    strerror(-r));
		return 99;
	}
	atexit(cleanup);
	/* As telepod-server does: a peer gone mid-write is an error, not a
	 * signal. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_server", LOG_LEVEL_INFO);
	return cunit_run(
	    "server", NULL, NULL, tests, sizeof(tests) / sizeof(*tests));
}
