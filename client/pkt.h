/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkt: the packets of telepodd's TUN device (docs/vpn-tcp.md), pure code
 * with no I/O, no allocation and no logging. It parses and validates
 * IPv4/IPv6 headers (IPv4 options, the common IPv6 extension headers,
 * fragments) and the TCP, UDP and ICMP headers behind them; rewrites the
 * addresses and ports of a TCP segment with incremental checksum updates
 * (RFC 1624); reads and checks the virtio_net_hdr that precedes every
 * packet with IFF_VNET_HDR; and builds the answers telepodd writes into the
 * TUN device: a TCP RST (RFC 793 "reset generation") and an ICMP or ICMPv6
 * destination unreachable quoting the offending packet (RFC 792, RFC 1812
 * 4.3.2.3, RFC 4443 3.1).
 *
 * Checksums: a packet either carries full checksums, or (virtio_net_hdr
 * flag NEEDS_CSUM, "CHECKSUM_PARTIAL") its TCP checksum field holds the
 * non-complemented ones'-complement sum of the pseudo-header only and the
 * receiver of the packet finishes the sum over the segment. Rewriting a
 * partial packet therefore changes the field only for the addresses (they
 * are in the pseudo-header) and by a plain ones'-complement add; ports are
 * covered later by the receiver's sum (as Linux
 * inet_proto_csum_replace4/2). The IPv4 header checksum is always full.
 *
 * All offsets and lengths are checked against the buffer before any byte
 * is read; the largest packet is PKT_MAX_LEN bytes.
 */
#ifndef TELEPOD_CLIENT_PKT_H
#define TELEPOD_CLIENT_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest IP packet handled: an IPv4 total length or IPv6 header plus
 * payload length (jumbograms are refused). */
#define PKT_MAX_LEN (40u + 65535u)
/* Size of struct virtio_net_hdr without num_buffers (see client/tun.h). */
#define PKT_VNET_HDR_LEN 10
/* Longest answer pkt_build_* write: an IPv6 ICMP error fills at most the
 * IPv6 minimum MTU (RFC 4443 2.4 (c)); a v4 one at most 576 bytes. */
#define PKT_ANSWER_MAX 1280

/* TCP header flags (pkt_info.tcp_flags). */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

/* virtio_net_hdr values (linux/virtio_net.h). */
#define PKT_VNET_F_NEEDS_CSUM 0x01
#define PKT_VNET_F_DATA_VALID 0x02
#define PKT_VNET_GSO_NONE     0
#define PKT_VNET_GSO_TCPV4    1
#define PKT_VNET_GSO_UDP      3
#define PKT_VNET_GSO_TCPV6    4
#define PKT_VNET_GSO_UDP_L4   5
#define PKT_VNET_GSO_ECN      0x80

enum pkt_frag {
	PKT_FRAG_NONE = 0, /* a whole datagram */
	PKT_FRAG_FIRST,    /* the first fragment: L4 header present */
	PKT_FRAG_LATER,    /* a later fragment: no L4 header, ports unknown */
};

/* The addresses and ports of a packet. Addresses in network byte order
 * (IPv4 in the first 4 bytes, the rest zero), ports in host order (0 when
 * the protocol has none). */
struct pkt_tuple {
	int family; /* AF_INET or AF_INET6 */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
};

/* What pkt_parse found. Offsets count from the start of the IP header. */
struct pkt_info {
	struct pkt_tuple t;
	uint8_t proto;      /* L4 protocol after any IPv6 extension headers */
	uint8_t ttl;        /* TTL or hop limit */
	enum pkt_frag frag; /* fragment kind */
	bool is_icmp_error; /* ICMP(v6) error message: never answered */
	uint32_t len;       /* IP length (header + payload), <= the buffer */
	uint32_t l4_off;    /* start of the L4 header */
	uint32_t l4_len;    /* len - l4_off */
	uint32_t csum_off;  /* the L4 checksum field (TCP/UDP/ICMP), or 0 */
	/* TCP only (PKT_FRAG_NONE or _FIRST). */
	uint8_t tcp_flags;    /* PKT_TCP_* */
	uint32_t tcp_hdr_len; /* data offset * 4 */
	uint32_t seq;         /* host order */
	uint32_t ack;
	/* ICMP and ICMPv6 only. */
	uint8_t icmp_type;
	uint8_t icmp_code;
};

/* A virtio_net_hdr in host byte order. */
struct pkt_vnet {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* Kinds of destination unreachable pkt_build_unreach writes. */
enum pkt_unreach {
	PKT_UNREACH_NET,   /* v4 code 0; v6 code 0 (no route) */
	PKT_UNREACH_HOST,  /* v4 code 1; v6 code 3 (address unreachable) */
	PKT_UNREACH_PORT,  /* v4 code 3; v6 code 4 */
	PKT_UNREACH_ADMIN, /* v4 code 13; v6 code 1 (administratively
	                      prohibited) */
};

/*
 * Parses and validates the IP packet at p (len bytes, possibly followed by
 * trailing bytes beyond the IP length, which are ignored). Returns 0 and
 * fills *ret; -EINVAL for anything malformed (bad version, header length,
 * total length beyond the buffer, a truncated L4 header, TCP data offset
 * out of range, an IPv6 jumbogram or too long an extension chain),
 * -EOPNOTSUPP for an IPv6 routing header with segments left (the
 * pseudo-header's destination would be another address). Later fragments
 * parse with frag PKT_FRAG_LATER and no L4 fields.
 */
int pkt_parse(const uint8_t *p, size_t len, struct pkt_info *ret);

/* Decodes the little-endian virtio_net_hdr (PKT_VNET_HDR_LEN bytes at b). */
void pkt_vnet_decode(const uint8_t *b, struct pkt_vnet *ret);

/* Encodes h into PKT_VNET_HDR_LEN little-endian bytes at b. */
void pkt_vnet_encode(const struct pkt_vnet *h, uint8_t *b);

/*
 * Checks that the virtio_net_hdr h fits the TCP packet pi: NEEDS_CSUM
 * names exactly pi's TCP checksum field, a GSO type matches the family
 * (TCPV4 with IPv4, TCPV6 with IPv6), comes with NEEDS_CSUM and a non-zero
 * gso_size. *ret_partial (optional) is set when the TCP checksum is
 * partial. Returns 0 or -EINVAL.
 */
int pkt_vnet_check(
    const struct pkt_vnet *h, const struct pkt_info *pi, bool *ret_partial);

/*
 * Rewrites the TCP segment p (parsed into *pi, PKT_FRAG_NONE or _FIRST) to
 * the addresses and ports of to (same family), in place, updating the IPv4
 * header checksum and the TCP checksum incrementally: a full checksum, or
 * with partial set the pseudo-header sum of a NEEDS_CSUM packet. pi->t
 * becomes to. Returns 0, -EINVAL (another family) or -EPROTONOSUPPORT
 * (not TCP, or a later fragment).
 */
int pkt_rewrite(
    uint8_t *p, struct pkt_info *pi, const struct pkt_tuple *to, bool partial);

/*
 * Writes into out (cap >= 60 bytes) the TCP RST that answers the TCP
 * segment pi (p its bytes), from its destination to its source, as RFC 793
 * says: seq = the segment's ACK and flag RST when it has ACK, else seq 0,
 * ACK = seq + length of the segment (SYN and FIN count one) and flags
 * RST|ACK. Full checksums. Returns the length, -EINVAL when pi is a RST
 * (never answered) or a later fragment, -EPROTONOSUPPORT when not TCP,
 * -ENOBUFS when cap is too small.
 */
int pkt_build_rst(
    const uint8_t *p, const struct pkt_info *pi, uint8_t *out, size_t cap);

/*
 * Writes into out (cap bytes) an ICMP (IPv4) or ICMPv6 destination
 * unreachable of the given kind, from pi's destination to its source,
 * quoting the start of the packet p (pi->len bytes): as much as fits in
 * 576 bytes for IPv4 (RFC 1812), in 1280 for IPv6 (RFC 4443), at least the
 * IP header and 8 bytes (RFC 792). Full checksums. Returns the length,
 * -EINVAL when p is itself an ICMP error, a later fragment, or from an
 * address an answer must not go to (unspecified, multicast, broadcast),
 * -ENOBUFS when cap is too small to quote the IP header and 8 bytes.
 */
int pkt_build_unreach(const uint8_t *p, const struct pkt_info *pi,
    enum pkt_unreach kind, uint8_t *out, size_t cap);

#endif
