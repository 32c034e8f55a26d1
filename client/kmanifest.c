/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmanifest: telepod-server's objects from the YAML files of
 * packaging/kubernetes/ (compiled in as client/kmanifest-data.c) made ready to
 * apply. The YAML reader walks libyaml's events into cJSON with hard limits
 * (size, depth, scalar length) and the scalar typing of the Kubernetes decoder,
 * so that what `kubectl apply -f packaging/kubernetes/` would send and what
 * `telepod connect` sends are the same objects.
 */
#include "client/kmanifest.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

struct kp {
	yaml_parser_t parser;
	char *err;
	size_t errlen;
	int depth;
};

static int kp_fail(struct kp *k, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
kp_fail(struct kp *k, size_t line, const char *fmt, ...)
{
	char msg[KMANIFEST_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(k->err, k->errlen, "line %zu: %s", line + 1, msg);
	return -EINVAL;
}

static int
kp_next(struct kp *k, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&k->parser, ev))
		return kp_fail(k, k->parser.problem_mark.line, "%s",
		    k->parser.problem ? k->parser.problem : "invalid YAML");
	return 0;
}

static bool
kp_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* go-yaml v2's float syntax:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool
kp_is_float(const char *s)
{
	const char *p = s;
	bool digits = false;

	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		if (!digits && !isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

/* An integer as Go's strconv.ParseInt(s, 0, 64) after removing '_'. */
static bool
kp_int(const char *in, double *ret)
{
	char buf[80], *end;
	size_t n = 0;
	long long v;
	const char *p;
	bool neg = false;

	for (p = in; *p != '\0'; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	p = buf;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		v = strtoll(p + 2, &end, 2);
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		v = strtoll(p + 2, &end, 8);
	else if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		v = strtoll(p + 2, &end, 16);
	else
		v = strtoll(p, &end, p[0] == '0' ? 8 : 10);
	if (errno != 0 || *end != '\0' || end == p || v < 0)
		return false;
	*ret = neg ? -(double)v : (double)v;
	return true;
}

static cJSON *
kp_scalar(const yaml_event_t *ev)
{
	static const char *const nulls[] = {
	    "", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"y", "Y", "yes", "Yes", "YES",
	    "true", "True", "TRUE", "on", "On", "ON", NULL};
	static const char *const falses[] = {"n", "N", "no", "No", "NO",
	    "false", "False", "FALSE", "off", "Off", "OFF", NULL};
	const char *s = (const char *)ev->data.scalar.value;
	double d;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    ev->data.scalar.tag != NULL)
		return cJSON_CreateString(s);
	if (kp_in(s, nulls))
		return cJSON_CreateNull();
	if (kp_in(s, trues))
		return cJSON_CreateTrue();
	if (kp_in(s, falses))
		return cJSON_CreateFalse();
	if (kp_int(s, &d))
		return cJSON_CreateNumber(d);
	if (kp_is_float(s))
		return cJSON_CreateNumber(strtod(s, NULL));
	return cJSON_CreateString(s);
}

static int kp_node(struct kp *k, yaml_event_t *ev, cJSON **ret);

static int
kp_mapping(struct kp *k, cJSON **ret)
{
	cJSON *obj = cJSON_CreateObject();
	yaml_event_t kev, vev;
	int r;

	if (obj == NULL)
		return -ENOMEM;
	for (;;) {
		cJSON *child = NULL;

		if ((r = kp_next(k, &kev)) < 0)
			goto fail;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			r = kp_fail(k, kev.start_mark.line,
			    "a mapping key must be a string");
			yaml_event_delete(&kev);
			goto fail;
		}
		if (cJSON_GetObjectItemCaseSensitive(
		        obj, (const char *)kev.data.scalar.value) != NULL) {
			r = kp_fail(k, kev.start_mark.line,
			    "duplicate key \"%.100s\"",
			    (const char *)kev.data.scalar.value);
			yaml_event_delete(&kev);
			goto fail;
		}
		if ((r = kp_next(k, &vev)) < 0) {
			yaml_event_delete(&kev);
			goto fail;
		}
		r = kp_node(k, &vev, &child);
		if (r < 0) {
			yaml_event_delete(&kev);
			goto fail;
		}
		if (!cJSON_AddItemToObject(
		        obj, (const char *)kev.data.scalar.value, child)) {
			cJSON_Delete(child);
			yaml_event_delete(&kev);
			r = -ENOMEM;
			goto fail;
		}
		yaml_event_delete(&kev);
	}
	*ret = obj;
	return 0;
fail:
	cJSON_Delete(obj);
	return r;
}

static int
kp_sequence(struct kp *k, cJSON **ret)
{
	cJSON *arr = cJSON_CreateArray();
	yaml_event_t ev;
	int r;

	if (arr == NULL)
		return -ENOMEM;
	for (;;) {
		cJSON *child = NULL;

		if ((r = kp_next(k, &ev)) < 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if ((r = kp_node(k, &ev, &child)) < 0)
			goto fail;
		if (!cJSON_AddItemToArray(arr, child)) {
			cJSON_Delete(child);
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = arr;
	return 0;
fail:
	cJSON_Delete(arr);
	return r;
}

/* Turns the node that starts with ev (consumed) into *ret. */
static int
kp_node(struct kp *k, yaml_event_t *ev, cJSON **ret)
{
	size_t line = ev->start_mark.line;
	int r;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > KMANIFEST_MAX_SCALAR) {
			yaml_event_delete(ev);
			return kp_fail(k, line, "a value is too long");
		}
		if (ev->data.scalar.tag != NULL &&
		    strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) !=
		        0) {
			yaml_event_delete(ev);
			return kp_fail(k, line, "tags are not supported");
		}
		*ret = kp_scalar(ev);
		yaml_event_delete(ev);
		return *ret ? 0 : -ENOMEM;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		bool tagged = map ? ev->data.mapping_start.tag != NULL
		                  : ev->data.sequence_start.tag != NULL;

		yaml_event_delete(ev);
		if (tagged)
			return kp_fail(k, line, "tags are not supported");
		if (++k->depth > KMANIFEST_MAX_DEPTH)
			return kp_fail(k, line, "nested too deeply");
		r = map ? kp_mapping(k, ret) : kp_sequence(k, ret);
		k->depth--;
		return r;
	}
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return kp_fail(k, line, "aliases are not supported");
	default:
		yaml_event_delete(ev);
		return kp_fail(k, line, "unexpected YAML event");
	}
}

int
kmanifest_yaml_parse(
    const char *buf, size_t len, cJSON **ret, char *err, size_t errlen)
{
	struct kp k = {.err = err, .errlen = errlen};
	yaml_event_t ev;
	cJSON *doc = NULL;
	int r;

	if (len > KMANIFEST_MAX_YAML) {
		snprintf(err, errlen, "the YAML is larger than %u bytes",
		    KMANIFEST_MAX_YAML);
		return -EMSGSIZE;
	}
	if (!yaml_parser_initialize(&k.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(
	    &k.parser, (const unsigned char *)buf, len);
	if ((r = kp_next(&k, &ev)) < 0)
		goto out;
	if (ev.type != YAML_STREAM_START_EVENT) {
		yaml_event_delete(&ev);
		r = kp_fail(&k, 0, "not a YAML stream");
		goto out;
	}
	yaml_event_delete(&ev);
	if ((r = kp_next(&k, &ev)) < 0)
		goto out;
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		r = kp_fail(&k, 0, "no YAML document");
		goto out;
	}
	yaml_event_delete(&ev);
	if ((r = kp_next(&k, &ev)) < 0)
		goto out;
	if (ev.type != YAML_MAPPING_START_EVENT) {
		r = kp_fail(
		    &k, ev.start_mark.line, "the document is not a mapping");
		yaml_event_delete(&ev);
		goto out;
	}
	if ((r = kp_node(&k, &ev, &doc)) < 0)
		goto out;
	if ((r = kp_next(&k, &ev)) < 0)
		goto out;
	yaml_event_delete(&ev); /* DOCUMENT_END */
	if ((r = kp_next(&k, &ev)) < 0)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		r = kp_fail(
		    &k, ev.start_mark.line, "more than one YAML document");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	*ret = doc;
	doc = NULL;
	r = 0;
out:
	cJSON_Delete(doc);
	yaml_parser_delete(&k.parser);
	return r;
}

/* ---------------------------------------------------------------------- */
/* building the objects */

void
kmanifest_wipe(cJSON *j)
{
	if (j == NULL)
		return;
	if (j->string != NULL)
		OPENSSL_cleanse(j->string, strlen(j->string));
	if (cJSON_IsString(j) && j->valuestring != NULL)
		OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
	for (cJSON *c = j->child; c != NULL; c = c->next)
		kmanifest_wipe(c);
}

static cJSON *
km_obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

	if (cJSON_IsObject(o))
		return o;
	if (o != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

static bool
km_set_str(cJSON *parent, const char *key, const char *value)
{
	cJSON *s = cJSON_CreateString(value);

	if (s == NULL || parent == NULL) {
		cJSON_Delete(s);
		return false;
	}
	if (cJSON_GetObjectItemCaseSensitive(parent, key) != NULL)
		return cJSON_ReplaceItemInObjectCaseSensitive(parent, key, s);
	return cJSON_AddItemToObject(parent, key, s);
}

static const char *
km_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *
kmanifest_hash_of(const cJSON *obj)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations");

	return km_str(a, KMANIFEST_ANN_HASH, NULL);
}

const char *
kmanifest_label_of(const cJSON *obj, const char *key)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");

	return km_str(l, key, NULL);
}

/* The first 16 bytes of SHA-256 over the parts, as hex. */
static void
km_hash(const char *const *parts, size_t n, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		for (size_t i = 0; i < n; i++) {
			/* Length-prefixed, so parts cannot run together. */
			size_t len = parts[i] ? strlen(parts[i]) : 0;

			EVP_DigestUpdate(ctx, &len, sizeof(len));
			if (len)
				EVP_DigestUpdate(ctx, parts[i], len);
		}
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *
km_b64(const char *s)
{
	size_t n = strlen(s), len = (n + 2) / 3 * 4 + 1;
	unsigned char *out = malloc(len);

	if (out != NULL)
		EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
	return (char *)out;
}

static int
km_secret(cJSON *obj, const struct kmanifest_params *p)
{
	const char *keys[] = {"ca.crt", "server.crt", "server.key"};
	const char *vals[] = {p->ca_crt, p->server_crt, p->server_key};
	cJSON *data;

	cJSON_DeleteItemFromObjectCaseSensitive(obj, "data");
	data = cJSON_AddObjectToObject(obj, "data");
	if (data == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < 3; i++) {
		char *b;
		bool ok;

		if (vals[i] == NULL)
			continue;
		b = km_b64(vals[i]);
		if (b == NULL)
			return -ENOMEM;
		ok = cJSON_AddStringToObject(data, keys[i], b) != NULL;
		OPENSSL_cleanse(b, strlen(b));
		free(b);
		if (!ok)
			return -ENOMEM;
	}
	return 0;
}

static int
km_deployment(
    cJSON *obj, const struct kmanifest_params *p, char *err, size_t errlen)
{
	cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "spec"), "template");
	cJSON *tmeta, *containers, *c;
	const char *parts[] = {p->ca_crt, p->server_crt, p->server_key};
	char tls[33];
	bool found = false;

	containers = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(tmpl, "spec"), "containers");
	if (!cJSON_IsObject(tmpl) || !cJSON_IsArray(containers)) {
		snprintf(err, errlen,
		    "deployment.yaml has no spec.template.spec.containers");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, containers)
	{
		const char *name = km_str(c, "name", NULL);

		if (name == NULL || strcmp(name, "telepod-server") != 0)
			continue;
		found = true;
		if (p->image != NULL && !km_set_str(c, "image", p->image))
			return -ENOMEM;
	}
	if (!found) {
		snprintf(err, errlen,
		    "deployment.yaml has no container named telepod-server");
		return -EINVAL;
	}
	tmeta = km_obj(tmpl, "metadata");
	if (p->version != NULL && !km_set_str(km_obj(tmeta, "labels"),
	                              KMANIFEST_LABEL_VERSION, p->version))
		return -ENOMEM;
	km_hash(parts, 3, tls);
	if (!km_set_str(
	        km_obj(tmeta, "annotations"), KMANIFEST_ANN_TLS_HASH, tls))
		return -ENOMEM;
	return 0;
}

static int
km_one(const struct kmanifest_file *f, const struct kmanifest_params *p,
    cJSON **ret, char *err, size_t errlen)
{
	char perr[KMANIFEST_ERR_MAX], hash[33], *text = NULL;
	cJSON *obj = NULL, *meta;
	const char *kind;
	int r;

	r = kmanifest_yaml_parse(
	    f->yaml, strlen(f->yaml), &obj, perr, sizeof(perr));
	if (r < 0) {
		snprintf(
		    err, errlen, "packaging/kubernetes/%s: %s", f->name, perr);
		return r;
	}
	kind = km_str(obj, "kind", NULL);
	meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (kind == NULL || km_str(obj, "apiVersion", NULL) == NULL ||
	    km_str(meta, "name", NULL) == NULL) {
		snprintf(err, errlen,
		    "packaging/kubernetes/%s: no apiVersion, kind or metadata.name",
		    f->name);
		r = -EINVAL;
		goto out;
	}
	r = -ENOMEM;
	if (!km_set_str(meta, "namespace", p->ns) ||
	    (p->version != NULL && !km_set_str(km_obj(meta, "labels"),
	                               KMANIFEST_LABEL_VERSION, p->version)))
		goto out;
	if (strcmp(kind, "Secret") == 0)
		r = km_secret(obj, p);
	else if (strcmp(kind, "Deployment") == 0)
		r = km_deployment(obj, p, err, errlen);
	else
		r = 0;
	if (r < 0)
		goto out;
	/* The hash covers everything we send but the hash itself. */
	text = cJSON_PrintUnformatted(obj);
	if (text == NULL) {
		r = -ENOMEM;
		goto out;
	}
	km_hash((const char *const[]){text}, 1, hash);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (!km_set_str(
	        km_obj(meta, "annotations"), KMANIFEST_ANN_HASH, hash)) {
		r = -ENOMEM;
		goto out;
	}
	*ret = obj;
	obj = NULL;
	r = 0;
out:
	if (obj != NULL) {
		kmanifest_wipe(obj);
		cJSON_Delete(obj);
	}
	return r;
}

int
kmanifest_build(
    const struct kmanifest_params *p, cJSON **ret, char *err, size_t errlen)
{
	cJSON *arr = cJSON_CreateArray();
	int r = 0;

	if (arr == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < kmanifest_n_files; i++) {
		cJSON *obj = NULL;

		r = km_one(&kmanifest_files[i], p, &obj, err, errlen);
		if (r < 0)
			break;
		cJSON_AddItemToArray(arr, obj);
	}
	if (r < 0) {
		kmanifest_wipe(arr);
		cJSON_Delete(arr);
		return r;
	}
	*ret = arr;
	return 0;
}
