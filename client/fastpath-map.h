/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fastpath-map: the layout of the maps shared by client/fastpath.bpf.c (the
 * kernel side, compiled with clang -target bpf) and client/fastpath-linux.c
 * (telepodd's side). Only <linux/types.h> types: both compilers read it.
 */
#ifndef TELEPOD_CLIENT_FASTPATH_MAP_H
#define TELEPOD_CLIENT_FASTPATH_MAP_H

#include <linux/types.h>

/* An IPv4 TCP 4-tuple as it appears in a packet, in network byte order.
 * (IPv6 flows stay with telepodd: its IPv6 subnets are not routed yet.) */
struct fastpath_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 dir;    /* in values: FASTPATH_TO_LST or FASTPATH_TO_APP */
	__u8 pad[3]; /* zero */
};

/* Directions, the index of their counters. */
#define FASTPATH_TO_LST 0 /* application -> telepodd's listener */
#define FASTPATH_TO_APP 1 /* listener -> application */

/* Per-CPU counters (the one entry of the stats array). */
struct fastpath_counters {
	__u64 pkts[2];
	__u64 bytes[2];
};

#endif
