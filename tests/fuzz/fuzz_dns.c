/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dns: libFuzzer target for server/dnsmsg, the server's check of raw
 * DNS queries that clients send through DNS_QUERY. It must never read past
 * the buffer, must accept only what has a header, QR clear and at least
 * one question, and the error reply it builds must be a response.
 */
#include <errno.h>
#include <stdlib.h>

#include "server/dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t reply[DNSMSG_HEADER_LEN];
	int r = dnsmsg_check_query(data, size);

	if (r != 0 && r != -EBADMSG && r != -EOPNOTSUPP)
		abort();
	if (size < DNSMSG_HEADER_LEN) {
		if (r == 0)
			abort();
		return 0;
	}
	if (r == 0 && ((data[2] & 0x80) || (data[4] == 0 && data[5] == 0)))
		abort();
	dnsmsg_error_reply(data, DNSMSG_FORMERR, reply);
	if (!(reply[2] & 0x80) || dnsmsg_id(reply) != dnsmsg_id(data) ||
	    dnsmsg_rcode(reply) != DNSMSG_FORMERR)
		abort();
	return 0;
}
