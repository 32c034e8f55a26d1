/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/tunstack without root: a SOCK_SEQPACKET socketpair
 * stands in for the TUN device (one packet per read, with its 10-byte
 * virtio_net_hdr), the stack's listener is on 127.0.0.1 with fake sources
 * from 127.77.0.0/16 (all of 127/8 is local, so a socket bound to a fake
 * address reaches the listener the way the rewritten SYN would), and two
 * mux sessions over a bufferevent_pair stand in for the tunnel, the
 * "server" answering OPENs by destination port.
 *
 * Checked: ICMP answers to UDP and ping; RST for a segment of no flow;
 * network unreachable without a session; the held SYN answered with a RST
 * (REFUSED), ICMP host unreachable (UNREACHABLE), administratively
 * prohibited (PROHIBITED); retransmitted SYNs dropped while the OPEN is
 * pending, an application RST cancelling it; the released SYN rewritten
 * to the listener with a right checksum; the accepted socket relayed
 * through the stream (echo); rewriting both ways with full and partial
 * checksums; the OPENING and ACCEPTING timers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "client/pkt.h"
#include "client/tunstack.h"
#include "common/mux.h"
#include "tests/unit/cunit_main.h"

#define WAIT_MS 5000

struct world {
	struct event_base *base;
	int dev[2]; /* [0] the stack's "TUN" fd, [1] the test's */
	struct mux_session *client, *server;
	int ready;
	bool route_up;
	struct tunstack *ts;
	/* The server's streams left pending (port 4) and their ends. */
	struct mux_stream *pending[8];
	int n_pending;
	int pending_closed;
	uint32_t pending_err;
	struct bufferevent *echo[8];
	int n_echo;
};

static long long
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the tunnel's far end ---- */

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_EOF)
		bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
}

static void
pending_event(
    struct mux_stream *st, enum mux_stream_event ev, uint32_t error, void *arg)
{
	struct world *w = arg;

	if (ev != MUX_STREAM_CLOSED)
		return;
	w->pending_closed++;
	w->pending_err = error;
	for (int i = 0; i < w->n_pending; i++)
		if (w->pending[i] == st)
			w->pending[i] = NULL;
}

/* The server answers by port: 1 refused, 2 unreachable, 3 prohibited,
 * 4 never (pending), anything else accepted with an echo. */
static void
server_open(struct mux_session *s, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	struct world *w = arg;
	struct bufferevent *pair[2];

	switch (dst->port) {
	case 1:
		mux_stream_reject(st, WIRE_ERR_REFUSED, "refused");
		return;
	case 2:
		mux_stream_reject(st, WIRE_ERR_UNREACHABLE, "no route");
		return;
	case 3:
		mux_stream_reject(st, WIRE_ERR_PROHIBITED, "policy");
		return;
	case 4:
		mux_stream_set_event_cb(st, pending_event, w);
		if (w->n_pending < 8)
			w->pending[w->n_pending++] = st;
		return;
	default:
		break;
	}
	CU_ASSERT_FATAL(
	    bufferevent_pair_new(w->base,
	        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) == 0);
	CU_ASSERT_FATAL(w->n_echo < 8);
	w->echo[w->n_echo++] = pair[0];
	bufferevent_setcb(pair[0], echo_read_cb, NULL, echo_event_cb, w);
	bufferevent_enable(pair[0], EV_READ | EV_WRITE);
	CU_ASSERT_EQUAL(mux_stream_accept(st, pair[1]), 0);
}

static void
side_ready(struct mux_session *s, const struct mux_peer_info *peer, void *arg)
{
	((struct world *)arg)->ready++;
}

static struct mux_session *
route(const struct frame_addr *dst, void *arg)
{
	struct world *w = arg;

	return w->route_up ? w->client : NULL;
}

/* ---- the loop ---- */

static void
spin(struct world *w, int ms)
{
	long long end = now_ms() + ms;

	do {
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		usleep(1000);
	} while (now_ms() < end);
}

static bool
run_until(struct world *w, bool (*cond)(struct world *), int ms)
{
	long long end = now_ms() + ms;

	while (!cond(w)) {
		if (now_ms() > end)
			return false;
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	return true;
}

static bool
both_ready(struct world *w)
{
	return w->ready == 2;
}

static void
world_init(struct world *w, unsigned opening_ms, unsigned accepting_ms)
{
	static const struct mux_callbacks client_cbs = {.on_ready = side_ready};
	static const struct mux_callbacks server_cbs = {
	    .on_ready = side_ready,
	    .on_open = server_open,
	};
	struct bufferevent *pair[2];
	struct mux_config cc, sc;
	struct tunstack_config cfg;
	char err[TUNSTACK_ERROR_MAX];

	memset(w, 0, sizeof(*w));
	w->base = event_base_new();
	CU_ASSERT_FATAL(w->base != NULL);
	CU_ASSERT_FATAL(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	        0, w->dev) == 0);
	CU_ASSERT_FATAL(
	    bufferevent_pair_new(w->base,
	        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair) == 0);
	mux_config_init(&cc, WIRE_ROLE_CLIENT);
	mux_config_init(&sc, WIRE_ROLE_SERVER);
	sc.caps = WIRE_CAP_IPV6;
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w->base, pair[0], &cc, &client_cbs, w, &w->client),
	    0);
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(w->base, pair[1], &sc, &server_cbs, w, &w->server),
	    0);
	mux_session_start(w->client);
	mux_session_start(w->server);
	CU_ASSERT_FATAL(run_until(w, both_ready, WAIT_MS));
	w->route_up = true;

	tunstack_config_init(&cfg);
	cfg.fd = w->dev[0];
	CU_ASSERT_EQUAL_FATAL(cidr_parse_host("127.0.0.1/8", &cfg.addr4), 0);
	CU_ASSERT_EQUAL_FATAL(
	    cidr_parse("127.77.0.0/16", &cfg.nat.pool4, NULL), 0);
	cfg.nat.timeout_ms[NAT_OPENING] = opening_ms;
	cfg.nat.timeout_ms[NAT_ACCEPTING] = accepting_ms;
	CU_ASSERT_EQUAL_FATAL(
	    tunstack_new(w->base, &cfg, route, w, &w->ts, err, sizeof(err)), 0);
}

static void
world_free(struct world *w)
{
	tunstack_free(w->ts);
	mux_session_free(w->client);
	mux_session_free(w->server);
	spin(w, 5);
	for (int i = 0; i < w->n_echo; i++)
		bufferevent_free(w->echo[i]);
	spin(w, 5);
	close(w->dev[0]);
	close(w->dev[1]);
	event_base_free(w->base);
}

/* ---- packets ---- */

static uint64_t
words(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (i % 2 == 0) ? (uint64_t)p[i] << 8 : p[i];
	return s;
}

static uint16_t
ocsum(uint64_t s)
{
	uint64_t m = s % 65535;

	return (uint16_t)(m == 0 && s != 0 ? 0xffff : m);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

struct seg {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t proto;  /* 0: TCP */
	uint8_t icmp;   /* ICMP type when proto is 1 */
	size_t payload; /* bytes of data */
	bool partial;   /* NEEDS_CSUM: the pseudo-header sum only */
};

/* Builds vnet header + IPv4 packet into buf; returns the total length. */
static size_t
build(uint8_t *buf, const struct seg *s)
{
	struct pkt_vnet h;
	uint8_t *ip = buf + PKT_VNET_HDR_LEN, *l4 = ip + 20;
	uint8_t proto = s->proto ? s->proto : 6;
	size_t l4_len;

	memset(buf, 0, 20 + 60 + s->payload + PKT_VNET_HDR_LEN);
	if (proto == 6) {
		l4_len = 20 + s->payload;
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, s->seq);
		put32(l4 + 8, s->ack);
		l4[12] = 5 << 4;
		l4[13] = s->flags;
		put16(l4 + 14, 65535);
	} else if (proto == 17) {
		l4_len = 8 + s->payload;
		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (uint16_t)l4_len);
	} else {
		l4_len = 8 + s->payload;
		l4[0] = s->icmp;
	}
	for (size_t i = 0; i < s->payload; i++)
		l4[l4_len - s->payload + i] = (uint8_t)(i + 1);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, s->src, ip + 12);
	inet_pton(AF_INET, s->dst, ip + 16);
	put16(ip + 10, (uint16_t)~ocsum(words(ip, 20)));
	memset(&h, 0, sizeof(h));
	if (proto == 6) {
		uint64_t ps = words(ip + 12, 8) + 6 + l4_len;

		if (s->partial) {
			put16(l4 + 16, ocsum(ps));
			h.flags = PKT_VNET_F_NEEDS_CSUM;
			h.csum_start = 20;
			h.csum_offset = 16;
		} else {
			put16(
			    l4 + 16, (uint16_t)~ocsum(ps + words(l4, l4_len)));
		}
	} else if (proto == 1) {
		put16(l4 + 2, (uint16_t)~ocsum(words(l4, l4_len)));
	}
	pkt_vnet_encode(&h, buf);
	return PKT_VNET_HDR_LEN + 20 + l4_len;
}

static void
inject(struct world *w, const struct seg *s)
{
	static uint8_t buf[PKT_VNET_HDR_LEN + 20 + 60 + 4096];
	size_t n = build(buf, s);

	CU_ASSERT_EQUAL_FATAL(send(w->dev[1], buf, n, 0), (ssize_t)n);
}

/* Waits for the next packet the stack writes; returns its IP length (0 on
 * timeout) with the packet at buf + PKT_VNET_HDR_LEN. */
static size_t
next_packet(struct world *w, uint8_t *buf, size_t cap, int ms)
{
	long long end = now_ms() + ms;
	ssize_t n;

	for (;;) {
		event_base_loop(w->base, EVLOOP_NONBLOCK);
		n = recv(w->dev[1], buf, cap, MSG_DONTWAIT);
		if (n > PKT_VNET_HDR_LEN)
			return (size_t)n - PKT_VNET_HDR_LEN;
		if (now_ms() > end)
			return 0;
		usleep(500);
	}
}

/* The answer must be a valid packet from dst to src; fills *pi. */
static void
expect_answer(
    struct world *w, const struct seg *s, struct pkt_info *pi, uint8_t **ret_ip)
{
	static uint8_t buf[PKT_VNET_HDR_LEN + PKT_MAX_LEN];
	size_t n = next_packet(w, buf, sizeof(buf), WAIT_MS);
	uint8_t a[4];

	*ret_ip = buf + PKT_VNET_HDR_LEN;
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(pkt_parse(*ret_ip, n, pi), 0);
	inet_pton(AF_INET, s->dst, a);
	CU_ASSERT_EQUAL(memcmp(pi->t.src, a, 4), 0);
	inet_pton(AF_INET, s->src, a);
	CU_ASSERT_EQUAL(memcmp(pi->t.dst, a, 4), 0);
	CU_ASSERT_EQUAL(ocsum(words(*ret_ip, 20)), 0xffff);
}

static void
expect_icmp(struct world *w, const struct seg *s, uint8_t code)
{
	struct pkt_info pi;
	uint8_t *ip;

	expect_answer(w, s, &pi, &ip);
	CU_ASSERT_EQUAL(pi.proto, 1);
	CU_ASSERT_EQUAL(pi.icmp_type, 3);
	CU_ASSERT_EQUAL(pi.icmp_code, code);
	CU_ASSERT_EQUAL(ocsum(words(ip + 20, pi.l4_len)), 0xffff);
}

static void
expect_rst(
    struct world *w, const struct seg *s, uint32_t want_seq, uint32_t want_ack)
{
	struct pkt_info pi;
	uint8_t *ip;

	expect_answer(w, s, &pi, &ip);
	CU_ASSERT_EQUAL(pi.proto, 6);
	CU_ASSERT(pi.tcp_flags & PKT_TCP_RST);
	CU_ASSERT_EQUAL(pi.t.sport, s->dport);
	CU_ASSERT_EQUAL(pi.t.dport, s->sport);
	CU_ASSERT_EQUAL(pi.seq, want_seq);
	if (pi.tcp_flags & PKT_TCP_ACK)
		CU_ASSERT_EQUAL(pi.ack, want_ack);
}

static void
expect_nothing(struct world *w, int ms)
{
	uint8_t buf[256];

	CU_ASSERT_EQUAL(next_packet(w, buf, sizeof(buf), ms), 0);
}

/* ---- tests ---- */

static void
test_other_protocols(void)
{
	struct world w;
	struct seg udp = {.src = "192.0.2.9",
	    .dst = "10.96.0.10",
	    .sport = 5353,
	    .dport = 53,
	    .proto = 17,
	    .payload = 12};
	struct seg ping = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .proto = 1,
	    .icmp = 8,
	    .payload = 16};
	struct seg reply = ping;
	struct tunstack_stats st;

	world_init(&w, 0, 0);
	inject(&w, &udp);
	expect_icmp(&w, &udp, 3); /* port unreachable */
	inject(&w, &ping);
	expect_icmp(&w, &ping, 13); /* administratively prohibited */
	reply.icmp = 0;             /* an echo reply: dropped quietly */
	inject(&w, &reply);
	expect_nothing(&w, 50);
	tunstack_get_stats(w.ts, &st);
	CU_ASSERT_EQUAL(st.icmp_sent, 2);
	CU_ASSERT_EQUAL(st.dropped, 1);
	world_free(&w);
}

static void
test_no_flow_no_session(void)
{
	struct world w;
	struct seg ack = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 40001,
	    .dport = 80,
	    .seq = 100,
	    .ack = 777,
	    .flags = PKT_TCP_ACK,
	    .payload = 10};
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 40002,
	    .dport = 80,
	    .seq = 5000,
	    .flags = PKT_TCP_SYN};
	struct seg rst = ack;

	world_init(&w, 0, 0);
	/* A segment of no flow: RST with the segment's ACK as seq. */
	inject(&w, &ack);
	expect_rst(&w, &ack, 777, 0);
	/* ...but never for a RST. */
	rst.flags = PKT_TCP_RST;
	inject(&w, &rst);
	expect_nothing(&w, 50);
	/* No session: network unreachable at once. */
	w.route_up = false;
	inject(&w, &syn);
	expect_icmp(&w, &syn, 0);
	/* The device's own prefix: refused. */
	w.route_up = true;
	syn.dst = "127.5.5.5";
	inject(&w, &syn);
	expect_rst(&w, &syn, 0, 5001);
	world_free(&w);
}

static void
test_open_errors(void)
{
	struct world w;
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 41000,
	    .seq = 0xfffffff0u,
	    .flags = PKT_TCP_SYN,
	    .partial = true};
	struct tunstack_stats st;

	world_init(&w, 0, 0);
	syn.dport = 1;
	inject(&w, &syn);
	expect_rst(&w, &syn, 0, 0xfffffff1u); /* REFUSED */
	syn.dport = 2;
	syn.sport++;
	inject(&w, &syn);
	expect_icmp(&w, &syn, 1); /* UNREACHABLE: host unreachable */
	syn.dport = 3;
	syn.sport++;
	inject(&w, &syn);
	expect_icmp(&w, &syn, 13); /* PROHIBITED */
	tunstack_get_stats(w.ts, &st);
	CU_ASSERT_EQUAL(st.flows, 3);
	CU_ASSERT_EQUAL(st.refused, 1);
	CU_ASSERT_EQUAL(st.unreachable, 2);
	CU_ASSERT_EQUAL(st.nat_entries, 0);
	world_free(&w);
}

static bool
one_pending(struct world *w)
{
	return w->n_pending == 1;
}

static bool
pending_gone(struct world *w)
{
	return w->pending_closed == 1;
}

static void
test_held_syn(void)
{
	struct world w;
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 42000,
	    .dport = 4,
	    .seq = 9,
	    .flags = PKT_TCP_SYN};
	struct seg rst = syn;
	struct tunstack_stats st;

	world_init(&w, 0, 0);
	inject(&w, &syn);
	CU_ASSERT_FATAL(run_until(&w, one_pending, WAIT_MS));
	expect_nothing(&w, 30);
	/* Retransmissions are dropped while the OPEN is pending. */
	inject(&w, &syn);
	inject(&w, &syn);
	expect_nothing(&w, 30);
	tunstack_get_stats(w.ts, &st);
	CU_ASSERT_EQUAL(st.syn_dropped, 2);
	CU_ASSERT_EQUAL(st.nat_entries, 1);
	/* The application gives up: the stream is cancelled. */
	rst.flags = PKT_TCP_RST | PKT_TCP_ACK;
	inject(&w, &rst);
	CU_ASSERT_TRUE(run_until(&w, pending_gone, WAIT_MS));
	CU_ASSERT_EQUAL(w.pending_err, WIRE_ERR_CANCEL);
	tunstack_get_stats(w.ts, &st);
	CU_ASSERT_EQUAL(st.nat_entries, 0);
	expect_nothing(&w, 20);
	world_free(&w);
}

static void
test_opening_timeout(void)
{
	struct world w;
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 42100,
	    .dport = 4,
	    .seq = 9,
	    .flags = PKT_TCP_SYN};

	/* No OPEN_RESULT within 200 ms: host unreachable, stream
	 * cancelled. */
	world_init(&w, 200, 0);
	inject(&w, &syn);
	CU_ASSERT_FATAL(run_until(&w, one_pending, WAIT_MS));
	expect_icmp(&w, &syn, 1);
	CU_ASSERT_TRUE(run_until(&w, pending_gone, WAIT_MS));
	world_free(&w);
}

/* Checks a rewritten TCP packet: tuple, and checksum (full or partial). */
static void
check_rewritten(const uint8_t *ip, size_t n, const char *src, uint16_t sport,
    const char *dst, uint16_t dport, bool partial)
{
	struct pkt_info pi;
	uint8_t a[4];
	uint64_t ps;

	CU_ASSERT_EQUAL_FATAL(pkt_parse(ip, n, &pi), 0);
	inet_pton(AF_INET, src, a);
	CU_ASSERT_EQUAL(memcmp(pi.t.src, a, 4), 0);
	inet_pton(AF_INET, dst, a);
	CU_ASSERT_EQUAL(memcmp(pi.t.dst, a, 4), 0);
	CU_ASSERT_EQUAL(pi.t.sport, sport);
	CU_ASSERT_EQUAL(pi.t.dport, dport);
	CU_ASSERT_EQUAL(ocsum(words(ip, 20)), 0xffff);
	ps = words(ip + 12, 8) + 6 + pi.l4_len;
	if (partial) {
		uint16_t f = (uint16_t)(ip[36] << 8 | ip[37]);

		CU_ASSERT_EQUAL(f ? f : 0xffff, ocsum(ps));
	} else {
		CU_ASSERT_EQUAL(ocsum(ps + words(ip + 20, pi.l4_len)), 0xffff);
	}
}

static bool
accepted(struct world *w)
{
	struct tunstack_stats st;

	tunstack_get_stats(w->ts, &st);
	return st.accepted == 1;
}

/* TCP_NODELAY of this process's socket at the other end of fd's
 * connection (the one the stack accepted), or -1. */
static int
nodelay_of_peer(int fd)
{
	struct sockaddr_in me, peer;
	socklen_t l;

	l = sizeof(me);
	if (getsockname(fd, (struct sockaddr *)&me, &l) < 0)
		return -1;
	for (int i = 3; i < 1024; i++) {
		int v = 0;
		socklen_t vl = sizeof(v);

		l = sizeof(peer);
		if (i == fd ||
		    getpeername(i, (struct sockaddr *)&peer, &l) < 0 ||
		    peer.sin_family != AF_INET ||
		    peer.sin_port != me.sin_port ||
		    peer.sin_addr.s_addr != me.sin_addr.s_addr)
			continue;
		if (getsockopt(i, IPPROTO_TCP, TCP_NODELAY, &v, &vl) < 0)
			return -1;
		return v;
	}
	return -1;
}

static void
test_flow(void)
{
	static uint8_t buf[PKT_VNET_HDR_LEN + PKT_MAX_LEN];
	struct world w;
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 43000,
	    .dport = 80,
	    .seq = 1000,
	    .flags = PKT_TCP_SYN};
	struct seg data, back;
	struct sockaddr_in sin;
	struct tunstack_stats st;
	char port[8], got[16];
	struct pollfd pfd;
	size_t n;
	int fd, one = 1;

	world_init(&w, 0, 0);
	snprintf(port, sizeof(port), "%u", tunstack_port(w.ts));
	inject(&w, &syn);
	/* OPEN accepted: the SYN is released to the listener, from the
	 * pool's first address, the port kept, the checksum right. */
	n = next_packet(&w, buf, sizeof(buf), WAIT_MS);
	CU_ASSERT_FATAL(n > 0);
	check_rewritten(buf + PKT_VNET_HDR_LEN, n, "127.77.0.1", 43000,
	    "127.0.0.1", tunstack_port(w.ts), false);

	/* App -> listener and listener -> app, full and partial checksums,
	 * with data: rewritten both ways. */
	data = syn;
	data.flags = PKT_TCP_ACK | PKT_TCP_PSH;
	data.payload = 1001;
	data.partial = true;
	inject(&w, &data);
	n = next_packet(&w, buf, sizeof(buf), WAIT_MS);
	CU_ASSERT_FATAL(n > 0);
	check_rewritten(buf + PKT_VNET_HDR_LEN, n, "127.77.0.1", 43000,
	    "127.0.0.1", tunstack_port(w.ts), true);
	memset(&back, 0, sizeof(back));
	back.src = "127.0.0.1";
	back.sport = tunstack_port(w.ts);
	back.dst = "127.77.0.1";
	back.dport = 43000;
	back.flags = PKT_TCP_ACK;
	back.payload = 333;
	inject(&w, &back);
	n = next_packet(&w, buf, sizeof(buf), WAIT_MS);
	CU_ASSERT_FATAL(n > 0);
	check_rewritten(buf + PKT_VNET_HDR_LEN, n, "10.96.0.20", 80,
	    "192.0.2.9", 43000, false);
	back.partial = true;
	inject(&w, &back);
	n = next_packet(&w, buf, sizeof(buf), WAIT_MS);
	CU_ASSERT_FATAL(n > 0);
	check_rewritten(buf + PKT_VNET_HDR_LEN, n, "10.96.0.20", 80,
	    "192.0.2.9", 43000, true);
	/* A retransmitted SYN after the release goes to the listener. */
	inject(&w, &syn);
	CU_ASSERT(next_packet(&w, buf, sizeof(buf), WAIT_MS) > 0);

	/* The "application" connects from the fake address, as the kernel
	 * would after the rewritten SYN: accepted and relayed (echo). */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(43000);
	inet_pton(AF_INET, "127.77.0.1", &sin.sin_addr);
	CU_ASSERT_EQUAL_FATAL(
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_port = htons(tunstack_port(w.ts));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	CU_ASSERT_EQUAL_FATAL(
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CU_ASSERT_TRUE(run_until(&w, accepted, WAIT_MS));
	CU_ASSERT_EQUAL(send(fd, "hello", 5, 0), 5);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (int i = 0; i < 2000; i++) {
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 1) == 1)
			break;
	}
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(recv(fd, got, sizeof(got), MSG_DONTWAIT), 5);
	CU_ASSERT_STRING_EQUAL(got, "hello");
	/* The stack's end of the connection relays without Nagle. */
	CU_ASSERT_EQUAL(nodelay_of_peer(fd), 1);
	/* One flow; two segments each way went through the table. */
	tunstack_get_stats(w.ts, &st);
	CU_ASSERT_EQUAL(st.opened, 1);
	CU_ASSERT_EQUAL(st.nat_entries, 1);
	CU_ASSERT_EQUAL(st.to_lst_pkts, 2);
	CU_ASSERT_EQUAL(st.to_app_pkts, 2);
	close(fd);
	world_free(&w);
}

static bool
echo_freed_stream(struct world *w)
{
	struct tunstack_stats st;

	tunstack_get_stats(w->ts, &st);
	return st.nat_entries == 0;
}

static void
test_accepting_timeout(void)
{
	static uint8_t buf[PKT_VNET_HDR_LEN + PKT_MAX_LEN];
	struct world w;
	struct seg syn = {.src = "192.0.2.9",
	    .dst = "10.96.0.20",
	    .sport = 44000,
	    .dport = 80,
	    .seq = 1,
	    .flags = PKT_TCP_SYN};

	/* Released, but nobody completes the handshake in 200 ms: the
	 * stream is reset and the flow forgotten. */
	world_init(&w, 0, 200);
	inject(&w, &syn);
	CU_ASSERT_FATAL(next_packet(&w, buf, sizeof(buf), WAIT_MS) > 0);
	CU_ASSERT_TRUE(run_until(&w, echo_freed_stream, WAIT_MS));
	world_free(&w);
}

static void
test_config_checks(void)
{
	struct event_base *base = event_base_new();
	struct tunstack_config cfg;
	struct tunstack *ts = NULL;
	char err[TUNSTACK_ERROR_MAX];

	tunstack_config_init(&cfg);
	cfg.fd = 0;
	/* The pool must lie in the device's prefix, without its address. */
	cidr_parse("10.0.0.0/24", &cfg.nat.pool4, NULL);
	CU_ASSERT_EQUAL(
	    tunstack_new(base, &cfg, route, NULL, &ts, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "10.0.0.0/24"));
	cidr_parse("198.18.0.0/24", &cfg.nat.pool4, NULL);
	CU_ASSERT_EQUAL(
	    tunstack_new(base, &cfg, route, NULL, &ts, err, sizeof(err)),
	    -EINVAL);
	cfg.fd = -1;
	CU_ASSERT_EQUAL(
	    tunstack_new(base, &cfg, route, NULL, &ts, err, sizeof(err)),
	    -EINVAL);
	tunstack_free(NULL);
	event_base_free(base);
}

static const struct cunit_test tests[] = {
    {"UDP and ping answered with ICMP", test_other_protocols},
    {"no flow, no session, own prefix", test_no_flow_no_session},
    {"failed opens answer the held SYN", test_open_errors},
    {"held SYN: retransmissions dropped, app reset", test_held_syn},
    {"OPENING timeout", test_opening_timeout},
    {"a flow: release, rewrite both ways, accept, relay", test_flow},
    {"ACCEPTING timeout", test_accepting_timeout},
    {"configuration checks", test_config_checks},
};

CUNIT_MAIN("tunstack", tests)
