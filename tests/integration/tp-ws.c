/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-ws: drives common/ws against tests/integration/ws-peer.mjs (the npm
 * `ws` package) for test-ws-peer.sh. `tp-ws PORT SCENARIO` connects to
 * 127.0.0.1:PORT/SCENARIO offering v5.channel.k8s.io and
 * v4.channel.k8s.io, plays the scenario (see ws-peer.mjs) and checks what
 * the client reported: messages (count, sizes, bytes), pongs, the close
 * code and reason, the error. Exit status 0 when everything was as
 * expected, 1 otherwise (the reason is printed), 2 on a time-out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/ws.h"

#define TW_MAX_MSGS 16

struct tw {
	const char *scenario;
	struct event_base *base;
	struct ws_client *ws;
	bool opened, closed;
	struct ws_close_info info;
	char body[1024];
	int n;
	int op[TW_MAX_MSGS];
	size_t len[TW_MAX_MSGS];
	uint8_t head[TW_MAX_MSGS][32];
	bool uniform[TW_MAX_MSGS]; /* every byte of the message equal */
	uint8_t *echo;             /* what /echo sent, in order */
	size_t echo_len, echo_off;
	bool bad;
};

static void
tw_fail(struct tw *t, const char *why)
{
	fprintf(stderr, "tp-ws %s: %s\n", t->scenario, why);
	t->bad = true;
}

/* The /echo plan: messages of these sizes, binary, one after another. */
static const size_t tw_sizes[] = {0, 1, 125, 126, 65535, 65536, 1u << 20};

static void
tw_send_next(struct tw *t)
{
	size_t i = (size_t)t->n;
	uint8_t *p;

	if (i >= sizeof(tw_sizes) / sizeof(*tw_sizes)) {
		ws_client_send(t->ws, WS_OP_TEXT, "h\xc3\xa9llo", 6);
		return;
	}
	p = malloc(tw_sizes[i] + 1);
	for (size_t k = 0; k < tw_sizes[i]; k++)
		p[k] = (uint8_t)(k * 31 + i);
	if (ws_client_send(t->ws, WS_OP_BINARY, p, tw_sizes[i]) != 0)
		tw_fail(t, "send failed");
	free(p);
}

static void
tw_open(struct ws_client *ws, void *arg)
{
	struct tw *t = arg;

	t->opened = true;
	if (strcmp(ws_client_protocol(ws), "v4.channel.k8s.io") != 0)
		tw_fail(t, "the server did not choose v4.channel.k8s.io");
	if (strcmp(t->scenario, "echo") == 0)
		tw_send_next(t);
	else if (strcmp(t->scenario, "client-close") == 0)
		ws_client_close(ws, 1000, "done");
}

static void
tw_message(struct ws_client *ws, int op, struct evbuffer *p, void *arg)
{
	struct tw *t = arg;
	size_t len = evbuffer_get_length(p);
	uint8_t *d = evbuffer_pullup(p, -1);
	int i = t->n;

	if (i >= TW_MAX_MSGS) {
		tw_fail(t, "too many messages");
		return;
	}
	t->op[i] = op;
	t->len[i] = len;
	if (len > 0)
		memcpy(t->head[i], d, len < 32 ? len : 32);
	t->uniform[i] = true;
	for (size_t k = 1; k < len; k++)
		if (d[k] != d[0])
			t->uniform[i] = false;
	if (strcmp(t->scenario, "echo") == 0) {
		if ((size_t)i < sizeof(tw_sizes) / sizeof(*tw_sizes)) {
			if (op != WS_OP_BINARY || len != tw_sizes[i])
				tw_fail(t, "echo of the wrong size or type");
			for (size_t k = 0; k < len; k++)
				if (d[k] != (uint8_t)(k * 31 + (size_t)i)) {
					tw_fail(t, "echo differs");
					break;
				}
		} else {
			if (op != WS_OP_TEXT || len != 6 ||
			    memcmp(d, "h\xc3\xa9llo", 6) != 0)
				tw_fail(t, "text echo differs");
			t->n++;
			ws_client_close(ws, 1000, "finished");
			return;
		}
		t->n++;
		tw_send_next(t);
		return;
	}
	t->n++;
	if (strcmp(t->scenario, "fragments") == 0 && t->n == 3)
		ws_client_close(ws, 1000, "thanks");
}

static void
tw_closed(struct ws_client *ws, const struct ws_close_info *info, void *arg)
{
	struct tw *t = arg;

	t->closed = true;
	t->info = *info;
	if (info->http_body_len > 0 && info->http_body_len < sizeof(t->body))
		memcpy(t->body, info->http_body, info->http_body_len);
	t->info.http_body = NULL;
	printf(
	    "closed: err %d (%s) opened %d code %u reason \"%s\" http %d detail \"%s\"\n",
	    info->err, info->err ? strerror(-info->err) : "ok", info->opened,
	    info->code, info->reason, info->http_status, info->detail);
	ws_client_free(ws);
	t->ws = NULL;
	event_base_loopexit(t->base, NULL);
}

static const struct ws_callbacks tw_cb = {tw_open, tw_message, NULL, tw_closed};

static void
tw_check(struct tw *t)
{
	const char *s = t->scenario;

	for (int i = 0; i < t->n; i++)
		printf(
		    "message %d: op %d, %zu bytes\n", i, t->op[i], t->len[i]);
	if (strcmp(s, "echo") == 0) {
		if (t->n != (int)(sizeof(tw_sizes) / sizeof(*tw_sizes)) + 1 ||
		    t->info.err != 0 || t->info.code != 1000)
			tw_fail(
			    t, "not every echo came back before a clean close");
	} else if (strcmp(s, "fragments") == 0) {
		if (t->n != 3 || t->op[0] != WS_OP_BINARY || t->len[0] != 11 ||
		    memcmp(t->head[0], "hello world", 11) != 0)
			tw_fail(t, "the fragmented binary message is wrong");
		else if (t->op[1] != WS_OP_TEXT || t->len[1] != 3 ||
		         memcmp(t->head[1], "h\xc3\xa9", 3) != 0)
			tw_fail(t, "the fragmented text message is wrong");
		else if (t->len[2] != 18 ||
		         memcmp(t->head[2], "pong:are you there", 18) != 0)
			tw_fail(t, "the server did not get our pong");
		if (t->info.err != 0 || t->info.code != 1000)
			tw_fail(t, "the close handshake did not complete");
	} else if (strcmp(s, "big") == 0) {
		if (t->n != 1 || t->len[0] != (3u << 20))
			tw_fail(t, "the 3 MiB message did not arrive whole");
		if (t->info.err != -EMSGSIZE)
			tw_fail(t, "the 5 MiB message was not refused");
	} else if (strcmp(s, "close") == 0) {
		if (t->info.err != 0 || t->info.code != 4001 ||
		    strcmp(t->info.reason, "bye now") != 0)
			tw_fail(
			    t, "the server's close code and reason are wrong");
	} else if (strcmp(s, "client-close") == 0) {
		if (t->info.err != 0 || t->info.code != 1000)
			tw_fail(t, "our close handshake did not complete");
	} else if (strcmp(s, "midmessage") == 0) {
		if (t->n != 0 || t->info.err != -ECONNRESET ||
		    t->info.code != WS_CLOSE_ABNORMAL)
			tw_fail(t,
			    "a half message was delivered, or the end was not abnormal");
	} else if (strcmp(s, "keepalive") == 0) {
		if (t->n != 1 || t->len[0] != 4 || t->info.err != 0 ||
		    t->info.code != 1000)
			tw_fail(t,
			    "the pinging client did not stay up to the normal close");
	} else if (strcmp(s, "refuse") == 0) {
		if (t->opened || t->info.http_status != 403 ||
		    strstr(t->body, "\"reason\":\"Forbidden\"") == NULL)
			tw_fail(t,
			    "the refusal and its Status body were not reported");
	} else {
		tw_fail(t, "unknown scenario");
	}
}

int
main(int argc, char **argv)
{
	const char *protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io"};
	const char *headers[] = {"Authorization: Bearer tok"};
	struct tw t;
	struct sockaddr_in sin;
	struct bufferevent *bev;
	struct ws_client_config cfg;
	struct timeval tv = {20, 0};
	char path[128], host[64];
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: tp-ws PORT SCENARIO\n");
		return 64;
	}
	log_init("tp-ws", LOG_LEVEL_WARN);
	memset(&t, 0, sizeof(t));
	t.scenario = argv[2];
	t.base = event_base_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bev = bufferevent_socket_new(t.base, -1, BEV_OPT_CLOSE_ON_FREE);
	snprintf(path, sizeof(path), "/%s", argv[2]);
	snprintf(host, sizeof(host), "127.0.0.1:%s", argv[1]);
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = host;
	cfg.path = path;
	cfg.protocols = protos;
	cfg.n_protocols = 2;
	cfg.headers = headers;
	cfg.n_headers = 1;
	cfg.ping_interval_ms = strcmp(argv[2], "keepalive") == 0 ? 100 : 0;
	r = ws_client_new(t.base, bev, &cfg, &tw_cb, &t, &t.ws);
	if (r != 0 || bufferevent_socket_connect(
	                  bev, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "tp-ws: cannot start: %s\n", strerror(-r));
		return 1;
	}
	event_base_loopexit(t.base, &tv);
	event_base_dispatch(t.base);
	if (!t.closed) {
		fprintf(stderr, "tp-ws %s: no end within 20 s\n", t.scenario);
		ws_client_free(t.ws);
		event_base_free(t.base);
		return 2;
	}
	tw_check(&t);
	event_base_free(t.base);
	printf("%s: %s\n", t.scenario, t.bad ? "FAILED" : "ok");
	return t.bad ? 1 : 0;
}
