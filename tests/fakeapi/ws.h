/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws: the RFC 6455 WebSocket framing the fake API server's port-forward
 * speaks (no extensions): frame headers with 7-, 16- and 64-bit lengths,
 * masking, and the handshake's Sec-WebSocket-Accept. Pure functions, no
 * I/O, so they are tested directly.
 */
#ifndef TELEPOD_FAKEAPI_WS_H
#define TELEPOD_FAKEAPI_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xa

#define WS_MAX_HEADER  14
#define WS_MAX_FRAME   (1024 * 1024)     /* one frame's payload */
#define WS_MAX_MESSAGE (4 * 1024 * 1024) /* a reassembled message */
#define WS_MAX_CONTROL 125

struct ws_frame {
	bool fin;
	int opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len;      /* payload length */
	size_t header_len; /* bytes before the payload */
};

/*
 * Parses a frame header at buf[0..len). Returns the header length (> 0),
 * 0 when more bytes are needed, -EPROTO for a malformed header (reserved
 * bits set, unknown opcode, fragmented or oversized control frame,
 * non-minimal or 2^63+ length) or -EMSGSIZE for a payload over
 * WS_MAX_FRAME.
 */
int ws_parse_header(const uint8_t *buf, size_t len, struct ws_frame *f);

/* Writes a frame header to out (WS_MAX_HEADER bytes); mask NULL means an
 * unmasked (server) frame. Returns the header length. */
size_t ws_write_header(uint8_t out[WS_MAX_HEADER], bool fin, int opcode,
    uint64_t len, const uint8_t *mask);

/* XORs data with mask, for payload bytes starting at offset. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* base64(SHA-1(key + GUID)) into out (29 bytes with the NUL). Returns 0 or
 * -EINVAL when key is not the base64 of 16 bytes. */
int ws_accept_key(const char *key, char out[29]);

#endif
