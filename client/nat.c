/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nat: the TUN path's flow table. Entries live in two chained hash tables
 * (by original tuple, by fake source) sized to the next power of two at or
 * above max_entries, so chains stay short at any fill, and on one timer
 * queue per state. Because every entry of a state has the same timeout and
 * the caller's clock never goes back, appending on each state change keeps
 * every queue sorted by deadline: expiry pops from the heads and the next
 * deadline is the least of the heads, both without a scan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/nat.h"

LIST_HEAD(nat_bucket, nat_entry);
TAILQ_HEAD(nat_queue, nat_entry);

struct nat_pool {
	bool on;
	int family;
	uint8_t base[16]; /* network address */
	uint32_t n_index; /* usable indices: 1 .. n_index */
	uint32_t cursor;  /* next index - 1, modulo n_index */
};

struct nat {
	struct nat_config cfg;
	uint64_t seed;
	uint32_t mask; /* buckets - 1 */
	struct nat_bucket *by_orig;
	struct nat_bucket *by_fake;
	struct nat_queue timers[NAT_N_STATES];
	size_t n;
	size_t n_state[NAT_N_STATES];
	struct nat_pool pool4;
	struct nat_pool pool6;
};

static const unsigned nat_default_timeouts[NAT_N_STATES] = {
    [NAT_OPENING] = NAT_DEFAULT_OPENING_MS,
    [NAT_ACCEPTING] = NAT_DEFAULT_ACCEPTING_MS,
    [NAT_OPEN] = 0,
    [NAT_CLOSING] = NAT_DEFAULT_CLOSING_MS,
    [NAT_CLOSED] = NAT_DEFAULT_CLOSED_MS,
};

/* A keyed hash over whole 64-bit words (one multiply each, where a
 * byte-wise hash took one per byte: every packet through the TUN device
 * hashes a 32-byte tuple), then the splitmix64 finalizer so that every
 * input bit moves the bucket index. n must be a multiple of 8 (the keys
 * are 16 and 32 bytes); the ports and family come in through extra. */
static uint32_t
nat_hash(uint64_t seed, const uint8_t *p, size_t n, uint32_t extra)
{
	uint64_t h = seed ^ 0xcbf29ce484222325ull;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	h ^= extra;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (uint32_t)h;
}

static uint32_t
nat_hash_orig(const struct nat *t, const struct pkt_tuple *o)
{
	uint8_t key[32];

	memcpy(key, o->src, 16);
	memcpy(key + 16, o->dst, 16);
	return nat_hash(t->seed, key, sizeof(key),
	    (uint32_t)o->sport << 16 ^ o->dport ^ (uint32_t)o->family << 8);
}

static uint32_t
nat_hash_fake(
    const struct nat *t, int family, const uint8_t *addr, uint16_t port)
{
	return nat_hash(t->seed ^ 0x5bd1e995u, addr, 16,
	    (uint32_t)port ^ (uint32_t)family << 16);
}

static bool
nat_orig_equal(const struct pkt_tuple *a, const struct pkt_tuple *b)
{
	return a->family == b->family && a->sport == b->sport &&
	       a->dport == b->dport && memcmp(a->src, b->src, 16) == 0 &&
	       memcmp(a->dst, b->dst, 16) == 0;
}

static int
nat_pool_init(struct nat_pool *p, const struct cidr *c, int family)
{
	unsigned bits = family == AF_INET ? 32 : 128;
	unsigned host;

	memset(p, 0, sizeof(*p));
	if (c->family == 0)
		return 0;
	if (c->family != family || c->prefix > bits)
		return -EINVAL;
	host = bits - c->prefix;
	if (host < 2)
		return -EINVAL; /* fewer than 4 addresses */
	p->on = true;
	p->family = family;
	{
		struct cidr net = cidr_network(c);

		memcpy(p->base, net.addr, 16);
	}
	/* Indices count in the low 32 bits at most; without the network
	 * (0) and the last (all ones) address. */
	p->n_index = host >= 32 ? 0xfffffffeu : (uint32_t)((1ull << host) - 2);
	return 0;
}

/* The pool address of index i (1 .. n_index), into out (16 bytes). */
static void
nat_pool_addr(const struct nat_pool *p, uint32_t i, uint8_t *out)
{
	size_t last = p->family == AF_INET ? 3 : 15;
	uint32_t carry = i;

	memcpy(out, p->base, 16);
	/* base has zero host bits, and i fits in them: add bytewise. */
	for (size_t k = 0; k < 4; k++) {
		uint32_t v = out[last - k] + (carry & 0xff);

		out[last - k] = (uint8_t)v;
		carry = (carry >> 8) + (v >> 8);
	}
}

void
nat_config_init(struct nat_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cidr_parse(NAT_DEFAULT_POOL4, &cfg->pool4, NULL);
}

int
nat_new(const struct nat_config *cfg, uint64_t seed, struct nat **ret)
{
	struct nat *t;
	uint32_t buckets = 16;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->seed = seed;
	if (t->cfg.pool4.family == 0)
		cidr_parse(NAT_DEFAULT_POOL4, &t->cfg.pool4, NULL);
	if (!t->cfg.max_entries)
		t->cfg.max_entries = NAT_DEFAULT_MAX_ENTRIES;
	for (int s = 0; s < NAT_N_STATES; s++) {
		if (!t->cfg.timeout_ms[s])
			t->cfg.timeout_ms[s] = nat_default_timeouts[s];
		TAILQ_INIT(&t->timers[s]);
	}
	r = -EINVAL;
	if (t->cfg.max_entries > NAT_MAX_ENTRIES)
		goto fail;
	if ((r = nat_pool_init(&t->pool4, &t->cfg.pool4, AF_INET)) < 0 ||
	    (r = nat_pool_init(&t->pool6, &t->cfg.pool6, AF_INET6)) < 0)
		goto fail;
	while (buckets < t->cfg.max_entries)
		buckets <<= 1;
	t->mask = buckets - 1;
	r = -ENOMEM;
	t->by_orig = calloc(buckets, sizeof(*t->by_orig));
	t->by_fake = calloc(buckets, sizeof(*t->by_fake));
	if (!t->by_orig || !t->by_fake)
		goto fail;
	*ret = t;
	return 0;
fail:
	nat_free(t);
	return r;
}

void
nat_free(struct nat *t)
{
	if (!t)
		return;
	if (t->by_orig) {
		for (uint32_t b = 0; b <= t->mask; b++) {
			struct nat_entry *e;

			while ((e = LIST_FIRST(&t->by_orig[b]))) {
				LIST_REMOVE(e, by_orig);
				free(e);
			}
		}
	}
	free(t->by_orig);
	free(t->by_fake);
	free(t);
}

struct nat_entry *
nat_lookup_orig(struct nat *t, const struct pkt_tuple *orig)
{
	uint32_t h = nat_hash_orig(t, orig);
	struct nat_entry *e;

	LIST_FOREACH(e, &t->by_orig[h & t->mask], by_orig)
	{
		if (e->h_orig == h && nat_orig_equal(&e->orig, orig))
			return e;
	}
	return NULL;
}

struct nat_entry *
nat_lookup_fake(struct nat *t, int family, const uint8_t *addr, uint16_t port)
{
	uint32_t h = nat_hash_fake(t, family, addr, port);
	struct nat_entry *e;

	LIST_FOREACH(e, &t->by_fake[h & t->mask], by_fake)
	{
		if (e->h_fake == h && e->fake_port == port &&
		    e->orig.family == family && memcmp(e->fake, addr, 16) == 0)
			return e;
	}
	return NULL;
}

static void
nat_timer_unlink(struct nat *t, struct nat_entry *e)
{
	if (e->deadline_ms)
		TAILQ_REMOVE(&t->timers[e->state], e, timer);
	e->deadline_ms = 0;
}

/* Starts e's timer for its state (if the state has a timeout). */
static void
nat_timer_arm(struct nat *t, struct nat_entry *e, long long now_ms)
{
	unsigned to = t->cfg.timeout_ms[e->state];

	if (!to)
		return;
	/* Never 0, which means "no deadline". */
	e->deadline_ms = now_ms + to > 0 ? now_ms + to : 1;
	TAILQ_INSERT_TAIL(&t->timers[e->state], e, timer);
}

void
nat_set_state(
    struct nat *t, struct nat_entry *e, enum nat_state state, long long now_ms)
{
	nat_timer_unlink(t, e);
	t->n_state[e->state]--;
	e->state = state;
	t->n_state[state]++;
	nat_timer_arm(t, e, now_ms);
}

int
nat_add(struct nat *t, const struct pkt_tuple *orig, long long now_ms,
    struct nat_entry **ret)
{
	struct nat_pool *pool;
	struct nat_entry *e;
	uint8_t addr[16];
	uint32_t tries;

	pool = orig->family == AF_INET    ? &t->pool4
	       : orig->family == AF_INET6 ? &t->pool6
	                                  : NULL;
	if (!pool || !pool->on)
		return -EAFNOSUPPORT;
	if (nat_lookup_orig(t, orig))
		return -EEXIST;
	if (t->n >= t->cfg.max_entries)
		return -ENOSPC;
	tries =
	    pool->n_index < NAT_ALLOC_TRIES ? pool->n_index : NAT_ALLOC_TRIES;
	for (; tries > 0; tries--) {
		uint32_t i = pool->cursor % pool->n_index + 1;

		pool->cursor = i % pool->n_index;
		nat_pool_addr(pool, i, addr);
		if (!nat_lookup_fake(t, orig->family, addr, orig->sport))
			break;
	}
	if (tries == 0)
		return -EADDRNOTAVAIL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->orig = *orig;
	memcpy(e->fake, addr, 16);
	e->fake_port = orig->sport;
	e->h_orig = nat_hash_orig(t, orig);
	e->h_fake = nat_hash_fake(t, orig->family, addr, orig->sport);
	LIST_INSERT_HEAD(&t->by_orig[e->h_orig & t->mask], e, by_orig);
	LIST_INSERT_HEAD(&t->by_fake[e->h_fake & t->mask], e, by_fake);
	t->n++;
	e->state = NAT_OPENING;
	t->n_state[NAT_OPENING]++;
	nat_timer_arm(t, e, now_ms);
	*ret = e;
	return 0;
}

void
nat_remove(struct nat *t, struct nat_entry *e)
{
	nat_timer_unlink(t, e);
	LIST_REMOVE(e, by_orig);
	LIST_REMOVE(e, by_fake);
	t->n--;
	t->n_state[e->state]--;
	free(e);
}

size_t
nat_expire(struct nat *t, long long now_ms, nat_expire_fn cb, void *arg)
{
	size_t n = 0;

	for (int s = 0; s < NAT_N_STATES; s++) {
		struct nat_entry *e;

		while ((e = TAILQ_FIRST(&t->timers[s])) &&
		       e->deadline_ms <= now_ms) {
			/* Off the queue first, so cb may change others. */
			nat_timer_unlink(t, e);
			if (cb)
				cb(e, arg);
			nat_remove(t, e);
			n++;
		}
	}
	return n;
}

long long
nat_next_deadline(const struct nat *t)
{
	long long best = 0;

	for (int s = 0; s < NAT_N_STATES; s++) {
		const struct nat_entry *e = TAILQ_FIRST(&t->timers[s]);

		if (e && (best == 0 || e->deadline_ms < best))
			best = e->deadline_ms;
	}
	return best;
}

size_t
nat_count(const struct nat *t)
{
	return t->n;
}

size_t
nat_count_state(const struct nat *t, enum nat_state state)
{
	return (unsigned)state < NAT_N_STATES ? t->n_state[state] : 0;
}

const char *
nat_state_name(enum nat_state state)
{
	switch (state) {
	case NAT_OPENING:
		return "opening";
	case NAT_ACCEPTING:
		return "accepting";
	case NAT_OPEN:
		return "open";
	case NAT_CLOSING:
		return "closing";
	case NAT_CLOSED:
		return "closed";
	default:
		return "?";
	}
}
