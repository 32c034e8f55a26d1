/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/framebuf: every vector fed into an evbuffer one byte
 * at a time decodes to the same frames and errors as the whole buffer does
 * through proto/frame, header errors are reported as soon as the header is
 * in, DATA moves by the zero-copy path, and the encode helpers write what
 * frame_encode writes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/framebuf.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/vectors.h"

static struct vector *vectors;
static size_t n_vectors;

static void
test_load(void)
{
	CU_ASSERT_EQUAL_FATAL(vectors_load(&vectors, &n_vectors), 0);
	CU_ASSERT_TRUE(n_vectors > 0);
}

/* What a receiver made of one vector. */
struct outcome {
	size_t frames;
	size_t consumed;
	uint32_t err;      /* WIRE_OK, TRUNCATED or the decode error */
	size_t fed_at_err; /* bytes fed when the error was reported */
	bool mismatch;     /* a frame's bytes differ from the vector's */
};

/* The reference: proto/frame over the whole vector. The error is expected
 * as soon as the failing frame's header is in when the header alone is
 * bad, else once the whole failing frame is in. */
static void
reference(const struct vector *v, struct outcome *o)
{
	size_t off = 0;
	struct frame f;
	struct frame_header h;
	uint32_t err;
	int n;

	memset(o, 0, sizeof(*o));
	while ((n = frame_decode(v->data + off, v->len - off, &f, &err)) > 0) {
		off += (size_t)n;
		o->frames++;
	}
	o->consumed = off;
	if (n < 0) {
		o->err = err;
		if (frame_decode_header(v->data + off, v->len - off, &h, &err) <
		    0)
			o->fed_at_err = off + WIRE_HEADER_LEN;
		else
			o->fed_at_err = off + WIRE_HEADER_LEN + h.length;
	} else {
		o->err = off < v->len ? WIRE_ERR_TRUNCATED : WIRE_OK;
	}
}

/* Feeds v into an evbuffer `step` bytes at a time and decodes with
 * framebuf after each write, DATA by the zero-copy path. */
static void
streamed(const struct vector *v, size_t step, struct outcome *o)
{
	struct evbuffer *in = evbuffer_new(), *payload = evbuffer_new();
	struct frame_header h;
	struct frame f;
	uint32_t err;
	size_t fed = 0;
	int n;

	memset(o, 0, sizeof(*o));
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
	while (fed < v->len) {
		size_t chunk = v->len - fed < step ? v->len - fed : step;

		CU_ASSERT_EQUAL_FATAL(
		    evbuffer_add(in, v->data + fed, chunk), 0);
		fed += chunk;
		while ((n = framebuf_next_header(in, &h, &err)) > 0) {
			const uint8_t *at = v->data + o->consumed;

			if (h.type == WIRE_DATA) {
				/* The payload moves out; check its bytes. */
				evbuffer_drain(
				    payload, evbuffer_get_length(payload));
				if (framebuf_take_data(in, &h, payload) !=
				        (int)h.length ||
				    evbuffer_get_length(payload) != h.length ||
				    memcmp(evbuffer_pullup(payload, -1),
				        at + WIRE_HEADER_LEN, h.length))
					o->mismatch = true;
			} else {
				n = framebuf_next(in, &f, &err);
				if (n < 0)
					goto error;
				if (n != (int)(WIRE_HEADER_LEN + h.length) ||
				    framebuf_consume(in, &f) != 0)
					o->mismatch = true;
			}
			o->frames++;
			o->consumed += WIRE_HEADER_LEN + h.length;
		}
		if (n < 0)
			goto error;
	}
	o->err = evbuffer_get_length(in) ? WIRE_ERR_TRUNCATED : WIRE_OK;
	goto out;
error:
	o->err = err;
	o->fed_at_err = fed;
out:
	evbuffer_free(in);
	evbuffer_free(payload);
}

static void
test_vectors_streamed(void)
{
	static const size_t steps[] = {1, 2, 7, 4096};

	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		struct outcome want, got;

		reference(v, &want);
		for (size_t s = 0; s < sizeof(steps) / sizeof(*steps); s++) {
			streamed(v, steps[s], &got);
			/* In steps of one byte the error comes exactly when
			 * the bytes that show it arrive. */
			if (steps[s] != 1)
				got.fed_at_err = want.fed_at_err;
			if (got.frames != want.frames ||
			    got.consumed != want.consumed ||
			    got.err != want.err ||
			    got.fed_at_err != want.fed_at_err || got.mismatch)
				fprintf(stderr,
				    "%s step %zu: %zu frames, %s at %zu; "
				    "want %zu frames, %s at %zu%s\n",
				    v->name, steps[s], got.frames,
				    wire_error_name(got.err), got.fed_at_err,
				    want.frames, wire_error_name(want.err),
				    want.fed_at_err,
				    got.mismatch ? ", payload mismatch" : "");
			CU_ASSERT_EQUAL(got.frames, want.frames);
			CU_ASSERT_EQUAL(got.consumed, want.consumed);
			CU_ASSERT_EQUAL(got.err, want.err);
			CU_ASSERT_EQUAL(got.fed_at_err, want.fed_at_err);
			CU_ASSERT_FALSE(got.mismatch);
		}
	}
}

/* framebuf_add writes exactly the bytes of every valid vector. */
static void
test_add_matches_vectors(void)
{
	for (size_t i = 0; i < n_vectors; i++) {
		const struct vector *v = &vectors[i];
		struct evbuffer *out;
		struct frame f;
		uint32_t err;

		if (strcmp(v->kind, "valid"))
			continue;
		CU_ASSERT_EQUAL_FATAL(
		    frame_decode(v->data, v->len, &f, &err), (int)v->len);
		out = evbuffer_new();
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		evbuffer_add(out, "x", 1); /* not at the buffer's start */
		CU_ASSERT_EQUAL(framebuf_add(out, &f), (int)v->len);
		CU_ASSERT_EQUAL(evbuffer_get_length(out), v->len + 1);
		CU_ASSERT_EQUAL(
		    memcmp(evbuffer_pullup(out, -1) + 1, v->data, v->len), 0);
		evbuffer_free(out);
	}
}

static void
test_add_rejects(void)
{
	struct evbuffer *out = evbuffer_new();
	struct frame f = {0};

	f.h.type = WIRE_WINDOW;
	f.u.window.increment = 0;
	CU_ASSERT_EQUAL(framebuf_add(out, &f), -EINVAL);
	f.h.type = WIRE_GOAWAY;
	f.u.goaway.msg = "";
	f.u.goaway.msg_len = FRAME_MAX_MESSAGE + 1;
	CU_ASSERT_EQUAL(framebuf_add(out, &f), -EMSGSIZE);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

static void
free_ref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(*(int *)arg)++;
}

/* DATA built from a chained source and read back through the zero-copy
 * path, at the largest payload, fed in uneven pieces. */
static void
test_data_zero_copy(void)
{
	static uint8_t big[WIRE_MAX_PAYLOAD + 16];
	struct evbuffer *src = evbuffer_new(), *wire = evbuffer_new();
	struct evbuffer *in = evbuffer_new(), *dst = evbuffer_new();
	struct frame_header h;
	uint32_t err;
	int freed = 0, n;
	size_t total;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	/* Three chains, one of them a reference to our memory. */
	evbuffer_add(src, big, 1000);
	evbuffer_add_reference(src, big + 1000, 100000, free_ref, &freed);
	evbuffer_add(src, big + 101000, sizeof(big) - 101000);

	CU_ASSERT_EQUAL(framebuf_add_data(wire, 0, src, 10), -EINVAL);
	CU_ASSERT_EQUAL(framebuf_add_data(wire, 1, src, 0), -EINVAL);
	CU_ASSERT_EQUAL(
	    framebuf_add_data(wire, 1, src, WIRE_MAX_PAYLOAD + 1), -EINVAL);
	CU_ASSERT_EQUAL(evbuffer_get_length(wire), 0);

	CU_ASSERT_EQUAL(framebuf_add_data(wire, 3, src, WIRE_MAX_PAYLOAD),
	    (int)WIRE_MAX_PAYLOAD);
	CU_ASSERT_EQUAL(evbuffer_get_length(src), 16);
	CU_ASSERT_EQUAL(framebuf_add_data(wire, 5, src, 20), -EINVAL);
	CU_ASSERT_EQUAL(framebuf_add_data(wire, 5, src, 16), 16);
	CU_ASSERT_EQUAL(evbuffer_get_length(src), 0);
	total = evbuffer_get_length(wire);
	CU_ASSERT_EQUAL(total, 2 * WIRE_HEADER_LEN + sizeof(big));

	/* Read it back in pieces of 4093 bytes. */
	while (evbuffer_get_length(wire) > 0) {
		evbuffer_remove_buffer(wire, in, 4093);
		while ((n = framebuf_next_header(in, &h, &err)) > 0) {
			CU_ASSERT_EQUAL(h.type, WIRE_DATA);
			CU_ASSERT_EQUAL(
			    framebuf_take_data(in, &h, dst), (int)h.length);
		}
		CU_ASSERT_EQUAL(n, 0);
	}
	CU_ASSERT_EQUAL(evbuffer_get_length(in), 0);
	CU_ASSERT_EQUAL_FATAL(evbuffer_get_length(dst), sizeof(big));
	CU_ASSERT_EQUAL(memcmp(evbuffer_pullup(dst, -1), big, sizeof(big)), 0);
	evbuffer_free(src);
	evbuffer_free(wire);
	evbuffer_free(in);
	evbuffer_free(dst);
	CU_ASSERT_EQUAL(freed, 1);
}

/* A frame announced too large is refused from its header alone, and a
 * discarded DATA frame leaves the buffer at the next frame. */
static void
test_early_refusal_and_discard(void)
{
	struct evbuffer *in = evbuffer_new();
	struct frame_header h;
	struct frame f;
	uint8_t hdr[WIRE_HEADER_LEN];
	uint32_t err = 0;

	frame_encode_header(hdr, WIRE_DATA, 1, 3);
	evbuffer_add(in, hdr, sizeof(hdr));
	evbuffer_add(in, "abc", 3);
	frame_encode_header(hdr, WIRE_FIN, 1, 0);
	evbuffer_add(in, hdr, sizeof(hdr));
	CU_ASSERT_EQUAL(framebuf_next_header(in, &h, &err), 15);
	CU_ASSERT_EQUAL(framebuf_take_data(in, &h, NULL), 3);
	CU_ASSERT_EQUAL(framebuf_next(in, &f, &err), 12);
	CU_ASSERT_EQUAL(f.h.type, WIRE_FIN);
	CU_ASSERT_EQUAL(framebuf_take_data(in, &f.h, NULL), -EINVAL);
	CU_ASSERT_EQUAL(framebuf_consume(in, &f), 0);
	CU_ASSERT_EQUAL(framebuf_consume(in, &f), -EIO);

	frame_encode_header(hdr, WIRE_DATA, 1, WIRE_MAX_PAYLOAD + 1);
	evbuffer_add(in, hdr, sizeof(hdr));
	CU_ASSERT_EQUAL(framebuf_next_header(in, &h, &err), -EMSGSIZE);
	CU_ASSERT_EQUAL(err, WIRE_ERR_FRAME_SIZE);
	evbuffer_free(in);
}

static void
test_free(void)
{
	vectors_free(vectors, n_vectors);
	vectors = NULL;
	n_vectors = 0;
}

static const struct cunit_test tests[] = {
    {"load", test_load},
    {"vectors_streamed", test_vectors_streamed},
    {"add_matches_vectors", test_add_matches_vectors},
    {"add_rejects", test_add_rejects},
    {"data_zero_copy", test_data_zero_copy},
    {"early_refusal_and_discard", test_early_refusal_and_discard},
    {"free", test_free},
};

CUNIT_MAIN("framebuf", tests)
