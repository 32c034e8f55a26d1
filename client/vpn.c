/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpn: the TUN device, routes, DNS stub and resolver configuration of
 * telepodd's connected namespaces, brought up with the first namespace and
 * down with the last, every change written to the netstate ledger before
 * it is made (see vpn.h). The order matters for a clean machine at every
 * step: the device before its routes, the stub before the resolver points
 * at it; and backwards on the way down, the resolver first so that no
 * query goes to a stub that is gone.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "client/dnsstub.h"
#include "client/netstate.h"
#include "client/route.h"
#include "client/tun.h"
#include "client/tunstack.h"
#include "client/vpn.h"
#include "common/log.h"
#include "common/mux.h"

#define VPN_NS_MAX     64
#define VPN_DOMAIN_MAX 254

/* A route through the device and how many namespaces want it. */
struct vpn_route_ref {
	struct cidr dst;
	uint64_t id; /* its ledger record */
	unsigned refs;
};

struct vpn_ns {
	TAILQ_ENTRY(vpn_ns) link;
	char name[VPN_NS_MAX];
	char domain[VPN_DOMAIN_MAX];
	struct mux_session *session;
	struct cidr_list routed; /* each holds one reference in v->routes */
	struct route_skip *skip;
	size_t n_skip;
	bool zoned; /* declared to the stub */
};

TAILQ_HEAD(vpn_nss, vpn_ns);

struct vpn {
	struct event_base *base;
	struct netstate *ledger;
	char *state_dir;
	char *resolv_conf;
	char *save_path;
	enum resolvconf_method method;
	bool no_fast_path;
	struct vpn_nss nss;
	size_t n_nss;
	/* Up while n_nss > 0. */
	struct tun_dev *dev;
	uint64_t tun_id;
	struct tunstack *stack;
	char stub_addr[CIDR_STR_MAX];
	struct dnsstub *stub;
	struct resolvconf *rc;
	uint64_t rc_id;
	bool rc_applied;
	struct vpn_route_ref *routes;
	size_t n_routes;
	size_t cap_routes;
};

/* ---- helpers ---- */

static struct vpn_ns *
vpn_find(const struct vpn *v, const char *ns)
{
	struct vpn_ns *n;

	TAILQ_FOREACH(n, &v->nss, link)
	{
		if (strcmp(n->name, ns) == 0)
			return n;
	}
	return NULL;
}

static struct vpn_route_ref *
vpn_route_find(struct vpn *v, const struct cidr *dst)
{
	for (size_t i = 0; i < v->n_routes; i++) {
		if (cidr_equal(&v->routes[i].dst, dst))
			return &v->routes[i];
	}
	return NULL;
}

/* Takes a reference on the route to dst, adding it (ledger first) when
 * nobody routes it yet. */
static int
vpn_route_get(struct vpn *v, const struct cidr *dst, char *err, size_t errlen)
{
	struct vpn_route_ref *ref = vpn_route_find(v, dst);
	const struct cidr *src;
	uint64_t id;
	int r;

	if (ref) {
		ref->refs++;
		return 0;
	}
	if (v->n_routes == v->cap_routes) {
		size_t cap = v->cap_routes ? 2 * v->cap_routes : 8;
		struct vpn_route_ref *nr;

		if (cap > CIDR_LIST_MAX)
			return -EMSGSIZE;
		nr = realloc(v->routes, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		v->routes = nr;
		v->cap_routes = cap;
	}
	src = dst->family == AF_INET ? tun_addr4(v->dev) : tun_addr6(v->dev);
	r = netstate_route_add(
	    v->ledger, tun_ifindex(v->dev), dst, src, &id, err, errlen);
	if (r < 0)
		return r;
	v->routes[v->n_routes].dst = *dst;
	v->routes[v->n_routes].id = id;
	v->routes[v->n_routes].refs = 1;
	v->n_routes++;
	return 0;
}

/* Drops a reference; the last one deletes the route. */
static void
vpn_route_put(struct vpn *v, const struct cidr *dst)
{
	struct vpn_route_ref *ref = vpn_route_find(v, dst);
	char err[VPN_ERROR_MAX], buf[CIDR_STR_MAX];
	int r;

	if (!ref || --ref->refs > 0)
		return;
	r = netstate_undo(v->ledger, ref->id, err, sizeof(err));
	if (r < 0)
		log_warn("cannot delete the route to %s: %s (the next start "
		         "of telepodd tries again)",
		    cidr_format(dst, buf, sizeof(buf)), err);
	else
		log_debug(LOG_CAT_TUN, "route %s removed",
		    cidr_format(dst, buf, sizeof(buf)));
	*ref = v->routes[--v->n_routes];
}

/* The namespaces for the resolver's search list, default (the most
 * recent) first; n_out <= VPN's count. */
static size_t
vpn_ns_names(const struct vpn *v, const char **out, size_t cap)
{
	struct vpn_ns *n;
	size_t k = 0;

	TAILQ_FOREACH_REVERSE(n, &v->nss, vpn_nss, link)
	{
		if (k == cap)
			break;
		out[k++] = n->name;
	}
	return k;
}

/* ---- the device, the stub and the resolver ---- */

static void vpn_tun_down(struct vpn *v);

/* tunstack's router: the session of the destination's namespace. */
static struct mux_session *
vpn_stack_route(const struct frame_addr *dst, void *arg)
{
	const struct vpn *v = arg;

	if (dst->type == WIRE_ADDR_IPV4)
		return vpn_route(v, AF_INET, dst->a.v4);
	if (dst->type == WIRE_ADDR_IPV6)
		return vpn_route(v, AF_INET6, dst->a.v6);
	return NULL;
}

static int
vpn_tun_up(struct vpn *v, const char *name, char *err, size_t errlen)
{
	struct tun_config cfg;
	struct tunstack_config scfg;
	int r;

	tun_config_init(&cfg);
	cfg.name = name ? name : TUN_DEFAULT_NAME;
	r = netstate_record_tun(
	    v->ledger, cfg.name, 0, &v->tun_id, err, errlen);
	if (r < 0)
		return r;
	r = tun_open(&cfg, &v->dev, err, errlen);
	if (r < 0) {
		netstate_forget(v->ledger, v->tun_id, NULL, 0);
		v->dev = NULL;
		return r;
	}
	r = netstate_update_tun(v->ledger, v->tun_id, tun_name(v->dev),
	    tun_ifindex(v->dev), err, errlen);
	if (r < 0) {
		tun_close(v->dev);
		v->dev = NULL;
		netstate_undo(v->ledger, v->tun_id, NULL, 0);
		return r;
	}
	cidr_format_addr(tun_addr4(v->dev), v->stub_addr, sizeof(v->stub_addr));
	/* The packet path: TCP into the device becomes tunnel streams. */
	tunstack_config_init(&scfg);
	scfg.fd = tun_fd(v->dev);
	scfg.vnet_hdr_len = tun_vnet_hdr_len(v->dev);
	scfg.addr4 = *tun_addr4(v->dev);
	scfg.ifindex = tun_ifindex(v->dev);
	scfg.fast_path = !v->no_fast_path;
	if (tun_addr6(v->dev)) {
		scfg.has_addr6 = true;
		scfg.addr6 = *tun_addr6(v->dev);
	}
	r = tunstack_new(
	    v->base, &scfg, vpn_stack_route, v, &v->stack, err, errlen);
	if (r < 0) {
		vpn_tun_down(v);
		return r;
	}
	log_info("TUN device %s up (ifindex %d, mtu %u)", tun_name(v->dev),
	    tun_ifindex(v->dev), tun_mtu(v->dev));
	return 0;
}

static void
vpn_tun_down(struct vpn *v)
{
	char err[VPN_ERROR_MAX], name[TUN_NAME_MAX];
	int r;

	if (!v->dev)
		return;
	snprintf(name, sizeof(name), "%s", tun_name(v->dev));
	/* The stack first: it reads the device's fd. */
	tunstack_free(v->stack);
	v->stack = NULL;
	tun_close(v->dev);
	v->dev = NULL;
	/* Closing the last queue deletes the link and its routes; the
	 * record's undo deletes it too should a child still hold a queue. */
	r = netstate_undo(v->ledger, v->tun_id, err, sizeof(err));
	if (r < 0)
		log_warn("cannot delete the TUN device %s: %s", name, err);
	else
		log_info("TUN device %s removed", name);
}

static int
vpn_stub_send(struct mux_session *s, const uint8_t *msg, size_t len,
    uint32_t *ret_id, void *arg)
{
	return mux_send_dns_query(s, msg, len, ret_id);
}

static void
vpn_stub_cancel(struct mux_session *s, uint32_t id, void *arg)
{
	mux_cancel_dns_query(s, id);
}

/* The stub on the device's address, forwarding other names to the
 * original servers of rc. */
static int
vpn_stub_up(struct vpn *v, char *err, size_t errlen)
{
	struct sockaddr_storage servers[DNSSTUB_MAX_SERVERS];
	struct dnsstub_config cfg;
	struct dnsstub_upstreams up = {
	    .send = vpn_stub_send,
	    .cancel = vpn_stub_cancel,
	    .arg = v,
	};
	char listen[CIDR_STR_MAX + 8];
	int n;

	n = resolvconf_servers(v->rc, servers, DNSSTUB_MAX_SERVERS);
	if (n < 0) {
		snprintf(err, errlen, "cannot read the name servers of %s: %s",
		    resolvconf_file(v->rc), strerror(-n));
		return n;
	}
	if (n == 0)
		log_warn("%s names no name server: names outside the cluster "
		         "will not resolve while connected",
		    resolvconf_file(v->rc));
	snprintf(listen, sizeof(listen), "%s:%d", v->stub_addr, VPN_DNS_PORT);
	memset(&cfg, 0, sizeof(cfg));
	cfg.listen = listen;
	cfg.servers = servers;
	cfg.n_servers = (size_t)n;
	return dnsstub_new(v->base, &cfg, &up, &v->stub, err, errlen);
}

/* Prepares the resolver change for the first namespace n (nothing is
 * written yet). */
static int
vpn_rc_prepare(struct vpn *v, const struct vpn_ns *n, char *err, size_t errlen)
{
	struct resolvconf_config cfg;
	const char *names[1] = {n->name};

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = v->resolv_conf;
	cfg.save_path = v->save_path;
	cfg.stub_addr = v->stub_addr;
	cfg.link = tun_name(v->dev);
	cfg.cluster_domain = n->domain;
	cfg.namespaces = names;
	cfg.n_namespaces = 1;
	cfg.method = v->method;
	return resolvconf_prepare(&cfg, &v->rc, err, errlen);
}

/* Records (first time) or updates the resolver's ledger entry, then makes
 * the change. */
static int
vpn_rc_apply(struct vpn *v, char *err, size_t errlen)
{
	cJSON *payload = resolvconf_payload(v->rc);
	int r;

	if (!payload) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!v->rc_applied)
		r = netstate_record(v->ledger, RESOLVCONF_KIND, payload,
		    &v->rc_id, err, errlen);
	else
		r = netstate_update(v->ledger, v->rc_id, payload, err, errlen);
	if (r < 0)
		return r;
	if (!v->rc_applied)
		v->rc_applied = true;
	return resolvconf_apply(v->rc, err, errlen);
}

/* Puts the original resolver back. */
static void
vpn_rc_down(struct vpn *v)
{
	char err[VPN_ERROR_MAX];
	int r;

	if (v->rc && v->rc_applied) {
		r = resolvconf_restore(v->rc, err, sizeof(err));
		if (r < 0)
			log_warn("cannot restore the resolver: %s (the next "
			         "start of telepodd tries again)",
			    err);
		else if (netstate_forget(
		             v->ledger, v->rc_id, err, sizeof(err)) < 0)
			log_warn("%s", err);
		else
			log_info(
			    "resolver restored (%s)", resolvconf_file(v->rc));
	}
	resolvconf_free(v->rc);
	v->rc = NULL;
	v->rc_applied = false;
}

/* Everything shared goes, in the reverse order of coming up. */
static void
vpn_all_down(struct vpn *v)
{
	vpn_rc_down(v);
	dnsstub_free(v->stub);
	v->stub = NULL;
	vpn_tun_down(v);
}

/* ---- namespaces ---- */

static void
vpn_ns_free(struct vpn_ns *n)
{
	cidr_list_clear(&n->routed);
	free(n->skip);
	free(n);
}

/* Undoes what n holds (routes, zone) and unlinks it; with the last
 * namespace the shared parts go too, else the resolver's search list
 * shrinks. */
static void
vpn_ns_remove(struct vpn *v, struct vpn_ns *n)
{
	char err[VPN_ERROR_MAX];
	const char *names[RESOLVCONF_MAX_NAMESPACES];
	size_t k;

	TAILQ_REMOVE(&v->nss, n, link);
	v->n_nss--;
	if (n->zoned && v->stub)
		dnsstub_remove_zone(v->stub, n->name);
	for (size_t i = 0; i < n->routed.n; i++)
		vpn_route_put(v, &n->routed.v[i]);
	if (v->n_nss == 0) {
		vpn_all_down(v);
	} else if (v->rc && v->rc_applied) {
		k = vpn_ns_names(v, names, RESOLVCONF_MAX_NAMESPACES);
		if (resolvconf_set_namespaces(v->rc, names, k) < 0 ||
		    vpn_rc_apply(v, err, sizeof(err)) < 0)
			log_warn("cannot update the resolver after %s left: %s",
			    n->name, err);
	}
	log_info("%s: routes and DNS removed", n->name);
	vpn_ns_free(n);
}

/* The prefixes n wants: the server's plus also, minus never. */
static int
vpn_want(
    const struct vpn_params *p, struct cidr_list *ret, char *err, size_t errlen)
{
	struct cidr_list inc, none;
	char why[256];
	int r = 0;

	cidr_list_init(&inc);
	cidr_list_init(&none);
	if (p->subnets && p->subnets[0]) {
		r = cidr_list_add_str(&inc, p->subnets, NULL, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen,
			    "the server announced subnets telepodd cannot route (%s); check its --subnets",
			    why);
			goto out;
		}
	}
	for (size_t i = 0; p->also_proxy && i < p->also_proxy->n; i++) {
		r = cidr_list_add(&inc, &p->also_proxy->v[i]);
		if (r < 0)
			goto out;
	}
	r = cidr_list_subtract(
	    &inc, p->never_proxy ? p->never_proxy : &none, ret);
	if (r < 0)
		snprintf(err, errlen,
		    "too many prefixes after applying --never-proxy (at most %d)",
		    CIDR_LIST_MAX);
out:
	cidr_list_clear(&inc);
	return r;
}

/* Routes n's prefixes (planned against the machine's routes). */
static int
vpn_ns_routes(struct vpn *v, struct vpn_ns *n, const struct vpn_params *p,
    char *err, size_t errlen)
{
	struct cidr_list want, none;
	struct route_plan plan;
	char buf[CIDR_STR_MAX];
	int r;

	cidr_list_init(&want);
	cidr_list_init(&none);
	route_plan_init(&plan);
	r = vpn_want(p, &want, err, errlen);
	if (r < 0)
		goto out;
	r = route_plan_make(&want,
	    p->allow_conflicting ? p->allow_conflicting : &none,
	    tun_ifindex(v->dev), &plan, err, errlen);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < plan.add.n; i++) {
		const struct cidr *dst = &plan.add.v[i];

		if (dst->family == AF_INET6 && !tun_addr6(v->dev)) {
			/* Planned like the rest, but no IPv6 on the device:
			 * say so rather than route into a void. */
			struct route_skip *ns = realloc(
			    n->skip, (n->n_skip + 1) * sizeof(*n->skip));

			if (!ns) {
				r = -ENOMEM;
				goto out;
			}
			n->skip = ns;
			memset(&ns[n->n_skip], 0, sizeof(*ns));
			ns[n->n_skip].subnet = *dst;
			snprintf(ns[n->n_skip].reason,
			    sizeof(ns[n->n_skip].reason),
			    "%s is IPv6: this telepodd carries IPv4 only; not routed",
			    cidr_format(dst, buf, sizeof(buf)));
			n->n_skip++;
			continue;
		}
		r = vpn_route_get(v, dst, err, errlen);
		if (r < 0)
			goto out;
		r = cidr_list_add(&n->routed, dst);
		if (r < 0) {
			vpn_route_put(v, dst);
			goto out;
		}
		log_info("%s: routing %s through %s", n->name,
		    cidr_format(dst, buf, sizeof(buf)), tun_name(v->dev));
	}
	if (plan.n_skip) {
		struct route_skip *ns = realloc(
		    n->skip, (n->n_skip + plan.n_skip) * sizeof(*n->skip));

		if (!ns) {
			r = -ENOMEM;
			goto out;
		}
		n->skip = ns;
		for (size_t i = 0; i < plan.n_skip; i++) {
			log_warn("%s: %s", n->name, plan.skip[i].reason);
			n->skip[n->n_skip++] = plan.skip[i];
		}
	}
	r = 0;
out:
	route_plan_clear(&plan);
	cidr_list_clear(&want);
	return r;
}

/* Declares n to the stub and the resolver (the first namespace prepares
 * the resolver and brings the stub up first). */
static int
vpn_ns_dns(struct vpn *v, struct vpn_ns *n, char *err, size_t errlen)
{
	const char *names[RESOLVCONF_MAX_NAMESPACES];
	size_t k;
	int r;

	if (!v->rc) {
		r = vpn_rc_prepare(v, n, err, errlen);
		if (r < 0)
			return r;
	}
	if (!v->stub) {
		r = vpn_stub_up(v, err, errlen);
		if (r < 0)
			return r;
	}
	r = dnsstub_set_zone(v->stub, n->name, n->domain, n->session);
	if (r < 0) {
		snprintf(err, errlen,
		    "the DNS stub cannot take namespace %s (domain %s): %s",
		    n->name, n->domain, strerror(-r));
		return r;
	}
	n->zoned = true;
	k = vpn_ns_names(v, names, RESOLVCONF_MAX_NAMESPACES);
	if (v->rc_applied && resolvconf_set_namespaces(v->rc, names, k) < 0) {
		snprintf(err, errlen,
		    "cannot add namespace %s to the resolver's search list",
		    n->name);
		return -EINVAL;
	}
	return vpn_rc_apply(v, err, errlen);
}

int
vpn_attach(struct vpn *v, const struct vpn_params *p, char *err, size_t errlen)
{
	struct vpn_ns *n;
	int r;

	if (vpn_find(v, p->ns)) {
		snprintf(
		    err, errlen, "namespace %s has its routes already", p->ns);
		return -EEXIST;
	}
	if (v->n_nss >= RESOLVCONF_MAX_NAMESPACES) {
		snprintf(err, errlen,
		    "at most %d namespaces can use the TUN device at once; connect this one with --no-tun",
		    RESOLVCONF_MAX_NAMESPACES);
		return -ENOSPC;
	}
	if (v->dev && p->tun_name && strcmp(p->tun_name, tun_name(v->dev))) {
		snprintf(err, errlen,
		    "the TUN device %s is up already for other namespaces; connect without --tun-name %s, or disconnect them first",
		    tun_name(v->dev), p->tun_name);
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	snprintf(n->name, sizeof(n->name), "%s", p->ns);
	snprintf(n->domain, sizeof(n->domain), "%s",
	    p->cluster_domain && p->cluster_domain[0] ? p->cluster_domain
	                                              : VPN_DEFAULT_DOMAIN);
	n->session = p->session;
	cidr_list_init(&n->routed);
	if (!v->dev) {
		r = vpn_tun_up(v, p->tun_name, err, errlen);
		if (r < 0) {
			vpn_ns_free(n);
			return r;
		}
	}
	TAILQ_INSERT_TAIL(&v->nss, n, link);
	v->n_nss++;
	r = vpn_ns_routes(v, n, p, err, errlen);
	if (r == 0)
		r = vpn_ns_dns(v, n, err, errlen);
	if (r < 0) {
		log_warn("%s: TUN mode failed: %s; undoing", n->name, err);
		vpn_ns_remove(v, n);
		return r;
	}
	log_info("%s: TUN mode up: %zu routes, DNS on %s:%d", n->name,
	    n->routed.n, v->stub_addr, VPN_DNS_PORT);
	return 0;
}

int
vpn_detach(struct vpn *v, const char *ns)
{
	struct vpn_ns *n = vpn_find(v, ns);

	if (!n)
		return -ENOENT;
	vpn_ns_remove(v, n);
	return 0;
}

bool
vpn_attached(const struct vpn *v, const char *ns)
{
	return vpn_find(v, ns) != NULL;
}

size_t
vpn_count(const struct vpn *v)
{
	return v->n_nss;
}

void
vpn_set_session(struct vpn *v, const char *ns, struct mux_session *s)
{
	struct vpn_ns *n = vpn_find(v, ns);

	if (!n)
		return;
	n->session = s;
	if (n->zoned && v->stub)
		dnsstub_set_zone(v->stub, n->name, n->domain, s);
}

void
vpn_dns_answer(struct vpn *v, struct mux_session *s, uint32_t id,
    uint32_t error, const uint8_t *msg, size_t len)
{
	if (v->stub)
		dnsstub_answer(v->stub, s, id, error, msg, len);
}

struct mux_session *
vpn_route(const struct vpn *v, int family, const uint8_t *addr)
{
	struct cidr host;
	struct vpn_ns *n;

	memset(&host, 0, sizeof(host));
	host.family = family;
	host.prefix = (uint8_t)cidr_family_bits(family);
	memcpy(host.addr, addr, family == AF_INET ? 4 : 16);
	TAILQ_FOREACH_REVERSE(n, &v->nss, vpn_nss, link)
	{
		if (cidr_list_contains(&n->routed, &host))
			return n->session;
	}
	return NULL;
}

static cJSON *
vpn_cidrs_json(const struct cidr_list *l)
{
	cJSON *arr = cJSON_CreateArray();
	char buf[CIDR_STR_MAX];

	for (size_t i = 0; arr && i < l->n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(cidr_format(
		                              &l->v[i], buf, sizeof(buf))));
	return arr;
}

int
vpn_describe(const struct vpn *v, const char *ns, cJSON *obj)
{
	const struct vpn_ns *n = vpn_find(v, ns);
	cJSON *skipped, *dns, *domains;
	char buf[CIDR_STR_MAX];

	if (!n)
		return -ENOENT;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "tun");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "subnets");
	if (!cJSON_AddBoolToObject(obj, "tun", true) ||
	    !cJSON_AddStringToObject(
	        obj, "tun_name", v->dev ? tun_name(v->dev) : ""))
		return -ENOMEM;
	if (v->stack) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "fast_path");
		cJSON_AddBoolToObject(
		    obj, "fast_path", tunstack_fast_path(v->stack));
	}
	cJSON_AddItemToObject(obj, "subnets", vpn_cidrs_json(&n->routed));
	skipped = cJSON_AddArrayToObject(obj, "skipped_subnets");
	dns = cJSON_AddObjectToObject(obj, "dns");
	if (!skipped || !dns)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_skip; i++) {
		const struct route_skip *s = &n->skip[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			return -ENOMEM;
		cJSON_AddItemToArray(skipped, o);
		cJSON_AddStringToObject(
		    o, "subnet", cidr_format(&s->subnet, buf, sizeof(buf)));
		if (s->conflict.family)
			cJSON_AddStringToObject(o, "conflict",
			    cidr_format(&s->conflict, buf, sizeof(buf)));
		if (s->dev[0])
			cJSON_AddStringToObject(o, "dev", s->dev);
		cJSON_AddStringToObject(o, "reason", s->reason);
	}
	cJSON_AddStringToObject(dns, "mode",
	    v->rc && resolvconf_get_method(v->rc) == RESOLVCONF_RESOLVED
	        ? "systemd-resolved"
	        : "resolv.conf");
	cJSON_AddStringToObject(dns, "server", v->stub_addr);
	domains = cJSON_AddArrayToObject(dns, "domains");
	if (!domains)
		return -ENOMEM;
	cJSON_AddItemToArray(domains, cJSON_CreateString(n->domain));
	cJSON_AddItemToArray(domains, cJSON_CreateString(n->name));
	return 0;
}

const char *
vpn_tun_name(const struct vpn *v)
{
	return v->dev ? tun_name(v->dev) : NULL;
}

/* ---- life cycle ---- */

int
vpn_new(struct event_base *base, const struct vpn_config *cfg, struct vpn **ret)
{
	struct vpn *v = calloc(1, sizeof(*v));
	size_t n;

	if (!v)
		return -ENOMEM;
	v->base = base;
	v->ledger = cfg->ledger;
	v->method = cfg->resolver;
	v->no_fast_path = cfg->no_fast_path;
	TAILQ_INIT(&v->nss);
	v->state_dir = strdup(cfg->state_dir ? cfg->state_dir : "/run/telepod");
	v->resolv_conf =
	    strdup(cfg->resolv_conf ? cfg->resolv_conf : RESOLVCONF_PATH);
	n = (v->state_dir ? strlen(v->state_dir) : 0) + 32;
	v->save_path = malloc(n);
	if (!v->state_dir || !v->resolv_conf || !v->save_path) {
		vpn_free(v);
		return -ENOMEM;
	}
	snprintf(v->save_path, n, "%s/resolv.conf.orig", v->state_dir);
	*ret = v;
	return 0;
}

void
vpn_free(struct vpn *v)
{
	struct vpn_ns *n;

	if (!v)
		return;
	while ((n = TAILQ_FIRST(&v->nss)))
		vpn_ns_remove(v, n);
	vpn_all_down(v);
	free(v->routes);
	free(v->state_dir);
	free(v->resolv_conf);
	free(v->save_path);
	free(v);
}
