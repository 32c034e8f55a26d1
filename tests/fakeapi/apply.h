/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apply: patches and field ownership for the fake API server.
 *
 * Patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902: add,
 * remove, replace, move, copy, test), strategic merge patch (a subset:
 * lists with a patch merge key are merged by that key, other lists are
 * replaced; "$patch": "delete" on a list item removes it) and server-side
 * apply.
 *
 * Field ownership follows structured-merge-diff in a documented subset:
 * a field set holds the paths of leaf fields in SMD's notation
 * (".spec.replicas", ".spec.template.spec.containers[name=\"web\"].image",
 * "[=\"value\"]" for set members), plus the items of associative lists.
 * Lists are associative when the schema says x-kubernetes-list-type: map
 * (or, in the 1.27 documents, x-kubernetes-patch-strategy: merge with a
 * patch merge key), sets for list-type set, atomic otherwise; maps marked
 * x-kubernetes-map-type: atomic are one leaf. Sets are stored in
 * metadata.managedFields as FieldsV1, one entry per manager and operation.
 *
 * Apply: fields in the configuration that another manager owns with a
 * different live value are conflicts (409 unless force, which takes them
 * over); fields the manager applied before and no longer applies are
 * removed unless someone else owns them; the configuration is then merged
 * into the live object. Updates (create, replace, other patches) give the
 * manager the fields they changed and take them from the others.
 */
#ifndef TELEPOD_FAKEAPI_APPLY_H
#define TELEPOD_FAKEAPI_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "tests/fakeapi/discovery.h"
#include "tests/fakeapi/schema.h"

#define APPLY_MAX_CONFLICTS 16
#define APPLY_MAX_MANAGER   128

/* RFC 7386 onto target (changed in place). Returns 0 or -ENOMEM. */
int apply_merge_patch(cJSON *target, const cJSON *patch);

/* RFC 6902 onto *target (may be replaced). Returns 0 or -EINVAL with a
 * sentence in err (a failed test is -EINVAL too). */
int apply_json_patch(
    cJSON **target, const cJSON *ops, char *err, size_t errlen);

/* Removes the value at RFC 6901 pointer from root; nothing when absent. */
void apply_json_remove(cJSON *root, const char *pointer);

/* Strategic merge patch subset onto target for resource res. */
int apply_strategic_patch(const struct schema_set *s,
    const struct discovery_resource *res, cJSON *target, const cJSON *patch);

struct apply_conflict {
	char manager[APPLY_MAX_MANAGER + 1];
	char field[SCHEMA_MAX_PATH];
};

/*
 * Server-side apply of config (borrowed) by manager onto live (borrowed;
 * NULL when the object does not exist yet). On success *ret_obj (caller
 * frees) is the merged object with its managedFields updated. On
 * conflicts without force, returns -EBUSY with up to APPLY_MAX_CONFLICTS
 * in conflicts and their count in *ret_n. Returns 0, -EBUSY or -ENOMEM.
 */
int apply_server_side(const struct schema_set *s,
    const struct discovery_resource *res, const cJSON *live,
    const cJSON *config, const char *manager, bool force, cJSON **ret_obj,
    struct apply_conflict *conflicts, size_t *ret_n);

/*
 * Records an Update by manager: old (NULL for a create) became obj, whose
 * metadata.managedFields is rewritten (the caller's copy of managedFields
 * in obj is ignored, as the real server ignores managedFields in updates
 * unless it is set to an empty list... which the fake also just
 * recomputes). subresource is "" or "status". Returns 0 or -ENOMEM.
 */
int apply_track_update(const struct schema_set *s,
    const struct discovery_resource *res, const cJSON *old, cJSON *obj,
    const char *manager, const char *subresource);

#endif
