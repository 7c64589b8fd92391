#!/usr/bin/env bash
# The real Backend.AI manager 26.9.6 the realmgr tests run against (docs/real-backendai.md):
# Debian postgresql/redis/etcd, .venv-real-backendai and the kernel Python. Installs what is
# missing, once; a fast no-op afterwards. Starting the cluster is the test fixture's job.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/real-backendai.sh install
