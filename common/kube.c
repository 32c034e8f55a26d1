/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube: the Kubernetes REST client on libcurl's easy interface. One easy
 * handle serves requests and another watches; each is reset and set up
 * again per call (curl_easy_reset keeps live connections, so they are
 * reused). Credentials are fetched per request: the exec plugin's cached
 * credential, a token file re-read every KUBE_TOKEN_FILE_SECS, or the
 * static ones from the kubeconfig; an HTTP 401 refreshes a refreshable
 * credential and retries once.
 *
 * Responses are buffered up to a cap (decompressed bytes count), except
 * 2xx watch bodies, which go through a line splitter: each
 * newline-terminated JSON event is parsed and handed to the caller's
 * callback while the stream is still open. Errors are decoded from Status
 * objects into sentences that say what to do.
 *
 * With tls-server-name the URL names that host and CURLOPT_CONNECT_TO sends
 * the connection to the real address, so curl uses the name for SNI and
 * certificate verification, as client-go does with ServerName.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "common/kube.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"

#define KUBE_DEFAULT_TIMEOUT_MS 30000
#define KUBE_DEFAULT_CONNECT_MS 10000
#define KUBE_DEFAULT_PAGE       500
#define KUBE_DEFAULT_WATCH_SECS 300
#define KUBE_MAX_ERROR_BODY     (1u << 20)
#ifdef PACKAGE_VERSION
#define KUBE_USER_AGENT "telepod/" PACKAGE_VERSION
#else
#define KUBE_USER_AGENT "telepod"
#endif

static const struct kube_kind kube_kinds[] = {
    {"Namespace", "", "v1", "namespaces", false},
    {"ConfigMap", "", "v1", "configmaps", true},
    {"Secret", "", "v1", "secrets", true},
    {"Service", "", "v1", "services", true},
    {"ServiceAccount", "", "v1", "serviceaccounts", true},
    {"Pod", "", "v1", "pods", true},
    {"Node", "", "v1", "nodes", false},
    {"Deployment", "apps", "v1", "deployments", true},
    {"Job", "batch", "v1", "jobs", true},
    {"Role", "rbac.authorization.k8s.io", "v1", "roles", true},
    {"RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", true},
    {"ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", false},
    {"ClusterRoleBinding", "rbac.authorization.k8s.io", "v1",
        "clusterrolebindings", false},
};

struct kube_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

struct kube_client {
	CURL *h;           /* requests */
	CURL *wh;          /* watches */
	char *server;      /* as configured, for messages */
	char *base;        /* URL prefix of every request */
	char *connect_to;  /* tls-server-name: "NAME:PORT:HOST:PORT" */
	char *host_header; /* tls-server-name: the real "Host:" */
	unsigned char *ca;
	size_t ca_len;
	unsigned char *cert;
	size_t cert_len;
	unsigned char *key;
	size_t key_len;
	bool insecure;
	bool compress;
	char *proxy;
	char *token;
	char *token_file;
	time_t token_read;
	char *username;
	char *password;
	char *imp_user;
	char *imp_uid;
	char **imp_groups;
	size_t n_imp_groups;
	struct kubeexec *exec;
	kubeexec_clock_fn clock;
	void *clock_arg;
	char *context;
	char *namespace;
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_body;
	char curl_err[CURL_ERROR_SIZE];
};

/* A transfer in progress. */
struct kube_xfer {
	CURL *h;
	long status;
	bool have_status;
	struct kube_buf body; /* the 2xx body, or an error body */
	/* 2xx bodies go here instead of body when set. */
	int (*stream)(void *arg, const char *data, size_t len);
	void *stream_arg;
	long stall_secs; /* streams: drop after this long without a byte */
	int abort_ret;   /* set when a callback stopped the transfer */
};

static void kube_errf(struct kube_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool kube_refresh_after_401(struct kube_client *c);

static void
kube_errf(struct kube_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static void
kube_err_reset(struct kube_error *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

static void
kube_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void
kube_wipe_str(char *s)
{
	if (s != NULL)
		kube_wipe_free(s, strlen(s));
}

static int
kube_buf_append(struct kube_buf *b, const char *data, size_t len)
{
	size_t cap;
	char *nd;

	if (len > b->max - b->len)
		return -EMSGSIZE;
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		nd = realloc(b->data, cap);
		if (nd == NULL)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static void
kube_buf_free(struct kube_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------------- */
/* kinds and paths */

const struct kube_kind *
kube_kind_lookup(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof(kube_kinds) / sizeof(*kube_kinds);
	     i++)
		if (strcmp(kube_kinds[i].kind, kind) == 0)
			return &kube_kinds[i];
	return NULL;
}

const struct kube_kind *
kube_kind_of(const cJSON *obj)
{
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	const cJSON *kd = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	const struct kube_kind *k;
	const char *slash;

	if (!cJSON_IsString(av) || !cJSON_IsString(kd))
		return NULL;
	k = kube_kind_lookup(kd->valuestring);
	if (k == NULL)
		return NULL;
	slash = strchr(av->valuestring, '/');
	if (slash == NULL)
		return k->group[0] == '\0' &&
		               strcmp(av->valuestring, k->version) == 0
		           ? k
		           : NULL;
	if (strlen(k->group) == (size_t)(slash - av->valuestring) &&
	    strncmp(av->valuestring, k->group, strlen(k->group)) == 0 &&
	    strcmp(slash + 1, k->version) == 0)
		return k;
	return NULL;
}

/* "deployments.apps", "configmaps". */
static const char *
kube_resource_name(const struct kube_kind *k, char *buf, size_t len)
{
	if (k->group[0] == '\0')
		snprintf(buf, len, "%s", k->resource);
	else
		snprintf(buf, len, "%s.%s", k->resource, k->group);
	return buf;
}

static bool
kube_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Percent-encodes s onto b; in a path segment ':' and '@' stay. */
static int
kube_escape(struct kube_buf *b, const char *s, bool segment)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if (kube_unreserved(c) || (segment && (c == ':' || c == '@')))
			r = kube_buf_append(b, s, 1);
		else
			r = kube_buf_append(b, enc, 3);
	}
	return r;
}

static bool
kube_valid_name(const char *s)
{
	size_t l = s ? strlen(s) : 0;

	if (l == 0 || l > KUBE_MAX_NAME || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0 || strchr(s, '/') != NULL)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int
kube_path(const struct kube_kind *k, const char *ns, const char *name,
    char *buf, size_t len)
{
	struct kube_buf b = {.max = len > 0 ? len - 1 : 0};
	int r = 0;

	if (k->namespaced && !kube_valid_name(ns))
		return -EINVAL;
	if (name != NULL && !kube_valid_name(name))
		return -EINVAL;
	if (k->group[0] == '\0')
		r = kube_buf_append(&b, "/api/", 5);
	else if ((r = kube_buf_append(&b, "/apis/", 6)) == 0 &&
	         (r = kube_buf_append(&b, k->group, strlen(k->group))) == 0)
		r = kube_buf_append(&b, "/", 1);
	if (r == 0)
		r = kube_buf_append(&b, k->version, strlen(k->version));
	if (r == 0 && k->namespaced &&
	    (r = kube_buf_append(&b, "/namespaces/", 12)) == 0)
		r = kube_escape(&b, ns, true);
	if (r == 0 && (r = kube_buf_append(&b, "/", 1)) == 0)
		r = kube_buf_append(&b, k->resource, strlen(k->resource));
	if (r == 0 && name != NULL && (r = kube_buf_append(&b, "/", 1)) == 0)
		r = kube_escape(&b, name, true);
	if (r == 0) {
		memcpy(buf, b.data, b.len + 1);
		r = (int)b.len;
	}
	kube_buf_free(&b);
	return r == -EMSGSIZE ? -ENAMETOOLONG : r;
}

/* Appends "?key=value" or "&key=value" (value escaped). */
static int
kube_query(struct kube_buf *b, const char *key, const char *value)
{
	int r;

	if (value == NULL)
		return 0;
	r = kube_buf_append(
	    b, strchr(b->data ? b->data : "", '?') ? "&" : "?", 1);
	if (r == 0)
		r = kube_buf_append(b, key, strlen(key));
	if (r == 0)
		r = kube_buf_append(b, "=", 1);
	if (r == 0)
		r = kube_escape(b, value, false);
	return r;
}

/* ---------------------------------------------------------------------- */
/* errors */

static int
kube_errno_for(long code, const char *reason)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EKEYREJECTED;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -EBUSY;
	case 410:
		return -ESTALE;
	case 429:
	case 503:
	case 504:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

static const char *
kube_json_str(const cJSON *obj, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Appends the Status' causes ("field: message; ...") to out. */
static void
kube_causes(const cJSON *details, char *out, size_t cap)
{
	const cJSON *causes =
	    cJSON_GetObjectItemCaseSensitive(details, "causes");
	const cJSON *c;
	size_t o = strlen(out);
	int n = 0;

	cJSON_ArrayForEach(c, causes)
	{
		const char *f = kube_json_str(c, "field");
		const char *m = kube_json_str(c, "message");
		char ef[128], em[256];
		int w;

		if (m == NULL || o >= cap || n++ >= 8)
			break;
		w = snprintf(out + o, cap - o, "%s%s%s%s", n > 1 ? "; " : " (",
		    f ? log_escape(ef, sizeof(ef), f, strlen(f)) : "",
		    f ? ": " : "", log_escape(em, sizeof(em), m, strlen(m)));
		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (n > 0 && o < cap)
		snprintf(out + o, cap - o, ")");
}

/* The status decoder behind kube_status_decode(), for a parsed Status
 * (st may be NULL: raw is then quoted). */
static int
kube_status_json(long http_status, const cJSON *st, const char *raw,
    size_t rawlen, const struct kube_op *op, struct kube_error *err)
{
	struct kube_error scratch;
	const cJSON *code_j, *ra, *details = NULL;
	const char *reason = "", *msg = NULL, *verb, *ns;
	char res[160], smsg[768], what[384], causes[512] = "";
	long code = http_status;
	bool cluster_scope;
	int ret;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	if (st != NULL && cJSON_IsObject(st) &&
	    strcmp(kube_json_str(st, "kind") ? kube_json_str(st, "kind") : "",
	        "Status") == 0) {
		reason = kube_json_str(st, "reason")
		             ? kube_json_str(st, "reason")
		             : "";
		msg = kube_json_str(st, "message");
		details = cJSON_GetObjectItemCaseSensitive(st, "details");
		code_j = cJSON_GetObjectItemCaseSensitive(st, "code");
		/* Peer numbers: only plausible ranges are converted. */
		if (code == 0 && cJSON_IsNumber(code_j) &&
		    code_j->valuedouble >= 100 && code_j->valuedouble < 600)
			code = (long)code_j->valuedouble;
		ra = cJSON_GetObjectItemCaseSensitive(
		    details, "retryAfterSeconds");
		if (cJSON_IsNumber(ra) && ra->valuedouble > 0 &&
		    ra->valuedouble <= 86400)
			err->retry_after = (long)ra->valuedouble;
		kube_causes(details, causes, sizeof(causes));
	} else {
		st = NULL;
	}
	err->http_status = code;
	snprintf(err->reason, sizeof(err->reason), "%s", reason);
	ret = kube_errno_for(code, reason);

	if (msg != NULL)
		log_escape(smsg, sizeof(smsg), msg, strlen(msg));
	else if (raw != NULL && rawlen > 0)
		log_escape(
		    smsg, sizeof(smsg), raw, rawlen > 200 ? 200 : rawlen);
	else
		snprintf(smsg, sizeof(smsg), "(no message)");
	verb = op && op->verb ? op->verb : "access";
	ns = op ? op->ns : NULL;
	cluster_scope = op == NULL || op->kind == NULL || !op->kind->namespaced;
	if (op != NULL && op->kind != NULL)
		kube_resource_name(op->kind, res, sizeof(res));
	else
		snprintf(res, sizeof(res), "this resource");
	if (op != NULL && op->name != NULL)
		snprintf(what, sizeof(what), "%s \"%s\"", res, op->name);
	else
		snprintf(what, sizeof(what), "%s", res);

	switch (code) {
	case 401:
		kube_errf(err,
		    "the API server rejected our credentials (401 Unauthorized)%s%s%s: the token or certificate is invalid or expired; log in again (e.g. aws sso login, gcloud auth login, az login) or refresh the kubeconfig",
		    op && op->context ? " for context \"" : "",
		    op && op->context ? op->context : "",
		    op && op->context ? "\"" : "");
		break;
	case 403:
		if (cluster_scope)
			kube_errf(err,
			    "forbidden: you cannot %s %s at the cluster scope (the API server said: %s); ask a cluster admin for a ClusterRole granting \"%s\" on \"%s\", and check with: kubectl auth can-i %s %s",
			    verb, what, smsg, verb, res, verb, res);
		else
			kube_errf(err,
			    "forbidden: you cannot %s %s in namespace \"%s\" (the API server said: %s); ask a cluster admin for a Role granting \"%s\" on \"%s\" in \"%s\", and check with: kubectl auth can-i %s %s -n %s",
			    verb, what, ns ? ns : "", smsg, verb, res,
			    ns ? ns : "", verb, res, ns ? ns : "");
		break;
	case 404:
		if (st == NULL || strcmp(reason, "NotFound") != 0 ||
		    (details != NULL &&
		        kube_json_str(details, "name") == NULL && msg != NULL &&
		        strstr(msg, "could not find the requested resource")))
			kube_errf(err,
			    "the API server does not serve %s (404: %s); is the API group enabled and the cluster recent enough?",
			    res, smsg);
		else if (!cluster_scope && ns != NULL)
			kube_errf(err, "%s (namespace \"%s\")", smsg, ns);
		else
			kube_errf(err, "%s", smsg);
		break;
	case 409:
		if (strcmp(reason, "AlreadyExists") == 0)
			kube_errf(err, "%s", smsg);
		else if (causes[0] != '\0')
			kube_errf(err,
			    "%s%s; another field manager owns these fields: apply with force to take them over, or leave them out",
			    smsg, causes);
		else
			kube_errf(err,
			    "%s (someone changed it since it was read: read it again and retry)",
			    smsg);
		break;
	case 410:
		kube_errf(err,
		    "the resourceVersion is too old (410 %s: %s); list again",
		    reason[0] ? reason : "Gone", smsg);
		break;
	case 422:
	case 400:
		kube_errf(err, "the API server refused to %s %s: %s%s", verb,
		    what, smsg, causes);
		break;
	case 429:
		kube_errf(err,
		    "the API server is throttling requests (429 Too Many Requests); retry in %ld s",
		    err->retry_after > 0 ? err->retry_after : 1);
		break;
	default:
		if (code >= 500)
			kube_errf(err,
			    "the API server failed to %s %s (HTTP %ld%s%s): %s; retry later",
			    verb, what, code, reason[0] ? " " : "", reason,
			    smsg);
		else
			kube_errf(err,
			    "HTTP %ld from the API server on %s %s: %s", code,
			    verb, what, smsg);
		break;
	}
	return ret;
}

int
kube_status_decode(long http_status, const char *body, size_t len,
    const struct kube_op *op, struct kube_error *err)
{
	cJSON *st = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	int r = kube_status_json(http_status, st, body, len, op, err);

	cJSON_Delete(st);
	return r;
}

/* ---------------------------------------------------------------------- */
/* the client */

void
kube_client_free(struct kube_client *c)
{
	if (c == NULL)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	if (c->wh)
		curl_easy_cleanup(c->wh);
	free(c->server);
	free(c->base);
	free(c->connect_to);
	free(c->host_header);
	free(c->ca);
	free(c->cert);
	kube_wipe_free(c->key, c->key_len);
	free(c->proxy);
	kube_wipe_str(c->token);
	free(c->token_file);
	free(c->username);
	kube_wipe_str(c->password);
	free(c->imp_user);
	free(c->imp_uid);
	for (size_t i = 0; i < c->n_imp_groups; i++)
		free(c->imp_groups[i]);
	free(c->imp_groups);
	kubeexec_free(c->exec);
	free(c->context);
	free(c->namespace);
	free(c);
}

static void *
kube_memdup(const void *p, size_t len, bool *ok)
{
	void *d;

	if (p == NULL)
		return NULL;
	if ((d = malloc(len ? len : 1)) == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(d, p, len);
	return d;
}

static char *
kube_strdup(const char *s, bool *ok)
{
	return kube_memdup(s, s ? strlen(s) + 1 : 0, ok);
}

int
kube_server_url_parse(const struct kubeconfig_resolved *rc,
    struct kube_server_url *ret, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	struct kube_server_url v = {NULL, NULL, NULL, NULL};
	size_t pl;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, rc->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &v.scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &v.host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &v.port, CURLU_DEFAULT_PORT) !=
	        CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &v.path, 0) != CURLUE_OK ||
	    (strcmp(v.scheme, "https") != 0 && strcmp(v.scheme, "http") != 0)) {
		snprintf(err, errlen,
		    "the server \"%.200s\" of context \"%s\" is not an http(s)://host[:port] URL",
		    rc->server, rc->context ? rc->context : "");
		kube_server_url_free(&v);
		curl_url_cleanup(u);
		return -EINVAL;
	}
	curl_url_cleanup(u);
	pl = strlen(v.path);
	while (pl > 0 && v.path[pl - 1] == '/')
		v.path[--pl] = '\0';
	*ret = v;
	return 0;
}

void
kube_server_url_free(struct kube_server_url *u)
{
	curl_free(u->scheme);
	curl_free(u->host);
	curl_free(u->port);
	curl_free(u->path);
	u->scheme = u->host = u->port = u->path = NULL;
}

/* Splits rc->server into the base URL (and CONNECT_TO for a TLS name). */
static int
kube_parse_server(struct kube_client *c, const struct kubeconfig_resolved *rc,
    char *err, size_t errlen)
{
	struct kube_server_url url;
	const char *name;
	int r;

	r = kube_server_url_parse(rc, &url, err, errlen);
	if (r < 0)
		return r;
	r = -EINVAL;
	name = url.host;
	if (rc->tls_server_name != NULL && strcmp(url.scheme, "https") == 0) {
		name = rc->tls_server_name;
		if (strpbrk(name, ":/[]@ ") != NULL) {
			snprintf(err, errlen,
			    "tls-server-name \"%.200s\" of context \"%s\" is not a host name",
			    name, rc->context ? rc->context : "");
			goto out;
		}
		if (asprintf(&c->connect_to, "%s:%s:%s:%s", name, url.port,
		        url.host, url.port) < 0 ||
		    asprintf(&c->host_header, "Host: %s:%s", url.host,
		        url.port) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (asprintf(&c->base, "%s://%s:%s%s", url.scheme, name, url.port,
	        url.path) < 0) {
		c->base = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	kube_server_url_free(&url);
	return r;
}

int
kube_client_new(const struct kubeconfig_resolved *rc,
    const struct kube_client_opts *opts, struct kube_client **ret, char *err,
    size_t errlen)
{
	struct kube_client *c = calloc(1, sizeof(*c));
	bool ok = true;
	int r;

	if (c == NULL)
		return -ENOMEM;
	c->h = curl_easy_init();
	c->wh = curl_easy_init();
	c->server = kube_strdup(rc->server, &ok);
	c->ca = kube_memdup(rc->ca_pem, rc->ca_pem_len, &ok);
	c->ca_len = rc->ca_pem_len;
	c->cert =
	    kube_memdup(rc->client_cert_pem, rc->client_cert_pem_len, &ok);
	c->cert_len = rc->client_cert_pem_len;
	c->key = kube_memdup(rc->client_key_pem, rc->client_key_pem_len, &ok);
	c->key_len = rc->client_key_pem_len;
	c->insecure = rc->insecure_skip_tls_verify;
	c->compress = !rc->disable_compression;
	c->proxy = kube_strdup(rc->proxy_url, &ok);
	c->token = kube_strdup(rc->token, &ok);
	c->token_file = kube_strdup(rc->token_file, &ok);
	c->username = kube_strdup(rc->username, &ok);
	c->password = kube_strdup(rc->password, &ok);
	c->imp_user = kube_strdup(rc->impersonate, &ok);
	c->imp_uid = kube_strdup(rc->impersonate_uid, &ok);
	c->context = kube_strdup(rc->context, &ok);
	c->namespace =
	    kube_strdup(rc->namespace ? rc->namespace : "default", &ok);
	if (rc->n_impersonate_groups > 0) {
		c->imp_groups =
		    calloc(rc->n_impersonate_groups, sizeof(char *));
		if (c->imp_groups == NULL)
			ok = false;
		for (size_t i = 0; ok && i < rc->n_impersonate_groups; i++) {
			c->imp_groups[i] =
			    kube_strdup(rc->impersonate_groups[i], &ok);
			c->n_imp_groups = i + 1;
		}
	}
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms
	                                             : KUBE_DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms = opts && opts->connect_timeout_ms > 0
	                            ? opts->connect_timeout_ms
	                            : KUBE_DEFAULT_CONNECT_MS;
	c->max_body =
	    opts && opts->max_body > 0 ? opts->max_body : KUBE_MAX_BODY;
	if (opts && opts->exec_set) {
		c->clock = opts->exec.clock;
		c->clock_arg = opts->exec.clock_arg;
	}
	if (rc->exec != NULL) {
		struct kubeexec_opts eo = {.stdin_tty = -1};

		if (opts && opts->exec_set)
			eo = opts->exec;
		c->exec = kubeexec_new(
		    rc->exec, rc->exec_cluster_json, rc->user_name, &eo);
		if (c->exec == NULL)
			ok = false;
	}
	c->token_read = c->token_file
	                    ? (c->clock ? c->clock(c->clock_arg) : time(NULL))
	                    : 0;
	if (!ok || c->h == NULL || c->wh == NULL) {
		kube_client_free(c);
		return -ENOMEM;
	}
	if ((r = kube_parse_server(c, rc, err, errlen)) < 0) {
		kube_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

const char *
kube_client_namespace(const struct kube_client *c)
{
	return c->namespace;
}

static time_t
kube_now(const struct kube_client *c)
{
	return c->clock ? c->clock(c->clock_arg) : time(NULL);
}

/* Re-reads the token file when due (or forced); keeps the old token if
 * the file cannot be read now, as client-go does. Returns true when the
 * token changed. */
static bool
kube_reread_token(struct kube_client *c, bool force)
{
	char *tok = NULL, msg[KUBECONFIG_ERR_MAX];
	time_t now = kube_now(c);
	bool changed;

	if (c->token_file == NULL ||
	    (!force && c->token != NULL &&
	        now - c->token_read < KUBE_TOKEN_FILE_SECS))
		return false;
	c->token_read = now;
	if (kubeconfig_read_token_file(c->token_file, &tok, msg, sizeof(msg)) <
	    0) {
		log_debug(LOG_CAT_KUBE, "%s", msg);
		return false;
	}
	changed = c->token == NULL || strcmp(c->token, tok) != 0;
	kube_wipe_str(c->token);
	c->token = tok;
	return changed;
}

static void
kube_slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i != NULL; i = i->next)
		OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static int kube_add_header(struct curl_slist **l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
kube_add_header(struct curl_slist **l, const char *fmt, ...)
{
	struct curl_slist *n;
	char *s;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	n = curl_slist_append(*l, s);
	kube_wipe_str(s);
	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

static size_t
kube_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct kube_xfer *x = ud;
	size_t n = size * nmemb;
	int r;

	if (!x->have_status) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		x->have_status = true;
	}
	if (x->stream != NULL && x->status >= 200 && x->status < 300) {
		r = x->stream(x->stream_arg, ptr, n);
		if (r != 0) {
			x->abort_ret = r;
			return 0;
		}
		return n;
	}
	if ((r = kube_buf_append(&x->body, ptr, n)) < 0) {
		x->abort_ret = r;
		return 0;
	}
	return n;
}

/* Adds "Authorization: Basic base64(user:password)". */
static int
kube_basic_header(struct kube_client *c, struct curl_slist **hd)
{
	char *pair = NULL;
	unsigned char *b64;
	size_t len;
	int n, r;

	n = asprintf(
	    &pair, "%s:%s", c->username, c->password ? c->password : "");
	if (n < 0)
		return -ENOMEM;
	len = ((size_t)n + 2) / 3 * 4 + 1;
	if ((b64 = malloc(len)) == NULL) {
		kube_wipe_str(pair);
		return -ENOMEM;
	}
	EVP_EncodeBlock(b64, (const unsigned char *)pair, n);
	r = kube_add_header(hd, "Authorization: Basic %s", (char *)b64);
	kube_wipe_str(pair);
	kube_wipe_free(b64, len);
	return r;
}

/* Sets h up for one request. The caller frees *ret_hdrs and *ret_ct
 * (set even on failure) after the transfer. */
static int
kube_setup(struct kube_client *c, CURL *h, const char *method, const char *path,
    const char *ctype, const char *body, size_t blen, bool watch,
    struct kube_xfer *x, struct curl_slist **ret_hdrs,
    struct curl_slist **ret_ct, struct kube_error *err)
{
	const struct kubeexec_cred *cred = NULL;
	struct curl_slist *hd = NULL;
	const char *token = c->token;
	char *url = NULL, eb[KUBEEXEC_ERR_MAX];
	int r;

	if (c->exec != NULL) {
		r = kubeexec_get(c->exec, &cred, eb, sizeof(eb));
		if (r < 0) {
			kube_errf(err,
			    "cannot get credentials for context \"%s\": %s",
			    c->context ? c->context : "", eb);
			return r;
		}
		token = cred->token;
	} else {
		kube_reread_token(c, false);
		token = c->token;
	}
	if (asprintf(&url, "%s%s", c->base, path) < 0)
		return -ENOMEM;
	curl_easy_reset(h);
	c->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(
	    h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
	if (!watch)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (c->connect_to != NULL) {
		*ret_ct = curl_slist_append(NULL, c->connect_to);
		if (*ret_ct == NULL)
			return -ENOMEM;
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, *ret_ct);
		if ((r = kube_add_header(&hd, "%s", c->host_header)) < 0)
			goto fail;
	}
	/* Trust exactly the kubeconfig's CA when it gives one. */
	if (c->ca != NULL) {
		struct curl_blob blob = {c->ca, c->ca_len, CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cred != NULL && cred->client_cert_pem != NULL) {
		struct curl_blob cb = {cred->client_cert_pem,
		    strlen(cred->client_cert_pem), CURL_BLOB_COPY};
		struct curl_blob kb = {cred->client_key_pem,
		    strlen(cred->client_key_pem), CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->cert != NULL) {
		struct curl_blob cb = {c->cert, c->cert_len, CURL_BLOB_COPY};
		struct curl_blob kb = {c->key, c->key_len, CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
	if (c->compress)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, KUBE_USER_AGENT);
	if (token != NULL) {
		r = kube_add_header(&hd, "Authorization: Bearer %s", token);
		if (r < 0)
			goto fail;
	} else if (c->username != NULL) {
		/* A header of our own (not CURLOPT_USERNAME), so that callers
		 * writing their own request get it too. */
		if ((r = kube_basic_header(c, &hd)) < 0)
			goto fail;
	}
	if (c->imp_user != NULL &&
	    (r = kube_add_header(&hd, "Impersonate-User: %s", c->imp_user)) < 0)
		goto fail;
	if (c->imp_uid != NULL &&
	    (r = kube_add_header(&hd, "Impersonate-Uid: %s", c->imp_uid)) < 0)
		goto fail;
	for (size_t i = 0; i < c->n_imp_groups; i++)
		if ((r = kube_add_header(
		         &hd, "Impersonate-Group: %s", c->imp_groups[i])) < 0)
			goto fail;
	if ((r = kube_add_header(&hd, "Accept: application/json")) < 0 ||
	    (r = kube_add_header(&hd, "Expect:")) < 0)
		goto fail;
	if (body != NULL) {
		if ((r = kube_add_header(&hd, "Content-Type: %s", ctype)) < 0)
			goto fail;
		curl_easy_setopt(
		    h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") != 0 &&
	    !(strcmp(method, "POST") == 0 && body != NULL))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	if (x == NULL) {
		/* kube_setup_handle(): the caller's transfer from here on. */
		*ret_hdrs = hd;
		return 0;
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (watch) {
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 64L * 1024);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, x->stall_secs);
	}
	*ret_hdrs = hd;
	return 0;
fail:
	kube_slist_wipe_free(hd);
	return r;
}

static int
kube_curl_error(struct kube_client *c, CURLcode cc, struct kube_error *err)
{
	const char *why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc);
	const char *ctx = c->context ? c->context : "";

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		kube_errf(err,
		    "cannot resolve the API server %s of context \"%s\": %s; check the server address in the kubeconfig and your DNS or VPN",
		    c->server, ctx, why);
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		kube_errf(err,
		    "cannot connect to the API server %s of context \"%s\": %s; is the cluster running and reachable from here?",
		    c->server, ctx, why);
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		kube_errf(err,
		    "the API server %s of context \"%s\" did not answer in time: %s",
		    c->server, ctx, why);
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
		kube_errf(err,
		    "the API server %s presented a certificate we do not trust: %s; check certificate-authority(-data) and tls-server-name of the cluster of context \"%s\"",
		    c->server, why, ctx);
		return -EPROTO;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ENGINE_NOTFOUND:
		kube_errf(err,
		    "the client certificate or key of context \"%s\" cannot be used: %s",
		    ctx, why);
		return -EINVAL;
	case CURLE_SSL_CONNECT_ERROR:
		kube_errf(err,
		    "the TLS handshake with the API server %s failed: %s%s",
		    c->server, why,
		    c->cert ? "; was our client certificate refused?" : "");
		return -EPROTO;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		kube_errf(err, "the connection to the API server %s broke: %s",
		    c->server, why);
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		kube_errf(err, "out of memory");
		return -ENOMEM;
	default:
		kube_errf(err, "the request to the API server %s failed: %s",
		    c->server, why);
		return -EIO;
	}
}

int
kube_setup_handle(struct kube_client *c, CURL *h, const char *path,
    struct kube_handle_lists *ret, struct kube_error *err)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	kube_err_reset(err);
	if (path == NULL || path[0] != '/') {
		kube_errf(err, "a request path must start with '/'");
		return -EINVAL;
	}
	r = kube_setup(c, h, "GET", path, NULL, NULL, 0, true, NULL,
	    &ret->headers, &ret->connect_to, err);
	if (r < 0) {
		curl_slist_free_all(ret->connect_to);
		ret->connect_to = NULL;
	}
	return r;
}

void
kube_handle_lists_free(struct kube_handle_lists *l)
{
	kube_slist_wipe_free(l->headers);
	curl_slist_free_all(l->connect_to);
	memset(l, 0, sizeof(*l));
}

bool
kube_client_auth_failed(struct kube_client *c)
{
	return kube_refresh_after_401(c);
}

/* May a 401 be cured by refreshing the credential? Refreshes it. */
static bool
kube_refresh_after_401(struct kube_client *c)
{
	if (c->exec != NULL) {
		kubeexec_invalidate(c->exec);
		return true;
	}
	return kube_reread_token(c, true);
}

/*
 * Runs one request on h to completion (a 401 with a refreshable
 * credential is retried once). Returns the 2xx status, a callback's stop
 * value (> 0 or < 0 set in x->abort_ret), or a negative errno with err
 * filled. On success x->body holds the body (unless streamed).
 */
static int
kube_perform(struct kube_client *c, CURL *h, const struct kube_op *op,
    const char *method, const char *path, const char *ctype, const char *body,
    size_t blen, bool watch, struct kube_xfer *x, struct kube_error *err)
{
	struct kube_op dop;
	int r;

	if (op != NULL) {
		dop = *op;
		dop.context = c->context;
		op = &dop;
	}
	for (int attempt = 0;; attempt++) {
		struct curl_slist *hd = NULL, *ct = NULL;
		CURLcode cc;
		long status = 0;
		curl_off_t retry = -1;

		x->h = h;
		x->status = 0;
		x->have_status = false;
		x->abort_ret = 0;
		x->body.len = 0;
		x->body.max = x->stream ? KUBE_MAX_ERROR_BODY : c->max_body;
		r = kube_setup(c, h, method, path, ctype, body, blen, watch, x,
		    &hd, &ct, err);
		if (r < 0) {
			curl_slist_free_all(ct);
			return r;
		}
		cc = curl_easy_perform(h);
		/* Drop options pointing into the lists before freeing them. */
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
		kube_slist_wipe_free(hd);
		curl_slist_free_all(ct);
		if (x->abort_ret != 0) {
			if (x->abort_ret == -EMSGSIZE && err &&
			    err->message[0] == '\0')
				kube_errf(err,
				    "the API server's answer to %s %s is larger than %zu bytes",
				    method, path, x->body.max);
			return x->abort_ret;
		}
		if (cc != CURLE_OK)
			return kube_curl_error(c, cc, err);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		log_debug(LOG_CAT_KUBE, "%s %s: %ld", method, path, status);
		if (status == 401 && attempt == 0 && kube_refresh_after_401(c))
			continue;
		if (status >= 200 && status < 300)
			return (int)status;
		r = kube_status_decode(
		    status, x->body.data, x->body.len, op, err);
		if (err != NULL &&
		    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) ==
		        CURLE_OK &&
		    retry > 0) {
			err->retry_after = (long)retry;
			if (status == 429)
				kube_errf(err,
				    "the API server is throttling requests (429 Too Many Requests); retry in %ld s",
				    err->retry_after);
		}
		return r;
	}
}

/* A buffered request; *ret_obj gets the parsed body (NULL when empty). */
static int
kube_call(struct kube_client *c, const struct kube_op *op, const char *method,
    const char *path, const char *ctype, const char *body, cJSON **ret_obj,
    struct kube_error *err)
{
	struct kube_xfer x = {0};
	cJSON *obj = NULL;
	int r;

	kube_err_reset(err);
	r = kube_perform(c, c->h, op, method, path, ctype, body,
	    body ? strlen(body) : 0, false, &x, err);
	if (r < 0)
		goto out;
	if (x.body.len > 0) {
		obj = cJSON_ParseWithLength(x.body.data, x.body.len);
		if (obj == NULL) {
			char ex[256];

			kube_errf(err,
			    "the API server answered %s %s with something that is not JSON: \"%s\"",
			    method, path,
			    log_escape(ex, sizeof(ex), x.body.data,
			        x.body.len > 120 ? 120 : x.body.len));
			r = -EPROTO;
			goto out;
		}
	}
	if (ret_obj != NULL) {
		*ret_obj = obj;
		obj = NULL;
	}
out:
	cJSON_Delete(obj);
	kube_buf_free(&x.body);
	return r;
}

int
kube_request(struct kube_client *c, const char *method, const char *path,
    const cJSON *body, const char *content_type, cJSON **ret_obj,
    struct kube_error *err)
{
	char *txt = NULL;
	int r;

	if (path == NULL || path[0] != '/') {
		kube_err_reset(err);
		kube_errf(err, "a request path must start with '/'");
		return -EINVAL;
	}
	if (body != NULL && (txt = cJSON_PrintUnformatted(body)) == NULL)
		return -ENOMEM;
	r = kube_call(c, &(struct kube_op){.verb = method}, method, path,
	    content_type ? content_type : "application/json", txt, ret_obj,
	    err);
	free(txt);
	return r;
}

/* ---------------------------------------------------------------------- */
/* typed calls */

static const char *
kube_ns_for(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const cJSON *obj)
{
	const char *ons;

	if (!k->namespaced)
		return NULL;
	if (ns != NULL)
		return ns;
	ons = kube_json_str(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "namespace");
	return ons && *ons ? ons : c->namespace;
}

static int
kube_bad_path(struct kube_error *err, const struct kube_kind *k, const char *ns,
    const char *name, int r)
{
	char en[96], es[96];

	if (r == -ENAMETOOLONG) {
		kube_errf(err, "the name of the %s is too long", k->kind);
		return r;
	}
	kube_errf(err,
	    "invalid %s name \"%s\" or namespace \"%s\" (empty, \".\", \"..\", or holding '/' or control characters)",
	    k->kind, name ? log_escape(en, sizeof(en), name, strlen(name)) : "",
	    ns ? log_escape(es, sizeof(es), ns, strlen(ns)) : "");
	return -EINVAL;
}

int
kube_get(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const char *name, cJSON **ret_obj, struct kube_error *err)
{
	char path[3 * KUBE_MAX_NAME * 2 + 256];
	struct kube_op op = {"get", k, NULL, name, NULL};
	int r;

	kube_err_reset(err);
	op.ns = kube_ns_for(c, k, ns, NULL);
	if ((r = kube_path(k, op.ns, name ? name : "", path, sizeof(path))) < 0)
		return kube_bad_path(err, k, op.ns, name, r);
	r = kube_call(c, &op, "GET", path, NULL, NULL, ret_obj, err);
	return r < 0 ? r : 0;
}

int
kube_list_page(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const struct kube_list_opts *opts, const char *continue_token,
    cJSON **ret_page, struct kube_error *err)
{
	struct kube_op op = {"list", k, NULL, NULL, NULL};
	struct kube_buf q = {.max = 64 * 1024};
	char path[3 * KUBE_MAX_NAME + 256], lim[16];
	cJSON *page = NULL;
	int r;

	kube_err_reset(err);
	op.ns = kube_ns_for(c, k, ns, NULL);
	if ((r = kube_path(k, op.ns, NULL, path, sizeof(path))) < 0)
		return kube_bad_path(err, k, op.ns, NULL, r);
	snprintf(lim, sizeof(lim), "%u",
	    opts && opts->limit ? opts->limit : KUBE_DEFAULT_PAGE);
	if ((r = kube_buf_append(&q, path, strlen(path))) < 0 ||
	    (!(opts && opts->limit == UINT_MAX) &&
	        (r = kube_query(&q, "limit", lim)) < 0) ||
	    (r = kube_query(&q, "continue", continue_token)) < 0 ||
	    (r = kube_query(&q, "labelSelector",
	         opts ? opts->label_selector : NULL)) < 0 ||
	    (r = kube_query(&q, "fieldSelector",
	         opts ? opts->field_selector : NULL)) < 0) {
		kube_buf_free(&q);
		kube_errf(err, "the list query is too long");
		return r == -EMSGSIZE ? -EINVAL : r;
	}
	r = kube_call(c, &op, "GET", q.data, NULL, NULL, &page, err);
	kube_buf_free(&q);
	if (r < 0)
		return r;
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(page, "items")) &&
	    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(page, "items"))) {
		kube_errf(err, "the API server's list of %s has no items",
		    k->resource);
		cJSON_Delete(page);
		return -EPROTO;
	}
	*ret_page = page;
	return 0;
}

static const char *
kube_meta_str(const cJSON *obj, const char *name)
{
	return kube_json_str(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), name);
}

int
kube_list(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const struct kube_list_opts *opts, cJSON **ret_list, struct kube_error *err)
{
	struct kube_list_opts o = {0};
	cJSON *all = NULL, *page = NULL, *items;
	char *cont = NULL;
	size_t n_items = 0;
	bool restarted = false;
	int r = 0;

	if (opts != NULL)
		o = *opts;
	for (unsigned pages = 0;; pages++) {
		const char *next;

		if (pages >= KUBE_MAX_LIST_PAGES) {
			kube_errf(err, "listing %s took more than %d pages",
			    k->resource, KUBE_MAX_LIST_PAGES);
			r = -EMSGSIZE;
			break;
		}
		r = kube_list_page(c, k, ns, &o, cont, &page, err);
		if (r == -ESTALE && cont != NULL && !restarted) {
			/* The continue token expired: start over, whole. */
			log_debug(LOG_CAT_KUBE,
			    "list %s: continue token expired, listing again",
			    k->resource);
			restarted = true;
			o.limit = UINT_MAX;
			free(cont);
			cont = NULL;
			cJSON_Delete(all);
			all = NULL;
			n_items = 0;
			pages = 0;
			continue;
		}
		if (r < 0)
			break;
		items = cJSON_GetObjectItemCaseSensitive(page, "items");
		n_items += (size_t)cJSON_GetArraySize(items);
		if (n_items > KUBE_MAX_LIST_ITEMS) {
			kube_errf(err, "listing %s gave more than %d items",
			    k->resource, KUBE_MAX_LIST_ITEMS);
			r = -EMSGSIZE;
			break;
		}
		next = kube_meta_str(page, "continue");
		free(cont);
		cont = next && *next ? strdup(next) : NULL;
		if (next && *next && cont == NULL) {
			r = -ENOMEM;
			break;
		}
		if (all == NULL) {
			all = page;
			if (cJSON_IsNull(items)) {
				cJSON_ReplaceItemInObjectCaseSensitive(
				    all, "items", cJSON_CreateArray());
			}
		} else {
			cJSON *dst =
			    cJSON_GetObjectItemCaseSensitive(all, "items");

			while (cJSON_GetArraySize(items) > 0)
				cJSON_AddItemToArray(
				    dst, cJSON_DetachItemFromArray(items, 0));
			cJSON_Delete(page);
		}
		page = NULL;
		if (cont == NULL)
			break;
	}
	free(cont);
	cJSON_Delete(page);
	if (r < 0) {
		cJSON_Delete(all);
		return r;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(all, "metadata"), "continue");
	*ret_list = all;
	return 0;
}

/*
 * A copy of obj for a write of kind k (NULL: from the object), with
 * apiVersion and kind filled in. Sets *ret_k.
 */
static int
kube_prepare(const struct kube_kind *k, const cJSON *obj,
    const struct kube_kind **ret_k, char **ret_txt, struct kube_error *err)
{
	const char *kd = kube_json_str(obj, "kind");
	char av[128];
	cJSON *copy;

	if (!cJSON_IsObject(obj)) {
		kube_errf(err, "the object to write is not a JSON object");
		return -EINVAL;
	}
	if (k == NULL) {
		k = kube_kind_of(obj);
		if (k == NULL) {
			kube_errf(err,
			    "the object's kind \"%s\" (apiVersion \"%s\") is not one telepod writes",
			    kd ? kd : "",
			    kube_json_str(obj, "apiVersion")
			        ? kube_json_str(obj, "apiVersion")
			        : "");
			return -EINVAL;
		}
	} else if (kd != NULL && kube_kind_of(obj) != k) {
		kube_errf(err, "the object is a %s, not a %s", kd, k->kind);
		return -EINVAL;
	}
	if ((copy = cJSON_Duplicate(obj, true)) == NULL)
		return -ENOMEM;
	if (k->group[0] == '\0')
		snprintf(av, sizeof(av), "%s", k->version);
	else
		snprintf(av, sizeof(av), "%s/%s", k->group, k->version);
	if (kd == NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(copy, "apiVersion");
		cJSON_AddStringToObject(copy, "apiVersion", av);
		cJSON_AddStringToObject(copy, "kind", k->kind);
	}
	*ret_txt = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (*ret_txt == NULL)
		return -ENOMEM;
	*ret_k = k;
	return 0;
}

/* The common part of create, update and apply. */
static int
kube_write(struct kube_client *c, const char *verb, const char *method,
    const struct kube_kind *k, const char *ns, const cJSON *obj, bool item,
    const char *query1, const char *query2, const char *ctype, cJSON **ret_obj,
    struct kube_error *err)
{
	struct kube_op op = {verb, NULL, NULL, NULL, NULL};
	struct kube_buf q = {.max = 8 * KUBE_MAX_NAME};
	char path[3 * KUBE_MAX_NAME * 2 + 256], *txt = NULL;
	int r;

	kube_err_reset(err);
	if ((r = kube_prepare(k, obj, &k, &txt, err)) < 0)
		return r;
	op.kind = k;
	op.ns = kube_ns_for(c, k, ns, obj);
	op.name = kube_meta_str(obj, "name");
	if (item && op.name == NULL) {
		kube_errf(
		    err, "the %s to %s has no metadata.name", k->kind, verb);
		r = -EINVAL;
		goto out;
	}
	r = kube_path(k, op.ns, item ? op.name : NULL, path, sizeof(path));
	if (r < 0) {
		r = kube_bad_path(err, k, op.ns, op.name, r);
		goto out;
	}
	if ((r = kube_buf_append(&q, path, strlen(path))) < 0)
		goto out;
	if (query1 != NULL)
		r = kube_buf_append(&q, query1, strlen(query1));
	if (r == 0 && query2 != NULL)
		r = kube_buf_append(&q, query2, strlen(query2));
	if (r < 0)
		goto out;
	r = kube_call(c, &op, method, q.data, ctype, txt, ret_obj, err);
	if (r > 0)
		r = 0;
out:
	kube_buf_free(&q);
	if (txt != NULL)
		kube_wipe_str(txt); /* Secrets pass through here */
	return r;
}

int
kube_create(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const cJSON *obj, cJSON **ret_obj, struct kube_error *err)
{
	return kube_write(c, "create", "POST", k, ns, obj, false, NULL, NULL,
	    "application/json", ret_obj, err);
}

int
kube_update(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const cJSON *obj, cJSON **ret_obj, struct kube_error *err)
{
	return kube_write(c, "update", "PUT", k, ns, obj, true, NULL, NULL,
	    "application/json", ret_obj, err);
}

int
kube_apply(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const cJSON *obj, bool force, cJSON **ret_obj, struct kube_error *err)
{
	return kube_write(c, "patch", "PATCH", k, ns, obj, true,
	    "?fieldManager=" KUBE_FIELD_MANAGER, force ? "&force=true" : NULL,
	    "application/apply-patch+yaml", ret_obj, err);
}

int
kube_delete(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const char *name, enum kube_propagation propagation, cJSON **ret_obj,
    struct kube_error *err)
{
	static const char *const pol[] = {
	    [KUBE_PROPAGATION_DEFAULT] = NULL,
	    [KUBE_PROPAGATION_FOREGROUND] = "Foreground",
	    [KUBE_PROPAGATION_BACKGROUND] = "Background",
	    [KUBE_PROPAGATION_ORPHAN] = "Orphan",
	};
	struct kube_op op = {"delete", k, NULL, name, NULL};
	struct kube_buf q = {.max = 8 * KUBE_MAX_NAME};
	char path[3 * KUBE_MAX_NAME * 2 + 256];
	int r;

	kube_err_reset(err);
	if ((unsigned)propagation > KUBE_PROPAGATION_ORPHAN)
		return -EINVAL;
	op.ns = kube_ns_for(c, k, ns, NULL);
	if ((r = kube_path(k, op.ns, name ? name : "", path, sizeof(path))) < 0)
		return kube_bad_path(err, k, op.ns, name, r);
	if ((r = kube_buf_append(&q, path, strlen(path))) == 0)
		r = kube_query(&q, "propagationPolicy", pol[propagation]);
	if (r == 0)
		r = kube_call(
		    c, &op, "DELETE", q.data, NULL, NULL, ret_obj, err);
	kube_buf_free(&q);
	return r < 0 ? r : 0;
}

/* ---------------------------------------------------------------------- */
/* watch */

struct kube_wstate {
	const struct kube_op *op;
	kube_watch_fn fn;
	void *arg;
	struct kube_buf line;
	char *rv;
	unsigned events;
	struct kube_error *err;
};

static int
kube_set_rv(struct kube_wstate *w, const cJSON *obj)
{
	const char *rv = kube_meta_str(obj, "resourceVersion");
	char *d;

	if (rv == NULL || *rv == '\0')
		return 0;
	if ((d = strdup(rv)) == NULL)
		return -ENOMEM;
	free(w->rv);
	w->rv = d;
	return 0;
}

/* One event line. */
static int
kube_wline(struct kube_wstate *w, const char *line, size_t len)
{
	static const struct {
		const char *name;
		enum kube_event_type type;
	} types[] = {
	    {"ADDED", KUBE_EVENT_ADDED},
	    {"MODIFIED", KUBE_EVENT_MODIFIED},
	    {"DELETED", KUBE_EVENT_DELETED},
	    {"BOOKMARK", KUBE_EVENT_BOOKMARK},
	};
	struct kube_event ev;
	const cJSON *type, *obj;
	char ex[160];
	cJSON *j;
	size_t i;
	int r;

	while (len > 0 && strchr(" \t\r", line[len - 1]) != NULL)
		len--;
	if (len == 0)
		return 0;
	j = cJSON_ParseWithLength(line, len);
	type = cJSON_GetObjectItemCaseSensitive(j, "type");
	obj = cJSON_GetObjectItemCaseSensitive(j, "object");
	if (j == NULL || !cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		kube_errf(w->err,
		    "the API server sent a malformed watch event: \"%s\"",
		    log_escape(ex, sizeof(ex), line, len > 80 ? 80 : len));
		cJSON_Delete(j);
		return -EPROTO;
	}
	if (strcmp(type->valuestring, "ERROR") == 0) {
		r = kube_status_json(0, obj, NULL, 0, w->op, w->err);
		cJSON_Delete(j);
		return r;
	}
	for (i = 0; i < sizeof(types) / sizeof(*types); i++)
		if (strcmp(type->valuestring, types[i].name) == 0)
			break;
	if (i == sizeof(types) / sizeof(*types)) {
		kube_errf(w->err,
		    "the API server sent a watch event of unknown type \"%s\"",
		    log_escape(ex, sizeof(ex), type->valuestring,
		        strlen(type->valuestring)));
		cJSON_Delete(j);
		return -EPROTO;
	}
	if ((r = kube_set_rv(w, obj)) < 0) {
		cJSON_Delete(j);
		return r;
	}
	w->events++;
	ev.type = types[i].type;
	ev.object = obj;
	ev.resource_version = w->rv;
	r = w->fn(&ev, w->arg);
	cJSON_Delete(j);
	if (r < 0 && w->err && w->err->message[0] == '\0')
		kube_errf(w->err, "the watch of %s was stopped: %s",
		    w->op->kind->resource, strerror(-r));
	return r;
}

/* The line splitter: data arrives in arbitrary pieces. */
static int
kube_wdata(void *arg, const char *data, size_t len)
{
	struct kube_wstate *w = arg;
	int r;

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;

		if (nl != NULL && w->line.len == 0) {
			/* A whole line in the buffer: no copy. */
			if (take > w->line.max)
				goto too_long;
			r = kube_wline(w, data, take);
		} else {
			if (kube_buf_append(&w->line, data, take) < 0)
				goto too_long;
			if (nl == NULL)
				return 0;
			r = kube_wline(w, w->line.data, w->line.len);
			w->line.len = 0;
		}
		if (r != 0)
			return r;
		data += take + 1;
		len -= take + 1;
	}
	return 0;
too_long:
	kube_errf(w->err, "a watch event of %s is longer than %zu bytes",
	    w->op->kind->resource, w->line.max);
	return -EMSGSIZE;
}

/* kube_watch() that also counts the events delivered. */
static int
kube_watch_count(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const struct kube_watch_opts *opts, kube_watch_fn fn,
    void *arg, char **ret_rv, unsigned *ret_events, struct kube_error *err)
{
	struct kube_op op = {"watch", k, NULL, NULL, NULL};
	struct kube_wstate w = {.op = &op, .fn = fn, .arg = arg, .err = err};
	struct kube_buf q = {.max = 64 * 1024};
	struct kube_xfer x = {0};
	char path[3 * KUBE_MAX_NAME + 256], secs[16];
	const char *rv = opts ? opts->resource_version : NULL;
	int r;

	kube_err_reset(err);
	op.ns = kube_ns_for(c, k, ns, NULL);
	w.line.max =
	    opts && opts->max_line ? opts->max_line : KUBE_WATCH_MAX_LINE;
	if (rv != NULL && (w.rv = strdup(rv)) == NULL)
		return -ENOMEM;
	if ((r = kube_path(k, op.ns, NULL, path, sizeof(path))) < 0) {
		free(w.rv);
		return kube_bad_path(err, k, op.ns, NULL, r);
	}
	snprintf(secs, sizeof(secs), "%u",
	    opts && opts->timeout_seconds ? opts->timeout_seconds
	                                  : KUBE_DEFAULT_WATCH_SECS);
	if ((r = kube_buf_append(&q, path, strlen(path))) < 0 ||
	    (r = kube_query(&q, "watch", "1")) < 0 ||
	    (!(opts && opts->no_bookmarks) &&
	        (r = kube_query(&q, "allowWatchBookmarks", "true")) < 0) ||
	    (r = kube_query(&q, "timeoutSeconds", secs)) < 0 ||
	    (r = kube_query(&q, "resourceVersion", rv)) < 0 ||
	    (r = kube_query(&q, "labelSelector",
	         opts ? opts->label_selector : NULL)) < 0 ||
	    (r = kube_query(&q, "fieldSelector",
	         opts ? opts->field_selector : NULL)) < 0) {
		kube_errf(err, "the watch query is too long");
		r = r == -EMSGSIZE ? -EINVAL : r;
		goto out;
	}
	x.stream = kube_wdata;
	x.stream_arg = &w;
	/* No total timeout; a stalled stream (nothing for the server's own
	 * timeout plus a minute) is dropped. */
	x.stall_secs = (long)strtoul(secs, NULL, 10) + 60;
	r = kube_perform(
	    c, c->wh, &op, "GET", q.data, NULL, NULL, 0, true, &x, err);
	if (x.abort_ret != 0) {
		r = x.abort_ret; /* the callback's value, or a stream error */
	} else if (r >= 200 && r < 300) {
		/* A clean end; a partial last line is a broken stream. */
		r = 0;
		if (w.line.len > 0) {
			kube_errf(err,
			    "the watch of %s ended in the middle of an event",
			    k->resource);
			r = -EPROTO;
		}
	}
out:
	if (ret_rv != NULL) {
		*ret_rv = w.rv;
		w.rv = NULL;
	}
	if (ret_events != NULL)
		*ret_events = w.events;
	free(w.rv);
	kube_buf_free(&w.line);
	kube_buf_free(&q);
	kube_buf_free(&x.body);
	return r;
}

int
kube_watch(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const struct kube_watch_opts *opts, kube_watch_fn fn, void *arg,
    char **ret_rv, struct kube_error *err)
{
	return kube_watch_count(c, k, ns, opts, fn, arg, ret_rv, NULL, err);
}

static void
kube_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
kube_list_watch(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const struct kube_watch_opts *opts, kube_watch_fn fn,
    void *arg, struct kube_error *err)
{
	struct kube_list_opts lo = {0};
	struct kube_watch_opts wo = {0};
	int r;

	if (opts != NULL)
		wo = *opts;
	lo.label_selector = wo.label_selector;
	lo.field_selector = wo.field_selector;
	for (;;) {
		struct kube_event ev = {.type = KUBE_EVENT_SYNC};
		cJSON *list = NULL;
		char *rv;

		if ((r = kube_list(c, k, ns, &lo, &list, err)) < 0)
			return r;
		ev.object = list;
		ev.resource_version = kube_meta_str(list, "resourceVersion");
		rv = ev.resource_version ? strdup(ev.resource_version) : NULL;
		if (ev.resource_version != NULL && rv == NULL) {
			cJSON_Delete(list);
			return -ENOMEM;
		}
		r = fn(&ev, arg);
		cJSON_Delete(list);
		if (r != 0) {
			free(rv);
			return r;
		}
		for (;;) {
			struct timespec t0, t1;
			unsigned events = 0;
			char *next = NULL;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			wo.resource_version = rv;
			r = kube_watch_count(
			    c, k, ns, &wo, fn, arg, &next, &events, err);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (next != NULL) {
				free(rv);
				rv = next;
			}
			if (r != 0 && r != -ESTALE) {
				free(rv);
				return r;
			}
			/* A stream that gave nothing at once: do not spin. */
			if (events == 0 && t1.tv_sec - t0.tv_sec < 1)
				kube_sleep_ms(1000);
			if (r == -ESTALE) {
				log_debug(LOG_CAT_KUBE,
				    "watch %s: resourceVersion %s expired, listing again",
				    k->resource, rv ? rv : "(none)");
				break;
			}
		}
		free(rv);
	}
}
