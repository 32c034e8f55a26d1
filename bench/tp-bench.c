/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-bench: the load tools bench/run needs and Debian does not ship.
 *
 *   tp-bench serve --http IP:PORT [--echo IP:PORT] [--body BYTES]
 *       An HTTP/1.1 responder (every request without a body gets 200 and
 *       BYTES of body, keep-alive unless the request says "Connection:
 *       close" or is HTTP/1.0) and an echo server that also holds idle
 *       connections for as long as the peer keeps them. Runs until SIGTERM.
 *
 *   tp-bench conns --to IP:PORT [--socks IP:PORT] -n COUNT
 *       [--mode idle|pingpong|close] [--msg BYTES] [--interval-ms MS]
 *       [--ramp N] [--duration SECONDS] [--ready-file PATH]
 *       Opens COUNT connections to an echo server (through a SOCKS5 proxy
 *       when asked), at most N handshakes at a time. When every connection
 *       is established or has failed it prints "ready ..." (and writes the
 *       line to PATH); in pingpong mode each connection then sends BYTES
 *       and waits for them back, pausing MS between round trips. Ends after
 *       SECONDS (from start) or on SIGTERM and prints "done ...".
 *       In close mode each of the COUNT slots sends an HTTP GET with
 *       "Connection: close" on a new connection, reads the answer to EOF,
 *       and starts over (new connections per second, with latency
 *       percentiles from connect to EOF), like wrk with that header but
 *       with a non-blocking SOCKS5 handshake that wrk cannot do.
 *
 * Both are single-threaded level-triggered epoll loops over non-blocking
 * sockets rather than libevent: the tools must cost as little CPU per
 * request as possible so that what the bench sees is the path under test,
 * and raw epoll with fixed buffers has no hidden allocations. They are
 * bench helpers, never part of a telepod process. Every input is bounded:
 * a request head of at most TPB_HEAD_MAX bytes, COUNT and BYTES below hard
 * maxima checked before allocation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TPB_HEAD_MAX     8192        /* one HTTP request head */
#define TPB_BODY_MAX     (1u << 20)  /* --body */
#define TPB_OUT_CAP      (64 * 1024) /* queued output before reading stops */
#define TPB_ECHO_BUF     (64 * 1024)
#define TPB_MSG_MAX      (64 * 1024) /* --msg */
#define TPB_CONNS_MAX    200000      /* -n */
#define TPB_RAMP_DEFAULT 256
#define TPB_EVENTS       256
#define TPB_TICK_MS      10
#define TPB_HIST_US      10     /* latency histogram: 10 us buckets */
#define TPB_HIST_N       100000 /* ... up to 1 s; the last one is "more" */
#define TPB_HTTP_REQ                                                           \
	"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"

static volatile sig_atomic_t tpb_stop;

static void
tpb_on_signal(int sig)
{
	(void)sig;
	tpb_stop = 1;
}

static int
tpb_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tpb_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* Raises the open-file limit to its hard maximum (10,000 streams need it). */
static void
tpb_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static uint64_t
tpb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
tpb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parses IPv4:PORT. Returns 0 or -EINVAL. */
static int
tpb_parse_addr(const char *s, struct sockaddr_in *ret_sa)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in sa;
	char *end;
	long port;
	size_t n;

	if (colon == NULL)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 1 ||
	    port > 65535)
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	*ret_sa = sa;
	return 0;
}

/* Parses an unsigned number in [min, max]. Returns 0 or -EINVAL. */
static int
tpb_parse_uint(
    const char *s, unsigned long min, unsigned long max, unsigned long *ret_v)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret_v = v;
	return 0;
}

static void
tpb_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- serve ---------------------------------------------------------- */

enum tpb_kind {
	TPB_HTTP,
	TPB_ECHO,
};

/* One accepted connection; buffers are inline (no per-request allocation). */
struct tpb_sconn {
	int fd;
	enum tpb_kind kind;
	bool closing; /* close once out is flushed */
	bool want_out;
	size_t in_len;
	size_t out_off, out_len;
	char *in;   /* HTTP: TPB_HEAD_MAX bytes not yet answered; owned */
	char *out;  /* HTTP: TPB_OUT_CAP + one response; owned */
	char *echo; /* ECHO: TPB_ECHO_BUF, allocated on first data; owned */
	size_t echo_off, echo_len;
};

struct tpb_server {
	int ep;
	int http_fd, echo_fd;
	char *resp_keep, *resp_close; /* whole responses; owned */
	size_t resp_keep_len, resp_close_len;
	struct tpb_sconn **conns; /* indexed by fd; owned */
	size_t conns_cap;
	unsigned long accepted, requests, live;
};

static int
tpb_listen(const struct sockaddr_in *sa)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(fd, 4096) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int
tpb_build_response(
    size_t body, bool close_conn, char **ret_buf, size_t *ret_len)
{
	char head[256];
	int n;
	char *buf;
	size_t i;

	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Length: %zu\r\n%s\r\n",
	    body, close_conn ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	buf = malloc((size_t)n + body);
	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, head, (size_t)n);
	for (i = 0; i < body; i++)
		buf[(size_t)n + i] = (char)('a' + i % 26);
	*ret_buf = buf;
	*ret_len = (size_t)n + body;
	return 0;
}

static void
tpb_sconn_free(struct tpb_server *s, struct tpb_sconn *c)
{
	if (c == NULL)
		return;
	(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	s->conns[c->fd] = NULL;
	s->live--;
	free(c->in);
	free(c->out);
	free(c->echo);
	free(c);
}

static int
tpb_set_events(
    struct tpb_server *s, struct tpb_sconn *c, bool want_in, bool want_out)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = (want_in ? EPOLLIN : 0) | (want_out ? EPOLLOUT : 0);
	ev.data.fd = c->fd;
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->want_out = want_out;
	return 0;
}

/* Case-insensitive search for needle in the first n bytes of hay. */
static bool
tpb_has_ci(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	for (i = 0; i + m <= n; i++)
		if (strncasecmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

/*
 * Answers the complete request heads in c->in while the output has room.
 * Returns 0, or -EPROTO when the peer sent something this server does not
 * take (a body, an over-long head): it is answered 400 and closed.
 */
static int
tpb_http_parse(struct tpb_server *s, struct tpb_sconn *c)
{
	static const char bad[] =
	    "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	size_t used = 0;

	while (!c->closing && c->out_len - c->out_off < TPB_OUT_CAP) {
		const char *p = c->in + used;
		size_t avail = c->in_len - used, head = 0, i;
		bool close_conn;
		const char *resp;
		size_t resp_len;

		for (i = 0; i + 4 <= avail; i++) {
			if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
				head = i + 4;
				break;
			}
		}
		if (head == 0) {
			if (used == 0 && c->in_len == TPB_HEAD_MAX)
				goto bad;
			break;
		}
		if (tpb_has_ci(p, head, "\r\ncontent-length:") ||
		    tpb_has_ci(p, head, "\r\ntransfer-encoding:"))
			goto bad;
		close_conn =
		    tpb_has_ci(p, head, "\r\nconnection: close") ||
		    (tpb_has_ci(p, head, " HTTP/1.0\r\n") &&
		        !tpb_has_ci(p, head, "\r\nconnection: keep-alive"));
		resp = close_conn ? s->resp_close : s->resp_keep;
		resp_len = close_conn ? s->resp_close_len : s->resp_keep_len;
		if (c->out_off > 0 && c->out_off == c->out_len)
			c->out_off = c->out_len = 0;
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off,
			    c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		memcpy(c->out + c->out_len, resp, resp_len);
		c->out_len += resp_len;
		s->requests++;
		used += head;
		if (close_conn)
			c->closing = true;
	}
	if (used > 0) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
	return 0;
bad:
	c->out_off = c->out_len = 0;
	memcpy(c->out, bad, sizeof(bad) - 1);
	c->out_len = sizeof(bad) - 1;
	c->closing = true;
	c->in_len = 0;
	return -EPROTO;
}

/* Writes what is queued. Returns 0, or < 0 when the connection is dead. */
static int
tpb_flush(int fd, const char *buf, size_t *off, size_t len)
{
	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		*off += (size_t)n;
	}
	return 0;
}

/* Handles readiness of an HTTP connection; frees it when it ends. */
static void
tpb_http_event(struct tpb_server *s, struct tpb_sconn *c, uint32_t events)
{
	bool room;

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->closing &&
	    c->in_len < TPB_HEAD_MAX) {
		ssize_t n =
		    recv(c->fd, c->in + c->in_len, TPB_HEAD_MAX - c->in_len, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			tpb_sconn_free(s, c);
			return;
		}
		if (n > 0)
			c->in_len += (size_t)n;
	}
	(void)tpb_http_parse(s, c);
	if (tpb_flush(c->fd, c->out, &c->out_off, c->out_len) < 0) {
		tpb_sconn_free(s, c);
		return;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing) {
			tpb_sconn_free(s, c);
			return;
		}
		/* Pipelined requests may wait in c->in. */
		(void)tpb_http_parse(s, c);
	}
	room = !c->closing && c->out_len - c->out_off < TPB_OUT_CAP &&
	       c->in_len < TPB_HEAD_MAX;
	if (tpb_set_events(s, c, room, c->out_off < c->out_len) < 0)
		tpb_sconn_free(s, c);
}

/* Handles readiness of an echo connection; frees it when it ends. */
static void
tpb_echo_event(struct tpb_server *s, struct tpb_sconn *c, uint32_t events)
{
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->echo_len == 0) {
		ssize_t n;

		/* Idle connections (the 10,000-stream test) cost no buffer. */
		if (c->echo == NULL &&
		    (c->echo = malloc(TPB_ECHO_BUF)) == NULL) {
			tpb_sconn_free(s, c);
			return;
		}
		n = recv(c->fd, c->echo, TPB_ECHO_BUF, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			tpb_sconn_free(s, c);
			return;
		}
		if (n > 0) {
			c->echo_off = 0;
			c->echo_len = (size_t)n;
		}
	}
	if (tpb_flush(c->fd, c->echo, &c->echo_off, c->echo_len) < 0) {
		tpb_sconn_free(s, c);
		return;
	}
	if (c->echo_off == c->echo_len)
		c->echo_off = c->echo_len = 0;
	if (tpb_set_events(s, c, c->echo_len == 0, c->echo_len > 0) < 0)
		tpb_sconn_free(s, c);
}

static void
tpb_accept(struct tpb_server *s, int lfd, enum tpb_kind kind)
{
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev;
		struct tpb_sconn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if ((size_t)fd >= s->conns_cap) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL && kind == TPB_HTTP) {
			c->in = malloc(TPB_HEAD_MAX);
			c->out = malloc(TPB_OUT_CAP + s->resp_close_len);
		}
		if (c == NULL ||
		    (kind == TPB_HTTP && (c->in == NULL || c->out == NULL))) {
			if (c != NULL) {
				free(c->in);
				free(c->out);
			}
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->kind = kind;
		tpb_nodelay(fd);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			free(c->out);
			free(c);
			close(fd);
			continue;
		}
		s->conns[fd] = c;
		s->accepted++;
		s->live++;
	}
}

static int
tpb_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"http", required_argument, NULL, 'h'},
	    {"echo", required_argument, NULL, 'e'},
	    {"body", required_argument, NULL, 'b'},
	    {NULL, 0, NULL, 0},
	};
	struct tpb_server s;
	struct sockaddr_in http_sa, echo_sa;
	bool have_http = false, have_echo = false;
	unsigned long body = 1024;
	struct rlimit rl;
	struct epoll_event ev, evs[TPB_EVENTS];
	int opt, rc = 1;

	memset(&s, 0, sizeof(s));
	s.ep = s.http_fd = s.echo_fd = -1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			if (tpb_parse_addr(optarg, &http_sa) < 0) {
				fprintf(stderr,
				    "tp-bench serve: --http wants IPv4:PORT\n");
				return 2;
			}
			have_http = true;
			break;
		case 'e':
			if (tpb_parse_addr(optarg, &echo_sa) < 0) {
				fprintf(stderr,
				    "tp-bench serve: --echo wants IPv4:PORT\n");
				return 2;
			}
			have_echo = true;
			break;
		case 'b':
			if (tpb_parse_uint(optarg, 0, TPB_BODY_MAX, &body) <
			    0) {
				fprintf(stderr,
				    "tp-bench serve: --body wants 0..%u\n",
				    TPB_BODY_MAX);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (!have_http && !have_echo) {
		fprintf(stderr, "tp-bench serve: give --http and/or --echo\n");
		return 2;
	}
	tpb_raise_nofile();
	if (tpb_signals() < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		goto out;
	s.conns_cap = rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
	s.conns = calloc(s.conns_cap, sizeof(*s.conns));
	if (s.conns == NULL ||
	    tpb_build_response(body, false, &s.resp_keep, &s.resp_keep_len) <
	        0 ||
	    tpb_build_response(body, true, &s.resp_close, &s.resp_close_len) <
	        0)
		goto out;
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0)
		goto out;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (have_http) {
		s.http_fd = tpb_listen(&http_sa);
		if (s.http_fd < 0) {
			fprintf(stderr,
			    "tp-bench serve: cannot listen for HTTP: %s\n",
			    strerror(-s.http_fd));
			goto out;
		}
		ev.data.fd = s.http_fd;
		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.http_fd, &ev) < 0)
			goto out;
	}
	if (have_echo) {
		s.echo_fd = tpb_listen(&echo_sa);
		if (s.echo_fd < 0) {
			fprintf(stderr,
			    "tp-bench serve: cannot listen for echo: %s\n",
			    strerror(-s.echo_fd));
			goto out;
		}
		ev.data.fd = s.echo_fd;
		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.echo_fd, &ev) < 0)
			goto out;
	}
	fprintf(stderr, "tp-bench serve: ready (body %lu bytes)\n", body);
	while (!tpb_stop) {
		int n = epoll_wait(s.ep, evs, TPB_EVENTS, 1000);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct tpb_sconn *c;

			if (fd == s.http_fd) {
				tpb_accept(&s, fd, TPB_HTTP);
				continue;
			}
			if (fd == s.echo_fd) {
				tpb_accept(&s, fd, TPB_ECHO);
				continue;
			}
			c = s.conns[fd];
			if (c == NULL)
				continue;
			if (c->kind == TPB_HTTP)
				tpb_http_event(&s, c, evs[i].events);
			else
				tpb_echo_event(&s, c, evs[i].events);
		}
	}
	rc = 0;
	fprintf(stderr,
	    "tp-bench serve: stopped: %lu connections, %lu HTTP requests\n",
	    s.accepted, s.requests);
out:
	if (rc != 0 && errno != 0)
		fprintf(stderr, "tp-bench serve: %s\n", strerror(errno));
	for (size_t i = 0; s.conns != NULL && i < s.conns_cap; i++)
		tpb_sconn_free(&s, s.conns[i]);
	free(s.conns);
	free(s.resp_keep);
	free(s.resp_close);
	if (s.http_fd >= 0)
		close(s.http_fd);
	if (s.echo_fd >= 0)
		close(s.echo_fd);
	if (s.ep >= 0)
		close(s.ep);
	return rc;
}

/* ---- conns ---------------------------------------------------------- */

enum tpb_cstate {
	TPB_C_CONNECTING,
	TPB_C_SOCKS_HELLO, /* greeting sent, waiting for the method */
	TPB_C_SOCKS_REPLY, /* CONNECT sent, waiting for the reply */
	TPB_C_SEND,        /* pingpong: sending the message */
	TPB_C_RECV,        /* pingpong: waiting for the echo */
	TPB_C_HTTP_RECV,   /* close: reading the response to EOF */
	TPB_C_PAUSE,       /* pingpong: waiting for the next round */
	TPB_C_IDLE,
	TPB_C_DEAD,
};

struct tpb_cconn {
	int fd;
	enum tpb_cstate state;
	size_t done;      /* bytes of the current message or reply */
	uint64_t next_ms; /* TPB_C_PAUSE: when to send again */
	uint64_t t0_us;   /* close: when the connection was started */
	uint8_t reply[32];
};

struct tpb_client {
	int ep;
	struct sockaddr_in to, socks;
	bool use_socks, pingpong, close_mode;
	unsigned long count, ramp, msg, interval_ms;
	struct tpb_cconn *conns; /* owned, count */
	unsigned long started, established, failed, in_progress, peer_closed;
	unsigned long long roundtrips;
	char *out_msg, *in_msg; /* owned, msg bytes */
	uint32_t *hist;         /* close: TPB_HIST_N latency buckets; owned */
	unsigned long long lat_count;
	int last_err; /* errno of the last failure, for the report */
};

static void
tpb_cconn_fail(struct tpb_client *cl, struct tpb_cconn *c, bool was_up, int err)
{
	if (c->state == TPB_C_DEAD)
		return;
	cl->last_err = err < 0 ? -err : err;
	if (!was_up) {
		cl->failed++;
		cl->in_progress--;
	} else {
		cl->peer_closed++;
	}
	(void)epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = TPB_C_DEAD;
}

static int
tpb_cconn_events(struct tpb_client *cl, struct tpb_cconn *c, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events | EPOLLRDHUP;
	ev.data.ptr = c;
	return epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

static int
tpb_cconn_start(struct tpb_client *cl, struct tpb_cconn *c)
{
	const struct sockaddr_in *dst = cl->use_socks ? &cl->socks : &cl->to;
	struct epoll_event ev;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	tpb_nodelay(c->fd);
	if (connect(c->fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
	    errno != EINPROGRESS) {
		int r = -errno;
		close(c->fd);
		c->fd = -1;
		return r;
	}
	c->state = TPB_C_CONNECTING;
	c->done = 0;
	c->t0_us = tpb_now_us();
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int r = -errno;
		close(c->fd);
		c->fd = -1;
		return r;
	}
	cl->in_progress++;
	return 0;
}

/* The connection is through: idle, or first round of pingpong. */
static void
tpb_cconn_up(struct tpb_client *cl, struct tpb_cconn *c)
{
	cl->established++;
	cl->in_progress--;
	c->done = 0;
	if (cl->pingpong || cl->close_mode) {
		c->state = TPB_C_SEND;
		(void)tpb_cconn_events(cl, c, EPOLLOUT);
	} else {
		c->state = TPB_C_IDLE;
		(void)tpb_cconn_events(cl, c, EPOLLIN);
	}
}

/* Reads toward a SOCKS5 reply of `want` bytes; 1 when complete. */
static int
tpb_socks_read(struct tpb_cconn *c, size_t want)
{
	ssize_t n;

	if (want > sizeof(c->reply))
		return -EPROTO;
	n = recv(c->fd, c->reply + c->done, want - c->done, 0);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	c->done += (size_t)n;
	return c->done == want ? 1 : 0;
}

static int
tpb_send_all(int fd, const void *buf, size_t len)
{
	/* A handshake message is tiny: a fresh socket takes it whole. */
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EAGAIN;
}

static void
tpb_cconn_event(struct tpb_client *cl, struct tpb_cconn *c, uint32_t events)
{
	bool up = c->state >= TPB_C_SEND && c->state <= TPB_C_IDLE;
	int r = 0;

	switch (c->state) {
	case TPB_C_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			r = -err;
			break;
		}
		if (!cl->use_socks) {
			tpb_cconn_up(cl, c);
			return;
		}
		r = tpb_send_all(c->fd, "\x05\x01\x00", 3);
		if (r == 0) {
			c->state = TPB_C_SOCKS_HELLO;
			c->done = 0;
			r = tpb_cconn_events(cl, c, EPOLLIN);
		}
		break;
	}
	case TPB_C_SOCKS_HELLO: {
		uint8_t req[10] = {5, 1, 0, 1};

		r = tpb_socks_read(c, 2);
		if (r <= 0)
			break;
		if (c->reply[0] != 5 || c->reply[1] != 0) {
			r = -EPROTO;
			break;
		}
		memcpy(req + 4, &cl->to.sin_addr, 4);
		memcpy(req + 8, &cl->to.sin_port, 2);
		r = tpb_send_all(c->fd, req, sizeof(req));
		c->state = TPB_C_SOCKS_REPLY;
		c->done = 0;
		break;
	}
	case TPB_C_SOCKS_REPLY:
		/* VER REP RSV ATYP, then an IPv4 (4) or IPv6 (16) address and
		 * a port; a name (ATYP 3) is not expected. */
		if (c->done < 4) {
			r = tpb_socks_read(c, 4);
			if (r <= 0)
				break;
			if (c->reply[0] != 5 || c->reply[1] != 0 ||
			    (c->reply[3] != 1 && c->reply[3] != 4)) {
				r = -EPROTO;
				break;
			}
		}
		r = tpb_socks_read(c, c->reply[3] == 4 ? 22 : 10);
		if (r == 1) {
			tpb_cconn_up(cl, c);
			return;
		}
		break;
	case TPB_C_SEND: {
		ssize_t n = send(c->fd, cl->out_msg + c->done,
		    cl->msg - c->done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				r = -errno;
			break;
		}
		c->done += (size_t)n;
		if (c->done == cl->msg) {
			c->done = 0;
			c->state =
			    cl->close_mode ? TPB_C_HTTP_RECV : TPB_C_RECV;
			r = tpb_cconn_events(cl, c, EPOLLIN);
		}
		break;
	}
	case TPB_C_HTTP_RECV: {
		static const char ok[] = "HTTP/1.1 200 ";
		ssize_t n = recv(c->fd, cl->in_msg, TPB_MSG_MAX, 0);
		uint64_t us;

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				r = -errno;
			break;
		}
		if (n > 0) {
			/* The status line's first bytes, kept in reply[]. */
			size_t keep = sizeof(ok) - 1;
			if (c->done < keep) {
				size_t k = keep - c->done;
				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(c->reply + c->done, cl->in_msg, k);
			}
			c->done += (size_t)n;
			break;
		}
		if (c->done < sizeof(ok) - 1 ||
		    memcmp(c->reply, ok, sizeof(ok) - 1) != 0) {
			r = -EPROTO;
			break;
		}
		us = tpb_now_us() - c->t0_us;
		cl->hist[us / TPB_HIST_US < TPB_HIST_N ? us / TPB_HIST_US
		                                       : TPB_HIST_N - 1]++;
		cl->lat_count++;
		cl->roundtrips++;
		/* Done: the slot starts its next connection. */
		(void)epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->state = TPB_C_DEAD;
		if (tpb_cconn_start(cl, c) < 0)
			cl->failed++;
		return;
	}
	case TPB_C_RECV: {
		ssize_t n =
		    recv(c->fd, cl->in_msg + c->done, cl->msg - c->done, 0);

		if (n == 0) {
			r = -ECONNRESET;
			break;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				r = -errno;
			break;
		}
		c->done += (size_t)n;
		if (c->done < cl->msg)
			break;
		if (memcmp(cl->in_msg, cl->out_msg, cl->msg) != 0) {
			r = -EPROTO;
			break;
		}
		cl->roundtrips++;
		c->done = 0;
		if (cl->interval_ms > 0) {
			c->state = TPB_C_PAUSE;
			c->next_ms = tpb_now_ms() + cl->interval_ms;
			r = tpb_cconn_events(cl, c, 0);
		} else {
			c->state = TPB_C_SEND;
			r = tpb_cconn_events(cl, c, EPOLLOUT);
		}
		break;
	}
	case TPB_C_PAUSE:
	case TPB_C_IDLE:
		/* Nothing is expected: readable means closed or reset. */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			r = -ECONNRESET;
		break;
	case TPB_C_DEAD:
		return;
	}
	if (r < 0) {
		tpb_cconn_fail(cl, c, up, r);
		/* close mode keeps its concurrency: the slot starts over. */
		if (cl->close_mode && !tpb_stop && tpb_cconn_start(cl, c) < 0)
			cl->failed++;
	}
}

/* The latency at quantile q (0..1) of close mode, in microseconds. */
static unsigned long long
tpb_quantile_us(const struct tpb_client *cl, double q)
{
	unsigned long long want, seen = 0;

	if (cl->lat_count == 0)
		return 0;
	want = (unsigned long long)(q * (double)cl->lat_count);
	if (want >= cl->lat_count)
		want = cl->lat_count - 1;
	for (size_t i = 0; i < TPB_HIST_N; i++) {
		seen += cl->hist[i];
		if (seen > want)
			return (unsigned long long)(i + 1) * TPB_HIST_US;
	}
	return (unsigned long long)TPB_HIST_N * TPB_HIST_US;
}

static void
tpb_report(FILE *f, const char *what, const struct tpb_client *cl, uint64_t t0)
{
	fprintf(f,
	    "%s established=%lu failed=%lu closed=%lu roundtrips=%llu "
	    "ms=%llu p50_us=%llu p99_us=%llu last_errno=%d\n",
	    what, cl->established, cl->failed, cl->peer_closed, cl->roundtrips,
	    (unsigned long long)(tpb_now_ms() - t0), tpb_quantile_us(cl, 0.5),
	    tpb_quantile_us(cl, 0.99), cl->last_err);
	fflush(f);
}

static int
tpb_conns(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"socks", required_argument, NULL, 's'},
	    {"count", required_argument, NULL, 'n'},
	    {"mode", required_argument, NULL, 'm'},
	    {"msg", required_argument, NULL, 'b'},
	    {"interval-ms", required_argument, NULL, 'i'},
	    {"ramp", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"ready-file", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct tpb_client cl;
	struct epoll_event evs[TPB_EVENTS];
	unsigned long duration = 10;
	const char *ready_file = NULL;
	bool have_to = false, ready = false;
	uint64_t t0, deadline, next_tick;
	int opt, rc = 1;

	memset(&cl, 0, sizeof(cl));
	cl.ep = -1;
	cl.count = 1;
	cl.msg = 64;
	cl.ramp = TPB_RAMP_DEFAULT;
	while ((opt = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		unsigned long v;

		switch (opt) {
		case 't':
			if (tpb_parse_addr(optarg, &cl.to) < 0)
				goto usage;
			have_to = true;
			break;
		case 's':
			if (tpb_parse_addr(optarg, &cl.socks) < 0)
				goto usage;
			cl.use_socks = true;
			break;
		case 'n':
			if (tpb_parse_uint(
			        optarg, 1, TPB_CONNS_MAX, &cl.count) < 0)
				goto usage;
			break;
		case 'm':
			if (strcmp(optarg, "pingpong") == 0)
				cl.pingpong = true;
			else if (strcmp(optarg, "close") == 0)
				cl.close_mode = true;
			else if (strcmp(optarg, "idle") != 0)
				goto usage;
			break;
		case 'b':
			if (tpb_parse_uint(optarg, 1, TPB_MSG_MAX, &cl.msg) < 0)
				goto usage;
			break;
		case 'i':
			if (tpb_parse_uint(optarg, 0, 60000, &v) < 0)
				goto usage;
			cl.interval_ms = v;
			break;
		case 'r':
			if (tpb_parse_uint(optarg, 1, 65536, &cl.ramp) < 0)
				goto usage;
			break;
		case 'd':
			if (tpb_parse_uint(optarg, 1, 3600, &duration) < 0)
				goto usage;
			break;
		case 'f':
			ready_file = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (!have_to)
		goto usage;
	tpb_raise_nofile();
	if (tpb_signals() < 0)
		goto out;
	if (cl.close_mode)
		cl.msg = sizeof(TPB_HTTP_REQ) - 1;
	cl.conns = calloc(cl.count, sizeof(*cl.conns));
	cl.out_msg = malloc(cl.msg);
	cl.in_msg = malloc(cl.close_mode ? TPB_MSG_MAX : cl.msg);
	cl.hist = calloc(TPB_HIST_N, sizeof(*cl.hist));
	cl.ep = epoll_create1(EPOLL_CLOEXEC);
	if (cl.conns == NULL || cl.out_msg == NULL || cl.in_msg == NULL ||
	    cl.hist == NULL || cl.ep < 0)
		goto out;
	if (cl.close_mode)
		memcpy(cl.out_msg, TPB_HTTP_REQ, cl.msg);
	else
		for (unsigned long i = 0; i < cl.msg; i++)
			cl.out_msg[i] = (char)('A' + i % 26);
	for (unsigned long i = 0; i < cl.count; i++) {
		cl.conns[i].fd = -1;
		cl.conns[i].state = TPB_C_DEAD;
	}
	t0 = tpb_now_ms();
	deadline = t0 + duration * 1000u;
	next_tick = t0 + TPB_TICK_MS;
	while (!tpb_stop) {
		uint64_t now = tpb_now_ms();
		int n;

		if (now >= deadline)
			break;
		/* A path that refuses everything: stop instead of spinning. */
		if (cl.close_mode && cl.roundtrips == 0 && cl.failed >= 1000)
			break;
		while (cl.started < cl.count && cl.in_progress < cl.ramp) {
			struct tpb_cconn *c = &cl.conns[cl.started++];

			int r = tpb_cconn_start(&cl, c);
			if (r < 0) {
				cl.failed++;
				cl.last_err = -r;
			}
		}
		if (!ready && !cl.close_mode && cl.started == cl.count &&
		    cl.in_progress == 0) {
			ready = true;
			tpb_report(stdout, "ready", &cl, t0);
			if (ready_file != NULL) {
				FILE *f = fopen(ready_file, "w");
				if (f != NULL) {
					tpb_report(f, "ready", &cl, t0);
					fclose(f);
				}
			}
		}
		if (cl.pingpong && cl.interval_ms > 0 && now >= next_tick) {
			next_tick = now + TPB_TICK_MS;
			for (unsigned long i = 0; i < cl.started; i++) {
				struct tpb_cconn *c = &cl.conns[i];
				if (c->state == TPB_C_PAUSE &&
				    now >= c->next_ms) {
					c->state = TPB_C_SEND;
					if (tpb_cconn_events(&cl, c, EPOLLOUT) <
					    0)
						tpb_cconn_fail(
						    &cl, c, true, -EIO);
				}
			}
		}
		n = epoll_wait(cl.ep, evs, TPB_EVENTS, TPB_TICK_MS);
		for (int i = 0; i < n; i++)
			tpb_cconn_event(&cl, evs[i].data.ptr, evs[i].events);
	}
	if (!ready && !cl.close_mode)
		tpb_report(stdout, "notready", &cl, t0);
	tpb_report(stdout, "done", &cl, t0);
	rc = 0;
out:
	for (unsigned long i = 0; cl.conns != NULL && i < cl.count; i++)
		if (cl.conns[i].fd >= 0)
			close(cl.conns[i].fd);
	free(cl.conns);
	free(cl.out_msg);
	free(cl.in_msg);
	free(cl.hist);
	if (cl.ep >= 0)
		close(cl.ep);
	return rc;
usage:
	fprintf(stderr,
	    "usage: tp-bench conns --to IP:PORT [--socks IP:PORT] -n COUNT "
	    "[--mode idle|pingpong|close] [--msg BYTES] [--interval-ms MS] "
	    "[--ramp N] [--duration S] [--ready-file PATH]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return tpb_serve(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "conns") == 0)
		return tpb_conns(argc - 1, argv + 1);
	fprintf(stderr,
	    "usage: tp-bench serve --http IP:PORT [--echo IP:PORT] [--body N]\n"
	    "       tp-bench conns --to IP:PORT [--socks IP:PORT] -n COUNT "
	    "[--mode idle|pingpong|close] ...\n");
	return 2;
}
