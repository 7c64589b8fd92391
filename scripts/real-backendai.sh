#!/usr/bin/env bash
# The real Backend.AI manager 26.9.6 on this machine, as a judge for the tests (docs/real-backendai.md).
#
#   eval "$(bash scripts/real-backendai.sh up)"   # install once, start everything, print the settings
#   bash scripts/real-backendai.sh status          # what runs, with pids and ports
#   bash scripts/real-backendai.sh down            # stop exactly what `up` started
#   bash scripts/real-backendai.sh install         # only the one-time installation (scripts/setup)
#
# `up` starts PostgreSQL, Redis, etcd, the manager and a dummy-mode agent that runs real code
# (tests/support/realbackendai/agent_plugin) on free loopback ports, restores the seeded snapshot
# (made once, after the first seeding), waits until the agent is ALIVE, and prints `export`
# lines on stdout; everything else goes to stderr. Keys are generated at the first seeding.
# Needs root (PostgreSQL runs as the postgres user, kernel runners need `unshare --mount`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${BAI_REALBACKENDAI_VENV:-$REPO/.venv-real-backendai}
PINS=$REPO/requirements/real-backendai-26.09.txt
KPINS=$REPO/requirements/real-backendai-kernel-26.09.txt
SUPPORT=$REPO/tests/support/realbackendai
# One state folder per checkout, outside /home (kernel runners get a private /home) and outside
# the repository: kvenv/ + jupyter/ (installed once), seed/ (snapshot and keys), run/ (one `up`).
STATE=${BAI_REALBACKENDAI_STATE:-/var/tmp/bai-lsp-realbackendai/$(printf %s "$REPO" | sha256sum | cut -c1-12)}
KVENV=$STATE/kvenv
SEED=$STATE/seed
RUN=$STATE/run
LOGS=$RUN/logs
PGBIN=/usr/lib/postgresql/15/bin
PY313=${BAI_REALBACKENDAI_PYTHON:-}
export DOCKER_HOST=unix://$STATE/no-docker.sock # the manager and agent build a Docker client eagerly

say() { echo "[real-backendai] $*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pidof_file() { [ -f "$1" ] && head -1 "$1" || true; }

case "$STATE/" in /home/*) die "the state folder $STATE must not be under /home (runners get a private /home)" ;; esac

# ------------------------------------------------------------------------------------ install
find_python313() {
  [ -n "$PY313" ] && { echo "$PY313"; return; }
  local c
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13; do
    [ -x "$c" ] && { echo "$c"; return; }
  done
  die "Python 3.13 not found (pyenv versions/3.13*, /usr/bin/python3.13); set BAI_REALBACKENDAI_PYTHON"
}

install_debian() {
  local missing=() b
  for b in $PGBIN/postgres $PGBIN/initdb /usr/bin/pg_restore /usr/bin/redis-server /usr/bin/etcd /usr/bin/etcdctl /usr/bin/unshare /usr/bin/setpriv; do
    [ -x "$b" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; as root: apt-get install postgresql redis-server etcd-server etcd-client"
  say "installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # the packages' own services are not wanted: this script starts its daemons itself
  apt-get install -y -qq --no-install-recommends postgresql redis-server etcd-server etcd-client util-linux >&2
}

install_venv() { # $1 venv, $2 pins, $3... what to check
  local venv=$1 pins=$2 stamp
  stamp=$venv/.installed-$(sha256sum "$pins" | cut -c1-16)
  [ -f "$stamp" ] && return
  say "installing $(basename "$venv") from $(basename "$pins")"
  local py
  py=$(find_python313)
  [ -x "$venv/bin/python" ] || PYENV_VERSION=3.13 "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --prefer-binary -r "$pins" >&2
  rm -f "$venv"/.installed-*
  touch "$stamp"
}

do_install() {
  local t0
  t0=$(now)
  install_debian
  install_venv "$VENV" "$PINS"
  mkdir -p "$STATE"
  install_venv "$KVENV" "$KPINS"
  # the Jupyter kernel the runner starts for query mode (its name must contain "python")
  mkdir -p "$STATE/jupyter/kernels/python3"
  cat >"$STATE/jupyter/kernels/python3/kernel.json" <<EOF
{"argv": ["$KVENV/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python 3 (bai-lsp real-manager tests)", "language": "python"}
EOF
  say "install: ready ($(since "$t0") s)"
}

# ------------------------------------------------------------------------------------ config
pick_ports() { # free loopback ports for every listener, and a window for the runners' ports
  "$VENV/bin/python" - <<'EOF'
import random, socket
names = ["PG_PORT", "REDIS_PORT", "ETCD_PORT", "ETCD_PEER_PORT", "MANAGER_PORT", "MANAGER_INTERNAL_PORT",
         "AGENT_RPC_PORT", "AGENT_SERVICE_PORT", "AGENT_SOCK_PORT", "WATCHER_PORT"]
held = []
for name in names:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    print(f"{name}={s.getsockname()[1]}")
def free(p):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        return True
# runner ports: a window below the kernel's ephemeral range; the agent skips ports found taken
for _ in range(50):
    base = random.randrange(20000, 28000, 100)
    if all(free(p) for p in range(base, base + 200, 7)):
        break
print(f"RUNNER_PORT_FIRST={base}\nRUNNER_PORT_LAST={base + 399}")
EOF
}

write_config() {
  mkdir -p "$RUN/etc" "$RUN/ipc" "$RUN/agent-var" "$RUN/vfroot" "$RUN/scratches"
  cat >"$RUN/etc/manager.toml" <<EOF
[etcd]
namespace = "local"
addr = { host = "127.0.0.1", port = $ETCD_PORT }
user = ""
password = ""

[db]
type = "postgresql"
addr = { host = "127.0.0.1", port = $PG_PORT }
name = "backend"
user = "postgres"
password = "unused-trust-auth"

[manager]
num-proc = 1
service-addr = { host = "127.0.0.1", port = $MANAGER_PORT }
internal-addr = { host = "127.0.0.1", port = $MANAGER_INTERNAL_PORT }
ssl-enabled = false
heartbeat-timeout = 40.0
ipc-base-path = "$RUN/ipc"
pid-file = "$RUN/manager.pidfile"
rpc-auth-manager-keypair = "$SEED/curve/manager.key_secret"
disabled-plugins = []
hide-agents = false

[redis]
addr = { host = "127.0.0.1", port = $REDIS_PORT }

[docker-registry]
ssl-verify = false

[pyroscope]
enabled = false

[logging]
level = "INFO"
drivers = ["console"]

[logging.pkg-ns]
"" = "WARNING"
"ai.backend" = "INFO"
"aiohttp" = "WARNING"
"sqlalchemy" = "WARNING"

[logging.console]
colored = false
format = "verbose"

[debug]
enabled = false

[otel]
enabled = false
EOF
  cat >"$RUN/etc/alembic.ini" <<EOF
[alembic]
script_location = ai.backend.manager.models:alembic
sqlalchemy.url = postgresql+asyncpg://postgres:unused-trust-auth@127.0.0.1:$PG_PORT/backend

[loggers]
keys = root
[handlers]
keys = stderr
[formatters]
keys = plain
[logger_root]
level = WARN
handlers = stderr
[handler_stderr]
class = StreamHandler
args = (sys.stderr,)
formatter = plain
[formatter_plain]
format = %(levelname)s %(name)s %(message)s
EOF
  cat >"$RUN/etc/agent.toml" <<EOF
[etcd]
namespace = "local"
addr = { host = "127.0.0.1", port = $ETCD_PORT }
user = ""
password = ""

[agent]
mode = "dummy"
id = "i-bai-lsp-realexec"
rpc-listen-addr = { host = "127.0.0.1", port = $AGENT_RPC_PORT }
service-addr = { host = "127.0.0.1", port = $AGENT_SERVICE_PORT }
agent-sock-port = $AGENT_SOCK_PORT
ssl-enabled = false
initial-resource-group-name = "default"
pid-file = "$RUN/agent.pidfile"
event-loop = "asyncio"
ipc-base-path = "$RUN/ipc"
var-base-path = "$RUN/agent-var"
image-commit-path = "$RUN/agent-var/commit/"
mount-path = "$RUN/vfroot"
cohabiting-storage-proxy = false

[container]
port-range = [$RUNNER_PORT_FIRST, $RUNNER_PORT_LAST]
kernel-uid = -1
kernel-gid = -1
bind-host = "127.0.0.1"
sandbox-type = "docker"
scratch-type = "hostdir"
scratch-root = "$RUN/scratches"
scratch-size = "1G"

[watcher]
service-addr = { host = "127.0.0.1", port = $WATCHER_PORT }
ssl-enabled = false
target-service = "backendai-agent.service"
soft-reset-available = false

[pyroscope]
enabled = false

[logging]
level = "INFO"
drivers = ["console"]

[logging.pkg-ns]
"" = "WARNING"
"ai.backend" = "INFO"

[logging.console]
colored = false
format = "verbose"

[resource]
reserved-cpu = 0
reserved-mem = "256M"
reserved-disk = "1G"
allocation-order = ["cpu", "mem"]
affinity-policy = "INTERLEAVED"

[debug]
enabled = false
skip-container-deletion = false

[otel]
enabled = false
EOF
  # the dummy agent reads ./agent.dummy.toml from its working folder; no artificial delays, and
  # the real (ZeroMQ) code runner aimed at our kernel runners instead of the fake one
  {
    echo '[agent.delay]'
    for k in scan-image pull-image push-image purge-images destroy-kernel clean-kernel create-network destroy-network; do
      echo "$k = 0.0"
    done
    printf '\n[agent.image]\nalready-have = []\nneed-to-pull = []\nmissing = []\n'
    # what the scheduler may hand out (runners are cheap; 64 sessions fit at 0.1 CPU / 64 MiB each)
    printf '\n[agent.resource.cpu]\nnum-core = 8\n\n[agent.resource.memory]\nsize = 17179869184\n'
    echo; echo '[kernel-creation-ctx.delay]'
    for k in prepare-scratch prepare-ssh spawn start-container mount-krunner; do echo "$k = 0.0"; done
    printf '\n[kernel]\nuse-fake-code-runner = false\n\n[kernel.delay]\n'
    for k in check-status get-completions get-logs interrupt-kernel start-service start-model-service \
      shutdown-service commit get-service-apps accept-file download-file download-single list-files; do
      echo "$k = 0.0"
    done
  } >"$RUN/etc/agent.dummy.toml"
  # etcd: where Redis is, the idle checker (26.9 names it network_timeout; each keypair policy's
  # idle_timeout overrides the threshold), the registry of the seeded image, no storage proxies
  cat >"$RUN/etc/etcd-config.json" <<EOF
{"system": {"timezone": "UTC"},
 "redis": {"addr": "127.0.0.1:$REDIS_PORT"},
 "docker": {"registry": {"cr.backend.ai": {"": "https://cr.backend.ai", "type": "harbor2", "project": "stable"}}},
 "idle": {"enabled": "network_timeout", "app-streaming-packet-timeout": "5m", "checkers": {"network_timeout": {"threshold": "10m"}}},
 "network": {"subnet": {"agent": "0.0.0.0/0", "container": "0.0.0.0/0"}, "overlay": {"mtu": 1500}},
 "watcher": {"token": "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"},
 "plugins": {"accelerator": {}, "scheduler": {"fifo": {"num_retries_to_skip": 3}}}}
EOF
  echo '{"_types": {"group": "", "user": ""}, "exposed_volume_info": "percentage", "proxies": {}}' >"$RUN/etc/etcd-volumes.json"
}

# ------------------------------------------------------------------------------------ daemons
# Every daemon runs in the foreground in its own session (setsid), so its pid is the pid of a
# process group `down` can end whole; the pid goes to $RUN/pids/NAME.
# Each also carries BAI_REALBACKENDAI_MARK in its environment, which its children inherit (and the
# agent passes on to kernel runners): `down` finds any straggler by it.
start_daemon() { # NAME COMMAND...
  local name=$1
  shift
  setsid env BAI_REALBACKENDAI_MARK="$STATE" "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/pids/$name"
  echo $! >>"$RUN/sessions" # kept after down: its children stay in this session
}

wait_until() { # SECONDS WHAT COMMAND...: poll every 0.2 s
  local seconds=$1 what=$2 until
  until=$(($(date +%s) + seconds))
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$until" ] || die "$what not ready after $seconds s (logs: $LOGS)"
    sleep 0.2
  done
}

psql_() { PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$ETCD_PORT" "$@"; }
manager_answers() { curl -sf -m 2 "http://127.0.0.1:$MANAGER_PORT/" >/dev/null; }
agent_alive() { [ "$(psql_ -c "select status from agents where id = 'i-bai-lsp-realexec'" backend 2>/dev/null)" = ALIVE ]; }
# a daemon that died is reported at once, not after the wait
manager_up() { alive "$(pidof_file "$RUN/pids/manager")" || die "the manager exited (see $LOGS/manager.log)"; manager_answers; }
agent_up() { alive "$(pidof_file "$RUN/pids/agent")" || die "the agent exited (see $LOGS/agent.log)"; agent_alive; }
mgr_cli() { (cd "$RUN/etc" && "$VENV/bin/backend.ai" mgr -f "$RUN/etc/manager.toml" "$@"); }

start_stores() {
  local t0
  t0=$(now)
  mkdir -p "$RUN/pgdata" "$RUN/etcd-data"
  chown postgres:postgres "$RUN/pgdata"
  setpriv --reuid=postgres --regid=postgres --init-groups $PGBIN/initdb -D "$RUN/pgdata" -U postgres \
    --auth=trust -E UTF8 --no-sync >"$LOGS/initdb.log" 2>&1 || die "initdb failed (see $LOGS/initdb.log)"
  start_daemon postgres setpriv --reuid=postgres --regid=postgres --init-groups $PGBIN/postgres \
    -D "$RUN/pgdata" -h 127.0.0.1 -p "$PG_PORT" -c unix_socket_directories= -c max_connections=200 -c fsync=off \
    -c synchronous_commit=off -c full_page_writes=off
  start_daemon redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$RUN"
  start_daemon etcd etcd --name bai-lsp --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "bai-lsp=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_until 30 PostgreSQL $PGBIN/pg_isready -h 127.0.0.1 -p "$PG_PORT" -q
  wait_until 30 Redis redis-cli -p "$REDIS_PORT" ping
  wait_until 30 etcd etcdctl_ endpoint health
  say "stores: PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, etcd :$ETCD_PORT ($(since "$t0") s)"
}

start_manager() {
  local t0
  t0=$(now)
  (cd "$RUN/etc" && start_daemon manager "$VENV/bin/backend.ai" mgr -f "$RUN/etc/manager.toml" start-server)
  wait_until 120 "the manager (:$MANAGER_PORT)" manager_up
  say "manager: http://127.0.0.1:$MANAGER_PORT ($(since "$t0") s)"
}

start_agent() {
  local t0
  t0=$(now)
  (cd "$RUN/etc" && start_daemon agent env PYTHONPATH="$SUPPORT/agent_plugin" PYTHONDONTWRITEBYTECODE=1 \
    BAI_REALEXEC_STATE="$STATE" BAI_REALEXEC_KVENV="$KVENV" \
    "$VENV/bin/backend.ai" ag -f "$RUN/etc/agent.toml" start-server)
  wait_until 90 "the agent (ALIVE)" agent_up
  say "agent: ALIVE ($(since "$t0") s)"
}

# ------------------------------------------------------------------------------------ seed / restore
SEED_FORMAT=2 # bump when what seed_first_time writes changes (configs in the etcd dump, steps)
seed_stamp() { { echo "$SEED_FORMAT"; cat "$SUPPORT/seed.py" "$PINS"; } | sha256sum | cut -c1-16; }

seed_first_time() { # schema + fixtures + memberships through the API, then the snapshot
  local t0
  t0=$(now)
  say "seeding (first time for this state folder)"
  rm -rf "$SEED"
  mkdir -p "$SEED/curve"
  for n in manager agent; do
    "$VENV/bin/python" -c "import sys, zmq.auth; zmq.auth.create_certificates(sys.argv[1], sys.argv[2])" "$SEED/curve" "$n"
  done
  chmod 600 "$SEED"/curve/*.key_secret
  "$VENV/bin/python" "$SUPPORT/seed.py" "$SEED/fixture.json" "$SEED/keys.env"
  psql_ -c "CREATE DATABASE backend" postgres
  mgr_cli schema oneshot --alembic-config "$RUN/etc/alembic.ini" >"$LOGS/seed-schema.log" 2>&1 || die "schema oneshot failed (see $LOGS/seed-schema.log)"
  mgr_cli fixture populate "$SEED/fixture.json" >"$LOGS/seed-fixture.log" 2>&1 || die "fixture populate failed (see $LOGS/seed-fixture.log)"
  mgr_cli image alias python cr.backend.ai/stable/python:3.13-ubuntu24.04 x86_64 >"$LOGS/seed-alias.log" 2>&1 || die "image alias failed (see $LOGS/seed-alias.log)"
  (cd "$RUN/etc" && mgr_cli etcd put-json config etcd-config.json && mgr_cli etcd put-json volumes etcd-volumes.json) >"$LOGS/seed-etcd.log" 2>&1 || die "etcd put-json failed (see $LOGS/seed-etcd.log)"
  start_manager
  # fixture rows do not make users members of their project in 26.9's membership graph: the API does
  # shellcheck disable=SC1091
  (. "$SEED/keys.env" && BACKEND_ENDPOINT=http://127.0.0.1:$MANAGER_PORT BACKEND_ACCESS_KEY=$ADMIN_ACCESS_KEY \
    BACKEND_SECRET_KEY=$ADMIN_SECRET_KEY BACKEND_ENDPOINT_TYPE=api "$VENV/bin/python" - "$PROJECT_ID" \
    "$ADMIN_USER_ID" "$IDLER_USER_ID" >"$LOGS/seed-members.log" 2>&1 <<'EOF'
import sys
from ai.backend.client.session import Session
with Session() as api:
    for user in sys.argv[2:]:
        answer = api.Group.add_users(sys.argv[1], [user])
        assert answer.get("ok"), answer
EOF
  ) || die "adding project members failed (see $LOGS/seed-members.log)"
  pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres -Fc backend >"$SEED/backend.pgdump"
  etcdctl_ get --prefix /sorna -w json >"$SEED/etcd.json"
  seed_stamp >"$SEED/stamp"
  say "seeded and snapshotted ($(since "$t0") s)"
}

restore_snapshot() {
  local t0
  t0=$(now)
  psql_ -c "CREATE DATABASE backend" postgres
  pg_restore -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -d backend --no-owner "$SEED/backend.pgdump" 2>"$LOGS/restore-db.log" || die "pg_restore failed (see $LOGS/restore-db.log)"
  # etcd: the snapshot's keys, with this run's Redis address
  "$VENV/bin/python" - "$SEED/etcd.json" "$REDIS_PORT" <<'EOF' | while IFS= read -r -d '' key && IFS= read -r -d '' value; do etcdctl_ put -- "$key" "$value" >/dev/null; done
import base64, json, sys
dump = json.load(open(sys.argv[1]))
for kv in dump.get("kvs", []):
    key, value = base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")).decode()
    if key == "/sorna/local/config/redis/addr":
        value = f"127.0.0.1:{sys.argv[2]}"
    sys.stdout.write(f"{key}\0{value}\0")
EOF
  [ "$(etcdctl_ get --print-value-only /sorna/local/config/redis/addr)" = "127.0.0.1:$REDIS_PORT" ] ||
    die "etcd restore: /sorna/local/config/redis/addr is not 127.0.0.1:$REDIS_PORT"
  say "snapshot restored ($(since "$t0") s)"
}

# ------------------------------------------------------------------------------------ up / down / status
settings() { # what a shell evals
  # shellcheck disable=SC1091
  . "$SEED/keys.env"
  cat <<EOF
export BACKEND_ENDPOINT=http://127.0.0.1:$MANAGER_PORT
export BACKEND_ENDPOINT_TYPE=api
export BACKEND_ACCESS_KEY=$ADMIN_ACCESS_KEY
export BACKEND_SECRET_KEY=$ADMIN_SECRET_KEY
export BAI_REALBACKENDAI_STATE=$STATE
export BAI_REALBACKENDAI_IDLER_ACCESS_KEY=$IDLER_ACCESS_KEY
export BAI_REALBACKENDAI_IDLER_SECRET_KEY=$IDLER_SECRET_KEY
export BAI_REALBACKENDAI_IDLE_TIMEOUT_S=$IDLE_TIMEOUT_S
EOF
}

running() { [ -f "$RUN/ports.env" ] && alive "$(pidof_file "$RUN/pids/manager")" && alive "$(pidof_file "$RUN/pids/agent")"; }

do_up() {
  local t0
  t0=$(now)
  [ "$(id -u)" = 0 ] || die "needs root (PostgreSQL runs as postgres; kernel runners need unshare --mount)"
  do_install
  if running; then
    # shellcheck disable=SC1091
    . "$RUN/ports.env"
    if manager_answers && agent_alive; then
      say "already up"
      settings
      return
    fi
  fi
  do_down_quiet
  rm -rf "$RUN"
  mkdir -p "$RUN/pids" "$LOGS"
  pick_ports >"$RUN/ports.env"
  # shellcheck disable=SC1090
  . "$RUN/ports.env"
  write_config
  start_stores
  if [ -f "$SEED/stamp" ] && [ "$(cat "$SEED/stamp")" = "$(seed_stamp)" ]; then
    restore_snapshot
    start_manager
  else
    seed_first_time
  fi
  start_agent
  say "up in $(since "$t0") s (state: $STATE)"
  settings
}

stop_group() { # NAME GRACE_S: SIGTERM to the process group, SIGKILL to what is left after GRACE_S
  local pid
  pid=$(pidof_file "$RUN/pids/$1")
  [ -n "$pid" ] || return 0
  if kill -0 -- "-$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < $2 * 5; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/pids/$1"
}

stop_runners() {
  local f pid
  for f in "$RUN"/scratches/*/runner.pid; do
    [ -f "$f" ] || continue
    pid=$(pidof_file "$f")
    kill -TERM -- "-$pid" 2>/dev/null || true
    sleep 0.5
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

do_down_quiet() {
  [ -d "$RUN/pids" ] || return 0
  stop_group agent 15
  stop_runners
  stop_group manager 20
  stop_group etcd 10
  stop_group redis 10
  stop_group postgres 20
}

do_down() {
  local t0
  t0=$(now)
  do_down_quiet
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then
    # ours by their mark, yet outside every group we ended: a bug to report, after cleaning up
    ps -o pid,pgid,sid,args -p "${left// /,}" >&2 || true
    kill -KILL $left 2>/dev/null || true
    die "processes were left behind (killed now): $left"
  fi
  say "down in $(since "$t0") s"
}

leftovers() { # live processes carrying this state folder's mark, or in a session `up` started
  # (PostgreSQL and the manager's workers overwrite their environment with their titles)
  {
    grep -lzxF "BAI_REALBACKENDAI_MARK=$STATE" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
    [ -f "$RUN/sessions" ] && awk -v list="$(tr '\n' ' ' <"$RUN/sessions")" '
      BEGIN { n = split(list, s, " "); for (i = 1; i <= n; i++) ours[s[i]] = 1 }
      { line = $0; sub(/.*\) /, "", line); split(line, f, " "); if (f[4] in ours) print FILENAME }
    ' /proc/[0-9]*/stat 2>/dev/null | cut -d/ -f3
  } | sort -un | grep -vx "$$" | tr '\n' ' ' || true
}

do_status() {
  [ -f "$RUN/ports.env" ] || {
    echo "not up (state: $STATE)"
    return
  }
  # shellcheck disable=SC1090
  . "$RUN/ports.env"
  local n pid
  for n in postgres redis etcd manager agent; do
    pid=$(pidof_file "$RUN/pids/$n")
    if alive "$pid"; then echo "$n: running (pid $pid)"; else echo "$n: not running"; fi
  done
  local f
  for f in "$RUN"/scratches/*/runner.pid; do
    [ -f "$f" ] && alive "$(pidof_file "$f")" && echo "runner $(basename "$(dirname "$f")"): running (pid $(pidof_file "$f"))"
  done
  echo "manager: http://127.0.0.1:$MANAGER_PORT $(curl -s -m 2 "http://127.0.0.1:$MANAGER_PORT/" || echo '(not answering)')"
  echo "state: $STATE"
}

case "${1:-}" in
  up) do_up ;;
  down) do_down ;;
  status) do_status ;;
  install) do_install ;;
  *)
    echo "usage: $0 up|down|status|install" >&2
    exit 2
    ;;
esac
