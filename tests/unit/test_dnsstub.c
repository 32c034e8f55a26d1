/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/dnsstub on a real event loop and real sockets: the
 * stub listens on 127.0.0.1 and a free port; a fake tunnel session answers
 * cluster queries from a table (through the same upstream interface the
 * daemon fills); a private dnsmasq (Debian's dnsmasq-base, killed by its
 * PID) plays the laptop's original resolver. Queries go over UDP and TCP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/dnsstub.h"
#include "client/dnswire.h"
#include "common/log.h"
#include "proto/wire.h"
#include "tests/unit/cunit_main.h"

#define DNSMASQ_BIN "/usr/sbin/dnsmasq"

/* --- the fake tunnel session --- */

struct fake_answer {
	struct fake_session *fs;
	uint32_t id;
	size_t len;
	uint8_t msg[2048];
};

struct fake_session {
	struct dnsstub *stub;
	struct event_base *base;
	bool hold; /* keep answers until fake_release */
	int fail_send;
	uint32_t next_id;
	unsigned sent;
	unsigned cancelled;
	uint32_t last_cancel;
	char last_name[DNSWIRE_MAX_TEXT]; /* the name the stub asked */
	struct fake_answer *held[8];
	size_t n_held;
};

static void
put16(uint8_t *p, size_t *off, uint16_t v)
{
	wire_put_u16(p + *off, v);
	*off += 2;
}

static void
put32(uint8_t *p, size_t *off, uint32_t v)
{
	put16(p, off, (uint16_t)(v >> 16));
	put16(p, off, (uint16_t)v);
}

/* The cluster's records: an answer to the query q (a copy of the stub's
 * message) in a->msg. */
static void
fake_build(struct fake_answer *a, const uint8_t *msg, size_t len)
{
	struct dnswire_query q;
	char name[DNSWIRE_MAX_TEXT];
	uint16_t rcode = DNSWIRE_NXDOMAIN, an = 0;
	size_t off;

	CU_ASSERT_FATAL(dnswire_query_parse(msg, len, &q) == 0);
	dnswire_name_to_text(&q.qname, name, sizeof(name));
	for (char *c = name; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	if (strcmp(name, "gateway.jakub.svc.cluster.local") == 0 ||
	    strcmp(name, "big.jakub.svc.cluster.local") == 0 ||
	    strcmp(name, "db.other.svc.cluster.local") == 0)
		rcode = DNSWIRE_NOERROR;
	/* Header, question copied. */
	memcpy(a->msg, msg, q.question_end);
	off = q.question_end;
	if (rcode == DNSWIRE_NOERROR && q.qtype == DNSWIRE_TYPE_A) {
		/* owner: a pointer to the question */
		put16(a->msg, &off, 0xc00c);
		put16(a->msg, &off, DNSWIRE_TYPE_A);
		put16(a->msg, &off, DNSWIRE_CLASS_IN);
		put32(a->msg, &off, 30);
		put16(a->msg, &off, 4);
		memcpy(a->msg + off,
		    name[0] == 'd' ? "\x0a\x60\x00\x0b" : "\x0a\x60\x00\x0a",
		    4);
		off += 4;
		an = 1;
	} else if (rcode == DNSWIRE_NOERROR && q.qtype == DNSWIRE_TYPE_TXT) {
		/* 4 strings of 200 bytes: over 512 */
		put16(a->msg, &off, 0xc00c);
		put16(a->msg, &off, DNSWIRE_TYPE_TXT);
		put16(a->msg, &off, DNSWIRE_CLASS_IN);
		put32(a->msg, &off, 30);
		put16(a->msg, &off, 4 * 201);
		for (int i = 0; i < 4; i++) {
			a->msg[off++] = 200;
			memset(a->msg + off, 'a' + i, 200);
			off += 200;
		}
		an = 1;
	}
	wire_put_u16(
	    a->msg + 2, (uint16_t)(DNSWIRE_FLAG_QR | DNSWIRE_FLAG_AA |
	                           DNSWIRE_FLAG_RD | DNSWIRE_FLAG_RA | rcode));
	wire_put_u16(a->msg + 6, an);
	wire_put_u16(a->msg + 8, 0);
	wire_put_u16(a->msg + 10, 0); /* the OPT is not echoed */
	a->len = off;
}

static void
fake_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct fake_answer *a = arg;

	dnsstub_answer(
	    a->fs->stub, (struct mux_session *)a->fs, a->id, 0, a->msg, a->len);
	free(a);
}

static int
fake_send(struct mux_session *session, const uint8_t *msg, size_t len,
    uint32_t *ret_id, void *arg)
{
	struct fake_session *fs = (struct fake_session *)session;
	struct dnswire_query q;
	struct fake_answer *a;
	struct timeval zero = {0, 0};

	CU_ASSERT_PTR_EQUAL(arg, fs->base);
	if (fs->fail_send)
		return fs->fail_send;
	CU_ASSERT_FATAL(dnswire_query_parse(msg, len, &q) == 0);
	dnswire_name_to_text(&q.qname, fs->last_name, sizeof(fs->last_name));
	a = calloc(1, sizeof(*a));
	CU_ASSERT_FATAL(a != NULL);
	a->fs = fs;
	a->id = ++fs->next_id;
	fake_build(a, msg, len);
	fs->sent++;
	*ret_id = a->id;
	if (fs->hold) {
		CU_ASSERT_FATAL(fs->n_held < 8);
		fs->held[fs->n_held++] = a;
		return 0;
	}
	CU_ASSERT(event_base_once(
	              fs->base, -1, EV_TIMEOUT, fake_deliver, a, &zero) == 0);
	return 0;
}

static void
fake_cancel(struct mux_session *session, uint32_t id, void *arg)
{
	struct fake_session *fs = (struct fake_session *)session;

	fs->cancelled++;
	fs->last_cancel = id;
}

/* Delivers held answers, last first. */
static void
fake_release_reversed(struct fake_session *fs)
{
	while (fs->n_held > 0)
		fake_deliver(-1, 0, fs->held[--fs->n_held]);
}

static void
fake_drop_held(struct fake_session *fs)
{
	while (fs->n_held > 0)
		free(fs->held[--fs->n_held]);
}

/* --- dnsmasq, the original resolver --- */

struct dnsmasq {
	pid_t pid;
	uint16_t port;
	char dir[64];
};

static int
free_port(int type, uint16_t *ret_port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	*ret_port = ntohs(sin.sin_port);
	return 0;
}

static void
dnsmasq_stop(struct dnsmasq *d)
{
	char path[128];

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
				d->pid = 0;
				break;
			}
			usleep(20000);
		}
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = 0;
		}
	}
	if (d->dir[0]) {
		snprintf(path, sizeof(path), "%s/dnsmasq.pid", d->dir);
		unlink(path);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}

static int
dnsmasq_start(struct dnsmasq *d)
{
	char port[32], pidfile[128], big[1024], a200[201];

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/telepod-dnsstub-XXXXXX");
	if (!mkdtemp(d->dir)) {
		d->dir[0] = '\0';
		return -errno;
	}
	if (free_port(SOCK_DGRAM, &d->port) < 0)
		return -EADDRINUSE;
	memset(a200, 'a', 200);
	a200[200] = '\0';
	snprintf(big, sizeof(big), "--txt-record=big.nx.test,%s,%s,%s,%s", a200,
	    a200, a200, a200);
	snprintf(port, sizeof(port), "--port=%u", d->port);
	snprintf(pidfile, sizeof(pidfile), "--pid-file=%s/dnsmasq.pid", d->dir);
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		char *argv[] = {DNSMASQ_BIN, "--keep-in-foreground",
		    "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		    "--bind-interfaces", "--listen-address=127.0.0.1", port,
		    pidfile, "--address=/example.test/192.0.2.80",
		    "--local=/nx.test/", big, "--user=root", "--group=root",
		    NULL};
		int devnull = open("/dev/null", O_RDWR);

		if (geteuid() != 0)
			argv[12] = NULL;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execv(DNSMASQ_BIN, argv);
		_exit(127);
	}
	return 0;
}

/* Whether dnsmasq answers a query for www.example.test within 200 ms
 * (no CUnit assertions: runs before the registry exists). */
static bool
dnsmasq_answers(uint16_t port)
{
	static const uint8_t q[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w',
	    'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's',
	    't', 0, 0, 1, 0, 1};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct pollfd pfd;
	uint8_t a[512];
	bool ok = false;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return false;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sin, sizeof(sin)) ==
	    (ssize_t)sizeof(q)) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		ok = poll(&pfd, 1, 200) == 1 && recv(fd, a, sizeof(a), 0) > 12;
	}
	close(fd);
	return ok;
}

/* --- the test world --- */

static struct event_base *base;
static struct dnsstub *stub;
static struct fake_session jakub, other;
static struct dnsmasq dm;
static uint16_t stub_port;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until fd is readable or ms pass. */
static bool
wait_readable(int fd, int ms)
{
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 5) == 1)
			return true;
	}
	return false;
}

/* Runs the loop for ms. */
static void
spin(int ms)
{
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(2000);
	}
}

static size_t
make_query(
    uint8_t *buf, uint16_t id, const char *name, uint16_t qtype, uint16_t edns)
{
	struct dnswire_name n;
	size_t off = 0;

	CU_ASSERT_FATAL(dnswire_name_from_text(name, &n) == 0);
	put16(buf, &off, id);
	put16(buf, &off, DNSWIRE_FLAG_RD);
	put16(buf, &off, 1);
	put16(buf, &off, 0);
	put16(buf, &off, 0);
	put16(buf, &off, edns ? 1 : 0);
	memcpy(buf + off, n.wire, n.len);
	off += n.len;
	put16(buf, &off, qtype);
	put16(buf, &off, DNSWIRE_CLASS_IN);
	if (edns) {
		buf[off++] = 0;
		put16(buf, &off, DNSWIRE_TYPE_OPT);
		put16(buf, &off, edns);
		put32(buf, &off, 0);
		put16(buf, &off, 0);
	}
	return off;
}

static int
udp_socket(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	CU_ASSERT_FATAL(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	return fd;
}

/* Sends a query over UDP to port and returns the answer's length (0 when
 * none came within ms). */
static size_t
udp_exchange(uint16_t port, const uint8_t *q, size_t qlen, uint8_t *ans,
    size_t cap, int ms)
{
	int fd = udp_socket(port);
	ssize_t n = 0;

	CU_ASSERT_FATAL(send(fd, q, qlen, 0) == (ssize_t)qlen);
	if (wait_readable(fd, ms))
		n = recv(fd, ans, cap, 0);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CU_ASSERT_FATAL(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
tcp_send(int fd, const uint8_t *q, size_t qlen)
{
	uint8_t buf[4096];

	wire_put_u16(buf, (uint16_t)qlen);
	memcpy(buf + 2, q, qlen);
	CU_ASSERT_FATAL(send(fd, buf, qlen + 2, 0) == (ssize_t)(qlen + 2));
}

/* Reads one framed answer from fd; its length, or 0 on timeout/EOF. */
static size_t
tcp_recv(int fd, uint8_t *ans, size_t cap, int ms)
{
	uint8_t buf[70000];
	size_t have = 0;
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		ssize_t n;

		if (have >= 2 && have >= 2 + (size_t)wire_get_u16(buf)) {
			size_t len = wire_get_u16(buf);

			CU_ASSERT_FATAL(len <= cap);
			memcpy(ans, buf + 2, len);
			return len;
		}
		if (!wait_readable(fd, (int)(end - now_ms())))
			break;
		/* One answer at a time: read no further than it. */
		n = recv(fd, buf + have,
		    have < 2 ? 2 - have : 2 + wire_get_u16(buf) - have, 0);
		if (n <= 0)
			return 0;
		have += (size_t)n;
	}
	return 0;
}

static size_t
tcp_exchange(
    uint16_t port, const uint8_t *q, size_t qlen, uint8_t *ans, size_t cap)
{
	int fd = tcp_connect(port);
	size_t n;

	tcp_send(fd, q, qlen);
	n = tcp_recv(fd, ans, cap, 3000);
	close(fd);
	return n;
}

static unsigned
rcode_of(const uint8_t *ans)
{
	return DNSWIRE_RCODE_OF(wire_get_u16(ans + 2));
}

/* The answer's question name as text. */
static const char *
question_of(const uint8_t *ans, size_t len)
{
	static char text[DNSWIRE_MAX_TEXT];
	struct dnswire_name n;
	size_t next;

	if (dnswire_name_decode(ans, len, 12, &n, &next) < 0)
		return "?";
	return dnswire_name_to_text(&n, text, sizeof(text));
}

/* The first A record's address (after a question of qlen bytes) as
 * text, "" when none. The owner is returned in owner. */
static const char *
first_a(const uint8_t *ans, size_t len, char *owner, size_t ocap)
{
	static char text[INET_ADDRSTRLEN];
	struct dnswire_header h;
	struct dnswire_name n;
	size_t off;

	text[0] = '\0';
	if (dnswire_header_parse(ans, len, &h) < 0 || h.ancount == 0 ||
	    dnswire_name_decode(ans, len, 12, &n, &off) < 0)
		return text;
	off += 4;
	if (dnswire_name_decode(ans, len, off, &n, &off) < 0 ||
	    off + 14 > len || wire_get_u16(ans + off) != DNSWIRE_TYPE_A)
		return text;
	dnswire_name_to_text(&n, owner, ocap);
	inet_ntop(AF_INET, ans + off + 10, text, sizeof(text));
	return text;
}

static void
stub_start(unsigned timeout_ms, unsigned max_pending, bool with_dead_server)
{
	struct dnsstub_config cfg = {0};
	struct dnsstub_upstreams up = {fake_send, fake_cancel, NULL};
	struct sockaddr_storage servers[2];
	struct sockaddr_in *sin;
	uint16_t dead_port;
	char err[256], *colon;
	size_t n = 0;

	memset(servers, 0, sizeof(servers));
	if (with_dead_server) {
		/* A UDP port nobody listens on: ECONNREFUSED, next server. */
		CU_ASSERT_FATAL(free_port(SOCK_DGRAM, &dead_port) == 0);
		sin = (struct sockaddr_in *)&servers[n++];
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(dead_port);
	}
	sin = (struct sockaddr_in *)&servers[n++];
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(dm.port);
	cfg.listen = "127.0.0.1:0";
	cfg.servers = servers;
	cfg.n_servers = n;
	cfg.timeout_ms = timeout_ms;
	cfg.max_pending = max_pending;
	up.arg = base;
	memset(&jakub, 0, sizeof(jakub));
	memset(&other, 0, sizeof(other));
	CU_ASSERT_EQUAL_FATAL(
	    dnsstub_new(base, &cfg, &up, &stub, err, sizeof(err)), 0);
	jakub.stub = other.stub = stub;
	jakub.base = other.base = base;
	colon = strrchr(dnsstub_address(stub), ':');
	CU_ASSERT_FATAL(colon != NULL);
	stub_port = (uint16_t)atoi(colon + 1);
	CU_ASSERT(stub_port != 0);
	CU_ASSERT_EQUAL(dnsstub_set_zone(stub, "other", "cluster.local",
	                    (struct mux_session *)&other),
	    0);
	/* jakub last: the default namespace for bare names */
	CU_ASSERT_EQUAL(dnsstub_set_zone(stub, "jakub", "cluster.local",
	                    (struct mux_session *)&jakub),
	    0);
}

static void
stub_stop(void)
{
	fake_drop_held(&jakub);
	fake_drop_held(&other);
	dnsstub_free(stub);
	stub = NULL;
	spin(5); /* deferred answers of the fakes: none may be left */
}

/* --- tests --- */

static void
test_cluster_names(void)
{
	uint8_t q[512], a[4096];
	char owner[DNSWIRE_MAX_TEXT];
	size_t qlen, n;

	stub_start(0, 0, false);
	/* An absolute cluster name, UDP: asked as it is. */
	qlen = make_query(
	    q, 0x1111, "gateway.jakub.svc.cluster.local", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x1111);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOERROR);
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, n, owner, sizeof(owner)), "10.96.0.10");
	CU_ASSERT_STRING_EQUAL(owner, "gateway.jakub.svc.cluster.local");
	CU_ASSERT_STRING_EQUAL(
	    jakub.last_name, "gateway.jakub.svc.cluster.local");
	CU_ASSERT_EQUAL(jakub.sent, 1);

	/* A bare name: asked in the default namespace, answered for the
	 * name the client asked. */
	qlen = make_query(q, 0x2222, "gateway", DNSWIRE_TYPE_A, 1232);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x2222);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "gateway");
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, n, owner, sizeof(owner)), "10.96.0.10");
	CU_ASSERT_STRING_EQUAL(owner, "gateway");
	CU_ASSERT_STRING_EQUAL(
	    jakub.last_name, "gateway.jakub.svc.cluster.local");

	/* NAME.NS over TCP, case kept in the question. */
	qlen = make_query(q, 0x3333, "Gateway.Jakub", DNSWIRE_TYPE_A, 0);
	n = tcp_exchange(stub_port, q, qlen, a, sizeof(a));
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x3333);
	CU_ASSERT_EQUAL(memcmp(a + 12, q + 12, qlen - 12), 0);
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, n, owner, sizeof(owner)), "10.96.0.10");
	CU_ASSERT_STRING_EQUAL(owner, "Gateway.Jakub");

	/* NAME.NS.svc of the other namespace goes to its session. */
	qlen = make_query(q, 0x4444, "db.other.svc", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, n, owner, sizeof(owner)), "10.96.0.11");
	CU_ASSERT_STRING_EQUAL(other.last_name, "db.other.svc.cluster.local");
	CU_ASSERT_EQUAL(other.sent, 1);

	/* AAAA passes through: the cluster answers NOERROR without
	 * records. */
	qlen = make_query(q, 0x5555, "gateway.jakub", DNSWIRE_TYPE_AAAA, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOERROR);
	CU_ASSERT_EQUAL(wire_get_u16(a + 6), 0);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "gateway.jakub");

	/* An absolute name the cluster does not know: NXDOMAIN as is. */
	qlen = make_query(
	    q, 0x6666, "nope.jakub.svc.cluster.local", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NXDOMAIN);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 0);
	stub_stop();
}

static void
test_big_cluster_answer(void)
{
	uint8_t q[512], a[4096];
	size_t qlen, n;

	stub_start(0, 0, false);
	/* Over 512 bytes: a UDP client without EDNS gets TC... */
	qlen = make_query(q, 0x7777, "big.jakub", DNSWIRE_TYPE_TXT, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_TRUE(wire_get_u16(a + 2) & DNSWIRE_FLAG_TC);
	CU_ASSERT_EQUAL(wire_get_u16(a + 6), 0);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "big.jakub");
	/* ...one with EDNS 4096 the whole answer, and so does TCP. */
	qlen = make_query(q, 0x7778, "big.jakub", DNSWIRE_TYPE_TXT, 4096);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT(n > 800);
	CU_ASSERT_FALSE(wire_get_u16(a + 2) & DNSWIRE_FLAG_TC);
	qlen = make_query(q, 0x7779, "big.jakub", DNSWIRE_TYPE_TXT, 0);
	n = tcp_exchange(stub_port, q, qlen, a, sizeof(a));
	CU_ASSERT(n > 800);
	CU_ASSERT_EQUAL(wire_get_u16(a + 6), 1);
	stub_stop();
}

static void
test_outside_names(void)
{
	uint8_t q[512], a[4096], direct[4096];
	size_t qlen, n, dn;

	stub_start(0, 0, true);
	/* From dnsmasq, byte for byte (with the client's id), over UDP
	 * (the first server is dead: the second answers) and TCP. */
	qlen = make_query(q, 0xabcd, "www.example.test", DNSWIRE_TYPE_A, 0);
	dn = udp_exchange(dm.port, q, qlen, direct, sizeof(direct), 2000);
	CU_ASSERT_FATAL(dn > 12);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_EQUAL_FATAL(n, dn);
	CU_ASSERT_EQUAL(memcmp(a, direct, n), 0);
	{
		char owner[DNSWIRE_MAX_TEXT];

		CU_ASSERT_STRING_EQUAL(
		    first_a(a, n, owner, sizeof(owner)), "192.0.2.80");
	}
	n = tcp_exchange(stub_port, q, qlen, a, sizeof(a));
	CU_ASSERT_EQUAL_FATAL(n, dn);
	CU_ASSERT_EQUAL(memcmp(a, direct, n), 0);
	CU_ASSERT_EQUAL(jakub.sent + other.sent, 0);

	/* NXDOMAIN passes through. */
	qlen = make_query(q, 0x0101, "foo.nx.test", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x0101);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NXDOMAIN);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "foo.nx.test");

	/* Truncated over UDP as the server said; whole over TCP. */
	qlen = make_query(q, 0x0202, "big.nx.test", DNSWIRE_TYPE_TXT, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_TRUE(wire_get_u16(a + 2) & DNSWIRE_FLAG_TC);
	n = tcp_exchange(stub_port, q, qlen, a, sizeof(a));
	CU_ASSERT(n > 800);
	CU_ASSERT_FALSE(wire_get_u16(a + 2) & DNSWIRE_FLAG_TC);

	/* A qualified name the cluster does not know is asked outside as it
	 * was sent; the original server does not know it either (dnsmasq
	 * answers REFUSED without upstreams): the cluster's NXDOMAIN. */
	qlen = make_query(q, 0x0303, "foo.jakub", DNSWIRE_TYPE_A, 0);
	dn = udp_exchange(dm.port, q, qlen, direct, sizeof(direct), 2000);
	CU_ASSERT_FATAL(dn >= 12);
	CU_ASSERT_EQUAL(rcode_of(direct), DNSWIRE_REFUSED);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_STRING_EQUAL(jakub.last_name, "foo.jakub.svc.cluster.local");
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x0303);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NXDOMAIN);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "foo.jakub");

	/* A namespace named like a top-level domain ("test") hides nothing:
	 * the cluster does not know www.example.test, the original server
	 * does, and its answer is relayed byte for byte. */
	CU_ASSERT_EQUAL(dnsstub_set_zone(stub, "test", "cluster.local",
	                    (struct mux_session *)&other),
	    0);
	other.sent = 0;
	qlen = make_query(q, 0x0404, "www.example.test", DNSWIRE_TYPE_A, 0);
	dn = udp_exchange(dm.port, q, qlen, direct, sizeof(direct), 2000);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_EQUAL(other.sent, 1);
	CU_ASSERT_STRING_EQUAL(
	    other.last_name, "www.example.test.svc.cluster.local");
	CU_ASSERT_EQUAL_FATAL(n, dn);
	CU_ASSERT_EQUAL(memcmp(a, direct, n), 0);
	CU_ASSERT_EQUAL(dnsstub_remove_zone(stub, "test"), 0);
	stub_stop();
}

static void
test_session_gone(void)
{
	uint8_t q[512], a[512];
	size_t qlen, n;
	long long t0;
	int fd;

	stub_start(0, 0, false);
	/* A query pending when the session drops is answered SERVFAIL at
	 * once, without a cancel on the dead session. */
	jakub.hold = true;
	fd = udp_socket(stub_port);
	qlen = make_query(q, 0x0a0a, "gateway", DNSWIRE_TYPE_A, 0);
	CU_ASSERT(send(fd, q, qlen, 0) == (ssize_t)qlen);
	spin(50);
	CU_ASSERT_EQUAL(jakub.n_held, 1);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 1);
	CU_ASSERT_EQUAL(
	    dnsstub_set_zone(stub, "jakub", "cluster.local", NULL), 0);
	CU_ASSERT_TRUE(wait_readable(fd, 500));
	n = (size_t)recv(fd, a, sizeof(a), 0);
	CU_ASSERT_FATAL(n >= 12 && n < 512);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x0a0a);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_SERVFAIL);
	CU_ASSERT_STRING_EQUAL(question_of(a, n), "gateway");
	CU_ASSERT_EQUAL(jakub.cancelled, 0);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 0);
	close(fd);
	/* A late answer from the old session is ignored. */
	fake_release_reversed(&jakub);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 0);

	/* While not connected: SERVFAIL at once. */
	t0 = now_ms();
	qlen = make_query(q, 0x0b0b, "gateway.jakub", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_SERVFAIL);
	CU_ASSERT(now_ms() - t0 < 500);
	/* Absolute cluster names still work through the other session. */
	qlen = make_query(
	    q, 0x0c0c, "gateway.jakub.svc.cluster.local", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOERROR);
	CU_ASSERT_EQUAL(other.sent, 1);
	/* The session back: answered again; a send failure is SERVFAIL. */
	CU_ASSERT_EQUAL(dnsstub_set_zone(stub, "jakub", "cluster.local",
	                    (struct mux_session *)&jakub),
	    0);
	jakub.hold = false;
	qlen = make_query(q, 0x0d0d, "gateway.jakub", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOERROR);
	jakub.fail_send = -ENOTCONN;
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_SERVFAIL);
	jakub.fail_send = 0;
	/* Removed: "gateway.jakub" is no cluster name any more. */
	CU_ASSERT_EQUAL(dnsstub_remove_zone(stub, "jakub"), 0);
	CU_ASSERT_EQUAL(dnsstub_remove_zone(stub, "jakub"), -ENOENT);
	jakub.sent = 0;
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 3000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(jakub.sent, 0);
	stub_stop();
}

static void
test_timeout(void)
{
	uint8_t q[512], a[512];
	size_t qlen, n;
	long long t0;

	stub_start(300, 0, false);
	jakub.hold = true;
	t0 = now_ms();
	qlen = make_query(q, 0x0e0e, "gateway.jakub", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 2000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_SERVFAIL);
	CU_ASSERT(now_ms() - t0 >= 250);
	CU_ASSERT(now_ms() - t0 < 1500);
	/* The request was cancelled on the (live) session. */
	CU_ASSERT_EQUAL(jakub.cancelled, 1);
	CU_ASSERT_EQUAL(jakub.last_cancel, jakub.held[0]->id);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 0);
	stub_stop();
}

static void
test_same_ids(void)
{
	uint8_t q1[512], q2[512], a[512];
	char owner[DNSWIRE_MAX_TEXT];
	size_t l1, l2;
	ssize_t n;
	int fd1, fd2;

	stub_start(0, 0, false);
	/* Two clients, one id, two names; the answers come back in the
	 * other order. */
	jakub.hold = true;
	fd1 = udp_socket(stub_port);
	fd2 = udp_socket(stub_port);
	l1 = make_query(q1, 0x4242, "gateway.jakub", DNSWIRE_TYPE_A, 0);
	l2 = make_query(
	    q2, 0x4242, "nope.jakub.svc.cluster.local", DNSWIRE_TYPE_A, 0);
	CU_ASSERT(send(fd1, q1, l1, 0) == (ssize_t)l1);
	spin(30);
	CU_ASSERT(send(fd2, q2, l2, 0) == (ssize_t)l2);
	spin(30);
	CU_ASSERT_EQUAL_FATAL(jakub.n_held, 2);
	fake_release_reversed(&jakub);
	CU_ASSERT_TRUE(wait_readable(fd1, 1000));
	n = recv(fd1, a, sizeof(a), 0);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x4242);
	CU_ASSERT_STRING_EQUAL(question_of(a, (size_t)n), "gateway.jakub");
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, (size_t)n, owner, sizeof(owner)), "10.96.0.10");
	CU_ASSERT_TRUE(wait_readable(fd2, 1000));
	n = recv(fd2, a, sizeof(a), 0);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x4242);
	CU_ASSERT_STRING_EQUAL(
	    question_of(a, (size_t)n), "nope.jakub.svc.cluster.local");
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NXDOMAIN);
	close(fd1);
	close(fd2);

	/* The same through the original server, concurrently. */
	fd1 = udp_socket(stub_port);
	fd2 = udp_socket(stub_port);
	l1 = make_query(q1, 0x4343, "www.example.test", DNSWIRE_TYPE_A, 0);
	l2 = make_query(q2, 0x4343, "foo.nx.test", DNSWIRE_TYPE_A, 0);
	CU_ASSERT(send(fd1, q1, l1, 0) == (ssize_t)l1);
	CU_ASSERT(send(fd2, q2, l2, 0) == (ssize_t)l2);
	CU_ASSERT_TRUE(wait_readable(fd1, 2000));
	n = recv(fd1, a, sizeof(a), 0);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x4343);
	CU_ASSERT_STRING_EQUAL(
	    first_a(a, (size_t)n, owner, sizeof(owner)), "192.0.2.80");
	CU_ASSERT_TRUE(wait_readable(fd2, 2000));
	n = recv(fd2, a, sizeof(a), 0);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x4343);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NXDOMAIN);
	close(fd1);
	close(fd2);
	stub_stop();
}

static void
test_bad_queries(void)
{
	uint8_t q[512], a[512];
	size_t qlen, n;
	int fd;

	stub_start(0, 2, false);
	/* A header and garbage: FORMERR, without a question. */
	qlen = make_query(q, 0x1234, "gateway", DNSWIRE_TYPE_A, 0);
	q[12] = 0x3f;
	n = udp_exchange(stub_port, q, 20, a, sizeof(a), 1000);
	CU_ASSERT_EQUAL_FATAL(n, 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x1234);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_FORMERR);
	/* Another opcode: NOTIMP. */
	qlen = make_query(q, 0x1235, "gateway", DNSWIRE_TYPE_A, 0);
	q[2] |= 2 << 3;
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOTIMP);
	/* No header, or a response: dropped. */
	n = udp_exchange(stub_port, q, 11, a, sizeof(a), 200);
	CU_ASSERT_EQUAL(n, 0);
	qlen = make_query(q, 0x1236, "gateway", DNSWIRE_TYPE_A, 0);
	q[2] |= 0x80;
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 200);
	CU_ASSERT_EQUAL(n, 0);
	/* Garbage over TCP: FORMERR too, and the connection stays. */
	fd = tcp_connect(stub_port);
	qlen = make_query(q, 0x1237, "gateway", DNSWIRE_TYPE_A, 0);
	q[12] = 0x3f;
	tcp_send(fd, q, 20);
	n = tcp_recv(fd, a, sizeof(a), 1000);
	CU_ASSERT_EQUAL(n, 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_FORMERR);
	qlen = make_query(q, 0x1238, "gateway", DNSWIRE_TYPE_A, 0);
	tcp_send(fd, q, qlen);
	n = tcp_recv(fd, a, sizeof(a), 1000);
	CU_ASSERT_FATAL(n > 12);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_NOERROR);
	/* A length over the limit closes the connection. */
	{
		uint8_t huge[2] = {0xff, 0xff};

		CU_ASSERT(send(fd, huge, 2, 0) == 2);
		n = tcp_recv(fd, a, sizeof(a), 1000);
		CU_ASSERT_EQUAL(n, 0);
	}
	close(fd);

	/* max_pending 2: a third query in flight gets SERVFAIL at once. */
	jakub.hold = true;
	for (int i = 0; i < 2; i++) {
		fd = udp_socket(stub_port);
		qlen = make_query(
		    q, (uint16_t)(0x2000 + i), "gateway", DNSWIRE_TYPE_A, 0);
		CU_ASSERT(send(fd, q, qlen, 0) == (ssize_t)qlen);
		spin(20);
		close(fd);
	}
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 2);
	qlen = make_query(q, 0x2002, "gateway", DNSWIRE_TYPE_A, 0);
	n = udp_exchange(stub_port, q, qlen, a, sizeof(a), 500);
	CU_ASSERT_FATAL(n >= 12);
	CU_ASSERT_EQUAL(wire_get_u16(a), 0x2002);
	CU_ASSERT_EQUAL(rcode_of(a), DNSWIRE_SERVFAIL);
	/* Freeing the stub cancels what is pending. */
	stub_stop();
	CU_ASSERT_EQUAL(jakub.cancelled, 2);
}

static void
test_tcp_pipelined(void)
{
	uint8_t q1[512], q2[512], both[1100], a[512];
	char owner[DNSWIRE_MAX_TEXT];
	size_t l1, l2, n;
	int fd;

	stub_start(0, 0, false);
	/* Two queries in one segment, then a FIN: both answered (in the
	 * order the answers came), then the stub closes. */
	l1 = make_query(q1, 0x0001, "www.example.test", DNSWIRE_TYPE_A, 0);
	l2 = make_query(q2, 0x0002, "gateway", DNSWIRE_TYPE_A, 0);
	wire_put_u16(both, (uint16_t)l1);
	memcpy(both + 2, q1, l1);
	wire_put_u16(both + 2 + l1, (uint16_t)l2);
	memcpy(both + 4 + l1, q2, l2);
	fd = tcp_connect(stub_port);
	CU_ASSERT(send(fd, both, l1 + l2 + 4, 0) == (ssize_t)(l1 + l2 + 4));
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 2; i++) {
		n = tcp_recv(fd, a, sizeof(a), 3000);
		CU_ASSERT_FATAL(n > 12);
		CU_ASSERT_STRING_EQUAL(first_a(a, n, owner, sizeof(owner)),
		    wire_get_u16(a) == 0x0001 ? "192.0.2.80" : "10.96.0.10");
	}
	n = tcp_recv(fd, a, sizeof(a), 1000);
	CU_ASSERT_EQUAL(n, 0); /* EOF */
	close(fd);
	CU_ASSERT_EQUAL(dnsstub_pending(stub), 0);
	stub_stop();
}

static void
test_config(void)
{
	struct dnsstub_config cfg = {0};
	struct dnsstub_upstreams up = {fake_send, fake_cancel, NULL};
	struct dnsstub *s = NULL;
	char err[256];

	cfg.listen = "not an address";
	CU_ASSERT_EQUAL(
	    dnsstub_new(base, &cfg, &up, &s, err, sizeof(err)), -EINVAL);
	CU_ASSERT(strstr(err, "not an address") != NULL);
	cfg.listen = "127.0.0.1:0";
	CU_ASSERT_EQUAL_FATAL(
	    dnsstub_new(base, &cfg, &up, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(
	    dnsstub_set_zone(s, "two.labels", "cluster.local", NULL), -EINVAL);
	CU_ASSERT_EQUAL(dnsstub_set_zone(s, "ns", "", NULL), -EINVAL);
	CU_ASSERT_EQUAL(dnsstub_set_zone(s, "ns", "cluster.local", NULL), 0);
	/* The same address again: in use. */
	cfg.listen = dnsstub_address(s);
	{
		struct dnsstub *s2 = NULL;

		CU_ASSERT_EQUAL(
		    dnsstub_new(base, &cfg, &up, &s2, err, sizeof(err)),
		    -EADDRINUSE);
		CU_ASSERT(strstr(err, "cannot listen") != NULL);
	}
	dnsstub_free(s);
	dnsstub_free(NULL);
}

int
main(void)
{
	static const struct cunit_test tests[] = {
	    {"config", test_config},
	    {"cluster_names", test_cluster_names},
	    {"big_cluster_answer", test_big_cluster_answer},
	    {"outside_names", test_outside_names},
	    {"session_gone", test_session_gone},
	    {"timeout", test_timeout},
	    {"same_ids", test_same_ids},
	    {"bad_queries", test_bad_queries},
	    {"tcp_pipelined", test_tcp_pipelined},
	};
	int r;

	if (access(DNSMASQ_BIN, X_OK) != 0) {
		fprintf(stderr, "test_dnsstub: %s not installed: skipped\n",
		    DNSMASQ_BIN);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("test_dnsstub", LOG_LEVEL_WARN);
	if (getenv("TEST_DNSSTUB_DEBUG"))
		log_set_debug(LOG_CAT_DNS);
	base = event_base_new();
	if (!base)
		return 99;
	/* dnsmasq up and answering (up to 5 s; one retry on a port race). */
	r = -1;
	for (int attempt = 0; attempt < 3 && r != 0; attempt++) {
		if (dnsmasq_start(&dm) < 0) {
			dnsmasq_stop(&dm);
			continue;
		}
		for (int i = 0; i < 25 && r != 0; i++) {
			if (waitpid(dm.pid, NULL, WNOHANG) == dm.pid) {
				dm.pid = 0;
				break;
			}
			if (dnsmasq_answers(dm.port))
				r = 0;
		}
		if (r != 0)
			dnsmasq_stop(&dm);
	}
	if (r != 0) {
		fprintf(stderr, "test_dnsstub: dnsmasq did not start\n");
		event_base_free(base);
		return 99;
	}
	r = cunit_run(
	    "dnsstub", NULL, NULL, tests, sizeof(tests) / sizeof(*tests));
	if (stub)
		stub_stop();
	dnsmasq_stop(&dm);
	event_base_free(base);
	return r;
}
