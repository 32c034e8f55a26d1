/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeexec: runs a kubeconfig exec credential plugin and caches what it
 * prints. Everything the child needs (the resolved program path, argv, the
 * environment) is built before fork(), so the child only calls
 * async-signal-safe functions (the tests run it beside threads). A
 * close-on-exec pipe reports an exec() failure back to the parent. The
 * parent reads stdout (and stderr when not interactive) with poll() under
 * a deadline, then reaps the child; on timeout or oversized output it kills
 * the plugin's process group (a non-interactive plugin leads its own group,
 * so helpers it spawned die too).
 */
#include "common/kubeexec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "common/errbuf.h"
#include "common/log.h"

extern char **environ;

struct kubeexec {
	struct kubeconfig_exec *exec;
	char *cluster_json;
	char *user;
	struct kubeexec_opts opts;
	struct kubeexec_cred cred;
	bool have_cred;
	unsigned runs;
};

static void
kx_wipe_str(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
kubeexec_cred_clear(struct kubeexec_cred *c)
{
	kx_wipe_str(c->token);
	kx_wipe_str(c->client_cert_pem);
	kx_wipe_str(c->client_key_pem);
	memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------------- */
/* time */

static int
kx_digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int
kubeexec_parse_time(const char *s, time_t *ret)
{
	static const int mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	time_t t;

	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (kx_digits(s, 4, &y) || kx_digits(s + 5, 2, &mo) ||
	    kx_digits(s + 8, 2, &d) || kx_digits(s + 11, 2, &h) ||
	    kx_digits(s + 14, 2, &mi) || kx_digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		if (s[3] != ':' || kx_digits(s + 1, 2, &oh) ||
		    kx_digits(s + 4, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		s += 6;
	} else {
		return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
		return -EINVAL;
	*ret = t - sign * (time_t)(oh * 3600 + om * 60);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* the ExecCredential */

/* A short, escaped excerpt of peer text for a message. */
static const char *
kx_excerpt(char *out, size_t cap, const char *in, size_t len)
{
	size_t l = len > 120 ? 120 : len;

	while (l > 0 && (in[l - 1] == '\n' || in[l - 1] == '\r'))
		l--;
	return log_escape(out, cap, in, l);
}

static int
kx_opt_string(
    const cJSON *obj, const char *name, char **ret, char *err, size_t errlen)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);

	*ret = NULL;
	if (j == NULL || cJSON_IsNull(j))
		return 0;
	if (!cJSON_IsString(j)) {
		errbuf_set(err, errlen, "status.%s is not a string", name);
		return -EPROTO;
	}
	if (j->valuestring[0] == '\0')
		return 0;
	if ((*ret = strdup(j->valuestring)) == NULL)
		return -ENOMEM;
	return 0;
}

int
kubeexec_parse(const char *api_version, const char *buf, size_t len,
    struct kubeexec_cred *ret, char *err, size_t errlen)
{
	struct kubeexec_cred c = {0};
	const cJSON *av, *kind, *status, *exp;
	char ex[256];
	cJSON *root;
	int r = -EPROTO;

	if (len > KUBEEXEC_MAX_OUTPUT) {
		errbuf_set(err, errlen, "printed more than %u bytes",
		    KUBEEXEC_MAX_OUTPUT);
		return -EMSGSIZE;
	}
	root = cJSON_ParseWithLength(buf, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		errbuf_set(err, errlen,
		    "printed something that is not an ExecCredential (JSON): \"%s\"",
		    kx_excerpt(ex, sizeof(ex), buf, len));
		goto out;
	}
	av = cJSON_GetObjectItemCaseSensitive(root, "apiVersion");
	kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	if (!cJSON_IsString(kind) ||
	    strcmp(kind->valuestring, "ExecCredential") != 0) {
		errbuf_set(err, errlen,
		    "printed JSON whose kind is not ExecCredential");
		goto out;
	}
	if (!cJSON_IsString(av) || strcmp(av->valuestring, api_version) != 0) {
		errbuf_set(err, errlen,
		    "is configured to use API version %s, but it returned version %s",
		    api_version,
		    cJSON_IsString(av) ? log_escape(ex, 96, av->valuestring,
		                             strlen(av->valuestring))
		                       : "(none)");
		goto out;
	}
	status = cJSON_GetObjectItemCaseSensitive(root, "status");
	if (status == NULL || cJSON_IsNull(status)) {
		errbuf_set(err, errlen, "did not return a status field");
		goto out;
	}
	if (!cJSON_IsObject(status)) {
		errbuf_set(
		    err, errlen, "returned a status that is not an object");
		goto out;
	}
	if ((r = kx_opt_string(status, "token", &c.token, err, errlen)) < 0 ||
	    (r = kx_opt_string(status, "clientCertificateData",
	         &c.client_cert_pem, err, errlen)) < 0 ||
	    (r = kx_opt_string(
	         status, "clientKeyData", &c.client_key_pem, err, errlen)) < 0)
		goto out;
	r = -EPROTO;
	if ((c.client_cert_pem == NULL) != (c.client_key_pem == NULL)) {
		errbuf_set(err, errlen,
		    "returned a client %s without a client %s (clientCertificateData and clientKeyData go together)",
		    c.client_cert_pem ? "certificate" : "key",
		    c.client_cert_pem ? "key" : "certificate");
		goto out;
	}
	if (c.token == NULL && c.client_cert_pem == NULL) {
		errbuf_set(err, errlen,
		    "returned neither a token nor a client certificate and key");
		goto out;
	}
	exp = cJSON_GetObjectItemCaseSensitive(status, "expirationTimestamp");
	if (exp != NULL && !cJSON_IsNull(exp)) {
		if (!cJSON_IsString(exp) ||
		    kubeexec_parse_time(exp->valuestring, &c.expiry) < 0) {
			errbuf_set(err, errlen,
			    "returned an expirationTimestamp that is not an RFC 3339 time");
			goto out;
		}
		c.has_expiry = true;
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	kubeexec_cred_clear(&c);
	cJSON_Delete(root);
	return r;
}

int
kubeexec_info_json(const char *api_version, bool interactive,
    const char *cluster_json, char **ret)
{
	cJSON *j = cJSON_CreateObject(), *spec = NULL, *cl;
	int r = -ENOMEM;

	if (j == NULL)
		return -ENOMEM;
	if (!cJSON_AddStringToObject(j, "kind", "ExecCredential") ||
	    !cJSON_AddStringToObject(j, "apiVersion", api_version) ||
	    (spec = cJSON_AddObjectToObject(j, "spec")) == NULL ||
	    !cJSON_AddBoolToObject(spec, "interactive", interactive))
		goto out;
	if (cluster_json != NULL) {
		cl = cJSON_Parse(cluster_json);
		if (cl == NULL || !cJSON_IsObject(cl)) {
			cJSON_Delete(cl);
			r = -EINVAL;
			goto out;
		}
		cJSON_AddItemToObject(spec, "cluster", cl);
	}
	if ((*ret = cJSON_PrintUnformatted(j)) != NULL)
		r = 0;
out:
	cJSON_Delete(j);
	return r;
}

/* ---------------------------------------------------------------------- */
/* running the plugin */

struct kubeexec *
kubeexec_new(const struct kubeconfig_exec *exec, const char *cluster_json,
    const char *user, const struct kubeexec_opts *opts)
{
	struct kubeexec *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->exec = kubeconfig_exec_dup(exec);
	if (cluster_json != NULL)
		x->cluster_json = strdup(cluster_json);
	if (user != NULL)
		x->user = strdup(user);
	if (x->exec == NULL || (cluster_json && x->cluster_json == NULL) ||
	    (user && x->user == NULL)) {
		kubeexec_free(x);
		return NULL;
	}
	if (opts != NULL)
		x->opts = *opts;
	else
		x->opts.stdin_tty = -1;
	return x;
}

void
kubeexec_free(struct kubeexec *x)
{
	if (x == NULL)
		return;
	kubeexec_cred_clear(&x->cred);
	kubeconfig_exec_free(x->exec);
	free(x->cluster_json);
	free(x->user);
	free(x);
}

void
kubeexec_invalidate(struct kubeexec *x)
{
	kubeexec_cred_clear(&x->cred);
	x->have_cred = false;
}

unsigned
kubeexec_runs(const struct kubeexec *x)
{
	return x->runs;
}

static time_t
kx_now(const struct kubeexec *x)
{
	return x->opts.clock ? x->opts.clock(x->opts.clock_arg) : time(NULL);
}

static int64_t
kx_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Finds cmd like execvp would: as given with a '/', else on $PATH. */
static int
kx_find_program(const char *cmd, char **ret)
{
	const char *path = getenv("PATH"), *s, *colon;
	char *cand;

	if (strchr(cmd, '/') != NULL) {
		if (access(cmd, X_OK) != 0)
			return -errno;
		return (*ret = strdup(cmd)) ? 0 : -ENOMEM;
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (s = path; s != NULL; s = colon ? colon + 1 : NULL) {
		struct stat st;
		int n;

		colon = strchr(s, ':');
		n = (int)(colon ? (size_t)(colon - s) : strlen(s));
		if (asprintf(&cand, "%.*s/%s", n, n ? s : ".", cmd) < 0)
			return -ENOMEM;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0) {
			*ret = cand;
			return 0;
		}
		free(cand);
	}
	return -ENOENT;
}

/* environ, minus the names exec.env sets, plus exec.env, plus info. */
static char **
kx_build_env(const struct kubeconfig_exec *e, const char *info)
{
	size_t n = 0, o = 0;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = calloc(n + e->n_env + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool skip = nl == 20 && strncmp(environ[i],
		                            "KUBERNETES_EXEC_INFO", 20) == 0;

		for (size_t k = 0; !skip && k < e->n_env; k++)
			skip = strlen(e->env[k].name) == nl &&
			       strncmp(environ[i], e->env[k].name, nl) == 0;
		if (!skip && (env[o++] = strdup(environ[i])) == NULL)
			goto fail;
	}
	for (size_t k = 0; k < e->n_env; k++)
		if (asprintf(&env[o++], "%s=%s", e->env[k].name,
		        e->env[k].value) < 0) {
			env[o - 1] = NULL;
			goto fail;
		}
	if (asprintf(&env[o++], "KUBERNETES_EXEC_INFO=%s", info) < 0) {
		env[o - 1] = NULL;
		goto fail;
	}
	return env;
fail:
	for (size_t i = 0; i < o; i++)
		kx_wipe_str(env[i]);
	free(env);
	return NULL;
}

static void
kx_free_env(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		kx_wipe_str(env[i]);
	free(env);
}

struct kx_run {
	pid_t pid;
	bool own_group;
	char *out;
	size_t out_len;
	char errbuf[KUBEEXEC_MAX_STDERR];
	size_t err_len;
	int status;
	bool timed_out;
	bool too_big;
	int exec_errno;
};

/* Reads what is there from fd; returns false at EOF or error. */
static bool
kx_drain(int fd, struct kx_run *run, bool is_out)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (is_out) {
		if (run->out_len + (size_t)n > KUBEEXEC_MAX_OUTPUT) {
			run->too_big = true;
			return false;
		}
		memcpy(run->out + run->out_len, buf, (size_t)n);
		run->out_len += (size_t)n;
	} else {
		/* Keep the start of stderr: it usually says what went wrong. */
		size_t room = sizeof(run->errbuf) - 1 - run->err_len;
		size_t take = (size_t)n < room ? (size_t)n : room;

		memcpy(run->errbuf + run->err_len, buf, take);
		run->err_len += take;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

static void
kx_kill(struct kx_run *run)
{
	if (run->own_group)
		kill(-run->pid, SIGKILL);
	kill(run->pid, SIGKILL);
}

/*
 * Forks and execs path with argv and env; collects output until both pipes
 * close and the child exits, or the deadline passes.
 */
static int
kx_spawn(const char *path, char *const argv[], char *const env[],
    bool interactive, int timeout_ms, struct kx_run *run)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, ep[2] = {-1, -1};
	int devnull = -1, r = 0;
	bool out_open = true, err_open = !interactive, reaped = false;
	int64_t deadline = kx_mono_ms() + timeout_ms;
	ssize_t n;

	run->out = malloc(KUBEEXEC_MAX_OUTPUT);
	if (run->out == NULL)
		return -ENOMEM;
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0 ||
	    (!interactive && pipe2(errp, O_CLOEXEC) != 0)) {
		r = -errno;
		goto out;
	}
	if (!interactive &&
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		goto out;
	}
	run->own_group = !interactive;
	run->pid = fork();
	if (run->pid < 0) {
		r = -errno;
		goto out;
	}
	if (run->pid == 0) {
		/* The child: async-signal-safe calls only. */
		sigset_t none;
		int e;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (!interactive) {
			setpgid(0, 0);
			dup2(devnull, 0);
			dup2(errp[1], 2);
		}
		dup2(outp[1], 1);
		execve(path, argv, env);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(outp[1]);
	outp[1] = -1;
	close(ep[1]);
	ep[1] = -1;
	if (errp[1] >= 0) {
		close(errp[1]);
		errp[1] = -1;
	}
	/* An exec failure arrives on ep; success closes it (CLOEXEC). */
	do {
		n = read(ep[0], &run->exec_errno, sizeof(run->exec_errno));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(run->exec_errno))
		run->exec_errno = 0;
	while (out_open || err_open) {
		struct pollfd pf[2];
		int64_t left = deadline - kx_mono_ms();
		nfds_t nf = 0;
		int pr;

		if (left <= 0) {
			run->timed_out = true;
			break;
		}
		if (out_open)
			pf[nf++] =
			    (struct pollfd){.fd = outp[0], .events = POLLIN};
		if (err_open)
			pf[nf++] =
			    (struct pollfd){.fd = errp[0], .events = POLLIN};
		pr = poll(pf, nf, left > 1000 ? 1000 : (int)left);
		if (pr < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (nfds_t i = 0; pr > 0 && i < nf; i++) {
			bool is_out = pf[i].fd == outp[0];

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!kx_drain(pf[i].fd, run, is_out)) {
				if (is_out)
					out_open = false;
				else
					err_open = false;
			}
		}
		if (run->too_big)
			break;
	}
	if (run->timed_out || run->too_big || r < 0)
		kx_kill(run);
	/* Reap: after EOF the plugin normally exits at once. */
	while (!reaped) {
		pid_t w = waitpid(run->pid, &run->status, WNOHANG);

		if (w == run->pid) {
			reaped = true;
		} else if (w < 0 && errno != EINTR) {
			r = r < 0 ? r : -errno;
			break;
		} else if (kx_mono_ms() >= deadline) {
			run->timed_out = true;
			kx_kill(run);
			while (waitpid(run->pid, &run->status, 0) < 0 &&
			       errno == EINTR)
				;
			reaped = true;
		} else {
			struct timespec ts = {0, 5 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	run->errbuf[run->err_len] = '\0';
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (devnull >= 0)
		close(devnull);
	return r;
}

/* The last non-empty line of the plugin's stderr, escaped. */
static const char *
kx_stderr_tail(const struct kx_run *run, char *buf, size_t cap)
{
	size_t end = run->err_len, start;

	while (end > 0 && strchr("\r\n \t", run->errbuf[end - 1]))
		end--;
	start = end;
	while (start > 0 && run->errbuf[start - 1] != '\n')
		start--;
	return log_escape(buf, cap, run->errbuf + start, end - start);
}

static int
kx_run_plugin(struct kubeexec *x, char *err, size_t errlen)
{
	const struct kubeconfig_exec *e = x->exec;
	char who[256], tail[512], **argv = NULL, **env = NULL, *path = NULL;
	char *info = NULL;
	struct kx_run run = {0};
	struct kubeexec_cred c = {0};
	bool tty, interactive;
	int timeout, r;

	snprintf(who, sizeof(who), "exec plugin \"%s\"%s%s%s", e->command,
	    x->user ? " of user \"" : "", x->user ? x->user : "",
	    x->user ? "\"" : "");
	tty = x->opts.stdin_tty < 0 ? isatty(0) == 1 : x->opts.stdin_tty > 0;
	switch (e->interactive_mode) {
	case KUBECONFIG_INTERACTIVE_NEVER:
		interactive = false;
		break;
	case KUBECONFIG_INTERACTIVE_ALWAYS:
		if (!tty) {
			errbuf_set(err, errlen,
			    "%s needs a terminal (interactiveMode: Always) but standard input is not one; run the command from a terminal",
			    who);
			return -ENOTTY;
		}
		interactive = true;
		break;
	default: /* IfAvailable, and the v1beta1 default */
		interactive = tty;
		break;
	}
	r = kx_find_program(e->command, &path);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		errbuf_set(err, errlen, "%s %s%s%s", who,
		    strchr(e->command, '/') ? "cannot be run: "
		                            : "was not found on PATH",
		    strchr(e->command, '/') ? strerror(-r) : "",
		    e->install_hint
		        ? "; "
		        : "; install it, or fix users[].user.exec.command in the kubeconfig");
		if (e->install_hint) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, "%s", e->install_hint);
		}
		return -ENOENT;
	}
	if ((r = kubeexec_info_json(
	         e->api_version, interactive, x->cluster_json, &info)) < 0)
		goto out;
	argv = calloc(e->n_args + 2, sizeof(*argv));
	env = kx_build_env(e, info);
	if (argv == NULL || env == NULL) {
		r = -ENOMEM;
		goto out;
	}
	argv[0] = e->command;
	for (size_t i = 0; i < e->n_args; i++)
		argv[i + 1] = e->args[i];
	timeout = x->opts.timeout_ms > 0 ? x->opts.timeout_ms
	          : interactive          ? KUBEEXEC_TIMEOUT_TTY_MS
	                                 : KUBEEXEC_TIMEOUT_MS;
	log_debug(LOG_CAT_KUBE, "%s: running %s (interactive %d)", who, path,
	    interactive);
	x->runs++;
	r = kx_spawn(path, argv, env, interactive, timeout, &run);
	if (r < 0) {
		errbuf_set(
		    err, errlen, "%s: cannot start it: %s", who, strerror(-r));
		goto out;
	}
	if (run.exec_errno != 0) {
		errbuf_set(err, errlen, "%s: cannot execute %s: %s", who, path,
		    strerror(run.exec_errno));
		r = -ENOENT;
		goto out;
	}
	if (run.timed_out) {
		errbuf_set(err, errlen,
		    "%s did not finish within %.1f s and was killed%s%s", who,
		    timeout / 1000.0, run.err_len ? "; it said: " : "",
		    kx_stderr_tail(&run, tail, sizeof(tail)));
		r = -ETIMEDOUT;
		goto out;
	}
	if (run.too_big) {
		errbuf_set(err, errlen, "%s printed more than %u bytes", who,
		    KUBEEXEC_MAX_OUTPUT);
		r = -EMSGSIZE;
		goto out;
	}
	if (WIFSIGNALED(run.status)) {
		errbuf_set(err, errlen, "%s was killed by signal %d%s%s", who,
		    WTERMSIG(run.status), run.err_len ? "; it said: " : "",
		    kx_stderr_tail(&run, tail, sizeof(tail)));
		r = -EIO;
		goto out;
	}
	if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0) {
		errbuf_set(err, errlen, "%s failed with exit status %d%s%s",
		    who, WIFEXITED(run.status) ? WEXITSTATUS(run.status) : -1,
		    run.err_len ? ": " : "",
		    kx_stderr_tail(&run, tail, sizeof(tail)));
		r = -EIO;
		goto out;
	}
	if (run.err_len > 0)
		log_debug(LOG_CAT_KUBE, "%s said: %s", who,
		    kx_stderr_tail(&run, tail, sizeof(tail)));
	r = kubeexec_parse(
	    e->api_version, run.out, run.out_len, &c, tail, sizeof(tail));
	if (r < 0) {
		errbuf_set(err, errlen, "%s %s", who, tail);
		goto out;
	}
	kubeexec_cred_clear(&x->cred);
	x->cred = c;
	x->have_cred = true;
	if (c.has_expiry)
		log_debug(LOG_CAT_KUBE, "%s: credential valid until %lld", who,
		    (long long)c.expiry);
	r = 0;
out:
	if (run.out != NULL) {
		OPENSSL_cleanse(run.out, run.out_len);
		free(run.out);
	}
	free(argv);
	kx_free_env(env);
	free(info);
	free(path);
	return r;
}

int
kubeexec_get(struct kubeexec *x, const struct kubeexec_cred **ret_cred,
    char *err, size_t errlen)
{
	int r;

	if (x->have_cred &&
	    (!x->cred.has_expiry || kx_now(x) < x->cred.expiry)) {
		*ret_cred = &x->cred;
		return 0;
	}
	kubeexec_invalidate(x);
	if ((r = kx_run_plugin(x, err, errlen)) < 0)
		return r;
	*ret_cred = &x->cred;
	return 0;
}
