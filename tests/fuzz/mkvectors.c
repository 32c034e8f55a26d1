/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkvectors: writes the protocol test vectors (one .bin file per vector in
 * proto/vectors, and proto/vectors/MANIFEST) from byte-level descriptions.
 * It deliberately does not use proto/frame.c: the vectors are an independent
 * statement of proto/PROTOCOL.md that the codec is tested against, so every
 * byte here is put by hand through the big-endian accessors of proto/wire.h.
 *
 *   cc -std=c11 -I. tests/fuzz/mkvectors.c -o mkvectors
 *   ./mkvectors proto/vectors
 *
 * tests/fuzz/vectors-check.sh (part of make check) regenerates the vectors
 * into a temporary directory and compares them with the committed files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

/* Large enough for the biggest vector (33 extensions of 64 bytes, a
 * 1025-byte message, a 65535-byte DNS message). */
#define VB_CAP (128u * 1024u)

struct vb {
	uint8_t buf[VB_CAP];
	size_t len;
	size_t frame_start; /* offset of the open frame's header */
};

struct mk {
	const char *dir;
	FILE *manifest;
	int failed;
	struct vb vb;
};

static void
vb_u8(struct vb *v, uint8_t x)
{
	if (v->len + 1 > VB_CAP)
		abort();
	v->buf[v->len++] = x;
}

static void
vb_u16(struct vb *v, uint16_t x)
{
	if (v->len + 2 > VB_CAP)
		abort();
	wire_put_u16(v->buf + v->len, x);
	v->len += 2;
}

static void
vb_u32(struct vb *v, uint32_t x)
{
	if (v->len + 4 > VB_CAP)
		abort();
	wire_put_u32(v->buf + v->len, x);
	v->len += 4;
}

static void
vb_u64(struct vb *v, uint64_t x)
{
	if (v->len + 8 > VB_CAP)
		abort();
	wire_put_u64(v->buf + v->len, x);
	v->len += 8;
}

static void
vb_bytes(struct vb *v, const void *p, size_t n)
{
	if (v->len + n > VB_CAP)
		abort();
	memcpy(v->buf + v->len, p, n);
	v->len += n;
}

static void
vb_str(struct vb *v, const char *s)
{
	vb_bytes(v, s, strlen(s));
}

static void
vb_fill(struct vb *v, uint8_t c, size_t n)
{
	if (v->len + n > VB_CAP)
		abort();
	memset(v->buf + v->len, c, n);
	v->len += n;
}

/* A raw header with every field given, for headers that lie. */
static void
vb_header(struct vb *v, uint8_t version, uint8_t type, uint16_t flags,
    uint32_t stream_id, uint32_t length)
{
	vb_u8(v, version);
	vb_u8(v, type);
	vb_u16(v, flags);
	vb_u32(v, stream_id);
	vb_u32(v, length);
}

/* Opens a frame whose length vb_end() fills in. */
static void
vb_begin(struct vb *v, uint8_t type, uint32_t stream_id)
{
	v->frame_start = v->len;
	vb_header(v, WIRE_VERSION, type, 0, stream_id, 0);
}

static void
vb_end(struct vb *v)
{
	wire_put_u32(v->buf + v->frame_start + 8,
	    (uint32_t)(v->len - v->frame_start - WIRE_HEADER_LEN));
}

/* Writes the buffer as NAME and its MANIFEST line (with a fourth field,
 * the scope, when scope is not NULL), then empties it. */
static void
mk_emit_scope(struct mk *m, const char *name, const char *kind,
    const char *expect, const char *scope)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(m->vb.buf, 1, m->vb.len, f) != m->vb.len ||
	    fclose(f) != 0) {
		fprintf(stderr, "mkvectors: cannot write %s: %s\n", path,
		    strerror(errno));
		m->failed = 1;
	}
	if (scope)
		fprintf(m->manifest, "%-36s %-15s %-13s %s\n", name, kind,
		    expect, scope);
	else
		fprintf(m->manifest, "%-36s %-15s %s\n", name, kind, expect);
	m->vb.len = 0;
}

static void
mk_emit(struct mk *m, const char *name, const char *kind, const char *expect)
{
	mk_emit_scope(m, name, kind, expect, NULL);
}

/* A session sequence the session must refuse with a RESET of the last
 * frame's stream ("reset") or a GOAWAY ending the session ("goaway"). */
static void
mk_emit_session(
    struct mk *m, const char *name, const char *expect, const char *scope)
{
	mk_emit_scope(m, name, "invalid-session", expect, scope);
}

/* HELLO fixed part. */
static void
put_hello_fixed(struct vb *v, uint8_t role, uint8_t min, uint8_t max,
    uint8_t reserved, uint32_t caps, uint32_t conn_window)
{
	vb_u8(v, role);
	vb_u8(v, min);
	vb_u8(v, max);
	vb_u8(v, reserved);
	vb_u32(v, caps);
	vb_u32(v, conn_window);
}

static void
put_ext(struct vb *v, const char *name, const char *value)
{
	vb_u16(v, (uint16_t)strlen(name));
	vb_str(v, name);
	vb_u16(v, (uint16_t)strlen(value));
	vb_str(v, value);
}

static void
put_client_hello(struct vb *v)
{
	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(v, WIRE_ROLE_CLIENT, 1, 1, 0,
	    WIRE_CAP_HOSTNAMES | WIRE_CAP_IPV6, WIRE_DEFAULT_CONN_WINDOW);
	put_ext(v, "software", "telepodd/0.1.0");
	vb_end(v);
}

/* OPEN fixed part. */
static void
put_open_fixed(struct vb *v, uint8_t addr_type, uint8_t transport,
    uint16_t port, uint32_t window)
{
	vb_u8(v, addr_type);
	vb_u8(v, transport);
	vb_u16(v, port);
	vb_u32(v, window);
}

static void
put_open_name(struct vb *v, uint32_t sid, const char *name, uint16_t port)
{
	vb_begin(v, WIRE_OPEN, sid);
	put_open_fixed(
	    v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, port, 256u * 1024u);
	vb_u8(v, (uint8_t)strlen(name));
	vb_str(v, name);
	vb_end(v);
}

/* A DNS name in wire form: "a.b" -> 1 'a' 1 'b' 0. */
static void
put_dns_name(struct vb *v, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		vb_u8(v, (uint8_t)n);
		vb_bytes(v, name, n);
		name += n;
		if (*name == '.')
			name++;
	}
	vb_u8(v, 0);
}

/* A query for kubernetes.default.svc.cluster.local A, id 0x1234. */
static void
put_dns_query_msg(struct vb *v)
{
	vb_u16(v, 0x1234); /* id */
	vb_u16(v, 0x0100); /* RD */
	vb_u16(v, 1);      /* QDCOUNT */
	vb_u16(v, 0);
	vb_u16(v, 0);
	vb_u16(v, 0);
	put_dns_name(v, "kubernetes.default.svc.cluster.local");
	vb_u16(v, 1); /* A */
	vb_u16(v, 1); /* IN */
}

/* The answer: one A record 10.96.0.1, TTL 30. */
static void
put_dns_answer_msg(struct vb *v)
{
	static const uint8_t addr[4] = {10, 96, 0, 1};

	vb_u16(v, 0x1234);
	vb_u16(v, 0x8580); /* QR AA RD RA */
	vb_u16(v, 1);
	vb_u16(v, 1);
	vb_u16(v, 0);
	vb_u16(v, 0);
	put_dns_name(v, "kubernetes.default.svc.cluster.local");
	vb_u16(v, 1);
	vb_u16(v, 1);
	vb_u16(v, 0xc00c); /* pointer to the question's name */
	vb_u16(v, 1);
	vb_u16(v, 1);
	vb_u32(v, 30);
	vb_u16(v, 4);
	vb_bytes(v, addr, 4);
}

static void
put_env(struct vb *v, const char *name, const char *value)
{
	vb_u16(v, (uint16_t)strlen(name));
	vb_str(v, name);
	vb_u32(v, (uint32_t)strlen(value));
	vb_str(v, value);
}

static void
mk_valid(struct mk *m)
{
	struct vb *v = &m->vb;
	static const uint8_t v4[4] = {10, 96, 0, 10};
	static const uint8_t v6[16] = {
	    0xfd, 0x00, 0x10, 0x96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
	char name[WIRE_MAX_HOSTNAME + 1];

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit(m, "hello-client-min.bin", "valid", "HELLO");

	put_client_hello(v);
	mk_emit(m, "hello-client-software.bin", "valid", "HELLO");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(v, WIRE_ROLE_SERVER, 1, 3, 0,
	    WIRE_CAP_DNS | WIRE_CAP_ENV | WIRE_CAP_HOSTNAMES | WIRE_CAP_IPV6,
	    WIRE_DEFAULT_CONN_WINDOW);
	put_ext(v, "software", "telepod-server/0.1.0");
	put_ext(v, "namespace", "dev-alice");
	put_ext(v, "cluster-domain", "cluster.local");
	put_ext(v, "dns-search",
	    "dev-alice.svc.cluster.local svc.cluster.local cluster.local");
	put_ext(v, "subnets", "10.96.0.0/12,10.244.0.0/16,fd00:10:96::/112");
	put_ext(v, "x-future-extension", "");
	vb_end(v);
	mk_emit(m, "hello-server-ext.bin", "valid", "HELLO");

	vb_begin(v, WIRE_PING, 0);
	vb_u64(v, 0x0123456789abcdefull);
	vb_end(v);
	mk_emit(m, "ping.bin", "valid", "PING");

	vb_begin(v, WIRE_PONG, 0);
	vb_u64(v, 0x0123456789abcdefull);
	vb_end(v);
	mk_emit(m, "pong.bin", "valid", "PONG");

	vb_begin(v, WIRE_GOAWAY, 0);
	vb_u32(v, 0);
	vb_u32(v, WIRE_OK);
	vb_end(v);
	mk_emit(m, "goaway-empty.bin", "valid", "GOAWAY");

	vb_begin(v, WIRE_GOAWAY, 0);
	vb_u32(v, 41);
	vb_u32(v, WIRE_ERR_SHUTDOWN);
	vb_str(v, "server restarting");
	vb_end(v);
	mk_emit(m, "goaway-message.bin", "valid", "GOAWAY");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 80,
	    WIRE_DEFAULT_STREAM_WINDOW);
	vb_bytes(v, v4, 4);
	vb_end(v);
	mk_emit(m, "open-ipv4.bin", "valid", "OPEN");

	vb_begin(v, WIRE_OPEN, 3);
	put_open_fixed(
	    v, WIRE_ADDR_IPV6, WIRE_TRANSPORT_TCP, 443, WIRE_MAX_WINDOW);
	vb_bytes(v, v6, 16);
	vb_end(v);
	mk_emit(m, "open-ipv6.bin", "valid", "OPEN");

	put_open_name(v, 5, "postgres.dev-alice.svc.cluster.local", 5432);
	mk_emit(m, "open-name.bin", "valid", "OPEN");

	/* Longest name, every allowed character class. */
	memset(name, 'a', WIRE_MAX_HOSTNAME);
	memcpy(name, "A-Z_0.9", 7);
	name[WIRE_MAX_HOSTNAME] = '\0';
	put_open_name(v, 7, name, 65535);
	mk_emit(m, "open-name-max.bin", "valid", "OPEN");

	/* Server-opened streams are even. */
	vb_begin(v, WIRE_OPEN, 2);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 8080, 1);
	vb_bytes(v, v4, 4);
	vb_end(v);
	mk_emit(m, "open-server-even.bin", "valid", "OPEN");

	vb_begin(v, WIRE_OPEN_RESULT, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, WIRE_DEFAULT_STREAM_WINDOW);
	vb_end(v);
	mk_emit(m, "open-result-ok.bin", "valid", "OPEN_RESULT");

	vb_begin(v, WIRE_OPEN_RESULT, 5);
	vb_u32(v, WIRE_ERR_REFUSED);
	vb_u32(v, 0);
	vb_str(v, "dial 10.96.4.7:5432: connection refused");
	vb_end(v);
	mk_emit(m, "open-result-refused.bin", "valid", "OPEN_RESULT");

	vb_begin(v, WIRE_DATA, 1);
	vb_u8(v, 0x00);
	vb_end(v);
	mk_emit(m, "data-one-byte.bin", "valid", "DATA");

	vb_begin(v, WIRE_DATA, 1);
	vb_str(v, "GET / HTTP/1.1\r\nHost: gateway\r\n\r\n");
	vb_end(v);
	mk_emit(m, "data-http.bin", "valid", "DATA");

	vb_begin(v, WIRE_WINDOW, 0);
	vb_u32(v, 8u * 1024u * 1024u);
	vb_end(v);
	mk_emit(m, "window-connection.bin", "valid", "WINDOW");

	vb_begin(v, WIRE_WINDOW, 3);
	vb_u32(v, 512u * 1024u);
	vb_end(v);
	mk_emit(m, "window-stream.bin", "valid", "WINDOW");

	vb_begin(v, WIRE_FIN, 1);
	vb_end(v);
	mk_emit(m, "fin.bin", "valid", "FIN");

	vb_begin(v, WIRE_RESET, 1);
	vb_u32(v, WIRE_ERR_CANCEL);
	vb_end(v);
	mk_emit(m, "reset-empty.bin", "valid", "RESET");

	vb_begin(v, WIRE_RESET, 9);
	vb_u32(v, WIRE_ERR_CONN_RESET);
	vb_str(v, "read 10.96.4.7:5432: connection reset by peer");
	vb_end(v);
	mk_emit(m, "reset-message.bin", "valid", "RESET");

	vb_begin(v, WIRE_DNS_QUERY, 0);
	vb_u32(v, 1);
	put_dns_query_msg(v);
	vb_end(v);
	mk_emit(m, "dns-query.bin", "valid", "DNS_QUERY");

	vb_begin(v, WIRE_DNS_ANSWER, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	put_dns_answer_msg(v);
	vb_end(v);
	mk_emit(m, "dns-answer-ok.bin", "valid", "DNS_ANSWER");

	vb_begin(v, WIRE_DNS_ANSWER, 0);
	vb_u32(v, 2);
	vb_u32(v, WIRE_ERR_TIMEOUT);
	vb_end(v);
	mk_emit(m, "dns-answer-timeout.bin", "valid", "DNS_ANSWER");

	vb_begin(v, WIRE_ENV_REQUEST, 0);
	vb_u32(v, 7);
	vb_end(v);
	mk_emit(m, "env-request.bin", "valid", "ENV_REQUEST");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 7);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 4);
	put_env(v, "DATABASE_URL", "postgres://db:5432/app?sslmode=disable");
	put_env(v, "EMPTY", "");
	put_env(v, "KUBERNETES_SERVICE_HOST", "10.96.0.1");
	put_env(v, "MULTI_LINE", "a=b\nc=d");
	vb_end(v);
	mk_emit(m, "env-reply-entries.bin", "valid", "ENV_REPLY");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 8);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "env-reply-empty.bin", "valid", "ENV_REPLY");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 9);
	vb_u32(v, WIRE_ERR_UNSUPPORTED);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "env-reply-error.bin", "valid", "ENV_REPLY");
}

static void
mk_invalid_header(struct mk *m)
{
	struct vb *v = &m->vb;

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 1, 5);
	v->len = 7;
	mk_emit(m, "truncated-header.bin", "invalid", "TRUNCATED");

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 1, 10);
	vb_str(v, "0123");
	mk_emit(m, "truncated-payload.bin", "invalid", "TRUNCATED");

	/* A valid frame then a cut one: the error comes at the second. */
	vb_begin(v, WIRE_PING, 0);
	vb_u64(v, 1);
	vb_end(v);
	vb_header(v, WIRE_VERSION, WIRE_PONG, 0, 0, 8);
	vb_u32(v, 0);
	mk_emit(m, "truncated-second-frame.bin", "invalid", "TRUNCATED");

	vb_header(v, 2, WIRE_PING, 0, 0, 8);
	vb_u64(v, 0);
	mk_emit(m, "bad-version-2.bin", "invalid", "BAD_VERSION");

	vb_header(v, 0, WIRE_PING, 0, 0, 8);
	vb_u64(v, 0);
	mk_emit(m, "bad-version-0.bin", "invalid", "BAD_VERSION");

	vb_header(v, WIRE_VERSION, 0x00, 0, 0, 0);
	mk_emit(m, "unknown-type-0x00.bin", "invalid", "UNKNOWN_TYPE");

	vb_header(v, WIRE_VERSION, 0x05, 0, 0, 0);
	mk_emit(m, "unknown-type-0x05.bin", "invalid", "UNKNOWN_TYPE");

	vb_header(v, WIRE_VERSION, 0x30, 0, 0, 4);
	vb_u32(v, 0);
	mk_emit(m, "unknown-type-0x30.bin", "invalid", "UNKNOWN_TYPE");

	vb_header(v, WIRE_VERSION, 0xff, 0xffff, 7, 0xffffffffu);
	mk_emit(m, "unknown-type-0xff.bin", "invalid", "UNKNOWN_TYPE");

	vb_header(v, WIRE_VERSION, WIRE_PING, 0x0001, 0, 8);
	vb_u64(v, 0);
	mk_emit(m, "flags-low-bit.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0x8000, 1, 1);
	vb_u8(v, 0);
	mk_emit(m, "flags-high-bit.bin", "invalid", "PROTOCOL");

	/* The length is checked before anything waits for the payload. */
	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 1, WIRE_MAX_PAYLOAD + 1);
	mk_emit(m, "length-over-max.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 1, 0xffffffffu);
	mk_emit(m, "length-u32-max.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_PING, 0, 1, 8);
	vb_u64(v, 0);
	mk_emit(m, "ping-on-stream.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_HELLO, 0, 1, 12);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	mk_emit(m, "hello-on-stream.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_DNS_QUERY, 0, 3, 4 + 12);
	vb_u32(v, 1);
	vb_fill(v, 0, 12);
	mk_emit(m, "dns-query-on-stream.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_ENV_REQUEST, 0, 1, 4);
	vb_u32(v, 1);
	mk_emit(m, "env-request-on-stream.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 0, 1);
	vb_u8(v, 'x');
	mk_emit(m, "data-on-stream-0.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_FIN, 0, 0, 0);
	mk_emit(m, "fin-on-stream-0.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_OPEN, 0, 0, 12);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u32(v, 0x0a000001);
	mk_emit(m, "open-on-stream-0.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_DATA, 0, 1, 0);
	mk_emit(m, "data-empty.bin", "invalid", "PROTOCOL");

	vb_header(v, WIRE_VERSION, WIRE_PING, 0, 0, 7);
	vb_fill(v, 0, 7);
	mk_emit(m, "ping-short.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_PONG, 0, 0, 9);
	vb_fill(v, 0, 9);
	mk_emit(m, "pong-long.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_WINDOW, 0, 1, 3);
	vb_fill(v, 0, 3);
	mk_emit(m, "window-short.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_WINDOW, 0, 1, 8);
	vb_u32(v, 0);
	vb_u32(v, 1);
	mk_emit(m, "window-long.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_FIN, 0, 1, 1);
	vb_u8(v, 0);
	mk_emit(m, "fin-with-payload.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_ENV_REQUEST, 0, 0, 5);
	vb_fill(v, 0, 5);
	mk_emit(m, "env-request-long.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_HELLO, 0, 0, 11);
	vb_fill(v, 0, 11);
	mk_emit(m, "hello-short.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_RESET, 0, 1, 3);
	vb_fill(v, 0, 3);
	mk_emit(m, "reset-short.bin", "invalid", "FRAME_SIZE");

	vb_header(v, WIRE_VERSION, WIRE_OPEN_RESULT, 0, 1, 7);
	vb_fill(v, 0, 7);
	mk_emit(m, "open-result-short.bin", "invalid", "FRAME_SIZE");
}

static void
mk_invalid_payload(struct mk *m)
{
	struct vb *v = &m->vb;
	char name[80];

	vb_begin(v, WIRE_WINDOW, 1);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "window-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(v, 3, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit(m, "hello-bad-role.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 2, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit(m, "hello-min-over-max.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 0, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit(m, "hello-min-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 1, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit(m, "hello-reserved-set.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, 0);
	vb_end(v);
	mk_emit(m, "hello-conn-window-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, 0x80000000u);
	vb_end(v);
	mk_emit(m, "hello-conn-window-over.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_u16(v, 8);
	vb_str(v, "software");
	vb_u16(v, 10);
	vb_str(v, "telepod");
	vb_end(v);
	mk_emit(m, "hello-ext-value-cut.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	put_ext(v, "software", "x");
	vb_u8(v, 0);
	vb_end(v);
	mk_emit(m, "hello-ext-trailing-byte.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_u16(v, 0);
	vb_u16(v, 0);
	vb_end(v);
	mk_emit(m, "hello-ext-name-empty.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_u16(v, 65);
	vb_fill(v, 'n', 65);
	vb_u16(v, 0);
	vb_end(v);
	mk_emit(m, "hello-ext-name-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_u16(v, 1);
	vb_str(v, "v");
	vb_u16(v, 4097);
	vb_fill(v, 'v', 4097);
	vb_end(v);
	mk_emit(m, "hello-ext-value-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	put_ext(v, "namespace", "a");
	put_ext(v, "namespace", "b");
	vb_end(v);
	mk_emit(m, "hello-ext-duplicate.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	for (int i = 0; i < 33; i++) {
		snprintf(name, sizeof(name), "x-%02d", i);
		put_ext(v, name, "");
	}
	vb_end(v);
	mk_emit(m, "hello-ext-33.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_GOAWAY, 0);
	vb_u32(v, 0);
	vb_u32(v, WIRE_ERR_SHUTDOWN);
	vb_fill(v, 'm', 1025);
	vb_end(v);
	mk_emit(m, "goaway-message-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_RESET, 1);
	vb_u32(v, WIRE_ERR_CANCEL);
	vb_fill(v, 'm', 1025);
	vb_end(v);
	mk_emit(m, "reset-message-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN_RESULT, 1);
	vb_u32(v, WIRE_ERR_REFUSED);
	vb_u32(v, 0);
	vb_fill(v, 'm', 1025);
	vb_end(v);
	mk_emit(m, "open-result-message-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN_RESULT, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "open-result-ok-window-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN_RESULT, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 0x80000000u);
	vb_end(v);
	mk_emit(m, "open-result-window-over.bin", "invalid", "PROTOCOL");

	put_open_name(v, 1, "bad name", 80);
	mk_emit(m, "open-name-space.bin", "invalid", "PROTOCOL");

	put_open_name(v, 1, "evil.example/../etc", 80);
	mk_emit(m, "open-name-slash.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u8(v, 5);
	vb_bytes(v, "ab\0cd", 5);
	vb_end(v);
	mk_emit(m, "open-name-nul.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u8(v, 0);
	vb_u8(v, 'a');
	vb_end(v);
	mk_emit(m, "open-name-len-zero.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u8(v, 4);
	vb_str(v, "host.");
	vb_end(v);
	mk_emit(m, "open-name-trailing.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u8(v, 9);
	vb_str(v, "host");
	vb_end(v);
	mk_emit(m, "open-name-cut.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_NAME, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u8(v, 254);
	vb_fill(v, 'a', 254);
	vb_end(v);
	mk_emit(m, "open-name-254.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u16(v, 0x0a00);
	vb_end(v);
	mk_emit(m, "open-ipv4-short.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV6, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_fill(v, 0, 17);
	vb_end(v);
	mk_emit(m, "open-ipv6-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, 4, WIRE_TRANSPORT_TCP, 80, 65536);
	vb_u32(v, 0x0a000001);
	vb_end(v);
	mk_emit(m, "open-addr-type-4.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, 2, 53, 65536);
	vb_u32(v, 0x0a000001);
	vb_end(v);
	mk_emit(m, "open-transport-udp.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 0, 65536);
	vb_u32(v, 0x0a000001);
	vb_end(v);
	mk_emit(m, "open-port-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 80, 0);
	vb_u32(v, 0x0a000001);
	vb_end(v);
	mk_emit(m, "open-window-zero.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_OPEN, 1);
	put_open_fixed(v, WIRE_ADDR_IPV4, WIRE_TRANSPORT_TCP, 80, 0x80000000u);
	vb_u32(v, 0x0a000001);
	vb_end(v);
	mk_emit(m, "open-window-over.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_DNS_QUERY, 0);
	vb_u32(v, 1);
	vb_fill(v, 0, 11);
	vb_end(v);
	mk_emit(m, "dns-query-short.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_DNS_QUERY, 0);
	vb_u32(v, 1);
	vb_fill(v, 0, 65536);
	vb_end(v);
	mk_emit(m, "dns-query-long.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_DNS_ANSWER, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_end(v);
	mk_emit(m, "dns-answer-ok-no-message.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_DNS_ANSWER, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_ERR_NAME_FAILURE);
	put_dns_answer_msg(v);
	vb_end(v);
	mk_emit(
	    m, "dns-answer-error-with-message.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 3);
	put_env(v, "A", "1");
	put_env(v, "B", "2");
	vb_end(v);
	mk_emit(m, "env-reply-count-high.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 1);
	put_env(v, "A", "1");
	put_env(v, "B", "2");
	vb_end(v);
	mk_emit(m, "env-reply-count-low.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 4097);
	vb_end(v);
	mk_emit(m, "env-reply-count-over-max.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 1);
	vb_u16(v, 1);
	vb_str(v, "A");
	vb_u32(v, 0x00020001); /* 131073 */
	vb_end(v);
	mk_emit(m, "env-reply-value-over-max.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 1);
	vb_u16(v, 0);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "env-reply-name-empty.bin", "invalid", "FRAME_SIZE");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 1);
	put_env(v, "A=B", "1");
	vb_end(v);
	mk_emit(m, "env-reply-name-equals.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 1);
	vb_u16(v, 3);
	vb_bytes(v, "A\0B", 3);
	vb_u32(v, 0);
	vb_end(v);
	mk_emit(m, "env-reply-name-nul.bin", "invalid", "PROTOCOL");

	vb_begin(v, WIRE_ENV_REPLY, 0);
	vb_u32(v, 1);
	vb_u32(v, WIRE_ERR_INTERNAL);
	vb_u32(v, 1);
	put_env(v, "A", "1");
	vb_end(v);
	mk_emit(m, "env-reply-error-with-entries.bin", "invalid", "PROTOCOL");
}

/*
 * Session sequences: every frame is well formed on its own; the session
 * rules make the last one an error. They are what a client-role peer sends
 * to a fresh server-role session that advertises HOSTNAMES and leaves every
 * OPEN pending (it sends no OPEN_RESULT before the sequence ends), so the
 * outcome does not depend on how or when the session would answer and a
 * test can replay them.
 */
static void
mk_sessions(struct mk *m)
{
	struct vb *v = &m->vb;

	put_client_hello(v);
	vb_begin(v, WIRE_PING, 0);
	vb_u64(v, 42);
	vb_end(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_WINDOW, 0);
	vb_u32(v, 65536);
	vb_end(v);
	vb_begin(v, WIRE_RESET, 1);
	vb_u32(v, WIRE_ERR_CANCEL);
	vb_end(v);
	put_open_name(v, 3, "gateway", 81);
	vb_begin(v, WIRE_DNS_QUERY, 0);
	vb_u32(v, 1);
	put_dns_query_msg(v);
	vb_end(v);
	vb_begin(v, WIRE_ENV_REQUEST, 0);
	vb_u32(v, 2);
	vb_end(v);
	vb_begin(v, WIRE_GOAWAY, 0);
	vb_u32(v, 0);
	vb_u32(v, WIRE_ERR_SHUTDOWN);
	vb_end(v);
	mk_emit(m, "seq-ok.bin", "valid-session", "OK");

	vb_begin(v, WIRE_PING, 0);
	vb_u64(v, 1);
	vb_end(v);
	mk_emit_session(m, "seq-ping-before-hello.bin", "PROTOCOL", "goaway");

	put_client_hello(v);
	put_client_hello(v);
	mk_emit_session(m, "seq-hello-twice.bin", "PROTOCOL", "goaway");

	/* The peer claims the session's own role. */
	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_SERVER, 1, 1, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit_session(m, "seq-hello-same-role.bin", "PROTOCOL", "goaway");

	/* Only protocol 2..3 offered; this implementation speaks 1. */
	vb_begin(v, WIRE_HELLO, 0);
	put_hello_fixed(
	    v, WIRE_ROLE_CLIENT, 2, 3, 0, 0, WIRE_DEFAULT_CONN_WINDOW);
	vb_end(v);
	mk_emit_session(
	    m, "seq-hello-no-common-version.bin", "BAD_VERSION", "goaway");

	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_RESET, 1);
	vb_u32(v, WIRE_ERR_CANCEL);
	vb_end(v);
	vb_begin(v, WIRE_DATA, 1);
	vb_str(v, "late");
	vb_end(v);
	mk_emit_session(m, "seq-data-on-closed.bin", "STREAM_CLOSED", "reset");

	put_client_hello(v);
	vb_begin(v, WIRE_DATA, 3);
	vb_str(v, "who");
	vb_end(v);
	mk_emit_session(m, "seq-data-never-opened.bin", "PROTOCOL", "goaway");

	put_client_hello(v);
	put_open_name(v, 2, "gateway", 80);
	mk_emit_session(
	    m, "seq-open-even-from-client.bin", "PROTOCOL", "goaway");

	put_client_hello(v);
	put_open_name(v, 5, "gateway", 80);
	put_open_name(v, 3, "gateway", 80);
	mk_emit_session(m, "seq-open-id-decreasing.bin", "PROTOCOL", "goaway");

	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_RESET, 1);
	vb_u32(v, WIRE_ERR_CANCEL);
	vb_end(v);
	put_open_name(v, 1, "gateway", 80);
	mk_emit_session(m, "seq-open-id-reused.bin", "PROTOCOL", "goaway");

	/* The opener may not send DATA before OPEN_RESULT: it has no send
	 * window yet. */
	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_DATA, 1);
	vb_str(v, "eager");
	vb_end(v);
	mk_emit_session(
	    m, "seq-data-before-open-result.bin", "PROTOCOL", "reset");

	/* The peer's connection window starts at its HELLO's conn_window
	 * (16 MiB); adding 2^31-1 overflows it. */
	put_client_hello(v);
	vb_begin(v, WIRE_WINDOW, 0);
	vb_u32(v, WIRE_MAX_WINDOW);
	vb_end(v);
	mk_emit_session(m, "seq-window-overflow.bin", "FLOW_CONTROL", "goaway");

	/* Stream windows: the opener has nothing to credit before the
	 * stream is open. (Overflowing an open stream's window needs an
	 * accepted stream, so it is left to the mux tests.) */
	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_WINDOW, 1);
	vb_u32(v, 4096);
	vb_end(v);
	mk_emit_session(
	    m, "seq-window-before-open-result.bin", "PROTOCOL", "reset");

	put_client_hello(v);
	vb_begin(v, WIRE_WINDOW, 7);
	vb_u32(v, 1024);
	vb_end(v);
	mk_emit_session(m, "seq-window-never-opened.bin", "PROTOCOL", "goaway");

	/* Stream 2 has the session's own parity and it opened nothing. */
	put_client_hello(v);
	vb_begin(v, WIRE_OPEN_RESULT, 2);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 65536);
	vb_end(v);
	mk_emit_session(
	    m, "seq-open-result-never-opened.bin", "PROTOCOL", "goaway");

	/* Only the acceptor answers an OPEN. */
	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_OPEN_RESULT, 1);
	vb_u32(v, WIRE_OK);
	vb_u32(v, 65536);
	vb_end(v);
	mk_emit_session(
	    m, "seq-open-result-from-opener.bin", "PROTOCOL", "reset");

	/* FIN comes after the last DATA, and DATA waits for OPEN_RESULT. */
	put_client_hello(v);
	put_open_name(v, 1, "gateway", 80);
	vb_begin(v, WIRE_FIN, 1);
	vb_end(v);
	mk_emit_session(
	    m, "seq-fin-before-open-result.bin", "PROTOCOL", "reset");
}

int
main(int argc, char **argv)
{
	static struct mk m;
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: mkvectors DIR\n");
		return 2;
	}
	m.dir = argv[1];
	snprintf(path, sizeof(path), "%s/MANIFEST", m.dir);
	m.manifest = fopen(path, "w");
	if (!m.manifest) {
		fprintf(stderr, "mkvectors: cannot write %s: %s\n", path,
		    strerror(errno));
		return 1;
	}
	fprintf(m.manifest,
	    "# telepod protocol test vectors, written by tests/fuzz/mkvectors.c"
	    " (do not edit).\n"
	    "# One vector per line: FILE KIND EXPECT [SCOPE]. See proto/PROTOCOL.md,"
	    " \"Test vectors\".\n"
	    "#   valid           one frame; EXPECT is its type name\n"
	    "#   invalid         frames; decoding fails with the error EXPECT\n"
	    "#   valid-session   frames a client-role peer sends to a fresh"
	    " server-role session;\n"
	    "#                   the session accepts them all; EXPECT is OK\n"
	    "#   invalid-session the same, but the session fails with the error"
	    " EXPECT at the last frame;\n"
	    "#                   a fourth field says how: reset (RESET of that"
	    " frame's stream) or goaway\n"
	    "# In both session kinds the session under test advertises"
	    " HOSTNAMES and answers no OPEN\n"
	    "# before the sequence ends.\n");
	mk_valid(&m);
	mk_invalid_header(&m);
	mk_invalid_payload(&m);
	mk_sessions(&m);
	if (fclose(m.manifest) != 0)
		m.failed = 1;
	return m.failed;
}
