/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: builds and sends metav1.Status error bodies and plain JSON
 * replies for the fake API server.
 */
#include "tests/fakeapi/status.h"

#include <stdlib.h>
#include <string.h>

cJSON *
status_new(int code, const char *reason, const char *message, const char *group,
    const char *resource, const char *name)
{
	cJSON *st = cJSON_CreateObject();

	if (st == NULL)
		return NULL;
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddObjectToObject(st, "metadata");
	cJSON_AddStringToObject(
	    st, "status", code >= 200 && code < 300 ? "Success" : "Failure");
	if (message != NULL)
		cJSON_AddStringToObject(st, "message", message);
	if (reason != NULL && reason[0] != '\0')
		cJSON_AddStringToObject(st, "reason", reason);
	if (group != NULL || resource != NULL || name != NULL) {
		cJSON *d = cJSON_AddObjectToObject(st, "details");

		if (name != NULL && name[0] != '\0')
			cJSON_AddStringToObject(d, "name", name);
		if (group != NULL && group[0] != '\0')
			cJSON_AddStringToObject(d, "group", group);
		if (resource != NULL && resource[0] != '\0')
			cJSON_AddStringToObject(d, "kind", resource);
	}
	cJSON_AddNumberToObject(st, "code", code);
	return st;
}

void
status_add_cause(
    cJSON *status, const char *reason, const char *message, const char *field)
{
	cJSON *d = cJSON_GetObjectItemCaseSensitive(status, "details");
	cJSON *causes, *c;

	if (d == NULL)
		d = cJSON_AddObjectToObject(status, "details");
	if (d == NULL)
		return;
	causes = cJSON_GetObjectItemCaseSensitive(d, "causes");
	if (causes == NULL)
		causes = cJSON_AddArrayToObject(d, "causes");
	c = cJSON_CreateObject();
	if (causes == NULL || c == NULL) {
		cJSON_Delete(c);
		return;
	}
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	if (field != NULL)
		cJSON_AddStringToObject(c, "field", field);
	cJSON_AddItemToArray(causes, c);
}

void
status_json(struct http_request *req, int code, cJSON *obj, const char *extra)
{
	char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (text == NULL) {
		static const char oom[] =
		    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"out of memory\",\"reason\":\"InternalError\",\"code\":500}";

		http_respond(
		    req, 500, "application/json", oom, strlen(oom), NULL);
		return;
	}
	http_respond(req, code, "application/json", text, strlen(text), extra);
	free(text);
}

void
status_respond(struct http_request *req, cJSON *status, const char *extra)
{
	cJSON *code = cJSON_GetObjectItemCaseSensitive(status, "code");

	status_json(
	    req, cJSON_IsNumber(code) ? code->valueint : 500, status, extra);
}

void
status_fail(struct http_request *req, int code, const char *reason,
    const char *message, const char *group, const char *resource,
    const char *name)
{
	status_respond(req,
	    status_new(code, reason, message, group, resource, name), NULL);
}
