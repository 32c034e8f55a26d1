/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/mux: two sessions back to back in memory (a
 * bufferevent_pair carrier, or a socketpair where a real EOF is needed),
 * locals as bufferevent_pair ends or loopback TCP sockets, or one session
 * facing a "raw" peer the test drives frame by frame. Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_segs_in */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/monotime.h"
#include "common/mux.h"
#include "proto/frame.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/vectors.h"

#define WAIT_MS    15000
#define MAX_APPS   4096
#define MAX_FRAMES 8192

/*
 * Test fixtures.
 */

struct world;

/* One end of a relayed connection as an application sees it: sends a
 * pattern, checks the pattern it receives. */
struct app {
	struct world *w;
	struct bufferevent *bev;     /* the test's end */
	struct bufferevent *mux_end; /* the end the mux owns */
	struct mux_stream *st;
	uint8_t seed_tx, seed_rx;
	bool started;
	uint64_t to_send, sent, received;
	bool send_eof, eof_sent, got_eof, got_error, bad, slow;
	int open_calls;
	uint32_t open_err;
	char open_msg[128];
	int closed_calls;
	uint32_t closed_err;
	int peer_fin;
	int wrote; /* MUX_STREAM_WROTE events */
};

enum side_mode {
	MODE_ACCEPT,
	MODE_REJECT,
	MODE_PENDING,
};

struct side {
	struct world *w;
	struct mux_session *s;
	int ready, closed, goaway;
	uint32_t close_err, goaway_err;
	char reason[256];
	/* How peer opens are answered. */
	enum side_mode mode;
	uint64_t to_send;
	bool send_eof, slow;
	struct mux_stream *pending[64];
	int n_pending, pending_closed;
	/* Requests. */
	int dns_queries, dns_answers, env_requests, env_replies;
	uint32_t last_id, last_err;
	size_t last_len;
	int env_count;
	bool env_ok;
};

/* A frame received by the raw peer. */
struct raw_frame {
	uint8_t type;
	uint32_t stream_id;
	uint32_t error; /* GOAWAY, RESET, OPEN_RESULT, DNS_ANSWER */
	uint32_t value; /* OPEN_RESULT window, WINDOW increment */
};

struct raw {
	struct bufferevent *bev;
	struct raw_frame frames[MAX_FRAMES];
	int n_frames;
	bool garbage;
};

struct world {
	struct event_base *base;
	struct event *ticker;
	struct side a, b; /* a: client, b: server */
	struct raw raw;
	struct app *apps[MAX_APPS];
	int n_apps;
};

static uint8_t
pat(uint64_t i, uint8_t seed)
{
	return (uint8_t)((i * 131u) ^ (i >> 9) ^ seed);
}

static void
ticker_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until cond(arg) or timeout_ms; returns cond's value. */
static bool
run_until(struct world *w, bool (*cond)(void *), void *arg, int timeout_ms)
{
	uint64_t deadline = monotime_ms() + (uint64_t)timeout_ms;

	while (!cond(arg)) {
		if (monotime_ms() > deadline)
			return cond(arg);
		event_base_loop(w->base, EVLOOP_ONCE);
	}
	return true;
}

/* Runs the loop for about ms milliseconds. */
static void
run_for(struct world *w, int ms)
{
	uint64_t deadline = monotime_ms() + (uint64_t)ms;

	while (monotime_ms() < deadline)
		event_base_loop(w->base, EVLOOP_ONCE);
}

/* Runs ready callbacks without waiting. */
static void
run_spin(struct world *w, int turns)
{
	for (int i = 0; i < turns; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
}

static void
world_init(struct world *w)
{
	struct timeval tv = {0, 5000};

	memset(w, 0, sizeof(*w));
	/* As the daemons do: a peer closing a socket is an error return,
	 * not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("MUX_DEBUG")) {
		log_init("test_mux", LOG_LEVEL_DEBUG);
		log_set_debug(LOG_CAT_MUX);
	}
	w->base = event_base_new();
	w->ticker = event_new(w->base, -1, EV_PERSIST, ticker_cb, NULL);
	event_add(w->ticker, &tv);
	w->a.w = w;
	w->b.w = w;
}

static void
world_free(struct world *w)
{
	/* Sessions first: their stream callbacks write into the apps. */
	mux_session_free(w->a.s);
	mux_session_free(w->b.s);
	/* Deferred callbacks hold references on their bufferevents: let them
	 * run (into the apps, still alive) before anything is freed. */
	run_spin(w, 3);
	for (int i = 0; i < w->n_apps; i++)
		if (w->apps[i]->bev)
			bufferevent_free(w->apps[i]->bev);
	if (w->raw.bev)
		bufferevent_free(w->raw.bev);
	run_spin(w, 3);
	for (int i = 0; i < w->n_apps; i++)
		free(w->apps[i]);
	event_free(w->ticker);
	event_base_free(w->base);
}

/*
 * Apps.
 */

static void
app_fill(struct app *app)
{
	static uint8_t chunk[64 * 1024];
	struct evbuffer *out;

	if (!app->bev || !app->started)
		return;
	out = bufferevent_get_output(app->bev);
	while (
	    app->sent < app->to_send && evbuffer_get_length(out) < 256 * 1024) {
		size_t n = sizeof(chunk);

		if (n > app->to_send - app->sent)
			n = (size_t)(app->to_send - app->sent);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pat(app->sent + i, app->seed_tx);
		bufferevent_write(app->bev, chunk, n);
		app->sent += n;
	}
	if (app->sent == app->to_send && app->send_eof && !app->eof_sent) {
		app->eof_sent = true;
		bufferevent_flush(app->bev, EV_WRITE, BEV_FINISHED);
	}
}

static void
app_read_cb(struct bufferevent *bev, void *arg)
{
	struct app *app = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[16384];
	size_t n;

	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0 &&
	       n != (size_t)-1) {
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pat(app->received + i, app->seed_rx))
				app->bad = true;
		app->received += n;
	}
}

static void
app_write_cb(struct bufferevent *bev, void *arg)
{
	app_fill(arg);
}

static void
app_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct app *app = arg;

	if (what & BEV_EVENT_EOF)
		app->got_eof = true;
	if (what & BEV_EVENT_ERROR)
		app->got_error = true;
}

/* A pair for a local: the app keeps one end, the mux gets the other. */
static struct app *
app_new(struct world *w, uint64_t to_send, bool send_eof)
{
	struct bufferevent *pair[2];
	struct app *app = calloc(1, sizeof(*app));

	CU_ASSERT_FATAL(app != NULL);
	CU_ASSERT_FATAL(w->n_apps < MAX_APPS);
	CU_ASSERT_FATAL(
	    bufferevent_pair_new(w->base,
	        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) == 0);
	app->w = w;
	app->bev = pair[0];
	app->mux_end = pair[1];
	app->to_send = to_send;
	app->send_eof = send_eof;
	bufferevent_setcb(
	    app->bev, app_read_cb, app_write_cb, app_event_cb, app);
	bufferevent_enable(app->bev, EV_READ | EV_WRITE);
	w->apps[w->n_apps++] = app;
	return app;
}

static void
app_stream_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct app *app = arg;

	if (ev == MUX_STREAM_PEER_FIN) {
		app->peer_fin++;
	} else if (ev == MUX_STREAM_WROTE) {
		app->wrote++;
	} else if (ev == MUX_STREAM_CLOSED) {
		app->closed_calls++;
		app->closed_err = error;
		app->st = NULL;
	}
}

static void
app_open_cb(struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	struct app *app = arg;

	app->open_calls++;
	app->open_err = error;
	snprintf(app->open_msg, sizeof(app->open_msg), "%s", msg);
}

static uint8_t
seed_a(uint32_t id)
{
	return (uint8_t)(id * 5u + 1u);
}

static uint8_t
seed_b(uint32_t id)
{
	return (uint8_t)(id * 7u + 3u);
}

static void
app_start(struct app *app, uint8_t tx, uint8_t rx)
{
	app->seed_tx = tx;
	app->seed_rx = rx;
	app->started = true;
	app_fill(app);
}

static struct frame_addr
addr_v4(uint16_t port)
{
	struct frame_addr dst;

	memset(&dst, 0, sizeof(dst));
	dst.type = WIRE_ADDR_IPV4;
	dst.port = port;
	dst.a.v4[0] = 10;
	dst.a.v4[3] = 7;
	return dst;
}

/* Opens a stream from side a with a fresh app. */
static struct app *
open_app(struct world *w, uint64_t to_send, bool send_eof)
{
	struct app *app = app_new(w, to_send, send_eof);
	struct frame_addr dst = addr_v4(80);
	struct mux_stream *st = NULL;
	int r;

	r = mux_stream_open(w->a.s, &dst, app->mux_end, app_open_cb, app, &st);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	app->st = st;
	mux_stream_set_event_cb(st, app_stream_event, app);
	app_start(app, seed_a(mux_stream_id(st)), seed_b(mux_stream_id(st)));
	return app;
}

/*
 * Session callbacks.
 */

static void
side_ready(struct mux_session *s, const struct mux_peer_info *peer, void *arg)
{
	struct side *sd = arg;

	sd->ready++;
}

static void
side_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
	struct side *sd = arg;

	sd->closed++;
	sd->close_err = error;
	snprintf(sd->reason, sizeof(sd->reason), "%s", reason);
}

static void
side_goaway(struct mux_session *s, uint32_t error, const char *msg, void *arg)
{
	struct side *sd = arg;

	sd->goaway++;
	sd->goaway_err = error;
}

static void
pending_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct side *sd = arg;

	if (ev == MUX_STREAM_CLOSED) {
		sd->pending_closed++;
		for (int i = 0; i < sd->n_pending; i++)
			if (sd->pending[i] == st)
				sd->pending[i] = NULL;
	}
}

static void
side_open(struct mux_session *s, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	struct side *sd = arg;
	struct app *app;
	uint32_t id = mux_stream_id(st);

	switch (sd->mode) {
	case MODE_REJECT:
		CU_ASSERT_EQUAL(
		    mux_stream_reject(st, WIRE_ERR_REFUSED, "nope"), 0);
		break;
	case MODE_PENDING:
		mux_stream_set_event_cb(st, pending_event, sd);
		if (sd->n_pending < 64)
			sd->pending[sd->n_pending++] = st;
		break;
	case MODE_ACCEPT:
		app = app_new(sd->w, sd->to_send, sd->send_eof);
		app->st = st;
		app->slow = sd->slow;
		if (app->slow)
			bufferevent_disable(app->bev, EV_READ);
		mux_stream_set_event_cb(st, app_stream_event, app);
		CU_ASSERT_EQUAL_FATAL(mux_stream_accept(st, app->mux_end), 0);
		app_start(app, seed_b(id), seed_a(id));
		break;
	}
}

static void
side_dns_query(struct mux_session *s, uint32_t id, const uint8_t *msg,
    size_t len, void *arg)
{
	struct side *sd = arg;

	sd->dns_queries++;
	/* Echo the query back as the answer. */
	CU_ASSERT_EQUAL(mux_send_dns_answer(s, id, WIRE_OK, msg, len), 0);
}

static void
side_dns_answer(struct mux_session *s, uint32_t id, uint32_t error,
    const uint8_t *msg, size_t len, void *arg)
{
	struct side *sd = arg;

	sd->dns_answers++;
	sd->last_id = id;
	sd->last_err = error;
	sd->last_len = len;
}

static void
side_env_request(struct mux_session *s, uint32_t id, void *arg)
{
	static const struct mux_kv vars[] = {
	    {"HOME", "/root"},
	    {"DB_URL", "postgres://db:5432/x"},
	    {"EMPTY", ""},
	};
	struct side *sd = arg;

	sd->env_requests++;
	CU_ASSERT_EQUAL(mux_send_env_reply(s, id, WIRE_OK, vars, 3), 0);
}

static void
side_env_reply(struct mux_session *s, uint32_t id, uint32_t error,
    const struct frame *f, void *arg)
{
	struct side *sd = arg;
	struct frame_env_iter it;
	struct frame_kv kv;

	sd->env_replies++;
	sd->last_id = id;
	sd->last_err = error;
	sd->env_count = 0;
	sd->env_ok = false;
	if (!f)
		return;
	frame_env_iter_init(&it, f);
	while (frame_env_next(&it, &kv)) {
		if (kv.name_len == 6 && !memcmp(kv.name, "DB_URL", 6) &&
		    kv.value_len == 20 &&
		    !memcmp(kv.value, "postgres://db:5432/x", 20))
			sd->env_ok = true;
		sd->env_count++;
	}
}

static const struct mux_callbacks side_cbs = {
    .on_ready = side_ready,
    .on_closed = side_closed,
    .on_goaway = side_goaway,
    .on_open = side_open,
    .on_dns_query = side_dns_query,
    .on_dns_answer = side_dns_answer,
    .on_env_request = side_env_request,
    .on_env_reply = side_env_reply,
};

static void
test_config(struct mux_config *cfg, uint8_t role)
{
	static const struct mux_kv client_ext[] = {
	    {"software", "telepod/0.1.0"},
	};
	static const struct mux_kv server_ext[] = {
	    {"software", "telepod/0.1.0"},
	    {"namespace", "dev"},
	    {"cluster-domain", "cluster.local"},
	    {"dns-search", "dev.svc.cluster.local svc.cluster.local"},
	    {"subnets", "10.96.0.0/12,10.244.0.0/16"},
	};

	mux_config_init(cfg, role);
	if (role == WIRE_ROLE_CLIENT) {
		cfg->ext = client_ext;
		cfg->n_ext = 1;
		cfg->log_id = 1;
	} else {
		cfg->caps = WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES |
		            WIRE_CAP_IPV6;
		cfg->ext = server_ext;
		cfg->n_ext = 5;
		cfg->log_id = 2;
	}
}

static void
carrier_pair(struct world *w, bool sockets, struct bufferevent **ret_a,
    struct bufferevent **ret_b)
{
	struct bufferevent *pair[2];

	if (sockets) {
		int fds[2];

		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
		evutil_make_socket_nonblocking(fds[0]);
		evutil_make_socket_nonblocking(fds[1]);
		pair[0] = bufferevent_socket_new(w->base, fds[0],
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		pair[1] = bufferevent_socket_new(w->base, fds[1],
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	} else {
		CU_ASSERT_FATAL(
		    bufferevent_pair_new(w->base,
		        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
		        pair) == 0);
	}
	*ret_a = pair[0];
	*ret_b = pair[1];
}

static bool
both_ready(void *arg)
{
	struct world *w = arg;

	return w->a.ready && w->b.ready;
}

/* Connects a (client) and b (server) with the given configs. */
static void
world_connect(struct world *w, const struct mux_config *ca,
    const struct mux_config *cb, bool sockets)
{
	struct bufferevent *ea, *eb;

	carrier_pair(w, sockets, &ea, &eb);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w->base, ea, ca, &side_cbs, &w->a, &w->a.s), 0);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w->base, eb, cb, &side_cbs, &w->b, &w->b.s), 0);
	CU_ASSERT_EQUAL(mux_session_start(w->a.s), 0);
	CU_ASSERT_EQUAL(mux_session_start(w->b.s), 0);
}

static void
world_up(struct world *w, bool sockets)
{
	struct mux_config ca, cb;

	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	world_connect(w, &ca, &cb, sockets);
	CU_ASSERT_FATAL(run_until(w, both_ready, w, WAIT_MS));
}

/* A fresh world, connected over a bufferevent pair, where side b's apps
 * send nothing unless a test says so. */
static void
world_up_quiet(struct world *w)
{
	world_init(w);
	world_up(w, false);
	w->b.to_send = 0;
}

/*
 * The raw peer: the test speaks frames directly to one session.
 */

static void
raw_read_cb(struct bufferevent *bev, void *arg)
{
	struct raw *raw = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len = evbuffer_get_length(in);
		struct frame f;
		uint32_t err;
		uint8_t *p;
		int r;

		if (len == 0)
			break;
		p = evbuffer_pullup(in, (ev_ssize_t)len);
		r = frame_decode(p, len, &f, &err);
		if (r == 0)
			break;
		if (r < 0) {
			raw->garbage = true;
			evbuffer_drain(in, len);
			break;
		}
		if (raw->n_frames < MAX_FRAMES) {
			struct raw_frame *rf = &raw->frames[raw->n_frames++];

			memset(rf, 0, sizeof(*rf));
			rf->type = f.h.type;
			rf->stream_id = f.h.stream_id;
			if (f.h.type == WIRE_GOAWAY)
				rf->error = f.u.goaway.error;
			else if (f.h.type == WIRE_RESET)
				rf->error = f.u.reset.error;
			else if (f.h.type == WIRE_OPEN_RESULT) {
				rf->error = f.u.open_result.error;
				rf->value = f.u.open_result.window;
			} else if (f.h.type == WIRE_WINDOW)
				rf->value = f.u.window.increment;
			else if (f.h.type == WIRE_DNS_ANSWER)
				rf->error = f.u.dns_answer.error;
		}
		evbuffer_drain(in, (size_t)r);
	}
}

static void
raw_send(struct raw *raw, const struct frame *f)
{
	uint8_t *buf = malloc(WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD);
	int n;

	CU_ASSERT_FATAL(buf != NULL);
	n = frame_encode(f, buf, WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD);
	CU_ASSERT_FATAL(n > 0);
	bufferevent_write(raw->bev, buf, (size_t)n);
	free(buf);
}

static void
raw_send_hello(struct raw *raw, uint8_t role)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_HELLO;
	f.u.hello.role = role;
	f.u.hello.min_proto = 1;
	f.u.hello.max_proto = 1;
	f.u.hello.caps = WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES;
	f.u.hello.conn_window = WIRE_DEFAULT_CONN_WINDOW;
	raw_send(raw, &f);
}

static void
raw_send_open(struct raw *raw, uint32_t id, uint32_t window)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_OPEN;
	f.h.stream_id = id;
	f.u.open.dst = addr_v4(443);
	f.u.open.transport = WIRE_TRANSPORT_TCP;
	f.u.open.window = window;
	raw_send(raw, &f);
}

static void
raw_send_data(struct raw *raw, uint32_t id, size_t len)
{
	uint8_t hdr[WIRE_HEADER_LEN];
	uint8_t *p = calloc(1, len);

	CU_ASSERT_FATAL(p != NULL);
	frame_encode_header(hdr, WIRE_DATA, id, (uint32_t)len);
	bufferevent_write(raw->bev, hdr, sizeof(hdr));
	bufferevent_write(raw->bev, p, len);
	free(p);
}

static void
raw_send_simple(struct raw *raw, uint8_t type, uint32_t id, uint32_t v)
{
	struct frame f;

	memset(&f, 0, sizeof(f));
	f.h.type = type;
	f.h.stream_id = id;
	if (type == WIRE_WINDOW)
		f.u.window.increment = v;
	else if (type == WIRE_RESET)
		f.u.reset.error = v;
	raw_send(raw, &f);
}

/* Returns the index of the first received frame of type (on id when id
 * is not UINT32_MAX), or -1. */
static int
raw_find(const struct raw *raw, uint8_t type, uint32_t id)
{
	for (int i = 0; i < raw->n_frames; i++)
		if (raw->frames[i].type == type &&
		    (id == UINT32_MAX || raw->frames[i].stream_id == id))
			return i;
	return -1;
}

static int
raw_count(const struct raw *raw, uint8_t type, uint32_t id)
{
	int n = 0;

	for (int i = 0; i < raw->n_frames; i++)
		if (raw->frames[i].type == type &&
		    (id == UINT32_MAX || raw->frames[i].stream_id == id))
			n++;
	return n;
}

/* One session of role `role` facing the raw peer (not started). */
static struct side *
raw_world(struct world *w, uint8_t role, const struct mux_config *cfg_in)
{
	struct bufferevent *e_mux, *e_raw;
	struct mux_config cfg;
	struct side *sd = role == WIRE_ROLE_SERVER ? &w->b : &w->a;

	if (cfg_in)
		cfg = *cfg_in;
	else
		test_config(&cfg, role);
	carrier_pair(w, false, &e_mux, &e_raw);
	w->raw.bev = e_raw;
	bufferevent_setcb(e_raw, raw_read_cb, NULL, NULL, &w->raw);
	bufferevent_enable(e_raw, EV_READ | EV_WRITE);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w->base, e_mux, &cfg, &side_cbs, sd, &sd->s), 0);
	return sd;
}

/*
 * Conditions.
 */

static bool
cond_side_closed(void *arg)
{
	return ((struct side *)arg)->closed > 0;
}

static bool
cond_side_ready(void *arg)
{
	return ((struct side *)arg)->ready > 0;
}

static bool
cond_peer_fin(void *arg)
{
	return ((struct app *)arg)->peer_fin > 0;
}

static bool
cond_app_open(void *arg)
{
	return ((struct app *)arg)->open_calls > 0;
}

static bool
cond_app_eof(void *arg)
{
	return ((struct app *)arg)->got_eof;
}

static bool
cond_side_goaway(void *arg)
{
	return ((struct side *)arg)->goaway > 0;
}

static bool
cond_app_closed(void *arg)
{
	return ((struct app *)arg)->closed_calls > 0;
}

static bool
cond_all_apps_closed(void *arg)
{
	struct world *w = arg;

	for (int i = 0; i < w->n_apps; i++)
		if (!w->apps[i]->closed_calls)
			return false;
	return true;
}

struct want_frame {
	struct raw *raw;
	uint8_t type;
	uint32_t id;
};

static bool
cond_raw_frame(void *arg)
{
	struct want_frame *wf = arg;

	return raw_find(wf->raw, wf->type, wf->id) >= 0;
}

static bool
wait_raw_frame(struct world *w, uint8_t type, uint32_t id)
{
	struct want_frame wf = {&w->raw, type, id};

	return run_until(w, cond_raw_frame, &wf, WAIT_MS);
}

/*
 * Tests.
 */

static void
test_hello_ready(void)
{
	struct world w;
	const struct mux_peer_info *pa, *pb;
	struct mux_stats st;

	world_init(&w);
	world_up(&w, false);
	CU_ASSERT_TRUE(mux_session_is_ready(w.a.s));
	CU_ASSERT_TRUE(mux_session_is_ready(w.b.s));
	pa = mux_session_peer(w.a.s);
	pb = mux_session_peer(w.b.s);
	CU_ASSERT_FATAL(pa && pb);
	CU_ASSERT_EQUAL(pa->role, WIRE_ROLE_SERVER);
	CU_ASSERT_EQUAL(pb->role, WIRE_ROLE_CLIENT);
	CU_ASSERT_EQUAL(pa->proto, 1);
	CU_ASSERT_EQUAL(pa->caps & WIRE_CAP_DNS, WIRE_CAP_DNS);
	CU_ASSERT_EQUAL(pa->conn_window, WIRE_DEFAULT_CONN_WINDOW);
	CU_ASSERT_STRING_EQUAL(pa->namespace_name, "dev");
	CU_ASSERT_STRING_EQUAL(pa->cluster_domain, "cluster.local");
	CU_ASSERT_STRING_EQUAL(
	    pa->dns_search, "dev.svc.cluster.local svc.cluster.local");
	CU_ASSERT_STRING_EQUAL(pa->subnets, "10.96.0.0/12,10.244.0.0/16");
	CU_ASSERT_STRING_EQUAL(pa->software, "telepod/0.1.0");
	CU_ASSERT_PTR_NULL(pa->server_time);
	CU_ASSERT_STRING_EQUAL(pb->software, "telepod/0.1.0");
	CU_ASSERT_PTR_NULL(pb->namespace_name);
	mux_session_stats(w.a.s, &st);
	CU_ASSERT(st.frames_in >= 1);
	CU_ASSERT(st.frames_out >= 1);
	CU_ASSERT_EQUAL(st.streams_open, 0);
	CU_ASSERT_EQUAL(mux_session_start(w.a.s), -EALREADY);
	world_free(&w);
}

static void
test_bad_config(void)
{
	struct world w;
	struct bufferevent *ea, *eb;
	struct mux_config cfg;
	struct mux_session *s = NULL;
	char big[FRAME_MAX_EXT_VALUE + 2];
	struct mux_kv ext[] = {{"software", big}};

	world_init(&w);
	carrier_pair(&w, false, &ea, &eb);
	mux_config_init(&cfg, 7);
	CU_ASSERT_EQUAL(
	    mux_session_new(w.base, ea, &cfg, NULL, NULL, &s), -EINVAL);
	mux_config_init(&cfg, WIRE_ROLE_CLIENT);
	cfg.stream_window = 0;
	CU_ASSERT_EQUAL(
	    mux_session_new(w.base, ea, &cfg, NULL, NULL, &s), -EINVAL);
	mux_config_init(&cfg, WIRE_ROLE_CLIENT);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cfg.ext = ext;
	cfg.n_ext = 1;
	CU_ASSERT_EQUAL(
	    mux_session_new(w.base, ea, &cfg, NULL, NULL, &s), -EINVAL);
	CU_ASSERT_PTR_NULL(s);
	/* The caller kept the carrier on failure. */
	bufferevent_free(ea);
	bufferevent_free(eb);
	world_free(&w);
}

static bool
both_closed(void *arg)
{
	struct world *w = arg;

	return w->a.closed && w->b.closed;
}

static void
test_version_mismatch(void)
{
	struct world w;
	struct mux_config ca, cb;

	world_init(&w);
	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	ca.min_proto = 1;
	ca.max_proto = 1;
	cb.min_proto = 2;
	cb.max_proto = 3;
	world_connect(&w, &ca, &cb, false);
	CU_ASSERT_FATAL(run_until(&w, both_closed, &w, WAIT_MS));
	CU_ASSERT_EQUAL(w.a.close_err, WIRE_ERR_BAD_VERSION);
	CU_ASSERT_EQUAL(w.b.close_err, WIRE_ERR_BAD_VERSION);
	CU_ASSERT_EQUAL(w.a.ready, 0);
	CU_ASSERT_EQUAL(w.b.ready, 0);
	CU_ASSERT_TRUE(mux_session_is_closed(w.a.s));
	world_free(&w);
}

static bool
cond_bulk_done(void *arg)
{
	struct world *w = arg;

	for (int i = 0; i < w->n_apps; i++) {
		struct app *app = w->apps[i];

		if (!app->closed_calls || !app->got_eof)
			return false;
	}
	return w->n_apps > 0;
}

static void
test_bulk_both_ways(void)
{
	const uint64_t size = 8u * 1024 * 1024;
	struct world w;
	struct app *ca, *sa;
	struct mux_stats sta, stb;

	world_init(&w);
	world_up(&w, false);
	w.b.to_send = size;
	w.b.send_eof = true;
	ca = open_app(&w, size, true);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->open_err, WIRE_OK);
	CU_ASSERT_FATAL(w.n_apps == 2);
	sa = w.apps[1];
	CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
	CU_ASSERT_EQUAL(ca->received, size);
	CU_ASSERT_EQUAL(sa->received, size);
	CU_ASSERT_FALSE(ca->bad);
	CU_ASSERT_FALSE(sa->bad);
	CU_ASSERT_EQUAL(ca->closed_err, 0);
	CU_ASSERT_EQUAL(sa->closed_err, 0);
	CU_ASSERT_EQUAL(ca->peer_fin, 1);
	CU_ASSERT_EQUAL(sa->peer_fin, 1);
	CU_ASSERT_EQUAL(ca->open_calls, 1);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), 0);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.b.s), 0);
	mux_session_stats(w.a.s, &sta);
	mux_session_stats(w.b.s, &stb);
	CU_ASSERT_EQUAL(sta.bytes_out, size);
	CU_ASSERT_EQUAL(sta.bytes_in, size);
	CU_ASSERT_EQUAL(stb.bytes_in, size);
	CU_ASSERT_EQUAL(sta.streams_total, 1);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	world_free(&w);
}

static void
test_reject(void)
{
	struct world w;
	struct app *ca;

	world_init(&w);
	world_up(&w, false);
	w.b.mode = MODE_REJECT;
	ca = open_app(&w, 1000, true);
	CU_ASSERT_FATAL(run_until(&w, cond_app_closed, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->open_calls, 1);
	CU_ASSERT_EQUAL(ca->open_err, WIRE_ERR_REFUSED);
	CU_ASSERT_STRING_EQUAL(ca->open_msg, "nope");
	CU_ASSERT_EQUAL(ca->closed_err, WIRE_ERR_REFUSED);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), 0);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.b.s), 0);
	/* The app sees its connection end. */
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, ca, WAIT_MS));
	world_free(&w);
}

static void
test_many_streams(void)
{
	const int n = 200;
	const uint64_t size = 64 * 1024 + 17;
	struct world w;

	world_init(&w);
	world_up(&w, false);
	w.b.to_send = size;
	w.b.send_eof = true;
	for (int i = 0; i < n; i++)
		open_app(&w, size, true);
	CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
	CU_ASSERT_EQUAL(w.n_apps, 2 * n);
	for (int i = 0; i < w.n_apps; i++) {
		struct app *app = w.apps[i];

		CU_ASSERT_EQUAL(app->received, size);
		CU_ASSERT_FALSE(app->bad);
		CU_ASSERT_EQUAL(app->closed_err, 0);
	}
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), 0);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.b.s), 0);
	world_free(&w);
}

struct slow_ctx {
	struct world *w;
	struct app *fast_rx;
	struct app *slow_mux_side;
	size_t max_out;
	uint64_t size;
};

static bool
cond_fast_done(void *arg)
{
	struct slow_ctx *c = arg;
	size_t out = evbuffer_get_length(
	    bufferevent_get_output(c->slow_mux_side->mux_end));

	if (out > c->max_out)
		c->max_out = out;
	return c->fast_rx->received == c->size && c->fast_rx->got_eof;
}

static void
test_slow_reader(void)
{
	const uint64_t size = 4u * 1024 * 1024;
	const uint32_t window = 128 * 1024;
	struct world w;
	struct mux_config ca, cb;
	struct app *slow_tx, *fast_tx, *slow_rx, *fast_rx;
	struct slow_ctx c;

	world_init(&w);
	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	ca.stream_window = cb.stream_window = window;
	world_connect(&w, &ca, &cb, false);
	CU_ASSERT_FATAL(run_until(&w, both_ready, &w, WAIT_MS));
	/* Stream 1: the server's app does not read. Server apps send
	 * nothing and EOF at once. */
	w.b.send_eof = true;
	w.b.slow = true;
	slow_tx = open_app(&w, size, true);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, slow_tx, WAIT_MS));
	slow_rx = w.apps[1];
	CU_ASSERT_TRUE(slow_rx->slow);
	/* Stream 3: a normal reader. */
	w.b.slow = false;
	fast_tx = open_app(&w, size, true);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, fast_tx, WAIT_MS));
	fast_rx = w.apps[3];
	memset(&c, 0, sizeof(c));
	c.w = &w;
	c.fast_rx = fast_rx;
	c.slow_mux_side = slow_rx;
	c.size = size;
	CU_ASSERT_TRUE(run_until(&w, cond_fast_done, &c, WAIT_MS));
	CU_ASSERT_FALSE(fast_rx->bad);
	/* The slow stream got at most one window into its local. */
	CU_ASSERT(c.max_out <= window);
	CU_ASSERT(evbuffer_get_length(
	              bufferevent_get_output(slow_rx->mux_end)) <= window);
	CU_ASSERT_EQUAL(slow_rx->received, 0);
	CU_ASSERT(slow_tx->sent < size);
	CU_ASSERT_EQUAL(slow_tx->closed_calls, 0);
	/* Reading again lets it finish, byte-exact. */
	slow_rx->slow = false;
	bufferevent_enable(slow_rx->bev, EV_READ);
	CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
	CU_ASSERT_EQUAL(slow_rx->received, size);
	CU_ASSERT_FALSE(slow_rx->bad);
	world_free(&w);
}

static void
test_half_close(void)
{
	struct world w;
	struct app *ca, *sa;

	world_init(&w);
	world_up(&w, false);
	/* The server side sends nothing until told. */
	w.b.to_send = 0;
	w.b.send_eof = false;
	ca = open_app(&w, 100000, true);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
	sa = w.apps[1];
	/* The client's FIN reaches the server app after its data. */
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->received, 100000);
	CU_ASSERT_EQUAL(sa->peer_fin, 1);
	CU_ASSERT_EQUAL(ca->peer_fin, 0);
	CU_ASSERT_EQUAL(sa->closed_calls + ca->closed_calls, 0);
	CU_ASSERT_FALSE(ca->got_eof);
	/* The other direction still works, then closes. */
	sa->to_send = 50000;
	sa->send_eof = true;
	app_fill(sa);
	CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
	CU_ASSERT_EQUAL(ca->received, 50000);
	CU_ASSERT_FALSE(ca->bad || sa->bad);
	CU_ASSERT_EQUAL(ca->peer_fin, 1);
	CU_ASSERT_EQUAL(ca->closed_err, 0);
	CU_ASSERT_EQUAL(sa->closed_err, 0);
	world_free(&w);
}

static void
test_reset_propagates(void)
{
	struct world w;
	struct app *ca, *sa;

	world_init(&w);
	world_up(&w, false);
	w.b.to_send = 1u << 20;
	ca = open_app(&w, 1u << 20, false);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
	sa = w.apps[1];
	CU_ASSERT_EQUAL(mux_stream_reset(ca->st, WIRE_ERR_CANCEL, "bye"), 0);
	/* The owner's reset reports CLOSED at once. */
	CU_ASSERT_EQUAL(ca->closed_calls, 1);
	CU_ASSERT_EQUAL(ca->closed_err, WIRE_ERR_CANCEL);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->closed_err, WIRE_ERR_CANCEL);
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, sa, WAIT_MS));
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, ca, WAIT_MS));
	/* In-flight data for the reset stream is dropped, the session
	 * lives on and new streams work. */
	run_for(&w, 50);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	w.b.to_send = 1000;
	w.b.send_eof = true;
	ca = open_app(&w, 1000, true);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->closed_err, 0);
	CU_ASSERT_EQUAL(ca->received, 1000);
	world_free(&w);
}

/* A loopback TCP connection: *ret_mux for the mux, *ret_app for the test. */
static void
tcp_pair(int *ret_mux, int *ret_app)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int l, c, a;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(l >= 0);
	CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(listen(l, 1) == 0);
	CU_ASSERT_FATAL(getsockname(l, (struct sockaddr *)&sin, &len) == 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(c >= 0);
	CU_ASSERT_FATAL(connect(c, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	a = accept(l, NULL, NULL);
	CU_ASSERT_FATAL(a >= 0);
	close(l);
	evutil_make_socket_nonblocking(a);
	*ret_mux = a;
	*ret_app = c;
}

/* Opens a stream from side a whose local is a loopback TCP socket; the
 * test keeps the other socket in *ret_fd. */
static struct app *
open_socket_app(struct world *w, int *ret_fd)
{
	struct app *app = calloc(1, sizeof(*app));
	struct frame_addr dst = addr_v4(80);
	struct mux_stream *st = NULL;
	struct bufferevent *bev;
	int fd_mux;

	CU_ASSERT_FATAL(app != NULL);
	app->w = w;
	w->apps[w->n_apps++] = app;
	tcp_pair(&fd_mux, ret_fd);
	bev = bufferevent_socket_new(
	    w->base, fd_mux, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	CU_ASSERT_FATAL(bev != NULL);
	CU_ASSERT_EQUAL_FATAL(
	    mux_stream_open(w->a.s, &dst, bev, app_open_cb, app, &st), 0);
	app->st = st;
	mux_stream_set_event_cb(st, app_stream_event, app);
	return app;
}

/* open_socket_app, then waits for the stream to open; the peer's app (side
 * b's end of the stream) in *ret_peer. */
static struct app *
open_socket_apps(struct world *w, int *ret_fd, struct app **ret_peer)
{
	struct app *ca = open_socket_app(w, ret_fd);

	CU_ASSERT_FATAL(run_until(w, cond_app_open, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->open_err, 0);
	*ret_peer = w->apps[w->n_apps - 1];
	CU_ASSERT_PTR_NOT_NULL_FATAL((*ret_peer)->st);
	return ca;
}

/* Segments fd received so far (TCP_INFO). */
static uint32_t
segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return 0;
	return ti.tcpi_segs_in;
}

static void
test_reset_socket(void)
{
	struct world w;
	struct app *ca, *sa;
	struct mux_stats before, after;
	uint32_t segs;
	int fd_app, r;
	struct linger lg = {1, 0};
	char buf[16];

	world_up_quiet(&w);
	/* Peer RESET closes a socket local abortively: the application
	 * sees a connection reset, not an orderly EOF. */
	ca = open_socket_apps(&w, &fd_app, &sa);
	CU_ASSERT_EQUAL(mux_stream_reset(sa->st, WIRE_ERR_REFUSED, "x"), 0);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->closed_err, WIRE_ERR_REFUSED);
	r = (int)recv(fd_app, buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(r, -1);
	CU_ASSERT_EQUAL(errno, ECONNRESET);
	close(fd_app);

	/* A local that fails (the application resets it) resets the
	 * stream towards the peer with CONN_RESET. */
	ca = open_socket_apps(&w, &fd_app, &sa);
	setsockopt(fd_app, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd_app);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->closed_err, WIRE_ERR_CONN_RESET);
	CU_ASSERT_EQUAL(ca->closed_err, WIRE_ERR_CONN_RESET);

	/* Peer FIN shuts down the socket's write side: the application
	 * reads EOF and can still send. */
	ca = open_socket_apps(&w, &fd_app, &sa);
	segs = segs_in(fd_app);
	sa->to_send = 3;
	sa->send_eof = true;
	app_fill(sa);
	CU_ASSERT_TRUE(run_until(&w, cond_peer_fin, ca, WAIT_MS));
	r = (int)recv(fd_app, buf, sizeof(buf), MSG_WAITALL);
	CU_ASSERT_EQUAL(r, 3);
	r = (int)recv(fd_app, buf, sizeof(buf), 0);
	CU_ASSERT_EQUAL(r, 0);
	/* DATA and FIN that came together leave in one segment. */
	CU_ASSERT_EQUAL(segs_in(fd_app) - segs, 1);
	/* The application's last data and FIN, both in the socket before
	 * the mux looks (loopback TCP delivers at once), are framed in the
	 * same wake-up (EPOLLRDHUP), not the FIN one turn later. */
	mux_session_stats(w.a.s, &before);
	CU_ASSERT_EQUAL(send(fd_app, "hello", 5, 0), 5);
	shutdown(fd_app, SHUT_WR);
	event_base_loop(w.base, EVLOOP_ONCE);
	mux_session_stats(w.a.s, &after);
	CU_ASSERT_EQUAL(after.frames_out - before.frames_out, 2);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->received, 5);
	CU_ASSERT_EQUAL(sa->closed_err, 0);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->closed_err, 0);
	close(fd_app);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	world_free(&w);
}

static bool
cond_a_closed_and_apps(void *arg)
{
	struct world *w = arg;

	return w->a.closed && cond_all_apps_closed(w);
}

static void
test_carrier_dropped(void)
{
	struct world w;
	struct app *busy[4], *pend[2];
	struct mux_stats st;

	world_init(&w);
	world_up(&w, true);
	w.b.to_send = 64u << 20;
	for (int i = 0; i < 4; i++)
		busy[i] = open_app(&w, 64u << 20, true);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_FATAL(run_until(&w, cond_app_open, busy[i], WAIT_MS));
	w.b.mode = MODE_PENDING;
	for (int i = 0; i < 2; i++)
		pend[i] = open_app(&w, 10, true);
	/* Transfer is under way... */
	run_for(&w, 30);
	CU_ASSERT(busy[0]->received > 0);
	CU_ASSERT_EQUAL(w.b.n_pending, 2);
	/* ...when the server vanishes (its carrier socket closes). */
	mux_session_free(w.b.s);
	w.b.s = NULL;
	CU_ASSERT_TRUE(run_until(&w, cond_a_closed_and_apps, &w, WAIT_MS));
	CU_ASSERT_EQUAL(w.a.closed, 1);
	CU_ASSERT(w.a.close_err == WIRE_ERR_SHUTDOWN ||
	          w.a.close_err == WIRE_ERR_TRUNCATED ||
	          w.a.close_err == WIRE_ERR_CONN_RESET);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(busy[i]->closed_calls, 1);
		CU_ASSERT_NOT_EQUAL(busy[i]->closed_err, 0);
		CU_ASSERT_FALSE(busy[i]->bad);
	}
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(pend[i]->open_calls, 1);
		CU_ASSERT_NOT_EQUAL(pend[i]->open_err, 0);
		CU_ASSERT_EQUAL(pend[i]->closed_calls, 1);
	}
	CU_ASSERT_EQUAL(w.b.pending_closed, 2);
	mux_session_stats(w.a.s, &st);
	CU_ASSERT_EQUAL(st.streams_open, 0);
	CU_ASSERT_FALSE(mux_session_is_ready(w.a.s));
	/* Every local saw its connection end. */
	for (int i = 0; i < w.n_apps; i++)
		if (w.apps[i]->bev)
			CU_ASSERT_TRUE(
			    run_until(&w, cond_app_eof, w.apps[i], WAIT_MS));
	/* Nothing more is accepted. */
	{
		struct frame_addr dst = addr_v4(1);
		struct app *late = app_new(&w, 0, false);

		CU_ASSERT_EQUAL(mux_stream_open(w.a.s, &dst, late->mux_end,
		                    app_open_cb, late, NULL),
		    -ENOTCONN);
		bufferevent_free(late->mux_end);
		late->closed_calls = 1;
	}
	world_free(&w);
}

static bool
cond_rtt(void *arg)
{
	struct world *w = arg;
	struct mux_stats a, b;

	mux_session_stats(w->a.s, &a);
	mux_session_stats(w->b.s, &b);
	return a.rtt_us > 0 && b.rtt_us > 0;
}

static void
test_ping_rtt(void)
{
	struct world w;
	struct mux_config ca, cb;

	world_init(&w);
	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	ca.ping_interval_ms = cb.ping_interval_ms = 20;
	ca.dead_peer_ms = cb.dead_peer_ms = 2000;
	world_connect(&w, &ca, &cb, false);
	CU_ASSERT_TRUE(run_until(&w, cond_rtt, &w, WAIT_MS));
	run_for(&w, 100);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	world_free(&w);

	/* Keepalive keeps idle sessions with short timeouts up. */
	world_init(&w);
	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	ca.ping_interval_ms = cb.ping_interval_ms = 10;
	ca.dead_peer_ms = cb.dead_peer_ms = 60;
	world_connect(&w, &ca, &cb, false);
	run_for(&w, 300);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	CU_ASSERT_TRUE(both_ready(&w));
	world_free(&w);
}

static void
test_dead_peer(void)
{
	struct world w;
	struct mux_config cfg;
	struct side *sd;
	uint64_t t0, dt;

	world_init(&w);
	test_config(&cfg, WIRE_ROLE_CLIENT);
	cfg.ping_interval_ms = 20;
	cfg.dead_peer_ms = 150;
	sd = raw_world(&w, WIRE_ROLE_CLIENT, &cfg);
	raw_send_hello(&w.raw, WIRE_ROLE_SERVER);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_FATAL(run_until(&w, cond_side_ready, sd, WAIT_MS));
	t0 = monotime_ms();
	/* The raw peer never answers the PINGs. */
	CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
	dt = monotime_ms() - t0;
	CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_TIMEOUT);
	CU_ASSERT(dt >= 100 && dt < 2000);
	CU_ASSERT(raw_find(&w.raw, WIRE_PING, 0) >= 0);
	world_free(&w);

	/* A peer that never sends HELLO times out too, and gets nothing
	 * but our HELLO (and the GOAWAY) meanwhile. */
	world_init(&w);
	sd = raw_world(&w, WIRE_ROLE_CLIENT, &cfg);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
	CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(sd->ready, 0);
	run_spin(&w, 3);
	CU_ASSERT_EQUAL(raw_find(&w.raw, WIRE_HELLO, 0), 0);
	CU_ASSERT_EQUAL(raw_find(&w.raw, WIRE_PING, 0), -1);
	CU_ASSERT_EQUAL(raw_count(&w.raw, WIRE_GOAWAY, 0), 1);
	world_free(&w);
}

static void
test_goaway_drain(void)
{
	struct world w;
	struct app *ca1, *ca2, *late;
	struct frame_addr dst = addr_v4(80);

	world_init(&w);
	world_up(&w, false);
	w.b.to_send = 2u << 20;
	w.b.send_eof = true;
	ca1 = open_app(&w, 2u << 20, true);
	ca2 = open_app(&w, 1u << 20, true);
	/* Stream 1 cannot finish while its client app does not read. */
	bufferevent_disable(ca1->bev, EV_READ);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca2, WAIT_MS));
	CU_ASSERT_EQUAL(
	    mux_session_goaway(w.b.s, WIRE_ERR_SHUTDOWN, "maintenance"), 0);
	CU_ASSERT_EQUAL(
	    mux_session_goaway(w.b.s, WIRE_ERR_SHUTDOWN, "x"), -EALREADY);
	CU_ASSERT_FATAL(run_until(&w, cond_side_goaway, &w.a, WAIT_MS));
	CU_ASSERT_EQUAL(w.a.goaway_err, WIRE_ERR_SHUTDOWN);
	late = app_new(&w, 0, false);
	CU_ASSERT_EQUAL(mux_stream_open(w.a.s, &dst, late->mux_end, app_open_cb,
	                    late, NULL),
	    -ESHUTDOWN);
	bufferevent_free(late->mux_end);
	late->closed_calls = 1;
	late->got_eof = true;
	run_for(&w, 20);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	CU_ASSERT_EQUAL(ca1->closed_calls, 0);
	bufferevent_enable(ca1->bev, EV_READ);
	/* The existing streams finish, then both sessions close. */
	CU_ASSERT_TRUE(run_until(&w, both_closed, &w, WAIT_MS));
	CU_ASSERT_TRUE(cond_bulk_done(&w));
	CU_ASSERT_EQUAL(ca1->received, 2u << 20);
	CU_ASSERT_EQUAL(ca2->received, 2u << 20);
	CU_ASSERT_EQUAL(ca1->closed_err, 0);
	CU_ASSERT_EQUAL(w.b.close_err, WIRE_ERR_SHUTDOWN);
	CU_ASSERT_EQUAL(w.a.close_err, WIRE_ERR_SHUTDOWN);
	CU_ASSERT_STRING_EQUAL(w.a.reason, "maintenance");
	world_free(&w);

	/* With no stream open the session closes at once, and a peer OPEN
	 * after our GOAWAY is refused with SHUTDOWN. */
	world_init(&w);
	{
		struct side *sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);

		raw_send_hello(&w.raw, WIRE_ROLE_CLIENT);
		CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
		CU_ASSERT_FATAL(run_until(&w, cond_side_ready, sd, WAIT_MS));
		sd->mode = MODE_PENDING;
		raw_send_open(&w.raw, 1, 65536);
		run_for(&w, 20);
		CU_ASSERT_EQUAL(sd->n_pending, 1);
		CU_ASSERT_EQUAL(
		    mux_session_goaway(sd->s, WIRE_ERR_SHUTDOWN, "bye"), 0);
		raw_send_open(&w.raw, 3, 65536);
		CU_ASSERT_TRUE(wait_raw_frame(&w, WIRE_OPEN_RESULT, 3));
		CU_ASSERT_EQUAL(
		    w.raw.frames[raw_find(&w.raw, WIRE_OPEN_RESULT, 3)].error,
		    WIRE_ERR_SHUTDOWN);
		CU_ASSERT_EQUAL(sd->closed, 0);
		/* The last stream ends: the drain completes. */
		raw_send_simple(&w.raw, WIRE_RESET, 1, WIRE_ERR_CANCEL);
		CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
		CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_SHUTDOWN);
		CU_ASSERT_EQUAL(sd->pending_closed, 1);
	}
	world_free(&w);
}

/* Server session facing the raw client, stream 1 accepted. Returns the
 * server's window for it. */
static uint32_t
raw_open_accepted(struct world *w, struct side **ret_sd, uint32_t window)
{
	struct mux_config cfg;
	struct side *sd;
	int i;

	test_config(&cfg, WIRE_ROLE_SERVER);
	cfg.stream_window = window;
	sd = raw_world(w, WIRE_ROLE_SERVER, &cfg);
	sd->to_send = 0;
	raw_send_hello(&w->raw, WIRE_ROLE_CLIENT);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_FATAL(run_until(w, cond_side_ready, sd, WAIT_MS));
	raw_send_open(&w->raw, 1, 65536);
	CU_ASSERT_FATAL(wait_raw_frame(w, WIRE_OPEN_RESULT, 1));
	i = raw_find(&w->raw, WIRE_OPEN_RESULT, 1);
	CU_ASSERT_EQUAL(w->raw.frames[i].error, 0);
	*ret_sd = sd;
	return w->raw.frames[i].value;
}

static void
test_flow_violations(void)
{
	struct world w;
	struct side *sd;
	uint32_t win;
	int i;

	/* DATA beyond the stream window: RESET FLOW_CONTROL, session up. */
	world_init(&w);
	win = raw_open_accepted(&w, &sd, 32768);
	CU_ASSERT_EQUAL(win, 32768);
	raw_send_data(&w.raw, 1, 20000);
	raw_send_data(&w.raw, 1, 20000);
	CU_ASSERT_TRUE(wait_raw_frame(&w, WIRE_RESET, 1));
	i = raw_find(&w.raw, WIRE_RESET, 1);
	CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_FLOW_CONTROL);
	CU_ASSERT_EQUAL(w.apps[0]->closed_err, WIRE_ERR_FLOW_CONTROL);
	/* Data within the window got through. */
	CU_ASSERT_EQUAL(w.apps[0]->received, 20000);
	/* More in-flight DATA for it is dropped silently. */
	raw_send_data(&w.raw, 1, 100);
	run_for(&w, 20);
	CU_ASSERT_EQUAL(raw_count(&w.raw, WIRE_RESET, 1), 1);
	CU_ASSERT_EQUAL(sd->closed, 0);
	world_free(&w);

	/* DATA after the peer's FIN: RESET STREAM_CLOSED. */
	world_init(&w);
	raw_open_accepted(&w, &sd, 65536);
	raw_send_simple(&w.raw, WIRE_FIN, 1, 0);
	raw_send_data(&w.raw, 1, 10);
	CU_ASSERT_TRUE(wait_raw_frame(&w, WIRE_RESET, 1));
	i = raw_find(&w.raw, WIRE_RESET, 1);
	CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_STREAM_CLOSED);
	CU_ASSERT_EQUAL(w.apps[0]->peer_fin, 1);
	CU_ASSERT_EQUAL(sd->closed, 0);
	world_free(&w);

	/* DATA beyond the connection window: GOAWAY FLOW_CONTROL. */
	world_init(&w);
	{
		struct mux_config cfg;

		test_config(&cfg, WIRE_ROLE_SERVER);
		cfg.conn_window = 50000;
		sd = raw_world(&w, WIRE_ROLE_SERVER, &cfg);
		raw_send_hello(&w.raw, WIRE_ROLE_CLIENT);
		CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
		raw_send_open(&w.raw, 1, 65536);
		CU_ASSERT_FATAL(wait_raw_frame(&w, WIRE_OPEN_RESULT, 1));
		raw_send_data(&w.raw, 1, 60000);
		CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
		CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_FLOW_CONTROL);
		i = raw_find(&w.raw, WIRE_GOAWAY, 0);
		CU_ASSERT_FATAL(i >= 0);
		CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_FLOW_CONTROL);
	}
	world_free(&w);

	/* A stream WINDOW that overflows: RESET FLOW_CONTROL. */
	world_init(&w);
	raw_open_accepted(&w, &sd, 65536);
	raw_send_simple(&w.raw, WIRE_WINDOW, 1, WIRE_MAX_WINDOW - 10);
	CU_ASSERT_TRUE(wait_raw_frame(&w, WIRE_RESET, 1));
	i = raw_find(&w.raw, WIRE_RESET, 1);
	CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_FLOW_CONTROL);
	CU_ASSERT_EQUAL(sd->closed, 0);
	world_free(&w);

	/* Frames before HELLO: GOAWAY PROTOCOL. */
	world_init(&w);
	sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);
	raw_send_open(&w.raw, 1, 65536);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
	CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(sd->ready, 0);
	i = raw_find(&w.raw, WIRE_GOAWAY, 0);
	CU_ASSERT_FATAL(i >= 0);
	CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(raw_find(&w.raw, WIRE_HELLO, 0), 0);
	world_free(&w);

	/* A client opening an even id: GOAWAY PROTOCOL. */
	world_init(&w);
	sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);
	raw_send_hello(&w.raw, WIRE_ROLE_CLIENT);
	raw_send_open(&w.raw, 2, 65536);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
	CU_ASSERT_EQUAL(sd->close_err, WIRE_ERR_PROTOCOL);
	CU_ASSERT(raw_find(&w.raw, WIRE_GOAWAY, 0) >= 0);
	world_free(&w);
}

static void
test_requests(void)
{
	struct world w;
	uint8_t q[40];
	uint32_t id = 0, id2 = 0;

	world_init(&w);
	world_up(&w, true);
	for (size_t i = 0; i < sizeof(q); i++)
		q[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(mux_send_dns_query(w.a.s, q, sizeof(q), &id), 0);
	CU_ASSERT_NOT_EQUAL(id, 0);
	CU_ASSERT_EQUAL(mux_send_dns_query(w.a.s, q, 5, &id2), -EINVAL);
	run_for(&w, 30);
	CU_ASSERT_EQUAL(w.b.dns_queries, 1);
	CU_ASSERT_EQUAL(w.a.dns_answers, 1);
	CU_ASSERT_EQUAL(w.a.last_id, id);
	CU_ASSERT_EQUAL(w.a.last_err, 0);
	CU_ASSERT_EQUAL(w.a.last_len, sizeof(q));
	/* A cancelled query's answer is ignored. */
	CU_ASSERT_EQUAL(mux_send_dns_query(w.a.s, q, sizeof(q), &id2), 0);
	CU_ASSERT_NOT_EQUAL(id2, id);
	CU_ASSERT_EQUAL(mux_cancel_dns_query(w.a.s, id2), 0);
	CU_ASSERT_EQUAL(mux_cancel_dns_query(w.a.s, id2), -ENOENT);
	run_for(&w, 30);
	CU_ASSERT_EQUAL(w.b.dns_queries, 2);
	CU_ASSERT_EQUAL(w.a.dns_answers, 1);
	/* ENV. */
	CU_ASSERT_EQUAL(mux_send_env_request(w.a.s, &id), 0);
	run_for(&w, 30);
	CU_ASSERT_EQUAL(w.b.env_requests, 1);
	CU_ASSERT_EQUAL(w.a.env_replies, 1);
	CU_ASSERT_EQUAL(w.a.last_id, id);
	CU_ASSERT_EQUAL(w.a.env_count, 3);
	CU_ASSERT_TRUE(w.a.env_ok);
	/* The client advertised neither DNS nor ENV. */
	CU_ASSERT_EQUAL(
	    mux_send_dns_query(w.b.s, q, sizeof(q), &id), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(mux_send_env_request(w.b.s, &id), -EOPNOTSUPP);
	/* Bad replies are refused locally. */
	{
		struct mux_kv bad[] = {{"A=B", "1"}};

		CU_ASSERT_EQUAL(
		    mux_send_env_reply(w.b.s, 9, WIRE_OK, bad, 1), -EINVAL);
	}
	/* Pending requests fail when the session dies. */
	CU_ASSERT_EQUAL(mux_send_env_request(w.a.s, &id), 0);
	w.a.env_replies = 0;
	mux_session_free(w.b.s);
	w.b.s = NULL;
	CU_ASSERT_TRUE(run_until(&w, cond_side_closed, &w.a, WAIT_MS));
	CU_ASSERT_EQUAL(w.a.env_replies, 1);
	CU_ASSERT_NOT_EQUAL(w.a.last_err, 0);
	world_free(&w);
}

static void
test_requests_raw(void)
{
	struct world w;
	struct side *sd;
	struct frame f;
	uint8_t q[20] = {0};
	uint32_t id;
	int i;

	world_init(&w);
	sd = raw_world(&w, WIRE_ROLE_CLIENT, NULL);
	raw_send_hello(&w.raw, WIRE_ROLE_SERVER);
	CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
	CU_ASSERT_FATAL(run_until(&w, cond_side_ready, sd, WAIT_MS));
	CU_ASSERT_EQUAL(mux_send_dns_query(sd->s, q, sizeof(q), &id), 0);
	/* An answer for an id never asked is ignored... */
	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_DNS_ANSWER;
	f.u.dns_answer.id = id + 1000;
	f.u.dns_answer.error = WIRE_ERR_TIMEOUT;
	raw_send(&w.raw, &f);
	/* ...and the real one delivered. */
	f.u.dns_answer.id = id;
	raw_send(&w.raw, &f);
	/* A query to us (no DNS capability) is answered UNSUPPORTED. */
	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_DNS_QUERY;
	f.u.dns_query.id = 77;
	f.u.dns_query.msg = q;
	f.u.dns_query.msg_len = sizeof(q);
	raw_send(&w.raw, &f);
	CU_ASSERT_TRUE(wait_raw_frame(&w, WIRE_DNS_ANSWER, 0));
	i = raw_find(&w.raw, WIRE_DNS_ANSWER, 0);
	CU_ASSERT_EQUAL(w.raw.frames[i].error, WIRE_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(sd->dns_answers, 1);
	CU_ASSERT_EQUAL(sd->last_id, id);
	CU_ASSERT_EQUAL(sd->last_err, WIRE_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(sd->dns_queries, 0);
	CU_ASSERT_EQUAL(sd->closed, 0);
	world_free(&w);
}

/* Last frame's stream id in a vector's bytes. */
static uint32_t
vector_last_stream(const uint8_t *p, size_t len)
{
	struct frame_header h;
	uint32_t err, id = 0;
	size_t off = 0;

	while (off + WIRE_HEADER_LEN <= len &&
	       frame_decode_header(p + off, len - off, &h, &err) > 0) {
		id = h.stream_id;
		off += WIRE_HEADER_LEN + h.length;
	}
	return id;
}

static void
test_session_vectors(void)
{
	struct vector *v = NULL;
	size_t n = 0, ran = 0;

	CU_ASSERT_EQUAL_FATAL(vectors_load(&v, &n), 0);
	for (size_t k = 0; k < n; k++) {
		struct world w;
		struct side *sd;
		bool valid = !strcmp(v[k].kind, "valid-session");
		unsigned before = CU_get_number_of_failures();
		int expect, i;

		if (!valid && strcmp(v[k].kind, "invalid-session"))
			continue;
		ran++;
		expect = valid ? 0 : vectors_error_code(v[k].expect);
		CU_ASSERT_FATAL(expect >= 0);
		world_init(&w);
		sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);
		sd->mode = MODE_PENDING;
		CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
		bufferevent_write(w.raw.bev, v[k].data, v[k].len);
		run_for(&w, 30);
		if (valid) {
			CU_ASSERT_EQUAL(sd->closed, 0);
			CU_ASSERT_EQUAL(raw_find(&w.raw, WIRE_GOAWAY, 0), -1);
			CU_ASSERT_EQUAL(
			    raw_find(&w.raw, WIRE_RESET, UINT32_MAX), -1);
			CU_ASSERT_EQUAL(sd->ready, 1);
		} else if (!strcmp(v[k].scope, "goaway")) {
			CU_ASSERT_EQUAL(sd->closed, 1);
			CU_ASSERT_EQUAL(sd->close_err, (uint32_t)expect);
			i = raw_find(&w.raw, WIRE_GOAWAY, 0);
			CU_ASSERT(i >= 0);
			if (i >= 0)
				CU_ASSERT_EQUAL(
				    w.raw.frames[i].error, (uint32_t)expect);
		} else {
			uint32_t id = vector_last_stream(v[k].data, v[k].len);

			CU_ASSERT_EQUAL(sd->closed, 0);
			CU_ASSERT_EQUAL(raw_find(&w.raw, WIRE_GOAWAY, 0), -1);
			i = raw_find(&w.raw, WIRE_RESET, id);
			CU_ASSERT(i >= 0);
			if (i >= 0)
				CU_ASSERT_EQUAL(
				    w.raw.frames[i].error, (uint32_t)expect);
		}
		if (CU_get_number_of_failures() > before)
			fprintf(stderr, "vector %s failed\n", v[k].name);
		world_free(&w);
	}
	CU_ASSERT(ran >= 10);
	vectors_free(v, n);
}

/* Random bytes, flipped bits and truncations: the session ends cleanly
 * or keeps going, never crashes (ASan checks the rest). */
static void
test_garbage(void)
{
	struct vector *v = NULL;
	size_t n = 0;
	unsigned seed = 12345;

	for (int round = 0; round < 3; round++) {
		struct world w;
		struct side *sd;
		uint8_t junk[4096];

		world_init(&w);
		sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);
		CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
		if (round > 0)
			raw_send_hello(&w.raw, WIRE_ROLE_CLIENT);
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand_r(&seed);
		if (round == 2)
			junk[0] = WIRE_VERSION; /* get past the version */
		bufferevent_write(w.raw.bev, junk, sizeof(junk));
		CU_ASSERT_TRUE(run_until(&w, cond_side_closed, sd, WAIT_MS));
		CU_ASSERT_NOT_EQUAL(sd->close_err, 0);
		world_free(&w);
	}

	CU_ASSERT_EQUAL_FATAL(vectors_load(&v, &n), 0);
	for (int m = 0; m < 300; m++) {
		struct vector *vec = &v[(size_t)rand_r(&seed) % n];
		struct world w;
		struct side *sd;
		uint8_t *buf;
		size_t len = vec->len;

		if (len == 0)
			continue;
		buf = malloc(len);
		CU_ASSERT_FATAL(buf != NULL);
		memcpy(buf, vec->data, len);
		if (m % 3 == 2)
			len = (size_t)rand_r(&seed) % len;
		for (int f = 0; f < 1 + m % 4; f++)
			buf[(size_t)rand_r(&seed) % vec->len] ^=
			    (uint8_t)(1u << (rand_r(&seed) % 8));
		world_init(&w);
		sd = raw_world(&w, WIRE_ROLE_SERVER, NULL);
		sd->mode = (enum side_mode)(m % 3);
		CU_ASSERT_EQUAL(mux_session_start(sd->s), 0);
		if (m % 2)
			raw_send_hello(&w.raw, WIRE_ROLE_CLIENT);
		bufferevent_write(w.raw.bev, buf, len);
		free(buf);
		run_spin(&w, 20);
		world_free(&w);
	}
	vectors_free(v, n);
}

/* The b-side app relaying stream id. */
static struct app *
find_b_app(struct world *w, uint32_t id)
{
	for (int i = 0; i < w->n_apps; i++) {
		struct app *app = w->apps[i];

		if (app->st && mux_stream_session(app->st) == w->b.s &&
		    mux_stream_id(app->st) == id)
			return app;
	}
	return NULL;
}

static void
test_many_idle_streams(void)
{
	enum { N = 2000 };
	static struct app *mine[N];
	struct world w;
	struct mux_stats st;
	struct app *peer;
	uint32_t id;

	world_up_quiet(&w);
	for (int i = 0; i < N; i++)
		mine[i] = open_app(&w, 0, false);
	for (int i = 0; i < N; i++)
		CU_ASSERT_FATAL(run_until(&w, cond_app_open, mine[i], WAIT_MS));
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), (unsigned)N);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.b.s), (unsigned)N);
	/* Close every other one from the client side; the rest stay. */
	for (int i = 0; i < N; i += 2)
		CU_ASSERT_EQUAL(
		    mux_stream_reset(mine[i]->st, WIRE_ERR_CANCEL, NULL), 0);
	run_for(&w, 50);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), (unsigned)N / 2);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.b.s), (unsigned)N / 2);
	mux_session_stats(w.a.s, &st);
	CU_ASSERT_EQUAL(st.streams_total, (uint64_t)N);
	/* The survivors still relay. */
	id = mux_stream_id(mine[N - 1]->st);
	peer = find_b_app(&w, id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(peer);
	mine[N - 1]->to_send = 5000;
	mine[N - 1]->send_eof = true;
	app_fill(mine[N - 1]);
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, peer, WAIT_MS));
	CU_ASSERT_EQUAL(peer->received, 5000);
	CU_ASSERT_FALSE(peer->bad);
	world_free(&w);
}

/* Freeing the session from inside its callbacks is safe. */
static void
free_on_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
	struct side *sd = arg;

	sd->closed++;
	sd->close_err = error;
	mux_session_free(s);
	sd->s = NULL;
}

static void
free_on_stream_closed(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct app *app = arg;

	app_stream_event(st, ev, error, arg);
	if (ev == MUX_STREAM_CLOSED && app->w->a.s) {
		mux_session_free(app->w->a.s);
		app->w->a.s = NULL;
	}
}

static void
test_free_in_callbacks(void)
{
	struct world w;
	struct mux_callbacks cbs = side_cbs;
	struct bufferevent *ea, *eb;
	struct mux_config ca, cb;
	struct app *app;

	/* on_closed frees. */
	world_init(&w);
	test_config(&ca, WIRE_ROLE_CLIENT);
	test_config(&cb, WIRE_ROLE_SERVER);
	cb.min_proto = cb.max_proto = 2;
	cbs.on_closed = free_on_closed;
	carrier_pair(&w, false, &ea, &eb);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w.base, ea, &ca, &cbs, &w.a, &w.a.s), 0);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w.base, eb, &cb, &cbs, &w.b, &w.b.s), 0);
	mux_session_start(w.a.s);
	mux_session_start(w.b.s);
	CU_ASSERT_TRUE(run_until(&w, both_closed, &w, WAIT_MS));
	CU_ASSERT_PTR_NULL(w.a.s);
	CU_ASSERT_PTR_NULL(w.b.s);
	world_free(&w);

	/* A stream callback frees its session while data flows. */
	world_init(&w);
	world_up(&w, false);
	w.b.to_send = 1u << 20;
	app = open_app(&w, 1u << 20, false);
	mux_stream_set_event_cb(app->st, free_on_stream_closed, app);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, app, WAIT_MS));
	run_for(&w, 10);
	mux_stream_reset(w.apps[1]->st, WIRE_ERR_CANCEL, NULL);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, app, WAIT_MS));
	CU_ASSERT_PTR_NULL(w.a.s);
	run_for(&w, 20);
	world_free(&w);
}

/*
 * Detached streams (mux_stream_open with no local, mux_stream_attach
 * later), as the TUN path uses them while it holds an application's SYN.
 */

/* Opens a detached stream from side a for app (not started). */
static struct mux_stream *
open_detached(struct world *w, struct app *app)
{
	struct frame_addr dst = addr_v4(80);
	struct mux_stream *st = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    mux_stream_open(w->a.s, &dst, NULL, app_open_cb, app, &st), 0);
	app->st = st;
	mux_stream_set_event_cb(st, app_stream_event, app);
	return st;
}

/* Runs the loop until the stream received want bytes (or timeout). */
static bool
run_until_bytes_in(struct world *w, struct mux_stream *st, uint64_t want)
{
	uint64_t deadline = monotime_ms() + WAIT_MS, in = 0, out = 0;

	while (monotime_ms() < deadline) {
		mux_stream_bytes(st, &in, &out);
		if (in >= want)
			break;
		event_base_loop(w->base, EVLOOP_ONCE);
	}
	return in == want;
}

static void
test_detached_attach(void)
{
	const uint64_t size = 3u * WIRE_DEFAULT_STREAM_WINDOW + 1234;
	struct world w;
	struct app *ca, *sa, *other;
	struct mux_stream *st;
	uint64_t in, out;
	uint32_t id;

	world_init(&w);
	world_up(&w, false);
	w.b.to_send = size;
	w.b.send_eof = true;
	ca = app_new(&w, 100000, true);
	st = open_detached(&w, ca);
	id = mux_stream_id(st);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
	CU_ASSERT_EQUAL(ca->open_err, WIRE_OK);
	CU_ASSERT_FATAL(w.n_apps == 2);
	sa = w.apps[1];
	/* The server's app sends at once: the detached stream keeps exactly
	 * one stream window, and the sender waits. */
	CU_ASSERT_TRUE(run_until_bytes_in(&w, st, WIRE_DEFAULT_STREAM_WINDOW));
	run_for(&w, 50);
	mux_stream_bytes(st, &in, &out);
	CU_ASSERT_EQUAL(in, WIRE_DEFAULT_STREAM_WINDOW);
	CU_ASSERT_EQUAL(out, 0);
	CU_ASSERT_EQUAL(sa->received, 0);
	CU_ASSERT_EQUAL(ca->closed_calls, 0);

	CU_ASSERT_EQUAL(mux_stream_attach(st, NULL), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(mux_stream_attach(st, ca->mux_end), 0);
	CU_ASSERT_EQUAL(mux_stream_attach(st, ca->mux_end), -EALREADY);
	app_start(ca, seed_a(id), seed_b(id));
	CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
	/* Byte-exact both ways, the kept window first. */
	CU_ASSERT_EQUAL(ca->received, size);
	CU_ASSERT_EQUAL(sa->received, 100000);
	CU_ASSERT_FALSE(ca->bad);
	CU_ASSERT_FALSE(sa->bad);
	CU_ASSERT_EQUAL(ca->peer_fin, 1);
	CU_ASSERT_EQUAL(ca->closed_err, 0);
	CU_ASSERT_EQUAL(sa->closed_err, 0);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), 0);

	/* A stream opened with a local is not detached. */
	w.b.to_send = 0;
	w.b.send_eof = false;
	other = open_app(&w, 0, false);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, other, WAIT_MS));
	{
		struct app *spare = app_new(&w, 0, false);

		CU_ASSERT_EQUAL(
		    mux_stream_attach(other->st, spare->mux_end), -EALREADY);
		bufferevent_free(spare->mux_end);
	}
	world_free(&w);
}

static void
test_detached_fin_before_attach(void)
{
	static const uint64_t sizes[] = {0, 5000};

	for (size_t i = 0; i < 2; i++) {
		struct world w;
		struct app *ca;
		struct mux_stream *st;
		uint32_t id;

		world_init(&w);
		world_up(&w, false);
		w.b.to_send = sizes[i];
		w.b.send_eof = true;
		ca = app_new(&w, 777, true);
		st = open_detached(&w, ca);
		id = mux_stream_id(st);
		CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
		CU_ASSERT_TRUE(run_until_bytes_in(&w, st, sizes[i]));
		/* Give the FIN time to arrive; it must wait for a local. */
		run_for(&w, 30);
		CU_ASSERT_EQUAL(ca->peer_fin, 0);
		CU_ASSERT_EQUAL_FATAL(mux_stream_attach(st, ca->mux_end), 0);
		app_start(ca, seed_a(id), seed_b(id));
		CU_ASSERT_TRUE(run_until(&w, cond_bulk_done, &w, WAIT_MS));
		CU_ASSERT_EQUAL(ca->received, sizes[i]);
		CU_ASSERT_FALSE(ca->bad);
		CU_ASSERT_TRUE(ca->got_eof);
		CU_ASSERT_EQUAL(ca->peer_fin, 1);
		CU_ASSERT_EQUAL(ca->closed_err, 0);
		CU_ASSERT_EQUAL(w.apps[1]->received, 777);
		world_free(&w);
	}
}

static void
test_detached_never_attached(void)
{
	struct world w;
	struct app *ca, *sa, *cb, *cc;
	struct mux_stream *st;

	world_init(&w);
	world_up(&w, false);
	/* The owner gives up: reset, with kept data freed. */
	w.b.to_send = 100000;
	ca = app_new(&w, 0, false);
	st = open_detached(&w, ca);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, ca, WAIT_MS));
	CU_ASSERT_TRUE(run_until_bytes_in(&w, st, 100000));
	sa = w.apps[1];
	CU_ASSERT_EQUAL(mux_stream_reset(st, WIRE_ERR_CANCEL, "gave up"), 0);
	CU_ASSERT_EQUAL(ca->closed_calls, 1);
	CU_ASSERT_EQUAL(ca->closed_err, WIRE_ERR_CANCEL);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->closed_err, WIRE_ERR_CANCEL);
	bufferevent_free(ca->mux_end);

	/* The peer resets a detached stream holding data. */
	cb = app_new(&w, 0, false);
	st = open_detached(&w, cb);
	CU_ASSERT_FATAL(run_until(&w, cond_app_open, cb, WAIT_MS));
	CU_ASSERT_TRUE(run_until_bytes_in(&w, st, 100000));
	sa = w.apps[w.n_apps - 1];
	CU_ASSERT_EQUAL(mux_stream_reset(sa->st, WIRE_ERR_REFUSED, "no"), 0);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, cb, WAIT_MS));
	CU_ASSERT_EQUAL(cb->closed_err, WIRE_ERR_REFUSED);
	bufferevent_free(cb->mux_end);

	/* A refused detached open. */
	w.b.mode = MODE_REJECT;
	cc = app_new(&w, 0, false);
	open_detached(&w, cc);
	CU_ASSERT_TRUE(run_until(&w, cond_app_closed, cc, WAIT_MS));
	CU_ASSERT_EQUAL(cc->open_err, WIRE_ERR_REFUSED);
	CU_ASSERT_EQUAL(cc->closed_err, WIRE_ERR_REFUSED);
	bufferevent_free(cc->mux_end);
	CU_ASSERT_EQUAL(mux_session_stream_count(w.a.s), 0);
	CU_ASSERT_EQUAL(w.a.closed + w.b.closed, 0);
	world_free(&w);
}

/* The application's side of a socket local streams size bytes of the
 * client pattern, then shuts down. */
static bool
cond_socket_sent(void *arg)
{
	return ((struct app *)arg)->sent == ((struct app *)arg)->to_send;
}

static void
socket_push(struct app *app, int fd, uint8_t seed)
{
	static uint8_t chunk[64 * 1024];

	while (app->sent < app->to_send) {
		size_t n = sizeof(chunk);
		ssize_t k;

		if (n > app->to_send - app->sent)
			n = (size_t)(app->to_send - app->sent);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pat(app->sent + i, seed);
		k = send(fd, chunk, n, MSG_DONTWAIT);
		if (k <= 0)
			return;
		app->sent += (uint64_t)k;
	}
}

/* Runs the loop until fd has given want bytes (counted in *got). */
static bool
run_until_fd_bytes(struct world *w, int fd, size_t want, size_t *got)
{
	uint64_t deadline = monotime_ms() + WAIT_MS;
	char buf[256];

	while (*got < want && monotime_ms() < deadline) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	return *got == want;
}

static void
test_socket_local_shortcuts(void)
{
	struct world w;
	struct app *ca, *sa;
	size_t got = 0;
	uint64_t deadline;
	uint32_t id;
	int fd_app;

	world_up_quiet(&w);
	ca = open_socket_apps(&w, &fd_app, &sa);
	id = mux_stream_id(ca->st);
	/* Writes to the socket local are announced only to owners that
	 * asked (the TUN path reads its device right after them). */
	sa->to_send = 3;
	app_fill(sa);
	CU_ASSERT_TRUE(run_until_fd_bytes(&w, fd_app, 3, &got));
	CU_ASSERT_EQUAL(ca->wrote, 0);
	mux_stream_notify_writes(ca->st);
	sa->to_send = 8;
	app_fill(sa);
	CU_ASSERT_TRUE(run_until_fd_bytes(&w, fd_app, 8, &got));
	CU_ASSERT(ca->wrote >= 1);
	/* Reading soon, even repeatedly and with nothing to read, neither
	 * loses nor reorders what the application sends. */
	mux_stream_read_soon(ca->st);
	mux_stream_read_soon(NULL);
	ca->to_send = 300000;
	deadline = monotime_ms() + WAIT_MS;
	while (ca->sent < ca->to_send && monotime_ms() < deadline) {
		socket_push(ca, fd_app, seed_a(id));
		mux_stream_read_soon(ca->st);
		mux_stream_read_soon(ca->st);
		event_base_loop(w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	CU_ASSERT_TRUE(cond_socket_sent(ca));
	shutdown(fd_app, SHUT_WR);
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->received, ca->to_send);
	CU_ASSERT_FALSE(sa->bad);
	close(fd_app);
	world_free(&w);
}

static void
test_socket_local_large_frames(void)
{
	const uint64_t size = 8u * 1024 * 1024;
	struct world w;
	struct app *ca, *sa;
	struct mux_stats stats;
	uint64_t deadline;
	uint32_t id;
	int fd_app;

	world_up_quiet(&w);
	ca = open_socket_apps(&w, &fd_app, &sa);
	id = mux_stream_id(ca->st);
	ca->to_send = size;
	deadline = monotime_ms() + WAIT_MS;
	while (ca->sent < size && monotime_ms() < deadline) {
		socket_push(ca, fd_app, seed_a(id));
		event_base_loop(w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	CU_ASSERT_TRUE(cond_socket_sent(ca));
	shutdown(fd_app, SHUT_WR);
	CU_ASSERT_TRUE(run_until(&w, cond_app_eof, sa, WAIT_MS));
	CU_ASSERT_EQUAL(sa->received, size);
	CU_ASSERT_FALSE(sa->bad);
	/* libevent 2.1 would read 4 KiB per wakeup from a socket; the mux
	 * reads socket locals itself, up to 64 KiB, so a bulk stream goes in
	 * large DATA frames (and the window stops and restarts the reads). */
	mux_session_stats(w.a.s, &stats);
	CU_ASSERT(stats.bytes_out == size);
	CU_ASSERT(stats.frames_out > 0 && size / stats.frames_out > 8192);
	close(fd_app);
	world_free(&w);
}

static const struct cunit_test tests[] = {
    {"hello_ready", test_hello_ready},
    {"bad_config", test_bad_config},
    {"version_mismatch", test_version_mismatch},
    {"bulk_both_ways", test_bulk_both_ways},
    {"reject", test_reject},
    {"many_streams", test_many_streams},
    {"slow_reader", test_slow_reader},
    {"half_close", test_half_close},
    {"reset_propagates", test_reset_propagates},
    {"reset_socket", test_reset_socket},
    {"carrier_dropped", test_carrier_dropped},
    {"ping_rtt", test_ping_rtt},
    {"dead_peer", test_dead_peer},
    {"goaway_drain", test_goaway_drain},
    {"flow_violations", test_flow_violations},
    {"requests", test_requests},
    {"requests_raw", test_requests_raw},
    {"session_vectors", test_session_vectors},
    {"garbage", test_garbage},
    {"many_idle_streams", test_many_idle_streams},
    {"free_in_callbacks", test_free_in_callbacks},
    {"detached_attach", test_detached_attach},
    {"detached_fin_before_attach", test_detached_fin_before_attach},
    {"detached_never_attached", test_detached_never_attached},
    {"socket_local_large_frames", test_socket_local_large_frames},
    {"socket_local_shortcuts", test_socket_local_shortcuts},
};

CUNIT_MAIN("mux", tests)
