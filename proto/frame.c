/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frame: the pure encoder and decoder of telepod tunnel frames, exactly as
 * proto/PROTOCOL.md specifies them. The decoder never allocates and never
 * reads past the length it is given: every length taken from the wire is
 * compared with a hard maximum and with the bytes that remain before it is
 * used. Decoded frames borrow from the input buffer.
 *
 * The encoder runs the same rules on the struct it is given (frame_check),
 * so a frame this module writes is always one it would accept; the unit
 * tests and the fuzzer check that decode followed by encode gives back the
 * same bytes.
 *
 * Error mapping (PROTOCOL.md, "Decoding rules"): a size, length or count
 * outside its bounds, or one that does not match the payload, is FRAME_SIZE
 * (-EMSGSIZE); any other invalid field is PROTOCOL (-EPROTO), except the
 * header's version (BAD_VERSION) and type (UNKNOWN_TYPE).
 */
#include <errno.h>
#include <string.h>

#include "proto/frame.h"

/* Writes the wire error and returns the errno that goes with it. */
static int
frame_fail(uint32_t *err, uint32_t code)
{
	if (err)
		*err = code;
	return code == WIRE_ERR_FRAME_SIZE ? -EMSGSIZE : -EPROTO;
}

static bool
frame_type_session(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:
	case WIRE_PING:
	case WIRE_PONG:
	case WIRE_GOAWAY:
	case WIRE_DNS_QUERY:
	case WIRE_DNS_ANSWER:
	case WIRE_ENV_REQUEST:
	case WIRE_ENV_REPLY:
		return true;
	}
	return false;
}

/*
 * The payload length bounds of each type that follow from its fixed part
 * and its limits alone. Bounds that depend on field values (the address of
 * an OPEN, the message of a DNS_ANSWER, entries) are checked by the payload
 * decoder.
 */
static void
frame_type_bounds(uint8_t type, uint32_t *ret_min, uint32_t *ret_max)
{
	uint32_t min = 0, max = WIRE_MAX_PAYLOAD;

	switch (type) {
	case WIRE_HELLO:
		min = FRAME_HELLO_FIXED;
		break;
	case WIRE_PING:
	case WIRE_PONG:
		min = max = 8;
		break;
	case WIRE_GOAWAY:
		min = 8;
		max = 8 + FRAME_MAX_MESSAGE;
		break;
	case WIRE_OPEN:
		/* Fixed part plus the shortest and longest address. */
		min = 8 + 2;
		max = 8 + 1 + WIRE_MAX_HOSTNAME;
		break;
	case WIRE_OPEN_RESULT:
		min = 8;
		max = 8 + FRAME_MAX_MESSAGE;
		break;
	case WIRE_DATA:
		/* Empty DATA is a PROTOCOL error, checked separately. */
		break;
	case WIRE_WINDOW:
		min = max = 4;
		break;
	case WIRE_FIN:
		min = max = 0;
		break;
	case WIRE_RESET:
		min = 4;
		max = 4 + FRAME_MAX_MESSAGE;
		break;
	case WIRE_DNS_QUERY:
		min = 4 + FRAME_DNS_MIN;
		max = 4 + FRAME_DNS_MAX;
		break;
	case WIRE_DNS_ANSWER:
		min = 8;
		max = 8 + FRAME_DNS_MAX;
		break;
	case WIRE_ENV_REQUEST:
		min = max = 4;
		break;
	case WIRE_ENV_REPLY:
		min = 12;
		break;
	}
	*ret_min = min;
	*ret_max = max;
}

int
frame_decode_header(const uint8_t *buf, size_t len,
    struct frame_header *ret_header, uint32_t *err)
{
	struct frame_header h;
	uint32_t min, max;

	if (len < WIRE_HEADER_LEN)
		return 0;
	h.version = buf[0];
	h.type = buf[1];
	h.flags = wire_get_u16(buf + 2);
	h.stream_id = wire_get_u32(buf + 4);
	h.length = wire_get_u32(buf + 8);

	/* The order of these checks is part of the spec: the first rule a
	 * header breaks names the error. */
	if (h.version != WIRE_VERSION)
		return frame_fail(err, WIRE_ERR_BAD_VERSION);
	if (!wire_type_name(h.type))
		return frame_fail(err, WIRE_ERR_UNKNOWN_TYPE);
	if (h.flags & ~WIRE_FLAGS_KNOWN)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (h.length > WIRE_MAX_PAYLOAD)
		return frame_fail(err, WIRE_ERR_FRAME_SIZE);
	if (frame_type_session(h.type) && h.stream_id != 0)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (!frame_type_session(h.type) && h.type != WIRE_WINDOW &&
	    h.stream_id == 0)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (h.type == WIRE_DATA && h.length == 0)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	frame_type_bounds(h.type, &min, &max);
	if (h.length < min || h.length > max)
		return frame_fail(err, WIRE_ERR_FRAME_SIZE);

	*ret_header = h;
	return WIRE_HEADER_LEN;
}

static bool
frame_window_valid(uint32_t w)
{
	return w >= 1 && w <= WIRE_MAX_WINDOW;
}

/* Host names: letters, digits, '-', '_' and '.', 1..253 bytes. */
static bool
frame_hostname_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.'))
			return false;
	}
	return true;
}

static bool
frame_env_name_valid(const uint8_t *s, size_t len)
{
	return !memchr(s, '=', len) && !memchr(s, '\0', len);
}

/*
 * Walks count ENV_REPLY entries in p[0..len). Returns 0 when they fill the
 * bytes exactly, or a frame_fail() result.
 */
static int
frame_env_walk(const uint8_t *p, size_t len, uint32_t count, uint32_t *err)
{
	if (count > FRAME_MAX_ENV_ENTRIES)
		return frame_fail(err, WIRE_ERR_FRAME_SIZE);
	for (uint32_t i = 0; i < count; i++) {
		size_t name_len, value_len;

		if (len < 2)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		name_len = wire_get_u16(p);
		p += 2;
		len -= 2;
		if (name_len < 1 || name_len > FRAME_MAX_ENV_NAME ||
		    name_len > len)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		if (!frame_env_name_valid(p, name_len))
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		p += name_len;
		len -= name_len;
		if (len < 4)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		value_len = wire_get_u32(p);
		p += 4;
		len -= 4;
		if (value_len > FRAME_MAX_ENV_VALUE || value_len > len)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		p += value_len;
		len -= value_len;
	}
	if (len != 0)
		return frame_fail(err, WIRE_ERR_FRAME_SIZE);
	return 0;
}

static int
frame_decode_hello(const uint8_t *p, size_t len, struct frame *f, uint32_t *err)
{
	size_t n = 0;

	f->u.hello.role = p[0];
	f->u.hello.min_proto = p[1];
	f->u.hello.max_proto = p[2];
	f->u.hello.caps = wire_get_u32(p + 4);
	f->u.hello.conn_window = wire_get_u32(p + 8);
	if (f->u.hello.role != WIRE_ROLE_CLIENT &&
	    f->u.hello.role != WIRE_ROLE_SERVER)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (f->u.hello.min_proto < 1 ||
	    f->u.hello.min_proto > f->u.hello.max_proto)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (p[3] != 0)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (!frame_window_valid(f->u.hello.conn_window))
		return frame_fail(err, WIRE_ERR_PROTOCOL);

	p += FRAME_HELLO_FIXED;
	len -= FRAME_HELLO_FIXED;
	while (len > 0) {
		struct frame_kv *kv;
		size_t name_len, value_len;

		if (n == FRAME_MAX_EXTENSIONS)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		if (len < 2)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		name_len = wire_get_u16(p);
		if (name_len < 1 || name_len > FRAME_MAX_EXT_NAME ||
		    name_len > len - 2)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		p += 2;
		len -= 2;
		kv = &f->u.hello.ext[n];
		kv->name = (const char *)p;
		kv->name_len = name_len;
		p += name_len;
		len -= name_len;
		if (len < 2)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		value_len = wire_get_u16(p);
		if (value_len > FRAME_MAX_EXT_VALUE || value_len > len - 2)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		p += 2;
		len -= 2;
		kv->value = (const char *)p;
		kv->value_len = value_len;
		p += value_len;
		len -= value_len;
		/* A name given twice would let two readers see two values. */
		for (size_t i = 0; i < n; i++)
			if (f->u.hello.ext[i].name_len == name_len &&
			    !memcmp(f->u.hello.ext[i].name, kv->name, name_len))
				return frame_fail(err, WIRE_ERR_PROTOCOL);
		n++;
	}
	f->u.hello.n_ext = n;
	return 0;
}

static int
frame_decode_open(const uint8_t *p, size_t len, struct frame *f, uint32_t *err)
{
	struct frame_addr *dst = &f->u.open.dst;
	size_t name_len;

	memset(dst, 0, sizeof(*dst));
	dst->type = p[0];
	f->u.open.transport = p[1];
	dst->port = wire_get_u16(p + 2);
	f->u.open.window = wire_get_u32(p + 4);
	if (dst->type != WIRE_ADDR_IPV4 && dst->type != WIRE_ADDR_IPV6 &&
	    dst->type != WIRE_ADDR_NAME)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (f->u.open.transport != WIRE_TRANSPORT_TCP)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (dst->port == 0)
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	if (!frame_window_valid(f->u.open.window))
		return frame_fail(err, WIRE_ERR_PROTOCOL);
	p += 8;
	len -= 8;
	switch (dst->type) {
	case WIRE_ADDR_IPV4:
		if (len != 4)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		memcpy(dst->a.v4, p, 4);
		break;
	case WIRE_ADDR_IPV6:
		if (len != 16)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		memcpy(dst->a.v6, p, 16);
		break;
	default:
		name_len = p[0];
		if (name_len < 1 || name_len > WIRE_MAX_HOSTNAME ||
		    len != 1 + name_len)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		if (!frame_hostname_valid((const char *)p + 1, name_len))
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		memcpy(dst->a.name, p + 1, name_len);
		dst->a.name[name_len] = '\0';
		break;
	}
	return 0;
}

/* Decodes the payload of a frame whose header f->h has been validated. */
static int
frame_decode_payload(const uint8_t *p, struct frame *f, uint32_t *err)
{
	size_t len = f->h.length;

	switch (f->h.type) {
	case WIRE_HELLO:
		return frame_decode_hello(p, len, f, err);
	case WIRE_PING:
	case WIRE_PONG:
		f->u.ping.opaque = wire_get_u64(p);
		return 0;
	case WIRE_GOAWAY:
		f->u.goaway.last_stream_id = wire_get_u32(p);
		f->u.goaway.error = wire_get_u32(p + 4);
		f->u.goaway.msg = (const char *)p + 8;
		f->u.goaway.msg_len = len - 8;
		return 0;
	case WIRE_OPEN:
		return frame_decode_open(p, len, f, err);
	case WIRE_OPEN_RESULT:
		f->u.open_result.error = wire_get_u32(p);
		f->u.open_result.window = wire_get_u32(p + 4);
		f->u.open_result.msg = (const char *)p + 8;
		f->u.open_result.msg_len = len - 8;
		if (f->u.open_result.window > WIRE_MAX_WINDOW)
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		if (f->u.open_result.error == WIRE_OK &&
		    f->u.open_result.window == 0)
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		return 0;
	case WIRE_DATA:
		f->u.data.data = p;
		f->u.data.len = len;
		return 0;
	case WIRE_WINDOW:
		f->u.window.increment = wire_get_u32(p);
		if (f->u.window.increment == 0)
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		return 0;
	case WIRE_FIN:
		return 0;
	case WIRE_RESET:
		f->u.reset.error = wire_get_u32(p);
		f->u.reset.msg = (const char *)p + 4;
		f->u.reset.msg_len = len - 4;
		return 0;
	case WIRE_DNS_QUERY:
		f->u.dns_query.id = wire_get_u32(p);
		f->u.dns_query.msg = p + 4;
		f->u.dns_query.msg_len = len - 4;
		return 0;
	case WIRE_DNS_ANSWER:
		f->u.dns_answer.id = wire_get_u32(p);
		f->u.dns_answer.error = wire_get_u32(p + 4);
		f->u.dns_answer.msg = p + 8;
		f->u.dns_answer.msg_len = len - 8;
		if (f->u.dns_answer.error == WIRE_OK
		        ? f->u.dns_answer.msg_len < FRAME_DNS_MIN
		        : f->u.dns_answer.msg_len != 0)
			return frame_fail(err, WIRE_ERR_FRAME_SIZE);
		return 0;
	case WIRE_ENV_REQUEST:
		f->u.env_request.id = wire_get_u32(p);
		return 0;
	case WIRE_ENV_REPLY:
		f->u.env_reply.id = wire_get_u32(p);
		f->u.env_reply.error = wire_get_u32(p + 4);
		f->u.env_reply.count = wire_get_u32(p + 8);
		f->u.env_reply.entries = p + 12;
		f->u.env_reply.entries_len = len - 12;
		if (f->u.env_reply.error != WIRE_OK &&
		    f->u.env_reply.count != 0)
			return frame_fail(err, WIRE_ERR_PROTOCOL);
		return frame_env_walk(
		    p + 12, len - 12, f->u.env_reply.count, err);
	}
	/* frame_decode_header() let only known types through. */
	return frame_fail(err, WIRE_ERR_UNKNOWN_TYPE);
}

int
frame_decode(
    const uint8_t *buf, size_t len, struct frame *ret_frame, uint32_t *err)
{
	struct frame f;
	int ret;

	ret = frame_decode_header(buf, len, &f.h, err);
	if (ret <= 0)
		goto out;
	if (len - WIRE_HEADER_LEN < f.h.length) {
		ret = 0;
		goto out;
	}
	f.payload = buf + WIRE_HEADER_LEN;
	ret = frame_decode_payload(f.payload, &f, err);
	if (ret < 0)
		goto out;
	*ret_frame = f;
	ret = (int)(WIRE_HEADER_LEN + f.h.length);
out:
	return ret;
}

size_t
frame_encode_header(
    uint8_t *out, uint8_t type, uint32_t stream_id, uint32_t length)
{
	out[0] = WIRE_VERSION;
	out[1] = type;
	wire_put_u16(out + 2, 0);
	wire_put_u32(out + 4, stream_id);
	wire_put_u32(out + 8, length);
	return WIRE_HEADER_LEN;
}

/* Maps a rule the struct breaks to the encoder's errno. */
static int
frame_check_fail(uint32_t code)
{
	return code == WIRE_ERR_FRAME_SIZE ? -EMSGSIZE : -EINVAL;
}

/*
 * Applies the decoder's rules to f and computes its payload length.
 * Returns the payload length, -EMSGSIZE for a size rule, -EINVAL for any
 * other rule.
 */
static int
frame_check_payload(const struct frame *f)
{
	size_t len = 0;
	uint32_t err, min, max;

	switch (f->h.type) {
	case WIRE_HELLO:
		if (f->u.hello.role != WIRE_ROLE_CLIENT &&
		    f->u.hello.role != WIRE_ROLE_SERVER)
			return -EINVAL;
		if (f->u.hello.min_proto < 1 ||
		    f->u.hello.min_proto > f->u.hello.max_proto ||
		    !frame_window_valid(f->u.hello.conn_window))
			return -EINVAL;
		if (f->u.hello.n_ext > FRAME_MAX_EXTENSIONS)
			return -EMSGSIZE;
		len = FRAME_HELLO_FIXED;
		for (size_t i = 0; i < f->u.hello.n_ext; i++) {
			const struct frame_kv *kv = &f->u.hello.ext[i];

			if (kv->name_len < 1 ||
			    kv->name_len > FRAME_MAX_EXT_NAME ||
			    kv->value_len > FRAME_MAX_EXT_VALUE)
				return -EMSGSIZE;
			for (size_t j = 0; j < i; j++)
				if (f->u.hello.ext[j].name_len ==
				        kv->name_len &&
				    !memcmp(f->u.hello.ext[j].name, kv->name,
				        kv->name_len))
					return -EINVAL;
			len += 4 + kv->name_len + kv->value_len;
		}
		break;
	case WIRE_PING:
	case WIRE_PONG:
		len = 8;
		break;
	case WIRE_GOAWAY:
		if (f->u.goaway.msg_len > FRAME_MAX_MESSAGE)
			return -EMSGSIZE;
		len = 8 + f->u.goaway.msg_len;
		break;
	case WIRE_OPEN: {
		const struct frame_addr *dst = &f->u.open.dst;
		size_t name_len;

		if (f->u.open.transport != WIRE_TRANSPORT_TCP ||
		    dst->port == 0 || !frame_window_valid(f->u.open.window))
			return -EINVAL;
		switch (dst->type) {
		case WIRE_ADDR_IPV4:
			len = 8 + 4;
			break;
		case WIRE_ADDR_IPV6:
			len = 8 + 16;
			break;
		case WIRE_ADDR_NAME:
			name_len = strnlen(dst->a.name, sizeof(dst->a.name));
			if (name_len < 1 || name_len > WIRE_MAX_HOSTNAME)
				return -EMSGSIZE;
			if (!frame_hostname_valid(dst->a.name, name_len))
				return -EINVAL;
			len = 8 + 1 + name_len;
			break;
		default:
			return -EINVAL;
		}
		break;
	}
	case WIRE_OPEN_RESULT:
		if (f->u.open_result.window > WIRE_MAX_WINDOW ||
		    (f->u.open_result.error == WIRE_OK &&
		        f->u.open_result.window == 0))
			return -EINVAL;
		if (f->u.open_result.msg_len > FRAME_MAX_MESSAGE)
			return -EMSGSIZE;
		len = 8 + f->u.open_result.msg_len;
		break;
	case WIRE_DATA:
		if (f->u.data.len == 0)
			return -EINVAL;
		if (f->u.data.len > WIRE_MAX_PAYLOAD)
			return -EMSGSIZE;
		len = f->u.data.len;
		break;
	case WIRE_WINDOW:
		if (f->u.window.increment == 0)
			return -EINVAL;
		len = 4;
		break;
	case WIRE_FIN:
		len = 0;
		break;
	case WIRE_RESET:
		if (f->u.reset.msg_len > FRAME_MAX_MESSAGE)
			return -EMSGSIZE;
		len = 4 + f->u.reset.msg_len;
		break;
	case WIRE_DNS_QUERY:
		if (f->u.dns_query.msg_len > FRAME_DNS_MAX)
			return -EMSGSIZE;
		len = 4 + f->u.dns_query.msg_len;
		break;
	case WIRE_DNS_ANSWER:
		if (f->u.dns_answer.error == WIRE_OK
		        ? f->u.dns_answer.msg_len < FRAME_DNS_MIN
		        : f->u.dns_answer.msg_len != 0)
			return -EMSGSIZE;
		if (f->u.dns_answer.msg_len > FRAME_DNS_MAX)
			return -EMSGSIZE;
		len = 8 + f->u.dns_answer.msg_len;
		break;
	case WIRE_ENV_REQUEST:
		len = 4;
		break;
	case WIRE_ENV_REPLY:
		if (f->u.env_reply.error != WIRE_OK &&
		    f->u.env_reply.count != 0)
			return -EINVAL;
		if (f->u.env_reply.entries_len > WIRE_MAX_PAYLOAD)
			return -EMSGSIZE;
		if (frame_env_walk(f->u.env_reply.entries,
		        f->u.env_reply.entries_len, f->u.env_reply.count,
		        &err) < 0)
			return frame_check_fail(err);
		len = 12 + f->u.env_reply.entries_len;
		break;
	default:
		return -EINVAL;
	}
	/* Every addend above is bounded, so len cannot have wrapped; the
	 * type's bounds catch the remaining short and long cases. */
	frame_type_bounds(f->h.type, &min, &max);
	if (len < min || len > max || len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	return (int)len;
}

/* Stream id rules of the header, for the encoder. */
static bool
frame_stream_id_valid(uint8_t type, uint32_t stream_id)
{
	if (frame_type_session(type))
		return stream_id == 0;
	if (type == WIRE_WINDOW)
		return true;
	return stream_id != 0;
}

int
frame_encoded_size(const struct frame *f)
{
	int len;

	if (!wire_type_name(f->h.type) ||
	    !frame_stream_id_valid(f->h.type, f->h.stream_id))
		return -EINVAL;
	len = frame_check_payload(f);
	if (len < 0)
		return len;
	return WIRE_HEADER_LEN + len;
}

static uint8_t *
frame_put_bytes(uint8_t *p, const void *src, size_t len)
{
	if (len)
		memcpy(p, src, len);
	return p + len;
}

int
frame_encode(const struct frame *f, uint8_t *buf, size_t cap)
{
	uint8_t *p;
	int size;

	size = frame_encoded_size(f);
	if (size < 0)
		return size;
	if ((size_t)size > cap)
		return -EMSGSIZE;
	p = buf + frame_encode_header(buf, f->h.type, f->h.stream_id,
	              (uint32_t)(size - WIRE_HEADER_LEN));
	switch (f->h.type) {
	case WIRE_HELLO:
		p[0] = f->u.hello.role;
		p[1] = f->u.hello.min_proto;
		p[2] = f->u.hello.max_proto;
		p[3] = 0;
		wire_put_u32(p + 4, f->u.hello.caps);
		wire_put_u32(p + 8, f->u.hello.conn_window);
		p += FRAME_HELLO_FIXED;
		for (size_t i = 0; i < f->u.hello.n_ext; i++) {
			const struct frame_kv *kv = &f->u.hello.ext[i];

			wire_put_u16(p, (uint16_t)kv->name_len);
			p = frame_put_bytes(p + 2, kv->name, kv->name_len);
			wire_put_u16(p, (uint16_t)kv->value_len);
			p = frame_put_bytes(p + 2, kv->value, kv->value_len);
		}
		break;
	case WIRE_PING:
	case WIRE_PONG:
		wire_put_u64(p, f->u.ping.opaque);
		break;
	case WIRE_GOAWAY:
		wire_put_u32(p, f->u.goaway.last_stream_id);
		wire_put_u32(p + 4, f->u.goaway.error);
		frame_put_bytes(p + 8, f->u.goaway.msg, f->u.goaway.msg_len);
		break;
	case WIRE_OPEN: {
		const struct frame_addr *dst = &f->u.open.dst;
		size_t name_len;

		p[0] = dst->type;
		p[1] = f->u.open.transport;
		wire_put_u16(p + 2, dst->port);
		wire_put_u32(p + 4, f->u.open.window);
		p += 8;
		if (dst->type == WIRE_ADDR_IPV4) {
			frame_put_bytes(p, dst->a.v4, 4);
		} else if (dst->type == WIRE_ADDR_IPV6) {
			frame_put_bytes(p, dst->a.v6, 16);
		} else {
			name_len = strnlen(dst->a.name, sizeof(dst->a.name));
			p[0] = (uint8_t)name_len;
			frame_put_bytes(p + 1, dst->a.name, name_len);
		}
		break;
	}
	case WIRE_OPEN_RESULT:
		wire_put_u32(p, f->u.open_result.error);
		wire_put_u32(p + 4, f->u.open_result.window);
		frame_put_bytes(
		    p + 8, f->u.open_result.msg, f->u.open_result.msg_len);
		break;
	case WIRE_DATA:
		frame_put_bytes(p, f->u.data.data, f->u.data.len);
		break;
	case WIRE_WINDOW:
		wire_put_u32(p, f->u.window.increment);
		break;
	case WIRE_FIN:
		break;
	case WIRE_RESET:
		wire_put_u32(p, f->u.reset.error);
		frame_put_bytes(p + 4, f->u.reset.msg, f->u.reset.msg_len);
		break;
	case WIRE_DNS_QUERY:
		wire_put_u32(p, f->u.dns_query.id);
		frame_put_bytes(
		    p + 4, f->u.dns_query.msg, f->u.dns_query.msg_len);
		break;
	case WIRE_DNS_ANSWER:
		wire_put_u32(p, f->u.dns_answer.id);
		wire_put_u32(p + 4, f->u.dns_answer.error);
		frame_put_bytes(
		    p + 8, f->u.dns_answer.msg, f->u.dns_answer.msg_len);
		break;
	case WIRE_ENV_REQUEST:
		wire_put_u32(p, f->u.env_request.id);
		break;
	case WIRE_ENV_REPLY:
		wire_put_u32(p, f->u.env_reply.id);
		wire_put_u32(p + 4, f->u.env_reply.error);
		wire_put_u32(p + 8, f->u.env_reply.count);
		frame_put_bytes(
		    p + 12, f->u.env_reply.entries, f->u.env_reply.entries_len);
		break;
	}
	return size;
}

int
frame_env_put(uint8_t *buf, size_t cap, size_t *off, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
	uint8_t *p;
	size_t need;

	if (name_len < 1 || name_len > FRAME_MAX_ENV_NAME ||
	    value_len > FRAME_MAX_ENV_VALUE)
		return -EMSGSIZE;
	if (!frame_env_name_valid((const uint8_t *)name, name_len))
		return -EINVAL;
	/* Both lengths are bounded above, so this cannot overflow. */
	need = 2 + name_len + 4 + value_len;
	if (*off > cap || cap - *off < need)
		return -EMSGSIZE;
	p = buf + *off;
	wire_put_u16(p, (uint16_t)name_len);
	p = frame_put_bytes(p + 2, name, name_len);
	wire_put_u32(p, (uint32_t)value_len);
	frame_put_bytes(p + 4, value, value_len);
	*off += need;
	return 0;
}

void
frame_env_iter_init(struct frame_env_iter *it, const struct frame *f)
{
	it->p = f->u.env_reply.entries;
	it->left = f->u.env_reply.entries_len;
}

bool
frame_env_next(struct frame_env_iter *it, struct frame_kv *ret_kv)
{
	size_t name_len, value_len;

	/* The decoder validated the entries; the checks keep a misuse (an
	 * iterator over unvalidated bytes) from reading out of bounds. */
	if (it->left < 2)
		return false;
	name_len = wire_get_u16(it->p);
	if (it->left - 2 < name_len + 4)
		return false;
	value_len = wire_get_u32(it->p + 2 + name_len);
	if (it->left - 2 - name_len - 4 < value_len)
		return false;
	ret_kv->name = (const char *)it->p + 2;
	ret_kv->name_len = name_len;
	ret_kv->value = (const char *)it->p + 2 + name_len + 4;
	ret_kv->value_len = value_len;
	it->p += 2 + name_len + 4 + value_len;
	it->left -= 2 + name_len + 4 + value_len;
	return true;
}

const struct frame_kv *
frame_hello_ext(const struct frame *f, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < f->u.hello.n_ext && i < FRAME_MAX_EXTENSIONS;
	     i++)
		if (f->u.hello.ext[i].name_len == len &&
		    !memcmp(f->u.hello.ext[i].name, name, len))
			return &f->u.hello.ext[i];
	return NULL;
}
