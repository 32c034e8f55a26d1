/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_mux: libFuzzer target for a whole tunnel session (common/mux.c), the
 * state machine behind the frame decoder: the input is what the peer sends
 * on the carrier, after a first byte that sets the scene:
 *   bit 0    our role: 0 server (the peer opens odd ids), 1 client
 *   bit 1    a valid peer HELLO goes ahead of the input (else the input
 *            brings its own, as proto/vectors/seq-*.bin do)
 *   bit 2    peer OPENs are accepted (else rejected with REFUSED)
 *   bit 3    once ready, we open two streams, ask a DNS query and ask for
 *            the environment
 *   bit 4    our locals send 20 KB each, then FIN
 *   bit 5    small windows and caps (1 KiB stream window, 4 KiB read cap,
 *            8 KiB carrier cap): flow control and back-pressure paths
 *   bit 6    the peer end never reads what we send
 *   bit 7    the input is delivered in pieces of 7 bytes, else whole
 * Peer DNS queries and ENV requests are answered at once. Every stream is
 * tracked from its creation: an event for a stream that already got
 * MUX_STREAM_CLOSED, a second on_closed, a stream that ended without
 * MUX_STREAM_CLOSED (the mux's count and ours differ once the loop is
 * idle) or a closed session with a stream left aborts (a crash for
 * libFuzzer); ASan and LeakSanitizer check the rest. Timers never fire
 * (keepalive set to hours), so a run is deterministic.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/mux.h"
#include "proto/frame.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_STREAMS 64
#define FZ_LOCAL_SEND  (20 * 1024)

struct fz_local {
	struct bufferevent *end; /* ours; the partner belongs to the mux */
	size_t sent;
	bool fin;
};

struct fz {
	struct event_base *base;
	struct mux_session *s;
	struct bufferevent *peer; /* the carrier's other end: the fuzzer */
	uint8_t flags;
	unsigned closed; /* on_closed calls */
	struct mux_stream *live[FZ_MAX_STREAMS];
	size_t n_live;
	struct fz_local locals[FZ_MAX_STREAMS];
	size_t n_locals;
};

static void
fz_live_add(struct fz *z, struct mux_stream *st)
{
	for (size_t i = 0; i < z->n_live; i++)
		if (z->live[i] == st)
			abort(); /* a stream handed to us twice */
	if (z->n_live == FZ_MAX_STREAMS)
		abort();
	z->live[z->n_live++] = st;
}

static void
fz_live_del(struct fz *z, struct mux_stream *st)
{
	for (size_t i = 0; i < z->n_live; i++) {
		if (z->live[i] == st) {
			z->live[i] = z->live[--z->n_live];
			return;
		}
	}
	abort(); /* an event after MUX_STREAM_CLOSED, or for a stranger */
}

static bool
fz_live_has(const struct fz *z, const struct mux_stream *st)
{
	for (size_t i = 0; i < z->n_live; i++)
		if (z->live[i] == st)
			return true;
	return false;
}

static void
fz_local_fill(struct fz_local *l)
{
	static const uint8_t chunk[4096];
	struct evbuffer *out = bufferevent_get_output(l->end);

	while (l->sent < FZ_LOCAL_SEND && evbuffer_get_length(out) < 8192) {
		evbuffer_add(out, chunk, sizeof(chunk));
		l->sent += sizeof(chunk);
	}
	if (!l->fin && l->sent >= FZ_LOCAL_SEND &&
	    evbuffer_get_length(out) == 0) {
		l->fin = true;
		bufferevent_flush(l->end, EV_WRITE, BEV_FINISHED);
	}
}

/* Our local ends and the peer end read and forget what they get. */
static void
fz_drain_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
fz_local_write_cb(struct bufferevent *bev, void *arg)
{
	struct fz_local *l = arg;

	(void)bev;
	fz_local_fill(l);
}

/* A local pair: one end for the mux (returned), one kept. NULL when the
 * table is full or out of memory. */
static struct bufferevent *
fz_local_new(struct fz *z)
{
	struct bufferevent *pair[2];
	struct fz_local *l;

	if (z->n_locals == FZ_MAX_STREAMS ||
	    bufferevent_pair_new(z->base,
	        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) < 0)
		return NULL;
	l = &z->locals[z->n_locals++];
	l->end = pair[1];
	l->sent = 0;
	l->fin = false;
	bufferevent_setcb(l->end, fz_drain_cb, fz_local_write_cb, NULL, l);
	bufferevent_enable(l->end, EV_READ | EV_WRITE);
	if (z->flags & 0x10)
		fz_local_fill(l);
	return pair[0];
}

static void
fz_stream_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct fz *z = arg;

	(void)error;
	if (!fz_live_has(z, st))
		abort();
	if (ev == MUX_STREAM_CLOSED)
		fz_live_del(z, st);
}

static void
fz_open_result(
    struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	struct fz *z = arg;

	(void)error;
	(void)msg;
	if (!fz_live_has(z, st))
		abort();
}

static void
fz_on_ready(struct mux_session *s, const struct mux_peer_info *peer, void *arg)
{
	struct fz *z = arg;
	static const uint8_t query[17] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0,
	    0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0x01};
	uint32_t id;

	(void)peer;
	if (!(z->flags & 0x08))
		return;
	for (int i = 0; i < 2; i++) {
		struct frame_addr dst;
		struct bufferevent *local = fz_local_new(z);
		struct mux_stream *st = NULL;

		if (local == NULL)
			return;
		memset(&dst, 0, sizeof(dst));
		dst.type = WIRE_ADDR_IPV4;
		dst.port = (uint16_t)(80 + i);
		dst.a.v4[0] = 10;
		dst.a.v4[3] = 7;
		if (mux_stream_open(s, &dst, local, fz_open_result, z, &st) <
		    0) {
			struct fz_local *l = &z->locals[--z->n_locals];

			bufferevent_free(local);
			bufferevent_free(l->end);
			l->end = NULL;
			continue;
		}
		fz_live_add(z, st);
		mux_stream_set_event_cb(st, fz_stream_event, z);
	}
	(void)mux_send_dns_query(s, query, sizeof(query), &id);
	(void)mux_send_env_request(s, &id);
}

static void
fz_on_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
	struct fz *z = arg;

	(void)s;
	(void)error;
	(void)reason;
	/* Exactly once, and every stream has ended before. */
	if (++z->closed > 1 || z->n_live != 0)
		abort();
}

static void
fz_on_open(struct mux_session *s, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	struct fz *z = arg;
	struct bufferevent *local;

	(void)s;
	(void)dst;
	fz_live_add(z, st);
	mux_stream_set_event_cb(st, fz_stream_event, z);
	if (!(z->flags & 0x04) || (local = fz_local_new(z)) == NULL) {
		if (mux_stream_reject(st, WIRE_ERR_REFUSED, "no") < 0)
			abort();
		return;
	}
	if (mux_stream_accept(st, local) < 0)
		bufferevent_free(local);
}

static void
fz_on_dns_query(struct mux_session *s, uint32_t id, const uint8_t *msg,
    size_t len, void *arg)
{
	(void)arg;
	if (len >= 12)
		(void)mux_send_dns_answer(s, id, WIRE_OK, msg, len);
	else
		(void)mux_send_dns_answer(s, id, WIRE_ERR_TIMEOUT, NULL, 0);
}

static void
fz_on_env_request(struct mux_session *s, uint32_t id, void *arg)
{
	static const struct mux_kv vars[] = {{"HOME", "/root"}, {"A", ""}};

	(void)arg;
	(void)mux_send_env_reply(s, id, WIRE_OK, vars, 2);
}

static void
fz_spin(struct fz *z, int turns)
{
	for (int i = 0; i < turns; i++)
		event_base_loop(z->base, EVLOOP_NONBLOCK);
}

static void
fz_send_hello(struct fz *z, uint8_t peer_role)
{
	static uint8_t buf[256];
	struct frame f;
	int n;

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_HELLO;
	f.u.hello.role = peer_role;
	f.u.hello.min_proto = WIRE_PROTO_MIN;
	f.u.hello.max_proto = WIRE_PROTO_MAX;
	f.u.hello.caps = WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES |
	                 WIRE_CAP_IPV6 | WIRE_CAP_INTERCEPT;
	f.u.hello.conn_window = WIRE_DEFAULT_CONN_WINDOW;
	n = frame_encode(&f, buf, sizeof(buf));
	if (n <= 0)
		abort();
	bufferevent_write(z->peer, buf, (size_t)n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mux_callbacks cbs = {
	    .on_ready = fz_on_ready,
	    .on_closed = fz_on_closed,
	    .on_open = fz_on_open,
	    .on_dns_query = fz_on_dns_query,
	    .on_env_request = fz_on_env_request,
	};
	struct bufferevent *pair[2];
	struct mux_config cfg;
	struct fz z;
	uint8_t role;
	size_t piece;

	if (size < 1)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	memset(&z, 0, sizeof(z));
	z.flags = data[0];
	data++;
	size--;
	role = (z.flags & 0x01) ? WIRE_ROLE_CLIENT : WIRE_ROLE_SERVER;
	z.base = event_base_new();
	if (z.base == NULL)
		abort();
	if (bufferevent_pair_new(z.base,
	        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) < 0)
		abort();
	z.peer = pair[1];
	bufferevent_setcb(z.peer, fz_drain_cb, NULL, NULL, &z);
	bufferevent_enable(
	    z.peer, (z.flags & 0x40) ? EV_WRITE : EV_READ | EV_WRITE);

	mux_config_init(&cfg, role);
	cfg.caps = WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES |
	           WIRE_CAP_IPV6 | WIRE_CAP_INTERCEPT;
	cfg.ping_interval_ms = 3600u * 1000u;
	cfg.dead_peer_ms = 7200u * 1000u;
	cfg.max_streams = FZ_MAX_STREAMS / 2;
	if (z.flags & 0x20) {
		cfg.stream_window = 1024;
		cfg.conn_window = 4096;
		cfg.stream_read_cap = 4096;
		cfg.carrier_out_cap = 8192;
	}
	if (mux_session_new(z.base, pair[0], &cfg, &cbs, &z, &z.s) < 0)
		abort();
	if (mux_session_start(z.s) < 0)
		abort();
	if (z.flags & 0x02)
		fz_send_hello(&z, role == WIRE_ROLE_CLIENT ? WIRE_ROLE_SERVER
		                                           : WIRE_ROLE_CLIENT);
	fz_spin(&z, 2);

	piece = (z.flags & 0x80) ? 7 : size;
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		bufferevent_write(z.peer, data + off, n);
		fz_spin(&z, 3);
	}
	fz_spin(&z, 16);

	/* Every stream the mux still has is one we were handed and not told
	 * of its end, and the other way round; a session that ended has none
	 * (fz_on_closed checks the moment it ends). */
	if (z.n_live != mux_session_stream_count(z.s) ||
	    (mux_session_is_closed(z.s) && z.n_live != 0))
		abort();

	/* Teardown as the daemons do it: the session first (its streams
	 * still write into our local ends), then what we own. */
	mux_session_free(z.s);
	fz_spin(&z, 3);
	for (size_t i = 0; i < z.n_locals; i++)
		if (z.locals[i].end != NULL)
			bufferevent_free(z.locals[i].end);
	bufferevent_free(z.peer);
	fz_spin(&z, 3);
	event_base_free(z.base);
	return 0;
}
