#!/usr/bin/env bash
# scripts/bench/peer.sh -- our control plane + data plane as ONE foreground peer for /work/shared/bench.
#
# Usage: peer.sh LISTEN_PORT ORIGIN RUNDIR
#   LISTEN_PORT  127.0.0.1 port of the data plane's HTTP listener   (harness: {PORT})
#   ORIGIN       host:port of the origin the site points at          (harness: {ORIGIN})
#   RUNDIR       directory for the generated config, DB and token     (harness: {RUN})
# peers.conf line (see README.md):
#   proxy-manager   h1    9108  -   /work/main/scripts/bench/peer.sh {PORT} {ORIGIN} {RUN}
#
# Env: PM_BIN        directory holding controlplane and dataplane (default: <repo>/bin; run `make build`)
#      SITE_HOST     host name the site answers for (default 127.0.0.1: the harness sends no Host header,
#                    so requests carry Host: 127.0.0.1:PORT)
#      OPS_PORT CP_GRPC_PORT CP_ADMIN_PORT   default LISTEN_PORT+1000, +2000, +3000 (all on 127.0.0.1)
#      LOG_LEVEL     default warn
# Starts the control plane, waits until its gRPC port listens, starts the data plane, then waits.
# SIGTERM/SIGINT/SIGHUP are forwarded to both; when either exits, the other is stopped and peer.sh
# exits (status of the one that died, or 0 after a requested stop). Output goes to our stdout/stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if (($# != 3)); then
  echo "usage: $0 LISTEN_PORT ORIGIN(host:port) RUNDIR" >&2
  exit 2
fi
PORT=$1 ORIGIN=$2 RUN=$3
[[ $PORT =~ ^[0-9]+$ ]] || { echo "peer.sh: LISTEN_PORT must be a number, got '$PORT'" >&2; exit 2; }
PM_BIN=${PM_BIN:-$ROOT/bin}
SITE_HOST=${SITE_HOST:-127.0.0.1}
OPS_PORT=${OPS_PORT:-$((PORT + 1000))}
CP_GRPC_PORT=${CP_GRPC_PORT:-$((PORT + 2000))}
CP_ADMIN_PORT=${CP_ADMIN_PORT:-$((PORT + 3000))}
LOG_LEVEL=${LOG_LEVEL:-warn}

for b in controlplane dataplane; do
  [[ -x $PM_BIN/$b ]] || { echo "peer.sh: $PM_BIN/$b not found (make -C $ROOT build)" >&2; exit 1; }
done
for p in "$PORT" "$OPS_PORT" "$CP_GRPC_PORT" "$CP_ADMIN_PORT"; do
  if [[ -n $(ss -ltnH "sport = :$p" 2>/dev/null) ]]; then
    echo "peer.sh: port $p is in use" >&2
    exit 1
  fi
done

D=$RUN/proxy-manager
mkdir -p "$D/sites" "$D/certs"
rm -f "$D/proxy.db" "$D/proxy.db-wal" "$D/proxy.db-shm" "$D/grpc.sock"   # every start is fresh
echo '{}' >"$D/global.yaml"
printf 'host: %s\nbackend: http://%s\n' "$SITE_HOST" "$ORIGIN" >"$D/sites/bench.yaml"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$D/grpc.token")

# inherited PROXY_* variables must not change what we run
CLEAN_ENV=(env)
for v in $(compgen -e); do
  if [[ $v == PROXY_* ]]; then CLEAN_ENV+=(-u "$v"); fi
done

CP_PID="" DP_PID=""
stop_all() {    # TERM both (data plane first), wait up to 8 s, then KILL what is left
  local p i
  trap '' TERM INT HUP
  for p in $DP_PID $CP_PID; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 80; i++)); do
    local left=0
    for p in $DP_PID $CP_PID; do if kill -0 "$p" 2>/dev/null; then left=1; fi; done
    ((left)) || break
    sleep 0.1
  done
  for p in $DP_PID $CP_PID; do kill -KILL "$p" 2>/dev/null || true; done
  for p in $DP_PID $CP_PID; do wait "$p" 2>/dev/null || true; done
}
trap 'stop_all; exit 0' TERM INT HUP

"${CLEAN_ENV[@]}" \
  PROXY_GLOBAL_CONFIG="$D/global.yaml" PROXY_SITES_DIR="$D/sites" PROXY_CERTS_DIR="$D/certs" \
  PROXY_DB_PATH="$D/proxy.db" PROXY_GRPC_ADDR="127.0.0.1:$CP_GRPC_PORT" \
  PROXY_ADMIN_ADDR="127.0.0.1:$CP_ADMIN_PORT" PROXY_GRPC_TOKEN_FILE="$D/grpc.token" \
  PROXY_GRPC_SOCKET="$D/grpc.sock" PROXY_SHUTDOWN_TIMEOUT=5s LOG_LEVEL="$LOG_LEVEL" LOG_FORMAT=json \
  "$PM_BIN/controlplane" </dev/null &
CP_PID=$!

for ((i = 0; i < 200; i++)); do        # up to 20 s for the control plane's gRPC port
  if ! kill -0 "$CP_PID" 2>/dev/null; then
    rc=0
    wait "$CP_PID" || rc=$?
    echo "peer.sh: controlplane exited during start-up (status $rc)" >&2
    exit "$((rc == 0 ? 1 : rc))"
  fi
  if [[ -n $(ss -ltnH "sport = :$CP_GRPC_PORT" 2>/dev/null) ]]; then break; fi
  sleep 0.1
done
if [[ -z $(ss -ltnH "sport = :$CP_GRPC_PORT" 2>/dev/null) ]]; then
  echo "peer.sh: controlplane not listening on 127.0.0.1:$CP_GRPC_PORT after 20 s" >&2
  stop_all
  exit 1
fi

"${CLEAN_ENV[@]}" \
  PROXY_CONTROLPLANE_ADDR="127.0.0.1:$CP_GRPC_PORT" PROXY_GRPC_TOKEN_FILE="$D/grpc.token" \
  PROXY_NODE_ID="bench-$PORT" PROXY_LISTEN_ADDR="127.0.0.1:$PORT" PROXY_OPS_ADDR="127.0.0.1:$OPS_PORT" \
  PROXY_SHUTDOWN_TIMEOUT=5s LOG_LEVEL="$LOG_LEVEL" LOG_FORMAT=json \
  "$PM_BIN/dataplane" -tls-addr= -h3-addr= </dev/null &   # no HTTPS/HTTP3 listeners (default :443, all addresses)
DP_PID=$!

# Until a signal (the trap stops both and exits 0) or until one of the two exits.
rc=0
who=""
wait -n -p who "$CP_PID" "$DP_PID" || rc=$?
name=dataplane
[[ $who == "$CP_PID" ]] && name=controlplane
echo "peer.sh: $name (pid $who) exited with status $rc; stopping the other" >&2
stop_all
exit "$((rc == 0 ? 1 : rc))"
