/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/certs: the files certs_create() writes (modes, names,
 * extensions, keys, chain), refusing to replace a CA, input checks, and
 * certs_issue() with arbitrary dates.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/certs.h"
#include "tests/unit/cunit_main.h"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
make_tmpdir(char *buf, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, len, "%s/telepod-certs-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	return mkdtemp(buf);
}

static mode_t
file_mode(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static X509 *
read_cert(const char *dir, const char *name)
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
read_key(const char *dir, const char *name)
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

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Counts SANs of type type equal to value (DNS: case-insensitive text;
 * IP: the literal's address); with value NULL counts all of that type. */
static int
count_san(X509 *x, int type, const char *value)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	unsigned char ip[16];
	size_t iplen = 0;
	int n = 0;

	if (value != NULL && type == GEN_IPADD)
		iplen = inet_pton(AF_INET, value, ip) == 1    ? 4
		        : inet_pton(AF_INET6, value, ip) == 1 ? 16
		                                              : 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		int t;
		const ASN1_STRING *v =
		    GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, i), &t);
		size_t len = (size_t)ASN1_STRING_length(v);
		const unsigned char *d = ASN1_STRING_get0_data(v);

		if (t != type)
			continue;
		if (value == NULL ||
		    (type == GEN_DNS && len == strlen(value) &&
		        strncasecmp((const char *)d, value, len) == 0) ||
		    (type == GEN_IPADD && len == iplen &&
		        memcmp(d, ip, len) == 0))
			n++;
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static void
cn_of(X509 *x, char *buf, size_t len)
{
	buf[0] = '\0';
	X509_NAME_get_text_by_NID(
	    X509_get_subject_name(x), NID_commonName, buf, (int)len);
}

static int
verify_with(X509 *ca, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		ok = -X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static bool
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void
test_create_files(void)
{
	char tmp[PATH_MAX], out[PATH_MAX + 64], parent[PATH_MAX + 64],
	    err[512] = "", cn[64];
	const char *names[] = {
	    "gateway.example", "10.1.2.3", "fd00::1", "LOCALHOST", "::1"};
	X509 *ca, *srv, *cli;
	EVP_PKEY *k;
	BIGNUM *s1, *s2;
	time_t now = time(NULL);
	mode_t old = umask(022);

	CU_ASSERT_PTR_NOT_NULL_FATAL(make_tmpdir(tmp, sizeof(tmp)));
	snprintf(parent, sizeof(parent), "%s/nested", tmp);
	snprintf(out, sizeof(out), "%s/nested/tls", tmp);
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(out, names, 5, 30, 0, err, sizeof(err)), 0);
	if (err[0] != '\0')
		fprintf(stderr, "unexpected error text: %s\n", err);

	/* Directories made 0700, keys 0600, certificates 0644; no temporary
	 * files left behind. */
	CU_ASSERT_EQUAL(file_mode(tmp, "nested"), 0700);
	CU_ASSERT_EQUAL(file_mode(parent, "tls"), 0700);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_CA_KEY), 0600);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_SERVER_KEY), 0600);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_CLIENT_KEY), 0600);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_CA_CRT), 0644);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_SERVER_CRT), 0644);
	CU_ASSERT_EQUAL(file_mode(out, CERTS_CLIENT_CRT), 0644);
	CU_ASSERT_EQUAL(count_entries(out), 6);

	ca = read_cert(out, CERTS_CA_CRT);
	srv = read_cert(out, CERTS_SERVER_CRT);
	cli = read_cert(out, CERTS_CLIENT_CRT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cli);

	/* The CA: self-signed, CA:TRUE critical, keyCertSign, SKID. */
	CU_ASSERT_EQUAL(X509_check_ca(ca), 1);
	CU_ASSERT_TRUE(ext_critical(ca, NID_basic_constraints));
	CU_ASSERT_TRUE(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	CU_ASSERT_TRUE(X509_get_key_usage(ca) & KU_CRL_SIGN);
	CU_ASSERT_PTR_NOT_NULL(X509_get0_subject_key_id(ca));
	CU_ASSERT_TRUE(X509_get_extension_flags(ca) & EXFLAG_SS);
	cn_of(ca, cn, sizeof(cn));
	CU_ASSERT_EQUAL(strncmp(cn, "telepod-ca-", 11), 0);

	/* The server: CN, every SAN once, serverAuth only. */
	cn_of(srv, cn, sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, CERTS_SERVER_NAME);
	CU_ASSERT_EQUAL(count_san(srv, GEN_DNS, "telepod-server"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_DNS, "localhost"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_DNS, "gateway.example"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_DNS, NULL), 3);
	CU_ASSERT_EQUAL(count_san(srv, GEN_IPADD, "127.0.0.1"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_IPADD, "::1"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_IPADD, "10.1.2.3"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_IPADD, "fd00::1"), 1);
	CU_ASSERT_EQUAL(count_san(srv, GEN_IPADD, NULL), 4);
	CU_ASSERT_EQUAL(X509_get_extended_key_usage(srv), XKU_SSL_SERVER);
	CU_ASSERT_TRUE(X509_get_key_usage(srv) & KU_DIGITAL_SIGNATURE);
	CU_ASSERT_EQUAL(X509_check_ca(srv), 0);
	CU_ASSERT_EQUAL(X509_check_host(srv, "gateway.example", 0, 0, NULL), 1);
	CU_ASSERT_EQUAL(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);

	/* The client: CN, clientAuth only, no SANs. */
	cn_of(cli, cn, sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, CERTS_CLIENT_NAME);
	CU_ASSERT_EQUAL(X509_get_extended_key_usage(cli), XKU_SSL_CLIENT);
	CU_ASSERT_EQUAL(count_san(cli, GEN_DNS, NULL), 0);

	/* Both chain to the CA for their purpose only. */
	CU_ASSERT_EQUAL(verify_with(ca, srv, X509_PURPOSE_SSL_SERVER), 1);
	CU_ASSERT_EQUAL(verify_with(ca, cli, X509_PURPOSE_SSL_CLIENT), 1);
	CU_ASSERT_EQUAL(verify_with(ca, srv, X509_PURPOSE_SSL_CLIENT),
	    -X509_V_ERR_INVALID_PURPOSE);
	CU_ASSERT_EQUAL(verify_with(ca, cli, X509_PURPOSE_SSL_SERVER),
	    -X509_V_ERR_INVALID_PURPOSE);

	/* Validity: from before now, for 30 days. */
	CU_ASSERT_TRUE(X509_cmp_time(X509_get0_notBefore(srv), &now) < 0);
	{
		time_t lo = now + 29 * 86400, hi = now + 31 * 86400;

		CU_ASSERT_TRUE(X509_cmp_time(X509_get0_notAfter(srv), &lo) > 0);
		CU_ASSERT_TRUE(X509_cmp_time(X509_get0_notAfter(srv), &hi) < 0);
	}

	/* Random serials of up to 128 bits, distinct. */
	s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(srv), NULL);
	s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cli), NULL);
	CU_ASSERT_TRUE(BN_num_bits(s1) <= 128 && BN_num_bits(s1) > 64);
	CU_ASSERT_TRUE(BN_num_bits(s2) <= 128 && BN_num_bits(s2) > 64);
	CU_ASSERT_FALSE(BN_is_negative(s1));
	CU_ASSERT_NOT_EQUAL(BN_cmp(s1, s2), 0);
	BN_free(s1);
	BN_free(s2);

	/* Keys: P-256, each matching its certificate. */
	k = read_key(out, CERTS_SERVER_KEY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_TRUE(EVP_PKEY_is_a(k, "EC"));
	CU_ASSERT_EQUAL(EVP_PKEY_get_bits(k), 256);
	CU_ASSERT_EQUAL(X509_check_private_key(srv, k), 1);
	CU_ASSERT_EQUAL(X509_check_private_key(cli, k), 0);
	EVP_PKEY_free(k);
	k = read_key(out, CERTS_CLIENT_KEY);
	CU_ASSERT_EQUAL(X509_check_private_key(cli, k), 1);
	EVP_PKEY_free(k);
	k = read_key(out, CERTS_CA_KEY);
	CU_ASSERT_EQUAL(X509_check_private_key(ca, k), 1);
	EVP_PKEY_free(k);

	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	rm_tree(tmp);
	umask(old);
}

static void
test_key_mode_ignores_umask(void)
{
	char tmp[PATH_MAX], err[512];
	mode_t old = umask(0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(make_tmpdir(tmp, sizeof(tmp)));
	CU_ASSERT_EQUAL(certs_create(tmp, NULL, 0, 1, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(file_mode(tmp, CERTS_CA_KEY), 0600);
	CU_ASSERT_EQUAL(file_mode(tmp, CERTS_CLIENT_KEY), 0600);
	CU_ASSERT_EQUAL(file_mode(tmp, CERTS_CA_CRT), 0644);
	umask(old);
	rm_tree(tmp);
}

static void
test_refuse_overwrite(void)
{
	char tmp[PATH_MAX], err[512] = "", cn1[64], cn2[64], cn3[64];
	X509 *a, *b, *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(make_tmpdir(tmp, sizeof(tmp)));
	CU_ASSERT_EQUAL_FATAL(
	    certs_create(tmp, NULL, 0, 10, 0, err, sizeof(err)), 0);
	a = read_cert(tmp, CERTS_CA_CRT);
	CU_ASSERT_EQUAL(
	    certs_create(tmp, NULL, 0, 10, 0, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ca.key already exists"));
	b = read_cert(tmp, CERTS_CA_CRT);
	CU_ASSERT_EQUAL(
	    certs_create(tmp, NULL, 0, 10, CERTS_FORCE, err, sizeof(err)), 0);
	c = read_cert(tmp, CERTS_CA_CRT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cn_of(a, cn1, sizeof(cn1));
	cn_of(b, cn2, sizeof(cn2));
	cn_of(c, cn3, sizeof(cn3));
	/* Refused: untouched. Forced: a new CA. */
	CU_ASSERT_EQUAL(X509_cmp(a, b), 0);
	CU_ASSERT_STRING_EQUAL(cn1, cn2);
	CU_ASSERT_NOT_EQUAL(X509_cmp(a, c), 0);
	CU_ASSERT_EQUAL(count_entries(tmp), 6);
	X509_free(a);
	X509_free(b);
	X509_free(c);
	rm_tree(tmp);
}

static void
test_bad_input(void)
{
	char tmp[PATH_MAX], path[PATH_MAX + 64], err[512];
	const char *bad[] = {"ok.example", "bad name"};
	const char *dash[] = {"-lead.example"};
	const char *many[CERTS_MAX_NAMES + 1];
	FILE *f;

	for (size_t i = 0; i < CERTS_MAX_NAMES + 1; i++)
		many[i] = "x.example";
	CU_ASSERT_PTR_NOT_NULL_FATAL(make_tmpdir(tmp, sizeof(tmp)));
	CU_ASSERT_EQUAL(
	    certs_create(tmp, bad, 2, 10, 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad server name \"bad name\""));
	CU_ASSERT_EQUAL(
	    certs_create(tmp, dash, 1, 10, 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(certs_create(tmp, many, CERTS_MAX_NAMES + 1, 10, 0, err,
	                    sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(
	    certs_create(tmp, NULL, 0, 0, 0, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(
	    certs_create(tmp, NULL, 0, CERTS_MAX_DAYS + 1, 0, err, sizeof(err)),
	    -EINVAL);
	/* Nothing was written by the refused calls. */
	CU_ASSERT_EQUAL(count_entries(tmp), 0);
	snprintf(path, sizeof(path), "%s/file", tmp);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	CU_ASSERT_EQUAL(
	    certs_create(path, NULL, 0, 10, 0, err, sizeof(err)), -ENOTDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a directory"));
	rm_tree(tmp);
}

static void
test_issue_dates(void)
{
	char err[512];
	EVP_PKEY *ca_key = NULL, *key = NULL, *other = NULL;
	X509 *ca = NULL, *leaf = NULL, *bad = NULL;
	time_t now = time(NULL);
	struct certs_spec spec = {
	    .kind = CERTS_KIND_CA,
	    .common_name = "test-ca",
	    .not_before = now - 86400,
	    .not_after = now + 86400,
	};

	CU_ASSERT_EQUAL_FATAL(certs_key_new(&ca_key, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(certs_key_new(&key, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(certs_key_new(&other, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(
	    certs_issue(&spec, ca_key, NULL, ca_key, &ca, err, sizeof(err)), 0);
	/* Self-signed with a foreign key is refused. */
	CU_ASSERT_EQUAL(
	    certs_issue(&spec, ca_key, NULL, other, &bad, err, sizeof(err)),
	    -EINVAL);

	spec.kind = CERTS_KIND_CLIENT;
	spec.common_name = "old-client";
	spec.not_before = now - 10 * 86400;
	spec.not_after = now - 86400;
	CU_ASSERT_EQUAL_FATAL(
	    certs_issue(&spec, key, ca, ca_key, &leaf, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0);
	CU_ASSERT_EQUAL(verify_with(ca, leaf, X509_PURPOSE_SSL_CLIENT),
	    -X509_V_ERR_CERT_HAS_EXPIRED);
	/* The authority key identifier points at the CA. */
	CU_ASSERT_EQUAL(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
	                    X509_get0_subject_key_id(ca)),
	    0);

	spec.not_after = spec.not_before;
	CU_ASSERT_EQUAL(
	    certs_issue(&spec, key, ca, ca_key, &bad, err, sizeof(err)),
	    -EINVAL);
	spec.not_after = now + 60;
	spec.common_name = "";
	CU_ASSERT_EQUAL(
	    certs_issue(&spec, key, ca, ca_key, &bad, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_PTR_NULL(bad);

	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(other);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

static const struct cunit_test tests[] = {
    {"create_files", test_create_files},
    {"key_mode_ignores_umask", test_key_mode_ignores_umask},
    {"refuse_overwrite", test_refuse_overwrite},
    {"bad_input", test_bad_input},
    {"issue_dates", test_issue_dates},
};

CUNIT_MAIN("certs", tests)
