/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsstub: telepodd's DNS server (see dnsstub.h for what it answers and
 * why). One query object lives from the moment a client's query is
 * parsed until its answer is sent or it is dropped: it holds the client's
 * bytes (for error replies and the original question), where the answer
 * goes (a UDP peer address or a TCP client), and its one upstream
 * attempt at a time: a DNS request on a tunnel session, a connected UDP
 * socket to an original name server, or a TCP connection to one.
 *
 * Bounds: at most max_pending queries, each at most DNSSTUB_MAX_QUERY
 * bytes; TCP clients at most max_tcp_clients, each with at most
 * DNSSTUB_TCP_MAX_PER_CONN queries in flight (reading stops beyond it)
 * and DNSSTUB_TCP_OUT_CAP bytes of unread answers (reading stops until
 * they drain); an upstream TCP answer is read up to its 2-byte length.
 *
 * Deadline: one per query (timeout_ms) from its arrival; each original
 * server gets an equal share of it in turn, a cluster request all that is
 * left of it. When a qualified cluster name comes back NXDOMAIN the rest
 * of the deadline goes to the original servers.
 */
#include "client/dnsstub.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "client/dnswire.h"
#include "common/addr.h"
#include "common/errbuf.h"
#include "common/log.h"
#include "proto/wire.h"

/* Most datagrams read per wakeup of the UDP socket (fairness). */
#define DNSSTUB_UDP_BURST 32
/* An empty reply: header, the longest name, type and class. */
#define DNSSTUB_SMALL_REPLY (DNSWIRE_HEADER_LEN + DNSWIRE_MAX_NAME + 4)

enum dnsstub_stage {
	DNSSTUB_IDLE = 0,
	DNSSTUB_CLUSTER,     /* a request on a session */
	DNSSTUB_OUTSIDE_UDP, /* a datagram to an original server */
	DNSSTUB_OUTSIDE_TCP, /* a TCP exchange with an original server */
};

struct dnsstub_tcp;

struct dnsstub_query {
	TAILQ_ENTRY(dnsstub_query) link;        /* stub->queries */
	TAILQ_ENTRY(dnsstub_query) client_link; /* tcp->queries */
	struct dnsstub *stub;
	unsigned log_id;
	/* The client: a TCP client, or a UDP peer. */
	struct dnsstub_tcp *tcp;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t *msg; /* the client's query, len bytes */
	size_t len;
	struct dnswire_query q;
	struct dnswire_name asked; /* the name asked of the cluster */
	bool qualified;            /* asked differs from q.qname */
	long long deadline_ms;
	struct event *timer;
	enum dnsstub_stage stage;
	/* DNSSTUB_CLUSTER */
	struct mux_session *session;
	uint32_t mux_id;
	/* DNSSTUB_OUTSIDE_* */
	size_t server;  /* index of the server being tried */
	uint16_t up_id; /* the id the server sees */
	evutil_socket_t fd;
	struct event *ev;
	struct bufferevent *bev;
	/* The cluster's NXDOMAIN (rewritten, the client's id) while a
	 * qualified name is asked of the original servers: the answer
	 * unless they know the name. */
	uint8_t *fallback;
	size_t fallback_len;
};

TAILQ_HEAD(dnsstub_queries, dnsstub_query);

struct dnsstub_tcp {
	TAILQ_ENTRY(dnsstub_tcp) link;
	struct dnsstub *stub;
	struct bufferevent *bev;
	struct dnsstub_queries queries;
	unsigned n_queries;
	bool eof; /* the client sent FIN: close once answered */
};

TAILQ_HEAD(dnsstub_tcps, dnsstub_tcp);

struct dnsstub_zone {
	char ns[DNSWIRE_MAX_LABEL + 1];
	struct mux_session *session;
};

struct dnsstub {
	struct event_base *base;
	struct dnsstub_upstreams up;
	struct sockaddr_storage servers[DNSSTUB_MAX_SERVERS];
	socklen_t server_lens[DNSSTUB_MAX_SERVERS];
	size_t n_servers;
	unsigned timeout_ms;
	unsigned max_pending;
	unsigned max_tcp_clients;
	unsigned tcp_idle_ms;
	evutil_socket_t udp_fd;
	struct event *udp_ev;
	struct evconnlistener *lev;
	struct dnsstub_queries queries;
	unsigned n_pending;
	struct dnsstub_tcps tcps;
	unsigned n_tcps;
	/* zones[i] and wzones[i] describe the same namespace; the last is
	 * the most recent (the default). */
	struct dnswire_zone wzones[DNSSTUB_MAX_ZONES];
	struct dnsstub_zone zones[DNSSTUB_MAX_ZONES];
	size_t n_zones;
	unsigned next_log_id;
	char addr[DNSSTUB_MAX_ADDR];
	uint8_t buf[DNSWIRE_MAX_MSG]; /* datagrams in, answers rewritten */
};

static void dnsstub_outside_try(struct dnsstub_query *qr);
static void dnsstub_tcp_close(struct dnsstub_tcp *tcp);
static void dnsstub_tcp_flow(struct dnsstub_tcp *tcp);

static long long
dnsstub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
dnsstub_timeval(struct timeval *tv, long long ms)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static const char *
dnsstub_qname_text(const struct dnsstub_query *qr, char *buf, size_t cap)
{
	return dnswire_name_to_text(&qr->q.qname, buf, cap);
}

/* Ends the query's upstream attempt (socket, connection or request). A
 * cluster request is cancelled only when cancel is set (the session is
 * known to be alive). */
static void
dnsstub_attempt_end(struct dnsstub_query *qr, bool cancel)
{
	struct dnsstub *stub = qr->stub;

	switch (qr->stage) {
	case DNSSTUB_CLUSTER:
		if (cancel && stub->up.cancel)
			stub->up.cancel(qr->session, qr->mux_id, stub->up.arg);
		qr->session = NULL;
		break;
	case DNSSTUB_OUTSIDE_UDP:
		if (qr->ev)
			event_free(qr->ev);
		qr->ev = NULL;
		if (qr->fd >= 0)
			evutil_closesocket(qr->fd);
		qr->fd = -1;
		break;
	case DNSSTUB_OUTSIDE_TCP:
		if (qr->bev)
			bufferevent_free(qr->bev);
		qr->bev = NULL;
		break;
	case DNSSTUB_IDLE:
		break;
	}
	qr->stage = DNSSTUB_IDLE;
	if (qr->timer)
		event_del(qr->timer);
}

/* Frees qr after ending its attempt; unlinks it from its TCP client (the
 * client itself is left alone). */
static void
dnsstub_query_free(struct dnsstub_query *qr, bool cancel)
{
	struct dnsstub *stub = qr->stub;

	dnsstub_attempt_end(qr, cancel);
	if (qr->timer)
		event_free(qr->timer);
	if (qr->tcp) {
		TAILQ_REMOVE(&qr->tcp->queries, qr, client_link);
		qr->tcp->n_queries--;
	}
	TAILQ_REMOVE(&stub->queries, qr, link);
	stub->n_pending--;
	free(qr->fallback);
	free(qr->msg);
	free(qr);
}

static void
dnsstub_udp_send(struct dnsstub *stub, const struct sockaddr *peer,
    socklen_t peerlen, const uint8_t *msg, size_t len)
{
	if (sendto(stub->udp_fd, msg, len, MSG_DONTWAIT, peer, peerlen) < 0)
		log_debug(LOG_CAT_DNS, "dns: reply of %zu bytes not sent: %s",
		    len, strerror(errno));
}

/* Queues a framed answer to a TCP client. */
static void
dnsstub_tcp_send(struct dnsstub_tcp *tcp, const uint8_t *msg, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(tcp->bev);
	uint8_t prefix[2];

	if (len > DNSWIRE_MAX_MSG)
		return;
	wire_put_u16(prefix, (uint16_t)len);
	if (evbuffer_add(out, prefix, 2) < 0 || evbuffer_add(out, msg, len) < 0)
		log_debug(
		    LOG_CAT_DNS, "dns: tcp reply of %zu bytes dropped", len);
}

/*
 * Sends the answer msg (its id already the client's) and frees qr. A UDP
 * answer longer than the client takes is replaced by an empty one with TC
 * set.
 */
static void
dnsstub_query_finish(struct dnsstub_query *qr, const uint8_t *msg, size_t len)
{
	struct dnsstub *stub = qr->stub;
	struct dnsstub_tcp *tcp = qr->tcp;
	uint8_t small[DNSSTUB_SMALL_REPLY];

	if (tcp) {
		dnsstub_tcp_send(tcp, msg, len);
	} else {
		if (len > qr->q.udp_size) {
			int n = dnswire_reply_empty(qr->msg, qr->len,
			    (uint8_t)DNSWIRE_RCODE_OF(wire_get_u16(msg + 2)),
			    true, small, sizeof(small));

			if (n < 0) {
				dnsstub_query_free(qr, false);
				return;
			}
			msg = small;
			len = (size_t)n;
		}
		dnsstub_udp_send(
		    stub, (struct sockaddr *)&qr->peer, qr->peerlen, msg, len);
	}
	dnsstub_query_free(qr, false);
	if (tcp)
		dnsstub_tcp_flow(tcp);
}

/* Answers qr with an empty reply (rcode, TC when tc) and frees it. */
static void
dnsstub_query_empty(struct dnsstub_query *qr, uint8_t rcode, bool tc)
{
	uint8_t reply[DNSSTUB_SMALL_REPLY];
	int n = dnswire_reply_empty(
	    qr->msg, qr->len, rcode, tc, reply, sizeof(reply));

	if (n < 0) {
		struct dnsstub_tcp *tcp = qr->tcp;

		dnsstub_query_free(qr, false);
		if (tcp)
			dnsstub_tcp_flow(tcp);
		return;
	}
	dnsstub_query_finish(qr, reply, (size_t)n);
}

static void
dnsstub_query_fail(struct dnsstub_query *qr, uint8_t rcode, const char *why)
{
	char name[DNSWIRE_MAX_TEXT];

	log_debug(LOG_CAT_DNS, "dns %u: %s: %s (%s)", qr->log_id,
	    dnsstub_qname_text(qr, name, sizeof(name)),
	    dnswire_rcode_name(rcode), why);
	dnsstub_query_empty(qr, rcode, false);
}

static void
dnsstub_arm(struct dnsstub_query *qr, long long ms)
{
	struct timeval tv;

	dnsstub_timeval(&tv, ms);
	event_add(qr->timer, &tv);
}

/* --- the cluster --- */

static void
dnsstub_cluster_send(struct dnsstub_query *qr, struct mux_session *session)
{
	struct dnsstub *stub = qr->stub;
	int n, r;

	n = dnswire_query_rebuild(
	    qr->msg, &qr->q, &qr->asked, stub->buf, sizeof(stub->buf));
	if (n < 0) {
		dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, "query too long");
		return;
	}
	r = stub->up.send(
	    session, stub->buf, (size_t)n, &qr->mux_id, stub->up.arg);
	if (r < 0) {
		dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, strerror(-r));
		return;
	}
	qr->stage = DNSSTUB_CLUSTER;
	qr->session = session;
	dnsstub_arm(qr, qr->deadline_ms - dnsstub_now_ms());
}

static struct dnsstub_query *
dnsstub_find_request(
    struct dnsstub *stub, const struct mux_session *session, uint32_t id)
{
	struct dnsstub_query *qr;

	TAILQ_FOREACH(qr, &stub->queries, link)
	{
		if (qr->stage == DNSSTUB_CLUSTER && qr->session == session &&
		    qr->mux_id == id)
			return qr;
	}
	return NULL;
}

void
dnsstub_answer(struct dnsstub *stub, struct mux_session *session, uint32_t id,
    uint32_t error, const uint8_t *msg, size_t len)
{
	struct dnsstub_query *qr = dnsstub_find_request(stub, session, id);
	char name[DNSWIRE_MAX_TEXT];
	size_t out_len;
	unsigned rcode;
	int r;

	if (!qr) {
		log_debug(LOG_CAT_DNS, "dns: late answer %u ignored", id);
		return;
	}
	/* The request is answered: nothing to cancel any more. */
	dnsstub_attempt_end(qr, false);
	if (error != WIRE_OK || !msg) {
		dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, "tunnel error");
		return;
	}
	if (dnswire_answer_check(
	        msg, len, &qr->asked, qr->q.qtype, qr->q.qclass) < 0) {
		dnsstub_query_fail(
		    qr, DNSWIRE_SERVFAIL, "malformed answer from the cluster");
		return;
	}
	rcode = DNSWIRE_RCODE_OF(wire_get_u16(msg + 2));
	log_debug(LOG_CAT_DNS, "dns %u: %s: cluster answered %s, %zu bytes",
	    qr->log_id, dnsstub_qname_text(qr, name, sizeof(name)),
	    dnswire_rcode_name(rcode), len);
	if (!qr->qualified) {
		if (len > sizeof(stub->buf)) {
			dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, "too long");
			return;
		}
		memcpy(stub->buf, msg, len);
		wire_put_u16(stub->buf, qr->q.hdr.id);
		dnsstub_query_finish(qr, stub->buf, len);
		return;
	}
	r = dnswire_answer_rewrite(msg, len, &qr->asked, &qr->q.qname,
	    stub->buf, sizeof(stub->buf), &out_len);
	if (r == 0)
		wire_put_u16(stub->buf, qr->q.hdr.id);
	if (rcode == DNSWIRE_NXDOMAIN && stub->n_servers > 0) {
		/* Maybe not a cluster name after all ("web.dev" with a
		 * namespace "dev"): ask the original servers, keeping the
		 * cluster's answer for when they do not know it either. */
		if (r == 0) {
			qr->fallback = malloc(out_len);
			if (qr->fallback) {
				memcpy(qr->fallback, stub->buf, out_len);
				qr->fallback_len = out_len;
			}
		}
		qr->server = 0;
		dnsstub_outside_try(qr);
		return;
	}
	if (r == -EMSGSIZE && !qr->tcp) {
		/* Larger than any UDP answer: TC, the client asks by TCP. */
		dnsstub_query_empty(qr, (uint8_t)rcode, true);
		return;
	}
	if (r < 0) {
		dnsstub_query_fail(qr, DNSWIRE_SERVFAIL,
		    r == -EMSGSIZE ? "answer too long" : "malformed answer");
		return;
	}
	dnsstub_query_finish(qr, stub->buf, out_len);
}

/* --- the original name servers --- */

/* Whether ans (len bytes, a response with our id) answers qr's question.
 * Error replies without a question (FORMERR, BADVERS) count. */
static bool
dnsstub_outside_matches(
    const struct dnsstub_query *qr, const uint8_t *ans, size_t len)
{
	struct dnswire_header h;

	if (dnswire_header_parse(ans, len, &h) < 0 ||
	    !(h.flags & DNSWIRE_FLAG_QR) || h.id != qr->up_id)
		return false;
	if (h.qdcount == 0 && DNSWIRE_RCODE_OF(h.flags) != DNSWIRE_NOERROR)
		return true;
	return dnswire_answer_check(
	           ans, len, &qr->q.qname, qr->q.qtype, qr->q.qclass) == 0;
}

/* Relays the original server's answer (in buf, len bytes). */
static void
dnsstub_outside_done(struct dnsstub_query *qr, uint8_t *buf, size_t len)
{
	char name[DNSWIRE_MAX_TEXT];

	log_debug(LOG_CAT_DNS, "dns %u: %s: server %zu answered %s, %zu bytes",
	    qr->log_id, dnsstub_qname_text(qr, name, sizeof(name)), qr->server,
	    dnswire_rcode_name(DNSWIRE_RCODE_OF(wire_get_u16(buf + 2))), len);
	dnsstub_attempt_end(qr, false);
	if (qr->fallback &&
	    DNSWIRE_RCODE_OF(wire_get_u16(buf + 2)) != DNSWIRE_NOERROR) {
		/* They do not know it either: the cluster's NXDOMAIN. */
		dnsstub_query_finish(qr, qr->fallback, qr->fallback_len);
		return;
	}
	wire_put_u16(buf, qr->q.hdr.id);
	dnsstub_query_finish(qr, buf, len);
}

/* The current server failed (error, reset, refused): try the next. */
static void
dnsstub_outside_next(struct dnsstub_query *qr, const char *why)
{
	log_debug(
	    LOG_CAT_DNS, "dns %u: server %zu: %s", qr->log_id, qr->server, why);
	dnsstub_attempt_end(qr, false);
	qr->server++;
	dnsstub_outside_try(qr);
}

static void
dnsstub_outside_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dnsstub_query *qr = arg;
	struct dnsstub *stub = qr->stub;

	for (int i = 0; i < DNSSTUB_UDP_BURST; i++) {
		ssize_t n = recv(fd, stub->buf, sizeof(stub->buf), 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			dnsstub_outside_next(qr, strerror(errno));
			return;
		}
		/* Anything else (a stray or forged datagram) is ignored. */
		if (dnsstub_outside_matches(qr, stub->buf, (size_t)n)) {
			dnsstub_outside_done(qr, stub->buf, (size_t)n);
			return;
		}
	}
}

static int
dnsstub_outside_udp(struct dnsstub_query *qr)
{
	struct dnsstub *stub = qr->stub;
	const struct sockaddr_storage *sa = &stub->servers[qr->server];
	evutil_socket_t fd;
	int r;

	fd =
	    socket(sa->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa,
	        stub->server_lens[qr->server]) < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(stub->buf, qr->msg, qr->len);
	wire_put_u16(stub->buf, qr->up_id);
	if (send(fd, stub->buf, qr->len, 0) < 0) {
		r = -errno;
		goto fail;
	}
	qr->ev = event_new(
	    stub->base, fd, EV_READ | EV_PERSIST, dnsstub_outside_udp_read, qr);
	if (!qr->ev || event_add(qr->ev, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	qr->fd = fd;
	qr->stage = DNSSTUB_OUTSIDE_UDP;
	return 0;
fail:
	if (qr->ev)
		event_free(qr->ev);
	qr->ev = NULL;
	evutil_closesocket(fd);
	return r;
}

static void
dnsstub_outside_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dnsstub_query *qr = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t prefix[2];
	size_t len;

	if (evbuffer_copyout(in, prefix, 2) < 2)
		return;
	len = wire_get_u16(prefix);
	if (len < DNSWIRE_HEADER_LEN) {
		dnsstub_outside_next(qr, "short answer");
		return;
	}
	if (evbuffer_get_length(in) < 2 + len)
		return;
	evbuffer_drain(in, 2);
	evbuffer_remove(in, qr->stub->buf, len);
	if (!dnsstub_outside_matches(qr, qr->stub->buf, len)) {
		dnsstub_outside_next(qr, "answer does not match the query");
		return;
	}
	dnsstub_outside_done(qr, qr->stub->buf, len);
}

static void
dnsstub_outside_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dnsstub_query *qr = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	dnsstub_outside_next(qr,
	    (what & BEV_EVENT_EOF) ? "connection closed" : "connection failed");
}

static int
dnsstub_outside_tcp(struct dnsstub_query *qr)
{
	struct dnsstub *stub = qr->stub;
	struct bufferevent *bev;
	uint8_t prefix[2];

	bev = bufferevent_socket_new(stub->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return -ENOMEM;
	/* Reads stop at one whole answer. */
	bufferevent_setwatermark(bev, EV_READ, 0, 2 + DNSWIRE_MAX_MSG);
	bufferevent_setcb(
	    bev, dnsstub_outside_tcp_read, NULL, dnsstub_outside_tcp_event, qr);
	memcpy(stub->buf, qr->msg, qr->len);
	wire_put_u16(stub->buf, qr->up_id);
	wire_put_u16(prefix, (uint16_t)qr->len);
	if (bufferevent_write(bev, prefix, 2) < 0 ||
	    bufferevent_write(bev, stub->buf, qr->len) < 0 ||
	    bufferevent_enable(bev, EV_READ | EV_WRITE) < 0 ||
	    bufferevent_socket_connect(bev,
	        (struct sockaddr *)&stub->servers[qr->server],
	        (int)stub->server_lens[qr->server]) < 0) {
		bufferevent_free(bev);
		return -ECONNREFUSED;
	}
	qr->bev = bev;
	qr->stage = DNSSTUB_OUTSIDE_TCP;
	return 0;
}

/*
 * Tries the original servers from qr->server on, each with its share of
 * what is left of the deadline; SERVFAIL when none is left.
 */
static void
dnsstub_outside_try(struct dnsstub_query *qr)
{
	struct dnsstub *stub = qr->stub;

	while (qr->server < stub->n_servers) {
		long long left = qr->deadline_ms - dnsstub_now_ms();
		long long share = stub->timeout_ms / stub->n_servers;
		int r;

		if (left <= 0)
			break;
		if (share > left || qr->server + 1 == stub->n_servers)
			share = left;
		qr->up_id = (uint16_t)arc4random();
		r = qr->tcp ? dnsstub_outside_tcp(qr) : dnsstub_outside_udp(qr);
		if (r == 0) {
			dnsstub_arm(qr, share);
			return;
		}
		log_debug(LOG_CAT_DNS, "dns %u: server %zu: %s", qr->log_id,
		    qr->server, strerror(-r));
		qr->server++;
	}
	if (qr->fallback) {
		dnsstub_query_finish(qr, qr->fallback, qr->fallback_len);
		return;
	}
	dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, "no answer from the servers");
}

static void
dnsstub_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dnsstub_query *qr = arg;

	switch (qr->stage) {
	case DNSSTUB_CLUSTER:
		dnsstub_attempt_end(qr, true);
		dnsstub_query_fail(
		    qr, DNSWIRE_SERVFAIL, "no answer from the cluster");
		break;
	case DNSSTUB_OUTSIDE_UDP:
	case DNSSTUB_OUTSIDE_TCP:
		dnsstub_outside_next(qr, "timed out");
		break;
	case DNSSTUB_IDLE:
		dnsstub_query_fail(qr, DNSWIRE_SERVFAIL, "timed out");
		break;
	}
}

/* --- queries from clients --- */

/* Replies rcode to a query that has no query object (yet). */
static void
dnsstub_reply_now(struct dnsstub *stub, struct dnsstub_tcp *tcp,
    const struct sockaddr *peer, socklen_t peerlen, const uint8_t *msg,
    size_t len, uint8_t rcode)
{
	uint8_t reply[DNSSTUB_SMALL_REPLY];
	int n =
	    dnswire_reply_empty(msg, len, rcode, false, reply, sizeof(reply));

	if (n < 0)
		return;
	if (tcp)
		dnsstub_tcp_send(tcp, reply, (size_t)n);
	else
		dnsstub_udp_send(stub, peer, peerlen, reply, (size_t)n);
}

static size_t
dnsstub_zone_find(const struct dnsstub *stub, const char *ns)
{
	for (size_t i = 0; i < stub->n_zones; i++) {
		if (strcasecmp(stub->zones[i].ns, ns) == 0)
			return i;
	}
	return stub->n_zones;
}

/*
 * Handles one query from a client: a TCP client (tcp) or a UDP peer. msg
 * is borrowed.
 */
static void
dnsstub_handle(struct dnsstub *stub, struct dnsstub_tcp *tcp,
    const struct sockaddr *peer, socklen_t peerlen, const uint8_t *msg,
    size_t len)
{
	struct dnswire_header h;
	struct dnsstub_query *qr;
	struct dnswire_query q;
	struct dnswire_name asked;
	char name[DNSWIRE_MAX_TEXT], asked_text[DNSWIRE_MAX_TEXT];
	size_t zone = 0;
	int r, route;

	if (dnswire_header_parse(msg, len, &h) < 0 ||
	    (h.flags & DNSWIRE_FLAG_QR))
		return; /* no header to answer, or not a query: dropped */
	r = len > DNSSTUB_MAX_QUERY ? -EBADMSG
	                            : dnswire_query_parse(msg, len, &q);
	if (r < 0) {
		dnsstub_reply_now(stub, tcp, peer, peerlen, msg, len,
		    r == -EOPNOTSUPP ? DNSWIRE_NOTIMP : DNSWIRE_FORMERR);
		return;
	}
	if (stub->n_pending >= stub->max_pending) {
		log_debug(LOG_CAT_DNS, "dns: %u queries pending: SERVFAIL",
		    stub->n_pending);
		dnsstub_reply_now(
		    stub, tcp, peer, peerlen, msg, len, DNSWIRE_SERVFAIL);
		return;
	}
	route =
	    dnswire_route(&q.qname, stub->wzones, stub->n_zones, &zone, &asked);
	if (route == -ENAMETOOLONG) {
		dnsstub_reply_now(
		    stub, tcp, peer, peerlen, msg, len, DNSWIRE_NXDOMAIN);
		return;
	}
	qr = calloc(1, sizeof(*qr));
	if (qr)
		qr->msg = malloc(len);
	if (!qr || !qr->msg ||
	    !(qr->timer = evtimer_new(stub->base, dnsstub_timeout, qr))) {
		if (qr)
			free(qr->msg);
		free(qr);
		dnsstub_reply_now(
		    stub, tcp, peer, peerlen, msg, len, DNSWIRE_SERVFAIL);
		return;
	}
	qr->stub = stub;
	qr->log_id = ++stub->next_log_id;
	qr->fd = -1;
	memcpy(qr->msg, msg, len);
	qr->len = len;
	qr->q = q;
	qr->deadline_ms = dnsstub_now_ms() + stub->timeout_ms;
	TAILQ_INSERT_TAIL(&stub->queries, qr, link);
	stub->n_pending++;
	if (tcp) {
		qr->tcp = tcp;
		TAILQ_INSERT_TAIL(&tcp->queries, qr, client_link);
		tcp->n_queries++;
	} else {
		memcpy(&qr->peer, peer, peerlen);
		qr->peerlen = peerlen;
	}

	if (route == DNSWIRE_ROUTE_CLUSTER) {
		qr->asked = asked;
		qr->qualified =
		    asked.len != q.qname.len ||
		    memcmp(asked.wire, q.qname.wire, asked.len) != 0;
		log_debug(LOG_CAT_DNS,
		    "dns %u: %s type %u over %s: cluster (%s) as %s",
		    qr->log_id,
		    dnswire_name_to_text(&q.qname, name, sizeof(name)), q.qtype,
		    tcp ? "tcp" : "udp", stub->zones[zone].ns,
		    dnswire_name_to_text(
		        &asked, asked_text, sizeof(asked_text)));
		if (!stub->zones[zone].session) {
			dnsstub_query_fail(qr, DNSWIRE_SERVFAIL,
			    "the namespace's session is not connected");
			return;
		}
		dnsstub_cluster_send(qr, stub->zones[zone].session);
		return;
	}
	log_debug(LOG_CAT_DNS, "dns %u: %s type %u over %s: original servers",
	    qr->log_id, dnswire_name_to_text(&q.qname, name, sizeof(name)),
	    q.qtype, tcp ? "tcp" : "udp");
	dnsstub_outside_try(qr);
}

static void
dnsstub_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dnsstub *stub = arg;

	for (int i = 0; i < DNSSTUB_UDP_BURST; i++) {
		struct sockaddr_storage peer;
		socklen_t peerlen = sizeof(peer);
		/* One byte more than a query may have: a longer datagram is
		 * cut there and answered FORMERR. */
		uint8_t query[DNSSTUB_MAX_QUERY + 1];
		ssize_t n = recvfrom(fd, query, sizeof(query), 0,
		    (struct sockaddr *)&peer, &peerlen);

		if (n < 0)
			return;
		dnsstub_handle(stub, NULL, (struct sockaddr *)&peer, peerlen,
		    query, (size_t)n);
	}
}

/* --- TCP clients --- */

/* Reads as far as the limits allow: whole queries while fewer than
 * DNSSTUB_TCP_MAX_PER_CONN are in flight and the output is under its cap;
 * otherwise reading pauses until dnsstub_tcp_flow resumes it. */
static void
dnsstub_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dnsstub_tcp *tcp = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (tcp->eof)
		return; /* a deferred trigger after FIN */
	for (;;) {
		uint8_t prefix[2], query[DNSSTUB_MAX_QUERY];
		size_t len;

		if (tcp->n_queries >= DNSSTUB_TCP_MAX_PER_CONN ||
		    evbuffer_get_length(bufferevent_get_output(bev)) >=
		        DNSSTUB_TCP_OUT_CAP) {
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (evbuffer_copyout(in, prefix, 2) < 2)
			break;
		len = wire_get_u16(prefix);
		if (len > DNSSTUB_MAX_QUERY) {
			log_debug(LOG_CAT_DNS,
			    "dns: tcp query of %zu bytes: "
			    "closing",
			    len);
			dnsstub_tcp_close(tcp);
			return;
		}
		if (evbuffer_get_length(in) < 2 + len)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, query, len);
		dnsstub_handle(tcp->stub, tcp, NULL, 0, query, len);
	}
	bufferevent_enable(bev, EV_READ);
}

/* After an answer or a drained write: resume reading when under the
 * limits; close a client that sent FIN once it has its answers. */
static void
dnsstub_tcp_flow(struct dnsstub_tcp *tcp)
{
	size_t out = evbuffer_get_length(bufferevent_get_output(tcp->bev));

	if (tcp->eof) {
		if (tcp->n_queries == 0 && out == 0)
			dnsstub_tcp_close(tcp);
		return;
	}
	if (tcp->n_queries < DNSSTUB_TCP_MAX_PER_CONN &&
	    out < DNSSTUB_TCP_OUT_CAP / 2 &&
	    !(bufferevent_get_enabled(tcp->bev) & EV_READ)) {
		bufferevent_enable(tcp->bev, EV_READ);
		/* Queries already buffered get no new read event. */
		bufferevent_trigger(
		    tcp->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	}
}

static void
dnsstub_tcp_write(struct bufferevent *bev, void *arg)
{
	dnsstub_tcp_flow(arg);
}

static void
dnsstub_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dnsstub_tcp *tcp = arg;

	if ((what & BEV_EVENT_TIMEOUT) && !(what & BEV_EVENT_ERROR)) {
		/* Idle: close unless answers are still due. */
		if (tcp->n_queries > 0) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		dnsstub_tcp_close(tcp);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		tcp->eof = true;
		bufferevent_disable(bev, EV_READ);
		dnsstub_tcp_flow(tcp);
		return;
	}
	dnsstub_tcp_close(tcp);
}

/* Closes a TCP client; its queries are dropped (cluster requests
 * cancelled). */
static void
dnsstub_tcp_close(struct dnsstub_tcp *tcp)
{
	struct dnsstub *stub = tcp->stub;

	while (!TAILQ_EMPTY(&tcp->queries))
		dnsstub_query_free(TAILQ_FIRST(&tcp->queries), true);
	TAILQ_REMOVE(&stub->tcps, tcp, link);
	stub->n_tcps--;
	bufferevent_free(tcp->bev);
	free(tcp);
}

static void
dnsstub_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct dnsstub *stub = arg;
	struct dnsstub_tcp *tcp;
	struct timeval idle;

	if (stub->n_tcps >= stub->max_tcp_clients) {
		log_debug(LOG_CAT_DNS, "dns: %u tcp clients: refusing one",
		    stub->n_tcps);
		evutil_closesocket(fd);
		return;
	}
	tcp = calloc(1, sizeof(*tcp));
	if (!tcp) {
		evutil_closesocket(fd);
		return;
	}
	tcp->bev =
	    bufferevent_socket_new(stub->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!tcp->bev) {
		evutil_closesocket(fd);
		free(tcp);
		return;
	}
	tcp->stub = stub;
	TAILQ_INIT(&tcp->queries);
	TAILQ_INSERT_TAIL(&stub->tcps, tcp, link);
	stub->n_tcps++;
	bufferevent_setwatermark(
	    tcp->bev, EV_READ, 0, 4 * (2 + DNSSTUB_MAX_QUERY));
	dnsstub_timeval(&idle, stub->tcp_idle_ms);
	bufferevent_set_timeouts(tcp->bev, &idle, NULL);
	bufferevent_setcb(tcp->bev, dnsstub_tcp_read, dnsstub_tcp_write,
	    dnsstub_tcp_event, tcp);
	bufferevent_enable(tcp->bev, EV_READ | EV_WRITE);
}

/* --- zones --- */

/* Answers SERVFAIL to every request pending on session, unless a zone
 * still uses it. */
static void
dnsstub_fail_session(struct dnsstub *stub, const struct mux_session *session)
{
	struct dnsstub_query *qr, *next;

	if (!session)
		return;
	for (size_t i = 0; i < stub->n_zones; i++) {
		if (stub->zones[i].session == session)
			return;
	}
	for (qr = TAILQ_FIRST(&stub->queries); qr; qr = next) {
		next = TAILQ_NEXT(qr, link);
		if (qr->stage == DNSSTUB_CLUSTER && qr->session == session) {
			/* A TCP client's answer only queues bytes: the
			 * list stays intact. */
			dnsstub_attempt_end(qr, false);
			dnsstub_query_fail(
			    qr, DNSWIRE_SERVFAIL, "the session went away");
		}
	}
}

int
dnsstub_set_zone(struct dnsstub *stub, const char *ns,
    const char *cluster_domain, struct mux_session *session)
{
	struct dnswire_zone wz = {0};
	size_t i;

	if (dnswire_name_from_text(ns, &wz.ns) < 0 ||
	    dnswire_name_labels(&wz.ns) != 1 ||
	    dnswire_name_from_text(cluster_domain, &wz.domain) < 0 ||
	    dnswire_name_labels(&wz.domain) == 0)
		return -EINVAL;
	wz.ready = session != NULL;
	i = dnsstub_zone_find(stub, ns);
	if (i == stub->n_zones) {
		if (stub->n_zones >= DNSSTUB_MAX_ZONES)
			return -ENOSPC;
		stub->n_zones++;
		snprintf(
		    stub->zones[i].ns, sizeof(stub->zones[i].ns), "%s", ns);
		stub->zones[i].session = NULL;
	}
	if (stub->zones[i].session != session) {
		struct mux_session *old = stub->zones[i].session;

		stub->zones[i].session = session;
		dnsstub_fail_session(stub, old);
	}
	stub->wzones[i] = wz;
	log_debug(LOG_CAT_DNS, "dns: namespace %s (%s): %s", ns, cluster_domain,
	    session ? "ready" : "not connected");
	return 0;
}

int
dnsstub_remove_zone(struct dnsstub *stub, const char *ns)
{
	size_t i = dnsstub_zone_find(stub, ns);
	struct mux_session *old;

	if (i == stub->n_zones)
		return -ENOENT;
	old = stub->zones[i].session;
	memmove(&stub->zones[i], &stub->zones[i + 1],
	    (stub->n_zones - i - 1) * sizeof(*stub->zones));
	memmove(&stub->wzones[i], &stub->wzones[i + 1],
	    (stub->n_zones - i - 1) * sizeof(*stub->wzones));
	stub->n_zones--;
	dnsstub_fail_session(stub, old);
	return 0;
}

/* --- set-up --- */

static int
dnsstub_bind(struct dnsstub *stub, struct sockaddr_storage *ss, socklen_t sslen,
    char *err, size_t errlen)
{
	/* sin_port and sin6_port sit at the same offset. */
	bool pick = ((struct sockaddr_in *)ss)->sin_port == 0;
	int r = 0;

	/* With port 0, UDP picks a port and TCP must get the same one. */
	for (int attempt = 0; attempt < 16; attempt++) {
		evutil_socket_t u = -1, t = -1;
		struct sockaddr_storage bound = *ss;
		socklen_t blen = sslen;
		int one = 1;

		u = socket(ss->ss_family,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		t = socket(ss->ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (u < 0 || t < 0) {
			r = -errno;
			goto fail;
		}
		if (ss->ss_family == AF_INET6) {
			setsockopt(
			    u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			setsockopt(
			    t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		}
		setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(u, (struct sockaddr *)&bound, blen) < 0 ||
		    getsockname(u, (struct sockaddr *)&bound, &blen) < 0 ||
		    bind(t, (struct sockaddr *)&bound, blen) < 0 ||
		    listen(t, 64) < 0) {
			r = -errno;
			goto fail;
		}
		stub->lev = evconnlistener_new(stub->base, dnsstub_accept, stub,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, t);
		if (!stub->lev) {
			r = -ENOMEM;
			goto fail;
		}
		stub->udp_fd = u;
		*ss = bound;
		return 0;
	fail:
		if (u >= 0)
			evutil_closesocket(u);
		if (t >= 0)
			evutil_closesocket(t);
		if (!(pick && r == -EADDRINUSE))
			break;
	}
	errbuf_set(err, errlen, "cannot listen for DNS on %s: %s", stub->addr,
	    strerror(-r));
	return r;
}

int
dnsstub_new(struct event_base *base, const struct dnsstub_config *cfg,
    const struct dnsstub_upstreams *upstreams, struct dnsstub **ret_stub,
    char *err, size_t errlen)
{
	struct dnsstub *stub = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int r;

	if (!cfg || !cfg->listen || !upstreams || !upstreams->send) {
		errbuf_set(err, errlen, "DNS stub: no address or upstream");
		return -EINVAL;
	}
	if (cfg->n_servers > DNSSTUB_MAX_SERVERS) {
		errbuf_set(err, errlen,
		    "DNS stub: %zu name servers given, at most %d are used",
		    cfg->n_servers, DNSSTUB_MAX_SERVERS);
		return -EINVAL;
	}
	if (addr_parse(cfg->listen, &ss, &sslen) < 0) {
		errbuf_set(err, errlen, "DNS stub: \"%s\" is not ADDRESS:PORT",
		    cfg->listen);
		return -EINVAL;
	}
	stub = calloc(1, sizeof(*stub));
	if (!stub) {
		errbuf_set(err, errlen, "DNS stub: out of memory");
		return -ENOMEM;
	}
	stub->base = base;
	stub->up = *upstreams;
	stub->udp_fd = -1;
	TAILQ_INIT(&stub->queries);
	TAILQ_INIT(&stub->tcps);
	stub->timeout_ms =
	    cfg->timeout_ms ? cfg->timeout_ms : DNSSTUB_TIMEOUT_MS;
	stub->max_pending =
	    cfg->max_pending ? cfg->max_pending : DNSSTUB_MAX_PENDING;
	stub->max_tcp_clients = cfg->max_tcp_clients ? cfg->max_tcp_clients
	                                             : DNSSTUB_MAX_TCP_CLIENTS;
	stub->tcp_idle_ms =
	    cfg->tcp_idle_ms ? cfg->tcp_idle_ms : DNSSTUB_TCP_IDLE_MS;
	for (size_t i = 0; i < cfg->n_servers; i++) {
		sa_family_t f = cfg->servers[i].ss_family;

		if (f != AF_INET && f != AF_INET6) {
			errbuf_set(err, errlen,
			    "DNS stub: name server %zu is not IPv4 or IPv6",
			    i + 1);
			r = -EINVAL;
			goto fail;
		}
		stub->servers[i] = cfg->servers[i];
		stub->server_lens[i] = f == AF_INET
		                           ? sizeof(struct sockaddr_in)
		                           : sizeof(struct sockaddr_in6);
	}
	stub->n_servers = cfg->n_servers;
	snprintf(stub->addr, sizeof(stub->addr), "%s", cfg->listen);
	r = dnsstub_bind(stub, &ss, sslen, err, errlen);
	if (r < 0)
		goto fail;
	stub->udp_ev = event_new(
	    base, stub->udp_fd, EV_READ | EV_PERSIST, dnsstub_udp_read, stub);
	if (!stub->udp_ev || event_add(stub->udp_ev, NULL) < 0) {
		errbuf_set(err, errlen, "DNS stub: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	addr_format((struct sockaddr *)&ss, stub->addr, sizeof(stub->addr));
	log_debug(LOG_CAT_DNS, "dns: listening on %s (udp, tcp), %zu servers",
	    stub->addr, stub->n_servers);
	*ret_stub = stub;
	return 0;
fail:
	dnsstub_free(stub);
	return r;
}

void
dnsstub_free(struct dnsstub *stub)
{
	if (!stub)
		return;
	while (!TAILQ_EMPTY(&stub->tcps))
		dnsstub_tcp_close(TAILQ_FIRST(&stub->tcps));
	while (!TAILQ_EMPTY(&stub->queries))
		dnsstub_query_free(TAILQ_FIRST(&stub->queries), true);
	if (stub->udp_ev)
		event_free(stub->udp_ev);
	if (stub->udp_fd >= 0)
		evutil_closesocket(stub->udp_fd);
	if (stub->lev)
		evconnlistener_free(stub->lev);
	free(stub);
}

const char *
dnsstub_address(const struct dnsstub *stub)
{
	return stub->addr;
}

unsigned
dnsstub_pending(const struct dnsstub *stub)
{
	return stub->n_pending;
}
