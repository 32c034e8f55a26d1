/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server/dial on loopback: a refused port, a listener, an
 * address list whose first entry fails, a full accept queue that times out,
 * cancellation and the errno -> wire error table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto/wire.h"
#include "server/dial.h"
#include "tests/unit/cunit_main.h"

struct result {
	int calls;
	int fd;
	uint32_t err;
	int sys_err;
};

static void
on_dial(int fd, uint32_t err, int sys_err, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->fd = fd;
	r->err = err;
	r->sys_err = sys_err;
}

/* A loopback listener on an ephemeral port; returns its fd. */
static int
listener(int family, int backlog, struct sockaddr_storage *ret_ss)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(family, SOCK_STREAM, 0);

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 ||
	    listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*ret_ss = ss;
	return fd;
}

/* An address on loopback where nothing listens (bound, then closed). */
static void
closed_port(int family, struct sockaddr_storage *ret_ss)
{
	int fd = listener(family, 1, ret_ss);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
}

static void
run(struct event_base *base, struct result *r)
{
	for (int i = 0; i < 500 && r->calls == 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
}

static void
test_refused(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_storage ss;
	struct result r = {0, -1, 0, 0};
	struct dial *d;

	closed_port(AF_INET, &ss);
	CU_ASSERT_EQUAL_FATAL(
	    dial_start(base, &ss, 1, 2000, on_dial, &r, &d), 0);
	/* Never called from dial_start itself. */
	CU_ASSERT_EQUAL(r.calls, 0);
	run(base, &r);
	CU_ASSERT_EQUAL(r.calls, 1);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.err, WIRE_ERR_REFUSED);
	CU_ASSERT_EQUAL(r.sys_err, ECONNREFUSED);
	event_base_free(base);
}

static void
test_connect(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_storage addrs[2], peer;
	struct result r = {0, -1, 0, 0};
	struct dial *d;
	socklen_t len = sizeof(peer);
	int lfd, afd, nodelay = 0;
	socklen_t olen = sizeof(nodelay);
	char buf[4];

	/* The first address is refused, the second accepts. */
	closed_port(AF_INET, &addrs[0]);
	lfd = listener(AF_INET, 8, &addrs[1]);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_EQUAL_FATAL(
	    dial_start(base, addrs, 2, 2000, on_dial, &r, &d), 0);
	run(base, &r);
	CU_ASSERT_EQUAL(r.calls, 1);
	CU_ASSERT_EQUAL(r.err, WIRE_OK);
	CU_ASSERT_FATAL(r.fd >= 0);
	CU_ASSERT_EQUAL(
	    getsockopt(r.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &olen), 0);
	CU_ASSERT_NOT_EQUAL(nodelay, 0);
	afd = accept(lfd, (struct sockaddr *)&peer, &len);
	CU_ASSERT_FATAL(afd >= 0);
	CU_ASSERT_EQUAL(write(r.fd, "ping", 4), 4);
	CU_ASSERT_EQUAL(read(afd, buf, 4), 4);
	CU_ASSERT_EQUAL(memcmp(buf, "ping", 4), 0);
	close(afd);
	close(r.fd);
	close(lfd);
	event_base_free(base);
}

static void
test_ipv6(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_storage ss;
	struct result r = {0, -1, 0, 0};
	struct dial *d;
	int lfd = listener(AF_INET6, 8, &ss);

	if (lfd < 0) {
		/* No IPv6 loopback in this sandbox. */
		event_base_free(base);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(
	    dial_start(base, &ss, 1, 2000, on_dial, &r, &d), 0);
	run(base, &r);
	CU_ASSERT_EQUAL(r.err, WIRE_OK);
	CU_ASSERT(r.fd >= 0);
	if (r.fd >= 0)
		close(r.fd);
	close(lfd);
	event_base_free(base);
}

static void
test_timeout(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_storage ss;
	struct result r = {0, -1, 0, 0};
	struct dial *d;
	int lfd = listener(AF_INET, 0, &ss);
	int fill[4];
	size_t nfill = 0;

	CU_ASSERT_FATAL(lfd >= 0);
	/* Fill the accept queue (never accepted): later SYNs are dropped,
	 * so the next connect can only time out. */
	for (size_t i = 0; i < 4; i++) {
		struct timeval tv = {0, 200000};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&ss,
		        sizeof(struct sockaddr_in)) < 0) {
			close(fd);
			break;
		}
		fill[nfill++] = fd;
	}
	CU_ASSERT_EQUAL_FATAL(
	    dial_start(base, &ss, 1, 300, on_dial, &r, &d), 0);
	run(base, &r);
	CU_ASSERT_EQUAL(r.calls, 1);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.err, WIRE_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(r.sys_err, ETIMEDOUT);
	for (size_t i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	event_base_free(base);
}

static void
test_cancel(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_storage ss;
	struct result r = {0, -1, 0, 0};
	struct dial *d;

	closed_port(AF_INET, &ss);
	CU_ASSERT_EQUAL_FATAL(
	    dial_start(base, &ss, 1, 2000, on_dial, &r, &d), 0);
	dial_cancel(d);
	dial_cancel(NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(r.calls, 0);
	CU_ASSERT_EQUAL(
	    dial_start(base, &ss, 0, 2000, on_dial, &r, &d), -EINVAL);
	event_base_free(base);
}

static void
test_errors(void)
{
	CU_ASSERT_EQUAL(dial_wire_error(ECONNREFUSED), WIRE_ERR_REFUSED);
	CU_ASSERT_EQUAL(dial_wire_error(ENETUNREACH), WIRE_ERR_UNREACHABLE);
	CU_ASSERT_EQUAL(dial_wire_error(EHOSTUNREACH), WIRE_ERR_UNREACHABLE);
	CU_ASSERT_EQUAL(dial_wire_error(ETIMEDOUT), WIRE_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(dial_wire_error(ECONNRESET), WIRE_ERR_CONN_RESET);
	CU_ASSERT_EQUAL(dial_wire_error(0), WIRE_OK);
}

static const struct cunit_test tests[] = {
    {"refused", test_refused},
    {"connect", test_connect},
    {"ipv6", test_ipv6},
    {"timeout", test_timeout},
    {"cancel", test_cancel},
    {"errors", test_errors},
};

CUNIT_MAIN("dial", tests)
