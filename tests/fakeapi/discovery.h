/* SPDX-License-Identifier: Apache-2.0 */
/*
 * discovery: the resources the fake API server serves (a fixed table) and
 * the discovery documents a client reads before anything else: /version,
 * /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, /openapi/v2 and
 * /openapi/v3 (served from the shared OpenAPI files). Legacy (unaggregated)
 * discovery only: a client asking for the aggregated
 * apidiscovery.k8s.io/v2 form gets the plain one with Content-Type
 * application/json, which client-go accepts as a fallback.
 */
#ifndef TELEPOD_FAKEAPI_DISCOVERY_H
#define TELEPOD_FAKEAPI_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/fakeapi/http.h"

/* Which schema document holds a resource's definition. */
enum discovery_doc {
	DISCOVERY_DOC_CORE,  /* openapi/v3/api__v1_openapi.json */
	DISCOVERY_DOC_APPS,  /* openapi/v3/apis__apps__v1_openapi.json */
	DISCOVERY_DOC_BATCH, /* openapi/v3/apis__batch__v1_openapi.json */
	DISCOVERY_DOC_V2,    /* openapi/v2/swagger.json (RBAC) */
	DISCOVERY_N_DOCS,
};

struct discovery_resource {
	const char *group; /* "" for the core group */
	const char *version;
	const char *plural;
	const char *singular;
	const char *kind;
	bool namespaced;
	const char *short_names; /* comma-separated, or NULL */
	const char *schema;      /* definition name in its document */
	enum discovery_doc doc;
	bool generation;    /* metadata.generation tracks spec changes */
	bool status_subres; /* has a /status subresource */
};

/* The table, and its size. */
extern const struct discovery_resource discovery_resources[];
extern const size_t discovery_n_resources;

/* Finds a resource by group, version and plural name; NULL when unknown. */
const struct discovery_resource *discovery_find(
    const char *group, const char *version, const char *plural);
/* Finds a resource by an object's apiVersion ("v1", "apps/v1") and kind. */
const struct discovery_resource *discovery_find_kind(
    const char *api_version, const char *kind);
/* "pods" or "deployments.apps": how Status messages name a resource. */
const char *discovery_qualified(
    const struct discovery_resource *res, char *buf, size_t len);
/* "apps/v1" or "v1". */
const char *discovery_api_version(
    const struct discovery_resource *res, char *buf, size_t len);

struct discovery;

/* Loads the OpenAPI documents under k8s_dir (the shared/k8s folder) for
 * serving. Caller frees with discovery_free(). Returns 0 or a negative
 * errno with a sentence in err. */
int discovery_new(
    const char *k8s_dir, struct discovery **ret, char *err, size_t errlen);
void discovery_free(struct discovery *d);

/* Answers req when its path is a discovery or OpenAPI path and returns
 * true; returns false (req untouched) otherwise. */
bool discovery_serve(struct discovery *d, struct http_request *req);

/* The version the fake reports (the OpenAPI v3 files are from 1.27). */
#define DISCOVERY_MAJOR       "1"
#define DISCOVERY_MINOR       "27"
#define DISCOVERY_GIT_VERSION "v1.27.0-fakeapi"

#endif
