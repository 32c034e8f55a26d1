/* SPDX-License-Identifier: Apache-2.0 */
/*
 * discovery: the fake's resource table and the documents clients read to
 * learn it: /version, legacy discovery (/api, /api/v1, /apis,
 * /apis/GROUP[/VERSION]) and the OpenAPI documents served byte for byte
 * from the shared files (/openapi/v2 as JSON only; /openapi/v3 as an index
 * of per-group-version documents addressed with a content hash, as the
 * real server does so clients can cache them).
 */
#include "tests/fakeapi/discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "tests/fakeapi/openapipb.h"
#include "tests/fakeapi/status.h"

#define DISCOVERY_MAX_DOC (32 * 1024 * 1024)

const struct discovery_resource discovery_resources[] = {
    {"", "v1", "namespaces", "namespace", "Namespace", false, "ns",
        "io.k8s.api.core.v1.Namespace", DISCOVERY_DOC_CORE, false, true},
    {"", "v1", "nodes", "node", "Node", false, "no", "io.k8s.api.core.v1.Node",
        DISCOVERY_DOC_CORE, false, true},
    {"", "v1", "configmaps", "configmap", "ConfigMap", true, "cm",
        "io.k8s.api.core.v1.ConfigMap", DISCOVERY_DOC_CORE, false, false},
    {"", "v1", "secrets", "secret", "Secret", true, NULL,
        "io.k8s.api.core.v1.Secret", DISCOVERY_DOC_CORE, false, false},
    {"", "v1", "services", "service", "Service", true, "svc",
        "io.k8s.api.core.v1.Service", DISCOVERY_DOC_CORE, false, true},
    {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true,
        "sa", "io.k8s.api.core.v1.ServiceAccount", DISCOVERY_DOC_CORE, false,
        false},
    {"", "v1", "pods", "pod", "Pod", true, "po", "io.k8s.api.core.v1.Pod",
        DISCOVERY_DOC_CORE, false, true},
    {"apps", "v1", "deployments", "deployment", "Deployment", true, "deploy",
        "io.k8s.api.apps.v1.Deployment", DISCOVERY_DOC_APPS, true, true},
    {"batch", "v1", "jobs", "job", "Job", true, NULL, "io.k8s.api.batch.v1.Job",
        DISCOVERY_DOC_BATCH, true, true},
    {"rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, NULL,
        "io.k8s.api.rbac.v1.Role", DISCOVERY_DOC_V2, false, false},
    {"rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding",
        "RoleBinding", true, NULL, "io.k8s.api.rbac.v1.RoleBinding",
        DISCOVERY_DOC_V2, false, false},
    {"rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole",
        "ClusterRole", false, NULL, "io.k8s.api.rbac.v1.ClusterRole",
        DISCOVERY_DOC_V2, false, false},
    {"rbac.authorization.k8s.io", "v1", "clusterrolebindings",
        "clusterrolebinding", "ClusterRoleBinding", false, NULL,
        "io.k8s.api.rbac.v1.ClusterRoleBinding", DISCOVERY_DOC_V2, false,
        false},
};
const size_t discovery_n_resources =
    sizeof(discovery_resources) / sizeof(discovery_resources[0]);

/* The groups besides core, in the order /apis lists them. */
static const char *const discovery_groups[] = {
    "apps", "batch", "rbac.authorization.k8s.io"};

/* The v3 documents by group-version path, as the real index names them. */
static const struct {
	const char *gv_path; /* "api/v1" */
	const char *file;
} discovery_v3[] = {
    {"api/v1", "openapi/v3/api__v1_openapi.json"},
    {"apis/apps/v1", "openapi/v3/apis__apps__v1_openapi.json"},
    {"apis/batch/v1", "openapi/v3/apis__batch__v1_openapi.json"},
};
#define DISCOVERY_N_V3 (sizeof(discovery_v3) / sizeof(discovery_v3[0]))

struct discovery_file {
	char *data;
	size_t len;
	char hash[129]; /* SHA-512 hex, as the real server's etag */
};

struct discovery {
	struct discovery_file v3[DISCOVERY_N_V3];
	struct discovery_file v2;
	unsigned char *v2pb; /* the same, as gnostic protobuf */
	size_t v2pb_len;
};

const struct discovery_resource *
discovery_find(const char *group, const char *version, const char *plural)
{
	for (size_t i = 0; i < discovery_n_resources; i++) {
		const struct discovery_resource *r = &discovery_resources[i];

		if (strcmp(r->group, group) == 0 &&
		    strcmp(r->version, version) == 0 &&
		    strcmp(r->plural, plural) == 0)
			return r;
	}
	return NULL;
}

const struct discovery_resource *
discovery_find_kind(const char *api_version, const char *kind)
{
	const char *slash = strchr(api_version, '/');

	for (size_t i = 0; i < discovery_n_resources; i++) {
		const struct discovery_resource *r = &discovery_resources[i];
		size_t gl = slash != NULL ? (size_t)(slash - api_version) : 0;
		const char *ver = slash != NULL ? slash + 1 : api_version;

		if (strcmp(r->kind, kind) != 0 || strcmp(r->version, ver) != 0)
			continue;
		if (strlen(r->group) == gl &&
		    strncmp(r->group, api_version, gl) == 0)
			return r;
	}
	return NULL;
}

const char *
discovery_qualified(const struct discovery_resource *res, char *buf, size_t len)
{
	if (res->group[0] == '\0')
		snprintf(buf, len, "%s", res->plural);
	else
		snprintf(buf, len, "%s.%s", res->plural, res->group);
	return buf;
}

const char *
discovery_api_version(
    const struct discovery_resource *res, char *buf, size_t len)
{
	if (res->group[0] == '\0')
		snprintf(buf, len, "%s", res->version);
	else
		snprintf(buf, len, "%s/%s", res->group, res->version);
	return buf;
}

static int
discovery_load(const char *dir, const char *rel, struct discovery_file *f,
    char *err, size_t errlen)
{
	char path[4096];
	FILE *fp;
	long size;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fp = fopen(path, "rb");
	if (fp == NULL) {
		int e = errno;

		snprintf(err, errlen,
		    "cannot read %s: %s (give the shared Kubernetes data folder with --k8s-dir)",
		    path, strerror(e));
		return -e;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
	    size > DISCOVERY_MAX_DOC || fseek(fp, 0, SEEK_SET) != 0) {
		snprintf(err, errlen, "cannot read %s: unreadable or too large",
		    path);
		fclose(fp);
		return -EFBIG;
	}
	f->data = malloc((size_t)size + 1);
	if (f->data == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->len = fread(f->data, 1, (size_t)size, fp);
	f->data[f->len] = '\0';
	fclose(fp);
	if (f->len != (size_t)size) {
		snprintf(err, errlen, "short read on %s", path);
		return -EIO;
	}
	EVP_Digest(f->data, f->len, md, &mdlen, EVP_sha512(), NULL);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(f->hash + 2 * i, 3, "%02X", md[i]);
	return 0;
}

int
discovery_new(
    const char *k8s_dir, struct discovery **ret, char *err, size_t errlen)
{
	struct discovery *d = calloc(1, sizeof(*d));
	int r;

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < DISCOVERY_N_V3; i++) {
		r = discovery_load(
		    k8s_dir, discovery_v3[i].file, &d->v3[i], err, errlen);
		if (r < 0)
			goto fail;
	}
	r = discovery_load(
	    k8s_dir, "openapi/v2/swagger.json", &d->v2, err, errlen);
	if (r < 0)
		goto fail;
	{
		cJSON *sw = cJSON_ParseWithLength(d->v2.data, d->v2.len);

		r = sw != NULL ? openapipb_encode(sw, &d->v2pb, &d->v2pb_len)
		               : -EINVAL;
		cJSON_Delete(sw);
		if (r < 0) {
			snprintf(err, errlen,
			    "cannot encode openapi/v2/swagger.json as protobuf: %s",
			    strerror(-r));
			goto fail;
		}
	}
	*ret = d;
	return 0;
fail:
	discovery_free(d);
	return r;
}

void
discovery_free(struct discovery *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < DISCOVERY_N_V3; i++)
		free(d->v3[i].data);
	free(d->v2.data);
	free(d->v2pb);
	free(d);
}

static cJSON *
discovery_strings(const char *csv)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = csv;

	while (a != NULL && p != NULL && *p != '\0') {
		const char *c = strchr(p, ',');
		size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
		char buf[64];

		snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
		cJSON_AddItemToArray(a, cJSON_CreateString(buf));
		p = c != NULL ? c + 1 : NULL;
	}
	return a;
}

static cJSON *
discovery_resource_list(const char *group, const char *version)
{
	cJSON *list = cJSON_CreateObject();
	cJSON *items;
	char gv[128];

	if (group[0] == '\0')
		snprintf(gv, sizeof(gv), "%s", version);
	else
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	cJSON_AddStringToObject(list, "kind", "APIResourceList");
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	cJSON_AddStringToObject(list, "groupVersion", gv);
	items = cJSON_AddArrayToObject(list, "resources");
	for (size_t i = 0; i < discovery_n_resources; i++) {
		const struct discovery_resource *r = &discovery_resources[i];
		cJSON *o;
		char sub[96];

		if (strcmp(r->group, group) != 0 ||
		    strcmp(r->version, version) != 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", r->plural);
		cJSON_AddStringToObject(o, "singularName", r->singular);
		cJSON_AddBoolToObject(o, "namespaced", r->namespaced);
		cJSON_AddStringToObject(o, "kind", r->kind);
		cJSON_AddItemToObject(o, "verbs",
		    discovery_strings(
		        strcmp(r->plural, "namespaces") == 0
		            ? "create,delete,get,list,patch,update,watch"
		            : "create,delete,deletecollection,get,list,patch,update,watch"));
		if (r->short_names != NULL)
			cJSON_AddItemToObject(
			    o, "shortNames", discovery_strings(r->short_names));
		if (strcmp(r->plural, "pods") == 0 ||
		    strcmp(r->plural, "services") == 0 ||
		    strcmp(r->plural, "deployments") == 0 ||
		    strcmp(r->plural, "jobs") == 0)
			cJSON_AddItemToObject(
			    o, "categories", discovery_strings("all"));
		cJSON_AddItemToArray(items, o);
		if (r->status_subres) {
			o = cJSON_CreateObject();
			snprintf(sub, sizeof(sub), "%s/status", r->plural);
			cJSON_AddStringToObject(o, "name", sub);
			cJSON_AddStringToObject(o, "singularName", r->singular);
			cJSON_AddBoolToObject(o, "namespaced", r->namespaced);
			cJSON_AddStringToObject(o, "kind", r->kind);
			cJSON_AddItemToObject(
			    o, "verbs", discovery_strings("get,patch,update"));
			cJSON_AddItemToArray(items, o);
		}
		if (strcmp(r->plural, "pods") == 0) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", "pods/portforward");
			cJSON_AddStringToObject(o, "singularName", "pod");
			cJSON_AddBoolToObject(o, "namespaced", true);
			cJSON_AddStringToObject(
			    o, "kind", "PodPortForwardOptions");
			cJSON_AddItemToObject(
			    o, "verbs", discovery_strings("create,get"));
			cJSON_AddItemToArray(items, o);
		}
	}
	return list;
}

static cJSON *
discovery_group(const char *name)
{
	cJSON *g = cJSON_CreateObject();
	cJSON *versions, *v;
	char gv[128];

	snprintf(gv, sizeof(gv), "%s/v1", name);
	cJSON_AddStringToObject(g, "name", name);
	versions = cJSON_AddArrayToObject(g, "versions");
	v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "groupVersion", gv);
	cJSON_AddStringToObject(v, "version", "v1");
	cJSON_AddItemToArray(versions, v);
	v = cJSON_AddObjectToObject(g, "preferredVersion");
	cJSON_AddStringToObject(v, "groupVersion", gv);
	cJSON_AddStringToObject(v, "version", "v1");
	return g;
}

static bool
discovery_is_group(const char *name)
{
	for (size_t i = 0;
	     i < sizeof(discovery_groups) / sizeof(discovery_groups[0]); i++)
		if (strcmp(discovery_groups[i], name) == 0)
			return true;
	return false;
}

/* Whether the Accept header allows a JSON answer (absent, JSON or a
 * wildcard). */
static bool
discovery_accepts_json(const struct http_request *req)
{
	const char *a = http_header(req, "Accept");

	return a == NULL || strstr(a, "application/json") != NULL ||
	       strstr(a, "*/*") != NULL || strstr(a, "application/*") != NULL;
}

bool
discovery_serve(struct discovery *d, struct http_request *req)
{
	const char *p = req->path;
	char group[128], version[64], extra[8];
	int n;

	if (strcmp(p, "/version") == 0 || strcmp(p, "/version/") == 0) {
		cJSON *v = cJSON_CreateObject();

		cJSON_AddStringToObject(v, "major", DISCOVERY_MAJOR);
		cJSON_AddStringToObject(v, "minor", DISCOVERY_MINOR);
		cJSON_AddStringToObject(v, "gitVersion", DISCOVERY_GIT_VERSION);
		cJSON_AddStringToObject(
		    v, "gitCommit", "0000000000000000000000000000000000000000");
		cJSON_AddStringToObject(v, "gitTreeState", "clean");
		cJSON_AddStringToObject(v, "buildDate", "2023-04-11T00:00:00Z");
		cJSON_AddStringToObject(v, "goVersion", "go1.20.3");
		cJSON_AddStringToObject(v, "compiler", "gc");
		cJSON_AddStringToObject(v, "platform", "linux/amd64");
		status_json(req, 200, v, NULL);
		return true;
	}
	if (strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 ||
	    strcmp(p, "/livez") == 0) {
		http_respond(
		    req, 200, "text/plain; charset=utf-8", "ok", 2, NULL);
		return true;
	}
	if (strcmp(p, "/api") == 0 || strcmp(p, "/api/") == 0) {
		cJSON *v = cJSON_CreateObject();
		cJSON *a, *s;
		const char *host = http_header(req, "Host");

		cJSON_AddStringToObject(v, "kind", "APIVersions");
		a = cJSON_AddArrayToObject(v, "versions");
		cJSON_AddItemToArray(a, cJSON_CreateString("v1"));
		a = cJSON_AddArrayToObject(v, "serverAddressByClientCIDRs");
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "clientCIDR", "0.0.0.0/0");
		cJSON_AddStringToObject(
		    s, "serverAddress", host != NULL ? host : "");
		cJSON_AddItemToArray(a, s);
		status_json(req, 200, v, NULL);
		return true;
	}
	if (strcmp(p, "/api/v1") == 0 || strcmp(p, "/api/v1/") == 0) {
		status_json(req, 200, discovery_resource_list("", "v1"), NULL);
		return true;
	}
	if (strcmp(p, "/apis") == 0 || strcmp(p, "/apis/") == 0) {
		cJSON *v = cJSON_CreateObject();
		cJSON *a;

		cJSON_AddStringToObject(v, "kind", "APIGroupList");
		cJSON_AddStringToObject(v, "apiVersion", "v1");
		a = cJSON_AddArrayToObject(v, "groups");
		for (size_t i = 0;
		     i < sizeof(discovery_groups) / sizeof(discovery_groups[0]);
		     i++)
			cJSON_AddItemToArray(
			    a, discovery_group(discovery_groups[i]));
		status_json(req, 200, v, NULL);
		return true;
	}
	n = sscanf(p, "/apis/%127[^/]/%63[^/]%7s", group, version, extra);
	if (n == 1) {
		/* /apis/GROUP or /apis/GROUP/ */
		const char *rest = p + 6 + strlen(group);
		cJSON *g;

		if ((rest[0] != '\0' && strcmp(rest, "/") != 0) ||
		    !discovery_is_group(group))
			return false;
		g = discovery_group(group);
		cJSON_AddStringToObject(g, "kind", "APIGroup");
		cJSON_AddStringToObject(g, "apiVersion", "v1");
		status_json(req, 200, g, NULL);
		return true;
	}
	if ((n == 2 || (n == 3 && strcmp(extra, "/") == 0)) &&
	    discovery_is_group(group) && strcmp(version, "v1") == 0) {
		status_json(
		    req, 200, discovery_resource_list(group, version), NULL);
		return true;
	}
	if (strcmp(p, "/openapi/v2") == 0) {
		const char *accept = http_header(req, "Accept");

		/* The client's first choice when it lists both; kubectl asks
		 * for protobuf only. */
		if (accept != NULL && strstr(accept, "protobuf") != NULL &&
		    (strstr(accept, "application/json") == NULL ||
		        strstr(accept, "protobuf") <
		            strstr(accept, "application/json"))) {
			http_respond(req, 200, OPENAPIPB_CONTENT_TYPE,
			    (const char *)d->v2pb, d->v2pb_len, NULL);
			return true;
		}
		if (!discovery_accepts_json(req)) {
			status_fail(req, 406, "NotAcceptable",
			    "only the following media types are accepted: application/json",
			    NULL, NULL, NULL);
			return true;
		}
		http_respond(
		    req, 200, "application/json", d->v2.data, d->v2.len, NULL);
		return true;
	}
	if (strcmp(p, "/openapi/v3") == 0 || strcmp(p, "/openapi/v3/") == 0) {
		cJSON *v = cJSON_CreateObject();
		cJSON *paths = cJSON_AddObjectToObject(v, "paths");

		for (size_t i = 0; i < DISCOVERY_N_V3; i++) {
			cJSON *e = cJSON_AddObjectToObject(
			    paths, discovery_v3[i].gv_path);
			char url[512];

			snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s",
			    discovery_v3[i].gv_path, d->v3[i].hash);
			cJSON_AddStringToObject(e, "serverRelativeURL", url);
		}
		status_json(req, 200, v, NULL);
		return true;
	}
	if (strncmp(p, "/openapi/v3/", 12) == 0) {
		for (size_t i = 0; i < DISCOVERY_N_V3; i++) {
			if (strcmp(p + 12, discovery_v3[i].gv_path) == 0) {
				char extra_hdr[256];

				snprintf(extra_hdr, sizeof(extra_hdr),
				    "Etag: \"%s\"\r\n", d->v3[i].hash);
				http_respond(req, 200, "application/json",
				    d->v3[i].data, d->v3[i].len, extra_hdr);
				return true;
			}
		}
		status_fail(req, 404, "NotFound",
		    "the server could not find the requested resource", NULL,
		    NULL, NULL);
		return true;
	}
	return false;
}
