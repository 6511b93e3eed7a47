#!/usr/bin/env bash
# Creates .venv holding exactly requirements/lock.txt (every package, direct and transitive, at one version)
# plus finecliper itself, editable. Safe to rerun: it brings an existing .venv back to the lock.
#
#   FINECLIPER_INSTALLER=uv|pip   uv (default: from PATH, else bootstrapped at the lock's version with pip),
#                                 or plain pip for machines where uv cannot run (slower; it cannot remove
#                                 packages the lock dropped: recreate .venv for that).
#   FINECLIPER_TORCH="REQ [OPTIONS]"   your own torch build instead of the lock's CPU build, e.g.
#                                 "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128".
#                                 torch then comes with its own dependencies; all else stays the lock's.
#   PYTHON=python3.11             the interpreter for the venv (the lock is resolved for CPython 3.11).
#
# torch goes in first and by itself: the lock pins the CPU build (+cpu), which pip's find-links folder holds
# on these machines and PyTorch's CPU index holds elsewhere; an unpinned torch would pull GBs of CUDA wheels.
# The last step is scripts/check_lock.py: the environment must equal the lock, or setup fails.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements/lock.txt
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
installer=${FINECLIPER_INSTALLER:-uv}
say() { echo "setup: $*" >&2; }
fail() { say "$*"; exit 2; }
case "$installer" in uv|pip) ;; *) fail "FINECLIPER_INSTALLER must be 'uv' or 'pip', not '$installer'." ;; esac

# The interpreter: the lock holds CPython 3.11 wheels.
is_311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
PY=${PYTHON:-python3}
if ! is_311 "$PY" && [ -z "${PYTHON:-}" ] && command -v python3.11 >/dev/null; then PY=python3.11; fi
is_311 "$PY" || fail "requirements/lock.txt is resolved for CPython 3.11 and '$PY' is another version; set PYTHON=/path/to/python3.11 (or pip install -e . into an environment of your own)."
if [ -x .venv/bin/python ] && ! is_311 .venv/bin/python; then
  fail ".venv was made with another Python version; remove it (rm -r .venv) and run this again."
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python

lock_pin() { grep -m1 "^$1==" "$LOCK"; }
torch_pin=$(lock_pin torch)
# Folders pip is told to find wheels in (PIP_FIND_LINKS, pip.conf): where these machines keep torch's CPU build.
link_dirs=()
for dir in ${PIP_FIND_LINKS:-} $("$VPY" -m pip config get global.find-links 2>/dev/null || true); do
  [ -d "$dir" ] && link_dirs+=("$dir")
done
links=()
for dir in "${link_dirs[@]}"; do links+=(--find-links "$dir"); done
torch_wheel_nearby() {
  local dir
  for dir in "${link_dirs[@]}"; do
    compgen -G "$dir/torch-${torch_pin#torch==}-*.whl" >/dev/null && return 0
  done
  return 1
}
lock_without_torch=$(mktemp)
trap 'rm -f "$lock_without_torch"' EXIT
grep -v '^torch==' "$LOCK" > "$lock_without_torch"

if [ "$installer" = uv ]; then
  uv=$(command -v uv || true)
  if [ -z "$uv" ]; then
    [ -x .venv/bin/uv ] || "$VPY" -m pip install -q --disable-pip-version-check "$(lock_pin uv)"
    uv=.venv/bin/uv
  fi
  install() { "$uv" pip install --quiet --python "$VPY" "$@"; }
else
  install() { "$VPY" -m pip install --quiet --disable-pip-version-check "$@"; }
fi

if [ -n "${FINECLIPER_TORCH:-}" ]; then
  say "torch: $FINECLIPER_TORCH (yours; the lock pins $torch_pin)"
  # shellcheck disable=SC2086  # the variable holds a requirement and its installer options
  install $FINECLIPER_TORCH
  echo "$FINECLIPER_TORCH" > .venv/finecliper-torch.txt
else
  if torch_wheel_nearby; then torch_source=("${links[@]}"); else torch_source=(--index-url "$TORCH_CPU_INDEX"); fi
  install --no-deps "${torch_source[@]}" "$torch_pin"
  rm -f .venv/finecliper-torch.txt
fi

say "installing requirements/lock.txt with $installer"
if [ "$installer" = uv ] && [ -z "${FINECLIPER_TORCH:-}" ]; then
  # sync also removes what is not in the lock; torch, installed above, already satisfies its pin.
  "$uv" pip sync --quiet --python "$VPY" "${links[@]}" "$LOCK"
else
  install --no-deps -r "$lock_without_torch"
fi
# finecliper itself, built with the lock's setuptools rather than a freshly downloaded one.
install --no-deps --no-build-isolation -e .
"$VPY" scripts/check_lock.py
