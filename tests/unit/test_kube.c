/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/kube, the REST client: the kind table and paths,
 * Status decoding, and requests against a tiny HTTP responder written here
 * (a listening thread on 127.0.0.1 with a thread per connection, plain or
 * TLS with client certificates, answering with canned replies from the
 * test's handler): request shapes, connection reuse, error mapping,
 * pagination with `continue`, watch streams split at odd places,
 * bookmarks, 410 and relisting, credential refresh after a 401, and TLS
 * trust (CA, tls-server-name, client certificate). Then the same calls
 * against tests/fakeapi/fake-apiserver, a faithful stand-in for
 * kube-apiserver started on 127.0.0.1 (skipped, and said so, when it or
 * the shared Kubernetes data is missing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "common/certs.h"
#include "common/kube.h"
#include "common/kubeconfig.h"
#include "common/tlsconf.h"
#include "tests/unit/cunit_main.h"

/* ---------------------------------------------------------------------- */
/* the responder */

#define SRV_MAX_REQS  128
#define SRV_MAX_CONNS 32

struct req {
	char method[16];
	char target[4096];
	char headers[8192];
	char body[65536];
	size_t body_len;
	int conn;
};

struct conn {
	struct srv *srv;
	int fd;
	SSL *ssl;
	int id;
	pthread_t thr;
};

struct srv;
/* Writes the response to rq on cn; returns 1 to close the connection. */
typedef int (*handler_fn)(struct srv *s, struct conn *cn, const struct req *rq);

struct srv {
	int lfd;
	unsigned short port;
	SSL_CTX *tls;
	handler_fn handler;
	void *arg;
	pthread_t thr;
	atomic_bool stop;
	pthread_mutex_t mu;
	struct req *reqs; /* recorded, SRV_MAX_REQS */
	size_t n_reqs;
	struct conn conns[SRV_MAX_CONNS];
	int n_conns;
	int step; /* free for handlers (under mu) */
};

static int
cn_write(struct conn *cn, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = cn->ssl ? SSL_write(cn->ssl, buf, (int)len)
		                    : send(cn->fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cn_printf(struct conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cn_printf(struct conn *cn, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	n = cn_write(cn, s, (size_t)n);
	free(s);
	return n;
}

/* Reads some bytes, waiting in 100 ms steps while not stopped. */
static ssize_t
cn_read(struct conn *cn, char *buf, size_t len)
{
	for (;;) {
		struct pollfd p = {cn->fd, POLLIN, 0};

		if (atomic_load(&cn->srv->stop))
			return -1;
		if (cn->ssl && SSL_pending(cn->ssl) > 0)
			return SSL_read(cn->ssl, buf, (int)len);
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (cn->ssl) {
			int n = SSL_read(cn->ssl, buf, (int)len);

			if (n <= 0 &&
			    SSL_get_error(cn->ssl, n) == SSL_ERROR_WANT_READ)
				continue;
			return n;
		}
		return recv(cn->fd, buf, len, 0);
	}
}

static void
send_json(struct conn *cn, int status, const char *body)
{
	cn_printf(cn,
	    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    status, strlen(body), body);
}

static void
send_chunked_head(struct conn *cn)
{
	cn_printf(cn,
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json;stream=watch\r\nTransfer-Encoding: chunked\r\n\r\n");
}

static void
send_chunk(struct conn *cn, const char *data)
{
	cn_printf(cn, "%zx\r\n%s\r\n", strlen(data), data);
}

static void
send_chunk_end(struct conn *cn)
{
	cn_printf(cn, "0\r\n\r\n");
}

static const char *
header(const struct req *rq, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);

	for (const char *l = rq->headers; l && *l;) {
		const char *e = strstr(l, "\r\n");

		if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(buf, len, "%.*s",
			    (int)((e ? e : v + strlen(v)) - v), v);
			return buf;
		}
		l = e ? e + 2 : NULL;
	}
	return NULL;
}

static void *
conn_main(void *arg)
{
	struct conn *cn = arg;
	struct srv *s = cn->srv;
	char buf[80000];
	size_t have = 0;

	if (s->tls != NULL) {
		cn->ssl = SSL_new(s->tls);
		SSL_set_fd(cn->ssl, cn->fd);
		if (SSL_accept(cn->ssl) != 1)
			goto out;
	}
	for (;;) {
		struct req *rq = calloc(1, sizeof(*rq));
		char *end, *p, cl[32];
		size_t hl, want;
		int close_it;

		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
			ssize_t n = cn_read(cn, buf + have, sizeof(buf) - have);

			if (n <= 0 || have + (size_t)n >= sizeof(buf)) {
				free(rq);
				goto out;
			}
			have += (size_t)n;
		}
		hl = (size_t)(end - buf) + 4;
		p = memchr(buf, '\r', hl);
		sscanf(buf, "%15s %4095s", rq->method, rq->target);
		snprintf(rq->headers, sizeof(rq->headers), "%.*s",
		    (int)(hl - (size_t)(p + 2 - buf)), p + 2);
		want = header(rq, "Content-Length", cl, sizeof(cl))
		           ? strtoul(cl, NULL, 10)
		           : 0;
		while (have < hl + want) {
			ssize_t n = cn_read(cn, buf + have, sizeof(buf) - have);

			if (n <= 0) {
				free(rq);
				goto out;
			}
			have += (size_t)n;
		}
		rq->body_len =
		    want < sizeof(rq->body) - 1 ? want : sizeof(rq->body) - 1;
		memcpy(rq->body, buf + hl, rq->body_len);
		memmove(buf, buf + hl + want, have - hl - want);
		have -= hl + want;
		rq->conn = cn->id;
		pthread_mutex_lock(&s->mu);
		if (s->n_reqs < SRV_MAX_REQS)
			s->reqs[s->n_reqs++] = *rq;
		pthread_mutex_unlock(&s->mu);
		close_it = s->handler(s, cn, rq);
		free(rq);
		if (close_it)
			break;
	}
out:
	if (cn->ssl) {
		SSL_shutdown(cn->ssl);
		SSL_free(cn->ssl);
		cn->ssl = NULL;
	}
	close(cn->fd);
	return NULL;
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {s->lfd, POLLIN, 0};
		struct conn *cn;
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		if (s->n_conns == SRV_MAX_CONNS) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		cn = &s->conns[s->n_conns];
		cn->srv = s;
		cn->fd = fd;
		cn->id = ++s->n_conns;
		pthread_mutex_unlock(&s->mu);
		pthread_create(&cn->thr, NULL, conn_main, cn);
	}
	return NULL;
}

static struct srv *
srv_start(handler_fn h, SSL_CTX *tls)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int one = 1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->reqs = calloc(SRV_MAX_REQS, sizeof(*s->reqs));
	s->handler = h;
	s->tls = tls;
	pthread_mutex_init(&s->mu, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	CU_ASSERT_EQUAL_FATAL(
	    bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	CU_ASSERT_EQUAL_FATAL(listen(s->lfd, 16), 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thr, NULL, srv_main, s);
	return s;
}

static void
srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thr, NULL);
	for (int i = 0; i < s->n_conns; i++)
		pthread_join(s->conns[i].thr, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s->reqs);
	free(s);
}

static struct req *
srv_req(struct srv *s, size_t i)
{
	return i < s->n_reqs ? &s->reqs[i] : NULL;
}

/* ---------------------------------------------------------------------- */
/* clients */

static char tmpdir[PATH_MAX];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
tmp_setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(
	    tmpdir, sizeof(tmpdir), "%s/tp-kube-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		abort();
}

static void
tmp_cleanup(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static time_t fake_now = 1000000;

static time_t
fake_clock(void *arg)
{
	return fake_now;
}

/* A client from kubeconfig text (its current context). */
static struct kube_client *
client_from(const char *yaml, const struct kube_client_opts *opts)
{
	char path[PATH_MAX + 32], err[KUBECONFIG_ERR_MAX];
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;
	struct kube_client *c = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/config", tmpdir);
	write_file(path, yaml);
	r = kubeconfig_load(path, &kc, err, sizeof(err));
	if (r == 0)
		r = kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err));
	if (r == 0)
		r = kube_client_new(rc, opts, &c, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "client: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	kubeconfig_resolved_free(rc);
	kubeconfig_free(kc);
	return c;
}

static struct kube_client *
plain_client(
    struct srv *s, const char *user_yaml, const struct kube_client_opts *opts)
{
	char *y;
	struct kube_client *c;

	if (asprintf(&y,
	        "current-context: t\n"
	        "contexts: [{name: t, context: {cluster: k, user: u, namespace: dev}}]\n"
	        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:%u/'}}]\n"
	        "users:\n- name: u\n  user:\n%s",
	        s->port, user_yaml) < 0)
		abort();
	c = client_from(y, opts);
	free(y);
	return c;
}

/* ---------------------------------------------------------------------- */

static void
test_kinds_paths(void)
{
	char buf[256];
	const struct kube_kind *k;
	cJSON *o;
	char longname[KUBE_MAX_NAME + 2];

	CU_ASSERT_PTR_NULL(kube_kind_lookup("Ingress"));
	k = kube_kind_lookup("Deployment");
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "web", buf, sizeof(buf)),
	    (int)strlen("/apis/apps/v1/namespaces/dev/deployments/web"));
	CU_ASSERT_STRING_EQUAL(
	    buf, "/apis/apps/v1/namespaces/dev/deployments/web");
	kube_path(kube_kind_lookup("ConfigMap"), "dev", NULL, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "/api/v1/namespaces/dev/configmaps");
	kube_path(
	    kube_kind_lookup("Namespace"), "ignored", "dev", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "/api/v1/namespaces/dev");
	kube_path(kube_kind_lookup("ClusterRole"), NULL,
	    "system:controller:x y", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf,
	    "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:x%20y");
	kube_path(kube_kind_lookup("Job"), "ns", NULL, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "/apis/batch/v1/namespaces/ns/jobs");
	kube_path(kube_kind_lookup("Node"), NULL, NULL, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "/api/v1/nodes");
	CU_ASSERT_EQUAL(
	    kube_path(kube_kind_lookup("Secret"), NULL, "s", buf, sizeof(buf)),
	    -EINVAL);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "..", buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "a/b", buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "a\nb", buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "", buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(kube_path(k, "dev", "web", buf, 20), -ENAMETOOLONG);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT_EQUAL(
	    kube_path(k, "dev", longname, buf, sizeof(buf)), -EINVAL);

	o = cJSON_Parse(
	    "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\"}");
	CU_ASSERT_PTR_EQUAL(kube_kind_of(o), kube_kind_lookup("RoleBinding"));
	cJSON_Delete(o);
	o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Deployment\"}");
	CU_ASSERT_PTR_NULL(kube_kind_of(o));
	cJSON_Delete(o);
	o = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\"}");
	CU_ASSERT_PTR_EQUAL(
	    kube_kind_of(o), kube_kind_lookup("ServiceAccount"));
	cJSON_Delete(o);
}

static void
test_status_decode(void)
{
	struct kube_op create_cm = {
	    "create", kube_kind_lookup("ConfigMap"), "dev", "cfg", "kind-kind"};
	struct kube_op get_deploy = {
	    "get", kube_kind_lookup("Deployment"), "dev", "web", NULL};
	struct kube_op list_cr = {
	    "list", kube_kind_lookup("ClusterRole"), NULL, NULL, NULL};
	struct kube_error e;
	const char *b;

	b = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"configmaps is forbidden: User \\\"jane\\\" cannot create resource \\\"configmaps\\\" in API group \\\"\\\" in the namespace \\\"dev\\\"\",\"reason\":\"Forbidden\",\"details\":{\"kind\":\"configmaps\"},\"code\":403}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(403, b, strlen(b), &create_cm, &e), -EACCES);
	CU_ASSERT_STRING_EQUAL(e.reason, "Forbidden");
	CU_ASSERT_EQUAL(e.http_status, 403);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "forbidden: you cannot create configmaps \"cfg\" in namespace \"dev\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "User \"jane\" cannot create"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "kubectl auth can-i create configmaps -n dev"));

	/* Terse Status (a fake or a webhook): verb and resource still named. */
	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(403, b, strlen(b), &get_deploy, &e), -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "you cannot get deployments.apps \"web\" in namespace \"dev\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    e.message, "kubectl auth can-i get deployments.apps -n dev"));
	CU_ASSERT_EQUAL(
	    kube_status_decode(403, b, strlen(b), &list_cr, &e), -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "cannot list clusterroles.rbac.authorization.k8s.io at the cluster scope"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "ClusterRole granting \"list\""));

	b = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"deployments.apps \\\"web\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"web\",\"group\":\"apps\",\"kind\":\"deployments\"},\"code\":404}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(404, b, strlen(b), &get_deploy, &e), -ENOENT);
	CU_ASSERT_STRING_EQUAL(e.message,
	    "deployments.apps \"web\" not found (namespace \"dev\")");
	b = "404 page not found\n";
	CU_ASSERT_EQUAL(
	    kube_status_decode(404, b, strlen(b), &get_deploy, &e), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "the API server does not serve deployments.apps (404: 404 page not found"));

	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"configmaps \\\"cfg\\\" already exists\",\"reason\":\"AlreadyExists\",\"code\":409}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(409, b, strlen(b), &create_cm, &e), -EEXIST);
	CU_ASSERT_STRING_EQUAL(e.message, "configmaps \"cfg\" already exists");
	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Operation cannot be fulfilled on configmaps \\\"cfg\\\": the object has been modified; please apply your changes to the latest version and try again\",\"reason\":\"Conflict\",\"code\":409}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(409, b, strlen(b), &create_cm, &e), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "read it again and retry"));
	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Apply failed with 1 conflict: conflict with \\\"mgr\\\" using v1: .data.k\",\"reason\":\"Conflict\",\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"mgr\\\" using v1\",\"field\":\".data.k\"}]},\"code\":409}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(409, b, strlen(b), &create_cm, &e), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "(.data.k: conflict with \"mgr\" using v1); another field manager owns these fields"));

	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"too old resource version: 100 (200)\",\"reason\":\"Expired\",\"code\":410}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(0, b, strlen(b), &list_cr, &e), -ESTALE);
	CU_ASSERT_EQUAL(e.http_status, 410);
	CU_ASSERT_STRING_EQUAL(e.reason, "Expired");

	b = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"ConfigMap \\\"cfg\\\" is invalid: metadata.name: Invalid value\",\"reason\":\"Invalid\",\"details\":{\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: \\\"A\\\"\",\"field\":\"metadata.name\"}]},\"code\":422}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(422, b, strlen(b), &create_cm, &e), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "refused to create configmaps \"cfg\": ConfigMap \"cfg\" is invalid"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "(metadata.name: Invalid value"));

	b = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":7},\"code\":429}";
	CU_ASSERT_EQUAL(
	    kube_status_decode(429, b, strlen(b), &create_cm, &e), -EAGAIN);
	CU_ASSERT_EQUAL(e.retry_after, 7);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "retry in 7 s"));

	b = "<html>\x1b[31mBad Gateway</html>";
	CU_ASSERT_EQUAL(
	    kube_status_decode(502, b, strlen(b), &get_deploy, &e), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "HTTP 502"));
	CU_ASSERT_PTR_NULL(strchr(e.message, '\x1b'));
	CU_ASSERT_EQUAL(
	    kube_status_decode(401, "", 0, &create_cm, &e), -EKEYREJECTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "for context \"kind-kind\""));
	CU_ASSERT_EQUAL(kube_status_decode(503, NULL, 0, NULL, NULL), -EAGAIN);
}

/* The basic handler: answers by method and path. */
static int
h_basic(struct srv *s, struct conn *cn, const struct req *rq)
{
	if (strcmp(rq->method, "GET") == 0 &&
	    strcmp(rq->target, "/api/v1/namespaces/dev/configmaps/cfg") == 0)
		send_json(cn, 200,
		    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\",\"resourceVersion\":\"7\"},\"data\":{\"k\":\"v\"}}");
	else if (strcmp(rq->method, "POST") == 0)
		send_json(cn, 201, rq->body);
	else if (strcmp(rq->method, "PUT") == 0)
		send_json(cn, 200, rq->body);
	else if (strcmp(rq->method, "PATCH") == 0)
		send_json(cn, 201, rq->body);
	else if (strcmp(rq->method, "DELETE") == 0)
		send_json(
		    cn, 202, "{\"kind\":\"Status\",\"status\":\"Success\"}");
	else if (strcmp(rq->target, "/version") == 0)
		send_json(cn, 200, "{\"major\":\"1\",\"minor\":\"31\"}");
	else
		send_json(cn, 404,
		    "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"nope\",\"details\":{\"name\":\"x\"},\"code\":404}");
	return 0;
}

static void
test_rest_basic(void)
{
	struct srv *s = srv_start(h_basic, NULL);
	struct kube_client *c;
	struct kube_error e;
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	cJSON *obj = NULL, *in;
	struct req *rq;
	char v[256];

	tmp_setup();
	c = plain_client(s,
	    "    token: tok-abc\n    as: admin\n    as-groups: [g1, g2]\n",
	    NULL);
	CU_ASSERT_STRING_EQUAL(kube_client_namespace(c), "dev");

	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "cfg", &obj, &e), 0);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "data"), "k")
	        ->valuestring,
	    "v");
	cJSON_Delete(obj);
	rq = srv_req(s, 0);
	CU_ASSERT_STRING_EQUAL(rq->method, "GET");
	CU_ASSERT_STRING_EQUAL(
	    header(rq, "Authorization", v, sizeof(v)), "Bearer tok-abc");
	CU_ASSERT_STRING_EQUAL(
	    header(rq, "Impersonate-User", v, sizeof(v)), "admin");
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    rq->headers, "Impersonate-Group: g1\r\nImpersonate-Group: g2\r\n"));
	CU_ASSERT_STRING_EQUAL(
	    header(rq, "Accept", v, sizeof(v)), "application/json");
	CU_ASSERT_EQUAL(
	    strncmp(header(rq, "User-Agent", v, sizeof(v)), "telepod", 7), 0);

	/* create: apiVersion and kind filled in, the object's namespace. */
	in = cJSON_Parse(
	    "{\"metadata\":{\"name\":\"n1\",\"namespace\":\"other\"},\"data\":{\"a\":\"b\"}}");
	CU_ASSERT_EQUAL(kube_create(c, cm, NULL, in, &obj, &e), 0);
	cJSON_Delete(obj);
	rq = srv_req(s, 1);
	CU_ASSERT_STRING_EQUAL(rq->method, "POST");
	CU_ASSERT_STRING_EQUAL(
	    rq->target, "/api/v1/namespaces/other/configmaps");
	CU_ASSERT_STRING_EQUAL(
	    header(rq, "Content-Type", v, sizeof(v)), "application/json");
	obj = cJSON_Parse(rq->body);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(obj, "apiVersion")->valuestring, "v1");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(obj, "kind")->valuestring, "ConfigMap");
	cJSON_Delete(obj);
	cJSON_Delete(in);

	/* update: PUT to the item, resourceVersion carried. */
	in = cJSON_Parse(
	    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\",\"resourceVersion\":\"7\"}}");
	CU_ASSERT_EQUAL(kube_update(c, NULL, NULL, in, NULL, &e), 0);
	rq = srv_req(s, 2);
	CU_ASSERT_STRING_EQUAL(rq->method, "PUT");
	CU_ASSERT_STRING_EQUAL(
	    rq->target, "/api/v1/namespaces/dev/configmaps/cfg");
	CU_ASSERT_PTR_NOT_NULL(strstr(rq->body, "\"resourceVersion\":\"7\""));

	/* server-side apply */
	CU_ASSERT_EQUAL(kube_apply(c, cm, "dev", in, true, NULL, &e), 0);
	rq = srv_req(s, 3);
	CU_ASSERT_STRING_EQUAL(rq->method, "PATCH");
	CU_ASSERT_STRING_EQUAL(rq->target,
	    "/api/v1/namespaces/dev/configmaps/cfg?fieldManager=telepod&force=true");
	CU_ASSERT_STRING_EQUAL(header(rq, "Content-Type", v, sizeof(v)),
	    "application/apply-patch+yaml");
	CU_ASSERT_EQUAL(kube_apply(c, cm, "dev", in, false, NULL, &e), 0);
	CU_ASSERT_STRING_EQUAL(srv_req(s, 4)->target,
	    "/api/v1/namespaces/dev/configmaps/cfg?fieldManager=telepod");
	/* A Deployment is not a ConfigMap. */
	CU_ASSERT_EQUAL(kube_apply(c, kube_kind_lookup("Deployment"), "dev", in,
	                    false, NULL, &e),
	    -EINVAL);
	CU_ASSERT_STRING_EQUAL(
	    e.message, "the object is a ConfigMap, not a Deployment");
	cJSON_Delete(in);

	/* delete with a propagation policy; a cluster-scoped kind. */
	CU_ASSERT_EQUAL(kube_delete(c, kube_kind_lookup("Namespace"), NULL,
	                    "dev", KUBE_PROPAGATION_FOREGROUND, &obj, &e),
	    0);
	cJSON_Delete(obj);
	rq = srv_req(s, 5);
	CU_ASSERT_STRING_EQUAL(rq->method, "DELETE");
	CU_ASSERT_STRING_EQUAL(
	    rq->target, "/api/v1/namespaces/dev?propagationPolicy=Foreground");

	CU_ASSERT_EQUAL(
	    kube_request(c, "GET", "/version", NULL, NULL, &obj, &e), 200);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(obj, "minor")->valuestring, "31");
	cJSON_Delete(obj);

	/* Every request went over one connection. */
	CU_ASSERT_EQUAL(s->n_reqs, 7);
	CU_ASSERT_EQUAL(s->n_conns, 1);
	kube_client_free(c);
	srv_stop(s);
	tmp_cleanup();
}

static int
h_errors(struct srv *s, struct conn *cn, const struct req *rq)
{
	if (strstr(rq->target, "/slow")) {
		usleep(1500 * 1000);
		send_json(cn, 200, "{}");
	} else if (strcmp(rq->method, "POST") == 0 &&
	           strstr(rq->target, "/configmaps")) {
		send_json(cn, 403,
		    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"configmaps is forbidden: User \\\"system:serviceaccount:dev:x\\\" cannot create resource \\\"configmaps\\\" in API group \\\"\\\" in the namespace \\\"dev\\\"\",\"reason\":\"Forbidden\",\"details\":{\"kind\":\"configmaps\"},\"code\":403}");
	} else if (strcmp(rq->method, "POST") == 0) {
		send_json(cn, 409,
		    "{\"kind\":\"Status\",\"message\":\"secrets \\\"s\\\" already exists\",\"reason\":\"AlreadyExists\",\"code\":409}");
	} else if (strcmp(rq->method, "PUT") == 0) {
		send_json(cn, 409,
		    "{\"kind\":\"Status\",\"message\":\"Operation cannot be fulfilled on configmaps \\\"cfg\\\": the object has been modified; please apply your changes to the latest version and try again\",\"reason\":\"Conflict\",\"details\":{\"name\":\"cfg\",\"kind\":\"configmaps\"},\"code\":409}");
	} else if (strstr(rq->target, "/secrets/notjson")) {
		cn_printf(
		    cn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	} else if (strstr(rq->target, "/secrets/big")) {
		char *b = malloc(5000);

		memset(b, 'x', 4999);
		b[4999] = '\0';
		send_json(cn, 200, b);
		free(b);
	} else if (strstr(rq->target, "/pods/gone")) {
		return 1; /* close without an answer */
	} else {
		send_json(cn, 404,
		    "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"configmaps \\\"missing\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"missing\",\"kind\":\"configmaps\"},\"code\":404}");
	}
	return 0;
}

static void
test_rest_errors(void)
{
	struct kube_client_opts o = {.timeout_ms = 400, .max_body = 1024};
	struct srv *s = srv_start(h_errors, NULL);
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	const struct kube_kind *sec = kube_kind_lookup("Secret");
	struct kube_client *c;
	struct kube_error e;
	cJSON *obj = NULL, *in;
	char yaml[512];
	int r;

	tmp_setup();
	c = plain_client(s, "    token: t\n", &o);
	in = cJSON_Parse(
	    "{\"metadata\":{\"name\":\"cfg\",\"resourceVersion\":\"3\"}}");

	CU_ASSERT_EQUAL(kube_create(c, cm, NULL, in, &obj, &e), -EACCES);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "forbidden: you cannot create configmaps \"cfg\" in namespace \"dev\""));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "kubectl auth can-i create configmaps -n dev"));
	CU_ASSERT_EQUAL(e.http_status, 403);

	CU_ASSERT_EQUAL(kube_update(c, cm, NULL, in, NULL, &e), -EBUSY);
	CU_ASSERT_STRING_EQUAL(e.reason, "Conflict");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "the object has been modified"));
	CU_ASSERT_EQUAL(kube_create(c, sec, NULL, in, NULL, &e), -EEXIST);

	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "missing", &obj, &e), -ENOENT);
	CU_ASSERT_STRING_EQUAL(
	    e.message, "configmaps \"missing\" not found (namespace \"dev\")");
	CU_ASSERT_EQUAL(kube_get(c, sec, NULL, "notjson", &obj, &e), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "not JSON: \"hello\""));
	CU_ASSERT_EQUAL(kube_get(c, sec, NULL, "big", &obj, &e), -EMSGSIZE);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "larger than 1024 bytes"));
	CU_ASSERT_EQUAL(
	    kube_get(c, kube_kind_lookup("Pod"), NULL, "gone", &obj, &e),
	    -ECONNRESET);
	r = kube_get(c, cm, NULL, "slow", &obj, &e);
	CU_ASSERT_EQUAL(r, -ETIMEDOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "did not answer in time"));
	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "a/b", &obj, &e), -EINVAL);
	CU_ASSERT_EQUAL(kube_update(c, cm, NULL,
	                    cJSON_GetObjectItem(in, "metadata"), NULL, &e),
	    -EINVAL);
	cJSON_Delete(in);
	kube_client_free(c);
	srv_stop(s);

	/* Nothing listening. */
	snprintf(yaml, sizeof(yaml),
	    "current-context: t\ncontexts: [{name: t, context: {cluster: k}}]\n"
	    "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n");
	c = client_from(yaml, NULL);
	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "x", &obj, &e), -ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "cannot connect to the API server http://127.0.0.1:1 of context \"t\""));
	kube_client_free(c);
	tmp_cleanup();
}

/* Pages: limit=2, continue tokens p2 and p3; "expire" makes p2 a 410. */
static int
h_pages(struct srv *s, struct conn *cn, const struct req *rq)
{
	const char *t = rq->target;

	if (strstr(t, "continue=p2") && s->step == 1) {
		send_json(cn, 410,
		    "{\"kind\":\"Status\",\"message\":\"The provided continue parameter is too old\",\"reason\":\"Expired\",\"code\":410}");
	} else if (strstr(t, "continue=p2")) {
		send_json(cn, 200,
		    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"50\",\"continue\":\"p3\"},\"items\":[{\"metadata\":{\"name\":\"c\"}},{\"metadata\":{\"name\":\"d\"}}]}");
	} else if (strstr(t, "continue=p3")) {
		send_json(cn, 200,
		    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"50\"},\"items\":[{\"metadata\":{\"name\":\"e\"}}]}");
	} else if (!strstr(t, "limit=")) {
		send_json(cn, 200,
		    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"60\"},\"items\":[{\"metadata\":{\"name\":\"all\"}}]}");
	} else {
		send_json(cn, 200,
		    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"50\",\"continue\":\"p2\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}");
	}
	return 0;
}

static void
test_list_pages(void)
{
	struct srv *s = srv_start(h_pages, NULL);
	struct kube_list_opts lo = {
	    .label_selector = "app=web,tier in (a,b)", .limit = 2};
	struct kube_client *c;
	struct kube_error e;
	cJSON *list = NULL, *items;

	tmp_setup();
	c = plain_client(s, "    token: t\n", NULL);
	CU_ASSERT_EQUAL_FATAL(
	    kube_list(c, kube_kind_lookup("Pod"), NULL, &lo, &list, &e), 0);
	items = cJSON_GetObjectItem(list, "items");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(items), 5);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(
	        cJSON_GetObjectItem(cJSON_GetArrayItem(items, 4), "metadata"),
	        "name")
	        ->valuestring,
	    "e");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(
	        cJSON_GetObjectItem(list, "metadata"), "resourceVersion")
	        ->valuestring,
	    "50");
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(list, "metadata"), "continue"));
	cJSON_Delete(list);
	CU_ASSERT_EQUAL(s->n_reqs, 3);
	CU_ASSERT_STRING_EQUAL(srv_req(s, 0)->target,
	    "/api/v1/namespaces/dev/pods?limit=2&labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
	CU_ASSERT_STRING_EQUAL(srv_req(s, 1)->target,
	    "/api/v1/namespaces/dev/pods?limit=2&continue=p2&labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29");

	/* An expired continue token: list again, whole. */
	s->step = 1;
	CU_ASSERT_EQUAL_FATAL(
	    kube_list(c, kube_kind_lookup("Pod"), "x", &lo, &list, &e), 0);
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 1);
	CU_ASSERT_STRING_EQUAL(srv_req(s, 5)->target,
	    "/api/v1/namespaces/x/pods?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
	cJSON_Delete(list);
	kube_client_free(c);
	srv_stop(s);
	tmp_cleanup();
}

/* ---------------------------------------------------------------------- */
/* watch */

#define EV(type, name, rv)                                                                           \
	"{\"type\":\"" type                                                                          \
	"\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name \
	"\",\"namespace\":\"dev\",\"resourceVersion\":\"" rv "\"}}}\n"
#define BOOKMARK(rv)                                                                                                              \
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" rv \
	"\",\"creationTimestamp\":null}}}\n"
#define GONE                                                                   \
	"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 100 (150)\",\"reason\":\"Expired\",\"code\":410}}\n"

static void
send_split(struct conn *cn, const char *text, size_t piece)
{
	char buf[64];
	size_t len = strlen(text);

	for (size_t o = 0; o < len; o += piece) {
		size_t n = len - o < piece ? len - o : piece;

		snprintf(buf, sizeof(buf), "%.*s", (int)n, text + o);
		send_chunk(cn, buf);
	}
}

/* The value of a query parameter of rq's target, or "". */
static const char *
qparam(const struct req *rq, const char *name, char *buf, size_t len)
{
	const char *q = strchr(rq->target, '?');
	size_t nl = strlen(name);

	buf[0] = '\0';
	while (q != NULL) {
		q++;
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			snprintf(buf, len, "%.*s",
			    (int)strcspn(q + nl + 1, "&"), q + nl + 1);
			break;
		}
		q = strchr(q, '&');
	}
	return buf;
}

/* The list/watch script of test_list_watch. */
static int
h_watch(struct srv *s, struct conn *cn, const struct req *rq)
{
	const char *t = rq->target;
	char rv[64];

	if (!strstr(t, "watch=1")) {
		pthread_mutex_lock(&s->mu);
		s->step++;
		pthread_mutex_unlock(&s->mu);
		if (s->step == 1)
			send_json(cn, 200,
			    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\"},\"items\":[{\"metadata\":{\"name\":\"a\"}}]}");
		else
			send_json(cn, 200,
			    "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"200\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}");
		return 0;
	}
	qparam(rq, "resourceVersion", rv, sizeof(rv));
	if (strcmp(rv, "100") == 0) {
		send_chunked_head(cn);
		/* An event split across chunks at odd places, two events in
		 * one chunk, an empty line, then a bookmark and the 410. */
		send_split(cn, EV("ADDED", "b", "101"), 7);
		send_chunk(cn, EV("MODIFIED", "b", "102") "\n" BOOKMARK("105"));
		send_split(cn, GONE, 50);
		send_chunk_end(cn);
	} else if (strcmp(rv, "200") == 0) {
		send_chunked_head(cn);
		send_chunk(cn, EV("ADDED", "c", "201"));
		send_chunk_end(cn); /* the server's timeout: resume */
	} else if (strcmp(rv, "201") == 0) {
		send_chunked_head(cn);
		send_chunk(cn, EV("DELETED", "c", "202"));
		/* The client stops here; keep the stream open a little. */
		usleep(200 * 1000);
		send_chunk_end(cn);
	} else if (strcmp(rv, "gone") == 0) {
		send_json(cn, 410,
		    "{\"kind\":\"Status\",\"message\":\"too old\",\"reason\":\"Gone\",\"code\":410}");
	} else if (strcmp(rv, "long") == 0) {
		send_chunked_head(cn);
		send_chunk(cn,
		    EV("ADDED", "a-name-long-enough-to-pass-the-limit", "1"));
		send_chunk_end(cn);
	} else if (strcmp(rv, "junk") == 0) {
		send_chunked_head(cn);
		send_chunk(cn, EV("ADDED", "ok",
		                   "1") "{\"type\":\"ADDED\",\"object\":[]}\n");
		send_chunk_end(cn);
	} else if (strcmp(rv, "cut") == 0) {
		send_chunked_head(cn);
		send_chunk(cn, "{\"type\":\"ADDED\",\"obj");
		send_chunk_end(cn);
	} else {
		send_json(cn, 500, "{}");
	}
	return 0;
}

struct seen {
	char log[2048];
	int stop_at; /* stop (return 7) at this event number, 0: never */
	int n;
};

static int
record_event(const struct kube_event *ev, void *arg)
{
	static const char *const names[] = {
	    "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "SYNC"};
	struct seen *sn = arg;
	const cJSON *md = cJSON_GetObjectItem(ev->object, "metadata");
	const cJSON *nm = cJSON_GetObjectItem(md, "name");
	size_t l = strlen(sn->log);

	if (ev->type == KUBE_EVENT_SYNC)
		snprintf(sn->log + l, sizeof(sn->log) - l, "SYNC(%d)@%s ",
		    cJSON_GetArraySize(
		        cJSON_GetObjectItem(ev->object, "items")),
		    ev->resource_version);
	else
		snprintf(sn->log + l, sizeof(sn->log) - l, "%s %s@%s ",
		    names[ev->type], cJSON_IsString(nm) ? nm->valuestring : "-",
		    ev->resource_version);
	return ++sn->n == sn->stop_at ? 7 : 0;
}

static void
test_watch_stream(void)
{
	struct srv *s = srv_start(h_watch, NULL);
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	struct kube_watch_opts wo = {
	    .resource_version = "100", .timeout_seconds = 30};
	struct seen sn;
	struct kube_client *c;
	struct kube_error e;
	char *rv = NULL;
	int r;

	memset(&sn, 0, sizeof(sn));
	tmp_setup();
	c = plain_client(s, "    token: t\n", NULL);
	/* ADDED, MODIFIED, BOOKMARK, then the ERROR event: -ESTALE, and the
	 * last resourceVersion (the bookmark's) is kept. */
	r = kube_watch(c, cm, NULL, &wo, record_event, &sn, &rv, &e);
	if (r != -ESTALE)
		fprintf(stderr, "watch: %d %s [%s]\n", r, e.message, sn.log);
	CU_ASSERT_EQUAL(r, -ESTALE);
	CU_ASSERT_STRING_EQUAL(
	    sn.log, "ADDED b@101 MODIFIED b@102 BOOKMARK -@105 ");
	CU_ASSERT_STRING_EQUAL(rv, "105");
	CU_ASSERT_EQUAL(e.http_status, 410);
	CU_ASSERT_STRING_EQUAL(e.reason, "Expired");
	free(rv);
	CU_ASSERT_STRING_EQUAL(srv_req(s, 0)->target,
	    "/api/v1/namespaces/dev/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=30&resourceVersion=100");

	/* A clean end returns 0 with the last resourceVersion. */
	wo.resource_version = "200";
	wo.no_bookmarks = true;
	wo.label_selector = "a=b";
	memset(&sn, 0, sizeof(sn));
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, "dev", &wo, record_event, &sn, &rv, &e), 0);
	CU_ASSERT_STRING_EQUAL(rv, "201");
	free(rv);
	CU_ASSERT_STRING_EQUAL(srv_req(s, 1)->target,
	    "/api/v1/namespaces/dev/configmaps?watch=1&timeoutSeconds=30&resourceVersion=200&labelSelector=a%3Db");
	wo.label_selector = NULL;

	/* The callback stops the stream. */
	wo.resource_version = "201";
	memset(&sn, 0, sizeof(sn));
	sn.stop_at = 1;
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, NULL, &e), 7);

	wo.resource_version = "gone";
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, NULL, &e), -ESTALE);
	CU_ASSERT_STRING_EQUAL(e.reason, "Gone");

	wo.resource_version = "long";
	wo.max_line = 100;
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, NULL, &e),
	    -EMSGSIZE);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "longer than 100 bytes"));
	wo.max_line = 0;

	wo.resource_version = "junk";
	memset(&sn, 0, sizeof(sn));
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, &rv, &e), -EPROTO);
	CU_ASSERT_STRING_EQUAL(sn.log, "ADDED ok@1 ");
	CU_ASSERT_STRING_EQUAL(rv, "1");
	free(rv);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "malformed watch event"));

	wo.resource_version = "cut";
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, NULL, &e), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "in the middle of an event"));

	wo.resource_version = "other";
	CU_ASSERT_EQUAL(
	    kube_watch(c, cm, NULL, &wo, record_event, &sn, NULL, &e), -EIO);
	kube_client_free(c);
	srv_stop(s);
	tmp_cleanup();
}

static void
test_list_watch(void)
{
	struct srv *s = srv_start(h_watch, NULL);
	struct kube_watch_opts wo = {.timeout_seconds = 30};
	struct seen sn = {.stop_at = 7};
	struct kube_client *c;
	struct kube_error e;

	tmp_setup();
	c = plain_client(s, "    token: t\n", NULL);
	/* list -> SYNC@100; watch 100: ADDED, MODIFIED, BOOKMARK, 410;
	 * relist -> SYNC@200; watch 200: ADDED c, clean end; resume from
	 * 201: DELETED c, where the callback stops. */
	CU_ASSERT_EQUAL(kube_list_watch(c, kube_kind_lookup("ConfigMap"), NULL,
	                    &wo, record_event, &sn, &e),
	    7);
	CU_ASSERT_STRING_EQUAL(sn.log,
	    "SYNC(1)@100 ADDED b@101 MODIFIED b@102 BOOKMARK -@105 SYNC(2)@200 ADDED c@201 DELETED c@202 ");
	CU_ASSERT_EQUAL(s->n_reqs, 5);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(srv_req(s, 0)->target, "/configmaps?limit=500"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(srv_req(s, 1)->target, "resourceVersion=100"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(srv_req(s, 2)->target, "/configmaps?limit=500"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(srv_req(s, 3)->target, "resourceVersion=200"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(srv_req(s, 4)->target, "resourceVersion=201"));
	/* Lists and watches each kept their connection. */
	CU_ASSERT_TRUE(s->n_conns <= 3);
	kube_client_free(c);
	srv_stop(s);
	tmp_cleanup();
}

/* ---------------------------------------------------------------------- */
/* credentials */

static size_t
collect_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	char *buf = ud;
	size_t l = strlen(buf), n = size * nmemb;

	if (l + n >= 4096)
		return 0;
	memcpy(buf + l, ptr, n);
	buf[l + n] = '\0';
	return n;
}

static char want_auth[256];

/* 401 unless Authorization is want_auth. */
static int
h_auth(struct srv *s, struct conn *cn, const struct req *rq)
{
	char v[256];

	if (header(rq, "Authorization", v, sizeof(v)) &&
	    strcmp(v, want_auth) == 0)
		send_json(cn, 200, "{\"kind\":\"Namespace\"}");
	else
		send_json(cn, 401,
		    "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
	return 0;
}

static void
test_auth_refresh(void)
{
	struct kube_client_opts o = {
	    .exec_set = true, .exec = {.stdin_tty = 0, .clock = fake_clock}};
	const struct kube_kind *ns = kube_kind_lookup("Namespace");
	struct srv *s = srv_start(h_auth, NULL);
	char path[PATH_MAX + 16], plugin[PATH_MAX + 64], user[2 * PATH_MAX];
	const char *top = getenv("top_srcdir");
	struct kube_client *c;
	struct kube_error e;
	char cwd[PATH_MAX];

	tmp_setup();
	/* A token file that rotates: re-read after a minute, or at once
	 * after a 401. */
	snprintf(path, sizeof(path), "%s/token", tmpdir);
	write_file(path, "one\n");
	snprintf(user, sizeof(user), "    tokenFile: %s\n", path);
	c = plain_client(s, user, &o);
	snprintf(want_auth, sizeof(want_auth), "Bearer one");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	write_file(path, "two\n");
	snprintf(want_auth, sizeof(want_auth), "Bearer two");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	CU_ASSERT_EQUAL(s->n_reqs, 3); /* one 401, then the retry */
	write_file(path, "three\n");
	fake_now += KUBE_TOKEN_FILE_SECS;
	snprintf(want_auth, sizeof(want_auth), "Bearer three");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	CU_ASSERT_EQUAL(s->n_reqs, 4); /* re-read on schedule, no 401 */
	/* A caller's own transfer got a 401: refresh, retry if changed. */
	CU_ASSERT_FALSE(kube_client_auth_failed(c));
	write_file(path, "four\n");
	CU_ASSERT_TRUE(kube_client_auth_failed(c));
	/* A token the server keeps refusing: one retry, then the error. */
	snprintf(want_auth, sizeof(want_auth), "Bearer never");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), -EKEYREJECTED);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "401 Unauthorized) for context \"t\""));
	kube_client_free(c);

	/* Basic auth. */
	c = plain_client(s, "    username: jane\n    password: 'p:w'\n", NULL);
	snprintf(want_auth, sizeof(want_auth), "Basic amFuZTpwOnc=");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	{
		/* The same credentials on a handle of the caller's. */
		struct kube_handle_lists l;
		char body[4096] = "";
		CURL *h = curl_easy_init();

		CU_ASSERT_EQUAL(
		    kube_setup_handle(c, h, "/api/v1/namespaces/x", &l, &e), 0);
		CU_ASSERT_PTR_NULL(l.connect_to);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
		CU_ASSERT_EQUAL(curl_easy_perform(h), CURLE_OK);
		CU_ASSERT_STRING_EQUAL(body, "{\"kind\":\"Namespace\"}");
		kube_handle_lists_free(&l);
		CU_ASSERT_EQUAL(
		    kube_setup_handle(c, h, "no-slash", &l, &e), -EINVAL);
		curl_easy_cleanup(h);
	}
	kube_client_free(c);

	/* An exec plugin: the credential is cached, a 401 runs it again. */
	if (top == NULL || *top == '\0')
		top = "..";
	if (top[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		snprintf(plugin, sizeof(plugin),
		    "%s/%s/tests/fixtures/kube/exec-plugin.sh", cwd, top);
	else
		snprintf(plugin, sizeof(plugin),
		    "%s/tests/fixtures/kube/exec-plugin.sh", top);
	setenv("TP_EXEC_OUT", tmpdir, 1);
	snprintf(user, sizeof(user),
	    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
	    "      command: %s\n      interactiveMode: Never\n",
	    plugin);
	c = plain_client(s, user, &o);
	snprintf(want_auth, sizeof(want_auth), "Bearer tok-1");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	snprintf(want_auth, sizeof(want_auth), "Bearer tok-2");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), 0);
	kube_client_free(c);
	/* A failing plugin: its message, no request sent. */
	setenv("TP_EXEC_MODE", "fail", 1);
	c = plain_client(s, user, &o);
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", NULL, &e), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "cannot get credentials for context \"t\": exec plugin"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "AccessDenied"));
	kube_client_free(c);
	unsetenv("TP_EXEC_MODE");
	unsetenv("TP_EXEC_OUT");
	srv_stop(s);
	tmp_cleanup();
}

/* ---------------------------------------------------------------------- */
/* TLS */

static int
h_tls(struct srv *s, struct conn *cn, const struct req *rq)
{
	char host[128], body[256];

	header(rq, "Host", host, sizeof(host));
	snprintf(body, sizeof(body), "{\"kind\":\"Namespace\",\"host\":\"%s\"}",
	    host);
	send_json(cn, 200, body);
	return 0;
}

static struct kube_client *
tls_client(unsigned short port, const char *cadir, const char *certdir,
    const char *tls_name)
{
	char y[4 * PATH_MAX + 1024];

	snprintf(y, sizeof(y),
	    "current-context: t\n"
	    "contexts: [{name: t, context: {cluster: k, user: u}}]\n"
	    "clusters:\n- name: k\n  cluster:\n"
	    "    server: https://127.0.0.1:%u\n"
	    "    certificate-authority: %s/ca.crt\n%s%s%s"
	    "users:\n- name: u\n  user:\n"
	    "    client-certificate: %s/client.crt\n"
	    "    client-key: %s/client.key\n",
	    port, cadir, tls_name ? "    tls-server-name: " : "",
	    tls_name ? tls_name : "", tls_name ? "\n" : "", certdir, certdir);
	return client_from(y, NULL);
}

/* kube_setup_handle() with CONNECT_ONLY: TLS by curl, then our own request
 * carrying the headers it gave (the port-forward upgrade's shape). */
static void
raw_request_over_handle(struct kube_client *c, unsigned short port)
{
	struct kube_handle_lists l;
	struct kube_error e;
	char req[2048], resp[4096] = "", host[64];
	size_t o, sent = 0, got = 0;
	CURL *h = curl_easy_init();
	CURLcode cc;

	CU_ASSERT_EQUAL_FATAL(
	    kube_setup_handle(c, h, "/api/v1/namespaces", &l, &e), 0);
	CU_ASSERT_PTR_NOT_NULL(l.connect_to);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	CU_ASSERT_EQUAL_FATAL(curl_easy_perform(h), CURLE_OK);
	o = (size_t)snprintf(
	    req, sizeof(req), "GET /api/v1/namespaces HTTP/1.1\r\n");
	for (struct curl_slist *i = l.headers; i != NULL; i = i->next)
		o += (size_t)snprintf(
		    req + o, sizeof(req) - o, "%s\r\n", i->data);
	o += (size_t)snprintf(
	    req + o, sizeof(req) - o, "Connection: close\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(req, "\r\nHost: 127.0.0.1:"));
	while (sent < o) {
		size_t n = 0;

		cc = curl_easy_send(h, req + sent, o - sent, &n);
		if (cc == CURLE_AGAIN) {
			usleep(1000);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(cc, CURLE_OK);
		sent += n;
	}
	for (int tries = 0; tries < 2000 && !strstr(resp, "}"); tries++) {
		size_t n = 0;

		cc = curl_easy_recv(h, resp + got, sizeof(resp) - 1 - got, &n);
		if (cc == CURLE_AGAIN) {
			usleep(1000);
			continue;
		}
		if (cc != CURLE_OK || n == 0)
			break;
		got += n;
		resp[got] = '\0';
	}
	CU_ASSERT_EQUAL(strncmp(resp, "HTTP/1.1 200", 12), 0);
	snprintf(host, sizeof(host), "\"host\":\"127.0.0.1:%u\"", port);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp, host));
	curl_easy_cleanup(h);
	kube_handle_lists_free(&l);
}

static void
test_tlsconf(void)
{
	char good[PATH_MAX + 8], other[PATH_MAX + 8], err[512], host[64];
	const char *const names[] = {"api.example"};
	const struct kube_kind *ns = kube_kind_lookup("Namespace");
	SSL_CTX *ctx = NULL;
	struct kube_client *c;
	struct kube_error e;
	struct srv *s;
	cJSON *obj = NULL;

	tmp_setup();
	snprintf(good, sizeof(good), "%s/good", tmpdir);
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(good, names, 1, 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(other, NULL, 0, 2, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    tlsconf_server_ctx_new(good, &ctx, err, sizeof(err)), 0);
	s = srv_start(h_tls, ctx);

	/* The kubeconfig's CA and client certificate. */
	c = tls_client(s->port, good, good, NULL);
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", &obj, &e), 0);
	if (e.message[0])
		fprintf(stderr, "tls: %s\n", e.message);
	cJSON_Delete(obj);
	obj = NULL;
	kube_client_free(c);

	/* tls-server-name: checked instead of the address; Host stays. */
	c = tls_client(s->port, good, good, "api.example");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", &obj, &e), 0);
	snprintf(host, sizeof(host), "127.0.0.1:%u", s->port);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(obj, "host")->valuestring, host);
	cJSON_Delete(obj);
	obj = NULL;
	raw_request_over_handle(c, s->port);
	kube_client_free(c);
	c = tls_client(s->port, good, good, "wrong.example");
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", &obj, &e), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(e.message, "presented a certificate we do not trust"));
	kube_client_free(c);

	/* Another CA is not trusted (nor the system store). */
	c = tls_client(s->port, other, good, NULL);
	CU_ASSERT_EQUAL(kube_get(c, ns, NULL, "x", &obj, &e), -EPROTO);
	kube_client_free(c);

	/* A client certificate from another CA is refused by the server. */
	c = tls_client(s->port, good, other, NULL);
	CU_ASSERT_TRUE(kube_get(c, ns, NULL, "x", &obj, &e) < 0);
	CU_ASSERT_PTR_NULL(obj);
	kube_client_free(c);

	srv_stop(s);
	SSL_CTX_free(ctx);
	tmp_cleanup();
}

/* ---------------------------------------------------------------------- */
/* against tests/fakeapi/fake-apiserver */

struct fake {
	pid_t pid;
	char url[256];
	char state[PATH_MAX + 16];
	char kc[PATH_MAX + 16];
};

/* Starts the fake API server with extra flags; false (and a note) when it
 * cannot run here. */
static bool
fake_start(struct fake *f, const char *const *extra, size_t n_extra)
{
	const char *bld = getenv("top_builddir"), *src = getenv("top_srcdir");
	const char *k8s = getenv("FAKEAPI_K8S_DIR");
	char bin[PATH_MAX + 64], k8sbuf[PATH_MAX + 64], probe[PATH_MAX + 80];
	char log[PATH_MAX + 16];
	const char *argv[40];
	size_t n = 0, got = 0;
	int out[2];

	memset(f, 0, sizeof(*f));
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
		return false;
	}
	snprintf(f->state, sizeof(f->state), "%s/state", tmpdir);
	snprintf(f->kc, sizeof(f->kc), "%s/fake.kubeconfig", tmpdir);
	snprintf(log, sizeof(log), "%s/fake.log", tmpdir);
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--kubeconfig-out";
	argv[n++] = f->kc;
	argv[n++] = "--state-dir";
	argv[n++] = f->state;
	argv[n++] = "--k8s-dir";
	argv[n++] = k8s;
	for (size_t i = 0; i < n_extra && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if (pipe(out) != 0)
		return false;
	f->pid = fork();
	if (f->pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(out[1], 1);
		if (lf >= 0)
			dup2(lf, 2);
		close(out[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	/* The first line on stdout is the URL, once it listens. */
	while (got < sizeof(f->url) - 1) {
		struct pollfd p = {out[0], POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, 15000) <= 0)
			break;
		r = read(out[0], f->url + got, 1);
		if (r <= 0 || f->url[got] == '\n')
			break;
		got++;
	}
	f->url[got] = '\0';
	close(out[0]);
	if (strncmp(f->url, "https://127.0.0.1:", 18) != 0) {
		fprintf(stderr, "fake-apiserver did not start (see %s)\n", log);
		CU_FAIL("fake-apiserver start");
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
		return false;
	}
	return true;
}

static void
fake_stop(struct fake *f)
{
	int st;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &st, 0);
	f->pid = 0;
}

/* A client for the fake's own kubeconfig (client certificate). */
static struct kube_client *
fake_client(struct fake *f)
{
	char err[KUBECONFIG_ERR_MAX];
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;
	struct kube_client *c = NULL;

	CU_ASSERT_EQUAL_FATAL(kubeconfig_load(f->kc, &kc, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    kube_client_new(rc, NULL, &c, err, sizeof(err)), 0);
	kubeconfig_resolved_free(rc);
	kubeconfig_free(kc);
	return c;
}

/* A client with a bearer token (user_yaml) trusting the fake's CA. */
static struct kube_client *
fake_token_client(
    struct fake *f, const char *user_yaml, const struct kube_client_opts *o)
{
	char *y;
	struct kube_client *c;

	if (asprintf(&y,
	        "current-context: t\n"
	        "contexts: [{name: t, context: {cluster: k, user: u}}]\n"
	        "clusters: [{name: k, cluster: {server: '%s', certificate-authority: %s/ca.crt}}]\n"
	        "users:\n- name: u\n  user:\n%s",
	        f->url, f->state, user_yaml) < 0)
		abort();
	c = client_from(y, o);
	free(y);
	return c;
}

static const char *
meta(const cJSON *obj, const char *name)
{
	const cJSON *j =
	    cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), name);

	return cJSON_IsString(j) ? j->valuestring : "";
}

static void
test_fakeapi_crud(void)
{
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	const struct kube_kind *dep = kube_kind_lookup("Deployment");
	struct kube_client *c;
	struct kube_list_opts lo = {.label_selector = "app=tp"};
	struct kube_error e;
	struct fake f;
	cJSON *obj = NULL, *in, *list = NULL;
	char rv[64];
	int r;

	tmp_setup();
	if (!fake_start(&f, NULL, 0)) {
		tmp_cleanup();
		return;
	}
	c = fake_client(&f);
	CU_ASSERT_STRING_EQUAL(kube_client_namespace(c), "default");

	in = cJSON_Parse(
	    "{\"metadata\":{\"name\":\"tp-c1\",\"labels\":{\"app\":\"tp\"}},\"data\":{\"k\":\"v\"}}");
	CU_ASSERT_EQUAL_FATAL(kube_create(c, cm, NULL, in, &obj, &e), 0);
	CU_ASSERT_NOT_EQUAL(meta(obj, "uid")[0], '\0');
	snprintf(rv, sizeof(rv), "%s", meta(obj, "resourceVersion"));
	CU_ASSERT_NOT_EQUAL(rv[0], '\0');
	cJSON_Delete(obj);
	obj = NULL;
	CU_ASSERT_EQUAL(kube_create(c, cm, NULL, in, NULL, &e), -EEXIST);
	CU_ASSERT_STRING_EQUAL(
	    e.message, "configmaps \"tp-c1\" already exists");

	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "tp-c1", &obj, &e), 0);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "data"), "k")
	        ->valuestring,
	    "v");
	cJSON_Delete(obj);
	obj = NULL;

	/* Optimistic concurrency: a stale resourceVersion is a conflict. */
	cJSON_AddStringToObject(
	    cJSON_GetObjectItem(in, "metadata"), "resourceVersion", "1");
	cJSON_ReplaceItemInObject(
	    cJSON_GetObjectItem(in, "data"), "k", cJSON_CreateString("v2"));
	CU_ASSERT_EQUAL(kube_update(c, cm, NULL, in, NULL, &e), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "Operation cannot be fulfilled on configmaps \"tp-c1\": the object has been modified"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "read it again and retry"));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(in, "metadata"),
	    "resourceVersion", cJSON_CreateString(rv));
	CU_ASSERT_EQUAL(kube_update(c, cm, NULL, in, &obj, &e), 0);
	CU_ASSERT_STRING_NOT_EQUAL(meta(obj, "resourceVersion"), rv);
	cJSON_Delete(obj);
	obj = NULL;
	cJSON_Delete(in);

	CU_ASSERT_EQUAL_FATAL(kube_list(c, cm, NULL, &lo, &list, &e), 0);
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 1);
	CU_ASSERT_NOT_EQUAL(meta(list, "resourceVersion")[0], '\0');
	cJSON_Delete(list);

	/* Server-side apply: another manager owns data.k; without force a
	 * conflict naming the field, with force ours. */
	in = cJSON_Parse(
	    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"tp-a\"},\"data\":{\"k\":\"theirs\"}}");
	r = kube_request(c, "PATCH",
	    "/api/v1/namespaces/default/configmaps/tp-a?fieldManager=other", in,
	    "application/apply-patch+yaml", NULL, &e);
	CU_ASSERT_EQUAL(r, 201);
	cJSON_ReplaceItemInObject(
	    cJSON_GetObjectItem(in, "data"), "k", cJSON_CreateString("ours"));
	CU_ASSERT_EQUAL(kube_apply(c, cm, NULL, in, false, NULL, &e), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, ".data.k"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "apply with force"));
	CU_ASSERT_EQUAL(kube_apply(c, cm, NULL, in, true, &obj, &e), 0);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "data"), "k")
	        ->valuestring,
	    "ours");
	{
		const cJSON *mf = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(obj, "metadata"), "managedFields");
		const cJSON *m;
		bool ours = false;

		/* Our apply is recorded under fieldManager=telepod. */
		cJSON_ArrayForEach(m, mf)
		{
			const cJSON *mg = cJSON_GetObjectItem(m, "manager");

			ours = ours ||
			       (cJSON_IsString(mg) &&
			           strcmp(mg->valuestring, "telepod") == 0);
		}
		CU_ASSERT_TRUE(ours);
	}
	cJSON_Delete(obj);
	obj = NULL;
	cJSON_Delete(in);

	/* A Deployment (apps group) applied from scratch. */
	in = cJSON_Parse(
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}}}");
	r = kube_apply(c, NULL, NULL, in, true, NULL, &e);
	if (r != 0)
		fprintf(stderr, "apply deployment: %s\n", e.message);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(kube_get(c, dep, NULL, "web", &obj, &e), 0);
	CU_ASSERT_STRING_EQUAL(meta(obj, "name"), "web");
	cJSON_Delete(obj);
	obj = NULL;
	cJSON_Delete(in);

	/* Validation: a 422 with the field named. */
	in = cJSON_Parse("{\"metadata\":{\"name\":\"Bad_Name\"}}");
	CU_ASSERT_EQUAL(kube_create(c, cm, NULL, in, NULL, &e), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "the API server refused to create configmaps \"Bad_Name\""));
	cJSON_Delete(in);

	CU_ASSERT_EQUAL(kube_delete(c, cm, NULL, "tp-c1",
	                    KUBE_PROPAGATION_BACKGROUND, NULL, &e),
	    0);
	CU_ASSERT_EQUAL(kube_get(c, cm, NULL, "tp-c1", &obj, &e), -ENOENT);
	CU_ASSERT_STRING_EQUAL(e.message,
	    "configmaps \"tp-c1\" not found (namespace \"default\")");
	CU_ASSERT_EQUAL(kube_delete(c, cm, NULL, "tp-c1",
	                    KUBE_PROPAGATION_DEFAULT, NULL, &e),
	    -ENOENT);
	CU_ASSERT_EQUAL(
	    kube_get(c, dep, "no-such-ns", "web", &obj, &e), -ENOENT);

	/* Cluster-scoped. */
	in = cJSON_Parse("{\"metadata\":{\"name\":\"tp-ns\"}}");
	CU_ASSERT_EQUAL(
	    kube_create(c, kube_kind_lookup("Namespace"), NULL, in, NULL, &e),
	    0);
	CU_ASSERT_EQUAL(
	    kube_get(c, kube_kind_lookup("Namespace"), NULL, "tp-ns", &obj, &e),
	    0);
	cJSON_Delete(obj);
	cJSON_Delete(in);
	kube_client_free(c);
	fake_stop(&f);
	tmp_cleanup();
}

static void
test_fakeapi_auth(void)
{
	static const char *const extra[] = {"--token", "secret-token=alice",
	    "--forbid", "alice:create:configmaps"};
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	struct kube_client_opts o = {
	    .exec_set = true, .exec = {.stdin_tty = 0, .clock = fake_clock}};
	struct kube_client *c;
	struct kube_error e;
	struct fake f;
	cJSON *in, *list = NULL;
	char path[PATH_MAX + 16], user[PATH_MAX + 64];

	tmp_setup();
	if (!fake_start(&f, extra, 4)) {
		tmp_cleanup();
		return;
	}
	c = fake_token_client(&f, "    token: secret-token\n", NULL);
	CU_ASSERT_EQUAL(kube_list(c, cm, NULL, NULL, &list, &e), 0);
	cJSON_Delete(list);
	in = cJSON_Parse("{\"metadata\":{\"name\":\"x\"}}");
	CU_ASSERT_EQUAL(kube_create(c, cm, NULL, in, NULL, &e), -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "forbidden: you cannot create configmaps \"x\" in namespace \"default\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message,
	    "(the API server said: configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    e.message, "kubectl auth can-i create configmaps -n default"));
	kube_client_free(c);

	c = fake_token_client(&f, "    token: nope\n", NULL);
	CU_ASSERT_EQUAL(kube_list(c, cm, NULL, NULL, &list, &e), -EKEYREJECTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "401 Unauthorized"));
	kube_client_free(c);

	/* A rotated token file is picked up after the 401. */
	snprintf(path, sizeof(path), "%s/tok", tmpdir);
	write_file(path, "stale\n");
	snprintf(user, sizeof(user), "    tokenFile: %s\n", path);
	c = fake_token_client(&f, user, &o);
	CU_ASSERT_EQUAL(kube_list(c, cm, NULL, NULL, &list, &e), -EKEYREJECTED);
	write_file(path, "secret-token\n");
	CU_ASSERT_EQUAL(kube_list(c, cm, NULL, NULL, &list, &e), 0);
	cJSON_Delete(list);
	kube_client_free(c);
	cJSON_Delete(in);
	fake_stop(&f);
	tmp_cleanup();
}

struct fw {
	struct kube_client *writer;
	struct seen sn;
	int syncs;
	bool relist; /* make the list stale at the first SYNC */
	int bookmarks;
};

static void
fw_write(struct kube_client *w, const char *verb, const char *name)
{
	char *j;
	cJSON *o;
	struct kube_error e;
	int r;

	if (asprintf(&j,
	        "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"w\":\"1\"}},\"data\":{\"v\":\"%s\"}}",
	        name, verb) < 0)
		abort();
	o = cJSON_Parse(j);
	free(j);
	if (strcmp(verb, "create") == 0)
		r = kube_create(
		    w, kube_kind_lookup("ConfigMap"), NULL, o, NULL, &e);
	else if (strcmp(verb, "apply") == 0)
		r = kube_apply(
		    w, kube_kind_lookup("ConfigMap"), NULL, o, true, NULL, &e);
	else
		r = kube_delete(w, kube_kind_lookup("ConfigMap"), NULL, name,
		    KUBE_PROPAGATION_DEFAULT, NULL, &e);
	if (r != 0)
		fprintf(stderr, "%s %s: %s\n", verb, name, e.message);
	CU_ASSERT_EQUAL(r, 0);
	cJSON_Delete(o);
}

/* Drives the writes from inside the watch: each event causes the next. */
static int
fw_event(const struct kube_event *ev, void *arg)
{
	struct fw *w = arg;
	const char *name = meta(ev->object, "name");

	if (ev->type == KUBE_EVENT_BOOKMARK) {
		w->bookmarks++;
		return 0;
	}
	record_event(ev, &w->sn);
	switch (ev->type) {
	case KUBE_EVENT_SYNC:
		if (++w->syncs == 1 && w->relist) {
			/* More writes than the watch history holds: the
			 * list's resourceVersion expires before the watch. */
			char n[32];

			for (int i = 0; i < 8; i++) {
				snprintf(n, sizeof(n), "old-%d", i);
				fw_write(w->writer, "create", n);
			}
			return 0;
		}
		fw_write(w->writer, "create", "w1");
		return 0;
	case KUBE_EVENT_ADDED:
		if (strcmp(name, "w1") == 0)
			fw_write(w->writer, "apply", "w1");
		return 0;
	case KUBE_EVENT_MODIFIED:
		fw_write(w->writer, "delete", "w1");
		return 0;
	case KUBE_EVENT_DELETED:
		return 9;
	default:
		return 0;
	}
}

static void
test_fakeapi_watch(void)
{
	static const char *const extra[] = {
	    "--watch-history", "5", "--bookmark-seconds", "1"};
	const struct kube_kind *cm = kube_kind_lookup("ConfigMap");
	struct kube_watch_opts wo = {
	    .label_selector = "w=1", .timeout_seconds = 20};
	struct kube_error e;
	struct fake f;
	struct fw w;
	struct kube_client *c, *writer;
	char *rv = NULL;
	int r;

	tmp_setup();
	if (!fake_start(&f, extra, 4)) {
		tmp_cleanup();
		return;
	}
	c = fake_client(&f);
	memset(&w, 0, sizeof(w));
	writer = fake_client(&f);
	w.writer = writer;

	/* SYNC, then the events our own writes cause. */
	r = kube_list_watch(c, cm, NULL, &wo, fw_event, &w, &e);
	if (r != 9)
		fprintf(
		    stderr, "list_watch: %d %s [%s]\n", r, e.message, w.sn.log);
	CU_ASSERT_EQUAL(r, 9);
	CU_ASSERT_EQUAL(strncmp(w.sn.log, "SYNC(0)@", 8), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.sn.log, " ADDED w1@"));
	CU_ASSERT_PTR_NOT_NULL(strstr(w.sn.log, " MODIFIED w1@"));
	CU_ASSERT_PTR_NOT_NULL(strstr(w.sn.log, " DELETED w1@"));

	/* A list that expires before its watch starts: 410, relist. */
	memset(&w, 0, sizeof(w));
	w.writer = c;
	w.relist = true;
	{
		struct kube_client *c2 = fake_client(&f);

		r = kube_list_watch(c2, cm, NULL, &wo, fw_event, &w, &e);
		if (r != 9)
			fprintf(stderr, "relist: %d %s [%s]\n", r, e.message,
			    w.sn.log);
		CU_ASSERT_EQUAL(r, 9);
		CU_ASSERT_EQUAL(w.syncs, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(w.sn.log, "SYNC(8)@"));
		kube_client_free(c2);
	}

	/* An old resourceVersion: the ERROR event with 410 Expired. */
	wo.resource_version = "1";
	r = kube_watch(c, cm, NULL, &wo, record_event, &w.sn, NULL, &e);
	CU_ASSERT_EQUAL(r, -ESTALE);
	CU_ASSERT_EQUAL(e.http_status, 410);

	/* Bookmarks arrive on an idle watch; the stream ends at
	 * timeoutSeconds with the last resourceVersion. */
	memset(&w.sn, 0, sizeof(w.sn));
	w.bookmarks = 0;
	wo.resource_version = NULL;
	wo.timeout_seconds = 2;
	r = kube_watch(c, cm, NULL, &wo, fw_event, &w, &rv, &e);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_TRUE(w.bookmarks >= 1);
	CU_ASSERT_PTR_NOT_NULL(rv);
	free(rv);

	kube_client_free(writer);
	kube_client_free(c);
	fake_stop(&f);
	tmp_cleanup();
}

static const struct cunit_test tests[] = {
    {"kinds_paths", test_kinds_paths},
    {"status_decode", test_status_decode},
    {"rest_basic", test_rest_basic},
    {"rest_errors", test_rest_errors},
    {"list_pages", test_list_pages},
    {"watch_stream", test_watch_stream},
    {"list_watch", test_list_watch},
    {"auth_refresh", test_auth_refresh},
    {"tls", test_tlsconf},
    {"fakeapi_crud", test_fakeapi_crud},
    {"fakeapi_auth", test_fakeapi_auth},
    {"fakeapi_watch", test_fakeapi_watch},
};

CUNIT_MAIN("kube", tests)
