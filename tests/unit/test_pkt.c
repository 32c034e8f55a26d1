/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/pkt: parsing IPv4/IPv6 TCP packets built here the
 * way the kernel sends them (SYN with options, data, FIN, RST), refusing
 * malformed ones (versions, header lengths, truncation, extension chains),
 * IPv4 options and fragments; rewriting addresses and ports and checking
 * every checksum again from scratch, both for full checksums and for
 * CHECKSUM_PARTIAL packets (virtio_net_hdr NEEDS_CSUM); the virtio_net_hdr
 * checks; the RST and ICMP/ICMPv6 unreachable answers; and a mutation loop
 * (bit flips, truncations) over every sample packet.
 *
 * The checksums here are computed independently of pkt.c: as the sum of
 * the 16-bit words modulo 65535 (ones'-complement addition is addition
 * modulo 2^16 - 1), not by folding carries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/pkt.h"
#include "tests/unit/cunit_main.h"

/* ---- independent checksums ---- */

static uint64_t
words(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (i % 2 == 0) ? (uint64_t)p[i] * 256 : p[i];
	return s;
}

/* The ones'-complement sum of s as a 16-bit value in 1..0xffff (0 only
 * for an all-zero input), computed modulo 65535. */
static uint16_t
ocsum(uint64_t s)
{
	uint64_t m = s % 65535;

	return (uint16_t)(m == 0 && s != 0 ? 0xffff : m);
}

static uint64_t
pseudo(int family, const uint8_t *p, uint8_t proto, uint32_t l4_len)
{
	if (family == AF_INET)
		return words(p + 12, 8) + proto + l4_len;
	return words(p + 8, 32) + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

/* True when the full checksum over the IPv4 header is right. */
static bool
ip4_ok(const uint8_t *p)
{
	return ocsum(words(p, (size_t)(p[0] & 15) * 4)) == 0xffff;
}

/* True when the full L4 checksum (pseudo-header + segment) is right. */
static bool
l4_ok(int family, const uint8_t *p, size_t l4_off, size_t l4_len, uint8_t proto)
{
	return ocsum(pseudo(family, p, proto, (uint32_t)l4_len) +
	             words(p + l4_off, l4_len)) == 0xffff;
}

/* True when the field at csum_off holds the pseudo-header sum (partial). */
static bool
partial_ok(int family, const uint8_t *p, size_t csum_off, size_t l4_len)
{
	uint16_t want = ocsum(pseudo(family, p, 6, (uint32_t)l4_len));
	uint16_t got = (uint16_t)(p[csum_off] << 8 | p[csum_off + 1]);

	/* 0 and 0xffff are the same ones'-complement number. */
	if (got == 0)
		got = 0xffff;
	return got == want;
}

/* The TCP checksum of a parsed packet: full, or the partial sum. */
static bool
tcp_csum_ok(const uint8_t *p, const struct pkt_info *pi, bool partial)
{
	if (partial)
		return partial_ok(pi->t.family, p, pi->csum_off, pi->l4_len);
	return l4_ok(pi->t.family, p, pi->l4_off, pi->l4_len, 6);
}

/* ---- packet builders ---- */

struct tcp_spec {
	int family;
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	size_t opt_len;    /* TCP options (multiple of 4) */
	size_t ip_opt_len; /* IPv4 options (multiple of 4) */
	size_t payload;
	bool partial;  /* leave the pseudo-header sum, as NEEDS_CSUM */
	uint16_t frag; /* IPv4 flags+offset field */
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Builds the packet into buf and returns its length. */
static size_t
build_tcp(uint8_t *buf, const struct tcp_spec *s)
{
	size_t ih = s->family == AF_INET ? 20 + s->ip_opt_len : 40;
	size_t th = 20 + s->opt_len;
	size_t l4_len = th + s->payload;
	size_t len = ih + l4_len;
	uint8_t *t = buf + ih;
	uint16_t c;

	memset(buf, 0, len);
	if (s->family == AF_INET) {
		buf[0] = (uint8_t)(0x40 | ih / 4);
		put16(buf + 2, (uint16_t)len);
		put16(buf + 4, 0x1234);
		put16(buf + 6, s->frag ? s->frag : 0x4000);
		buf[8] = 64;
		buf[9] = 6;
		inet_pton(AF_INET, s->src, buf + 12);
		inet_pton(AF_INET, s->dst, buf + 16);
		for (size_t i = 20; i < ih; i++)
			buf[i] = 1; /* NOP options */
		put16(buf + 10, (uint16_t)~ocsum(words(buf, ih)));
	} else {
		buf[0] = 0x60;
		put16(buf + 4, (uint16_t)l4_len);
		buf[6] = 6;
		buf[7] = 64;
		inet_pton(AF_INET6, s->src, buf + 8);
		inet_pton(AF_INET6, s->dst, buf + 24);
	}
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)((th / 4) << 4);
	t[13] = s->flags;
	put16(t + 14, 64240);
	if (s->opt_len >= 4) {
		/* MSS 65495, then NOPs. */
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, 65495);
		for (size_t i = 24; i < th; i++)
			t[i] = 1;
	}
	for (size_t i = 0; i < s->payload; i++)
		t[th + i] = (uint8_t)(i * 7 + 3);
	if (s->partial) {
		c = ocsum(pseudo(s->family, buf, 6, (uint32_t)l4_len));
	} else {
		c = (uint16_t)~ocsum(
		    pseudo(s->family, buf, 6, (uint32_t)l4_len) +
		    words(t, l4_len));
	}
	put16(t + 16, c);
	return len;
}

static const struct tcp_spec syn4 = {
    .family = AF_INET,
    .src = "198.18.0.1",
    .dst = "10.96.0.20",
    .sport = 51000,
    .dport = 80,
    .seq = 0xfffffffeu,
    .flags = PKT_TCP_SYN,
    .opt_len = 20,
};

static const struct tcp_spec syn6 = {
    .family = AF_INET6,
    .src = "fd7e:1e0d::1",
    .dst = "fd00:96::20",
    .sport = 40000,
    .dport = 443,
    .seq = 12345,
    .flags = PKT_TCP_SYN,
    .opt_len = 20,
};

static struct pkt_tuple
tuple(int family, const char *src, uint16_t sport, const char *dst,
    uint16_t dport)
{
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = family;
	inet_pton(family, src, t.src);
	inet_pton(family, dst, t.dst);
	t.sport = sport;
	t.dport = dport;
	return t;
}

/* ---- parsing ---- */

static void
test_parse_syn4(void)
{
	uint8_t buf[256];
	size_t len = build_tcp(buf, &syn4);
	struct pkt_info pi;
	struct pkt_tuple want =
	    tuple(AF_INET, "198.18.0.1", 51000, "10.96.0.20", 80);

	CU_ASSERT_TRUE(ip4_ok(buf));
	CU_ASSERT_TRUE(l4_ok(AF_INET, buf, 20, len - 20, 6));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.t.family, AF_INET);
	CU_ASSERT_EQUAL(memcmp(&pi.t, &want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(pi.proto, 6);
	CU_ASSERT_EQUAL(pi.len, len);
	CU_ASSERT_EQUAL(pi.l4_off, 20);
	CU_ASSERT_EQUAL(pi.l4_len, 40);
	CU_ASSERT_EQUAL(pi.tcp_hdr_len, 40);
	CU_ASSERT_EQUAL(pi.tcp_flags, PKT_TCP_SYN);
	CU_ASSERT_EQUAL(pi.seq, 0xfffffffeu);
	CU_ASSERT_EQUAL(pi.csum_off, 36);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_NONE);
	CU_ASSERT_EQUAL(pi.ttl, 64);
	CU_ASSERT_FALSE(pi.is_icmp_error);
	/* Trailing bytes beyond the IP length are not part of it. */
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len + 10, &pi), 0);
	CU_ASSERT_EQUAL(pi.len, len);
}

static void
test_parse_flags(void)
{
	static const uint8_t flags[] = {PKT_TCP_ACK | PKT_TCP_PSH,
	    PKT_TCP_FIN | PKT_TCP_ACK, PKT_TCP_RST, PKT_TCP_RST | PKT_TCP_ACK,
	    PKT_TCP_SYN | PKT_TCP_ACK};
	uint8_t buf[2048];
	struct tcp_spec s = syn4;
	struct pkt_info pi;
	size_t len;

	for (size_t i = 0; i < sizeof(flags); i++) {
		s.flags = flags[i];
		s.opt_len = 12;
		s.payload = i * 100;
		s.ack = 777;
		len = build_tcp(buf, &s);
		CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
		CU_ASSERT_EQUAL(pi.tcp_flags, flags[i]);
		CU_ASSERT_EQUAL(pi.tcp_hdr_len, 32);
		CU_ASSERT_EQUAL(pi.l4_len - pi.tcp_hdr_len, i * 100);
		CU_ASSERT_EQUAL(pi.ack, 777);
	}
}

static void
test_parse_ipv6(void)
{
	uint8_t buf[512], ext[512];
	size_t len = build_tcp(buf, &syn6), elen;
	struct pkt_info pi;
	struct pkt_tuple want =
	    tuple(AF_INET6, "fd7e:1e0d::1", 40000, "fd00:96::20", 443);

	CU_ASSERT_TRUE(l4_ok(AF_INET6, buf, 40, len - 40, 6));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(memcmp(&pi.t, &want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(pi.l4_off, 40);
	CU_ASSERT_EQUAL(pi.csum_off, 56);

	/* Hop-by-hop (8 bytes) and destination options (16 bytes) before
	 * TCP: the L4 header moves by 24. */
	memcpy(ext, buf, 40);
	ext[6] = 0; /* hop-by-hop */
	memset(ext + 40, 0, 24);
	ext[40] = 60; /* next: destination options */
	ext[41] = 0;
	ext[48] = 6; /* next: TCP */
	ext[49] = 1; /* (1 + 1) * 8 = 16 bytes */
	memcpy(ext + 64, buf + 40, len - 40);
	elen = len + 24;
	put16(ext + 4, (uint16_t)(elen - 40));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(ext, elen, &pi), 0);
	CU_ASSERT_EQUAL(pi.proto, 6);
	CU_ASSERT_EQUAL(pi.l4_off, 64);
	CU_ASSERT_EQUAL(pi.t.sport, 40000);

	/* A routing header with segments left: refused. */
	ext[6] = 43;
	ext[43] = 1;
	CU_ASSERT_EQUAL(pkt_parse(ext, elen, &pi), -EOPNOTSUPP);
	/* With none left it is only walked. */
	ext[43] = 0;
	CU_ASSERT_EQUAL(pkt_parse(ext, elen, &pi), 0);
	CU_ASSERT_EQUAL(pi.l4_off, 64);
	/* An extension header running past the payload. */
	ext[49] = 200;
	CU_ASSERT_EQUAL(pkt_parse(ext, elen, &pi), -EINVAL);
}

static void
test_parse_ipv6_fragments(void)
{
	uint8_t buf[512], f[512];
	size_t len = build_tcp(buf, &syn6), flen = len + 8;
	struct pkt_info pi;

	memcpy(f, buf, 40);
	f[6] = 44;
	memset(f + 40, 0, 8);
	f[40] = 6;
	put16(f + 42, 0x0001); /* offset 0, more fragments */
	memcpy(f + 48, buf + 40, len - 40);
	put16(f + 4, (uint16_t)(flen - 40));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(f, flen, &pi), 0);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_FIRST);
	CU_ASSERT_EQUAL(pi.proto, 6);
	CU_ASSERT_EQUAL(pi.l4_off, 48);
	CU_ASSERT_EQUAL(pi.t.dport, 443);

	put16(f + 42, 185 << 3); /* a later fragment */
	CU_ASSERT_EQUAL_FATAL(pkt_parse(f, flen, &pi), 0);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_LATER);
	CU_ASSERT_EQUAL(pi.proto, 6);
	CU_ASSERT_EQUAL(pi.t.sport, 0);
	CU_ASSERT_EQUAL(pi.csum_off, 0);
}

static void
test_parse_ipv6_chain_limit(void)
{
	uint8_t buf[40 + 8 * 12 + 20];
	struct pkt_info pi;
	size_t n;

	/* k destination-options headers, then TCP. */
	for (n = 1; n <= 12; n++) {
		size_t len = 40 + 8 * n + 20;

		memset(buf, 0, sizeof(buf));
		buf[0] = 0x60;
		buf[6] = 60;
		put16(buf + 4, (uint16_t)(len - 40));
		for (size_t i = 0; i < n; i++)
			buf[40 + 8 * i] = (uint8_t)(i + 1 < n ? 60 : 6);
		buf[40 + 8 * n + 12] = 5 << 4;
		CU_ASSERT_EQUAL(pkt_parse(buf, len, &pi), n <= 8 ? 0 : -EINVAL);
	}
}

static void
test_parse_malformed(void)
{
	uint8_t buf[256], b[256];
	size_t len = build_tcp(buf, &syn4);
	struct pkt_info pi;

	CU_ASSERT_EQUAL(pkt_parse(buf, 0, &pi), -EINVAL);
	/* Versions other than 4 and 6. */
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		memcpy(b, buf, len);
		b[0] = (uint8_t)(v << 4 | 5);
		CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	}
	/* An IPv6 version nibble on an IPv4 packet: too short a payload
	 * length for the header it claims. */
	memcpy(b, buf, len);
	b[0] = 0x65;
	CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	/* IHL below 5 and beyond the total length. */
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		memcpy(b, buf, len);
		b[0] = (uint8_t)(0x40 | ihl);
		CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	}
	memcpy(b, buf, len);
	put16(b + 2, 19);
	CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	b[0] = 0x4f; /* 60 bytes of header, total 40 */
	put16(b + 2, 40);
	CU_ASSERT_EQUAL(pkt_parse(b, 40, &pi), -EINVAL);
	/* Total length beyond the buffer: truncated in transit. */
	CU_ASSERT_EQUAL(pkt_parse(buf, len - 1, &pi), -EINVAL);
	CU_ASSERT_EQUAL(pkt_parse(buf, 19, &pi), -EINVAL);
	/* TCP header shorter than 20 bytes. */
	memcpy(b, buf, len);
	put16(b + 2, 20 + 19);
	CU_ASSERT_EQUAL(pkt_parse(b, 39, &pi), -EINVAL);
	/* Data offset below 5, and beyond the segment. */
	memcpy(b, buf, len);
	b[32] = 4 << 4;
	CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	b[32] = 11 << 4; /* 44 bytes > 40 */
	CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), -EINVAL);
	b[32] = 10 << 4;
	CU_ASSERT_EQUAL(pkt_parse(b, len, &pi), 0);
	/* IPv6: shorter than its header, payload beyond the buffer. */
	len = build_tcp(buf, &syn6);
	CU_ASSERT_EQUAL(pkt_parse(buf, 39, &pi), -EINVAL);
	CU_ASSERT_EQUAL(pkt_parse(buf, len - 1, &pi), -EINVAL);
	/* UDP and ICMP headers too short. */
	memset(b, 0, sizeof(b));
	b[0] = 0x45;
	put16(b + 2, 27);
	b[9] = 17;
	CU_ASSERT_EQUAL(pkt_parse(b, 27, &pi), -EINVAL);
	b[9] = 1;
	CU_ASSERT_EQUAL(pkt_parse(b, 27, &pi), -EINVAL);
	put16(b + 2, 28);
	CU_ASSERT_EQUAL(pkt_parse(b, 28, &pi), 0);
}

static void
test_parse_ip_options(void)
{
	uint8_t buf[256];
	struct tcp_spec s = syn4;
	struct pkt_info pi;
	size_t len;

	for (size_t opt = 0; opt <= 40; opt += 4) {
		s.ip_opt_len = opt;
		len = build_tcp(buf, &s);
		CU_ASSERT_TRUE(ip4_ok(buf));
		CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
		CU_ASSERT_EQUAL(pi.l4_off, 20 + opt);
		CU_ASSERT_EQUAL(pi.t.sport, 51000);
		CU_ASSERT_EQUAL(pi.csum_off, 20 + opt + 16);
	}
}

static void
test_parse_ipv4_fragments(void)
{
	uint8_t buf[256];
	struct tcp_spec s = syn4;
	struct pkt_info pi;
	struct pkt_tuple to =
	    tuple(AF_INET, "198.18.128.7", 51000, "198.18.0.1", 7000);
	size_t len;

	s.frag = 0x2000; /* MF, offset 0: the first fragment */
	s.payload = 64;
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_FIRST);
	CU_ASSERT_EQUAL(pi.t.dport, 80);
	/* The first fragment holds the checksum field: a rewrite keeps the
	 * datagram's checksum right (here, the whole datagram is this). */
	CU_ASSERT_EQUAL(pkt_rewrite(buf, &pi, &to, false), 0);
	CU_ASSERT_TRUE(ip4_ok(buf));
	CU_ASSERT_TRUE(l4_ok(AF_INET, buf, 20, len - 20, 6));

	s.frag = 0x2000 | 100; /* a later fragment, more to come */
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_LATER);
	CU_ASSERT_EQUAL(pi.t.sport, 0);
	CU_ASSERT_EQUAL(pi.tcp_hdr_len, 0);
	CU_ASSERT_EQUAL(pkt_rewrite(buf, &pi, &to, false), -EPROTONOSUPPORT);
	s.frag = 100; /* the last fragment */
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.frag, PKT_FRAG_LATER);
	/* A later fragment is never answered with an ICMP error. */
	{
		uint8_t out[PKT_ANSWER_MAX];

		CU_ASSERT_EQUAL(pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST,
		                    out, sizeof(out)),
		    -EINVAL);
	}
}

/* ---- rewriting ---- */

static uint32_t rng_state = 0x12345678;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void
rand_addr(int family, char *out, size_t cap)
{
	uint8_t a[16];

	for (int i = 0; i < 16; i++)
		a[i] = (uint8_t)rng();
	inet_ntop(family, a, out, (socklen_t)cap);
}

static void
check_rewrite(const struct tcp_spec *s)
{
	static uint8_t buf[PKT_MAX_LEN];
	char src[64], dst[64];
	struct pkt_info pi;
	struct pkt_tuple to;
	size_t len = build_tcp(buf, s);
	size_t ih = s->family == AF_INET ? 20 + s->ip_opt_len : 40;

	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	rand_addr(s->family, src, sizeof(src));
	rand_addr(s->family, dst, sizeof(dst));
	to = tuple(s->family, src, (uint16_t)rng(), dst, (uint16_t)rng());
	CU_ASSERT_EQUAL_FATAL(pkt_rewrite(buf, &pi, &to, s->partial), 0);
	CU_ASSERT_EQUAL(memcmp(&pi.t, &to, sizeof(to)), 0);
	/* The bytes say the new tuple. */
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(memcmp(&pi.t, &to, sizeof(to)), 0);
	if (s->family == AF_INET)
		CU_ASSERT_TRUE(ip4_ok(buf));
	CU_ASSERT_EQUAL(ih, pi.l4_off);
	CU_ASSERT_TRUE(tcp_csum_ok(buf, &pi, s->partial));
}

static void
test_rewrite_random(void)
{
	struct tcp_spec s;
	char src[64], dst[64];

	for (int i = 0; i < 2000; i++) {
		int family = (i & 1) ? AF_INET6 : AF_INET;

		memset(&s, 0, sizeof(s));
		rand_addr(family, src, sizeof(src));
		rand_addr(family, dst, sizeof(dst));
		s.family = family;
		s.src = src;
		s.dst = dst;
		s.sport = (uint16_t)rng();
		s.dport = (uint16_t)rng();
		s.seq = rng();
		s.ack = rng();
		s.flags = (uint8_t)(rng() & 0x3f);
		s.opt_len = (rng() % 11) * 4;
		s.ip_opt_len = family == AF_INET ? (rng() % 11) * 4 : 0;
		/* Mostly small, sometimes up to a 64 KiB superpacket, odd
		 * lengths included. */
		s.payload =
		    (i % 50 == 0) ? 65535 - 120 - rng() % 1000 : rng() % 1500;
		s.partial = (i / 2) & 1;
		check_rewrite(&s);
	}
}

static void
test_rewrite_edge_values(void)
{
	/* Sums that land on 0x0000 / 0xffff boundaries: all-ones and
	 * all-zero addresses and ports, both ways. */
	static const char *v4[] = {
	    "0.0.0.0", "255.255.255.255", "1.0.0.0", "0.0.0.1"};
	static const char *v6[] = {
	    "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", "8000::"};
	static const uint16_t ports[] = {0, 65535, 1, 32768};
	static uint8_t buf[2048];
	struct tcp_spec s;
	struct pkt_info pi;
	struct pkt_tuple to;
	size_t len;

	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		const char **a = fam ? v6 : v4;

		for (int i = 0; i < 4; i++) {
			for (int j = 0; j < 4; j++) {
				for (int partial = 0; partial < 2; partial++) {
					memset(&s, 0, sizeof(s));
					s.family = family;
					s.src = a[i];
					s.dst = a[j];
					s.sport = ports[i];
					s.dport = ports[j];
					s.payload = (size_t)(i * 3 + j);
					s.partial = partial;
					len = build_tcp(buf, &s);
					CU_ASSERT_EQUAL_FATAL(
					    pkt_parse(buf, len, &pi), 0);
					to = tuple(family, a[j],
					    ports[(i + 1) % 4], a[(i + j) % 4],
					    ports[3 - j]);
					CU_ASSERT_EQUAL_FATAL(
					    pkt_rewrite(buf, &pi, &to, partial),
					    0);
					if (family == AF_INET)
						CU_ASSERT_TRUE(ip4_ok(buf));
					CU_ASSERT_TRUE(
					    tcp_csum_ok(buf, &pi, partial));
				}
			}
		}
	}
}

static void
test_rewrite_refusals(void)
{
	uint8_t buf[256];
	size_t len = build_tcp(buf, &syn4);
	struct pkt_info pi;
	struct pkt_tuple to6 = tuple(AF_INET6, "::1", 1, "::2", 2);

	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pkt_rewrite(buf, &pi, &to6, false), -EINVAL);
	/* UDP is not rewritten. */
	buf[9] = 17;
	put16(buf + 10, 0);
	put16(buf + 10, (uint16_t)~ocsum(words(buf, 20)));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.proto, 17);
	CU_ASSERT_EQUAL(pkt_rewrite(buf, &pi, &to6, false), -EPROTONOSUPPORT);
}

/* ---- virtio_net_hdr ---- */

static void
test_vnet(void)
{
	uint8_t buf[256], raw[PKT_VNET_HDR_LEN];
	size_t len = build_tcp(buf, &syn4);
	struct pkt_info pi, pi6;
	struct pkt_vnet h, back;
	bool partial = true;

	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, &partial), 0);
	CU_ASSERT_FALSE(partial);

	h.flags = PKT_VNET_F_NEEDS_CSUM;
	h.csum_start = 20;
	h.csum_offset = 16;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, &partial), 0);
	CU_ASSERT_TRUE(partial);
	h.csum_offset = 6; /* the UDP checksum: not this packet's */
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);
	h.csum_offset = 16;
	h.csum_start = 24;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);
	h.csum_start = 20;

	h.gso_type = PKT_VNET_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 40;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), 0);
	h.gso_type = PKT_VNET_GSO_TCPV4 | PKT_VNET_GSO_ECN;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), 0);
	h.gso_type = PKT_VNET_GSO_TCPV6; /* wrong family */
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);
	h.gso_type = PKT_VNET_GSO_UDP_L4;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);
	h.gso_type = PKT_VNET_GSO_TCPV4;
	h.gso_size = 0;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);
	h.gso_size = 1448;
	h.flags = 0; /* GSO without a partial checksum */
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi, NULL), -EINVAL);

	len = build_tcp(buf, &syn6);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi6), 0);
	h.flags = PKT_VNET_F_NEEDS_CSUM;
	h.gso_type = PKT_VNET_GSO_TCPV6;
	h.csum_start = 40;
	CU_ASSERT_EQUAL(pkt_vnet_check(&h, &pi6, NULL), 0);

	/* Little-endian encoding round trip. */
	h.hdr_len = 0x1234;
	h.gso_size = 0xabcd;
	pkt_vnet_encode(&h, raw);
	CU_ASSERT_EQUAL(raw[2], 0x34);
	CU_ASSERT_EQUAL(raw[3], 0x12);
	CU_ASSERT_EQUAL(raw[4], 0xcd);
	pkt_vnet_decode(raw, &back);
	CU_ASSERT_EQUAL(memcmp(&h, &back, sizeof(h)), 0);
}

/* ---- answers ---- */

static void
test_rst_for_syn(void)
{
	uint8_t buf[256], out[128];
	struct tcp_spec s = syn4;
	struct pkt_info pi, ri;
	size_t len;
	int n;

	for (int fam = 0; fam < 2; fam++) {
		s = fam ? syn6 : syn4;
		s.payload = 5; /* a SYN with data (TCP Fast Open) */
		len = build_tcp(buf, &s);
		CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
		n = pkt_build_rst(buf, &pi, out, sizeof(out));
		CU_ASSERT_EQUAL_FATAL(n, fam ? 60 : 40);
		CU_ASSERT_EQUAL_FATAL(pkt_parse(out, (size_t)n, &ri), 0);
		CU_ASSERT_EQUAL(ri.t.family, pi.t.family);
		CU_ASSERT_EQUAL(memcmp(ri.t.src, pi.t.dst, 16), 0);
		CU_ASSERT_EQUAL(memcmp(ri.t.dst, pi.t.src, 16), 0);
		CU_ASSERT_EQUAL(ri.t.sport, pi.t.dport);
		CU_ASSERT_EQUAL(ri.t.dport, pi.t.sport);
		CU_ASSERT_EQUAL(ri.tcp_flags, PKT_TCP_RST | PKT_TCP_ACK);
		CU_ASSERT_EQUAL(ri.seq, 0);
		/* SYN counts one, plus 5 bytes; wraps around 2^32. */
		CU_ASSERT_EQUAL(ri.ack, s.seq + 6);
		if (!fam) /* the v4 SYN sits just below the wrap */
			CU_ASSERT_EQUAL(ri.ack, 4);
		CU_ASSERT_EQUAL(ri.l4_len, 20);
		if (!fam)
			CU_ASSERT_TRUE(ip4_ok(out));
		CU_ASSERT_TRUE(l4_ok(ri.t.family, out, ri.l4_off, 20, 6));
	}
}

static void
test_rst_for_ack(void)
{
	uint8_t buf[256], out[128];
	struct tcp_spec s = syn4;
	struct pkt_info pi, ri;
	size_t len;
	int n;

	s.flags = PKT_TCP_ACK | PKT_TCP_PSH;
	s.ack = 0xdeadbeef;
	s.payload = 10;
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	n = pkt_build_rst(buf, &pi, out, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(n, 40);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(out, (size_t)n, &ri), 0);
	CU_ASSERT_EQUAL(ri.tcp_flags, PKT_TCP_RST);
	CU_ASSERT_EQUAL(ri.seq, 0xdeadbeef);
	CU_ASSERT_TRUE(ip4_ok(out));
	CU_ASSERT_TRUE(l4_ok(AF_INET, out, 20, 20, 6));
	/* A FIN without ACK counts one. */
	s.flags = PKT_TCP_FIN;
	s.payload = 0;
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	n = pkt_build_rst(buf, &pi, out, sizeof(out));
	CU_ASSERT_EQUAL_FATAL(pkt_parse(out, (size_t)n, &ri), 0);
	CU_ASSERT_EQUAL(ri.ack, s.seq + 1);
	/* Never a RST for a RST; never into too small a buffer. */
	s.flags = PKT_TCP_RST;
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pkt_build_rst(buf, &pi, out, sizeof(out)), -EINVAL);
	s.flags = PKT_TCP_SYN;
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pkt_build_rst(buf, &pi, out, 39), -ENOBUFS);
}

static void
check_unreach(
    const struct tcp_spec *s, enum pkt_unreach kind, uint8_t want_code)
{
	static uint8_t buf[PKT_MAX_LEN];
	uint8_t out[PKT_ANSWER_MAX];
	size_t len = build_tcp(buf, s), quote;
	bool v4 = s->family == AF_INET;
	size_t ih = v4 ? 20 : 40;
	struct pkt_info pi, ri;
	int n;

	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	n = pkt_build_unreach(buf, &pi, kind, out, sizeof(out));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(out, (size_t)n, &ri), 0);
	CU_ASSERT_EQUAL(ri.proto, v4 ? 1 : 58);
	CU_ASSERT_EQUAL(ri.icmp_type, v4 ? 3 : 1);
	CU_ASSERT_EQUAL(ri.icmp_code, want_code);
	CU_ASSERT_TRUE(ri.is_icmp_error);
	CU_ASSERT_EQUAL(memcmp(ri.t.src, pi.t.dst, 16), 0);
	CU_ASSERT_EQUAL(memcmp(ri.t.dst, pi.t.src, 16), 0);
	/* 576 bytes at most for IPv4 (RFC 1812), 1280 for IPv6 (RFC
	 * 4443), the whole packet when it fits. */
	quote = len;
	if (ih + 8 + quote > (v4 ? 576u : 1280u))
		quote = (v4 ? 576u : 1280u) - ih - 8;
	CU_ASSERT_EQUAL((size_t)n, ih + 8 + quote);
	CU_ASSERT_EQUAL(memcmp(out + ih + 8, buf, quote), 0);
	/* The unused word is zero. */
	CU_ASSERT_EQUAL(
	    out[ih + 4] | out[ih + 5] | out[ih + 6] | out[ih + 7], 0);
	if (v4) {
		CU_ASSERT_TRUE(ip4_ok(out));
		/* ICMPv4: no pseudo-header. */
		CU_ASSERT_EQUAL(ocsum(words(out + 20, (size_t)n - 20)), 0xffff);
	} else {
		CU_ASSERT_TRUE(l4_ok(AF_INET6, out, 40, (size_t)n - 40, 58));
	}
	/* An ICMP error is never answered. */
	CU_ASSERT_EQUAL(
	    pkt_build_unreach(out, &ri, PKT_UNREACH_HOST, buf, PKT_ANSWER_MAX),
	    -EINVAL);
}

static void
test_unreach(void)
{
	struct tcp_spec s;

	check_unreach(&syn4, PKT_UNREACH_HOST, 1);
	check_unreach(&syn4, PKT_UNREACH_NET, 0);
	check_unreach(&syn4, PKT_UNREACH_PORT, 3);
	check_unreach(&syn4, PKT_UNREACH_ADMIN, 13);
	check_unreach(&syn6, PKT_UNREACH_HOST, 3);
	check_unreach(&syn6, PKT_UNREACH_NET, 0);
	check_unreach(&syn6, PKT_UNREACH_PORT, 4);
	check_unreach(&syn6, PKT_UNREACH_ADMIN, 1);
	/* Big packets are quoted up to the limit; odd lengths too. */
	s = syn4;
	s.payload = 3001;
	s.flags = PKT_TCP_ACK;
	check_unreach(&s, PKT_UNREACH_HOST, 1);
	s = syn6;
	s.payload = 60001;
	s.flags = PKT_TCP_ACK;
	check_unreach(&s, PKT_UNREACH_HOST, 3);
	s.payload = 1001;
	check_unreach(&s, PKT_UNREACH_HOST, 3);
}

static void
test_unreach_refusals(void)
{
	uint8_t buf[256], out[PKT_ANSWER_MAX];
	struct tcp_spec s = syn4;
	struct pkt_info pi;
	size_t len;

	/* Sources or destinations an error must not go to or be about. */
	static const char *bad4[] = {
	    "0.0.0.0", "224.0.0.1", "255.255.255.255", "127.0.0.1"};
	for (size_t i = 0; i < 4; i++) {
		s = syn4;
		s.src = bad4[i];
		len = build_tcp(buf, &s);
		CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
		CU_ASSERT_EQUAL(pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST,
		                    out, sizeof(out)),
		    -EINVAL);
		s = syn4;
		s.dst = bad4[i];
		len = build_tcp(buf, &s);
		CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
		CU_ASSERT_EQUAL(pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST,
		                    out, sizeof(out)),
		    -EINVAL);
	}
	s = syn6;
	s.dst = "ff02::1";
	len = build_tcp(buf, &s);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(
	    pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST, out, sizeof(out)),
	    -EINVAL);
	/* Too small a buffer for the header and 8 bytes. */
	len = build_tcp(buf, &syn4);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(
	    pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST, out, 20 + 8 + 27),
	    -ENOBUFS);
	CU_ASSERT_EQUAL(
	    pkt_build_unreach(buf, &pi, PKT_UNREACH_HOST, out, 20 + 8 + 28),
	    20 + 8 + 28);
	CU_ASSERT_EQUAL(
	    pkt_build_unreach(buf, &pi, (enum pkt_unreach)9, out, sizeof(out)),
	    -EINVAL);
}

static void
test_icmp_echo_answerable(void)
{
	uint8_t buf[64], out[PKT_ANSWER_MAX];
	struct pkt_info pi;
	int n;

	/* An echo request (type 8) is not an error: it can be answered. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x45;
	put16(buf + 2, 36);
	buf[8] = 64;
	buf[9] = 1;
	inet_pton(AF_INET, "198.18.0.1", buf + 12);
	inet_pton(AF_INET, "10.96.0.20", buf + 16);
	put16(buf + 10, (uint16_t)~ocsum(words(buf, 20)));
	buf[20] = 8;
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, 36, &pi), 0);
	CU_ASSERT_EQUAL(pi.icmp_type, 8);
	CU_ASSERT_FALSE(pi.is_icmp_error);
	n = pkt_build_unreach(buf, &pi, PKT_UNREACH_ADMIN, out, sizeof(out));
	CU_ASSERT_EQUAL(n, 20 + 8 + 36);
	/* A time exceeded is. */
	buf[20] = 11;
	CU_ASSERT_EQUAL_FATAL(pkt_parse(buf, 36, &pi), 0);
	CU_ASSERT_TRUE(pi.is_icmp_error);
}

/* ---- mutations ---- */

static void
mutate_one(const uint8_t *orig, size_t len)
{
	static uint8_t b[PKT_MAX_LEN + 64], out[PKT_ANSWER_MAX];
	struct pkt_info pi;
	struct pkt_vnet h;
	struct pkt_tuple to;
	size_t n;

	for (int round = 0; round < 400; round++) {
		memcpy(b, orig, len);
		n = len;
		if (round % 4 == 0) {
			n = rng() % (len + 1);
		} else {
			int flips = 1 + (int)(rng() % 4);

			for (int k = 0; k < flips; k++) {
				size_t at = rng() % (len < 80 ? len : 80);

				b[at] ^= (uint8_t)(1u << (rng() % 8));
			}
		}
		if (pkt_parse(b, n, &pi) < 0)
			continue;
		CU_ASSERT_FATAL(pi.len <= n);
		CU_ASSERT_FATAL(pi.l4_off + pi.l4_len == pi.len);
		CU_ASSERT_FATAL(pi.csum_off == 0 || pi.csum_off + 2 <= pi.len);
		if (pi.proto == 6 && pi.frag != PKT_FRAG_LATER)
			CU_ASSERT_FATAL(pi.tcp_hdr_len <= pi.l4_len);
		memset(&h, 0, sizeof(h));
		h.flags = (uint8_t)(rng() & 1);
		h.csum_start = (uint16_t)pi.l4_off;
		h.csum_offset = 16;
		(void)pkt_vnet_check(&h, &pi, NULL);
		to = pi.t;
		to.sport ^= 0x5a5a;
		to.src[1] ^= 0x33;
		(void)pkt_rewrite(b, &pi, &to, rng() & 1);
		(void)pkt_build_rst(b, &pi, out, sizeof(out));
		(void)pkt_build_unreach(
		    b, &pi, PKT_UNREACH_HOST, out, sizeof(out));
	}
}

static void
test_mutations(void)
{
	static uint8_t buf[PKT_MAX_LEN];
	struct tcp_spec specs[6];
	size_t len;

	specs[0] = syn4;
	specs[1] = syn6;
	specs[2] = syn4;
	specs[2].ip_opt_len = 12;
	specs[2].payload = 100;
	specs[3] = syn6;
	specs[3].payload = 1000;
	specs[4] = syn4;
	specs[4].frag = 0x2000;
	specs[5] = syn4;
	specs[5].partial = true;
	specs[5].payload = 3;
	for (size_t i = 0; i < 6; i++) {
		len = build_tcp(buf, &specs[i]);
		mutate_one(buf, len);
	}
}

static const struct cunit_test tests[] = {
    {"parse IPv4 SYN", test_parse_syn4},
    {"parse data, FIN, RST flags", test_parse_flags},
    {"parse IPv6 and extension headers", test_parse_ipv6},
    {"parse IPv6 fragments", test_parse_ipv6_fragments},
    {"IPv6 extension chain limit", test_parse_ipv6_chain_limit},
    {"malformed packets refused", test_parse_malformed},
    {"IPv4 options", test_parse_ip_options},
    {"IPv4 fragments", test_parse_ipv4_fragments},
    {"rewrite, random packets, full and partial", test_rewrite_random},
    {"rewrite, edge values", test_rewrite_edge_values},
    {"rewrite refusals", test_rewrite_refusals},
    {"virtio_net_hdr checks", test_vnet},
    {"RST answering a SYN", test_rst_for_syn},
    {"RST answering ACK, FIN; none for RST", test_rst_for_ack},
    {"ICMP and ICMPv6 unreachable", test_unreach},
    {"ICMP unreachable refusals", test_unreach_refusals},
    {"ICMP echo is answerable", test_icmp_echo_answerable},
    {"mutations", test_mutations},
};

CUNIT_MAIN("pkt", tests)
