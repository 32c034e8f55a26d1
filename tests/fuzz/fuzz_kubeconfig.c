/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kubeconfig: libFuzzer target for what the Kubernetes client reads
 * from outside: every input is parsed as a kubeconfig file (YAML: aliases,
 * nesting, base64 fields, exec sections, extensions turned into JSON), then
 * each context that references no files is resolved; the same bytes are
 * also parsed as an exec plugin's ExecCredential output (v1 and v1beta1)
 * and decoded as an API server error body (Status objects).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/kube.h"
#include "common/kubeconfig.h"
#include "common/kubeexec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Resolving reads the files a context names; a fuzzer must not make us
 * read /dev/stdin, so such contexts are skipped. */
static int
fz_has_files(const struct kubeconfig *kc, const struct kubeconfig_context *x)
{
	const struct kubeconfig_cluster *c =
	    kubeconfig_find_cluster(kc, x->cluster);
	const struct kubeconfig_user *u = kubeconfig_find_user(kc, x->user);

	if (c != NULL && c->ca_file != NULL && c->ca_data == NULL)
		return 1;
	if (u != NULL && ((u->client_cert_file && !u->client_cert_data) ||
	                     (u->client_key_file && !u->client_key_data) ||
	                     (u->token_file && !u->token)))
		return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kube_op op = {"create", NULL, "ns", "n", "ctx"};
	struct kubeconfig *kc = kubeconfig_new();
	struct kubeexec_cred cred;
	struct kube_error kerr;
	char err[KUBECONFIG_ERR_MAX];

	if (kc == NULL)
		return 0;
	if (kubeconfig_parse(kc, (const char *)data, size, "fuzz", NULL, err,
	        sizeof(err)) == 0) {
		for (size_t i = 0; i < kc->n_contexts && i < 16; i++) {
			struct kubeconfig_resolved *rc = NULL;

			if (fz_has_files(kc, kc->contexts[i]))
				continue;
			if (kubeconfig_resolve(kc, kc->contexts[i]->name, &rc,
			        err, sizeof(err)) == 0)
				kubeconfig_resolved_free(rc);
		}
	}
	kubeconfig_free(kc);

	if (kubeexec_parse(KUBECONFIG_EXEC_V1, (const char *)data, size, &cred,
	        err, sizeof(err)) == 0)
		kubeexec_cred_clear(&cred);
	if (kubeexec_parse(KUBECONFIG_EXEC_V1BETA1, (const char *)data, size,
	        &cred, err, sizeof(err)) == 0)
		kubeexec_cred_clear(&cred);

	kube_status_decode(403, (const char *)data, size, &op, &kerr);
	kube_status_decode(0, (const char *)data, size, NULL, &kerr);
	return 0;
}
