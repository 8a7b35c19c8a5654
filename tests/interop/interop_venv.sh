#!/usr/bin/env bash
# The independent C2SP implementation for tests/interop: aics-witness + aics-tlog (PyPI), which
# need Python >= 3.12, in a virtualenv of their own (var/interop-venv, ignored by git), pinned by
# tests/interop/requirements.txt. The project's .venv (Python 3.11) never sees them.
#
#   tests/interop/interop_venv.sh [install]   install unless already done; print the venv's python
#
# The interpreter: $QMC_PYTHON312 if set, else the first of python3.12, python3.13 and pyenv's
# 3.12.x / 3.13.x that runs and is >= 3.12. Exit status 3: none found. The pytest fixtures
# (tests/interop/conftest.py) call `install` themselves; `make test` runs it first (interop-deps).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${QMC_INTEROP_VENV:-$root/var/interop-venv}
req=$here/requirements.txt

find_python() {
  local c candidates=()
  [[ -n ${QMC_PYTHON312:-} ]] && candidates+=("$QMC_PYTHON312")
  candidates+=(python3.12 python3.13)
  if command -v pyenv >/dev/null; then
    for c in "$(pyenv root)"/versions/3.1[23].*/bin/python3; do candidates+=("$c"); done
  fi
  for c in "${candidates[@]}"; do
    # a pyenv shim for a version that is not selected exits non-zero here, and is skipped
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$c"; return
    fi
  done
  echo "no Python >= 3.12 found (set QMC_PYTHON312)" >&2
  exit 3
}

install() {
  local stamp py=$dest/bin/python
  stamp=$dest/.installed-$(sha256sum <"$req" | cut -c1-12)
  if [[ -x $py && -f $stamp ]]; then echo "$py"; return; fi
  mkdir -p "$(dirname "$dest")"
  if command -v flock >/dev/null; then exec 9>"$dest.lock"; flock 9; fi  # one installer at a time
  if [[ -x $py && -f $stamp ]]; then echo "$py"; return; fi
  local python
  python=$(find_python)
  rm -rf "$dest"  # a half-made venv (no stamp) is rebuilt from scratch
  "$python" -m venv "$dest"
  "$py" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
  "$py" -m pip check >&2
  touch "$stamp"
  echo "$py"
}

case ${1:-install} in
  install) install ;;
  *) echo "usage: $0 [install]" >&2; exit 2 ;;
esac
