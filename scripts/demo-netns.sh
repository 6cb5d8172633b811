#!/usr/bin/env bash
# The demo on three separate network hosts: three network namespaces
# (node1..node3, each with its own hostname, interface eth1 and address
# 10.$SUBNET.0.11-13) on one bridge. The agents get no seeds: they find each
# other by mDNS over real multicast, elect a CA holder, issue certificates and
# form a TLS etcd cluster. Root only; scripts/demo.sh runs this as root.
#
#   scripts/demo-netns.sh [start]   set up, start, wait for the cluster, show it
#   scripts/demo-netns.sh status    show it again
#   scripts/demo-netns.sh stop      stop agents and etcd, remove namespaces and bridge (files kept)
#   scripts/demo-netns.sh clean     stop, then delete every file the demo wrote
#
# Environment: ETCD_AGENT_DEMO_DIR (default ./demo-run; this demo uses its
# netns/ subdirectory), ETCD_AGENT_DEMO_SUBNET (X of 10.X.0.0/24, default 213).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DEMO=${ETCD_AGENT_DEMO_DIR:-$REPO/demo-run}/netns
SUBNET=${ETCD_AGENT_DEMO_SUBNET:-213}
PREFIX=eademo            # never matches the test beds' ea<4 hex> names
BR=${PREFIX}br
NODES=(1 2 3)
WAIT_S=120

ns() { echo "${PREFIX}h$1"; }
veth() { echo "${PREFIX}v$1"; }
host() { echo "node$1"; }
addr() { echo "10.$SUBNET.0.1$1"; }
root_of() { echo "$DEMO/$(host "$1")"; }

# Runs a command inside host $1, under that host's own hostname.
in_host() {
  local i=$1; shift
  ip netns exec "$(ns "$i")" unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh "$(host "$i")" "$@"
}
agent_in() { local i=$1; shift; in_host "$i" node "$REPO/bin/etcd-agent.js" "$@"; }

die() { echo "demo-netns: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); without root use scripts/demo.sh, which runs the loopback demo"

running() { [ -e "/run/netns/$(ns 1)" ] && [ -n "$(ip netns pids "$(ns 1)" 2>/dev/null)" ]; }

net_up() {
  if ip -4 -o addr show | grep -v " $BR " | grep -q " 10\.$SUBNET\."; then
    die "10.$SUBNET.0.0/24 is already used on this machine; pick another with ETCD_AGENT_DEMO_SUBNET=X"
  fi
  ip link add "$BR" type bridge mcast_snooping 0
  ip addr add "10.$SUBNET.0.1/24" dev "$BR"
  ip link set "$BR" up
  for i in "${NODES[@]}"; do
    ip netns add "$(ns "$i")"
    ip link add "$(veth "$i")" type veth peer name eth1 netns "$(ns "$i")"
    ip link set "$(veth "$i")" master "$BR"
    ip link set "$(veth "$i")" up
    ip -n "$(ns "$i")" link set lo up
    ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev eth1
    ip -n "$(ns "$i")" link set eth1 up
    # mDNS: multicast leaves through eth1.
    ip -n "$(ns "$i")" route add 224.0.0.0/4 dev eth1
  done
}

net_down() {
  # Agents stop their etcd on SIGTERM; whatever is left after 15 s is killed.
  local pids="" i
  for i in "${NODES[@]}"; do
    [ -e "/run/netns/$(ns "$i")" ] && pids="$pids $(ip netns pids "$(ns "$i")" 2>/dev/null | tr '\n' ' ')"
  done
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 60); do
      local alive=0 p
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.25
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  for i in "${NODES[@]}"; do
    ip link del "$(veth "$i")" 2>/dev/null || true
    ip netns del "$(ns "$i")" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
}

phase_of() {
  in_host "$1" curl -sS --max-time 2 http://127.0.0.1:2391/status 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(`${j.phase}: ${j.reason}`)}catch{console.log("agent not answering yet")}})'
}

show() {
  for i in "${NODES[@]}"; do
    echo "=== etcd-agent status — host $(host "$i") ($(addr "$i"), network namespace $(ns "$i")) ==="
    agent_in "$i" status || true
    echo
  done
  echo "=== etcdctl endpoint health --cluster (from $(host 1), TLS with the client certificate the cluster CA issued) ==="
  in_host 1 sh -c 'set -a; . "$1"; set +a; etcdctl endpoint health --cluster' sh "$(root_of 1)/etc/etcd/etcdctl.env"
}

start() {
  bash "$REPO/scripts/setup-deps.sh"
  if running; then
    echo "the network-namespace demo is already running; showing it (scripts/demo.sh stop to stop it)"
    echo
    show
    return
  fi
  net_down >/dev/null 2>&1 || true # leftovers of an interrupted run
  trap 'echo; echo "interrupted: tearing the demo down"; net_down; exit 130' INT TERM
  net_up
  mkdir -p "$DEMO"
  [ -f "$DEMO/token" ] || (umask 077 && node "$REPO/bin/etcd-agent.js" token generate >"$DEMO/token")
  for i in "${NODES[@]}"; do
    # Inside the host, so the node name (its hostname) and the advertise
    # address (eth1) are detected as on a real machine. No --seeds: mDNS only.
    [ -f "$(root_of "$i")/etc/etcd-agent/config.yaml" ] ||
      agent_in "$i" init --root "$(root_of "$i")" --cluster demo --size 3 --token-file "$DEMO/token" \
        --mdns --service-manager process >/dev/null
  done
  echo "mode: network namespaces — three hosts $(host 1), $(host 2), $(host 3) on bridge $BR (10.$SUBNET.0.0/24)"
  echo "      that find each other by mDNS (_etcd-agent._tcp, no seeds); logs: $DEMO/node*.log"
  for i in "${NODES[@]}"; do
    setsid nohup ip netns exec "$(ns "$i")" unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh "$(host "$i")" \
      node "$REPO/bin/etcd-agent.js" run --config "$(root_of "$i")/etc/etcd-agent/config.yaml" \
      >>"$DEMO/$(host "$i").log" 2>&1 </dev/null &
  done
  local started=$SECONDS last=-5
  for i in "${NODES[@]}"; do
    until in_host "$i" curl -fsS --max-time 2 http://127.0.0.1:2391/readyz >/dev/null 2>&1; do
      if [ $((SECONDS - started)) -gt "$WAIT_S" ]; then
        echo "the cluster did not form within $WAIT_S s; what each node says:" >&2
        show >&2 || true
        echo "it is left running for inspection; scripts/demo.sh stop (or scripts/demo-netns.sh stop) removes it" >&2
        exit 1
      fi
      if [ $((SECONDS - last)) -ge 5 ]; then
        last=$SECONDS
        for j in "${NODES[@]}"; do echo "  [$((SECONDS - started)) s] $(host "$j"): $(phase_of "$j")"; done
      fi
      sleep 1
    done
  done
  trap - INT TERM
  echo "cluster formed in $((SECONDS - started)) s — found by mDNS across three network namespaces"
  echo
  show
  cat <<EOT

This demo used mDNS in network namespaces: each node is its own network host
($(host 1)=$(addr 1), $(host 2)=$(addr 2), $(host 3)=$(addr 3)); no seed list was configured.

Try it:   ip netns exec $(ns 1) sh -c 'set -a; . $(root_of 1)/etc/etcd/etcdctl.env; set +a; etcdctl put hello world; etcdctl get hello'
Status:   scripts/demo.sh status      (or: ip netns exec $(ns 2) node bin/etcd-agent.js status)
Stop:     scripts/demo.sh stop        (agents, etcd, namespaces and bridge; files kept in $DEMO)
Delete:   scripts/demo.sh clean
EOT
}

case "${1:-start}" in
  start) start ;;
  status)
    running || die "the network-namespace demo is not running (scripts/demo.sh to start it)"
    show ;;
  stop) net_down; echo "stopped: agents, etcd, namespaces and bridge removed (files kept in $DEMO)" ;;
  clean) net_down; rm -rf "$DEMO"; echo "removed the network-namespace demo and $DEMO" ;;
  *) echo "usage: scripts/demo-netns.sh [start|status|stop|clean]" >&2; exit 2 ;;
esac
