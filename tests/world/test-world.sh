#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test-world: builds the simulated cluster (tests/world/world.sh) and checks
# it the way the tunnel tests will use it: the gateway's seed transcript by
# service IP and by name, Redis and PostgreSQL by name, DNS records, the
# laptop's own resolver, and that the laptop cannot reach the cluster yet.
# Then it tears the world down and checks that no namespace, process (by
# recorded PID) or /etc/netns dir is left; also after a failed `up`.
# Needs root (network namespaces); skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
. "$here/world.sh"
tp_init world
tp_is_root || skip "needs root to create network namespaces"
tp_need_cmd ip dnsmasq redis-server redis-cli psql curl getent setpriv timeout
WORLD_GATEWAY=${WORLD_GATEWAY:-$TP_BUILDDIR/tests/world/gateway}
[ -x "$WORLD_GATEWAY" ] || skip "$WORLD_GATEWAY is not built (run make first)"
export WORLD_GATEWAY

WDIR=$TP_TMP/world
# PostgreSQL runs as the postgres user and must reach $WDIR/pg.
chmod 0711 "$TP_TMP"
WSH=$here/world.sh
export WORLD_CLUSTER_NS=tp-cl-$$ WORLD_LAPTOP_NS=tp-lp-$$
CURL=(curl -sS --noproxy '*' --max-time 10)

# On any exit: show the world's logs if the test failed, tear the world
# down, then let lib.sh stop its own processes and remove TP_TMP.
# shellcheck disable=SC2317 # run by the EXIT trap
world_test_exit() {
	local rc=$?
	# Finish the clean-up even if signalled again (every step is bounded).
	trap '' INT TERM HUP
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$WDIR" ]; then
		world__dump_logs "$WDIR"
	fi
	world_down "$WDIR" >/dev/null 2>&1
	world_down "$TP_TMP/partial" >/dev/null 2>&1
	(exit "$rc")
	tp__on_exit
}
trap world_test_exit EXIT

# gone NS PIDSFILE: fails unless the namespace, every PID of PIDSFILE and the
# /etc/netns dir are gone.
check_gone() {
	local ns name pid st
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] && fail "namespace $ns is still there"
		[ -e "/etc/netns/$ns" ] && fail "/etc/netns/$ns is still there"
	done
	while read -r name pid st; do
		world__alive "$pid" "$st" && fail "$name (pid $pid) is still running"
	done <"$PIDS"
	return 0
}

tp_step "a failed up (WORLD_FAIL_AFTER=redis, WORLD_KEEP_ON_FAIL=1) is removed by down from another process"
mkdir "$TP_TMP/partial"
rc=0
WORLD_CLUSTER_NS=tp-clf-$$ WORLD_LAPTOP_NS=tp-lpf-$$ WORLD_FAIL_AFTER=redis \
	WORLD_KEEP_ON_FAIL=1 timeout 60 "$WSH" up "$TP_TMP/partial" >"$TP_TMP/partial-up.log" 2>&1 || rc=$?
sed 's/^/   | /' "$TP_TMP/partial-up.log"
[ "$rc" = 1 ] || fail "up with WORLD_FAIL_AFTER=redis exited $rc, not 1"
[ -e "/run/netns/tp-clf-$$" ] || fail "the partial world has no cluster namespace"
PIDS=$TP_TMP/partial.pids
cp "$TP_TMP/partial/world.pids" "$PIDS"
[ "$(wc -l <"$PIDS")" = 3 ] || fail "expected dnsmasq x2 and redis in world.pids: $(cat "$PIDS")"
while read -r name pid st; do
	world__alive "$pid" "$st" || fail "$name (pid $pid) of the partial world is not running"
done <"$PIDS"
timeout 60 "$WSH" down "$TP_TMP/partial" || fail "down after a partial up failed"
check_gone "tp-clf-$$" "tp-lpf-$$"
timeout 60 "$WSH" down "$TP_TMP/partial" || fail "a second down failed"
tp_ok "partial world removed; a second down is a no-op"

tp_step "up (the default failure path tears down by itself)"
rc=0
WORLD_CLUSTER_NS=tp-clg-$$ WORLD_LAPTOP_NS=tp-lpg-$$ WORLD_FAIL_AFTER=etc \
	timeout 60 "$WSH" up "$TP_TMP/failed" >"$TP_TMP/failed-up.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "up with WORLD_FAIL_AFTER=etc exited $rc"
[ -e "$TP_TMP/failed" ] && fail "a failed up left its directory"
PIDS=/dev/null check_gone "tp-clg-$$" "tp-lpg-$$"
tp_ok "nothing left"

tp_step "up $WDIR (cluster ns $WORLD_CLUSTER_NS, laptop ns $WORLD_LAPTOP_NS)"
t0=$(tp_now_ms)
world_up "$WDIR" || fail "world_up failed"
up_ms=$(($(tp_now_ms) - t0))
cp "$WDIR/world.pids" "$TP_TMP/world.pids"
PIDS=$TP_TMP/world.pids
tp_ok "up in $up_ms ms"
world_status "$WDIR" | sed 's/^/   | /'

odyssey='{"id":"the_odyssey","title":"The Odyssey","passenger_capacity":101,"maximum_speed":5,"in_stock":10}'

tp_step "seed transcript: POST /products by service IP, GET by name"
# http CMD...: runs a curl command line; sets CODE and BODY (without the
# trailing newline the gateway adds).
http() {
	CODE=$("$@" -o "$TP_TMP/body" -w '%{http_code}') || CODE="curl exit $?"
	BODY=$(cat "$TP_TMP/body" 2>/dev/null)
}
http world_in_cluster "${CURL[@]}" -X POST -H 'Content-Type: application/json' \
	-d '{"id": "the_odyssey", "title": "The Odyssey", "passenger_capacity": 101, "maximum_speed": 5, "in_stock": 10}' \
	"http://$WORLD_GATEWAY_IP/products"
[ "$CODE $BODY" = "201 $odyssey" ] || fail "POST /products: $CODE $BODY"
tp_ok "POST http://$WORLD_GATEWAY_IP/products: 201 $BODY"
for url in "http://$WORLD_GATEWAY_IP/products/the_odyssey" \
	http://gateway/products/the_odyssey \
	"http://gateway.$WORLD_K8S_NAMESPACE.svc.cluster.local/products/the_odyssey"; do
	http world_in_cluster "${CURL[@]}" "$url"
	[ "$CODE $BODY" = "200 $odyssey" ] || fail "GET $url: $CODE $BODY"
	tp_ok "GET $url: 200, the same object"
done
http world_in_cluster "${CURL[@]}" http://gateway/products/moby_dick
[ "$CODE $BODY" = '404 {"error":"product not found"}' ] || fail "GET of a missing product: $CODE $BODY"
http world_in_cluster "${CURL[@]}" -d '{"id":"x","in_stock":"ten"}' http://gateway/products
[[ "$CODE $BODY" == '400 {"error":"in_stock must be'* ]] || fail "a mistyped field was not refused: $CODE $BODY"
http world_in_cluster "${CURL[@]}" -d '{"title":"no id"}' http://gateway/products
[ "$CODE $BODY" = '400 {"error":"id is required"}' ] || fail "a product without id: $CODE $BODY"
tp_ok "404 for a missing product, 400 for bad bodies"
out=$(world_in_cluster "${CURL[@]}" -o /dev/null -w '%{num_connects} ' \
	http://gateway/healthz -o /dev/null http://gateway/products/the_odyssey)
[ "$out" = "1 0 " ] || fail "keep-alive: connections opened per request: $out"
tp_ok "keep-alive: the second request reused the connection"

tp_step "GET /bytes?n=1000000 returns the (i % 251) pattern"
blk=
for ((i = 0; i < 251; i++)); do
	blk+=$(printf '\\x%02x' "$i")
done
# shellcheck disable=SC2059 # blk holds \\xHH escapes for printf
printf "$blk" >"$TP_TMP/pattern"
for ((i = 0; i < 12; i++)); do
	cat "$TP_TMP/pattern" "$TP_TMP/pattern" >"$TP_TMP/pattern2" && mv "$TP_TMP/pattern2" "$TP_TMP/pattern"
done
head -c 1000000 "$TP_TMP/pattern" >"$TP_TMP/expect"
world_in_cluster "${CURL[@]}" -o "$TP_TMP/got" "http://gateway/bytes?n=1000000" || fail "GET /bytes failed"
cmp "$TP_TMP/expect" "$TP_TMP/got" || fail "GET /bytes returned other bytes"
http world_in_cluster "${CURL[@]}" "http://gateway/bytes?n=2147483649"
[ "$CODE" = 400 ] || fail "n over 2 GiB was not refused: $CODE $BODY"
tp_ok "1000000 bytes match; n > 2 GiB refused"

tp_step "Redis and PostgreSQL by name"
out=$(world_in_cluster redis-cli -h redis-master get product:the_odyssey) || fail "redis-cli get failed"
[ "$out" = "$odyssey" ] || fail "product:the_odyssey in Redis is: $out"
[ "$(world_in_cluster redis-cli -h redis-master set world-test "$$")" = OK ] || fail "redis-cli set failed"
[ "$(world_in_cluster redis-cli -h "redis-master.$WORLD_K8S_NAMESPACE" get world-test)" = "$$" ] ||
	fail "redis-cli get world-test did not return $$"
tp_ok "redis-cli SET/GET by name; the gateway stored the product in Redis"
out=$(world_in_cluster psql -X -h postgresql -U postgres -d shop -Atc \
	"select title || '/' || in_stock from products where id = 'the_odyssey'") || fail "psql failed: $out"
[ "$out" = "The Odyssey/10" ] || fail "psql returned: $out"
tp_ok "psql -h postgresql -d shop: $out"
if [ "$WORLD_RABBITMQ" = 1 ]; then
	world_in_cluster bash -c "$(declare -f world_amqp_ok); world_amqp_ok rabbitmq" ||
		fail "no AMQP broker answers at rabbitmq:5672"
	tp_ok "rabbitmq:5672 answers the AMQP header"
fi

tp_step "cluster DNS: A, NXDOMAIN, SRV, TXT"
d=$WORLD_K8S_NAMESPACE.svc.cluster.local
out=$(world_in_cluster "$WSH" dns "$WORLD_DNS_IP" "redis-master.$d" A)
[ "$out" = $'rcode=0 answers=1\nrdata=0a600015' ] || fail "A redis-master.$d: $out"
out=$(world_in_cluster "$WSH" dns "$WORLD_DNS_IP" "nosuch.$d" A)
[ "$out" = 'rcode=3 answers=0' ] || fail "nosuch.$d is not NXDOMAIN: $out"
out=$(world_in_cluster "$WSH" dns "$WORLD_DNS_IP" "_http._tcp.gateway.$d" SRV)
[[ $out == $'rcode=0 answers=1\nrdata=000000640050'* ]] || fail "SRV _http._tcp.gateway.$d: $out"
txt=$(printf 'telepod test world' | od -An -v -tx1 | tr -d ' \n')
out=$(world_in_cluster "$WSH" dns "$WORLD_DNS_IP" "info.$d" TXT)
[ "$out" = $'rcode=0 answers=1\nrdata=12'"$txt" ] || fail "TXT info.$d: $out"
tp_ok "A, NXDOMAIN, SRV (port 80) and TXT answer as configured"

tp_step "the laptop: own resolver works, the cluster is out of reach"
[ "$(world_in_laptop getent ahostsv4 example.test | head -n 1 | cut -d ' ' -f 1)" = 192.0.2.80 ] ||
	fail "the laptop resolver does not answer example.test"
[ "$(world_in_laptop getent ahostsv4 www.outside.test | head -n 1 | cut -d ' ' -f 1)" = 192.0.2.81 ] ||
	fail "the laptop resolver does not answer www.outside.test"
world_in_laptop getent hosts "gateway.$d" && fail "the laptop resolves gateway.$d already"
tp_ok "example.test and www.outside.test resolve; gateway.$d does not"
ip -n "$WORLD_LAPTOP_NS" route get "$WORLD_GATEWAY_IP" >/dev/null 2>&1 &&
	fail "the laptop has a route to $WORLD_GATEWAY_IP"
t0=$(tp_now_ms)
rc=0
world_in_laptop "${CURL[@]}" -o /dev/null "http://$WORLD_GATEWAY_IP/healthz" 2>/dev/null || rc=$?
t=$(($(tp_now_ms) - t0))
[ "$rc" = 7 ] || fail "curl from the laptop to $WORLD_GATEWAY_IP exited $rc, not 7 (cannot connect)"
[ "$t" -lt 2000 ] || fail "curl from the laptop took $t ms to fail"
tp_ok "no route to $WORLD_GATEWAY_IP: curl fails in $t ms"
TP_NS=$WORLD_CLUSTER_NS tp_spawn veth-gateway "$WORLD_GATEWAY" \
	--listen "$WORLD_CLUSTER_IP:8080" --redis redis-master:6379
tp_retry 10 world_in_laptop "${CURL[@]}" -sf -o /dev/null "http://$WORLD_CLUSTER_IP:8080/healthz" ||
	fail "the laptop cannot reach $WORLD_CLUSTER_IP:8080 over the veth"
http world_in_laptop "${CURL[@]}" "http://$WORLD_CLUSTER_IP:8080/products/the_odyssey"
[ "$CODE $BODY" = "200 $odyssey" ] || fail "GET over the veth: $CODE $BODY"
tp_stop veth-gateway
[ "$TP_WAIT_RC" = 0 ] || fail "the gateway exited $TP_WAIT_RC on SIGTERM (see veth-gateway.log)"
tp_ok "the laptop reaches a server on the cluster's veth address $WORLD_CLUSTER_IP"

tp_step "down, twice"
t0=$(tp_now_ms)
world_down "$WDIR" || fail "world_down failed"
down_ms=$(($(tp_now_ms) - t0))
check_gone "$WORLD_CLUSTER_NS" "$WORLD_LAPTOP_NS"
[ -e "$WDIR" ] && fail "$WDIR is still there"
world_down "$WDIR" || fail "a second world_down failed"
tp_ok "down in $down_ms ms: no namespace, process or /etc/netns dir left"
tp_log "up $up_ms ms, down $down_ms ms"
tp_pass
