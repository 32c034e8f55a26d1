/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portforward: a local listener whose connections are each carried by one
 * WebSocket port-forward (v4.channel.k8s.io) through the API server to a
 * pod's port. The TLS context towards the API server is built once from the
 * resolved kubeconfig; the auth headers are asked from common/kube for
 * every connection, so rotating tokens and exec plugins stay current.
 *
 * Relay (libevent's le-proxy, with our own caps): local -> pod stops
 * reading the local socket while the WebSocket's output holds out_cap
 * bytes and resumes from the WebSocket's writable callback; pod -> local
 * stops reading the WebSocket while the local output holds out_cap and
 * resumes from the local drained-write callback. A connection whose
 * WebSocket ended keeps its local socket until its output is flushed (with
 * a deadline). Connections are freed on the next loop turn (reap event),
 * never inside a callback that may still reach them.
 */
#include "config.h"

#include "common/portforward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/kubeexec.h"
#include "common/log.h"
#include "common/ws.h"

#define PF_CHUNK          (64 * 1024) /* local bytes per message */
#define PF_FLUSH_SECS     30  /* a local reader that takes no more bytes */
#define PF_PROBE_GRACE_MS 250 /* after the prefixes: wait for an error */
#define PF_MAX_HEADERS    16
#define PF_NAME_MAX       253

struct portforward;

struct pf_conn {
	struct portforward *pf;
	struct pf_conn *next;
	unsigned id;
	struct bufferevent *local; /* NULL for a probe */
	struct ws_client *ws;
	bool data_prefix; /* channel 0's port prefix seen */
	bool err_prefix;  /* channel 1's */
	bool local_eof;   /* the local side ended */
	bool flushing;    /* the forward ended: emptying the local output */
	bool repicked;    /* the pod was chosen again once */
	bool dead;        /* waiting for the reap */
	bool reported;    /* the failure was reported */
	char errmsg[PORTFORWARD_ERR_MAX];
	int errcode;
	/* probe */
	void (*probe_done)(void *arg, int err, const char *msg);
	void *probe_arg;
	struct event *probe_ev;
	bool probe_ok;
};

struct portforward {
	struct event_base *base;
	struct evdns_base *dns; /* made when the server has a name */
	struct evconnlistener *listener;
	unsigned local_port;
	SSL_CTX *ssl; /* NULL for http:// */
	bool insecure;
	char *verify_name; /* checked in the certificate; SNI unless an IP */
	bool verify_ip;
	char *host; /* to connect to */
	int port;
	char *host_header;
	char *prefix; /* the server URL's path, "" or "/x/y" */
	char *server; /* for messages */
	char *context;
	struct kube_client *kube;
	void *curl;            /* CURL *, for kube_setup_handle() */
	struct kubeexec *exec; /* for an exec plugin's client certificate */
	char *exec_cert;       /* the certificate loaded into ssl from it */
	char ns[PF_NAME_MAX + 1];
	char pod[PF_NAME_MAX + 1];
	unsigned pod_port;
	portforward_pick_fn pick;
	void *pick_arg;
	portforward_error_fn on_error;
	void *error_arg;
	int ping_ms;
	int handshake_ms;
	size_t out_cap;
	struct pf_conn *conns;
	struct pf_conn *dead;
	struct event *reap_ev;
	unsigned next_id;
	struct portforward_stats stats;
	char last_error[PORTFORWARD_ERR_MAX];
};

/* The resource a port-forward is authorized as, for error messages. */
static const struct kube_kind pf_kind = {
    "Pod", "", "v1", "pods/portforward", true};

static void pf_conn_end(struct pf_conn *c);
static int pf_dial(struct pf_conn *c, char *err, size_t errlen);

/* ---------------------------------------------------------------------- */
/* set-up */

static bool
pf_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		        s[i] == '.'))
			return false;
	return true;
}

static void
pf_ssl_errors(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static int
pf_load_ca(SSL_CTX *ctx, const unsigned char *pem, size_t len)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	BIO *b;
	X509 *x;
	int n = 0;

	if (len > KUBECONFIG_MAX_PEM_BYTES)
		return -EINVAL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	return n > 0 ? 0 : -EINVAL;
}

static int
pf_load_cert(SSL_CTX *ctx, const void *cert, size_t clen, const void *key,
    size_t klen, char *err, size_t errlen)
{
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	char why[256];
	int r = -EINVAL;

	if (clen > KUBECONFIG_MAX_PEM_BYTES || klen > KUBECONFIG_MAX_PEM_BYTES)
		goto bad;
	if ((b = BIO_new_mem_buf(cert, (int)clen)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto bad;
	/* Intermediates after the leaf. */
	for (X509 *ch; (ch = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL;)
		if (SSL_CTX_add0_chain_cert(ctx, ch) != 1)
			X509_free(ch);
	ERR_clear_error();
	BIO_free(b);
	if ((b = BIO_new_mem_buf(key, (int)klen)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto bad;
	r = 0;
	goto out;
bad:
	pf_ssl_errors(why, sizeof(why));
	snprintf(err, errlen,
	    "the client certificate or key cannot be used for the port-forward: %s",
	    why);
out:
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

static int
pf_make_ssl(struct portforward *pf, const struct kubeconfig_resolved *rc,
    char *err, size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	char why[256];
	int r;

	pf->ssl = SSL_CTX_new(TLS_client_method());
	if (pf->ssl == NULL)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(pf->ssl, TLS1_2_VERSION);
	/* HTTP/2 cannot carry this upgrade (no RFC 8441 in Kubernetes). */
	SSL_CTX_set_alpn_protos(pf->ssl, alpn, sizeof(alpn) - 1);
	pf->insecure = rc->insecure_skip_tls_verify;
	SSL_CTX_set_verify(
	    pf->ssl, pf->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (rc->ca_pem != NULL) {
		r = pf_load_ca(pf->ssl, rc->ca_pem, rc->ca_pem_len);
		if (r < 0) {
			snprintf(err, errlen,
			    "the certificate-authority of context \"%s\" holds no usable certificate",
			    pf->context);
			return r;
		}
	} else if (SSL_CTX_set_default_verify_paths(pf->ssl) != 1) {
		pf_ssl_errors(why, sizeof(why));
		snprintf(err, errlen, "cannot load the system's CAs: %s", why);
		return -EIO;
	}
	if (rc->client_cert_pem != NULL && rc->client_key_pem != NULL)
		return pf_load_cert(pf->ssl, rc->client_cert_pem,
		    rc->client_cert_pem_len, rc->client_key_pem,
		    rc->client_key_pem_len, err, errlen);
	return 0;
}

static int
pf_parse_server(struct portforward *pf, const struct kubeconfig_resolved *rc,
    char *err, size_t errlen)
{
	struct kube_server_url url;
	int r;

	r = kube_server_url_parse(rc, &url, err, errlen);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (url.host[0] == '[') {
		/* curl keeps the brackets; connect without them. */
		size_t hl = strlen(url.host);

		pf->host = strndup(url.host + 1, hl >= 2 ? hl - 2 : 0);
	} else {
		pf->host = strdup(url.host);
	}
	pf->port = atoi(url.port);
	pf->prefix = strdup(url.path);
	if (asprintf(&pf->host_header, "%s:%s", url.host, url.port) < 0)
		pf->host_header = NULL;
	if (pf->host == NULL || pf->prefix == NULL || pf->host_header == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (pf->port < 1 || pf->port > 65535)
		goto out;
	if (strcmp(url.scheme, "https") == 0) {
		struct in6_addr a6;
		const char *name = rc->tls_server_name != NULL
		                       ? rc->tls_server_name
		                       : pf->host;

		pf->verify_name = strdup(name);
		if (pf->verify_name == NULL) {
			r = -ENOMEM;
			goto out;
		}
		pf->verify_ip = inet_pton(AF_INET, name, &a6) == 1 ||
		                inet_pton(AF_INET6, name, &a6) == 1;
		if ((r = pf_make_ssl(pf, rc, err, errlen)) < 0)
			goto out;
	}
	r = 0;
out:
	kube_server_url_free(&url);
	return r;
}

static void pf_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg);
static void pf_reap_cb(evutil_socket_t fd, short what, void *arg);

static int
pf_listen(struct portforward *pf, int fd, char *err, size_t errlen)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (fd == -1) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(fd, 16) != 0) {
			int e = errno;

			snprintf(err, errlen,
			    "cannot listen on 127.0.0.1 for the port-forward: %s",
			    strerror(e));
			if (fd >= 0)
				close(fd);
			return -e;
		}
	}
	if (getsockname(fd, (struct sockaddr *)&sin, &sl) == 0 &&
	    sin.sin_family == AF_INET)
		pf->local_port = ntohs(sin.sin_port);
	evutil_make_socket_nonblocking(fd);
	pf->listener = evconnlistener_new(pf->base, pf_accept_cb, pf,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (pf->listener == NULL) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int
portforward_new(struct event_base *base, const struct portforward_config *cfg,
    struct portforward **ret, char *err, size_t errlen)
{
	const struct kubeconfig_resolved *rc = cfg->rc;
	struct portforward *pf;
	int r = -EINVAL;

	err[0] = '\0';
	if (cfg->listen_fd >= 0 && (rc == NULL || cfg->kube == NULL))
		close(cfg->listen_fd);
	if (rc == NULL || cfg->kube == NULL) {
		snprintf(err, errlen, "internal: no kubeconfig or client");
		return -EINVAL;
	}
	pf = calloc(1, sizeof(*pf));
	if (pf == NULL) {
		if (cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		return -ENOMEM;
	}
	pf->base = base;
	pf->kube = cfg->kube;
	pf->context = strdup(rc->context ? rc->context : "");
	pf->server = strdup(rc->server ? rc->server : "");
	pf->pick = cfg->pick;
	pf->pick_arg = cfg->pick_arg;
	pf->on_error = cfg->on_error;
	pf->error_arg = cfg->error_arg;
	pf->ping_ms = cfg->ping_interval_ms == 0  ? PORTFORWARD_PING_MS
	              : cfg->ping_interval_ms < 0 ? 0
	                                          : cfg->ping_interval_ms;
	pf->handshake_ms = cfg->handshake_timeout_ms;
	pf->out_cap = cfg->out_cap ? cfg->out_cap : PORTFORWARD_OUT_CAP;
	pf->pod_port = cfg->port;
	pf->reap_ev = evtimer_new(base, pf_reap_cb, pf);
	pf->curl = curl_easy_init();
	if (pf->context == NULL || pf->server == NULL || pf->reap_ev == NULL ||
	    pf->curl == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (cfg->ns == NULL || !pf_valid_name(cfg->ns) || cfg->pod == NULL ||
	    !pf_valid_name(cfg->pod) || cfg->port < 1 || cfg->port > 65535) {
		snprintf(err, errlen,
		    "internal: invalid namespace, pod or port for the port-forward");
		goto fail;
	}
	snprintf(pf->ns, sizeof(pf->ns), "%s", cfg->ns);
	snprintf(pf->pod, sizeof(pf->pod), "%s", cfg->pod);
	if (rc->proxy_url != NULL) {
		snprintf(err, errlen,
		    "context \"%s\" reaches the API server through proxy-url %.200s, which telepod's port-forward does not support yet; use a context without proxy-url (e.g. a copy of it without that line)",
		    pf->context, rc->proxy_url);
		r = -ENOTSUP;
		goto fail;
	}
	if ((r = pf_parse_server(pf, rc, err, errlen)) < 0)
		goto fail;
	if (rc->exec != NULL) {
		pf->exec = kubeexec_new(
		    rc->exec, rc->exec_cluster_json, rc->user_name, NULL);
		if (pf->exec == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (cfg->listen_fd != PORTFORWARD_NO_LISTENER) {
		r = pf_listen(pf, cfg->listen_fd, err, errlen);
		if (r < 0)
			goto fail_listened;
	}
	*ret = pf;
	return 0;
fail:
	if (cfg->listen_fd >= 0)
		close(cfg->listen_fd);
fail_listened:
	if (err[0] == '\0' && r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	portforward_free(pf);
	return r;
}

static void
pf_conn_free(struct pf_conn *c)
{
	ws_client_free(c->ws);
	if (c->local != NULL)
		bufferevent_free(c->local);
	if (c->probe_ev != NULL)
		event_free(c->probe_ev);
	free(c);
}

void
portforward_free(struct portforward *pf)
{
	if (pf == NULL)
		return;
	if (pf->listener != NULL)
		evconnlistener_free(pf->listener);
	while (pf->conns != NULL) {
		struct pf_conn *c = pf->conns;

		pf->conns = c->next;
		pf_conn_free(c);
	}
	while (pf->dead != NULL) {
		struct pf_conn *c = pf->dead;

		pf->dead = c->next;
		pf_conn_free(c);
	}
	if (pf->reap_ev != NULL)
		event_free(pf->reap_ev);
	if (pf->dns != NULL)
		evdns_base_free(pf->dns, 0);
	if (pf->ssl != NULL)
		SSL_CTX_free(pf->ssl);
	if (pf->curl != NULL)
		curl_easy_cleanup(pf->curl);
	kubeexec_free(pf->exec);
	free(pf->exec_cert);
	free(pf->verify_name);
	free(pf->host);
	free(pf->host_header);
	free(pf->prefix);
	free(pf->server);
	free(pf->context);
	free(pf);
}

unsigned
portforward_local_port(const struct portforward *pf)
{
	return pf->local_port;
}

const char *
portforward_pod(const struct portforward *pf)
{
	return pf->pod;
}

void
portforward_get_stats(
    const struct portforward *pf, struct portforward_stats *ret)
{
	*ret = pf->stats;
}

const char *
portforward_last_error(const struct portforward *pf)
{
	return pf->last_error;
}

/* ---------------------------------------------------------------------- */
/* one forward */

static void
pf_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct portforward *pf = arg;

	while (pf->dead != NULL) {
		struct pf_conn *c = pf->dead;

		pf->dead = c->next;
		pf_conn_free(c);
	}
}

/* Unlinks c and frees it on the next loop turn. */
static void
pf_conn_kill(struct pf_conn *c)
{
	struct portforward *pf = c->pf;

	if (c->dead)
		return;
	c->dead = true;
	for (struct pf_conn **pp = &pf->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->local != NULL)
		pf->stats.active--;
	if (c->ws != NULL) {
		ws_client_free(c->ws);
		c->ws = NULL;
	}
	if (c->local != NULL) {
		bufferevent_free(c->local);
		c->local = NULL;
	}
	c->next = pf->dead;
	pf->dead = c;
	event_active(pf->reap_ev, EV_TIMEOUT, 0);
}

/* Records a failure of c (the first one counts). */
static void pf_conn_error(struct pf_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pf_conn_error(struct pf_conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (c->errcode != 0)
		return;
	c->errcode = err;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

/* Tells the owner about c's failure, once. */
static void
pf_conn_report(struct pf_conn *c)
{
	struct portforward *pf = c->pf;

	if (c->reported || c->errcode == 0 || c->probe_done != NULL)
		return;
	c->reported = true;
	pf->stats.failed++;
	snprintf(pf->last_error, sizeof(pf->last_error), "%s", c->errmsg);
	log_warn("port-forward %u: %s", c->id, c->errmsg);
	if (pf->on_error != NULL)
		pf->on_error(pf->error_arg, c->errcode, c->errmsg);
}

static void
pf_local_flushed_cb(struct bufferevent *bev, void *arg)
{
	struct pf_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		pf_conn_kill(c);
}

static void
pf_local_flush_event_cb(struct bufferevent *bev, short what, void *arg)
{
	pf_conn_kill(arg);
}

/* The forward is over: report, flush the local side, then free. */
static void
pf_conn_end(struct pf_conn *c)
{
	if (c->dead || c->flushing)
		return;
	pf_conn_report(c);
	if (c->probe_done != NULL) {
		void (*done)(void *, int, const char *) = c->probe_done;
		int err = c->probe_ok ? 0 : c->errcode ? c->errcode : -EPROTO;
		char msg[PORTFORWARD_ERR_MAX];

		snprintf(msg, sizeof(msg), "%s",
		    err == 0 ? ""
		    : c->errmsg[0] != 0
		        ? c->errmsg
		        : "the port-forward ended before the pod's port answered");
		c->probe_done = NULL;
		pf_conn_kill(c);
		done(c->probe_arg, err, msg);
		return;
	}
	if (c->ws != NULL) {
		ws_client_free(c->ws);
		c->ws = NULL;
	}
	if (c->local == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->local)) == 0) {
		pf_conn_kill(c);
		return;
	}
	c->flushing = true;
	bufferevent_disable(c->local, EV_READ);
	bufferevent_setwatermark(c->local, EV_WRITE, 0, 0);
	bufferevent_setcb(
	    c->local, NULL, pf_local_flushed_cb, pf_local_flush_event_cb, c);
	bufferevent_set_timeouts(
	    c->local, NULL, &(struct timeval){PF_FLUSH_SECS, 0});
	bufferevent_enable(c->local, EV_WRITE);
}

/* Sends what the local side wrote, while the WebSocket takes it. */
static void
pf_pump_up(struct pf_conn *c)
{
	struct portforward *pf = c->pf;
	struct evbuffer *in;
	size_t len;

	if (c->local == NULL || c->ws == NULL || !ws_client_is_open(c->ws))
		return;
	in = bufferevent_get_input(c->local);
	while ((len = evbuffer_get_length(in)) > 0) {
		size_t n = len < PF_CHUNK ? len : PF_CHUNK;
		int r;

		if (!c->local_eof &&
		    ws_client_output_pending(c->ws) >= pf->out_cap) {
			bufferevent_disable(c->local, EV_READ);
			return;
		}
		r = ws_client_send_evbuffer(
		    c->ws, WS_OP_BINARY, "\0", 1, in, n);
		if (r < 0) {
			pf_conn_error(c, r,
			    "port-forward to pod %s: cannot send: %s", pf->pod,
			    strerror(-r));
			pf_conn_end(c);
			return;
		}
		pf->stats.bytes_up += n;
	}
	if (!c->local_eof)
		bufferevent_enable(c->local, EV_READ);
}

static void
pf_local_read_cb(struct bufferevent *bev, void *arg)
{
	pf_pump_up(arg);
}

static void
pf_local_write_cb(struct bufferevent *bev, void *arg)
{
	struct pf_conn *c = arg;

	/* Drained below the low mark: take messages again. */
	if (c->ws != NULL)
		ws_client_set_read(c->ws, true);
}

static void
pf_local_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pf_conn *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	c->local_eof = true;
	if (what & BEV_EVENT_ERROR) {
		/* The local peer is gone: nothing more to deliver. */
		bufferevent_free(c->local);
		c->local = NULL;
		c->pf->stats.active--;
	}
	if (c->ws == NULL) {
		pf_conn_end(c);
		return;
	}
	if (!ws_client_is_open(c->ws)) {
		/* Still upgrading: the open callback finishes the job. When
		 * the local side failed there is nothing to carry. */
		if (c->local == NULL)
			ws_client_close(c->ws, WS_CLOSE_NORMAL, NULL);
		return;
	}
	pf_pump_up(c);
	/* v4 has no half-close: the end of one side ends the forward. */
	if (c->ws != NULL)
		ws_client_close(c->ws, WS_CLOSE_NORMAL, NULL);
}

static void
pf_ws_open(struct ws_client *ws, void *arg)
{
	struct pf_conn *c = arg;

	log_debug(LOG_CAT_KUBE, "port-forward %u: upgraded to %s", c->id,
	    ws_client_protocol(ws));
	if (c->local == NULL && c->probe_done == NULL) {
		ws_client_close(ws, WS_CLOSE_NORMAL, NULL);
		return;
	}
	if (c->local != NULL) {
		bufferevent_enable(c->local, EV_READ | EV_WRITE);
		pf_pump_up(c);
		if (c->local_eof && c->ws != NULL)
			ws_client_close(c->ws, WS_CLOSE_NORMAL, NULL);
	}
}

static void
pf_probe_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pf_conn *c = arg;

	/* No error within the grace period after the prefixes. */
	c->probe_ok = true;
	if (c->ws != NULL)
		ws_client_close(c->ws, WS_CLOSE_NORMAL, NULL);
}

/* The 3-byte prefix [channel, port lo, port hi]. */
static bool
pf_prefix_ok(struct pf_conn *c, struct evbuffer *payload)
{
	uint8_t p[3];

	if (evbuffer_get_length(payload) != 3 ||
	    evbuffer_copyout(payload, p, 3) != 3)
		return false;
	return (unsigned)(p[1] | p[2] << 8) == c->pf->pod_port;
}

static void
pf_ws_message(
    struct ws_client *ws, int opcode, struct evbuffer *payload, void *arg)
{
	struct pf_conn *c = arg;
	struct portforward *pf = c->pf;
	size_t len = evbuffer_get_length(payload);
	uint8_t ch;

	if (opcode != WS_OP_BINARY) {
		pf_conn_error(c, -EPROTO,
		    "port-forward to pod %s: the API server sent a text message on the binary v4.channel protocol",
		    pf->pod);
		ws_client_close(ws, WS_CLOSE_PROTOCOL_ERROR, NULL);
		return;
	}
	if (len == 0)
		return;
	evbuffer_copyout(payload, &ch, 1);
	if (ch == 0) {
		if (!c->data_prefix) {
			if (!pf_prefix_ok(c, payload))
				goto bad_prefix;
			c->data_prefix = true;
			goto prefixes;
		}
		evbuffer_drain(payload, 1);
		len--;
		if (c->local == NULL || len == 0)
			return;
		if (bufferevent_write_buffer(c->local, payload) < 0) {
			pf_conn_error(
			    c, -ENOMEM, "port-forward: out of memory");
			pf_conn_end(c);
			return;
		}
		pf->stats.bytes_down += len;
		if (evbuffer_get_length(bufferevent_get_output(c->local)) >=
		    pf->out_cap)
			ws_client_set_read(ws, false);
		return;
	}
	if (ch == 1) {
		char text[512], esc[1024];
		size_t n;

		if (!c->err_prefix) {
			if (!pf_prefix_ok(c, payload))
				goto bad_prefix;
			c->err_prefix = true;
			goto prefixes;
		}
		if (len <= 1)
			return;
		evbuffer_drain(payload, 1);
		n = evbuffer_copyout(payload, text,
		    len - 1 < sizeof(text) ? len - 1 : sizeof(text));
		log_escape(esc, sizeof(esc), text, n);
		pf_conn_error(c, -ECONNREFUSED,
		    "the port-forward to port %u of pod %s in namespace %s failed in the cluster: %s",
		    pf->pod_port, pf->pod, pf->ns, esc);
		c->probe_ok = false;
		ws_client_close(ws, WS_CLOSE_NORMAL, NULL);
		return;
	}
	/* Other channels are not ours (one port per WebSocket). */
	return;
prefixes:
	if (c->probe_done != NULL && c->data_prefix && c->err_prefix &&
	    c->probe_ev == NULL) {
		struct timeval tv = {0, PF_PROBE_GRACE_MS * 1000};

		c->probe_ev = evtimer_new(pf->base, pf_probe_timer_cb, c);
		if (c->probe_ev == NULL || evtimer_add(c->probe_ev, &tv) < 0)
			pf_probe_timer_cb(-1, 0, c);
	}
	return;
bad_prefix:
	pf_conn_error(c, -EPROTO,
	    "port-forward to pod %s: the API server's first message on channel %u is not the port prefix for port %u",
	    pf->pod, ch, pf->pod_port);
	ws_client_close(ws, WS_CLOSE_PROTOCOL_ERROR, NULL);
}

static void
pf_ws_writable(struct ws_client *ws, void *arg)
{
	struct pf_conn *c = arg;

	if (c->local != NULL && !c->local_eof)
		pf_pump_up(c);
}

/* Turns a refused upgrade or a failure into a sentence for the user. */
static void
pf_describe_close(struct pf_conn *c, const struct ws_close_info *info)
{
	struct portforward *pf = c->pf;

	if (info->http_status != 0) {
		struct kube_op op = {"get", &pf_kind, pf->ns, pf->pod,
		    pf->context[0] ? pf->context : NULL};
		struct kube_error ke;
		int r;

		r = kube_status_decode(info->http_status, info->http_body,
		    info->http_body_len, &op, &ke);
		pf_conn_error(c, r, "port-forward to pod %s refused: %s",
		    pf->pod, ke.message);
		return;
	}
	if (!info->opened) {
		pf_conn_error(c, info->err ? info->err : -EPROTO,
		    "cannot open a port-forward to pod %s through the API server %s: %s",
		    pf->pod, pf->server, info->detail);
		return;
	}
	if (info->err != 0 && info->err != -ECANCELED)
		pf_conn_error(c, info->err,
		    "the port-forward to pod %s broke: %s", pf->pod,
		    info->detail);
}

static void
pf_ws_closed(struct ws_client *ws, const struct ws_close_info *info, void *arg)
{
	struct pf_conn *c = arg;
	struct portforward *pf = c->pf;
	char err[PORTFORWARD_ERR_MAX];

	c->ws = NULL;
	ws_client_free(ws);
	if (!info->opened && info->http_status == 404 && !c->repicked &&
	    pf->pick != NULL && c->local != NULL && !c->local_eof) {
		char pod[PF_NAME_MAX + 1];
		int r;

		/* The pod went away (a roll-out): choose again, once. */
		c->repicked = true;
		r = pf->pick(pf->pick_arg, pod, sizeof(pod), err, sizeof(err));
		if (r == 0 && pf_valid_name(pod)) {
			log_info(
			    "port-forward %u: pod %s is gone, now using %s",
			    c->id, pf->pod, pod);
			snprintf(pf->pod, sizeof(pf->pod), "%s", pod);
			c->data_prefix = c->err_prefix = false;
			if (pf_dial(c, err, sizeof(err)) == 0)
				return;
			pf_conn_error(c, -EIO, "%s", err);
			pf_conn_end(c);
			return;
		}
		log_warn("port-forward %u: cannot choose another pod: %s",
		    c->id, r < 0 ? err : "invalid pod name");
	}
	pf_describe_close(c, info);
	if (c->probe_done == NULL && info->opened && c->errcode == 0)
		log_debug(LOG_CAT_KUBE, "port-forward %u: closed (code %u)",
		    c->id, info->code);
	pf_conn_end(c);
}

static const struct ws_callbacks pf_ws_cb = {
    pf_ws_open, pf_ws_message, pf_ws_writable, pf_ws_closed};

/* Keeps the header lines the request needs from kube's list. */
static bool
pf_header_wanted(const char *line)
{
	return strncasecmp(line, "Authorization:", 14) == 0 ||
	       strncasecmp(line, "Impersonate-", 12) == 0;
}

/* Loads an exec plugin's client certificate when it changed. */
static int
pf_exec_cert(struct portforward *pf, char *err, size_t errlen)
{
	const struct kubeexec_cred *cred;
	char eb[KUBEEXEC_ERR_MAX];
	int r;

	if (pf->exec == NULL || pf->ssl == NULL)
		return 0;
	r = kubeexec_get(pf->exec, &cred, eb, sizeof(eb));
	if (r < 0) {
		snprintf(err, errlen,
		    "cannot get credentials for context \"%s\": %s",
		    pf->context, eb);
		return r;
	}
	if (cred->client_cert_pem == NULL ||
	    (pf->exec_cert != NULL &&
	        strcmp(pf->exec_cert, cred->client_cert_pem) == 0))
		return 0;
	/* SSL objects made earlier keep their own copy of the old one. */
	r = pf_load_cert(pf->ssl, cred->client_cert_pem,
	    strlen(cred->client_cert_pem), cred->client_key_pem,
	    strlen(cred->client_key_pem), err, errlen);
	if (r < 0)
		return r;
	free(pf->exec_cert);
	pf->exec_cert = strdup(cred->client_cert_pem);
	return 0;
}

static struct bufferevent *
pf_transport(struct portforward *pf, char *err, size_t errlen)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (pf->ssl == NULL)
		return bufferevent_socket_new(pf->base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	ssl = SSL_new(pf->ssl);
	if (ssl == NULL)
		return NULL;
	if (!pf->verify_ip)
		SSL_set_tlsext_host_name(ssl, pf->verify_name);
	if (!pf->insecure) {
		int ok = pf->verify_ip
		             ? X509_VERIFY_PARAM_set1_ip_asc(
		                   SSL_get0_param(ssl), pf->verify_name)
		             : SSL_set1_host(ssl, pf->verify_name);

		if (ok != 1) {
			snprintf(err, errlen,
			    "cannot check the API server's name %s",
			    pf->verify_name);
			SSL_free(ssl);
			return NULL;
		}
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	bev = bufferevent_openssl_socket_new(pf->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* API servers and proxies may end without close_notify. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Opens c's WebSocket to the current pod. */
static int
pf_dial(struct pf_conn *c, char *err, size_t errlen)
{
	struct portforward *pf = c->pf;
	struct kube_handle_lists lists = {NULL, NULL};
	const char *headers[PF_MAX_HEADERS];
	const char *protocols[] = {PORTFORWARD_PROTOCOL};
	struct ws_client_config wc;
	struct kube_error ke;
	struct bufferevent *bev;
	char path[1024], kpath[1024];
	size_t n_headers = 0;
	bool auth = false;
	int r;

	snprintf(kpath, sizeof(kpath),
	    "/api/v1/namespaces/%s/pods/%s/portforward?ports=%u", pf->ns,
	    pf->pod, pf->pod_port);
	snprintf(path, sizeof(path), "%s%s", pf->prefix, kpath);
	r = kube_setup_handle(pf->kube, pf->curl, kpath, &lists, &ke);
	if (r < 0) {
		snprintf(err, errlen, "%s", ke.message);
		goto out;
	}
	for (struct curl_slist *s = lists.headers; s != NULL; s = s->next)
		if (pf_header_wanted(s->data) && n_headers < PF_MAX_HEADERS) {
			headers[n_headers++] = s->data;
			if (strncasecmp(s->data, "Authorization:", 14) == 0)
				auth = true;
		}
	if (!auth && (r = pf_exec_cert(pf, err, errlen)) < 0)
		goto out;
	bev = pf_transport(pf, err, errlen);
	if (bev == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	memset(&wc, 0, sizeof(wc));
	wc.host = pf->host_header;
	wc.path = path;
	wc.protocols = protocols;
	wc.n_protocols = 1;
	wc.headers = headers;
	wc.n_headers = n_headers;
	wc.handshake_timeout_ms = pf->handshake_ms;
	wc.ping_interval_ms = pf->ping_ms;
	wc.write_low = pf->out_cap / 2;
	r = ws_client_new(pf->base, bev, &wc, &pf_ws_cb, c, &c->ws);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the WebSocket: %s",
		    strerror(-r));
		goto out;
	}
	if (pf->dns == NULL) {
		struct in6_addr a;

		if (inet_pton(AF_INET, pf->host, &a) != 1 &&
		    inet_pton(AF_INET6, pf->host, &a) != 1)
			pf->dns = evdns_base_new(
			    pf->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
			                  EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (bufferevent_socket_connect_hostname(
	        bev, pf->dns, AF_UNSPEC, pf->host, pf->port) < 0) {
		snprintf(err, errlen, "cannot connect to the API server %s",
		    pf->server);
		ws_client_free(c->ws);
		c->ws = NULL;
		r = -ECONNREFUSED;
		goto out;
	}
	log_debug(LOG_CAT_KUBE, "port-forward %u: GET %s", c->id, path);
	r = 0;
out:
	kube_handle_lists_free(&lists);
	return r;
}

static struct pf_conn *
pf_conn_new(struct portforward *pf)
{
	struct pf_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->pf = pf;
	c->id = ++pf->next_id;
	c->next = pf->conns;
	pf->conns = c;
	return c;
}

static void
pf_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	struct portforward *pf = arg;
	struct pf_conn *c;
	char err[PORTFORWARD_ERR_MAX] = "";
	int one = 1;

	pf->stats.accepted++;
	if (pf->stats.active >= PORTFORWARD_MAX_CONNS) {
		log_warn("port-forward: %d forwards are open; refusing another",
		    PORTFORWARD_MAX_CONNS);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = pf_conn_new(pf);
	if (c != NULL)
		c->local = bufferevent_socket_new(pf->base, fd,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c == NULL || c->local == NULL) {
		close(fd);
		if (c != NULL)
			pf_conn_kill(c);
		return;
	}
	pf->stats.active++;
	bufferevent_setcb(c->local, pf_local_read_cb, pf_local_write_cb,
	    pf_local_event_cb, c);
	bufferevent_setwatermark(c->local, EV_WRITE, pf->out_cap / 2, 0);
	/* Read once the WebSocket is open (its open callback). */
	bufferevent_disable(c->local, EV_READ);
	bufferevent_enable(c->local, EV_WRITE);
	log_debug(LOG_CAT_KUBE, "port-forward %u: accepted, to pod %s port %u",
	    c->id, pf->pod, pf->pod_port);
	if (pf_dial(c, err, sizeof(err)) < 0) {
		pf_conn_error(c, -EIO, "%s", err);
		pf_conn_end(c);
	}
}

int
portforward_probe(struct portforward *pf,
    void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
    size_t errlen)
{
	struct pf_conn *c = pf_conn_new(pf);
	int r;

	if (c == NULL)
		return -ENOMEM;
	c->probe_done = done;
	c->probe_arg = arg;
	err[0] = '\0';
	r = pf_dial(c, err, errlen);
	if (r < 0) {
		c->probe_done = NULL;
		pf_conn_kill(c);
	}
	return r;
}
