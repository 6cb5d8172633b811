# shellcheck shell=bash
# etcd-agent install logic shared by the Debian maintainer scripts and the RPM
# scriptlets. build.sh pastes this file into each of them instead of sourcing
# it at run time: a postrm at purge (or an RPM %postun) runs after the
# package's own files are gone.
#
# Every path is taken below $EA_ROOT (empty on a real host; dpkg --root sets
# DPKG_ROOT) so that the unit tests can run these functions against a scratch
# directory with systemctl, useradd and groupadd stubbed through PATH.
#
# Policy, in one place:
# - the `etcd` system user/group exist (etcd runs as it; Debian's etcd-server
#   and Fedora's etcd create the same one, so whoever comes first wins);
# - /var/lib/etcd-agent is 0700 (it holds the CA key on the CA holder);
# - the agent is enabled on first install but never started: it has no
#   config yet. `etcd-agent init` and `systemctl start` are the operator's;
# - an upgrade restarts the agent only if it was running;
# - removal stops and disables the agent and leaves etcd and its data alone;
# - purge removes /etc/etcd-agent and /var/lib/etcd-agent and nothing else.

EA_ROOT="${EA_ROOT:-${DPKG_ROOT:-}}"
EA_UNIT=etcd-agent.service
EA_USER=etcd
EA_CONF_DIR=/etc/etcd-agent
EA_STATE_DIR=/var/lib/etcd-agent
# Written at removal so that a later reinstall (Debian: configure with the
# old version, like an upgrade) knows to enable the unit again.
EA_REMOVED_MARKER="$EA_STATE_DIR/.package-removed"

ea_log() {
  printf 'etcd-agent: %s\n' "$*" >&2
}

# True when systemd runs the host (sd_booted(3)): only then can units be
# started, stopped or reloaded. In a chroot or an image build, enabling still
# works (it only creates symlinks).
ea_systemd_running() {
  [ -d "$EA_ROOT/run/systemd/system" ]
}

# systemctl acting on $EA_ROOT when it is set.
ea_systemctl() {
  if [ -n "$EA_ROOT" ]; then
    systemctl --root="$EA_ROOT" "$@"
  else
    systemctl "$@"
  fi
}

# The etcd system user and group, if absent. Home is etcd's data parent, like
# Debian's etcd-server; nothing is created there. With $EA_ROOT, useradd and
# groupadd work inside it and refuse an existing name (exit 9), which is
# then fine; on the host, getent asks NSS first.
ea_ensure_user() {
  if [ -n "$EA_ROOT" ]; then
    groupadd --root "$EA_ROOT" --system "$EA_USER" || [ $? -eq 9 ]
    useradd --root "$EA_ROOT" --system --gid "$EA_USER" --home-dir /var/lib/etcd --no-create-home \
      --shell /usr/sbin/nologin --comment 'etcd distributed key-value store' "$EA_USER" || [ $? -eq 9 ]
    return 0
  fi
  if ! getent group "$EA_USER" >/dev/null; then
    groupadd --system "$EA_USER"
  fi
  if ! getent passwd "$EA_USER" >/dev/null; then
    useradd --system --gid "$EA_USER" --home-dir /var/lib/etcd --no-create-home \
      --shell /usr/sbin/nologin --comment 'etcd distributed key-value store' "$EA_USER"
  fi
}

# mkdir with a mode, only when missing: an existing directory keeps the mode
# its owner gave it (/etc/etcd may belong to an etcd package).
ea_mkdir() {
  local mode=$1 dir=$EA_ROOT$2
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    chmod "$mode" "$dir"
  fi
}

ea_ensure_dirs() {
  ea_mkdir 0755 "$EA_CONF_DIR"
  ea_mkdir 0700 "$EA_STATE_DIR"
  # Always 0700, even if someone loosened it: the CA holder keeps its CA key here.
  chmod 0700 "$EA_ROOT$EA_STATE_DIR"
  ea_mkdir 0755 /etc/etcd
  ea_mkdir 0755 /etc/etcd/pki
}

ea_daemon_reload() {
  if ea_systemd_running; then
    systemctl daemon-reload || ea_log "warning: systemctl daemon-reload failed"
  fi
}

# After the files are in place. $1: install (first install, or reinstall
# after removal) or upgrade.
ea_post_install() {
  local mode=$1
  ea_ensure_user
  ea_ensure_dirs
  ea_daemon_reload
  if [ "$mode" = install ]; then
    # Enabled so it comes up at boot once configured; not started: an
    # unconfigured agent has nothing to do.
    ea_systemctl enable "$EA_UNIT" >/dev/null 2>&1 || ea_log "warning: could not enable $EA_UNIT"
    rm -f "$EA_ROOT$EA_REMOVED_MARKER"
    ea_log "installed and enabled, not started. Configure this node, then start the agent:"
    ea_log "  etcd-agent init --cluster NAME --size N --token-file FILE [--seeds HOST,...|--mdns]"
    ea_log "  systemctl start etcd-agent"
  fi
}

# Restart the agent after an upgrade, but only if it was running: a stopped
# or unconfigured agent stays as it was.
ea_restart_after_upgrade() {
  if ea_systemd_running; then
    systemctl try-restart "$EA_UNIT" || ea_log "warning: could not restart $EA_UNIT; see journalctl -u $EA_UNIT"
  fi
}

# Before the package's files go away for good (not on upgrade). Only the agent
# stops: etcd runs on under its own unit, with its data, as a cluster member.
ea_pre_remove() {
  if ea_systemd_running; then
    systemctl stop "$EA_UNIT" || ea_log "warning: could not stop $EA_UNIT"
  fi
  ea_systemctl disable "$EA_UNIT" >/dev/null 2>&1 || true
  if [ -d "$EA_ROOT$EA_STATE_DIR" ]; then
    : >"$EA_ROOT$EA_REMOVED_MARKER"
  fi
}

ea_post_remove() {
  ea_daemon_reload
}

# True when an etcd data directory (it has member/snap) lies below $1.
ea_holds_etcd_data() {
  [ -n "$(find "$1" -type d -path '*/member/snap' -print -quit 2>/dev/null)" ]
}

# Purge: the agent's config (with the join token) and its state (with the
# CA key). etcd's data and its config in /etc/etcd stay: etcd may still be a
# running cluster member. A state or config dir that somehow holds etcd data
# (etcd.dataDir pointed inside it) is kept, with a warning.
ea_purge() {
  local dir
  for dir in "$EA_CONF_DIR" "$EA_STATE_DIR"; do
    [ -e "$EA_ROOT$dir" ] || continue
    if ea_holds_etcd_data "$EA_ROOT$dir"; then
      ea_log "warning: not removing $dir: it holds etcd data (member/snap); remove it by hand once etcd no longer needs it"
      continue
    fi
    rm -rf -- "$EA_ROOT$dir"
  done
}

# Debian: postinst configure gets the previously configured version in $2,
# both on an upgrade and on a reinstall after `apt-get remove`. Only the
# marker left by removal tells them apart.
ea_deb_configure_mode() {
  if [ -z "${1:-}" ] || [ -e "$EA_ROOT$EA_REMOVED_MARKER" ]; then
    echo install
  else
    echo upgrade
  fi
}
