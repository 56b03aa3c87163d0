#!/usr/bin/env bash
# Measure the WAF from the outside, through the running data plane: build the binaries, start an
# origin, the control plane and a data plane on loopback with a temporary configuration (one site,
# host waf.test, WAF on with its defaults: every rule, block mode), replay the shared corpus with
# its evaluator (../shared/waf-corpus/wafeval.go) and print detection per class and the false-
# positive rate. Everything started here is stopped on exit.
#
#   scripts/waf/measure.sh                      # the visible corpus
#   CORPUS=a.jsonl,b.jsonl scripts/waf/measure.sh
#
# Settings (environment): PORT_BASE (19100: origin, +1 data plane, +2 its ops port, +3 control
# plane gRPC, +4 admin), CORPUS, OUT (where wafeval writes; default a temporary directory),
# SKIP_BUILD=1 to reuse bin/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CORPUS_DIR=$(cd "$ROOT/../shared/waf-corpus" 2>/dev/null && pwd) || { echo "waf: ../shared/waf-corpus not found" >&2; exit 1; }
CORPUS=${CORPUS:-$CORPUS_DIR/attacks.visible.jsonl,$CORPUS_DIR/benign.visible.jsonl}
PORT_BASE=${PORT_BASE:-19100}
READY_TIMEOUT=${READY_TIMEOUT:-30}
HOST=waf.test

ORIGIN_PORT=$PORT_BASE
DP_PORT=$((PORT_BASE + 1))
DP_OPS_PORT=$((PORT_BASE + 2))
CP_GRPC_PORT=$((PORT_BASE + 3))
CP_ADMIN_PORT=$((PORT_BASE + 4))

die() { echo "waf: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

for p in "$ORIGIN_PORT" "$DP_PORT" "$DP_OPS_PORT" "$CP_GRPC_PORT" "$CP_ADMIN_PORT"; do
  [[ -z $(ss -ltnH "sport = :$p" 2>/dev/null) ]] || die "port $p is in use (set PORT_BASE)"
done

TMP=$(mktemp -d /tmp/pm-waf.XXXXXX)
OUT=${OUT:-$TMP/wafeval}
declare -a PIDS=()
cleanup() {
  local p
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[i]}
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ $OUT == "$TMP"/* ]] && cp "$OUT.txt" "/tmp/pm-waf-last.txt" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

start() { # name command...: runs it in the background, its output in $TMP/name.log
  local name=$1
  shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
}
wait_for() { # name url [host]
  local name=$1 url=$2 host=${3:-} pid i
  pid=PID_$name
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    kill -0 "${!pid}" 2>/dev/null || { tail -n 30 "$TMP/$name.log" >&2; die "$name exited during start-up"; }
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${host:+-H "Host: $host"} "$url" 2>/dev/null) =~ ^(200|404)$ ]]; then
      return 0
    fi
    sleep 0.2
  done
  tail -n 30 "$TMP/$name.log" >&2
  die "$name: not ready after ${READY_TIMEOUT}s"
}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building bin/dataplane and bin/controlplane (make build)"
  make -C "$ROOT" build >"$TMP/build.log" 2>&1 || { tail -n 30 "$TMP/build.log" >&2; die "make build failed"; }
fi
log "building the origin (scripts/bench/origin, GOWORK=off)"
(cd "$ROOT/scripts/bench/origin" && GOWORK=off go build -o "$TMP/origin" .) || die "origin build failed"

CPD=$TMP/cp
mkdir -p "$CPD/sites" "$CPD/certs"
echo '{}' >"$CPD/global.yaml"
cat >"$CPD/sites/waf.yaml" <<EOF
host: $HOST
backend: http://127.0.0.1:$ORIGIN_PORT
waf:
  enabled: true
  mode: block
EOF
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CPD/grpc.token")
"$ROOT/bin/controlplane" validate --global "$CPD/global.yaml" --sites "$CPD/sites" >"$TMP/validate.log" 2>&1 ||
  { cat "$TMP/validate.log" >&2; die "controlplane validate rejected the site"; }

CLEAN_ENV=(env)
for v in $(compgen -e); do
  if [[ $v == PROXY_* ]]; then CLEAN_ENV+=(-u "$v"); fi
done
start origin "$TMP/origin" -addr "127.0.0.1:$ORIGIN_PORT"
wait_for origin "http://127.0.0.1:$ORIGIN_PORT/small"
start controlplane "${CLEAN_ENV[@]}" \
  PROXY_GLOBAL_CONFIG="$CPD/global.yaml" PROXY_SITES_DIR="$CPD/sites" PROXY_CERTS_DIR="$CPD/certs" \
  PROXY_DB_PATH="$CPD/proxy.db" PROXY_GRPC_ADDR="127.0.0.1:$CP_GRPC_PORT" \
  PROXY_ADMIN_ADDR="127.0.0.1:$CP_ADMIN_PORT" PROXY_GRPC_TOKEN_FILE="$CPD/grpc.token" \
  PROXY_GRPC_SOCKET="$CPD/grpc.sock" PROXY_SHUTDOWN_TIMEOUT=3s LOG_LEVEL=warn LOG_FORMAT=json \
  "$ROOT/bin/controlplane"
for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
  [[ -n $(ss -ltnH "sport = :$CP_GRPC_PORT" 2>/dev/null) ]] && break
  kill -0 "$PID_controlplane" 2>/dev/null || { tail -n 30 "$TMP/controlplane.log" >&2; die "controlplane exited"; }
  sleep 0.2
done
start dataplane "${CLEAN_ENV[@]}" \
  PROXY_CONTROLPLANE_ADDR="127.0.0.1:$CP_GRPC_PORT" PROXY_GRPC_TOKEN_FILE="$CPD/grpc.token" \
  PROXY_NODE_ID=waf PROXY_LISTEN_ADDR="127.0.0.1:$DP_PORT" PROXY_OPS_ADDR="127.0.0.1:$DP_OPS_PORT" \
  PROXY_SHUTDOWN_TIMEOUT=3s LOG_LEVEL=warn LOG_FORMAT=json \
  "$ROOT/bin/dataplane" -tls-addr= -h3-addr=
wait_for dataplane "http://127.0.0.1:$DP_OPS_PORT/health/ready"
wait_for dataplane "http://127.0.0.1:$DP_PORT/small" "$HOST"

log "replaying $CORPUS through http://127.0.0.1:$DP_PORT"
(cd "$CORPUS_DIR" && go run ./wafeval.go -base "http://127.0.0.1:$DP_PORT" -host "$HOST" -corpus "$CORPUS" -out "$OUT" -c 8) >"$TMP/wafeval.log" 2>&1 ||
  { cat "$TMP/wafeval.log" >&2; die "wafeval failed"; }
# The summary: totals and the per-class section (detection per attack class, FP rate of benign).
awk '/^ATTACKS|^BENIGN/ {print} /^per class/ {on=1; print; next} on && NF == 0 {on=0} on {print}' "$TMP/wafeval.log"
echo
echo "CRS 3.3.4 PL1 on the visible corpus: sqli 79.7%  xss 82.8%  traversal 76.9%  rce 58.0%  all 75.1%  FP 9.5%"
echo "misses and false positives: $OUT.txt$([[ $OUT == "$TMP"/* ]] && echo " (copied to /tmp/pm-waf-last.txt)")"
