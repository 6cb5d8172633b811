#!/usr/bin/env bash
# The main job: set everything up, form a local 3-node etcd cluster with three
# etcd-agents, and show it.
#   scripts/demo.sh          # set up, start, wait, show
#   scripts/demo.sh status   # show again
#   scripts/demo.sh stop     # stop agents and etcd, keep the files
#   scripts/demo.sh clean    # stop and delete everything the demo wrote
# As root, with network namespaces available, the three nodes are separate
# network hosts that find each other by mDNS (scripts/demo-netns.sh). Without
# root they are three agents on loopback addresses 127.0.0.11-13 with seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DEMO=${ETCD_AGENT_DEMO_DIR:-$REPO/demo-run}
NODES=(1 2 3)
addr() { echo "127.0.0.1$1"; }
agent() { node "$REPO/bin/etcd-agent.js" "$@"; }

netns_mode() {
  [ "$(id -u)" -eq 0 ] && [ -x "$REPO/scripts/demo-netns.sh" ] && [ "${ETCD_AGENT_DEMO_LOOPBACK:-0}" != 1 ] &&
    ip netns list >/dev/null 2>&1
}

stop_loopback() {
  for i in "${NODES[@]}"; do
    local pidfile="$DEMO/n$i/agent.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    # An agent stops its etcd on SIGTERM; a killed one may have left it behind.
    local etcdpid="$DEMO/n$i/var/lib/etcd-agent/etcd.pid"
    if [ -f "$etcdpid" ] && kill -0 "$(cat "$etcdpid")" 2>/dev/null; then kill -TERM "$(cat "$etcdpid")" || true; fi
  done
}

show_loopback() {
  for i in "${NODES[@]}"; do
    echo "=== etcd-agent status (node n$i, $(addr "$i")) ==="
    agent status --address "$(addr "$i"):2391" || true
    echo
  done
  echo "=== etcdctl endpoint health --cluster (TLS, client certificate issued by the cluster CA) ==="
  ( set -a; . "$DEMO/n1/etc/etcd/etcdctl.env"; set +a; etcdctl endpoint health --cluster )
}

start_loopback() {
  if [ -f "$DEMO/n1/agent.pid" ] && kill -0 "$(cat "$DEMO/n1/agent.pid")" 2>/dev/null; then
    echo "the demo is already running; showing it (scripts/demo.sh stop to stop it)"
    show_loopback
    return
  fi
  mkdir -p "$DEMO"
  [ -f "$DEMO/token" ] || (umask 077 && agent token generate >"$DEMO/token")
  local seeds; seeds=$(for i in "${NODES[@]}"; do addr "$i"; done | paste -sd,)
  for i in "${NODES[@]}"; do
    agent init --root "$DEMO/n$i" --cluster demo --size 3 --token-file "$DEMO/token" \
      --name "n$i" --advertise-address "$(addr "$i")" --status-address "$(addr "$i"):2391" \
      --seeds "$seeds" --no-mdns --service-manager process >/dev/null
  done
  echo "starting 3 agents on $(addr 1), $(addr 2), $(addr 3) (logs: $DEMO/n*/agent.log)"
  for i in "${NODES[@]}"; do
    nohup node "$REPO/bin/etcd-agent.js" run --config "$DEMO/n$i/etc/etcd-agent/config.yaml" \
      >"$DEMO/n$i/agent.log" 2>&1 &
    echo $! >"$DEMO/n$i/agent.pid"
  done
  local started=$SECONDS
  for i in "${NODES[@]}"; do
    until agent status --address "$(addr "$i"):2391" >/dev/null 2>&1; do
      if [ $((SECONDS - started)) -gt 120 ]; then
        echo "the cluster did not form within 120 s; what each node says:" >&2
        show_loopback >&2 || true
        exit 1
      fi
      sleep 1
    done
  done
  echo "cluster formed in $((SECONDS - started)) s"
  echo
  show_loopback
  cat <<EOT

Try it:   (set -a; . $DEMO/n1/etc/etcd/etcdctl.env; set +a; etcdctl put hello world; etcdctl get hello)
Status:   scripts/demo.sh status     (or: npx etcd-agent status --address $(addr 1):2391)
Stop:     scripts/demo.sh stop       Delete everything: scripts/demo.sh clean
EOT
}

cmd=${1:-start}
if netns_mode; then
  exec "$REPO/scripts/demo-netns.sh" "$cmd"
fi
case "$cmd" in
  start)
    bash "$REPO/scripts/setup-deps.sh"
    echo "mode: loopback (three agents on 127.0.0.11-13, found through seeds)"
    start_loopback ;;
  status) show_loopback ;;
  stop) stop_loopback; echo "stopped (files kept in $DEMO)" ;;
  clean) stop_loopback; rm -rf "$DEMO"; echo "removed $DEMO" ;;
  *) echo "usage: scripts/demo.sh [start|status|stop|clean]" >&2; exit 2 ;;
esac
