/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-load: the load and correctness tool of the integration tests. One binary,
 * several sub-commands:
 *
 *   serve     an echo server on libevent. The first line a client sends picks
 *             the mode of its connection: "ECHO", "SLOW <bytes/s>" (echo, but
 *             read at most that rate, so back-pressure builds up behind it),
 *             "SINK" (count, answer "<count> <hash>" at EOF), "SOURCE <n>
 *             <seed>" (send n pattern bytes, then close), "HALFSRV <n> <seed>
 *             <token>" (send n pattern bytes, half-close first, keep reading
 *             until the client's EOF and remember what arrived), "RESULT
 *             <token>" (report what a HALFSRV connection received), "RST
 *             <n> <seed>" (send n pattern bytes, then reset), or an
 *             HTTP GET (a tiny HTTP/1.0 answer, for curl).
 *   echo      K concurrent streams through a SOCKS5 proxy (or direct), each
 *             sending N bytes of deterministic pseudo-random data and checking
 *             the echo byte for byte, then the half-close to EOF.
 *   slow      one slow-reader stream (the destination reads slowly, or with
 *             --slow-side client the application does) plus K fast streams:
 *             the fast ones must complete within a bound, and the resident
 *             memory of watched processes must stay bounded meanwhile.
 *   halfclose the server half-closes first while the client still sends.
 *   reset     the destination resets after some bytes: the client must see
 *             a reset, not a clean EOF. abort: the client resets midway.
 *   connect   a SOCKS5 CONNECT alone, reporting the proxy's reply code.
 *   freeport  print a TCP port that is free on 127.0.0.1 right now.
 *   json      print the value at a dotted path of a JSON document on stdin.
 *
 * The SOCKS5 client handshake (RFC 1928, no authentication, CONNECT, with
 * IPv4, IPv6 and DOMAINNAME addresses) is written here on purpose: the tests
 * must not trust the code under test to check itself.
 *
 * Exit status: 0 all checks passed, 1 a check failed (mismatch, bound
 * exceeded, unexpected SOCKS reply), 2 the --timeout expired, 3 a stream
 * failed (reset, EOF before the end, SOCKS failure where success was
 * expected), 64 usage.
 */
#include "common/log.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TPL_EXIT_OK      0
#define TPL_EXIT_CHECK   1
#define TPL_EXIT_TIMEOUT 2
#define TPL_EXIT_STREAM  3
#define TPL_EXIT_USAGE   64

#define TPL_CHUNK         (64 * 1024)
#define TPL_TX_QUEUE      (256 * 1024)
#define TPL_ECHO_CAP      (1024 * 1024)
#define TPL_LINE_MAX      256
#define TPL_HTTP_HDR_MAX  (8 * 1024)
#define TPL_MAX_STREAMS   4096
#define TPL_MAX_WATCH     8
#define TPL_MAX_RESULTS   1024
#define TPL_MAX_LISTENERS 4
#define TPL_TOKEN_MAX     31
#define TPL_JSON_MAX      (1024 * 1024)

/* ---- deterministic data ---------------------------------------------- */

/* splitmix64's finaliser: a counter-based generator, so any offset of any
 * stream can be produced without state and checked the same way. */
static uint64_t
tpl_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Fills buf with the bytes [off, off+len) of the stream keyed by seed. */
static void
tpl_pattern(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t key = tpl_mix(seed);
	size_t i = 0;

	while (i < len) {
		uint64_t pos = off + i;
		uint64_t w = tpl_mix(key + (pos >> 3));

		for (unsigned b = (unsigned)(pos & 7); b < 8 && i < len; b++)
			buf[i++] = (uint8_t)(w >> (8 * b));
	}
}

/* FNV-1a, 64 bit: what SINK and HALFSRV report about the bytes they got. */
static uint64_t
tpl_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define TPL_FNV_INIT 0xcbf29ce484222325ULL

static double
tpl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- small parsers (command line input, bounded) --------------------- */

/* Parses "123", "64k", "100M", "1G" (binary units). */
static int
tpl_parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

static int
tpl_parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* A destination as the user wrote it: "1.2.3.4:80", "[::1]:80", "name:80". */
struct tpl_addr {
	char host[256];
	uint16_t port;
	int family; /* AF_INET, AF_INET6, or AF_UNSPEC for a name */
	uint8_t raw[16];
};

static int
tpl_parse_addr(const char *s, struct tpl_addr *ret)
{
	struct tpl_addr a;
	const char *colon;
	size_t hlen;
	char *end;
	unsigned long port;

	memset(&a, 0, sizeof(a));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - s - 1);
		if (hlen == 0 || hlen >= sizeof(a.host))
			return -EINVAL;
		memcpy(a.host, s + 1, hlen);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(a.host))
			return -EINVAL;
		memcpy(a.host, s, hlen);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || port > 65535)
		return -EINVAL;
	a.port = (uint16_t)port;
	if (inet_pton(AF_INET, a.host, a.raw) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, a.host, a.raw) == 1)
		a.family = AF_INET6;
	else
		a.family = AF_UNSPEC;
	*ret = a;
	return 0;
}

/* Builds a sockaddr for a literal address (a name is refused). */
static int
tpl_sockaddr(
    const struct tpl_addr *a, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->raw, 4);
		*ret_len = sizeof(*sin);
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->raw, 16);
		*ret_len = sizeof(*sin6);
	} else {
		return -EINVAL;
	}
	*ret = ss;
	return 0;
}

static const char *
tpl_socks_reply_name(int rep)
{
	static const char *const names[] = {"succeeded",
	    "general SOCKS server failure", "connection not allowed by ruleset",
	    "network unreachable", "host unreachable", "connection refused",
	    "TTL expired", "command not supported",
	    "address type not supported"};

	if (rep >= 0 && rep < (int)(sizeof(names) / sizeof(*names)))
		return names[rep];
	return "unassigned";
}

/* ---- the server ------------------------------------------------------ */

enum tps_mode {
	TPS_HEADER,
	TPS_HTTP_HEADERS,
	TPS_ECHO,
	TPS_SINK,
	TPS_SOURCE,
	TPS_HALFSRV,
	TPS_RST,         /* send n bytes, then abort with a reset */
	TPS_DRAIN_CLOSE, /* answer queued: close once it is written */
};

struct tps_result {
	char token[TPL_TOKEN_MAX + 1];
	uint64_t count;
	uint64_t hash;
	bool done;
};

struct tps_server {
	struct event_base *base;
	struct evconnlistener *listeners[TPL_MAX_LISTENERS];
	size_t nlisteners;
	unsigned long next_id;
	struct tps_result results[TPL_MAX_RESULTS];
	size_t nresults;
	size_t next_result;     /* ring: the oldest is overwritten */
	uint64_t corrupt_at;    /* ECHO: flip this payload byte (self-test) */
	struct tps_conn *conns; /* live connections, freed at shutdown */
};

struct tps_conn {
	struct tps_server *srv;
	struct bufferevent *bev;
	struct ev_token_bucket_cfg *rate;
	unsigned long id;
	enum tps_mode mode;
	bool eof;        /* the client half-closed */
	bool shut;       /* we half-closed (HALFSRV) */
	uint64_t n;      /* SOURCE/HALFSRV: bytes to send */
	uint64_t seed;   /* SOURCE/HALFSRV */
	uint64_t queued; /* pattern bytes queued so far */
	uint64_t rx;     /* payload bytes received */
	uint64_t hash;   /* FNV over payload received (SINK, HALFSRV) */
	struct tps_result *result;
	struct tps_conn *prev;
	struct tps_conn *next;
};

static void tps_read_cb(struct bufferevent *bev, void *arg);
static void tps_write_cb(struct bufferevent *bev, void *arg);

static void
tps_conn_free(struct tps_conn *c)
{
	log_info("conn %lu: closed, received %" PRIu64 " bytes", c->id, c->rx);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	if (c->rate)
		ev_token_bucket_cfg_free(c->rate);
	free(c);
}

/* Queues an answer and closes the connection once it is written. */
static void tps_answer_close(struct tps_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tps_answer_close(struct tps_conn *c, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	c->mode = TPS_DRAIN_CLOSE;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* Whatever the client still sends is read and dropped, so that the
	 * close does not turn into a reset. */
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct tps_result *
tps_result_new(struct tps_server *srv, const char *token)
{
	struct tps_result *r = &srv->results[srv->next_result];

	srv->next_result = (srv->next_result + 1) % TPL_MAX_RESULTS;
	if (srv->nresults < TPL_MAX_RESULTS)
		srv->nresults++;
	memset(r, 0, sizeof(*r));
	snprintf(r->token, sizeof(r->token), "%s", token);
	return r;
}

static struct tps_result *
tps_result_find(struct tps_server *srv, const char *token)
{
	for (size_t i = 0; i < srv->nresults; i++) {
		if (strcmp(srv->results[i].token, token) == 0)
			return &srv->results[i];
	}
	return NULL;
}

/* Tops up the output with pattern bytes (SOURCE, HALFSRV). */
static void
tps_fill(struct tps_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t buf[TPL_CHUNK];

	while (c->queued < c->n && evbuffer_get_length(out) < TPL_TX_QUEUE) {
		size_t len = TPL_CHUNK;

		if (c->n - c->queued < len)
			len = (size_t)(c->n - c->queued);
		tpl_pattern(c->seed, c->queued, buf, len);
		evbuffer_add(out, buf, len);
		c->queued += len;
	}
	if (c->queued == c->n)
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static bool
tps_valid_token(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TPL_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
		        (t[i] >= 'A' && t[i] <= 'Z') ||
		        (t[i] >= '0' && t[i] <= '9') || t[i] == '-'))
			return false;
	}
	return true;
}

/* Parses the first line. Returns 0, or -EPROTO after answering an error. */
static int
tps_header(struct tps_conn *c, const char *line)
{
	char word[16], arg2[32], arg3[TPL_TOKEN_MAX + 1];
	unsigned long long a = 0, b = 0;
	int n;

	if (strncmp(line, "GET ", 4) == 0 || strncmp(line, "HEAD ", 5) == 0) {
		log_info("conn %lu: http %.100s", c->id, line);
		c->mode = TPS_HTTP_HEADERS;
		return 0;
	}
	n = sscanf(line, "%15s %llu %31s %31s", word, &a, arg2, arg3);
	if (n < 1)
		goto bad;
	if (strcmp(word, "ECHO") == 0 && n == 1) {
		c->mode = TPS_ECHO;
	} else if (strcmp(word, "SLOW") == 0 && n == 2 && a > 0 &&
	           a <= 1024ULL * 1024 * 1024) {
		/* Rates are per 100 ms tick; at least one byte per tick. */
		struct timeval tick = {0, 100000};
		size_t per_tick = (size_t)(a / 10 ? a / 10 : 1);

		c->rate = ev_token_bucket_cfg_new(per_tick, per_tick,
		    EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, &tick);
		if (!c->rate || bufferevent_set_rate_limit(c->bev, c->rate)) {
			log_err("conn %lu: cannot set a rate limit", c->id);
			goto bad;
		}
		c->mode = TPS_ECHO;
	} else if (strcmp(word, "SINK") == 0 && n == 1) {
		c->mode = TPS_SINK;
		c->hash = TPL_FNV_INIT;
	} else if (strcmp(word, "SOURCE") == 0 && n == 3) {
		if (sscanf(arg2, "%llu", &b) != 1)
			goto bad;
		c->mode = TPS_SOURCE;
		c->n = a;
		c->seed = b;
		tps_fill(c);
	} else if (strcmp(word, "RST") == 0 && n == 3) {
		if (sscanf(arg2, "%llu", &b) != 1)
			goto bad;
		c->mode = TPS_RST;
		c->n = a;
		c->seed = b;
		tps_fill(c);
	} else if (strcmp(word, "HALFSRV") == 0 && n == 4) {
		if (sscanf(arg2, "%llu", &b) != 1 || !tps_valid_token(arg3))
			goto bad;
		c->mode = TPS_HALFSRV;
		c->n = a;
		c->seed = b;
		c->hash = TPL_FNV_INIT;
		c->result = tps_result_new(c->srv, arg3);
		bufferevent_setwatermark(c->bev, EV_WRITE, TPL_TX_QUEUE / 2, 0);
		tps_fill(c);
	} else if (strcmp(word, "RESULT") == 0) {
		struct tps_result *r;

		/* The token is the first argument: re-scan as a string. */
		if (sscanf(line, "%15s %31s", word, arg3) != 2 ||
		    !tps_valid_token(arg3))
			goto bad;
		r = tps_result_find(c->srv, arg3);
		if (!r)
			tps_answer_close(c, "UNKNOWN\n");
		else if (!r->done)
			tps_answer_close(c, "PENDING\n");
		else
			tps_answer_close(c, "DONE %" PRIu64 " %016" PRIx64 "\n",
			    r->count, r->hash);
		log_info("conn %lu: RESULT %s", c->id, arg3);
		return 0;
	} else {
		goto bad;
	}
	log_info("conn %lu: mode %.60s", c->id, line);
	return 0;
bad:
	log_warn("conn %lu: bad first line \"%.60s\"", c->id, line);
	tps_answer_close(c, "ERROR bad first line\n");
	return -EPROTO;
}

static void
tps_http_answer(struct tps_conn *c)
{
	static const char body[] = "tp-load http ok\n";

	tps_answer_close(c,
	    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    sizeof(body) - 1, body);
}

/* --corrupt-at: proves that the clients notice a wrong byte. */
static void
tps_maybe_corrupt(struct tps_conn *c, struct evbuffer *in)
{
	uint64_t at = c->srv->corrupt_at;
	size_t len = evbuffer_get_length(in);
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v;

	if (at < c->rx || at - c->rx >= len)
		return;
	if (evbuffer_ptr_set(in, &pos, (size_t)(at - c->rx), EVBUFFER_PTR_SET))
		return;
	if (evbuffer_peek(in, 1, &pos, &v, 1) < 1 || v.iov_len < 1)
		return;
	((uint8_t *)v.iov_base)[0] ^= 0x5a;
	log_warn("conn %lu: corrupted byte %" PRIu64 " on purpose", c->id, at);
}

/* Feeds input to the connection's mode. */
static void
tps_consume(struct tps_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t buf[TPL_CHUNK];

	for (;;) {
		switch (c->mode) {
		case TPS_HEADER: {
			size_t len;
			char *line =
			    evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

			if (!line) {
				if (evbuffer_get_length(in) > TPL_LINE_MAX) {
					log_warn(
					    "conn %lu: first line too long",
					    c->id);
					evbuffer_drain(
					    in, evbuffer_get_length(in));
					tps_answer_close(
					    c, "ERROR line too long\n");
				}
				return;
			}
			if (len > TPL_LINE_MAX) {
				free(line);
				tps_answer_close(c, "ERROR line too long\n");
				return;
			}
			tps_header(c, line);
			free(line);
			continue;
		}
		case TPS_HTTP_HEADERS: {
			size_t len;
			char *line =
			    evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

			if (!line) {
				if (evbuffer_get_length(in) > TPL_HTTP_HDR_MAX)
					tps_answer_close(c,
					    "HTTP/1.0 431 Too large\r\n\r\n");
				return;
			}
			free(line);
			if (len == 0)
				tps_http_answer(c);
			continue;
		}
		case TPS_ECHO:
			tps_maybe_corrupt(c, in);
			c->rx += evbuffer_get_length(in);
			evbuffer_add_buffer(out, in);
			/* Back-pressure: stop reading while the client is
			 * not taking its echo. */
			if (evbuffer_get_length(out) > TPL_ECHO_CAP) {
				bufferevent_setwatermark(
				    c->bev, EV_WRITE, TPL_ECHO_CAP / 2, 0);
				bufferevent_disable(c->bev, EV_READ);
			}
			return;
		case TPS_SINK:
		case TPS_HALFSRV:
			while (evbuffer_get_length(in) > 0) {
				int n = evbuffer_remove(in, buf, sizeof(buf));

				if (n <= 0)
					break;
				c->hash = tpl_fnv(c->hash, buf, (size_t)n);
				c->rx += (uint64_t)n;
			}
			return;
		case TPS_SOURCE:
		case TPS_RST:
		case TPS_DRAIN_CLOSE:
			c->rx += evbuffer_get_length(in);
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
	}
}

/* Acts on the client's EOF once input has been consumed. Returns true when
 * the connection was freed. */
static bool
tps_on_eof(struct tps_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	switch (c->mode) {
	case TPS_SINK:
		tps_answer_close(
		    c, "%" PRIu64 " %016" PRIx64 "\n", c->rx, c->hash);
		return false;
	case TPS_HALFSRV:
		c->result->count = c->rx;
		c->result->hash = c->hash;
		c->result->done = true;
		log_info("conn %lu: HALFSRV %s: client EOF after %" PRIu64
		         " bytes",
		    c->id, c->result->token, c->rx);
		if (c->shut) {
			tps_conn_free(c);
			return true;
		}
		return false; /* closes once our own bytes are out */
	case TPS_HEADER:
	case TPS_HTTP_HEADERS:
		tps_conn_free(c);
		return true;
	default:
		if (evbuffer_get_length(out) == 0) {
			tps_conn_free(c);
			return true;
		}
		/* The write callback closes once the echo is flushed. */
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->bev, EV_WRITE);
		return false;
	}
}

static void
tps_read_cb(struct bufferevent *bev, void *arg)
{
	tps_consume(arg);
}

static void
tps_write_cb(struct bufferevent *bev, void *arg)
{
	struct tps_conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(bev);

	switch (c->mode) {
	case TPS_ECHO:
		if (c->eof) {
			if (evbuffer_get_length(out) == 0)
				tps_conn_free(c);
			return;
		}
		if (evbuffer_get_length(out) <= TPL_ECHO_CAP / 2)
			bufferevent_enable(bev, EV_READ);
		return;
	case TPS_SOURCE:
		tps_fill(c);
		if (c->queued == c->n && evbuffer_get_length(out) == 0)
			tps_conn_free(c);
		return;
	case TPS_RST:
		tps_fill(c);
		if (c->queued == c->n && evbuffer_get_length(out) == 0) {
			/* SO_LINGER 0: close() sends a RST, not a FIN. */
			struct linger lg = {1, 0};

			setsockopt(bufferevent_getfd(bev), SOL_SOCKET,
			    SO_LINGER, &lg, sizeof(lg));
			log_info("conn %lu: RST after %" PRIu64 " bytes", c->id,
			    c->n);
			tps_conn_free(c);
		}
		return;
	case TPS_HALFSRV:
		tps_fill(c);
		if (c->queued == c->n && evbuffer_get_length(out) == 0 &&
		    !c->shut) {
			/* All our bytes are out: half-close first, keep
			 * reading what the client still sends. */
			shutdown(bufferevent_getfd(bev), SHUT_WR);
			c->shut = true;
			bufferevent_disable(bev, EV_WRITE);
			log_info("conn %lu: HALFSRV sent %" PRIu64
			         " bytes and half-closed",
			    c->id, c->n);
			if (c->eof)
				tps_conn_free(c);
		}
		return;
	case TPS_DRAIN_CLOSE:
		if (evbuffer_get_length(out) == 0)
			tps_conn_free(c);
		return;
	default:
		return;
	}
}

static void
tps_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tps_conn *c = arg;

	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		tps_consume(c);
		tps_on_eof(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		log_warn("conn %lu: error after %" PRIu64 " bytes: %s", c->id,
		    c->rx, evutil_socket_error_to_string(err));
		tps_conn_free(c);
	}
}

static void
tps_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct tps_server *srv = arg;
	struct tps_conn *c = calloc(1, sizeof(*c));
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = srv;
	c->id = ++srv->next_id;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	log_info("conn %lu: accepted from %s port %d", c->id, host, port);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	bufferevent_setcb(c->bev, tps_read_cb, tps_write_cb, tps_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int
tps_listen(struct tps_server *srv, const struct tpl_addr *a, bool quiet,
    uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct evconnlistener *l;
	evutil_socket_t fd;

	if (srv->nlisteners == TPL_MAX_LISTENERS)
		return -EMSGSIZE;
	if (tpl_sockaddr(a, &ss, &len))
		return -EINVAL;
	l = evconnlistener_new_bind(srv->base, tps_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, (int)len);
	if (!l) {
		int err = errno;

		if (!quiet)
			log_err("listen on %s port %u: %s", a->host, a->port,
			    strerror(err));
		return -err;
	}
	fd = evconnlistener_get_fd(l);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			*ret_port =
			    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else
			*ret_port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	srv->listeners[srv->nlisteners++] = l;
	return 0;
}

static int
tpl_write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0)
		return -errno;
	if (rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static void
tpl_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static int
tpl_cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, 0, 'l'},
	    {"port-file", required_argument, 0, 'p'},
	    {"also-ipv6", no_argument, 0, '6'},
	    {"corrupt-at", required_argument, 0, 'c'}, {0, 0, 0, 0}};
	struct tps_server *srv;
	struct tpl_addr a;
	const char *listen = "127.0.0.1:0", *port_file = NULL;
	bool also6 = false;
	uint64_t corrupt_at = UINT64_MAX;
	uint16_t port = 0;
	struct event *sigterm, *sigint;
	int opt, rc = TPL_EXIT_USAGE;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'p':
			port_file = optarg;
			break;
		case '6':
			also6 = true;
			break;
		case 'c':
			if (tpl_parse_size(optarg, &corrupt_at))
				return TPL_EXIT_USAGE;
			break;
		default:
			return TPL_EXIT_USAGE;
		}
	}
	if (tpl_parse_addr(listen, &a) || a.family == AF_UNSPEC) {
		log_err(
		    "--listen wants ADDR:PORT with a literal address, got \"%s\"",
		    listen);
		return TPL_EXIT_USAGE;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return TPL_EXIT_CHECK;
	srv->corrupt_at = corrupt_at;
	srv->base = event_base_new();
	if (!srv->base || tps_listen(srv, &a, false, &port)) {
		rc = TPL_EXIT_CHECK;
		goto out;
	}
	if (also6) {
		struct tpl_addr a6 = {
		    .host = "::1", .port = port, .family = AF_INET6};

		a6.raw[15] = 1;
		/* Best effort: a host without IPv6 loopback still passes. */
		if (tps_listen(srv, &a6, true, &port) == 0)
			log_info("listening on [::1] port %u too", port);
	}
	log_info("listening on %s port %u", a.host, port);
	if (port_file) {
		char text[16];

		snprintf(text, sizeof(text), "%u\n", port);
		if (tpl_write_file(port_file, text)) {
			log_err("cannot write %s", port_file);
			rc = TPL_EXIT_CHECK;
			goto out;
		}
	}
	sigterm = evsignal_new(srv->base, SIGTERM, tpl_signal_cb, srv->base);
	sigint = evsignal_new(srv->base, SIGINT, tpl_signal_cb, srv->base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_base_dispatch(srv->base);
	event_free(sigterm);
	event_free(sigint);
	log_info("stopping after %lu connections", srv->next_id);
	rc = TPL_EXIT_OK;
out:
	while (srv->conns)
		tps_conn_free(srv->conns);
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	if (srv->base)
		event_base_free(srv->base);
	free(srv);
	return rc;
}

/* ---- the client ------------------------------------------------------ */

enum tpc_kind {
	TPC_ECHO,    /* send n, check the echo, half-close, expect EOF */
	TPC_SLOW,    /* SLOW mode: push until stopped, check the echo prefix */
	TPC_SLOWSRC, /* SOURCE read slowly by us: back-pressure downstream */
	TPC_HALFSRV, /* server half-closes first while we still send */
	TPC_RESULT,  /* ask the server what a HALFSRV connection received */
	TPC_PROBE,   /* SOCKS CONNECT only */
	TPC_RSTRECV, /* the server sends n bytes and resets: expect a reset */
	TPC_ABORT,   /* echo until half is back, then reset it ourselves */
};

enum tpc_state {
	TPC_CONNECTING,
	TPC_GREETING,
	TPC_REPLY,
	TPC_RUNNING,
	TPC_DONE,
	TPC_FAILED,
};

struct tpc_client;

struct tpc_stream {
	struct tpc_client *cl;
	struct bufferevent *bev;
	int idx;
	enum tpc_kind kind;
	enum tpc_state state;
	uint64_t seed_tx;
	uint64_t seed_rx;
	uint64_t tx_total; /* payload bytes to send */
	uint64_t tx_limit; /* may be lower than tx_total for a while */
	uint64_t tx_done;  /* payload bytes queued */
	uint64_t rx_total; /* payload bytes expected (UINT64_MAX: open) */
	uint64_t rx_done;
	uint64_t tx_hash;
	bool shut_wr;
	bool eof;
	bool shut_early; /* half-close right after the last byte is out */
	bool mismatch;   /* failed because of wrong data, not an error */
	int socks_reply;
	double t_start;
	double t_socks;
	double t_end;
	uint64_t slow_rate; /* SLOW, SLOWSRC: the read rate, bytes/s */
	struct ev_token_bucket_cfg *rate; /* SLOWSRC: our read limit */
	char token[TPL_TOKEN_MAX + 1];
	char answer[TPL_LINE_MAX + 1]; /* RESULT: the server's line */
	char error[256];
};

struct tpc_client {
	struct event_base *base;
	struct tpl_addr socks;
	bool use_socks;
	struct tpl_addr target;
	bool force_name;
	struct tpc_stream *streams;
	int nstreams;
	int running;
	int exit_code;
	double t0;
	/* called when a stream reaches DONE or FAILED */
	void (*on_end)(struct tpc_stream *s);
	void *arg;
	/* RSS watch */
	int nwatch;
	long watch_pid[TPL_MAX_WATCH];
	long rss_base_kb[TPL_MAX_WATCH];
	long rss_max_kb[TPL_MAX_WATCH];
	struct event *rss_ev;
};

static void tpc_read_cb(struct bufferevent *bev, void *arg);
static void tpc_write_cb(struct bufferevent *bev, void *arg);
static void tpc_event_cb(struct bufferevent *bev, short what, void *arg);

static void
tpc_end(struct tpc_stream *s, enum tpc_state st)
{
	if (s->state == TPC_DONE || s->state == TPC_FAILED)
		return;
	s->state = st;
	s->t_end = tpl_now();
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->rate) {
		ev_token_bucket_cfg_free(s->rate);
		s->rate = NULL;
	}
	s->cl->running--;
	if (s->cl->on_end)
		s->cl->on_end(s);
}

static void tpc_fail(struct tpc_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tpc_fail(struct tpc_stream *s, const char *fmt, ...)
{
	va_list ap;

	if (s->state == TPC_DONE || s->state == TPC_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	tpc_end(s, TPC_FAILED);
}

/* The exit code a failed stream stands for. */
static int
tpc_fail_code(const struct tpc_stream *s)
{
	return s->mismatch ? TPL_EXIT_CHECK : TPL_EXIT_STREAM;
}

/* Queues payload up to the current limit. */
static void
tpc_fill(struct tpc_stream *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	uint8_t buf[TPL_CHUNK];

	while (s->tx_done < s->tx_limit &&
	       evbuffer_get_length(out) < TPL_TX_QUEUE) {
		size_t len = TPL_CHUNK;

		if (s->tx_limit - s->tx_done < len)
			len = (size_t)(s->tx_limit - s->tx_done);
		tpl_pattern(s->seed_tx, s->tx_done, buf, len);
		s->tx_hash = tpl_fnv(s->tx_hash, buf, len);
		evbuffer_add(out, buf, len);
		s->tx_done += len;
	}
	/* Once everything is queued, be told when it has left. */
	if (s->tx_done == s->tx_total)
		bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

static void
tpc_shut_wr(struct tpc_stream *s)
{
	if (s->shut_wr)
		return;
	if (shutdown(bufferevent_getfd(s->bev), SHUT_WR) != 0) {
		tpc_fail(s, "shutdown(SHUT_WR): %s", strerror(errno));
		return;
	}
	s->shut_wr = true;
	bufferevent_disable(s->bev, EV_WRITE);
}

/* Called whenever progress was made: decides what comes next. */
static void
tpc_progress(struct tpc_stream *s)
{
	struct evbuffer *out;

	if (s->state != TPC_RUNNING)
		return;
	out = bufferevent_get_output(s->bev);
	switch (s->kind) {
	case TPC_ECHO:
		if (s->tx_done == s->tx_total &&
		    evbuffer_get_length(out) == 0 && !s->shut_wr &&
		    (s->shut_early || s->rx_done == s->rx_total))
			tpc_shut_wr(s);
		if (s->state == TPC_RUNNING && s->shut_wr && s->eof &&
		    s->rx_done == s->rx_total)
			tpc_end(s, TPC_DONE);
		return;
	case TPC_ABORT:
		if (s->rx_done >= s->rx_total / 2) {
			/* Half the echo is back: abort with a reset. */
			struct linger lg = {1, 0};

			setsockopt(bufferevent_getfd(s->bev), SOL_SOCKET,
			    SO_LINGER, &lg, sizeof(lg));
			tpc_end(s, TPC_DONE);
		}
		return;
	case TPC_HALFSRV:
		/* The second half of our bytes goes out only after the
		 * server's FIN: sending into a half-closed connection. */
		if (s->eof && s->tx_limit < s->tx_total) {
			s->tx_limit = s->tx_total;
			bufferevent_enable(s->bev, EV_WRITE);
			tpc_fill(s);
		}
		if (s->eof && s->tx_done == s->tx_total &&
		    evbuffer_get_length(out) == 0 && !s->shut_wr)
			tpc_shut_wr(s);
		if (s->state == TPC_RUNNING && s->shut_wr && s->eof)
			tpc_end(s, TPC_DONE);
		return;
	default:
		return;
	}
}

static void
tpc_send_request(struct tpc_stream *s)
{
	struct tpc_client *cl = s->cl;
	uint8_t req[4 + 1 + 255 + 2];
	size_t n = 0;
	const struct tpl_addr *t = &cl->target;

	req[n++] = 5; /* version */
	req[n++] = 1; /* CONNECT */
	req[n++] = 0; /* reserved */
	if (t->family == AF_INET && !cl->force_name) {
		req[n++] = 1;
		memcpy(req + n, t->raw, 4);
		n += 4;
	} else if (t->family == AF_INET6 && !cl->force_name) {
		req[n++] = 4;
		memcpy(req + n, t->raw, 16);
		n += 16;
	} else {
		size_t hl = strlen(t->host);

		req[n++] = 3;
		req[n++] = (uint8_t)hl; /* checked <= 255 at parse time */
		memcpy(req + n, t->host, hl);
		n += hl;
	}
	req[n++] = (uint8_t)(t->port >> 8);
	req[n++] = (uint8_t)(t->port & 0xff);
	bufferevent_write(s->bev, req, n);
	s->state = TPC_REPLY;
}

/* The proxy said yes (or there is no proxy): start the test traffic. */
static void
tpc_start_payload(struct tpc_stream *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	s->state = TPC_RUNNING;
	s->t_socks = tpl_now();
	switch (s->kind) {
	case TPC_PROBE:
		tpc_end(s, TPC_DONE);
		return;
	case TPC_ECHO:
		evbuffer_add_printf(out, "ECHO\n");
		break;
	case TPC_SLOW:
		evbuffer_add_printf(out, "SLOW %" PRIu64 "\n", s->slow_rate);
		break;
	case TPC_HALFSRV:
		evbuffer_add_printf(out, "HALFSRV %" PRIu64 " %" PRIu64 " %s\n",
		    s->rx_total, s->seed_rx, s->token);
		break;
	case TPC_RESULT:
		evbuffer_add_printf(out, "RESULT %s\n", s->token);
		bufferevent_enable(s->bev, EV_READ);
		return;
	case TPC_RSTRECV:
		evbuffer_add_printf(out, "RST %" PRIu64 " %" PRIu64 "\n",
		    s->rx_total, s->seed_rx);
		return;
	case TPC_SLOWSRC: {
		/* Rates are per 100 ms tick, as in the server's SLOW. */
		struct timeval tick = {0, 100000};
		size_t per_tick =
		    (size_t)(s->slow_rate / 10 ? s->slow_rate / 10 : 1);

		evbuffer_add_printf(out, "SOURCE %" PRIu64 " %" PRIu64 "\n",
		    s->rx_total, s->seed_rx);
		s->rate = ev_token_bucket_cfg_new(per_tick, per_tick,
		    EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX, &tick);
		if (!s->rate || bufferevent_set_rate_limit(s->bev, s->rate))
			tpc_fail(s, "cannot set a read rate limit");
		return;
	}
	case TPC_ABORT:
		evbuffer_add_printf(out, "ECHO\n");
		break;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, TPL_TX_QUEUE / 2, 0);
	tpc_fill(s);
}

/* Parses the SOCKS5 replies. Returns false while more bytes are needed. */
static void
tpc_socks_input(struct tpc_stream *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint8_t hdr[5];
	size_t need;

	if (s->state == TPC_GREETING) {
		uint8_t rep[2];

		if (evbuffer_get_length(in) < 2)
			return;
		evbuffer_remove(in, rep, 2);
		if (rep[0] != 5 || rep[1] != 0) {
			tpc_fail(s,
			    "SOCKS greeting refused: version %u method %u",
			    rep[0], rep[1]);
			return;
		}
		tpc_send_request(s);
	}
	if (s->state != TPC_REPLY || evbuffer_get_length(in) < 5)
		return;
	evbuffer_copyout(in, hdr, 5);
	if (hdr[0] != 5) {
		tpc_fail(s, "SOCKS reply with version %u", hdr[0]);
		return;
	}
	switch (hdr[3]) {
	case 1:
		need = 4 + 4 + 2;
		break;
	case 4:
		need = 4 + 16 + 2;
		break;
	case 3:
		need = 4 + 1 + (size_t)hdr[4] + 2;
		break;
	default:
		tpc_fail(s, "SOCKS reply with address type %u", hdr[3]);
		return;
	}
	if (evbuffer_get_length(in) < need)
		return;
	evbuffer_drain(in, need);
	s->socks_reply = hdr[1];
	s->t_socks = tpl_now();
	if (hdr[1] != 0) {
		tpc_fail(s, "SOCKS reply %u (%s)", hdr[1],
		    tpl_socks_reply_name(hdr[1]));
		return;
	}
	tpc_start_payload(s);
}

static void
tpc_check_rx(struct tpc_stream *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint8_t got[TPL_CHUNK], want[TPL_CHUNK];

	if (s->kind == TPC_RESULT) {
		/* The answer is one short line; the owner parses it at EOF. */
		if (evbuffer_get_length(in) > TPL_LINE_MAX)
			tpc_fail(s, "RESULT answer too long");
		return;
	}
	while (s->state == TPC_RUNNING && evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, got, sizeof(got));

		if (n <= 0)
			break;
		if ((uint64_t)n > s->rx_total - s->rx_done) {
			s->mismatch = true;
			tpc_fail(s,
			    "received %" PRIu64 " bytes, more than the %" PRIu64
			    " expected",
			    s->rx_done + (uint64_t)n, s->rx_total);
			return;
		}
		tpl_pattern(s->seed_rx, s->rx_done, want, (size_t)n);
		if (memcmp(got, want, (size_t)n) != 0) {
			size_t i = 0;

			while (got[i] == want[i])
				i++;
			s->mismatch = true;
			tpc_fail(s,
			    "data mismatch at byte %" PRIu64
			    ": got 0x%02x, expected 0x%02x",
			    s->rx_done + i, got[i], want[i]);
			return;
		}
		s->rx_done += (uint64_t)n;
	}
}

static void
tpc_read_cb(struct bufferevent *bev, void *arg)
{
	struct tpc_stream *s = arg;

	if (s->state == TPC_GREETING || s->state == TPC_REPLY) {
		tpc_socks_input(s);
		if (s->state != TPC_RUNNING)
			return;
	}
	tpc_check_rx(s);
	tpc_progress(s);
}

static void
tpc_write_cb(struct bufferevent *bev, void *arg)
{
	struct tpc_stream *s = arg;

	if (s->state != TPC_RUNNING || s->shut_wr)
		return;
	tpc_fill(s);
	tpc_progress(s);
}

static void
tpc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tpc_stream *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		if (s->cl->use_socks) {
			static const uint8_t greeting[3] = {5, 1, 0};

			bufferevent_write(bev, greeting, sizeof(greeting));
			s->state = TPC_GREETING;
		} else {
			tpc_start_payload(s);
		}
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* Bytes that arrived with the FIN come first. */
		tpc_read_cb(bev, s);
		if (s->state == TPC_DONE || s->state == TPC_FAILED)
			return;
		s->eof = true;
		if (s->state == TPC_GREETING || s->state == TPC_REPLY) {
			tpc_fail(s,
			    "proxy closed the connection during the SOCKS handshake");
			return;
		}
		if (s->kind == TPC_RESULT) {
			struct evbuffer *in = bufferevent_get_input(bev);
			size_t n = evbuffer_get_length(in);

			if (n > TPL_LINE_MAX)
				n = TPL_LINE_MAX;
			evbuffer_remove(in, s->answer, n);
			s->answer[n] = '\0';
			s->answer[strcspn(s->answer, "\r\n")] = '\0';
			tpc_end(s, TPC_DONE);
			return;
		}
		if (s->kind == TPC_RSTRECV) {
			s->mismatch = true;
			tpc_fail(s,
			    "clean EOF after %" PRIu64
			    " bytes where the destination reset the connection",
			    s->rx_done);
			return;
		}
		if (s->kind == TPC_SLOW || s->rx_done < s->rx_total) {
			tpc_fail(s,
			    "EOF after %" PRIu64 " of %" PRIu64
			    " bytes received (%" PRIu64 " sent)",
			    s->rx_done, s->rx_total, s->tx_done);
			return;
		}
		/* Our side may still have bytes to send (HALFSRV). */
		bufferevent_enable(bev, EV_WRITE);
		tpc_progress(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		if (s->kind == TPC_RSTRECV && s->state == TPC_RUNNING &&
		    err == ECONNRESET) {
			tpc_read_cb(bev, s);
			if (s->state != TPC_RUNNING)
				return;
			printf("reset: connection reset after %" PRIu64
			       " of %" PRIu64 " bytes, all correct\n",
			    s->rx_done, s->rx_total);
			tpc_end(s, TPC_DONE);
			return;
		}
		if (s->state == TPC_CONNECTING)
			tpc_fail(s, "connect: %s",
			    evutil_socket_error_to_string(err));
		else
			tpc_fail(s,
			    "%s after %" PRIu64 " bytes sent, %" PRIu64
			    " received",
			    evutil_socket_error_to_string(err), s->tx_done,
			    s->rx_done);
	}
}

static int
tpc_stream_start(struct tpc_stream *s)
{
	struct tpc_client *cl = s->cl;
	struct sockaddr_storage ss;
	socklen_t len;
	const struct tpl_addr *dst = cl->use_socks ? &cl->socks : &cl->target;

	if (tpl_sockaddr(dst, &ss, &len)) {
		tpc_fail(s, "%s is not a literal address", dst->host);
		return -EINVAL;
	}
	s->bev = bufferevent_socket_new(cl->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev)
		return -ENOMEM;
	s->state = TPC_CONNECTING;
	s->t_start = tpl_now();
	s->tx_hash = TPL_FNV_INIT;
	cl->running++;
	bufferevent_setcb(s->bev, tpc_read_cb, tpc_write_cb, tpc_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(
	        s->bev, (struct sockaddr *)&ss, (int)len)) {
		tpc_fail(s, "connect to %s port %u failed at once", dst->host,
		    dst->port);
		return -ECONNREFUSED;
	}
	return 0;
}

/* RSS of a process in KiB from /proc/PID/status, or -1. */
static long
tpl_rss_kb(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void
tpc_rss_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpc_client *cl = arg;

	for (int i = 0; i < cl->nwatch; i++) {
		long kb = tpl_rss_kb(cl->watch_pid[i]);

		if (kb > cl->rss_max_kb[i])
			cl->rss_max_kb[i] = kb;
	}
}

static void
tpc_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpc_client *cl = arg;

	log_err("timeout after %.1f s", tpl_now() - cl->t0);
	for (int i = 0; i < cl->nstreams; i++) {
		struct tpc_stream *s = &cl->streams[i];

		if (s->state != TPC_DONE && s->state != TPC_FAILED)
			log_err("stream %d: still running: sent %" PRIu64
			        "/%" PRIu64 ", received %" PRIu64 "/%" PRIu64
			        "%s%s",
			    i, s->tx_done, s->tx_total, s->rx_done, s->rx_total,
			    s->shut_wr ? ", half-closed" : "",
			    s->eof ? ", EOF seen" : "");
	}
	cl->exit_code = TPL_EXIT_TIMEOUT;
	event_base_loopbreak(cl->base);
}

/* Options shared by the client commands. */
struct tpc_opts {
	const char *socks;
	const char *target;
	bool force_name;
	uint64_t bytes;
	uint64_t streams;
	uint64_t seed;
	double timeout;
	bool shut_early;
	/* slow */
	uint64_t slow_rate;
	uint64_t slow_bytes;
	double warmup;
	double hold;
	double max_seconds;
	uint64_t rss_limit_kb;
	int nwatch;
	long watch[TPL_MAX_WATCH];
	bool slow_client; /* slow: we read slowly, not the destination */
	/* connect */
	int expect_reply; /* -1: any failure; -2: success */
};

enum {
	OPT_SOCKS = 256,
	OPT_TARGET,
	OPT_NAME,
	OPT_BYTES,
	OPT_STREAMS,
	OPT_SEED,
	OPT_TIMEOUT,
	OPT_SHUT,
	OPT_SLOW_RATE,
	OPT_SLOW_BYTES,
	OPT_WARMUP,
	OPT_HOLD,
	OPT_MAX_SECONDS,
	OPT_RSS_LIMIT,
	OPT_WATCH,
	OPT_EXPECT,
	OPT_SLOW_SIDE,
};

static const struct option tpc_long_opts[] = {
    {"socks", required_argument, 0, OPT_SOCKS},
    {"target", required_argument, 0, OPT_TARGET},
    {"name", no_argument, 0, OPT_NAME},
    {"bytes", required_argument, 0, OPT_BYTES},
    {"streams", required_argument, 0, OPT_STREAMS},
    {"seed", required_argument, 0, OPT_SEED},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"shut", required_argument, 0, OPT_SHUT},
    {"slow-rate", required_argument, 0, OPT_SLOW_RATE},
    {"slow-bytes", required_argument, 0, OPT_SLOW_BYTES},
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"hold", required_argument, 0, OPT_HOLD},
    {"max-seconds", required_argument, 0, OPT_MAX_SECONDS},
    {"rss-limit", required_argument, 0, OPT_RSS_LIMIT},
    {"watch-pid", required_argument, 0, OPT_WATCH},
    {"expect", required_argument, 0, OPT_EXPECT},
    {"slow-side", required_argument, 0, OPT_SLOW_SIDE}, {0, 0, 0, 0}};

static int
tpc_parse_opts(int argc, char **argv, struct tpc_opts *o)
{
	int opt;
	uint64_t v;
	double d;

	memset(o, 0, sizeof(*o));
	o->bytes = 1024 * 1024;
	o->streams = 1;
	o->seed = 1;
	o->timeout = 60;
	o->slow_rate = 64 * 1024;
	o->slow_bytes = 1024ULL * 1024 * 1024;
	o->warmup = 1;
	o->hold = 1;
	o->max_seconds = 0;
	o->expect_reply = -1;
	while ((opt = getopt_long(argc, argv, "", tpc_long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKS:
			o->socks = optarg;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case OPT_NAME:
			o->force_name = true;
			break;
		case OPT_BYTES:
			if (tpl_parse_size(optarg, &o->bytes))
				goto bad;
			break;
		case OPT_STREAMS:
			if (tpl_parse_size(optarg, &o->streams) ||
			    o->streams < 1 || o->streams > TPL_MAX_STREAMS)
				goto bad;
			break;
		case OPT_SEED:
			if (tpl_parse_size(optarg, &o->seed))
				goto bad;
			break;
		case OPT_TIMEOUT:
			if (tpl_parse_double(optarg, &o->timeout) ||
			    o->timeout <= 0)
				goto bad;
			break;
		case OPT_SHUT:
			if (strcmp(optarg, "early") == 0)
				o->shut_early = true;
			else if (strcmp(optarg, "late") == 0)
				o->shut_early = false;
			else
				goto bad;
			break;
		case OPT_SLOW_RATE:
			if (tpl_parse_size(optarg, &o->slow_rate) ||
			    o->slow_rate == 0 ||
			    o->slow_rate > 1024ULL * 1024 * 1024)
				goto bad;
			break;
		case OPT_SLOW_BYTES:
			if (tpl_parse_size(optarg, &o->slow_bytes))
				goto bad;
			break;
		case OPT_WARMUP:
			if (tpl_parse_double(optarg, &o->warmup))
				goto bad;
			break;
		case OPT_HOLD:
			if (tpl_parse_double(optarg, &o->hold))
				goto bad;
			break;
		case OPT_MAX_SECONDS:
			if (tpl_parse_double(optarg, &o->max_seconds))
				goto bad;
			break;
		case OPT_RSS_LIMIT:
			if (tpl_parse_size(optarg, &v))
				goto bad;
			o->rss_limit_kb = v / 1024;
			break;
		case OPT_WATCH:
			if (o->nwatch == TPL_MAX_WATCH ||
			    tpl_parse_size(optarg, &v) || v == 0 ||
			    v > INT32_MAX)
				goto bad;
			o->watch[o->nwatch++] = (long)v;
			break;
		case OPT_EXPECT:
			if (strcmp(optarg, "fail") == 0) {
				o->expect_reply = -1;
			} else if (strcmp(optarg, "ok") == 0) {
				o->expect_reply = -2;
			} else if (tpl_parse_double(optarg, &d) == 0 &&
			           d >= 1 && d <= 255) {
				o->expect_reply = (int)d;
			} else {
				goto bad;
			}
			break;
		case OPT_SLOW_SIDE:
			if (strcmp(optarg, "client") == 0)
				o->slow_client = true;
			else if (strcmp(optarg, "server") == 0)
				o->slow_client = false;
			else
				goto bad;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->target) {
		log_err("--target HOST:PORT is required");
		return -EINVAL;
	}
	return 0;
bad:
	log_err("bad value for --%s: \"%s\"",
	    tpc_long_opts[opt - OPT_SOCKS].name, optarg);
	return -EINVAL;
}

/* Sets up a client with n streams; the caller fills in their kinds. */
static int
tpc_client_init(struct tpc_client *cl, const struct tpc_opts *o, int n)
{
	memset(cl, 0, sizeof(*cl));
	if (tpl_parse_addr(o->target, &cl->target)) {
		log_err("--target wants HOST:PORT, got \"%s\"", o->target);
		return -EINVAL;
	}
	if (strlen(cl->target.host) > 255) {
		log_err("--target host name longer than 255 bytes");
		return -EINVAL;
	}
	cl->force_name = o->force_name;
	if (o->socks) {
		if (tpl_parse_addr(o->socks, &cl->socks) ||
		    cl->socks.family == AF_UNSPEC) {
			log_err(
			    "--socks wants ADDR:PORT with a literal address, got \"%s\"",
			    o->socks);
			return -EINVAL;
		}
		cl->use_socks = true;
	} else if (cl->target.family == AF_UNSPEC) {
		log_err("without --socks, --target must be a literal address");
		return -EINVAL;
	}
	cl->base = event_base_new();
	cl->streams = calloc((size_t)n, sizeof(*cl->streams));
	if (!cl->base || !cl->streams)
		return -ENOMEM;
	cl->nstreams = n;
	for (int i = 0; i < n; i++) {
		cl->streams[i].cl = cl;
		cl->streams[i].idx = i;
		cl->streams[i].state = TPC_DONE; /* not started */
		cl->streams[i].socks_reply = -1;
	}
	cl->nwatch = o->nwatch;
	for (int i = 0; i < o->nwatch; i++) {
		cl->watch_pid[i] = o->watch[i];
		cl->rss_base_kb[i] = tpl_rss_kb(o->watch[i]);
		cl->rss_max_kb[i] = cl->rss_base_kb[i];
		if (cl->rss_base_kb[i] < 0) {
			log_err("cannot read the RSS of pid %ld", o->watch[i]);
			return -ESRCH;
		}
	}
	if (cl->nwatch > 0) {
		struct timeval tv = {0, 100000};

		cl->rss_ev =
		    event_new(cl->base, -1, EV_PERSIST, tpc_rss_cb, cl);
		event_add(cl->rss_ev, &tv);
	}
	cl->t0 = tpl_now();
	return 0;
}

static void
tpc_client_clear(struct tpc_client *cl)
{
	for (int i = 0; cl->streams && i < cl->nstreams; i++) {
		if (cl->streams[i].bev)
			bufferevent_free(cl->streams[i].bev);
		if (cl->streams[i].rate)
			ev_token_bucket_cfg_free(cl->streams[i].rate);
	}
	free(cl->streams);
	if (cl->rss_ev)
		event_free(cl->rss_ev);
	if (cl->base)
		event_base_free(cl->base);
}

/* Runs the loop until every stream ended or the timeout; returns the exit
 * code that the timeout set, or 0. */
static int
tpc_run(struct tpc_client *cl, double timeout)
{
	struct timeval tv;
	struct event *tev;

	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
	tev = evtimer_new(cl->base, tpc_timeout_cb, cl);
	evtimer_add(tev, &tv);
	event_base_dispatch(cl->base);
	event_free(tev);
	return cl->exit_code;
}

static void
tpc_on_end_exit_when_idle(struct tpc_stream *s)
{
	if (s->state == TPC_FAILED)
		log_err("stream %d: %s (after %.2f s)", s->idx, s->error,
		    s->t_end - s->t_start);
	if (s->cl->running == 0)
		event_base_loopexit(s->cl->base, NULL);
}

/* For a probe: a SOCKS failure may be the expected outcome. */
static void
tpc_on_end_quiet(struct tpc_stream *s)
{
	if (s->cl->running == 0)
		event_base_loopexit(s->cl->base, NULL);
}

/* Reports the RSS watch; returns false if a limit was exceeded. */
static bool
tpc_rss_report(struct tpc_client *cl, uint64_t limit_kb)
{
	bool ok = true;

	tpc_rss_cb(-1, 0, cl);
	for (int i = 0; i < cl->nwatch; i++) {
		long growth = cl->rss_max_kb[i] - cl->rss_base_kb[i];

		printf(
		    "pid %ld: RSS %ld KiB at start, %ld KiB at most (+%ld KiB)\n",
		    cl->watch_pid[i], cl->rss_base_kb[i], cl->rss_max_kb[i],
		    growth);
		if (limit_kb && growth > (long)limit_kb) {
			log_err(
			    "pid %ld: RSS grew by %ld KiB, more than the limit of %" PRIu64
			    " KiB",
			    cl->watch_pid[i], growth, limit_kb);
			ok = false;
		}
	}
	return ok;
}

static int
tpl_cmd_echo(int argc, char **argv)
{
	struct tpc_opts o;
	struct tpc_client cl;
	int rc;
	double t;
	uint64_t total = 0;

	if (tpc_parse_opts(argc, argv, &o))
		return TPL_EXIT_USAGE;
	if (tpc_client_init(&cl, &o, (int)o.streams)) {
		rc = TPL_EXIT_USAGE;
		goto out;
	}
	cl.on_end = tpc_on_end_exit_when_idle;
	for (int i = 0; i < cl.nstreams; i++) {
		struct tpc_stream *s = &cl.streams[i];

		s->kind = TPC_ECHO;
		s->seed_tx = s->seed_rx = o.seed * 1000003ULL + (uint64_t)i;
		s->tx_total = s->tx_limit = s->rx_total = o.bytes;
		s->shut_early = o.shut_early;
	}
	for (int i = 0; i < cl.nstreams; i++)
		tpc_stream_start(&cl.streams[i]);
	rc = tpc_run(&cl, o.timeout);
	t = tpl_now() - cl.t0;
	for (int i = 0; i < cl.nstreams; i++) {
		struct tpc_stream *s = &cl.streams[i];

		if (s->state == TPC_FAILED && (rc == 0 || s->mismatch))
			rc = tpc_fail_code(s);
		if (s->state == TPC_DONE)
			total += s->rx_done;
	}
	if (rc == 0 && o.max_seconds > 0 && t > o.max_seconds) {
		log_err("took %.2f s, more than the bound of %.2f s", t,
		    o.max_seconds);
		rc = TPL_EXIT_CHECK;
	}
	if (!tpc_rss_report(&cl, o.rss_limit_kb) && rc == 0)
		rc = TPL_EXIT_CHECK;
	printf("echo: %d stream(s) x %" PRIu64 " bytes, %" PRIu64
	       " bytes verified in %.2f s (%.1f MiB/s): %s\n",
	    cl.nstreams, o.bytes, total, t,
	    t > 0 ? (double)total / t / 1048576 : 0.0, rc ? "FAILED" : "ok");
out:
	tpc_client_clear(&cl);
	return rc;
}

/* slow: one slow reader, then fast streams beside it. */
struct tpl_slow_state {
	struct tpc_opts *o;
	int fast_done;
	int fast_failed;
	int fast_mismatch;
	double fast_max;
	struct event *phase_ev;
	bool holding;
};

static void
tpl_slow_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpc_client *cl = arg;

	event_base_loopexit(cl->base, NULL);
}

static void
tpl_slow_on_end(struct tpc_stream *s)
{
	struct tpc_client *cl = s->cl;
	struct tpl_slow_state *st = cl->arg;

	if (s->idx == 0) {
		/* The slow stream must outlive the test. */
		log_err("slow stream ended early: %s", s->error);
		cl->exit_code = tpc_fail_code(s);
		event_base_loopexit(cl->base, NULL);
		return;
	}
	if (s->state == TPC_FAILED) {
		log_err("fast stream %d: %s", s->idx, s->error);
		st->fast_failed++;
		if (s->mismatch)
			st->fast_mismatch++;
	} else {
		double d = s->t_end - s->t_start;

		printf("fast stream %d: %" PRIu64 " bytes echoed in %.2f s\n",
		    s->idx, s->rx_done, d);
		if (d > st->fast_max)
			st->fast_max = d;
	}
	if (++st->fast_done == cl->nstreams - 1) {
		/* Keep the slow stream pressing a bit longer while the RSS
		 * watch runs. */
		struct timeval tv;

		tv.tv_sec = (time_t)st->o->hold;
		tv.tv_usec =
		    (suseconds_t)((st->o->hold - (double)tv.tv_sec) * 1e6);
		event_free(st->phase_ev);
		st->phase_ev = evtimer_new(cl->base, tpl_slow_hold_cb, cl);
		evtimer_add(st->phase_ev, &tv);
		st->holding = true;
	}
}

static void
tpl_slow_start_fast_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tpc_client *cl = arg;
	struct tpc_stream *slow = &cl->streams[0];

	printf("slow stream: %" PRIu64 " bytes sent, %" PRIu64
	       " received after warm-up\n",
	    slow->tx_done, slow->rx_done);
	for (int i = 1; i < cl->nstreams; i++)
		tpc_stream_start(&cl->streams[i]);
}

static int
tpl_cmd_slow(int argc, char **argv)
{
	struct tpc_opts o;
	struct tpc_client cl;
	struct tpl_slow_state st;
	struct tpc_stream *slow;
	struct timeval tv;
	int rc;

	if (tpc_parse_opts(argc, argv, &o))
		return TPL_EXIT_USAGE;
	memset(&st, 0, sizeof(st));
	st.o = &o;
	if (tpc_client_init(&cl, &o, (int)o.streams + 1)) {
		rc = TPL_EXIT_USAGE;
		goto out;
	}
	cl.on_end = tpl_slow_on_end;
	cl.arg = &st;
	slow = &cl.streams[0];
	slow->kind = o.slow_client ? TPC_SLOWSRC : TPC_SLOW;
	slow->seed_tx = slow->seed_rx = o.seed * 1000003ULL + 999;
	slow->slow_rate = o.slow_rate;
	slow->tx_total = slow->tx_limit = o.slow_client ? 0 : o.slow_bytes;
	slow->rx_total = o.slow_bytes;
	for (int i = 1; i < cl.nstreams; i++) {
		struct tpc_stream *s = &cl.streams[i];

		s->kind = TPC_ECHO;
		s->seed_tx = s->seed_rx = o.seed * 1000003ULL + (uint64_t)i;
		s->tx_total = s->tx_limit = s->rx_total = o.bytes;
	}
	tpc_stream_start(slow);
	tv.tv_sec = (time_t)o.warmup;
	tv.tv_usec = (suseconds_t)((o.warmup - (double)tv.tv_sec) * 1e6);
	st.phase_ev = evtimer_new(cl.base, tpl_slow_start_fast_cb, &cl);
	evtimer_add(st.phase_ev, &tv);
	rc = tpc_run(&cl, o.timeout);
	printf("slow stream (%s reads slowly): %" PRIu64 " bytes sent, %" PRIu64
	       " received in %.2f s (limit %" PRIu64 " bytes/s)\n",
	    o.slow_client ? "the application" : "the destination",
	    slow->tx_done, slow->rx_done, tpl_now() - slow->t_start,
	    o.slow_rate);
	if (rc == 0 && st.fast_failed)
		rc = st.fast_mismatch ? TPL_EXIT_CHECK : TPL_EXIT_STREAM;
	if (rc == 0 && !st.holding)
		rc = TPL_EXIT_CHECK;
	if (rc == 0 && o.max_seconds > 0 && st.fast_max > o.max_seconds) {
		log_err(
		    "the slowest fast stream took %.2f s, more than the bound of %.2f s",
		    st.fast_max, o.max_seconds);
		rc = TPL_EXIT_CHECK;
	}
	if (!tpc_rss_report(&cl, o.rss_limit_kb) && rc == 0)
		rc = TPL_EXIT_CHECK;
	printf(
	    "slow: %d fast stream(s) beside a slow reader, slowest %.2f s: %s\n",
	    cl.nstreams - 1, st.fast_max, rc ? "FAILED" : "ok");
out:
	if (st.phase_ev)
		event_free(st.phase_ev);
	tpc_client_clear(&cl);
	return rc;
}

/* halfclose: the server sends its bytes and half-closes first; we send half
 * of ours before its FIN and half after, then half-close; a second
 * connection asks the server what it received. */
static int
tpl_cmd_halfclose(int argc, char **argv)
{
	struct tpc_opts o;
	struct tpc_client cl;
	struct tpc_stream *h, *r;
	int rc, tries = 0;
	unsigned long long count, hash;

	if (tpc_parse_opts(argc, argv, &o))
		return TPL_EXIT_USAGE;
	if (tpc_client_init(&cl, &o, 2)) {
		rc = TPL_EXIT_USAGE;
		goto out;
	}
	cl.on_end = tpc_on_end_exit_when_idle;
	h = &cl.streams[0];
	r = &cl.streams[1];
	h->kind = TPC_HALFSRV;
	h->seed_tx = o.seed * 1000003ULL + 7;
	h->seed_rx = o.seed * 1000003ULL + 8;
	h->tx_total = o.bytes;
	h->tx_limit = o.bytes / 2;
	h->rx_total = o.bytes;
	snprintf(h->token, sizeof(h->token), "hc-%ld-%" PRIu64, (long)getpid(),
	    o.seed);
	tpc_stream_start(h);
	rc = tpc_run(&cl, o.timeout);
	if (rc)
		goto out;
	if (h->state != TPC_DONE) {
		rc = tpc_fail_code(h);
		goto out;
	}
	printf(
	    "halfclose: received %" PRIu64
	    " bytes and the server's EOF, then sent %" PRIu64
	    " bytes in all, the second half into the half-closed connection\n",
	    h->rx_done, h->tx_done);
	/* Ask until the server has seen our EOF. */
	for (;;) {
		double left = o.timeout - (tpl_now() - cl.t0);

		memset(r->answer, 0, sizeof(r->answer));
		r->kind = TPC_RESULT;
		r->eof = false;
		r->shut_wr = false;
		snprintf(r->token, sizeof(r->token), "%s", h->token);
		if (left <= 0) {
			rc = TPL_EXIT_TIMEOUT;
			goto out;
		}
		tpc_stream_start(r);
		rc = tpc_run(&cl, left);
		if (rc)
			goto out;
		if (r->state == TPC_FAILED) {
			rc = TPL_EXIT_STREAM;
			goto out;
		}
		if (strncmp(r->answer, "DONE ", 5) == 0)
			break;
		if (strncmp(r->answer, "PENDING", 7) != 0 || ++tries > 50) {
			log_err("RESULT query: unexpected answer \"%s\"",
			    r->answer);
			rc = TPL_EXIT_CHECK;
			goto out;
		}
		usleep(100000);
	}
	if (sscanf(r->answer, "DONE %llu %llx", &count, &hash) != 2) {
		log_err("RESULT query: unparsable answer \"%s\"", r->answer);
		rc = TPL_EXIT_CHECK;
		goto out;
	}
	if (count != h->tx_done || hash != h->tx_hash) {
		log_err(
		    "the server received %llu bytes (hash %016llx), we sent %" PRIu64
		    " (hash %016" PRIx64 ")",
		    count, hash, h->tx_done, h->tx_hash);
		rc = TPL_EXIT_CHECK;
		goto out;
	}
	printf(
	    "halfclose: the server received all %llu bytes, also those sent after its FIN\n",
	    count);
out:
	printf("halfclose: %s\n", rc ? "FAILED" : "ok");
	tpc_client_clear(&cl);
	return rc;
}

/* reset: the destination sends --bytes and resets; we must see a reset (a
 * clean EOF would hide the truncation), after a correct prefix. abort: we
 * reset an echo stream midway; the script checks that the echo server saw
 * the reset. */
static int
tpl_cmd_reset_common(int argc, char **argv, enum tpc_kind kind)
{
	struct tpc_opts o;
	struct tpc_client cl;
	struct tpc_stream *s;
	int rc;

	if (tpc_parse_opts(argc, argv, &o))
		return TPL_EXIT_USAGE;
	if (tpc_client_init(&cl, &o, 1)) {
		rc = TPL_EXIT_USAGE;
		goto out;
	}
	cl.on_end = tpc_on_end_exit_when_idle;
	s = &cl.streams[0];
	s->kind = kind;
	s->seed_tx = s->seed_rx = o.seed * 1000003ULL + 11;
	s->rx_total = o.bytes;
	s->tx_total = s->tx_limit = kind == TPC_ABORT ? o.bytes : 0;
	tpc_stream_start(s);
	rc = tpc_run(&cl, o.timeout);
	if (rc == 0 && s->state == TPC_FAILED)
		rc = tpc_fail_code(s);
	if (rc == 0 && kind == TPC_ABORT)
		printf("abort: reset the stream after %" PRIu64
		       " bytes sent, %" PRIu64 " echoed\n",
		    s->tx_done, s->rx_done);
out:
	tpc_client_clear(&cl);
	return rc;
}

static int
tpl_cmd_reset(int argc, char **argv)
{
	return tpl_cmd_reset_common(argc, argv, TPC_RSTRECV);
}

static int
tpl_cmd_abort(int argc, char **argv)
{
	return tpl_cmd_reset_common(argc, argv, TPC_ABORT);
}

static int
tpl_cmd_connect(int argc, char **argv)
{
	struct tpc_opts o;
	struct tpc_client cl;
	struct tpc_stream *s;
	int rc;

	if (tpc_parse_opts(argc, argv, &o))
		return TPL_EXIT_USAGE;
	if (!o.socks) {
		log_err("connect needs --socks");
		return TPL_EXIT_USAGE;
	}
	if (tpc_client_init(&cl, &o, 1)) {
		rc = TPL_EXIT_USAGE;
		goto out;
	}
	cl.on_end = tpc_on_end_quiet;
	s = &cl.streams[0];
	s->kind = TPC_PROBE;
	tpc_stream_start(s);
	rc = tpc_run(&cl, o.timeout);
	if (rc)
		goto out;
	if (s->socks_reply < 0) {
		printf("connect: no SOCKS reply: %s\n", s->error);
		rc = TPL_EXIT_STREAM;
		goto out;
	}
	printf("connect: SOCKS reply %d (%s) after %.3f s\n", s->socks_reply,
	    tpl_socks_reply_name(s->socks_reply), s->t_socks - s->t_start);
	if (o.expect_reply == -2)
		rc = s->socks_reply == 0 ? 0 : TPL_EXIT_CHECK;
	else if (o.expect_reply == -1)
		rc = s->socks_reply != 0 ? 0 : TPL_EXIT_CHECK;
	else
		rc = s->socks_reply == o.expect_reply ? 0 : TPL_EXIT_CHECK;
	if (rc == 0 && o.max_seconds > 0 &&
	    s->t_socks - s->t_start > o.max_seconds) {
		log_err("the reply took %.3f s, more than %.3f s",
		    s->t_socks - s->t_start, o.max_seconds);
		rc = TPL_EXIT_CHECK;
	}
	if (rc)
		log_err("unexpected SOCKS reply %d", s->socks_reply);
out:
	tpc_client_clear(&cl);
	return rc;
}

static int
tpl_cmd_freeport(int argc, char **argv)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return TPL_EXIT_CHECK;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		log_err("cannot bind 127.0.0.1 port 0: %s", strerror(errno));
		close(fd);
		return TPL_EXIT_CHECK;
	}
	printf("%u\n", ntohs(sin.sin_port));
	close(fd);
	return 0;
}

/* The value at a dotted path ("a.b.0.c"), or NULL. */
static cJSON *
tpl_json_at(cJSON *v, const char *dotted)
{
	char path[256], *tok, *save = NULL;

	if (snprintf(path, sizeof(path), "%s", dotted) >= (int)sizeof(path))
		return NULL;
	for (tok = strtok_r(path, ".", &save); tok && v;
	     tok = strtok_r(NULL, ".", &save)) {
		char *end;
		long idx = strtol(tok, &end, 10);

		if (cJSON_IsArray(v) && *end == '\0' && end != tok)
			v = idx >= 0 && idx <= INT_MAX
			        ? cJSON_GetArrayItem(v, (int)idx)
			        : NULL;
		else
			v = cJSON_GetObjectItemCaseSensitive(v, tok);
	}
	return v;
}

/* json PATH: reads one JSON document (or JSON lines: the last one that
 * parses) from stdin and prints the value at PATH ("a.b.0.c"). */
static int
tpl_cmd_json(int argc, char **argv)
{
	char *buf = malloc(TPL_JSON_MAX + 1);
	size_t n = 0;
	cJSON *doc = NULL, *v = NULL;
	char *path = NULL, *save = NULL;
	int rc = TPL_EXIT_CHECK;

	if (argc != 2 || !buf) {
		log_err("usage: tp-load json PATH < document");
		free(buf);
		return TPL_EXIT_USAGE;
	}
	while (n < TPL_JSON_MAX) {
		size_t r = fread(buf + n, 1, TPL_JSON_MAX - n, stdin);

		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	path = strdup(argv[1]);
	if (!path)
		goto out;
	/* One document, or JSON lines: the last line that has the path. */
	doc = cJSON_ParseWithOpts(buf, NULL, true);
	v = doc ? tpl_json_at(doc, path) : NULL;
	if (!doc) {
		char *line = strtok_r(buf, "\n", &save);

		for (; line; line = strtok_r(NULL, "\n", &save)) {
			cJSON *d = cJSON_Parse(line);
			cJSON *dv = d ? tpl_json_at(d, path) : NULL;

			if (dv) {
				cJSON_Delete(doc);
				doc = d;
				v = dv;
			} else {
				cJSON_Delete(d);
			}
		}
	}
	if (!v) {
		log_err("no value at %s", argv[1]);
		goto out;
	}
	if (cJSON_IsString(v)) {
		printf("%s\n", v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		if (v->valuedouble == (double)(long long)v->valuedouble)
			printf("%lld\n", (long long)v->valuedouble);
		else
			printf("%g\n", v->valuedouble);
	} else {
		char *s = cJSON_PrintUnformatted(v);

		printf("%s\n", s ? s : "");
		free(s);
	}
	rc = 0;
out:
	cJSON_Delete(doc);
	free(path);
	free(buf);
	return rc;
}

static void
tpl_usage(FILE *f)
{
	fprintf(f,
	    "usage: tp-load COMMAND [options]\n"
	    "  serve [--listen 127.0.0.1:0] [--port-file F] [--also-ipv6]\n"
	    "        [--corrupt-at OFFSET]\n"
	    "  echo --target H:P [--socks H:P] [--name] [--bytes N] [--streams K]\n"
	    "       [--seed S] [--shut early|late] [--max-seconds X] [--timeout S]\n"
	    "  slow --target H:P --socks H:P [--slow-rate B/s] [--streams K]\n"
	    "       [--bytes N] [--warmup S] [--hold S] [--max-seconds X]\n"
	    "       [--watch-pid PID]... [--rss-limit BYTES] [--timeout S]\n"
	    "       [--slow-side server|client]  (who reads slowly)\n"
	    "  halfclose --target H:P [--socks H:P] [--bytes N] [--timeout S]\n"
	    "  reset --target H:P [--socks H:P] [--bytes N]   (expects a reset)\n"
	    "  abort --target H:P [--socks H:P] [--bytes N]   (resets midway)\n"
	    "  connect --target H:P --socks H:P [--name] [--expect ok|fail|CODE]\n"
	    "          [--max-seconds X] [--timeout S]\n"
	    "  freeport\n"
	    "  json PATH < document\n"
	    "Sizes take k, M, G suffixes (binary). Exit: 0 ok, 1 check failed,\n"
	    "2 timeout, 3 stream failed, 64 usage.\n");
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {{"serve", tpl_cmd_serve}, {"echo", tpl_cmd_echo},
	    {"slow", tpl_cmd_slow}, {"halfclose", tpl_cmd_halfclose},
	    {"connect", tpl_cmd_connect}, {"reset", tpl_cmd_reset},
	    {"abort", tpl_cmd_abort}, {"freeport", tpl_cmd_freeport},
	    {"json", tpl_cmd_json}};

	log_init("tp-load", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		tpl_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? TPL_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	}
	log_err("unknown command \"%s\"", argv[1]);
	tpl_usage(stderr);
	return TPL_EXIT_USAGE;
}
