/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth: authentication (client certificate CN or static bearer token),
 * RBAC-lite deny rules with the real server's Forbidden wording, the
 * fake's PKI on disk (made with common/certs) and its TLS context, and the
 * kubeconfig that points kubectl or telepod at it.
 */
#include "tests/fakeapi/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/certs.h"

#define AUTH_MAX_PEM (64 * 1024)

struct auth_token {
	char *token;
	char *user;
};

struct auth_rule {
	char *user, *verb, *resource, *ns;
};

struct auth {
	struct auth_token tokens[AUTH_MAX_TOKENS];
	size_t n_tokens;
	struct auth_rule rules[AUTH_MAX_RULES];
	size_t n_rules;
};

struct auth *
auth_new(void)
{
	return calloc(1, sizeof(struct auth));
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_tokens; i++) {
		OPENSSL_cleanse(a->tokens[i].token, strlen(a->tokens[i].token));
		free(a->tokens[i].token);
		free(a->tokens[i].user);
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		free(a->rules[i].user);
		free(a->rules[i].verb);
		free(a->rules[i].resource);
		free(a->rules[i].ns);
	}
	free(a);
}

int
auth_add_token(struct auth *a, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct auth_token *t;

	if (eq == NULL || eq == spec || eq[1] == '\0' ||
	    strlen(eq + 1) >= AUTH_MAX_USER)
		return -EINVAL;
	if (a->n_tokens == AUTH_MAX_TOKENS)
		return -E2BIG;
	t = &a->tokens[a->n_tokens];
	t->token = strndup(spec, (size_t)(eq - spec));
	t->user = strdup(eq + 1);
	if (t->token == NULL || t->user == NULL) {
		free(t->token);
		free(t->user);
		return -ENOMEM;
	}
	a->n_tokens++;
	return 0;
}

int
auth_add_forbid(struct auth *a, const char *spec)
{
	char *copy, *parts[4] = {NULL, NULL, NULL, NULL}, *save = NULL, *p;
	size_t n = 0;
	struct auth_rule *r;
	int ret = 0;

	if (a->n_rules == AUTH_MAX_RULES)
		return -E2BIG;
	copy = strdup(spec);
	if (copy == NULL)
		return -ENOMEM;
	for (p = strtok_r(copy, ":", &save); p != NULL;
	     p = strtok_r(NULL, ":", &save)) {
		if (n == 4) {
			ret = -EINVAL;
			goto out;
		}
		parts[n++] = p;
	}
	if (n < 3) {
		ret = -EINVAL;
		goto out;
	}
	r = &a->rules[a->n_rules];
	r->user = strdup(parts[0]);
	r->verb = strdup(parts[1]);
	r->resource = strdup(parts[2]);
	r->ns = strdup(n == 4 ? parts[3] : "*");
	if (r->user == NULL || r->verb == NULL || r->resource == NULL ||
	    r->ns == NULL) {
		free(r->user);
		free(r->verb);
		free(r->resource);
		free(r->ns);
		ret = -ENOMEM;
		goto out;
	}
	a->n_rules++;
out:
	free(copy);
	return ret;
}

/* Compares secrets without an early exit. */
static bool
auth_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

bool
auth_authenticate(const struct auth *a, const char *cert_cn, const char *authz,
    char *user, size_t len)
{
	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
		const char *tok = authz + 7;

		while (*tok == ' ')
			tok++;
		for (size_t i = 0; i < a->n_tokens; i++) {
			if (auth_token_equal(a->tokens[i].token, tok)) {
				snprintf(user, len, "%s", a->tokens[i].user);
				return true;
			}
		}
		/* A wrong token is 401 even with a good certificate: the
		 * real server's token authenticator rejects the request. */
		return false;
	}
	if (cert_cn != NULL && cert_cn[0] != '\0') {
		snprintf(user, len, "%s", cert_cn);
		return true;
	}
	return false;
}

static bool
auth_match(const char *pattern, const char *value)
{
	return strcmp(pattern, "*") == 0 || strcmp(pattern, value) == 0;
}

bool
auth_allowed(const struct auth *a, const char *user, const char *verb,
    const char *resource, const char *ns)
{
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct auth_rule *r = &a->rules[i];

		if (auth_match(r->user, user) && auth_match(r->verb, verb) &&
		    auth_match(r->resource, resource) &&
		    (strcmp(r->ns, "*") == 0 || strcmp(r->ns, ns) == 0))
			return false;
	}
	return true;
}

const char *
auth_forbidden_reason(char *buf, size_t len, const char *user, const char *verb,
    const char *resource, const char *group, const char *ns)
{
	if (ns != NULL && ns[0] != '\0')
		snprintf(buf, len,
		    "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the namespace \"%s\"",
		    user, verb, resource, group, ns);
	else
		snprintf(buf, len,
		    "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster scope",
		    user, verb, resource, group);
	return buf;
}

int
auth_pki_ensure(
    const char *dir, const char *extra_name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	const char *names[1];
	size_t n = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, CERTS_CA_KEY) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "state directory name too long");
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) == 0)
		return 0;
	if (extra_name != NULL && extra_name[0] != '\0' &&
	    strcmp(extra_name, "127.0.0.1") != 0 &&
	    strcmp(extra_name, "localhost") != 0 &&
	    strcmp(extra_name, "::1") != 0 &&
	    strcmp(extra_name, "0.0.0.0") != 0 && strcmp(extra_name, "::") != 0)
		names[n++] = extra_name;
	return certs_create(dir, names, n, 365, 0, err, errlen);
}

static int
auth_ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, e != 0 ? buf : "unknown error");
	return -EIO;
}

static int
auth_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* Only HTTP/1.1: kubectl then never tries h2, and WebSocket
	 * upgrades work (RFC 8441 over h2 is not offered). */
	for (unsigned int i = 0; i < inlen;) {
		unsigned int l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

int
auth_server_ctx_new(
    const char *dir, SSL_CTX **ret_ctx, char *err, size_t errlen)
{
	char path[PATH_MAX];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int r = 0;

	if (ctx == NULL)
		return auth_ossl_err(err, errlen, "cannot make a TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	snprintf(path, sizeof(path), "%s/%s", dir, CERTS_SERVER_CRT);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
		r = auth_ossl_err(err, errlen, "cannot load server.crt");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CERTS_SERVER_KEY);
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
		r = auth_ossl_err(err, errlen, "cannot load server.key");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CERTS_CA_CRT);
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
		r = auth_ossl_err(err, errlen, "cannot load ca.crt");
		goto out;
	}
	{
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);

		if (names != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, auth_alpn_cb, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
out:
	if (r < 0)
		SSL_CTX_free(ctx);
	else
		*ret_ctx = ctx;
	return r;
}

/* Reads a small PEM file and base64-encodes it (one line) into a new
 * string. */
static int
auth_file_b64(const char *path, char **ret, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	char *b64 = NULL;
	size_t n;
	int r = 0;

	if (f == NULL) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	data = malloc(AUTH_MAX_PEM + 1);
	if (data == NULL) {
		r = -ENOMEM;
		goto out;
	}
	n = fread(data, 1, AUTH_MAX_PEM + 1, f);
	if (n > AUTH_MAX_PEM) {
		snprintf(err, errlen, "%s is too large for a PEM file", path);
		r = -EFBIG;
		goto out;
	}
	b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (b64 == NULL) {
		r = -ENOMEM;
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, data, (int)n);
	*ret = b64;
	b64 = NULL;
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, AUTH_MAX_PEM + 1);
		free(data);
	}
	free(b64);
	fclose(f);
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return r;
}

int
auth_write_kubeconfig(const char *dir, const char *url, const char *path,
    char *err, size_t errlen)
{
	static const char *const files[3] = {
	    CERTS_CA_CRT, CERTS_CLIENT_CRT, CERTS_CLIENT_KEY};
	char *b64[3] = {NULL, NULL, NULL};
	char p[PATH_MAX], tmp[PATH_MAX];
	FILE *f = NULL;
	int fd = -1, r = 0;

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		r = auth_file_b64(p, &b64[i], err, errlen);
		if (r < 0)
			goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "kubeconfig path too long");
		r = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		r = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-r));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f,
	    "apiVersion: v1\n"
	    "kind: Config\n"
	    "clusters:\n"
	    "- name: fakeapi\n"
	    "  cluster:\n"
	    "    server: %s\n"
	    "    certificate-authority-data: %s\n"
	    "users:\n"
	    "- name: fakeapi-admin\n"
	    "  user:\n"
	    "    client-certificate-data: %s\n"
	    "    client-key-data: %s\n"
	    "contexts:\n"
	    "- name: fakeapi\n"
	    "  context:\n"
	    "    cluster: fakeapi\n"
	    "    user: fakeapi-admin\n"
	    "    namespace: default\n"
	    "current-context: fakeapi\n"
	    "preferences: {}\n",
	    url, b64[0], b64[1], b64[2]);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-r));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		    strerror(-r));
		unlink(tmp);
	}
out:
	for (int i = 0; i < 3; i++) {
		if (b64[i] != NULL) {
			OPENSSL_cleanse(b64[i], strlen(b64[i]));
			free(b64[i]);
		}
	}
	return r;
}
