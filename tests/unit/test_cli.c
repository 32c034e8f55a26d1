/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/cliutil, the daemon-free logic of the telepod CLI:
 * each command's arguments and usage errors, dotenv/sh/json output of
 * tricky values (read back through /bin/sh and cJSON), the env merge of
 * `run`, choosing a session, the TLS directory check and the status table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/cliutil.h"
#include "client/ctl.h"
#include "tests/unit/cunit_main.h"

#define ARGV(...) ((char *[]){"telepod", __VA_ARGS__, NULL})

static char err[1024];

/* Parses a NULL-terminated argv. */
static int
parse(char **argv, const char *env_socket, struct cliutil_args *a)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	err[0] = '\0';
	return cliutil_parse(argc, argv, env_socket, a, err, sizeof(err));
}

static void
test_parse_connect(void)
{
	struct cliutil_args a;

	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "tp.example.com:8443",
	                          "--tls-dir", "certs", "-n", "dev", "--no-tun",
	                          "--server-name", "tp", "--timeout", "5"),
	                    NULL, &a),
	    0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_CONNECT);
	CU_ASSERT_FALSE(a.help);
	CU_ASSERT_STRING_EQUAL(a.server, "tp.example.com:8443");
	CU_ASSERT_STRING_EQUAL(a.tls_dir, "certs");
	CU_ASSERT_STRING_EQUAL(a.ns, "dev");
	CU_ASSERT_TRUE(a.no_tun);
	CU_ASSERT_STRING_EQUAL(a.server_name, "tp");
	CU_ASSERT_EQUAL(a.timeout_s, 5);
	CU_ASSERT_STRING_EQUAL(a.socket_path, CTL_DEFAULT_SOCKET);

	/* Defaults; --namespace long form; IPv6 server. */
	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--server", "[::1]:1", "--tls-dir", "/d"),
	        NULL, &a),
	    0);
	CU_ASSERT_STRING_EQUAL(a.ns, "default");
	CU_ASSERT_FALSE(a.no_tun);
	CU_ASSERT_PTR_NULL(a.server_name);
	CU_ASSERT_EQUAL(a.timeout_s, CLIUTIL_DEFAULT_TIMEOUT_S);

	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--tls-dir", "/d"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing --server"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "telepod connect --help"));
	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--server", "h:1"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing --tls-dir"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "telepod certs create"));
	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--server", "nohost", "--tls-dir", "/d"),
	        NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid --server \"nohost\""));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "-n", "Bad_NS"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid namespace"));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--timeout", "0"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--timeout", "601"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--timeout", "5s"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--bogus"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown option --bogus"));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--server needs a value"));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "extra"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unexpected argument \"extra\""));
	/* --help wins over missing options. */
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--help"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_CONNECT);
}

static void
test_parse_socket(void)
{
	struct cliutil_args a;

	CU_ASSERT_EQUAL(parse(ARGV("status"), "/env.sock", &a), 0);
	CU_ASSERT_STRING_EQUAL(a.socket_path, "/env.sock");
	CU_ASSERT_EQUAL(parse(ARGV("status"), "", &a), 0);
	CU_ASSERT_STRING_EQUAL(a.socket_path, CTL_DEFAULT_SOCKET);
	CU_ASSERT_EQUAL(
	    parse(ARGV("--socket", "/opt.sock", "status"), "/env.sock", &a), 0);
	CU_ASSERT_STRING_EQUAL(a.socket_path, "/opt.sock");
	CU_ASSERT_EQUAL(
	    parse(ARGV("status", "--socket", "/late.sock"), "/env.sock", &a),
	    0);
	CU_ASSERT_STRING_EQUAL(a.socket_path, "/late.sock");
	CU_ASSERT_EQUAL(parse(ARGV("--socket"), NULL, &a), -EINVAL);
}

static void
test_parse_status_quit_env(void)
{
	struct cliutil_args a;

	CU_ASSERT_EQUAL(parse(ARGV("status"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_STATUS);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_TEXT);
	CU_ASSERT_EQUAL(parse(ARGV("status", "-o", "json"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_JSON);
	CU_ASSERT_EQUAL(parse(ARGV("status", "--output=text"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_TEXT);
	CU_ASSERT_EQUAL(parse(ARGV("status", "-o", "sh"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "text or json"));
	CU_ASSERT_EQUAL(parse(ARGV("status", "-n", "dev"), NULL, &a), -EINVAL);

	CU_ASSERT_EQUAL(parse(ARGV("quit"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_QUIT);
	CU_ASSERT_PTR_NULL(a.ns);
	CU_ASSERT_EQUAL(parse(ARGV("quit", "-n", "dev"), NULL, &a), 0);
	CU_ASSERT_STRING_EQUAL(a.ns, "dev");
	CU_ASSERT_EQUAL(parse(ARGV("quit", "dev"), NULL, &a), -EINVAL);

	CU_ASSERT_EQUAL(parse(ARGV("env"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_ENV);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_DOTENV);
	CU_ASSERT_PTR_NULL(a.ns);
	CU_ASSERT_EQUAL(
	    parse(ARGV("env", "-n", "dev", "-o", "sh"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_SH);
	CU_ASSERT_STRING_EQUAL(a.ns, "dev");
	CU_ASSERT_EQUAL(parse(ARGV("env", "-o", "json"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_JSON);
	CU_ASSERT_EQUAL(parse(ARGV("env", "-o", "dotenv"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.format, CLIUTIL_FMT_DOTENV);
	CU_ASSERT_EQUAL(parse(ARGV("env", "-o", "text"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "dotenv, json or sh"));
	CU_ASSERT_EQUAL(parse(ARGV("env", "-o"), NULL, &a), -EINVAL);
}

static void
test_parse_run(void)
{
	struct cliutil_args a;

	CU_ASSERT_EQUAL(
	    parse(ARGV("run", "-n", "dev", "--", "ls", "-l", "--x"), NULL, &a),
	    0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_RUN);
	CU_ASSERT_STRING_EQUAL(a.ns, "dev");
	CU_ASSERT_FALSE(a.override_all);
	CU_ASSERT_STRING_EQUAL(a.run_argv[0], "ls");
	CU_ASSERT_STRING_EQUAL(a.run_argv[1], "-l");
	CU_ASSERT_STRING_EQUAL(a.run_argv[2], "--x");
	CU_ASSERT_PTR_NULL(a.run_argv[3]);
	/* Without "--", options stop at the command. */
	CU_ASSERT_EQUAL(
	    parse(ARGV("run", "--override-all", "env", "-0"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.override_all);
	CU_ASSERT_PTR_NULL(a.ns);
	CU_ASSERT_STRING_EQUAL(a.run_argv[0], "env");
	CU_ASSERT_STRING_EQUAL(a.run_argv[1], "-0");
	CU_ASSERT_EQUAL(parse(ARGV("run"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing the command"));
	CU_ASSERT_EQUAL(
	    parse(ARGV("run", "-n", "dev", "--"), NULL, &a), -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("run", "--help", "--", "x"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
}

static void
test_parse_certs(void)
{
	struct cliutil_args a;

	CU_ASSERT_EQUAL(parse(ARGV("certs", "create", "--out", "/tmp/x",
	                          "--server-name", "a.example", "--server-name",
	                          "10.0.0.1", "--days", "90", "--force"),
	                    NULL, &a),
	    0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_CERTS_CREATE);
	CU_ASSERT_STRING_EQUAL(a.out_dir, "/tmp/x");
	CU_ASSERT_EQUAL(a.n_server_names, 2);
	CU_ASSERT_STRING_EQUAL(a.server_names[0], "a.example");
	CU_ASSERT_STRING_EQUAL(a.server_names[1], "10.0.0.1");
	CU_ASSERT_EQUAL(a.days, 90);
	CU_ASSERT_TRUE(a.force);
	CU_ASSERT_EQUAL(
	    parse(ARGV("certs", "create", "--out", "d"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.days, CLIUTIL_DEFAULT_DAYS);
	CU_ASSERT_EQUAL(a.n_server_names, 0);
	CU_ASSERT_FALSE(a.force);
	CU_ASSERT_EQUAL(parse(ARGV("certs", "create"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing --out"));
	CU_ASSERT_EQUAL(parse(ARGV("certs"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"create\""));
	CU_ASSERT_EQUAL(parse(ARGV("certs", "delete"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown subcommand \"delete\""));
	CU_ASSERT_EQUAL(
	    parse(ARGV("certs", "create", "--out", "d", "--days", "36501"),
	        NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("certs", "--help"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_CERTS_CREATE);
	CU_ASSERT_EQUAL(parse(ARGV("certs", "create", "--help"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_STRING_EQUAL(
	    cliutil_cmd_name(CLIUTIL_CMD_CERTS_CREATE), "certs create");
}

static void
test_parse_many_server_names(void)
{
	char *argv[4 + 2 * CLIUTIL_MAX_SERVER_NAMES + 3];
	struct cliutil_args a;
	int n = 0;

	argv[n++] = "telepod";
	argv[n++] = "certs";
	argv[n++] = "create";
	argv[n++] = "--out=d";
	for (int i = 0; i < CLIUTIL_MAX_SERVER_NAMES; i++) {
		argv[n++] = "--server-name";
		argv[n++] = "x.example";
	}
	argv[n] = NULL;
	CU_ASSERT_EQUAL(parse(argv, NULL, &a), 0);
	CU_ASSERT_EQUAL(a.n_server_names, CLIUTIL_MAX_SERVER_NAMES);
	argv[n++] = "--server-name";
	argv[n++] = "one-too-many";
	argv[n] = NULL;
	CU_ASSERT_EQUAL(parse(argv, NULL, &a), -EINVAL);
}

static void
test_parse_global(void)
{
	struct cliutil_args a;
	char *none[] = {"telepod", NULL};

	CU_ASSERT_EQUAL(parse(none, NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no command"));
	CU_ASSERT_EQUAL(parse(ARGV("--help"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_NONE);
	CU_ASSERT_EQUAL(parse(ARGV("-h"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(parse(ARGV("--version"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_VERSION);
	CU_ASSERT_FALSE(a.help);
	CU_ASSERT_EQUAL(parse(ARGV("-V"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_VERSION);
	CU_ASSERT_EQUAL(parse(ARGV("version"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_VERSION);
	CU_ASSERT_EQUAL(parse(ARGV("version", "x"), NULL, &a), -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("help"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_NONE);
	CU_ASSERT_EQUAL(parse(ARGV("help", "env"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.help);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_ENV);
	CU_ASSERT_EQUAL(parse(ARGV("help", "certs"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_CERTS_CREATE);
	CU_ASSERT_EQUAL(parse(ARGV("help", "nope"), NULL, &a), -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("frob"), NULL, &a), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown command \"frob\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "telepod --help"));
	CU_ASSERT_EQUAL(parse(ARGV("-x", "status"), NULL, &a), -EINVAL);
	/* demo: --keep, --down DIR, not both, nothing else. */
	CU_ASSERT_EQUAL(parse(ARGV("demo"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_DEMO);
	CU_ASSERT_FALSE(a.keep);
	CU_ASSERT_PTR_NULL(a.down_dir);
	CU_ASSERT_EQUAL(parse(ARGV("demo", "--keep"), NULL, &a), 0);
	CU_ASSERT_TRUE(a.keep);
	CU_ASSERT_EQUAL(parse(ARGV("demo", "--down", "/tmp/d"), NULL, &a), 0);
	CU_ASSERT_STRING_EQUAL(a.down_dir, "/tmp/d");
	CU_ASSERT_EQUAL(
	    parse(ARGV("demo", "--keep", "--down", "/tmp/d"), NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("demo", "x"), NULL, &a), -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("help", "demo"), NULL, &a), 0);
	CU_ASSERT_EQUAL(a.cmd, CLIUTIL_CMD_DEMO);
}

static void
test_parse_connect_routes(void)
{
	struct cliutil_args a;
	char buf[CIDR_STR_MAX];

	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--tun-name", "tp0", "--also-proxy",
	                          "10.0.0.0/8,fd00::/64", "--also-proxy",
	                          "192.0.2.7", "--never-proxy", "10.96.0.0/16",
	                          "--allow-conflicting-subnet", "10.96.0.0/12"),
	                    NULL, &a),
	    0);
	CU_ASSERT_STRING_EQUAL(a.tun_name, "tp0");
	CU_ASSERT_EQUAL(a.n_also_proxy, 3);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&a.also_proxy[0], buf, sizeof(buf)), "10.0.0.0/8");
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&a.also_proxy[1], buf, sizeof(buf)), "fd00::/64");
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&a.also_proxy[2], buf, sizeof(buf)), "192.0.2.7/32");
	CU_ASSERT_EQUAL(a.n_never_proxy, 1);
	CU_ASSERT_EQUAL(a.n_allow_conflicting, 1);
	CU_ASSERT_STRING_EQUAL(
	    cidr_format(&a.allow_conflicting[0], buf, sizeof(buf)),
	    "10.96.0.0/12");

	/* Defaults: nothing extra, the daemon's device name. */
	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--server", "h:1", "--tls-dir", "/d"), NULL,
	        &a),
	    0);
	CU_ASSERT_PTR_NULL(a.tun_name);
	CU_ASSERT_EQUAL(
	    a.n_also_proxy + a.n_never_proxy + a.n_allow_conflicting, 0);

	/* Host bits set: refused with the prefix the user probably meant. */
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--never-proxy", "10.96.1.0/12"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did you mean 10.96.0.0/12?"));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--also-proxy", "10.0.0.0/8,"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--also-proxy", "gateway"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--also-proxy \"gateway\""));
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--tun-name", "a/b"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--tun-name", "0123456789abcdef"),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_EQUAL(
	    parse(ARGV("connect", "--server", "h:1", "--tls-dir", "/d",
	              "--no-tun", "--also-proxy", "10.0.0.0/8"),
	        NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--no-tun routes nothing"));
}

/* More than CLIUTIL_MAX_CIDRS prefixes are refused. */
static void
test_parse_many_cidrs(void)
{
	struct cliutil_args a;
	char list[CLIUTIL_MAX_CIDRS * 20];
	size_t n = 0;

	for (int i = 0; i <= CLIUTIL_MAX_CIDRS; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n,
		    "%s10.%d.0.0/16", i ? "," : "", i);
	CU_ASSERT_EQUAL(parse(ARGV("connect", "--server", "h:1", "--tls-dir",
	                          "/d", "--also-proxy", list),
	                    NULL, &a),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most"));
}

static void
test_usage_texts(void)
{
	static const enum cliutil_cmd cmds[] = {CLIUTIL_CMD_NONE,
	    CLIUTIL_CMD_HELP, CLIUTIL_CMD_VERSION, CLIUTIL_CMD_CONNECT,
	    CLIUTIL_CMD_STATUS, CLIUTIL_CMD_QUIT, CLIUTIL_CMD_ENV,
	    CLIUTIL_CMD_RUN, CLIUTIL_CMD_CERTS_CREATE, CLIUTIL_CMD_DEMO};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		char want[64];

		cliutil_usage(f, cmds[i]);
		fclose(f);
		snprintf(want, sizeof(want), "Usage: telepod %s",
		    cliutil_cmd_name(cmds[i]));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, want));
		free(buf);
	}
}

static void
test_hostport(void)
{
	CU_ASSERT_TRUE(cliutil_valid_hostport("a:1"));
	CU_ASSERT_TRUE(cliutil_valid_hostport("telepod.example.com:8443"));
	CU_ASSERT_TRUE(cliutil_valid_hostport("10.0.0.1:65535"));
	CU_ASSERT_TRUE(cliutil_valid_hostport("[2001:db8::1]:443"));
	CU_ASSERT_FALSE(cliutil_valid_hostport(""));
	CU_ASSERT_FALSE(cliutil_valid_hostport("host"));
	CU_ASSERT_FALSE(cliutil_valid_hostport(":80"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h:"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h:0"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h:65536"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h:+80"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h: 80"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("h:80x"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("2001:db8::1:443"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("[]:443"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("[::1]443"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("[::1x]:443"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("a b:1"));
	CU_ASSERT_FALSE(cliutil_valid_hostport("a;rm:1"));
}

/* ---- environment ---- */

static void
test_quote_sh(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", "''"},
	    {"plain", "'plain'"},
	    {"it's", "'it'\\''s'"},
	    {"'", "''\\'''"},
	    {"a b\nc", "'a b\nc'"},
	    {"$HOME `id` \\n \"q\"", "'$HOME `id` \\n \"q\"'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *q = cliutil_quote_sh(cases[i].in);

		CU_ASSERT_STRING_EQUAL(q, cases[i].out);
		free(q);
	}
}

static void
test_quote_dotenv(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},
	    {"postgres://db:5432/app", "postgres://db:5432/app"},
	    {"a-b_c.d@e+f,g%h~i^j", "a-b_c.d@e+f,g%h~i^j"},
	    {"hello world", "'hello world'"},
	    {"$HOME", "'$HOME'"},
	    {"a\"b", "'a\"b'"},
	    {"x=y", "'x=y'"},
	    {"#not a comment", "'#not a comment'"},
	    {"it's", "\"it's\""},
	    {"line1\nline2", "\"line1\\nline2\""},
	    {"cr\rtab\t", "\"cr\\rtab\\t\""},
	    {"back\\slash", "\"back\\\\slash\""},
	    {"it's $HOME \"q\"", "\"it's \\$HOME \\\"q\\\"\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *q = cliutil_quote_dotenv(cases[i].in);

		CU_ASSERT_STRING_EQUAL(q, cases[i].out);
		free(q);
	}
}

static const char tricky_env[] =
    "{\"B_SPACES\":\"a  b \",\"A_QUOTES\":\"it's \\\"x\\\"\","
    "\"C_NL\":\"one\\ntwo\\n\",\"D_DOLLAR\":\"$HOME ${X} $(id) `id`\","
    "\"E_BACKSLASH\":\"\\\\n\\\\\",\"F_EMPTY\":\"\",\"bad-name\":\"x\","
    "\"1BAD\":\"x\",\"G_NUM\":5,\"H_UTF8\":\"caf\\u00e9 \\u2603\","
    "\"I_MIX\":\"'\\\"'$\\\\\\t\\r\"}";

static char *
write_to_string(
    const cJSON *env, enum cliutil_format fmt, int *ret_n, size_t *ret_skipped)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*ret_n = cliutil_env_write(f, env, fmt, ret_skipped);
	fclose(f);
	return buf;
}

static void
test_env_write_sh_roundtrip(void)
{
	cJSON *env = cJSON_Parse(tricky_env);
	char path[] = "/tmp/test_cli_sh.XXXXXX";
	size_t skipped = 99;
	const cJSON *it;
	char *out;
	int n, fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(env);
	out = write_to_string(env, CLIUTIL_FMT_SH, &n, &skipped);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_EQUAL(skipped, 3);
	CU_ASSERT_PTR_NULL(strstr(out, "bad-name"));
	CU_ASSERT_PTR_NULL(strstr(out, "1BAD"));
	/* Sorted by name. */
	CU_ASSERT_TRUE(strstr(out, "A_QUOTES") < strstr(out, "B_SPACES"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(out, "export A_QUOTES='it'\\''s \"x\"'\n"));
	/* Read it back with a real shell, value by value. */
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	cJSON_ArrayForEach(it, env)
	{
		char cmd[PATH_MAX + 128], *got = NULL;
		size_t cap = 0, len = 0;
		ssize_t r;
		FILE *p;

		if (!cJSON_IsString(it) || !cliutil_valid_env_name(it->string))
			continue;
		snprintf(cmd, sizeof(cmd), "sh -c '. %s && printf %%s \"$%s\"'",
		    path, it->string);
		p = popen(cmd, "r");
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		got = malloc(1024);
		cap = 1024;
		while ((r = (ssize_t)fread(got + len, 1, cap - len - 1, p)) > 0)
			len += (size_t)r;
		got[len] = '\0';
		CU_ASSERT_EQUAL(pclose(p), 0);
		CU_ASSERT_STRING_EQUAL(got, it->valuestring);
		free(got);
	}
	unlink(path);
	free(out);
	cJSON_Delete(env);
}

static void
test_env_write_dotenv_and_json(void)
{
	cJSON *env = cJSON_Parse(tricky_env), *back;
	size_t skipped = 99;
	char *out;
	int n;

	out = write_to_string(env, CLIUTIL_FMT_DOTENV, &n, &skipped);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_EQUAL(skipped, 3);
	CU_ASSERT_STRING_EQUAL(out, "A_QUOTES=\"it's \\\"x\\\"\"\n"
	                            "B_SPACES='a  b '\n"
	                            "C_NL=\"one\\ntwo\\n\"\n"
	                            "D_DOLLAR='$HOME ${X} $(id) `id`'\n"
	                            "E_BACKSLASH=\"\\\\n\\\\\"\n"
	                            "F_EMPTY=\n"
	                            "H_UTF8='caf\xc3\xa9 \xe2\x98\x83'\n"
	                            "I_MIX=\"'\\\"'\\$\\\\\\t\\r\"\n");
	free(out);

	/* JSON keeps every string (any name is fine there), drops G_NUM. */
	out = write_to_string(env, CLIUTIL_FMT_JSON, &n, &skipped);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(skipped, 1);
	back = cJSON_Parse(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(back), 10);
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(back, "C_NL")->valuestring, "one\ntwo\n");
	CU_ASSERT_STRING_EQUAL(
	    cJSON_GetObjectItem(back, "bad-name")->valuestring, "x");
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(back, "G_NUM"));
	cJSON_Delete(back);
	free(out);

	out = write_to_string(env, CLIUTIL_FMT_TEXT, &n, &skipped);
	CU_ASSERT_EQUAL(n, -EINVAL);
	free(out);
	cJSON_Delete(env);
	back = cJSON_CreateArray();
	out = write_to_string(back, CLIUTIL_FMT_SH, &n, &skipped);
	CU_ASSERT_EQUAL(n, -EINVAL);
	free(out);
	cJSON_Delete(back);
}

static void
test_json_write(void)
{
	const char *src = "{\"a\":[1,\"x\\n\",{}],\"b\":{\"c\":null,"
	                  "\"d\\\"\":[]},\"e\":true}";
	cJSON *in = cJSON_Parse(src), *back;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_EQUAL(cliutil_json_write(f, in), 0);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "{\n  \"a\": [\n    1,\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"d\\\"\": []"));
	back = cJSON_Parse(buf);
	CU_ASSERT_TRUE(cJSON_Compare(in, back, true));
	cJSON_Delete(back);
	cJSON_Delete(in);
	free(buf);
}

static const char *
env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

static size_t
env_count(char **envp)
{
	size_t n = 0;

	while (envp[n])
		n++;
	return n;
}

static void
test_env_merge(void)
{
	char *local[] = {"PATH=/usr/bin", "HOME=/home/ana", "LANG=C",
	    "DATABASE_URL=sqlite://local", "TERM=xterm", NULL};
	cJSON *env = cJSON_Parse(
	    "{\"DATABASE_URL\":\"postgres://db\",\"PATH\":\"/remote\","
	    "\"HOME\":\"/root\",\"SHELL\":\"/bin/ash\",\"USER\":\"app\","
	    "\"TERM\":\"dumb\",\"NEW\":\"a=b\\nc\",\"bad name\":\"x\","
	    "\"N\":1}");
	char **envp = NULL;
	size_t skipped = 0;

	CU_ASSERT_EQUAL_FATAL(
	    cliutil_env_merge(local, env, false, &envp, &skipped), 0);
	CU_ASSERT_EQUAL(skipped, 2);
	CU_ASSERT_STRING_EQUAL(env_get(envp, "PATH"), "/usr/bin");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "HOME"), "/home/ana");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "TERM"), "xterm");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "LANG"), "C");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "DATABASE_URL"), "postgres://db");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "NEW"), "a=b\nc");
	/* Protected names unset here stay unset. */
	CU_ASSERT_PTR_NULL(env_get(envp, "SHELL"));
	CU_ASSERT_PTR_NULL(env_get(envp, "USER"));
	CU_ASSERT_PTR_NULL(env_get(envp, "bad name"));
	CU_ASSERT_EQUAL(env_count(envp), 6);
	cliutil_env_free(envp);

	CU_ASSERT_EQUAL_FATAL(
	    cliutil_env_merge(local, env, true, &envp, &skipped), 0);
	CU_ASSERT_STRING_EQUAL(env_get(envp, "PATH"), "/remote");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "HOME"), "/root");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "TERM"), "dumb");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "SHELL"), "/bin/ash");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "USER"), "app");
	CU_ASSERT_STRING_EQUAL(env_get(envp, "LANG"), "C");
	CU_ASSERT_EQUAL(env_count(envp), 8);
	cliutil_env_free(envp);

	/* A local variable that is a prefix of a remote one is not hit. */
	{
		char *l2[] = {"DATABASE=x", NULL};
		cJSON *e2 = cJSON_Parse("{\"DATABASE_URL\":\"y\"}");

		CU_ASSERT_EQUAL(
		    cliutil_env_merge(l2, e2, false, &envp, &skipped), 0);
		CU_ASSERT_STRING_EQUAL(env_get(envp, "DATABASE"), "x");
		CU_ASSERT_STRING_EQUAL(env_get(envp, "DATABASE_URL"), "y");
		cliutil_env_free(envp);
		cJSON_Delete(e2);
	}
	CU_ASSERT_TRUE(cliutil_env_protected("PATH"));
	CU_ASSERT_FALSE(cliutil_env_protected("PATHX"));
	CU_ASSERT_FALSE(cliutil_env_protected("LANG"));
	CU_ASSERT_EQUAL(
	    cliutil_env_merge(local, NULL, false, &envp, &skipped), -EINVAL);
	cJSON_Delete(env);
}

static void
test_env_names(void)
{
	CU_ASSERT_TRUE(cliutil_valid_env_name("A"));
	CU_ASSERT_TRUE(cliutil_valid_env_name("_a1"));
	CU_ASSERT_FALSE(cliutil_valid_env_name(""));
	CU_ASSERT_FALSE(cliutil_valid_env_name("1A"));
	CU_ASSERT_FALSE(cliutil_valid_env_name("A-B"));
	CU_ASSERT_FALSE(cliutil_valid_env_name("A;rm -rf /"));
	CU_ASSERT_FALSE(cliutil_valid_env_name("A=B"));
}

/* ---- sessions and status ---- */

static void
test_pick_namespace(void)
{
	cJSON *st = cJSON_Parse(
	    "{\"ok\":true,\"connections\":[{\"namespace\":\"dev\","
	    "\"owner_uid\":1000},{\"namespace\":\"ops\",\"owner_uid\":1001}]}");
	cJSON *none = cJSON_Parse("{\"ok\":true,\"connections\":[]}");
	const char *ns = NULL;

	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(st, 1000, &ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(ns, "dev");
	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(st, 1001, &ns, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(ns, "ops");
	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(st, 1002, &ns, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "telepod connect"));
	/* Root may command both: ambiguous. */
	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(st, 0, &ns, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "dev, ops"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "-n NAMESPACE"));
	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(none, 0, &ns, err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(
	    cliutil_pick_namespace(NULL, 0, &ns, err, sizeof(err)), -ENOENT);
	cJSON_Delete(st);
	cJSON_Delete(none);
}

static void
touch(const char *dir, const char *name, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, mode);
	CU_ASSERT(fd >= 0);
	close(fd);
}

static void
test_check_tls_dir(void)
{
	char dir[] = "/tmp/test_cli_tls.XXXXXX";
	char abs[PATH_MAX], cwd[PATH_MAX], path[PATH_MAX];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL(
	    cliutil_check_tls_dir(dir, abs, sizeof(abs), err, sizeof(err)),
	    -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ca.crt is missing"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "telepod certs create --out"));
	touch(dir, "ca.crt", 0644);
	touch(dir, "client.crt", 0644);
	CU_ASSERT_EQUAL(
	    cliutil_check_tls_dir(dir, abs, sizeof(abs), err, sizeof(err)),
	    -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "client.key is missing"));
	snprintf(path, sizeof(path), "%s/client.key", dir);
	CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
	CU_ASSERT_EQUAL(
	    cliutil_check_tls_dir(dir, abs, sizeof(abs), err, sizeof(err)),
	    -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
	rmdir(path);
	touch(dir, "client.key", 0600);
	/* A relative path comes back absolute. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL(chdir("/tmp"), 0);
	CU_ASSERT_EQUAL(
	    cliutil_check_tls_dir(dir + 5, abs, sizeof(abs), err, sizeof(err)),
	    0);
	CU_ASSERT_STRING_EQUAL(abs, dir);
	CU_ASSERT_EQUAL(chdir(cwd), 0);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	CU_ASSERT_EQUAL(
	    cliutil_check_tls_dir(path, abs, sizeof(abs), err, sizeof(err)),
	    -ENOTDIR);
	CU_ASSERT_EQUAL(cliutil_check_tls_dir("/nonexistent/telepod", abs,
	                    sizeof(abs), err, sizeof(err)),
	    -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
	CU_ASSERT_EQUAL(cliutil_check_tls_dir(dir, abs, 4, err, sizeof(err)),
	    -ENAMETOOLONG);
	unlink(path);
	snprintf(path, sizeof(path), "%s/client.crt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/client.key", dir);
	unlink(path);
	rmdir(dir);
}

static void
test_format_numbers(void)
{
	char b[32];

	cliutil_format_duration(b, sizeof(b), 0);
	CU_ASSERT_STRING_EQUAL(b, "0s");
	cliutil_format_duration(b, sizeof(b), 59);
	CU_ASSERT_STRING_EQUAL(b, "59s");
	cliutil_format_duration(b, sizeof(b), 302);
	CU_ASSERT_STRING_EQUAL(b, "5m02s");
	cliutil_format_duration(b, sizeof(b), 7380);
	CU_ASSERT_STRING_EQUAL(b, "2h03m");
	cliutil_format_duration(b, sizeof(b), 3 * 86400 + 4 * 3600 + 5);
	CU_ASSERT_STRING_EQUAL(b, "3d04h");
	cliutil_format_duration(b, sizeof(b), -1);
	CU_ASSERT_STRING_EQUAL(b, "-");
	cliutil_format_bytes(b, sizeof(b), 512);
	CU_ASSERT_STRING_EQUAL(b, "512 B");
	cliutil_format_bytes(b, sizeof(b), 1536);
	CU_ASSERT_STRING_EQUAL(b, "1.5 KiB");
	cliutil_format_bytes(b, sizeof(b), 3 * 1024 * 1024 + 200 * 1024);
	CU_ASSERT_STRING_EQUAL(b, "3.2 MiB");
	cliutil_format_bytes(b, sizeof(b), 1LL << 30);
	CU_ASSERT_STRING_EQUAL(b, "1.0 GiB");
	cliutil_format_bytes(b, sizeof(b), -1);
	CU_ASSERT_STRING_EQUAL(b, "-");
}

/* Not inlined: GCC 12 then mistakes the returned buffer for a dangling
 * pointer. */
static char *__attribute__((noinline)) render(const char *json)
{
	cJSON *st = cJSON_Parse(json);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cliutil_status_render(f, st);
	fclose(f);
	cJSON_Delete(st);
	return buf;
}

static void
test_status_render(void)
{
	char *out = render(
	    "{\"ok\":true,\"daemon\":{\"version\":\"0.1.0\",\"pid\":812,"
	    "\"uptime_s\":3605,\"socks\":\"127.0.0.1:1080\"},\"connections\":["
	    "{\"namespace\":\"dev\",\"server\":\"tp.example.com:8443\","
	    "\"state\":\"connected\",\"owner_uid\":1000,\"subnets\":"
	    "[\"10.96.0.0/12\",\"10.244.0.0/16\"],\"streams_open\":2,"
	    "\"streams_total\":41,\"bytes_in\":181022,\"bytes_out\":9120,"
	    "\"uptime_s\":63,\"reconnects\":1,\"last_error\":"
	    "\"tls: \\u001b[31mexpired\\nx\"},"
	    "{\"namespace\":\"other-namespace\",\"state\":\"reconnecting\","
	    "\"owner_uid\":1001,\"subnets\":[],\"cluster_subnets\":"
	    "[\"10.0.0.0/8\",\"fd00::/8\"]}]}");
	const char *row, *row2, *head;

	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "telepodd 0.1.0, pid 812, up 1h00m, SOCKS5 on 127.0.0.1:1080\n"));
	head = strstr(out, "NAMESPACE        STATE         SERVER");
	CU_ASSERT_PTR_NOT_NULL(head);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "RECONNECTS\n"));
	row = strstr(out, "dev              connected     tp.example.com:8443  "
	                  "1000   1m03s   2/41     176.8 KiB  8.9 KiB  1\n");
	CU_ASSERT_PTR_NOT_NULL(row);
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    out, "  subnets: 10.96.0.0/12, 10.244.0.0/16\n  last error"));
	/* Control characters from the wire never reach the terminal. */
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(out, "  last error: tls: ?[31mexpired?x\n"));
	CU_ASSERT_PTR_NULL(strchr(out, '\x1b'));
	row2 = strstr(out, "other-namespace  reconnecting  -      ");
	CU_ASSERT_PTR_NOT_NULL(row2);
	CU_ASSERT_TRUE(head < row && row < row2);
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    out, "  cluster subnets (via SOCKS5): 10.0.0.0/8, fd00::/8\n"));
	/* Shown only when nothing is routed: not under the first row. */
	CU_ASSERT_TRUE(strstr(out, "cluster subnets") > row2);
	free(out);

	/* TUN mode: the device, the DNS and each subnet left out. */
	out = render(
	    "{\"ok\":true,\"daemon\":{},\"connections\":[{\"namespace\":"
	    "\"jakub\",\"state\":\"connected\",\"subnets\":[],\"tun\":true,"
	    "\"tun_name\":\"tel0\",\"cluster_subnets\":[\"10.96.0.0/12\"],"
	    "\"skipped_subnets\":[{\"subnet\":\"10.96.0.0/12\",\"reason\":"
	    "\"10.96.0.0/12 overlaps 10.100.0.0/16 via eth0; not routed\"}],"
	    "\"dns\":{\"mode\":\"resolv.conf\",\"server\":\"198.18.0.1\"}}]}");
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "  tun: tel0; cluster DNS via resolv.conf (stub on 198.18.0.1)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  warning: 10.96.0.0/12 overlaps "
	                                   "10.100.0.0/16 via eth0; not "
	                                   "routed\n"));
	free(out);

	/* The kernel fast path, on and off (absent above: said nothing). */
	out = render(
	    "{\"ok\":true,\"daemon\":{},\"connections\":[{\"namespace\":"
	    "\"jakub\",\"state\":\"connected\",\"tun\":true,\"tun_name\":"
	    "\"tel0\",\"fast_path\":true,\"dns\":{\"mode\":\"resolv.conf\","
	    "\"server\":\"198.18.0.1\"}}]}");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  tun: tel0 (kernel fast path); "
	                                   "cluster DNS via resolv.conf"));
	free(out);
	out = render(
	    "{\"ok\":true,\"daemon\":{},\"connections\":[{\"namespace\":"
	    "\"jakub\",\"state\":\"connected\",\"tun\":true,\"tun_name\":"
	    "\"tel0\",\"fast_path\":false,\"dns\":{\"mode\":\"resolv.conf\","
	    "\"server\":\"198.18.0.1\"}}]}");
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "  tun: tel0 (no kernel fast path: telepodd carries every packet; "
	    "see telepodd's log); cluster DNS via resolv.conf"));
	free(out);

	out = render("{\"ok\":true,\"daemon\":{\"version\":\"0.1.0\"},"
	             "\"connections\":[]}");
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(out, "telepodd 0.1.0, up -, SOCKS5 on -\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "No sessions."));
	free(out);
	out = render("{\"ok\":true}");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "No sessions."));
	free(out);
}

static const struct cunit_test tests[] = {
    {"parse_connect", test_parse_connect},
    {"parse_connect_routes", test_parse_connect_routes},
    {"parse_many_cidrs", test_parse_many_cidrs},
    {"parse_socket", test_parse_socket},
    {"parse_status_quit_env", test_parse_status_quit_env},
    {"parse_run", test_parse_run},
    {"parse_certs", test_parse_certs},
    {"parse_many_server_names", test_parse_many_server_names},
    {"parse_global", test_parse_global},
    {"usage_texts", test_usage_texts},
    {"hostport", test_hostport},
    {"quote_sh", test_quote_sh},
    {"quote_dotenv", test_quote_dotenv},
    {"env_write_sh_roundtrip", test_env_write_sh_roundtrip},
    {"env_write_dotenv_and_json", test_env_write_dotenv_and_json},
    {"json_write", test_json_write},
    {"env_merge", test_env_merge},
    {"env_names", test_env_names},
    {"pick_namespace", test_pick_namespace},
    {"check_tls_dir", test_check_tls_dir},
    {"format_numbers", test_format_numbers},
    {"status_render", test_status_render},
};

CUNIT_MAIN("cli", tests)
