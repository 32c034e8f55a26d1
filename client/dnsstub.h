/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsstub: telepodd's DNS server for the laptop. It listens on UDP and TCP
 * at one address (on the TUN device or 127.0.0.x, port 53) and answers
 * every query the system resolver sends it:
 *
 *  - names of the cluster (dnswire_route: "*.cluster.local", "*.NS",
 *    "*.NS.svc", "*.NS.pod" for a connected namespace NS, and bare names
 *    like "gateway") go through the tunnel as DNS_QUERY on the session of
 *    their namespace; names that are not absolute in the cluster are asked
 *    in their absolute form ("gateway" as "gateway.NS.svc.cluster.local")
 *    and the answer is rewritten to the client's question (owners renamed,
 *    see client/dnswire.h);
 *  - every other name is forwarded unchanged to the original name servers
 *    (those of /etc/resolv.conf before telepodd changed it) over the
 *    client's transport, and their answer is relayed byte for byte with
 *    the client's id.
 *
 * Choices:
 *  - A cluster name whose namespace is connected but whose session is not
 *    ready now (reconnecting) is answered SERVFAIL at once: resolvers try
 *    again, and nothing waits for a session that may take long to return.
 *  - Names under a namespace that is not connected ("db.other") are not
 *    recognised as cluster names: they go to the original name servers
 *    (which answer NXDOMAIN for them in practice). Absolute cluster names
 *    of any namespace ("db.other.svc.cluster.local") go to the session of
 *    the named namespace if connected, else to the most recent ready
 *    session: the cluster's DNS answers for every namespace.
 *  - A name the stub qualified (bare, "x.NS", "x.NS.svc") that the cluster
 *    answers NXDOMAIN is then asked of the original name servers as it
 *    was sent, so a namespace named like a top-level domain ("dev") does
 *    not hide that domain's names; their answer is relayed if it is
 *    NOERROR, else (NXDOMAIN, REFUSED, SERVFAIL, no answer) the cluster's
 *    NXDOMAIN is.
 *  - Upstream deadline DNSSTUB_TIMEOUT_MS per query (the original servers
 *    share it, tried in turn): SERVFAIL when it passes, for cluster and
 *    other names alike.
 *  - Queries are refused with SERVFAIL beyond max_pending in flight;
 *    unparsable queries are answered FORMERR when their header is readable
 *    and dropped otherwise; responses (QR set) are dropped.
 *  - Upstream ids: each forwarded query gets a random id on its own
 *    connected socket; each cluster query gets the mux's fresh id. Two
 *    clients using the same DNS id never collide.
 *  - A cluster answer too large for a UDP client (512 bytes, or its EDNS
 *    size) is replaced by an empty answer with TC set, so the client
 *    retries over TCP.
 *
 * Everything runs on the event_base given to dnsstub_new; nothing blocks.
 */
#ifndef TELEPOD_CLIENT_DNSSTUB_H
#define TELEPOD_CLIENT_DNSSTUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct mux_session;
struct dnsstub;

/* Defaults (0 in struct dnsstub_config means these). */
#define DNSSTUB_TIMEOUT_MS      5000 /* per query, upstream */
#define DNSSTUB_MAX_PENDING     1024 /* queries in flight */
#define DNSSTUB_MAX_TCP_CLIENTS 64
#define DNSSTUB_TCP_IDLE_MS     10000 /* RFC 7766 suggests seconds */
/* Hard limits. */
#define DNSSTUB_MAX_SERVERS      8
#define DNSSTUB_MAX_ZONES        64
#define DNSSTUB_MAX_QUERY        4096 /* bytes of one client query */
#define DNSSTUB_TCP_MAX_PER_CONN 16   /* pipelined queries per TCP client */
#define DNSSTUB_TCP_OUT_CAP      (256u * 1024u)
#define DNSSTUB_MAX_ADDR         64

/*
 * How the stub reaches the cluster: filled by the daemon, copied by
 * dnsstub_new. Neither function may call back into the stub.
 */
struct dnsstub_upstreams {
	/* Sends the DNS message msg (len bytes, borrowed) on session and
	 * writes the request id; the daemon later calls dnsstub_answer with
	 * (session, id). In telepodd: mux_send_dns_query. Returns 0 or a
	 * negative errno (the client gets SERVFAIL). */
	int (*send)(struct mux_session *session, const uint8_t *msg, size_t len,
	    uint32_t *ret_id, void *arg);
	/* Forgets request id on session (its deadline passed, or the stub is
	 * being freed). May be NULL. In telepodd: mux_cancel_dns_query. */
	void (*cancel)(struct mux_session *session, uint32_t id, void *arg);
	void *arg;
};

struct dnsstub_config {
	/* "127.0.0.1:53", "[::1]:53", "198.18.0.1:53"; port 0 picks one
	 * free for both UDP and TCP (tests). Copied. */
	const char *listen;
	/* The original name servers (port set; 53 normally), tried in
	 * order. Copied; at most DNSSTUB_MAX_SERVERS. None: other names are
	 * answered SERVFAIL. */
	const struct sockaddr_storage *servers;
	size_t n_servers;
	unsigned timeout_ms;
	unsigned max_pending;
	unsigned max_tcp_clients;
	unsigned tcp_idle_ms;
};

/*
 * Binds UDP and TCP on cfg->listen and starts answering on base.
 * upstreams is copied. Returns 0 and *ret_stub, or a negative errno with a
 * sentence in err (-EINVAL for a bad address or too many servers, the
 * bind errno such as -EADDRINUSE or -EACCES).
 */
int dnsstub_new(struct event_base *base, const struct dnsstub_config *cfg,
    const struct dnsstub_upstreams *upstreams, struct dnsstub **ret_stub,
    char *err, size_t errlen);

/*
 * Closes the sockets and every TCP client, drops pending queries without
 * answering them (cluster ones are cancelled through upstreams.cancel on
 * their session, which must still be alive: see dnsstub_set_zone).
 * Accepts NULL.
 */
void dnsstub_free(struct dnsstub *stub);

/*
 * Declares the connected namespace ns ("jakub") with its cluster domain
 * ("cluster.local", from the server's HELLO) and its session now: ready,
 * or NULL while it reconnects (its names are then answered SERVFAIL). The
 * most recently added namespace is the default one (bare names). Call on
 * every change: when a session becomes ready, when it drops, and BEFORE a
 * session is freed. Queries pending on the namespace's previous session
 * are answered SERVFAIL at once and that session is never used again (no
 * cancel either: it may be gone). Returns 0, -EINVAL (ns is not one DNS
 * label, or a bad domain) or -ENOSPC (DNSSTUB_MAX_ZONES).
 */
int dnsstub_set_zone(struct dnsstub *stub, const char *ns,
    const char *cluster_domain, struct mux_session *session);

/* Forgets namespace ns (disconnected): its pending queries are answered
 * SERVFAIL and its session is not used again. Returns 0 or -ENOENT. */
int dnsstub_remove_zone(struct dnsstub *stub, const char *ns);

/*
 * The answer to request id on session, from the daemon's on_dns_answer:
 * error WIRE_OK with the DNS message (borrowed), or a WIRE_ERR_* code and
 * no message (the client gets SERVFAIL). Unknown (session, id) pairs are
 * ignored (a late answer after the deadline).
 */
void dnsstub_answer(struct dnsstub *stub, struct mux_session *session,
    uint32_t id, uint32_t error, const uint8_t *msg, size_t len);

/* The bound address with its real port ("127.0.0.1:40123"). Borrowed. */
const char *dnsstub_address(const struct dnsstub *stub);

/* Queries in flight (cluster and forwarded). */
unsigned dnsstub_pending(const struct dnsstub *stub);

#endif
