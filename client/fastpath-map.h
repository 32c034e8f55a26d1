/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fastpath-map: the layout of the maps shared by client/fastpath.bpf.c (the
 * kernel side, compiled with clang -target bpf) and client/fastpath-linux.c
 * (telepodd's side). Only <linux/types.h> types: both compilers read it.
 */
#ifndef TELEPOD_CLIENT_FASTPATH_MAP_H
#define TELEPOD_CLIENT_FASTPATH_MAP_H

#include <linux/types.h>

/* A TCP 4-tuple as it appears in a packet: addresses and ports in network
 * byte order; IPv4 addresses in the first 4 bytes, the rest zero. */
struct fastpath_tuple {
	__u8 src[16];
	__u8 dst[16];
	__be16 sport;
	__be16 dport;
	__u8 family; /* FASTPATH_V4 or FASTPATH_V6 */
	__u8 dir;    /* in values: FASTPATH_TO_LST or FASTPATH_TO_APP */
	__u8 pad[2]; /* zero */
};

#define FASTPATH_V4 4
#define FASTPATH_V6 6

/* Directions, the index of their counters. */
#define FASTPATH_TO_LST 0 /* application -> telepodd's listener */
#define FASTPATH_TO_APP 1 /* listener -> application */

/* Per-CPU counters (the one entry of the stats array). */
struct fastpath_counters {
	__u64 pkts[2];
	__u64 bytes[2];
};

#endif
