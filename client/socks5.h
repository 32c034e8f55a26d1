/* SPDX-License-Identifier: Apache-2.0 */
/*
 * socks5: a pure, incremental parser of the client side of SOCKS version 5
 * (RFC 1928) as telepodd serves it: the method greeting (only NO AUTH is
 * accepted) and a CONNECT request with an IPv4, IPv6 or domain-name
 * destination. No I/O and no allocation: the caller feeds what it has read
 * so far and gets "consumed N bytes", "need more" or "fail with reply R".
 */
#ifndef TELEPOD_CLIENT_SOCKS5_H
#define TELEPOD_CLIENT_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

#define SOCKS5_VERSION 5

/* Authentication methods (RFC 1928 section 3). */
#define SOCKS5_METHOD_NO_AUTH       0x00
#define SOCKS5_METHOD_NO_ACCEPTABLE 0xff

/* Commands (section 4). */
#define SOCKS5_CMD_CONNECT       0x01
#define SOCKS5_CMD_BIND          0x02
#define SOCKS5_CMD_UDP_ASSOCIATE 0x03

/* Address types (section 4). */
#define SOCKS5_ATYP_IPV4   0x01
#define SOCKS5_ATYP_DOMAIN 0x03
#define SOCKS5_ATYP_IPV6   0x04

/* Reply codes (section 6). */
#define SOCKS5_REP_SUCCEEDED        0x00
#define SOCKS5_REP_GENERAL_FAILURE  0x01
#define SOCKS5_REP_NOT_ALLOWED      0x02
#define SOCKS5_REP_NET_UNREACHABLE  0x03
#define SOCKS5_REP_HOST_UNREACHABLE 0x04
#define SOCKS5_REP_CONN_REFUSED     0x05
#define SOCKS5_REP_TTL_EXPIRED      0x06
#define SOCKS5_REP_CMD_UNSUPPORTED  0x07
#define SOCKS5_REP_ATYP_UNSUPPORTED 0x08

/* Longest greeting (VER NMETHODS 255 methods) and request (domain form). */
#define SOCKS5_MAX_GREETING (2 + 255)
#define SOCKS5_MAX_REQUEST  (4 + 1 + 255 + 2)
/* Every reply we send: VER REP RSV ATYP=IPv4 BND.ADDR(4) BND.PORT(2). */
#define SOCKS5_REPLY_LEN 10

/*
 * Parses the method greeting at buf. Returns the bytes consumed (> 0) and
 * writes *ret_method: SOCKS5_METHOD_NO_AUTH when the client offers it, else
 * SOCKS5_METHOD_NO_ACCEPTABLE (send that and close). Returns 0 when more
 * bytes are needed, -EPROTO when the version is not 5 (close without a
 * reply: the client does not speak SOCKS5).
 */
int socks5_parse_greeting(const uint8_t *buf, size_t len, uint8_t *ret_method);

/*
 * Parses a request at buf (after the greeting). Returns the bytes consumed
 * (> 0) and fills *ret_dst with the destination of a CONNECT: a domain name
 * that is an IPv4 or IPv6 literal becomes that address type, any other name
 * stays a name (remote resolution, socks5h). Returns 0 when more bytes are
 * needed. On error returns a negative errno and writes *reply, the SOCKS
 * reply code to send before closing: -EPROTO (bad version or reserved byte,
 * zero-length name: GENERAL_FAILURE), -ENOTSUP (BIND, UDP ASSOCIATE or an
 * unknown command: CMD_UNSUPPORTED; unknown address type:
 * ATYP_UNSUPPORTED), -EINVAL (port 0, or a name that is not a valid host
 * name: HOST_UNREACHABLE). Errors are reported as soon as the offending
 * byte is seen.
 */
int socks5_parse_request(
    const uint8_t *buf, size_t len, struct frame_addr *ret_dst, uint8_t *reply);

/* Writes a reply with code rep and BND 0.0.0.0:0 into out; returns
 * SOCKS5_REPLY_LEN. */
size_t socks5_encode_reply(uint8_t out[SOCKS5_REPLY_LEN], uint8_t rep);

/*
 * Maps an OPEN_RESULT error (enum wire_error) to the SOCKS reply to send:
 * REFUSED -> 0x05, UNREACHABLE, NAME_NOT_FOUND and NAME_FAILURE -> 0x04
 * (host unreachable), TIMEOUT -> 0x06 (TTL expired: the only RFC 1928 code
 * that says "gave up waiting"; curl prints it as "(6)"), PROHIBITED ->
 * 0x02, SHUTDOWN -> 0x03, everything else (protocol errors, resources, a
 * reset) -> 0x01. 0x03 (network unreachable) means "the tunnel is down":
 * the session went away, or (sent by telepodd itself) none is connected.
 */
uint8_t socks5_reply_for_error(uint32_t wire_err);

/* Returns a short text for a reply code ("connection refused"). */
const char *socks5_reply_text(uint8_t rep);

#endif
