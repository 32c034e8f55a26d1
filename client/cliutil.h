/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cliutil: the logic of the `telepod` CLI that needs no daemon, kept apart
 * from client/cli.c (I/O and exec) so unit tests call it directly: argument
 * parsing into a struct, environment formatting (dotenv, sh, json), the
 * environment merge of `telepod run`, choosing a session when -n is absent,
 * the TLS directory check of `connect` and the status table.
 */
#ifndef TELEPOD_CLIENT_CLIUTIL_H
#define TELEPOD_CLIENT_CLIUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "client/cidr.h"

/* Exit codes of `telepod` (documented in --help and README). */
#define CLIUTIL_EXIT_OK             0
#define CLIUTIL_EXIT_FAILED         1 /* the operation failed */
#define CLIUTIL_EXIT_USAGE          2
#define CLIUTIL_EXIT_UNREACHABLE    3 /* cannot reach telepodd */
#define CLIUTIL_EXIT_NOT_CONNECTED  4 /* no such session */
#define CLIUTIL_EXIT_CANNOT_EXECUTE 126
#define CLIUTIL_EXIT_NOT_FOUND      127

/* Defaults and limits of the options. */
#define CLIUTIL_DEFAULT_NAMESPACE "default"
#define CLIUTIL_DEFAULT_TIMEOUT_S 30
#define CLIUTIL_MAX_TIMEOUT_S     600
#define CLIUTIL_DEFAULT_DAYS      365
#define CLIUTIL_MAX_DAYS          36500
#define CLIUTIL_MAX_SERVER_NAMES  64
#define CLIUTIL_MAX_HOSTPORT      261 /* 253-byte name, brackets, :65535 */
#define CLIUTIL_MAX_NAME          253
/* Most prefixes each of --also-proxy, --never-proxy and
 * --allow-conflicting-subnet takes (counting comma-separated items). */
#define CLIUTIL_MAX_CIDRS 64
/* Longest TUN device name (IFNAMSIZ - 1). */
#define CLIUTIL_MAX_TUN_NAME 15

enum cliutil_cmd {
	CLIUTIL_CMD_NONE = 0, /* no command: print the global usage */
	CLIUTIL_CMD_HELP,     /* `telepod help [COMMAND]` */
	CLIUTIL_CMD_VERSION,
	CLIUTIL_CMD_CONNECT,
	CLIUTIL_CMD_STATUS,
	CLIUTIL_CMD_QUIT,
	CLIUTIL_CMD_ENV,
	CLIUTIL_CMD_RUN,
	CLIUTIL_CMD_CERTS_CREATE,
	CLIUTIL_CMD_DEMO,
};

enum cliutil_format {
	CLIUTIL_FMT_TEXT = 0,
	CLIUTIL_FMT_JSON,
	CLIUTIL_FMT_DOTENV,
	CLIUTIL_FMT_SH,
};

/* The parsed command line. Strings are borrowed from argv (or from the
 * environment for socket_path); nothing needs freeing. */
struct cliutil_args {
	enum cliutil_cmd cmd;
	/* --help after a command, or `telepod help COMMAND`: print that
	 * command's usage (cmd tells which; NONE: the global usage). */
	bool help;
	const char *socket_path; /* --socket, $TELEPOD_SOCKET or the default */
	const char *ns; /* -n; NULL when not given (connect: default) */
	/* connect */
	const char *server;
	const char *tls_dir;
	const char *server_name; /* NULL: the daemon's default */
	bool no_tun;
	int timeout_s;
	const char *tun_name; /* NULL: the daemon's default (tel0) */
	/* Prefixes, parsed and checked (no host bits set). */
	struct cidr also_proxy[CLIUTIL_MAX_CIDRS];
	size_t n_also_proxy;
	struct cidr never_proxy[CLIUTIL_MAX_CIDRS];
	size_t n_never_proxy;
	struct cidr allow_conflicting[CLIUTIL_MAX_CIDRS];
	size_t n_allow_conflicting;
	/* status (text|json), env (dotenv|json|sh) */
	enum cliutil_format format;
	/* run: the command and its arguments, NULL-terminated (argv's tail) */
	bool override_all;
	char **run_argv;
	/* certs create */
	const char *out_dir;
	const char *server_names[CLIUTIL_MAX_SERVER_NAMES];
	size_t n_server_names;
	int days;
	bool force;
	/* demo: keep the simulated cluster up (--keep), or tear down the one
	 * kept in down_dir (--down DIR). */
	bool keep;
	const char *down_dir;
};

/*
 * Parses `telepod [--socket PATH] COMMAND [ARGS]` (argv[0] is the program).
 * env_socket is $TELEPOD_SOCKET (NULL when unset). Returns 0 and fills
 * *ret_args, or -EINVAL with sentences for the user in err (a usage error,
 * ending with where to find the right usage). Uses getopt_long and resets
 * its state; prints nothing.
 */
int cliutil_parse(int argc, char **argv, const char *env_socket,
    struct cliutil_args *ret_args, char *err, size_t errlen);

/* The name of cmd as typed ("certs create"; "" for NONE). */
const char *cliutil_cmd_name(enum cliutil_cmd cmd);

/* Prints the usage of cmd (CLIUTIL_CMD_NONE: the global usage) to out. */
void cliutil_usage(FILE *out, enum cliutil_cmd cmd);

/* True for "HOST:PORT" with a non-empty host (a name, IPv4, or [IPv6]) and
 * a port in 1..65535, at most CLIUTIL_MAX_HOSTPORT bytes. */
bool cliutil_valid_hostport(const char *s);

/* Writes item (borrowed) to out as JSON indented by two spaces, with a
 * final newline. Returns 0 or -ENOMEM. */
int cliutil_json_write(FILE *out, const cJSON *item);

/* True for a portable environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool cliutil_valid_env_name(const char *name);

/* Quotes value for a POSIX shell: 'value' with ' written as '\''.
 * Returns a string the caller frees, or NULL when out of memory. */
char *cliutil_quote_sh(const char *value);

/*
 * Quotes value for a dotenv file so that the common parsers (python-dotenv,
 * docker compose, node dotenv) read it back unchanged: bare when it is
 * empty or only [A-Za-z0-9_./:@%+,^~-]; in single quotes when it has no
 * single quote, backslash or line break (single quotes make $ literal);
 * otherwise in double quotes with \\ \" \n \r \t and \$ escaped. Returns a
 * string the caller frees, or NULL when out of memory.
 */
char *cliutil_quote_dotenv(const char *value);

/*
 * Writes env (a JSON object of strings, borrowed) to out sorted by name:
 * DOTENV "NAME=value" lines, SH "export NAME='value'" lines, JSON a
 * pretty-printed object. DOTENV and SH skip names that are not valid
 * variable names (they could not be read back, and in sh they would be
 * code); every format skips non-string values. Returns the number written
 * and the number skipped in *ret_skipped, or -EINVAL (env not an object or
 * format TEXT) or -ENOMEM.
 */
int cliutil_env_write(FILE *out, const cJSON *env, enum cliutil_format format,
    size_t *ret_skipped);

/* True for the variables `run` keeps from the local environment unless
 * --override-all: PATH, HOME, USER, SHELL, TERM. */
bool cliutil_env_protected(const char *name);

/*
 * The environment of `telepod run`: local (a NULL-terminated environ,
 * borrowed) with every remote variable (env object, borrowed) set over it,
 * except invalid names and non-string values (counted in *ret_skipped) and,
 * unless override_all, the protected ones, which stay as they are locally
 * (and stay unset when unset locally). Returns 0 and *ret_envp (free with
 * cliutil_env_free) or -EINVAL / -ENOMEM.
 */
int cliutil_env_merge(char *const *local, const cJSON *env, bool override_all,
    char ***ret_envp, size_t *ret_skipped);

/* Frees an environment made by cliutil_env_merge. Accepts NULL. */
void cliutil_env_free(char **envp);

/*
 * Chooses the session for env/run when -n is absent, from a status reply
 * (borrowed): the only session uid may command (ctl_may_command). Returns
 * 0 and *ret_ns (borrowed from status), -ENOENT when there is none or
 * -EEXIST when there are several, with a sentence in err either way.
 */
int cliutil_pick_namespace(const cJSON *status, uid_t uid, const char **ret_ns,
    char *err, size_t errlen);

/*
 * Checks the TLS directory of `connect`: makes dir absolute (realpath) into
 * ret_abs and checks ca.crt, client.crt and client.key are readable files.
 * Returns 0, or a negative errno with a sentence in err naming the missing
 * file and suggesting `telepod certs create`.
 */
int cliutil_check_tls_dir(
    const char *dir, char *ret_abs, size_t abs_len, char *err, size_t errlen);

/* "2h03m" for 7380 seconds; "45s", "5m02s", "3d04h". */
void cliutil_format_duration(char *out, size_t cap, long long seconds);

/* "512 B", "1.5 KiB", "3.2 MiB", "1.0 GiB". */
void cliutil_format_bytes(char *out, size_t cap, long long bytes);

/* Copies text from the daemon (ultimately often from the server) for the
 * terminal into out: control characters become '?'; cut to fit cap. */
void cliutil_clean(char *out, size_t cap, const char *in);

/*
 * Renders a status reply (borrowed) as a readable table: a daemon line,
 * then one row per session (or a line saying there is none), with subnets
 * and the last error under each row. Missing members show as "-".
 */
void cliutil_status_render(FILE *out, const cJSON *status);

#endif
