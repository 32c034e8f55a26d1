/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire: the numbers of the telepod tunnel protocol (proto/PROTOCOL.md) and
 * big-endian accessors. Numbers are grouped in ranges per family and are
 * never renumbered; retired numbers stay reserved. tests/unit/test_frame.c
 * checks this table against the spec's numbers table.
 */
#ifndef TELEPOD_PROTO_WIRE_H
#define TELEPOD_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Framing version carried in every header; a frame with another value is
 * rejected with WIRE_ERR_BAD_VERSION. */
#define WIRE_VERSION 1

/* Protocol (feature) versions negotiated in HELLO. */
#define WIRE_PROTO_MIN 1
#define WIRE_PROTO_MAX 1

/* Fixed header: version u8, type u8, flags u16, stream id u32, length u32. */
#define WIRE_HEADER_LEN 12

/* Largest payload a peer may send, whatever the type. */
#define WIRE_MAX_PAYLOAD (256u * 1024u)

/* Largest window (stream or connection) after any update: 2^31 - 1. */
#define WIRE_MAX_WINDOW 0x7fffffffu

/* Defaults advertised in HELLO/OPEN unless configured otherwise. */
#define WIRE_DEFAULT_STREAM_WINDOW (1024u * 1024u)
#define WIRE_DEFAULT_CONN_WINDOW   (16u * 1024u * 1024u)

/* Host names in OPEN are at most this long (DNS limit). */
#define WIRE_MAX_HOSTNAME 253

enum wire_type {
	/* 0x01-0x0f session control (stream id 0) */
	WIRE_HELLO = 0x01,
	WIRE_PING = 0x02,
	WIRE_PONG = 0x03,
	WIRE_GOAWAY = 0x04,
	/* 0x10-0x1f streams (stream id != 0; WINDOW also on stream 0) */
	WIRE_OPEN = 0x10,
	WIRE_OPEN_RESULT = 0x11,
	WIRE_DATA = 0x12,
	WIRE_WINDOW = 0x13,
	WIRE_FIN = 0x14,
	WIRE_RESET = 0x15,
	/* 0x20-0x2f requests (stream id 0, request id in the payload) */
	WIRE_DNS_QUERY = 0x20,
	WIRE_DNS_ANSWER = 0x21,
	WIRE_ENV_REQUEST = 0x22,
	WIRE_ENV_REPLY = 0x23,
};

/* Error codes: OPEN_RESULT, RESET, GOAWAY, DNS_ANSWER and decoder results. */
enum wire_error {
	WIRE_OK = 0,
	/* 1-15: protocol and session errors */
	WIRE_ERR_PROTOCOL = 1,     /* a rule of the spec was broken */
	WIRE_ERR_INTERNAL = 2,     /* the sender failed internally */
	WIRE_ERR_FLOW_CONTROL = 3, /* data beyond the window, window overflow */
	WIRE_ERR_STREAM_CLOSED = 4, /* frame for a stream that is closed */
	WIRE_ERR_FRAME_SIZE = 5, /* length over the maximum or wrong for type */
	WIRE_ERR_BAD_VERSION = 6,  /* header version or no common protocol */
	WIRE_ERR_UNKNOWN_TYPE = 7, /* frame type not in the numbers table */
	WIRE_ERR_TRUNCATED = 8,    /* connection ended inside a frame */
	WIRE_ERR_SHUTDOWN = 9,     /* sender is going away */
	WIRE_ERR_CANCEL = 10,      /* the stream is no longer wanted */
	WIRE_ERR_RESOURCE = 11,    /* a limit was reached (streams, memory) */
	/* 16-31: destination errors (OPEN_RESULT, RESET, DNS_ANSWER) */
	WIRE_ERR_REFUSED = 16,        /* destination refused the connection */
	WIRE_ERR_UNREACHABLE = 17,    /* no route to network or host */
	WIRE_ERR_TIMEOUT = 18,        /* dial or query timed out */
	WIRE_ERR_NAME_NOT_FOUND = 19, /* the host name does not exist */
	WIRE_ERR_NAME_FAILURE = 20, /* resolver failed (SERVFAIL, no server) */
	WIRE_ERR_CONN_RESET = 21,   /* destination reset the connection */
	WIRE_ERR_PROHIBITED = 22,   /* destination not allowed by policy */
	WIRE_ERR_UNSUPPORTED = 23,  /* request not supported by the peer */
};

/* Header flags: none are defined in version 1; receivers reject set bits. */
#define WIRE_FLAGS_KNOWN 0x0000u

/* OPEN address types. */
enum wire_addr_type {
	WIRE_ADDR_IPV4 = 1,
	WIRE_ADDR_IPV6 = 2,
	WIRE_ADDR_NAME = 3,
};

/* OPEN transport. */
enum wire_transport {
	WIRE_TRANSPORT_TCP = 1,
};

/* HELLO roles. */
enum wire_role {
	WIRE_ROLE_CLIENT = 1, /* opens odd stream ids */
	WIRE_ROLE_SERVER = 2, /* opens even stream ids */
};

/* HELLO capability bits. */
#define WIRE_CAP_DNS       (1u << 0) /* answers DNS_QUERY */
#define WIRE_CAP_ENV       (1u << 1) /* answers ENV_REQUEST */
#define WIRE_CAP_HOSTNAMES (1u << 2) /* accepts OPEN with WIRE_ADDR_NAME */
#define WIRE_CAP_IPV6      (1u << 3) /* can dial IPv6 destinations */
#define WIRE_CAP_INTERCEPT (1u << 4) /* may open streams towards the peer */

/* Returns the spec's name of a type ("DATA") or NULL when unknown. */
const char *wire_type_name(uint8_t type);
/* Returns the spec's name of an error ("REFUSED") or "UNKNOWN". */
const char *wire_error_name(uint32_t err);
/* Returns a sentence for users ("connection refused by the destination"). */
const char *wire_error_text(uint32_t err);

static inline uint16_t
wire_get_u16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
wire_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
wire_get_u64(const uint8_t *p)
{
	return (uint64_t)wire_get_u32(p) << 32 | wire_get_u32(p + 4);
}

static inline void
wire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
wire_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
wire_put_u64(uint8_t *p, uint64_t v)
{
	wire_put_u32(p, (uint32_t)(v >> 32));
	wire_put_u32(p + 4, (uint32_t)v);
}

#endif
