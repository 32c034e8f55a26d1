/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: the fake API server's objects, as etcd plus the watch cache would
 * keep them. One global resourceVersion counter, bumped by every write;
 * each object gets metadata.uid, resourceVersion (a decimal string),
 * creationTimestamp and, for resources that track spec changes,
 * generation. Every write is also appended to a bounded event history:
 * watches replay it from a resourceVersion, and a resourceVersion older
 * than the history yields -ESTALE, which the caller turns into the 410
 * "too old resource version" of the real server.
 *
 * Label selectors (=, ==, !=, in, notin, exists, !exists) and the field
 * selectors metadata.name and metadata.namespace are parsed here too.
 */
#ifndef TELEPOD_FAKEAPI_STORE_H
#define TELEPOD_FAKEAPI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "tests/fakeapi/discovery.h"

#define STORE_DEFAULT_HISTORY 1000
#define STORE_MAX_HISTORY     1000000
#define STORE_MAX_OBJECTS     100000

enum store_event_type {
	STORE_ADDED,
	STORE_MODIFIED,
	STORE_DELETED,
};

struct store_event {
	uint64_t rv;
	enum store_event_type type;
	const struct discovery_resource *res;
	const char *ns;    /* "" for cluster-scoped */
	const cJSON *obj;  /* the object after (for DELETED: as deleted) */
	const cJSON *prev; /* MODIFIED: the object before; else NULL */
};

typedef void (*store_watch_fn)(const struct store_event *ev, void *arg);

struct store;
struct store_watch;

/* Makes an empty store keeping the last `history` events (1 to
 * STORE_MAX_HISTORY). NULL when out of memory or history out of range. */
struct store *store_new(size_t history);
/* Frees the objects, the history and any remaining watches. */
void store_free(struct store *s);

/* The current (last written) resourceVersion. */
uint64_t store_rv(const struct store *s);
/* The oldest resourceVersion a watch may start from. */
uint64_t store_oldest_rv(const struct store *s);

/* The object, or NULL (borrowed: valid until the next write). */
cJSON *store_get(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name);

/*
 * Stores obj (ownership taken, also on failure) as a new object named by
 * its metadata.name in ns ("" for cluster-scoped): sets uid,
 * resourceVersion, creationTimestamp and generation 1 (when the resource
 * has one). *ret (borrowed) is the stored object. Returns 0, -EEXIST,
 * -EINVAL (no name), -ENOSPC (STORE_MAX_OBJECTS) or -ENOMEM.
 */
int store_create(struct store *s, const struct discovery_resource *res,
    const char *ns, cJSON *obj, cJSON **ret);

/*
 * Replaces an object with obj (ownership taken, also on failure), keeping
 * uid and creationTimestamp; bumps resourceVersion and, when anything but
 * metadata and status changed, generation. Returns 0, -ENOENT or -ENOMEM.
 * A write that changes nothing is not a write: the object keeps its
 * resourceVersion and no event is recorded (as the real server does).
 */
int store_update(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name, cJSON *obj, cJSON **ret);

/* Removes an object; *ret_obj (caller frees; may be NULL to discard) gets
 * it with the resourceVersion of the deletion. Returns 0 or -ENOENT. */
int store_delete(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name, cJSON **ret_obj);

/* Calls fn for each object of res in ns (NULL: all namespaces), in
 * namespace/name order. */
void store_foreach(struct store *s, const struct discovery_resource *res,
    const char *ns, void (*fn)(const cJSON *obj, void *arg), void *arg);

/*
 * Starts a watch on res in ns (NULL: all): first replays the recorded
 * events after since (when since is not 0), then calls fn for every new
 * event. Returns 0, or -ESTALE when since is older than the history (the
 * caller answers 410 with store_oldest_rv()), or -ENOMEM. fn may call
 * store_watch_cancel() on its own watch.
 */
int store_watch(struct store *s, const struct discovery_resource *res,
    const char *ns, uint64_t since, store_watch_fn fn, void *arg,
    struct store_watch **ret);
void store_watch_cancel(struct store *s, struct store_watch *w);

/* RFC 3339 UTC timestamp of now, "2026-01-02T03:04:05Z" (21 bytes). */
void store_now(char buf[32]);
/* A random version 4 UUID (37 bytes). */
void store_uuid(char buf[40]);

/* Selectors. */
#define STORE_MAX_REQS   32
#define STORE_MAX_VALUES 16

struct store_selector;

/*
 * Parses a labelSelector and a fieldSelector (either may be NULL or
 * empty). Field selectors support metadata.name and metadata.namespace
 * with =, == and !=. Caller frees with store_selector_free(). Returns 0 or
 * -EINVAL with the real server's sentence in err ("unable to parse
 * requirement: ...", "field label not supported: spec.x").
 */
int store_selector_parse(const char *labels, const char *fields,
    struct store_selector **ret, char *err, size_t errlen);
void store_selector_free(struct store_selector *sel);
/* Whether obj matches (a NULL selector matches everything). */
bool store_selector_match(const struct store_selector *sel, const cJSON *obj);

#endif
