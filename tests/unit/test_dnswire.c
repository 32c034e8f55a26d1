/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of client/dnswire: names (compression, loops, limits), query
 * parsing, rebuilt queries, empty replies, answer rewriting and the DNS
 * stub's routing table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/dnswire.h"
#include "proto/wire.h"
#include "tests/unit/cunit_main.h"

static struct dnswire_name
name_of(const char *text)
{
	struct dnswire_name n;

	memset(&n, 0, sizeof(n));
	CU_ASSERT_EQUAL_FATAL(dnswire_name_from_text(text, &n), 0);
	return n;
}

static const char *
text_of(const struct dnswire_name *n)
{
	static char buf[DNSWIRE_MAX_TEXT];

	return dnswire_name_to_text(n, buf, sizeof(buf));
}

/* A message builder for the tests. */
struct msg {
	uint8_t b[2048];
	size_t len;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	CU_ASSERT_FATAL(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, uint16_t v)
{
	uint8_t b[2];

	wire_put_u16(b, v);
	put(m, b, 2);
}

static void
put32(struct msg *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16));
	put16(m, (uint16_t)v);
}

static void
put_name(struct msg *m, const char *text)
{
	struct dnswire_name n = name_of(text);

	put(m, n.wire, n.len);
}

static void
header(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
    uint16_t ns, uint16_t ar)
{
	m->len = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

static void
query(struct msg *m, uint16_t id, const char *name, uint16_t type)
{
	header(m, id, DNSWIRE_FLAG_RD, 1, 0, 0, 0);
	put_name(m, name);
	put16(m, type);
	put16(m, DNSWIRE_CLASS_IN);
}

static void
put_opt(struct msg *m, uint16_t udp_size)
{
	put(m, "\0", 1);
	put16(m, DNSWIRE_TYPE_OPT);
	put16(m, udp_size);
	put32(m, 0);
	put16(m, 0);
}

static void
test_header(void)
{
	struct dnswire_header h;
	struct msg m;

	query(&m, 0x1234, "a.b", DNSWIRE_TYPE_A);
	CU_ASSERT_EQUAL(dnswire_header_parse(m.b, 11, &h), -EBADMSG);
	CU_ASSERT_EQUAL(dnswire_header_parse(m.b, m.len, &h), 0);
	CU_ASSERT_EQUAL(h.id, 0x1234);
	CU_ASSERT_EQUAL(h.flags, DNSWIRE_FLAG_RD);
	CU_ASSERT_EQUAL(h.qdcount, 1);
	CU_ASSERT_STRING_EQUAL(dnswire_rcode_name(3), "NXDOMAIN");
	CU_ASSERT_STRING_EQUAL(dnswire_rcode_name(11), "RCODE");
}

static void
test_name_text(void)
{
	struct dnswire_name n;
	char label63[64], label64[65], long_name[300], buf[8];

	n = name_of("gateway.jakub.");
	CU_ASSERT_EQUAL(n.len, 1 + 7 + 1 + 5 + 1);
	CU_ASSERT_EQUAL(dnswire_name_labels(&n), 2);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "gateway.jakub");
	n = name_of(".");
	CU_ASSERT_EQUAL(n.len, 1);
	CU_ASSERT_EQUAL(dnswire_name_labels(&n), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), ".");
	n = name_of("");
	CU_ASSERT_EQUAL(n.len, 1);
	CU_ASSERT_EQUAL(dnswire_name_from_text("a..b", &n), -EINVAL);
	CU_ASSERT_EQUAL(dnswire_name_from_text(".a", &n), -EINVAL);
	CU_ASSERT_EQUAL(dnswire_name_from_text("a\\.b", &n), -EINVAL);

	memset(label63, 'x', 63);
	label63[63] = '\0';
	memset(label64, 'x', 64);
	label64[64] = '\0';
	CU_ASSERT_EQUAL(dnswire_name_from_text(label63, &n), 0);
	CU_ASSERT_EQUAL(dnswire_name_from_text(label64, &n), -ENAMETOOLONG);
	/* 4 x 63 + 3 dots = 255 characters: 257 bytes of wire: too long;
	 * 3 x 63 + 61 (253 characters) is the longest: 255 bytes. */
	snprintf(long_name, sizeof(long_name), "%s.%s.%s.%s", label63, label63,
	    label63, label63);
	CU_ASSERT_EQUAL(dnswire_name_from_text(long_name, &n), -ENAMETOOLONG);
	long_name[3 * 64 + 61] = '\0';
	CU_ASSERT_EQUAL(dnswire_name_from_text(long_name, &n), 0);
	CU_ASSERT_EQUAL(n.len, 255);
	long_name[3 * 64 + 61] = 'x';
	long_name[3 * 64 + 62] = '\0';
	CU_ASSERT_EQUAL(dnswire_name_from_text(long_name, &n), -ENAMETOOLONG);

	/* Escaping for logs, and a small buffer stays terminated. */
	n.len = 5;
	memcpy(n.wire,
	    "\x03"
	    "a\nb"
	    "\x00",
	    5);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "a\\010b");
	CU_ASSERT_STRING_EQUAL(
	    dnswire_name_to_text(&n, buf, sizeof(buf)), "a\\010b");
	CU_ASSERT_STRING_EQUAL(dnswire_name_to_text(&n, buf, 3), "a");
}

static void
test_name_compare(void)
{
	struct dnswire_name a = name_of("Gateway.JAKUB.svc.cluster.local");
	struct dnswire_name b = name_of("gateway.jakub.SVC.cluster.local.");
	struct dnswire_name s = name_of("Cluster.Local");
	struct dnswire_name t = name_of("ster.local");
	struct dnswire_name root = name_of(".");
	struct dnswire_name x;

	CU_ASSERT_TRUE(dnswire_name_equal(&a, &b));
	CU_ASSERT_TRUE(dnswire_name_ends_with(&a, &s));
	CU_ASSERT_TRUE(dnswire_name_ends_with(&a, &a));
	CU_ASSERT_TRUE(dnswire_name_ends_with(&a, &root));
	CU_ASSERT_FALSE(dnswire_name_ends_with(&a, &t));
	CU_ASSERT_FALSE(dnswire_name_ends_with(&s, &a));
	x = name_of("gateway.jakub");
	CU_ASSERT_FALSE(dnswire_name_equal(&a, &x));
	CU_ASSERT_EQUAL(dnswire_name_append(&x, &b), 0);
	CU_ASSERT_STRING_EQUAL(
	    text_of(&x), "gateway.jakub.gateway.jakub.SVC.cluster.local");
	for (int i = 0; i < 6; i++)
		dnswire_name_append(&x, &a);
	CU_ASSERT_EQUAL(dnswire_name_append(&x, &a), -ENAMETOOLONG);
	CU_ASSERT_TRUE(x.len <= DNSWIRE_MAX_NAME);
}

static void
test_name_decode(void)
{
	struct dnswire_name n;
	struct msg m;
	size_t next, second;

	/* "gateway.jakub" at 12, then "www" + pointer to "jakub" (17+... ) */
	header(&m, 1, 0, 1, 0, 0, 0);
	put_name(&m, "gateway.jakub");
	second = m.len;
	put(&m, "\x03www\xc0\x14", 6); /* 0x14 = 20: "jakub" */
	CU_ASSERT_EQUAL(dnswire_name_decode(m.b, m.len, 12, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "gateway.jakub");
	CU_ASSERT_EQUAL(next, second);
	CU_ASSERT_EQUAL(dnswire_name_decode(m.b, m.len, second, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "www.jakub");
	CU_ASSERT_EQUAL(next, m.len);
	/* Truncated before the pointer's second byte, inside a label. */
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len - 1, second, &n, &next), -EBADMSG);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, second + 2, second, &n, &next), -EBADMSG);
	CU_ASSERT_EQUAL(dnswire_name_decode(m.b, 12, 12, &n, &next), -EBADMSG);

	/* A pointer to itself, to a later offset, and two pointing at each
	 * other are all rejected. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m, "\xc0\x0c", 2);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m, "\xc0\x0e\x00", 3);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m,
	    "\x01"
	    "a"
	    "\xc0\x10"
	    "\x01"
	    "b"
	    "\xc0\x0c",
	    8);
	/* at 16: "b" then pointer to 12 ("a" then pointer to 16): a loop */
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 16, &n, &next), -EBADMSG);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);
	/* A label pointing back into its own run: "a" + pointer to 12. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m,
	    "\x01"
	    "a"
	    "\xc0\x0c",
	    4);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);

	/* Label types 0x40 / 0x80 (and a 64-byte length) are rejected. */
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m, "\x40", 1);
	for (int i = 0; i < 64; i++)
		put(&m, "x", 1);
	put(&m, "\0", 1);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);
	header(&m, 1, 0, 1, 0, 0, 0);
	put(&m, "\x80\x00", 2);
	CU_ASSERT_EQUAL(
	    dnswire_name_decode(m.b, m.len, 12, &n, &next), -EBADMSG);

	/* Over 255 bytes through a chain of backward pointers: 5 runs of
	 * 63-byte labels, each pointing to the previous one. */
	header(&m, 1, 0, 1, 0, 0, 0);
	{
		size_t prev = 0;

		for (int run = 0; run < 5; run++) {
			size_t at = m.len;

			put(&m, "\x3f", 1);
			for (int i = 0; i < 63; i++)
				put(&m, "y", 1);
			if (run == 0) {
				put(&m, "\0", 1);
			} else {
				uint8_t p[2] = {(uint8_t)(0xc0 | (prev >> 8)),
				    (uint8_t)prev};

				put(&m, p, 2);
			}
			if (run == 2)
				CU_ASSERT_EQUAL(dnswire_name_decode(
				                    m.b, m.len, at, &n, &next),
				    0);
			if (run == 3)
				CU_ASSERT_EQUAL(dnswire_name_decode(
				                    m.b, m.len, at, &n, &next),
				    -EBADMSG);
			prev = at;
		}
	}
}

static void
test_query_parse(void)
{
	struct dnswire_query q;
	struct msg m;

	query(&m, 7, "Gateway.jakub", DNSWIRE_TYPE_AAAA);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), 0);
	CU_ASSERT_EQUAL(q.hdr.id, 7);
	CU_ASSERT_EQUAL(q.qtype, DNSWIRE_TYPE_AAAA);
	CU_ASSERT_EQUAL(q.qclass, DNSWIRE_CLASS_IN);
	CU_ASSERT_STRING_EQUAL(text_of(&q.qname), "Gateway.jakub");
	CU_ASSERT_EQUAL(q.question_end, m.len);
	CU_ASSERT_EQUAL(q.opt_off, 0);
	CU_ASSERT_EQUAL(q.udp_size, 512);
	for (size_t cut = 0; cut < m.len; cut++)
		CU_ASSERT_EQUAL(dnswire_query_parse(m.b, cut, &q), -EBADMSG);

	/* EDNS: the OPT record gives the UDP size. */
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[11] = 1;
	put_opt(&m, 4096);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), 0);
	CU_ASSERT_EQUAL(q.opt_off, q.question_end);
	CU_ASSERT_EQUAL(q.opt_len, 11);
	CU_ASSERT_EQUAL(q.udp_size, 4096);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len - 1, &q), -EBADMSG);
	/* Two OPTs, an OPT with an owner: FORMERR. */
	m.b[11] = 2;
	put_opt(&m, 1232);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[11] = 1;
	put_name(&m, "x");
	put16(&m, DNSWIRE_TYPE_OPT);
	put16(&m, 4096);
	put32(&m, 0);
	put16(&m, 0);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
	/* A small OPT size still means 512. */
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[11] = 1;
	put_opt(&m, 100);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), 0);
	CU_ASSERT_EQUAL(q.udp_size, 512);

	/* Not a query: QR set, no question, two questions, other opcode. */
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[2] |= 0x80;
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[5] = 0;
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
	m.b[5] = 2;
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[2] |= 2 << 3; /* STATUS */
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EOPNOTSUPP);
	/* A record count that is not there. */
	query(&m, 7, "a.b", DNSWIRE_TYPE_A);
	m.b[7] = 1;
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), -EBADMSG);
}

static void
test_query_rebuild(void)
{
	struct dnswire_query q, q2;
	struct dnswire_name fq = name_of("gateway.jakub.svc.cluster.local");
	struct msg m;
	uint8_t out[512];
	int n;

	query(&m, 0xbeef, "gateway.jakub", DNSWIRE_TYPE_A);
	m.b[11] = 2;
	put_opt(&m, 1232);
	/* A second additional record (say a cookie-less TSIG stand-in) is
	 * dropped. */
	put_name(&m, "key");
	put16(&m, 250);
	put16(&m, 255);
	put32(&m, 0);
	put16(&m, 2);
	put16(&m, 0);
	CU_ASSERT_EQUAL_FATAL(dnswire_query_parse(m.b, m.len, &q), 0);
	n = dnswire_query_rebuild(m.b, &q, &fq, out, sizeof(out));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(dnswire_query_parse(out, (size_t)n, &q2), 0);
	CU_ASSERT_EQUAL(q2.hdr.id, 0xbeef);
	CU_ASSERT_EQUAL(q2.hdr.flags, DNSWIRE_FLAG_RD);
	CU_ASSERT_EQUAL(q2.hdr.arcount, 1);
	CU_ASSERT_TRUE(dnswire_name_equal(&q2.qname, &fq));
	CU_ASSERT_EQUAL(q2.qtype, DNSWIRE_TYPE_A);
	CU_ASSERT_EQUAL(q2.udp_size, 1232);
	CU_ASSERT_EQUAL((size_t)n, q2.question_end + 11);
	CU_ASSERT_EQUAL(
	    dnswire_query_rebuild(m.b, &q, &fq, out, 40), -EMSGSIZE);
}

static void
test_reply_empty(void)
{
	struct dnswire_header h;
	struct dnswire_query q;
	struct msg m;
	uint8_t out[DNSWIRE_HEADER_LEN + DNSWIRE_MAX_NAME + 4];
	int n;

	query(&m, 0x4242, "gateway.jakub", DNSWIRE_TYPE_A);
	m.b[11] = 1;
	put_opt(&m, 4096);
	m.b[3] |= 0x10; /* CD */
	n = dnswire_reply_empty(
	    m.b, m.len, DNSWIRE_SERVFAIL, false, out, sizeof(out));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(dnswire_header_parse(out, (size_t)n, &h), 0);
	CU_ASSERT_EQUAL(h.id, 0x4242);
	CU_ASSERT_EQUAL(h.flags, DNSWIRE_FLAG_QR | DNSWIRE_FLAG_RD |
	                             DNSWIRE_FLAG_RA | 0x10 | DNSWIRE_SERVFAIL);
	CU_ASSERT_EQUAL(h.qdcount, 1);
	CU_ASSERT_EQUAL(h.ancount + h.nscount + h.arcount, 0);
	CU_ASSERT_EQUAL(dnswire_query_parse(m.b, m.len, &q), 0);
	CU_ASSERT_EQUAL(dnswire_answer_check(out, (size_t)n, &q.qname,
	                    DNSWIRE_TYPE_A, DNSWIRE_CLASS_IN),
	    0);
	CU_ASSERT_EQUAL((size_t)n, q.question_end);

	n = dnswire_reply_empty(
	    m.b, m.len, DNSWIRE_NOERROR, true, out, sizeof(out));
	CU_ASSERT_EQUAL(dnswire_header_parse(out, (size_t)n, &h), 0);
	CU_ASSERT_TRUE(h.flags & DNSWIRE_FLAG_TC);

	/* Garbage after the header: FORMERR without a question. */
	header(&m, 0x0102, DNSWIRE_FLAG_RD, 1, 0, 0, 0);
	put(&m,
	    "\x05"
	    "ab",
	    3);
	n = dnswire_reply_empty(
	    m.b, m.len, DNSWIRE_FORMERR, false, out, sizeof(out));
	CU_ASSERT_EQUAL(n, DNSWIRE_HEADER_LEN);
	CU_ASSERT_EQUAL(dnswire_header_parse(out, (size_t)n, &h), 0);
	CU_ASSERT_EQUAL(h.id, 0x0102);
	CU_ASSERT_EQUAL(h.qdcount, 0);
	CU_ASSERT_EQUAL(DNSWIRE_RCODE_OF(h.flags), DNSWIRE_FORMERR);
	CU_ASSERT_EQUAL(dnswire_reply_empty(
	                    m.b, 11, DNSWIRE_FORMERR, false, out, sizeof(out)),
	    -EBADMSG);
	CU_ASSERT_EQUAL(
	    dnswire_reply_empty(m.b, m.len, DNSWIRE_FORMERR, false, out, 11),
	    -EMSGSIZE);
}

static void
test_answer_rewrite(void)
{
	struct dnswire_name from = name_of("gateway.jakub.svc.cluster.local");
	struct dnswire_name to = name_of("GateWay.jakub");
	struct dnswire_header h;
	struct dnswire_name n;
	struct msg m;
	uint8_t out[1024];
	size_t len, off, next, soa_rdlen_at;
	int r;

	/* An answer compressed the way servers do it: the A owner points
	 * to the question, a CNAME whose target points into it, an SOA in
	 * authority with both names compressed, an SRV and the OPT in
	 * additional. */
	header(&m, 9, DNSWIRE_FLAG_QR | DNSWIRE_FLAG_RD | DNSWIRE_FLAG_RA, 1, 2,
	    1, 2);
	put_name(&m, "gateway.jakub.svc.cluster.local");
	put16(&m, DNSWIRE_TYPE_A);
	put16(&m, DNSWIRE_CLASS_IN);
	put(&m, "\xc0\x0c", 2);
	put16(&m, DNSWIRE_TYPE_A);
	put16(&m, DNSWIRE_CLASS_IN);
	put32(&m, 30);
	put16(&m, 4);
	put(&m, "\x0a\x60\x00\x0a", 4);
	put(&m,
	    "\x05"
	    "alias"
	    "\xc0\x14",
	    8);
	put16(&m, DNSWIRE_TYPE_CNAME);
	put16(&m, DNSWIRE_CLASS_IN);
	put32(&m, 30);
	put16(&m, 2);
	put(&m, "\xc0\x0c", 2);
	put(&m, "\xc0\x1e", 2); /* 30: "cluster.local" */
	put16(&m, DNSWIRE_TYPE_SOA);
	put16(&m, DNSWIRE_CLASS_IN);
	put32(&m, 5);
	soa_rdlen_at = m.len;
	put16(&m, 0);
	put(&m, "\x02ns\xc0\x1e", 5);
	put(&m, "\x0ahostmaster\xc0\x1e", 13);
	put(&m,
	    "\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03"
	    "\x00\x00\x00\x04\x00\x00\x00\x05",
	    20);
	wire_put_u16(m.b + soa_rdlen_at, (uint16_t)(m.len - soa_rdlen_at - 2));
	/* _http._tcp SRV 0 0 80 gateway (compressed) */
	put(&m, "\x05_http\x04_tcp\xc0\x0c", 13);
	put16(&m, DNSWIRE_TYPE_SRV);
	put16(&m, DNSWIRE_CLASS_IN);
	put32(&m, 30);
	put16(&m, 8);
	put(&m, "\x00\x00\x00\x00\x00\x50\xc0\x0c", 8);
	put_opt(&m, 1232);

	CU_ASSERT_EQUAL(dnswire_answer_check(m.b, m.len, &from, DNSWIRE_TYPE_A,
	                    DNSWIRE_CLASS_IN),
	    0);
	CU_ASSERT_EQUAL(dnswire_answer_check(m.b, m.len, &from,
	                    DNSWIRE_TYPE_AAAA, DNSWIRE_CLASS_IN),
	    -EBADMSG);
	CU_ASSERT_EQUAL(dnswire_answer_check(
	                    m.b, m.len, &to, DNSWIRE_TYPE_A, DNSWIRE_CLASS_IN),
	    -EBADMSG);

	r = dnswire_answer_rewrite(
	    m.b, m.len, &from, &to, out, sizeof(out), &len);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL(dnswire_header_parse(out, len, &h), 0);
	CU_ASSERT_EQUAL(h.id, 9);
	CU_ASSERT_EQUAL(h.ancount, 2);
	CU_ASSERT_EQUAL(h.nscount, 1);
	CU_ASSERT_EQUAL(h.arcount, 2);
	/* The question is the client's, byte for byte (case kept). */
	CU_ASSERT_EQUAL(memcmp(out + 12, to.wire, to.len), 0);
	CU_ASSERT_EQUAL(dnswire_answer_check(
	                    out, len, &to, DNSWIRE_TYPE_A, DNSWIRE_CLASS_IN),
	    0);
	off = 12 + to.len + 4;
	/* A: owner renamed, uncompressed. */
	CU_ASSERT_EQUAL(memcmp(out + off, to.wire, to.len), 0);
	off += to.len;
	CU_ASSERT_EQUAL(wire_get_u16(out + off), DNSWIRE_TYPE_A);
	CU_ASSERT_EQUAL(wire_get_u16(out + off + 8), 4);
	CU_ASSERT_EQUAL(memcmp(out + off + 10, "\x0a\x60\x00\x0a", 4), 0);
	off += 14;
	/* CNAME: owner kept (decompressed), target decompressed (not
	 * renamed). */
	CU_ASSERT_EQUAL(dnswire_name_decode(out, len, off, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "alias.jakub.svc.cluster.local");
	CU_ASSERT_EQUAL(next, off + n.len);
	off = next;
	CU_ASSERT_EQUAL(wire_get_u16(out + off), DNSWIRE_TYPE_CNAME);
	CU_ASSERT_EQUAL(wire_get_u16(out + off + 8), from.len);
	CU_ASSERT_EQUAL(memcmp(out + off + 10, from.wire, from.len), 0);
	off += 10 + from.len;
	/* SOA */
	CU_ASSERT_EQUAL(dnswire_name_decode(out, len, off, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "cluster.local");
	off = next;
	CU_ASSERT_EQUAL(wire_get_u16(out + off), DNSWIRE_TYPE_SOA);
	CU_ASSERT_EQUAL(
	    wire_get_u16(out + off + 8), 18 + 26 + 20); /* names + 5 x u32 */
	CU_ASSERT_EQUAL(dnswire_name_decode(out, len, off + 10, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "ns.cluster.local");
	CU_ASSERT_EQUAL(dnswire_name_decode(out, len, next, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(text_of(&n), "hostmaster.cluster.local");
	CU_ASSERT_EQUAL(wire_get_u32(out + next + 16), 5);
	off = next + 20;
	/* SRV: target decompressed. */
	CU_ASSERT_EQUAL(dnswire_name_decode(out, len, off, &n, &next), 0);
	CU_ASSERT_STRING_EQUAL(
	    text_of(&n), "_http._tcp.gateway.jakub.svc.cluster.local");
	off = next;
	CU_ASSERT_EQUAL(wire_get_u16(out + off + 8), 6 + from.len);
	CU_ASSERT_EQUAL(wire_get_u16(out + off + 10 + 4), 80);
	off += 10 + 6 + from.len;
	/* OPT copied. */
	CU_ASSERT_EQUAL(out[off], 0);
	CU_ASSERT_EQUAL(wire_get_u16(out + off + 1), DNSWIRE_TYPE_OPT);
	CU_ASSERT_EQUAL(off + 11, len);

	/* Every shorter output buffer fails cleanly. */
	for (size_t cap = 0; cap < len; cap += 7)
		CU_ASSERT_EQUAL(dnswire_answer_rewrite(
		                    m.b, m.len, &from, &to, out, cap, &next),
		    -EMSGSIZE);
	/* Every truncation of the answer is refused. */
	for (size_t cut = 0; cut < m.len; cut++)
		CU_ASSERT_NOT_EQUAL(dnswire_answer_rewrite(m.b, cut, &from, &to,
		                        out, sizeof(out), &next),
		    0);
	/* The CNAME's data one byte longer than its name: refused. */
	{
		struct msg bad = m;
		size_t cname_rdlen_at = 12 + from.len + 4 + 16 + 8 + 8;

		CU_ASSERT_EQUAL(wire_get_u16(bad.b + cname_rdlen_at), 2);
		wire_put_u16(bad.b + cname_rdlen_at, 3);
		CU_ASSERT_EQUAL(dnswire_answer_rewrite(bad.b, bad.len, &from,
		                    &to, out, sizeof(out), &next),
		    -EBADMSG);
	}
	/* Not an answer to from. */
	CU_ASSERT_EQUAL(dnswire_answer_rewrite(
	                    m.b, m.len, &to, &from, out, sizeof(out), &next),
	    -EBADMSG);
}

/* The routing decision table. */
struct route_case {
	const char *qname;
	int route;        /* DNSWIRE_ROUTE_* or -ENAMETOOLONG */
	const char *zone; /* namespace of the zone chosen */
	const char *asked;
};

static void
check_routes(const struct dnswire_zone *zones, size_t n,
    const struct route_case *cases, size_t ncases)
{
	for (size_t i = 0; i < ncases; i++) {
		struct dnswire_name q = name_of(cases[i].qname), asked;
		size_t z = 99;
		int r = dnswire_route(&q, zones, n, &z, &asked);

		if (r != cases[i].route)
			printf("\n  %s: route %d, want %d", cases[i].qname, r,
			    cases[i].route);
		CU_ASSERT_EQUAL(r, cases[i].route);
		if (r != DNSWIRE_ROUTE_CLUSTER ||
		    cases[i].route != DNSWIRE_ROUTE_CLUSTER)
			continue;
		CU_ASSERT_FATAL(z < n);
		CU_ASSERT_STRING_EQUAL(text_of(&zones[z].ns), cases[i].zone);
		if (strcmp(text_of(&asked), cases[i].asked) != 0)
			printf("\n  %s: asked %s", cases[i].qname,
			    text_of(&asked));
		CU_ASSERT_STRING_EQUAL(text_of(&asked), cases[i].asked);
	}
}

static void
test_route(void)
{
	struct dnswire_zone zones[2];
	char bare[80];
	static const struct route_case cases[] = {
	    {"gateway.jakub.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.jakub.svc.cluster.local"},
	    {"GATEWAY.Jakub.SVC.Cluster.Local.", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "GATEWAY.Jakub.SVC.Cluster.Local"},
	    {"gateway.other.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "other",
	        "gateway.other.svc.cluster.local"},
	    {"10-1-2-3.jakub.pod.cluster.local", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "10-1-2-3.jakub.pod.cluster.local"},
	    /* a namespace not connected: any session answers cluster-wide
	     * names; the default (most recent) one */
	    {"db.nope.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "other",
	        "db.nope.svc.cluster.local"},
	    {"cluster.local", DNSWIRE_ROUTE_CLUSTER, "other", "cluster.local"},
	    {"kubernetes.default.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER,
	        "other", "kubernetes.default.svc.cluster.local"},
	    {"gateway.jakub", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.jakub.svc.cluster.local"},
	    {"gateway.JAKUB.", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.JAKUB.svc.cluster.local"},
	    {"gateway.jakub.svc", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.jakub.svc.cluster.local"},
	    {"_http._tcp.gateway.jakub.svc", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "_http._tcp.gateway.jakub.svc.cluster.local"},
	    {"10-1-2-3.jakub.pod", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "10-1-2-3.jakub.pod.cluster.local"},
	    {"db.other", DNSWIRE_ROUTE_CLUSTER, "other",
	        "db.other.svc.cluster.local"},
	    {"gateway", DNSWIRE_ROUTE_CLUSTER, "other",
	        "gateway.other.svc.cluster.local"},
	    {"Gateway.", DNSWIRE_ROUTE_CLUSTER, "other",
	        "Gateway.other.svc.cluster.local"},
	    {"example.com", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"www.example.com.", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"gateway.nope", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"gateway.nope.svc", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"jakub.example.com", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"cluster.local.example.com", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"xcluster.local", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	    {"local", DNSWIRE_ROUTE_CLUSTER, "other",
	        "local.other.svc.cluster.local"},
	    {".", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	};
	static const struct route_case down[] = {
	    /* jakub's session is down: cluster-domain names go to a ready
	     * session, names only jakub can qualify stay with jakub */
	    {"gateway.jakub.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "other",
	        "gateway.jakub.svc.cluster.local"},
	    {"gateway.jakub", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.jakub.svc.cluster.local"},
	};
	static const struct route_case alldown[] = {
	    {"gateway.jakub.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "jakub",
	        "gateway.jakub.svc.cluster.local"},
	    {"x.nope.svc.cluster.local", DNSWIRE_ROUTE_CLUSTER, "other",
	        "x.nope.svc.cluster.local"},
	};
	struct route_case toolong[2] = {
	    {bare, -ENAMETOOLONG, NULL, NULL},
	    {"a.b.c", DNSWIRE_ROUTE_OUTSIDE, NULL, NULL},
	};

	memset(zones, 0, sizeof(zones));
	zones[0].ns = name_of("jakub");
	zones[0].domain = name_of("cluster.local");
	zones[0].ready = true;
	zones[1].ns = name_of("other");
	zones[1].domain = name_of("cluster.local");
	zones[1].ready = true;
	check_routes(zones, 2, cases, sizeof(cases) / sizeof(*cases));

	zones[0].ready = false;
	check_routes(zones, 2, down, sizeof(down) / sizeof(*down));
	zones[1].ready = false;
	check_routes(zones, 2, alldown, sizeof(alldown) / sizeof(*alldown));

	/* No zones: everything outside. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct dnswire_name q = name_of(cases[i].qname), asked;
		size_t z;

		CU_ASSERT_EQUAL(dnswire_route(&q, zones, 0, &z, &asked),
		    DNSWIRE_ROUTE_OUTSIDE);
	}

	/* A 63-byte label: 3 of them plus "other.svc.cluster.local" does
	 * not fit 255 bytes. */
	{
		struct dnswire_name q, asked;
		size_t z;
		char l63[64];

		memset(l63, 'q', 63);
		l63[63] = '\0';
		snprintf(bare, sizeof(bare), "%s", l63);
		zones[1].ready = true;
		check_routes(zones, 2, toolong + 1, 1);
		/* bare 63 bytes fits; pad the zone's domain instead */
		zones[1].domain = name_of("");
		memset(&q, 0, sizeof(q));
		{
			char dom[256];

			snprintf(dom, sizeof(dom), "%s.%s.%s.x", l63, l63, l63);
			zones[1].domain = name_of(dom);
		}
		q = name_of(bare);
		CU_ASSERT_EQUAL(
		    dnswire_route(&q, zones, 2, &z, &asked), -ENAMETOOLONG);
		check_routes(zones, 2, toolong, 1);
	}
}

static const struct cunit_test tests[] = {
    {"header", test_header},
    {"name_text", test_name_text},
    {"name_compare", test_name_compare},
    {"name_decode", test_name_decode},
    {"query_parse", test_query_parse},
    {"query_rebuild", test_query_rebuild},
    {"reply_empty", test_reply_empty},
    {"answer_rewrite", test_answer_rewrite},
    {"route", test_route},
};

CUNIT_MAIN("dnswire", tests)
