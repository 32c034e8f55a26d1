/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api: request routing and the REST verbs of the fake API server, with
 * the real server's status codes and Status bodies (see
 * shared/k8s/API-NOTES.md section 4): authentication and deny rules,
 * decoding and schema validation with fieldValidation, defaults for the
 * fields a client commonly reads back, namespaces that must exist and
 * that terminate before they go, optimistic concurrency, watches with
 * bookmarks and 410 Expired, and kubectl's Table output.
 */
#include "tests/fakeapi/api.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <time.h>

#include <openssl/rand.h>
#include <yaml.h>

#include "common/log.h"
#include "tests/fakeapi/apply.h"
#include "tests/fakeapi/portforward.h"
#include "tests/fakeapi/status.h"

#define API_MAX_NAME       253
#define API_MAX_SEGS       8
#define API_MAX_MSG        4096
#define API_WATCH_MAX_S    3600
#define API_YAML_MAX_DEPTH 64
#define API_MAX_CIDR_STR   64

/* An IP prefix: family AF_INET or AF_INET6, addr in network order. */
struct api_cidr {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

struct api_watch {
	struct api_watch *next;
	struct api *api;
	struct http_request *req;
	struct store_watch *sw;
	struct store_selector *sel;
	struct event *timeout_ev;
	struct event *bookmark_ev;
	const struct discovery_resource *res;
	bool table;
};

struct api {
	struct event_base *base;
	struct store *store;
	struct discovery *disc;
	struct schema_set *schemas;
	struct auth *auth;
	struct portforward *pf;
	struct api_config cfg;
	struct api_watch *watches;
	struct event *ns_ev; /* finishes terminating namespaces */
	unsigned next_ip;
	struct api_cidr svc_cidr; /* the service range */
	char svc_cidr_str[API_MAX_CIDR_STR];
	unsigned n_nodes;
};

/* One parsed resource request. */
struct api_call {
	struct api *api;
	struct http_request *req;
	const struct discovery_resource *res;
	char group[128];
	char version[32];
	char ns[API_MAX_NAME + 1];
	char name[API_MAX_NAME + 1];
	char sub[32];
	const char *verb;
	char user[AUTH_MAX_USER];
	char qres[160]; /* "deployments.apps" */
};

static void api_ns_finalize_cb(evutil_socket_t fd, short what, void *arg);

struct api *
api_new(struct event_base *base, struct store *store, struct discovery *disc,
    struct schema_set *schemas, struct auth *auth, struct portforward *pf,
    const struct api_config *cfg)
{
	struct api *api = calloc(1, sizeof(*api));

	if (api == NULL)
		return NULL;
	api->base = base;
	api->store = store;
	api->disc = disc;
	api->schemas = schemas;
	api->auth = auth;
	api->pf = pf;
	api->cfg = *cfg;
	if (api->cfg.bookmark_seconds == 0)
		api->cfg.bookmark_seconds = 60;
	/* The compiled-in default is valid. */
	(void)api_set_service_cidr(api, API_DEFAULT_SERVICE_CIDR, NULL, 0);
	api->ns_ev = evtimer_new(base, api_ns_finalize_cb, api);
	if (api->ns_ev == NULL) {
		free(api);
		return NULL;
	}
	return api;
}

static void api_watch_end(struct api_watch *w, bool answer);

void
api_free(struct api *api)
{
	if (api == NULL)
		return;
	while (api->watches != NULL)
		api_watch_end(api->watches, true);
	event_free(api->ns_ev);
	free(api);
}

/* Errors ------------------------------------------------------------------ */

static void
api_not_found(struct api_call *c, const char *name)
{
	char msg[API_MAX_MSG];

	snprintf(msg, sizeof(msg), "%s \"%s\" not found", c->qres, name);
	status_fail(
	    c->req, 404, "NotFound", msg, c->res->group, c->res->plural, name);
}

static void
api_bad_request(struct http_request *req, const char *msg)
{
	status_fail(req, 400, "BadRequest", msg, NULL, NULL, NULL);
}

/* "ConfigMap" or "Deployment.apps": how Invalid names a kind. */
static const char *
api_qualified_kind(const struct discovery_resource *res, char *buf, size_t len)
{
	if (res->group[0] == '\0')
		snprintf(buf, len, "%s", res->kind);
	else
		snprintf(buf, len, "%s.%s", res->kind, res->group);
	return buf;
}

struct api_field_error {
	const char *reason; /* FieldValueRequired, FieldValueInvalid, ... */
	char field[SCHEMA_MAX_PATH];
	char detail[768]; /* "Required value", "Invalid value: ..." */
};

#define API_MAX_FIELD_ERRORS 32

struct api_errors {
	struct api_field_error v[API_MAX_FIELD_ERRORS];
	size_t n;
};

static void api_errors_add(struct api_errors *e, const char *reason,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
api_errors_add(struct api_errors *e, const char *reason, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	if (e->n == API_MAX_FIELD_ERRORS)
		return;
	e->v[e->n].reason = reason;
	snprintf(e->v[e->n].field, sizeof(e->v[e->n].field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->v[e->n].detail, sizeof(e->v[e->n].detail), fmt, ap);
	va_end(ap);
	e->n++;
}

/* The 422 Invalid of apimachinery's NewInvalid: message "Kind \"name\" is
 * invalid: field: detail" or "[a, b]" for several. */
static void
api_invalid(struct api_call *c, const char *name, const struct api_errors *e)
{
	char kind[160], msg[API_MAX_MSG];
	size_t off;
	cJSON *st;

	api_qualified_kind(c->res, kind, sizeof(kind));
	off = (size_t)snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: %s",
	    kind, name, e->n > 1 ? "[" : "");
	for (size_t i = 0; i < e->n && off < sizeof(msg); i++)
		off +=
		    (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s: %s",
		        i > 0 ? ", " : "", e->v[i].field, e->v[i].detail);
	if (e->n > 1 && off < sizeof(msg))
		snprintf(msg + off, sizeof(msg) - off, "]");
	st = status_new(422, "Invalid", msg, c->res->group, NULL, name);
	/* Invalid names the kind, not the resource, in details.kind. */
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(st, "details"),
	    "kind", c->res->kind);
	for (size_t i = 0; i < e->n; i++)
		status_add_cause(
		    st, e->v[i].reason, e->v[i].detail, e->v[i].field);
	status_respond(c->req, st, NULL);
}

/* Body decoding ---------------------------------------------------------- */

static cJSON *api_yaml_node(yaml_document_t *doc, yaml_node_t *node, int depth);

/* YAML scalars become JSON values the way sigs.k8s.io/yaml does for
 * plain scalars: null, booleans, numbers; quoted ones stay strings. */
static cJSON *
api_yaml_scalar(yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;
	size_t n = node->data.scalar.length;
	char *end;
	double d;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cJSON_CreateString(v);
	if (n == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
		return cJSON_CreateNull();
	if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
	    strcmp(v, "TRUE") == 0)
		return cJSON_CreateTrue();
	if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
	    strcmp(v, "FALSE") == 0)
		return cJSON_CreateFalse();
	if (isdigit((unsigned char)v[0]) ||
	    ((v[0] == '-' || v[0] == '+' || v[0] == '.') && n > 1)) {
		d = strtod(v, &end);
		if (*end == '\0' && !(v[0] == '0' && n > 1 && v[1] != '.'))
			return cJSON_CreateNumber(d);
	}
	return cJSON_CreateString(v);
}

static cJSON *
api_yaml_node(yaml_document_t *doc, yaml_node_t *node, int depth)
{
	cJSON *out;

	if (node == NULL || depth > API_YAML_MAX_DEPTH)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return api_yaml_scalar(node);
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (yaml_node_item_t *i = node->data.sequence.items.start;
		     out != NULL && i < node->data.sequence.items.top; i++) {
			cJSON *v = api_yaml_node(
			    doc, yaml_document_get_node(doc, *i), depth + 1);

			if (v == NULL) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToArray(out, v);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     out != NULL && p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			cJSON *v;

			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				cJSON_Delete(out);
				return NULL;
			}
			v = api_yaml_node(doc,
			    yaml_document_get_node(doc, p->value), depth + 1);
			if (v == NULL) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToObject(
			    out, (const char *)k->data.scalar.value, v);
		}
		return out;
	default:
		return NULL;
	}
}

/* Parses a JSON body, or YAML when it is not JSON. NULL when neither. */
static cJSON *
api_parse_body(const struct http_request *req, char *err, size_t errlen)
{
	cJSON *obj = cJSON_ParseWithLength(req->body, req->body_len);
	yaml_parser_t parser;
	yaml_document_t doc;

	if (obj != NULL)
		return obj;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(
	    &parser, (const unsigned char *)req->body, req->body_len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen,
		    "error converting YAML to JSON: yaml: line %zu: %s",
		    parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "invalid");
		yaml_parser_delete(&parser);
		return NULL;
	}
	obj = api_yaml_node(&doc, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (obj == NULL)
		snprintf(err, errlen,
		    "couldn't get version/kind; json parse error: unexpected end of JSON input");
	return obj;
}

enum api_validation {
	API_VALIDATE_IGNORE,
	API_VALIDATE_WARN,
	API_VALIDATE_STRICT,
};

static int
api_field_validation(struct http_request *req, enum api_validation *ret)
{
	const char *v = http_param(req, "fieldValidation");

	if (v == NULL || v[0] == '\0' || strcmp(v, "Warn") == 0)
		*ret = API_VALIDATE_WARN;
	else if (strcmp(v, "Strict") == 0)
		*ret = API_VALIDATE_STRICT;
	else if (strcmp(v, "Ignore") == 0)
		*ret = API_VALIDATE_IGNORE;
	else {
		char msg[256];

		snprintf(msg, sizeof(msg),
		    "fieldValidation parameter unsupported: %s (allowed values: Ignore, Warn, Strict)",
		    v);
		api_bad_request(req, msg);
		return -EINVAL;
	}
	return 0;
}

/* Appends one HTTP Warning header line (RFC 7234 code 299). */
static void
api_warning(char *buf, size_t len, const char *text)
{
	size_t off = strlen(buf);
	char esc[1024];
	size_t o = 0;

	/* The text is a quoted-string: escape quotes and backslashes. */
	for (const char *p = text; *p != '\0' && o + 2 < sizeof(esc); p++) {
		if (*p == '"' || *p == '\\')
			esc[o++] = '\\';
		esc[o++] = *p;
	}
	esc[o] = '\0';
	if (off + o + 32 < len)
		snprintf(
		    buf + off, len - off, "Warning: 299 - \"%s\"\r\n", esc);
}

/*
 * Decodes obj as the real server would for res: kind and apiVersion must
 * match, types must decode, unknown or duplicate fields are errors under
 * Strict and warnings under Warn, required fields and enums are 422.
 * apply selects the messages of server-side apply. Answers req and
 * returns -EINVAL when the object is rejected; warnings go to warn.
 */
static int
api_decode(struct api_call *c, const cJSON *obj, enum api_validation fv,
    bool apply, char *warn, size_t warnlen)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	char want_av[160], msg[API_MAX_MSG], tmp[SCHEMA_MAX_PATH + 64];
	struct schema_report *rep = NULL;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	int r = 0;

	discovery_api_version(c->res, want_av, sizeof(want_av));
	if (!cJSON_IsObject(obj)) {
		api_bad_request(c->req,
		    "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }");
		return -EINVAL;
	}
	if (!cJSON_IsString(kind) || kind->valuestring[0] == '\0') {
		char *text = cJSON_PrintUnformatted(obj);

		snprintf(msg, sizeof(msg),
		    "Object 'Kind' is missing in '%.2000s'",
		    text != NULL ? text : "");
		free(text);
		api_bad_request(c->req, msg);
		return -EINVAL;
	}
	if (!cJSON_IsString(av) || strcmp(av->valuestring, want_av) != 0) {
		snprintf(msg, sizeof(msg),
		    "the API version in the data (%s) does not match the expected API version (%s)",
		    cJSON_IsString(av) ? av->valuestring : "", want_av);
		api_bad_request(c->req, msg);
		return -EINVAL;
	}
	if (strcmp(kind->valuestring, c->res->kind) != 0) {
		snprintf(msg, sizeof(msg),
		    "the kind in the data (%s) does not match the expected kind (%s)",
		    kind->valuestring, c->res->kind);
		api_bad_request(c->req, msg);
		return -EINVAL;
	}
	if (c->api->schemas == NULL)
		return 0;
	rep = malloc(sizeof(*rep));
	if (rep == NULL) {
		status_fail(c->req, 500, "InternalError", "out of memory", NULL,
		    NULL, NULL);
		return -ENOMEM;
	}
	schema_validate(c->api->schemas, c->res->doc, c->res->schema, obj, rep);
	/* 1. Type errors: the decoder fails on the first one. */
	for (size_t i = 0; i < rep->n; i++) {
		const struct schema_issue *is = &rep->issues[i];

		if (is->kind != SCHEMA_TYPE)
			continue;
		if (apply)
			snprintf(msg, sizeof(msg),
			    "failed to create typed patch object (%s%s%s; %s, Kind=%s): .%s: expected %s, got %s",
			    c->ns, c->ns[0] != '\0' ? "/" : "",
			    cJSON_IsString(name) ? name->valuestring : "",
			    want_av, c->res->kind, is->path, is->expected,
			    is->got);
		else if (strcmp(is->expected, "base64") == 0)
			snprintf(msg, sizeof(msg),
			    "%s in version \"%s\" cannot be handled as a %s: illegal base64 data at input byte 0",
			    c->res->kind, c->res->version, c->res->kind);
		else if (strcmp(is->expected, "RFC3339") == 0)
			snprintf(msg, sizeof(msg),
			    "%s in version \"%s\" cannot be handled as a %s: parsing time of %s as RFC 3339 failed",
			    c->res->kind, c->res->version, c->res->kind,
			    is->path);
		else
			snprintf(msg, sizeof(msg),
			    "%s in version \"%s\" cannot be handled as a %s: json: cannot unmarshal %s into Go struct field %s of type %s",
			    c->res->kind, c->res->version, c->res->kind,
			    is->got, is->go_field, is->expected);
		api_bad_request(c->req, msg);
		r = -EINVAL;
		goto out;
	}
	/* 2. Unknown and duplicate fields. */
	if (fv == API_VALIDATE_IGNORE) {
		for (size_t i = rep->n; i-- > 0;)
			if (rep->issues[i].kind == SCHEMA_UNKNOWN)
				apply_json_remove(
				    (cJSON *)obj, rep->issues[i].pointer);
	} else {
		size_t off = 0;
		bool any = false;

		msg[0] = '\0';
		for (size_t i = 0; i < rep->n; i++) {
			const struct schema_issue *is = &rep->issues[i];

			if (is->kind != SCHEMA_UNKNOWN &&
			    is->kind != SCHEMA_DUPLICATE)
				continue;
			if (apply && is->kind == SCHEMA_UNKNOWN)
				snprintf(tmp, sizeof(tmp),
				    ".%s: field not declared in schema",
				    is->path);
			else
				snprintf(tmp, sizeof(tmp), "%s field \"%s\"",
				    is->kind == SCHEMA_UNKNOWN ? "unknown"
				                               : "duplicate",
				    is->path);
			if (fv == API_VALIDATE_WARN) {
				api_warning(warn, warnlen, tmp);
				continue;
			}
			any = true;
			if (off < sizeof(msg))
				off += (size_t)snprintf(msg + off,
				    sizeof(msg) - off, "%s%s",
				    off > 0 ? ", " : "", tmp);
		}
		if (!any) {
			/* Ignore and Warn drop the unknown fields, as the
			 * decoder does. */
			for (size_t i = rep->n; i-- > 0;)
				if (rep->issues[i].kind == SCHEMA_UNKNOWN)
					apply_json_remove((cJSON *)obj,
					    rep->issues[i].pointer);
		}
		if (any) {
			char full[API_MAX_MSG + 256];

			if (apply)
				snprintf(full, sizeof(full),
				    "failed to create typed patch object (%s%s%s; %s, Kind=%s): %s",
				    c->ns, c->ns[0] != '\0' ? "/" : "",
				    cJSON_IsString(name) ? name->valuestring
				                         : "",
				    want_av, c->res->kind, msg);
			else
				snprintf(full, sizeof(full),
				    "%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s",
				    c->res->kind, c->res->version, c->res->kind,
				    msg);
			api_bad_request(c->req, full);
			r = -EINVAL;
			goto out;
		}
	}
out:
	free(rep);
	return r;
}

/* Semantic validation: required fields from the schema, enums, names. */
static bool
api_is_dns_label(const char *s, bool start_alpha)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	if (start_alpha ? !(s[0] >= 'a' && s[0] <= 'z')
	                : !((s[0] >= 'a' && s[0] <= 'z') ||
	                      (s[0] >= '0' && s[0] <= '9')))
		return false;
	if (!((s[n - 1] >= 'a' && s[n - 1] <= 'z') ||
	        (s[n - 1] >= '0' && s[n - 1] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static bool
api_is_dns_subdomain(const char *s)
{
	char buf[API_MAX_NAME + 1], *save = NULL, *p;

	if (strlen(s) == 0 || strlen(s) > API_MAX_NAME)
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	if (s[0] == '.' || s[strlen(s) - 1] == '.' || strstr(s, "..") != NULL)
		return false;
	for (p = strtok_r(buf, ".", &save); p != NULL;
	     p = strtok_r(NULL, ".", &save))
		if (!api_is_dns_label(p, false))
			return false;
	return true;
}

static void
api_check_name(const struct discovery_resource *res, const char *name,
    struct api_errors *e)
{
	if (strcmp(res->plural, "namespaces") == 0) {
		if (!api_is_dns_label(name, false))
			api_errors_add(e, "FieldValueInvalid", "metadata.name",
			    "Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
			    name);
	} else if (strcmp(res->plural, "services") == 0) {
		if (!api_is_dns_label(name, true))
			api_errors_add(e, "FieldValueInvalid", "metadata.name",
			    "Invalid value: \"%s\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
			    name);
	} else if (strcmp(res->group, "rbac.authorization.k8s.io") == 0) {
		/* RBAC names are path segments only. */
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    strchr(name, '/') != NULL || strchr(name, '%') != NULL)
			api_errors_add(e, "FieldValueInvalid", "metadata.name",
			    "Invalid value: \"%s\": may not contain '/' or '%%'",
			    name);
	} else if (!api_is_dns_subdomain(name)) {
		api_errors_add(e, "FieldValueInvalid", "metadata.name",
		    "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
		    name);
	}
}

/* Label keys and values as ValidateLabels checks them. */
static void
api_check_labels(const cJSON *meta, struct api_errors *e)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	const cJSON *it;

	cJSON_ArrayForEach(it, labels)
	{
		const char *v = cJSON_IsString(it) ? it->valuestring : "";
		size_t n = strlen(v);
		bool ok = n <= 63;

		for (size_t i = 0; ok && i < n; i++)
			ok = isalnum((unsigned char)v[i]) || v[i] == '-' ||
			     v[i] == '_' || v[i] == '.';
		if (ok && n > 0)
			ok = isalnum((unsigned char)v[0]) &&
			     isalnum((unsigned char)v[n - 1]);
		if (!ok) {
			char field[SCHEMA_MAX_PATH];

			snprintf(field, sizeof(field), "metadata.labels");
			api_errors_add(e, "FieldValueInvalid", field,
			    "Invalid value: \"%s\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
			    v);
		}
	}
}

/* Collects the 422 errors of obj: required fields (from the schema, with
 * metadata.name treated as the real server does), names and labels. */
static void
api_validate(struct api_call *c, const cJSON *obj, const char *name,
    struct api_errors *e)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	struct schema_report *rep;

	if (name == NULL || name[0] == '\0')
		api_errors_add(e, "FieldValueRequired", "metadata.name",
		    "Required value: name or generateName is required");
	else
		api_check_name(c->res, name, e);
	api_check_labels(meta, e);
	if (c->api->schemas == NULL)
		return;
	rep = malloc(sizeof(*rep));
	if (rep == NULL)
		return;
	schema_validate(c->api->schemas, c->res->doc, c->res->schema, obj, rep);
	for (size_t i = 0; i < rep->n; i++) {
		const struct schema_issue *is = &rep->issues[i];

		if (is->kind == SCHEMA_REQUIRED)
			api_errors_add(e, "FieldValueRequired", is->path,
			    "Required value");
		else if (is->kind == SCHEMA_ENUM)
			api_errors_add(e, "FieldValueNotSupported", is->path,
			    "Unsupported value: \"%s\": supported values: %s",
			    is->value, is->supported);
	}
	free(rep);
	/* A few checks the Go validation makes that the schema cannot
	 * express, on the objects telepod writes. */
	if (strcmp(c->res->plural, "services") == 0) {
		const cJSON *spec =
		    cJSON_GetObjectItemCaseSensitive(obj, "spec");
		const cJSON *ip =
		    cJSON_GetObjectItemCaseSensitive(spec, "clusterIP");
		const cJSON *ips =
		    cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs");
		const cJSON *it;
		unsigned char buf[16];
		int i = 0;

		if (cJSON_IsString(ip) && ip->valuestring[0] != '\0' &&
		    strcmp(ip->valuestring, "None") != 0 &&
		    inet_pton(AF_INET, ip->valuestring, buf) != 1 &&
		    inet_pton(AF_INET6, ip->valuestring, buf) != 1)
			api_errors_add(e, "FieldValueInvalid",
			    "spec.clusterIPs[0]",
			    "Invalid value: \"%.64s\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
			    ip->valuestring);
		cJSON_ArrayForEach(it, ips)
		{
			char field[40];

			snprintf(
			    field, sizeof(field), "spec.clusterIPs[%d]", i);
			if (i++ > 0 && cJSON_IsString(it) &&
			    inet_pton(AF_INET, it->valuestring, buf) != 1 &&
			    inet_pton(AF_INET6, it->valuestring, buf) != 1)
				api_errors_add(e, "FieldValueInvalid", field,
				    "Invalid value: \"%.64s\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
				    it->valuestring);
		}
	}
	if (strcmp(c->res->plural, "deployments") == 0) {
		const cJSON *spec =
		    cJSON_GetObjectItemCaseSensitive(obj, "spec");
		const cJSON *sel =
		    cJSON_GetObjectItemCaseSensitive(spec, "selector");
		const cJSON *ml =
		    cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
		const cJSON *tl = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(spec, "template"),
		        "metadata"),
		    "labels");
		const cJSON *it;

		cJSON_ArrayForEach(it, ml)
		{
			const cJSON *t =
			    cJSON_GetObjectItemCaseSensitive(tl, it->string);

			if (t == NULL || !cJSON_Compare(t, it, true)) {
				api_errors_add(e, "FieldValueInvalid",
				    "spec.template.metadata.labels",
				    "Invalid value: map[string]string(nil): `selector` does not match template `labels`");
				break;
			}
		}
	}
}

/* Defaults ---------------------------------------------------------------- */

static void
api_default_str(cJSON *obj, const char *key, const char *value)
{
	if (obj != NULL && cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
		cJSON_AddStringToObject(obj, key, value);
}

static void
api_default_num(cJSON *obj, const char *key, double value)
{
	if (obj != NULL && cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
		cJSON_AddNumberToObject(obj, key, value);
}

static cJSON *
api_default_obj(cJSON *obj, const char *key)
{
	cJSON *v;

	if (obj == NULL)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (v == NULL)
		v = cJSON_AddObjectToObject(obj, key);
	return cJSON_IsObject(v) ? v : NULL;
}

static void
api_default_containers(cJSON *list)
{
	cJSON *ct;

	cJSON_ArrayForEach(ct, list)
	{
		const cJSON *image =
		    cJSON_GetObjectItemCaseSensitive(ct, "image");
		const char *img =
		    cJSON_IsString(image) ? image->valuestring : "";
		const char *colon = strrchr(img, ':');
		bool latest = colon == NULL || strchr(colon, '/') != NULL ||
		              strcmp(colon, ":latest") == 0;
		cJSON *port;

		if (!cJSON_IsObject(ct))
			continue;
		if (strchr(img, '@') != NULL)
			latest = false;
		api_default_str(
		    ct, "terminationMessagePath", "/dev/termination-log");
		api_default_str(ct, "terminationMessagePolicy", "File");
		api_default_str(
		    ct, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
		api_default_obj(ct, "resources");
		cJSON_ArrayForEach(
		    port, cJSON_GetObjectItemCaseSensitive(ct, "ports"))
		{
			if (cJSON_IsObject(port))
				api_default_str(port, "protocol", "TCP");
		}
	}
}

static void
api_default_podspec(cJSON *spec)
{
	if (spec == NULL)
		return;
	api_default_str(spec, "restartPolicy", "Always");
	api_default_num(spec, "terminationGracePeriodSeconds", 30);
	api_default_str(spec, "dnsPolicy", "ClusterFirst");
	api_default_obj(spec, "securityContext");
	api_default_str(spec, "schedulerName", "default-scheduler");
	api_default_containers(
	    cJSON_GetObjectItemCaseSensitive(spec, "containers"));
	api_default_containers(
	    cJSON_GetObjectItemCaseSensitive(spec, "initContainers"));
}

static void
api_defaults(struct api *api, const struct discovery_resource *res, cJSON *obj,
    bool create)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");

	if (strcmp(res->plural, "namespaces") == 0) {
		cJSON *st = api_default_obj(obj, "status");

		spec = api_default_obj(obj, "spec");
		if (spec != NULL && cJSON_GetObjectItemCaseSensitive(
		                        spec, "finalizers") == NULL) {
			cJSON *f = cJSON_AddArrayToObject(spec, "finalizers");

			cJSON_AddItemToArray(
			    f, cJSON_CreateString("kubernetes"));
		}
		api_default_str(st, "phase", "Active");
	} else if (strcmp(res->plural, "secrets") == 0) {
		api_default_str(obj, "type", "Opaque");
	} else if (strcmp(res->plural, "services") == 0) {
		cJSON *port;

		spec = api_default_obj(obj, "spec");
		api_default_str(spec, "type", "ClusterIP");
		api_default_str(spec, "sessionAffinity", "None");
		/* clusterIP: api_service_ips(), on create. */
		if (spec != NULL && cJSON_GetObjectItemCaseSensitive(
		                        spec, "ipFamilies") == NULL) {
			cJSON *f = cJSON_AddArrayToObject(spec, "ipFamilies");

			cJSON_AddItemToArray(f, cJSON_CreateString("IPv4"));
		}
		api_default_str(spec, "ipFamilyPolicy", "SingleStack");
		api_default_str(spec, "internalTrafficPolicy", "Cluster");
		cJSON_ArrayForEach(
		    port, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
		{
			const cJSON *p;

			if (!cJSON_IsObject(port))
				continue;
			api_default_str(port, "protocol", "TCP");
			p = cJSON_GetObjectItemCaseSensitive(port, "port");
			if (cJSON_IsNumber(p))
				api_default_num(
				    port, "targetPort", p->valuedouble);
		}
		api_default_obj(api_default_obj(obj, "status"), "loadBalancer");
	} else if (strcmp(res->plural, "pods") == 0) {
		api_default_podspec(spec);
		api_default_str(spec, "serviceAccountName", "default");
		api_default_num(spec, "priority", 0);
		if (spec != NULL && cJSON_GetObjectItemCaseSensitive(
		                        spec, "enableServiceLinks") == NULL)
			cJSON_AddTrueToObject(spec, "enableServiceLinks");
		if (create)
			api_default_str(
			    api_default_obj(obj, "status"), "phase", "Pending");
	} else if (strcmp(res->plural, "deployments") == 0) {
		cJSON *strat;

		api_default_num(spec, "replicas", 1);
		api_default_num(spec, "revisionHistoryLimit", 10);
		api_default_num(spec, "progressDeadlineSeconds", 600);
		strat = api_default_obj(spec, "strategy");
		api_default_str(strat, "type", "RollingUpdate");
		if (strat != NULL) {
			const cJSON *t =
			    cJSON_GetObjectItemCaseSensitive(strat, "type");

			if (cJSON_IsString(t) &&
			    strcmp(t->valuestring, "RollingUpdate") == 0) {
				cJSON *ru =
				    api_default_obj(strat, "rollingUpdate");

				api_default_str(ru, "maxUnavailable", "25%");
				api_default_str(ru, "maxSurge", "25%");
			}
		}
		api_default_podspec(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(spec, "template"),
		    "spec"));
	} else if (strcmp(res->plural, "jobs") == 0) {
		api_default_num(spec, "parallelism", 1);
		api_default_num(spec, "completions", 1);
		api_default_num(spec, "backoffLimit", 6);
		api_default_str(spec, "completionMode", "NonIndexed");
		if (spec != NULL &&
		    cJSON_GetObjectItemCaseSensitive(spec, "suspend") == NULL)
			cJSON_AddFalseToObject(spec, "suspend");
		api_default_podspec(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(spec, "template"),
		    "spec"));
	}
}

/* Service range and Nodes ------------------------------------------------ */

/* Parses "ADDR/BITS" (no host bits when exact). Returns 0 or -EINVAL. */
static int
api_cidr_parse(const char *s, bool exact, struct api_cidr *ret)
{
	char buf[API_MAX_CIDR_STR];
	const char *slash = strchr(s, '/');
	unsigned long bits;
	char *end;
	size_t n, max;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf) ||
	    strlen(slash + 1) > 3)
		return -EINVAL;
	n = (size_t)(slash - s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, buf, ret->addr) == 1)
		ret->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, ret->addr) == 1)
		ret->family = AF_INET6;
	else
		return -EINVAL;
	max = ret->family == AF_INET ? 32 : 128;
	errno = 0;
	bits = strtoul(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end != '\0' || bits > max)
		return -EINVAL;
	ret->bits = (unsigned)bits;
	for (size_t i = 0; i < max / 8; i++) {
		unsigned keep =
		    ret->bits > i * 8 ? ret->bits - (unsigned)i * 8 : 0;
		unsigned char mask =
		    keep >= 8 ? 0xff : (unsigned char)(0xff00 >> keep);

		if (exact && (ret->addr[i] & ~mask) != 0)
			return -EINVAL;
	}
	return 0;
}

/* Parses an IP; returns its family or -EINVAL. */
static int
api_ip_parse(const char *s, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return AF_INET6;
	return -EINVAL;
}

/* The offset of addr in the range (host bits; at most 20 of them, which
 * api_set_service_cidr ensures), or -1 when addr is not in it. */
static long
api_cidr_offset(const struct api_cidr *r, int family, const unsigned char *a)
{
	size_t len = r->family == AF_INET ? 4 : 16;
	unsigned long off = 0;

	if (family != r->family)
		return -1;
	for (unsigned i = 0; i < r->bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));

		if ((a[i / 8] & m) != (r->addr[i / 8] & m))
			return -1;
	}
	for (size_t i = len - 4; i < len; i++)
		off = (off << 8) | a[i];
	return (long)(off & ((1UL << (len * 8 - r->bits)) - 1));
}

/* Writes the address at off of the range as text. */
static void
api_cidr_at(const struct api_cidr *r, unsigned long off, char *buf, size_t len)
{
	unsigned char a[16];
	size_t n = r->family == AF_INET ? 4 : 16;

	memcpy(a, r->addr, sizeof(a));
	for (size_t i = n; i-- > n - 4 && off > 0; off >>= 8)
		a[i] |= (unsigned char)(off & 0xff);
	if (inet_ntop(r->family, a, buf, (socklen_t)len) == NULL && len > 0)
		buf[0] = '\0';
}

int
api_set_service_cidr(
    struct api *api, const char *cidr, char *err, size_t errlen)
{
	struct api_cidr r;
	unsigned lo, hi;

	if (api_cidr_parse(cidr, true, &r) < 0) {
		if (err != NULL)
			snprintf(err, errlen,
			    "bad service range '%.64s': give ADDRESS/BITS without host bits",
			    cidr);
		return -EINVAL;
	}
	/* kube-apiserver refuses larger ranges; smaller ones leave no IP. */
	lo = r.family == AF_INET ? 12 : 108;
	hi = r.family == AF_INET ? 30 : 126;
	if (r.bits < lo || r.bits > hi) {
		if (err != NULL)
			snprintf(err, errlen,
			    "service range '%.64s': the prefix length must be %u to %u",
			    cidr, lo, hi);
		return -EINVAL;
	}
	api->svc_cidr = r;
	snprintf(api->svc_cidr_str, sizeof(api->svc_cidr_str), "%s", cidr);
	return 0;
}

struct api_ip_use {
	const char *ip;
	bool used;
};

static void
api_ip_use_cb(const cJSON *obj, void *arg)
{
	struct api_ip_use *u = arg;
	const cJSON *it;

	cJSON_ArrayForEach(it,
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(obj, "spec"), "clusterIPs"))
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, u->ip) == 0)
			u->used = true;
	}
}

static bool
api_ip_used(struct api *api, const char *ip)
{
	struct api_ip_use u = {.ip = ip, .used = false};

	store_foreach(api->store, discovery_find("", "v1", "services"), NULL,
	    api_ip_use_cb, &u);
	return u.used;
}

/* The 422 the service REST storage answers when the allocator refuses an
 * IP: field spec.clusterIPs, the Go %#v of the whole list. */
static void
api_alloc_invalid(struct api_call *c, const char *name, const cJSON *ips,
    const char *ip, const char *why)
{
	struct api_errors e = {.n = 0};
	char list[1024];
	size_t off = (size_t)snprintf(list, sizeof(list), "[]string{");
	const cJSON *it;

	cJSON_ArrayForEach(it, ips)
	{
		if (cJSON_IsString(it) && off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s\"%.64s\"", it == ips->child ? "" : ", ",
			    it->valuestring);
	}
	if (off < sizeof(list))
		snprintf(list + off, sizeof(list) - off, "}");
	api_errors_add(&e, "FieldValueInvalid", "spec.clusterIPs",
	    "Invalid value: %s: failed to allocate IP %s: %s", list, ip, why);
	api_invalid(c, name, &e);
}

/*
 * Gives a new Service its cluster IPs as the real registry does (dry runs
 * included, they only do not keep them): clusterIPs follows clusterIP,
 * "None" is headless, an empty or missing clusterIP gets a free address of
 * the range, and a given one must lie in the range (not its network or,
 * IPv4, broadcast address) and be free. Returns 0, or -1 after answering
 * the request.
 */
static int
api_service_ips(struct api_call *c, cJSON *obj, const char *name)
{
	struct api *api = c->api;
	const struct api_cidr *r = &api->svc_cidr;
	cJSON *spec = api_default_obj(obj, "spec");
	const cJSON *ip = cJSON_GetObjectItemCaseSensitive(spec, "clusterIP");
	cJSON *ips = cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs");
	const cJSON *first = cJSON_GetArrayItem(ips, 0);
	unsigned long hostbits = (r->family == AF_INET ? 32 : 128) - r->bits;
	unsigned long size = 1UL << hostbits;
	unsigned long last = r->family == AF_INET ? size - 2 : size - 1;
	char want[API_MAX_CIDR_STR] = "";
	unsigned char a[16];
	cJSON *fam;

	if (spec == NULL)
		goto oom;
	if (cJSON_IsString(ip))
		snprintf(want, sizeof(want), "%s", ip->valuestring);
	else if (cJSON_IsString(first))
		snprintf(want, sizeof(want), "%s", first->valuestring);
	if (strcmp(want, "None") == 0)
		goto set;
	if (want[0] == '\0') {
		/* Free addresses from offset 2 on (.1 is the kubernetes
		 * Service's in a real cluster). */
		for (unsigned long n = 0; n < last; n++) {
			unsigned long off = 2 + (api->next_ip++ % (last - 1));

			if (off > last)
				continue;
			api_cidr_at(r, off, want, sizeof(want));
			if (!api_ip_used(api, want))
				goto set;
		}
		status_fail(c->req, 500, "InternalError",
		    "Internal error occurred: failed to allocate a serviceIP: range is full",
		    NULL, NULL, NULL);
		return -1;
	}
	{
		int family = api_ip_parse(want, a);
		long off = family < 0 ? -1 : api_cidr_offset(r, family, a);
		char why[512];

		if (!cJSON_IsArray(ips) || cJSON_GetArraySize(ips) == 0) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    spec, "clusterIPs");
			ips = cJSON_AddArrayToObject(spec, "clusterIPs");
			if (ips == NULL)
				goto oom;
			cJSON_AddItemToArray(ips, cJSON_CreateString(want));
		}
		if (off <= 0 || (unsigned long)off > last) {
			snprintf(why, sizeof(why),
			    "the provided IP (%s) is not in the valid range. The range of valid IPs is %s",
			    want, api->svc_cidr_str);
			api_alloc_invalid(c, name, ips, want, why);
			return -1;
		}
		if (api_ip_used(api, want)) {
			api_alloc_invalid(c, name, ips, want,
			    "provided IP is already allocated");
			return -1;
		}
	}
set:
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIP");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
	cJSON_AddStringToObject(spec, "clusterIP", want);
	ips = cJSON_AddArrayToObject(spec, "clusterIPs");
	if (ips == NULL)
		goto oom;
	cJSON_AddItemToArray(ips, cJSON_CreateString(want));
	if (strcmp(want, "None") != 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "ipFamilies");
		fam = cJSON_AddArrayToObject(spec, "ipFamilies");
		if (fam == NULL)
			goto oom;
		cJSON_AddItemToArray(fam,
		    cJSON_CreateString(strchr(want, ':') ? "IPv6" : "IPv4"));
	}
	return 0;
oom:
	status_fail(
	    c->req, 500, "InternalError", "out of memory", NULL, NULL, NULL);
	return -1;
}

int
api_add_node(struct api *api, const char *spec, char *err, size_t errlen)
{
	const struct discovery_resource *res =
	    discovery_find("", "v1", "nodes");
	const char *eq = strchr(spec, '=');
	char name[API_MAX_NAME + 1], cidrs[2][API_MAX_CIDR_STR], now[32];
	char addr[48];
	size_t nl = eq != NULL ? (size_t)(eq - spec) : 0;
	const char *p;
	int n = 0;
	cJSON *obj = NULL, *meta, *labels, *sp, *arr, *st, *x, *cond, *info;
	struct api_cidr c[2];

	if (eq == NULL || nl == 0 || nl > API_MAX_NAME) {
		snprintf(err, errlen,
		    "bad node '%.80s': give NAME=PODCIDR[,PODCIDR]", spec);
		return -EINVAL;
	}
	memcpy(name, spec, nl);
	name[nl] = '\0';
	if (!api_is_dns_subdomain(name)) {
		snprintf(err, errlen,
		    "bad node name '%.80s': not a DNS subdomain", name);
		return -EINVAL;
	}
	for (p = eq + 1;; n++) {
		const char *comma = strchr(p, ',');
		size_t l = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 2 || l == 0 || l >= sizeof(cidrs[0])) {
			snprintf(err, errlen,
			    "bad pod CIDRs for node %s: one or two prefixes, comma-separated",
			    name);
			return -EINVAL;
		}
		memcpy(cidrs[n], p, l);
		cidrs[n][l] = '\0';
		if (api_cidr_parse(cidrs[n], true, &c[n]) < 0 ||
		    (n == 1 && c[0].family == c[1].family)) {
			snprintf(err, errlen,
			    "bad pod CIDR '%s' for node %s: give ADDRESS/BITS without host bits, at most one per family",
			    cidrs[n], name);
			return -EINVAL;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	n++;
	if (res == NULL || api->n_nodes >= API_MAX_NODES) {
		snprintf(err, errlen, "at most %d nodes", API_MAX_NODES);
		return -EINVAL;
	}
	if (store_get(api->store, res, "", name) != NULL) {
		snprintf(err, errlen, "node %s given twice", name);
		return -EEXIST;
	}
	obj = cJSON_CreateObject();
	if (obj == NULL)
		goto oom;
	cJSON_AddStringToObject(obj, "kind", "Node");
	cJSON_AddStringToObject(obj, "apiVersion", "v1");
	meta = cJSON_AddObjectToObject(obj, "metadata");
	labels = cJSON_AddObjectToObject(meta, "labels");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(labels, "kubernetes.io/arch", "amd64");
	cJSON_AddStringToObject(labels, "kubernetes.io/hostname", name);
	cJSON_AddStringToObject(labels, "kubernetes.io/os", "linux");
	sp = cJSON_AddObjectToObject(obj, "spec");
	cJSON_AddStringToObject(sp, "podCIDR", cidrs[0]);
	arr = cJSON_AddArrayToObject(sp, "podCIDRs");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(cidrs[i]));
	/* What a kubelet reports: addresses, Ready, node info. */
	st = cJSON_AddObjectToObject(obj, "status");
	arr = cJSON_AddArrayToObject(st, "addresses");
	snprintf(addr, sizeof(addr), "172.18.0.%u", 2 + api->n_nodes);
	x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "type", "InternalIP");
	cJSON_AddStringToObject(x, "address", addr);
	cJSON_AddItemToArray(arr, x);
	x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "type", "Hostname");
	cJSON_AddStringToObject(x, "address", name);
	cJSON_AddItemToArray(arr, x);
	store_now(now);
	arr = cJSON_AddArrayToObject(st, "conditions");
	cond = cJSON_CreateObject();
	cJSON_AddStringToObject(cond, "type", "Ready");
	cJSON_AddStringToObject(cond, "status", "True");
	cJSON_AddStringToObject(cond, "lastHeartbeatTime", now);
	cJSON_AddStringToObject(cond, "lastTransitionTime", now);
	cJSON_AddStringToObject(cond, "reason", "KubeletReady");
	cJSON_AddStringToObject(
	    cond, "message", "kubelet is posting ready status");
	cJSON_AddItemToArray(arr, cond);
	info = cJSON_AddObjectToObject(st, "nodeInfo");
	cJSON_AddStringToObject(info, "architecture", "amd64");
	cJSON_AddStringToObject(info, "bootID", "");
	cJSON_AddStringToObject(
	    info, "containerRuntimeVersion", "containerd://1.7.1");
	cJSON_AddStringToObject(info, "kernelVersion", "6.1.0");
	cJSON_AddStringToObject(info, "kubeProxyVersion", "v1.27.3");
	cJSON_AddStringToObject(info, "kubeletVersion", "v1.27.3");
	cJSON_AddStringToObject(info, "machineID", "");
	cJSON_AddStringToObject(info, "operatingSystem", "linux");
	cJSON_AddStringToObject(
	    info, "osImage", "Debian GNU/Linux 12 (bookworm)");
	cJSON_AddStringToObject(info, "systemUUID", "");
	if (cJSON_GetObjectItemCaseSensitive(info, "systemUUID") == NULL)
		goto oom;
	if (store_create(api->store, res, "", obj, NULL) < 0) {
		obj = NULL;
		goto oom;
	}
	api->n_nodes++;
	return 0;
oom:
	cJSON_Delete(obj);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Routing ----------------------------------------------------------------- */

/* Splits path into at most API_MAX_SEGS segments (no empty ones). */
static int
api_split(
    const char *path, char segs[API_MAX_SEGS][API_MAX_NAME + 1], size_t *ret_n)
{
	size_t n = 0;
	const char *p = path;

	while (*p != '\0') {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == API_MAX_SEGS || len > API_MAX_NAME)
			return -EINVAL;
		memcpy(segs[n], p, len);
		segs[n][len] = '\0';
		n++;
		p += len;
	}
	*ret_n = n;
	return 0;
}

static bool
api_param_true(const struct http_request *req, const char *key)
{
	const char *v = http_param(req, key);

	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static const char *
api_meta_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The fieldManager of a write, from the parameter or, as the real server
 * does, from the User-Agent's program name ("kubectl-create"). Returns
 * -EINVAL after answering when the parameter is invalid. */
static int
api_manager(struct api_call *c, bool apply, char *buf, size_t len)
{
	const char *m = http_param(c->req, "fieldManager");
	const char *ua = http_header(c->req, "User-Agent");

	if (m != NULL) {
		size_t n = strlen(m);
		bool ok = n <= APPLY_MAX_MANAGER;

		for (size_t i = 0; ok && i < n; i++)
			ok = isprint((unsigned char)m[i]);
		if (!ok) {
			struct api_errors e = {.n = 0};

			api_errors_add(&e, "FieldValueInvalid", "fieldManager",
			    "Invalid value: \"%.*s\": must be made up of printable characters and at most 128 characters",
			    128, m);
			api_invalid(c, c->name, &e);
			return -EINVAL;
		}
		if (n > 0) {
			snprintf(buf, len, "%s", m);
			return 0;
		}
	}
	if (apply) {
		struct api_errors e = {.n = 0};

		api_errors_add(&e, "FieldValueRequired", "fieldManager",
		    "Required value: is required for apply patch");
		api_invalid(c, c->name, &e);
		return -EINVAL;
	}
	if (ua != NULL && ua[0] != '\0') {
		size_t n = strcspn(ua, "/ ");

		if (n > APPLY_MAX_MANAGER)
			n = APPLY_MAX_MANAGER;
		snprintf(buf, len, "%.*s", (int)n, ua);
	} else {
		snprintf(buf, len, "unknown");
	}
	return 0;
}

/* Whether ns exists and is not terminating; answers and returns false
 * otherwise. */
static bool
api_namespace_usable(struct api_call *c, bool creating)
{
	struct api *api = c->api;
	const struct discovery_resource *nsres =
	    discovery_find("", "v1", "namespaces");
	const cJSON *ns = store_get(api->store, nsres, "", c->ns);
	char msg[API_MAX_MSG];

	if (ns == NULL) {
		snprintf(
		    msg, sizeof(msg), "namespaces \"%s\" not found", c->ns);
		status_fail(
		    c->req, 404, "NotFound", msg, "", "namespaces", c->ns);
		return false;
	}
	if (creating && api_meta_str(ns, "deletionTimestamp") != NULL) {
		cJSON *st;

		snprintf(msg, sizeof(msg),
		    "%s \"%s\" is forbidden: unable to create new content in namespace %s because it is being terminated",
		    c->qres, c->name, c->ns);
		st = status_new(403, "Forbidden", msg, c->res->group,
		    c->res->plural, c->name);
		status_add_cause(st, "NamespaceTerminating",
		    "namespace is being terminated", "metadata.namespace");
		status_respond(c->req, st, NULL);
		return false;
	}
	return true;
}

/* A copy of obj as a list item: no kind or apiVersion. */
static cJSON *
api_list_item(const cJSON *obj)
{
	cJSON *o = cJSON_Duplicate(obj, true);

	cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "apiVersion");
	return o;
}

/* Table output (kubectl get) --------------------------------------------- */

/* Go's duration.HumanDuration, which the real Table's Age column uses. */
static void
api_human_duration(long long s, char *buf, size_t len)
{
	long long m = s / 60, h = s / 3600, d = s / 86400, y = d / 365;

	if (s < -1)
		snprintf(buf, len, "<invalid>");
	else if (s < 0)
		snprintf(buf, len, "0s");
	else if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (m < 10) {
		if (s % 60 == 0)
			snprintf(buf, len, "%lldm", m);
		else
			snprintf(buf, len, "%lldm%llds", m, s % 60);
	} else if (m < 180)
		snprintf(buf, len, "%lldm", m);
	else if (h < 8) {
		if (m % 60 == 0)
			snprintf(buf, len, "%lldh", h);
		else
			snprintf(buf, len, "%lldh%lldm", h, m % 60);
	} else if (h < 48)
		snprintf(buf, len, "%lldh", h);
	else if (h < 24 * 8) {
		if (h % 24 == 0)
			snprintf(buf, len, "%lldd", d);
		else
			snprintf(buf, len, "%lldd%lldh", d, h % 24);
	} else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lldd", d);
	else if (y < 8)
		snprintf(buf, len, "%lldy%lldd", y, d % 365);
	else
		snprintf(buf, len, "%lldy", y);
}

static void
api_age(const cJSON *obj, char *buf, size_t len)
{
	const char *ts = api_meta_str(obj, "creationTimestamp");
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ts == NULL || strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
		snprintf(buf, len, "<unknown>");
		return;
	}
	api_human_duration((long long)(time(NULL) - timegm(&tm)), buf, len);
}

static void
api_table_columns(const struct discovery_resource *res, cJSON *cols)
{
	static const struct {
		const char *plural;
		const char *cols; /* name:type,... */
	} specs[] = {
	    {"namespaces", "Name:string,Status:string,Age:string"},
	    {"configmaps", "Name:string,Data:string,Age:string"},
	    {"secrets", "Name:string,Type:string,Data:string,Age:string"},
	    {"services",
	        "Name:string,Type:string,Cluster-IP:string,External-IP:string,Port(s):string,Age:string"},
	    {"serviceaccounts", "Name:string,Secrets:string,Age:string"},
	    {"pods",
	        "Name:string,Ready:string,Status:string,Restarts:string,Age:string"},
	    {"deployments",
	        "Name:string,Ready:string,Up-to-date:string,Available:string,Age:string"},
	    {"jobs",
	        "Name:string,Completions:string,Duration:string,Age:string"},
	};
	const char *spec = "Name:string,Created At:date";

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (strcmp(specs[i].plural, res->plural) == 0)
			spec = specs[i].cols;
	while (*spec != '\0') {
		const char *colon = strchr(spec, ':');
		const char *comma = strchr(colon, ',');
		size_t tl = comma != NULL ? (size_t)(comma - colon - 1)
		                          : strlen(colon + 1);
		cJSON *col = cJSON_CreateObject();
		char name[64], type[16];

		snprintf(name, sizeof(name), "%.*s", (int)(colon - spec), spec);
		snprintf(type, sizeof(type), "%.*s", (int)tl, colon + 1);
		cJSON_AddStringToObject(col, "name", name);
		cJSON_AddStringToObject(
		    col, "type", strcmp(type, "date") == 0 ? "string" : type);
		cJSON_AddStringToObject(col, "format",
		    strcmp(name, "Name") == 0
		        ? "name"
		        : (strcmp(type, "date") == 0 ? "date-time" : ""));
		cJSON_AddStringToObject(col, "description", name);
		cJSON_AddNumberToObject(col, "priority", 0);
		cJSON_AddItemToArray(cols, col);
		spec = comma != NULL ? comma + 1 : "";
	}
}

static int
api_count(const cJSON *obj, const char *key)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static double
api_num(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, a), b);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *
api_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, a), b);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *
api_table_row(const struct discovery_resource *res, const cJSON *obj)
{
	cJSON *row = cJSON_CreateObject();
	cJSON *cells = cJSON_AddArrayToObject(row, "cells");
	cJSON *pom;
	const char *name = api_meta_str(obj, "name");
	char age[32], buf[256];
	const char *p = res->plural;

	api_age(obj, age, sizeof(age));
	cJSON_AddItemToArray(
	    cells, cJSON_CreateString(name != NULL ? name : ""));
	if (strcmp(p, "namespaces") == 0) {
		const char *ph = api_str(obj, "status", "phase");

		cJSON_AddItemToArray(
		    cells, cJSON_CreateString(ph != NULL ? ph : ""));
	} else if (strcmp(p, "configmaps") == 0) {
		cJSON_AddItemToArray(cells,
		    cJSON_CreateNumber(
		        api_count(obj, "data") + api_count(obj, "binaryData")));
	} else if (strcmp(p, "secrets") == 0) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");

		cJSON_AddItemToArray(
		    cells, cJSON_CreateString(
		               cJSON_IsString(t) ? t->valuestring : ""));
		cJSON_AddItemToArray(
		    cells, cJSON_CreateNumber(api_count(obj, "data")));
	} else if (strcmp(p, "services") == 0) {
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(obj, "spec"), "ports");
		const cJSON *port;
		const char *t = api_str(obj, "spec", "type");
		const char *ip = api_str(obj, "spec", "clusterIP");
		size_t off = 0;

		buf[0] = '\0';
		cJSON_ArrayForEach(port, ports)
		{
			const cJSON *pn =
			    cJSON_GetObjectItemCaseSensitive(port, "port");
			const cJSON *pr =
			    cJSON_GetObjectItemCaseSensitive(port, "protocol");

			if (off < sizeof(buf))
				off += (size_t)snprintf(buf + off,
				    sizeof(buf) - off, "%s%d/%s",
				    off > 0 ? "," : "",
				    cJSON_IsNumber(pn) ? pn->valueint : 0,
				    cJSON_IsString(pr) ? pr->valuestring
				                       : "TCP");
		}
		cJSON_AddItemToArray(cells, cJSON_CreateString(t ? t : ""));
		cJSON_AddItemToArray(cells, cJSON_CreateString(ip ? ip : ""));
		cJSON_AddItemToArray(cells, cJSON_CreateString("<none>"));
		cJSON_AddItemToArray(
		    cells, cJSON_CreateString(off > 0 ? buf : "<none>"));
	} else if (strcmp(p, "serviceaccounts") == 0) {
		cJSON_AddItemToArray(
		    cells, cJSON_CreateNumber(api_count(obj, "secrets")));
	} else if (strcmp(p, "pods") == 0) {
		const cJSON *spec =
		    cJSON_GetObjectItemCaseSensitive(obj, "spec");
		const char *ph = api_str(obj, "status", "phase");
		int total = api_count(spec, "containers");
		int ready =
		    ph != NULL && strcmp(ph, "Running") == 0 ? total : 0;

		snprintf(buf, sizeof(buf), "%d/%d", ready, total);
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
		cJSON_AddItemToArray(
		    cells, cJSON_CreateString(ph != NULL ? ph : "Unknown"));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(0));
	} else if (strcmp(p, "deployments") == 0) {
		snprintf(buf, sizeof(buf), "%.0f/%.0f",
		    api_num(obj, "status", "readyReplicas"),
		    api_num(obj, "spec", "replicas"));
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(api_num(obj,
		                                "status", "updatedReplicas")));
		cJSON_AddItemToArray(
		    cells, cJSON_CreateNumber(
		               api_num(obj, "status", "availableReplicas")));
	} else if (strcmp(p, "jobs") == 0) {
		snprintf(buf, sizeof(buf), "%.0f/%.0f",
		    api_num(obj, "status", "succeeded"),
		    api_num(obj, "spec", "completions"));
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
		cJSON_AddItemToArray(cells, cJSON_CreateString(""));
	} else {
		const char *ts = api_meta_str(obj, "creationTimestamp");

		cJSON_AddItemToArray(cells, cJSON_CreateString(ts ? ts : ""));
		age[0] = '\0';
	}
	if (age[0] != '\0')
		cJSON_AddItemToArray(cells, cJSON_CreateString(age));
	/* includeObject=Metadata, kubectl's default. */
	pom = cJSON_AddObjectToObject(row, "object");
	cJSON_AddStringToObject(pom, "kind", "PartialObjectMetadata");
	cJSON_AddStringToObject(pom, "apiVersion", "meta.k8s.io/v1");
	{
		cJSON *meta = cJSON_Duplicate(
		    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), true);

		cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
		cJSON_AddItemToObject(pom, "metadata", meta);
	}
	return row;
}

static bool
api_wants_table(const struct http_request *req)
{
	const char *a = http_header(req, "Accept");

	return a != NULL && strstr(a, "as=Table") != NULL;
}

/* Verbs ----------------------------------------------------------------- */

struct api_list_ctx {
	const struct store_selector *sel;
	const struct discovery_resource *res;
	cJSON *items;
	bool table;
};

static void
api_list_cb(const cJSON *obj, void *arg)
{
	struct api_list_ctx *lc = arg;

	if (!store_selector_match(lc->sel, obj))
		return;
	if (lc->table)
		cJSON_AddItemToArray(lc->items, api_table_row(lc->res, obj));
	else
		cJSON_AddItemToArray(lc->items, api_list_item(obj));
}

static void
api_list(struct api_call *c, struct store_selector *sel)
{
	struct api_list_ctx lc = {.sel = sel, .res = c->res};
	cJSON *out = cJSON_CreateObject();
	cJSON *meta;
	char kind[96], av[160], rv[32];
	const char *want_rv = http_param(c->req, "resourceVersion");
	const char *match = http_param(c->req, "resourceVersionMatch");

	snprintf(rv, sizeof(rv), "%" PRIu64, store_rv(c->api->store));
	if (match != NULL && match[0] != '\0' &&
	    strcmp(match, "NotOlderThan") != 0 && strcmp(match, "Exact") != 0) {
		char msg[256];

		cJSON_Delete(out);
		snprintf(msg, sizeof(msg),
		    "resourceVersionMatch: Unsupported value: \"%s\": supported values: \"Exact\", \"NotOlderThan\"",
		    match);
		api_bad_request(c->req, msg);
		return;
	}
	if (match != NULL && strcmp(match, "Exact") == 0 && want_rv != NULL &&
	    strcmp(want_rv, rv) != 0) {
		/* Only the current state is kept: older exact reads are gone,
		 * as with a compacted etcd. */
		char msg[256];
		unsigned long long w = strtoull(want_rv, NULL, 10);

		cJSON_Delete(out);
		if (w > store_rv(c->api->store)) {
			snprintf(msg, sizeof(msg),
			    "Too large resource version: %llu, current: %" PRIu64,
			    w, store_rv(c->api->store));
			status_fail(
			    c->req, 504, "Timeout", msg, NULL, NULL, NULL);
			return;
		}
		snprintf(msg, sizeof(msg),
		    "The resourceVersion for the provided list is too old.");
		status_fail(c->req, 410, "Expired", msg, NULL, NULL, NULL);
		return;
	}
	lc.table = api_wants_table(c->req);
	if (lc.table) {
		cJSON_AddStringToObject(out, "kind", "Table");
		cJSON_AddStringToObject(out, "apiVersion", "meta.k8s.io/v1");
		meta = cJSON_AddObjectToObject(out, "metadata");
		cJSON_AddStringToObject(meta, "resourceVersion", rv);
		api_table_columns(
		    c->res, cJSON_AddArrayToObject(out, "columnDefinitions"));
		lc.items = cJSON_AddArrayToObject(out, "rows");
	} else {
		snprintf(kind, sizeof(kind), "%sList", c->res->kind);
		cJSON_AddStringToObject(out, "kind", kind);
		cJSON_AddStringToObject(out, "apiVersion",
		    discovery_api_version(c->res, av, sizeof(av)));
		meta = cJSON_AddObjectToObject(out, "metadata");
		cJSON_AddStringToObject(meta, "resourceVersion", rv);
		lc.items = cJSON_AddArrayToObject(out, "items");
	}
	store_foreach(c->api->store, c->res, c->ns[0] != '\0' ? c->ns : NULL,
	    api_list_cb, &lc);
	status_json(c->req, 200, out, NULL);
}

static void
api_get(struct api_call *c)
{
	const cJSON *obj = store_get(c->api->store, c->res, c->ns, c->name);

	if (obj == NULL) {
		api_not_found(c, c->name);
		return;
	}
	if (api_wants_table(c->req)) {
		cJSON *out = cJSON_CreateObject();
		cJSON *meta;

		cJSON_AddStringToObject(out, "kind", "Table");
		cJSON_AddStringToObject(out, "apiVersion", "meta.k8s.io/v1");
		meta = cJSON_AddObjectToObject(out, "metadata");
		cJSON_AddStringToObject(meta, "resourceVersion",
		    api_meta_str(obj, "resourceVersion"));
		api_table_columns(
		    c->res, cJSON_AddArrayToObject(out, "columnDefinitions"));
		cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "rows"),
		    api_table_row(c->res, obj));
		status_json(c->req, 200, out, NULL);
		return;
	}
	status_json(c->req, 200, cJSON_Duplicate(obj, true), NULL);
}

/* Watch ------------------------------------------------------------------ */

static void
api_watch_send(struct api_watch *w, const char *type, const cJSON *obj)
{
	cJSON *ev = cJSON_CreateObject();
	char *text;
	int r;

	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddItemToObject(ev, "object",
	    w->table && strcmp(type, "BOOKMARK") != 0 &&
	            strcmp(type, "ERROR") != 0
	        ? api_table_row(w->res, obj)
	        : cJSON_Duplicate(obj, true));
	text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (text == NULL)
		return;
	{
		size_t n = strlen(text);
		char *line = realloc(text, n + 2);

		if (line == NULL) {
			free(text);
			return;
		}
		line[n] = '\n';
		line[n + 1] = '\0';
		r = http_stream_write(w->req, line, n + 1);
		free(line);
	}
	if (r < 0) {
		log_warn("watch: client is not reading; ending the stream");
		api_watch_end(w, true);
	}
}

static void
api_watch_event(const struct store_event *ev, void *arg)
{
	struct api_watch *w = arg;
	bool now = store_selector_match(w->sel, ev->obj);
	bool before =
	    ev->prev != NULL && store_selector_match(w->sel, ev->prev);

	switch (ev->type) {
	case STORE_ADDED:
		if (now)
			api_watch_send(w, "ADDED", ev->obj);
		break;
	case STORE_MODIFIED:
		/* Moving in or out of the selector looks like add/delete to
		 * this watcher, as in the watch cache. */
		if (now && before)
			api_watch_send(w, "MODIFIED", ev->obj);
		else if (now)
			api_watch_send(w, "ADDED", ev->obj);
		else if (before)
			api_watch_send(w, "DELETED", ev->obj);
		break;
	case STORE_DELETED:
		if (now)
			api_watch_send(w, "DELETED", ev->obj);
		break;
	}
}

static void
api_watch_end(struct api_watch *w, bool answer)
{
	struct api_watch **pp;

	for (pp = &w->api->watches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	store_watch_cancel(w->api->store, w->sw);
	store_selector_free(w->sel);
	if (w->timeout_ev != NULL)
		event_free(w->timeout_ev);
	if (w->bookmark_ev != NULL)
		event_free(w->bookmark_ev);
	if (answer && w->req != NULL) {
		http_request_set_abort(w->req, NULL, NULL);
		http_stream_end(w->req);
	}
	free(w);
}

static void
api_watch_abort(struct http_request *req, void *arg)
{
	struct api_watch *w = arg;

	(void)req;
	w->req = NULL;
	api_watch_end(w, false);
}

static void
api_watch_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	api_watch_end(arg, true);
}

static void
api_watch_bookmark_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_watch *w = arg;
	cJSON *obj = cJSON_CreateObject();
	cJSON *meta;
	char av[160], rv[32];

	(void)fd;
	(void)what;
	cJSON_AddStringToObject(obj, "kind", w->res->kind);
	cJSON_AddStringToObject(
	    obj, "apiVersion", discovery_api_version(w->res, av, sizeof(av)));
	meta = cJSON_AddObjectToObject(obj, "metadata");
	snprintf(rv, sizeof(rv), "%" PRIu64, store_rv(w->api->store));
	cJSON_AddStringToObject(meta, "resourceVersion", rv);
	api_watch_send(w, "BOOKMARK", obj);
	cJSON_Delete(obj);
}

struct api_initial_ctx {
	struct api_watch *w;
};

static void
api_watch_initial_cb(const cJSON *obj, void *arg)
{
	struct api_watch *w = arg;

	if (store_selector_match(w->sel, obj))
		api_watch_send(w, "ADDED", obj);
}

static void
api_watch(struct api_call *c, struct store_selector *sel)
{
	struct api *api = c->api;
	struct api_watch *w;
	const char *rvs = http_param(c->req, "resourceVersion");
	const char *ts = http_param(c->req, "timeoutSeconds");
	uint64_t since = 0;
	long timeout = 1800 + (long)(random() % 1800);
	struct timeval tv;
	int r;

	if (rvs != NULL && rvs[0] != '\0') {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(rvs, &end, 10);
		if (*end != '\0' || errno != 0) {
			char msg[256];

			snprintf(msg, sizeof(msg),
			    "resourceVersion: Invalid value: \"%.64s\": must be a valid resource version",
			    rvs);
			store_selector_free(sel);
			api_bad_request(c->req, msg);
			return;
		}
		since = (uint64_t)v;
	}
	if (ts != NULL && ts[0] != '\0') {
		char *end;
		long v = strtol(ts, &end, 10);

		if (*end != '\0' || v < 0) {
			store_selector_free(sel);
			api_bad_request(c->req,
			    "timeoutSeconds: Invalid value: must be a non-negative integer");
			return;
		}
		timeout = v > API_WATCH_MAX_S ? API_WATCH_MAX_S : v;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		store_selector_free(sel);
		status_fail(c->req, 500, "InternalError", "out of memory", NULL,
		    NULL, NULL);
		return;
	}
	w->api = api;
	w->req = c->req;
	w->sel = sel;
	w->res = c->res;
	w->table = api_wants_table(c->req);
	w->next = api->watches;
	api->watches = w;
	http_request_set_abort(c->req, api_watch_abort, w);
	http_stream_start(c->req, 200,
	    w->table ? "application/json" : "application/json;stream=watch",
	    NULL);
	if (since != 0 && since < store_oldest_rv(api->store) - 1) {
		/* Older than the history: one ERROR event, then the end. */
		cJSON *st;
		char msg[128];

		snprintf(msg, sizeof(msg),
		    "too old resource version: %" PRIu64 " (%" PRIu64 ")",
		    since, store_oldest_rv(api->store));
		st = status_new(410, "Expired", msg, NULL, NULL, NULL);
		api_watch_send(w, "ERROR", st);
		cJSON_Delete(st);
		api_watch_end(w, true);
		return;
	}
	if (since == 0)
		store_foreach(api->store, c->res,
		    c->ns[0] != '\0' ? c->ns : NULL, api_watch_initial_cb, w);
	r = store_watch(api->store, c->res, c->ns[0] != '\0' ? c->ns : NULL,
	    since, api_watch_event, w, &w->sw);
	if (r < 0) {
		cJSON *st = status_new(410, "Expired",
		    "too old resource version", NULL, NULL, NULL);

		api_watch_send(w, "ERROR", st);
		cJSON_Delete(st);
		api_watch_end(w, true);
		return;
	}
	w->timeout_ev = evtimer_new(api->base, api_watch_timeout_cb, w);
	if (w->timeout_ev != NULL) {
		tv.tv_sec = timeout;
		tv.tv_usec = 0;
		evtimer_add(w->timeout_ev, &tv);
	}
	if (api_param_true(c->req, "allowWatchBookmarks")) {
		w->bookmark_ev = event_new(
		    api->base, -1, EV_PERSIST, api_watch_bookmark_cb, w);
		if (w->bookmark_ev != NULL) {
			tv.tv_sec = api->cfg.bookmark_seconds;
			tv.tv_usec = 0;
			evtimer_add(w->bookmark_ev, &tv);
		}
	}
}

/* Writes ---------------------------------------------------------------- */

static const char api_name_chars[] = "bcdfghjklmnpqrstvwxz2456789";

/* Common checks of a body for create/update: names, namespace. Fills
 * name. Returns -EINVAL after answering. */
static int
api_check_identity(
    struct api_call *c, cJSON *obj, bool create, char *name, size_t len)
{
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *n = api_meta_str(obj, "name");
	const char *gn = api_meta_str(obj, "generateName");
	const char *ns = api_meta_str(obj, "namespace");
	char msg[API_MAX_MSG];

	if (meta != NULL && !cJSON_IsObject(meta)) {
		api_bad_request(c->req, "metadata must be an object");
		return -EINVAL;
	}
	if (meta == NULL)
		meta = cJSON_AddObjectToObject(obj, "metadata");
	if ((n == NULL || n[0] == '\0') && create && gn != NULL && gn[0]) {
		char gen[API_MAX_NAME + 1];
		unsigned char rnd[5];
		size_t gl = strlen(gn);

		if (gl > API_MAX_NAME - 5)
			gl = API_MAX_NAME - 5;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			memset(rnd, 0, sizeof(rnd));
		snprintf(gen, sizeof(gen), "%.*s%c%c%c%c%c", (int)gl, gn,
		    api_name_chars[rnd[0] % 27], api_name_chars[rnd[1] % 27],
		    api_name_chars[rnd[2] % 27], api_name_chars[rnd[3] % 27],
		    api_name_chars[rnd[4] % 27]);
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
		cJSON_AddStringToObject(meta, "name", gen);
		n = api_meta_str(obj, "name");
	}
	if (c->name[0] != '\0' && n != NULL && strcmp(n, c->name) != 0) {
		snprintf(msg, sizeof(msg),
		    "the name of the object (%s) does not match the name on the URL (%s)",
		    n, c->name);
		api_bad_request(c->req, msg);
		return -EINVAL;
	}
	if (c->res->namespaced && ns != NULL && ns[0] != '\0' &&
	    strcmp(ns, c->ns) != 0) {
		api_bad_request(c->req,
		    "the namespace of the provided object does not match the namespace sent on the request");
		return -EINVAL;
	}
	if (n == NULL && c->name[0] != '\0') {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
		cJSON_AddStringToObject(meta, "name", c->name);
		n = c->name;
	}
	snprintf(name, len, "%s", n != NULL ? n : "");
	return 0;
}

static void
api_strip_server_fields(cJSON *obj)
{
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");

	/* Set by the server only. */
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "creationTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
}

static bool
api_dry_run(struct api_call *c)
{
	const char *d = http_param(c->req, "dryRun");

	if (d == NULL || d[0] == '\0')
		return false;
	return true;
}

static void
api_create(struct api_call *c)
{
	char err[512], name[API_MAX_NAME + 1], manager[APPLY_MAX_MANAGER + 1];
	char warn[2048] = "";
	enum api_validation fv;
	struct api_errors e = {.n = 0};
	cJSON *obj, *stored = NULL;
	const char *rv;
	int r;

	if (api_field_validation(c->req, &fv) < 0)
		return;
	if (c->res->namespaced && !api_namespace_usable(c, false))
		return;
	obj = api_parse_body(c->req, err, sizeof(err));
	if (obj == NULL) {
		api_bad_request(c->req, err);
		return;
	}
	if (api_decode(c, obj, fv, false, warn, sizeof(warn)) < 0)
		goto out;
	if (api_check_identity(c, obj, true, name, sizeof(name)) < 0)
		goto out;
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (c->res->namespaced && !api_namespace_usable(c, true))
		goto out;
	rv = api_meta_str(obj, "resourceVersion");
	if (rv != NULL && rv[0] != '\0') {
		api_bad_request(c->req,
		    "resourceVersion should not be set on objects to be created");
		goto out;
	}
	api_validate(c, obj, name, &e);
	if (e.n > 0) {
		api_invalid(c, name, &e);
		goto out;
	}
	if (api_manager(c, false, manager, sizeof(manager)) < 0)
		goto out;
	api_strip_server_fields(obj);
	api_defaults(c->api, c->res, obj, true);
	if (strcmp(c->res->plural, "services") == 0 &&
	    api_service_ips(c, obj, name) < 0)
		goto out;
	if (apply_track_update(
	        c->api->schemas, c->res, NULL, obj, manager, "") < 0)
		goto oom;
	if (store_get(c->api->store, c->res, c->ns, name) != NULL) {
		char msg[API_MAX_MSG];

		snprintf(msg, sizeof(msg), "%s \"%s\" already exists", c->qres,
		    name);
		status_fail(c->req, 409, "AlreadyExists", msg, c->res->group,
		    c->res->plural, name);
		goto out;
	}
	if (api_dry_run(c)) {
		status_json(c->req, 201, obj, warn[0] ? warn : NULL);
		return;
	}
	r = store_create(c->api->store, c->res, c->ns, obj, &stored);
	obj = NULL;
	if (r < 0)
		goto oom;
	status_json(
	    c->req, 201, cJSON_Duplicate(stored, true), warn[0] ? warn : NULL);
	return;
oom:
	status_fail(c->req, 500, "InternalError", "cannot store the object",
	    NULL, NULL, NULL);
out:
	cJSON_Delete(obj);
}

static void
api_conflict(struct api_call *c, const char *name)
{
	char msg[API_MAX_MSG];

	snprintf(msg, sizeof(msg),
	    "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes to the latest version and try again",
	    c->qres, name);
	status_fail(
	    c->req, 409, "Conflict", msg, c->res->group, c->res->plural, name);
}

/* Stores obj (taken) as the new state of an existing object after the
 * checks every update shares; old is the live object (borrowed).
 * status_only: a /status write keeps the spec (and a main write keeps the
 * status) as the real strategies do. */
static void
api_commit_update(struct api_call *c, const cJSON *old, cJSON *obj,
    const char *manager, bool precondition, int code, const char *warn)
{
	struct api_errors e = {.n = 0};
	cJSON *stored = NULL;
	const char *rv = api_meta_str(obj, "resourceVersion");
	const char *cur = api_meta_str(old, "resourceVersion");
	int r;

	if (precondition && rv != NULL && rv[0] != '\0' && cur != NULL &&
	    strcmp(rv, cur) != 0) {
		api_conflict(c, c->name);
		cJSON_Delete(obj);
		return;
	}
	/* The spec/status split of the real strategies. */
	if (c->res->status_subres) {
		const char *keep =
		    strcmp(c->sub, "status") == 0 ? "spec" : "status";
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(old, keep);

		cJSON_DeleteItemFromObjectCaseSensitive(obj, keep);
		if (o != NULL)
			cJSON_AddItemToObject(
			    obj, keep, cJSON_Duplicate(o, true));
	}
	/* metadata the client cannot change on update. */
	{
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		const char *keep[] = {"deletionTimestamp", "generateName"};

		for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
			const char *v = api_meta_str(old, keep[i]);

			cJSON_DeleteItemFromObjectCaseSensitive(meta, keep[i]);
			if (v != NULL)
				cJSON_AddStringToObject(meta, keep[i], v);
		}
	}
	api_validate(c, obj, c->name, &e);
	if (e.n > 0) {
		api_invalid(c, c->name, &e);
		cJSON_Delete(obj);
		return;
	}
	api_defaults(c->api, c->res, obj, false);
	if (manager != NULL && apply_track_update(c->api->schemas, c->res, old,
	                           obj, manager, c->sub) < 0) {
		cJSON_Delete(obj);
		status_fail(c->req, 500, "InternalError", "out of memory", NULL,
		    NULL, NULL);
		return;
	}
	if (api_dry_run(c)) {
		status_json(
		    c->req, code, obj, warn != NULL && warn[0] ? warn : NULL);
		return;
	}
	r = store_update(c->api->store, c->res, c->ns, c->name, obj, &stored);
	if (r < 0) {
		status_fail(c->req, 500, "InternalError",
		    "cannot store the object", NULL, NULL, NULL);
		return;
	}
	status_json(c->req, code, cJSON_Duplicate(stored, true),
	    warn != NULL && warn[0] ? warn : NULL);
}

static void
api_update(struct api_call *c)
{
	char err[512], name[API_MAX_NAME + 1], manager[APPLY_MAX_MANAGER + 1];
	char warn[2048] = "";
	enum api_validation fv;
	const cJSON *old;
	cJSON *obj;

	if (api_field_validation(c->req, &fv) < 0)
		return;
	obj = api_parse_body(c->req, err, sizeof(err));
	if (obj == NULL) {
		api_bad_request(c->req, err);
		return;
	}
	if (api_decode(c, obj, fv, false, warn, sizeof(warn)) < 0 ||
	    api_check_identity(c, obj, false, name, sizeof(name)) < 0 ||
	    api_manager(c, false, manager, sizeof(manager)) < 0) {
		cJSON_Delete(obj);
		return;
	}
	old = store_get(c->api->store, c->res, c->ns, c->name);
	if (old == NULL) {
		/* Most built-in types do not create on update. */
		cJSON_Delete(obj);
		api_not_found(c, c->name);
		return;
	}
	api_strip_server_fields(obj);
	api_commit_update(c, old, obj, manager, true, 200, warn);
}

static const char *
api_content_type(const struct http_request *req, char *buf, size_t len)
{
	const char *ct = http_header(req, "Content-Type");
	size_t n;

	if (ct == NULL)
		return "";
	n = strcspn(ct, "; ");
	snprintf(buf, len, "%.*s", (int)n, ct);
	return buf;
}

static void
api_patch(struct api_call *c)
{
	char ctb[128], err[512], manager[APPLY_MAX_MANAGER + 1];
	char warn[2048] = "";
	const char *ct = api_content_type(c->req, ctb, sizeof(ctb));
	bool apply = strcmp(ct, "application/apply-patch+yaml") == 0;
	bool force = api_param_true(c->req, "force");
	enum api_validation fv;
	const cJSON *old;
	cJSON *patch, *obj = NULL;

	if (!apply && strcmp(ct, "application/merge-patch+json") != 0 &&
	    strcmp(ct, "application/strategic-merge-patch+json") != 0 &&
	    strcmp(ct, "application/json-patch+json") != 0) {
		char msg[512];

		snprintf(msg, sizeof(msg),
		    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
		status_fail(
		    c->req, 415, "UnsupportedMediaType", msg, NULL, NULL, NULL);
		return;
	}
	if (!apply && http_param(c->req, "force") != NULL) {
		struct api_errors e = {.n = 0};

		api_errors_add(&e, "FieldValueForbidden", "force",
		    "Forbidden: may not be specified for non-apply patch");
		api_invalid(c, c->name, &e);
		return;
	}
	if (api_field_validation(c->req, &fv) < 0)
		return;
	if (api_manager(c, apply, manager, sizeof(manager)) < 0)
		return;
	patch = api_parse_body(c->req, err, sizeof(err));
	if (patch == NULL) {
		api_bad_request(c->req, err);
		return;
	}
	old = store_get(c->api->store, c->res, c->ns, c->name);
	if (apply) {
		struct apply_conflict conflicts[APPLY_MAX_CONFLICTS];
		size_t n = 0;
		char name[API_MAX_NAME + 1];
		const char *prv = api_meta_str(patch, "resourceVersion");
		int r;

		if (api_decode(c, patch, fv, true, warn, sizeof(warn)) < 0 ||
		    api_check_identity(c, patch, false, name, sizeof(name)) <
		        0) {
			cJSON_Delete(patch);
			return;
		}
		if (cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(patch, "metadata"),
		        "managedFields") != NULL) {
			cJSON_Delete(patch);
			api_bad_request(
			    c->req, "metadata.managedFields must be nil");
			return;
		}
		if (old == NULL && c->res->namespaced &&
		    !api_namespace_usable(c, true)) {
			cJSON_Delete(patch);
			return;
		}
		if (old != NULL && prv != NULL && prv[0] != '\0' &&
		    strcmp(prv, api_meta_str(old, "resourceVersion")) != 0) {
			cJSON_Delete(patch);
			api_conflict(c, c->name);
			return;
		}
		if (old == NULL && prv != NULL && prv[0] != '\0') {
			cJSON_Delete(patch);
			api_not_found(c, c->name);
			return;
		}
		r = apply_server_side(c->api->schemas, c->res, old, patch,
		    manager, force, &obj, conflicts, &n);
		cJSON_Delete(patch);
		if (r == -EBUSY) {
			char msg[API_MAX_MSG];
			size_t off;
			cJSON *st;

			off = (size_t)snprintf(msg, sizeof(msg),
			    "Apply failed with %zu conflict%s: ", n,
			    n == 1 ? "" : "s");
			for (size_t i = 0; i < n && off < sizeof(msg); i++) {
				char av[160];

				off += (size_t)snprintf(msg + off,
				    sizeof(msg) - off,
				    "%sconflict with \"%s\" using %s: %s",
				    i > 0 ? "\n" : "", conflicts[i].manager,
				    discovery_api_version(
				        c->res, av, sizeof(av)),
				    conflicts[i].field);
			}
			st = status_new(409, "Conflict", msg, NULL, NULL, NULL);
			for (size_t i = 0; i < n; i++) {
				char cm[256], av[160];

				snprintf(cm, sizeof(cm),
				    "conflict with \"%s\" using %s",
				    conflicts[i].manager,
				    discovery_api_version(
				        c->res, av, sizeof(av)));
				status_add_cause(st, "FieldManagerConflict", cm,
				    conflicts[i].field);
			}
			status_respond(c->req, st, NULL);
			return;
		}
		if (r < 0) {
			status_fail(c->req, 500, "InternalError",
			    "out of memory", NULL, NULL, NULL);
			return;
		}
		if (old == NULL) {
			/* Apply creates (forceAllowCreate). */
			struct api_errors e = {.n = 0};
			cJSON *stored = NULL;

			api_validate(c, obj, c->name, &e);
			if (e.n > 0) {
				api_invalid(c, c->name, &e);
				cJSON_Delete(obj);
				return;
			}
			api_defaults(c->api, c->res, obj, true);
			if (strcmp(c->res->plural, "services") == 0 &&
			    api_service_ips(c, obj, c->name) < 0) {
				cJSON_Delete(obj);
				return;
			}
			if (api_dry_run(c)) {
				status_json(
				    c->req, 201, obj, warn[0] ? warn : NULL);
				return;
			}
			if (store_create(c->api->store, c->res, c->ns, obj,
			        &stored) < 0) {
				status_fail(c->req, 500, "InternalError",
				    "cannot store the object", NULL, NULL,
				    NULL);
				return;
			}
			status_json(c->req, 201, cJSON_Duplicate(stored, true),
			    warn[0] ? warn : NULL);
			return;
		}
		api_commit_update(c, old, obj, NULL, false, 200, warn);
		return;
	}
	if (old == NULL) {
		cJSON_Delete(patch);
		api_not_found(c, c->name);
		return;
	}
	obj = cJSON_Duplicate(old, true);
	if (strcmp(ct, "application/json-patch+json") == 0) {
		if (apply_json_patch(&obj, patch, err, sizeof(err)) < 0) {
			cJSON_Delete(patch);
			cJSON_Delete(obj);
			status_fail(
			    c->req, 422, "Invalid", err, NULL, NULL, NULL);
			return;
		}
	} else if (!cJSON_IsObject(patch)) {
		cJSON_Delete(patch);
		cJSON_Delete(obj);
		api_bad_request(c->req,
		    "json: cannot unmarshal array into Go value of type map[string]interface {}");
		return;
	} else if (strcmp(ct, "application/merge-patch+json") == 0) {
		apply_merge_patch(obj, patch);
	} else {
		apply_strategic_patch(c->api->schemas, c->res, obj, patch);
	}
	cJSON_Delete(patch);
	if (api_decode(c, obj, fv, false, warn, sizeof(warn)) < 0) {
		cJSON_Delete(obj);
		return;
	}
	{
		char name[API_MAX_NAME + 1];

		if (api_check_identity(c, obj, false, name, sizeof(name)) < 0) {
			cJSON_Delete(obj);
			return;
		}
	}
	api_commit_update(c, old, obj, manager, true, 200, warn);
}

/* Namespaces terminate: contents go first, then the namespace. */
static void
api_ns_collect(const cJSON *obj, void *arg)
{
	cJSON *names = arg;
	const char *n = api_meta_str(obj, "name");

	if (n != NULL)
		cJSON_AddItemToArray(names, cJSON_CreateString(n));
}

static void
api_ns_finalize_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	const struct discovery_resource *nsres =
	    discovery_find("", "v1", "namespaces");
	cJSON *names = cJSON_CreateArray();
	const cJSON *it;

	(void)fd;
	(void)what;
	if (names == NULL)
		return;
	store_foreach(api->store, nsres, NULL, api_ns_collect, names);
	cJSON_ArrayForEach(it, names)
	{
		const cJSON *ns =
		    store_get(api->store, nsres, "", it->valuestring);

		if (ns == NULL || api_meta_str(ns, "deletionTimestamp") == NULL)
			continue;
		for (size_t i = 0; i < discovery_n_resources; i++) {
			const struct discovery_resource *r =
			    &discovery_resources[i];
			cJSON *objs;
			const cJSON *o;

			if (!r->namespaced)
				continue;
			objs = cJSON_CreateArray();
			store_foreach(api->store, r, it->valuestring,
			    api_ns_collect, objs);
			cJSON_ArrayForEach(o, objs) store_delete(api->store, r,
			    it->valuestring, o->valuestring, NULL);
			cJSON_Delete(objs);
		}
		store_delete(api->store, nsres, "", it->valuestring, NULL);
	}
	cJSON_Delete(names);
}

static void
api_delete(struct api_call *c)
{
	const cJSON *old = store_get(c->api->store, c->res, c->ns, c->name);
	cJSON *gone = NULL, *st, *details;
	const char *uid;

	if (old == NULL) {
		api_not_found(c, c->name);
		return;
	}
	if (c->req->body_len > 0) {
		cJSON *opts =
		    cJSON_ParseWithLength(c->req->body, c->req->body_len);
		const cJSON *pre =
		    cJSON_GetObjectItemCaseSensitive(opts, "preconditions");
		const cJSON *prv =
		    cJSON_GetObjectItemCaseSensitive(pre, "resourceVersion");
		const cJSON *puid =
		    cJSON_GetObjectItemCaseSensitive(pre, "uid");

		if (opts == NULL) {
			api_bad_request(c->req,
			    "couldn't get version/kind; json parse error: invalid character");
			return;
		}
		if ((cJSON_IsString(prv) &&
		        strcmp(prv->valuestring,
		            api_meta_str(old, "resourceVersion")) != 0) ||
		    (cJSON_IsString(puid) &&
		        strcmp(puid->valuestring, api_meta_str(old, "uid")) !=
		            0)) {
			char msg[API_MAX_MSG];

			snprintf(msg, sizeof(msg),
			    "Operation cannot be fulfilled on %s \"%s\": Precondition failed: UID in precondition: %s, UID in object meta: %s",
			    c->qres, c->name,
			    cJSON_IsString(puid) ? puid->valuestring : "",
			    api_meta_str(old, "uid"));
			cJSON_Delete(opts);
			status_fail(c->req, 409, "Conflict", msg, c->res->group,
			    c->res->plural, c->name);
			return;
		}
		cJSON_Delete(opts);
	}
	if (api_dry_run(c)) {
		status_json(c->req, 200, cJSON_Duplicate(old, true), NULL);
		return;
	}
	if (strcmp(c->res->plural, "namespaces") == 0) {
		/* Terminating first; the "namespace controller" empties it on
		 * the next loop turn. */
		cJSON *obj = cJSON_Duplicate(old, true);
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
		cJSON *stored = NULL;
		char ts[32];
		struct timeval soon = {0, 50 * 1000};

		if (api_meta_str(old, "deletionTimestamp") == NULL) {
			store_now(ts);
			cJSON_AddStringToObject(meta, "deletionTimestamp", ts);
			if (status == NULL)
				status = cJSON_AddObjectToObject(obj, "status");
			cJSON_DeleteItemFromObjectCaseSensitive(
			    status, "phase");
			cJSON_AddStringToObject(status, "phase", "Terminating");
			store_update(
			    c->api->store, c->res, "", c->name, obj, &stored);
		} else {
			cJSON_Delete(obj);
			stored = (cJSON *)old;
		}
		evtimer_add(c->api->ns_ev, &soon);
		status_json(c->req, 200,
		    stored != NULL ? cJSON_Duplicate(stored, true) : NULL,
		    NULL);
		return;
	}
	store_delete(c->api->store, c->res, c->ns, c->name, &gone);
	if (strcmp(c->res->plural, "pods") == 0) {
		/* Pods return the deleted object (ReturnDeletedObject). */
		status_json(c->req, 200, gone, NULL);
		return;
	}
	uid = api_meta_str(gone, "uid");
	st =
	    status_new(200, NULL, NULL, c->res->group, c->res->plural, c->name);
	details = cJSON_GetObjectItemCaseSensitive(st, "details");
	if (uid != NULL)
		cJSON_AddStringToObject(details, "uid", uid);
	cJSON_Delete(gone);
	status_respond(c->req, st, NULL);
}

/* Dispatch --------------------------------------------------------------- */

static bool
api_authorize(struct api_call *c, const char *resource)
{
	char reason[1024], msg[API_MAX_MSG];
	const char *ns = c->ns;

	if (strcmp(c->res->plural, "namespaces") == 0 && c->name[0] != '\0')
		ns = c->name;
	if (auth_allowed(c->api->auth, c->user, c->verb, resource, ns))
		return true;
	auth_forbidden_reason(reason, sizeof(reason), c->user, c->verb,
	    resource, c->res->group, ns);
	if (c->name[0] != '\0')
		snprintf(msg, sizeof(msg), "%s \"%s\" is forbidden: %s",
		    c->qres, c->name, reason);
	else
		snprintf(
		    msg, sizeof(msg), "%s is forbidden: %s", c->qres, reason);
	status_fail(c->req, 403, "Forbidden", msg, c->res->group,
	    c->res->plural, c->name[0] != '\0' ? c->name : NULL);
	return false;
}

void
api_handle(struct http_request *req, void *arg)
{
	struct api *api = arg;
	struct api_call call;
	struct api_call *c = &call;
	char segs[API_MAX_SEGS][API_MAX_NAME + 1];
	char cn[AUTH_MAX_USER];
	size_t n = 0, i = 0;
	const char *plural;
	const char *m = req->method;
	bool have_cn;
	char resource[96];

	log_debug(LOG_CAT_KUBE, "%s %s", req->method, req->target);
	memset(c, 0, sizeof(*c));
	c->api = api;
	c->req = req;
	have_cn = http_peer_cn(req, cn, sizeof(cn));
	if (!auth_authenticate(api->auth, have_cn ? cn : NULL,
	        http_header(req, "Authorization"), c->user, sizeof(c->user))) {
		status_fail(
		    req, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL);
		return;
	}
	if (discovery_serve(api->disc, req))
		return;
	if (api_split(req->path, segs, &n) < 0)
		goto not_found;
	if (n >= 2 && strcmp(segs[0], "api") == 0 &&
	    strcmp(segs[1], "v1") == 0) {
		snprintf(c->version, sizeof(c->version), "v1");
		i = 2;
	} else if (n >= 3 && strcmp(segs[0], "apis") == 0) {
		snprintf(c->group, sizeof(c->group), "%s", segs[1]);
		snprintf(c->version, sizeof(c->version), "%s", segs[2]);
		i = 3;
	} else {
		goto not_found;
	}
	/* namespaces/NS/RESOURCE[/NAME[/SUB]], except namespaces/NAME/status
	 * and /finalize which are the namespace's own subresources. */
	if (n - i >= 3 && strcmp(segs[i], "namespaces") == 0 &&
	    !(n - i == 3 && c->group[0] == '\0' &&
	        (strcmp(segs[i + 2], "status") == 0 ||
	            strcmp(segs[i + 2], "finalize") == 0))) {
		snprintf(c->ns, sizeof(c->ns), "%s", segs[i + 1]);
		i += 2;
		plural = segs[i++];
		if (i < n)
			snprintf(c->name, sizeof(c->name), "%s", segs[i++]);
		if (i < n)
			snprintf(c->sub, sizeof(c->sub), "%s", segs[i++]);
	} else {
		plural = segs[i++];
		if (i < n)
			snprintf(c->name, sizeof(c->name), "%s", segs[i++]);
		if (i < n)
			snprintf(c->sub, sizeof(c->sub), "%s", segs[i++]);
	}
	if (i != n)
		goto not_found;
	c->res = discovery_find(c->group, c->version, plural);
	if (c->res == NULL)
		goto not_found;
	if (!c->res->namespaced && c->ns[0] != '\0')
		goto not_found;
	if (c->res->namespaced && c->ns[0] == '\0' && c->name[0] != '\0')
		goto not_found;
	discovery_qualified(c->res, c->qres, sizeof(c->qres));
	if (c->sub[0] != '\0' &&
	    !(strcmp(c->sub, "status") == 0 && c->res->status_subres) &&
	    !(strcmp(c->sub, "portforward") == 0 &&
	        strcmp(c->res->plural, "pods") == 0) &&
	    !(strcmp(c->sub, "finalize") == 0 &&
	        strcmp(c->res->plural, "namespaces") == 0))
		goto not_found;

	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		c->verb =
		    c->name[0] == '\0'
		        ? (api_param_true(req, "watch") ? "watch" : "list")
		        : "get";
	else if (strcmp(m, "POST") == 0)
		c->verb = "create";
	else if (strcmp(m, "PUT") == 0)
		c->verb = "update";
	else if (strcmp(m, "PATCH") == 0)
		c->verb = "patch";
	else if (strcmp(m, "DELETE") == 0)
		c->verb = c->name[0] == '\0' ? "deletecollection" : "delete";
	else {
		status_fail(req, 405, "MethodNotAllowed",
		    "the server does not allow this method on the requested resource",
		    NULL, NULL, NULL);
		return;
	}
	if (c->sub[0] != '\0')
		snprintf(resource, sizeof(resource), "%s/%s", c->res->plural,
		    c->sub);
	else
		snprintf(resource, sizeof(resource), "%s", c->res->plural);
	if (strcmp(c->sub, "portforward") == 0) {
		/* A WebSocket upgrade is a GET, authorized as get, and since
		 * 1.35 also as create. */
		if (!api_authorize(c, resource))
			return;
		if (strcmp(m, "GET") == 0) {
			c->verb = "create";
			if (!api_authorize(c, resource))
				return;
		}
		if (api->pf == NULL) {
			status_fail(req, 503, "ServiceUnavailable",
			    "port-forward is not configured", NULL, NULL, NULL);
			return;
		}
		{
			const cJSON *pod =
			    store_get(api->store, c->res, c->ns, c->name);

			if (pod == NULL) {
				api_not_found(c, c->name);
				return;
			}
			portforward_handle(api->pf, req, c->ns, c->name, pod);
		}
		return;
	}
	if (!api_authorize(c, resource))
		return;
	if (c->name[0] == '\0') {
		struct store_selector *sel = NULL;
		char err[512];

		if (strcmp(c->verb, "list") == 0 ||
		    strcmp(c->verb, "watch") == 0) {
			if (store_selector_parse(
			        http_param(req, "labelSelector"),
			        http_param(req, "fieldSelector"), &sel, err,
			        sizeof(err)) < 0) {
				api_bad_request(req, err);
				return;
			}
			if (strcmp(c->verb, "watch") == 0)
				api_watch(c, sel);
			else {
				api_list(c, sel);
				store_selector_free(sel);
			}
			return;
		}
		if (strcmp(c->verb, "create") == 0) {
			api_create(c);
			return;
		}
		status_fail(req, 405, "MethodNotAllowed",
		    "the server does not allow this method on the requested resource",
		    NULL, NULL, NULL);
		return;
	}
	if (c->res->namespaced && strcmp(c->verb, "get") != 0 &&
	    store_get(api->store, discovery_find("", "v1", "namespaces"), "",
	        c->ns) == NULL) {
		char msg[API_MAX_MSG];

		snprintf(
		    msg, sizeof(msg), "namespaces \"%s\" not found", c->ns);
		status_fail(req, 404, "NotFound", msg, "", "namespaces", c->ns);
		return;
	}
	if (strcmp(c->verb, "get") == 0)
		api_get(c);
	else if (strcmp(c->verb, "update") == 0)
		api_update(c);
	else if (strcmp(c->verb, "patch") == 0)
		api_patch(c);
	else if (strcmp(c->verb, "delete") == 0)
		api_delete(c);
	else
		status_fail(req, 405, "MethodNotAllowed",
		    "the server does not allow this method on the requested resource",
		    NULL, NULL, NULL);
	return;
not_found:
	status_fail(req, 404, "NotFound",
	    "the server could not find the requested resource", NULL, NULL,
	    NULL);
}

int
api_bootstrap(struct api *api)
{
	static const char *const names[] = {
	    "default", "kube-system", "kube-public", "kube-node-lease"};
	const struct discovery_resource *nsres =
	    discovery_find("", "v1", "namespaces");

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		cJSON *obj = cJSON_CreateObject();
		cJSON *meta, *labels;

		if (obj == NULL)
			return -ENOMEM;
		cJSON_AddStringToObject(obj, "kind", "Namespace");
		cJSON_AddStringToObject(obj, "apiVersion", "v1");
		meta = cJSON_AddObjectToObject(obj, "metadata");
		cJSON_AddStringToObject(meta, "name", names[i]);
		labels = cJSON_AddObjectToObject(meta, "labels");
		cJSON_AddStringToObject(
		    labels, "kubernetes.io/metadata.name", names[i]);
		api_defaults(api, nsres, obj, true);
		if (store_create(api->store, nsres, "", obj, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}
