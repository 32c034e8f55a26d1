/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: the routes that send the cluster's subnets into telepodd's TUN
 * device, and the conflict check that keeps telepod from taking over
 * addresses the machine already reaches another way.
 *
 * A wanted subnet is not routed when it overlaps (contains, or lies
 * inside) a route of the main table through another link, or holds an
 * address of this machine (the local table), unless the user allowed it
 * with --allow-conflicting-subnet. Default routes and routes through the
 * TUN device itself never conflict. Only the main and local tables are
 * consulted; policy routing rules sending traffic to other tables are not.
 *
 * Our routes carry the protocol number ROUTE_PROTO_TELEPOD ("proto 126" in
 * `ip route`), so they are recognisable, and deleting one matches its
 * destination, device and protocol: exactly the routes we added go.
 *
 * The check (route_plan_check) is pure; the rest talks to the kernel and
 * lives in route-linux.c (blocking netlink: start-up and shutdown only).
 */
#ifndef TELEPOD_CLIENT_ROUTE_H
#define TELEPOD_CLIENT_ROUTE_H

#include <stddef.h>

#include "client/cidr.h"

/* rtm_protocol of telepod's routes; unused by routing daemons. */
#define ROUTE_PROTO_TELEPOD 0x7e
/* Longest sentence in a struct route_skip. */
#define ROUTE_REASON_MAX 384
/* Most routes route_list() reads before giving up (a laptop has tens). */
#define ROUTE_LIST_MAX 200000
/* Length of an interface name plus NUL (IFNAMSIZ). */
#define ROUTE_DEV_MAX 16

/* Which table an existing route came from. */
enum route_table {
	ROUTE_TABLE_MAIN,
	ROUTE_TABLE_LOCAL,
};

/* Kinds of existing routes the check distinguishes. */
enum route_kind {
	ROUTE_KIND_UNICAST, /* through a device */
	ROUTE_KIND_LOCAL,   /* an address of this machine */
	ROUTE_KIND_OTHER,   /* blackhole, unreachable, prohibit, throw... */
	ROUTE_KIND_IGNORED, /* broadcast, multicast, anycast */
};

/* One route the machine already has. */
struct route_entry {
	struct cidr dst;
	enum route_table table;
	enum route_kind kind;
	int ifindex;             /* first next hop's device, 0 if none */
	char dev[ROUTE_DEV_MAX]; /* its name, "" if none or unknown */
	int protocol;
	char type_name[16]; /* "blackhole", ... for ROUTE_KIND_OTHER */
};

/* A wanted subnet that is not routed, and why. */
struct route_skip {
	struct cidr subnet;
	struct cidr conflict;    /* the route (or address) it overlaps */
	char dev[ROUTE_DEV_MAX]; /* that route's device, "" if none */
	/* "10.96.0.0/12 overlaps 10.0.0.0/8 via eth1; not routed; allow
	 * with --allow-conflicting-subnet 10.96.0.0/12" */
	char reason[ROUTE_REASON_MAX];
};

/* The outcome of the check (embedded; route_plan_init / _clear). */
struct route_plan {
	struct cidr_list add; /* to route into the TUN device */
	struct route_skip *skip;
	size_t n_skip;
};

void route_plan_init(struct route_plan *p);
void route_plan_clear(struct route_plan *p);

/*
 * Splits want (a minimal list, see cidr_list_subtract) into the subnets to
 * route and those to skip, given the machine's routes (existing, n) and the
 * subnets the user allowed to conflict (allow: a subnet inside one of them
 * is routed anyway). tun_ifindex's routes never conflict. *ret (initialised
 * by the caller) is cleared first. Returns 0, -ENOMEM or -EMSGSIZE.
 */
int route_plan_check(const struct cidr_list *want,
    const struct cidr_list *allow, int tun_ifindex,
    const struct route_entry *existing, size_t n, struct route_plan *ret);

/*
 * Reads the routes of the main and local tables, both families. Caller
 * frees *ret with free(). Returns 0, or a negative errno with a sentence
 * in err (-EMSGSIZE beyond ROUTE_LIST_MAX).
 */
int route_list(
    struct route_entry **ret, size_t *ret_n, char *err, size_t errlen);

/* route_list() then route_plan_check(). */
int route_plan_make(const struct cidr_list *want, const struct cidr_list *allow,
    int tun_ifindex, struct route_plan *ret, char *err, size_t errlen);

/*
 * Adds "dst dev IFINDEX proto 126 scope link src SRC" to the main table
 * (src: the TUN's address of dst's family, or NULL). Fails with -EEXIST if
 * the same route exists. Returns 0, or a negative errno with a sentence in
 * err.
 */
int route_add(int ifindex, const struct cidr *dst, const struct cidr *src,
    char *err, size_t errlen);

/*
 * Deletes the route to dst through ifindex with our protocol from the main
 * table; nothing else matches. Returns 0, -ENOENT when there is no such
 * route (or no such link any more), or a negative errno with a sentence in
 * err.
 */
int route_del(int ifindex, const struct cidr *dst, char *err, size_t errlen);

/*
 * Deletes every main-table route with our protocol through ifindex (> 0),
 * both families: what an earlier instance left. Returns the number
 * deleted, or a negative errno with a sentence in err.
 */
int route_del_ours(int ifindex, char *err, size_t errlen);

#endif
