#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-kube-connect: `telepod connect -n NS` through Kubernetes end to end
# on loopback, without root (--no-tun): tests/fakeapi/fake-apiserver plays
# the API server and relays the port-forward of pods telepod-server-* to
# a real telepod-server this test starts with the certificates telepod
# keeps in ~/.config/telepod/fakeapi/NS/ (in a real cluster the pod reads
# them from the Secret that connect applies; the test checks the Secret
# holds exactly them). telepodd runs with a control socket of its own, and
# tp-load is the application behind SOCKS5.
#
# Checked: a Forbidden user gets a message naming verb and resource (the
# apply, and pods/portforward); connect installs the four objects of
# packaging/kubernetes/ (checked through the fake's API with curl:
# labels, image, security context, the Secret's data, no client or CA
# key in it), the subnets it discovers are exactly the fake's (non-default
# --node pod CIDRs and --service-cidr, the range read from the API
# server's refusal of an out-of-range clusterIP), the local TLS files' modes, 100 MiB byte-exact through
# SOCKS -> telepodd -> port-forward -> fake -> telepod-server -> echo, a
# second connect while connected is refused, `telepod quit` ends the
# port-forward process, a reconnect reuses every object (same
# resourceVersions), a new --image and an older installed version are
# re-applied (only the Deployment changes), and `telepod uninstall`
# removes telepod's objects and nothing else (a foreign ConfigMap stays).
set -u
. "$(dirname "$0")/lib.sh"
tp_init kube-connect
tp_need_programs
tp_need_cmd curl base64
FAKE=${FAKEAPI:-$TP_BUILDDIR/tests/fakeapi/fake-apiserver}
K8S_DIR=${FAKEAPI_K8S_DIR:-$TP_SRCDIR/../../../shared/k8s}
[ -x "$FAKE" ] || skip "$FAKE is not built"
[ -d "$K8S_DIR/openapi" ] || skip "no shared Kubernetes data at $K8S_DIR"

NS=kc$$
NS=${NS:0:20}
# Nothing of the real user's: a home, config and runtime dir of our own.
export HOME=$TP_TMP/home
unset XDG_CONFIG_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR KUBECONFIG
mkdir -p "$HOME"
TLS=$HOME/.config/telepod/fakeapi/$NS
PIDFILE=$HOME/.cache/telepod/portforward-$NS.pid

tp_step "set-up: certificates, echo server, telepod-server, fake-apiserver, telepodd"
tp_certs "$TLS"
tp_start_echo echo
SERVER_PORT=$(tp_free_port)
tp_start_server server "$SERVER_PORT" "$TLS" --namespace "$NS"
tp_spawn fake "$FAKE" --listen 127.0.0.1:0 --kubeconfig-out "$TP_TMP/kc" \
	--state-dir "$TP_TMP/fakestate" --k8s-dir "$K8S_DIR" \
	--service-cidr 10.100.0.0/16 \
	--node n1=10.250.1.0/24,fd00:250:1::/64 --node n2=10.250.2.0/24 \
	--pod-endpoint "$NS/telepod-server:8443=127.0.0.1:$SERVER_PORT" \
	--token tok-viewer=viewer --token tok-nopf=nopf \
	--forbid viewer:patch:deployments --forbid 'nopf:*:pods/portforward'
tp_retry 15 grep -q '^https://' "$TP_TMP/fake.log" || fail "fake-apiserver did not start"
URL=$(grep -m 1 '^https://' "$TP_TMP/fake.log")
tp_wait_file "$TP_TMP/kc" 5
tp_start_daemon daemon
tp_log "API server $URL, telepod-server on port $SERVER_PORT, namespace $NS"

FS=$TP_TMP/fakestate
api() { # api METHOD PATH [BODY [CONTENT-TYPE]]: the fake's API as its admin
	local ct=${4:-application/json}
	if [ $# -ge 3 ]; then
		curl -sS --max-time 10 --cacert "$FS/ca.crt" --cert "$FS/client.crt" \
			--key "$FS/client.key" -X "$1" -H "Content-Type: $ct" --data-binary "$3" "$URL$2"
	else
		curl -sS --max-time 10 --cacert "$FS/ca.crt" --cert "$FS/client.crt" \
			--key "$FS/client.key" -X "$1" "$URL$2"
	fi
}
get() { api GET "$1" | tp_json "$2"; }
SA=/api/v1/namespaces/$NS/serviceaccounts/telepod-server
SECRET=/api/v1/namespaces/$NS/secrets/telepod-server-tls
DEPLOY=/apis/apps/v1/namespaces/$NS/deployments/telepod-server
SVC=/api/v1/namespaces/$NS/services/telepod-server
rvs() { # the resourceVersions of telepod's four objects (Deployment: generation)
	echo "$(get "$SA" metadata.resourceVersion) $(get "$SECRET" metadata.resourceVersion)" \
		"$(get "$DEPLOY" metadata.generation) $(get "$SVC" metadata.resourceVersion)"
}

# A kubeconfig for a token user, with the same context name (so the same
# certificate directory) as the fake's own.
user_kubeconfig() { # user_kubeconfig FILE TOKEN
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
current-context: fakeapi
clusters:
- name: fakeapi
  cluster:
    server: $URL
    certificate-authority: $FS/ca.crt
users:
- name: u
  user:
    token: $2
contexts:
- name: fakeapi
  context: {cluster: fakeapi, user: u}
EOF
}
user_kubeconfig "$TP_TMP/viewer.kc" tok-viewer
user_kubeconfig "$TP_TMP/nopf.kc" tok-nopf

holder_pid() { cat "$PIDFILE" 2>/dev/null; }

# kconnect KUBECONFIG ARGS...: telepod connect through Kubernetes. The
# port-forward process it leaves is recorded, so that the exit trap stops
# it by PID if the test fails.
kconnect() {
	local kc=$1 rc=0 p
	shift
	TP_CLI_TIMEOUT=90 tp_cli "$DAEMON_SOCK" connect -n "$NS" --no-tun \
		--kubeconfig "$kc" --timeout 60 "$@" || rc=$?
	p=$(holder_pid)
	if [ -n "$p" ] && [ -z "${TP_NAME_OF[$p]:-}" ]; then
		tp_track "holder-$p" "$p"
	fi
	return "$rc"
}

no_pods() { ! api GET "/api/v1/namespaces/$NS/pods" | tp_json items.0.metadata.name >/dev/null 2>&1; }

api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}" >/dev/null ||
	fail "cannot create namespace $NS"
api POST "/api/v1/namespaces/$NS/configmaps" \
	'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"foreign"},"data":{"a":"b"}}' >/dev/null ||
	fail "cannot create the foreign ConfigMap"

tp_step "RBAC: a user who may not patch Deployments gets a clear Forbidden"
out=$(kconnect "$TP_TMP/viewer.kc" 2>&1) && fail "connect as viewer succeeded: $out"
echo "$out" | grep -q 'forbidden: you cannot patch deployments.apps "telepod-server" in namespace "'"$NS"'"' ||
	fail "no Forbidden message naming verb and resource: $out"
echo "$out" | grep -q "kubectl auth can-i patch deployments.apps -n $NS" ||
	fail "the Forbidden message does not say how to check: $out"
[ -z "$(holder_pid)" ] || fail "a port-forward process was left behind"
tp_ok "forbidden, with verb, resource, namespace and the can-i command"

tp_step "connect installs telepod-server and connects through the port-forward"
out=$(kconnect "$TP_TMP/kc" 2>&1) || fail "telepod connect failed: $out"
echo "$out" | grep -q "^Connected to namespace $NS through pod telepod-server-" ||
	fail "no Connected line: $out"
for step in "applying" "waiting for pod" "port-forwarding" "connecting telepodd"; do
	echo "$out" | grep -q "telepod: $step" || fail "no progress line \"$step\": $out"
done
HOLDER=$(holder_pid)
[ -n "$HOLDER" ] && kill -0 "$HOLDER" 2>/dev/null || fail "no port-forward process in $PIDFILE"
tp_ok "connected; the port-forward is held by process $HOLDER"
[ "$(tp_conn_state "$DAEMON_SOCK")" = connected ] || fail "telepodd's session is not connected"
server=$(tp_status_json "$DAEMON_SOCK" | tp_json connections.0.server)
case $server in 127.0.0.1:[1-9]*) ;; *) fail "telepodd connects to \"$server\", not a local port" ;; esac
tp_ok "telepodd connects to $server"

tp_step "the cluster's subnets: the fake's nodes and service range, nothing else"
want="cluster: pod subnets 10.250.1.0/24,fd00:250:1::/64,10.250.2.0/24, service range 10.100.0.0/16"
echo "$out" | grep -qF "$want" || fail "connect did not report \"$want\": $out"
# What the discovery relied on: the fake refuses an out-of-range
# clusterIP (dry run) naming the range, and allocates from it.
probe='{"apiVersion":"v1","kind":"Service","metadata":{"name":"p"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":80}]}}'
msg=$(api POST "/api/v1/namespaces/$NS/services?dryRun=All" "$probe" | tp_json message)
[ "$msg" = 'Service "p" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: the provided IP (10.96.0.10) is not in the valid range. The range of valid IPs is 10.100.0.0/16' ] ||
	fail "unexpected answer to an out-of-range clusterIP: $msg"
case $(get "$SVC" spec.clusterIP) in 10.100.*) ;; *) fail "Service clusterIP $(get "$SVC" spec.clusterIP) is not from 10.100.0.0/16" ;; esac
tp_ok "pod subnets and service range as the fake was started with; Service IP $(get "$SVC" spec.clusterIP)"

tp_step "the objects, through the API"
[ "$(get "$SA" automountServiceAccountToken)" = false ] || fail "ServiceAccount mounts a token"
for o in "$SA" "$SECRET" "$DEPLOY" "$SVC"; do
	labels=$(get "$o" metadata.labels) || fail "no object at $o"
	echo "$labels" | grep -q '"app.kubernetes.io/managed-by":"telepod"' || fail "$o: no managed-by label: $labels"
	echo "$labels" | grep -q '"app.kubernetes.io/version":"' || fail "$o: no version label: $labels"
	get "$o" metadata.annotations | grep -q '"telepod.dev/config-hash":"' || fail "$o: no hash annotation"
done
C0=spec.template.spec.containers.0
image=$(get "$DEPLOY" $C0.image)
case $image in *telepod-server:*) ;; *) fail "unexpected image $image" ;; esac
[ "$(get "$DEPLOY" spec.template.spec.securityContext.runAsNonRoot)" = true ] || fail "not runAsNonRoot"
[ "$(get "$DEPLOY" $C0.securityContext.readOnlyRootFilesystem)" = true ] || fail "root file system writable"
[ "$(get "$DEPLOY" $C0.securityContext.allowPrivilegeEscalation)" = false ] || fail "privilege escalation allowed"
[ "$(get "$DEPLOY" $C0.securityContext.privileged)" = false ] || fail "privileged"
get "$DEPLOY" $C0.readinessProbe.tcpSocket >/dev/null || fail "no readiness probe"
get "$DEPLOY" $C0.resources.limits.memory >/dev/null || fail "no memory limit"
get "$DEPLOY" $C0.resources.requests.cpu >/dev/null || fail "no cpu request"
[ "$(get "$SVC" spec.ports.0.port)" = 8443 ] || fail "Service port"
data=$(get "$SECRET" data)
for f in ca.crt server.crt server.key; do
	want=$(base64 -w0 <"$TLS/$f")
	echo "$data" | grep -q "\"$f\":\"$want\"" || fail "the Secret's $f differs from $TLS/$f"
done
echo "$data" | grep -q -e client.key -e ca.key && fail "the Secret holds a client or CA key"
tp_ok "ServiceAccount, Secret (ca.crt, server.crt, server.key only), Deployment (image $image, non-root, read-only, probe, resources), Service"
[ "$(stat -c %a "$TLS")" = 700 ] || fail "$TLS is not mode 0700"
for f in ca.key client.key server.key; do
	[ "$(stat -c %a "$TLS/$f")" = 600 ] || fail "$TLS/$f is not mode 0600"
done
tp_ok "$TLS is 0700, its keys 0600"
RV1=$(rvs)

tp_step "100 MiB through SOCKS5, telepodd, the port-forward and telepod-server, byte-exact"
SOCKS=$(tp_socks_addr "$DAEMON_SOCK") || fail "no SOCKS address"
tp_load load 150 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 100M --seed 11 --timeout 120 || fail "the 100 MiB echo failed"
tp_load load 60 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--streams 16 --bytes 256k --seed 12 --timeout 40 || fail "16 parallel streams failed"
tp_ok "100 MiB exact, and 16 parallel streams"

tp_step "a second connect while connected is refused"
out=$(kconnect "$TP_TMP/kc" 2>&1) && fail "a second connect succeeded: $out"
echo "$out" | grep -q "connected already" || fail "unexpected message: $out"
[ "$(holder_pid)" = "$HOLDER" ] || fail "the port-forward process changed"
tp_ok "refused: $(echo "$out" | tail -n 1)"

tp_step "telepod quit ends the session and the port-forward process"
tp_cli "$DAEMON_SOCK" quit -n "$NS" >/dev/null || fail "telepod quit failed"
tp_retry 5 sh -c "! kill -0 $HOLDER 2>/dev/null" || fail "port-forward process $HOLDER still runs"
[ ! -e "$PIDFILE" ] || fail "$PIDFILE is left behind"
tp_ok "process $HOLDER ended, lock file removed"

tp_step "a reconnect reuses every object"
out=$(kconnect "$TP_TMP/kc" 2>&1) || fail "reconnect failed: $out"
echo "$out" | grep -q "is installed in $NS already" || fail "the reconnect did not reuse: $out"
echo "$out" | grep -q "applying ServiceAccount\|applying Deployment" && fail "the reconnect applied objects: $out"
[ "$(rvs)" = "$RV1" ] || fail "resourceVersions changed: $RV1 -> $(rvs)"
tp_load load 60 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 4M --seed 13 --timeout 40 || fail "echo after the reconnect failed"
tp_cli "$DAEMON_SOCK" quit -n "$NS" >/dev/null || fail "telepod quit failed"
tp_ok "no object written (resourceVersions $RV1), traffic flows"

tp_step "an upgrade (another image) re-applies the Deployment only"
out=$(kconnect "$TP_TMP/kc" --image example.org/telepod-server:next 2>&1) || fail "connect --image failed: $out"
[ "$(get "$DEPLOY" $C0.image)" = example.org/telepod-server:next ] || fail "the image was not updated"
read -r sa1 se1 gen1 svc1 <<<"$RV1"
read -r sa2 se2 gen2 svc2 <<<"$(rvs)"
[ "$sa1 $se1 $svc1" = "$sa2 $se2 $svc2" ] || fail "objects besides the Deployment were re-applied"
[ "$gen2" != "$gen1" ] || fail "the Deployment was not re-applied (generation $gen1)"
echo "$out" | grep -q "through pod telepod-server-" || fail "not connected after the upgrade: $out"
tp_load load 60 echo --socks "$SOCKS" --target "127.0.0.1:$ECHO_PORT" \
	--bytes 4M --seed 14 --timeout 40 || fail "echo after the upgrade failed"
tp_cli "$DAEMON_SOCK" quit -n "$NS" >/dev/null || fail "telepod quit failed"
tp_ok "Deployment generation $gen1 -> $gen2, the rest untouched"

tp_step "an older telepod-server version installed is upgraded"
api PATCH "$DEPLOY" '{"metadata":{"labels":{"app.kubernetes.io/version":"0.0.1"}}}' \
	application/merge-patch+json >/dev/null || fail "cannot relabel the Deployment"
out=$(kconnect "$TP_TMP/kc" 2>&1) || fail "connect failed: $out"
echo "$out" | grep -q "telepod-server 0.0.1 is installed in $NS; upgrading it to" ||
	fail "no upgrade message: $out"
get "$DEPLOY" metadata.labels | grep -q '"app.kubernetes.io/version":"0.0.1"' &&
	fail "the version label was not re-applied"
tp_ok "re-applied: $(echo "$out" | grep upgrading)"

tp_step "RBAC: a user who may not port-forward is told so"
tp_cli "$DAEMON_SOCK" quit -n "$NS" >/dev/null || fail "telepod quit failed"
out=$(kconnect "$TP_TMP/nopf.kc" 2>&1) && fail "connect as nopf succeeded: $out"
echo "$out" | grep -q 'forbidden: you cannot get pods/portforward "telepod-server-' ||
	fail "no Forbidden message for pods/portforward: $out"
[ -z "$(holder_pid)" ] || fail "a port-forward process was left behind"
tp_ok "forbidden: pods/portforward"

tp_step "uninstall removes telepod's objects and nothing else"
out=$(kconnect "$TP_TMP/kc" 2>&1) || fail "connect failed: $out"
HOLDER=$(holder_pid)
out=$(TP_CLI_TIMEOUT=60 tp_cli "$DAEMON_SOCK" uninstall -n "$NS" --kubeconfig "$TP_TMP/kc" 2>&1) ||
	fail "telepod uninstall failed: $out"
for o in "$SA" "$SECRET" "$DEPLOY" "$SVC"; do
	code=$(api GET "$o" | tp_json code 2>/dev/null)
	[ "$code" = 404 ] || fail "$o is still there after uninstall"
done
[ "$(get "/api/v1/namespaces/$NS/configmaps/foreign" data.a)" = b ] || fail "the foreign ConfigMap is gone"
tp_retry 5 no_pods || fail "pods are left after uninstall"
tp_retry 5 sh -c "! kill -0 $HOLDER 2>/dev/null" || fail "port-forward process $HOLDER still runs"
[ "$(tp_status_json "$DAEMON_SOCK" | tp_json connections.0.namespace 2>/dev/null)" != "$NS" ] ||
	fail "telepodd still has the session"
[ ! -e "$TLS" ] || fail "$TLS is left behind"
out=$(TP_CLI_TIMEOUT=60 tp_cli "$DAEMON_SOCK" uninstall -n "$NS" --kubeconfig "$TP_TMP/kc" 2>&1) ||
	fail "a second uninstall failed: $out"
echo "$out" | grep -q "Nothing of telepod's" || fail "second uninstall: $out"
tp_ok "four objects deleted, the foreign ConfigMap kept, session and process ended, certificates removed"
tp_running daemon || fail "telepodd died"
# The port-forward processes log to a file of their own; the CLI to cli.log.
for f in "$HOME/.cache/telepod/portforward-$NS.log" "$TP_TMP/cli.log"; do
	if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$f" 2>/dev/null; then
		cat "$f"
		fail "a sanitizer report in $f"
	fi
done
tp_ok "no sanitizer report from the CLI or the port-forward processes"
tp_pass
