#!/usr/bin/env bash
# scripts/bench/run.sh -- `make bench`: our data plane next to nginx, on loopback, on this machine.
#
# Starts a tiny Go origin (scripts/bench/origin), nginx (one worker, keep-alive upstream pool) and our
# control plane + data plane, all on 127.0.0.1, then runs wrk against the origin directly, nginx and
# the data plane in ROUNDS interleaved rounds (order rotated every round, so the shared machine's
# drift hits every peer alike). wrk is pinned to CPU 1, origin and proxies to CPU 0, like
# /work/shared/bench. Prints one table (medians over rounds); raw wrk output and logs are kept in
# scripts/bench/results/<stamp>/ (git-ignored). Everything it starts is stopped by PID on exit.
#
# Knobs (env):
#   DUR=8            seconds per wrk run            ROUNDS=3       interleaved rounds
#   CONNS=64         wrk connections                WARM=2         seconds of unrecorded warm-up per peer
#   URL_PATH=/small  /small (1 KiB) or /large (64 KiB)
#   PEERS=direct,nginx,dataplane   subset to run (without "dataplane" nothing of ours is built)
#   PORT_BASE=28100  ports used: PORT_BASE+0 origin, +1 nginx, +2 data plane, +3 data plane ops,
#                    +4 control plane gRPC, +5 control plane admin (all 127.0.0.1; checked free first)
#   SKIP_BUILD=1     do not run `make build` (use the existing bin/dataplane, bin/controlplane)
#   CLIENT_CPU=1 SERVER_CPU=0      taskset CPU lists for wrk / for origin and proxies
#   READY_TIMEOUT=30 seconds to wait for each process to become ready
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DUR=${DUR:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
WARM=${WARM:-2}
URL_PATH=${URL_PATH:-/small}
PEERS=${PEERS:-direct,nginx,dataplane}
PORT_BASE=${PORT_BASE:-28100}
SKIP_BUILD=${SKIP_BUILD:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVER_CPU=${SERVER_CPU:-0}
READY_TIMEOUT=${READY_TIMEOUT:-30}
BENCH_HOST=bench.local

ORIGIN_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
DP_PORT=$((PORT_BASE + 2))
DP_OPS_PORT=$((PORT_BASE + 3))
CP_GRPC_PORT=$((PORT_BASE + 4))
CP_ADMIN_PORT=$((PORT_BASE + 5))

die() { echo "bench: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# ------------------------------------------------------------------ peers selected
declare -a SEL=()
IFS=, read -ra _peers <<<"$PEERS"
for p in "${_peers[@]}"; do
  case $p in
    direct | nginx | dataplane) SEL+=("$p") ;;
    '') ;;
    *) die "unknown peer '$p' in PEERS (use direct, nginx, dataplane)" ;;
  esac
done
((${#SEL[@]})) || die "PEERS is empty"
want() { [[ ",$PEERS," == *",$1,"* ]]; }

# ------------------------------------------------------------------ 1. tools (Debian)
if ! dpkg -s nginx wrk >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || die "nginx and wrk are missing; run as root or: apt-get install nginx wrk"
  log "installing nginx and wrk from Debian"
  apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null
  # The package may start the system nginx service (not in containers with policy-rc.d): stop it so
  # that nothing but our own processes runs. Only the package's service (pid in /run/nginx.pid).
  if [[ -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    systemctl stop nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
  fi
fi
for t in nginx wrk taskset curl ss go make awk; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done
NCPU=$(nproc)
if ((NCPU < 2)); then
  log "WARN: only $NCPU CPU; running everything on CPU 0"
  CLIENT_CPU=0 SERVER_CPU=0
fi
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ ports (all on 127.0.0.1)
port_busy() { [[ -n $(ss -ltnH "sport = :$1" 2>/dev/null) ]]; }
ports=("$ORIGIN_PORT")
if want nginx; then ports+=("$NGINX_PORT"); fi
if want dataplane; then ports+=("$DP_PORT" "$DP_OPS_PORT" "$CP_GRPC_PORT" "$CP_ADMIN_PORT"); fi
for p in "${ports[@]}"; do
  if port_busy "$p"; then die "port $p is in use (set PORT_BASE to move all ports)"; fi
done

# ------------------------------------------------------------------ bookkeeping and cleanup
STAMP=$(date +%Y%m%d-%H%M%S)
OUTDIR=$HERE/results/$STAMP
mkdir -p "$OUTDIR/raw" "$OUTDIR/logs"
TMP=$(mktemp -d /tmp/pm-bench.XXXXXX)

declare -a STARTED=()       # PIDs we started, in start order
declare -A PID=()           # name -> PID
WRK_PID=""

tree_pids() {   # PID and all its descendants
  local p=$1 c
  echo "$p"
  # shellcheck disable=SC2013  # the children files hold space-separated PIDs
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
tree_of() {     # name -> PIDs to measure for it (nginx: master + worker; our binaries: the process itself)
  case $1 in
    dataplane | controlplane) echo "${PID[$1]}" ;;
    *) tree_pids "${PID[$1]}" ;;
  esac
}
cpu_ticks() {   # utime+stime (clock ticks) summed over the given PIDs
  local sum=0 p line rest f
  for p in "$@"; do
    read -r line 2>/dev/null </proc/"$p"/stat || continue
    rest=${line##*) }
    read -ra f <<<"$rest"          # f[0] is field 3 (state): utime is field 14, stime field 15
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
rss_kb() {      # VmRSS (kB) summed over the given PIDs
  local sum=0 p k v _u
  for p in "$@"; do
    while read -r k v _u; do
      if [[ $k == VmRSS: ]]; then sum=$((sum + v)); break; fi
    done 2>/dev/null </proc/"$p"/status || true
  done
  echo "$sum"
}
stop_pid() {    # TERM, wait up to 5 s, then KILL the whole tree (collected before TERM)
  local p=$1 pids i
  [[ -d /proc/$p ]] || { wait "$p" 2>/dev/null || true; return 0; }
  pids=$(tree_pids "$p")
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [[ -d /proc/$p ]] || break
    # an exited child not yet reaped is a zombie (state Z): treat it as gone
    if [[ $(awk '{print $3}' /proc/"$p"/stat 2>/dev/null) == Z ]]; then break; fi
    sleep 0.1
  done
  for q in $pids; do
    if [[ -d /proc/$q ]]; then kill -KILL "$q" 2>/dev/null || true; fi
  done
  wait "$p" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap '' INT TERM     # a second Ctrl-C must not leave processes behind; stopping is bounded (5 s each)
  trap - EXIT
  if [[ -n $WRK_PID ]]; then stop_pid "$WRK_PID"; fi
  if ((${#STARTED[@]})); then
    log "stopping ${#STARTED[@]} processes we started (by PID)"
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[$i]}"; done
  fi
  rm -rf -- "$TMP"
  if ((rc != 0)); then log "exit $rc; logs in $OUTDIR/logs"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

http_code() {   # url [host] -> HTTP status, 000 when no answer
  local args=(-s -o /dev/null -w '%{http_code}' --max-time 2)
  if [[ -n ${2:-} ]]; then args+=(-H "Host: $2"); fi
  curl "${args[@]}" "$1" 2>/dev/null || true
}
alive_or_die() { # name
  if ! kill -0 "${PID[$1]}" 2>/dev/null; then
    echo "---- last lines of $OUTDIR/logs/$1.log" >&2
    tail -n 30 "$OUTDIR/logs/$1.log" >&2 || true
    die "$1 exited during start-up"
  fi
}
wait_for() {    # name description command... : retry the command until it succeeds, the process dies or READY_TIMEOUT
  local name=$1 what=$2 i
  shift 2
  for ((i = 0; i < READY_TIMEOUT * 5; i++)); do
    alive_or_die "$name"
    if "$@"; then return 0; fi
    sleep 0.2
  done
  echo "---- last lines of $OUTDIR/logs/$name.log" >&2
  tail -n 30 "$OUTDIR/logs/$name.log" >&2 || true
  die "$name: not ready after ${READY_TIMEOUT}s ($what)"
}
is_200() { [[ $(http_code "$@") == 200 ]]; }
listening() { port_busy "$1"; }
start() {       # name command... : start in the background on SERVER_CPU, stdout+stderr to logs/<name>.log
  local name=$1
  shift
  taskset -c "$SERVER_CPU" "$@" >"$OUTDIR/logs/$name.log" 2>&1 </dev/null &
  PID[$name]=$!
  STARTED+=("$!")
  log "started $name pid=$! cpu=$SERVER_CPU"
}

# ------------------------------------------------------------------ 2. build
if want dataplane; then
  if [[ $SKIP_BUILD != 1 ]]; then
    log "building bin/dataplane and bin/controlplane (make -C $ROOT build)"
    make -C "$ROOT" build >"$OUTDIR/logs/build.log" 2>&1 || { tail -n 40 "$OUTDIR/logs/build.log" >&2; die "make build failed"; }
  fi
  for b in dataplane controlplane; do
    [[ -x $ROOT/bin/$b ]] || die "$ROOT/bin/$b not found (make -C $ROOT build)"
  done
fi
log "building the bench origin (scripts/bench/origin, GOWORK=off)"
(cd "$HERE/origin" && GOWORK=off go build -o "$TMP/origin" .) || die "origin build failed"

{
  echo "date: $(date -Is)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "kernel: $(uname -r)  cpus: $NCPU  pinning: wrk=CPU $CLIENT_CPU, origin+proxies=CPU $SERVER_CPU"
  echo "go: $(go version)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "settings: DUR=$DUR ROUNDS=$ROUNDS CONNS=$CONNS WARM=$WARM URL_PATH=$URL_PATH PEERS=$PEERS PORT_BASE=$PORT_BASE"
  echo "loadavg at start: $(cat /proc/loadavg)"
} >"$OUTDIR/versions.txt"

# ------------------------------------------------------------------ 3+4. start and wait for readiness
start origin "$TMP/origin" -addr "127.0.0.1:$ORIGIN_PORT"
wait_for origin "GET /small" is_200 "http://127.0.0.1:$ORIGIN_PORT/small"

if want nginx; then
  mkdir -p "$TMP/nginx"
  sed -e "s|{PORT}|$NGINX_PORT|g" -e "s|{ORIGIN}|127.0.0.1:$ORIGIN_PORT|g" -e "s|{RUN}|$TMP/nginx|g" \
    "$HERE/nginx.conf.tmpl" >"$TMP/nginx/nginx.conf"
  cp "$TMP/nginx/nginx.conf" "$OUTDIR/logs/nginx.conf"
  NGINX=(nginx -p "$TMP/nginx/" -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf")
  "${NGINX[@]}" -t -q 2>"$OUTDIR/logs/nginx-t.log" || { cat "$OUTDIR/logs/nginx-t.log" >&2; die "nginx config test failed"; }
  start nginx "${NGINX[@]}" -g 'daemon off;'
  wait_for nginx "GET /small via nginx" is_200 "http://127.0.0.1:$NGINX_PORT/small" "$BENCH_HOST"
fi

if want dataplane; then
  CPD=$TMP/cp
  mkdir -p "$CPD/sites" "$CPD/certs"
  echo '{}' >"$CPD/global.yaml"
  printf 'host: %s\nbackend: http://127.0.0.1:%s\n' "$BENCH_HOST" "$ORIGIN_PORT" >"$CPD/sites/bench.yaml"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CPD/grpc.token")
  cp "$CPD/global.yaml" "$OUTDIR/logs/global.yaml"
  cp "$CPD/sites/bench.yaml" "$OUTDIR/logs/site-bench.yaml"
  # inherited PROXY_* variables must not change what we run
  CLEAN_ENV=(env)
  for v in $(compgen -e); do
    if [[ $v == PROXY_* ]]; then CLEAN_ENV+=(-u "$v"); fi
  done
  start controlplane "${CLEAN_ENV[@]}" \
    PROXY_GLOBAL_CONFIG="$CPD/global.yaml" PROXY_SITES_DIR="$CPD/sites" PROXY_CERTS_DIR="$CPD/certs" \
    PROXY_DB_PATH="$CPD/proxy.db" PROXY_GRPC_ADDR="127.0.0.1:$CP_GRPC_PORT" \
    PROXY_ADMIN_ADDR="127.0.0.1:$CP_ADMIN_PORT" PROXY_GRPC_TOKEN_FILE="$CPD/grpc.token" \
    PROXY_GRPC_SOCKET="$CPD/grpc.sock" PROXY_SHUTDOWN_TIMEOUT=3s LOG_LEVEL=warn LOG_FORMAT=json \
    "$ROOT/bin/controlplane"
  wait_for controlplane "gRPC listening on 127.0.0.1:$CP_GRPC_PORT" listening "$CP_GRPC_PORT"
  start dataplane "${CLEAN_ENV[@]}" \
    PROXY_CONTROLPLANE_ADDR="127.0.0.1:$CP_GRPC_PORT" PROXY_GRPC_TOKEN_FILE="$CPD/grpc.token" \
    PROXY_NODE_ID=bench PROXY_LISTEN_ADDR="127.0.0.1:$DP_PORT" PROXY_OPS_ADDR="127.0.0.1:$DP_OPS_PORT" \
    PROXY_SHUTDOWN_TIMEOUT=3s LOG_LEVEL=warn LOG_FORMAT=json \
    "$ROOT/bin/dataplane"
  wait_for dataplane "GET /health/ready on ops port" is_200 "http://127.0.0.1:$DP_OPS_PORT/health/ready"
  wait_for dataplane "GET /small with Host: $BENCH_HOST" is_200 "http://127.0.0.1:$DP_PORT/small" "$BENCH_HOST"
fi

declare -A URL=(
  [direct]="http://127.0.0.1:$ORIGIN_PORT$URL_PATH"
  [nginx]="http://127.0.0.1:$NGINX_PORT$URL_PATH"
  [dataplane]="http://127.0.0.1:$DP_PORT$URL_PATH"
)
declare -A MEASURED=(      # whose CPU counts as "the proxy": nginx = master+worker, dataplane = itself only
  [direct]=origin [nginx]=nginx [dataplane]=dataplane
)
for n in "${SEL[@]}"; do
  if [[ $(http_code "${URL[$n]}" "$BENCH_HOST") != 200 ]]; then die "$n: ${URL[$n]} does not answer 200"; fi
done

# ------------------------------------------------------------------ 5+6. measure
run_wrk() {     # duration url outfile : wrk pinned to CLIENT_CPU, in the background so that signals act at once
  local rc=0
  timeout -k 5 $(($1 + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 -c"$CONNS" -d"$1s" --latency -H "Host: $BENCH_HOST" "$2" >"$3" 2>&1 </dev/null &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}
to_us() {       # wrk latency "850.00us" / "1.23ms" / "1.02s" -> microseconds
  awk -v s="$1" 'BEGIN { v = s + 0; m = 1
    if (s ~ /us$/) m = 1; else if (s ~ /ms$/) m = 1000; else if (s ~ /m$/) m = 60000000; else if (s ~ /s$/) m = 1000000
    printf "%.0f", v * m }'
}

n_sel=${#SEL[@]}
est=$((ROUNDS * n_sel * (DUR + 1) + n_sel * (WARM + 1)))
log "warm-up ${WARM}s per peer, then $ROUNDS rounds x $n_sel peers x ${DUR}s (about ${est}s)"
for n in "${SEL[@]}"; do
  run_wrk "$WARM" "${URL[$n]}" "$OUTDIR/raw/warmup.$n.txt" || log "WARN: warm-up of $n: wrk exit $?"
done

TSV=$OUTDIR/runs.tsv
printf 'round\tpeer\trps\tp50_us\tp99_us\trequests\terrors\tproxy_ticks\torigin_ticks\tcp_ticks\twrk_rc\n' >"$TSV"
for ((r = 1; r <= ROUNDS; r++)); do
  for ((j = 0; j < n_sel; j++)); do
    n=${SEL[$(((j + r - 1) % n_sel))]}       # rotate the order every round
    deps=(origin "${MEASURED[$n]}")
    if [[ $n == dataplane ]]; then deps+=(controlplane); fi
    for m in "${deps[@]}"; do
      kill -0 "${PID[$m]}" 2>/dev/null || die "$m (pid ${PID[$m]}) died; see $OUTDIR/logs/$m.log"
    done
    out=$OUTDIR/raw/r$r.$n.txt
    mapfile -t ppids < <(tree_of "${MEASURED[$n]}")
    mapfile -t opids < <(tree_of origin)
    cpids=()
    if [[ $n == dataplane ]]; then mapfile -t cpids < <(tree_of controlplane); fi
    cp0=$(cpu_ticks "${cpids[@]}")
    p0=$(cpu_ticks "${ppids[@]}")
    o0=$(cpu_ticks "${opids[@]}")
    rc=0
    run_wrk "$DUR" "${URL[$n]}" "$out" || rc=$?
    p1=$(cpu_ticks "${ppids[@]}")
    o1=$(cpu_ticks "${opids[@]}")
    cp1=$(cpu_ticks "${cpids[@]}")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
    reqs=$(awk '/ requests in / { print $1 }' "$out")
    errs=$(awk '/Socket errors:/ { gsub(",", ""); s = $4 + $6 + $8 + $10 } /Non-2xx or 3xx/ { x = $NF }
      END { print s + x + 0 }' "$out")
    if ((rc != 0)); then log "WARN r$r $n: wrk exit code $rc (see $out)"; errs=$((${errs:-0} + 1)); fi
    if ((${errs:-0} > 0)); then log "WARN r$r $n: $errs errors or non-2xx responses"; fi
    if [[ $n == direct ]]; then pt=0; else pt=$((p1 - p0)); fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$n" "${rps:-0}" "${p50:-0}" "${p99:-0}" \
      "${reqs:-0}" "${errs:-0}" "$pt" $((o1 - o0)) $((cp1 - cp0)) "$rc" >>"$TSV"
    log "$(printf 'round %d %-10s %10s req/s  p50 %6s us  p99 %7s us  errors %s' "$r" "$n" "${rps:-0}" "${p50:-0}" "${p99:-0}" "${errs:-0}")"
  done
done

# ------------------------------------------------------------------ 7. memory and table
declare -A RSS=()
for n in "${SEL[@]}"; do
  mapfile -t pids < <(tree_of "${MEASURED[$n]}")
  RSS[$n]=$(rss_kb "${pids[@]}")
done
CP_RSS=0
if want dataplane; then CP_RSS=$(rss_kb "${PID[controlplane]}"); fi
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUTDIR/versions.txt"

rss_args=""
for n in "${SEL[@]}"; do rss_args+="$n=${RSS[$n]} "; done

awk -F'\t' -v order="${SEL[*]}" -v tck="$CLK_TCK" -v rss="$rss_args" -v cprss="$CP_RSS" \
  -v path="$URL_PATH" -v dur="$DUR" -v rounds="$ROUNDS" -v conns="$CONNS" '
function median(list,    a, n, i, j, t) {      # list: space-separated numbers
  n = split(list, a, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
function ms(us) { return (us == "") ? "-" : sprintf("%.2f ms", us / 1000) }
NR == 1 { next }
{
  r = $1; p = $2
  rps[p] = rps[p] " " $3; p50[p] = p50[p] " " $4; p99[p] = p99[p] " " $5
  req[p] += $6; err[p] += $7; pt[p] += $8; ot[p] += $9; ct[p] += $10
  byround[r, p] = $3
  if (!(r in seen)) { seen[r] = 1; nr++; rlist[nr] = r }
}
END {
  n = split(order, peers, " ")
  split(rss, kv, " "); for (i in kv) { split(kv[i], x, "="); mem[x[1]] = x[2] }
  printf "\nproxy-manager bench: wrk -t1 -c%d, %ss x %d interleaved rounds, GET %s (medians over rounds)\n\n", conns, dur, rounds, path
  printf "| peer | req/s | vs direct | p50 | p99 | proxy CPU us/req | origin CPU us/req | RSS at end | errors |\n"
  printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  for (i = 1; i <= n; i++) {
    p = peers[i]
    ratios = ""
    for (k = 1; k <= nr; k++) {
      d = byround[rlist[k], "direct"]; v = byround[rlist[k], p]
      if (d + 0 > 0 && v != "") ratios = ratios " " (v / d)
    }
    ratio = (ratios == "") ? "-" : sprintf("%.2f", median(ratios))
    cpu = (p == "direct" || req[p] == 0) ? "-" : sprintf("%.1f", pt[p] * 1e6 / tck / req[p])
    ocpu = (req[p] == 0) ? "-" : sprintf("%.1f", ot[p] * 1e6 / tck / req[p])
    printf "| %s | %.0f | %s | %s | %s | %s | %s | %.1f MiB | %d |\n", \
      (p == "direct" ? "direct (origin)" : p), median(rps[p]), ratio, ms(median(p50[p])), ms(median(p99[p])), \
      cpu, ocpu, mem[p] / 1024, err[p]
  }
  if ("dataplane" in req && req["dataplane"] > 0)
    printf "\ncontrolplane (same CPU 0, not in the dataplane row): %.0f ms CPU during the dataplane runs (%.1f us/req), RSS %.1f MiB\n", \
      ct["dataplane"] * 1000 / tck, ct["dataplane"] * 1e6 / tck / req["dataplane"], cprss / 1024
  printf "\nvs direct = median over rounds of (peer req/s / origin-direct req/s in the same round).\n"
  printf "CPU us/req = utime+stime over all rounds / requests served (nginx: master+worker; dataplane: its own process).\n"
  printf "Shared 2-core machine, drifts +-25%%: compare only ratios and CPU/req within one run.\n"
}' "$TSV" | tee "$OUTDIR/summary.md"

log "results: $OUTDIR (summary.md, runs.tsv, raw/, logs/)"
