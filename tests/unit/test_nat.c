/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/nat: configuration checks, allocation of fake
 * sources (in the pool, never its first or last address, round-robin,
 * port kept), lookups both ways, exhaustion (table bound, pool), IPv6,
 * state timers on a fake clock (expiry order, next deadline, callbacks
 * that touch the table), reuse of fake sources after expiry, and a
 * randomised comparison against a plain array.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/nat.h"
#include "tests/unit/cunit_main.h"

static struct pkt_tuple
T(const char *src, uint16_t sport, const char *dst, uint16_t dport) {
	struct pkt_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	CU_ASSERT_EQUAL(inet_pton(t.family, src, t.src), 1);
	CU_ASSERT_EQUAL(inet_pton(t.family, dst, t.dst), 1);
	t.sport = sport;
	t.dport = dport;
	return t;
}

static const char *
fake_str(const struct nat_entry *e)
{
	static char buf[INET6_ADDRSTRLEN];

	return inet_ntop(e->orig.family, e->fake, buf, sizeof(buf));
}

static struct nat *
mk(const char *pool4, const char *pool6, unsigned max)
{
	struct nat_config cfg;
	struct nat *t = NULL;

	nat_config_init(&cfg);
	if (pool4)
		CU_ASSERT_EQUAL(cidr_parse(pool4, &cfg.pool4, NULL), 0);
	if (pool6)
		CU_ASSERT_EQUAL(cidr_parse(pool6, &cfg.pool6, NULL), 0);
	cfg.max_entries = max;
	cfg.timeout_ms[NAT_OPENING] = 1000;
	cfg.timeout_ms[NAT_ACCEPTING] = 500;
	cfg.timeout_ms[NAT_CLOSING] = 2000;
	CU_ASSERT_EQUAL_FATAL(nat_new(&cfg, 42, &t), 0);
	return t;
}

static void
test_config(void)
{
	struct nat_config cfg;
	struct nat *t = NULL;
	char buf[CIDR_STR_MAX];

	nat_config_init(&cfg);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&cfg.pool4, buf, sizeof(buf)), "198.18.128.0/17");
	CU_ASSERT_EQUAL(cfg.pool6.family, 0);
	CU_ASSERT_EQUAL(nat_new(&cfg, 1, &t), 0);
	CU_ASSERT_EQUAL(nat_count(t), 0);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 0);
	nat_free(t);
	nat_free(NULL);

	/* Fewer than 4 addresses, the wrong family, too big a table. */
	cidr_parse("10.0.0.0/31", &cfg.pool4, NULL);
	CU_ASSERT_EQUAL(nat_new(&cfg, 1, &t), -EINVAL);
	cidr_parse("fd00::/64", &cfg.pool4, NULL);
	CU_ASSERT_EQUAL(nat_new(&cfg, 1, &t), -EINVAL);
	nat_config_init(&cfg);
	cidr_parse("fd00::/127", &cfg.pool6, NULL);
	CU_ASSERT_EQUAL(nat_new(&cfg, 1, &t), -EINVAL);
	nat_config_init(&cfg);
	cfg.max_entries = NAT_MAX_ENTRIES + 1;
	CU_ASSERT_EQUAL(nat_new(&cfg, 1, &t), -EINVAL);
}

static void
test_alloc_lookup(void)
{
	struct nat *t = mk(NULL, NULL, 0);
	struct pkt_tuple a = T("198.18.0.1", 51000, "10.96.0.20", 80);
	struct pkt_tuple b = T("198.18.0.1", 51000, "10.96.0.21", 80);
	struct pkt_tuple c = T("198.18.0.1", 51001, "10.96.0.20", 80);
	struct nat_entry *ea, *eb, *ec, *dup = NULL;
	uint8_t addr[16];

	CU_ASSERT_EQUAL_FATAL(nat_add(t, &a, 0, &ea), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &b, 0, &eb), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &c, 0, &ec), 0);
	/* Round-robin from the pool's first usable address, port kept. */
	CU_ASSERT_STRING_EQUAL(fake_str(ea), "198.18.128.1");
	CU_ASSERT_STRING_EQUAL(fake_str(eb), "198.18.128.2");
	CU_ASSERT_STRING_EQUAL(fake_str(ec), "198.18.128.3");
	CU_ASSERT_EQUAL(ea->fake_port, 51000);
	CU_ASSERT_EQUAL(ec->fake_port, 51001);
	CU_ASSERT_EQUAL(ea->state, NAT_OPENING);
	CU_ASSERT_EQUAL(nat_count(t), 3);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_OPENING), 3);
	/* An IPv4 fake address has zeros after its 4 bytes. */
	memset(addr, 0, sizeof(addr));
	memcpy(addr, ea->fake, 4);
	CU_ASSERT_EQUAL(memcmp(addr, ea->fake, 16), 0);

	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(t, &a), ea);
	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(t, &b), eb);
	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(t, &c), ec);
	CU_ASSERT_PTR_EQUAL(
	    nat_lookup_fake(t, AF_INET, eb->fake, eb->fake_port), eb);
	CU_ASSERT_PTR_EQUAL(
	    nat_lookup_fake(t, AF_INET, ec->fake, ec->fake_port), ec);
	/* The wrong port, family or address finds nothing. */
	CU_ASSERT_PTR_NULL(nat_lookup_fake(t, AF_INET, eb->fake, 51001));
	CU_ASSERT_PTR_NULL(nat_lookup_fake(t, AF_INET6, eb->fake, 51000));
	inet_pton(AF_INET, "198.18.128.9", addr);
	CU_ASSERT_PTR_NULL(nat_lookup_fake(t, AF_INET, addr, 51000));
	{
		struct pkt_tuple d = a;

		d.dport = 81;
		CU_ASSERT_PTR_NULL(nat_lookup_orig(t, &d));
		d = a;
		d.src[3] ^= 1;
		CU_ASSERT_PTR_NULL(nat_lookup_orig(t, &d));
	}
	/* One entry per original tuple. */
	CU_ASSERT_EQUAL(nat_add(t, &a, 0, &dup), -EEXIST);
	CU_ASSERT_PTR_NULL(dup);

	nat_remove(t, eb);
	CU_ASSERT_PTR_NULL(nat_lookup_orig(t, &b));
	CU_ASSERT_EQUAL(nat_count(t), 2);
	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(t, &a), ea);
	/* No IPv6 pool configured. */
	{
		struct pkt_tuple v6 = T("fd7e:1e0d::1", 1, "fd00::1", 2);
		struct nat_entry *e6;

		CU_ASSERT_EQUAL(nat_add(t, &v6, 0, &e6), -EAFNOSUPPORT);
	}
	nat_free(t);
}

static void
test_pool_edges(void)
{
	/* A /29: indices 1..6, never .0 or .7; the cursor wraps. */
	struct nat *t = mk("198.18.200.0/29", NULL, 0);
	char want[32];
	struct nat_entry *e;

	for (int i = 0; i < 14; i++) {
		struct pkt_tuple o =
		    T("198.18.0.1", (uint16_t)(1000 + i), "10.96.0.1", 80);

		CU_ASSERT_EQUAL_FATAL(nat_add(t, &o, 0, &e), 0);
		snprintf(want, sizeof(want), "198.18.200.%d", i % 6 + 1);
		CU_ASSERT_STRING_EQUAL(fake_str(e), want);
	}
	nat_free(t);
}

static void
test_exhaustion(void)
{
	struct nat *t = mk(NULL, NULL, 4);
	struct nat_entry *e;
	char dst[32];

	for (int i = 0; i < 4; i++) {
		snprintf(dst, sizeof(dst), "10.96.0.%d", i + 1);
		struct pkt_tuple o = T("198.18.0.1", 40000, dst, 80);

		CU_ASSERT_EQUAL(nat_add(t, &o, 0, &e), 0);
	}
	{
		struct pkt_tuple o = T("198.18.0.1", 40000, "10.96.0.9", 80);

		CU_ASSERT_EQUAL(nat_add(t, &o, 0, &e), -ENOSPC);
		/* Room again once one goes. */
		nat_remove(t, e); /* the fourth, unchanged by the failure */
		CU_ASSERT_EQUAL(nat_count(t), 3);
		CU_ASSERT_EQUAL(nat_add(t, &o, 0, &e), 0);
	}
	nat_free(t);

	/* A pool of two addresses: a third flow from the same source port
	 * finds no free fake 4-tuple; another port still does. */
	t = mk("198.18.128.0/30", NULL, 0);
	{
		struct pkt_tuple o1 = T("198.18.0.1", 5000, "10.96.0.1", 80);
		struct pkt_tuple o2 = T("198.18.0.1", 5000, "10.96.0.2", 80);
		struct pkt_tuple o3 = T("198.18.0.1", 5000, "10.96.0.3", 80);
		struct pkt_tuple o4 = T("198.18.0.1", 5001, "10.96.0.3", 80);

		CU_ASSERT_EQUAL(nat_add(t, &o1, 0, &e), 0);
		CU_ASSERT_EQUAL(nat_add(t, &o2, 0, &e), 0);
		CU_ASSERT_EQUAL(nat_add(t, &o3, 0, &e), -EADDRNOTAVAIL);
		CU_ASSERT_EQUAL(nat_add(t, &o4, 0, &e), 0);
		CU_ASSERT_EQUAL(nat_count(t), 3);
	}
	nat_free(t);
}

static void
test_ipv6(void)
{
	struct nat *t = mk(NULL, "fd7e:1e0d::1:0:0/96", 0);
	struct pkt_tuple o = T("fd7e:1e0d::1", 44444, "fd00:96::20", 443);
	struct pkt_tuple o2 = T("fd7e:1e0d::1", 44445, "fd00:96::20", 443);
	struct nat_entry *e, *e2;

	CU_ASSERT_EQUAL_FATAL(nat_add(t, &o, 0, &e), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &o2, 0, &e2), 0);
	CU_ASSERT_STRING_EQUAL(fake_str(e), "fd7e:1e0d::1:0:1");
	CU_ASSERT_STRING_EQUAL(fake_str(e2), "fd7e:1e0d::1:0:2");
	CU_ASSERT_PTR_EQUAL(nat_lookup_fake(t, AF_INET6, e->fake, 44444), e);
	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(t, &o2), e2);
	nat_free(t);

	/* Index carries across bytes: a /112 pool's 256th address. */
	t = mk(NULL, "fd7e:1e0d::5:0/112", 0);
	for (int i = 1; i <= 256; i++) {
		struct pkt_tuple oi =
		    T("fd7e:1e0d::1", (uint16_t)i, "fd00::1", 80);

		CU_ASSERT_EQUAL_FATAL(nat_add(t, &oi, 0, &e), 0);
	}
	CU_ASSERT_STRING_EQUAL(fake_str(e), "fd7e:1e0d::5:100");
	nat_free(t);
}

struct expired {
	int n;
	struct nat_entry *seen[16];
	struct nat *t;
	struct nat_entry *remove_other; /* removed from the callback */
	struct pkt_tuple add;           /* added from the callback */
	bool do_add;
};

static void
expire_cb(struct nat_entry *e, void *arg)
{
	struct expired *x = arg;
	struct nat_entry *ne;

	if (x->n < 16)
		x->seen[x->n] = e;
	x->n++;
	/* The entry is still whole during the callback. */
	CU_ASSERT_PTR_EQUAL(nat_lookup_orig(x->t, &e->orig), e);
	if (x->remove_other) {
		nat_remove(x->t, x->remove_other);
		x->remove_other = NULL;
	}
	if (x->do_add) {
		CU_ASSERT_EQUAL(nat_add(x->t, &x->add, 5000, &ne), 0);
		x->do_add = false;
	}
}

static void
test_expiry(void)
{
	struct nat *t = mk(NULL, NULL, 0);
	struct pkt_tuple a = T("198.18.0.1", 1, "10.96.0.1", 80);
	struct pkt_tuple b = T("198.18.0.1", 2, "10.96.0.1", 80);
	struct pkt_tuple c = T("198.18.0.1", 3, "10.96.0.1", 80);
	struct pkt_tuple d = T("198.18.0.1", 4, "10.96.0.1", 80);
	struct nat_entry *ea, *eb, *ec, *ed;
	struct expired x;

	memset(&x, 0, sizeof(x));
	x.t = t;
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &a, 0, &ea), 0);   /* dies 1000 */
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &b, 100, &eb), 0); /* dies 1100 */
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &c, 200, &ec), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &d, 300, &ed), 0);
	CU_ASSERT_EQUAL(ea->deadline_ms, 1000);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 1000);

	nat_set_state(t, ec, NAT_ACCEPTING, 400); /* dies 900 */
	nat_set_state(t, ed, NAT_OPEN, 400);      /* never */
	CU_ASSERT_EQUAL(ec->deadline_ms, 900);
	CU_ASSERT_EQUAL(ed->deadline_ms, 0);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 900);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_OPENING), 2);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_ACCEPTING), 1);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_OPEN), 1);

	CU_ASSERT_EQUAL(nat_expire(t, 899, expire_cb, &x), 0);
	CU_ASSERT_EQUAL(nat_expire(t, 900, expire_cb, &x), 1);
	CU_ASSERT_PTR_EQUAL(x.seen[0], ec);
	CU_ASSERT_PTR_NULL(nat_lookup_orig(t, &c));
	CU_ASSERT_EQUAL(nat_next_deadline(t), 1000);
	/* Restarting a state's timer moves the deadline. */
	nat_set_state(t, ea, NAT_OPENING, 950); /* now dies 1950 */
	CU_ASSERT_EQUAL(nat_next_deadline(t), 1100);
	CU_ASSERT_EQUAL(nat_expire(t, 1100, expire_cb, &x), 1);
	CU_ASSERT_PTR_EQUAL(x.seen[1], eb);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 1950);

	/* Closing starts the long timer; open entries never expire. */
	nat_set_state(t, ed, NAT_CLOSING, 1500); /* dies 3500 */
	CU_ASSERT_EQUAL(nat_expire(t, 3000, expire_cb, &x), 1);
	CU_ASSERT_PTR_EQUAL(x.seen[2], ea);
	CU_ASSERT_EQUAL(nat_count(t), 1);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_CLOSING), 1);
	/* Closed (default 3 s) cuts it short. */
	nat_set_state(t, ed, NAT_CLOSED, 3000);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 3000 + NAT_DEFAULT_CLOSED_MS);
	CU_ASSERT_EQUAL(nat_count_state(t, NAT_CLOSING), 0);
	/* Without a callback. */
	CU_ASSERT_EQUAL(
	    nat_expire(t, 3000 + NAT_DEFAULT_CLOSED_MS, NULL, NULL), 1);
	CU_ASSERT_EQUAL(nat_count(t), 0);
	CU_ASSERT_EQUAL(nat_next_deadline(t), 0);
	CU_ASSERT_EQUAL(x.n, 3);
	nat_free(t);
}

static void
test_expiry_callback_changes_table(void)
{
	struct nat *t = mk(NULL, NULL, 0);
	struct pkt_tuple a = T("198.18.0.1", 1, "10.96.0.1", 80);
	struct pkt_tuple b = T("198.18.0.1", 2, "10.96.0.1", 80);
	struct pkt_tuple c = T("198.18.0.1", 3, "10.96.0.1", 80);
	struct nat_entry *ea, *eb, *ec;
	struct expired x;

	memset(&x, 0, sizeof(x));
	x.t = t;
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &a, 0, &ea), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &b, 0, &eb), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &c, 0, &ec), 0);
	/* The first expiry removes the second due entry and adds one. */
	x.remove_other = eb;
	x.add = T("198.18.0.1", 9, "10.96.0.1", 80);
	x.do_add = true;
	CU_ASSERT_EQUAL(nat_expire(t, 1000, expire_cb, &x), 2);
	CU_ASSERT_EQUAL(x.n, 2);
	CU_ASSERT_PTR_EQUAL(x.seen[0], ea);
	CU_ASSERT_PTR_EQUAL(x.seen[1], ec);
	CU_ASSERT_EQUAL(nat_count(t), 1);
	CU_ASSERT_PTR_NOT_NULL(nat_lookup_orig(t, &x.add));
	CU_ASSERT_EQUAL(nat_next_deadline(t), 6000);
	nat_free(t);
}

static void
test_reuse_after_expiry(void)
{
	struct nat *t = mk("198.18.128.0/30", NULL, 0);
	struct pkt_tuple o1 = T("198.18.0.1", 5000, "10.96.0.1", 80);
	struct pkt_tuple o2 = T("198.18.0.1", 5000, "10.96.0.2", 80);
	struct pkt_tuple o3 = T("198.18.0.1", 5000, "10.96.0.3", 80);
	struct nat_entry *e1, *e2, *e3;
	uint8_t f1[16];

	CU_ASSERT_EQUAL_FATAL(nat_add(t, &o1, 0, &e1), 0);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &o2, 0, &e2), 0);
	memcpy(f1, e1->fake, 16);
	nat_set_state(t, e2, NAT_OPEN, 0);
	CU_ASSERT_EQUAL(nat_add(t, &o3, 10, &e3), -EADDRNOTAVAIL);
	nat_set_state(t, e1, NAT_CLOSING, 100); /* dies 2100 */
	/* Still taken while closing: the kernel ends may be in TIME_WAIT. */
	CU_ASSERT_EQUAL(nat_add(t, &o3, 2099, &e3), -EADDRNOTAVAIL);
	CU_ASSERT_EQUAL(nat_expire(t, 2100, NULL, NULL), 1);
	CU_ASSERT_EQUAL_FATAL(nat_add(t, &o3, 2100, &e3), 0);
	CU_ASSERT_EQUAL(memcmp(e3->fake, f1, 16), 0);
	CU_ASSERT_PTR_EQUAL(nat_lookup_fake(t, AF_INET, f1, 5000), e3);
	/* The original tuple of the expired flow can start again. */
	nat_remove(t, e3);
	CU_ASSERT_EQUAL(nat_add(t, &o1, 2200, &e1), 0);
	nat_free(t);
}

static void
test_random_against_array(void)
{
	enum { N = 20000 };
	struct nat *t = mk(NULL, NULL, N);
	static struct pkt_tuple tup[N];
	static struct nat_entry *ent[N];
	uint32_t s = 7;
	char src[32];

	for (int i = 0; i < N; i++) {
		s = s * 1103515245u + 12345u;
		snprintf(src, sizeof(src), "198.18.%u.%u", (s >> 8) & 255,
		    (s >> 16) & 255);
		tup[i] = T(src, (uint16_t)(1024 + i % 60000), "10.96.0.1",
		    (uint16_t)(1 + (s >> 20) % 1000));
		tup[i].dst[3] = (uint8_t)i;
		tup[i].dst[2] = (uint8_t)(i >> 8);
		CU_ASSERT_EQUAL_FATAL(nat_add(t, &tup[i], 0, &ent[i]), 0);
	}
	CU_ASSERT_EQUAL(nat_count(t), N);
	for (int i = 0; i < N; i += 2) {
		nat_remove(t, ent[i]);
		ent[i] = NULL;
	}
	for (int i = 0; i < N; i++) {
		struct nat_entry *e = nat_lookup_orig(t, &tup[i]);

		CU_ASSERT_PTR_EQUAL(e, ent[i]);
		if (ent[i])
			CU_ASSERT_PTR_EQUAL(
			    nat_lookup_fake(
			        t, AF_INET, ent[i]->fake, ent[i]->fake_port),
			    ent[i]);
	}
	CU_ASSERT_EQUAL(nat_count(t), N / 2);
	nat_free(t);
}

static void
test_state_names(void)
{
	CU_ASSERT_STRING_EQUAL(nat_state_name(NAT_OPENING), "opening");
	CU_ASSERT_STRING_EQUAL(nat_state_name(NAT_ACCEPTING), "accepting");
	CU_ASSERT_STRING_EQUAL(nat_state_name(NAT_OPEN), "open");
	CU_ASSERT_STRING_EQUAL(nat_state_name(NAT_CLOSING), "closing");
	CU_ASSERT_STRING_EQUAL(nat_state_name(NAT_CLOSED), "closed");
}

static const struct cunit_test tests[] = {
    {"configuration", test_config},
    {"allocation and lookups", test_alloc_lookup},
    {"pool edges and round-robin", test_pool_edges},
    {"exhaustion", test_exhaustion},
    {"IPv6", test_ipv6},
    {"expiry on a fake clock", test_expiry},
    {"expiry callback changes the table", test_expiry_callback_changes_table},
    {"reuse after expiry", test_reuse_after_expiry},
    {"random flows against an array", test_random_against_array},
    {"state names", test_state_names},
};

CUNIT_MAIN("nat", tests)
