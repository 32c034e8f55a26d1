/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fastpath.bpf.c: the kernel half of telepodd's TUN fast path
 * (docs/vpn-tcp.md, "The kernel fast path"). A tc classifier on the TUN
 * device's egress, so it sees each packet the kernel is about to hand to
 * telepodd through the device. An IPv4 TCP segment of an established flow
 * - no SYN, FIN or RST - whose 4-tuple is in fastpath_flows gets the rewrite
 * telepodd would make (client/tunstack.c: application -> listener, or
 * listener -> application), its checksums adjusted, and goes straight back
 * into the device's ingress, as if telepodd had read it and written it
 * back. Everything else - unknown flows, handshakes, FINs, RSTs, IPv6,
 * other protocols - passes (TC_ACT_OK) to telepodd as before, which keeps
 * the flows' state.
 *
 * telepodd fills the map once an accepted flow has carried a few segments
 * and empties it before the flow's NAT entry goes (client/tunstack.c). The
 * program touches no other state. Compiled with clang -target bpf; built into
 * telepodd as bytes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "client/fastpath-map.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fastpath_tuple);
	__type(value, struct fastpath_tuple);
	__uint(max_entries, 1024); /* set by telepodd before loading */
} fastpath_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fastpath_counters);
	__uint(max_entries, 1);
} fastpath_stats SEC(".maps");

/* Rewrites the packet's addresses and ports from k's to v's, with the
 * IPv4 header's and the TCP checksum. */
static __always_inline int
fastpath_rewrite(struct __sk_buff *skb, const struct fastpath_tuple *k,
    const struct fastpath_tuple *v)
{
	const __u32 l4_off = sizeof(struct iphdr);
	const __u32 csum_off = l4_off + offsetof(struct tcphdr, check);
	__u32 old_ports, new_ports;
	__s64 diff;

	/* saddr and daddr are adjacent in the tuple as in the header. */
	diff = bpf_csum_diff((__be32 *)&k->saddr, 8, (__be32 *)&v->saddr, 8, 0);
	if (diff < 0)
		return -1;
	/* The addresses are in TCP's pseudo-header and in IPv4's header. */
	if (bpf_l4_csum_replace(
	        skb, csum_off, 0, (__u64)diff, BPF_F_PSEUDO_HDR) < 0 ||
	    bpf_l3_csum_replace(
	        skb, offsetof(struct iphdr, check), 0, (__u64)diff, 0) < 0)
		return -1;
	old_ports = ((__u32)k->dport << 16) | k->sport;
	new_ports = ((__u32)v->dport << 16) | v->sport;
	if (bpf_l4_csum_replace(skb, csum_off, old_ports, new_ports, 4) < 0)
		return -1;
	if (bpf_skb_store_bytes(
	        skb, offsetof(struct iphdr, saddr), &v->saddr, 8, 0) < 0 ||
	    bpf_skb_store_bytes(skb, l4_off, &new_ports, 4, 0) < 0)
		return -1;
	return 0;
}

SEC("tc")
int
fastpath_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	struct fastpath_tuple k;
	struct fastpath_tuple *v;
	struct fastpath_counters *c;
	struct tcphdr *th;
	__u32 zero = 0, len = skb->len;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	/* No options, not a fragment: what the kernel's own TCP sends. */
	if ((void *)(ip + 1) > end || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x3fff)))
		return TC_ACT_OK;
	th = (void *)(ip + 1);
	if ((void *)(th + 1) > end)
		return TC_ACT_OK;
	/* Handshakes and endings are telepodd's: it tracks them. */
	if (th->syn || th->fin || th->rst)
		return TC_ACT_OK;
	__builtin_memset(&k, 0, sizeof(k));
	k.saddr = ip->saddr;
	k.daddr = ip->daddr;
	k.sport = th->source;
	k.dport = th->dest;
	v = bpf_map_lookup_elem(&fastpath_flows, &k);
	if (!v)
		return TC_ACT_OK;
	if (fastpath_rewrite(skb, &k, v) < 0)
		return TC_ACT_SHOT; /* half rewritten: never deliver it */
	c = bpf_map_lookup_elem(&fastpath_stats, &zero);
	if (c) {
		/* & 1: dir is 0 or 1, and the verifier wants to see it. */
		c->pkts[v->dir & 1]++;
		c->bytes[v->dir & 1] += len;
	}
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Apache-2.0";
