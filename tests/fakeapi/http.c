/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: a small HTTP/1.1 server over OpenSSL bufferevents for the fake API
 * server. A connection reads one request (line, headers, body with
 * Content-Length or chunked coding), hands it to the handler and stops
 * reading requests until it is answered. Answers are a whole response, a
 * chunked stream (watch), or a takeover of the bufferevent after a 101
 * (WebSocket port-forward). A client that goes away while a request is
 * pending or streaming triggers the request's abort callback.
 */
#include "tests/fakeapi/http.h"

#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/x509.h>

#include "common/addr.h"
#include "common/log.h"

#define HTTP_IDLE_SECONDS   120
#define HTTP_STREAM_MAX_OUT (1024 * 1024)

enum http_conn_state {
	HTTP_CONN_READ_HEAD,  /* request line and headers */
	HTTP_CONN_READ_BODY,  /* Content-Length body */
	HTTP_CONN_READ_CHUNK, /* chunked body: size line, data, trailer */
	HTTP_CONN_HANDLING,   /* handler owns the request */
	HTTP_CONN_STREAMING,  /* chunked response in progress */
	HTTP_CONN_CLOSING,    /* flush, then free */
};

struct http_conn {
	struct http_server *srv;
	struct bufferevent *bev;
	struct http_conn *next;
	enum http_conn_state state;
	struct http_request *req;
	size_t head_bytes;
	size_t want;     /* body bytes still to read (Content-Length/chunk) */
	int chunk_phase; /* 0 size line, 1 data, 2 CRLF after data, 3 trailer */
	bool keep_alive;
	bool has_request_line;
	http_abort_fn abort_fn;
	void *abort_arg;
};

struct http_server {
	struct event_base *base;
	SSL_CTX *ctx;
	struct evconnlistener *listener;
	http_handler_fn handler;
	void *arg;
	struct http_conn *conns;
};

static void http_conn_read_cb(struct bufferevent *bev, void *arg);
static void http_conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void http_conn_write_cb(struct bufferevent *bev, void *arg);

const char *
http_reason(int code)
{
	switch (code) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

static void
http_request_free(struct http_request *req)
{
	if (req == NULL)
		return;
	free(req->method);
	free(req->target);
	free(req->path);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	for (size_t i = 0; i < req->n_params; i++) {
		free(req->params[i].key);
		free(req->params[i].value);
	}
	free(req->body);
	free(req);
}

static void
http_conn_free(struct http_conn *c)
{
	struct http_conn **pp;

	if (c == NULL)
		return;
	for (pp = &c->srv->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->req != NULL && c->abort_fn != NULL &&
	    (c->state == HTTP_CONN_HANDLING ||
	        c->state == HTTP_CONN_STREAMING)) {
		http_abort_fn fn = c->abort_fn;

		c->abort_fn = NULL;
		fn(c->req, c->abort_arg);
	}
	http_request_free(c->req);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

/* Decodes %XX (and '+' as space when form is set) from s[0..len) into a
 * new string. Returns NULL on bad escapes or out of memory. */
static char *
http_unescape(const char *s, size_t len, bool form)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			char hex[3];

			if (i + 2 >= len ||
			    !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2])) {
				free(out);
				return NULL;
			}
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else if (form && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Splits the request target into the decoded path and query parameters. */
static int
http_parse_target(struct http_request *req)
{
	const char *t = req->target;
	const char *q = strchr(t, '?');
	size_t plen = q != NULL ? (size_t)(q - t) : strlen(t);

	if (t[0] != '/')
		return -EINVAL;
	req->path = http_unescape(t, plen, false);
	if (req->path == NULL)
		return -EINVAL;
	if (q == NULL)
		return 0;
	q++;
	while (*q != '\0') {
		const char *amp = strchr(q, '&');
		size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		struct http_param *p;

		if (len > 0) {
			if (req->n_params == HTTP_MAX_PARAMS)
				return -E2BIG;
			p = &req->params[req->n_params];
			if (eq != NULL) {
				p->key =
				    http_unescape(q, (size_t)(eq - q), true);
				p->value = http_unescape(
				    eq + 1, len - (size_t)(eq - q) - 1, true);
			} else {
				p->key = http_unescape(q, len, true);
				p->value = strdup("");
			}
			if (p->key == NULL || p->value == NULL) {
				free(p->key);
				free(p->value);
				p->key = p->value = NULL;
				return -EINVAL;
			}
			req->n_params++;
		}
		if (amp == NULL)
			break;
		q = amp + 1;
	}
	return 0;
}

/* Answers a protocol error before any handler saw the request, then closes
 * the connection. */
static void
http_conn_fail(struct http_conn *c, int code, const char *msg)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	log_debug(LOG_CAT_KUBE, "http: %d %s", code, msg);
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    code, http_reason(code), strlen(msg), msg);
	c->state = HTTP_CONN_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(
	    c->bev, NULL, http_conn_write_cb, http_conn_event_cb, c);
}

static void
http_conn_dispatch(struct http_conn *c)
{
	struct http_request *req = c->req;
	const char *conn_hdr = http_header(req, "Connection");

	c->keep_alive =
	    !(conn_hdr != NULL && strcasecmp(conn_hdr, "close") == 0);
	if (req->body == NULL) {
		req->body = calloc(1, 1);
		if (req->body == NULL) {
			http_conn_fail(c, 500, "out of memory");
			return;
		}
	} else {
		req->body[req->body_len] = '\0';
	}
	c->state = HTTP_CONN_HANDLING;
	/* Keep EV_READ on so an early close is noticed; the read callback
	 * leaves the bytes of a next request alone until we are done. */
	c->srv->handler(req, c->srv->arg);
}

static int
http_body_grow(struct http_request *req, size_t more)
{
	char *nb;

	if (more > HTTP_MAX_BODY || req->body_len + more > HTTP_MAX_BODY)
		return -EMSGSIZE;
	nb = realloc(req->body, req->body_len + more + 1);
	if (nb == NULL)
		return -ENOMEM;
	req->body = nb;
	return 0;
}

/* Reads header lines. Returns 1 when the head is complete, 0 for more,
 * < 0 after answering an error. */
static int
http_read_head(struct http_conn *c, struct evbuffer *in)
{
	struct http_request *req = c->req;

	for (;;) {
		size_t n = 0;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);

		if (line == NULL) {
			if (evbuffer_get_length(in) > HTTP_MAX_LINE) {
				http_conn_fail(c, 431, "header line too long");
				return -EMSGSIZE;
			}
			return 0;
		}
		c->head_bytes += n + 2;
		if (n > HTTP_MAX_LINE || c->head_bytes > HTTP_MAX_HEAD) {
			free(line);
			http_conn_fail(c, 431, "request header too large");
			return -EMSGSIZE;
		}
		if (!c->has_request_line) {
			char *sp1, *sp2;

			if (n == 0) { /* tolerate CRLF between requests */
				free(line);
				continue;
			}
			sp1 = strchr(line, ' ');
			sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
			if (sp1 == NULL || sp2 == NULL ||
			    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
				free(line);
				http_conn_fail(
				    c, 400, "malformed request line");
				return -EPROTO;
			}
			*sp1 = *sp2 = '\0';
			req->method = strdup(line);
			req->target = strdup(sp1 + 1);
			free(line);
			if (req->method == NULL || req->target == NULL) {
				http_conn_fail(c, 500, "out of memory");
				return -ENOMEM;
			}
			if (http_parse_target(req) < 0) {
				http_conn_fail(
				    c, 400, "malformed request target");
				return -EPROTO;
			}
			c->has_request_line = true;
			continue;
		}
		if (n == 0) {
			free(line);
			return 1;
		}
		{
			char *colon = strchr(line, ':');
			char *v;
			struct http_header *h;

			if (colon == NULL || colon == line) {
				free(line);
				http_conn_fail(c, 400, "malformed header line");
				return -EPROTO;
			}
			if (req->n_headers == HTTP_MAX_HEADERS) {
				free(line);
				http_conn_fail(c, 431, "too many header lines");
				return -EMSGSIZE;
			}
			*colon = '\0';
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			for (char *e = v + strlen(v);
			     e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
				e[-1] = '\0';
			h = &req->headers[req->n_headers];
			h->name = strdup(line);
			h->value = strdup(v);
			free(line);
			if (h->name == NULL || h->value == NULL) {
				free(h->name);
				free(h->value);
				h->name = h->value = NULL;
				http_conn_fail(c, 500, "out of memory");
				return -ENOMEM;
			}
			req->n_headers++;
		}
	}
}

/* Reads the body; returns 1 when complete, 0 for more, < 0 after an error
 * answer. */
static int
http_read_body(struct http_conn *c, struct evbuffer *in)
{
	struct http_request *req = c->req;

	for (;;) {
		if (c->state == HTTP_CONN_READ_BODY) {
			size_t avail = evbuffer_get_length(in);
			size_t take = avail < c->want ? avail : c->want;

			if (take > 0) {
				evbuffer_remove(
				    in, req->body + req->body_len, take);
				req->body_len += take;
				c->want -= take;
			}
			return c->want == 0 ? 1 : 0;
		}
		/* chunked */
		if (c->chunk_phase == 0 || c->chunk_phase == 2 ||
		    c->chunk_phase == 3) {
			size_t n = 0;
			char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			unsigned long long sz;
			char *end;

			if (line == NULL) {
				if (evbuffer_get_length(in) > HTTP_MAX_LINE) {
					http_conn_fail(
					    c, 400, "chunk line too long");
					return -EMSGSIZE;
				}
				return 0;
			}
			if (c->chunk_phase == 2) {
				free(line);
				if (n != 0) {
					http_conn_fail(
					    c, 400, "malformed chunk");
					return -EPROTO;
				}
				c->chunk_phase = 0;
				continue;
			}
			if (c->chunk_phase == 3) {
				free(line);
				if (n == 0)
					return 1;
				continue; /* trailer field: ignored */
			}
			errno = 0;
			sz = strtoull(line, &end, 16);
			if (end == line || errno != 0 ||
			    (*end != '\0' && *end != ';')) {
				free(line);
				http_conn_fail(c, 400, "malformed chunk size");
				return -EPROTO;
			}
			free(line);
			if (sz > HTTP_MAX_BODY ||
			    http_body_grow(req, (size_t)sz) < 0) {
				http_conn_fail(
				    c, 413, "request body too large");
				return -EMSGSIZE;
			}
			if (sz == 0) {
				c->chunk_phase = 3;
				continue;
			}
			c->want = (size_t)sz;
			c->chunk_phase = 1;
			continue;
		}
		{
			size_t avail = evbuffer_get_length(in);
			size_t take = avail < c->want ? avail : c->want;

			if (take == 0)
				return 0;
			evbuffer_remove(in, req->body + req->body_len, take);
			req->body_len += take;
			c->want -= take;
			if (c->want == 0)
				c->chunk_phase = 2;
		}
	}
}

static void
http_conn_process(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int r;

	for (;;) {
		switch (c->state) {
		case HTTP_CONN_READ_HEAD:
			if (c->req == NULL) {
				if (evbuffer_get_length(in) == 0)
					return;
				c->req = calloc(1, sizeof(*c->req));
				if (c->req == NULL) {
					http_conn_fail(c, 500, "out of memory");
					return;
				}
				c->req->conn = c;
				c->head_bytes = 0;
				c->has_request_line = false;
			}
			r = http_read_head(c, in);
			if (r <= 0)
				return;
			{
				const char *te =
				    http_header(c->req, "Transfer-Encoding");
				const char *cl =
				    http_header(c->req, "Content-Length");

				if (te != NULL &&
				    strcasecmp(te, "chunked") == 0) {
					c->state = HTTP_CONN_READ_CHUNK;
					c->chunk_phase = 0;
					c->want = 0;
				} else if (te != NULL) {
					http_conn_fail(c, 501,
					    "unsupported transfer coding");
					return;
				} else if (cl != NULL) {
					char *end;
					unsigned long long v;

					errno = 0;
					v = strtoull(cl, &end, 10);
					if (end == cl || *end != '\0' ||
					    errno != 0) {
						http_conn_fail(c, 400,
						    "malformed Content-Length");
						return;
					}
					if (v > HTTP_MAX_BODY ||
					    http_body_grow(c->req, (size_t)v) <
					        0) {
						http_conn_fail(c, 413,
						    "request body too large");
						return;
					}
					c->want = (size_t)v;
					c->state = HTTP_CONN_READ_BODY;
				} else {
					http_conn_dispatch(c);
					return;
				}
			}
			break;
		case HTTP_CONN_READ_BODY:
		case HTTP_CONN_READ_CHUNK:
			r = http_read_body(c, in);
			if (r <= 0)
				return;
			http_conn_dispatch(c);
			return;
		case HTTP_CONN_HANDLING:
		case HTTP_CONN_STREAMING:
		case HTTP_CONN_CLOSING:
			return;
		}
	}
}

static void
http_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == HTTP_CONN_STREAMING) {
		/* A watch client has nothing more to say; drop what it sends
		 * rather than buffering it forever. */
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	http_conn_process(c);
}

static void
http_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == HTTP_CONN_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		http_conn_free(c);
}

static void
http_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (what & BEV_EVENT_ERROR) {
			unsigned long e;

			while ((e = bufferevent_get_openssl_error(bev)) != 0)
				log_debug(
				    LOG_CAT_KUBE, "http: TLS error %lu", e);
		}
		http_conn_free(c);
	}
}

static void
http_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct http_server *srv = arg;
	struct http_conn *c;
	SSL *ssl;
	int one = 1;
	struct timeval idle = {HTTP_IDLE_SECONDS, 0};

	(void)l;
	(void)sa;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	ssl = SSL_new(srv->ctx);
	if (c == NULL || ssl == NULL) {
		free(c);
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	c->srv = srv;
	c->state = HTTP_CONN_READ_HEAD;
	c->next = srv->conns;
	srv->conns = c;
	bufferevent_setcb(c->bev, http_conn_read_cb, http_conn_write_cb,
	    http_conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
http_server_new(struct event_base *base, SSL_CTX *ctx, const char *addr,
    http_handler_fn handler, void *arg, struct http_server **ret_server,
    int *ret_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen, blen = sizeof(ss);
	struct http_server *srv;

	if (addr_parse(addr, &ss, &sslen) < 0) {
		snprintf(err, errlen,
		    "cannot parse listen address '%s': give HOST:PORT, such as 127.0.0.1:0",
		    addr);
		return -EINVAL;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->base = base;
	srv->ctx = ctx;
	srv->handler = handler;
	srv->arg = arg;
	srv->listener = evconnlistener_new_bind(base, http_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, (int)sslen);
	if (srv->listener == NULL) {
		int e = errno;

		snprintf(
		    err, errlen, "cannot listen on %s: %s", addr, strerror(e));
		free(srv);
		return e != 0 ? -e : -EADDRNOTAVAIL;
	}
	if (getsockname(evconnlistener_get_fd(srv->listener),
	        (struct sockaddr *)&ss, &blen) == 0) {
		if (ss.ss_family == AF_INET)
			*ret_port =
			    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else
			*ret_port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	*ret_server = srv;
	return 0;
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	while (srv->conns != NULL)
		http_conn_free(srv->conns);
	evconnlistener_free(srv->listener);
	free(srv);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const char *
http_param(const struct http_request *req, const char *key)
{
	for (size_t i = 0; i < req->n_params; i++)
		if (strcmp(req->params[i].key, key) == 0)
			return req->params[i].value;
	return NULL;
}

bool
http_peer_cn(const struct http_request *req, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(req->conn->bev);
	X509 *peer;
	int n;

	if (len == 0)
		return false;
	buf[0] = '\0';
	if (ssl == NULL)
		return false;
	peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	n = X509_NAME_get_text_by_NID(
	    X509_get_subject_name(peer), NID_commonName, buf, (int)len);
	if (n < 0) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

void
http_request_set_abort(struct http_request *req, http_abort_fn fn, void *arg)
{
	req->conn->abort_fn = fn;
	req->conn->abort_arg = arg;
}

/* The request is answered: free it and go on with the next, or close. */
static void
http_conn_next(struct http_conn *c)
{
	http_request_free(c->req);
	c->req = NULL;
	c->abort_fn = NULL;
	c->abort_arg = NULL;
	if (!c->keep_alive) {
		c->state = HTTP_CONN_CLOSING;
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			http_conn_free(c);
		return;
	}
	c->state = HTTP_CONN_READ_HEAD;
	http_conn_process(c);
}

static void
http_write_head(struct http_conn *c, int code, const char *ctype,
    const char *extra, const char *framing)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nDate: %s\r\nCache-Control: no-cache, private\r\n",
	    code, http_reason(code), date);
	if (ctype != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (extra != NULL)
		evbuffer_add(out, extra, strlen(extra));
	if (!c->keep_alive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	evbuffer_add_printf(out, "%s\r\n", framing);
}

void
http_respond(struct http_request *req, int code, const char *ctype,
    const char *body, size_t len, const char *extra)
{
	struct http_conn *c = req->conn;
	char framing[64];

	snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", len);
	http_write_head(c, code, ctype, extra, framing);
	if (len > 0 && strcmp(req->method, "HEAD") != 0)
		evbuffer_add(bufferevent_get_output(c->bev), body, len);
	http_conn_next(c);
}

void
http_stream_start(
    struct http_request *req, int code, const char *ctype, const char *extra)
{
	struct http_conn *c = req->conn;

	http_write_head(
	    c, code, ctype, extra, "Transfer-Encoding: chunked\r\n");
	c->state = HTTP_CONN_STREAMING;
	/* A watch may be quiet for long: no idle timeout on streams. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
}

int
http_stream_write(struct http_request *req, const void *data, size_t len)
{
	struct http_conn *c = req->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (len == 0)
		return 0;
	if (evbuffer_get_length(out) > HTTP_STREAM_MAX_OUT)
		return -ENOBUFS;
	evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	evbuffer_add(out, "\r\n", 2);
	return 0;
}

void
http_stream_end(struct http_request *req)
{
	struct http_conn *c = req->conn;
	struct timeval idle = {HTTP_IDLE_SECONDS, 0};

	evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	http_conn_next(c);
}

struct bufferevent *
http_takeover(struct http_request *req, const char *head)
{
	struct http_conn *c = req->conn;
	struct bufferevent *bev = c->bev;

	evbuffer_add(bufferevent_get_output(bev), head, strlen(head));
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_disable(bev, EV_READ);
	c->bev = NULL;
	c->abort_fn = NULL;
	c->state = HTTP_CONN_CLOSING;
	http_conn_free(c);
	return bev;
}
