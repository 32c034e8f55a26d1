/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmsg: the little DNS message handling telepod-server needs before it
 * passes a client's raw query to c-ares: a bounds-checked validation of the
 * header and question section, error replies built from a query's header,
 * and id / rcode accessors. Pure functions over byte buffers.
 */
#ifndef TELEPOD_SERVER_DNSMSG_H
#define TELEPOD_SERVER_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#define DNSMSG_HEADER_LEN 12
/* Longest encoded name (RFC 1035 section 2.3.4) and label. */
#define DNSMSG_MAX_NAME  255
#define DNSMSG_MAX_LABEL 63
/* Most questions accepted in one query (real resolvers send one). */
#define DNSMSG_MAX_QUESTIONS 8

enum dnsmsg_rcode {
	DNSMSG_NOERROR = 0,
	DNSMSG_FORMERR = 1,
	DNSMSG_SERVFAIL = 2,
	DNSMSG_NXDOMAIN = 3,
	DNSMSG_NOTIMP = 4,
	DNSMSG_REFUSED = 5,
};

/*
 * Checks that msg[0..len) is a query worth sending upstream: a header, QR
 * clear, opcode QUERY, 1..DNSMSG_MAX_QUESTIONS questions, each a valid name
 * (labels <= 63, name <= 255, compression pointers only backwards) followed
 * by type and class. Records after the questions (EDNS OPT in the
 * additional section) are passed through unchecked. Returns 0, -EBADMSG
 * when malformed (answer FORMERR) or -EOPNOTSUPP for another opcode
 * (answer NOTIMP).
 */
int dnsmsg_check_query(const uint8_t *msg, size_t len);

/*
 * Writes a bare response header for query (at least DNSMSG_HEADER_LEN
 * bytes) into out: the query's id, opcode and RD, QR set, the given rcode,
 * all counts zero. Returns DNSMSG_HEADER_LEN.
 */
size_t dnsmsg_error_reply(
    const uint8_t *query, uint8_t rcode, uint8_t out[DNSMSG_HEADER_LEN]);

/* Header accessors; msg holds at least DNSMSG_HEADER_LEN bytes. */
uint16_t dnsmsg_id(const uint8_t *msg);
void dnsmsg_set_id(uint8_t *msg, uint16_t id);
uint8_t dnsmsg_rcode(const uint8_t *msg);

/* Returns "NXDOMAIN", "SERVFAIL", ... or "RCODE" for others. */
const char *dnsmsg_rcode_name(uint8_t rcode);

#endif
