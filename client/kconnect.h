/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kconnect: `telepod connect` through Kubernetes (no --server) and
 * `telepod uninstall`, run as the user, never as part of the root daemon.
 *
 * connect: loads the kubeconfig (common/kubeconfig; --kubeconfig,
 * $KUBECONFIG or ~/.kube/config, --context), makes or reuses the TLS
 * material in ~/.config/telepod/CONTEXT/NAMESPACE/ (directory 0700, keys
 * 0600), applies telepod-server's objects (client/kmanifest, from
 * packaging/kubernetes/) unless the cluster already has them as telepod
 * would apply them (a hash annotation per object; a different version or
 * image re-applies), waits for the Deployment's roll-out, picks a ready
 * pod, checks a port-forward to it, discovers the pod and service subnets,
 * then forks the port-forward holder: a process of the user's own that
 * listens on 127.0.0.1 (common/portforward) and stays for the session.
 * The CLI then asks telepodd to connect to that local port with the TLS
 * directory and the subnets, shows the answer, and returns (or, with
 * --foreground, waits for the holder). Progress (applying, waiting for
 * pod, port-forwarding, connecting, connected) is one updating line on a
 * terminal and plain lines otherwise.
 *
 * The holder records itself in a lock file ($XDG_RUNTIME_DIR/telepod/ or
 * ~/.cache/telepod/, portforward-NAMESPACE.pid, locked with fcntl so a
 * stale file names nobody). `telepod quit` calls kconnect_stop() after the
 * daemon closed the session; the holder also ends when the daemon no
 * longer has the session (checked every 15 s), on SIGTERM/SIGINT (it then
 * asks the daemon to quit the namespace), and logs to
 * ~/.cache/telepod/portforward-NAMESPACE.log.
 *
 * uninstall: stops the holder, deletes exactly the objects of
 * packaging/kubernetes/ that carry app.kubernetes.io/managed-by=telepod
 * (nothing else in the namespace), and removes the local TLS directory.
 */
#ifndef TELEPOD_CLIENT_KCONNECT_H
#define TELEPOD_CLIENT_KCONNECT_H

#include <stdbool.h>
#include <stddef.h>

#define KCONNECT_DEFAULT_TIMEOUT_S 180
#define KCONNECT_WATCH_SECS        15
/* The image when --image is not given. */
#define KCONNECT_DEFAULT_IMAGE "ghcr.io/telepod/telepod-server:" PACKAGE_VERSION

/* True when argv (the whole command line) is `connect` without --server
 * or `uninstall`: the Kubernetes path, run by kconnect_main(). */
bool kconnect_wants(int argc, char **argv);

/* Runs that command line; returns the exit code (0, 1 failed, 2 usage, 3
 * telepodd unreachable). In the forked holder it returns too (after the
 * session), with everything freed. */
int kconnect_main(int argc, char **argv);

/*
 * Ends the port-forward holder of namespace ns, if one runs: SIGTERM to
 * the process that holds the lock file, then waits (at most 5 s) for it to
 * let go. Returns 1 when one was stopped, 0 when none runs, or a negative
 * errno with a sentence in err.
 */
int kconnect_stop(const char *ns, char *err, size_t errlen);

/*
 * Finds the service range in the API server's answer to a Service with an
 * out-of-range clusterIP ("... The range of valid IPs is 10.96.0.0/12",
 * several prefixes possible): writes the prefixes, comma-separated, to
 * out. Returns how many, 0 when the text has none.
 */
int kconnect_parse_service_range(const char *msg, char *out, size_t len);

/* Makes a kubeconfig context name safe as one directory name: [A-Za-z0-9
 * ._-] kept, anything else '_', plus "-" and 8 hex digits of its SHA-256
 * when something was replaced or the name is "", "." or "..". */
void kconnect_context_dir(const char *context, char *out, size_t len);

#endif
