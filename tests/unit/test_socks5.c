/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of client/socks5: greetings, requests of every address type,
 * malformed input, every split point, and the error-to-reply mapping. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/socks5.h"
#include "tests/unit/cunit_main.h"

/* Feeds every proper prefix (must ask for more) and then the whole buffer
 * plus pipelined garbage (must consume exactly len). */
static void
check_request_splits(const uint8_t *req, size_t len, struct frame_addr *out)
{
	uint8_t buf[SOCKS5_MAX_REQUEST + 16];
	uint8_t reply = 0xee;

	CU_ASSERT_FATAL(len <= SOCKS5_MAX_REQUEST);
	for (size_t i = 0; i < len; i++)
		CU_ASSERT_EQUAL(socks5_parse_request(req, i, out, &reply), 0);
	CU_ASSERT_EQUAL(reply, 0xee);
	memcpy(buf, req, len);
	memcpy(buf + len, "GET / HTTP", 10);
	CU_ASSERT_EQUAL(
	    socks5_parse_request(buf, len + 10, out, &reply), (int)len);
}

static void
test_greeting(void)
{
	static const uint8_t only[] = {5, 1, 0};
	static const uint8_t among[] = {5, 3, 2, 1, 0};
	static const uint8_t userpass[] = {5, 1, 2};
	static const uint8_t none[] = {5, 0};
	static const uint8_t v4[] = {4, 1, 0, 80, 1, 2, 3, 4, 0};
	uint8_t m = 0x77;

	CU_ASSERT_EQUAL(socks5_parse_greeting(only, 3, &m), 3);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_AUTH);
	m = 0x77;
	CU_ASSERT_EQUAL(socks5_parse_greeting(among, 5, &m), 5);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_AUTH);
	CU_ASSERT_EQUAL(socks5_parse_greeting(userpass, 3, &m), 3);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_ACCEPTABLE);
	m = 0x77;
	CU_ASSERT_EQUAL(socks5_parse_greeting(none, 2, &m), 2);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_ACCEPTABLE);
	/* A SOCKS4 client is refused at its first byte. */
	CU_ASSERT_EQUAL(socks5_parse_greeting(v4, 1, &m), -EPROTO);
	CU_ASSERT_EQUAL(socks5_parse_greeting(v4, 0, &m), 0);
	for (size_t i = 0; i < sizeof(among); i++) {
		m = 0x77;
		CU_ASSERT_EQUAL(socks5_parse_greeting(among, i, &m), 0);
		CU_ASSERT_EQUAL(m, 0x77);
	}
}

static void
test_greeting_max(void)
{
	uint8_t g[SOCKS5_MAX_GREETING + 4];
	uint8_t m = 0x77;

	g[0] = 5;
	g[1] = 255;
	for (int i = 0; i < 255; i++)
		g[2 + i] = (uint8_t)(i + 1); /* everything but NO AUTH... */
	CU_ASSERT_EQUAL(socks5_parse_greeting(g, 257, &m), 257);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_ACCEPTABLE);
	g[256] = 0; /* ...until the last one offers it */
	CU_ASSERT_EQUAL(socks5_parse_greeting(g, sizeof(g), &m), 257);
	CU_ASSERT_EQUAL(m, SOCKS5_METHOD_NO_AUTH);
	CU_ASSERT_EQUAL(socks5_parse_greeting(g, 256, &m), 0);
}

static void
test_request_ipv4(void)
{
	static const uint8_t req[] = {5, 1, 0, 1, 10, 96, 0, 10, 0x1f, 0x90};
	struct frame_addr a;

	check_request_splits(req, sizeof(req), &a);
	CU_ASSERT_EQUAL(a.type, WIRE_ADDR_IPV4);
	CU_ASSERT_EQUAL(a.port, 8080);
	CU_ASSERT_EQUAL(memcmp(a.a.v4, req + 4, 4), 0);
}

static void
test_request_ipv6(void)
{
	static const uint8_t req[] = {5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 1, 0, 80};
	struct frame_addr a;

	check_request_splits(req, sizeof(req), &a);
	CU_ASSERT_EQUAL(a.type, WIRE_ADDR_IPV6);
	CU_ASSERT_EQUAL(a.port, 80);
	CU_ASSERT_EQUAL(memcmp(a.a.v6, req + 4, 16), 0);
}

static size_t
make_domain_request(uint8_t *buf, const char *name, uint16_t port)
{
	size_t n = strlen(name);

	buf[0] = 5;
	buf[1] = 1;
	buf[2] = 0;
	buf[3] = 3;
	buf[4] = (uint8_t)n;
	memcpy(buf + 5, name, n);
	wire_put_u16(buf + 5 + n, port);
	return 7 + n;
}

static void
test_request_domain(void)
{
	uint8_t req[SOCKS5_MAX_REQUEST];
	size_t n =
	    make_domain_request(req, "redis.dev.svc.cluster.local", 6379);
	struct frame_addr a;

	check_request_splits(req, n, &a);
	CU_ASSERT_EQUAL(a.type, WIRE_ADDR_NAME);
	CU_ASSERT_EQUAL(a.port, 6379);
	CU_ASSERT_STRING_EQUAL(a.a.name, "redis.dev.svc.cluster.local");

	/* Literals in domain form become addresses. */
	n = make_domain_request(req, "10.1.2.3", 443);
	check_request_splits(req, n, &a);
	CU_ASSERT_EQUAL(a.type, WIRE_ADDR_IPV4);
	CU_ASSERT_EQUAL(a.a.v4[0], 10);
	CU_ASSERT_EQUAL(a.a.v4[3], 3);
	n = make_domain_request(req, "::1", 443);
	check_request_splits(req, n, &a);
	CU_ASSERT_EQUAL(a.type, WIRE_ADDR_IPV6);
	CU_ASSERT_EQUAL(a.a.v6[15], 1);
	CU_ASSERT_EQUAL(a.a.v6[0], 0);
}

static void
test_request_domain_lengths(void)
{
	char name[256];
	uint8_t req[SOCKS5_MAX_REQUEST];
	uint8_t reply = 0;
	struct frame_addr a;
	size_t n;

	memset(name, 'a', 253);
	name[253] = '\0';
	n = make_domain_request(req, name, 80);
	CU_ASSERT_EQUAL(socks5_parse_request(req, n, &a, &reply), (int)n);
	CU_ASSERT_EQUAL(strlen(a.a.name), 253);

	memset(name, 'a', 255);
	name[255] = '\0';
	n = make_domain_request(req, name, 80);
	CU_ASSERT_EQUAL(n, SOCKS5_MAX_REQUEST);
	CU_ASSERT_EQUAL(socks5_parse_request(req, n, &a, &reply), -EINVAL);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_HOST_UNREACHABLE);
	/* ...but only once the whole name is there. */
	CU_ASSERT_EQUAL(socks5_parse_request(req, n - 1, &a, &reply), 0);

	/* Zero-length name. */
	n = make_domain_request(req, "", 80);
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(req, 5, &a, &reply), -EPROTO);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_GENERAL_FAILURE);
}

static void
test_request_bad_names(void)
{
	static const char *bad[] = {
	    "a b", "x/y", "evil\n.com", "a:b:c", "\xff", "dev.svc%"};
	uint8_t req[SOCKS5_MAX_REQUEST];
	uint8_t reply;
	struct frame_addr a;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		n = make_domain_request(req, bad[i], 80);
		reply = 0;
		CU_ASSERT_EQUAL(
		    socks5_parse_request(req, n, &a, &reply), -EINVAL);
		CU_ASSERT_EQUAL(reply, SOCKS5_REP_HOST_UNREACHABLE);
	}
	/* An embedded NUL. */
	n = make_domain_request(req, "abcd", 80);
	req[6] = 0;
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(req, n, &a, &reply), -EINVAL);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_HOST_UNREACHABLE);
}

static void
test_request_errors(void)
{
	static const uint8_t bind[] = {5, 2, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t udp[] = {5, 3, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp[] = {5, 1, 0, 2, 1, 2, 3, 4, 0, 80};
	static const uint8_t ver[] = {4, 1, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t rsv[] = {5, 1, 1, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t port0[] = {5, 1, 0, 1, 1, 2, 3, 4, 0, 0};
	struct frame_addr a;
	uint8_t reply;

	/* Unsupported commands are answered at the command byte. */
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(bind, 1, &a, &reply), 0);
	CU_ASSERT_EQUAL(socks5_parse_request(bind, 2, &a, &reply), -ENOTSUP);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_CMD_UNSUPPORTED);
	reply = 0;
	CU_ASSERT_EQUAL(
	    socks5_parse_request(udp, sizeof(udp), &a, &reply), -ENOTSUP);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_CMD_UNSUPPORTED);
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(atyp, 3, &a, &reply), 0);
	CU_ASSERT_EQUAL(socks5_parse_request(atyp, 4, &a, &reply), -ENOTSUP);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_ATYP_UNSUPPORTED);
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(ver, 1, &a, &reply), -EPROTO);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_GENERAL_FAILURE);
	reply = 0;
	CU_ASSERT_EQUAL(socks5_parse_request(rsv, 3, &a, &reply), -EPROTO);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_GENERAL_FAILURE);
	reply = 0;
	CU_ASSERT_EQUAL(
	    socks5_parse_request(port0, sizeof(port0), &a, &reply), -EINVAL);
	CU_ASSERT_EQUAL(reply, SOCKS5_REP_HOST_UNREACHABLE);
}

static void
test_reply(void)
{
	uint8_t out[SOCKS5_REPLY_LEN];
	static const uint8_t want[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};

	CU_ASSERT_EQUAL(socks5_encode_reply(out, SOCKS5_REP_CONN_REFUSED),
	    SOCKS5_REPLY_LEN);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof(want)), 0);

	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_OK), 0x00);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_REFUSED), 0x05);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_UNREACHABLE), 0x04);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_NAME_NOT_FOUND), 0x04);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_NAME_FAILURE), 0x04);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_TIMEOUT), 0x06);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_PROHIBITED), 0x02);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_SHUTDOWN), 0x03);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_PROTOCOL), 0x01);
	CU_ASSERT_EQUAL(socks5_reply_for_error(WIRE_ERR_CONN_RESET), 0x01);
	CU_ASSERT_EQUAL(socks5_reply_for_error(9999), 0x01);
	CU_ASSERT_STRING_EQUAL(socks5_reply_text(5), "connection refused");
	CU_ASSERT_STRING_EQUAL(socks5_reply_text(0x42), "unknown reply");
}

/* Random and mutated inputs: results stay within the contract. */
static void
test_mutations(void)
{
	uint8_t base[SOCKS5_MAX_REQUEST];
	uint8_t buf[SOCKS5_MAX_REQUEST + 8];
	size_t n = make_domain_request(base, "api.dev.svc", 8443);
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		struct frame_addr a;
		uint8_t reply = 0xee, m = 0xee;
		size_t len;
		int r;

		memcpy(buf, base, n);
		len = n;
		seed = seed * 1103515245u + 12345u;
		buf[(seed >> 8) % n] ^= (uint8_t)(1u << ((seed >> 4) % 8));
		if (iter & 1)
			len = (seed >> 16) % (n + 1);
		r = socks5_parse_request(buf, len, &a, &reply);
		CU_ASSERT(r <= (int)len);
		if (r < 0)
			CU_ASSERT(reply != 0xee && reply != 0);
		if (r > 0) {
			CU_ASSERT(a.port != 0);
			CU_ASSERT(a.type >= WIRE_ADDR_IPV4 &&
			          a.type <= WIRE_ADDR_NAME);
			if (a.type == WIRE_ADDR_NAME)
				CU_ASSERT(
				    strlen(a.a.name) <= WIRE_MAX_HOSTNAME);
		}
		r = socks5_parse_greeting(buf, len, &m);
		CU_ASSERT(r <= (int)len);
		if (r > 0)
			CU_ASSERT(m == 0 || m == 0xff);
	}
}

static const struct cunit_test tests[] = {
    {"greeting", test_greeting},
    {"greeting_max", test_greeting_max},
    {"request_ipv4", test_request_ipv4},
    {"request_ipv6", test_request_ipv6},
    {"request_domain", test_request_domain},
    {"request_domain_lengths", test_request_domain_lengths},
    {"request_bad_names", test_request_bad_names},
    {"request_errors", test_request_errors},
    {"reply", test_reply},
    {"mutations", test_mutations},
};

CUNIT_MAIN("socks5", tests)
