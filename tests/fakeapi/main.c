/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake-apiserver: a small, faithful stand-in for kube-apiserver for
 * telepod's tests (see tests/fakeapi/README.md). It serves HTTPS on one
 * address, writes a kubeconfig for itself, prints its URL on the first line
 * of stdout, and runs until SIGTERM or SIGINT.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/certs.h"
#include "common/log.h"
#include "tests/fakeapi/api.h"
#include "tests/fakeapi/auth.h"
#include "tests/fakeapi/controller.h"
#include "tests/fakeapi/discovery.h"
#include "tests/fakeapi/http.h"
#include "tests/fakeapi/portforward.h"
#include "tests/fakeapi/schema.h"
#include "tests/fakeapi/store.h"

#ifndef FAKEAPI_K8S_DIR
#define FAKEAPI_K8S_DIR "../shared/k8s"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: fake-apiserver --listen HOST:PORT [options]\n"
	    "  --listen HOST:PORT       address to serve HTTPS on (port 0 picks one)\n"
	    "  --kubeconfig-out FILE    write a kubeconfig (CA, client certificate) for this server\n"
	    "  --state-dir DIR          keep the CA and certificates in DIR (default: a temporary\n"
	    "                           directory removed at exit)\n"
	    "  --k8s-dir DIR            shared Kubernetes data (OpenAPI documents); default\n"
	    "                           " FAKEAPI_K8S_DIR "\n"
	    "  --token TOKEN=USER       accept a bearer token (repeatable)\n"
	    "  --forbid USER:VERB:RESOURCE[:NAMESPACE]  deny (repeatable; * matches all)\n"
	    "  --pod-endpoint NS/NAME[:PORT]=HOST[:PORT]  where port-forwards to a pod go\n"
	    "  --watch-history N        watch events kept for resuming (default %d)\n"
	    "  --bookmark-seconds N     BOOKMARK interval on watches (default 60)\n"
	    "  --ready-delay-ms N       time until a Deployment is rolled out (default 200)\n"
	    "  --service-cidr CIDR      the service range (default " API_DEFAULT_SERVICE_CIDR
	    ")\n"
	    "  --node NAME=PODCIDR[,PODCIDR6]  a Node with these pod CIDRs (repeatable;\n"
	    "                           default: " API_DEFAULT_NODE ")\n"
	    "  --log-level LEVEL        err, warn, info (default) or debug\n"
	    "  --debug kube             debug logging\n",
	    STORE_DEFAULT_HISTORY);
}

struct main_state {
	struct event_base *base;
};

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *st = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(st->base);
}

static void
main_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int
main_parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"kubeconfig-out", required_argument, NULL, 'k'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"k8s-dir", required_argument, NULL, 'K'},
	    {"token", required_argument, NULL, 't'},
	    {"forbid", required_argument, NULL, 'f'},
	    {"pod-endpoint", required_argument, NULL, 'p'},
	    {"watch-history", required_argument, NULL, 'H'},
	    {"bookmark-seconds", required_argument, NULL, 'b'},
	    {"ready-delay-ms", required_argument, NULL, 'r'},
	    {"service-cidr", required_argument, NULL, 'S'},
	    {"node", required_argument, NULL, 'N'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"debug", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen_addr = NULL, *kubeconfig = NULL, *state_dir = NULL;
	const char *k8s_dir = getenv("FAKEAPI_K8S_DIR");
	char tmpdir[] = "/tmp/fakeapi-XXXXXX";
	bool tmp_state = false;
	unsigned long history = STORE_DEFAULT_HISTORY, bookmark = 60,
	              delay = 200;
	struct main_state st = {0};
	struct auth *auth = auth_new();
	struct portforward *pf = NULL;
	struct store *store = NULL;
	struct discovery *disc = NULL;
	struct schema_set *schemas = NULL;
	struct controller *ctl = NULL;
	struct api *api = NULL;
	struct http_server *srv = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	SSL_CTX *ctx = NULL;
	struct api_config cfg;
	char err[1024], host[256], url[300];
	int opt, port = 0, rc = 1;
	char **endpoints = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_endpoints = 0;
	const char *service_cidr = API_DEFAULT_SERVICE_CIDR;
	const char **nodes = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_nodes = 0;

	log_init("fake-apiserver", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (auth == NULL || endpoints == NULL || nodes == NULL) {
		fprintf(stderr, "fake-apiserver: out of memory\n");
		return 1;
	}
	if (k8s_dir == NULL || k8s_dir[0] == '\0')
		k8s_dir = FAKEAPI_K8S_DIR;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned long v;
		enum log_level lvl;
		unsigned cats;

		switch (opt) {
		case 'l':
			listen_addr = optarg;
			break;
		case 'k':
			kubeconfig = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'K':
			k8s_dir = optarg;
			break;
		case 't':
			if (auth_add_token(auth, optarg) < 0) {
				fprintf(stderr,
				    "fake-apiserver: bad --token '%s': give TOKEN=USER\n",
				    optarg);
				goto out;
			}
			break;
		case 'f':
			if (auth_add_forbid(auth, optarg) < 0) {
				fprintf(stderr,
				    "fake-apiserver: bad --forbid '%s': give USER:VERB:RESOURCE[:NAMESPACE]\n",
				    optarg);
				goto out;
			}
			break;
		case 'p':
			endpoints[n_endpoints++] = optarg;
			break;
		case 'S':
			service_cidr = optarg;
			break;
		case 'N':
			if (n_nodes == API_MAX_NODES) {
				fprintf(stderr,
				    "fake-apiserver: at most %d --node\n",
				    API_MAX_NODES);
				goto out;
			}
			nodes[n_nodes++] = optarg;
			break;
		case 'H':
			if (main_parse_uint(optarg, STORE_MAX_HISTORY, &v) <
			        0 ||
			    v == 0) {
				fprintf(stderr,
				    "fake-apiserver: --watch-history must be 1 to %d\n",
				    STORE_MAX_HISTORY);
				goto out;
			}
			history = v;
			break;
		case 'b':
			if (main_parse_uint(optarg, 86400, &v) < 0 || v == 0) {
				fprintf(stderr,
				    "fake-apiserver: --bookmark-seconds must be 1 to 86400\n");
				goto out;
			}
			bookmark = v;
			break;
		case 'r':
			if (main_parse_uint(optarg, 600000, &v) < 0) {
				fprintf(stderr,
				    "fake-apiserver: --ready-delay-ms must be 0 to 600000\n");
				goto out;
			}
			delay = v;
			break;
		case 'L':
			if (log_parse_level(optarg, &lvl) < 0) {
				fprintf(stderr,
				    "fake-apiserver: bad --log-level\n");
				goto out;
			}
			log_set_level(lvl);
			break;
		case 'd':
			if (log_parse_debug(optarg, &cats) < 0) {
				fprintf(
				    stderr, "fake-apiserver: bad --debug\n");
				goto out;
			}
			log_set_debug(cats);
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (listen_addr == NULL || optind != argc) {
		usage(stderr);
		goto out;
	}
	/* The host part of the listen address, for the certificate and the
	 * URL. */
	{
		const char *colon = strrchr(listen_addr, ':');
		size_t hl = colon != NULL ? (size_t)(colon - listen_addr) : 0;

		if (colon == NULL || hl == 0 || hl >= sizeof(host)) {
			fprintf(stderr,
			    "fake-apiserver: --listen needs HOST:PORT, such as 127.0.0.1:0\n");
			goto out;
		}
		snprintf(host, sizeof(host), "%.*s", (int)hl, listen_addr);
		if (host[0] == '[' && host[hl - 1] == ']') {
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
	}
	if (state_dir == NULL) {
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr,
			    "fake-apiserver: cannot make a temporary directory: %s\n",
			    strerror(errno));
			goto out;
		}
		state_dir = tmpdir;
		tmp_state = true;
	}
	if (auth_pki_ensure(state_dir, host, err, sizeof(err)) < 0 ||
	    auth_server_ctx_new(state_dir, &ctx, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake-apiserver: %s\n", err);
		goto out;
	}
	if (discovery_new(k8s_dir, &disc, err, sizeof(err)) < 0 ||
	    schema_set_new(k8s_dir, &schemas, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake-apiserver: %s\n", err);
		goto out;
	}
	st.base = event_base_new();
	store = store_new(history);
	pf = portforward_new(st.base);
	if (st.base == NULL || store == NULL || pf == NULL) {
		fprintf(stderr, "fake-apiserver: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < n_endpoints; i++) {
		if (portforward_add_endpoint(pf, endpoints[i]) < 0) {
			fprintf(stderr,
			    "fake-apiserver: bad --pod-endpoint '%s': give NS/NAME[:PORT]=HOST[:PORT]\n",
			    endpoints[i]);
			goto out;
		}
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.bookmark_seconds = (unsigned)bookmark;
	api = api_new(st.base, store, disc, schemas, auth, pf, &cfg);
	ctl = controller_new(st.base, store, (unsigned)delay);
	if (api == NULL || ctl == NULL || api_bootstrap(api) < 0) {
		fprintf(stderr, "fake-apiserver: out of memory\n");
		goto out;
	}
	if (api_set_service_cidr(api, service_cidr, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake-apiserver: --service-cidr: %s\n", err);
		goto out;
	}
	if (n_nodes == 0)
		nodes[n_nodes++] = API_DEFAULT_NODE;
	for (size_t i = 0; i < n_nodes; i++) {
		if (api_add_node(api, nodes[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "fake-apiserver: --node: %s\n", err);
			goto out;
		}
	}
	if (http_server_new(st.base, ctx, listen_addr, api_handle, api, &srv,
	        &port, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake-apiserver: %s\n", err);
		goto out;
	}
	if (strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "::1");
	if (strchr(host, ':') != NULL)
		snprintf(url, sizeof(url), "https://[%s]:%d", host, port);
	else
		snprintf(url, sizeof(url), "https://%s:%d", host, port);
	if (kubeconfig != NULL && auth_write_kubeconfig(state_dir, url,
	                              kubeconfig, err, sizeof(err)) < 0) {
		fprintf(stderr, "fake-apiserver: %s\n", err);
		goto out;
	}
	/* The contract with scripts: the URL alone on the first line. */
	printf("%s\n", url);
	fflush(stdout);
	log_info("serving %s (state %s, schemas %s)", url, state_dir, k8s_dir);
	sigterm = evsignal_new(st.base, SIGTERM, main_signal_cb, &st);
	sigint = evsignal_new(st.base, SIGINT, main_signal_cb, &st);
	if (sigterm == NULL || sigint == NULL) {
		fprintf(stderr, "fake-apiserver: out of memory\n");
		goto out;
	}
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_base_dispatch(st.base);
	rc = 0;
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	http_server_free(srv);
	api_free(api);
	controller_free(ctl);
	portforward_free(pf);
	store_free(store);
	schema_set_free(schemas);
	discovery_free(disc);
	SSL_CTX_free(ctx);
	auth_free(auth);
	free(endpoints);
	free(nodes);
	if (st.base != NULL)
		event_base_free(st.base);
	if (tmp_state)
		main_remove_dir(tmpdir);
	return rc;
}
