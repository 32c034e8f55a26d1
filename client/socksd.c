/* SPDX-License-Identifier: Apache-2.0 */
/*
 * socksd: the SOCKS5 listener of telepodd. Each accepted client goes
 * through GREETING -> REQUEST -> OPENING and leaves socksd either as a
 * mux stream (success) or through REPLYING: an error reply is written, the
 * write side shut down, and the socket drained until EOF or a short
 * deadline, so that the client reads the reply instead of a reset.
 *
 * The socket is handed to the mux at the OPEN, before the result is known
 * (mux_stream_open takes the bufferevent), so socksd keeps a dup of the fd
 * until the result: on success the 10-byte reply is written on it straight
 * into the empty socket buffer, ahead of anything the mux relays; on
 * failure the mux has closed its bufferevent abortively (SO_LINGER 0), so
 * socksd clears the linger on its dup and writes the error reply there.
 *
 * Back-pressure on accept (as nginx and HAProxy do): when max_pending
 * clients are in flight, the listener is disabled and new connections wait
 * in the kernel's listen backlog (SOCKSD_BACKLOG) until a client leaves the
 * handshake, when it is enabled again. A burst is slowed down, not failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "client/socks5.h"
#include "client/socksd.h"
#include "common/addr.h"
#include "common/log.h"

enum socksd_state {
	SOCKSD_GREETING = 1,
	SOCKSD_REQUEST,
	SOCKSD_OPENING,
	SOCKSD_REPLYING,
};

struct socksd_client {
	TAILQ_ENTRY(socksd_client) link;
	struct socksd *sd;
	enum socksd_state state;
	struct bufferevent *bev; /* ours except while OPENING */
	evutil_socket_t dupfd;   /* while OPENING */
	struct mux_stream *st;   /* while OPENING */
	struct event *timer;
	bool timed_out;
	bool shut; /* REPLYING: write side shut down */
	unsigned id;
	char dst[WIRE_MAX_HOSTNAME + 16];
};

TAILQ_HEAD(socksd_clients, socksd_client);

struct socksd {
	struct event_base *base;
	struct evconnlistener *lev;
	struct socksd_config cfg;
	socksd_route_fn route;
	void *route_arg;
	struct socksd_clients clients;
	unsigned n_clients;
	unsigned next_id;
	bool paused; /* listener disabled at max_pending */
	/* The "limit reached" line: when last logged (monotonic ms, 0 =
	 * never) and how often the limit was hit since. */
	long long limit_logged_ms;
	unsigned long long limit_hits;
	bool freeing;
	char addr[SOCKSD_MAX_ADDR];
};

static void
socksd_timeval(struct timeval *tv, unsigned ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static long long
socksd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* At max_pending: stop accepting; the kernel's backlog holds the rest. */
static void
socksd_pause(struct socksd *sd)
{
	long long now;

	if (sd->paused || evconnlistener_disable(sd->lev) < 0)
		return;
	sd->paused = true;
	sd->limit_hits++;
	now = socksd_now_ms();
	if (sd->limit_logged_ms &&
	    now - sd->limit_logged_ms < SOCKSD_LIMIT_LOG_MS)
		return;
	if (sd->limit_hits > 1)
		log_info("socks %s: %u clients in handshake, the limit, again "
		         "(%llu times since the last report); new connections "
		         "wait in the listen backlog",
		    sd->addr, sd->n_clients, sd->limit_hits);
	else
		log_info("socks %s: %u clients in handshake, the limit; new "
		         "connections wait in the listen backlog",
		    sd->addr, sd->n_clients);
	sd->limit_logged_ms = now;
	sd->limit_hits = 0;
}

static void
socksd_client_free(struct socksd_client *cl)
{
	struct socksd *sd = cl->sd;

	TAILQ_REMOVE(&sd->clients, cl, link);
	sd->n_clients--;
	if (sd->paused && !sd->freeing && sd->n_clients < sd->cfg.max_pending &&
	    evconnlistener_enable(sd->lev) == 0)
		sd->paused = false;
	if (cl->timer)
		event_free(cl->timer);
	if (cl->bev)
		bufferevent_free(cl->bev);
	if (cl->dupfd >= 0)
		evutil_closesocket(cl->dupfd);
	free(cl);
}

static void
socksd_reply_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	/* Whatever the client still sends is discarded. */
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
socksd_reply_write_cb(struct bufferevent *bev, void *arg)
{
	struct socksd_client *cl = arg;

	if (cl->shut || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	/* The reply is out: FIN, then wait for the client's EOF so that
	 * closing does not turn into a reset that could eat the reply. */
	cl->shut = true;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_enable(bev, EV_READ);
}

static void
socksd_reply_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct socksd_client *cl = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		socksd_client_free(cl);
}

/*
 * Sends data (a method or request reply) and closes gracefully. Takes over
 * cl->bev, or makes one on cl->dupfd after a failed open.
 */
static void
socksd_reply_close(struct socksd_client *cl, const uint8_t *data, size_t len)
{
	struct socksd *sd = cl->sd;
	struct timeval tv;

	if (sd->freeing) {
		socksd_client_free(cl);
		return;
	}
	if (!cl->bev) {
		struct linger l = {.l_onoff = 0, .l_linger = 0};

		setsockopt(cl->dupfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		cl->bev = bufferevent_socket_new(
		    sd->base, cl->dupfd, BEV_OPT_CLOSE_ON_FREE);
		if (!cl->bev) {
			socksd_client_free(cl);
			return;
		}
		cl->dupfd = -1;
	}
	cl->state = SOCKSD_REPLYING;
	cl->st = NULL;
	bufferevent_setcb(cl->bev, socksd_reply_read_cb, socksd_reply_write_cb,
	    socksd_reply_event_cb, cl);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	bufferevent_disable(cl->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(cl->bev),
	    evbuffer_get_length(bufferevent_get_input(cl->bev)));
	if (cl->timer)
		event_del(cl->timer);
	socksd_timeval(&tv, SOCKSD_LINGER_MS);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	if (bufferevent_write(cl->bev, data, len) < 0) {
		socksd_client_free(cl);
		return;
	}
	bufferevent_enable(cl->bev, EV_WRITE);
}

static void
socksd_reply_error(struct socksd_client *cl, uint8_t rep)
{
	uint8_t out[SOCKS5_REPLY_LEN];

	socks5_encode_reply(out, rep);
	log_debug(LOG_CAT_MUX, "socks %u: %s: reply %u (%s)", cl->id, cl->dst,
	    rep, socks5_reply_text(rep));
	socksd_reply_close(cl, out, sizeof(out));
}

static void
socksd_format_dst(char *out, size_t len, const struct frame_addr *dst)
{
	char ip[INET6_ADDRSTRLEN];

	switch (dst->type) {
	case WIRE_ADDR_IPV4:
		evutil_inet_ntop(AF_INET, dst->a.v4, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, dst->port);
		break;
	case WIRE_ADDR_IPV6:
		evutil_inet_ntop(AF_INET6, dst->a.v6, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, dst->port);
		break;
	default:
		/* Checked by socks5: letters, digits, '-', '_', '.'. */
		snprintf(out, len, "%s:%u", dst->a.name, dst->port);
		break;
	}
}

static void
socksd_open_cb(
    struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	struct socksd_client *cl = arg;
	struct socksd *sd = cl->sd;
	uint8_t out[SOCKS5_REPLY_LEN], rep;
	char esc[128];
	ssize_t n;

	cl->st = NULL;
	if (error == WIRE_OK) {
		/* The socket buffer is empty: the mux has written nothing to
		 * it yet, and relays only after this returns. */
		socks5_encode_reply(out, SOCKS5_REP_SUCCEEDED);
		n = write(cl->dupfd, out, sizeof(out));
		if (n != (ssize_t)sizeof(out)) {
			log_debug(LOG_CAT_MUX, "socks %u: reply lost: %s",
			    cl->id, n < 0 ? strerror(errno) : "short write");
			mux_stream_reset(
			    st, WIRE_ERR_CONN_RESET, "SOCKS client went away");
		} else {
			log_debug(LOG_CAT_MUX, "socks %u: %s: stream %u open",
			    cl->id, cl->dst, mux_stream_id(st));
		}
		socksd_client_free(cl);
		return;
	}
	if (cl->timed_out)
		rep = SOCKS5_REP_TTL_EXPIRED;
	else if (error == WIRE_ERR_SHUTDOWN ||
	         mux_session_is_closed(mux_stream_session(st)))
		rep = SOCKS5_REP_NET_UNREACHABLE; /* the tunnel went down */
	else
		rep = socks5_reply_for_error(error);
	if (!sd->freeing)
		log_debug(LOG_CAT_MUX, "socks %u: %s: %s: %s", cl->id, cl->dst,
		    wire_error_name(error),
		    log_escape(esc, sizeof(esc), msg, strlen(msg)));
	socksd_reply_error(cl, rep);
}

/* The request is complete: find a session and open the stream. */
static void
socksd_open(struct socksd_client *cl, const struct frame_addr *dst)
{
	struct socksd *sd = cl->sd;
	struct mux_session *s;
	struct timeval tv;
	int r;

	socksd_format_dst(cl->dst, sizeof(cl->dst), dst);
	s = sd->route(dst, sd->route_arg);
	if (!s) {
		socksd_reply_error(cl, SOCKS5_REP_NET_UNREACHABLE);
		return;
	}
	cl->dupfd = fcntl(bufferevent_getfd(cl->bev), F_DUPFD_CLOEXEC, 0);
	if (cl->dupfd < 0) {
		socksd_reply_error(cl, SOCKS5_REP_GENERAL_FAILURE);
		return;
	}
	cl->state = SOCKSD_OPENING;
	r = mux_stream_open(s, dst, cl->bev, socksd_open_cb, cl, &cl->st);
	if (r < 0) {
		evutil_closesocket(cl->dupfd);
		cl->dupfd = -1;
		cl->st = NULL;
		log_debug(LOG_CAT_MUX, "socks %u: %s: cannot open: %s", cl->id,
		    cl->dst, strerror(-r));
		switch (r) {
		case -ENOTCONN:
		case -ESHUTDOWN:
			socksd_reply_error(cl, SOCKS5_REP_NET_UNREACHABLE);
			break;
		case -EOPNOTSUPP:
			socksd_reply_error(cl, SOCKS5_REP_ATYP_UNSUPPORTED);
			break;
		case -EINVAL:
			socksd_reply_error(cl, SOCKS5_REP_HOST_UNREACHABLE);
			break;
		default:
			socksd_reply_error(cl, SOCKS5_REP_GENERAL_FAILURE);
			break;
		}
		return;
	}
	/* The mux owns the bufferevent now (and any bytes pipelined after
	 * the request, which it relays once the stream is open). */
	cl->bev = NULL;
	socksd_timeval(&tv, sd->cfg.open_ms);
	event_add(cl->timer, &tv);
}

static void
socksd_read_cb(struct bufferevent *bev, void *arg)
{
	struct socksd_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct frame_addr dst;
	size_t len;
	uint8_t *p, method, rep = SOCKS5_REP_GENERAL_FAILURE;
	int r;

	if (cl->state == SOCKSD_GREETING) {
		len = evbuffer_get_length(in);
		if (len == 0)
			return;
		if (len > SOCKS5_MAX_GREETING)
			len = SOCKS5_MAX_GREETING;
		p = evbuffer_pullup(in, (ssize_t)len);
		r = socks5_parse_greeting(p, len, &method);
		if (r < 0) {
			log_debug(LOG_CAT_MUX, "socks %u: not SOCKS5", cl->id);
			socksd_client_free(cl);
			return;
		}
		if (r == 0)
			return;
		evbuffer_drain(in, (size_t)r);
		if (method != SOCKS5_METHOD_NO_AUTH) {
			uint8_t out[2] = {SOCKS5_VERSION, method};

			log_debug(LOG_CAT_MUX,
			    "socks %u: client offers no NO-AUTH method",
			    cl->id);
			socksd_reply_close(cl, out, sizeof(out));
			return;
		}
		{
			uint8_t out[2] = {
			    SOCKS5_VERSION, SOCKS5_METHOD_NO_AUTH};

			bufferevent_write(bev, out, sizeof(out));
		}
		cl->state = SOCKSD_REQUEST;
	}
	if (cl->state != SOCKSD_REQUEST)
		return;
	len = evbuffer_get_length(in);
	if (len == 0)
		return;
	if (len > SOCKS5_MAX_REQUEST)
		len = SOCKS5_MAX_REQUEST;
	p = evbuffer_pullup(in, (ssize_t)len);
	r = socks5_parse_request(p, len, &dst, &rep);
	if (r < 0) {
		snprintf(cl->dst, sizeof(cl->dst), "bad request");
		socksd_reply_error(cl, rep);
		return;
	}
	if (r == 0)
		return;
	evbuffer_drain(in, (size_t)r);
	socksd_open(cl, &dst);
}

static void
socksd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct socksd_client *cl = arg;

	/* EOF or error during the handshake: nobody to answer. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		socksd_client_free(cl);
}

static void
socksd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct socksd_client *cl = arg;

	switch (cl->state) {
	case SOCKSD_GREETING:
	case SOCKSD_REQUEST:
		log_debug(LOG_CAT_MUX, "socks %u: handshake timed out", cl->id);
		socksd_client_free(cl);
		break;
	case SOCKSD_OPENING:
		/* open_cb(CANCEL) runs inside and answers 0x06. */
		cl->timed_out = true;
		if (cl->st)
			mux_stream_reset(cl->st, WIRE_ERR_CANCEL,
			    "the server did not answer the OPEN in time");
		break;
	case SOCKSD_REPLYING:
		socksd_client_free(cl);
		break;
	}
}

static void
socksd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct socksd *sd = arg;
	struct socksd_client *cl;
	struct timeval tv;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		evutil_closesocket(fd);
		return;
	}
	cl->sd = sd;
	cl->dupfd = -1;
	cl->id = ++sd->next_id;
	cl->state = SOCKSD_GREETING;
	TAILQ_INSERT_TAIL(&sd->clients, cl, link);
	sd->n_clients++;
	/* Before anything can free cl: libevent checks after each callback
	 * whether it disabled the listener, and stops accepting. */
	if (sd->n_clients >= sd->cfg.max_pending)
		socksd_pause(sd);
	cl->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->timer = evtimer_new(sd->base, socksd_timer_cb, cl);
	if (!cl->bev || !cl->timer) {
		if (!cl->bev)
			evutil_closesocket(fd);
		socksd_client_free(cl);
		return;
	}
	bufferevent_setcb(cl->bev, socksd_read_cb, NULL, socksd_event_cb, cl);
	/* Enough for a request plus some pipelined bytes; more waits in the
	 * kernel until the mux reads. */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, 16384);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	socksd_timeval(&tv, sd->cfg.handshake_ms);
	event_add(cl->timer, &tv);
}

static void
socksd_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: keep listening; the next accept may work. */
	log_warn("socks: accept failed: %s", evutil_socket_error_to_string(e));
}

int
socksd_new(struct event_base *base, const char *listen_addr,
    const struct socksd_config *cfg, socksd_route_fn route, void *arg,
    struct socksd **ret_sd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len, sl = sizeof(ss);
	struct socksd *sd;
	int r;

	r = addr_parse(listen_addr, &ss, &len);
	if (r < 0) {
		snprintf(err, errlen,
		    "invalid SOCKS address \"%.64s\": expected IP:PORT such as 127.0.0.1:1080",
		    listen_addr);
		return r;
	}
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->base = base;
	TAILQ_INIT(&sd->clients);
	if (cfg)
		sd->cfg = *cfg;
	if (!sd->cfg.max_pending)
		sd->cfg.max_pending = SOCKSD_MAX_PENDING;
	if (!sd->cfg.handshake_ms)
		sd->cfg.handshake_ms = SOCKSD_HANDSHAKE_MS;
	if (!sd->cfg.open_ms)
		sd->cfg.open_ms = SOCKSD_OPEN_MS;
	sd->route = route;
	sd->route_arg = arg;
	sd->lev = evconnlistener_new_bind(base, socksd_accept_cb, sd,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    SOCKSD_BACKLOG, (struct sockaddr *)&ss, (int)len);
	if (!sd->lev) {
		r = -errno;
		if (r == 0)
			r = -EIO;
		snprintf(err, errlen,
		    "cannot listen for SOCKS5 on %s: %s; choose another address with --socks",
		    listen_addr, strerror(-r));
		free(sd);
		return r;
	}
	evconnlistener_set_error_cb(sd->lev, socksd_accept_error_cb);
	if (getsockname(evconnlistener_get_fd(sd->lev), (struct sockaddr *)&ss,
	        &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "getsockname: %s", strerror(-r));
		socksd_free(sd);
		return r;
	}
	addr_format((struct sockaddr *)&ss, sd->addr, sizeof(sd->addr));
	*ret_sd = sd;
	return 0;
}

void
socksd_free(struct socksd *sd)
{
	struct socksd_client *cl;

	if (!sd)
		return;
	sd->freeing = true;
	if (sd->lev)
		evconnlistener_free(sd->lev);
	while ((cl = TAILQ_FIRST(&sd->clients))) {
		if (cl->state == SOCKSD_OPENING && cl->st) {
			/* open_cb(CANCEL) frees cl before this returns. */
			mux_stream_reset(cl->st, WIRE_ERR_CANCEL,
			    "the SOCKS entry is closing");
			if (TAILQ_FIRST(&sd->clients) == cl)
				socksd_client_free(cl);
		} else {
			socksd_client_free(cl);
		}
	}
	free(sd);
}

const char *
socksd_address(const struct socksd *sd)
{
	return sd->addr;
}

unsigned
socksd_pending(const struct socksd *sd)
{
	return sd->n_clients;
}
