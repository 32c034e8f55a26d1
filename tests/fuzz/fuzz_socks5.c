/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_socks5: libFuzzer target for client/socks5. The input is a whole
 * client transcript: a greeting, then a request, then pipelined bytes. The
 * parsers must never read past the buffer, return more than they were
 * given, or accept a destination the wire could not carry.
 */
#include <stdlib.h>
#include <string.h>

#include "client/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_addr dst;
	uint8_t method, reply;
	int r;

	/* Every prefix is a legal thing to have read so far. */
	for (size_t i = 0; i <= size && i <= SOCKS5_MAX_GREETING + 1; i++) {
		r = socks5_parse_greeting(data, i, &method);
		if (r > (int)i)
			abort();
	}
	r = socks5_parse_greeting(data, size, &method);
	if (r > (int)size)
		abort();
	if (r <= 0)
		return 0;
	if (method != SOCKS5_METHOD_NO_AUTH &&
	    method != SOCKS5_METHOD_NO_ACCEPTABLE)
		abort();
	data += r;
	size -= (size_t)r;
	r = socks5_parse_request(data, size, &dst, &reply);
	if (r > (int)size || r > SOCKS5_MAX_REQUEST)
		abort();
	if (r > 0) {
		if (dst.port == 0)
			abort();
		if (dst.type == WIRE_ADDR_NAME &&
		    strnlen(dst.a.name, sizeof(dst.a.name)) > WIRE_MAX_HOSTNAME)
			abort();
	}
	if (r < 0 && reply == SOCKS5_REP_SUCCEEDED)
		abort();
	return 0;
}
