/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth: who is calling the fake API server and what they may do.
 *
 * Authentication as the real server's x509 and static-token authenticators:
 * a client certificate signed by the fake's CA names the user by its common
 * name; otherwise "Authorization: Bearer TOKEN" must match a --token
 * TOKEN=USER pair. Anything else is 401 Unauthorized (anonymous access is
 * off, as with --anonymous-auth=false).
 *
 * Authorization is an "RBAC-lite" deny list: every authenticated user may do
 * everything except what a --forbid USER:VERB:RESOURCE[:NAMESPACE] rule
 * denies ("*" matches any user, verb, resource or namespace; RESOURCE may
 * name a subresource, "pods/portforward"). Denials produce the real
 * server's Forbidden message text.
 *
 * The PKI (CA, server and client certificates) lives in a state directory
 * and is made there with common/certs on first start.
 */
#ifndef TELEPOD_FAKEAPI_AUTH_H
#define TELEPOD_FAKEAPI_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#define AUTH_MAX_TOKENS 64
#define AUTH_MAX_RULES  64
#define AUTH_MAX_USER   128

struct auth;

/* Makes an empty policy. Caller frees with auth_free(). NULL when out of
 * memory. */
struct auth *auth_new(void);
void auth_free(struct auth *a);

/* Adds "TOKEN=USER". Returns 0, -EINVAL (malformed) or -E2BIG. */
int auth_add_token(struct auth *a, const char *spec);
/* Adds "USER:VERB:RESOURCE[:NAMESPACE]". Returns 0, -EINVAL or -E2BIG. */
int auth_add_forbid(struct auth *a, const char *spec);

/*
 * Finds the user of a request: cert_cn is the verified client certificate's
 * common name (NULL when none), authz the Authorization header (NULL when
 * none). A valid bearer token wins over the certificate, as in the real
 * server's union authenticator (tokens are tried first). Writes the user
 * name to user (AUTH_MAX_USER bytes). Returns true when authenticated.
 */
bool auth_authenticate(const struct auth *a, const char *cert_cn,
    const char *authz, char *user, size_t len);

/* Whether user may do verb on resource (with "/subresource" when any) in
 * namespace ns ("" for cluster scope). */
bool auth_allowed(const struct auth *a, const char *user, const char *verb,
    const char *resource, const char *ns);

/*
 * The real server's reason text for a denial: 'User "u" cannot get
 * resource "pods/portforward" in API group "" in the namespace "ns"' or
 * '... at the cluster scope'. Returns buf.
 */
const char *auth_forbidden_reason(char *buf, size_t len, const char *user,
    const char *verb, const char *resource, const char *group, const char *ns);

/*
 * Makes sure DIR holds ca.crt, ca.key, server.crt, server.key, client.crt
 * and client.key (common/certs layout), creating them when ca.key is
 * missing; extra_name (NULL or a host/IP) is added to the server
 * certificate's names on creation. Returns 0 or a negative errno with a
 * sentence in err.
 */
int auth_pki_ensure(
    const char *dir, const char *extra_name, char *err, size_t errlen);

/*
 * The TLS context of the server from DIR: TLS 1.2 or newer, ALPN
 * "http/1.1" only, client certificates requested and verified against
 * DIR/ca.crt but not required (bearer tokens work without one). Caller
 * frees with SSL_CTX_free. Returns 0 or a negative errno with a sentence.
 */
int auth_server_ctx_new(
    const char *dir, SSL_CTX **ret_ctx, char *err, size_t errlen);

/*
 * Writes a kubeconfig to path (mode 0600, atomically): cluster "fakeapi"
 * with server url and certificate-authority-data from DIR/ca.crt, user
 * "fakeapi-admin" with client-certificate-data and client-key-data from
 * DIR/client.crt and client.key, context "fakeapi" with namespace
 * "default", and current-context "fakeapi". Returns 0 or a negative errno
 * with a sentence in err.
 */
int auth_write_kubeconfig(const char *dir, const char *url, const char *path,
    char *err, size_t errlen);

#endif
