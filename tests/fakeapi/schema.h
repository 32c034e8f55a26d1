/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema: validates objects against the real Kubernetes OpenAPI documents
 * (v3 per group-version for core, apps and batch; the v2 swagger for RBAC),
 * the way the real API server's decoding and validation reject them:
 *
 *   SCHEMA_TYPE      a JSON type the Go struct cannot decode (a number for a
 *                    string, 3.5 or 2^40 for an int32, ...): 400 BadRequest
 *                    "... cannot be handled as a Kind: json: cannot
 *                    unmarshal ..."
 *   SCHEMA_UNKNOWN   a field the schema does not declare: with
 *                    fieldValidation=Strict a 400 "strict decoding error:
 *                    unknown field \"spec.x\"", with Warn a Warning header
 *   SCHEMA_DUPLICATE a duplicated key in an object (same treatment)
 *   SCHEMA_REQUIRED  a field listed in "required" is missing: 422 Invalid
 *   SCHEMA_ENUM      a value outside an "enum" list: 422 Invalid
 *
 * $ref is followed into components/schemas (v3) or definitions (v2);
 * single-element allOf wrappers (v3) are unwrapped. Formats checked:
 * int32, int64 (range and integrality), int-or-string
 * (x-kubernetes-int-or-string or format int-or-string), byte (base64),
 * date-time (RFC 3339), Quantity (string or number). additionalProperties
 * gives maps; x-kubernetes-preserve-unknown-fields and RawExtension
 * (objects without properties) accept anything.
 */
#ifndef TELEPOD_FAKEAPI_SCHEMA_H
#define TELEPOD_FAKEAPI_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "tests/fakeapi/discovery.h"

#define SCHEMA_MAX_ISSUES 64
#define SCHEMA_MAX_DEPTH  64
#define SCHEMA_MAX_PATH   512

enum schema_issue_kind {
	SCHEMA_TYPE,
	SCHEMA_UNKNOWN,
	SCHEMA_DUPLICATE,
	SCHEMA_REQUIRED,
	SCHEMA_ENUM,
};

struct schema_issue {
	enum schema_issue_kind kind;
	char path[SCHEMA_MAX_PATH]; /* "spec.containers[0].image" */
	char
	    pointer[SCHEMA_MAX_PATH]; /* RFC 6901: "/spec/containers/0/image" */
	char go_field[SCHEMA_MAX_PATH]; /* "Deployment.spec.containers.image" */
	char expected[32];              /* Go type: "string", "int32", ... */
	char got[32];                   /* JSON type: "number", "string", ... */
	char value[128];                /* the offending value (ENUM) */
	char supported[512];            /* ENUM: "\"A\", \"B\"" */
};

struct schema_report {
	struct schema_issue issues[SCHEMA_MAX_ISSUES];
	size_t n;
	bool truncated;
};

struct schema_set;

/* Loads and indexes the four documents under k8s_dir. Caller frees with
 * schema_set_free(). Returns 0 or a negative errno with a sentence. */
int schema_set_new(
    const char *k8s_dir, struct schema_set **ret, char *err, size_t errlen);
void schema_set_free(struct schema_set *s);

/* The resolved schema of a definition, or NULL (borrowed). */
const cJSON *schema_definition(
    const struct schema_set *s, enum discovery_doc doc, const char *name);
/* Follows $ref and single allOf wrappers. */
const cJSON *schema_resolve(
    const struct schema_set *s, enum discovery_doc doc, const cJSON *node);
/* The schema of property key of an object schema (declared property or
 * additionalProperties), resolved; NULL when undeclared. */
const cJSON *schema_property(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *node, const char *key);
/* The resolved items schema of an array schema, or NULL. */
const cJSON *schema_items(
    const struct schema_set *s, enum discovery_doc doc, const cJSON *node);

/*
 * Checks obj against definition def of doc. Raw is the request body the
 * object came from (or NULL): it is scanned for duplicate keys, which
 * cJSON drops silently. Fills rep (cleared first). Returns 0 (look at
 * rep->n), or -ENOENT when def is unknown.
 */
int schema_validate(const struct schema_set *s, enum discovery_doc doc,
    const char *def, const cJSON *obj, struct schema_report *rep);

/* Counts the issues of one kind. */
size_t schema_count(const struct schema_report *rep, enum schema_issue_kind k);

#endif
