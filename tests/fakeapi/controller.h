/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller: what the deployment and ReplicaSet controllers and the
 * kubelet would do, compressed into one step. A short delay after a
 * Deployment is created or its spec changes, it makes spec.replicas Pods
 * (named NAME-HASH-XXXXX, labelled from the template plus
 * pod-template-hash, phase Running with a podIP and Ready conditions),
 * removes Pods of older templates, and sets the Deployment's status as the
 * controller would: observedGeneration, replicas, updatedReplicas,
 * readyReplicas, availableReplicas, and the Available and Progressing
 * conditions. Deleting a Deployment deletes its Pods.
 */
#ifndef TELEPOD_FAKEAPI_CONTROLLER_H
#define TELEPOD_FAKEAPI_CONTROLLER_H

#include <event2/event.h>

#include "tests/fakeapi/store.h"

struct controller;

/* Watches deployments in store (borrowed). delay_ms is the time between a
 * change and the "rollout". NULL when out of memory. */
struct controller *controller_new(
    struct event_base *base, struct store *store, unsigned delay_ms);
void controller_free(struct controller *ctl);

#endif
