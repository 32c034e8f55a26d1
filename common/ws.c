/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws: an RFC 6455 WebSocket client over a libevent bufferevent, for the
 * Kubernetes port-forward. The first half holds the pure codec (frame
 * headers, masking, the accept key, the upgrade answer's head, close
 * payloads, UTF-8, chunked error bodies); the second half runs one
 * connection: it writes the upgrade request at once, parses the answer
 * (reading a refused upgrade's body so the caller can decode the API
 * server's Status), then reassembles messages from frames, answers pings,
 * sends its own pings for liveness, and runs the close handshake.
 *
 * A client is freed only when no callback of its is running: callbacks are
 * made with ws->busy raised, and ws_client_free() inside one only marks the
 * client doomed; the outermost handler frees it on the way out.
 */
#include "common/ws.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"

#define WS_GUID                 "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_DEFAULT_HANDSHAKE_MS 30000
#define WS_CLOSE_TIMEOUT_MS     5000
#define WS_DEFAULT_WRITE_LOW    (64 * 1024)
#define WS_MISSED_PINGS_MAX     3

/* ---------------------------------------------------------------------- */
/* pure functions */

static bool
ws_opcode_known(uint8_t op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	       op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

int
ws_frame_parse(const uint8_t *buf, size_t len, uint64_t max_payload,
    struct ws_frame_header *ret)
{
	struct ws_frame_header h;
	size_t need = 2;
	uint64_t n;

	if (len < 2)
		return 0;
	memset(&h, 0, sizeof(h));
	h.fin = (buf[0] & 0x80) != 0;
	h.opcode = buf[0] & 0x0f;
	h.masked = (buf[1] & 0x80) != 0;
	if ((buf[0] & 0x70) != 0 || !ws_opcode_known(h.opcode))
		return -EPROTO;
	n = buf[1] & 0x7f;
	if (n == 126)
		need += 2;
	else if (n == 127)
		need += 8;
	if (h.masked)
		need += 4;
	if (len < need)
		return 0;
	if (n == 126) {
		n = (uint64_t)buf[2] << 8 | buf[3];
		if (n < 126)
			return -EPROTO;
	} else if (n == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		if ((n >> 63) != 0 || n <= 0xffff)
			return -EPROTO;
	}
	if (h.opcode >= 0x8 && (!h.fin || n > WS_MAX_CONTROL))
		return -EPROTO;
	if (n > max_payload)
		return -EMSGSIZE;
	if (h.masked)
		memcpy(h.mask, buf + need - 4, 4);
	h.len = n;
	h.header_len = need;
	*ret = h;
	return (int)need;
}

size_t
ws_frame_header_write(uint8_t out[WS_MAX_HEADER], bool fin, uint8_t opcode,
    uint64_t len, const uint8_t *mask)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	size_t i = 0;
	uint64_t m64;
	uint8_t rot[8];

	/* Byte by byte up to an 8-byte boundary of the data, then 8 at a
	 * time with the mask rotated to the current offset. */
	for (; i < len && ((uintptr_t)(data + i) & 7) != 0; i++)
		data[i] ^= mask[(offset + i) & 3];
	for (int k = 0; k < 8; k++)
		rot[k] = mask[(offset + i + (uint64_t)k) & 3];
	memcpy(&m64, rot, 8);
	for (; i + 8 <= len; i += 8) {
		uint64_t v;

		memcpy(&v, data + i, 8);
		v ^= m64;
		memcpy(data + i, &v, 8);
	}
	for (; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}

int
ws_key_new(char out[WS_KEY_LEN + 1])
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	out[WS_KEY_LEN] = '\0';
	return 0;
}

static bool
ws_is_b64(int c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '=';
}

int
ws_accept_compute(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char cat[WS_KEY_LEN + sizeof(WS_GUID)];

	if (strlen(key) != WS_KEY_LEN)
		return -EINVAL;
	for (size_t i = 0; i < WS_KEY_LEN; i++)
		if (!ws_is_b64((unsigned char)key[i]))
			return -EINVAL;
	memcpy(cat, key, WS_KEY_LEN);
	memcpy(cat + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID));
	SHA1((const unsigned char *)cat, strlen(cat), md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
	out[WS_ACCEPT_LEN] = '\0';
	return 0;
}

static bool
ws_is_tchar(int c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Copies the trimmed value v[0..n) into out; false when it does not fit. */
static bool
ws_copy_value(char *out, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(out, v, n);
	out[n] = '\0';
	return true;
}

/* True when the comma-separated list v[0..n) holds token (any case). */
static bool
ws_list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

/* One header line name[0..nl): value[0..vl) into r. */
static int
ws_response_header(struct ws_response *r, const char *name, size_t nl,
    const char *value, size_t vl)
{
#define WS_IS(s) (nl == sizeof(s) - 1 && strncasecmp(name, s, nl) == 0)
	if (WS_IS("Upgrade")) {
		if (vl == 9 && strncasecmp(value, "websocket", 9) == 0)
			r->upgrade_websocket = true;
	} else if (WS_IS("Connection")) {
		if (ws_list_has(value, vl, "upgrade"))
			r->connection_upgrade = true;
		if (ws_list_has(value, vl, "close"))
			r->connection_close = true;
	} else if (WS_IS("Sec-WebSocket-Accept")) {
		if (r->has_accept)
			return -EPROTO;
		if (!ws_copy_value(r->accept, sizeof(r->accept), value, vl))
			return -EPROTO;
		r->has_accept = true;
	} else if (WS_IS("Sec-WebSocket-Protocol")) {
		if (r->has_protocol)
			return -EPROTO;
		if (!ws_copy_value(r->protocol, sizeof(r->protocol), value, vl))
			return -EPROTO;
		r->has_protocol = true;
	} else if (WS_IS("Sec-WebSocket-Extensions")) {
		r->has_extensions = true;
	} else if (WS_IS("Content-Length")) {
		long long v = 0;

		if (vl == 0 || vl > 18 || r->content_length >= 0)
			return -EPROTO;
		for (size_t i = 0; i < vl; i++) {
			if (value[i] < '0' || value[i] > '9')
				return -EPROTO;
			v = v * 10 + (value[i] - '0');
		}
		r->content_length = v;
	} else if (WS_IS("Transfer-Encoding")) {
		if (ws_list_has(value, vl, "chunked"))
			r->chunked = true;
	} else if (WS_IS("Content-Type")) {
		/* Cut to fit: only for messages. */
		size_t n = vl < sizeof(r->content_type) - 1
		               ? vl
		               : sizeof(r->content_type) - 1;

		memcpy(r->content_type, value, n);
		r->content_type[n] = '\0';
	}
#undef WS_IS
	return 0;
}

int
ws_response_parse(const char *buf, size_t len, struct ws_response *ret)
{
	struct ws_response r;
	const char *end = NULL, *p, *eol;
	size_t head,
	    scan = len < WS_MAX_RESPONSE_HEAD ? len : WS_MAX_RESPONSE_HEAD;
	int status = 0;

	for (size_t i = 0; i + 4 <= scan; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i;
			break;
		}
	if (end == NULL)
		return len >= WS_MAX_RESPONSE_HEAD ? -EMSGSIZE : 0;
	head = (size_t)(end - buf) + 4;
	if (memchr(buf, '\0', head) != NULL)
		return -EPROTO;
	memset(&r, 0, sizeof(r));
	r.content_length = -1;
	/* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
	eol = memchr(buf, '\r', (size_t)(end - buf) + 1);
	if (eol == NULL || eol - buf < 12 ||
	    (memcmp(buf, "HTTP/1.1 ", 9) != 0 &&
	        memcmp(buf, "HTTP/1.0 ", 9) != 0))
		return -EPROTO;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EPROTO;
		status = status * 10 + (buf[i] - '0');
	}
	if (status < 100 || (eol - buf > 12 && buf[12] != ' '))
		return -EPROTO;
	r.status = status;
	if (eol - buf > 13) {
		size_t n = (size_t)(eol - buf - 13);

		if (n >= sizeof(r.reason))
			n = sizeof(r.reason) - 1;
		memcpy(r.reason, buf + 13, n);
		r.reason[n] = '\0';
	}
	for (p = eol + 2; p < end + 2; p = eol + 2) {
		const char *colon, *v, *ve;
		int rc;

		eol = memchr(p, '\r', (size_t)(end + 2 - p));
		if (eol == NULL || eol[1] != '\n')
			return -EPROTO;
		if (eol == p)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return -EPROTO;
		for (const char *q = p; q < colon; q++)
			if (!ws_is_tchar((unsigned char)*q))
				return -EPROTO;
		for (const char *q = colon + 1; q < eol; q++)
			if (*q == '\n')
				return -EPROTO;
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		rc = ws_response_header(
		    &r, p, (size_t)(colon - p), v, (size_t)(ve - v));
		if (rc < 0)
			return rc;
	}
	*ret = r;
	return (int)head;
}

int
ws_response_check(const struct ws_response *r, const char *key,
    const char *const *protocols, size_t n, char *err, size_t errlen)
{
	char want[WS_ACCEPT_LEN + 1];
	bool offered = false;

	if (r->status != 101) {
		snprintf(err, errlen,
		    "the server answered %d %s instead of 101 Switching Protocols",
		    r->status, r->reason);
		return -EPROTO;
	}
	if (!r->upgrade_websocket || !r->connection_upgrade) {
		snprintf(err, errlen,
		    "the server's 101 answer lacks Upgrade: websocket or Connection: Upgrade");
		return -EPROTO;
	}
	if (ws_accept_compute(key, want) < 0 || !r->has_accept ||
	    strcmp(want, r->accept) != 0) {
		snprintf(err, errlen,
		    "the server's Sec-WebSocket-Accept does not match our key (a proxy that does not speak WebSocket?)");
		return -EPROTO;
	}
	if (r->has_extensions) {
		snprintf(err, errlen,
		    "the server enabled a WebSocket extension we did not offer");
		return -EPROTO;
	}
	if (!r->has_protocol) {
		if (n == 0)
			return 0;
		snprintf(err, errlen,
		    "the server chose no WebSocket subprotocol; we need %s",
		    protocols[0]);
		return -EPROTO;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(protocols[i], r->protocol) == 0)
			offered = true;
	if (!offered) {
		char esc[64];

		snprintf(err, errlen,
		    "the server chose the WebSocket subprotocol \"%s\", which we did not offer",
		    log_escape(
		        esc, sizeof(esc), r->protocol, strlen(r->protocol)));
		return -EPROTO;
	}
	return 0;
}

bool
ws_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

int
ws_close_parse(const uint8_t *payload, size_t len, uint16_t *ret_code)
{
	uint16_t code;

	if (len == 0) {
		*ret_code = WS_CLOSE_NO_STATUS;
		return 0;
	}
	if (len == 1 || len > WS_MAX_CONTROL)
		return -EPROTO;
	code = (uint16_t)(payload[0] << 8 | payload[1]);
	if (!((code >= 1000 && code <= 1003) ||
	        (code >= 1007 && code <= 1014) ||
	        (code >= 3000 && code <= 4999)))
		return -EPROTO;
	if (!ws_utf8_valid(payload + 2, len - 2))
		return -EPROTO;
	*ret_code = code;
	return 0;
}

int
ws_dechunk(const char *in, size_t inlen, char *out, size_t cap, size_t *ret_len)
{
	size_t i = 0, o = 0;

	for (;;) {
		unsigned long long n = 0;
		size_t digits = 0;

		while (i < inlen && isxdigit((unsigned char)in[i])) {
			int c = tolower((unsigned char)in[i]);

			if (++digits > 15)
				return -EPROTO;
			n = n * 16 +
			    (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
			i++;
		}
		if (i == inlen)
			goto more;
		if (digits == 0)
			return -EPROTO;
		/* Chunk extensions up to the line end. */
		while (i < inlen && in[i] != '\r') {
			if (in[i] == '\n' || in[i] == '\0')
				return -EPROTO;
			i++;
		}
		if (i + 2 > inlen)
			goto more;
		if (in[i + 1] != '\n')
			return -EPROTO;
		i += 2;
		if (n == 0) {
			/* Trailers, then the empty line. */
			for (;;) {
				const char *eol = NULL;

				for (size_t k = i; k + 1 < inlen; k++)
					if (in[k] == '\r' &&
					    in[k + 1] == '\n') {
						eol = in + k;
						break;
					}
				if (eol == NULL)
					goto more;
				if (eol == in + i) {
					*ret_len = o;
					return 1;
				}
				i = (size_t)(eol - in) + 2;
			}
		}
		if (n > inlen - i)
			goto more;
		if (inlen - i - n < 2)
			goto more;
		if (o < cap) {
			size_t k = n < cap - o ? (size_t)n : cap - o;

			memcpy(out + o, in + i, k);
			o += k;
		}
		i += (size_t)n;
		if (in[i] != '\r' || in[i + 1] != '\n')
			return -EPROTO;
		i += 2;
	}
more:
	*ret_len = o;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* the client */

enum ws_state {
	WS_HANDSHAKE,  /* request sent, reading the answer's head */
	WS_ERROR_BODY, /* a refused upgrade: reading its body */
	WS_OPEN,
	WS_CLOSING,   /* our Close sent, waiting for the server's */
	WS_DRAINING,  /* failed: our Close sent, discarding until the end */
	WS_FINISHING, /* flushing our last frame before reporting */
	WS_DONE,
};

struct ws_client {
	struct event_base *base;
	struct bufferevent *bev;
	struct ws_callbacks cb;
	void *arg;
	enum ws_state state;
	char key[WS_KEY_LEN + 1];
	char *protocols[WS_MAX_PROTOCOLS];
	size_t n_protocols;
	char protocol[WS_MAX_PROTOCOL_LEN + 1];
	size_t max_message;
	size_t write_low;
	int ping_ms;
	struct ws_response resp;
	struct evbuffer *msg; /* the message being reassembled */
	int msg_opcode;
	bool in_message;
	struct event *timer;     /* handshake / close deadline */
	struct event *ping_ev;   /* periodic ping */
	struct event *finish_ev; /* report from the loop */
	struct event *resume_ev; /* reading resumed: handle what waits */
	unsigned missed;         /* ping intervals without a frame */
	bool read_on;            /* the consumer wants messages */
	bool eof;                /* the transport ended */
	bool above_low;          /* output went above write_low */
	int busy;
	bool doomed;
	struct ws_close_info info; /* what closed will report */
	char *body;                /* a refused upgrade's body */
	size_t body_len;
};

static void ws_process(struct ws_client *ws);

static void
ws_destroy(struct ws_client *ws)
{
	if (ws->timer != NULL)
		event_free(ws->timer);
	if (ws->ping_ev != NULL)
		event_free(ws->ping_ev);
	if (ws->finish_ev != NULL)
		event_free(ws->finish_ev);
	if (ws->resume_ev != NULL)
		event_free(ws->resume_ev);
	if (ws->bev != NULL)
		bufferevent_free(ws->bev);
	if (ws->msg != NULL)
		evbuffer_free(ws->msg);
	for (size_t i = 0; i < ws->n_protocols; i++)
		free(ws->protocols[i]);
	free(ws->body);
	free(ws);
}

void
ws_client_free(struct ws_client *ws)
{
	if (ws == NULL)
		return;
	if (ws->busy > 0) {
		ws->doomed = true;
		if (ws->bev != NULL)
			bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
		return;
	}
	ws_destroy(ws);
}

/* Leaves a callback section; frees a client freed inside it. Returns
 * false when the client is gone. */
static bool
ws_leave(struct ws_client *ws)
{
	if (--ws->busy == 0 && ws->doomed) {
		ws_destroy(ws);
		return false;
	}
	return !ws->doomed;
}

/* Reports the end (once) and stops everything. The caller returns right
 * after: the client may be freed by the callback. */
static void
ws_report(struct ws_client *ws)
{
	const char *ct = ws->resp.content_type;

	if (ws->state == WS_DONE)
		return;
	ws->state = WS_DONE;
	if (ws->bev != NULL)
		bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
	if (ws->timer != NULL)
		event_del(ws->timer);
	if (ws->ping_ev != NULL)
		event_del(ws->ping_ev);
	if (ws->info.http_status != 0) {
		ws->info.http_body = ws->body ? ws->body : "";
		ws->info.http_body_len = ws->body_len;
		ws->info.http_content_type = ct;
	} else {
		ws->info.http_content_type = "";
	}
	log_debug(LOG_CAT_KUBE, "websocket: closed (err %d, code %u%s%s)",
	    ws->info.err, ws->info.code, ws->info.detail[0] ? ": " : "",
	    ws->info.detail);
	ws->busy++;
	if (ws->cb.closed != NULL)
		ws->cb.closed(ws, &ws->info, ws->arg);
	ws_leave(ws);
}

static void ws_set_end(struct ws_client *ws, int err, uint16_t code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records why the client ends (the first reason wins). */
static void
ws_set_end(struct ws_client *ws, int err, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	if (ws->info.err != 0 || ws->info.detail[0] != '\0')
		return;
	ws->info.err = err;
	if (ws->info.code == 0)
		ws->info.code = code;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(ws->info.detail, sizeof(ws->info.detail), fmt, ap);
		va_end(ap);
	}
}

/* Writes one frame with a fresh mask. */
static int
ws_write_frame(struct ws_client *ws, uint8_t opcode, const void *prefix,
    size_t plen, const void *data, struct evbuffer *src, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(ws->bev);
	uint8_t mask[4], hdr[WS_MAX_HEADER];
	size_t total = plen + len, hl;
	struct evbuffer_iovec vec;
	uint8_t *p;

	if (RAND_bytes(mask, sizeof(mask)) != 1)
		return -EIO;
	hl = ws_frame_header_write(hdr, true, opcode, total, mask);
	if (evbuffer_reserve_space(out, (ev_ssize_t)(hl + total), &vec, 1) <
	        1 ||
	    vec.iov_len < hl + total)
		return -ENOMEM;
	p = vec.iov_base;
	memcpy(p, hdr, hl);
	if (plen > 0)
		memcpy(p + hl, prefix, plen);
	if (src != NULL) {
		if (evbuffer_copyout(src, p + hl + plen, len) !=
		    (ev_ssize_t)len)
			return -EINVAL;
	} else if (len > 0) {
		memcpy(p + hl + plen, data, len);
	}
	ws_mask(p + hl, total, mask, 0);
	vec.iov_len = hl + total;
	if (evbuffer_commit_space(out, &vec, 1) < 0)
		return -ENOMEM;
	if (src != NULL)
		evbuffer_drain(src, len);
	if (evbuffer_get_length(out) > ws->write_low)
		ws->above_low = true;
	return 0;
}

static void
ws_send_close(struct ws_client *ws, uint16_t code, const char *reason)
{
	uint8_t p[2 + WS_CLOSE_REASON_MAX];
	size_t rl = reason ? strlen(reason) : 0;

	if (rl > WS_CLOSE_REASON_MAX)
		rl = WS_CLOSE_REASON_MAX;
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (rl > 0)
		memcpy(p + 2, reason, rl);
	(void)ws_write_frame(ws, WS_OP_CLOSE, NULL, 0, p, NULL, 2 + rl);
}

static void
ws_arm_timer(struct ws_client *ws, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_add(ws->timer, &tv);
}

/* Ends after our last frame is flushed (or the close timeout). */
static void
ws_finish_after_flush(struct ws_client *ws)
{
	ws->state = WS_FINISHING;
	ws->read_on = false;
	if (ws->ping_ev != NULL)
		event_del(ws->ping_ev);
	bufferevent_disable(ws->bev, EV_READ);
	bufferevent_setwatermark(ws->bev, EV_WRITE, 0, 0);
	ws_arm_timer(ws, WS_CLOSE_TIMEOUT_MS);
	if (evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0)
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
}

/*
 * Fails the connection (RFC 6455 7.1.7): a Close with code when we may
 * still send one, then the end. With linger, what the server still sends
 * is read and dropped until it closes (at most the close time-out):
 * closing our socket with unread bytes would reset the connection, and
 * the server might never read our Close and its code.
 */
static void
ws_fail(
    struct ws_client *ws, int err, uint16_t code, const char *what, bool linger)
{
	ws_set_end(ws, err, WS_CLOSE_ABNORMAL, "%s", what);
	if ((ws->state == WS_OPEN || ws->state == WS_CLOSING) && !ws->eof) {
		if (ws->state == WS_OPEN)
			ws_send_close(ws, code, NULL);
		if (!linger) {
			ws_finish_after_flush(ws);
			return;
		}
		ws->state = WS_DRAINING;
		ws->in_message = false;
		event_del(ws->ping_ev);
		ws_arm_timer(ws, WS_CLOSE_TIMEOUT_MS);
		bufferevent_enable(ws->bev, EV_READ);
		evbuffer_drain(bufferevent_get_input(ws->bev),
		    evbuffer_get_length(bufferevent_get_input(ws->bev)));
		return;
	}
	ws->state = WS_FINISHING;
	event_active(ws->finish_ev, EV_TIMEOUT, 0);
}

static void
ws_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	ws_report(arg);
}

static void
ws_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_client *ws = arg;

	if (ws->state != WS_DONE && ws->state != WS_FINISHING)
		ws_process(ws);
}

static void
ws_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_client *ws = arg;

	switch (ws->state) {
	case WS_HANDSHAKE:
	case WS_ERROR_BODY:
		ws_set_end(ws, -ETIMEDOUT, WS_CLOSE_ABNORMAL,
		    "no answer to the WebSocket upgrade in time");
		break;
	case WS_CLOSING:
		ws_set_end(ws, -ETIMEDOUT, WS_CLOSE_ABNORMAL,
		    "the server did not answer our Close in time");
		break;
	default:
		break;
	}
	ws_report(ws);
}

static void
ws_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_client *ws = arg;

	if (ws->state != WS_OPEN)
		return;
	if (++ws->missed >= WS_MISSED_PINGS_MAX) {
		ws->busy++;
		ws_fail(ws, -ETIMEDOUT, WS_CLOSE_GOING_AWAY,
		    "the server sent nothing, not even a pong, for three ping intervals",
		    false);
		ws_leave(ws);
		return;
	}
	(void)ws_write_frame(ws, WS_OP_PING, NULL, 0, "", NULL, 0);
}

/* The answer's head is in; 101 opens, anything else reads the body. */
static void
ws_handshake(struct ws_client *ws)
{
	struct evbuffer *in = bufferevent_get_input(ws->bev);
	size_t len = evbuffer_get_length(in);
	size_t scan = len < WS_MAX_RESPONSE_HEAD ? len : WS_MAX_RESPONSE_HEAD;
	char err[256];
	int r;

	r = ws_response_parse(
	    (const char *)evbuffer_pullup(in, (ev_ssize_t)scan), scan,
	    &ws->resp);
	if (r == 0 && len < WS_MAX_RESPONSE_HEAD)
		return;
	if (r == -EPROTO) {
		ws_set_end(ws, r, WS_CLOSE_ABNORMAL,
		    "the server's answer to the upgrade is not valid HTTP/1.1");
		ws->state = WS_FINISHING;
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
		return;
	}
	if (r <= 0) {
		ws_set_end(ws, -EMSGSIZE, WS_CLOSE_ABNORMAL,
		    "the server's answer to the upgrade is longer than %d bytes",
		    WS_MAX_RESPONSE_HEAD);
		ws->state = WS_FINISHING;
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
		return;
	}
	evbuffer_drain(in, (size_t)r);
	if (ws->resp.status != 101) {
		ws->info.http_status = ws->resp.status;
		ws_set_end(ws, -EPROTO, WS_CLOSE_ABNORMAL,
		    "the server refused the upgrade: %d %s", ws->resp.status,
		    ws->resp.reason);
		ws->state = WS_ERROR_BODY;
		return;
	}
	r = ws_response_check(&ws->resp, ws->key,
	    (const char *const *)ws->protocols, ws->n_protocols, err,
	    sizeof(err));
	if (r < 0) {
		ws_set_end(ws, r, WS_CLOSE_ABNORMAL, "%s", err);
		ws->state = WS_FINISHING;
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
		return;
	}
	if (ws->resp.has_protocol)
		snprintf(ws->protocol, sizeof(ws->protocol), "%s",
		    ws->resp.protocol);
	ws->state = WS_OPEN;
	ws->info.opened = true;
	event_del(ws->timer);
	if (ws->ping_ms > 0) {
		struct timeval tv = {
		    ws->ping_ms / 1000, (ws->ping_ms % 1000) * 1000};

		event_add(ws->ping_ev, &tv);
	}
	log_debug(
	    LOG_CAT_KUBE, "websocket: open, subprotocol \"%s\"", ws->protocol);
	if (ws->cb.open != NULL)
		ws->cb.open(ws, ws->arg);
}

/* Collects a refused upgrade's body; true when it is complete. */
static bool
ws_error_body(struct ws_client *ws)
{
	struct evbuffer *in = bufferevent_get_input(ws->bev);
	size_t len = evbuffer_get_length(in);
	size_t cap = WS_MAX_ERROR_BODY + 4096;

	if (ws->resp.content_length >= 0 && !ws->resp.chunked) {
		size_t want = ws->resp.content_length > WS_MAX_ERROR_BODY
		                  ? WS_MAX_ERROR_BODY
		                  : (size_t)ws->resp.content_length;

		if (len < want && !ws->eof)
			return false;
		if (len > want)
			len = want;
	} else if (ws->resp.chunked) {
		char *out;
		size_t olen = 0;
		int r;

		if (len > cap)
			len = cap;
		out = malloc(WS_MAX_ERROR_BODY + 1);
		if (out == NULL)
			return true;
		r = ws_dechunk(
		    (const char *)evbuffer_pullup(in, (ev_ssize_t)len), len,
		    out, WS_MAX_ERROR_BODY, &olen);
		if (r == 0 && !ws->eof && len < cap) {
			free(out);
			return false;
		}
		out[olen] = '\0';
		free(ws->body);
		ws->body = out;
		ws->body_len = olen;
		return true;
	} else if (!ws->eof && len < WS_MAX_ERROR_BODY) {
		/* Delimited by the end of the connection. */
		return false;
	}
	if (len > WS_MAX_ERROR_BODY)
		len = WS_MAX_ERROR_BODY;
	free(ws->body);
	ws->body = malloc(len + 1);
	if (ws->body != NULL) {
		evbuffer_copyout(in, ws->body, len);
		ws->body[len] = '\0';
		ws->body_len = len;
	}
	return true;
}

/* A control frame's payload (at most 125 bytes, unmasked). */
static void
ws_control(struct ws_client *ws, uint8_t op, const uint8_t *p, size_t len)
{
	uint16_t code;

	switch (op) {
	case WS_OP_PING:
		if (ws->state == WS_OPEN)
			(void)ws_write_frame(
			    ws, WS_OP_PONG, NULL, 0, p, NULL, len);
		return;
	case WS_OP_PONG:
		return;
	case WS_OP_CLOSE:
		if (ws_close_parse(p, len, &code) < 0) {
			ws_fail(ws, -EPROTO, WS_CLOSE_PROTOCOL_ERROR,
			    "the server sent an invalid Close frame", true);
			return;
		}
		ws->info.code = code;
		if (len > 2)
			log_escape(ws->info.reason, sizeof(ws->info.reason),
			    (const char *)p + 2, len - 2);
		if (ws->state == WS_OPEN) {
			/* Echo the code (RFC 6455 5.5.1). */
			if (code == WS_CLOSE_NO_STATUS)
				(void)ws_write_frame(
				    ws, WS_OP_CLOSE, NULL, 0, "", NULL, 0);
			else
				ws_send_close(ws, code, NULL);
		}
		if (ws->in_message)
			ws_set_end(ws, -ECONNRESET, code,
			    "the server closed in the middle of a message");
		ws_finish_after_flush(ws);
		return;
	default:
		return;
	}
}

/* Handles every complete frame in the input while reading is wanted. */
static void
ws_frames(struct ws_client *ws)
{
	struct evbuffer *in = bufferevent_get_input(ws->bev);

	while ((ws->state == WS_OPEN || ws->state == WS_CLOSING) &&
	       ws->read_on && !ws->doomed) {
		size_t len = evbuffer_get_length(in), room;
		struct ws_frame_header h;
		uint8_t *p;
		int r;

		if (len < 2)
			break;
		p = evbuffer_pullup(
		    in, len < WS_MAX_HEADER ? (ev_ssize_t)len : WS_MAX_HEADER);
		room = ws->max_message -
		       (ws->in_message ? evbuffer_get_length(ws->msg) : 0);
		r = ws_frame_parse(
		    p, len < WS_MAX_HEADER ? len : WS_MAX_HEADER, room, &h);
		if (r == 0)
			break;
		if (r < 0) {
			if (r == -EMSGSIZE)
				ws_fail(ws, -EMSGSIZE, WS_CLOSE_TOO_BIG,
				    "the server sent a message over our limit",
				    true);
			else
				ws_fail(ws, -EPROTO, WS_CLOSE_PROTOCOL_ERROR,
				    "the server sent a malformed frame", true);
			return;
		}
		if (h.masked) {
			ws_fail(ws, -EPROTO, WS_CLOSE_PROTOCOL_ERROR,
			    "the server sent a masked frame", true);
			return;
		}
		if (len < h.header_len + h.len)
			break;
		ws->missed = 0;
		evbuffer_drain(in, h.header_len);
		if (h.opcode >= 0x8) {
			uint8_t ctl[WS_MAX_CONTROL];

			evbuffer_remove(in, ctl, (size_t)h.len);
			ws_control(ws, h.opcode, ctl, (size_t)h.len);
			continue;
		}
		if (h.opcode == WS_OP_CONT ? !ws->in_message : ws->in_message) {
			ws_fail(ws, -EPROTO, WS_CLOSE_PROTOCOL_ERROR,
			    ws->in_message
			        ? "the server started a message inside another"
			        : "the server continued a message it never started",
			    true);
			return;
		}
		if (h.opcode != WS_OP_CONT) {
			ws->in_message = true;
			ws->msg_opcode = h.opcode;
		}
		if (h.len > 0 && evbuffer_remove_buffer(in, ws->msg,
		                     (size_t)h.len) != (int)h.len) {
			ws_fail(ws, -ENOMEM, WS_CLOSE_INTERNAL, "out of memory",
			    false);
			return;
		}
		if (!h.fin)
			continue;
		ws->in_message = false;
		if (ws->msg_opcode == WS_OP_TEXT &&
		    !ws_utf8_valid(evbuffer_pullup(ws->msg, -1),
		        evbuffer_get_length(ws->msg))) {
			ws_fail(ws, -EPROTO, WS_CLOSE_INVALID_DATA,
			    "the server sent a text message that is not UTF-8",
			    true);
			return;
		}
		if (ws->cb.message != NULL)
			ws->cb.message(ws, ws->msg_opcode, ws->msg, ws->arg);
		if (ws->doomed)
			return;
		evbuffer_drain(ws->msg, evbuffer_get_length(ws->msg));
	}
}

static void
ws_process(struct ws_client *ws)
{
	ws->busy++;
	if (ws->state == WS_HANDSHAKE)
		ws_handshake(ws);
	if (!ws->doomed && ws->state == WS_ERROR_BODY && ws_error_body(ws)) {
		ws->state = WS_FINISHING;
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
	}
	if (!ws->doomed)
		ws_frames(ws);
	if (!ws->doomed && ws->state == WS_DRAINING) {
		struct evbuffer *in = bufferevent_get_input(ws->bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		if (ws->eof)
			event_active(ws->finish_ev, EV_TIMEOUT, 0);
	}
	if (!ws->doomed && ws->eof && ws->read_on &&
	    (ws->state == WS_OPEN || ws->state == WS_CLOSING)) {
		/* Everything before the end is handled: report it. */
		if (ws->state == WS_OPEN || !ws->info.opened)
			ws_set_end(ws, -ECONNRESET, WS_CLOSE_ABNORMAL,
			    ws->in_message
			        ? "the server closed the connection in the middle of a message"
			        : "the server closed the connection without a Close frame");
		else
			ws_set_end(ws, -ECONNRESET, WS_CLOSE_ABNORMAL,
			    "the server closed the connection without answering our Close");
		ws->state = WS_FINISHING;
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
	}
	ws_leave(ws);
}

static void
ws_read_cb(struct bufferevent *bev, void *arg)
{
	ws_process(arg);
}

static void
ws_write_cb(struct bufferevent *bev, void *arg)
{
	struct ws_client *ws = arg;

	if (ws->state == WS_FINISHING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			ws_report(ws);
		return;
	}
	if (ws->state != WS_OPEN || !ws->above_low)
		return;
	ws->above_low = false;
	if (ws->cb.writable != NULL) {
		ws->busy++;
		ws->cb.writable(ws, ws->arg);
		ws_leave(ws);
	}
}

/* Why the transport failed, into detail; returns the errno to report. */
static int
ws_transport_error(struct ws_client *ws, char *detail, size_t len)
{
	int dns = bufferevent_socket_get_dns_error(ws->bev);
	int e = EVUTIL_SOCKET_ERROR();
	unsigned long ssl_err = bufferevent_get_openssl_error(ws->bev);

	if (dns != 0) {
		snprintf(detail, len, "cannot resolve the server's name: %s",
		    evutil_gai_strerror(dns));
		return -EHOSTUNREACH;
	}
	if (ssl_err != 0) {
		SSL *ssl = bufferevent_openssl_get_ssl(ws->bev);
		long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
		char buf[256];

		ERR_error_string_n(ssl_err, buf, sizeof(buf));
		if (vr != X509_V_OK)
			snprintf(detail, len,
			    "TLS failed: the server's certificate is not trusted (%s)",
			    X509_verify_cert_error_string(vr));
		else
			snprintf(detail, len, "TLS failed: %s", buf);
		while (bufferevent_get_openssl_error(ws->bev) != 0)
			;
		ERR_clear_error();
		return -EPROTO;
	}
	if (e == 0)
		e = ECONNRESET;
	snprintf(detail, len, "%s", evutil_socket_error_to_string(e));
	switch (e) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ETIMEDOUT:
		return -e;
	default:
		return -ECONNRESET;
	}
}

static void
ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ws_client *ws = arg;
	char detail[WS_DETAIL_MAX];

	if (what & BEV_EVENT_CONNECTED) {
		log_debug(LOG_CAT_KUBE, "websocket: transport connected");
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	ws->busy++;
	ws->eof = true;
	switch (ws->state) {
	case WS_HANDSHAKE:
		if (what & BEV_EVENT_ERROR) {
			int err =
			    ws_transport_error(ws, detail, sizeof(detail));

			ws_set_end(ws, err, WS_CLOSE_ABNORMAL, "%s", detail);
		} else {
			ws_set_end(ws, -ECONNRESET, WS_CLOSE_ABNORMAL,
			    "the server closed the connection before answering the upgrade");
		}
		ws_report(ws);
		break;
	case WS_ERROR_BODY:
		ws_process(ws);
		if (ws->state == WS_ERROR_BODY)
			ws_report(ws);
		break;
	case WS_FINISHING:
	case WS_DRAINING:
		ws_report(ws);
		break;
	case WS_OPEN:
	case WS_CLOSING:
		if (what & BEV_EVENT_ERROR) {
			int err =
			    ws_transport_error(ws, detail, sizeof(detail));

			ws_set_end(ws, err, WS_CLOSE_ABNORMAL, "%s", detail);
			ws_report(ws);
			break;
		}
		/* Frames may still wait in the input (reading paused):
		 * ws_process() reports once they are handled. */
		ws_process(ws);
		break;
	case WS_DONE:
		break;
	}
	ws_leave(ws);
}

static bool
ws_header_allowed(const char *line)
{
	static const char *const forbidden[] = {
	    "host:", "upgrade:", "connection:", "sec-websocket-",
	    "content-length:", "transfer-encoding:"};
	const char *colon = strchr(line, ':');

	if (colon == NULL || colon == line ||
	    strlen(line) > WS_MAX_HEADER_LINE || strpbrk(line, "\r\n") != NULL)
		return false;
	for (const char *q = line; q < colon; q++)
		if (!ws_is_tchar((unsigned char)*q))
			return false;
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(*forbidden); i++)
		if (strncasecmp(line, forbidden[i], strlen(forbidden[i])) == 0)
			return false;
	return true;
}

static bool
ws_protocol_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > WS_MAX_PROTOCOL_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ws_is_tchar((unsigned char)p[i]))
			return false;
	return true;
}

static int
ws_write_request(struct ws_client *ws, const struct ws_client_config *cfg)
{
	struct evbuffer *out = bufferevent_get_output(ws->bev);
	int r = 0;

	r |= evbuffer_add_printf(out,
	         "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	         "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	         "Sec-WebSocket-Key: %s\r\n",
	         cfg->path, cfg->host, ws->key) < 0;
	if (ws->n_protocols > 0) {
		r |= evbuffer_add_printf(out, "Sec-WebSocket-Protocol: ") < 0;
		for (size_t i = 0; i < ws->n_protocols; i++)
			r |= evbuffer_add_printf(out, "%s%s", i ? ", " : "",
			         ws->protocols[i]) < 0;
		r |= evbuffer_add_printf(out, "\r\n") < 0;
	}
	for (size_t i = 0; i < cfg->n_headers; i++)
		r |= evbuffer_add_printf(out, "%s\r\n", cfg->headers[i]) < 0;
	r |= evbuffer_add_printf(out, "\r\n") < 0;
	return r ? -ENOMEM : 0;
}

int
ws_client_new(struct event_base *base, struct bufferevent *bev,
    const struct ws_client_config *cfg, const struct ws_callbacks *cb,
    void *arg, struct ws_client **ret)
{
	struct ws_client *ws = NULL;
	int r = -EINVAL;

	if (cfg->host == NULL || cfg->host[0] == '\0' || cfg->path == NULL ||
	    cfg->path[0] != '/' || strpbrk(cfg->host, "\r\n ") != NULL ||
	    strpbrk(cfg->path, "\r\n ") != NULL ||
	    cfg->n_protocols > WS_MAX_PROTOCOLS ||
	    cfg->n_headers > WS_MAX_EXTRA_HEADERS ||
	    cfg->max_message > WS_MAX_MESSAGE_LIMIT)
		goto out;
	for (size_t i = 0; i < cfg->n_protocols; i++)
		if (!ws_protocol_ok(cfg->protocols[i]))
			goto out;
	for (size_t i = 0; i < cfg->n_headers; i++)
		if (!ws_header_allowed(cfg->headers[i]))
			goto out;
	r = -ENOMEM;
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		goto out;
	ws->base = base;
	ws->bev = bev;
	bev = NULL;
	ws->cb = *cb;
	ws->arg = arg;
	ws->max_message =
	    cfg->max_message ? cfg->max_message : WS_DEFAULT_MAX_MESSAGE;
	ws->write_low = cfg->write_low ? cfg->write_low : WS_DEFAULT_WRITE_LOW;
	ws->ping_ms = cfg->ping_interval_ms > 0 ? cfg->ping_interval_ms : 0;
	ws->read_on = true;
	for (size_t i = 0; i < cfg->n_protocols; i++) {
		ws->protocols[i] = strdup(cfg->protocols[i]);
		if (ws->protocols[i] == NULL)
			goto out;
		ws->n_protocols++;
	}
	ws->msg = evbuffer_new();
	ws->timer = evtimer_new(base, ws_timer_cb, ws);
	ws->finish_ev = evtimer_new(base, ws_finish_cb, ws);
	ws->resume_ev = evtimer_new(base, ws_resume_cb, ws);
	ws->ping_ev = event_new(base, -1, EV_PERSIST, ws_ping_cb, ws);
	if (ws->msg == NULL || ws->timer == NULL || ws->finish_ev == NULL ||
	    ws->resume_ev == NULL || ws->ping_ev == NULL)
		goto out;
	if ((r = ws_key_new(ws->key)) < 0)
		goto out;
	if ((r = ws_write_request(ws, cfg)) < 0)
		goto out;
	bufferevent_setcb(ws->bev, ws_read_cb, ws_write_cb, ws_event_cb, ws);
	bufferevent_setwatermark(ws->bev, EV_WRITE, ws->write_low, 0);
	bufferevent_enable(ws->bev, EV_READ | EV_WRITE);
	ws_arm_timer(ws, cfg->handshake_timeout_ms > 0
	                     ? cfg->handshake_timeout_ms
	                     : WS_DEFAULT_HANDSHAKE_MS);
	*ret = ws;
	ws = NULL;
	r = 0;
out:
	if (bev != NULL)
		bufferevent_free(bev);
	if (ws != NULL)
		ws_destroy(ws);
	return r;
}

int
ws_client_send(struct ws_client *ws, int opcode, const void *data, size_t len)
{
	return ws_client_send_evbuffer(ws, opcode, data, len, NULL, 0);
}

int
ws_client_send_evbuffer(struct ws_client *ws, int opcode, const void *prefix,
    size_t plen, struct evbuffer *src, size_t len)
{
	bool control = opcode == WS_OP_PING || opcode == WS_OP_PONG;

	if (ws->state != WS_OPEN || ws->doomed)
		return -ENOTCONN;
	if (!control && opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)
		return -EINVAL;
	if (src != NULL && evbuffer_get_length(src) < len)
		return -EINVAL;
	if (plen > WS_MAX_MESSAGE_LIMIT || len > WS_MAX_MESSAGE_LIMIT - plen)
		return -EMSGSIZE;
	if (control && plen + len > WS_MAX_CONTROL)
		return -EINVAL;
	return ws_write_frame(ws, (uint8_t)opcode, prefix, plen, NULL, src,
	    src != NULL ? len : 0);
}

int
ws_client_close(struct ws_client *ws, uint16_t code, const char *reason)
{
	switch (ws->state) {
	case WS_HANDSHAKE:
	case WS_ERROR_BODY:
		ws_set_end(ws, -ECANCELED, WS_CLOSE_ABNORMAL,
		    "closed before the upgrade finished");
		ws->state = WS_FINISHING;
		bufferevent_disable(ws->bev, EV_READ);
		event_active(ws->finish_ev, EV_TIMEOUT, 0);
		return 0;
	case WS_OPEN:
		if (ws->eof) {
			ws_set_end(ws, -ECONNRESET, WS_CLOSE_ABNORMAL,
			    "the server closed the connection without a Close frame");
			ws->state = WS_FINISHING;
			event_active(ws->finish_ev, EV_TIMEOUT, 0);
			return 0;
		}
		ws_send_close(ws, code, reason);
		ws->state = WS_CLOSING;
		event_del(ws->ping_ev);
		ws_arm_timer(ws, WS_CLOSE_TIMEOUT_MS);
		return 0;
	default:
		return -EALREADY;
	}
}

void
ws_client_set_read(struct ws_client *ws, bool on)
{
	if (ws->read_on == on || ws->state == WS_DONE ||
	    ws->state == WS_FINISHING || ws->state == WS_DRAINING)
		return;
	ws->read_on = on;
	if (!on) {
		bufferevent_disable(ws->bev, EV_READ);
		return;
	}
	if (!ws->eof)
		bufferevent_enable(ws->bev, EV_READ);
	/* Frames (or the end) that arrived meanwhile are waiting; handle
	 * them from the loop, not inside this call. */
	if (evbuffer_get_length(bufferevent_get_input(ws->bev)) > 0 || ws->eof)
		event_active(ws->resume_ev, EV_TIMEOUT, 0);
}

size_t
ws_client_output_pending(const struct ws_client *ws)
{
	return evbuffer_get_length(bufferevent_get_output(ws->bev));
}

const char *
ws_client_protocol(const struct ws_client *ws)
{
	return ws->protocol;
}

bool
ws_client_is_open(const struct ws_client *ws)
{
	return ws->state == WS_OPEN;
}
