/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kconnect: the parts of the Kubernetes connect flow that need no
 * cluster. client/kmanifest: the YAML reader's scalar typing (the
 * Kubernetes decoder's YAML 1.1 rules) and its refusals, every manifest of
 * packaging/kubernetes/ parsed and built (order, namespace, labels, image,
 * the Secret's data, the hash annotations: stable, and changing only for
 * the objects whose content changed). client/kconnect: the service range
 * found in the API server's message, context names as directory names,
 * and which command lines take the Kubernetes path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "client/kconnect.h"
#include "client/kmanifest.h"
#include "tests/unit/cunit_main.h"

static cJSON *
parse(const char *yaml)
{
	char err[KMANIFEST_ERR_MAX];
	cJSON *j = NULL;

	if (kmanifest_yaml_parse(yaml, strlen(yaml), &j, err, sizeof(err)) != 0)
		fprintf(stderr, "parse: %s\n", err);
	return j;
}

static const cJSON *
at(const cJSON *j, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(j, key);
}

static void
test_yaml_scalars(void)
{
	cJSON *j = parse("a: 1\n"
	                 "b: \"1\"\n"
	                 "c: '0440'\n"
	                 "d: 0440\n"
	                 "e: 0x1F\n"
	                 "f: 1_000\n"
	                 "g: -3\n"
	                 "h: 2.5e3\n"
	                 "i: true\n"
	                 "j: yes\n"
	                 "k: Off\n"
	                 "l: ~\n"
	                 "m: null\n"
	                 "n:\n"
	                 "o: 50m\n"
	                 "p: 1.2.3\n"
	                 "q: !!str 12\n"
	                 "r: \"true\"\n"
	                 "s: [1, two, {x: z, w: n}]\n"
	                 "t: {}\n"
	                 "u: 08\n"
	                 "v: $(TELEPOD_NAMESPACE)\n");

	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT(cJSON_IsNumber(at(j, "a")) && at(j, "a")->valuedouble == 1);
	CU_ASSERT(cJSON_IsString(at(j, "b")));
	CU_ASSERT_STRING_EQUAL(at(j, "c")->valuestring, "0440");
	CU_ASSERT_EQUAL(at(j, "d")->valuedouble, 288); /* YAML 1.1 octal */
	CU_ASSERT_EQUAL(at(j, "e")->valuedouble, 31);
	CU_ASSERT_EQUAL(at(j, "f")->valuedouble, 1000);
	CU_ASSERT_EQUAL(at(j, "g")->valuedouble, -3);
	CU_ASSERT_EQUAL(at(j, "h")->valuedouble, 2500);
	CU_ASSERT(cJSON_IsTrue(at(j, "i")));
	CU_ASSERT(cJSON_IsTrue(at(j, "j")));
	CU_ASSERT(cJSON_IsFalse(at(j, "k")));
	CU_ASSERT(cJSON_IsNull(at(j, "l")));
	CU_ASSERT(cJSON_IsNull(at(j, "m")));
	CU_ASSERT(cJSON_IsNull(at(j, "n")));
	CU_ASSERT_STRING_EQUAL(at(j, "o")->valuestring, "50m");
	CU_ASSERT_STRING_EQUAL(at(j, "p")->valuestring, "1.2.3");
	CU_ASSERT_STRING_EQUAL(at(j, "q")->valuestring, "12");
	CU_ASSERT_STRING_EQUAL(at(j, "r")->valuestring, "true");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(at(j, "s")), 3);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetArrayItem(at(j, "s"), 1)->valuestring, "two");
	CU_ASSERT_STRING_EQUAL(
	    at(cJSON_GetArrayItem(at(j, "s"), 2), "x")->valuestring, "z");
	/* go-yaml v2: y/n are booleans too */
	CU_ASSERT(cJSON_IsFalse(at(cJSON_GetArrayItem(at(j, "s"), 2), "w")));
	CU_ASSERT(cJSON_IsObject(at(j, "t")));
	CU_ASSERT_EQUAL(at(j, "u")->valuedouble, 8); /* not octal: a float */
	CU_ASSERT_STRING_EQUAL(at(j, "v")->valuestring, "$(TELEPOD_NAMESPACE)");
	cJSON_Delete(j);
}

static void
test_yaml_refusals(void)
{
	static const char *const bad[] = {
	    "a: &x 1\nb: *x\n",  /* alias */
	    "a: 1\na: 2\n",      /* duplicate key */
	    "a: 1\n---\nb: 2\n", /* two documents */
	    "a: !custom 1\n",    /* tag */
	    "- 1\n- 2\n",        /* not a mapping */
	    "? [1]\n: x\n",      /* non-string key */
	    "a: [1, 2\n",        /* broken */
	    "a: b: c\n",         /* broken */
	    "just a string\n",
	};
	char err[KMANIFEST_ERR_MAX], deep[600];
	cJSON *j = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		j = NULL;
		CU_ASSERT_EQUAL(kmanifest_yaml_parse(bad[i], strlen(bad[i]), &j,
		                    err, sizeof(err)),
		    -EINVAL);
		CU_ASSERT_PTR_NULL(j);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "line "));
	}
	/* nesting beyond the limit */
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "a: ");
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	CU_ASSERT_EQUAL(
	    kmanifest_yaml_parse(deep, strlen(deep), &j, err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "deeply"));
	CU_ASSERT_EQUAL(kmanifest_yaml_parse("a: 1", KMANIFEST_MAX_YAML + 1, &j,
	                    err, sizeof(err)),
	    -EMSGSIZE);
}

static const struct kmanifest_params params = {
    .ns = "dev",
    .image = "example.org/telepod-server:1",
    .version = "9.9.9",
    .ca_crt = "CA PEM\n",
    .server_crt = "SERVER CRT\n",
    .server_key = "SERVER KEY\n",
};

static cJSON *
build(const struct kmanifest_params *p)
{
	char err[KMANIFEST_ERR_MAX];
	cJSON *objs = NULL;

	if (kmanifest_build(p, &objs, err, sizeof(err)) != 0)
		fprintf(stderr, "build: %s\n", err);
	return objs;
}

static const char *
str_at(const cJSON *j, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, "/", &save); t && j;
	     t = strtok_r(NULL, "/", &save)) {
		char *end;
		long i = strtol(t, &end, 10);

		j = cJSON_IsArray(j) && *end == '\0'
		        ? cJSON_GetArrayItem(j, (int)i)
		        : cJSON_GetObjectItemCaseSensitive(j, t);
	}
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static void
test_manifests(void)
{
	static const char *const kinds[] = {
	    "ServiceAccount", "Secret", "Deployment", "Service"};
	cJSON *objs = build(&params), *obj;
	const cJSON *c0, *data;
	char b64[64];
	int i = 0;

	CU_ASSERT_EQUAL(kmanifest_n_files, 4);
	CU_ASSERT_FATAL(objs != NULL);
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(objs), 4);
	cJSON_ArrayForEach(obj, objs)
	{
		CU_ASSERT_STRING_EQUAL(str_at(obj, "kind"), kinds[i]);
		CU_ASSERT_STRING_EQUAL(
		    str_at(obj, "metadata/namespace"), "dev");
		CU_ASSERT_STRING_EQUAL(
		    kmanifest_label_of(obj, KMANIFEST_LABEL_MANAGED_BY),
		    "telepod");
		CU_ASSERT_STRING_EQUAL(
		    kmanifest_label_of(obj, KMANIFEST_LABEL_VERSION), "9.9.9");
		CU_ASSERT_EQUAL(strlen(kmanifest_hash_of(obj)), 32);
		i++;
	}
	obj = cJSON_GetArrayItem(objs, 2);
	CU_ASSERT_STRING_EQUAL(str_at(obj, "metadata/name"), "telepod-server");
	c0 = at(at(at(at(obj, "spec"), "template"), "spec"), "containers");
	c0 = cJSON_GetArrayItem(c0, 0);
	CU_ASSERT_STRING_EQUAL(str_at(c0, "image"), params.image);
	CU_ASSERT(cJSON_IsTrue(
	    at(at(c0, "securityContext"), "readOnlyRootFilesystem")));
	CU_ASSERT(cJSON_IsFalse(
	    at(at(c0, "securityContext"), "allowPrivilegeEscalation")));
	CU_ASSERT_STRING_EQUAL(str_at(c0, "resources/limits/cpu"), "1");
	CU_ASSERT_STRING_EQUAL(str_at(c0, "resources/requests/cpu"), "50m");
	CU_ASSERT_EQUAL(
	    at(at(c0, "ports")->child, "containerPort")->valuedouble,
	    KMANIFEST_SERVER_PORT);
	CU_ASSERT_EQUAL(
	    at(at(cJSON_GetArrayItem(
	              at(at(at(at(obj, "spec"), "template"), "spec"),
	                  "volumes"),
	              0),
	           "secret"),
	        "defaultMode")
	        ->valuedouble,
	    288);
	CU_ASSERT_STRING_EQUAL(
	    at(at(at(at(at(obj, "spec"), "template"), "metadata"), "labels"),
	        KMANIFEST_LABEL_VERSION)
	        ->valuestring,
	    "9.9.9");
	CU_ASSERT_PTR_NOT_NULL(at(
	    at(at(at(at(obj, "spec"), "template"), "metadata"), "annotations"),
	    KMANIFEST_ANN_TLS_HASH));
	/* The selector matches the pods that kconnect looks for. */
	CU_ASSERT_STRING_EQUAL(
	    at(at(at(at(obj, "spec"), "selector"), "matchLabels"),
	        KMANIFEST_LABEL_NAME)
	        ->valuestring,
	    "telepod-server");
	/* The Secret holds exactly the three server-side files. */
	data = at(cJSON_GetArrayItem(objs, 1), "data");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(data), 3);
	EVP_EncodeBlock((unsigned char *)b64,
	    (const unsigned char *)params.server_key,
	    (int)strlen(params.server_key));
	CU_ASSERT_STRING_EQUAL(at(data, "server.key")->valuestring, b64);
	CU_ASSERT_PTR_NULL(at(data, "client.key"));
	CU_ASSERT_PTR_NULL(at(data, "ca.key"));
	kmanifest_wipe(objs);
	cJSON_Delete(objs);
}

static void
test_hashes(void)
{
	struct kmanifest_params p = params;
	cJSON *a = build(&p), *b = build(&p), *c, *d;
	char ha[4][33], hc[4][33], hd[4][33];

	CU_ASSERT_FATAL(a && b);
	p.image = "example.org/telepod-server:2";
	c = build(&p);
	p = params;
	p.server_crt = "ANOTHER CRT\n";
	d = build(&p);
	CU_ASSERT_FATAL(c && d);
	for (int i = 0; i < 4; i++) {
		snprintf(ha[i], 33, "%s",
		    kmanifest_hash_of(cJSON_GetArrayItem(a, i)));
		snprintf(hc[i], 33, "%s",
		    kmanifest_hash_of(cJSON_GetArrayItem(c, i)));
		snprintf(hd[i], 33, "%s",
		    kmanifest_hash_of(cJSON_GetArrayItem(d, i)));
		/* stable */
		CU_ASSERT_STRING_EQUAL(
		    ha[i], kmanifest_hash_of(cJSON_GetArrayItem(b, i)));
	}
	/* A new image changes the Deployment only. */
	CU_ASSERT_STRING_EQUAL(ha[0], hc[0]);
	CU_ASSERT_STRING_EQUAL(ha[1], hc[1]);
	CU_ASSERT_STRING_NOT_EQUAL(ha[2], hc[2]);
	CU_ASSERT_STRING_EQUAL(ha[3], hc[3]);
	/* A new certificate: the Secret and (to roll the pod) the
	 * Deployment. */
	CU_ASSERT_STRING_EQUAL(ha[0], hd[0]);
	CU_ASSERT_STRING_NOT_EQUAL(ha[1], hd[1]);
	CU_ASSERT_STRING_NOT_EQUAL(ha[2], hd[2]);
	CU_ASSERT_STRING_EQUAL(ha[3], hd[3]);
	/* Uninstall builds without TLS material: no Secret data. */
	p = (struct kmanifest_params){.ns = "x", .version = "1"};
	kmanifest_wipe(d);
	cJSON_Delete(d);
	d = build(&p);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(
	    cJSON_GetArraySize(at(cJSON_GetArrayItem(d, 1), "data")), 0);
	for (cJSON *arr[] = {a, b, c, d, NULL}, **q = arr; *q; q++) {
		kmanifest_wipe(*q);
		cJSON_Delete(*q);
	}
}

static void
test_service_range(void)
{
	char out[256];

	CU_ASSERT_EQUAL(
	    kconnect_parse_service_range(
	        "the API server refused to create services \"x\": Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"203.0.113.1\"}: failed to allocate IP 203.0.113.1: the provided IP (203.0.113.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12",
	        out, sizeof(out)),
	    1);
	CU_ASSERT_STRING_EQUAL(out, "10.96.0.0/12");
	CU_ASSERT_EQUAL(kconnect_parse_service_range(
	                    "... The range of valid IPs is 10.43.0.0/16. (x)",
	                    out, sizeof(out)),
	    1);
	CU_ASSERT_STRING_EQUAL(out, "10.43.0.0/16");
	CU_ASSERT_EQUAL(
	    kconnect_parse_service_range(
	        "The range of valid IPs is [10.96.0.0/12 fd00:10:96::/112]",
	        out, sizeof(out)),
	    2);
	CU_ASSERT_STRING_EQUAL(out, "10.96.0.0/12,fd00:10:96::/112");
	CU_ASSERT_EQUAL(
	    kconnect_parse_service_range(
	        "The range of valid IPs is unknown", out, sizeof(out)),
	    0);
	CU_ASSERT_EQUAL(kconnect_parse_service_range(
	                    "services \"x\" is forbidden", out, sizeof(out)),
	    0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

static void
test_context_dir(void)
{
	char out[160];

	kconnect_context_dir("kind-dev", out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "kind-dev");
	kconnect_context_dir("arn:aws:eks:eu-west-1:123456789012:cluster/prod",
	    out, sizeof(out));
	CU_ASSERT(
	    strncmp(out, "arn_aws_eks_eu-west-1_123456789012_cluster_prod-",
	        48) == 0);
	CU_ASSERT_EQUAL(strlen(out), 48 + 8);
	CU_ASSERT_PTR_NULL(strchr(out, '/'));
	kconnect_context_dir("..", out, sizeof(out));
	CU_ASSERT(strncmp(out, "..-", 3) == 0 && strlen(out) == 11);
	kconnect_context_dir("", out, sizeof(out));
	CU_ASSERT_EQUAL(strlen(out), 9);
	/* two names that map to the same characters stay apart */
	{
		char a[160], b[160];

		kconnect_context_dir("a/b", a, sizeof(a));
		kconnect_context_dir("a:b", b, sizeof(b));
		CU_ASSERT_STRING_NOT_EQUAL(a, b);
	}
}

static void
test_wants(void)
{
	char *a1[] = {"telepod", "connect", "-n", "dev", NULL};
	char *a2[] = {
	    "telepod", "connect", "--server", "h:1", "--tls-dir", "d", NULL};
	char *a3[] = {"telepod", "--socket", "/x", "connect", NULL};
	char *a4[] = {"telepod", "--socket=/x", "uninstall", "-n", "x", NULL};
	char *a5[] = {"telepod", "status", NULL};
	char *a6[] = {"telepod", "connect", "--server=h:1", NULL};
	char *a7[] = {"telepod", "connect", "--server-name", "x", NULL};
	char *a8[] = {"telepod", "-h", "connect", NULL};
	char *a9[] = {"telepod", NULL};

	CU_ASSERT(kconnect_wants(4, a1));
	CU_ASSERT_FALSE(kconnect_wants(6, a2));
	CU_ASSERT(kconnect_wants(4, a3));
	CU_ASSERT(kconnect_wants(5, a4));
	CU_ASSERT_FALSE(kconnect_wants(2, a5));
	CU_ASSERT_FALSE(kconnect_wants(3, a6));
	CU_ASSERT(kconnect_wants(4, a7));
	CU_ASSERT_FALSE(kconnect_wants(3, a8));
	CU_ASSERT_FALSE(kconnect_wants(1, a9));
}

static const struct cunit_test tests[] = {
    {"YAML scalars as the Kubernetes decoder types them", test_yaml_scalars},
    {"YAML the reader refuses", test_yaml_refusals},
    {"the manifests of packaging/kubernetes, built", test_manifests},
    {"hash annotations: stable, and per object", test_hashes},
    {"the service range in the API server's message", test_service_range},
    {"context names as directory names", test_context_dir},
    {"which command lines go through Kubernetes", test_wants},
};

CUNIT_MAIN("kconnect", tests)
