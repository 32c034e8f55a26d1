/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-tun-check: drives client/tun, client/route and client/netstate the
 * way telepodd does, for tests/integration/test-tun-route.sh, which runs it
 * inside a network namespace of its own (never in the caller's).
 *
 *   tp-tun-check up --state FILE [--name NAME] [--subnet CIDR]...
 *       [--never CIDR]... [--allow CIDR]... [--ipv6 ADDR/LEN]
 *       [--no-vnet-hdr] [--multi-queue] [--packet ADDR]... [--marker FILE]
 *       [--hold] [--ready FILE] [--leak-child PIDFILE]
 *     recovers what an earlier run left, records and creates the TUN
 *     device, plans the routes (printing "routed CIDR" and "skipped
 *     REASON" lines), adds them; for each --packet address sends UDP
 *     datagrams (small, and one filling the MTU) and a TCP SYN there and
 *     reads them back from the TUN fd, checking the vnet header, the IP
 *     header and the payload; then, with --hold, prints "ready" (and
 *     writes --ready) and waits for SIGTERM; finally undoes everything.
 *     --marker records and creates a file through a test kind of undo
 *     record; --leak-child forks a child that keeps the TUN fd open (the
 *     case netstate must clean up after SIGKILL) and writes its PID.
 *   tp-tun-check recover --state FILE
 *     what telepodd does at start: undo whatever the ledger holds.
 *
 * Exit status 0 when every step and check passed, 1 otherwise.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "client/cidr.h"
#include "client/netstate.h"
#include "client/route.h"
#include "client/tun.h"
#include "common/log.h"

#define CHECK_KIND_FILE "tp-test-file"
#define CHECK_PORT_UDP  9
#define CHECK_PORT_TCP  80
#define CHECK_BUF       (TUN_MTU_OFFLOAD + TUN_VNET_HDR_LEN + 64)

struct opts {
	const char *mode;
	const char *state;
	const char *name;
	const char *ipv6;
	const char *marker;
	const char *ready;
	const char *leak_child;
	bool vnet_hdr;
	bool multi_queue;
	bool hold;
	struct cidr_list subnets, never, allow;
	const char *packets[8];
	size_t n_packets;
};

static int
usage(void)
{
	fprintf(stderr,
	    "usage: tp-tun-check up --state FILE [--name NAME] [--subnet CIDR]... [--never CIDR]...\n"
	    "           [--allow CIDR]... [--ipv6 ADDR/LEN] [--no-vnet-hdr] [--multi-queue]\n"
	    "           [--packet ADDR]... [--marker FILE] [--hold] [--ready FILE] [--leak-child PIDFILE]\n"
	    "       tp-tun-check recover --state FILE\n");
	return 1;
}

/* The test kind: the payload names a file to remove. */
static int
undo_file(
    const char *kind, const cJSON *payload, void *arg, char *err, size_t errlen)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(payload, "path");

	if (!cJSON_IsString(p)) {
		snprintf(err, errlen, "no path in the record");
		return -EINVAL;
	}
	if (unlink(p->valuestring) < 0 && errno != ENOENT) {
		int r = -errno;

		snprintf(err, errlen, "cannot remove %s: %s", p->valuestring,
		    strerror(-r));
		return r;
	}
	printf("undo: removed %s\n", p->valuestring);
	return 0;
}

static int
open_ledger(const struct opts *o, struct netstate **ret)
{
	char err[NETSTATE_ERROR_MAX] = "";
	struct netstate *ns;
	int r;

	r = netstate_new(o->state, &ns, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-tun-check: %s\n", err);
		return r;
	}
	netstate_register(ns, CHECK_KIND_FILE, undo_file, NULL);
	r = netstate_recover(ns, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-tun-check: recover: %s\n", err);
		netstate_free(ns);
		return r;
	}
	*ret = ns;
	return 0;
}

static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* True when the transport checksum of an IPv4/IPv6 packet verifies. */
static bool
l4_csum_ok(
    const uint8_t *ip, size_t iphl, size_t len, int family, uint8_t proto)
{
	uint32_t sum = 0;
	uint8_t ph[4];
	size_t l4len = len - iphl;

	if (family == AF_INET)
		sum = csum_add(sum, ip + 12, 8);
	else
		sum = csum_add(sum, ip + 8, 32);
	ph[0] = (uint8_t)(l4len >> 8);
	ph[1] = (uint8_t)l4len;
	ph[2] = 0;
	ph[3] = proto;
	sum = csum_add(sum, ph, 4);
	sum = csum_add(sum, ip + iphl, l4len);
	return csum_fold(sum) == 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct want {
	int family;
	uint8_t dst[16];
	uint8_t src[16];
	uint8_t proto;
	uint16_t dport;
	size_t payload_len; /* UDP */
	uint8_t fill;       /* UDP payload byte */
};

/*
 * Reads packets from the TUN fd for up to 3 s until one matches w, then
 * checks it. Other packets (MLD and such) are skipped. Returns 0 or -1.
 */
static int
read_and_check(const struct tun_dev *dev, const int *fds, size_t nfds,
    const struct want *w, const char *what)
{
	static uint8_t buf[CHECK_BUF];
	size_t vlen = tun_vnet_hdr_len(dev);
	double deadline = now_s() + 3.0;

	while (now_s() < deadline) {
		struct pollfd pfd[2];
		struct virtio_net_hdr vh;
		int fd = -1;
		const uint8_t *ip;
		size_t len, iphl, alen;
		uint8_t proto;
		ssize_t n;

		for (size_t i = 0; i < nfds; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)nfds, 200) <= 0)
			continue;
		for (size_t i = 0; i < nfds && fd < 0; i++)
			if (pfd[i].revents & POLLIN)
				fd = pfd[i].fd;
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fprintf(stderr, "%s: read from the TUN fd: %s\n", what,
			    strerror(errno));
			return -1;
		}
		if ((size_t)n < vlen + 20)
			continue;
		memset(&vh, 0, sizeof(vh));
		if (vlen)
			memcpy(&vh, buf, sizeof(vh));
		ip = buf + vlen;
		len = (size_t)n - vlen;
		if (w->family == AF_INET) {
			if (ip[0] >> 4 != 4)
				continue;
			iphl = (size_t)(ip[0] & 0x0f) * 4;
			proto = ip[9];
			alen = 4;
			if (memcmp(ip + 16, w->dst, 4) != 0 ||
			    proto != w->proto)
				continue;
		} else {
			if (ip[0] >> 4 != 6 || len < 40)
				continue;
			iphl = 40;
			proto = ip[6];
			alen = 16;
			if (memcmp(ip + 24, w->dst, 16) != 0 ||
			    proto != w->proto)
				continue;
		}
		if (len < iphl + 8 ||
		    (uint16_t)(ip[iphl + 2] << 8 | ip[iphl + 3]) != w->dport)
			continue;
		if (w->proto == IPPROTO_UDP &&
		    (size_t)(ip[iphl + 4] << 8 | ip[iphl + 5]) !=
		        w->payload_len + 8)
			continue; /* another datagram of ours */

		/* It is ours: check it. */
		if (memcmp(ip + (w->family == AF_INET ? 12 : 8), w->src,
		        alen) != 0) {
			fprintf(stderr, "%s: wrong source address\n", what);
			return -1;
		}
		if (w->family == AF_INET &&
		    (size_t)(ip[2] << 8 | ip[3]) != len) {
			fprintf(stderr, "%s: IPv4 total length %u, read %zu\n",
			    what, (unsigned)(ip[2] << 8 | ip[3]), len);
			return -1;
		}
		if (w->family == AF_INET6 &&
		    (size_t)(ip[4] << 8 | ip[5]) + 40 != len) {
			fprintf(
			    stderr, "%s: IPv6 payload length mismatch\n", what);
			return -1;
		}
		if (vlen) {
			uint16_t cs = le16toh(vh.csum_start);
			uint16_t co = le16toh(vh.csum_offset);
			uint16_t want_off = w->proto == IPPROTO_UDP ? 6 : 16;

			if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
				fprintf(stderr,
				    "%s: gso_type %u for a lone packet\n", what,
				    vh.gso_type);
				return -1;
			}
			if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
				if (cs != iphl || co != want_off) {
					fprintf(stderr,
					    "%s: csum_start %u csum_offset %u, expected %zu %u\n",
					    what, cs, co, iphl, want_off);
					return -1;
				}
			} else if (!l4_csum_ok(
			               ip, iphl, len, w->family, proto)) {
				fprintf(stderr,
				    "%s: bad checksum without NEEDS_CSUM\n",
				    what);
				return -1;
			}
			printf(
			    "%s: vnet header flags %u gso_type %u csum_start %u csum_offset %u\n",
			    what, vh.flags, vh.gso_type, cs, co);
		} else if (!l4_csum_ok(ip, iphl, len, w->family, proto)) {
			fprintf(stderr, "%s: bad transport checksum\n", what);
			return -1;
		}
		if (w->proto == IPPROTO_UDP) {
			for (size_t i = 0; i < w->payload_len; i++) {
				if (ip[iphl + 8 + i] != w->fill) {
					fprintf(stderr,
					    "%s: payload differs at byte %zu\n",
					    what, i);
					return -1;
				}
			}
		} else {
			uint8_t flags;

			if (len < iphl + 20) {
				fprintf(stderr, "%s: short TCP header\n", what);
				return -1;
			}
			flags = ip[iphl + 13];
			if ((flags & 0x12) != 0x02) {
				fprintf(stderr,
				    "%s: TCP flags 0x%02x, expected SYN\n",
				    what, flags);
				return -1;
			}
		}
		printf("%s: ok (%zu bytes of IP)\n", what, len);
		return 0;
	}
	fprintf(stderr, "%s: nothing arrived on the TUN fd within 3 s\n", what);
	return -1;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Sends to addr and reads back from the queues fds (a multi-queue
 * device spreads flows over its queues). */
static int
check_packets(
    const struct tun_dev *dev, const int *fds, size_t nfds, const char *addr)
{
	struct sockaddr_storage ss;
	struct want w;
	const struct cidr *src;
	socklen_t sl;
	size_t sizes[2];
	static uint8_t payload[TUN_MTU_OFFLOAD];
	char what[128];
	int fd, r;

	memset(&ss, 0, sizeof(ss));
	memset(&w, 0, sizeof(w));
	if (inet_pton(AF_INET, addr, w.dst) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		w.family = AF_INET;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, w.dst, 4);
		sl = sizeof(*sin);
		src = tun_addr4(dev);
		sizes[1] = tun_mtu(dev) - 28;
	} else if (inet_pton(AF_INET6, addr, w.dst) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		w.family = AF_INET6;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, w.dst, 16);
		sl = sizeof(*sin6);
		src = tun_addr6(dev);
		sizes[1] = tun_mtu(dev) - 48;
	} else {
		fprintf(stderr, "--packet %s: not an address\n", addr);
		return -1;
	}
	if (src == NULL) {
		fprintf(stderr,
		    "--packet %s: the TUN has no address of that family\n",
		    addr);
		return -1;
	}
	memcpy(w.src, src->addr, sizeof(w.src));
	sizes[0] = 14;
	for (int i = 0; i < 2; i++) {
		w.proto = IPPROTO_UDP;
		w.dport = CHECK_PORT_UDP;
		w.payload_len = sizes[i];
		w.fill = (uint8_t)(0xa0 + i);
		memset(payload, w.fill, sizes[i]);
		set_port(&ss, CHECK_PORT_UDP);
		fd = socket(w.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    sendto(fd, payload, sizes[i], 0, (struct sockaddr *)&ss,
		        sl) != (ssize_t)sizes[i]) {
			fprintf(stderr, "udp to %s (%zu bytes): %s\n", addr,
			    sizes[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		snprintf(what, sizeof(what), "packet %s udp %zu bytes", addr,
		    sizes[i]);
		r = read_and_check(dev, fds, nfds, &w, what);
		close(fd);
		if (r < 0)
			return -1;
	}
	/* A TCP SYN: what a program's connect() puts into the device. */
	w.proto = IPPROTO_TCP;
	w.dport = CHECK_PORT_TCP;
	w.payload_len = 0;
	set_port(&ss, CHECK_PORT_TCP);
	fd = socket(w.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	                  errno != EINPROGRESS)) {
		fprintf(stderr, "tcp to %s: %s\n", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(what, sizeof(what), "packet %s tcp syn", addr);
	r = read_and_check(dev, fds, nfds, &w, what);
	close(fd);
	return r;
}

static int
cmd_up(struct opts *o)
{
	char err[NETSTATE_ERROR_MAX] = "", text[CIDR_STR_MAX];
	struct netstate *ns = NULL;
	struct tun_dev *dev = NULL;
	struct tun_config cfg;
	struct cidr_list want;
	struct route_plan plan;
	uint64_t tun_id = 0;
	int rc = 1, r, qfd = -1;
	sigset_t set;

	cidr_list_init(&want);
	route_plan_init(&plan);
	/* Signals are taken with sigwait, so nothing dies half-way. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (open_ledger(o, &ns) < 0)
		goto out;
	if (o->marker != NULL) {
		cJSON *p = cJSON_CreateObject();
		int fd;

		cJSON_AddStringToObject(p, "path", o->marker);
		r = netstate_record(
		    ns, CHECK_KIND_FILE, p, NULL, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "record marker: %s\n", err);
			goto out;
		}
		fd = open(o->marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(o->marker);
			goto out;
		}
		close(fd);
	}

	tun_config_init(&cfg);
	cfg.name = o->name;
	cfg.vnet_hdr = o->vnet_hdr;
	cfg.multi_queue = o->multi_queue;
	if (o->ipv6 != NULL) {
		if (cidr_parse_host(o->ipv6, &cfg.addr6) < 0 ||
		    cfg.addr6.family != AF_INET6) {
			fprintf(stderr, "--ipv6 %s: not an IPv6 address\n",
			    o->ipv6);
			goto out;
		}
		cfg.has_addr6 = true;
	}
	r = netstate_record_tun(ns, o->name ? o->name : TUN_DEFAULT_NAME, 0,
	    &tun_id, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "record tun: %s\n", err);
		goto out;
	}
	r = tun_open(&cfg, &dev, err, sizeof(err));
	if (r < 0) {
		printf("tun_open failed: %s\n", err);
		netstate_forget(ns, tun_id, NULL, 0);
		goto out;
	}
	r = netstate_update_tun(
	    ns, tun_id, tun_name(dev), tun_ifindex(dev), err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "update tun: %s\n", err);
		goto out;
	}
	printf("tun %s ifindex %d mtu %u vnet_hdr %zu\n", tun_name(dev),
	    tun_ifindex(dev), tun_mtu(dev), tun_vnet_hdr_len(dev));
	if (o->multi_queue) {
		r = tun_open_queue(dev, &qfd, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "second queue: %s\n", err);
			goto out;
		}
		printf("second queue fd %d\n", qfd);
	}

	r = cidr_list_subtract(&o->subnets, &o->never, &want);
	if (r < 0) {
		fprintf(stderr, "subtract: %s\n", strerror(-r));
		goto out;
	}
	r = route_plan_make(
	    &want, &o->allow, tun_ifindex(dev), &plan, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "plan: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < plan.n_skip; i++)
		printf("skipped %s\n", plan.skip[i].reason);
	for (size_t i = 0; i < plan.add.n; i++) {
		const struct cidr *dst = &plan.add.v[i];
		const struct cidr *src =
		    dst->family == AF_INET ? tun_addr4(dev) : tun_addr6(dev);

		if (src == NULL) {
			printf("not routed %s: no IPv6 address on the TUN\n",
			    cidr_format(dst, text, sizeof(text)));
			continue;
		}
		r = netstate_route_add(
		    ns, tun_ifindex(dev), dst, src, NULL, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "route: %s\n", err);
			goto out;
		}
		printf("routed %s\n", cidr_format(dst, text, sizeof(text)));
	}
	for (size_t i = 0; i < o->n_packets; i++) {
		int fds[2] = {tun_fd(dev), qfd};

		if (check_packets(dev, fds, qfd >= 0 ? 2 : 1, o->packets[i]) <
		    0)
			goto out;
	}

	if (o->leak_child != NULL) {
		pid_t pid = fork();
		FILE *f;

		if (pid < 0) {
			perror("fork");
			goto out;
		}
		if (pid == 0) {
			/* Keeps only the TUN fd (inherited) until killed: a
			 * child holding the ledger's lock would make it look
			 * like a running daemon. */
			for (int fd = 3; fd < 1024; fd++)
				if (fd != tun_fd(dev))
					close(fd);
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			for (;;)
				pause();
		}
		f = fopen(o->leak_child, "w");
		if (f == NULL) {
			perror(o->leak_child);
			kill(pid, SIGKILL);
			goto out;
		}
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	printf("ready: %zu changes recorded\n", netstate_count(ns));
	fflush(stdout);
	if (o->ready != NULL) {
		FILE *f = fopen(o->ready, "w");

		if (f != NULL) {
			fprintf(f, "ready\n");
			fclose(f);
		}
	}
	if (o->hold) {
		int sig;

		sigwait(&set, &sig);
		printf("signal %d: undoing\n", sig);
	}
	rc = 0;
out:
	if (qfd >= 0)
		close(qfd);
	if (ns != NULL) {
		r = netstate_undo_all(ns, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "undo: %s\n", err);
			rc = 1;
		} else {
			printf("undone\n");
		}
	}
	tun_close(dev);
	netstate_free(ns);
	route_plan_clear(&plan);
	cidr_list_clear(&want);
	return rc;
}

static int
add_cidrs(struct cidr_list *l, const char *s)
{
	char err[256];

	if (cidr_list_add_str(l, s, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "tp-tun-check: %s\n", err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	int rc = 1;

	memset(&o, 0, sizeof(o));
	o.vnet_hdr = true;
	cidr_list_init(&o.subnets);
	cidr_list_init(&o.never);
	cidr_list_init(&o.allow);
	log_init("tp-tun-check", LOG_LEVEL_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	o.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-vnet-hdr") == 0) {
			o.vnet_hdr = false;
			continue;
		}
		if (strcmp(a, "--multi-queue") == 0) {
			o.multi_queue = true;
			continue;
		}
		if (strcmp(a, "--hold") == 0) {
			o.hold = true;
			continue;
		}
		if (strcmp(a, "--debug") == 0) {
			log_set_debug(LOG_CAT_TUN);
			continue;
		}
		if (v == NULL)
			goto usage;
		i++;
		if (strcmp(a, "--state") == 0)
			o.state = v;
		else if (strcmp(a, "--name") == 0)
			o.name = v;
		else if (strcmp(a, "--ipv6") == 0)
			o.ipv6 = v;
		else if (strcmp(a, "--marker") == 0)
			o.marker = v;
		else if (strcmp(a, "--ready") == 0)
			o.ready = v;
		else if (strcmp(a, "--leak-child") == 0)
			o.leak_child = v;
		else if (strcmp(a, "--subnet") == 0) {
			if (add_cidrs(&o.subnets, v) < 0)
				goto out;
		} else if (strcmp(a, "--never") == 0) {
			if (add_cidrs(&o.never, v) < 0)
				goto out;
		} else if (strcmp(a, "--allow") == 0) {
			if (add_cidrs(&o.allow, v) < 0)
				goto out;
		} else if (strcmp(a, "--packet") == 0 &&
		           o.n_packets < sizeof(o.packets) / sizeof(*o.packets))
			o.packets[o.n_packets++] = v;
		else
			goto usage;
	}
	if (o.state == NULL)
		goto usage;
	if (strcmp(o.mode, "up") == 0) {
		rc = cmd_up(&o);
	} else if (strcmp(o.mode, "recover") == 0) {
		struct netstate *ns;

		if (open_ledger(&o, &ns) == 0) {
			printf("recovered\n");
			netstate_free(ns);
			rc = 0;
		}
	} else {
		goto usage;
	}
	goto out;
usage:
	rc = usage();
out:
	cidr_list_clear(&o.subnets);
	cidr_list_clear(&o.never);
	cidr_list_clear(&o.allow);
	return rc;
}
