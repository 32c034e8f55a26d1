/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mux: one telepod tunnel session (proto/PROTOCOL.md) over a carrier
 * bufferevent (TLS in production, a bufferevent_pair end in tests). It sends
 * and checks HELLO, keeps the peer alive with PING, multiplexes streams with
 * per-stream and connection flow-control windows, carries DNS and
 * environment requests, and relays every open stream itself between the
 * carrier and a local bufferevent with back-pressure (libevent
 * sample/le-proxy.c style), propagating half-close and reset both ways.
 *
 * Threading and re-entrancy: everything runs on the event_base given to
 * mux_session_new; nothing blocks. Every callback may call any mux function,
 * including mux_session_free (the free is deferred until the mux's own
 * stack unwinds). Callbacks are never called from inside mux_session_new,
 * mux_session_start, mux_stream_open or the mux_send_* functions;
 * mux_stream_accept, mux_stream_attach, mux_stream_reset, mux_stream_reject,
 * mux_session_goaway, mux_cancel_* and mux_session_free may call callbacks
 * synchronously, as documented below.
 *
 * Locals: a socket bufferevent (create it with BEV_OPT_CLOSE_ON_FREE; the
 * mux uses bufferevent_getfd() for shutdown(SHUT_WR) and SO_LINGER 0, so do
 * not hand it a TLS bufferevent) or one end of a bufferevent_pair (the
 * owner keeps the other end and signals EOF with bufferevent_flush(end,
 * EV_WRITE, BEV_FINISHED); the mux does the same towards it). The process
 * must ignore SIGPIPE.
 */
#ifndef TELEPOD_COMMON_MUX_H
#define TELEPOD_COMMON_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/wire.h"

struct event_base;
struct bufferevent;
struct mux_session;
struct mux_stream;

/* Defaults filled in by mux_config_init. */
#define MUX_DEFAULT_PING_INTERVAL_MS 3000
#define MUX_DEFAULT_DEAD_PEER_MS     9000 /* dead peer detected within 10 s */
#define MUX_DEFAULT_MAX_STREAMS      32768
#define MUX_DEFAULT_STREAM_READ_CAP  (256u * 1024u)
#define MUX_DEFAULT_CARRIER_OUT_CAP  (1024u * 1024u)
/* At most this many DNS and ENV requests may be pending at once. */
#define MUX_MAX_PENDING_REQUESTS 4096

/* A NUL-terminated name/value pair (HELLO extensions, ENV_REPLY entries). */
struct mux_kv {
	const char *name;
	const char *value;
};

struct mux_config {
	uint8_t role;      /* WIRE_ROLE_CLIENT (odd ids) or WIRE_ROLE_SERVER */
	uint32_t caps;     /* WIRE_CAP_* advertised in our HELLO */
	uint8_t min_proto; /* 0 = WIRE_PROTO_MIN (set only by tests) */
	uint8_t max_proto; /* 0 = WIRE_PROTO_MAX (set only by tests) */
	/*
	 * HELLO extensions to send ("software", "namespace", "cluster-domain",
	 * "dns-search", "subnets", "server-time"): borrowed, encoded by
	 * mux_session_new (so they may be freed after it returns). At most
	 * FRAME_MAX_EXTENSIONS, names 1..64 bytes, values <= 4096 bytes.
	 */
	const struct mux_kv *ext;
	size_t n_ext;
	uint32_t stream_window;    /* our receive window per stream (bytes) */
	uint32_t conn_window;      /* our connection receive window (bytes) */
	unsigned ping_interval_ms; /* a PING this often */
	unsigned dead_peer_ms;     /* nothing received this long: TIMEOUT */
	unsigned max_streams;      /* concurrent streams, both directions */
	/* Most bytes read from one local and not yet framed (the local's
	 * read high watermark); bounds per-stream memory on the send side.
	 * The receive side is bounded by stream_window. */
	size_t stream_read_cap;
	/* Locals stop being read while the carrier's output holds more than
	 * this; they resume round-robin when it drains below half. */
	size_t carrier_out_cap;
	unsigned log_id; /* "session N" in debug lines */
	bool log_events; /* also log session start/end at info level */
	/*
	 * Yield to the applications fed: after handling carrier input that
	 * handed DATA to MUX_YIELD_MIN_FED or more socket locals, give the
	 * CPU up once (sched_yield), so that applications sharing it take
	 * their input and answer (their answers leave first: "send, then
	 * handle") before more input is handled. A yield that lasts
	 * MUX_YIELD_LONG_US or more means another task took the CPU: no
	 * yields then for MUX_YIELD_PAUSE_MS. docs/performance.md, "Yield
	 * to the applications fed".
	 */
	bool yield_to_locals;
	int (*yield)(void); /* NULL: sched_yield; tests count calls */
};

#define MUX_YIELD_MIN_FED  2
#define MUX_YIELD_LONG_US  1000
#define MUX_YIELD_PAUSE_MS 1000

/* Fills *cfg with the defaults for role (WIRE_DEFAULT_* windows, the
 * MUX_DEFAULT_* values, no caps, no extensions). */
void mux_config_init(struct mux_config *cfg, uint8_t role);

/* What the peer's HELLO said. Strings are owned by the session, NUL
 * terminated, peer-supplied (escape before logging), NULL when the
 * extension was absent; valid until mux_session_free. */
struct mux_peer_info {
	uint8_t role;         /* enum wire_role */
	uint8_t proto;        /* negotiated protocol version */
	uint32_t caps;        /* WIRE_CAP_* */
	uint32_t conn_window; /* peer's initial connection window */
	char *software;       /* "software" */
	char *namespace_name; /* "namespace" */
	char *cluster_domain; /* "cluster-domain" */
	char *dns_search;     /* "dns-search", space separated */
	char *subnets;        /* "subnets", comma separated CIDRs */
	char *server_time;    /* "server-time" */
};

struct mux_stats {
	uint32_t streams_open;  /* streams in the table now (any state) */
	uint64_t streams_total; /* streams ever created, both directions */
	uint64_t bytes_in;      /* DATA payload bytes received */
	uint64_t bytes_out;     /* DATA payload bytes sent */
	uint64_t frames_in;
	uint64_t frames_out;
	uint32_t rtt_us; /* last PING round trip, 0 before the first PONG */
};

/*
 * Session callbacks; any may be NULL. arg is the one given to
 * mux_session_new. Peer-supplied text (reason, msg) is NUL terminated and
 * must be escaped (log_escape) before logging.
 */
struct mux_callbacks {
	/* Both HELLOs exchanged and accepted; opens and requests allowed. */
	void (*on_ready)(
	    struct mux_session *s, const struct mux_peer_info *peer, void *arg);
	/*
	 * The session ended: carrier EOF or error, a protocol violation (ours
	 * or the peer's; a GOAWAY was sent/received), keepalive TIMEOUT, or a
	 * GOAWAY drain that completed (error = the code given to
	 * mux_session_goaway or received from the peer). Called exactly once
	 * per session, unless mux_session_free comes first; every stream has
	 * already ended (open_cb/MUX_STREAM_CLOSED called) and every pending
	 * request failed. The session is inert afterwards: the owner frees it
	 * (here or later).
	 */
	void (*on_closed)(struct mux_session *s, uint32_t error,
	    const char *reason, void *arg);
	/* The peer sent GOAWAY. A drain (OK/SHUTDOWN): no new
	 * mux_stream_open, our opens it will not process fail with SHUTDOWN,
	 * the rest go on and the session closes (on_closed with the peer's
	 * error and message) when no stream or request of ours is left. Any
	 * other error: on_closed follows at once. */
	void (*on_goaway)(
	    struct mux_session *s, uint32_t error, const char *msg, void *arg);
	/*
	 * The peer opened st towards dst (borrowed for the call; also via
	 * mux_stream_dst). Answer with mux_stream_accept or mux_stream_reject,
	 * now or later. To answer later, set an event callback first
	 * (mux_stream_set_event_cb): MUX_STREAM_CLOSED tells that the peer
	 * cancelled or the session died, after which st must not be used.
	 * When NULL, peer opens are rejected with PROHIBITED.
	 */
	void (*on_open)(struct mux_session *s, struct mux_stream *st,
	    const struct frame_addr *dst, void *arg);
	/* A DNS_QUERY (we advertised WIRE_CAP_DNS); msg is borrowed for the
	 * call. Answer with mux_send_dns_answer, now or later, echoing id.
	 * When NULL, queries are answered UNSUPPORTED. */
	void (*on_dns_query)(struct mux_session *s, uint32_t id,
	    const uint8_t *msg, size_t len, void *arg);
	/* The answer to our mux_send_dns_query id: error WIRE_OK with the
	 * message (borrowed), or an error and no message. Also called with a
	 * non-zero error for every pending query when the session dies. */
	void (*on_dns_answer)(struct mux_session *s, uint32_t id,
	    uint32_t error, const uint8_t *msg, size_t len, void *arg);
	/* An ENV_REQUEST (we advertised WIRE_CAP_ENV); answer with
	 * mux_send_env_reply echoing id. When NULL, answered UNSUPPORTED. */
	void (*on_env_request)(struct mux_session *s, uint32_t id, void *arg);
	/* The reply to our mux_send_env_request id. f is the decoded, validated
	 * ENV_REPLY (walk it with frame_env_iter_init/frame_env_next), borrowed
	 * for the call; NULL when the session died (error != 0). */
	void (*on_env_reply)(struct mux_session *s, uint32_t id, uint32_t error,
	    const struct frame *f, void *arg);
};

/*
 * Creates a session on carrier. Takes ownership of carrier on success (the
 * mux sets its callbacks and watermarks and frees it in mux_session_free;
 * create it with BEV_OPT_CLOSE_ON_FREE); on failure the caller keeps it.
 * cfg and cbs are copied; cfg->ext is encoded into our HELLO here. No I/O
 * happens until mux_session_start. Returns 0, -EINVAL (bad config or
 * extensions) or -ENOMEM.
 */
int mux_session_new(struct event_base *base, struct bufferevent *carrier,
    const struct mux_config *cfg, const struct mux_callbacks *cbs, void *arg,
    struct mux_session **ret_session);

/* Sends our HELLO and starts reading the carrier and the keepalive timer.
 * Returns 0, -EALREADY when already started, -ENOTCONN when closed. */
int mux_session_start(struct mux_session *s);

/*
 * Starts a graceful shutdown (a drain: error WIRE_OK or WIRE_ERR_SHUTDOWN):
 * sends GOAWAY(error, msg) naming the highest peer stream we will still
 * process; later peer OPENs are answered OPEN_RESULT SHUTDOWN and
 * mux_stream_open fails with -ESHUTDOWN. Existing streams and our pending
 * requests finish; when the last one ends the carrier is flushed and
 * on_closed(error, msg) is called (from inside this call when nothing is
 * open). The owner may free the session earlier after its own drain
 * deadline. Before mux_session_start it closes silently. Returns 0,
 * -EALREADY when already going away, -ENOTCONN when closed.
 */
int mux_session_goaway(struct mux_session *s, uint32_t error, const char *msg);

/*
 * Frees the session, its carrier, every stream and its local (locals closed
 * abortively, SO_LINGER 0). Calls each pending open_cb and each stream's
 * MUX_STREAM_CLOSED with WIRE_ERR_SHUTDOWN so owners can release their
 * per-stream state (do not call mux functions on s from those callbacks);
 * on_closed and request callbacks are not called. Safe inside any mux
 * callback (the free is deferred until the mux returns). Accepts NULL.
 */
void mux_session_free(struct mux_session *s);

/* True once both HELLOs were accepted and until the session closes. */
bool mux_session_is_ready(const struct mux_session *s);
/* True once the session ended (on_closed called or about to be). */
bool mux_session_is_closed(const struct mux_session *s);
/* The peer's HELLO, or NULL before ready. Owned by the session. */
const struct mux_peer_info *mux_session_peer(const struct mux_session *s);
/* Streams in the table now (opening, pending accept, open, half-closed). */
unsigned mux_session_stream_count(const struct mux_session *s);
void mux_session_stats(const struct mux_session *s, struct mux_stats *ret);
struct event_base *mux_session_base(const struct mux_session *s);

/* Stream callbacks. */
/* Result of mux_stream_open: error WIRE_OK (stream open, relaying) or the
 * peer's OPEN_RESULT error (REFUSED, ...), RESET error, WIRE_ERR_CANCEL
 * after mux_stream_reset, or the session's error when it died. msg is the
 * peer's message or "" (peer-supplied: escape before logging). Called
 * exactly once, never from inside mux_stream_open. After an error the
 * stream is closed: MUX_STREAM_CLOSED follows (if an event callback is
 * set) and then st is invalid. */
typedef void (*mux_open_cb)(
    struct mux_stream *st, uint32_t error, const char *msg, void *arg);

enum mux_stream_event {
	/* The peer sent FIN and all its data was flushed to the local; the
	 * mux already did shutdown(fd, SHUT_WR) for socket locals, or
	 * bufferevent_flush(local, EV_WRITE, BEV_FINISHED) for others (a
	 * bufferevent_pair partner then sees BEV_EVENT_EOF). The local may
	 * still send. error is 0. */
	MUX_STREAM_PEER_FIN = 1,
	/* The stream ended and its local was freed: error 0 after FIN both
	 * ways, else the reason (the peer's RESET code, CONN_RESET when the
	 * local failed, the OPEN_RESULT error, the session's error, or the
	 * code given to mux_stream_reset/reject). Exactly once per stream,
	 * always the last callback; st is invalid after it returns. */
	MUX_STREAM_CLOSED = 2,
	/* Bytes from the peer were just written to the socket local (only
	 * after mux_stream_notify_writes). error is 0. */
	MUX_STREAM_WROTE = 3,
};
typedef void (*mux_stream_event_cb)(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg);

/*
 * Opens a stream to dst (copied) and relays it to local once the peer
 * accepts. Takes ownership of local on success (the mux sets its callbacks
 * and watermarks, reads nothing from it until the stream is open, and frees
 * it when the stream ends; create it with BEV_OPT_CLOSE_ON_FREE); on
 * failure the caller keeps it. cb(st, error, msg, arg) reports the result
 * later. Needs a ready session.
 *
 * local may be NULL: the stream opens "detached", for owners that get their
 * local only once the OPEN succeeded (the TUN path holds an application's
 * SYN until then). Nothing is sent on a detached stream; DATA and FIN from
 * the peer are kept (at most our stream window, since no credit is granted
 * for them) until mux_stream_attach. An owner that never attaches must
 * mux_stream_reset the stream.
 *
 * Returns 0 (with *ret_stream when not NULL),
 * -ENOTCONN (not ready or closed), -ESHUTDOWN (GOAWAY sent or received),
 * -EOPNOTSUPP (a name without the peer's WIRE_CAP_HOSTNAMES, IPv6 without
 * WIRE_CAP_IPV6), -EINVAL (bad dst), -ENOBUFS (max_streams reached),
 * -ERANGE (stream ids exhausted) or -ENOMEM.
 */
int mux_stream_open(struct mux_session *s, const struct frame_addr *dst,
    struct bufferevent *local, mux_open_cb cb, void *arg,
    struct mux_stream **ret_stream);

/*
 * Accepts a peer-opened stream (from on_open) and relays it to local. Takes
 * ownership of local on success (as mux_stream_open); on failure the caller
 * keeps it. Returns 0, -EALREADY (already answered) or -ENOTCONN (the
 * stream or the session closed).
 */
int mux_stream_accept(struct mux_stream *st, struct bufferevent *local);

/*
 * Gives a stream opened detached (mux_stream_open with local NULL) its
 * local, before or after OPEN_RESULT. Takes ownership of local on success
 * (as mux_stream_open); on failure the caller keeps it. The DATA kept so
 * far is moved to local's output ahead of everything else, and relaying
 * starts at once if the stream is open. When the peer already sent FIN,
 * it is delivered to local after the kept data (MUX_STREAM_PEER_FIN and,
 * if the stream is then done, MUX_STREAM_CLOSED may be called before this
 * returns). Returns 0, -EALREADY (not a detached stream, or attached
 * already), -ENOTCONN (the stream or the session closed), -EINVAL (local
 * NULL) or -ENOMEM.
 */
int mux_stream_attach(struct mux_stream *st, struct bufferevent *local);

/* Refuses a peer-opened stream with OPEN_RESULT error (non-zero, e.g.
 * WIRE_ERR_REFUSED) and msg (may be NULL; <= 1024 bytes). The stream ends:
 * MUX_STREAM_CLOSED(error) is called before this returns, then st is
 * invalid. Returns 0, -EINVAL (error 0), -EALREADY or -ENOTCONN. */
int mux_stream_reject(struct mux_stream *st, uint32_t error, const char *msg);

/*
 * Aborts a stream in any state: sends RESET(error, msg) when the peer knows
 * the stream, closes the local abortively (SO_LINGER 0 for sockets). A
 * pending open_cb gets WIRE_ERR_CANCEL; MUX_STREAM_CLOSED(error) is called
 * before this returns, then st is invalid. Returns 0 or -ENOTCONN when the
 * stream already ended (st is then still valid only inside its callbacks).
 */
int mux_stream_reset(struct mux_stream *st, uint32_t error, const char *msg);

/* Sets the stream's event callback (NULL to clear); arg is passed back. */
void mux_stream_set_event_cb(
    struct mux_stream *st, mux_stream_event_cb cb, void *arg);
/*
 * Same-turn shortcuts for owners that know more than epoll does: the TUN
 * path writes an application's segment into the device and the kernel
 * queues it on the local socket within that write(); the mux writes to the
 * local socket and the kernel queues the segment on the device within that
 * write(). Waiting for epoll_wait to say so costs a system call and a
 * loop turn per message and direction.
 *
 * mux_stream_read_soon: reads the socket local in this loop turn (when the
 * stream is reading it at all), as if epoll had reported it readable.
 * mux_stream_notify_writes: MUX_STREAM_WROTE after each write of DATA to
 * the socket local.
 */
void mux_stream_read_soon(struct mux_stream *st);
void mux_stream_notify_writes(struct mux_stream *st);
/* An owner pointer carried by the stream (NULL initially). */
void mux_stream_set_user(struct mux_stream *st, void *user);
void *mux_stream_get_user(const struct mux_stream *st);
uint32_t mux_stream_id(const struct mux_stream *st);
/* The destination of the OPEN; owned by the stream. */
const struct frame_addr *mux_stream_dst(const struct mux_stream *st);
struct mux_session *mux_stream_session(const struct mux_stream *st);
/* DATA payload bytes received from / sent to the peer on this stream. */
void mux_stream_bytes(
    const struct mux_stream *st, uint64_t *ret_in, uint64_t *ret_out);

/*
 * Sends DNS_QUERY with a raw DNS message (FRAME_DNS_MIN..FRAME_DNS_MAX
 * bytes, copied) and a fresh id, written to *ret_id. on_dns_answer reports
 * the answer. Returns 0, -ENOTCONN (not ready or closed), -EOPNOTSUPP (peer
 * lacks WIRE_CAP_DNS), -EINVAL (length), -ENOBUFS (too many pending).
 */
int mux_send_dns_query(
    struct mux_session *s, const uint8_t *msg, size_t len, uint32_t *ret_id);
/* Forgets a pending query (a late answer is then ignored). Returns 0 or
 * -ENOENT. */
int mux_cancel_dns_query(struct mux_session *s, uint32_t id);
/* Answers the peer's query id: error WIRE_OK with msg (12..65535 bytes,
 * copied), or an error (TIMEOUT, NAME_FAILURE, UNSUPPORTED) with no msg.
 * Returns 0, -EINVAL or -ENOTCONN. */
int mux_send_dns_answer(struct mux_session *s, uint32_t id, uint32_t error,
    const uint8_t *msg, size_t len);

/* Sends ENV_REQUEST with a fresh id (*ret_id); on_env_reply reports the
 * reply. Returns 0, -ENOTCONN, -EOPNOTSUPP (peer lacks WIRE_CAP_ENV) or
 * -ENOBUFS. */
int mux_send_env_request(struct mux_session *s, uint32_t *ret_id);
/* Forgets a pending request. Returns 0 or -ENOENT. */
int mux_cancel_env_request(struct mux_session *s, uint32_t id);
/*
 * Answers the peer's request id with n variables (borrowed; names 1..1024
 * bytes without '=', values <= 131072 bytes, n <= 4096) or, when error is
 * non-zero, with no variables. Builds and sends the ENV_REPLY (its buffer
 * is wiped once written). Returns 0, -EINVAL (a bad name or count; nothing
 * sent), -EMSGSIZE (a value over the limit or the whole over one frame of
 * WIRE_MAX_PAYLOAD: a RESOURCE reply was sent instead, as the spec says),
 * -ENOTCONN or -ENOMEM.
 */
int mux_send_env_reply(struct mux_session *s, uint32_t id, uint32_t error,
    const struct mux_kv *vars, size_t n);

#endif
