/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server/resolver against a real dnsmasq on loopback
 * (tests/unit/dnsmasq.c): name lookups through the search list, missing
 * names, raw A / AAAA / TXT / SRV / PTR passthrough with ids preserved,
 * NXDOMAIN kept, truncated answers retried over TCP, locally built FORMERR
 * and NOTIMP, timeouts against a silent server, cancellation. Skips (77)
 * when dnsmasq is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "proto/wire.h"
#include "server/dnsmsg.h"
#include "server/resolver.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/dnsmasq.h"

static struct test_dnsmasq dns;

struct addr_result {
	int calls;
	uint32_t err;
	size_t n;
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
};

struct dns_result {
	int calls;
	uint32_t err;
	size_t len;
	uint8_t msg[65536];
};

static void
on_addr(uint32_t err, const char *why, const struct sockaddr_storage *addrs,
    size_t n, void *arg)
{
	struct addr_result *r = arg;

	r->calls++;
	r->err = err;
	r->n = n;
	memcpy(r->addrs, addrs, n * sizeof(*addrs));
}

static void
on_dns(uint32_t err, const char *why, const uint8_t *msg, size_t len, void *arg)
{
	struct dns_result *r = arg;

	r->calls++;
	r->err = err;
	r->len = len;
	if (len)
		memcpy(r->msg, msg, len);
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* Runs base until *calls is non-zero or ms passed. */
static void
run_until(struct event_base *base, const int *calls, unsigned ms)
{
	int expired = 0;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *guard = evtimer_new(base, on_guard, &expired);

	evtimer_add(guard, &tv);
	while (*calls == 0 && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
}

static struct resolver *
new_resolver(struct event_base *base, const char *servers)
{
	struct resolver_config cfg = {.resolv_conf = dns.resolv_conf,
	    .servers = servers ? servers : dns.servers,
	    .timeout_ms = 1000,
	    .tries = 2};
	struct resolver *r = NULL;

	CU_ASSERT_EQUAL(resolver_new(base, &cfg, &r), 0);
	return r;
}

static bool
has_addr(
    const struct addr_result *r, int family, const char *text, uint16_t port)
{
	for (size_t i = 0; i < r->n; i++) {
		char buf[INET6_ADDRSTRLEN] = "";
		const struct sockaddr_storage *ss = &r->addrs[i];

		if (ss->ss_family != family)
			continue;
		if (family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)ss;

			inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
			if (ntohs(s4->sin_port) != port)
				continue;
		} else {
			const struct sockaddr_in6 *s6 = (const void *)ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
			if (ntohs(s6->sin6_port) != port)
				continue;
		}
		if (strcmp(buf, text) == 0)
			return true;
	}
	return false;
}

static void
test_resolve(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = new_resolver(base, NULL);
	struct resolver_req *q;
	struct addr_result res;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	/* A bare name goes through the search list (ndots:5). */
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "gateway", 80, on_addr, &res, &q), 0);
	CU_ASSERT_EQUAL(res.calls, 0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.calls, 1);
	CU_ASSERT_EQUAL(res.err, WIRE_OK);
	CU_ASSERT_TRUE(has_addr(&res, AF_INET, "10.96.0.10", 80));
	CU_ASSERT_TRUE(has_addr(&res, AF_INET6, "fd00::10", 80));

	/* A qualified name and a partly qualified one. */
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_resolve(r, "echo.ns1.svc.cluster.local", 7,
	                    on_addr, &res, &q),
	    0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.err, WIRE_OK);
	CU_ASSERT_TRUE(has_addr(&res, AF_INET, "127.0.0.1", 7));
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "gateway.ns1", 443, on_addr, &res, &q), 0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.err, WIRE_OK);
	CU_ASSERT_TRUE(has_addr(&res, AF_INET, "10.96.0.10", 443));

	/* A numeric name needs no server. */
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "192.0.2.7", 22, on_addr, &res, &q), 0);
	CU_ASSERT_EQUAL(res.calls, 0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.err, WIRE_OK);
	CU_ASSERT_EQUAL(res.n, 1);
	CU_ASSERT_TRUE(has_addr(&res, AF_INET, "192.0.2.7", 22));

	/* Missing names. */
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_resolve(r, "nosuch.ns1.svc.cluster.local", 80,
	                    on_addr, &res, &q),
	    0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.calls, 1);
	CU_ASSERT_EQUAL(res.err, WIRE_ERR_NAME_NOT_FOUND);
	CU_ASSERT_EQUAL(res.n, 0);

	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "", 80, on_addr, &res, &q), -EINVAL);
	resolver_free(r);
	event_base_free(base);
}

/* Runs one raw query and checks the header of its answer. */
static void
raw(struct resolver *r, struct event_base *base, struct dns_result *res,
    uint16_t id, const char *name, uint16_t qtype)
{
	uint8_t q[300];
	size_t qlen = test_dns_query(q, sizeof(q), id, name, qtype);
	struct resolver_req *req;

	memset(res, 0, sizeof(*res));
	CU_ASSERT_EQUAL_FATAL(resolver_query(r, q, qlen, on_dns, res, &req), 0);
	run_until(base, &res->calls, 5000);
	CU_ASSERT_EQUAL_FATAL(res->calls, 1);
	CU_ASSERT_EQUAL_FATAL(res->err, WIRE_OK);
	CU_ASSERT_FATAL(res->len >= DNSMSG_HEADER_LEN);
	CU_ASSERT_EQUAL(dnsmsg_id(res->msg), id);
	CU_ASSERT_TRUE(res->msg[2] & 0x80); /* QR */
}

/*
 * Finds the first answer record of msg (one question, compressed owner
 * name) and returns its RDATA, or NULL.
 */
static const uint8_t *
first_rdata(const struct dns_result *res, uint16_t want_type, size_t *ret_len)
{
	const uint8_t *m = res->msg;
	size_t off = DNSMSG_HEADER_LEN, len = res->len;
	uint16_t type, rdlen;

	if (wire_get_u16(m + 6) < 1)
		return NULL;
	while (off < len && m[off] != 0)
		off += (size_t)m[off] + 1;
	off += 1 + 4; /* root, QTYPE, QCLASS */
	/* Owner: a pointer (dnsmasq compresses) or a name. */
	if (off + 2 > len)
		return NULL;
	if ((m[off] & 0xc0) == 0xc0) {
		off += 2;
	} else {
		while (off < len && m[off] != 0)
			off += (size_t)m[off] + 1;
		off++;
	}
	if (off + 10 > len)
		return NULL;
	type = wire_get_u16(m + off);
	rdlen = wire_get_u16(m + off + 8);
	off += 10;
	if (type != want_type || off + rdlen > len)
		return NULL;
	*ret_len = rdlen;
	return m + off;
}

static void
test_raw_records(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = new_resolver(base, NULL);
	static struct dns_result res;
	const uint8_t *rd;
	size_t rdlen = 0;
	static const uint8_t v6[16] = {
	    0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
	static const char txt[] = "\x0bhello world\x06second";

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	raw(r, base, &res, 0xbeef, "gateway.ns1.svc.cluster.local", 1);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_NOERROR);
	rd = first_rdata(&res, 1, &rdlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	CU_ASSERT_EQUAL(rdlen, 4);
	CU_ASSERT_EQUAL(memcmp(rd, "\x0a\x60\x00\x0a", 4), 0);

	raw(r, base, &res, 0x0001, "gateway.ns1.svc.cluster.local", 28);
	rd = first_rdata(&res, 28, &rdlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	CU_ASSERT_EQUAL(rdlen, 16);
	CU_ASSERT_EQUAL(memcmp(rd, v6, 16), 0);

	raw(r, base, &res, 0xffff, "txt.ns1.svc.cluster.local", 16);
	rd = first_rdata(&res, 16, &rdlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	CU_ASSERT_EQUAL(rdlen, sizeof(txt) - 1);
	CU_ASSERT_EQUAL(memcmp(rd, txt, sizeof(txt) - 1), 0);

	raw(r, base, &res, 0x1234, "_http._tcp.gateway.ns1.svc.cluster.local",
	    33);
	rd = first_rdata(&res, 33, &rdlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	CU_ASSERT_FATAL(rdlen > 6);
	CU_ASSERT_EQUAL(wire_get_u16(rd), 10);     /* priority */
	CU_ASSERT_EQUAL(wire_get_u16(rd + 2), 20); /* weight */
	CU_ASSERT_EQUAL(wire_get_u16(rd + 4), 8080);

	raw(r, base, &res, 0x4321, "10.0.96.10.in-addr.arpa", 12);
	rd = first_rdata(&res, 12, &rdlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rd);
	CU_ASSERT_EQUAL(rd[0], 7);
	CU_ASSERT_EQUAL(memcmp(rd + 1, "gateway", 7), 0);

	/* NXDOMAIN comes back as an answer, not an error. */
	raw(r, base, &res, 0x7777, "nosuch.ns1.svc.cluster.local", 1);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_NXDOMAIN);
	CU_ASSERT_EQUAL(wire_get_u16(res.msg + 6), 0);

	/* Over 512 bytes: truncated over UDP, c-ares retries over TCP. */
	raw(r, base, &res, 0x2222, "big.ns1.svc.cluster.local", 16);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_NOERROR);
	CU_ASSERT_FALSE(res.msg[2] & 0x02); /* TC clear */
	CU_ASSERT(res.len > 800);
	rd = first_rdata(&res, 16, &rdlen);
	CU_ASSERT_PTR_NOT_NULL(rd);
	CU_ASSERT_EQUAL(rdlen, 4 * 201);

	resolver_free(r);
	event_base_free(base);
}

static void
test_raw_local_errors(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = new_resolver(base, NULL);
	static struct dns_result res;
	struct resolver_req *req;
	uint8_t q[300];
	size_t qlen =
	    test_dns_query(q, sizeof(q), 0x5151, "a.cluster.local", 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	/* A response instead of a query: FORMERR from its header. */
	q[2] |= 0x80;
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen, on_dns, &res, &req), 0);
	CU_ASSERT_EQUAL(res.calls, 0);
	run_until(base, &res.calls, 1000);
	CU_ASSERT_EQUAL(res.err, WIRE_OK);
	CU_ASSERT_EQUAL(res.len, DNSMSG_HEADER_LEN);
	CU_ASSERT_EQUAL(dnsmsg_id(res.msg), 0x5151);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_FORMERR);
	/* Opcode STATUS: NOTIMP. */
	q[2] = 0x10;
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen, on_dns, &res, &req), 0);
	run_until(base, &res.calls, 1000);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_NOTIMP);
	/* Truncated question. */
	q[2] = 0x01;
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen - 3, on_dns, &res, &req), 0);
	run_until(base, &res.calls, 1000);
	CU_ASSERT_EQUAL(dnsmsg_rcode(res.msg), DNSMSG_FORMERR);
	CU_ASSERT_EQUAL(
	    resolver_query(r, q, 11, on_dns, &res, &req), -EMSGSIZE);
	resolver_free(r);
	event_base_free(base);
}

static void
test_search_list(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = new_resolver(base, NULL);
	char buf[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(resolver_search_list(r, buf, sizeof(buf)),
	    (int)strlen("ns1.svc.cluster.local svc.cluster.local "
	                "cluster.local"));
	CU_ASSERT_STRING_EQUAL(
	    buf, "ns1.svc.cluster.local svc.cluster.local cluster.local");
	CU_ASSERT_EQUAL(resolver_search_list(r, buf, 10), -EMSGSIZE);
	resolver_free(r);
	event_base_free(base);
}

static void
test_timeout(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	static struct dns_result res;
	struct addr_result ares;
	struct resolver_config cfg = {
	    .resolv_conf = dns.resolv_conf, .timeout_ms = 200, .tries = 1};
	struct resolver *r = NULL;
	struct resolver_req *req;
	char servers[64];
	uint8_t q[300];
	size_t qlen =
	    test_dns_query(q, sizeof(q), 0x9999, "x.cluster.local", 1);
	int silent = socket(AF_INET, SOCK_DGRAM, 0);

	/* A UDP socket that never answers. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(silent >= 0);
	CU_ASSERT_EQUAL_FATAL(
	    bind(silent, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    getsockname(silent, (struct sockaddr *)&sin, &slen), 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sin.sin_port));
	cfg.servers = servers;
	CU_ASSERT_EQUAL_FATAL(resolver_new(base, &cfg, &r), 0);

	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen, on_dns, &res, &req), 0);
	run_until(base, &res.calls, 5000);
	CU_ASSERT_EQUAL(res.calls, 1);
	CU_ASSERT_EQUAL(res.err, WIRE_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(res.len, 0);

	memset(&ares, 0, sizeof(ares));
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "x.cluster.local.", 80, on_addr, &ares, &req),
	    0);
	run_until(base, &ares.calls, 5000);
	CU_ASSERT_EQUAL(ares.calls, 1);
	CU_ASSERT_EQUAL(ares.err, WIRE_ERR_NAME_FAILURE);
	resolver_free(r);
	close(silent);
	event_base_free(base);
}

static void
test_cancel(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = new_resolver(base, NULL);
	static struct dns_result res;
	struct addr_result ares;
	struct resolver_req *q1, *q2, *q3;
	uint8_t q[300];
	size_t qlen =
	    test_dns_query(q, sizeof(q), 1, "gateway.ns1.svc.cluster.local", 1);
	int done = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(&res, 0, sizeof(res));
	memset(&ares, 0, sizeof(ares));
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen, on_dns, &res, &q1), 0);
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "gateway", 80, on_addr, &ares, &q2), 0);
	/* Numeric: its result is already stored when cancelled. */
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "127.0.0.1", 80, on_addr, &ares, &q3), 0);
	resolver_cancel(q1);
	resolver_cancel(q2);
	resolver_cancel(q3);
	resolver_cancel(NULL);
	run_until(base, &done, 500);
	CU_ASSERT_EQUAL(res.calls, 0);
	CU_ASSERT_EQUAL(ares.calls, 0);
	/* Pending requests are dropped by resolver_free (ASan checks). */
	CU_ASSERT_EQUAL(resolver_query(r, q, qlen, on_dns, &res, &q1), 0);
	CU_ASSERT_EQUAL(
	    resolver_resolve(r, "gateway", 80, on_addr, &ares, &q2), 0);
	resolver_free(r);
	event_base_free(base);
	CU_ASSERT_EQUAL(res.calls, 0);
}

static const struct cunit_test tests[] = {
    {"resolve", test_resolve},
    {"raw_records", test_raw_records},
    {"raw_local_errors", test_raw_local_errors},
    {"search_list", test_search_list},
    {"timeout", test_timeout},
    {"cancel", test_cancel},
};

static void
stop_dnsmasq(void)
{
	test_dnsmasq_stop(&dns);
}

int
main(void)
{
	int r;

	if (!test_dnsmasq_available()) {
		fprintf(stderr, "test_resolver: %s not installed, skipping\n",
		    TEST_DNSMASQ_BIN);
		return 77;
	}
	r = test_dnsmasq_start(&dns);
	if (r < 0) {
		fprintf(stderr, "test_resolver: cannot start dnsmasq: %s\n",
		    strerror(-r));
		return 99;
	}
	atexit(stop_dnsmasq);
	log_init("test_resolver", LOG_LEVEL_WARN);
	return cunit_run(
	    "resolver", NULL, NULL, tests, sizeof(tests) / sizeof(*tests));
}
