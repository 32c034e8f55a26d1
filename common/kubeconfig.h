/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig: the Kubernetes client configuration, read as kubectl reads it
 * (client-go tools/clientcmd), and in-cluster configuration for a pod.
 *
 * Loading: $KUBECONFIG is a ':'-separated list of files (missing ones are
 * skipped, duplicates ignored); without it, ~/.kube/config. The files are
 * merged in order: the first file that defines a cluster, user or context
 * name wins the whole entry, and current-context comes from the first file
 * that sets a non-empty one. Relative paths (certificate-authority,
 * client-certificate, client-key, tokenFile, and exec.command when it holds
 * a '/') are resolved against the directory of the file that holds them.
 *
 * Resolving picks a context (--context, else current-context) and flattens
 * it into a struct kubeconfig_resolved: every file is read and every
 * -data field decoded, so the REST client (common/kube.h) needs nothing
 * else. Errors are sentences naming the file and line:
 * "~/.kube/config:14: expected a list for 'users'".
 *
 * Everything here blocks (file reads); it runs in the CLI before any event
 * loop, or at a provisioner's start-up.
 */
#ifndef TELEPOD_COMMON_KUBECONFIG_H
#define TELEPOD_COMMON_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Hard limits on what we read (a kubeconfig is outside input). */
#define KUBECONFIG_MAX_FILE_BYTES  (8u << 20)  /* one kubeconfig file */
#define KUBECONFIG_MAX_FILES       32          /* entries in $KUBECONFIG */
#define KUBECONFIG_MAX_ENTRIES     4096        /* clusters/users/contexts */
#define KUBECONFIG_MAX_STRING      (4u << 20)  /* one scalar */
#define KUBECONFIG_MAX_DEPTH       64          /* YAML nesting */
#define KUBECONFIG_MAX_ARGS        256         /* exec args and env */
#define KUBECONFIG_MAX_PEM_BYTES   (1u << 20)  /* a CA, cert or key file */
#define KUBECONFIG_MAX_TOKEN_BYTES (64u << 10) /* a token file */

/* Size error buffers with this. */
#define KUBECONFIG_ERR_MAX 1024

/* The service-account mount of a pod (in-cluster configuration). */
#define KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

#define KUBECONFIG_EXEC_V1      "client.authentication.k8s.io/v1"
#define KUBECONFIG_EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"
/* The cluster extension passed to exec plugins as spec.cluster.config. */
#define KUBECONFIG_EXEC_EXTENSION "client.authentication.k8s.io/exec"

enum kubeconfig_interactive {
	KUBECONFIG_INTERACTIVE_UNSET = 0,
	KUBECONFIG_INTERACTIVE_NEVER,
	KUBECONFIG_INTERACTIVE_IF_AVAILABLE,
	KUBECONFIG_INTERACTIVE_ALWAYS,
	KUBECONFIG_INTERACTIVE_INVALID, /* rejected by kubeconfig_resolve() */
};

struct kubeconfig_env {
	char *name;
	char *value;
};

/* users[].user.exec: a credential plugin (see common/kubeexec.h). */
struct kubeconfig_exec {
	char *api_version; /* KUBECONFIG_EXEC_V1 or _V1BETA1 */
	char *command;     /* resolved against the file's dir if it has '/' */
	char **args;
	size_t n_args;
	struct kubeconfig_env *env;
	size_t n_env;
	/* UNSET only for v1beta1, where it means IF_AVAILABLE. */
	enum kubeconfig_interactive interactive_mode;
	bool provide_cluster_info;
	char *install_hint; /* may be NULL */
	unsigned line;      /* of the exec key, for messages */
};

/* Where an entry was defined; file points into struct kubeconfig.files. */
struct kubeconfig_origin {
	const char *file; /* display name, $HOME shown as "~" */
	unsigned line;    /* 1-based */
};

struct kubeconfig_cluster {
	char *name;
	struct kubeconfig_origin origin;
	char *server;
	char *ca_file; /* certificate-authority, resolved */
	unsigned char *ca_data;
	size_t ca_data_len; /* certificate-authority-data, decoded */
	bool insecure_skip_tls_verify;
	char *tls_server_name;
	char *proxy_url;
	bool disable_compression;
	/* The extension named KUBECONFIG_EXEC_EXTENSION, as JSON text. */
	char *exec_extension_json;
};

struct kubeconfig_user {
	char *name;
	struct kubeconfig_origin origin;
	char *client_cert_file;
	unsigned char *client_cert_data;
	size_t client_cert_data_len;
	char *client_key_file;
	unsigned char *client_key_data;
	size_t client_key_data_len;
	char *token;
	char *token_file;
	char *username;
	char *password;
	char *impersonate;     /* as */
	char *impersonate_uid; /* as-uid */
	char **impersonate_groups;
	size_t n_impersonate_groups;
	char *auth_provider;          /* its name; not supported */
	struct kubeconfig_exec *exec; /* NULL without exec */
};

struct kubeconfig_context {
	char *name;
	struct kubeconfig_origin origin;
	char *cluster;
	char *user;
	char *namespace; /* NULL: "default" */
};

/* A merged configuration. Read-only for callers; free with
 * kubeconfig_free(). */
struct kubeconfig {
	char **files; /* display names of the files read, in order */
	size_t n_files;
	char *current_context; /* NULL when no file sets one */
	struct kubeconfig_origin current_context_origin;
	struct kubeconfig_cluster **clusters;
	size_t n_clusters;
	struct kubeconfig_user **users;
	size_t n_users;
	struct kubeconfig_context **contexts;
	size_t n_contexts;
};

/*
 * How to reach and authenticate to one API server: a kubeconfig context or
 * the in-cluster configuration, with every file read. Owns all its memory;
 * secrets are wiped by kubeconfig_resolved_free().
 */
struct kubeconfig_resolved {
	char *context;      /* context name, or "in-cluster" */
	char *cluster_name; /* NULL in-cluster */
	char *user_name;    /* NULL in-cluster or when the context has none */
	char *origin;       /* "~/.kube/config:7" for messages */
	char *namespace;    /* never NULL */
	char *server;       /* URL without a trailing '/' */
	unsigned char *ca_pem;
	size_t ca_pem_len; /* NULL: the system's trust store */
	bool insecure_skip_tls_verify;
	char *tls_server_name;
	char *proxy_url;
	bool disable_compression;
	unsigned char *client_cert_pem;
	size_t client_cert_pem_len;
	unsigned char *client_key_pem;
	size_t client_key_pem_len;
	char *token;      /* static token, or token_file's content when read */
	char *token_file; /* re-read periodically (rotating tokens) */
	char *username;
	char *password;
	char *impersonate;
	char *impersonate_uid;
	char **impersonate_groups;
	size_t n_impersonate_groups;
	struct kubeconfig_exec *exec; /* NULL without an exec plugin */
	/* spec.cluster for KUBERNETES_EXEC_INFO, JSON; NULL unless the plugin
	 * asked for provideClusterInfo. */
	char *exec_cluster_json;
};

/* An empty configuration. Returns NULL when out of memory. */
struct kubeconfig *kubeconfig_new(void);
void kubeconfig_free(struct kubeconfig *kc);

/*
 * Loads the configuration kubectl would: explicit_path (--kubeconfig,
 * must exist) if not NULL, else the list in $KUBECONFIG, else
 * ~/.kube/config. A missing default file gives an empty configuration
 * (resolving it then says what to do). Caller frees *ret_kc.
 * Returns 0, or a negative errno with a sentence in err (-ENOENT for a
 * missing explicit file, -EINVAL for a broken file, -EFBIG, -ENOMEM).
 */
int kubeconfig_load(const char *explicit_path, struct kubeconfig **ret_kc,
    char *err, size_t errlen);

/*
 * Loads and merges the ':'-separated list of files in pathlist (the
 * $KUBECONFIG rule: empty and repeated entries ignored, missing files
 * skipped). Same contract as kubeconfig_load().
 */
int kubeconfig_load_list(
    const char *pathlist, struct kubeconfig **ret_kc, char *err, size_t errlen);

/*
 * Parses one kubeconfig document held in buf and merges it into kc (entries
 * and current-context already present win). display names the file in
 * messages and origins; dir, when not NULL, is the absolute directory that
 * relative paths are resolved against. On error kc keeps whatever earlier
 * files gave it (it may also hold some entries of this one).
 * Returns 0 or -EINVAL / -EMSGSIZE / -ENOMEM with a sentence in err.
 */
int kubeconfig_parse(struct kubeconfig *kc, const char *buf, size_t len,
    const char *display, const char *dir, char *err, size_t errlen);

const struct kubeconfig_cluster *kubeconfig_find_cluster(
    const struct kubeconfig *kc, const char *name);
const struct kubeconfig_user *kubeconfig_find_user(
    const struct kubeconfig *kc, const char *name);
const struct kubeconfig_context *kubeconfig_find_context(
    const struct kubeconfig *kc, const char *name);

/*
 * Flattens a context of kc: context (a --context flag) if not NULL, else
 * current-context. Reads the CA, client certificate, key and token files,
 * checks that certificate and key come in pairs, that an exec plugin is
 * well-formed (command, a supported apiVersion, interactiveMode for v1) and
 * that no legacy auth-provider is in use. The namespace is the context's,
 * else "default". Caller frees *ret with kubeconfig_resolved_free().
 * Returns 0, or a negative errno with a sentence in err saying what to do
 * (-ENOENT for an unknown context, cluster or user, or a missing file,
 * -EINVAL for an invalid entry, -ENOTSUP for auth-provider).
 */
int kubeconfig_resolve(const struct kubeconfig *kc, const char *context,
    struct kubeconfig_resolved **ret, char *err, size_t errlen);

/*
 * The in-cluster configuration of a pod (client-go InClusterConfig):
 * KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (both non-empty, or
 * -ENXIO "not running in a pod"), the service account's token (kept as a
 * token file, so rotation is followed) and ca.crt from sa_dir (NULL:
 * KUBECONFIG_SA_DIR), the namespace from $POD_NAMESPACE, else sa_dir's
 * namespace file, else "default". An unreadable ca.crt is an error (we
 * would otherwise trust the system store for the API server).
 */
int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig_resolved **ret,
    char *err, size_t errlen);

void kubeconfig_resolved_free(struct kubeconfig_resolved *rc);

/*
 * Reads a token file as client-go does (whitespace trimmed; empty is an
 * error). Caller frees *ret_token (wipe it first). Returns 0 or a negative
 * errno with a sentence in err.
 */
int kubeconfig_read_token_file(
    const char *path, char **ret_token, char *err, size_t errlen);

/* Deep copy of an exec section; NULL when out of memory. */
struct kubeconfig_exec *kubeconfig_exec_dup(const struct kubeconfig_exec *e);
void kubeconfig_exec_free(struct kubeconfig_exec *e);

/* Writes path with a leading $HOME shown as "~" into buf; returns buf. */
const char *kubeconfig_display_path(const char *path, char *buf, size_t len);

#endif
