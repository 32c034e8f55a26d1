#!/bin/sh
# test-fakeapi.sh: fake-apiserver end to end on loopback. curl checks the
# protocol (401, tokens, Forbidden wording, AlreadyExists, Conflict,
# NotFound, Invalid, watch with bookmarks, timeoutSeconds and 410 Expired);
# kubectl, a client no one here wrote, checks discovery, get,
# apply --server-side of a real example object, -o json, delete, an
# invalid manifest and a Deployment becoming Available. Skips (77) without
# ../shared/k8s or curl; the kubectl part is skipped (and said so) when no
# kubectl is installed.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
K8S=${FAKEAPI_K8S_DIR:-$top_srcdir/../shared/k8s}
FA=$top_builddir/tests/fakeapi/fake-apiserver
KUBECTL=${KUBECTL:-kubectl}

[ -d "$K8S/openapi" ] || { echo "skip: no Kubernetes data at $K8S"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "skip: curl missing"; exit 77; }

tmp=$(mktemp -d /tmp/test-fakeapi.XXXXXX)
pid=
fails=0
passes=0
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { passes=$((passes + 1)); echo "ok: $1"; }
bad() { fails=$((fails + 1)); echo "FAIL: $1"; }
# expect NAME HAYSTACK NEEDLE
expect() {
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) bad "$1: wanted [$3] in [$2]" ;;
	esac
}

"$FA" --listen 127.0.0.1:0 --kubeconfig-out "$tmp/kc" --state-dir "$tmp/state" \
	--k8s-dir "$K8S" --token secret-token=alice --forbid alice:list:pods \
	--watch-history 5 --bookmark-seconds 1 --ready-delay-ms 100 \
	>"$tmp/out" 2>"$tmp/err" &
pid=$!
i=0
while [ ! -s "$tmp/out" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
URL=$(head -n 1 "$tmp/out")
case "$URL" in
https://127.0.0.1:*) ok "startup prints the URL ($URL)" ;;
*) bad "no URL on stdout"; cat "$tmp/err"; exit 1 ;;
esac
grep -q "certificate-authority-data:" "$tmp/kc" && grep -q "client-key-data:" "$tmp/kc" &&
	grep -q "current-context: fakeapi" "$tmp/kc" && ok "kubeconfig written" || bad "kubeconfig"

S="$tmp/state"
C="curl -sS --max-time 10 --cacert $S/ca.crt --cert $S/client.crt --key $S/client.key"
T="curl -sS --max-time 10 --cacert $S/ca.crt"
J='Content-Type: application/json'
NS="$URL/api/v1/namespaces/default"

expect "version" "$($C "$URL/version")" '"gitVersion":"v1.27.0-fakeapi"'
expect "discovery /apis" "$($C "$URL/apis")" '"name":"rbac.authorization.k8s.io"'
expect "no credentials: 401" "$($T -w ' %{http_code}' "$NS/configmaps")" '"reason":"Unauthorized","code":401} 401'
expect "bad token: 401" "$($T -H 'Authorization: Bearer nope' "$NS/configmaps")" '"code":401'
expect "token works" "$($T -H 'Authorization: Bearer secret-token' "$NS/configmaps")" '"kind":"ConfigMapList"'
expect "forbidden wording" "$($T -H 'Authorization: Bearer secret-token' "$NS/pods")" \
	'"message":"pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","details":{"kind":"pods"},"code":403'

CM='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","labels":{"app":"x"}},"data":{"k":"v"}}'
r=$($C -w ' %{http_code}' -H "$J" -d "$CM" "$NS/configmaps")
expect "create 201" "$r" '"resourceVersion":"'
expect "create code" "$r" ' 201'
expect "created object has a uid" "$r" '"uid":"'
expect "already exists" "$($C -H "$J" -d "$CM" "$NS/configmaps")" \
	'"message":"configmaps \"c1\" already exists","reason":"AlreadyExists","details":{"name":"c1","kind":"configmaps"},"code":409'
STALE='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","resourceVersion":"1"},"data":{"k":"w"}}'
expect "stale update: Conflict" "$($C -X PUT -H "$J" -d "$STALE" "$NS/configmaps/c1")" \
	'Operation cannot be fulfilled on configmaps \"c1\": the object has been modified; please apply your changes to the latest version and try again'
expect "not found" "$($C "$NS/configmaps/nope")" '"message":"configmaps \"nope\" not found","reason":"NotFound"'
expect "missing namespace" "$($C -H "$J" -d "$CM" "$URL/api/v1/namespaces/ghost/configmaps")" \
	'"message":"namespaces \"ghost\" not found"'
expect "type error: 400" "$($C -H "$J" -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"k":1}}' "$NS/configmaps")" \
	'ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number 1 into Go struct field ConfigMap.data of type string'
expect "strict unknown field" "$($C -H "$J" -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"bogus":1}' "$NS/configmaps?fieldValidation=Strict")" \
	'strict decoding error: unknown field \"bogus\"'
expect "warn unknown field" "$($C -i -H "$J" -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t2"},"bogus":1}' "$NS/configmaps")" \
	'Warning: 299 - "unknown field \"bogus\""'
expect "invalid: 422" "$($C -H "$J" -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}' "$URL/apis/apps/v1/namespaces/default/deployments")" \
	'"message":"Deployment.apps \"d\" is invalid: [spec.selector: Required value, spec.template.spec.containers[0].name: Required value]","reason":"Invalid"'
expect "label selector" "$($C "$NS/configmaps?labelSelector=app%3Dx")" '"name":"c1"'
expect "label selector excludes" "$($C "$NS/configmaps?labelSelector=app%3Dy")" '"items":[]'

# Watch: bookmarks and a clean end after timeoutSeconds.
w=$($C "$NS/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=2")
expect "watch initial ADDED" "$w" '{"type":"ADDED","object":{"kind":"ConfigMap"'
expect "watch bookmark" "$w" '{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"'
# Push the start of the history (5 events) past an old resourceVersion.
old=$($C "$NS/configmaps" | sed 's/.*"metadata":{"resourceVersion":"\([0-9]*\)".*/\1/' | head -c 20)
for n in 1 2 3 4 5 6; do
	$C -o /dev/null -H "$J" -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w$n\"}}" "$NS/configmaps"
done
expect "watch 410 Expired" "$($C "$NS/configmaps?watch=1&resourceVersion=$old")" \
	'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: '"$old"
expect "delete returns Status" "$($C -X DELETE "$NS/configmaps/c1")" '"status":"Success","details":{"name":"c1","kind":"configmaps","uid":"'

# kubectl, as shipped by Debian (kubernetes-client) or any other build.
if ! command -v "$KUBECTL" >/dev/null 2>&1; then
	echo "note: no kubectl installed; kubectl cross-check skipped"
else
	export KUBECONFIG="$tmp/kc"
	K="$KUBECTL --request-timeout=10s"
	expect "kubectl get ns" "$($K get ns 2>&1)" "kube-system"
	$K create namespace fakeapi-test >/dev/null 2>&1 && ok "kubectl create ns" || bad "kubectl create ns"
	# The example object as is: its namespace cannot exist.
	expect "kubectl apply of the raw example" \
		"$($K apply --server-side -f "$K8S/examples/yaml/core.v1.ConfigMap.yaml" 2>&1)" \
		'namespaces "namespaceValue" not found'
	sed -e '/^  managedFields:/,/^  name:/{/^  name:/!d;}' -e '/^  resourceVersion:/d' \
		-e 's/^  name: nameValue/  name: example-cm/' \
		-e 's/^  namespace: namespaceValue/  namespace: fakeapi-test/' \
		"$K8S/examples/yaml/core.v1.ConfigMap.yaml" >"$tmp/cm.yaml"
	expect "kubectl apply --server-side example" \
		"$($K apply --server-side -f "$tmp/cm.yaml" 2>&1)" "configmap/example-cm serverside-applied"
	j=$($K get -n fakeapi-test configmap example-cm -o json 2>&1)
	expect "kubectl get -o json data" "$j" '"dataKey": "dataValue"'
	expect "kubectl get -o json binaryData" "$j" '"binaryDataKey": "Aw=="'
	expect "server set the uid" "$j" '"uid": "'
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  k: v\nbogus: 1\n' >"$tmp/bad.yaml"
	if out=$($K apply --server-side -n fakeapi-test -f "$tmp/bad.yaml" 2>&1); then
		bad "kubectl apply of an invalid manifest succeeded: $out"
	else
		# kubectl >= 1.25 leaves it to the server (fieldValidation);
		# older ones (Debian's 1.20) validate against our protobuf
		# OpenAPI v2 themselves.
		case "$out" in
		*'.bogus: field not declared in schema'* | *'unknown field "bogus" in io.k8s.api.core.v1.ConfigMap'*)
			ok "kubectl: invalid manifest rejected" ;;
		*) bad "kubectl: invalid manifest: $out" ;;
		esac
	fi
	if out=$($K create -n fakeapi-test -f "$tmp/bad.yaml" 2>&1); then
		bad "kubectl create of an invalid manifest succeeded: $out"
	else
		expect "kubectl create: strict decoding" "$out" 'unknown field "bogus"'
	fi
	printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n' >"$tmp/dep.yaml"
	expect "kubectl apply deployment" "$($K apply --server-side -n fakeapi-test -f "$tmp/dep.yaml" 2>&1)" "serverside-applied"
	expect "deployment becomes Available" \
		"$($K wait -n fakeapi-test --for=condition=Available deployment/web --timeout=10s 2>&1)" "condition met"
	expect "deployment pods" "$($K get pods -n fakeapi-test -l app=web 2>&1)" "Running"
	expect "kubectl delete" "$($K delete -n fakeapi-test configmap example-cm 2>&1)" 'configmap "example-cm" deleted'
	expect "gone after delete" "$($K get -n fakeapi-test configmap example-cm 2>&1)" 'configmaps "example-cm" not found'
fi

kill "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok "clean exit on SIGTERM" || bad "exit status $rc on SIGTERM"
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
