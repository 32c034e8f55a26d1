/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolver: c-ares on the libevent loop. Resolves host names for OPEN
 * (honouring the pod's resolv.conf: servers, search list, ndots) and passes
 * clients' raw DNS queries through to the cluster resolver unchanged (every
 * record type; rcodes such as NXDOMAIN and SERVFAIL come back as they are).
 * Nothing blocks: c-ares reports its sockets through the socket-state
 * callback and its deadlines through ares_timeout; results are always
 * delivered from the event loop, never from inside a resolver_* call.
 */
#ifndef TELEPOD_SERVER_RESOLVER_H
#define TELEPOD_SERVER_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct resolver;
struct resolver_req;

/* At most this many addresses are returned per name. */
#define RESOLVER_MAX_ADDRS 16

struct resolver_config {
	/* resolv.conf to read; NULL for the system's (/etc/resolv.conf). */
	const char *resolv_conf;
	/* "ip[:port],..." replacing resolv.conf's name servers; NULL keeps
	 * them (tests point this at a local dnsmasq). */
	const char *servers;
	/* Per-try timeout and tries; 0 keeps resolv.conf's / c-ares's. */
	unsigned timeout_ms;
	unsigned tries;
};

/*
 * Name lookup result: err is WIRE_OK with n >= 1 addresses (sockaddr_in or
 * sockaddr_in6, port set), or NAME_NOT_FOUND (no such name, or no A/AAAA)
 * or NAME_FAILURE (server failure, timeout, no servers) with n == 0. why is
 * a static text for logs (NULL on success). Pointers are valid only during
 * the call.
 */
typedef void (*resolver_addr_cb)(uint32_t err, const char *why,
    const struct sockaddr_storage *addrs, size_t n, void *arg);

/*
 * Raw query result: err is WIRE_OK with the answer message (its id equal to
 * the query's; a FORMERR / NOTIMP reply built locally for a query that
 * dnsmsg_check_query rejects), or TIMEOUT / NAME_FAILURE with no message.
 * msg is valid only during the call.
 */
typedef void (*resolver_dns_cb)(
    uint32_t err, const char *why, const uint8_t *msg, size_t len, void *arg);

/*
 * Creates a resolver on base. cfg may be NULL for the defaults. Returns 0,
 * -ENOMEM, or -EINVAL / -EIO when c-ares cannot be initialised (a bad
 * servers list, an unreadable resolv.conf); the c-ares reason is logged at
 * debug level.
 */
int resolver_new(struct event_base *base, const struct resolver_config *cfg,
    struct resolver **ret_resolver);

/* Frees the resolver. Pending requests are dropped without their
 * callbacks. Accepts NULL. */
void resolver_free(struct resolver *r);

/*
 * Looks up name (A and AAAA, the search list applied per ndots; numeric
 * addresses accepted) and reports addresses with port set. Returns 0 with
 * the request in *ret_req (valid until its callback runs or it is
 * cancelled), -EINVAL for an empty name, or -ENOMEM.
 */
int resolver_resolve(struct resolver *r, const char *name, uint16_t port,
    resolver_addr_cb cb, void *arg, struct resolver_req **ret_req);

/*
 * Sends the raw DNS query msg[0..len) (copied) to the resolv.conf servers
 * (no search list), over TCP when it is larger than 512 bytes or the UDP
 * answer is truncated. Returns 0 with the request in *ret_req, -EMSGSIZE for
 * a len outside 12..65535, or -ENOMEM.
 */
int resolver_query(struct resolver *r, const uint8_t *msg, size_t len,
    resolver_dns_cb cb, void *arg, struct resolver_req **ret_req);

/* Cancels a request whose callback has not run yet; the callback will not
 * run. Accepts NULL. */
void resolver_cancel(struct resolver_req *req);

/*
 * Writes the search domains c-ares uses (from resolv.conf's search or
 * domain line, or LOCALDOMAIN) space-separated into out. Returns the length
 * written (0 when there are none) or -EMSGSIZE when out is too small.
 */
int resolver_search_list(struct resolver *r, char *out, size_t cap);

#endif
