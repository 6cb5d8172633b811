#!/usr/bin/env bash
# Installs everything etcd-agent needs to build, run its demo and pass its
# tests on a fresh Debian 12 machine. Idempotent: installs only what is missing.
# Add a package by adding it to the list below (one line, with why).
set -euo pipefail

DEBIAN_PACKAGES=(
  etcd-server        # the real etcd the agent configures and runs (tests, demo)
  etcd-client        # etcdctl: tests and the demo check the cluster with it
  libsystemd-dev     # sd-notify's native addon builds against it (npm ci)
  openssl            # tests verify issued certificates with openssl verify
  iproute2           # network-namespace test hosts (ip netns, veth, bridge)
  util-linux         # unshare --uts gives each network-namespace test host its own hostname
  curl               # netns tests and the netns demo read each host's loopback-only status API from inside it
  nftables           # mDNS e2e tests silence multicast on one test host (nft drop of 224.0.0.0/4)
  dpkg-dev           # packaging: dpkg-deb builds the .deb (npm run package)
  lintian            # packaging tests: the .deb must have no lintian errors
  rpm                # packaging: rpmbuild builds the .rpm; tests unpack it with rpm --root
  rpmlint            # packaging tests: the .rpm must have no rpmlint errors
  cloud-init         # packaging tests: cloud-init schema validates the user-data examples
  debootstrap        # packaging e2e: builds the clean Debian root the .deb is installed into
  systemd-container  # packaging e2e: systemd-nspawn boots that root with systemd as PID 1
  g++                # npm ci and npm run package compile sd-notify's addon (node-gyp)
  make               # node-gyp's build runs make
  python3            # node-gyp is driven by python3
  man-db             # packaging tests check the generated man page with man --warnings (lintian does too)
  faketime           # libfaketime: the skew trials (trials/skew.ts) run one agent with its clock shifted (LD_PRELOAD)
  systemd            # systemd-analyze verifies etcd.service and etcd-agent.service in unit tests; systemd e2e hosts (test/helpers/nspawn.ts)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: not root; skipping Debian packages (need: ${DEBIAN_PACKAGES[*]})" >&2
else
  missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when they are absent or older than a day.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
      apt-get update -qq
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian's etcd-server enables a single-node etcd on hosts where systemd runs;
  # it would hold ports 2379/2380 that the tests and the demo use.
  if [ -d /run/systemd/system ] && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# tsc, then the esbuild bundle that bin/etcd-agent.js runs (scripts/bundle.mjs).
npm run build --silent
