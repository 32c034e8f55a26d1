/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube: a small Kubernetes REST client on libcurl, for the kinds telepod
 * creates and watches. A struct kube_client is made from a resolved
 * kubeconfig context or the in-cluster configuration (common/kubeconfig.h)
 * and authenticates with what that names: client certificate, bearer token
 * (a token file is re-read every minute, as client-go does), basic auth, or
 * an exec plugin (common/kubeexec.h; its credential is cached until it
 * expires, and a 401 makes the client run it again and retry once).
 *
 * Blocking by design: every call runs one curl easy handle to completion,
 * so it is for the CLI, tests and a provisioner's worker, never for a
 * libevent loop (use the multi-socket API there, see STYLE.md). The client
 * keeps its easy handles between calls, so consecutive requests reuse the
 * TCP/TLS connection (HTTP keep-alive or HTTP/2). A client is not
 * thread-safe; use one per thread.
 *
 * Errors: each call returns 0 or a negative errno and fills a struct
 * kube_error with a sentence for the user, decoded from the API server's
 * Status object: a 403 names the verb and resource that the user lacks and
 * the `kubectl auth can-i` command that checks it. errno mapping:
 *   400, 422 -EINVAL     401 -EKEYREJECTED     403 -EACCES
 *   404 -ENOENT          409 AlreadyExists -EEXIST, other 409 -EBUSY
 *   410 -ESTALE          429, 503, 504 -EAGAIN  other 5xx -EIO
 *   cannot connect -ECONNREFUSED, cannot resolve -EHOSTUNREACH, timeout
 *   -ETIMEDOUT, TLS -EPROTO, malformed reply -EPROTO, too large -EMSGSIZE.
 *
 * Objects are cJSON trees: returned ones are owned by the caller
 * (cJSON_Delete), passed ones are borrowed.
 */
#ifndef TELEPOD_COMMON_KUBE_H
#define TELEPOD_COMMON_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/kubeconfig.h"
#include "common/kubeexec.h"

#define KUBE_FIELD_MANAGER   "telepod"
#define KUBE_MAX_BODY        (64u << 20) /* one response, default cap */
#define KUBE_MAX_LIST_PAGES  10000
#define KUBE_MAX_LIST_ITEMS  200000
#define KUBE_WATCH_MAX_LINE  (16u << 20) /* one watch event, default */
#define KUBE_MAX_NAME        1024        /* a namespace or object name */
#define KUBE_TOKEN_FILE_SECS 60          /* re-read period */
#define KUBE_ERR_MAX         1536

/* A resource type of the built-in table. */
struct kube_kind {
	const char *kind;     /* "Deployment" */
	const char *group;    /* "apps"; "" for the core group */
	const char *version;  /* "v1" */
	const char *resource; /* "deployments" (the RBAC resource) */
	bool namespaced;
};

/* The kind named kind ("ConfigMap", case-sensitive), or NULL. The table:
 * Namespace, ConfigMap, Secret, Service, ServiceAccount, Pod, Node,
 * Deployment, Job, Role, RoleBinding, ClusterRole, ClusterRoleBinding. */
const struct kube_kind *kube_kind_lookup(const char *kind);

/* The kind of obj from its apiVersion and kind, or NULL. */
const struct kube_kind *kube_kind_of(const cJSON *obj);

/*
 * Writes the REST path of k: the collection when name is NULL, else the
 * item. ns is required for namespaced kinds and ignored otherwise. Names
 * are percent-encoded. Returns the length, -EINVAL (empty, ".", "..", a
 * '/' or a control character in a name, or a missing namespace) or
 * -ENAMETOOLONG.
 */
int kube_path(const struct kube_kind *k, const char *ns, const char *name,
    char *buf, size_t len);

/* What a call failed with. */
struct kube_error {
	long http_status; /* 0: no HTTP answer (transport) */
	char reason[64];  /* the Status reason ("Forbidden"), or "" */
	long retry_after; /* seconds, from Retry-After or details */
	char message[KUBE_ERR_MAX];
};

/* What a request was doing, for messages. */
struct kube_op {
	const char *verb; /* RBAC verb: get list watch create update patch
	                     delete */
	const struct kube_kind *kind; /* NULL for raw paths */
	const char *ns;
	const char *name;
	const char *context; /* the kubeconfig context, may be NULL */
};

/*
 * Decodes an error response (HTTP status, body of len bytes: a Status
 * object or anything else) for op into err. Also used for watch ERROR
 * events (http_status 0: the Status' code is used). Returns the negative
 * errno of the mapping above (-EIO for an unknown status).
 */
int kube_status_decode(long http_status, const char *body, size_t len,
    const struct kube_op *op, struct kube_error *err);

/* The parts of a kubeconfig server URL (curl-allocated; brackets kept
 * around an IPv6 host, the port filled in from the scheme, trailing
 * slashes of the path removed). */
struct kube_server_url {
	char *scheme; /* "https" or "http" */
	char *host;
	char *port;
	char *path; /* "" or "/prefix" */
};

/* Splits rc->server. Returns 0, -ENOMEM, or -EINVAL with a sentence in err
 * when it is not an http(s)://host[:port][/path] URL. */
int kube_server_url_parse(const struct kubeconfig_resolved *rc,
    struct kube_server_url *ret, char *err, size_t errlen);
void kube_server_url_free(struct kube_server_url *u);

struct kube_client_opts {
	long timeout_ms;         /* whole request, not watches; 0: 30 s */
	long connect_timeout_ms; /* 0: 10 s */
	size_t max_body;         /* response cap; 0: KUBE_MAX_BODY */
	struct kubeexec_opts exec;
	bool exec_set; /* use exec above (else defaults) */
};

struct kube_client;

/*
 * Makes a client for rc (copied; the caller keeps and frees rc). opts may
 * be NULL. Nothing is sent yet. Returns 0, -ENOMEM, or -EINVAL with a
 * sentence in err (a server URL that is not http(s)://host[:port][/path]).
 */
int kube_client_new(const struct kubeconfig_resolved *rc,
    const struct kube_client_opts *opts, struct kube_client **ret, char *err,
    size_t errlen);
void kube_client_free(struct kube_client *c);

/* The default namespace (the context's, or the pod's). Borrowed. */
const char *kube_client_namespace(const struct kube_client *c);

/*
 * A raw request: method ("GET"...) to path (with its query, starting with
 * '/'), body (NULL or serialized as JSON with content_type, default
 * application/json). On 2xx *ret_obj (may be NULL) gets the parsed JSON
 * body (NULL for an empty one). Returns the HTTP status (2xx) or a
 * negative errno.
 */
int kube_request(struct kube_client *c, const char *method, const char *path,
    const cJSON *body, const char *content_type, cJSON **ret_obj,
    struct kube_error *err);

/*
 * ns: NULL means the object's metadata.namespace (for writes), else the
 * client's default namespace; ignored for cluster-scoped kinds. k may be
 * NULL for writes: the kind then comes from the object's apiVersion and
 * kind (and must be in the table). Objects without apiVersion/kind get
 * those of k. ret_obj may be NULL.
 */
int kube_get(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const char *name, cJSON **ret_obj, struct kube_error *err);

struct kube_list_opts {
	const char *label_selector; /* "app=x,tier!=db", may be NULL */
	const char *field_selector; /* "metadata.name=x", may be NULL */
	unsigned limit;             /* page size; 0: 500; UINT_MAX: no paging */
};

/*
 * Lists every object, following `continue` tokens (an expired token makes
 * it start over once without paging). *ret_list is the list object with
 * all items in "items" and the snapshot's metadata.resourceVersion.
 */
int kube_list(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const struct kube_list_opts *opts, cJSON **ret_list,
    struct kube_error *err);

/* One page: continue_token NULL for the first. *ret_page is the list
 * object (metadata.continue set while more remain). */
int kube_list_page(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const struct kube_list_opts *opts,
    const char *continue_token, cJSON **ret_page, struct kube_error *err);

/* POST to the collection (201 or 200). -EEXIST when the name is taken. */
int kube_create(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const cJSON *obj, cJSON **ret_obj, struct kube_error *err);

/* PUT to the item named by obj's metadata.name. A metadata.resourceVersion
 * in obj is a precondition: a mismatch gives -EBUSY (409 Conflict). */
int kube_update(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const cJSON *obj, cJSON **ret_obj, struct kube_error *err);

enum kube_propagation {
	KUBE_PROPAGATION_DEFAULT = 0, /* the kind's default */
	KUBE_PROPAGATION_FOREGROUND,
	KUBE_PROPAGATION_BACKGROUND,
	KUBE_PROPAGATION_ORPHAN,
};

/* DELETE (200 or 202). *ret_obj: the deleted object or a Status. */
int kube_delete(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const char *name, enum kube_propagation propagation,
    cJSON **ret_obj, struct kube_error *err);

/*
 * Server-side apply: PATCH the item with obj as
 * application/apply-patch+yaml (JSON is YAML), fieldManager=telepod and,
 * with force, force=true (take over fields other managers own instead of
 * a 409). Creates the object when missing.
 */
int kube_apply(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const cJSON *obj, bool force, cJSON **ret_obj, struct kube_error *err);

/* ---------------------------------------------------------------------- */
/* watch */

enum kube_event_type {
	KUBE_EVENT_ADDED,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK, /* only resource_version is meaningful */
	KUBE_EVENT_SYNC,     /* kube_list_watch(): a fresh list; object is
	                        the list, its "items" the whole state */
};

struct kube_event {
	enum kube_event_type type;
	const cJSON *object; /* borrowed for the callback's duration */
	const char *resource_version;
};

/* Called per event: return 0 to go on, > 0 to stop (the watch returns
 * that value), < 0 to fail with that errno. */
typedef int (*kube_watch_fn)(const struct kube_event *ev, void *arg);

struct kube_watch_opts {
	const char *label_selector;
	const char *field_selector;
	/* Where to start: NULL or "0" replays the current state as ADDED
	 * events; a list's resourceVersion gives only later changes. */
	const char *resource_version;
	unsigned timeout_seconds; /* server ends the stream; 0: 300 */
	bool no_bookmarks;        /* default: allowWatchBookmarks=true */
	size_t max_line;          /* one event; 0: KUBE_WATCH_MAX_LINE */
};

/*
 * One watch stream (GET ...?watch=1), one callback per event as the
 * newline-delimited JSON arrives (events split across chunks are joined;
 * longer than max_line is -EMSGSIZE). *ret_rv (may be NULL; caller frees)
 * gets the last resourceVersion seen, from events and bookmarks, to resume
 * from. Returns 0 when the server ended the stream, the callback's
 * positive value, -ESTALE when the resourceVersion is too old (HTTP 410 or
 * an ERROR event with code 410: relist), another negative errno for
 * other ERROR events and failures.
 */
int kube_watch(struct kube_client *c, const struct kube_kind *k, const char *ns,
    const struct kube_watch_opts *opts, kube_watch_fn fn, void *arg,
    char **ret_rv, struct kube_error *err);

/*
 * List, then watch from the list's resourceVersion, for as long as the
 * callback wants: a SYNC event carries each (re)list, then the changes
 * follow; a stream the server ends is resumed from the last
 * resourceVersion; a 410 relists (another SYNC). opts->resource_version is
 * ignored. Returns the callback's positive value, or a negative errno.
 */
int kube_list_watch(struct kube_client *c, const struct kube_kind *k,
    const char *ns, const struct kube_watch_opts *opts, kube_watch_fn fn,
    void *arg, struct kube_error *err);

/* ---------------------------------------------------------------------- */
/* the caller's own transfers (the port-forward upgrade) */

/* What kube_setup_handle() hands over; free after the transfer. */
struct kube_handle_lists {
	struct curl_slist *headers;    /* set as CURLOPT_HTTPHEADER */
	struct curl_slist *connect_to; /* set as CURLOPT_CONNECT_TO, or NULL */
};

/*
 * Sets up the caller's easy handle h (it is curl_easy_reset first) to
 * reach path on c's API server exactly as c's own requests do: URL, TLS
 * trust (only the kubeconfig's CA when it names one), client certificate
 * (the kubeconfig's or the exec plugin's), tls-server-name routing, proxy,
 * connect timeout and keep-alive, no total timeout, and in ret->headers
 * Authorization (bearer token; basic auth is set on h instead),
 * impersonation, Accept and, with tls-server-name, Host. The caller adds
 * its own options (CURLOPT_CONNECT_ONLY, CURLOPT_HTTP_VERSION, write
 * callback). With CONNECT_ONLY curl sends no request: write
 * ret->headers' lines into your own. Free with kube_handle_lists_free()
 * after the transfer (it wipes the token). Returns 0 or a negative errno
 * (credentials: see kube_get()).
 */
int kube_setup_handle(struct kube_client *c, CURL *h, const char *path,
    struct kube_handle_lists *ret, struct kube_error *err);
void kube_handle_lists_free(struct kube_handle_lists *l);

/*
 * The server answered the caller's own transfer with 401: drops the exec
 * plugin's credential or re-reads the token file. Returns true when a
 * retry may succeed (then set the handle up again).
 */
bool kube_client_auth_failed(struct kube_client *c);

#endif
