/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server/dnsmsg: query validation (header flags, counts,
 * names, compression pointers, truncation at every length) and the error
 * replies built from a query's header.
 */
#include <errno.h>
#include <string.h>

#include "server/dnsmsg.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/dnsmasq.h"

static void
test_good(void)
{
	uint8_t q[512];
	size_t n =
	    test_dns_query(q, sizeof(q), 7, "gateway.ns1.svc.cluster.local", 1);

	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), 0);
	/* Trailing records (an EDNS OPT) are not inspected. */
	memcpy(q + n, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11);
	q[11] = 1; /* ARCOUNT */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n + 11), 0);
	/* The root name. */
	n = test_dns_query(q, sizeof(q), 7, "", 2);
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), 0);
}

static void
test_truncations(void)
{
	uint8_t q[512];
	size_t n = test_dns_query(q, sizeof(q), 7, "a.b.example", 28);

	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dnsmsg_check_query(q, i), -EBADMSG);
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), 0);
}

static void
test_bad_headers(void)
{
	uint8_t q[512];
	size_t n = test_dns_query(q, sizeof(q), 7, "example.com", 1);

	q[2] |= 0x80; /* QR: a response */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), -EBADMSG);
	q[2] = 0x01;
	q[5] = 0; /* QDCOUNT 0 */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), -EBADMSG);
	q[5] = 2; /* two questions, only one present */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), -EBADMSG);
	q[4] = 1; /* 258 questions */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), -EBADMSG);
	q[4] = 0;
	q[5] = 1;
	q[2] = 0x28; /* opcode UPDATE */
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, n), -EOPNOTSUPP);
}

static void
test_names(void)
{
	uint8_t q[600];
	size_t off;

	/* A 64-byte label. */
	memset(q, 0, sizeof(q));
	q[5] = 1;
	q[12] = 64;
	memset(q + 13, 'a', 64);
	q[77] = 0;
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, 82), -EBADMSG);
	/* A name over 255 bytes: five labels of 63. */
	off = 12;
	for (int i = 0; i < 5; i++) {
		q[off++] = 63;
		memset(q + off, 'b', 63);
		off += 63;
	}
	q[off++] = 0;
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, off + 4), -EBADMSG);
	/* Exactly 255: three labels of 63, one of 61, root. */
	off = 12;
	for (int i = 0; i < 3; i++) {
		q[off++] = 63;
		memset(q + off, 'c', 63);
		off += 63;
	}
	q[off++] = 61;
	memset(q + off, 'd', 61);
	off += 61;
	q[off++] = 0;
	CU_ASSERT_EQUAL(off - 12, 255);
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, off + 4), 0);
	/* A pointer to itself, forward, and backward into the first name. */
	memset(q, 0, sizeof(q));
	q[5] = 1;
	q[12] = 0xc0;
	q[13] = 12;
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, 18), -EBADMSG);
	q[13] = 30;
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, 40), -EBADMSG);
	{
		/* Second question "www" + pointer to the first name. */
		size_t n = test_dns_query(q, sizeof(q), 1, "example.com", 1);

		q[5] = 2;
		q[n] = 3;
		memcpy(q + n + 1, "www", 3);
		q[n + 4] = 0xc0;
		q[n + 5] = 12;
		memcpy(q + n + 6, "\x00\x01\x00\x01", 4);
		CU_ASSERT_EQUAL(dnsmsg_check_query(q, n + 10), 0);
		/* A pointer to the pointer itself loops. */
		q[n + 5] = (uint8_t)(n + 4);
		CU_ASSERT_EQUAL(dnsmsg_check_query(q, n + 10), -EBADMSG);
	}
	/* Obsolete label types 0x40 / 0x80. */
	memset(q, 0, sizeof(q));
	q[5] = 1;
	q[12] = 0x41;
	CU_ASSERT_EQUAL(dnsmsg_check_query(q, 100), -EBADMSG);
}

static void
test_error_reply(void)
{
	uint8_t q[512], a[DNSMSG_HEADER_LEN];
	size_t n = test_dns_query(q, sizeof(q), 0xabcd, "example.com", 1);

	(void)n;
	CU_ASSERT_EQUAL(dnsmsg_error_reply(q, DNSMSG_FORMERR, a), 12);
	CU_ASSERT_EQUAL(dnsmsg_id(a), 0xabcd);
	CU_ASSERT_EQUAL(a[2], 0x81); /* QR, RD copied */
	CU_ASSERT_EQUAL(dnsmsg_rcode(a), DNSMSG_FORMERR);
	CU_ASSERT_EQUAL(a[5], 0);
	dnsmsg_set_id(a, 0x0102);
	CU_ASSERT_EQUAL(dnsmsg_id(a), 0x0102);
	CU_ASSERT_STRING_EQUAL(dnsmsg_rcode_name(3), "NXDOMAIN");
	CU_ASSERT_STRING_EQUAL(dnsmsg_rcode_name(15), "RCODE");
}

static const struct cunit_test tests[] = {
    {"good", test_good},
    {"truncations", test_truncations},
    {"bad_headers", test_bad_headers},
    {"names", test_names},
    {"error_reply", test_error_reply},
};

CUNIT_MAIN("dnsmsg", tests)
