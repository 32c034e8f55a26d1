/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certs: creation of telepod's private PKI. `telepod certs create --out DIR`
 * calls certs_create() to make a CA and one server and one client
 * certificate, all EC P-256, which the two ends then load with
 * tlsconf_server_ctx_new() / tlsconf_client_ctx_new(). The lower-level
 * certs_key_new(), certs_issue(), certs_write_cert() and certs_write_key()
 * are exported for tests (expired certificates, a second CA, a server
 * certificate with other names).
 */
#ifndef TELEPOD_COMMON_CERTS_H
#define TELEPOD_COMMON_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* File names inside a certificate directory. */
#define CERTS_CA_CRT     "ca.crt"
#define CERTS_CA_KEY     "ca.key"
#define CERTS_SERVER_CRT "server.crt"
#define CERTS_SERVER_KEY "server.key"
#define CERTS_CLIENT_CRT "client.crt"
#define CERTS_CLIENT_KEY "client.key"

/* Common names of the certificates certs_create() makes. The client checks
 * the server's certificate against CERTS_SERVER_NAME unless told otherwise. */
#define CERTS_SERVER_NAME "telepod-server"
#define CERTS_CLIENT_NAME "telepod-client"

/* Hard limits on what certs_create() and certs_issue() accept. */
#define CERTS_MAX_DAYS  36500 /* 100 years */
#define CERTS_MAX_NAMES 64    /* subjectAltNames given by the caller */
#define CERTS_MAX_NAME  253   /* a DNS name's length */

/* certs_create() flags. */
#define CERTS_FORCE 0x1 /* replace an existing DIR/ca.key */

/*
 * Creates DIR/ca.crt, ca.key, server.crt, server.key, client.crt and
 * client.key: a self-signed CA, a server certificate (CN telepod-server,
 * SANs telepod-server, localhost, 127.0.0.1, ::1 plus each of server_names:
 * IP literals become IP SANs, anything else a DNS SAN) and a client
 * certificate (CN telepod-client), valid from one hour ago for `days` days.
 * outdir is created with mode 0700 (parents too) when missing. Keys are
 * created with mode 0600; every file is written to a temporary name and
 * renamed into place. An existing DIR/ca.key is never replaced unless flags
 * has CERTS_FORCE (replacing the CA invalidates every certificate it
 * signed).
 * Returns 0, or a negative errno with a sentence in err: -EEXIST (ca.key
 * exists), -EINVAL (bad name or days), -EIO (OpenSSL), or the errno of a
 * failed file operation.
 */
int certs_create(const char *outdir, const char *const *server_names,
    size_t n_names, int days, unsigned flags, char *err, size_t errlen);

/* Makes a new EC P-256 key. Caller frees *ret_key with EVP_PKEY_free.
 * Returns 0 or -EIO with a sentence in err. */
int certs_key_new(EVP_PKEY **ret_key, char *err, size_t errlen);

enum certs_kind {
	CERTS_KIND_CA,     /* CA:TRUE, keyCertSign + cRLSign */
	CERTS_KIND_SERVER, /* EKU serverAuth, digitalSignature */
	CERTS_KIND_CLIENT, /* EKU clientAuth, digitalSignature */
	CERTS_KIND_PLAIN,  /* CA:FALSE, digitalSignature, no EKU (tests) */
};

struct certs_spec {
	enum certs_kind kind;
	const char *common_name;
	/* subjectAltNames: IP literals become IP SANs, others DNS SANs;
	 * duplicates are dropped. May be empty. */
	const char *const *names;
	size_t n_names;
	time_t not_before;
	time_t not_after;
};

/*
 * Issues a certificate for the public half of key (borrowed) with a random
 * 128-bit serial, signed by issuer_key (borrowed) on behalf of issuer
 * (borrowed; NULL makes a self-signed certificate, and then issuer_key must
 * be key). Caller frees *ret_cert with X509_free.
 * Returns 0, -EINVAL (bad spec: empty CN, a name that is neither a DNS name
 * nor an IP literal, too many names, not_after before not_before) or -EIO,
 * with a sentence in err.
 */
int certs_issue(const struct certs_spec *spec, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, X509 **ret_cert, char *err, size_t errlen);

/* Writes cert (borrowed) as PEM to path atomically with mode 0644 (before
 * umask). Returns 0 or a negative errno with a sentence in err. */
int certs_write_cert(const char *path, X509 *cert, char *err, size_t errlen);

/* Writes key's private half (borrowed) as unencrypted PKCS#8 PEM to path
 * atomically, created with mode 0600. With no_clobber an existing path is
 * left alone and -EEXIST returned. The PEM text is wiped after writing.
 * Returns 0 or a negative errno with a sentence in err. */
int certs_write_key(
    const char *path, EVP_PKEY *key, bool no_clobber, char *err, size_t errlen);

#endif
