/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema: an OpenAPI (v3 components/schemas, v2 definitions) validator
 * over cJSON for the fake API server. It walks an object and its schema
 * together and records what the real server's decoder (type errors,
 * unknown and duplicate fields) and validation (required fields, enums)
 * would reject; the caller decides, by fieldValidation, what is an error
 * and what a warning.
 */
#include "tests/fakeapi/schema.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const schema_files[DISCOVERY_N_DOCS] = {
    "openapi/v3/api__v1_openapi.json",
    "openapi/v3/apis__apps__v1_openapi.json",
    "openapi/v3/apis__batch__v1_openapi.json",
    "openapi/v2/swagger.json",
};

#define SCHEMA_MAX_FILE (32 * 1024 * 1024)

struct schema_set {
	cJSON *docs[DISCOVERY_N_DOCS];
	const cJSON
	    *defs[DISCOVERY_N_DOCS]; /* components/schemas or definitions */
};

static cJSON *
schema_read(const char *path, char *err, size_t errlen, int *ret_err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;
	size_t n;
	cJSON *doc;

	if (f == NULL) {
		*ret_err = -errno;
		snprintf(
		    err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    size > SCHEMA_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		*ret_err = -EFBIG;
		snprintf(err, errlen, "cannot read %s: too large", path);
		return NULL;
	}
	buf = malloc((size_t)size + 1);
	if (buf == NULL) {
		fclose(f);
		*ret_err = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, (size_t)size, f);
	fclose(f);
	buf[n] = '\0';
	doc = cJSON_ParseWithLength(buf, n);
	free(buf);
	if (doc == NULL) {
		*ret_err = -EINVAL;
		snprintf(err, errlen, "cannot parse %s as JSON", path);
	}
	return doc;
}

int
schema_set_new(
    const char *k8s_dir, struct schema_set **ret, char *err, size_t errlen)
{
	struct schema_set *s = calloc(1, sizeof(*s));
	char path[4096];
	int r = 0;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < DISCOVERY_N_DOCS; i++) {
		snprintf(path, sizeof(path), "%s/%s", k8s_dir, schema_files[i]);
		s->docs[i] = schema_read(path, err, errlen, &r);
		if (s->docs[i] == NULL)
			goto fail;
		if (i == DISCOVERY_DOC_V2)
			s->defs[i] = cJSON_GetObjectItemCaseSensitive(
			    s->docs[i], "definitions");
		else
			s->defs[i] = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(
			        s->docs[i], "components"),
			    "schemas");
		if (!cJSON_IsObject(s->defs[i])) {
			snprintf(
			    err, errlen, "%s has no schema definitions", path);
			r = -EINVAL;
			goto fail;
		}
	}
	*ret = s;
	return 0;
fail:
	schema_set_free(s);
	return r;
}

void
schema_set_free(struct schema_set *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < DISCOVERY_N_DOCS; i++)
		cJSON_Delete(s->docs[i]);
	free(s);
}

const cJSON *
schema_definition(
    const struct schema_set *s, enum discovery_doc doc, const char *name)
{
	return schema_resolve(
	    s, doc, cJSON_GetObjectItemCaseSensitive(s->defs[doc], name));
}

/* The definition name a $ref points to, or NULL. */
static const char *
schema_ref_name(const cJSON *node)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
	const char *slash;

	if (!cJSON_IsString(ref))
		return NULL;
	slash = strrchr(ref->valuestring, '/');
	return slash != NULL ? slash + 1 : ref->valuestring;
}

/* Resolves node and reports the last definition name passed through. */
static const cJSON *
schema_resolve_named(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *node, const char **ret_name)
{
	for (int hops = 0; node != NULL && hops < 16; hops++) {
		const char *ref = schema_ref_name(node);
		const cJSON *all =
		    cJSON_GetObjectItemCaseSensitive(node, "allOf");

		if (ref != NULL) {
			if (ret_name != NULL)
				*ret_name = ref;
			node =
			    cJSON_GetObjectItemCaseSensitive(s->defs[doc], ref);
			continue;
		}
		if (cJSON_IsArray(all) && cJSON_GetArraySize(all) == 1 &&
		    cJSON_GetObjectItemCaseSensitive(node, "properties") ==
		        NULL) {
			node = cJSON_GetArrayItem(all, 0);
			continue;
		}
		return node;
	}
	return NULL;
}

const cJSON *
schema_resolve(
    const struct schema_set *s, enum discovery_doc doc, const cJSON *node)
{
	return schema_resolve_named(s, doc, node, NULL);
}

const cJSON *
schema_property(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *node, const char *key)
{
	const cJSON *props =
	    cJSON_GetObjectItemCaseSensitive(node, "properties");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(props, key);

	if (p == NULL) {
		p = cJSON_GetObjectItemCaseSensitive(
		    node, "additionalProperties");
		if (cJSON_IsBool(p))
			return NULL;
	}
	return schema_resolve(s, doc, p);
}

const cJSON *
schema_items(
    const struct schema_set *s, enum discovery_doc doc, const cJSON *node)
{
	return schema_resolve(
	    s, doc, cJSON_GetObjectItemCaseSensitive(node, "items"));
}

struct schema_walk {
	const struct schema_set *s;
	enum discovery_doc doc;
	struct schema_report *rep;
	char path[SCHEMA_MAX_PATH];    /* with indexes, for unknown fields */
	char gopath[SCHEMA_MAX_PATH];  /* without indexes or map keys */
	char pointer[SCHEMA_MAX_PATH]; /* RFC 6901 */
	const char *gostruct;          /* innermost struct type name */
};

static struct schema_issue *
schema_add(struct schema_walk *w, enum schema_issue_kind kind)
{
	struct schema_issue *is;

	if (w->rep->n == SCHEMA_MAX_ISSUES) {
		w->rep->truncated = true;
		return NULL;
	}
	is = &w->rep->issues[w->rep->n++];
	memset(is, 0, sizeof(*is));
	is->kind = kind;
	snprintf(is->path, sizeof(is->path), "%s", w->path);
	snprintf(is->pointer, sizeof(is->pointer), "%s", w->pointer);
	snprintf(is->go_field, sizeof(is->go_field), "%s.%s", w->gostruct,
	    w->gopath);
	return is;
}

static const char *
schema_json_type(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "null";
}

static bool
schema_is_int_or_string(const cJSON *sch)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(sch, "format");
	const cJSON *x =
	    cJSON_GetObjectItemCaseSensitive(sch, "x-kubernetes-int-or-string");

	return cJSON_IsTrue(x) ||
	       (cJSON_IsString(f) &&
	           strcmp(f->valuestring, "int-or-string") == 0);
}

/* Go's name of the type a schema decodes into, for error messages. */
static void
schema_go_type(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *sch, const char *defname, char *buf, size_t len)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(sch, "type");
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(sch, "format");
	const char *t = cJSON_IsString(type) ? type->valuestring : "";
	const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";

	if (strcmp(t, "string") == 0) {
		snprintf(buf, len, "%s",
		    strcmp(f, "byte") == 0 ? "[]uint8" : "string");
	} else if (strcmp(t, "integer") == 0) {
		snprintf(buf, len, "%s", f[0] != '\0' ? f : "int");
	} else if (strcmp(t, "number") == 0) {
		snprintf(buf, len, "float64");
	} else if (strcmp(t, "boolean") == 0) {
		snprintf(buf, len, "bool");
	} else if (strcmp(t, "array") == 0) {
		char inner[64];
		const char *iname = NULL;
		const cJSON *items = schema_resolve_named(s, doc,
		    cJSON_GetObjectItemCaseSensitive(sch, "items"), &iname);

		schema_go_type(s, doc, items, iname, inner, sizeof(inner));
		snprintf(buf, len, "[]%s", inner);
	} else if (cJSON_GetObjectItemCaseSensitive(sch, "properties") ==
	               NULL &&
	           cJSON_GetObjectItemCaseSensitive(
	               sch, "additionalProperties") != NULL) {
		char inner[64];
		const char *iname = NULL;
		const cJSON *ap = schema_resolve_named(s, doc,
		    cJSON_GetObjectItemCaseSensitive(
		        sch, "additionalProperties"),
		    &iname);

		schema_go_type(s, doc, ap, iname, inner, sizeof(inner));
		snprintf(buf, len, "map[string]%s", inner);
	} else if (defname != NULL) {
		/* io.k8s.api.core.v1.PodSpec -> v1.PodSpec */
		const char *last = strrchr(defname, '.');
		const char *prev = last;

		while (prev != NULL && prev > defname && prev[-1] != '.')
			prev--;
		snprintf(buf, len, "%s", prev != NULL ? prev : defname);
	} else {
		snprintf(buf, len, "%s",
		    strcmp(f, "int-or-string") == 0 ? "intstr.IntOrString"
		                                    : "object");
	}
}

static void
schema_type_error(struct schema_walk *w, const cJSON *sch, const char *defname,
    const cJSON *v)
{
	struct schema_issue *is = schema_add(w, SCHEMA_TYPE);

	if (is == NULL)
		return;
	schema_go_type(
	    w->s, w->doc, sch, defname, is->expected, sizeof(is->expected));
	if (cJSON_IsNumber(v))
		snprintf(
		    is->got, sizeof(is->got), "number %.17g", v->valuedouble);
	else
		snprintf(is->got, sizeof(is->got), "%s", schema_json_type(v));
}

static bool
schema_valid_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			pad++;
			if (i < n - 2)
				return false;
			continue;
		}
		if (pad > 0)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

/* RFC 3339 as Go's time.Time.UnmarshalJSON accepts it. */
static bool
schema_valid_time(const char *s)
{
	int y, mo, d, h, mi, se, n = 0;
	const char *p;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se,
	        &n) != 6 ||
	    n != 19)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return false;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':')
		return true;
	return false;
}

static void schema_walk_value(struct schema_walk *w, const cJSON *sch,
    const char *defname, const cJSON *v, int depth);

/* Appends a segment to the paths; *m keeps the lengths to restore. */
struct schema_mark {
	size_t p, g, o;
};

static void
schema_push(
    struct schema_walk *w, const char *seg, bool gofield, struct schema_mark *m)
{
	size_t pl = strlen(w->path), gl = strlen(w->gopath);
	size_t ol = strlen(w->pointer);

	m->p = pl;
	m->g = gl;
	m->o = ol;
	if (seg[0] == '[')
		snprintf(w->path + pl, sizeof(w->path) - pl, "%s", seg);
	else
		snprintf(w->path + pl, sizeof(w->path) - pl, "%s%s",
		    pl > 0 ? "." : "", seg);
	if (gofield)
		snprintf(w->gopath + gl, sizeof(w->gopath) - gl, "%s%s",
		    gl > 0 ? "." : "", seg);
	/* RFC 6901 escaping: ~ as ~0, / as ~1. */
	if (ol + 1 < sizeof(w->pointer))
		w->pointer[ol++] = '/';
	for (const char *c = seg; *c != '\0' && ol + 3 < sizeof(w->pointer);
	     c++) {
		if (*c == '~') {
			w->pointer[ol++] = '~';
			w->pointer[ol++] = '0';
		} else if (*c == '/') {
			w->pointer[ol++] = '~';
			w->pointer[ol++] = '1';
		} else {
			w->pointer[ol++] = *c;
		}
	}
	w->pointer[ol] = '\0';
}

static void
schema_pop(struct schema_walk *w, const struct schema_mark *m)
{
	w->path[m->p] = '\0';
	w->pointer[m->o] = '\0';
	w->gopath[m->g] = '\0';
}

static void
schema_walk_object(struct schema_walk *w, const cJSON *sch, const char *defname,
    const cJSON *v, int depth)
{
	const cJSON *props =
	    cJSON_GetObjectItemCaseSensitive(sch, "properties");
	const cJSON *ap =
	    cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
	const cJSON *it;
	const char *saved_struct = w->gostruct;
	bool is_struct = props != NULL;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	        sch, "x-kubernetes-preserve-unknown-fields")))
		return;
	if (props == NULL && ap == NULL)
		return; /* RawExtension and friends: any object */
	if (is_struct && defname != NULL) {
		const char *dot = strrchr(defname, '.');

		w->gostruct = dot != NULL ? dot + 1 : defname;
	}
	cJSON_ArrayForEach(it, req)
	{
		if (cJSON_IsString(it) && cJSON_GetObjectItemCaseSensitive(
		                              v, it->valuestring) == NULL) {
			struct schema_mark mk;

			schema_push(w, it->valuestring, true, &mk);
			schema_add(w, SCHEMA_REQUIRED);
			schema_pop(w, &mk);
		}
	}
	/* Duplicate keys: cJSON keeps both; the strict decoder reports
	 * them. */
	cJSON_ArrayForEach(it, v)
	{
		for (const cJSON *o = v->child; o != it; o = o->next) {
			if (strcmp(o->string, it->string) == 0) {
				struct schema_mark mk;

				schema_push(w, it->string, true, &mk);
				schema_add(w, SCHEMA_DUPLICATE);
				schema_pop(w, &mk);
				break;
			}
		}
	}
	cJSON_ArrayForEach(it, v)
	{
		const cJSON *psch = NULL;
		const char *pname = NULL;
		struct schema_mark mk;

		if (props != NULL) {
			const cJSON *raw =
			    cJSON_GetObjectItemCaseSensitive(props, it->string);

			if (raw != NULL)
				psch = schema_resolve_named(
				    w->s, w->doc, raw, &pname);
		}
		if (psch == NULL && ap != NULL && !cJSON_IsBool(ap)) {
			psch = schema_resolve_named(w->s, w->doc, ap, &pname);
			/* A map value: Go names the map field, not the key. */
			schema_push(w, it->string, false, &mk);
			schema_walk_value(w, psch, pname, it, depth + 1);
			schema_pop(w, &mk);
			continue;
		}
		schema_push(w, it->string, true, &mk);
		if (psch == NULL) {
			if (!(cJSON_IsTrue(ap)))
				schema_add(w, SCHEMA_UNKNOWN);
		} else {
			schema_walk_value(w, psch, pname, it, depth + 1);
		}
		schema_pop(w, &mk);
	}
	w->gostruct = saved_struct;
}

static void
schema_check_enum(struct schema_walk *w, const cJSON *sch, const cJSON *v)
{
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(sch, "enum");
	const cJSON *e;
	struct schema_issue *is;
	size_t off = 0;

	if (!cJSON_IsArray(en))
		return;
	cJSON_ArrayForEach(e, en)
	{
		if (cJSON_Compare(e, v, true))
			return;
	}
	is = schema_add(w, SCHEMA_ENUM);
	if (is == NULL)
		return;
	if (cJSON_IsString(v))
		snprintf(is->value, sizeof(is->value), "%s", v->valuestring);
	cJSON_ArrayForEach(e, en)
	{
		if (cJSON_IsString(e) && off < sizeof(is->supported))
			off += (size_t)snprintf(is->supported + off,
			    sizeof(is->supported) - off, "%s\"%s\"",
			    off > 0 ? ", " : "", e->valuestring);
	}
}

static void
schema_walk_value(struct schema_walk *w, const cJSON *sch, const char *defname,
    const cJSON *v, int depth)
{
	const cJSON *type, *fmt;
	const char *t, *f;

	if (sch == NULL || depth > SCHEMA_MAX_DEPTH)
		return;
	if (cJSON_IsNull(v))
		return; /* null decodes to the zero value */
	type = cJSON_GetObjectItemCaseSensitive(sch, "type");
	fmt = cJSON_GetObjectItemCaseSensitive(sch, "format");
	t = cJSON_IsString(type) ? type->valuestring : "";
	f = cJSON_IsString(fmt) ? fmt->valuestring : "";

	if (schema_is_int_or_string(sch)) {
		if (cJSON_IsString(v))
			return;
		if (cJSON_IsNumber(v) &&
		    v->valuedouble == floor(v->valuedouble) &&
		    v->valuedouble >= -2147483648.0 &&
		    v->valuedouble <= 2147483647.0)
			return;
		schema_type_error(w, sch, defname, v);
		return;
	}
	if (t[0] == '\0') {
		const cJSON *one =
		    cJSON_GetObjectItemCaseSensitive(sch, "oneOf");

		/* Quantity: a string or a number. */
		if (cJSON_IsArray(one)) {
			if (!cJSON_IsString(v) && !cJSON_IsNumber(v))
				schema_type_error(w, sch, defname, v);
			return;
		}
		if (cJSON_GetObjectItemCaseSensitive(sch, "properties") !=
		        NULL ||
		    cJSON_GetObjectItemCaseSensitive(
		        sch, "additionalProperties") != NULL)
			t = "object";
		else
			return; /* untyped: anything */
	}
	if (strcmp(t, "string") == 0) {
		if (!cJSON_IsString(v)) {
			schema_type_error(w, sch, defname, v);
			return;
		}
		if (strcmp(f, "byte") == 0 &&
		    !schema_valid_base64(v->valuestring)) {
			struct schema_issue *is = schema_add(w, SCHEMA_TYPE);

			if (is != NULL) {
				snprintf(is->expected, sizeof(is->expected),
				    "base64");
				snprintf(is->got, sizeof(is->got), "string");
			}
		}
		if (strcmp(f, "date-time") == 0 &&
		    !schema_valid_time(v->valuestring)) {
			struct schema_issue *is = schema_add(w, SCHEMA_TYPE);

			if (is != NULL) {
				snprintf(is->expected, sizeof(is->expected),
				    "RFC3339");
				snprintf(is->got, sizeof(is->got), "string");
			}
		}
		schema_check_enum(w, sch, v);
	} else if (strcmp(t, "integer") == 0) {
		double lo = -9223372036854775808.0, hi = 9223372036854775807.0;

		if (strcmp(f, "int32") == 0) {
			lo = -2147483648.0;
			hi = 2147483647.0;
		}
		if (!cJSON_IsNumber(v) ||
		    v->valuedouble != floor(v->valuedouble) ||
		    v->valuedouble < lo || v->valuedouble > hi)
			schema_type_error(w, sch, defname, v);
		else
			schema_check_enum(w, sch, v);
	} else if (strcmp(t, "number") == 0) {
		if (!cJSON_IsNumber(v))
			schema_type_error(w, sch, defname, v);
	} else if (strcmp(t, "boolean") == 0) {
		if (!cJSON_IsBool(v))
			schema_type_error(w, sch, defname, v);
	} else if (strcmp(t, "array") == 0) {
		const char *iname = NULL;
		const cJSON *items;
		const cJSON *it;
		int i = 0;

		if (!cJSON_IsArray(v)) {
			schema_type_error(w, sch, defname, v);
			return;
		}
		items = schema_resolve_named(w->s, w->doc,
		    cJSON_GetObjectItemCaseSensitive(sch, "items"), &iname);
		cJSON_ArrayForEach(it, v)
		{
			char seg[32];
			size_t pl = strlen(w->path);

			size_t ol = strlen(w->pointer);

			snprintf(seg, sizeof(seg), "[%d]", i);
			snprintf(w->path + pl, sizeof(w->path) - pl, "%s", seg);
			snprintf(w->pointer + ol, sizeof(w->pointer) - ol,
			    "/%d", i++);
			schema_walk_value(w, items, iname, it, depth + 1);
			w->path[pl] = '\0';
			w->pointer[ol] = '\0';
		}
	} else if (strcmp(t, "object") == 0) {
		if (!cJSON_IsObject(v)) {
			schema_type_error(w, sch, defname, v);
			return;
		}
		schema_walk_object(w, sch, defname, v, depth);
	}
}

int
schema_validate(const struct schema_set *s, enum discovery_doc doc,
    const char *def, const cJSON *obj, struct schema_report *rep)
{
	const cJSON *sch;
	struct schema_walk w;
	const char *dot = strrchr(def, '.');

	memset(rep, 0, sizeof(*rep));
	sch = schema_definition(s, doc, def);
	if (sch == NULL)
		return -ENOENT;
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.doc = doc;
	w.rep = rep;
	w.gostruct = dot != NULL ? dot + 1 : def;
	schema_walk_value(&w, sch, def, obj, 0);
	return 0;
}

size_t
schema_count(const struct schema_report *rep, enum schema_issue_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < rep->n; i++)
		if (rep->issues[i].kind == k)
			n++;
	return n;
}
