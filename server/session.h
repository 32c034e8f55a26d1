/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session: one accepted client of telepod-server. It waits for the TLS
 * handshake (bounded by a timeout) and logs who connected, then runs a mux
 * session on the connection and serves it: OPEN -> resolve and dial ->
 * mux_stream_accept (the mux relays), DNS_QUERY -> c-ares passthrough,
 * ENV_REQUEST -> the configured environment. A failing client only ever
 * ends its own session.
 */
#ifndef TELEPOD_SERVER_SESSION_H
#define TELEPOD_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/mux.h"

struct bufferevent;
struct event_base;
struct resolver;
struct session;

/* Defaults for the limits (main.c's flags). */
#define SESSION_DEFAULT_MAX_STREAMS     1024u
#define SESSION_DEFAULT_HANDSHAKE_MS    10000u
#define SESSION_DEFAULT_MAX_DNS_PENDING 256u

/* Shared by all sessions; everything is borrowed and must outlive them. */
struct session_config {
	struct event_base *base;
	struct resolver *resolver;
	/* HELLO extensions (software, namespace, ...), at most
	 * FRAME_MAX_EXTENSIONS - 1: each session adds "server-time" (its
	 * clock at the HELLO) and encodes them. */
	const struct mux_kv *hello_ext;
	size_t n_hello_ext;
	/* The environment handed out on ENV_REQUEST. */
	const struct mux_kv *env;
	size_t n_env;
	unsigned dial_timeout_ms;
	unsigned max_streams;     /* per session, both directions */
	unsigned handshake_ms;    /* TLS handshake deadline */
	unsigned max_dns_pending; /* queries in flight per session */
	/* Tests only: override the mux's keepalive (0 keeps the default). */
	unsigned ping_interval_ms;
	unsigned dead_peer_ms;
};

/* Fills *cfg with the defaults (base and resolver left NULL). */
void session_config_init(struct session_config *cfg);

/*
 * Called once when the session ended (handshake failure, peer gone,
 * protocol error, drain complete). The owner frees it with session_free,
 * here or later; the session does nothing more.
 */
typedef void (*session_closed_cb)(struct session *s, void *arg);

/*
 * Starts serving a client on carrier (ownership taken, also on failure),
 * created with BEV_OPT_CLOSE_ON_FREE. When tls is true carrier is a
 * tlsconf_bufferevent_accept() bufferevent whose handshake must complete within
 * cfg->handshake_ms; otherwise (tests) the mux starts at once. id numbers
 * the session in logs ("session 3"); peer is the client's address for logs
 * (copied). cfg is borrowed and must outlive the session. Returns 0,
 * -ENOMEM, or -EINVAL when cfg's HELLO extensions are invalid (too many).
 */
int session_new(const struct session_config *cfg, unsigned id, const char *peer,
    struct bufferevent *carrier, bool tls, session_closed_cb cb, void *arg,
    struct session **ret_session);

/*
 * Starts a graceful end: GOAWAY(SHUTDOWN) to the client, existing streams
 * finish, then the closed callback runs. A session still in its handshake
 * ends at once (the callback runs before this returns).
 */
void session_goaway(struct session *s, const char *msg);

/* Frees the session: its mux session, streams, pending dials, lookups and
 * queries. Safe inside the closed callback. Accepts NULL. */
void session_free(struct session *s);

unsigned session_id(const struct session *s);
/* Streams the session has now (0 during the handshake). */
unsigned session_stream_count(const struct session *s);
/* True once the TLS handshake completed (or at once without TLS). */
bool session_is_established(const struct session *s);

#endif
