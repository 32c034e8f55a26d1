/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli: the `telepod` command. It parses its command line (client/cliutil),
 * sends one or two requests to telepodd over the control socket
 * (client/ctl, proto/CONTROL.md) and turns the answers into output and an
 * exit code: 0 ok, 1 the operation failed, 2 usage error, 3 telepodd cannot
 * be reached, 4 no such session; `run` execs the command and so exits with
 * its status (127 not found, 126 not executable). `certs create` works
 * offline through common/certs. Blocking I/O is fine here: the CLI has
 * nothing else to do while it waits.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cliutil.h"
#include "client/ctl.h"
#include "client/kconnect.h"
#include "common/certs.h"
#include "common/log.h"

/* How long to wait for quick answers (status, quit, env). */
#define CLI_TIMEOUT_MS (30 * 1000)
/* How long `version` waits for the daemon before saying it is unreachable. */
#define CLI_VERSION_TIMEOUT_MS (2 * 1000)
/* Extra wait beyond --timeout: the daemon gives up first and says why. */
#define CLI_CONNECT_GRACE_S 10

/* Prints "telepod CMD: msg" to stderr. */
static void cli_err(const struct cliutil_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cli_err(const struct cliutil_args *a, const char *fmt, ...)
{
	const char *name = cliutil_cmd_name(a->cmd);
	va_list ap;

	fprintf(stderr, "telepod%s%s: ", name[0] ? " " : "", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Connects to telepodd, or says why not and returns the exit code. */
static int
cli_open(const struct cliutil_args *a, struct ctl_conn **ret_conn)
{
	char err[1024];

	if (ctl_connect(a->socket_path, ret_conn, err, sizeof(err)) < 0) {
		cli_err(a, "%s", err);
		return CLIUTIL_EXIT_UNREACHABLE;
	}
	return CLIUTIL_EXIT_OK;
}

/*
 * Sends req and waits for the final answer. Returns 0 with *ret_resp, or
 * the exit code after saying what went wrong: 3 when the daemon went away,
 * 1 otherwise. A final "ok": false answer is returned as is.
 */
static int
cli_request(const struct cliutil_args *a, struct ctl_conn *conn,
    const cJSON *req, int timeout_ms, ctl_progress_fn progress,
    cJSON **ret_resp)
{
	char err[1024];
	int r;

	r = ctl_call(
	    conn, req, timeout_ms, progress, NULL, ret_resp, err, sizeof(err));
	if (r == 0)
		return CLIUTIL_EXIT_OK;
	if (r == -ETIMEDOUT)
		cli_err(a,
		    "telepodd did not answer within %d s; see its log (journalctl -u telepodd)",
		    timeout_ms / 1000);
	else
		cli_err(a, "%s", err);
	return r == -ECONNRESET || r == -EPIPE ? CLIUTIL_EXIT_UNREACHABLE
	                                       : CLIUTIL_EXIT_FAILED;
}

/* Reports a failed answer; returns its exit code. */
static int
cli_failed(const struct cliutil_args *a, const cJSON *resp)
{
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(resp, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(resp, "error");
	char text[2048], token[64];

	cliutil_clean(text, sizeof(text),
	    cJSON_IsString(msg) ? msg->valuestring : "telepodd refused");
	/* The stable code too, for scripts and bug reports. */
	cliutil_clean(token, sizeof(token),
	    cJSON_IsString(code) ? code->valuestring : "unknown");
	cli_err(a, "%s [%s]", text, token);
	if (cJSON_IsString(code) &&
	    strcmp(code->valuestring, CTL_E_NOT_CONNECTED) == 0)
		return CLIUTIL_EXIT_NOT_CONNECTED;
	return CLIUTIL_EXIT_FAILED;
}

/* cli_request, with a final "ok": false answer reported (cli_failed) and
 * its exit code returned; *ret_resp is set either way. */
static int
cli_call(const struct cliutil_args *a, struct ctl_conn *conn, const cJSON *req,
    int timeout_ms, ctl_progress_fn progress, cJSON **ret_resp)
{
	int rc = cli_request(a, conn, req, timeout_ms, progress, ret_resp);

	if (rc == 0 &&
	    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*ret_resp, "ok")))
		rc = cli_failed(a, *ret_resp);
	return rc;
}

static cJSON *
cli_req_new(const char *cmd)
{
	cJSON *req = cJSON_CreateObject();

	if (req && !cJSON_AddStringToObject(req, "cmd", cmd)) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

static void
cli_progress(const cJSON *resp, void *arg)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(resp, "message");
	const cJSON *stage = cJSON_GetObjectItemCaseSensitive(resp, "progress");
	char text[512];

	if (cJSON_IsString(msg) && msg->valuestring[0])
		cliutil_clean(text, sizeof(text), msg->valuestring);
	else if (cJSON_IsString(stage))
		cliutil_clean(text, sizeof(text), stage->valuestring);
	else
		return;
	fprintf(stderr, "telepod: %s...\n", text);
}

/* Adds name: [prefixes] to req unless n is 0. Returns false when out of
 * memory. */
static bool
cli_add_cidrs(cJSON *req, const char *name, const struct cidr *v, size_t n)
{
	cJSON *arr;

	if (n == 0)
		return true;
	arr = cJSON_AddArrayToObject(req, name);
	if (!arr)
		return false;
	for (size_t i = 0; i < n; i++) {
		char buf[CIDR_STR_MAX];
		cJSON *item =
		    cJSON_CreateString(cidr_format(&v[i], buf, sizeof(buf)));

		if (!item)
			return false;
		cJSON_AddItemToArray(arr, item);
	}
	return true;
}

/* Prints "telepod: LABEL a, b, c" for an array of strings (nothing when
 * empty). */
static void
cli_print_list(const char *label, const cJSON *arr, const char *tail)
{
	const cJSON *s;
	char text[256];
	bool first = true;

	if (!cJSON_IsArray(arr))
		return;
	cJSON_ArrayForEach(s, arr)
	{
		if (!cJSON_IsString(s))
			continue;
		cliutil_clean(text, sizeof(text), s->valuestring);
		fprintf(stderr, "%s%s", first ? label : ", ", text);
		first = false;
	}
	if (!first)
		fprintf(stderr, "%s\n", tail);
}

/* Tells what connect set up: the routes, the subnets left out and why,
 * and the resolver. */
static void
cli_connect_report(const cJSON *resp)
{
	const cJSON *it, *s;
	char text[1024];

	it = cJSON_GetObjectItemCaseSensitive(resp, "socks");
	if (cJSON_IsString(it)) {
		cliutil_clean(text, sizeof(text), it->valuestring);
		fprintf(stderr, "telepod: SOCKS5 proxy on %s\n", text);
	}
	it = cJSON_GetObjectItemCaseSensitive(resp, "tun_name");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "tun")) &&
	    cJSON_IsString(it)) {
		cliutil_clean(text, sizeof(text), it->valuestring);
		fprintf(stderr, "telepod: TUN device %s\n", text);
	}
	cli_print_list("telepod: routing ",
	    cJSON_GetObjectItemCaseSensitive(resp, "subnets"),
	    " through the tunnel");
	it = cJSON_GetObjectItemCaseSensitive(resp, "skipped_subnets");
	if (cJSON_IsArray(it)) {
		cJSON_ArrayForEach(s, it)
		{
			const cJSON *why =
			    cJSON_GetObjectItemCaseSensitive(s, "reason");

			if (!cJSON_IsString(why))
				continue;
			cliutil_clean(text, sizeof(text), why->valuestring);
			fprintf(stderr, "telepod: warning: %s\n", text);
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(resp, "dns");
	if (cJSON_IsObject(it)) {
		const cJSON *mode =
		    cJSON_GetObjectItemCaseSensitive(it, "mode");

		cliutil_clean(text, sizeof(text),
		    cJSON_IsString(mode) ? mode->valuestring : "?");
		fprintf(
		    stderr, "telepod: DNS through the tunnel (%s) for ", text);
		cli_print_list("",
		    cJSON_GetObjectItemCaseSensitive(it, "domains"),
		    " and single-label names");
	}
}

static int
cli_connect(const struct cliutil_args *a)
{
	char abs[PATH_MAX], err[1024];
	struct ctl_conn *conn = NULL;
	cJSON *req = NULL, *resp = NULL;
	const cJSON *it;
	int rc;

	if (cliutil_check_tls_dir(
	        a->tls_dir, abs, sizeof(abs), err, sizeof(err)) < 0) {
		cli_err(a, "%s", err);
		return CLIUTIL_EXIT_FAILED;
	}
	rc = cli_open(a, &conn);
	if (rc)
		return rc;
	req = cli_req_new("connect");
	if (!req || !cJSON_AddStringToObject(req, "server", a->server) ||
	    !cJSON_AddStringToObject(req, "tls_dir", abs) ||
	    !cJSON_AddStringToObject(req, "namespace", a->ns) ||
	    !cJSON_AddBoolToObject(req, "no_tun", a->no_tun) ||
	    (a->tun_name &&
	        !cJSON_AddStringToObject(req, "tun_name", a->tun_name)) ||
	    !cli_add_cidrs(req, "also_proxy", a->also_proxy, a->n_also_proxy) ||
	    !cli_add_cidrs(
	        req, "never_proxy", a->never_proxy, a->n_never_proxy) ||
	    !cli_add_cidrs(req, "allow_conflicting", a->allow_conflicting,
	        a->n_allow_conflicting) ||
	    (a->server_name &&
	        !cJSON_AddStringToObject(req, "server_name", a->server_name)) ||
	    !cJSON_AddNumberToObject(req, "timeout_s", a->timeout_s)) {
		cli_err(a, "out of memory");
		rc = CLIUTIL_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "telepod: connecting namespace %s via %s...\n", a->ns,
	    a->server);
	rc = cli_call(a, conn, req, (a->timeout_s + CLI_CONNECT_GRACE_S) * 1000,
	    cli_progress, &resp);
	if (rc)
		goto out;
	printf("Connected to namespace %s via %s\n", a->ns, a->server);
	it = cJSON_GetObjectItemCaseSensitive(resp, "warning");
	if (cJSON_IsString(it) && it->valuestring[0]) {
		cliutil_clean(err, sizeof(err), it->valuestring);
		fprintf(stderr, "telepod: warning: %s\n", err);
	}
	cli_connect_report(resp);
out:
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	return rc;
}

static int
cli_status(const struct cliutil_args *a)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = cli_req_new("status"), *resp = NULL;
	int rc;

	rc = cli_open(a, &conn);
	if (rc)
		goto out;
	rc = cli_call(a, conn, req, CLI_TIMEOUT_MS, NULL, &resp);
	if (rc)
		goto out;
	if (a->format == CLIUTIL_FMT_JSON) {
		if (cliutil_json_write(stdout, resp) < 0) {
			cli_err(a, "out of memory");
			rc = CLIUTIL_EXIT_FAILED;
		}
	} else {
		cliutil_status_render(stdout, resp);
	}
out:
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	return rc;
}

static int
cli_quit(const struct cliutil_args *a)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = cli_req_new("quit"), *resp = NULL;
	const cJSON *list = NULL, *it;
	int rc, n = 0;

	if (a->ns && !cJSON_AddStringToObject(req, "namespace", a->ns)) {
		cJSON_Delete(req);
		return CLIUTIL_EXIT_FAILED;
	}
	rc = cli_open(a, &conn);
	if (rc)
		goto out;
	rc = cli_call(a, conn, req, CLI_TIMEOUT_MS, NULL, &resp);
	if (rc)
		goto out;
	list = cJSON_GetObjectItemCaseSensitive(resp, "disconnected");
	if (!cJSON_IsArray(list))
		list = NULL;
	cJSON_ArrayForEach(it, list)
	{
		char ns[128];

		if (!cJSON_IsString(it))
			continue;
		cliutil_clean(ns, sizeof(ns), it->valuestring);
		printf("Disconnected namespace %s\n", ns);
		n++;
	}
	if (n == 0) {
		cli_err(a, "no session to disconnect");
		rc = CLIUTIL_EXIT_NOT_CONNECTED;
	}
out:
	/* A namespace connected through Kubernetes: end the user's
	 * port-forward process too, once telepodd has let go of it. */
	cJSON_ArrayForEach(it, list)
	{
		char err[512];

		if (cJSON_IsString(it) &&
		    kconnect_stop(it->valuestring, err, sizeof(err)) < 0)
			cli_err(a, "%s", err);
	}
	if (a->ns != NULL && n == 0) {
		char err[512];

		if (kconnect_stop(a->ns, err, sizeof(err)) < 0)
			cli_err(a, "%s", err);
	}
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	return rc;
}

/*
 * Fetches the environment of -n (or of the caller's only session) on conn.
 * Returns 0 with *ret_resp (its "env" member is the object), or the exit
 * code after saying what went wrong.
 */
static int
cli_fetch_env(
    const struct cliutil_args *a, struct ctl_conn *conn, cJSON **ret_resp)
{
	const char *ns = a->ns;
	cJSON *status = NULL, *req = NULL, *resp = NULL;
	char err[1024];
	int rc, r;

	if (!ns) {
		req = cli_req_new("status");
		rc = cli_call(a, conn, req, CLI_TIMEOUT_MS, NULL, &status);
		cJSON_Delete(req);
		req = NULL;
		if (rc)
			goto out;
		r = cliutil_pick_namespace(
		    status, getuid(), &ns, err, sizeof(err));
		if (r < 0) {
			cli_err(a, "%s", err);
			rc = r == -ENOENT ? CLIUTIL_EXIT_NOT_CONNECTED
			                  : CLIUTIL_EXIT_USAGE;
			goto out;
		}
	}
	req = cli_req_new("env");
	if (!req || !cJSON_AddStringToObject(req, "namespace", ns)) {
		cli_err(a, "out of memory");
		rc = CLIUTIL_EXIT_FAILED;
		goto out;
	}
	rc = cli_call(a, conn, req, CLI_TIMEOUT_MS, NULL, &resp);
	if (rc)
		goto out;
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(resp, "env"))) {
		cli_err(a,
		    "telepodd's answer has no \"env\" object; is it the same version as this CLI?");
		rc = CLIUTIL_EXIT_FAILED;
		goto out;
	}
	*ret_resp = resp;
	resp = NULL;
out:
	cJSON_Delete(resp);
	cJSON_Delete(req);
	cJSON_Delete(status);
	return rc;
}

static void
cli_report_skipped(const struct cliutil_args *a, size_t skipped)
{
	if (skipped)
		cli_err(a,
		    "skipped %zu variable%s whose name is not a valid variable name or whose value is not a string",
		    skipped, skipped == 1 ? "" : "s");
}

static int
cli_env(const struct cliutil_args *a)
{
	struct ctl_conn *conn = NULL;
	cJSON *resp = NULL;
	size_t skipped = 0;
	int rc, r;

	rc = cli_open(a, &conn);
	if (rc)
		return rc;
	rc = cli_fetch_env(a, conn, &resp);
	if (rc)
		goto out;
	r = cliutil_env_write(stdout,
	    cJSON_GetObjectItemCaseSensitive(resp, "env"), a->format, &skipped);
	if (r < 0) {
		cli_err(a, "cannot format the environment: %s", strerror(-r));
		rc = CLIUTIL_EXIT_FAILED;
		goto out;
	}
	cli_report_skipped(a, skipped);
	if (fflush(stdout) != 0) {
		cli_err(a, "cannot write the output: %s", strerror(errno));
		rc = CLIUTIL_EXIT_FAILED;
	}
out:
	ctl_json_wipe(resp);
	cJSON_Delete(resp);
	ctl_conn_free(conn);
	return rc;
}

static int
cli_run(const struct cliutil_args *a)
{
	struct ctl_conn *conn = NULL;
	cJSON *resp = NULL;
	char **envp = NULL;
	size_t skipped = 0;
	int rc, r, e;

	rc = cli_open(a, &conn);
	if (rc)
		return rc;
	rc = cli_fetch_env(a, conn, &resp);
	ctl_conn_free(conn);
	if (rc)
		return rc;
	r = cliutil_env_merge(environ,
	    cJSON_GetObjectItemCaseSensitive(resp, "env"), a->override_all,
	    &envp, &skipped);
	/* The values are secrets: leave no copy behind but the new environ. */
	ctl_json_wipe(resp);
	cJSON_Delete(resp);
	if (r < 0) {
		cli_err(a, "cannot build the environment: %s", strerror(-r));
		return CLIUTIL_EXIT_FAILED;
	}
	cli_report_skipped(a, skipped);
	fflush(stdout);
	fflush(stderr);
	/* execvp searches the PATH of the new environment (local unless
	 * --override-all) and hands that environment to the command. */
	environ = envp;
	execvp(a->run_argv[0], a->run_argv);
	e = errno;
	if (e == ENOENT) {
		cli_err(a, "%s: command not found", a->run_argv[0]);
		return CLIUTIL_EXIT_NOT_FOUND;
	}
	cli_err(a, "cannot execute %s: %s", a->run_argv[0], strerror(e));
	return CLIUTIL_EXIT_CANNOT_EXECUTE;
}

static int
cli_certs_create(const struct cliutil_args *a)
{
	char err[1024];
	int r;

	r = certs_create(a->out_dir, a->server_names, a->n_server_names,
	    a->days, a->force ? CERTS_FORCE : 0, err, sizeof(err));
	if (r < 0) {
		cli_err(a, "%s%s", err,
		    r == -EEXIST ? " Run again with --force to do that." : "");
		return CLIUTIL_EXIT_FAILED;
	}
	printf("Created the certificates in %s:\n", a->out_dir);
	printf("  %-10s %-10s  the CA (keep %s private: it signs everything)\n",
	    CERTS_CA_CRT, CERTS_CA_KEY, CERTS_CA_KEY);
	printf("  %-10s %-10s  for telepod-server, with %s\n", CERTS_SERVER_CRT,
	    CERTS_SERVER_KEY, CERTS_CA_CRT);
	printf("  %-10s %-10s  for this machine: telepod connect --tls-dir %s "
	       "--server HOST:PORT\n",
	    CERTS_CLIENT_CRT, CERTS_CLIENT_KEY, a->out_dir);
	return CLIUTIL_EXIT_OK;
}

static int
cli_version(const struct cliutil_args *a)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = cli_req_new("version"), *resp = NULL;
	const cJSON *ver, *proto;
	char err[1024], text[128];
	int r;

	printf("telepod %s (protocol %d)\n", PACKAGE_VERSION, CTL_PROTOCOL);
	fflush(stdout);
	r = ctl_connect(a->socket_path, &conn, err, sizeof(err));
	if (r == 0)
		r = ctl_call(conn, req, CLI_VERSION_TIMEOUT_MS, NULL, NULL,
		    &resp, err, sizeof(err));
	if (r < 0) {
		printf("telepodd: not reachable\n");
		fprintf(stderr, "telepod version: %s\n", err);
		goto out;
	}
	ver = cJSON_GetObjectItemCaseSensitive(resp, "version");
	proto = cJSON_GetObjectItemCaseSensitive(resp, "protocol");
	if (!cJSON_IsString(ver) || !cJSON_IsNumber(proto)) {
		printf("telepodd: unknown version\n");
		goto out;
	}
	cliutil_clean(text, sizeof(text), ver->valuestring);
	printf("telepodd %s (protocol %d)\n", text, proto->valueint);
	if (proto->valueint != CTL_PROTOCOL)
		fprintf(stderr,
		    "telepod version: telepodd speaks control protocol %d and this CLI %d; install matching versions\n",
		    proto->valueint, CTL_PROTOCOL);
out:
	cJSON_Delete(resp);
	cJSON_Delete(req);
	ctl_conn_free(conn);
	return CLIUTIL_EXIT_OK;
}

/* Copies dirname of path into out; false when it does not fit. */
static bool
cli_dirname(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (!slash || n >= cap)
		return false;
	memcpy(out, path, n);
	out[n] = '\0';
	return true;
}

/* True when a and b name the same existing directory. */
static bool
cli_same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * `telepod demo` runs the demo script (client/telepod-demo.sh): from the
 * source tree when this binary is the one of the build tree it was built
 * in (./dev.sh demo, make check), else the installed copy. The script is
 * told where the programs are through TELEPOD_DEMO_* variables, so it runs
 * this very build and never another telepod on the PATH.
 * $TELEPOD_DEMO_SCRIPT overrides the script (tests).
 */
static int
cli_demo(const struct cliutil_args *a)
{
	char exe[PATH_MAX], dir[PATH_MAX], script[PATH_MAX + 64];
	const char *override = getenv("TELEPOD_DEMO_SCRIPT");
	char *argv[4];
	int n = 0, e;

	if (!realpath("/proc/self/exe", exe) ||
	    !cli_dirname(exe, dir, sizeof(dir))) {
		cli_err(a, "cannot find where this program lives: %s",
		    strerror(errno));
		return CLIUTIL_EXIT_FAILED;
	}
	if (setenv("TELEPOD_DEMO_CLI", exe, 1) < 0)
		return CLIUTIL_EXIT_FAILED;
	if (cli_same_dir(dir, TELEPOD_TOP_BUILDDIR "/client")) {
		snprintf(script, sizeof(script), "%s",
		    TELEPOD_TOP_SRCDIR "/client/telepod-demo.sh");
		if (setenv("TELEPOD_DEMO_BUILDDIR", TELEPOD_TOP_BUILDDIR, 1) <
		        0 ||
		    setenv("TELEPOD_DEMO_SRCDIR", TELEPOD_TOP_SRCDIR, 1) < 0)
			return CLIUTIL_EXIT_FAILED;
	} else {
		snprintf(script, sizeof(script), "%s",
		    TELEPOD_PKGLIBEXECDIR "/telepod-demo");
		if (setenv("TELEPOD_DEMO_SBINDIR", TELEPOD_SBINDIR, 1) < 0 ||
		    setenv("TELEPOD_DEMO_LIBEXECDIR", TELEPOD_PKGLIBEXECDIR,
		        1) < 0)
			return CLIUTIL_EXIT_FAILED;
	}
	if (override && override[0])
		snprintf(script, sizeof(script), "%s", override);
	argv[n++] = script;
	if (a->keep) {
		argv[n++] = "--keep";
	} else if (a->down_dir) {
		argv[n++] = "--down";
		argv[n++] = (char *)a->down_dir;
	}
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	execv(script, argv);
	e = errno;
	cli_err(a, "cannot run the demo script %s: %s%s", script, strerror(e),
	    e == ENOENT ? " (is telepod installed completely? from a source "
	                  "tree, run ./dev.sh demo)"
	                : "");
	return e == ENOENT ? CLIUTIL_EXIT_NOT_FOUND
	                   : CLIUTIL_EXIT_CANNOT_EXECUTE;
}

int
main(int argc, char **argv)
{
	struct cliutil_args a;
	char err[1024];

	log_init("telepod", LOG_LEVEL_WARN);
	/* connect without --server, and uninstall: through Kubernetes. */
	if (kconnect_wants(argc, argv))
		return kconnect_main(argc, argv);
	if (cliutil_parse(
	        argc, argv, getenv(CTL_SOCKET_ENV), &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return CLIUTIL_EXIT_USAGE;
	}
	if (a.help) {
		cliutil_usage(stdout, a.cmd);
		return CLIUTIL_EXIT_OK;
	}
	switch (a.cmd) {
	case CLIUTIL_CMD_VERSION:
		return cli_version(&a);
	case CLIUTIL_CMD_CONNECT:
		return cli_connect(&a);
	case CLIUTIL_CMD_STATUS:
		return cli_status(&a);
	case CLIUTIL_CMD_QUIT:
		return cli_quit(&a);
	case CLIUTIL_CMD_ENV:
		return cli_env(&a);
	case CLIUTIL_CMD_RUN:
		return cli_run(&a);
	case CLIUTIL_CMD_CERTS_CREATE:
		return cli_certs_create(&a);
	case CLIUTIL_CMD_DEMO:
		return cli_demo(&a);
	default:
		cliutil_usage(stderr, CLIUTIL_CMD_NONE);
		return CLIUTIL_EXIT_USAGE;
	}
}
