/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-tunstack: the TUN path of telepodd on its own, for
 * tests/integration/test-tunstack.sh. It opens the TUN device (client/tun),
 * connects one TLS session to a telepod-server (client/conn), routes the
 * subnets the server announces into the device (client/route) and runs the
 * packet path (client/tunstack, with the kernel fast path unless
 * --no-fast-path) until SIGTERM; then prints the stack's counters, which
 * SIGUSR1 prints at any time. Root only, and meant for a network namespace of
 * its own.
 *
 *   tp-tunstack --server HOST:PORT --tls-dir DIR [--tun-name NAME]
 *               [--ready-file PATH] [--debug] [--no-fast-path]
 *
 * Once the session is up and the routes are in, it writes "ready" and the
 * routed subnets to --ready-file (and stdout). Exit status: 0 after
 * SIGTERM, 1 when set-up fails, 64 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <event2/event.h>

#include "client/cidr.h"
#include "client/conn.h"
#include "client/route.h"
#include "client/tun.h"
#include "client/tunstack.h"
#include "common/log.h"
#include "common/tlsconf.h"

struct tpt {
	struct event_base *base;
	struct conn *conn;
	struct tun_dev *dev;
	struct tunstack *ts;
	const char *ready_file;
	int status;
};

static struct mux_session *
tpt_route(const struct frame_addr *dst, void *arg)
{
	struct tpt *t = arg;

	return conn_session(t->conn);
}

static void
tpt_fail(struct tpt *t, const char *what, const char *why)
{
	fprintf(stderr, "tp-tunstack: %s: %s\n", what, why);
	t->status = 1;
	event_base_loopexit(t->base, NULL);
}

/* Routes the server's subnets into the device and says "ready". */
static void
tpt_on_first(struct conn *c, const char *code, const char *msg, void *arg)
{
	struct tpt *t = arg;
	const struct mux_peer_info *peer = conn_peer(c);
	struct cidr_list want;
	char err[512], buf[CIDR_STR_MAX];
	FILE *f;
	int r;

	if (code) {
		tpt_fail(t, "cannot connect", msg);
		return;
	}
	cidr_list_init(&want);
	if (!peer || !peer->subnets ||
	    cidr_list_add_str(&want, peer->subnets, NULL, err, sizeof(err)) <
	        0) {
		cidr_list_clear(&want);
		tpt_fail(t, "the server announces no usable subnets",
		    peer && peer->subnets ? peer->subnets : "(none)");
		return;
	}
	for (size_t i = 0; i < want.n; i++) {
		r = route_add(tun_ifindex(t->dev), &want.v[i],
		    want.v[i].family == AF_INET ? tun_addr4(t->dev) : NULL, err,
		    sizeof(err));
		if (r < 0) {
			cidr_list_clear(&want);
			tpt_fail(t, "cannot route", err);
			return;
		}
	}
	f = t->ready_file ? fopen(t->ready_file, "we") : NULL;
	printf("ready");
	if (f)
		fprintf(f, "ready");
	for (size_t i = 0; i < want.n; i++) {
		cidr_format(&want.v[i], buf, sizeof(buf));
		printf(" %s", buf);
		if (f)
			fprintf(f, " %s", buf);
	}
	printf(" port %u\n", tunstack_port(t->ts));
	fflush(stdout);
	if (f) {
		fprintf(f, "\n");
		fclose(f);
	}
	cidr_list_clear(&want);
}

static void
tpt_on_state(struct conn *c, enum conn_state state, void *arg)
{
	log_info("session %s", conn_state_name(state));
}

static void
tpt_signal(evutil_socket_t sig, short what, void *arg)
{
	struct tpt *t = arg;

	event_base_loopexit(t->base, NULL);
}

/* One line of the stack's counters on stdout ("stats: ..."). */
static void
tpt_print_stats(const struct tunstack *ts)
{
	struct tunstack_stats st;
	size_t entries;

	tunstack_get_stats(ts, &st);
	printf("stats: pkts_in %llu pkts_out %llu bytes_in %llu "
	       "to_listener %llu pkts %llu bytes, to_app %llu pkts %llu bytes, "
	       "gso %llu, flows %llu opened %llu accepted %llu refused %llu "
	       "unreachable %llu syn_dropped %llu rst_sent %llu icmp_sent %llu "
	       "dropped %llu write_errors %llu nat_entries %zu\n",
	    (unsigned long long)st.pkts_in, (unsigned long long)st.pkts_out,
	    (unsigned long long)st.bytes_in, (unsigned long long)st.to_lst_pkts,
	    (unsigned long long)st.to_lst_bytes,
	    (unsigned long long)st.to_app_pkts,
	    (unsigned long long)st.to_app_bytes,
	    (unsigned long long)st.gso_pkts, (unsigned long long)st.flows,
	    (unsigned long long)st.opened, (unsigned long long)st.accepted,
	    (unsigned long long)st.refused, (unsigned long long)st.unreachable,
	    (unsigned long long)st.syn_dropped, (unsigned long long)st.rst_sent,
	    (unsigned long long)st.icmp_sent, (unsigned long long)st.dropped,
	    (unsigned long long)st.write_errors, st.nat_entries);
	if (tunstack_fast_entries(ts, &entries) < 0)
		entries = (size_t)-1;
	printf("fast: loaded %d attached %d flows %llu failed %llu entries %zd "
	       "to_listener_pkts %llu to_listener_bytes %llu "
	       "to_app_pkts %llu to_app_bytes %llu\n",
	    st.fast_path ? 1 : 0, st.fast_attached ? 1 : 0,
	    (unsigned long long)st.fast_flows,
	    (unsigned long long)st.fast_failed, (ssize_t)entries,
	    (unsigned long long)st.fast_to_lst_pkts,
	    (unsigned long long)st.fast_to_lst_bytes,
	    (unsigned long long)st.fast_to_app_pkts,
	    (unsigned long long)st.fast_to_app_bytes);
	fflush(stdout);
}

/* SIGUSR1: the counters now, for the test's checks between steps. */
static void
tpt_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct tpt *t = arg;

	tpt_print_stats(t->ts);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tp-tunstack --server HOST:PORT --tls-dir DIR [--tun-name NAME]\n"
	    "                   [--ready-file PATH] [--debug] [--no-fast-path]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"tls-dir", required_argument, NULL, 't'},
	    {"tun-name", required_argument, NULL, 'n'},
	    {"ready-file", required_argument, NULL, 'r'},
	    {"debug", no_argument, NULL, 'd'},
	    {"no-fast-path", no_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	const struct conn_callbacks cbs = {
	    .on_first = tpt_on_first,
	    .on_state = tpt_on_state,
	};
	const char *server = NULL, *tls_dir = NULL, *name = NULL;
	struct tunstack_config tcfg;
	struct tun_config cfg;
	struct conn_params params;
	struct event *sigterm, *sigint, *sigusr1;
	SSL_CTX *ctx = NULL;
	struct tpt t;
	char err[1024];
	bool debug = false, fast = true;
	int ch, r;

	memset(&t, 0, sizeof(t));
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 't':
			tls_dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			t.ready_file = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'F':
			fast = false;
			break;
		default:
			usage();
			return 64;
		}
	}
	if (!server || !tls_dir || optind != argc) {
		usage();
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("tp-tunstack", debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (debug)
		log_set_debug(LOG_CAT_TUN | LOG_CAT_MUX);
	t.base = event_base_new();
	if (!t.base)
		return 1;

	tun_config_init(&cfg);
	if (name)
		cfg.name = name;
	r = tun_open(&cfg, &t.dev, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-tunstack: %s\n", err);
		return 1;
	}
	tunstack_config_init(&tcfg);
	tcfg.fd = tun_fd(t.dev);
	tcfg.vnet_hdr_len = tun_vnet_hdr_len(t.dev);
	tcfg.addr4 = *tun_addr4(t.dev);
	tcfg.ifindex = tun_ifindex(t.dev);
	tcfg.fast_path = fast;
	r = tunstack_new(t.base, &tcfg, tpt_route, &t, &t.ts, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-tunstack: %s\n", err);
		tun_close(t.dev);
		return 1;
	}
	r = tlsconf_client_ctx_new(tls_dir, NULL, &ctx, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tp-tunstack: %s\n", err);
		return 1;
	}
	memset(&params, 0, sizeof(params));
	params.namespace_name = "itest";
	params.server = server;
	params.ssl_ctx = ctx;
	params.first_timeout_ms = 10000;
	r = conn_new(t.base, &params, &cbs, &t, &t.conn, err, sizeof(err));
	SSL_CTX_free(ctx);
	if (r < 0) {
		fprintf(stderr, "tp-tunstack: %s\n", err);
		return 1;
	}
	sigterm = evsignal_new(t.base, SIGTERM, tpt_signal, &t);
	sigint = evsignal_new(t.base, SIGINT, tpt_signal, &t);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	sigusr1 = evsignal_new(t.base, SIGUSR1, tpt_usr1, &t);
	evsignal_add(sigusr1, NULL);

	event_base_dispatch(t.base);

	tpt_print_stats(t.ts);
	/* The stack before the session: its streams are reset first. */
	tunstack_free(t.ts);
	conn_free(t.conn);
	tun_close(t.dev);
	event_free(sigterm);
	event_free(sigint);
	event_free(sigusr1);
	/* Let deferred bufferevent callbacks run before the base goes. */
	event_base_loop(t.base, EVLOOP_NONBLOCK);
	event_base_free(t.base);
	return t.status;
}
