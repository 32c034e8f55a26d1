/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_portforward: the fake API server's WebSocket port-forward relaying
 * to a real telepod-server. Starts telepod-server (with certificates from
 * common/certs) and fake-apiserver on loopback, creates a Pod, then plays
 * the v4.channel.k8s.io client: checks the 404/400/403 answers before the
 * upgrade, the port prefixes, ping/pong, a complete mutually
 * authenticated TLS handshake with telepod-server carried in fragmented,
 * masked frames, the error channel for a port without an endpoint, and the
 * close on an unmasked client frame. Exits 77 without ../shared/k8s or
 * telepod-server. Children are stopped by PID.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/certs.h"
#include "common/tlsconf.h"
#include "tests/fakeapi/ws.h"

#ifndef FAKEAPI_K8S_DIR
#define FAKEAPI_K8S_DIR "../shared/k8s"
#endif

static int passes, fails;
static char tmp[] = "/tmp/test-pf.XXXXXX";
static char fa_dir[300];
static int api_port;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (cond) {                                                    \
			passes++;                                              \
			printf("ok: " __VA_ARGS__);                            \
		} else {                                                       \
			fails++;                                               \
			printf("FAIL: " __VA_ARGS__);                          \
		}                                                              \
		printf("\n");                                                  \
	} while (0)

static pid_t
spawn(char *const argv[], const char *out, int *ret_pipe)
{
	int fds[2] = {-1, -1};
	pid_t pid;

	if (ret_pipe != NULL && pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		if (ret_pipe != NULL) {
			dup2(fds[1], 1);
			close(fds[0]);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (ret_pipe != NULL) {
		close(fds[1]);
		*ret_pipe = fds[0];
	}
	return pid;
}

static int
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {10, 0};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A TLS connection to the fake with the kubeconfig's client certificate. */
static SSL *
api_connect(void)
{
	static SSL_CTX *ctx;
	char path[400], path2[400];
	SSL *ssl;
	int fd;

	if (ctx == NULL) {
		ctx = SSL_CTX_new(TLS_client_method());
		snprintf(path, sizeof(path), "%s/ca.crt", fa_dir);
		SSL_CTX_load_verify_locations(ctx, path, NULL);
		snprintf(path, sizeof(path), "%s/client.crt", fa_dir);
		snprintf(path2, sizeof(path2), "%s/client.key", fa_dir);
		SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM);
		SSL_CTX_use_PrivateKey_file(ctx, path2, SSL_FILETYPE_PEM);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	fd = tcp_connect(api_port);
	if (fd < 0)
		return NULL;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void
api_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* Sends a request and reads the response head (and what follows, up to
 * cap) into buf. Returns the status code or -1. */
static int
api_request(SSL *ssl, const char *req, char *buf, size_t cap)
{
	size_t n = 0;
	int code = -1;

	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return -1;
	while (n + 1 < cap) {
		int r = SSL_read(ssl, buf + n, 1);

		if (r <= 0)
			break;
		n++;
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	buf[n] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &code);
	if (code != 101 && code > 0) {
		const char *cl = strstr(buf, "Content-Length: ");
		long len = cl != NULL ? strtol(cl + 16, NULL, 10) : 0;

		while (len-- > 0 && n + 1 < cap) {
			if (SSL_read(ssl, buf + n, 1) <= 0)
				break;
			n++;
		}
		buf[n] = '\0';
	}
	return code;
}

static int
ws_upgrade(SSL *ssl, const char *path, const char *proto, char *buf, size_t cap)
{
	char req[1024];

	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s%s%s\r\n",
	    path, proto != NULL ? "Sec-WebSocket-Protocol: " : "",
	    proto != NULL ? proto : "", proto != NULL ? "\r\n" : "");
	return api_request(ssl, req, buf, cap);
}

static int
read_full(SSL *ssl, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		int r = SSL_read(ssl, buf + got, (int)(n - got));

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Reads one frame; payload (malloc'd) in *ret. Returns the opcode. */
static int
ws_read(SSL *ssl, uint8_t **ret, size_t *ret_len)
{
	uint8_t hdr[WS_MAX_HEADER];
	size_t have = 2;
	struct ws_frame f;
	int r;

	if (read_full(ssl, hdr, 2) < 0)
		return -1;
	while ((r = ws_parse_header(hdr, have, &f)) == 0) {
		if (read_full(ssl, hdr + have, 1) < 0)
			return -1;
		have++;
	}
	if (r < 0)
		return -1;
	*ret = malloc(f.len + 1);
	if (f.len > 0 && read_full(ssl, *ret, f.len) < 0) {
		free(*ret);
		return -1;
	}
	*ret_len = f.len;
	return f.opcode;
}

static void
ws_send(
    SSL *ssl, bool fin, int opcode, const uint8_t *data, size_t len, bool mask)
{
	uint8_t hdr[WS_MAX_HEADER], key[4] = {0x12, 0x34, 0x56, 0x78};
	uint8_t *copy = malloc(len + 1);
	size_t hl = ws_write_header(hdr, fin, opcode, len, mask ? key : NULL);

	memcpy(copy, data, len);
	if (mask)
		ws_mask(copy, len, key, 0);
	SSL_write(ssl, hdr, (int)hl);
	if (len > 0)
		SSL_write(ssl, copy, (int)len);
	free(copy);
}

/* Sends data on channel 0 as two fragments (BINARY, then CONT). */
static void
ws_send_data(SSL *ssl, const uint8_t *data, size_t len)
{
	uint8_t *msg = malloc(len + 1);
	size_t half = (len + 1) / 2;

	msg[0] = 0;
	memcpy(msg + 1, data, len);
	ws_send(ssl, false, WS_OP_BINARY, msg, half, true);
	ws_send(ssl, true, WS_OP_CONT, msg + half, len + 1 - half, true);
	free(msg);
}

static void
test_tls_through_tunnel(const char *tpdir)
{
	char buf[4096], err[512], cn[128];
	SSL *ssl = api_connect();
	SSL_CTX *inner_ctx = NULL;
	SSL *inner;
	BIO *rbio, *wbio;
	uint8_t *p = NULL;
	size_t n = 0;
	int code, op, rounds = 0;
	bool done = false;

	if (ssl == NULL) {
		CHECK(false, "connect to the fake");
		return;
	}
	code = ws_upgrade(ssl,
	    "/api/v1/namespaces/default/pods/tp/portforward?ports=8443",
	    "v5.channel.k8s.io, v4.channel.k8s.io", buf, sizeof(buf));
	CHECK(code == 101, "upgrade answers 101 (%d)", code);
	CHECK(strstr(buf,
	          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL,
	    "accept key");
	CHECK(strstr(buf, "Sec-WebSocket-Protocol: v4.channel.k8s.io") != NULL,
	    "v4 chosen over v5");
	op = ws_read(ssl, &p, &n);
	CHECK(op == WS_OP_BINARY && n == 3 && p[0] == 0 && p[1] == 0xfb &&
	          p[2] == 0x20,
	    "data channel port prefix");
	free(p);
	op = ws_read(ssl, &p, &n);
	CHECK(op == WS_OP_BINARY && n == 3 && p[0] == 1 && p[1] == 0xfb &&
	          p[2] == 0x20,
	    "error channel port prefix");
	free(p);
	ws_send(ssl, true, WS_OP_PING, (const uint8_t *)"hi", 2, true);
	op = ws_read(ssl, &p, &n);
	CHECK(op == WS_OP_PONG && n == 2 && memcmp(p, "hi", 2) == 0,
	    "ping answered with pong");
	free(p);
	/* A real TLS handshake with telepod-server through the tunnel. */
	if (tlsconf_client_ctx_new(tpdir, NULL, &inner_ctx, err, sizeof(err)) <
	    0) {
		CHECK(false, "client TLS context: %s", err);
		api_close(ssl);
		return;
	}
	inner = SSL_new(inner_ctx);
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(inner, rbio, wbio);
	SSL_set_connect_state(inner);
	SSL_set_tlsext_host_name(inner, CERTS_SERVER_NAME);
	while (!done && rounds++ < 50) {
		int r = SSL_do_handshake(inner);
		char out[16384];
		int m;

		while ((m = BIO_read(wbio, out, sizeof(out))) > 0)
			ws_send_data(ssl, (const uint8_t *)out, (size_t)m);
		if (r == 1) {
			done = true;
			break;
		}
		if (SSL_get_error(inner, r) != SSL_ERROR_WANT_READ)
			break;
		op = ws_read(ssl, &p, &n);
		if (op != WS_OP_BINARY || n < 1) {
			free(p);
			break;
		}
		if (p[0] == 0)
			BIO_write(rbio, p + 1, (int)n - 1);
		else
			printf("error channel: %.*s\n", (int)n - 1, p + 1);
		free(p);
	}
	CHECK(done, "TLS handshake with telepod-server through the tunnel");
	if (done) {
		X509 *peer = SSL_get0_peer_certificate(inner);

		cn[0] = '\0';
		if (peer != NULL)
			X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
			    NID_commonName, cn, sizeof(cn));
		CHECK(SSL_get_verify_result(inner) == X509_V_OK &&
		          strcmp(cn, CERTS_SERVER_NAME) == 0,
		    "the peer is telepod-server (%s)", cn);
	}
	SSL_free(inner);
	SSL_CTX_free(inner_ctx);
	/* The client ends the forward with a Close frame. */
	ws_send(ssl, true, WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2, true);
	do {
		p = NULL;
		op = ws_read(ssl, &p, &n);
		free(p);
	} while (op >= 0 && op != WS_OP_CLOSE);
	CHECK(op == WS_OP_CLOSE, "close answered with close");
	api_close(ssl);
}

static void
test_errors(void)
{
	char buf[4096];
	SSL *ssl;
	uint8_t *p = NULL;
	size_t n = 0;
	int code, op;

	ssl = api_connect();
	code = ws_upgrade(ssl,
	    "/api/v1/namespaces/default/pods/nope/portforward?ports=80",
	    "v4.channel.k8s.io", buf, sizeof(buf));
	CHECK(code == 404 && strstr(buf, "pods \\\"nope\\\" not found") != NULL,
	    "missing pod: 404 Status");
	api_close(ssl);
	ssl = api_connect();
	code = ws_upgrade(ssl, "/api/v1/namespaces/default/pods/tp/portforward",
	    "v4.channel.k8s.io", buf, sizeof(buf));
	CHECK(
	    code == 400 &&
	        strstr(buf, "query parameter \\\"port\\\" is required") != NULL,
	    "no ports: 400");
	api_close(ssl);
	ssl = api_connect();
	code = ws_upgrade(ssl,
	    "/api/v1/namespaces/default/pods/tp/portforward?ports=80",
	    "portforward.k8s.io", buf, sizeof(buf));
	CHECK(code == 403, "unknown subprotocol: 403 (%d)", code);
	api_close(ssl);
	/* A port with no endpoint: the error channel says why. */
	ssl = api_connect();
	code = ws_upgrade(ssl,
	    "/api/v1/namespaces/default/pods/tp/portforward?ports=9",
	    "v4.channel.k8s.io", buf, sizeof(buf));
	CHECK(code == 101, "upgrade for port 9");
	for (int i = 0; i < 2; i++) {
		op = ws_read(ssl, &p, &n);
		free(p);
	}
	op = ws_read(ssl, &p, &n);
	CHECK(op == WS_OP_BINARY && n > 1 && p[0] == 1 &&
	          strstr((char *)p + 1, "error forwarding port 9 to pod tp") !=
	              NULL,
	    "error channel message");
	free(p);
	api_close(ssl);
	/* An unmasked client frame is a protocol error: close 1002. */
	ssl = api_connect();
	code = ws_upgrade(ssl,
	    "/api/v1/namespaces/default/pods/tp/portforward?ports=8443",
	    "v4.channel.k8s.io", buf, sizeof(buf));
	for (int i = 0; i < 2; i++) {
		op = ws_read(ssl, &p, &n);
		free(p);
	}
	ws_send(ssl, true, WS_OP_BINARY, (const uint8_t *)"\0x", 2, false);
	do {
		p = NULL;
		op = ws_read(ssl, &p, &n);
		if (op == WS_OP_CLOSE)
			break;
		free(p);
	} while (op >= 0);
	CHECK(op == WS_OP_CLOSE && n == 2 && p[0] == 0x03 && p[1] == 0xea,
	    "unmasked frame: close 1002");
	if (op == WS_OP_CLOSE)
		free(p);
	api_close(ssl);
}

int
main(void)
{
	const char *k8s = getenv("FAKEAPI_K8S_DIR");
	const char *bd = getenv("top_builddir");
	char fa[400], srv[400], tpdir[350], err[512], url[256] = "";
	char k8sarg[512], stdir[400], ep[128], listen_tp[64], logf[400];
	pid_t tp_pid = -1, fa_pid = -1;
	struct stat st;
	int port, fd, rfd = -1;
	size_t n = 0;

	if (k8s == NULL || k8s[0] == '\0')
		k8s = FAKEAPI_K8S_DIR;
	if (bd == NULL)
		bd = ".";
	snprintf(k8sarg, sizeof(k8sarg), "%s/openapi", k8s);
	snprintf(fa, sizeof(fa), "%s/tests/fakeapi/fake-apiserver", bd);
	snprintf(srv, sizeof(srv), "%s/server/telepod-server", bd);
	if (stat(k8sarg, &st) != 0 || access(srv, X_OK) != 0 ||
	    access(fa, X_OK) != 0) {
		printf("skip: needs %s, %s and %s\n", k8sarg, srv, fa);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmp) == NULL)
		return 1;
	snprintf(tpdir, sizeof(tpdir), "%s/tp", tmp);
	if (certs_create(tpdir, NULL, 0, 1, 0, err, sizeof(err)) < 0) {
		printf("certs: %s\n", err);
		return 1;
	}
	port = free_port();
	snprintf(listen_tp, sizeof(listen_tp), "127.0.0.1:%d", port);
	snprintf(logf, sizeof(logf), "%s/server.log", tmp);
	{
		char *argv[] = {
		    srv, "--listen", listen_tp, "--tls-dir", tpdir, NULL};

		tp_pid = spawn(argv, logf, NULL);
	}
	snprintf(fa_dir, sizeof(fa_dir), "%s/fa", tmp);
	snprintf(stdir, sizeof(stdir), "%s", fa_dir);
	snprintf(ep, sizeof(ep), "default/tp:8443=127.0.0.1:%d", port);
	snprintf(k8sarg, sizeof(k8sarg), "%s", k8s);
	snprintf(logf, sizeof(logf), "%s/fake.log", tmp);
	{
		char *argv[] = {fa, "--listen", "127.0.0.1:0", "--state-dir",
		    stdir, "--k8s-dir", k8sarg, "--pod-endpoint", ep, NULL};

		fa_pid = spawn(argv, logf, &rfd);
	}
	/* The URL is the first line of the fake's stdout. */
	while (rfd >= 0 && n + 1 < sizeof(url)) {
		ssize_t r = read(rfd, url + n, 1);

		if (r <= 0 || url[n] == '\n')
			break;
		n++;
	}
	url[n] = '\0';
	if (sscanf(url, "https://127.0.0.1:%d", &api_port) != 1) {
		CHECK(false, "fake-apiserver started");
		goto out;
	}
	for (int i = 0; i < 100; i++) {
		fd = tcp_connect(port);
		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(100 * 1000);
	}
	{
		static const char pod[] =
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"tp\"},\"spec\":{\"containers\":[{\"name\":\"server\",\"image\":\"telepod-server\"}]}}";
		char req[1024], buf[8192];
		SSL *ssl = api_connect();
		int code;

		snprintf(req, sizeof(req),
		    "POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		    strlen(pod), pod);
		code =
		    ssl != NULL ? api_request(ssl, req, buf, sizeof(buf)) : -1;
		CHECK(code == 201, "pod created (%d)", code);
		if (ssl != NULL)
			api_close(ssl);
	}
	test_errors();
	test_tls_through_tunnel(tpdir);
out:
	if (fa_pid > 0) {
		kill(fa_pid, SIGTERM);
		waitpid(fa_pid, NULL, 0);
	}
	if (tp_pid > 0) {
		kill(tp_pid, SIGTERM);
		waitpid(tp_pid, NULL, 0);
	}
	if (rfd >= 0)
		close(rfd);
	if (fails > 0) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "cat %s/fake.log %s/server.log", tmp,
		    tmp);
		if (system(cmd) != 0)
			printf("(no logs)\n");
	}
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		if (system(cmd) != 0)
			printf("could not remove %s\n", tmp);
	}
	printf("%d passed, %d failed\n", passes, fails);
	return fails > 0 ? 1 : 0;
}
