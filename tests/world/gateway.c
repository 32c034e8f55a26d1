/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway: the demo service of the simulated cluster (tests/world). A small
 * HTTP/1.1 server (libevent evhttp, keep-alive) that stores JSON products in
 * Redis, the way the "gateway" of the example does:
 *
 *   POST /products        validate the JSON body, SET product:ID, 201 + object
 *   GET  /products/ID     200 + the stored JSON, or 404 {"error": ...}
 *   GET  /healthz         200 {"status":"ok"}
 *   GET  /bytes?n=N       N bytes (N <= 2 GiB) where byte i is (i % 251), for
 *                         large-transfer tests; sent with Content-Length
 *
 * Redis is reached by NAME (--redis redis-master:6379 by default) through the
 * pod's resolver: libevent's evdns reads /etc/resolv.conf (under
 * `ip netns exec` that is /etc/netns/NS/resolv.conf, search list and ndots
 * included), so a name resolves the way it would inside a pod. One async
 * RESP connection is shared by all requests; commands are pipelined and
 * replies matched first in, first out. When it fails, every waiting request
 * gets 503 and the next request dials again, resolving the name anew.
 * Nothing blocks the loop.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/log.h"

#define GW_MAX_BODY      (64 * 1024) /* POST body */
#define GW_MAX_HEADERS   (16 * 1024)
#define GW_MAX_ID        128                 /* product id, [A-Za-z0-9_.-] */
#define GW_MAX_LINE      1024                /* RESP status/error/length line */
#define GW_MAX_BULK      (1024 * 1024)       /* RESP bulk reply */
#define GW_MAX_PENDING   1024                /* Redis commands in flight */
#define GW_MAX_COUNT     1000000000.0        /* integer fields of a product */
#define GW_BYTES_MAX     (UINT64_C(2) << 30) /* GET /bytes cap: 2 GiB */
#define GW_BYTES_PERIOD  251 /* prime, so shifted chunks are detected */
#define GW_CHUNK         (256 * 1024)
#define GW_REDIS_TIMEOUT 5 /* seconds without a reply while one is due */
#define GW_HTTP_TIMEOUT  60

enum gw_op {
	GW_OP_SET,
	GW_OP_GET,
};

/* One HTTP request waiting for its Redis reply. */
struct gw_pending {
	struct gw_pending *next;
	struct evhttp_request
	    *req; /* answered (and so released) exactly once */
	enum gw_op op;
	char *json; /* GW_OP_SET: the stored object, echoed with 201; owned */
};

/* One GET /bytes transfer in progress. */
struct gw_stream {
	struct gw_stream *prev, *next;
	struct gw *gw;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	uint64_t off, len;
};

/* A decoded RESP reply. */
struct gw_reply {
	char type;  /* '+', '-', ':', '$' */
	bool null;  /* "$-1" */
	char *data; /* NUL-terminated text or bulk; owned */
	size_t len;
};

struct gw {
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp *http;
	const char *redis_host;
	uint16_t redis_port;
	struct bufferevent *redis; /* NULL until the first command */
	struct gw_pending *head, **tail;
	size_t npending;
	struct gw_stream *streams;
	uint8_t *pattern; /* GW_BYTES_PERIOD + GW_CHUNK bytes of the pattern */
};

static void gw_redis_event_cb(struct bufferevent *bev, short what, void *arg);
static void gw_redis_read_cb(struct bufferevent *bev, void *arg);

static void
gw_reply_json(
    struct evhttp_request *req, int code, const char *reason, const char *json)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(body, json, strlen(json));
	evbuffer_add(body, "\n", 1);
	evhttp_send_reply(req, code, reason, body);
	evbuffer_free(body);
}

/* Answers {"error": msg}; msg is escaped by cJSON. */
static void
gw_reply_error(
    struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o != NULL && cJSON_AddStringToObject(o, "error", msg) != NULL) {
		s = cJSON_PrintUnformatted(o);
	}
	if (s == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		gw_reply_json(req, code, reason, s);
	}
	cJSON_free(s);
	cJSON_Delete(o);
}

/* Parses "HOST:PORT" (HOST may be empty: ret_host gets ""); host is a copy. */
static int
gw_parse_hostport(const char *s, char **ret_host, uint16_t *ret_port)
{
	const char *colon = strrchr(s, ':');
	char *end, *host;
	unsigned long port;

	if (colon == NULL || colon[1] == '\0') {
		return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
		return -EINVAL;
	}
	host = strndup(s, (size_t)(colon - s));
	if (host == NULL) {
		return -ENOMEM;
	}
	*ret_host = host;
	*ret_port = (uint16_t)port;
	return 0;
}

static bool
gw_valid_id(const char *id, size_t len)
{
	if (len == 0 || len > GW_MAX_ID) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		        c == '.')) {
			return false;
		}
	}
	return true;
}

/*
 * Checks a product object. Writes a message into err (cap bytes) and returns
 * -EINVAL when it is not acceptable.
 */
static int
gw_validate_product(const cJSON *o, char *err, size_t cap)
{
	static const char *const known[] = {
	    "id", "title", "passenger_capacity", "maximum_speed", "in_stock"};
	unsigned seen = 0;
	const cJSON *f;

	if (!cJSON_IsObject(o)) {
		snprintf(err, cap, "body must be a JSON object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(f, o)
	{
		const char *k = f->string;
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(*known); i++) {
			if (strcmp(k, known[i]) == 0) {
				break;
			}
		}
		if (i < sizeof(known) / sizeof(*known) && (seen & (1u << i))) {
			snprintf(err, cap, "%s appears twice", known[i]);
			return -EINVAL;
		}
		seen |= 1u << i;
		if (strcmp(k, "id") == 0) {
			if (!cJSON_IsString(f) || !gw_valid_id(f->valuestring,
			                              strlen(f->valuestring))) {
				snprintf(err, cap,
				    "id must be a string of 1 to %d characters from [A-Za-z0-9_.-]",
				    GW_MAX_ID);
				return -EINVAL;
			}
		} else if (strcmp(k, "title") == 0) {
			if (!cJSON_IsString(f) ||
			    strlen(f->valuestring) > 1024) {
				snprintf(err, cap,
				    "title must be a string of at most 1024 bytes");
				return -EINVAL;
			}
		} else if (strcmp(k, "passenger_capacity") == 0 ||
		           strcmp(k, "in_stock") == 0) {
			double v = cJSON_GetNumberValue(f);

			if (!cJSON_IsNumber(f) || v < 0 || v > GW_MAX_COUNT ||
			    v != floor(v)) {
				snprintf(err, cap,
				    "%s must be an integer from 0 to 1000000000",
				    k);
				return -EINVAL;
			}
		} else if (strcmp(k, "maximum_speed") == 0) {
			double v = cJSON_GetNumberValue(f);

			if (!cJSON_IsNumber(f) || !isfinite(v) || v < 0) {
				snprintf(err, cap,
				    "maximum_speed must be a non-negative number");
				return -EINVAL;
			}
		} else {
			snprintf(err, cap,
			    "unknown field \"%.64s\" (known: id, title, passenger_capacity, maximum_speed, in_stock)",
			    k);
			return -EINVAL;
		}
	}
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "id"))) {
		snprintf(err, cap, "id is required");
		return -EINVAL;
	}
	return 0;
}

/* Appends one RESP bulk string. */
static int
gw_resp_bulk(struct evbuffer *out, const char *s, size_t n)
{
	if (evbuffer_add_printf(out, "$%zu\r\n", n) < 0 ||
	    evbuffer_add(out, s, n) < 0 || evbuffer_add(out, "\r\n", 2) < 0) {
		return -ENOMEM;
	}
	return 0;
}

/*
 * Removes one whole RESP reply from in. Returns 1 and fills ret_reply (caller
 * frees ret_reply->data), 0 when more bytes are needed, -EMSGSIZE past a
 * limit, -EPROTO for anything but a simple string, error, integer or bulk.
 */
static int
gw_resp_take(struct evbuffer *in, struct gw_reply *ret_reply)
{
	struct evbuffer_ptr eol;
	size_t eol_len = 0, avail = evbuffer_get_length(in);
	char line[GW_MAX_LINE + 1];
	struct gw_reply r = {0};
	size_t llen;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
	if (eol.pos < 0) {
		return avail > GW_MAX_LINE ? -EMSGSIZE : 0;
	}
	llen = (size_t)eol.pos;
	if (llen > GW_MAX_LINE || llen < 1) {
		return llen < 1 ? -EPROTO : -EMSGSIZE;
	}
	evbuffer_copyout(in, line, llen);
	line[llen] = '\0';
	r.type = line[0];
	switch (r.type) {
	case '+':
	case '-':
	case ':':
		r.data = strdup(line + 1);
		if (r.data == NULL) {
			return -ENOMEM;
		}
		r.len = llen - 1;
		evbuffer_drain(in, llen + 2);
		break;
	case '$': {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(line + 1, &end, 10);
		if (errno != 0 || end == line + 1 || *end != '\0' || n < -1) {
			return -EPROTO;
		}
		if (n > GW_MAX_BULK) {
			return -EMSGSIZE;
		}
		if (n == -1) {
			r.null = true;
			evbuffer_drain(in, llen + 2);
			break;
		}
		if (avail < llen + 2 + (size_t)n + 2) {
			return 0;
		}
		r.data = malloc((size_t)n + 1);
		if (r.data == NULL) {
			return -ENOMEM;
		}
		evbuffer_drain(in, llen + 2);
		evbuffer_remove(in, r.data, (size_t)n);
		r.data[n] = '\0';
		r.len = (size_t)n;
		evbuffer_copyout(in, line, 2);
		evbuffer_drain(in, 2);
		if (line[0] != '\r' || line[1] != '\n') {
			free(r.data);
			return -EPROTO;
		}
		break;
	}
	default:
		return -EPROTO;
	}
	*ret_reply = r;
	return 1;
}

static void
gw_pending_free(struct gw_pending *p)
{
	if (p == NULL) {
		return;
	}
	cJSON_free(p->json);
	free(p);
}

/* Arms the reply timeout only while a reply is due. */
static void
gw_redis_arm(struct gw *gw)
{
	struct timeval tv = {GW_REDIS_TIMEOUT, 0};

	if (gw->redis == NULL) {
		return;
	}
	if (gw->npending > 0) {
		bufferevent_set_timeouts(gw->redis, &tv, &tv);
	} else {
		bufferevent_set_timeouts(gw->redis, NULL, NULL);
	}
}

/* Drops the Redis connection and answers every waiting request with 503. */
static void
gw_redis_reset(struct gw *gw, const char *why)
{
	struct gw_pending *p = gw->head;
	char msg[256];

	if (gw->redis != NULL) {
		bufferevent_free(gw->redis);
		gw->redis = NULL;
	}
	snprintf(msg, sizeof(msg), "redis %s:%u unavailable: %s",
	    gw->redis_host, gw->redis_port, why);
	if (p != NULL) {
		log_warn("%s (%zu requests failed)", msg, gw->npending);
	}
	gw->head = NULL;
	gw->tail = &gw->head;
	gw->npending = 0;
	while (p != NULL) {
		struct gw_pending *next = p->next;

		gw_reply_error(p->req, 503, "Service Unavailable", msg);
		gw_pending_free(p);
		p = next;
	}
}

static void
gw_redis_answer(struct gw *gw, struct gw_pending *p, const struct gw_reply *r)
{
	char msg[GW_MAX_LINE + 64];

	if (r->type == '-') {
		snprintf(msg, sizeof(msg), "redis: %s", r->data);
		gw_reply_error(p->req, 502, "Bad Gateway", msg);
		return;
	}
	switch (p->op) {
	case GW_OP_SET:
		if (r->type == '+' && strcmp(r->data, "OK") == 0) {
			gw_reply_json(p->req, 201, "Created", p->json);
		} else {
			gw_reply_error(p->req, 502, "Bad Gateway",
			    "redis: unexpected reply to SET");
		}
		break;
	case GW_OP_GET:
		if (r->type == '$' && r->null) {
			gw_reply_error(p->req, HTTP_NOTFOUND, "Not Found",
			    "product not found");
		} else if (r->type == '$') {
			gw_reply_json(p->req, HTTP_OK, "OK", r->data);
		} else {
			gw_reply_error(p->req, 502, "Bad Gateway",
			    "redis: unexpected reply to GET");
		}
		break;
	}
}

static void
gw_redis_read_cb(struct bufferevent *bev, void *arg)
{
	struct gw *gw = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct gw_reply r;
		struct gw_pending *p;
		int rc = gw_resp_take(in, &r);

		if (rc == 0) {
			break;
		}
		if (rc < 0) {
			gw_redis_reset(gw, rc == -EMSGSIZE ? "reply too large"
			                                   : "protocol error");
			return;
		}
		p = gw->head;
		if (p == NULL) {
			free(r.data);
			gw_redis_reset(gw, "reply nobody asked for");
			return;
		}
		gw->head = p->next;
		if (gw->head == NULL) {
			gw->tail = &gw->head;
		}
		gw->npending--;
		gw_redis_answer(gw, p, &r);
		gw_pending_free(p);
		free(r.data);
	}
	gw_redis_arm(gw);
}

static void
gw_redis_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw *gw = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		log_info(
		    "redis %s:%u connected", gw->redis_host, gw->redis_port);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(
		    why, sizeof(why), "no reply in %d s", GW_REDIS_TIMEOUT);
	} else if (bufferevent_socket_get_dns_error(bev) != 0) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s",
		    gw->redis_host,
		    evutil_gai_strerror(bufferevent_socket_get_dns_error(bev)));
	} else if (what & BEV_EVENT_EOF) {
		snprintf(why, sizeof(why), "connection closed");
	} else {
		snprintf(why, sizeof(why), "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
	if (gw->head == NULL) {
		log_info(
		    "redis %s:%u: %s", gw->redis_host, gw->redis_port, why);
	}
	gw_redis_reset(gw, why);
}

/* Dials Redis when there is no connection; the name is resolved each time. */
static int
gw_redis_connect(struct gw *gw)
{
	struct bufferevent *bev;

	if (gw->redis != NULL) {
		return 0;
	}
	bev = bufferevent_socket_new(gw->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		return -ENOMEM;
	}
	bufferevent_setcb(bev, gw_redis_read_cb, NULL, gw_redis_event_cb, gw);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	gw->redis = bev;
	/*
	 * A failure found at once (a numeric address that cannot be reached)
	 * runs the event callback from inside this call, which resets
	 * gw->redis; the caller checks it.
	 */
	if (bufferevent_socket_connect_hostname(
	        bev, gw->dns, AF_INET, gw->redis_host, gw->redis_port) < 0) {
		if (gw->redis == bev) {
			bufferevent_free(bev);
			gw->redis = NULL;
		}
		return -ECONNREFUSED;
	}
	return 0;
}

/*
 * Sends one command (argv of argc strings) for req. Takes ownership of json.
 * On failure answers req itself.
 */
static void
gw_redis_command(struct gw *gw, struct evhttp_request *req, enum gw_op op,
    char *json, int argc, const char *const *argv, const size_t *lens)
{
	struct gw_pending *p = NULL;
	struct evbuffer *out;
	int rc;

	if (gw->npending >= GW_MAX_PENDING) {
		gw_reply_error(req, 503, "Service Unavailable",
		    "too many requests waiting for redis");
		cJSON_free(json);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		gw_reply_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "out of memory");
		cJSON_free(json);
		return;
	}
	p->req = req;
	p->op = op;
	p->json = json;
	rc = gw_redis_connect(gw);
	if (rc < 0 || gw->redis == NULL) {
		/* The failure already answered older requests; answer this. */
		gw_reply_error(
		    req, 503, "Service Unavailable", "cannot connect to redis");
		gw_pending_free(p);
		return;
	}
	out = bufferevent_get_output(gw->redis);
	evbuffer_add_printf(out, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		gw_resp_bulk(out, argv[i], lens[i]);
	}
	*gw->tail = p;
	gw->tail = &p->next;
	gw->npending++;
	gw_redis_arm(gw);
}

static void
gw_products_post(struct gw *gw, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	cJSON *o = NULL;
	char *json = NULL, key[sizeof("product:") + GW_MAX_ID];
	char err[256];
	const char *id;

	if (len > GW_MAX_BODY) {
		gw_reply_error(
		    req, 413, "Payload Too Large", "body larger than 64 KiB");
		goto out;
	}
	o = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
	if (o == NULL) {
		gw_reply_error(req, HTTP_BADREQUEST, "Bad Request",
		    "body is not valid JSON");
		goto out;
	}
	if (gw_validate_product(o, err, sizeof(err)) < 0) {
		gw_reply_error(req, HTTP_BADREQUEST, "Bad Request", err);
		goto out;
	}
	id = cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring;
	snprintf(key, sizeof(key), "product:%s", id);
	json = cJSON_PrintUnformatted(o);
	if (json == NULL) {
		gw_reply_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "out of memory");
		goto out;
	}
	{
		const char *argv[] = {"SET", key, json};
		const size_t lens[] = {3, strlen(key), strlen(json)};

		gw_redis_command(gw, req, GW_OP_SET, json, 3, argv, lens);
	}
out:
	cJSON_Delete(o);
}

static void
gw_products_get(struct gw *gw, struct evhttp_request *req, const char *id)
{
	char key[sizeof("product:") + GW_MAX_ID];

	if (!gw_valid_id(id, strlen(id))) {
		gw_reply_error(
		    req, HTTP_NOTFOUND, "Not Found", "product not found");
		return;
	}
	snprintf(key, sizeof(key), "product:%s", id);
	{
		const char *argv[] = {"GET", key};
		const size_t lens[] = {3, strlen(key)};

		gw_redis_command(gw, req, GW_OP_GET, NULL, 2, argv, lens);
	}
}

static void
gw_stream_free(struct gw_stream *s)
{
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else {
		s->gw->streams = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	free(s);
}

/*
 * The client went away mid-transfer: libevent has detached the request from
 * the connection, and ending the reply now releases it.
 */
static void
gw_stream_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct gw_stream *s = arg;

	log_info("GET /bytes: client closed after %" PRIu64 " of %" PRIu64
	         " bytes",
	    s->off, s->len);
	evhttp_send_reply_end(s->req);
	gw_stream_free(s);
}

static void
gw_stream_next(struct evhttp_connection *evcon, void *arg)
{
	struct gw_stream *s = arg;
	struct evbuffer *buf;
	size_t n;

	if (s->off == s->len) {
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		evhttp_send_reply_end(s->req);
		gw_stream_free(s);
		return;
	}
	n = s->len - s->off < GW_CHUNK ? (size_t)(s->len - s->off) : GW_CHUNK;
	buf = evbuffer_new();
	if (buf == NULL ||
	    evbuffer_add_reference(buf,
	        s->gw->pattern + s->off % GW_BYTES_PERIOD, n, NULL, NULL) < 0) {
		/* Cannot continue: close the connection, the length is short.
		 */
		evbuffer_free(buf);
		log_err("GET /bytes: out of memory at offset %" PRIu64, s->off);
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		evhttp_connection_free(s->evcon);
		gw_stream_free(s);
		return;
	}
	s->off += n;
	evhttp_send_reply_chunk_with_cb(s->req, buf, gw_stream_next, s);
	evbuffer_free(buf);
}

static void
gw_bytes(struct gw *gw, struct evhttp_request *req, const char *query)
{
	struct evkeyvalq q;
	const char *nstr;
	struct gw_stream *s;
	unsigned long long n;
	char *end, clen[32];

	TAILQ_INIT(&q);
	if (query == NULL || evhttp_parse_query_str(query, &q) < 0 ||
	    (nstr = evhttp_find_header(&q, "n")) == NULL) {
		gw_reply_error(req, HTTP_BADREQUEST, "Bad Request",
		    "usage: GET /bytes?n=COUNT");
		goto out;
	}
	errno = 0;
	n = strtoull(nstr, &end, 10);
	if (errno != 0 || end == nstr || *end != '\0' || nstr[0] == '-' ||
	    n > GW_BYTES_MAX) {
		gw_reply_error(req, HTTP_BADREQUEST, "Bad Request",
		    "n must be a byte count from 0 to 2147483648");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		gw_reply_error(req, HTTP_INTERNAL, "Internal Server Error",
		    "out of memory");
		goto out;
	}
	s->gw = gw;
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->len = n;
	s->next = gw->streams;
	if (s->next != NULL) {
		s->next->prev = s;
	}
	gw->streams = s;
	snprintf(clen, sizeof(clen), "%llu", n);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/octet-stream");
	/* With a Content-Length, libevent streams the body unchunked. */
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Length", clen);
	evhttp_connection_set_closecb(s->evcon, gw_stream_close_cb, s);
	evhttp_send_reply_start(req, HTTP_OK, "OK");
	gw_stream_next(s->evcon, s);
out:
	evhttp_clear_headers(&q);
}

static void
gw_request_cb(struct evhttp_request *req, void *arg)
{
	struct gw *gw = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char esc[256];

	if (path == NULL) {
		path = "/";
	}
	log_info("%s %s", cmd == EVHTTP_REQ_POST ? "POST" : "GET",
	    log_escape(esc, sizeof(esc), path, strlen(path)));
	if (strcmp(path, "/healthz") == 0) {
		if (cmd != EVHTTP_REQ_GET) {
			goto method;
		}
		gw_reply_json(req, HTTP_OK, "OK", "{\"status\":\"ok\"}");
	} else if (strcmp(path, "/products") == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			goto method;
		}
		gw_products_post(gw, req);
	} else if (strncmp(path, "/products/", 10) == 0) {
		if (cmd != EVHTTP_REQ_GET) {
			goto method;
		}
		gw_products_get(gw, req, path + 10);
	} else if (strcmp(path, "/bytes") == 0) {
		if (cmd != EVHTTP_REQ_GET) {
			goto method;
		}
		gw_bytes(gw, req, evhttp_uri_get_query(uri));
	} else {
		gw_reply_error(req, HTTP_NOTFOUND, "Not Found",
		    "no such endpoint (try /healthz, /products, /products/ID, /bytes?n=N)");
	}
	return;
method:
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    cmd == EVHTTP_REQ_GET ? "POST" : "GET");
	gw_reply_error(req, 405, "Method Not Allowed", "method not allowed");
}

static void
gw_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct gw *gw = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(gw->base, NULL);
}

static void
gw_usage(FILE *f)
{
	fprintf(f,
	    "usage: gateway [--listen ADDR:PORT] [--redis HOST:PORT]\n"
	    "  --listen  address to serve HTTP on (default 0.0.0.0:80)\n"
	    "  --redis   Redis to store products in, resolved through /etc/resolv.conf\n"
	    "            (default redis-master:6379)\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"redis", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct gw gw = {0};
	const char *listen_arg = "0.0.0.0:80", *redis_arg = "redis-master:6379";
	char *listen_host = NULL, *redis_host = NULL;
	uint16_t listen_port = 0;
	struct event *sigterm = NULL, *sigint = NULL;
	int c, ret = 1;

	log_init("gateway", LOG_LEVEL_INFO);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'r':
			redis_arg = optarg;
			break;
		case 'h':
			gw_usage(stdout);
			return 0;
		default:
			gw_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		gw_usage(stderr);
		return 2;
	}
	if (gw_parse_hostport(listen_arg, &listen_host, &listen_port) < 0 ||
	    listen_host[0] == '\0') {
		log_err("--listen %s: expected ADDR:PORT, e.g. 10.96.0.20:80",
		    listen_arg);
		goto out;
	}
	if (gw_parse_hostport(redis_arg, &redis_host, &gw.redis_port) < 0 ||
	    redis_host[0] == '\0') {
		log_err(
		    "--redis %s: expected HOST:PORT, e.g. redis-master:6379",
		    redis_arg);
		goto out;
	}
	gw.redis_host = redis_host;
	gw.tail = &gw.head;
	signal(SIGPIPE, SIG_IGN);

	gw.pattern = malloc(GW_BYTES_PERIOD + GW_CHUNK);
	gw.base = event_base_new();
	if (gw.pattern == NULL || gw.base == NULL) {
		log_err("cannot allocate the event loop");
		goto out;
	}
	for (size_t i = 0; i < GW_BYTES_PERIOD + GW_CHUNK; i++) {
		gw.pattern[i] = (uint8_t)(i % GW_BYTES_PERIOD);
	}
	gw.dns = evdns_base_new(gw.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                     EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (gw.dns == NULL) {
		log_err("cannot read /etc/resolv.conf for resolving %s",
		    redis_host);
		goto out;
	}
	gw.http = evhttp_new(gw.base);
	if (gw.http == NULL) {
		log_err("cannot allocate the HTTP server");
		goto out;
	}
	evhttp_set_max_body_size(gw.http, GW_MAX_BODY);
	evhttp_set_max_headers_size(gw.http, GW_MAX_HEADERS);
	evhttp_set_allowed_methods(gw.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_timeout(gw.http, GW_HTTP_TIMEOUT);
	evhttp_set_gencb(gw.http, gw_request_cb, &gw);
	if (evhttp_bind_socket_with_handle(gw.http, listen_host, listen_port) ==
	    NULL) {
		log_err(
		    "cannot listen on %s: %s (is the address configured and the port free?)",
		    listen_arg, strerror(errno));
		goto out;
	}
	sigterm = evsignal_new(gw.base, SIGTERM, gw_signal_cb, &gw);
	sigint = evsignal_new(gw.base, SIGINT, gw_signal_cb, &gw);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
	    evsignal_add(sigint, NULL)) {
		log_err("cannot install signal handlers");
		goto out;
	}
	log_info(
	    "listening on %s, products in redis %s", listen_arg, redis_arg);
	if (event_base_dispatch(gw.base) < 0) {
		log_err("event loop failed");
		goto out;
	}
	ret = 0;
out:
	/* Answer what still waits, then let evhttp free its connections. */
	if (gw.redis != NULL || gw.head != NULL) {
		gw_redis_reset(&gw, "shutting down");
	}
	while (gw.streams != NULL) {
		evhttp_connection_set_closecb(gw.streams->evcon, NULL, NULL);
		gw_stream_free(gw.streams);
	}
	if (gw.http != NULL) {
		evhttp_free(gw.http);
	}
	if (gw.dns != NULL) {
		evdns_base_free(gw.dns, 1);
	}
	if (sigterm != NULL) {
		event_free(sigterm);
	}
	if (sigint != NULL) {
		event_free(sigint);
	}
	if (gw.base != NULL) {
		event_base_free(gw.base);
	}
	free(gw.pattern);
	free(listen_host);
	free(redis_host);
	return ret;
}
