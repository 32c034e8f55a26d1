/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/kubeconfig and common/kubeexec: every field and auth
 * mode of a kubeconfig, the $KUBECONFIG merge order, relative paths, broken
 * files (messages with file and line), hostile YAML, resolving contexts,
 * in-cluster configuration from a temporary service-account directory, and
 * exec credential plugins (tests/fixtures/kube/exec-plugin.sh): the
 * KUBERNETES_EXEC_INFO they get, caching until expirationTimestamp with a
 * fake clock, and failures (exit status, timeout, garbage, not found).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/kubeconfig.h"
#include "common/kubeexec.h"
#include "tests/unit/cunit_main.h"

static char fixdir[2 * PATH_MAX + 64];

/* The absolute path of tests/fixtures/kube (relative paths in fixtures
 * resolve against it). */
static const char *
fixtures(void)
{
	const char *top = getenv("top_srcdir");
	char cwd[PATH_MAX];

	if (fixdir[0] != '\0')
		return fixdir;
	if (top == NULL || *top == '\0')
		top = "..";
	if (top[0] == '/') {
		snprintf(fixdir, sizeof(fixdir), "%s/tests/fixtures/kube", top);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			abort();
		snprintf(fixdir, sizeof(fixdir), "%s/%s/tests/fixtures/kube",
		    cwd, top);
	}
	return fixdir;
}

static const char *
fx(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fixtures(), name);
	return buf;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
make_tmpdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, len, "%s/tp-kubeconfig-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(buf) == NULL)
		abort();
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct kubeconfig *
load_full(void)
{
	struct kubeconfig *kc = NULL;
	char path[PATH_MAX], err[KUBECONFIG_ERR_MAX] = "";
	int r;

	r = kubeconfig_load(
	    fx("full.yaml", path, sizeof(path)), &kc, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "load: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	return kc;
}

/* Parses text as one file; returns the error (or 0) and the message. */
static int
parse_text(const char *text, char *err, size_t errlen)
{
	struct kubeconfig *kc = kubeconfig_new();
	int r;

	err[0] = '\0';
	r = kubeconfig_parse(kc, text, strlen(text), "~/.kube/config",
	    "/home/u/.kube", err, errlen);
	kubeconfig_free(kc);
	return r;
}

/* ---------------------------------------------------------------------- */

static void
test_parse_fields(void)
{
	struct kubeconfig *kc = load_full();
	const struct kubeconfig_cluster *c;
	const struct kubeconfig_user *u;
	const struct kubeconfig_context *x;
	char want[PATH_MAX];
	cJSON *ext;

	CU_ASSERT_EQUAL(kc->n_files, 1);
	CU_ASSERT_TRUE(
	    ends_with(kc->files[0], "tests/fixtures/kube/full.yaml"));
	CU_ASSERT_STRING_EQUAL(kc->current_context, "token");
	CU_ASSERT_EQUAL(kc->current_context_origin.line, 7);
	CU_ASSERT_EQUAL(kc->n_clusters, 3);
	CU_ASSERT_EQUAL(kc->n_users, 8);
	CU_ASSERT_EQUAL(kc->n_contexts, 9);

	c = kubeconfig_find_cluster(kc, "files");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->server, "https://files.example:6443/");
	/* Relative to the file's directory, made absolute. */
	CU_ASSERT_STRING_EQUAL(c->ca_file, fx("ca.pem", want, sizeof(want)));
	CU_ASSERT_STRING_EQUAL(c->tls_server_name, "kubernetes");
	CU_ASSERT_STRING_EQUAL(c->proxy_url, "http://proxy.example:3128");
	CU_ASSERT_FALSE(c->insecure_skip_tls_verify);
	CU_ASSERT_EQUAL(c->origin.line, 9);
	CU_ASSERT_PTR_NULL(c->exec_extension_json);

	c = kubeconfig_find_cluster(kc, "data");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(c->ca_file);
	CU_ASSERT_EQUAL(c->ca_data_len, 79);
	CU_ASSERT_EQUAL(memcmp(c->ca_data,
	                    "-----BEGIN CERTIFICATE-----\n"
	                    "Zml4dHVyZSBDQSAoZGF0YSk=\n",
	                    52),
	    0);
	CU_ASSERT_TRUE(c->disable_compression);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->exec_extension_json);
	ext = cJSON_Parse(c->exec_extension_json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ext);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(ext, "audience")->valuestring, "telepod");
	CU_ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(ext, "port")));
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(ext, "port")->valueint, 8443);
	CU_ASSERT_DOUBLE_EQUAL(
	    cJSON_GetObjectItem(ext, "ratio")->valuedouble, -1500, 1e-9);
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(ext, "enabled")));
	CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(ext, "nothing")));
	/* A quoted '007' stays a string. */
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(ext, "flags"), 2)
	        ->valuestring,
	    "007");
	cJSON_Delete(ext);

	c = kubeconfig_find_cluster(kc, "insecure");
	CU_ASSERT_TRUE(c->insecure_skip_tls_verify);

	u = kubeconfig_find_user(kc, "certfiles");
	CU_ASSERT_STRING_EQUAL(
	    u->client_cert_file, fx("client.pem", want, sizeof(want)));
	CU_ASSERT_STRING_EQUAL(u->client_key_file,
	    fx("sub/keys/client-key.pem", want, sizeof(want)));
	u = kubeconfig_find_user(kc, "certdata");
	CU_ASSERT_PTR_NOT_NULL(u->client_cert_data);
	CU_ASSERT_PTR_NOT_NULL(u->client_key_data);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr((const char *)u->client_key_data, "BEGIN EC PRIVATE KEY"));
	u = kubeconfig_find_user(kc, "token");
	CU_ASSERT_STRING_EQUAL(u->token, "abc.def-123");
	CU_ASSERT_STRING_EQUAL(u->impersonate, "admin");
	CU_ASSERT_STRING_EQUAL(u->impersonate_uid, "1000");
	CU_ASSERT_EQUAL_FATAL(u->n_impersonate_groups, 2);
	CU_ASSERT_STRING_EQUAL(u->impersonate_groups[0], "system:masters");
	u = kubeconfig_find_user(kc, "tokenfile");
	CU_ASSERT_STRING_EQUAL(u->token_file, fx("token", want, sizeof(want)));
	u = kubeconfig_find_user(kc, "basic");
	CU_ASSERT_STRING_EQUAL(u->username, "jane");
	CU_ASSERT_STRING_EQUAL(u->password, "s3cret:with:colons");
	u = kubeconfig_find_user(kc, "eks");
	CU_ASSERT_PTR_NOT_NULL_FATAL(u->exec);
	CU_ASSERT_STRING_EQUAL(u->exec->command, "aws"); /* bare: $PATH */
	CU_ASSERT_STRING_EQUAL(u->exec->api_version, KUBECONFIG_EXEC_V1BETA1);
	CU_ASSERT_EQUAL_FATAL(u->exec->n_args, 4);
	CU_ASSERT_STRING_EQUAL(u->exec->args[3], "prod");
	CU_ASSERT_EQUAL_FATAL(u->exec->n_env, 2);
	CU_ASSERT_STRING_EQUAL(u->exec->env[0].name, "AWS_PROFILE");
	CU_ASSERT_STRING_EQUAL(u->exec->env[0].value, "dev");
	CU_ASSERT_STRING_EQUAL(u->exec->env[1].value, "");
	CU_ASSERT_EQUAL(
	    u->exec->interactive_mode, KUBECONFIG_INTERACTIVE_UNSET);
	u = kubeconfig_find_user(kc, "gke");
	CU_ASSERT_STRING_EQUAL(
	    u->exec->command, fx("./exec-plugin.sh", want, sizeof(want)));
	CU_ASSERT_EQUAL(
	    u->exec->interactive_mode, KUBECONFIG_INTERACTIVE_IF_AVAILABLE);
	CU_ASSERT_TRUE(u->exec->provide_cluster_info);
	CU_ASSERT_STRING_EQUAL(
	    u->exec->install_hint, "Install gke-gcloud-auth-plugin");
	u = kubeconfig_find_user(kc, "legacy");
	CU_ASSERT_STRING_EQUAL(u->auth_provider, "gcp");

	x = kubeconfig_find_context(kc, "files");
	CU_ASSERT_STRING_EQUAL(x->cluster, "files");
	CU_ASSERT_STRING_EQUAL(x->user, "certfiles");
	CU_ASSERT_STRING_EQUAL(x->namespace, "team-a");
	x = kubeconfig_find_context(kc, "anonymous");
	CU_ASSERT_PTR_NULL(x->user);
	CU_ASSERT_PTR_NULL(x->namespace);
	CU_ASSERT_PTR_NULL(kubeconfig_find_context(kc, "nope"));
	kubeconfig_free(kc);
}

static void
test_merge_order(void)
{
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;
	char list[8 * PATH_MAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	char want[PATH_MAX], err[KUBECONFIG_ERR_MAX] = "";
	const struct kubeconfig_context *x;

	/* Empty entries, a missing file and a repeated file are skipped. */
	snprintf(list, sizeof(list), "%s::%s/missing.yaml:%s:%s:%s",
	    fx("merge-a.yaml", a, sizeof(a)), fixtures(),
	    fx("sub/merge-b.yaml", b, sizeof(b)), a,
	    fx("merge-c.yaml", c, sizeof(c)));
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_load_list(list, &kc, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kc->n_files, 3);
	/* The first file to set current-context wins (a sets none). */
	CU_ASSERT_STRING_EQUAL(kc->current_context, "only-b");
	CU_ASSERT_TRUE(
	    ends_with(kc->current_context_origin.file, "sub/merge-b.yaml"));
	/* The first file to define a name wins the whole entry. */
	CU_ASSERT_STRING_EQUAL(
	    kubeconfig_find_cluster(kc, "shared")->server, "https://a.example");
	CU_ASSERT_PTR_NOT_NULL(kubeconfig_find_cluster(kc, "shared")->ca_file);
	CU_ASSERT_STRING_EQUAL(
	    kubeconfig_find_user(kc, "shared")->token, "token-from-a");
	x = kubeconfig_find_context(kc, "shared");
	CU_ASSERT_STRING_EQUAL(x->namespace, "from-a");
	CU_ASSERT_TRUE(ends_with(x->origin.file, "merge-a.yaml"));
	CU_ASSERT_PTR_NOT_NULL(kubeconfig_find_context(kc, "only-c"));
	CU_ASSERT_EQUAL(kc->n_clusters, 2);
	CU_ASSERT_EQUAL(kc->n_contexts, 3);
	/* Paths resolve against the directory of the file defining them. */
	CU_ASSERT_STRING_EQUAL(kubeconfig_find_cluster(kc, "only-b")->ca_file,
	    fx("sub/ca.pem", want, sizeof(want)));
	CU_ASSERT_STRING_EQUAL(kubeconfig_find_cluster(kc, "shared")->ca_file,
	    fx("ca.pem", want, sizeof(want)));

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->context, "only-b");
	CU_ASSERT_STRING_EQUAL(rc->namespace, "default");
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)rc->ca_pem, "c3ViIENB"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    (char *)rc->client_cert_pem, "Zml4dHVyZSBjbGllbnQgKGZpbGUp"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr((char *)rc->client_key_pem, "PRIVATE KEY"));
	kubeconfig_resolved_free(rc);
	kubeconfig_free(kc);

	/* Reversed, the other file wins; c's current-context still loses to
	 * b's because b comes first. */
	snprintf(list, sizeof(list), "%s:%s:%s", b, c, a);
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_load_list(list, &kc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(kc->current_context, "only-b");
	CU_ASSERT_STRING_EQUAL(
	    kubeconfig_find_cluster(kc, "shared")->server, "https://b.example");
	kubeconfig_free(kc);
	snprintf(list, sizeof(list), "%s:%s", c, b);
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_load_list(list, &kc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(kc->current_context, "shared");
	kubeconfig_free(kc);
}

static void
test_load_default(void)
{
	char home[PATH_MAX], path[PATH_MAX + 32], err[KUBECONFIG_ERR_MAX];
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *old_kc =
	    getenv("KUBECONFIG") ? strdup(getenv("KUBECONFIG")) : NULL;
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;
	int r;

	make_tmpdir(home, sizeof(home));
	setenv("HOME", home, 1);
	unsetenv("KUBECONFIG");

	/* No file at all: an empty configuration, and resolving says what
	 * to do. */
	CU_ASSERT_EQUAL_FATAL(kubeconfig_load(NULL, &kc, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kc->n_files, 0);
	r = kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no kubeconfig found"));
	kubeconfig_free(kc);

	/* ~/.kube/config, shown with a tilde, line numbers 1-based. */
	snprintf(path, sizeof(path), "%s/.kube", home);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/.kube/config", home);
	write_file(path, "apiVersion: v1\n"
	                 "clusters: []\n"
	                 "# a comment\n"
	                 "users:\n"
	                 "  name: u\n");
	r = kubeconfig_load(NULL, &kc, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_STRING_EQUAL(
	    err, "~/.kube/config:5: expected a list for 'users'");

	write_file(path,
	    "current-context: c\n"
	    "contexts: [{name: c, context: {cluster: k}}]\n"
	    "clusters: [{name: k, cluster: {server: 'https://k:6443'}}]\n");
	CU_ASSERT_EQUAL_FATAL(kubeconfig_load(NULL, &kc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(kc->files[0], "~/.kube/config");
	CU_ASSERT_EQUAL(kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->server, "https://k:6443");
	CU_ASSERT_STRING_EQUAL(rc->origin, "~/.kube/config:2");
	CU_ASSERT_PTR_NULL(rc->user_name);
	CU_ASSERT_PTR_NULL(rc->token);
	kubeconfig_resolved_free(rc);
	kubeconfig_free(kc);

	/* $KUBECONFIG replaces the default. */
	snprintf(path, sizeof(path), "%s/other", home);
	write_file(path, "current-context: from-env\n");
	setenv("KUBECONFIG", path, 1);
	CU_ASSERT_EQUAL_FATAL(kubeconfig_load(NULL, &kc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(kc->current_context, "from-env");
	r = kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_STRING_EQUAL(err,
	    "context \"from-env\" (the current context) is not defined in ~/other; check KUBECONFIG or --kubeconfig");
	kubeconfig_free(kc);

	/* An explicit file must exist. */
	snprintf(path, sizeof(path), "%s/none", home);
	r = kubeconfig_load(path, &kc, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_STRING_EQUAL(
	    err, "cannot read kubeconfig ~/none: No such file or directory");
	r = kubeconfig_load(home, &kc, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EISDIR);

	rm_rf(home);
	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	if (old_kc)
		setenv("KUBECONFIG", old_kc, 1);
	else
		unsetenv("KUBECONFIG");
	free(old_home);
	free(old_kc);
}

static void
test_broken_files(void)
{
	static const struct {
		const char *text;
		int ret;
		const char *msg;
	} cases[] = {
	    {"clusters:\n- name: a\n  cluster:\n    server: [x]\n", -EINVAL,
	        "~/.kube/config:4: expected a string for 'server'"},
	    {"clusters:\n- name: a\n  cluster: yes\n", -EINVAL,
	        "~/.kube/config:3: expected a mapping for 'cluster'"},
	    {"users: {a: b}\n", -EINVAL,
	        "~/.kube/config:1: expected a list for 'users'"},
	    {"- a\n- b\n", -EINVAL,
	        "~/.kube/config:1: expected a mapping at the top level"},
	    {"contexts:\n- context: {cluster: x}\n", -EINVAL,
	        "~/.kube/config:2: an entry of 'contexts' has no name"},
	    {"contexts:\n- just-a-string\n", -EINVAL,
	        "~/.kube/config:2: expected a mapping with 'name' and 'context' in 'contexts'"},
	    {"clusters:\n- name: a\n  cluster: {insecure-skip-tls-verify: "
	     "\"true\"}\n",
	        -EINVAL,
	        "~/.kube/config:3: expected true or false for 'insecure-skip-tls-verify'"},
	    {"clusters:\n- name: a\n  cluster:\n    certificate-authority-data: "
	     "LS0t!\n",
	        -EINVAL,
	        "~/.kube/config:4: 'certificate-authority-data' is not valid base64 (at byte 4); it holds the base64 of the PEM file (base64 -w0 FILE)"},
	    {"users:\n- name: u\n  user: {client-key-data: QUJD}\n"
	     "- name: u\n  user: {token: x}\n",
	        -EINVAL,
	        "~/.kube/config:4: user \"u\" is defined twice (first at line 2)"},
	    {"users:\n- name: u\n  user:\n    exec:\n      args: a\n", -EINVAL,
	        "~/.kube/config:5: expected a list of strings for 'args'"},
	    {"users:\n- name: u\n  user:\n    exec:\n      env: [{value: v}]\n",
	        -EINVAL,
	        "~/.kube/config:5: an exec 'env' entry needs a name without '='"},
	    {"current-context: a\n  b: c\n", -EINVAL,
	        "~/.kube/config:2: mapping values are not allowed in this context"},
	    {"users:\n- name: u\n\tuser: {}\n", -EINVAL, NULL},
	    {"a: *nowhere\n", -EINVAL, NULL},
	    {"clusters: [{name: \"a\\0b\"}]\n", -EINVAL,
	        "~/.kube/config:1: the value of 'name' holds a NUL byte"},
	};
	char err[KUBECONFIG_ERR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int r = parse_text(cases[i].text, err, sizeof(err));

		CU_ASSERT_EQUAL(r, cases[i].ret);
		if (cases[i].msg != NULL && strcmp(err, cases[i].msg) != 0) {
			fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
			CU_FAIL("message");
		}
		CU_ASSERT_EQUAL(strncmp(err, "~/.kube/config:", 15), 0);
	}

	/* Valid oddities: empty file, nulls, comments only, repeated keys
	 * keep the last value, YAML 1.1 booleans, numbers as strings. */
	CU_ASSERT_EQUAL(parse_text("", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(parse_text("# nothing\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(
	    parse_text("clusters: ~\nusers: null\n", err, sizeof(err)), 0);
	/* Unknown keys are ignored, as kubectl does ("server" here sits at
	 * the entry's level, beside a null cluster). */
	CU_ASSERT_EQUAL(parse_text("kind: Config\nfoo: [1]\nclusters:\n"
	                           "- name: a\n  cluster:\n  server: x\n",
	                    err, sizeof(err)),
	    0);
	{
		const char *t = "clusters:\n- name: 42\n  cluster:\n"
		                "    server: a\n    server: b\n"
		                "    insecure-skip-tls-verify: on\n"
		                "users:\n- name: u\n  user: {token: 12345}\n";
		struct kubeconfig *kc = kubeconfig_new();

		CU_ASSERT_EQUAL_FATAL(kubeconfig_parse(kc, t, strlen(t), "t",
		                          NULL, err, sizeof(err)),
		    0);
		CU_ASSERT_STRING_EQUAL(
		    kubeconfig_find_cluster(kc, "42")->server, "b");
		CU_ASSERT_TRUE(kubeconfig_find_cluster(kc, "42")
		                   ->insecure_skip_tls_verify);
		CU_ASSERT_STRING_EQUAL(
		    kubeconfig_find_user(kc, "u")->token, "12345");
		kubeconfig_free(kc);
	}
}

static void
test_hostile_yaml(void)
{
	char err[KUBECONFIG_ERR_MAX], *text;
	size_t o = 0, cap = 1 << 20;
	int r;

	/* A billion laughs: an anchor copied into thousands of entries hits
	 * the copy budget instead of eating memory. */
	text = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	o += (size_t)snprintf(text + o, cap - o, "x: &big \"");
	for (int i = 0; i < 600000; i++)
		text[o++] = 'a';
	o += (size_t)snprintf(text + o, cap - o, "\"\nusers:\n");
	for (int i = 0; i < 4000; i++)
		o += (size_t)snprintf(text + o, cap - o,
		    "- {name: u%d, user: {token: *big}}\n", i);
	text[o] = '\0';
	r = parse_text(text, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "aliases?"));

	/* Deep nesting in an extension. */
	o = (size_t)snprintf(text, cap,
	    "clusters:\n- name: a\n  cluster:\n    extensions:\n"
	    "    - name: client.authentication.k8s.io/exec\n      extension: ");
	for (int i = 0; i < 200; i++)
		text[o++] = '[';
	for (int i = 0; i < 200; i++)
		text[o++] = ']';
	text[o++] = '\n';
	text[o] = '\0';
	r = parse_text(text, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "levels deep"));

	/* A self-referencing alias in an extension (libyaml allows it). */
	r = parse_text("clusters:\n- name: a\n  cluster:\n    extensions:\n"
	               "    - name: client.authentication.k8s.io/exec\n"
	               "      extension: &e [*e]\n",
	    err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);

	/* Too many entries. */
	o = (size_t)snprintf(text, cap, "contexts:\n");
	for (int i = 0; i <= KUBECONFIG_MAX_ENTRIES; i++)
		o += (size_t)snprintf(text + o, cap - o, "- {name: c%d}\n", i);
	r = parse_text(text, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 4096 entries"));
	free(text);
}

static void
test_resolve_modes(void)
{
	struct kubeconfig *kc = load_full();
	struct kubeconfig_resolved *rc = NULL;
	char err[KUBECONFIG_ERR_MAX] = "", want[PATH_MAX];
	cJSON *j;

	/* current-context: a static token, impersonation, a CA file. */
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, NULL, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->context, "token");
	CU_ASSERT_STRING_EQUAL(rc->namespace, "dev");
	CU_ASSERT_STRING_EQUAL(rc->server, "https://files.example:6443");
	CU_ASSERT_STRING_EQUAL(rc->token, "abc.def-123");
	CU_ASSERT_PTR_NULL(rc->token_file);
	CU_ASSERT_STRING_EQUAL(rc->impersonate, "admin");
	CU_ASSERT_EQUAL(rc->n_impersonate_groups, 2);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr((char *)rc->ca_pem, "Zml4dHVyZSBDQSAoZmlsZSk="));
	CU_ASSERT_STRING_EQUAL(rc->tls_server_name, "kubernetes");
	CU_ASSERT_STRING_EQUAL(rc->proxy_url, "http://proxy.example:3128");
	kubeconfig_resolved_free(rc);

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "files", &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->namespace, "team-a");
	CU_ASSERT_STRING_EQUAL(rc->user_name, "certfiles");
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    (char *)rc->client_cert_pem, "Zml4dHVyZSBjbGllbnQgKGZpbGUp"));
	CU_ASSERT_EQUAL(rc->client_key_pem_len, 79);
	kubeconfig_resolved_free(rc);

	/* -data wins over the (missing) file. */
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "data", &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->namespace, "default");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr((char *)rc->client_cert_pem, "Y2xpZW50IChkYXRhKQ=="));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)rc->ca_pem, "ZGF0YSk="));
	CU_ASSERT_TRUE(rc->disable_compression);
	kubeconfig_resolved_free(rc);

	/* tokenFile: read and trimmed, kept for re-reading. */
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "tokenfile", &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->token, "file-token-123");
	CU_ASSERT_STRING_EQUAL(rc->token_file, fx("token", want, sizeof(want)));
	CU_ASSERT_TRUE(rc->insecure_skip_tls_verify);
	CU_ASSERT_PTR_NULL(rc->ca_pem);
	kubeconfig_resolved_free(rc);

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "basic", &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->username, "jane");
	CU_ASSERT_STRING_EQUAL(rc->password, "s3cret:with:colons");
	kubeconfig_resolved_free(rc);

	/* v1beta1 exec: no cluster info asked for. */
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "eks", &rc, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rc->exec);
	CU_ASSERT_STRING_EQUAL(rc->exec->args[0], "eks");
	CU_ASSERT_PTR_NULL(rc->exec_cluster_json);
	kubeconfig_resolved_free(rc);

	/* v1 exec with provideClusterInfo: spec.cluster is prepared. */
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "gke", &rc, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rc->exec_cluster_json);
	j = cJSON_Parse(rc->exec_cluster_json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(j, "server")->valuestring,
	    "https://10.0.0.1:443");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(j, "certificate-authority-data")->valuestring,
	    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClptbDRkSFZ5WlNCRFFTQW9aR0YwWVNrPQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==");
	CU_ASSERT_TRUE(
	    cJSON_IsTrue(cJSON_GetObjectItem(j, "disable-compression")));
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(j, "insecure-skip-tls-verify"));
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "audience")
	        ->valuestring,
	    "telepod");
	cJSON_Delete(j);
	kubeconfig_resolved_free(rc);

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "anonymous", &rc, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(rc->user_name);
	CU_ASSERT_STRING_EQUAL(rc->server, "http://127.0.0.1:8080");
	kubeconfig_resolved_free(rc);

	CU_ASSERT_EQUAL(
	    kubeconfig_resolve(kc, "legacy", &rc, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "auth-provider \"gcp\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "gke-gcloud-auth-plugin"));

	CU_ASSERT_EQUAL(
	    kubeconfig_resolve(kc, "staging", &rc, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "context \"staging\" is not defined in "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "; contexts: files, data, token, "));
	kubeconfig_free(kc);
}

/* Writes text to DIR/config and resolves its current context. */
static int
resolve_text(const char *dir, const char *text, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	struct kubeconfig *kc = NULL;
	struct kubeconfig_resolved *rc = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/config", dir);
	write_file(path, text);
	err[0] = '\0';
	r = kubeconfig_load(path, &kc, err, errlen);
	if (r == 0)
		r = kubeconfig_resolve(kc, NULL, &rc, err, errlen);
	kubeconfig_resolved_free(rc);
	kubeconfig_free(kc);
	return r;
}

static void
test_resolve_errors(void)
{
	static const struct {
		const char *text;
		int ret;
		const char *needle;
	} cases[] = {
	    {"contexts: [{name: c}]\n", -ENOENT,
	        "no current context is set in "},
	    {"current-context: c\ncontexts: [{name: c}]\n", -EINVAL,
	        "/config:2) names no cluster"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n",
	        -ENOENT, "refers to cluster \"k\", which is not defined in "},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n",
	        -ENOENT, "refers to user \"u\", which is not defined"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
	     "clusters: [{name: k, cluster: {}}]\n",
	        -EINVAL, "/config:3) has no server"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
	     "clusters: [{name: k, cluster: {server: s, certificate-authority: "
	     "nope.pem}}]\n",
	        -ENOENT, "/nope.pem of cluster \"k\" ("},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
	     "clusters: [{name: k, cluster: {server: s, "
	     "certificate-authority-data: aGVsbG8=}}]\n",
	        -EINVAL,
	        "/config:3) holds no PEM data (expected the base64 of a PEM file)"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
	     "clusters: [{name: k, cluster: {server: s, insecure-skip-tls-verify: "
	     "true, certificate-authority: x}}]\n",
	        -EINVAL,
	        "insecure-skip-tls-verify together with a certificate authority"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {client-certificate: x.pem}}]\n",
	        -EINVAL,
	        "/config:4) has a client certificate but no client key"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {exec: {command: x, apiVersion: "
	     "client.authentication.k8s.io/v1}}}]\n",
	        -EINVAL,
	        "exec interactiveMode is required for client.authentication.k8s.io/v1"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {exec: {command: x, apiVersion: "
	     "client.authentication.k8s.io/v1alpha1}}}]\n",
	        -EINVAL, "v1alpha1 is no longer supported"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {exec: {command: x, interactiveMode: "
	     "Sometimes, apiVersion: client.authentication.k8s.io/v1}}}]\n",
	        -EINVAL,
	        "interactiveMode must be Never, IfAvailable or Always"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {exec: {apiVersion: x}}}]\n",
	        -EINVAL, "exec has no 'command'"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {exec: {command: x, apiVersion: x}, "
	     "auth-provider: {name: oidc}}}]\n",
	        -EINVAL, "sets both auth-provider and exec"},
	    {"current-context: c\ncontexts: [{name: c, context: {cluster: k, "
	     "user: u}}]\nclusters: [{name: k, cluster: {server: s}}]\n"
	     "users: [{name: u, user: {tokenFile: missing-token}}]\n",
	        -ENOENT, "cannot read token file "},
	};
	char dir[PATH_MAX], err[KUBECONFIG_ERR_MAX];

	make_tmpdir(dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int r = resolve_text(dir, cases[i].text, err, sizeof(err));

		if (r != cases[i].ret || strstr(err, cases[i].needle) == NULL) {
			fprintf(stderr, "case %zu: %d \"%s\"\n", i, r, err);
			CU_FAIL("resolve error");
		}
	}
	rm_rf(dir);
}

static void
test_in_cluster(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], err[KUBECONFIG_ERR_MAX];
	struct kubeconfig_resolved *rc = NULL;

	make_tmpdir(dir, sizeof(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("POD_NAMESPACE");
	CU_ASSERT_EQUAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), -ENXIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not running in a pod"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "", 1);
	CU_ASSERT_EQUAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), -ENXIO);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);

	/* No token yet. */
	CU_ASSERT_EQUAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "/token: No such file or directory"));
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "eyJhbGciOi.sa-token\n");
	CU_ASSERT_EQUAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ca.crt"));
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	write_file(path,
	    "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n");

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->server, "https://10.96.0.1:443");
	CU_ASSERT_STRING_EQUAL(rc->token, "eyJhbGciOi.sa-token");
	CU_ASSERT_TRUE(ends_with(rc->token_file, "/token"));
	CU_ASSERT_STRING_EQUAL(rc->namespace, "default");
	CU_ASSERT_STRING_EQUAL(rc->context, "in-cluster");
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)rc->ca_pem, "Q0E="));
	kubeconfig_resolved_free(rc);

	snprintf(path, sizeof(path), "%s/namespace", dir);
	write_file(path, "telepod-system\n");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->server, "https://[fd00::1]:443");
	CU_ASSERT_STRING_EQUAL(rc->namespace, "telepod-system");
	kubeconfig_resolved_free(rc);

	setenv("POD_NAMESPACE", "from-env", 1);
	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(rc->namespace, "from-env");
	kubeconfig_resolved_free(rc);

	setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
	CU_ASSERT_EQUAL(
	    kubeconfig_in_cluster(dir, &rc, err, sizeof(err)), -EINVAL);

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("POD_NAMESPACE");
	rm_rf(dir);
}

/* ---------------------------------------------------------------------- */
/* exec plugins */

static time_t fake_now;

static time_t
fake_clock(void *arg)
{
	return fake_now;
}

static int
count_runs(const char *dir)
{
	char path[PATH_MAX + 8], *s;
	int n = 0;

	snprintf(path, sizeof(path), "%s/runs", dir);
	if ((s = slurp(path)) == NULL)
		return 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static cJSON *
read_info(const char *dir)
{
	char path[PATH_MAX + 8], *s;
	cJSON *j;

	snprintf(path, sizeof(path), "%s/info", dir);
	s = slurp(path);
	if (s == NULL)
		return NULL;
	j = cJSON_Parse(s);
	free(s);
	return j;
}

static struct kubeexec *
gke_plugin(struct kubeconfig_resolved **ret_rc, int tty, int timeout_ms)
{
	struct kubeconfig *kc = load_full();
	struct kubeexec_opts o = {
	    .timeout_ms = timeout_ms, .stdin_tty = tty, .clock = fake_clock};
	char err[KUBECONFIG_ERR_MAX];
	struct kubeexec *x;

	CU_ASSERT_EQUAL_FATAL(
	    kubeconfig_resolve(kc, "gke", ret_rc, err, sizeof(err)), 0);
	kubeconfig_free(kc);
	x = kubeexec_new((*ret_rc)->exec, (*ret_rc)->exec_cluster_json,
	    (*ret_rc)->user_name, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	return x;
}

static void
test_exec_v1_cache(void)
{
	struct kubeconfig_resolved *rc = NULL;
	const struct kubeexec_cred *cred;
	char dir[PATH_MAX], err[KUBEEXEC_ERR_MAX] = "";
	struct kubeexec *x;
	struct kubeconfig_resolved *rc2 = NULL;
	cJSON *info, *spec, *cl;
	time_t exp;
	int r;

	make_tmpdir(dir, sizeof(dir));
	setenv("TP_EXEC_OUT", dir, 1);
	setenv("TP_EXEC_MODE", "token", 1);
	setenv("TP_EXEC_EXPIRY", "2030-01-01T00:00:00Z", 1);
	CU_ASSERT_EQUAL(kubeexec_parse_time("2030-01-01T00:00:00Z", &exp), 0);
	x = gke_plugin(&rc, 0, 0);

	fake_now = exp - 60;
	r = kubeexec_get(x, &cred, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "exec: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_STRING_EQUAL(cred->token, "tok-1");
	CU_ASSERT_TRUE(cred->has_expiry);
	CU_ASSERT_EQUAL(cred->expiry, exp);
	CU_ASSERT_EQUAL(kubeexec_runs(x), 1);
	CU_ASSERT_EQUAL(count_runs(dir), 1);

	/* KUBERNETES_EXEC_INFO: same apiVersion, not interactive, the
	 * cluster with its exec extension as config. */
	info = read_info(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(info, "kind")->valuestring, "ExecCredential");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(info, "apiVersion")->valuestring,
	    KUBECONFIG_EXEC_V1);
	spec = cJSON_GetObjectItem(info, "spec");
	CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(spec, "interactive")));
	cl = cJSON_GetObjectItem(spec, "cluster");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(cl, "server")->valuestring,
	    "https://10.0.0.1:443");
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cl, "config"), "port")
	        ->valueint,
	    8443);
	cJSON_Delete(info);

	/* Cached until the expiry... */
	fake_now = exp - 1;
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cred->token, "tok-1");
	CU_ASSERT_EQUAL(count_runs(dir), 1);
	/* ...then refreshed. */
	fake_now = exp;
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cred->token, "tok-2");
	CU_ASSERT_EQUAL(count_runs(dir), 2);
	/* A 401 invalidates. */
	kubeexec_invalidate(x);
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cred->token, "tok-3");
	CU_ASSERT_EQUAL(kubeexec_runs(x), 3);
	kubeexec_free(x);

	/* Without an expirationTimestamp the credential never expires. */
	unsetenv("TP_EXEC_EXPIRY");
	x = gke_plugin(&rc2, 0, 0);
	fake_now = 0;
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(cred->has_expiry);
	fake_now = exp * 2;
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kubeexec_runs(x), 1);
	CU_ASSERT_STRING_EQUAL(cred->token, "tok-4");
	kubeexec_free(x);
	kubeconfig_resolved_free(rc2);

	/* IfAvailable on a terminal: interactive. */
	kubeconfig_resolved_free(rc);
	x = gke_plugin(&rc, 1, 0);
	CU_ASSERT_EQUAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	info = read_info(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(info, "spec"), "interactive")));
	cJSON_Delete(info);
	kubeexec_free(x);
	kubeconfig_resolved_free(rc);
	unsetenv("TP_EXEC_OUT");
	unsetenv("TP_EXEC_MODE");
	rm_rf(dir);
}

static void
test_exec_v1beta1_env(void)
{
	char dir[PATH_MAX], cmd[PATH_MAX], err[KUBEEXEC_ERR_MAX] = "",
	                                   path[PATH_MAX + 8];
	char *args[] = {(char *)"get-token", (char *)"--cluster name"};
	struct kubeconfig_env env[] = {
	    {(char *)"TP_EXEC_FROM_ENV", (char *)"from-kubeconfig"},
	    {(char *)"TP_EXEC_MODE", (char *)"cert"},
	};
	struct kubeconfig_exec e = {
	    .api_version = (char *)KUBECONFIG_EXEC_V1BETA1,
	    .command = cmd,
	    .args = args,
	    .n_args = 2,
	    .env = env,
	    .n_env = 2,
	};
	struct kubeexec_opts o = {.stdin_tty = 0, .clock = fake_clock};
	const struct kubeexec_cred *cred;
	struct kubeexec *x;
	cJSON *info;
	char *s;

	fx("exec-plugin.sh", cmd, sizeof(cmd));
	make_tmpdir(dir, sizeof(dir));
	setenv("TP_EXEC_OUT", dir, 1);
	setenv("TP_EXEC_FROM_ENV", "from-parent", 1);
	setenv("TP_EXEC_MODE", "token", 1);
	setenv("KUBERNETES_EXEC_INFO", "stale", 1);
	setenv("TP_EXEC_EXPIRY", "2030-01-01T01:00:00+01:00", 1);
	x = kubeexec_new(&e, NULL, "eks", &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	CU_ASSERT_EQUAL_FATAL(kubeexec_get(x, &cred, err, sizeof(err)), 0);
	/* exec.env overrides the caller's environment. */
	CU_ASSERT_PTR_NULL(cred->token);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(cred->client_cert_pem, "BEGIN CERTIFICATE-----\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cred->client_key_pem, "PRIVATE KEY"));
	CU_ASSERT_EQUAL(cred->expiry, 1893456000);
	snprintf(path, sizeof(path), "%s/env", dir);
	s = slurp(path);
	CU_ASSERT_STRING_EQUAL(s, "from-kubeconfig");
	free(s);
	snprintf(path, sizeof(path), "%s/args", dir);
	s = slurp(path);
	CU_ASSERT_STRING_EQUAL(s, "get-token\n--cluster name\n");
	free(s);
	info = read_info(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(info, "apiVersion")->valuestring,
	    KUBECONFIG_EXEC_V1BETA1);
	CU_ASSERT_PTR_NULL(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(info, "spec"), "cluster"));
	cJSON_Delete(info);
	kubeexec_free(x);
	unsetenv("KUBERNETES_EXEC_INFO");
	unsetenv("TP_EXEC_FROM_ENV");
	unsetenv("TP_EXEC_EXPIRY");
	unsetenv("TP_EXEC_OUT");
	unsetenv("TP_EXEC_MODE");
	rm_rf(dir);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_exec_failures(void)
{
	static const struct {
		const char *mode;
		int ret;
		const char *needle;
	} cases[] = {
	    {"fail", -EIO, "exec plugin \"" /* path follows */},
	    {"garbage", -EPROTO,
	        "printed something that is not an ExecCredential (JSON): \"Welcome to the cloud CLI! <html>\""},
	    {"nostatus", -EPROTO, "did not return a status field"},
	    {"wrongversion", -EPROTO,
	        "is configured to use API version client.authentication.k8s.io/v1, but it returned version client.authentication.k8s.io/v1alpha1"},
	    {"keyonly", -EPROTO,
	        "returned a client key without a client certificate"},
	};
	struct kubeconfig_resolved *rc = NULL;
	const struct kubeexec_cred *cred;
	char err[KUBEEXEC_ERR_MAX];
	struct kubeexec *x;
	int64_t t0;
	int r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		setenv("TP_EXEC_MODE", cases[i].mode, 1);
		x = gke_plugin(&rc, 0, 0);
		err[0] = '\0';
		r = kubeexec_get(x, &cred, err, sizeof(err));
		if (r != cases[i].ret || strstr(err, cases[i].needle) == NULL) {
			fprintf(
			    stderr, "%s: %d \"%s\"\n", cases[i].mode, r, err);
			CU_FAIL("exec failure");
		}
		if (i == 0) {
			/* The exit status and the plugin's own words. */
			CU_ASSERT_PTR_NOT_NULL(strstr(err,
			    "of user \"gke\" failed with exit status 3: error: could not get token: AccessDenied"));
		}
		kubeexec_free(x);
		kubeconfig_resolved_free(rc);
		rc = NULL;
	}

	/* A plugin that hangs is killed (with what it spawned). */
	setenv("TP_EXEC_MODE", "sleep", 1);
	x = gke_plugin(&rc, 0, 300);
	t0 = mono_ms();
	r = kubeexec_get(x, &cred, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ETIMEDOUT);
	CU_ASSERT_TRUE(mono_ms() - t0 < 5000);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "did not finish within 0.3 s and was killed"));
	kubeexec_free(x);
	kubeconfig_resolved_free(rc);
	rc = NULL;
	unsetenv("TP_EXEC_MODE");

	/* Not installed: the install hint is shown. */
	{
		struct kubeconfig_exec e = {
		    .api_version = (char *)KUBECONFIG_EXEC_V1,
		    .command = (char *)"telepod-no-such-plugin",
		    .interactive_mode = KUBECONFIG_INTERACTIVE_NEVER,
		    .install_hint =
		        (char *)"brew install telepod-no-such-plugin",
		};
		struct kubeexec_opts o = {.stdin_tty = 0};

		x = kubeexec_new(&e, NULL, NULL, &o);
		r = kubeexec_get(x, &cred, err, sizeof(err));
		CU_ASSERT_EQUAL(r, -ENOENT);
		CU_ASSERT_STRING_EQUAL(err,
		    "exec plugin \"telepod-no-such-plugin\" was not found on PATH; brew install telepod-no-such-plugin");
		CU_ASSERT_EQUAL(kubeexec_runs(x), 0);
		kubeexec_free(x);

		/* Always needs a terminal. */
		e.command = (char *)"true";
		e.interactive_mode = KUBECONFIG_INTERACTIVE_ALWAYS;
		x = kubeexec_new(&e, NULL, "u", &o);
		r = kubeexec_get(x, &cred, err, sizeof(err));
		CU_ASSERT_EQUAL(r, -ENOTTY);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "interactiveMode: Always"));
		CU_ASSERT_EQUAL(kubeexec_runs(x), 0);
		kubeexec_free(x);

		/* Prints nothing and exits 0. */
		e.interactive_mode = KUBECONFIG_INTERACTIVE_NEVER;
		x = kubeexec_new(&e, NULL, "u", &o);
		r = kubeexec_get(x, &cred, err, sizeof(err));
		CU_ASSERT_EQUAL(r, -EPROTO);
		CU_ASSERT_EQUAL(kubeexec_runs(x), 1);
		kubeexec_free(x);
	}
}

static void
test_exec_parse(void)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\"}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{}}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":5}}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":\"x\"}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Secret\",\"status\":{\"token\":\"t\"}}",
	    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"c\"}}",
	};
	static const struct {
		const char *s;
		time_t t;
	} times[] = {
	    {"2030-01-01T00:00:00Z", 1893456000},
	    {"2030-01-01T00:00:00.123456789Z", 1893456000},
	    {"2030-01-01t00:00:00z", 1893456000},
	    {"2030-01-01T02:30:00+02:30", 1893456000},
	    {"2029-12-31T23:00:00-01:00", 1893456000},
	    {"1970-01-01T00:00:00Z", 0},
	};
	static const char *const bad_times[] = {"2030-01-01",
	    "2030-13-01T00:00:00Z", "2030-01-01T00:00:00",
	    "2030-01-01T00:00:00+0100", "2030-01-01T24:00:00Z",
	    "2030-01-01T00:00:00Zx", "2030-01-01T00:00:00.Z",
	    "2030-02-30T00:00:00Z"};
	const char *ok = "{\"kind\":\"ExecCredential\",\"apiVersion\":"
	                 "\"client.authentication.k8s.io/v1beta1\",\"spec\":{},"
	                 "\"status\":{\"token\":\"k8s-aws-v1.abc\","
	                 "\"expirationTimestamp\":null}}";
	struct kubeexec_cred c;
	char err[KUBEEXEC_ERR_MAX], *info = NULL;
	time_t t;

	CU_ASSERT_EQUAL(kubeexec_parse(KUBECONFIG_EXEC_V1BETA1, ok, strlen(ok),
	                    &c, err, sizeof(err)),
	    0);
	CU_ASSERT_STRING_EQUAL(c.token, "k8s-aws-v1.abc");
	CU_ASSERT_FALSE(c.has_expiry);
	kubeexec_cred_clear(&c);
	CU_ASSERT_EQUAL(kubeexec_parse(KUBECONFIG_EXEC_V1, ok, strlen(ok), &c,
	                    err, sizeof(err)),
	    -EPROTO);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CU_ASSERT_EQUAL(kubeexec_parse(KUBECONFIG_EXEC_V1, bad[i],
		                    strlen(bad[i]), &c, err, sizeof(err)),
		    -EPROTO);
	for (size_t i = 0; i < sizeof(times) / sizeof(*times); i++) {
		CU_ASSERT_EQUAL(kubeexec_parse_time(times[i].s, &t), 0);
		CU_ASSERT_EQUAL(t, times[i].t);
	}
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(*bad_times); i++)
		CU_ASSERT_EQUAL(kubeexec_parse_time(bad_times[i], &t), -EINVAL);

	CU_ASSERT_EQUAL(
	    kubeexec_info_json(KUBECONFIG_EXEC_V1, false, NULL, &info), 0);
	CU_ASSERT_STRING_EQUAL(info,
	    "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\",\"spec\":{\"interactive\":false}}");
	free(info);
	CU_ASSERT_EQUAL(
	    kubeexec_info_json(KUBECONFIG_EXEC_V1, true, "{", &info), -EINVAL);
}

static const struct cunit_test tests[] = {
    {"parse_fields", test_parse_fields},
    {"merge_order", test_merge_order},
    {"load_default", test_load_default},
    {"broken_files", test_broken_files},
    {"hostile_yaml", test_hostile_yaml},
    {"resolve_modes", test_resolve_modes},
    {"resolve_errors", test_resolve_errors},
    {"in_cluster", test_in_cluster},
    {"exec_v1_cache", test_exec_v1_cache},
    {"exec_v1beta1_env", test_exec_v1beta1_env},
    {"exec_failures", test_exec_failures},
    {"exec_parse", test_exec_parse},
};

CUNIT_MAIN("kubeconfig", tests)
