#!/usr/bin/env bash
# VS Code extension + its real-editor test harness: Debian chromium, the extension's pinned
# npm toolchain, the packaged .vsix, and code-server 4.100.3 + playwright-core for the test.
# Idempotent: every step is skipped when its inputs (lockfiles, sources) did not change.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EXT=$ROOT/editor-clients/vscode
HARNESS=$ROOT/tests/editors/vscode_harness
say() { echo "[30-vscode] $*" >&2; }

# ---- Node 20 (code-server 4.100.3 insists on it) ----
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "node/npm not found: install Node 20 (Debian: the nodesource 20.x packages)"; exit 1
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
if [ "$NODE_MAJOR" != 20 ]; then
  say "Node $NODE_MAJOR found, but code-server 4.100.3 needs Node 20"; exit 1
fi

# ---- Debian packages: chromium (the browser), ripgrep (seed below), headers for native modules ----
need=()
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s ripgrep >/dev/null 2>&1 || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v g++ >/dev/null && command -v make >/dev/null || need+=(g++ make)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${need[*]} (run this script as root once)"; exit 1
  fi
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for i in 1 2 3 4 5 6; do   # other setup steps may hold the dpkg lock for a moment
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
      break
    fi
    [ "$i" = 6 ] && { say "apt-get failed"; exit 1; }
    sleep 10
  done
fi

# node-gyp must use the local Node headers: nodejs.org is not reachable from CI
if [ -f /usr/include/node/node.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---- the extension's toolchain (pinned in package-lock.json) ----
lock_stamp=$(stamp_of "$EXT/package-lock.json")
if [ "$(cat "$EXT/node_modules/.bai-stamp" 2>/dev/null)" != "$lock_stamp" ]; then
  say "npm ci (extension)"
  (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_stamp" > "$EXT/node_modules/.bai-stamp"
fi

# ---- type-check, bundle, package (only when a source changed) ----
src_stamp=$(cd "$EXT" && find src media package.json package-lock.json build.mjs tsconfig.json .vscodeignore README.md LICENSE.md -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f "$EXT/bai-lsp-vscode.vsix" ] || [ "$(cat "$EXT/out/.bai-stamp" 2>/dev/null)" != "$src_stamp" ]; then
  say "type-check and package the .vsix"
  (cd "$EXT" && npx tsc -p . && node build.mjs \
    && npx vsce package --no-dependencies -o bai-lsp-vscode.vsix >/dev/null)
  echo "$src_stamp" > "$EXT/out/.bai-stamp"
fi

# ---- the test harness: code-server 4.100.3 + playwright-core ----
harness_stamp=$(stamp_of "$HARNESS/package-lock.json")
if [ "$(cat "$HARNESS/node_modules/.bai-stamp" 2>/dev/null)" != "$harness_stamp" ]; then
  # @vscode/ripgrep (inside code-server) downloads rg from GitHub; seed its cache with Debian's
  RGC=$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11
  RG_TGZ=$RGC/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
  if [ ! -f "$RG_TGZ" ]; then
    tmp=$(mktemp -d); mkdir -p "$RGC"; cp "$(command -v rg)" "$tmp/rg"
    tar czf "$RG_TGZ" -C "$tmp" rg; rm -rf "$tmp"
  fi
  say "npm ci (code-server 4.100.3 + playwright-core; ~80 s)"
  # root needs unsafe_perm for code-server's postinstall; node-pty's postinstall runs npx node-gyp
  (cd "$HARNESS" && XDG_CONFIG_HOME=$(mktemp -d) npm_config_unsafe_perm=true npm_config_yes=true \
    npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'Unknown env config "unsafe-perm"' >&2 || true)
  [ -x "$HARNESS/node_modules/.bin/code-server" ] || { say "code-server install failed"; exit 1; }
  echo "$harness_stamp" > "$HARNESS/node_modules/.bai-stamp"
fi
say "ready: $(cd "$EXT" && ls bai-lsp-vscode.vsix), code-server $(jq -r .version "$HARNESS/node_modules/code-server/package.json" 2>/dev/null || node -p "require('$HARNESS/node_modules/code-server/package.json').version")"
