/* SPDX-License-Identifier: Apache-2.0 */
/*
 * env: the environment telepod-server hands to clients (ENV_REQUEST). Either
 * the pod's own environment minus telepod's TELEPOD_* variables, or the
 * contents of a dotenv-style file given with --env-file. The set is bounded
 * so that it always fits one ENV_REPLY frame. Values are secrets: they are
 * wiped before their memory is freed and never logged.
 */
#ifndef TELEPOD_SERVER_ENV_H
#define TELEPOD_SERVER_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* Largest env file accepted (comments included). */
#define ENV_MAX_FILE (1024u * 1024u)
/* Entry bytes one ENV_REPLY can carry (after id, error and count). */
#define ENV_MAX_ENCODED (WIRE_MAX_PAYLOAD - 12u)
/* Prefix of telepod's own variables, never handed out. */
#define ENV_OWN_PREFIX "TELEPOD_"

/* One variable; name and value are NUL-terminated and owned by the set. */
struct env_var {
	char *name;
	size_t name_len;
	char *value;
	size_t value_len;
};

/* An ordered set of variables (insertion order; env_set replaces). */
struct env {
	struct env_var *vars;
	size_t n;
	size_t cap;
	size_t encoded; /* bytes the entries take in an ENV_REPLY */
};

/* Where and why an env file was rejected. */
struct env_error {
	size_t line;     /* 1-based line number, 0 when not about a line */
	const char *why; /* static text */
};

void env_init(struct env *e);
/* Wipes every value, frees the variables; e is empty afterwards. */
void env_clear(struct env *e);

/*
 * Adds name=value (copied), replacing an existing name. Returns 0, -EINVAL
 * for an empty name or one holding '=' or NUL, -EMSGSIZE when a length or
 * the reply's entry count or size limit would be exceeded, -ENOMEM.
 */
int env_set(struct env *e, const char *name, size_t name_len, const char *value,
    size_t value_len);

/* Returns the variable called name or NULL. */
const struct env_var *env_get(const struct env *e, const char *name);

/*
 * Adds the "NAME=VALUE" strings of envp (a NULL-terminated array like
 * environ), skipping TELEPOD_* and entries without '='. Entries that break
 * the reply limits are skipped too. Returns the number skipped for limits
 * (>= 0) or -ENOMEM.
 */
int env_collect(struct env *e, char *const *envp);

/*
 * Parses a dotenv-style text: KEY=VALUE lines, blank lines, '#' comments, an
 * optional "export " prefix, values unquoted (trailing blanks and a " #"
 * comment dropped), 'single-quoted' (literal, may span lines) or
 * "double-quoted" (\n \r \t \\ \" \$ escapes, may span lines). Keys match
 * [A-Za-z_.-][A-Za-z0-9_.-]*. Later keys replace earlier ones. Returns 0,
 * or -EINVAL / -EMSGSIZE with *err naming the line and the reason, or
 * -ENOMEM. On failure e keeps the entries before the bad one (env_clear it).
 */
int env_parse(
    struct env *e, const char *buf, size_t len, struct env_error *err);

/*
 * Reads and parses the file at path (at most ENV_MAX_FILE bytes). Returns 0
 * or a negative errno; err->why is NULL for system errors (use strerror),
 * err->line is 0 for errors about the whole file, otherwise as env_parse.
 * The read buffer is wiped.
 */
int env_load_file(struct env *e, const char *path, struct env_error *err);

/*
 * Encodes all variables as ENV_REPLY entries into buf (capacity cap).
 * Returns the bytes written (e->encoded) or -EMSGSIZE.
 */
int env_encode(const struct env *e, uint8_t *buf, size_t cap);

#endif
