/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apply: JSON merge patch, JSON patch, a strategic-merge-patch subset and
 * server-side apply with per-manager field ownership (managedFields,
 * FieldsV1) for the fake API server. See apply.h for the subset.
 *
 * Internally a field path is its FieldsV1 keys ("f:spec", "f:replicas",
 * "k:{\"name\":\"web\"}", "v:\"x\"") joined with the unit separator 0x1f,
 * which no key can contain ambiguously; it is shown to users in SMD's
 * notation (".spec.replicas").
 */
#include "tests/fakeapi/apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fakeapi/store.h"

#define APPLY_SEP         '\x1f'
#define APPLY_MAX_DEPTH   64
#define APPLY_MAX_PATHS   100000
#define APPLY_MAX_ENTRIES 64

/* Merge patch (RFC 7386) ------------------------------------------------- */

int
apply_merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, patch)
	{
		cJSON *cur =
		    cJSON_GetObjectItemCaseSensitive(target, it->string);

		if (cJSON_IsNull(it)) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    target, it->string);
			continue;
		}
		if (cJSON_IsObject(it) && cJSON_IsObject(cur)) {
			if (apply_merge_patch(cur, it) < 0)
				return -ENOMEM;
			continue;
		}
		if (cJSON_IsObject(it)) {
			/* Patching a non-object: start from {} so nulls
			 * inside are dropped, as RFC 7386 says. */
			cJSON *fresh = cJSON_CreateObject();

			if (fresh == NULL || apply_merge_patch(fresh, it) < 0) {
				cJSON_Delete(fresh);
				return -ENOMEM;
			}
			if (cur != NULL)
				cJSON_ReplaceItemInObjectCaseSensitive(
				    target, it->string, fresh);
			else
				cJSON_AddItemToObject(
				    target, it->string, fresh);
			continue;
		}
		{
			cJSON *dup = cJSON_Duplicate(it, true);

			if (dup == NULL)
				return -ENOMEM;
			if (cur != NULL)
				cJSON_ReplaceItemInObjectCaseSensitive(
				    target, it->string, dup);
			else
				cJSON_AddItemToObject(target, it->string, dup);
		}
	}
	return 0;
}

/* JSON patch (RFC 6902) --------------------------------------------------- */

/* Decodes one JSON pointer token (~1 is '/', ~0 is '~'). */
static void
apply_ptr_token(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		if (s[i] == '~' && i + 1 < len && s[i + 1] == '1') {
			out[o++] = '/';
			i++;
		} else if (s[i] == '~' && i + 1 < len && s[i + 1] == '0') {
			out[o++] = '~';
			i++;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Finds the parent of the pointer's target and its last token. */
static int
apply_ptr_parent(
    cJSON *root, const char *ptr, cJSON **ret_parent, char *last, size_t cap)
{
	cJSON *cur = root;
	const char *p = ptr;

	if (ptr[0] != '/')
		return -EINVAL;
	for (;;) {
		const char *next = strchr(p + 1, '/');
		size_t len =
		    next != NULL ? (size_t)(next - p - 1) : strlen(p + 1);
		char tok[256];

		apply_ptr_token(p + 1, len, tok, sizeof(tok));
		if (next == NULL) {
			snprintf(last, cap, "%s", tok);
			*ret_parent = cur;
			return 0;
		}
		if (cJSON_IsArray(cur)) {
			char *end;
			long idx = strtol(tok, &end, 10);

			if (*end != '\0' || idx < 0)
				return -EINVAL;
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else {
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
		}
		if (cur == NULL)
			return -ENOENT;
		p = next;
	}
}

static cJSON *
apply_ptr_get(cJSON *root, const char *ptr)
{
	cJSON *parent;
	char last[256];

	if (ptr[0] == '\0')
		return root;
	if (apply_ptr_parent(root, ptr, &parent, last, sizeof(last)) < 0)
		return NULL;
	if (cJSON_IsArray(parent)) {
		char *end;
		long idx = strtol(last, &end, 10);

		if (*end != '\0' || idx < 0)
			return NULL;
		return cJSON_GetArrayItem(parent, (int)idx);
	}
	return cJSON_GetObjectItemCaseSensitive(parent, last);
}

static cJSON *
apply_ptr_detach(cJSON *root, const char *ptr)
{
	cJSON *parent;
	char last[256];

	if (apply_ptr_parent(root, ptr, &parent, last, sizeof(last)) < 0)
		return NULL;
	if (cJSON_IsArray(parent)) {
		char *end;
		long idx = strtol(last, &end, 10);

		if (*end != '\0' || idx < 0 ||
		    idx >= cJSON_GetArraySize(parent))
			return NULL;
		return cJSON_DetachItemFromArray(parent, (int)idx);
	}
	return cJSON_DetachItemFromObjectCaseSensitive(parent, last);
}

void
apply_json_remove(cJSON *root, const char *pointer)
{
	cJSON_Delete(apply_ptr_detach(root, pointer));
}

/* Adds value (taken) at ptr. */
static int
apply_ptr_add(cJSON **root, const char *ptr, cJSON *value)
{
	cJSON *parent;
	char last[256];

	if (ptr[0] == '\0') {
		cJSON_Delete(*root);
		*root = value;
		return 0;
	}
	if (apply_ptr_parent(*root, ptr, &parent, last, sizeof(last)) < 0) {
		cJSON_Delete(value);
		return -EINVAL;
	}
	if (cJSON_IsArray(parent)) {
		int n = cJSON_GetArraySize(parent);
		char *end;
		long idx;

		if (strcmp(last, "-") == 0) {
			cJSON_AddItemToArray(parent, value);
			return 0;
		}
		idx = strtol(last, &end, 10);
		if (*end != '\0' || idx < 0 || idx > n) {
			cJSON_Delete(value);
			return -EINVAL;
		}
		if (idx == n)
			cJSON_AddItemToArray(parent, value);
		else
			cJSON_InsertItemInArray(parent, (int)idx, value);
		return 0;
	}
	if (!cJSON_IsObject(parent)) {
		cJSON_Delete(value);
		return -EINVAL;
	}
	if (cJSON_GetObjectItemCaseSensitive(parent, last) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(parent, last, value);
	else
		cJSON_AddItemToObject(parent, last, value);
	return 0;
}

int
apply_json_patch(cJSON **target, const cJSON *ops, char *err, size_t errlen)
{
	const cJSON *op;

	if (!cJSON_IsArray(ops)) {
		snprintf(err, errlen,
		    "the server rejected our request due to an error in our request: json: cannot unmarshal object into Go value of type jsonpatch.Patch");
		return -EINVAL;
	}
	cJSON_ArrayForEach(op, ops)
	{
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(op, "op");
		const cJSON *path =
		    cJSON_GetObjectItemCaseSensitive(op, "path");
		const cJSON *from =
		    cJSON_GetObjectItemCaseSensitive(op, "from");
		const cJSON *value =
		    cJSON_GetObjectItemCaseSensitive(op, "value");
		const char *name;
		int r = 0;

		if (!cJSON_IsString(o) || !cJSON_IsString(path)) {
			snprintf(
			    err, errlen, "missing op or path in JSON patch");
			return -EINVAL;
		}
		name = o->valuestring;
		if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
			if (value == NULL) {
				snprintf(err, errlen, "missing value");
				return -EINVAL;
			}
			if (strcmp(name, "replace") == 0 &&
			    apply_ptr_get(*target, path->valuestring) == NULL) {
				snprintf(err, errlen,
				    "replace operation does not apply: doc is missing key: %s",
				    path->valuestring);
				return -EINVAL;
			}
			r = apply_ptr_add(target, path->valuestring,
			    cJSON_Duplicate(value, true));
		} else if (strcmp(name, "remove") == 0) {
			cJSON *d = apply_ptr_detach(*target, path->valuestring);

			if (d == NULL) {
				snprintf(err, errlen,
				    "remove operation does not apply: doc is missing path: \"%s\"",
				    path->valuestring);
				return -EINVAL;
			}
			cJSON_Delete(d);
		} else if (strcmp(name, "move") == 0 ||
		           strcmp(name, "copy") == 0) {
			cJSON *src;

			if (!cJSON_IsString(from)) {
				snprintf(err, errlen, "missing from");
				return -EINVAL;
			}
			src = strcmp(name, "move") == 0
			          ? apply_ptr_detach(*target, from->valuestring)
			          : cJSON_Duplicate(apply_ptr_get(*target,
			                                from->valuestring),
			                true);
			if (src == NULL) {
				snprintf(err, errlen,
				    "%s operation does not apply: missing from path %s",
				    name, from->valuestring);
				return -EINVAL;
			}
			r = apply_ptr_add(target, path->valuestring, src);
		} else if (strcmp(name, "test") == 0) {
			cJSON *cur = apply_ptr_get(*target, path->valuestring);

			if (cur == NULL || value == NULL ||
			    !cJSON_Compare(cur, value, true)) {
				snprintf(err, errlen,
				    "testing value %s failed: test failed",
				    path->valuestring);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "Unexpected kind: %s", name);
			return -EINVAL;
		}
		if (r < 0) {
			snprintf(err, errlen,
			    "%s operation does not apply: doc is missing path: \"%s\"",
			    name, path->valuestring);
			return -EINVAL;
		}
	}
	return 0;
}

/* List semantics from the schema ----------------------------------------- */

enum apply_list {
	APPLY_LIST_ATOMIC,
	APPLY_LIST_MAP,
	APPLY_LIST_SET,
};

/* The list kind of array schema sch and, for maps, its key names. */
static enum apply_list
apply_list_kind(const cJSON *sch, const char *keys[4], size_t *ret_n)
{
	const cJSON *lt =
	    cJSON_GetObjectItemCaseSensitive(sch, "x-kubernetes-list-type");
	const cJSON *lk =
	    cJSON_GetObjectItemCaseSensitive(sch, "x-kubernetes-list-map-keys");
	const cJSON *mk = cJSON_GetObjectItemCaseSensitive(
	    sch, "x-kubernetes-patch-merge-key");
	const cJSON *ps = cJSON_GetObjectItemCaseSensitive(
	    sch, "x-kubernetes-patch-strategy");
	size_t n = 0;

	*ret_n = 0;
	if (cJSON_IsString(lt) && strcmp(lt->valuestring, "map") == 0 &&
	    cJSON_IsArray(lk)) {
		const cJSON *k;

		cJSON_ArrayForEach(k, lk)
		{
			if (cJSON_IsString(k) && n < 4)
				keys[n++] = k->valuestring;
		}
		*ret_n = n;
		return n > 0 ? APPLY_LIST_MAP : APPLY_LIST_ATOMIC;
	}
	if (cJSON_IsString(lt) && strcmp(lt->valuestring, "set") == 0)
		return APPLY_LIST_SET;
	if (cJSON_IsString(lt))
		return APPLY_LIST_ATOMIC;
	/* The 1.27 documents mostly lack list-type: the patch strategy tells
	 * what the server's built-in schema derives from the Go tags. */
	if (cJSON_IsString(ps) && strstr(ps->valuestring, "merge") != NULL) {
		if (cJSON_IsString(mk)) {
			keys[0] = mk->valuestring;
			*ret_n = 1;
			return APPLY_LIST_MAP;
		}
		return APPLY_LIST_SET;
	}
	return APPLY_LIST_ATOMIC;
}

static bool
apply_atomic_map(const cJSON *sch)
{
	const cJSON *mt =
	    cJSON_GetObjectItemCaseSensitive(sch, "x-kubernetes-map-type");

	if (cJSON_IsString(mt) && strcmp(mt->valuestring, "atomic") == 0)
		return true;
	/* Objects with no declared fields (RawExtension) are opaque. */
	return sch == NULL ||
	       (cJSON_GetObjectItemCaseSensitive(sch, "properties") == NULL &&
	           cJSON_GetObjectItemCaseSensitive(
	               sch, "additionalProperties") == NULL);
}

/* The "k:" key object of a list item, keys in name order; NULL when the
 * item lacks all keys. Caller frees. */
static char *
apply_item_key(const cJSON *item, const char *keys[4], size_t nk)
{
	const char *sorted[4];
	cJSON *k = cJSON_CreateObject();
	char *text;
	bool any = false;

	for (size_t i = 0; i < nk; i++)
		sorted[i] = keys[i];
	for (size_t i = 0; i < nk; i++)
		for (size_t j = i + 1; j < nk; j++)
			if (strcmp(sorted[j], sorted[i]) < 0) {
				const char *t = sorted[i];

				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	for (size_t i = 0; k != NULL && i < nk; i++) {
		const cJSON *v =
		    cJSON_GetObjectItemCaseSensitive(item, sorted[i]);

		if (v != NULL) {
			cJSON_AddItemToObject(
			    k, sorted[i], cJSON_Duplicate(v, true));
			any = true;
		}
	}
	if (!any) {
		cJSON_Delete(k);
		return NULL;
	}
	text = cJSON_PrintUnformatted(k);
	cJSON_Delete(k);
	return text;
}

static bool
apply_item_matches(
    const cJSON *item, const cJSON *other, const char *keys[4], size_t nk)
{
	for (size_t i = 0; i < nk; i++) {
		const cJSON *a =
		    cJSON_GetObjectItemCaseSensitive(item, keys[i]);
		const cJSON *b =
		    cJSON_GetObjectItemCaseSensitive(other, keys[i]);

		if ((a == NULL) != (b == NULL))
			return false;
		if (a != NULL && !cJSON_Compare(a, b, true))
			return false;
	}
	return true;
}

/* Strategic merge patch subset --------------------------------------------- */

static void
apply_smp(const struct schema_set *s, enum discovery_doc doc, const cJSON *sch,
    cJSON *target, const cJSON *patch, int depth)
{
	const cJSON *it;

	if (depth > APPLY_MAX_DEPTH)
		return;
	cJSON_ArrayForEach(it, patch)
	{
		cJSON *cur =
		    cJSON_GetObjectItemCaseSensitive(target, it->string);
		const cJSON *psch =
		    s != NULL && sch != NULL
		        ? schema_property(s, doc, sch, it->string)
		        : NULL;
		const cJSON *raw = NULL;

		if (it->string[0] == '$')
			continue; /* directives other than item deletes */
		if (sch != NULL) {
			raw = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(sch, "properties"),
			    it->string);
			raw = raw != NULL && s != NULL
			          ? schema_resolve(s, doc, raw)
			          : raw;
		}
		if (cJSON_IsNull(it)) {
			cJSON_DeleteItemFromObjectCaseSensitive(
			    target, it->string);
			continue;
		}
		if (cJSON_IsObject(it) && cJSON_IsObject(cur)) {
			apply_smp(s, doc, psch, cur, it, depth + 1);
			continue;
		}
		if (cJSON_IsArray(it) && cJSON_IsArray(cur) && raw != NULL) {
			const char *keys[4];
			size_t nk = 0;
			enum apply_list lk = apply_list_kind(raw, keys, &nk);
			const cJSON *isch =
			    s != NULL ? schema_items(s, doc, raw) : NULL;
			const cJSON *pi;

			if (lk == APPLY_LIST_MAP) {
				cJSON_ArrayForEach(pi, it)
				{
					cJSON *match = NULL, *ci;
					const cJSON *dir =
					    cJSON_GetObjectItemCaseSensitive(
					        pi, "$patch");
					int idx = 0, found = -1;

					cJSON_ArrayForEach(ci, cur)
					{
						if (apply_item_matches(
						        ci, pi, keys, nk)) {
							match = ci;
							found = idx;
							break;
						}
						idx++;
					}
					if (cJSON_IsString(dir) &&
					    strcmp(dir->valuestring,
					        "delete") == 0) {
						if (found >= 0)
							cJSON_DeleteItemFromArray(
							    cur, found);
						continue;
					}
					if (match != NULL)
						apply_smp(s, doc, isch, match,
						    pi, depth + 1);
					else
						cJSON_AddItemToArray(cur,
						    cJSON_Duplicate(pi, true));
				}
				continue;
			}
			if (lk == APPLY_LIST_SET) {
				cJSON_ArrayForEach(pi, it)
				{
					const cJSON *ci;
					bool have = false;

					cJSON_ArrayForEach(ci, cur)
					{
						have = have || cJSON_Compare(ci,
						                   pi, true);
					}
					if (!have)
						cJSON_AddItemToArray(cur,
						    cJSON_Duplicate(pi, true));
				}
				continue;
			}
		}
		if (cur != NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(
			    target, it->string, cJSON_Duplicate(it, true));
		else
			cJSON_AddItemToObject(
			    target, it->string, cJSON_Duplicate(it, true));
	}
}

int
apply_strategic_patch(const struct schema_set *s,
    const struct discovery_resource *res, cJSON *target, const cJSON *patch)
{
	const cJSON *sch =
	    s != NULL ? schema_definition(s, res->doc, res->schema) : NULL;

	apply_smp(s, res->doc, sch, target, patch, 0);
	return 0;
}

/* Field sets -------------------------------------------------------------- */

struct apply_set {
	char **v;
	size_t n, cap;
	bool sorted;
};

static void
apply_set_clear(struct apply_set *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->v[i]);
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

static int
apply_set_add(struct apply_set *fs, const char *path)
{
	char *d;

	if (fs->n == APPLY_MAX_PATHS)
		return -E2BIG;
	if (fs->n == fs->cap) {
		size_t nc = fs->cap ? fs->cap * 2 : 32;
		char **nv = realloc(fs->v, nc * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		fs->v = nv;
		fs->cap = nc;
	}
	d = strdup(path);
	if (d == NULL)
		return -ENOMEM;
	fs->v[fs->n++] = d;
	fs->sorted = false;
	return 0;
}

static int
apply_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
apply_set_sort(struct apply_set *fs)
{
	size_t o = 0;

	if (fs->sorted || fs->n == 0)
		return;
	qsort(fs->v, fs->n, sizeof(*fs->v), apply_strcmp);
	for (size_t i = 0; i < fs->n; i++) {
		if (o > 0 && strcmp(fs->v[o - 1], fs->v[i]) == 0)
			free(fs->v[i]);
		else
			fs->v[o++] = fs->v[i];
	}
	fs->n = o;
	fs->sorted = true;
}

static bool
apply_set_has(struct apply_set *fs, const char *path)
{
	apply_set_sort(fs);
	if (fs->n == 0)
		return false;
	return bsearch(&path, fs->v, fs->n, sizeof(*fs->v), apply_strcmp) !=
	       NULL;
}

/* Whether any path of fs lies under prefix (strictly below it). */
static bool
apply_set_has_below(struct apply_set *fs, const char *prefix)
{
	size_t pl = strlen(prefix);

	for (size_t i = 0; i < fs->n; i++)
		if (strlen(fs->v[i]) > pl &&
		    strncmp(fs->v[i], prefix, pl) == 0 &&
		    fs->v[i][pl] == APPLY_SEP)
			return true;
	return false;
}

static void
apply_set_remove(struct apply_set *fs, const char *path)
{
	for (size_t i = 0; i < fs->n; i++) {
		if (strcmp(fs->v[i], path) == 0) {
			free(fs->v[i]);
			fs->v[i] = fs->v[--fs->n];
			fs->sorted = false;
			return;
		}
	}
}

/* Joins prefix and a key into buf. */
static int
apply_join(char *buf, size_t cap, const char *prefix, const char *key)
{
	int n = snprintf(
	    buf, cap, "%s%s%s", prefix, prefix[0] != '\0' ? "\x1f" : "", key);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

struct apply_walk {
	const struct schema_set *s;
	enum discovery_doc doc;
	struct apply_set *out;
	int err;
};

static void apply_walk_value(struct apply_walk *w, const cJSON *sch,
    const cJSON *v, const char *path, int depth);

static void
apply_walk_object(struct apply_walk *w, const cJSON *sch, const cJSON *v,
    const char *path, int depth)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, v)
	{
		char child[SCHEMA_MAX_PATH * 2], key[SCHEMA_MAX_PATH];

		snprintf(key, sizeof(key), "f:%s", it->string);
		if (apply_join(child, sizeof(child), path, key) < 0)
			continue;
		apply_walk_value(w,
		    w->s != NULL && sch != NULL
		        ? schema_property(w->s, w->doc, sch, it->string)
		        : NULL,
		    it, child, depth + 1);
	}
}

static void
apply_walk_value(struct apply_walk *w, const cJSON *sch, const cJSON *v,
    const char *path, int depth)
{
	if (depth > APPLY_MAX_DEPTH || w->err < 0)
		return;
	if (cJSON_IsObject(v)) {
		if (v->child == NULL || apply_atomic_map(sch)) {
			w->err = apply_set_add(w->out, path);
			return;
		}
		apply_walk_object(w, sch, v, path, depth);
		return;
	}
	if (cJSON_IsArray(v)) {
		const char *keys[4];
		size_t nk = 0;
		enum apply_list lk = sch != NULL
		                         ? apply_list_kind(sch, keys, &nk)
		                         : APPLY_LIST_ATOMIC;
		const cJSON *isch = w->s != NULL && sch != NULL
		                        ? schema_items(w->s, w->doc, sch)
		                        : NULL;
		const cJSON *it;

		if (v->child == NULL || lk == APPLY_LIST_ATOMIC) {
			w->err = apply_set_add(w->out, path);
			return;
		}
		cJSON_ArrayForEach(it, v)
		{
			char child[SCHEMA_MAX_PATH * 2], seg[SCHEMA_MAX_PATH];
			char *text;

			if (lk == APPLY_LIST_SET) {
				text = cJSON_PrintUnformatted(it);
				if (text == NULL)
					continue;
				snprintf(seg, sizeof(seg), "v:%s", text);
				free(text);
				if (apply_join(
				        child, sizeof(child), path, seg) == 0)
					w->err = apply_set_add(w->out, child);
				continue;
			}
			text = apply_item_key(it, keys, nk);
			if (text == NULL)
				continue;
			snprintf(seg, sizeof(seg), "k:%s", text);
			free(text);
			if (apply_join(child, sizeof(child), path, seg) < 0)
				continue;
			w->err = apply_set_add(w->out, child);
			if (cJSON_IsObject(it))
				apply_walk_object(
				    w, isch, it, child, depth + 1);
		}
		return;
	}
	w->err = apply_set_add(w->out, path);
}

/* The fields obj sets that ownership covers: not apiVersion, kind or the
 * server's metadata, and not status for resources with a status
 * subresource. */
static int
apply_fieldset(const struct schema_set *s, const struct discovery_resource *res,
    const cJSON *obj, struct apply_set *out)
{
	static const char *const meta_keys[] = {
	    "labels", "annotations", "finalizers", "ownerReferences"};
	const cJSON *sch =
	    s != NULL ? schema_definition(s, res->doc, res->schema) : NULL;
	struct apply_walk w = {.s = s, .doc = res->doc, .out = out, .err = 0};
	const cJSON *it;

	cJSON_ArrayForEach(it, obj)
	{
		char key[SCHEMA_MAX_PATH];

		if (strcmp(it->string, "apiVersion") == 0 ||
		    strcmp(it->string, "kind") == 0)
			continue;
		if (strcmp(it->string, "status") == 0 && res->status_subres)
			continue;
		snprintf(key, sizeof(key), "f:%s", it->string);
		if (strcmp(it->string, "metadata") == 0) {
			const cJSON *msch =
			    s != NULL && sch != NULL
			        ? schema_property(s, res->doc, sch, "metadata")
			        : NULL;

			for (size_t i = 0;
			     i < sizeof(meta_keys) / sizeof(*meta_keys); i++) {
				const cJSON *m =
				    cJSON_GetObjectItemCaseSensitive(
				        it, meta_keys[i]);
				char path[SCHEMA_MAX_PATH * 2], mk[64];

				if (m == NULL)
					continue;
				snprintf(mk, sizeof(mk), "f:%s", meta_keys[i]);
				apply_join(path, sizeof(path), key, mk);
				apply_walk_value(&w,
				    msch != NULL ? schema_property(s, res->doc,
				                       msch, meta_keys[i])
				                 : NULL,
				    m, path, 1);
			}
			continue;
		}
		apply_walk_value(&w,
		    s != NULL && sch != NULL
		        ? schema_property(s, res->doc, sch, it->string)
		        : NULL,
		    it, key, 0);
	}
	apply_set_sort(out);
	return w.err;
}

/* Path navigation ---------------------------------------------------------- */

/* The child of node for one FieldsV1 segment; *ret_index gets the array
 * index for list items. */
static cJSON *
apply_step(cJSON *node, const char *seg, int *ret_index)
{
	*ret_index = -1;
	if (strncmp(seg, "f:", 2) == 0)
		return cJSON_GetObjectItemCaseSensitive(node, seg + 2);
	if (strncmp(seg, "k:", 2) == 0 && cJSON_IsArray(node)) {
		cJSON *key = cJSON_Parse(seg + 2);
		cJSON *it;
		int i = 0;

		if (key == NULL)
			return NULL;
		cJSON_ArrayForEach(it, node)
		{
			const cJSON *k;
			bool ok = true;

			cJSON_ArrayForEach(k, key)
			{
				const cJSON *v =
				    cJSON_GetObjectItemCaseSensitive(
				        it, k->string);

				if (v == NULL || !cJSON_Compare(v, k, true))
					ok = false;
			}
			if (ok) {
				cJSON_Delete(key);
				*ret_index = i;
				return it;
			}
			i++;
		}
		cJSON_Delete(key);
		return NULL;
	}
	if (strncmp(seg, "v:", 2) == 0 && cJSON_IsArray(node)) {
		cJSON *val = cJSON_Parse(seg + 2);
		cJSON *it;
		int i = 0;

		if (val == NULL)
			return NULL;
		cJSON_ArrayForEach(it, node)
		{
			if (cJSON_Compare(it, val, true)) {
				cJSON_Delete(val);
				*ret_index = i;
				return it;
			}
			i++;
		}
		cJSON_Delete(val);
		return NULL;
	}
	if (strncmp(seg, "i:", 2) == 0 && cJSON_IsArray(node)) {
		*ret_index = atoi(seg + 2);
		return cJSON_GetArrayItem(node, *ret_index);
	}
	return NULL;
}

/* Finds the value at path, and optionally its parent and position. */
static cJSON *
apply_lookup(const cJSON *root, const char *path, cJSON **ret_parent,
    int *ret_index, char *ret_last, size_t lastcap)
{
	cJSON *cur = (cJSON *)root, *parent = NULL;
	const char *p = path;
	int idx = -1;

	while (cur != NULL && *p != '\0') {
		const char *e = strchr(p, APPLY_SEP);
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
		char seg[SCHEMA_MAX_PATH];

		snprintf(seg, sizeof(seg), "%.*s", (int)len, p);
		parent = cur;
		cur = apply_step(cur, seg, &idx);
		if (ret_last != NULL)
			snprintf(ret_last, lastcap, "%s", seg);
		p = e != NULL ? e + 1 : p + len;
	}
	if (ret_parent != NULL)
		*ret_parent = parent;
	if (ret_index != NULL)
		*ret_index = idx;
	return cur;
}

static void
apply_remove_path(cJSON *root, const char *path)
{
	cJSON *parent = NULL;
	int idx = -1;
	char last[SCHEMA_MAX_PATH];
	cJSON *v = apply_lookup(root, path, &parent, &idx, last, sizeof(last));

	if (v == NULL || parent == NULL)
		return;
	if (cJSON_IsArray(parent) && idx >= 0)
		cJSON_DeleteItemFromArray(parent, idx);
	else if (strncmp(last, "f:", 2) == 0)
		cJSON_DeleteItemFromObjectCaseSensitive(parent, last + 2);
}

/* SMD's notation of a path, for conflict messages. */
static void
apply_display(const char *path, char *buf, size_t cap)
{
	size_t o = 0;
	const char *p = path;

	buf[0] = '\0';
	while (*p != '\0' && o < cap) {
		const char *e = strchr(p, APPLY_SEP);
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if (strncmp(p, "f:", 2) == 0) {
			o += (size_t)snprintf(
			    buf + o, cap - o, ".%.*s", (int)len - 2, p + 2);
		} else if (strncmp(p, "k:", 2) == 0) {
			char tmp[SCHEMA_MAX_PATH];
			cJSON *k;
			const cJSON *it;
			size_t t = 0;

			snprintf(tmp, sizeof(tmp), "%.*s", (int)len - 2, p + 2);
			k = cJSON_Parse(tmp);
			o += (size_t)snprintf(buf + o, cap - o, "[");
			cJSON_ArrayForEach(it, k)
			{
				char *v = cJSON_PrintUnformatted(it);

				if (o < cap)
					o += (size_t)snprintf(buf + o, cap - o,
					    "%s%s=%s", t++ > 0 ? "," : "",
					    it->string, v != NULL ? v : "");
				free(v);
			}
			cJSON_Delete(k);
			if (o < cap)
				o += (size_t)snprintf(buf + o, cap - o, "]");
		} else if (strncmp(p, "v:", 2) == 0) {
			o += (size_t)snprintf(
			    buf + o, cap - o, "[=%.*s]", (int)len - 2, p + 2);
		} else if (strncmp(p, "i:", 2) == 0) {
			o += (size_t)snprintf(
			    buf + o, cap - o, "[%.*s]", (int)len - 2, p + 2);
		}
		p = e != NULL ? e + 1 : p + len;
	}
}

/* managedFields -------------------------------------------------------------
 */

struct apply_entry {
	char manager[APPLY_MAX_MANAGER + 1];
	char operation[8];
	char api_version[64];
	char time[32];
	char subresource[32];
	struct apply_set set;
};

struct apply_entries {
	struct apply_entry v[APPLY_MAX_ENTRIES];
	size_t n;
};

static void
apply_entries_clear(struct apply_entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		apply_set_clear(&es->v[i].set);
	es->n = 0;
}

static int
apply_fields_parse(
    const cJSON *node, const char *prefix, struct apply_set *out, int depth)
{
	const cJSON *it;

	if (depth > APPLY_MAX_DEPTH)
		return -ELOOP;
	cJSON_ArrayForEach(it, node)
	{
		char child[SCHEMA_MAX_PATH * 2];
		int r;

		if (strcmp(it->string, ".") == 0) {
			if (prefix[0] != '\0' &&
			    (r = apply_set_add(out, prefix)) < 0)
				return r;
			continue;
		}
		if (apply_join(child, sizeof(child), prefix, it->string) < 0)
			continue;
		if (it->child == NULL)
			r = apply_set_add(out, child);
		else
			r = apply_fields_parse(it, child, out, depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

static void
apply_entries_load(const cJSON *obj, struct apply_entries *es)
{
	const cJSON *mf = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "managedFields");
	const cJSON *it;

	memset(es, 0, sizeof(*es));
	cJSON_ArrayForEach(it, mf)
	{
		struct apply_entry *e;
		const cJSON *m =
		    cJSON_GetObjectItemCaseSensitive(it, "manager");
		const cJSON *op =
		    cJSON_GetObjectItemCaseSensitive(it, "operation");
		const cJSON *av =
		    cJSON_GetObjectItemCaseSensitive(it, "apiVersion");
		const cJSON *tm = cJSON_GetObjectItemCaseSensitive(it, "time");
		const cJSON *sub =
		    cJSON_GetObjectItemCaseSensitive(it, "subresource");

		if (es->n == APPLY_MAX_ENTRIES || !cJSON_IsString(m) ||
		    !cJSON_IsString(op))
			continue;
		e = &es->v[es->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->manager, sizeof(e->manager), "%s", m->valuestring);
		snprintf(
		    e->operation, sizeof(e->operation), "%s", op->valuestring);
		snprintf(e->api_version, sizeof(e->api_version), "%s",
		    cJSON_IsString(av) ? av->valuestring : "");
		snprintf(e->time, sizeof(e->time), "%s",
		    cJSON_IsString(tm) ? tm->valuestring : "");
		snprintf(e->subresource, sizeof(e->subresource), "%s",
		    cJSON_IsString(sub) ? sub->valuestring : "");
		apply_fields_parse(
		    cJSON_GetObjectItemCaseSensitive(it, "fieldsV1"), "",
		    &e->set, 0);
		apply_set_sort(&e->set);
	}
}

static struct apply_entry *
apply_entry_get(struct apply_entries *es, const struct discovery_resource *res,
    const char *manager, const char *op, const char *sub)
{
	struct apply_entry *e;

	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->v[i].manager, manager) == 0 &&
		    strcmp(es->v[i].operation, op) == 0 &&
		    strcmp(es->v[i].subresource, sub) == 0)
			return &es->v[i];
	if (es->n == APPLY_MAX_ENTRIES)
		return NULL;
	e = &es->v[es->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->manager, sizeof(e->manager), "%s", manager);
	snprintf(e->operation, sizeof(e->operation), "%s", op);
	snprintf(e->subresource, sizeof(e->subresource), "%s", sub);
	discovery_api_version(res, e->api_version, sizeof(e->api_version));
	return e;
}

/* Builds the FieldsV1 tree of a set. */
static cJSON *
apply_fields_build(struct apply_set *fs)
{
	cJSON *root = cJSON_CreateObject();

	if (root == NULL)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < fs->n; i++) {
			cJSON *cur = root;
			const char *p = fs->v[i];

			while (*p != '\0' && cur != NULL) {
				const char *e = strchr(p, APPLY_SEP);
				size_t len =
				    e != NULL ? (size_t)(e - p) : strlen(p);
				char seg[SCHEMA_MAX_PATH];
				cJSON *next;

				snprintf(seg, sizeof(seg), "%.*s", (int)len, p);
				next =
				    cJSON_GetObjectItemCaseSensitive(cur, seg);
				if (next == NULL && pass == 0)
					next =
					    cJSON_AddObjectToObject(cur, seg);
				cur = next;
				p = e != NULL ? e + 1 : p + len;
			}
			/* A member that also has children is marked ".". */
			if (pass == 1 && cur != NULL && cur->child != NULL &&
			    cJSON_GetObjectItemCaseSensitive(cur, ".") ==
			        NULL) {
				cJSON *dot = cJSON_CreateObject();

				if (dot != NULL)
					cJSON_AddItemToObject(cur, ".", dot);
			}
		}
	}
	return root;
}

static int
apply_entries_store(cJSON *obj, struct apply_entries *es)
{
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *mf;

	if (meta == NULL)
		meta = cJSON_AddObjectToObject(obj, "metadata");
	if (meta == NULL)
		return -ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
	mf = cJSON_AddArrayToObject(meta, "managedFields");
	if (mf == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < es->n; i++) {
		struct apply_entry *e = &es->v[i];
		cJSON *o, *f;

		if (e->set.n == 0)
			continue;
		o = cJSON_CreateObject();
		if (o == NULL)
			return -ENOMEM;
		cJSON_AddStringToObject(o, "manager", e->manager);
		cJSON_AddStringToObject(o, "operation", e->operation);
		cJSON_AddStringToObject(o, "apiVersion", e->api_version);
		cJSON_AddStringToObject(o, "time", e->time);
		cJSON_AddStringToObject(o, "fieldsType", "FieldsV1");
		f = apply_fields_build(&e->set);
		if (f == NULL) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		cJSON_AddItemToObject(o, "fieldsV1", f);
		if (e->subresource[0] != '\0')
			cJSON_AddStringToObject(
			    o, "subresource", e->subresource);
		cJSON_AddItemToArray(mf, o);
	}
	if (cJSON_GetArraySize(mf) == 0)
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
	return 0;
}

/* Whether path's value differs between a and b (a list item only counts
 * as different when present in one and not the other). */
static bool
apply_differs(const cJSON *a, const cJSON *b, const char *path)
{
	const char *last = strrchr(path, APPLY_SEP);
	const cJSON *va =
	    a != NULL ? apply_lookup(a, path, NULL, NULL, NULL, 0) : NULL;
	const cJSON *vb =
	    b != NULL ? apply_lookup(b, path, NULL, NULL, NULL, 0) : NULL;

	last = last != NULL ? last + 1 : path;
	if (va == NULL || vb == NULL)
		return (va == NULL) != (vb == NULL);
	if (strncmp(last, "k:", 2) == 0)
		return false;
	return !cJSON_Compare(va, vb, true);
}

int
apply_track_update(const struct schema_set *s,
    const struct discovery_resource *res, const cJSON *old, cJSON *obj,
    const char *manager, const char *subresource)
{
	struct apply_entries *es = calloc(1, sizeof(*es));
	struct apply_set now = {0};
	struct apply_entry *mine;
	char ts[32];
	int r;

	if (es == NULL)
		return -ENOMEM;
	if (old != NULL)
		apply_entries_load(old, es);
	if (strcmp(subresource, "status") == 0) {
		/* Status is outside the tracked fields: keep the record. */
		r = apply_entries_store(obj, es);
		goto out;
	}
	r = apply_fieldset(s, res, obj, &now);
	if (r < 0)
		goto out;
	mine = apply_entry_get(es, res, manager, "Update", "");
	for (size_t i = 0; i < es->n; i++) {
		struct apply_entry *e = &es->v[i];

		/* Fields no longer in the object are nobody's. */
		for (size_t j = 0; j < e->set.n;) {
			if (!apply_set_has(&now, e->set.v[j])) {
				apply_set_remove(&e->set, e->set.v[j]);
				continue;
			}
			j++;
		}
	}
	for (size_t j = 0; j < now.n; j++) {
		const char *p = now.v[j];

		if (old != NULL && !apply_differs(old, obj, p))
			continue;
		/* Changed by this update: its manager takes it over. */
		for (size_t i = 0; i < es->n; i++)
			if (&es->v[i] != mine)
				apply_set_remove(&es->v[i].set, p);
		if (mine != NULL && (r = apply_set_add(&mine->set, p)) < 0)
			goto out;
	}
	if (mine != NULL) {
		store_now(ts);
		snprintf(mine->time, sizeof(mine->time), "%s", ts);
		apply_set_sort(&mine->set);
	}
	r = apply_entries_store(obj, es);
out:
	apply_set_clear(&now);
	apply_entries_clear(es);
	free(es);
	return r;
}

/* Server-side apply ---------------------------------------------------------
 */

static cJSON *apply_ssa_merge(const struct schema_set *s,
    enum discovery_doc doc, const cJSON *sch, cJSON *live, const cJSON *cfg,
    int depth);

/* Merges cfg into live (both objects, live changed in place). */
static void
apply_ssa_merge_object(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *sch, cJSON *live, const cJSON *cfg, int depth)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, cfg)
	{
		cJSON *cur =
		    cJSON_DetachItemFromObjectCaseSensitive(live, it->string);
		const cJSON *psch =
		    s != NULL && sch != NULL
		        ? schema_property(s, doc, sch, it->string)
		        : NULL;
		cJSON *merged =
		    apply_ssa_merge(s, doc, psch, cur, it, depth + 1);

		if (merged != NULL)
			cJSON_AddItemToObject(live, it->string, merged);
	}
}

/* Returns the merged value (live taken, cfg borrowed). */
static cJSON *
apply_ssa_merge(const struct schema_set *s, enum discovery_doc doc,
    const cJSON *sch, cJSON *live, const cJSON *cfg, int depth)
{
	if (depth > APPLY_MAX_DEPTH) {
		cJSON_Delete(live);
		return cJSON_Duplicate(cfg, true);
	}
	if (cJSON_IsObject(cfg) && cJSON_IsObject(live) &&
	    !apply_atomic_map(sch)) {
		apply_ssa_merge_object(s, doc, sch, live, cfg, depth);
		return live;
	}
	if (cJSON_IsArray(cfg) && cJSON_IsArray(live) && sch != NULL) {
		const char *keys[4];
		size_t nk = 0;
		enum apply_list lk = apply_list_kind(sch, keys, &nk);
		const cJSON *isch =
		    s != NULL ? schema_items(s, doc, sch) : NULL;
		const cJSON *it;

		if (lk == APPLY_LIST_MAP) {
			cJSON_ArrayForEach(it, cfg)
			{
				cJSON *ci;
				int idx = 0, found = -1;

				cJSON_ArrayForEach(ci, live)
				{
					if (apply_item_matches(
					        ci, it, keys, nk)) {
						found = idx;
						break;
					}
					idx++;
				}
				if (found >= 0) {
					cJSON *old = cJSON_DetachItemFromArray(
					    live, found);
					cJSON *m = apply_ssa_merge(
					    s, doc, isch, old, it, depth + 1);

					if (m != NULL)
						cJSON_InsertItemInArray(
						    live, found, m);
				} else {
					cJSON_AddItemToArray(
					    live, cJSON_Duplicate(it, true));
				}
			}
			return live;
		}
		if (lk == APPLY_LIST_SET) {
			cJSON_ArrayForEach(it, cfg)
			{
				const cJSON *ci;
				bool have = false;

				cJSON_ArrayForEach(ci, live)
				{
					have =
					    have || cJSON_Compare(ci, it, true);
				}
				if (!have)
					cJSON_AddItemToArray(
					    live, cJSON_Duplicate(it, true));
			}
			return live;
		}
	}
	cJSON_Delete(live);
	return cJSON_Duplicate(cfg, true);
}

static int
apply_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : (la > lb ? -1 : 0);
}

int
apply_server_side(const struct schema_set *s,
    const struct discovery_resource *res, const cJSON *live,
    const cJSON *config, const char *manager, bool force, cJSON **ret_obj,
    struct apply_conflict *conflicts, size_t *ret_n)
{
	struct apply_entries *es = calloc(1, sizeof(*es));
	struct apply_set applied = {0}, dropped = {0};
	struct apply_entry *mine;
	cJSON *cfg = cJSON_Duplicate(config, true);
	cJSON *obj = NULL, *cmeta;
	const cJSON *sch;
	size_t nc = 0;
	char ts[32];
	int r = 0;

	*ret_n = 0;
	if (es == NULL || cfg == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* What apply ignores in the configuration. */
	cmeta = cJSON_GetObjectItemCaseSensitive(cfg, "metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(cmeta, "managedFields");
	cJSON_DeleteItemFromObjectCaseSensitive(cmeta, "resourceVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(cmeta, "uid");
	cJSON_DeleteItemFromObjectCaseSensitive(cmeta, "creationTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(cmeta, "generation");
	if (res->status_subres)
		cJSON_DeleteItemFromObjectCaseSensitive(cfg, "status");
	if (live != NULL)
		apply_entries_load(live, es);
	r = apply_fieldset(s, res, cfg, &applied);
	if (r < 0)
		goto out;
	mine = apply_entry_get(es, res, manager, "Apply", "");
	if (mine == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* Conflicts: fields others own whose live value we would change. */
	for (size_t j = 0; live != NULL && j < applied.n; j++) {
		const char *p = applied.v[j];

		if (!apply_differs(live, cfg, p))
			continue;
		for (size_t i = 0; i < es->n; i++) {
			struct apply_entry *e = &es->v[i];

			if (e == mine || !apply_set_has(&e->set, p))
				continue;
			if (force) {
				apply_set_remove(&e->set, p);
				continue;
			}
			if (nc < APPLY_MAX_CONFLICTS) {
				snprintf(conflicts[nc].manager,
				    sizeof(conflicts[nc].manager), "%s",
				    e->manager);
				apply_display(p, conflicts[nc].field,
				    sizeof(conflicts[nc].field));
			}
			nc++;
		}
	}
	if (nc > 0) {
		*ret_n = nc < APPLY_MAX_CONFLICTS ? nc : APPLY_MAX_CONFLICTS;
		r = -EBUSY;
		goto out;
	}
	obj = live != NULL ? cJSON_Duplicate(live, true) : cJSON_CreateObject();
	if (obj == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* Fields we applied before and no longer do: removed, unless someone
	 * else owns them (or something below them); deepest first. */
	for (size_t j = 0; j < mine->set.n; j++) {
		const char *p = mine->set.v[j];
		bool owned = false;

		if (apply_set_has(&applied, p))
			continue;
		for (size_t i = 0; i < es->n && !owned; i++)
			if (&es->v[i] != mine &&
			    (apply_set_has(&es->v[i].set, p) ||
			        apply_set_has_below(&es->v[i].set, p)))
				owned = true;
		if (!owned && apply_set_has_below(&applied, p))
			owned = true;
		if (!owned && (r = apply_set_add(&dropped, p)) < 0)
			goto out;
	}
	if (dropped.n > 1)
		qsort(dropped.v, dropped.n, sizeof(*dropped.v), apply_len_desc);
	for (size_t j = 0; j < dropped.n; j++)
		apply_remove_path(obj, dropped.v[j]);
	sch = s != NULL ? schema_definition(s, res->doc, res->schema) : NULL;
	apply_ssa_merge_object(s, res->doc, sch, obj, cfg, 0);
	/* The manager now owns exactly what it applied. */
	apply_set_clear(&mine->set);
	for (size_t j = 0; j < applied.n; j++)
		if ((r = apply_set_add(&mine->set, applied.v[j])) < 0)
			goto out;
	apply_set_sort(&mine->set);
	store_now(ts);
	snprintf(mine->time, sizeof(mine->time), "%s", ts);
	discovery_api_version(
	    res, mine->api_version, sizeof(mine->api_version));
	r = apply_entries_store(obj, es);
	if (r < 0)
		goto out;
	*ret_obj = obj;
	obj = NULL;
out:
	cJSON_Delete(obj);
	cJSON_Delete(cfg);
	apply_set_clear(&applied);
	apply_set_clear(&dropped);
	if (es != NULL) {
		apply_entries_clear(es);
		free(es);
	}
	return r;
}
