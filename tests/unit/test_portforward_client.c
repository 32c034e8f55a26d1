/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_portforward_client: common/portforward against
 * tests/fakeapi/fake-apiserver, which relays port-forwards to an echo
 * server this test runs on 127.0.0.1 (in its own event loop, beside the
 * forwarder). Byte-exact echo through the listener (one large stream and
 * several at once, each its own WebSocket), the probe, a Forbidden user
 * (the message names the verb and pods/portforward), a pod that does not
 * exist, a pod whose port refuses (the kubelet's error channel), the pod
 * chosen again after a 404, a client certificate and a bearer token, and
 * that every forward is freed when the local side closes. Skipped (77)
 * when the fake or the shared Kubernetes data is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>

#include "common/kube.h"
#include "common/kubeconfig.h"
#include "common/log.h"
#include "common/portforward.h"
#include "tests/unit/cunit_main.h"

#define POD_PORT 8443

static char tmpdir[] = "/tmp/test_pfc.XXXXXX";
static pid_t fake_pid;
static char fake_kc[PATH_MAX];
static struct event_base *base;
static struct evconnlistener *echo_l;
static unsigned echo_port, closed_port;

/* ---------------------------------------------------------------------- */
/* the echo server */

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

/* Open echo connections, freed at the end if the fake still holds them. */
static struct bufferevent *echo_conns[128];

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	for (size_t i = 0; i < sizeof(echo_conns) / sizeof(*echo_conns); i++)
		if (echo_conns[i] == bev)
			echo_conns[i] = NULL;
	bufferevent_free(bev);
}

static void
echo_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct bufferevent *b =
	    bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	size_t i;

	for (i = 0; i < sizeof(echo_conns) / sizeof(*echo_conns); i++)
		if (echo_conns[i] == NULL) {
			echo_conns[i] = b;
			break;
		}
	if (i == sizeof(echo_conns) / sizeof(*echo_conns)) {
		bufferevent_free(b);
		return;
	}
	bufferevent_setcb(b, echo_read_cb, NULL, echo_event_cb, NULL);
	bufferevent_enable(b, EV_READ | EV_WRITE);
}

static unsigned
bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	getsockname(fd, (struct sockaddr *)&sin, &sl);
	return ntohs(sin.sin_port);
}

/* ---------------------------------------------------------------------- */
/* the fake API server */

static int
fake_start(void)
{
	const char *bld = getenv("top_builddir"), *src = getenv("top_srcdir");
	const char *k8s = getenv("FAKEAPI_K8S_DIR");
	char bin[PATH_MAX], k8sbuf[PATH_MAX], probe[PATH_MAX + 16];
	char log[PATH_MAX], state[PATH_MAX], url[256];
	char ep1[128], ep2[128], ep3[128];
	size_t got = 0;
	int out[2];

	snprintf(bin, sizeof(bin), "%s/tests/fakeapi/fake-apiserver",
	    bld && *bld ? bld : ".");
	if (k8s == NULL || *k8s == '\0') {
		snprintf(k8sbuf, sizeof(k8sbuf), "%s/../shared/k8s",
		    src && *src ? src : "..");
		k8s = k8sbuf;
	}
	snprintf(probe, sizeof(probe), "%s/openapi", k8s);
	if (access(bin, X_OK) != 0 || access(probe, R_OK) != 0) {
		fprintf(stderr, "SKIP: no %s or no Kubernetes data at %s\n",
		    bin, k8s);
		return 77;
	}
	snprintf(fake_kc, sizeof(fake_kc), "%s/fake.kubeconfig", tmpdir);
	snprintf(log, sizeof(log), "%s/fake.log", tmpdir);
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	snprintf(ep1, sizeof(ep1), "default/echo:%d=127.0.0.1:%u", POD_PORT,
	    echo_port);
	snprintf(ep2, sizeof(ep2), "default/closed:%d=127.0.0.1:%u", POD_PORT,
	    closed_port);
	snprintf(ep3, sizeof(ep3), "default/web:%d=127.0.0.1:%u", POD_PORT,
	    echo_port);
	if (pipe(out) != 0)
		return 1;
	fake_pid = fork();
	if (fake_pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(out[1], 1);
		if (lf >= 0)
			dup2(lf, 2);
		close(out[0]);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--kubeconfig-out",
		    fake_kc, "--state-dir", state, "--k8s-dir", k8s,
		    "--pod-endpoint", ep1, "--pod-endpoint", ep2,
		    "--pod-endpoint", ep3, "--token", "tok-bob=bob", "--token",
		    "tok-carl=carl", "--forbid", "bob:*:pods/portforward",
		    (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while (got < sizeof(url) - 1) {
		struct pollfd p = {out[0], POLLIN, 0};

		if (poll(&p, 1, 15000) <= 0 ||
		    read(out[0], url + got, 1) <= 0 || url[got] == '\n')
			break;
		got++;
	}
	url[got] = '\0';
	close(out[0]);
	if (strncmp(url, "https://127.0.0.1:", 18) != 0) {
		fprintf(stderr, "fake-apiserver did not start (see %s)\n", log);
		return 1;
	}
	return 0;
}

static void
fake_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
		fake_pid = 0;
	}
}

/* The fake's kubeconfig, resolved; with token, a bearer token instead
 * of the client certificate. */
static struct kubeconfig_resolved *
resolved(const char *token)
{
	char err[KUBECONFIG_ERR_MAX];
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;

	CU_ASSERT_FATAL(kubeconfig_load(fake_kc, &kc, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(
	    kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)) == 0);
	kubeconfig_free(kc);
	if (token != NULL) {
		free(rc->client_cert_pem);
		free(rc->client_key_pem);
		rc->client_cert_pem = rc->client_key_pem = NULL;
		rc->client_cert_pem_len = rc->client_key_pem_len = 0;
		rc->token = strdup(token);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* a forwarder with its client */

struct rig {
	struct kubeconfig_resolved *rc;
	struct kube_client *kube;
	struct portforward *pf;
	int n_errors;
	char last_error[PORTFORWARD_ERR_MAX];
	const char *repick_to;
	int picks;
};

static void
rig_error(void *arg, int err, const char *msg)
{
	struct rig *g = arg;

	g->n_errors++;
	snprintf(g->last_error, sizeof(g->last_error), "%s", msg);
}

static int
rig_pick(void *arg, char *pod, size_t len, char *err, size_t errlen)
{
	struct rig *g = arg;

	g->picks++;
	snprintf(pod, len, "%s", g->repick_to);
	return 0;
}

static void
rig_start(struct rig *g, const char *token, const char *pod)
{
	struct portforward_config cfg;
	char err[PORTFORWARD_ERR_MAX];

	memset(g, 0, sizeof(*g));
	g->rc = resolved(token);
	CU_ASSERT_FATAL(
	    kube_client_new(g->rc, NULL, &g->kube, err, sizeof(err)) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.rc = g->rc;
	cfg.kube = g->kube;
	cfg.ns = "default";
	cfg.pod = pod;
	cfg.port = POD_PORT;
	cfg.listen_fd = -1;
	cfg.on_error = rig_error;
	cfg.error_arg = g;
	cfg.pick = rig_pick;
	cfg.pick_arg = g;
	cfg.handshake_timeout_ms = 5000;
	if (portforward_new(base, &cfg, &g->pf, err, sizeof(err)) != 0)
		fprintf(stderr, "portforward_new: %s\n", err);
	CU_ASSERT_FATAL(g->pf != NULL);
	CU_ASSERT(portforward_local_port(g->pf) > 0);
}

static void
rig_free(struct rig *g)
{
	portforward_free(g->pf);
	kube_client_free(g->kube);
	kubeconfig_resolved_free(g->rc);
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

static bool
run_until(const bool *flag, int ms)
{
	bool expired = false;
	struct event *t = evtimer_new(base, timeout_cb, &expired);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(t, &tv);
	while (!expired && (flag == NULL || !*flag))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return flag == NULL || *flag;
}

/* One local client: sends total pattern bytes, checks the echo. */
struct stream {
	struct bufferevent *bev;
	size_t total, sent, got;
	unsigned seed;
	bool done, bad, eof;
};

static uint8_t
pattern(unsigned seed, size_t i)
{
	return (uint8_t)((i * 2654435761u + seed) >> 13);
}

static void
stream_fill(struct stream *s)
{
	uint8_t buf[16384];

	while (s->sent < s->total &&
	       evbuffer_get_length(bufferevent_get_output(s->bev)) < 262144) {
		size_t n = s->total - s->sent < sizeof(buf) ? s->total - s->sent
		                                            : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(s->seed, s->sent + i);
		bufferevent_write(s->bev, buf, n);
		s->sent += n;
	}
}

static void
stream_read_cb(struct bufferevent *bev, void *arg)
{
	struct stream *s = arg;
	uint8_t buf[16384];
	size_t n;

	while ((n = bufferevent_read(bev, buf, sizeof(buf))) > 0) {
		for (size_t i = 0; i < n; i++)
			if (buf[i] != pattern(s->seed, s->got + i))
				s->bad = true;
		s->got += n;
	}
	if (s->got >= s->total)
		s->done = true;
}

static void
stream_write_cb(struct bufferevent *bev, void *arg)
{
	stream_fill(arg);
}

static void
stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct stream *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	s->eof = true;
	s->done = true;
}

static void
stream_start(struct stream *s, unsigned port, size_t total, unsigned seed)
{
	struct sockaddr_in sin;

	memset(s, 0, sizeof(*s));
	s->total = total;
	s->seed = seed;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(
	    s->bev, stream_read_cb, stream_write_cb, stream_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 131072, 0);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	CU_ASSERT(bufferevent_socket_connect(
	              s->bev, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	stream_fill(s);
}

/* Waits until the forwarder holds no forward (all freed). */
static bool
settled(struct rig *g, int ms)
{
	struct portforward_stats st;

	for (int i = 0; i < ms / 10; i++) {
		portforward_get_stats(g->pf, &st);
		if (st.active == 0)
			return true;
		run_until(NULL, 10);
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* tests */

static void
test_echo_large(void)
{
	struct rig g;
	struct stream s;
	struct portforward_stats st;

	rig_start(&g, NULL, "echo");
	stream_start(&s, portforward_local_port(g.pf), 16u << 20, 7);
	CU_ASSERT(run_until(&s.done, 60000));
	CU_ASSERT_FALSE(s.bad);
	CU_ASSERT_FALSE(s.eof);
	CU_ASSERT_EQUAL(s.got, s.total);
	portforward_get_stats(g.pf, &st);
	CU_ASSERT_EQUAL(st.accepted, 1);
	CU_ASSERT_EQUAL(st.active, 1);
	CU_ASSERT_EQUAL(st.bytes_up, 16u << 20);
	CU_ASSERT_EQUAL(st.bytes_down, 16u << 20);
	bufferevent_free(s.bev);
	CU_ASSERT(settled(&g, 5000));
	portforward_get_stats(g.pf, &st);
	CU_ASSERT_EQUAL(st.failed, 0);
	CU_ASSERT_EQUAL(g.n_errors, 0);
	rig_free(&g);
}

static void
test_echo_parallel_token(void)
{
	struct rig g;
	struct stream s[6];
	struct portforward_stats st;

	rig_start(&g, "tok-carl", "echo");
	for (int i = 0; i < 6; i++)
		stream_start(&s[i], portforward_local_port(g.pf),
		    (size_t)(256 + i * 100) << 10, (unsigned)i);
	for (int i = 0; i < 6; i++) {
		CU_ASSERT(run_until(&s[i].done, 30000));
		CU_ASSERT_FALSE(s[i].bad);
		CU_ASSERT_EQUAL(s[i].got, s[i].total);
	}
	portforward_get_stats(g.pf, &st);
	CU_ASSERT_EQUAL(st.accepted, 6);
	CU_ASSERT_EQUAL(st.active, 6);
	for (int i = 0; i < 6; i++)
		bufferevent_free(s[i].bev);
	CU_ASSERT(settled(&g, 5000));
	CU_ASSERT_EQUAL(g.n_errors, 0);
	rig_free(&g);
}

struct probe_result {
	bool done;
	int err;
	char msg[PORTFORWARD_ERR_MAX];
};

static void
probe_done(void *arg, int err, const char *msg)
{
	struct probe_result *p = arg;

	p->done = true;
	p->err = err;
	snprintf(p->msg, sizeof(p->msg), "%s", msg);
}

static void
probe(const char *token, const char *pod, struct probe_result *p)
{
	struct rig g;
	char err[PORTFORWARD_ERR_MAX];

	memset(p, 0, sizeof(*p));
	rig_start(&g, token, pod);
	CU_ASSERT_EQUAL(
	    portforward_probe(g.pf, probe_done, p, err, sizeof(err)), 0);
	CU_ASSERT(run_until(&p->done, 10000));
	run_until(NULL, 20);
	rig_free(&g);
}

/* The name of the Deployment web's pod. */
static void
web_pod(char *out, size_t len)
{
	struct rig g;
	struct kube_list_opts lo = {.label_selector = "app=web"};
	struct kube_error ke;
	cJSON *list = NULL;
	const cJSON *name;

	rig_start(&g, NULL, "echo");
	CU_ASSERT_FATAL(kube_list(g.kube, kube_kind_lookup("Pod"), "default",
	                    &lo, &list, &ke) >= 0);
	name = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetArrayItem(
	            cJSON_GetObjectItemCaseSensitive(list, "items"), 0),
	        "metadata"),
	    "name");
	CU_ASSERT_FATAL(cJSON_IsString(name));
	snprintf(out, len, "%s", name->valuestring);
	cJSON_Delete(list);
	rig_free(&g);
}

static void
test_probe(void)
{
	struct probe_result p;
	char pod[256];

	probe(NULL, "echo", &p);
	CU_ASSERT_EQUAL(p.err, 0);
	/* A Deployment's pod (the fake maps web-* to the endpoint). */
	web_pod(pod, sizeof(pod));
	CU_ASSERT(strncmp(pod, "web-", 4) == 0);
	probe("tok-carl", pod, &p);
	CU_ASSERT_EQUAL(p.err, 0);
}

static void
test_forbidden(void)
{
	struct probe_result p;
	struct rig g;
	struct stream s;

	probe("tok-bob", "echo", &p);
	CU_ASSERT_EQUAL(p.err, -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "forbidden"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "pods/portforward"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "cannot get"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "\"default\""));
	/* A local connection is closed, and the error reported. */
	rig_start(&g, "tok-bob", "echo");
	stream_start(&s, portforward_local_port(g.pf), 1000, 1);
	CU_ASSERT(run_until(&s.done, 10000));
	CU_ASSERT(s.eof);
	CU_ASSERT_EQUAL(s.got, 0);
	CU_ASSERT_EQUAL(g.n_errors, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.last_error, "pods/portforward"));
	CU_ASSERT_STRING_EQUAL(portforward_last_error(g.pf), g.last_error);
	bufferevent_free(s.bev);
	CU_ASSERT(settled(&g, 5000));
	rig_free(&g);
}

static void
test_missing_and_refused(void)
{
	struct probe_result p;

	probe(NULL, "nosuchpod", &p);
	CU_ASSERT_EQUAL(p.err, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "nosuchpod"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "not found"));
	/* The pod exists but nothing listens on its port. */
	probe(NULL, "closed", &p);
	CU_ASSERT_EQUAL(p.err, -ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "failed in the cluster"));
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "8443"));
}

static void
test_repick(void)
{
	struct rig g;
	struct stream s;

	rig_start(&g, NULL, "gone");
	g.repick_to = "echo";
	stream_start(&s, portforward_local_port(g.pf), 100000, 3);
	CU_ASSERT(run_until(&s.done, 10000));
	CU_ASSERT_FALSE(s.bad);
	CU_ASSERT_EQUAL(s.got, 100000);
	CU_ASSERT_EQUAL(g.picks, 1);
	CU_ASSERT_STRING_EQUAL(portforward_pod(g.pf), "echo");
	CU_ASSERT_EQUAL(g.n_errors, 0);
	bufferevent_free(s.bev);
	CU_ASSERT(settled(&g, 5000));
	rig_free(&g);
}

static void
test_bad_config(void)
{
	struct rig g;
	struct portforward_config cfg;
	struct portforward *pf = NULL;
	char err[PORTFORWARD_ERR_MAX];

	rig_start(&g, NULL, "echo");
	memset(&cfg, 0, sizeof(cfg));
	cfg.rc = g.rc;
	cfg.kube = g.kube;
	cfg.ns = "default";
	cfg.pod = "Bad/Name";
	cfg.port = POD_PORT;
	cfg.listen_fd = PORTFORWARD_NO_LISTENER;
	CU_ASSERT_EQUAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)), -EINVAL);
	cfg.pod = "echo";
	cfg.port = 0;
	CU_ASSERT_EQUAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)), -EINVAL);
	cfg.port = POD_PORT;
	g.rc->proxy_url = strdup("http://proxy:3128");
	CU_ASSERT_EQUAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "proxy-url"));
	free(g.rc->proxy_url);
	g.rc->proxy_url = NULL;
	free(g.rc->ca_pem);
	g.rc->ca_pem = (unsigned char *)strdup("not a certificate");
	g.rc->ca_pem_len = strlen((char *)g.rc->ca_pem);
	CU_ASSERT_EQUAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "certificate-authority"));
	rig_free(&g);
}

/* A CA that did not sign the fake's certificate: the TLS failure says
 * the certificate is not trusted. */
static void
test_untrusted(void)
{
	struct rig g;
	struct portforward_config cfg;
	struct probe_result p;
	char err[PORTFORWARD_ERR_MAX];
	struct portforward *pf = NULL;
	struct kubeconfig_resolved *other = NULL;
	char path[PATH_MAX + 32];
	FILE *f;
	char *buf = NULL;
	long n;

	rig_start(&g, NULL, "echo");
	/* The fake's own client certificate is not a CA for its server. */
	snprintf(path, sizeof(path), "%s/state/client.crt", tmpdir);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	CU_ASSERT_FATAL(fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	free(g.rc->ca_pem);
	g.rc->ca_pem = (unsigned char *)buf;
	g.rc->ca_pem_len = (size_t)n;
	memset(&cfg, 0, sizeof(cfg));
	cfg.rc = g.rc;
	cfg.kube = g.kube;
	cfg.ns = "default";
	cfg.pod = "echo";
	cfg.port = POD_PORT;
	cfg.listen_fd = PORTFORWARD_NO_LISTENER;
	CU_ASSERT_FATAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)) == 0);
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL(
	    portforward_probe(pf, probe_done, &p, err, sizeof(err)), 0);
	CU_ASSERT(run_until(&p.done, 10000));
	CU_ASSERT_EQUAL(p.err, -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.msg, "not trusted"));
	portforward_free(pf);
	(void)other;
	rig_free(&g);
}

/* An exec plugin that hands out a client certificate (not a token): the
 * forwarder fetches it itself for its TLS context. */
static void
test_exec_cert(void)
{
	char plugin[PATH_MAX + 32], kc[PATH_MAX + 32], url[256] = "";
	struct kubeconfig *k = NULL;
	struct kubeconfig_resolved *rc = NULL;
	struct kube_client *kube = NULL;
	struct portforward_config cfg;
	struct portforward *pf = NULL;
	struct probe_result p;
	char err[PORTFORWARD_ERR_MAX];
	FILE *f;

	{
		struct kubeconfig_resolved *fr = resolved(NULL);

		snprintf(url, sizeof(url), "%s", fr->server);
		kubeconfig_resolved_free(fr);
	}
	snprintf(plugin, sizeof(plugin), "%s/plugin.sh", tmpdir);
	f = fopen(plugin, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f,
	    "#!/bin/sh\n"
	    "pem() { awk '{ printf \"%%s\\\\n\", $0 }' \"$1\"; }\n"
	    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"%%s\",\"clientKeyData\":\"%%s\"}}\\n' "
	    "\"$(pem %s/state/client.crt)\" \"$(pem %s/state/client.key)\"\n",
	    tmpdir, tmpdir);
	fclose(f);
	chmod(plugin, 0700);
	snprintf(kc, sizeof(kc), "%s/exec.kubeconfig", tmpdir);
	f = fopen(kc, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f,
	    "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
	    "clusters:\n- name: c\n  cluster:\n    server: %s\n"
	    "    certificate-authority: %s/state/ca.crt\n"
	    "users:\n- name: u\n  user:\n    exec:\n"
	    "      apiVersion: client.authentication.k8s.io/v1\n"
	    "      command: %s\n      interactiveMode: Never\n"
	    "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
	    url, tmpdir, plugin);
	fclose(f);
	CU_ASSERT_FATAL(kubeconfig_load(kc, &k, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(
	    kubeconfig_resolve(k, NULL, &rc, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(
	    kube_client_new(rc, NULL, &kube, err, sizeof(err)) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.rc = rc;
	cfg.kube = kube;
	cfg.ns = "default";
	cfg.pod = "echo";
	cfg.port = POD_PORT;
	cfg.listen_fd = PORTFORWARD_NO_LISTENER;
	CU_ASSERT_FATAL(
	    portforward_new(base, &cfg, &pf, err, sizeof(err)) == 0);
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL(
	    portforward_probe(pf, probe_done, &p, err, sizeof(err)), 0);
	CU_ASSERT(run_until(&p.done, 10000));
	if (p.err != 0)
		fprintf(stderr, "exec probe: %s\n", p.msg);
	CU_ASSERT_EQUAL(p.err, 0);
	portforward_free(pf);
	kube_client_free(kube);
	kubeconfig_resolved_free(rc);
	kubeconfig_free(k);
}

static const struct cunit_test tests[] = {
    {"16 MiB echo through one forward (client certificate)", test_echo_large},
    {"6 forwards at once (bearer token)", test_echo_parallel_token},
    {"probe: a pod and a Deployment's pod", test_probe},
    {"Forbidden names the verb and pods/portforward", test_forbidden},
    {"missing pod (404) and a refused port (error channel)",
        test_missing_and_refused},
    {"the pod is chosen again after a 404", test_repick},
    {"invalid configurations", test_bad_config},
    {"an untrusted API server certificate", test_untrusted},
    {"a client certificate from an exec plugin", test_exec_cert},
};

/* Creates the pods the fake forwards to. */
static int
make_pods(void)
{
	struct kubeconfig_resolved *rc;
	struct kube_client *kube = NULL;
	char err[PORTFORWARD_ERR_MAX];
	const char *names[] = {"echo", "closed"};
	int r = 0;

	{
		struct kubeconfig *kc = NULL;

		if (kubeconfig_load(fake_kc, &kc, err, sizeof(err)) != 0 ||
		    kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)) != 0) {
			fprintf(stderr, "kubeconfig: %s\n", err);
			kubeconfig_free(kc);
			return 1;
		}
		kubeconfig_free(kc);
	}
	if (kube_client_new(rc, NULL, &kube, err, sizeof(err)) != 0) {
		kubeconfig_resolved_free(rc);
		return 1;
	}
	for (size_t i = 0; i < 2 && r == 0; i++) {
		char js[512];
		struct kube_error ke;
		cJSON *pod;

		snprintf(js, sizeof(js),
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
		    names[i]);
		pod = cJSON_Parse(js);
		if (kube_create(kube, NULL, "default", pod, NULL, &ke) < 0) {
			fprintf(stderr, "create pod %s: %s\n", names[i],
			    ke.message);
			r = 1;
		}
		cJSON_Delete(pod);
	}
	{
		/* A Deployment "web": its pods are web-... */
		struct kube_error ke;
		cJSON *d = cJSON_Parse(
		    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
		    "\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1,"
		    "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}");

		if (r == 0 &&
		    kube_create(kube, NULL, "default", d, NULL, &ke) < 0) {
			fprintf(stderr, "create deployment: %s\n", ke.message);
			r = 1;
		}
		cJSON_Delete(d);
	}
	kube_client_free(kube);
	kubeconfig_resolved_free(rc);
	return r;
}

int
main(void)
{
	int rc, fd;
	struct sockaddr_in sin;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_portforward_client", LOG_LEVEL_WARN);
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	base = event_base_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	echo_l = evconnlistener_new_bind(base, echo_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (echo_l == NULL)
		return 99;
	echo_port = bound_port(evconnlistener_get_fd(echo_l));
	/* A port that was free a moment ago: nothing listens there. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	closed_port = bound_port(fd);
	close(fd);
	rc = fake_start();
	if (rc == 0)
		rc = make_pods();
	if (rc == 0) {
		/* The Deployment's pods take a moment to appear. */
		run_until(NULL, 600);
		rc = cunit_run("portforward_client", NULL, NULL, tests,
		    sizeof(tests) / sizeof(*tests));
	}
	fake_stop();
	for (size_t i = 0; i < sizeof(echo_conns) / sizeof(*echo_conns); i++)
		if (echo_conns[i] != NULL)
			bufferevent_free(echo_conns[i]);
	evconnlistener_free(echo_l);
	event_base_free(base);
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (getenv("TEST_KEEP") == NULL && system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return rc;
}
