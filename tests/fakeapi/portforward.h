/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portforward: the fake API server's pods/NAME/portforward endpoint, the
 * kubelet's WebSocket protocol (v4.channel.k8s.io, binary, and
 * v4.base64.channel.k8s.io, text) as shared/k8s/API-NOTES.md section 2.2
 * describes it: a 101 upgrade with the negotiated subprotocol, the two
 * 3-byte port prefixes per port, channel 2i for data and 2i+1 for errors,
 * and the socket closed about a second after either side ends.
 *
 * Where the kubelet dials localhost:PORT in the pod, the fake dials a real
 * TCP address configured per pod with --pod-endpoint:
 *   NS/NAME=HOST            every pod port P goes to HOST:P
 *   NS/NAME:P=HOST:Q        pod port P goes to HOST:Q
 * NAME matches the pod, or the pods of Deployment NAME (NAME-...).
 */
#ifndef TELEPOD_FAKEAPI_PORTFORWARD_H
#define TELEPOD_FAKEAPI_PORTFORWARD_H

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "tests/fakeapi/http.h"

#define PORTFORWARD_MAX_ENDPOINTS 64
#define PORTFORWARD_MAX_PORTS     16

struct portforward;

/* NULL when out of memory. Caller frees with portforward_free(), which
 * closes open forwards. */
struct portforward *portforward_new(struct event_base *base);
void portforward_free(struct portforward *pf);

/* Adds a --pod-endpoint spec. Returns 0, -EINVAL or -E2BIG. */
int portforward_add_endpoint(struct portforward *pf, const char *spec);

/* Answers a portforward request for pod (borrowed) ns/name: an error
 * Status, or the upgrade and then the relay. */
void portforward_handle(struct portforward *pf, struct http_request *req,
    const char *ns, const char *name, const cJSON *pod);

#endif
