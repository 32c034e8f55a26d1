/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certs: telepod's private PKI. One self-signed CA signs one server and one
 * client certificate; both ends trust only that CA, so a certificate from
 * any other `telepod certs create` run is refused. Keys are EC P-256. Files
 * are written to a temporary name and renamed into place, keys created with
 * mode 0600 so they are never readable by others, not even for a moment; the
 * PEM text of keys lives in a secure-heap BIO and is wiped after writing.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "common/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/errbuf.h"
#include "common/fileio.h"
#include "common/log.h"

#define CERTS_SERIAL_BYTES 16
#define CERTS_BACKDATE     3600 /* tolerate an hour of clock skew */
#define CERTS_MAX_CN       64   /* ub-common-name, RFC 5280 */

/* Drains the OpenSSL error queue into "WHAT: REASON", logging every entry
 * at debug level. Returns -EIO. */
static int
certs_ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e, first = 0;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug(LOG_CAT_TLS, "%s: %s", what, buf);
		if (first == 0)
			first = e;
	}
	if (first != 0 && ERR_reason_error_string(first) != NULL)
		snprintf(
		    buf, sizeof(buf), "%s", ERR_reason_error_string(first));
	else if (first != 0)
		ERR_error_string_n(first, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown OpenSSL error");
	errbuf_set(err, errlen, "%s: %s", what, buf);
	return -EIO;
}

int
certs_key_new(EVP_PKEY **ret_key, char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (key == NULL)
		return certs_ossl_err(
		    err, errlen, "cannot make an EC P-256 key");
	*ret_key = key;
	return 0;
}

/* Parses an IP literal into buf (4 or 16 bytes). Returns the length or 0. */
static size_t
certs_parse_ip(const char *s, unsigned char buf[16])
{
	if (inet_pton(AF_INET, s, buf) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return 16;
	return 0;
}

/* A DNS name as it may appear in a dNSName SAN: letters, digits, '-' and
 * '.', labels of 1..63 characters not starting or ending with '-'. */
static bool
certs_is_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > CERTS_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* Checks that every name is a DNS name or an IP literal. */
static int
certs_check_names(const char *const *names, size_t n, char *err, size_t errlen)
{
	unsigned char ip[16];

	if (n > CERTS_MAX_NAMES) {
		errbuf_set(err, errlen,
		    "too many server names (%zu, at most %d)", n,
		    CERTS_MAX_NAMES);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char esc[80];

		if (names[i] != NULL &&
		    strnlen(names[i], CERTS_MAX_NAME + 1) <= CERTS_MAX_NAME &&
		    (certs_parse_ip(names[i], ip) > 0 ||
		        certs_is_dns_name(names[i])))
			continue;
		errbuf_set(err, errlen,
		    "bad server name \"%s\": give a DNS name (letters, digits, '-' and '.') or an IP address",
		    names[i] == NULL ? "(null)"
		                     : log_escape(esc, sizeof(esc), names[i],
		                           strnlen(names[i], 64)));
		return -EINVAL;
	}
	return 0;
}

/* Appends a SAN for name unless an equal one is already in gens (DNS names
 * compare case-insensitively, IP addresses by value). */
static int
certs_push_san(GENERAL_NAMES *gens, const char *name)
{
	unsigned char ip[16];
	size_t iplen = certs_parse_ip(name, ip);
	int want = iplen > 0 ? GEN_IPADD : GEN_DNS;
	const unsigned char *val = iplen > 0 ? ip : (const unsigned char *)name;
	size_t len = iplen > 0 ? iplen : strlen(name);
	GENERAL_NAME *gn = NULL;
	ASN1_STRING *s = NULL;
	int r = -ENOMEM;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		int type;
		const ASN1_STRING *v = GENERAL_NAME_get0_value(
		    sk_GENERAL_NAME_value(gens, i), &type);
		const void *have = ASN1_STRING_get0_data(v);

		if (type != want || (size_t)ASN1_STRING_length(v) != len)
			continue;
		if (iplen > 0 ? memcmp(have, val, len) == 0
		              : strncasecmp(have, (const char *)val, len) == 0)
			return 0;
	}
	gn = GENERAL_NAME_new();
	s = iplen > 0 ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (gn == NULL || s == NULL || !ASN1_STRING_set(s, val, (int)len))
		goto out;
	GENERAL_NAME_set0_value(gn, want, s);
	s = NULL;
	if (sk_GENERAL_NAME_push(gens, gn) <= 0)
		goto out;
	gn = NULL;
	r = 0;
out:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gn);
	return r;
}

static int
certs_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return -EIO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

/* A random positive serial of 128 bits (RFC 5280 allows up to 20 octets;
 * DER adds a leading zero octet when the top bit is set). */
static int
certs_set_serial(X509 *x)
{
	unsigned char buf[CERTS_SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int r = -EIO;

	do {
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			goto out;
		BN_free(bn);
		bn = BN_bin2bn(buf, sizeof(buf), NULL);
		if (bn == NULL)
			goto out;
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	r = 0;
out:
	BN_free(bn);
	return r;
}

static const char *
certs_kind_name(enum certs_kind kind)
{
	switch (kind) {
	case CERTS_KIND_CA:
		return "CA";
	case CERTS_KIND_SERVER:
		return "server";
	case CERTS_KIND_CLIENT:
		return "client";
	case CERTS_KIND_PLAIN:
		return "plain";
	}
	return "unknown";
}

int
certs_issue(const struct certs_spec *spec, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, X509 **ret_cert, char *err, size_t errlen)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	GENERAL_NAMES *gens = NULL;
	X509V3_CTX ctx;
	char what[128];
	int r;

	if (spec->common_name == NULL || spec->common_name[0] == '\0' ||
	    strlen(spec->common_name) > CERTS_MAX_CN) {
		errbuf_set(err, errlen,
		    "a certificate needs a common name of 1 to %d characters",
		    CERTS_MAX_CN);
		return -EINVAL;
	}
	if (spec->not_after <= spec->not_before) {
		errbuf_set(err, errlen,
		    "certificate %s: notAfter must be later than notBefore",
		    spec->common_name);
		return -EINVAL;
	}
	if ((issuer == NULL && issuer_key != key) || issuer_key == NULL) {
		errbuf_set(err, errlen,
		    "certificate %s: a self-signed certificate is signed with its own key",
		    spec->common_name);
		return -EINVAL;
	}
	r = certs_check_names(spec->names, spec->n_names, err, errlen);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "cannot make the %s certificate %s",
	    certs_kind_name(spec->kind), spec->common_name);

	r = -EIO;
	x = X509_new();
	name = X509_NAME_new();
	if (x == NULL || name == NULL)
		goto fail;
	if (!X509_set_version(x, X509_VERSION_3) || certs_set_serial(x) < 0)
		goto fail;
	if (!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)spec->common_name, -1, -1, 0))
		goto fail;
	if (!X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(
	        x, issuer != NULL ? X509_get_subject_name(issuer) : name))
		goto fail;
	if (ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after) == NULL)
		goto fail;
	if (!X509_set_pubkey(x, key))
		goto fail;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (spec->kind == CERTS_KIND_CA) {
		if (certs_add_ext(x, &ctx, NID_basic_constraints,
		        "critical,CA:TRUE") < 0 ||
		    certs_add_ext(x, &ctx, NID_key_usage,
		        "critical,keyCertSign,cRLSign") < 0)
			goto fail;
	} else {
		if (certs_add_ext(x, &ctx, NID_basic_constraints,
		        "critical,CA:FALSE") < 0 ||
		    certs_add_ext(x, &ctx, NID_key_usage,
		        "critical,digitalSignature") < 0)
			goto fail;
	}
	if (spec->kind == CERTS_KIND_SERVER &&
	    certs_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0)
		goto fail;
	if (spec->kind == CERTS_KIND_CLIENT &&
	    certs_add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") < 0)
		goto fail;
	if (certs_add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0)
		goto fail;
	/* A self-signed certificate needs no authority key identifier. */
	if (issuer != NULL &&
	    certs_add_ext(x, &ctx, NID_authority_key_identifier, "keyid") < 0)
		goto fail;
	if (spec->n_names > 0) {
		gens = sk_GENERAL_NAME_new_null();
		if (gens == NULL)
			goto fail;
		for (size_t i = 0; i < spec->n_names; i++)
			if (certs_push_san(gens, spec->names[i]) < 0)
				goto fail;
		if (!X509_add1_ext_i2d(
		        x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT))
			goto fail;
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
		goto fail;
	*ret_cert = x;
	x = NULL;
	r = 0;
	goto out;
fail:
	r = certs_ossl_err(err, errlen, what);
out:
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

/*
 * Writes len bytes to path through a temporary file created with mode
 * (never widened afterwards), then renames it into place; with no_clobber,
 * links it instead, so an existing path fails with -EEXIST atomically.
 */
static int
certs_write_file(const char *path, const void *data, size_t len, mode_t mode,
    bool no_clobber, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	unsigned int rnd = 0;
	int fd = -1, r, n;

	(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	n = snprintf(
	    tmp, sizeof(tmp), "%s.%ld.%08x.tmp", path, (long)getpid(), rnd);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errbuf_set(err, errlen, "cannot write %s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		errbuf_set(
		    err, errlen, "cannot create %s: %s", tmp, strerror(-r));
		return r;
	}
	r = fileio_write_all(fd, data, len);
	if (r < 0) {
		errbuf_set(
		    err, errlen, "cannot write %s: %s", tmp, strerror(-r));
		goto fail;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		r = -errno;
		errbuf_set(
		    err, errlen, "cannot write %s: %s", tmp, strerror(-r));
		goto fail;
	}
	fd = -1;
	if (no_clobber) {
		if (link(tmp, path) < 0) {
			r = -errno;
			if (r == -EEXIST)
				errbuf_set(err, errlen,
				    "%s already exists; not replacing it",
				    path);
			else
				errbuf_set(err, errlen, "cannot create %s: %s",
				    path, strerror(-r));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		r = -errno;
		errbuf_set(
		    err, errlen, "cannot replace %s: %s", path, strerror(-r));
		goto fail;
	}
	(void)fileio_sync_dir(path);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int
certs_write_cert(const char *path, X509 *cert, char *err, size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	int r;

	if (b == NULL || !PEM_write_bio_X509(b, cert) ||
	    BIO_get_mem_ptr(b, &bm) <= 0 || bm == NULL) {
		char what[PATH_MAX + 32];

		snprintf(what, sizeof(what), "cannot encode %s", path);
		r = certs_ossl_err(err, errlen, what);
		goto out;
	}
	r = certs_write_file(
	    path, bm->data, bm->length, 0644, false, err, errlen);
out:
	BIO_free(b);
	return r;
}

int
certs_write_key(
    const char *path, EVP_PKEY *key, bool no_clobber, char *err, size_t errlen)
{
	/* The secure heap when one is set up; wiped below in any case. */
	BIO *b = BIO_new(BIO_s_secmem());
	BUF_MEM *bm = NULL;
	int r;

	if (b == NULL ||
	    !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
	    BIO_get_mem_ptr(b, &bm) <= 0 || bm == NULL) {
		char what[PATH_MAX + 32];

		snprintf(what, sizeof(what), "cannot encode %s", path);
		r = certs_ossl_err(err, errlen, what);
		goto out;
	}
	r = certs_write_file(
	    path, bm->data, bm->length, 0600, no_clobber, err, errlen);
out:
	if (bm != NULL && bm->data != NULL)
		OPENSSL_cleanse(bm->data, bm->max);
	BIO_free(b);
	return r;
}

/* mkdir -p with mode 0700 for every directory it creates. */
static int
certs_mkdirs(const char *dir, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;
	int r;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			errbuf_set(err, errlen, "cannot create %s: %s", buf,
			    strerror(-r));
			return r;
		}
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		errbuf_set(
		    err, errlen, "cannot create %s: %s", buf, strerror(-r));
		return r;
	}
	if (stat(buf, &st) < 0) {
		r = -errno;
		errbuf_set(err, errlen, "cannot use %s: %s", buf, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		errbuf_set(err, errlen, "cannot use %s: not a directory", buf);
		return -ENOTDIR;
	}
	return 0;
}

int
certs_create(const char *outdir, const char *const *server_names,
    size_t n_names, int days, unsigned flags, char *err, size_t errlen)
{
	/* Names every server certificate carries: the name the client checks
	 * by default, and loopback for port-forwards. */
	static const char *const base_names[] = {
	    CERTS_SERVER_NAME, "localhost", "127.0.0.1", "::1"};
	const size_t n_base = sizeof(base_names) / sizeof(*base_names);
	const char
	    *names[sizeof(base_names) / sizeof(*base_names) + CERTS_MAX_NAMES];
	EVP_PKEY *ca_key = NULL, *srv_key = NULL, *cli_key = NULL;
	X509 *ca = NULL, *srv = NULL, *cli = NULL;
	unsigned char tag[4];
	char ca_cn[32], path[PATH_MAX];
	struct certs_spec spec;
	struct stat st;
	time_t now = time(NULL);
	int r;

	if (outdir == NULL || outdir[0] == '\0') {
		errbuf_set(err, errlen, "no output directory given");
		return -EINVAL;
	}
	/* Leaves room for "/server.key.PID.RANDOM.tmp". */
	if (strlen(outdir) > PATH_MAX - 64) {
		errbuf_set(err, errlen, "output directory name too long");
		return -ENAMETOOLONG;
	}
	if (days < 1 || days > CERTS_MAX_DAYS) {
		errbuf_set(err, errlen,
		    "certificate lifetime of %d days is out of range (1 to %d)",
		    days, CERTS_MAX_DAYS);
		return -EINVAL;
	}
	r = certs_check_names(server_names, n_names, err, errlen);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_base; i++)
		names[i] = base_names[i];
	for (size_t i = 0; i < n_names; i++)
		names[n_base + i] = server_names[i];

	r = certs_mkdirs(outdir, err, errlen);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_CA_KEY);
	if (!(flags & CERTS_FORCE) && lstat(path, &st) == 0) {
		errbuf_set(err, errlen,
		    "%s already exists; not replacing the CA, since that would invalidate every certificate it signed (force the replacement to make a new CA, then copy the new files to both ends)",
		    path);
		return -EEXIST;
	}

	r = certs_key_new(&ca_key, err, errlen);
	if (r < 0)
		goto out;
	r = certs_key_new(&srv_key, err, errlen);
	if (r < 0)
		goto out;
	r = certs_key_new(&cli_key, err, errlen);
	if (r < 0)
		goto out;

	/* A random tag in the CA's name makes "signed by another CA" errors
	 * show which run of `telepod certs create` each side came from. */
	if (RAND_bytes(tag, sizeof(tag)) != 1) {
		r = certs_ossl_err(err, errlen, "cannot get random bytes");
		goto out;
	}
	snprintf(ca_cn, sizeof(ca_cn), "telepod-ca-%02x%02x%02x%02x", tag[0],
	    tag[1], tag[2], tag[3]);
	spec = (struct certs_spec){
	    .kind = CERTS_KIND_CA,
	    .common_name = ca_cn,
	    .not_before = now - CERTS_BACKDATE,
	    .not_after = now + (time_t)days * 86400,
	};
	r = certs_issue(&spec, ca_key, NULL, ca_key, &ca, err, errlen);
	if (r < 0)
		goto out;
	spec.kind = CERTS_KIND_SERVER;
	spec.common_name = CERTS_SERVER_NAME;
	spec.names = names;
	spec.n_names = n_base + n_names;
	r = certs_issue(&spec, srv_key, ca, ca_key, &srv, err, errlen);
	if (r < 0)
		goto out;
	spec.kind = CERTS_KIND_CLIENT;
	spec.common_name = CERTS_CLIENT_NAME;
	spec.names = NULL;
	spec.n_names = 0;
	r = certs_issue(&spec, cli_key, ca, ca_key, &cli, err, errlen);
	if (r < 0)
		goto out;

	/* ca.key first and without clobbering: if another run raced us past
	 * the check above, one of the two fails here before writing more. */
	r = certs_write_key(path, ca_key, !(flags & CERTS_FORCE), err, errlen);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_CA_CRT);
	r = certs_write_cert(path, ca, err, errlen);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_SERVER_KEY);
	r = certs_write_key(path, srv_key, false, err, errlen);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_SERVER_CRT);
	r = certs_write_cert(path, srv, err, errlen);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_CLIENT_KEY);
	r = certs_write_key(path, cli_key, false, err, errlen);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", outdir, CERTS_CLIENT_CRT);
	r = certs_write_cert(path, cli, err, errlen);
out:
	X509_free(cli);
	X509_free(srv);
	X509_free(ca);
	/* EVP_PKEY_free clears the EC private scalar (BN_clear_free). */
	EVP_PKEY_free(cli_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(ca_key);
	return r;
}
