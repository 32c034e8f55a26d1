/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store: objects in memory with etcd-like resourceVersions, a bounded
 * event history for watches (410 Gone past its start), and label/field
 * selectors. Objects are cJSON trees owned by the store; events keep
 * their own copies so history survives later writes and deletions.
 */
#include "tests/fakeapi/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

struct store_obj {
	struct store_obj *next;
	const struct discovery_resource *res;
	char *ns;
	char *name;
	cJSON *obj;
};

struct store_hist {
	uint64_t rv;
	enum store_event_type type;
	const struct discovery_resource *res;
	char *ns;
	cJSON *obj;
	cJSON *prev;
};

struct store_watch {
	struct store_watch *next;
	const struct discovery_resource *res;
	char *ns; /* NULL: all namespaces */
	store_watch_fn fn;
	void *arg;
	bool cancelled;
};

struct store {
	uint64_t rv;
	struct store_obj *objs;
	size_t n_objs;
	struct store_hist *hist; /* ring of cap entries */
	size_t cap, head, len;   /* oldest at head */
	uint64_t compacted_rv;   /* highest rv dropped from the history */
	struct store_watch *watches;
	int notifying; /* depth of store_notify() */
};

struct store *
store_new(size_t history)
{
	struct store *s;

	if (history == 0 || history > STORE_MAX_HISTORY)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->hist = calloc(history, sizeof(*s->hist));
	if (s->hist == NULL) {
		free(s);
		return NULL;
	}
	s->cap = history;
	/* Start above 0 so "0" keeps its meaning of "any version". */
	s->rv = 100;
	s->compacted_rv = 100;
	return s;
}

static void
store_hist_clear(struct store_hist *h)
{
	free(h->ns);
	cJSON_Delete(h->obj);
	cJSON_Delete(h->prev);
	memset(h, 0, sizeof(*h));
}

static void
store_reap_watches(struct store *s)
{
	struct store_watch **pp = &s->watches;

	while (*pp != NULL) {
		struct store_watch *w = *pp;

		if (w->cancelled) {
			*pp = w->next;
			free(w->ns);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	while (s->objs != NULL) {
		struct store_obj *o = s->objs;

		s->objs = o->next;
		free(o->ns);
		free(o->name);
		cJSON_Delete(o->obj);
		free(o);
	}
	for (size_t i = 0; i < s->len; i++)
		store_hist_clear(&s->hist[(s->head + i) % s->cap]);
	free(s->hist);
	for (struct store_watch *w = s->watches; w != NULL; w = w->next)
		w->cancelled = true;
	store_reap_watches(s);
	free(s);
}

uint64_t
store_rv(const struct store *s)
{
	return s->rv;
}

uint64_t
store_oldest_rv(const struct store *s)
{
	return s->compacted_rv + 1;
}

void
store_now(char buf[32])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
store_uuid(char buf[40])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1) {
		/* OpenSSL's generator does not fail once seeded; fall back to
		 * a counter-free but unique-enough value from the clock. */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memset(b, 0, sizeof(b));
		memcpy(b, &ts, sizeof(ts) < sizeof(b) ? sizeof(ts) : sizeof(b));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 40,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

static struct store_obj *
store_find(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name)
{
	for (struct store_obj *o = s->objs; o != NULL; o = o->next)
		if (o->res == res && strcmp(o->ns, ns) == 0 &&
		    strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

cJSON *
store_get(struct store *s, const struct discovery_resource *res, const char *ns,
    const char *name)
{
	struct store_obj *o = store_find(s, res, ns, name);

	return o != NULL ? o->obj : NULL;
}

static cJSON *
store_meta(cJSON *obj)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");

	if (!cJSON_IsObject(m)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
		m = cJSON_AddObjectToObject(obj, "metadata");
	}
	return m;
}

static void
store_set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *v = cJSON_CreateString(value);

	if (v == NULL)
		return;
	if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	else
		cJSON_AddItemToObject(obj, key, v);
}

static void
store_set_rv(cJSON *obj, uint64_t rv)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, rv);
	store_set_string(store_meta(obj), "resourceVersion", buf);
}

/* Puts kind, apiVersion and metadata first, the order Go's encoder
 * writes TypeMeta and ObjectMeta in. */
static void
store_order(cJSON *obj)
{
	static const char *const keys[] = {"metadata", "apiVersion", "kind"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		cJSON *it =
		    cJSON_DetachItemFromObjectCaseSensitive(obj, keys[i]);

		if (it != NULL && !cJSON_InsertItemInArray(obj, 0, it))
			cJSON_AddItemToObject(obj, keys[i], it);
	}
}

/* Appends an event (copies taken) and tells the watches. */
static void
store_record(struct store *s, enum store_event_type type,
    const struct discovery_resource *res, const char *ns, const cJSON *obj,
    const cJSON *prev)
{
	struct store_hist *h;
	struct store_event ev;

	if (s->len == s->cap) {
		struct store_hist *old = &s->hist[s->head];

		s->compacted_rv = old->rv;
		store_hist_clear(old);
		s->head = (s->head + 1) % s->cap;
		s->len--;
	}
	h = &s->hist[(s->head + s->len) % s->cap];
	h->rv = s->rv;
	h->type = type;
	h->res = res;
	h->ns = strdup(ns);
	h->obj = cJSON_Duplicate(obj, true);
	h->prev = prev != NULL ? cJSON_Duplicate(prev, true) : NULL;
	if (h->ns == NULL || h->obj == NULL || (prev != NULL && !h->prev)) {
		/* Out of memory: the history cannot serve this event, so
		 * treat everything up to it as compacted. */
		store_hist_clear(h);
		s->compacted_rv = s->rv;
		for (size_t i = 0; i < s->len; i++)
			store_hist_clear(&s->hist[(s->head + i) % s->cap]);
		s->len = 0;
		s->head = 0;
	} else {
		s->len++;
	}
	ev = (struct store_event){.rv = s->rv,
	    .type = type,
	    .res = res,
	    .ns = ns,
	    .obj = obj,
	    .prev = prev};
	s->notifying++;
	for (struct store_watch *w = s->watches; w != NULL; w = w->next) {
		if (w->cancelled || w->res != res)
			continue;
		if (w->ns != NULL && strcmp(w->ns, ns) != 0)
			continue;
		w->fn(&ev, w->arg);
	}
	if (--s->notifying == 0)
		store_reap_watches(s);
}

int
store_create(struct store *s, const struct discovery_resource *res,
    const char *ns, cJSON *obj, cJSON **ret)
{
	cJSON *meta = store_meta(obj);
	cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	struct store_obj *o;
	char ts[32], uid[40];

	if (meta == NULL || !cJSON_IsString(name) ||
	    name->valuestring[0] == 0) {
		cJSON_Delete(obj);
		return -EINVAL;
	}
	if (store_find(s, res, ns, name->valuestring) != NULL) {
		cJSON_Delete(obj);
		return -EEXIST;
	}
	if (s->n_objs >= STORE_MAX_OBJECTS) {
		cJSON_Delete(obj);
		return -ENOSPC;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	o->res = res;
	o->ns = strdup(ns);
	o->name = strdup(name->valuestring);
	if (o->ns == NULL || o->name == NULL) {
		free(o->ns);
		free(o->name);
		free(o);
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	store_uuid(uid);
	store_now(ts);
	store_set_string(meta, "uid", uid);
	store_set_string(meta, "creationTimestamp", ts);
	if (res->namespaced)
		store_set_string(meta, "namespace", ns);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
	if (res->generation)
		cJSON_AddNumberToObject(meta, "generation", 1);
	s->rv++;
	store_set_rv(obj, s->rv);
	store_order(obj);
	o->obj = obj;
	o->next = s->objs;
	s->objs = o;
	s->n_objs++;
	store_record(s, STORE_ADDED, res, ns, obj, NULL);
	if (ret != NULL)
		*ret = obj;
	return 0;
}

/* Whether a and b differ outside metadata and status. */
static bool
store_spec_changed(const cJSON *a, const cJSON *b)
{
	const cJSON *it;
	size_t na = 0, nb = 0;

	cJSON_ArrayForEach(it, a)
	{
		const cJSON *other;

		if (strcmp(it->string, "metadata") == 0 ||
		    strcmp(it->string, "status") == 0)
			continue;
		na++;
		other = cJSON_GetObjectItemCaseSensitive(b, it->string);
		if (other == NULL || !cJSON_Compare(it, other, true))
			return true;
	}
	cJSON_ArrayForEach(it, b)
	{
		if (strcmp(it->string, "metadata") != 0 &&
		    strcmp(it->string, "status") != 0)
			nb++;
	}
	return na != nb;
}

int
store_update(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name, cJSON *obj, cJSON **ret)
{
	struct store_obj *o = store_find(s, res, ns, name);
	cJSON *old_meta, *meta, *gen, *prev;
	const char *keep[] = {"uid", "creationTimestamp", "resourceVersion"};
	double generation = 0;

	if (o == NULL) {
		cJSON_Delete(obj);
		return -ENOENT;
	}
	old_meta = store_meta(o->obj);
	meta = store_meta(obj);
	if (meta == NULL) {
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(old_meta, keep[i]);

		if (cJSON_IsString(v))
			store_set_string(meta, keep[i], v->valuestring);
	}
	store_set_string(meta, "name", name);
	if (res->namespaced)
		store_set_string(meta, "namespace", ns);
	gen = cJSON_GetObjectItemCaseSensitive(old_meta, "generation");
	if (cJSON_IsNumber(gen))
		generation = gen->valuedouble;
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
	if (res->generation) {
		if (store_spec_changed(o->obj, obj))
			generation += 1;
		cJSON_AddNumberToObject(meta, "generation", generation);
	}
	store_order(obj);
	if (cJSON_Compare(o->obj, obj, true)) {
		/* A no-op write: no new resourceVersion, no event. */
		cJSON_Delete(obj);
		if (ret != NULL)
			*ret = o->obj;
		return 0;
	}
	s->rv++;
	store_set_rv(obj, s->rv);
	prev = o->obj;
	o->obj = obj;
	store_record(s, STORE_MODIFIED, res, ns, obj, prev);
	cJSON_Delete(prev);
	if (ret != NULL)
		*ret = obj;
	return 0;
}

int
store_delete(struct store *s, const struct discovery_resource *res,
    const char *ns, const char *name, cJSON **ret_obj)
{
	struct store_obj **pp, *o = NULL;

	for (pp = &s->objs; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->res == res && strcmp((*pp)->ns, ns) == 0 &&
		    strcmp((*pp)->name, name) == 0) {
			o = *pp;
			*pp = o->next;
			break;
		}
	}
	if (o == NULL)
		return -ENOENT;
	s->n_objs--;
	s->rv++;
	store_set_rv(o->obj, s->rv);
	store_record(s, STORE_DELETED, res, ns, o->obj, NULL);
	if (ret_obj != NULL)
		*ret_obj = o->obj;
	else
		cJSON_Delete(o->obj);
	free(o->ns);
	free(o->name);
	free(o);
	return 0;
}

static int
store_obj_cmp(const void *a, const void *b)
{
	const struct store_obj *x = *(const struct store_obj *const *)a;
	const struct store_obj *y = *(const struct store_obj *const *)b;
	int c = strcmp(x->ns, y->ns);

	return c != 0 ? c : strcmp(x->name, y->name);
}

void
store_foreach(struct store *s, const struct discovery_resource *res,
    const char *ns, void (*fn)(const cJSON *obj, void *arg), void *arg)
{
	struct store_obj **v;
	size_t n = 0;

	if (s->n_objs == 0)
		return;
	v = calloc(s->n_objs, sizeof(*v));
	if (v == NULL)
		return;
	for (struct store_obj *o = s->objs; o != NULL; o = o->next)
		if (o->res == res && (ns == NULL || strcmp(o->ns, ns) == 0))
			v[n++] = o;
	qsort(v, n, sizeof(*v), store_obj_cmp);
	for (size_t i = 0; i < n; i++)
		fn(v[i]->obj, arg);
	free(v);
}

int
store_watch(struct store *s, const struct discovery_resource *res,
    const char *ns, uint64_t since, store_watch_fn fn, void *arg,
    struct store_watch **ret)
{
	struct store_watch *w;

	if (since != 0 && since < s->compacted_rv)
		return -ESTALE;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	if (ns != NULL && (w->ns = strdup(ns)) == NULL) {
		free(w);
		return -ENOMEM;
	}
	w->res = res;
	w->fn = fn;
	w->arg = arg;
	*ret = w;
	if (since != 0) {
		s->notifying++;
		for (size_t i = 0; i < s->len && !w->cancelled; i++) {
			struct store_hist *h = &s->hist[(s->head + i) % s->cap];
			struct store_event ev;

			if (h->rv <= since || h->res != res)
				continue;
			if (ns != NULL && strcmp(h->ns, ns) != 0)
				continue;
			ev = (struct store_event){.rv = h->rv,
			    .type = h->type,
			    .res = h->res,
			    .ns = h->ns,
			    .obj = h->obj,
			    .prev = h->prev};
			fn(&ev, arg);
		}
		s->notifying--;
	}
	w->next = s->watches;
	s->watches = w;
	if (s->notifying == 0)
		store_reap_watches(s);
	return 0;
}

void
store_watch_cancel(struct store *s, struct store_watch *w)
{
	if (w == NULL)
		return;
	w->cancelled = true;
	if (s->notifying == 0)
		store_reap_watches(s);
}

/* Selectors ------------------------------------------------------------ */

enum store_op {
	STORE_OP_EQ,
	STORE_OP_NE,
	STORE_OP_IN,
	STORE_OP_NOTIN,
	STORE_OP_EXISTS,
	STORE_OP_NOT_EXISTS,
};

struct store_req {
	char *key;
	enum store_op op;
	char *values[STORE_MAX_VALUES];
	size_t n_values;
};

struct store_selector {
	struct store_req labels[STORE_MAX_REQS];
	size_t n_labels;
	struct store_req fields[STORE_MAX_REQS];
	size_t n_fields;
};

void
store_selector_free(struct store_selector *sel)
{
	if (sel == NULL)
		return;
	for (size_t i = 0; i < sel->n_labels; i++) {
		free(sel->labels[i].key);
		for (size_t j = 0; j < sel->labels[i].n_values; j++)
			free(sel->labels[i].values[j]);
	}
	for (size_t i = 0; i < sel->n_fields; i++) {
		free(sel->fields[i].key);
		for (size_t j = 0; j < sel->fields[i].n_values; j++)
			free(sel->fields[i].values[j]);
	}
	free(sel);
}

static char *
store_trim_dup(const char *p, size_t len)
{
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	return strndup(p, len);
}

/* A label key or value: [A-Za-z0-9._/-], at most 316 bytes (prefix 253
 * plus "/" plus name 63). */
static bool
store_label_token(const char *s, bool allow_empty)
{
	size_t n = strlen(s);

	if (n == 0)
		return allow_empty;
	if (n > 316)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-' || c == '/'))
			return false;
	}
	return true;
}

/* Splits on commas outside parentheses. */
static int
store_split(const char *s, char **parts, size_t max, size_t *ret_n)
{
	size_t n = 0;
	int depth = 0;
	const char *start = s;

	for (const char *p = s;; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		if ((*p == ',' && depth == 0) || *p == '\0') {
			if (n == max)
				goto fail;
			parts[n] = store_trim_dup(start, (size_t)(p - start));
			if (parts[n] == NULL)
				goto fail;
			n++;
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	*ret_n = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	return -EINVAL;
}

static int
store_parse_label_req(
    const char *t, struct store_req *r, char *err, size_t errlen)
{
	const char *p;
	char *rest = NULL;

	memset(r, 0, sizeof(*r));
	if (t[0] == '!') {
		r->op = STORE_OP_NOT_EXISTS;
		r->key = store_trim_dup(t + 1, strlen(t + 1));
		goto check_key;
	}
	if ((p = strstr(t, "!=")) != NULL) {
		r->op = STORE_OP_NE;
		r->key = store_trim_dup(t, (size_t)(p - t));
		rest = store_trim_dup(p + 2, strlen(p + 2));
	} else if ((p = strstr(t, "==")) != NULL) {
		r->op = STORE_OP_EQ;
		r->key = store_trim_dup(t, (size_t)(p - t));
		rest = store_trim_dup(p + 2, strlen(p + 2));
	} else if ((p = strchr(t, '=')) != NULL) {
		r->op = STORE_OP_EQ;
		r->key = store_trim_dup(t, (size_t)(p - t));
		rest = store_trim_dup(p + 1, strlen(p + 1));
	} else if ((p = strstr(t, " notin ")) != NULL ||
	           (p = strstr(t, " in ")) != NULL) {
		bool notin = strncmp(p, " notin ", 7) == 0;
		const char *open = strchr(p, '(');
		const char *close = open != NULL ? strchr(open, ')') : NULL;
		char *list, *save = NULL, *v;

		r->op = notin ? STORE_OP_NOTIN : STORE_OP_IN;
		r->key = store_trim_dup(t, (size_t)(p - t));
		if (open == NULL || close == NULL || close[1] != '\0') {
			snprintf(err, errlen,
			    "unable to parse requirement: found '%s', expected: '('",
			    p + (notin ? 7 : 4));
			free(r->key);
			r->key = NULL;
			return -EINVAL;
		}
		list = strndup(open + 1, (size_t)(close - open - 1));
		if (list == NULL)
			return -ENOMEM;
		for (v = strtok_r(list, ",", &save); v != NULL;
		     v = strtok_r(NULL, ",", &save)) {
			char *tv = store_trim_dup(v, strlen(v));

			if (tv == NULL || r->n_values == STORE_MAX_VALUES ||
			    !store_label_token(tv, true)) {
				snprintf(err, errlen,
				    "unable to parse requirement: invalid label value: \"%s\"",
				    tv != NULL ? tv : "");
				free(tv);
				free(list);
				return -EINVAL;
			}
			r->values[r->n_values++] = tv;
		}
		free(list);
		goto check_key;
	} else {
		r->op = STORE_OP_EXISTS;
		r->key = store_trim_dup(t, strlen(t));
		goto check_key;
	}
	if (rest == NULL || !store_label_token(rest, true)) {
		snprintf(err, errlen,
		    "unable to parse requirement: invalid label value: \"%s\"",
		    rest != NULL ? rest : "");
		free(rest);
		return -EINVAL;
	}
	r->values[0] = rest;
	r->n_values = 1;
check_key:
	if (r->key == NULL || !store_label_token(r->key, false)) {
		snprintf(err, errlen,
		    "unable to parse requirement: invalid label key \"%s\"",
		    r->key != NULL ? r->key : "");
		return -EINVAL;
	}
	return 0;
}

static int
store_parse_field_req(
    const char *t, struct store_req *r, char *err, size_t errlen)
{
	const char *p;
	size_t oplen;

	memset(r, 0, sizeof(*r));
	if ((p = strstr(t, "!=")) != NULL) {
		r->op = STORE_OP_NE;
		oplen = 2;
	} else if ((p = strstr(t, "==")) != NULL) {
		r->op = STORE_OP_EQ;
		oplen = 2;
	} else if ((p = strchr(t, '=')) != NULL) {
		r->op = STORE_OP_EQ;
		oplen = 1;
	} else {
		snprintf(err, errlen,
		    "invalid selector: '%s'; can't understand '%s'", t, t);
		return -EINVAL;
	}
	r->key = store_trim_dup(t, (size_t)(p - t));
	r->values[0] = store_trim_dup(p + oplen, strlen(p + oplen));
	if (r->key == NULL || r->values[0] == NULL) {
		free(r->values[0]);
		r->values[0] = NULL;
		return -ENOMEM;
	}
	r->n_values = 1;
	if (strcmp(r->key, "metadata.name") != 0 &&
	    strcmp(r->key, "metadata.namespace") != 0) {
		snprintf(err, errlen, "field label not supported: %s", r->key);
		return -EINVAL;
	}
	return 0;
}

int
store_selector_parse(const char *labels, const char *fields,
    struct store_selector **ret, char *err, size_t errlen)
{
	struct store_selector *sel = calloc(1, sizeof(*sel));
	char *parts[STORE_MAX_REQS];
	size_t n = 0;
	int r = 0;

	if (sel == NULL)
		return -ENOMEM;
	if (labels != NULL && labels[0] != '\0') {
		if (store_split(labels, parts, STORE_MAX_REQS, &n) < 0) {
			snprintf(err, errlen,
			    "unable to parse requirement: too many requirements");
			r = -EINVAL;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (r == 0 && parts[i][0] != '\0') {
				r = store_parse_label_req(parts[i],
				    &sel->labels[sel->n_labels], err, errlen);
				sel->n_labels++;
			}
			free(parts[i]);
		}
		if (r < 0)
			goto out;
	}
	if (fields != NULL && fields[0] != '\0') {
		if (store_split(fields, parts, STORE_MAX_REQS, &n) < 0) {
			snprintf(err, errlen, "too many field requirements");
			r = -EINVAL;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (r == 0 && parts[i][0] != '\0') {
				r = store_parse_field_req(parts[i],
				    &sel->fields[sel->n_fields], err, errlen);
				sel->n_fields++;
			}
			free(parts[i]);
		}
	}
out:
	if (r < 0)
		store_selector_free(sel);
	else
		*ret = sel;
	return r;
}

static bool
store_req_match(const struct store_req *r, const char *value)
{
	switch (r->op) {
	case STORE_OP_EQ:
		return value != NULL && strcmp(value, r->values[0]) == 0;
	case STORE_OP_NE:
		return value == NULL || strcmp(value, r->values[0]) != 0;
	case STORE_OP_IN:
		if (value == NULL)
			return false;
		for (size_t i = 0; i < r->n_values; i++)
			if (strcmp(value, r->values[i]) == 0)
				return true;
		return false;
	case STORE_OP_NOTIN:
		if (value == NULL)
			return true;
		for (size_t i = 0; i < r->n_values; i++)
			if (strcmp(value, r->values[i]) == 0)
				return false;
		return true;
	case STORE_OP_EXISTS:
		return value != NULL;
	case STORE_OP_NOT_EXISTS:
		return value == NULL;
	}
	return false;
}

bool
store_selector_match(const struct store_selector *sel, const cJSON *obj)
{
	const cJSON *meta, *labels;

	if (sel == NULL)
		return true;
	meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	for (size_t i = 0; i < sel->n_labels; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		    labels, sel->labels[i].key);

		if (!store_req_match(&sel->labels[i],
		        cJSON_IsString(v) ? v->valuestring : NULL))
			return false;
	}
	for (size_t i = 0; i < sel->n_fields; i++) {
		const char *key = sel->fields[i].key + strlen("metadata.");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
		const char *value = cJSON_IsString(v) ? v->valuestring : "";

		if (!store_req_match(&sel->fields[i], value))
			return false;
	}
	return true;
}
