/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openapipb: a protobuf encoder for gnostic's openapi_v2.Document (field
 * numbers from gnostic openapiv2/OpenAPIv2.proto), fed from the JSON
 * swagger document, so the fake serves /openapi/v2 in the form kubectl
 * requests.
 */
#include "tests/fakeapi/openapipb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PB_MAX_DEPTH 64

struct pb {
	unsigned char *buf;
	size_t len, cap;
	int err;
};

static void
pb_put(struct pb *p, const void *data, size_t len)
{
	if (p->err != 0 || len == 0)
		return;
	if (p->len + len > p->cap) {
		size_t nc = p->cap ? p->cap : 256;
		unsigned char *nb;

		while (nc < p->len + len)
			nc *= 2;
		nb = realloc(p->buf, nc);
		if (nb == NULL) {
			p->err = -ENOMEM;
			return;
		}
		p->buf = nb;
		p->cap = nc;
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static void
pb_varint(struct pb *p, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	pb_put(p, b, n);
}

static void
pb_bytes(struct pb *p, int field, const void *data, size_t len)
{
	pb_varint(p, ((uint64_t)field << 3) | 2);
	pb_varint(p, len);
	pb_put(p, data, len);
}

/* A proto3 string: empty ones are not written. */
static void
pb_string(struct pb *p, int field, const char *s)
{
	if (s != NULL && s[0] != '\0')
		pb_bytes(p, field, s, strlen(s));
}

static void
pb_json_string(struct pb *p, int field, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsString(v))
		pb_string(p, field, v->valuestring);
}

static void
pb_json_bool(struct pb *p, int field, const cJSON *obj, const char *key)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key))) {
		pb_varint(p, ((uint64_t)field << 3) | 0);
		pb_varint(p, 1);
	}
}

/* Appends sub as a length-delimited field and frees it. */
static void
pb_msg(struct pb *p, int field, struct pb *sub)
{
	if (sub->err != 0)
		p->err = sub->err;
	else
		pb_bytes(p, field,
		    sub->buf != NULL ? sub->buf : (unsigned char *)"",
		    sub->len);
	free(sub->buf);
	memset(sub, 0, sizeof(*sub));
}

/* NamedAny{name, Any{yaml}} for each "x-" member of obj. JSON is valid
 * YAML, so the value is written as compact JSON. */
static void
pb_vendor(struct pb *p, int field, const cJSON *obj)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj)
	{
		struct pb named = {0}, any = {0};
		char *text;

		if (strncmp(it->string, "x-", 2) != 0)
			continue;
		text = cJSON_PrintUnformatted(it);
		if (text == NULL) {
			p->err = -ENOMEM;
			return;
		}
		pb_string(&any, 2, text);
		free(text);
		pb_string(&named, 1, it->string);
		pb_msg(&named, 2, &any);
		pb_msg(p, field, &named);
	}
}

static void pb_schema(struct pb *p, const cJSON *s, int depth);

static void
pb_schema_field(struct pb *p, int field, const cJSON *s, int depth)
{
	struct pb sub = {0};

	pb_schema(&sub, s, depth + 1);
	pb_msg(p, field, &sub);
}

static void
pb_schema(struct pb *p, const cJSON *s, int depth)
{
	const cJSON *v, *it;

	if (depth > PB_MAX_DEPTH) {
		p->err = -ELOOP;
		return;
	}
	pb_json_string(p, 1, s, "$ref");
	pb_json_string(p, 2, s, "format");
	pb_json_string(p, 3, s, "title");
	pb_json_string(p, 4, s, "description");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(s, "required"))
	{
		if (cJSON_IsString(it))
			pb_string(p, 19, it->valuestring);
	}
	v = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
	if (cJSON_IsObject(v)) {
		struct pb ap = {0};

		pb_schema_field(&ap, 1, v, depth);
		pb_msg(p, 21, &ap);
	} else if (cJSON_IsBool(v)) {
		struct pb ap = {0};

		pb_varint(&ap, (2 << 3) | 0);
		pb_varint(&ap, cJSON_IsTrue(v) ? 1 : 0);
		pb_msg(p, 21, &ap);
	}
	v = cJSON_GetObjectItemCaseSensitive(s, "type");
	if (cJSON_IsString(v)) {
		struct pb t = {0};

		pb_string(&t, 1, v->valuestring);
		pb_msg(p, 22, &t);
	}
	v = cJSON_GetObjectItemCaseSensitive(s, "items");
	if (cJSON_IsObject(v)) {
		struct pb items = {0};

		pb_schema_field(&items, 1, v, depth);
		pb_msg(p, 23, &items);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(s, "allOf"))
	    pb_schema_field(p, 24, it, depth);
	v = cJSON_GetObjectItemCaseSensitive(s, "properties");
	if (cJSON_IsObject(v)) {
		struct pb props = {0};

		cJSON_ArrayForEach(it, v)
		{
			struct pb named = {0};

			pb_string(&named, 1, it->string);
			pb_schema_field(&named, 2, it, depth);
			pb_msg(&props, 1, &named);
		}
		pb_msg(p, 25, &props);
	}
	pb_vendor(p, 31, s);
}

/* Writes the fields of a Parameter message into param. */
static void
pb_parameter(struct pb *param, const cJSON *prm, int depth)
{
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(prm, "in");
	const char *where = cJSON_IsString(in) ? in->valuestring : "";
	struct pb inner = {0};

	if (strcmp(where, "body") == 0) {
		pb_json_string(&inner, 1, prm, "description");
		pb_json_string(&inner, 2, prm, "name");
		pb_json_string(&inner, 3, prm, "in");
		pb_json_bool(&inner, 4, prm, "required");
		if (cJSON_GetObjectItemCaseSensitive(prm, "schema") != NULL)
			pb_schema_field(&inner, 5,
			    cJSON_GetObjectItemCaseSensitive(prm, "schema"),
			    depth);
		pb_vendor(&inner, 6, prm);
		pb_msg(param, 1, &inner);
	} else {
		struct pb nb = {0};
		int kind = strcmp(where, "query") == 0    ? 3
		           : strcmp(where, "path") == 0   ? 4
		           : strcmp(where, "header") == 0 ? 1
		                                          : 2;

		pb_json_bool(&inner, 1, prm, "required");
		pb_json_string(&inner, 2, prm, "in");
		pb_json_string(&inner, 3, prm, "description");
		pb_json_string(&inner, 4, prm, "name");
		if (kind == 3 || kind == 2) {
			pb_json_string(&inner, 6, prm, "type");
			pb_json_bool(&inner, 20, prm, "uniqueItems");
		} else {
			pb_json_string(&inner, 5, prm, "type");
			pb_json_bool(&inner, 19, prm, "uniqueItems");
		}
		pb_msg(&nb, kind, &inner);
		pb_msg(param, 2, &nb);
	}
}

static void
pb_parameters(struct pb *p, int field, const cJSON *list, int depth)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list)
	{
		struct pb item = {0};
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(it, "$ref");

		if (cJSON_IsString(ref)) {
			struct pb jr = {0};

			pb_string(&jr, 1, ref->valuestring);
			pb_msg(&item, 2, &jr);
		} else {
			struct pb param = {0};

			pb_parameter(&param, it, depth);
			pb_msg(&item, 1, &param);
		}
		pb_msg(p, field, &item);
	}
}

static void
pb_strings(struct pb *p, int field, const cJSON *list)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, list)
	{
		if (cJSON_IsString(it))
			pb_string(p, field, it->valuestring);
	}
}

static void
pb_operation(struct pb *p, int field, const cJSON *op, int depth)
{
	struct pb o = {0};
	const cJSON *resp = cJSON_GetObjectItemCaseSensitive(op, "responses");
	const cJSON *it;

	pb_strings(&o, 1, cJSON_GetObjectItemCaseSensitive(op, "tags"));
	pb_json_string(&o, 3, op, "description");
	pb_json_string(&o, 5, op, "operationId");
	pb_strings(&o, 6, cJSON_GetObjectItemCaseSensitive(op, "produces"));
	pb_strings(&o, 7, cJSON_GetObjectItemCaseSensitive(op, "consumes"));
	pb_parameters(
	    &o, 8, cJSON_GetObjectItemCaseSensitive(op, "parameters"), depth);
	if (cJSON_IsObject(resp)) {
		struct pb rs = {0};

		cJSON_ArrayForEach(it, resp)
		{
			struct pb named = {0}, value = {0}, r = {0};
			const cJSON *sch =
			    cJSON_GetObjectItemCaseSensitive(it, "schema");

			pb_json_string(&r, 1, it, "description");
			if (cJSON_IsObject(sch)) {
				struct pb si = {0};

				pb_schema_field(&si, 1, sch, depth);
				pb_msg(&r, 2, &si);
			}
			pb_msg(&value, 1, &r);
			pb_string(&named, 1, it->string);
			pb_msg(&named, 2, &value);
			pb_msg(&rs, 1, &named);
		}
		pb_msg(&o, 9, &rs);
	}
	pb_strings(&o, 10, cJSON_GetObjectItemCaseSensitive(op, "schemes"));
	pb_vendor(&o, 13, op);
	pb_msg(p, field, &o);
}

int
openapipb_encode(const cJSON *swagger, unsigned char **ret, size_t *ret_len)
{
	static const char *const verbs[] = {
	    "get", "put", "post", "delete", "options", "head", "patch"};
	struct pb doc = {0}, sub = {0};
	const cJSON *info = cJSON_GetObjectItemCaseSensitive(swagger, "info");
	const cJSON *it;

	pb_json_string(&doc, 1, swagger, "swagger");
	pb_json_string(&sub, 1, info, "title");
	pb_json_string(&sub, 2, info, "version");
	pb_msg(&doc, 2, &sub);
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(swagger, "paths"))
	{
		struct pb named = {0}, item = {0};

		for (int v = 0; v < 7; v++) {
			const cJSON *op =
			    cJSON_GetObjectItemCaseSensitive(it, verbs[v]);

			if (cJSON_IsObject(op))
				pb_operation(&item, 2 + v, op, 0);
		}
		pb_parameters(&item, 9,
		    cJSON_GetObjectItemCaseSensitive(it, "parameters"), 0);
		pb_vendor(&item, 10, it);
		pb_string(&named, 1, it->string);
		pb_msg(&named, 2, &item);
		pb_msg(&sub, 2, &named);
	}
	pb_msg(&doc, 8, &sub);
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(swagger, "definitions"))
	{
		struct pb named = {0};

		pb_string(&named, 1, it->string);
		pb_schema_field(&named, 2, it, 0);
		pb_msg(&sub, 1, &named);
	}
	pb_msg(&doc, 9, &sub);
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(swagger, "parameters"))
	{
		struct pb named = {0}, param = {0};

		pb_parameter(&param, it, 0);
		pb_string(&named, 1, it->string);
		pb_msg(&named, 2, &param);
		pb_msg(&sub, 1, &named);
	}
	pb_msg(&doc, 10, &sub);
	if (doc.err != 0) {
		free(doc.buf);
		return doc.err;
	}
	*ret = doc.buf;
	*ret_len = doc.len;
	return 0;
}
