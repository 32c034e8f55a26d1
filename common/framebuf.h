/* SPDX-License-Identifier: Apache-2.0 */
/*
 * framebuf: telepod frames (proto/frame.h) to and from libevent evbuffers.
 * Reading handles frames split at any byte: the 12-byte header is checked
 * (with its length against WIRE_MAX_PAYLOAD) as soon as it has arrived and
 * before anything waits for the payload, and nothing is made contiguous
 * until a whole frame is buffered. DATA payloads can be moved to another
 * evbuffer without being made contiguous (the mux's zero-copy path).
 *
 * Typical receive loop:
 *
 *	while ((n = framebuf_next_header(in, &h, &err)) > 0) {
 *		if (h.type == WIRE_DATA) {
 *			framebuf_take_data(in, &h, stream_buf);
 *			continue;
 *		}
 *		framebuf_next(in, &f, &err);	(decode; may fail on payload)
 *		... use f ...
 *		framebuf_consume(in, &f);
 *	}
 */
#ifndef TELEPOD_COMMON_FRAMEBUF_H
#define TELEPOD_COMMON_FRAMEBUF_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

struct evbuffer;

/*
 * Looks at the next frame in `in` without removing anything. Returns the
 * whole frame's size (WIRE_HEADER_LEN + length) once all of it is buffered,
 * with *ret_header filled; 0 when more bytes are needed; or -EPROTO /
 * -EMSGSIZE with *err set to the wire error as soon as the header alone is
 * invalid (frame_decode_header's rules), even if the payload has not
 * arrived. The payload is not checked.
 */
int framebuf_next_header(
    struct evbuffer *in, struct frame_header *ret_header, uint32_t *err);

/*
 * Decodes the next frame in `in` without removing it. Returns its size when
 * a whole valid frame is buffered, 0 when more bytes are needed, or a
 * negative errno with *err set (frame_decode's contract). On success the
 * frame's bytes are made contiguous in `in` and *ret_frame's pointers
 * borrow them: they stay valid until `in` is drained or added to
 * (framebuf_consume, or the next read from the socket).
 */
int framebuf_next(struct evbuffer *in, struct frame *ret_frame, uint32_t *err);

/* Removes the frame f (as returned by framebuf_next) from the front of
 * `in`. Returns 0, or -EIO when `in` holds less than the frame. */
int framebuf_consume(struct evbuffer *in, const struct frame *f);

/*
 * Removes the DATA frame h (as returned by framebuf_next_header, whole
 * frame buffered) from `in` and appends its payload to dst without making
 * it contiguous; dst NULL discards it (a frame for a reset stream, still
 * credited by the caller). Returns the payload length, -EINVAL when h is
 * not DATA, or -EIO when `in` holds less than the frame or libevent fails
 * to move it (the session must end: `in` is no longer at a frame boundary).
 */
int framebuf_take_data(
    struct evbuffer *in, const struct frame_header *h, struct evbuffer *dst);

/*
 * Appends the encoding of f to out (frame_encode's rules). Returns the
 * bytes appended, -EINVAL / -EMSGSIZE as frame_encode, or -ENOMEM; out is
 * unchanged on failure.
 */
int framebuf_add(struct evbuffer *out, const struct frame *f);

/*
 * Appends a DATA frame for stream_id whose payload is the first n bytes of
 * src, moved (not copied, where libevent can) out of src. n must be
 * 1..WIRE_MAX_PAYLOAD and at most what src holds. Returns n, -EINVAL (stream
 * 0, n out of range or over what src holds), -ENOMEM, or -EIO when libevent
 * failed after the header was added (out is then no longer at a frame
 * boundary; the session must end).
 */
int framebuf_add_data(
    struct evbuffer *out, uint32_t stream_id, struct evbuffer *src, size_t n);

#endif
