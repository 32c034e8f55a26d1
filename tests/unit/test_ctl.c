/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of client/ctl: a control server on an event_base listening in
 * a temporary directory, and a blocking client in a thread (or raw socket
 * writes) exchanging requests: dispatch, malformed and over-long lines,
 * peer credentials, asynchronous and progress replies, clients that leave
 * before their reply, servers freed with requests in flight, stale and live
 * socket files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/ctl.h"
#include "common/log.h"
#include "tests/unit/cunit_main.h"

struct fixture;

/* One asynchronous "slow" request in flight. */
struct slow_req {
	struct fixture *fx;
	struct ctl_client *client;
	struct event *timer;
};

struct fixture {
	char dir[64];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event_base *base;
	struct ctl_server *srv;
	int done_pipe[2];
	struct event *done_ev;
	bool thread_done;
	int slow_pending;  /* "slow" requests without their final reply */
	int slow_finished; /* final replies sent (or dropped) */
	bool slow_saw_closed;
};

/* ---- server handlers ---- */

static void
h_echo(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	cJSON *o = ctl_ok_new();

	cJSON_AddItemToObject(o, "echo", cJSON_Duplicate(req, true));
	ctl_reply(c, o, true);
}

static void
h_whoami(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	cJSON *o = ctl_ok_new();

	CU_ASSERT_PTR_EQUAL(peer, ctl_client_peer(c));
	cJSON_AddNumberToObject(o, "uid", (double)peer->uid);
	cJSON_AddNumberToObject(o, "gid", (double)peer->gid);
	cJSON_AddNumberToObject(o, "pid", (double)peer->pid);
	ctl_reply(c, o, true);
}

static void
h_fail(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	ctl_reply_error(
	    c, CTL_E_NOT_CONNECTED, "no session for namespace %s", "dev");
}

static void
h_big(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	char *s = malloc(CTL_LINE_MAX);
	cJSON *o = ctl_ok_new();

	memset(s, 'x', CTL_LINE_MAX - 1);
	s[CTL_LINE_MAX - 1] = '\0';
	cJSON_AddStringToObject(o, "blob", s);
	free(s);
	ctl_reply(c, o, true);
}

static void
slow_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slow_req *sr = arg;
	cJSON *o = ctl_ok_new();

	if (ctl_client_closed(sr->client))
		sr->fx->slow_saw_closed = true;
	cJSON_AddTrueToObject(o, "done");
	ctl_reply(sr->client, o, true);
	sr->fx->slow_pending--;
	sr->fx->slow_finished++;
	event_free(sr->timer);
	free(sr);
}

/* Answers with a progress line now and the final line after "ms". */
static void
h_slow(struct ctl_client *c, const struct ctl_peer *peer, const cJSON *req,
    void *arg)
{
	struct fixture *fx = arg;
	struct slow_req *sr = calloc(1, sizeof(*sr));
	long ms = 100;
	struct timeval tv;
	cJSON *p = cJSON_CreateObject();

	CU_ASSERT_EQUAL(ctl_get_int(req, "ms", 0, 10000, 100, &ms), 0);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	sr->fx = fx;
	sr->client = c;
	sr->timer = evtimer_new(fx->base, slow_timer_cb, sr);
	evtimer_add(sr->timer, &tv);
	fx->slow_pending++;
	/* Given ok:false and no "progress": ctl_reply makes it a progress line.
	 */
	cJSON_AddFalseToObject(p, "ok");
	cJSON_AddStringToObject(p, "stage", "started");
	ctl_reply(c, p, false);
}

static const struct ctl_command commands[] = {
    {"echo", h_echo},
    {"whoami", h_whoami},
    {"fail", h_fail},
    {"big", h_big},
    {"slow", h_slow},
};
static const struct ctl_handlers handlers = {
    commands, sizeof(commands) / sizeof(*commands)};

/* ---- fixture ---- */

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *fx = arg;
	char b;

	if (read(fd, &b, 1) == 1)
		fx->thread_done = true;
}

static void
fx_init(struct fixture *fx, bool listen)
{
	char err[512] = "";

	/* As telepodd does: a peer that left makes write() fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_ctl", LOG_LEVEL_WARN);
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ctl.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(fx->dir));
	/* A parent that does not exist yet: the server creates it. */
	snprintf(fx->path, sizeof(fx->path), "%s/run/ctl.sock", fx->dir);
	fx->base = event_base_new();
	CU_ASSERT_EQUAL_FATAL(pipe2(fx->done_pipe, O_CLOEXEC), 0);
	fx->done_ev = event_new(
	    fx->base, fx->done_pipe[0], EV_READ | EV_PERSIST, done_cb, fx);
	event_add(fx->done_ev, NULL);
	if (listen) {
		fx->srv = ctl_server_new(fx->base, fx->path, 0660, (gid_t)-1,
		    &handlers, fx, err, sizeof(err));
		if (!fx->srv)
			fprintf(stderr, "ctl_server_new: %s\n", err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(fx->srv);
	}
}

static void
fx_clear(struct fixture *fx)
{
	char sub[160];

	/* Let pending "slow" replies run so nothing leaks. */
	while (fx->slow_pending > 0)
		event_base_loop(fx->base, EVLOOP_ONCE);
	ctl_server_free(fx->srv);
	event_free(fx->done_ev);
	close(fx->done_pipe[0]);
	close(fx->done_pipe[1]);
	event_base_free(fx->base);
	unlink(fx->path);
	snprintf(sub, sizeof(sub), "%s/run", fx->dir);
	rmdir(sub);
	rmdir(fx->dir);
}

/* Runs the loop until cond holds or 10 s pass. */
static bool
fx_loop_until(struct fixture *fx, bool (*cond)(struct fixture *))
{
	long long deadline = ctl_now_ms() + 10000;

	while (!cond(fx)) {
		struct timeval tick = {0, 20000};

		if (ctl_now_ms() > deadline)
			return false;
		event_base_loopexit(fx->base, &tick);
		event_base_loop(fx->base, EVLOOP_ONCE);
	}
	return true;
}

static bool
cond_thread_done(struct fixture *fx)
{
	return fx->thread_done;
}

static bool
cond_thread_and_slow_done(struct fixture *fx)
{
	return fx->thread_done && fx->slow_pending == 0;
}

struct client_job {
	struct fixture *fx;
	void (*fn)(struct client_job *);
	/* results, checked by the main thread after the join */
	int r[4];
	cJSON *resp[4];
	int progress;
	char err[512];
};

static void *
client_thread(void *arg)
{
	struct client_job *job = arg;
	char b = 1;

	job->fn(job);
	if (write(job->fx->done_pipe[1], &b, 1) != 1)
		abort();
	return NULL;
}

/* Runs job->fn in a thread while the server's loop turns. */
static void
run_job(struct client_job *job, bool (*cond)(struct fixture *))
{
	pthread_t th;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, client_thread, job), 0);
	CU_ASSERT_TRUE(fx_loop_until(job->fx, cond ? cond : cond_thread_done));
	pthread_join(th, NULL);
}

static void
job_clear(struct client_job *job)
{
	for (size_t i = 0; i < 4; i++)
		cJSON_Delete(job->resp[i]);
}

static cJSON *
req_new(const char *cmd)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "cmd", cmd);
	return o;
}

/* Connects a raw socket to the fixture's path. */
static int
raw_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static bool
jok(const cJSON *o)
{
	return o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
}

/* ---- pure helpers ---- */

static void
test_may_command(void)
{
	CU_ASSERT_TRUE(ctl_may_command(0, 1000));
	CU_ASSERT_TRUE(ctl_may_command(1000, 1000));
	CU_ASSERT_FALSE(ctl_may_command(1001, 1000));
	CU_ASSERT_TRUE(ctl_may_command(0, 0));
	CU_ASSERT_FALSE(ctl_may_command(1000, 0));
}

static void
test_valid_namespace(void)
{
	CU_ASSERT_TRUE(ctl_valid_namespace("default"));
	CU_ASSERT_TRUE(ctl_valid_namespace("team-a-1"));
	CU_ASSERT_TRUE(ctl_valid_namespace("a"));
	CU_ASSERT_FALSE(ctl_valid_namespace(""));
	CU_ASSERT_FALSE(ctl_valid_namespace(NULL));
	CU_ASSERT_FALSE(ctl_valid_namespace("-a"));
	CU_ASSERT_FALSE(ctl_valid_namespace("a-"));
	CU_ASSERT_FALSE(ctl_valid_namespace("Dev"));
	CU_ASSERT_FALSE(ctl_valid_namespace("a.b"));
	CU_ASSERT_FALSE(ctl_valid_namespace("a b"));
	CU_ASSERT_TRUE(ctl_valid_namespace(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"));
	CU_ASSERT_FALSE(ctl_valid_namespace(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"));
}

static void
test_parse_request(void)
{
	static const char *const bad[] = {"", "{", "[1,2]", "\"cmd\"",
	    "{\"cmd\":1}", "{\"cmd\":\"\"}", "{\"x\":\"y\"}",
	    "{\"cmd\":\"a\"} junk", "{\"cmd\":\"a\"}{\"cmd\":\"b\"}", "null"};
	const char *why = NULL;
	cJSON *req = NULL;
	char *huge;

	CU_ASSERT_EQUAL(
	    ctl_parse_request("{\"cmd\":\"status\"} \r", 18, &req, &why), 0);
	CU_ASSERT_STRING_EQUAL(jstr(req, "cmd"), "status");
	cJSON_Delete(req);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		req = NULL;
		why = NULL;
		CU_ASSERT_EQUAL(
		    ctl_parse_request(bad[i], strlen(bad[i]), &req, &why),
		    -EINVAL);
		CU_ASSERT_PTR_NULL(req);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	/* An embedded NUL must not hide trailing bytes from the parser. */
	CU_ASSERT_EQUAL(
	    ctl_parse_request("{\"cmd\":\"a\"}\0x", 13, &req, &why), -EINVAL);
	huge = malloc(CTL_REQUEST_MAX);
	memset(huge, ' ', CTL_REQUEST_MAX);
	CU_ASSERT_EQUAL(
	    ctl_parse_request(huge, CTL_REQUEST_MAX, &req, &why), -EMSGSIZE);
	free(huge);
}

static void
test_get_fields(void)
{
	cJSON *o = cJSON_Parse("{\"s\":\"abc\",\"n\":5,\"f\":1.5,\"b\":true,"
	                       "\"z\":null,\"big\":1e300}");
	const char *s;
	bool b;
	long n;

	CU_ASSERT_EQUAL(ctl_get_string(o, "s", 3, &s), 0);
	CU_ASSERT_STRING_EQUAL(s, "abc");
	CU_ASSERT_EQUAL(ctl_get_string(o, "s", 2, &s), -EMSGSIZE);
	CU_ASSERT_EQUAL(ctl_get_string(o, "n", 9, &s), -EINVAL);
	CU_ASSERT_EQUAL(ctl_get_string(o, "missing", 9, &s), 0);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(ctl_get_string(o, "z", 9, &s), 0);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(ctl_get_bool(o, "b", false, &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(ctl_get_bool(o, "missing", true, &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(ctl_get_bool(o, "s", true, &b), -EINVAL);
	CU_ASSERT_EQUAL(ctl_get_int(o, "n", 1, 10, 0, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(ctl_get_int(o, "n", 6, 10, 0, &n), -ERANGE);
	CU_ASSERT_EQUAL(ctl_get_int(o, "f", 0, 10, 0, &n), -EINVAL);
	CU_ASSERT_EQUAL(ctl_get_int(o, "big", 0, 10, 0, &n), -ERANGE);
	CU_ASSERT_EQUAL(ctl_get_int(o, "s", 0, 10, 0, &n), -EINVAL);
	CU_ASSERT_EQUAL(ctl_get_int(o, "missing", 0, 10, 7, &n), 0);
	CU_ASSERT_EQUAL(n, 7);
	cJSON_Delete(o);
}

static void
test_error_object(void)
{
	cJSON *e = ctl_error_new(CTL_E_FORBIDDEN, "uid %d may not", 5);

	CU_ASSERT_FALSE(jok(e));
	CU_ASSERT_STRING_EQUAL(jstr(e, "code"), "forbidden");
	CU_ASSERT_STRING_EQUAL(jstr(e, "error"), "uid 5 may not");
	CU_ASSERT_FALSE(ctl_is_progress(e));
	cJSON_Delete(e);
	e = cJSON_Parse("{\"ok\":true,\"progress\":\"connecting\"}");
	CU_ASSERT_TRUE(ctl_is_progress(e));
	cJSON_Delete(e);
}

static void
test_json_wipe(void)
{
	cJSON *o = cJSON_Parse("{\"env\":{\"TOKEN\":\"s3cret\",\"L\":[\"ab\","
	                       "{\"k\":\"v\"}]},\"n\":1}");
	const cJSON *env = cJSON_GetObjectItem(o, "env");
	const cJSON *tok = env->child;
	const cJSON *arr = tok->next;
	char *v = tok->valuestring, *k = tok->string;
	size_t vl = strlen(v);

	ctl_json_wipe(o);
	for (size_t i = 0; i < vl; i++)
		CU_ASSERT_EQUAL(v[i], 0);
	CU_ASSERT_EQUAL(k[0], 0);
	CU_ASSERT_EQUAL(arr->child->valuestring[0], 0);
	CU_ASSERT_EQUAL(arr->child->next->child->valuestring[0], 0);
	CU_ASSERT_EQUAL(arr->child->next->child->string[0], 0);
	cJSON_Delete(o);
	ctl_json_wipe(NULL);
}

/* ---- client and server ---- */

static void
job_calls(struct client_job *job)
{
	struct ctl_conn *conn = NULL;
	cJSON *req;

	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] < 0)
		return;
	req = req_new("nope");
	job->r[1] = ctl_call(conn, req, 5000, NULL, NULL, &job->resp[0],
	    job->err, sizeof(job->err));
	cJSON_Delete(req);
	/* The connection stays usable for further requests. */
	req = req_new("whoami");
	job->r[2] = ctl_call(conn, req, 5000, NULL, NULL, &job->resp[1],
	    job->err, sizeof(job->err));
	cJSON_Delete(req);
	req = req_new("fail");
	job->r[3] = ctl_call(conn, req, 5000, NULL, NULL, &job->resp[2],
	    job->err, sizeof(job->err));
	cJSON_Delete(req);
	ctl_conn_free(conn);
}

static void
test_dispatch_and_peer(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_calls};
	struct stat st;

	fx_init(&fx, true);
	CU_ASSERT_EQUAL(stat(fx.path, &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[0], 0);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_FALSE(jok(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "code"), "bad_request");
	CU_ASSERT_STRING_EQUAL(
	    jstr(job.resp[0], "error"), "unknown command \"nope\"");
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(jok(job.resp[1]));
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(job.resp[1], "uid")->valuedouble, getuid());
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(job.resp[1], "gid")->valuedouble, getgid());
	CU_ASSERT_EQUAL(
	    cJSON_GetObjectItem(job.resp[1], "pid")->valuedouble, getpid());
	CU_ASSERT_EQUAL(job.r[3], 0);
	CU_ASSERT_FALSE(jok(job.resp[2]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[2], "code"), "not_connected");
	job_clear(&job);
	fx_clear(&fx);
}

/* Sends raw bytes, then reads replies into job->resp until n or EOF. */
static void
raw_exchange(struct client_job *job, const char *data, size_t len,
    int n_replies, bool shut_wr)
{
	struct ctl_conn *conn = NULL;
	int fd;

	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] < 0)
		return;
	/* Borrow the descriptor for raw writes; ctl_recv reads replies. */
	fd = ctl_conn_fd(conn);
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (shut_wr)
		shutdown(fd, SHUT_WR);
	for (int i = 0; i < n_replies; i++) {
		job->r[1 + (i < 2 ? i : 2)] =
		    ctl_recv(conn, ctl_now_ms() + 5000, &job->resp[i], job->err,
		        sizeof(job->err));
		if (job->r[1 + (i < 2 ? i : 2)] < 0)
			break;
	}
	ctl_conn_free(conn);
}

static void
job_malformed(struct client_job *job)
{
	static const char data[] = "{not json\n\n{\"cmd\":\"echo\",\"x\":1}\r\n"
	                           "[]\n";

	raw_exchange(job, data, sizeof(data) - 1, 3, false);
}

static void
test_malformed_keeps_connection(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_malformed};

	fx_init(&fx, true);
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_FALSE(jok(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "code"), "bad_request");
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(jok(job.resp[1]));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(job.resp[1], "echo"));
	CU_ASSERT_EQUAL(job.r[3], 0);
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[2], "code"), "bad_request");
	job_clear(&job);
	fx_clear(&fx);
}

static void
job_too_long(struct client_job *job)
{
	size_t n = CTL_REQUEST_MAX + 100;
	char *data = malloc(n);

	memset(data, 'a', n);
	raw_exchange(job, data, n, 2, false);
	free(data);
}

static void
test_overlong_line(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_too_long};

	fx_init(&fx, true);
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_FALSE(jok(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "code"), "bad_request");
	CU_ASSERT_PTR_NOT_NULL(strstr(jstr(job.resp[0], "error"), "longer"));
	/* Then the daemon hangs up. */
	CU_ASSERT_EQUAL(job.r[2], -ECONNRESET);
	job_clear(&job);
	fx_clear(&fx);
}

static void
job_half_close(struct client_job *job)
{
	/* The last line has no newline; the peer shuts its write side. */
	static const char data[] = "{\"cmd\":\"slow\",\"ms\":30}\n"
	                           "{\"cmd\":\"echo\"}";

	raw_exchange(job, data, sizeof(data) - 1, 4, true);
}

static void
test_half_close_and_pipelining(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_half_close};

	fx_init(&fx, true);
	run_job(&job, NULL);
	/* progress, final of slow, echo (in order), then EOF */
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_TRUE(ctl_is_progress(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "progress"), "working");
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "stage"), "started");
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(jok(job.resp[1]));
	CU_ASSERT_FALSE(ctl_is_progress(job.resp[1]));
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(job.resp[1], "done")));
	CU_ASSERT_TRUE(jok(job.resp[2]));
	CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItem(job.resp[2], "echo"));
	CU_ASSERT_EQUAL(job.r[3], -ECONNRESET);
	CU_ASSERT_PTR_NULL(job.resp[3]);
	job_clear(&job);
	fx_clear(&fx);
}

static void
count_progress(const cJSON *resp, void *arg)
{
	struct client_job *job = arg;

	job->progress++;
}

static void
job_async(struct client_job *job)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = req_new("slow");

	cJSON_AddNumberToObject(req, "ms", 150);
	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] == 0) {
		long long t0 = ctl_now_ms();

		job->r[1] = ctl_call(conn, req, 5000, count_progress, job,
		    &job->resp[0], job->err, sizeof(job->err));
		job->r[2] = (int)(ctl_now_ms() - t0);
		/* A deadline shorter than the reply's delay times out. */
		job->r[3] = ctl_call(conn, req, 30, NULL, NULL, &job->resp[1],
		    job->err, sizeof(job->err));
	}
	ctl_conn_free(conn);
	cJSON_Delete(req);
}

static void
test_async_reply(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_async};

	fx_init(&fx, true);
	run_job(&job, cond_thread_and_slow_done);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_EQUAL(job.progress, 1);
	CU_ASSERT_TRUE(jok(job.resp[0]));
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(job.resp[0], "done")));
	CU_ASSERT_TRUE(job.r[2] >= 140);
	CU_ASSERT_EQUAL(job.r[3], -ETIMEDOUT);
	CU_ASSERT_EQUAL(fx.slow_finished, 2);
	job_clear(&job);
	fx_clear(&fx);
}

static void
job_leave_early(struct client_job *job)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = req_new("slow");

	cJSON_AddNumberToObject(req, "ms", 100);
	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] == 0) {
		job->r[1] = ctl_send(conn, req, job->err, sizeof(job->err));
		/* Wait for the progress line: the request is in flight. */
		job->r[2] = ctl_recv(conn, ctl_now_ms() + 5000, &job->resp[0],
		    job->err, sizeof(job->err));
	}
	ctl_conn_free(conn);
	cJSON_Delete(req);
}

static bool
cond_no_clients(struct fixture *fx)
{
	return fx->thread_done && fx->slow_pending == 0 &&
	       ctl_server_clients(fx->srv) == 0;
}

static void
test_client_leaves_before_reply(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_leave_early};
	struct client_job again = {.fx = &fx, .fn = job_calls};

	fx_init(&fx, true);
	run_job(&job, cond_no_clients);
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(ctl_is_progress(job.resp[0]));
	CU_ASSERT_EQUAL(fx.slow_finished, 1);
	CU_ASSERT_EQUAL(ctl_server_clients(fx.srv), 0);
	/* The server goes on serving others. */
	fx.thread_done = false;
	run_job(&again, NULL);
	CU_ASSERT_EQUAL(again.r[2], 0);
	CU_ASSERT_TRUE(jok(again.resp[1]));
	job_clear(&job);
	job_clear(&again);
	fx_clear(&fx);
}

static void
job_server_goes(struct client_job *job)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = req_new("slow");
	char b = 1;

	cJSON_AddNumberToObject(req, "ms", 200);
	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] == 0) {
		job->r[1] = ctl_send(conn, req, job->err, sizeof(job->err));
		job->r[2] = ctl_recv(conn, ctl_now_ms() + 5000, &job->resp[0],
		    job->err, sizeof(job->err));
		/* Tell the main thread to free the server now. */
		if (write(job->fx->done_pipe[1], &b, 1) != 1)
			abort();
		job->r[3] = ctl_recv(conn, ctl_now_ms() + 5000, &job->resp[1],
		    job->err, sizeof(job->err));
	}
	ctl_conn_free(conn);
	cJSON_Delete(req);
}

static void
test_server_freed_with_request_in_flight(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_server_goes};
	pthread_t th;

	fx_init(&fx, true);
	CU_ASSERT_EQUAL_FATAL(
	    pthread_create(&th, NULL, client_thread, &job), 0);
	CU_ASSERT_TRUE(fx_loop_until(&fx, cond_thread_done));
	CU_ASSERT_EQUAL(fx.slow_pending, 1);
	ctl_server_free(fx.srv);
	fx.srv = NULL;
	/* The socket file is gone with the server. */
	CU_ASSERT_EQUAL(access(fx.path, F_OK), -1);
	/* The late reply goes to a closed client and is dropped. */
	fx.thread_done = false;
	CU_ASSERT_TRUE(fx_loop_until(&fx, cond_thread_and_slow_done));
	pthread_join(th, NULL);
	CU_ASSERT_TRUE(fx.slow_saw_closed);
	CU_ASSERT_EQUAL(job.r[3], -ECONNRESET);
	job_clear(&job);
	fx_clear(&fx);
}

static void
job_big(struct client_job *job)
{
	struct ctl_conn *conn = NULL;
	cJSON *req = req_new("big");

	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] == 0)
		job->r[1] = ctl_call(conn, req, 5000, NULL, NULL, &job->resp[0],
		    job->err, sizeof(job->err));
	ctl_conn_free(conn);
	cJSON_Delete(req);
}

static void
test_reply_too_large(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_big};

	fx_init(&fx, true);
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_FALSE(jok(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "code"), "internal");
	job_clear(&job);
	fx_clear(&fx);
}

static void
test_stale_socket_replaced(void)
{
	struct fixture fx;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct client_job job = {.fx = &fx, .fn = job_calls};
	char err[512] = "", sub[160];
	int fd;

	fx_init(&fx, false);
	snprintf(sub, sizeof(sub), "%s/run", fx.dir);
	CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
	/* A socket file whose owner died: bound, never listening. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fx.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	CU_ASSERT_EQUAL(access(fx.path, F_OK), 0);
	CU_ASSERT_EQUAL(raw_connect(fx.path), -1);
	fx.srv = ctl_server_new(fx.base, fx.path, 0600, (gid_t)-1, &handlers,
	    &fx, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx.srv);
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(jok(job.resp[1]));
	job_clear(&job);
	fx_clear(&fx);
}

static void
test_live_socket_not_stolen(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_calls};
	struct ctl_server *second;
	char err[512] = "";

	fx_init(&fx, true);
	second = ctl_server_new(fx.base, fx.path, 0660, (gid_t)-1, &handlers,
	    &fx, err, sizeof(err));
	CU_ASSERT_PTR_NULL(second);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already listening"));
	/* The first server still answers. */
	run_job(&job, NULL);
	CU_ASSERT_EQUAL(job.r[2], 0);
	CU_ASSERT_TRUE(jok(job.resp[1]));
	job_clear(&job);
	fx_clear(&fx);
}

static void
test_not_a_socket(void)
{
	struct fixture fx;
	char err[512] = "", sub[160];
	int fd;

	fx_init(&fx, false);
	snprintf(sub, sizeof(sub), "%s/run", fx.dir);
	CU_ASSERT_EQUAL(mkdir(sub, 0755), 0);
	fd = open(fx.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	CU_ASSERT_PTR_NULL(ctl_server_new(fx.base, fx.path, 0660, (gid_t)-1,
	    &handlers, &fx, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a socket"));
	/* The file was left alone. */
	CU_ASSERT_EQUAL(access(fx.path, F_OK), 0);
	fx_clear(&fx);
}

static void
test_connect_errors(void)
{
	struct fixture fx;
	struct ctl_conn *conn = NULL;
	char err[512] = "";
	int r;

	fx_init(&fx, false);
	r = ctl_connect(fx.path, &conn, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Is the daemon running?"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, fx.path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "sudo systemctl start telepodd"));
	r = ctl_connect(
	    "/x/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    &conn, err, sizeof(err));
	CU_ASSERT_EQUAL(r, -ENAMETOOLONG);
	/* A socket only its owner may use (root passes every permission
	 * check, so as root the attempt is made as nobody in a child). */
	fx.srv = ctl_server_new(fx.base, fx.path, 0600, (gid_t)-1, &handlers,
	    &fx, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx.srv);
	CU_ASSERT_EQUAL(chmod(fx.dir, 0755), 0);
	if (getuid() == 0) {
		pid_t pid = fork();
		int status = -1;

		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(3);
			r = ctl_connect(fx.path, &conn, err, sizeof(err));
			_exit(r == -EACCES &&
			              strstr(err, "Permission denied") &&
			              strstr(err, "use sudo")
			          ? 0
			          : 1);
		}
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		r = ctl_connect(fx.path, &conn, err, sizeof(err));
		CU_ASSERT_EQUAL(r, -EACCES);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "Permission denied"));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "use sudo"));
	}
	fx_clear(&fx);
}

static void
job_many(struct client_job *job)
{
	int fds[CTL_MAX_CLIENTS + 1];
	struct ctl_conn *conn = NULL;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		fds[i] = raw_connect(job->fx->path);
	/* One more is told "busy" unasked, and closed. */
	job->r[0] =
	    ctl_connect(job->fx->path, &conn, job->err, sizeof(job->err));
	if (job->r[0] == 0)
		job->r[1] = ctl_recv(conn, ctl_now_ms() + 5000, &job->resp[0],
		    job->err, sizeof(job->err));
	ctl_conn_free(conn);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
}

static void
test_too_many_clients(void)
{
	struct fixture fx;
	struct client_job job = {.fx = &fx, .fn = job_many};

	fx_init(&fx, true);
	run_job(&job, cond_no_clients);
	CU_ASSERT_EQUAL(job.r[1], 0);
	CU_ASSERT_FALSE(jok(job.resp[0]));
	CU_ASSERT_STRING_EQUAL(jstr(job.resp[0], "code"), "busy");
	job_clear(&job);
	fx_clear(&fx);
}

static const struct cunit_test tests[] = {
    {"may_command", test_may_command},
    {"valid_namespace", test_valid_namespace},
    {"parse_request", test_parse_request},
    {"get_fields", test_get_fields},
    {"error_object", test_error_object},
    {"json_wipe", test_json_wipe},
    {"dispatch_and_peer", test_dispatch_and_peer},
    {"malformed_keeps_connection", test_malformed_keeps_connection},
    {"overlong_line", test_overlong_line},
    {"half_close_and_pipelining", test_half_close_and_pipelining},
    {"async_reply", test_async_reply},
    {"client_leaves_before_reply", test_client_leaves_before_reply},
    {"server_freed_with_request_in_flight",
        test_server_freed_with_request_in_flight},
    {"reply_too_large", test_reply_too_large},
    {"stale_socket_replaced", test_stale_socket_replaced},
    {"live_socket_not_stolen", test_live_socket_not_stolen},
    {"not_a_socket", test_not_a_socket},
    {"connect_errors", test_connect_errors},
    {"too_many_clients", test_too_many_clients},
};

CUNIT_MAIN("ctl", tests)
