/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/route's conflict check (route_plan_check): which
 * wanted subnets are routed into the TUN device and which are skipped,
 * with the sentence the daemon's status shows, given a synthetic routing
 * table. The kernel-facing half is covered by
 * tests/integration/test-tun-route.sh.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "client/route.h"
#include "tests/unit/cunit_main.h"

#define TUN_IF 7

static struct route_entry
E(const char *dst, enum route_table table, enum route_kind kind, int ifindex,
    const char *dev) {
	struct route_entry e;

	memset(&e, 0, sizeof(e));
	CU_ASSERT_EQUAL(cidr_parse_host(dst, &e.dst), 0);
	e.table = table;
	e.kind = kind;
	e.ifindex = ifindex;
	snprintf(e.dev, sizeof(e.dev), "%s", dev);
	return e;
}

/* The plan as "add A,B | skip REASON | skip REASON". */
static const char *
plan(
    const char *want, const char *allow, const struct route_entry *ex, size_t n)
{
	static char buf[4096];
	struct cidr_list w, a;
	struct route_plan p;
	char one[CIDR_STR_MAX];
	size_t off;

	cidr_list_init(&w);
	cidr_list_init(&a);
	route_plan_init(&p);
	CU_ASSERT_EQUAL(cidr_list_add_str(&w, want, NULL, NULL, 0), 0);
	if (allow != NULL)
		CU_ASSERT_EQUAL(cidr_list_add_str(&a, allow, NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(route_plan_check(&w, &a, TUN_IF, ex, n, &p), 0);
	off = (size_t)snprintf(buf, sizeof(buf), "add");
	for (size_t i = 0; i < p.add.n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
		    i ? "," : " ", cidr_format(&p.add.v[i], one, sizeof(one)));
	for (size_t i = 0; i < p.n_skip; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    " | skip %s", p.skip[i].reason);
	route_plan_clear(&p);
	cidr_list_clear(&w);
	cidr_list_clear(&a);
	return buf;
}

static void
test_no_conflicts(void)
{
	struct route_entry ex[] = {
	    E("0.0.0.0/0", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 2, "eth0"),
	    E("::/0", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 2, "eth0"),
	    E("192.168.1.0/24", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 2,
	        "eth0"),
	    /* our own TUN's routes never conflict */
	    E("198.18.0.0/16", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, TUN_IF,
	        "tel0"),
	    E("10.96.0.0/12", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, TUN_IF,
	        "tel0"),
	    /* broadcast and multicast entries of the local table neither */
	    E("10.255.255.255/32", ROUTE_TABLE_LOCAL, ROUTE_KIND_IGNORED, 2,
	        "eth0"),
	    E("ff00::/8", ROUTE_TABLE_LOCAL, ROUTE_KIND_IGNORED, 2, "eth0"),
	};

	CU_ASSERT_STRING_EQUAL(plan("10.96.0.0/12,fd00:96::/108", NULL, ex,
	                           sizeof(ex) / sizeof(*ex)),
	    "add 10.96.0.0/12,fd00:96::/108");
	CU_ASSERT_STRING_EQUAL(
	    plan("10.96.0.0/12", NULL, NULL, 0), "add 10.96.0.0/12");
}

static void
test_conflicts(void)
{
	struct route_entry ex[] = {
	    E("0.0.0.0/0", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 2, "eth0"),
	    E("10.0.0.0/8", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 3, "eth1"),
	    E("172.20.7.0/24", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 4, "wg0"),
	    E("192.0.2.0/24", ROUTE_TABLE_MAIN, ROUTE_KIND_OTHER, 0, ""),
	    E("100.64.3.4/32", ROUTE_TABLE_LOCAL, ROUTE_KIND_LOCAL, 5,
	        "tailscale0"),
	    E("fd00:200::/48", ROUTE_TABLE_MAIN, ROUTE_KIND_UNICAST, 1, "lo"),
	};
	size_t n = sizeof(ex) / sizeof(*ex);

	snprintf(ex[3].type_name, sizeof(ex[3].type_name), "blackhole");
	/* A subnet inside a route, one containing a route, a blackhole,
	 * an address of the machine, IPv6; 172.21/16 is free. Skips come in
	 * the order of the wanted list. */
	CU_ASSERT_STRING_EQUAL(
	    plan("10.96.0.0/12,172.20.0.0/16,192.0.2.128/25,100.64.0.0/10,"
	         "fd00:200:0:1::/64,172.21.0.0/16",
	        NULL, ex, n),
	    "add 172.21.0.0/16"
	    " | skip 10.96.0.0/12 overlaps 10.0.0.0/8 via eth1; not routed; "
	    "allow with --allow-conflicting-subnet 10.96.0.0/12"
	    " | skip 172.20.0.0/16 overlaps 172.20.7.0/24 via wg0; not routed; "
	    "allow with --allow-conflicting-subnet 172.20.0.0/16"
	    " | skip 192.0.2.128/25 overlaps the blackhole route 192.0.2.0/24; "
	    "not routed; allow with --allow-conflicting-subnet 192.0.2.128/25"
	    " | skip 100.64.0.0/10 contains 100.64.3.4, an address of this "
	    "machine on tailscale0; not routed; allow with "
	    "--allow-conflicting-subnet 100.64.0.0/10"
	    " | skip fd00:200:0:1::/64 overlaps fd00:200::/48 via lo; not "
	    "routed; allow with --allow-conflicting-subnet fd00:200:0:1::/64");
	/* Allowed: the subnet itself, or a larger prefix holding it. */
	CU_ASSERT_STRING_EQUAL(plan("10.96.0.0/12,172.20.0.0/16",
	                           "10.96.0.0/12,172.16.0.0/12", ex, n),
	    "add 10.96.0.0/12,172.20.0.0/16");
	/* An allowance inside the subnet does not cover all of it. */
	CU_ASSERT_STRING_EQUAL(plan("10.96.0.0/12", "10.96.0.0/16", ex, n),
	    "add | skip 10.96.0.0/12 overlaps 10.0.0.0/8 via eth1; not "
	    "routed; allow with --allow-conflicting-subnet 10.96.0.0/12");
	/* A route of another family never conflicts. */
	CU_ASSERT_STRING_EQUAL(
	    plan("fd00:96::/108", NULL, ex, n), "add fd00:96::/108");
}

static const struct cunit_test tests[] = {
    {"no_conflicts", test_no_conflicts},
    {"conflicts", test_conflicts},
};

CUNIT_MAIN("route", tests)
