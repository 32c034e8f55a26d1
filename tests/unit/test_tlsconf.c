/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/tls: loading contexts (and the sentences for broken
 * directories), then real TLS 1.3 handshakes over loopback TCP between a
 * server and a client bufferevent on one event_base: success carrying bytes
 * both ways, and each refusal with the text each end reports (foreign CA,
 * expired client, no client certificate, wrong server name, wrong EKU,
 * plain TCP on either side, TLS 1.2). Every loop runs with a deadline.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "common/certs.h"
#include "common/log.h"
#include "common/tlsconf.h"
#include "tests/unit/cunit_main.h"
#include "tests/unit/evtest.h"

#define DEADLINE_SEC 5

/* A scratch tree: good/ from one `certs create`, foreign/ from another. */
static char root[PATH_MAX];
/* Where log lines go while no test captures them. */
static FILE *quiet;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
sub(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", root, name);
}

static int
copy_file(const char *from_dir, const char *name, const char *to_dir,
    const char *to_name)
{
	char src[2 * PATH_MAX], dst[2 * PATH_MAX], buf[8192];
	int in, out;
	ssize_t n;
	struct stat st;

	snprintf(src, sizeof(src), "%s/%s", from_dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", to_dir, to_name);
	in = open(src, O_RDONLY);
	if (in < 0 || fstat(in, &st) < 0)
		return -1;
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 0777);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	close(in);
	close(out);
	return n == 0 ? 0 : -1;
}

static X509 *
load_cert(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	FILE *f;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *
load_key(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	FILE *f;
	EVP_PKEY *k;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/*
 * Makes dir NAME holding good/ca.crt and a certificate issued by good's CA
 * per spec, written as FILE.crt / FILE.key (FILE "server" or "client"),
 * plus good's certificate of the other role.
 */
static int
make_variant(const char *name, const struct certs_spec *spec, const char *file)
{
	char good[PATH_MAX + 16], dir[PATH_MAX + 16], path[2 * PATH_MAX];
	char err[512];
	const char *other = strcmp(file, "server") == 0 ? "client" : "server";
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	int r = -1;

	sub(good, sizeof(good), "good");
	sub(dir, sizeof(dir), name);
	if (mkdir(dir, 0700) < 0)
		return -1;
	ca = load_cert(good, CERTS_CA_CRT);
	ca_key = load_key(good, CERTS_CA_KEY);
	if (ca == NULL || ca_key == NULL ||
	    certs_key_new(&key, err, sizeof(err)) < 0 ||
	    certs_issue(spec, key, ca, ca_key, &leaf, err, sizeof(err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.crt", dir, file);
	if (certs_write_cert(path, leaf, err, sizeof(err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.key", dir, file);
	if (certs_write_key(path, key, false, err, sizeof(err)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s.crt", other);
	if (copy_file(good, CERTS_CA_CRT, dir, CERTS_CA_CRT) < 0 ||
	    copy_file(good, path, dir, path) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s.key", other);
	if (copy_file(good, path, dir, path) < 0)
		goto out;
	r = 0;
out:
	if (r < 0)
		fprintf(stderr, "make_variant %s: %s\n", name, err);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return r;
}

static int
suite_init(void)
{
	char dir[PATH_MAX + 16], err[512];
	const char *tmp = getenv("TMPDIR");
	time_t now = time(NULL);
	const char *other_names[] = {"elsewhere.example"};
	struct certs_spec expired = {
	    .kind = CERTS_KIND_CLIENT,
	    .common_name = "old-client",
	    .not_before = now - 30 * 86400,
	    .not_after = now - 86400,
	};
	struct certs_spec wrong_name = {
	    .kind = CERTS_KIND_SERVER,
	    .common_name = "elsewhere",
	    .names = other_names,
	    .n_names = 1,
	    .not_before = now - 3600,
	    .not_after = now + 86400,
	};
	struct certs_spec no_eku = {
	    .kind = CERTS_KIND_PLAIN,
	    .common_name = "telepod-server",
	    .names = (const char *[]){"telepod-server"},
	    .n_names = 1,
	    .not_before = now - 3600,
	    .not_after = now + 86400,
	};

	/* Loading the deliberately broken directories warns; ctx_errors
	 * checks those warnings, the other tests need not show them. */
	log_init("test_tlsconf", LOG_LEVEL_WARN);
	quiet = fopen("/dev/null", "w");
	log_set_file(quiet);
	snprintf(root, sizeof(root), "%s/telepod-tls-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(root) == NULL)
		return -1;
	sub(dir, sizeof(dir), "good");
	if (certs_create(dir, NULL, 0, 10, 0, err, sizeof(err)) < 0)
		goto fail;
	sub(dir, sizeof(dir), "foreign");
	if (certs_create(dir, NULL, 0, 10, 0, err, sizeof(err)) < 0)
		goto fail;
	if (make_variant("expired", &expired, "client") < 0 ||
	    make_variant("wrongname", &wrong_name, "server") < 0 ||
	    make_variant("noeku", &no_eku, "server") < 0)
		return -1;
	/* A client holding good's CA but the foreign client certificate. */
	{
		char good[PATH_MAX + 16], foreign[PATH_MAX + 16];

		sub(good, sizeof(good), "good");
		sub(foreign, sizeof(foreign), "foreign");
		sub(dir, sizeof(dir), "mixed");
		if (mkdir(dir, 0700) < 0 ||
		    copy_file(good, CERTS_CA_CRT, dir, CERTS_CA_CRT) < 0 ||
		    copy_file(
		        foreign, CERTS_CLIENT_CRT, dir, CERTS_CLIENT_CRT) < 0 ||
		    copy_file(
		        foreign, CERTS_CLIENT_KEY, dir, CERTS_CLIENT_KEY) < 0)
			return -1;
	}
	return 0;
fail:
	fprintf(stderr, "suite_init: %s\n", err);
	return -1;
}

static int
suite_clean(void)
{
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	log_set_file(NULL);
	if (quiet != NULL)
		fclose(quiet);
	return 0;
}

static SSL_CTX *
server_ctx(const char *name)
{
	char dir[PATH_MAX + 16], err[512] = "";
	SSL_CTX *ctx = NULL;

	sub(dir, sizeof(dir), name);
	if (tlsconf_server_ctx_new(dir, &ctx, err, sizeof(err)) < 0)
		fprintf(stderr, "server ctx %s: %s\n", name, err);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *name, const char *server_name)
{
	char dir[PATH_MAX + 16], err[512] = "";
	SSL_CTX *ctx = NULL;

	sub(dir, sizeof(dir), name);
	if (tlsconf_client_ctx_new(dir, server_name, &ctx, err, sizeof(err)) <
	    0)
		fprintf(stderr, "client ctx %s: %s\n", name, err);
	return ctx;
}

/* One side of a test connection. */
struct end {
	struct bufferevent *bev;
	bool connected;
	bool failed;
	char err[TLSCONF_ERROR_MAX];
	char got[64];
	size_t n_got;
	char peer[64];
	int peer_r;
};

static void
end_read(struct bufferevent *bev, void *arg)
{
	struct end *e = arg;
	size_t room = sizeof(e->got) - 1 - e->n_got;

	e->n_got += evbuffer_remove(
	    bufferevent_get_input(bev), e->got + e->n_got, room);
	e->got[e->n_got] = '\0';
}

static void
end_event(struct bufferevent *bev, short what, void *arg)
{
	struct end *e = arg;

	if (what & BEV_EVENT_CONNECTED) {
		e->connected = true;
		e->peer_r = tlsconf_peer_subject(bev, e->peer, sizeof(e->peer));
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		e->failed = true;
		tlsconf_describe_error(bev, e->err, sizeof(e->err));
		/* TEST_VERBOSE=1 shows each sentence, for reviewing them. */
		if (getenv("TEST_VERBOSE") != NULL)
			fprintf(stderr, "\n  %s: %s",
			    bufferevent_openssl_get_ssl(bev) != NULL &&
			            SSL_is_server(
			                bufferevent_openssl_get_ssl(bev))
			        ? "server"
			        : "client",
			    e->err);
	}
}

static void
end_watch(struct end *e, struct bufferevent *bev)
{
	e->bev = bev;
	e->peer_r = 1;
	bufferevent_setcb(bev, end_read, NULL, end_event, e);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct conn {
	struct event_base *base;
	struct end srv;
	struct end cli;
	int raw; /* the plain-TCP end, or -1 */
};

static bool
both_failed(void *arg)
{
	struct conn *c = arg;

	return c->srv.failed && c->cli.failed;
}

static bool
server_failed(void *arg)
{
	return ((struct conn *)arg)->srv.failed;
}

static bool
client_failed(void *arg)
{
	return ((struct conn *)arg)->cli.failed;
}

/* Sets up c with a TLS server end and/or TLS client end (NULL ctx: that
 * end is a plain socket left in c->raw). */
static void
conn_start(struct conn *c, SSL_CTX *sctx, SSL_CTX *cctx)
{
	int fds[2] = {-1, -1};

	memset(c, 0, sizeof(*c));
	c->raw = -1;
	c->base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->base);
	CU_ASSERT_EQUAL_FATAL(evtest_tcp_pair(fds), 0);
	if (sctx != NULL)
		end_watch(
		    &c->srv, tlsconf_bufferevent_accept(c->base, sctx, fds[0]));
	else
		c->raw = fds[0];
	if (cctx != NULL)
		end_watch(&c->cli,
		    tlsconf_bufferevent_connect(c->base, cctx, fds[1]));
	else
		c->raw = fds[1];
}

static void
conn_end(struct conn *c)
{
	if (c->srv.bev != NULL)
		bufferevent_free(c->srv.bev);
	if (c->cli.bev != NULL)
		bufferevent_free(c->cli.bev);
	if (c->raw >= 0)
		close(c->raw);
	event_base_free(c->base);
}

static bool
has(const char *text, const char *what)
{
	if (strstr(text, what) != NULL)
		return true;
	fprintf(stderr, "\n  \"%s\"\n  lacks \"%s\"\n", text, what);
	return false;
}

static void
test_ctx_load(void)
{
	SSL_CTX *s = server_ctx("good"), *c = client_ctx("good", NULL);

	CU_ASSERT_PTR_NOT_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(c);
	if (s != NULL) {
		CU_ASSERT_EQUAL(
		    SSL_CTX_get_min_proto_version(s), TLS1_3_VERSION);
		CU_ASSERT_EQUAL(
		    SSL_CTX_get_max_proto_version(s), TLS1_3_VERSION);
		CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(s),
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
		CU_ASSERT_EQUAL(SSL_CTX_get_num_tickets(s), 0);
		CU_ASSERT_TRUE(SSL_CTX_get_options(s) & SSL_OP_NO_TICKET);
	}
	if (c != NULL)
		CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(c), SSL_VERIFY_PEER);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}

static void
test_ctx_errors(void)
{
	char dir[PATH_MAX + 16], good[PATH_MAX + 16], path[2 * PATH_MAX];
	char err[512] = "", want[3 * PATH_MAX], logbuf[2048] = {0};
	SSL_CTX *ctx = NULL;
	FILE *f;

	/* Missing directory: names the file and the command to run. */
	sub(dir, sizeof(dir), "missing");
	CU_ASSERT_EQUAL(
	    tlsconf_client_ctx_new(dir, NULL, &ctx, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
	    "cannot read %s/ca.crt: No such file or directory; create certificates with `telepod certs create --out %s`",
	    dir, dir);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_PTR_NULL(ctx);

	/* The server's directory needs server.key. */
	sub(good, sizeof(good), "good");
	sub(dir, sizeof(dir), "halfserver");
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	copy_file(good, CERTS_CA_CRT, dir, CERTS_CA_CRT);
	copy_file(good, CERTS_SERVER_CRT, dir, CERTS_SERVER_CRT);
	CU_ASSERT_EQUAL(
	    tlsconf_server_ctx_new(dir, &ctx, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "cannot read %s/server.key", dir);
	CU_ASSERT_TRUE(has(err, want));

	/* A key that is not the certificate's. */
	copy_file(good, CERTS_CLIENT_KEY, dir, CERTS_SERVER_KEY);
	CU_ASSERT_EQUAL(
	    tlsconf_server_ctx_new(dir, &ctx, err, sizeof(err)), -EINVAL);
	CU_ASSERT_TRUE(has(err, "does not belong to"));

	/* A ca.crt with no certificate in it. */
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("not a certificate\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(
	    tlsconf_server_ctx_new(dir, &ctx, err, sizeof(err)), -EINVAL);
	CU_ASSERT_TRUE(has(err, "holds no PEM certificate"));

	/* A key readable by others loads, with a warning. */
	sub(dir, sizeof(dir), "openkey");
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	copy_file(good, CERTS_CA_CRT, dir, CERTS_CA_CRT);
	copy_file(good, CERTS_CLIENT_CRT, dir, CERTS_CLIENT_CRT);
	copy_file(good, CERTS_CLIENT_KEY, dir, CERTS_CLIENT_KEY);
	snprintf(path, sizeof(path), "%s/client.key", dir);
	chmod(path, 0644);
	f = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
	log_set_file(f);
	CU_ASSERT_EQUAL(
	    tlsconf_client_ctx_new(dir, NULL, &ctx, err, sizeof(err)), 0);
	log_set_file(quiet);
	fclose(f);
	CU_ASSERT_TRUE(has(logbuf, "client.key is open to group or others"));
	CU_ASSERT_TRUE(has(logbuf, "chmod 600"));
	SSL_CTX_free(ctx);

	/* Our own expired certificate loads, with a warning naming it. */
	memset(logbuf, 0, sizeof(logbuf));
	ctx = NULL;
	sub(dir, sizeof(dir), "expired");
	f = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
	log_set_file(f);
	CU_ASSERT_EQUAL(
	    tlsconf_client_ctx_new(dir, NULL, &ctx, err, sizeof(err)), 0);
	log_set_file(quiet);
	fclose(f);
	CU_ASSERT_TRUE(has(logbuf, "client.crt will be refused by the server"));
	CU_ASSERT_TRUE(has(logbuf, "expired on"));
	SSL_CTX_free(ctx);
}

static bool
exchanged(void *arg)
{
	struct conn *c = arg;

	return (c->srv.n_got == 5 && c->cli.n_got == 4) || c->srv.failed ||
	       c->cli.failed;
}

static void
test_handshake_ok(void)
{
	SSL_CTX *s = server_ctx("good"), *cl = client_ctx("good", NULL);
	struct conn c;
	SSL *ssl;
	int nodelay = 0;
	socklen_t optlen = sizeof(nodelay);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.srv.bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.cli.bev);
	/* Queued before the handshake, delivered after it. */
	bufferevent_write(c.cli.bev, "hello", 5);
	bufferevent_write(c.srv.bev, "pong", 4);
	CU_ASSERT_TRUE(evtest_run_until(c.base, exchanged, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.srv.failed);
	CU_ASSERT_FALSE(c.cli.failed);
	if (c.srv.failed || c.cli.failed)
		fprintf(stderr, "\n  server: %s\n  client: %s\n", c.srv.err,
		    c.cli.err);
	CU_ASSERT_TRUE(c.srv.connected && c.cli.connected);
	CU_ASSERT_STRING_EQUAL(c.srv.got, "hello");
	CU_ASSERT_STRING_EQUAL(c.cli.got, "pong");
	CU_ASSERT_EQUAL(c.srv.peer_r, 0);
	CU_ASSERT_STRING_EQUAL(c.srv.peer, CERTS_CLIENT_NAME);
	CU_ASSERT_EQUAL(c.cli.peer_r, 0);
	CU_ASSERT_STRING_EQUAL(c.cli.peer, CERTS_SERVER_NAME);
	ssl = bufferevent_openssl_get_ssl(c.cli.bev);
	CU_ASSERT_EQUAL(SSL_version(ssl), TLS1_3_VERSION);
	/* The cheapest AEAD with AES instructions, not OpenSSL's default
	 * first choice (AES-256-GCM). */
	CU_ASSERT_STRING_EQUAL(SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
	    "TLS_AES_128_GCM_SHA256");
	CU_ASSERT_STRING_EQUAL(SSL_CIPHER_get_name(SSL_get_current_cipher(
	                           bufferevent_openssl_get_ssl(c.srv.bev))),
	    "TLS_AES_128_GCM_SHA256");
	CU_ASSERT_EQUAL(getsockopt(bufferevent_getfd(c.cli.bev), IPPROTO_TCP,
	                    TCP_NODELAY, &nodelay, &optlen),
	    0);
	CU_ASSERT_EQUAL(nodelay, 1);
	CU_ASSERT_FALSE(SSL_session_reused(ssl));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

/* The client dials 127.0.0.1 but checks the configured name, and an IP
 * name is checked against IP SANs. */
static void
test_server_name_ip(void)
{
	SSL_CTX *s = server_ctx("good"), *ok = client_ctx("good", "127.0.0.1"),
	        *bad = client_ctx("good", "10.9.9.9");
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	conn_start(&c, s, ok);
	bufferevent_write(c.cli.bev, "hello", 5);
	bufferevent_write(c.srv.bev, "pong", 4);
	CU_ASSERT_TRUE(evtest_run_until(c.base, exchanged, &c, DEADLINE_SEC));
	CU_ASSERT_STRING_EQUAL(c.cli.got, "pong");
	conn_end(&c);

	conn_start(&c, s, bad);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_TRUE(
	    has(c.cli.err, "is not valid for the name \"10.9.9.9\""));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(ok);
	SSL_CTX_free(bad);
}

static void
test_foreign_client(void)
{
	SSL_CTX *s = server_ctx("good"), *cl = client_ctx("mixed", NULL);
	char dir[PATH_MAX + 16];
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	bufferevent_write(c.cli.bev, "hello", 5);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.srv.connected);
	CU_ASSERT_EQUAL(c.srv.n_got, 0);
	sub(dir, sizeof(dir), "good/ca.crt");
	CU_ASSERT_TRUE(has(c.srv.err,
	    "certificate verify failed: the client's certificate (CN telepod-client, issued by telepod-ca-"));
	CU_ASSERT_TRUE(has(c.srv.err, "is not signed by the CA in"));
	CU_ASSERT_TRUE(has(c.srv.err, dir));
	CU_ASSERT_TRUE(has(c.srv.err,
	    "were the certificates made by the same `telepod certs create`?"));
	CU_ASSERT_TRUE(has(c.cli.err, "the server refused our certificate"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

static void
test_expired_client(void)
{
	SSL_CTX *s = server_ctx("good"), *cl = client_ctx("expired", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.srv.connected);
	CU_ASSERT_TRUE(has(
	    c.srv.err, "the client's certificate (CN old-client) expired on "));
	CU_ASSERT_TRUE(has(c.cli.err, "expired"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

static void
drop_cert(SSL *ssl)
{
	SSL_certs_clear(ssl);
}

static void
test_no_client_cert(void)
{
	SSL_CTX *s = server_ctx("good"), *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	/* The handshake has not started yet: it runs in the loop. */
	drop_cert(bufferevent_openssl_get_ssl(c.cli.bev));
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.srv.connected);
	CU_ASSERT_TRUE(has(c.srv.err, "the client sent no certificate"));
	CU_ASSERT_TRUE(has(c.cli.err, "requires a client certificate"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

static void
test_wrong_server_name(void)
{
	SSL_CTX *s = server_ctx("wrongname"), *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.cli.connected);
	CU_ASSERT_FALSE(c.srv.connected);
	CU_ASSERT_TRUE(has(c.cli.err,
	    "the server's certificate (CN elsewhere) is not valid for the name \"telepod-server\""));
	CU_ASSERT_TRUE(has(c.srv.err, "the client refused our certificate"));
	CU_ASSERT_TRUE(has(c.srv.err, "carries the name the client expects"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

/* A leaf without extendedKeyUsage passes OpenSSL's purpose check; ours
 * refuses it. */
static void
test_server_without_eku(void)
{
	SSL_CTX *s = server_ctx("noeku"), *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, s, cl);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.cli.connected);
	CU_ASSERT_TRUE(has(c.cli.err,
	    "is not a TLS server certificate (its extendedKeyUsage lacks serverAuth)"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

static void
test_plain_tcp_client(void)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	SSL_CTX *s = server_ctx("good");
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	conn_start(&c, s, NULL);
	CU_ASSERT_EQUAL(
	    write(c.raw, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	CU_ASSERT_TRUE(
	    evtest_run_until(c.base, server_failed, &c, DEADLINE_SEC));
	CU_ASSERT_TRUE(has(c.srv.err,
	    "the client is not speaking TLS (plain TCP? it sent an HTTP request)"));
	conn_end(&c);
	SSL_CTX_free(s);
}

static void
test_plain_tcp_server(void)
{
	static const char resp[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	SSL_CTX *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, NULL, cl);
	CU_ASSERT_EQUAL(
	    write(c.raw, resp, sizeof(resp) - 1), (ssize_t)(sizeof(resp) - 1));
	CU_ASSERT_TRUE(
	    evtest_run_until(c.base, client_failed, &c, DEADLINE_SEC));
	CU_ASSERT_TRUE(
	    has(c.cli.err, "the server is not speaking TLS (plain TCP?)"));
	conn_end(&c);
	SSL_CTX_free(cl);
}

static void
test_tls12_client(void)
{
	SSL_CTX *s = server_ctx("good"), *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_TRUE(SSL_CTX_set_min_proto_version(cl, TLS1_2_VERSION));
	CU_ASSERT_TRUE(SSL_CTX_set_max_proto_version(cl, TLS1_2_VERSION));
	conn_start(&c, s, cl);
	CU_ASSERT_TRUE(evtest_run_until(c.base, both_failed, &c, DEADLINE_SEC));
	CU_ASSERT_FALSE(c.srv.connected);
	CU_ASSERT_TRUE(has(c.srv.err,
	    "TLS version mismatch: the client does not speak TLS 1.3"));
	CU_ASSERT_TRUE(has(c.cli.err, "TLS version mismatch"));
	conn_end(&c);
	SSL_CTX_free(s);
	SSL_CTX_free(cl);
}

static bool
server_done(void *arg)
{
	struct conn *c = arg;

	return c->srv.failed || c->srv.connected;
}

/* The server hangs up without TLS while the client waits for it. */
static void
test_peer_hangs_up(void)
{
	SSL_CTX *cl = client_ctx("good", NULL);
	struct conn c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	conn_start(&c, NULL, cl);
	shutdown(c.raw, SHUT_WR);
	CU_ASSERT_TRUE(
	    evtest_run_until(c.base, client_failed, &c, DEADLINE_SEC));
	CU_ASSERT_TRUE(has(c.cli.err,
	    "the server closed the connection during the TLS handshake"));
	CU_ASSERT_FALSE(server_done(&c));
	conn_end(&c);
	SSL_CTX_free(cl);
}

static const struct cunit_test tests[] = {
    {"ctx_load", test_ctx_load},
    {"ctx_errors", test_ctx_errors},
    {"handshake_ok", test_handshake_ok},
    {"server_name_ip", test_server_name_ip},
    {"foreign_client", test_foreign_client},
    {"expired_client", test_expired_client},
    {"no_client_cert", test_no_client_cert},
    {"wrong_server_name", test_wrong_server_name},
    {"server_without_eku", test_server_without_eku},
    {"plain_tcp_client", test_plain_tcp_client},
    {"plain_tcp_server", test_plain_tcp_server},
    {"tls12_client", test_tls12_client},
    {"peer_hangs_up", test_peer_hangs_up},
};

/* Like CUNIT_MAIN, with a suite set-up that makes the certificates once. */
int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return cunit_run("tls", suite_init, suite_clean, tests,
	    sizeof(tests) / sizeof(*tests));
}
