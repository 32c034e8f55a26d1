/* SPDX-License-Identifier: Apache-2.0 */
/*
 * addr: the one parser of "IP:PORT" / "[V6]:PORT" and its formatter. The
 * DNS stub, the SOCKS listener and the test servers all bind addresses
 * given in this form; libevent's evutil_parse_sockaddr_port is close but
 * refuses port 0, which the tests use to let the kernel pick a port.
 * Brackets decide the family: "[...]" must hold an IPv6 address, a bare
 * host an IPv4 one, so "::1:80" is refused rather than guessed at.
 */
#include "common/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longer than any numeric host; longer input is refused before copying. */
#define ADDR_MAX_HOST 64

int
addr_parse(const char *s, struct sockaddr_storage *ret_ss, socklen_t *ret_len)
{
	struct sockaddr_storage ss;
	char host[ADDR_MAX_HOST];
	const char *colon, *h = s;
	bool v6 = s[0] == '[';
	size_t hlen;
	char *end;
	long port;

	if (v6) {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	/* Digits only: strtol alone would take " 80", "+80" and "-0". */
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || errno || port < 0 || port > 65535)
		return -EINVAL;
	memset(&ss, 0, sizeof(ss));
	if (!v6) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*sin6);
	}
	*ret_ss = ss;
	return 0;
}

const char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (len == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	return buf;
}
