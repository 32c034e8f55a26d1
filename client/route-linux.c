/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route-linux: telepodd's routes through libnl-route. Lists the main and
 * local tables for the conflict check (route.c), adds "SUBNET dev tel0
 * proto 126 scope link src ADDR" and deletes exactly such routes. libnl's
 * error codes become errno values and sentences here, at the boundary.
 * Each call opens its own netlink socket: these run a handful of times at
 * start-up and shutdown, never per packet.
 */
#include "client/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "client/nlerr-linux.h"
#include "common/errbuf.h"
#include "common/log.h"

static struct nl_sock *
route_connect(char *err, size_t errlen, int *ret_r)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (sk == NULL) {
		errbuf_set(err, errlen, "out of memory");
		*ret_r = -ENOMEM;
		return NULL;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot open a netlink socket: %s",
		    nl_geterror(r));
		nl_socket_free(sk);
		*ret_r = nlerr_to_errno(r);
		return NULL;
	}
	return sk;
}

/* nl_addr (possibly empty: a default route) as a struct cidr. */
static bool
route_addr_to_cidr(struct nl_addr *a, int family, struct cidr *ret)
{
	unsigned len, bits = cidr_family_bits(family);

	memset(ret, 0, sizeof(*ret));
	ret->family = family;
	if (bits == 0)
		return false;
	if (a == NULL)
		return true; /* no RTA_DST: the default route */
	len = nl_addr_get_len(a);
	if (len > bits / 8)
		return false;
	memcpy(ret->addr, nl_addr_get_binary_addr(a), len);
	if (nl_addr_get_prefixlen(a) > bits)
		return false;
	ret->prefix = (uint8_t)nl_addr_get_prefixlen(a);
	return true;
}

static struct nl_addr *
route_cidr_to_addr(const struct cidr *c)
{
	struct nl_addr *a;

	a = nl_addr_build(c->family, c->addr, c->family == AF_INET ? 4 : 16);
	if (a != NULL)
		nl_addr_set_prefixlen(a, c->prefix);
	return a;
}

static int
route_first_ifindex(struct rtnl_route *rt)
{
	struct rtnl_nexthop *nh;

	if (rtnl_route_get_nnexthops(rt) < 1)
		return 0;
	nh = rtnl_route_nexthop_n(rt, 0);
	return nh ? rtnl_route_nh_get_ifindex(nh) : 0;
}

static void
route_fill_entry(
    struct rtnl_route *rt, struct nl_cache *links, struct route_entry *e)
{
	uint8_t type = rtnl_route_get_type(rt);

	e->table = rtnl_route_get_table(rt) == RT_TABLE_LOCAL
	               ? ROUTE_TABLE_LOCAL
	               : ROUTE_TABLE_MAIN;
	switch (type) {
	case RTN_UNICAST:
		e->kind = ROUTE_KIND_UNICAST;
		break;
	case RTN_LOCAL:
		e->kind = ROUTE_KIND_LOCAL;
		break;
	case RTN_BROADCAST:
	case RTN_MULTICAST:
	case RTN_ANYCAST:
		e->kind = ROUTE_KIND_IGNORED;
		break;
	default:
		e->kind = ROUTE_KIND_OTHER;
		nl_rtntype2str(type, e->type_name, sizeof(e->type_name));
		break;
	}
	e->protocol = rtnl_route_get_protocol(rt);
	e->ifindex = route_first_ifindex(rt);
	e->dev[0] = '\0';
	if (e->ifindex > 0 && links != NULL)
		rtnl_link_i2name(links, e->ifindex, e->dev, sizeof(e->dev));
}

int
route_list(struct route_entry **ret, size_t *ret_n, char *err, size_t errlen)
{
	struct nl_cache *routes = NULL, *links = NULL;
	struct route_entry *v = NULL;
	struct nl_object *o;
	struct nl_sock *sk;
	size_t n = 0, cap = 0;
	int r = 0;

	sk = route_connect(err, errlen, &r);
	if (sk == NULL)
		return r;
	r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot read the routing table: %s",
		    nl_geterror(r));
		r = nlerr_to_errno(r);
		goto out;
	}
	/* Names only make the sentences readable: go on without them. */
	if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &links) < 0)
		links = NULL;
	for (o = nl_cache_get_first(routes); o != NULL;
	     o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		uint32_t table = rtnl_route_get_table(rt);
		int family = rtnl_route_get_family(rt);
		struct route_entry e;

		if (table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL)
			continue;
		if (family != AF_INET && family != AF_INET6)
			continue;
		memset(&e, 0, sizeof(e));
		if (!route_addr_to_cidr(rtnl_route_get_dst(rt), family, &e.dst))
			continue;
		route_fill_entry(rt, links, &e);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct route_entry *nv;

			if (n >= ROUTE_LIST_MAX) {
				errbuf_set(err, errlen,
				    "more than %d routes in the main and local tables; cannot check the subnets against them",
				    ROUTE_LIST_MAX);
				r = -EMSGSIZE;
				goto out;
			}
			if (ncap > ROUTE_LIST_MAX)
				ncap = ROUTE_LIST_MAX;
			nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL) {
				errbuf_set(err, errlen, "out of memory");
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = e;
	}
	*ret = v;
	*ret_n = n;
	v = NULL;
	r = 0;
out:
	free(v);
	nl_cache_free(links);
	nl_cache_free(routes);
	nl_socket_free(sk);
	return r;
}

int
route_plan_make(const struct cidr_list *want, const struct cidr_list *allow,
    int tun_ifindex, struct route_plan *ret, char *err, size_t errlen)
{
	struct route_entry *existing = NULL;
	size_t n = 0;
	int r;

	r = route_list(&existing, &n, err, errlen);
	if (r < 0)
		return r;
	r = route_plan_check(want, allow, tun_ifindex, existing, n, ret);
	if (r < 0)
		errbuf_set(
		    err, errlen, "cannot plan the routes: %s", strerror(-r));
	free(existing);
	return r;
}

/* The route object both route_add and route_del send. */
static struct rtnl_route *
route_build(int ifindex, const struct cidr *dst, const struct cidr *src)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *d = NULL, *s = NULL;
	struct cidr net = cidr_network(dst);

	if (rt == NULL)
		return NULL;
	d = route_cidr_to_addr(&net);
	nh = rtnl_route_nh_alloc();
	if (d == NULL || nh == NULL)
		goto fail;
	rtnl_route_set_family(rt, (uint8_t)dst->family);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, ROUTE_PROTO_TELEPOD);
	rtnl_route_set_type(rt, RTN_UNICAST);
	/* IPv6 has no route scopes; IPv4 routes straight onto the link. */
	rtnl_route_set_scope(
	    rt, dst->family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
	if (rtnl_route_set_dst(rt, d) < 0)
		goto fail;
	if (src != NULL && src->family == dst->family) {
		struct cidr host = *src;

		host.prefix = (uint8_t)cidr_family_bits(src->family);
		s = route_cidr_to_addr(&host);
		if (s == NULL || rtnl_route_set_pref_src(rt, s) < 0)
			goto fail;
	}
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(rt, nh); /* rt owns nh from here */
	nh = NULL;
	nl_addr_put(d);
	nl_addr_put(s);
	return rt;
fail:
	if (nh != NULL)
		rtnl_route_nh_free(nh);
	nl_addr_put(d);
	nl_addr_put(s);
	rtnl_route_put(rt);
	return NULL;
}

int
route_add(int ifindex, const struct cidr *dst, const struct cidr *src,
    char *err, size_t errlen)
{
	struct rtnl_route *rt = NULL;
	struct nl_sock *sk;
	char text[CIDR_STR_MAX];
	int r = 0;

	cidr_format(dst, text, sizeof(text));
	sk = route_connect(err, errlen, &r);
	if (sk == NULL)
		return r;
	rt = route_build(ifindex, dst, src);
	if (rt == NULL) {
		errbuf_set(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	r = rtnl_route_add(sk, rt, NLM_F_EXCL);
	if (r < 0) {
		int e = nlerr_to_errno(r);

		if (e == -EEXIST)
			errbuf_set(err, errlen,
			    "cannot route %s into link %d: the same route already exists",
			    text, ifindex);
		else
			errbuf_set(err, errlen,
			    "cannot route %s into link %d: %s", text, ifindex,
			    nl_geterror(r));
		r = e;
		goto out;
	}
	log_debug(LOG_CAT_TUN, "route %s dev %d proto %d: added", text, ifindex,
	    ROUTE_PROTO_TELEPOD);
	r = 0;
out:
	rtnl_route_put(rt);
	nl_socket_free(sk);
	return r;
}

/* Deletes rt; a missing route or link is -ENOENT (no sentence). */
static int
route_delete_obj(
    struct nl_sock *sk, struct rtnl_route *rt, char *err, size_t errlen)
{
	char text[CIDR_STR_MAX];
	struct cidr c;
	int r;

	r = rtnl_route_delete(sk, rt, 0);
	if (r >= 0)
		return 0;
	r = nlerr_to_errno(r);
	/* ESRCH (IPv4) and ENOENT (IPv6) say "no such route"; ENODEV the
	 * link went first, taking its routes along. */
	if (r == -ENOENT || r == -ENODEV)
		return -ENOENT;
	if (!route_addr_to_cidr(
	        rtnl_route_get_dst(rt), rtnl_route_get_family(rt), &c))
		memset(&c, 0, sizeof(c));
	errbuf_set(err, errlen, "cannot delete the route to %s: %s",
	    cidr_format(&c, text, sizeof(text)), strerror(-r));
	return r;
}

int
route_del(int ifindex, const struct cidr *dst, char *err, size_t errlen)
{
	struct rtnl_route *rt = NULL;
	struct nl_sock *sk;
	char text[CIDR_STR_MAX];
	int r = 0;

	sk = route_connect(err, errlen, &r);
	if (sk == NULL)
		return r;
	rt = route_build(ifindex, dst, NULL);
	if (rt == NULL) {
		errbuf_set(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	r = route_delete_obj(sk, rt, err, errlen);
	if (r == 0)
		log_debug(LOG_CAT_TUN, "route %s dev %d: deleted",
		    cidr_format(dst, text, sizeof(text)), ifindex);
out:
	rtnl_route_put(rt);
	nl_socket_free(sk);
	return r;
}

int
route_del_ours(int ifindex, char *err, size_t errlen)
{
	struct nl_cache *routes = NULL;
	struct nl_object *o;
	struct nl_sock *sk;
	int r = 0, count = 0;

	if (ifindex <= 0) {
		errbuf_set(err, errlen, "no link to delete routes from");
		return -EINVAL;
	}
	sk = route_connect(err, errlen, &r);
	if (sk == NULL)
		return r;
	r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
	if (r < 0) {
		errbuf_set(err, errlen, "cannot read the routing table: %s",
		    nl_geterror(r));
		r = nlerr_to_errno(r);
		goto out;
	}
	for (o = nl_cache_get_first(routes); o != NULL;
	     o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;

		if (rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
		    rtnl_route_get_protocol(rt) != ROUTE_PROTO_TELEPOD ||
		    route_first_ifindex(rt) != ifindex)
			continue;
		r = route_delete_obj(sk, rt, err, errlen);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			goto out;
		count++;
	}
	log_debug(
	    LOG_CAT_TUN, "link %d: deleted %d leftover routes", ifindex, count);
	r = count;
out:
	nl_cache_free(routes);
	nl_socket_free(sk);
	return r;
}
