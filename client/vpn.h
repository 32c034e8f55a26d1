/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpn: telepodd's TUN mode, the machine-side half of a connected namespace
 * (docs/vpn-tcp.md). One TUN device serves every namespace connected with
 * TUN; the first one brings it up together with the DNS stub
 * (client/dnsstub, on the device's address, port 53) and the system
 * resolver's configuration (client/resolvconf), the last one takes them
 * all down again. Each namespace adds its routes: the server's subnets
 * plus --also-proxy minus --never-proxy (client/cidr), except those that
 * overlap a route the machine already has (client/route), unless
 * --allow-conflicting-subnet allows them. Two namespaces wanting the same
 * prefix share its route (counted).
 *
 * Every change goes through the netstate ledger first (write-ahead), so a
 * telepodd killed with SIGKILL leaves records the next one undoes; a
 * failed attach undoes what it did before returning.
 *
 * The packet path (client/tunstack) runs on the device while it is up and
 * opens each flow's stream on the session vpn_route() picks.
 *
 * Blocking netlink, file I/O and short commands (resolvectl): connect and
 * disconnect only.
 */
#ifndef TELEPOD_CLIENT_VPN_H
#define TELEPOD_CLIENT_VPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "client/cidr.h"
#include "client/resolvconf.h"

struct event_base;
struct mux_session;
struct netstate;
struct vpn;

/* Longest error sentence vpn_* write; size err buffers with it. */
#define VPN_ERROR_MAX 1024
/* Port of the DNS stub (the system resolver can only use 53). */
#define VPN_DNS_PORT 53
/* The cluster domain when the server's HELLO names none. */
#define VPN_DEFAULT_DOMAIN "cluster.local"

struct vpn_config {
	/* The ledger (borrowed; outlives the vpn): every change is
	 * recorded there before it is made. */
	struct netstate *ledger;
	/* Where the copy of the original resolv.conf goes for people
	 * (resolv.conf.orig). Copied. */
	const char *state_dir;
	/* RESOLVCONF_DETECT normally; FILE or RESOLVED forces one. */
	enum resolvconf_method resolver;
	/* The resolver file; NULL: RESOLVCONF_PATH. Copied. */
	const char *resolv_conf;
	/* Keep the TUN device's kernel fast path off (client/fastpath). */
	bool no_fast_path;
};

/* What a namespace asks for. Strings are copied; lists are borrowed for
 * the call. */
struct vpn_params {
	const char *ns;
	/* NULL: the device already up, else TUN_DEFAULT_NAME. */
	const char *tun_name;
	/* From the server's HELLO: "cluster-domain" (NULL:
	 * VPN_DEFAULT_DOMAIN) and "subnets" (comma separated; NULL: none). */
	const char *cluster_domain;
	const char *subnets;
	const struct cidr_list *also_proxy;
	const struct cidr_list *never_proxy;
	const struct cidr_list *allow_conflicting;
	/* The ready session (borrowed; see vpn_set_session). */
	struct mux_session *session;
};

/* Creates the TUN mode, with nothing up yet. cfg is copied (the ledger is
 * borrowed). Returns 0 and *ret, or -ENOMEM. */
int vpn_new(
    struct event_base *base, const struct vpn_config *cfg, struct vpn **ret);

/* Detaches every namespace (undoing their changes) and frees v. Accepts
 * NULL. */
void vpn_free(struct vpn *v);

/*
 * Sets up namespace p->ns: the device, stub and resolver when it is the
 * first, its routes, its DNS zone, its search domains. Returns 0, or a
 * negative errno with a sentence in err (and nothing of p->ns left):
 * -EEXIST (p->ns is attached already, or the device name is taken),
 * -EINVAL (a bad subnet from the server, or another --tun-name than the
 * device that is up), -EPERM (not root), or what the kernel, the ledger
 * or the resolver said.
 */
int vpn_attach(
    struct vpn *v, const struct vpn_params *p, char *err, size_t errlen);

/* Undoes namespace ns (routes, zone, search domains; with the last one
 * the resolver, stub and device). Failures are logged; the ledger keeps
 * what could not be undone for the next start. Returns 0 or -ENOENT. */
int vpn_detach(struct vpn *v, const char *ns);

/* True when ns is attached. */
bool vpn_attached(const struct vpn *v, const char *ns);

/* Number of attached namespaces. */
size_t vpn_count(const struct vpn *v);

/*
 * Tells the session of ns now: the ready one after a reconnect, NULL while
 * it reconnects (its names then get SERVFAIL and its destinations are
 * refused). Call before the previous session is freed.
 */
void vpn_set_session(struct vpn *v, const char *ns, struct mux_session *s);

/* Passes an answer to a DNS query of the stub on. */
void vpn_dns_answer(struct vpn *v, struct mux_session *s, uint32_t id,
    uint32_t error, const uint8_t *msg, size_t len);

/*
 * The session that serves destination addr (family AF_INET or AF_INET6,
 * 4 or 16 bytes in network order): the most recently attached namespace
 * whose routes hold it, or NULL (no such namespace, or it is
 * reconnecting).
 */
struct mux_session *vpn_route(
    const struct vpn *v, int family, const uint8_t *addr);

/*
 * Adds what `telepod status` and connect show about ns to obj: "tun"
 * (true), "tun_name", "subnets" (routed), "skipped_subnets" ([{"subnet",
 * "conflict", "dev", "reason"}]) and "dns" ({"mode", "server",
 * "domains"}). Returns 0, -ENOENT or -ENOMEM.
 */
int vpn_describe(const struct vpn *v, const char *ns, cJSON *obj);

/* The TUN device's name while it is up, else NULL. Borrowed. */
const char *vpn_tun_name(const struct vpn *v);

#endif
