#!/usr/bin/env bash
# The project's own venv (.venv) with bai-lsp installed editable and every pinned dependency.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
