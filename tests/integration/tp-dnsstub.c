/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-dnsstub: the DNS half of telepodd, alone, for test-dns-stub.sh. It
 * runs client/dnsstub on --listen, points --resolv-conf at it with
 * client/resolvconf (recorded in a client/netstate ledger first, as the
 * daemon does), runs a command, then undoes the change and exits with the
 * command's status. The "tunnel" is a stand-in: each cluster query is sent
 * over UDP to --cluster (a DNS server playing the cluster's resolver) and
 * its answer handed to dnsstub_answer, exactly where telepodd's
 * on_dns_answer would.
 *
 *   tp-dnsstub --listen 127.0.0.2:53 --server 127.0.0.1:5301
 *              --cluster 127.0.0.1:5302 --namespace jakub
 *              --resolv-conf /etc/resolv.conf --ledger DIR/netstate.json
 *              -- COMMAND...
 *   tp-dnsstub --recover --ledger DIR/netstate.json
 *
 * --recover only undoes what a killed instance left in the ledger.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "client/dnsstub.h"
#include "client/netstate.h"
#include "client/resolvconf.h"
#include "common/log.h"

#define TP_MAX_INFLIGHT 64

struct tp_query {
	struct tp *tp;
	evutil_socket_t fd;
	struct event *ev;
	uint32_t id;
};

struct tp {
	struct event_base *base;
	struct dnsstub *stub;
	struct sockaddr_storage cluster;
	socklen_t cluster_len;
	struct tp_query *inflight[TP_MAX_INFLIGHT];
	uint32_t next_id;
	pid_t child;
	int status;
};

static void
tp_query_free(struct tp_query *q)
{
	for (size_t i = 0; i < TP_MAX_INFLIGHT; i++) {
		if (q->tp->inflight[i] == q)
			q->tp->inflight[i] = NULL;
	}
	event_free(q->ev);
	evutil_closesocket(q->fd);
	free(q);
}

static void
tp_cluster_read(evutil_socket_t fd, short what, void *arg)
{
	struct tp_query *q = arg;
	uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	dnsstub_answer(q->tp->stub, (struct mux_session *)q->tp, q->id,
	    n >= 12 ? 0 : 20 /* WIRE_ERR_NAME_FAILURE */, n >= 12 ? buf : NULL,
	    n >= 12 ? (size_t)n : 0);
	tp_query_free(q);
}

/* The stand-in for mux_send_dns_query: one UDP exchange per query. */
static int
tp_send(struct mux_session *session, const uint8_t *msg, size_t len,
    uint32_t *ret_id, void *arg)
{
	struct tp *tp = arg;
	struct tp_query *q;
	size_t slot;

	for (slot = 0; slot < TP_MAX_INFLIGHT && tp->inflight[slot]; slot++)
		;
	if (slot == TP_MAX_INFLIGHT)
		return -ENOBUFS;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->tp = tp;
	q->id = ++tp->next_id;
	q->fd = socket(tp->cluster.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (q->fd < 0 ||
	    connect(q->fd, (struct sockaddr *)&tp->cluster, tp->cluster_len) <
	        0 ||
	    send(q->fd, msg, len, 0) != (ssize_t)len) {
		if (q->fd >= 0)
			close(q->fd);
		free(q);
		return -EIO;
	}
	q->ev = event_new(tp->base, q->fd, EV_READ, tp_cluster_read, q);
	event_add(q->ev, NULL);
	tp->inflight[slot] = q;
	*ret_id = q->id;
	return 0;
}

static void
tp_cancel(struct mux_session *session, uint32_t id, void *arg)
{
	struct tp *tp = arg;

	for (size_t i = 0; i < TP_MAX_INFLIGHT; i++) {
		if (tp->inflight[i] && tp->inflight[i]->id == id) {
			tp_query_free(tp->inflight[i]);
			return;
		}
	}
}

static void
tp_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct tp *tp = arg;
	int status;

	if (waitpid(tp->child, &status, WNOHANG) != tp->child)
		return;
	tp->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	event_base_loopbreak(tp->base);
}

static int
tp_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	int l = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (evutil_parse_sockaddr_port(s, (struct sockaddr *)ss, &l) < 0)
		return -EINVAL;
	*len = (socklen_t)l;
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: tp-dnsstub --listen A:P --server A:P "
	                "--cluster A:P --namespace NS --resolv-conf PATH "
	                "--ledger PATH -- COMMAND...\n"
	                "       tp-dnsstub --recover --ledger PATH\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *listen = NULL, *server = NULL, *cluster = NULL;
	const char *ns_name = NULL, *resolv = NULL, *ledger = NULL;
	struct resolvconf_config rcfg = {0};
	struct dnsstub_config scfg = {0};
	struct dnsstub_upstreams up = {tp_send, tp_cancel, NULL};
	struct sockaddr_storage servers[1];
	struct resolvconf *rc = NULL;
	struct netstate *ns = NULL;
	struct event *sig = NULL;
	struct tp tp = {0};
	char stub_host[64], err[512], *colon;
	uint64_t rec = 0;
	bool recover = false;
	socklen_t slen;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--recover") == 0) {
			recover = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--listen") == 0)
			listen = argv[++i];
		else if (strcmp(argv[i], "--server") == 0)
			server = argv[++i];
		else if (strcmp(argv[i], "--cluster") == 0)
			cluster = argv[++i];
		else if (strcmp(argv[i], "--namespace") == 0)
			ns_name = argv[++i];
		else if (strcmp(argv[i], "--resolv-conf") == 0)
			resolv = argv[++i];
		else if (strcmp(argv[i], "--ledger") == 0)
			ledger = argv[++i];
		else
			return usage();
	}
	log_init("tp-dnsstub", LOG_LEVEL_INFO);
	log_set_debug(LOG_CAT_DNS);
	if (!ledger)
		return usage();
	/* As telepodd starts: take the ledger, undo what a killed
	 * predecessor left. */
	if (netstate_new(ledger, &ns, err, sizeof(err)) < 0 ||
	    netstate_register(ns, RESOLVCONF_KIND, resolvconf_undo, NULL) < 0 ||
	    netstate_recover(ns, err, sizeof(err)) < 0) {
		fprintf(stderr, "tp-dnsstub: ledger: %s\n", err);
		return 1;
	}
	if (recover) {
		netstate_free(ns);
		return 0;
	}
	if (!listen || !server || !cluster || !ns_name || !resolv || i >= argc)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	tp.base = event_base_new();
	if (!tp.base || tp_addr(server, &servers[0], &slen) < 0 ||
	    tp_addr(cluster, &tp.cluster, &tp.cluster_len) < 0)
		return usage();
	up.arg = &tp;
	scfg.listen = listen;
	scfg.servers = servers;
	scfg.n_servers = 1;
	r = dnsstub_new(tp.base, &scfg, &up, &tp.stub, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-dnsstub: %s\n", err);
		return 1;
	}
	dnsstub_set_zone(
	    tp.stub, ns_name, "cluster.local", (struct mux_session *)&tp);

	/* The stub's address without the port for resolv.conf. */
	snprintf(stub_host, sizeof(stub_host), "%s", listen);
	colon = strrchr(stub_host, ':');
	if (colon)
		*colon = '\0';
	rcfg.path = resolv;
	rcfg.save_path = "";
	rcfg.stub_addr = stub_host;
	rcfg.cluster_domain = "cluster.local";
	rcfg.namespaces = (const char *const *)&ns_name;
	rcfg.n_namespaces = 1;
	r = resolvconf_prepare(&rcfg, &rc, err, sizeof(err));
	if (r == 0) {
		cJSON *payload = resolvconf_payload(rc);

		r = payload ? netstate_record(ns, RESOLVCONF_KIND, payload,
		                  &rec, err, sizeof(err))
		            : -ENOMEM;
	}
	if (r == 0)
		r = resolvconf_apply(rc, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-dnsstub: %s\n", err);
		return 1;
	}

	sig = evsignal_new(tp.base, SIGCHLD, tp_sigchld, &tp);
	event_add(sig, NULL);
	tp.child = fork();
	if (tp.child == 0) {
		execvp(argv[i], argv + i);
		_exit(127);
	}
	tp.status = 1;
	if (tp.child > 0)
		event_base_dispatch(tp.base);

	/* As telepodd disconnects: undo through the ledger. */
	if (netstate_undo(ns, rec, err, sizeof(err)) < 0) {
		fprintf(stderr, "tp-dnsstub: undo: %s\n", err);
		tp.status = 1;
	}
	resolvconf_free(rc);
	netstate_free(ns);
	event_free(sig);
	dnsstub_free(tp.stub);
	for (size_t k = 0; k < TP_MAX_INFLIGHT; k++) {
		if (tp.inflight[k])
			tp_query_free(tp.inflight[k]);
	}
	event_base_free(tp.base);
	return tp.status;
}
