/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fastpath: the kernel fast path of the TUN device (docs/vpn-tcp.md, "The
 * kernel fast path"). A BPF classifier (client/fastpath.bpf.c) on the
 * device's egress rewrites the segments of established flows the way
 * client/tunstack would and hands them straight back to the device's
 * ingress, so their bytes cross no system call of telepodd's; tunstack
 * tells it which flows (fastpath_add when a flow is accepted,
 * fastpath_del before its NAT entry goes).
 *
 * Linux only, and optional: where the kernel or the privileges refuse it
 * (no CAP_BPF/CAP_SYS_ADMIN, no cls_bpf), fastpath_open fails with a
 * sentence and tunstack carries every packet itself, as it always could.
 * The classifier and its clsact qdisc go with the device, so nothing of it
 * outlives telepodd, even after kill -9.
 */
#ifndef TELEPOD_CLIENT_FASTPATH_H
#define TELEPOD_CLIENT_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/pkt.h"

struct fastpath;

/* Directions of fastpath_add and the counters. */
enum fastpath_dir {
	FASTPATH_DIR_TO_LST = 0, /* application -> listener */
	FASTPATH_DIR_TO_APP = 1, /* listener -> application */
};

struct fastpath_stats {
	uint64_t pkts[2]; /* by enum fastpath_dir */
	uint64_t bytes[2];
};

/* Loads the classifier with room for max_flows translations (two per
 * flow) for the device ifindex, and checks that it attaches (it is then
 * detached until fastpath_attach). On failure returns a negative errno and
 * writes a sentence to err. */
int fastpath_open(int ifindex, unsigned max_flows, struct fastpath **ret,
    char *err, size_t errlen);

/* Detaches the classifier (and the qdisc fastpath_open made) and frees
 * everything. Accepts NULL. */
void fastpath_free(struct fastpath *fp);

/* Puts the classifier on the device's egress (0, or a negative errno), or
 * takes it off: while no flow is in the map it would only cost every
 * packet a lookup. Both are idempotent. */
int fastpath_attach(struct fastpath *fp);
void fastpath_detach(struct fastpath *fp);
bool fastpath_attached(const struct fastpath *fp);

/* Segments from 'from' (as they leave the kernel into the device) are
 * rewritten to 'to' and delivered back. IPv4 only (-EAFNOSUPPORT for
 * IPv6, whose subnets telepodd does not route yet); 0 or a negative errno
 * (-E2BIG: the map is full; the flow then stays on the slow path). */
int fastpath_add(struct fastpath *fp, const struct pkt_tuple *from,
    const struct pkt_tuple *to, enum fastpath_dir dir);

/* Forgets the translation of 'from'; 0, or -ENOENT. */
int fastpath_del(struct fastpath *fp, const struct pkt_tuple *from);

/* Translations in the map now, counted by walking it (one system call
 * per entry: for tests and diagnostics, not for a hot path). */
int fastpath_count(const struct fastpath *fp, size_t *ret);

/* The classifier's counters, summed over the CPUs. */
int fastpath_get_stats(const struct fastpath *fp, struct fastpath_stats *ret);

#endif
