/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolvconf: points the laptop's system resolver at telepodd's DNS stub
 * (client/dnsstub) while namespaces are connected, and puts the original
 * configuration back exactly.
 *
 * Two methods, detected, never assumed:
 *
 *  - RESOLVCONF_RESOLVED, when /etc/resolv.conf is a symlink to
 *    systemd-resolved's stub-resolv.conf or resolv.conf AND resolved
 *    answers (`resolvectl status` succeeds): split DNS on the TUN link,
 *      resolvectl dns LINK STUB
 *      resolvectl domain LINK ~DOMAIN ~NS ~NS.svc ~NS.pod ... NS.svc.DOMAIN
 *      resolvectl default-route LINK false
 *    so that only cluster names reach the stub; undone by
 *    `resolvectl revert LINK`. resolvectl rather than sd-bus: no build or
 *    run-time dependency on libsystemd, the same commands an administrator
 *    would type (and can read in our logs), and errors already worded for
 *    people; the cost, a short-lived process per change, only at connect
 *    and disconnect.
 *
 *  - RESOLVCONF_FILE otherwise: /etc/resolv.conf (the file a symlink
 *    points to, if it is one) is rewritten: a comment header, `nameserver
 *    STUB` alone (glibc would otherwise fall back to the original servers
 *    for cluster names; the stub forwards other names to them), the
 *    search list "NS.svc.DOMAIN... svc.DOMAIN DOMAIN" before the original
 *    one, every other original line (options with ndots, sortlist,
 *    comments) kept. The original bytes are kept in memory, in the netstate
 *    record and in save_path (for people). Writes go to a temporary file
 *    renamed over the original; when /etc/resolv.conf is a bind mount (ip
 *    netns exec, containers) the rename fails with EBUSY and the file is
 *    rewritten in place (truncate, write, fsync) instead. Restoring writes
 *    the original bytes back the same way, byte for byte; if the file was
 *    changed by someone else meanwhile it is still restored, with a
 *    warning.
 *
 * With client/netstate (write-ahead): resolvconf_prepare, then
 * netstate_record(RESOLVCONF_KIND, resolvconf_payload()), then
 * resolvconf_apply; on a namespace change resolvconf_set_namespaces,
 * netstate_update, resolvconf_apply; at the end netstate_undo (or
 * resolvconf_restore and netstate_forget). Register resolvconf_undo for
 * RESOLVCONF_KIND so that the next telepodd restores after a kill -9.
 *
 * Blocking file I/O and short commands: start-up, connect and disconnect
 * only, never per packet.
 */
#ifndef TELEPOD_CLIENT_RESOLVCONF_H
#define TELEPOD_CLIENT_RESOLVCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define RESOLVCONF_KIND         "resolver" /* netstate record kind */
#define RESOLVCONF_PATH         "/etc/resolv.conf"
#define RESOLVCONF_SAVE_PATH    "/run/telepod/resolv.conf.orig"
#define RESOLVCONF_RESOLVED_DIR "/run/systemd/resolve"
/* The first line of every file we write. */
#define RESOLVCONF_MARKER "# telepod: written by telepodd"
/* Limits. */
#define RESOLVCONF_MAX_FILE       (64u * 1024u)
#define RESOLVCONF_MAX_NAMESPACES 16
#define RESOLVCONF_MAX_SERVERS    3 /* glibc's MAXNS */
#define RESOLVCONF_CMD_TIMEOUT_MS 5000
#define RESOLVCONF_MAX_PATH       256

enum resolvconf_method {
	RESOLVCONF_DETECT = 0,
	RESOLVCONF_FILE = 1,
	RESOLVCONF_RESOLVED = 2,
};

/*
 * Runs the command argv (NULL terminated; argv[0] looked up in PATH) to
 * completion and returns its exit status (0..255), or a negative errno
 * when it could not run (-ENOENT) or did not finish (-ETIMEDOUT; it is
 * then killed). Up to outlen - 1 bytes of its standard error go to out
 * (always terminated).
 */
typedef int (*resolvconf_run_fn)(
    const char *const *argv, char *out, size_t outlen, void *arg);

struct resolvconf_config {
	const char *path;           /* NULL: RESOLVCONF_PATH */
	const char *save_path;      /* NULL: RESOLVCONF_SAVE_PATH; "": none */
	const char *resolved_dir;   /* NULL: RESOLVCONF_RESOLVED_DIR */
	const char *stub_addr;      /* numeric IPv4 or IPv6; port 53 */
	const char *link;           /* the TUN device (resolved method) */
	const char *cluster_domain; /* "cluster.local" */
	const char *const *namespaces; /* the default (most recent) first */
	size_t n_namespaces;
	enum resolvconf_method method; /* RESOLVCONF_DETECT normally */
	/* Runs resolvectl; NULL: resolvconf_run_command (run_arg NULL or an
	 * unsigned timeout in ms). */
	resolvconf_run_fn run;
	void *run_arg;
};

/* The hooks resolvconf_undo uses (its netstate arg; NULL: defaults). */
struct resolvconf_hooks {
	resolvconf_run_fn run;
	void *run_arg;
};

struct resolvconf;

/*
 * Finds the method for cfg (path, resolved_dir, run). Returns 0 with
 * *ret_method (RESOLVCONF_FILE unless resolved is both configured and
 * answering), or a negative errno with a sentence in err when path cannot
 * be examined.
 */
int resolvconf_detect(const struct resolvconf_config *cfg,
    enum resolvconf_method *ret_method, char *err, size_t errlen);

/*
 * Detects the method (unless cfg->method is set), reads and keeps the
 * original file (FILE) and renders the new configuration. Changes
 * nothing. cfg is copied. Returns 0 and *ret (free with resolvconf_free),
 * or a negative errno with a sentence in err: -EINVAL (a bad address,
 * namespace or domain), -EFBIG (resolv.conf over RESOLVCONF_MAX_FILE),
 * -EEXIST (the file is one telepodd wrote and never restored: recover
 * first), or the errno of reading it.
 */
int resolvconf_prepare(const struct resolvconf_config *cfg,
    struct resolvconf **ret, char *err, size_t errlen);

/* The netstate payload describing rc (everything resolvconf_undo needs,
 * the original bytes included). Caller owns it; NULL when out of memory. */
cJSON *resolvconf_payload(const struct resolvconf *rc);

/*
 * Makes (or, after resolvconf_set_namespaces, updates) the change. FILE:
 * writes save_path, then the new resolv.conf. RESOLVED: runs the three
 * resolvectl commands (reverting the link if one fails). Returns 0 or a
 * negative errno with a sentence in err.
 */
int resolvconf_apply(struct resolvconf *rc, char *err, size_t errlen);

/* Replaces the namespaces (default first) and renders again; nothing is
 * written until resolvconf_apply. Returns 0 or -EINVAL. */
int resolvconf_set_namespaces(
    struct resolvconf *rc, const char *const *namespaces, size_t n);

/*
 * Undoes the change (idempotent; nothing to undo is success). FILE: puts
 * the original bytes back (logging a warning when the file is neither the
 * original nor what we wrote), removes save_path. RESOLVED: `resolvectl
 * revert LINK` unless the link is gone. Returns 0 or a negative errno with
 * a sentence in err.
 */
int resolvconf_restore(struct resolvconf *rc, char *err, size_t errlen);

/* netstate_undo_fn for RESOLVCONF_KIND: restores from a payload of
 * resolvconf_payload. arg: a struct resolvconf_hooks or NULL. */
int resolvconf_undo(const char *kind, const cJSON *payload, void *arg,
    char *err, size_t errlen);

/* Frees rc without undoing anything. Accepts NULL. */
void resolvconf_free(struct resolvconf *rc);

enum resolvconf_method resolvconf_get_method(const struct resolvconf *rc);
/* The file that is (or would be) rewritten, symlinks resolved. */
const char *resolvconf_file(const struct resolvconf *rc);

/*
 * The name servers of the original configuration, for the stub's
 * forwarding (port 53 set; link-local IPv6 with their %scope): the
 * original file (FILE) or the current one (RESOLVED: resolved's own stub
 * address, which serves every name that does not route to our link).
 * Returns the count (<= cap), or a negative errno.
 */
int resolvconf_servers(
    const struct resolvconf *rc, struct sockaddr_storage *ret, size_t cap);

/* Pure helpers, exposed for tests. */

/*
 * Renders the new resolv.conf for original text orig (len bytes) into out
 * (cap bytes; not terminated). Returns the length, -EINVAL (bad
 * stub_addr, namespaces or domain) or -EMSGSIZE.
 */
int resolvconf_render(const char *orig, size_t len,
    const struct resolvconf_config *cfg, char *out, size_t cap);

/* The nameserver lines of text (at most cap, in order, port 53). Returns
 * the count. */
int resolvconf_parse_servers(
    const char *text, size_t len, struct sockaddr_storage *ret, size_t cap);

/*
 * Writes data to path: a temporary file beside it (mode, uid and gid as
 * given, fsync) renamed over it; when the rename fails with EBUSY (path
 * is a mount point, a bind mount) or no temporary file can be made there,
 * rewrites path in place (truncate, write, fsync). *ret_inplace (may be
 * NULL) tells which. Returns 0 or a negative errno.
 */
int resolvconf_write(const char *path, const void *data, size_t len,
    mode_t mode, uid_t uid, gid_t gid, bool *ret_inplace);

/* The default resolvconf_run_fn (posix_spawnp, stdout to /dev/null,
 * stderr captured, killed after the timeout). arg: NULL or a pointer to
 * an unsigned timeout in ms (default RESOLVCONF_CMD_TIMEOUT_MS). The
 * process must not ignore SIGCHLD. */
int resolvconf_run_command(
    const char *const *argv, char *out, size_t outlen, void *arg);

#endif
