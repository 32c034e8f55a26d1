/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netstate: the write-ahead ledger of telepodd's changes to the machine's
 * network configuration, so that "leave the machine exactly as it was"
 * holds even after SIGKILL. The in-memory records mirror the file; every
 * change rewrites the whole file (it holds tens of records) through a
 * temporary file, fsync and rename, so a crash leaves either the old or
 * the new ledger, never half of one. Undo callbacks are looked up by kind;
 * the TUN device and routes are built in, other modules register theirs.
 */
#include "client/netstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/route.h"
#include "client/tun.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "common/log.h"

/* Largest id a JSON number carries exactly. */
#define NETSTATE_ID_MAX ((uint64_t)1 << 53)

struct netstate_rec {
	uint64_t id;
	char kind[NETSTATE_KIND_MAX];
	cJSON *payload;
};

struct netstate_kind {
	char kind[NETSTATE_KIND_MAX];
	netstate_undo_fn fn;
	void *arg;
};

struct netstate {
	char *path;
	char *tmp_path;
	char *lock_path;
	int lock_fd;
	struct netstate_rec *recs;
	size_t n, cap;
	uint64_t next_id;
	struct netstate_kind *kinds;
	size_t n_kinds;
};

static bool
netstate_valid_kind(const char *kind)
{
	size_t n;

	if (kind == NULL)
		return false;
	n = strnlen(kind, NETSTATE_KIND_MAX);
	if (n == 0 || n >= NETSTATE_KIND_MAX)
		return false;
	return strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static char *
netstate_strcat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Creates the last directory of path if missing (its parent must exist:
 * /run does). */
static int
netstate_make_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n;

	if (slash == NULL || slash == path)
		return 0;
	n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		errbuf_set(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;

		errbuf_set(err, errlen, "cannot create the directory %s: %s",
		    dir, strerror(-r));
		return r;
	}
	return 0;
}

static int undo_tun(const char *kind, const cJSON *payload, void *arg,
    char *err, size_t errlen);
static int undo_route(const char *kind, const cJSON *payload, void *arg,
    char *err, size_t errlen);

int
netstate_new(const char *path, struct netstate **ret, char *err, size_t errlen)
{
	struct netstate *ns;
	int r;

	if (path == NULL)
		path = NETSTATE_DEFAULT_PATH;
	if (*path == '\0' || strlen(path) > PATH_MAX - 16) {
		errbuf_set(
		    err, errlen, "unusable state file path \"%.64s\"", path);
		return -EINVAL;
	}
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL)
		goto nomem;
	ns->lock_fd = -1;
	ns->next_id = 1;
	ns->path = strdup(path);
	ns->tmp_path = netstate_strcat(path, ".tmp");
	ns->lock_path = netstate_strcat(path, ".lock");
	if (ns->path == NULL || ns->tmp_path == NULL || ns->lock_path == NULL)
		goto nomem;
	r = netstate_make_dir(path, err, errlen);
	if (r < 0)
		goto fail;
	ns->lock_fd = open(
	    ns->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (ns->lock_fd < 0) {
		r = -errno;
		errbuf_set(err, errlen, "cannot open %s: %s", ns->lock_path,
		    strerror(-r));
		goto fail;
	}
	if (flock(ns->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK) {
			errbuf_set(err, errlen,
			    "another telepodd is running (it holds %s)",
			    ns->lock_path);
			r = -EBUSY;
		} else {
			errbuf_set(err, errlen, "cannot lock %s: %s",
			    ns->lock_path, strerror(-r));
		}
		goto fail;
	}
	if (netstate_register(ns, NETSTATE_KIND_TUN, undo_tun, NULL) < 0 ||
	    netstate_register(ns, NETSTATE_KIND_ROUTE, undo_route, NULL) < 0)
		goto nomem;
	*ret = ns;
	return 0;
nomem:
	errbuf_set(err, errlen, "out of memory");
	r = -ENOMEM;
fail:
	netstate_free(ns);
	return r;
}

static void
netstate_drop_all(struct netstate *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		cJSON_Delete(ns->recs[i].payload);
	ns->n = 0;
}

void
netstate_free(struct netstate *ns)
{
	if (ns == NULL)
		return;
	netstate_drop_all(ns);
	free(ns->recs);
	free(ns->kinds);
	if (ns->lock_fd >= 0)
		close(ns->lock_fd); /* releases the lock */
	free(ns->path);
	free(ns->tmp_path);
	free(ns->lock_path);
	free(ns);
}

const char *
netstate_path(const struct netstate *ns)
{
	return ns->path;
}

size_t
netstate_count(const struct netstate *ns)
{
	return ns->n;
}

int
netstate_register(
    struct netstate *ns, const char *kind, netstate_undo_fn fn, void *arg)
{
	struct netstate_kind *k;

	if (!netstate_valid_kind(kind) || fn == NULL)
		return -EINVAL;
	for (size_t i = 0; i < ns->n_kinds; i++) {
		if (strcmp(ns->kinds[i].kind, kind) == 0) {
			ns->kinds[i].fn = fn;
			ns->kinds[i].arg = arg;
			return 0;
		}
	}
	k = realloc(ns->kinds, (ns->n_kinds + 1) * sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	ns->kinds = k;
	k = &ns->kinds[ns->n_kinds++];
	memset(k, 0, sizeof(*k));
	snprintf(k->kind, sizeof(k->kind), "%s", kind);
	k->fn = fn;
	k->arg = arg;
	return 0;
}

static const struct netstate_kind *
netstate_find_kind(const struct netstate *ns, const char *kind)
{
	for (size_t i = 0; i < ns->n_kinds; i++)
		if (strcmp(ns->kinds[i].kind, kind) == 0)
			return &ns->kinds[i];
	return NULL;
}

static ssize_t
netstate_find(const struct netstate *ns, uint64_t id)
{
	for (size_t i = 0; i < ns->n; i++)
		if (ns->recs[i].id == id)
			return (ssize_t)i;
	return -1;
}

/* Makes the file say what memory holds; no records: no file. */
static int
netstate_save(struct netstate *ns, char *err, size_t errlen)
{
	cJSON *doc = NULL, *arr;
	char *text = NULL;
	int fd = -1, r;

	if (ns->n == 0) {
		if (unlink(ns->path) < 0 && errno != ENOENT) {
			r = -errno;
			errbuf_set(err, errlen, "cannot remove %s: %s",
			    ns->path, strerror(-r));
			return r;
		}
		(void)fileio_sync_dir(ns->path);
		return 0;
	}
	doc = cJSON_CreateObject();
	if (doc == NULL ||
	    !cJSON_AddNumberToObject(doc, "version", NETSTATE_VERSION))
		goto nomem;
	arr = cJSON_AddArrayToObject(doc, "records");
	if (arr == NULL)
		goto nomem;
	for (size_t i = 0; i < ns->n; i++) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			goto nomem;
		cJSON_AddItemToArray(arr, o);
		if (!cJSON_AddNumberToObject(o, "id", (double)ns->recs[i].id) ||
		    !cJSON_AddStringToObject(o, "kind", ns->recs[i].kind) ||
		    !cJSON_AddItemReferenceToObject(
		        o, "payload", ns->recs[i].payload))
			goto nomem;
	}
	text = cJSON_Print(doc);
	if (text == NULL)
		goto nomem;
	if (strlen(text) + 1 > NETSTATE_MAX_FILE) {
		errbuf_set(err, errlen, "the state file would exceed %u bytes",
		    NETSTATE_MAX_FILE);
		r = -EMSGSIZE;
		goto out;
	}
	fd = open(ns->tmp_path,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = -errno;
		errbuf_set(err, errlen, "cannot write %s: %s", ns->tmp_path,
		    strerror(-r));
		goto out;
	}
	r = fileio_write_all(fd, text, strlen(text));
	if (r == 0)
		r = fileio_write_all(fd, "\n", 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r < 0) {
		errbuf_set(err, errlen, "cannot write %s: %s", ns->tmp_path,
		    strerror(-r));
		unlink(ns->tmp_path);
		goto out;
	}
	if (rename(ns->tmp_path, ns->path) < 0) {
		r = -errno;
		errbuf_set(err, errlen, "cannot replace %s: %s", ns->path,
		    strerror(-r));
		unlink(ns->tmp_path);
		goto out;
	}
	(void)fileio_sync_dir(ns->path);
	r = 0;
	goto out;
nomem:
	errbuf_set(err, errlen, "out of memory");
	r = -ENOMEM;
out:
	cJSON_free(text);
	cJSON_Delete(doc);
	return r;
}

static int
netstate_append(
    struct netstate *ns, uint64_t id, const char *kind, cJSON *payload)
{
	struct netstate_rec *rec;

	if (ns->n >= NETSTATE_MAX_RECORDS)
		return -EMSGSIZE;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;

		if (cap > NETSTATE_MAX_RECORDS)
			cap = NETSTATE_MAX_RECORDS;
		rec = realloc(ns->recs, cap * sizeof(*rec));
		if (rec == NULL)
			return -ENOMEM;
		ns->recs = rec;
		ns->cap = cap;
	}
	rec = &ns->recs[ns->n++];
	memset(rec, 0, sizeof(*rec));
	rec->id = id;
	snprintf(rec->kind, sizeof(rec->kind), "%s", kind);
	rec->payload = payload;
	return 0;
}

static void
netstate_remove_at(struct netstate *ns, size_t i)
{
	cJSON_Delete(ns->recs[i].payload);
	memmove(&ns->recs[i], &ns->recs[i + 1],
	    (ns->n - i - 1) * sizeof(ns->recs[0]));
	ns->n--;
}

int
netstate_record(struct netstate *ns, const char *kind, cJSON *payload,
    uint64_t *ret_id, char *err, size_t errlen)
{
	uint64_t id;
	int r;

	if (!netstate_valid_kind(kind) || payload == NULL) {
		errbuf_set(err, errlen, "bad change record (kind \"%.32s\")",
		    kind ? kind : "");
		cJSON_Delete(payload);
		return -EINVAL;
	}
	if (ns->next_id >= NETSTATE_ID_MAX) {
		errbuf_set(err, errlen, "out of record ids");
		cJSON_Delete(payload);
		return -EMSGSIZE;
	}
	id = ns->next_id;
	r = netstate_append(ns, id, kind, payload);
	if (r < 0) {
		errbuf_set(err, errlen,
		    r == -EMSGSIZE ? "more than %d recorded changes"
		                   : "out of memory (%d records)",
		    NETSTATE_MAX_RECORDS);
		cJSON_Delete(payload);
		return r;
	}
	r = netstate_save(ns, err, errlen);
	if (r < 0) {
		netstate_remove_at(ns, ns->n - 1);
		return r;
	}
	ns->next_id++;
	if (ret_id != NULL)
		*ret_id = id;
	return 0;
}

int
netstate_update(
    struct netstate *ns, uint64_t id, cJSON *payload, char *err, size_t errlen)
{
	ssize_t i = netstate_find(ns, id);
	cJSON *old;
	int r;

	if (i < 0 || payload == NULL) {
		cJSON_Delete(payload);
		errbuf_set(err, errlen, "no recorded change %llu",
		    (unsigned long long)id);
		return -ENOENT;
	}
	old = ns->recs[i].payload;
	ns->recs[i].payload = payload;
	r = netstate_save(ns, err, errlen);
	if (r < 0) {
		ns->recs[i].payload = old;
		cJSON_Delete(payload);
		return r;
	}
	cJSON_Delete(old);
	return 0;
}

int
netstate_forget(struct netstate *ns, uint64_t id, char *err, size_t errlen)
{
	ssize_t i = netstate_find(ns, id);

	if (i < 0) {
		errbuf_set(err, errlen, "no recorded change %llu",
		    (unsigned long long)id);
		return -ENOENT;
	}
	/* A failed write leaves the record in the file: undo is
	 * idempotent, so the next recovery only finds nothing to do. */
	netstate_remove_at(ns, (size_t)i);
	return netstate_save(ns, err, errlen);
}

/* Runs the undo callback of record i. */
static int
netstate_undo_rec(struct netstate *ns, size_t i, char *err, size_t errlen)
{
	const struct netstate_rec *rec = &ns->recs[i];
	const struct netstate_kind *k = netstate_find_kind(ns, rec->kind);
	char why[NETSTATE_ERROR_MAX] = "";
	int r;

	if (k == NULL) {
		errbuf_set(err, errlen,
		    "cannot undo change %llu of kind \"%s\": no module handles that kind; kept in %s",
		    (unsigned long long)rec->id, rec->kind, ns->path);
		return -EAGAIN;
	}
	r = k->fn(rec->kind, rec->payload, k->arg, why, sizeof(why));
	if (r < 0) {
		errbuf_set(err, errlen,
		    "cannot undo change %llu (%s): %s; kept in %s",
		    (unsigned long long)rec->id, rec->kind,
		    why[0] ? why : strerror(-r), ns->path);
		return r;
	}
	log_debug(LOG_CAT_TUN, "netstate: undid change %llu (%s)",
	    (unsigned long long)rec->id, rec->kind);
	return 0;
}

int
netstate_undo(struct netstate *ns, uint64_t id, char *err, size_t errlen)
{
	ssize_t i = netstate_find(ns, id);
	int r;

	if (i < 0) {
		errbuf_set(err, errlen, "no recorded change %llu",
		    (unsigned long long)id);
		return -ENOENT;
	}
	r = netstate_undo_rec(ns, (size_t)i, err, errlen);
	if (r < 0)
		return r;
	netstate_remove_at(ns, (size_t)i);
	return netstate_save(ns, err, errlen);
}

int
netstate_undo_all(struct netstate *ns, char *err, size_t errlen)
{
	char first[NETSTATE_ERROR_MAX] = "";
	size_t failed = 0;
	int r;

	for (size_t i = ns->n; i-- > 0;) {
		char why[NETSTATE_ERROR_MAX];

		r = netstate_undo_rec(ns, i, why, sizeof(why));
		if (r < 0) {
			if (failed++ == 0)
				snprintf(first, sizeof(first), "%s", why);
			continue;
		}
		netstate_remove_at(ns, i);
	}
	r = netstate_save(ns, err, errlen);
	if (r < 0)
		return r;
	if (failed > 0) {
		errbuf_set(err, errlen, "%s%s", first,
		    failed > 1 ? " (and more)" : "");
		return -EAGAIN;
	}
	return 0;
}

/* Reads the file into memory (replacing it); 0 with nothing when there
 * is no file. -EBADMSG for anything but a ledger. */
static int
netstate_load(struct netstate *ns, char *why, size_t whylen)
{
	struct stat st;
	char *text = NULL;
	cJSON *doc = NULL, *ver, *recs, *it;
	uint64_t max_id = 0;
	size_t off = 0;
	int fd, r;

	netstate_drop_all(ns);
	fd = open(ns->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return 0;
		errbuf_set(
		    why, whylen, "cannot read %s: %s", ns->path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)NETSTATE_MAX_FILE) {
		errbuf_set(why, whylen,
		    "it is not a regular file of at most %u bytes",
		    NETSTATE_MAX_FILE);
		r = -EBADMSG;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		r = -ENOMEM;
		errbuf_set(why, whylen, "out of memory");
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, text + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	text[off] = '\0';
	doc = cJSON_ParseWithLength(text, off);
	r = -EBADMSG;
	if (doc == NULL || !cJSON_IsObject(doc)) {
		errbuf_set(why, whylen, "it is not JSON");
		goto out;
	}
	ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != NETSTATE_VERSION) {
		errbuf_set(why, whylen,
		    "it has no \"version\": %d (written by another telepod version?)",
		    NETSTATE_VERSION);
		goto out;
	}
	recs = cJSON_GetObjectItemCaseSensitive(doc, "records");
	if (!cJSON_IsArray(recs) ||
	    cJSON_GetArraySize(recs) > NETSTATE_MAX_RECORDS) {
		errbuf_set(why, whylen,
		    "\"records\" is not a list of at most %d changes",
		    NETSTATE_MAX_RECORDS);
		goto out;
	}
	cJSON_ArrayForEach(it, recs)
	{
		cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
		cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
		cJSON *payload;
		double d;

		if (!cJSON_IsNumber(id) || !cJSON_IsString(kind) ||
		    !netstate_valid_kind(kind->valuestring)) {
			errbuf_set(why, whylen,
			    "a change lacks a valid \"id\" or \"kind\"");
			goto out;
		}
		d = id->valuedouble;
		if (!(d >= 1 && d < (double)NETSTATE_ID_MAX) ||
		    (double)(uint64_t)d != d) {
			errbuf_set(why, whylen, "a change has a bad \"id\"");
			goto out;
		}
		payload =
		    cJSON_DetachItemFromObjectCaseSensitive(it, "payload");
		if (payload == NULL) {
			errbuf_set(
			    why, whylen, "a change lacks its \"payload\"");
			goto out;
		}
		if (netstate_append(
		        ns, (uint64_t)d, kind->valuestring, payload) < 0) {
			cJSON_Delete(payload);
			errbuf_set(why, whylen, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		if ((uint64_t)d > max_id)
			max_id = (uint64_t)d;
	}
	if (max_id >= ns->next_id)
		ns->next_id = max_id + 1;
	r = 0;
out:
	if (r < 0)
		netstate_drop_all(ns);
	cJSON_Delete(doc);
	free(text);
	close(fd);
	return r;
}

int
netstate_recover(struct netstate *ns, char *err, size_t errlen)
{
	char why[NETSTATE_ERROR_MAX] = "";
	size_t found;
	int r;

	r = netstate_load(ns, why, sizeof(why));
	if (r == -EBADMSG) {
		char *aside = netstate_strcat(ns->path, ".corrupt");

		if (aside != NULL && rename(ns->path, aside) == 0) {
			(void)fileio_sync_dir(ns->path);
			errbuf_set(err, errlen,
			    "%s is not a telepod state file (%s); moved it to %s; check `ip link` and `ip route` for leftovers of telepod (proto 126)",
			    ns->path, why, aside);
		} else {
			errbuf_set(err, errlen,
			    "%s is not a telepod state file (%s) and cannot be moved aside; remove it",
			    ns->path, why);
		}
		free(aside);
		return r;
	}
	if (r < 0) {
		errbuf_set(err, errlen, "%s", why);
		return r;
	}
	found = ns->n;
	if (found == 0)
		return 0;
	log_debug(LOG_CAT_TUN,
	    "netstate: %zu changes left by an earlier telepodd in %s", found,
	    ns->path);
	return netstate_undo_all(ns, err, errlen);
}

/* ---- built-in kinds ---------------------------------------------------- */

static int
netstate_get_ifindex(const cJSON *payload, int *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, "ifindex");

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
	    v->valuedouble > INT_MAX ||
	    (double)(int)v->valuedouble != v->valuedouble)
		return -EINVAL;
	*ret = (int)v->valuedouble;
	return 0;
}

static int
undo_tun(
    const char *kind, const cJSON *payload, void *arg, char *err, size_t errlen)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(payload, "name");
	int ifindex, r;

	if (!cJSON_IsString(name) ||
	    netstate_get_ifindex(payload, &ifindex) < 0) {
		errbuf_set(err, errlen, "the TUN record is malformed");
		return -EINVAL;
	}
	if (ifindex > 0) {
		/* Routes of ours still on that link (it lives on while a
		 * child holds its fd); the link's deletion would take them
		 * too, but not if it is no longer a TUN device of ours. */
		char ignored[ROUTE_REASON_MAX];

		(void)route_del_ours(ifindex, ignored, sizeof(ignored));
	}
	r = tun_delete_stale(name->valuestring, ifindex, err, errlen);
	if (r == -EEXIST) {
		/* The name is another link's now; ours went long ago. */
		log_debug(LOG_CAT_TUN, "netstate: %s", err);
		return 0;
	}
	return r < 0 ? r : 0;
}

static int
undo_route(
    const char *kind, const cJSON *payload, void *arg, char *err, size_t errlen)
{
	const cJSON *dst = cJSON_GetObjectItemCaseSensitive(payload, "dst");
	struct cidr c;
	int ifindex, r;

	if (!cJSON_IsString(dst) ||
	    cidr_parse(dst->valuestring, &c, NULL) < 0 ||
	    netstate_get_ifindex(payload, &ifindex) < 0 || ifindex == 0) {
		errbuf_set(err, errlen, "the route record is malformed");
		return -EINVAL;
	}
	r = route_del(ifindex, &c, err, errlen);
	return r == -ENOENT ? 0 : r;
}

static cJSON *
netstate_tun_payload(const char *name, int ifindex)
{
	cJSON *p = cJSON_CreateObject();

	if (p == NULL || !cJSON_AddStringToObject(p, "name", name) ||
	    !cJSON_AddNumberToObject(p, "ifindex", ifindex)) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

int
netstate_record_tun(struct netstate *ns, const char *name, int ifindex,
    uint64_t *ret_id, char *err, size_t errlen)
{
	cJSON *p = netstate_tun_payload(name, ifindex);

	if (p == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return netstate_record(ns, NETSTATE_KIND_TUN, p, ret_id, err, errlen);
}

int
netstate_update_tun(struct netstate *ns, uint64_t id, const char *name,
    int ifindex, char *err, size_t errlen)
{
	cJSON *p = netstate_tun_payload(name, ifindex);

	if (p == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return netstate_update(ns, id, p, err, errlen);
}

int
netstate_route_add(struct netstate *ns, int ifindex, const struct cidr *dst,
    const struct cidr *src, uint64_t *ret_id, char *err, size_t errlen)
{
	char text[CIDR_STR_MAX];
	cJSON *p = cJSON_CreateObject();
	uint64_t id;
	int r;

	cidr_format(dst, text, sizeof(text));
	if (p == NULL || !cJSON_AddStringToObject(p, "dst", text) ||
	    !cJSON_AddNumberToObject(p, "ifindex", ifindex)) {
		cJSON_Delete(p);
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = netstate_record(ns, NETSTATE_KIND_ROUTE, p, &id, err, errlen);
	if (r < 0)
		return r;
	r = route_add(ifindex, dst, src, err, errlen);
	if (r < 0) {
		(void)netstate_forget(ns, id, NULL, 0);
		return r;
	}
	if (ret_id != NULL)
		*ret_id = id;
	return 0;
}
