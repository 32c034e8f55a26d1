/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openapipb: the OpenAPI v2 document as the real API server serves it to
 * clients asking for application/com.github.proto-openapi.spec.v2@v1.0+protobuf
 * (answered with Content-Type ...spec.v2.v1.0+protobuf, as kube-openapi does)
 * (kubectl apply and client-side validation ask only for that): the
 * gnostic openapi_v2.Document protobuf, encoded here from swagger.json.
 * Encoded: swagger, info, paths (operations with their parameters,
 * responses and x-kubernetes-* extensions), definitions (schemas with
 * $ref, type, format, description, required, properties,
 * additionalProperties, items, allOf and vendor extensions as YAML) and
 * the shared parameters. Examples, defaults and security are left out.
 */
#ifndef TELEPOD_FAKEAPI_OPENAPIPB_H
#define TELEPOD_FAKEAPI_OPENAPIPB_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define OPENAPIPB_CONTENT_TYPE                                                 \
	"application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

/* Encodes swagger (borrowed). *ret (caller frees) and *ret_len receive the
 * bytes. Returns 0, -ENOMEM or -ELOOP (nesting deeper than 64). */
int openapipb_encode(
    const cJSON *swagger, unsigned char **ret, size_t *ret_len);

#endif
