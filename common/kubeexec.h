/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeexec: exec credential plugins (client.authentication.k8s.io v1 and
 * v1beta1), as EKS (`aws eks get-token`), GKE (gke-gcloud-auth-plugin) and
 * AKS (kubelogin) configure them, following client-go
 * plugin/pkg/client/auth/exec.
 *
 * The plugin runs with the caller's environment plus the kubeconfig's
 * exec.env plus KUBERNETES_EXEC_INFO (an ExecCredential of the configured
 * apiVersion with spec.interactive, and spec.cluster when
 * provideClusterInfo is set). Interactive mode: Never is never interactive;
 * IfAvailable (the v1beta1 default) is interactive when our stdin is a
 * terminal; Always fails unless it is. An interactive plugin gets our stdin
 * and stderr (it may prompt); otherwise stdin is /dev/null, the plugin runs
 * in a process group of its own and its stderr is captured for the error
 * message. Its stdout must be an ExecCredential of the same apiVersion with
 * a token or a client certificate and key (plain PEM), optionally an
 * expirationTimestamp; it is cached until then (forever without one) and
 * the plugin runs again after kubeexec_invalidate() (an HTTP 401).
 *
 * kubeexec_get() blocks while the plugin runs (bounded by a timeout, after
 * which the plugin's process group is killed): it is meant for the CLI and
 * for start-up, not for an event loop.
 */
#ifndef TELEPOD_COMMON_KUBEEXEC_H
#define TELEPOD_COMMON_KUBEEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/kubeconfig.h"

#define KUBEEXEC_MAX_OUTPUT     (1u << 20) /* the plugin's stdout */
#define KUBEEXEC_MAX_STDERR     2048       /* kept for messages */
#define KUBEEXEC_TIMEOUT_MS     60000      /* non-interactive run */
#define KUBEEXEC_TIMEOUT_TTY_MS 300000     /* interactive (a login) */
#define KUBEEXEC_ERR_MAX        1024       /* size error buffers with it */

/* A credential from a plugin. Strings are NUL-terminated, owned. */
struct kubeexec_cred {
	char *token;           /* NULL when a certificate pair is given */
	char *client_cert_pem; /* both or neither */
	char *client_key_pem;
	bool has_expiry;
	time_t expiry; /* when has_expiry */
};

/* A clock for tests; returns seconds since the epoch. */
typedef time_t (*kubeexec_clock_fn)(void *arg);

struct kubeexec_opts {
	int timeout_ms; /* 0: the defaults above */
	int stdin_tty;  /* -1: isatty(0); 0 or 1 to decide (tests) */
	kubeexec_clock_fn clock;
	void *clock_arg; /* NULL clock: time() */
};

struct kubeexec;

/*
 * Makes a plugin runner for exec (copied). cluster_json is spec.cluster
 * for KUBERNETES_EXEC_INFO (see kubeconfig_resolved.exec_cluster_json) or
 * NULL; user names the kubeconfig user in messages (may be NULL). opts may
 * be NULL. Returns NULL when out of memory. Free with kubeexec_free().
 */
struct kubeexec *kubeexec_new(const struct kubeconfig_exec *exec,
    const char *cluster_json, const char *user,
    const struct kubeexec_opts *opts);
void kubeexec_free(struct kubeexec *x);

/*
 * The current credential: the cached one while it has not expired, else
 * the plugin's fresh output. *ret_cred is borrowed and valid until the next
 * call on x. Returns 0, or a negative errno with a sentence in err:
 * -ENOENT (command not found; the install hint is included), -ENOTTY
 * (interactiveMode Always without a terminal), -ETIMEDOUT, -EIO (non-zero
 * exit or a signal; the plugin's stderr is quoted), -EPROTO (output is not
 * a valid ExecCredential), -EMSGSIZE (output too large).
 */
int kubeexec_get(struct kubeexec *x, const struct kubeexec_cred **ret_cred,
    char *err, size_t errlen);

/* Drops the cached credential (the server said 401). */
void kubeexec_invalidate(struct kubeexec *x);

/* How many times the plugin ran (for logs and tests). */
unsigned kubeexec_runs(const struct kubeexec *x);

/*
 * Parses a plugin's stdout (len bytes, need not be terminated) as an
 * ExecCredential of api_version. Fills *ret (clear it with
 * kubeexec_cred_clear()). Returns 0 or -EPROTO with a sentence in err.
 */
int kubeexec_parse(const char *api_version, const char *buf, size_t len,
    struct kubeexec_cred *ret, char *err, size_t errlen);

/* Frees and wipes the members of c (not c itself). */
void kubeexec_cred_clear(struct kubeexec_cred *c);

/*
 * The KUBERNETES_EXEC_INFO value: {"kind":"ExecCredential","apiVersion":
 * api_version,"spec":{"interactive":B[,"cluster":cluster_json]}}. Caller
 * frees *ret. Returns 0, -EINVAL (cluster_json is not JSON) or -ENOMEM.
 */
int kubeexec_info_json(const char *api_version, bool interactive,
    const char *cluster_json, char **ret);

/* Parses an RFC 3339 time ("2030-01-01T00:00:00Z", fractions and offsets
 * allowed). Returns 0 or -EINVAL. */
int kubeexec_parse_time(const char *s, time_t *ret);

#endif
