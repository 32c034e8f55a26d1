/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkt: parsing, validation, rewriting and answering of the IP packets that
 * cross telepodd's TUN device. Everything here is pure and bounded: every
 * offset is checked against the IP length (itself checked against the
 * buffer) before a byte is read, and nothing is allocated. The hot path is
 * pkt_parse + pkt_rewrite, run on every TCP segment in both directions:
 * a handful of header reads and two incremental checksum updates, never a
 * pass over the payload.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "client/pkt.h"

#define PKT_IPPROTO_HOPOPTS  0
#define PKT_IPPROTO_ICMP     1
#define PKT_IPPROTO_TCP      6
#define PKT_IPPROTO_UDP      17
#define PKT_IPPROTO_ROUTING  43
#define PKT_IPPROTO_FRAGMENT 44
#define PKT_IPPROTO_AH       51
#define PKT_IPPROTO_ICMPV6   58
#define PKT_IPPROTO_DSTOPTS  60

/* Most IPv6 extension headers walked before the packet is refused. */
#define PKT_MAX_EXT_HEADERS 8
/* Largest IPv4 ICMP error (RFC 1812 4.3.2.3) and IPv6 (RFC 4443 2.4). */
#define PKT_ICMP4_MAX  576
#define PKT_ICMP6_MAX  1280
#define PKT_ANSWER_TTL 64

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Adds the big-endian 16-bit words of p (n bytes; an odd last byte is
 * padded with zero) to a ones'-complement accumulator. n <= PKT_MAX_LEN
 * keeps the 32-bit accumulator from overflowing before the fold. */
static uint32_t
csum_add(uint32_t acc, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += get16(p + i);
	if (i < n)
		acc += (uint32_t)p[i] << 8;
	return acc;
}

static uint16_t
csum_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The ones'-complement difference of replacing the n bytes at old by new
 * (n even): sum(~old) + sum(new), RFC 1624. */
static uint32_t
csum_delta(uint32_t acc, const uint8_t *old, const uint8_t *new, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint16_t)~get16(old + i) + (uint32_t)get16(new + i);
	return acc;
}

/* A full checksum field updated by delta: HC' = ~(~HC + delta). */
static void
csum_update_full(uint8_t *field, uint32_t delta)
{
	uint32_t acc = (uint16_t)~get16(field);

	put16(field, (uint16_t)~csum_fold(acc + delta));
}

/* A partial (pseudo-header) sum updated by delta: S' = S + delta. */
static void
csum_update_partial(uint8_t *field, uint32_t delta)
{
	put16(field, csum_fold(get16(field) + delta));
}

static size_t
pkt_addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Ones'-complement sum of the pseudo-header (RFC 793 / RFC 8200 8.1). */
static uint32_t
pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
    uint32_t l4_len)
{
	size_t alen = pkt_addr_len(family);
	uint32_t acc = 0;

	acc = csum_add(acc, src, alen);
	acc = csum_add(acc, dst, alen);
	acc += proto;
	acc += l4_len >> 16;
	acc += l4_len & 0xffff;
	return acc;
}

static bool
icmp4_is_error(uint8_t type)
{
	/* Unreachable, source quench, redirect, time exceeded, parameter
	 * problem. */
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* The L4 header at pi->l4_off, for whole packets and first fragments. */
static int
pkt_parse_l4(const uint8_t *p, struct pkt_info *pi)
{
	const uint8_t *l4 = p + pi->l4_off;
	uint32_t hl;

	switch (pi->proto) {
	case PKT_IPPROTO_TCP:
		if (pi->l4_len < 20)
			return -EINVAL;
		hl = (uint32_t)(l4[12] >> 4) * 4;
		if (hl < 20 || hl > pi->l4_len)
			return -EINVAL;
		pi->t.sport = get16(l4);
		pi->t.dport = get16(l4 + 2);
		pi->seq = get32(l4 + 4);
		pi->ack = get32(l4 + 8);
		pi->tcp_flags = l4[13];
		pi->tcp_hdr_len = hl;
		pi->csum_off = pi->l4_off + 16;
		break;
	case PKT_IPPROTO_UDP:
		if (pi->l4_len < 8)
			return -EINVAL;
		pi->t.sport = get16(l4);
		pi->t.dport = get16(l4 + 2);
		pi->csum_off = pi->l4_off + 6;
		break;
	case PKT_IPPROTO_ICMP:
		if (pi->t.family != AF_INET)
			break;
		if (pi->l4_len < 8)
			return -EINVAL;
		pi->icmp_type = l4[0];
		pi->icmp_code = l4[1];
		pi->is_icmp_error = icmp4_is_error(l4[0]);
		pi->csum_off = pi->l4_off + 2;
		break;
	case PKT_IPPROTO_ICMPV6:
		if (pi->t.family != AF_INET6)
			break;
		if (pi->l4_len < 8)
			return -EINVAL;
		pi->icmp_type = l4[0];
		pi->icmp_code = l4[1];
		pi->is_icmp_error = l4[0] < 128;
		pi->csum_off = pi->l4_off + 2;
		break;
	default:
		break;
	}
	return 0;
}

static int
pkt_parse4(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	uint32_t ihl, tot;
	uint16_t frag;

	if (len < 20)
		return -EINVAL;
	ihl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = get16(p + 2);
	if (ihl < 20 || tot < ihl || tot > len)
		return -EINVAL;
	pi->t.family = AF_INET;
	memcpy(pi->t.src, p + 12, 4);
	memcpy(pi->t.dst, p + 16, 4);
	pi->ttl = p[8];
	pi->proto = p[9];
	pi->len = tot;
	pi->l4_off = ihl;
	pi->l4_len = tot - ihl;
	frag = get16(p + 6);
	if (frag & 0x1fff)
		pi->frag = PKT_FRAG_LATER;
	else if (frag & 0x2000)
		pi->frag = PKT_FRAG_FIRST;
	if (pi->frag == PKT_FRAG_LATER)
		return 0;
	return pkt_parse_l4(p, pi);
}

static int
pkt_parse6(const uint8_t *p, size_t len, struct pkt_info *pi)
{
	uint32_t tot, off = 40, hl;
	uint8_t nh;
	uint16_t fo;

	if (len < 40)
		return -EINVAL;
	tot = 40u + get16(p + 4);
	if (tot > len)
		return -EINVAL;
	pi->t.family = AF_INET6;
	memcpy(pi->t.src, p + 8, 16);
	memcpy(pi->t.dst, p + 24, 16);
	pi->ttl = p[7];
	pi->len = tot;
	nh = p[6];
	for (int i = 0;; i++) {
		if (i > PKT_MAX_EXT_HEADERS)
			return -EINVAL;
		switch (nh) {
		case PKT_IPPROTO_HOPOPTS:
		case PKT_IPPROTO_DSTOPTS:
		case PKT_IPPROTO_ROUTING:
			if (off + 8 > tot)
				return -EINVAL;
			hl = ((uint32_t)p[off + 1] + 1) * 8;
			if (off + hl > tot)
				return -EINVAL;
			if (nh == PKT_IPPROTO_ROUTING && p[off + 3] != 0)
				return -EOPNOTSUPP;
			nh = p[off];
			off += hl;
			continue;
		case PKT_IPPROTO_AH:
			if (off + 8 > tot)
				return -EINVAL;
			hl = ((uint32_t)p[off + 1] + 2) * 4;
			if (off + hl > tot)
				return -EINVAL;
			nh = p[off];
			off += hl;
			continue;
		case PKT_IPPROTO_FRAGMENT:
			if (off + 8 > tot)
				return -EINVAL;
			fo = get16(p + off + 2);
			nh = p[off];
			off += 8;
			if (fo & 0xfff8) {
				pi->frag = PKT_FRAG_LATER;
				pi->proto = nh;
				pi->l4_off = off;
				pi->l4_len = tot - off;
				return 0;
			}
			if (fo & 1)
				pi->frag = PKT_FRAG_FIRST;
			continue;
		default:
			break;
		}
		break;
	}
	pi->proto = nh;
	pi->l4_off = off;
	pi->l4_len = tot - off;
	return pkt_parse_l4(p, pi);
}

int
pkt_parse(const uint8_t *p, size_t len, struct pkt_info *ret)
{
	struct pkt_info pi;
	int r;

	if (len == 0)
		return -EINVAL;
	memset(&pi, 0, sizeof(pi));
	switch (p[0] >> 4) {
	case 4:
		r = pkt_parse4(p, len, &pi);
		break;
	case 6:
		r = pkt_parse6(p, len, &pi);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r == 0)
		*ret = pi;
	return r;
}

void
pkt_vnet_decode(const uint8_t *b, struct pkt_vnet *ret)
{
	ret->flags = b[0];
	ret->gso_type = b[1];
	ret->hdr_len = (uint16_t)(b[2] | b[3] << 8);
	ret->gso_size = (uint16_t)(b[4] | b[5] << 8);
	ret->csum_start = (uint16_t)(b[6] | b[7] << 8);
	ret->csum_offset = (uint16_t)(b[8] | b[9] << 8);
}

void
pkt_vnet_encode(const struct pkt_vnet *h, uint8_t *b)
{
	b[0] = h->flags;
	b[1] = h->gso_type;
	b[2] = (uint8_t)h->hdr_len;
	b[3] = (uint8_t)(h->hdr_len >> 8);
	b[4] = (uint8_t)h->gso_size;
	b[5] = (uint8_t)(h->gso_size >> 8);
	b[6] = (uint8_t)h->csum_start;
	b[7] = (uint8_t)(h->csum_start >> 8);
	b[8] = (uint8_t)h->csum_offset;
	b[9] = (uint8_t)(h->csum_offset >> 8);
}

int
pkt_vnet_check(
    const struct pkt_vnet *h, const struct pkt_info *pi, bool *ret_partial)
{
	bool partial = h->flags & PKT_VNET_F_NEEDS_CSUM;

	if (partial) {
		/* The field the receiver will finish must be the one we
		 * update: the L4 checksum of this very header. */
		if (pi->frag != PKT_FRAG_NONE || pi->csum_off == 0 ||
		    h->csum_start != pi->l4_off ||
		    (uint32_t)h->csum_start + h->csum_offset != pi->csum_off)
			return -EINVAL;
	}
	switch (h->gso_type & ~PKT_VNET_GSO_ECN) {
	case PKT_VNET_GSO_NONE:
		break;
	case PKT_VNET_GSO_TCPV4:
	case PKT_VNET_GSO_TCPV6:
		if (pi->proto != PKT_IPPROTO_TCP || !partial ||
		    h->gso_size == 0 ||
		    pi->t.family !=
		        ((h->gso_type & ~PKT_VNET_GSO_ECN) == PKT_VNET_GSO_TCPV4
		                ? AF_INET
		                : AF_INET6))
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (ret_partial)
		*ret_partial = partial;
	return 0;
}

int
pkt_rewrite(
    uint8_t *p, struct pkt_info *pi, const struct pkt_tuple *to, bool partial)
{
	size_t alen = pkt_addr_len(pi->t.family);
	size_t src_off = pi->t.family == AF_INET ? 12 : 8;
	size_t dst_off = src_off + alen;
	uint8_t *l4 = p + pi->l4_off;
	uint8_t ports[4];
	uint32_t dpseudo = 0, dports;

	if (pi->proto != PKT_IPPROTO_TCP || pi->frag == PKT_FRAG_LATER)
		return -EPROTONOSUPPORT;
	if (to->family != pi->t.family)
		return -EINVAL;
	put16(ports, to->sport);
	put16(ports + 2, to->dport);
	dpseudo = csum_delta(dpseudo, p + src_off, to->src, alen);
	dpseudo = csum_delta(dpseudo, p + dst_off, to->dst, alen);
	dports = csum_delta(0, l4, ports, 4);
	if (pi->t.family == AF_INET)
		csum_update_full(p + 10, dpseudo);
	if (partial)
		csum_update_partial(p + pi->csum_off, dpseudo);
	else
		csum_update_full(p + pi->csum_off, dpseudo + dports);
	memcpy(p + src_off, to->src, alen);
	memcpy(p + dst_off, to->dst, alen);
	memcpy(l4, ports, 4);
	pi->t = *to;
	return 0;
}

/* Writes an IP header from src to dst for an answer of l4_len bytes. */
static size_t
pkt_put_ip(uint8_t *out, int family, const uint8_t *src, const uint8_t *dst,
    uint8_t proto, uint32_t l4_len)
{
	if (family == AF_INET) {
		memset(out, 0, 20);
		out[0] = 0x45;
		put16(out + 2, (uint16_t)(20 + l4_len));
		put16(out + 6, 0x4000); /* DF */
		out[8] = PKT_ANSWER_TTL;
		out[9] = proto;
		memcpy(out + 12, src, 4);
		memcpy(out + 16, dst, 4);
		put16(out + 10, (uint16_t)~csum_fold(csum_add(0, out, 20)));
		return 20;
	}
	memset(out, 0, 40);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)l4_len);
	out[6] = proto;
	out[7] = PKT_ANSWER_TTL;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, dst, 16);
	return 40;
}

int
pkt_build_rst(
    const uint8_t *p, const struct pkt_info *pi, uint8_t *out, size_t cap)
{
	size_t ip_len = pi->t.family == AF_INET ? 20 : 40;
	uint8_t *th = out + ip_len;
	uint32_t seglen;
	uint32_t acc;

	if (pi->proto != PKT_IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	if (pi->frag != PKT_FRAG_NONE || (pi->tcp_flags & PKT_TCP_RST))
		return -EINVAL;
	if (cap < ip_len + 20)
		return -ENOBUFS;
	pkt_put_ip(
	    out, pi->t.family, pi->t.dst, pi->t.src, PKT_IPPROTO_TCP, 20);
	memset(th, 0, 20);
	put16(th, pi->t.dport);
	put16(th + 2, pi->t.sport);
	if (pi->tcp_flags & PKT_TCP_ACK) {
		put32(th + 4, pi->ack);
		th[13] = PKT_TCP_RST;
	} else {
		seglen = pi->l4_len - pi->tcp_hdr_len;
		if (pi->tcp_flags & PKT_TCP_SYN)
			seglen++;
		if (pi->tcp_flags & PKT_TCP_FIN)
			seglen++;
		put32(th + 8, pi->seq + seglen);
		th[13] = PKT_TCP_RST | PKT_TCP_ACK;
	}
	th[12] = 5 << 4;
	acc =
	    pseudo_sum(pi->t.family, pi->t.dst, pi->t.src, PKT_IPPROTO_TCP, 20);
	put16(th + 16, (uint16_t)~csum_fold(csum_add(acc, th, 20)));
	return (int)(ip_len + 20);
}

/* True for an address no ICMP error may be sent to or about (RFC 1122
 * 3.2.2, RFC 4443 2.4 (e)): unspecified, multicast, limited broadcast,
 * loopback. */
static bool
pkt_addr_special(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	if (family == AF_INET)
		return a[0] == 0 || a[0] == 127 || a[0] >= 224;
	if (a[0] == 0xff)
		return true;
	if (memcmp(a, zero, 16) == 0)
		return true;
	return memcmp(a, zero, 15) == 0 && a[15] == 1;
}

int
pkt_build_unreach(const uint8_t *p, const struct pkt_info *pi,
    enum pkt_unreach kind, uint8_t *out, size_t cap)
{
	static const uint8_t codes4[] = {0, 1, 3, 13};
	static const uint8_t codes6[] = {0, 3, 4, 1};
	bool v4 = pi->t.family == AF_INET;
	size_t ip_len = v4 ? 20 : 40;
	size_t limit = v4 ? PKT_ICMP4_MAX : PKT_ICMP6_MAX;
	size_t quote, need;
	uint8_t *ih = out + ip_len;
	uint32_t acc;

	if ((unsigned)kind > PKT_UNREACH_ADMIN)
		return -EINVAL;
	if (pi->is_icmp_error || pi->frag == PKT_FRAG_LATER ||
	    pkt_addr_special(pi->t.family, pi->t.src) ||
	    pkt_addr_special(pi->t.family, pi->t.dst))
		return -EINVAL;
	/* At least the IP header and 8 bytes of what follows (RFC 792). */
	need = pi->l4_off + 8;
	if (need > pi->len)
		need = pi->len;
	if (cap < ip_len + 8 + need)
		return -ENOBUFS;
	quote = pi->len;
	if (quote > limit - ip_len - 8)
		quote = limit - ip_len - 8;
	if (quote > cap - ip_len - 8)
		quote = cap - ip_len - 8;
	pkt_put_ip(out, pi->t.family, pi->t.dst, pi->t.src,
	    v4 ? PKT_IPPROTO_ICMP : PKT_IPPROTO_ICMPV6, (uint32_t)(8 + quote));
	memset(ih, 0, 8);
	ih[0] = v4 ? 3 : 1;
	ih[1] = v4 ? codes4[kind] : codes6[kind];
	memcpy(ih + 8, p, quote);
	acc = v4 ? 0
	         : pseudo_sum(AF_INET6, pi->t.dst, pi->t.src,
	               PKT_IPPROTO_ICMPV6, (uint32_t)(8 + quote));
	put16(ih + 2, (uint16_t)~csum_fold(csum_add(acc, ih, 8 + quote)));
	return (int)(ip_len + 8 + quote);
}
