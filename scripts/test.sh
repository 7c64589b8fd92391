#!/usr/bin/env bash
# Everything CI checks, from a fresh clone: installs what is missing, then lint, types, tests.
set -uo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup/*.sh; do
  echo "== setup: $step" >&2
  bash "$step" || { echo "setup step failed: $step" >&2; exit 1; }
done
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check bai_lsp tests benchmarks || exit 1
.venv/bin/mypy || exit 1
.venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
rc=$?
# pytest's 5 means "no tests collected" (e.g. a -k filter matched nothing): not a failure.
[ "$rc" -eq 5 ] && rc=0
exit "$rc"
