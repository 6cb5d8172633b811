#!/usr/bin/env bash
# Builds the etcd-agent packages (`npm run package`):
#   dist/packages/etcd-agent_<version>_amd64.deb
#   dist/packages/etcd-agent-<version>-1.x86_64.rpm
# Both hold the same self-contained tree: a pinned Node.js runtime, the
# compiled agent, its production node_modules, a generated config template
# and man page. See docs/packaging.md.
#
# Environment:
#   PKG_VERSION_SUFFIX  appended to package.json's version (e.g. "+up1" for an
#                       upgrade test); letters, digits, ".", "+" and "~" only
#   PKG_OUT_DIR         output directory (default dist/packages)
#   PKG_KEEP_WORK=1     keep the work directory and print its path
#   PKG_ONLY=deb|rpm    build only one of the two
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"

die() {
  echo "packaging: $*" >&2
  exit 1
}
step() {
  echo "packaging: $*" >&2
}

for tool in node npm dpkg-deb dpkg-shlibdeps rpmbuild strip gzip install; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/setup-deps.sh (as root) first"
done
[ -f /usr/share/common-licenses/Apache-2.0 ] || die "/usr/share/common-licenses/Apache-2.0 is missing (Debian's base-files); the RPM ships it as LICENSE"
unit_src=$repo/packaging/systemd/etcd-agent.service
[ -f "$unit_src" ] || die "$unit_src is missing: the agent's unit comes from the systemd work (packaging/systemd/); it is not written here"

# shellcheck source=packaging/node-runtime.env
. "$here/node-runtime.env"

base_version=$(node -p 'require("./package.json").version')
suffix=${PKG_VERSION_SUFFIX:-}
[[ $suffix =~ ^[A-Za-z0-9.+~]*$ ]] || die "PKG_VERSION_SUFFIX=$suffix: only letters, digits, '.', '+' and '~' are allowed (no '-': it separates RPM's version and release)"
version=$base_version$suffix
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "version $version does not start with a digit or holds characters neither dpkg nor rpm accept"

# Reproducible timestamps: the last commit's time, else package.json's mtime.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || stat -c %Y package.json)
fi
export SOURCE_DATE_EPOCH
build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)

out=${PKG_OUT_DIR:-$repo/dist/packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/etcd-agent-pkg.XXXXXX")
cleanup() {
  if [ "${PKG_KEEP_WORK:-}" = 1 ]; then
    echo "packaging: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

LIB_PATH=usr/lib/etcd-agent
stage=$work/stage
lib=$stage/$LIB_PATH
mkdir -p "$lib" "$stage/usr/bin" "$stage/etc/etcd-agent" "$stage/usr/share/man/man1" "$stage/usr/share/doc/etcd-agent/examples"

# --- 1. the pinned Node.js runtime -----------------------------------------
step "Node.js runtime $NODE_RUNTIME_PACKAGE@$NODE_RUNTIME_VERSION"
mkdir -p "$work/dl"
(cd "$work/dl" && npm pack --silent --prefer-offline "$NODE_RUNTIME_PACKAGE@$NODE_RUNTIME_VERSION" >/dev/null) ||
  die "npm pack $NODE_RUNTIME_PACKAGE@$NODE_RUNTIME_VERSION failed (needs the npm registry or a warm npm cache)"
tarball=$work/dl/$NODE_RUNTIME_PACKAGE-$NODE_RUNTIME_VERSION.tgz
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$actual" = "$NODE_RUNTIME_INTEGRITY" ] ||
  die "$tarball has integrity $actual, but packaging/node-runtime.env pins $NODE_RUNTIME_INTEGRITY; refusing to bundle it"
runtime=$work/runtime
mkdir -p "$runtime"
tar -xzf "$tarball" -C "$runtime" --strip-components=1 package/bin/node package/LICENSE package/include
install -D -m 0755 "$runtime/bin/node" "$lib/node/bin/node"
# The upstream binary carries its symbol table and debug info (~12 MB); the
# dynamic symbols native addons link against stay.
strip --strip-unneeded "$lib/node/bin/node"
install -m 0644 "$runtime/LICENSE" "$lib/node/LICENSE"
[ "$("$lib/node/bin/node" --version)" = "v$NODE_RUNTIME_VERSION" ] || die "the bundled node does not report v$NODE_RUNTIME_VERSION"

# --- 2. the agent and the generators, compiled together ----------------------
step "compiling the agent (tsc)"
npx --no-install tsc -p packaging/tsconfig.json --outDir "$work/tsc"
ln -sfn "$repo/node_modules" "$work/tsc/node_modules" # the bundler resolves from here; the generators import yaml
# One bundle (esbuild) instead of dist/ and the dependencies' node_modules:
# faster start, less memory, a smaller package (docs/benchmarks.md).
step "bundling the agent (esbuild)"
node scripts/bundle.mjs --entry "$work/tsc/src/agent/cli.js" --outdir "$lib/dist/bundle" --metafile "$work/bundle-meta.json"
# Without its "#!/usr/bin/env node" line: here it is only ever run by the
# bundled node (/usr/bin/etcd-agent), never as a script with the host's node.
mkdir -p "$lib/bin"
sed '1{/^#!/d}' bin/etcd-agent.js >"$lib/bin/etcd-agent.js"
# package.json as the agent reads it at run time (name and version; type
# module for the ESM dist); the version carries the suffix.
VERSION=$version node -e '
  const pkg = require("./package.json");
  const keep = { name: pkg.name, version: process.env.VERSION, description: pkg.description, license: pkg.license,
    type: pkg.type, private: true, engines: pkg.engines, dependencies: pkg.dependencies };
  // npm ci below needs every dependency listed (the lock must match); after
  // pruning, the file is rewritten to list only what node_modules holds.
  process.stdout.write(JSON.stringify(keep, null, 2) + "\n");' >"$lib/package.json"

# --- 3. production node_modules, native addon built for the bundled node ------
step "production node_modules (npm ci --omit=dev)"
cp package-lock.json "$lib/package-lock.json"
# The lock must carry the packaged version too, or npm ci refuses the pair.
VERSION=$version node -e '
  const fs = require("fs"); const f = process.argv[1]; const lock = JSON.parse(fs.readFileSync(f, "utf8"));
  lock.version = process.env.VERSION; if (lock.packages && lock.packages[""]) lock.packages[""].version = process.env.VERSION;
  fs.writeFileSync(f, JSON.stringify(lock, null, 2) + "\n");' "$lib/package-lock.json"
(
  cd "$lib"
  # npm and node-gyp run on the bundled node and compile sd-notify against
  # its headers, so the addon matches the runtime it ships with.
  # LDFLAGS: full RELRO, as Debian's hardening defaults would; and
  # --no-as-needed, so the addon records libc (and the C++ runtime libraries,
  # which node loads anyway) as needed even though it calls nothing in libc
  # directly: a shared object not linked against libc is a lintian error.
  PATH=$runtime/bin:$PATH npm_config_nodedir=$runtime \
    LDFLAGS="-Wl,-z,relro -Wl,-z,now -Wl,--no-as-needed" \
    npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error >"$work/npm-ci.log" 2>&1 ||
    { cat "$work/npm-ci.log" >&2; die "npm ci --omit=dev failed (log above)"; }
)
# Only what runs: the compiled addon (stripped), not its build tree; no
# dotfiles (editor, lint, VCS and npm settings), TypeScript, source maps,
# readmes, shell scripts, tests, or a module's own examples, benchmarks, docs
# and dev scripts (a directory of that name next to its package.json).
# The smoke test below and the e2e tests run the result.
# Everything but sd-notify (a native addon) and what it requires is in the
# bundle: the rest of node_modules goes (scripts/runtime-modules.mjs).
node scripts/runtime-modules.mjs "$lib" >"$work/runtime-modules" || die "could not resolve the run-time modules from $lib/package-lock.json"
(
  cd "$lib"
  for dir in node_modules/* node_modules/@*/*; do
    [ -d "$dir" ] || continue
    grep -qxF "$dir" "$work/runtime-modules" || rm -rf "$dir"
  done
  while read -r dir; do [ -d "$dir" ] || die "$dir is missing after npm ci"; done <"$work/runtime-modules"
)
VERSION=$version node -e '
  const fs = require("fs"), path = require("path"); const lib = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(path.join(lib, "package.json"), "utf8"));
  const kept = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean);
  pkg.dependencies = Object.fromEntries(Object.entries(pkg.dependencies).filter(([name]) => kept.includes("node_modules/" + name)));
  fs.writeFileSync(path.join(lib, "package.json"), JSON.stringify(pkg, null, 2) + "\n");' "$lib" "$work/runtime-modules"
find "$lib/node_modules/sd-notify/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$lib/node_modules/sd-notify/build/Release" -mindepth 1 ! -name notify.node -exec rm -rf {} +
strip --strip-unneeded "$lib/node_modules/sd-notify/build/Release/notify.node"
find "$lib/node_modules" -depth -name '.*' -exec rm -rf {} +
find "$lib/node_modules" -depth -type d \( -name example -o -name examples -o -name bench -o -name benchmark -o -name benchmarks \
  -o -name doc -o -name docs -o -name integration -o -name scripts \) \
  -exec sh -c '[ -f "$(dirname "$1")/package.json" ] && rm -rf "$1"' _ {} \;
# Test directories at any depth (types/tests/, lib/test/), unless one is a package of its own.
find "$lib/node_modules" -depth -type d \( -name test -o -name tests -o -name __tests__ \) ! -path '*/node_modules/test' \
  ! -path '*/node_modules/tests' -exec rm -rf {} +
# TypeScript (sources, declarations): Node 20 never loads it.
find "$lib/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.sh' \
  -o \( -iname '*.md' ! -iname 'licen*' ! -iname 'copying*' ! -iname 'notice*' \) \) -delete
find "$lib/node_modules" -mindepth 2 -maxdepth 3 -name '*.html' -exec sh -c '[ -f "$(dirname "$1")/package.json" ] && rm -f "$1"' _ {} \;
# The modules' command-line entry points ("bin" in their package.json): npm
# links them into .bin for shells; the agent only loads modules. Shipping them
# would mean scripts with a #!/usr/bin/env node that runs the host's node.
node -e '
  const fs = require("fs"), path = require("path"); const lib = process.argv[1];
  const lock = JSON.parse(fs.readFileSync(path.join(lib, "package-lock.json"), "utf8"));
  for (const [dir, entry] of Object.entries(lock.packages || {})) {
    if (dir === "" || entry.dev || !entry.bin) continue;
    const bins = typeof entry.bin === "string" ? [entry.bin] : Object.values(entry.bin);
    for (const b of bins) fs.rmSync(path.join(lib, dir, b), { force: true });
  }' "$lib"
find "$lib/node_modules" -depth -type d -empty -delete
[ -f "$lib/node_modules/sd-notify/build/Release/notify.node" ] || die "sd-notify's native addon was not built (libsystemd-dev, make, g++ and python3 are needed)"
ls "$lib/dist/bundle/proto/"*.proto >/dev/null 2>&1 || die "etcd3's proto files are missing from dist/bundle/proto; the etcd client loads them at run time"

# --- 4. wrapper, config template, man page, docs --------------------------------
install -m 0755 packaging/etcd-agent.sh "$stage/usr/bin/etcd-agent"
gen() { "$lib/node/bin/node" "$work/tsc/packaging/gen/main.js" "$@"; }
# 0644: the template holds no secret. `etcd-agent init` replaces it with a
# 0600 file, and the agent refuses an inline cluster.token in a file others
# can read.
gen config-template >"$stage/etc/etcd-agent/config.yaml"
gen man "$version" "$build_date" >"$stage/usr/share/man/man1/etcd-agent.1"
gzip -9n "$stage/usr/share/man/man1/etcd-agent.1"
install -m 0644 packaging/cloud-init/*.yaml "$stage/usr/share/doc/etcd-agent/examples/"
licenses=$work/licenses
mkdir -p "$licenses"
cp /usr/share/common-licenses/Apache-2.0 "$licenses/LICENSE"
gen copyright "$lib" "$LIB_PATH" "$lib/node/LICENSE" "$NODE_RUNTIME_VERSION" "$work/bundle-meta.json" "$repo" >"$licenses/copyright"

# Normalise modes: npm tarballs carry arbitrary ones. Only node and the
# wrapper are executables; everything else is read-only data for node.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$lib/node/bin/node" "$stage/usr/bin/etcd-agent"

# --- 5. smoke test of the staged tree, with the bundled node only --------------
step "smoke test"
staged_version=$(env -i PATH=/usr/bin:/bin "$lib/node/bin/node" "$lib/bin/etcd-agent.js" --version)
[ "$staged_version" = "etcd-agent $version" ] || die "the staged agent says '$staged_version', expected 'etcd-agent $version'"
(cd "$lib" && env -i PATH=/usr/bin:/bin "$lib/node/bin/node" -e 'require("sd-notify")') ||
  die "sd-notify (the one module outside the bundle) does not load with the bundled node"
touch_all() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# --- 6. the .deb ------------------------------------------------------------------
build_deb() {
  step "building the .deb"
  local root=$work/deb
  cp -a "$stage" "$root"
  install -D -m 0644 "$unit_src" "$root/lib/systemd/system/etcd-agent.service"
  install -m 0644 "$licenses/copyright" "$root/usr/share/doc/etcd-agent/copyright"
  printf 'etcd-agent (%s) unstable; urgency=medium\n\n  * Package built from the etcd-agent sources; see the project history.\n\n -- etcd-agent maintainers <maintainers@etcd-agent.invalid>  %s\n' \
    "$version" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$root/usr/share/doc/etcd-agent/changelog.gz"
  install -D -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/etcd-agent"
  chmod 0644 "$root/usr/share/doc/etcd-agent/changelog.gz"

  mkdir -p "$root/DEBIAN"
  local lib_text script
  lib_text=$(cat packaging/lib/maint.sh)
  for script in postinst prerm postrm; do
    MAINT_LIB=$lib_text awk '{ if ($0 == "@MAINT_LIB@") print ENVIRON["MAINT_LIB"]; else print }' \
      "packaging/deb/$script" >"$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
  done
  echo /etc/etcd-agent/config.yaml >"$root/DEBIAN/conffiles"

  # Shared-library dependencies of the ELF files (node and the addon), as
  # dpkg-shlibdeps computes them for any Debian package.
  local shl=$work/shlibdeps depends
  mkdir -p "$shl/debian"
  printf 'Source: etcd-agent\n\nPackage: etcd-agent\nArchitecture: amd64\n' >"$shl/debian/control"
  depends=$(cd "$shl" && dpkg-shlibdeps -O -e"$root/$LIB_PATH/node/bin/node" \
    -e"$root/$LIB_PATH/node_modules/sd-notify/build/Release/notify.node" 2>"$work/shlibdeps.log" |
    sed -n 's/^shlibs:Depends=//p') || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
  [ -n "$depends" ] || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps found no dependencies"; }

  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    packaging/deb/control.in >"$root/DEBIAN/control"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f ! -path ./etc/etcd-agent/config.yaml -print0 |
    sort -z | xargs -0 md5sum | sed 's| \./| |') >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
  touch_all "$root"
  local deb=$out/etcd-agent_${version}_amd64.deb
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  echo "$deb"
}

# --- 7. the .rpm ------------------------------------------------------------------
build_rpm() {
  step "building the .rpm"
  local top=$work/rpmbuild scripts=$work/rpm-scripts lib_text s
  mkdir -p "$top"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT} "$scripts"
  lib_text=$(cat packaging/lib/maint.sh)
  for s in pre post preun postun; do
    MAINT_LIB=$lib_text awk '{ if ($0 == "@MAINT_LIB@") print ENVIRON["MAINT_LIB"]; else print }' \
      "packaging/rpm/scriptlets/$s" >"$scripts/$s"
  done
  touch_all "$stage"
  rpmbuild -bb --quiet \
    --define "_topdir $top" \
    --define "pkg_version $version" \
    --define "stage_dir $stage" \
    --define "scripts_dir $scripts" \
    --define "unit_file $unit_src" \
    --define "license_dir $licenses" \
    --define "changelog_date $(date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_buildhost etcd-agent-build" \
    packaging/rpm/etcd-agent.spec >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; die "rpmbuild failed (log above)"; }
  local rpm=$out/etcd-agent-$version-1.x86_64.rpm
  cp "$top/RPMS/x86_64/etcd-agent-$version-1.x86_64.rpm" "$rpm"
  echo "$rpm"
}

case "${PKG_ONLY:-}" in
  "") build_deb; build_rpm ;;
  deb) build_deb ;;
  rpm) build_rpm ;;
  *) die "PKG_ONLY=${PKG_ONLY}: use deb or rpm" ;;
esac
step "done: $(cd "$out" && ls -s --block-size=M etcd-agent[_-]"$version"[_-]*.{deb,rpm} 2>/dev/null | tr '\n' ' ')"
