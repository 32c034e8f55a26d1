/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl: the control protocol between the `telepod` CLI and `telepodd`
 * (proto/CONTROL.md): JSON objects, one per line, over a unix stream
 * socket. The server half runs on the daemon's libevent loop; the client
 * half is blocking and meant for the CLI.
 */
#ifndef TELEPOD_CLIENT_CTL_H
#define TELEPOD_CLIENT_CTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

struct event_base;

/* Version of the control protocol (the "protocol" field of "version"). */
#define CTL_PROTOCOL 1
/* Default socket path; `telepod --socket` or $TELEPOD_SOCKET override it. */
#define CTL_DEFAULT_SOCKET "/run/telepod/telepodd.sock"
/* Environment variable naming another socket path. */
#define CTL_SOCKET_ENV "TELEPOD_SOCKET"
/* Longest request line, newline included. Requests are small. */
#define CTL_REQUEST_MAX (64 * 1024)
/* Longest response line, newline included. An "env" reply carries up to
 * 256 KiB of values (WIRE_MAX_PAYLOAD) that JSON escaping can grow six-fold. */
#define CTL_LINE_MAX (2 * 1024 * 1024)
/* Connections the server holds at once; more are answered "busy". */
#define CTL_MAX_CLIENTS 64
/* A connection with no request in progress is closed after this long. */
#define CTL_IDLE_TIMEOUT_S 60
/* Longest "cmd" value echoed back in an "unknown command" error. */
#define CTL_MAX_CMD_ECHO 64

/* Stable error codes ("code" of a failed response; proto/CONTROL.md). */
#define CTL_E_BAD_REQUEST       "bad_request"
#define CTL_E_FORBIDDEN         "forbidden"
#define CTL_E_NOT_CONNECTED     "not_connected"
#define CTL_E_ALREADY_CONNECTED "already_connected"
#define CTL_E_REFUSED           "refused"
#define CTL_E_RESOLVE           "resolve"
#define CTL_E_TLS               "tls"
#define CTL_E_TLS_FILES         "tls_files"
#define CTL_E_TIMEOUT           "timeout"
#define CTL_E_PROTOCOL          "protocol"
#define CTL_E_BUSY              "busy"
#define CTL_E_INTERNAL          "internal"
#define CTL_E_NETWORK           "network"

/* Credentials of the process at the other end (SO_PEERCRED). */
struct ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

struct ctl_server;
struct ctl_client;

/*
 * Called for each request whose "cmd" matches. req is the parsed request
 * object, borrowed for the duration of the call only (copy what a later
 * reply needs). peer is borrowed too (ctl_client_peer returns it again).
 * The handler must eventually call ctl_reply(client, ..., true) exactly once,
 * now or later from any loop callback: the request holds a reference to
 * client that the final reply releases. Until then the connection reads
 * no further request.
 */
typedef void (*ctl_handler_fn)(struct ctl_client *client,
    const struct ctl_peer *peer, const cJSON *req, void *arg);

struct ctl_command {
	const char *name; /* the "cmd" value */
	ctl_handler_fn fn;
};

struct ctl_handlers {
	const struct ctl_command *commands; /* borrowed; outlives the server */
	size_t n_commands;
};

/*
 * Creates the control socket at path and listens on base. Creates missing
 * parent directories with mode 0755; removes a stale socket file (nobody
 * answers on it) but refuses, with a message in err, when another process
 * listens there or when path is not a socket. The socket gets mode and,
 * unless gid is (gid_t)-1, group gid. handlers and arg are borrowed.
 * Returns the server (free with ctl_server_free) or NULL with err filled.
 */
struct ctl_server *ctl_server_new(struct event_base *base, const char *path,
    mode_t mode, gid_t gid, const struct ctl_handlers *handlers, void *arg,
    char *err, size_t errlen);

/*
 * Stops listening, closes every connection and unlinks the socket file if it
 * is still the one this server created. Requests still in progress keep
 * their client handle alive; their replies are dropped. Accepts NULL.
 */
void ctl_server_free(struct ctl_server *srv);

/* Open connections (for status and tests). */
size_t ctl_server_clients(const struct ctl_server *srv);

/*
 * Sends obj (takes ownership; NULL means out of memory and sends an
 * "internal" error) as one response line. A non-final response is a
 * progress line: "progress" is added when absent and "ok" is forced to true
 * (a failure is always final). A final response loses any
 * "progress" member, ends the request and releases its reference to client,
 * which must not be used afterwards. "ok" is added (true) when absent. A
 * reply longer than CTL_LINE_MAX is replaced by an "internal" error. Safe
 * after the peer went away: the reply is dropped. obj and its serialised
 * copy are wiped (ctl_json_wipe) before they are freed.
 */
void ctl_reply(struct ctl_client *client, cJSON *obj, bool final);

/* Final error reply: {"ok":false,"code":code,"error":formatted}. */
void ctl_reply_error(struct ctl_client *client, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Credentials of the peer of client (borrowed; valid while client is). */
const struct ctl_peer *ctl_client_peer(const struct ctl_client *client);

/* True once the peer hung up or the server closed the connection; replies
 * are then dropped, and a handler may give up early. */
bool ctl_client_closed(const struct ctl_client *client);

/* Root may command every session, others only their own. */
bool ctl_may_command(uid_t peer, uid_t owner);

/* Builds {"ok":true}. Returns NULL when out of memory. Caller frees. */
cJSON *ctl_ok_new(void);

/* Builds {"ok":false,"error":formatted,"code":code}. Returns NULL when out
 * of memory. Caller frees. */
cJSON *ctl_error_new(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
cJSON *ctl_error_newv(const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Parses one line (without its newline; a trailing '\r' is ignored) into a
 * request object. Returns 0 and *ret_req (caller frees), or -EMSGSIZE when
 * len reaches CTL_REQUEST_MAX, -EINVAL when it is not a JSON object with a
 * string "cmd" (*ret_err then points to a static explanation).
 */
int ctl_parse_request(
    const char *line, size_t len, cJSON **ret_req, const char **ret_err);

/*
 * Reads the optional string member name of obj. Returns 0 with *ret_value
 * (borrowed from obj, NULL when absent or null), -EINVAL when it is not a
 * string, -EMSGSIZE when longer than max_len bytes.
 */
int ctl_get_string(
    const cJSON *obj, const char *name, size_t max_len, const char **ret_value);

/* Reads the optional boolean member name; absent gives def. Returns 0 or
 * -EINVAL when it is not a boolean. */
int ctl_get_bool(const cJSON *obj, const char *name, bool def, bool *ret_value);

/* Reads the optional integral number member name within [min, max]; absent
 * gives def. Returns 0, -EINVAL (not an integer) or -ERANGE. */
int ctl_get_int(const cJSON *obj, const char *name, long min, long max,
    long def, long *ret_value);

/* A Kubernetes namespace name: an RFC 1123 label of at most 63 bytes. */
bool ctl_valid_namespace(const char *ns);

/* Overwrites every string in item (member names and values, recursively)
 * with zeros: environment values are secrets, wiped before they are freed.
 * Accepts NULL. */
void ctl_json_wipe(cJSON *item);

/* True when resp is a progress (non-final) response line. */
bool ctl_is_progress(const cJSON *resp);

/* ---- client half (blocking; for the CLI) ---- */

struct ctl_conn;

/*
 * Connects to the daemon's socket at path. Returns 0 and *ret_conn (free
 * with ctl_conn_free) or a negative errno with a sentence for the user in
 * err (what failed, why, what to do).
 */
int ctl_connect(
    const char *path, struct ctl_conn **ret_conn, char *err, size_t errlen);

/* Closes the connection. Accepts NULL. */
void ctl_conn_free(struct ctl_conn *conn);

/* The connected socket (borrowed; for poll() or raw writes in tests). */
int ctl_conn_fd(const struct ctl_conn *conn);

/* Sends req (borrowed) as one line. Returns 0 or a negative errno. */
int ctl_send(struct ctl_conn *conn, const cJSON *req, char *err, size_t errlen);

/*
 * Reads one response line, waiting until the absolute CLOCK_MONOTONIC
 * deadline_ms (0: no deadline). Returns 0 and *ret_resp (caller frees),
 * -ETIMEDOUT, -ECONNRESET when the daemon hung up, -EMSGSIZE when the line
 * exceeds CTL_LINE_MAX, -EPROTO when it is not a JSON object with a boolean
 * "ok", or another negative errno; err explains.
 */
int ctl_recv(struct ctl_conn *conn, long long deadline_ms, cJSON **ret_resp,
    char *err, size_t errlen);

/* Called with each progress line (borrowed) while ctl_call waits. */
typedef void (*ctl_progress_fn)(const cJSON *resp, void *arg);

/*
 * Sends req (borrowed) on conn and reads lines until the final one, handing
 * progress lines to progress (may be NULL), for at most timeout_ms (<= 0: no
 * limit). Returns 0 and the final response in *ret_resp (caller frees; it
 * may say "ok":false) or the negative errno of ctl_send or ctl_recv with err
 * filled. Several calls may follow one another on one connection.
 */
int ctl_call(struct ctl_conn *conn, const cJSON *req, int timeout_ms,
    ctl_progress_fn progress, void *arg, cJSON **ret_resp, char *err,
    size_t errlen);

/* CLOCK_MONOTONIC in milliseconds (for ctl_recv deadlines). */
long long ctl_now_ms(void);

#endif
