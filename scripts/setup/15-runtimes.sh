#!/usr/bin/env bash
# Tools the embedded gateway's runners call (docs/images.md): bash, gcc + make (c images and
# Makefiles), node (node images), stdbuf and setsid (line-buffered C prompts, the pty's
# controlling terminal). Installed from Debian packages when missing; fast no-op otherwise.
set -euo pipefail
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need bash bash
need gcc gcc
need make make
need stdbuf coreutils
need setsid util-linux
need node nodejs
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "15-runtimes.sh: please install: ${missing[*]} (needed by the gateway's runners)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
