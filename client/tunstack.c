/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tunstack: the glue between telepodd's TUN device, the NAT table, a local
 * listener and the tunnel's streams (docs/vpn-tcp.md).
 *
 * A flow's life, with its NAT state:
 *
 *   SYN from the app, no entry  -> OPENING: SYN copied and held, OPEN sent
 *                                  (a detached stream: no local yet)
 *   OPEN_RESULT OK              -> ACCEPTING: the held SYN is rewritten and
 *                                  written to the listener
 *   listener accept()           -> OPEN: the socket is attached to the
 *                                  stream, which relays it from then on
 *   stream ends (CLOSED event)  -> CLOSING, or CLOSED once a RST or FINs
 *                                  both ways were seen: the kernel's two
 *                                  TCP ends finish through the entry
 *   timer                       -> gone
 *
 * A failed OPEN answers the held SYN (RST or ICMP) and removes the entry.
 * A SYN that reuses the 4-tuple of a closing flow starts a new flow.
 *
 * Streams and flows point at each other: the flow holds its stream until
 * the stream's CLOSED event (or open_cb error) clears it, and whenever
 * tunstack itself resets a stream it first detaches it from the flow and
 * clears the stream's event callback, so no mux callback can reach a freed
 * flow.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "client/fastpath.h"
#include "client/pkt.h"
#include "client/tun.h"
#include "client/tunstack.h"
#include "common/log.h"

/* Warnings of one kind: this many per window, then a count. */
#define TS_WARN_BURST     5
#define TS_WARN_WINDOW_MS 10000
/* Most bytes written to an accepted socket per write(). */
#define TS_MAX_WRITE (256 * 1024)
/* The NAT timers are looked at this often while any entry has one. */
#define TS_TICK_MS 500
/* An accepted flow goes to the kernel fast path once this many segments
 * with data crossed the stack: a connection of one request and one
 * response never gets there, so it does not pay the map's four bpf()
 * calls (which cost more than the few packets they would save). */
#define TS_FAST_AFTER_SEGS 4
/* Flows the fast path holds at most (two map entries each); more wait on
 * the slow path. The map's buckets (16 bytes per entry, rounded up to a
 * power of two) are kernel memory from the start: 2 MiB. */
#define TS_FAST_MAX_FLOWS 65536

/* TCP flags seen on a flow after its stream ended. */
#define TS_SEEN_FIN_APP 0x01
#define TS_SEEN_FIN_LST 0x02
#define TS_SEEN_RST     0x04

struct ts_flow {
	TAILQ_ENTRY(ts_flow) link;
	struct tunstack *ts;
	struct nat_entry *e;
	struct mux_stream *st; /* NULL once the stream ended */
	uint8_t *syn;          /* held SYN: vnet header + packet */
	size_t syn_len;
	uint8_t seen;
	uint8_t slow_segs; /* segments with data relayed while OPEN */
	bool fast;         /* its translations are in the kernel's fast path */
	bool fast_tried;   /* handed over, or refused: not again */
	char dst[64];      /* "10.96.0.20:80" for log lines */
};

TAILQ_HEAD(ts_flows, ts_flow);

struct ts_ratelimit {
	long long start;
	unsigned n;
	unsigned suppressed;
};

struct tunstack {
	struct event_base *base;
	struct tunstack_config cfg;
	tunstack_route_fn route;
	void *route_arg;
	struct nat *nat;
	struct fastpath *fast; /* NULL: every packet goes through us */
	size_t n_fast;         /* flows in it; detached while 0 */
	struct ts_flows flows;
	struct event *ev_read;
	struct event *ev_tick;
	struct evconnlistener *lev4;
	struct evconnlistener *lev6;
	uint16_t port;
	uint8_t laddr4[16]; /* listener addresses as in struct pkt_tuple */
	uint8_t laddr6[16];
	uint8_t vnet[PKT_VNET_HDR_LEN];
	uint8_t *buf; /* one packet */
	struct tunstack_stats stats;
	struct ts_ratelimit rl_bad, rl_proto, rl_full, rl_write;
	bool freeing;
};

static long long
ts_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void ts_warn(struct ts_ratelimit *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A per-packet warning, at most TS_WARN_BURST per window. */
static void
ts_warn(struct ts_ratelimit *rl, const char *fmt, ...)
{
	long long now = ts_now_ms();
	char line[256];
	va_list ap;

	if (now - rl->start >= TS_WARN_WINDOW_MS) {
		if (rl->suppressed)
			log_warn("tun: %u more like the last were not logged",
			    rl->suppressed);
		rl->start = now;
		rl->n = 0;
		rl->suppressed = 0;
	}
	if (rl->n >= TS_WARN_BURST) {
		rl->suppressed++;
		return;
	}
	rl->n++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warn("tun: %s", line);
}

static const char *
ts_addr_str(int family, const uint8_t *a, uint16_t port, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	evutil_inet_ntop(family, a, ip, sizeof(ip));
	snprintf(buf, cap, family == AF_INET ? "%s:%u" : "[%s]:%u", ip, port);
	return buf;
}

/* ---- writing into the device ---- */

static void
ts_write(struct tunstack *ts, const uint8_t *vnet, const uint8_t *p, size_t len)
{
	struct iovec iov[2];
	int n = 0;

	if (ts->cfg.vnet_hdr_len) {
		iov[n].iov_base = (void *)vnet;
		iov[n].iov_len = ts->cfg.vnet_hdr_len;
		n++;
	}
	iov[n].iov_base = (void *)p;
	iov[n].iov_len = len;
	n++;
	if (writev(ts->cfg.fd, iov, n) < 0) {
		ts->stats.write_errors++;
		ts_warn(&ts->rl_write,
		    "cannot write a packet to the device: %s", strerror(errno));
		return;
	}
	ts->stats.pkts_out++;
}

/* Writes an answer made by pkt_build_* (full checksums: a zero header). */
static void
ts_write_answer(struct tunstack *ts, const uint8_t *p, int len)
{
	static const uint8_t zero[PKT_VNET_HDR_LEN];

	if (len > 0)
		ts_write(ts, zero, p, (size_t)len);
}

static void
ts_answer_rst(struct tunstack *ts, const uint8_t *p, const struct pkt_info *pi)
{
	uint8_t out[PKT_ANSWER_MAX];

	ts_write_answer(ts, out, pkt_build_rst(p, pi, out, sizeof(out)));
}

static void
ts_answer_unreach(struct tunstack *ts, const uint8_t *p,
    const struct pkt_info *pi, enum pkt_unreach kind)
{
	uint8_t out[PKT_ANSWER_MAX];

	ts_write_answer(
	    ts, out, pkt_build_unreach(p, pi, kind, out, sizeof(out)));
}

/* ---- flows ---- */

static void ts_tick_arm(struct tunstack *ts);

/* Resets the flow's stream, if any, without any callback reaching the
 * flow: detached from it first. */
static void
ts_flow_reset_stream(struct ts_flow *f, uint32_t err, const char *why)
{
	struct mux_stream *st = f->st;

	if (!st)
		return;
	f->st = NULL;
	mux_stream_set_event_cb(st, NULL, NULL);
	/* A pending open_cb(CANCEL) sees f->st != st and ignores it. */
	mux_stream_reset(st, err, why);
}

/* The tuple an entry's segments from the application are rewritten to:
 * from the fake source to the listener. */
static void
ts_lst_tuple(
    const struct tunstack *ts, const struct nat_entry *e, struct pkt_tuple *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = e->orig.family;
	memcpy(ret->src, e->fake, 16);
	ret->sport = e->fake_port;
	memcpy(
	    ret->dst, e->orig.family == AF_INET ? ts->laddr4 : ts->laddr6, 16);
	ret->dport = ts->port;
}

/* The tuple of the segments that answer t: its ends swapped. */
static void
ts_tuple_reply(const struct pkt_tuple *t, struct pkt_tuple *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = t->family;
	memcpy(ret->src, t->dst, 16);
	ret->sport = t->dport;
	memcpy(ret->dst, t->src, 16);
	ret->dport = t->sport;
}

/* Hands an accepted flow's segments to the kernel's fast path: the
 * application's tuple becomes the listener-bound one, the listener's
 * reply tuple the application-bound one (as ts_tcp rewrites them). */
static void
ts_flow_fast(struct ts_flow *f)
{
	struct tunstack *ts = f->ts;
	struct pkt_tuple lst, rapp, rlst;
	int r;

	if (!ts->fast || f->fast_tried)
		return;
	f->fast_tried = true;
	/* IPv4 only: IPv6 subnets are not routed yet (docs/vpn-tcp.md). */
	if (f->e->orig.family != AF_INET)
		return;
	r = fastpath_attach(ts->fast);
	if (r < 0) {
		ts->stats.fast_failed++;
		ts_warn(&ts->rl_full,
		    "cannot attach the kernel fast path to the TUN device: %s; telepodd carries the flow itself (slower)",
		    strerror(-r));
		return;
	}
	ts_lst_tuple(ts, f->e, &lst);
	/* Replies: from the listener to the fake source, and from the
	 * cluster address back to the application. */
	ts_tuple_reply(&lst, &rlst);
	ts_tuple_reply(&f->e->orig, &rapp);
	r = fastpath_add(ts->fast, &f->e->orig, &lst, FASTPATH_DIR_TO_LST);
	if (r == 0)
		r = fastpath_add(ts->fast, &rlst, &rapp, FASTPATH_DIR_TO_APP);
	if (r < 0) {
		fastpath_del(ts->fast, &f->e->orig);
		if (ts->n_fast == 0)
			fastpath_detach(ts->fast);
		ts->stats.fast_failed++;
		if (r == -E2BIG)
			ts_warn(&ts->rl_full,
			    "the kernel fast path holds %u flows already; telepodd carries more itself (slower)",
			    TS_FAST_MAX_FLOWS);
		else
			ts_warn(&ts->rl_full,
			    "cannot hand a flow to the kernel fast path: %s; telepodd carries it itself (slower)",
			    strerror(-r));
		return;
	}
	f->fast = true;
	ts->n_fast++;
	ts->stats.fast_flows++;
}

/* A segment of an accepted flow went through the stack: with data, it
 * counts towards the fast path. */
static void
ts_flow_relayed(struct ts_flow *f, const struct pkt_info *pi)
{
	if (f->fast_tried || f->e->state != NAT_OPEN ||
	    pi->l4_len <= pi->tcp_hdr_len)
		return;
	if (++f->slow_segs >= TS_FAST_AFTER_SEGS)
		ts_flow_fast(f);
}

/* Takes the flow out of the fast path; before its entry is removed. */
static void
ts_flow_slow(struct ts_flow *f)
{
	struct pkt_tuple lst, rlst;

	if (!f->fast)
		return;
	f->fast = false;
	ts_lst_tuple(f->ts, f->e, &lst);
	ts_tuple_reply(&lst, &rlst);
	fastpath_del(f->ts->fast, &f->e->orig);
	fastpath_del(f->ts->fast, &rlst);
	/* The last one out takes the classifier off the device. */
	if (--f->ts->n_fast == 0)
		fastpath_detach(f->ts->fast);
}

/* Frees the flow's own memory (the entry is the table's). */
static void
ts_flow_free(struct ts_flow *f)
{
	TAILQ_REMOVE(&f->ts->flows, f, link);
	free(f->syn);
	free(f);
}

/* Ends a flow now: its stream reset, its entry removed. */
static void
ts_flow_remove(struct ts_flow *f, uint32_t err, const char *why)
{
	struct tunstack *ts = f->ts;

	ts_flow_reset_stream(f, err, why);
	ts_flow_slow(f);
	nat_remove(ts->nat, f->e);
	ts_flow_free(f);
}

/* The held SYN, parsed again (it was valid when held). */
static bool
ts_flow_syn(struct ts_flow *f, uint8_t **ret_p, struct pkt_info *ret_pi)
{
	size_t vl = f->ts->cfg.vnet_hdr_len;

	if (!f->syn || pkt_parse(f->syn + vl, f->syn_len - vl, ret_pi) < 0)
		return false;
	*ret_p = f->syn + vl;
	return true;
}

/* The stream is gone: the kernel's TCP ends finish through the entry. */
static void
ts_flow_closing(struct ts_flow *f)
{
	enum nat_state next = NAT_CLOSING;

	if ((f->seen & TS_SEEN_RST) ||
	    (f->seen & (TS_SEEN_FIN_APP | TS_SEEN_FIN_LST)) ==
	        (TS_SEEN_FIN_APP | TS_SEEN_FIN_LST))
		next = NAT_CLOSED;
	if (f->e->state != next)
		nat_set_state(f->ts->nat, f->e, next, ts_now_ms());
	ts_tick_arm(f->ts);
}

/* Notes FIN and RST of a translated segment; ends a closing flow early. */
static void
ts_flow_note(struct ts_flow *f, uint8_t flags, bool from_app)
{
	if (!(flags & (PKT_TCP_FIN | PKT_TCP_RST)))
		return;
	if (flags & PKT_TCP_RST)
		f->seen |= TS_SEEN_RST;
	if (flags & PKT_TCP_FIN)
		f->seen |= from_app ? TS_SEEN_FIN_APP : TS_SEEN_FIN_LST;
	if (f->e->state == NAT_CLOSING)
		ts_flow_closing(f);
}

static void
ts_stream_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct ts_flow *f = arg;

	if (ev == MUX_STREAM_WROTE) {
		/* The kernel has put the local socket's segment on the
		 * device: read it in this turn, not after an epoll_wait
		 * (unless the fast path delivered it already). */
		if (!f->ts->freeing && !f->fast)
			event_active(f->ts->ev_read, EV_READ, 1);
		return;
	}
	if (ev != MUX_STREAM_CLOSED || f->st != st)
		return;
	f->st = NULL;
	log_debug(LOG_CAT_TUN, "tun: %s: stream ended: %s", f->dst,
	    error ? wire_error_name(error) : "done");
	if (f->e->state == NAT_ACCEPTING || f->e->state == NAT_OPEN)
		ts_flow_closing(f);
}

static void
ts_open_cb(struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	struct ts_flow *f = arg;
	struct tunstack *ts = f->ts;
	struct pkt_info pi;
	struct pkt_tuple to;
	uint8_t *p;
	char esc[128];

	if (f->st != st)
		return; /* we reset it ourselves */
	if (error == WIRE_OK) {
		ts->stats.opened++;
		nat_set_state(ts->nat, f->e, NAT_ACCEPTING, ts_now_ms());
		ts_tick_arm(ts);
		if (ts_flow_syn(f, &p, &pi)) {
			bool partial = false;
			struct pkt_vnet vh;

			if (ts->cfg.vnet_hdr_len) {
				pkt_vnet_decode(f->syn, &vh);
				partial = vh.flags & PKT_VNET_F_NEEDS_CSUM;
			}
			ts_lst_tuple(ts, f->e, &to);
			if (pkt_rewrite(p, &pi, &to, partial) == 0)
				ts_write(ts, f->syn, p, pi.len);
		}
		free(f->syn);
		f->syn = NULL;
		log_debug(LOG_CAT_TUN, "tun: %s: stream %u open", f->dst,
		    mux_stream_id(st));
		return;
	}
	/* Failed: the stream ends after this returns; nothing of ours may
	 * be reached by its CLOSED event. */
	f->st = NULL;
	mux_stream_set_event_cb(st, NULL, NULL);
	log_debug(LOG_CAT_TUN, "tun: %s: %s: %s", f->dst,
	    wire_error_name(error),
	    log_escape(esc, sizeof(esc), msg, strlen(msg)));
	if (!ts->freeing && ts_flow_syn(f, &p, &pi)) {
		if (error == WIRE_ERR_REFUSED) {
			ts->stats.refused++;
			ts_answer_rst(ts, p, &pi);
		} else {
			ts->stats.unreachable++;
			ts_answer_unreach(ts, p, &pi,
			    error == WIRE_ERR_PROHIBITED ? PKT_UNREACH_ADMIN
			                                 : PKT_UNREACH_HOST);
		}
	}
	if (!ts->freeing) {
		nat_remove(ts->nat, f->e);
		ts_flow_free(f);
	}
}

static struct frame_addr
ts_frame_addr(const struct pkt_tuple *t)
{
	struct frame_addr a;

	memset(&a, 0, sizeof(a));
	if (t->family == AF_INET) {
		a.type = WIRE_ADDR_IPV4;
		memcpy(a.a.v4, t->dst, 4);
	} else {
		a.type = WIRE_ADDR_IPV6;
		memcpy(a.a.v6, t->dst, 16);
	}
	a.port = t->dport;
	return a;
}

/* True when addr lies in the device's own prefix of its family. */
static bool
ts_own_prefix(const struct tunstack *ts, int family, const uint8_t *addr)
{
	struct cidr c;

	memset(&c, 0, sizeof(c));
	c.family = family;
	c.prefix = family == AF_INET ? 32 : 128;
	memcpy(c.addr, addr, 16);
	if (family == AF_INET)
		return cidr_contains(&ts->cfg.addr4, &c);
	return ts->cfg.has_addr6 && cidr_contains(&ts->cfg.addr6, &c);
}

/* A SYN with no flow: hold it and open the stream. */
static void
ts_new_flow(struct tunstack *ts, const uint8_t *vnet, uint8_t *p,
    const struct pkt_info *pi)
{
	struct frame_addr dst = ts_frame_addr(&pi->t);
	struct mux_session *s;
	struct nat_entry *e;
	struct ts_flow *f;
	size_t vl = ts->cfg.vnet_hdr_len;
	char where[64];
	int r;

	if (pi->t.sport == 0 || pi->t.dport == 0)
		goto drop;
	if (ts_own_prefix(ts, pi->t.family, pi->t.dst)) {
		/* Nothing lives at the device's other addresses. */
		ts->stats.rst_sent++;
		ts_answer_rst(ts, p, pi);
		return;
	}
	if (nat_count_state(ts->nat, NAT_OPENING) >= ts->cfg.max_opening) {
		ts_warn(&ts->rl_full,
		    "%u connections are waiting for the tunnel; dropping a SYN (the application retries)",
		    ts->cfg.max_opening);
		goto drop;
	}
	s = ts->route(&dst, ts->route_arg);
	if (!s) {
		/* No tunnel: "Network is unreachable" at once. */
		ts->stats.unreachable++;
		ts_answer_unreach(ts, p, pi, PKT_UNREACH_NET);
		return;
	}
	r = nat_add(ts->nat, &pi->t, ts_now_ms(), &e);
	if (r == -EAFNOSUPPORT) {
		ts->stats.unreachable++;
		ts_answer_unreach(ts, p, pi, PKT_UNREACH_NET);
		return;
	}
	if (r < 0) {
		ts_warn(&ts->rl_full,
		    "cannot track another connection (%zu in the table): %s; dropping a SYN",
		    nat_count(ts->nat), strerror(-r));
		goto drop;
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->syn = malloc(vl + pi->len);
	if (!f || !f->syn) {
		if (f)
			free(f);
		nat_remove(ts->nat, e);
		goto drop;
	}
	f->ts = ts;
	f->e = e;
	e->user = f;
	memcpy(f->syn, vnet, vl);
	memcpy(f->syn + vl, p, pi->len);
	f->syn_len = vl + pi->len;
	ts_addr_str(
	    pi->t.family, pi->t.dst, pi->t.dport, f->dst, sizeof(f->dst));
	TAILQ_INSERT_TAIL(&ts->flows, f, link);
	r = mux_stream_open(s, &dst, NULL, ts_open_cb, f, &f->st);
	if (r < 0) {
		log_debug(LOG_CAT_TUN, "tun: %s: cannot open a stream: %s",
		    f->dst, strerror(-r));
		f->st = NULL;
		nat_remove(ts->nat, e);
		ts_flow_free(f);
		if (r == -ENOBUFS || r == -ENOMEM)
			goto drop; /* a limit: the SYN is retried */
		ts->stats.unreachable++;
		ts_answer_unreach(ts, p, pi,
		    r == -ENOTCONN || r == -ESHUTDOWN || r == -EOPNOTSUPP
		        ? PKT_UNREACH_NET
		        : PKT_UNREACH_HOST);
		return;
	}
	mux_stream_set_event_cb(f->st, ts_stream_event, f);
	mux_stream_notify_writes(f->st);
	ts->stats.flows++;
	ts_tick_arm(ts);
	log_debug(LOG_CAT_TUN, "tun: %s: SYN from %s held, stream %u opening",
	    f->dst,
	    ts_addr_str(
	        pi->t.family, pi->t.src, pi->t.sport, where, sizeof(where)),
	    mux_stream_id(f->st));
	return;
drop:
	ts->stats.dropped++;
}

/* ---- the packet path ---- */

static bool
ts_from_listener(const struct tunstack *ts, const struct pkt_tuple *t)
{
	if (t->sport != ts->port)
		return false;
	if (t->family == AF_INET)
		return memcmp(t->src, ts->laddr4, 16) == 0;
	return ts->cfg.has_addr6 && memcmp(t->src, ts->laddr6, 16) == 0;
}

static void
ts_tcp(struct tunstack *ts, const uint8_t *vnet, uint8_t *p,
    struct pkt_info *pi, bool partial)
{
	uint8_t fl = pi->tcp_flags;
	bool syn =
	    (fl & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST)) == PKT_TCP_SYN;
	struct nat_entry *e;
	struct ts_flow *f;
	struct pkt_tuple to;

	if (ts_from_listener(ts, &pi->t)) {
		/* The listener's side: back to the application. */
		e = nat_lookup_fake(
		    ts->nat, pi->t.family, pi->t.dst, pi->t.dport);
		if (!e || e->state == NAT_OPENING) {
			ts->stats.dropped++;
			return;
		}
		ts_tuple_reply(&e->orig, &to);
		pkt_rewrite(p, pi, &to, partial);
		ts_flow_note(e->user, fl, false);
		ts_flow_relayed(e->user, pi);
		ts->stats.to_app_pkts++;
		ts->stats.to_app_bytes += pi->len;
		ts_write(ts, vnet, p, pi->len);
		return;
	}
	e = nat_lookup_orig(ts->nat, &pi->t);
	if (e) {
		f = e->user;
		if (e->state == NAT_OPENING) {
			if (syn) {
				ts->stats.syn_dropped++;
			} else if (fl & PKT_TCP_RST) {
				/* The application gave up waiting. */
				ts_flow_remove(f, WIRE_ERR_CANCEL,
				    "the application reset the connection");
			} else {
				ts->stats.dropped++;
			}
			return;
		}
		if (syn &&
		    (e->state == NAT_CLOSING || e->state == NAT_CLOSED)) {
			/* The 4-tuple starts over: a new flow. */
			ts_flow_remove(f, WIRE_ERR_CANCEL, "connection reused");
		} else {
			ts_lst_tuple(ts, e, &to);
			pkt_rewrite(p, pi, &to, partial);
			ts_flow_note(f, fl, true);
			ts_flow_relayed(f, pi);
			ts->stats.to_lst_pkts++;
			ts->stats.to_lst_bytes += pi->len;
			ts_write(ts, vnet, p, pi->len);
			/* The kernel queued the data (or FIN) on the local
			 * socket within that write: read it in this turn. */
			if (f->st && ((fl & PKT_TCP_FIN) ||
			                 pi->l4_len > pi->tcp_hdr_len))
				mux_stream_read_soon(f->st);
			return;
		}
	}
	if (syn) {
		ts_new_flow(ts, vnet, p, pi);
		return;
	}
	/* A segment of no flow (e.g. from before a restart): reset it so
	 * the application does not wait for a connection that is gone. */
	if (!(fl & PKT_TCP_RST)) {
		ts->stats.rst_sent++;
		ts_answer_rst(ts, p, pi);
	}
}

/* Not TCP: answer what deserves an answer, drop the rest. */
static void
ts_other(struct tunstack *ts, const uint8_t *p, const struct pkt_info *pi)
{
	char a[64];

	if (pi->frag == PKT_FRAG_LATER || pi->frag == PKT_FRAG_FIRST) {
		ts_warn(&ts->rl_proto,
		    "fragmented packet (protocol %u) to %s dropped: telepod carries unfragmented TCP",
		    pi->proto,
		    ts_addr_str(pi->t.family, pi->t.dst, 0, a, sizeof(a)));
		ts->stats.dropped++;
		return;
	}
	switch (pi->proto) {
	case IPPROTO_UDP:
		/* "Connection refused" for UDP senders at once. */
		ts->stats.icmp_sent++;
		ts_answer_unreach(ts, p, pi, PKT_UNREACH_PORT);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((pi->proto == IPPROTO_ICMP && pi->icmp_type == 8) ||
		    (pi->proto == IPPROTO_ICMPV6 && pi->icmp_type == 128)) {
			/* Echo request: ICMP is not carried; say so. */
			ts->stats.icmp_sent++;
			ts_answer_unreach(ts, p, pi, PKT_UNREACH_ADMIN);
			return;
		}
		/* Neighbour discovery, router solicitations and the like
		 * belong to the device, not to the tunnel: quietly dropped. */
		ts->stats.dropped++;
		return;
	default:
		ts_warn(&ts->rl_proto,
		    "packet of protocol %u to %s dropped: telepod carries TCP",
		    pi->proto,
		    ts_addr_str(pi->t.family, pi->t.dst, 0, a, sizeof(a)));
		ts->stats.dropped++;
		return;
	}
}

static void
ts_packet(struct tunstack *ts, const uint8_t *vnet, uint8_t *p, size_t len)
{
	struct pkt_info pi;
	struct pkt_vnet vh;
	bool partial = false;
	int r;

	ts->stats.pkts_in++;
	ts->stats.bytes_in += len;
	r = pkt_parse(p, len, &pi);
	if (r < 0) {
		ts_warn(
		    &ts->rl_bad, "malformed packet of %zu bytes dropped", len);
		ts->stats.dropped++;
		return;
	}
	if (pi.proto != IPPROTO_TCP || pi.frag != PKT_FRAG_NONE) {
		ts_other(ts, p, &pi);
		return;
	}
	if (ts->cfg.vnet_hdr_len) {
		pkt_vnet_decode(vnet, &vh);
		if (pkt_vnet_check(&vh, &pi, &partial) < 0) {
			ts_warn(&ts->rl_bad,
			    "TCP packet with an inconsistent virtio_net_hdr dropped (flags %u, gso %u, csum %u+%u)",
			    vh.flags, vh.gso_type, vh.csum_start,
			    vh.csum_offset);
			ts->stats.dropped++;
			return;
		}
		if (vh.gso_type != PKT_VNET_GSO_NONE)
			ts->stats.gso_pkts++;
	}
	ts_tcp(ts, vnet, p, &pi, partial);
}

static void
ts_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunstack *ts = arg;
	size_t vl = ts->cfg.vnet_hdr_len;
	struct iovec iov[2];

	for (unsigned i = 0; i < ts->cfg.batch; i++) {
		ssize_t n;
		int k = 0;

		if (vl) {
			iov[k].iov_base = ts->vnet;
			iov[k].iov_len = vl;
			k++;
		}
		iov[k].iov_base = ts->buf;
		iov[k].iov_len = PKT_MAX_LEN;
		k++;
		n = readv(fd, iov, k);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				ts_warn(&ts->rl_bad,
				    "cannot read from the device: %s",
				    strerror(errno));
			return;
		}
		if ((size_t)n <= vl) {
			ts->stats.dropped++;
			continue;
		}
		ts_packet(ts, ts->vnet, ts->buf, (size_t)n - vl);
		if (ts->freeing)
			return;
	}
}

/* ---- timers ---- */

static void
ts_expired(struct nat_entry *e, void *arg)
{
	struct ts_flow *f = e->user;
	struct tunstack *ts = arg;
	struct pkt_info pi;
	uint8_t *p;

	if (!f)
		return;
	ts_flow_slow(f);
	switch (e->state) {
	case NAT_OPENING:
		log_debug(LOG_CAT_TUN, "tun: %s: no answer to the OPEN in time",
		    f->dst);
		ts->stats.unreachable++;
		if (ts_flow_syn(f, &p, &pi))
			ts_answer_unreach(ts, p, &pi, PKT_UNREACH_HOST);
		ts_flow_reset_stream(
		    f, WIRE_ERR_CANCEL, "no answer to the OPEN in time");
		break;
	case NAT_ACCEPTING:
		log_debug(LOG_CAT_TUN,
		    "tun: %s: the application never completed the handshake",
		    f->dst);
		ts_flow_reset_stream(f, WIRE_ERR_CANCEL,
		    "the application never completed the handshake");
		break;
	default:
		ts_flow_reset_stream(f, WIRE_ERR_CANCEL, "flow expired");
		break;
	}
	ts_flow_free(f);
}

static void
ts_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunstack *ts = arg;

	nat_expire(ts->nat, ts_now_ms(), ts_expired, ts);
	ts_tick_arm(ts);
}

static void
ts_tick_arm(struct tunstack *ts)
{
	struct timeval tv = {0, TS_TICK_MS * 1000};

	if (ts->freeing || evtimer_pending(ts->ev_tick, NULL) ||
	    nat_next_deadline(ts->nat) == 0)
		return;
	evtimer_add(ts->ev_tick, &tv);
}

/* ---- the listener ---- */

static void
ts_abort_fd(evutil_socket_t fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	evutil_closesocket(fd);
}

static void
ts_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct tunstack *ts = arg;
	uint8_t addr[16];
	uint16_t port;
	int family = sa->sa_family, r;
	struct nat_entry *e;
	struct ts_flow *f;
	struct bufferevent *bev;

	memset(addr, 0, sizeof(addr));
	if (family == AF_INET && salen >= (int)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(addr, &sin->sin_addr, 4);
		port = ntohs(sin->sin_port);
	} else if (family == AF_INET6 &&
	           salen >= (int)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(addr, &s6->sin6_addr, 16);
		port = ntohs(s6->sin6_port);
	} else {
		ts_abort_fd(fd);
		return;
	}
	e = nat_lookup_fake(ts->nat, family, addr, port);
	f = e ? e->user : NULL;
	if (!f || e->state != NAT_ACCEPTING || !f->st) {
		/* Not a flow of ours, or its stream ended meanwhile: the
		 * application sees a reset. */
		ts_abort_fd(fd);
		return;
	}
	/* TCP_NODELAY came with the socket from the listener (ts_listen). */
	bev = bufferevent_socket_new(ts->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		ts_abort_fd(fd);
		ts_flow_reset_stream(f, WIRE_ERR_INTERNAL, "out of memory");
		ts_flow_closing(f);
		return;
	}
	/* With TCP_NODELAY every write is a segment of its own, and on a
	 * device of MTU 65535 a segment is a packet through the TUN (and its
	 * ACK another): write up to TS_MAX_WRITE at once, not libevent's
	 * 16 KiB default. */
	bufferevent_set_max_single_write(bev, TS_MAX_WRITE);
	/* OPEN first: attach may end the stream at once (its CLOSED event
	 * then moves the flow on). */
	nat_set_state(ts->nat, e, NAT_OPEN, ts_now_ms());
	r = mux_stream_attach(f->st, bev);
	if (r < 0) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		bufferevent_free(bev);
		ts_flow_reset_stream(f, WIRE_ERR_INTERNAL, "cannot attach");
		ts_flow_closing(f);
		return;
	}
	ts->stats.accepted++;
	log_debug(LOG_CAT_TUN, "tun: %s: accepted, relaying", f->dst);
}

static void
ts_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct tunstack *ts = arg;
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: the flow's ACCEPTING timer cleans up. */
	ts_warn(&ts->rl_full, "accept on the TUN listener failed: %s",
	    evutil_socket_error_to_string(e));
}

static int
ts_listen(struct tunstack *ts, const struct cidr *addr, uint16_t port,
    struct evconnlistener **ret, uint16_t *ret_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char a[CIDR_STR_MAX];
	int r, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr->addr, 4);
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr->addr, 16);
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	}
	*ret = evconnlistener_new_bind(ts->base, ts_accept_cb, ts,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    TUNSTACK_BACKLOG, (struct sockaddr *)&ss, (int)sl);
	if (!*ret) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen,
		    "cannot listen on %s port %u for the TUN device's connections: %s",
		    cidr_format_addr(addr, a, sizeof(a)), port, strerror(-r));
		return r;
	}
	evconnlistener_set_error_cb(*ret, ts_accept_error_cb);
	/* Every relayed socket has TCP_NODELAY (docs/performance.md); Linux
	 * copies it from the listener to each accepted socket, which saves a
	 * setsockopt per connection. */
	if (setsockopt(evconnlistener_get_fd(*ret), IPPROTO_TCP, TCP_NODELAY,
	        &one, sizeof(one)) < 0) {
		r = -errno;
		snprintf(err, errlen, "TCP_NODELAY on the TUN listener: %s",
		    strerror(-r));
		return r;
	}
	sl = sizeof(ss);
	if (getsockname(
	        evconnlistener_get_fd(*ret), (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "getsockname: %s", strerror(-r));
		return r;
	}
	*ret_port = ntohs(ss.ss_family == AF_INET
	                      ? ((struct sockaddr_in *)&ss)->sin_port
	                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* The pool must route into the device (inside its prefix) and must not
 * hold the device's own address. */
static bool
ts_pool_ok(const struct cidr *pool, const struct cidr *addr)
{
	struct cidr host = *addr;

	host.prefix = (uint8_t)cidr_family_bits(addr->family);
	return cidr_contains(addr, pool) && !cidr_contains(pool, &host);
}

/* ---- public ---- */

void
tunstack_config_init(struct tunstack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = -1;
	cfg->vnet_hdr_len = PKT_VNET_HDR_LEN;
	cfg->fast_path = true;
	cidr_parse_host(TUN_DEFAULT_ADDR4, &cfg->addr4);
	nat_config_init(&cfg->nat);
}

int
tunstack_new(struct event_base *base, const struct tunstack_config *cfg,
    tunstack_route_fn route, void *arg, struct tunstack **ret, char *err,
    size_t errlen)
{
	struct tunstack *ts;
	char a[CIDR_STR_MAX], b[CIDR_STR_MAX];
	uint16_t port6;
	uint64_t seed;
	int r;

	if (cfg->fd < 0 ||
	    (cfg->vnet_hdr_len != 0 && cfg->vnet_hdr_len != PKT_VNET_HDR_LEN) ||
	    cfg->addr4.family != AF_INET ||
	    (cfg->has_addr6 && cfg->addr6.family != AF_INET6) || !route) {
		snprintf(err, errlen, "invalid TUN stack configuration");
		return -EINVAL;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->base = base;
	ts->cfg = *cfg;
	ts->route = route;
	ts->route_arg = arg;
	TAILQ_INIT(&ts->flows);
	if (!ts->cfg.batch)
		ts->cfg.batch = TUNSTACK_DEFAULT_BATCH;
	if (!ts->cfg.max_opening)
		ts->cfg.max_opening = TUNSTACK_DEFAULT_MAX_OPENING;
	if (ts->cfg.nat.pool4.family == 0)
		cidr_parse(NAT_DEFAULT_POOL4, &ts->cfg.nat.pool4, NULL);
	if (!ts_pool_ok(&ts->cfg.nat.pool4, &ts->cfg.addr4) ||
	    (ts->cfg.nat.pool6.family &&
	        (!ts->cfg.has_addr6 ||
	            !ts_pool_ok(&ts->cfg.nat.pool6, &ts->cfg.addr6)))) {
		const struct cidr *bad =
		    ts_pool_ok(&ts->cfg.nat.pool4, &ts->cfg.addr4)
		        ? &ts->cfg.nat.pool6
		        : &ts->cfg.nat.pool4;

		snprintf(err, errlen,
		    "the NAT pool %s must lie inside the TUN device's prefix %s and not hold its address",
		    cidr_format(bad, a, sizeof(a)),
		    cidr_format(bad->family == AF_INET ? &ts->cfg.addr4
		                                       : &ts->cfg.addr6,
		        b, sizeof(b)));
		r = -EINVAL;
		goto fail;
	}
	memcpy(ts->laddr4, ts->cfg.addr4.addr, 16);
	memcpy(ts->laddr6, ts->cfg.addr6.addr, 16);
	evutil_secure_rng_get_bytes(&seed, sizeof(seed));
	r = nat_new(&ts->cfg.nat, seed, &ts->nat);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the NAT table: %s",
		    strerror(-r));
		goto fail;
	}
	ts->buf = malloc(PKT_MAX_LEN);
	ts->ev_read =
	    event_new(base, cfg->fd, EV_READ | EV_PERSIST, ts_read_cb, ts);
	ts->ev_tick = evtimer_new(base, ts_tick_cb, ts);
	if (!ts->buf || !ts->ev_read || !ts->ev_tick) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	r = ts_listen(
	    ts, &ts->cfg.addr4, cfg->port, &ts->lev4, &ts->port, err, errlen);
	if (r < 0)
		goto fail;
	if (ts->cfg.has_addr6) {
		r = ts_listen(ts, &ts->cfg.addr6, ts->port, &ts->lev6, &port6,
		    err, errlen);
		if (r < 0)
			goto fail;
	}
	if (ts->cfg.ifindex > 0 && ts->cfg.fast_path) {
		unsigned max = ts->cfg.nat.max_entries
		                   ? ts->cfg.nat.max_entries
		                   : NAT_DEFAULT_MAX_ENTRIES;
		char why[TUNSTACK_ERROR_MAX];

		if (max > TS_FAST_MAX_FLOWS)
			max = TS_FAST_MAX_FLOWS;
		r = fastpath_open(
		    ts->cfg.ifindex, max, &ts->fast, why, sizeof(why));
		if (r < 0)
			log_warn(
			    "tun: no kernel fast path (%s); telepodd carries every packet itself (slower)",
			    why);
		else
			log_debug(LOG_CAT_TUN,
			    "tun: kernel fast path loaded (on the device while flows use it)");
	}
	if (event_add(ts->ev_read, NULL) < 0) {
		snprintf(err, errlen, "cannot watch the TUN device");
		r = -EIO;
		goto fail;
	}
	log_debug(LOG_CAT_TUN, "tun: listening on %s port %u",
	    cidr_format_addr(&ts->cfg.addr4, a, sizeof(a)), ts->port);
	*ret = ts;
	return 0;
fail:
	tunstack_free(ts);
	return r;
}

void
tunstack_free(struct tunstack *ts)
{
	struct ts_flow *f;

	if (!ts)
		return;
	ts->freeing = true;
	if (ts->ev_read)
		event_free(ts->ev_read);
	if (ts->ev_tick)
		event_free(ts->ev_tick);
	if (ts->lev4)
		evconnlistener_free(ts->lev4);
	if (ts->lev6)
		evconnlistener_free(ts->lev6);
	/* The device goes away: no flow can go on. */
	while ((f = TAILQ_FIRST(&ts->flows))) {
		ts_flow_reset_stream(
		    f, WIRE_ERR_SHUTDOWN, "the TUN device is closing");
		ts_flow_free(f);
	}
	fastpath_free(ts->fast);
	nat_free(ts->nat);
	free(ts->buf);
	free(ts);
}

uint16_t
tunstack_port(const struct tunstack *ts)
{
	return ts->port;
}

void
tunstack_get_stats(const struct tunstack *ts, struct tunstack_stats *ret)
{
	struct fastpath_stats fs;

	*ret = ts->stats;
	ret->nat_entries = nat_count(ts->nat);
	ret->fast_path = tunstack_fast_path(ts);
	ret->fast_attached = ts->fast && fastpath_attached(ts->fast);
	if (ts->fast && fastpath_get_stats(ts->fast, &fs) == 0) {
		ret->fast_to_lst_pkts = fs.pkts[FASTPATH_DIR_TO_LST];
		ret->fast_to_lst_bytes = fs.bytes[FASTPATH_DIR_TO_LST];
		ret->fast_to_app_pkts = fs.pkts[FASTPATH_DIR_TO_APP];
		ret->fast_to_app_bytes = fs.bytes[FASTPATH_DIR_TO_APP];
	}
}

bool
tunstack_fast_path(const struct tunstack *ts)
{
	return ts->fast != NULL;
}

int
tunstack_fast_entries(const struct tunstack *ts, size_t *ret)
{
	if (!ts->fast) {
		*ret = 0;
		return 0;
	}
	return fastpath_count(ts->fast, ret);
}
