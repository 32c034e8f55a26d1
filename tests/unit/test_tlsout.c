/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tlsout: the TLS carrier's own I/O (common/tlsout.c) over real TLS on
 * a loopback TCP pair: frames appended before the handshake ends wait for
 * it; many small appends in one loop turn arrive whole and in order; a bulk
 * transfer to a reader that does not read fills the socket, is held
 * (pending count, no drain callback) and then arrives byte-exact when the
 * reader starts, read through tlsout_pull; a vanished peer ends the
 * connection through libevent's reader; non-TLS bufferevents are left
 * alone; a bulk stream of a mux session over the carrier travels in full
 * records; a turn sends what its locals produced before it handles the
 * peer's input.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/certs.h"
#include "common/log.h"
#include "common/mux.h"
#include "common/tlsconf.h"
#include "common/tlsout.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/evtest.h"

#define DEADLINE_SEC 20
#define BULK         (8u * 1024u * 1024u)

static char root[PATH_MAX];
static SSL_CTX *sctx, *cctx;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static int
suite_init(void)
{
	const char *tmp = getenv("TMPDIR");
	char err[512] = "";

	signal(SIGPIPE, SIG_IGN);
	log_init("test_tlsout", LOG_LEVEL_WARN);
	snprintf(root, sizeof(root), "%s/telepod-tlsout-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		return -1;
	if (certs_create(root, NULL, 0, 10, 0, err, sizeof(err)) < 0 ||
	    tlsconf_server_ctx_new(root, &sctx, err, sizeof(err)) < 0 ||
	    tlsconf_client_ctx_new(root, NULL, &cctx, err, sizeof(err)) < 0) {
		fprintf(stderr, "suite_init: %s\n", err);
		return -1;
	}
	return 0;
}

static int
suite_clean(void)
{
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* One end: what it received (checked against the pattern as it comes). */
struct end {
	struct bufferevent *bev;
	bool connected, ended;
	size_t got;
	bool bad; /* a byte out of pattern */
	int pull_err;
	unsigned drains;
	size_t pending_at_drain;
};

struct pair {
	struct event_base *base;
	struct end srv, cli;
};

static uint8_t
pattern(size_t i)
{
	return (uint8_t)((i * 7u + (i >> 13)) & 0xff);
}

static void
consume(struct end *e)
{
	struct evbuffer *in = bufferevent_get_input(e->bev);
	uint8_t buf[16384];
	int n;

	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		for (int i = 0; i < n; i++)
			if (buf[i] != pattern(e->got + (size_t)i))
				e->bad = true;
		e->got += (size_t)n;
	}
}

static void
end_read(struct bufferevent *bev, void *arg)
{
	struct end *e = arg;
	int r;

	do {
		consume(e);
		r = tlsout_pull(bev, 1u << 20);
	} while (r > 0);
	consume(e);
	if (r < 0)
		e->pull_err = r;
}

static void
end_event(struct bufferevent *bev, short what, void *arg)
{
	struct end *e = arg;

	if (what & BEV_EVENT_CONNECTED)
		e->connected = true;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		e->ended = true;
}

static void
end_drained(void *arg)
{
	struct end *e = arg;

	e->drains++;
	e->pending_at_drain = tlsout_pending_out(e->bev);
}

static void
pair_start(struct pair *p)
{
	int fds[2] = {-1, -1};

	memset(p, 0, sizeof(*p));
	p->base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->base);
	CU_ASSERT_EQUAL_FATAL(evtest_tcp_pair(fds), 0);
	p->srv.bev = tlsconf_bufferevent_accept(p->base, sctx, fds[0]);
	p->cli.bev = tlsconf_bufferevent_connect(p->base, cctx, fds[1]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->srv.bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->cli.bev);
	bufferevent_setcb(p->srv.bev, end_read, NULL, end_event, &p->srv);
	bufferevent_setcb(p->cli.bev, end_read, NULL, end_event, &p->cli);
	/* The handshake needs the server to read; "not reading" below means
	 * the application stops reading afterwards. */
	bufferevent_enable(p->srv.bev, EV_READ | EV_WRITE);
	bufferevent_enable(p->cli.bev, EV_READ | EV_WRITE);
}

static void
pair_end(struct pair *p)
{
	if (p->srv.bev != NULL)
		bufferevent_free(p->srv.bev);
	if (p->cli.bev != NULL)
		bufferevent_free(p->cli.bev);
	event_base_free(p->base);
}

static size_t want;

static bool
srv_got_all(void *arg)
{
	return ((struct pair *)arg)->srv.got >= want;
}

static bool
both_connected(void *arg)
{
	struct pair *p = arg;

	return p->srv.connected && p->cli.connected;
}

static bool
cli_ended(void *arg)
{
	return ((struct pair *)arg)->cli.ended;
}

/* Appends [from, from + n) of the pattern to out in pieces of size step. */
static void
append_pattern(struct evbuffer *out, size_t from, size_t n, size_t step)
{
	uint8_t buf[65536];

	while (n > 0) {
		size_t k = n < step ? n : step;

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(from + i);
		CU_ASSERT_EQUAL_FATAL(evbuffer_add(out, buf, k), 0);
		from += k;
		n -= k;
	}
}

static void
test_not_tls(void)
{
	struct event_base *base = event_base_new();
	struct bufferevent *pair[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, 0, pair), 0);
	CU_ASSERT_PTR_NULL(tlsout_output(pair[0]));
	CU_ASSERT_EQUAL(tlsout_pending_out(pair[0]), 0);
	CU_ASSERT_EQUAL(tlsout_pull(pair[0], 1024), 0);
	CU_ASSERT_FALSE(tlsout_pull_pending(pair[0]));
	tlsout_set_drain_cb(pair[0], end_drained, NULL, 0); /* no-op */
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_free(base);
}

static void
test_early_and_gathered(void)
{
	struct pair p;
	struct evbuffer *out;

	pair_start(&p);
	out = tlsout_output(p.cli.bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_EQUAL(bufferevent_get_output(p.cli.bev) != out, true);
	/* Before the handshake: held until it ends. */
	append_pattern(out, 0, 10000, 100);
	CU_ASSERT_EQUAL(tlsout_pending_out(p.cli.bev), 10000);
	want = 10000;
	CU_ASSERT_TRUE(evtest_run_until(p.base, srv_got_all, &p, DEADLINE_SEC));
	CU_ASSERT_TRUE(p.srv.connected && p.cli.connected);
	CU_ASSERT_EQUAL(p.srv.got, 10000);
	CU_ASSERT_FALSE(p.srv.bad);
	CU_ASSERT_EQUAL(tlsout_pending_out(p.cli.bev), 0);
	/* Many small appends in one turn, then more in later turns. */
	append_pattern(out, 10000, 50000, 37);
	event_base_loop(p.base, EVLOOP_NONBLOCK);
	append_pattern(out, 60000, 3000, 3000);
	want = 63000;
	CU_ASSERT_TRUE(evtest_run_until(p.base, srv_got_all, &p, DEADLINE_SEC));
	CU_ASSERT_EQUAL(p.srv.got, 63000);
	CU_ASSERT_FALSE(p.srv.bad);
	CU_ASSERT_EQUAL(p.srv.pull_err, 0);
	/* Nothing went through libevent's own writer. */
	CU_ASSERT_EQUAL(
	    evbuffer_get_length(bufferevent_get_output(p.cli.bev)), 0);
	pair_end(&p);
}

static void
test_bulk_backpressure(void)
{
	struct pair p;
	struct evbuffer *out;
	size_t held;

	pair_start(&p);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p.base, both_connected, &p, DEADLINE_SEC));
	bufferevent_disable(p.srv.bev, EV_READ);
	tlsout_set_drain_cb(p.cli.bev, end_drained, &p.cli, 0);
	out = tlsout_output(p.cli.bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	append_pattern(out, 0, BULK, 65536);
	for (int i = 0; i < 50; i++)
		event_base_loop(p.base, EVLOOP_NONBLOCK);
	/* The socket is full: the rest waits, and no drain is reported. */
	held = tlsout_pending_out(p.cli.bev);
	CU_ASSERT(held > 0 && held < BULK);
	CU_ASSERT_EQUAL(p.cli.drains, 0);
	CU_ASSERT_EQUAL(p.srv.got, 0);
	bufferevent_enable(p.srv.bev, EV_READ);
	want = BULK;
	CU_ASSERT_TRUE(evtest_run_until(p.base, srv_got_all, &p, DEADLINE_SEC));
	CU_ASSERT_EQUAL(p.srv.got, BULK);
	CU_ASSERT_FALSE(p.srv.bad);
	CU_ASSERT_EQUAL(p.srv.pull_err, 0);
	CU_ASSERT_EQUAL(tlsout_pending_out(p.cli.bev), 0);
	CU_ASSERT(p.cli.drains >= 1);
	CU_ASSERT_EQUAL(p.cli.pending_at_drain, 0);
	pair_end(&p);
}

static void
test_peer_gone(void)
{
	struct pair p;
	struct evbuffer *out;

	pair_start(&p);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p.base, both_connected, &p, DEADLINE_SEC));
	bufferevent_free(p.srv.bev);
	p.srv.bev = NULL;
	out = tlsout_output(p.cli.bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	/* Writes meet the reset; the reader reports the end. */
	for (int i = 0; i < 20 && !p.cli.ended; i++) {
		append_pattern(out, 0, 65536, 65536);
		event_base_loop(p.base, EVLOOP_NONBLOCK);
	}
	CU_ASSERT_TRUE(evtest_run_until(p.base, cli_ended, &p, DEADLINE_SEC));
	pair_end(&p);
}

/* ---- a mux session over the carrier ---- */

struct side {
	struct event_base *base;
	struct mux_session *s;
	bool ready;
	struct mux_stream *st; /* the server's accepted stream */
	int app;               /* the test's end of the stream's socket */
	int app2;              /* the same for a second stream, if any */
	bool opened;           /* the client's open succeeded */
};

static void
side_ready(struct mux_session *s, const struct mux_peer_info *peer, void *arg)
{
	((struct side *)arg)->ready = true;
}

static void
side_closed(
    struct mux_session *s, uint32_t error, const char *reason, void *arg)
{
}

/* A socket local: the stream's end in *local, the test's in the return
 * value (-1 on failure). */
static int
local_pair(struct event_base *base, struct bufferevent **local)
{
	int fds[2];

	*local = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return -1;
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_nonblocking(fds[1]);
	*local = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	if (*local == NULL) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return fds[1];
}

static void
side_open(struct mux_session *s, struct mux_stream *st,
    const struct frame_addr *dst, void *arg)
{
	struct side *sd = arg;
	struct bufferevent *local;

	int *app = sd->app < 0 ? &sd->app : &sd->app2;

	*app = local_pair(sd->base, &local);
	if (*app < 0 || mux_stream_accept(st, local) < 0) {
		mux_stream_reject(st, WIRE_ERR_INTERNAL, "test");
		return;
	}
	sd->st = st;
}

static void
side_open_result(
    struct mux_stream *st, uint32_t error, const char *msg, void *arg)
{
	((struct side *)arg)->opened = error == WIRE_OK;
}

static bool
sides_ready(void *arg)
{
	struct side *sd = arg;

	return sd[0].ready && sd[1].ready;
}

static bool
stream_open(void *arg)
{
	struct side *sd = arg;

	return sd[0].opened && sd[1].st != NULL;
}

/*
 * Two mux sessions over a fresh pair on one base, ready, with one stream
 * open from the client (sd[0].app and sd[1].app the test's ends of its
 * sockets); msg_cb watches the server's TLS records. With cli_yield the
 * client yields to the applications it feeds, through cli_yield.
 */
static void
sides_start(struct pair *p, struct side sd[2],
    void (*msg_cb)(int, int, int, const void *, size_t, SSL *, void *),
    int (*cli_yield)(void))
{
	struct mux_callbacks cbs = {.on_ready = side_ready,
	    .on_closed = side_closed,
	    .on_open = side_open};
	struct frame_addr dst = {.type = WIRE_ADDR_IPV4, .port = 80};
	struct mux_config ccfg, scfg;
	struct bufferevent *local;

	pair_start(p);
	sd[0] = (struct side){.base = p->base, .app = -1, .app2 = -1};
	sd[1] = (struct side){.base = p->base, .app = -1, .app2 = -1};
	mux_config_init(&ccfg, WIRE_ROLE_CLIENT);
	mux_config_init(&scfg, WIRE_ROLE_SERVER);
	ccfg.yield_to_locals = cli_yield != NULL;
	ccfg.yield = cli_yield;
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(p->base, p->cli.bev, &ccfg, &cbs, &sd[0], &sd[0].s),
	    0);
	p->cli.bev = NULL; /* the session owns it */
	CU_ASSERT_EQUAL_FATAL(
	    mux_session_new(p->base, p->srv.bev, &scfg, &cbs, &sd[1], &sd[1].s),
	    0);
	SSL_set_msg_callback(bufferevent_openssl_get_ssl(p->srv.bev), msg_cb);
	p->srv.bev = NULL;
	CU_ASSERT_EQUAL(mux_session_start(sd[0].s), 0);
	CU_ASSERT_EQUAL(mux_session_start(sd[1].s), 0);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p->base, sides_ready, sd, DEADLINE_SEC));
	sd[0].app = local_pair(p->base, &local);
	CU_ASSERT_FATAL(sd[0].app >= 0);
	CU_ASSERT_EQUAL_FATAL(mux_stream_open(sd[0].s, &dst, local,
	                          side_open_result, &sd[0], NULL),
	    0);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p->base, stream_open, sd, DEADLINE_SEC));
}

static void
sides_end(struct pair *p, struct side sd[2])
{
	mux_session_free(sd[0].s);
	mux_session_free(sd[1].s);
	for (int i = 0; i < 2; i++) {
		if (sd[i].app >= 0)
			close(sd[i].app);
		if (sd[i].app2 >= 0)
			close(sd[i].app2);
	}
	pair_end(p);
}

/* TLS records the server received after the handshake: full ones (16 KiB
 * of plaintext) and shorter ones. */
static unsigned rec_full, rec_short;

static void
count_record(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	const uint8_t *h = buf;
	size_t rlen;

	if (write_p || content_type != SSL3_RT_HEADER || len < 5 ||
	    h[0] != SSL3_RT_APPLICATION_DATA)
		return;
	/* TLS 1.3: plaintext, its content type byte and a 16-byte tag. */
	rlen = (size_t)h[3] << 8 | h[4];
	if (rlen == TLSOUT_RECORD_MAX + 17)
		rec_full++;
	else
		rec_short++;
}

static void
test_mux_full_records(void)
{
	static uint8_t buf[65536];
	const size_t total = 16u << 20;
	struct side sd[2];
	struct pair p;
	size_t sent = 0, got = 0;
	bool bad = false;
	time_t deadline;

	sides_start(&p, sd, count_record, NULL);

	/* The application keeps its socket full; the stream reads it in
	 * large pieces. Each DATA frame, header included, must fill whole
	 * records: a 64 KiB payload with its 12-byte header made four full
	 * records and one of 12 bytes per read. */
	rec_full = rec_short = 0;
	deadline = time(NULL) + DEADLINE_SEC;
	while (got < total && time(NULL) < deadline) {
		ssize_t n;

		while (sent < total) {
			size_t k = total - sent < sizeof(buf) ? total - sent
			                                      : sizeof(buf);

			for (size_t i = 0; i < k; i++)
				buf[i] = pattern(sent + i);
			n = send(sd[0].app, buf, k, MSG_DONTWAIT);
			if (n <= 0)
				break;
			sent += (size_t)n;
		}
		event_base_loop(p.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		while (
		    (n = recv(sd[1].app, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pattern(got + (size_t)i))
					bad = true;
			got += (size_t)n;
		}
	}
	CU_ASSERT_EQUAL(got, total);
	CU_ASSERT_FALSE(bad);
	/* The last piece may be short, and a read that found less than a
	 * frame's worth; not one in ten. */
	CU_ASSERT(rec_full >= total / TLSOUT_RECORD_MAX * 9 / 10);
	CU_ASSERT(rec_short * 10 <= rec_full);
	if (rec_short * 10 > rec_full)
		fprintf(stderr, "records: %u full, %u short\n", rec_full,
		    rec_short);
	sides_end(&p, sd);
}

/* Set while the probe is armed: what the server's application socket
 * held when the server wrote its first record after that (-1: none). */
static bool probe_armed;
static int probe_app = -1;
static int probe_seen = -1;

/* How many bytes wait to be read on fd (-1 on error). */
static int
readable(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static void
probe_record(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	if (probe_armed && write_p && content_type == SSL3_RT_HEADER &&
	    probe_seen < 0)
		probe_seen = readable(probe_app);
}

static bool
readable_app0(void *arg)
{
	return readable(((struct side *)arg)->app) > 0;
}

static bool
both_delivered(void *arg)
{
	struct side *sd = arg;

	return readable(sd[1].app) >= 7 && readable(sd[0].app) >= 6;
}

/*
 * Send, then handle (mux_carrier_read_cb): in one loop turn the server
 * finds both the client's DATA on the carrier and its own application's
 * answer on the local socket. The answer's record is written before the
 * client's DATA reaches the application; without, it would wait for the
 * end of the turn, after the carrier's input was handled.
 */
static void
test_send_then_handle(void)
{
	struct side sd[2];
	struct pair p;
	char buf[64];

	sides_start(&p, sd, probe_record, NULL);
	/* Let window updates and the like settle. */
	for (int i = 0; i < 10; i++)
		event_base_loop(p.base, EVLOOP_NONBLOCK);

	/* The client's request leaves in one turn; the server's carrier
	 * becomes readable, and nothing has reached its application yet. */
	CU_ASSERT_EQUAL_FATAL(send(sd[0].app, "request", 7, 0), 7);
	event_base_loop(p.base, EVLOOP_ONCE);
	CU_ASSERT_EQUAL_FATAL(readable(sd[1].app), 0);
	/* Then the server's application answers: its socket is ready after
	 * the carrier. */
	CU_ASSERT_EQUAL_FATAL(send(sd[1].app, "answer", 6, 0), 6);
	probe_app = sd[1].app;
	probe_seen = -1;
	probe_armed = true;
	event_base_loop(p.base, EVLOOP_ONCE);
	probe_armed = false;
	/* The answer's record left while the request still waited. */
	CU_ASSERT_EQUAL(probe_seen, 0);
	/* And both arrive. */
	CU_ASSERT_TRUE(
	    evtest_run_until(p.base, both_delivered, sd, DEADLINE_SEC));
	CU_ASSERT_EQUAL(recv(sd[1].app, buf, sizeof(buf), 0), 7);
	CU_ASSERT_EQUAL(recv(sd[0].app, buf, sizeof(buf), 0), 6);
	sides_end(&p, sd);
}

/* The client's yield hook: counts, and lasts yield_sleep_us. */
static unsigned yields;
static unsigned yield_sleep_us;

static int
count_yield(void)
{
	yields++;
	if (yield_sleep_us)
		usleep(yield_sleep_us);
	return 0;
}

static bool
both_apps_got(void *arg)
{
	struct side *sd = arg;

	return readable(sd[0].app) > 0 && readable(sd[0].app2) > 0;
}

/* The server's two applications answer in one turn; the client's two
 * get the answers (drained). */
static void
answer_both(struct pair *p, struct side sd[2])
{
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(send(sd[1].app, "one", 3, 0), 3);
	CU_ASSERT_EQUAL_FATAL(send(sd[1].app2, "two", 3, 0), 3);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p->base, both_apps_got, sd, DEADLINE_SEC));
	CU_ASSERT_EQUAL(recv(sd[0].app, buf, sizeof(buf), 0), 3);
	CU_ASSERT_EQUAL(recv(sd[0].app2, buf, sizeof(buf), 0), 3);
}

/*
 * Yield to the applications fed (mux_yield_to_locals): carrier input that
 * hands DATA to two socket locals gives the CPU up once; input for one
 * does not; a yield that lasted long stops them for a while.
 */
static void
test_yield_to_fed(void)
{
	struct frame_addr dst = {.type = WIRE_ADDR_IPV4, .port = 81};
	struct bufferevent *local;
	struct side sd[2];
	struct pair p;
	char buf[64];

	yields = 0;
	yield_sleep_us = 0;
	sides_start(&p, sd, count_record, count_yield);
	sd[0].opened = false;
	sd[0].app2 = local_pair(p.base, &local);
	CU_ASSERT_FATAL(sd[0].app2 >= 0);
	CU_ASSERT_EQUAL_FATAL(mux_stream_open(sd[0].s, &dst, local,
	                          side_open_result, &sd[0], NULL),
	    0);
	CU_ASSERT_TRUE_FATAL(
	    evtest_run_until(p.base, stream_open, sd, DEADLINE_SEC));
	CU_ASSERT_FATAL(sd[1].app2 >= 0);
	for (int i = 0; i < 10; i++)
		event_base_loop(p.base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(yields, 0);

	/* One application fed: no yield. */
	CU_ASSERT_EQUAL_FATAL(send(sd[1].app, "one", 3, 0), 3);
	CU_ASSERT_TRUE(
	    evtest_run_until(p.base, readable_app0, sd, DEADLINE_SEC));
	CU_ASSERT_EQUAL(recv(sd[0].app, buf, sizeof(buf), 0), 3);
	CU_ASSERT_EQUAL(yields, 0);

	/* Two fed from one record: one yield, each time. */
	answer_both(&p, sd);
	CU_ASSERT_EQUAL(yields, 1);
	answer_both(&p, sd);
	CU_ASSERT_EQUAL(yields, 2);

	/* A yield that lasts MUX_YIELD_LONG_US: none for a while after. */
	yield_sleep_us = MUX_YIELD_LONG_US + 500;
	answer_both(&p, sd);
	CU_ASSERT_EQUAL(yields, 3);
	yield_sleep_us = 0;
	answer_both(&p, sd);
	answer_both(&p, sd);
	CU_ASSERT_EQUAL(yields, 3);
	sides_end(&p, sd);
}

static const struct cunit_test tests[] = {
    {"non-TLS bufferevents are left alone", test_not_tls},
    {"early frames wait for the handshake; small appends arrive whole",
        test_early_and_gathered},
    {"a full socket holds the rest; a late reader gets 8 MiB exact",
        test_bulk_backpressure},
    {"a vanished peer ends the connection", test_peer_gone},
    {"a mux's bulk stream travels in full records", test_mux_full_records},
    {"a turn sends what its locals produced, then handles the peer's input",
        test_send_then_handle},
    {"input that fed two applications yields once; a long yield pauses it",
        test_yield_to_fed},
};

int
main(void)
{
	return cunit_run("tlsout", suite_init, suite_clean, tests,
	    sizeof(tests) / sizeof(*tests));
}
