/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: the platform-neutral half of the route module, the conflict
 * check. Given the subnets telepodd wants to route and the routes the
 * machine already has, it decides which subnets go into the TUN device and
 * writes, for each one left out, the sentence the daemon's status shows.
 * The kernel-facing half is route-linux.c.
 */
#include "client/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
route_plan_init(struct route_plan *p)
{
	cidr_list_init(&p->add);
	p->skip = NULL;
	p->n_skip = 0;
}

void
route_plan_clear(struct route_plan *p)
{
	cidr_list_clear(&p->add);
	free(p->skip);
	p->skip = NULL;
	p->n_skip = 0;
}

/* True when e can take traffic for addresses of subnet away from the TUN
 * device (or would lose its own to it). */
static bool
route_conflicts(
    const struct route_entry *e, const struct cidr *subnet, int tun_ifindex)
{
	if (e->kind == ROUTE_KIND_IGNORED)
		return false;
	if (tun_ifindex > 0 && e->ifindex == tun_ifindex)
		return false;
	if (e->table == ROUTE_TABLE_LOCAL && e->kind != ROUTE_KIND_LOCAL)
		return false;
	if (e->table == ROUTE_TABLE_MAIN && e->dst.prefix == 0)
		return false; /* a default route: ours is more specific */
	return cidr_overlaps(&e->dst, subnet);
}

static void
route_describe(const struct route_entry *e, const struct cidr *subnet,
    struct route_skip *s)
{
	char sub[CIDR_STR_MAX], dst[CIDR_STR_MAX], what[160];

	cidr_format(subnet, sub, sizeof(sub));
	if (e->kind == ROUTE_KIND_LOCAL) {
		cidr_format_addr(&e->dst, dst, sizeof(dst));
		snprintf(what, sizeof(what),
		    "contains %s, an address of this machine%s%s", dst,
		    e->dev[0] ? " on " : "", e->dev);
	} else if (e->kind == ROUTE_KIND_OTHER) {
		cidr_format(&e->dst, dst, sizeof(dst));
		snprintf(what, sizeof(what), "overlaps the %s route %s",
		    e->type_name[0] ? e->type_name : "existing", dst);
	} else {
		cidr_format(&e->dst, dst, sizeof(dst));
		snprintf(what, sizeof(what), "overlaps %s%s%s", dst,
		    e->dev[0] ? " via " : "", e->dev);
	}
	snprintf(s->reason, sizeof(s->reason),
	    "%s %s; not routed; allow with --allow-conflicting-subnet %s", sub,
	    what, sub);
	s->subnet = *subnet;
	s->conflict = e->dst;
	snprintf(s->dev, sizeof(s->dev), "%s", e->dev);
}

int
route_plan_check(const struct cidr_list *want, const struct cidr_list *allow,
    int tun_ifindex, const struct route_entry *existing, size_t n,
    struct route_plan *ret)
{
	int r = 0;

	route_plan_clear(ret);
	if (want->n > CIDR_LIST_MAX)
		return -EMSGSIZE;
	if (want->n > 0) {
		ret->skip = calloc(want->n, sizeof(*ret->skip));
		if (ret->skip == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < want->n; i++) {
		const struct cidr *sub = &want->v[i];
		const struct route_entry *hit = NULL;

		if (allow == NULL || !cidr_list_contains(allow, sub)) {
			for (size_t k = 0; k < n && hit == NULL; k++)
				if (route_conflicts(
				        &existing[k], sub, tun_ifindex))
					hit = &existing[k];
		}
		if (hit != NULL) {
			route_describe(hit, sub, &ret->skip[ret->n_skip++]);
			continue;
		}
		r = cidr_list_add(&ret->add, sub);
		if (r < 0) {
			route_plan_clear(ret);
			return r;
		}
	}
	return 0;
}
