/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmsg: validates raw DNS queries from clients before they reach c-ares,
 * and builds error replies from their header. The walk over the question
 * section is bounds-checked at every byte (this is the server's only
 * parser of a foreign DNS message; tests/fuzz/fuzz_dns.c runs it).
 * c-ares itself matches answers to queries by re-reading the question, so
 * a question it could not parse would only ever time out: rejecting it here
 * gives the client a prompt FORMERR instead.
 */
#include "server/dnsmsg.h"

#include <errno.h>
#include <stdbool.h>

#include "proto/wire.h"

#define DNSMSG_QR          0x80u /* in byte 2 */
#define DNSMSG_OPCODE_MASK 0x78u /* in byte 2 */
#define DNSMSG_RD          0x01u /* in byte 2 */

uint16_t
dnsmsg_id(const uint8_t *msg)
{
	return wire_get_u16(msg);
}

void
dnsmsg_set_id(uint8_t *msg, uint16_t id)
{
	wire_put_u16(msg, id);
}

uint8_t
dnsmsg_rcode(const uint8_t *msg)
{
	return msg[3] & 0x0f;
}

const char *
dnsmsg_rcode_name(uint8_t rcode)
{
	static const char *const names[] = {
	    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

	return rcode < sizeof(names) / sizeof(*names) ? names[rcode] : "RCODE";
}

/*
 * Walks the name at *off. Pointers must point strictly before the start
 * of the name being read (so loops are impossible) and the expanded name
 * must stay within DNSMSG_MAX_NAME. On success *off is just after the name
 * in the message (after the first pointer, if any).
 */
static int
dnsmsg_skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	size_t p = *off, end = 0, total = 0, limit = *off;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return -EBADMSG;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (p + 1 >= len)
				return -EBADMSG;
			target = (size_t)(c & 0x3f) << 8 | msg[p + 1];
			if (target >= limit)
				return -EBADMSG;
			if (!jumped)
				end = p + 2;
			jumped = true;
			limit = target;
			p = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 and 0x80 label types are obsolete */
			return -EBADMSG;
		/* Label length byte plus the label itself. */
		total += (size_t)c + 1;
		if (total > DNSMSG_MAX_NAME)
			return -EBADMSG;
		if (c == 0) {
			if (!jumped)
				end = p + 1;
			break;
		}
		if (p + 1 + c > len)
			return -EBADMSG;
		p += 1 + (size_t)c;
	}
	*off = end;
	return 0;
}

int
dnsmsg_check_query(const uint8_t *msg, size_t len)
{
	size_t off = DNSMSG_HEADER_LEN;
	uint16_t qdcount;

	if (len < DNSMSG_HEADER_LEN || len > 65535)
		return -EBADMSG;
	if (msg[2] & DNSMSG_QR)
		return -EBADMSG;
	qdcount = wire_get_u16(msg + 4);
	if (qdcount == 0 || qdcount > DNSMSG_MAX_QUESTIONS)
		return -EBADMSG;
	if (msg[2] & DNSMSG_OPCODE_MASK)
		return -EOPNOTSUPP;
	for (uint16_t i = 0; i < qdcount; i++) {
		int r = dnsmsg_skip_name(msg, len, &off);

		if (r < 0)
			return r;
		/* QTYPE and QCLASS. */
		if (len - off < 4)
			return -EBADMSG;
		off += 4;
	}
	return 0;
}

size_t
dnsmsg_error_reply(
    const uint8_t *query, uint8_t rcode, uint8_t out[DNSMSG_HEADER_LEN])
{
	out[0] = query[0];
	out[1] = query[1];
	out[2] = (uint8_t)(DNSMSG_QR | (query[2] & DNSMSG_OPCODE_MASK) |
	                   (query[2] & DNSMSG_RD));
	/* RA: we are answering on behalf of a recursive resolver. */
	out[3] = (uint8_t)(0x80u | (rcode & 0x0f));
	for (size_t i = 4; i < DNSMSG_HEADER_LEN; i++)
		out[i] = 0;
	return DNSMSG_HEADER_LEN;
}
