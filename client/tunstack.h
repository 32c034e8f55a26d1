/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tunstack: the TCP path of telepodd's TUN device (docs/vpn-tcp.md). The
 * kernel terminates every TCP connection an application makes into the
 * device: tunstack reads each packet, rewrites its addresses through the
 * NAT table (client/nat) so that the flow reaches a local listener on the
 * device's own address, and writes it back; the listener's accepted socket
 * is then relayed over a tunnel stream (common/mux) to the destination.
 *
 * The first SYN of a flow is held while the stream's OPEN is in flight:
 * on OPEN_RESULT OK it is released to the listener; REFUSED is answered
 * with a TCP RST (connect() fails with ECONNREFUSED), PROHIBITED with ICMP
 * administratively prohibited, anything else (UNREACHABLE, TIMEOUT,
 * NAME_NOT_FOUND, the tunnel going down) with ICMP host unreachable
 * (EHOSTUNREACH at once, instead of SYN retries for two minutes). No
 * session at all: ICMP network unreachable. Retransmitted SYNs of a held
 * flow are dropped.
 *
 * Other packets: UDP gets ICMP port unreachable (DNS reaches the daemon's
 * stub on its own address, not through here), ICMP echo requests get ICMP
 * administratively prohibited (so ping says "packet filtered" at once
 * instead of losing every packet silently), TCP segments of no known flow
 * get a RST, everything else (other protocols, fragments, malformed
 * packets) is dropped with a rate-limited warning.
 *
 * Speed: every read is a whole packet of up to 64 KiB (TSO with the
 * virtio_net_hdr passed through unchanged, since header lengths never
 * change); the work per packet is a parse, two hash lookups' worth of
 * table work and two incremental checksum updates; up to `batch` packets
 * are handled per wakeup. Accepted sockets get TCP_NODELAY.
 */
#ifndef TELEPOD_CLIENT_TUNSTACK_H
#define TELEPOD_CLIENT_TUNSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/cidr.h"
#include "client/nat.h"
#include "common/mux.h"
#include "proto/frame.h"

struct event_base;
struct tunstack;

/* Defaults (0 in struct tunstack_config means these). */
#define TUNSTACK_DEFAULT_BATCH       64   /* packets per wakeup */
#define TUNSTACK_DEFAULT_MAX_OPENING 4096 /* SYNs held at once */
#define TUNSTACK_BACKLOG             4096 /* listen() backlog */
/* Longest error sentence tunstack_new writes. */
#define TUNSTACK_ERROR_MAX 256

/* Returns the session to open dst on (borrowed for the call), or NULL when
 * none is connected. The same contract as socksd_route_fn. */
typedef struct mux_session *(*tunstack_route_fn)(
    const struct frame_addr *dst, void *arg);

struct tunstack_config {
	/* The TUN queue's fd: non-blocking, borrowed (outlives the stack). */
	int fd;
	/* Bytes of virtio_net_hdr before each packet: 0 or 10 (see
	 * tun_vnet_hdr_len()). */
	size_t vnet_hdr_len;
	/* The device's IPv4 address (with its prefix): the listener binds
	 * there, and packets to other addresses inside the prefix are not
	 * tunnelled. */
	struct cidr addr4;
	/* The IPv6 address, when has_addr6. */
	bool has_addr6;
	struct cidr addr6;
	/* Listener port on both addresses; 0 picks a free one. */
	uint16_t port;
	/* NAT pools, bound and timeouts (nat_config_init for defaults;
	 * pool6 is needed for IPv6 flows). */
	struct nat_config nat;
	unsigned batch;
	unsigned max_opening;
	/* The device's ifindex, for the kernel fast path (client/fastpath);
	 * 0 = none (every packet goes through the stack). */
	int ifindex;
	/* Use the kernel fast path when ifindex is set (the default; off
	 * with telepodd --no-fast-path). Where the kernel refuses it, a
	 * warning says so and the stack carries every packet. */
	bool fast_path;
};

/* Fills cfg with defaults: no fd (-1), vnet_hdr_len 10, TUN_DEFAULT_ADDR4
 * (198.18.0.1/16), no IPv6, port 0, nat_config_init. */
void tunstack_config_init(struct tunstack_config *cfg);

struct tunstack_stats {
	uint64_t pkts_in;     /* packets read */
	uint64_t pkts_out;    /* packets written (rewritten and answers) */
	uint64_t bytes_in;    /* IP bytes read */
	uint64_t to_lst_pkts; /* rewritten app -> listener */
	uint64_t to_lst_bytes;
	uint64_t to_app_pkts; /* rewritten listener -> app */
	uint64_t to_app_bytes;
	uint64_t gso_pkts;     /* rewritten packets with GSO (TSO) */
	uint64_t flows;        /* flows whose SYN was held */
	uint64_t opened;       /* ... whose stream opened */
	uint64_t accepted;     /* ... whose socket was accepted */
	uint64_t refused;      /* RSTs for refused opens */
	uint64_t unreachable;  /* ICMP answers for failed opens */
	uint64_t syn_dropped;  /* retransmitted SYNs of held flows */
	uint64_t rst_sent;     /* RSTs for segments of no flow */
	uint64_t icmp_sent;    /* ICMP answers to UDP and echo */
	uint64_t dropped;      /* malformed, fragments, other protocols */
	uint64_t write_errors; /* failed writes to the device */
	size_t nat_entries;    /* flows in the table now */

	/* The kernel fast path (client/fastpath). */
	bool fast_path;            /* loaded (available) */
	bool fast_attached;        /* on the device now (while flows use it) */
	uint64_t fast_flows;       /* flows handed to it */
	uint64_t fast_failed;      /* ... that it could not take (map full) */
	uint64_t fast_to_lst_pkts; /* segments it rewrote app -> listener */
	uint64_t fast_to_lst_bytes;
	uint64_t fast_to_app_pkts; /* ... listener -> app */
	uint64_t fast_to_app_bytes;
};

/*
 * Starts the stack on base: listens on the device's address(es) and reads
 * cfg->fd. cfg is copied; route and arg are borrowed and must outlive the
 * stack. The device must already have its addresses. Returns 0 and *ret,
 * or a negative errno with a sentence in err (-EINVAL for a bad config,
 * e.g. a NAT pool holding the device's address or outside its prefix; the
 * bind/listen errno).
 */
int tunstack_new(struct event_base *base, const struct tunstack_config *cfg,
    tunstack_route_fn route, void *arg, struct tunstack **ret, char *err,
    size_t errlen);

/* Stops reading, closes the listeners, resets every stream of the stack
 * (without the device no flow can go on; their sockets are closed
 * abortively) and frees everything. Accepts NULL. */
void tunstack_free(struct tunstack *ts);

/* The listener's port (the same on both families). */
uint16_t tunstack_port(const struct tunstack *ts);

void tunstack_get_stats(const struct tunstack *ts, struct tunstack_stats *ret);

/* Whether the kernel fast path is loaded (it may still be off the device
 * while no flow uses it). */
bool tunstack_fast_path(const struct tunstack *ts);

/* The translations in the kernel fast path's map now (two per fast flow;
 * 0 without the fast path). Walks the map: for tests and diagnostics. */
int tunstack_fast_entries(const struct tunstack *ts, size_t *ret);

#endif
