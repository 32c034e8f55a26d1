/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pkt: libFuzzer target for client/pkt. The input is what one TUN
 * read returns: a 10-byte virtio_net_hdr, then an IP packet. Beyond memory
 * safety (the packet is copied into a buffer of its exact size), it checks
 * the properties telepodd relies on: the parse stays inside the buffer; a
 * rewrite keeps a right checksum right (the full TCP checksum, or the
 * pseudo-header sum when the header says NEEDS_CSUM) and the IPv4 header
 * checksum; the RST and ICMP answers parse back with right checksums and
 * never answer a RST or an ICMP error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An independent ones'-complement sum (modulo 65535). */
static uint64_t
words(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (i % 2 == 0) ? (uint64_t)p[i] << 8 : p[i];
	return s;
}

static uint16_t
ocsum(uint64_t s)
{
	uint64_t m = s % 65535;

	return (uint16_t)(m == 0 && s != 0 ? 0xffff : m);
}

static uint64_t
pseudo(const struct pkt_info *pi, uint8_t proto, uint32_t l4_len)
{
	size_t alen = pi->t.family == AF_INET ? 4 : 16;

	return words(pi->t.src, alen) + words(pi->t.dst, alen) + proto +
	       (l4_len >> 16) + (l4_len & 0xffff);
}

static bool
ip4_ok(const uint8_t *p)
{
	return ocsum(words(p, (size_t)(p[0] & 15) * 4)) == 0xffff;
}

static bool
l4_ok(const uint8_t *p, const struct pkt_info *pi, uint8_t proto)
{
	return ocsum(pseudo(pi, proto, pi->l4_len) +
	             words(p + pi->l4_off, pi->l4_len)) == 0xffff;
}

static bool
partial_ok(const uint8_t *p, const struct pkt_info *pi)
{
	uint16_t got = (uint16_t)(p[pi->csum_off] << 8 | p[pi->csum_off + 1]);

	if (got == 0)
		got = 0xffff;
	return got == ocsum(pseudo(pi, 6, pi->l4_len));
}

static void
check_answer(const uint8_t *out, int n, uint8_t want_proto)
{
	struct pkt_info ai;

	if (n <= 0)
		return;
	if (n > PKT_ANSWER_MAX || pkt_parse(out, (size_t)n, &ai) != 0)
		abort();
	if (ai.proto != want_proto || (size_t)n != ai.len)
		abort();
	if (ai.t.family == AF_INET && !ip4_ok(out))
		abort();
	if (ai.t.family == AF_INET && want_proto == 1) {
		if (ocsum(words(out + ai.l4_off, ai.l4_len)) != 0xffff)
			abort();
	} else if (!l4_ok(out, &ai, want_proto)) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[PKT_ANSWER_MAX];
	struct pkt_info pi, back;
	struct pkt_vnet h;
	struct pkt_tuple to;
	uint8_t *p;
	size_t len;
	bool partial = false, was_ok, v4_ok;
	int n;

	if (size < PKT_VNET_HDR_LEN || size > PKT_VNET_HDR_LEN + PKT_MAX_LEN)
		return 0;
	pkt_vnet_decode(data, &h);
	len = size - PKT_VNET_HDR_LEN;
	p = malloc(len ? len : 1);
	if (!p)
		return 0;
	memcpy(p, data + PKT_VNET_HDR_LEN, len);
	if (pkt_parse(p, len, &pi) != 0)
		goto out;
	if (pi.len > len || pi.l4_off + pi.l4_len != pi.len ||
	    (pi.csum_off && pi.csum_off + 2 > pi.len))
		abort();
	if (pi.proto == 6 && pi.frag != PKT_FRAG_LATER &&
	    (pi.tcp_hdr_len < 20 || pi.tcp_hdr_len > pi.l4_len))
		abort();
	if (pi.is_icmp_error) {
		n = pkt_build_unreach(
		    p, &pi, PKT_UNREACH_HOST, out, sizeof(out));
		if (n != -EINVAL)
			abort();
	}
	n = pkt_build_rst(p, &pi, out, sizeof(out));
	if (n > 0 && (pi.tcp_flags & PKT_TCP_RST))
		abort();
	check_answer(out, n, 6);
	n = pkt_build_unreach(
	    p, &pi, (enum pkt_unreach)(data[0] & 3), out, sizeof(out));
	check_answer(out, n, pi.t.family == AF_INET ? 1 : 58);

	if (pkt_vnet_check(&h, &pi, &partial) != 0)
		partial = h.flags & PKT_VNET_F_NEEDS_CSUM;
	if (pi.proto != 6 || pi.frag == PKT_FRAG_LATER)
		goto out;
	was_ok = partial ? partial_ok(p, &pi) : l4_ok(p, &pi, 6);
	v4_ok = pi.t.family == AF_INET && ip4_ok(p);
	/* A new tuple from the input's own bytes. */
	to = pi.t;
	for (size_t i = 0; i < 16; i++)
		to.src[i] ^= data[(i + 1) % PKT_VNET_HDR_LEN];
	if (to.family == AF_INET)
		memset(to.src + 4, 0, 12);
	to.sport = (uint16_t)(data[2] << 8 | data[3]);
	to.dport ^= (uint16_t)(data[4] << 8 | data[5]);
	if (pkt_rewrite(p, &pi, &to, partial) != 0)
		abort();
	if (memcmp(&pi.t, &to, sizeof(to)) != 0)
		abort();
	if (pkt_parse(p, len, &back) != 0 ||
	    memcmp(&back.t, &to, sizeof(to)) != 0)
		abort();
	if (was_ok && !(partial ? partial_ok(p, &pi) : l4_ok(p, &pi, 6)))
		abort();
	if (v4_ok && !ip4_ok(p))
		abort();
out:
	free(p);
	return 0;
}
