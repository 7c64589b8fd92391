#!/usr/bin/env bash
# The newest official Backend.AI client SDK (backend.ai-client 26.9.6) in its own venv,
# .venv-sdk-26, on Python 3.13 (it needs ≥ 3.13). tests/sdk run every example and CLI test
# with it too, against the gateway advertising v9 and v7 (see docs/dialects.md). Every
# package is pinned by requirements/sdk-26.09.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${SDK26_VENV:-.venv-sdk-26}
PINS=requirements/sdk-26.09.txt
stamp=$VENV/.installed-$(sha256sum "$PINS" "$0" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ -x "$VENV/bin/backend.ai" ]; then
  exit 0
fi
find_python() {
  if [ -n "${SDK26_PYTHON:-}" ]; then echo "$SDK26_PYTHON"; return; fi
  # pyenv's shim refuses python3.13 unless 3.13 is selected; ask for it explicitly.
  if PYENV_VERSION=3.13.0 python3.13 -c '' 2>/dev/null; then echo python3.13; return; fi
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo ""
}
PY=$(find_python)
if [ -z "$PY" ]; then
  echo "25-sdk-newest.sh: backend.ai-client 26.9.6 needs Python 3.13 (python3.13 not found;" \
    "set SDK26_PYTHON)" >&2
  exit 1
fi
if ! PYENV_VERSION=3.13.0 "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then
  echo "25-sdk-newest.sh: $PY is not Python 3.13" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  PYENV_VERSION=3.13.0 "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q -c "$PINS" "backend.ai-client==26.9.6"
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version

import ai.backend.client.session  # noqa: F401  (the SDK imports cleanly)

assert version("backend.ai-client") == "26.9.6", version("backend.ai-client")
PY
rm -f "$VENV"/.installed-*
touch "$stamp"
