/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_frame: libFuzzer target for the frame decoder (proto/frame.c). The
 * input is a byte stream from a peer; frames are decoded until the input
 * ends or an error, and every property the decoder promises is checked,
 * aborting (a crash for libFuzzer) when one fails:
 *   - a decoded frame re-encodes to exactly its input bytes, and its
 *     encoded size is what frame_encoded_size says;
 *   - the header decoder agrees with the frame decoder on every input;
 *   - every error return is -EPROTO or -EMSGSIZE and sets a known wire
 *     error (-EMSGSIZE exactly for FRAME_SIZE);
 *   - a prefix of a decoded frame asks for more bytes, never errors;
 *   - the ENV_REPLY iterator visits exactly count entries and HELLO
 *     extensions are found by name.
 * Seeded from proto/vectors by tests/fuzz/run.sh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t scratch[WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD];

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_error(int ret, uint32_t err)
{
	check(ret == -EPROTO || ret == -EMSGSIZE);
	check(err != WIRE_OK && strcmp(wire_error_name(err), "UNKNOWN") != 0);
	check((ret == -EMSGSIZE) == (err == WIRE_ERR_FRAME_SIZE));
}

static void
check_frame(const uint8_t *buf, int n, const struct frame *f)
{
	struct frame g;
	uint32_t err;

	check(frame_encoded_size(f) == n);
	check(frame_encode(f, scratch, sizeof(scratch)) == n);
	check(memcmp(scratch, buf, (size_t)n) == 0);
	/* Too small a buffer is refused, not overrun. */
	check(frame_encode(f, scratch, (size_t)n - 1) == -EMSGSIZE);
	/* The frame less its last byte is incomplete, not an error. */
	check(frame_decode(buf, (size_t)n - 1, &g, &err) == 0);

	if (f->h.type == WIRE_ENV_REPLY) {
		struct frame_env_iter it;
		struct frame_kv kv;
		uint32_t count = 0;

		frame_env_iter_init(&it, f);
		while (frame_env_next(&it, &kv)) {
			check(kv.name_len >= 1 &&
			      kv.name_len <= FRAME_MAX_ENV_NAME);
			check(!memchr(kv.name, '=', kv.name_len));
			count++;
		}
		check(count == f->u.env_reply.count && it.left == 0);
	}
	if (f->h.type == WIRE_HELLO) {
		char name[FRAME_MAX_EXT_NAME + 1];

		check(f->u.hello.n_ext <= FRAME_MAX_EXTENSIONS);
		for (size_t i = 0; i < f->u.hello.n_ext; i++) {
			const struct frame_kv *kv = &f->u.hello.ext[i];

			/* Names may hold NUL; look up those without. */
			if (memchr(kv->name, '\0', kv->name_len))
				continue;
			memcpy(name, kv->name, kv->name_len);
			name[kv->name_len] = '\0';
			check(frame_hello_ext(f, name) == kv);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	for (;;) {
		struct frame_header h;
		struct frame f;
		uint32_t herr = 0, err = 0;
		int hn, n;

		hn = frame_decode_header(data + off, size - off, &h, &herr);
		n = frame_decode(data + off, size - off, &f, &err);
		if (hn < 0) {
			/* A bad header fails the frame with the same error,
			 * whether or not the payload is there. */
			check_error(hn, herr);
			check(n == hn && err == herr);
			break;
		}
		if (n < 0) {
			check_error(n, err);
			/* Payload errors need the whole frame. */
			check(hn == WIRE_HEADER_LEN &&
			      size - off >= WIRE_HEADER_LEN + h.length);
			break;
		}
		if (n == 0) {
			check(hn == 0 ||
			      size - off < WIRE_HEADER_LEN + (size_t)h.length);
			break;
		}
		check(hn == WIRE_HEADER_LEN &&
		      (size_t)n == WIRE_HEADER_LEN + h.length);
		check(f.h.type == h.type && f.h.stream_id == h.stream_id &&
		      f.h.length == h.length && f.h.version == WIRE_VERSION &&
		      f.h.flags == 0);
		check_frame(data + off, n, &f);
		off += (size_t)n;
	}
	return 0;
}
