/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl: the control protocol of proto/CONTROL.md, both ends. The daemon's
 * end listens on a unix socket on the libevent loop, reads one request line
 * at a time per connection, checks its size and JSON shape, and dispatches
 * it by "cmd" to a handler table with the peer's SO_PEERCRED credentials.
 * Handlers answer whenever they like (a connect takes seconds) through a
 * reference-counted client handle that outlives the connection, so a reply
 * to a CLI that went away is dropped rather than written to freed memory.
 * The CLI's end is plain blocking I/O with a deadline.
 */
#include "client/ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"

/* A client that stops reading gets this much queued output, then is cut. */
#define CTL_OUTPUT_MAX (2 * CTL_LINE_MAX)

struct ctl_server {
	struct event_base *base;
	struct evconnlistener *listener;
	char *path;
	dev_t dev; /* identity of the socket file we bound */
	ino_t ino;
	const struct ctl_handlers *handlers;
	void *arg;
	struct ctl_client *clients; /* open connections */
	size_t n_clients;
};

struct ctl_client {
	struct ctl_server *srv; /* NULL once closed or the server is gone */
	struct ctl_client *prev, *next;
	struct bufferevent *bev; /* NULL once closed */
	struct event *work_ev;   /* deferred work: read on, or close */
	struct ctl_peer peer;
	unsigned
	    refs;     /* the open connection, a request in progress, a caller */
	bool busy;    /* a request is in progress */
	bool eof;     /* the peer sent everything it will send */
	bool closing; /* close once the output is flushed */
	bool closed;
};

static void ctl_client_process(struct ctl_client *c);

/* ---- shared helpers ---- */

bool
ctl_may_command(uid_t peer, uid_t owner)
{
	return peer == 0 || peer == owner;
}

cJSON *
ctl_ok_new(void)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !cJSON_AddTrueToObject(o, "ok")) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *
ctl_error_newv(const char *code, const char *fmt, va_list ap)
{
	char msg[1024];
	cJSON *o = cJSON_CreateObject();

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!o)
		return NULL;
	if (!cJSON_AddFalseToObject(o, "ok") ||
	    !cJSON_AddStringToObject(o, "error", msg) ||
	    !cJSON_AddStringToObject(o, "code", code)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *
ctl_error_new(const char *code, const char *fmt, ...)
{
	va_list ap;
	cJSON *o;

	va_start(ap, fmt);
	o = ctl_error_newv(code, fmt, ap);
	va_end(ap);
	return o;
}

int
ctl_parse_request(
    const char *line, size_t len, cJSON **ret_req, const char **ret_err)
{
	const char *end = NULL;
	const cJSON *cmd;
	cJSON *req;

	if (len >= CTL_REQUEST_MAX) {
		*ret_err = "request line too long";
		return -EMSGSIZE;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len)) {
		*ret_err = "request contains a NUL byte";
		return -EINVAL;
	}
	req = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!req) {
		*ret_err = "request is not valid JSON";
		return -EINVAL;
	}
	/* Only white space may follow the object. */
	for (; end && end < line + len; end++) {
		if (*end != ' ' && *end != '\t') {
			cJSON_Delete(req);
			*ret_err =
			    "request has trailing data after the JSON object";
			return -EINVAL;
		}
	}
	if (!cJSON_IsObject(req)) {
		cJSON_Delete(req);
		*ret_err = "request is not a JSON object";
		return -EINVAL;
	}
	cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	if (!cJSON_IsString(cmd) || !cmd->valuestring[0]) {
		cJSON_Delete(req);
		*ret_err = "request has no \"cmd\" string";
		return -EINVAL;
	}
	*ret_req = req;
	return 0;
}

int
ctl_get_string(
    const cJSON *obj, const char *name, size_t max_len, const char **ret_value)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!v || cJSON_IsNull(v)) {
		*ret_value = NULL;
		return 0;
	}
	if (!cJSON_IsString(v))
		return -EINVAL;
	if (strlen(v->valuestring) > max_len)
		return -EMSGSIZE;
	*ret_value = v->valuestring;
	return 0;
}

int
ctl_get_bool(const cJSON *obj, const char *name, bool def, bool *ret_value)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!v || cJSON_IsNull(v)) {
		*ret_value = def;
		return 0;
	}
	if (!cJSON_IsBool(v))
		return -EINVAL;
	*ret_value = cJSON_IsTrue(v);
	return 0;
}

int
ctl_get_int(const cJSON *obj, const char *name, long min, long max, long def,
    long *ret_value)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	double d;

	if (!v || cJSON_IsNull(v)) {
		*ret_value = def;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	/* Compare before converting: out-of-range conversion is undefined. */
	if (!(d >= (double)min && d <= (double)max))
		return d != d ? -EINVAL : -ERANGE;
	if ((double)(long)d != d)
		return -EINVAL;
	*ret_value = (long)d;
	return 0;
}

bool
ctl_valid_namespace(const char *ns)
{
	size_t n = ns ? strlen(ns) : 0;

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = ns[i];
		bool alnum =
		    (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (!alnum && (ch != '-' || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

bool
ctl_is_progress(const cJSON *resp)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "ok")) &&
	       cJSON_GetObjectItemCaseSensitive(resp, "progress") != NULL;
}

void
ctl_json_wipe(cJSON *item)
{
	for (; item; item = item->next) {
		if (item->string)
			explicit_bzero(item->string, strlen(item->string));
		if (item->valuestring)
			explicit_bzero(
			    item->valuestring, strlen(item->valuestring));
		ctl_json_wipe(item->child);
	}
}

long long
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- server: connections ---- */

static void
ctl_client_unref(struct ctl_client *c)
{
	if (--c->refs > 0)
		return;
	event_free(c->work_ev);
	free(c);
}

/* Closes the connection now; pending requests keep the handle alive. */
static void
ctl_client_close(struct ctl_client *c)
{
	struct ctl_server *srv = c->srv;

	if (c->closed)
		return;
	c->closed = true;
	log_debug(LOG_CAT_CTL, "ctl pid %ld uid %lu: closed", (long)c->peer.pid,
	    (unsigned long)c->peer.uid);
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_del(c->work_ev);
	if (srv) {
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->clients = c->next;
		if (c->next)
			c->next->prev = c->prev;
		srv->n_clients--;
		c->srv = NULL;
	}
	c->prev = c->next = NULL;
	ctl_client_unref(c); /* the connection's reference */
}

/* Defers work to the next loop turn, out of any caller's stack. */
static void
ctl_client_kick(struct ctl_client *c)
{
	if (!c->closed)
		event_active(c->work_ev, EV_TIMEOUT, 0);
}

/* Closes after flushing what is queued; reads nothing more. */
static void
ctl_client_finish(struct ctl_client *c)
{
	if (c->closed || c->closing)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	ctl_client_kick(c);
}

/* Queues one line; returns false when the client had to be cut off. */
static bool
ctl_client_write(struct ctl_client *c, const cJSON *obj)
{
	static const char oom[] = "{\"ok\":false,\"error\":\"telepodd ran out "
	                          "of memory building the reply; retry\","
	                          "\"code\":\"internal\"}\n";
	struct evbuffer *out;
	char *s;
	size_t n;

	if (c->closed)
		return false;
	out = bufferevent_get_output(c->bev);
	s = obj ? cJSON_PrintUnformatted(obj) : NULL;
	if (!s) {
		evbuffer_add(out, oom, sizeof(oom) - 1);
		return true;
	}
	n = strlen(s);
	if (n + 1 > CTL_LINE_MAX) {
		cJSON *e;
		char *es;

		log_warn("ctl pid %ld: reply of %zu bytes over the limit of %d",
		    (long)c->peer.pid, n, CTL_LINE_MAX);
		explicit_bzero(s, n);
		cJSON_free(s);
		e = ctl_error_new(CTL_E_INTERNAL,
		    "the reply (%zu bytes) exceeds the control protocol's limit of %d bytes",
		    n, CTL_LINE_MAX);
		es = e ? cJSON_PrintUnformatted(e) : NULL;
		cJSON_Delete(e);
		if (!es) {
			evbuffer_add(out, oom, sizeof(oom) - 1);
			return true;
		}
		s = es;
		n = strlen(s);
	}
	if (evbuffer_get_length(out) + n + 1 > CTL_OUTPUT_MAX) {
		log_warn("ctl pid %ld: peer does not read its replies; closing",
		    (long)c->peer.pid);
		explicit_bzero(s, n);
		cJSON_free(s);
		c->closing = true;
		/* Defer the close: we may be inside a handler's stack. */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		evbuffer_drain(out, evbuffer_get_length(out));
		ctl_client_kick(c);
		return false;
	}
	if (evbuffer_add(out, s, n) < 0 || evbuffer_add(out, "\n", 1) < 0)
		log_warn("ctl pid %ld: out of memory queueing a reply",
		    (long)c->peer.pid);
	explicit_bzero(s, n);
	cJSON_free(s);
	return true;
}

static void ctl_client_write_error(struct ctl_client *c, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
ctl_client_write_error(
    struct ctl_client *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	cJSON *e;

	va_start(ap, fmt);
	e = ctl_error_newv(code, fmt, ap);
	va_end(ap);
	ctl_client_write(c, e);
	cJSON_Delete(e);
}

void
ctl_reply(struct ctl_client *client, cJSON *obj, bool final)
{
	struct ctl_client *c = client;

	if (final && !c->busy) {
		log_err(
		    "ctl pid %ld: final reply without a request in progress",
		    (long)c->peer.pid);
		cJSON_Delete(obj);
		return;
	}
	if (!obj)
		obj = ctl_error_new(CTL_E_INTERNAL,
		    "telepodd ran out of memory building the reply; retry");
	if (obj) {
		if (!final)
			cJSON_DeleteItemFromObjectCaseSensitive(obj, "ok");
		if (!cJSON_HasObjectItem(obj, "ok"))
			cJSON_AddTrueToObject(obj, "ok");
		if (final)
			cJSON_DeleteItemFromObjectCaseSensitive(
			    obj, "progress");
		else if (!cJSON_HasObjectItem(obj, "progress"))
			cJSON_AddStringToObject(obj, "progress", "working");
	}
	ctl_client_write(c, obj);
	ctl_json_wipe(obj);
	cJSON_Delete(obj);
	if (!final)
		return;
	c->busy = false;
	if (!c->closed && !c->closing && !c->eof) {
		struct timeval idle = {CTL_IDLE_TIMEOUT_S, 0};

		bufferevent_set_timeouts(c->bev, &idle, NULL);
		bufferevent_enable(c->bev, EV_READ);
	}
	/* Go on with lines already buffered, or close after an EOF. */
	ctl_client_kick(c);
	ctl_client_unref(c); /* the request's reference */
}

void
ctl_reply_error(
    struct ctl_client *client, const char *code, const char *fmt, ...)
{
	va_list ap;
	cJSON *e;

	va_start(ap, fmt);
	e = ctl_error_newv(code, fmt, ap);
	va_end(ap);
	ctl_reply(client, e, true);
}

const struct ctl_peer *
ctl_client_peer(const struct ctl_client *client)
{
	return &client->peer;
}

bool
ctl_client_closed(const struct ctl_client *client)
{
	return client->closed || client->closing;
}

static const struct ctl_command *
ctl_find_command(const struct ctl_handlers *h, const char *name)
{
	for (size_t i = 0; i < h->n_commands; i++) {
		if (strcmp(h->commands[i].name, name) == 0)
			return &h->commands[i];
	}
	return NULL;
}

/* Handles one complete line (without its newline). */
static void
ctl_client_line(struct ctl_client *c, const char *line, size_t len)
{
	const struct ctl_command *cmd;
	const char *why = NULL;
	const char *name;
	cJSON *req = NULL;
	int r;

	if (len == 0 || (len == 1 && line[0] == '\r'))
		return; /* blank lines are ignored */
	r = ctl_parse_request(line, len, &req, &why);
	if (r < 0) {
		log_debug(LOG_CAT_CTL, "ctl pid %ld: bad request: %s",
		    (long)c->peer.pid, why);
		ctl_client_write_error(c, CTL_E_BAD_REQUEST,
		    "%s; send one JSON object per line with a \"cmd\" member (see proto/CONTROL.md)",
		    why);
		return;
	}
	name = cJSON_GetObjectItemCaseSensitive(req, "cmd")->valuestring;
	cmd = c->srv ? ctl_find_command(c->srv->handlers, name) : NULL;
	if (!cmd) {
		char esc[CTL_MAX_CMD_ECHO * 4 + 1];

		log_debug(LOG_CAT_CTL, "ctl pid %ld: unknown command \"%s\"",
		    (long)c->peer.pid,
		    log_escape(esc, sizeof(esc), name, strlen(name)));
		ctl_client_write_error(c, CTL_E_BAD_REQUEST,
		    "unknown command \"%.*s\"", CTL_MAX_CMD_ECHO, name);
		cJSON_Delete(req);
		return;
	}
	log_debug(LOG_CAT_CTL, "ctl pid %ld uid %lu: %s", (long)c->peer.pid,
	    (unsigned long)c->peer.uid, cmd->name);
	c->busy = true;
	c->refs++; /* the request's; the final reply drops it */
	/* No idle limit while the daemon works (a connect takes a while). */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	cmd->fn(c, &c->peer, req, c->srv->arg);
	cJSON_Delete(req);
}

/* Reads request lines while no request is in progress. */
static void
ctl_client_process(struct ctl_client *c)
{
	c->refs++; /* a handler may close the connection or free the server */
	while (!c->closed && !c->closing && !c->busy) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_ptr eol;
		size_t len;
		char *line;

		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (avail >= CTL_REQUEST_MAX) {
				len = avail;
			} else if (c->eof && avail > 0) {
				len = avail; /* a last line without newline */
			} else {
				if (c->eof)
					ctl_client_finish(c);
				break;
			}
		} else {
			len = (size_t)eol.pos;
		}
		if (len >= CTL_REQUEST_MAX) {
			/* There is no resynchronising inside a huge line. */
			log_debug(LOG_CAT_CTL,
			    "ctl pid %ld: request line over %d bytes",
			    (long)c->peer.pid, CTL_REQUEST_MAX);
			ctl_client_write_error(c, CTL_E_BAD_REQUEST,
			    "request line longer than %d bytes; closing the connection",
			    CTL_REQUEST_MAX - 1);
			ctl_client_finish(c);
			break;
		}
		line = malloc(len + 1);
		if (!line) {
			ctl_client_finish(c);
			break;
		}
		evbuffer_remove(in, line, len);
		line[len] = '\0';
		evbuffer_drain(in, eol.pos < 0 ? 0 : 1);
		ctl_client_line(c, line, len);
		free(line);
	}
	if (!c->closed && c->busy)
		bufferevent_disable(c->bev, EV_READ);
	ctl_client_unref(c);
}

static void
ctl_client_work_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *c = arg;

	if (c->closed)
		return;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			ctl_client_close(c);
		return;
	}
	ctl_client_process(c);
}

static void
ctl_client_read_cb(struct bufferevent *bev, void *arg)
{
	ctl_client_process(arg);
}

static void
ctl_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;

	/* Called when the output drained: finish a pending close. */
	if (c->closing)
		ctl_client_kick(c);
}

static void
ctl_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *c = arg;

	if (what & BEV_EVENT_EOF) {
		/* A half-closed peer may still read: finish what it asked
		 * (a peer that is gone makes the next write fail). */
		c->eof = true;
		if (!c->closing)
			ctl_client_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug(LOG_CAT_CTL, "ctl pid %ld: idle for %d s; closing",
		    (long)c->peer.pid, CTL_IDLE_TIMEOUT_S);
	else
		log_debug(LOG_CAT_CTL, "ctl pid %ld: %s", (long)c->peer.pid,
		    strerror(EVUTIL_SOCKET_ERROR()));
	ctl_client_close(c);
}

static int
ctl_peer_creds(int fd, struct ctl_peer *ret_peer)
{
#ifdef SO_PEERCRED
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	ret_peer->uid = uc.uid;
	ret_peer->gid = uc.gid;
	ret_peer->pid = uc.pid;
	return 0;
#else
	uid_t uid;
	gid_t gid;

	if (getpeereid(fd, &uid, &gid) < 0)
		return -errno;
	ret_peer->uid = uid;
	ret_peer->gid = gid;
	ret_peer->pid = 0;
	return 0;
#endif
}

static void
ctl_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct ctl_server *srv = arg;
	struct timeval idle = {CTL_IDLE_TIMEOUT_S, 0};
	struct ctl_client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	r = ctl_peer_creds(fd, &c->peer);
	if (r < 0) {
		/* Without credentials there is nothing to authorise. */
		log_warn("ctl: cannot read the peer's credentials: %s",
		    strerror(-r));
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->work_ev = event_new(srv->base, -1, 0, ctl_client_work_cb, c);
	if (!c->bev || !c->work_ev) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->work_ev)
			event_free(c->work_ev);
		free(c);
		return;
	}
	c->refs = 1;
	c->srv = srv;
	c->next = srv->clients;
	if (srv->clients)
		srv->clients->prev = c;
	srv->clients = c;
	srv->n_clients++;
	log_debug(LOG_CAT_CTL, "ctl pid %ld uid %lu gid %lu: connected",
	    (long)c->peer.pid, (unsigned long)c->peer.uid,
	    (unsigned long)c->peer.gid);
	bufferevent_setcb(c->bev, ctl_client_read_cb, ctl_client_write_cb,
	    ctl_client_event_cb, c);
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (srv->n_clients > CTL_MAX_CLIENTS) {
		log_warn("ctl: %d connections open; refusing pid %ld",
		    CTL_MAX_CLIENTS, (long)c->peer.pid);
		ctl_client_write_error(c, CTL_E_BUSY,
		    "telepodd has %d control connections open already; retry in a moment",
		    CTL_MAX_CLIENTS);
		ctl_client_finish(c);
	}
}

static void
ctl_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	/* EMFILE and friends: keep serving the connections we have. */
	log_warn("ctl: accept failed: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

/* ---- server: the socket file ---- */

/* mkdir -p of the parent directory of path (mode 0755 for new ones). */
static int
ctl_mkdir_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;

		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int e = errno;

			snprintf(err, errlen,
			    "cannot create the directory %s for the control socket: %s",
			    dir, strerror(e));
			return -e;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
		    "%s is not a directory; choose another --socket path", dir);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * Removes a socket file nobody answers on. Returns 0 when path is free now,
 * a negative errno with err filled otherwise.
 */
static int
ctl_claim_path(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	const char *path = sun->sun_path;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(
		    err, errlen, "cannot inspect %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		    "%s exists and is not a socket; remove it or choose another socket path",
		    path);
		return -EEXIST;
	}
	/* Non-blocking: a live daemon with a full backlog answers EAGAIN. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(
		    err, errlen, "cannot create a socket: %s", strerror(-r));
		return r;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	r = r < 0 ? -errno : 0;
	close(fd);
	if (r == 0 || r == -EAGAIN) {
		snprintf(err, errlen,
		    "another telepodd is already listening on %s; stop it first (sudo systemctl stop telepodd) or start this one with another socket path",
		    path);
		return -EADDRINUSE;
	}
	if (r != -ECONNREFUSED) {
		snprintf(err, errlen, "cannot probe the existing socket %s: %s",
		    path, strerror(-r));
		return r;
	}
	/* Stale: left behind by a daemon that died. */
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove the stale socket %s: %s",
		    path, strerror(-r));
		return r;
	}
	log_info("ctl: removed the stale socket %s", path);
	return 0;
}

struct ctl_server *
ctl_server_new(struct event_base *base, const char *path, mode_t mode,
    gid_t gid, const struct ctl_handlers *handlers, void *arg, char *err,
    size_t errlen)
{
	struct ctl_server *srv = NULL;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	bool bound = false;
	int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path) || !path[0]) {
		snprintf(err, errlen,
		    "control socket path \"%s\" is empty or longer than %zu bytes; choose a shorter one",
		    path, sizeof(sun.sun_path) - 1);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (ctl_mkdir_parent(path, err, errlen) < 0 ||
	    ctl_claim_path(&sun, err, errlen) < 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(
		    err, errlen, "cannot create a socket: %s", strerror(errno));
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "cannot bind the control socket %s: %s",
		    path, strerror(errno));
		goto out;
	}
	bound = true;
	/* Nobody can connect before listen(), so the mode is set in time. */
	if (chmod(path, mode) < 0) {
		snprintf(err, errlen, "cannot set the mode of %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		snprintf(err, errlen, "cannot give %s to group %lu: %s", path,
		    (unsigned long)gid, strerror(errno));
		goto out;
	}
	if (stat(path, &st) < 0) {
		snprintf(
		    err, errlen, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (listen(fd, 16) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		goto out;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	srv->base = base;
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	srv->handlers = handlers;
	srv->arg = arg;
	srv->listener = evconnlistener_new(base, ctl_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!srv->listener) {
		snprintf(
		    err, errlen, "cannot watch the control socket %s", path);
		goto out;
	}
	evconnlistener_set_error_cb(srv->listener, ctl_accept_error_cb);
	log_debug(LOG_CAT_CTL, "ctl: listening on %s mode %04o", path,
	    (unsigned)mode);
	return srv;
out:
	if (srv)
		free(srv->path);
	free(srv);
	if (fd >= 0)
		close(fd);
	if (bound)
		unlink(path);
	return NULL;
}

void
ctl_server_free(struct ctl_server *srv)
{
	struct stat st;

	if (!srv)
		return;
	evconnlistener_free(srv->listener);
	while (srv->clients)
		ctl_client_close(srv->clients);
	/* Leave a socket file that a newer daemon put there alone. */
	if (stat(srv->path, &st) == 0 && st.st_dev == srv->dev &&
	    st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	free(srv);
}

size_t
ctl_server_clients(const struct ctl_server *srv)
{
	return srv->n_clients;
}

/* ---- client half ---- */

struct ctl_conn {
	int fd;
	char *buf;
	size_t len;     /* bytes in buf */
	size_t scanned; /* bytes of buf known to hold no newline */
	size_t cap;
};

int
ctl_connect(
    const char *path, struct ctl_conn **ret_conn, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ctl_conn *conn;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path) || !path[0]) {
		snprintf(err, errlen,
		    "cannot reach telepodd at \"%s\": the socket path is empty or longer than %zu bytes; pass a shorter --socket",
		    path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(
		    err, errlen, "cannot create a socket: %s", strerror(-r));
		return r;
	}
	do {
		r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR)
			snprintf(err, errlen,
			    "cannot reach telepodd at %s: %s. Is the daemon running? Start it with `sudo systemctl start telepodd` or `sudo telepodd --foreground`",
			    path, strerror(-r));
		else if (r == -EACCES || r == -EPERM)
			snprintf(err, errlen,
			    "cannot reach telepodd at %s: %s. Add yourself to the group that owns it or use sudo",
			    path, strerror(-r));
		else
			snprintf(err, errlen, "cannot reach telepodd at %s: %s",
			    path, strerror(-r));
		return r;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	conn->fd = fd;
	*ret_conn = conn;
	return 0;
}

void
ctl_conn_free(struct ctl_conn *conn)
{
	if (!conn)
		return;
	close(conn->fd);
	if (conn->buf)
		explicit_bzero(conn->buf, conn->cap);
	free(conn->buf);
	free(conn);
}

int
ctl_conn_fd(const struct ctl_conn *conn)
{
	return conn->fd;
}

int
ctl_send(struct ctl_conn *conn, const cJSON *req, char *err, size_t errlen)
{
	char *s = cJSON_PrintUnformatted(req);
	size_t n, off = 0;
	int r = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory building the request");
		return -ENOMEM;
	}
	n = strlen(s);
	if (n + 1 >= CTL_REQUEST_MAX) {
		snprintf(err, errlen,
		    "the request (%zu bytes) exceeds the control protocol's limit of %d bytes",
		    n, CTL_REQUEST_MAX - 1);
		r = -EMSGSIZE;
		goto out;
	}
	s[n++] = '\n'; /* replaces the terminator; n is the length now */
	while (off < n) {
		ssize_t w = send(conn->fd, s + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			snprintf(err, errlen,
			    "cannot send the request to telepodd: %s",
			    strerror(-r));
			goto out;
		}
		off += (size_t)w;
	}
out:
	cJSON_free(s);
	return r;
}

/* Takes one complete line off conn->buf, or returns 0 for "need more". */
static int
ctl_take_line(struct ctl_conn *conn, cJSON **ret_resp, char *err, size_t errlen)
{
	char *nl = NULL;
	size_t len;
	cJSON *resp;
	const char *end = NULL;

	if (conn->len > conn->scanned)
		nl = memchr(
		    conn->buf + conn->scanned, '\n', conn->len - conn->scanned);
	if (!nl) {
		conn->scanned = conn->len;
		return 0;
	}
	len = (size_t)(nl - conn->buf);
	resp = memchr(conn->buf, '\0', len)
	           ? NULL
	           : cJSON_ParseWithLengthOpts(conn->buf, len, &end, false);
	memmove(conn->buf, nl + 1, conn->len - len - 1);
	conn->len -= len + 1;
	conn->scanned = 0;
	if (!cJSON_IsObject(resp) ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(resp, "ok"))) {
		cJSON_Delete(resp);
		snprintf(err, errlen,
		    "telepodd sent a reply that is not a JSON object with \"ok\"; is the daemon the same version as this CLI?");
		return -EPROTO;
	}
	*ret_resp = resp;
	return 1;
}

int
ctl_recv(struct ctl_conn *conn, long long deadline_ms, cJSON **ret_resp,
    char *err, size_t errlen)
{
	for (;;) {
		struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
		int r, timeout = -1;
		ssize_t got;

		r = ctl_take_line(conn, ret_resp, err, errlen);
		if (r != 0)
			return r < 0 ? r : 0;
		if (conn->len >= CTL_LINE_MAX) {
			snprintf(err, errlen,
			    "telepodd sent a reply longer than %d bytes",
			    CTL_LINE_MAX);
			return -EMSGSIZE;
		}
		if (deadline_ms > 0) {
			long long left = deadline_ms - ctl_now_ms();

			if (left <= 0) {
				snprintf(err, errlen,
				    "telepodd did not answer in time");
				return -ETIMEDOUT;
			}
			timeout = left > 60000 ? 60000 : (int)left;
		}
		r = poll(&pfd, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			snprintf(err, errlen, "poll: %s", strerror(-r));
			return r;
		}
		if (r == 0)
			continue; /* the deadline check above decides */
		if (conn->cap - conn->len < 4096) {
			size_t cap = conn->cap ? conn->cap * 2 : 16384;
			char *nb;

			if (cap > CTL_LINE_MAX + 4096)
				cap = CTL_LINE_MAX + 4096;
			nb = realloc(conn->buf, cap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			conn->buf = nb;
			conn->cap = cap;
		}
		got = read(
		    conn->fd, conn->buf + conn->len, conn->cap - conn->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			r = -errno;
			snprintf(err, errlen,
			    "lost the connection to telepodd: %s",
			    strerror(-r));
			return r;
		}
		if (got == 0) {
			snprintf(err, errlen,
			    "telepodd closed the connection without answering; see its log (journalctl -u telepodd)");
			return -ECONNRESET;
		}
		conn->len += (size_t)got;
	}
}

int
ctl_call(struct ctl_conn *conn, const cJSON *req, int timeout_ms,
    ctl_progress_fn progress, void *arg, cJSON **ret_resp, char *err,
    size_t errlen)
{
	long long deadline = timeout_ms > 0 ? ctl_now_ms() + timeout_ms : 0;
	int r;

	r = ctl_send(conn, req, err, errlen);
	if (r < 0)
		return r;
	for (;;) {
		cJSON *resp = NULL;

		r = ctl_recv(conn, deadline, &resp, err, errlen);
		if (r < 0)
			return r;
		if (!ctl_is_progress(resp)) {
			*ret_resp = resp;
			return 0;
		}
		if (progress)
			progress(resp, arg);
		cJSON_Delete(resp);
	}
}
