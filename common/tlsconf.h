/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls: mutual TLS 1.3 between telepodd and telepod-server. Both ends trust
 * exactly one CA, DIR/ca.crt (never the system store); the server demands a
 * client certificate with clientAuth, the client demands a server
 * certificate with serverAuth that names the expected server name. The
 * connections are libevent OpenSSL bufferevents on the caller's event_base.
 *
 * Certificate directories (see certs.h): the server's holds ca.crt,
 * server.crt and server.key; the client's ca.crt, client.crt and client.key.
 *
 * Note on TLS 1.3: the client finishes its handshake (BEV_EVENT_CONNECTED)
 * before the server has checked the client certificate, so a refused client
 * learns it only from the first read (a BEV_EVENT_ERROR carrying the
 * server's alert). Treat the session as up when the server's first message
 * arrives, not on BEV_EVENT_CONNECTED.
 */
#ifndef TELEPOD_COMMON_TLSCONF_H
#define TELEPOD_COMMON_TLSCONF_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/util.h>
#include <openssl/ssl.h>

/* The name the client expects in the server certificate by default. */
#define TLSCONF_DEFAULT_SERVER_NAME "telepod-server"

/* The TLS 1.3 cipher suites both contexts offer, in order (the client's
 * order decides): AES-128-GCM first, see tlsconf_ctx_new. */
#define TLSCONF_CIPHERSUITES                                                   \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"                 \
	"TLS_AES_256_GCM_SHA384"

/* Longest sentence tlsconf_describe_error() writes; size buffers with it. */
#define TLSCONF_ERROR_MAX 512

/*
 * Makes the server's context from DIR/ca.crt, DIR/server.crt and
 * DIR/server.key: TLS 1.3 only, client certificate required and verified
 * against ca.crt with the clientAuth purpose, no session resumption.
 * Logs a warning when server.key is open to group or others, or when
 * server.crt would not pass its own CA (expired, another CA).
 * Caller frees *ret_ctx with SSL_CTX_free (our per-context data goes with
 * the last reference).
 * Returns 0, or a negative errno with a sentence in err, such as
 * "cannot read /x/server.key: No such file or directory; create
 * certificates with `telepod certs create --out /x`".
 */
int tlsconf_server_ctx_new(
    const char *dir, SSL_CTX **ret_ctx, char *err, size_t errlen);

/*
 * Makes the client's context from DIR/ca.crt, DIR/client.crt and
 * DIR/client.key, like tlsconf_server_ctx_new(), verifying that the server's
 * certificate has serverAuth and carries server_name (NULL means
 * TLSCONF_DEFAULT_SERVER_NAME; an IP literal is matched against IP SANs). The
 * name is checked instead of the dialed address because the connection may
 * run through a port-forward on 127.0.0.1. DNS names are also sent as SNI.
 */
int tlsconf_client_ctx_new(const char *dir, const char *server_name,
    SSL_CTX **ret_ctx, char *err, size_t errlen);

/*
 * Wraps an accepted socket in a server-side TLS bufferevent on base, with
 * BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS; makes fd non-blocking and
 * sets TCP_NODELAY (ignored for non-TCP sockets). Takes ownership of fd.
 * ctx is borrowed (the SSL holds its own reference). The handshake starts
 * when base runs; the caller sets callbacks, enables EV_READ and should set
 * a read timeout so a silent peer cannot hold the connection open.
 * Its I/O goes through common/tlsout (read-ahead, same-turn batched
 * writes): its reader calls tlsout_pull from the read callback, and a
 * writer appends to tlsout_output (common/mux does both).
 * Returns NULL when out of memory (fd may then leak, never closed twice).
 */
struct bufferevent *tlsconf_bufferevent_accept(
    struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd);

/*
 * Same for a client: fd is a connected, or non-blocking connecting, TCP
 * socket (ownership taken). A peer closing without close_notify is reported
 * as an error by OpenSSL 3; the mux's go-away is what marks a clean end.
 */
struct bufferevent *tlsconf_bufferevent_connect(
    struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd);

/*
 * Explains why bev's TLS connection failed, as one sentence in buf (size
 * TLSCONF_ERROR_MAX is plenty; always terminated), and returns buf. Call it
 * from the event callback on BEV_EVENT_ERROR (or EOF). Consumes bev's recorded
 * OpenSSL errors and drains this thread's error queue (both logged at debug
 * level under "tls"). Works on both ends, e.g.:
 *   "certificate verify failed: the client's certificate (CN
 *   telepod-client, issued by telepod-ca-1a2b3c4d) is not signed by the CA in
 *   /x/ca.crt (telepod-ca-99aabbcc) (certificate mismatch: were the
 *   certificates made by the same `telepod certs create`?)"
 *   "certificate verify failed: the client's certificate (CN telepod-client)
 *   expired on 2025-01-31 12:00:00 UTC; create new certificates ..."
 *   "the server refused our certificate: it has expired, or ..."
 *   "the client sent no certificate; ..."
 *   "the client is not speaking TLS (plain TCP? it sent an HTTP request);
 *   check that it is a telepod client (telepodd) and that the address and
 *   port are right"
 *   "TLS version mismatch: the client does not speak TLS 1.3, ..."
 */
const char *tlsconf_describe_error(
    struct bufferevent *bev, char *buf, size_t len);

/*
 * Writes the verified peer certificate's common name to buf (non-printable
 * bytes replaced by '?', truncated to fit). Returns 0, -ENOTCONN when bev
 * has no peer certificate (yet), -ENOENT when it has no CN, -EINVAL for a
 * non-TLS bufferevent or a zero-length buffer.
 */
int tlsconf_peer_subject(struct bufferevent *bev, char *buf, size_t len);

#endif
