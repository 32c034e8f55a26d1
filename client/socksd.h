/* SPDX-License-Identifier: Apache-2.0 */
/*
 * socksd: telepodd's SOCKS5 entry (RFC 1928, NO AUTH, CONNECT only), the
 * way applications reach the cluster without a TUN device. It accepts on a
 * loopback address, runs the handshake with client/socks5, asks its owner
 * which tunnel session serves the destination, opens a mux stream and
 * hands the client socket to the mux, which relays it from then on.
 *
 * Replies: 0x00 once the server's OPEN_RESULT says opened (BND 0.0.0.0:0);
 * the destination's error mapped by socks5_reply_for_error otherwise;
 * 0x03 (network unreachable) at once when no session is connected (while
 * a connection is reconnecting, requests fail fast instead of waiting);
 * 0x06 when the server has not answered the OPEN within open_ms. Bytes
 * the client sends right after its request (pipelined) are kept and
 * relayed once the stream is open.
 *
 * At most max_pending clients are in their handshake or OPEN at once; while
 * at that limit socksd stops accepting and further connections wait in the
 * kernel's listen backlog (SOCKSD_BACKLOG, capped by net.core.somaxconn),
 * to be served as earlier ones finish. Reaching the limit is logged at info
 * level, at most once per SOCKSD_LIMIT_LOG_MS.
 */
#ifndef TELEPOD_CLIENT_SOCKSD_H
#define TELEPOD_CLIENT_SOCKSD_H

#include <stddef.h>

#include "common/mux.h"
#include "proto/frame.h"

struct event_base;
struct socksd;

/* Defaults (0 in struct socksd_config means these). */
#define SOCKSD_MAX_PENDING  256   /* handshakes and opens in flight */
#define SOCKSD_HANDSHAKE_MS 10000 /* greeting + request */
#define SOCKSD_OPEN_MS      30000 /* OPEN until OPEN_RESULT */
#define SOCKSD_LINGER_MS    2000  /* after an error reply, until EOF */
/* listen(2) backlog: a burst beyond max_pending waits here. */
#define SOCKSD_BACKLOG 4096
/* The "limit reached" info line, at most this often. */
#define SOCKSD_LIMIT_LOG_MS 60000
/* Longest listen address accepted ("[IPv6]:PORT"). */
#define SOCKSD_MAX_ADDR 64

struct socksd_config {
	unsigned max_pending;
	unsigned handshake_ms;
	unsigned open_ms;
};

/* Returns the session to open dst on (borrowed for the call), or NULL when
 * none is connected. */
typedef struct mux_session *(*socksd_route_fn)(
    const struct frame_addr *dst, void *arg);

/*
 * Listens on listen_addr ("127.0.0.1:1080", "[::1]:1080"; port 0 picks a
 * free port) on base. cfg may be NULL (defaults) and is copied; route and
 * arg are borrowed. Returns 0 and *ret_sd, or a negative errno with a
 * sentence in err (-EINVAL for a bad address, the bind/listen errno, e.g.
 * -EADDRINUSE).
 */
int socksd_new(struct event_base *base, const char *listen_addr,
    const struct socksd_config *cfg, socksd_route_fn route, void *arg,
    struct socksd **ret_sd, char *err, size_t errlen);

/* Stops listening and closes every client still in its handshake; opens in
 * flight are reset (the mux streams end with CANCEL). Streams already
 * handed to the mux are not affected. Accepts NULL. */
void socksd_free(struct socksd *sd);

/* The bound address, with the real port ("127.0.0.1:40123"). Borrowed. */
const char *socksd_address(const struct socksd *sd);

/* Clients in handshake, waiting for OPEN_RESULT, or sending an error
 * reply. */
unsigned socksd_pending(const struct socksd *sd);

#endif
