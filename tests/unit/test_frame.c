/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of proto/frame: frames built in code round-trip through the
 * encoder and decoder; every vector in proto/vectors decodes (and
 * re-encodes byte for byte) or fails exactly as its MANIFEST line says,
 * whole or split at any byte; a mutation loop (every bit flipped, every
 * truncation) never makes the decoder misbehave.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/vectors.h"

/* Scratch space for re-encoding any frame. */
static uint8_t scratch[WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD];

/* Encodes f, decodes the result, re-encodes the decoded frame and checks
 * the two encodings are identical. Returns the encoded length. */
static int
roundtrip(const struct frame *f, struct frame *ret_frame)
{
	static uint8_t a[WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD];
	uint8_t *b = scratch;
	uint32_t err = 0;
	int n, m;

	n = frame_encode(f, a, sizeof(a));
	CU_ASSERT_TRUE_FATAL(n >= WIRE_HEADER_LEN);
	CU_ASSERT_EQUAL(frame_encoded_size(f), n);
	CU_ASSERT_EQUAL(frame_decode(a, (size_t)n - 1, ret_frame, &err), 0);
	CU_ASSERT_EQUAL_FATAL(frame_decode(a, (size_t)n, ret_frame, &err), n);
	m = frame_encode(ret_frame, b, sizeof(scratch));
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

static void
test_max_payload(void)
{
	static uint8_t data[WIRE_MAX_PAYLOAD + 1];
	struct frame f = {0}, d;

	memset(data, 0xa5, sizeof(data));
	f.h.type = WIRE_DATA;
	f.h.stream_id = 1;
	f.u.data.data = data;
	f.u.data.len = WIRE_MAX_PAYLOAD;
	CU_ASSERT_EQUAL(
	    roundtrip(&f, &d), (int)(WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD));
	CU_ASSERT_EQUAL(d.u.data.len, WIRE_MAX_PAYLOAD);
	f.u.data.len = WIRE_MAX_PAYLOAD + 1;
	CU_ASSERT_EQUAL(frame_encoded_size(&f), -EMSGSIZE);
}

/* What a receiver makes of a byte stream that ends after len bytes. */
struct trace {
	size_t frames;     /* frames decoded */
	size_t consumed;   /* bytes they took */
	uint32_t err;      /* WIRE_OK, or the error that stopped decoding */
	uint8_t types[64]; /* the first frames' types */
	bool mismatch;     /* a frame did not re-encode to its bytes */
	bool bad_return;   /* an error return disagreed with *err */
};

/* Decodes one frame at buf and checks what the decoder promises about it:
 * a decoded frame re-encodes to the same bytes; an error return matches
 * the wire error it reports. */
static int
decode_checked(const uint8_t *buf, size_t len, struct frame *f, uint32_t *err,
    struct trace *t)
{
	int n, m;

	*err = 0xdeadbeef;
	n = frame_decode(buf, len, f, err);
	if (n > 0) {
		if ((size_t)n > len || n < WIRE_HEADER_LEN)
			t->bad_return = true;
		m = frame_encode(f, scratch, sizeof(scratch));
		if (m != n || memcmp(scratch, buf, (size_t)n) != 0)
			t->mismatch = true;
	} else if (n < 0) {
		if (*err == WIRE_OK ||
		    !strcmp(wire_error_name(*err), "UNKNOWN"))
			t->bad_return = true;
		if ((n == -EMSGSIZE) != (*err == WIRE_ERR_FRAME_SIZE))
			t->bad_return = true;
		if (n != -EMSGSIZE && n != -EPROTO)
			t->bad_return = true;
	}
	return n;
}

/*
 * Feeds buf to a receiver in two writes, split at split (0 or len for one
 * write), and records what it decodes until the input ends. The receiver
 * sees only the bytes written so far.
 */
static void
trace_split(const uint8_t *buf, size_t len, size_t split, struct trace *t)
{
	size_t fed, consumed = 0;
	struct frame f;
	uint32_t err;
	int n;

	memset(t, 0, sizeof(*t));
	for (int write = 0; write < 2; write++) {
		fed = write == 0 ? split : len;
		for (;;) {
			n = decode_checked(
			    buf + consumed, fed - consumed, &f, &err, t);
			if (n < 0) {
				t->err = err;
				t->consumed = consumed;
				return;
			}
			if (n == 0)
				break;
			if (t->frames < sizeof(t->types))
				t->types[t->frames] = f.h.type;
			t->frames++;
			consumed += (size_t)n;
		}
	}
	/* The connection ends: bytes left over are a truncated frame. */
	t->consumed = consumed;
	t->err = consumed < len ? WIRE_ERR_TRUNCATED : WIRE_OK;
}

static bool
trace_equal(const struct trace *a, const struct trace *b)
{
	return a->frames == b->frames && a->consumed == b->consumed &&
	       a->err == b->err &&
	       !memcmp(a->types, b->types, sizeof(a->types));
}

static struct vector *vectors;
static size_t n_vectors;

static void
test_vectors_load(void)
{
	int ret = vectors_load(&vectors, &n_vectors);

	if (ret < 0)
		fprintf(stderr, "cannot load %s/proto/vectors: %s\n",
		    vectors_srcdir(), strerror(-ret));
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_TRUE(n_vectors >= 100);
}

static void
test_vectors_manifest(void)
{
	bool valid_type[256] = {false};

	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		int code;

		if (!strcmp(v->kind, "valid")) {
			code = vectors_type_code(v->expect);
			CU_ASSERT_TRUE(code >= 0);
			if (code >= 0)
				valid_type[code] = true;
		} else if (!strcmp(v->kind, "invalid") ||
		           !strcmp(v->kind, "invalid-session")) {
			code = vectors_error_code(v->expect);
			CU_ASSERT_TRUE(code > 0);
			if (!strcmp(v->kind, "invalid-session"))
				CU_ASSERT_TRUE(!strcmp(v->scope, "reset") ||
				               !strcmp(v->scope, "goaway"));
		} else {
			CU_ASSERT_STRING_EQUAL(v->kind, "valid-session");
			CU_ASSERT_STRING_EQUAL(v->expect, "OK");
		}
	}
	/* Every frame type has at least one valid vector. */
	for (int type = 0; type < 256; type++)
		if (wire_type_name((uint8_t)type) && !valid_type[type]) {
			fprintf(stderr, "no valid vector of type %s\n",
			    wire_type_name((uint8_t)type));
			CU_FAIL("a frame type has no valid vector");
		}
}

static void
test_vectors_decode(void)
{
	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		struct trace t;
		bool ok;

		trace_split(v->data, v->len, v->len, &t);
		if (!strcmp(v->kind, "valid")) {
			ok = t.err == WIRE_OK && t.frames == 1 &&
			     t.types[0] == vectors_type_code(v->expect);
		} else if (!strcmp(v->kind, "invalid")) {
			ok = t.err == (uint32_t)vectors_error_code(v->expect);
		} else {
			/* Session sequences are well-formed frames; only a
			 * session finds fault with them. */
			ok = t.err == WIRE_OK && t.frames >= 1;
		}
		if (!ok || t.mismatch || t.bad_return)
			fprintf(stderr,
			    "%s: %s %s, decoded %zu frames, error %s%s%s\n",
			    v->name, v->kind, v->expect, t.frames,
			    wire_error_name(t.err),
			    t.mismatch ? ", re-encodes differently" : "",
			    t.bad_return ? ", bad return" : "");
		CU_ASSERT_TRUE(ok);
		CU_ASSERT_FALSE(t.mismatch);
		CU_ASSERT_FALSE(t.bad_return);
	}
}

static void
test_vectors_split(void)
{
	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		struct trace whole, part;
		size_t bad = 0;

		trace_split(v->data, v->len, v->len, &whole);
		for (size_t s = 0; s <= v->len; s++) {
			trace_split(v->data, v->len, s, &part);
			if (!trace_equal(&whole, &part))
				bad++;
		}
		if (bad)
			fprintf(stderr, "%s: %zu splits decode differently\n",
			    v->name, bad);
		CU_ASSERT_EQUAL(bad, 0);
	}
}

/* Vectors up to this size are cut at every length (each cut is copied to
 * a buffer of exactly its size, so ASan sees any read past it); beyond it,
 * at every length up to it and then at a stride. */
#define TRUNCATE_ALL    16384
#define TRUNCATE_STRIDE 251

static void
test_vectors_mutate(void)
{
	size_t problems = 0;

	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		struct trace t;

		/* Bit flips in place: the buffer is exactly the vector. */
		for (size_t bit = 0; bit < v->len * 8; bit++) {
			v->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			trace_split(v->data, v->len, v->len, &t);
			v->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (t.mismatch || t.bad_return) {
				fprintf(stderr, "%s: bit %zu: %s\n", v->name,
				    bit,
				    t.mismatch ? "re-encodes differently"
				               : "bad return");
				problems++;
			}
		}
		for (size_t cut = 0; cut < v->len;
		     cut += cut < TRUNCATE_ALL ? 1 : TRUNCATE_STRIDE) {
			uint8_t *copy = malloc(cut ? cut : 1);

			CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
			memcpy(copy, v->data, cut);
			trace_split(copy, cut, cut, &t);
			free(copy);
			if (t.mismatch || t.bad_return) {
				fprintf(stderr, "%s: cut at %zu: %s\n", v->name,
				    cut,
				    t.mismatch ? "re-encodes differently"
				               : "bad return");
				problems++;
			}
			/* A cut valid frame is only ever "need more". */
			if (!strcmp(v->kind, "valid") && cut > 0 &&
			    t.err != WIRE_ERR_TRUNCATED) {
				fprintf(stderr, "%s: cut at %zu: %s\n", v->name,
				    cut, wire_error_name(t.err));
				problems++;
			}
		}
	}
	CU_ASSERT_EQUAL(problems, 0);
}

/*
 * Parses the numbers tables of proto/PROTOCOL.md (rows "| 0x12 | DATA |"
 * under "Frame types", "| 16 | REFUSED |" under "Error codes") and checks
 * them against wire.h both ways: every row names the code wire.c names, and
 * every code wire.c knows has a row.
 */
static void
test_spec_numbers(void)
{
	char path[4096], line[1024], name[64];
	bool seen_type[256] = {false}, seen_err[256] = {false};
	enum { NONE, TYPES, ERRORS } section = NONE;
	size_t n_types = 0, n_errs = 0;
	unsigned code;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proto/PROTOCOL.md", vectors_srcdir());
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "#", 1)) {
			section = strstr(line, "Frame types")   ? TYPES
			          : strstr(line, "Error codes") ? ERRORS
			                                        : NONE;
			continue;
		}
		if (section == TYPES &&
		    sscanf(line, "| 0x%2x | %63[A-Z_] |", &code, name) == 2) {
			const char *want = wire_type_name((uint8_t)code);

			if (!want || strcmp(want, name))
				fprintf(stderr,
				    "PROTOCOL.md: type 0x%02x is %s, "
				    "wire.h says %s\n",
				    code, name, want ? want : "nothing");
			CU_ASSERT_TRUE(want && !strcmp(want, name));
			CU_ASSERT_FALSE(seen_type[code & 0xff]);
			seen_type[code & 0xff] = true;
			n_types++;
		} else if (section == ERRORS &&
		           sscanf(line, "| %u | %63[A-Z_] |", &code, name) ==
		               2) {
			const char *want = wire_error_name(code);

			if (strcmp(want, name))
				fprintf(stderr,
				    "PROTOCOL.md: error %u is %s, "
				    "wire.h says %s\n",
				    code, name, want);
			CU_ASSERT_STRING_EQUAL(want, name);
			CU_ASSERT_TRUE_FATAL(code < 256);
			CU_ASSERT_FALSE(seen_err[code]);
			seen_err[code] = true;
			n_errs++;
		}
	}
	fclose(f);
	for (code = 0; code < 256; code++) {
		if (wire_type_name((uint8_t)code) && !seen_type[code]) {
			fprintf(
			    stderr, "PROTOCOL.md lacks type 0x%02x\n", code);
			CU_FAIL("a frame type is missing from PROTOCOL.md");
		}
		if (strcmp(wire_error_name(code), "UNKNOWN") &&
		    !seen_err[code]) {
			fprintf(stderr, "PROTOCOL.md lacks error %u\n", code);
			CU_FAIL("an error code is missing from PROTOCOL.md");
		}
	}
	CU_ASSERT_TRUE(n_types >= 14);
	CU_ASSERT_TRUE(n_errs >= 20);
}

static void
test_vectors_free(void)
{
	vectors_free(vectors, n_vectors);
	vectors = NULL;
	n_vectors = 0;
}

static const struct cunit_test tests[] = {
    {"roundtrip_session", test_roundtrip_session},
    {"roundtrip_stream", test_roundtrip_stream},
    {"env", test_env},
    {"encode_rules", test_encode_rules},
    {"header_rules", test_header_rules},
    {"max_payload", test_max_payload},
    {"vectors_load", test_vectors_load},
    {"vectors_manifest", test_vectors_manifest},
    {"vectors_decode", test_vectors_decode},
    {"vectors_split", test_vectors_split},
    {"vectors_mutate", test_vectors_mutate},
    {"vectors_free", test_vectors_free},
    {"spec_numbers", test_spec_numbers},
};

CUNIT_MAIN("frame", tests)
