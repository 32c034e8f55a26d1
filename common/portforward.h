/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portforward: the user's end of a Kubernetes port-forward, as `kubectl
 * port-forward` is, on a libevent loop. A TCP listener on 127.0.0.1 (port
 * 0 picks one); each connection it accepts becomes one WebSocket to
 * /api/v1/namespaces/NS/pods/POD/portforward?ports=PORT with the
 * v4.channel.k8s.io subprotocol (../shared/k8s/API-NOTES.md 2.2): the
 * API server hands it to the kubelet, which dials PORT inside the pod.
 * Bytes are relayed both ways with back-pressure (le-proxy style, with our
 * own caps): every message is [channel][payload], channel 0 carries data,
 * channel 1 the kubelet's error text; the first message on each channel is
 * the 3-byte port prefix, which is checked and stripped. v4 has no
 * half-close: the end of either side ends the forward.
 *
 * The API server is reached as the kubeconfig says: its URL (a path
 * prefix is kept), its CA (or the system's), insecure-skip-tls-verify,
 * tls-server-name (SNI and the name checked; the Host header stays the
 * URL's), the client certificate, and per connection the Authorization and
 * impersonation headers common/kube builds (kube_setup_handle: bearer or
 * rotating token, basic auth, or an exec plugin's token). When an exec
 * plugin hands out a client certificate instead, a runner of our own
 * (common/kubeexec) fetches it. proxy-url is not supported (yet).
 *
 * Getting credentials may block (an exec plugin runs, a token file is
 * read), as the kube client does by design; everything else is
 * non-blocking on the caller's event_base.
 */
#ifndef TELEPOD_COMMON_PORTFORWARD_H
#define TELEPOD_COMMON_PORTFORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kube.h"
#include "common/kubeconfig.h"

struct event_base;

#define PORTFORWARD_PROTOCOL  "v4.channel.k8s.io"
#define PORTFORWARD_OUT_CAP   (256 * 1024) /* default per-direction cap */
#define PORTFORWARD_MAX_CONNS 64   /* forwards at once; more are closed */
#define PORTFORWARD_ERR_MAX   1536 /* size message buffers with it */
#define PORTFORWARD_PING_MS   30000

/*
 * Chooses the pod again after the API server said the pod is gone (404):
 * writes its name into pod (len bytes). May block (kube calls). Returns 0
 * or a negative errno with a sentence in err.
 */
typedef int (*portforward_pick_fn)(
    void *arg, char *pod, size_t len, char *err, size_t errlen);

/* A forward failed (before or after it carried data): err is a negative
 * errno, msg a sentence for the user. */
typedef void (*portforward_error_fn)(void *arg, int err, const char *msg);

struct portforward_config {
	/* The API server, its trust and the client certificate; read by
	 * portforward_new() only. */
	const struct kubeconfig_resolved *rc;
	/* Auth headers for each connection; borrowed, must outlive pf. */
	struct kube_client *kube;
	const char *ns;
	const char *pod;
	unsigned port; /* in the pod, 1..65535 */
	/* The listening socket to use (ownership taken), or -1 to make one
	 * on 127.0.0.1 with an ephemeral port; PORTFORWARD_NO_LISTENER for
	 * none (only portforward_probe()). */
	int listen_fd;
	portforward_pick_fn pick; /* may be NULL */
	void *pick_arg;
	portforward_error_fn on_error; /* may be NULL */
	void *error_arg;
	int ping_interval_ms;     /* 0: PORTFORWARD_PING_MS; < 0: none */
	size_t out_cap;           /* 0: PORTFORWARD_OUT_CAP */
	int handshake_timeout_ms; /* 0: 30 s */
};

#define PORTFORWARD_NO_LISTENER (-2)

struct portforward;

/*
 * Makes the forwarder on base: parses the server URL, builds the TLS
 * context, and listens (see listen_fd). Returns 0 and *ret (free with
 * portforward_free()), or a negative errno with a sentence in err:
 * -EINVAL (bad URL, names or port; bad CA or client certificate),
 * -ENOTSUP (proxy-url), -ENOMEM, or the errno of the listening socket.
 */
int portforward_new(struct event_base *base,
    const struct portforward_config *cfg, struct portforward **ret, char *err,
    size_t errlen);

/* Closes the listener and every forward at once. Accepts NULL. */
void portforward_free(struct portforward *pf);

/* The local port the listener is bound to (0 without one). */
unsigned portforward_local_port(const struct portforward *pf);

/* The pod forwards go to now (a 404 may have changed it). Borrowed. */
const char *portforward_pod(const struct portforward *pf);

struct portforward_stats {
	uint64_t accepted;   /* local connections */
	uint64_t failed;     /* forwards that ended with an error */
	unsigned active;     /* open now */
	uint64_t bytes_up;   /* local -> pod */
	uint64_t bytes_down; /* pod -> local */
};

void portforward_get_stats(
    const struct portforward *pf, struct portforward_stats *ret);

/* The last failure's sentence ("" when none). Borrowed. */
const char *portforward_last_error(const struct portforward *pf);

/*
 * Checks that forwards can work: opens one WebSocket to the pod and waits
 * for both port prefixes, then closes it. done is called once, from the
 * loop, with 0 or a negative errno and a sentence (a 403 names the verb
 * and resource that is missing). Returns 0 when started, or a negative
 * errno with err (done is then not called).
 */
int portforward_probe(struct portforward *pf,
    void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
    size_t errlen);

#endif
