#!/usr/bin/env bash
# The main job on a fresh machine: install, then run a real file on the embedded gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup/10-python.sh
exec .venv/bin/bai-lsp run "${1:-examples/hello.py}" "${@:2}"
