/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ws: libFuzzer target for common/ws. The first byte picks what the
 * rest is:
 *   0  frame headers, parsed at every prefix length and limit;
 *   1  an HTTP response head (parse, then check against a fixed key);
 *   2  a close payload and UTF-8;
 *   3  a chunked body;
 *   4+ bytes a server sends after a valid 101 answer, fed in pieces of
 *      (byte & 0x3f) + 1 to a real ws_client over a bufferevent pair;
 *      every 8th input ends the connection afterwards.
 * The functions must stay within the buffer, return only what their
 * contracts allow, and the client must end or keep going without a
 * sanitizer report or leak.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_frames(const uint8_t *d, size_t n)
{
	struct ws_frame_header h;

	for (size_t len = 0; len <= n && len <= WS_MAX_HEADER + 1; len++) {
		int r = ws_frame_parse(d, len, 1000, &h);

		if (r > (int)len || r > WS_MAX_HEADER ||
		    (r > 0 && (h.len > 1000 || h.header_len != (size_t)r)) ||
		    (r < 0 && r != -EPROTO && r != -EMSGSIZE))
			abort();
		if (r > 0 && h.opcode >= 8 && (!h.fin || h.len > 125))
			abort();
	}
}

static void
fz_head(const uint8_t *d, size_t n)
{
	struct ws_response r;
	const char *protos[] = {"v4.channel.k8s.io"};
	char err[256];
	int rc = ws_response_parse((const char *)d, n, &r);

	if (rc > (int)n || rc > WS_MAX_RESPONSE_HEAD ||
	    (rc < 0 && rc != -EPROTO && rc != -EMSGSIZE))
		abort();
	if (rc > 0) {
		if (r.status < 100 || r.status > 999)
			abort();
		rc = ws_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", protos,
		    1, err, sizeof(err));
		if (rc != 0 && rc != -EPROTO)
			abort();
		if (rc == 0 && strcmp(r.protocol, protos[0]) != 0)
			abort();
	}
}

static void
fz_close(const uint8_t *d, size_t n)
{
	uint16_t code;

	if (ws_close_parse(d, n, &code) == 0 && n >= 2 &&
	    (code < 1000 || code > 4999))
		abort();
	(void)ws_utf8_valid(d, n);
}

static void
fz_chunked(const uint8_t *d, size_t n)
{
	char out[256];
	size_t olen = 0;
	int r = ws_dechunk((const char *)d, n, out, sizeof(out), &olen);

	if (olen > sizeof(out) || r < -EPROTO || r > 1)
		abort();
}

struct fz_state {
	bool closed;
	bool opened;
	size_t bytes;
};

static void
fz_open(struct ws_client *ws, void *arg)
{
	((struct fz_state *)arg)->opened = true;
}

static void
fz_message(struct ws_client *ws, int op, struct evbuffer *p, void *arg)
{
	size_t n = evbuffer_get_length(p);

	if (n > 4096 || (op != WS_OP_TEXT && op != WS_OP_BINARY))
		abort();
	((struct fz_state *)arg)->bytes += n;
	/* Talk back, as a port-forward would. */
	ws_client_send(ws, WS_OP_BINARY, "x", 1);
}

static void
fz_closed(struct ws_client *ws, const struct ws_close_info *info, void *arg)
{
	((struct fz_state *)arg)->closed = true;
	ws_client_free(ws);
}

static const struct ws_callbacks fz_cb = {fz_open, fz_message, NULL, fz_closed};

static void
fz_client(const uint8_t *d, size_t n, unsigned flags)
{
	struct event_base *base = event_base_new();
	struct bufferevent *pair[2];
	struct ws_client *ws = NULL;
	struct fz_state st = {false, false, 0};
	const char *protos[] = {"v4.channel.k8s.io"};
	struct ws_client_config cfg = {.host = "h",
	    .path = "/",
	    .protocols = protos,
	    .n_protocols = 1,
	    .max_message = 4096};
	struct evbuffer *in;
	struct evbuffer_ptr p;
	char req[2048], acc[WS_ACCEPT_LEN + 1];
	const char *k;
	size_t chunk = (flags & 0x3f) + 1;

	if (base == NULL || bufferevent_pair_new(base, 0, pair) != 0)
		abort();
	if (ws_client_new(base, pair[0], &cfg, &fz_cb, &st, &ws) != 0)
		abort();
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	event_base_loop(base, EVLOOP_NONBLOCK);
	in = bufferevent_get_input(pair[1]);
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (p.pos < 0 || (size_t)p.pos >= sizeof(req))
		abort();
	evbuffer_remove(in, req, (size_t)p.pos + 4);
	req[p.pos] = '\0';
	k = strstr(req, "Sec-WebSocket-Key: ");
	if (k == NULL)
		abort();
	memcpy(acc, k + 19, WS_KEY_LEN);
	acc[WS_KEY_LEN] = '\0';
	if (ws_accept_compute(acc, acc) != 0)
		abort();
	evbuffer_add_printf(bufferevent_get_output(pair[1]),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
	    acc);
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (size_t off = 0; off < n && !st.closed; off += chunk) {
		size_t m = n - off < chunk ? n - off : chunk;

		bufferevent_write(pair[1], d + off, m);
		event_base_loop(base, EVLOOP_NONBLOCK);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if (!st.closed && (flags & 0x40) != 0)
		bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (!st.closed)
		ws_client_free(ws);
	bufferevent_free(pair[1]);
	/* Pair callbacks are deferred and hold references until they run. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;

	if (!init) {
		log_init("fuzz_ws", LOG_LEVEL_ERR);
		init = true;
	}
	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		fz_frames(data + 1, size - 1);
		break;
	case 1:
		fz_head(data + 1, size - 1);
		break;
	case 2:
		fz_close(data + 1, size - 1);
		break;
	case 3:
		fz_chunked(data + 1, size - 1);
		break;
	default:
		if (size > 1 << 16)
			return 0;
		fz_client(data + 1, size - 1, data[0]);
		break;
	}
	return 0;
}
