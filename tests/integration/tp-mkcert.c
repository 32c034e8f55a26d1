/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tp-mkcert: issues one certificate from an existing telepod CA directory
 * (made by `telepod certs create`) with a validity window chosen in days
 * relative to now, so the integration tests can present an expired or a
 * not-yet-valid certificate. It writes OUT/NAME.crt, OUT/NAME.key and a copy
 * of the CA's certificate as OUT/ca.crt, which makes OUT a usable --tls-dir.
 * Uses common/certs (certs_key_new, certs_issue, certs_write_*).
 */
#include "common/certs.h"
#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int
tpm_path(char *buf, size_t cap, const char *dir, const char *file)
{
	if (snprintf(buf, cap, "%s/%s", dir, file) >= (int)cap) {
		log_err("path too long: %s/%s", dir, file);
		return -ENAMETOOLONG;
	}
	return 0;
}

static int
tpm_parse_days(const char *s, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < -CERTS_MAX_DAYS ||
	    v > CERTS_MAX_DAYS)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void
tpm_usage(FILE *f)
{
	fprintf(f,
	    "usage: tp-mkcert --ca-dir DIR --out DIR [--kind client|server]\n"
	    "                 [--not-before-days N] [--not-after-days M]\n"
	    "                 [--cn NAME]\n"
	    "Days are relative to now and may be negative: --not-before-days\n"
	    "-10 --not-after-days -1 makes a certificate that expired\n"
	    "yesterday.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca-dir", required_argument, 0, 'c'},
	    {"out", required_argument, 0, 'o'},
	    {"kind", required_argument, 0, 'k'},
	    {"not-before-days", required_argument, 0, 'b'},
	    {"not-after-days", required_argument, 0, 'a'},
	    {"cn", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0}};
	const char *ca_dir = NULL, *out = NULL, *cn = NULL;
	const char *base = "client";
	enum certs_kind kind = CERTS_KIND_CLIENT;
	long nb_days = -1, na_days = 365;
	char path[PATH_MAX], err[256];
	const char *names[] = {"localhost", "127.0.0.1"};
	struct certs_spec spec;
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	FILE *f;
	time_t now = time(NULL);
	int opt, rc = 1;

	log_init("tp-mkcert", LOG_LEVEL_INFO);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ca_dir = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "client") == 0) {
				kind = CERTS_KIND_CLIENT;
				base = "client";
			} else if (strcmp(optarg, "server") == 0) {
				kind = CERTS_KIND_SERVER;
				base = "server";
			} else {
				tpm_usage(stderr);
				return 64;
			}
			break;
		case 'b':
			if (tpm_parse_days(optarg, &nb_days)) {
				tpm_usage(stderr);
				return 64;
			}
			break;
		case 'a':
			if (tpm_parse_days(optarg, &na_days)) {
				tpm_usage(stderr);
				return 64;
			}
			break;
		case 'n':
			cn = optarg;
			break;
		case 'h':
			tpm_usage(stdout);
			return 0;
		default:
			tpm_usage(stderr);
			return 64;
		}
	}
	if (!ca_dir || !out || optind != argc) {
		tpm_usage(stderr);
		return 64;
	}
	if (!cn)
		cn = kind == CERTS_KIND_SERVER ? CERTS_SERVER_NAME
		                               : CERTS_CLIENT_NAME;
	if (mkdir(out, 0700) != 0 && errno != EEXIST) {
		log_err("mkdir %s: %s", out, strerror(errno));
		return 1;
	}

	if (tpm_path(path, sizeof(path), ca_dir, CERTS_CA_CRT))
		goto out;
	f = fopen(path, "r");
	if (!f || !(ca = PEM_read_X509(f, NULL, NULL, NULL))) {
		log_err("cannot read the CA certificate %s", path);
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	if (tpm_path(path, sizeof(path), ca_dir, CERTS_CA_KEY))
		goto out;
	f = fopen(path, "r");
	if (!f || !(ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
		log_err("cannot read the CA key %s", path);
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);

	if (certs_key_new(&key, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	memset(&spec, 0, sizeof(spec));
	spec.kind = kind;
	spec.common_name = cn;
	if (kind == CERTS_KIND_SERVER) {
		spec.names = names;
		spec.n_names = sizeof(names) / sizeof(*names);
	}
	spec.not_before = now + nb_days * 86400;
	spec.not_after = now + na_days * 86400;
	if (certs_issue(&spec, key, ca, ca_key, &cert, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}

	snprintf(err, sizeof(err), "%s.crt", base);
	if (tpm_path(path, sizeof(path), out, err))
		goto out;
	if (certs_write_cert(path, cert, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	snprintf(err, sizeof(err), "%s.key", base);
	if (tpm_path(path, sizeof(path), out, err))
		goto out;
	if (certs_write_key(path, key, false, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	if (tpm_path(path, sizeof(path), out, CERTS_CA_CRT))
		goto out;
	if (certs_write_cert(path, ca, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	printf("%s/%s.crt: CN %s, valid from %+ld to %+ld days\n", out, base,
	    cn, nb_days, na_days);
	rc = 0;
out:
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}
