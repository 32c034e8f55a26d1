/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portforward: WebSocket port-forward (v4.channel.k8s.io) relaying each
 * listed port to a real TCP address, with the kubelet's framing, errors
 * and close behaviour. Back-pressure as in libevent's le-proxy: a side
 * stops reading while the other side's output is over a cap and resumes
 * from the drained-write callback.
 */
#include "tests/fakeapi/portforward.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "tests/fakeapi/status.h"
#include "tests/fakeapi/ws.h"

#define PF_OUT_CAP     (256 * 1024)
#define PF_CLOSE_GRACE 1 /* seconds after one side ends */
#define PF_READ_CHUNK  (32 * 1024)

struct pf_endpoint {
	char ns[254];
	char name[254];
	int pod_port; /* 0: any */
	char host[256];
	int port; /* 0: same as the pod port */
};

struct pf_conn;

struct pf_target {
	struct pf_conn *conn;
	int index;
	int port; /* the pod port */
	struct bufferevent *bev;
	bool connected;
	bool done; /* EOF or error seen */
};

struct pf_conn {
	struct portforward *pf;
	struct pf_conn *next;
	struct bufferevent *ws;
	bool base64;
	char pod[254];
	char uid[64];
	struct pf_target targets[PORTFORWARD_MAX_PORTS];
	int n_targets;
	int live_targets;
	uint8_t *msg; /* reassembled message */
	size_t msg_len;
	int msg_opcode;
	bool in_message;
	bool closing;
	struct event *close_ev;
};

struct portforward {
	struct event_base *base;
	struct pf_endpoint endpoints[PORTFORWARD_MAX_ENDPOINTS];
	size_t n_endpoints;
	struct pf_conn *conns;
};

struct portforward *
portforward_new(struct event_base *base)
{
	struct portforward *pf = calloc(1, sizeof(*pf));

	if (pf != NULL)
		pf->base = base;
	return pf;
}

static void pf_conn_free(struct pf_conn *c);

void
portforward_free(struct portforward *pf)
{
	if (pf == NULL)
		return;
	while (pf->conns != NULL)
		pf_conn_free(pf->conns);
	free(pf);
}

int
portforward_add_endpoint(struct portforward *pf, const char *spec)
{
	struct pf_endpoint e;
	const char *slash = strchr(spec, '/');
	const char *eq = strchr(spec, '=');
	const char *colon;
	char left[600], right[300];

	if (slash == NULL || eq == NULL || eq < slash)
		return -EINVAL;
	if (pf->n_endpoints == PORTFORWARD_MAX_ENDPOINTS)
		return -E2BIG;
	memset(&e, 0, sizeof(e));
	if ((size_t)(eq - spec) >= sizeof(left) ||
	    strlen(eq + 1) >= sizeof(right))
		return -EINVAL;
	snprintf(left, sizeof(left), "%.*s", (int)(eq - spec), spec);
	snprintf(right, sizeof(right), "%s", eq + 1);
	slash = strchr(left, '/');
	if ((size_t)(slash - left) >= sizeof(e.ns))
		return -EINVAL;
	snprintf(e.ns, sizeof(e.ns), "%.*s", (int)(slash - left), left);
	colon = strchr(slash + 1, ':');
	if (colon != NULL) {
		e.pod_port = atoi(colon + 1);
		if (e.pod_port <= 0 || e.pod_port > 65535)
			return -EINVAL;
		snprintf(e.name, sizeof(e.name), "%.*s",
		    (int)(colon - slash - 1), slash + 1);
	} else {
		snprintf(e.name, sizeof(e.name), "%s", slash + 1);
	}
	colon = strrchr(right, ':');
	if (colon != NULL && strchr(right, ']') == NULL &&
	    strchr(right, ':') != colon) {
		colon = NULL; /* a bare IPv6 address */
	}
	if (colon != NULL) {
		e.port = atoi(colon + 1);
		if (e.port <= 0 || e.port > 65535)
			return -EINVAL;
		snprintf(e.host, sizeof(e.host), "%.*s", (int)(colon - right),
		    right);
	} else {
		snprintf(e.host, sizeof(e.host), "%s", right);
	}
	if (e.ns[0] == '\0' || e.name[0] == '\0' || e.host[0] == '\0')
		return -EINVAL;
	pf->endpoints[pf->n_endpoints++] = e;
	return 0;
}

static const struct pf_endpoint *
pf_find_endpoint(
    struct portforward *pf, const char *ns, const char *pod, int port)
{
	for (size_t i = 0; i < pf->n_endpoints; i++) {
		const struct pf_endpoint *e = &pf->endpoints[i];
		size_t nl = strlen(e->name);

		if (strcmp(e->ns, ns) != 0)
			continue;
		if (e->pod_port != 0 && e->pod_port != port)
			continue;
		if (strcmp(e->name, pod) == 0 ||
		    (strncmp(e->name, pod, nl) == 0 && pod[nl] == '-'))
			return e;
	}
	return NULL;
}

/* Sending ------------------------------------------------------------------ */

static void
pf_send_frame(struct pf_conn *c, int opcode, const uint8_t *data, size_t len)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t hl = ws_write_header(hdr, true, opcode, len, NULL);
	struct evbuffer *out = bufferevent_get_output(c->ws);

	evbuffer_add(out, hdr, hl);
	if (len > 0)
		evbuffer_add(out, data, len);
}

/* One channel message: [channel][payload], or '0'+channel and base64 in
 * the text protocol. */
static void
pf_send_channel(struct pf_conn *c, int channel, const uint8_t *data, size_t len)
{
	if (c->base64) {
		size_t bl = 4 * ((len + 2) / 3);
		uint8_t *buf = malloc(bl + 2);

		if (buf == NULL)
			return;
		buf[0] = (uint8_t)('0' + channel);
		EVP_EncodeBlock(buf + 1, data, (int)len);
		pf_send_frame(c, WS_OP_TEXT, buf, bl + 1);
		free(buf);
		return;
	}
	{
		uint8_t hdr[WS_MAX_HEADER];
		size_t hl =
		    ws_write_header(hdr, true, WS_OP_BINARY, len + 1, NULL);
		struct evbuffer *out = bufferevent_get_output(c->ws);
		uint8_t ch = (uint8_t)channel;

		evbuffer_add(out, hdr, hl);
		evbuffer_add(out, &ch, 1);
		if (len > 0)
			evbuffer_add(out, data, len);
	}
}

static void
pf_conn_free(struct pf_conn *c)
{
	struct pf_conn **pp;

	for (pp = &c->pf->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	for (int i = 0; i < c->n_targets; i++)
		if (c->targets[i].bev != NULL)
			bufferevent_free(c->targets[i].bev);
	if (c->ws != NULL)
		bufferevent_free(c->ws);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	free(c->msg);
	free(c);
}

/* Sends a Close frame and frees the connection once it is flushed (or
 * after the grace period). */
static void
pf_conn_close(struct pf_conn *c, uint16_t code)
{
	uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	struct timeval tv = {PF_CLOSE_GRACE, 0};

	if (c->closing)
		return;
	c->closing = true;
	pf_send_frame(c, WS_OP_CLOSE, payload, sizeof(payload));
	for (int i = 0; i < c->n_targets; i++)
		if (c->targets[i].bev != NULL)
			bufferevent_disable(c->targets[i].bev, EV_READ);
	bufferevent_disable(c->ws, EV_READ);
	evtimer_add(c->close_ev, &tv);
}

/* After either side of a port ends, the socket goes within a second. */
static void
pf_target_done(struct pf_target *t)
{
	struct pf_conn *c = t->conn;
	struct timeval tv = {PF_CLOSE_GRACE, 0};

	if (t->done)
		return;
	t->done = true;
	c->live_targets--;
	if (c->live_targets <= 0 && !c->closing)
		evtimer_add(c->close_ev, &tv);
}

/* Target side -------------------------------------------------------------- */

static void
pf_target_read_cb(struct bufferevent *bev, void *arg)
{
	struct pf_target *t = arg;
	struct pf_conn *c = t->conn;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[PF_READ_CHUNK];

	while (evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, buf, sizeof(buf));

		if (n <= 0)
			break;
		pf_send_channel(c, 2 * t->index, buf, (size_t)n);
	}
	if (evbuffer_get_length(bufferevent_get_output(c->ws)) > PF_OUT_CAP)
		for (int i = 0; i < c->n_targets; i++)
			if (c->targets[i].bev != NULL)
				bufferevent_disable(c->targets[i].bev, EV_READ);
}

static void
pf_target_write_cb(struct bufferevent *bev, void *arg)
{
	struct pf_target *t = arg;

	(void)bev;
	/* Drained below the cap: the client may send again. */
	if (!t->conn->closing)
		bufferevent_enable(t->conn->ws, EV_READ);
}

static void
pf_target_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pf_target *t = arg;
	struct pf_conn *c = t->conn;

	if (what & BEV_EVENT_CONNECTED) {
		t->connected = true;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (!t->connected) {
			char msg[768];
			int e = EVUTIL_SOCKET_ERROR();

			snprintf(msg, sizeof(msg),
			    "error forwarding port %d to pod %s, uid %s: failed to execute portforward in network namespace \"fakeapi\": failed to connect to localhost:%d inside namespace \"fakeapi\", IPv4: dial tcp4 127.0.0.1:%d: connect: %s",
			    t->port, c->pod, c->uid, t->port, t->port,
			    e != 0 ? evutil_socket_error_to_string(e)
			           : "connection refused");
			pf_send_channel(c, 2 * t->index + 1,
			    (const uint8_t *)msg, strlen(msg));
		} else {
			pf_target_read_cb(bev, t);
		}
		bufferevent_free(t->bev);
		t->bev = NULL;
		pf_target_done(t);
	}
}

static int
pf_target_dial(struct pf_conn *c, struct pf_target *t, const char *ns)
{
	const struct pf_endpoint *e =
	    pf_find_endpoint(c->pf, ns, c->pod, t->port);
	char addr[320];
	struct sockaddr_storage ss;
	int sl = sizeof(ss);

	if (e == NULL) {
		char msg[512];

		snprintf(msg, sizeof(msg),
		    "error forwarding port %d to pod %s, uid %s: no endpoint is configured for this pod (fake-apiserver --pod-endpoint %s/%s=HOST)",
		    t->port, c->pod, c->uid, ns, c->pod);
		pf_send_channel(
		    c, 2 * t->index + 1, (const uint8_t *)msg, strlen(msg));
		return -ENOENT;
	}
	if (strchr(e->host, ':') != NULL && e->host[0] != '[')
		snprintf(addr, sizeof(addr), "[%s]:%d", e->host,
		    e->port != 0 ? e->port : t->port);
	else
		snprintf(addr, sizeof(addr), "%s:%d", e->host,
		    e->port != 0 ? e->port : t->port);
	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sl) < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg),
		    "error forwarding port %d to pod %s, uid %s: cannot parse endpoint %s",
		    t->port, c->pod, c->uid, addr);
		pf_send_channel(
		    c, 2 * t->index + 1, (const uint8_t *)msg, strlen(msg));
		return -EINVAL;
	}
	t->bev = bufferevent_socket_new(c->pf->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (t->bev == NULL)
		return -ENOMEM;
	bufferevent_setcb(t->bev, pf_target_read_cb, pf_target_write_cb,
	    pf_target_event_cb, t);
	bufferevent_setwatermark(t->bev, EV_WRITE, PF_OUT_CAP / 2, 0);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(t->bev, (struct sockaddr *)&ss, sl) <
	    0) {
		/* The event callback has run and freed nothing yet. */
		if (t->bev != NULL) {
			bufferevent_free(t->bev);
			t->bev = NULL;
		}
		return -ECONNREFUSED;
	}
	return 0;
}

/* WebSocket side ---------------------------------------------------------- */

static void
pf_handle_message(struct pf_conn *c, int opcode, uint8_t *data, size_t len)
{
	int channel;
	uint8_t *payload = data + 1;
	size_t plen = len > 0 ? len - 1 : 0;
	uint8_t *decoded = NULL;
	struct pf_target *t;

	if (len == 0)
		return; /* empty messages are ignored */
	if (c->base64) {
		if (opcode != WS_OP_TEXT || data[0] < '0' || data[0] > '9')
			return;
		channel = data[0] - '0';
		decoded = malloc(plen + 3);
		if (decoded == NULL)
			return;
		{
			int n = plen > 0 ? EVP_DecodeBlock(
			                       decoded, payload, (int)plen)
			                 : 0;

			if (n < 0) {
				free(decoded);
				return;
			}
			/* EVP_DecodeBlock counts padding as zero bytes. */
			while (plen > 0 && n > 0 && payload[plen - 1] == '=') {
				plen--;
				n--;
			}
			payload = decoded;
			plen = (size_t)n;
		}
	} else {
		channel = data[0];
	}
	/* Only data channels are writable; others (and out of range) are
	 * dropped, as in wsstream. */
	if (channel % 2 != 0 || channel / 2 >= c->n_targets)
		goto out;
	t = &c->targets[channel / 2];
	if (t->bev == NULL || plen == 0)
		goto out;
	bufferevent_write(t->bev, payload, plen);
	if (evbuffer_get_length(bufferevent_get_output(t->bev)) > PF_OUT_CAP)
		bufferevent_disable(c->ws, EV_READ);
out:
	free(decoded);
}

static void
pf_ws_read_cb(struct bufferevent *bev, void *arg)
{
	struct pf_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->closing) {
		uint8_t hdr[WS_MAX_HEADER];
		size_t avail = evbuffer_get_length(in);
		size_t peek = avail < sizeof(hdr) ? avail : sizeof(hdr);
		struct ws_frame f;
		uint8_t *payload;
		int r;

		evbuffer_copyout(in, hdr, peek);
		r = ws_parse_header(hdr, peek, &f);
		if (r == 0)
			return;
		if (r < 0 || !f.masked) {
			/* Clients must mask (RFC 6455 5.1). */
			log_debug(
			    LOG_CAT_KUBE, "portforward: bad frame (%d)", r);
			pf_conn_close(c, r == -EMSGSIZE ? 1009 : 1002);
			return;
		}
		if (avail < f.header_len + f.len)
			return;
		evbuffer_drain(in, f.header_len);
		payload = malloc(f.len + 1);
		if (payload == NULL) {
			pf_conn_close(c, 1011);
			return;
		}
		evbuffer_remove(in, payload, f.len);
		ws_mask(payload, f.len, f.mask, 0);
		switch (f.opcode) {
		case WS_OP_PING:
			pf_send_frame(c, WS_OP_PONG, payload, f.len);
			break;
		case WS_OP_PONG:
			break;
		case WS_OP_CLOSE:
			free(payload);
			/* The client ends the forward: flush what the pod
			 * side has, then close. */
			pf_conn_close(c, 1000);
			return;
		case WS_OP_TEXT:
		case WS_OP_BINARY:
		case WS_OP_CONT:
			if ((f.opcode == WS_OP_CONT) != c->in_message) {
				free(payload);
				pf_conn_close(c, 1002);
				return;
			}
			if (c->msg_len + f.len > WS_MAX_MESSAGE) {
				free(payload);
				pf_conn_close(c, 1009);
				return;
			}
			if (f.opcode != WS_OP_CONT)
				c->msg_opcode = f.opcode;
			if (f.fin && !c->in_message) {
				pf_handle_message(c, f.opcode, payload, f.len);
			} else {
				uint8_t *nb =
				    realloc(c->msg, c->msg_len + f.len + 1);

				if (nb == NULL) {
					free(payload);
					pf_conn_close(c, 1011);
					return;
				}
				c->msg = nb;
				memcpy(c->msg + c->msg_len, payload, f.len);
				c->msg_len += f.len;
				c->in_message = !f.fin;
				if (f.fin) {
					pf_handle_message(c, c->msg_opcode,
					    c->msg, c->msg_len);
					c->msg_len = 0;
				}
			}
			break;
		}
		free(payload);
	}
}

static void
pf_ws_write_cb(struct bufferevent *bev, void *arg)
{
	struct pf_conn *c = arg;

	(void)bev;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->ws)) == 0)
			pf_conn_free(c);
		return;
	}
	for (int i = 0; i < c->n_targets; i++)
		if (c->targets[i].bev != NULL)
			bufferevent_enable(c->targets[i].bev, EV_READ);
}

static void
pf_ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		pf_conn_free(arg);
}

static void
pf_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pf_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->closing) {
		pf_conn_free(c);
		return;
	}
	pf_conn_close(c, 1000);
}

/* Handshake ------------------------------------------------------------------
 */

static bool
pf_header_has_token(const char *value, const char *token)
{
	const char *p = value;
	size_t tl = strlen(token);

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, token, tl) == 0 &&
		    (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' '))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* Parses the ports parameters (repeated or comma-separated). */
static int
pf_parse_ports(
    struct http_request *req, int *ports, int *ret_n, char *err, size_t errlen)
{
	int n = 0;

	for (size_t i = 0; i < req->n_params; i++) {
		const char *p;

		if (strcmp(req->params[i].key, "ports") != 0 &&
		    strcmp(req->params[i].key, "port") != 0)
			continue;
		p = req->params[i].value;
		while (*p != '\0') {
			char *end;
			long v;

			errno = 0;
			v = strtol(p, &end, 10);
			if (end == p || errno != 0 || v < 1 || v > 65535 ||
			    (*end != '\0' && *end != ',')) {
				snprintf(err, errlen,
				    "unable to parse \"%.16s\" as a port: strconv.ParseUint: parsing \"%.16s\": invalid syntax",
				    p, p);
				return -EINVAL;
			}
			if (n == PORTFORWARD_MAX_PORTS) {
				snprintf(err, errlen, "too many ports");
				return -E2BIG;
			}
			ports[n++] = (int)v;
			p = *end == ',' ? end + 1 : end;
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "query parameter \"port\" is required");
		return -EINVAL;
	}
	*ret_n = n;
	return 0;
}

void
portforward_handle(struct portforward *pf, struct http_request *req,
    const char *ns, const char *name, const cJSON *pod)
{
	const char *upgrade = http_header(req, "Upgrade");
	const char *connection = http_header(req, "Connection");
	const char *version = http_header(req, "Sec-WebSocket-Version");
	const char *key = http_header(req, "Sec-WebSocket-Key");
	const char *proto = http_header(req, "Sec-WebSocket-Protocol");
	const char *chosen = NULL;
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "uid");
	int ports[PORTFORWARD_MAX_PORTS], n_ports = 0;
	char accept[29], err[256], head[512];
	struct pf_conn *c;
	struct bufferevent *bev;

	if (upgrade == NULL || strcasecmp(upgrade, "websocket") != 0 ||
	    connection == NULL || !pf_header_has_token(connection, "upgrade")) {
		/* No SPDY here: the fake speaks only the WebSocket protocol. */
		status_fail(req, 400, "BadRequest", "Upgrade request required",
		    NULL, NULL, NULL);
		return;
	}
	if (version == NULL || strcmp(version, "13") != 0 || key == NULL ||
	    ws_accept_key(key, accept) < 0) {
		http_respond(req, 400, "text/plain; charset=utf-8",
		    "Bad Request: malformed WebSocket handshake", 42,
		    "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	if (proto != NULL) {
		/* The first protocol in the client's list that we know. */
		const char *p = proto;

		while (*p != '\0' && chosen == NULL) {
			size_t len;

			while (*p == ' ' || *p == ',')
				p++;
			len = strcspn(p, ", ");
			if (len == strlen("v4.channel.k8s.io") &&
			    strncmp(p, "v4.channel.k8s.io", len) == 0)
				chosen = "v4.channel.k8s.io";
			else if (len == strlen("v4.base64.channel.k8s.io") &&
			         strncmp(p, "v4.base64.channel.k8s.io", len) ==
			             0)
				chosen = "v4.base64.channel.k8s.io";
			p += len;
		}
		if (chosen == NULL) {
			http_respond(req, 403, "text/plain; charset=utf-8",
			    "Forbidden: unsupported WebSocket subprotocol", 44,
			    NULL);
			return;
		}
	}
	if (pf_parse_ports(req, ports, &n_ports, err, sizeof(err)) < 0) {
		status_fail(req, 400, "BadRequest", err, NULL, NULL, NULL);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		status_fail(req, 500, "InternalError", "out of memory", NULL,
		    NULL, NULL);
		return;
	}
	c->close_ev = evtimer_new(pf->base, pf_timer_cb, c);
	if (c->close_ev == NULL) {
		free(c);
		status_fail(req, 500, "InternalError", "out of memory", NULL,
		    NULL, NULL);
		return;
	}
	c->pf = pf;
	c->base64 = chosen != NULL && strstr(chosen, "base64") != NULL;
	snprintf(c->pod, sizeof(c->pod), "%s", name);
	snprintf(c->uid, sizeof(c->uid), "%s",
	    cJSON_IsString(uid) ? uid->valuestring : "");
	snprintf(head, sizeof(head),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
	    accept, chosen != NULL ? "Sec-WebSocket-Protocol: " : "",
	    chosen != NULL ? chosen : "", chosen != NULL ? "\r\n" : "");
	bev = http_takeover(req, head);
	c->ws = bev;
	c->next = pf->conns;
	pf->conns = c;
	bufferevent_setcb(
	    bev, pf_ws_read_cb, pf_ws_write_cb, pf_ws_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, PF_OUT_CAP / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	c->n_targets = n_ports;
	c->live_targets = n_ports;
	/* The port prefixes first, on data and error channel of each. */
	for (int i = 0; i < n_ports; i++) {
		uint8_t le[2] = {
		    (uint8_t)(ports[i] & 0xff), (uint8_t)(ports[i] >> 8)};

		c->targets[i].conn = c;
		c->targets[i].index = i;
		c->targets[i].port = ports[i];
		pf_send_channel(c, 2 * i, le, 2);
		pf_send_channel(c, 2 * i + 1, le, 2);
	}
	log_debug(LOG_CAT_KUBE, "portforward %s/%s: %d port(s), %s", ns, name,
	    n_ports, chosen != NULL ? chosen : "(no subprotocol)");
	for (int i = 0; i < n_ports; i++)
		if (pf_target_dial(c, &c->targets[i], ns) < 0)
			pf_target_done(&c->targets[i]);
	/* Bytes the client sent right behind the upgrade request. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		pf_ws_read_cb(bev, c);
}
