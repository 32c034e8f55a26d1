# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Variables are shared between the files of bench/lib and bench/run.
# shellcheck disable=SC2034,SC2153
#
# paths.sh: each way from the laptop namespace to the bench service, as a
# set of functions path_NAME_{check,prepare,start,stop,cleanup}:
#
#   check    prints why the path cannot run here and fails, or succeeds
#   prepare  once per bench run: keys, configs, long-lived helpers (sshd,
#            the tunnel servers, telepodd)
#   start    brings the tunnel up and returns after the first successful
#            request through it (bench/run times this: "connect")
#   stop     takes the tunnel down again (start may follow)
#   cleanup  stops what prepare started
#
# and, once started, the variables the measurements use:
#
#   T_HOST T_PORT_{IPERF,HTTP,ECHO,SOCKPERF}  where the laptop reaches the
#            service on this path (stunnel: its local listeners)
#   T_WRAP   command prefix for iperf3, wrk, sockperf (proxychains4 for
#            the SOCKS5 path); T_SOCKS  SOCKS5 address for tp-bench and
#            curl; T_DNS  the resolver dnsperf queries through the path
#            (empty: the path carries no DNS)
#   T_DAEMON_PID T_SERVER_PID  telepodd and telepod-server (telepod paths)

BENCH_PATHS_ALL="bare tun tunslow tunnoyield tunpoll socks sshuttle openvpn stunnel"

declare -A BENCH_PATH_TITLE=(
	[bare]="bare veth"
	[tun]="telepod TUN"
	[tunslow]="telepod TUN, no kernel fast path"
	[tunnoyield]="telepod TUN, no yield"
	[tunpoll]="telepod TUN, busy-poll 200"
	[socks]="telepod SOCKS5"
	[sshuttle]="sshuttle"
	[openvpn]="OpenVPN TCP"
	[stunnel]="stunnel"
)

bench_path_defaults() {
	T_HOST=$BENCH_SVC_IP
	T_PORT_IPERF=$BENCH_PORT_IPERF
	T_PORT_HTTP=$BENCH_PORT_HTTP
	T_PORT_ECHO=$BENCH_PORT_ECHO
	T_PORT_SOCKPERF=$BENCH_PORT_SOCKPERF
	T_WRAP=()
	T_SOCKS=
	T_DNS=
	T_DAEMON_PID=
	T_SERVER_PID=
}

# bench_request: one HTTP request to the service through the current path.
bench_request() {
	local -a via=()
	[ -z "$T_SOCKS" ] || via=(--socks5 "$T_SOCKS")
	in_lp curl -s -f -o /dev/null --max-time 2 "${via[@]}" \
	    "http://$T_HOST:$T_PORT_HTTP/"
}

# bench_first_request SECONDS: polls until a request succeeds.
bench_first_request() {
	bench_retry "${1:-20}" bench_request
}

# bench_pki DIR: a CA with a server and a client certificate (EC P-256) for
# OpenVPN and stunnel, made once.
bench_pki() {
	local d=$1 n eku
	[ -f "$d/client.crt" ] && return 0
	mkdir -p "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj /CN=tpbench-ca \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign >>"$BENCH_TMP/pki.log" 2>&1 || return 1
	for n in server client; do
		[ "$n" = server ] && eku=serverAuth || eku=clientAuth
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		    -keyout "$d/$n.key" -out "$d/$n.csr" -subj "/CN=tpbench-$n" \
		    >>"$BENCH_TMP/pki.log" 2>&1 || return 1
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\nsubjectAltName=IP:%s\n' \
		    "$eku" "$WORLD_CLUSTER_IP" >"$d/$n.ext"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		    -CAcreateserial -days 2 -out "$d/$n.crt" -extfile "$d/$n.ext" \
		    >>"$BENCH_TMP/pki.log" 2>&1 || return 1
	done
	chmod 0600 "$d"/*.key
}

# ---- bare: the veth itself ---------------------------------------------------

path_bare_check() {
	return 0
}

path_bare_prepare() {
	bench_block_off
}

path_bare_start() {
	bench_path_defaults
	T_DNS=$BENCH_DNS_IP
	bench_first_request 5
}

path_bare_stop() {
	return 0
}

path_bare_cleanup() {
	bench_block_on
}

# ---- telepod: shared by the SOCKS5 and TUN paths ----------------------------

BENCH_TP_NS=jakub

bench_tp_cli() {
	in_lp timeout -k 2 30 "$BENCH_BUILD/client/telepod" --socket "$BENCH_TMP/telepodd.sock" "$@"
}

bench_tp_check() {
	local p
	for p in client/telepod client/telepodd server/telepod-server; do
		[ -x "$BENCH_BUILD/$p" ] || {
			echo "$BENCH_BUILD/$p is not built"
			return 1
		}
	done
}

# Fresh server and daemon for each telepod path, so CPU and memory are the
# path's own. Debug logging off: it would cost more than the relay.
bench_tp_prepare() {
	local tag=$1
	if [ ! -f "$BENCH_TMP/tls/client.crt" ]; then
		in_lp "$BENCH_BUILD/client/telepod" certs create --out "$BENCH_TMP/tls" \
		    >>"$BENCH_TMP/certs.log" 2>&1 || return 1
	fi
	bench_spawn "telepod-server-$tag" "$WORLD_CLUSTER_NS" "$BENCH_BUILD/server/telepod-server" \
	    --listen "$WORLD_CLUSTER_IP:8443" --tls-dir "$BENCH_TMP/tls" \
	    --namespace "$BENCH_TP_NS" --subnets "$WORLD_SERVICE_CIDR" \
	    --dns-servers "$BENCH_DNS_IP" --max-streams 16384 "${BENCH_TP_SERVER_ARGS[@]}" \
	    --log-level warn
	T_SERVER_PID=$BENCH_PID
	# Its own state directory (the ledger of network changes), never the
	# machine's /run/telepod; the resolver is the namespace's resolv.conf.
	mkdir -p "$BENCH_TMP/state-$tag" || return 1
	bench_spawn "telepodd-$tag" "$WORLD_LAPTOP_NS" "$BENCH_BUILD/client/telepodd" \
	    --foreground --socket "$BENCH_TMP/telepodd.sock" --socks 127.0.0.1:1080 \
	    --state-dir "$BENCH_TMP/state-$tag" "${BENCH_TP_DAEMON_ARGS[@]}" --log-level warn
	T_DAEMON_PID=$BENCH_PID
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$WORLD_CLUSTER_IP" 8443 || {
		bench_log "telepod-server does not listen (see $BENCH_TMP/telepod-server-$tag.log)"
		return 1
	}
	bench_retry 10 test -S "$BENCH_TMP/telepodd.sock" || {
		bench_log "telepodd has no control socket (see $BENCH_TMP/telepodd-$tag.log)"
		return 1
	}
	BENCH_TP_SERVER_PID=$T_SERVER_PID
	BENCH_TP_DAEMON_PID=$T_DAEMON_PID
}

bench_tp_cleanup() {
	bench_stop "telepodd-$1"
	bench_stop "telepod-server-$1"
}

bench_tp_quit() {
	bench_tp_cli quit -n "$BENCH_TP_NS" >>"$BENCH_TMP/cli.log" 2>&1
	return 0
}

# ---- telepod SOCKS5 --------------------------------------------------------

path_socks_check() {
	bench_tp_check || return 1
	command -v proxychains4 >/dev/null || {
		echo "proxychains4 is not installed (iperf3, wrk and sockperf reach SOCKS5 through it)"
		return 1
	}
}

path_socks_prepare() {
	BENCH_TP_DAEMON_ARGS=()
	BENCH_TP_SERVER_ARGS=()
	printf 'strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 127.0.0.1 1080\n' \
	    >"$BENCH_TMP/proxychains.conf"
	bench_tp_prepare socks
}

path_socks_start() {
	bench_path_defaults
	T_SERVER_PID=$BENCH_TP_SERVER_PID
	T_DAEMON_PID=$BENCH_TP_DAEMON_PID
	T_SOCKS=127.0.0.1:1080
	T_WRAP=(proxychains4 -q -f "$BENCH_TMP/proxychains.conf")
	bench_tp_cli connect --server "$WORLD_CLUSTER_IP:8443" --tls-dir "$BENCH_TMP/tls" \
	    -n "$BENCH_TP_NS" --no-tun >>"$BENCH_TMP/cli.log" 2>&1 || return 1
	bench_first_request 10
}

path_socks_stop() {
	bench_tp_quit
}

path_socks_cleanup() {
	bench_tp_cleanup socks
}

# ---- telepod TUN -----------------------------------------------------------

path_tun_check() {
	bench_tp_check || return 1
	if ! "$BENCH_BUILD/client/telepodd" --help 2>&1 | grep -q -E 'TUN|--tun|--no-tun'; then
		echo "this telepodd has no TUN device yet (telepodd --help names no TUN option)"
		return 1
	fi
}

path_tun_prepare() {
	BENCH_TP_DAEMON_ARGS=(--resolver file)
	BENCH_TP_SERVER_ARGS=()
	bench_tp_prepare tun
}

path_tun_start() {
	local js ns
	bench_path_defaults
	T_SERVER_PID=$BENCH_TP_SERVER_PID
	T_DAEMON_PID=$BENCH_TP_DAEMON_PID
	# The laptop's own 10.0.0.0/8 route to the veth (the bare path's)
	# overlaps the cluster's subnets: the TUN routes are more specific.
	bench_tp_cli connect --server "$WORLD_CLUSTER_IP:8443" --tls-dir "$BENCH_TMP/tls" \
	    -n "$BENCH_TP_NS" --allow-conflicting-subnet "$BENCH_VETH_ROUTE" \
	    >>"$BENCH_TMP/cli.log" 2>&1 || return 1
	js=$(bench_tp_cli status -o json 2>/dev/null)
	case $js in
	*'"tun":true'* | *'"tun": true'*) ;;
	*)
		bench_log "telepod connect did not bring up a TUN device: $js"
		return 1
		;;
	esac
	# The daemon's DNS stub: the resolver it configured for the laptop.
	ns=$(awk '$1 == "nameserver" { print $2; exit }' "/etc/netns/$WORLD_LAPTOP_NS/resolv.conf" 2>/dev/null)
	if [ -n "$ns" ] && [ "$ns" != "$WORLD_LAPTOP_DNS_IP" ]; then
		T_DNS=$ns
	fi
	bench_first_request 10
}

path_tun_stop() {
	bench_tp_quit
}

path_tun_cleanup() {
	bench_tp_cleanup tun
}

# ---- variants of the TUN path: the same path with an option of the daemons ----
# Not target paths: each is measured beside the shipped one so that what
# the option changes is a ratio of the same run.

# bench_tun_variant_check OPTION: the TUN path's check, and a telepodd
# that knows OPTION.
bench_tun_variant_check() {
	path_tun_check || return 1
	"$BENCH_BUILD/client/telepodd" --help 2>&1 | grep -q -e "$1" || {
		echo "this telepodd has no $1 option"
		return 1
	}
}

# ---- telepod TUN without the kernel fast path -----------------------------------
# telepodd --no-fast-path: every packet of the TUN device goes through
# telepodd (read, rewritten, written back), as before the BPF classifier
# (client/fastpath.bpf.c). Not a target path: measured beside the shipped
# one so that the fast path's gain is a ratio of the same run.

path_tunslow_check() {
	bench_tun_variant_check --no-fast-path
}

path_tunslow_prepare() {
	BENCH_TP_DAEMON_ARGS=(--resolver file --no-fast-path)
	BENCH_TP_SERVER_ARGS=()
	bench_tp_prepare tunslow
}

path_tunslow_start() { path_tun_start; }
path_tunslow_stop() { bench_tp_quit; }
path_tunslow_cleanup() { bench_tp_cleanup tunslow; }

# ---- telepod TUN without yielding to the applications fed ----------------------
# telepodd --no-yield: after a batch from the tunnel that fed several
# applications, telepodd goes on reading instead of giving the CPU up to
# them once (common/mux.c, mux_yield_to_locals). Not a target path:
# measured beside the shipped one so that the yield's gain is a ratio of
# the same run.

path_tunnoyield_check() {
	bench_tun_variant_check --no-yield
}

path_tunnoyield_prepare() {
	BENCH_TP_DAEMON_ARGS=(--resolver file --no-yield)
	BENCH_TP_SERVER_ARGS=()
	bench_tp_prepare tunnoyield
}

path_tunnoyield_start() { path_tun_start; }
path_tunnoyield_stop() { bench_tp_quit; }
path_tunnoyield_cleanup() { bench_tp_cleanup tunnoyield; }

# ---- telepod TUN with busy polling -------------------------------------------
# The TUN path with --busy-poll 200 on both daemons (common/evloop.c): each
# polls for events up to 200 us after a wake-up instead of letting its CPU
# halt. Not a target path: on a VM whose idle vCPUs halt, polling also
# spares the load generator's and the service's wake-ups, which the bare
# veth pays, so its ratios say what wake-ups cost here rather than what
# the tunnel does (docs/performance.md, "Waking up").

path_tunpoll_check() {
	bench_tun_variant_check --busy-poll
}

path_tunpoll_prepare() {
	BENCH_TP_DAEMON_ARGS=(--resolver file --busy-poll 200)
	BENCH_TP_SERVER_ARGS=(--busy-poll 200)
	bench_tp_prepare tunpoll
}

path_tunpoll_start() { path_tun_start; }
path_tunpoll_stop() { bench_tp_quit; }
path_tunpoll_cleanup() { bench_tp_cleanup tunpoll; }

# ---- sshuttle over ssh ---------------------------------------------------------

path_sshuttle_check() {
	command -v sshuttle >/dev/null || { echo "sshuttle is not installed"; return 1; }
	[ -x /usr/sbin/sshd ] || { echo "openssh-server is not installed"; return 1; }
	command -v ssh >/dev/null || { echo "openssh-client is not installed"; return 1; }
}

path_sshuttle_prepare() {
	local d=$BENCH_TMP/ssh
	mkdir -p "$d" && chmod 0700 "$d" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" >/dev/null || return 1
	cp "$d/client_key.pub" "$d/authorized_keys" || return 1
	cat >"$d/sshd_config" <<-EOF
		ListenAddress $WORLD_CLUSTER_IP:22
		HostKey $d/host_key
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		AuthorizedKeysFile $d/authorized_keys
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		PidFile $d/sshd.pid
		LogLevel ERROR
	EOF
	# sshd's privilege-separation directory (the Debian service makes it).
	if [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd && chmod 0755 /run/sshd || return 1
		BENCH_MADE_RUN_SSHD=1
	fi
	bench_spawn sshd "$WORLD_CLUSTER_NS" /usr/sbin/sshd -D -e -f "$d/sshd_config"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$WORLD_CLUSTER_IP" 22 || {
		bench_log "sshd does not listen (see $BENCH_TMP/sshd.log)"
		return 1
	}
}

path_sshuttle_start() {
	local d=$BENCH_TMP/ssh
	bench_path_defaults
	# --dns captures queries to the laptop's resolver (127.0.0.53) and
	# sends them to the cluster's through the tunnel.
	T_DNS=$WORLD_LAPTOP_DNS_IP
	bench_spawn sshuttle "$WORLD_LAPTOP_NS" sshuttle --method nft \
	    -e "ssh -F /dev/null -i $d/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR" \
	    -r "root@$WORLD_CLUSTER_IP" --dns --to-ns "$BENCH_DNS_IP" "$WORLD_SERVICE_CIDR"
	bench_first_request 20
}

path_sshuttle_stop() {
	bench_stop sshuttle
}

path_sshuttle_cleanup() {
	bench_stop sshd
	if [ "${BENCH_MADE_RUN_SSHD:-0}" = 1 ]; then
		rmdir /run/sshd 2>/dev/null
		BENCH_MADE_RUN_SSHD=0
	fi
	return 0
}

# ---- OpenVPN over TCP with TLS, a tun device at each end ------------------------

path_openvpn_check() {
	command -v openvpn >/dev/null || { echo "openvpn is not installed"; return 1; }
	[ -c /dev/net/tun ] || { echo "/dev/net/tun is missing"; return 1; }
}

path_openvpn_prepare() {
	local d=$BENCH_TMP/pki
	bench_pki "$d" || return 1
	# Point-to-point TLS mode, TCP, TCP_NODELAY on the socket (without it
	# Nagle meets delayed ACKs: ~15 requests/s on one connection).
	cat >"$BENCH_TMP/openvpn-server.conf" <<-EOF
		dev tun
		proto tcp-server
		local $WORLD_CLUSTER_IP
		lport 1194
		ifconfig 10.8.0.1 10.8.0.2
		tls-server
		dh none
		ca $d/ca.crt
		cert $d/server.crt
		key $d/server.key
		remote-cert-tls client
		socket-flags TCP_NODELAY
		verb 3
	EOF
	cat >"$BENCH_TMP/openvpn-client.conf" <<-EOF
		dev tun
		proto tcp-client
		remote $WORLD_CLUSTER_IP 1194
		nobind
		ifconfig 10.8.0.2 10.8.0.1
		route ${WORLD_SERVICE_CIDR%/*} 255.240.0.0
		tls-client
		ca $d/ca.crt
		cert $d/client.crt
		key $d/client.key
		remote-cert-tls server
		socket-flags TCP_NODELAY
		connect-retry 1 1
		verb 3
	EOF
	bench_spawn openvpn-server "$WORLD_CLUSTER_NS" openvpn --config "$BENCH_TMP/openvpn-server.conf"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$WORLD_CLUSTER_IP" 1194 || {
		bench_log "openvpn does not listen (see $BENCH_TMP/openvpn-server.log)"
		return 1
	}
}

path_openvpn_start() {
	bench_path_defaults
	T_DNS=$BENCH_DNS_IP
	bench_spawn openvpn-client "$WORLD_LAPTOP_NS" openvpn --config "$BENCH_TMP/openvpn-client.conf"
	bench_first_request 20
}

path_openvpn_stop() {
	bench_stop openvpn-client
	# The server restarts its TLS session for the next client.
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$WORLD_CLUSTER_IP" 1194
	return 0
}

path_openvpn_cleanup() {
	bench_stop openvpn-server
}

# ---- stunnel: the cost of TLS alone ------------------------------------------------

path_stunnel_check() {
	command -v stunnel4 >/dev/null || command -v stunnel >/dev/null ||
		{ echo "stunnel4 is not installed"; return 1; }
}

bench_stunnel_bin() {
	command -v stunnel4 || command -v stunnel
}

# One service per bench port: laptop 127.0.0.1:(10000+p) -> TLS ->
# cluster veth (20000+p) -> service p. TCP_NODELAY on every socket. Logs
# warnings only and never to syslog: without a /dev/log stunnel writes each
# line to /dev/console, ~2 ms a line, and measures its console instead.
path_stunnel_prepare() {
	local d=$BENCH_TMP/pki name port
	bench_pki "$d" || return 1
	{
		printf 'foreground = yes\npid =\nsyslog = no\ndebug = warning\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n'
		printf 'cert = %s\nkey = %s\n' "$d/server.crt" "$d/server.key"
		for name in iperf:$BENCH_PORT_IPERF http:$BENCH_PORT_HTTP echo:$BENCH_PORT_ECHO sockperf:$BENCH_PORT_SOCKPERF; do
			port=${name#*:}
			printf '[%s]\naccept = %s:%d\nconnect = %s:%d\n' "${name%%:*}" \
			    "$WORLD_CLUSTER_IP" $((20000 + port)) "$BENCH_SVC_IP" "$port"
		done
	} >"$BENCH_TMP/stunnel-server.conf"
	{
		printf 'foreground = yes\npid =\nsyslog = no\ndebug = warning\nclient = yes\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n'
		printf 'CAfile = %s\nverifyChain = yes\n' "$d/ca.crt"
		for name in iperf:$BENCH_PORT_IPERF http:$BENCH_PORT_HTTP echo:$BENCH_PORT_ECHO sockperf:$BENCH_PORT_SOCKPERF; do
			port=${name#*:}
			printf '[%s]\naccept = 127.0.0.1:%d\nconnect = %s:%d\n' "${name%%:*}" \
			    $((10000 + port)) "$WORLD_CLUSTER_IP" $((20000 + port))
		done
	} >"$BENCH_TMP/stunnel-client.conf"
	bench_spawn stunnel-server "$WORLD_CLUSTER_NS" "$(bench_stunnel_bin)" "$BENCH_TMP/stunnel-server.conf"
	bench_retry 10 bench_tcp_listening "$WORLD_CLUSTER_NS" "$WORLD_CLUSTER_IP" $((20000 + BENCH_PORT_HTTP)) || {
		bench_log "stunnel does not listen (see $BENCH_TMP/stunnel-server.log)"
		return 1
	}
}

path_stunnel_start() {
	bench_path_defaults
	T_HOST=127.0.0.1
	T_PORT_IPERF=$((10000 + BENCH_PORT_IPERF))
	T_PORT_HTTP=$((10000 + BENCH_PORT_HTTP))
	T_PORT_ECHO=$((10000 + BENCH_PORT_ECHO))
	T_PORT_SOCKPERF=$((10000 + BENCH_PORT_SOCKPERF))
	bench_spawn stunnel-client "$WORLD_LAPTOP_NS" "$(bench_stunnel_bin)" "$BENCH_TMP/stunnel-client.conf"
	bench_first_request 10
}

path_stunnel_stop() {
	bench_stop stunnel-client
}

path_stunnel_cleanup() {
	bench_stop stunnel-server
}
