/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq: starts a private dnsmasq (Debian's dnsmasq-base) on 127.0.0.1
 * and a free high port for the server tests, serving a fixed set of
 * records under cluster.local (see dnsmasq.c), and stops it by its PID.
 */
#ifndef TELEPOD_TESTS_UNIT_DNSMASQ_H
#define TELEPOD_TESTS_UNIT_DNSMASQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TEST_DNSMASQ_BIN "/usr/sbin/dnsmasq"

struct test_dnsmasq {
	pid_t pid;
	uint16_t port;
	char dir[64];          /* temp dir with the pid file and resolv.conf */
	char resolv_conf[128]; /* search list + ndots for c-ares */
	char servers[32]; /* "127.0.0.1:PORT" for ares_set_servers_ports_csv */
};

/* True when the dnsmasq binary is installed (else the test exits 77). */
bool test_dnsmasq_available(void);

/* Starts dnsmasq and waits until it answers. Returns 0 or -errno. */
int test_dnsmasq_start(struct test_dnsmasq *d);

/* Kills dnsmasq by PID, reaps it, removes the temp dir. Idempotent. */
void test_dnsmasq_stop(struct test_dnsmasq *d);

/* Builds a query for name/qtype with id into buf; returns its length. */
size_t test_dns_query(
    uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);

#endif
