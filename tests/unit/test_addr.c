/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/addr: "IP:PORT" / "[V6]:PORT" parsing (the family
 * the brackets say, ports 0..65535, digits only, nothing written on
 * failure) and formatting (both families, another family, truncation).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "tests/unit/cunit_main.h"

/* Parses s and formats it back ("" when it does not parse). */
static const char *
round_trip(const char *s)
{
	static char buf[ADDR_STR_MAX];
	struct sockaddr_storage ss;
	socklen_t len = 0;

	buf[0] = '\0';
	if (addr_parse(s, &ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	return buf;
}

static void
test_parse_v4(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len = 0;

	CU_ASSERT_EQUAL(addr_parse("127.0.0.1:1080", &ss, &len), 0);
	CU_ASSERT_EQUAL(len, sizeof(struct sockaddr_in));
	CU_ASSERT_EQUAL(sin->sin_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 1080);
	CU_ASSERT_EQUAL(ntohl(sin->sin_addr.s_addr), 0x7f000001u);
	CU_ASSERT_EQUAL(addr_parse("0.0.0.0:0", &ss, &len), 0);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 0);
	CU_ASSERT_EQUAL(sin->sin_addr.s_addr, 0);
	CU_ASSERT_EQUAL(addr_parse("10.0.0.1:65535", &ss, &len), 0);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 65535);
	CU_ASSERT_EQUAL(addr_parse("10.0.0.1:00053", &ss, &len), 0);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 53);
}

static void
test_parse_v6(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = 0;

	CU_ASSERT_EQUAL(addr_parse("[::1]:53", &ss, &len), 0);
	CU_ASSERT_EQUAL(len, sizeof(struct sockaddr_in6));
	CU_ASSERT_EQUAL(sin6->sin6_family, AF_INET6);
	CU_ASSERT_EQUAL(ntohs(sin6->sin6_port), 53);
	CU_ASSERT_TRUE(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	CU_ASSERT_EQUAL(sin6->sin6_scope_id, 0);
	CU_ASSERT_EQUAL(sin6->sin6_flowinfo, 0);
	CU_ASSERT_EQUAL(addr_parse("[::]:0", &ss, &len), 0);
	CU_ASSERT_TRUE(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	CU_ASSERT_EQUAL(addr_parse("[::ffff:10.1.2.3]:443", &ss, &len), 0);
	CU_ASSERT_TRUE(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr));
	CU_ASSERT_EQUAL(ntohs(sin6->sin6_port), 443);
}

static void
test_parse_refused(void)
{
	static const char *const bad[] = {
	    "", ":", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
	    "127.0.0.1:99999999999999999999999", "127.0.0.1:-1", "127.0.0.1:-0",
	    "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80 ", "127.0.0.1:80x",
	    "127.0.0.1:0x50", "127.0.0.256:80", " 127.0.0.1:80", "localhost:80",
	    "::1:80",         /* IPv6 needs brackets */
	    "[127.0.0.1]:80", /* and brackets need IPv6 */
	    "[::1]", "[::1]80", "[::1]:", "[]:80", "[::1:80", "::1]:80",
	    "[fe80::1%lo]:80", /* no scope ids */
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:"
	    "dddd:eeee:ffff:0000:80", /* longer than any host */
	};
	struct sockaddr_storage ss;
	socklen_t len = 12345;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&ss, 0xa5, sizeof(ss));
		if (addr_parse(bad[i], &ss, &len) != -EINVAL)
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		CU_ASSERT_EQUAL(addr_parse(bad[i], &ss, &len), -EINVAL);
		/* Nothing written on failure. */
		CU_ASSERT_EQUAL(len, 12345);
		CU_ASSERT_EQUAL(((unsigned char *)&ss)[0], 0xa5);
		CU_ASSERT_EQUAL(((unsigned char *)&ss)[sizeof(ss) - 1], 0xa5);
	}
}

static void
test_format(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char buf[ADDR_STR_MAX];

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(443);
	sin6->sin6_addr = in6addr_loopback;
	CU_ASSERT_STRING_EQUAL(
	    addr_format((struct sockaddr *)&ss, buf, sizeof(buf)), "[::1]:443");
	CU_ASSERT_PTR_EQUAL(
	    addr_format((struct sockaddr *)&ss, buf, sizeof(buf)), buf);

	CU_ASSERT_STRING_EQUAL(round_trip("127.0.0.1:0"), "127.0.0.1:0");
	CU_ASSERT_STRING_EQUAL(round_trip("10.96.0.10:53"), "10.96.0.10:53");
	CU_ASSERT_STRING_EQUAL(round_trip("[::]:8443"), "[::]:8443");
	CU_ASSERT_STRING_EQUAL(
	    round_trip("[FD00:0:0::10]:80"), "[fd00::10]:80");
	/* The longest IPv6 text inet_ntop writes, with the longest port. */
	CU_ASSERT_STRING_EQUAL(
	    round_trip("[1111:2222:3333:4444:5555:6666:7777:8888]:65535"),
	    "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CU_ASSERT_STRING_EQUAL(
	    addr_format((struct sockaddr *)&ss, buf, sizeof(buf)),
	    "(family 1)");
}

static void
test_format_truncates(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[8];

	CU_ASSERT_EQUAL(addr_parse("192.168.100.200:8080", &ss, &len), 0);
	CU_ASSERT_STRING_EQUAL(
	    addr_format((struct sockaddr *)&ss, buf, sizeof(buf)), "192.168");
	/* len 0: buf is not touched at all. */
	buf[0] = 'x';
	CU_ASSERT_PTR_EQUAL(addr_format((struct sockaddr *)&ss, buf, 0), buf);
	CU_ASSERT_EQUAL(buf[0], 'x');
}

static const struct cunit_test tests[] = {
    {"parse_v4", test_parse_v4},
    {"parse_v6", test_parse_v6},
    {"parse_refused", test_parse_refused},
    {"format", test_format},
    {"format_truncates", test_format_truncates},
};

CUNIT_MAIN("addr", tests)
