/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of server/env: dotenv parsing (quotes, comments, export,
 * escapes, error line numbers), limits, environ filtering of TELEPOD_* and
 * the ENV_REPLY encoding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/frame.h"
#include "server/env.h"
#include "tests/unit/cunit_main.h"

static const char *
value_of(const struct env *e, const char *name)
{
	const struct env_var *v = env_get(e, name);

	return v ? v->value : NULL;
}

static int
parse_str(struct env *e, const char *text, struct env_error *err)
{
	return env_parse(e, text, strlen(text), err);
}

static void
test_parse_good(void)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "PLAIN=value\n"
	    "  SPACED = spaced value   \n"
	    "export EXPORTED=yes\n"
	    "SQ='single # not a comment \\n'\n"
	    "DQ=\"a\\tb\\nc \\\"q\\\" \\\\ \\$HOME \\x\"\n"
	    "EMPTY=\n"
	    "EMPTYQ=\"\"\n"
	    "COMMENTED=abc # trailing comment\n"
	    "HASH=abc#def\n"
	    "URL=postgres://u:p@db:5432/x?a=b\n"
	    "CRLF=windows\r\n"
	    "QC=\"quoted\"   # comment after quote\n"
	    "MULTI=\"line1\n"
	    "line2\"\n"
	    "dotted.name-x=1\n"
	    "export=plain key named export\n"
	    "PLAIN=replaced";
	struct env e;
	struct env_error err = {0};

	env_init(&e);
	CU_ASSERT_EQUAL_FATAL(parse_str(&e, text, &err), 0);
	CU_ASSERT_STRING_EQUAL(value_of(&e, "PLAIN"), "replaced");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "SPACED"), "spaced value");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "EXPORTED"), "yes");
	CU_ASSERT_STRING_EQUAL(
	    value_of(&e, "SQ"), "single # not a comment \\n");
	CU_ASSERT_STRING_EQUAL(
	    value_of(&e, "DQ"), "a\tb\nc \"q\" \\ $HOME \\x");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "EMPTY"), "");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "EMPTYQ"), "");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "COMMENTED"), "abc");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "HASH"), "abc#def");
	CU_ASSERT_STRING_EQUAL(
	    value_of(&e, "URL"), "postgres://u:p@db:5432/x?a=b");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "CRLF"), "windows");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "QC"), "quoted");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "MULTI"), "line1\nline2");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "dotted.name-x"), "1");
	CU_ASSERT_STRING_EQUAL(
	    value_of(&e, "export"), "plain key named export");
	/* Replacing keeps one entry and the insertion order. */
	CU_ASSERT_EQUAL(e.n, 15);
	CU_ASSERT_STRING_EQUAL(e.vars[0].name, "PLAIN");
	env_clear(&e);
	CU_ASSERT_EQUAL(e.n, 0);
}

static void
expect_error(const char *text, size_t line, const char *why_part)
{
	struct env e;
	struct env_error err = {0};
	int r;

	env_init(&e);
	r = parse_str(&e, text, &err);
	CU_ASSERT_TRUE(r == -EINVAL || r == -EMSGSIZE);
	CU_ASSERT_EQUAL(err.line, line);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err.why);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.why, why_part));
	if (err.line != line || !strstr(err.why, why_part))
		fprintf(stderr, "text %s: line %zu why %s\n", text, err.line,
		    err.why);
	env_clear(&e);
}

static void
test_parse_errors(void)
{
	expect_error("A=1\nB=2\nNOEQUALS\n", 3, "expected '='");
	expect_error("A=1\n\n# c\n=value\n", 4, "variable name");
	expect_error("1ABC=x\n", 1, "variable name");
	expect_error("A=1\nB=\"open\nC=3\n", 2, "unterminated double");
	expect_error("A='open\n", 1, "unterminated single");
	expect_error("A=\"x\" junk\n", 1, "after the closing quote");
	expect_error("A B=1\n", 1, "expected '='");
	expect_error("export\n", 1, "expected '='");
	{
		static const char nul[] = "A=1\nB=\0\n";
		struct env e;
		struct env_error err = {0};

		env_init(&e);
		CU_ASSERT_EQUAL(
		    env_parse(&e, nul, sizeof(nul) - 1, &err), -EINVAL);
		CU_ASSERT_EQUAL(err.line, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.why, "NUL"));
		env_clear(&e);
	}
}

static void
test_limits(void)
{
	size_t big = FRAME_MAX_ENV_VALUE + 1;
	char *text = malloc(big + 16);
	struct env e;
	struct env_error err = {0};

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	/* Unquoted and quoted values one byte over the limit. */
	memcpy(text, "A=", 2);
	memset(text + 2, 'x', big);
	env_init(&e);
	CU_ASSERT_EQUAL(env_parse(&e, text, 2 + big, &err), -EMSGSIZE);
	CU_ASSERT_EQUAL(err.line, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.why, "131072"));
	env_clear(&e);
	memcpy(text, "A=\"", 3);
	memset(text + 3, 'x', big);
	text[3 + big] = '"';
	CU_ASSERT_EQUAL(env_parse(&e, text, 4 + big, &err), -EMSGSIZE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.why, "131072"));
	env_clear(&e);
	/* Exactly at the limit is fine. */
	memcpy(text, "A=x", 3);
	CU_ASSERT_EQUAL_FATAL(env_parse(&e, text, 2 + big - 1, &err), 0);
	CU_ASSERT_EQUAL(env_get(&e, "A")->value_len, FRAME_MAX_ENV_VALUE);
	/* The reply size limit: a second big value still fits, the third
	 * would exceed 256 KiB. */
	text[0] = 'B';
	CU_ASSERT_EQUAL(env_parse(&e, text, 2 + big - 1, &err), -EMSGSIZE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.why, "256 KiB"));
	env_clear(&e);
	free(text);

	env_init(&e);
	CU_ASSERT_EQUAL(env_set(&e, "A=B", 3, "v", 1), -EINVAL);
	CU_ASSERT_EQUAL(env_set(&e, "", 0, "v", 1), -EINVAL);
	for (int i = 0; i < FRAME_MAX_ENV_ENTRIES; i++) {
		char name[16];
		int n = snprintf(name, sizeof(name), "V%d", i);

		CU_ASSERT_EQUAL_FATAL(env_set(&e, name, (size_t)n, "", 0), 0);
	}
	CU_ASSERT_EQUAL(env_set(&e, "ONE_MORE", 8, "", 0), -EMSGSIZE);
	/* Replacing an existing name still works at the entry limit. */
	CU_ASSERT_EQUAL(env_set(&e, "V0", 2, "new", 3), 0);
	CU_ASSERT_STRING_EQUAL(value_of(&e, "V0"), "new");
	env_clear(&e);
}

static void
test_collect(void)
{
	char *envp[] = {"HOME=/root", "TELEPOD_TOKEN=secret",
	    "PATH=/bin:/usr/bin", "NOEQUALS", "=novalue",
	    "EMPTY=", "TELEPOD=kept", "A=b=c", NULL};
	struct env e;

	env_init(&e);
	CU_ASSERT_EQUAL(env_collect(&e, envp), 0);
	CU_ASSERT_EQUAL(e.n, 5);
	CU_ASSERT_STRING_EQUAL(value_of(&e, "HOME"), "/root");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "PATH"), "/bin:/usr/bin");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "EMPTY"), "");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "TELEPOD"), "kept");
	CU_ASSERT_STRING_EQUAL(value_of(&e, "A"), "b=c");
	CU_ASSERT_PTR_NULL(env_get(&e, "TELEPOD_TOKEN"));
	CU_ASSERT_PTR_NULL(env_get(&e, "NOEQUALS"));
	env_clear(&e);
}

static void
test_encode(void)
{
	struct env e;
	uint8_t buf[256];
	struct frame f;
	struct frame_env_iter it;
	struct frame_kv kv;
	uint8_t wire[WIRE_HEADER_LEN + 12 + sizeof(buf)];
	uint32_t werr = 0;
	int n, m;

	env_init(&e);
	CU_ASSERT_EQUAL(env_set(&e, "K1", 2, "v1", 2), 0);
	CU_ASSERT_EQUAL(env_set(&e, "K2", 2, "", 0), 0);
	n = env_encode(&e, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, (int)e.encoded);
	CU_ASSERT_EQUAL(n, 6 + 4 + 6 + 2);
	CU_ASSERT_EQUAL(env_encode(&e, buf, 5), -EMSGSIZE);

	/* The entries decode as an ENV_REPLY. */
	memset(&f, 0, sizeof(f));
	f.h.type = WIRE_ENV_REPLY;
	f.u.env_reply.id = 7;
	f.u.env_reply.count = (uint32_t)e.n;
	f.u.env_reply.entries = buf;
	f.u.env_reply.entries_len = (size_t)n;
	m = frame_encode(&f, wire, sizeof(wire));
	CU_ASSERT_FATAL(m > 0);
	memset(&f, 0, sizeof(f));
	CU_ASSERT_EQUAL_FATAL(frame_decode(wire, (size_t)m, &f, &werr), m);
	frame_env_iter_init(&it, &f);
	CU_ASSERT_TRUE_FATAL(frame_env_next(&it, &kv));
	CU_ASSERT_EQUAL(kv.name_len, 2);
	CU_ASSERT_EQUAL(memcmp(kv.name, "K1", 2), 0);
	CU_ASSERT_EQUAL(memcmp(kv.value, "v1", 2), 0);
	CU_ASSERT_TRUE_FATAL(frame_env_next(&it, &kv));
	CU_ASSERT_EQUAL(kv.value_len, 0);
	CU_ASSERT_FALSE(frame_env_next(&it, &kv));
	env_clear(&e);
}

static void
test_load_file(void)
{
	char path[] = "/tmp/telepod-test-env-XXXXXX";
	static const char text[] = "A=1\nB='two'\nbad line\n";
	struct env e;
	struct env_error err = {0};
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(
	    write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	env_init(&e);
	CU_ASSERT_EQUAL(env_load_file(&e, path, &err), -EINVAL);
	CU_ASSERT_EQUAL(err.line, 3);
	env_clear(&e);
	fd = open(path, O_WRONLY | O_TRUNC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, 12), 12);
	close(fd);
	CU_ASSERT_EQUAL(env_load_file(&e, path, &err), 0);
	CU_ASSERT_STRING_EQUAL(value_of(&e, "B"), "two");
	env_clear(&e);
	unlink(path);
	CU_ASSERT_EQUAL(env_load_file(&e, path, &err), -ENOENT);
	CU_ASSERT_PTR_NULL(err.why);
	CU_ASSERT_EQUAL(env_load_file(&e, "/tmp", &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(err.why);
}

static const struct cunit_test tests[] = {
    {"parse_good", test_parse_good},
    {"parse_errors", test_parse_errors},
    {"limits", test_limits},
    {"collect", test_collect},
    {"encode", test_encode},
    {"load_file", test_load_file},
};

CUNIT_MAIN("env", tests)
