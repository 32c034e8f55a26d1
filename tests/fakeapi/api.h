/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api: the fake API server's REST layer. It routes
 * /api/v1/... and /apis/GROUP/VERSION/... requests to the store:
 * get, list (label and field selectors, Table output for kubectl), watch
 * (chunked, bookmarks, timeoutSeconds, 410 Expired), create, update
 * (optimistic concurrency on resourceVersion), patch (JSON merge, strategic
 * merge as a merge-patch subset, JSON patch, server-side apply) and delete
 * (namespaces terminate, then go with their contents). Every body is
 * validated against the OpenAPI schemas first, and every error is a real
 * metav1.Status. Authentication and the deny rules of auth.h come first;
 * pods/portforward is handed to portforward.h.
 */
#ifndef TELEPOD_FAKEAPI_API_H
#define TELEPOD_FAKEAPI_API_H

#include <stdint.h>

#include <event2/event.h>

#include "tests/fakeapi/auth.h"
#include "tests/fakeapi/discovery.h"
#include "tests/fakeapi/http.h"
#include "tests/fakeapi/schema.h"
#include "tests/fakeapi/store.h"

struct portforward;

struct api_config {
	unsigned bookmark_seconds; /* BOOKMARK interval on watches (>= 1) */
};

/* The service range when api_set_service_cidr() is not called. */
#define API_DEFAULT_SERVICE_CIDR "10.96.0.0/12"
/* The node api_add_node() gets when main is given none. */
#define API_DEFAULT_NODE "fake-node-1=10.244.0.0/24"
/* At most this many --node. */
#define API_MAX_NODES 64

struct api;

/* All borrowed; they must outlive the api. pf may be NULL (port-forward
 * answers 503 then). Caller frees with api_free(). NULL on no memory. */
struct api *api_new(struct event_base *base, struct store *store,
    struct discovery *disc, struct schema_set *schemas, struct auth *auth,
    struct portforward *pf, const struct api_config *cfg);
/* Ends open watches (their requests are answered with a stream end). */
void api_free(struct api *api);

/* The http_handler_fn of the server: arg is the struct api. */
void api_handle(struct http_request *req, void *arg);

/* Creates the namespaces a fresh cluster has (default, kube-system,
 * kube-public, kube-node-lease). Returns 0 or a negative errno. */
int api_bootstrap(struct api *api);

/*
 * Sets the service range (--service-cluster-ip-range): cidr is one IPv4
 * prefix of /12 to /30 or one IPv6 prefix of /108 to /126, without host
 * bits. Services get their clusterIP from it and a clusterIP outside it
 * is refused with the real allocator's 422 (also on dryRun=All). Returns
 * 0, or -EINVAL with a sentence in err.
 */
int api_set_service_cidr(
    struct api *api, const char *cidr, char *err, size_t errlen);

/*
 * Creates a Node from "NAME=PODCIDR[,PODCIDR]" (a DNS subdomain name; at
 * most one prefix per family): spec.podCIDR is the first, spec.podCIDRs
 * both, and a Ready status as a kubelet reports it. Returns 0, -EINVAL
 * (err says why), -EEXIST or -ENOMEM.
 */
int api_add_node(struct api *api, const char *spec, char *err, size_t errlen);

#endif
