/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmanifest: telepod-server's Kubernetes objects, from the YAML files in
 * packaging/kubernetes/ (the single source; compiled into the CLI by a
 * make rule as client/kmanifest-data.c). The YAML is read with libyaml
 * into cJSON with the scalar rules of the Kubernetes YAML decoder
 * (sigs.k8s.io/yaml on go-yaml v2, YAML 1.1: plain true/false/yes/no/
 * on/off are booleans, ~ and null are null, 0x.. hex and 0.. octal
 * integers), then given the namespace, image, version label, the TLS
 * material of the Secret, and one hash annotation per object that tells
 * a later `telepod connect` whether the object in the cluster is already
 * what it would apply.
 */
#ifndef TELEPOD_CLIENT_KMANIFEST_H
#define TELEPOD_CLIENT_KMANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Labels and annotations telepod puts on its objects. */
#define KMANIFEST_LABEL_NAME       "app.kubernetes.io/name"
#define KMANIFEST_LABEL_PART_OF    "app.kubernetes.io/part-of"
#define KMANIFEST_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define KMANIFEST_LABEL_VERSION    "app.kubernetes.io/version"
#define KMANIFEST_MANAGED_BY       "telepod"
#define KMANIFEST_ANN_HASH         "telepod.dev/config-hash"
#define KMANIFEST_ANN_TLS_HASH     "telepod.dev/tls-hash"
/* The pods of telepod-server. */
#define KMANIFEST_SELECTOR                                                     \
	"app.kubernetes.io/name=telepod-server,app.kubernetes.io/part-of=telepod"
#define KMANIFEST_SERVER_PORT 8443

/* Hard limits on what the YAML reader takes. */
#define KMANIFEST_MAX_YAML   (1u << 20)
#define KMANIFEST_MAX_DEPTH  64
#define KMANIFEST_MAX_SCALAR (64u << 10)
#define KMANIFEST_ERR_MAX    512

/* One file of packaging/kubernetes/, in apply order. */
struct kmanifest_file {
	const char *name; /* "deployment.yaml" */
	const char *yaml;
};

extern const struct kmanifest_file kmanifest_files[];
extern const size_t kmanifest_n_files;

/*
 * Reads one YAML document of len bytes (a mapping) into *ret (caller
 * frees). Aliases, tags other than the standard ones, more than one
 * document, duplicate keys, non-string keys and anything over the limits
 * are refused. Returns 0, or -EINVAL / -EMSGSIZE / -ENOMEM with a
 * sentence in err naming the line.
 */
int kmanifest_yaml_parse(
    const char *buf, size_t len, cJSON **ret, char *err, size_t errlen);

/* What the objects are made for. Strings are borrowed. */
struct kmanifest_params {
	const char *ns;
	const char *image;   /* replaces the container's image; NULL: keep */
	const char *version; /* the app.kubernetes.io/version label */
	/* The Secret's data (PEM text): ca.crt, server.crt, server.key. */
	const char *ca_crt;
	const char *server_crt;
	const char *server_key;
};

/*
 * Builds the objects to apply, in apply order (ServiceAccount, Secret,
 * Deployment, Service) as a cJSON array in *ret (caller frees; it holds
 * a key: wipe with kmanifest_wipe() first). Every object gets
 * metadata.namespace, the version label, and KMANIFEST_ANN_HASH over its
 * own content; the Deployment's pod template gets the version label and
 * KMANIFEST_ANN_TLS_HASH, so a new certificate rolls the pod. Returns 0,
 * or a negative errno with a sentence in err.
 */
int kmanifest_build(
    const struct kmanifest_params *p, cJSON **ret, char *err, size_t errlen);

/* Wipes every string of j (keys included) before it is freed. */
void kmanifest_wipe(cJSON *j);

/* The hash annotation of obj, or NULL. */
const char *kmanifest_hash_of(const cJSON *obj);

/* A string label of obj, or NULL. */
const char *kmanifest_label_of(const cJSON *obj, const char *key);

#endif
