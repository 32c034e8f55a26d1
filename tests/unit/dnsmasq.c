/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq: a real DNS server for the resolver and session tests. It runs in
 * the foreground as our child (PR_SET_PDEATHSIG kills it if the test dies),
 * listens on 127.0.0.1 only, reads no system configuration, forwards
 * nothing, and is authoritative for cluster.local (unknown names there are
 * NXDOMAIN). Records:
 *   gateway.ns1.svc.cluster.local  A 10.96.0.10, AAAA fd00::10
 *   echo.ns1.svc.cluster.local     A 127.0.0.1
 *   txt.ns1.svc.cluster.local      TXT "hello world" "second"
 *   big.ns1.svc.cluster.local      TXT 4 x 200 bytes (truncated over UDP)
 *   _http._tcp.gateway.ns1.svc.cluster.local SRV 10 20 8080 gateway...
 *   10.0.96.10.in-addr.arpa        PTR gateway.ns1.svc.cluster.local
 */
#include "tests/unit/dnsmasq.h"

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

bool
test_dnsmasq_available(void)
{
	return access(TEST_DNSMASQ_BIN, X_OK) == 0;
}

size_t
test_dns_query(
    uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	size_t off = 12;
	const char *p = name;

	if (cap < 12 + strlen(name) + 2 + 4)
		return 0;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	while (*p) {
		size_t n = strcspn(p, ".");

		buf[off++] = (uint8_t)n;
		memcpy(buf + off, p, n);
		off += n;
		p += n;
		if (*p == '.')
			p++;
	}
	buf[off++] = 0;
	buf[off++] = (uint8_t)(qtype >> 8);
	buf[off++] = (uint8_t)qtype;
	buf[off++] = 0;
	buf[off++] = 1; /* IN */
	return off;
}

/* A port free for both UDP and TCP on 127.0.0.1 right now. */
static int
pick_port(uint16_t *ret_port)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		socklen_t len = sizeof(sin);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t;
		int ok;

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (u < 0)
			return -errno;
		if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(u, (struct sockaddr *)&sin, &len) < 0) {
			close(u);
			return -errno;
		}
		t = socket(AF_INET, SOCK_STREAM, 0);
		ok = t >= 0 &&
		     bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		     ntohs(sin.sin_port) > 1024;
		if (t >= 0)
			close(t);
		close(u);
		if (ok) {
			*ret_port = ntohs(sin.sin_port);
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* Sends one query and waits up to 200 ms for an answer. */
static bool
answers(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint8_t q[128], a[512];
	size_t qlen = test_dns_query(
	    q, sizeof(q), 0x4242, "gateway.ns1.svc.cluster.local", 1);
	struct pollfd pfd;
	bool ok = false;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return false;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (sendto(fd, q, qlen, 0, (struct sockaddr *)&sin, sizeof(sin)) ==
	    (ssize_t)qlen) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) == 1 &&
		    recv(fd, a, sizeof(a), 0) >= 12 && a[0] == 0x42)
			ok = true;
	}
	close(fd);
	return ok;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static int
spawn(struct test_dnsmasq *d)
{
	char port[32], pidfile[128], log[128], big[1024];
	char a200[201];
	pid_t pid;

	memset(a200, 'a', 200);
	a200[200] = '\0';
	snprintf(big, sizeof(big),
	    "--txt-record=big.ns1.svc.cluster.local,%s,%s,%s,%s", a200, a200,
	    a200, a200);
	snprintf(port, sizeof(port), "--port=%u", d->port);
	snprintf(pidfile, sizeof(pidfile), "--pid-file=%s/dnsmasq.pid", d->dir);
	snprintf(log, sizeof(log), "--log-facility=%s/dnsmasq.log", d->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *argv[] = {TEST_DNSMASQ_BIN, "--keep-in-foreground",
		    "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		    "--bind-interfaces", "--listen-address=127.0.0.1", port,
		    pidfile, log, "--local=/cluster.local/",
		    "--address=/gateway.ns1.svc.cluster.local/10.96.0.10",
		    "--address=/gateway.ns1.svc.cluster.local/fd00::10",
		    "--host-record=echo.ns1.svc.cluster.local,127.0.0.1",
		    /* Quotes are for dnsmasq.conf; argv needs none. */
		    "--txt-record=txt.ns1.svc.cluster.local,hello world,second",
		    big,
		    "--srv-host=_http._tcp.gateway.ns1.svc.cluster.local,"
		    "gateway.ns1.svc.cluster.local,8080,10,20",
		    "--ptr-record=10.0.96.10.in-addr.arpa,"
		    "gateway.ns1.svc.cluster.local",
		    /* As root dnsmasq would switch to nobody: stay root. */
		    "--user=root", "--group=root", NULL};
		size_t argc = sizeof(argv) / sizeof(*argv) - 1;
		int devnull = open("/dev/null", O_RDWR);

		if (geteuid() != 0)
			argv[argc - 2] = NULL;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		execv(TEST_DNSMASQ_BIN, argv);
		_exit(127);
	}
	d->pid = pid;
	return 0;
}

/* Kills our dnsmasq child by its PID and reaps it. */
static void
stop_process(struct test_dnsmasq *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			return;
		}
		usleep(20000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

void
test_dnsmasq_stop(struct test_dnsmasq *d)
{
	static const char *const files[] = {
	    "dnsmasq.pid", "dnsmasq.log", "resolv.conf"};
	char path[160];

	stop_process(d);
	if (!d->dir[0])
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->dir, files[i]);
		unlink(path);
	}
	rmdir(d->dir);
	d->dir[0] = '\0';
}

int
test_dnsmasq_start(struct test_dnsmasq *d)
{
	char text[256];
	int r;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/telepod-dnsmasq-XXXXXX");
	if (!mkdtemp(d->dir)) {
		d->dir[0] = '\0';
		return -errno;
	}
	snprintf(
	    d->resolv_conf, sizeof(d->resolv_conf), "%s/resolv.conf", d->dir);
	snprintf(text, sizeof(text),
	    "search ns1.svc.cluster.local svc.cluster.local cluster.local\n"
	    "nameserver 127.0.0.1\n"
	    "options ndots:5\n");
	r = write_file(d->resolv_conf, text);
	if (r < 0)
		goto fail;
	for (int attempt = 0; attempt < 3; attempt++) {
		r = pick_port(&d->port);
		if (r < 0)
			goto fail;
		snprintf(
		    d->servers, sizeof(d->servers), "127.0.0.1:%u", d->port);
		r = spawn(d);
		if (r < 0)
			goto fail;
		/* Up to 5 s for it to answer; stop early if it exited (the
		 * port was taken meanwhile). */
		for (int i = 0; i < 25; i++) {
			int status;

			if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
				d->pid = 0;
				break;
			}
			if (answers(d->port))
				return 0;
		}
		stop_process(d);
	}
	r = -ETIMEDOUT;
fail:
	test_dnsmasq_stop(d);
	return r;
}
