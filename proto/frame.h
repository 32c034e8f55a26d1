/* SPDX-License-Identifier: Apache-2.0 */
/*
 * frame: the pure encoder and decoder of telepod tunnel frames
 * (proto/PROTOCOL.md). No I/O and no allocation: the decoder reads a byte
 * buffer and points into it; the encoder writes into a caller's buffer.
 * common/framebuf wraps the decoder for libevent evbuffers.
 */
#ifndef TELEPOD_PROTO_FRAME_H
#define TELEPOD_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* At most this many HELLO extensions are sent or accepted. */
#define FRAME_MAX_EXTENSIONS 32
/* Longest human-readable message in OPEN_RESULT, RESET, GOAWAY. */
#define FRAME_MAX_MESSAGE 1024
/* Smallest DNS message (its header). */
#define FRAME_DNS_MIN 12
/* Largest DNS message (its TCP length prefix is a u16). */
#define FRAME_DNS_MAX 65535
/* HELLO extension name and value lengths. */
#define FRAME_MAX_EXT_NAME  64
#define FRAME_MAX_EXT_VALUE 4096
/* ENV_REPLY limits: entries, name and value lengths. */
#define FRAME_MAX_ENV_ENTRIES 4096
#define FRAME_MAX_ENV_NAME    1024
#define FRAME_MAX_ENV_VALUE   131072
/* Fixed part of the HELLO payload (before the extensions). */
#define FRAME_HELLO_FIXED 12

/* A name/value pair borrowed from a buffer (not NUL-terminated). */
struct frame_kv {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Destination of an OPEN. For WIRE_ADDR_NAME, name is NUL-terminated. */
struct frame_addr {
	uint8_t type; /* enum wire_addr_type */
	uint16_t port;
	union {
		uint8_t v4[4];
		uint8_t v6[16];
		char name[WIRE_MAX_HOSTNAME + 1];
	} a;
};

struct frame_header {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t stream_id;
	uint32_t length; /* payload bytes after the header */
};

/*
 * A decoded frame. Pointers borrow from the decoded buffer and are valid
 * only as long as it is. For encoding, fill h.type, h.stream_id and the
 * member of u for the type (h.version, h.flags and h.length are computed).
 */
struct frame {
	struct frame_header h;
	const uint8_t *payload; /* h.length bytes */
	union {
		struct {
			uint8_t role; /* enum wire_role */
			uint8_t min_proto;
			uint8_t max_proto;
			uint32_t caps;        /* WIRE_CAP_* */
			uint32_t conn_window; /* initial connection window */
			size_t n_ext;
			struct frame_kv ext[FRAME_MAX_EXTENSIONS];
		} hello;
		struct {
			uint64_t opaque; /* PING and PONG */
		} ping;
		struct {
			uint32_t last_stream_id;
			uint32_t error;
			const char *msg;
			size_t msg_len;
		} goaway;
		struct {
			struct frame_addr dst;
			uint8_t transport; /* enum wire_transport */
			uint32_t window;   /* opener's initial receive window */
		} open;
		struct {
			uint32_t error;  /* WIRE_OK or a destination error */
			uint32_t window; /* acceptor's initial receive window */
			const char *msg;
			size_t msg_len;
		} open_result;
		struct {
			const uint8_t *data;
			size_t len;
		} data;
		struct {
			uint32_t increment;
		} window;
		struct {
			uint32_t error;
			const char *msg;
			size_t msg_len;
		} reset;
		struct {
			uint32_t id;
			const uint8_t *msg; /* raw DNS message */
			size_t msg_len;
		} dns_query;
		struct {
			uint32_t id;
			uint32_t error; /* WIRE_OK: msg is the answer */
			const uint8_t *msg;
			size_t msg_len;
		} dns_answer;
		struct {
			uint32_t id;
		} env_request;
		struct {
			uint32_t id;
			uint32_t error;
			uint32_t count;         /* number of entries */
			const uint8_t *entries; /* encoded entries */
			size_t entries_len;
		} env_reply;
	} u;
};

/*
 * Decodes the fixed header at buf. Returns WIRE_HEADER_LEN, 0 when fewer
 * than WIRE_HEADER_LEN bytes are given, or -EPROTO / -EMSGSIZE with *err set
 * to the wire error (BAD_VERSION, UNKNOWN_TYPE, FRAME_SIZE, PROTOCOL) when
 * the header alone is invalid. Checks: version, known type, no unknown
 * flags, length <= WIRE_MAX_PAYLOAD and the type's fixed length rules, and
 * the stream id rules of the type.
 */
int frame_decode_header(const uint8_t *buf, size_t len,
    struct frame_header *ret_header, uint32_t *err);

/*
 * Decodes one whole frame from buf. Returns the bytes consumed (header plus
 * payload), 0 when more bytes are needed, or a negative errno with *err set
 * to the wire error code the spec names for the malformation.
 */
int frame_decode(
    const uint8_t *buf, size_t len, struct frame *ret_frame, uint32_t *err);

/* Writes a header into out. Returns WIRE_HEADER_LEN. */
size_t frame_encode_header(
    uint8_t *out, uint8_t type, uint32_t stream_id, uint32_t length);

/*
 * Encodes f into buf (capacity cap). Returns the bytes written,
 * -EMSGSIZE when cap is too small or a size, length or count breaks its
 * limit (the payload would exceed WIRE_MAX_PAYLOAD, a message is over
 * FRAME_MAX_MESSAGE, ...), -EINVAL when f breaks any other rule the decoder
 * enforces (so whatever this writes, frame_decode accepts).
 */
int frame_encode(const struct frame *f, uint8_t *buf, size_t cap);

/* Returns the encoded size of f, or a negative errno as frame_encode. */
int frame_encoded_size(const struct frame *f);

/*
 * Appends one ENV_REPLY entry (u16 name length, name, u32 value length,
 * value) at buf + *off, advancing *off. Returns 0, -EMSGSIZE when a length
 * is out of bounds or cap is too small, -EINVAL when the name holds '=' or
 * NUL. The caller counts the entries it puts.
 */
int frame_env_put(uint8_t *buf, size_t cap, size_t *off, const char *name,
    size_t name_len, const char *value, size_t value_len);

/* Iterates the entries of a decoded ENV_REPLY (already validated). */
struct frame_env_iter {
	const uint8_t *p;
	size_t left;
};
void frame_env_iter_init(struct frame_env_iter *it, const struct frame *f);
/* Returns true and fills *ret_kv while entries remain. */
bool frame_env_next(struct frame_env_iter *it, struct frame_kv *ret_kv);

/* Looks up a HELLO extension by name; returns NULL when absent. */
const struct frame_kv *frame_hello_ext(const struct frame *f, const char *name);

#endif
