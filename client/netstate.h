/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netstate: the ledger of every change telepodd makes to the machine's
 * network configuration (its TUN device, its routes, and whatever other
 * modules register, such as resolver changes), kept in a small JSON file so
 * that a daemon killed with SIGKILL can be cleaned up after by the next one.
 *
 * Write-ahead: a change is recorded (file written: temporary file, fsync,
 * rename, fsync of the directory) BEFORE it is made, and forgotten after it
 * was undone. So the file may name a change that never happened (the
 * daemon died in between); every undo callback must therefore treat
 * "nothing to undo" as success, and must be idempotent.
 *
 * File (PATH, default NETSTATE_DEFAULT_PATH):
 *   {"version": 1, "records": [
 *     {"id": 1, "kind": "tun", "payload": {"name": "tel0", "ifindex": 7}},
 *     {"id": 2, "kind": "route",
 *      "payload": {"dst": "10.96.0.0/12", "ifindex": 7}},
 *     {"id": 3, "kind": "resolver", "payload": {...}}]}
 * Undo runs newest first. The kinds "tun" and "route" are built in (they
 * delete the link if it is still a TUN device with that index, and the
 * route with our protocol through that index); other modules register
 * their kind with netstate_register() before netstate_recover().
 *
 * One daemon at a time: netstate_new() holds an exclusive lock on
 * PATH.lock for the life of the object (released by the kernel if the
 * process dies), so recovery never undoes a running daemon's changes.
 * Blocking file and netlink I/O: start-up, shutdown and configuration
 * changes only.
 */
#ifndef TELEPOD_CLIENT_NETSTATE_H
#define TELEPOD_CLIENT_NETSTATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "client/cidr.h"

#define NETSTATE_DEFAULT_PATH "/run/telepod/netstate.json"
#define NETSTATE_VERSION      1
/* Hard limits on what is written and read back. */
#define NETSTATE_MAX_RECORDS 8192
#define NETSTATE_MAX_FILE    (4u << 20)
#define NETSTATE_KIND_MAX    32 /* bytes, NUL included */
#define NETSTATE_ERROR_MAX   512
/* The built-in kinds. */
#define NETSTATE_KIND_TUN   "tun"
#define NETSTATE_KIND_ROUTE "route"

struct netstate;

/*
 * Undoes one change of a kind: payload is what was recorded (borrowed),
 * arg what was registered. Returns 0 when the change is undone or there
 * was nothing to undo, or a negative errno with a sentence in err; a
 * failed record stays in the file for the next recovery.
 */
typedef int (*netstate_undo_fn)(const char *kind, const cJSON *payload,
    void *arg, char *err, size_t errlen);

/*
 * Opens the ledger at path (NULL: NETSTATE_DEFAULT_PATH), creating its
 * directory (mode 0755) if needed, and takes the lock. Reads nothing yet.
 * Caller frees with netstate_free(). Returns 0, -EBUSY when another
 * process holds the lock ("another telepodd is running (it holds
 * PATH.lock)"), or another negative errno with a sentence in err.
 */
int netstate_new(
    const char *path, struct netstate **ret, char *err, size_t errlen);

/* Releases the lock and the memory. Changes not undone stay in the file
 * for the next netstate_recover(). Accepts NULL. */
void netstate_free(struct netstate *ns);

/* The file's path (borrowed from ns). */
const char *netstate_path(const struct netstate *ns);

/*
 * Registers (or replaces) the undo callback of kind (1 to
 * NETSTATE_KIND_MAX - 1 characters of [a-z0-9._-]).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int netstate_register(
    struct netstate *ns, const char *kind, netstate_undo_fn fn, void *arg);

/*
 * Undoes, newest first, whatever an earlier instance recorded and did not
 * undo, then clears the file (removes it). Call at daemon start, after
 * every module registered its kind and before making any change.
 * Returns 0 when nothing is left; -EAGAIN when some records could not be
 * undone (no callback for their kind, or the callback failed): they stay
 * in the file and in memory, err names the first; -EBADMSG when the file
 * is not a ledger (it is moved aside to PATH.corrupt, err says so); or
 * another negative errno with a sentence in err.
 */
int netstate_recover(struct netstate *ns, char *err, size_t errlen);

/*
 * Records a change about to be made and writes the file. Takes ownership
 * of payload (freed even on error). *ret_id (optional) identifies the
 * record. Returns 0, -EMSGSIZE beyond NETSTATE_MAX_RECORDS, -EINVAL for a
 * bad kind, or a negative errno with a sentence in err (the record is then
 * not kept: do not make the change).
 */
int netstate_record(struct netstate *ns, const char *kind, cJSON *payload,
    uint64_t *ret_id, char *err, size_t errlen);

/* Replaces the payload of record id (takes ownership of payload) and
 * writes the file. Returns 0, -ENOENT, or a negative errno with err. */
int netstate_update(
    struct netstate *ns, uint64_t id, cJSON *payload, char *err, size_t errlen);

/* Drops record id (the change was undone, or never made) and writes the
 * file. Returns 0, -ENOENT, or a negative errno with err. */
int netstate_forget(struct netstate *ns, uint64_t id, char *err, size_t errlen);

/* Undoes record id now with its kind's callback, then forgets it.
 * Returns 0, -ENOENT, or the callback's (or the write's) error. */
int netstate_undo(struct netstate *ns, uint64_t id, char *err, size_t errlen);

/*
 * Undoes every record, newest first (on quit or SIGTERM); the file is
 * removed when all went. Returns 0, or -EAGAIN when some could not be
 * undone (kept; err names the first).
 */
int netstate_undo_all(struct netstate *ns, char *err, size_t errlen);

/* Number of records held. */
size_t netstate_count(const struct netstate *ns);

/*
 * Helpers for the built-in kinds.
 * netstate_record_tun: records the TUN device name (ifindex 0 while it
 * does not exist yet; set it with netstate_update_tun once known).
 */
int netstate_record_tun(struct netstate *ns, const char *name, int ifindex,
    uint64_t *ret_id, char *err, size_t errlen);
int netstate_update_tun(struct netstate *ns, uint64_t id, const char *name,
    int ifindex, char *err, size_t errlen);

/*
 * Records the route dst through ifindex, then adds it (route_add, src as
 * there); on failure the record is forgotten again. Undo with
 * netstate_undo(*ret_id) or netstate_undo_all().
 * Returns 0, or a negative errno with a sentence in err.
 */
int netstate_route_add(struct netstate *ns, int ifindex, const struct cidr *dst,
    const struct cidr *src, uint64_t *ret_id, char *err, size_t errlen);

#endif
