/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: metav1.Status bodies, the shape of every error the real API
 * server returns (apimachinery pkg/api/errors): kind Status, apiVersion
 * v1, metadata {}, status Failure (or Success), message, reason, details
 * {name, group, kind (the plural resource), causes[]}, code.
 */
#ifndef TELEPOD_FAKEAPI_STATUS_H
#define TELEPOD_FAKEAPI_STATUS_H

#include <cjson/cJSON.h>

#include "tests/fakeapi/http.h"

/*
 * Makes a Failure Status. group, resource and name fill details when not
 * NULL (details is left out when all three are NULL). Caller frees with
 * cJSON_Delete. NULL when out of memory.
 */
cJSON *status_new(int code, const char *reason, const char *message,
    const char *group, const char *resource, const char *name);
/* Appends a cause {reason, message, field} to details.causes. */
void status_add_cause(
    cJSON *status, const char *reason, const char *message, const char *field);
/* Sends status (consumed) as the response to req with its code, plus
 * extra header lines (NULL for none). */
void status_respond(struct http_request *req, cJSON *status, const char *extra);
/* status_new + status_respond in one. */
void status_fail(struct http_request *req, int code, const char *reason,
    const char *message, const char *group, const char *resource,
    const char *name);
/* Sends a JSON object (consumed) with code. */
void status_json(
    struct http_request *req, int code, cJSON *obj, const char *extra);

#endif
