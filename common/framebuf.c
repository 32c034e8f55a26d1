/* SPDX-License-Identifier: Apache-2.0 */
/*
 * framebuf: the pure frame codec (proto/frame.c) applied to libevent
 * evbuffers. A carrier delivers bytes in arbitrary pieces; this module
 * decides, from a 12-byte copy of the header, whether a frame is valid and
 * complete before it asks libevent to make anything contiguous, so a peer
 * announcing a huge or bogus frame is refused before its payload is
 * buffered, and a frame still arriving costs no copies. DATA payloads move
 * between evbuffers by chain, not by copy, in both directions.
 */
#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#include "common/framebuf.h"

int
framebuf_next_header(
    struct evbuffer *in, struct frame_header *ret_header, uint32_t *err)
{
	uint8_t hdr[WIRE_HEADER_LEN];
	struct frame_header h;
	size_t have = evbuffer_get_length(in);
	int ret;

	if (have < WIRE_HEADER_LEN)
		return 0;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return 0;
	ret = frame_decode_header(hdr, sizeof(hdr), &h, err);
	if (ret <= 0)
		return ret;
	/* h.length <= WIRE_MAX_PAYLOAD, so the sum fits an int. */
	if (have - WIRE_HEADER_LEN < h.length)
		return 0;
	*ret_header = h;
	return (int)(WIRE_HEADER_LEN + h.length);
}

int
framebuf_next(struct evbuffer *in, struct frame *ret_frame, uint32_t *err)
{
	struct frame_header h;
	unsigned char *p;
	int size, ret;

	size = framebuf_next_header(in, &h, err);
	if (size <= 0)
		return size;
	p = evbuffer_pullup(in, size);
	if (!p)
		return -ENOMEM;
	ret = frame_decode(p, (size_t)size, ret_frame, err);
	/* The header said the whole frame is here: the decoder cannot ask
	 * for more. */
	if (ret == 0)
		return -EIO;
	return ret;
}

int
framebuf_consume(struct evbuffer *in, const struct frame *f)
{
	size_t size = WIRE_HEADER_LEN + (size_t)f->h.length;

	if (evbuffer_get_length(in) < size || evbuffer_drain(in, size) != 0)
		return -EIO;
	return 0;
}

int
framebuf_take_data(
    struct evbuffer *in, const struct frame_header *h, struct evbuffer *dst)
{
	if (h->type != WIRE_DATA || h->length > WIRE_MAX_PAYLOAD)
		return -EINVAL;
	if (evbuffer_get_length(in) < WIRE_HEADER_LEN + (size_t)h->length)
		return -EIO;
	if (evbuffer_drain(in, WIRE_HEADER_LEN) != 0)
		return -EIO;
	if (!dst) {
		if (evbuffer_drain(in, h->length) != 0)
			return -EIO;
	} else if (evbuffer_remove_buffer(in, dst, h->length) !=
	           (int)h->length) {
		return -EIO;
	}
	return (int)h->length;
}

int
framebuf_add(struct evbuffer *out, const struct frame *f)
{
	struct evbuffer_iovec vec;
	int size, ret;

	size = frame_encoded_size(f);
	if (size < 0)
		return size;
	if (evbuffer_reserve_space(out, size, &vec, 1) != 1 ||
	    vec.iov_len < (size_t)size)
		return -ENOMEM;
	ret = frame_encode(f, vec.iov_base, vec.iov_len);
	if (ret != size)
		return ret < 0 ? ret : -EIO;
	vec.iov_len = (size_t)size;
	if (evbuffer_commit_space(out, &vec, 1) != 0)
		return -ENOMEM;
	return size;
}

int
framebuf_add_data(
    struct evbuffer *out, uint32_t stream_id, struct evbuffer *src, size_t n)
{
	uint8_t hdr[WIRE_HEADER_LEN];

	if (stream_id == 0 || n < 1 || n > WIRE_MAX_PAYLOAD ||
	    n > evbuffer_get_length(src))
		return -EINVAL;
	frame_encode_header(hdr, WIRE_DATA, stream_id, (uint32_t)n);
	if (evbuffer_add(out, hdr, sizeof(hdr)) != 0)
		return -ENOMEM;
	if (evbuffer_remove_buffer(src, out, n) != (int)n)
		return -EIO;
	return (int)n;
}
