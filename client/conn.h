/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn: telepodd's connection to one telepod-server for one namespace. It
 * resolves HOST:PORT, connects TCP, runs the TLS handshake (common/tls) and
 * the tunnel HELLO (common/mux), then keeps the session up: the mux's
 * keepalive notices a dead peer within 10 s, and after any drop conn
 * reconnects with capped exponential backoff and jitter until conn_close.
 *
 * Reconnect schedule: the n-th consecutive failed attempt (n = 0 right
 * after a drop) waits a random time in [d/2, d] with d = min(200 ms * 2^n,
 * 1 s) before the next. The cap is 1 s so that new streams work again
 * within 2 s of the server coming back: at most 1 s until the next attempt
 * plus the handshake. A reconnect attempt gives TCP 2 s and the whole
 * handshake 10 s; the first attempt has the caller's timeout and is not
 * retried: its result goes to on_first and a failed conn stays inert.
 */
#ifndef TELEPOD_CLIENT_CONN_H
#define TELEPOD_CLIENT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "common/mux.h"

struct event_base;
struct evdns_base;
struct conn;

enum conn_state {
	CONN_CONNECTING = 1, /* first attempt in progress */
	CONN_CONNECTED,      /* session ready */
	CONN_RECONNECTING,   /* dropped; waiting or attempting again */
	CONN_CLOSING,        /* conn_close: GOAWAY sent, draining */
	CONN_CLOSED,         /* closed, or the first attempt failed */
};

/* Reconnect and timing defaults (see the header comment). */
#define CONN_BACKOFF_MIN_MS         200
#define CONN_BACKOFF_MAX_MS         1000
#define CONN_RECONNECT_TCP_MS       2000
#define CONN_RECONNECT_HANDSHAKE_MS 10000
#define CONN_CLOSE_DRAIN_MS         2000
#define CONN_ENV_TIMEOUT_MS         10000
/* Longest "HOST:PORT" accepted (a 253-byte name, brackets, ":65535"). */
#define CONN_MAX_SERVER 261

/* Control-protocol error codes of a failed first attempt (client/ctl.h
 * names the same strings CTL_E_*). */
#define CONN_E_RESOLVE  "resolve"
#define CONN_E_REFUSED  "refused"
#define CONN_E_TLS      "tls"
#define CONN_E_TIMEOUT  "timeout"
#define CONN_E_PROTOCOL "protocol"
#define CONN_E_INTERNAL "internal"

struct conn_params {
	const char *namespace_name; /* copied */
	const char *server;         /* "HOST:PORT" or "[V6]:PORT", copied */
	/* From tlsconf_client_ctx_new; conn takes a reference. */
	SSL_CTX *ssl_ctx;
	struct evdns_base *dns;    /* borrowed, outlives conn; NULL: numeric
	                              hosts and "localhost" only */
	uid_t owner;               /* recorded for the daemon */
	unsigned first_timeout_ms; /* first attempt, whole; 0 = 30 s */
	/* Tests shorten these; 0 means the CONN_* default. */
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
	unsigned ping_interval_ms;
	unsigned dead_peer_ms;
	unsigned close_drain_ms;
	/* Never yield the CPU to the applications fed (telepodd --no-yield;
	 * mux.h, yield_to_locals). */
	bool no_yield;
};

struct conn_callbacks {
	/* A stage of the first attempt began: "resolving", "connecting",
	 * "tls", "hello". May be NULL. */
	void (*on_progress)(struct conn *c, const char *stage, void *arg);
	/* The first attempt ended: code NULL when connected, else one of
	 * CONN_E_* with a sentence for the user in msg (borrowed for the
	 * call). After a failure the conn is CONN_CLOSED and does nothing
	 * more; the owner frees it (here or later). */
	void (*on_first)(
	    struct conn *c, const char *code, const char *msg, void *arg);
	/* The state changed (CONNECTED after a reconnect, RECONNECTING after
	 * a drop). May be NULL. */
	void (*on_state)(struct conn *c, enum conn_state state, void *arg);
	/* The answer to a query the owner sent with mux_send_dns_query on
	 * session s (conn_session): the mux's on_dns_answer, passed on (an
	 * error and no message for each pending query when s closes; a
	 * session freed by conn_free answers nothing, so forget its queries
	 * before). May be NULL. */
	void (*on_dns_answer)(struct conn *c, struct mux_session *s,
	    uint32_t id, uint32_t error, const uint8_t *msg, size_t len,
	    void *arg);
};

/*
 * Creates a conn and starts its first attempt on base (callbacks come later
 * from the loop, never from inside conn_new). params are copied (the
 * SSL_CTX is referenced); cbs is copied; arg is passed back. Returns 0 and
 * *ret_conn, -EINVAL (server is not HOST:PORT with a port 1..65535; a
 * sentence goes to err) or -ENOMEM.
 */
int conn_new(struct event_base *base, const struct conn_params *params,
    const struct conn_callbacks *cbs, void *arg, struct conn **ret_conn,
    char *err, size_t errlen);

/* Frees c at once: any session is freed (its streams reset), pending env
 * requests fail with WIRE_ERR_SHUTDOWN. No callback of c runs afterwards.
 * Safe from inside c's callbacks (the free is deferred). Accepts NULL. */
void conn_free(struct conn *c);

/*
 * Closes c gracefully: GOAWAY(SHUTDOWN) on the session, wait until it
 * drains or for close_drain_ms, then free the session; done(c, arg) is
 * called from the loop once c is CONN_CLOSED (even when it already was).
 * Stops reconnecting at once. Further conn_close calls only replace done.
 */
void conn_close(
    struct conn *c, void (*done)(struct conn *c, void *arg), void *arg);

enum conn_state conn_get_state(const struct conn *c);
/* "connecting", "connected", "reconnecting", "closing", "closed". */
const char *conn_state_name(enum conn_state state);
const char *conn_namespace(const struct conn *c);
const char *conn_server(const struct conn *c);
uid_t conn_owner(const struct conn *c);
/* The ready session, or NULL when not CONN_CONNECTED. Borrowed: valid
 * until the next return to the loop. */
struct mux_session *conn_session(const struct conn *c);
/* The peer's HELLO of the current (or last) session, or NULL before the
 * first one. Borrowed like conn_session. */
const struct mux_peer_info *conn_peer(const struct conn *c);

struct conn_stats {
	uint64_t streams_open;
	uint64_t streams_total; /* summed over every session */
	uint64_t bytes_in;
	uint64_t bytes_out;
	unsigned reconnects;    /* sessions established after the first */
	long long connected_ms; /* CLOCK_MONOTONIC of the first ready, 0 */
};
void conn_get_stats(const struct conn *c, struct conn_stats *ret);
/* The last failure as a sentence, "" when none. Borrowed. */
const char *conn_last_error(const struct conn *c);

/*
 * Reply to conn_env_request: error WIRE_OK and f the decoded ENV_REPLY
 * (borrowed for the call; walk with frame_env_iter_init/frame_env_next), or
 * an error and f NULL: the server's error, WIRE_ERR_UNSUPPORTED (the server
 * lacks WIRE_CAP_ENV), WIRE_ERR_TIMEOUT (no answer in
 * CONN_ENV_TIMEOUT_MS), WIRE_ERR_SHUTDOWN (session gone, conn freed).
 */
typedef void (*conn_env_cb)(
    struct conn *c, uint32_t error, const struct frame *f, void *arg);

/* Asks the server for its environment. Returns 0 (cb is called later,
 * exactly once, from the loop or from conn_free), -ENOTCONN when not
 * connected, -EOPNOTSUPP (server lacks WIRE_CAP_ENV), -ENOMEM or -ENOBUFS. */
int conn_env_request(struct conn *c, conn_env_cb cb, void *arg);

/* Delay before reconnect attempt n (0-based) for the given bounds, using
 * random in [0, 1) for the jitter. Exposed for tests. */
unsigned conn_backoff_ms(
    unsigned n, unsigned min_ms, unsigned max_ms, double random);

/* Monotonic milliseconds. */
long long conn_now_ms(void);

/* A server clock further than this from ours (seconds) is warned about:
 * certificates may then look expired or not yet valid. */
#define CONN_MAX_CLOCK_SKEW_S 300

/*
 * Parses the HELLO extension "server-time" (peer-supplied): exactly
 * "YYYY-MM-DDTHH:MM:SSZ" (proto/PROTOCOL.md section 4.2), a real date, a
 * leap second allowed. Writes seconds since the epoch (UTC) to *ret_epoch.
 * Returns 0 or -EINVAL. Exposed for tests.
 */
int conn_parse_server_time(const char *s, long long *ret_epoch);

#endif
