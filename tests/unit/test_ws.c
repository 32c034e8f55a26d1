/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ws: common/ws, the RFC 6455 client. The pure codec first (frame
 * headers at every length form and every truncation, the errors the RFC
 * names, masking in pieces, the RFC's accept example, the response head,
 * close payloads, UTF-8, chunked bodies, and a bit-flip/truncation loop
 * over sample inputs), then whole connections against a scripted server on
 * the other end of a bufferevent pair: negotiation and the request's
 * headers, fragmented messages with a ping in between, masked sends,
 * both close handshakes, a refused upgrade's Status body (sized and
 * chunked), a server that ends mid-message, masked or oversized server
 * frames, a wrong accept key or subprotocol, time-outs and back-pressure.
 * (The same client against an independent server, the npm `ws` package,
 * is tests/integration/test-ws-peer.sh.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/ws.h"
#include "tests/unit/cunit_main.h"

/* ---------------------------------------------------------------------- */
/* pure codec */

static void
test_frame_lengths(void)
{
	static const uint64_t lens[] = {
	    0, 1, 125, 126, 127, 65535, 65536, 1u << 20};
	static const uint8_t mask[4] = {1, 2, 3, 4};

	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		for (int m = 0; m < 2; m++) {
			uint8_t hdr[WS_MAX_HEADER];
			struct ws_frame_header h;
			size_t n = ws_frame_header_write(
			    hdr, true, WS_OP_BINARY, lens[i], m ? mask : NULL);

			CU_ASSERT_EQUAL(
			    ws_frame_parse(hdr, n, 1u << 20, &h), (int)n);
			CU_ASSERT_EQUAL(h.len, lens[i]);
			CU_ASSERT_EQUAL(h.header_len, n);
			CU_ASSERT(h.fin);
			CU_ASSERT_EQUAL(h.opcode, WS_OP_BINARY);
			CU_ASSERT_EQUAL(h.masked, m == 1);
			if (m)
				CU_ASSERT_EQUAL(memcmp(h.mask, mask, 4), 0);
			CU_ASSERT_EQUAL(
			    n, (size_t)((lens[i] < 126         ? 2
			                    : lens[i] <= 65535 ? 4
			                                       : 10) +
			                (m ? 4 : 0)));
			for (size_t k = 0; k < n; k++)
				CU_ASSERT_EQUAL(
				    ws_frame_parse(hdr, k, 1u << 20, &h), 0);
		}
	}
}

static void
test_frame_errors(void)
{
	struct ws_frame_header h;
	uint8_t b[14];

	/* reserved bits */
	for (int bit = 4; bit < 7; bit++) {
		b[0] = (uint8_t)(0x82 | 1 << bit);
		b[1] = 0;
		CU_ASSERT_EQUAL(ws_frame_parse(b, 2, 100, &h), -EPROTO);
	}
	/* unknown opcodes */
	for (int op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10)
			continue;
		b[0] = (uint8_t)(0x80 | op);
		b[1] = 0;
		CU_ASSERT_EQUAL(ws_frame_parse(b, 2, 100, &h), -EPROTO);
	}
	/* fragmented control frame, control frame over 125 bytes */
	b[0] = WS_OP_PING;
	b[1] = 0;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 2, 100, &h), -EPROTO);
	b[0] = 0x80 | WS_OP_CLOSE;
	b[1] = 126;
	b[2] = 0;
	b[3] = 126;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 4, 1000, &h), -EPROTO);
	/* non-minimal lengths */
	b[0] = 0x82;
	b[1] = 126;
	b[2] = 0;
	b[3] = 100;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 4, 1000, &h), -EPROTO);
	b[1] = 127;
	memset(b + 2, 0, 8);
	b[9] = 200;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 10, 1000, &h), -EPROTO);
	/* 64-bit length with the top bit set */
	b[2] = 0x80;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 10, UINT64_MAX, &h), -EPROTO);
	/* over the caller's limit */
	b[1] = 126;
	b[2] = 0x10;
	b[3] = 0x00;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 4, 4095, &h), -EMSGSIZE);
	CU_ASSERT_EQUAL(ws_frame_parse(b, 4, 4096, &h), 4);
	/* continuation, not final */
	b[0] = 0x00;
	b[1] = 5;
	CU_ASSERT_EQUAL(ws_frame_parse(b, 2, 100, &h), 2);
	CU_ASSERT(!h.fin);
	CU_ASSERT_EQUAL(h.opcode, WS_OP_CONT);
}

static void
test_mask(void)
{
	uint8_t a[1000], b[1000], orig[1000];
	const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

	for (size_t i = 0; i < sizeof(a); i++)
		orig[i] = (uint8_t)(i * 7 + 3);
	/* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d. */
	memcpy(a, "Hello", 5);
	ws_mask(a, 5, mask, 0);
	CU_ASSERT_EQUAL(memcmp(a, "\x7f\x9f\x4d\x51\x58", 5), 0);
	/* In pieces at odd offsets and alignments equals in one go. */
	memcpy(a, orig, sizeof(a));
	memcpy(b, orig, sizeof(b));
	ws_mask(a, sizeof(a), mask, 0);
	for (size_t off = 0, step = 1; off < sizeof(b); off += step, step++) {
		size_t n = step < sizeof(b) - off ? step : sizeof(b) - off;

		ws_mask(b + off, n, mask, off);
	}
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	ws_mask(a + 3, sizeof(a) - 3, mask, 3);
	ws_mask(a, 3, mask, 0);
	CU_ASSERT_EQUAL(memcmp(a, orig, sizeof(a)), 0);
}

static void
test_accept(void)
{
	char out[WS_ACCEPT_LEN + 1], k1[WS_KEY_LEN + 1], k2[WS_KEY_LEN + 1];

	/* RFC 6455 section 1.3 */
	CU_ASSERT_EQUAL(ws_accept_compute("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	CU_ASSERT_STRING_EQUAL(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CU_ASSERT_EQUAL(ws_accept_compute("short", out), -EINVAL);
	CU_ASSERT_EQUAL(
	    ws_accept_compute("dGhlIHNhbXBsZSBub25jZQ=\n", out), -EINVAL);
	CU_ASSERT_EQUAL(ws_key_new(k1), 0);
	CU_ASSERT_EQUAL(ws_key_new(k2), 0);
	CU_ASSERT_EQUAL(strlen(k1), WS_KEY_LEN);
	CU_ASSERT_NOT_EQUAL(strcmp(k1, k2), 0);
	CU_ASSERT_EQUAL(ws_accept_compute(k1, out), 0);
}

static const char good_head[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
    "\r\n";

static void
test_response_parse(void)
{
	struct ws_response r;
	char buf[WS_MAX_RESPONSE_HEAD + 100];
	const char *protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
	char err[256];
	size_t n;

	n = strlen(good_head);
	CU_ASSERT_EQUAL(ws_response_parse(good_head, n, &r), (int)n);
	CU_ASSERT_EQUAL(r.status, 101);
	CU_ASSERT_STRING_EQUAL(r.reason, "Switching Protocols");
	CU_ASSERT(r.upgrade_websocket && r.connection_upgrade);
	CU_ASSERT_STRING_EQUAL(r.protocol, "v4.channel.k8s.io");
	CU_ASSERT_EQUAL(r.content_length, -1);
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==",
	                    protos, 2, err, sizeof(err)),
	    0);
	/* Trailing frame bytes are not part of the head. */
	snprintf(buf, sizeof(buf), "%s\x82\x01X", good_head);
	CU_ASSERT_EQUAL(ws_response_parse(buf, n + 3, &r), (int)n);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(ws_response_parse(good_head, k, &r), 0);

	/* check failures */
	CU_ASSERT_EQUAL(ws_response_check(&r, "AAAAAAAAAAAAAAAAAAAAAA==",
	                    protos, 2, err, sizeof(err)),
	    -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Accept"));
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==",
	                    protos, 1, err, sizeof(err)),
	    -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not offer"));
	r.has_protocol = false;
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==",
	                    protos, 2, err, sizeof(err)),
	    -EPROTO);
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", NULL,
	                    0, err, sizeof(err)),
	    0);
	r.has_extensions = true;
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", NULL,
	                    0, err, sizeof(err)),
	    -EPROTO);
	r.has_extensions = false;
	r.upgrade_websocket = false;
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", NULL,
	                    0, err, sizeof(err)),
	    -EPROTO);

	/* A refused upgrade with a body. */
	snprintf(buf, sizeof(buf),
	    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
	    "Content-Length: 17\r\nconnection: keep-alive, Upgrade\r\n\r\n");
	CU_ASSERT(ws_response_parse(buf, strlen(buf), &r) > 0);
	CU_ASSERT_EQUAL(r.status, 403);
	CU_ASSERT_EQUAL(r.content_length, 17);
	CU_ASSERT(r.connection_upgrade);
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
	CU_ASSERT_EQUAL(ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", NULL,
	                    0, err, sizeof(err)),
	    -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "403"));
	snprintf(buf, sizeof(buf),
	    "HTTP/1.1 500 x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	CU_ASSERT(ws_response_parse(buf, strlen(buf), &r) > 0);
	CU_ASSERT(r.chunked);

	/* malformed */
	static const char *const bad[] = {
	    "HTTP/2 101 x\r\n\r\n",
	    "HTTP/1.1 1O1 x\r\n\r\n",
	    "HTTP/1.1 101x\r\n\r\n",
	    "HTTP/1.1 099 x\r\n\r\n",
	    "ICY 200 OK\r\n\r\n",
	    "HTTP/1.1 101 x\r\nNoColon\r\n\r\n",
	    "HTTP/1.1 101 x\r\n: empty name\r\n\r\n",
	    "HTTP/1.1 101 x\r\nBad Name: v\r\n\r\n",
	    "HTTP/1.1 101 x\r\nA: b\nC: d\r\n\r\n",
	    "HTTP/1.1 101 x\r\nSec-WebSocket-Accept: a\r\n"
	    "Sec-WebSocket-Accept: a\r\n\r\n",
	    "HTTP/1.1 101 x\r\nSec-WebSocket-Protocol: a\r\n"
	    "sec-websocket-protocol: b\r\n\r\n",
	    "HTTP/1.1 403 x\r\nContent-Length: 12a\r\n\r\n",
	    "HTTP/1.1 403 x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
	    "HTTP/1.1 403 x\r\nContent-Length: 9999999999999999999\r\n\r\n",
	    "HTTP/1.1 101 x\r\nSec-WebSocket-Accept: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaa\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int rc = ws_response_parse(bad[i], strlen(bad[i]), &r);

		if (rc != -EPROTO)
			fprintf(stderr, "bad head %zu: %d\n", i, rc);
		CU_ASSERT_EQUAL(rc, -EPROTO);
	}
	memcpy(buf, "HTTP/1.1 101 x\r\nA: \0\r\n\r\n", 25);
	CU_ASSERT_EQUAL(ws_response_parse(buf, 25, &r), -EPROTO);
	/* too long without an end */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "HTTP/1.1 101 x\r\nX: ", 19);
	CU_ASSERT_EQUAL(
	    ws_response_parse(buf, WS_MAX_RESPONSE_HEAD - 1, &r), 0);
	CU_ASSERT_EQUAL(
	    ws_response_parse(buf, WS_MAX_RESPONSE_HEAD, &r), -EMSGSIZE);
	CU_ASSERT_EQUAL(ws_response_parse(buf, sizeof(buf), &r), -EMSGSIZE);
}

static void
test_close_utf8(void)
{
	uint16_t code = 0;

	CU_ASSERT_EQUAL(ws_close_parse((const uint8_t *)"", 0, &code), 0);
	CU_ASSERT_EQUAL(code, WS_CLOSE_NO_STATUS);
	CU_ASSERT_EQUAL(
	    ws_close_parse((const uint8_t *)"\x03", 1, &code), -EPROTO);
	CU_ASSERT_EQUAL(
	    ws_close_parse((const uint8_t *)"\x03\xe8ok", 4, &code), 0);
	CU_ASSERT_EQUAL(code, 1000);
	CU_ASSERT_EQUAL(
	    ws_close_parse((const uint8_t *)"\x0f\xa0", 2, &code), 0);
	CU_ASSERT_EQUAL(code, 4000);
	static const uint16_t bad[] = {
	    0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};

		CU_ASSERT_EQUAL(ws_close_parse(p, 2, &code), -EPROTO);
	}
	CU_ASSERT_EQUAL(
	    ws_close_parse((const uint8_t *)"\x03\xe8\xff", 3, &code), -EPROTO);

	CU_ASSERT(ws_utf8_valid((const uint8_t *)"", 0));
	CU_ASSERT(
	    ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x9c\x93", 11));
	CU_ASSERT(ws_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	CU_ASSERT(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
	CU_ASSERT(
	    !ws_utf8_valid((const uint8_t *)"\xc0\xaf", 2)); /* overlong */
	CU_ASSERT(!ws_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));
	CU_ASSERT(
	    !ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* D800 */
	CU_ASSERT(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
	CU_ASSERT(!ws_utf8_valid((const uint8_t *)"\xe2\x9c", 2)); /* cut */
	CU_ASSERT(!ws_utf8_valid((const uint8_t *)"\x80", 1));
	CU_ASSERT(!ws_utf8_valid((const uint8_t *)"\xc3\x28", 2));
}

static void
test_dechunk(void)
{
	char out[64];
	size_t n = 99;
	const char *body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";

	CU_ASSERT_EQUAL(
	    ws_dechunk(body, strlen(body), out, sizeof(out), &n), 1);
	CU_ASSERT_EQUAL(n, 11);
	CU_ASSERT_EQUAL(memcmp(out, "hello world", 11), 0);
	for (size_t k = 0; k < strlen(body); k++)
		CU_ASSERT_EQUAL(ws_dechunk(body, k, out, sizeof(out), &n), 0);
	/* cut to the caller's room, but still parsed to the end */
	CU_ASSERT_EQUAL(ws_dechunk(body, strlen(body), out, 3, &n), 1);
	CU_ASSERT_EQUAL(n, 3);
	body = "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n";
	CU_ASSERT_EQUAL(
	    ws_dechunk(body, strlen(body), out, sizeof(out), &n), 1);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(ws_dechunk("x\r\n", 3, out, sizeof(out), &n), -EPROTO);
	CU_ASSERT_EQUAL(
	    ws_dechunk("3\r\nabcX\r\n", 9, out, sizeof(out), &n), -EPROTO);
	CU_ASSERT_EQUAL(ws_dechunk("3\nabc", 5, out, sizeof(out), &n), -EPROTO);
	CU_ASSERT_EQUAL(
	    ws_dechunk("fffffffffffffffff\r\n", 19, out, sizeof(out), &n),
	    -EPROTO);
}

/* Bit flips and truncations of sample inputs: never a crash, and only
 * the documented return values. */
static void
test_mutations(void)
{
	uint8_t frame[40];
	size_t fl = ws_frame_header_write(
	    frame, true, WS_OP_TEXT, 20, (const uint8_t *)"abcd");
	char head[sizeof(good_head)];
	size_t hl = strlen(good_head);

	memset(frame + fl, 'x', 20);
	for (size_t bit = 0; bit < (fl + 20) * 8; bit++) {
		uint8_t m[40];
		struct ws_frame_header h;
		int r;

		memcpy(m, frame, sizeof(m));
		m[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		for (size_t len = 0; len <= fl + 20; len++) {
			r = ws_frame_parse(m, len, 1000, &h);
			CU_ASSERT(r == 0 || r == -EPROTO || r == -EMSGSIZE ||
			          (r >= 2 && r <= WS_MAX_HEADER &&
			              (size_t)r <= len && h.len <= 1000));
		}
	}
	for (size_t bit = 0; bit < hl * 8; bit++) {
		struct ws_response r;
		int rc;

		memcpy(head, good_head, hl);
		head[bit / 8] ^= (char)(1 << (bit % 8));
		rc = ws_response_parse(head, hl, &r);
		CU_ASSERT(
		    rc == 0 || rc == -EPROTO || (rc > 0 && rc <= (int)hl));
		rc = ws_response_parse(head, bit / 8, &r);
		CU_ASSERT(rc == 0 || rc == -EPROTO || rc > 0);
	}
}

/* ---------------------------------------------------------------------- */
/* a client against a scripted server over a bufferevent pair */

struct rig {
	struct event_base *base;
	struct bufferevent *srv; /* the server's end */
	struct ws_client *ws;
	char key[WS_KEY_LEN + 1];
	char request[4096];
	/* what the client reported */
	bool opened;
	bool closed;
	struct ws_close_info info;
	char body[1024];
	char content_type[96];
	int n_messages;
	int last_opcode;
	char last_msg[70000];
	size_t last_len;
	int n_writable;
	bool free_in_message;
};

static void
rig_open(struct ws_client *ws, void *arg)
{
	((struct rig *)arg)->opened = true;
}

static void
rig_message(struct ws_client *ws, int opcode, struct evbuffer *p, void *arg)
{
	struct rig *g = arg;
	size_t n = evbuffer_get_length(p);

	g->n_messages++;
	g->last_opcode = opcode;
	if (n > sizeof(g->last_msg))
		n = sizeof(g->last_msg);
	g->last_len = evbuffer_remove(p, g->last_msg, n);
	if (g->free_in_message) {
		ws_client_free(ws);
		g->ws = NULL;
	}
}

static void
rig_writable(struct ws_client *ws, void *arg)
{
	((struct rig *)arg)->n_writable++;
}

static void
rig_closed(struct ws_client *ws, const struct ws_close_info *info, void *arg)
{
	struct rig *g = arg;

	g->closed = true;
	g->info = *info;
	if (info->http_body_len > 0 && info->http_body_len < sizeof(g->body))
		memcpy(g->body, info->http_body, info->http_body_len);
	g->info.http_body = NULL;
	/* Borrowed for the callback only. */
	snprintf(g->content_type, sizeof(g->content_type), "%s",
	    info->http_content_type);
	g->info.http_content_type = NULL;
	ws_client_free(ws);
	g->ws = NULL;
}

static const struct ws_callbacks rig_cb = {
    rig_open, rig_message, rig_writable, rig_closed};

static void
rig_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop until *flag (or, with flag NULL, for ms). */
static bool
rig_run(struct rig *g, const bool *flag, int ms)
{
	bool expired = false;
	struct event *t = evtimer_new(g->base, rig_timeout_cb, &expired);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(t, &tv);
	while (!expired && (flag == NULL || !*flag))
		event_base_loop(g->base, EVLOOP_ONCE);
	event_free(t);
	return flag == NULL || *flag;
}

static void
rig_start(struct rig *g, const char *const *protos, size_t n_protos,
    size_t max_message, int ping_ms, int handshake_ms)
{
	struct bufferevent *pair[2];
	const char *headers[] = {
	    "Authorization: Bearer sekret", "Impersonate-User: ana"};
	struct ws_client_config cfg = {
	    .host = "api.example:6443",
	    .path = "/api/v1/namespaces/ns/pods/p/portforward?ports=8443",
	    .protocols = protos,
	    .n_protocols = n_protos,
	    .headers = headers,
	    .n_headers = 2,
	    .max_message = max_message,
	    .ping_interval_ms = ping_ms,
	    .handshake_timeout_ms = handshake_ms,
	};

	memset(g, 0, sizeof(*g));
	g->base = event_base_new();
	CU_ASSERT_FATAL(g->base != NULL);
	CU_ASSERT_FATAL(bufferevent_pair_new(g->base, 0, pair) == 0);
	g->srv = pair[1];
	bufferevent_enable(g->srv, EV_READ | EV_WRITE);
	CU_ASSERT_FATAL(
	    ws_client_new(g->base, pair[0], &cfg, &rig_cb, g, &g->ws) == 0);
}

static void
rig_free(struct rig *g)
{
	ws_client_free(g->ws);
	if (g->srv != NULL)
		bufferevent_free(g->srv);
	/* Pair callbacks are deferred and hold a reference until they run:
	 * let them, so that nothing is left when the base goes. */
	event_base_loop(g->base, EVLOOP_NONBLOCK);
	event_base_free(g->base);
}

static bool
rig_has_request(struct rig *g)
{
	struct evbuffer *in = bufferevent_get_input(g->srv);
	struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	return p.pos >= 0;
}

/* Reads the request on the server side and remembers its key. */
static void
rig_read_request(struct rig *g)
{
	struct evbuffer *in = bufferevent_get_input(g->srv);
	struct evbuffer_ptr p;
	const char *k;
	int tries = 0;

	while (!rig_has_request(g) && tries++ < 100)
		rig_run(g, NULL, 5);
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	CU_ASSERT_FATAL(p.pos > 0 && (size_t)p.pos < sizeof(g->request) - 5);
	evbuffer_remove(in, g->request, (size_t)p.pos + 4);
	g->request[p.pos + 4] = '\0';
	k = strstr(g->request, "Sec-WebSocket-Key: ");
	CU_ASSERT_FATAL(k != NULL);
	memcpy(g->key, k + 19, WS_KEY_LEN);
	g->key[WS_KEY_LEN] = '\0';
}

static void
rig_answer(struct rig *g, const char *protocol, bool good_accept)
{
	char acc[WS_ACCEPT_LEN + 1];

	ws_accept_compute(
	    good_accept ? g->key : "AAAAAAAAAAAAAAAAAAAAAA==", acc);
	bufferevent_write(g->srv, "HTTP/1.1 101 Switching Protocols\r\n", 34);
	evbuffer_add_printf(bufferevent_get_output(g->srv),
	    "Upgrade: WebSocket\r\nConnection: upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n",
	    acc);
	if (protocol != NULL)
		evbuffer_add_printf(bufferevent_get_output(g->srv),
		    "Sec-WebSocket-Protocol: %s\r\n", protocol);
	bufferevent_write(g->srv, "\r\n", 2);
}

/* The server ends the connection (a pair signals EOF on a flush with
 * BEV_FINISHED, not on free). */
static void
srv_eof(struct rig *g)
{
	bufferevent_flush(g->srv, EV_WRITE, BEV_FINISHED);
	bufferevent_free(g->srv);
	g->srv = NULL;
}

/* A server frame (unmasked unless masked). */
static void
srv_frame(
    struct rig *g, bool fin, int op, const void *p, size_t len, bool masked)
{
	uint8_t hdr[WS_MAX_HEADER], *copy = malloc(len + 1);
	const uint8_t mask[4] = {9, 8, 7, 6};
	size_t hl = ws_frame_header_write(
	    hdr, fin, (uint8_t)op, len, masked ? mask : NULL);

	memcpy(copy, p, len);
	if (masked)
		ws_mask(copy, len, mask, 0);
	bufferevent_write(g->srv, hdr, hl);
	bufferevent_write(g->srv, copy, len);
	free(copy);
}

/* Reads one client frame: it must be masked; unmasks it. Returns the
 * opcode or -1 when none arrived in time. */
static int
srv_read_frame(struct rig *g, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct evbuffer *in = bufferevent_get_input(g->srv);

	for (int tries = 0; tries < 200; tries++) {
		size_t len = evbuffer_get_length(in);
		struct ws_frame_header h;
		int r = 0;

		if (len >= 2)
			r = ws_frame_parse(evbuffer_pullup(in,
			                       len < 14 ? (ev_ssize_t)len : 14),
			    len < 14 ? len : 14, cap, &h);
		if (r < 0)
			return -1;
		if (r > 0 && len >= h.header_len + h.len) {
			CU_ASSERT(h.masked);
			evbuffer_drain(in, h.header_len);
			evbuffer_remove(in, out, (size_t)h.len);
			ws_mask(out, (size_t)h.len, h.mask, 0);
			*ret_len = (size_t)h.len;
			return h.opcode;
		}
		rig_run(g, NULL, 5);
	}
	return -1;
}

static void
test_client_messages(void)
{
	const char *protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
	struct rig g;
	uint8_t buf[70000];
	size_t n = 0;
	struct evbuffer *src;

	rig_start(&g, protos, 2, 0, 0, 0);
	rig_read_request(&g);
	CU_ASSERT(
	    strncmp(g.request,
	        "GET /api/v1/namespaces/ns/pods/p/portforward?ports=8443 HTTP/1.1\r\n",
	        65) == 0);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(g.request, "\r\nHost: api.example:6443\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.request,
	    "\r\nSec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(g.request, "\r\nAuthorization: Bearer sekret\r\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(g.request, "\r\nImpersonate-User: ana\r\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(g.request, "\r\nSec-WebSocket-Version: 13\r\n"));
	CU_ASSERT_PTR_NULL(strstr(g.request, "Extensions"));
	CU_ASSERT_STRING_EQUAL(ws_client_protocol(g.ws), "");
	/* The answer and the first frames in one write. */
	rig_answer(&g, "v4.channel.k8s.io", true);
	srv_frame(&g, true, WS_OP_BINARY, "\x00\xfb\x20", 3, false);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	CU_ASSERT_STRING_EQUAL(ws_client_protocol(g.ws), "v4.channel.k8s.io");
	CU_ASSERT(ws_client_is_open(g.ws));
	rig_run(&g, NULL, 20);
	CU_ASSERT_EQUAL(g.n_messages, 1);
	CU_ASSERT_EQUAL(g.last_len, 3);
	CU_ASSERT_EQUAL(memcmp(g.last_msg, "\x00\xfb\x20", 3), 0);

	/* Fragmented text with a ping in the middle: one message, a pong
	 * with the ping's payload. */
	srv_frame(&g, false, WS_OP_TEXT, "h\xc3", 2, false);
	srv_frame(&g, true, WS_OP_PING, "are you there", 13, false);
	srv_frame(&g, false, WS_OP_CONT, "\xa9llo ", 5, false);
	srv_frame(&g, true, WS_OP_CONT, "world", 5, false);
	rig_run(&g, NULL, 30);
	CU_ASSERT_EQUAL(g.n_messages, 2);
	CU_ASSERT_EQUAL(g.last_opcode, WS_OP_TEXT);
	CU_ASSERT_EQUAL(g.last_len, 12);
	CU_ASSERT_EQUAL(memcmp(g.last_msg, "h\xc3\xa9llo world", 12), 0);
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_PONG);
	CU_ASSERT_EQUAL(n, 13);
	CU_ASSERT_EQUAL(memcmp(buf, "are you there", 13), 0);

	/* A 64-bit-length message and an empty one. */
	memset(buf, 'z', 66000);
	srv_frame(&g, true, WS_OP_BINARY, buf, 66000, false);
	srv_frame(&g, true, WS_OP_BINARY, "", 0, false);
	rig_run(&g, NULL, 30);
	CU_ASSERT_EQUAL(g.n_messages, 4);
	CU_ASSERT_EQUAL(g.last_len, 0);

	/* Sends: masked, with the prefix and the evbuffer's bytes. */
	CU_ASSERT_EQUAL(ws_client_send(&*g.ws, WS_OP_TEXT, "hi", 2), 0);
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_TEXT);
	CU_ASSERT(n == 2 && memcmp(buf, "hi", 2) == 0);
	src = evbuffer_new();
	evbuffer_add(src, "0123456789", 10);
	CU_ASSERT_EQUAL(
	    ws_client_send_evbuffer(g.ws, WS_OP_BINARY, "\0", 1, src, 7), 0);
	CU_ASSERT_EQUAL(evbuffer_get_length(src), 3);
	CU_ASSERT_EQUAL(
	    ws_client_send_evbuffer(g.ws, WS_OP_BINARY, "\0", 1, src, 4),
	    -EINVAL);
	evbuffer_free(src);
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_BINARY);
	CU_ASSERT(n == 8 && memcmp(buf, "\0000123456", 8) == 0);
	CU_ASSERT_EQUAL(ws_client_send(g.ws, WS_OP_CLOSE, "", 0), -EINVAL);
	CU_ASSERT_EQUAL(ws_client_send(g.ws, WS_OP_PING, buf, 126), -EINVAL);

	/* The server closes: the client echoes the code and reports 0. */
	srv_frame(&g, true, WS_OP_CLOSE,
	    "\x03\xe8"
	    "bye",
	    5, false);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.info.err, 0);
	CU_ASSERT(g.info.opened);
	CU_ASSERT_EQUAL(g.info.code, 1000);
	CU_ASSERT_STRING_EQUAL(g.info.reason, "bye");
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_CLOSE);
	CU_ASSERT(n == 2 && buf[0] == 0x03 && buf[1] == 0xe8);
	rig_free(&g);
}

static void
test_client_close(void)
{
	const char *protos[] = {"v4.channel.k8s.io"};
	struct rig g;
	uint8_t buf[256];
	size_t n = 0;

	rig_start(&g, protos, 1, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, "v4.channel.k8s.io", true);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	CU_ASSERT_EQUAL(ws_client_close(g.ws, 1000, "done"), 0);
	CU_ASSERT_EQUAL(ws_client_close(g.ws, 1000, "again"), -EALREADY);
	CU_ASSERT_FALSE(g.closed); /* never from inside the call */
	CU_ASSERT_EQUAL(ws_client_send(g.ws, WS_OP_BINARY, "x", 1), -ENOTCONN);
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_CLOSE);
	CU_ASSERT(n == 6 && memcmp(buf,
	                        "\x03\xe8"
	                        "done",
	                        6) == 0);
	/* Data the server had in flight is still delivered. */
	srv_frame(&g, true, WS_OP_BINARY, "late", 4, false);
	srv_frame(&g, true, WS_OP_CLOSE, "\x03\xe8", 2, false);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.n_messages, 1);
	CU_ASSERT_EQUAL(g.info.err, 0);
	CU_ASSERT_EQUAL(g.info.code, 1000);
	rig_free(&g);
}

static void
test_client_refused(void)
{
	static const char status[] =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	    "\"message\":\"pods \\\"p\\\" is forbidden\",\"reason\":\"Forbidden\","
	    "\"code\":403}";
	struct rig g;

	for (int chunked = 0; chunked < 2; chunked++) {
		rig_start(&g, NULL, 0, 0, 0, 0);
		rig_read_request(&g);
		CU_ASSERT_PTR_NULL(strstr(g.request, "Sec-WebSocket-Protocol"));
		if (chunked) {
			size_t half = strlen(status) / 2;

			evbuffer_add_printf(bufferevent_get_output(g.srv),
			    "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n"
			    "Content-Type: application/json\r\n\r\n%zx\r\n%.*s\r\n",
			    half, (int)half, status);
			rig_run(&g, NULL, 20);
			CU_ASSERT_FALSE(g.closed);
			evbuffer_add_printf(bufferevent_get_output(g.srv),
			    "%zx\r\n%s\r\n0\r\n\r\n", strlen(status) - half,
			    status + half);
		} else {
			evbuffer_add_printf(bufferevent_get_output(g.srv),
			    "HTTP/1.1 403 Forbidden\r\nContent-Length: %zu\r\n"
			    "Content-Type: application/json\r\n\r\n%s",
			    strlen(status), status);
		}
		CU_ASSERT(rig_run(&g, &g.closed, 2000));
		CU_ASSERT_FALSE(g.opened);
		CU_ASSERT_EQUAL(g.info.err, -EPROTO);
		CU_ASSERT_EQUAL(g.info.http_status, 403);
		CU_ASSERT_EQUAL(g.info.http_body_len, strlen(status));
		CU_ASSERT_STRING_EQUAL(g.body, status);
		CU_ASSERT_STRING_EQUAL(g.content_type, "application/json");
		rig_free(&g);
	}
	/* A body delimited by the end of the connection. */
	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	bufferevent_write(
	    g.srv, "HTTP/1.0 400 Bad Request\r\n\r\nno ports", 37);
	rig_run(&g, NULL, 20);
	CU_ASSERT_FALSE(g.closed);
	srv_eof(&g);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.info.http_status, 400);
	CU_ASSERT_STRING_EQUAL(g.body, "no ports");
	rig_free(&g);
}

/* The server ends in the middle of a fragmented message. */
static void
test_client_eof_mid_message(void)
{
	struct rig g;

	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	srv_frame(&g, false, WS_OP_BINARY, "part", 4, false);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	rig_run(&g, NULL, 20);
	srv_eof(&g);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.n_messages, 0);
	CU_ASSERT_EQUAL(g.info.err, -ECONNRESET);
	CU_ASSERT_EQUAL(g.info.code, WS_CLOSE_ABNORMAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.info.detail, "middle of a message"));
	rig_free(&g);

	/* ... and in the middle of a frame's header/payload. */
	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	bufferevent_write(g.srv, "\x82\x7e\x10\x00partial", 11);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	srv_eof(&g);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.n_messages, 0);
	CU_ASSERT_EQUAL(g.info.err, -ECONNRESET);
	rig_free(&g);
}

/* Protocol violations by the server end the client with a Close. */
static void
test_client_violations(void)
{
	struct rig g;
	uint8_t buf[256];
	size_t n;
	static const struct {
		bool fin;
		int op;
		const char *payload;
		size_t len;
		bool masked;
		uint16_t code;
		int err;
	} cases[] = {
	    {true, WS_OP_BINARY, "x", 1, true, 1002, -EPROTO},
	    {true, WS_OP_CONT, "x", 1, false, 1002, -EPROTO},
	    {true, WS_OP_TEXT, "\xff", 1, false, 1007, -EPROTO},
	    {true, WS_OP_CLOSE, "\x03", 1, false, 1002, -EPROTO},
	    {true, WS_OP_CLOSE, "\x03\xed", 2, false, 1002, -EPROTO},
	    {true, WS_OP_BINARY, "0123456789abcdefghij", 20, false, 1009,
	        -EMSGSIZE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		rig_start(&g, NULL, 0, 16, 0, 0);
		rig_read_request(&g);
		rig_answer(&g, NULL, true);
		CU_ASSERT(rig_run(&g, &g.opened, 2000));
		srv_frame(&g, cases[i].fin, cases[i].op, cases[i].payload,
		    cases[i].len, cases[i].masked);
		n = 0;
		CU_ASSERT_EQUAL(
		    srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_CLOSE);
		CU_ASSERT(n >= 2 && (buf[0] << 8 | buf[1]) == cases[i].code);
		/* The client waits for the server to end, reading and
		 * dropping what still comes. */
		srv_frame(&g, true, WS_OP_BINARY, "dropped", 7, false);
		rig_run(&g, NULL, 20);
		CU_ASSERT_FALSE(g.closed);
		srv_eof(&g);
		CU_ASSERT(rig_run(&g, &g.closed, 2000));
		CU_ASSERT_EQUAL(g.info.err, cases[i].err);
		CU_ASSERT_EQUAL(g.n_messages, 0);
		rig_free(&g);
	}
	/* A message over the limit in fragments. */
	rig_start(&g, NULL, 0, 16, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	srv_frame(&g, false, WS_OP_BINARY, "0123456789", 10, false);
	srv_frame(&g, true, WS_OP_CONT, "0123456789", 10, false);
	CU_ASSERT_EQUAL(srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_CLOSE);
	/* A server that never ends is given up on after the close
	 * time-out. */
	CU_ASSERT(rig_run(&g, &g.closed, 8000));
	CU_ASSERT_EQUAL(g.info.err, -EMSGSIZE);
	rig_free(&g);
}

static void
test_client_bad_answers(void)
{
	const char *protos[] = {"v4.channel.k8s.io"};
	struct rig g;

	/* wrong accept key */
	rig_start(&g, protos, 1, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, "v4.channel.k8s.io", false);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_FALSE(g.opened);
	CU_ASSERT_EQUAL(g.info.err, -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.info.detail, "Accept"));
	rig_free(&g);
	/* a subprotocol we did not offer, and none at all */
	for (int k = 0; k < 2; k++) {
		rig_start(&g, protos, 1, 0, 0, 0);
		rig_read_request(&g);
		rig_answer(&g, k ? NULL : "v4.base64.channel.k8s.io", true);
		CU_ASSERT(rig_run(&g, &g.closed, 2000));
		CU_ASSERT_FALSE(g.opened);
		CU_ASSERT_EQUAL(g.info.err, -EPROTO);
		CU_ASSERT_PTR_NOT_NULL(strstr(g.info.detail, "subprotocol"));
		rig_free(&g);
	}
	/* not HTTP */
	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	bufferevent_write(g.srv, "SSH-2.0-OpenSSH\r\n\r\n", 19);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.info.err, -EPROTO);
	rig_free(&g);
	/* an endless head */
	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	bufferevent_write(g.srv, "HTTP/1.1 101 x\r\n", 16);
	for (int i = 0; i < 2000 && !g.closed; i++) {
		bufferevent_write(
		    g.srv, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", 33);
		rig_run(&g, NULL, 1);
	}
	CU_ASSERT(g.closed);
	CU_ASSERT_EQUAL(g.info.err, -EMSGSIZE);
	rig_free(&g);
	/* the server closes before answering */
	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	srv_eof(&g);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.info.err, -ECONNRESET);
	CU_ASSERT_FALSE(g.info.opened);
	rig_free(&g);
}

static void
test_client_timeouts(void)
{
	struct rig g;
	uint8_t buf[256];
	size_t n;
	int pings = 0;

	/* No answer to the upgrade. */
	rig_start(&g, NULL, 0, 0, 0, 100);
	CU_ASSERT(rig_run(&g, &g.closed, 3000));
	CU_ASSERT_EQUAL(g.info.err, -ETIMEDOUT);
	rig_free(&g);
	/* Pings every 30 ms; a silent server is dropped after three. */
	rig_start(&g, NULL, 0, 0, 30, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	CU_ASSERT(rig_run(&g, &g.closed, 3000));
	CU_ASSERT_EQUAL(g.info.err, -ETIMEDOUT);
	while (srv_read_frame(&g, buf, sizeof(buf), &n) == WS_OP_PING)
		pings++;
	CU_ASSERT(pings >= 2);
	rig_free(&g);
	/* ... but not while pongs come back. */
	rig_start(&g, NULL, 0, 0, 30, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(
		    srv_read_frame(&g, buf, sizeof(buf), &n), WS_OP_PING);
		srv_frame(&g, true, WS_OP_PONG, "", 0, false);
	}
	CU_ASSERT_FALSE(g.closed);
	rig_free(&g);
}

static void
test_client_backpressure(void)
{
	struct rig g;

	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	CU_ASSERT(rig_run(&g, &g.opened, 2000));
	ws_client_set_read(g.ws, false);
	srv_frame(&g, true, WS_OP_BINARY, "a", 1, false);
	srv_frame(&g, true, WS_OP_BINARY, "b", 1, false);
	rig_run(&g, NULL, 30);
	CU_ASSERT_EQUAL(g.n_messages, 0);
	ws_client_set_read(g.ws, true);
	CU_ASSERT_EQUAL(g.n_messages, 0); /* from the loop, not the call */
	rig_run(&g, NULL, 30);
	CU_ASSERT_EQUAL(g.n_messages, 2);
	CU_ASSERT_EQUAL(g.last_msg[0], 'b');
	/* The end waits for reading to resume, after the last messages. */
	ws_client_set_read(g.ws, false);
	srv_frame(&g, true, WS_OP_BINARY, "c", 1, false);
	rig_run(&g, NULL, 20);
	srv_eof(&g);
	rig_run(&g, NULL, 30);
	CU_ASSERT_FALSE(g.closed);
	ws_client_set_read(g.ws, true);
	CU_ASSERT(rig_run(&g, &g.closed, 2000));
	CU_ASSERT_EQUAL(g.n_messages, 3);
	CU_ASSERT_EQUAL(g.info.err, -ECONNRESET);
	rig_free(&g);

	/* Writable fires after the output went above the low mark. */
	{
		struct bufferevent *pair[2];
		struct ws_client_config cfg = {
		    .host = "h", .path = "/", .write_low = 100};
		char big[1000];

		memset(&g, 0, sizeof(g));
		g.base = event_base_new();
		bufferevent_pair_new(g.base, 0, pair);
		g.srv = pair[1];
		bufferevent_enable(g.srv, EV_READ | EV_WRITE);
		CU_ASSERT_FATAL(ws_client_new(g.base, pair[0], &cfg, &rig_cb,
		                    &g, &g.ws) == 0);
		rig_read_request(&g);
		rig_answer(&g, NULL, true);
		CU_ASSERT(rig_run(&g, &g.opened, 2000));
		memset(big, 'q', sizeof(big));
		bufferevent_disable(g.srv, EV_READ);
		CU_ASSERT_EQUAL(
		    ws_client_send(g.ws, WS_OP_BINARY, big, sizeof(big)), 0);
		CU_ASSERT(
		    ws_client_output_pending(g.ws) > 0 ||
		    evbuffer_get_length(bufferevent_get_input(g.srv)) > 0);
		bufferevent_enable(g.srv, EV_READ);
		evbuffer_drain(bufferevent_get_input(g.srv), 100000);
		rig_run(&g, NULL, 30);
		CU_ASSERT(g.n_writable >= 1);
		rig_free(&g);
	}
}

/* Freeing the client inside its message callback is safe, and nothing
 * else is delivered. */
static void
test_client_free_in_callback(void)
{
	struct rig g;

	rig_start(&g, NULL, 0, 0, 0, 0);
	rig_read_request(&g);
	rig_answer(&g, NULL, true);
	g.free_in_message = true;
	srv_frame(&g, true, WS_OP_BINARY, "a", 1, false);
	srv_frame(&g, true, WS_OP_BINARY, "b", 1, false);
	rig_run(&g, NULL, 50);
	CU_ASSERT_EQUAL(g.n_messages, 1);
	CU_ASSERT_PTR_NULL(g.ws);
	CU_ASSERT_FALSE(g.closed);
	rig_free(&g);
}

static void
test_client_bad_config(void)
{
	struct event_base *base = event_base_new();
	struct ws_client *ws = NULL;
	static const char *const bad_headers[][1] = {{"Host: evil"},
	    {"X-A: b\r\nX-Injected: c"}, {"sec-websocket-key: x"}, {"NoColon"},
	    {"Bad Name: x"}};
	const char *bad_proto[] = {"v4 channel"};

	for (size_t i = 0; i < sizeof(bad_headers) / sizeof(*bad_headers);
	     i++) {
		struct bufferevent *pair[2];
		struct ws_client_config cfg = {.host = "h",
		    .path = "/",
		    .headers = bad_headers[i],
		    .n_headers = 1};

		bufferevent_pair_new(base, 0, pair);
		CU_ASSERT_EQUAL(
		    ws_client_new(base, pair[0], &cfg, &rig_cb, NULL, &ws),
		    -EINVAL);
		bufferevent_free(pair[1]);
	}
	{
		struct bufferevent *pair[2];
		struct ws_client_config cfg = {.host = "h",
		    .path = "/",
		    .protocols = bad_proto,
		    .n_protocols = 1};

		bufferevent_pair_new(base, 0, pair);
		CU_ASSERT_EQUAL(
		    ws_client_new(base, pair[0], &cfg, &rig_cb, NULL, &ws),
		    -EINVAL);
		bufferevent_free(pair[1]);
	}
	{
		struct bufferevent *pair[2];
		struct ws_client_config cfg = {.host = "h", .path = "no-slash"};

		bufferevent_pair_new(base, 0, pair);
		CU_ASSERT_EQUAL(
		    ws_client_new(base, pair[0], &cfg, &rig_cb, NULL, &ws),
		    -EINVAL);
		bufferevent_free(pair[1]);
	}
	event_base_free(base);
}

static const struct cunit_test tests[] = {
    {"frame header lengths and truncations", test_frame_lengths},
    {"frame header errors", test_frame_errors},
    {"masking", test_mask},
    {"accept key (RFC example)", test_accept},
    {"response head parse and check", test_response_parse},
    {"close payloads and UTF-8", test_close_utf8},
    {"chunked bodies", test_dechunk},
    {"mutations of sample inputs", test_mutations},
    {"client: messages, fragments, ping, sends, server close",
        test_client_messages},
    {"client: close handshake we start", test_client_close},
    {"client: refused upgrade with a Status body", test_client_refused},
    {"client: server ends mid-message", test_client_eof_mid_message},
    {"client: server protocol violations", test_client_violations},
    {"client: bad upgrade answers", test_client_bad_answers},
    {"client: time-outs and pings", test_client_timeouts},
    {"client: back-pressure and writable", test_client_backpressure},
    {"client: freed inside a callback", test_client_free_in_callback},
    {"client: invalid configurations", test_client_bad_config},
};

CUNIT_MAIN("ws", tests)
