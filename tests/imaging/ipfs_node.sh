#!/usr/bin/env bash
# A real IPFS node for tests/imaging/storage/test_kubo_real.py: js-ipfs, the JavaScript IPFS
# implementation (npm package `ipfs` 0.66.1 = ipfs-core 0.18.1), whose `jsipfs daemon` serves
# the same /api/v0 HTTP RPC as Kubo. Installed from the npm registry into var/ipfs-node/
# (ignored by git), with the whole dependency tree pinned by ipfs_node.package-lock.json.
#
#   tests/imaging/ipfs_node.sh [install]   install unless already done; print the jsipfs path
#   tests/imaging/ipfs_node.sh lock        re-resolve ipfs_node.package-lock.json (maintainers)
#
# Exit status 3: node/npm missing or too old. The pytest fixture (tests/imaging/storage/
# conftest.py) calls `install` itself; `make test` runs it first (target ipfs-deps).
#
# Why the lockfile and the overrides: js-ipfs is unmaintained and its ^ranges now resolve to
# releases that need Node 22 (mortice 3.3 -> it-queue uses Promise.withResolvers), hence
# "overrides": {"mortice": "3.0.6"}; and the daemon's optional WebRTC deps (wrtc, and
# electron-webrtc -> electron-eval -> a github.com tarball) cannot come from the registry, so
# `lock` drops them from the tree (the tests run the daemon offline, without WebRTC). With the
# lock, `npm ci` fetches only registry tarballs: ~20 s from an empty npm cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${QMC_IPFS_NODE_DIR:-$root/var/ipfs-node}
pkg=$here/ipfs_node.package.json
lock=$here/ipfs_node.package-lock.json

need_node() {
  command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not found" >&2; exit 3; }
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
    || { echo "node $(node --version) is too old for js-ipfs (need >= 18)" >&2; exit 3; }
}

install() {
  local stamp bin=$dest/node_modules/.bin/jsipfs
  stamp=$dest/.installed-$(cat "$pkg" "$lock" | sha256sum | cut -c1-12)
  need_node  # also when installed: jsipfs runs on node
  if [[ -x $bin && -f $stamp ]]; then echo "$bin"; return; fi
  mkdir -p "$(dirname "$dest")"
  if command -v flock >/dev/null; then exec 9>"$dest.lock"; flock 9; fi  # one installer at a time
  if [[ -x $bin && -f $stamp ]]; then echo "$bin"; return; fi
  local tmp=$dest.tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  cp "$pkg" "$tmp/package.json"; cp "$lock" "$tmp/package-lock.json"
  # --ignore-scripts: nothing needs building (classic-level ships linux prebuilds)
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  touch "$tmp/.installed-${stamp##*/.installed-}"
  rm -rf "$dest"; mv "$tmp" "$dest"
  echo "$bin"
}

relock() {
  need_node
  local tmp
  tmp=$(mktemp -d)
  cp "$pkg" "$tmp/package.json"
  (cd "$tmp" && npm install --package-lock-only --omit-lockfile-registry-resolved --no-audit --no-fund) >&2
  # drop the optional WebRTC deps and everything only they pull in
  node - "$tmp/package-lock.json" "$lock" <<'EOF'
const fs = require('fs')
const [src, dst] = process.argv.slice(2)
const DROP = new Set(['wrtc', 'electron-webrtc'])
const lock = JSON.parse(fs.readFileSync(src, 'utf8'))
const pk = lock.packages
const FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies']
for (const v of Object.values(pk)) {
  for (const f of FIELDS.slice(0, 2)) for (const d of DROP) if (v[f]) delete v[f][d]
}
const resolve = (from, name) => {
  for (let p = from; ; ) {
    const cand = (p ? p + '/' : '') + 'node_modules/' + name
    if (cand in pk) return cand
    if (!p) return null
    const i = p.lastIndexOf('/node_modules/')
    p = i >= 0 ? p.slice(0, i) : ''
  }
}
const seen = new Set()
const todo = ['']
while (todo.length) {
  const k = todo.pop()
  if (seen.has(k)) continue
  seen.add(k)
  for (const f of FIELDS) for (const d of Object.keys(pk[k][f] || {})) {
    const r = resolve(k, d)
    if (r) todo.push(r)
  }
}
for (const k of Object.keys(pk)) if (!seen.has(k)) delete pk[k]
fs.writeFileSync(dst, JSON.stringify(lock, null, 2) + '\n')
EOF
  rm -rf "$tmp"
  echo "wrote $lock" >&2
}

case ${1:-install} in
  install) install ;;
  lock) relock ;;
  *) echo "usage: $0 [install|lock]" >&2; exit 2 ;;
esac
