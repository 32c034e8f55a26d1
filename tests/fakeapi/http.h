/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: the fake API server's HTTP/1.1 over TLS, on libevent bufferevents.
 * Our own small server rather than evhttp, because the fake needs three
 * things evhttp does poorly over OpenSSL bufferevents: long chunked watch
 * streams whose end we notice when the client goes away, taking a
 * connection over after a WebSocket upgrade (port-forward), and the peer's
 * verified client certificate per request.
 *
 * One request at a time per connection (keep-alive, no pipelining of
 * responses: the next request is parsed only after the previous response
 * was queued). Bodies may come with Content-Length or chunked encoding.
 * Every size read off the wire is checked against the maxima below first.
 */
#ifndef TELEPOD_FAKEAPI_HTTP_H
#define TELEPOD_FAKEAPI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#define HTTP_MAX_LINE    (16 * 1024) /* request line or one header line */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_HEAD    (64 * 1024) /* all header lines together */
#define HTTP_MAX_PARAMS  64          /* query parameters */
/* The real API server's default request body limit (3 MiB). */
#define HTTP_MAX_BODY (3 * 1024 * 1024)

struct http_server;
struct http_request;

struct http_header {
	char *name;
	char *value;
};

struct http_param {
	char *key; /* percent-decoded */
	char *value;
};

struct http_request {
	struct http_conn *conn; /* private */
	char *method;
	char *target; /* as sent: path and query */
	char *path;   /* percent-decoded path, without the query */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	struct http_param params[HTTP_MAX_PARAMS];
	size_t n_params;
	char *body; /* NUL-terminated for convenience; may hold NULs */
	size_t body_len;
};

/* Called once per complete request. The handler must answer it exactly once,
 * now or later, with http_respond(), http_stream_start() or
 * http_takeover(); until then the request stays valid (unless the client
 * goes away: see http_request_set_abort()). */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);
/* Called when the connection of a request not yet answered, or of a stream,
 * goes away; the request is freed right after it returns. */
typedef void (*http_abort_fn)(struct http_request *req, void *arg);

/*
 * Listens on addr ("HOST:PORT", port 0 picks one) with TLS from ctx
 * (borrowed; the SSL objects hold their own references). Calls handler for
 * each request. *ret_port receives the bound port. Caller frees with
 * http_server_free(). Returns 0 or a negative errno with a sentence in err.
 */
int http_server_new(struct event_base *base, SSL_CTX *ctx, const char *addr,
    http_handler_fn handler, void *arg, struct http_server **ret_server,
    int *ret_port, char *err, size_t errlen);
/* Closes the listener and every connection (aborting their requests). */
void http_server_free(struct http_server *srv);

/* The first header named name (case-insensitive), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* The first query parameter key, or NULL. */
const char *http_param(const struct http_request *req, const char *key);
/* Whether the client presented a certificate the handshake verified; its
 * common name goes to buf (truncated, always terminated). */
bool http_peer_cn(const struct http_request *req, char *buf, size_t len);

void http_request_set_abort(
    struct http_request *req, http_abort_fn fn, void *arg);

/*
 * Answers req with a complete response: status code, Content-Type (NULL:
 * none), body (may be NULL when len is 0) and extra header lines
 * ("Name: value\r\n"..., or NULL). req is freed.
 */
void http_respond(struct http_request *req, int code, const char *ctype,
    const char *body, size_t len, const char *extra);

/* Starts a chunked response (headers flushed at once). The request stays
 * valid until http_stream_end() or the abort callback. */
void http_stream_start(
    struct http_request *req, int code, const char *ctype, const char *extra);
/* Queues one chunk. Returns 0 or -ENOBUFS when the client is not reading
 * (more than a megabyte queued: the caller should end the stream). */
int http_stream_write(struct http_request *req, const void *data, size_t len);
/* Ends the chunked body; the connection goes on with the next request. */
void http_stream_end(struct http_request *req);

/*
 * Writes head (a complete response head, such as a 101 Switching
 * Protocols, ending with an empty line) and hands the connection's
 * bufferevent to the caller, who then owns it (callbacks cleared, reading
 * disabled; bytes already received after the request stay in its input).
 * req is freed.
 */
struct bufferevent *http_takeover(struct http_request *req, const char *head);

/* The reason phrase of a status code ("Not Found"). */
const char *http_reason(int code);

#endif
