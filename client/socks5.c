/* SPDX-License-Identifier: Apache-2.0 */
/*
 * socks5: the pure SOCKS5 (RFC 1928) server-side parser. Both parsers are
 * re-run from the start of the buffer whenever more bytes arrive (a
 * greeting is at most 257 bytes, a request 262), so there is no state to
 * keep between calls; each byte is checked as soon as it is available so
 * that an unsupported command is answered without waiting for the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "client/socks5.h"

int
socks5_parse_greeting(const uint8_t *buf, size_t len, uint8_t *ret_method)
{
	size_t n;
	uint8_t method = SOCKS5_METHOD_NO_ACCEPTABLE;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return -EPROTO;
	if (len < 2)
		return 0;
	n = buf[1];
	if (len < 2 + n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[2 + i] == SOCKS5_METHOD_NO_AUTH)
			method = SOCKS5_METHOD_NO_AUTH;
	}
	*ret_method = method;
	return (int)(2 + n);
}

/* Host names as the wire accepts them: letters, digits, '-', '_', '.'. */
static bool
socks5_hostname_valid(const char *s, size_t len)
{
	if (len < 1 || len > WIRE_MAX_HOSTNAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.'))
			return false;
	}
	return true;
}

/* Fills dst from a domain-form address of len bytes (1..255). Literal
 * addresses become addresses: the server needs no resolver for them and
 * an IPv6 literal is not a valid wire host name. */
static int
socks5_name_to_addr(const uint8_t *p, size_t len, struct frame_addr *dst)
{
	char name[256];

	memcpy(name, p, len);
	name[len] = '\0';
	if (memchr(name, '\0', len))
		return -EINVAL;
	if (inet_pton(AF_INET, name, dst->a.v4) == 1) {
		dst->type = WIRE_ADDR_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, name, dst->a.v6) == 1) {
		dst->type = WIRE_ADDR_IPV6;
		return 0;
	}
	if (!socks5_hostname_valid(name, len))
		return -EINVAL;
	dst->type = WIRE_ADDR_NAME;
	memcpy(dst->a.name, name, len + 1);
	return 0;
}

int
socks5_parse_request(
    const uint8_t *buf, size_t len, struct frame_addr *ret_dst, uint8_t *reply)
{
	struct frame_addr dst;
	size_t alen, need;
	int r;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION) {
		*reply = SOCKS5_REP_GENERAL_FAILURE;
		return -EPROTO;
	}
	if (len < 2)
		return 0;
	if (buf[1] != SOCKS5_CMD_CONNECT) {
		*reply = SOCKS5_REP_CMD_UNSUPPORTED;
		return -ENOTSUP;
	}
	if (len < 3)
		return 0;
	if (buf[2] != 0) {
		*reply = SOCKS5_REP_GENERAL_FAILURE;
		return -EPROTO;
	}
	if (len < 4)
		return 0;
	switch (buf[3]) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		need = 4 + alen + 2;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		need = 4 + alen + 2;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return 0;
		alen = buf[4];
		if (alen == 0) {
			*reply = SOCKS5_REP_GENERAL_FAILURE;
			return -EPROTO;
		}
		need = 5 + alen + 2;
		break;
	default:
		*reply = SOCKS5_REP_ATYP_UNSUPPORTED;
		return -ENOTSUP;
	}
	if (len < need)
		return 0;

	memset(&dst, 0, sizeof(dst));
	dst.port = wire_get_u16(buf + need - 2);
	switch (buf[3]) {
	case SOCKS5_ATYP_IPV4:
		dst.type = WIRE_ADDR_IPV4;
		memcpy(dst.a.v4, buf + 4, 4);
		break;
	case SOCKS5_ATYP_IPV6:
		dst.type = WIRE_ADDR_IPV6;
		memcpy(dst.a.v6, buf + 4, 16);
		break;
	default:
		r = socks5_name_to_addr(buf + 5, alen, &dst);
		if (r < 0) {
			*reply = SOCKS5_REP_HOST_UNREACHABLE;
			return r;
		}
		break;
	}
	if (dst.port == 0) {
		*reply = SOCKS5_REP_HOST_UNREACHABLE;
		return -EINVAL;
	}
	*ret_dst = dst;
	return (int)need;
}

size_t
socks5_encode_reply(uint8_t out[SOCKS5_REPLY_LEN], uint8_t rep)
{
	memset(out, 0, SOCKS5_REPLY_LEN);
	out[0] = SOCKS5_VERSION;
	out[1] = rep;
	out[3] = SOCKS5_ATYP_IPV4;
	return SOCKS5_REPLY_LEN;
}

uint8_t
socks5_reply_for_error(uint32_t wire_err)
{
	switch (wire_err) {
	case WIRE_OK:
		return SOCKS5_REP_SUCCEEDED;
	case WIRE_ERR_REFUSED:
		return SOCKS5_REP_CONN_REFUSED;
	case WIRE_ERR_UNREACHABLE:
	case WIRE_ERR_NAME_NOT_FOUND:
	case WIRE_ERR_NAME_FAILURE:
		return SOCKS5_REP_HOST_UNREACHABLE;
	case WIRE_ERR_TIMEOUT:
		return SOCKS5_REP_TTL_EXPIRED;
	case WIRE_ERR_PROHIBITED:
		return SOCKS5_REP_NOT_ALLOWED;
	case WIRE_ERR_SHUTDOWN:
		return SOCKS5_REP_NET_UNREACHABLE;
	default:
		return SOCKS5_REP_GENERAL_FAILURE;
	}
}

const char *
socks5_reply_text(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_SUCCEEDED:
		return "succeeded";
	case SOCKS5_REP_GENERAL_FAILURE:
		return "general failure";
	case SOCKS5_REP_NOT_ALLOWED:
		return "not allowed";
	case SOCKS5_REP_NET_UNREACHABLE:
		return "network unreachable";
	case SOCKS5_REP_HOST_UNREACHABLE:
		return "host unreachable";
	case SOCKS5_REP_CONN_REFUSED:
		return "connection refused";
	case SOCKS5_REP_TTL_EXPIRED:
		return "timed out";
	case SOCKS5_REP_CMD_UNSUPPORTED:
		return "command not supported";
	case SOCKS5_REP_ATYP_UNSUPPORTED:
		return "address type not supported";
	default:
		return "unknown reply";
	}
}
