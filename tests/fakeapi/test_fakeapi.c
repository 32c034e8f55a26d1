/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the fake API server's modules: the OpenAPI validator
 * against the real example objects and mutations of them, the store
 * (resourceVersions, generation, selectors, watch replay and 410), the
 * patch and server-side apply logic, and the WebSocket codec. Exits 77
 * (skip) when the shared Kubernetes data folder is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fakeapi/apply.h"
#include "tests/fakeapi/discovery.h"
#include "tests/fakeapi/schema.h"
#include "tests/fakeapi/store.h"
#include "tests/fakeapi/ws.h"
#include "tests/unit/cunit_main.h"

#ifndef FAKEAPI_K8S_DIR
#define FAKEAPI_K8S_DIR "../shared/k8s"
#endif

static struct schema_set *schemas;

static const char *
k8s_dir(void)
{
	const char *d = getenv("FAKEAPI_K8S_DIR");

	return d != NULL && d[0] != '\0' ? d : FAKEAPI_K8S_DIR;
}

static cJSON *
load_example(const char *name)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;
	cJSON *obj;

	snprintf(path, sizeof(path), "%s/examples/json/%s", k8s_dir(), name);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	obj = cJSON_Parse(buf);
	free(buf);
	return obj;
}

struct example {
	const char *file;
	enum discovery_doc doc;
	const char *def;
	size_t unknown; /* fields newer than the schema document */
};

/* Every example validates: no type errors, nothing required is missing.
 * Unknown fields appear only where the example (kubernetes/api HEAD) is
 * newer than the 1.27 v3 documents, exactly as a 1.27 server would
 * report them under fieldValidation=Strict. */
static void
test_examples(void)
{
	static const struct example ex[] = {
	    {"core.v1.Namespace.json", DISCOVERY_DOC_CORE,
	        "io.k8s.api.core.v1.Namespace", 0},
	    {"core.v1.ConfigMap.json", DISCOVERY_DOC_CORE,
	        "io.k8s.api.core.v1.ConfigMap", 0},
	    {"core.v1.Secret.json", DISCOVERY_DOC_CORE,
	        "io.k8s.api.core.v1.Secret", 0},
	    {"core.v1.ServiceAccount.json", DISCOVERY_DOC_CORE,
	        "io.k8s.api.core.v1.ServiceAccount", 0},
	    {"core.v1.Service.json", DISCOVERY_DOC_CORE,
	        "io.k8s.api.core.v1.Service", 2},
	    {"core.v1.Pod.json", DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.Pod",
	        SIZE_MAX},
	    {"core.v1.Status.json", DISCOVERY_DOC_CORE,
	        "io.k8s.apimachinery.pkg.apis.meta.v1.Status", 1},
	    {"core.v1.WatchEvent.json", DISCOVERY_DOC_CORE,
	        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent", 0},
	    {"apps.v1.Deployment.json", DISCOVERY_DOC_APPS,
	        "io.k8s.api.apps.v1.Deployment", SIZE_MAX},
	    {"batch.v1.Job.json", DISCOVERY_DOC_BATCH,
	        "io.k8s.api.batch.v1.Job", SIZE_MAX},
	    {"rbac.authorization.k8s.io.v1.Role.json", DISCOVERY_DOC_V2,
	        "io.k8s.api.rbac.v1.Role", 0},
	    {"rbac.authorization.k8s.io.v1.RoleBinding.json", DISCOVERY_DOC_V2,
	        "io.k8s.api.rbac.v1.RoleBinding", 0},
	    {"rbac.authorization.k8s.io.v1.ClusterRole.json", DISCOVERY_DOC_V2,
	        "io.k8s.api.rbac.v1.ClusterRole", 0},
	    {"rbac.authorization.k8s.io.v1.ClusterRoleBinding.json",
	        DISCOVERY_DOC_V2, "io.k8s.api.rbac.v1.ClusterRoleBinding", 0},
	};
	struct schema_report *rep = malloc(sizeof(*rep));

	CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		cJSON *obj = load_example(ex[i].file);
		size_t unknown;

		CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
		CU_ASSERT_EQUAL(
		    schema_validate(schemas, ex[i].doc, ex[i].def, obj, rep),
		    0);
		CU_ASSERT_EQUAL(schema_count(rep, SCHEMA_TYPE), 0);
		CU_ASSERT_EQUAL(schema_count(rep, SCHEMA_REQUIRED), 0);
		CU_ASSERT_EQUAL(schema_count(rep, SCHEMA_DUPLICATE), 0);
		unknown = schema_count(rep, SCHEMA_UNKNOWN);
		if (ex[i].unknown == SIZE_MAX) {
			CU_ASSERT(unknown > 0);
		} else {
			CU_ASSERT_EQUAL(unknown, ex[i].unknown);
		}
		if (schema_count(rep, SCHEMA_TYPE) != 0 ||
		    (ex[i].unknown != SIZE_MAX && unknown != ex[i].unknown))
			for (size_t j = 0; j < rep->n; j++)
				fprintf(stderr, "%s: %d %s\n", ex[i].file,
				    rep->issues[j].kind, rep->issues[j].path);
		cJSON_Delete(obj);
	}
	/* The fields the 1.27 documents lack are the ones named. */
	{
		cJSON *svc = load_example("core.v1.Service.json");
		bool td = false, ipm = false;

		schema_validate(schemas, DISCOVERY_DOC_CORE,
		    "io.k8s.api.core.v1.Service", svc, rep);
		for (size_t j = 0; j < rep->n; j++) {
			td = td || strcmp(rep->issues[j].path,
			               "spec.trafficDistribution") == 0;
			ipm = ipm ||
			      strcmp(rep->issues[j].path,
			          "status.loadBalancer.ingress[0].ipMode") == 0;
		}
		CU_ASSERT_TRUE(td);
		CU_ASSERT_TRUE(ipm);
		cJSON_Delete(svc);
	}
	free(rep);
}

static const struct schema_issue *
find_issue(
    const struct schema_report *rep, enum schema_issue_kind k, const char *path)
{
	for (size_t i = 0; i < rep->n; i++)
		if (rep->issues[i].kind == k &&
		    strcmp(rep->issues[i].path, path) == 0)
			return &rep->issues[i];
	return NULL;
}

static void
validate_text(enum discovery_doc doc, const char *def, const char *text,
    struct schema_report *rep)
{
	cJSON *obj = cJSON_Parse(text);

	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(schema_validate(schemas, doc, def, obj, rep), 0);
	cJSON_Delete(obj);
}

static void
test_mutations(void)
{
	struct schema_report *rep = malloc(sizeof(*rep));
	const struct schema_issue *is;
	const char *dep = "io.k8s.api.apps.v1.Deployment";

	CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
	/* A number where a string goes: Go's decoder message parts. */
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.ConfigMap",
	    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":5}}",
	    rep);
	is = find_issue(rep, SCHEMA_TYPE, "data.k");
	CU_ASSERT_PTR_NOT_NULL_FATAL(is);
	CU_ASSERT_STRING_EQUAL(is->expected, "string");
	CU_ASSERT_STRING_EQUAL(is->got, "number 5");
	CU_ASSERT_STRING_EQUAL(is->go_field, "ConfigMap.data");
	/* A string for an int32, and an int32 out of range. */
	validate_text(DISCOVERY_DOC_APPS, dep,
	    "{\"spec\":{\"replicas\":\"two\",\"minReadySeconds\":3000000000,\"selector\":{},\"template\":{}}}",
	    rep);
	is = find_issue(rep, SCHEMA_TYPE, "spec.replicas");
	CU_ASSERT_PTR_NOT_NULL_FATAL(is);
	CU_ASSERT_STRING_EQUAL(is->expected, "int32");
	CU_ASSERT_STRING_EQUAL(is->go_field, "DeploymentSpec.spec.replicas");
	CU_ASSERT_PTR_NOT_NULL(
	    find_issue(rep, SCHEMA_TYPE, "spec.minReadySeconds"));
	/* Missing required fields, down in a list. */
	validate_text(DISCOVERY_DOC_APPS, dep,
	    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}}}",
	    rep);
	CU_ASSERT_PTR_NOT_NULL(
	    find_issue(rep, SCHEMA_REQUIRED, "spec.selector"));
	CU_ASSERT_PTR_NOT_NULL(find_issue(
	    rep, SCHEMA_REQUIRED, "spec.template.spec.containers[0].name"));
	/* Unknown and duplicate fields, with their paths. */
	validate_text(DISCOVERY_DOC_APPS, dep,
	    "{\"spec\":{\"selector\":{},\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"imagee\":\"x\"}]}},\"replicas\":1,\"replicas\":2},\"bogus\":true}",
	    rep);
	CU_ASSERT_PTR_NOT_NULL(find_issue(
	    rep, SCHEMA_UNKNOWN, "spec.template.spec.containers[0].imagee"));
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_UNKNOWN, "bogus"));
	CU_ASSERT_PTR_NOT_NULL(
	    find_issue(rep, SCHEMA_DUPLICATE, "spec.replicas"));
	/* int-or-string takes both, but not a float or an object. */
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.ServicePort",
	    "{\"port\":80,\"targetPort\":\"http\"}", rep);
	CU_ASSERT_EQUAL(rep->n, 0);
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.ServicePort",
	    "{\"port\":80,\"targetPort\":8080}", rep);
	CU_ASSERT_EQUAL(rep->n, 0);
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.ServicePort",
	    "{\"port\":80,\"targetPort\":1.5}", rep);
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_TYPE, "targetPort"));
	/* byte fields must be base64; times must be RFC 3339; quantities
	 * are strings or numbers. */
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.Secret",
	    "{\"data\":{\"a\":\"not base64!\",\"b\":\"Ag==\"}}", rep);
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_TYPE, "data.a"));
	CU_ASSERT_PTR_NULL(find_issue(rep, SCHEMA_TYPE, "data.b"));
	validate_text(DISCOVERY_DOC_CORE, "io.k8s.api.core.v1.ConfigMap",
	    "{\"metadata\":{\"creationTimestamp\":\"yesterday\"}}", rep);
	CU_ASSERT_PTR_NOT_NULL(
	    find_issue(rep, SCHEMA_TYPE, "metadata.creationTimestamp"));
	validate_text(DISCOVERY_DOC_CORE,
	    "io.k8s.api.core.v1.ResourceRequirements",
	    "{\"limits\":{\"cpu\":\"500m\",\"memory\":1024},\"requests\":{\"cpu\":true}}",
	    rep);
	CU_ASSERT_EQUAL(rep->n, 1);
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_TYPE, "requests.cpu"));
	/* RBAC from the v2 document. */
	validate_text(DISCOVERY_DOC_V2, "io.k8s.api.rbac.v1.Role",
	    "{\"rules\":[{\"verbs\":\"get\"}]}", rep);
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_TYPE, "rules[0].verbs"));
	validate_text(DISCOVERY_DOC_V2, "io.k8s.api.rbac.v1.RoleBinding",
	    "{\"subjects\":[{\"kind\":\"User\"}]}", rep);
	CU_ASSERT_PTR_NOT_NULL(find_issue(rep, SCHEMA_REQUIRED, "roleRef"));
	CU_ASSERT_PTR_NOT_NULL(
	    find_issue(rep, SCHEMA_REQUIRED, "subjects[0].name"));
	CU_ASSERT_EQUAL(schema_validate(schemas, DISCOVERY_DOC_CORE,
	                    "io.k8s.api.core.v1.NoSuchThing", NULL, rep),
	    -ENOENT);
	free(rep);
}

/* Store ------------------------------------------------------------------ */

struct seen {
	int n;
	char types[64];
	uint64_t last_rv;
};

static void
seen_cb(const struct store_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n < 63)
		s->types[s->n] = "AMD"[ev->type];
	s->n++;
	s->last_rv = ev->rv;
}

static cJSON *
make_cm(const char *name, const char *app)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *m = cJSON_AddObjectToObject(o, "metadata");
	cJSON *l = cJSON_AddObjectToObject(m, "labels");

	cJSON_AddStringToObject(o, "kind", "ConfigMap");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddStringToObject(l, "app", app);
	cJSON_AddObjectToObject(o, "data");
	return o;
}

static const char *
meta(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "metadata"), k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
test_store(void)
{
	const struct discovery_resource *cm =
	    discovery_find("", "v1", "configmaps");
	const struct discovery_resource *dep =
	    discovery_find("apps", "v1", "deployments");
	struct store *s = store_new(4);
	struct store_watch *w = NULL;
	struct seen seen = {0};
	cJSON *o = NULL, *upd;
	uint64_t rv0;
	char rvbuf[32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NULL(store_new(0));
	rv0 = store_rv(s);
	CU_ASSERT_EQUAL(store_create(s, cm, "ns", make_cm("a", "x"), &o), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(strlen(meta(o, "uid")), 36);
	CU_ASSERT_PTR_NOT_NULL(meta(o, "creationTimestamp"));
	snprintf(rvbuf, sizeof(rvbuf), "%llu", (unsigned long long)rv0 + 1);
	CU_ASSERT_STRING_EQUAL(meta(o, "resourceVersion"), rvbuf);
	CU_ASSERT_STRING_EQUAL(meta(o, "namespace"), "ns");
	CU_ASSERT_EQUAL(
	    store_create(s, cm, "ns", make_cm("a", "x"), NULL), -EEXIST);
	CU_ASSERT_EQUAL(
	    store_create(s, cm, "other", make_cm("a", "x"), NULL), 0);
	/* A no-op update keeps the resourceVersion. */
	upd = cJSON_Duplicate(store_get(s, cm, "ns", "a"), true);
	CU_ASSERT_EQUAL(store_update(s, cm, "ns", "a", upd, &o), 0);
	CU_ASSERT_STRING_EQUAL(meta(o, "resourceVersion"), rvbuf);
	/* Watch from now: live events only. */
	CU_ASSERT_EQUAL(store_watch(s, cm, "ns", 0, seen_cb, &seen, &w), 0);
	upd = make_cm("a", "y");
	CU_ASSERT_EQUAL(store_update(s, cm, "ns", "a", upd, &o), 0);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_EQUAL(seen.types[0], 'M');
	CU_ASSERT_EQUAL(store_delete(s, cm, "other", "a", NULL), 0);
	CU_ASSERT_EQUAL(seen.n, 1); /* another namespace */
	CU_ASSERT_EQUAL(store_delete(s, cm, "ns", "a", NULL), 0);
	CU_ASSERT_EQUAL(store_delete(s, cm, "ns", "a", NULL), -ENOENT);
	CU_ASSERT_EQUAL(seen.n, 2);
	CU_ASSERT_EQUAL(seen.types[1], 'D');
	CU_ASSERT_EQUAL(seen.last_rv, store_rv(s));
	store_watch_cancel(s, w);
	/* Replay from a resourceVersion still in the history (4 events). */
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(
	    store_watch(s, cm, NULL, store_rv(s) - 2, seen_cb, &seen, &w), 0);
	CU_ASSERT_EQUAL(seen.n, 2);
	store_watch_cancel(s, w);
	/* Five writes into a history of four: the first is gone, so a
	 * watch from before it is too old; one more write drops the next. */
	CU_ASSERT_EQUAL(store_oldest_rv(s), rv0 + 2);
	CU_ASSERT_EQUAL(
	    store_watch(s, cm, NULL, rv0, seen_cb, &seen, &w), -ESTALE);
	CU_ASSERT_EQUAL(
	    store_watch(s, cm, NULL, rv0 + 1, seen_cb, &seen, &w), 0);
	store_watch_cancel(s, w);
	CU_ASSERT_EQUAL(store_create(s, cm, "ns", make_cm("b", "x"), NULL), 0);
	CU_ASSERT_EQUAL(store_oldest_rv(s), rv0 + 3);
	CU_ASSERT_EQUAL(
	    store_watch(s, cm, NULL, rv0 + 1, seen_cb, &seen, &w), -ESTALE);
	/* Generation moves with the spec, not with status or labels. */
	{
		cJSON *d = cJSON_Parse(
		    "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":1}}");
		cJSON *out = NULL;
		const cJSON *g;

		CU_ASSERT_EQUAL(store_create(s, dep, "ns", d, &out), 0);
		g = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(out, "metadata"), "generation");
		CU_ASSERT_EQUAL(g->valueint, 1);
		d = cJSON_Duplicate(out, true);
		cJSON_AddObjectToObject(d, "status");
		CU_ASSERT_EQUAL(store_update(s, dep, "ns", "d", d, &out), 0);
		g = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(out, "metadata"), "generation");
		CU_ASSERT_EQUAL(g->valueint, 1);
		d = cJSON_Duplicate(out, true);
		cJSON_ReplaceItemInObject(cJSON_GetObjectItem(d, "spec"),
		    "replicas", cJSON_CreateNumber(3));
		CU_ASSERT_EQUAL(store_update(s, dep, "ns", "d", d, &out), 0);
		g = cJSON_GetObjectItem(
		    cJSON_GetObjectItem(out, "metadata"), "generation");
		CU_ASSERT_EQUAL(g->valueint, 2);
	}
	store_free(s);
}

static void
test_selectors(void)
{
	struct store_selector *sel = NULL;
	char err[256];
	cJSON *a = make_cm("a", "web"), *b = make_cm("b", "db");

	cJSON_AddStringToObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(a, "metadata"), "labels"),
	    "tier", "front");
	CU_ASSERT_EQUAL(
	    store_selector_parse("app=web", NULL, &sel, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(store_selector_match(sel, a));
	CU_ASSERT_FALSE(store_selector_match(sel, b));
	store_selector_free(sel);
	CU_ASSERT_EQUAL(store_selector_parse("app in (db, cache),!tier", NULL,
	                    &sel, err, sizeof(err)),
	    0);
	CU_ASSERT_FALSE(store_selector_match(sel, a));
	CU_ASSERT_TRUE(store_selector_match(sel, b));
	store_selector_free(sel);
	CU_ASSERT_EQUAL(store_selector_parse("app notin (db),tier", NULL, &sel,
	                    err, sizeof(err)),
	    0);
	CU_ASSERT_TRUE(store_selector_match(sel, a));
	CU_ASSERT_FALSE(store_selector_match(sel, b));
	store_selector_free(sel);
	CU_ASSERT_EQUAL(store_selector_parse("app!=web", "metadata.name=b",
	                    &sel, err, sizeof(err)),
	    0);
	CU_ASSERT_FALSE(store_selector_match(sel, a));
	CU_ASSERT_TRUE(store_selector_match(sel, b));
	store_selector_free(sel);
	CU_ASSERT_EQUAL(
	    store_selector_parse(NULL, "spec.x=1", &sel, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "field label not supported: spec.x");
	CU_ASSERT_EQUAL(
	    store_selector_parse("app in web", NULL, &sel, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(
	    store_selector_parse("a b=c", NULL, &sel, err, sizeof(err)),
	    -EINVAL);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* Patches and apply -------------------------------------------------------- */

static void
test_patches(void)
{
	cJSON *t = cJSON_Parse("{\"a\":{\"b\":1,\"c\":2},\"l\":[1,2]}");
	cJSON *p = cJSON_Parse("{\"a\":{\"b\":null,\"d\":3},\"l\":[3]}");
	cJSON *want = cJSON_Parse("{\"a\":{\"c\":2,\"d\":3},\"l\":[3]}");
	char err[256];

	CU_ASSERT_EQUAL(apply_merge_patch(t, p), 0);
	CU_ASSERT_TRUE(cJSON_Compare(t, want, true));
	cJSON_Delete(p);
	cJSON_Delete(want);
	p = cJSON_Parse(
	    "[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":4},"
	    "{\"op\":\"replace\",\"path\":\"/a/c\",\"value\":\"x\"},"
	    "{\"op\":\"remove\",\"path\":\"/a/d\"},"
	    "{\"op\":\"test\",\"path\":\"/l/1\",\"value\":4}]");
	CU_ASSERT_EQUAL(apply_json_patch(&t, p, err, sizeof(err)), 0);
	want = cJSON_Parse("{\"a\":{\"c\":\"x\"},\"l\":[3,4]}");
	CU_ASSERT_TRUE(cJSON_Compare(t, want, true));
	cJSON_Delete(p);
	p = cJSON_Parse("[{\"op\":\"test\",\"path\":\"/l/0\",\"value\":9}]");
	CU_ASSERT_EQUAL(apply_json_patch(&t, p, err, sizeof(err)), -EINVAL);
	cJSON_Delete(p);
	p = cJSON_Parse(
	    "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":9}]");
	CU_ASSERT_EQUAL(apply_json_patch(&t, p, err, sizeof(err)), -EINVAL);
	cJSON_Delete(p);
	cJSON_Delete(want);
	cJSON_Delete(t);
}

static void
test_strategic(void)
{
	const struct discovery_resource *dep =
	    discovery_find("apps", "v1", "deployments");
	cJSON *t = cJSON_Parse(
	    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\"},{\"name\":\"b\",\"image\":\"2\"}]}}}}");
	cJSON *p = cJSON_Parse(
	    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"3\"},{\"name\":\"a\",\"$patch\":\"delete\"},{\"name\":\"c\",\"image\":\"4\"}]}}}}");
	cJSON *want = cJSON_Parse(
	    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"3\"},{\"name\":\"c\",\"image\":\"4\"}]}}}}");

	CU_ASSERT_EQUAL(apply_strategic_patch(schemas, dep, t, p), 0);
	CU_ASSERT_TRUE(cJSON_Compare(t, want, true));
	cJSON_Delete(t);
	cJSON_Delete(p);
	cJSON_Delete(want);
}

static const cJSON *
entry_of(const cJSON *obj, const char *manager)
{
	const cJSON *it;

	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItem(
	            cJSON_GetObjectItem(obj, "metadata"), "managedFields"))
	{
		if (strcmp(cJSON_GetObjectItem(it, "manager")->valuestring,
		        manager) == 0)
			return it;
	}
	return NULL;
}

static void
test_apply(void)
{
	const struct discovery_resource *dep =
	    discovery_find("apps", "v1", "deployments");
	struct apply_conflict conflicts[APPLY_MAX_CONFLICTS];
	size_t n = 0;
	cJSON *cfg1 = cJSON_Parse(
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"labels\":{\"a\":\"1\"}},\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}}}}");
	cJSON *cfg2 = cJSON_Parse(
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":3}}");
	cJSON *cfg3 = cJSON_Parse(
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}}}}");
	cJSON *live = NULL, *next = NULL;
	const cJSON *e, *f;

	CU_ASSERT_EQUAL(apply_server_side(schemas, dep, NULL, cfg1, "one",
	                    false, &live, conflicts, &n),
	    0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(live);
	e = entry_of(live, "one");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(e, "operation")->valuestring, "Apply");
	/* Containers are a map keyed by name in FieldsV1. */
	f = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(
	        cJSON_GetObjectItem(
	            cJSON_GetObjectItem(
	                cJSON_GetObjectItem(e, "fieldsV1"), "f:spec"),
	            "f:template"),
	        "f:spec"),
	    "f:containers");
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(f, "k:{\"name\":\"web\"}"));
	/* Another manager changing replicas conflicts... */
	CU_ASSERT_EQUAL(apply_server_side(schemas, dep, live, cfg2, "two",
	                    false, &next, conflicts, &n),
	    -EBUSY);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(conflicts[0].manager, "one");
	CU_ASSERT_STRING_EQUAL(conflicts[0].field, ".spec.replicas");
	/* ...unless forced, which moves the field to it. */
	CU_ASSERT_EQUAL(apply_server_side(schemas, dep, live, cfg2, "two", true,
	                    &next, conflicts, &n),
	    0);
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(next, "spec"), "replicas")
	        ->valueint,
	    3);
	cJSON_Delete(live);
	live = next;
	next = NULL;
	/* "one" drops the labels and replicas from its configuration: the
	 * label goes, replicas (now owned by "two") stays. */
	CU_ASSERT_EQUAL(apply_server_side(schemas, dep, live, cfg3, "one",
	                    false, &next, conflicts, &n),
	    0);
	CU_ASSERT_PTR_NULL(
	    cJSON_GetObjectItem(
	        cJSON_GetObjectItem(next, "metadata"), "labels") != NULL
	        ? cJSON_GetObjectItem(
	              cJSON_GetObjectItem(
	                  cJSON_GetObjectItem(next, "metadata"), "labels"),
	              "a")
	        : NULL);
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(next, "spec"), "replicas")
	        ->valueint,
	    3);
	/* An update by a third manager takes the field it changed. */
	{
		cJSON *upd = cJSON_Duplicate(next, true);

		cJSON_ReplaceItemInObject(cJSON_GetObjectItem(upd, "spec"),
		    "replicas", cJSON_CreateNumber(5));
		CU_ASSERT_EQUAL(apply_track_update(schemas, dep, next, upd,
		                    "kubectl-scale", ""),
		    0);
		CU_ASSERT_PTR_NOT_NULL(entry_of(upd, "kubectl-scale"));
		CU_ASSERT_PTR_NULL(entry_of(upd, "two"));
		cJSON_Delete(upd);
	}
	cJSON_Delete(live);
	cJSON_Delete(next);
	cJSON_Delete(cfg1);
	cJSON_Delete(cfg2);
	cJSON_Delete(cfg3);
}

/* WebSocket codec ---------------------------------------------------------- */

static void
test_ws(void)
{
	uint8_t hdr[WS_MAX_HEADER], mask[4] = {1, 2, 3, 4};
	struct ws_frame f;
	char accept[29];
	uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};
	size_t n;

	/* RFC 6455 section 1.3's example. */
	CU_ASSERT_EQUAL(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
	CU_ASSERT_STRING_EQUAL(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CU_ASSERT_EQUAL(ws_accept_key("short", accept), -EINVAL);
	/* 7-, 16- and 64-bit lengths round-trip, masked and not. */
	n = ws_write_header(hdr, true, WS_OP_BINARY, 5, mask);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT_EQUAL(ws_parse_header(hdr, n, &f), 6);
	CU_ASSERT_TRUE(f.fin && f.masked && f.len == 5);
	CU_ASSERT_EQUAL(ws_parse_header(hdr, n - 1, &f), 0);
	n = ws_write_header(hdr, false, WS_OP_TEXT, 300, NULL);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(ws_parse_header(hdr, n, &f), 4);
	CU_ASSERT_TRUE(!f.fin && !f.masked && f.len == 300);
	n = ws_write_header(hdr, true, WS_OP_BINARY, 70000, mask);
	CU_ASSERT_EQUAL(n, 14);
	CU_ASSERT_EQUAL(ws_parse_header(hdr, n, &f), 14);
	CU_ASSERT_EQUAL(f.len, 70000);
	/* Too big, non-minimal, reserved bits, fragmented control. */
	n = ws_write_header(hdr, true, WS_OP_BINARY, WS_MAX_FRAME + 1, NULL);
	CU_ASSERT_EQUAL(ws_parse_header(hdr, n, &f), -EMSGSIZE);
	hdr[0] = 0x82;
	hdr[1] = 126;
	hdr[2] = 0;
	hdr[3] = 5;
	CU_ASSERT_EQUAL(ws_parse_header(hdr, 4, &f), -EPROTO);
	hdr[0] = 0xc2;
	hdr[1] = 0;
	CU_ASSERT_EQUAL(ws_parse_header(hdr, 2, &f), -EPROTO);
	hdr[0] = 0x09; /* PING without FIN */
	CU_ASSERT_EQUAL(ws_parse_header(hdr, 2, &f), -EPROTO);
	hdr[0] = 0x83; /* reserved opcode */
	CU_ASSERT_EQUAL(ws_parse_header(hdr, 2, &f), -EPROTO);
	/* Masking is its own inverse, also from an offset. */
	ws_mask(data, 5, mask, 0);
	CU_ASSERT_NOT_EQUAL(data[0], 'h');
	ws_mask(data, 2, mask, 0);
	ws_mask(data + 2, 3, mask, 2);
	CU_ASSERT_EQUAL(memcmp(data, "hello", 5), 0);
}

static const struct cunit_test tests[] = {
    {"examples validate", test_examples},
    {"mutations rejected", test_mutations},
    {"store rv, generation, watch, 410", test_store},
    {"label and field selectors", test_selectors},
    {"merge and JSON patch", test_patches},
    {"strategic merge patch", test_strategic},
    {"server-side apply", test_apply},
    {"websocket codec", test_ws},
};

int
main(void)
{
	struct stat st;
	char err[512];
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/openapi", k8s_dir());
	if (stat(path, &st) != 0) {
		fprintf(stderr, "skip: no Kubernetes data at %s\n", k8s_dir());
		return 77;
	}
	if (schema_set_new(k8s_dir(), &schemas, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	r = cunit_run(
	    "fakeapi", NULL, NULL, tests, sizeof(tests) / sizeof(*tests));
	schema_set_free(schemas);
	return r;
}
