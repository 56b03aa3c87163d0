#!/usr/bin/env bash
# scripts/bench/run.sh -- `make bench`: our data plane next to nginx, HAProxy and Caddy, on loopback.
#
# Starts a tiny Go origin (scripts/bench/origin), nginx, HAProxy and Caddy from Debian (one worker /
# thread each, keep-alive upstream pool, no access log) and our control plane with two data planes:
# `dataplane` (a bare site: routing only) and `dataplane-all` (a site with every traffic policy of
# issue 4 on), all on 127.0.0.1. Then two scenarios, each in interleaved rounds (order rotated every
# round, so the shared machine's drift hits every peer alike):
#   1. throughput: wrk -c64 closed loop -> req/s, ratio to direct, proxy CPU us/request, RSS;
#   2. fixed rate: pace (scripts/bench/pace) sends RATE req/s at evenly spaced instants (open loop,
#      latency counted from when each request was due) -> p50/p99 and the p99 added to direct's p99
#      of the same round. While it runs, an idle-priority loop of sched_yield calls (pace/idlepoll)
#      keeps each CPU out of its idle state (RATE_IDLE_POLL), as idle=poll would: on this VM a halted
#      vCPU takes 0.1-1 ms to wake, which every request would pay on both sides and no proxy can do
#      anything about. (A shell busy loop held a woken proxy off its CPU for up to 4 ms: pace/idlepoll.)
# The load generator is pinned to CPU 1, origin and proxies to CPU 0, like /work/shared/bench. Prints
# the tables (medians over rounds); raw output and logs are kept in scripts/bench/results/<stamp>/
# (git-ignored). Everything it starts is stopped by PID on exit.
#
# Knobs (env):
#   DUR=6            seconds per wrk run            ROUNDS=2       interleaved throughput rounds
#   CONNS=64         wrk connections                WARM=2         seconds of unrecorded wrk warm-up per peer
#   URL_PATH=/small  /small (1 KiB) or /large (64 KiB), both scenarios
#   RATE=2000        total req/s of the fixed-rate run        RATE_CONNS=16 keep-alive connections (round robin)
#   RATE_DUR=7       measured seconds per fixed-rate run      RATE_WARM=1   warm-up seconds (not counted)
#   RATE_ROUNDS=$((2 * ROUNDS))  fixed-rate rounds (0 = skip the scenario); p99 on a shared VM is noisy
#   RATE_IDLE_POLL=1 sched_yield loops at SCHED_IDLE priority on every CPU during the fixed-rate runs (0 = none)
#   RATE_CP_CPU=     during the fixed-rate runs, move the control plane to this CPU list at SCHED_IDLE
#                    (empty = it stays on SERVER_CPU at normal priority, sharing the proxies' core)
#   PEERS=direct,nginx,haproxy,caddy,dataplane,dataplane-all   subset to run ("direct" is always added;
#                    without dataplane* nothing of ours is built)
#   PORT_BASE=28100  ports used: +0 origin, +1 nginx, +2 dataplane, +3 its ops, +4 control plane gRPC,
#                    +5 control plane admin, +6 haproxy, +7 caddy, +8 dataplane-all, +9 its ops
#                    (all 127.0.0.1; checked free first)
#   SKIP_BUILD=1     do not run `make build` (use the existing bin/dataplane, bin/controlplane)
#   CLIENT_CPU=1 SERVER_CPU=0      taskset CPU lists for wrk/pace / for origin and proxies
#   READY_TIMEOUT=30 seconds to wait for each process to become ready
#   SETTLE_MAX=5     before each run, wait up to this many seconds for the control plane to be idle
#   KEEP_H2LOG=1     keep pace's per-request logs (raw/rate.*.h2log: due time us, status, latency us)
#   PROFILE=1        data planes serve /debug/pprof/ (PROXY_PPROF); a CPU profile of each data plane is
#                    taken during its first throughput run: raw/cpu.<peer>.pprof (go tool pprof bin/dataplane F)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DUR=${DUR:-6}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
WARM=${WARM:-2}
URL_PATH=${URL_PATH:-/small}
RATE=${RATE:-2000}
RATE_CONNS=${RATE_CONNS:-16}
RATE_DUR=${RATE_DUR:-7}
RATE_WARM=${RATE_WARM:-1}
RATE_ROUNDS=${RATE_ROUNDS:-$((2 * ROUNDS))}
RATE_IDLE_POLL=${RATE_IDLE_POLL:-1}
RATE_CP_CPU=${RATE_CP_CPU:-}
PEERS=${PEERS:-direct,nginx,haproxy,caddy,dataplane,dataplane-all}
PORT_BASE=${PORT_BASE:-28100}
SKIP_BUILD=${SKIP_BUILD:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVER_CPU=${SERVER_CPU:-0}
READY_TIMEOUT=${READY_TIMEOUT:-30}
SETTLE_MAX=${SETTLE_MAX:-5}
KEEP_H2LOG=${KEEP_H2LOG:-0}
BENCH_HOST=bench.local          # site of `dataplane` (and the Host header sent to every other peer)
BENCH_HOST_ALL=all.bench.local  # site of `dataplane-all`

ORIGIN_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
DP_PORT=$((PORT_BASE + 2))
DP_OPS_PORT=$((PORT_BASE + 3))
CP_GRPC_PORT=$((PORT_BASE + 4))
CP_ADMIN_PORT=$((PORT_BASE + 5))
HAPROXY_PORT=$((PORT_BASE + 6))
CADDY_PORT=$((PORT_BASE + 7))
DPA_PORT=$((PORT_BASE + 8))
DPA_OPS_PORT=$((PORT_BASE + 9))

die() { echo "bench: $*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
for v in DUR ROUNDS CONNS WARM RATE RATE_CONNS RATE_DUR RATE_WARM RATE_ROUNDS PORT_BASE READY_TIMEOUT SETTLE_MAX; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((ROUNDS >= 1)) || die "ROUNDS must be at least 1"
((RATE_ROUNDS == 0 || (RATE_CONNS >= 1 && RATE >= RATE_CONNS))) || die "need RATE >= RATE_CONNS >= 1"

# ------------------------------------------------------------------ peers selected (direct always first)
ALL_PEERS="direct nginx haproxy caddy dataplane dataplane-all"
declare -a SEL=(direct)
IFS=, read -ra _peers <<<"$PEERS"
for p in "${_peers[@]}"; do
  case $p in
    direct | '') ;;
    nginx | haproxy | caddy | dataplane | dataplane-all)
      if [[ " ${SEL[*]} " != *" $p "* ]]; then SEL+=("$p"); fi ;;
    *) die "unknown peer '$p' in PEERS (use: ${ALL_PEERS// /, })" ;;
  esac
done
PEERS=$(IFS=,; echo "${SEL[*]}")
want() { [[ ",$PEERS," == *",$1,"* ]]; }
want_ours() { want dataplane || want dataplane-all; }

# ------------------------------------------------------------------ 1. tools (Debian)
need_pkgs=(wrk)
for p in nginx haproxy caddy; do if want "$p"; then need_pkgs+=("$p"); fi; done
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]}; run as root or: apt-get install -y ${missing[*]}"
  log "installing from Debian: ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packages may start their system services (not in containers with policy-rc.d): stop the
  # services of the packages we just installed, so that nothing but our own processes runs.
  for p in "${missing[@]}"; do
    case $p in
      nginx | haproxy | caddy) systemctl stop "$p" >/dev/null 2>&1 || service "$p" stop >/dev/null 2>&1 || true ;;
    esac
  done
fi
tools=(wrk taskset curl ss go make awk sort)
((RATE_ROUNDS == 0 || RATE_IDLE_POLL == 0)) || tools+=(chrt)
for p in nginx haproxy caddy; do if want "$p"; then tools+=("$p"); fi; done
for t in "${tools[@]}"; do
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
if want haproxy; then ports+=("$HAPROXY_PORT"); fi
if want caddy; then ports+=("$CADDY_PORT"); fi
if want_ours; then ports+=("$CP_GRPC_PORT" "$CP_ADMIN_PORT"); fi
if want dataplane; then ports+=("$DP_PORT" "$DP_OPS_PORT"); fi
if want dataplane-all; then ports+=("$DPA_PORT" "$DPA_OPS_PORT"); fi
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
LOAD_PID=""
declare -a CMD=()

tree_pids() {   # PID and all its descendants
  local p=$1 c
  echo "$p"
  # shellcheck disable=SC2013  # the children files hold space-separated PIDs
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
tree_of() {     # name -> PIDs to measure for it (nginx: master + worker; our binaries: the process itself)
  case $1 in
    dataplane | dataplane-all | controlplane) echo "${PID[$1]}" ;;
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
status_kb() {   # FIELD PIDs... : a /proc/<pid>/status field in kB (VmRSS, VmHWM) summed over the PIDs
  local want=$1 sum=0 p k v _u
  shift
  for p in "$@"; do
    while read -r k v _u; do
      if [[ $k == "$want:" ]]; then sum=$((sum + v)); break; fi
    done 2>/dev/null </proc/"$p"/status || true
  done
  echo "$sum"
}
stat_steal() {  # "steal total" jiffies over all CPUs (/proc/stat): time the hypervisor gave to other guests
  local a i total=0
  read -ra a </proc/stat
  for ((i = 1; i <= 8; i++)); do total=$((total + a[i])); done
  echo "${a[8]} $total"
}
HWM_RESET_OK=1
reset_hwm() {   # reset the peak-RSS mark (VmHWM) of the given PIDs: `echo 5 > /proc/PID/clear_refs`
  local p
  for p in "$@"; do
    if ! { echo 5 >/proc/"$p"/clear_refs; } 2>/dev/null; then
      if ((HWM_RESET_OK)); then log "WARN: cannot reset VmHWM of pid $p: the peak RSS column is the peak since start"; fi
      HWM_RESET_OK=0
    fi
  done
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
  if [[ -n $LOAD_PID ]]; then stop_pid "$LOAD_PID"; fi
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

curl_w() {      # format url [host] -> curl -w output for one GET ("000" status when no answer)
  local args=(-s -o /dev/null -w "$1" --max-time 2)
  if [[ -n ${3:-} ]]; then args+=(-H "Host: $3"); fi
  curl "${args[@]}" "$2" 2>/dev/null || true
}
http_code() { curl_w '%{http_code}' "$@"; }
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
render() {      # template output : fill in the placeholders of a config template
  sed -e "s|{PORT}|$3|g" -e "s|{ORIGIN}|127.0.0.1:$ORIGIN_PORT|g" -e "s|{RUN}|${4:-}|g" -e "s|{HOST}|${5:-}|g" \
    "$1" >"$2"
}

# ------------------------------------------------------------------ 2. build
if want_ours; then
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
if ((RATE_ROUNDS)); then
  (cd "$HERE/pace" && GOWORK=off go build -o "$TMP/pace" . && GOWORK=off go build -o "$TMP/idlepoll" ./idlepoll) ||
    die "pace build failed"
fi

{
  echo "date: $(date -Is)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "kernel: $(uname -r)  cpus: $NCPU  pinning: load generator=CPU $CLIENT_CPU, origin+proxies=CPU $SERVER_CPU"
  echo "go: $(go version)"
  if want nginx; then echo "nginx: $(nginx -v 2>&1)"; fi
  if want haproxy; then echo "haproxy: $(haproxy -v 2>&1 | head -1 | sed -E 's@ - https?://.*@@')"; fi
  if want caddy; then echo "caddy: $(caddy version 2>&1 | head -1)"; fi
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  if ((RATE_ROUNDS)); then echo "fixed rate: scripts/bench/pace, idle poll: $RATE_IDLE_POLL"; fi
  echo "settings: DUR=$DUR ROUNDS=$ROUNDS CONNS=$CONNS WARM=$WARM URL_PATH=$URL_PATH RATE=$RATE RATE_CONNS=$RATE_CONNS RATE_DUR=$RATE_DUR RATE_WARM=$RATE_WARM RATE_ROUNDS=$RATE_ROUNDS PEERS=$PEERS PORT_BASE=$PORT_BASE"
  echo "loadavg at start: $(cat /proc/loadavg)"
} >"$OUTDIR/versions.txt"

# ------------------------------------------------------------------ 3+4. start and wait for readiness
start origin "$TMP/origin" -addr "127.0.0.1:$ORIGIN_PORT"
wait_for origin "GET /small" is_200 "http://127.0.0.1:$ORIGIN_PORT/small"

if want nginx; then
  mkdir -p "$TMP/nginx"
  render "$HERE/nginx.conf.tmpl" "$TMP/nginx/nginx.conf" "$NGINX_PORT" "$TMP/nginx"
  cp "$TMP/nginx/nginx.conf" "$OUTDIR/logs/nginx.conf"
  NGINX=(nginx -p "$TMP/nginx/" -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf")
  "${NGINX[@]}" -t -q 2>"$OUTDIR/logs/nginx-t.log" || { cat "$OUTDIR/logs/nginx-t.log" >&2; die "nginx config test failed"; }
  start nginx "${NGINX[@]}" -g 'daemon off;'
  wait_for nginx "GET /small via nginx" is_200 "http://127.0.0.1:$NGINX_PORT/small" "$BENCH_HOST"
fi

if want haproxy; then
  mkdir -p "$TMP/haproxy"
  render "$HERE/haproxy.cfg.tmpl" "$TMP/haproxy/haproxy.cfg" "$HAPROXY_PORT" "$TMP/haproxy"
  cp "$TMP/haproxy/haproxy.cfg" "$OUTDIR/logs/haproxy.cfg"
  haproxy -c -q -f "$TMP/haproxy/haproxy.cfg" >"$OUTDIR/logs/haproxy-c.log" 2>&1 || { cat "$OUTDIR/logs/haproxy-c.log" >&2; die "haproxy config check failed"; }
  start haproxy haproxy -db -f "$TMP/haproxy/haproxy.cfg"      # -db: foreground, no daemon
  wait_for haproxy "GET /small via haproxy" is_200 "http://127.0.0.1:$HAPROXY_PORT/small" "$BENCH_HOST"
fi

if want caddy; then
  mkdir -p "$TMP/caddy"
  render "$HERE/Caddyfile.tmpl" "$TMP/caddy/Caddyfile" "$CADDY_PORT" "$TMP/caddy"
  cp "$TMP/caddy/Caddyfile" "$OUTDIR/logs/Caddyfile"
  # Caddy keeps state under $HOME / XDG dirs: give it its own, inside the temp dir
  start caddy env HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy" XDG_CONFIG_HOME="$TMP/caddy" \
    caddy run --adapter caddyfile --config "$TMP/caddy/Caddyfile"
  wait_for caddy "GET /small via caddy" is_200 "http://127.0.0.1:$CADDY_PORT/small" "$BENCH_HOST"
fi

if want_ours; then
  CPD=$TMP/cp
  mkdir -p "$CPD/sites" "$CPD/certs"
  echo '{}' >"$CPD/global.yaml"
  # both sites are in the one snapshot every data plane gets; each data plane is sent only its own host
  render "$HERE/site-plain.yaml.tmpl" "$CPD/sites/bench.yaml" "" "" "$BENCH_HOST"
  render "$HERE/site-all.yaml.tmpl" "$CPD/sites/bench-all.yaml" "" "" "$BENCH_HOST_ALL"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CPD/grpc.token")
  cp "$CPD/global.yaml" "$OUTDIR/logs/global.yaml"
  cp "$CPD/sites/bench.yaml" "$OUTDIR/logs/site-bench.yaml"
  cp "$CPD/sites/bench-all.yaml" "$OUTDIR/logs/site-bench-all.yaml"
  "$ROOT/bin/controlplane" validate --global "$CPD/global.yaml" --sites "$CPD/sites" >"$OUTDIR/logs/validate.log" 2>&1 ||
    { cat "$OUTDIR/logs/validate.log" >&2; die "controlplane validate rejected the bench sites"; }
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
  start_dp() {  # name port ops_port node host
    start "$1" "${CLEAN_ENV[@]}" \
      PROXY_CONTROLPLANE_ADDR="127.0.0.1:$CP_GRPC_PORT" PROXY_GRPC_TOKEN_FILE="$CPD/grpc.token" \
      PROXY_NODE_ID="$4" PROXY_LISTEN_ADDR="127.0.0.1:$2" PROXY_OPS_ADDR="127.0.0.1:$3" \
      PROXY_SHUTDOWN_TIMEOUT=3s LOG_LEVEL=warn LOG_FORMAT=json PROXY_PPROF="${PROFILE:-0}" \
      "$ROOT/bin/dataplane" -tls-addr= -h3-addr=     # no HTTPS/HTTP3 listeners (default :443 on all addresses)
    wait_for "$1" "GET /health/ready on ops port" is_200 "http://127.0.0.1:$3/health/ready"
    wait_for "$1" "GET /small with Host: $5" is_200 "http://127.0.0.1:$2/small" "$5"
  }
  if want dataplane; then start_dp dataplane "$DP_PORT" "$DP_OPS_PORT" bench "$BENCH_HOST"; fi
  if want dataplane-all; then start_dp dataplane-all "$DPA_PORT" "$DPA_OPS_PORT" bench-all "$BENCH_HOST_ALL"; fi
fi

declare -A URL=(
  [direct]="http://127.0.0.1:$ORIGIN_PORT$URL_PATH"
  [nginx]="http://127.0.0.1:$NGINX_PORT$URL_PATH"
  [haproxy]="http://127.0.0.1:$HAPROXY_PORT$URL_PATH"
  [caddy]="http://127.0.0.1:$CADDY_PORT$URL_PATH"
  [dataplane]="http://127.0.0.1:$DP_PORT$URL_PATH"
  [dataplane-all]="http://127.0.0.1:$DPA_PORT$URL_PATH"
)
declare -A HOSTHDR=(
  [direct]=$BENCH_HOST [nginx]=$BENCH_HOST [haproxy]=$BENCH_HOST [caddy]=$BENCH_HOST
  [dataplane]=$BENCH_HOST [dataplane-all]=$BENCH_HOST_ALL
)
declare -A MEASURED=(      # whose CPU/memory counts as "the proxy": nginx = master+worker, the others one process
  [direct]=origin [nginx]=nginx [haproxy]=haproxy [caddy]=caddy [dataplane]=dataplane [dataplane-all]=dataplane-all
)
# Every peer must answer 200 with the body the origin sends (an empty 200 from a host that did not match
# would make a proxy look fast); the response headers are kept in logs/ (dataplane-all must show the
# security-strict preset, i.e. the policies are really applied).
want_size=$(curl_w '%{size_download}' "${URL[direct]}")
for n in "${SEL[@]}"; do
  got=$(curl_w '%{http_code} %{size_download}' "${URL[$n]}" "${HOSTHDR[$n]}")
  [[ $got == "200 $want_size" ]] || die "$n: ${URL[$n]} answered '$got' (want '200 $want_size': status, body bytes)"
  curl -s -D - -o /dev/null --max-time 2 -H "Host: ${HOSTHDR[$n]}" "${URL[$n]}" >"$OUTDIR/logs/headers.$n.txt" 2>&1 || true
done
if want dataplane-all; then
  grep -qi '^x-frame-options: *deny' "$OUTDIR/logs/headers.dataplane-all.txt" ||
    die "dataplane-all: no 'X-Frame-Options: DENY' in the response: the security-strict preset is not applied (logs/headers.dataplane-all.txt)"
fi

# ------------------------------------------------------------------ 5+6. measure
run_load() {    # outfile timeout command... : load generator pinned to CLIENT_CPU, in the background so that signals act at once
  local out=$1 tmo=$2 rc=0
  shift 2
  echo "$*" >"$out.cmd"
  timeout -k 5 "$tmo" taskset -c "$CLIENT_CPU" "$@" >"$out" 2>&1 </dev/null &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  return "$rc"
}
wrk_cmd() {     # duration peer -> the wrk command line in CMD
  CMD=(wrk -t1 -c"$CONNS" -d"$1s" --latency -H "Host: ${HOSTHDR[$2]}" "${URL[$2]}")
}
to_us() {       # wrk latency "850.00us" / "1.23ms" / "1.02s" -> microseconds
  awk -v s="$1" 'BEGIN { v = s + 0; m = 1
    if (s ~ /us$/) m = 1; else if (s ~ /ms$/) m = 1000; else if (s ~ /m$/) m = 60000000; else if (s ~ /s$/) m = 1000000
    printf "%.0f", v * m }'
}
h2log_pcts() {  # pace's log (h2load --log-file's format) -> "n p50 p99" (us) of the 2xx answers (no warm-up in it)
  awk -F'\t' '$2 >= 200 && $2 < 300 { print $3 }' "$1" | sort -n |
    awk '{ a[++c] = $1 } END { if (c == 0) { print "0 0 0"; exit }
      i50 = int(c * 0.50); i99 = int(c * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
      print c, a[i50], a[i99] }'
}
settle() {      # wait (at most SETTLE_MAX s) until the control plane is idle: it stores the access-log events
  # the data planes send it, on the same CPU 0, and may still be busy with them after a data-plane run
  local i a b
  ((${#CPIDS[@]})) || return 0
  for ((i = 0; i < SETTLE_MAX * 2; i++)); do
    a=$(cpu_ticks "${CPIDS[@]}"); sleep 0.5; b=$(cpu_ticks "${CPIDS[@]}")
    if ((b - a <= 1)); then return 0; fi
  done
  log "WARN: control plane still busy after ${SETTLE_MAX}s; measuring anyway"
}
check_alive() { # peer : every process the peer's run depends on must still run
  local m
  for m in origin "${MEASURED[$1]}" $([[ $1 == dataplane* ]] && echo controlplane); do
    kill -0 "${PID[$m]}" 2>/dev/null || die "$m (pid ${PID[$m]}) died; see $OUTDIR/logs/$m.log"
  done
}

declare -A OPSPORT=([dataplane]=$DP_OPS_PORT [dataplane-all]=$DPA_OPS_PORT)
declare -a CPIDS=()
if want_ours; then CPIDS=("${PID[controlplane]}"); fi
n_sel=${#SEL[@]}
est=$((ROUNDS * n_sel * (DUR + 1) + n_sel * (WARM + 1) + RATE_ROUNDS * n_sel * (RATE_DUR + RATE_WARM + 1)))
log "warm-up ${WARM}s per peer; $ROUNDS throughput rounds x $n_sel peers x ${DUR}s; $RATE_ROUNDS fixed-rate rounds x $n_sel peers x $((RATE_WARM + RATE_DUR))s at $RATE req/s (about ${est}s)"
for n in "${SEL[@]}"; do
  wrk_cmd "$WARM" "$n"
  run_load "$OUTDIR/raw/warmup.$n.txt" $((WARM + 30)) "${CMD[@]}" || log "WARN: warm-up of $n: wrk exit $?"
done

# one line per run, both scenarios; RSS in kB: hwm = peak during the run (VmHWM reset just before), end = VmRSS after it
TSV=$OUTDIR/runs.tsv
printf 'scenario\tround\tpeer\trps\tp50_us\tp99_us\trequests\terrors\tproxy_ticks\torigin_ticks\tcp_ticks\trss_hwm_kb\trss_end_kb\trc\tsteal_pct\n' >"$TSV"
measure() {     # scenario round peer
  local scen=$1 r=$2 n=$3 out rc=0 p0 p1 o0 o1 c0 c1 s0 s1 t0 t1 steal rps p50 p99 reqs errs pt hwm rss
  local -a ppids opids cpids=("${CPIDS[@]}")
  check_alive "$n"
  settle
  out=$OUTDIR/raw/$scen.r$r.$n.txt
  mapfile -t ppids < <(tree_of "${MEASURED[$n]}")
  mapfile -t opids < <(tree_of origin)
  reset_hwm "${ppids[@]}"
  c0=$(cpu_ticks "${cpids[@]}")
  p0=$(cpu_ticks "${ppids[@]}")
  o0=$(cpu_ticks "${opids[@]}")
  read -r s0 t0 < <(stat_steal)
  if [[ $scen == thr ]]; then
    if [[ ${PROFILE:-0} == 1 && $r == 1 && -n ${OPSPORT[$n]:-} ]] && ((DUR >= 3)); then
      curl -s -o "$OUTDIR/raw/cpu.$n.pprof" "http://127.0.0.1:${OPSPORT[$n]}/debug/pprof/profile?seconds=$((DUR - 2))" &
    fi
    wrk_cmd "$DUR" "$n"
    run_load "$out" $((DUR + 30)) "${CMD[@]}" || rc=$?
  else
    run_load "$out" $((RATE_DUR + RATE_WARM + 30)) "$TMP/pace" -url "${URL[$n]}" -host "${HOSTHDR[$n]}" -rate "$RATE" \
      -conns "$RATE_CONNS" -duration "${RATE_DUR}s" -warmup "${RATE_WARM}s" -log "$out.h2log" || rc=$?
  fi
  p1=$(cpu_ticks "${ppids[@]}")
  read -r s1 t1 < <(stat_steal)
  steal=$(((s1 - s0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
  o1=$(cpu_ticks "${opids[@]}")
  c1=$(cpu_ticks "${cpids[@]}")
  hwm=$(status_kb VmHWM "${ppids[@]}")
  rss=$(status_kb VmRSS "${ppids[@]}")
  if [[ $scen == thr ]]; then
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
    reqs=$(awk '/ requests in / { print $1 }' "$out")
    errs=$(awk '/Socket errors:/ { gsub(",", ""); s = $4 + $6 + $8 + $10 } /Non-2xx or 3xx/ { x = $NF }
      END { print s + x + 0 }' "$out")
  else
    # pace: "rps 2000.00", "requests 14000", "errors 0"; its counts and its log leave the warm-up out, the
    # CPU counters do not: requests = done x (RATE_DUR + RATE_WARM) / RATE_DUR (the rate is the same in both)
    rps=$(awk '$1 == "rps" { print $2 }' "$out")
    reqs=$(awk -v d="$RATE_DUR" -v w="$RATE_WARM" '$1 == "requests" { printf "%.0f", $2 * (d + w) / d }' "$out")
    errs=$(awk '$1 == "errors" { print $2 + 0 }' "$out")
    read -r _ p50 p99 < <(h2log_pcts "$out.h2log")
    if [[ $KEEP_H2LOG != 1 ]]; then rm -f "$out.h2log"; fi
  fi
  if ((rc != 0)); then log "WARN $scen r$r $n: load generator exit code $rc (see $out)"; errs=$((${errs:-0} + 1)); fi
  if ((${errs:-0} > 0)); then log "WARN $scen r$r $n: $errs errors or non-2xx responses"; fi
  if [[ $n == direct ]]; then pt=0; else pt=$((p1 - p0)); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$r" "$n" "${rps:-0}" "${p50:-0}" "${p99:-0}" \
    "${reqs:-0}" "${errs:-0}" "$pt" $((o1 - o0)) $((c1 - c0)) "$hwm" "$rss" "$rc" "$steal" >>"$TSV"
  local cpnote=""
  if ((${#cpids[@]})); then cpnote="  (controlplane $(((c1 - c0) * 1000 / CLK_TCK)) ms CPU)"; fi
  log "$(printf '%-4s round %d %-13s %9s req/s  p50 %6s us  p99 %7s us  peak RSS %6s kB  steal %2s%%  errors %s%s' \
    "$scen" "$r" "$n" "${rps:-0}" "${p50:-0}" "${p99:-0}" "$hwm" "$steal" "${errs:-0}" "$cpnote")"
}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((j = 0; j < n_sel; j++)); do measure thr "$r" "${SEL[$(((j + r - 1) % n_sel))]}"; done   # rotate the order every round
done
# RSS at the end of the throughput scenario (right after its last run)
declare -A RSS_END=()
for n in "${SEL[@]}"; do
  mapfile -t pids < <(tree_of "${MEASURED[$n]}")
  RSS_END[$n]=$(status_kb VmRSS "${pids[@]}")
done
declare -a POLLERS=()
if ((RATE_ROUNDS && RATE_IDLE_POLL)); then
  # SCHED_IDLE: they run only when nothing else wants the CPU, and give it up at once when something does.
  for ((c = 0; c < NCPU; c++)); do
    chrt -i 0 taskset -c "$c" "$TMP/idlepoll" &
    POLLERS+=($!) STARTED+=($!)
  done
fi
if ((RATE_ROUNDS)) && [[ -n $RATE_CP_CPU ]] && want_ours; then
  # -a: every thread of the Go process, not just the main one.
  taskset -a -p -c "$RATE_CP_CPU" "${PID[controlplane]}" >/dev/null
  chrt -a -i -p 0 "${PID[controlplane]}"
  log "controlplane moved to cpu=$RATE_CP_CPU at SCHED_IDLE for the fixed-rate runs"
fi
for ((r = 1; r <= RATE_ROUNDS; r++)); do
  for ((j = 0; j < n_sel; j++)); do measure rate "$r" "${SEL[$(((j + r - 1) % n_sel))]}"; done
done
for p in "${POLLERS[@]}"; do stop_pid "$p"; done

# ------------------------------------------------------------------ 7. tables
CP_RSS=0 CP_HWM=0
if want_ours; then CP_RSS=$(status_kb VmRSS "${PID[controlplane]}"); CP_HWM=$(status_kb VmHWM "${PID[controlplane]}"); fi
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUTDIR/versions.txt"

rss_args=""
for n in "${SEL[@]}"; do rss_args+="$n=${RSS_END[$n]} "; done

awk -F'\t' -v order="${SEL[*]}" -v tck="$CLK_TCK" -v rss="$rss_args" -v cprss="$CP_RSS" -v cphwm="$CP_HWM" \
  -v path="$URL_PATH" -v dur="$DUR" -v rounds="$ROUNDS" -v conns="$CONNS" -v hwmok="$HWM_RESET_OK" \
  -v rate="$RATE" -v rconns="$RATE_CONNS" -v rdur="$RATE_DUR" -v rwarm="$RATE_WARM" -v rrounds="$RATE_ROUNDS" '
function median(list,    a, n, i, j, t) {      # list: space-separated numbers
  n = split(list, a, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
function ms(us) { return (us == "") ? "-" : sprintf("%.2f ms", us / 1000) }
function added(s, p, col,    k, d, v, l) {    # median over rounds of (peer - direct of the same round)
  l = ""
  for (k = 1; k <= nr[s]; k++) {
    d = val[s, rl[s, k], "direct", col]; v = val[s, rl[s, k], p, col]
    if (d != "" && v != "") l = l " " (v - d)
  }
  return (l == "") ? "" : median(l)
}
function ratio(s, p, col,    k, d, v, l) {    # median over rounds of (peer / direct of the same round)
  l = ""
  for (k = 1; k <= nr[s]; k++) {
    d = val[s, rl[s, k], "direct", col]; v = val[s, rl[s, k], p, col]
    if (d + 0 > 0 && v != "") l = l " " (v / d)
  }
  return (l == "") ? "" : median(l)
}
function cpu(s, p) { return (p == "direct" || req[s, p] == 0) ? "-" : sprintf("%.1f", pt[s, p] * 1e6 / tck / req[s, p]) }
function mib(kb) { return (kb == "" || kb == 0) ? "-" : sprintf("%.1f MiB", kb / 1024) }
function sgn_ms(us) { return (us == "") ? "-" : sprintf("%+.2f ms", us / 1000) }
NR == 1 { next }
{
  s = $1; r = $2; p = $3
  rps[s, p] = rps[s, p] " " $4; p50[s, p] = p50[s, p] " " $5; p99[s, p] = p99[s, p] " " $6
  req[s, p] += $7; err[s, p] += $8; pt[s, p] += $9; ot[s, p] += $10; ct[s, p] += $11
  if ($12 + 0 > hwm[s, p] + 0) hwm[s, p] = $12
  steal = steal " " $15; if ($15 + 0 > maxsteal) maxsteal = $15 + 0
  val[s, r, p, "rps"] = $4; val[s, r, p, "p50"] = $5; val[s, r, p, "p99"] = $6
  if (!((s, r) in seen)) { seen[s, r] = 1; nr[s]++; rl[s, nr[s]] = r }
}
END {
  n = split(order, peers, " ")
  split(rss, kv, " "); for (i in kv) { split(kv[i], x, "="); mem[x[1]] = x[2] }
  printf "\nproxy-manager bench, GET %s. Throughput: wrk -t1 -c%d, %ss x %d interleaved rounds. ", path, conns, dur, rounds
  if (rrounds > 0) printf "Fixed rate: pace, %d req/s evenly spaced over %d connections, %ss (+%ss warm-up) x %d rounds.", rate, rconns, rdur, rwarm, rrounds
  printf " Medians over rounds.\n\n"
  printf "| peer | req/s | vs direct | p50 | p99 | proxy CPU us/req | origin CPU us/req | peak RSS under load | RSS at end | p99 @%d req/s | added p99 @%d req/s | errors |\n", rate, rate
  printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  for (i = 1; i <= n; i++) {
    p = peers[i]
    rt = ratio("thr", p, "rps")
    ap = (p == "direct") ? "-" : sgn_ms(added("rate", p, "p99"))
    printf "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", \
      (p == "direct" ? "direct (origin)" : p), median(rps["thr", p]), (rt == "" ? "-" : sprintf("%.2f", rt)), \
      ms(median(p50["thr", p])), ms(median(p99["thr", p])), cpu("thr", p), \
      (req["thr", p] == 0 ? "-" : sprintf("%.1f", ot["thr", p] * 1e6 / tck / req["thr", p])), \
      mib(hwm["thr", p]), mib(mem[p]), (rrounds > 0 ? ms(median(p99["rate", p])) : "-"), (rrounds > 0 ? ap : "-"), \
      err["thr", p] + err["rate", p]
  }
  if (rrounds > 0) {
    printf "\nFixed rate, %d req/s (open loop, evenly spaced, latency from when each request was due; %d connections):\n\n", rate, rconns
    printf "| peer | achieved req/s | p50 | p99 | added p50 | added p99 | proxy CPU us/req | peak RSS | errors |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= n; i++) {
      p = peers[i]
      printf "| %s | %.0f | %s | %s | %s | %s | %s | %s | %d |\n", (p == "direct" ? "direct (origin)" : p), \
        median(rps["rate", p]), ms(median(p50["rate", p])), ms(median(p99["rate", p])), \
        (p == "direct" ? "-" : sgn_ms(added("rate", p, "p50"))), (p == "direct" ? "-" : sgn_ms(added("rate", p, "p99"))), \
        cpu("rate", p), mib(hwm["rate", p]), err["rate", p]
    }
  }
  for (i = 1; i <= n; i++) {
    p = peers[i]
    if (p ~ /^dataplane/ && req["thr", p] > 0)
      printf "\ncontrolplane during the %s throughput runs (same CPU 0, not in its row): %.0f ms CPU, %.1f us per %s request", \
        p, ct["thr", p] * 1000 / tck, ct["thr", p] * 1e6 / tck / req["thr", p], p
  }
  if (cprss > 0) printf "\ncontrolplane RSS at end %.1f MiB, peak %.1f MiB\n", cprss / 1024, cphwm / 1024
  printf "\nvs direct = median over rounds of (peer req/s / origin-direct req/s in the same round); added p99 likewise\n"
  printf "(peer p99 - direct p99 of the same fixed-rate round). CPU us/req = utime+stime / requests served (nginx:\n"
  printf "master+worker; others: the one process). Peak RSS = max over runs of VmHWM, reset before each run%s;\n", (hwmok ? "" : " (RESET FAILED: peak since start)")
  printf "RSS at end = VmRSS right after the last throughput run.\n"
  if (index(" " order " ", " dataplane-all ")) printf "dataplane-all = every traffic policy of issue 4 on (no Accept-Encoding is sent, so nothing is compressed).\n"
  printf "Shared 2-core machine, drifts +-25%%: compare only ratios, added latency and CPU/req within one run.\n"
  printf "Hypervisor steal during the runs (both CPUs): median %s%%, max %d%% (runs.tsv has it per run).\n", median(steal), maxsteal
}' "$TSV" | tee "$OUTDIR/summary.md"

log "results: $OUTDIR (summary.md, runs.tsv, raw/, logs/)"
