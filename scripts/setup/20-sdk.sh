#!/usr/bin/env bash
# The official Backend.AI client SDK (backend.ai-client 23.9.10) in its own venv, .venv-sdk.
# tests/sdk drive it against the embedded gateway. It pins aiohttp 3.8 and needs Python 3.11,
# so it never shares the project's .venv. Every package is pinned by requirements/sdk-23.09.txt
# (yarl<=1.17.0 in particular: newer yarl breaks the 23.9.10 client's request signing).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-sdk
PINS=requirements/sdk-23.09.txt
stamp=$VENV/.installed-$(sha256sum "$PINS" "$0" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ -x "$VENV/bin/backend.ai" ]; then
  exit 0
fi
PY=${SDK_PYTHON:-python3.11}
if ! command -v "$PY" >/dev/null; then
  PY=python3
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "20-sdk.sh: backend.ai-client 23.9.10 needs Python 3.11; $PY is $("$PY" --version 2>&1)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q -c "$PINS" "backend.ai-client==23.9.10" "yarl<=1.17.0"
# Fail here, not in the tests, if the pins ever drift into a broken combination.
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version

import ai.backend.client.session  # noqa: F401  (the SDK imports cleanly)
import yarl

assert version("backend.ai-client") == "23.9.10", version("backend.ai-client")
assert tuple(int(p) for p in yarl.__version__.split(".")[:3]) <= (1, 17, 0), yarl.__version__
PY
rm -f "$VENV"/.installed-*
touch "$stamp"
