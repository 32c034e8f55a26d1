/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/netstate, the write-ahead ledger of telepodd's
 * network changes: the file round trip across a "crash" (the object freed
 * without undoing), recovery newest first through registered callbacks,
 * atomic replacement (a failed write leaves the old file whole), the lock
 * against a second daemon, records kept when they cannot be undone, and
 * the bounds checks on a file read back. The built-in kinds are replaced
 * by fakes here, so nothing touches the machine's network.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "client/netstate.h"
#include "tests/unit/cunit_main.h"

static char dir[64];
static char path[128];
/* What the fake undo callbacks saw, in order: "kind:detail;..." */
static char calls[1024];
static int fail_kind_resolver; /* resolver undo fails this many times */

static void
fresh_dir(void)
{
	char cmd[160];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CU_ASSERT_EQUAL(system(cmd), 0);
	}
	snprintf(dir, sizeof(dir), "/tmp/test_netstate.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	/* A directory that does not exist yet: netstate_new makes it. */
	snprintf(path, sizeof(path), "%s/run/netstate.json", dir);
	calls[0] = '\0';
	fail_kind_resolver = 0;
}

static void
cleanup_dir(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
	dir[0] = '\0';
}

static int
fake_undo(
    const char *kind, const cJSON *payload, void *arg, char *err, size_t errlen)
{
	char *s = cJSON_PrintUnformatted(payload);
	size_t n = strlen(calls);

	CU_ASSERT_PTR_EQUAL(arg, &calls);
	if (strcmp(kind, "resolver") == 0 && fail_kind_resolver > 0) {
		fail_kind_resolver--;
		snprintf(err, errlen, "resolv.conf is read-only");
		cJSON_free(s);
		return -EROFS;
	}
	snprintf(calls + n, sizeof(calls) - n, "%s:%s;", kind, s ? s : "?");
	cJSON_free(s);
	return 0;
}

static struct netstate *
open_fake(void)
{
	struct netstate *ns = NULL;
	char err[NETSTATE_ERROR_MAX] = "";

	CU_ASSERT_EQUAL_FATAL(netstate_new(path, &ns, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(netstate_register(ns, "tun", fake_undo, &calls), 0);
	CU_ASSERT_EQUAL(netstate_register(ns, "route", fake_undo, &calls), 0);
	CU_ASSERT_EQUAL(
	    netstate_register(ns, "resolver", fake_undo, &calls), 0);
	return ns;
}

static char *
slurp(const char *p)
{
	static char buf[1 << 16];
	FILE *f = fopen(p, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static cJSON *
route_payload(const char *dst, int ifindex)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "dst", dst);
	cJSON_AddNumberToObject(p, "ifindex", ifindex);
	return p;
}

static void
test_roundtrip_and_recover(void)
{
	struct netstate *ns;
	char err[NETSTATE_ERROR_MAX] = "";
	uint64_t tun_id = 0, rid = 0, res_id = 0;
	cJSON *doc, *recs, *p;
	char *text;

	fresh_dir();
	ns = open_fake();
	/* Nothing to recover on a fresh machine. */
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(calls, "");
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	CU_ASSERT_EQUAL(
	    netstate_record_tun(ns, "tel0", 0, &tun_id, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(
	    netstate_update_tun(ns, tun_id, "tel0", 7, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.96.0.0/12", 7), &rid,
	        err, sizeof(err)),
	    0);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "backup", "/run/telepod/resolv.conf.orig");
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "resolver", p, &res_id, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(netstate_count(ns), 3);
	CU_ASSERT_TRUE(tun_id < rid && rid < res_id);

	/* The file says the same, and no temporary file is left. */
	text = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	doc = cJSON_Parse(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(doc, "version")->valuedouble, NETSTATE_VERSION);
	recs = cJSON_GetObjectItem(doc, "records");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(recs), 3);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "kind")
	        ->valuestring,
	    "tun");
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(
	        cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "payload"),
	        "ifindex")
	        ->valuedouble,
	    7);
	cJSON_Delete(doc);
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
	}

	/* "Crash": the object goes without undoing; the next daemon
	 * recovers, newest first, and the file goes. */
	netstate_free(ns);
	ns = open_fake();
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(calls,
	    "resolver:{\"backup\":\"/run/telepod/resolv.conf.orig\"};"
	    "route:{\"dst\":\"10.96.0.0/12\",\"ifindex\":7};"
	    "tun:{\"name\":\"tel0\",\"ifindex\":7};");
	CU_ASSERT_EQUAL(netstate_count(ns), 0);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	/* Ids continue after the recovered ones' (no reuse in one file). */
	calls[0] = '\0';
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.244.0.0/16", 9),
	        &rid, err, sizeof(err)),
	    0);
	CU_ASSERT_TRUE(rid > res_id);
	netstate_free(ns);
	cleanup_dir();
}

static void
test_undo_forget(void)
{
	struct netstate *ns;
	char err[NETSTATE_ERROR_MAX] = "";
	uint64_t a, b, c;

	fresh_dir();
	ns = open_fake();
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.0.0.0/24", 3), &a,
	        err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.0.1.0/24", 3), &b,
	        err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.0.2.0/24", 3), &c,
	        err, sizeof(err)),
	    0);
	/* forget: no callback; undo: the callback, then forgotten. */
	CU_ASSERT_EQUAL(netstate_forget(ns, b, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(calls, "");
	CU_ASSERT_EQUAL(netstate_undo(ns, a, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(
	    calls, "route:{\"dst\":\"10.0.0.0/24\",\"ifindex\":3};");
	CU_ASSERT_EQUAL(netstate_count(ns), 1);
	CU_ASSERT_EQUAL(netstate_forget(ns, b, err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(netstate_undo(ns, 999, err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(
	    netstate_update(ns, 999, cJSON_CreateObject(), err, sizeof(err)),
	    -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(path), "10.0.2.0/24"));
	CU_ASSERT_PTR_NULL(strstr(slurp(path), "10.0.1.0/24"));
	calls[0] = '\0';
	CU_ASSERT_EQUAL(netstate_undo_all(ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(
	    calls, "route:{\"dst\":\"10.0.2.0/24\",\"ifindex\":3};");
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	/* Bad kinds are refused (and the payload freed: ASan checks). */
	CU_ASSERT_EQUAL(netstate_record(ns, "Route", cJSON_CreateObject(), NULL,
	                    err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(netstate_record(ns, "", cJSON_CreateObject(), NULL, err,
	                    sizeof(err)),
	    -EINVAL);
	CU_ASSERT_EQUAL(netstate_register(ns, "a/b", fake_undo, NULL), -EINVAL);
	netstate_free(ns);
	cleanup_dir();
}

static void
test_atomic_write(void)
{
	struct netstate *ns;
	char err[NETSTATE_ERROR_MAX] = "", tmp[160];
	static char before[1 << 16];
	uint64_t id;

	fresh_dir();
	ns = open_fake();
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.0.0.0/24", 3), &id,
	        err, sizeof(err)),
	    0);
	snprintf(before, sizeof(before), "%s", slurp(path));
	/* Make the temporary file impossible: the record must fail, the
	 * old file stay byte for byte, memory not keep the record. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0700), 0);
	CU_ASSERT_TRUE(
	    netstate_record(ns, "route", route_payload("10.0.1.0/24", 3), NULL,
	        err, sizeof(err)) < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot write"));
	CU_ASSERT_STRING_EQUAL(slurp(path), before);
	CU_ASSERT_EQUAL(netstate_count(ns), 1);
	/* An update that cannot be written keeps the old payload. */
	CU_ASSERT_TRUE(netstate_update(ns, id, route_payload("10.9.9.0/24", 3),
	                   err, sizeof(err)) < 0);
	CU_ASSERT_STRING_EQUAL(slurp(path), before);
	CU_ASSERT_EQUAL(rmdir(tmp), 0);
	CU_ASSERT_EQUAL(netstate_undo_all(ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(
	    calls, "route:{\"dst\":\"10.0.0.0/24\",\"ifindex\":3};");
	netstate_free(ns);
	cleanup_dir();
}

static void
test_lock(void)
{
	struct netstate *a, *b = NULL;
	char err[NETSTATE_ERROR_MAX] = "";

	fresh_dir();
	a = open_fake();
	CU_ASSERT_EQUAL(netstate_new(path, &b, err, sizeof(err)), -EBUSY);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "another telepodd is running"));
	netstate_free(a);
	CU_ASSERT_EQUAL(netstate_new(path, &b, err, sizeof(err)), 0);
	netstate_free(b);
	cleanup_dir();
}

static void
test_kept_when_not_undone(void)
{
	struct netstate *ns;
	char err[NETSTATE_ERROR_MAX] = "";
	cJSON *p;

	fresh_dir();
	ns = open_fake();
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "route", route_payload("10.0.0.0/24", 3), NULL,
	        err, sizeof(err)),
	    0);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "backup", "x");
	CU_ASSERT_EQUAL(
	    netstate_record(ns, "resolver", p, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(netstate_record(ns, "firewall", cJSON_CreateObject(),
	                    NULL, err, sizeof(err)),
	    0);
	netstate_free(ns);

	/* No module for "firewall", resolver's undo fails once: both stay
	 * (memory and file), the route goes. */
	ns = open_fake();
	fail_kind_resolver = 1;
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), -EAGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"firewall\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "and more"));
	CU_ASSERT_STRING_EQUAL(
	    calls, "route:{\"dst\":\"10.0.0.0/24\",\"ifindex\":3};");
	CU_ASSERT_EQUAL(netstate_count(ns), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(path), "firewall"));
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(path), "resolver"));
	CU_ASSERT_PTR_NULL(strstr(slurp(path), "10.0.0.0/24"));
	netstate_free(ns);

	/* Once a module handles them, the next start clears everything. */
	calls[0] = '\0';
	ns = open_fake();
	CU_ASSERT_EQUAL(
	    netstate_register(ns, "firewall", fake_undo, &calls), 0);
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(
	    calls, "firewall:{};resolver:{\"backup\":\"x\"};");
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	netstate_free(ns);
	cleanup_dir();
}

static void
test_bad_files(void)
{
	static const char *const bad[] = {
	    "not json",
	    "[]",
	    "{\"records\":[]}",
	    "{\"version\":2,\"records\":[]}",
	    "{\"version\":1}",
	    "{\"version\":1,\"records\":[{\"kind\":\"route\",\"payload\":{}}]}",
	    "{\"version\":1,\"records\":[{\"id\":0,\"kind\":\"route\",\"payload\":{}}]}",
	    "{\"version\":1,\"records\":[{\"id\":1.5,\"kind\":\"route\",\"payload\":{}}]}",
	    "{\"version\":1,\"records\":[{\"id\":1,\"kind\":\"Route\",\"payload\":{}}]}",
	    "{\"version\":1,\"records\":[{\"id\":1,\"kind\":\"route\"}]}",
	    "{\"version\":1,\"records\":[{\"id\":1,\"kind\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"payload\":{}}]}",
	};
	char err[NETSTATE_ERROR_MAX], aside[160];
	struct netstate *ns;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		fresh_dir();
		ns = open_fake();
		write_file(path, bad[i]);
		err[0] = '\0';
		CU_ASSERT_EQUAL(
		    netstate_recover(ns, err, sizeof(err)), -EBADMSG);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "moved it to"));
		CU_ASSERT_STRING_EQUAL(calls, "");
		CU_ASSERT_EQUAL(netstate_count(ns), 0);
		snprintf(aside, sizeof(aside), "%s.corrupt", path);
		CU_ASSERT_EQUAL(access(aside, F_OK), 0);
		CU_ASSERT_EQUAL(access(path, F_OK), -1);
		netstate_free(ns);
		cleanup_dir();
	}
}

static void
test_limits(void)
{
	char err[NETSTATE_ERROR_MAX] = "";
	struct netstate *ns;
	FILE *f;

	/* One record more than allowed. */
	fresh_dir();
	ns = open_fake();
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("{\"version\":1,\"records\":[", f);
	for (int i = 0; i <= NETSTATE_MAX_RECORDS; i++)
		fprintf(f, "%s{\"id\":%d,\"kind\":\"route\",\"payload\":{}}",
		    i ? "," : "", i + 1);
	fputs("]}", f);
	fclose(f);
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_STRING_EQUAL(calls, "");
	netstate_free(ns);
	cleanup_dir();

	/* A file over the size limit is not even parsed. */
	fresh_dir();
	ns = open_fake();
	write_file(path, "{}");
	CU_ASSERT_EQUAL(truncate(path, NETSTATE_MAX_FILE + 1), 0);
	CU_ASSERT_EQUAL(netstate_recover(ns, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes"));
	netstate_free(ns);
	cleanup_dir();

	/* Paths too long or empty are refused up front. */
	CU_ASSERT_EQUAL(netstate_new("", &ns, err, sizeof(err)), -EINVAL);
}

static const struct cunit_test tests[] = {
    {"roundtrip_and_recover", test_roundtrip_and_recover},
    {"undo_forget", test_undo_forget},
    {"atomic_write", test_atomic_write},
    {"lock", test_lock},
    {"kept_when_not_undone", test_kept_when_not_undone},
    {"bad_files", test_bad_files},
    {"limits", test_limits},
};

CUNIT_MAIN("netstate", tests)
