/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller: rolls out Deployments in the fake API server (Pods plus the
 * status fields the real deployment controller sets), on a timer so store
 * writes never nest inside store watch callbacks.
 */
#include "tests/fakeapi/controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define CONTROLLER_MAX_PENDING 256

struct controller {
	struct event_base *base;
	struct store *store;
	struct store_watch *watch;
	struct event *ev;
	unsigned delay_ms;
	const struct discovery_resource *deploy, *pods;
	unsigned next_ip;
	struct {
		char ns[254];
		char name[254];
		bool deleted;
	} pending[CONTROLLER_MAX_PENDING];
	size_t n_pending;
};

static const char ctl_chars[] = "bcdfghjklmnpqrstvwxz2456789";

static const char *
ctl_meta(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
ctl_num(const cJSON *obj, const char *a, const char *b, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, a), b);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void
ctl_schedule(
    struct controller *ctl, const char *ns, const char *name, bool deleted)
{
	struct timeval tv = {
	    ctl->delay_ms / 1000, (ctl->delay_ms % 1000) * 1000};

	for (size_t i = 0; i < ctl->n_pending; i++) {
		if (strcmp(ctl->pending[i].ns, ns) == 0 &&
		    strcmp(ctl->pending[i].name, name) == 0) {
			ctl->pending[i].deleted = deleted;
			return;
		}
	}
	if (ctl->n_pending == CONTROLLER_MAX_PENDING)
		return;
	snprintf(ctl->pending[ctl->n_pending].ns, 254, "%s", ns);
	snprintf(ctl->pending[ctl->n_pending].name, 254, "%s", name);
	ctl->pending[ctl->n_pending].deleted = deleted;
	ctl->n_pending++;
	if (!evtimer_pending(ctl->ev, NULL))
		evtimer_add(ctl->ev, &tv);
}

static void
ctl_watch_cb(const struct store_event *ev, void *arg)
{
	struct controller *ctl = arg;
	const char *name = ctl_meta(ev->obj, "name");
	double gen = ctl_num(ev->obj, "metadata", "generation", 1);
	double seen = ctl_num(ev->obj, "status", "observedGeneration", -1);

	if (name == NULL)
		return;
	if (ev->type == STORE_DELETED)
		ctl_schedule(ctl, ev->ns, name, true);
	else if (gen != seen)
		ctl_schedule(ctl, ev->ns, name, false);
}

/* A 10-character hash of the pod template, as pod-template-hash. */
static void
ctl_template_hash(const cJSON *tmpl, char out[11])
{
	char *text = cJSON_PrintUnformatted(tmpl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(md, 0, sizeof(md));
	if (text != NULL)
		EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
	free(text);
	for (int i = 0; i < 10; i++)
		out[i] = ctl_chars[md[i] % 27];
	out[10] = '\0';
}

struct ctl_pods {
	const char *prefix; /* "NAME-" */
	cJSON *names;       /* pods of the deployment */
	cJSON *hashes;
};

static void
ctl_pods_cb(const cJSON *obj, void *arg)
{
	struct ctl_pods *p = arg;
	const char *name = ctl_meta(obj, "name");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels"),
	    "pod-template-hash");

	if (name == NULL || strncmp(name, p->prefix, strlen(p->prefix)) != 0 ||
	    !cJSON_IsString(h))
		return;
	cJSON_AddItemToArray(p->names, cJSON_CreateString(name));
	cJSON_AddItemToArray(p->hashes, cJSON_CreateString(h->valuestring));
}

static void
ctl_condition(cJSON *conds, const char *type, const char *reason,
    const char *message, const char *now)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", "True");
	cJSON_AddStringToObject(c, "lastUpdateTime", now);
	cJSON_AddStringToObject(c, "lastTransitionTime", now);
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	cJSON_AddItemToArray(conds, c);
}

static void
ctl_make_pod(struct controller *ctl, const char *ns, const cJSON *deploy,
    const char *rs, const char *hash)
{
	const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(deploy, "spec"), "template");
	const cJSON *tmeta = cJSON_GetObjectItemCaseSensitive(tmpl, "metadata");
	const cJSON *tspec = cJSON_GetObjectItemCaseSensitive(tmpl, "spec");
	cJSON *pod = cJSON_CreateObject();
	cJSON *meta, *labels, *owners, *owner, *status, *conds, *ips, *ip, *cs;
	const cJSON *ct;
	unsigned char rnd[5];
	char name[300], podip[32], now[32], uid[40];

	if (pod == NULL)
		return;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	snprintf(name, sizeof(name), "%s-%c%c%c%c%c", rs,
	    ctl_chars[rnd[0] % 27], ctl_chars[rnd[1] % 27],
	    ctl_chars[rnd[2] % 27], ctl_chars[rnd[3] % 27],
	    ctl_chars[rnd[4] % 27]);
	store_now(now);
	store_uuid(uid);
	ctl->next_ip++;
	snprintf(podip, sizeof(podip), "10.244.%u.%u",
	    (ctl->next_ip / 250) % 256, ctl->next_ip % 250 + 2);
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	meta = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "generateName", rs);
	cJSON_AddStringToObject(meta, "namespace", ns);
	labels = cJSON_Duplicate(
	    cJSON_GetObjectItemCaseSensitive(tmeta, "labels"), true);
	if (labels == NULL)
		labels = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(labels, "pod-template-hash");
	cJSON_AddStringToObject(labels, "pod-template-hash", hash);
	cJSON_AddItemToObject(meta, "labels", labels);
	owners = cJSON_AddArrayToObject(meta, "ownerReferences");
	owner = cJSON_CreateObject();
	cJSON_AddStringToObject(owner, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(owner, "kind", "ReplicaSet");
	cJSON_AddStringToObject(owner, "name", rs);
	cJSON_AddStringToObject(owner, "uid", uid);
	cJSON_AddTrueToObject(owner, "controller");
	cJSON_AddTrueToObject(owner, "blockOwnerDeletion");
	cJSON_AddItemToArray(owners, owner);
	cJSON_AddItemToObject(pod, "spec",
	    tspec != NULL ? cJSON_Duplicate(tspec, true)
	                  : cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(pod, "spec"),
	    "nodeName", "fakeapi-node");
	status = cJSON_AddObjectToObject(pod, "status");
	cJSON_AddStringToObject(status, "phase", "Running");
	conds = cJSON_AddArrayToObject(status, "conditions");
	{
		const char *types[] = {
		    "Initialized", "Ready", "ContainersReady", "PodScheduled"};

		for (size_t i = 0; i < 4; i++) {
			cJSON *c = cJSON_CreateObject();

			cJSON_AddStringToObject(c, "type", types[i]);
			cJSON_AddStringToObject(c, "status", "True");
			cJSON_AddItemToObject(
			    c, "lastProbeTime", cJSON_CreateNull());
			cJSON_AddStringToObject(c, "lastTransitionTime", now);
			cJSON_AddItemToArray(conds, c);
		}
	}
	cJSON_AddStringToObject(status, "hostIP", "10.0.0.1");
	cJSON_AddStringToObject(status, "podIP", podip);
	ips = cJSON_AddArrayToObject(status, "podIPs");
	ip = cJSON_CreateObject();
	cJSON_AddStringToObject(ip, "ip", podip);
	cJSON_AddItemToArray(ips, ip);
	cJSON_AddStringToObject(status, "startTime", now);
	cJSON_AddStringToObject(status, "qosClass", "BestEffort");
	cs = cJSON_AddArrayToObject(status, "containerStatuses");
	cJSON_ArrayForEach(
	    ct, cJSON_GetObjectItemCaseSensitive(tspec, "containers"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(ct, "name");
		const cJSON *img =
		    cJSON_GetObjectItemCaseSensitive(ct, "image");
		cJSON *s = cJSON_CreateObject();
		cJSON *state = cJSON_AddObjectToObject(s, "state");

		cJSON_AddStringToObject(
		    s, "name", cJSON_IsString(n) ? n->valuestring : "");
		cJSON_AddStringToObject(
		    cJSON_AddObjectToObject(state, "running"), "startedAt",
		    now);
		cJSON_AddObjectToObject(s, "lastState");
		cJSON_AddTrueToObject(s, "ready");
		cJSON_AddNumberToObject(s, "restartCount", 0);
		cJSON_AddStringToObject(
		    s, "image", cJSON_IsString(img) ? img->valuestring : "");
		cJSON_AddStringToObject(s, "imageID", "");
		cJSON_AddTrueToObject(s, "started");
		cJSON_AddItemToArray(cs, s);
	}
	store_create(ctl->store, ctl->pods, ns, pod, NULL);
}

static void
ctl_reconcile(
    struct controller *ctl, const char *ns, const char *name, bool deleted)
{
	const cJSON *d =
	    deleted ? NULL : store_get(ctl->store, ctl->deploy, ns, name);
	char prefix[300], hash[11], rs[300], now[32], msg[400];
	struct ctl_pods pods;
	int replicas, have = 0, i = 0;
	const cJSON *it;
	cJSON *obj, *status, *conds;

	snprintf(prefix, sizeof(prefix), "%s-", name);
	pods.prefix = prefix;
	pods.names = cJSON_CreateArray();
	pods.hashes = cJSON_CreateArray();
	if (pods.names == NULL || pods.hashes == NULL)
		goto out;
	store_foreach(ctl->store, ctl->pods, ns, ctl_pods_cb, &pods);
	if (d == NULL) {
		/* Garbage collection of the deleted Deployment's Pods. */
		cJSON_ArrayForEach(it, pods.names) store_delete(
		    ctl->store, ctl->pods, ns, it->valuestring, NULL);
		goto out;
	}
	ctl_template_hash(
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetObjectItemCaseSensitive(d, "spec"), "template"),
	    hash);
	snprintf(rs, sizeof(rs), "%s-%s", name, hash);
	replicas = (int)ctl_num(d, "spec", "replicas", 1);
	if (replicas < 0)
		replicas = 0;
	cJSON_ArrayForEach(it, pods.names)
	{
		const cJSON *h = cJSON_GetArrayItem(pods.hashes, i++);

		if (strcmp(h->valuestring, hash) != 0 || have >= replicas)
			store_delete(
			    ctl->store, ctl->pods, ns, it->valuestring, NULL);
		else
			have++;
	}
	for (; have < replicas; have++)
		ctl_make_pod(ctl, ns, d, rs, hash);
	/* The status, as the deployment controller writes it. */
	d = store_get(ctl->store, ctl->deploy, ns, name);
	if (d == NULL)
		goto out;
	obj = cJSON_Duplicate(d, true);
	if (obj == NULL)
		goto out;
	store_now(now);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	status = cJSON_AddObjectToObject(obj, "status");
	cJSON_AddNumberToObject(status, "observedGeneration",
	    ctl_num(d, "metadata", "generation", 1));
	if (replicas > 0) {
		cJSON_AddNumberToObject(status, "replicas", replicas);
		cJSON_AddNumberToObject(status, "updatedReplicas", replicas);
		cJSON_AddNumberToObject(status, "readyReplicas", replicas);
		cJSON_AddNumberToObject(status, "availableReplicas", replicas);
	}
	conds = cJSON_AddArrayToObject(status, "conditions");
	ctl_condition(conds, "Available", "MinimumReplicasAvailable",
	    "Deployment has minimum availability.", now);
	snprintf(msg, sizeof(msg),
	    "ReplicaSet \"%s\" has successfully progressed.", rs);
	ctl_condition(conds, "Progressing", "NewReplicaSetAvailable", msg, now);
	store_update(ctl->store, ctl->deploy, ns, name, obj, NULL);
out:
	cJSON_Delete(pods.names);
	cJSON_Delete(pods.hashes);
}

static void
ctl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct controller *ctl = arg;

	(void)fd;
	(void)what;
	/* Reconciling writes, and the watch may queue more: take the list. */
	while (ctl->n_pending > 0) {
		char ns[254], name[254];
		bool deleted;

		ctl->n_pending--;
		snprintf(ns, sizeof(ns), "%s", ctl->pending[ctl->n_pending].ns);
		snprintf(name, sizeof(name), "%s",
		    ctl->pending[ctl->n_pending].name);
		deleted = ctl->pending[ctl->n_pending].deleted;
		ctl_reconcile(ctl, ns, name, deleted);
	}
	if (evtimer_pending(ctl->ev, NULL))
		evtimer_del(ctl->ev);
}

struct controller *
controller_new(struct event_base *base, struct store *store, unsigned delay_ms)
{
	struct controller *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL)
		return NULL;
	ctl->base = base;
	ctl->store = store;
	ctl->delay_ms = delay_ms;
	ctl->deploy = discovery_find("apps", "v1", "deployments");
	ctl->pods = discovery_find("", "v1", "pods");
	ctl->ev = evtimer_new(base, ctl_timer_cb, ctl);
	if (ctl->ev == NULL || store_watch(store, ctl->deploy, NULL, 0,
	                           ctl_watch_cb, ctl, &ctl->watch) < 0) {
		if (ctl->ev != NULL)
			event_free(ctl->ev);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void
controller_free(struct controller *ctl)
{
	if (ctl == NULL)
		return;
	store_watch_cancel(ctl->store, ctl->watch);
	event_free(ctl->ev);
	free(ctl);
}
