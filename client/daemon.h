/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon: the state of telepodd. It owns the control server (client/ctl)
 * and its handlers (version, connect, status, quit, env), one conn per
 * connected namespace (client/conn), the SOCKS5 entry (client/socksd) and
 * the DNS resolver used to find servers. Authorization follows
 * proto/CONTROL.md: anyone who can open the socket may connect a session
 * and becomes its owner; only root and the owner may command it.
 *
 * SOCKS routing with several sessions: a host name names its namespace the
 * Kubernetes way, so "svc.NS", "svc.NS.svc", "svc.NS.svc.cluster.local"
 * and "1-2-3-4.NS.pod.cluster.local" go to NS's session (the label before
 * a "svc" or "pod" label, else the last label of a name with two or more
 * labels). Anything else (addresses, other names) goes to the most
 * recently created session. With one session, everything goes to it.
 *
 * TUN mode (client/vpn): a connect without no_tun routes the server's
 * subnets into the TUN device and points the resolver at the DNS stub once
 * the session is up; the connect fails (and the session closes) when that
 * cannot be done. The session's routes and DNS go when it closes (quit,
 * SIGTERM); what a killed daemon left is undone at the next start from
 * the netstate ledger (see telepodd.c).
 */
#ifndef TELEPOD_CLIENT_DAEMON_H
#define TELEPOD_CLIENT_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "client/resolvconf.h"
#include "proto/frame.h"

struct event_base;
struct daemon;
struct conn;
struct netstate;

struct daemon_config {
	const char *socket_path; /* control socket; copied */
	mode_t socket_mode;      /* 0 = 0660 */
	gid_t socket_gid;        /* (gid_t)-1 = leave the group alone */
	const char *socks_addr;  /* "127.0.0.1:1080"; port 0 allowed */
	/* Tests shorten these; 0 means the conn defaults. */
	unsigned backoff_min_ms;
	unsigned backoff_max_ms;
	unsigned dead_peer_ms;
	unsigned ping_interval_ms;
	/* TUN mode. ledger: the netstate ledger, recovered already
	 * (borrowed, outlives the daemon); NULL refuses TUN connects.
	 * state_dir: where the copy of the original resolv.conf goes
	 * (copied). resolver: how to configure it (DETECT normally). */
	struct netstate *ledger;
	const char *state_dir;
	enum resolvconf_method resolver;
	/* No kernel fast path on the TUN device (telepodd --no-fast-path):
	 * every packet goes through telepodd. */
	bool no_fast_path;
	/* Never yield the CPU to the applications fed (telepodd --no-yield). */
	bool no_yield;
};

/*
 * Creates the daemon on base: listens on the control socket and the SOCKS
 * address. Returns 0 and *ret_daemon, or a negative errno with a sentence
 * in err (socket in use, address in use, ...).
 */
int daemon_new(struct event_base *base, const struct daemon_config *cfg,
    struct daemon **ret_daemon, char *err, size_t errlen);

/*
 * Stops gracefully: closes the control socket (removing its file) and the
 * SOCKS listener, answers pending connects "busy", sends GOAWAY on every
 * session and waits for them to drain (bounded by the conn drain
 * deadline). done(arg) is called from the loop when every session is
 * closed. A second call only replaces done.
 */
void daemon_stop(struct daemon *d, void (*done)(void *arg), void *arg);

/* Frees everything at once (sessions reset). Accepts NULL. */
void daemon_free(struct daemon *d);

/* The SOCKS5 entry's address with its real port. Borrowed. */
const char *daemon_socks_address(const struct daemon *d);

/* Number of sessions (any state). */
size_t daemon_conn_count(const struct daemon *d);

/*
 * The namespace a host name names (see the header comment), written to
 * out (cap bytes). Returns true when the name names one. Exposed for
 * tests.
 */
bool daemon_name_namespace(const char *name, char *out, size_t cap);

#endif
