/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nat: the address translation table of telepodd's TUN path
 * (docs/vpn-tcp.md). Each TCP flow an application starts into the TUN
 * device gets an entry mapping its original 4-tuple (app address:port ->
 * cluster destination:port) to a fake source address:port from a pool
 * (198.18.128.0/17 by default); the flow is written back into the device
 * from that fake source to telepodd's local listener, whose accept() then
 * reports the fake address, which this table maps back to the flow.
 *
 * Two hash tables (keyed with a per-table secret, so applications cannot
 * aim collisions) find an entry by its original tuple (packets from the
 * application) and by its fake address and port (packets from the
 * listener, and accepted sockets). The table is bounded (max_entries).
 *
 * Fake sources: the port is the application's own source port (handy when
 * reading packet captures); the address walks the pool round-robin, so a
 * fake 4-tuple comes back only after the whole pool went by - long after
 * the listener's TIME_WAIT for the previous user of it (60 s) has ended.
 * The pool's first and last address are never used (the network and
 * broadcast addresses a kernel would treat as martian).
 *
 * States and timers: every state has a timeout (0 = none) measured from
 * the moment the entry entered it; nat_expire removes entries whose time
 * is up. The clock is the caller's (milliseconds, monotonic), so tests run
 * on a fake clock. Pure: no I/O, no logging.
 */
#ifndef TELEPOD_CLIENT_NAT_H
#define TELEPOD_CLIENT_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "client/cidr.h"
#include "client/pkt.h"

/* Defaults (0 in struct nat_config means these). */
#define NAT_DEFAULT_POOL4        "198.18.128.0/17"
#define NAT_DEFAULT_MAX_ENTRIES  131072
#define NAT_DEFAULT_OPENING_MS   30000 /* OPEN sent, no OPEN_RESULT yet */
#define NAT_DEFAULT_ACCEPTING_MS 10000 /* SYN released, not accepted yet */
#define NAT_DEFAULT_CLOSING_MS   65000 /* stream gone, TCP not finished */
#define NAT_DEFAULT_CLOSED_MS    3000  /* TCP finished: retransmissions */
/* Hard ceiling of max_entries. */
#define NAT_MAX_ENTRIES (1u << 22)
/* Fake addresses tried for one new entry before giving up. */
#define NAT_ALLOC_TRIES 64

enum nat_state {
	/* The first SYN is held; the stream's OPEN is in flight. */
	NAT_OPENING = 0,
	/* The stream is open; the SYN went to the listener, whose accept()
	 * has not reported it yet. */
	NAT_ACCEPTING,
	/* Accepted: the stream relays the listener's socket. */
	NAT_OPEN,
	/* The stream ended; the two kernel TCP ends finish (FINs, RSTs)
	 * through the entry until it expires (FIN_WAIT2 lasts 60 s). */
	NAT_CLOSING,
	/* The stream ended and the TCP connection is over (FIN both ways,
	 * or a RST): kept a little for retransmitted FINs and ACKs. */
	NAT_CLOSED,
	NAT_N_STATES,
};

struct nat_config {
	/* Fake source pools (family 0 = none for that family; pool4 with
	 * family 0 means NAT_DEFAULT_POOL4). At least 4 addresses each. */
	struct cidr pool4;
	struct cidr pool6;
	unsigned max_entries;
	/* Timeout of each state in ms; 0 means the default above, and
	 * none for OPEN. */
	unsigned timeout_ms[NAT_N_STATES];
};

/*
 * One flow. The owner reads the public fields and sets user; the rest is
 * the table's.
 */
struct nat_entry {
	/* public, read-only */
	struct pkt_tuple orig; /* as the application sent it */
	uint8_t fake[16];      /* fake source address (IPv4: first 4) */
	uint16_t fake_port;    /* host order; = orig.sport */
	enum nat_state state;
	long long deadline_ms; /* when it expires; 0 = never */
	/* public, the owner's */
	void *user;
	/* private */
	LIST_ENTRY(nat_entry) by_orig;
	LIST_ENTRY(nat_entry) by_fake;
	TAILQ_ENTRY(nat_entry) timer;
	uint32_t h_orig, h_fake;
};

struct nat;

/* Fills cfg with the defaults: pool4 NAT_DEFAULT_POOL4, no pool6. */
void nat_config_init(struct nat_config *cfg);

/*
 * Creates an empty table. cfg is copied; seed keys the hash functions
 * (pass random bytes; tests pass a constant). Returns 0, -EINVAL (a pool
 * of the wrong family or with fewer than 4 addresses, max_entries beyond
 * NAT_MAX_ENTRIES) or -ENOMEM.
 */
int nat_new(const struct nat_config *cfg, uint64_t seed, struct nat **ret);

/* Frees the table and every entry (no callbacks). Accepts NULL. */
void nat_free(struct nat *t);

/*
 * Adds a flow for orig in state NAT_OPENING, with a fake source from the
 * pool of its family. Returns 0 and *ret (owned by the table until
 * nat_remove or expiry), -EEXIST (orig has an entry), -ENOSPC (max_entries
 * reached), -EADDRNOTAVAIL (NAT_ALLOC_TRIES pool addresses all in use with
 * this port), -EAFNOSUPPORT (no pool for the family) or -ENOMEM.
 */
int nat_add(struct nat *t, const struct pkt_tuple *orig, long long now_ms,
    struct nat_entry **ret);

/* The entry of the original tuple, or NULL. */
struct nat_entry *nat_lookup_orig(struct nat *t, const struct pkt_tuple *orig);

/* The entry whose fake source is addr (16 bytes, IPv4 in the first 4, the
 * rest zero) and port (host order), or NULL. */
struct nat_entry *nat_lookup_fake(
    struct nat *t, int family, const uint8_t *addr, uint16_t port);

/* Moves e to state (also to the same state: the timer restarts) with the
 * state's timeout counted from now_ms. */
void nat_set_state(
    struct nat *t, struct nat_entry *e, enum nat_state state, long long now_ms);

/* Removes and frees e. */
void nat_remove(struct nat *t, struct nat_entry *e);

/* Called for each expired entry before nat_expire frees it. It may use the
 * table (look up, add, remove other entries) but must not remove e. */
typedef void (*nat_expire_fn)(struct nat_entry *e, void *arg);

/* Removes every entry whose deadline is <= now_ms, calling cb (may be
 * NULL) for each first. Returns how many were removed. */
size_t nat_expire(struct nat *t, long long now_ms, nat_expire_fn cb, void *arg);

/* The earliest deadline of any entry, or 0 when none has one. */
long long nat_next_deadline(const struct nat *t);

/* Number of entries, in all states or in one. */
size_t nat_count(const struct nat *t);
size_t nat_count_state(const struct nat *t, enum nat_state state);

/* "opening", "accepting", "open", "closing", "closed". */
const char *nat_state_name(enum nat_state state);

#endif
