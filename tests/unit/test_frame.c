/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of proto/frame: frames built in code round-trip through the
 * encoder and decoder, and the decoder's rules hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "tests/unit/cunit_main.h"

/* Encodes f, decodes the result, re-encodes the decoded frame and checks
 * the two encodings are identical. Returns the encoded length. */
static int
roundtrip(const struct frame *f, struct frame *ret_frame)
{
	static uint8_t a[WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD];
	static uint8_t b[WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD];
	uint32_t err = 0;
	int n, m;

	n = frame_encode(f, a, sizeof(a));
	CU_ASSERT_TRUE_FATAL(n >= WIRE_HEADER_LEN);
	CU_ASSERT_EQUAL(frame_encoded_size(f), n);
	CU_ASSERT_EQUAL(frame_decode(a, (size_t)n - 1, ret_frame, &err), 0);
	CU_ASSERT_EQUAL_FATAL(frame_decode(a, (size_t)n, ret_frame, &err), n);
	m = frame_encode(ret_frame, b, sizeof(b));
	CU_ASSERT_EQUAL_FATAL(m, n);
	CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n), 0);
	return n;
}

static void
test_roundtrip_session(void)
{
	struct frame f = {0}, d;

	f.h.type = WIRE_HELLO;
	f.u.hello.role = WIRE_ROLE_CLIENT;
	f.u.hello.min_proto = 1;
	f.u.hello.max_proto = 1;
	f.u.hello.caps = WIRE_CAP_DNS | WIRE_CAP_ENV;
	f.u.hello.conn_window = WIRE_DEFAULT_CONN_WINDOW;
	f.u.hello.n_ext = 2;
	f.u.hello.ext[0] = (struct frame_kv){"software", 8, "telepod/0.1", 11};
	f.u.hello.ext[1] = (struct frame_kv){"namespace", 9, "", 0};
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 12 + 12 + 4 + 8 + 11 + 4 + 9);
	CU_ASSERT_EQUAL(d.u.hello.n_ext, 2);
	CU_ASSERT_EQUAL(d.u.hello.caps, WIRE_CAP_DNS | WIRE_CAP_ENV);
	CU_ASSERT_PTR_NOT_NULL(frame_hello_ext(&d, "software"));
	CU_ASSERT_PTR_NULL(frame_hello_ext(&d, "soft"));
	CU_ASSERT_EQUAL(frame_hello_ext(&d, "namespace")->value_len, 0);

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_PING;
	f.u.ping.opaque = 0x0102030405060708ull;
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 20);
	CU_ASSERT_EQUAL(d.u.ping.opaque, 0x0102030405060708ull);

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_GOAWAY;
	f.u.goaway.last_stream_id = 7;
	f.u.goaway.error = WIRE_ERR_SHUTDOWN;
	f.u.goaway.msg = "bye";
	f.u.goaway.msg_len = 3;
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 23);
	CU_ASSERT_EQUAL(d.u.goaway.last_stream_id, 7);
	CU_ASSERT_EQUAL(d.u.goaway.msg_len, 3);
}

static void
test_roundtrip_stream(void)
{
	struct frame f = {0}, d;
	static const uint8_t bytes[] = "hello";

	f.h.type = WIRE_OPEN;
	f.h.stream_id = 1;
	f.u.open.transport = WIRE_TRANSPORT_TCP;
	f.u.open.window = WIRE_DEFAULT_STREAM_WINDOW;
	f.u.open.dst.type = WIRE_ADDR_NAME;
	f.u.open.dst.port = 80;
	strcpy(f.u.open.dst.a.name, "gateway.default.svc");
	roundtrip(&f, &d);
	CU_ASSERT_STRING_EQUAL(d.u.open.dst.a.name, "gateway.default.svc");
	CU_ASSERT_EQUAL(d.u.open.dst.port, 80);

	f.u.open.dst.type = WIRE_ADDR_IPV4;
	memcpy(f.u.open.dst.a.v4, "\x0a\x00\x00\x01", 4);
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 24);

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_DATA;
	f.h.stream_id = 3;
	f.u.data.data = bytes;
	f.u.data.len = 5;
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 17);
	CU_ASSERT_EQUAL(memcmp(d.u.data.data, "hello", 5), 0);

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_WINDOW;
	f.u.window.increment = 65536;
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 16);
	CU_ASSERT_EQUAL(d.h.stream_id, 0);

	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_FIN;
	f.h.stream_id = 5;
	CU_ASSERT_EQUAL(roundtrip(&f, &d), 12);
}

static void
test_env(void)
{
	uint8_t entries[256];
	size_t off = 0;
	struct frame f = {0}, d;
	struct frame_env_iter it;
	struct frame_kv kv;

	CU_ASSERT_EQUAL(
	    frame_env_put(entries, sizeof(entries), &off, "A", 1, "1", 1), 0);
	CU_ASSERT_EQUAL(
	    frame_env_put(entries, sizeof(entries), &off, "PATH", 4, "/bin", 4),
	    0);
	CU_ASSERT_EQUAL(
	    frame_env_put(entries, sizeof(entries), &off, "A=B", 3, "", 0),
	    -EINVAL);
	CU_ASSERT_EQUAL(
	    frame_env_put(entries, 20, &off, "X", 1, "", 0), -EMSGSIZE);
	f.h.type = WIRE_ENV_REPLY;
	f.u.env_reply.id = 9;
	f.u.env_reply.count = 2;
	f.u.env_reply.entries = entries;
	f.u.env_reply.entries_len = off;
	roundtrip(&f, &d);
	frame_env_iter_init(&it, &d);
	CU_ASSERT_TRUE(frame_env_next(&it, &kv));
	CU_ASSERT_EQUAL(kv.name_len, 1);
	CU_ASSERT_TRUE(frame_env_next(&it, &kv));
	CU_ASSERT_EQUAL(kv.value_len, 4);
	CU_ASSERT_EQUAL(memcmp(kv.value, "/bin", 4), 0);
	CU_ASSERT_FALSE(frame_env_next(&it, &kv));

	/* A count that does not match the entries is refused both ways. */
	f.u.env_reply.count = 3;
	CU_ASSERT_EQUAL(frame_encoded_size(&f), -EMSGSIZE);
}

static void
test_encode_rules(void)
{
	struct frame f = {0};
	uint8_t buf[64];

	f.h.type = WIRE_DATA;
	f.h.stream_id = 0;
	f.u.data.data = buf;
	f.u.data.len = 1;
	CU_ASSERT_EQUAL(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
	f.h.stream_id = 1;
	f.u.data.len = 0;
	CU_ASSERT_EQUAL(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
	f.u.data.len = 60;
	CU_ASSERT_EQUAL(frame_encode(&f, buf, sizeof(buf)), -EMSGSIZE);
	f.h.type = 0x7f;
	CU_ASSERT_EQUAL(frame_encode(&f, buf, sizeof(buf)), -EINVAL);
}

static void
test_header_rules(void)
{
	uint8_t b[WIRE_HEADER_LEN];
	struct frame_header h;
	uint32_t err = 0;

	frame_encode_header(b, WIRE_DATA, 1, 10);
	CU_ASSERT_EQUAL(frame_decode_header(b, 11, &h, &err), 0);
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), 12);
	CU_ASSERT_EQUAL(h.length, 10);
	b[0] = 2;
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, WIRE_ERR_BAD_VERSION);
	frame_encode_header(b, 0x30, 0, 0);
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, WIRE_ERR_UNKNOWN_TYPE);
	frame_encode_header(b, WIRE_DATA, 1, WIRE_MAX_PAYLOAD + 1);
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EMSGSIZE);
	CU_ASSERT_EQUAL(err, WIRE_ERR_FRAME_SIZE);
	frame_encode_header(b, WIRE_PING, 1, 8);
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, WIRE_ERR_PROTOCOL);
	frame_encode_header(b, WIRE_PING, 0, 7);
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EMSGSIZE);
	CU_ASSERT_EQUAL(err, WIRE_ERR_FRAME_SIZE);
	frame_encode_header(b, WIRE_WINDOW, 0, 4);
	b[3] = 1;
	CU_ASSERT_EQUAL(frame_decode_header(b, 12, &h, &err), -EPROTO);
	CU_ASSERT_EQUAL(err, WIRE_ERR_PROTOCOL);
}

static const struct cunit_test tests[] = {
    {"roundtrip_session", test_roundtrip_session},
    {"roundtrip_stream", test_roundtrip_stream},
    {"env", test_env},
    {"encode_rules", test_encode_rules},
    {"header_rules", test_header_rules},
};

CUNIT_MAIN("frame", tests)
