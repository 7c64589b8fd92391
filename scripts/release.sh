#!/usr/bin/env bash
# Release artifacts, built from a clean copy of the tree into dist/ (or --out DIR):
#   bai_lsp-V-py3-none-any.whl, bai_lsp-V.tar.gz        the server (wheel and sdist)
#   wheels/                                              bai-lsp and every dependency as wheels
#                                                        for this platform and Python (offline install)
#   bai-lsp-vscode-V-TARGET.vsix                         the VS Code extension with wheels/ inside
#   backendai-nvim-V.tar.gz                              the Neovim plugin with wheels/ inside
#   backendai-V.tar                                      the Emacs package (M-x package-install-file)
#                                                        with wheels/ inside
#   SHA256SUMS
# V is the one version of pyproject.toml, package.json, the Neovim plugin and backendai.el
# (scripts/check_versions.py checks them, the protocol versions and the CHANGELOG section).
#
# Options: --out DIR; --allow-dirty: build the working tree's files (tracked, modified and
# untracked-but-not-ignored) instead of refusing a tree with uncommitted changes; tests use it.
# The binary wheels are those of the Python that runs pip here (PYTHON, default python3.11):
# the artifacts install offline on the same platform with that Python's minor version.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/dist
ALLOW_DIRTY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    --allow-dirty) ALLOW_DIRTY=1; shift ;;
    *) echo "release.sh: unknown option $1 (use --out DIR, --allow-dirty)" >&2; exit 2 ;;
  esac
done
say() { echo "[release] $*" >&2; }
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
PIP_VERSION=25.3          # the pip installed into the editors' private venvs
HATCHLING_VERSION=$(sed -n 's/^hatchling==//p' requirements/constraints.txt)

VERSION=$("$PY" scripts/check_versions.py --changelog) || {
  say "fix the versions above first"; exit 1; }

# ---- a clean copy of the tree ----
if [ "$ALLOW_DIRTY" = 0 ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  say "the tree has uncommitted changes (commit them, or pass --allow-dirty)"; exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SRC=$WORK/src
mkdir -p "$SRC"
if [ "$ALLOW_DIRTY" = 1 ]; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && [ ! -L "$f" ] && printf '%s\0' "$f"; done \
    | xargs -0 cp --parents -t "$SRC"
else
  git archive HEAD | tar -x -C "$SRC"
fi
rm -rf "$OUT"
mkdir -p "$OUT/wheels"

# ---- the server: wheel and sdist (hatchling in a throw-away venv, pinned) ----
say "bai-lsp $VERSION: wheel and sdist"
"$PY" -m venv "$WORK/build-venv"
"$WORK/build-venv/bin/python" -m pip install -q --disable-pip-version-check "hatchling==$HATCHLING_VERSION"
(cd "$SRC" && "$WORK/build-venv/bin/hatchling" build -d "$OUT" >/dev/null)
WHEEL=$OUT/bai_lsp-$VERSION-py3-none-any.whl
[ -f "$WHEEL" ] && [ -f "$OUT/bai_lsp-$VERSION.tar.gz" ] || { say "hatchling built no wheel/sdist"; exit 1; }

# ---- the wheelhouse: bai-lsp, its pinned dependencies (binary ones for this platform), pip ----
say "wheels of the dependencies ($("$PY" --version))"
"$WORK/build-venv/bin/python" -m pip wheel -q --disable-pip-version-check \
  -c requirements/constraints.txt --wheel-dir "$OUT/wheels" "$WHEEL"
"$WORK/build-venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
  -d "$OUT/wheels" "pip==$PIP_VERSION"
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PLATFORM=$("$PY" -c 'import sysconfig; print(sysconfig.get_platform())')
case "$PLATFORM" in
  linux-x86_64) TARGET=linux-x64 ;; linux-aarch64) TARGET=linux-arm64 ;;
  macosx-*-arm64) TARGET=darwin-arm64 ;; macosx-*) TARGET=darwin-x64 ;;
  win-amd64) TARGET=win32-x64 ;; *) TARGET="" ;;
esac
cat > "$OUT/wheels/manifest.json" <<EOF
{"version": "$VERSION", "python": "$PYVER", "platform": "$PLATFORM", "pip": "$PIP_VERSION"}
EOF

# ---- VS Code: the .vsix with the wheels in bundled/wheels ----
say "the VS Code extension"
EXT=$SRC/editor-clients/vscode
if [ -d "$ROOT/editor-clients/vscode/node_modules" ]; then
  ln -s "$(realpath "$ROOT/editor-clients/vscode/node_modules")" "$EXT/node_modules"
else
  (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$EXT/bundled"
cp -r "$OUT/wheels" "$EXT/bundled/wheels"
VSIX=$OUT/bai-lsp-vscode-$VERSION${TARGET:+-$TARGET}.vsix
(cd "$EXT" && npx tsc -p . && node build.mjs \
  && npx vsce package --no-dependencies ${TARGET:+--target "$TARGET"} -o "$VSIX" >/dev/null)

# ---- Neovim: the plugin folder with wheels/ ----
say "the Neovim plugin and the Emacs package"
NV=$WORK/backendai.nvim
cp -r "$SRC/editor-clients/neovim" "$NV"
rm -rf "$NV/tests"
cp -r "$OUT/wheels" "$NV/wheels"
tar -czf "$OUT/backendai-nvim-$VERSION.tar.gz" -C "$WORK" backendai.nvim

# ---- Emacs: a package tar for package-install-file, with wheels/ ----
EL=$WORK/backendai-$VERSION
mkdir -p "$EL"
find "$SRC/editor-clients/emacs" -maxdepth 1 -name 'backendai*.el' ! -name '*-tests.el' \
  -exec cp -t "$EL/" {} +
cp -r "$OUT/wheels" "$EL/wheels"
cat > "$EL/backendai-pkg.el" <<EOF
;; Generated by scripts/release.sh  -*- no-byte-compile: t -*-
(define-package "backendai" "$VERSION" "Run code on Backend.AI compute sessions via eglot"
  '((emacs "28.1") (eglot "1.9") (jsonrpc "1.0.14")))
EOF
tar -cf "$OUT/backendai-$VERSION.tar" -C "$WORK" "backendai-$VERSION"

(cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort \
  | xargs sha256sum > SHA256SUMS)
say "done: $OUT ($(du -sh "$OUT" | cut -f1)): $(cd "$OUT" && ls | tr '\n' ' ')"
